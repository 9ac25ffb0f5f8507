//! Splitting JSON text that serde_json has already validated (a value captured as a
//! raw slice) into its top-level members or items, without validating it again.
//!
//! A nested object of a record (`userIdentity`, its `sessionContext`, …) is first
//! captured whole while the record is parsed, then split here to walk its members:
//! only structure is looked for (strings are skipped to their closing quote, eight
//! bytes at a time), where a second serde parse would check every byte again. On any
//! text that is not in the shape valid JSON has, these functions return `None` and
//! the caller parses with serde instead, so a mistake here can cost speed, never a
//! wrong value.

use std::borrow::Cow;

use super::Key;

fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Index of the closing quote of the string opening at `i`, and whether the
/// string has escapes.
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let k = quote_or_backslash(b, j)?;
        if b[k] == b'\\' {
            escaped = true;
            j = k + 2;
        } else {
            return Some((k, escaped));
        }
    }
}

/// Whether the JSON string `raw` (quotes included, as valid JSON has it) holds an
/// escape, or may: text not ending where its first unescaped quote is counts as
/// escaped, so the caller parses it fully.
pub fn has_escape(raw: &[u8]) -> bool {
    !matches!(string_end(raw, 0), Some((end, false)) if end + 1 == raw.len())
}

/// Index of the first `"` or `\` at or after `j`. CloudTrail's strings are mostly
/// short (keys, names, ARNs): they are searched eight bytes at a time in a
/// register, which costs less than setting up a vector search for each one.
fn quote_or_backslash(b: &[u8], mut j: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(j..j + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let (q, s) = (x ^ (ONES * u64::from(b'"')), x ^ (ONES * u64::from(b'\\')));
        // A byte of `q` or `s` is zero where `x` holds the byte searched for; the
        // lowest flagged byte is exact (flags above it may be false).
        let found = (q.wrapping_sub(ONES) & !q | s.wrapping_sub(ONES) & !s) & HIGH;
        if found != 0 {
            return Some(j + (found.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    Some(j + b.get(j..)?.iter().position(|&c| c == b'"' || c == b'\\')?)
}

/// End (exclusive) of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => Some(string_end(b, i)?.0 + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'"' => j = string_end(b, j)?.0,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

/// The key of the string opening at `i` and the index of its closing quote.
fn key_at(text: &str, i: usize) -> Option<(Key<'_>, usize)> {
    let (end, escaped) = string_end(text.as_bytes(), i)?;
    let inner = text.get(i + 1..end)?;
    let key = if escaped {
        Cow::Owned(serde_json::from_str::<String>(text.get(i..=end)?).ok()?)
    } else {
        Cow::Borrowed(inner)
    };
    Some((Key(key), end))
}

/// Append the members of the object `text` to `out` as (key, raw value text).
/// `None` (with `out` possibly partly filled) when `text` is not an object of the
/// shape valid JSON has.
pub fn object_members<'a>(text: &'a str, out: &mut Vec<(Key<'a>, &'a str)>) -> Option<()> {
    elements(text.as_bytes(), b'{', b'}', |i| {
        let (key, value, end) = member_at(text, i)?;
        out.push((key, value));
        Some(end)
    })
}

/// The member (`"key": value`) starting at `i`: its key, its raw value text and
/// the index where the value ends.
fn member_at(text: &str, i: usize) -> Option<(Key<'_>, &str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (key, key_end) = key_at(text, i)?;
    let colon = ws(b, key_end + 1);
    if b.get(colon) != Some(&b':') {
        return None;
    }
    let start = ws(b, colon + 1);
    let end = value_end(b, start)?;
    Some((key, text.get(start..end)?, end))
}

/// The raw value text of the first member of the object `text` named `want`
/// (`Some(None)`: it has none). The members after it are not read. `None` when
/// `text` is not an object of the shape valid JSON has, as for `object_members`.
pub fn object_member<'a>(text: &'a str, want: &str) -> Option<Option<&'a str>> {
    let mut found = None;
    let walked = elements(text.as_bytes(), b'{', b'}', |i| {
        let (key, value, end) = member_at(text, i)?;
        if key.0 == want {
            found = Some(value);
            // Stop the walk here.
            return None;
        }
        Some(end)
    });
    match (found, walked) {
        (Some(v), _) => Some(Some(v)),
        (None, Some(())) => Some(None),
        (None, None) => None,
    }
}

/// Append the items of the array `text` to `out` as raw value texts; `None` as for
/// `object_members`.
pub fn array_items<'a>(text: &'a str, out: &mut Vec<&'a str>) -> Option<()> {
    let b = text.as_bytes();
    elements(b, b'[', b']', |i| {
        let end = value_end(b, i)?;
        out.push(text.get(i..end)?);
        Some(end)
    })
}

/// Walk the whole of `b` as `open` element (`,` element)* `close`, or an empty
/// `open close`, with whitespace anywhere between. `element` reads the element
/// starting at an index and returns where it ends.
fn elements(
    b: &[u8],
    open: u8,
    close: u8,
    mut element: impl FnMut(usize) -> Option<usize>,
) -> Option<()> {
    let mut i = ws(b, 0);
    if b.get(i) != Some(&open) {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) != Some(&close) {
        loop {
            i = ws(b, element(i)?);
            match *b.get(i)? {
                b',' => i = ws(b, i + 1),
                c if c == close => break,
                _ => return None,
            }
        }
    }
    (ws(b, i + 1) == b.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// What serde_json makes of the same text: the reference.
    fn serde_members(text: &str) -> Option<Vec<(String, String)>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let pairs: Vec<(String, String)> = {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<(String, String)>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::new();
                    while let Some(k) = m.next_key::<String>()? {
                        let raw: &RawValue = m.next_value()?;
                        v.push((k, raw.get().to_string()));
                    }
                    Ok(v)
                }
            }
            serde::Deserializer::deserialize_map(&mut de, V).ok()?
        };
        de.end().ok()?;
        Some(pairs)
    }

    fn split(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        object_members(text, &mut out)?;
        Some(
            out.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn members_equal_serde_on_valid_objects() {
        let cases = [
            r#"{}"#,
            r#" { } "#,
            r#"{"a":1}"#,
            r#"{ "a" : "x" , "b":[1,{"c":"]}"}] ,"d":{"e":{"f":null}}, "g":-1.5e3,"h":true}"#,
            r#"{"esc\"aped\\key":"va\\\"l\"ue","\u0041":"\u00e9\ud83d\ude00","a":"}{]["}"#,
            "{\n\t\"k\":\n\t[ ]\r\n}",
            r#"{"dup":1,"dup":2}"#,
            r#"{"s":"ünïcødé ✓","n":0}"#,
        ];
        for text in cases {
            assert_eq!(split(text), serde_members(text), "{text}");
            assert!(split(text).is_some(), "{text}");
            // One member by name: the first with that name, as serde lists them.
            let all = serde_members(text).unwrap_or_default();
            for key in ["a", "d", "dup", "A", "esc\"aped\\key", "k", "missing"] {
                let want = all.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
                assert_eq!(object_member(text, key), Some(want), "{text} {key}");
            }
        }
        assert_eq!(object_member("[1]", "a"), None);
        assert_eq!(object_member("{\"a\" 1}", "b"), None);
    }

    #[test]
    fn quotes_and_backslashes_are_found_at_every_offset() {
        // Every position of the searched byte relative to the 8-byte words, with
        // bytes just below and above '"' (0x22) and '\\' (0x5c) around it, and
        // multi-byte UTF-8 (high bits set) before it.
        let fillers = ["a", "!", "#", "[", "]", "é", "\u{1F600}"];
        for filler in fillers {
            for len in 0..40 {
                let body = filler.repeat(len);
                for (mark, start) in [('"', 0), ('\\', 0), ('"', 3), ('\\', 5)] {
                    let text = format!("{}{}{mark}tail\"", &"x".repeat(start), body);
                    let b = text.as_bytes();
                    let want = b
                        .iter()
                        .enumerate()
                        .skip(start)
                        .find(|(_, &c)| c == b'"' || c == b'\\')
                        .map(|(k, _)| k);
                    assert_eq!(quote_or_backslash(b, start), want, "{text:?} from {start}");
                }
            }
            assert_eq!(quote_or_backslash(filler.repeat(20).as_bytes(), 0), None);
        }
        assert_eq!(string_end(br#""a\"b" "#, 0), Some((5, true)));
        assert_eq!(string_end(br#""abcdefghijk" "#, 0), Some((12, false)));
        assert_eq!(string_end(br#""abc"#, 0), None);
        for (raw, escaped) in [
            (r#""""#, false),
            (r#""plain text, long enough for a word""#, false),
            (r#""a\nb""#, true),
            (r#""tail\\""#, true),
            (r#""\u00e9""#, true),
            // Not one string: left to the full parse.
            (r#""a"b""#, true),
            (r#""open"#, true),
        ] {
            assert_eq!(has_escape(raw.as_bytes()), escaped, "{raw}");
        }
    }

    #[test]
    fn not_objects_are_left_to_serde() {
        for text in [
            r#""{}""#,
            "[1]",
            "1",
            "null",
            r#"{"a":1"#,
            r#"{"a":1}x"#,
            "",
        ] {
            assert_eq!(split(text), None, "{text}");
        }
    }

    #[test]
    fn items_equal_serde() {
        for text in [
            r#"[]"#,
            r#"[ {"a":"b"} , "x", 2 ,[3]]"#,
            r#"[{"ARN":"arn:aws:s3:::b]"}]"#,
        ] {
            let mut out = Vec::new();
            array_items(text, &mut out).unwrap();
            let serde: Vec<&RawValue> = serde_json::from_str(text).unwrap();
            let serde: Vec<&str> = serde.iter().map(|r| r.get()).collect();
            assert_eq!(out, serde, "{text}");
        }
        let mut out = Vec::new();
        assert_eq!(array_items("{}", &mut out), None);
    }
}
