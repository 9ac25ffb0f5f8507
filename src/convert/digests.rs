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
        let (digests, unreadable) = crate::verify::read_digests(source, &wanted, max_file_bytes)
            .map_err(|e| e.to_string())?;
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
            signatures_checked: if self.keys.is_some() {
                self.digests
                    .iter()
                    .filter(|d| in_day(&d.location) && d.signature.is_some())
                    .count()
            } else {
                0
            },
            statuses,
            problems,
        }
    }
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
