//! Rows carried over from the current version of a partition: those whose source
//! object is not an input of the new build (its raw file expired, or it belongs to
//! another trail writing into the same output). They are read back from the
//! version's Parquet files and mapped into the current schema by column name
//! (columns the old version lacks are null), so a rebuild never loses them.

use std::collections::HashSet;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use crate::manifest::Manifest;
use crate::partition::PartitionKey;
use crate::schema::TableSchema;
use crate::sink::{Sink, SinkError};

/// Why carried rows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("reading the current version's {file}: {reason}")]
    Read { file: String, reason: String },
}

/// Rows read back in batches of this many.
const BATCH_ROWS: usize = 8192;

/// Call `each` with every batch of the current version (in the current schema)
/// and the rows of it whose source object is not in `inputs`.
pub fn for_each_carried(
    sink: &dyn Sink,
    key: &PartitionKey,
    current: &Manifest,
    inputs: &HashSet<&str>,
    schema: &TableSchema,
    mut each: impl FnMut(RecordBatch, Vec<u32>) -> Result<(), CarryError>,
) -> Result<(), CarryError> {
    for out in &current.outputs {
        let data = sink.open(key, &out.file)?;
        let bad = |reason: String| CarryError::Read {
            file: out.file.clone(),
            reason,
        };
        let file = std::fs::File::open(&data.path).map_err(|e| bad(e.to_string()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
            .map_err(|e| bad(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            let batch = to_schema(&batch, schema).map_err(bad)?;
            let source = batch.column(schema.source).as_dictionary::<Int32Type>();
            let names = source.values().as_string::<i32>();
            let rows: Vec<u32> = (0..batch.num_rows())
                .filter(|&r| {
                    source.is_null(r)
                        || !inputs.contains(names.value(source.keys().value(r) as usize))
                })
                .map(|r| r as u32)
                .collect();
            if !rows.is_empty() {
                each(batch, rows)?;
            }
        }
    }
    Ok(())
}

/// The row groups of a Parquet file written by this build, one batch each (row
/// groups are sorted units: they must not be merged), in the current schema. Read
/// lazily, one row group at a time, so memory stays one row group; the footer is
/// parsed once.
pub fn read_row_groups<'p>(
    path: &'p std::path::Path,
    schema: &'p TableSchema,
) -> Result<
    impl Iterator<Item = Result<RecordBatch, super::PartitionFailure>> + 'p,
    super::PartitionFailure,
> {
    let bad = move |e: &dyn std::fmt::Display| {
        super::PartitionFailure::Spill(format!("{}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let meta =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|e| bad(&e))?;
    let groups = meta.metadata().num_row_groups();
    Ok((0..groups).filter_map(move |i| {
        let rows = meta.metadata().row_group(i).num_rows().max(1) as usize;
        let read = || -> Result<Option<RecordBatch>, super::PartitionFailure> {
            let input = file.try_clone().map_err(|e| bad(&e))?;
            let batch = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
                .with_row_groups(vec![i])
                .with_batch_size(rows)
                .build()
                .map_err(|e| bad(&e))?
                .next()
                .transpose()
                .map_err(|e| bad(&e))?;
            batch
                .map(|b| to_schema(&b, schema).map_err(|e| bad(&e)))
                .transpose()
        };
        read().transpose()
    }))
}

/// The same data under an equivalent type.
fn retype(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    let data = a
        .to_data()
        .into_builder()
        .data_type(to.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(arrow_array::make_array(data))
}

/// `batch` (as read back from Parquet, possibly a projection) in the current
/// schema: columns it lacks are null, equivalent types are relabelled, plain
/// strings become the dictionary the schema has; any other difference is an error.
pub fn to_schema(batch: &RecordBatch, schema: &TableSchema) -> Result<RecordBatch, String> {
    let target = schema.arrow_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let Some(have) = batch.column_by_name(field.name()) else {
            columns.push(new_null_array(field.data_type(), batch.num_rows()));
            continue;
        };
        let column = match (have.data_type(), field.data_type()) {
            (a, b) if a == b => have.clone(),
            // Read back without Arrow metadata: `+00:00` for "UTC", other names of
            // list items; the same values.
            (DataType::Timestamp(ua, _), DataType::Timestamp(ub, _)) if ua == ub => {
                retype(have, field.data_type())?
            }
            (a, b) if a.equals_datatype(b) => retype(have, field.data_type())?,
            (DataType::Utf8, DataType::Dictionary(..)) => {
                let mut b = StringDictionaryBuilder::<Int32Type>::new();
                b.extend(have.as_string::<i32>().iter());
                std::sync::Arc::new(b.finish()) as ArrayRef
            }
            (a, b) => {
                return Err(format!(
                    "column {} is {a} there but {b} in this schema",
                    field.name()
                ))
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(target, columns).map_err(|e| e.to_string())
}
