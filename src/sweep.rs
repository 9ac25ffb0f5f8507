//! `detect` over what is already there: rules swept over curated partitions (only
//! the columns the rules read), or over raw CloudTrail files decoded on the fly,
//! without converting them. Partitions (or files) are evaluated in parallel; the
//! findings are handed to the caller partition by partition, in partition order, as
//! soon as a few partitions are done: memory holds the findings of those few
//! partitions, not of the whole sweep (a year of an organisation can have millions).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::Serialize;

use crate::decode::{Decoder, RowFilter};
use crate::detect::{Detector, LevelCounts};
use crate::partition::PartitionKey;
use crate::progress::Progress;
use crate::schema::TableSchema;
use crate::sink::{Sink, SinkError};
use crate::source::{InputFile, ListFilter, Source, SourceError};

/// Whether `filter` takes the partition `k`.
fn takes(filter: &ListFilter, k: &PartitionKey) -> bool {
    filter.accepts_folder(&k.account, &k.region) && filter.accepts_day(k.day)
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{file}: {reason}")]
    Read { file: String, reason: String },
    #[error("assembling findings: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The caller failed to take a partition's findings (writing or printing them).
    #[error("{0}")]
    Output(Box<dyn std::error::Error + Send + Sync>),
}

/// The findings of one partition (no batches: it has none now).
pub struct PartitionFindings {
    pub key: PartitionKey,
    pub batches: Vec<RecordBatch>,
    pub levels: LevelCounts,
}

/// What a sweep read and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepReport {
    /// `curated` or `raw`.
    pub input_kind: &'static str,
    pub partitions: usize,
    pub files: u64,
    pub records: u64,
    /// Raw files that could not be decoded (file, reason); their records were not
    /// evaluated.
    pub bad_files: Vec<(String, String)>,
    pub findings: LevelCounts,
}

/// Partitions (curated) swept at once per thread: their findings are what a sweep
/// holds in memory. More than one per thread, so that a large partition does not
/// leave the other threads idle while it finishes.
const PARTITIONS_PER_THREAD: usize = 4;

/// Raw files decoded at once per thread before the partitions they complete are
/// handed over.
const FILES_PER_THREAD: usize = 32;

/// Sweep the current version of every curated partition `filter` selects, handing
/// each partition's findings to `found` in partition order (every partition with a
/// current version, also those without findings now).
pub fn curated(
    sink: &dyn Sink,
    det: &Detector,
    filter: &ListFilter,
    progress: &Progress,
    found: &mut dyn FnMut(PartitionFindings) -> Result<(), SweepError>,
) -> Result<SweepReport, SweepError> {
    let schema = TableSchema::embedded();
    let keys: Vec<PartitionKey> = sink
        .list_partitions()?
        .into_iter()
        .filter(|k| takes(filter, k))
        .collect();
    let wanted = det.columns(schema);
    progress.start(keys.len() as u64);
    let files = AtomicU64::new(0);
    let records = AtomicU64::new(0);
    let mut report = SweepReport {
        input_kind: "curated",
        ..Default::default()
    };
    let sweep_one = |key: &PartitionKey| -> Result<Option<PartitionFindings>, SweepError> {
        let Some(current) = sink.current(key)? else {
            progress.partition_done();
            return Ok(None);
        };
        let outputs = &current.manifest.outputs;
        progress.planned(outputs.len() as u64, outputs.iter().map(|o| o.bytes).sum());
        let mut batches = Vec::new();
        let mut levels = LevelCounts::default();
        for o in outputs {
            let file = sink.open(key, &o.file)?;
            files.fetch_add(1, Ordering::Relaxed);
            read_projected(&file.path, schema, wanted.as_deref(), |batch| {
                records.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                let (f, counts) = det.findings(&batch)?;
                levels.add(&counts);
                if f.num_rows() > 0 {
                    batches.push(f);
                }
                Ok(())
            })?;
            progress.file_done(o.bytes, o.rows, 0);
        }
        progress.partition_done();
        Ok(Some(PartitionFindings {
            key: key.clone(),
            batches,
            levels,
        }))
    };
    let per_round = rayon::current_num_threads() * PARTITIONS_PER_THREAD;
    for round in keys.chunks(per_round.max(1)) {
        let swept: Vec<Option<PartitionFindings>> =
            round.par_iter().map(sweep_one).collect::<Result<_, _>>()?;
        for p in swept.into_iter().flatten() {
            report.partitions += 1;
            report.findings.add(&p.levels);
            found(p)?;
        }
    }
    report.files = files.into_inner();
    report.records = records.into_inner();
    Ok(report)
}

/// Hand the rows of a curated data file to `f` in batches of the full schema,
/// reading only `columns` (all when `None`; the others are null), one batch in
/// memory at a time.
fn read_projected(
    path: &std::path::Path,
    schema: &TableSchema,
    columns: Option<&[usize]>,
    mut f: impl FnMut(RecordBatch) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let bad = |e: &dyn std::fmt::Display| SweepError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
    let file_schema = builder.schema().clone();
    // Columns by name: a file written before a column was added lacks it.
    let mut roots = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        let want = columns.is_none_or(|w| w.contains(&i));
        if let (true, Ok(j)) = (want, file_schema.index_of(&c.name)) {
            roots.push(j);
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| bad(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        // The columns not read are null; older files are mapped as carried rows are.
        f(crate::convert::to_schema(&batch, schema).map_err(|e| bad(&e))?)?;
    }
    Ok(())
}

/// Sweep raw CloudTrail files: every event file of the day folders `filter`
/// selects, decoded and evaluated (no output is written), each partition's findings
/// handed to `found` in partition order (every partition with event files, also
/// those without findings). A file that cannot be decoded is reported and the sweep
/// goes on.
pub fn raw(
    source: &dyn Source,
    det: &Detector,
    filter: &ListFilter,
    max_file_bytes: usize,
    progress: &Progress,
    found: &mut dyn FnMut(PartitionFindings) -> Result<(), SweepError>,
) -> Result<SweepReport, SweepError> {
    let discovery = source.discover(filter)?;
    let spans = source.day_spans(&discovery.folders, filter.from, filter.to)?;
    let wanted = crate::source::span_days(&discovery.folders, &spans);
    let listing = source.list_days(&wanted)?;
    // Raw files are counted, not partitions.
    progress.start(0);
    progress.planned(
        listing.files.len() as u64,
        listing.files.iter().map(|f| f.size).sum(),
    );
    let mut by_key: BTreeMap<PartitionKey, Vec<&InputFile>> = BTreeMap::new();
    for f in &listing.files {
        let key = PartitionKey {
            account: f.log.account.clone(),
            region: f.log.region.clone(),
            day: f.log.folder_day,
        };
        by_key.entry(key).or_default().push(f);
    }
    let decoder = Decoder::new(TableSchema::embedded(), max_file_bytes);
    let mut report = SweepReport {
        input_kind: "raw",
        files: listing.files.len() as u64,
        ..Default::default()
    };
    let per_round = rayon::current_num_threads() * FILES_PER_THREAD;
    let mut round: Vec<(PartitionKey, Vec<&InputFile>)> = Vec::new();
    let mut in_round = 0;
    let mut partitions = by_key.into_iter().peekable();
    while let Some((key, files)) = partitions.next() {
        in_round += files.len();
        round.push((key, files));
        if in_round >= per_round || partitions.peek().is_none() {
            let swept = sweep_raw_round(source, &decoder, det, progress, &round)?;
            for p in swept {
                report.partitions += 1;
                report.records += p.records;
                report.bad_files.extend(p.bad_files);
                report.findings.add(&p.found.levels);
                found(p.found)?;
            }
            round.clear();
            in_round = 0;
        }
    }
    Ok(report)
}

/// A raw partition swept: its findings, the records evaluated and the files that
/// could not be (file, reason).
struct RawPartition {
    found: PartitionFindings,
    records: u64,
    bad_files: Vec<(String, String)>,
}

/// A file's outcome in a raw sweep: its findings (when any) and their levels, and
/// its records; or why it could not be decoded.
type RawFile = Result<(Option<RecordBatch>, LevelCounts, u64), (String, String)>;

/// Decode and evaluate the files of a few partitions in parallel; per partition, in
/// order: its findings (in file order), records evaluated and files not evaluated.
fn sweep_raw_round(
    source: &dyn Source,
    decoder: &Decoder,
    det: &Detector,
    progress: &Progress,
    round: &[(PartitionKey, Vec<&InputFile>)],
) -> Result<Vec<RawPartition>, SweepError> {
    let files: Vec<&InputFile> = round.iter().flat_map(|(_, f)| f.iter().copied()).collect();
    let outcomes: Vec<RawFile> = files
        .par_iter()
        .map(|file| -> Result<RawFile, SweepError> {
            let bytes = source.read(file)?;
            let decoded = decoder.decode(&bytes, RowFilter::All, &file.object);
            progress.file_done(
                file.size,
                decoded.as_ref().map_or(0, |d| d.records),
                decoded.as_ref().map_or(0, |d| d.content_bytes),
            );
            let decoded = match decoded {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(file = %file.location, "not evaluated: {e}");
                    return Ok(Err((file.location.clone(), e.to_string())));
                }
            };
            let (found, levels) = det.findings(&decoded.batch)?;
            let rows = decoded.batch.num_rows() as u64;
            Ok(Ok(((found.num_rows() > 0).then_some(found), levels, rows)))
        })
        .collect::<Result<_, _>>()?;
    let mut outcomes = outcomes.into_iter();
    let mut out = Vec::with_capacity(round.len());
    for (key, files) in round {
        let mut p = PartitionFindings {
            key: key.clone(),
            batches: Vec::new(),
            levels: LevelCounts::default(),
        };
        let (mut records, mut bad) = (0, Vec::new());
        for outcome in outcomes.by_ref().take(files.len()) {
            match outcome {
                Ok((found, levels, rows)) => {
                    p.batches.extend(found);
                    p.levels.add(&levels);
                    records += rows;
                }
                Err(b) => bad.push(b),
            }
        }
        out.push(RawPartition {
            found: p,
            records,
            bad_files: bad,
        });
    }
    Ok(out)
}
