//! Rows of the findings table (`schema/findings.toml`), built as Arrow batches.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use serde::Serialize;

use super::event::BatchView;
use super::RuleInfo;
use crate::schema::{FindingSource, FindingType, FindingsSchema};

/// Findings counted by rule level (`none` for rules without one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LevelCounts(pub BTreeMap<String, u64>);

impl LevelCounts {
    pub fn add(&mut self, other: &LevelCounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Findings at `level` or above.
    pub fn at_least(&self, level: usize) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| super::level_rank(k).is_some_and(|r| r >= level))
            .map(|(_, v)| v)
            .sum()
    }

    fn count(&mut self, level: Option<&str>) {
        *self
            .0
            .entry(level.unwrap_or("none").to_string())
            .or_default() += 1;
    }
}

enum Col {
    Str(StringBuilder),
    Dict(StringDictionaryBuilder<Int32Type>),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
}

/// Findings gathered for one partition (or one batch of `detect`).
pub struct FindingsBuilder {
    schema: &'static FindingsSchema,
    cols: Vec<Col>,
    rows: usize,
    pub counts: LevelCounts,
}

impl FindingsBuilder {
    pub fn new(schema: &'static FindingsSchema) -> Self {
        let cols = schema
            .columns
            .iter()
            .map(|c| match c.ty {
                FindingType::String if c.dictionary => Col::Dict(StringDictionaryBuilder::new()),
                FindingType::String => Col::Str(StringBuilder::new()),
                FindingType::Timestamp => {
                    Col::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
                }
                FindingType::StringList => Col::List(ListBuilder::new(StringBuilder::new())),
            })
            .collect();
        FindingsBuilder {
            schema,
            cols,
            rows: 0,
            counts: LevelCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Add the finding of `rule` on row `row` of `view`.
    pub fn push(&mut self, rule: &RuleInfo, view: &BatchView<'_>, row: usize) {
        for (c, b) in self.schema.columns.iter().zip(self.cols.iter_mut()) {
            let text: Option<&str> = match c.from {
                FindingSource::RuleId => Some(&rule.id),
                FindingSource::RuleTitle => Some(&rule.title),
                FindingSource::RuleLevel => rule.level.as_deref(),
                FindingSource::RuleStatus => rule.status.as_deref(),
                FindingSource::RuleTags => None,
                FindingSource::Event(col) => match b {
                    Col::Ts(t) => {
                        t.append_option(view.micros(col, row));
                        continue;
                    }
                    _ => view.text(col, row),
                },
            };
            match b {
                Col::Str(s) => s.append_option(text),
                Col::Dict(d) => match text {
                    Some(t) => {
                        d.append_value(t);
                    }
                    None => d.append_null(),
                },
                Col::List(l) => {
                    for t in &rule.tags {
                        l.values().append_value(t);
                    }
                    l.append(true);
                }
                Col::Ts(t) => t.append_null(),
            }
        }
        self.rows += 1;
        self.counts.count(rule.level.as_deref());
    }

    /// The findings gathered so far as one batch (the builder is emptied, its
    /// counts kept).
    pub fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Col::Str(s) => Arc::new(s.finish()),
                    Col::Dict(d) => Arc::new(d.finish()),
                    Col::Ts(t) => Arc::new(t.finish()),
                    Col::List(l) => Arc::new(l.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.arrow_schema(), arrays)
    }
}

/// A findings Parquet file being written (zstd, row groups of 64k rows, so a
/// partition with many findings never holds them all in memory).
pub struct FindingsFile {
    w: parquet::arrow::ArrowWriter<Box<dyn crate::sink::PartOutput>>,
    rows: u64,
}

fn parquet_err(e: parquet::errors::ParquetError) -> crate::sink::SinkError {
    crate::sink::SinkError::io("findings file", std::io::Error::other(e.to_string()))
}

impl FindingsFile {
    pub fn new(
        out: Box<dyn crate::sink::PartOutput>,
        schema: &FindingsSchema,
    ) -> Result<Self, crate::sink::SinkError> {
        use parquet::basic::{Compression, ZstdLevel};
        use parquet::file::properties::WriterProperties;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(64 * 1024))
            .build();
        let w = parquet::arrow::ArrowWriter::try_new(out, schema.arrow_schema(), Some(props))
            .map_err(parquet_err)?;
        Ok(FindingsFile { w, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), crate::sink::SinkError> {
        self.rows += batch.num_rows() as u64;
        self.w.write(batch).map_err(parquet_err)
    }

    /// Finish the file; returns (rows, row groups, bytes).
    pub fn finish(self) -> Result<(u64, u64, u64), crate::sink::SinkError> {
        let row_groups =
            self.w.flushed_row_groups().len() as u64 + u64::from(self.w.in_progress_rows() > 0);
        // Writes the last row group and the footer, then hands the output back.
        let out = self.w.into_inner().map_err(parquet_err)?;
        let bytes = out.finish()?;
        Ok((self.rows, row_groups, bytes))
    }
}

/// Write findings batches as one file into `out`; returns (rows, row groups, bytes).
pub fn write_parquet(
    out: Box<dyn crate::sink::PartOutput>,
    batches: &[RecordBatch],
) -> Result<(u64, u64, u64), crate::sink::SinkError> {
    let mut f = FindingsFile::new(out, FindingsSchema::embedded())?;
    for b in batches {
        f.write(b)?;
    }
    f.finish()
}
