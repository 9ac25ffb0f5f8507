//! Log files checked against CloudTrail's digest files (`integrity::check`), over
//! any source: `trailpack verify`, and the digest side of `--verify-digests`.
//!
//! The day folders in range are listed, with the digest folders beside them from
//! the day before (whose last digest anchors the chain) to the day after (whose
//! first digests list the last hour's files). Digests are read with their
//! signatures (S3 metadata); log files are read and hashed in parallel (rayon),
//! downloads running ahead of hashing. A log file's hash is the SHA-256 of its
//! uncompressed content, as digests list it.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::Serialize;
use time::Date;

use crate::integrity::{
    self, DigestFile, DigestProblem, IntegrityError, LogFile, LogStatus, ProblemKind, PublicKeys,
};
use crate::layout::LogPath;
use crate::partition::PartitionKey;
use crate::progress::Progress;
use crate::sink::Sink;
use crate::source::{
    span_days, DigestObject, InputFile, ListFilter, Source, SourceError, TrailFolder,
};

/// Files read and hashed at once (downloads of the next window run meanwhile).
const WINDOW: usize = 256;

/// Asks CloudTrail for the keys of these regions and time range (Unix seconds).
pub type AskKeys = Box<dyn Fn(&[String], i64, i64) -> Result<PublicKeys, String> + Send + Sync>;

/// Where the public keys come from: given (`--public-keys`), asked of CloudTrail
/// (ListPublicKeys) for the fingerprints not seen yet, or nowhere (signatures are
/// not checked: a local copy has none).
#[derive(Default)]
pub struct KeySource {
    given: Option<PublicKeys>,
    ask: Option<AskKeys>,
    asked: std::sync::Mutex<PublicKeys>,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("given", &self.given.is_some())
            .field("ask", &self.ask.is_some())
            .finish()
    }
}

impl KeySource {
    pub fn given(keys: PublicKeys) -> Self {
        KeySource {
            given: Some(keys),
            ..Default::default()
        }
    }

    pub fn ask(ask: AskKeys) -> Self {
        KeySource {
            ask: Some(ask),
            ..Default::default()
        }
    }

    /// The keys for these digests (`None`: no signature can be checked). Keys
    /// asked of CloudTrail are kept for the next digests.
    pub fn for_digests(&self, digests: &[DigestFile]) -> Result<Option<PublicKeys>, String> {
        if let Some(k) = &self.given {
            return Ok(Some(k.clone()));
        }
        let Some(ask) = &self.ask else {
            return Ok(None);
        };
        let signed: Vec<&DigestFile> = digests.iter().filter(|d| d.signature.is_some()).collect();
        if signed.is_empty() {
            return Ok(None);
        }
        let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        let missing: Vec<&&DigestFile> = signed
            .iter()
            .filter(|d| asked.get(&d.digest.digest_public_key_fingerprint).is_none())
            .collect();
        if !missing.is_empty() {
            let mut regions: Vec<String> = missing
                .iter()
                .filter_map(|d| LogPath::parse(&d.location).map(|p| p.region))
                .collect();
            regions.sort();
            regions.dedup();
            let times = missing.iter().flat_map(|d| {
                [&d.digest.digest_start_time, &d.digest.digest_end_time]
                    .into_iter()
                    .filter_map(|t| unix_seconds(t))
            });
            let (start, end) = times.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
            asked.extend(ask(&regions, start.min(end), end.max(start))?);
        }
        Ok(Some(asked.clone()))
    }
}

fn unix_seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
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
    pub input: String,
    pub digests: usize,
    pub log_files: usize,
    /// Digests with a signature checked against a public key.
    pub signatures_checked: usize,
    /// Log files whose hash was taken from a curated partition's manifest
    /// (`--hashes-from`) instead of downloading and hashing them.
    pub hashes_reused: usize,
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

/// Errors that stop a verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Keys(String),
    #[error("no day range: give --day or --from/--to (no log file was found to bound it)")]
    NoDays,
    #[error("reading the curated output's manifests: {0}")]
    Curated(#[from] crate::sink::SinkError),
}

/// Check the files of `source` that `filter` selects. With `curated`, the hash of
/// a file a partition's manifest records (same object, size and version) is taken
/// from there: conversion with `--verify-digests` already hashed it.
pub fn run(
    source: &dyn Source,
    filter: &ListFilter,
    keys: &KeySource,
    max_file_bytes: usize,
    curated: Option<&dyn Sink>,
    progress: &Progress,
) -> Result<VerifyReport, VerifyError> {
    let folders = source.discover(filter)?.folders;
    let spans = day_ranges(source, &folders, filter)?;
    let log_days = span_days(&folders, &spans);
    // The digests of each folder's days, the day before (its last digest anchors
    // the chain) and the day after (its first digests list the last hour's files).
    let widened: Vec<Option<Span>> = spans
        .iter()
        .map(|s| s.map(|(a, b)| (a.previous_day().unwrap_or(a), b.next_day().unwrap_or(b))))
        .collect();
    let digest_days = span_days(&folders, &widened);
    let files = source.list_days(&log_days)?.files;
    let (digests, unreadable) = read_digests(source, &digest_days, max_file_bytes)?;
    let keys = keys.for_digests(&digests).map_err(VerifyError::Keys)?;
    let known = match curated {
        Some(sink) => recorded_hashes(sink, &log_days)?,
        None => HashMap::new(),
    };
    progress.start(0);
    progress.planned(files.len() as u64, files.iter().map(|f| f.size).sum());
    let (logs, hashes_reused) = hash_logs(source, &files, max_file_bytes, &known, progress)?;
    progress.finish();
    let days = CheckedDays::new(&folders, &spans);
    let scope = integrity::Scope {
        log: &|id| days.log(id),
        digest: &|d| days.digest(d),
    };
    let checked = integrity::check(&digests, &logs, keys.as_ref(), &scope);
    let mut report = VerifyReport {
        input: source.describe(),
        digests: digests
            .iter()
            .filter(|d| (scope.digest)(&d.location))
            .count(),
        log_files: logs.len(),
        hashes_reused,
        signatures_checked: checked.signatures_checked,
        statuses: BTreeMap::new(),
        days: Vec::new(),
        files: Vec::new(),
        problems: unreadable
            .into_iter()
            .filter(|p| (scope.digest)(&p.digest))
            .collect(),
    };
    report.problems.extend(checked.problems);
    tally(&mut report, &files, &checked.logs);
    Ok(report)
}

/// First and last day, inclusive.
type Span = (Date, Date);

/// What is checked: each account/region's own days (and, for digests, the day
/// after); the day before only anchors the chain.
struct CheckedDays<'f>(HashMap<(&'f str, &'f str), Span>);

impl<'f> CheckedDays<'f> {
    fn new(folders: &'f [TrailFolder], spans: &[Option<Span>]) -> Self {
        let mut ranges: HashMap<(&str, &str), Span> = HashMap::new();
        for (f, span) in folders.iter().zip(spans) {
            if let Some((a, b)) = *span {
                let r = ranges.entry((&f.account, &f.region)).or_insert((a, b));
                *r = (r.0.min(a), r.1.max(b));
            }
        }
        CheckedDays(ranges)
    }

    fn range_of(&self, p: &LogPath) -> Option<Span> {
        self.0
            .get(&(p.account.as_str(), p.region.as_str()))
            .copied()
    }

    /// Whether the log file `id` lies in a checked day.
    fn log(&self, id: &str) -> bool {
        self.within(id, |last| last)
    }

    /// Whether the digest file `d` lies in a checked day or the day after.
    fn digest(&self, d: &str) -> bool {
        self.within(d, |last| last.next_day().unwrap_or(last))
    }

    /// Whether `path`'s day folder lies between its account/region's first checked
    /// day and `end` of its last.
    fn within(&self, path: &str, end: impl Fn(Date) -> Date) -> bool {
        LogPath::parse(path).is_some_and(|p| {
            self.range_of(&p)
                .is_some_and(|(a, b)| (a..=end(b)).contains(&p.folder_day))
        })
    }
}

/// The days to check: the filter's range for every folder when it is given
/// whole; otherwise each folder's own first and last day folder within it (so
/// an open range lists only days that hold logs, not every day of every folder).
fn day_ranges(
    source: &dyn Source,
    folders: &[TrailFolder],
    filter: &ListFilter,
) -> Result<Vec<Option<Span>>, VerifyError> {
    let spans = match (filter.from, filter.to) {
        (Some(f), Some(t)) => vec![Some((f, t)); folders.len()],
        _ => source.day_spans(folders, filter.from, filter.to)?,
    };
    if spans.iter().all(Option::is_none) && (filter.from.is_none() || filter.to.is_none()) {
        return Err(VerifyError::NoDays);
    }
    Ok(spans)
}

/// The digests of these day folders, parsed; those that cannot be read are
/// `unreadable` problems.
pub fn read_digests(
    source: &dyn Source,
    days: &[(&TrailFolder, Date)],
    max_file_bytes: usize,
) -> Result<(Vec<DigestFile>, Vec<DigestProblem>), SourceError> {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for (digests, problems) in read_digest_days(source, days, max_file_bytes)? {
        ok.extend(digests);
        bad.extend(problems);
    }
    Ok((ok, bad))
}

/// The digests of a day folder that parse, and the problems of those that do not.
pub type DigestsRead = (Vec<DigestFile>, Vec<DigestProblem>);

/// The digests of each of these day folders, parsed, in the order asked; those
/// that cannot be read are `unreadable` problems.
pub fn read_digest_days(
    source: &dyn Source,
    days: &[(&TrailFolder, Date)],
    max_file_bytes: usize,
) -> Result<Vec<DigestsRead>, SourceError> {
    Ok(source
        .read_digests(days)?
        .into_par_iter()
        .map(|objects| {
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for o in objects {
                match parse_digest(o, max_file_bytes) {
                    Ok(d) => ok.push(d),
                    Err(e) => bad.push(e),
                }
            }
            (ok, bad)
        })
        .collect())
}

fn parse_digest(o: DigestObject, max: usize) -> Result<DigestFile, DigestProblem> {
    let unreadable = |detail: String| DigestProblem {
        kind: ProblemKind::Unreadable,
        digest: o.object.clone(),
        detail,
    };
    let bytes = o.bytes.as_ref().map_err(|e| unreadable(e.clone()))?;
    let mut buf = Vec::new();
    crate::decode::with_content(bytes, max, &mut buf, |c| {
        DigestFile::parse(&o.object, c, o.signature.clone())
    })
    .map_err(|e| unreadable(e.to_string()))?
    // The problem names the digest file already: the detail is the reason alone.
    .map_err(|e| match e {
        IntegrityError::BadDigest { reason, .. } => {
            unreadable(format!("not a digest file: {reason}"))
        }
        other => unreadable(other.to_string()),
    })
}

/// A file's identity as a manifest records it: object, size, version.
type FileId = (String, u64, String);

/// The input hashes the curated partitions of these folders and days recorded.
fn recorded_hashes(
    sink: &dyn Sink,
    days: &[(&TrailFolder, Date)],
) -> Result<HashMap<FileId, String>, crate::sink::SinkError> {
    let mut keys: Vec<PartitionKey> = days
        .iter()
        .map(|(f, d)| PartitionKey {
            account: f.account.clone(),
            region: f.region.clone(),
            day: *d,
        })
        .collect();
    keys.sort();
    keys.dedup();
    let manifests: Vec<Option<crate::sink::Current>> = keys
        .par_iter()
        .map(|k| sink.current(k))
        .collect::<Result<_, _>>()?;
    let mut known = HashMap::new();
    for m in manifests.into_iter().flatten() {
        let m = m.manifest;
        for i in m.inputs.into_iter().chain(m.carried) {
            if let Some(sha) = i.sha256 {
                known.insert((i.key, i.size, i.version), sha);
            }
        }
    }
    Ok(known)
}

/// Every file hashed (in the order given), `WINDOW` at a time, the next window
/// downloading; a file whose hash `known` records is not read. Returns the hashes
/// and how many were known.
fn hash_logs(
    source: &dyn Source,
    files: &[InputFile],
    max: usize,
    known: &HashMap<FileId, String>,
    progress: &Progress,
) -> Result<(Vec<LogFile>, usize), SourceError> {
    let recorded = |f: &InputFile| known.get(&(f.object.clone(), f.size, f.version.clone()));
    let windows: Vec<&[InputFile]> = files.chunks(WINDOW).collect();
    let mut out = Vec::with_capacity(files.len());
    let mut reused = 0;
    let prefetch = |w: &[InputFile]| {
        let unknown: Vec<&InputFile> = w.iter().filter(|f| recorded(f).is_none()).collect();
        source.prefetch(&unknown);
    };
    if let Some(first) = windows.first() {
        prefetch(first);
    }
    for (i, window) in windows.iter().enumerate() {
        if let Some(next) = windows.get(i + 1) {
            prefetch(next);
        }
        let hashed: Vec<(LogFile, bool)> = window
            .par_iter()
            .map(|f| {
                let (sha256, was_known) = match recorded(f) {
                    Some(sha) => (sha.clone(), true),
                    None => (content_sha256(&source.read(f)?, max), false),
                };
                progress.file_done(f.size, 0, 0);
                let location = f.object.clone();
                Ok((LogFile { location, sha256 }, was_known))
            })
            .collect::<Result<_, SourceError>>()?;
        for (log, was_known) in hashed {
            reused += usize::from(was_known);
            out.push(log);
        }
    }
    Ok((out, reused))
}

/// The hex SHA-256 of a file's uncompressed content (of its bytes when they do
/// not inflate: such a file matches no digest).
pub fn content_sha256(bytes: &[u8], max: usize) -> String {
    let mut buf = Vec::new();
    crate::decode::with_content(bytes, max, &mut buf, integrity::sha256_hex)
        .unwrap_or_else(|_| integrity::sha256_hex(bytes))
}

/// Counts by status, overall and by account/region/day, and the files not valid.
fn tally(report: &mut VerifyReport, files: &[InputFile], statuses: &[LogStatus]) {
    let mut days: BTreeMap<(String, String, Date), BTreeMap<&'static str, u64>> = BTreeMap::new();
    for (f, &status) in files.iter().zip(statuses) {
        *report.statuses.entry(status.name()).or_default() += 1;
        *days
            .entry((
                f.log.account.clone(),
                f.log.region.clone(),
                f.log.folder_day,
            ))
            .or_default()
            .entry(status.name())
            .or_default() += 1;
        if status != LogStatus::Valid {
            report.files.push(FileReport {
                file: f.object.clone(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest that is not one is reported once by name, with the reason as the
    /// detail (the name is not repeated in it).
    #[test]
    fn an_unreadable_digest_names_its_file_once() {
        let key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/\
                   111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T010000Z.json.gz";
        let log = LogPath::parse(key).expect("a digest key");
        let object = DigestObject {
            object: key.to_string(),
            log,
            bytes: Ok(b"{\"awsAccountId\": \"111122223333\"}".to_vec()),
            signature: None,
        };
        let problem = match parse_digest(object, 1 << 20) {
            Err(p) => p,
            Ok(_) => panic!("parsed a digest without its fields"),
        };
        assert_eq!(problem.kind, ProblemKind::Unreadable);
        assert_eq!(problem.digest, key);
        assert!(
            problem
                .detail
                .starts_with("not a digest file: missing field"),
            "{}",
            problem.detail
        );
        assert!(!problem.detail.contains("AWSLogs/"), "{}", problem.detail);
    }
}
