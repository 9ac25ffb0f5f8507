//! What a run prints: the human summary, and its CloudWatch Embedded Metric
//! Format record (`--metrics emf`).

use std::fmt::Write;

use time::OffsetDateTime;

use crate::catalog::CatalogReport;
use crate::convert::{IntegrityReport, PartitionReport, RetentionReport, RunReport, Status};
use crate::location::Location;

/// A metric: name, CloudWatch unit, value.
type Metric = (&'static str, &'static str, f64);

/// One CloudWatch Embedded Metric Format record of the run.
pub fn emf_line(command: &str, r: &RunReport) -> String {
    let metrics: Vec<Metric> = run_metrics(r)
        .into_iter()
        .chain(
            r.detections
                .as_ref()
                .map(|_| detection_metrics(r))
                .into_iter()
                .flatten(),
        )
        .chain(
            r.integrity
                .as_ref()
                .map(|_| digest_metrics(r))
                .into_iter()
                .flatten(),
        )
        .collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": OffsetDateTime::now_utc().unix_timestamp() * 1000,
            "CloudWatchMetrics": [{
                "Namespace": "trailpack",
                "Dimensions": [["Command"]],
                "Metrics": metrics.iter().map(|(n, u, _)| serde_json::json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        },
        "Command": command,
    });
    for &(name, _, value) in &metrics {
        doc[name] = serde_json::json!(value);
    }
    doc.to_string()
}

/// The metrics of every run.
fn run_metrics(r: &RunReport) -> [Metric; 11] {
    let (p, c) = (&r.partitions, &r.records);
    [
        ("Records", "Count", c.written as f64),
        ("RecordsRead", "Count", c.read as f64),
        ("RecordsCarried", "Count", c.carried as f64),
        ("BytesIn", "Bytes", r.bytes_in as f64),
        ("BytesOut", "Bytes", r.bytes_out as f64),
        ("PartitionsWritten", "Count", p.written as f64),
        ("PartitionsUnchanged", "Count", p.unchanged as f64),
        ("PartitionsFailed", "Count", p.failed as f64),
        (
            "PartitionsBuiltElsewhere",
            "Count",
            p.built_elsewhere as f64,
        ),
        ("BadFiles", "Count", r.files.bad as f64),
        ("DurationSeconds", "Seconds", r.seconds),
    ]
}

/// The metrics of a run with rules (`--rules`).
fn detection_metrics(r: &RunReport) -> [Metric; 5] {
    let findings = r
        .detections
        .as_ref()
        .map(|d| d.findings.clone())
        .unwrap_or_default();
    let level = |l: &str| findings.0.get(l).copied().unwrap_or(0) as f64;
    [
        ("Findings", "Count", findings.total() as f64),
        ("FindingsCritical", "Count", level("critical")),
        ("FindingsHigh", "Count", level("high")),
        ("FindingsMedium", "Count", level("medium")),
        ("FindingsLow", "Count", level("low")),
    ]
}

/// The metrics of a run that checks digests (`--verify-digests`).
fn digest_metrics(r: &RunReport) -> [Metric; 6] {
    let i = r.integrity.clone().unwrap_or_default();
    let status = |s: &str| i.statuses.get(s).copied().unwrap_or(0) as f64;
    [
        ("FilesModified", "Count", i.files_modified.len() as f64),
        ("FilesDeleted", "Count", i.files_deleted as f64),
        ("DigestChainBreaks", "Count", i.digest_chain_breaks as f64),
        ("DigestBadSignatures", "Count", i.bad_signatures as f64),
        ("FilesNotCovered", "Count", status("not-covered")),
        ("FilesValid", "Count", status("valid")),
    ]
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// `, {text}` when `show`.
fn when(show: bool, text: String) -> String {
    if show {
        format!(", {text}")
    } else {
        String::new()
    }
}

/// The summary printed at the end of a run.
pub fn human_summary(r: &RunReport, output: &Location) -> String {
    let mut s = String::new();
    headline(&mut s, r);
    input_line(&mut s, r);
    records_line(&mut s, r);
    let _ = writeln!(
        s,
        "  output   {} — {} Parquet written",
        r.output,
        mib(r.bytes_out)
    );
    sections(&mut s, r);
    for pr in &r.partition_reports {
        partition_lines(&mut s, pr);
    }
    if r.partitions.written + r.partitions.unchanged > 0 && !r.dry_run {
        query_hint(&mut s, output);
    }
    s
}

fn headline(s: &mut String, r: &RunReport) {
    let p = &r.partitions;
    let verb = if r.interrupted {
        "INTERRUPTED (SIGTERM/SIGINT) after converting"
    } else if r.dry_run {
        "planned"
    } else {
        "converted"
    };
    let _ = write!(
        s,
        "trailpack: {verb} {} partition(s) in {:.2} s: {} written, {} unchanged, {} empty, {} failed",
        p.planned, r.seconds, p.written, p.unchanged, p.empty, p.failed
    );
    s.push_str(&when(
        p.built_elsewhere > 0,
        format!("{} published meanwhile by another run", p.built_elsewhere),
    ));
    s.push_str(&when(
        p.kept > 0,
        format!("{} kept as they are (see below)", p.kept),
    ));
    if r.dry_run {
        let _ = write!(
            s,
            ", {} would be built (dry run: nothing written)",
            p.would_build
        );
    }
    s.push('\n');
}

fn input_line(s: &mut String, r: &RunReport) {
    let f = &r.files;
    let _ = write!(
        s,
        "  input    {} — {} event files listed, {} read ({} gz → {} JSON)",
        r.input,
        f.listed,
        f.read,
        mib(r.bytes_in),
        mib(r.bytes_in_uncompressed)
    );
    // With --verify-digests the digests are read (see the `digests` line), not skipped.
    let digests = if r.integrity.is_none() {
        f.digest_skipped
    } else {
        0
    };
    let skipped: Vec<String> = [
        (digests, "digest"),
        (f.writability_check_skipped, "writability-check"),
        (f.outside_layout_skipped as u64, "outside the layout"),
        (f.links_skipped as u64, "symbolic links (not followed)"),
        (f.unreadable as u64, "unreadable (see the log)"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !skipped.is_empty() {
        let _ = write!(s, "; skipped: {}", skipped.join(", "));
    }
    s.push('\n');
}

fn records_line(s: &mut String, r: &RunReport) {
    let c = &r.records;
    let _ = write!(
        s,
        "  records  {} read, {} written, {} duplicates dropped, {} moved to the previous day by the day rule",
        c.read, c.written, c.deduplicated, c.rerouted_out
    );
    s.push_str(&when(
        c.carried > 0,
        format!(
            "{} kept from earlier versions (inputs no longer listed)",
            c.carried
        ),
    ));
    s.push_str(&when(
        c.eventid_conflicts > 0,
        format!("{} eventID conflicts (kept)", c.eventid_conflicts),
    ));
    s.push('\n');
}

/// The lines of what a run did besides converting: rules, digests, catalog,
/// retention, the day rule.
fn sections(s: &mut String, r: &RunReport) {
    if let Some(d) = &r.detections {
        let _ = writeln!(
            s,
            "  rules    {}",
            crate::detect::describe(&d.rules, &d.findings)
        );
    }
    if let Some(i) = &r.integrity {
        digests_line(s, i);
    }
    if let Some(c) = &r.catalog {
        catalog_line(s, c);
    }
    if let Some(e) = &r.catalog_error {
        let _ = writeln!(s, "  FAILED   catalog: {e}");
    }
    if let Some(ret) = &r.retention {
        retention_lines(s, ret);
    }
    if r.added_for_day_rule > 0 {
        let _ = writeln!(
            s,
            "  day rule {} earlier partition(s) also committed: the next day's early files were new to them",
            r.added_for_day_rule
        );
    }
}

/// The inputs' statuses against their digests, and the problems found.
fn digests_line(s: &mut String, i: &IntegrityReport) {
    let statuses: Vec<String> = i.statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        s,
        "  digests  {}; {} modified, {} deleted, {} chain breaks, {} bad signatures{}",
        if statuses.is_empty() {
            "no input checked".to_string()
        } else {
            statuses.join(", ")
        },
        i.files_modified.len(),
        i.files_deleted,
        i.digest_chain_breaks,
        i.bad_signatures,
        if i.tampered() { " — TAMPERING" } else { "" }
    );
}

/// What the catalog sync did to the table and its partitions.
fn catalog_line(s: &mut String, c: &CatalogReport) {
    let added = if c.columns_added.is_empty() {
        String::new()
    } else {
        format!("; columns added: {}", c.columns_added.join(", "))
    };
    let _ = writeln!(
        s,
        "  catalog  table {}; {} partitions registered, {} updated, {} already current{added}{}",
        if c.table_created { "created" } else { "exists" },
        c.partitions_created,
        c.partitions_updated,
        c.partitions_unchanged,
        if c.projection_updated {
            "; projection updated"
        } else {
            ""
        }
    );
}

/// What `--retain-days` deleted (or would), and its failure.
fn retention_lines(s: &mut String, ret: &RetentionReport) {
    let verb = if ret.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let list = if ret.deleted.is_empty() {
        String::new()
    } else {
        format!(": {}", ret.deleted.join(", "))
    };
    let _ = writeln!(
        s,
        "  retain   {verb} {} partition(s) before {}{list}",
        ret.deleted.len(),
        ret.cutoff
    );
    if let Some(e) = &ret.error {
        let _ = writeln!(s, "  FAILED   retention: {e}");
    }
}

/// What happened to one partition, when it needs saying: kept, failed, files
/// skipped or modified, digest problems.
fn partition_lines(s: &mut String, pr: &PartitionReport) {
    let part = &pr.partition;
    if matches!(pr.status, Status::Kept) {
        let _ = writeln!(
            s,
            "  KEPT     {part}: {}",
            pr.error.as_deref().unwrap_or("")
        );
    }
    if let Some(e) = &pr.catalog_error {
        let _ = writeln!(s, "  FAILED   catalog, {part}: {e}");
    }
    if matches!(pr.status, Status::Failed) {
        let error = pr.error.as_deref().unwrap_or("unknown error");
        let _ = writeln!(s, "  FAILED   {part}: {error}");
    }
    for b in &pr.bad_files {
        let _ = writeln!(s, "  SKIPPED  {} ({part}): {}", b.path, b.reason);
    }
    for f in &pr.modified_files {
        let _ = writeln!(
            s,
            "  MODIFIED {f} ({part}): a digest lists it with another SHA-256"
        );
    }
    for p in pr.integrity.iter().flat_map(|i| &i.problems) {
        let _ = writeln!(
            s,
            "  DIGEST   {} ({part}): {} {}",
            p.kind.name(),
            p.digest,
            p.detail
        );
    }
}

/// How to query what was written.
fn query_hint(s: &mut String, output: &Location) {
    if output.is_s3() {
        let _ = writeln!(
            s,
            "\nQuery it in Athena: create the table with\n  trailpack schema --format athena-ddl --location {output}"
        );
        return;
    }
    let glob = format!(
        "{}/account=*/region=*/day=*/*.parquet",
        output.to_string().trim_end_matches('/')
    );
    let _ = writeln!(
        s,
        "\nQuery it, e.g. with DuckDB:\n  duckdb -c \"SELECT day, eventname, count(*) AS n FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false) GROUP BY ALL ORDER BY n DESC LIMIT 10\""
    );
}
