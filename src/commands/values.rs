//! Values of command-line options shared by several commands, and the error that
//! makes a command exit with code 2.

/// A usage or configuration error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parse a byte size: `1048576`, `64KiB`, `256MiB`, `1GiB`, `10MB`, `2G`.
pub fn parse_size(s: &str) -> Result<u64, UsageError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| UsageError(format!("invalid size {s:?} (e.g. 256MiB)")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => {
            return Err(UsageError(format!(
                "invalid size unit in {s:?} (use KiB, MiB, GiB)"
            )))
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| UsageError(format!("invalid size {s:?}")))
}

/// Parse a duration: `0`, `90s`, `90m`, `2h`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<time::Duration, UsageError> {
    let bad = || UsageError(format!("invalid duration {s:?} (e.g. 2h, 90m, 0)"));
    let t = s.trim();
    if t == "0" {
        return Ok(time::Duration::ZERO);
    }
    let mut total = 0i64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(time::Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("2h").unwrap(), time::Duration::hours(2));
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(parse_duration("0").unwrap(), time::Duration::ZERO);
        assert!(parse_duration("2 days").is_err());
        assert!(parse_duration("15").is_err());
    }
}

/// `--fail-on`: a Sigma rule level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LevelArg {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl LevelArg {
    /// Its rank in `detect::LEVELS`.
    pub fn rank(self) -> usize {
        self as usize
    }
}

/// Load `--rules` (exit 2 on a malformed rule); `None` without any.
pub fn load_rules(
    paths: &[std::path::PathBuf],
) -> Result<Option<std::sync::Arc<crate::detect::Detector>>, UsageError> {
    if paths.is_empty() {
        return Ok(None);
    }
    let d = crate::detect::Detector::load(paths, crate::schema::TableSchema::embedded())
        .map_err(|e| UsageError(format!("--rules: {e}")))?;
    let r = d.report();
    tracing::info!(
        files = r.files,
        loaded = r.loaded,
        skipped = r.skipped.len(),
        other_logsource = r.other_logsource,
        "rules loaded"
    );
    if r.loaded == 0 {
        return Err(UsageError(format!(
            "--rules: no CloudTrail rule could be loaded ({} files, {} skipped, {} for other log sources)",
            r.files,
            r.skipped.len(),
            r.other_logsource
        )));
    }
    Ok(Some(std::sync::Arc::new(d)))
}

/// Exit code 3 when findings at or above `fail_on` exist.
pub const FINDINGS_EXIT: u8 = 3;

/// `--day`/`--from`/`--to` and `--account`/`--region`, for commands that read an
/// existing delivery or output (`detect`, `verify`).
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only this day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY", conflicts_with_all = ["from", "to"])]
    pub day: Option<String>,

    /// First day (inclusive).
    #[arg(long, value_name = "DAY")]
    pub from: Option<String>,

    /// Last day (inclusive).
    #[arg(long, value_name = "DAY")]
    pub to: Option<String>,

    /// Only this account ID (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,

    /// Only this AWS region (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
}

impl FilterArgs {
    /// The accounts, regions and days selected.
    pub fn list_filter(&self) -> Result<crate::source::ListFilter, UsageError> {
        let (from, to) = parse_day_range(&self.day, &self.from, &self.to)?;
        Ok(crate::source::ListFilter {
            accounts: self.account.clone(),
            regions: self.region.clone(),
            from,
            to,
        })
    }
}

/// The source an `--input` location names (`aws` is set for an S3 location).
pub fn open_source(
    input: &crate::location::Location,
    aws: Option<&crate::aws::Aws>,
) -> Result<Box<dyn crate::source::Source>, UsageError> {
    use crate::location::Location;
    use crate::source::{local::LocalSource, s3::S3Source};
    match (input, aws) {
        (Location::S3 { bucket, prefix }, Some(aws)) => {
            Ok(Box::new(S3Source::new(aws, bucket, prefix)))
        }
        (Location::Local(p), _) => Ok(Box::new(
            LocalSource::new(p).map_err(|e| UsageError(format!("--input: {e}")))?,
        )),
        (Location::S3 { .. }, None) => Err(UsageError(format!(
            "--input {input}: an S3 location needs an AWS configuration"
        ))),
    }
}

/// The days of `--day D` (D to D), or of `--from`/`--to` (each may be open).
pub fn parse_day_range(
    day: &Option<String>,
    from: &Option<String>,
    to: &Option<String>,
) -> Result<(Option<time::Date>, Option<time::Date>), UsageError> {
    if day.is_some() {
        let d = parse_day_flag("--day", day)?;
        return Ok((d, d));
    }
    Ok((parse_day_flag("--from", from)?, parse_day_flag("--to", to)?))
}

/// A day option (`--day`, `--from`, `--to`): `YYYY-MM-DD`.
pub fn parse_day_flag(flag: &str, v: &Option<String>) -> Result<Option<time::Date>, UsageError> {
    v.as_deref()
        .map(|s| {
            crate::layout::parse_day(s)
                .ok_or_else(|| UsageError(format!("{flag} {s:?}: expected a date YYYY-MM-DD")))
        })
        .transpose()
}
