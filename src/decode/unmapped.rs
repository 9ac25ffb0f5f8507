//! Builds the `unmapped` JSON object of one record: every member no column takes,
//! under its original key path, with its exact source text.
//!
//! Members arrive in document order during a depth-first walk, so the enclosing
//! objects are opened lazily on the first member emitted below them and closed
//! when the walk leaves them.
//!
//! A record may repeat a key within one object (not valid JSON, but producers do
//! it). Its column keeps the first value; a later one that lands here would repeat
//! the key in `unmapped`, which every JSON reader collapses (the last wins), losing
//! the other. So a key already written in an object of `unmapped` is written again
//! as `key#2`, then `key#3`, …: each occurrence survives any standard reader.

use super::Key;

#[derive(Default)]
pub struct Unmapped {
    buf: String,
    /// One entry per open object (the root first): whether it has a member yet.
    open: Vec<bool>,
    /// Hashes of the keys written in each open object (parallel to `open`).
    keys: Vec<Vec<u64>>,
}

impl Unmapped {
    /// Emit `key: raw` inside the object at `path` (the keys from the record root).
    pub fn emit(&mut self, path: &[Key<'_>], key: &str, raw: &str) {
        if self.open.is_empty() {
            self.buf.push('{');
            self.open.push(false);
            self.keys.push(Vec::new());
        }
        while self.open.len() <= path.len() {
            let k = &path[self.open.len() - 1];
            self.member_separator();
            self.push_member_key(k);
            self.buf.push('{');
            self.open.push(false);
            self.keys.push(Vec::new());
        }
        self.member_separator();
        self.push_member_key(key);
        self.buf.push_str(raw);
    }

    /// Write `key` in the innermost open object: as itself the first time, as
    /// `key#N` for its N-th occurrence there.
    fn push_member_key(&mut self, key: &str) {
        let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
        let level = self.keys.last_mut();
        let seen = level
            .as_ref()
            .map_or(0, |l| l.iter().filter(|&&k| k == h).count());
        if let Some(l) = level {
            l.push(h);
        }
        if seen == 0 {
            push_key(&mut self.buf, key);
        } else {
            push_key(&mut self.buf, &format!("{key}#{}", seen + 1));
        }
    }

    /// The walk leaves the object at a path of `depth` keys.
    pub fn leave(&mut self, depth: usize) {
        if self.open.len() == depth + 1 {
            self.buf.push('}');
            self.open.pop();
            self.keys.pop();
        }
    }

    /// Close the record's object and hand its text (if anything was emitted) to
    /// `f`; then reset for the next record.
    pub fn finish_with(&mut self, f: impl FnOnce(Option<&str>)) {
        if self.open.is_empty() {
            f(None);
            return;
        }
        while self.open.pop().is_some() {
            self.buf.push('}');
        }
        self.keys.clear();
        f(Some(&self.buf));
        self.buf.clear();
    }

    fn member_separator(&mut self) {
        if let Some(has) = self.open.last_mut() {
            if *has {
                self.buf.push(',');
            }
            *has = true;
        }
    }
}

fn push_key(buf: &mut String, key: &str) {
    let plain = key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        buf.push('"');
        buf.push_str(key);
        buf.push('"');
    } else {
        // Escaping a string cannot fail.
        buf.push_str(&serde_json::to_string(key).unwrap_or_default());
    }
    buf.push(':');
}
