//! `trailpack verify` on local deliveries whose digest files are written by an
//! independent generator (tests/py/digests.py, hashes from Python's hashlib), then
//! tampered with on purpose: a changed byte, a deleted log, a deleted digest, a
//! log no digest lists; plain and organisation layouts.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Two accounts (one in an organisation trail), two days each, two files a day.
fn delivery() -> Tree {
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
    let o = Command::new(python())
        .arg(repo().join("tests/py/digests.py"))
        .arg(t.input())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    t
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
