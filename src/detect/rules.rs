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
    for rule in collection.rules {
        if !is_cloudtrail(&rule) {
            out.other_logsource += 1;
            continue;
        }
        out.rules.push((rule, name.clone()));
    }
    Ok(())
}

fn is_cloudtrail(rule: &SigmaRule) -> bool {
    let is =
        |v: &Option<String>, want: &str| v.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want));
    is(&rule.logsource.product, "aws") && is(&rule.logsource.service, "cloudtrail")
}
