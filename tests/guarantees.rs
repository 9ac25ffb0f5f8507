//! The lake as a system of record, on a local output: raw-log expiry, `--force`,
//! late files of the next day, late-window changes, several trails and multi-member
//! gzip never lose or double a record. Each test runs the real binary and reads the
//! output back with DuckDB and pyarrow (tests/py/trailcheck.py).

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

const A: &str = "111122223333";

/// Per-day row counts and the number of distinct eventIDs, read by DuckDB.
fn days(out: &Path) -> Vec<(String, i64)> {
    sql(
        out,
        "SELECT CAST(day AS VARCHAR) AS d, count(*) AS n FROM t GROUP BY 1 ORDER BY 1",
    )
    .into_iter()
    .map(|r| {
        (
            r["d"].as_str().unwrap().to_string(),
            r["n"].as_i64().unwrap(),
        )
    })
    .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    for f in list_files(from) {
        let dst = to.join(&f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), dst).unwrap();
    }
}

/// Three days of one account/region; each day's folder has an early file (00:30)
/// holding two records of the previous day and one of its own.
fn three_days() -> Tree {
    let mut t = Tree::new();
    for (d, prev) in [
        ("2024-03-01", "2024-02-29"),
        ("2024-03-02", "2024-03-01"),
        ("2024-03-03", "2024-03-02"),
    ] {
        let early = vec![
            record(&format!("late-{d}-1"), &format!("{prev}T23:58:00Z"), "u"),
            record(&format!("late-{d}-2"), &format!("{prev}T23:59:30Z"), "u"),
            record(&format!("early-{d}"), &format!("{d}T00:10:00Z"), "u"),
        ];
        t.file(None, A, "us-east-1", d, "0030", &early);
        for h in ["0900", "1500"] {
            let recs: Vec<Value> = (0..5)
                .map(|j| {
                    record(
                        &format!("{d}-{h}-{j}"),
                        &format!("{d}T{}:{}:00Z", &h[..2], 10 + j),
                        "u",
                    )
                })
                .collect();
            t.file(None, A, "us-east-1", d, h, &recs);
        }
    }
    t
}

fn convert_ok(input: &Path, output: &Path, extra: &[&str]) -> Value {
    let (code, r, o) = convert(input, output, extra);
    assert_eq!(code, 0, "{}{}", stderr(&o), stdout(&o));
    r
}

#[test]
fn expired_raw_logs_lose_nothing_on_rerun_force_or_upgrade() {
    let t = three_days();
    let (i, o) = (t.input(), t.output());
    convert_ok(&i, &o, &[]);
    let before = days(&o);
    // 02-29 holds the two late records of 03-01's early file.
    assert_eq!(
        before,
        vec![
            ("2024-02-29".into(), 2),
            ("2024-03-01".into(), 13),
            ("2024-03-02".into(), 13),
            ("2024-03-03".into(), 11)
        ]
    );
    let original = t.dir.path().join("original");
    copy_tree(&i, &original);

    // An S3 lifecycle rule expires 03-02's raw folder.
    std::fs::remove_dir_all(
        i.join("AWSLogs")
            .join(A)
            .join("CloudTrail/us-east-1/2024/03/02"),
    )
    .unwrap();
    let r = convert_ok(&i, &o, &[]);
    assert_eq!(r["partitions"]["written"], 0, "nothing to rebuild: {r}");
    assert_eq!(days(&o), before);

    // --force rebuilds every partition: the expired folder's rows are carried over.
    let r = convert_ok(&i, &o, &["--force"]);
    assert_eq!(r["partitions"]["written"], 4, "{r}");
    // 03-01 keeps the 2 late records of 03-02's expired early file, 03-02 its 11 own.
    assert_eq!(r["records"]["carried"], 13, "{r}");
    assert_eq!(days(&o), before);
    // Every original record exactly once, each naming the object it came from.
    assert_roundtrip(&original, &o);

    // A settings change over history (here: the manifests' output format, as an
    // upgrade that adds columns would) rebuilds with the rows carried over too.
    for m in list_files(&o)
        .iter()
        .filter(|f| f.ends_with("_trailpack.json"))
    {
        let p = o.join(m);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("\"schema\": \"", "\"schema\": \"old-")).unwrap();
    }
    let r = convert_ok(&i, &o, &[]);
    assert_eq!(r["partitions"]["written"], 4, "{r}");
    assert_eq!(days(&o), before);
    assert_roundtrip(&original, &o);

    // Shrinking on purpose: --drop-vanished rebuilds without the expired inputs.
    let r = convert_ok(&i, &o, &["--drop-vanished"]);
    assert!(r["partitions"]["written"].as_u64().unwrap() >= 2, "{r}");
    let after = days(&o);
    assert_eq!(
        after,
        vec![
            ("2024-02-29".into(), 2),
            ("2024-03-01".into(), 11),
            ("2024-03-02".into(), 2),
            ("2024-03-03".into(), 11)
        ],
        "03-01 lost the 2 late records of 03-02's early file, 03-02 its own 11"
    );
    assert_roundtrip(&i, &o);
}

#[test]
fn a_late_early_file_of_the_next_day_also_commits_the_previous_day() {
    let mut t = three_days();
    let (i, o) = (t.input(), t.output());
    // A day whose previous day was never built adds nothing (no cascade into history).
    let r = convert_ok(&i, &o, &["--day", "2024-03-03"]);
    assert_eq!(
        (
            r["partitions"]["planned"].clone(),
            r["added_for_day_rule"].clone()
        ),
        (json!(1), json!(0)),
        "{r}"
    );
    convert_ok(&i, &o, &[]);
    // Replication lag: an early file of 03-02 arrives after 03-01 was built.
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-02",
        "0110",
        &[
            record("lagging-late", "2024-03-01T23:57:00Z", "u"),
            record("lagging-own", "2024-03-02T01:05:00Z", "u"),
        ],
    );
    let r = convert_ok(&i, &o, &["--day", "2024-03-02"]);
    assert_eq!(r["added_for_day_rule"], 1, "{r}");
    assert_eq!(r["partitions"]["written"], 2, "{r}");
    let rows = sql(
        &o,
        "SELECT eventid, CAST(day AS VARCHAR) AS d FROM t WHERE eventid LIKE 'lagging%' ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            json!({"eventid": "lagging-late", "d": "2024-03-01"}),
            json!({"eventid": "lagging-own", "d": "2024-03-02"})
        ]
    );
    assert_roundtrip(&i, &o);
    // Both are now current.
    let r = convert_ok(&i, &o, &[]);
    assert_eq!(r["partitions"]["written"], 0, "{r}");
}

#[test]
fn a_different_late_window_is_refused_before_anything_changes() {
    let t = three_days();
    let (i, o) = (t.input(), t.output());
    convert_ok(&i, &o, &[]);
    let snapshot = |o: &Path| -> Vec<(String, Vec<u8>)> {
        list_files(o)
            .into_iter()
            .map(|f| {
                let b = std::fs::read(o.join(&f)).unwrap();
                (f, b)
            })
            .collect()
    };
    let before = snapshot(&o);
    let (code, _, out) = convert(&i, &o, &["--day", "2024-03-02", "--late-window", "30m"]);
    assert_eq!(code, 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--late-window 120m"),
        "names the output's window: {}",
        stderr(&out)
    );
    assert!(snapshot(&o) == before, "nothing changed");
}

#[test]
fn two_trails_into_one_output_give_the_union_once() {
    let mut org = Tree::new();
    let mut plain = Tree::new();
    let shared: Vec<Value> = (0..3)
        .map(|j| {
            record(
                &format!("shared-{j}"),
                &format!("2024-03-05T10:0{j}:00Z"),
                "both",
            )
        })
        .collect();
    let mut a = shared.clone();
    a.push(record("only-org", "2024-03-05T11:00:00Z", "org"));
    let mut b = shared.clone();
    b.push(record("only-plain", "2024-03-05T12:00:00Z", "acct"));
    org.file(Some("o-abc123"), A, "us-east-1", "2024-03-05", "1105", &a);
    plain.file(None, A, "us-east-1", "2024-03-05", "1205", &b);
    let out = org.dir.path().join("lake");
    convert_ok(&org.input(), &out, &[]);
    let r = convert_ok(&plain.input(), &out, &[]);
    assert_eq!(
        r["records"]["carried"], 4,
        "the org trail's rows are kept: {r}"
    );
    assert_eq!(
        r["records"]["deduplicated"], 3,
        "the shared events once: {r}"
    );
    let rows = sql(
        &out,
        "SELECT eventid, source_object FROM t ORDER BY eventid",
    );
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["eventid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["only-org", "only-plain", "shared-0", "shared-1", "shared-2"]
    );
    assert!(rows[0]["source_object"]
        .as_str()
        .unwrap()
        .starts_with("AWSLogs/o-abc123/"));
    assert!(rows[1]["source_object"]
        .as_str()
        .unwrap()
        .starts_with(&format!("AWSLogs/{A}/")));
    // Each trail's next run finds the partition current: no ping-pong.
    for input in [org.input(), plain.input()] {
        let r = convert_ok(&input, &out, &[]);
        assert_eq!(r["partitions"]["unchanged"], 1, "{r}");
    }
}

#[test]
fn multi_member_gzip_decodes_fully() {
    let mut t = Tree::new();
    // One JSON document split over two gzip members (RFC 1952 §2.2).
    let doc = json!({"Records": [record("m1", "2024-03-05T10:00:00Z", "a"), record("m2", "2024-03-05T10:01:00Z", "a")]}).to_string();
    let (head, tail) = doc.split_at(doc.len() / 3);
    let mut split = gz(head.as_bytes());
    split.extend(gz(tail.as_bytes()));
    let p = t.log_path(None, A, "us-east-1", "2024-03-05", "1010");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, split).unwrap();
    // Two whole documents of equal length in two members.
    let d1 = json!({"Records": [record("w1", "2024-03-05T11:00:00Z", "a")]}).to_string();
    let d2 = json!({"Records": [record("w2", "2024-03-05T11:00:00Z", "a")]}).to_string();
    assert_eq!(d1.len(), d2.len());
    let mut two = gz(d1.as_bytes());
    two.extend(gz(d2.as_bytes()));
    let p = t.log_path(None, A, "us-east-1", "2024-03-05", "1110");
    std::fs::write(&p, two).unwrap();
    let r = convert_ok(&t.input(), &t.output(), &[]);
    assert_eq!(r["records"]["written"], 4, "{r}");
    let ids: Vec<Value> = sql(&t.output(), "SELECT eventid FROM t ORDER BY 1")
        .into_iter()
        .map(|r| r["eventid"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("m1"), json!("m2"), json!("w1"), json!("w2")]
    );
}

#[test]
fn de_duplication_beyond_its_memory_budget_spills_and_gives_the_same_rows() {
    let mut t = Tree::new();
    let mut files = Vec::new();
    for f in 0..30 {
        let recs: Vec<Value> = (0..2000)
            .map(|j| {
                record(
                    &format!("{f}-{j}"),
                    &format!("2024-03-05T{:02}:{:02}:{:02}Z", f % 24, j / 60 % 60, j % 60),
                    "u",
                )
            })
            .collect();
        t.file(
            None,
            A,
            "us-east-1",
            "2024-03-05",
            &format!("{:02}00", f % 24),
            &recs,
        );
        files.push(recs);
    }
    // Six files delivered twice under other names (12,000 duplicates), and three
    // records that reuse an eventID with other content (conflicts, kept).
    for recs in files.iter().take(6) {
        t.file(None, A, "us-east-1", "2024-03-05", "2300", recs);
    }
    let mut conflicting = files[10][..3].to_vec();
    for r in &mut conflicting {
        r["eventName"] = json!("SomethingElse");
    }
    t.file(None, A, "us-east-1", "2024-03-05", "2310", &conflicting);
    let memory = t.dir.path().join("memory");
    let spilled = t.dir.path().join("spilled");
    let small = ["--row-group-size", "256KiB"];
    let a = convert_ok(&t.input(), &memory, &small);
    let b = convert_ok(
        &t.input(),
        &spilled,
        &["--row-group-size", "256KiB", "--dedup-memory", "64KiB"],
    );
    for r in [&a, &b] {
        assert_eq!(r["records"]["written"], 60_003, "{r}");
        assert_eq!(r["records"]["deduplicated"], 12_000, "{r}");
        assert_eq!(r["records"]["eventid_conflicts"], 3, "{r}");
    }
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(spilled.join(format!(
            "account={A}/region=us-east-1/day=2024-03-05/_trailpack.json"
        )))
        .unwrap(),
    )
    .unwrap();
    let row_groups: u64 = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["row_groups"].as_u64().unwrap())
        .sum();
    assert!(row_groups >= 8, "far above the row-group size: {m}");
    assert!(assert_same_rows(&memory, &spilled).contains("equal: 60003 rows"));
    assert_eq!(
        sql1(&spilled, "SELECT count(DISTINCT eventid) FROM t"),
        60_000
    );
}
