//! `detect` over what is already there: rules swept over curated partitions (only
//! the columns the rules read), or over raw CloudTrail files decoded on the fly,
//! without converting them. Partitions (or files) are evaluated in parallel; the
//! findings are handed to the caller partition by partition, in partition order, as
//! soon as a few partitions are done. A partition's findings are streamed into a
//! staged Parquet file as they are found (when the caller writes them) and kept in
//! memory only when the caller asks (to print them): memory does not grow with the
//! sweep (a year of an organisation can have millions of findings).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::Serialize;

use crate::decode::{Decoder, RowFilter};
use crate::detect::findings::FindingsFile;
use crate::detect::{Detector, LevelCounts};
use crate::partition::PartitionKey;
use crate::progress::Progress;
use crate::schema::{FindingsSchema, TableSchema};
use crate::sink::{FilePart, Sink, SinkError};
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

/// The findings of one partition.
pub struct PartitionFindings {
    pub key: PartitionKey,
    /// The findings, when the handover keeps them (`Handover::keep`).
    pub batches: Vec<RecordBatch>,
    pub levels: LevelCounts,
    /// The findings file written below `Handover::stage`; `None` when the partition
    /// has no findings (or nothing is staged).
    pub staged: Option<PathBuf>,
    /// Every file of the partition was evaluated (raw input: a file that could not
    /// be decoded leaves its partition's findings incomplete).
    pub complete: bool,
}

/// What a sweep does with each partition's findings.
pub struct Handover<'a> {
    /// Stream each partition's findings into `<stage>/<partition>/.findings.parquet.<pid>`
    /// as they are found.
    pub stage: Option<&'a Path>,
    /// Also keep each partition's findings in memory (to print them).
    pub keep: bool,
    /// Called with each partition's findings, in partition order (every partition
    /// swept, also those without findings now).
    pub found: &'a mut dyn FnMut(PartitionFindings) -> Result<(), SweepError>,
}

/// One partition's findings being collected (staged and/or kept).
struct Collect {
    p: PartitionFindings,
    stage: Option<PathBuf>,
    keep: bool,
    file: Option<StagedFile>,
}

/// A findings file being written below the stage folder; removed if dropped before
/// it is finished (the sweep failed before its partition was handed over).
struct StagedFile {
    path: PathBuf,
    writer: Option<FindingsFile>,
}

impl StagedFile {
    fn create(path: PathBuf) -> Result<Self, SweepError> {
        let part = FilePart::create(path.clone(), true)?;
        let writer = FindingsFile::new(Box::new(part), FindingsSchema::embedded())?;
        Ok(StagedFile {
            path,
            writer: Some(writer),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SweepError> {
        match self.writer.as_mut() {
            Some(w) => Ok(w.write(batch)?),
            None => Ok(()),
        }
    }

    /// Complete the file; it stays.
    fn finish(mut self) -> Result<(), SweepError> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            drop(w);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Collect {
    fn new(key: PartitionKey, stage: Option<&Path>, keep: bool) -> Self {
        Collect {
            p: PartitionFindings {
                key,
                batches: Vec::new(),
                levels: LevelCounts::default(),
                staged: None,
                complete: true,
            },
            stage: stage.map(Path::to_path_buf),
            keep,
            file: None,
        }
    }

    fn add(&mut self, found: RecordBatch, levels: &LevelCounts) -> Result<(), SweepError> {
        self.p.levels.add(levels);
        if found.num_rows() == 0 {
            return Ok(());
        }
        if let (None, Some(stage)) = (&self.file, &self.stage) {
            let path = stage
                .join(self.p.key.rel_path())
                .join(format!(".findings.parquet.{}", std::process::id()));
            self.file = Some(StagedFile::create(path.clone())?);
            self.p.staged = Some(path);
        }
        if let Some(f) = self.file.as_mut() {
            f.write(&found)?;
        }
        if self.keep {
            self.p.batches.push(found);
        }
        Ok(())
    }

    /// A file of the partition could not be evaluated.
    fn incomplete(&mut self) {
        self.p.complete = false;
    }

    /// The partition's findings, its staged file complete.
    fn finish(self) -> Result<PartitionFindings, SweepError> {
        if let Some(f) = self.file {
            f.finish()?;
        }
        Ok(self.p)
    }
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

/// Partitions (curated) swept at once per thread. More than one per thread, so
/// that a large partition does not leave the other threads idle while it finishes.
const PARTITIONS_PER_THREAD: usize = 4;

/// Raw files decoded at once per thread before their findings are collected.
const FILES_PER_THREAD: usize = 32;

/// Sweep the current version of every curated partition `filter` selects, handing
/// each partition's findings over in partition order (every partition with a
/// current version).
pub fn curated(
    sink: &dyn Sink,
    det: &Detector,
    filter: &ListFilter,
    progress: &Progress,
    handover: &mut Handover<'_>,
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
    let (stage, keep) = (handover.stage, handover.keep);
    let sweep_one = |key: &PartitionKey| -> Result<Option<Collect>, SweepError> {
        let Some(current) = sink.current(key)? else {
            progress.partition_done();
            return Ok(None);
        };
        let outputs = &current.manifest.outputs;
        progress.planned(outputs.len() as u64, outputs.iter().map(|o| o.bytes).sum());
        let mut c = Collect::new(key.clone(), stage, keep);
        for o in outputs {
            let file = sink.open(key, &o.file)?;
            files.fetch_add(1, Ordering::Relaxed);
            read_projected(&file.path, schema, wanted.as_deref(), |batch| {
                records.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                let (found, counts) = det.findings(&batch)?;
                c.add(found, &counts)
            })?;
            progress.file_done(o.bytes, o.rows, 0);
        }
        progress.partition_done();
        Ok(Some(c))
    };
    let per_round = rayon::current_num_threads() * PARTITIONS_PER_THREAD;
    for round in keys.chunks(per_round.max(1)) {
        let swept: Vec<Option<Collect>> =
            round.par_iter().map(sweep_one).collect::<Result<_, _>>()?;
        for c in swept.into_iter().flatten() {
            hand_over(c, &mut report, handover)?;
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
/// handed over in partition order (every partition with event files). Files are
/// decoded in rounds of a few per thread, a partition's findings collected in file
/// order as its files' rounds finish. A file that cannot be decoded is reported and
/// the sweep goes on.
pub fn raw(
    source: &dyn Source,
    det: &Detector,
    filter: &ListFilter,
    max_file_bytes: usize,
    progress: &Progress,
    handover: &mut Handover<'_>,
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
    // Files in partition order (file order within a partition).
    let mut by_key: BTreeMap<PartitionKey, Vec<&InputFile>> = BTreeMap::new();
    for f in &listing.files {
        let key = PartitionKey {
            account: f.log.account.clone(),
            region: f.log.region.clone(),
            day: f.log.folder_day,
        };
        by_key.entry(key).or_default().push(f);
    }
    let files: Vec<(&PartitionKey, &InputFile)> = by_key
        .iter()
        .flat_map(|(k, fs)| fs.iter().map(move |f| (k, *f)))
        .collect();
    let decoder = Decoder::new(TableSchema::embedded(), max_file_bytes);
    let mut report = SweepReport {
        input_kind: "raw",
        files: listing.files.len() as u64,
        ..Default::default()
    };
    let mut open: Option<Collect> = None;
    let per_round = rayon::current_num_threads() * FILES_PER_THREAD;
    for round in files.chunks(per_round.max(1)) {
        let outcomes: Vec<RawFile> = round
            .par_iter()
            .map(|(_, file)| sweep_raw_file(source, &decoder, det, progress, file))
            .collect::<Result<_, _>>()?;
        for ((key, _), outcome) in round.iter().zip(outcomes) {
            if open.as_ref().is_some_and(|c| c.p.key != **key) {
                if let Some(done) = open.take() {
                    hand_over(done, &mut report, handover)?;
                }
            }
            let (stage, keep) = (handover.stage, handover.keep);
            let c = open.get_or_insert_with(|| Collect::new((*key).clone(), stage, keep));
            match outcome {
                Ok((found, levels, rows)) => {
                    report.records += rows;
                    c.add(found, &levels)?;
                }
                Err(bad) => {
                    c.incomplete();
                    report.bad_files.push(bad);
                }
            }
        }
    }
    if let Some(done) = open.take() {
        hand_over(done, &mut report, handover)?;
    }
    Ok(report)
}

/// Finish a partition's findings, count them and hand them over.
fn hand_over(
    c: Collect,
    report: &mut SweepReport,
    handover: &mut Handover<'_>,
) -> Result<(), SweepError> {
    let p = c.finish()?;
    report.partitions += 1;
    report.findings.add(&p.levels);
    (handover.found)(p)
}

/// A raw file swept: its findings, their levels and the records evaluated; or the
/// file and why it could not be decoded.
type RawFile = Result<(RecordBatch, LevelCounts, u64), (String, String)>;

fn sweep_raw_file(
    source: &dyn Source,
    decoder: &Decoder,
    det: &Detector,
    progress: &Progress,
    file: &InputFile,
) -> Result<RawFile, SweepError> {
    let bytes = source.read(file)?;
    let decoded = decoder.decode(&bytes, RowFilter::All, &file.object);
    progress.file_done(
        file.size,
        decoded.as_ref().map_or(0, |d| d.records),
        decoded.as_ref().map_or(0, |d| d.content_bytes),
    );
    match decoded {
        Ok(d) => {
            let (found, levels) = det.findings(&d.batch)?;
            Ok(Ok((found, levels, d.batch.num_rows() as u64)))
        }
        Err(e) => {
            tracing::warn!(file = %file.location, "not evaluated: {e}");
            Ok(Err((file.location.clone(), e.to_string())))
        }
    }
}
