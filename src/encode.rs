//! Row groups: assembling decoded batches into sorted row groups, and encoding
//! them to Parquet with every leaf column encoded as its own rayon task.

use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

pub use crate::decode::batch_bytes;
use crate::schema::{ColumnType, TableSchema};

/// Parquet settings of the output.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    pub zstd_level: i32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { zstd_level: 1 }
    }
}

/// Writer properties for the curated table, built once per run.
pub fn writer_properties(
    schema: &TableSchema,
    opts: &EncodeOptions,
) -> Result<Arc<WriterProperties>, ParquetError> {
    let level = ZstdLevel::try_new(opts.zstd_level)?;
    let arrow = schema.arrow_schema();
    let parquet_schema = ArrowSchemaConverter::new().convert(&arrow)?;
    let sort_leaf = parquet_schema
        .columns()
        .iter()
        .position(|c| c.path().parts() == [schema.columns[schema.event_time].name.as_str()])
        .ok_or_else(|| ParquetError::General("no eventtime leaf".into()))?;
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(None)
        .set_created_by(format!("trailpack {}", env!("CARGO_PKG_VERSION")))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: sort_leaf as i32,
            descending: false,
            nulls_first: false,
        }]));
    for c in schema.columns.iter().filter(|c| !c.dictionary) {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c.name.as_str()), false);
    }
    // JSON text: no query prunes pages on its min/max (the first 64 bytes of a JSON
    // object), and page statistics of every page stay in memory until the footer.
    for c in schema.columns.iter().filter(|c| c.ty == ColumnType::Json) {
        b = b.set_column_statistics_enabled(
            ColumnPath::from(c.name.as_str()),
            EnabledStatistics::Chunk,
        );
    }
    Ok(Arc::new(b.build()))
}

/// One decoded, kept slice of input: a batch and the rows of it to write.
pub struct Piece {
    pub batch: RecordBatch,
    /// Row indices of `batch` to write (duplicates already removed).
    pub rows: Vec<u32>,
    /// Per row of `batch`, its (eventID hash, value hash), when de-duplication is
    /// left until the whole partition is written (see `convert::spill`).
    pub keys: Option<Vec<(Option<u64>, u64)>>,
    /// `batch_bytes` of `batch`, measured once.
    pub bytes: usize,
}

impl Piece {
    /// A piece of `batch`, whose size is measured here.
    pub fn new(batch: RecordBatch, rows: Vec<u32>, keys: Option<Vec<(Option<u64>, u64)>>) -> Self {
        Piece {
            bytes: batch_bytes(&batch),
            batch,
            rows,
            keys,
        }
    }
}

/// Merge pieces into one batch ordered by eventtime (nulls last; ties keep input
/// order, so the output is deterministic). Columns are gathered in parallel.
pub fn assemble(
    schema: &SchemaRef,
    event_time: usize,
    pieces: &[Piece],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    assemble_in_order(schema, event_time, pieces).map(|(batch, _)| batch)
}

/// `assemble`, also returning which (piece, row) each output row came from.
pub fn assemble_in_order(
    schema: &SchemaRef,
    event_time: usize,
    pieces: &[Piece],
) -> Result<(RecordBatch, Vec<(usize, usize)>), arrow_schema::ArrowError> {
    let indices = sort_order(event_time, pieces);
    let ncols = schema.fields().len();
    let columns: Result<Vec<ArrayRef>, _> = (0..ncols)
        .into_par_iter()
        .map(|c| gather(pieces, &indices, c))
        .collect();
    Ok((RecordBatch::try_new(schema.clone(), columns?)?, indices))
}

/// Which (piece, row) comes at each position of the row group: by eventtime, nulls
/// last, ties in input order (so the output is deterministic).
pub fn sort_order(event_time: usize, pieces: &[Piece]) -> Vec<(usize, usize)> {
    let total: usize = pieces.iter().map(|p| p.rows.len()).sum();
    let mut order: Vec<(i64, u32, u32)> = Vec::with_capacity(total);
    for (pi, p) in pieces.iter().enumerate() {
        let ts = p
            .batch
            .column(event_time)
            .as_primitive::<TimestampMicrosecondType>();
        for &r in &p.rows {
            let t = if ts.is_valid(r as usize) {
                ts.value(r as usize)
            } else {
                i64::MAX
            };
            order.push((t, pi as u32, r));
        }
    }
    order.sort_unstable();
    order
        .iter()
        .map(|&(_, p, r)| (p as usize, r as usize))
        .collect()
}

/// Column `c` of the pieces' rows, in `order`.
fn gather(
    pieces: &[Piece],
    order: &[(usize, usize)],
    c: usize,
) -> Result<ArrayRef, arrow_schema::ArrowError> {
    let arrays: Vec<&dyn Array> = pieces.iter().map(|p| p.batch.column(c).as_ref()).collect();
    // Many columns are null in every row of a row group (fields most events lack):
    // no need to visit each row for them.
    if let Some(first) = arrays.first() {
        if arrays.iter().all(|a| a.null_count() == a.len()) {
            return Ok(arrow_array::new_null_array(first.data_type(), order.len()));
        }
    }
    arrow_select::interleave::interleave(&arrays, order)
}

/// A row group to write: decoded pieces and the order of their rows. Each column is
/// written in that order as slices of the pieces where the order runs through one
/// of them, gathered only between runs (see `parts`), so a sorted copy of the whole
/// row group never exists.
pub struct SortedGroup {
    pub pieces: Vec<Piece>,
    pub order: Vec<(usize, usize)>,
}

/// Runs of at least this many consecutive rows of one piece are written as slices
/// of it; shorter ones are gathered.
const MIN_RUN: usize = 64;

/// A stretch of a sorted group's order, written in one go.
enum Part {
    /// `len` consecutive rows of piece `piece` from row `row`.
    Run {
        piece: usize,
        row: usize,
        len: usize,
    },
    /// Rows `order[range]`, gathered.
    Gather(std::ops::Range<usize>),
}

impl SortedGroup {
    /// The order as runs of consecutive rows of one piece (decoded files are sorted
    /// by eventtime, so a row group is mostly such runs) and gathered stretches.
    fn parts(&self) -> Vec<Part> {
        let order = &self.order;
        let mut parts = Vec::new();
        let (mut gather_from, mut i) = (0, 0);
        while i < order.len() {
            let (piece, row) = order[i];
            let mut j = i + 1;
            while j < order.len() && order[j] == (piece, row + (j - i)) {
                j += 1;
            }
            if j - i >= MIN_RUN {
                if gather_from < i {
                    parts.push(Part::Gather(gather_from..i));
                }
                parts.push(Part::Run {
                    piece,
                    row,
                    len: j - i,
                });
                gather_from = j;
            }
            i = j;
        }
        if gather_from < order.len() {
            parts.push(Part::Gather(gather_from..order.len()));
        }
        parts
    }
}

/// The rows of one row group, already in order or to be gathered.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    Batch(&'a RecordBatch),
    Sorted(&'a SortedGroup),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::Batch(b) => b.num_rows(),
            Rows::Sorted(g) => g.order.len(),
        }
    }

    /// Column `c` in order, as arrays to write one after another.
    fn column(&self, c: usize, parts: &[Part]) -> Result<Vec<ArrayRef>, ParquetError> {
        let g = match self {
            Rows::Batch(b) => return Ok(vec![b.column(c).clone()]),
            Rows::Sorted(g) => g,
        };
        parts
            .iter()
            .map(|part| match part {
                Part::Run { piece, row, len } => {
                    Ok(g.pieces[*piece].batch.column(c).slice(*row, *len))
                }
                Part::Gather(range) => Ok(gather(&g.pieces, &g.order[range.clone()], c)?),
            })
            .collect()
    }
}

/// A Parquet file being written, one row group at a time.
pub struct PartFile<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    /// Parquet leaf columns of each Arrow field, in order.
    leaves_per_field: Vec<usize>,
    schema: SchemaRef,
    row_groups: usize,
    rows: u64,
}

impl<W: Write + Send> PartFile<W> {
    pub fn new(
        out: W,
        schema: SchemaRef,
        props: Arc<WriterProperties>,
    ) -> Result<Self, ParquetError> {
        let parquet_schema = ArrowSchemaConverter::new().convert(&schema)?;
        let writer = SerializedFileWriter::new(out, parquet_schema.root_schema_ptr(), props)?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        let mut leaves_per_field = vec![0; schema.fields().len()];
        for leaf in 0..parquet_schema.num_columns() {
            leaves_per_field[parquet_schema.get_column_root_idx(leaf)] += 1;
        }
        Ok(PartFile {
            writer,
            factory,
            leaves_per_field,
            schema,
            row_groups: 0,
            rows: 0,
        })
    }

    /// Encode `batch` as one row group; columns are encoded in parallel.
    pub fn write_row_group(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        self.write(Rows::Batch(batch))
    }

    /// Encode `rows` as one row group, one rayon task per column (for sorted groups,
    /// written part after part in order; a list column's leaves are encoded
    /// together).
    pub fn write(&mut self, rows: Rows<'_>) -> Result<(), ParquetError> {
        let mut writers = self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter();
        let per_field: Vec<Vec<_>> = self
            .leaves_per_field
            .iter()
            .map(|&n| writers.by_ref().take(n).collect())
            .collect();
        let fields = self.schema.fields();
        let parts = match rows {
            Rows::Sorted(g) => g.parts(),
            Rows::Batch(_) => Vec::new(),
        };
        let chunks: Vec<Vec<ArrowColumnChunk>> = per_field
            .into_par_iter()
            .enumerate()
            .map(|(c, mut writers)| {
                for array in rows.column(c, &parts)? {
                    let leaves = compute_leaves(&fields[c], &array)?;
                    if leaves.len() != writers.len() {
                        return Err(ParquetError::General("leaf/writer count mismatch".into()));
                    }
                    for (w, leaf) in writers.iter_mut().zip(leaves) {
                        w.write(&leaf)?;
                    }
                }
                writers.into_iter().map(|w| w.close()).collect()
            })
            .collect::<Result<_, ParquetError>>()?;
        let mut rg = self.writer.next_row_group()?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut rg)?;
        }
        rg.close()?;
        self.row_groups += 1;
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Bytes written so far (footer excluded).
    pub fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn row_groups(&self) -> u64 {
        self.row_groups as u64
    }

    /// Write the footer and return the underlying writer.
    pub fn finish(self) -> Result<W, ParquetError> {
        self.writer.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, RowFilter};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// A decoded file of `n` records, one a second from `first` (in file order
    /// `order`), each with a distinct eventID and some optional fields.
    fn piece(first: u32, n: u32, reverse: bool) -> Piece {
        let mut records: Vec<String> = (0..n)
            .map(|i| {
                let s = first + i;
                let extra = if s.is_multiple_of(7) { r#","errorCode":"AccessDenied""# } else { "" };
                format!(
                    r#"{{"eventTime":"2024-03-05T{:02}:{:02}:{:02}Z","eventID":"id-{s}","eventName":"E{}","requestParameters":{{"n":{s}}}{extra}}}"#,
                    s / 3600,
                    s / 60 % 60,
                    s % 60,
                    s % 5
                )
            })
            .collect();
        if reverse {
            records.reverse();
        }
        let text = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let d = Decoder::new(TableSchema::embedded(), 1 << 30);
        let df = d.decode(text.as_bytes(), RowFilter::All, "f").unwrap();
        let rows = (0..df.batch.num_rows() as u32).collect();
        Piece::new(df.batch, rows, None)
    }

    /// Files overlap at their ends: runs in the middle, gathered rows at the seams.
    /// Written by runs and gathers, the row group reads back as the fully gathered
    /// batch, and the decoder handed each file over sorted.
    #[test]
    fn runs_and_gathers_write_the_sorted_rows() {
        let schema = TableSchema::embedded();
        let pieces = vec![
            piece(0, 300, true),
            piece(250, 300, false),
            piece(500, 10, true),
        ];
        let expected = assemble(&schema.arrow_schema(), schema.event_time, &pieces).unwrap();
        let order = sort_order(schema.event_time, &pieces);
        let group = SortedGroup { pieces, order };
        let parts = group.parts();
        let runs: Vec<usize> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Run { len, .. } => Some(*len),
                Part::Gather(_) => None,
            })
            .collect();
        // Ties go to the earlier piece: each run takes the first row of its seam.
        assert_eq!(runs, vec![251, 202], "runs of the two large files");
        assert_eq!(parts.len(), 4, "runs, the seam and the tail gathered");

        let props = writer_properties(schema, &EncodeOptions::default()).unwrap();
        let mut file = PartFile::new(Vec::new(), schema.arrow_schema(), props).unwrap();
        file.write(Rows::Sorted(&group)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rg.parquet");
        std::fs::write(&path, file.finish().unwrap()).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let read = arrow_select::concat::concat_batches(&read[0].schema(), &read).unwrap();
        assert_eq!(read.num_rows(), 610);
        let mut compared = 0;
        for c in 0..expected.num_columns() {
            let name = expected.schema().field(c).name().clone();
            let got = read.column_by_name(&name).unwrap();
            let want = expected.column(c);
            // The source column reads back as plain strings.
            if want.data_type() == got.data_type() {
                assert_eq!(got.as_ref(), want.as_ref(), "column {name}");
                compared += 1;
            }
        }
        assert!(
            compared >= expected.num_columns() - 2,
            "{compared} columns compared"
        );
        let ids = read.column_by_name("eventid").unwrap().as_string::<i32>();
        assert_eq!(ids.value(0), "id-0");
        assert_eq!(ids.value(609), "id-549");
    }
}
