//! `trailpack verify` over a local copy of a delivery: every log file in range
//! checked against the digest files beside it (`integrity::check`).
//!
//! Files are read and hashed in parallel (rayon); a log file's hash is the SHA-256
//! of its uncompressed content, as digests list it. A local copy carries no S3
//! metadata, so no digest signature can be checked: files are at best
//! `hash-chained`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use time::Date;

use crate::integrity::{self, DigestFile, DigestProblem, LogFile, LogStatus, ProblemKind};
use crate::layout::{FileKind, LogPath};

/// Which files to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyFilter {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl VerifyFilter {
    fn place(&self, p: &LogPath) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&p.account))
            && (self.regions.is_empty() || self.regions.contains(&p.region))
    }

    /// A log file of the range.
    fn log(&self, p: &LogPath) -> bool {
        self.place(p)
            && self.from.is_none_or(|f| p.folder_day >= f)
            && self.to.is_none_or(|t| p.folder_day <= t)
    }

    /// A digest that may list files of the range: of its days or the next (a
    /// digest covers the hour before its end, and files delivered late).
    fn digest(&self, p: &LogPath) -> bool {
        self.place(p)
            && self.from.is_none_or(|f| p.folder_day >= f)
            && self
                .to
                .is_none_or(|t| p.folder_day <= t.next_day().unwrap_or(t))
    }

    /// A digest read for the chain only: the day before the range holds the
    /// digest the range's first one links to.
    fn anchor(&self, p: &LogPath) -> bool {
        self.place(p)
            && self
                .from
                .is_some_and(|f| f.previous_day() == Some(p.folder_day))
    }
}

/// Counts by status for one account/region/day.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    pub account: String,
    pub region: String,
    pub day: String,
    pub statuses: BTreeMap<&'static str, u64>,
}

/// A log file that is not `valid`.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub status: LogStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub digests: usize,
    pub log_files: usize,
    pub statuses: BTreeMap<&'static str, u64>,
    pub days: Vec<DayReport>,
    /// Every log file that is not `valid`, by path.
    pub files: Vec<FileReport>,
    pub problems: Vec<DigestProblem>,
}

impl VerifyReport {
    /// Whether everything in range is proven: every file `valid` (or
    /// `hash-chained`, when unsigned copies are accepted) and no digest problem.
    pub fn proven(&self, allow_unsigned: bool) -> bool {
        self.problems.is_empty()
            && self.files.iter().all(|f| {
                f.status == LogStatus::Valid
                    || (allow_unsigned && f.status == LogStatus::HashChained)
            })
    }
}

/// Check the delivery below `root`.
pub fn local(
    root: &Path,
    filter: &VerifyFilter,
    max_file_bytes: usize,
) -> std::io::Result<VerifyReport> {
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    let (digest_paths, log_paths): (Vec<_>, Vec<_>) = files
        .into_iter()
        .filter_map(|(path, rel)| {
            let p = LogPath::parse(&rel)?;
            match p.kind {
                FileKind::Digest if filter.digest(&p) || filter.anchor(&p) => Some((path, rel, p)),
                FileKind::Events if filter.log(&p) => Some((path, rel, p)),
                _ => None,
            }
        })
        .partition(|(_, _, p)| p.kind == FileKind::Digest);
    let read: Vec<Result<DigestFile, DigestProblem>> = digest_paths
        .par_iter()
        .map(|(path, rel, _)| read_digest(path, rel, max_file_bytes))
        .collect();
    let mut digests = Vec::new();
    let mut unreadable = Vec::new();
    for r in read {
        match r {
            Ok(d) => digests.push(d),
            Err(p) => unreadable.push(p),
        }
    }
    let logs: Vec<LogFile> = log_paths
        .par_iter()
        .map(|(path, rel, _)| read_log(path, rel, max_file_bytes))
        .collect::<std::io::Result<_>>()?;
    let scope = integrity::Scope {
        log: &|id| LogPath::parse(id).is_some_and(|p| filter.log(&p)),
        digest: &|d| LogPath::parse(d).is_some_and(|p| filter.digest(&p)),
    };
    let checked = integrity::check(&digests, &logs, None, &scope);
    let anchors = digest_paths
        .iter()
        .filter(|(_, _, p)| !filter.digest(p))
        .count();
    let mut report = VerifyReport {
        digests: digests.len() + unreadable.len() - anchors,
        log_files: logs.len(),
        statuses: BTreeMap::new(),
        days: Vec::new(),
        files: Vec::new(),
        problems: unreadable
            .into_iter()
            .filter(|p| (scope.digest)(&p.digest))
            .collect(),
    };
    report.problems.extend(checked.problems);
    let mut days: BTreeMap<(String, String, Date), BTreeMap<&'static str, u64>> = BTreeMap::new();
    for ((_, rel, p), status) in log_paths.iter().zip(checked.logs) {
        *report.statuses.entry(status.name()).or_default() += 1;
        *days
            .entry((p.account.clone(), p.region.clone(), p.folder_day))
            .or_default()
            .entry(status.name())
            .or_default() += 1;
        if status != LogStatus::Valid {
            report.files.push(FileReport {
                file: rel.clone(),
                status,
            });
        }
    }
    report.days = days
        .into_iter()
        .map(|((account, region, day), statuses)| DayReport {
            account,
            region,
            day: day.to_string(),
            statuses,
        })
        .collect();
    report.files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(report)
}

/// Every file below `dir`, with its path relative to `root` (`/`-separated).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((path, rel.join("/")));
        }
    }
    Ok(())
}

fn read_digest(path: &Path, rel: &str, max: usize) -> Result<DigestFile, DigestProblem> {
    let unreadable = |detail: String| DigestProblem {
        kind: ProblemKind::Unreadable,
        digest: rel.to_string(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let mut buf = Vec::new();
    crate::decode::with_content(&bytes, max, &mut buf, |c| DigestFile::parse(rel, c, None))
        .map_err(|e| unreadable(e.to_string()))?
        .map_err(|e| unreadable(e.to_string()))
}

/// A log file and the SHA-256 of its uncompressed content (of its bytes when they
/// do not inflate: such a file matches no digest).
fn read_log(path: &Path, rel: &str, max: usize) -> std::io::Result<LogFile> {
    let bytes = std::fs::read(path)?;
    let mut buf = Vec::new();
    let sha256 = crate::decode::with_content(&bytes, max, &mut buf, integrity::sha256_hex)
        .unwrap_or_else(|_| integrity::sha256_hex(&bytes));
    Ok(LogFile {
        location: rel.to_string(),
        sha256,
    })
}
