//! `trailpack queries`: the Athena query pack.

use std::process::ExitCode;

use crate::cli::{QueriesCommand, UsageError};
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
