//! A build that fails part way withdraws exactly the reads it announced and did not
//! make. A build announces its inputs to the source a chunk ahead (an S3 source
//! starts downloading them, and keeps what it downloaded until the announced read
//! comes); a build that stops must take back each announcement it will not use, and
//! only those: a read not taken back would keep its bytes for the rest of the run,
//! and one taken back twice would drop the share of the other build reading the
//! same file (the early files of D+1 are read by the builds of D and of D+1).
//!
//! The run is the library's own `convert::run` over a real local source and sink;
//! the source is wrapped to count each file's announcements, reads and withdrawals,
//! and the sink to fail every write of day D's data files from its first row group
//! on, which comes while later chunks are announced.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use common::*;
use serde_json::json;
use time::Date;
use trailpack::convert::{self, ConvertOptions, Status};
use trailpack::manifest::{Dataset, Manifest};
use trailpack::partition::PartitionKey;
use trailpack::progress::Progress;
use trailpack::sink::local::LocalSink;
use trailpack::sink::{Commit, Current, DataFile, PartOutput, Sink, SinkError, StagedPartition};
use trailpack::source::local::LocalSource;
use trailpack::source::{
    DigestObject, Discovery, InputFile, ListFilter, Listing, Source, SourceError, TrailFolder,
};

/// Per file key: how often it was announced, read and withdrawn.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Calls {
    announced: u32,
    read: u32,
    withdrawn: u32,
}

/// The local source, counting the calls a build makes per file.
struct Counting {
    inner: LocalSource,
    calls: Mutex<BTreeMap<String, Calls>>,
}

impl Counting {
    fn count(&self, files: &[&InputFile], f: impl Fn(&mut Calls)) {
        let mut calls = self.calls.lock().unwrap();
        for file in files {
            f(calls.entry(file.key.clone()).or_default());
        }
    }
}

impl Source for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn discover(&self, filter: &ListFilter) -> Result<Discovery, SourceError> {
        self.inner.discover(filter)
    }
    fn day_spans(
        &self,
        folders: &[TrailFolder],
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<Option<(Date, Date)>>, SourceError> {
        self.inner.day_spans(folders, from, to)
    }
    fn list_days(&self, wanted: &[(&TrailFolder, Date)]) -> Result<Listing, SourceError> {
        self.inner.list_days(wanted)
    }
    fn read_digests(
        &self,
        wanted: &[(&TrailFolder, Date)],
    ) -> Result<Vec<Vec<DigestObject>>, SourceError> {
        self.inner.read_digests(wanted)
    }
    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError> {
        self.count(&[file], |c| c.read += 1);
        self.inner.read(file)
    }
    fn prefetch(&self, files: &[&InputFile]) {
        self.count(files, |c| c.announced += 1);
    }
    fn forget(&self, files: &[&InputFile]) {
        self.count(files, |c| c.withdrawn += 1);
    }
}

/// The local sink, whose data files of day `failing` take their first 4 bytes
/// (Parquet's magic) and then fail every write, as a full disk would.
struct FailingDay {
    inner: LocalSink,
    failing: Date,
}

struct FailingStaged(Box<dyn StagedPartition>);

struct FailingOutput {
    inner: Box<dyn PartOutput>,
    written: usize,
}

impl Write for FailingOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written >= 4 {
            return Err(std::io::Error::other("no space left (injected)"));
        }
        let n = self.inner.write(&buf[..buf.len().min(4 - self.written)])?;
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl PartOutput for FailingOutput {
    fn finish(self: Box<Self>) -> Result<u64, SinkError> {
        self.inner.finish()
    }
}

impl StagedPartition for FailingStaged {
    fn data_folder(&self) -> &str {
        self.0.data_folder()
    }
    fn create(&mut self, name: &str) -> Result<Box<dyn PartOutput>, SinkError> {
        let inner = self.0.create(name)?;
        Ok(Box::new(FailingOutput { inner, written: 0 }))
    }
    fn local_path(&self, name: &str) -> PathBuf {
        self.0.local_path(name)
    }
    fn remove(&mut self, name: &str) -> Result<(), SinkError> {
        self.0.remove(name)
    }
    fn commit(
        self: Box<Self>,
        manifest: &Manifest,
        previous: Option<&Current>,
    ) -> Result<Commit, SinkError> {
        self.0.commit(manifest, previous)
    }
}

impl Sink for FailingDay {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn current(&self, key: &PartitionKey) -> Result<Option<Current>, SinkError> {
        self.inner.current(key)
    }
    fn stage(
        &self,
        key: &PartitionKey,
        build: &str,
    ) -> Result<Box<dyn StagedPartition>, SinkError> {
        let staged = self.inner.stage(key, build)?;
        Ok(if key.day == self.failing {
            Box::new(FailingStaged(staged))
        } else {
            staged
        })
    }
    fn open(&self, key: &PartitionKey, file: &str) -> Result<DataFile, SinkError> {
        self.inner.open(key, file)
    }
    fn data_location(&self, key: &PartitionKey, manifest: &Manifest) -> String {
        self.inner.data_location(key, manifest)
    }
    fn collect_garbage(
        &self,
        key: &PartitionKey,
        current: &Current,
        pinned: Option<&str>,
    ) -> Result<usize, SinkError> {
        self.inner.collect_garbage(key, current, pinned)
    }
    fn clean_up(&self, key: &PartitionKey) {
        self.inner.clean_up(key)
    }
    fn read_dataset(&self) -> Result<Option<Dataset>, SinkError> {
        self.inner.read_dataset()
    }
    fn create_dataset(&self, d: &Dataset) -> Result<Dataset, SinkError> {
        self.inner.create_dataset(d)
    }
    fn list_partitions(&self) -> Result<Vec<PartitionKey>, SinkError> {
        self.inner.list_partitions()
    }
    fn delete_partition(&self, key: &PartitionKey) -> Result<(), SinkError> {
        self.inner.delete_partition(key)
    }
}

/// A record of `time` whose request parameters carry `pad` bytes of hex noise
/// (compressed as little as real values are).
fn padded(id: &str, time: &str, pad: usize) -> serde_json::Value {
    let mut x = id.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let noise: String = (0..pad)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect();
    let mut r = record(id, time, "alice");
    r["requestParameters"] = json!({ "pad": noise });
    r
}

/// The hour of day D whose file is large.
const LARGE_HOUR: u32 = 14;

/// Day D (2024-03-05): 18 files of 30 records and, among them, one large file
/// (decoded alone, in steps). Day D+1: 12 early files, each with one late record of
/// D, then 6 later ones. D's build fails on its first row group; D+1's is published.
#[test]
fn a_failed_build_withdraws_exactly_its_unread_announcements() {
    // Chunks are sized by the thread count: the same on every machine.
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .unwrap();
    let mut t = Tree::new();
    let (account, region) = ("111122223333", "us-east-1");
    for f in 0..18 {
        let hhmm = format!("{f:02}00");
        let n = if f == LARGE_HOUR { 1500 } else { 30 };
        let records: Vec<_> = (0..n)
            .map(|r| {
                let time = format!("2024-03-05T{f:02}:{:02}:{:02}Z", r / 60 % 60, r % 60);
                padded(&format!("d-{f}-{r}"), &time, 400)
            })
            .collect();
        t.file(None, account, region, "2024-03-05", &hhmm, &records);
    }
    let mut expected_d1 = 0;
    for f in 0..18 {
        let (hour, minute) = if f < 12 { (0, 5 * f) } else { (f - 10, 0) };
        // The early files carry a late record of D (read by D's build too).
        let late = format!("2024-03-05T23:{:02}:00Z", 40 + f % 12);
        let mut records = if f < 12 {
            vec![padded(&format!("late-{f}"), &late, 400)]
        } else {
            Vec::new()
        };
        records.extend((0..20).map(|r| {
            let time = format!("2024-03-06T{hour:02}:{minute:02}:{r:02}Z");
            padded(&format!("e-{f}-{r}"), &time, 400)
        }));
        expected_d1 += 20;
        t.file(
            None,
            account,
            region,
            "2024-03-06",
            &format!("{hour:02}{minute:02}"),
            &records,
        );
    }

    let source = Counting {
        inner: LocalSource::new(&t.input()).unwrap(),
        calls: Mutex::default(),
    };
    let day = time::macros::date!(2024 - 03 - 05);
    let sink = FailingDay {
        inner: LocalSink::new(&t.output()).unwrap(),
        failing: day,
    };
    let opts = ConvertOptions {
        row_group_bytes: 256 << 10,
        ..Default::default()
    };
    let report = convert::run(&source, &sink, None, &opts, &Progress::new(false)).unwrap();

    let status: BTreeMap<String, (Status, Option<String>)> = report
        .partition_reports
        .iter()
        .map(|p| (p.key.day.to_string(), (p.status, p.error.clone())))
        .collect();
    let (d_status, d_error) = &status["2024-03-05"];
    assert_eq!(*d_status, Status::Failed, "{status:?}");
    assert!(
        d_error
            .as_deref()
            .is_some_and(|e| e.contains("no space left (injected)")),
        "{d_error:?}"
    );
    assert_ne!(status["2024-03-06"].0, Status::Failed, "{status:?}");

    // Every announcement was read or withdrawn, never both, never neither: the
    // builds of D and D+1 each announce D+1's early files (and those of D-1 and D
    // each announce D's), so those are announced twice and read or withdrawn twice
    // in all.
    let calls = source.calls.into_inner().unwrap();
    let mut withdrawn = (0, 0);
    for (key, c) in &calls {
        assert_eq!(c.announced, c.read + c.withdrawn, "{key}: {c:?}");
        if c.withdrawn > 0 {
            withdrawn.0 += 1;
            if c.announced == 2 {
                withdrawn.1 += 1;
            }
        }
        assert!(c.withdrawn <= 1, "{key} withdrawn twice: {c:?}");
    }
    // The failure came while later chunks were announced (the test would prove
    // nothing otherwise), among them the large file and files D+1 reads too.
    assert!(
        withdrawn.0 >= 2,
        "files withdrawn: {withdrawn:?} of {calls:#?}"
    );
    assert!(
        withdrawn.1 >= 1,
        "shared files withdrawn: {withdrawn:?} of {calls:#?}"
    );
    let large_key = format!("T{LARGE_HOUR:02}00Z");
    let large_key = calls.keys().find(|k| k.contains(&large_key)).unwrap();
    assert_eq!(
        calls[large_key],
        Calls {
            announced: 1,
            read: 0,
            withdrawn: 1
        },
        "the large file"
    );

    // D+1 is published whole, as an independent reader sees it; D is not.
    let out = t.output();
    assert_eq!(
        sql1(&out, "select count(*) from t where day = '2024-03-06'"),
        json!(expected_d1)
    );
    assert_eq!(
        sql1(
            &out,
            "select count(distinct eventid) from t where day = '2024-03-06'"
        ),
        json!(expected_d1)
    );
    assert_eq!(
        sql1(&out, "select count(*) from t where day = '2024-03-05'"),
        json!(0)
    );
}
