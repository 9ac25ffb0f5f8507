//! Progress of a run: a bar on a terminal (files, bytes, records/s), nothing
//! otherwise; the counters are kept either way for the summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    total_files: AtomicU64,
    files: AtomicU64,
    records: AtomicU64,
    content: AtomicU64,
    partitions_total: AtomicU64,
    partitions_done: AtomicU64,
    started: Instant,
    /// Files only (no partitions, no records): `verify`.
    files_only: bool,
}

impl Progress {
    /// `visible`: draw a bar on standard error (only when it is a terminal).
    pub fn new(visible: bool) -> Self {
        let bar = if visible {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8));
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            total_files: AtomicU64::new(0),
            files: AtomicU64::new(0),
            records: AtomicU64::new(0),
            content: AtomicU64::new(0),
            partitions_total: AtomicU64::new(0),
            partitions_done: AtomicU64::new(0),
            started: Instant::now(),
            files_only: false,
        }
    }

    /// Run `f` (which writes to the terminal) with the bar hidden, then draw it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// A bar that counts files and bytes only (files checked, not converted).
    pub fn files_only(mut self) -> Self {
        self.files_only = true;
        self
    }

    /// The run's partitions are known; their files are added as they are listed.
    pub fn start(&self, partitions: u64) {
        self.partitions_total.store(partitions, Ordering::Relaxed);
        self.bar.set_length(0);
    }

    /// A partition was listed: its files and bytes join the totals.
    pub fn planned(&self, files: u64, bytes: u64) {
        self.total_files.fetch_add(files, Ordering::Relaxed);
        self.bar.inc_length(bytes);
    }

    /// The day rule added a partition to the run.
    pub fn partition_added(&self) {
        self.partitions_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A file was read and decoded.
    pub fn file_done(&self, bytes: u64, records: u64, content_bytes: u64) {
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        self.content.fetch_add(content_bytes, Ordering::Relaxed);
        self.bar.inc(bytes);
        if self.bar.is_hidden() {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let total_files = self.total_files.load(Ordering::Relaxed);
        self.bar.set_message(if self.files_only {
            format!(
                "{files}/{total_files} files, {:.0} files/s",
                files as f64 / secs
            )
        } else {
            format!(
                "{}/{} partitions, {files}/{total_files} files, {records} records, {:.0} records/s",
                self.partitions_done.load(Ordering::Relaxed),
                self.partitions_total.load(Ordering::Relaxed),
                records as f64 / secs
            )
        });
    }

    /// Files of a partition that was not built (current, or dry run).
    pub fn skip(&self, files: u64, bytes: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.bar.inc(bytes);
    }

    /// A partition is done (built, current, or failed).
    pub fn partition_done(&self) {
        self.partitions_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Decompressed bytes decoded so far.
    pub fn content_bytes(&self) -> u64 {
        self.content.load(Ordering::Relaxed)
    }
}
