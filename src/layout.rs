//! CloudTrail's delivery layout:
//! `AWSLogs/[o-<orgid>/]<account>/<service>/<region>/<YYYY>/<MM>/<DD>/<file>`.
//!
//! Paths are parsed from their last components, so any root works: the folder
//! holding `AWSLogs`, `AWSLogs` itself, or a deeper folder.

use time::{Date, Month, PrimitiveDateTime, Time};

/// What a file under the layout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Event records (`CloudTrail`, `CloudTrail-NetworkActivity`, `CloudTrail-Insight`).
    Events,
    /// `CloudTrail-Digest` files: integrity digests, not events. Skipped.
    Digest,
    /// `ConfigWritabilityCheckFile` objects CloudTrail writes to test the bucket. Skipped.
    WritabilityCheck,
}

/// A file located in the delivery layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPath {
    pub org_id: Option<String>,
    pub account: String,
    /// Service folder, e.g. `CloudTrail` or `CloudTrail-Insight`.
    pub service: String,
    pub region: String,
    /// The date of the `YYYY/MM/DD` folder.
    pub folder_day: Date,
    /// Delivery time from the file name (`…_20240101T0005Z_…`), when it parses.
    pub name_time: Option<PrimitiveDateTime>,
    pub file_name: String,
    pub kind: FileKind,
}

impl LogPath {
    /// Parse a `/`-separated path (absolute, relative or an S3 key; empty segments,
    /// as in `logs//AWSLogs/…`, are not layout levels).
    /// Returns `None` when the path is not in the delivery layout.
    pub fn parse(path: &str) -> Option<LogPath> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        Self::from_parts(&parts)
    }

    /// Parse a path given as its components (a local path is never re-parsed from
    /// text). Account folders must be 12 digits and region folders lower-case
    /// letters, digits and hyphens: anything else is outside the layout and never
    /// becomes a partition value.
    pub fn from_parts(parts: &[&str]) -> Option<LogPath> {
        if parts.is_empty() {
            return None;
        }
        let file_name = parts[parts.len() - 1];
        if file_name.starts_with("ConfigWritabilityCheckFile") {
            // Lives at the top of the trail prefix, not in a day folder.
            return Some(LogPath {
                org_id: None,
                account: String::new(),
                service: String::new(),
                region: String::new(),
                folder_day: Date::MIN,
                name_time: None,
                file_name: file_name.to_string(),
                kind: FileKind::WritabilityCheck,
            });
        }
        if parts.len() < 7 {
            return None;
        }
        let n = parts.len();
        let (dd, mm, yyyy) = (parts[n - 2], parts[n - 3], parts[n - 4]);
        let region = parts[n - 5];
        let service = parts[n - 6];
        let account = parts[n - 7];
        let org_id = if n >= 8 && is_org_id(parts[n - 8]) {
            Some(parts[n - 8].to_string())
        } else {
            None
        };
        if !is_account(account) || !service.starts_with("CloudTrail") || !is_region(region) {
            return None;
        }
        let folder_day = parse_ymd(yyyy, mm, dd)?;
        let kind = if service == "CloudTrail-Digest" {
            FileKind::Digest
        } else {
            FileKind::Events
        };
        Some(LogPath {
            org_id,
            account: account.to_string(),
            service: service.to_string(),
            region: region.to_string(),
            folder_day,
            name_time: parse_name_time(file_name),
            file_name: file_name.to_string(),
            kind,
        })
    }

    /// The canonical key of the file, independent of the root the user chose:
    /// `AWSLogs/[o-…/]<account>/<service>/<region>/YYYY/MM/DD/<file>`.
    pub fn canonical_key(&self) -> String {
        let org = self
            .org_id
            .as_deref()
            .map(|o| format!("{o}/"))
            .unwrap_or_default();
        format!(
            "AWSLogs/{org}{}/{}/{}/{}/{}",
            self.account,
            self.service,
            self.region,
            day_folder(self.folder_day),
            self.file_name
        )
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS region name: lower-case letters, digits and hyphens, starting with a
/// letter (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
fn is_region(s: &str) -> bool {
    (2..=32).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.contains('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_org_id(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn parse_ymd(y: &str, m: &str, d: &str) -> Option<Date> {
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let y: i32 = y.parse().ok()?;
    let m: u8 = m.parse().ok()?;
    let d: u8 = d.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// `YYYY/MM/DD` folder of a date.
pub fn day_folder(d: Date) -> String {
    format!("{:04}/{:02}/{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `YYYY-MM-DD` form of a date (the `day` partition value).
pub fn day_string(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parse a `YYYY-MM-DD` day.
pub fn parse_day(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    parse_ymd(&s[0..4], &s[5..7], &s[8..10])
}

/// The delivery time in a CloudTrail file name:
/// `<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz`.
fn parse_name_time(name: &str) -> Option<PrimitiveDateTime> {
    name.split('_').find_map(|part| {
        let b = part.as_bytes();
        if b.len() != 14 || b[8] != b'T' || b[13] != b'Z' {
            return None;
        }
        let date = parse_ymd(&part[0..4], &part[4..6], &part[6..8])?;
        let hh: u8 = part[9..11].parse().ok()?;
        let mi: u8 = part[11..13].parse().ok()?;
        Some(PrimitiveDateTime::new(
            date,
            Time::from_hms(hh, mi, 0).ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn parses_plain_and_org_layouts_from_any_root() {
        let p = LogPath::parse(
            "/data/AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/111122223333_CloudTrail_eu-west-1_20240305T0010Z_abc.json.gz",
        )
        .unwrap();
        assert_eq!(p.account, "111122223333");
        assert_eq!(p.org_id, None);
        assert_eq!(p.region, "eu-west-1");
        assert_eq!(p.folder_day, date!(2024 - 03 - 05));
        assert_eq!(p.name_time, Some(datetime!(2024-03-05 00:10)));
        assert_eq!(p.kind, FileKind::Events);
        assert_eq!(
            p.canonical_key(),
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/111122223333_CloudTrail_eu-west-1_20240305T0010Z_abc.json.gz"
        );

        let o = LogPath::parse(
            "o-abc123/111122223333/CloudTrail-Insight/us-east-1/2024/03/05/x_CloudTrail-Insight_us-east-1_20240305T2355Z_q.json.gz",
        )
        .unwrap();
        assert_eq!(o.org_id.as_deref(), Some("o-abc123"));
        assert_eq!(o.service, "CloudTrail-Insight");
        assert_eq!(o.kind, FileKind::Events);
        assert!(o
            .canonical_key()
            .starts_with("AWSLogs/o-abc123/111122223333/"));

        let d = LogPath::parse(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T010000Z.json.gz",
        )
        .unwrap();
        assert_eq!(d.kind, FileKind::Digest);
    }

    #[test]
    fn rejects_other_paths() {
        for p in [
            "README.md",
            "AWSLogs/1111/CloudTrail/us-east-1/2024/03/05/f.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/13/05/f.json.gz",
            "AWSLogs/111122223333/Config/us-east-1/2024/03/05/f.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/3/5/f.json.gz",
        ] {
            assert_eq!(LogPath::parse(p), None, "{p}");
        }
        assert_eq!(
            LogPath::parse("AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile")
                .unwrap()
                .kind,
            FileKind::WritabilityCheck
        );
    }

    #[test]
    fn days() {
        assert_eq!(parse_day("2024-02-29"), Some(date!(2024 - 02 - 29)));
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2024-2-29"), None);
        assert_eq!(day_string(date!(2024 - 02 - 09)), "2024-02-09");
    }
}
