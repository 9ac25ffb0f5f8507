//! CloudTrail's public keys, by fingerprint.
//!
//! The file `--public-keys` reads is what `aws cloudtrail list-public-keys` prints
//! (JSON): `{"PublicKeyList": [{"Value": <base64 DER>, "ValidityStartTime": …,
//! "ValidityEndTime": …, "Fingerprint": <hex>}]}`; the same list the ListPublicKeys
//! call returns.

use std::collections::HashMap;

use base64::Engine;
use serde::Deserialize;

use super::IntegrityError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    value: String,
    fingerprint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFile {
    public_key_list: Vec<Listed>,
}

/// Public keys (DER, PKCS#1 RSAPublicKey) by lower-case hex fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys(HashMap<String, Vec<u8>>);

impl PublicKeys {
    /// Keys from `list-public-keys` JSON output.
    pub fn parse(file: &str, text: &str) -> Result<PublicKeys, IntegrityError> {
        let bad = |reason: String| IntegrityError::BadKeys {
            file: file.to_string(),
            reason,
        };
        let list: ListFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut keys = HashMap::new();
        for k in list.public_key_list {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .map_err(|e| bad(format!("key {}: {e}", k.fingerprint)))?;
            keys.insert(k.fingerprint.to_ascii_lowercase(), der);
        }
        Ok(PublicKeys(keys))
    }

    pub fn insert(&mut self, fingerprint: &str, der: Vec<u8>) {
        self.0.insert(fingerprint.to_ascii_lowercase(), der);
    }

    pub fn get(&self, fingerprint: &str) -> Option<&[u8]> {
        self.0
            .get(&fingerprint.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// Add `other`'s keys.
    pub fn extend(&mut self, other: PublicKeys) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
