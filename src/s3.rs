//! S3 plumbing shared by the S3 source and sink: the client, object URLs and
//! errors that name the bucket, key and action.

use std::fmt;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::aws::Aws;

/// An S3 client for `aws`'s configuration (path-style addressing on request).
pub fn client(aws: &Aws) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&aws.config)
        .force_path_style(aws.opts.force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A failed S3 call, with what was being done to which object.
#[derive(Debug, Clone, thiserror::Error)]
pub struct S3Error {
    pub action: &'static str,
    pub bucket: String,
    pub key: String,
    /// The service's error code (e.g. `AccessDenied`, `NoSuchBucket`), if any.
    pub code: Option<String>,
    pub detail: String,
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} s3://{}/{} failed",
            self.action, self.bucket, self.key
        )?;
        if let Some(c) = &self.code {
            write!(f, " ({c})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl S3Error {
    pub fn new<E, R>(action: &'static str, bucket: &str, key: &str, e: &SdkError<E, R>) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = e.code().map(str::to_string);
        let detail = match (e.code(), e.message()) {
            (Some(_), Some(m)) => m.to_string(),
            _ => DisplayErrorContext(e).to_string(),
        };
        S3Error {
            action,
            bucket: bucket.to_string(),
            key: key.to_string(),
            code,
            detail,
        }
    }

    pub fn other(
        action: &'static str,
        bucket: &str,
        key: &str,
        detail: impl fmt::Display,
    ) -> S3Error {
        S3Error {
            action,
            bucket: bucket.to_string(),
            key: key.to_string(),
            code: None,
            detail: detail.to_string(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound" | "404"))
    }
}
