//! CloudTrail log file integrity: digest files, their signatures and their chain,
//! and what they say of each delivered log file.
//!
//! CloudTrail writes a digest file per hour per account/region/trail (when log file
//! integrity validation is on). It lists every log file delivered in that hour with
//! the SHA-256 of its uncompressed content, names the previous digest (its S3
//! object, the SHA-256 of its uncompressed content and its signature), and is
//! signed with SHA256withRSA; the signature and algorithm are the digest object's S3
//! metadata (`signature`, `signature-algorithm`). The rules followed here are those
//! of "CloudTrail digest file structure" and "Custom implementations of CloudTrail
//! log file integrity validation" in the CloudTrail User Guide:
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html>,
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html>.
//!
//! - [`digest`]: a digest file, parsed and hashed; the string CloudTrail signs;
//!   signature verification.
//! - [`keys`]: CloudTrail's public keys by fingerprint (`ListPublicKeys` output).
//! - [`check`]: digests and log files in, a status per log file and the digest
//!   problems out. Pure: no IO.

pub mod check;
pub mod digest;
pub mod keys;

pub use check::{check, Checked, DigestProblem, LogFile, LogStatus, ProblemKind, Scope};
pub use digest::{DigestFile, IntegrityError};
pub use keys::PublicKeys;

/// The part of an S3 key or a local path from its `AWSLogs/` component on: how a
/// digest names a file, whatever the bucket prefix or local folder it was copied to.
pub fn object_identity(path: &str) -> &str {
    match path.find("AWSLogs/") {
        Some(0) => path,
        Some(i) if path.as_bytes()[i - 1] == b'/' => &path[i..],
        _ => path,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}
