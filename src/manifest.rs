//! The per-partition manifest, `_trailpack.json` (Athena skips names starting
//! with `_`): the single source of truth of a partition. It names the build whose
//! data files are current, what that build read, which rows it carried over from
//! inputs that are gone, and which older versions await deletion. A build publishes
//! by replacing the manifest conditionally (see `sink`), so it also decides whether a
//! re-run has anything to do.

use serde::{Deserialize, Serialize};

use crate::partition::{InputRole, PartitionPlan};
use crate::source::InputFile;

/// File name of the manifest inside a partition folder.
pub const MANIFEST_NAME: &str = "_trailpack.json";

/// Bumped when the output of the same input would change for a reason the schema
/// fingerprint does not capture (e.g. a change in value conversion).
/// 2: row provenance (`source_object`), carried rows, per-build data folders on S3.
pub const OUTPUT_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInput {
    /// The delivered object: `s3://bucket/key`, or the `AWSLogs/…` key of a local
    /// file. Rows read from it carry the same value in `source_object`.
    pub key: String,
    pub size: u64,
    /// Modification time (local) or ETag (S3).
    pub version: String,
    pub role: InputRole,
    /// Why the file was left out (`--skip-bad-files`, `--on-tampered skip`), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Hex SHA-256 of its decompressed content (`--verify-digests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What CloudTrail's digest files say of it (`--verify-digests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<crate::integrity::LogStatus>,
}

impl ManifestInput {
    fn identity(&self) -> (&str, u64, &str, InputRole) {
        (&self.key, self.size, &self.version, self.role)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    /// Records of the inputs that belong to this partition.
    pub read: u64,
    /// Rows written.
    pub written: u64,
    /// Identical records (same eventID and content) written once.
    pub deduplicated: u64,
    /// Records sharing an eventID with a different record (all kept).
    pub eventid_conflicts: u64,
    /// Records taken from the next day's early files (the day rule).
    pub rerouted_in: u64,
    /// Records of this day's folder left to the previous day's partition.
    pub rerouted_out: u64,
    /// Rows kept from the previous version because their input is no longer listed
    /// (expired raw logs, or another trail writing into the same output).
    #[serde(default)]
    pub carried: u64,
}

impl RecordCounts {
    pub fn add(&mut self, o: &RecordCounts) {
        self.read += o.read;
        self.written += o.written;
        self.deduplicated += o.deduplicated;
        self.eventid_conflicts += o.eventid_conflicts;
        self.rerouted_in += o.rerouted_in;
        self.rerouted_out += o.rerouted_out;
        self.carried += o.carried;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOutput {
    /// Path of the data file below the partition folder (e.g. `<build>/part-00000.parquet`).
    pub file: String,
    pub bytes: u64,
    pub rows: u64,
    pub row_groups: u64,
}

/// A version of the partition's data that is no longer current, kept for readers
/// that started before it was replaced, and deleted once `retired_at` is older than
/// the grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// Folder below the partition folder holding that version's data files.
    pub folder: String,
    /// Unix seconds.
    pub retired_at: i64,
}

/// Settings of a whole output that every partition must share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// The day rule's late window: D and D+1 must split files the same way.
    pub late_window_minutes: i64,
}

/// Settings that change the output of the same input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSettings {
    pub output_format: u32,
    pub schema: String,
    pub late_window_minutes: i64,
    /// Fingerprint of the detection rules evaluated at conversion (`--rules`), if
    /// any: other rules make the findings stale, so the partition is rebuilt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    /// Inputs checked against CloudTrail's digest files (`--verify-digests`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub digests: bool,
}

/// What CloudTrail's digest files say of a version's inputs (`--verify-digests`):
/// each input's status is in `inputs` (and `carried`); here are the counts and the
/// problems of the digests themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestIntegrity {
    /// Digest files of the partition's day folder read (those of the day before and
    /// after are read too, for the chain and the last hour).
    pub digests: usize,
    /// Digests whose signature was checked against CloudTrail's public key.
    pub signatures_checked: usize,
    /// Inputs by status (`valid`, `hash-chained`, `unproven`, `not-covered`, `modified`).
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// Problems of the digests: `deleted` log files, `chain-gap`, `chain-break`,
    /// `bad-signature`, `unknown-key`, `moved`, `unreadable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<crate::integrity::DigestProblem>,
}

/// The findings of a version (`--rules`): in `_findings/` below its data folder,
/// published and replaced with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFindings {
    /// Findings files (none when no rule matched).
    pub outputs: Vec<ManifestOutput>,
    /// Findings by rule level.
    pub levels: crate::detect::LevelCounts,
    /// Rules evaluated.
    pub rules: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub trailpack_version: String,
    /// Unique id of the build that wrote this version.
    #[serde(default)]
    pub build: String,
    pub built_at: String,
    pub account: String,
    pub region: String,
    pub day: String,
    pub settings: BuildSettings,
    /// What this build read.
    pub inputs: Vec<ManifestInput>,
    /// Inputs of earlier builds that are no longer listed; their rows were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<ManifestInput>,
    pub records: RecordCounts,
    pub outputs: Vec<ManifestOutput>,
    /// Older versions awaiting deletion (S3 with registered partitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<Retired>,
    /// What the detection rules found in this version's rows (`--rules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<ManifestFindings>,
    /// What CloudTrail's digest files say of its inputs (`--verify-digests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<ManifestIntegrity>,
}

impl Manifest {
    /// Whether this version already holds everything `plan` would build with
    /// `settings`: then the partition is current and is not rebuilt. Every planned
    /// input must be one the partition holds (read by the build or carried over,
    /// same size, version and role). Inputs of the partition that are no longer
    /// listed do not make it stale: their rows are kept (see `carried`).
    pub fn is_current(&self, plan: &PartitionPlan, settings: &BuildSettings) -> bool {
        &self.settings == settings && self.holds(plan.inputs.iter().map(|i| (&i.file, i.role)))
    }

    /// Whether this version holds each of `files` in its role (read by the build or
    /// carried over, same size and version).
    pub fn holds<'f>(&self, files: impl IntoIterator<Item = (&'f InputFile, InputRole)>) -> bool {
        let held: std::collections::HashSet<(&str, u64, &str, InputRole)> = self
            .inputs
            .iter()
            .chain(&self.carried)
            .map(ManifestInput::identity)
            .collect();
        files
            .into_iter()
            .all(|(f, role)| held.contains(&(f.object.as_str(), f.size, f.version.as_str(), role)))
    }

    /// Inputs of this version (read or carried) that `plan` does not list: their rows
    /// are carried over by a rebuild.
    pub fn vanished<'m>(&'m self, plan: &PartitionPlan) -> Vec<&'m ManifestInput> {
        let listed: std::collections::HashSet<&str> =
            plan.inputs.iter().map(|i| i.file.object.as_str()).collect();
        self.inputs
            .iter()
            .chain(&self.carried)
            .filter(|i| !listed.contains(i.key.as_str()))
            .collect()
    }

    /// Whether every row of this version names its source object (versions written
    /// before row provenance do not, and cannot be rebuilt without losing rows of
    /// vanished inputs).
    pub fn has_provenance(&self) -> bool {
        self.settings.output_format >= 2
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
