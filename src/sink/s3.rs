//! An S3 prefix as the curated output.
//!
//! A partition's data files are written to a local temporary folder while they are
//! encoded, then uploaded to their final keys (`…/day=D/part-00000.parquet`):
//! PutObject for small files, multipart upload beyond 64 MiB (aborted on failure,
//! so no partial object ever appears under a visible key). The manifest is uploaded
//! last, then part files the new version no longer has are deleted. Each object is
//! replaced atomically; a partition of one file (the normal case, below
//! `--target-file-size`) is therefore swapped atomically. A multi-file partition is
//! replaced file by file: for the moments of its commit a reader may see new and old
//! parts side by side. Server-side encryption: SSE-S3 by default, SSE-KMS with a key.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use super::{FilePart, Lease, LeaseInfo, PartOutput, Sink, SinkError, StagedPartition};
use crate::aws::Aws;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::partition::PartitionKey;
use crate::s3::{client, S3Error};

/// Files larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;
const PART_SIZE: usize = 16 << 20;

/// Server-side encryption of written objects.
#[derive(Debug, Clone, Default)]
pub enum Encryption {
    /// SSE-S3 (AES256).
    #[default]
    S3,
    /// SSE-KMS with this key id or ARN.
    Kms(String),
}

impl Encryption {
    /// The `x-amz-server-side-encryption` value and KMS key id for a write.
    fn headers(&self) -> (ServerSideEncryption, Option<String>) {
        match self {
            Encryption::S3 => (ServerSideEncryption::Aes256, None),
            Encryption::Kms(k) => (ServerSideEncryption::AwsKms, Some(k.clone())),
        }
    }
}

pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    rt: Arc<tokio::runtime::Runtime>,
    encryption: Encryption,
    temp_root: PathBuf,
    multipart_threshold: u64,
}

impl S3Sink {
    pub fn new(
        aws: &Aws,
        bucket: &str,
        prefix: &str,
        encryption: Encryption,
        temp_root: &Path,
    ) -> S3Sink {
        S3Sink {
            client: client(aws),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            rt: aws.rt.clone(),
            encryption,
            temp_root: temp_root.to_path_buf(),
            multipart_threshold: MULTIPART_THRESHOLD,
        }
    }

    /// Upload files larger than `bytes` in parts.
    pub fn with_multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    fn partition_prefix(&self, key: &PartitionKey) -> String {
        format!("{}{}/", self.prefix, key.rel_path())
    }

    /// The upload side of this sink, handed to staged partitions.
    fn io(&self) -> S3SinkRef {
        S3SinkRef {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            rt: self.rt.clone(),
            encryption: self.encryption.clone(),
            multipart_threshold: self.multipart_threshold,
        }
    }

    /// The bucket, prefix and client this sink writes with (for the catalog).
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

fn s3_err(e: S3Error) -> SinkError {
    SinkError::S3(e)
}

impl Sink for S3Sink {
    fn describe(&self) -> String {
        self.url()
    }

    fn read_manifest(&self, key: &PartitionKey) -> Result<Option<Manifest>, SinkError> {
        let object = format!("{}{}", self.partition_prefix(key), MANIFEST_NAME);
        let result = self.rt.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&object)
                .send()
                .await
                .map_err(|e| S3Error::new("GetObject", &self.bucket, &object, &e))?;
            out.body
                .collect()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| S3Error::other("GetObject", &self.bucket, &object, e))
        });
        match result {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| SinkError::BadManifest {
                        path: format!("s3://{}/{object}", self.bucket),
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    fn list_partitions(&self) -> Result<Vec<PartitionKey>, SinkError> {
        self.rt
            .block_on(async {
                let mut keys = Vec::new();
                let mut stack = vec![(self.prefix.clone(), 0)];
                while let Some((prefix, depth)) = stack.pop() {
                    let mut pages = self
                        .client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&prefix)
                        .delimiter("/")
                        .into_paginator()
                        .send();
                    while let Some(page) = pages.next().await {
                        let page = page.map_err(|e| {
                            S3Error::new("ListObjectsV2", &self.bucket, &prefix, &e)
                        })?;
                        for cp in page.common_prefixes() {
                            let Some(p) = cp.prefix() else { continue };
                            if depth < 2 {
                                stack.push((p.to_string(), depth + 1));
                                continue;
                            }
                            let parts: Vec<&str> = p[self.prefix.len()..]
                                .split('/')
                                .filter(|c| !c.is_empty())
                                .collect();
                            if let [a, r, d] = parts[..] {
                                if let Some(k) = super::parse_partition(a, r, d) {
                                    keys.push(k);
                                }
                            }
                        }
                    }
                }
                keys.sort();
                Ok(keys)
            })
            .map_err(s3_err)
    }

    fn delete_partition(&self, key: &PartitionKey) -> Result<(), SinkError> {
        let prefix = self.partition_prefix(key);
        let sink = self.io();
        self.rt
            .block_on(async {
                // Data files first, the manifest last.
                sink.delete_stale(&prefix, &[]).await?;
                let manifest = format!("{prefix}{MANIFEST_NAME}");
                sink.client
                    .delete_object()
                    .bucket(&sink.bucket)
                    .key(&manifest)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| S3Error::new("DeleteObject", &sink.bucket, &manifest, &e))
            })
            .map_err(s3_err)
    }

    fn lease(
        &self,
        key: &PartitionKey,
        run_id: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Box<dyn Lease>>, SinkError> {
        let object = format!("{}_trailpack.lease", self.partition_prefix(key));
        let body = serde_json::to_vec(&LeaseInfo::new(run_id, ttl)).unwrap_or_default();
        let result: Result<Option<Box<dyn Lease>>, S3Error> = self.rt.block_on(async {
            for _ in 0..2 {
                // Created only if absent: S3's conditional write is the lock.
                let put = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&object)
                    .if_none_match("*")
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await;
                match put {
                    Ok(_) => {
                        return Ok(Some(Box::new(S3Lease {
                            client: self.client.clone(),
                            bucket: self.bucket.clone(),
                            key: object.clone(),
                            rt: self.rt.clone(),
                        }) as Box<dyn Lease>))
                    }
                    Err(e)
                        if e.code() == Some("PreconditionFailed")
                            || e.code() == Some("ConditionalRequestConflict") =>
                    {
                        let holder: Option<LeaseInfo> = match self
                            .client
                            .get_object()
                            .bucket(&self.bucket)
                            .key(&object)
                            .send()
                            .await
                        {
                            Ok(out) => out
                                .body
                                .collect()
                                .await
                                .ok()
                                .and_then(|b| serde_json::from_slice(&b.to_vec()).ok()),
                            Err(_) => None,
                        };
                        if holder.as_ref().is_some_and(|h| !h.expired()) {
                            return Ok(None);
                        }
                        let _ = self
                            .client
                            .delete_object()
                            .bucket(&self.bucket)
                            .key(&object)
                            .send()
                            .await;
                    }
                    Err(e) => return Err(S3Error::new("PutObject", &self.bucket, &object, &e)),
                }
            }
            Ok(None)
        });
        result.map_err(s3_err)
    }

    /// One ListObjectsV2 of the output prefix: the call (and the permission, which
    /// may be scoped to the prefix) every run needs, unlike HeadBucket, which a
    /// prefix-conditioned `s3:ListBucket` grant does not allow.
    fn check(&self) -> Result<(), SinkError> {
        self.rt
            .block_on(
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&self.prefix)
                    .max_keys(1)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| {
                s3_err(S3Error::new(
                    "ListObjectsV2",
                    &self.bucket,
                    &self.prefix,
                    &e,
                ))
            })
    }

    fn stage(
        &self,
        key: &PartitionKey,
        run_id: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError> {
        let dir = self
            .temp_root
            .join(format!("trailpack-{run_id}"))
            .join(key.rel_path());
        fs::create_dir_all(&dir).map_err(|e| SinkError::io(dir.display(), e))?;
        Ok(Box::new(S3Staged {
            sink: self.io(),
            dir,
            prefix: self.partition_prefix(key),
            parts: Vec::new(),
        }))
    }
}

struct S3SinkRef {
    client: aws_sdk_s3::Client,
    bucket: String,
    rt: Arc<tokio::runtime::Runtime>,
    encryption: Encryption,
    multipart_threshold: u64,
}

struct S3Staged {
    sink: S3SinkRef,
    dir: PathBuf,
    /// `…/day=D/` in the bucket.
    prefix: String,
    parts: Vec<String>,
}

impl S3SinkRef {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), S3Error> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body));
        let (sse, kms_key) = self.encryption.headers();
        req = req.server_side_encryption(sse).set_ssekms_key_id(kms_key);
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::new("PutObject", &self.bucket, key, &e))
    }

    async fn upload_file(&self, key: &str, path: &Path) -> Result<(), S3Error> {
        let size = fs::metadata(path)
            .map_err(|e| S3Error::other("PutObject", &self.bucket, key, e))?
            .len();
        if size <= self.multipart_threshold {
            let body =
                fs::read(path).map_err(|e| S3Error::other("PutObject", &self.bucket, key, e))?;
            return self.put(key, body).await;
        }
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key);
        let (sse, kms_key) = self.encryption.headers();
        req = req.server_side_encryption(sse).set_ssekms_key_id(kms_key);
        let created = req
            .send()
            .await
            .map_err(|e| S3Error::new("CreateMultipartUpload", &self.bucket, key, &e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, path, &upload_id).await;
        if result.is_err() {
            // Never leave an incomplete upload behind (it would be billed, though invisible).
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(&self, key: &str, path: &Path, upload_id: &str) -> Result<(), S3Error> {
        let mut file =
            File::open(path).map_err(|e| S3Error::other("UploadPart", &self.bucket, key, e))?;
        let mut parts = Vec::new();
        let mut number = 1;
        loop {
            let mut buf = Vec::with_capacity(PART_SIZE);
            (&mut file)
                .take(PART_SIZE as u64)
                .read_to_end(&mut buf)
                .map_err(|e| S3Error::other("UploadPart", &self.bucket, key, e))?;
            if buf.is_empty() {
                break;
            }
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| S3Error::new("UploadPart", &self.bucket, key, &e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::new("CompleteMultipartUpload", &self.bucket, key, &e))
    }

    /// Delete the data files under `prefix` that are not in `keep`.
    async fn delete_stale(&self, prefix: &str, keep: &[String]) -> Result<(), S3Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut stale = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| S3Error::new("ListObjectsV2", &self.bucket, prefix, &e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    let name = &k[prefix.len().min(k.len())..];
                    if name.ends_with(".parquet")
                        && !name.contains('/')
                        && !keep.iter().any(|x| x == name)
                    {
                        stale.push(k.to_string());
                    }
                }
            }
        }
        for k in stale {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| S3Error::new("DeleteObject", &self.bucket, &k, &e))?;
        }
        Ok(())
    }
}

impl StagedPartition for S3Staged {
    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError> {
        self.parts.push(name.to_string());
        // A temporary copy, uploaded at commit: no need to fsync.
        Ok(Box::new(FilePart::create(self.dir.join(name), false)?))
    }

    fn commit(self: Box<Self>, manifest: &Manifest) -> Result<(), SinkError> {
        let s = &self.sink;
        s.rt.block_on(async {
            for name in &self.parts {
                s.upload_file(&format!("{}{name}", self.prefix), &self.dir.join(name))
                    .await?;
            }
            s.put(
                &format!("{}{MANIFEST_NAME}", self.prefix),
                manifest.to_json().into_bytes(),
            )
            .await?;
            s.delete_stale(&self.prefix, &self.parts).await
        })
        .map_err(s3_err)
    }

    fn abort(self: Box<Self>) {}
}

struct S3Lease {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    rt: Arc<tokio::runtime::Runtime>,
}

impl Lease for S3Lease {}

impl Drop for S3Lease {
    fn drop(&mut self) {
        let released = self.rt.block_on(
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send(),
        );
        if let Err(e) = released {
            let e = S3Error::new("DeleteObject", &self.bucket, &self.key, &e);
            tracing::warn!(
                "lease not released: {e}; other runs treat the partition as busy until it expires"
            );
        }
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        // Remove the emptied `trailpack-<run>/account=…/region=…` folders too
        // (`remove_dir` leaves a folder another partition still uses).
        for parent in self.dir.ancestors().skip(1).take(3) {
            if fs::remove_dir(parent).is_err() {
                break;
            }
        }
    }
}
