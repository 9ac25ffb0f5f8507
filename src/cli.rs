//! Command-line interface: argument definitions, logging set-up, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::commands::convert::{BackfillArgs, ConvertArgs, DailyArgs, CONVERT_AFTER_HELP};
use crate::commands::detect::{DetectArgs, DETECT_AFTER_HELP};
use crate::commands::iam_policy::{IamPolicyArgs, IAM_POLICY_AFTER_HELP};
use crate::commands::queries::QueriesCommand;
use crate::commands::schema::SchemaArgs;
use crate::commands::verify::{VerifyArgs, VERIFY_AFTER_HELP};
pub use crate::commands::UsageError;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  partial failure: some partitions failed (the others were published), the run could not
     finish, or --verify-digests found tampering (modified or deleted files, a broken digest
     chain, a bad signature); verify: something in range is not proven
  2  usage or configuration error (nothing was done), including a malformed --rules file
  3  findings at or above --fail-on LEVEL (convert, daily, backfill, detect; with --rules)
  4  interrupted by SIGTERM/SIGINT: stopped early; every partition published is whole, the
     rest kept their previous version; run again to finish

Run `trailpack convert --help` for the input layout and the day rule.";

/// Convert AWS CloudTrail logs into compacted, sorted, query-ready Parquet.
///
/// trailpack reads CloudTrail's gzipped JSON files, flattens userIdentity into
/// columns, keeps loose structures (requestParameters, responseElements, ...) as
/// exact JSON text, and writes one zstd Parquet file per account/region/day.
/// Nothing is lost: fields the schema does not know go to the `unmapped` column.
#[derive(Debug, Parser)]
#[command(name = "trailpack", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log output (-v: info, -vv: trailpack's debug messages; the AWS SDK stays
    /// at info, so no credentials are ever logged). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// TOML file of options (keys are the long option names, e.g. late-window = "2h").
    /// Precedence: command-line flag > TRAILPACK_* environment variable > this file >
    /// default. An unknown key is an error.
    #[arg(long, global = true, value_name = "FILE", env = "TRAILPACK_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert CloudTrail log files into curated Parquet partitions.
    #[command(after_help = CONVERT_AFTER_HELP)]
    Convert(Box<ConvertArgs>),
    /// The nightly job: convert yesterday (UTC) for every account and region found,
    /// and re-check the previous --lookback-days for late or changed files.
    Daily(Box<DailyArgs>),
    /// Convert a range of days (default: the last 90), newest first; resumable by
    /// running it again, and splittable across workers with --shard I/N.
    Backfill(Box<BackfillArgs>),
    /// Run Sigma detection rules over a curated dataset or raw CloudTrail logs and
    /// print or write the findings.
    #[command(after_help = DETECT_AFTER_HELP)]
    Detect(Box<DetectArgs>),
    /// Check log files against CloudTrail's digest files (integrity validation) and
    /// report each file's status by account, region and day.
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(Box<VerifyArgs>),
    /// Print the table schema as Arrow, Glue JSON, Athena DDL, a compatibility view or Markdown.
    Schema(SchemaArgs),
    /// The Athena query pack: list the queries, or print one with parameters filled in.
    #[command(subcommand)]
    Queries(QueriesCommand),
    /// Print the least-privilege IAM policy for a run over S3 and Glue (JSON).
    #[command(after_help = IAM_POLICY_AFTER_HELP)]
    IamPolicy(IamPolicyArgs),
}

/// The command line with a `TRAILPACK_<OPTION>` environment variable for every long
/// option of every subcommand (e.g. `TRAILPACK_LATE_WINDOW=90m`).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            let longs: Vec<(clap::Id, String)> = sub
                .get_arguments()
                .filter_map(|a| a.get_long().map(|l| (a.get_id().clone(), l.to_string())))
                .filter(|(_, l)| {
                    !matches!(l.as_str(), "help" | "config" | "log-format" | "verbose")
                })
                .collect();
            for (id, long) in longs {
                let var = format!("TRAILPACK_{}", long.to_uppercase().replace('-', "_"));
                sub = sub.mut_arg(id, |a| a.env(var));
            }
            sub
        });
    }
    cmd
}

/// Parse `argv`, folding in the `--config` file: its values are added as options
/// unless the same option came from the command line or the environment.
pub fn parse(argv: Vec<std::ffi::OsString>) -> Result<Cli, UsageError> {
    use clap::FromArgMatches;
    let full = |argv: &[std::ffi::OsString]| {
        let matches = command()
            .try_get_matches_from(argv)
            .unwrap_or_else(|e| e.exit());
        Cli::from_arg_matches(&matches).map_err(|e| UsageError(e.to_string()))
    };
    // First pass, lenient: options the file will supply may be missing yet.
    let Ok(matches) = command().ignore_errors(true).try_get_matches_from(&argv) else {
        return full(&argv);
    };
    let Some((sub_name, sub)) = matches.subcommand() else {
        return full(&argv);
    };
    let Some(path) = sub.get_one::<PathBuf>("config").cloned() else {
        return full(&argv);
    };
    let extra = config_arguments(&path, sub_name, sub)?;
    let mut all = argv;
    all.extend(extra);
    full(&all)
}

/// The options the `--config` file at `path` gives `trailpack <sub_name>`, as
/// command-line arguments to append; an option already set on the command line or
/// in the environment (`sub`) keeps that value. An unknown key is an error that
/// lists the accepted ones.
fn config_arguments(
    path: &std::path::Path,
    sub_name: &str,
    sub: &clap::ArgMatches,
) -> Result<Vec<std::ffi::OsString>, UsageError> {
    use clap::parser::ValueSource;
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("--config {}: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| UsageError(format!("--config {}: {e}", path.display())))?;
    let cmd = command();
    let sub_cmd = cmd
        .find_subcommand(sub_name)
        .ok_or_else(|| UsageError(format!("unknown subcommand {sub_name}")))?;
    let accepted: Vec<(&clap::Arg, &str)> = sub_cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| (a, l)))
        .filter(|(_, l)| !matches!(*l, "help" | "config"))
        .collect();
    let mut extra = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some((arg, long)) = accepted.iter().find(|(_, l)| *l == long) else {
            let mut names: Vec<&str> = accepted.iter().map(|(_, l)| *l).collect();
            names.sort_unstable();
            return Err(UsageError(format!(
                "--config {}: unknown key {key:?} for `trailpack {sub_name}`; accepted keys: {}",
                path.display(),
                names.join(", ")
            )));
        };
        if matches!(
            sub.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        extra.extend(option_arguments(long, value).ok_or_else(|| {
            UsageError(format!(
                "--config {}: {key:?} has an unsupported value",
                path.display()
            ))
        })?);
    }
    Ok(extra)
}

/// A config entry as arguments: `--long=value` per value (an array repeats the
/// option), `true` the bare flag, `false` nothing. `None` for a value that is not a
/// string, number or boolean.
fn option_arguments(long: &str, value: &toml::Value) -> Option<Vec<std::ffi::OsString>> {
    let values: Vec<&toml::Value> = match value {
        toml::Value::Array(items) => items.iter().collect(),
        toml::Value::Boolean(false) => Vec::new(),
        v => vec![v],
    };
    values
        .into_iter()
        .map(|v| {
            let arg = match v {
                toml::Value::String(s) => format!("--{long}={s}"),
                toml::Value::Integer(i) => format!("--{long}={i}"),
                toml::Value::Float(f) => format!("--{long}={f}"),
                toml::Value::Boolean(true) => format!("--{long}"),
                _ => return None,
            };
            Some(arg.into())
        })
        .collect()
}

/// Parse the command line, run it, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("trailpack: error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(cli.log_format, cli.verbose);
    let result = match &cli.command {
        Command::Convert(args) => commands::convert::convert(args),
        Command::Daily(args) => commands::convert::daily(args),
        Command::Backfill(args) => commands::convert::backfill(args),
        Command::Detect(args) => commands::detect::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Queries(cmd) => commands::queries::run(cmd),
        Command::IamPolicy(args) => commands::iam_policy::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
            eprintln!("trailpack: error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // The AWS SDK's own debug logs can show credentials (access key IDs in signing
    // and credential-provider traces): every verbosity keeps them at `info`. Only
    // an explicit RUST_LOG shows them.
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "info,trailpack=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Config values as arguments: scalars as `--key=value`, arrays repeated, `true`
    /// the bare flag, `false` nothing; anything else is refused.
    #[test]
    fn config_values_become_arguments() {
        let args = |v: toml::Value| {
            option_arguments("k", &v).map(|a| {
                a.into_iter()
                    .map(|s| s.into_string().unwrap())
                    .collect::<Vec<_>>()
            })
        };
        let v = |text: &str| text.parse::<toml::Table>().unwrap()["v"].clone();
        assert_eq!(args(v("v = \"1h\"")), Some(vec!["--k=1h".into()]));
        assert_eq!(args(v("v = 4")), Some(vec!["--k=4".into()]));
        assert_eq!(args(v("v = 0.5")), Some(vec!["--k=0.5".into()]));
        assert_eq!(args(v("v = true")), Some(vec!["--k".into()]));
        assert_eq!(args(v("v = false")), Some(vec![]));
        assert_eq!(
            args(v("v = [\"a\", \"b\"]")),
            Some(vec!["--k=a".into(), "--k=b".into()])
        );
        assert_eq!(args(v("v = { a = 1 }")), None);
        assert_eq!(args(v("v = [[1]]")), None);
        assert_eq!(args(v("v = 2024-03-05")), None);
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
