//! Detections: Sigma rules evaluated on curated rows.
//!
//! - [`rules`]: load rule files and keep the CloudTrail ones;
//! - [`event`]: a curated row seen as its CloudTrail record (borrowed, lazy);
//! - [`findings`]: the findings table's rows, built as Arrow batches.
//!
//! The same [`Detector`] runs inside a conversion (on each row group as it is
//! written, so a partition's findings are exactly those of its rows) and in
//! `trailpack detect` over curated Parquet or raw logs decoded on the fly. Rules
//! are compiled once (`rsigma-eval`); evaluating is pure CPU (no IO, no async).

pub mod event;
pub mod findings;
mod prefilter;
pub mod rules;

use std::path::PathBuf;

use arrow_array::RecordBatch;
use rsigma_eval::CompiledRule;
use serde::Serialize;

use crate::schema::TableSchema;
pub use event::{BatchView, Paths};
pub use findings::{FindingsBuilder, LevelCounts};
pub use rules::{LoadedRules, RuleError, Skipped};

/// What a finding says about its rule.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub file: String,
}

/// A summary of the loaded rules, for the run summary and `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesReport {
    pub files: usize,
    pub loaded: usize,
    pub skipped: Vec<Skipped>,
    pub other_logsource: usize,
}

/// Compiled rules and the schema they read rows of.
pub struct Detector {
    compiled: Vec<CompiledRule>,
    /// Which rules can match a record, by its key fields.
    prefilter: prefilter::Index,
    /// The columns of the key fields (`prefilter::KEY_FIELDS`).
    key_columns: [usize; 4],
    /// The key fields' last keys, quoted (`"type"`): how `unmapped` would name them.
    key_members: [String; 4],
    /// Record paths the rules read; `None`: some rule reads every field (keywords,
    /// field references).
    fields: Option<Vec<String>>,
    rules: Vec<RuleInfo>,
    rule_columns: findings::RuleColumns,
    paths: Paths,
    report: RulesReport,
    fingerprint: String,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl Detector {
    /// Load and compile the rules under `paths`. A rule the engine cannot compile
    /// (an unknown modifier, a bad regex) is skipped with its reason.
    pub fn load(paths: &[PathBuf], schema: &TableSchema) -> Result<Detector, RuleError> {
        let loaded = rules::load(paths)?;
        Ok(Self::from_rules(loaded, schema))
    }

    pub fn from_rules(loaded: LoadedRules, schema: &TableSchema) -> Detector {
        let mut compiled = Vec::new();
        let mut index = prefilter::Index::default();
        let mut infos = Vec::new();
        let mut fields = Some(std::collections::BTreeSet::new());
        let mut skipped = loaded.skipped;
        for (rule, file) in &loaded.rules {
            match rsigma_eval::compile_rule(rule) {
                Ok(c) => {
                    index.add(compiled.len(), prefilter::requirement(rule));
                    compiled.push(c);
                }
                Err(e) => {
                    skipped.push(Skipped {
                        file: file.clone(),
                        title: rule.title.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            }
            if let Some(set) = fields.as_mut() {
                if !rule_fields(rule, set) {
                    fields = None;
                }
            }
            let id = rule.id.clone().unwrap_or_else(|| rule.title.clone());
            infos.push(RuleInfo {
                id,
                title: rule.title.clone(),
                level: rule.level.map(|l| l.as_str().to_string()),
                status: rule.status.map(status_name),
                tags: rule.tags.clone(),
                file: file.clone(),
            });
        }
        for s in &skipped {
            tracing::warn!(rule = %s.title, file = %s.file, "rule skipped: {}", s.reason);
        }
        let fingerprint = format!("{:016x}", loaded.fingerprint);
        tracing::debug!(
            always = ?index
                .always().iter().map(|&i| infos[i].title.as_str()).collect::<Vec<_>>(),
            "rules without a key-field requirement (evaluated on every record)"
        );
        let report = RulesReport {
            files: loaded.files,
            loaded: infos.len(),
            skipped,
            other_logsource: loaded.other_logsource,
        };
        let key_columns = prefilter::KEY_FIELDS.map(|f| {
            schema
                .columns
                .iter()
                .position(|c| c.path == f && c.role.is_none())
                .unwrap_or(usize::MAX)
        });
        Detector {
            compiled,
            prefilter: index,
            key_columns,
            key_members: prefilter::KEY_FIELDS
                .map(|f| format!("\"{}\"", f.rsplit('.').next().unwrap_or(f))),
            fields: fields.map(|f| f.into_iter().collect()),
            rule_columns: findings::RuleColumns::new(&infos),
            rules: infos,
            paths: Paths::new(schema),
            report,
            fingerprint,
        }
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The columns of `schema` that evaluating the rules and writing findings reads;
    /// `None` for all of them.
    pub fn columns(&self, schema: &TableSchema) -> Option<Vec<usize>> {
        let fields = self.fields.as_ref()?;
        let mut cols = std::collections::BTreeSet::new();
        cols.insert(schema.unmapped);
        for c in &crate::schema::FindingsSchema::embedded().columns {
            if let crate::schema::FindingSource::Event(i) = c.from {
                cols.insert(i);
            }
        }
        for f in fields {
            for (i, c) in schema.columns.iter().enumerate() {
                if c.role.is_some() && i != schema.source {
                    continue;
                }
                let p = c.path.as_str();
                // The field's own column, the columns below it (an object), or the
                // column it lies below (a json or struct list column).
                let below = |a: &str, b: &str| {
                    a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'.'
                };
                if !p.is_empty() && (p == f || below(p, f) || below(f, p)) {
                    cols.insert(i);
                }
            }
        }
        Some(cols.into_iter().collect())
    }

    /// Changes when any rule file does (recorded in manifests).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn report(&self) -> &RulesReport {
        &self.report
    }

    /// An empty set of findings of these rules.
    pub fn findings_builder(&self) -> FindingsBuilder<'_> {
        FindingsBuilder::new(
            crate::schema::FindingsSchema::embedded(),
            &self.rule_columns,
        )
    }

    /// Evaluate every rule on every row of `batch` (a batch of the curated schema):
    /// its findings, one row per (rule, row) match, and their counts by level.
    pub fn findings(
        &self,
        batch: &RecordBatch,
    ) -> Result<(RecordBatch, LevelCounts), arrow_schema::ArrowError> {
        let view = self.view(batch);
        let mut out = self.findings_builder();
        for row in 0..batch.num_rows() {
            self.evaluate_row(&view, row, |rule| out.push(rule, 0, row));
        }
        let found = out.finish(&[batch])?;
        Ok((found, out.counts))
    }

    /// A batch prepared for evaluation (columns downcast once).
    pub fn view<'b>(&'b self, batch: &'b RecordBatch) -> BatchView<'b> {
        BatchView::new(&self.paths, batch)
    }

    /// Evaluate every rule on one row of a prepared batch.
    /// Rules that cannot match the row's key fields are not evaluated (see
    /// `prefilter`). A key field missing from its column may be in `unmapped` (a
    /// value that did not fit the column's type) and still match a rule in another
    /// form: a row whose `unmapped` names such a field is evaluated by every rule.
    /// `found` is called with the index of each rule that matches.
    pub fn evaluate_row(&self, view: &BatchView<'_>, row: usize, mut found: impl FnMut(usize)) {
        let event = view.row(row);
        let keys = self.key_columns.map(|c| view.text(c, row));
        let mut run = |i: usize| {
            if matches(&self.compiled[i], &event) {
                found(i);
            }
        };
        let elsewhere = keys
            .iter()
            .zip(&self.key_members)
            .any(|(k, quoted)| k.is_none() && view.unmapped_mentions(row, quoted));
        if elsewhere {
            (0..self.compiled.len()).for_each(run);
            return;
        }
        CANDIDATES.with(|c| {
            let mut c = c.borrow_mut();
            self.prefilter.candidates(keys, &mut c);
            c.iter().for_each(|&i| run(i));
        });
    }
}

/// Whether `rule` matches `event` (its conditions are alternatives). Only the
/// verdict is wanted: the evaluator's result record (title, tags and matched
/// fields copied per match) is not built.
fn matches(rule: &CompiledRule, event: &event::RowEvent<'_, '_>) -> bool {
    SELECTIONS.with(|s| {
        let mut s = s.borrow_mut();
        rule.conditions.iter().any(|c| {
            s.clear();
            rsigma_eval::compiler::eval_condition(c, &rule.detections, event, &mut s)
        })
    })
}

thread_local! {
    static SELECTIONS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    static CANDIDATES: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn status_name(s: rsigma_parser::Status) -> String {
    use rsigma_parser::Status::*;
    match s {
        Stable => "stable",
        Test => "test",
        Experimental => "experimental",
        Deprecated => "deprecated",
        Unsupported => "unsupported",
    }
    .to_string()
}

/// Rule levels from lowest to highest, as Sigma names them.
pub const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// The rank of a level name in [`LEVELS`].
pub fn level_rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// One line on rules and findings: "57 rules (3 skipped); 4 findings: 1 high, 3 medium".
pub fn describe(rules: &RulesReport, findings: &LevelCounts) -> String {
    let mut s = format!("{} rules evaluated", rules.loaded);
    if !rules.skipped.is_empty() {
        s.push_str(&format!(" ({} skipped, see the log)", rules.skipped.len()));
    }
    if rules.other_logsource > 0 {
        s.push_str(&format!(
            " ({} for other log sources left out)",
            rules.other_logsource
        ));
    }
    let by_level: Vec<String> = LEVELS
        .iter()
        .rev()
        .chain(std::iter::once(&"none"))
        .filter_map(|l| findings.0.get(*l).map(|n| format!("{n} {l}")))
        .collect();
    s.push_str(&format!("; {} findings", findings.total()));
    if !by_level.is_empty() {
        s.push_str(&format!(": {}", by_level.join(", ")));
    }
    s
}

/// Add the record paths `rule` reads to `out`; `false` when it may read any
/// (keyword searches, field references).
fn rule_fields(
    rule: &rsigma_parser::SigmaRule,
    out: &mut std::collections::BTreeSet<String>,
) -> bool {
    use rsigma_parser::{Detection, Modifier};
    fn walk(d: &Detection, out: &mut std::collections::BTreeSet<String>) -> bool {
        match d {
            Detection::AllOf(items) => items.iter().all(|i| {
                if i.field.has_modifier(Modifier::FieldRef) {
                    return false;
                }
                match &i.field.name {
                    Some(n) => {
                        out.insert(n.clone());
                        true
                    }
                    None => false,
                }
            }),
            Detection::AnyOf(subs) | Detection::And(subs) => subs.iter().all(|s| walk(s, out)),
            Detection::ArrayMatch { field, body, .. } => {
                out.insert(field.clone());
                walk(body, out)
            }
            Detection::Conditional { named, .. } => named.values().all(|s| walk(s, out)),
            Detection::Keywords(_) => false,
        }
    }
    rule.detection.named.values().all(|d| walk(d, out))
}
