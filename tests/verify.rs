//! `trailpack verify` on local deliveries whose digest files are written by an
//! independent generator (tests/py/digests.py, hashes from Python's hashlib), then
//! tampered with on purpose: a changed byte, a deleted log, a deleted digest, a
//! log no digest lists; plain and organisation layouts.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Two accounts (one in an organisation trail), two days each, two files a day,
/// with a digest a day.
fn delivery() -> Tree {
    delivery_with(&[])
}

/// The same delivery, digests written with `digests.py`'s options.
fn delivery_with(options: &[&str]) -> Tree {
    let mut t = Tree::new();
    for (org, account) in [(None, "111122223333"), (Some("o-abc123"), "444455556666")] {
        for day in ["2024-03-04", "2024-03-05"] {
            for (n, hhmm) in ["0100", "1300"].iter().enumerate() {
                let id = format!("{account}-{day}-{n}");
                t.file(
                    org,
                    account,
                    "us-east-1",
                    day,
                    hhmm,
                    &[record(
                        &id,
                        &format!("{day}T{}:{}:00Z", &hhmm[..2], &hhmm[2..]),
                        "alice",
                    )],
                );
            }
        }
    }
    write_digests(&t, options);
    t
}

/// Write the digest files of `t`'s logs with `tests/py/digests.py` and `options`.
fn write_digests(t: &Tree, options: &[&str]) {
    let o = Command::new(python())
        .arg(repo().join("tests/py/digests.py"))
        .arg(t.input())
        .args(options)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn verify(input: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", "--input", input.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = trailpack(&args);
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), report)
}

fn files_with(report: &Value, status: &str) -> Vec<String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == status)
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect()
}

fn problems(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Log files of the tree, relative to the input root, sorted.
fn logs_of(t: &Tree) -> Vec<String> {
    let mut v: Vec<String> = list_files(&t.input())
        .into_iter()
        .filter(|f| f.contains("/CloudTrail/"))
        .collect();
    v.sort();
    v
}

#[test]
fn an_untouched_copy_is_hash_chained_everywhere() {
    let t = delivery();
    let (code, r) = verify(&t.input(), &[]);
    // No signature travels with a local copy: proven only with --allow-unsigned.
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["log_files"], 8);
    assert_eq!(r["digests"], 4);
    assert_eq!(r["statuses"], serde_json::json!({"hash-chained": 8}));
    assert_eq!(r["problems"], serde_json::json!([]));
    assert_eq!(r["days"].as_array().unwrap().len(), 4);
    let (code, _) = verify(&t.input(), &["--allow-unsigned"]);
    assert_eq!(code, 0);
    // Text output: a line per account/region/day.
    let o = trailpack(&[
        "verify",
        "--input",
        t.input().to_str().unwrap(),
        "--allow-unsigned",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("111122223333 us-east-1      2024-03-04"),
        "{out}"
    );
    assert!(
        stderr(&o).contains(
            "8 log files, 4 digests (0 signatures checked): 8 hash-chained; 0 digest problems"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tampering_is_named_file_by_file() {
    let mut t = delivery();
    let logs = logs_of(&t);
    // One byte of one record changed (re-compressed: the content differs).
    let changed = &logs[0];
    let path = t.input().join(changed);
    let text = String::from_utf8(gunzip(&std::fs::read(&path).unwrap())).unwrap();
    write_gz(&path, text.replacen("alice", "alicf", 1).as_bytes());
    // A log file deleted.
    let deleted = &logs[3];
    std::fs::remove_file(t.input().join(deleted)).unwrap();
    // A log file no digest lists.
    let extra = t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-05",
        "2200",
        &[record("x", "2024-03-05T22:00:00Z", "mallory")],
    );
    let extra = extra
        .strip_prefix(t.input())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let (code, r) = verify(&t.input(), &["--allow-unsigned"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(files_with(&r, "modified"), [changed.as_str()]);
    assert_eq!(files_with(&r, "not-covered"), [extra]);
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "deleted");
    assert!(r["problems"][0]["detail"]
        .as_str()
        .unwrap()
        .contains(deleted.as_str()));
    assert_eq!(r["statuses"]["hash-chained"], 6);
    // Out of range, the same tree checks clean: the other account's day.
    let (code, r) = verify(
        &t.input(),
        &["--allow-unsigned", "--account", "444455556666"],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["log_files"], 4);
}

#[test]
fn a_deleted_digest_breaks_the_chain_after_it() {
    let t = delivery();
    let digests: Vec<String> = list_files(&t.input())
        .into_iter()
        .filter(|f| f.contains("CloudTrail-Digest") && f.contains("111122223333"))
        .collect();
    assert_eq!(digests.len(), 2);
    let first = digests.iter().find(|d| d.contains("20240304")).unwrap();
    std::fs::remove_file(t.input().join(first)).unwrap();
    let (code, r) = verify(&t.input(), &["--allow-unsigned"]);
    assert_eq!(code, 1, "{r}");
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "chain-gap");
    assert!(p[0].1.contains("20240305"), "{p:?}");
    // The first day's files are listed by no digest now; the second day's by a
    // digest whose chain is broken.
    assert_eq!(files_with(&r, "not-covered").len(), 2);
    assert_eq!(files_with(&r, "unproven").len(), 2);
    assert_eq!(r["statuses"]["hash-chained"], 4);
}

#[test]
fn a_changed_digest_is_a_chain_break() {
    let t = delivery();
    let digest = list_files(&t.input())
        .into_iter()
        .find(|f| {
            f.contains("CloudTrail-Digest") && f.contains("o-abc123") && f.contains("20240304")
        })
        .unwrap();
    let path = t.input().join(&digest);
    let text = String::from_utf8(gunzip(&std::fs::read(&path).unwrap())).unwrap();
    write_gz(&path, text.replace("SHA-256", "SHA-256 ").as_bytes());
    let (code, r) = verify(&t.input(), &["--allow-unsigned", "--day", "2024-03-05"]);
    assert_eq!(code, 1, "{r}");
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "chain-break");
    assert!(
        p[0].1.contains("o-abc123") && p[0].1.contains("20240305"),
        "{p:?}"
    );
    assert_eq!(files_with(&r, "unproven").len(), 2);
}

/// Hourly digests signed with a test key and uploaded with their signatures as S3
/// metadata: all valid; the key asked of CloudTrail when not given; an altered
/// signature caught; the local copy of the same delivery hash-chained.
#[test]
fn signed_digests_on_s3_are_valid_and_a_forged_signature_is_caught() {
    let b = bucket("verify-signed");
    let keydir = Tree::new();
    let keys = keydir.output();
    let t = delivery_with(&["--hourly", "--bucket", &b, "--sign", keys.to_str().unwrap()]);
    let keys_file = keys.join("public-keys.json");
    assert!(py_aws(&["s3-put", &b, "", t.input().to_str().unwrap()])
        .status
        .success());
    let uri = format!("s3://{b}/");
    let run = |extra: &[&str]| {
        let mut args = vec!["verify", "--input", &uri, "--json"];
        args.extend_from_slice(extra);
        let o = aws_env(&mut Command::new(env!("CARGO_BIN_EXE_trailpack")))
            .args(&args)
            .args(["--endpoint-url", &moto().endpoint, "--s3-force-path-style"])
            // moto answers ListPublicKeys with a 500: do not retry it ten times.
            .env("AWS_MAX_ATTEMPTS", "2")
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o, r)
    };
    let (o, r) = run(&["--public-keys", keys_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{r} {}", stderr(&o));
    assert_eq!(r["statuses"], serde_json::json!({"valid": 8}));
    // A digest an hour from 03-04 00:00 to 03-06 00:00, for two accounts.
    assert_eq!(r["digests"], 96);
    assert_eq!(r["signatures_checked"], 96);
    assert_eq!(r["problems"], serde_json::json!([]));

    // No --public-keys: the keys are asked of CloudTrail (moto has no
    // ListPublicKeys): a clear error naming the call and the way out.
    let (o, _) = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ListPublicKeys") && stderr(&o).contains("--public-keys"),
        "{}",
        stderr(&o)
    );

    // One digest's signature forged: that digest is in doubt (its files unproven)
    // and the next one, which recorded the true signature, breaks the chain.
    let forged = list_files(&t.input())
        .into_iter()
        .find(|f| f.contains("111122223333_CloudTrail-Digest") && f.contains("20240305T020000Z"))
        .unwrap();
    let mut sig: Vec<u8> = {
        let sigs: Value =
            serde_json::from_slice(&std::fs::read(t.input().join(".signatures.json")).unwrap())
                .unwrap();
        sigs[&forged][0].as_str().unwrap().as_bytes().to_vec()
    };
    sig[10] = if sig[10] == b'0' { b'1' } else { b'0' };
    let sig = String::from_utf8(sig).unwrap();
    assert!(py_aws(&["s3-set-meta", &b, &forged, "signature", &sig])
        .status
        .success());
    let (o, r) = run(&["--public-keys", keys_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{r}");
    let p = problems(&r);
    assert_eq!(
        p,
        [
            ("bad-signature".to_string(), format!("s3://{b}/{forged}")),
            (
                "chain-break".to_string(),
                format!("s3://{b}/{}", forged.replace("T020000Z", "T030000Z"))
            ),
        ]
    );
    // The 01:00 file is listed by the forged 02:00 digest.
    assert_eq!(files_with(&r, "unproven").len(), 1, "{r}");
    assert!(
        files_with(&r, "unproven")[0].contains("111122223333_CloudTrail_us-east-1_20240305T0100Z")
    );
    assert_eq!(r["statuses"]["valid"], 7);

    // The local copy has no metadata. With the keys, each digest is checked with
    // the signature the next one recorded (only the newest, which lists no file
    // here, cannot be): valid. Without them: hash-chained, proven only with
    // --allow-unsigned.
    let (code, r) = verify(&t.input(), &["--public-keys", keys_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["statuses"], serde_json::json!({"valid": 8}));
    assert_eq!(r["signatures_checked"], 94, "{r}");
    let (code, r) = verify(&t.input(), &[]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["statuses"], serde_json::json!({"hash-chained": 8}));
    let (code, _) = verify(&t.input(), &["--allow-unsigned"]);
    assert_eq!(code, 0);
}

#[test]
fn usage_errors_exit_2() {
    let o = trailpack(&["verify", "--input", "/nonexistent/folder"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = trailpack(&["verify", "--input", ".", "--day", "yesterday"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The manifest of one partition of a local output.
fn manifest(out: &Path, account: &str, day: &str) -> Value {
    let p = out.join(format!(
        "account={account}/region=us-east-1/day={day}/_trailpack.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}")))
        .unwrap()
}

/// `convert --verify-digests` on a local copy with hourly digests, tampered with:
/// each input's status is in its manifest; the run names the modified file, the
/// deleted one, and exits 1; the data is what a conversion without validation
/// writes, but for `--on-tampered skip` (the modified file's rows left out) and
/// `fail` (its partition not published).
#[test]
fn convert_verify_digests_records_statuses_and_applies_the_policy() {
    let mut t = delivery_with(&["--hourly"]);
    let logs = logs_of(&t);
    let changed = logs
        .iter()
        .find(|l| l.contains("111122223333_CloudTrail_us-east-1_20240305T1300Z"))
        .unwrap()
        .clone();
    let path = t.input().join(&changed);
    let text = String::from_utf8(gunzip(&std::fs::read(&path).unwrap())).unwrap();
    write_gz(&path, text.replacen("alice", "alicf", 1).as_bytes());
    let deleted = logs
        .iter()
        .find(|l| l.contains("444455556666_CloudTrail_us-east-1_20240304T1300Z"))
        .unwrap()
        .clone();
    std::fs::remove_file(t.input().join(&deleted)).unwrap();
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-05",
        "2200",
        &[record("x", "2024-03-05T22:00:00Z", "mallory")],
    );

    let plain = t.output().join("plain");
    let (code, _, o) = convert(&t.input(), &plain, &[]);
    assert_eq!(code, 0, "{}", stderr(&o));

    let out = t.output().join("keep");
    let (code, r, o) = convert(&t.input(), &out, &["--verify-digests"]);
    assert_eq!(code, 1, "{r} {}", stderr(&o));
    let i = &r["integrity"];
    assert_eq!(i["files_modified"], serde_json::json!([changed]));
    assert_eq!(i["files_deleted"], 1);
    assert_eq!(i["digest_chain_breaks"], 0);
    // 8 files delivered, one changed, one deleted, one added: 6 hash-chained, 1
    // modified, 1 not covered.
    assert_eq!(
        i["statuses"],
        serde_json::json!({"hash-chained": 6, "modified": 1, "not-covered": 1})
    );
    // Kept: the same rows as without validation.
    assert_same_rows(&plain, &out);
    // Its not-covered file is final (the day's digests were long due when it was
    // built): a re-run finds the output current.
    let (_, again, _) = convert(&t.input(), &out, &["--verify-digests"]);
    assert_eq!(again["partitions"]["written"], 0, "{again}");
    let m = manifest(&out, "111122223333", "2024-03-05");
    assert_eq!(m["settings"]["digests"], true);
    let inputs = m["inputs"].as_array().unwrap();
    let status_of = |key: &str| {
        inputs
            .iter()
            .find(|i| i["key"] == key)
            .map(|i| i["integrity"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(status_of(&changed), "modified");
    assert!(inputs
        .iter()
        .all(|i| i["sha256"].as_str().is_some_and(|h| h.len() == 64)));
    assert_eq!(
        m["integrity"]["statuses"],
        serde_json::json!({"hash-chained": 1, "modified": 1, "not-covered": 1})
    );
    let m = manifest(&out, "444455556666", "2024-03-04");
    let p = m["integrity"]["problems"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["kind"], "deleted");
    assert!(p[0]["detail"].as_str().unwrap().contains(&deleted));
    // Every row traces to its input's status: the modified file's row is there.
    let changed_rows = sql1(
        &out,
        &format!("SELECT count(*) FROM t WHERE source_object = '{changed}'"),
    );
    assert_eq!(changed_rows, 1);
    // The text summary names them.
    let o = trailpack(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--verify-digests",
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains(&format!("MODIFIED {changed}")), "{text}");
    assert!(text.contains("DIGEST   deleted"), "{text}");
    assert!(text.contains("1 modified, 1 deleted"), "{text}");

    // Skip: the modified file's row is left out, and the manifest says why.
    let out = t.output().join("skip");
    let (code, r, _) = convert(
        &t.input(),
        &out,
        &["--verify-digests", "--on-tampered", "skip"],
    );
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        sql1(
            &out,
            &format!("SELECT count(*) FROM t WHERE source_object = '{changed}'")
        ),
        0
    );
    assert_eq!(
        sql1(&out, "SELECT count(*) FROM t"),
        sql1(&plain, "SELECT count(*) FROM t").as_i64().unwrap() - 1
    );
    let m = manifest(&out, "111122223333", "2024-03-05");
    let skipped = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == changed.as_str())
        .unwrap()["skipped"]
        .clone();
    assert!(
        skipped.as_str().unwrap().starts_with("modified"),
        "{skipped}"
    );

    // Fail: that partition is not published; the others are.
    let out = t.output().join("fail");
    let (code, r, _) = convert(
        &t.input(),
        &out,
        &["--verify-digests", "--on-tampered", "fail"],
    );
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["partitions"]["failed"], 1, "{r}");
    assert!(!out
        .join("account=111122223333/region=us-east-1/day=2024-03-05/_trailpack.json")
        .exists());
    assert!(out
        .join("account=111122223333/region=us-east-1/day=2024-03-04/_trailpack.json")
        .exists());

    // A digest deleted: a chain gap in its day's partition, the files it listed
    // not covered, the next digests' files unproven; the rows are still those of a
    // conversion without validation.
    let gap = list_files(&t.input())
        .into_iter()
        .find(|f| f.contains("444455556666_CloudTrail-Digest") && f.contains("20240305T020000Z"))
        .unwrap();
    std::fs::remove_file(t.input().join(&gap)).unwrap();
    let out = t.output().join("gap");
    let (code, r, _) = convert(&t.input(), &out, &["--verify-digests"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["integrity"]["digest_chain_breaks"], 1, "{r}");
    let m = manifest(&out, "444455556666", "2024-03-05");
    let p = m["integrity"]["problems"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["kind"], "chain-gap");
    assert!(p[0]["digest"]
        .as_str()
        .unwrap()
        .contains("20240305T030000Z"));
    // Its 01:00 file was listed by the deleted digest; the 13:00 one by a digest
    // after the gap.
    assert_eq!(
        m["integrity"]["statuses"],
        serde_json::json!({"not-covered": 1, "unproven": 1})
    );
    assert_same_rows(&plain, &out);
}

/// From S3 with signed hourly digests: every input valid, the run exits 0, the
/// EMF line carries the integrity metrics; a plain re-run is unchanged.
#[test]
fn convert_verify_digests_from_s3_with_signatures_is_valid() {
    let b = bucket("verify-convert");
    let keydir = Tree::new();
    let keys = keydir.output().join("public-keys.json");
    let t = delivery_with(&[
        "--hourly",
        "--bucket",
        &b,
        "--sign",
        keydir.output().to_str().unwrap(),
    ]);
    assert!(py_aws(&["s3-put", &b, "", t.input().to_str().unwrap()])
        .status
        .success());
    let uri = format!("s3://{b}/");
    let out = t.output();
    let convert_s3 = |extra: &[&str]| {
        let mut args = vec![
            "convert",
            "--input",
            &uri,
            "--output",
            out.to_str().unwrap(),
            "--verify-digests",
            "--public-keys",
            keys.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        trailpack_aws(&args)
    };
    let o = convert_s3(&["--metrics", "emf"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["integrity"]["statuses"], serde_json::json!({"valid": 8}));
    assert_eq!(r["integrity"]["problems"], 0);
    let m = manifest(&out, "111122223333", "2024-03-05");
    assert_eq!(m["integrity"]["signatures_checked"], 24);
    assert!(m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["integrity"] == "valid"));
    let emf: Value = stderr(&o)
        .lines()
        .find(|l| l.contains("CloudWatchMetrics"))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("an EMF line");
    assert_eq!(emf["FilesModified"], 0.0);
    assert_eq!(emf["FilesValid"], 8.0);
    assert_eq!(emf["DigestChainBreaks"], 0.0);
    // A re-run with validation finds every partition current, statuses included.
    let again = convert_s3(&[]);
    let r: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(r["partitions"]["written"], 0, "{r}");
    assert_eq!(
        r["partitions"]["unchanged"], r["partitions"]["planned"],
        "{r}"
    );
    assert_eq!(r["integrity"]["statuses"], serde_json::json!({"valid": 8}));

    // verify reuses the hashes the conversion recorded: nothing but digests read.
    let verify_s3 = || {
        let o = trailpack_aws(&[
            "verify",
            "--input",
            &uri,
            "--public-keys",
            keys.to_str().unwrap(),
            "--hashes-from",
            out.to_str().unwrap(),
            "--json",
        ]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), r)
    };
    let (code, r) = verify_s3();
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["hashes_reused"], 8);
    assert_eq!(r["statuses"], serde_json::json!({"valid": 8}));

    // A forged digest signature: conversion reports it (and the chain break after
    // it), exits 1, and writes the same rows as a conversion without validation.
    let forged = list_files(&t.input())
        .into_iter()
        .find(|f| f.contains("111122223333_CloudTrail-Digest") && f.contains("20240304T140000Z"))
        .unwrap();
    assert!(
        py_aws(&["s3-set-meta", &b, &forged, "signature", &"ab".repeat(256)])
            .status
            .success()
    );
    let run = |dest: &Path, extra: &[&str]| {
        let dest = dest.to_str().unwrap();
        let mut args = vec!["convert", "--input", &uri, "--output", dest, "--json"];
        args.extend_from_slice(extra);
        let o = trailpack_aws(&args);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), r)
    };
    let (plain, forged_out) = (out.join("plain"), out.join("forged"));
    let (code, _) = run(&plain, &[]);
    assert_eq!(code, Some(0));
    let (code, r) = run(
        &forged_out,
        &["--verify-digests", "--public-keys", keys.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{r}");
    let i = &r["integrity"];
    assert_eq!(i["bad_signatures"], 1, "{r}");
    assert_eq!(i["digest_chain_breaks"], 1, "{r}");
    // The 13:00 file of 03-04 was listed by the forged 14:00 digest.
    assert_eq!(i["statuses"]["unproven"], 1, "{r}");
    assert_same_rows(&plain, &forged_out);

    // A file changed in the bucket after conversion: another ETag and size, so
    // its recorded hash is not used; it is read again and found modified.
    let changed = logs_of(&t)
        .into_iter()
        .find(|l| l.contains("444455556666_CloudTrail_us-east-1_20240304T0100Z"))
        .unwrap();
    let path = t.input().join(&changed);
    let text = String::from_utf8(gunzip(&std::fs::read(&path).unwrap())).unwrap();
    write_gz(&path, text.replacen("alice", "alice-x", 1).as_bytes());
    assert!(py_aws(&["s3-put", &b, "", t.input().to_str().unwrap()])
        .status
        .success());
    let (code, r) = verify_s3();
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["hashes_reused"], 7);
    assert_eq!(files_with(&r, "modified"), [format!("s3://{b}/{changed}")]);
}

/// Without --from/--to each account/region is checked from its own first day with
/// logs to its last: the digest of the day before anchors the chain (its own
/// predecessor is not read, and is no gap). Logs deleted before a folder's first
/// remaining day are found by giving the range.
#[test]
fn an_open_range_checks_each_folder_over_its_own_days() {
    let mut t = delivery();
    let early = |t: &mut Tree, org, account: &str| {
        t.file(
            org,
            account,
            "us-east-1",
            "2024-03-03",
            "1300",
            &[record(
                &format!("early-{account}"),
                "2024-03-03T13:00:00Z",
                "alice",
            )],
        )
    };
    early(&mut t, None, "111122223333");
    let gone = early(&mut t, Some("o-abc123"), "444455556666");
    write_digests(&t, &["--hourly"]);
    std::fs::remove_file(&gone).unwrap();

    let (code, r) = verify(&t.input(), &["--allow-unsigned"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["statuses"], serde_json::json!({"hash-chained": 9}));
    assert_eq!(r["problems"], serde_json::json!([]));
    let days: Vec<String> = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["account"].as_str().unwrap(),
                d["day"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            "111122223333 2024-03-03",
            "111122223333 2024-03-04",
            "111122223333 2024-03-05",
            "444455556666 2024-03-04",
            "444455556666 2024-03-05"
        ]
    );
    let (code, r) = verify(
        &t.input(),
        &[
            "--allow-unsigned",
            "--from",
            "2024-03-03",
            "--to",
            "2024-03-05",
        ],
    );
    assert_eq!(code, 1, "{r}");
    let p = problems(&r);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "deleted");
    assert!(r["problems"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("444455556666_CloudTrail_us-east-1_20240303T1300Z"));
}

/// A partition built before its last hour's digest was delivered has that hour's
/// files not covered; the next run, once the digest is there, builds it again and
/// completes the statuses (then it is current).
#[test]
fn a_partition_built_before_its_last_digest_is_completed_later() {
    let day = time::OffsetDateTime::now_utc().date();
    let next = day.next_day().unwrap();
    let d = format!("{day}");
    let mut t = Tree::new();
    for hhmm in ["0100", "2330"] {
        t.file(
            None,
            "111122223333",
            "us-east-1",
            &d,
            hhmm,
            &[record(
                &format!("e{hhmm}"),
                &format!("{d}T{}:{}:00Z", &hhmm[..2], &hhmm[2..]),
                "alice",
            )],
        );
    }
    write_digests(&t, &["--hourly"]);
    // The digest of the day's last hour (delivered in the next day's folder) is
    // not there yet.
    let stamp = format!("{}T000000Z", next.to_string().replace('-', ""));
    let last = list_files(&t.input())
        .into_iter()
        .find(|f| f.contains("CloudTrail-Digest") && f.contains(&stamp))
        .unwrap();
    let held = t.output().with_extension("held");
    std::fs::rename(t.input().join(&last), &held).unwrap();
    let out = t.output().join("out");
    let (code, r, _) = convert(&t.input(), &out, &["--verify-digests", "--day", &d]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["integrity"]["statuses"],
        serde_json::json!({"hash-chained": 1, "not-covered": 1})
    );
    // Once the digest is there, the next run builds the partition again: the
    // statuses are complete, and the partition is then current.
    std::fs::rename(&held, t.input().join(&last)).unwrap();
    let (code, r, _) = convert(&t.input(), &out, &["--verify-digests", "--day", &d]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["partitions"]["written"], 1, "{r}");
    assert_eq!(
        r["integrity"]["statuses"],
        serde_json::json!({"hash-chained": 2})
    );
    let (_, r, _) = convert(&t.input(), &out, &["--verify-digests", "--day", &d]);
    assert_eq!(r["partitions"]["written"], 0, "{r}");
    assert_eq!(r["partitions"]["unchanged"], 1, "{r}");
}
