//! The conversion pipeline: plan partitions, skip current ones, and build the
//! rest with bounded memory.
//!
//! Building a partition walks its inputs in delivery order in chunks sized to fill
//! one row group. Each step runs two things at once on the rayon pool: decoding the
//! next chunk of files (one task per file) and encoding the previous row group (one
//! task per leaf column). Memory is bounded by about three row groups (the one being
//! filled, the one being encoded and its sorted copy), whatever the partition size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arrow_array::RecordBatch;
use hashbrown::hash_map::Entry;
use rayon::prelude::*;
use serde::Serialize;
use time::{Date, Duration};

use crate::decode::{DecodeError, Decoder, RowKey};
use crate::encode::{assemble, writer_properties, EncodeOptions, PartFile, Piece};
use crate::manifest::{
    BuildSettings, Manifest, ManifestInput, ManifestOutput, RecordCounts, OUTPUT_FORMAT,
};
use crate::partition::{plan, InputRole, PartitionKey, PartitionPlan, PlannedInput};
use crate::progress::Progress;
use crate::schema::TableSchema;
use crate::sink::{PartOutput, Sink, SinkError, StagedPartition};
use crate::source::{ListFilter, Source, SourceError};

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
            dry_run: false,
            skip_bad_files: false,
            target_file_size: 256 << 20,
            row_group_bytes: 32 << 20,
            parallel_partitions: 2,
            max_file_bytes: 1 << 30,
            encode: EncodeOptions::default(),
            shard: None,
            newest_first: false,
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Built and published.
    Written,
    /// Inputs unchanged since the last build: nothing done.
    Unchanged,
    /// `--dry-run`: would be built.
    WouldBuild,
    /// Only the next day's early files were inputs and none of their records
    /// belonged to this day: nothing to publish.
    Empty,
    /// Another run holds the partition's lease and is building it: left to it.
    Busy,
    /// Not published; the previous version is untouched.
    Failed,
}

/// How long a partition lease lasts; a run that dies holding one blocks that
/// partition for at most this long (locally, a dead process's lease is taken over).
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 60);

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
    pub files: FileCounts,
    pub records: RecordCounts,
    pub bytes_in: u64,
    pub bytes_in_uncompressed: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    /// What the catalog sync did (`--glue-database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<crate::catalog::CatalogReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_error: Option<String>,
    /// What `--retain-days` deleted (or would delete, with `--dry-run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionReport>,
    pub partition_reports: Vec<PartitionReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionCounts {
    pub planned: usize,
    pub written: usize,
    pub unchanged: usize,
    pub would_build: usize,
    pub empty: usize,
    pub busy: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCounts {
    /// Event files matching the filters.
    pub listed: usize,
    /// Input reads (a file early in a day folder is read for two partitions).
    pub read: usize,
    pub bad: usize,
    pub digest_skipped: u64,
    pub writability_check_skipped: u64,
    pub outside_layout_skipped: usize,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        self.partitions.failed > 0
            || self.catalog_error.is_some()
            || self.retention.as_ref().is_some_and(|r| r.error.is_some())
    }

    /// Partitions whose data is published (written now or current from before).
    pub fn published(&self) -> Vec<PartitionKey> {
        self.partition_reports
            .iter()
            .filter(|r| {
                matches!(r.status, Status::Written | Status::Unchanged) && r.records.written > 0
            })
            .map(|r| r.key.clone())
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
}

/// Convert everything `opts` selects from `source` into `sink`.
pub fn run(
    source: &dyn Source,
    sink: &dyn Sink,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<RunReport, ConvertError> {
    let started = Instant::now();
    let schema = TableSchema::embedded();
    // Building day D reads the early files of folder D+1.
    let listing = source.list(&ListFilter {
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        from: opts.from,
        to: opts.to.and_then(|t| t.next_day()).or(opts.to),
    })?;
    let mut plans = plan(&listing.files, opts.late_window, opts.from, opts.to);
    if let Some((i, n)) = opts.shard {
        plans.retain(|p| shard_of(&p.key, n) == i);
    }
    if opts.newest_first {
        plans.sort_by(|a, b| b.key.day.cmp(&a.key.day).then_with(|| a.key.cmp(&b.key)));
    }
    let builder = Builder {
        source,
        sink,
        opts,
        schema,
        decoder: Decoder::new(schema, opts.max_file_bytes),
        props: writer_properties(schema, &opts.encode)?,
        settings: BuildSettings {
            output_format: OUTPUT_FORMAT,
            schema: schema.fingerprint().to_string(),
            late_window_minutes: opts.late_window.whole_minutes(),
        },
        run_id: format!(
            "{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        ),
        progress,
    };
    progress.start(
        plans.len() as u64,
        plans.iter().map(|p| p.inputs.len() as u64).sum(),
        plans
            .iter()
            .flat_map(|p| &p.inputs)
            .map(|i| i.file.size)
            .sum(),
    );

    let next = AtomicUsize::new(0);
    let workers = opts.parallel_partitions.clamp(1, plans.len().max(1));
    let mut reports: Vec<(usize, PartitionReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = plans.get(i) else { break };
                        done.push((i, builder.partition_guarded(p)));
                        progress.partition_done();
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    reports.sort_by_key(|(i, _)| *i);
    progress.finish();

    let mut report = RunReport {
        input: source.describe(),
        output: sink.describe(),
        dry_run: opts.dry_run,
        partitions: PartitionCounts {
            planned: plans.len(),
            ..Default::default()
        },
        files: FileCounts {
            listed: listing.files.len(),
            digest_skipped: listing.digest_files,
            writability_check_skipped: listing.writability_checks,
            outside_layout_skipped: listing.outside_layout.len(),
            ..Default::default()
        },
        records: RecordCounts::default(),
        bytes_in: 0,
        bytes_in_uncompressed: progress.content_bytes(),
        bytes_out: 0,
        seconds: 0.0,
        catalog: None,
        catalog_error: None,
        retention: None,
        partition_reports: Vec::new(),
    };
    for (_, r) in reports {
        match r.status {
            Status::Written => report.partitions.written += 1,
            Status::Unchanged => report.partitions.unchanged += 1,
            Status::WouldBuild => report.partitions.would_build += 1,
            Status::Empty => report.partitions.empty += 1,
            Status::Busy => report.partitions.busy += 1,
            Status::Failed => report.partitions.failed += 1,
        }
        if matches!(r.status, Status::Written | Status::Failed) {
            report.files.read += r.inputs;
        }
        report.files.bad += r.bad_files.len();
        report.bytes_in += r.bytes_in;
        report.bytes_out += r.bytes_out;
        let c = &mut report.records;
        c.read += r.records.read;
        c.written += r.records.written;
        c.deduplicated += r.records.deduplicated;
        c.eventid_conflicts += r.records.eventid_conflicts;
        c.rerouted_in += r.records.rerouted_in;
        c.rerouted_out += r.records.rerouted_out;
        report.partition_reports.push(r);
    }
    if !listing.outside_layout.is_empty() {
        tracing::warn!(
            count = listing.outside_layout.len(),
            first = %listing.outside_layout[0],
            "files outside the CloudTrail layout were skipped"
        );
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The shard of a partition: a stable hash (xxh3 of `account/region/day`) modulo n.
pub fn shard_of(key: &PartitionKey, n: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.rel_path().as_bytes()) % n
}

struct Builder<'a> {
    source: &'a dyn Source,
    sink: &'a dyn Sink,
    opts: &'a ConvertOptions,
    schema: &'static TableSchema,
    decoder: Decoder,
    props: std::sync::Arc<parquet::file::properties::WriterProperties>,
    settings: BuildSettings,
    run_id: String,
    progress: &'a Progress,
}

/// De-duplication state of one partition.
#[derive(Default)]
struct Dedup {
    /// eventID hash → content hash of its first record.
    first: hashbrown::HashMap<u64, u64>,
    /// (eventID, content) of further records sharing an eventID.
    extra: hashbrown::HashSet<(u64, u64)>,
}

impl Dedup {
    /// Sized for the partition up front (from its compressed input size), so the
    /// table is not rehashed — a rehash briefly holds the old and the new table.
    fn for_inputs(gz_bytes: u64) -> Self {
        // CloudTrail compresses to roughly 150-250 bytes per record.
        let expected = (gz_bytes / 160).min(64 << 20) as usize;
        Dedup {
            first: hashbrown::HashMap::with_capacity(expected),
            extra: hashbrown::HashSet::new(),
        }
    }
}

impl Dedup {
    /// Rows of a file to keep; counts duplicates and eventID conflicts.
    fn keep(&mut self, keys: &[RowKey], counts: &mut RecordCounts) -> Vec<u32> {
        let mut rows = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let fresh = match k.event_id {
                None => true,
                Some(id) => match self.first.entry(id) {
                    Entry::Vacant(v) => {
                        v.insert(k.content);
                        true
                    }
                    Entry::Occupied(o) if *o.get() == k.content => false,
                    Entry::Occupied(_) => {
                        let new = self.extra.insert((id, k.content));
                        if new {
                            counts.eventid_conflicts += 1;
                        }
                        new
                    }
                },
            };
            if fresh {
                rows.push(i as u32);
            } else {
                counts.deduplicated += 1;
            }
        }
        rows
    }
}

/// The data file being written and the files finished so far.
struct Output {
    current: Option<(PartFile<Box<dyn PartOutput>>, String)>,
    done: Vec<ManifestOutput>,
}

impl Builder<'_> {
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
                PartitionReport {
                    key: plan.key.clone(),
                    partition: plan.key.rel_path(),
                    status: Status::Failed,
                    error: Some(format!("internal error (please report): {what}")),
                    inputs: plan.inputs.len(),
                    bytes_in: 0,
                    bytes_out: 0,
                    records: RecordCounts::default(),
                    bad_files: Vec::new(),
                }
            })
    }

    fn partition(&self, plan: &PartitionPlan) -> PartitionReport {
        let mut report = PartitionReport {
            key: plan.key.clone(),
            partition: plan.key.rel_path(),
            status: Status::Failed,
            error: None,
            inputs: plan.inputs.len(),
            bytes_in: plan.inputs.iter().map(|i| i.file.size).sum(),
            bytes_out: 0,
            records: RecordCounts::default(),
            bad_files: Vec::new(),
        };
        let files: u64 = plan.inputs.len() as u64;
        // Not built this time: counted as done for the progress bar.
        let skip = |report: &mut PartitionReport, status: Status, records: Option<RecordCounts>| {
            report.status = status;
            report.bytes_in = 0;
            if let Some(r) = records {
                report.records = r;
            }
            self.progress
                .skip(files, plan.inputs.iter().map(|i| i.file.size).sum());
        };
        if !self.opts.dry_run {
            self.sink.clean_up(&plan.key);
        }
        let previous = self.sink.read_manifest(&plan.key);
        let had_previous = matches!(previous, Ok(Some(_)));
        match previous {
            Ok(Some(m)) if !self.opts.force && m.is_current(plan, &self.settings) => {
                skip(&mut report, Status::Unchanged, Some(m.records));
                return report;
            }
            Ok(_) => {}
            Err(e @ SinkError::BadManifest { .. }) => {
                tracing::warn!(partition = %plan.key, "{e}; rebuilding");
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        }
        if self.opts.dry_run {
            report.status = Status::WouldBuild;
            self.progress
                .skip(files, plan.inputs.iter().map(|i| i.file.size).sum());
            return report;
        }
        // One builder per partition across runs: take the lease, then look again —
        // the run that held it may have just published a current version.
        let _lease = match self.sink.lease(&plan.key, &self.run_id, LEASE_TTL) {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                skip(&mut report, Status::Busy, None);
                return report;
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        if let (Ok(Some(m)), false) = (self.sink.read_manifest(&plan.key), self.opts.force) {
            if m.is_current(plan, &self.settings) {
                skip(&mut report, Status::Unchanged, Some(m.records));
                return report;
            }
        }
        let mut staged = match self.sink.stage(&plan.key, &self.run_id) {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        match self.fill(plan, staged.as_mut(), &mut report) {
            Ok(manifest)
                if manifest.records.written == 0
                    && !had_previous
                    && plan.inputs.iter().all(|i| i.role == InputRole::Late) =>
            {
                staged.abort();
                report.status = Status::Empty;
            }
            Ok(manifest) => match staged.commit(&manifest) {
                Ok(()) => {
                    report.status = Status::Written;
                    report.bytes_out = manifest.outputs.iter().map(|o| o.bytes).sum();
                }
                Err(e) => report.error = Some(e.to_string()),
            },
            Err(e) => {
                staged.abort();
                report.error = Some(e.to_string());
            }
        }
        if let Some(e) = &report.error {
            tracing::error!(partition = %plan.key, "partition failed, previous version kept: {e}");
        }
        report
    }

    /// Decode, sort and encode a partition's inputs into `staged`.
    fn fill(
        &self,
        plan: &PartitionPlan,
        staged: &mut dyn StagedPartition,
        report: &mut PartitionReport,
    ) -> Result<Manifest, PartitionFailure> {
        let arrow_schema = self.schema.arrow_schema();
        let mut dedup = Dedup::for_inputs(plan.inputs.iter().map(|i| i.file.size).sum());
        let mut counts = RecordCounts::default();
        let mut inputs = Vec::with_capacity(plan.inputs.len());
        let mut pieces: Vec<Piece> = Vec::new();
        let mut pieces_mem = 0usize;
        let mut pending: Option<RecordBatch> = None;
        let mut out = Output {
            current: None,
            done: Vec::new(),
        };
        // Arrow bytes per compressed input byte, learnt as files are decoded.
        let mut expansion = 8.0f64;
        let min_chunk = rayon::current_num_threads() * 2;
        let mut i = 0;
        while i < plan.inputs.len() || pending.is_some() {
            let budget = self.opts.row_group_bytes.saturating_sub(pieces_mem) as f64 / expansion;
            let mut j = i;
            let mut chunk_bytes = 0f64;
            while j < plan.inputs.len()
                && (j - i < min_chunk || chunk_bytes < budget)
                && j - i < 1024
            {
                chunk_bytes += plan.inputs[j].file.size as f64;
                j += 1;
            }
            let chunk = &plan.inputs[i..j];
            // Let a remote source fetch this chunk and the next while we work.
            let ahead = (j + (j - i)).min(plan.inputs.len());
            self.source.prefetch(
                &plan.inputs[i..ahead]
                    .iter()
                    .map(|p| &p.file)
                    .collect::<Vec<_>>(),
            );
            let to_encode = pending.take();
            let (encoded, decoded) = rayon::join(
                || match to_encode {
                    Some(rg) => self.write_row_group(&mut out, staged, &rg),
                    None => Ok(()),
                },
                || {
                    chunk
                        .par_iter()
                        .map(|input| self.decode(input))
                        .collect::<Vec<_>>()
                },
            );
            encoded?;
            for (input, result) in chunk.iter().zip(decoded) {
                let mut entry = ManifestInput {
                    key: input.file.key.clone(),
                    size: input.file.size,
                    version: input.file.version.clone(),
                    role: input.role,
                    skipped: None,
                };
                match result {
                    Ok(df) => {
                        let kept = df.records - df.filtered_out;
                        counts.read += kept;
                        match input.role {
                            InputRole::Own => counts.rerouted_out += df.filtered_out,
                            InputRole::Late => counts.rerouted_in += kept,
                        }
                        for k in &df.ignored_top_level_keys {
                            tracing::warn!(file = %input.file.location, key = %k, "top-level key other than Records ignored");
                        }
                        if input.file.size > 0 {
                            let mem = df.batch.get_array_memory_size() as f64;
                            expansion =
                                0.8 * expansion + 0.2 * (mem / input.file.size as f64).max(1.0);
                        }
                        let rows = dedup.keep(&df.keys, &mut counts);
                        if !rows.is_empty() {
                            let piece = Piece {
                                batch: df.batch,
                                rows,
                            };
                            pieces_mem += piece.memory();
                            pieces.push(piece);
                        }
                    }
                    Err(failure) => {
                        let (kind, reason) = match &failure {
                            PartitionFailure::BadFile { reason, .. } => {
                                (reason.kind(), reason.to_string())
                            }
                            other => ("read_error", other.to_string()),
                        };
                        if !self.opts.skip_bad_files || kind == "read_error" {
                            return Err(failure);
                        }
                        tracing::warn!(file = %input.file.location, "bad file skipped: {reason}");
                        report.bad_files.push(BadFile {
                            path: input.file.location.clone(),
                            kind,
                            reason: reason.clone(),
                        });
                        entry.skipped = Some(format!("{kind}: {reason}"));
                    }
                }
                inputs.push(entry);
            }
            i = j;
            if pieces_mem >= self.opts.row_group_bytes
                || (i == plan.inputs.len() && !pieces.is_empty())
            {
                pending = Some(assemble(&arrow_schema, self.schema.event_time, &pieces)?);
                pieces.clear();
                pieces_mem = 0;
            }
        }
        self.close_file(&mut out)?;
        counts.written = out.done.iter().map(|o| o.rows).sum();
        if counts.eventid_conflicts > 0 {
            tracing::warn!(
                partition = %plan.key,
                conflicts = counts.eventid_conflicts,
                "records share an eventID with a different record; all were kept"
            );
        }
        report.records = counts.clone();
        Ok(Manifest {
            trailpack_version: env!("CARGO_PKG_VERSION").to_string(),
            built_at: now_rfc3339(),
            account: plan.key.account.clone(),
            region: plan.key.region.clone(),
            day: crate::layout::day_string(plan.key.day),
            settings: self.settings.clone(),
            inputs,
            records: counts,
            outputs: out.done,
        })
    }

    fn decode(&self, input: &PlannedInput) -> Result<crate::decode::DecodedFile, PartitionFailure> {
        let bytes = self.source.read(&input.file)?;
        let result = self.decoder.decode(&bytes, input.filter);
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

    fn write_row_group(
        &self,
        out: &mut Output,
        staged: &mut dyn StagedPartition,
        batch: &RecordBatch,
    ) -> Result<(), PartitionFailure> {
        if out.current.is_none() {
            let name = format!("part-{:05}.parquet", out.done.len());
            let w = staged.create(&name)?;
            out.current = Some((
                PartFile::new(w, self.schema.arrow_schema(), self.props.clone())?,
                name,
            ));
        }
        if let Some((file, _)) = out.current.as_mut() {
            file.write_row_group(batch)?;
            if file.bytes_written() as u64 >= self.opts.target_file_size {
                self.close_file(out)?;
            }
        }
        Ok(())
    }

    fn close_file(&self, out: &mut Output) -> Result<(), PartitionFailure> {
        if let Some((file, name)) = out.current.take() {
            let rows = file.rows();
            let row_groups = file.row_groups();
            let bytes = file.finish()?.finish()?;
            out.done.push(ManifestOutput {
                file: name,
                bytes,
                rows,
                row_groups,
            });
        }
        Ok(())
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
