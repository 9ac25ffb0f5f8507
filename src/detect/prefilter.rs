//! Which rules can match a record, from a few of its fields.
//!
//! Almost every CloudTrail rule names the API calls it is about; most others name
//! the service or the kind of identity. For each rule the set of values it
//! requires of one key field (eventName, else eventSource, else userIdentity.type,
//! else userAgent)
//! is derived from its detection and condition (conservatively: `None` when a
//! match does not imply one of a known set), and rules are indexed by those
//! values; a record is evaluated only by the rules indexed under its values and
//! those with no requirement. The derivation is sound, so skipping changes no
//! result: a rule requiring field ∈ S matches only records whose field is in S
//! (compared case-insensitively, which also covers `|cased` values).

use std::collections::BTreeSet;

use rsigma_parser::{
    detection_name_matches, ConditionExpr, Detection, Quantifier, SelectorPattern, SigmaRule,
    SigmaValue,
};

/// Lower-cased eventName values; `None`: no requirement.
type Names = Option<BTreeSet<String>>;

/// The key fields, in order of preference.
pub const KEY_FIELDS: [&str; 4] = ["eventName", "eventSource", "userIdentity.type", "userAgent"];

/// The first key field (its index in [`KEY_FIELDS`]) for which every match of
/// `rule` has one of a known set of values (lower-cased), with that set.
pub fn requirement(rule: &SigmaRule) -> Option<(usize, BTreeSet<String>)> {
    KEY_FIELDS
        .iter()
        .enumerate()
        .find_map(|(i, f)| required_values(rule, f).map(|v| (i, v)))
}

/// The values of `field` any match of `rule` has (lower-cased), if known.
pub fn required_values(rule: &SigmaRule, field: &str) -> Names {
    let det = &rule.detection;
    let mut all: BTreeSet<String> = BTreeSet::new();
    for c in &det.conditions {
        // Conditions are alternatives: every one must constrain.
        all.extend(condition(c, det, field)?);
    }
    (!det.conditions.is_empty()).then_some(all)
}

fn condition(c: &ConditionExpr, det: &rsigma_parser::Detections, field: &str) -> Names {
    let detection = |d: &Detection| detection(d, field);
    match c {
        ConditionExpr::Identifier(name) => detection(det.named.get(name)?),
        ConditionExpr::And(args) => args
            .iter()
            .filter_map(|a| condition(a, det, field))
            .min_by_key(BTreeSet::len),
        ConditionExpr::Or(args) => union(args.iter().map(|a| condition(a, det, field))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let names: Vec<&String> = match pattern {
                SelectorPattern::Pattern(p) => det
                    .named
                    .keys()
                    .filter(|n| detection_name_matches(p, n))
                    .collect(),
                SelectorPattern::Them => det.named.keys().collect(),
            };
            let each = names.iter().map(|n| detection(&det.named[*n]));
            match quantifier {
                // `all of them` may leave out some names (e.g. `_` ones): any one
                // named selection that is certainly included would do, but which
                // are is the evaluator's business; stay conservative.
                Quantifier::All => match pattern {
                    SelectorPattern::Pattern(_) => each.flatten().min_by_key(BTreeSet::len),
                    SelectorPattern::Them => None,
                },
                Quantifier::Any | Quantifier::Count(_) => union(each),
            }
        }
    }
}

fn union(parts: impl Iterator<Item = Names>) -> Names {
    let mut out = BTreeSet::new();
    let mut any = false;
    for p in parts {
        out.extend(p?);
        any = true;
    }
    any.then_some(out)
}

fn detection(d: &Detection, field: &str) -> Names {
    match d {
        Detection::AllOf(items) => items
            .iter()
            .filter(|i| i.field.name.as_deref() == Some(field))
            .filter_map(|i| {
                let plain = i
                    .field
                    .modifiers
                    .iter()
                    .all(|m| *m == rsigma_parser::Modifier::Cased);
                if !plain || i.values.is_empty() {
                    return None;
                }
                i.values
                    .iter()
                    .map(|v| match v {
                        SigmaValue::String(s) => s.as_plain().map(|p| p.to_lowercase()),
                        _ => None,
                    })
                    .collect::<Option<BTreeSet<String>>>()
            })
            .min_by_key(BTreeSet::len),
        Detection::AnyOf(subs) => union(subs.iter().map(|s| detection(s, field))),
        Detection::And(subs) => subs
            .iter()
            .filter_map(|s| detection(s, field))
            .min_by_key(BTreeSet::len),
        _ => None,
    }
}

/// Rules indexed by the values they require of a key field.
#[derive(Default)]
pub struct Index {
    /// Per key field: lower-cased value to rules.
    by_value: [KeyMap; 4],
    /// Rules without a requirement: evaluated on every record.
    always: Vec<usize>,
}

impl Index {
    pub fn add(&mut self, rule: usize, req: Option<(usize, BTreeSet<String>)>) {
        match req {
            Some((field, values)) => {
                for v in values {
                    self.by_value[field].add(v, rule);
                }
            }
            None => self.always.push(rule),
        }
    }

    /// Rules evaluated on every record (no requirement).
    pub fn always(&self) -> &[usize] {
        &self.always
    }

    /// The rules that can match a record whose key fields hold `values` (`None`:
    /// absent or not a string), in rule order, into `out`.
    pub fn candidates(&self, values: [Option<&str>; 4], out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.always);
        for (map, value) in self.by_value.iter().zip(values) {
            if let Some(v) = value {
                out.extend_from_slice(map.get(v));
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// Lower-cased values to rules, with the lengths of the values: most records'
/// values are ASCII of a length no rule value has, and are ruled out before any
/// lower-casing or hashing.
#[derive(Default)]
struct KeyMap {
    map: hashbrown::HashMap<Box<str>, Vec<usize>>,
    /// Bit `n`: some value is `n` bytes long (`n < 128`).
    lengths: u128,
    /// Some value is 128 bytes or longer.
    long: bool,
}

impl KeyMap {
    fn add(&mut self, value: String, rule: usize) {
        match value.len() {
            n @ 0..128 => self.lengths |= 1 << n,
            _ => self.long = true,
        }
        self.map
            .entry(value.into_boxed_str())
            .or_default()
            .push(rule);
    }

    /// The rules requiring `value` (compared case-insensitively).
    fn get(&self, value: &str) -> &[usize] {
        if self.map.is_empty() {
            return &[];
        }
        let mut buf = [0u8; 96];
        if value.is_ascii() {
            // ASCII lower-cases to the same length.
            let n = value.len();
            let possible = if n < 128 {
                self.lengths & (1 << n) != 0
            } else {
                self.long
            };
            if !possible {
                return &[];
            }
            if n <= buf.len() {
                let b = &mut buf[..n];
                b.copy_from_slice(value.as_bytes());
                b.make_ascii_lowercase();
                // ASCII in, ASCII out.
                let lower = std::str::from_utf8(b).unwrap_or_default();
                return self.map.get(lower).map_or(&[], Vec::as_slice);
            }
        }
        self.map
            .get(value.to_lowercase().as_str())
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(yaml: &str) -> Names {
        let c = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        required_values(&c.rules[0], "eventName")
    }

    fn set(v: &[&str]) -> Names {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    const HEAD: &str = "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n";

    #[test]
    fn requirements_follow_the_condition() {
        let r = |d: &str| names(&format!("{HEAD}{d}"));
        assert_eq!(
            r("  s:\n    eventName: [StopLogging, DeleteTrail]\n  condition: s\n"),
            set(&["deletetrail", "stoplogging"])
        );
        // AND: the narrowest side; OR: both sides must constrain.
        assert_eq!(
            r("  a:\n    eventName: A\n  b:\n    eventSource: x\n  condition: a and b\n"),
            set(&["a"])
        );
        assert_eq!(
            r("  a:\n    eventName: A\n  b:\n    eventSource: x\n  condition: a or b\n"),
            None
        );
        assert_eq!(
            r("  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: 1 of them\n"),
            set(&["a", "b"])
        );
        assert_eq!(
            r("  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  other:\n    eventSource: x\n  condition: 1 of sel_*\n"),
            set(&["a", "b"])
        );
        assert_eq!(
            r("  sel_a:\n    eventName: A\n  sel_b:\n    eventSource: x\n  condition: all of sel_*\n"),
            set(&["a"])
        );
        // Selectors by prefix: `1 of` needs every matched selection to constrain,
        // `all of` any one of them.
        assert_eq!(
            r("  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  other:\n    eventSource: x\n  condition: 1 of sel_*\n"),
            set(&["a", "b"])
        );
        assert_eq!(
            r("  sel_a:\n    eventName: A\n  sel_b:\n    eventSource: x\n  condition: all of sel_*\n"),
            set(&["a"])
        );
        // NOT, wildcards and modifiers give no requirement.
        assert_eq!(r("  a:\n    eventName: A\n  condition: not a\n"), None);
        assert_eq!(r("  a:\n    eventName: Get*\n  condition: a\n"), None);
        assert_eq!(
            r("  a:\n    eventName|startswith: Get\n  condition: a\n"),
            None
        );
        // A list of maps: every alternative must name one.
        assert_eq!(
            r("  a:\n    - eventName: A\n    - eventName: B\n  condition: a\n"),
            set(&["a", "b"])
        );
        assert_eq!(
            r("  a:\n    - eventName: A\n    - eventSource: s\n  condition: a\n"),
            None
        );
    }

    #[test]
    fn candidates_come_from_every_key_field_in_rule_order() {
        let mut p = Index::default();
        p.add(0, None);
        p.add(1, Some((0, set(&["getobject"]).unwrap())));
        p.add(2, Some((0, set(&["putobject"]).unwrap())));
        p.add(3, Some((2, set(&["root"]).unwrap())));
        p.add(4, Some((1, set(&["s3.amazonaws.com"]).unwrap())));
        let mut seen = Vec::new();
        p.candidates(
            [
                Some("GetObject"),
                Some("s3.amazonaws.com"),
                Some("IAMUser"),
                None,
            ],
            &mut seen,
        );
        assert_eq!(seen, [0, 1, 4]);
        p.candidates(
            [Some("Other"), None, Some("Root"), Some("aws-cli")],
            &mut seen,
        );
        assert_eq!(seen, [0, 3]);
        // The first key field that constrains a rule is the one it is indexed by.
        let c = rsigma_parser::parse_sigma_yaml(&format!(
            "{HEAD}  s:\n    userIdentity.type: Root\n    eventSource: iam.amazonaws.com\n  condition: s\n"
        ))
        .unwrap();
        assert_eq!(
            requirement(&c.rules[0]),
            Some((1, ["iam.amazonaws.com".to_string()].into_iter().collect()))
        );
    }
}
