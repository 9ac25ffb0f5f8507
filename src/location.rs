//! Where input and output live: a local folder or an S3 prefix.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parse `s3://bucket/prefix` or a local path. An S3 prefix is kept exactly as
    /// given (S3 keys may hold empty segments: `logs//` is not `logs/`), with a `/`
    /// added at the end when it has none.
    pub fn parse(s: &str) -> Result<Location, String> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.is_empty() {
                return Err("empty location".into());
            }
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!("{s:?}: {bucket:?} is not a valid S3 bucket name"));
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            Location::parse("s3://my-bucket/a/b").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b/".into()
            }
        );
        assert_eq!(
            Location::parse("s3://my-bucket").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("out/x").unwrap(),
            Location::Local("out/x".into())
        );
        assert!(Location::parse("s3://A_b/x").is_err());
        assert!(Location::parse("").is_err());
        assert_eq!(
            Location::parse("s3://my-bucket/a/").unwrap().to_string(),
            "s3://my-bucket/a/"
        );
        // Empty segments are part of S3 keys: kept.
        assert_eq!(
            Location::parse("s3://my-bucket/logs//")
                .unwrap()
                .to_string(),
            "s3://my-bucket/logs//"
        );
    }
}
