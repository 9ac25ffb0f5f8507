//! The IAM policy `trailpack iam-policy` prints is enough for real runs and holds
//! nothing the runs do not need: converted end to end against an S3/Glue server
//! (moto) that checks every request against the caller's IAM policy.
//!
//! This file is its own test binary, so its server (with IAM enforcement switched
//! on part of the time) serves no other test.

mod common;

use common::*;
use serde_json::Value;

const TRAIL: &str = "tp-iam-trail";
const LAKE: &str = "tp-iam-lake";
const DB: &str = "tp_iam";

fn policy() -> Value {
    let o = trailpack(&[
        "iam-policy",
        "--input",
        &format!("s3://{TRAIL}/AWSLogs/"),
        "--output",
        &format!("s3://{LAKE}/cloudtrail/"),
        "--glue-database",
        DB,
        "--with-findings",
        "--aws-region",
        "us-east-1",
        "--account-id",
        "123456789012",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut p: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The server authorises Glue requests against resource "*" (it does not resolve
    // catalog/database/table ARNs), so the Glue statement is checked for its actions
    // only; S3 statements are checked with their bucket and key ARNs.
    for st in p["Statement"].as_array_mut().unwrap() {
        if st["Sid"] == "Catalog" {
            st["Resource"] = Value::from("*");
        }
    }
    p
}

fn without(policy: &Value, action: &str) -> Value {
    let mut p = policy.clone();
    for st in p["Statement"].as_array_mut().unwrap() {
        let a = &mut st["Action"];
        *a = match a.take() {
            Value::String(s) if s == action => Value::Array(vec![]),
            Value::Array(v) => Value::Array(v.into_iter().filter(|x| x != action).collect()),
            other => other,
        };
    }
    p["Statement"] = Value::Array(
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["Action"] != Value::Array(vec![]))
            .cloned()
            .collect(),
    );
    p
}

/// A user holding exactly `policy`: (access key id, secret).
fn user(name: &str, policy: &Value) -> (String, String) {
    let o = py_aws(&["iam-user", name, &policy.to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let k: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        k["id"].as_str().unwrap().to_string(),
        k["secret"].as_str().unwrap().to_string(),
    )
}

fn enforce(on: bool) {
    let o = py_aws(&["enforce-iam", if on { "on" } else { "off" }]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Run trailpack as `key` with IAM enforced; (exit code, JSON summary, stderr).
fn run_as(key: &(String, String), args: &[String]) -> (i32, Value, String) {
    let m = moto();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"));
    aws_env(&mut cmd)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .args(args)
        .args([
            "--endpoint-url",
            &m.endpoint,
            "--s3-force-path-style",
            "--json",
        ])
        .env("NO_COLOR", "1");
    enforce(true);
    let o = cmd.output().expect("run trailpack");
    enforce(false);
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
        stderr(&o),
    )
}

fn glue_partitions() -> usize {
    let o = py_aws(&["glue-table", DB, "cloudtrail"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    t["partitions"].as_array().unwrap().len()
}

fn lake_keys() -> Vec<String> {
    let o = py_aws(&["s3-keys", LAKE, "cloudtrail/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_printed_policy_allows_every_run_and_each_action_is_needed() {
    let mut t = Tree::new();
    for region in ["us-east-1", "eu-west-1"] {
        t.file(
            None,
            "111122223333",
            region,
            "2024-03-05",
            "1000",
            &[record(&format!("a-{region}"), "2024-03-05T09:59:00Z", "a")],
        );
        // A late file: its record belongs to 2024-03-05.
        t.file(
            None,
            "111122223333",
            region,
            "2024-03-06",
            "0005",
            &[record(&format!("b-{region}"), "2024-03-05T23:59:00Z", "b")],
        );
    }
    assert!(py_aws(&["s3-put", TRAIL, "", t.input().to_str().unwrap()])
        .status
        .success());
    // The curated bucket exists and holds something outside the prefix.
    let other = t.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), b"not ours").unwrap();
    assert!(
        py_aws(&["s3-put", LAKE, "elsewhere/", other.to_str().unwrap()])
            .status
            .success()
    );

    let policy = policy();
    let key = user("trailpack-exact", &policy);
    let (input, output) = (
        format!("s3://{TRAIL}/AWSLogs/"),
        format!("s3://{LAKE}/cloudtrail/"),
    );
    let base = [
        "--input",
        input.as_str(),
        "--output",
        output.as_str(),
        "--glue-database",
        DB,
    ];
    let convert = |extra: &[&str]| {
        let mut a = vec!["convert"];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };

    // A first run creates the database, table and partitions; data goes up in
    // multipart uploads (threshold lowered) as well as PutObject (manifests).
    let args = convert(&[
        "--from",
        "2024-03-05",
        "--to",
        "2024-03-06",
        "--s3-multipart-threshold",
        "1KiB",
    ]);
    let (code, summary, err) = run_as(&key, &args);
    assert_eq!(code, 0, "{err}\n{summary}");
    assert_eq!(summary["partitions"]["written"], 4, "{summary}");
    // Partitions with rows are registered (the 6th holds none: its record is late).
    assert_eq!(glue_partitions(), 2);
    assert!(lake_keys()
        .iter()
        .any(|k| k.contains("day=2024-03-05/") && k.ends_with("/part-00000.parquet")));

    // A re-run reads the manifests back and changes nothing; --force rebuilds and
    // updates what exists.
    let (code, summary, err) = run_as(
        &key,
        &convert(&["--from", "2024-03-05", "--to", "2024-03-06"]),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["partitions"]["unchanged"], 4, "{summary}");
    let (code, summary, err) = run_as(&key, &convert(&["--day", "2024-03-05", "--force"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["partitions"]["written"], 2, "{summary}");
    // With --rules, the findings table is created and kept with the same policy.
    let rules = repo().join("rules");
    let (code, summary, err) = run_as(
        &key,
        &convert(&["--day", "2024-03-05", "--rules", rules.to_str().unwrap()]),
    );
    assert_eq!(code, 0, "{err}\n{summary}");
    assert_eq!(summary["partitions"]["written"], 2, "{summary}");
    assert!(
        summary["detections"]["rules"]["loaded"].as_u64().unwrap() >= 6,
        "{summary}"
    );

    // Retention deletes curated objects and Glue partitions: not without
    // s3:DeleteObject.
    let mut daily = vec!["daily".to_string()];
    daily.extend(base.iter().map(|s| s.to_string()));
    daily.extend(["--now", "2024-05-01T03:00:00Z", "--retain-days", "30"].map(String::from));
    let key_no_delete = user("trailpack-no-delete", &without(&policy, "s3:DeleteObject"));
    let (code, summary, err) = run_as(&key_no_delete, &daily);
    let said = format!("{err}{summary}");
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("DeleteObject") && said.contains("AccessDenied"),
        "{said}"
    );
    let (code, summary, err) = run_as(&key, &daily);
    assert_eq!(code, 0, "{err}\n{summary}");
    assert_eq!(glue_partitions(), 0, "{summary}");
    assert!(
        !lake_keys().iter().any(|k| k.contains("account=")),
        "{:?}",
        lake_keys()
    );

    // Nothing extra: without any one of these actions a run fails, naming the call.
    for (n, (action, call)) in [
        // First, while the table has no partitions.
        ("glue:BatchCreatePartition", "BatchCreatePartition"),
        ("s3:GetObject", "GetObject"),
        ("s3:PutObject", "PutObject"),
        ("s3:ListBucket", "ListObjectsV2"),
        ("glue:GetTable", "GetTable"),
        ("glue:BatchGetPartition", "BatchGetPartition"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = user(&format!("trailpack-no-{n}"), &without(&policy, action));
        let (code, summary, err) = run_as(&key, &convert(&["--day", "2024-03-05", "--force"]));
        let said = format!("{err}{summary}");
        assert_ne!(code, 0, "without {action} the run must fail: {said}");
        assert!(
            said.contains(call)
                && (said.contains("AccessDenied") || said.contains("Access Denied")),
            "without {action}: {said}"
        );
    }
}
