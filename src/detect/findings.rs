//! Rows of the findings table (`schema/findings.toml`), built as Arrow batches.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::ArrowError;
use serde::Serialize;

use super::RuleInfo;
use crate::schema::{FindingSource, FindingsSchema};

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
}

/// The rules' own columns, built once per detector: a finding's rule columns are
/// these arrays taken at its rule's index (no per-finding copy or hashing).
pub struct RuleColumns {
    id: ArrayRef,
    title: ArrayRef,
    level: ArrayRef,
    status: ArrayRef,
    tags: ArrayRef,
    levels: Vec<Option<String>>,
}

impl RuleColumns {
    pub fn new(rules: &[RuleInfo]) -> Self {
        let strings = |f: &dyn Fn(&RuleInfo) -> Option<&str>| -> ArrayRef {
            Arc::new(rules.iter().map(f).collect::<StringArray>())
        };
        let mut tags = ListBuilder::new(StringBuilder::new());
        for r in rules {
            for t in &r.tags {
                tags.values().append_value(t);
            }
            tags.append(true);
        }
        RuleColumns {
            id: strings(&|r| Some(&r.id)),
            title: strings(&|r| Some(&r.title)),
            level: strings(&|r| r.level.as_deref()),
            status: strings(&|r| r.status.as_deref()),
            tags: Arc::new(tags.finish()),
            levels: rules.iter().map(|r| r.level.clone()).collect(),
        }
    }
}

/// Findings gathered as (rule, piece, row) matches; their columns are gathered from
/// the matched rows' batches at [`FindingsBuilder::finish`], column by column.
pub struct FindingsBuilder<'d> {
    schema: &'static FindingsSchema,
    rules: &'d RuleColumns,
    /// (rule, piece, row): the rule that matched row `row` of batch `piece`.
    hits: Vec<(u32, u32, u32)>,
    /// Findings counted by level, updated by `finish`.
    pub counts: LevelCounts,
}

impl<'d> FindingsBuilder<'d> {
    pub fn new(schema: &'static FindingsSchema, rules: &'d RuleColumns) -> Self {
        FindingsBuilder {
            schema,
            rules,
            hits: Vec::new(),
            counts: LevelCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Add the finding of rule `rule` on row `row` of batch `piece`.
    pub fn push(&mut self, rule: usize, piece: usize, row: usize) {
        self.hits.push((rule as u32, piece as u32, row as u32));
    }

    /// The findings gathered so far as one batch, `pieces` being the batches their
    /// rows are in (the builder is emptied; its counts keep growing).
    pub fn finish(&mut self, pieces: &[&RecordBatch]) -> Result<RecordBatch, ArrowError> {
        let mut per_rule = vec![0u64; self.rules.levels.len()];
        for &(rule, _, _) in &self.hits {
            per_rule[rule as usize] += 1;
        }
        for (n, level) in per_rule.iter().zip(&self.rules.levels) {
            if *n > 0 {
                *self
                    .counts
                    .0
                    .entry(level.as_deref().unwrap_or("none").to_string())
                    .or_default() += n;
            }
        }
        let keys = Int32Array::from_iter_values(self.hits.iter().map(|h| h.0 as i32));
        let at: Vec<(usize, usize)> = self
            .hits
            .iter()
            .map(|&(_, p, r)| (p as usize, r as usize))
            .collect();
        let dict = |values: &ArrayRef| -> Result<ArrayRef, ArrowError> {
            Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys.clone(),
                values.clone(),
            )?))
        };
        let arrays = self
            .schema
            .columns
            .iter()
            .map(|c| match c.from {
                FindingSource::RuleId => dict(&self.rules.id),
                FindingSource::RuleTitle => dict(&self.rules.title),
                FindingSource::RuleLevel => dict(&self.rules.level),
                FindingSource::RuleStatus => dict(&self.rules.status),
                FindingSource::RuleTags => arrow_select::take::take(&self.rules.tags, &keys, None),
                FindingSource::Event(col) => {
                    let arrays: Vec<&dyn Array> =
                        pieces.iter().map(|b| b.column(col).as_ref()).collect();
                    arrow_select::interleave::interleave(&arrays, &at)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.hits.clear();
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
        use parquet::file::properties::EnabledStatistics;
        use parquet::file::properties::WriterProperties;
        use parquet::schema::types::ColumnPath;
        // Min/max statistics only where a reader prunes by them (the time); per
        // value comparisons on every other column cost more than they save.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(64 * 1024))
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled("eventtime".into(), EnabledStatistics::Chunk);
        for c in schema.columns.iter().filter(|c| !c.dictionary) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(c.name.as_str()), false);
        }
        let props = props.build();
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
