//! The findings table's columns, loaded from `schema/findings.toml` (embedded at
//! build time): one row per (rule, event) match. Its Arrow schema and Glue columns
//! are derived here, as the curated table's are in the parent module.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use super::{SchemaError, TableSchema};

/// The findings schema file's text.
pub const FINDINGS_TOML: &str = include_str!("../../schema/findings.toml");

/// Where a findings column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingSource {
    RuleId,
    RuleTitle,
    RuleLevel,
    RuleStatus,
    RuleTags,
    /// A column of the curated table (its index there).
    Event(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingType {
    String,
    Timestamp,
    StringList,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    from: String,
    #[serde(rename = "type")]
    ty: FindingType,
    #[serde(default = "yes")]
    dictionary: bool,
    description: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    column: Vec<RawColumn>,
}

/// A column of the findings table.
#[derive(Debug, Clone)]
pub struct FindingColumn {
    pub name: String,
    pub from: FindingSource,
    pub ty: FindingType,
    /// Dictionary-encoded in Parquet (repeated values: rule titles, event names,
    /// source objects), unless turned off (`eventid`: nearly unique).
    pub dictionary: bool,
    pub description: String,
    /// The Arrow type: an event column has its curated column's (the findings copy
    /// them by row); a rule's strings are a dictionary over the rules.
    arrow: DataType,
}

impl FindingColumn {
    pub fn arrow_type(&self) -> DataType {
        self.arrow.clone()
    }

    pub fn glue_type(&self) -> &'static str {
        match self.ty {
            FindingType::String => "string",
            FindingType::Timestamp => "timestamp",
            FindingType::StringList => "array<string>",
        }
    }
}

/// The loaded, validated findings schema.
#[derive(Debug)]
pub struct FindingsSchema {
    pub columns: Vec<FindingColumn>,
    arrow: SchemaRef,
    fingerprint: String,
}

fn invalid(m: String) -> SchemaError {
    SchemaError::Invalid(format!("findings.toml: {m}"))
}

/// Where a findings column's values come from: a rule's field, or (`event.<name>`) a
/// string or timestamp column of the curated table, with the same type.
fn source_of(c: &RawColumn, table: &TableSchema) -> Result<FindingSource, SchemaError> {
    Ok(match c.from.as_str() {
        "rule.id" => FindingSource::RuleId,
        "rule.title" => FindingSource::RuleTitle,
        "rule.level" => FindingSource::RuleLevel,
        "rule.status" => FindingSource::RuleStatus,
        "rule.tags" => FindingSource::RuleTags,
        other => {
            let name = other
                .strip_prefix("event.")
                .ok_or_else(|| invalid(format!("column {}: unknown `from` {other:?}", c.name)))?;
            let i = table
                .columns
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| invalid(format!("column {}: no curated column {name:?}", c.name)))?;
            let want = match table.columns[i].ty {
                super::ColumnType::Timestamp => FindingType::Timestamp,
                super::ColumnType::String => FindingType::String,
                _ => {
                    return Err(invalid(format!(
                        "column {}: {name} is not a string or timestamp column",
                        c.name
                    )))
                }
            };
            if want != c.ty {
                return Err(invalid(format!(
                    "column {}: type differs from {name}'s",
                    c.name
                )));
            }
            FindingSource::Event(i)
        }
    })
}

impl FindingsSchema {
    /// Parse and check `text` against the curated table it copies event columns from.
    pub fn parse(text: &str, table: &TableSchema) -> Result<Self, SchemaError> {
        let file: RawFile = toml::from_str(text)?;
        let mut columns: Vec<FindingColumn> = Vec::with_capacity(file.column.len());
        for c in file.column {
            let from = source_of(&c, table)?;
            let fits = match from {
                FindingSource::RuleTags => c.ty == FindingType::StringList,
                FindingSource::Event(_) => true,
                _ => c.ty == FindingType::String,
            };
            if !fits {
                return Err(invalid(format!(
                    "column {}: wrong type for {}",
                    c.name, c.from
                )));
            }
            if columns.iter().any(|o| o.name == c.name) {
                return Err(invalid(format!("duplicate column {}", c.name)));
            }
            let arrow = match (from, c.ty) {
                (FindingSource::Event(i), _) => table.columns[i].arrow_type(),
                (_, FindingType::StringList) => {
                    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
                }
                _ => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            };
            columns.push(FindingColumn {
                name: c.name,
                from,
                ty: c.ty,
                dictionary: c.dictionary && c.ty == FindingType::String,
                description: c.description,
                arrow,
            });
        }
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.arrow_type(), true))
                .collect::<Vec<_>>(),
        ));
        let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
        Ok(FindingsSchema {
            columns,
            arrow,
            fingerprint,
        })
    }

    /// The embedded findings schema (parsed once).
    pub fn embedded() -> &'static FindingsSchema {
        static SCHEMA: OnceLock<FindingsSchema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            match FindingsSchema::parse(FINDINGS_TOML, TableSchema::embedded()) {
                Ok(s) => s,
                // Validated by the test suite; a broken edit must not ship.
                Err(e) => panic!("embedded findings schema is invalid: {e}"),
            }
        })
    }

    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// Short hash of the findings schema file (a Glue table parameter).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn catalog_columns(&self) -> Vec<super::render::CatalogColumn<'_>> {
        self.columns
            .iter()
            .map(|c| super::render::CatalogColumn {
                name: &c.name,
                ty: c.glue_type().to_string(),
                comment: &c.description,
            })
            .collect()
    }

    /// Glue `StorageDescriptor.Columns` and `PartitionKeys`, as the Glue API takes them.
    pub fn glue_columns_json(&self) -> String {
        super::render::glue_json(&self.catalog_columns())
    }

    /// Athena statement creating the findings table. Its partitions are the
    /// `_findings/` folders of the curated partitions' current versions, which
    /// change with every build: trailpack registers them (`--glue-database`), so
    /// the table is not meant for partition projection.
    pub fn athena_ddl(&self, opts: &super::DdlOptions) -> String {
        super::render::ddl(&self.catalog_columns(), opts, self.fingerprint())
    }

    /// Markdown column reference.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "# Findings table columns\n\n\
             Generated from `schema/findings.toml` by `trailpack schema --findings --format markdown`.\n\
             One row per (rule, event) match; partitioned by `account`, `region`, `day` like the\n\
             curated table. Join to it on `eventid` (and the partition keys).\n\n\
             | column | type | from | description |\n|---|---|---|---|\n",
        );
        for c in &self.columns {
            let from = match c.from {
                FindingSource::RuleId => "rule id".to_string(),
                FindingSource::RuleTitle => "rule title".to_string(),
                FindingSource::RuleLevel => "rule level".to_string(),
                FindingSource::RuleStatus => "rule status".to_string(),
                FindingSource::RuleTags => "rule tags".to_string(),
                FindingSource::Event(_) => "matched record".to_string(),
            };
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                c.name,
                c.glue_type(),
                from,
                c.description.replace('|', "\\|")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_findings_schema_is_valid() {
        let s = FindingsSchema::parse(FINDINGS_TOML, TableSchema::embedded()).unwrap();
        assert_eq!(s.columns[0].name, "rule_id");
        assert!(s.columns.iter().any(|c| c.from == FindingSource::RuleTags));
    }

    #[test]
    fn unknown_event_column_is_an_error() {
        let text = "[[column]]\nname = \"x\"\nfrom = \"event.nope\"\ntype = \"string\"\ndescription = \"\"\n";
        let e = FindingsSchema::parse(text, TableSchema::embedded()).unwrap_err();
        assert!(e.to_string().contains("no curated column"), "{e}");
    }
}
