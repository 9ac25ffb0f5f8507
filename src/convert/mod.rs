//! The conversion pipeline, one stage a module:
//! - [`plan`]: list the input and group it into partitions (day rule, shards, and
//!   the previous days a run must also commit);
//! - [`build`]: decode, de-duplicate, sort and encode one partition into a staged
//!   version, with the rows of vanished inputs carried over ([`carry`], [`dedup`]);
//! - [`commit`]: publish it with the sink's conditional commit, register it in the
//!   catalog, and delete what no version needs any more.
//!
//! This module runs the stages over the partitions (a few at a time) and adds up
//! the reports.

mod build;
mod carry;
mod commit;
mod dedup;
pub mod digests;
mod plan;
mod spill;

pub use carry::to_schema;

/// The row groups of a data file trailpack wrote, one batch each, in `schema`'s
/// current form (as a rebuild reads them back to carry rows over): for tools and
/// benchmarks outside the pipeline. The error names the file.
pub fn data_file_row_groups(
    path: &std::path::Path,
    schema: &TableSchema,
) -> Result<Vec<arrow_array::RecordBatch>, String> {
    carry::read_row_groups(path, schema)
        .map_err(|e| e.to_string())?
        .map(|batch| batch.map_err(|e| e.to_string()))
        .collect()
}

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use time::{Date, Duration};

use crate::catalog::{Catalog, CatalogReport};
use crate::decode::{DecodeError, Decoder};
use crate::encode::{writer_properties, EncodeOptions};
use crate::manifest::{BuildSettings, RecordCounts, OUTPUT_FORMAT};
use crate::partition::{PartitionKey, PartitionPlan, PlannedInput};
use crate::progress::Progress;
use crate::schema::TableSchema;
use crate::sink::{Sink, SinkError};
use crate::source::{Source, SourceError};

/// What to convert and how.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// First and last partition day (inclusive); `None` is open.
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub late_window: Duration,
    pub force: bool,
    /// Rebuild partitions whose inputs are gone without their rows (shrink on
    /// purpose); by default their rows are carried over.
    pub drop_vanished: bool,
    pub dry_run: bool,
    pub skip_bad_files: bool,
    /// A partition's data is split into several files beyond this size.
    pub target_file_size: u64,
    /// Arrow memory of a row group before it is sorted and encoded.
    pub row_group_bytes: usize,
    /// Partitions built at the same time.
    pub parallel_partitions: usize,
    pub max_file_bytes: usize,
    pub encode: EncodeOptions,
    /// Build only the partitions of shard `(i, n)`: a stable hash of
    /// account/region/day modulo n equals i.
    pub shard: Option<(u64, u64)>,
    /// Build the newest days first (backfills: recent data is queryable soonest).
    pub newest_first: bool,
    /// Memory for a partition's de-duplication table; larger partitions de-duplicate
    /// on disk.
    pub dedup_memory: usize,
    /// A row group never gathers more Arrow memory than this from several inputs
    /// (string columns must stay under 2 GiB); a larger input is a row group alone.
    pub row_group_hard_limit: usize,
    /// Where temporary files go (default: the system's temporary folder).
    pub temp_dir: Option<std::path::PathBuf>,
    /// Detection rules evaluated on every written row (`--rules`); their findings
    /// are published with the partition.
    pub detector: Option<std::sync::Arc<crate::detect::Detector>>,
    /// Check every input against CloudTrail's digest files (`--verify-digests`).
    pub digests: Option<std::sync::Arc<digests::DigestCheck>>,
}

impl ConvertOptions {
    /// The folder for de-duplication spill files.
    pub fn spill_dir(&self) -> std::path::PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            accounts: Vec::new(),
            regions: Vec::new(),
            from: None,
            to: None,
            late_window: Duration::hours(2),
            force: false,
            drop_vanished: false,
            dry_run: false,
            skip_bad_files: false,
            target_file_size: 256 << 20,
            row_group_bytes: 32 << 20,
            parallel_partitions: 2,
            max_file_bytes: 1 << 30,
            encode: EncodeOptions::default(),
            shard: None,
            newest_first: false,
            dedup_memory: 32 << 20,
            row_group_hard_limit: 1 << 30,
            temp_dir: None,
            detector: None,
            digests: None,
        }
    }
}

/// A file that could not be decoded.
#[derive(Debug, Clone, Serialize)]
pub struct BadFile {
    pub path: String,
    pub kind: &'static str,
    pub reason: String,
}

/// Outcome of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Built and published.
    Written,
    /// Inputs unchanged since the last build: nothing done.
    Unchanged,
    /// `--dry-run`: would be built.
    WouldBuild,
    /// Only the next day's early files were inputs and none of their records
    /// belonged to this day: a manifest without data is published (so later runs
    /// know these files are accounted for).
    Empty,
    /// Another run published a current version while this one was building it.
    BuiltElsewhere,
    /// Left as it is: written by an older trailpack without row provenance, and some
    /// of its inputs are gone, so a rebuild would lose their rows (`--drop-vanished`
    /// rebuilds it from what remains).
    Kept,
    /// Not published; the previous version is untouched.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    #[serde(skip)]
    pub key: PartitionKey,
    pub partition: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub inputs: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records: RecordCounts,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_files: Vec<BadFile>,
    /// Where readers find the published version's data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The data is published but the catalog could not be updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<String>,
    /// Objects of older or abandoned versions deleted.
    #[serde(skip_serializing_if = "is_zero")]
    pub garbage_deleted: usize,
    /// Findings of the partition's current version by rule level (`--rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<crate::detect::LevelCounts>,
    /// What the digests say of the current version's inputs (`--verify-digests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<crate::manifest::ManifestIntegrity>,
    /// Inputs a digest lists with another hash.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modified_files: Vec<String>,
    /// Statuses of the partition's own-day inputs (run totals count each file once).
    #[serde(skip)]
    own_statuses: std::collections::BTreeMap<String, u64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Partitions removed by retention.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// Partitions with a day before this one are deleted.
    pub cutoff: String,
    pub dry_run: bool,
    pub deleted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub input: String,
    pub output: String,
    pub dry_run: bool,
    pub partitions: PartitionCounts,
    /// Partitions added to the run because a planned day's early files were new to
    /// them (the day rule couples D and D+1).
    pub added_for_day_rule: usize,
    pub files: FileCounts,
    pub records: RecordCounts,
    pub bytes_in: u64,
    pub bytes_in_uncompressed: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    /// The process's peak resident memory (Linux `VmHWM`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// What the catalog sync did (`--glue-database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<crate::catalog::CatalogReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<String>,
    /// A SIGTERM/SIGINT stopped the run early: partitions not reported were not
    /// started; those reported failed with "interrupted" kept their previous version.
    pub interrupted: bool,
    /// What `--retain-days` deleted (or would delete, with `--dry-run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionReport>,
    /// The rules evaluated and what they found (`--rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detections: Option<DetectionReport>,
    /// What CloudTrail's digest files say of the inputs (`--verify-digests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityReport>,
    pub partition_reports: Vec<PartitionReport>,
}

/// The digest validation of a run, over the partitions it covered (built, or
/// current from before with validation).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrityReport {
    /// Input files by status, each counted once (in its own day's partition).
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// Files a digest lists with another hash (changed after delivery).
    pub files_modified: Vec<String>,
    /// Files a digest lists that are gone.
    pub files_deleted: usize,
    /// Digests missing from the chain (`chain-gap`) or changed (`chain-break`).
    pub digest_chain_breaks: usize,
    /// Digests whose signature does not verify.
    pub bad_signatures: usize,
    /// Every digest problem, with the partition it was found for.
    pub problems: usize,
}

impl IntegrityReport {
    /// Evidence of tampering: a modified or deleted file, a broken chain, a bad
    /// signature.
    pub fn tampered(&self) -> bool {
        !self.files_modified.is_empty()
            || self.files_deleted > 0
            || self.digest_chain_breaks > 0
            || self.bad_signatures > 0
    }

    fn add(&mut self, r: &PartitionReport) {
        use crate::integrity::ProblemKind;
        let Some(i) = &r.integrity else { return };
        for (k, v) in &r.own_statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
        for f in &r.modified_files {
            if !self.files_modified.contains(f) {
                self.files_modified.push(f.clone());
            }
        }
        for p in &i.problems {
            match p.kind {
                ProblemKind::Deleted => self.files_deleted += 1,
                ProblemKind::ChainGap | ProblemKind::ChainBreak => self.digest_chain_breaks += 1,
                ProblemKind::BadSignature => self.bad_signatures += 1,
                _ => {}
            }
        }
        self.problems += i.problems.len();
    }
}

/// The rules of a run and their findings in the partitions it covered (built, or
/// current from before with the same rules).
#[derive(Debug, Clone, Serialize)]
pub struct DetectionReport {
    pub rules: crate::detect::RulesReport,
    pub findings: crate::detect::LevelCounts,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionCounts {
    pub planned: usize,
    pub written: usize,
    pub unchanged: usize,
    pub would_build: usize,
    pub empty: usize,
    pub built_elsewhere: usize,
    pub kept: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCounts {
    /// Event files matching the filters.
    pub listed: usize,
    /// Input reads (a file early in a day folder is read for two partitions).
    pub read: usize,
    /// Listing requests made (S3 ListObjectsV2 calls; 0 for a local folder).
    pub list_requests: u64,
    pub bad: usize,
    pub digest_skipped: u64,
    pub writability_check_skipped: u64,
    pub outside_layout_skipped: usize,
    /// Symbolic links in a local input, not followed.
    pub links_skipped: usize,
    /// Folders or files the listing could not read (reported, skipped).
    pub unreadable: usize,
}

impl RunReport {
    /// Count a partition's report into the run's, and keep it.
    fn add_partition(&mut self, r: PartitionReport) {
        let p = &mut self.partitions;
        match r.status {
            Status::Written => p.written += 1,
            Status::Unchanged => p.unchanged += 1,
            Status::WouldBuild => p.would_build += 1,
            Status::Empty => p.empty += 1,
            Status::BuiltElsewhere => p.built_elsewhere += 1,
            Status::Kept => p.kept += 1,
            Status::Failed => p.failed += 1,
        }
        if matches!(r.status, Status::Written | Status::Empty | Status::Failed) {
            self.files.read += r.inputs;
            self.records.add(&r.records);
        } else if matches!(
            r.status,
            Status::Unchanged | Status::BuiltElsewhere | Status::Kept
        ) {
            // Current from before: counted as what the partition holds.
            self.records.written += r.records.written;
        }
        self.files.bad += r.bad_files.len();
        if let (Some(d), Some(f)) = (self.detections.as_mut(), &r.findings) {
            d.findings.add(f);
        }
        if let Some(i) = self.integrity.as_mut() {
            i.add(&r);
        }
        self.bytes_in += r.bytes_in;
        self.bytes_out += r.bytes_out;
        self.partition_reports.push(r);
    }

    pub fn failed(&self) -> bool {
        self.interrupted
            || self.partitions.failed > 0
            || self.catalog_error.is_some()
            || self
                .partition_reports
                .iter()
                .any(|r| r.catalog_error.is_some())
            || self.retention.as_ref().is_some_and(|r| r.error.is_some())
    }

    /// Partitions current from before (or built by another run) with data: the
    /// catalog is checked for drift at the end of the run (written ones are
    /// registered as they are committed).
    pub fn unchanged_published(&self) -> Vec<crate::catalog::PartitionLocation> {
        self.partition_reports
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    Status::Unchanged | Status::BuiltElsewhere | Status::Kept
                ) && r.records.written > 0
            })
            .filter_map(|r| {
                r.location
                    .clone()
                    .map(|location| crate::catalog::PartitionLocation {
                        key: r.key.clone(),
                        location,
                    })
            })
            .collect()
    }
}

/// Errors that stop a run before any partition is built.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("output settings: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The run's settings contradict the output's (nothing was changed).
    #[error("{0}")]
    Settings(String),
}

/// Why one partition failed.
#[derive(Debug, thiserror::Error)]
enum PartitionFailure {
    #[error("bad input file {path}: {reason}")]
    BadFile { path: String, reason: DecodeError },
    #[error(transparent)]
    Read(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("assembling a row group: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("carrying rows over from the current version: {0}")]
    Carry(#[from] carry::CarryError),
    #[error("de-duplicating on disk: {0}")]
    Spill(String),
    #[error("interrupted (SIGTERM/SIGINT): not published")]
    Interrupted,
    #[error("digest files: {0}")]
    Digests(String),
    #[error("{path}: a digest lists it with another SHA-256 (modified after delivery); --on-tampered fail: not published")]
    Tampered { path: String },
}

/// Convert everything `opts` selects from `source` into `sink`, registering each
/// published partition in `catalog` as soon as it is committed.
pub fn run(
    source: &dyn Source,
    sink: &dyn Sink,
    catalog: Option<&dyn Catalog>,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<RunReport, ConvertError> {
    let started = Instant::now();
    let schema = TableSchema::embedded();
    let settings = BuildSettings {
        output_format: OUTPUT_FORMAT,
        schema: schema.fingerprint().to_string(),
        late_window_minutes: opts.late_window.whole_minutes(),
        rules: opts.detector.as_ref().map(|d| d.fingerprint().to_string()),
        digests: opts.digests.is_some(),
    };
    check_dataset(sink, &settings, opts.dry_run)?;
    let planner = plan::Planner::new(source, sink, opts, &settings)?;
    let slots = planner.slots();
    let catalog_report = Mutex::new(CatalogReport::default());
    let builder = Builder {
        source,
        sink,
        catalog,
        catalog_report: &catalog_report,
        opts,
        schema,
        decoder: Decoder::new(schema, opts.max_file_bytes).hashing(opts.digests.is_some()),
        props: writer_properties(schema, &opts.encode)?,
        settings: settings.clone(),
        progress,
        digest_cache: Default::default(),
    };
    progress.start(slots.len() as u64);
    let reports = builder.build_all(&planner, &slots);
    progress.finish();

    let mut report = summarise(source, sink, opts, &planner, reports, progress);
    if let (Some(c), false) = (catalog, opts.dry_run) {
        // Partitions not built now: repair any drift (e.g. a run killed between a
        // commit and its registration).
        let mut r = catalog_report.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = c.publish(&report.unchanged_published(), &mut r) {
            tracing::error!("catalog: {e}");
            report.catalog_error = Some(e.to_string());
        }
        report.catalog = Some(r.clone());
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.peak_memory_bytes = peak_memory_bytes();
    Ok(report)
}

/// This process's peak resident set (`VmHWM` of /proc/self/status), in bytes.
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The output's dataset settings must agree with the run's: the day rule splits
/// each file's records between D and D+1 by the late window, so days built with
/// different windows would lose or double records near midnight.
fn check_dataset(
    sink: &dyn Sink,
    settings: &BuildSettings,
    dry_run: bool,
) -> Result<(), ConvertError> {
    let want = crate::manifest::Dataset {
        late_window_minutes: settings.late_window_minutes,
    };
    let have = match sink.read_dataset()? {
        Some(d) => d,
        None if dry_run => return Ok(()),
        None => sink.create_dataset(&want)?,
    };
    if have.late_window_minutes != want.late_window_minutes {
        return Err(ConvertError::Settings(format!(
            "this output was built with --late-window {}m, not {}m: days built with different \
             windows would lose or double the records of files delivered around midnight. \
             Run with --late-window {}m, or convert into a new output",
            have.late_window_minutes, want.late_window_minutes, have.late_window_minutes
        )));
    }
    Ok(())
}

fn summarise(
    source: &dyn Source,
    sink: &dyn Sink,
    opts: &ConvertOptions,
    planner: &plan::Planner,
    reports: Vec<PartitionReport>,
    progress: &Progress,
) -> RunReport {
    let (listing, listed, added_for_day_rule) = planner.totals();
    let mut report = RunReport {
        input: source.describe(),
        output: sink.describe(),
        dry_run: opts.dry_run,
        partitions: PartitionCounts {
            planned: reports.len(),
            ..Default::default()
        },
        added_for_day_rule,
        files: FileCounts {
            listed,
            list_requests: source.list_requests(),
            digest_skipped: listing.digest_files,
            writability_check_skipped: listing.writability_checks,
            outside_layout_skipped: listing.outside_layout.len(),
            links_skipped: listing.links_skipped.len(),
            unreadable: listing.unreadable.len(),
            ..Default::default()
        },
        records: RecordCounts::default(),
        bytes_in: 0,
        bytes_in_uncompressed: progress.content_bytes(),
        bytes_out: 0,
        seconds: 0.0,
        peak_memory_bytes: None,
        catalog: None,
        catalog_error: None,
        interrupted: crate::interrupt::requested(),
        retention: None,
        detections: opts.detector.as_ref().map(|d| DetectionReport {
            rules: d.report().clone(),
            findings: Default::default(),
        }),
        integrity: opts.digests.as_ref().map(|_| IntegrityReport::default()),
        partition_reports: Vec::new(),
    };
    for r in reports {
        report.add_partition(r);
    }
    if !listing.outside_layout.is_empty() {
        tracing::warn!(
            count = listing.outside_layout.len(),
            first = %listing.outside_layout[0],
            "files outside the CloudTrail layout were skipped"
        );
    }
    report
}

/// The shard of a partition: a stable hash (xxh3 of `account/region/day`) modulo n.
pub fn shard_of(key: &PartitionKey, n: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.rel_path().as_bytes()) % n
}

/// A new build id: UTC time (sortable) and 32 random bits.
fn new_build_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:08x}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        fastrand::u32(..)
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Partitions listed ahead of the builders (and listed together in one go).
const PLAN_AHEAD: usize = 32;

/// What the stages share while building partitions.
struct Builder<'r> {
    source: &'r dyn Source,
    sink: &'r dyn Sink,
    catalog: Option<&'r dyn Catalog>,
    catalog_report: &'r Mutex<CatalogReport>,
    opts: &'r ConvertOptions,
    schema: &'static TableSchema,
    decoder: Decoder,
    props: std::sync::Arc<parquet::file::properties::WriterProperties>,
    settings: BuildSettings,
    progress: &'r Progress,
    /// Digest days read by this run (`--verify-digests`).
    digest_cache: digests::DigestCache,
}

/// What to do with a planned partition, given its current version.
enum Decision {
    Build,
    Unchanged,
    Kept(String),
}

impl Builder<'_> {
    /// Build the run's partitions, `--parallel-partitions` at a time, as the
    /// planner lists them (a chunk ahead); reports in build order.
    fn build_all(&self, planner: &plan::Planner, slots: &[plan::Slot]) -> Vec<PartitionReport> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<plan::Planned>(PLAN_AHEAD);
        let rx = Mutex::new(rx);
        let workers = self.opts.parallel_partitions.clamp(1, slots.len().max(1));
        let mut reports: Vec<PartitionReport> = std::thread::scope(|scope| {
            scope.spawn(move || {
                for chunk in slots.chunks(PLAN_AHEAD) {
                    if crate::interrupt::requested() {
                        return;
                    }
                    for planned in planner.plan(chunk) {
                        if let Ok(p) = &planned {
                            self.progress
                                .planned(p.inputs.len() as u64, p.input_bytes());
                        }
                        if tx.send(planned).is_err() {
                            return;
                        }
                    }
                }
            });
            let handles: Vec<_> = (0..workers)
                .map(|_| scope.spawn(|| self.worker(planner, &rx)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if self.opts.newest_first {
            reports.sort_by(|a, b| b.key.day.cmp(&a.key.day).then_with(|| a.key.cmp(&b.key)));
        } else {
            reports.sort_by(|a, b| a.key.cmp(&b.key));
        }
        reports
    }

    /// Take planned partitions until there are none; after each, the partition the
    /// day rule adds for it (if any), and so on.
    fn worker(
        &self,
        planner: &plan::Planner,
        rx: &Mutex<std::sync::mpsc::Receiver<plan::Planned>>,
    ) -> Vec<PartitionReport> {
        let mut done = Vec::new();
        loop {
            if crate::interrupt::requested() {
                break;
            }
            let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let mut planned = match next {
                Ok(p) => Some(p),
                Err(_) => break,
            };
            while let Some(p) = planned.take() {
                let plan = match p {
                    Ok(plan) => plan,
                    Err((key, e)) => {
                        tracing::error!(partition = %key, "listing failed: {e}");
                        done.push(PartitionReport::unlisted(key, e));
                        self.progress.partition_done();
                        break;
                    }
                };
                done.push(self.partition_guarded(&plan));
                self.progress.partition_done();
                planned = match planner.previous_to_add(&plan) {
                    Ok(Some(added)) => {
                        self.progress.partition_added();
                        self.progress
                            .planned(added.inputs.len() as u64, added.input_bytes());
                        Some(Ok(added))
                    }
                    Ok(None) => None,
                    Err(e) => {
                        let mut key = plan.key.clone();
                        key.day = key.day.previous_day().unwrap_or(key.day);
                        Some(Err((key, e)))
                    }
                };
            }
        }
        done
    }

    /// Build a partition; a bug that panics fails this partition, not the run,
    /// and is reported like any other failure.
    fn partition_guarded(&self, plan: &PartitionPlan) -> PartitionReport {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.partition(plan)))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(partition = %plan.key, "internal error: {what}");
                let mut r = PartitionReport::new(plan);
                r.error = Some(format!("internal error (please report): {what}"));
                r
            })
    }

    fn decide(&self, plan: &PartitionPlan, current: Option<&crate::sink::Current>) -> Decision {
        let Some(c) = current else {
            return Decision::Build;
        };
        let m = &c.manifest;
        let vanished = m.vanished(plan);
        let shrink = self.opts.drop_vanished && !vanished.is_empty();
        let awaiting = self.opts.digests.is_some()
            && digests::awaiting_digests(m, plan.key.day, self.opts.late_window);
        if !self.opts.force && !shrink && !awaiting && m.is_current(plan, &self.settings) {
            return Decision::Unchanged;
        }
        if !vanished.is_empty() && !m.has_provenance() && !self.opts.drop_vanished {
            return Decision::Kept(format!(
                "written by an older trailpack without row provenance, and {} of its inputs \
                 are gone (first: {}): a rebuild would lose their rows, so it is kept as it is \
                 (--drop-vanished rebuilds it from the inputs that remain)",
                vanished.len(),
                vanished[0].key
            ));
        }
        Decision::Build
    }

    fn partition(&self, plan: &PartitionPlan) -> PartitionReport {
        let mut report = PartitionReport::new(plan);
        let files = plan.inputs.len() as u64;
        let bytes: u64 = plan.input_bytes();
        if !self.opts.dry_run {
            self.sink.clean_up(&plan.key);
        }
        // A build that loses the commit to another run looks again: usually the
        // winner's version is current; otherwise build once more.
        for attempt in 0..3 {
            let current = match self.sink.current(&plan.key) {
                Ok(c) => c,
                Err(e) => return report.failed(e.to_string()),
            };
            match self.decide(plan, current.as_ref()) {
                Decision::Build => {}
                decision => {
                    let c = current.as_ref().map(|c| &c.manifest);
                    report.status = match decision {
                        Decision::Kept(why) => {
                            tracing::warn!(partition = %plan.key, "{why}");
                            report.error = Some(why);
                            Status::Kept
                        }
                        _ if attempt > 0 => Status::BuiltElsewhere,
                        _ => Status::Unchanged,
                    };
                    report.bytes_in = 0;
                    if let (Some(cur), Some(m)) = (&current, c) {
                        report.records = m.records.clone();
                        report.findings = m.findings.as_ref().map(|f| f.levels.clone());
                        report.set_integrity(m);
                        report.location = Some(self.sink.data_location(&plan.key, m));
                        if !self.opts.dry_run && !m.retired.is_empty() {
                            self.tidy(&plan.key, cur, &mut report);
                        }
                    }
                    self.progress.skip(files, bytes);
                    return report;
                }
            }
            if self.opts.dry_run {
                report.status = Status::WouldBuild;
                self.progress.skip(files, bytes);
                return report;
            }
            match self.build_and_commit(plan, current.as_ref(), &mut report) {
                Ok(true) => return report,
                Ok(false) => continue,
                Err(e) => {
                    let e = e.to_string();
                    tracing::error!(partition = %plan.key, "partition failed, previous version kept: {e}");
                    return report.failed(e);
                }
            }
        }
        report.failed("other runs kept publishing this partition while it was being built".into())
    }

    fn decode(&self, input: &PlannedInput) -> Result<crate::decode::DecodedFile, PartitionFailure> {
        let bytes = self.source.read(&input.file)?;
        let result = self
            .decoder
            .decode(&bytes, input.filter, &input.file.object);
        match &result {
            Ok(df) => self.progress.file_done(
                bytes.len() as u64,
                df.records - df.filtered_out,
                df.content_bytes,
            ),
            Err(_) => self.progress.file_done(bytes.len() as u64, 0, 0),
        }
        result.map_err(|reason| PartitionFailure::BadFile {
            path: input.file.location.clone(),
            reason,
        })
    }
}

impl PartitionReport {
    fn new(plan: &PartitionPlan) -> Self {
        PartitionReport {
            key: plan.key.clone(),
            partition: plan.key.rel_path(),
            status: Status::Failed,
            error: None,
            inputs: plan.inputs.len(),
            bytes_in: plan.input_bytes(),
            bytes_out: 0,
            records: RecordCounts::default(),
            bad_files: Vec::new(),
            location: None,
            catalog_error: None,
            garbage_deleted: 0,
            findings: None,
            integrity: None,
            modified_files: Vec::new(),
            own_statuses: Default::default(),
        }
    }

    /// The integrity of a version, from its manifest.
    fn set_integrity(&mut self, m: &crate::manifest::Manifest) {
        self.integrity = m.integrity.clone();
        if m.integrity.is_some() {
            self.modified_files = digests::modified_files(&m.inputs);
            self.own_statuses = digests::own_statuses(&m.inputs);
        }
    }

    /// A partition whose day folders could not be listed.
    fn unlisted(key: PartitionKey, error: String) -> Self {
        PartitionReport::new(&PartitionPlan {
            key,
            inputs: Vec::new(),
        })
        .failed(format!("listing: {error}"))
    }

    fn failed(mut self, error: String) -> Self {
        self.status = Status::Failed;
        self.error = Some(error);
        self
    }
}
