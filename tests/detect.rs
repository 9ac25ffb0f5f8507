//! Detections: Sigma rules run by the real binary at conversion and by `detect`,
//! checked against hand-written expectations, an independent evaluator (pySigma
//! parsing + Python over the raw JSON, `tests/py/sigma_eval.py`) and the findings
//! files as DuckDB reads them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn rules_dir() -> PathBuf {
    repo().join("tests/detect/rules")
}

/// The test records, delivered as one file of one day.
fn tree_with_records() -> Tree {
    let mut t = Tree::new();
    let text = std::fs::read_to_string(repo().join("tests/detect/records.json")).unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-05-01",
        "0105",
        &records,
    );
    t
}

/// Findings keyed by (rule title prefix `Tnn`, eventid), counted.
type Found = BTreeMap<(String, String), u32>;

fn add(found: &mut Found, title: &str, eventid: &str) {
    let key = (
        title.split(' ').next().unwrap_or("").to_string(),
        eventid.to_string(),
    );
    *found.entry(key).or_default() += 1;
}

fn expected() -> Found {
    let text = std::fs::read_to_string(repo().join("tests/detect/expected.json")).unwrap();
    let map: BTreeMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
    let mut f = Found::new();
    for (rule, ids) in map {
        for id in ids {
            add(&mut f, &rule, &id);
        }
    }
    f
}

/// What the independent evaluator finds over a raw tree.
fn independent(rules: &Path, raw: &Path) -> Found {
    let o = Command::new(python())
        .arg(repo().join("tests/py/sigma_eval.py"))
        .arg(rules)
        .arg(raw)
        .output()
        .unwrap();
    assert!(o.status.success(), "sigma_eval: {}", stderr(&o));
    let mut f = Found::new();
    for line in stdout(&o).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        add(
            &mut f,
            v["rule_title"].as_str().unwrap(),
            v["eventid"].as_str().unwrap_or(""),
        );
    }
    f
}

/// The findings files of a curated output, read by DuckDB.
fn findings_table(out: &Path) -> Vec<Value> {
    let glob = format!(
        "{}/account=*/region=*/day=*/_findings/*.parquet",
        out.display()
    );
    if !glob::glob_exists(&glob) {
        return Vec::new();
    }
    sql(
        out,
        &format!(
            "SELECT rule_id, rule_title, rule_level, rule_status, rule_tags, eventid, \
             CAST(eventtime AS VARCHAR) AS eventtime, eventname, useridentity_arn, source_object, \
             account, region, day FROM read_parquet('{glob}', hive_partitioning = true, \
             hive_types_autocast = false) ORDER BY eventid, rule_title"
        ),
    )
}

mod glob {
    /// Whether any file matches `account=*/region=*/day=*/_findings/*.parquet`.
    pub fn glob_exists(pattern: &str) -> bool {
        let root = pattern.split("/account=*").next().unwrap();
        walk(std::path::Path::new(root))
    }
    fn walk(p: &std::path::Path) -> bool {
        std::fs::read_dir(p).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    path.to_string_lossy().contains("/_findings/")
                        && path.extension().is_some_and(|x| x == "parquet")
                }
            })
        })
    }
}

fn found_in_rows(rows: &[Value]) -> Found {
    let mut f = Found::new();
    for r in rows {
        add(
            &mut f,
            r["rule_title"].as_str().unwrap(),
            r["eventid"].as_str().unwrap_or(""),
        );
    }
    f
}

fn detect_jsonl(args: &[&str]) -> (i32, Found, String) {
    let mut all = vec!["detect", "--print", "jsonl"];
    all.extend_from_slice(args);
    let o = trailpack(&all);
    let mut f = Found::new();
    for line in stdout(&o).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        add(
            &mut f,
            v["rule_title"].as_str().unwrap(),
            v["eventid"].as_str().unwrap_or(""),
        );
    }
    (o.status.code().unwrap_or(-1), f, stderr(&o))
}

#[test]
fn every_modifier_and_condition_form_matches_expectations_and_the_independent_evaluator() {
    let t = tree_with_records();
    let rules = rules_dir();
    let (code, report, o) = convert(
        &t.input(),
        &t.output(),
        &["--rules", rules.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{}", stderr(&o));
    let rows = findings_table(&t.output());
    let at_conversion = found_in_rows(&rows);
    assert_eq!(
        at_conversion,
        expected(),
        "conversion findings vs tests/detect/expected.json"
    );
    assert_eq!(
        independent(&rules, &t.input()),
        expected(),
        "independent evaluator vs tests/detect/expected.json"
    );
    // One finding's columns, as DuckDB reads them.
    let r = rows
        .iter()
        .find(|r| r["eventid"] == "ev-02" && r["rule_title"].as_str().unwrap().starts_with("T09"))
        .expect("T09 on ev-02");
    assert_eq!(r["rule_id"], "7d5c0001-0000-4000-8000-000000000009");
    assert_eq!(r["rule_level"], "high");
    assert_eq!(r["rule_status"], "stable");
    assert_eq!(
        r["rule_tags"],
        serde_json::json!(["attack.persistence", "attack.t1098.001"])
    );
    assert_eq!(r["eventname"], "CreateAccessKey");
    assert_eq!(
        r["useridentity_arn"],
        "arn:aws:iam::111122223333:user/alice"
    );
    assert!(
        r["eventtime"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01 00:02:00"),
        "{r}"
    );
    assert!(r["source_object"]
        .as_str()
        .unwrap()
        .contains("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/"));
    assert_eq!(
        (r["account"].as_str(), r["day"].as_str()),
        (Some("111122223333"), Some("2024-05-01"))
    );
    // The summary counts findings by level, as the table holds them.
    let mut by_level: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        *by_level
            .entry(r["rule_level"].as_str().unwrap_or("none").to_string())
            .or_default() += 1;
    }
    let summary: BTreeMap<String, u64> =
        serde_json::from_value(report["detections"]["findings"].clone()).unwrap();
    assert_eq!(summary, by_level);
    assert_eq!(report["detections"]["rules"]["loaded"], 22);
    // The manifest names the findings file and the counts.
    let part = t
        .output()
        .join("account=111122223333/region=us-east-1/day=2024-05-01");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(part.join("_trailpack.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["findings"]["outputs"][0]["rows"].as_u64().unwrap() as usize,
        rows.len()
    );
    assert_eq!(manifest["findings"]["rules"], 22);
    // The curated table itself is untouched by the findings folder: DuckDB's usual
    // glob and Athena (which skips `_` names) read data files only.
    let n = sql1(&t.output(), "SELECT count(*) FROM t");
    assert_eq!(n, 32);
}

#[test]
fn detect_over_curated_output_and_raw_logs_equals_detection_at_conversion() {
    let t = tree_with_records();
    let rules = rules_dir();
    let (code, _, o) = convert(
        &t.input(),
        &t.output(),
        &["--rules", rules.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{}", stderr(&o));
    let at_conversion = found_in_rows(&findings_table(&t.output()));
    let r = rules.to_str().unwrap();
    let (code, curated, err) =
        detect_jsonl(&["--rules", r, "--input", t.output().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("curated input"), "{err}");
    assert_eq!(curated, at_conversion);
    let (code, raw, err) = detect_jsonl(&["--rules", r, "--input", t.input().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("raw input"), "{err}");
    assert_eq!(raw, at_conversion);
    // --output writes the same findings as a table of its own.
    let dir = t.dir.path().join("found");
    let o = trailpack(&[
        "detect",
        "--rules",
        r,
        "--input",
        t.output().to_str().unwrap(),
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = sql(
        &dir,
        &format!(
            "SELECT rule_title, eventid FROM read_parquet('{}/account=*/region=*/day=*/findings.parquet', hive_partitioning = true)",
            dir.display()
        ),
    );
    assert_eq!(found_in_rows(&rows), at_conversion);
    // Filters select partitions: another day has none.
    let (_, none, _) = detect_jsonl(&[
        "--rules",
        r,
        "--input",
        t.output().to_str().unwrap(),
        "--day",
        "2024-05-02",
    ]);
    assert!(none.is_empty());
}

#[test]
fn findings_are_replaced_with_their_partition_never_duplicated() {
    let mut t = tree_with_records();
    let rules = rules_dir();
    let r = rules.to_str().unwrap();
    let count = |out: &Path| findings_table(out).len();
    let (code, _, o) = convert(&t.input(), &t.output(), &["--rules", r]);
    assert_eq!(code, 0, "{}", stderr(&o));
    let first = count(&t.output());
    assert_eq!(first, expected().values().sum::<u32>() as usize);
    // A re-run finds the partitions current (the day and, by the day rule, the
    // previous one, empty): nothing rebuilt, nothing added.
    let (_, report, _) = convert(&t.input(), &t.output(), &["--rules", r]);
    assert_eq!(report["partitions"]["unchanged"], 2);
    assert_eq!(report["partitions"]["written"], 0);
    assert_eq!(
        report["detections"]["findings"],
        serde_json::json!(summary_of(&t.output()))
    );
    assert_eq!(count(&t.output()), first);
    // A late file with one more StopLogging and a duplicate of ev-17: the partition is
    // rebuilt, its findings replaced; the duplicate record is written once, so found once.
    let text = std::fs::read_to_string(repo().join("tests/detect/records.json")).unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    let dup = records
        .iter()
        .find(|r| r["eventID"] == "ev-17")
        .unwrap()
        .clone();
    let mut new = dup.clone();
    new["eventID"] = "ev-99".into();
    new["eventTime"] = "2024-05-01T10:00:00Z".into();
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-05-01",
        "1005",
        &[dup, new],
    );
    let (code, report, o) = convert(&t.input(), &t.output(), &["--rules", r]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(report["partitions"]["written"], 1);
    // ev-99 matches T10 (cased StopLogging) and T13 (1 of sel_*).
    assert_eq!(count(&t.output()), first + 2);
    // --force rebuilds from scratch: same findings.
    let (_, _, _) = convert(&t.input(), &t.output(), &["--rules", r, "--force"]);
    assert_eq!(count(&t.output()), first + 2);
    // Other rules make the findings stale: both partitions (the day and its empty
    // previous day) are rebuilt with the new set.
    let one = rules.join("t10_cased.yml");
    let (_, report, _) = convert(&t.input(), &t.output(), &["--rules", one.to_str().unwrap()]);
    assert_eq!(report["partitions"]["written"], 2);
    assert_eq!(count(&t.output()), 2, "T10 on ev-17 and ev-99");
    // Without rules, the rebuilt partition has no findings (and all its rows).
    let (_, report, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(report["partitions"]["written"], 2);
    assert_eq!(count(&t.output()), 0);
    assert_eq!(sql1(&t.output(), "SELECT count(*) FROM t"), 33);
}

/// Findings by level in an output, from DuckDB.
fn summary_of(out: &Path) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in findings_table(out) {
        *m.entry(r["rule_level"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn unsupported_rules_are_skipped_by_name_and_malformed_ones_fail_with_file_and_line() {
    let t = tree_with_records();
    let o = trailpack(&[
        "detect",
        "--rules",
        rules_dir().to_str().unwrap(),
        "--input",
        t.input().to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("T23 many failed console logins") && err.contains("correlation"),
        "{err}"
    );
    assert!(
        err.contains("T24 an aggregation is skipped by name") && err.contains("aggregation"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped: Vec<&str> = report["rules"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        [
            "T23 many failed console logins",
            "T24 an aggregation is skipped by name"
        ],
        "{report}"
    );
    assert_eq!(report["rules"]["other_logsource"], 1);
    assert_eq!(report["rules"]["files"], 24);
    assert_eq!(report["rules"]["loaded"], 22);
    // A malformed file stops the run before anything is read: exit 2, file and line.
    let bad = repo().join("tests/detect/bad");
    let input = t.input();
    for cmd in ["detect", "convert"] {
        let out = t.dir.path().join("never");
        let mut args = vec![
            cmd,
            "--rules",
            bad.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ];
        if cmd == "convert" {
            args.extend(["--output", out.to_str().unwrap()]);
        }
        let o = trailpack(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("malformed.yml") && err.contains("line 7"),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn fail_on_exits_3_only_for_findings_at_or_above_the_level() {
    let t = tree_with_records();
    let input = t.input();
    let input = input.to_str().unwrap();
    let rules = rules_dir();
    let low_only = rules.join("t02_wildcards.yml");
    let run = |args: &[&str]| trailpack(args).status.code();
    assert_eq!(
        run(&[
            "detect",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input,
            "--fail-on",
            "critical",
            "--json"
        ]),
        Some(3)
    );
    assert_eq!(
        run(&[
            "detect",
            "--rules",
            low_only.to_str().unwrap(),
            "--input",
            input,
            "--fail-on",
            "medium",
            "--json"
        ]),
        Some(0)
    );
    assert_eq!(
        run(&[
            "detect",
            "--rules",
            low_only.to_str().unwrap(),
            "--input",
            input,
            "--fail-on",
            "low",
            "--json"
        ]),
        Some(3)
    );
    // Without --fail-on, findings never change the exit code.
    assert_eq!(
        run(&[
            "detect",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input,
            "--json"
        ]),
        Some(0)
    );
    let out = t.dir.path().join("o");
    let (code, _, _) = convert(
        &t.input(),
        &out,
        &["--rules", rules.to_str().unwrap(), "--fail-on", "high"],
    );
    assert_eq!(code, 3);
    // The partition was published all the same.
    assert_eq!(sql1(&out, "SELECT count(*) FROM t"), 32);
}

#[test]
fn real_corpus_findings_match_the_independent_evaluator() {
    let t = corpus_tree();
    // The shipped rules and the test rules, in one folder.
    let all = t.dir.path().join("rules");
    std::fs::create_dir_all(&all).unwrap();
    for dir in [repo().join("rules"), rules_dir()] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "yml") {
                std::fs::copy(e.path(), all.join(e.file_name())).unwrap();
            }
        }
    }
    let (code, raw, err) = detect_jsonl(&[
        "--rules",
        all.to_str().unwrap(),
        "--input",
        t.input().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let expected = independent(&all, &t.input());
    assert!(
        expected.values().sum::<u32>() >= 20,
        "too few findings to compare: {expected:?}"
    );
    assert_eq!(raw, expected);
    // At conversion too (the day rule moves records between days; every record is
    // still evaluated exactly once).
    let (code, _, o) = convert(&t.input(), &t.output(), &["--rules", all.to_str().unwrap()]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(found_in_rows(&findings_table(&t.output())), expected);
    eprintln!(
        "real corpus: {} findings agree",
        expected.values().sum::<u32>()
    );
}

/// `detect` of `input` with `rules`, its findings written to `out`.
fn detect_into(rules: &Path, input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "detect",
        "--rules",
        rules.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    trailpack(&args)
}

/// No staged findings file (`.findings.parquet.<pid>`) is left below `out`.
fn assert_nothing_staged(out: &Path) {
    let left = list_files(out);
    assert!(
        !left.iter().any(|f| f.contains(".findings.parquet.")),
        "staged files left: {left:?}"
    );
}

/// A root-user record of account `acct` (every one a finding of the shipped
/// "Root user activity" rule).
fn root_record(acct: &str, id: &str, time: &str) -> Value {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "principalId": acct,
                         "arn": format!("arn:aws:iam::{acct}:root"), "accountId": acct},
        "eventTime": time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "requestID": format!("req-{id}"),
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": acct
    })
}

/// `detect --output` streams each partition's findings into its file as they are
/// found and hands partitions over as soon as a few are swept, instead of holding
/// the whole run's findings: ten times as many partitions (each 8 raw files of 500
/// root-user records, every record a finding), or one partition of ten times the
/// findings, peak within 15 MiB of the small sweep, where holding the findings
/// would add ≈ 290 bytes a finding (measured, debug build: 4 → 40 partitions took
/// 51 → 85 MiB when the sweep held the run's findings; one large partition 89 MiB
/// when it held a partition's; streamed: 50, 52 and 54 MiB). The findings written
/// are counted by DuckDB.
#[test]
fn detect_memory_does_not_grow_with_the_findings() {
    const RECORDS: u32 = 500;
    let sweep = |accounts: u32, files: u32| -> (f64, u64) {
        let mut t = Tree::new();
        for a in 0..accounts {
            let acct = format!("{}", 100_000_000_000u64 + u64::from(a));
            for f in 0..files {
                let records: Vec<Value> = (0..RECORDS)
                    .map(|r| {
                        let time = format!("2024-05-01T{:02}:{:02}:{:02}Z", f % 24, r / 60, r % 60);
                        root_record(&acct, &format!("{a}-{f}-{r}"), &time)
                    })
                    .collect();
                t.file(None, &acct, "us-east-1", "2024-05-01", "0005", &records);
            }
        }
        let out = t.output();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailpack"));
        // Measure what the run keeps, not what the allocator has yet to give back.
        cmd.env("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0");
        cmd.args(["detect", "--rules"])
            .arg(repo().join("rules"))
            .arg("--input")
            .arg(t.input())
            .arg("--output")
            .arg(&out)
            .args(["--threads", "1", "--no-progress", "--json"]);
        let (o, rss) = measured(cmd);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let n = sql1(
            &out,
            &format!(
                "SELECT count(*) AS n FROM read_parquet('{}/account=*/region=*/day=*/findings.parquet')",
                out.display()
            ),
        );
        assert_nothing_staged(&out);
        (rss, n.as_u64().unwrap())
    };
    let (small_rss, small) = sweep(4, 8);
    let (many_rss, many) = sweep(40, 8);
    let (large_rss, large) = sweep(1, 320);
    assert_eq!(small, u64::from(4 * 8 * RECORDS));
    assert_eq!(many, u64::from(40 * 8 * RECORDS));
    assert_eq!(large, u64::from(320 * RECORDS));
    eprintln!(
        "detect: 4 partitions peak {small_rss:.0} MiB, 40 partitions {many_rss:.0} MiB, \
         one partition of 160,000 findings {large_rss:.0} MiB"
    );
    for (what, rss) in [
        ("40 partitions", many_rss),
        ("one large partition", large_rss),
    ] {
        assert!(
            rss < small_rss + 15.0,
            "peak RSS grew from {small_rss:.0} to {rss:.0} MiB with {what}"
        );
    }
}

/// A raw partition swept again and found clean loses its old findings file, as a
/// curated one does: the findings table says what the last sweep found.
#[test]
fn a_raw_partition_swept_again_without_findings_loses_its_findings_file() {
    let t = tree_with_records();
    let out = t.dir.path().join("found");
    let file = out.join("account=111122223333/region=us-east-1/day=2024-05-01/findings.parquet");
    let sweep = |rules: &Path| {
        let o = detect_into(rules, &t.input(), &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    sweep(&rules_dir());
    assert!(file.is_file(), "{}", list_files(&out).join("\n"));
    let clean = clean_rule(t.dir.path());
    sweep(&clean);
    assert!(!file.exists(), "{}", list_files(&out).join("\n"));
}

/// A sweep that fails (a curated data file is corrupt) leaves no staged findings
/// file behind: a partition swept before the failure but not yet handed over has
/// its staged file removed, and the error names the corrupt file.
#[test]
fn a_failed_sweep_leaves_no_staged_findings_file() {
    let mut t = tree_with_records();
    let text = std::fs::read_to_string(repo().join("tests/detect/records.json")).unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    t.file(
        None,
        "999988887777",
        "us-east-1",
        "2024-05-01",
        "0105",
        &records,
    );
    let (code, _, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    let bad = t
        .output()
        .join("account=999988887777/region=us-east-1/day=2024-05-01/part-00000.parquet");
    std::fs::write(&bad, b"not parquet").unwrap();
    let found = t.dir.path().join("found");
    let o = detect_into(&rules_dir(), &t.output(), &found, &["--threads", "1"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("part-00000.parquet"), "{}", stderr(&o));
    assert_nothing_staged(&found);
}

/// A raw partition with a file that cannot be decoded keeps its old findings file:
/// its findings now would be incomplete, so they replace nothing (the run names
/// the file and exits 1).
#[test]
fn a_raw_partition_with_a_bad_file_keeps_its_old_findings_file() {
    let mut t = tree_with_records();
    let out = t.dir.path().join("found");
    let file = out.join("account=111122223333/region=us-east-1/day=2024-05-01/findings.parquet");
    let input = t.input();
    let o = detect_into(&rules_dir(), &input, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = std::fs::read(&file).unwrap();
    let bad = t.log_path(None, "111122223333", "us-east-1", "2024-05-01", "0200");
    std::fs::write(&bad, b"not gzip").unwrap();
    let o = detect_into(&clean_rule(t.dir.path()), &input, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let name = bad.file_name().unwrap().to_str().unwrap();
    assert!(stderr(&o).contains(name), "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_nothing_staged(&out);
}
