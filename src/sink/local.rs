//! A local folder as the curated output.
//!
//! A build stages its partition in a hidden sibling folder (`.day=…​.trailpack-<build>`),
//! which neither Athena-style readers nor `day=*` globs see, and holds an `flock(2)`
//! on `<staging>.lock` while it lives: a staging folder whose lock is free belongs to
//! a dead build (on this host or another one sharing the folder) and is removed.
//! Publication takes the output's commit lock (`.trailpack-commit.lock`), checks that
//! the live manifest still names the build this one started from, and swaps the
//! staging folder with the live `day=…` folder in one `renameat2(2)`
//! `RENAME_EXCHANGE`: atomic for any number of files. Where the exchange is
//! unsupported (non-Linux, or a filesystem without it), the live folder is renamed
//! aside and the new one renamed in: for a moment the partition is absent, never
//! mixed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{
    suffixed, Commit, Current, DataFile, FileLock, FilePart, PartOutput, Sink, SinkError,
    StagedPartition, WorkFolder, DATASET_NAME,
};
use crate::layout::day_string;
use crate::manifest::{Dataset, Manifest, MANIFEST_NAME};
use crate::partition::PartitionKey;

const COMMIT_LOCK: &str = ".trailpack-commit.lock";

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

    /// The folder holding a partition's `day=` folder (created), where its staging
    /// folders live.
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

fn read_manifest(path: &Path) -> Result<Option<Manifest>, SinkError> {
    let text = match fs::read_to_string(path) {
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

impl Sink for LocalSink {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn current(&self, key: &PartitionKey) -> Result<Option<Current>, SinkError> {
        Ok(
            read_manifest(&self.live_dir(key).join(MANIFEST_NAME))?.map(|manifest| Current {
                token: manifest.build.clone(),
                manifest,
            }),
        )
    }

    fn open(&self, key: &PartitionKey, file: &str) -> Result<DataFile, SinkError> {
        Ok(DataFile::local(self.live_dir(key).join(file)))
    }

    fn data_location(&self, key: &PartitionKey, _manifest: &Manifest) -> String {
        self.live_dir(key).display().to_string()
    }

    /// Checks that the output folder can be written: creates and removes a file.
    fn check(&self) -> Result<(), SinkError> {
        let probe = self
            .root
            .join(format!(".trailpack-check-{}", std::process::id()));
        File::create(&probe).map_err(|e| SinkError::io(self.root.display(), e))?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    fn read_dataset(&self) -> Result<Option<Dataset>, SinkError> {
        let path = self.root.join(DATASET_NAME);
        match fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| SinkError::BadManifest {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SinkError::io(path.display(), e)),
        }
    }

    fn create_dataset(&self, d: &Dataset) -> Result<Dataset, SinkError> {
        let path = self.root.join(DATASET_NAME);
        let tmp = self
            .root
            .join(format!(".trailpack-dataset-{}", std::process::id()));
        let text = serde_json::to_string_pretty(d).unwrap_or_default() + "\n";
        fs::write(&tmp, text).map_err(|e| SinkError::io(tmp.display(), e))?;
        // A hard link fails if the file exists: the first writer wins.
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(d.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self
                .read_dataset()?
                .ok_or_else(|| SinkError::io(path.display(), e)),
            Err(e) => Err(SinkError::io(path.display(), e)),
        }
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
        let _commit = FileLock::acquire(&self.root.join(COMMIT_LOCK))
            .map_err(|e| SinkError::io(self.root.join(COMMIT_LOCK).display(), e))?;
        // Out of readers' sight in one rename, then removed.
        let gone = live.with_file_name(format!(
            ".day={}.trailpack-deleting-{}",
            day_string(key.day),
            std::process::id()
        ));
        fs::rename(&live, &gone).map_err(|e| SinkError::io(live.display(), e))?;
        fs::remove_dir_all(&gone).map_err(|e| SinkError::io(gone.display(), e))
    }

    fn clean_up(&self, key: &PartitionKey) {
        if let Some(parent) = self.live_dir(key).parent() {
            remove_dead_staging(parent, &day_string(key.day));
        }
    }

    fn stage(
        &self,
        key: &PartitionKey,
        build: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError> {
        let parent = self.parent_dir(key)?;
        let day = day_string(key.day);
        let staging = WorkFolder::create(parent.join(format!(".day={day}.trailpack-{build}")))?;
        Ok(Box::new(LocalStaged {
            staging,
            live: self.live_dir(key),
            parent,
            commit_lock: self.root.join(COMMIT_LOCK),
        }))
    }
}

/// Remove the staging folders (and leftovers) of builds that are gone: their lock
/// is free. A live build's folder is never touched, whichever host it runs on.
fn remove_dead_staging(parent: &Path, day: &str) {
    let prefix = format!(".day={day}.trailpack-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let path = e.path();
        // A lease file of an older version of trailpack: no longer used.
        if rest == "lease" {
            let _ = fs::remove_file(&path);
            continue;
        }
        let base = rest
            .strip_suffix(".lock")
            .or_else(|| rest.strip_suffix(".previous"))
            .unwrap_or(rest);
        let staging = parent.join(format!("{prefix}{base}"));
        if WorkFolder::reclaim_if_dead(&staging) {
            // What a publish interrupted between its two renames left aside.
            let _ = fs::remove_dir_all(suffixed(&staging, ".previous"));
        }
    }
}

/// A partition being staged; dropping it (commit, loss, error, panic) removes
/// what was staged: after a commit the staging path is gone or holds the
/// replaced version.
struct LocalStaged {
    staging: WorkFolder,
    live: PathBuf,
    parent: PathBuf,
    commit_lock: PathBuf,
}

impl StagedPartition for LocalStaged {
    fn data_folder(&self) -> &str {
        ""
    }

    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError> {
        // Published in place by a rename: made durable before that.
        Ok(Box::new(FilePart::create(
            self.staging.path.join(name),
            true,
        )?))
    }

    fn local_path(&self, name: &str) -> PathBuf {
        self.staging.path.join(name)
    }

    fn remove(&mut self, name: &str) -> Result<(), SinkError> {
        let p = self.staging.path.join(name);
        fs::remove_file(&p).map_err(|e| SinkError::io(p.display(), e))
    }

    fn commit(
        self: Box<Self>,
        manifest: &Manifest,
        previous: Option<&Current>,
    ) -> Result<Commit, SinkError> {
        let expected = previous.map(|p| p.token.as_str());
        let mpath = self.staging.path.join(MANIFEST_NAME);
        let mut f = File::create(&mpath).map_err(|e| SinkError::io(mpath.display(), e))?;
        f.write_all(manifest.to_json().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| SinkError::io(mpath.display(), e))?;
        sync_dir(&self.staging.path)?;
        // Subfolders (the findings) hold files whose entries must be durable too.
        for entry in fs::read_dir(&self.staging.path)
            .map_err(|e| SinkError::io(self.staging.path.display(), e))?
            .flatten()
        {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                sync_dir(&entry.path())?;
            }
        }
        let _commit = FileLock::acquire(&self.commit_lock)
            .map_err(|e| SinkError::io(self.commit_lock.display(), e))?;
        let live = read_manifest(&self.live.join(MANIFEST_NAME)).ok().flatten();
        if live.as_ref().map(|m| m.build.as_str()) != expected {
            return Ok(Commit::Lost);
        }
        publish(&self.staging.path, &self.live)?;
        sync_dir(&self.parent)?;
        Ok(Commit::Published(manifest.build.clone()))
    }
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io(dir.display(), e))
}

/// Put `staging` in place of `live`; afterwards `staging` no longer exists or
/// holds the replaced version.
fn publish(staging: &Path, live: &Path) -> Result<(), SinkError> {
    if !live.exists() {
        return fs::rename(staging, live).map_err(|e| SinkError::io(live.display(), e));
    }
    if exchange(staging, live).is_ok() {
        return Ok(());
    }
    let aside = suffixed(staging, ".previous");
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
