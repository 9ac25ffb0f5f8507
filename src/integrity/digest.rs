//! One digest file: its content (as CloudTrail documents it), the SHA-256 of its
//! uncompressed bytes, its signature, and the check of that signature.

use serde::Deserialize;

/// What went wrong reading integrity data; names the file.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("{file}: not a digest file: {reason}")]
    BadDigest { file: String, reason: String },
    #[error("{file}: public keys: {reason}")]
    BadKeys { file: String, reason: String },
}

/// A log file a digest lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedLog {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the log file's uncompressed content.
    pub hash_value: String,
    pub hash_algorithm: String,
}

/// The fields of a digest file that validation reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous digest's uncompressed content.
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<ListedLog>,
}

/// A digest file as found: where, what it says, its content's hash and, when the
/// object's metadata was available, its signature.
#[derive(Debug, Clone)]
pub struct DigestFile {
    /// Where it was found (a local path or an S3 key).
    pub location: String,
    pub digest: Digest,
    /// Hex SHA-256 of the uncompressed content.
    pub sha256: String,
    /// The `signature` metadata (hex) and `signature-algorithm`; `None` for a copy
    /// made without S3 metadata.
    pub signature: Option<(String, String)>,
}

impl DigestFile {
    /// Read a digest from its uncompressed content.
    pub fn parse(
        location: &str,
        content: &[u8],
        signature: Option<(String, String)>,
    ) -> Result<DigestFile, IntegrityError> {
        let digest: Digest =
            serde_json::from_slice(content).map_err(|e| IntegrityError::BadDigest {
                file: location.to_string(),
                reason: e.to_string(),
            })?;
        Ok(DigestFile {
            location: location.to_string(),
            digest,
            sha256: super::sha256_hex(content),
            signature,
        })
    }

    /// The string CloudTrail signs for this digest: its end time, `bucket/key`, the
    /// hex SHA-256 of its uncompressed content and the previous digest's signature
    /// (`null` for the first of a chain), separated by newlines ("Data signing
    /// string", Custom implementations of CloudTrail log file integrity validation).
    pub fn string_to_sign(&self) -> String {
        let d = &self.digest;
        format!(
            "{}\n{}/{}\n{}\n{}",
            d.digest_end_time,
            d.digest_s3_bucket,
            d.digest_s3_object,
            self.sha256,
            d.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }

    /// Whether the signature verifies with `public_key` (DER, PKCS#1 RSAPublicKey as
    /// ListPublicKeys returns it): RSA PKCS#1 v1.5 over the SHA-256 of the string to
    /// sign. `None` when there is no signature to check or its algorithm is not
    /// SHA256withRSA.
    pub fn signature_verifies(&self, public_key: &[u8]) -> Option<bool> {
        let (sig_hex, algorithm) = self.signature.as_ref()?;
        if algorithm != "SHA256withRSA" {
            return None;
        }
        let Some(sig) = unhex(sig_hex) else {
            return Some(false);
        };
        let key = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            public_key,
        );
        Some(key.verify(self.string_to_sign().as_bytes(), &sig).is_ok())
    }
}

/// Bytes of a hex string; `None` when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
