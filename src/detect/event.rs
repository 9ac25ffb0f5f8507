//! A curated row seen as the CloudTrail record it came from, for rule evaluation.
//!
//! Rules name CloudTrail's own JSON paths (`userIdentity.type`,
//! `requestParameters.bucketName`). A path is resolved against the row's columns:
//! a flattened column by its path; below a json column (requestParameters, …) by
//! walking that column's JSON text, borrowing from it, only as deep as the path
//! goes; below a struct list (`resources.ARN`) item by item; anything else in the
//! `unmapped` column, where the decoder put every member no column holds (or that
//! did not fit its column's type). No record is parsed into a JSON tree.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use rsigma_eval::{Event, EventValue};
use serde_json::Value;

use crate::decode::json;
use crate::schema::{ColumnType, TableSchema};

/// How a record path maps to the curated columns (built once per schema).
pub struct Paths {
    /// Column paths (`userIdentity.arn`) to column indexes: every column that holds
    /// record data as itself (not derived copies, not `unmapped`/`source_object`).
    direct: hashbrown::HashMap<Box<str>, usize>,
    /// Paths of objects that columns are flattened from (`userIdentity`, …).
    objects: hashbrown::HashMap<Box<str>, Vec<(String, String)>>,
    unmapped: usize,
    kinds: Vec<ColumnType>,
    struct_keys: Vec<Vec<String>>,
    /// Columns whose values the record holds (for keyword search and `to_json`).
    record_columns: Vec<usize>,
}

impl Paths {
    pub fn new(schema: &TableSchema) -> Self {
        let mut direct = hashbrown::HashMap::new();
        let mut objects: hashbrown::HashMap<Box<str>, Vec<(String, String)>> =
            hashbrown::HashMap::new();
        let mut record_columns = Vec::new();
        for (i, c) in schema.columns.iter().enumerate() {
            if c.role.is_some() {
                continue;
            }
            direct.insert(c.path.as_str().into(), i);
            record_columns.push(i);
            // Each parent object lists its direct children (key, full path).
            let mut parent = c.path.as_str();
            while let Some((head, key)) = parent.rsplit_once('.') {
                let child = format!("{head}.{key}");
                let entry = objects.entry(head.into()).or_default();
                if !entry.iter().any(|(k, _)| k == key) {
                    entry.push((key.to_string(), child));
                }
                parent = head;
            }
        }
        Paths {
            direct,
            objects,
            unmapped: schema.unmapped,
            kinds: schema.columns.iter().map(|c| c.ty).collect(),
            struct_keys: schema
                .columns
                .iter()
                .map(|c| c.fields.iter().map(|f| f.key.clone()).collect())
                .collect(),
            record_columns,
        }
    }
}

/// A column of a batch, downcast once.
enum Col<'b> {
    Str(&'b arrow_array::StringArray),
    /// The source column: dictionary keys and their strings.
    Dict(&'b arrow_array::Int32Array, &'b arrow_array::StringArray),
    Bool(&'b arrow_array::BooleanArray),
    Ts(&'b arrow_array::TimestampMicrosecondArray),
    List(&'b arrow_array::ListArray),
    Other,
}

/// A batch's columns, downcast once.
pub struct BatchView<'b> {
    paths: &'b Paths,
    cols: Vec<Col<'b>>,
}

impl<'b> BatchView<'b> {
    pub fn new(paths: &'b Paths, batch: &'b RecordBatch) -> Self {
        use arrow_schema::DataType as T;
        let cols = batch
            .columns()
            .iter()
            .map(|a| match a.data_type() {
                T::Utf8 => Col::Str(a.as_string::<i32>()),
                T::Dictionary(k, v) if **k == T::Int32 && **v == T::Utf8 => {
                    let d = a.as_dictionary::<Int32Type>();
                    Col::Dict(d.keys(), d.values().as_string::<i32>())
                }
                T::Boolean => Col::Bool(a.as_boolean()),
                T::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => {
                    Col::Ts(a.as_primitive::<TimestampMicrosecondType>())
                }
                T::List(_) => Col::List(a.as_list::<i32>()),
                _ => Col::Other,
            })
            .collect();
        BatchView { paths, cols }
    }

    pub fn row(&self, row: usize) -> RowEvent<'_, 'b> {
        RowEvent { view: self, row }
    }

    /// The text of string/json column `col` at `row`, if not null.
    pub fn text(&self, col: usize, row: usize) -> Option<&'b str> {
        match self.cols.get(col)? {
            Col::Str(a) => a.is_valid(row).then(|| a.value(row)),
            Col::Dict(keys, values) => keys
                .is_valid(row)
                .then(|| values.value(keys.value(row) as usize)),
            _ => None,
        }
    }

    /// Whether the row's `unmapped` object (members no column took, or that did
    /// not fit their column) may hold a member named `key`: its text has `quoted`
    /// (`"key"`).
    pub fn unmapped_mentions(&self, row: usize, quoted: &str) -> bool {
        self.text(self.paths.unmapped, row)
            .is_some_and(|t| memchr::memmem::find(t.as_bytes(), quoted.as_bytes()).is_some())
    }

    /// The timestamp column `col` at `row`, in microseconds.
    pub fn micros(&self, col: usize, row: usize) -> Option<i64> {
        match self.cols.get(col)? {
            Col::Ts(a) => a.is_valid(row).then(|| a.value(row)),
            _ => None,
        }
    }

    /// Column `col` at `row` as a record value; `None` when null.
    fn value(&self, col: usize, row: usize) -> Option<EventValue<'b>> {
        Some(match (&self.cols[col], self.paths.kinds[col]) {
            (Col::Bool(a), _) => EventValue::Bool(a.is_valid(row).then(|| a.value(row))?),
            (Col::Ts(_), _) => EventValue::Str(Cow::Owned(rfc3339(self.micros(col, row)?))),
            (Col::List(a), _) => {
                if a.is_null(row) {
                    return None;
                }
                EventValue::Array(self.struct_items(col, row, None))
            }
            (_, ColumnType::Json) => raw_value(self.text(col, row)?),
            _ => EventValue::Str(Cow::Borrowed(self.text(col, row)?)),
        })
    }

    /// The items of struct list `col` at `row`: whole items as maps, or only the
    /// field with JSON key `key`.
    fn struct_items(&self, col: usize, row: usize, key: Option<&str>) -> Vec<EventValue<'b>> {
        let Col::List(list) = self.cols[col] else {
            return Vec::new();
        };
        if list.is_null(row) {
            return Vec::new();
        }
        let keys = &self.paths.struct_keys[col];
        let offsets = list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let items = list.values().as_struct();
        let mut out = Vec::with_capacity(end - start);
        for i in start..end {
            if items.is_null(i) {
                continue;
            }
            let mut map = Vec::new();
            for (f, k) in keys.iter().enumerate() {
                let c = items.column(f).as_string::<i32>();
                if c.is_null(i) {
                    continue;
                }
                let v = EventValue::Str(Cow::Borrowed(c.value(i)));
                match key {
                    Some(want) if want == k => out.push(v),
                    Some(_) => {}
                    None => map.push((Cow::Borrowed(k.as_str()), v)),
                }
            }
            if key.is_none() {
                out.push(EventValue::Map(map));
            }
        }
        out
    }
}

/// One row of a batch as an event.
pub struct RowEvent<'v, 'b> {
    view: &'v BatchView<'b>,
    row: usize,
}

impl<'b> RowEvent<'_, 'b> {
    fn lookup(&self, path: &str) -> Option<EventValue<'b>> {
        let view = self.view;
        let paths = view.paths;
        if let Some(&col) = paths.direct.get(path) {
            return view.value(col, self.row).or_else(|| self.unmapped(path));
        }
        // The longest column path that `path` goes below.
        let mut end = path.len();
        while let Some(dot) = path[..end].rfind('.') {
            if let Some(&col) = paths.direct.get(&path[..dot]) {
                let rest = &path[dot + 1..];
                let found = match paths.kinds[col] {
                    ColumnType::Json => view
                        .text(col, self.row)
                        .and_then(|t| collect(t, &rest.split('.').collect::<Vec<_>>())),
                    ColumnType::StructList => {
                        let v = view.struct_items(col, self.row, Some(rest));
                        (!v.is_empty()).then_some(EventValue::Array(v))
                    }
                    _ => None,
                };
                return found.or_else(|| self.unmapped(path));
            }
            end = dot;
        }
        if let Some(children) = paths.objects.get(path) {
            let mut map = Vec::new();
            for (key, child) in children {
                if let Some(v) = self.lookup(child) {
                    map.push((Cow::Owned(key.clone()), v));
                }
            }
            if let Some(EventValue::Map(extra)) = self.unmapped(path) {
                map.extend(extra);
            }
            return (!map.is_empty()).then_some(EventValue::Map(map));
        }
        self.unmapped(path)
    }

    /// `path` in the row's `unmapped` object.
    fn unmapped(&self, path: &str) -> Option<EventValue<'b>> {
        let text = self.view.text(self.view.paths.unmapped, self.row)?;
        collect(text, &path.split('.').collect::<Vec<_>>())
    }

    fn visit_strings(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        let view = self.view;
        for &col in &view.paths.record_columns {
            let stop = match view.value(col, self.row) {
                Some(v) => visit_value(&v, visit),
                None => false,
            };
            if stop {
                return true;
            }
        }
        match view.text(view.paths.unmapped, self.row) {
            Some(t) => visit_value(&raw_value(t), visit),
            None => false,
        }
    }
}

impl Event for RowEvent<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.lookup(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.visit_strings(&mut |s| pred(s))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.visit_strings(&mut |s| {
            out.push(Cow::Owned(s.to_string()));
            false
        });
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.visit_strings(&mut |s| {
            visit(s);
            false
        });
    }

    fn to_json(&self) -> Value {
        let mut root = serde_json::Map::new();
        let view = self.view;
        for (path, &col) in &view.paths.direct {
            if let Some(v) = view.value(col, self.row) {
                insert(&mut root, path, v.to_json());
            }
        }
        if let Some(Value::Object(extra)) = view
            .text(view.paths.unmapped, self.row)
            .and_then(|t| serde_json::from_str(t).ok())
        {
            merge(&mut root, extra);
        }
        Value::Object(root)
    }
}

/// Walk `keys` down from the JSON text `text`; arrays on the way are walked item by
/// item (a path names a field of every item). One value, or an array of them.
fn collect<'a>(text: &'a str, keys: &[&str]) -> Option<EventValue<'a>> {
    let mut out = Vec::new();
    walk(text, keys, &mut out, 0);
    match out.len() {
        0 => None,
        1 => out.pop(),
        _ => Some(EventValue::Array(out)),
    }
}

const MAX_DEPTH: usize = 64;

fn walk<'a>(text: &'a str, keys: &[&str], out: &mut Vec<EventValue<'a>>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some((key, rest)) = keys.split_first() else {
        out.push(raw_value(text));
        return;
    };
    match text.trim_ascii_start().as_bytes().first() {
        Some(b'{') => {
            if let Some(v) = json::member(text, key) {
                walk(v, rest, out, depth + 1);
            }
        }
        Some(b'[') => {
            for item in json::items(text).unwrap_or_default() {
                walk(item, keys, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// A JSON value given as valid text, as an event value (strings borrowed).
pub fn raw_value(raw: &str) -> EventValue<'_> {
    let t = raw.trim_ascii();
    match t.as_bytes().first() {
        Some(b'"') => match json::string(t) {
            Some(s) => EventValue::Str(s),
            None => EventValue::Str(Cow::Borrowed(t)),
        },
        Some(b'{') => EventValue::Map(
            json::members(t)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, raw_value(v)))
                .collect(),
        ),
        Some(b'[') => EventValue::Array(
            json::items(t)
                .unwrap_or_default()
                .into_iter()
                .map(raw_value)
                .collect(),
        ),
        Some(b't') if t == "true" => EventValue::Bool(true),
        Some(b'f') if t == "false" => EventValue::Bool(false),
        Some(b'n') if t == "null" => EventValue::Null,
        _ => match t.parse::<i64>() {
            Ok(i) => EventValue::Int(i),
            Err(_) => match t.parse::<f64>() {
                Ok(f) => EventValue::Float(f),
                Err(_) => EventValue::Str(Cow::Borrowed(t)),
            },
        },
    }
}

/// Visit every string of a value (numbers and booleans as their text); `true`
/// from `visit` stops the walk.
fn visit_value(v: &EventValue<'_>, visit: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        EventValue::Str(s) => visit(s),
        EventValue::Int(_) | EventValue::Float(_) | EventValue::Bool(_) => match v.as_str() {
            Some(s) => visit(&s),
            None => false,
        },
        EventValue::Null => false,
        EventValue::Array(items) => items.iter().any(|i| visit_value(i, visit)),
        EventValue::Map(members) => members.iter().any(|(_, i)| visit_value(i, visit)),
    }
}

/// Microseconds since the epoch as CloudTrail writes times: `2024-05-01T12:00:00Z`
/// (with a fraction only when there is one).
pub fn rfc3339(micros: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000) else {
        return micros.to_string();
    };
    let frac = micros.rem_euclid(1_000_000);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        let f = format!("{frac:06}");
        format!("{base}.{}Z", f.trim_end_matches('0'))
    }
}

fn insert(root: &mut serde_json::Map<String, Value>, path: &str, v: Value) {
    let mut cur = root;
    let mut keys = path.split('.').peekable();
    while let Some(k) = keys.next() {
        if keys.peek().is_none() {
            cur.insert(k.to_string(), v);
            return;
        }
        let next = cur
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        match next {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
}

fn merge(into: &mut serde_json::Map<String, Value>, from: serde_json::Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}
