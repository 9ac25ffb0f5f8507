//! `trailpack verify`: check a delivery against CloudTrail's digest files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::convert::AwsArgs;
use super::{parse_size, FilterArgs, UsageError};
use crate::integrity::PublicKeys;
use crate::location::Location;
use crate::progress::Progress;
use crate::sink::local::LocalSink;
use crate::sink::s3::{Encryption, S3Sink};
use crate::sink::Sink;
use crate::verify::{KeySource, VerifyReport};

pub const VERIFY_AFTER_HELP: &str = "\
Statuses of a log file:
  valid         its SHA-256 is the one a digest lists; the digest's signature verifies
                with CloudTrail's public key and its link to the previous digest holds
  hash-chained  its SHA-256 is the one a digest lists and every link of the digest chain
                before it holds, but no signature could be checked (a copy without S3 metadata checked
                without --public-keys, or listed by the newest digest of such a copy)
  unproven      its SHA-256 is listed, but by a digest that is itself in doubt
  not-covered   no digest lists it (delivered while validation was off, or added later)
  modified      a digest lists it with another SHA-256: changed after delivery

Digest problems: deleted (a listed log file is missing), chain-gap (a previous digest is
missing), chain-break (a previous digest was changed), bad-signature, unknown-key, moved,
unreadable.

Exit codes: 0 when every log file in range is valid (or hash-chained, with
--allow-unsigned) and no digest has a problem; 1 otherwise; 2 for usage errors.

Signatures: on S3 each digest's `signature` and `signature-algorithm` metadata is read and
verified (SHA256withRSA) with CloudTrail's public key for the digest's region, asked of
CloudTrail (cloudtrail:ListPublicKeys) unless --public-keys gives the keys. A local copy
has no metadata: with --public-keys each digest is checked with the signature the next
digest recorded for it, so all but the newest digest's files can be valid.

With --hashes-from, the hashes a conversion with --verify-digests recorded in its manifests
are used for the same files (object, size, version/ETag), so only the digests and the
files the conversion did not read are downloaded.

Examples:
  trailpack verify --input s3://my-trail-bucket/ --from 2024-03-01 --to 2024-03-31
  trailpack verify --input s3://my-trail-bucket/ --day 2024-03-05 --hashes-from s3://my-lake/cloudtrail/
  trailpack verify --input ./incident-archive --allow-unsigned
  trailpack verify --input ./logs --day 2024-03-05 --account 111122223333 --json";

/// `trailpack verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// CloudTrail's delivery: an S3 URI (`s3://bucket/prefix/`, digests read with their
    /// signatures) or a local copy (AWSLogs/… with its CloudTrail-Digest folders).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub input: String,

    /// Accept `hash-chained` files (what a local copy proves without --public-keys, and
    /// for the files of its newest digests).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// CloudTrail's public keys, as `aws cloudtrail list-public-keys` prints them
    /// (JSON). Default on S3: asked of CloudTrail (ListPublicKeys) for the digests'
    /// regions and times.
    #[arg(long, value_name = "FILE", env = "TRAILPACK_PUBLIC_KEYS")]
    pub public_keys: Option<PathBuf>,

    /// A curated output converted with --verify-digests: the hashes its manifests
    /// recorded are used for the same files (same object, size and version) instead of
    /// downloading and hashing them again. Trusts that output as much as the run that
    /// wrote it.
    #[arg(long, value_name = "DIR|S3_URI")]
    pub hashes_from: Option<String>,

    /// Print the report as JSON on standard output.
    #[arg(long)]
    pub json: bool,

    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// A file inflating to more than this is not read (it matches no digest).
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub max_file_bytes: String,

    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let filter = args.filter.list_filter()?;
    let input = Location::parse(&args.input).map_err(|e| UsageError(format!("--input: {e}")))?;
    let max = usize::try_from(parse_size(&args.max_file_bytes)?).unwrap_or(usize::MAX);
    let given = match &args.public_keys {
        Some(path) => Some(read_public_keys(path)?),
        None => None,
    };
    let curated = match &args.hashes_from {
        Some(c) => Some(Location::parse(c).map_err(|e| UsageError(format!("--hashes-from: {e}")))?),
        None => None,
    };
    let aws = if input.is_s3() || curated.as_ref().is_some_and(Location::is_s3) {
        Some(args.aws.connect()?)
    } else {
        None
    };
    let temp = args.aws.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let sink: Option<Box<dyn Sink>> = match (&curated, &aws) {
        (None, _) => None,
        (Some(Location::Local(p)), _) => Some(Box::new(
            LocalSink::new(p).map_err(|e| UsageError(format!("--hashes-from: {e}")))?,
        )),
        (Some(Location::S3 { bucket, prefix }), Some(aws)) => Some(Box::new(S3Sink::new(
            aws,
            bucket,
            prefix,
            Encryption::S3,
            &temp,
        ))),
        (Some(Location::S3 { .. }), None) => unreachable!("AWS is configured for S3 locations"),
    };
    if let Location::Local(p) = &input {
        if !p.is_dir() {
            return Err(UsageError(format!("--input {}: not a folder", p.display())).into());
        }
    }
    let source = super::open_source(&input, aws.as_ref())?;
    // Signatures travel only with S3 objects: keys are asked of CloudTrail for them.
    let keys = match (given, &aws) {
        (Some(k), _) => KeySource::given(k),
        (None, Some(aws)) if input.is_s3() => KeySource::ask(crate::trail_keys::asker(aws)),
        (None, _) => KeySource::default(),
    };
    let progress = Progress::new(!args.no_progress && std::io::stderr().is_terminal()).files_only();
    let report = crate::verify::run(
        source.as_ref(),
        &filter,
        &keys,
        max,
        sink.as_deref(),
        &progress,
    )?;
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

/// Public keys from a `list-public-keys` JSON file.
pub fn read_public_keys(path: &std::path::Path) -> anyhow::Result<PublicKeys> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("--public-keys {}: {e}", path.display())))?;
    let keys = PublicKeys::parse(&path.display().to_string(), &text)
        .map_err(|e| UsageError(format!("--public-keys: {e}")))?;
    if keys.is_empty() {
        return Err(UsageError(format!("--public-keys {}: no key in it", path.display())).into());
    }
    Ok(keys)
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
    // Hash-chained files are counted above, not listed (a local copy has only those).
    for f in r
        .files
        .iter()
        .filter(|f| f.status != LogStatus::HashChained)
    {
        println!("{}\t{}", f.status.name(), f.file);
    }
    for p in &r.problems {
        println!("{}\t{}\t{}", p.kind.name(), p.digest, p.detail);
    }
    let totals: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let reused = if r.hashes_reused > 0 {
        format!(" ({} hashes from the curated output)", r.hashes_reused)
    } else {
        String::new()
    };
    eprintln!(
        "{}: {} log files{reused}, {} digests ({} signatures checked): {}; {} digest problems",
        r.input,
        r.log_files,
        r.digests,
        r.signatures_checked,
        if totals.is_empty() {
            "none".to_string()
        } else {
            totals.join(", ")
        },
        r.problems.len()
    );
}
