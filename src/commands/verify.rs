//! `trailpack verify`: check a delivery against CloudTrail's digest files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{parse_day_range, parse_size, UsageError};
use crate::verify::{VerifyFilter, VerifyReport};

pub const VERIFY_AFTER_HELP: &str = "\
Statuses of a log file:
  valid         its SHA-256 is the one a digest lists; the digest's signature verifies
                with CloudTrail's public key and its link to the previous digest holds
  hash-chained  its SHA-256 is the one a digest lists and the digests' hash chain holds,
                but no signature could be checked (a copy made without S3 metadata)
  unproven      its SHA-256 is listed, but by a digest that is itself in doubt
  not-covered   no digest lists it (delivered while validation was off, or added later)
  modified      a digest lists it with another SHA-256: changed after delivery

Digest problems: deleted (a listed log file is missing), chain-gap (a previous digest is
missing), chain-break (a previous digest was changed), bad-signature, unknown-key, moved,
unreadable.

Exit codes: 0 when every log file in range is valid (or hash-chained, with
--allow-unsigned) and no digest has a problem; 1 otherwise; 2 for usage errors.

Examples:
  trailpack verify --input ./incident-archive --allow-unsigned
  trailpack verify --input ./logs --day 2024-03-05 --account 111122223333 --json";

/// `trailpack verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A local copy of CloudTrail's delivery (AWSLogs/… with its CloudTrail-Digest folders).
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,

    /// Accept `hash-chained` files (a local copy cannot carry the digests' signatures).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Print the report as JSON on standard output.
    #[arg(long)]
    pub json: bool,

    /// Only this day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY", conflicts_with_all = ["from", "to"])]
    pub day: Option<String>,

    /// First day (inclusive).
    #[arg(long, value_name = "DAY")]
    pub from: Option<String>,

    /// Last day (inclusive).
    #[arg(long, value_name = "DAY")]
    pub to: Option<String>,

    /// Only this account ID (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,

    /// Only this AWS region (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,

    /// A file inflating to more than this is not read (it matches no digest).
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub max_file_bytes: String,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = parse_day_range(&args.day, &args.from, &args.to)?;
    if !args.input.is_dir() {
        return Err(UsageError(format!("--input {}: not a folder", args.input.display())).into());
    }
    let filter = VerifyFilter {
        accounts: args.account.clone(),
        regions: args.region.clone(),
        from,
        to,
    };
    let max = usize::try_from(parse_size(&args.max_file_bytes)?).unwrap_or(usize::MAX);
    let report = crate::verify::local(&args.input, &filter, max)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(if report.proven(args.allow_unsigned) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(r: &VerifyReport) {
    use crate::integrity::LogStatus;
    let names: Vec<&str> = LogStatus::ALL.iter().map(|s| s.name()).collect();
    println!(
        "{:<12} {:<14} {:<10} {}",
        "account",
        "region",
        "day",
        names.join(" ")
    );
    for d in &r.days {
        let counts: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    "{:>w$}",
                    d.statuses.get(n).copied().unwrap_or(0),
                    w = n.len()
                )
            })
            .collect();
        println!(
            "{:<12} {:<14} {:<10} {}",
            d.account,
            d.region,
            d.day,
            counts.join(" ")
        );
    }
    for f in &r.files {
        println!("{}\t{}", f.status.name(), f.file);
    }
    for p in &r.problems {
        println!("{}\t{}\t{}", p.kind.name(), p.digest, p.detail);
    }
    let totals: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "{} log files, {} digests: {}; {} digest problems",
        r.log_files,
        r.digests,
        if totals.is_empty() {
            "none".to_string()
        } else {
            totals.join(", ")
        },
        r.problems.len()
    );
}
