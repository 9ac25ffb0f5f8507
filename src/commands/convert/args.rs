//! The arguments of `convert`, `daily` and `backfill`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

pub const CONVERT_AFTER_HELP: &str = "\
Input layout (any root works: the folder holding AWSLogs, AWSLogs itself, or deeper):
  AWSLogs/[o-<orgid>/]<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/<file>.json.gz
  CloudTrail-NetworkActivity/ and CloudTrail-Insight/ folders are converted too;
  CloudTrail-Digest/ files are not converted; with --verify-digests each input is checked
  against them (status in the manifest; `trailpack verify --help` explains the statuses).
  ConfigWritabilityCheckFile objects are skipped and counted.
  Files may be gzip (detected by content) or plain JSON: {\"Records\":[...]}.

Output layout (Hive-style; readers that skip names starting with _ or . see only data):
  <output>/account=<id>/region=<region>/day=<YYYY-MM-DD>/part-00000.parquet
  <output>/account=<id>/region=<region>/day=<YYYY-MM-DD>/_trailpack.json   (manifest)
  (on S3 the data files sit in a folder per build: day=<YYYY-MM-DD>/<build>/part-….parquet)
  One zstd Parquet file per partition (split beyond --target-file-size), rows sorted by
  eventtime within each row group; each row names its source object (source_object).
  A partition is published by a conditional commit of its manifest: readers see one
  whole version, concurrent runs never mix; a failed partition keeps its previous
  version. Re-runs skip partitions that hold every listed input (see the manifest);
  --force rebuilds them. Rows of inputs no longer listed (expired raw logs, another
  trail) are kept by any rebuild; --drop-vanished drops them on purpose.

Day rule (partition day = UTC date of eventTime):
  CloudTrail files a record under its delivery time, so the last minutes of day D arrive
  in folder D+1. A record found in folder F whose eventTime is on day F-1 goes to
  partition F-1 when its file's name time is within --late-window after midnight of F.
  Every other record stays in partition F. So building day D also reads the early files
  of folder D+1, and a run that builds D+1 also commits D when D+1's early files are new
  to D. No record is dropped or written twice. The window is fixed per output: another
  --late-window is refused (exit 2).

Examples:
  trailpack convert --input samples --output out
  trailpack convert --input /logs --output /curated --day 2024-03-05 --account 111122223333
  trailpack convert --input /logs --output /curated --from 2024-01-01 --to 2024-01-31 --json
  trailpack convert --input s3://org-trail/ --output s3://lake/ct/ --day 2024-03-05 --verify-digests";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metrics {
    None,
    Emf,
}

/// Which partitions the `--json` summary lists one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonPartitions {
    /// Every partition but the unchanged ones (the totals count those).
    Changed,
    /// Every partition of the run.
    All,
}

/// `--on-tampered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnTamperedArg {
    Keep,
    Skip,
    Fail,
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

    /// Sigma rules to evaluate on every record: a .yml file or a folder of them
    /// (repeatable). Only rules for `product: aws, service: cloudtrail` are loaded.
    /// Each partition's findings are published with it, in `_findings/` below its
    /// data (a rebuild replaces them), and counted in the summary.
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<std::path::PathBuf>,

    /// Check every input against CloudTrail's digest files (log file integrity
    /// validation): each input's status (valid, hash-chained, unproven, not-covered,
    /// modified) goes into the partition's manifest, the summary, --json and the
    /// metrics; a modified or deleted file, a broken digest chain or a bad signature
    /// makes the run exit 1. Hashing adds a few per cent of CPU.
    #[arg(long, env = "TRAILPACK_VERIFY_DIGESTS")]
    pub verify_digests: bool,

    /// With --verify-digests, what to do with a file a digest lists with another
    /// SHA-256: keep its rows (default), skip it (its rows are left out and the
    /// manifest says why) or fail its partition (the previous version stays).
    #[arg(
        long,
        value_name = "POLICY",
        value_enum,
        default_value = "keep",
        requires = "verify_digests"
    )]
    pub on_tampered: OnTamperedArg,

    /// With --verify-digests: CloudTrail's public keys, as `aws cloudtrail
    /// list-public-keys` prints them. Default on S3: asked of CloudTrail
    /// (ListPublicKeys) for each digest region.
    #[arg(
        long,
        value_name = "FILE",
        env = "TRAILPACK_PUBLIC_KEYS",
        requires = "verify_digests"
    )]
    pub public_keys: Option<std::path::PathBuf>,

    /// Exit with code 3 when a partition of the run has a finding at or above this
    /// level (with --rules); otherwise findings never change the exit code.
    #[arg(long, value_name = "LEVEL", value_enum, requires = "rules")]
    pub fail_on: Option<crate::commands::LevelArg>,

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

    /// Bytes of decoded values gathered into a row group before it is sorted and
    /// written; bounds memory.
    #[arg(long, value_name = "SIZE", default_value = "32MiB")]
    pub row_group_size: String,

    /// Memory for one partition's de-duplication table; a partition expected to need
    /// more is de-duplicated on disk (sorted runs in --temp-dir), so memory stays flat
    /// at any partition size.
    #[arg(long, value_name = "SIZE", default_value = "32MiB")]
    pub dedup_memory: String,

    /// Most Arrow memory a row group gathers from several inputs before a large one
    /// starts its own (at most 1GiB; string columns must stay under 2 GiB). For tests.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", hide = true)]
    pub row_group_hard_limit: String,

    /// zstd compression level of the Parquet output (1-22; higher is smaller and slower).
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    pub zstd_level: i32,

    /// Show what would be built, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Rebuild partitions even when their inputs did not change. Rows of inputs that
    /// are no longer listed (expired raw logs, another trail) are kept.
    #[arg(long)]
    pub force: bool,

    /// Rebuild partitions some of whose inputs are no longer listed, without the
    /// rows read from those inputs: shrinks the curated data on purpose (by default
    /// their rows are kept when a partition is rebuilt).
    #[arg(long)]
    pub drop_vanished: bool,

    /// How long a replaced version of an S3 partition is kept for queries already
    /// reading it (with registered Glue partitions), and how old an abandoned
    /// build's files must be before they are deleted.
    #[arg(long, value_name = "DURATION", default_value = "6h")]
    pub gc_grace: String,

    /// Publish a partition without its undecodable files (listed in the manifest
    /// and the summary) instead of failing it.
    #[arg(long)]
    pub skip_bad_files: bool,

    /// Print the summary as JSON on standard output (indented on a terminal, one line
    /// otherwise, e.g. for a log collector).
    #[arg(long)]
    pub json: bool,

    /// Partitions listed one by one in the --json summary: `changed` (written,
    /// failed, empty, kept, built elsewhere, would build; a nightly run over an
    /// organisation stays a few KB) or `all` (unchanged ones too).
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = JsonPartitions::Changed)]
    pub json_partitions: JsonPartitions,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Delete curated partitions whose day is more than N days before today (UTC):
    /// data, manifest and Glue partition. Never touches the CloudTrail input. With
    /// --dry-run, lists what would be deleted. Not applied by `backfill` (its shards
    /// run many at once): the nightly `daily` run applies it.
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

    /// With --rules: the Glue table of the findings (created if missing; each
    /// partition's findings registered as its partition). Default: <glue-table>_findings.
    #[arg(long, value_name = "TABLE", requires = "glue_database")]
    pub glue_findings_table: Option<String>,

    /// Use partition projection instead of registering partitions (Athena only; no
    /// partition API calls; account and region kept as enums of what was written).
    #[arg(long, requires = "glue_database")]
    pub glue_projection: bool,

    /// With --glue-projection: account and region are `injected` (queries must
    /// give them) instead of enums.
    #[arg(long, requires = "glue_projection")]
    pub glue_projection_injected: bool,
}

impl AwsArgs {
    /// The AWS connection these options describe.
    pub fn options(&self) -> crate::aws::AwsOptions {
        crate::aws::AwsOptions {
            profile: self.profile.clone(),
            region: self.aws_region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.s3_force_path_style,
            max_concurrent_requests: self.max_concurrent_requests,
        }
    }

    /// Connect (at least one request at a time); a bad setting is a usage error.
    pub fn connect(&self) -> Result<crate::aws::Aws, crate::commands::UsageError> {
        crate::aws::Aws::connect(crate::aws::AwsOptions {
            max_concurrent_requests: self.max_concurrent_requests.max(1),
            ..self.options()
        })
        .map_err(|e| crate::commands::UsageError(e.to_string()))
    }
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

    /// S3 downloads in flight (and, separately, listings): CloudTrail files are small,
    /// so per-request latency, not bandwidth, bounds reading them.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_concurrent_requests: usize,

    /// Encrypt written objects with this KMS key (SSE-KMS); default SSE-S3.
    #[arg(long, value_name = "KEY_ID|ARN")]
    pub sse_kms_key_id: Option<String>,

    /// Local folder for temporary files: data files before they are uploaded to S3,
    /// on-disk de-duplication of very large partitions.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Upload files larger than this in parts (multipart upload).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", hide = true)]
    pub s3_multipart_threshold: String,
}
