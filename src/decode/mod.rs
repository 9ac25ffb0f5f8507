//! Pure decoding: bytes of one CloudTrail file in, one Arrow batch out.
//!
//! No IO, no async, no AWS. A file is inflated whole into a reused buffer, parsed
//! with serde borrowing from that buffer (each value is first captured as a raw
//! JSON slice, so loose fields keep their exact source text), and appended straight
//! into Arrow builders by walking a key trie derived from `schema/`. Whatever no
//! column holds, or does not fit its column's type, is written to `unmapped` under
//! its original key path, so no field of any record is lost.

mod columns;
mod error;
mod inflate;
mod split;
pub mod timestamp;
mod unmapped;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use arrow_array::RecordBatch;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::schema::{ColumnType, TableSchema};
use columns::{append_struct_list, Child, ColumnBuilder, Columns, Node, SizeHint};
pub use error::DecodeError;

pub use inflate::with_content;
use timestamp::{day_of, parse_timestamp};
use unmapped::Unmapped;

/// Which records of a file to keep, by the UTC day of their `eventTime`
/// (days since the Unix epoch). See the day rule in `partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFilter {
    /// Keep every record.
    All,
    /// Keep every record except those whose eventTime falls on this day.
    ExceptDay(i64),
    /// Keep only the records whose eventTime falls on this day.
    OnlyDay(i64),
}

/// Identity of a decoded row, for de-duplication within a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// Hash of the raw `eventID` value, when the record has one.
    pub event_id: Option<u64>,
    /// Hash of the record's keys and raw values, in order. 64 bits: two different
    /// records with the same eventID collide with probability 2^-64.
    pub content: u64,
}

/// The de-duplication hash of an eventID value as its column holds it (so rows
/// read back from Parquet hash like freshly decoded ones).
pub fn event_id_hash(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

/// The kept records of one file, as an Arrow batch, plus what was seen.
#[derive(Debug)]
pub struct DecodedFile {
    pub batch: RecordBatch,
    /// One key per row of `batch`.
    pub keys: Vec<RowKey>,
    /// Records in the file.
    pub records: u64,
    /// Records left out by the row filter (they belong to another partition).
    pub filtered_out: u64,
    /// Decompressed size of the file.
    pub content_bytes: u64,
    /// Top-level keys other than `Records` (not records; reported, not converted).
    pub ignored_top_level_keys: Vec<String>,
    /// SHA-256 of the decompressed content, when the decoder hashes
    /// ([`Decoder::hashing`]): what CloudTrail's digest files list.
    pub content_sha256: Option<[u8; 32]>,
    /// `batch_bytes` of `batch`, measured where the file was decoded.
    pub batch_bytes: usize,
}

/// Bytes of a batch's values (its buffers' used lengths, not their capacities).
/// Row groups are cut by this measure, so it must depend on the rows alone: builder
/// capacities depend on which thread decoded which file before.
pub fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

/// Decodes files into batches of the curated schema. Built once, shared by threads.
pub struct Decoder {
    schema: &'static TableSchema,
    root: Node,
    /// For each column, the derived columns extracted from it (json columns only).
    extracts: Vec<Option<Extractor>>,
    kinds: Vec<ColumnType>,
    /// For `struct_list` columns, the JSON keys of the struct fields.
    struct_keys: Vec<Vec<String>>,
    max_file_bytes: usize,
    /// Hash each file's decompressed content (SHA-256).
    hash: bool,
}

/// Finds the members of a json column that derived columns copy.
struct Extractor {
    /// Finds `"key"` for any wanted key (or a `\u` escape): a fast test before
    /// parsing the object.
    finder: Finder,
    members: hashbrown::HashMap<Box<str>, usize>,
}

impl Extractor {
    fn new(e: &crate::schema::Extract) -> Self {
        // `"key"` for every member, and `\u`: a key may be written with escapes.
        let mut needles: Vec<String> = e.members.iter().map(|(k, _)| format!("\"{k}\"")).collect();
        needles.push("\\u".to_string());
        Extractor {
            finder: Finder::new(&needles),
            members: e
                .members
                .iter()
                .map(|(k, c)| (k.as_str().into(), *c))
                .collect(),
        }
    }
}

/// A multi-literal search: SIMD (Teddy) where the CPU has it, else an automaton.
/// The automaton's own prefilter would stop at every `"` (each key and string value
/// starts with one); Teddy does not.
enum Finder {
    Packed(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

impl Finder {
    fn new(needles: &[String]) -> Self {
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(needles)
            .build();
        match packed {
            Some(p) => Finder::Packed(p),
            // Literal needles of a schema that the test suite loads: cannot fail.
            None => Finder::Automaton(
                aho_corasick::AhoCorasick::new(needles)
                    .unwrap_or_else(|e| panic!("derived column keys: {e}")),
            ),
        }
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            Finder::Packed(p) => p.find(text).is_some(),
            Finder::Automaton(a) => a.is_match(text),
        }
    }
}

/// Top-level members a record is expected to have at most: CloudTrail's records
/// have 15-25. The parsed pairs of a file are reserved for this many per record of
/// the previous file, so they rarely grow (and copy) while a file is parsed.
const PAIRS_PER_RECORD: usize = 32;

thread_local! {
    static CONTENT_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SIZE_HINT: RefCell<SizeHint> = RefCell::new(SizeHint::default());
}

impl Decoder {
    pub fn new(schema: &'static TableSchema, max_file_bytes: usize) -> Self {
        let mut extracts: Vec<Option<Extractor>> =
            (0..schema.columns.len()).map(|_| None).collect();
        for e in &schema.extracts {
            extracts[e.source] = Some(Extractor::new(e));
        }
        Decoder {
            schema,
            root: Node::from_schema(schema),
            extracts,
            kinds: schema.columns.iter().map(|c| c.ty).collect(),
            struct_keys: schema
                .columns
                .iter()
                .map(|c| c.fields.iter().map(|f| f.key.clone()).collect())
                .collect(),
            max_file_bytes,
            hash: false,
        }
    }

    /// Also hash each file's decompressed content with SHA-256
    /// ([`DecodedFile::content_sha256`]), as CloudTrail's digest files list it.
    pub fn hashing(mut self, on: bool) -> Self {
        self.hash = on;
        self
    }

    /// The content's hash, unless hashing is off or the file was read only for
    /// another day's records (`OnlyDay`) and had none: its rows are not this
    /// partition's, and its own day hashes it.
    fn content_sha256(
        &self,
        content: &[u8],
        filter: RowFilter,
        df: &DecodedFile,
    ) -> Option<[u8; 32]> {
        let unused = matches!(filter, RowFilter::OnlyDay(_)) && df.records == df.filtered_out;
        (self.hash && !unused).then(|| {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content);
            let mut out = [0u8; 32];
            out.copy_from_slice(d.as_ref());
            out
        })
    }

    pub fn schema(&self) -> &'static TableSchema {
        self.schema
    }

    /// Decode one file's bytes (gzip or plain JSON); `source` names the delivered
    /// object, written to every row's source column.
    pub fn decode(
        &self,
        bytes: &[u8],
        filter: RowFilter,
        source: &str,
    ) -> Result<DecodedFile, DecodeError> {
        CONTENT_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            inflate::with_content(bytes, self.max_file_bytes, &mut buf, |content| {
                let mut df = self.decode_content(content, filter, source)?;
                df.content_sha256 = self.content_sha256(content, filter, &df);
                Ok(df)
            })?
        })
    }

    /// Decode one file, handing its rows to `sink` in batches of about `step_bytes`
    /// of Arrow memory, so a large file needs one step's memory (plus its content),
    /// not its whole decoded size. The `Records` array is first taken as borrowed
    /// raw slices (16 bytes a record), then decoded record by record: each record
    /// is tokenised twice, a cost only large files pay. The returned file holds the
    /// last rows and the counts of the whole file; an error of `sink` ends the
    /// decode and is returned as the outer error. Unlike `decode`, rows come in file
    /// order, not in eventTime order (the row group's sort puts them in order).
    pub fn decode_in_steps<E>(
        &self,
        bytes: &[u8],
        filter: RowFilter,
        source: &str,
        step_bytes: usize,
        mut sink: impl FnMut(RecordBatch, Vec<RowKey>) -> Result<(), E>,
    ) -> Result<Result<DecodedFile, DecodeError>, E> {
        let mut failed: Option<E> = None;
        let result = CONTENT_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            inflate::with_content(bytes, self.max_file_bytes, &mut buf, |content| {
                let mut df = self.decode_content_in_steps(
                    content,
                    filter,
                    source,
                    step_bytes,
                    &mut |b, k| sink(b, k).map_err(|e| failed = Some(e)),
                )?;
                df.content_sha256 = self.content_sha256(content, filter, &df);
                Ok(df)
            })?
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    fn decode_content_in_steps(
        &self,
        content: &[u8],
        filter: RowFilter,
        source: &str,
        step_bytes: usize,
        sink: &mut dyn FnMut(RecordBatch, Vec<RowKey>) -> Result<(), ()>,
    ) -> Result<DecodedFile, DecodeError> {
        let text = utf8(content)?;
        let mut fd = FileDecoder::new(self, text, filter, &SizeHint::default());
        let mut de = serde_json::Deserializer::from_str(text);
        let mut index = 0;
        loop {
            let mut records: Vec<&RawValue> = Vec::new();
            fd.state.set(State::TopLevel);
            let parsed = (RawRecordsSeed {
                records: &mut records,
                ignored: &mut fd.ignored,
                state: &fd.state,
            })
            .deserialize(&mut de);
            if let Err(e) = parsed {
                return Err(classify(e, fd.state.get()));
            }
            for raw in records {
                let pairs = fd.take_scratch(0);
                let pairs =
                    text_pairs(raw.get(), pairs).map_err(|_| DecodeError::RecordNotObject {
                        index,
                        detail: format!("found {}", raw.get().chars().take(40).collect::<String>()),
                    })?;
                fd.record(&pairs, event_time(&pairs));
                fd.scratch[0] = pairs;
                index += 1;
                if fd.keys.len().is_multiple_of(1024) && fd.cols.rows_and_bytes().1 >= step_bytes {
                    let batch = fd
                        .cols
                        .finish(source)
                        .map_err(|e| DecodeError::NotJson(format!("internal: {e}")))?;
                    let keys = std::mem::take(&mut fd.keys);
                    if sink(batch, keys).is_err() {
                        return Err(DecodeError::NotJson("stopped by its consumer".into()));
                    }
                }
            }
            match de.end() {
                Ok(()) => break,
                Err(e) if e.classify() == serde_json::error::Category::Syntax => {}
                Err(e) => return Err(classify(e, fd.state.get())),
            }
        }
        fd.into_decoded(source, content.len())
    }

    fn decode_content(
        &self,
        content: &[u8],
        filter: RowFilter,
        source: &str,
    ) -> Result<DecodedFile, DecodeError> {
        let text = utf8(content)?;
        // Pre-size builders from the previous file only when most records are kept:
        // a batch keeps its builders' capacity, and a file read for a few late
        // records must not hold a full file's worth of memory.
        let hint = match filter {
            RowFilter::OnlyDay(_) => SizeHint::default(),
            _ => SIZE_HINT.with(|h| h.borrow().clone()),
        };
        let mut fd = FileDecoder::new(self, text, filter, &hint);
        let mut de = serde_json::Deserializer::from_str(text);
        // One `{"Records":[…]}` document, or several one after another (a file of
        // concatenated gzip members each holding a whole document): all are read.
        loop {
            if let Err(e) = (FileSeed { fd: &mut fd }).deserialize(&mut de) {
                return Err(classify(e, fd.state.get()));
            }
            match de.end() {
                Ok(()) => break,
                Err(e) if e.classify() == serde_json::error::Category::Syntax => {
                    // Trailing characters: another document follows (or garbage,
                    // which the next round reports as not JSON / not an object).
                    fd.state.set(State::TopLevel);
                }
                Err(e) => return Err(classify(e, fd.state.get())),
            }
        }
        fd.handle_parsed();
        if !matches!(filter, RowFilter::OnlyDay(_)) && fd.keys.len() >= hint.rows / 2 {
            SIZE_HINT.with(|h| *h.borrow_mut() = fd.cols.size_hint());
        }
        fd.into_decoded(source, content.len())
    }
}

/// The content as text, or where it stops being UTF-8.
fn utf8(content: &[u8]) -> Result<&str, DecodeError> {
    simdutf8::basic::from_utf8(content).map_err(|_| {
        let offset = simdutf8::compat::from_utf8(content)
            .err()
            .map_or(0, |e| e.valid_up_to());
        DecodeError::InvalidUtf8 { offset }
    })
}

/// `{"Records": [...]}` with the records taken as raw slices (decoding in steps).
struct RawRecordsSeed<'x, 'a> {
    records: &'x mut Vec<&'a RawValue>,
    ignored: &'x mut Vec<String>,
    state: &'x Cell<State>,
}

impl<'a> DeserializeSeed<'a> for RawRecordsSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for RawRecordsSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a \"Records\" array")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(k) = map.next_key::<Key<'a>>()? {
            if &*k == "Records" && !found {
                found = true;
                self.state.set(State::RecordsValue);
                *self.records = map.next_value()?;
                self.state.set(State::TopLevel);
            } else {
                map.next_value::<IgnoredAny>()?;
                self.ignored.push(k.to_string());
            }
        }
        if !found {
            self.state.set(State::NoRecords);
            return Err(serde::de::Error::custom("no Records key"));
        }
        Ok(())
    }
}

/// Where the parser was, to name the reason of a type error.
#[derive(Debug, Clone, Copy)]
enum State {
    TopLevel,
    RecordsValue,
    Record(usize),
    NoRecords,
}

fn classify(e: serde_json::Error, state: State) -> DecodeError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => match state {
            State::TopLevel => DecodeError::NotAnObject,
            State::RecordsValue => DecodeError::RecordsNotArray(e.to_string()),
            State::Record(index) => DecodeError::RecordNotObject {
                index,
                detail: e.to_string(),
            },
            State::NoRecords => DecodeError::NoRecords,
        },
        Category::Eof => DecodeError::NotJson(format!("unexpected end of input ({e})")),
        _ => DecodeError::NotJson(e.to_string()),
    }
}

/// An object key, borrowed from the buffer unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a>(Cow<'a, str>);

impl std::ops::Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type Pairs<'a> = Vec<(Key<'a>, &'a str)>;

/// Collects the members of an object as (key, raw value) pairs.
struct PairsSeed<'a>(Pairs<'a>);

impl<'a> DeserializeSeed<'a> for PairsSeed<'a> {
    type Value = Pairs<'a>;
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Pairs<'a>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for PairsSeed<'a> {
    type Value = Pairs<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'a>>(mut self, mut map: A) -> Result<Pairs<'a>, A::Error> {
        while let Some(k) = map.next_key::<Key<'a>>()? {
            let v: &'a RawValue = map.next_value()?;
            self.0.push((k, v.get()));
        }
        Ok(self.0)
    }
}

/// The members of the JSON text `text` (valid JSON) if it is an object, reusing
/// `vec`'s allocation: split
/// without a second validation (see `split`), or parsed by serde when the splitter
/// declines.
fn text_pairs<'a>(text: &'a str, mut vec: Pairs<'a>) -> Result<Pairs<'a>, Pairs<'a>> {
    vec.clear();
    if !text.starts_with('{') {
        return Err(vec);
    }
    if split::object_members(text, &mut vec).is_some() {
        return Ok(vec);
    }
    vec.clear();
    let mut de = serde_json::Deserializer::from_str(text);
    // `text` is valid JSON and starts with `{`, so this only fails on a broken invariant.
    PairsSeed(vec).deserialize(&mut de).map_err(|_| Vec::new())
}

/// Reading JSON text that is known to be valid (a json column's value, a raw
/// slice serde captured), borrowing from it: used by rule evaluation, which walks
/// only the members a rule asks for instead of parsing whole values into trees.
pub mod json {
    use std::borrow::Cow;

    /// The members of an object as (key, raw value text), in document order;
    /// `None` when `text` is not an object.
    pub fn members(text: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
        let pairs = super::text_pairs(text.trim_start(), Vec::new()).ok()?;
        Some(pairs.into_iter().map(|(k, v)| (k.0, v)).collect())
    }

    /// The raw text of the first member of an object named `key`; `None` when it
    /// has none or `text` is not an object. Stops at that member.
    pub fn member<'t>(text: &'t str, key: &str) -> Option<&'t str> {
        match super::split::object_member(text.trim_start(), key) {
            Some(found) => found,
            None => members(text)?
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
        }
    }

    /// The items of an array as raw value texts; `None` when `text` is not an array.
    pub fn items(text: &str) -> Option<Vec<&str>> {
        let text = text.trim_start();
        if !text.starts_with('[') {
            return None;
        }
        let mut out = Vec::new();
        if super::split::array_items(text, &mut out).is_some() {
            return Some(out);
        }
        let parsed: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
        Some(parsed.iter().map(|r| r.get()).collect())
    }

    /// The content of a JSON string; `None` for any other type.
    pub fn string(raw: &str) -> Option<Cow<'_, str>> {
        super::json_str(raw.trim())
    }
}

/// The content of a JSON string value; `None` for any other JSON type.
fn json_str(raw: &str) -> Option<Cow<'_, str>> {
    let b = raw.as_bytes();
    if b.len() < 2 || b[0] != b'"' {
        return None;
    }
    if !split::has_escape(b) {
        return Some(Cow::Borrowed(&raw[1..raw.len() - 1]));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// A value for a string column: a JSON string, or a JSON number as its exact text.
fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    match raw.as_bytes().first() {
        Some(b'"') => json_str(raw),
        Some(b'-' | b'0'..=b'9') => Some(Cow::Borrowed(raw)),
        _ => None,
    }
}

/// A value for a boolean column: `true`/`false`, or a string spelling them in any case.
fn bool_value(raw: &str) -> Option<bool> {
    match raw {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            let s = json_str(raw)?;
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
    }
}

fn timestamp_value(raw: &str) -> Option<i64> {
    parse_timestamp(&json_str(raw)?)
}

/// The time of a timestamp value; `row_time` is the record's eventTime text and
/// its time, parsed once already for the record's order.
fn time_value(row_time: Option<(&str, i64)>, raw: &str) -> Option<i64> {
    match row_time {
        Some((text, time)) if std::ptr::eq(text, raw) => Some(time),
        _ => timestamp_value(raw),
    }
}

/// Where the record's (first) eventTime pair is among its top-level pairs, and its
/// time, when that value parses.
fn event_time(pairs: &[(Key<'_>, &str)]) -> Option<(usize, i64)> {
    let at = pairs.iter().position(|(k, _)| &**k == "eventTime")?;
    Some((at, timestamp_value(pairs[at].1)?))
}

/// Per-file decoding state; `'a` is the lifetime of the file's text.
struct FileDecoder<'s, 'a> {
    dec: &'s Decoder,
    /// The file's text, which every borrowed key and value points into.
    text: &'a str,
    cols: Columns,
    set: Vec<bool>,
    unmapped: Unmapped,
    path: Vec<Key<'a>>,
    /// Reusable pair vectors, one per nesting depth.
    scratch: Vec<Pairs<'a>>,
    /// Reusable pair vector for derived-column extraction.
    extract_scratch: Pairs<'a>,
    /// Reusable vectors for `struct_list` columns.
    list_scratch: ListScratch<'a>,
    /// The top-level pairs of the file's records, parsed and not yet handled: they
    /// are handled in eventTime order once the file is parsed (see `handle_parsed`).
    parsed: Pairs<'a>,
    /// Per parsed record: (eventTime, or `i64::MAX` without one; first pair; pairs;
    /// the eventTime pair's place among them).
    parsed_records: Vec<(i64, u32, u32, u32)>,
    keys: Vec<RowKey>,
    /// The current record's eventTime value text and its parsed time: the
    /// eventtime column takes it without parsing the text again.
    row_time: Option<(&'a str, i64)>,
    filter: RowFilter,
    records: u64,
    filtered_out: u64,
    ignored: Vec<String>,
    state: Cell<State>,
}

impl<'s, 'a> FileDecoder<'s, 'a> {
    fn new(dec: &'s Decoder, text: &'a str, filter: RowFilter, hint: &SizeHint) -> Self {
        let n = dec.schema.columns.len();
        FileDecoder {
            dec,
            text,
            cols: Columns::new(dec.schema, hint),
            set: vec![false; n],
            unmapped: Unmapped::default(),
            path: Vec::with_capacity(8),
            scratch: Vec::new(),
            extract_scratch: Vec::new(),
            list_scratch: ListScratch::default(),
            parsed: Vec::with_capacity(hint.rows * PAIRS_PER_RECORD),
            parsed_records: Vec::with_capacity(hint.rows),
            keys: Vec::with_capacity(1024),
            row_time: None,
            filter,
            records: 0,
            filtered_out: 0,
            ignored: Vec::new(),
            state: Cell::new(State::TopLevel),
        }
    }

    /// The file's remaining rows as a batch, with the counts of the whole file.
    fn into_decoded(
        mut self,
        source: &str,
        content_len: usize,
    ) -> Result<DecodedFile, DecodeError> {
        let batch = self
            .cols
            .finish(source)
            .map_err(|e| DecodeError::NotJson(format!("internal: {e}")))?;
        Ok(DecodedFile {
            batch_bytes: batch_bytes(&batch),
            batch,
            keys: self.keys,
            records: self.records,
            filtered_out: self.filtered_out,
            content_bytes: content_len as u64,
            ignored_top_level_keys: self.ignored,
            content_sha256: None,
        })
    }

    fn take_scratch(&mut self, depth: usize) -> Pairs<'a> {
        if self.scratch.len() <= depth {
            self.scratch.resize_with(depth + 1, Vec::new);
        }
        std::mem::take(&mut self.scratch[depth])
    }

    /// Handle the parsed records in eventTime order (ties in file order), so the
    /// file's batch is sorted as the output is: a row group is then mostly runs of
    /// consecutive rows of one file, written without gathering (see `encode`).
    /// Called once, when the whole file is parsed.
    fn handle_parsed(&mut self) {
        let mut order = std::mem::take(&mut self.parsed_records);
        order.sort_unstable();
        let parsed = std::mem::take(&mut self.parsed);
        for &(time, start, len, at) in &order {
            let pairs = &parsed[start as usize..(start + len) as usize];
            self.record(pairs, (time != i64::MAX).then_some((at as usize, time)));
        }
    }

    /// Handle one record given as its top-level pairs and its eventTime (the pair's
    /// place among them, and its time).
    fn record(&mut self, pairs: &[(Key<'a>, &'a str)], event_time: Option<(usize, i64)>) {
        let time = event_time.map(|(_, t)| t);
        self.records += 1;
        let day = time.map(day_of);
        let keep = match self.filter {
            RowFilter::All => true,
            RowFilter::ExceptDay(d) => day != Some(d),
            RowFilter::OnlyDay(d) => day == Some(d),
        };
        if !keep {
            self.filtered_out += 1;
            return;
        }
        let content = match self.members_text(pairs) {
            Some(text) => xxh3_64(text.as_bytes()),
            None => {
                let mut h = Xxh3::new();
                for (k, v) in pairs {
                    h.update(k.as_bytes());
                    h.update(&[0]);
                    h.update(v.as_bytes());
                    h.update(&[1]);
                }
                h.digest()
            }
        };
        let event_id =
            pairs
                .iter()
                .find(|(k, _)| &**k == "eventID")
                .map(|(_, v)| match string_value(v) {
                    Some(s) => event_id_hash(&s),
                    None => xxh3_64(v.as_bytes()),
                });
        self.keys.push(RowKey { event_id, content });
        self.row_time = event_time.and_then(|(at, t)| Some((pairs.get(at)?.1, t)));

        self.set.fill(false);
        let root = &self.dec.root;
        self.members(root, pairs, 0);
        self.end_row();
    }

    /// The record's text from its first key's opening quote to the end of its last
    /// value, hashed in one call as the record's content. `None` when the first key
    /// had escapes (not a slice of the text); such records hash their pairs.
    fn members_text(&self, pairs: &[(Key<'a>, &'a str)]) -> Option<&'a str> {
        let (Key(Cow::Borrowed(first)), _) = pairs.first()? else {
            return None;
        };
        let last = pairs.last()?.1;
        let base = self.text.as_ptr() as usize;
        let start = (first.as_ptr() as usize).checked_sub(base + 1)?;
        let end = (last.as_ptr() as usize + last.len()).checked_sub(base)?;
        self.text.get(start..end)
    }

    /// Dispatch the members of an object at trie node `node`.
    fn members(&mut self, node: &'s Node, pairs: &[(Key<'a>, &'a str)], depth: usize) {
        for (k, v) in pairs {
            match node.get(k) {
                Some(Child::Leaf(col)) => self.leaf(*col, k, v),
                Some(Child::Object(child)) => self.object(child, k, v, depth + 1),
                None => self.unmapped.emit(&self.path, k, v),
            }
        }
    }

    fn object(&mut self, node: &'s Node, key: &Key<'a>, raw: &'a str, depth: usize) {
        let scratch = self.take_scratch(depth);
        match text_pairs(raw, scratch) {
            Ok(pairs) if !pairs.is_empty() => {
                self.path.push(key.clone());
                self.members(node, &pairs, depth);
                self.unmapped.leave(self.path.len());
                self.path.pop();
                self.scratch[depth] = pairs;
            }
            Ok(pairs) | Err(pairs) => {
                // Not an object, or an empty one: kept verbatim.
                self.unmapped.emit(&self.path, key, raw);
                self.scratch[depth] = pairs;
            }
        }
    }

    fn leaf(&mut self, col: usize, key: &Key<'a>, raw: &'a str) {
        let fits = !self.set[col] && self.append(col, raw);
        if fits {
            self.set[col] = true;
            if let Some(ex) = &self.dec.extracts[col] {
                self.extract(ex, raw);
            }
        } else {
            self.unmapped.emit(&self.path, key, raw);
        }
    }

    /// Fill the derived columns of a json column from its top-level members (strings,
    /// or numbers as their text); the json column keeps them.
    fn extract(&mut self, ex: &'s Extractor, raw: &'a str) {
        if !raw.starts_with('{') || !ex.finder.is_match(raw) {
            return;
        }
        let vec = std::mem::take(&mut self.extract_scratch);
        let pairs = match text_pairs(raw, vec) {
            Ok(p) | Err(p) => p,
        };
        for (k, v) in &pairs {
            let Some(&col) = ex.members.get(&**k) else {
                continue;
            };
            if self.set[col] {
                continue;
            }
            if let (ColumnBuilder::Str(b), Some(s)) =
                (&mut self.cols.builders[col], string_value(v))
            {
                b.append_value(&s);
                self.set[col] = true;
            }
        }
        self.extract_scratch = pairs;
    }

    /// Append `raw` to column `col` if it fits the column's type.
    fn append(&mut self, col: usize, raw: &'a str) -> bool {
        let kind = self.dec.kinds[col];
        match (&mut self.cols.builders[col], kind) {
            (ColumnBuilder::Str(b), ColumnType::Json) => {
                b.append_value(raw);
                true
            }
            (ColumnBuilder::Str(b), _) => match string_value(raw) {
                Some(s) => {
                    b.append_value(&s);
                    true
                }
                None => false,
            },
            (ColumnBuilder::Bool(b), _) => match bool_value(raw) {
                Some(v) => {
                    b.append_value(v);
                    true
                }
                None => false,
            },
            (ColumnBuilder::Ts(b), _) => match time_value(self.row_time, raw) {
                Some(v) => {
                    b.append_value(v);
                    true
                }
                None => false,
            },
            // Not from the record: filled for the whole batch when it is finished.
            (ColumnBuilder::Source(_), _) => false,
            (ColumnBuilder::List(b, nfields), _) => {
                let nfields = *nfields;
                match struct_list(raw, &self.dec.struct_keys[col], &mut self.list_scratch) {
                    Some(()) => {
                        append_struct_list(b, nfields, &self.list_scratch.values);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    fn end_row(&mut self) {
        let unmapped_col = self.dec.schema.unmapped;
        for (col, b) in self.cols.builders.iter_mut().enumerate() {
            if col == unmapped_col {
                // The unmapped column is a string column (checked by the schema).
                self.unmapped.finish_with(|text| {
                    if let ColumnBuilder::Str(s) = b {
                        match text {
                            Some(t) => s.append_value(t),
                            None => s.append_null(),
                        }
                    }
                });
            } else if !self.set[col] {
                b.append_null();
            }
        }
    }
}

/// Parse a `struct_list` value: an array of objects whose members are all known
/// fields holding strings. `None` when anything does not fit.
fn struct_list<'a>(raw: &'a str, keys: &[String], scratch: &mut ListScratch<'a>) -> Option<()> {
    let ListScratch {
        items,
        pairs,
        values,
    } = scratch;
    items.clear();
    values.clear();
    if !raw.starts_with('[') {
        return None;
    }
    if split::array_items(raw, items).is_none() {
        let parsed: Vec<&'a RawValue> = serde_json::from_str(raw).ok()?;
        items.clear();
        items.extend(parsed.iter().map(|r| r.get()));
    }
    for item in items.iter() {
        match text_pairs(item, std::mem::take(pairs)) {
            Ok(p) => *pairs = p,
            Err(p) => {
                *pairs = p;
                return None;
            }
        }
        let el = values.len();
        values.resize(el + keys.len(), None);
        for (k, v) in pairs.iter() {
            let slot = &mut values[el + keys.iter().position(|f| *f == **k)?];
            if slot.is_some() {
                return None;
            }
            *slot = Some(string_value(v)?);
        }
    }
    Some(())
}

/// Reusable vectors for `struct_list`: the array's items, one item's members, and
/// the field values of every item (`keys.len()` per item, in field order).
#[derive(Default)]
struct ListScratch<'a> {
    items: Vec<&'a str>,
    pairs: Pairs<'a>,
    values: Vec<Option<Cow<'a, str>>>,
}

/// `{"Records": [...]}` at the top level.
struct FileSeed<'x, 's, 'a> {
    fd: &'x mut FileDecoder<'s, 'a>,
}

impl<'a> DeserializeSeed<'a> for FileSeed<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        self.fd.state.set(State::TopLevel);
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for FileSeed<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a \"Records\" array")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(k) = map.next_key::<Key<'a>>()? {
            if &*k == "Records" && !found {
                found = true;
                self.fd.state.set(State::RecordsValue);
                map.next_value_seed(RecordsSeed { fd: &mut *self.fd })?;
            } else {
                map.next_value::<IgnoredAny>()?;
                self.fd.ignored.push(k.to_string());
            }
        }
        if !found {
            self.fd.state.set(State::NoRecords);
            return Err(serde::de::Error::custom("no Records key"));
        }
        Ok(())
    }
}

struct RecordsSeed<'x, 's, 'a> {
    fd: &'x mut FileDecoder<'s, 'a>,
}

impl<'a> DeserializeSeed<'a> for RecordsSeed<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for RecordsSeed<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut index = 0;
        loop {
            self.fd.state.set(State::Record(index));
            if seq
                .next_element_seed(RecordSeed { fd: &mut *self.fd })?
                .is_none()
            {
                break;
            }
            index += 1;
        }
        self.fd.state.set(State::RecordsValue);
        Ok(())
    }
}

struct RecordSeed<'x, 's, 'a> {
    fd: &'x mut FileDecoder<'s, 'a>,
}

impl<'a> DeserializeSeed<'a> for RecordSeed<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for RecordSeed<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let fd = &mut *self.fd;
        let start = fd.parsed.len();
        while let Some(k) = map.next_key::<Key<'a>>()? {
            let v: &'a RawValue = map.next_value()?;
            fd.parsed.push((k, v.get()));
        }
        let pairs = &fd.parsed[start..];
        let (at, time) = event_time(pairs).unwrap_or((0, i64::MAX));
        // A file is at most 2 GiB (`--max-file-bytes`), so fewer pairs than that.
        let (start, len, at) = (start as u32, pairs.len() as u32, at as u32);
        fd.parsed_records.push((time, start, len, at));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
