//! The commit protocol on S3 and Glue (moto server over HTTP, sometimes behind a
//! proxy that slows uploads): runs killed at many points, concurrent builders and
//! concurrent first runs; readers read what Glue points at, with pyarrow.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const A: &str = "111122223333";

fn make_bucket(t: &Tree, bucket: &str) {
    let empty = t.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = py_aws(&["s3-put", bucket, "x/", empty.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn json_of(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `n` files of 500 records each, in one partition (account A, us-east-1, 03-05).
fn add_files(t: &mut Tree, tag: &str, n: usize) {
    for f in 0..n {
        let recs: Vec<Value> = (0..500)
            .map(|j| {
                record(
                    &format!("{tag}-{f}-{j}"),
                    &format!("2024-03-05T{:02}:{:02}:{:02}Z", 8 + f, j / 60, j % 60),
                    "k",
                )
            })
            .collect();
        t.file(
            None,
            A,
            "us-east-1",
            "2024-03-05",
            &format!("{:02}30", 8 + f),
            &recs,
        );
    }
}

fn wait_killed(mut c: Child) {
    let _ = c.kill(); // SIGKILL
    let _ = c.wait();
}

#[test]
fn a_killed_multi_file_rebuild_never_shows_readers_a_torn_partition() {
    let mut t = Tree::new();
    add_files(&mut t, "v1", 12);
    let out = bucket("kill");
    make_bucket(&t, &out);
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/c");
    let input = t.input();
    let input = input.to_str().unwrap().to_string();
    // Small row groups and files: every row group its own data file.
    let base: Vec<String> = [
        "convert",
        "--input",
        &input,
        "--output",
        &output,
        "--glue-database",
        &db,
        "--row-group-size",
        "16KiB",
        "--target-file-size",
        "1KiB",
        "--gc-grace",
        "10m",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let r = json_of(&trailpack_aws(&args));
    assert_eq!(r["records"]["written"], 6000, "{r}");
    let m: Value = serde_json::from_slice(&py_aws(&["s3-manifests", &out, "c/"]).stdout).unwrap();
    let files = m.as_object().unwrap().values().next().unwrap()["outputs"]
        .as_array()
        .unwrap()
        .len();
    assert!(files >= 3, "a multi-file partition: {m}");

    // Version 2 adds 1,000 records. A reader watches the partition meanwhile.
    add_files(&mut t, "v2", 2);
    let watch_file = t.dir.path().join("watch.json");
    let mut watcher = std::process::Command::new(python());
    aws_env(&mut watcher)
        .arg(repo().join("tests/py/trailcheck.py"))
        .args(["glue-watch", &moto().endpoint, &db, "cloudtrail"])
        .arg(json!([A, "us-east-1", "2024-03-05"]).to_string())
        .arg("25")
        .arg(&watch_file)
        .stdout(Stdio::null());
    let watcher = watcher.spawn().unwrap();
    // Uploads held 250 ms each: a commit of several files takes seconds, and the
    // runs are killed at points spread over it.
    let proxy = FaultProxy::start(0, 250);
    let started = Instant::now();
    for k in 1..=8u64 {
        let child = proxy
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 * k));
        wait_killed(child);
    }
    // Then a run that finishes.
    let r = json_of(&proxy.trailpack(&args));
    assert_eq!(r["records"]["written"], 7000, "{r}");
    let watched = watcher.wait_with_output().unwrap();
    assert!(watched.status.success(), "{}", stderr(&watched));
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&watch_file).unwrap()).unwrap();
    assert!(seen["errors"].as_array().unwrap().is_empty(), "{seen}");
    let versions: Vec<(u64, u64)> = seen["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        .collect();
    assert!(
        versions
            .iter()
            .all(|v| *v == (6000, 6000) || *v == (7000, 7000)),
        "a reader saw a partial or mixed version: {seen}"
    );
    assert!(versions.contains(&(6000, 6000)), "{seen}");
    assert!(seen["reads"].as_u64().unwrap() > 10, "{seen}");
    eprintln!("kills over {:?}; reader: {seen}", started.elapsed());

    // Killed builds left folders no manifest names; with no grace left, the next
    // run deletes them and the replaced version, never what Glue points at.
    let manifests = |out: &str| -> Value {
        serde_json::from_slice(&py_aws(&["s3-manifests", out, "c/"]).stdout).unwrap()
    };
    let folders = |out: &str| -> Vec<String> {
        let keys: Value =
            serde_json::from_slice(&py_aws(&["s3-keys", out, "c/account="]).stdout).unwrap();
        let mut f: Vec<String> = keys["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| {
                let k = o["key"].as_str().unwrap();
                let rest = k.split("day=2024-03-05/").nth(1)?;
                rest.split_once('/').map(|(b, _)| b.to_string())
            })
            .collect();
        f.sort();
        f.dedup();
        f
    };
    assert!(folders(&out).len() >= 2, "{:?}", folders(&out));
    let mut no_grace: Vec<&str> = args.clone();
    let g = no_grace.iter().position(|a| *a == "10m").unwrap();
    no_grace[g] = "0";
    let r = json_of(&trailpack_aws(&no_grace));
    assert_eq!(r["partitions"]["unchanged"], 1, "{r}");
    let m = manifests(&out);
    let current = m.as_object().unwrap().values().next().unwrap();
    assert_eq!(
        folders(&out),
        vec![current["build"].as_str().unwrap().to_string()],
        "only the current version is left"
    );
    let g = glue_partitions(&db);
    assert!(
        g[0]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{}/", current["build"].as_str().unwrap())),
        "{g:?}"
    );
}

fn glue_partitions(db: &str) -> Vec<Value> {
    let g: Value =
        serde_json::from_slice(&py_aws(&["glue-table", db, "cloudtrail"]).stdout).unwrap();
    g["partitions"].as_array().unwrap().clone()
}

#[test]
fn concurrent_first_runs_with_projection_lose_no_account() {
    let mut t = Tree::new();
    let accounts = [
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
    ];
    for a in accounts {
        t.file(
            None,
            a,
            "eu-west-1",
            "2024-03-05",
            "1000",
            &[record(&format!("e-{a}"), "2024-03-05T09:59:00Z", "u")],
        );
    }
    let out = bucket("proj");
    make_bucket(&t, &out);
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/c");
    let input = t.input();
    let runs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = accounts
            .iter()
            .map(|a| {
                let (input, output, db) = (&input, &output, &db);
                s.spawn(move || {
                    trailpack_aws(&[
                        "convert",
                        "--input",
                        input.to_str().unwrap(),
                        "--output",
                        output,
                        "--glue-database",
                        db,
                        "--glue-projection",
                        "--account",
                        a,
                        "--json",
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &runs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    }
    let g: Value =
        serde_json::from_slice(&py_aws(&["glue-table", &db, "cloudtrail"]).stdout).unwrap();
    let mut values: Vec<&str> = g["parameters"]["projection.account.values"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    values.sort();
    assert_eq!(values, accounts, "{}", g["parameters"]);
}

#[test]
fn concurrent_builders_of_the_same_partitions_leave_one_whole_version() {
    let mut t = Tree::new();
    add_files(&mut t, "c", 4);
    for region in ["eu-west-1", "ap-south-1"] {
        t.file(
            None,
            A,
            region,
            "2024-03-05",
            "1200",
            &[record(&format!("r-{region}"), "2024-03-05T11:00:00Z", "u")],
        );
    }
    let out = bucket("race");
    make_bucket(&t, &out);
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/c");
    let input = t.input();
    let args = [
        "convert",
        "--input",
        input.to_str().unwrap(),
        "--output",
        &output,
        "--glue-database",
        &db,
        "--target-file-size",
        "16KiB",
        "--row-group-size",
        "64KiB",
        "--json",
    ];
    // Two builders at once, both slowed down so their commits overlap.
    let proxy = FaultProxy::start(0, 100);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| proxy.trailpack(&args));
        let b = s.spawn(|| proxy.trailpack(&args));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (ra, rb) = (json_of(&a), json_of(&b));
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for r in [&ra, &rb] {
        for (k, v) in r["partitions"].as_object().unwrap() {
            *outcomes.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    assert_eq!(outcomes["failed"], 0, "{ra}{rb}");
    assert_eq!(
        outcomes["written"] + outcomes["built_elsewhere"] + outcomes["unchanged"],
        6,
        "each partition published once per run or found published: {outcomes:?}"
    );
    // Each partition: one manifest, its build's files and nothing else (the loser
    // removed its own); Glue points at that build.
    let m: Value = serde_json::from_slice(&py_aws(&["s3-manifests", &out, "c/"]).stdout).unwrap();
    let keys: Value =
        serde_json::from_slice(&py_aws(&["s3-keys", &out, "c/account="]).stdout).unwrap();
    let mut expected: Vec<String> = Vec::new();
    for (folder, man) in m.as_object().unwrap() {
        expected.push(format!("{folder}_trailpack.json"));
        for f in man["outputs"].as_array().unwrap() {
            expected.push(format!("{folder}{}", f.as_str().unwrap()));
        }
    }
    expected.sort();
    let mut have: Vec<String> = keys["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    have.sort();
    assert_eq!(have, expected);
    let rows: u64 = glue_partitions(&db).len() as u64;
    assert_eq!(rows, 3);
    let cmp_local = t.dir.path().join("local");
    let o = trailpack(&[
        "convert",
        "--input",
        input.to_str().unwrap(),
        "--output",
        cmp_local.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let cmp = py_aws(&["s3-compare", &out, "c", cmp_local.to_str().unwrap()]);
    assert!(
        stdout(&cmp).contains("equal: 2002 rows"),
        "{}{}",
        stdout(&cmp),
        stderr(&cmp)
    );
}

#[test]
fn a_killed_backfill_has_registered_every_partition_it_committed() {
    let mut t = Tree::new();
    for d in 1..=6 {
        for region in ["us-east-1", "eu-west-1"] {
            let day = format!("2024-03-0{d}");
            let recs: Vec<Value> = (0..200)
                .map(|j| {
                    record(
                        &format!("{region}-{d}-{j}"),
                        &format!("{day}T10:00:{:02}Z", j % 60),
                        "k",
                    )
                })
                .collect();
            t.file(None, A, region, &day, "1030", &recs);
        }
    }
    let out = bucket("bf");
    make_bucket(&t, &out);
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/c");
    let input = t.input();
    let args = [
        "backfill",
        "--input",
        input.to_str().unwrap(),
        "--output",
        &output,
        "--glue-database",
        &db,
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-06",
        "--parallel-partitions",
        "1",
    ];
    let proxy = FaultProxy::start(0, 150);
    let child = proxy
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    wait_killed(child);
    let m: Value = serde_json::from_slice(&py_aws(&["s3-manifests", &out, "c/"]).stdout).unwrap();
    let committed = m.as_object().unwrap();
    assert!(
        (1..12).contains(&committed.len()),
        "killed midway: {} of 12 committed",
        committed.len()
    );
    let registered: BTreeMap<String, String> = glue_partitions(&db)
        .iter()
        .map(|p| {
            let v = p["values"].as_array().unwrap();
            (
                format!(
                    "c/account={}/region={}/day={}/",
                    v[0].as_str().unwrap(),
                    v[1].as_str().unwrap(),
                    v[2].as_str().unwrap()
                ),
                p["location"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Registration follows each commit at once: at most the one partition being
    // committed when the run was killed (one at a time here) is not yet registered.
    let unregistered: Vec<&String> = committed
        .iter()
        .filter(|(folder, man)| {
            registered.get(*folder).map(String::as_str)
                != Some(&format!(
                    "s3://{out}/{folder}{}/",
                    man["build"].as_str().unwrap()
                ))
        })
        .map(|(f, _)| f)
        .collect();
    assert!(unregistered.len() <= 1, "{unregistered:?} of {committed:?}");
    // The next run registers the rest and rebuilds nothing committed.
    let mut again: Vec<&str> = args.to_vec();
    again.push("--json");
    let r = json_of(&trailpack_aws(&again));
    assert_eq!(
        r["partitions"]["unchanged"].as_u64().unwrap() as usize,
        committed.len(),
        "{r}"
    );
    assert_eq!(glue_partitions(&db).len(), 12);
}

#[test]
fn sigterm_during_an_s3_run_leaves_no_temporary_files_and_whole_partitions() {
    let mut t = Tree::new();
    for d in 1..=8 {
        let day = format!("2024-03-0{d}");
        let recs: Vec<Value> = (0..300)
            .map(|j| {
                record(
                    &format!("{d}-{j}"),
                    &format!("{day}T10:00:{:02}Z", j % 60),
                    "k",
                )
            })
            .collect();
        t.file(None, A, "us-east-1", &day, "1030", &recs);
    }
    let out = bucket("term");
    make_bucket(&t, &out);
    let output = format!("s3://{out}/c");
    let input = t.input();
    let temp = t.dir.path().join("scratch");
    std::fs::create_dir_all(&temp).unwrap();
    let args = [
        "convert",
        "--input",
        input.to_str().unwrap(),
        "--output",
        &output,
        "--temp-dir",
        temp.to_str().unwrap(),
        "--parallel-partitions",
        "1",
        "--json",
    ];
    let proxy = FaultProxy::start(0, 200);
    let child = proxy
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(sent.elapsed() < Duration::from_secs(25));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["interrupted"], true, "{r}");
    let left: Vec<String> = std::fs::read_dir(&temp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    // Whatever was committed is whole; the rest is built by the next run.
    let r = json_of(&trailpack_aws(&args));
    assert_eq!(r["records"]["written"], 2400, "{r}");
    let m: Value = serde_json::from_slice(&py_aws(&["s3-manifests", &out, "c/"]).stdout).unwrap();
    assert_eq!(m.as_object().unwrap().len(), 8);
}
