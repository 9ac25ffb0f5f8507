//! Where curated partitions are written, and the commit protocol that keeps them
//! whole.
//!
//! A partition's manifest is its single source of truth. A build reads the current
//! manifest (with a token: the build id locally, the ETag on S3), writes its data
//! files out of readers' sight under names of its own, and publishes with one
//! conditional step that succeeds only if the manifest is still the one it read: a
//! folder exchange under a lock locally, a conditional PutObject (`If-Match`, or
//! `If-None-Match: *` for a first version) on S3. A build that loses the race
//! publishes nothing and removes its files. Files no current manifest names are
//! deleted only after the commit (on S3 with registered partitions, after a grace
//! period, so running queries are not cut).

pub mod local;
pub mod s3;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::manifest::{Dataset, Manifest};

/// File name of the dataset settings at the output root.
pub const DATASET_NAME: &str = "_trailpack_dataset.json";
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
    S3(crate::s3_client::S3Error),
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

/// The current version of a partition.
#[derive(Debug, Clone)]
pub struct Current {
    pub manifest: Manifest,
    /// What the conditional commit compares with (build id locally, ETag on S3).
    pub token: String,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// The new version is current; its token.
    Published(String),
    /// Another build replaced the version this one started from: nothing published,
    /// this build's files removed.
    Lost,
}

/// A data file of a published version, readable as a local file (a temporary
/// download for S3, removed when dropped).
pub struct DataFile {
    pub path: PathBuf,
    temporary: bool,
}

impl DataFile {
    pub fn local(path: PathBuf) -> Self {
        DataFile {
            path,
            temporary: false,
        }
    }

    pub fn temporary(path: PathBuf) -> Self {
        DataFile {
            path,
            temporary: true,
        }
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A data file written to a local path through a buffer; `durable` makes `finish`
/// fsync it (for files that are published in place).
pub struct FilePart {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    durable: bool,
    /// Bytes handed to `write` so far.
    written: u64,
    /// Bytes whose write-back to disk has been started (durable files only).
    flushing: u64,
}

/// A durable file starts the write-back of every this many bytes as they are
/// written, so the `fsync` that ends it waits for the last few only (on a 50 MB
/// file that wait was ~15 ms, about 1 % of a conversion).
const WRITE_BACK_BYTES: u64 = 8 << 20;

impl FilePart {
    pub fn create(path: PathBuf, durable: bool) -> Result<FilePart, SinkError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| SinkError::io(parent.display(), e))?;
        }
        let file = std::fs::File::create(&path).map_err(|e| SinkError::io(path.display(), e))?;
        Ok(FilePart {
            path,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            durable,
            written: 0,
            flushing: 0,
        })
    }

    /// Start writing back to disk what reached the file since the last call, once
    /// that is `WRITE_BACK_BYTES` or more; does not wait for it.
    fn start_write_back(&mut self) {
        let in_file = self.written - self.out.buffer().len() as u64;
        if !self.durable || in_file - self.flushing < WRITE_BACK_BYTES {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid descriptor of the open file and a range within it; the
            // call only starts write-back. A failure is left to the final fsync.
            unsafe {
                libc::sync_file_range(
                    self.out.get_ref().as_raw_fd(),
                    self.flushing as libc::off64_t,
                    (in_file - self.flushing) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.flushing = in_file;
    }
}

impl Write for FilePart {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        self.start_write_back();
        Ok(n)
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
    /// The folder (below the partition folder) the data files go to; empty when
    /// they sit in the partition folder itself. Output names in the manifest start
    /// with it.
    fn data_folder(&self) -> &str;
    /// Create a data file of the partition.
    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError>;
    /// Where a finished data file of this build is, to read it back.
    fn local_path(&self, name: &str) -> PathBuf;
    /// Drop a data file of this build (it will not be published).
    fn remove(&mut self, name: &str) -> Result<(), SinkError>;
    /// Publish the staged files with `manifest`, provided the current version is
    /// still `previous` (compared by its token; `None`: there was none).
    fn commit(
        self: Box<Self>,
        manifest: &Manifest,
        previous: Option<&Current>,
    ) -> Result<Commit, SinkError>;
}

/// A place curated partitions are written to.
pub trait Sink: Send + Sync {
    fn describe(&self) -> String;
    /// The current version of a partition, if there is one.
    fn current(&self, key: &PartitionKey) -> Result<Option<Current>, SinkError>;
    /// Start staging a new version of a partition, built by `build`.
    fn stage(&self, key: &PartitionKey, build: &str)
        -> Result<Box<dyn StagedPartition>, SinkError>;
    /// A data file (`ManifestOutput::file`) of the current version, to read rows from.
    fn open(&self, key: &PartitionKey, file: &str) -> Result<DataFile, SinkError>;
    /// Where readers find the data of `manifest`'s version (for the catalog).
    fn data_location(&self, key: &PartitionKey, manifest: &Manifest) -> String;
    /// Delete what the current version no longer needs: older versions past their
    /// grace period (never `pinned`, the folder a catalog points readers at) and
    /// files of builds that died. Returns the objects deleted.
    fn collect_garbage(
        &self,
        _key: &PartitionKey,
        _current: &Current,
        _pinned: Option<&str>,
    ) -> Result<usize, SinkError> {
        Ok(0)
    }
    /// Remove what dead runs left next to a partition (staging folders).
    fn clean_up(&self, _key: &PartitionKey) {}
    /// Check up front that the output can be written (before any work).
    fn check(&self) -> Result<(), SinkError> {
        Ok(())
    }
    /// The output's dataset settings (`_trailpack_dataset.json` at its root).
    fn read_dataset(&self) -> Result<Option<Dataset>, SinkError>;
    /// Write the dataset settings unless some exist; returns the ones in force.
    fn create_dataset(&self, d: &Dataset) -> Result<Dataset, SinkError>;
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

/// A build's working folder, held alive by `<folder>.lock`: the lock is taken before
/// the folder exists and released after it is gone, so a folder whose lock is free
/// belongs to a build that died (on this host or another sharing the filesystem).
/// Dropping it removes the folder, then the lock file.
pub struct WorkFolder {
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl WorkFolder {
    pub fn create(path: PathBuf) -> Result<WorkFolder, SinkError> {
        let lock_path = lock_of(&path);
        let lock =
            FileLock::acquire(&lock_path).map_err(|e| SinkError::io(lock_path.display(), e))?;
        std::fs::create_dir_all(&path).map_err(|e| SinkError::io(path.display(), e))?;
        Ok(WorkFolder {
            path,
            lock_path,
            _lock: lock,
        })
    }

    /// Remove `folder` and its lock file if its build is gone; `false` if it lives.
    pub fn reclaim_if_dead(folder: &Path) -> bool {
        let lock_path = lock_of(folder);
        let Ok(Some(_held)) = FileLock::try_acquire(&lock_path) else {
            return false;
        };
        if folder.is_dir() {
            let _ = std::fs::remove_dir_all(folder);
        }
        let _ = std::fs::remove_file(&lock_path);
        true
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        if self.path.exists() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
        // The lock itself is released when `_lock` drops, after this.
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// `path` with `suffix` appended to its name.
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock file of a working folder.
fn lock_of(folder: &Path) -> PathBuf {
    suffixed(folder, ".lock")
}

/// An exclusive `flock(2)` on a file, held until dropped (or the process dies: the
/// kernel releases it, so a lock held is proof of a live holder, on this host or,
/// on NFS/EFS, any host).
pub struct FileLock {
    file: std::fs::File,
}

impl FileLock {
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    }

    /// Wait for the lock.
    pub fn acquire(path: &Path) -> std::io::Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(FileLock { file })
    }

    /// The lock if nobody holds it, else `None`.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

fn flock(file: &std::fs::File, op: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: a valid open file descriptor owned by `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
