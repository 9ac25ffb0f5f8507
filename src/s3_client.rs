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

/// An S3 client in `bucket`'s own region (a trail bucket often lives in another
/// region than the job, and S3 answers a request signed for the wrong region with
/// a redirect). The region comes from HeadBucket's `x-amz-bucket-region` header,
/// which S3 sends with a success, a redirect and an access denial alike; without
/// it (no answer, or a server that does not send it) the configured region is used.
pub fn client_for_bucket(aws: &Aws, bucket: &str) -> aws_sdk_s3::Client {
    let base = client(aws);
    let Some(region) = aws.rt.block_on(bucket_region(&base, bucket)) else {
        return base;
    };
    if aws.config.region().map(|r| r.as_ref()) == Some(region.as_str()) {
        return base;
    }
    tracing::info!(bucket, %region, "the bucket is in another region: using a client there");
    let conf = aws_sdk_s3::config::Builder::from(&aws.config)
        .region(aws_sdk_s3::config::Region::new(region))
        .force_path_style(aws.opts.force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn bucket_region(client: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(SdkError::ServiceError(e)) => e
            .raw()
            .headers()
            .get("x-amz-bucket-region")
            .map(str::to_string),
        Err(_) => None,
    }
    .filter(|r| !r.is_empty())
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
