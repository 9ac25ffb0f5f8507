//! `trailpack detect`: run Sigma rules over a curated dataset (only the columns
//! the rules read) or over raw CloudTrail logs, print the findings and/or write
//! them as a findings table.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use clap::{Args, ValueEnum};

use super::convert::AwsArgs;
use super::{load_rules, parse_size, FilterArgs, LevelArg, UsageError, FINDINGS_EXIT};
use crate::catalog::glue::GlueCatalog;
use crate::catalog::{Catalog, CatalogReport, PartitionLocation};
use crate::detect::event::rfc3339;
use crate::location::Location;
use crate::progress::Progress;
use crate::sink::local::LocalSink;
use crate::sink::s3::{Encryption, S3Sink};
use crate::sink::{Sink, DATASET_NAME};
use crate::source::local::LocalSource;
use crate::source::s3::S3Source;
use crate::sweep::{self, PartitionFindings, SweepReport};

pub const DETECT_AFTER_HELP: &str = "\
Input:
  A curated dataset written by `trailpack convert` (it holds _trailpack_dataset.json or
  account=…/ folders) is read partition by partition, only the columns the rules need.
  Anything else is read as raw CloudTrail logs (the layout `convert` reads), decoded
  on the fly: for incident response on logs handed over as an archive.

Rules:
  Sigma YAML files or folders; rules whose logsource is product: aws, service:
  cloudtrail are loaded, others are counted and left out. Correlation rules are
  skipped with a warning naming them; a malformed file is an error (exit 2).
  Field names are CloudTrail's JSON paths, e.g. userIdentity.type,
  requestParameters.bucketName, responseElements.ConsoleLogin.

Examples:
  trailpack detect --rules sigma/rules/cloud/aws/cloudtrail --input samples --print
  trailpack detect --rules rules/ --input s3://lake/cloudtrail/ --from 2024-01-01 \\
      --output s3://lake/findings/ --fail-on high";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrintFormat {
    /// One line per finding, aligned columns.
    Table,
    /// One JSON object per finding and line (every findings column).
    Jsonl,
}

/// `trailpack detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Sigma rules: a .yml file or a folder of them (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,

    /// A curated dataset (folder or s3://bucket/prefix) or raw CloudTrail logs.
    #[arg(long, value_name = "DIR|S3_URI")]
    pub input: String,

    /// Write the findings here (a folder or s3://bucket/prefix) as a table
    /// partitioned like the curated one (account=…/region=…/day=…/findings.parquet),
    /// each partition as soon as it is swept; a partition swept again is replaced
    /// (deleted when it has no findings now).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub output: Option<String>,

    /// Print the findings on standard output (default when there is no --output),
    /// partition by partition as they are swept, each partition's in time order.
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "table")]
    pub print: Option<PrintFormat>,

    /// Print the run summary as JSON on standard output (instead of text on standard error).
    #[arg(long, conflicts_with = "print")]
    pub json: bool,

    /// Exit with code 3 when a finding at or above this level exists.
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub fail_on: Option<LevelArg>,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// No progress bar (it is shown on a terminal only anyway).
    #[arg(long)]
    pub no_progress: bool,

    /// Raw input: a file inflating to more than this is reported, not read.
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub max_file_bytes: String,

    #[command(flatten)]
    pub glue: DetectGlueArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The Glue table that makes `--output`'s findings queryable in Athena.
#[derive(Debug, Args)]
#[command(next_help_heading = "Glue catalog (needs an s3:// --output)")]
pub struct DetectGlueArgs {
    /// Register the findings written to --output in this Glue database (created if
    /// missing): each partition's folder as a partition of --glue-detect-table, right
    /// after its file is written; a partition found clean is dropped.
    #[arg(long, value_name = "DB", requires = "output")]
    pub glue_database: Option<String>,

    /// Glue table of these findings (created if missing). Not the findings table of
    /// `convert --rules` (--glue-findings-table), which points at the curated
    /// partitions' `_findings/` folders.
    #[arg(
        long,
        value_name = "TABLE",
        default_value = "detect_findings",
        requires = "glue_database"
    )]
    pub glue_detect_table: String,
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    input: String,
    rules: &'a crate::detect::RulesReport,
    #[serde(flatten)]
    sweep: &'a SweepReport,
    seconds: f64,
    records_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    glue: Option<DetectGlueReport>,
}

pub fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let det = load_rules(&args.rules)?.ok_or_else(|| UsageError("--rules is required".into()))?;
    let filter = args.filter.list_filter()?;
    set_threads(args.threads)?;
    let input = Location::parse(&args.input).map_err(|e| UsageError(format!("--input: {e}")))?;
    let max_file_bytes = usize::try_from(parse_size(&args.max_file_bytes)?).unwrap_or(usize::MAX);
    let progress = Progress::new(!args.no_progress && std::io::stderr().is_terminal());
    let output = match &args.output {
        Some(o) => Some(Location::parse(o).map_err(|e| UsageError(format!("--output: {e}")))?),
        None => None,
    };
    let on_s3 = |l: &Location| matches!(l, Location::S3 { .. });
    if args.glue.glue_database.is_some() && !output.as_ref().is_some_and(on_s3) {
        return Err(UsageError("--glue-database needs an s3:// --output".into()).into());
    }
    let aws = if on_s3(&input) || output.as_ref().is_some_and(on_s3) {
        Some(args.aws.connect()?)
    } else {
        None
    };
    let temp = args.aws.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let print = args
        .print
        .or((args.output.is_none() && !args.json).then_some(PrintFormat::Table));
    let mut printer = print.map(Printer::new);
    // Each partition's findings are streamed into a staged file as they are found,
    // published and printed when the sweep hands the partition over, then dropped:
    // they are kept in memory only to be printed.
    let publish = Publish::open(output.as_ref(), aws.as_ref(), &args.glue, &temp)?;
    let mut handle = |p: PartitionFindings| -> anyhow::Result<()> {
        publish.partition(&p)?;
        if let Some(printer) = printer.as_mut() {
            printer.partition(&p, &progress)?;
        }
        Ok(())
    };
    let mut found = |p: PartitionFindings| -> Result<(), sweep::SweepError> {
        handle(p).map_err(|e| sweep::SweepError::Output(e.into()))
    };
    let mut handover = sweep::Handover {
        stage: publish.stage(),
        keep: print.is_some(),
        found: &mut found,
    };
    let sweep = Sweep {
        aws: aws.as_ref(),
        temp: &temp,
        det: &det,
        filter: &filter,
        max_file_bytes,
        progress: &progress,
    };
    let swept = sweep.input(&input, &mut handover)?;
    let glue = publish.glue_report();
    drop(publish);
    let report = swept?;
    progress.finish();
    if let Some(printer) = printer {
        printer.finish()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        input: input.to_string(),
        rules: det.report(),
        sweep: &report,
        seconds,
        records_per_second: report.records as f64 / seconds.max(1e-9),
        glue,
    };
    print_summary(&summary, &det, args.json)?;
    Ok(exit_code(&report, args.fail_on))
}

/// `--threads`: the size of the worker pool (default: all cores).
fn set_threads(threads: Option<usize>) -> Result<(), UsageError> {
    match threads {
        Some(0) => Err(UsageError("--threads is at least 1".into())),
        Some(n) => {
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global();
            Ok(())
        }
        None => Ok(()),
    }
}

/// 1 when a file could not be evaluated, the findings code for findings at
/// `--fail-on`'s level, else 0.
fn exit_code(report: &SweepReport, fail_on: Option<LevelArg>) -> ExitCode {
    let alarming = fail_on.is_some_and(|l| report.findings.at_least(l.rank()) > 0);
    if !report.bad_files.is_empty() {
        ExitCode::from(1)
    } else if alarming {
        ExitCode::from(FINDINGS_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

/// The AWS connection made for s3:// locations.
fn connected(aws: Option<&crate::aws::Aws>) -> anyhow::Result<&crate::aws::Aws> {
    aws.ok_or_else(|| anyhow::anyhow!("no AWS configuration"))
}

fn bad_input(e: impl std::fmt::Display) -> UsageError {
    UsageError(format!("--input: {e}"))
}

/// What a sweep reads with: the rules, the listing filter and the run's settings.
struct Sweep<'a> {
    aws: Option<&'a crate::aws::Aws>,
    temp: &'a Path,
    det: &'a crate::detect::Detector,
    filter: &'a crate::source::ListFilter,
    max_file_bytes: usize,
    progress: &'a Progress,
}

impl Sweep<'_> {
    /// Sweep `input`: a curated dataset or raw logs, local or on S3.
    fn input(
        &self,
        input: &Location,
        handover: &mut sweep::Handover<'_>,
    ) -> anyhow::Result<Result<SweepReport, sweep::SweepError>> {
        Ok(match input {
            Location::Local(p) => {
                if is_curated_folder(p) {
                    self.curated(&LocalSink::new(p).map_err(bad_input)?, handover)
                } else {
                    self.raw(&LocalSource::new(p).map_err(bad_input)?, handover)
                }
            }
            Location::S3 { bucket, prefix } => {
                let aws = connected(self.aws)?;
                let sink = S3Sink::new(aws, bucket, prefix, Encryption::S3, self.temp);
                if sink.read_dataset()?.is_some() {
                    self.curated(&sink, handover)
                } else {
                    self.raw(&S3Source::new(aws, bucket, prefix), handover)
                }
            }
        })
    }

    fn curated(
        &self,
        sink: &dyn Sink,
        handover: &mut sweep::Handover<'_>,
    ) -> Result<SweepReport, sweep::SweepError> {
        sweep::curated(sink, self.det, self.filter, self.progress, handover)
    }

    fn raw(
        &self,
        source: &dyn crate::source::Source,
        handover: &mut sweep::Handover<'_>,
    ) -> Result<SweepReport, sweep::SweepError> {
        sweep::raw(
            source,
            self.det,
            self.filter,
            self.max_file_bytes,
            self.progress,
            handover,
        )
    }
}

/// The run summary: JSON on standard output, or text on standard error.
fn print_summary(
    summary: &Summary<'_>,
    det: &crate::detect::Detector,
    json: bool,
) -> anyhow::Result<()> {
    let report = summary.sweep;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "trailpack: detect read {} records ({} input, {} files, {} partitions) in {:.2} s ({:.0} records/s)\n  rules    {}",
            report.records,
            report.input_kind,
            report.files,
            report.partitions,
            summary.seconds,
            summary.records_per_second,
            crate::detect::describe(det.report(), &report.findings)
        );
        if let Some(g) = &summary.glue {
            eprintln!(
                "  glue     {}{}: {} partitions registered, {} dropped",
                g.table,
                if g.table_created { " (created)" } else { "" },
                g.partitions_registered,
                g.partitions_dropped
            );
        }
        for (file, reason) in &report.bad_files {
            eprintln!("  not evaluated: {file}: {reason}");
        }
    }
    Ok(())
}

/// A folder written by `convert`: it has the dataset file or partition folders.
fn is_curated_folder(p: &Path) -> bool {
    if p.join(DATASET_NAME).is_file() {
        return true;
    }
    std::fs::read_dir(p).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("account="))
    })
}

/// Where `--output` puts each partition's findings, as
/// `account=…/region=…/day=…/findings.parquet`: the sweep stages them in a file,
/// published here when the partition is handed over; a partition with no findings
/// now loses its old file.
enum Publish {
    Nowhere,
    Local(PathBuf),
    /// Uploaded from files staged in `staging` (removed when dropped), and
    /// registered in the Glue table when there is one.
    S3 {
        sink: S3Sink,
        staging: PathBuf,
        glue: Option<Box<FindingsGlue>>,
    },
}

/// The Glue table of `detect --output`, and what was done to it.
struct FindingsGlue {
    catalog: GlueCatalog,
    report: std::cell::RefCell<DetectGlueReport>,
}

/// What `detect` did to its Glue table.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct DetectGlueReport {
    table: String,
    table_created: bool,
    partitions_registered: usize,
    partitions_dropped: usize,
}

impl FindingsGlue {
    fn new(
        aws: &crate::aws::Aws,
        args: &DetectGlueArgs,
        output: &str,
    ) -> anyhow::Result<Option<Box<Self>>> {
        let Some(db) = &args.glue_database else {
            return Ok(None);
        };
        let catalog = GlueCatalog::findings_table(aws, db, &args.glue_detect_table, output);
        let mut r = CatalogReport::default();
        catalog.ensure_table(&mut r)?;
        Ok(Some(Box::new(FindingsGlue {
            catalog,
            report: std::cell::RefCell::new(DetectGlueReport {
                table: format!("{db}.{}", args.glue_detect_table),
                table_created: r.table_created,
                ..Default::default()
            }),
        })))
    }

    /// Register a partition whose findings file was just written, or drop it (no
    /// findings now).
    fn partition(&self, key: &crate::partition::PartitionKey, written: bool) -> anyhow::Result<()> {
        let mut report = self.report.borrow_mut();
        if written {
            let located = [PartitionLocation {
                key: key.clone(),
                location: self.catalog.partition_location(key),
            }];
            self.catalog
                .publish(&located, &mut CatalogReport::default())?;
            report.partitions_registered += 1;
        } else {
            self.catalog.drop_partitions(std::slice::from_ref(key))?;
            report.partitions_dropped += 1;
        }
        Ok(())
    }
}

impl Publish {
    /// Where `--output` (if any) takes the findings; on S3, with the Glue table of
    /// `--glue-database` when given.
    fn open(
        output: Option<&Location>,
        aws: Option<&crate::aws::Aws>,
        glue: &DetectGlueArgs,
        temp: &Path,
    ) -> anyhow::Result<Publish> {
        Ok(match output {
            Some(Location::Local(out)) => Publish::Local(out.clone()),
            Some(o @ Location::S3 { bucket, prefix }) => Publish::S3 {
                sink: S3Sink::new(connected(aws)?, bucket, prefix, Encryption::S3, temp),
                staging: temp.join(format!("trailpack-findings-{}", std::process::id())),
                glue: FindingsGlue::new(connected(aws)?, glue, &o.to_string())?,
            },
            None => Publish::Nowhere,
        })
    }

    /// What was done to the Glue table, when there is one.
    fn glue_report(&self) -> Option<DetectGlueReport> {
        match self {
            Publish::S3 { glue: Some(g), .. } => Some(g.report.borrow().clone()),
            _ => None,
        }
    }

    /// Where the sweep stages findings files: the output folder itself when local
    /// (a rename then replaces the old file at once).
    fn stage(&self) -> Option<&Path> {
        match self {
            Publish::Nowhere => None,
            Publish::Local(out) => Some(out),
            Publish::S3 { staging, .. } => Some(staging),
        }
    }

    /// Publish a partition's staged findings file, or delete its old one when it has
    /// no findings now. A partition with a file that could not be evaluated keeps
    /// its old file: its findings now are incomplete (the run exits 1).
    fn partition(&self, p: &PartitionFindings) -> anyhow::Result<()> {
        let rel = format!("{}/findings.parquet", p.key.rel_path());
        if !p.complete {
            if let Some(tmp) = &p.staged {
                std::fs::remove_file(tmp).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
            }
            return Ok(());
        }
        match self {
            Publish::Nowhere => Ok(()),
            Publish::Local(out) => {
                let path = out.join(&rel);
                match &p.staged {
                    Some(tmp) => std::fs::rename(tmp, &path),
                    None => match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    },
                }
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Publish::S3 { sink, glue, .. } => {
                match &p.staged {
                    Some(tmp) => {
                        sink.put_file(&rel, tmp)?;
                        std::fs::remove_file(tmp)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
                    }
                    None => sink.delete_file(&rel)?,
                }
                match glue {
                    Some(g) => g.partition(&p.key, p.staged.is_some()),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Drop for Publish {
    fn drop(&mut self) {
        if let Publish::S3 { staging, .. } = self {
            let _ = std::fs::remove_dir_all(staging);
        }
    }
}

/// A findings value as JSON (null, text, RFC 3339 time, or a list of texts).
fn value(col: &dyn Array, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if col.is_null(i) {
        return Value::Null;
    }
    match col.data_type() {
        arrow_schema::DataType::Utf8 => Value::from(col.as_string::<i32>().value(i)),
        arrow_schema::DataType::Dictionary(_, _) => {
            let d = col.as_dictionary::<arrow_array::types::Int32Type>();
            let k = d.keys().value(i) as usize;
            Value::from(d.values().as_string::<i32>().value(k))
        }
        arrow_schema::DataType::Timestamp(_, _) => Value::from(rfc3339(
            col.as_primitive::<TimestampMicrosecondType>().value(i),
        )),
        arrow_schema::DataType::List(_) => {
            let l = col.as_list::<i32>().value(i);
            let s = l.as_string::<i32>();
            Value::from(s.iter().flatten().map(Value::from).collect::<Vec<_>>())
        }
        _ => Value::Null,
    }
}

/// The text of column `name` of a finding ("-" when it is null or not text); the
/// partition's account and region for those names.
fn text(p: &PartitionFindings, b: &RecordBatch, i: usize, name: &str) -> String {
    match name {
        "account" => return p.key.account.clone(),
        "region" => return p.key.region.clone(),
        _ => {}
    }
    b.column_by_name(name)
        .map(|c| value(c.as_ref(), i))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "-".to_string())
}

/// One finding with every findings column, plus its partition's account, region
/// and day.
fn row(
    p: &PartitionFindings,
    b: &RecordBatch,
    i: usize,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for (f, col) in b.schema().fields().iter().zip(b.columns()) {
        out.insert(f.name().clone(), value(col.as_ref(), i));
    }
    out.insert("account".into(), Value::from(p.key.account.clone()));
    out.insert("region".into(), Value::from(p.key.region.clone()));
    let day = crate::layout::day_string(p.key.day);
    out.insert("day".into(), Value::from(day));
    out
}

/// The columns of the table format, in order.
const TABLE_COLUMNS: [&str; 8] = [
    "eventtime",
    "rule_level",
    "rule_title",
    "eventname",
    "useridentity_arn",
    "sourceipaddress",
    "account",
    "region",
];

/// Widest a table cell gets (longer values are cut).
const TABLE_CELL_MAX: usize = 60;

/// Prints findings partition by partition as the sweep hands them over: in
/// partition order, each partition's in (eventtime, rule) order. Table columns are
/// as wide as the widest value so far (lines printed before a wider value are not
/// redrawn).
struct Printer {
    format: PrintFormat,
    widths: Vec<usize>,
    header_done: bool,
}

impl Printer {
    fn new(format: PrintFormat) -> Self {
        Printer {
            format,
            widths: TABLE_COLUMNS.iter().map(|h| h.len()).collect(),
            header_done: false,
        }
    }

    /// Print a partition's findings (JSON lines: one row built at a time, as a
    /// partition can have hundreds of thousands).
    fn partition(&mut self, p: &PartitionFindings, progress: &Progress) -> anyhow::Result<()> {
        let mut order: Vec<(usize, usize)> = Vec::new();
        for (bi, b) in p.batches.iter().enumerate() {
            order.extend((0..b.num_rows()).map(|i| (bi, i)));
        }
        order.sort_by_cached_key(|&(bi, i)| {
            let b = &p.batches[bi];
            (text(p, b, i, "eventtime"), text(p, b, i, "rule_title"))
        });
        // The table's cells, computed once: they set the widths, then are printed.
        let cells: Vec<Vec<String>> = match self.format {
            PrintFormat::Jsonl => Vec::new(),
            PrintFormat::Table => order
                .iter()
                .map(|&(bi, i)| {
                    let b = &p.batches[bi];
                    TABLE_COLUMNS.iter().map(|k| text(p, b, i, k)).collect()
                })
                .collect(),
        };
        for row in &cells {
            for (w, c) in self.widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count()).min(TABLE_CELL_MAX);
            }
        }
        progress.suspend(|| -> std::io::Result<()> {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            match self.format {
                PrintFormat::Jsonl => {
                    for &(bi, i) in &order {
                        let r = row(p, &p.batches[bi], i);
                        writeln!(w, "{}", serde_json::Value::Object(r))?;
                    }
                }
                PrintFormat::Table => {
                    if !self.header_done && !cells.is_empty() {
                        writeln!(w, "{}", self.line(&TABLE_COLUMNS))?;
                        self.header_done = true;
                    }
                    for row in &cells {
                        writeln!(w, "{}", self.line(row))?;
                    }
                }
            }
            w.flush()
        })?;
        Ok(())
    }

    fn line<S: AsRef<str>>(&self, row: &[S]) -> String {
        row.iter()
            .zip(&self.widths)
            .map(|(c, w)| {
                let c: String = c.as_ref().chars().take(*w).collect();
                format!("{c:<w$}", w = *w)
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    }

    /// A table with no findings still shows its header on a terminal.
    fn finish(self) -> std::io::Result<()> {
        if self.format == PrintFormat::Table && !self.header_done && std::io::stdout().is_terminal()
        {
            println!("{}", self.line(&TABLE_COLUMNS));
        }
        Ok(())
    }
}
