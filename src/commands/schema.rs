//! `trailpack schema`: print the schema in a derived form.

use std::process::ExitCode;

use crate::schema::{
    athena_ddl, glue_columns_json, markdown, DdlOptions, FindingsSchema, TableSchema,
};
use clap::{Args, ValueEnum};

/// The compatibility view template (`schema/athena-compat-view.sql`).
pub const COMPAT_VIEW: &str = include_str!("../../schema/athena-compat-view.sql");

pub fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    print!("{}", render(args));
    Ok(ExitCode::SUCCESS)
}

/// The text `trailpack schema` prints for `args`.
pub fn render(args: &SchemaArgs) -> String {
    if args.findings {
        return render_findings(args);
    }
    let schema = TableSchema::embedded();
    match args.format {
        SchemaFormat::Arrow => arrow_text(schema),
        SchemaFormat::GlueJson => glue_columns_json(schema),
        SchemaFormat::AthenaDdl => {
            let mut opts = DdlOptions {
                database: args.database.clone(),
                table: args.table.clone(),
                ..DdlOptions::default()
            };
            if let Some(l) = &args.location {
                opts.location = l.clone();
            }
            athena_ddl(schema, &opts)
        }
        SchemaFormat::Markdown => markdown(schema),
        SchemaFormat::AthenaCompatView => COMPAT_VIEW
            .replace(
                "{{view}}",
                &format!("\"{}\".\"{}_compat\"", args.database, args.table),
            )
            .replace(
                "{{table}}",
                &format!("\"{}\".\"{}\"", args.database, args.table),
            ),
    }
}

/// The findings table's forms (`--findings`).
fn render_findings(args: &SchemaArgs) -> String {
    let f = FindingsSchema::embedded();
    match args.format {
        SchemaFormat::Arrow => f
            .arrow_schema()
            .fields()
            .iter()
            .map(|c| format!("{}: {}\n", c.name(), c.data_type()))
            .collect(),
        SchemaFormat::GlueJson => f.glue_columns_json(),
        SchemaFormat::AthenaDdl => {
            let mut opts = DdlOptions {
                database: args.database.clone(),
                table: if args.table == "cloudtrail" {
                    "cloudtrail_findings".to_string()
                } else {
                    args.table.clone()
                },
                ..DdlOptions::default()
            };
            if let Some(l) = &args.location {
                opts.location = l.clone();
            }
            f.athena_ddl(&opts)
        }
        SchemaFormat::Markdown => f.markdown(),
        SchemaFormat::AthenaCompatView => {
            "-- the compatibility view is for the curated table only\n".to_string()
        }
    }
}

fn arrow_text(schema: &TableSchema) -> String {
    schema
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}\n", f.name(), f.data_type()))
        .collect()
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = SchemaFormat::Markdown)]
    pub format: SchemaFormat,

    /// The findings table (`--rules`) instead of the curated one.
    #[arg(long)]
    pub findings: bool,

    /// Table location for athena-ddl (the curated output prefix).
    #[arg(long, value_name = "S3_URI")]
    pub location: Option<String>,

    /// Database name for athena-ddl and athena-compat-view.
    #[arg(long, default_value = "default")]
    pub database: String,

    /// Table name for athena-ddl and athena-compat-view (the view is `<table>_compat`).
    #[arg(long, default_value = "cloudtrail")]
    pub table: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// The Arrow schema of the data files.
    Arrow,
    /// Glue StorageDescriptor columns and partition keys (JSON).
    GlueJson,
    /// Athena CREATE EXTERNAL TABLE statement.
    AthenaDdl,
    /// Athena CREATE VIEW presenting the table like AWS's documented CloudTrail table.
    AthenaCompatView,
    /// Markdown column reference.
    Markdown,
}
