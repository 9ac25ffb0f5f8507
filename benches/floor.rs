//! trailpack-floor: the decode floor of a CloudTrail folder — the time to read,
//! inflate and parse every file into borrowed structs (loose fields as raw JSON
//! slices), without building Arrow or writing anything. trailpack's conversion
//! time is compared with this floor in `benches/compare.sh`.
//!
//! With `--encode`, the encode floor instead: the CPU to write the rows of a
//! converted output's Parquet files again with trailpack's writer settings
//! (dictionaries, page statistics, zstd), each row group as it is, already sorted,
//! to nowhere. The files are read into memory first, untimed. Any converter that
//! writes this output pays at least the decode floor plus this.
//!
//! usage: trailpack-floor DIR [--threads N]
//!        trailpack-floor --encode CURATED_DIR [--threads N]

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::RecordBatch;
use trailpack::encode::{writer_properties, EncodeOptions, PartFile};
use trailpack::schema::TableSchema;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Deserialize)]
#[allow(dead_code)]
struct File<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<Record<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Record<'a> {
    #[serde(borrow)]
    event_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow)]
    additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, rename = "requestID")]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "eventID")]
    event_id: Option<Cow<'a, str>>,
    read_only: Option<bool>,
    #[serde(borrow)]
    resources: Option<&'a RawValue>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    management_event: Option<bool>,
    #[serde(borrow)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_category: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tls_details: Option<&'a RawValue>,
    #[serde(borrow)]
    session_credential_from_console: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session_context: Option<&'a RawValue>,
    #[serde(borrow)]
    on_behalf_of: Option<&'a RawValue>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut threads = None;
    let mut encode = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()),
            "--encode" => encode = true,
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: trailpack-floor [--encode] DIR [--threads N]");
        std::process::exit(2);
    };
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .ok();
    }
    if encode {
        return encode_floor(&dir);
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".json.gz") && s.contains("/CloudTrail/")
        })
        .collect();
    let start = Instant::now();
    let (records, bytes) = files
        .par_iter()
        .map_init(
            || (libdeflater::Decompressor::new(), Vec::<u8>::new()),
            |(d, buf), p| {
                let data = std::fs::read(p).expect("read");
                let n = data.len();
                let isize = u32::from_le_bytes([data[n - 4], data[n - 3], data[n - 2], data[n - 1]])
                    as usize;
                buf.resize(isize, 0);
                let len = d.gzip_decompress(&data, buf).expect("inflate");
                let text = std::str::from_utf8(&buf[..len]).expect("utf-8");
                let f: File = serde_json::from_str(text).expect("parse");
                (f.records.len() as u64, len as u64)
            },
        )
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!(
        "floor: {} files, {records} records, {:.1} MB JSON in {:.3} s",
        files.len(),
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
}

/// The encode floor of the curated output under `dir` (see the module comment).
fn encode_floor(dir: &Path) {
    let schema = TableSchema::embedded();
    let groups = read_row_groups(dir, schema);
    let rows: usize = groups.iter().map(|g| g.num_rows()).sum();
    let props = writer_properties(schema, &EncodeOptions::default()).expect("writer settings");
    let (cpu, start) = (cpu_seconds(), Instant::now());
    let mut file =
        PartFile::new(std::io::sink(), schema.arrow_schema(), props).expect("parquet writer");
    for g in &groups {
        file.write_row_group(g).expect("encode");
    }
    let bytes = file.bytes_written();
    file.finish().expect("footer");
    println!(
        "encode floor: {} row groups, {rows} rows, {:.1} MB before the footer, in {:.3} s, cpu {:.3} s",
        groups.len(),
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
}

/// Every row group of the data files under `dir` (not findings), one batch each, in
/// trailpack's Arrow schema.
fn read_row_groups(dir: &Path, schema: &TableSchema) -> Vec<RecordBatch> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet")
                && !p.to_string_lossy().contains("/_findings/")
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            trailpack::convert::data_file_row_groups(p, schema)
                .unwrap_or_else(|e| panic!("read a data file: {e}"))
        })
        .collect()
}

/// CPU time of this process so far (user and system).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}
