//! Test helpers: build CloudTrail trees, run the real `trailpack` binary, and ask
//! the independent Python checker (pyarrow, DuckDB) about the output.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// A bucket (or database) name unique to this test process: `tp-<name>-<pid>-<n>`.
pub fn bucket(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "tp-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with pyarrow and duckdb: `$TRAILPACK_PYTHON`, else `.venv/bin/python`
/// (made by `scripts/test.sh`). A missing one fails the test: these checks are the
/// independent readers of our output and must not be skipped silently.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRAILPACK_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo().join(".venv/bin/python");
    assert!(
        p.exists(),
        "no Python test environment: run `bash scripts/test.sh` (it creates .venv with pyarrow and duckdb) or set TRAILPACK_PYTHON"
    );
    p
}

pub fn trailpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run trailpack")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the binary with `args`; returns its output and peak RSS in MiB (from
/// `wait4`'s rusage, as `/usr/bin/time` reports it).
pub fn trailpack_measured(args: &[&str]) -> (Output, f64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailpack"));
    cmd.args(args);
    measured(cmd)
}

/// Run `cmd`; its output and peak resident memory (MiB).
pub fn measured(mut cmd: Command) -> (Output, f64) {
    use std::io::Read;
    // Waited for below with wait4 (for its rusage), not Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trailpack");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut e = Vec::new();
        se.read_to_end(&mut e).unwrap();
        e
    });
    so.read_to_end(&mut out).unwrap();
    err.extend(t.join().unwrap());
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child process, whose pid we hold.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    use std::os::unix::process::ExitStatusExt;
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out,
        stderr: err,
    };
    // wait4's ru_maxrss also counts this test process's memory when the child was
    // started (Linux records the old address space's peak at exec, and the child
    // shares ours until then), so a JSON report's own peak (`VmHWM` after exec) is
    // preferred.
    let own = serde_json::from_slice::<Value>(&output.stdout)
        .ok()
        .and_then(|r| r["peak_memory_bytes"].as_u64());
    let rss = match own {
        Some(bytes) => bytes as f64 / (1024.0 * 1024.0),
        None => usage.ru_maxrss as f64 / 1024.0,
    };
    (output, rss)
}

/// Run `convert --input in --output out <extra> --json`, returning (exit code, report).
pub fn convert(input: &Path, output: &Path, extra: &[&str]) -> (i32, Value, Output) {
    let mut args = vec![
        "convert",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = trailpack(&args);
    let code = o.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (code, report, o)
}

fn run_py(args: &[&str]) -> Output {
    Command::new(python())
        .arg(repo().join("tests/py/trailcheck.py"))
        .args(args)
        .output()
        .expect("run python checker")
}

/// DuckDB over the output; `t` is the dataset with hive partitioning.
pub fn sql(output: &Path, query: &str) -> Vec<Value> {
    let o = run_py(&["sql", output.to_str().unwrap(), query]);
    assert!(o.status.success(), "sql failed: {}", stderr(&o));
    match serde_json::from_slice(&o.stdout).expect("json rows") {
        Value::Array(rows) => rows,
        other => panic!("unexpected {other}"),
    }
}

/// One value from a one-row query.
pub fn sql1(output: &Path, query: &str) -> Value {
    let rows = sql(output, query);
    assert_eq!(rows.len(), 1, "{query}: {rows:?}");
    rows[0]
        .as_object()
        .unwrap()
        .values()
        .next()
        .cloned()
        .unwrap()
}

/// Independent round trip: every input record rebuilt from its row.
pub fn assert_roundtrip(input: &Path, output: &Path) -> String {
    let o = run_py(&[
        "roundtrip",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        repo().join("schema/cloudtrail.toml").to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    text
}

/// Two local outputs hold the same rows, read by pyarrow.
pub fn assert_same_rows(a: &Path, b: &Path) -> String {
    let o = run_py(&["local-compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// Parquet metadata of one file, read by pyarrow.
pub fn parquet_meta(file: &Path) -> Value {
    let o = run_py(&["meta", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A CloudTrail delivery tree in a temporary folder.
pub struct Tree {
    pub dir: tempfile::TempDir,
    seq: u32,
}

impl Tree {
    pub fn new() -> Self {
        Tree {
            dir: tempfile::tempdir().unwrap(),
            seq: 0,
        }
    }

    pub fn input(&self) -> PathBuf {
        self.dir.path().join("in")
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Path of a log file in folder `day` (YYYY-MM-DD) delivered at `hhmm` of that day.
    pub fn log_path(
        &mut self,
        org: Option<&str>,
        account: &str,
        region: &str,
        day: &str,
        hhmm: &str,
    ) -> PathBuf {
        self.seq += 1;
        let mut p = self.input().join("AWSLogs");
        if let Some(o) = org {
            p = p.join(o);
        }
        let compact = day.replace('-', "");
        p.join(account)
            .join("CloudTrail")
            .join(region)
            .join(day.replace('-', "/"))
            .join(format!(
                "{account}_CloudTrail_{region}_{compact}T{hhmm}Z_{:04}.json.gz",
                self.seq
            ))
    }

    /// Write a gzip log file with these records.
    pub fn file(
        &mut self,
        org: Option<&str>,
        account: &str,
        region: &str,
        day: &str,
        hhmm: &str,
        records: &[Value],
    ) -> PathBuf {
        let p = self.log_path(org, account, region, day, hhmm);
        write_gz(&p, json!({ "Records": records }).to_string().as_bytes());
        p
    }

    /// Write raw bytes at a path relative to the input root.
    pub fn raw(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.input().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// The shared real corpus (`../shared/corpus/real`) as a delivery tree: one account
/// per source file, delivered early on 2024-01-02 so the day rule moves some records
/// to the previous day. A missing corpus fails the calling test, never skips it.
pub fn corpus_tree() -> Tree {
    let corpus = repo().join("../shared/corpus/real");
    let entries = std::fs::read_dir(&corpus).unwrap_or_else(|e| {
        panic!(
            "the shared real corpus is required beside the repository: {}: {e}",
            corpus.display()
        )
    });
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus folder has no files");
    let mut t = Tree::new();
    for (i, f) in files.iter().enumerate() {
        let account = format!("{:012}", 100_000_000_000u64 + i as u64);
        let dest = t.log_path(None, &account, "us-east-1", "2024-01-02", "0005");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, &dest).unwrap();
    }
    t
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn write_gz(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, gz(bytes)).unwrap();
}

/// A plausible record.
pub fn record(id: &str, time: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:user/{name}"),
                         "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLE", "userName": name},
        "eventTime": time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"Host": "s3.amazonaws.com"},
        "responseElements": null,
        "requestID": format!("req-{id}"),
        "eventID": id,
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

/// One file of 2024-03-05 with two records: a StopLogging (found by the
/// detection test rules) and a ListBuckets (not found).
pub fn stop_logging_tree() -> Tree {
    let mut t = Tree::new();
    let mut stop = record("stop-1", "2024-03-05T09:00:00Z", "alice");
    stop["eventSource"] = "cloudtrail.amazonaws.com".into();
    stop["eventName"] = "StopLogging".into();
    let other = record("other-1", "2024-03-05T09:01:00Z", "bob");
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-05",
        "1000",
        &[stop, other],
    );
    t
}

/// A rule file in `dir` that finds nothing in `stop_logging_tree` (the detection
/// test rule for StopLogging, asking for an event that never happens).
pub fn clean_rule(dir: &Path) -> PathBuf {
    let path = dir.join("nothing.yml");
    let rule = std::fs::read_to_string(repo().join("tests/detect/rules/t10_cased.yml")).unwrap();
    std::fs::write(&path, rule.replace("StopLogging", "NeverHappens")).unwrap();
    path
}

/// Files below `dir` (recursive), relative, sorted; hidden staging included.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A moto server (S3 and Glue over HTTP) on 127.0.0.1, started once per test binary
/// from the test environment and stopped when the binary exits.
pub struct Moto {
    pub endpoint: String,
}

static MOTO_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn stop_moto() {
    let pid = MOTO_PID.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

pub fn moto() -> &'static Moto {
    static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();
    MOTO.get_or_init(|| {
        // moto's server, with Glue's UpdateTable VersionId check (see the script).
        let server = repo().join("tests/py/moto_server.py");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Stopped by `stop_moto` when the test binary exits; not waited for.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(python())
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        MOTO_PID.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: registers a plain extern "C" function to run at exit.
        unsafe {
            libc::atexit(stop_moto);
        }
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Moto {
                    endpoint: format!("http://{addr}"),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto_server did not start on {addr}");
    })
}

/// Environment of a process talking to moto: dummy credentials, no profiles, no IMDS.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
}

/// Run trailpack against moto (endpoint and path-style addressing added).
pub fn trailpack_aws(args: &[&str]) -> Output {
    let m = moto();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailpack"));
    aws_env(&mut cmd)
        .args(args)
        .args(["--endpoint-url", &m.endpoint, "--s3-force-path-style"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run trailpack")
}

/// The Python checker with the moto endpoint as its first argument.
pub fn py_aws(args: &[&str]) -> Output {
    let m = moto();
    let mut cmd = Command::new(python());
    aws_env(&mut cmd)
        .arg(repo().join("tests/py/trailcheck.py"))
        .arg(args[0])
        .arg(&m.endpoint)
        .args(&args[1..])
        .output()
        .expect("run python checker")
}

/// The fault-injecting proxy in front of moto; killed when dropped.
pub struct FaultProxy {
    child: std::process::Child,
    pub endpoint: String,
}

impl FaultProxy {
    /// Faults every `every` requests (0: none); S3 PUTs held `put_delay_ms`.
    pub fn start(every: u32, put_delay_ms: u32) -> FaultProxy {
        Self::with_latency(every, put_delay_ms, 0)
    }

    /// As [`FaultProxy::start`], every request also held `latency_ms`.
    pub fn with_latency(every: u32, put_delay_ms: u32, latency_ms: u32) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        // Killed and waited for in Drop; on the panic below it is killed first.
        #[allow(clippy::zombie_processes)]
        let mut child = std::process::Command::new(python())
            .arg(repo().join("tests/py/faultproxy.py"))
            .arg(&moto().endpoint)
            .arg(&port_file)
            .arg(every.to_string())
            .arg(put_delay_ms.to_string())
            .arg(latency_ms.to_string())
            .spawn()
            .expect("start fault proxy");
        for _ in 0..200 {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                return FaultProxy {
                    child,
                    endpoint: format!("http://127.0.0.1:{}", port.trim()),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("fault proxy did not start");
    }

    pub fn stats(&self) -> Value {
        let port = self.endpoint.rsplit(':').next().unwrap();
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }

    pub fn trailpack(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    /// The binary with `args`, talking to moto through this proxy.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailpack"));
        aws_env(&mut cmd).args(args).args([
            "--endpoint-url",
            &self.endpoint,
            "--s3-force-path-style",
        ]);
        cmd
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
