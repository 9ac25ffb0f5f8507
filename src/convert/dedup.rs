//! De-duplication within a partition build.
//!
//! Freshly decoded rows are identified by (eventID hash, hash of the record's raw
//! keys and values): the same record delivered twice is written once; records that
//! share an eventID but differ are all kept and counted as conflicts. Rows carried
//! over from the previous version (see `carry`) have no raw text any more: they are
//! identified by (eventID hash, hash of their column values), and a decoded row
//! whose eventID matches a carried one is compared the same way, so the same event
//! read from two trails is kept once.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};
use xxhash_rust::xxh3::Xxh3;

use crate::decode::RowKey;
use crate::manifest::RecordCounts;
use crate::schema::{Role, TableSchema};

/// Records expected in `gz_bytes` of gzipped CloudTrail (roughly 150-250 bytes per
/// record compressed).
pub fn expected_records(gz_bytes: u64) -> u64 {
    gz_bytes / 160
}

#[derive(Default)]
pub struct Dedup {
    /// eventID → content hash of the first record seen with it.
    first: HashMap<u64, u64>,
    /// Further (eventID, content) pairs of eventID conflicts.
    extra: HashSet<(u64, u64)>,
    /// eventIDs of carried rows, and (eventID, column-value hash) of each.
    carried_ids: HashSet<u64>,
    carried: HashSet<(u64, u64)>,
    /// Columns that identify a row by value: all but the source and derived ones.
    value_columns: Vec<usize>,
}

impl Dedup {
    /// A table sized for inputs of `gz_bytes` compressed bytes: sized once, so the
    /// table is not rehashed — a rehash briefly holds the old and the new table.
    pub fn for_inputs(schema: &TableSchema, gz_bytes: u64) -> Self {
        let expected = expected_records(gz_bytes).min(64 << 20) as usize;
        Dedup {
            first: HashMap::with_capacity(expected),
            extra: HashSet::new(),
            carried_ids: HashSet::new(),
            carried: HashSet::new(),
            value_columns: schema
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !matches!(c.role, Some(Role::Source | Role::Derived)))
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// Register carried rows `rows` of `batch` (eventIDs in column `event_id`);
    /// returns the rows to keep (carried rows identical to one another are kept once).
    pub fn carry(&mut self, batch: &RecordBatch, rows: &[u32], event_id: usize) -> Vec<u32> {
        let ids = batch.column(event_id).as_string::<i32>();
        let mut keep = Vec::with_capacity(rows.len());
        for &r in rows {
            let r_us = r as usize;
            if ids.is_null(r_us) {
                keep.push(r);
                continue;
            }
            let id = crate::decode::event_id_hash(ids.value(r_us));
            let value = row_hash(batch, r_us, &self.value_columns);
            self.carried_ids.insert(id);
            if self.carried.insert((id, value)) {
                keep.push(r);
            }
        }
        keep
    }

    /// (eventID hash, value hash) of every row of `batch`: the identity rows are
    /// de-duplicated by on disk (see `spill`). The eventID hash comes from `raw`
    /// (freshly decoded rows) or from the eventID column.
    pub fn value_keys(
        &self,
        batch: &RecordBatch,
        raw: Option<&[RowKey]>,
        event_id: usize,
    ) -> Vec<(Option<u64>, u64)> {
        let ids = batch.column(event_id).as_string::<i32>();
        (0..batch.num_rows())
            .map(|r| {
                let id = match raw {
                    Some(keys) => keys[r].event_id,
                    None => (!ids.is_null(r)).then(|| crate::decode::event_id_hash(ids.value(r))),
                };
                (id, row_hash(batch, r, &self.value_columns))
            })
            .collect()
    }

    /// Rows of a decoded file to keep; counts duplicates and eventID conflicts.
    pub fn keep(
        &mut self,
        batch: &RecordBatch,
        keys: &[RowKey],
        counts: &mut RecordCounts,
    ) -> Vec<u32> {
        let mut rows = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let fresh = match k.event_id {
                None => true,
                Some(id)
                    if !self.carried_ids.is_empty()
                        && self.carried_ids.contains(&id)
                        && self
                            .carried
                            .contains(&(id, row_hash(batch, i, &self.value_columns))) =>
                {
                    false
                }
                Some(id) => match self.first.entry(id) {
                    Entry::Vacant(v) => {
                        v.insert(k.content);
                        true
                    }
                    Entry::Occupied(o) if *o.get() == k.content => false,
                    Entry::Occupied(_) => {
                        let new = self.extra.insert((id, k.content));
                        if new {
                            counts.eventid_conflicts += 1;
                        }
                        new
                    }
                },
            };
            if fresh {
                rows.push(i as u32);
            } else {
                counts.deduplicated += 1;
            }
        }
        rows
    }
}

/// A hash of one row's values in `columns` (nulls, strings, booleans, timestamps,
/// lists of structs).
pub fn row_hash(batch: &RecordBatch, row: usize, columns: &[usize]) -> u64 {
    let mut h = Xxh3::new();
    for &c in columns {
        hash_value(&mut h, batch.column(c).as_ref(), row);
        h.update(&[0xff]);
    }
    h.digest()
}

fn hash_value(h: &mut Xxh3, a: &dyn Array, row: usize) {
    if a.is_null(row) {
        h.update(&[0]);
        return;
    }
    h.update(&[1]);
    match a.data_type() {
        DataType::Utf8 => h.update(a.as_string::<i32>().value(row).as_bytes()),
        DataType::Boolean => h.update(&[a.as_boolean().value(row) as u8]),
        DataType::Timestamp(..) => h.update(
            &a.as_primitive::<TimestampMicrosecondType>()
                .value(row)
                .to_le_bytes(),
        ),
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(row);
            h.update(&(items.len() as u64).to_le_bytes());
            for i in 0..items.len() {
                hash_value(h, items.as_ref(), i);
            }
        }
        DataType::Struct(_) => {
            for child in a.as_struct().columns() {
                hash_value(h, child.as_ref(), row);
                h.update(&[0xfe]);
            }
        }
        // The schema has no other types; a new one must be added here.
        other => h.update(format!("{other}").as_bytes()),
    }
}

/// What a decoded file is to `InOrder`.
pub enum Turn<'t> {
    /// Rows to de-duplicate now: the file's batch and its row keys.
    Take(&'t RecordBatch, &'t [RowKey]),
    /// Nothing to take (a bad file); the files after it may be taken.
    Pass,
    /// Not taken here, and so neither are the files after it (they are taken after
    /// it, by the caller).
    Stop,
}

/// A file's decoding result, and its rows to keep when `InOrder` took it.
pub type Taken<T> = (T, Option<Vec<u32>>);

/// De-duplication of a chunk's files in input order while they decode: the worker
/// that finishes the next file in order takes it, and every later file already
/// decoded, so the table fills in the same order as one thread would fill it, and
/// the keep decisions are the same, but beside the files still decoding rather than
/// after them.
pub struct InOrder<'d, T> {
    /// `None`: nothing is taken here (the caller takes every file).
    dedup: Option<&'d mut Dedup>,
    /// Per file of the chunk: its result, once decoded (`arrived`).
    done: Vec<T>,
    arrived: Vec<bool>,
    /// Per file: the rows to keep, when taken here.
    kept: Vec<Option<Vec<u32>>>,
    /// The next file to take; past the end once a file stops the taking.
    next: usize,
    counts: RecordCounts,
}

impl<'d, T: Default> InOrder<'d, T> {
    pub fn new(dedup: Option<&'d mut Dedup>, files: usize) -> Self {
        InOrder {
            dedup,
            done: (0..files).map(|_| T::default()).collect(),
            arrived: vec![false; files],
            kept: vec![None; files],
            next: 0,
            counts: RecordCounts::default(),
        }
    }

    /// File `k` is decoded as `result`; take it and the decoded files after it
    /// whose turn has come.
    pub fn put(&mut self, k: usize, result: T, turn: impl Fn(&T) -> Turn<'_>) {
        self.done[k] = result;
        self.arrived[k] = true;
        let Some(dedup) = self.dedup.as_deref_mut() else {
            return;
        };
        while self.next < self.done.len() && self.arrived[self.next] {
            match turn(&self.done[self.next]) {
                Turn::Take(batch, keys) => {
                    self.kept[self.next] = Some(dedup.keep(batch, keys, &mut self.counts));
                }
                Turn::Pass => {}
                Turn::Stop => {
                    self.next = self.done.len();
                    break;
                }
            }
            self.next += 1;
        }
    }

    /// Per file: its result, and its rows to keep when taken here; and the counts
    /// of what was taken here.
    pub fn finish(self) -> (Vec<Taken<T>>, RecordCounts) {
        (self.done.into_iter().zip(self.kept).collect(), self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodedFile, Decoder, RowFilter};

    #[test]
    fn a_decoded_row_equal_to_a_carried_one_is_a_duplicate() {
        let schema = TableSchema::embedded();
        let d = Decoder::new(schema, 1 << 20);
        let text = r#"{"Records":[
            {"eventID":"e1","eventTime":"2024-03-05T10:00:00Z","eventName":"A","resources":[{"ARN":"x","type":"t"}]},
            {"eventID":"e2","eventTime":"2024-03-05T10:00:01Z","eventName":"B"}]}"#;
        let carried = d
            .decode(text.as_bytes(), RowFilter::All, "s3://b/trail-a")
            .unwrap();
        let text2 = r#"{"Records":[
            {"eventID":"e1","eventTime":"2024-03-05T10:00:00Z","eventName":"A","resources":[{"ARN":"x","type":"t"}]},
            {"eventID":"e2","eventTime":"2024-03-05T10:00:01Z","eventName":"B-changed"},
            {"eventID":"e3","eventTime":"2024-03-05T10:00:02Z","eventName":"C"}]}"#;
        let fresh = d
            .decode(text2.as_bytes(), RowFilter::All, "s3://b/trail-b")
            .unwrap();
        let mut dd = Dedup::for_inputs(schema, 1000);
        assert_eq!(
            dd.carry(&carried.batch, &[0, 1], schema.event_id),
            vec![0, 1]
        );
        let mut counts = RecordCounts::default();
        // e1 is the same event (other source object): dropped; e2 differs: kept.
        assert_eq!(dd.keep(&fresh.batch, &fresh.keys, &mut counts), vec![1, 2]);
        assert_eq!(counts.deduplicated, 1);
        // The same carried rows twice are kept once.
        assert!(dd
            .carry(&carried.batch, &[0, 1], schema.event_id)
            .is_empty());
    }

    /// All orders of `0..n`.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, n - 1);
                out.push(q);
            }
        }
        out
    }

    /// Files finishing in any order are taken as one thread taking them in input
    /// order would: same rows kept, same counts; a bad file is passed over; nothing
    /// at or after a file left to the caller is taken.
    #[test]
    fn files_taken_in_order_whatever_order_they_finish_in() {
        let schema = TableSchema::embedded();
        let d = Decoder::new(schema, 1 << 20);
        let rec = |id: &str, name: &str| {
            format!(
                r#"{{"eventID":"{id}","eventTime":"2024-03-05T10:00:00Z","eventName":"{name}"}}"#
            )
        };
        let texts = [
            vec![rec("e1", "A"), rec("e2", "B")],
            vec![rec("e2", "B"), rec("e3", "C")],
            vec![],
            vec![rec("e3", "C2"), rec("e1", "A")],
            vec![rec("e4", "D"), rec("e1", "A"), rec("e3", "C2")],
        ];
        // File 2 is bad (`Some(Err)`), or left to the caller (`None`).
        let files =
            |third: Option<Result<DecodedFile, ()>>| -> Vec<Option<Result<DecodedFile, ()>>> {
                let mut third = Some(third);
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, recs)| match i {
                        2 => third.take().flatten(),
                        _ => Some(Ok(d
                            .decode(
                                format!(r#"{{"Records":[{}]}}"#, recs.join(",")).as_bytes(),
                                RowFilter::All,
                                "f",
                            )
                            .unwrap())),
                    })
                    .collect()
            };
        fn turn(r: &Option<Result<DecodedFile, ()>>) -> Turn<'_> {
            match r {
                Some(Ok(df)) => Turn::Take(&df.batch, &df.keys),
                Some(Err(())) => Turn::Pass,
                None => Turn::Stop,
            }
        }

        // One thread, in input order.
        let mut one = Dedup::for_inputs(schema, 1000);
        let mut one_counts = RecordCounts::default();
        let expected: Vec<Option<Vec<u32>>> = files(Some(Err(())))
            .iter()
            .map(|f| match f {
                Some(Ok(df)) => Some(one.keep(&df.batch, &df.keys, &mut one_counts)),
                _ => None,
            })
            .collect();
        assert_eq!(
            expected,
            vec![
                Some(vec![0, 1]),
                Some(vec![1]),
                None,
                Some(vec![0]),
                Some(vec![0])
            ]
        );
        assert_eq!(
            (one_counts.deduplicated, one_counts.eventid_conflicts),
            (4, 1)
        );

        for order in permutations(texts.len()) {
            let mut dd = Dedup::for_inputs(schema, 1000);
            let mut taking = InOrder::new(Some(&mut dd), texts.len());
            let mut results: Vec<_> = files(Some(Err(()))).into_iter().map(Some).collect();
            for &k in &order {
                taking.put(k, results[k].take().unwrap(), turn);
            }
            let (done, counts) = taking.finish();
            let kept: Vec<_> = done.into_iter().map(|(_, kept)| kept).collect();
            assert_eq!(kept, expected, "order {order:?}");
            assert_eq!(
                (counts.deduplicated, counts.eventid_conflicts),
                (4, 1),
                "order {order:?}"
            );

            // File 2 left to the caller: files 0 and 1 taken, none after.
            let mut dd = Dedup::for_inputs(schema, 1000);
            let mut taking = InOrder::new(Some(&mut dd), texts.len());
            let mut results: Vec<_> = files(None).into_iter().map(Some).collect();
            for &k in &order {
                taking.put(k, results[k].take().unwrap(), turn);
            }
            let (done, _) = taking.finish();
            let kept: Vec<_> = done.into_iter().map(|(_, kept)| kept).collect();
            assert_eq!(
                kept,
                vec![Some(vec![0, 1]), Some(vec![1]), None, None, None]
            );
        }
    }
}
