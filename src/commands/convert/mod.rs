//! `trailpack convert`, `daily` and `backfill`: validate options, run the
//! conversion, print the summary.

mod args;
mod summary;

pub use args::{
    AwsArgs, BackfillArgs, ConvertArgs, DailyArgs, GlueArgs, JsonPartitions, Metrics, RunArgs,
    CONVERT_AFTER_HELP,
};

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::{parse_day_flag, parse_day_range, parse_duration, parse_size, UsageError};
use crate::aws::Aws;
use crate::catalog::glue::{GlueCatalog, Mode};
use crate::catalog::{Catalog, CatalogError, CatalogReport};
use crate::convert::digests::{DigestCheck, OnTampered};
use crate::convert::{self, ConvertOptions, RetentionReport, RunReport, Status};
use crate::encode::EncodeOptions;
use crate::location::Location;
use crate::progress::Progress;
use crate::sink::local::LocalSink;
use crate::sink::s3::{Encryption, Retirement, S3Sink};
use crate::sink::Sink;
use crate::verify::KeySource;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// "Now" from `--now` (RFC 3339) or the clock.
fn now(flag: &Option<String>) -> Result<OffsetDateTime, UsageError> {
    match flag {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            UsageError(format!(
                "--now {s:?}: expected RFC 3339, e.g. 2024-03-06T01:30:00Z"
            ))
        }),
        None => Ok(OffsetDateTime::now_utc()),
    }
    .map(|t| t.to_offset(time::UtcOffset::UTC))
}

/// Turn arguments into options, or say what is wrong (exit 2).
pub fn options(
    args: &RunArgs,
    from: Option<Date>,
    to: Option<Date>,
) -> Result<ConvertOptions, UsageError> {
    for a in &args.account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UsageError(format!(
                "--account {a:?}: an account ID is 12 digits"
            )));
        }
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(UsageError(format!("--from {f} is after --to {t}")));
        }
    }
    let late_window = parse_duration(&args.late_window)?;
    if late_window > time::Duration::hours(24) {
        return Err(UsageError("--late-window is at most 24h".into()));
    }
    if !(1..=22).contains(&args.zstd_level) {
        return Err(UsageError("--zstd-level is 1 to 22".into()));
    }
    if args.threads == Some(0) || args.parallel_partitions == 0 {
        return Err(UsageError(
            "--threads and --parallel-partitions are at least 1".into(),
        ));
    }
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let max_file_bytes = parse_size(&args.max_file_bytes)?;
    if max_file_bytes >= 2 << 30 {
        // A column of one file's rows must fit Arrow's 32-bit string offsets.
        return Err(UsageError(
            "--max-file-bytes is at most 2047MiB (one file's values must fit one batch)".into(),
        ));
    }
    Ok(ConvertOptions {
        detector: super::load_rules(&args.rules)?,
        accounts: args.account.clone(),
        regions: args.region.clone(),
        from,
        to,
        late_window,
        force: args.force,
        drop_vanished: args.drop_vanished,
        dry_run: args.dry_run,
        skip_bad_files: args.skip_bad_files,
        target_file_size: parse_size(&args.target_file_size)?,
        row_group_bytes: to_usize(parse_size(&args.row_group_size)?),
        parallel_partitions: args.parallel_partitions,
        max_file_bytes: to_usize(max_file_bytes),
        encode: EncodeOptions {
            zstd_level: args.zstd_level,
        },
        shard: None,
        newest_first: false,
        dedup_memory: to_usize(parse_size(&args.dedup_memory)?),
        row_group_hard_limit: to_usize(parse_size(&args.row_group_hard_limit)?).min(1 << 30),
        temp_dir: args.aws.temp_dir.clone(),
        digests: None,
    })
}

/// `--verify-digests`: the policy, and the public keys (given, or asked of
/// CloudTrail when the input is on S3).
fn digest_check(args: &RunArgs, aws: Option<&Aws>) -> anyhow::Result<Option<Arc<DigestCheck>>> {
    if !args.verify_digests {
        return Ok(None);
    }
    let keys = match (&args.public_keys, aws) {
        (Some(path), _) => KeySource::given(crate::commands::verify::read_public_keys(path)?),
        (None, Some(aws)) => KeySource::ask(crate::trail_keys::asker(aws)),
        (None, None) => KeySource::default(),
    };
    Ok(Some(Arc::new(DigestCheck {
        keys,
        on_tampered: match args.on_tampered {
            args::OnTamperedArg::Keep => OnTampered::Keep,
            args::OnTamperedArg::Skip => OnTampered::Skip,
            args::OnTamperedArg::Fail => OnTampered::Fail,
        },
    })))
}

/// `trailpack convert`.
pub fn convert(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = parse_day_range(&args.day, &args.from, &args.to)?;
    run(
        "convert",
        &args.run,
        options(&args.run, from, to)?,
        OffsetDateTime::now_utc().date(),
    )
}

/// `trailpack daily`: yesterday (UTC), plus the lookback days, plus today on request.
pub fn daily(args: &DailyArgs) -> anyhow::Result<ExitCode> {
    let today = now(&args.now)?.date();
    let yesterday = today
        .previous_day()
        .ok_or_else(|| UsageError("--now is too early".into()))?;
    let from = yesterday - time::Duration::days(args.lookback_days as i64);
    let to = if args.include_today { today } else { yesterday };
    run(
        "daily",
        &args.run,
        options(&args.run, Some(from), Some(to))?,
        today,
    )
}

/// `trailpack backfill`: a range (default the last 90 days), newest first, sharded.
pub fn backfill(args: &BackfillArgs) -> anyhow::Result<ExitCode> {
    let today = now(&args.now)?.date();
    let to = match parse_day_flag("--to", &args.to)? {
        Some(d) => d,
        None => today
            .previous_day()
            .ok_or_else(|| UsageError("--now is too early".into()))?,
    };
    let from = match parse_day_flag("--from", &args.from)? {
        Some(d) => d,
        None => to - time::Duration::days(89),
    };
    let mut opts = options(&args.run, Some(from), Some(to))?;
    opts.newest_first = true;
    opts.shard = args.shard.as_deref().map(parse_shard).transpose()?;
    run("backfill", &args.run, opts, today)
}

/// Parse `I/N` with 0 <= I < N.
pub fn parse_shard(s: &str) -> Result<(u64, u64), UsageError> {
    let bad = || {
        UsageError(format!(
            "--shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn run(
    command: &str,
    args: &RunArgs,
    mut opts: ConvertOptions,
    today: Date,
) -> anyhow::Result<ExitCode> {
    let input = Location::parse(&args.input).map_err(|e| UsageError(format!("--input: {e}")))?;
    let output = Location::parse(&args.output).map_err(|e| UsageError(format!("--output: {e}")))?;
    let aws = connect_aws(args, &input, &output)?;
    // Keys are asked of CloudTrail only for an S3 input (a local copy has no
    // signatures to check).
    opts.digests = digest_check(args, aws.as_ref().filter(|_| input.is_s3()))?;
    let source = super::open_source(&input, aws.as_ref())?;
    let sink = open_sink(args, &output, aws.as_ref())?;
    sink.check()
        .map_err(|e| UsageError(format!("--output is not reachable: {e}")))?;
    let catalog = open_catalog(args, &output, aws.as_ref(), opts.detector.is_some())?;
    let mut catalog_report = CatalogReport::default();
    if let (Some(c), false) = (&catalog, args.dry_run) {
        c.ensure_table(&mut catalog_report).map_err(|e| match e {
            CatalogError::Conflict(m) => anyhow::Error::new(UsageError(m)),
            other => anyhow::Error::new(other),
        })?;
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("starting worker threads")?;
    }
    crate::interrupt::install();
    let progress = Progress::new(!args.no_progress && std::io::stderr().is_terminal());
    let catalog_ref = catalog.as_ref().map(|c| c as &dyn Catalog);
    let mut report = match convert::run(
        source.as_ref(),
        sink.as_ref(),
        catalog_ref,
        &opts,
        &progress,
    ) {
        Ok(r) => r,
        Err(convert::ConvertError::Settings(m)) => return Err(UsageError(m).into()),
        Err(e) => return Err(e.into()),
    };
    if let Some(c) = report.catalog.as_mut() {
        c.add(&catalog_report);
    }
    if let (Some(n), false) = (retain_days(command, args), report.interrupted) {
        let catalog = catalog.as_ref();
        report.retention = Some(retain(sink.as_ref(), catalog, today, n, args.dry_run));
    }
    print_report(command, args, &mut report, &output)?;
    Ok(exit_code(args, &report))
}

/// The AWS configuration, when the input or the output is on S3 (after checking
/// the endpoint and request options).
fn connect_aws(args: &RunArgs, input: &Location, output: &Location) -> anyhow::Result<Option<Aws>> {
    if let Some(url) = &args.aws.endpoint_url {
        check_endpoint(url)?;
    }
    if args.aws.max_concurrent_requests == 0 {
        return Err(UsageError("--max-concurrent-requests is at least 1".into()).into());
    }
    if !(input.is_s3() || output.is_s3()) {
        return Ok(None);
    }
    Ok(Some(
        Aws::connect(args.aws.options()).map_err(|e| UsageError(e.to_string()))?,
    ))
}

/// `--retain-days`, unless the command is `backfill`: retention belongs to the
/// nightly run, and backfill shards run many at once and would each delete the
/// same partitions.
fn retain_days(command: &str, args: &RunArgs) -> Option<u32> {
    match (command, args.retain_days) {
        ("backfill", Some(_)) => {
            tracing::info!("--retain-days is applied by daily and convert runs, not by backfill");
            None
        }
        (_, n) => n,
    }
}

/// The sink of `--output`: a local folder, or an S3 prefix (with its encryption,
/// multipart threshold and retirement of replaced builds).
fn open_sink(
    args: &RunArgs,
    output: &Location,
    aws: Option<&Aws>,
) -> anyhow::Result<Box<dyn Sink>> {
    Ok(match (output, aws) {
        (Location::S3 { bucket, prefix }, Some(aws)) => {
            let encryption = match &args.aws.sse_kms_key_id {
                Some(k) => Encryption::Kms(k.clone()),
                None => Encryption::S3,
            };
            let temp = args.aws.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
            let threshold = parse_size(&args.aws.s3_multipart_threshold)?;
            let grace = parse_duration(&args.gc_grace)?;
            let retirement = Retirement {
                // Registered partitions point readers at one build's folder.
                pointed: args.glue.glue_database.is_some() && !args.glue.glue_projection,
                grace: std::time::Duration::from_secs(grace.whole_seconds().max(0) as u64),
            };
            Box::new(
                S3Sink::new(aws, bucket, prefix, encryption, &temp)
                    .with_multipart_threshold(threshold)
                    .with_retirement(retirement),
            )
        }
        (Location::Local(p), _) => {
            Box::new(LocalSink::new(p).map_err(|e| UsageError(format!("--output: {e}")))?)
        }
        (Location::S3 { .. }, None) => unreachable!("AWS is configured for S3 locations"),
    })
}

/// The Glue catalog of `--glue-database` (and its findings table when rules run),
/// or `None`. Only an S3 output can be registered.
fn open_catalog(
    args: &RunArgs,
    output: &Location,
    aws: Option<&Aws>,
    with_rules: bool,
) -> Result<Option<GlueCatalog>, UsageError> {
    let g = &args.glue;
    let (db, aws) = match (&g.glue_database, output, aws) {
        (None, _, _) => return Ok(None),
        (Some(db), Location::S3 { .. }, Some(aws)) => (db, aws),
        (Some(_), _, _) => {
            return Err(UsageError(
                "--glue-database needs an s3:// --output (Athena reads from S3)".into(),
            ))
        }
    };
    let mode = if g.glue_projection {
        Mode::Projection {
            injected: g.glue_projection_injected,
        }
    } else {
        Mode::Register
    };
    let catalog = GlueCatalog::new(aws, db, &g.glue_table, &output.to_string(), mode);
    if !with_rules {
        return Ok(Some(catalog));
    }
    let table = g
        .glue_findings_table
        .clone()
        .unwrap_or_else(|| format!("{}_findings", g.glue_table));
    Ok(Some(catalog.with_findings(aws, &table)))
}

/// Print the run's report: the EMF record on standard error when asked, then the
/// JSON report (`--json`) or the human summary on standard output.
fn print_report(
    command: &str,
    args: &RunArgs,
    report: &mut RunReport,
    output: &Location,
) -> anyhow::Result<()> {
    if args.metrics == Metrics::Emf {
        eprintln!("{}", summary::emf_line(command, report));
    }
    if !args.json {
        print!("{}", summary::human_summary(report, output));
        return Ok(());
    }
    if args.json_partitions == JsonPartitions::Changed {
        report
            .partition_reports
            .retain(|r| !matches!(r.status, Status::Unchanged));
    }
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(report)?
    } else {
        serde_json::to_string(report)?
    };
    println!("{text}");
    Ok(())
}

/// 4 interrupted, 1 failed or tampered, the findings code for findings at
/// `--fail-on`'s level, else 0.
fn exit_code(args: &RunArgs, report: &RunReport) -> ExitCode {
    let alarming = match (args.fail_on, &report.detections) {
        (Some(level), Some(d)) => d.findings.at_least(level.rank()) > 0,
        _ => false,
    };
    let tampered = report.integrity.as_ref().is_some_and(|i| i.tampered());
    if report.interrupted {
        ExitCode::from(4)
    } else if report.failed() || tampered {
        ExitCode::from(1)
    } else if alarming {
        ExitCode::from(super::FINDINGS_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

/// An endpoint URL must not carry credentials (`user:password@host`): they would be
/// sent in the clear and show up in error messages. Refused without repeating them.
fn check_endpoint(url: &str) -> Result<(), UsageError> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    if authority.contains('@') {
        return Err(UsageError(
            "--endpoint-url must not hold user information (user:password@); use AWS \
             credentials (environment, profile or role) instead"
                .into(),
        ));
    }
    Ok(())
}

/// Delete the partitions older than `days` before `today`: data and manifest, then
/// the catalog entries. Never the input.
fn retain(
    sink: &dyn Sink,
    catalog: Option<&GlueCatalog>,
    today: Date,
    days: u32,
    dry_run: bool,
) -> RetentionReport {
    let cutoff = today - time::Duration::days(days as i64);
    let mut report = RetentionReport {
        cutoff: crate::layout::day_string(cutoff),
        dry_run,
        deleted: Vec::new(),
        error: None,
    };
    let old: Vec<_> = match sink.list_partitions() {
        Ok(all) => all.into_iter().filter(|k| k.day < cutoff).collect(),
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let mut gone = Vec::new();
    for k in &old {
        if dry_run {
            report.deleted.push(k.rel_path());
            continue;
        }
        match sink.delete_partition(k) {
            Ok(()) => {
                report.deleted.push(k.rel_path());
                gone.push(k.clone());
            }
            Err(e) => {
                report.error = Some(e.to_string());
                break;
            }
        }
    }
    if let (Some(c), false) = (catalog, gone.is_empty()) {
        if let Err(e) = c.drop_partitions(&gone) {
            report.error = Some(e.to_string());
        }
    }
    report
}
