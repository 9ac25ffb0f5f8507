//! De-duplication of partitions too large for an in-memory table, in bounded memory.
//!
//! Every row written is identified by (eventID hash, hash of its column values) and
//! its position in the written output. Those entries go to sorted runs on disk, a
//! run each time the buffer fills (`budget` bytes). After the build, a k-way merge of
//! the runs finds the positions of duplicates (every copy of a key but the first
//! written) and the eventID conflicts (one eventID, several keys); the duplicate
//! positions are sorted the same way and read back in order by the pass that drops
//! them. Memory: the buffer plus a small read buffer per run, whatever the size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// One row's identity and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    event_id: u64,
    key: u64,
    pos: u64,
}

const ENTRY_BYTES: usize = 24;

impl Entry {
    fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&self.event_id.to_le_bytes())?;
        w.write_all(&self.key.to_le_bytes())?;
        w.write_all(&self.pos.to_le_bytes())
    }

    fn read(r: &mut impl Read) -> std::io::Result<Option<Entry>> {
        let mut b = [0u8; ENTRY_BYTES];
        match r.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Ok(Some(Entry {
            event_id: word(0),
            key: word(1),
            pos: word(2),
        }))
    }
}

/// Sorted runs of entries on disk.
struct Runs {
    dir: tempfile::TempDir,
    buf: Vec<Entry>,
    cap: usize,
    files: Vec<PathBuf>,
}

impl Runs {
    fn new(parent: &Path, budget: usize) -> std::io::Result<Runs> {
        std::fs::create_dir_all(parent)?;
        Ok(Runs {
            dir: tempfile::Builder::new()
                .prefix("trailpack-dedup-")
                .tempdir_in(parent)?,
            buf: Vec::new(),
            cap: (budget / ENTRY_BYTES).max(1024),
            files: Vec::new(),
        })
    }

    fn push(&mut self, e: Entry) -> std::io::Result<()> {
        if self.buf.capacity() == 0 {
            // Exactly the budget: growing by doubling would overshoot it (and hold
            // the old and the new buffer while it moves).
            self.buf.reserve_exact(self.cap);
        }
        self.buf.push(e);
        if self.buf.len() >= self.cap {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.buf.sort_unstable();
        let path = self.dir.path().join(format!("run-{:05}", self.files.len()));
        let mut w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        for e in &self.buf {
            e.write(&mut w)?;
        }
        w.flush()?;
        self.buf.clear();
        self.buf.shrink_to_fit();
        self.files.push(path);
        Ok(())
    }

    /// Every entry, in order (a k-way merge of the runs).
    fn merged(mut self) -> std::io::Result<Merged> {
        self.flush()?;
        let mut readers = Vec::with_capacity(self.files.len());
        let mut heap = BinaryHeap::new();
        for (i, f) in self.files.iter().enumerate() {
            let mut r = BufReader::with_capacity(1 << 16, File::open(f)?);
            if let Some(e) = Entry::read(&mut r)? {
                heap.push(Reverse((e, i)));
            }
            readers.push(r);
        }
        Ok(Merged {
            _dir: self.dir,
            readers,
            heap,
        })
    }
}

/// A k-way merge of sorted runs.
pub struct Merged {
    _dir: tempfile::TempDir,
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
}

impl Merged {
    fn next_entry(&mut self) -> std::io::Result<Option<Entry>> {
        let Some(Reverse((e, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(n) = Entry::read(&mut self.readers[i])? {
            self.heap.push(Reverse((n, i)));
        }
        Ok(Some(e))
    }
}

/// Positions of duplicate rows, ascending.
pub struct Duplicates {
    merged: Option<Merged>,
    pub count: u64,
    pub conflicts: u64,
}

impl Duplicates {
    /// The next duplicate position, ascending.
    pub fn next_pos(&mut self) -> std::io::Result<Option<u64>> {
        match self.merged.as_mut() {
            Some(m) => Ok(m.next_entry()?.map(|e| e.pos)),
            None => Ok(None),
        }
    }
}

/// Row keys of a partition being built, spilled to disk.
pub struct KeySpill {
    runs: Runs,
    parent: PathBuf,
    budget: usize,
    next_pos: u64,
}

impl KeySpill {
    pub fn new(parent: &Path, budget: usize) -> std::io::Result<KeySpill> {
        Ok(KeySpill {
            runs: Runs::new(parent, budget)?,
            parent: parent.to_path_buf(),
            budget,
            next_pos: 0,
        })
    }

    /// The next row written: its eventID hash (rows without one are never
    /// duplicates) and value hash.
    pub fn push(&mut self, event_id: Option<u64>, key: u64) -> std::io::Result<()> {
        let pos = self.next_pos;
        self.next_pos += 1;
        match event_id {
            Some(event_id) => self.runs.push(Entry { event_id, key, pos }),
            None => Ok(()),
        }
    }

    /// Find the duplicates: for each (eventID, key), every position but the first.
    pub fn duplicates(self) -> std::io::Result<Duplicates> {
        let mut merged = self.runs.merged()?;
        let mut dups = Runs::new(&self.parent, self.budget)?;
        let (mut count, mut conflicts) = (0u64, 0u64);
        let mut last: Option<Entry> = None;
        while let Some(e) = merged.next_entry()? {
            match last {
                Some(l) if l.event_id == e.event_id && l.key == e.key => {
                    // Sorted by position within a key: the first copy is kept.
                    dups.push(Entry {
                        event_id: 0,
                        key: 0,
                        pos: e.pos,
                    })?;
                    count += 1;
                }
                Some(l) if l.event_id == e.event_id => {
                    conflicts += 1;
                    last = Some(e);
                }
                _ => last = Some(e),
            }
        }
        drop(merged);
        Ok(Duplicates {
            merged: if count > 0 {
                Some(dups.merged()?)
            } else {
                None
            },
            count,
            conflicts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_later_copy_across_many_runs() {
        let dir = tempfile::tempdir().unwrap();
        // A budget of 1,024 entries: 20,000 rows make 20 runs.
        let mut s = KeySpill::new(dir.path(), 1024 * ENTRY_BYTES).unwrap();
        let mut want = Vec::new();
        for pos in 0..20_000u64 {
            let id = pos % 15_000; // rows 15,000.. repeat rows 0..5,000
            let key = if id == 7 && pos > 15_000 { 99 } else { id * 3 };
            if pos >= 15_000 && id != 7 {
                want.push(pos);
            }
            let event_id = if pos == 3 { None } else { Some(id) };
            s.push(event_id, key).unwrap();
        }
        let mut d = s.duplicates().unwrap();
        let mut got = Vec::new();
        while let Some(p) = d.next_pos().unwrap() {
            got.push(p);
        }
        // Row 3 has no eventID: its later twin (15,003) is the first with one.
        want.retain(|&p| p != 15_003);
        assert_eq!(got, want);
        assert_eq!(d.count, want.len() as u64);
        assert_eq!(d.conflicts, 1, "eventID 7 with another key");
    }
}
