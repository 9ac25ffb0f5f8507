//! CloudTrail files in S3.
//!
//! Listing walks the delivery layout level by level with `Delimiter=/` (org ids,
//! accounts, service folders, regions, years, months, days), descending only into
//! the accounts, regions and days the run needs, so building one day never lists a
//! whole organisation bucket. Every listing is fully paginated. Digest folders are
//! not listed. Downloads run on the IO runtime with bounded concurrency: the
//! converter announces the files it will read next (`prefetch`), and `read` waits
//! for a download already under way. A body cut short is retried, never decoded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{InputFile, ListFilter, Listing, Source, SourceError};
use crate::aws::Aws;
use crate::layout::{FileKind, LogPath};
use crate::s3::{client, S3Error};

/// Attempts for a download whose body is cut short (the SDK retries failed
/// requests itself; a body that ends early after a good response is ours to retry).
const BODY_ATTEMPTS: u32 = 6;

/// A download under way.
type Fetch = JoinHandle<Result<Vec<u8>, S3Error>>;

pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    rt: Arc<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    inflight: Mutex<HashMap<String, Fetch>>,
}

/// Where in the layout a prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/`.
    Top,
    /// Inside `AWSLogs/`: org ids or accounts.
    AwsLogs,
    /// Inside `o-…/`: accounts.
    Org,
    /// Inside `<account>/`: service folders.
    Account,
    /// Inside `CloudTrail*/`: regions.
    Service,
    /// Inside `<region>/`: years.
    Region,
    Year,
    Month,
    /// Inside `DD/`: the log files.
    Day,
}

fn is_account(c: &str) -> bool {
    c.len() == 12 && c.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(c: &str) -> bool {
    c.len() > 2 && c.starts_with("o-")
}

fn digits(c: &str, n: usize) -> Option<u32> {
    (c.len() == n && c.bytes().all(|b| b.is_ascii_digit()))
        .then(|| c.parse().ok())
        .flatten()
}

impl Level {
    /// The level below `component`, or `None` when the walk should not descend.
    fn below(self, component: &str, path: &[&str], filter: &ListFilter) -> Option<Level> {
        let account_ok =
            |a: &str| filter.accounts.is_empty() || filter.accounts.iter().any(|x| x == a);
        // Inclusive (year, month, day) bounds of the folders the run needs.
        let lo = filter
            .from
            .map(|d| (d.year() as u32, u8::from(d.month()) as u32, d.day() as u32));
        let hi = filter
            .to
            .map(|d| (d.year() as u32, u8::from(d.month()) as u32, d.day() as u32));
        let in_range = |y: u32, m: Option<u32>, d: Option<u32>| {
            let low = (y, m.unwrap_or(12), d.unwrap_or(31));
            let high = (y, m.unwrap_or(1), d.unwrap_or(1));
            lo.is_none_or(|l| low >= l) && hi.is_none_or(|h| high <= h)
        };
        match self {
            Level::Top => match component {
                "AWSLogs" => Some(Level::AwsLogs),
                // An empty segment (`logs//AWSLogs/…`) is still above AWSLogs.
                "" => Some(Level::Top),
                _ => None,
            },
            Level::AwsLogs if is_org(component) => Some(Level::Org),
            Level::AwsLogs | Level::Org if is_account(component) => {
                account_ok(component).then_some(Level::Account)
            }
            Level::Account => (component.starts_with("CloudTrail")
                && component != "CloudTrail-Digest")
                .then_some(Level::Service),
            Level::Service => (filter.regions.is_empty()
                || filter.regions.iter().any(|r| r == component))
            .then_some(Level::Region),
            Level::Region => digits(component, 4)
                .filter(|y| in_range(*y, None, None))
                .map(|_| Level::Year),
            Level::Year => {
                let y = digits(path.last()?, 4)?;
                digits(component, 2)
                    .filter(|m| in_range(y, Some(*m), None))
                    .map(|_| Level::Month)
            }
            Level::Month => {
                let y = digits(path.get(path.len().checked_sub(2)?)?, 4)?;
                let m = digits(path.last()?, 2)?;
                digits(component, 2)
                    .filter(|d| in_range(y, Some(m), Some(*d)))
                    .map(|_| Level::Day)
            }
            _ => None,
        }
    }
}

/// The level of a user-given prefix, found by walking its components.
fn start_level(prefix: &str, filter: &ListFilter) -> Level {
    let comps: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
    let mut level = Level::Top;
    for (i, c) in comps.iter().enumerate() {
        // Components above AWSLogs are just the bucket's own prefix.
        if level == Level::Top && *c != "AWSLogs" {
            continue;
        }
        level = match level.below(c, &comps[..i], &ListFilter::default()) {
            Some(l) => l,
            None => return level,
        };
    }
    let _ = filter;
    level
}

impl S3Source {
    pub fn new(aws: &Aws, bucket: &str, prefix: &str) -> S3Source {
        S3Source {
            client: client(aws),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            rt: aws.rt.clone(),
            permits: Arc::new(Semaphore::new(aws.opts.max_concurrent_requests.max(1))),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    async fn walk(&self, filter: &ListFilter) -> Result<Listing, S3Error> {
        let mut listing = Listing::default();
        let mut stack = vec![(self.prefix.clone(), start_level(&self.prefix, filter))];
        while let Some((prefix, level)) = stack.pop() {
            let delimiter = level != Level::Day;
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_delimiter(delimiter.then(|| "/".to_string()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| S3Error::new("ListObjectsV2", &self.bucket, &prefix, &e))?;
                for cp in page.common_prefixes() {
                    let Some(p) = cp.prefix() else { continue };
                    // The segment below `prefix`, exactly as the key has it (maybe
                    // empty: keys may hold `//`).
                    let Some(component) = p
                        .strip_prefix(prefix.as_str())
                        .and_then(|c| c.strip_suffix('/'))
                    else {
                        continue;
                    };
                    let parent: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
                    if let Some(next) = level.below(component, &parent, filter) {
                        stack.push((p.to_string(), next));
                    }
                }
                for obj in page.contents() {
                    let Some(key) = obj.key() else { continue };
                    match LogPath::parse(key) {
                        Some(log) if log.kind == FileKind::Events && filter.accepts(&log) => {
                            listing.files.push(InputFile {
                                location: key.to_string(),
                                object: format!("s3://{}/{key}", self.bucket),
                                key: log.canonical_key(),
                                size: obj.size().unwrap_or(0).max(0) as u64,
                                version: format!(
                                    "etag:{}",
                                    obj.e_tag().unwrap_or("").trim_matches('"')
                                ),
                                log,
                            });
                        }
                        Some(log) if log.kind == FileKind::WritabilityCheck => {
                            listing.writability_checks += 1
                        }
                        Some(_) => {}
                        None if key.ends_with(".json.gz") || key.ends_with(".json") => listing
                            .outside_layout
                            .push(format!("s3://{}/{key}", self.bucket)),
                        None => {}
                    }
                }
            }
        }
        listing.files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    fn spawn_fetch(&self, key: &str) -> Fetch {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let key = key.to_string();
        let permits = self.permits.clone();
        self.rt.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|e| S3Error::other("GetObject", &bucket, &key, e))?;
            fetch(&client, &bucket, &key).await
        })
    }
}

/// Download a whole object; retry when the body ends before its Content-Length.
async fn fetch(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, S3Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| S3Error::new("GetObject", bucket, key, &e))?;
        let expected = out.content_length();
        let body = out.body.collect().await.map(|b| b.to_vec());
        let failure = match body {
            Ok(bytes) if expected.is_none_or(|n| n as usize == bytes.len()) => return Ok(bytes),
            Ok(bytes) => format!(
                "body cut short: {} of {} bytes",
                bytes.len(),
                expected.unwrap_or_default()
            ),
            Err(e) => format!("reading the body: {e}"),
        };
        if attempt >= BODY_ATTEMPTS {
            return Err(S3Error::other("GetObject", bucket, key, failure));
        }
        tracing::debug!(bucket, key, attempt, "{failure}; retrying");
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
}

impl Source for S3Source {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn list(&self, filter: &ListFilter) -> Result<Listing, SourceError> {
        self.rt.block_on(self.walk(filter)).map_err(SourceError::S3)
    }

    fn prefetch(&self, files: &[&InputFile]) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for f in files {
            if !inflight.contains_key(&f.location) {
                let h = self.spawn_fetch(&f.location);
                inflight.insert(f.location.clone(), h);
            }
        }
    }

    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError> {
        let pending = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&file.location);
        let handle = pending.unwrap_or_else(|| self.spawn_fetch(&file.location));
        self.rt
            .block_on(handle)
            .map_err(|e| {
                SourceError::S3(S3Error::other("GetObject", &self.bucket, &file.location, e))
            })?
            .map_err(SourceError::S3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn levels_follow_the_layout_and_filters() {
        let f = ListFilter {
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            from: Some(date!(2024 - 03 - 05)),
            to: Some(date!(2024 - 03 - 06)),
        };
        assert_eq!(Level::Top.below("AWSLogs", &[], &f), Some(Level::AwsLogs));
        assert_eq!(Level::Top.below("other", &[], &f), None);
        assert_eq!(Level::AwsLogs.below("o-abc123", &[], &f), Some(Level::Org));
        assert_eq!(
            Level::Org.below("111122223333", &[], &f),
            Some(Level::Account)
        );
        assert_eq!(Level::Org.below("444455556666", &[], &f), None);
        assert_eq!(Level::Account.below("CloudTrail-Digest", &[], &f), None);
        assert_eq!(
            Level::Account.below("CloudTrail-Insight", &[], &f),
            Some(Level::Service)
        );
        assert_eq!(Level::Service.below("eu-west-1", &[], &f), None);
        assert_eq!(Level::Region.below("2024", &[], &f), Some(Level::Year));
        assert_eq!(Level::Region.below("2023", &[], &f), None);
        assert_eq!(Level::Year.below("03", &["2024"], &f), Some(Level::Month));
        assert_eq!(Level::Year.below("04", &["2024"], &f), None);
        assert_eq!(
            Level::Month.below("06", &["2024", "03"], &f),
            Some(Level::Day)
        );
        assert_eq!(Level::Month.below("07", &["2024", "03"], &f), None);
        assert_eq!(Level::Month.below("04", &["2024", "03"], &f), None);
        assert_eq!(start_level("curated/AWSLogs/o-abc123/", &f), Level::Org);
        assert_eq!(
            start_level("AWSLogs/111122223333/CloudTrail/", &f),
            Level::Service
        );
        assert_eq!(start_level("", &f), Level::Top);
    }
}
