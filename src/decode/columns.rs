//! Arrow builders for the curated columns, and the path trie that maps a record's
//! keys to them. Both are built once per schema; builders once per file.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, Field};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use hashbrown::{Equivalent, HashMap};

use crate::schema::{ColumnType, TableSchema};

/// A node of the key trie: an object whose keys lead to columns or deeper objects.
#[derive(Debug, Default)]
pub struct Node {
    children: HashMap<TrieKey, Child, BuildHasherDefault<KeyHasher>>,
}

/// A key of the trie. Every member of every record is looked up, and CloudTrail's
/// keys are short: they are hashed and compared a machine word at a time (see
/// `ends`), from words kept beside the key so that most lookups never read the key
/// itself.
#[derive(Debug)]
struct TrieKey {
    ends: (u64, u64),
    key: Box<str>,
}

impl TrieKey {
    fn new(key: &str) -> Self {
        TrieKey {
            ends: ends(key.as_bytes()),
            key: key.into(),
        }
    }
}

impl Hash for TrieKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(mix(self.ends, self.key.len()));
    }
}

impl PartialEq for TrieKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for TrieKey {}

/// A looked-up key, borrowed from the record, with its words.
struct Probe<'k> {
    ends: (u64, u64),
    key: &'k [u8],
}

impl<'k> Probe<'k> {
    fn new(key: &'k str) -> Self {
        Probe {
            ends: ends(key.as_bytes()),
            key: key.as_bytes(),
        }
    }
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(mix(self.ends, self.key.len()));
    }
}

impl Equivalent<TrieKey> for Probe<'_> {
    fn equivalent(&self, k: &TrieKey) -> bool {
        let n = self.key.len();
        if n != k.key.len() || self.ends != k.ends {
            return false;
        }
        // The ends cover keys of up to 16 bytes; longer ones compare what lies between.
        n <= 16 || self.key[8..n - 8] == k.key.as_bytes()[8..n - 8]
    }
}

/// Takes the `u64` that `mix` already mixed.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (by the key types above); anything else folds in.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn half(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// The first and last bytes of a key, read as (overlapping) words.
#[inline]
fn ends(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        ),
        4..=7 => (half(b, 0), half(b, n - 4)),
        _ => (word(b, 0), word(b, n - 8)),
    }
}

#[inline]
fn mix((first, last): (u64, u64), len: usize) -> u64 {
    let h = (first ^ last.rotate_left(29) ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

#[derive(Debug)]
pub enum Child {
    Leaf(usize),
    Object(Node),
}

impl Node {
    /// Build the trie of every mapped column's path.
    pub fn from_schema(schema: &TableSchema) -> Node {
        let mut root = Node::default();
        for (i, c) in schema.columns.iter().enumerate() {
            if c.role.is_some() {
                continue;
            }
            let keys: Vec<&str> = c.path_keys().collect();
            let mut node = &mut root;
            for (depth, k) in keys.iter().enumerate() {
                if depth + 1 == keys.len() {
                    node.children.insert(TrieKey::new(k), Child::Leaf(i));
                } else {
                    let child = node
                        .children
                        .entry(TrieKey::new(k))
                        .or_insert_with(|| Child::Object(Node::default()));
                    node = match child {
                        Child::Object(n) => n,
                        // The schema validation rejects a path that is both leaf and parent.
                        Child::Leaf(_) => unreachable!("schema path is both leaf and parent"),
                    };
                }
            }
        }
        root
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&Child> {
        self.children.get(&Probe::new(key))
    }
}

/// A column under construction.
pub enum ColumnBuilder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StructBuilder>, usize),
    /// The source column: one value for the whole batch, so only rows are counted.
    Source(usize),
}

impl ColumnBuilder {
    fn new(schema: &TableSchema, col: usize, capacity: usize, value_bytes: usize) -> Self {
        let c = &schema.columns[col];
        if col == schema.source {
            return ColumnBuilder::Source(0);
        }
        match c.ty {
            ColumnType::String | ColumnType::Json => {
                ColumnBuilder::Str(StringBuilder::with_capacity(capacity, value_bytes))
            }
            ColumnType::Boolean => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Timestamp => ColumnBuilder::Ts(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColumnType::StructList => {
                let fields = c.struct_fields();
                let builders: Vec<Box<dyn ArrayBuilder>> = fields
                    .iter()
                    .map(|_| Box::new(StringBuilder::new()) as Box<dyn ArrayBuilder>)
                    .collect();
                let n = fields.len();
                let sb = StructBuilder::new(fields, builders);
                ColumnBuilder::List(
                    ListBuilder::new(sb)
                        .with_field(Arc::new(Field::new_list_field(c.struct_type(), true))),
                    n,
                )
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnBuilder::Str(b) => b.len(),
            ColumnBuilder::Bool(b) => b.len(),
            ColumnBuilder::Ts(b) => b.len(),
            ColumnBuilder::List(b, _) => b.len(),
            ColumnBuilder::Source(n) => *n,
        }
    }

    pub fn append_null(&mut self) {
        match self {
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Ts(b) => b.append_null(),
            ColumnBuilder::List(b, _) => b.append_null(),
            ColumnBuilder::Source(n) => *n += 1,
        }
    }

    fn finish(&mut self, source: &str) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Ts(b) => Arc::new(b.finish()),
            ColumnBuilder::List(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Source(n) => Arc::new(source_array(source, std::mem::take(n))),
        }
    }
}

/// Append one list of string structs to a `struct_list` builder: `values` holds
/// `nfields` values per struct, in field order.
pub fn append_struct_list(
    builder: &mut ListBuilder<StructBuilder>,
    nfields: usize,
    values: &[Option<std::borrow::Cow<'_, str>>],
) {
    let sb = builder.values();
    for el in values.chunks(nfields.max(1)) {
        for f in 0..nfields {
            // The struct's children are StringBuilders by construction (see `new`).
            if let Some(fb) = sb.field_builder::<StringBuilder>(f) {
                match el.get(f).and_then(|v| v.as_deref()) {
                    Some(v) => fb.append_value(v),
                    None => fb.append_null(),
                }
            }
        }
        sb.append(true);
    }
    builder.append(true);
}

/// The builders of one batch: one per column, all of equal length.
pub struct Columns {
    pub builders: Vec<ColumnBuilder>,
    schema: arrow_schema::SchemaRef,
}

/// Sizes of the previous batch built on this thread: the next one reserves that
/// much up front, so builders rarely grow (and copy) while a file is decoded.
#[derive(Clone, Default)]
pub struct SizeHint {
    pub rows: usize,
    value_bytes: Vec<usize>,
}

impl Columns {
    pub fn new(schema: &TableSchema, hint: &SizeHint) -> Self {
        let rows = (hint.rows + hint.rows / 4).max(64);
        Columns {
            builders: (0..schema.columns.len())
                .map(|i| {
                    let bytes = hint.value_bytes.get(i).map_or(rows * 16, |b| b + b / 4);
                    ColumnBuilder::new(schema, i, rows, bytes)
                })
                .collect(),
            schema: schema.arrow_schema(),
        }
    }

    /// Rows so far and an estimate of their Arrow memory (string bytes plus a fixed
    /// cost per row and column), cheap enough to ask every thousand rows.
    pub fn rows_and_bytes(&self) -> (usize, usize) {
        let rows = self.builders.first().map_or(0, |b| b.len());
        let strings: usize = self
            .builders
            .iter()
            .map(|b| match b {
                ColumnBuilder::Str(s) => s.values_slice().len(),
                _ => 0,
            })
            .sum();
        (rows, strings + rows * self.builders.len() * 5)
    }

    /// The sizes of this batch, as a hint for the next.
    pub fn size_hint(&self) -> SizeHint {
        SizeHint {
            rows: self.builders.first().map_or(0, |b| b.len()),
            value_bytes: self
                .builders
                .iter()
                .map(|b| match b {
                    ColumnBuilder::Str(s) => s.values_slice().len(),
                    _ => 0,
                })
                .collect(),
        }
    }

    /// The batch, with `source` as every row's source object.
    pub fn finish(&mut self, source: &str) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish(source)).collect();
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// `rows` rows of one value, dictionary-encoded: 4 bytes a row.
pub fn source_array(source: &str, rows: usize) -> DictionaryArray<Int32Type> {
    DictionaryArray::new(
        Int32Array::from(vec![0; rows]),
        Arc::new(StringArray::from(vec![source])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every length class the word comparison distinguishes, and keys that
    /// differ from them in one byte only (first, middle, last) or in length.
    #[test]
    fn trie_keys_match_exactly() {
        let mut node = Node::default();
        let keys: Vec<String> = (0..40)
            .map(|n| (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            node.children.insert(TrieKey::new(k), Child::Leaf(i));
        }
        for (i, k) in keys.iter().enumerate() {
            assert!(
                matches!(node.get(k), Some(Child::Leaf(j)) if *j == i),
                "{k:?}"
            );
            let n = k.len();
            for at in [0, n / 2, n.saturating_sub(1)] {
                if n == 0 {
                    continue;
                }
                let mut other = k.clone().into_bytes();
                other[at] = b'Z';
                let other = String::from_utf8(other).unwrap();
                assert!(node.get(&other).is_none(), "{other:?} matched {k:?}");
            }
        }
        assert!(node.get("A").is_none());
        assert!(node.get(&"a".repeat(41)).is_none());
    }
}
