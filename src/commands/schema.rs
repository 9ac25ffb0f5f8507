//! `trailpack schema`: print the schema in a derived form.

use std::process::ExitCode;

use crate::cli::{SchemaArgs, SchemaFormat};
use crate::schema::{athena_ddl, glue_columns_json, markdown, DdlOptions, TableSchema};

/// The compatibility view template (`schema/athena-compat-view.sql`).
pub const COMPAT_VIEW: &str = include_str!("../../schema/athena-compat-view.sql");

pub fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    print!("{}", render(args));
    Ok(ExitCode::SUCCESS)
}

/// The text `trailpack schema` prints for `args`.
pub fn render(args: &SchemaArgs) -> String {
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

fn arrow_text(schema: &TableSchema) -> String {
    schema
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}\n", f.name(), f.data_type()))
        .collect()
}
