//! `--verify-digests`: a partition's inputs checked against CloudTrail's digest
//! files while it is built.
//!
//! Before decoding, the digests of the partition's trail folders are read for the
//! day before (the chain's anchor), the day itself and the day after (its first
//! digests list the day's last hour, and the next day's early files the partition
//! also reads), with their signatures and the public keys. Decoding hashes each
//! input's decompressed content; an input a digest lists with another hash is
//! `modified`, and `--on-tampered` says whether its rows are kept, left out or
//! fail the partition. After the build, [`integrity::check`] gives every input
//! (and every carried-over input whose hash the previous version recorded) its
//! status; the digests' problems are those of the partition's own day folder.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use time::Date;

use crate::integrity::{self, object_identity, DigestFile, DigestProblem, LogFile, LogStatus};
use crate::layout::LogPath;
use crate::manifest::{ManifestInput, ManifestIntegrity};
use crate::partition::{InputRole, PartitionPlan};
use crate::source::{Source, TrailFolder};
use crate::verify::KeySource;

/// What to do with an input a digest lists with another hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTampered {
    /// Convert it (the data is what it is); report it and exit 1.
    #[default]
    Keep,
    /// Leave its rows out (the manifest names it as skipped); report it and exit 1.
    Skip,
    /// Fail the partition: its previous version stays.
    Fail,
}

/// Settings of `--verify-digests`.
#[derive(Debug, Default)]
pub struct DigestCheck {
    pub keys: KeySource,
    pub on_tampered: OnTampered,
}

/// Digest days of trail folders the run has read, parsed: the next day's partition
/// needs two of the three days this one read. Bounded: the oldest go first.
#[derive(Default)]
pub(super) struct DigestCache {
    days: std::sync::Mutex<std::collections::VecDeque<(DayKey, Arc<DigestDay>)>>,
}

/// A trail folder's day: account, region, folder location, day.
type DayKey = (String, String, String, Date);

/// The digests of one trail folder's day, and those that could not be read.
#[derive(Default)]
struct DigestDay {
    digests: Vec<DigestFile>,
    unreadable: Vec<DigestProblem>,
}

/// Folder-days kept: enough for the partitions built at once and their neighbours.
const CACHED_DAYS: usize = 256;

impl DigestCache {
    /// The digests of these folder-days: from the cache, the others read at once.
    fn get(
        &self,
        source: &dyn Source,
        wanted: &[(&TrailFolder, Date)],
        max_file_bytes: usize,
    ) -> Result<(Vec<DigestFile>, Vec<DigestProblem>), String> {
        let key =
            |f: &TrailFolder, d: Date| (f.account.clone(), f.region.clone(), f.location.clone(), d);
        let cached: Vec<Option<Arc<DigestDay>>> = {
            let days = self.days.lock().unwrap_or_else(|p| p.into_inner());
            wanted
                .iter()
                .map(|(f, d)| {
                    let k = key(f, *d);
                    days.iter().find(|(dk, _)| *dk == k).map(|(_, v)| v.clone())
                })
                .collect()
        };
        let missing: Vec<(&TrailFolder, Date)> = wanted
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(w, _)| *w)
            .collect();
        let fresh: Vec<DigestDay> =
            crate::verify::read_digest_days(source, &missing, max_file_bytes)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(digests, unreadable)| DigestDay {
                    digests,
                    unreadable,
                })
                .collect();
        let fresh: Vec<Arc<DigestDay>> = fresh.into_iter().map(Arc::new).collect();
        {
            let mut days = self.days.lock().unwrap_or_else(|p| p.into_inner());
            for ((f, d), v) in missing.iter().zip(&fresh) {
                days.push_back((key(f, *d), v.clone()));
            }
            while days.len() > CACHED_DAYS {
                days.pop_front();
            }
        }
        let mut fresh = fresh.into_iter();
        let (mut digests, mut problems) = (Vec::new(), Vec::new());
        for c in cached {
            let Some(day) = c.or_else(|| fresh.next()) else {
                continue;
            };
            digests.extend(day.digests.iter().cloned());
            problems.extend(day.unreadable.iter().cloned());
        }
        Ok((digests, problems))
    }
}

/// The digests around one partition.
pub(super) struct PartitionDigests {
    day: Date,
    digests: Vec<DigestFile>,
    unreadable: Vec<DigestProblem>,
    keys: Option<integrity::PublicKeys>,
    /// Hashes each listed log file has in the digests, by identity (`AWSLogs/…`).
    listed: HashMap<String, Vec<String>>,
}

/// The trail folder of an input: its location less `YYYY/MM/DD/<file>`.
fn folder_of(plan: &PartitionPlan, location: &str) -> TrailFolder {
    let mut cut = location;
    for _ in 0..4 {
        cut = cut.rsplit_once('/').map_or("", |(a, _)| a);
    }
    TrailFolder {
        account: plan.key.account.clone(),
        region: plan.key.region.clone(),
        location: format!("{cut}/"),
    }
}

impl PartitionDigests {
    pub(super) fn load(
        source: &dyn Source,
        cache: &DigestCache,
        plan: &PartitionPlan,
        check: &DigestCheck,
        max_file_bytes: usize,
    ) -> Result<Self, String> {
        let mut folders: Vec<TrailFolder> = plan
            .inputs
            .iter()
            .map(|i| folder_of(plan, &i.file.location))
            .collect();
        folders.sort();
        folders.dedup();
        let day = plan.key.day;
        let days = [day.previous_day(), Some(day), day.next_day()];
        let wanted: Vec<(&TrailFolder, Date)> = folders
            .iter()
            .flat_map(|f| days.iter().flatten().map(move |d| (f, *d)))
            .collect();
        let (mut digests, mut unreadable) = cache.get(source, &wanted, max_file_bytes)?;
        // A local source has one digest folder per account/region, whatever the
        // trail folders: the same digest may come for two of them.
        digests.sort_by(|a, b| a.location.cmp(&b.location));
        digests.dedup_by(|a, b| a.location == b.location);
        unreadable.sort_by(|a, b| a.digest.cmp(&b.digest));
        unreadable.dedup_by(|a, b| a.digest == b.digest);
        let keys = check.keys.for_digests(&digests)?;
        let mut listed: HashMap<String, Vec<String>> = HashMap::new();
        for d in &digests {
            for l in &d.digest.log_files {
                listed
                    .entry(object_identity(&l.s3_object).to_string())
                    .or_default()
                    .push(l.hash_value.to_ascii_lowercase());
            }
        }
        Ok(PartitionDigests {
            day,
            digests,
            unreadable,
            keys,
            listed,
        })
    }

    /// Whether a digest lists `object` with another hash than `sha256` (hex).
    pub(super) fn modified(&self, object: &str, sha256: &str) -> bool {
        self.listed
            .get(object_identity(object))
            .is_some_and(|hashes| !hashes.iter().any(|h| h.eq_ignore_ascii_case(sha256)))
    }

    /// Give each input (and each carried input with a recorded hash) its status;
    /// the counts and problems for the manifest.
    pub(super) fn finish(
        &self,
        inputs: &mut [ManifestInput],
        carried: &mut [ManifestInput],
    ) -> ManifestIntegrity {
        let day = self.day;
        let in_day = |id: &str| LogPath::parse(id).is_some_and(|p| p.folder_day == day);
        let scope = integrity::Scope {
            log: &in_day,
            digest: &in_day,
        };
        // An input read only for the previous day's late records that had none is
        // not hashed (its own day checks it); a carried input is checked when its
        // hash was recorded.
        let checked_inputs: Vec<&mut ManifestInput> = inputs
            .iter_mut()
            .filter(|i| i.sha256.is_some() || i.skipped.is_some() || i.role == InputRole::Own)
            .chain(carried.iter_mut().filter(|c| c.sha256.is_some()))
            .collect();
        let logs: Vec<LogFile> = checked_inputs
            .iter()
            .map(|i| LogFile {
                location: i.key.clone(),
                // A file that did not decode has no hash: it matches no digest.
                sha256: i.sha256.clone().unwrap_or_default(),
            })
            .collect();
        let checked = integrity::check(&self.digests, &logs, self.keys.as_ref(), &scope);
        let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
        for (input, status) in checked_inputs.into_iter().zip(checked.logs) {
            input.integrity = Some(status);
            *statuses.entry(status.name().to_string()).or_default() += 1;
        }
        let mut problems: Vec<DigestProblem> = self
            .unreadable
            .iter()
            .filter(|p| in_day(&p.digest))
            .cloned()
            .collect();
        problems.extend(checked.problems);
        ManifestIntegrity {
            digests: self.digests.iter().filter(|d| in_day(&d.location)).count(),
            signatures_checked: checked.signatures_checked,
            statuses,
            problems,
        }
    }
}

/// How long after the end of a day its last digests may still be delivered: the
/// digest of an hour comes within about an hour, and the partition reads the next
/// day's files up to the late window.
const DIGEST_DELAY: time::Duration = time::Duration::hours(2);

/// Whether a version built with validation has inputs no digest listed yet, and
/// was built before the digests of its last hours (and of the next day's early
/// files it read) were due: then it is built again, and its statuses completed.
/// Later, `not-covered` is final (validation was off, or the file was added).
pub fn awaiting_digests(
    m: &crate::manifest::Manifest,
    day: Date,
    late_window: time::Duration,
) -> bool {
    let Some(integrity) = &m.integrity else {
        return false;
    };
    if integrity
        .statuses
        .get(LogStatus::NotCovered.name())
        .is_none_or(|n| *n == 0)
    {
        return false;
    }
    let Some(next) = day.next_day() else {
        return false;
    };
    let due = next.midnight().assume_utc() + late_window + DIGEST_DELAY;
    time::OffsetDateTime::parse(&m.built_at, &time::format_description::well_known::Rfc3339)
        .is_ok_and(|built| built < due)
}

/// The run-level view of one partition's integrity: statuses of its own inputs
/// (each file is its own day's input once), the modified files, the problems.
pub fn own_statuses(inputs: &[ManifestInput]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for i in inputs.iter().filter(|i| i.role == InputRole::Own) {
        if let Some(s) = i.integrity {
            *out.entry(s.name().to_string()).or_default() += 1;
        }
    }
    out
}

/// The inputs a digest lists with another hash.
pub fn modified_files(inputs: &[ManifestInput]) -> Vec<String> {
    inputs
        .iter()
        .filter(|i| i.integrity == Some(LogStatus::Modified))
        .map(|i| i.key.clone())
        .collect()
}
