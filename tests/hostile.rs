//! Hostile input: names that try to escape the input tree or become odd partition
//! values, links, lying gzip trailers and bombs (peak memory measured), secrets in
//! logs, an unwritable output, and SIGTERM in the middle of a run.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const A: &str = "111122223333";

fn day_dir(t: &Tree, account: &str, region: &str) -> std::path::PathBuf {
    t.input()
        .join("AWSLogs")
        .join(account)
        .join("CloudTrail")
        .join(region)
        .join("2024/03/05")
}

#[test]
fn a_backslash_name_is_a_name_and_nothing_outside_the_root_is_read() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("real", "2024-03-05T09:00:00Z", "a")],
    );
    // A file outside the input that a `\` → `/` rewrite of the name below would reach.
    let outside = t
        .dir
        .path()
        .join("x/AWSLogs/222233334444/CloudTrail/evil/2024/03/05");
    std::fs::create_dir_all(&outside).unwrap();
    write_gz(
        &outside.join("f.json.gz"),
        br#"{"Records":[{"eventID":"outside","eventTime":"2024-03-05T01:00:00Z"}]}"#,
    );
    let up = "\\..".repeat(12);
    let sneaky = format!(
        "{up}\\{}\\x\\AWSLogs\\222233334444\\CloudTrail\\evil\\2024\\03\\05\\f.json.gz",
        t.dir
            .path()
            .display()
            .to_string()
            .trim_start_matches('/')
            .replace('/', "\\")
    );
    write_gz(
        &day_dir(&t, A, "us-east-1").join(&sneaky),
        br#"{"Records":[{"eventID":"inside","eventTime":"2024-03-05T02:00:00Z"}]}"#,
    );
    let (code, r, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    let ids: Vec<Value> = sql(
        &t.output(),
        "SELECT eventid, CAST(account AS VARCHAR) AS account, region FROM t ORDER BY 1",
    );
    assert_eq!(
        ids,
        vec![
            serde_json::json!({"eventid": "inside", "account": A, "region": "us-east-1"}),
            serde_json::json!({"eventid": "real", "account": A, "region": "us-east-1"}),
        ],
        "{r}"
    );
}

#[test]
fn odd_folder_names_never_become_partition_values() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("ok", "2024-03-05T09:00:00Z", "a")],
    );
    for region in [
        "..",
        "a,b",
        "us east 1",
        "a%2Fb",
        "US-EAST-1",
        "eu-west-1\n",
        "é-1",
    ] {
        let d = t
            .input()
            .join("AWSLogs")
            .join(A)
            .join("CloudTrail")
            .join(region)
            .join("2024/03/05");
        write_gz(
            &d.join(format!("{A}_CloudTrail_x_20240305T1000Z_a.json.gz")),
            br#"{"Records":[{"eventID":"bad"}]}"#,
        );
    }
    let d = t
        .input()
        .join("AWSLogs/12345/CloudTrail/us-east-1/2024/03/05");
    write_gz(
        &d.join("12345_CloudTrail_us-east-1_20240305T1000Z_a.json.gz"),
        br#"{"Records":[{"eventID":"bad"}]}"#,
    );
    let (code, r, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(r["partitions"]["written"], 1, "{r}");
    assert_eq!(r["files"]["outside_layout_skipped"], 8, "{r}");
    assert!(
        stderr(&o).contains("outside the CloudTrail layout"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn links_are_not_followed_and_broken_ones_do_not_stop_the_run() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("ok", "2024-03-05T09:00:00Z", "a")],
    );
    let dir = day_dir(&t, A, "us-east-1");
    std::os::unix::fs::symlink("/etc", t.input().join("AWSLogs/etc")).unwrap();
    std::os::unix::fs::symlink(t.input(), dir.join("loop")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x.json.gz", dir.join("dangling.json.gz")).unwrap();
    // A name that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe.json.gz");
    write_gz(&dir.join(bad), br#"{"Records":[]}"#);
    let (code, r, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(r["records"]["written"], 1, "{r}");
    assert_eq!(r["files"]["links_skipped"], 3, "{r}");
    assert_eq!(
        r["files"]["outside_layout_skipped"], 1,
        "non-UTF-8 name reported: {r}"
    );
}

/// Eight tiny files whose gzip trailer claims 1 GiB − 1: nothing is reserved from it.
#[test]
fn lying_trailers_and_bombs_stay_within_their_limits() {
    let t = Tree::new();
    let dir = day_dir(&t, A, "us-east-1");
    for i in 0..8 {
        let mut g = gz(br#"{"Records":[]}"#);
        let n = g.len();
        g[n - 4..].copy_from_slice(&((1u32 << 30) - 1).to_le_bytes());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!(
                "{A}_CloudTrail_us-east-1_20240305T10{i:02}Z_l.json.gz"
            )),
            g,
        )
        .unwrap();
    }
    let out = t.output();
    let (o, rss) = trailpack_measured(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--threads",
        "8",
        "--json",
        "--skip-bad-files",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["files"]["bad"], 8, "{r}");
    assert!(rss < 150.0, "peak RSS {rss:.0} MiB for eight 40-byte files");

    // A 300 MB bomb (spaces) with --max-file-bytes 64MiB: rejected holding at most that.
    let t = Tree::new();
    let dir = day_dir(&t, A, "us-east-1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{A}_CloudTrail_us-east-1_20240305T1000Z_b.json.gz")),
        gz(&vec![b' '; 300 << 20]),
    )
    .unwrap();
    let out = t.output();
    let (o, rss) = trailpack_measured(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--max-file-bytes",
        "64MiB",
        "--json",
        "--skip-bad-files",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["partition_reports"][0]["bad_files"][0]["kind"], "oversized",
        "{r}"
    );
    // A trivial run peaks near 30 MiB; the bomb adds its limit (64 MiB) and allocator
    // slack (≈ 110 MiB in all, debug build). Without the cap it would hold the whole
    // 300 MB, doubling as it grew.
    assert!(rss < 200.0, "peak RSS {rss:.0} MiB with a 64 MiB limit");
}

#[test]
fn an_unwritable_output_is_exit_2_before_any_input_is_read() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("ok", "2024-03-05T09:00:00Z", "a")],
    );
    // /proc/self exists and refuses new files, even to root.
    let (code, _, o) = convert(&t.input(), Path::new("/proc/self"), &[]);
    assert_eq!(code, 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--output"), "{}", stderr(&o));
}

#[test]
fn credentials_are_never_logged() {
    let o = trailpack(&[
        "convert",
        "--input",
        "s3://some-bucket/x",
        "--output",
        "/tmp/never",
        "--endpoint-url",
        "http://user:S3CRETPW@127.0.0.1:1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("user information") && !all.contains("S3CRETPW"),
        "{all}"
    );
    // -vv against an S3 endpoint: the access key ID never appears.
    let m = moto();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"));
    aws_env(&mut cmd).env("AWS_ACCESS_KEY_ID", "AKIAQUITESECRETKEY77");
    let o = cmd
        .args([
            "-vv",
            "convert",
            "--input",
            "s3://no-such-bucket-xyz/x",
            "--output",
            "/tmp/never-out",
            "--endpoint-url",
            &m.endpoint,
            "--s3-force-path-style",
        ])
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("NoSuchBucket"), "the S3 call was made: {all}");
    assert!(!all.contains("AKIAQUITESECRETKEY77"), "{all}");
}

#[test]
fn sigterm_stops_cleanly_with_exit_4_and_a_rerun_finishes() {
    let mut t = Tree::new();
    for d in 1..=8 {
        for f in 0..4 {
            let day = format!("2024-03-0{d}");
            let recs: Vec<Value> = (0..1500)
                .map(|j| {
                    record(
                        &format!("{d}-{f}-{j}"),
                        &format!("{day}T1{f}:{:02}:{:02}Z", j / 60 % 60, j % 60),
                        "k",
                    )
                })
                .collect();
            t.file(None, A, "us-east-1", &day, &format!("1{f}30"), &recs);
        }
    }
    let (i, o) = (t.input(), t.output());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args([
            "convert",
            "--input",
            i.to_str().unwrap(),
            "--output",
            o.to_str().unwrap(),
            "--json",
            "--threads",
            "1",
            "--parallel-partitions",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while list_files(&o)
        .iter()
        .filter(|f| f.ends_with("_trailpack.json"))
        .count()
        < 1
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        took < std::time::Duration::from_secs(25),
        "stopped in {took:?}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["interrupted"], true, "{r}");
    let done = r["partitions"]["written"].as_u64().unwrap();
    assert!(done < 8, "stopped early: {r}");
    let files = list_files(&o);
    assert!(
        files
            .iter()
            .all(|f| !f.contains("/.day=") && !f.contains(".trailpack-check")),
        "no staging left: {files:?}"
    );
    // What was published is whole; a re-run builds the rest.
    let (code, r, e) = convert(&i, &o, &[]);
    assert_eq!(code, 0, "{}", stderr(&e));
    assert_eq!(r["partitions"]["unchanged"].as_u64().unwrap(), done, "{r}");
    assert_eq!(sql1(&o, "SELECT count(*) FROM t"), 8 * 4 * 1500);
}

#[test]
fn s3_keys_with_an_empty_segment_are_listed_as_they_are() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("dbl", "2024-03-05T09:00:00Z", "a")],
    );
    let bucket = format!("tp-empty-seg-{}", std::process::id());
    let o = py_aws(&["s3-put", &bucket, "logs//", t.input().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for input in [
        format!("s3://{bucket}/logs//"),
        format!("s3://{bucket}/logs/"),
    ] {
        let out = t.dir.path().join(format!("out-{}", input.len()));
        let o = trailpack_aws(&[
            "convert",
            "--input",
            &input,
            "--output",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["files"]["listed"], 1, "{input}: {r}");
        assert_eq!(r["input"], input, "the prefix is kept exactly");
        assert_eq!(
            sql(&out, "SELECT source_object FROM t")[0]["source_object"],
            format!("s3://{bucket}/logs//AWSLogs/{A}/CloudTrail/us-east-1/2024/03/05/{A}_CloudTrail_us-east-1_20240305T1000Z_0001.json.gz")
        );
    }
}

/// One file of 600,000 tiny records (~850 bytes of Arrow memory each when decoded
/// whole): with small row groups it is decoded in steps, and peaks far lower.
#[test]
fn a_file_of_many_tiny_records_is_decoded_in_row_group_steps() {
    let t = Tree::new();
    let dir = day_dir(&t, A, "us-east-1");
    std::fs::create_dir_all(&dir).unwrap();
    let records: Vec<String> = (0..600_000)
        .map(|i| {
            format!(
                r#"{{"eventID":"{i}","eventTime":"2024-03-05T10:{:02}:{:02}Z"}}"#,
                i / 60 % 60,
                i % 60
            )
        })
        .collect();
    let text = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    std::fs::write(
        dir.join(format!("{A}_CloudTrail_us-east-1_20240305T1000Z_t.json.gz")),
        gz(text.as_bytes()),
    )
    .unwrap();
    let input = t.input();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "convert",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--json",
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        let (o, rss) = trailpack_measured(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["records"]["written"], 600_000, "{r}");
        rss
    };
    let whole = run(&t.dir.path().join("whole"), &["--row-group-size", "1GiB"]);
    let stepped = run(&t.dir.path().join("stepped"), &["--row-group-size", "4MiB"]);
    eprintln!("peak RSS: decoded whole {whole:.0} MiB, in steps {stepped:.0} MiB");
    assert!(
        stepped < whole / 2.0,
        "whole {whole:.0} MiB, in steps {stepped:.0} MiB"
    );
    // The file's content (36 MB) and its record slices stay in memory; its rows do not.
    assert!(stepped < 250.0, "in steps {stepped:.0} MiB");
    assert!(
        assert_same_rows(&t.dir.path().join("whole"), &t.dir.path().join("stepped"))
            .contains("equal: 600000 rows")
    );
}

/// Values far larger than a row group: each file of huge values becomes a row group
/// of its own (here behind a 4 MiB hard limit instead of 1 GiB), nothing overflows,
/// and every value reads back whole. A --max-file-bytes beyond what one batch can
/// hold is refused up front.
#[test]
fn huge_values_convert_and_never_overflow_a_row_group() {
    let mut t = Tree::new();
    for i in 0..3 {
        let mut r = record(&format!("big-{i}"), "2024-03-05T09:00:00Z", "a");
        r["userAgent"] = Value::from("x".repeat(3 << 20));
        t.file(None, A, "us-east-1", "2024-03-05", &format!("10{i}0"), &[r]);
    }
    let (code, r, o) = convert(&t.input(), &t.output(), &["--row-group-hard-limit", "4MiB"]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(r["records"]["written"], 3, "{r}");
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(t.output().join(format!(
            "account={A}/region=us-east-1/day=2024-03-05/_trailpack.json"
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(m["outputs"][0]["row_groups"], 3, "{m}");
    assert_eq!(
        sql1(&t.output(), "SELECT sum(length(useragent)) FROM t"),
        3 * (3 << 20)
    );
    let (code, _, o) = convert(
        &t.input(),
        &t.dir.path().join("o2"),
        &["--max-file-bytes", "3GiB"],
    );
    assert_eq!(code, 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--max-file-bytes"), "{}", stderr(&o));
}
