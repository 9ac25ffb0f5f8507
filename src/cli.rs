//! Command-line interface: argument definitions, logging set-up, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  partial failure: some partitions failed (the others were published) or the run could not finish
  2  usage or configuration error (nothing was done)

Run `trailpack convert --help` for the input layout and the day rule.";

const CONVERT_AFTER_HELP: &str = "\
Input layout (any root works: the folder holding AWSLogs, AWSLogs itself, or deeper):
  AWSLogs/[o-<orgid>/]<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/<file>.json.gz
  CloudTrail-NetworkActivity/ and CloudTrail-Insight/ folders are converted too;
  CloudTrail-Digest/ files and ConfigWritabilityCheckFile objects are skipped and counted.
  Files may be gzip (detected by content) or plain JSON: {\"Records\":[...]}.

Output layout (Hive-style; readers that skip names starting with _ or . see only data):
  <output>/account=<id>/region=<region>/day=<YYYY-MM-DD>/part-00000.parquet
  <output>/account=<id>/region=<region>/day=<YYYY-MM-DD>/_trailpack.json   (manifest)
  One zstd Parquet file per partition (split beyond --target-file-size), rows sorted by
  eventtime within each row group. A partition is published atomically; a failed
  partition keeps its previous version. Re-runs skip partitions whose inputs did not
  change (see the manifest); --force rebuilds them.

Day rule (partition day = UTC date of eventTime):
  CloudTrail files a record under its delivery time, so the last minutes of day D arrive
  in folder D+1. A record found in folder F whose eventTime is on day F-1 goes to
  partition F-1 when its file's name time is within --late-window after midnight of F.
  Every other record stays in partition F. So building day D also reads the early files
  of folder D+1. No record is dropped or written twice.

Examples:
  trailpack convert --input samples --output out
  trailpack convert --input /logs --output /curated --day 2024-03-05 --account 111122223333
  trailpack convert --input /logs --output /curated --from 2024-01-01 --to 2024-01-31 --json";

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

    /// More log output (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// TOML file of options (keys are the long option names, e.g. late-window = "2h").
    /// Precedence: command-line flag > TRAILPACK_* environment variable > this file >
    /// default. An unknown key is an error.
    #[arg(long, global = true, value_name = "FILE", env = "TRAILPACK_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metrics {
    None,
    Emf,
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
    /// Print the table schema as Arrow, Glue JSON, Athena DDL, a compatibility view or Markdown.
    Schema(SchemaArgs),
    /// The Athena query pack: list the queries, or print one with parameters filled in.
    #[command(subcommand)]
    Queries(QueriesCommand),
    /// Print the least-privilege IAM policy for a run over S3 and Glue (JSON).
    #[command(after_help = IAM_POLICY_AFTER_HELP)]
    IamPolicy(IamPolicyArgs),
}

const IAM_POLICY_AFTER_HELP: &str = "\
The policy grants exactly the S3 and Glue actions trailpack calls (one list in the code,
checked against its SDK calls): ListBucket limited to the input and output prefixes,
GetObject on the input, Get/Put/DeleteObject and AbortMultipartUpload on the output, the
Glue actions on the catalog, database and table (no partition actions with
--glue-projection), and KMS for the given keys. Local folders need no statement.

The options read the same TRAILPACK_* environment variables as convert/daily/backfill,
so in a configured task `trailpack iam-policy` prints the policy of its own run.

Example:
  trailpack iam-policy --input s3://my-org-trail/AWSLogs/ --output s3://my-lake/cloudtrail/ \\
    --glue-database security --aws-region eu-west-1 --account-id 111122223333 \\
    --trail-kms-key arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// CloudTrail logs the run reads (s3://bucket/prefix; a folder adds nothing).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub input: Option<String>,

    /// Curated output the run writes (s3://bucket/prefix; a folder adds nothing).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub output: Option<String>,

    #[command(flatten)]
    pub glue: GlueArgs,

    /// Region of the Glue catalog (default: any, `*`).
    #[arg(long, value_name = "REGION", default_value = "*")]
    pub aws_region: String,

    /// AWS account of the Glue catalog (default: any, `*`).
    #[arg(long, value_name = "ID", default_value = "*")]
    pub account_id: String,

    /// AWS partition of the ARNs.
    #[arg(long, value_name = "PARTITION", default_value = "aws")]
    pub aws_partition: String,

    /// KMS key ARN the trail is encrypted with (kms:Decrypt; repeatable).
    #[arg(long, value_name = "ARN")]
    pub trail_kms_key: Vec<String>,

    /// KMS key ARN the run encrypts written objects with (kms:GenerateDataKey, kms:Decrypt).
    #[arg(long, value_name = "ARN")]
    pub sse_kms_key_id: Option<String>,
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

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Only this partition day (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
    pub day: Option<String>,

    /// First partition day to build (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,

    /// Last partition day to build (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct DailyArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Also re-check this many days before yesterday for late or changed files (only
    /// partitions whose inputs changed are rebuilt).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub lookback_days: u32,

    /// Also build today's (incomplete) partition; a later run completes it.
    #[arg(long)]
    pub include_today: bool,

    /// The current time, for tests and reruns (RFC 3339, e.g. 2024-03-06T01:30:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// First partition day (default: 90 days before --to).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,

    /// Last partition day (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,

    /// Build only shard I of N (0-based): a stable split of the partitions by
    /// account/region/day, so N workers share a backfill with no overlap and no gap.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// The current time, for tests and reruns (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// Options shared by convert, daily and backfill.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// CloudTrail logs: a folder or s3://bucket/prefix (holding AWSLogs/, AWSLogs/
    /// itself, or deeper).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub input: String,

    /// Where to write the curated dataset: a folder (created if missing) or
    /// s3://bucket/prefix.
    #[arg(long, value_name = "DIR|S3_URI")]
    pub output: String,

    /// Only this account ID (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,

    /// Only this AWS region, e.g. us-east-1 (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,

    /// How long after midnight a file may still carry the previous day's late records
    /// (e.g. 2h, 90m, 0 to turn the day rule off; at most 24h).
    #[arg(long, value_name = "DURATION", default_value = "2h")]
    pub late_window: String,

    /// Worker threads for decoding and encoding (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Partitions built at the same time.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel_partitions: usize,

    /// Split a partition's data into several files beyond this size.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub target_file_size: String,

    /// Reject an input file whose decompressed size exceeds this (gzip bombs).
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub max_file_bytes: String,

    /// In-memory size of a row group before it is sorted and written; bounds memory.
    #[arg(long, value_name = "SIZE", default_value = "32MiB")]
    pub row_group_size: String,

    /// zstd compression level of the Parquet output (1-22; higher is smaller and slower).
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    pub zstd_level: i32,

    /// Show what would be built, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Rebuild partitions even when their inputs did not change.
    #[arg(long)]
    pub force: bool,

    /// Publish a partition without its undecodable files (listed in the manifest
    /// and the summary) instead of failing it.
    #[arg(long)]
    pub skip_bad_files: bool,

    /// Print the summary as JSON on standard output (indented on a terminal, one line
    /// otherwise, e.g. for a log collector).
    #[arg(long)]
    pub json: bool,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Delete curated partitions whose day is more than N days before today (UTC):
    /// data, manifest and Glue partition. Never touches the CloudTrail input. With
    /// --dry-run, lists what would be deleted.
    #[arg(long, value_name = "N")]
    pub retain_days: Option<u32>,

    /// Print run metrics for CloudWatch: `emf` writes one Embedded Metric Format line
    /// to standard error (records, bytes in/out, partitions written/unchanged/failed,
    /// bad files, duration), which Fargate's log driver turns into metrics.
    #[arg(long, value_enum, default_value_t = Metrics::None)]
    pub metrics: Metrics,

    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(flatten)]
    pub glue: GlueArgs,
}

/// The AWS Glue table that makes the output queryable in Athena.
#[derive(Debug, Args)]
#[command(next_help_heading = "Glue catalog (needs an s3:// --output)")]
pub struct GlueArgs {
    /// Register the output in this Glue database (created if missing).
    #[arg(long, value_name = "DB")]
    pub glue_database: Option<String>,

    /// Glue table name (created if missing; missing columns are added).
    #[arg(
        long,
        value_name = "TABLE",
        default_value = "cloudtrail",
        requires = "glue_database"
    )]
    pub glue_table: String,

    /// Use partition projection instead of registering partitions (Athena only; no
    /// partition API calls; account and region kept as enums of what was written).
    #[arg(long, requires = "glue_database")]
    pub glue_projection: bool,

    /// With --glue-projection: account and region are `injected` (queries must
    /// give them) instead of enums.
    #[arg(long, requires = "glue_projection")]
    pub glue_projection_injected: bool,
}

/// AWS settings, used when an input or output is on S3.
#[derive(Debug, Args)]
#[command(next_help_heading = "AWS (for s3:// locations)")]
pub struct AwsArgs {
    /// Named profile from the AWS config files (default: the usual credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region for API calls (default: AWS_REGION or the profile's region). Not to
    /// be confused with --region, which filters CloudTrail regions.
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,

    /// Endpoint of an S3/Glue-compatible service (AWS_ENDPOINT_URL also works).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Path-style S3 addressing (for S3-compatible stores).
    #[arg(long)]
    pub s3_force_path_style: bool,

    /// Concurrent S3 downloads.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_concurrent_requests: usize,

    /// Encrypt written objects with this KMS key (SSE-KMS); default SSE-S3.
    #[arg(long, value_name = "KEY_ID|ARN")]
    pub sse_kms_key_id: Option<String>,

    /// Local folder for data files before they are uploaded to S3.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Upload files larger than this in parts (multipart upload).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", hide = true)]
    pub s3_multipart_threshold: String,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = SchemaFormat::Markdown)]
    pub format: SchemaFormat,

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

/// A usage or configuration error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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
    use clap::parser::ValueSource;
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
    let text = std::fs::read_to_string(&path)
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
    let mut extra: Vec<std::ffi::OsString> = Vec::new();
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
        let scalar = |v: &toml::Value| -> Result<Option<String>, UsageError> {
            match v {
                toml::Value::String(s) => Ok(Some(s.clone())),
                toml::Value::Integer(i) => Ok(Some(i.to_string())),
                toml::Value::Float(f) => Ok(Some(f.to_string())),
                toml::Value::Boolean(true) => Ok(None),
                _ => Err(UsageError(format!(
                    "--config {}: {key:?} has an unsupported value",
                    path.display()
                ))),
            }
        };
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            toml::Value::Boolean(false) => Vec::new(),
            v => vec![v],
        };
        for v in values {
            match scalar(v)? {
                Some(s) => extra.push(format!("--{long}={s}").into()),
                None => extra.push(format!("--{long}").into()),
            }
        }
    }
    let mut all = argv;
    all.extend(extra);
    full(&all)
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
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
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

/// Parse a byte size: `1048576`, `64KiB`, `256MiB`, `1GiB`, `10MB`, `2G`.
pub fn parse_size(s: &str) -> Result<u64, UsageError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| UsageError(format!("invalid size {s:?} (e.g. 256MiB)")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => {
            return Err(UsageError(format!(
                "invalid size unit in {s:?} (use KiB, MiB, GiB)"
            )))
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| UsageError(format!("invalid size {s:?}")))
}

/// Parse a duration: `0`, `90s`, `90m`, `2h`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<time::Duration, UsageError> {
    let bad = || UsageError(format!("invalid duration {s:?} (e.g. 2h, 90m, 0)"));
    let t = s.trim();
    if t == "0" {
        return Ok(time::Duration::ZERO);
    }
    let mut total = 0i64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(time::Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("2h").unwrap(), time::Duration::hours(2));
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(parse_duration("0").unwrap(), time::Duration::ZERO);
        assert!(parse_duration("2 days").is_err());
        assert!(parse_duration("15").is_err());
    }
}
