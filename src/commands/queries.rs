//! `trailpack queries`: the Athena query pack.

use std::process::ExitCode;

use clap::Subcommand;

use super::UsageError;
use crate::queries;

pub fn run(cmd: &QueriesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        QueriesCommand::List => {
            let all = queries::all()?;
            let width = all.iter().map(|q| q.name.len()).max().unwrap_or(0);
            for q in all {
                println!("{:<width$}  {} — {}", q.name, q.title, q.answers);
            }
        }
        QueriesCommand::Show { name, params } => {
            let q = queries::get(name).map_err(|e| UsageError(e.to_string()))?;
            let mut overrides = Vec::new();
            for p in params {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| UsageError(format!("--param {p:?}: expected NAME=VALUE")))?;
                overrides.push((k.trim().to_string(), v.trim().to_string()));
            }
            let today = time::OffsetDateTime::now_utc().date();
            let sql = q
                .render(&overrides, today)
                .map_err(|e| UsageError(e.to_string()))?;
            print!("{sql}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum QueriesCommand {
    /// List the queries with what each answers.
    List,
    /// Print a query, parameters filled in (defaults unless given with --param).
    Show {
        /// Query name (see `trailpack queries list`).
        name: String,
        /// Parameter value, e.g. --param from_day=2024-03-01 (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
}
