//! Loading Sigma rules: files or folders of YAML, parsed with `rsigma-parser`.
//!
//! Only rules for CloudTrail are kept (`logsource: product: aws, service:
//! cloudtrail`); rules for other log sources are counted, not loaded. A rule that
//! parses but uses what trailpack does not evaluate (correlations, aggregations,
//! a modifier the engine lacks) is skipped with its reason; a file that is not a
//! valid Sigma document is an error naming the file and, where the YAML parser
//! knows it, the line.

use std::path::{Path, PathBuf};

use rsigma_parser::{SigmaCollection, SigmaRule};

/// A rule file that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--rules {0}: no .yml or .yaml file there")]
    Empty(PathBuf),
}

/// A rule that was read but is not evaluated, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    pub title: String,
    pub reason: String,
}

/// The CloudTrail rules found under the given paths.
#[derive(Debug, Default)]
pub struct LoadedRules {
    /// Rules to evaluate, with the file each came from.
    pub rules: Vec<(SigmaRule, String)>,
    pub skipped: Vec<Skipped>,
    /// Rules for other log sources (not CloudTrail), left out.
    pub other_logsource: usize,
    pub files: usize,
    /// Hash of every rule file's text, in load order: changes when any rule does.
    pub fingerprint: u64,
}

/// Read every `.yml`/`.yaml` file under `paths` (files, or folders walked
/// recursively in name order).
pub fn load(paths: &[PathBuf]) -> Result<LoadedRules, RuleError> {
    let mut out = LoadedRules::default();
    for root in paths {
        let files = rule_files(root)?;
        if files.is_empty() {
            return Err(RuleError::Empty(root.clone()));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| RuleError::Read {
                path: file.clone(),
                source,
            })?;
            out.files += 1;
            out.fingerprint =
                xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), out.fingerprint);
            add_file(&mut out, &file, &text)?;
        }
    }
    Ok(out)
}

fn rule_files(root: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let meta = std::fs::metadata(root).map_err(|source| RuleError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| RuleError::Read {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        let p = entry.path();
        let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
        if entry.file_type().is_file() && yaml {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

/// Parse one file's documents into `out`.
pub fn add_file(out: &mut LoadedRules, file: &Path, text: &str) -> Result<(), RuleError> {
    let name = file.display().to_string();
    let malformed = |reason: String| RuleError::Malformed {
        path: file.to_path_buf(),
        reason,
    };
    // Aggregations (`condition: selection | count() > 5`, Sigma 1's way of counting
    // events) are not evaluated: such documents are skipped by name, the others of
    // the file parsed as usual.
    let (aggregations, rest) = split_aggregations(text);
    for title in aggregations {
        out.skipped.push(Skipped {
            file: name.clone(),
            title,
            reason: "aggregation conditions (`| count() ...`) are not evaluated".into(),
        });
    }
    let text = rest.as_deref().unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(());
    }
    let collection: SigmaCollection =
        rsigma_parser::parse_sigma_yaml(text).map_err(|e| malformed(e.to_string()))?;
    if let Some(e) = collection.errors.first() {
        return Err(malformed(e.clone()));
    }
    for c in &collection.correlations {
        out.skipped.push(Skipped {
            file: name.clone(),
            title: c.title.clone(),
            reason: "correlation rules (counts and sequences over time) are not evaluated".into(),
        });
    }
    for f in &collection.filters {
        out.skipped.push(Skipped {
            file: name.clone(),
            title: f.title.clone(),
            reason: "filter documents are not applied".into(),
        });
    }
    for mut rule in collection.rules {
        if !is_cloudtrail(&rule) {
            out.other_logsource += 1;
            continue;
        }
        for d in rule.detection.named.values_mut() {
            fix_base64offset(d);
            guard_regexes(d);
        }
        out.rules.push((rule, name.clone()));
    }
    Ok(())
}

/// Titles of the documents whose condition aggregates (`… | count() …`), and the
/// file's other documents as YAML when there were any such (`None`: the text is to
/// be parsed as it is, keeping its line numbers for error messages). YAML errors
/// are left for the Sigma parser to report.
fn split_aggregations(text: &str) -> (Vec<String>, Option<String>) {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        match yaml_serde::Value::deserialize(doc) {
            Ok(v) => docs.push(v),
            Err(_) => return (Vec::new(), None),
        }
    }
    let aggregates = |v: &yaml_serde::Value| {
        let cond = v.get("detection").and_then(|d| d.get("condition"));
        let texts: Vec<&str> = match cond {
            Some(yaml_serde::Value::String(s)) => vec![s.as_str()],
            Some(yaml_serde::Value::Sequence(items)) => {
                items.iter().filter_map(|i| i.as_str()).collect()
            }
            _ => Vec::new(),
        };
        texts.iter().any(|c| c.contains('|'))
    };
    let (agg, keep): (Vec<_>, Vec<_>) = docs.into_iter().partition(aggregates);
    if agg.is_empty() {
        return (Vec::new(), None);
    }
    let titles = agg
        .iter()
        .map(|v| {
            v.get("title")
                .and_then(|t| t.as_str())
                .unwrap_or("(untitled)")
                .to_string()
        })
        .collect();
    let rest: Vec<String> = keep
        .iter()
        .filter_map(|v| yaml_serde::to_string(v).ok())
        .collect();
    (titles, Some(rest.join("---\n")))
}

fn is_cloudtrail(rule: &SigmaRule) -> bool {
    let is =
        |v: &Option<String>, want: &str| v.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want));
    is(&rule.logsource.product, "aws") && is(&rule.logsource.service, "cloudtrail")
}

/// `|base64offset|contains`: the three encodings of the value, trimmed of every
/// character that depends on the bytes before or after it, as the Sigma
/// specification (and pySigma) define them. The evaluator's own expansion keeps a
/// trailing character that depends on the next byte and misses real matches, so
/// the item is rewritten here to plain `contains` over the trimmed encodings.
fn fix_base64offset(d: &mut rsigma_parser::Detection) {
    use rsigma_parser::{Detection, Modifier, SigmaString, SigmaValue};
    match d {
        Detection::AllOf(items) => {
            for item in items {
                let m = &item.field.modifiers;
                if !(m.contains(&Modifier::Base64Offset) && m.contains(&Modifier::Contains)) {
                    continue;
                }
                let plain: Option<Vec<String>> = item
                    .values
                    .iter()
                    .map(|v| match v {
                        SigmaValue::String(s) => s.as_plain(),
                        _ => None,
                    })
                    .collect();
                let Some(plain) = plain else { continue };
                item.field
                    .modifiers
                    .retain(|m| *m != Modifier::Base64Offset);
                item.values = plain
                    .iter()
                    .flat_map(|v| base64_offsets(v.as_bytes()))
                    .map(|p| SigmaValue::String(SigmaString::new(&p)))
                    .collect();
            }
        }
        Detection::AnyOf(subs) | Detection::And(subs) => subs.iter_mut().for_each(fix_base64offset),
        Detection::ArrayMatch { body, .. } => fix_base64offset(body),
        Detection::Conditional { named, .. } => named.values_mut().for_each(fix_base64offset),
        Detection::Keywords(_) => {}
    }
}

/// `field|re: '.+LITERAL.+'` (or `.*`, or the literal alone): a regex the
/// evaluator scans the whole value with even when the value lacks the literal it
/// needs (an unanchored leading `.+` defeats its literal search), on every record
/// for a rule with no other requirement. A case-sensitive `contains` of the literal
/// is put before the item, in the same AND: an equivalent rule (the regex can only
/// match values that contain the literal, and both items see the same values) that
/// rejects most values with a substring search.
fn guard_regexes(d: &mut rsigma_parser::Detection) {
    use rsigma_parser::{Detection, DetectionItem, FieldSpec, Modifier, SigmaString, SigmaValue};
    match d {
        Detection::AllOf(items) => {
            let mut i = 0;
            while i < items.len() {
                let item = &items[i];
                let literal = match (&item.field.modifiers[..], &item.values[..]) {
                    ([Modifier::Re], [SigmaValue::String(p)]) => required_literal(&p.original),
                    _ => None,
                };
                if let Some(lit) = literal {
                    let guard = DetectionItem {
                        field: FieldSpec::new(
                            item.field.name.clone(),
                            vec![Modifier::Contains, Modifier::Cased],
                        ),
                        values: vec![SigmaValue::String(SigmaString::new(lit))],
                    };
                    items.insert(i, guard);
                    i += 1;
                }
                i += 1;
            }
        }
        Detection::AnyOf(subs) | Detection::And(subs) => subs.iter_mut().for_each(guard_regexes),
        Detection::ArrayMatch { body, .. } => guard_regexes(body),
        Detection::Conditional { named, .. } => named.values_mut().for_each(guard_regexes),
        Detection::Keywords(_) => {}
    }
}

/// The literal every match of `pattern` contains, for patterns of the form
/// `[.+|.*]LITERAL[.+|.*]` with a literal of plain characters (no metacharacter,
/// escape, wildcard or flag), at least one wrapper being there.
fn required_literal(pattern: &str) -> Option<&str> {
    let wrap = [".+", ".*"];
    let (mut lit, mut wrapped) = (pattern, false);
    if let Some(rest) = wrap.iter().find_map(|w| lit.strip_prefix(w)) {
        (lit, wrapped) = (rest, true);
    }
    if let Some(rest) = wrap.iter().find_map(|w| lit.strip_suffix(w)) {
        (lit, wrapped) = (rest, true);
    }
    let plain = |c: char| !"\\.+*?()[]{}|^$#".contains(c) && !c.is_whitespace();
    (wrapped && !lit.is_empty() && lit.chars().all(plain)).then_some(lit)
}

/// The base64 forms of `value` at the three offsets of a 3-byte group, without the
/// characters that encode bits of the neighbouring bytes.
pub fn base64_offsets(value: &[u8]) -> Vec<String> {
    use base64::Engine;
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .filter_map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(value);
            let enc = base64::engine::general_purpose::STANDARD.encode(&padded);
            let end = enc.len().checked_sub(END_TRIM[(value.len() + i) % 3])?;
            (START[i] < end).then(|| enc[START[i]..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_get_the_literal_they_need_as_a_guard() {
        assert_eq!(
            required_literal(".+:assumed-role/aws:.+"),
            Some(":assumed-role/aws:")
        );
        assert_eq!(required_literal(".*abc"), Some("abc"));
        assert_eq!(required_literal("abc.+"), Some("abc"));
        for p in [
            "abc",
            ".+a.c.+",
            ".+a|b.+",
            ".+(a).+",
            ".+a\\.b.+",
            ".+a*.+",
            "(?i).+abc.+",
            ".+a b.+",
            ".+.+",
            "^.+abc",
        ] {
            assert_eq!(required_literal(p), None, "{p}");
        }
        // The guard goes before the regex, in the same AND.
        let text = "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName: X\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: s\n";
        let mut c = rsigma_parser::parse_sigma_yaml(text).unwrap();
        let d = c.rules[0].detection.named.get_mut("s").unwrap();
        guard_regexes(d);
        let rsigma_parser::Detection::AllOf(items) = d else {
            panic!("not a map: {d:?}")
        };
        let shape: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.field.name.clone().unwrap_or_default(),
                    i.field.modifiers.clone(),
                )
            })
            .collect();
        use rsigma_parser::Modifier as M;
        assert_eq!(
            shape,
            [
                ("eventName".to_string(), vec![]),
                ("userIdentity.arn".to_string(), vec![M::Contains, M::Cased]),
                ("userIdentity.arn".to_string(), vec![M::Re]),
            ]
        );
    }

    #[test]
    fn base64_offsets_match_the_specification() {
        // The three forms pySigma gives for `curl http`.
        assert_eq!(
            base64_offsets(b"curl http"),
            ["Y3VybCBodHRw", "N1cmwgaHR0c", "jdXJsIGh0dH"]
        );
        // Each form is found in the encoding of any text holding the value at that offset.
        use base64::Engine;
        for prefix in ["", "x", "xy", "xyz"] {
            for suffix in ["", ":", "://a"] {
                let text = format!("{prefix}curl http{suffix}");
                let enc = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                let forms = base64_offsets(b"curl http");
                assert!(
                    forms.iter().any(|f| enc.contains(f.as_str())),
                    "{text:?} -> {enc}"
                );
            }
        }
    }
}
