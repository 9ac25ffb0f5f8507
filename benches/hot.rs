//! Criterion benchmarks of the hot pieces: inflating a file, decoding a file into
//! Arrow, and sorting + encoding a row group. Input: the shipped sample records,
//! repeated into a realistic 1,500-record file (no external data needed).
//!
//! Run: `cargo bench --bench hot`

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use trailpack::decode::{Decoder, RowFilter};
use trailpack::encode::{assemble, writer_properties, EncodeOptions, PartFile, Piece};
use trailpack::schema::TableSchema;

/// A gzip CloudTrail file of 1,500 records built from the sample logs.
fn sample_file() -> (Vec<u8>, usize) {
    let mut records: Vec<Value> = Vec::new();
    for e in walkdir::WalkDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples"))
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let p = e.path();
        if !p.to_string_lossy().contains("/CloudTrail/")
            || !p.to_string_lossy().ends_with(".json.gz")
        {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(p).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        let doc: Value = serde_json::from_str(&text).expect("json");
        records.extend(doc["Records"].as_array().cloned().unwrap_or_default());
    }
    let file: Vec<Value> = records.iter().cycle().take(1500).cloned().collect();
    let json = serde_json::to_vec(&serde_json::json!({ "Records": file })).expect("json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&json).expect("gzip");
    (gz.finish().expect("gzip"), json.len())
}

fn benches(c: &mut Criterion) {
    let (gz, json_len) = sample_file();
    let schema = TableSchema::embedded();
    let decoder = Decoder::new(schema, 1 << 30);

    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Bytes(json_len as u64));
    g.bench_function("inflate", |b| {
        let mut d = libdeflater::Decompressor::new();
        let mut out = vec![0u8; json_len];
        b.iter(|| d.gzip_decompress(&gz, &mut out).expect("inflate"))
    });
    g.bench_function("decode_to_arrow", |b| {
        b.iter(|| {
            decoder
                .decode(&gz, RowFilter::All, "bench")
                .expect("decode")
                .batch
                .num_rows()
        })
    });
    g.finish();

    // A row group of 20 files (30k records): sort by eventtime, then encode.
    let pieces = || -> Vec<Piece> {
        (0..20)
            .map(|_| {
                let f = decoder
                    .decode(&gz, RowFilter::All, "bench")
                    .expect("decode");
                let rows = (0..f.batch.num_rows() as u32).collect();
                Piece::new(f.batch, rows, None)
            })
            .collect()
    };
    let props = writer_properties(schema, &EncodeOptions::default()).expect("props");
    let mut g = c.benchmark_group("row_group");
    g.throughput(Throughput::Bytes(20 * json_len as u64));
    g.sample_size(10);
    g.bench_function("sort", |b| {
        b.iter_batched(
            pieces,
            |p| assemble(&schema.arrow_schema(), schema.event_time, &p).expect("sort"),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("encode_parquet", |b| {
        let batch = assemble(&schema.arrow_schema(), schema.event_time, &pieces()).expect("sort");
        b.iter(|| {
            let mut f = PartFile::new(std::io::sink(), schema.arrow_schema(), props.clone())
                .expect("writer");
            f.write_row_group(&batch).expect("encode");
            f.finish().expect("finish");
        })
    });
    g.finish();
}

criterion_group! {
    name = hot;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(hot);
