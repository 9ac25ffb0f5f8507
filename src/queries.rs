//! The Athena query pack (`queries/*.sql`): questions security teams ask of
//! CloudTrail, written for the curated table, with parameters filled in on demand.
//!
//! A query file starts with a header of `-- key: value` comment lines:
//! `title`, `answers`, and one `param: name = default | help` per parameter. The body
//! uses `{{name}}` placeholders. Defaults `today` and `today-N` are days (UTC).

use time::{Date, Duration};

/// The embedded query files. A test checks this list against `queries/`.
pub const FILES: &[(&str, &str)] = &[
    (
        "access_denied_by_principal",
        include_str!("../queries/access_denied_by_principal.sql"),
    ),
    (
        "access_key_activity",
        include_str!("../queries/access_key_activity.sql"),
    ),
    (
        "console_logins_without_mfa",
        include_str!("../queries/console_logins_without_mfa.sql"),
    ),
    (
        "failed_assume_role",
        include_str!("../queries/failed_assume_role.sql"),
    ),
    (
        "failed_console_logins",
        include_str!("../queries/failed_console_logins.sql"),
    ),
    ("iam_changes", include_str!("../queries/iam_changes.sql")),
    (
        "new_regions_used",
        include_str!("../queries/new_regions_used.sql"),
    ),
    (
        "principal_activity_window",
        include_str!("../queries/principal_activity_window.sql"),
    ),
    (
        "root_account_usage",
        include_str!("../queries/root_account_usage.sql"),
    ),
    (
        "s3_bucket_policy_changes",
        include_str!("../queries/s3_bucket_policy_changes.sql"),
    ),
    (
        "security_control_tampering",
        include_str!("../queries/security_control_tampering.sql"),
    ),
    (
        "source_ip_activity",
        include_str!("../queries/source_ip_activity.sql"),
    ),
    (
        "top_api_calls_by_principal",
        include_str!("../queries/top_api_calls_by_principal.sql"),
    ),
    (
        "top_assume_role_callers",
        include_str!("../queries/top_assume_role_callers.sql"),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub default: String,
    pub help: String,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub name: &'static str,
    pub title: String,
    pub answers: String,
    pub params: Vec<Param>,
    /// The SQL, header removed, placeholders in place.
    pub body: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("no query named {0:?} (see `trailpack queries list`)")]
    Unknown(String),
    #[error("query {query} has no parameter {param:?}; it takes: {accepted}")]
    UnknownParam {
        query: String,
        param: String,
        accepted: String,
    },
    #[error("parameter {param}: {reason}")]
    BadValue { param: String, reason: String },
    #[error("query file {0}: {1}")]
    BadFile(String, String),
}

impl Query {
    fn parse(name: &'static str, text: &str) -> Result<Query, QueryError> {
        let bad = |m: &str| QueryError::BadFile(name.to_string(), m.to_string());
        let mut q = Query {
            name,
            title: String::new(),
            answers: String::new(),
            params: Vec::new(),
            body: String::new(),
        };
        let mut body = Vec::new();
        for line in text.lines() {
            let header = line.strip_prefix("-- ").and_then(|l| l.split_once(": "));
            match header {
                Some(("title", v)) if body.is_empty() => q.title = v.trim().to_string(),
                Some(("answers", v)) if body.is_empty() => q.answers = v.trim().to_string(),
                Some(("param", v)) if body.is_empty() => {
                    let (decl, help) = v
                        .split_once('|')
                        .ok_or_else(|| bad("param needs `| help`"))?;
                    let (pname, default) = decl
                        .split_once('=')
                        .ok_or_else(|| bad("param needs `name = default`"))?;
                    q.params.push(Param {
                        name: pname.trim().to_string(),
                        default: default.trim().to_string(),
                        help: help.trim().to_string(),
                    });
                }
                _ => body.push(line),
            }
        }
        q.body = body.join("\n").trim().to_string() + "\n";
        if q.title.is_empty() || q.answers.is_empty() {
            return Err(bad("missing title or answers"));
        }
        for p in &q.params {
            if !q.body.contains(&format!("{{{{{}}}}}", p.name)) {
                return Err(bad(&format!("parameter {} is not used", p.name)));
            }
        }
        Ok(q)
    }

    /// The SQL with parameters filled: `overrides` first, then defaults.
    pub fn render(
        &self,
        overrides: &[(String, String)],
        today: Date,
    ) -> Result<String, QueryError> {
        for (k, _) in overrides {
            if !self.params.iter().any(|p| &p.name == k) {
                return Err(QueryError::UnknownParam {
                    query: self.name.to_string(),
                    param: k.clone(),
                    accepted: self
                        .params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let mut sql = format!("-- {}: {}\n-- {}\n", self.name, self.title, self.answers);
        let mut body = self.body.clone();
        for p in &self.params {
            let raw = overrides
                .iter()
                .rev()
                .find(|(k, _)| k == &p.name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| p.default.clone());
            let value = resolve(&p.name, &raw, today)?;
            sql.push_str(&format!("-- {} = {}\n", p.name, value));
            body = body.replace(&format!("{{{{{}}}}}", p.name), &value);
        }
        sql.push_str(&body);
        Ok(sql)
    }
}

/// Check a parameter value and expand `today`/`today-N`.
fn resolve(name: &str, raw: &str, today: Date) -> Result<String, QueryError> {
    let bad = |reason: &str| QueryError::BadValue {
        param: name.to_string(),
        reason: reason.to_string(),
    };
    if let Some(rest) = raw.strip_prefix("today") {
        let days: i64 = match rest.strip_prefix('-') {
            Some(n) => n.parse().map_err(|_| bad("expected today or today-N"))?,
            None if rest.is_empty() => 0,
            None => return Err(bad("expected today or today-N")),
        };
        return Ok(crate::layout::day_string(today - Duration::days(days)));
    }
    let ok = match name {
        "table" => raw.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }),
        "limit" => raw.parse::<u32>().is_ok(),
        n if n.ends_with("_day") => crate::layout::parse_day(raw).is_some(),
        // Values go inside SQL string literals.
        _ => !raw.contains(['\'', '\\', '\n', ';']),
    };
    if !ok {
        let reason = match name {
            "table" => "expected table or database.table",
            "limit" => "expected a whole number",
            n if n.ends_with("_day") => "expected a date YYYY-MM-DD",
            _ => "quotes, backslashes, semicolons and newlines are not allowed",
        };
        return Err(bad(reason));
    }
    Ok(raw.to_string())
}

/// Every query of the pack, in name order.
pub fn all() -> Result<Vec<Query>, QueryError> {
    FILES.iter().map(|(n, t)| Query::parse(n, t)).collect()
}

/// One query by name.
pub fn get(name: &str) -> Result<Query, QueryError> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, t)| Query::parse(n, t))
        .unwrap_or_else(|| Err(QueryError::Unknown(name.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn every_file_of_queries_is_embedded_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/queries");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".sql")
                    .map(String::from)
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded, "queries/ and queries::FILES differ");
        for q in all().unwrap() {
            assert!(
                q.body.contains("day BETWEEN"),
                "{} must filter on day",
                q.name
            );
            assert!(
                !q.body.contains("SELECT *"),
                "{} must name its columns",
                q.name
            );
            let sql = q.render(&[], date!(2024 - 03 - 05)).unwrap();
            assert!(!sql.contains("{{"), "{}: unfilled placeholder", q.name);
        }
    }

    #[test]
    fn parameters() {
        let q = get("access_key_activity").unwrap();
        let sql = q
            .render(
                &[
                    ("access_key_id".into(), "AKIA1".into()),
                    ("from_day".into(), "today-3".into()),
                ],
                date!(2024 - 03 - 05),
            )
            .unwrap();
        assert!(sql.contains("useridentity_accesskeyid = 'AKIA1'"));
        assert!(sql.contains("BETWEEN '2024-03-02' AND '2024-03-05'"));
        assert!(matches!(
            q.render(&[("nope".into(), "1".into())], date!(2024 - 03 - 05)),
            Err(QueryError::UnknownParam { .. })
        ));
        assert!(matches!(
            q.render(
                &[("access_key_id".into(), "x'; DROP".into())],
                date!(2024 - 03 - 05)
            ),
            Err(QueryError::BadValue { .. })
        ));
        assert!(matches!(
            q.render(
                &[("from_day".into(), "2024-13-01".into())],
                date!(2024 - 03 - 05)
            ),
            Err(QueryError::BadValue { .. })
        ));
        assert!(matches!(get("nope"), Err(QueryError::Unknown(_))));
    }
}
