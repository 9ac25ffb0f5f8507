//! Where curated partitions are written. A sink stages a partition's files out of
//! readers' sight and publishes them atomically: a reader sees the previous
//! complete partition or the new complete one, never a mix, never half.

pub mod local;
pub mod s3;

use std::io::Write;

use crate::manifest::Manifest;
use crate::partition::PartitionKey;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {path} is not valid: {reason}")]
    BadManifest { path: String, reason: String },
    #[error(transparent)]
    S3(crate::s3::S3Error),
}

impl SinkError {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// A file of a staged partition, being written.
pub trait PartOutput: Write + Send {
    /// Flush and make durable; returns the size written.
    fn finish(self: Box<Self>) -> Result<u64, SinkError>;
}

/// A held partition lease; released when dropped.
pub trait Lease: Send {}

/// The content of a lease: who holds it until when (Unix seconds).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LeaseInfo {
    pub run_id: String,
    pub expires: i64,
}

impl LeaseInfo {
    pub fn new(run_id: &str, ttl: std::time::Duration) -> LeaseInfo {
        LeaseInfo {
            run_id: run_id.to_string(),
            expires: time::OffsetDateTime::now_utc().unix_timestamp() + ttl.as_secs() as i64,
        }
    }

    pub fn expired(&self) -> bool {
        self.expires < time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A data file written to a local path through a buffer; `durable` makes `finish`
/// fsync it (for files that are published in place).
pub struct FilePart {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    durable: bool,
}

impl FilePart {
    pub fn create(path: std::path::PathBuf, durable: bool) -> Result<FilePart, SinkError> {
        let file = std::fs::File::create(&path).map_err(|e| SinkError::io(path.display(), e))?;
        Ok(FilePart {
            path,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            durable,
        })
    }
}

impl Write for FilePart {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl PartOutput for FilePart {
    fn finish(self: Box<Self>) -> Result<u64, SinkError> {
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| SinkError::io(path.display(), e.into_error()))?;
        if self.durable {
            file.sync_all()
                .map_err(|e| SinkError::io(path.display(), e))?;
        }
        Ok(file
            .metadata()
            .map_err(|e| SinkError::io(path.display(), e))?
            .len())
    }
}

/// A partition being built, invisible to readers until `commit`.
pub trait StagedPartition: Send {
    /// Create a data file of the partition.
    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError>;
    /// Publish the staged files and manifest atomically, replacing the previous
    /// version of the partition.
    fn commit(self: Box<Self>, manifest: &Manifest) -> Result<(), SinkError>;
    /// Drop everything staged; the published partition is untouched.
    fn abort(self: Box<Self>);
}

/// A place curated partitions are written to.
pub trait Sink: Send + Sync {
    fn describe(&self) -> String;
    /// The published manifest of a partition, if there is one.
    fn read_manifest(&self, key: &PartitionKey) -> Result<Option<Manifest>, SinkError>;
    /// Start staging a new version of a partition.
    fn stage(
        &self,
        key: &PartitionKey,
        run_id: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError>;
    /// Take the partition's lease for `ttl`, so two runs never build the same
    /// partition at once. `None`: another live run holds it.
    fn lease(
        &self,
        key: &PartitionKey,
        run_id: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Box<dyn Lease>>, SinkError>;
    /// Remove what dead runs left next to a partition (staging, leases).
    fn clean_up(&self, _key: &PartitionKey) {}
    /// Check up front that the output can be reached (before any work).
    fn check(&self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Every published partition (for retention).
    fn list_partitions(&self) -> Result<Vec<PartitionKey>, SinkError>;
    /// Delete a published partition: data files and manifest.
    fn delete_partition(&self, key: &PartitionKey) -> Result<(), SinkError>;
}

/// Parse `account=…`, `region=…`, `day=…` folder names into a key.
pub fn parse_partition(account: &str, region: &str, day: &str) -> Option<PartitionKey> {
    Some(PartitionKey {
        account: account.strip_prefix("account=")?.to_string(),
        region: region.strip_prefix("region=")?.to_string(),
        day: crate::layout::parse_day(day.strip_prefix("day=")?)?,
    })
}
