//! S3 in and out, against a real S3-compatible server (moto) over HTTP; the output
//! is read back from the server by pyarrow and compared with a local conversion.

mod common;

use common::*;
use serde_json::Value;

/// Org and plain layouts, three accounts, two regions, two days with a late file,
/// and one day folder of 1,005 files (more than one ListObjectsV2 page).
fn tree() -> Tree {
    let mut t = Tree::new();
    let mut n = 0;
    let mut rec = |day: &str, hhmm: &str| {
        n += 1;
        record(
            &format!("e{n}"),
            &format!("{day}T{}:{}:00Z", &hhmm[..2], &hhmm[2..]),
            "alice",
        )
    };
    for (org, acct) in [
        (Some("o-aaaa1111bb"), "111122223333"),
        (Some("o-aaaa1111bb"), "444455556666"),
        (None, "777788889999"),
    ] {
        for region in ["us-east-1", "eu-west-1"] {
            t.file(
                org,
                acct,
                region,
                "2024-03-05",
                "1200",
                &[rec("2024-03-05", "1159"), rec("2024-03-05", "1158")],
            );
            // Early file of the next day, with a late record of 03-05.
            t.file(
                org,
                acct,
                region,
                "2024-03-06",
                "0005",
                &[rec("2024-03-05", "2359"), rec("2024-03-06", "0001")],
            );
        }
    }
    for i in 0..1005 {
        let hhmm = format!("{:02}{:02}", 10 + i / 60 % 12, i % 60);
        t.file(
            None,
            "777788889999",
            "us-east-1",
            "2024-03-07",
            &hhmm,
            &[rec("2024-03-07", &hhmm)],
        );
    }
    t
}

#[test]
fn s3_to_s3_equals_the_local_conversion() {
    let t = tree();
    let (code, local, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    let inb = bucket("in");
    let outb = bucket("out");
    let up = py_aws(&["s3-put", &inb, "trail/", t.input().to_str().unwrap()]);
    assert!(up.status.success(), "{}", stderr(&up));
    let mk = py_aws(&[
        "s3-put",
        &outb,
        "unused/",
        t.dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(mk.status.success(), "{}", stderr(&mk));

    let input = format!("s3://{inb}/trail");
    let output = format!("s3://{outb}/curated");
    let o = trailpack_aws(&["convert", "--input", &input, "--output", &output, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["files"]["listed"], local["files"]["listed"]);
    assert_eq!(report["files"]["listed"], 1017);
    assert_eq!(report["records"], local["records"]);
    assert_eq!(
        report["partitions"]["written"],
        local["partitions"]["written"]
    );

    // The independent reader sees the same rows in S3 as in the local output.
    let cmp = py_aws(&["s3-compare", &outb, "curated", t.output().to_str().unwrap()]);
    assert!(cmp.status.success(), "{}{}", stdout(&cmp), stderr(&cmp));
    assert!(
        stdout(&cmp).contains("equal: 1029 rows"),
        "{}",
        stdout(&cmp)
    );

    // Objects: SSE-S3, one data file (in its build's folder) and a manifest per
    // partition, nothing else.
    let keys: Value =
        serde_json::from_slice(&py_aws(&["s3-keys", &outb, "curated/"]).stdout).unwrap();
    let objects = keys["objects"].as_array().unwrap();
    assert!(objects.iter().all(|o| o["sse"] == "AES256"), "{keys}");
    let parts = objects
        .iter()
        .filter(|o| o["key"].as_str().unwrap().ends_with("/part-00000.parquet"))
        .count();
    let manifests = objects
        .iter()
        .filter(|o| o["key"].as_str().unwrap().ends_with("/_trailpack.json"))
        .count();
    // Plus the dataset settings at the root.
    assert_eq!((parts, manifests, objects.len()), (13, 13, 27), "{keys}");
    assert!(objects.iter().any(|o| {
        let k = o["key"].as_str().unwrap();
        k.starts_with("curated/account=444455556666/region=eu-west-1/day=2024-03-05/")
            && k.ends_with("/part-00000.parquet")
    }));

    // Re-running finds every partition current (manifests read from S3).
    let o = trailpack_aws(&["convert", "--input", &input, "--output", &output, "--json"]);
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        again["partitions"]["unchanged"],
        report["partitions"]["written"]
    );
    assert_eq!(again["files"]["read"], 0);

    // Filters reach the listing: one account, one day.
    let o = trailpack_aws(&[
        "convert",
        "--input",
        &input,
        "--output",
        &format!("s3://{outb}/one"),
        "--json",
        "--account",
        "444455556666",
        "--region",
        "eu-west-1",
        "--day",
        "2024-03-05",
    ]);
    let one: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one["partitions"]["planned"], 1);
    assert_eq!(
        one["files"]["listed"], 2,
        "the day and the next day's early file"
    );
    assert_eq!(one["records"]["written"], 3);
}

#[test]
fn s3_input_to_local_output_and_multipart_upload() {
    let t = tree();
    let inb = bucket("in");
    assert!(py_aws(&["s3-put", &inb, "", t.input().to_str().unwrap()])
        .status
        .success());
    // S3 in, local out: the same dataset as local to local.
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let out2 = t.dir.path().join("from-s3");
    let o = trailpack_aws(&[
        "convert",
        "--input",
        &format!("s3://{inb}"),
        "--output",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a = sql(
        &t.output(),
        "SELECT account, region, CAST(day AS VARCHAR) AS day, eventid FROM t ORDER BY ALL",
    );
    let b = sql(
        &out2,
        "SELECT account, region, CAST(day AS VARCHAR) AS day, eventid FROM t ORDER BY ALL",
    );
    assert_eq!(a.len(), 1029);
    assert_eq!(a, b);

    // Local in, S3 out through multipart uploads, with SSE-KMS.
    let outb = bucket("mp");
    assert!(py_aws(&[
        "s3-put",
        &outb,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let o = trailpack_aws(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        &format!("s3://{outb}/c"),
        "--s3-multipart-threshold",
        "1KiB",
        "--sse-kms-key-id",
        "alias/trailpack-test",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cmp = py_aws(&["s3-compare", &outb, "c", t.output().to_str().unwrap()]);
    assert!(
        stdout(&cmp).contains("equal: 1029 rows"),
        "{}{}",
        stdout(&cmp),
        stderr(&cmp)
    );
    let keys: Value = serde_json::from_slice(&py_aws(&["s3-keys", &outb, "c/"]).stdout).unwrap();
    assert_eq!(keys["open_multipart_uploads"], 0);
    assert!(
        keys["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["sse"] == "aws:kms"),
        "{keys}"
    );
}

#[test]
fn missing_buckets_fail_with_a_clear_message() {
    let never = tempfile::tempdir().unwrap();
    let o = trailpack_aws(&[
        "convert",
        "--input",
        "s3://tp-no-such-bucket-in/x",
        "--output",
        never.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("ListObjectsV2")
            && e.contains("tp-no-such-bucket-in")
            && e.contains("NoSuchBucket"),
        "{e}"
    );

    let mut t = Tree::new();
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("a", "2024-03-05T09:59:00Z", "a")],
    );
    let o = trailpack_aws(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        "s3://tp-no-such-bucket-out/c",
        "--json",
    ]);
    // An unreachable output is a configuration error, found before any work.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("--output is not reachable")
            && e.contains("ListObjectsV2")
            && e.contains("tp-no-such-bucket-out"),
        "{e}"
    );
    assert!(o.stdout.is_empty(), "nothing was done");
}

#[test]
fn faults_are_retried_and_the_output_is_identical() {
    let mut t = Tree::new();
    for i in 0..40 {
        let hhmm = format!("{:02}{:02}", 10 + i / 60, i % 60);
        let recs: Vec<Value> = (0..30)
            .map(|j| {
                record(
                    &format!("f{i}-{j}"),
                    &format!("2024-03-05T{}:{}:00Z", &hhmm[..2], &hhmm[2..]),
                    "a",
                )
            })
            .collect();
        t.file(
            None,
            "111122223333",
            if i % 2 == 0 { "us-east-1" } else { "eu-west-1" },
            "2024-03-05",
            &hhmm,
            &recs,
        );
    }
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let inb = bucket("in");
    let outb = bucket("out");
    assert!(py_aws(&["s3-put", &inb, "", t.input().to_str().unwrap()])
        .status
        .success());
    assert!(py_aws(&[
        "s3-put",
        &outb,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());

    let proxy = FaultProxy::start(5, 0);
    let db = bucket("db").replace('-', "_");
    let o = proxy.trailpack(&[
        "convert",
        "--input",
        &format!("s3://{inb}"),
        "--output",
        &format!("s3://{outb}/c"),
        "--glue-database",
        &db,
        "--json",
        "--max-concurrent-requests",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stats = proxy.stats();
    for k in ["slowdown", "internal", "cut"] {
        assert!(
            stats[k].as_u64().unwrap() > 0,
            "no {k} faults injected: {stats}"
        );
    }
    let cmp = py_aws(&["s3-compare", &outb, "c", t.output().to_str().unwrap()]);
    assert!(
        stdout(&cmp).contains("equal: 1200 rows"),
        "{}{}",
        stdout(&cmp),
        stderr(&cmp)
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["catalog"]["partitions_created"], 2);
}

#[test]
fn access_denied_is_exit_1_naming_bucket_and_action() {
    let proxy = FaultProxy::start(1_000_000, 0);
    let never = tempfile::tempdir().unwrap();
    let o = proxy.trailpack(&[
        "convert",
        "--input",
        "s3://tp-denied-in/AWSLogs/",
        "--output",
        never.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("ListObjectsV2 s3://tp-denied-in/AWSLogs/ failed (AccessDenied)"),
        "{e}"
    );
}

#[test]
fn buckets_in_other_regions_are_read_and_written_there() {
    let mut t = Tree::new();
    for (i, day) in ["2024-03-05", "2024-03-06"].iter().enumerate() {
        t.file(
            None,
            "111122223333",
            "eu-west-2",
            day,
            "1200",
            &[record(&format!("x{i}"), &format!("{day}T11:00:00Z"), "a")],
        );
    }
    let (code, _, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    // The job runs in us-east-1 (AWS_REGION); the trail bucket is in eu-west-2 and
    // the curated bucket in ap-southeast-2.
    let inb = bucket("in");
    let outb = bucket("out");
    let up = py_aws(&[
        "s3-put",
        &format!("{inb}@eu-west-2"),
        "",
        t.input().to_str().unwrap(),
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    let mk = py_aws(&[
        "s3-put",
        &format!("{outb}@ap-southeast-2"),
        "x/",
        t.dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(mk.status.success(), "{}", stderr(&mk));

    let proxy = FaultProxy::start(0, 0);
    let o = proxy
        .command(&[
            "convert",
            "--input",
            &format!("s3://{inb}"),
            "--output",
            &format!("s3://{outb}/c"),
            "--json",
        ])
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let signed = &proxy.stats()["signed"];
    // Every read of the trail and every write of the curated data is signed for
    // the bucket's own region (only the HeadBucket that asks is not).
    assert_eq!(
        signed[&inb]["GET"],
        serde_json::json!(["eu-west-2"]),
        "{signed}"
    );
    assert_eq!(
        signed[&outb]["PUT"],
        serde_json::json!(["ap-southeast-2"]),
        "{signed}"
    );
    assert_eq!(
        signed[&outb]["GET"],
        serde_json::json!(["ap-southeast-2"]),
        "{signed}"
    );
    let cmp = py_aws(&["s3-compare", &outb, "c", t.output().to_str().unwrap()]);
    assert!(cmp.status.success(), "{}{}", stdout(&cmp), stderr(&cmp));
    assert!(stdout(&cmp).contains("equal: 2 rows"), "{}", stdout(&cmp));
}

/// `detect` over a curated dataset in S3, writing its findings table to S3: one
/// object per partition, read back by pyarrow; swept again with a rule that finds
/// nothing, the partition's object is deleted (never a stale or doubled finding).
#[test]
fn detect_reads_curated_s3_and_writes_findings_to_s3() {
    let t = stop_logging_tree();
    let outb = bucket("detect");
    let mk = py_aws(&[
        "s3-put",
        &outb,
        "unused/",
        t.dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(mk.status.success(), "{}", stderr(&mk));
    let input = t.input();
    let curated = format!("s3://{outb}/curated");
    let o = trailpack_aws(&[
        "convert",
        "--input",
        input.to_str().unwrap(),
        "--output",
        &curated,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let findings = format!("s3://{outb}/findings");
    let rule = repo().join("tests/detect/rules/t13_one_of_prefix.yml");
    let detect = |rule: &std::path::Path| {
        let o = trailpack_aws(&[
            "detect",
            "--rules",
            rule.to_str().unwrap(),
            "--input",
            &curated,
            "--output",
            &findings,
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let summary = detect(&rule);
    assert_eq!(
        summary["findings"],
        serde_json::json!({"critical": 1}),
        "{summary}"
    );
    let part = format!("{findings}/account=111122223333/region=us-east-1/day=2024-03-05/");
    let rows: Value = serde_json::from_slice(&py_aws(&["s3-parquet-rows", &part]).stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["eventid"], "stop-1");
    assert_eq!(rows[0]["rule_level"], "critical");
    assert_eq!(rows[0]["eventname"], "StopLogging");
    // Twice: the same single object, replaced.
    detect(&rule);
    let keys: Value =
        serde_json::from_slice(&py_aws(&["s3-keys", &outb, "findings/"]).stdout).unwrap();
    let names: Vec<&str> = keys["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["findings/account=111122223333/region=us-east-1/day=2024-03-05/findings.parquet"]
    );
    // A rule that finds nothing: the partition's findings object goes away.
    let nothing = clean_rule(t.dir.path());
    detect(&nothing);
    let keys: Value =
        serde_json::from_slice(&py_aws(&["s3-keys", &outb, "findings/"]).stdout).unwrap();
    assert_eq!(keys["objects"], serde_json::json!([]), "{keys}");
}
