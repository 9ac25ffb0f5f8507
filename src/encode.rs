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
}

impl Piece {
    pub fn memory(&self) -> usize {
        self.batch.get_array_memory_size()
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
/// gathered into order just before it is encoded, so a sorted copy of the whole row
/// group never exists.
pub struct SortedGroup {
    pub pieces: Vec<Piece>,
    pub order: Vec<(usize, usize)>,
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

    fn column(&self, c: usize) -> Result<ArrayRef, ParquetError> {
        match self {
            Rows::Batch(b) => Ok(b.column(c).clone()),
            Rows::Sorted(g) => Ok(gather(&g.pieces, &g.order, c)?),
        }
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

    /// Encode `rows` as one row group, one rayon task per column (gathering it into
    /// order first, for sorted groups; a list column's leaves are encoded together).
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
        let chunks: Vec<Vec<ArrowColumnChunk>> = per_field
            .into_par_iter()
            .enumerate()
            .map(|(c, writers)| {
                let leaves = compute_leaves(&fields[c], &rows.column(c)?)?;
                if leaves.len() != writers.len() {
                    return Err(ParquetError::General("leaf/writer count mismatch".into()));
                }
                writers
                    .into_iter()
                    .zip(leaves)
                    .map(|(mut w, leaf)| {
                        w.write(&leaf)?;
                        w.close()
                    })
                    .collect()
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
