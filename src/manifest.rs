//! The per-partition manifest, `_trailpack.json` (Athena skips names starting
//! with `_`). It records what the partition was built from and what it holds, and
//! decides whether a re-run has anything to do.

use serde::{Deserialize, Serialize};

use crate::partition::{InputRole, PartitionPlan};

/// File name of the manifest inside a partition folder.
pub const MANIFEST_NAME: &str = "_trailpack.json";

/// Bumped when the output of the same input would change for a reason the schema
/// fingerprint does not capture (e.g. a change in value conversion).
pub const OUTPUT_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInput {
    pub key: String,
    pub size: u64,
    /// Modification time (local) or ETag (S3).
    pub version: String,
    pub role: InputRole,
    /// Why the file was left out (`--skip-bad-files`), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOutput {
    pub file: String,
    pub bytes: u64,
    pub rows: u64,
    pub row_groups: u64,
}

/// Settings that change the output of the same input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSettings {
    pub output_format: u32,
    pub schema: String,
    pub late_window_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub trailpack_version: String,
    pub built_at: String,
    pub account: String,
    pub region: String,
    pub day: String,
    pub settings: BuildSettings,
    pub inputs: Vec<ManifestInput>,
    pub records: RecordCounts,
    pub outputs: Vec<ManifestOutput>,
}

impl Manifest {
    /// Whether this manifest describes a build of exactly `plan`'s inputs with
    /// `settings`: then the partition is current and is not rebuilt.
    pub fn is_current(&self, plan: &PartitionPlan, settings: &BuildSettings) -> bool {
        if &self.settings != settings || self.inputs.len() != plan.inputs.len() {
            return false;
        }
        let mut have: Vec<(&str, u64, &str, InputRole)> = self
            .inputs
            .iter()
            .map(|i| (i.key.as_str(), i.size, i.version.as_str(), i.role))
            .collect();
        let mut want: Vec<(&str, u64, &str, InputRole)> = plan
            .inputs
            .iter()
            .map(|i| {
                (
                    i.file.key.as_str(),
                    i.file.size,
                    i.file.version.as_str(),
                    i.role,
                )
            })
            .collect();
        have.sort_unstable();
        want.sort_unstable();
        have == want
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
