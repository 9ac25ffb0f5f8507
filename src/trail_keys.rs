//! CloudTrail's public keys from its `ListPublicKeys` call: the keys whose private
//! halves signed the digest files of a time range. CloudTrail signs each region's
//! digests with that region's key, so the keys are asked of every region the
//! digests come from (`aws-sdk-cloudtrail` is used here only).

use aws_sdk_cloudtrail::error::DisplayErrorContext;
use aws_sdk_cloudtrail::primitives::DateTime;

use crate::aws::Aws;
use crate::integrity::PublicKeys;

#[derive(Debug, thiserror::Error)]
#[error("CloudTrail ListPublicKeys in {region}: {detail} (use --public-keys FILE to give the keys, e.g. the output of `aws cloudtrail list-public-keys`)")]
pub struct KeysError {
    pub region: String,
    pub detail: String,
}

/// A key request for [`crate::verify::KeySource`], on `aws`'s runtime and settings.
pub fn asker(aws: &Aws) -> crate::verify::AskKeys {
    let (rt, config) = (aws.rt.clone(), aws.config.clone());
    Box::new(move |regions, start, end| {
        rt.block_on(list_async(&config, regions, start, end))
            .map_err(|e| e.to_string())
    })
}

/// The public keys of `regions` for digests between `start` and `end` (Unix seconds).
pub fn list(aws: &Aws, regions: &[String], start: i64, end: i64) -> Result<PublicKeys, KeysError> {
    aws.rt
        .block_on(list_async(&aws.config, regions, start, end))
}

async fn list_async(
    config: &aws_config::SdkConfig,
    regions: &[String],
    start: i64,
    end: i64,
) -> Result<PublicKeys, KeysError> {
    {
        let mut keys = PublicKeys::default();
        for region in regions {
            let conf = aws_sdk_cloudtrail::config::Builder::from(config)
                .region(aws_sdk_cloudtrail::config::Region::new(region.clone()))
                .build();
            let client = aws_sdk_cloudtrail::Client::from_conf(conf);
            let mut pages = client
                .list_public_keys()
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| KeysError {
                    region: region.clone(),
                    detail: DisplayErrorContext(&e).to_string(),
                })?;
                for k in page.public_key_list() {
                    if let (Some(fp), Some(value)) = (k.fingerprint(), k.value()) {
                        keys.insert(fp, value.as_ref().to_vec());
                    }
                }
            }
        }
        Ok(keys)
    }
}
