//! A local folder holding (part of) the delivery layout.
//!
//! Discovery walks the whole tree once and keeps its event files indexed by
//! account, region and day folder; day listings are served from that index.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use time::Date;

use rayon::prelude::*;

use super::{
    DigestObject, Discovery, InputFile, ListFilter, Listing, Source, SourceError, TrailFolder,
};
use crate::layout::{FileKind, LogPath};

/// Event files by (account, region, folder day).
type Index = BTreeMap<(String, String, Date), Vec<InputFile>>;
/// Digest files by account, region and day folder: path and layout.
type DigestIndex = BTreeMap<(String, String, Date), Vec<(String, LogPath)>>;

pub struct LocalSource {
    root: PathBuf,
    index: Mutex<Index>,
    digests: Mutex<DigestIndex>,
}

impl LocalSource {
    /// A source rooted at `root`, which must be an existing folder.
    pub fn new(root: &Path) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io {
            path: root.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(root).map_err(io)?;
        if !meta.is_dir() {
            return Err(SourceError::NotAFolder {
                path: root.display().to_string(),
            });
        }
        let root = std::fs::canonicalize(root).map_err(io)?;
        Ok(LocalSource {
            root,
            index: Mutex::new(Index::new()),
            digests: Mutex::new(DigestIndex::new()),
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Source for LocalSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn discover(&self, filter: &ListFilter) -> Result<Discovery, SourceError> {
        let (mut walked, digests) = self.walk(filter)?;
        *self.digests.lock().unwrap_or_else(|p| p.into_inner()) = digests;
        let mut index = Index::new();
        let mut folders = BTreeSet::new();
        for f in std::mem::take(&mut walked.files) {
            let (account, region) = (f.log.account.clone(), f.log.region.clone());
            if filter.accepts_folder(&account, &region) {
                folders.insert((account.clone(), region.clone()));
            }
            index
                .entry((account, region, f.log.folder_day))
                .or_default()
                .push(f);
        }
        *self.index() = index;
        Ok(Discovery {
            folders: folders
                .into_iter()
                .map(|(account, region)| TrailFolder {
                    account,
                    region,
                    location: self.describe(),
                })
                .collect(),
            skipped: walked,
        })
    }

    fn day_spans(
        &self,
        folders: &[TrailFolder],
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<Option<(Date, Date)>>, SourceError> {
        let index = self.index();
        Ok(folders
            .iter()
            .map(|folder| {
                // The index is ordered by (account, region, day): this folder's days
                // within the range are one contiguous run of it.
                let (lo, hi) = (from.unwrap_or(Date::MIN), to.unwrap_or(Date::MAX));
                if lo > hi {
                    return None;
                }
                let key = |d: Date| (folder.account.clone(), folder.region.clone(), d);
                let mut days = index.range(key(lo)..=key(hi)).map(|((_, _, d), _)| *d);
                let first = days.next()?;
                Some((first, days.next_back().unwrap_or(first)))
            })
            .collect())
    }

    fn list_days(&self, wanted: &[(&TrailFolder, Date)]) -> Result<Listing, SourceError> {
        let index = self.index();
        let mut listing = Listing::default();
        for (f, d) in wanted {
            if let Some(files) = index.get(&(f.account.clone(), f.region.clone(), *d)) {
                listing.files.extend(files.iter().cloned());
            }
        }
        listing.files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    fn read_digests(
        &self,
        wanted: &[(&TrailFolder, Date)],
    ) -> Result<Vec<Vec<DigestObject>>, SourceError> {
        let index = self.digests.lock().unwrap_or_else(|p| p.into_inner());
        let read = |(path, log): &(String, LogPath)| DigestObject {
            object: log.canonical_key(),
            log: log.clone(),
            bytes: std::fs::read(path).map_err(|e| format!("{path}: {e}")),
            signature: None,
        };
        Ok(wanted
            .par_iter()
            .map(|(f, d)| {
                index
                    .get(&(f.account.clone(), f.region.clone(), *d))
                    .map_or_else(Vec::new, |found| found.iter().map(read).collect())
            })
            .collect())
    }

    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError> {
        std::fs::read(&file.location).map_err(|source| SourceError::Io {
            path: file.location.clone(),
            source,
        })
    }
}

impl LocalSource {
    /// The event files and the digest files below the root.
    ///
    /// Walks the tree without following symbolic links (a link is reported and
    /// skipped: it could lead outside the input, or in a loop). A folder that
    /// cannot be read is reported and skipped, not fatal. Every event file is kept
    /// (a run may need the day before its range); digest files are counted when
    /// `filter` accepts them.
    fn walk(&self, filter: &ListFilter) -> Result<(Listing, DigestIndex), SourceError> {
        let mut listing = Listing::default();
        let mut digests = DigestIndex::new();
        let walker = walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            // Hidden entries (editor files, our own staging folders) are not input.
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e
                        .path()
                        .map_or_else(|| self.describe(), |p| p.display().to_string());
                    tracing::warn!(path = %path, "not read: {e}");
                    listing.unreadable.push(format!("{path}: {e}"));
                    continue;
                }
            };
            let Some((log, location)) = log_file(&entry, &mut listing) else {
                continue;
            };
            match log.kind {
                FileKind::Digest => {
                    if filter.accepts(&log) {
                        listing.digest_files += 1;
                    }
                    if filter.accepts_folder(&log.account, &log.region) {
                        digests
                            .entry((log.account.clone(), log.region.clone(), log.folder_day))
                            .or_default()
                            .push((location, log));
                    }
                }
                FileKind::WritabilityCheck => listing.writability_checks += 1,
                FileKind::Events => listing.files.push(event_file(&entry, log, location)?),
            }
        }
        listing.files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((listing, digests))
    }
}

/// A walked entry as a file of CloudTrail's layout and its path, or `None` (noted
/// in `listing` when worth reporting): a symbolic link, a folder, a name that is
/// not UTF-8, a file outside the layout. A path is taken as its components, never
/// re-parsed from text: a `\\` in a file name is part of the name.
fn log_file(entry: &walkdir::DirEntry, listing: &mut Listing) -> Option<(LogPath, String)> {
    let path = entry.path();
    if entry.path_is_symlink() {
        tracing::warn!(path = %path.display(), "symbolic link not followed");
        listing.links_skipped.push(path.display().to_string());
        return None;
    }
    if !entry.file_type().is_file() {
        return None;
    }
    let Some(parts) = path
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<&str>>>()
    else {
        let shown = path.to_string_lossy().into_owned();
        tracing::warn!(path = %shown, "file name is not UTF-8: skipped");
        listing.outside_layout.push(shown);
        return None;
    };
    // Components joined with `/` (a component never holds one on Unix).
    let Some(log) = LogPath::from_parts(&parts) else {
        // Only files that look like logs are worth a warning; a README or a
        // checksum file next to the logs is not input.
        let text = path.to_string_lossy().into_owned();
        if looks_like_log(&text) {
            listing.outside_layout.push(text);
        }
        return None;
    };
    let Some(location) = path.to_str().map(str::to_string) else {
        listing
            .outside_layout
            .push(path.to_string_lossy().into_owned());
        return None;
    };
    Some((log, location))
}

/// An event file, versioned by its modification time.
fn event_file(
    entry: &walkdir::DirEntry,
    log: LogPath,
    location: String,
) -> Result<InputFile, SourceError> {
    let meta = entry.metadata().map_err(|e| SourceError::Io {
        path: location.clone(),
        source: e.into(),
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = log.canonical_key();
    Ok(InputFile {
        location,
        object: key.clone(),
        key,
        size: meta.len(),
        version: format!("mtime:{mtime}"),
        log,
    })
}

/// Whether a file name looks like a CloudTrail log file (`.json` or `.json.gz`).
fn looks_like_log(path: &str) -> bool {
    path.ends_with(".json.gz") || path.ends_with(".json")
}
