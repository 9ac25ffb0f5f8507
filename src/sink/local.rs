//! A local folder as the curated output.
//!
//! A partition is staged in a hidden sibling folder (`.day=…​.trailpack-<run>`),
//! which neither Athena-style readers nor `day=*` globs see, and published by
//! swapping that folder with the live `day=…` folder in one `renameat2(2)`
//! `RENAME_EXCHANGE` call. The swap is atomic for any number of files: readers see
//! the old folder or the new one. Where the exchange is unsupported (non-Linux, or
//! a filesystem without it), the live folder is renamed aside and the new one
//! renamed in: then, for a moment, the partition is absent but never mixed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{FilePart, Lease, LeaseInfo, PartOutput, Sink, SinkError, StagedPartition};
use crate::layout::day_string;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::partition::PartitionKey;

/// Staging folders left by a killed run are removed once this old.
const STALE_STAGING: Duration = Duration::from_secs(6 * 3600);

pub struct LocalSink {
    root: PathBuf,
}

impl LocalSink {
    /// A sink writing below `root`, created if missing.
    pub fn new(root: &Path) -> Result<Self, SinkError> {
        fs::create_dir_all(root).map_err(|e| SinkError::io(root.display(), e))?;
        let root = fs::canonicalize(root).map_err(|e| SinkError::io(root.display(), e))?;
        Ok(LocalSink { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn live_dir(&self, key: &PartitionKey) -> PathBuf {
        self.root.join(key.rel_path())
    }

    /// The folder holding a partition's `day=` folder (created), where its lease and
    /// staging folder live.
    fn parent_dir(&self, key: &PartitionKey) -> Result<PathBuf, SinkError> {
        let live = self.live_dir(key);
        let parent = live
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        fs::create_dir_all(&parent).map_err(|e| SinkError::io(parent.display(), e))?;
        Ok(parent)
    }
}

impl Sink for LocalSink {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn read_manifest(&self, key: &PartitionKey) -> Result<Option<Manifest>, SinkError> {
        let path = self.live_dir(key).join(MANIFEST_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SinkError::io(path.display(), e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SinkError::BadManifest {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    fn list_partitions(&self) -> Result<Vec<PartitionKey>, SinkError> {
        let dirs = |p: &Path| -> Result<Vec<(String, PathBuf)>, SinkError> {
            let mut out = Vec::new();
            for e in fs::read_dir(p)
                .map_err(|e| SinkError::io(p.display(), e))?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && !name.starts_with('.') {
                    out.push((name, e.path()));
                }
            }
            Ok(out)
        };
        let mut keys = Vec::new();
        for (a, ap) in dirs(&self.root)? {
            for (r, rp) in dirs(&ap)? {
                for (d, _) in dirs(&rp)? {
                    if let Some(k) = super::parse_partition(&a, &r, &d) {
                        keys.push(k);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete_partition(&self, key: &PartitionKey) -> Result<(), SinkError> {
        let live = self.live_dir(key);
        // Out of readers' sight in one rename, then removed.
        let gone = live.with_file_name(format!(
            ".day={}.trailpack-deleting-{}",
            day_string(key.day),
            std::process::id()
        ));
        fs::rename(&live, &gone).map_err(|e| SinkError::io(live.display(), e))?;
        fs::remove_dir_all(&gone).map_err(|e| SinkError::io(gone.display(), e))
    }

    fn lease(
        &self,
        key: &PartitionKey,
        run_id: &str,
        ttl: Duration,
    ) -> Result<Option<Box<dyn Lease>>, SinkError> {
        let parent = self.parent_dir(key)?;
        let path = parent.join(format!(".day={}.trailpack-lease", day_string(key.day)));
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let info =
                        serde_json::to_string(&LeaseInfo::new(run_id, ttl)).unwrap_or_default();
                    f.write_all(info.as_bytes())
                        .map_err(|e| SinkError::io(path.display(), e))?;
                    return Ok(Some(Box::new(LocalLease { path })));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<LeaseInfo> = fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                    let dead = holder.as_ref().is_none_or(|h| {
                        h.expired() || (cfg!(target_os = "linux") && !run_alive(&h.run_id))
                    });
                    if !dead {
                        return Ok(None);
                    }
                    // Expired or abandoned: take it over.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(SinkError::io(path.display(), e)),
            }
        }
        Ok(None)
    }

    fn clean_up(&self, key: &PartitionKey) {
        let live = self.live_dir(key);
        let Some(parent) = live.parent() else { return };
        let day = day_string(key.day);
        remove_stale_staging(parent, &day);
        let lease = parent.join(format!(".day={day}.trailpack-lease"));
        let dead = fs::read_to_string(&lease)
            .ok()
            .and_then(|t| serde_json::from_str::<LeaseInfo>(&t).ok())
            .is_some_and(|h| h.expired() || (cfg!(target_os = "linux") && !run_alive(&h.run_id)));
        if dead {
            let _ = fs::remove_file(&lease);
        }
    }

    fn stage(
        &self,
        key: &PartitionKey,
        run_id: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError> {
        let parent = self.parent_dir(key)?;
        let day = day_string(key.day);
        remove_stale_staging(&parent, &day);
        let staging = parent.join(format!(".day={day}.trailpack-{run_id}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| SinkError::io(staging.display(), e))?;
        }
        fs::create_dir(&staging).map_err(|e| SinkError::io(staging.display(), e))?;
        Ok(Box::new(LocalStaged {
            staging,
            live: self.live_dir(key),
            parent,
        }))
    }
}

/// Whether the run `run_id` (`<pid>-<nanos>`) is a live process on this machine.
fn run_alive(run_id: &str) -> bool {
    run_id
        .split('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_none_or(|pid| pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
}

struct LocalLease {
    path: PathBuf,
}

impl Lease for LocalLease {}

impl Drop for LocalLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Remove staging folders of runs that are gone: killed runs on this machine (their
/// process id, the first part of the run id, no longer exists), or any run's folder
/// older than `STALE_STAGING` (e.g. from another machine sharing the folder).
fn remove_stale_staging(parent: &Path, day: &str) {
    let prefix = format!(".day={day}.trailpack-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(run) = name.strip_prefix(&prefix) else {
            continue;
        };
        let dead_local_run = cfg!(target_os = "linux")
            && run
                .split('-')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
                });
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_STAGING);
        if dead_local_run || old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

struct LocalStaged {
    staging: PathBuf,
    live: PathBuf,
    parent: PathBuf,
}

impl StagedPartition for LocalStaged {
    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError> {
        // Published in place by a rename: made durable before that.
        Ok(Box::new(FilePart::create(self.staging.join(name), true)?))
    }

    fn commit(self: Box<Self>, manifest: &Manifest) -> Result<(), SinkError> {
        let mpath = self.staging.join(MANIFEST_NAME);
        let mut f = File::create(&mpath).map_err(|e| SinkError::io(mpath.display(), e))?;
        f.write_all(manifest.to_json().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| SinkError::io(mpath.display(), e))?;
        sync_dir(&self.staging)?;
        publish(&self.staging, &self.live)?;
        sync_dir(&self.parent)
    }

    fn abort(self: Box<Self>) {
        // Dropping removes the staging folder.
    }
}

impl Drop for LocalStaged {
    /// Whatever happens (commit, abort, error, panic), nothing staged is left behind:
    /// after a commit the staging path is gone or holds the replaced version.
    fn drop(&mut self) {
        if self.staging.exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io(dir.display(), e))
}

/// Put `staging` in place of `live`; afterwards `staging` no longer exists.
fn publish(staging: &Path, live: &Path) -> Result<(), SinkError> {
    if !live.exists() {
        return fs::rename(staging, live).map_err(|e| SinkError::io(live.display(), e));
    }
    if exchange(staging, live).is_ok() {
        // `staging` now holds the previous version; dropping the stage removes it.
        return Ok(());
    }
    let aside = staging.with_extension("previous");
    fs::rename(live, &aside).map_err(|e| SinkError::io(live.display(), e))?;
    if let Err(e) = fs::rename(staging, live) {
        // Put the previous version back: a failed publish leaves it untouched.
        let _ = fs::rename(&aside, live);
        return Err(SinkError::io(live.display(), e));
    }
    fs::remove_dir_all(&aside).map_err(|e| SinkError::io(aside.display(), e))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings; AT_FDCWD with absolute
    // paths; renameat2 does not retain the pointers.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}
