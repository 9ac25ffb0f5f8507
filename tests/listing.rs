//! Listing at organisation scale, against a real S3-compatible server (moto) through
//! a proxy that counts every ListObjectsV2 and keeps its prefix: a shard lists only
//! the day folders of the partitions it builds (D, and D+1 for the day rule), the
//! shards together build exactly what one unsharded run builds, and a one-day run
//! lists two day folders per account/region, never a year or a month.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

const ACCOUNTS: [(Option<&str>, &str); 5] = [
    (Some("o-aaaa1111bb"), "111122223333"),
    (Some("o-aaaa1111bb"), "222233334444"),
    (Some("o-aaaa1111bb"), "333344445555"),
    (None, "444455556666"),
    (None, "555566667777"),
];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
const DAYS: [&str; 7] = [
    "2024-03-01",
    "2024-03-02",
    "2024-03-03",
    "2024-03-04",
    "2024-03-05",
    "2024-03-06",
    "2024-03-07",
];

/// Five accounts (three under an organisation) × three regions × seven day
/// folders; each folder has an early file (with a late record of the day before)
/// and a midday file.
fn upload() -> (Tree, String) {
    let mut t = Tree::new();
    let mut n = 0;
    for (org, acct) in ACCOUNTS {
        for region in REGIONS {
            for (i, day) in DAYS.iter().enumerate() {
                n += 1;
                let before = if i > 0 { DAYS[i - 1] } else { "2024-02-29" };
                t.file(
                    org,
                    acct,
                    region,
                    day,
                    "0010",
                    &[
                        record(&format!("late{n}"), &format!("{before}T23:58:00Z"), "a"),
                        record(&format!("early{n}"), &format!("{day}T00:05:00Z"), "a"),
                    ],
                );
                t.file(
                    org,
                    acct,
                    region,
                    day,
                    "1200",
                    &[record(
                        &format!("noon{n}"),
                        &format!("{day}T11:58:00Z"),
                        "b",
                    )],
                );
            }
        }
    }
    let b = bucket("in");
    let o = py_aws(&["s3-put", &b, "", t.input().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (t, b)
}

/// A run through a fresh counting proxy: (report, listing prefixes).
fn run(input: &str, output: &std::path::Path, extra: &[&str]) -> (Value, Vec<String>) {
    let proxy = FaultProxy::start(0, 0);
    let command = if extra.contains(&"--shard") {
        "backfill"
    } else {
        "convert"
    };
    let mut args = vec![
        command,
        "--input",
        input,
        "--output",
        output.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = proxy.trailpack(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let stats = proxy.stats();
    let prefixes: Vec<String> = stats["list_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        report["files"]["list_requests"].as_u64(),
        stats["lists"].as_u64(),
        "the report counts the listing requests the server saw"
    );
    (report, prefixes)
}

/// (account, region, YYYY-MM-DD) of a day-folder prefix, or None for a prefix
/// above the day folders.
fn day_folder(prefix: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    let n = parts.len();
    if n < 6 || parts[n - 3].len() != 4 || !parts[n - 3].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        parts[n - 6].to_string(),
        parts[n - 4].to_string(),
        format!("{}-{}-{}", parts[n - 3], parts[n - 2], parts[n - 1]),
    ))
}

fn next_day(day: &str) -> String {
    let i = DAYS.iter().position(|d| *d == day).unwrap();
    DAYS.get(i + 1).copied().unwrap_or("2024-03-08").to_string()
}

/// The partitions a run wrote, as (account, region, day).
fn written(report: &Value) -> BTreeSet<(String, String, String)> {
    report["partition_reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "written")
        .map(|r| {
            let p = r["partition"].as_str().unwrap();
            let v: Vec<&str> = p.split('/').map(|c| c.split('=').nth(1).unwrap()).collect();
            (v[0].to_string(), v[1].to_string(), v[2].to_string())
        })
        .collect()
}

#[test]
fn a_shard_lists_only_the_day_folders_it_builds() {
    let (t, b) = upload();
    let input = format!("s3://{b}");
    let range = ["--from", "2024-03-02", "--to", "2024-03-05"];
    let whole = t.dir.path().join("whole");
    let (report, prefixes) = run(&input, &whole, &range);
    let all = written(&report);
    assert_eq!(all.len(), ACCOUNTS.len() * REGIONS.len() * 4, "{report}");
    let discovery = prefixes.iter().filter(|p| day_folder(p).is_none()).count();
    let whole_days = prefixes.len() - discovery;
    for p in &prefixes {
        // Discovery stops at the region folders: no year or month is listed.
        assert!(
            day_folder(p).is_some() || !p.contains("/2024"),
            "listed a year or month folder: {p}"
        );
        if let Some((_, _, day)) = day_folder(p) {
            assert!(
                ("2024-03-02".."2024-03-07").contains(&day.as_str()),
                "the unsharded run listed {p}, outside the days it builds and their next days"
            );
        }
    }

    let sharded = t.dir.path().join("sharded");
    let n = 4;
    let mut built = BTreeSet::new();
    let mut shard_days = 0;
    for i in 0..n {
        let shard = format!("{i}/{n}");
        let mut args = range.to_vec();
        args.extend(["--shard", &shard]);
        let (report, prefixes) = run(&input, &sharded, &args);
        let own = written(&report);
        let days: Vec<_> = prefixes.iter().filter_map(|p| day_folder(p)).collect();
        assert_eq!(
            prefixes.len() - days.len(),
            discovery,
            "every shard discovers the trail folders the same way"
        );
        for (acct, region, day) in &days {
            let builds = |d: &str| own.contains(&(acct.clone(), region.clone(), d.to_string()));
            let previous = DAYS
                .iter()
                .position(|d| d == day)
                .and_then(|i| i.checked_sub(1))
                .map(|i| DAYS[i]);
            assert!(
                builds(day) || previous.is_some_and(builds),
                "shard {shard} listed {acct}/{region}/{day}, a day folder it does not build \
                 (nor the day after one it builds)"
            );
        }
        assert!(
            days.len() <= 2 * own.len(),
            "shard {shard}: {} day listings for {} partitions",
            days.len(),
            own.len()
        );
        shard_days += days.len();
        assert!(
            built.is_disjoint(&own),
            "two shards built the same partition"
        );
        built.extend(own);
    }
    eprintln!(
        "listing: discovery {discovery} requests a run; one run {whole_days} day listings; \
         {n} shards {shard_days} day listings together"
    );
    assert_eq!(built, all, "the shards together build what one run builds");
    assert!(
        shard_days <= 2 * whole_days,
        "all shards' day listings ({shard_days}) are at most twice one run's ({whole_days})"
    );
    // Same rows, each once: read back by DuckDB/pyarrow, not by trailpack.
    assert_same_rows(&whole, &sharded);
}

#[test]
fn a_one_day_run_lists_that_day_and_the_next_only() {
    let (t, b) = upload();
    let out = t.dir.path().join("out");
    let (report, prefixes) = run(&format!("s3://{b}"), &out, &["--day", "2024-03-04"]);
    let days: BTreeSet<String> = prefixes
        .iter()
        .filter_map(|p| day_folder(p))
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(
        days,
        BTreeSet::from(["2024-03-04".to_string(), next_day("2024-03-04")])
    );
    let day_listings = prefixes.iter().filter(|p| day_folder(p).is_some()).count();
    assert_eq!(day_listings, 2 * ACCOUNTS.len() * REGIONS.len());
    assert_eq!(
        report["partitions"]["written"].as_u64(),
        Some((ACCOUNTS.len() * REGIONS.len()) as u64)
    );
    // Each partition: its own two files and the next day's early file.
    assert_eq!(
        report["records"]["written"].as_u64(),
        Some((ACCOUNTS.len() * REGIONS.len() * 3) as u64),
        "{report}"
    );
}

/// A shard's memory is bounded by the partitions in flight, not by the range: a
/// dry-run backfill shard over 50 days of 20 accounts × 5 regions (10 files a day
/// folder: 50,000 files; `TRAILPACK_SCALE_FILES_PER_DAY` changes it) peaks within
/// 35 MiB of the same shard over 10 days, where holding the range's listing would add
/// ≈ 1.75 KB per listed file (≈ 70 MiB more here). Measured: 53 and 54 MiB (debug
/// build). Its budget is about 5 minutes on 2 cores, most of it the test server
/// taking the uploads (≈ 200 a second); 20 files a day took 11 minutes.
#[test]
fn a_shards_memory_does_not_grow_with_its_range() {
    let per_day: u32 = std::env::var("TRAILPACK_SCALE_FILES_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (accounts, regions, days) = (20u32, 5u32, 50u32);
    let b = bucket("many");
    let up = py_aws(&[
        "s3-put-many",
        &b,
        &accounts.to_string(),
        &regions.to_string(),
        &days.to_string(),
        &per_day.to_string(),
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    let files = accounts * regions * days * per_day;
    assert!(stdout(&up).contains(&format!("uploaded {files}")));
    let shard = |to: &str| {
        let out = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack"));
        // Measure what the run keeps, not what the allocator has yet to give back
        // (jemalloc returns freed pages over a decay of 500 ms).
        cmd.env("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0");
        aws_env(&mut cmd).args([
            "backfill",
            "--input",
            &format!("s3://{b}"),
            "--output",
            out.path().to_str().unwrap(),
            "--from",
            "2024-01-01",
            "--to",
            to,
            "--shard",
            "0/16",
            "--dry-run",
            "--json",
            "--endpoint-url",
            &moto().endpoint,
            "--s3-force-path-style",
        ]);
        let (o, rss) = measured(cmd);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let planned = r["partitions"]["planned"].as_u64().unwrap();
        assert_eq!(r["partitions"]["would_build"].as_u64(), Some(planned));
        assert_eq!(
            r["files"]["listed"].as_u64(),
            Some(planned * per_day as u64)
        );
        (planned, r["files"]["list_requests"].as_u64().unwrap(), rss)
    };
    let (small, small_calls, small_rss) = shard("2024-01-10");
    let (large, large_calls, large_rss) = shard("2024-02-19");
    let all = (accounts * regions * days) as u64;
    // About 1/16 of the partitions.
    assert!(large > all / 32 && large < all / 8, "{large} of {all}");
    eprintln!(
        "scale: shard 0/16 of 10 days: {small} partitions, {small_calls} list calls, peak RSS \
         {small_rss:.0} MiB; of 50 days ({files} files): {large} partitions, {large_calls} list \
         calls, peak RSS {large_rss:.0} MiB"
    );
    assert!(
        large_rss < small_rss + 35.0,
        "peak RSS grew from {small_rss:.0} to {large_rss:.0} MiB with the range"
    );
}
