//! Text forms derived from the schema: Glue columns (JSON), Athena DDL, Markdown.

use super::{TableSchema, PARTITION_KEYS};

/// Options of the Athena `CREATE EXTERNAL TABLE` statement.
#[derive(Debug, Clone)]
pub struct DdlOptions {
    pub database: String,
    pub table: String,
    /// Table location, e.g. `s3://bucket/curated/`.
    pub location: String,
}

impl Default for DdlOptions {
    fn default() -> Self {
        Self {
            database: "default".into(),
            table: "cloudtrail".into(),
            location: "s3://YOUR-BUCKET/curated/cloudtrail/".into(),
        }
    }
}

/// A column as the catalog forms show it.
pub(super) struct CatalogColumn<'a> {
    pub name: &'a str,
    pub ty: String,
    pub comment: &'a str,
}

fn catalog_columns(schema: &TableSchema) -> Vec<CatalogColumn<'_>> {
    schema
        .columns
        .iter()
        .map(|c| CatalogColumn {
            name: &c.name,
            ty: c.glue_type(),
            comment: &c.description,
        })
        .collect()
}

/// Glue `StorageDescriptor.Columns` and `PartitionKeys`, as the Glue API takes them.
pub fn glue_columns_json(schema: &TableSchema) -> String {
    glue_json(&catalog_columns(schema))
}

/// Athena (Hive DDL) statement creating the curated table.
pub fn athena_ddl(schema: &TableSchema, opts: &DdlOptions) -> String {
    ddl(&catalog_columns(schema), opts, schema.fingerprint())
}

/// The Glue form of a table of `columns`, partitioned by account, region and day.
pub(super) fn glue_json(columns: &[CatalogColumn<'_>]) -> String {
    let columns: Vec<serde_json::Value> = columns
        .iter()
        .map(|c| {
            serde_json::json!({
                "Name": c.name,
                "Type": c.ty,
                "Comment": truncate_comment(c.comment),
            })
        })
        .collect();
    let keys: Vec<serde_json::Value> = PARTITION_KEYS
        .iter()
        .map(|k| serde_json::json!({"Name": k, "Type": "string"}))
        .collect();
    let doc = serde_json::json!({"Columns": columns, "PartitionKeys": keys});
    // Serialising a Value built from strings cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Glue limits a column comment to 255 characters.
fn truncate_comment(s: &str) -> String {
    s.chars().take(255).collect()
}

fn quote_sql(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The Athena statement creating a table of `columns`, partitioned by account,
/// region and day, recording the schema file's `fingerprint`.
pub(super) fn ddl(columns: &[CatalogColumn<'_>], opts: &DdlOptions, fingerprint: &str) -> String {
    let mut out = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`{}` (\n",
        opts.database, opts.table
    );
    let width = columns.iter().map(|c| c.name.len()).max().unwrap_or(0) + 2;
    let n = columns.len();
    for (i, c) in columns.iter().enumerate() {
        let name = format!("`{}`", c.name);
        out.push_str(&format!(
            "  {name:<width$} {} COMMENT '{}'{}\n",
            c.ty,
            quote_sql(&truncate_comment(c.comment)),
            if i + 1 < n { "," } else { "" }
        ));
    }
    let keys: Vec<String> = PARTITION_KEYS
        .iter()
        .map(|k| format!("`{k}` string"))
        .collect();
    let mut location = opts.location.clone();
    if !location.ends_with('/') {
        location.push('/');
    }
    out.push_str(&format!(
        ")\nPARTITIONED BY ({})\nSTORED AS PARQUET\nLOCATION '{}'\nTBLPROPERTIES (\n  'classification'='parquet',\n  'parquet.compression'='ZSTD',\n  'trailpack.schema'='{}'\n);\n",
        keys.join(", "),
        quote_sql(&location),
        fingerprint
    ));
    out
}

/// Markdown column reference (checked in as `schema/COLUMNS.md`).
pub fn markdown(schema: &TableSchema) -> String {
    let mut out = String::from(
        "# Columns of the curated CloudTrail table\n\n\
         Generated from `schema/cloudtrail.toml` by `trailpack schema --format markdown`; \
         do not edit by hand.\n\n\
         Partition keys (folder names, not columns inside the files): \
         `account`, `region`, `day` (all `string`; `day` is `YYYY-MM-DD`).\n\n\
         | column | Athena type | JSON path | description |\n|---|---|---|---|\n",
    );
    for c in &schema.columns {
        let path = if c.path.is_empty() {
            "(any)".to_string()
        } else {
            format!("`{}`", c.path)
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            c.name,
            c.glue_type(),
            path,
            c.description.replace('|', "\\|")
        ));
    }
    out
}
