//! The unattended commands: `daily`, `backfill` (shards, newest first) and the
//! configuration file with environment and flag precedence.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::Value;

const A: &str = "111122223333";
const B: &str = "444455556666";

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.args(args).arg("--json").output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
        stderr(&o),
    )
}

fn daily(t: &Tree, now: &str, extra: &[&str]) -> (i32, Value, String) {
    let (i, o) = (t.input(), t.output());
    let mut args = vec![
        "daily",
        "--input",
        i.to_str().unwrap(),
        "--output",
        o.to_str().unwrap(),
        "--now",
        now,
    ];
    args.extend_from_slice(extra);
    run(&args, &[])
}

fn statuses(r: &Value) -> Vec<(String, String)> {
    r["partition_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn daily_builds_yesterday_and_rebuilds_a_day_that_got_late_files() {
    let mut t = Tree::new();
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-04",
        "1200",
        &[record("d4", "2024-03-04T11:59:00Z", "a")],
    );
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-05",
        "1200",
        &[
            record("d5a", "2024-03-05T11:59:00Z", "a"),
            record("d5b", "2024-03-05T11:58:00Z", "a"),
        ],
    );
    let (code, r, e) = daily(&t, "2024-03-06T01:00:00Z", &[]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["partitions"]["written"], 2);
    let m4 = t.output().join(format!(
        "account={A}/region=us-east-1/day=2024-03-04/_trailpack.json"
    ));
    let before = std::fs::read(&m4).unwrap();

    // Files arrive in 03-06's folder: an early one with late records of 03-05.
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-06",
        "0005",
        &[
            record("late1", "2024-03-05T23:59:00Z", "a"),
            record("late2", "2024-03-05T23:59:30Z", "a"),
            record("d6", "2024-03-06T00:01:00Z", "a"),
        ],
    );
    let (code, r, _) = daily(&t, "2024-03-06T03:00:00Z", &["--json-partitions", "all"]);
    assert_eq!(code, 0);
    assert_eq!(
        statuses(&r),
        vec![
            (
                format!("account={A}/region=us-east-1/day=2024-03-04"),
                "unchanged".into()
            ),
            (
                format!("account={A}/region=us-east-1/day=2024-03-05"),
                "written".into()
            ),
        ],
        "today is not built by default"
    );
    assert_eq!(
        std::fs::read(&m4).unwrap(),
        before,
        "the unchanged day's manifest is untouched"
    );
    // By default the summary lists the partitions that changed; totals count all.
    let (code, r, _) = daily(&t, "2024-03-06T03:00:00Z", &[]);
    assert_eq!(code, 0);
    assert_eq!(r["partitions"]["unchanged"], 2, "{r}");
    assert_eq!(statuses(&r), vec![], "unchanged partitions are not listed");
    let out = t.output();
    assert_eq!(
        sql1(&out, "SELECT count(*) FROM t WHERE day = '2024-03-05'"),
        4,
        "grew by exactly the two late records"
    );
    assert_eq!(
        sql1(&out, "SELECT count(DISTINCT eventid) = count(*) FROM t"),
        true
    );
    assert!(!out
        .join(format!("account={A}/region=us-east-1/day=2024-03-06"))
        .exists());

    // A new account appears: picked up with no configuration change.
    t.file(
        None,
        B,
        "eu-west-1",
        "2024-03-05",
        "1300",
        &[record("b5", "2024-03-05T12:59:00Z", "b")],
    );
    let (code, r, _) = daily(&t, "2024-03-06T04:00:00Z", &["--include-today"]);
    assert_eq!(code, 0);
    let written: BTreeSet<String> = statuses(&r)
        .into_iter()
        .filter(|(_, s)| s == "written")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        written,
        [
            format!("account={B}/region=eu-west-1/day=2024-03-05"),
            format!("account={A}/region=us-east-1/day=2024-03-06")
        ]
        .into_iter()
        .collect()
    );
}

fn backfill_tree() -> Tree {
    let mut t = Tree::new();
    for (n, a) in [A, B, "777788889999"].iter().enumerate() {
        for region in ["us-east-1", "eu-west-1"] {
            for d in 1..=5 {
                let day = format!("2024-03-0{d}");
                t.file(
                    None,
                    a,
                    region,
                    &day,
                    "1200",
                    &[record(
                        &format!("{n}-{region}-{d}"),
                        &format!("{day}T11:00:00Z"),
                        "x",
                    )],
                );
            }
        }
    }
    t
}

fn partitions(r: &Value) -> BTreeSet<String> {
    statuses(r).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn backfill_shards_split_the_work_without_overlap_or_gap() {
    let t = backfill_tree();
    let i = t.input();
    let i = i.to_str().unwrap();
    let base = [
        "backfill",
        "--input",
        i,
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-05",
        "--now",
        "2024-03-10T00:00:00Z",
    ];
    let full_dir = t.dir.path().join("full");
    let mut args = base.to_vec();
    args.extend(["--output", full_dir.to_str().unwrap()]);
    let (code, full, e) = run(&args, &[]);
    assert_eq!(code, 0, "{e}");
    let all = partitions(&full);
    assert_eq!(all.len(), 30);
    // Newest first.
    let days: Vec<String> = statuses(&full)
        .iter()
        .map(|(p, _)| p[p.len() - 10..].to_string())
        .collect();
    let mut sorted = days.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(days, sorted);

    let sharded = t.dir.path().join("sharded");
    let mut union = BTreeSet::new();
    let mut total = 0;
    for s in 0..3 {
        let shard = format!("{s}/3");
        let mut args = base.to_vec();
        args.extend(["--output", sharded.to_str().unwrap(), "--shard", &shard]);
        let (code, r, e) = run(&args, &[]);
        assert_eq!(code, 0, "{e}");
        let mine = partitions(&r);
        assert!(!mine.is_empty(), "shard {shard} is empty");
        assert!(union.is_disjoint(&mine), "shards overlap");
        total += mine.len();
        union.extend(mine);
    }
    assert_eq!(
        (union.clone(), total),
        (all, 30),
        "union of the shards is the full set"
    );
    let q = "SELECT account, region, CAST(day AS VARCHAR) AS day, eventid FROM t ORDER BY ALL";
    assert_eq!(
        sql(&sharded, q),
        sql(&full_dir, q),
        "all shards = one unsharded run"
    );
}

#[test]
fn backfill_defaults_to_the_last_90_days() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    // 2024-03-05 is within 90 days of 2024-05-01; 2024-03-01..03 are not.
    let (code, r, e) = run(
        &[
            "backfill",
            "--input",
            i.to_str().unwrap(),
            "--output",
            o.to_str().unwrap(),
            "--now",
            "2024-06-01T00:00:00Z",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(code, 0, "{e}");
    let days: BTreeSet<String> = partitions(&r)
        .iter()
        .map(|p| p[p.len() - 10..].to_string())
        .collect();
    assert_eq!(
        days,
        ["2024-03-03", "2024-03-04", "2024-03-05"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

fn planned_accounts(r: &Value) -> BTreeSet<String> {
    partitions(r).iter().map(|p| p[8..20].to_string()).collect()
}

#[test]
fn config_file_environment_and_flags_in_that_order() {
    let t = backfill_tree();
    let cfg = t.dir.path().join("c.toml");
    std::fs::write(&cfg, format!("account = [\"{A}\"]\ndry_run = true\nlate-window = \"1h\"\ninput = {:?}\noutput = {:?}\n", t.input(), t.output())).unwrap();
    let c = cfg.to_str().unwrap();
    let (code, r, e) = run(&["convert", "--config", c], &[]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(planned_accounts(&r), [A.to_string()].into());
    assert_eq!(r["partitions"]["would_build"], 10, "dry-run from the file");
    let (_, r, _) = run(&["convert", "--config", c], &[("TRAILPACK_ACCOUNT", B)]);
    assert_eq!(
        planned_accounts(&r),
        [B.to_string()].into(),
        "environment over file"
    );
    let (_, r, _) = run(
        &["convert", "--config", c, "--account", "777788889999"],
        &[("TRAILPACK_ACCOUNT", B)],
    );
    assert_eq!(
        planned_accounts(&r),
        ["777788889999".to_string()].into(),
        "flag over environment"
    );
    let (_, r, _) = run(&["convert"], &[("TRAILPACK_CONFIG", c)]);
    assert_eq!(
        planned_accounts(&r),
        [A.to_string()].into(),
        "TRAILPACK_CONFIG names the file"
    );

    // Strict: an unknown key names itself and the accepted ones; exit 2, nothing done.
    std::fs::write(&cfg, "late_windw = \"1h\"\n").unwrap();
    let (code, _, e) = run(
        &["convert", "--config", c, "--input", "x", "--output", "y"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        e.contains("unknown key \"late_windw\"") && e.contains("late-window"),
        "{e}"
    );
    std::fs::write(&cfg, "threads = { a = 1 }\n").unwrap();
    let (code, _, e) = run(
        &["convert", "--config", c, "--input", "x", "--output", "y"],
        &[],
    );
    assert_eq!(code, 2, "{e}");
}

#[test]
fn the_example_config_loads() {
    let t = backfill_tree();
    let example = repo().join("trailpack.example.toml");
    // Everything in the example is accepted; input/output are overridden to local folders.
    let (code, r, e) = run(
        &[
            "daily",
            "--config",
            example.to_str().unwrap(),
            "--input",
            t.input().to_str().unwrap(),
            "--output",
            t.output().to_str().unwrap(),
            "--now",
            "2024-03-06T02:00:00Z",
            "--dry-run",
        ],
        &[],
    );
    // The example registers in Glue, which needs an S3 output: that is the only complaint.
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("--glue-database needs an s3:// --output"), "{e}");
    let _ = r;
    let text = std::fs::read_to_string(&example).unwrap();
    let cleaned: String = text
        .lines()
        .filter(|l| !l.starts_with("glue-"))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = t.dir.path().join("example-local.toml");
    std::fs::write(&cfg, cleaned).unwrap();
    let (code, r, e) = run(
        &[
            "daily",
            "--config",
            cfg.to_str().unwrap(),
            "--input",
            t.input().to_str().unwrap(),
            "--output",
            t.output().to_str().unwrap(),
            "--now",
            "2024-03-06T02:00:00Z",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(
        r["partitions"]["would_build"], 24,
        "03-02..03-05 for 3 accounts x 2 regions"
    );
}

#[test]
fn up_front_validation_exits_2() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    let (i, o) = (i.to_str().unwrap(), o.to_str().unwrap());
    for (args, needle) in [
        (
            vec!["backfill", "--input", i, "--output", o, "--shard", "3/2"],
            "--shard",
        ),
        (
            vec!["backfill", "--input", i, "--output", o, "--shard", "x"],
            "--shard",
        ),
        (
            vec![
                "backfill",
                "--input",
                i,
                "--output",
                o,
                "--from",
                "2024-03-09",
                "--to",
                "2024-03-01",
            ],
            "after",
        ),
        (
            vec!["daily", "--input", i, "--output", o, "--now", "yesterday"],
            "--now",
        ),
        (
            vec![
                "backfill",
                "--input",
                i,
                "--output",
                o,
                "--to",
                "2024-02-30",
            ],
            "--to",
        ),
    ] {
        let (code, _, e) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    assert!(!Path::new(o).exists(), "nothing was written");
}

#[test]
fn emf_metrics_line_for_cloudwatch() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    let (code, r, e) = run(
        &[
            "daily",
            "--input",
            i.to_str().unwrap(),
            "--output",
            o.to_str().unwrap(),
            "--now",
            "2024-03-06T02:00:00Z",
            "--metrics",
            "emf",
        ],
        &[],
    );
    assert_eq!(code, 0, "{e}");
    let line = e
        .lines()
        .find(|l| l.contains("\"_aws\""))
        .expect("an EMF line on stderr");
    let m: Value = serde_json::from_str(line).unwrap();
    let cw = &m["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(cw["Namespace"], "trailpack");
    assert_eq!(cw["Dimensions"], serde_json::json!([["Command"]]));
    let names: Vec<&str> = cw["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Name"].as_str().unwrap())
        .collect();
    for n in &names {
        assert!(m.get(*n).is_some(), "value for {n}");
    }
    assert_eq!(m["Command"], "daily");
    assert_eq!(m["Records"], r["records"]["written"].as_f64().unwrap());
    assert_eq!(m["PartitionsWritten"], 24.0);
    assert_eq!(m["BadFiles"], 0.0);
}

/// Files of the visible dataset (no hidden staging), with manifests minus built_at.
fn snapshot(out: &Path) -> Vec<(String, String)> {
    list_files(out)
        .into_iter()
        .filter(|f| !f.split('/').any(|c| c.starts_with('.')))
        .map(|f| {
            let p = out.join(&f);
            let content = if f.ends_with("_trailpack.json") {
                let mut m: Value =
                    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                m.as_object_mut().unwrap().remove("built_at");
                m.as_object_mut().unwrap().remove("build");
                m.to_string()
            } else {
                format!("{} bytes", std::fs::metadata(&p).unwrap().len())
            };
            (f, content)
        })
        .collect()
}

#[test]
fn a_killed_backfill_resumes_to_the_same_dataset() {
    // Enough data that a backfill takes a moment: 12 partitions of 6,000 records.
    let mut t = Tree::new();
    for d in 1..=6 {
        for region in ["us-east-1", "eu-west-1"] {
            let day = format!("2024-03-0{d}");
            for f in 0..6 {
                let recs: Vec<Value> = (0..1000)
                    .map(|j| {
                        record(
                            &format!("{region}-{d}-{f}-{j}"),
                            &format!("{day}T1{f}:00:00Z"),
                            "k",
                        )
                    })
                    .collect();
                t.file(None, A, region, &day, &format!("1{f}30"), &recs);
            }
        }
    }
    let i = t.input();
    let reference = t.dir.path().join("reference");
    let killed = t.dir.path().join("killed");
    let base = |out: &Path| {
        vec![
            "backfill".to_string(),
            "--input".into(),
            i.to_str().unwrap().into(),
            "--output".into(),
            out.to_str().unwrap().into(),
            "--from".into(),
            "2024-03-01".into(),
            "--to".into(),
            "2024-03-06".into(),
            "--parallel-partitions".into(),
            "1".into(),
            "--threads".into(),
            "1".into(),
        ]
    };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args(base(&reference))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args(base(&killed))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some, but not all, partitions are published.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done = list_files(&killed)
            .iter()
            .filter(|f| f.ends_with("_trailpack.json") && !f.contains("/."))
            .count();
        if done >= 2 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = list_files(&killed)
        .iter()
        .filter(|f| f.ends_with("_trailpack.json") && !f.contains("/."))
        .count();
    assert!(
        (1..12).contains(&done),
        "killed midway: {done} of 12 partitions published"
    );

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args(base(&killed))
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["partitions"]["unchanged"].as_u64().unwrap() as usize,
        done,
        "nothing converted twice"
    );
    assert_eq!(
        snapshot(&killed),
        snapshot(&reference),
        "same files, same manifests up to timestamps"
    );
    let staging: Vec<String> = list_files(&killed)
        .into_iter()
        .filter(|f| f.contains("/.day="))
        .collect();
    assert!(
        staging.is_empty(),
        "the killed run's staging was reclaimed: {staging:?}"
    );
    let q = "SELECT count(*) AS n, count(DISTINCT eventid) AS d FROM t";
    assert_eq!(sql(&killed, q), sql(&reference, q));
}

#[test]
fn retention_deletes_exactly_the_partitions_past_the_cutoff() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    let (i, o) = (i.to_str().unwrap(), o.to_str().unwrap());
    let (code, _, e) = run(
        &[
            "backfill",
            "--input",
            i,
            "--output",
            o,
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-05",
            "--now",
            "2024-03-06T00:00:00Z",
        ],
        // Set for the whole task (as the stack does): backfill shards leave it to daily.
        &[("TRAILPACK_RETAIN_DAYS", "2")],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(
        sql1(&t.output(), "SELECT count(DISTINCT day) FROM t"),
        5,
        "a backfill applies no retention"
    );
    let inputs_before = list_files(&t.input());
    let daily = |extra: &[&str]| {
        let mut args = vec![
            "daily",
            "--input",
            i,
            "--output",
            o,
            "--now",
            "2024-03-06T02:00:00Z",
            "--lookback-days",
            "0",
            "--retain-days",
            "2",
        ];
        args.extend_from_slice(extra);
        run(&args, &[])
    };
    // Dry run: says what would go, deletes nothing.
    let (code, r, _) = daily(&["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(r["retention"]["cutoff"], "2024-03-04");
    assert_eq!(r["retention"]["dry_run"], true);
    assert_eq!(r["retention"]["deleted"].as_array().unwrap().len(), 18);
    assert_eq!(sql1(&t.output(), "SELECT count(DISTINCT day) FROM t"), 5);

    let (code, r, e) = daily(&[]);
    assert_eq!(code, 0, "{e}");
    let deleted: BTreeSet<String> = r["retention"]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = [A, B, "777788889999"]
        .iter()
        .flat_map(|a| ["us-east-1", "eu-west-1"].map(move |r| (a, r)))
        .flat_map(|(a, r)| (1..=3).map(move |d| format!("account={a}/region={r}/day=2024-03-0{d}")))
        .collect();
    assert_eq!(deleted, expected);
    let days: Vec<Value> = sql(
        &t.output(),
        "SELECT DISTINCT CAST(day AS VARCHAR) AS d FROM t ORDER BY 1",
    )
    .into_iter()
    .map(|r| r["d"].clone())
    .collect();
    assert_eq!(
        days,
        vec![Value::from("2024-03-04"), Value::from("2024-03-05")]
    );
    assert!(list_files(&t.output())
        .iter()
        .all(|f| !f.contains("day=2024-03-01") && !f.contains("trailpack-deleting")));
    assert_eq!(
        list_files(&t.input()),
        inputs_before,
        "the raw input is never touched"
    );
}

#[test]
fn a_live_builds_staging_is_never_reclaimed_and_a_dead_ones_is() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    let region_dir = t.output().join(format!("account={A}/region=us-east-1"));
    std::fs::create_dir_all(&region_dir).unwrap();
    // A build in progress elsewhere (another container sharing the folder: its
    // process id means nothing here): it holds the flock on its staging lock.
    let staging = region_dir.join(".day=2024-03-05.trailpack-20240305T000000Z-0000beef");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("part-00000.parquet"), b"in progress").unwrap();
    let lock_path = region_dir.join(".day=2024-03-05.trailpack-20240305T000000Z-0000beef.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor of a file this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let args = [
        "convert",
        "--input",
        i.to_str().unwrap(),
        "--output",
        o.to_str().unwrap(),
        "--day",
        "2024-03-05",
    ];
    let (code, r, e) = run(&args, &[]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["partitions"]["written"], 6, "{r}");
    assert!(
        staging.join("part-00000.parquet").exists(),
        "a live build's staging is left alone"
    );
    // The build dies: the kernel releases its lock; the next run reclaims it.
    drop(lock);
    let (code, r, _) = run(&args, &[]);
    assert_eq!(code, 0);
    assert_eq!(r["partitions"]["unchanged"], 6, "{r}");
    assert!(
        !staging.exists() && !lock_path.exists(),
        "{:?}",
        list_files(&region_dir)
    );
}

#[test]
fn two_concurrent_daily_runs_end_with_a_correct_dataset() {
    let t = backfill_tree();
    let (i, o) = (t.input(), t.output());
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"))
            .args([
                "daily",
                "--input",
                i.to_str().unwrap(),
                "--output",
                o.to_str().unwrap(),
                "--now",
                "2024-03-06T02:00:00Z",
                "--lookback-days",
                "4",
                "--parallel-partitions",
                "1",
                "--json",
            ])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    let ra: Value = serde_json::from_slice(&a.stdout).unwrap();
    let rb: Value = serde_json::from_slice(&b.stdout).unwrap();
    for r in [&ra, &rb] {
        assert_eq!(r["partitions"]["failed"], 0);
        assert_eq!(r["partitions"]["planned"], 30);
    }
    let out = t.output();
    assert_eq!(sql1(&out, "SELECT count(*) FROM t"), 30);
    assert_eq!(sql1(&out, "SELECT count(DISTINCT eventid) FROM t"), 30);
    let files = list_files(&out);
    assert_eq!(
        files
            .iter()
            .filter(|f| f.ends_with("_trailpack.json"))
            .count(),
        30
    );
    assert!(
        files
            .iter()
            .all(|f| !f.contains("trailpack-lease") && !f.contains("/.day=")),
        "{files:?}"
    );
    // Re-running finds everything current.
    let (_, r, _) = daily(&t, "2024-03-06T02:00:00Z", &["--lookback-days", "4"]);
    assert_eq!(r["partitions"]["unchanged"], 30);
}
