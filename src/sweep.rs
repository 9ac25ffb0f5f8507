//! `detect` over what is already there: rules swept over curated partitions (only
//! the columns the rules read), or over raw CloudTrail files decoded on the fly,
//! without converting them. Partitions (or files) are evaluated in parallel; the
//! findings come back grouped by partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
use crate::source::{ListFilter, Source, SourceError};

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
}

/// The findings of one partition.
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

/// Sweep the current version of every curated partition `filter` selects.
pub fn curated(
    sink: &dyn Sink,
    det: &Detector,
    filter: &ListFilter,
    progress: &Progress,
) -> Result<(Vec<PartitionFindings>, SweepReport), SweepError> {
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
    let found: Vec<PartitionFindings> = keys
        .par_iter()
        .map(|key| -> Result<Option<PartitionFindings>, SweepError> {
            let Some(current) = sink.current(key)? else {
                progress.partition_done();
                return Ok(None);
            };
            let outputs = &current.manifest.outputs;
            progress.planned(outputs.len() as u64, outputs.iter().map(|o| o.bytes).sum());
            let mut batches = Vec::new();
            let mut levels = LevelCounts::default();
            for o in &current.manifest.outputs {
                let file = sink.open(key, &o.file)?;
                files.fetch_add(1, Ordering::Relaxed);
                read_projected(&file.path, schema, wanted.as_deref(), |batch| {
                    records.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    let (found, counts) = det.findings(&batch)?;
                    levels.add(&counts);
                    if found.num_rows() > 0 {
                        batches.push(found);
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
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut report = SweepReport {
        input_kind: "curated",
        partitions: found.len(),
        files: files.into_inner(),
        records: records.into_inner(),
        ..Default::default()
    };
    for p in &found {
        report.findings.add(&p.levels);
    }
    Ok((found, report))
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
/// selects, decoded and evaluated (no output is written). A file that cannot be
/// decoded is reported and the sweep goes on.
pub fn raw(
    source: &dyn Source,
    det: &Detector,
    filter: &ListFilter,
    max_file_bytes: usize,
    progress: &Progress,
) -> Result<(Vec<PartitionFindings>, SweepReport), SweepError> {
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
    let schema = TableSchema::embedded();
    let decoder = Decoder::new(schema, max_file_bytes);
    let records = AtomicU64::new(0);
    let bad = Mutex::new(Vec::new());
    let by_key: Mutex<BTreeMap<PartitionKey, PartitionFindings>> = Mutex::new(BTreeMap::new());
    listing
        .files
        .par_iter()
        .try_for_each(|file| -> Result<(), SweepError> {
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
                    lock(&bad).push((file.location.clone(), e.to_string()));
                    return Ok(());
                }
            };
            let batch = &decoded.batch;
            records.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            let (found, levels) = det.findings(batch)?;
            if found.num_rows() == 0 {
                return Ok(());
            }
            let key = PartitionKey {
                account: file.log.account.clone(),
                region: file.log.region.clone(),
                day: file.log.folder_day,
            };
            let mut map = lock(&by_key);
            let entry = map.entry(key.clone()).or_insert_with(|| PartitionFindings {
                key,
                batches: Vec::new(),
                levels: LevelCounts::default(),
            });
            entry.batches.push(found);
            entry.levels.add(&levels);
            Ok(())
        })?;
    let found: Vec<PartitionFindings> = by_key
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_values()
        .collect();
    let mut report = SweepReport {
        input_kind: "raw",
        partitions: found.len(),
        files: listing.files.len() as u64,
        records: records.into_inner(),
        bad_files: bad.into_inner().unwrap_or_else(|e| e.into_inner()),
        ..Default::default()
    };
    for p in &found {
        report.findings.add(&p.levels);
    }
    Ok((found, report))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
