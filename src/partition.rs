//! Partitions (`account/region/day`) and the day rule that decides which input
//! records land in which partition.
//!
//! CloudTrail files a record under the folder of the time its file was delivered,
//! so events from the last minutes of day D arrive in day D+1's folder. The rule:
//! a record found in folder F whose eventTime's UTC date is F-1 goes to partition
//! F-1, provided its file's name time is within the late window (default 2 h) after
//! midnight of F. Every other record stays in partition F, whatever its eventTime
//! says. So building partition D reads folder D (minus records re-routed to D-1)
//! plus the early files of folder D+1 (only their records of day D). No record is
//! dropped or placed twice.

use std::collections::BTreeMap;
use std::fmt;

use time::{Date, Duration};

use crate::decode::timestamp::epoch_day;
use crate::decode::RowFilter;
use crate::layout::day_string;
use crate::source::InputFile;

/// The key of a partition of the curated table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub account: String,
    pub region: String,
    pub day: Date,
}

impl PartitionKey {
    /// `account=…/region=…/day=…`, the partition's folder below the output root.
    pub fn rel_path(&self) -> String {
        format!(
            "account={}/region={}/day={}",
            self.account,
            self.region,
            day_string(self.day)
        )
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rel_path())
    }
}

/// Why a file is an input of a partition.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum InputRole {
    /// A file of the partition's own day folder.
    Own,
    /// An early file of the next day's folder, read for its late records.
    Late,
}

/// An input of a partition and which of its records the partition takes.
#[derive(Debug, Clone)]
pub struct PlannedInput {
    pub file: InputFile,
    pub role: InputRole,
    pub filter: RowFilter,
}

/// A partition to build and its inputs, in delivery order.
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    pub key: PartitionKey,
    pub inputs: Vec<PlannedInput>,
}

impl PartitionPlan {
    /// The gzipped bytes of its inputs, as listed.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|i| i.file.size).sum()
    }
}

/// Whether a file of folder F was delivered within `late_window` after midnight of F.
pub fn within_late_window(file: &InputFile, late_window: Duration) -> bool {
    match file.log.name_time {
        Some(t) => {
            let since_midnight = t - file.log.folder_day.midnight();
            since_midnight >= Duration::ZERO && since_midnight <= late_window
        }
        None => false,
    }
}

/// Group input files into partitions by the day rule, keeping the partitions whose
/// day is within `[from, to]` (inclusive; `None` is open).
pub fn plan(
    files: &[InputFile],
    late_window: Duration,
    from: Option<Date>,
    to: Option<Date>,
) -> Vec<PartitionPlan> {
    let wanted = |d: Date| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t);
    let mut parts: BTreeMap<PartitionKey, Vec<PlannedInput>> = BTreeMap::new();
    for f in files {
        let folder = f.log.folder_day;
        let early = within_late_window(f, late_window);
        let prev = folder.previous_day();
        if wanted(folder) {
            let filter = match (early, prev) {
                (true, Some(p)) => RowFilter::ExceptDay(epoch_day(p)),
                _ => RowFilter::All,
            };
            parts
                .entry(PartitionKey {
                    account: f.log.account.clone(),
                    region: f.log.region.clone(),
                    day: folder,
                })
                .or_default()
                .push(PlannedInput {
                    file: f.clone(),
                    role: InputRole::Own,
                    filter,
                });
        }
        if let (true, Some(p)) = (early, prev) {
            if wanted(p) {
                parts
                    .entry(PartitionKey {
                        account: f.log.account.clone(),
                        region: f.log.region.clone(),
                        day: p,
                    })
                    .or_default()
                    .push(PlannedInput {
                        file: f.clone(),
                        role: InputRole::Late,
                        filter: RowFilter::OnlyDay(epoch_day(p)),
                    });
            }
        }
    }
    parts
        .into_iter()
        .map(|(key, mut inputs)| {
            // Delivery order: by the file's name time, then key. Deterministic.
            inputs.sort_by(|a, b| {
                (a.file.log.name_time, &a.file.key).cmp(&(b.file.log.name_time, &b.file.key))
            });
            PartitionPlan { key, inputs }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::LogPath;
    use time::macros::date;

    fn file(day: &str, hhmm: &str) -> InputFile {
        let d = day.replace('-', "");
        let folder = day.replace('-', "/");
        let key = format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/{folder}/111122223333_CloudTrail_us-east-1_{d}T{hhmm}Z_x.json.gz"
        );
        InputFile {
            location: key.clone(),
            object: key.clone(),
            log: LogPath::parse(&key).unwrap(),
            key,
            size: 1,
            version: "1".into(),
        }
    }

    #[test]
    fn late_files_feed_the_previous_day() {
        let files = vec![
            file("2024-01-01", "2355"),
            file("2024-01-02", "0005"),
            file("2024-01-02", "0300"),
        ];
        let plans = plan(&files, Duration::hours(2), None, None);
        assert_eq!(plans.len(), 2);
        let d1 = plans
            .iter()
            .find(|p| p.key.day == date!(2024 - 01 - 01))
            .unwrap();
        assert_eq!(d1.inputs.len(), 2);
        assert_eq!(d1.inputs[0].role, InputRole::Own);
        assert_eq!(d1.inputs[1].role, InputRole::Late);
        assert_eq!(
            d1.inputs[1].filter,
            RowFilter::OnlyDay(epoch_day(date!(2024 - 01 - 01)))
        );
        let d2 = plans
            .iter()
            .find(|p| p.key.day == date!(2024 - 01 - 02))
            .unwrap();
        assert_eq!(d2.inputs.len(), 2);
        assert_eq!(
            d2.inputs[0].filter,
            RowFilter::ExceptDay(epoch_day(date!(2024 - 01 - 01)))
        );
        // Outside the window: everything stays.
        assert_eq!(d2.inputs[1].filter, RowFilter::All);
        // Day filter: building 01-01 alone still reads the early file of 01-02.
        let only = plan(
            &files,
            Duration::hours(2),
            Some(date!(2024 - 01 - 01)),
            Some(date!(2024 - 01 - 01)),
        );
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].inputs.len(), 2);
    }

    #[test]
    fn window_edges() {
        let w = Duration::hours(2);
        assert!(within_late_window(&file("2024-01-02", "0000"), w));
        assert!(within_late_window(&file("2024-01-02", "0200"), w));
        assert!(!within_late_window(&file("2024-01-02", "0201"), w));
        assert!(!within_late_window(
            &file("2024-01-02", "0201"),
            Duration::ZERO
        ));
    }
}
