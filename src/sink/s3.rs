//! An S3 prefix as the curated output.
//!
//! Layout of a partition: `…/day=D/_trailpack.json` (the manifest) and one folder
//! per build, `…/day=D/<build>/part-00000.parquet`. A build encodes its files into a
//! local temporary folder, uploads them to its own folder (PutObject, or multipart
//! beyond 64 MiB, aborted on failure), then publishes by writing the manifest with
//! a conditional PutObject: `If-Match` the ETag it read, or `If-None-Match: *` when
//! there was none. If another build published in between, the write fails, this
//! build deletes its folder and publishes nothing.
//!
//! What readers see: with registered Glue partitions, a partition's location is one
//! build's folder, switched to the new one after the commit (one catalog update):
//! readers see one whole version. The replaced folder stays for the grace period
//! (`--gc-grace`) for queries already running, then is deleted. Without registered
//! partitions (projection, or no catalog), readers list `day=D/` recursively: while
//! a build uploads and until the previous folder is deleted right after the commit,
//! they see both versions. Folders of builds that died are deleted once older than
//! the grace period. Server-side encryption: SSE-S3 by default, SSE-KMS with a key.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use super::{
    Commit, Current, DataFile, FilePart, PartOutput, Sink, SinkError, StagedPartition, WorkFolder,
    DATASET_NAME,
};
use crate::aws::Aws;
use crate::manifest::{Dataset, Manifest, Retired, MANIFEST_NAME};
use crate::partition::PartitionKey;
use crate::s3_client::{client_for_bucket, S3Error};

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

/// How replaced versions are retired.
#[derive(Debug, Clone, Copy)]
pub struct Retirement {
    /// Readers are pointed at one build's folder (registered catalog partitions):
    /// the replaced folder is kept for `grace`. Otherwise it is deleted at once.
    pub pointed: bool,
    /// How long a replaced or abandoned folder is kept.
    pub grace: std::time::Duration,
}

impl Default for Retirement {
    fn default() -> Self {
        Retirement {
            pointed: false,
            grace: std::time::Duration::from_secs(6 * 3600),
        }
    }
}

pub struct S3Sink {
    io: S3SinkRef,
    prefix: String,
    temp_root: PathBuf,
    retirement: Retirement,
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
            io: S3SinkRef {
                client: client_for_bucket(aws, bucket),
                bucket: bucket.to_string(),
                rt: aws.rt.clone(),
                encryption,
                multipart_threshold: MULTIPART_THRESHOLD,
            },
            prefix: prefix.to_string(),
            temp_root: temp_root.to_path_buf(),
            retirement: Retirement::default(),
        }
    }

    /// Upload files larger than `bytes` in parts.
    pub fn with_multipart_threshold(mut self, bytes: u64) -> Self {
        self.io.multipart_threshold = bytes;
        self
    }

    pub fn with_retirement(mut self, r: Retirement) -> Self {
        self.retirement = r;
        self
    }

    fn partition_prefix(&self, key: &PartitionKey) -> String {
        format!("{}{}/", self.prefix, key.rel_path())
    }

    /// The bucket and prefix this sink writes to.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.io.bucket, self.prefix)
    }

    /// Upload the local file `path` as the object `rel` below the prefix (one PUT,
    /// or a multipart upload for large files: readers see the whole object or the
    /// one it replaces, never part of it).
    pub fn put_file(&self, rel: &str, path: &Path) -> Result<(), SinkError> {
        let key = format!("{}{rel}", self.prefix);
        self.block_on(self.io.upload_file(&key, path))
    }

    /// Delete the object `rel` below the prefix (nothing when there is none).
    pub fn delete_file(&self, rel: &str) -> Result<(), SinkError> {
        let key = format!("{}{rel}", self.prefix);
        self.block_on(self.io.delete_all(&[key])).map(|_| ())
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, S3Error>>,
    ) -> Result<T, SinkError> {
        self.io.rt.block_on(f).map_err(SinkError::S3)
    }
}

/// The folder of `manifest`'s data below the partition folder: its build's, or
/// the partition folder itself for versions written before per-build folders.
fn data_folder(manifest: &Manifest) -> String {
    if manifest.settings.output_format >= 2 && !manifest.build.is_empty() {
        format!("{}/", manifest.build)
    } else {
        String::new()
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Sink for S3Sink {
    fn describe(&self) -> String {
        self.url()
    }

    fn current(&self, key: &PartitionKey) -> Result<Option<Current>, SinkError> {
        let object = format!("{}{}", self.partition_prefix(key), MANIFEST_NAME);
        let Some((token, body)) = self.block_on(self.io.get_if_exists(&object))? else {
            return Ok(None);
        };
        let manifest = serde_json::from_slice(&body).map_err(|e| SinkError::BadManifest {
            path: format!("s3://{}/{object}", self.io.bucket),
            reason: e.to_string(),
        })?;
        Ok(Some(Current { manifest, token }))
    }

    fn open(&self, key: &PartitionKey, file: &str) -> Result<DataFile, SinkError> {
        let object = format!("{}{file}", self.partition_prefix(key));
        let path = self.temp_root.join(format!(
            "trailpack-read-{}-{:016x}.parquet",
            std::process::id(),
            fastrand::u64(..)
        ));
        let data = DataFile::temporary(path.clone());
        let io = &self.io;
        self.block_on(async {
            let out = io
                .client
                .get_object()
                .bucket(&io.bucket)
                .key(&object)
                .send()
                .await
                .map_err(|e| S3Error::new("GetObject", &io.bucket, &object, &e))?;
            let mut body = out.body.into_async_read();
            let mut f = tokio::fs::File::create(&path)
                .await
                .map_err(|e| S3Error::other("GetObject", &io.bucket, &object, e))?;
            tokio::io::copy(&mut body, &mut f)
                .await
                .map_err(|e| S3Error::other("GetObject", &io.bucket, &object, e))?;
            Ok(())
        })?;
        Ok(data)
    }

    fn data_location(&self, key: &PartitionKey, manifest: &Manifest) -> String {
        format!(
            "s3://{}/{}{}",
            self.io.bucket,
            self.partition_prefix(key),
            data_folder(manifest)
        )
    }

    fn collect_garbage(
        &self,
        key: &PartitionKey,
        current: &Current,
        pinned: Option<&str>,
    ) -> Result<usize, SinkError> {
        let prefix = self.partition_prefix(key);
        let keep_folder = data_folder(&current.manifest);
        let pinned = pinned.and_then(|p| {
            p.strip_prefix(&format!("s3://{}/{prefix}", self.io.bucket))
                .map(str::to_string)
        });
        let grace = self.retirement.grace.as_secs() as i64;
        let now = now_secs();
        let retired = &current.manifest.retired;
        // A retired folder is deleted once its grace period is over, unless readers
        // are pointed at it.
        let due =
            |r: &Retired| r.retired_at + grace <= now && Some(format!("{}/", r.folder)) != pinned;
        let io = &self.io;
        let deleted = self.block_on(async {
            let folders = io.folders(&prefix).await?;
            let mut deleted = 0;
            for (folder, (keys, newest)) in folders {
                if folder == keep_folder || Some(&folder) == pinned.as_ref() {
                    continue;
                }
                let due = match retired.iter().find(|r| format!("{}/", r.folder) == folder) {
                    Some(r) => due(r),
                    // Not current, never retired: a build that died (or one still
                    // uploading, which is why it must be older than the grace period).
                    None => newest + grace <= now,
                };
                if due {
                    deleted += io.delete_all(&keys).await?;
                }
            }
            Ok(deleted)
        })?;
        // Forget the retired folders that are gone (best effort: a lost race only
        // means the entries are pruned by a later build).
        if retired.iter().any(due) {
            let mut m = current.manifest.clone();
            m.retired.retain(|r| !due(r));
            let object = format!("{prefix}{MANIFEST_NAME}");
            let _ = self.block_on(io.put_manifest(&object, &m, Some(&current.token)));
        }
        Ok(deleted)
    }

    fn read_dataset(&self) -> Result<Option<Dataset>, SinkError> {
        let object = format!("{}{DATASET_NAME}", self.prefix);
        let got = self.block_on(self.io.get_if_exists(&object))?;
        got.map(|(_, body)| {
            serde_json::from_slice(&body).map_err(|e| SinkError::BadManifest {
                path: format!("s3://{}/{object}", self.io.bucket),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    fn create_dataset(&self, d: &Dataset) -> Result<Dataset, SinkError> {
        let object = format!("{}{DATASET_NAME}", self.prefix);
        let body = serde_json::to_vec_pretty(d).unwrap_or_default();
        let io = &self.io;
        match self.block_on(io.put_if(&object, body, None))? {
            Some(_) => Ok(d.clone()),
            None => self.read_dataset()?.ok_or_else(|| {
                SinkError::S3(S3Error::other("GetObject", &io.bucket, &object, "vanished"))
            }),
        }
    }

    fn list_partitions(&self) -> Result<Vec<PartitionKey>, SinkError> {
        let io = &self.io;
        self.block_on(async {
            let mut keys = Vec::new();
            let mut stack = vec![(self.prefix.clone(), 0)];
            while let Some((prefix, depth)) = stack.pop() {
                let mut pages = io
                    .client
                    .list_objects_v2()
                    .bucket(&io.bucket)
                    .prefix(&prefix)
                    .delimiter("/")
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page =
                        page.map_err(|e| S3Error::new("ListObjectsV2", &io.bucket, &prefix, &e))?;
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
    }

    fn delete_partition(&self, key: &PartitionKey) -> Result<(), SinkError> {
        let prefix = self.partition_prefix(key);
        let io = &self.io;
        self.block_on(async {
            // Data first, the manifest last.
            let manifest = format!("{prefix}{MANIFEST_NAME}");
            let mut keys: Vec<String> = io
                .folders(&prefix)
                .await?
                .into_values()
                .flat_map(|(k, _)| k)
                .collect();
            keys.push(manifest);
            io.delete_all(&keys).await?;
            Ok(())
        })
    }

    /// One ListObjectsV2 of the output prefix: the call (and the permission, which
    /// may be scoped to the prefix) every run needs, unlike HeadBucket, which a
    /// prefix-conditioned `s3:ListBucket` grant does not allow. Also reclaims the
    /// temporary folders of builds that died on this machine.
    fn check(&self) -> Result<(), SinkError> {
        remove_dead_temp(&self.temp_root);
        let io = &self.io;
        self.block_on(async {
            io.client
                .list_objects_v2()
                .bucket(&io.bucket)
                .prefix(&self.prefix)
                .max_keys(1)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| S3Error::new("ListObjectsV2", &io.bucket, &self.prefix, &e))
        })
    }

    fn stage(
        &self,
        key: &PartitionKey,
        build: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError> {
        fs::create_dir_all(&self.temp_root)
            .map_err(|e| SinkError::io(self.temp_root.display(), e))?;
        let top = WorkFolder::create(self.temp_root.join(format!("trailpack-{build}")))?;
        Ok(Box::new(S3Staged {
            sink: self.io.clone(),
            top,
            prefix: self.partition_prefix(key),
            folder: format!("{build}/"),
            parts: Vec::new(),
            retirement: self.retirement,
        }))
    }
}

/// Remove `trailpack-<build>` temporary folders whose lock is free (their build died).
fn remove_dead_temp(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(build) = name.strip_prefix("trailpack-") else {
            continue;
        };
        if build.starts_with("read-") || build.ends_with(".lock") || !e.path().is_dir() {
            continue;
        }
        WorkFolder::reclaim_if_dead(&e.path());
    }
}

#[derive(Clone)]
struct S3SinkRef {
    client: aws_sdk_s3::Client,
    bucket: String,
    rt: Arc<tokio::runtime::Runtime>,
    encryption: Encryption,
    multipart_threshold: u64,
}

struct S3Staged {
    sink: S3SinkRef,
    /// Local temporary folder of the build (removed when this is dropped).
    top: WorkFolder,
    /// `…/day=D/` in the bucket.
    prefix: String,
    /// `<build>/`: the build's folder below the partition folder.
    folder: String,
    parts: Vec<String>,
    retirement: Retirement,
}

/// Objects below a partition folder, by data folder (`<build>/`, or `` for files
/// directly in it), with the newest LastModified of each (Unix seconds). The
/// manifest is not included.
type Folders = std::collections::BTreeMap<String, (Vec<String>, i64)>;

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

    /// Write a manifest on condition: `If-Match` the ETag of the version it replaces,
    /// or `If-None-Match: *` for the first one. `Ok(None)`: another build won;
    /// else the new ETag.
    async fn put_manifest(
        &self,
        key: &str,
        manifest: &Manifest,
        expected: Option<&str>,
    ) -> Result<Option<String>, S3Error> {
        self.put_if(key, manifest.to_json().into_bytes(), expected)
            .await
    }

    /// PutObject of `body` on condition (see `put_manifest`).
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, S3Error> {
        let (sse, kms_key) = self.encryption.headers();
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .server_side_encryption(sse)
            .set_ssekms_key_id(kms_key);
        req = match expected {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
            Err(e)
                if matches!(
                    e.code(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) || e
                    .raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 412 | 409)) =>
            {
                Ok(None)
            }
            Err(e) => Err(S3Error::new("PutObject", &self.bucket, key, &e)),
        }
    }

    /// An object's ETag and body, or `None` when there is no such key.
    async fn get_if_exists(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, S3Error> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = S3Error::new("GetObject", &self.bucket, key, &e);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let body = out
            .body
            .collect()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| S3Error::other("GetObject", &self.bucket, key, e))?;
        Ok(Some((etag, body)))
    }

    async fn folders(&self, prefix: &str) -> Result<Folders, S3Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Folders::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| S3Error::new("ListObjectsV2", &self.bucket, prefix, &e))?;
            for o in page.contents() {
                let Some(k) = o.key() else { continue };
                let rest = &k[prefix.len().min(k.len())..];
                if rest == MANIFEST_NAME || rest.is_empty() {
                    continue;
                }
                let folder = match rest.split_once('/') {
                    Some((f, _)) => format!("{f}/"),
                    None => String::new(),
                };
                let modified = o.last_modified().map_or(0, |t| t.secs());
                let entry = out.entry(folder).or_insert_with(|| (Vec::new(), 0));
                entry.0.push(k.to_string());
                entry.1 = entry.1.max(modified);
            }
        }
        Ok(out)
    }

    async fn delete_all(&self, keys: &[String]) -> Result<usize, S3Error> {
        for k in keys {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(k)
                .send()
                .await
                .map_err(|e| S3Error::new("DeleteObject", &self.bucket, k, &e))?;
        }
        Ok(keys.len())
    }
}

impl StagedPartition for S3Staged {
    fn data_folder(&self) -> &str {
        &self.folder
    }

    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError> {
        self.parts.push(name.to_string());
        // A temporary copy, uploaded at commit: no need to fsync.
        Ok(Box::new(FilePart::create(self.top.path.join(name), false)?))
    }

    fn local_path(&self, name: &str) -> PathBuf {
        self.top.path.join(name)
    }

    fn remove(&mut self, name: &str) -> Result<(), SinkError> {
        self.parts.retain(|p| p != name);
        let p = self.top.path.join(name);
        fs::remove_file(&p).map_err(|e| SinkError::io(p.display(), e))
    }

    fn commit(
        self: Box<Self>,
        manifest: &Manifest,
        previous: Option<&Current>,
    ) -> Result<Commit, SinkError> {
        let s = &self.sink;
        let mut manifest = manifest.clone();
        let old_folder = previous.map(|p| data_folder(&p.manifest));
        if let (Some(p), Some(old), true) = (previous, &old_folder, self.retirement.pointed) {
            // Readers of the old folder get the grace period to finish.
            manifest.retired = p.manifest.retired.clone();
            manifest.retired.push(Retired {
                folder: old.trim_end_matches('/').to_string(),
                retired_at: now_secs(),
            });
        }
        let object = format!("{}{MANIFEST_NAME}", self.prefix);
        let token =
            s.rt.block_on(async {
                for name in &self.parts {
                    let key = format!("{}{}{name}", self.prefix, self.folder);
                    s.upload_file(&key, &self.top.path.join(name)).await?;
                }
                let token = s
                    .put_manifest(&object, &manifest, previous.map(|p| p.token.as_str()))
                    .await?;
                let mine: Vec<String> = self
                    .parts
                    .iter()
                    .map(|n| format!("{}{}{n}", self.prefix, self.folder))
                    .collect();
                if token.is_none() {
                    // Nobody points at this build's folder: gone at once.
                    s.delete_all(&mine).await?;
                } else if let (Some(old), false) = (&old_folder, self.retirement.pointed) {
                    // Readers list the partition folder: the old version goes now.
                    let folders = s.folders(&self.prefix).await?;
                    if let Some((keys, _)) = folders.get(old) {
                        s.delete_all(keys).await?;
                    }
                }
                Ok(token)
            })
            .map_err(SinkError::S3)?;
        Ok(match token {
            Some(t) => Commit::Published(t),
            None => Commit::Lost,
        })
    }
}
