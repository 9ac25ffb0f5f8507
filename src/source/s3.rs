//! CloudTrail files in S3.
//!
//! Discovery walks the delivery layout level by level with `Delimiter=/` (org ids,
//! accounts, service folders, regions) down to the region folders, descending only
//! into the accounts and regions the run needs; day folders are then listed by
//! their exact prefix, many at once (`list_days`), so a run lists only the days it
//! builds and never a year or a month. Every listing is fully paginated. Digest
//! folders are not listed. Downloads run on the IO runtime with bounded
//! concurrency: the converter announces the files it will read next (`prefetch`),
//! and `read` waits for a download already under way. A body cut short is retried,
//! never decoded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{OnceCell, Semaphore};

use time::Date;

use super::{
    DigestObject, Discovery, InputFile, ListFilter, Listing, Source, SourceError, TrailFolder,
};
use crate::aws::Aws;
use crate::layout::{day_folder, FileKind, LogPath};
use crate::s3_client::{client_for_bucket, S3Error};

/// Attempts for a download whose body is cut short (the SDK retries failed
/// requests itself; a body that ends early after a good response is ours to retry).
const BODY_ATTEMPTS: u32 = 6;

/// Folders listed at once while walking down to the trail folders.
const WALK_CONCURRENCY: usize = 32;

/// A download's outcome, set once by whichever task gets to it first.
type Fetched = Arc<OnceCell<Result<Vec<u8>, S3Error>>>;

/// A download under way and how many reads announced by `prefetch` still want it
/// (two partitions read the early files of a day: D+1 its own, D their late rows).
struct Pending {
    fetched: Fetched,
    readers: usize,
}

pub struct S3Source {
    /// The client, bucket and prefix (shared with listing tasks).
    lister: Arc<Lister>,
    rt: Arc<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    /// Listings under way at once (apart from downloads).
    list_permits: Arc<Semaphore>,
    inflight: Mutex<HashMap<String, Pending>>,
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
fn start_level(prefix: &str) -> Level {
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
    level
}

/// The trail folder a prefix is at or below (`…/AWSLogs/[o-…/]<account>/CloudTrail/<region>/…`),
/// its location cut after the region folder (empty segments kept as they are).
fn region_folder_of(prefix: &str) -> Option<TrailFolder> {
    let mut level = Level::Top;
    let mut account = "";
    let mut offset = 0;
    let mut parent: Vec<&str> = Vec::new();
    for c in prefix.split('/') {
        let end = offset + c.len();
        let complete = end < prefix.len();
        if complete && !c.is_empty() && !(level == Level::Top && c != "AWSLogs") {
            level = level.below(c, &parent, &ListFilter::default())?;
            match level {
                Level::Account => account = c,
                Level::Region => {
                    return Some(TrailFolder {
                        account: account.to_string(),
                        region: c.to_string(),
                        location: prefix[..=end].to_string(),
                    })
                }
                _ => {}
            }
        }
        if !c.is_empty() {
            parent.push(c);
        }
        offset = end + 1;
    }
    None
}

/// Lists the bucket (shared with the listing tasks).
struct Lister {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The user's prefix: nothing outside it is listed.
    prefix: String,
    /// ListObjectsV2 requests made.
    requests: AtomicU64,
}

impl Lister {
    /// One ListObjectsV2 listing of `prefix`, every page; `delimiter`: one level.
    async fn list_prefix(
        &self,
        prefix: &str,
        delimiter: bool,
    ) -> Result<(Vec<String>, Vec<aws_sdk_s3::types::Object>), S3Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.then(|| "/".to_string()))
            .into_paginator()
            .send();
        let (mut folders, mut objects) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| S3Error::new("ListObjectsV2", &self.bucket, prefix, &e))?;
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(str::to_string),
            );
            objects.extend(page.contents().iter().cloned());
        }
        Ok((folders, objects))
    }

    /// Walk the layout level by level from `starts` (prefixes at their level), calling
    /// `found` at each prefix the walk reaches at level `stop` (in no set order).
    /// Up to `WALK_CONCURRENCY` folders are listed at once: an organisation's
    /// accounts and their region folders are thousands of small listings.
    async fn walk_to(
        &self,
        starts: Vec<(String, Level)>,
        stop: Level,
        filter: &ListFilter,
        skipped: &mut Listing,
        found: &mut dyn FnMut(&str, &[&str]),
    ) -> Result<(), S3Error> {
        let mut frontier = starts;
        let mut listing = FuturesUnordered::new();
        loop {
            while listing.len() < WALK_CONCURRENCY {
                let Some((prefix, level)) = frontier.pop() else {
                    break;
                };
                if level == stop {
                    let parts: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
                    found(&prefix, &parts);
                    continue;
                }
                listing.push(async move {
                    let listed = self.list_prefix(&prefix, true).await;
                    (prefix, level, listed)
                });
            }
            let Some((prefix, level, listed)) = listing.next().await else {
                return Ok(());
            };
            let (folders, objects) = listed?;
            let parent: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
            for p in &folders {
                let Some(component) = p
                    .strip_prefix(prefix.as_str())
                    .and_then(|c| c.strip_suffix('/'))
                else {
                    continue;
                };
                if let Some(next) = level.below(component, &parent, filter) {
                    frontier.push((p.to_string(), next));
                }
            }
            for obj in &objects {
                if let Some(key) = obj.key() {
                    self.note_skipped(key, skipped);
                }
            }
        }
    }

    /// An object found above the day folders: counted as skipped.
    fn note_skipped(&self, key: &str, skipped: &mut Listing) {
        match LogPath::parse(key) {
            Some(log) if log.kind == FileKind::WritabilityCheck => skipped.writability_checks += 1,
            Some(_) => {}
            None if key.ends_with(".json.gz") || key.ends_with(".json") => skipped
                .outside_layout
                .push(format!("s3://{}/{key}", self.bucket)),
            None => {}
        }
    }

    /// The trail folders: the walk stops at the region folders. A prefix given at
    /// or below a region folder names its trail folder itself.
    async fn discover_folders(&self, filter: &ListFilter) -> Result<Discovery, S3Error> {
        let mut discovery = Discovery::default();
        if let Some(folder) = region_folder_of(&self.prefix) {
            if filter.accepts_folder(&folder.account, &folder.region) {
                discovery.folders.push(folder);
            }
            return Ok(discovery);
        }
        let mut folders = Vec::new();
        let start = (self.prefix.clone(), start_level(&self.prefix));
        self.walk_to(
            vec![start],
            Level::Region,
            filter,
            &mut discovery.skipped,
            &mut |prefix, parts| {
                if let [.., account, _service, region] = parts {
                    folders.push(TrailFolder {
                        account: account.to_string(),
                        region: region.to_string(),
                        location: prefix.to_string(),
                    });
                }
            },
        )
        .await?;
        folders.sort_by(|a, b| {
            (&a.account, &a.region, &a.location).cmp(&(&b.account, &b.region, &b.location))
        });
        discovery.skipped.outside_layout.sort();
        discovery.folders = folders;
        Ok(discovery)
    }

    /// List one day folder of a trail folder, within the user's prefix.
    async fn list_day(&self, folder: &TrailFolder, day: Date) -> Result<Listing, S3Error> {
        let mut listing = Listing::default();
        let day_prefix = format!("{}{}/", folder.location, day_folder(day));
        let prefix = if self.prefix.starts_with(&day_prefix) {
            self.prefix.clone()
        } else if day_prefix.starts_with(&self.prefix) {
            day_prefix
        } else {
            return Ok(listing);
        };
        let (_, objects) = self.list_prefix(&prefix, false).await?;
        for obj in objects {
            let Some(key) = obj.key() else { continue };
            match LogPath::parse(key) {
                Some(log) if log.kind == FileKind::Events && log.folder_day == day => {
                    listing.files.push(InputFile {
                        location: key.to_string(),
                        object: format!("s3://{}/{key}", self.bucket),
                        key: log.canonical_key(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                        version: format!("etag:{}", obj.e_tag().unwrap_or("").trim_matches('"')),
                        log,
                    })
                }
                Some(_) => {}
                None => self.note_skipped(key, &mut listing),
            }
        }
        Ok(listing)
    }
}

/// The `CloudTrail-Digest` folder beside a trail folder (`…/<account>/CloudTrail/<region>/`).
fn digest_folder(location: &str) -> Option<String> {
    let trimmed = location.strip_suffix('/')?;
    let (above, region) = trimmed.rsplit_once('/')?;
    let account = above.strip_suffix("/CloudTrail")?;
    Some(format!("{account}/CloudTrail-Digest/{region}/"))
}

impl Lister {
    /// The digest files of one day of a trail folder, read with their signatures.
    /// The digest folder is listed even outside the user's prefix: it is the trail
    /// folder's sibling.
    async fn digests_of_day(
        self: Arc<Self>,
        folder: TrailFolder,
        day: Date,
        permits: Arc<Semaphore>,
    ) -> Result<Vec<DigestObject>, S3Error> {
        let Some(digests) = digest_folder(&folder.location) else {
            return Ok(Vec::new());
        };
        let prefix = format!("{digests}{}/", day_folder(day));
        let (_, objects) = {
            let _permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| S3Error::other("ListObjectsV2", &self.bucket, &prefix, e))?;
            self.list_prefix(&prefix, false).await?
        };
        let mut reads = FuturesUnordered::new();
        for obj in objects {
            let Some(key) = obj.key().map(str::to_string) else {
                continue;
            };
            let Some(log) = LogPath::parse(&key).filter(|l| l.kind == FileKind::Digest) else {
                continue;
            };
            let (this, permits) = (self.clone(), permits.clone());
            reads.push(async move {
                let _permit = permits.acquire_owned().await;
                let fetched = fetch(&this.client, &this.bucket, &key).await;
                let (bytes, signature) = match fetched {
                    Ok((bytes, meta)) => (Ok(bytes), signature_of(meta.as_ref())),
                    Err(e) => (Err(e.to_string()), None),
                };
                DigestObject {
                    object: format!("s3://{}/{key}", this.bucket),
                    log,
                    bytes,
                    signature,
                }
            });
        }
        let mut out = Vec::new();
        while let Some(d) = reads.next().await {
            out.push(d);
        }
        Ok(out)
    }
}

/// A digest's signature from its object metadata.
fn signature_of(meta: Option<&HashMap<String, String>>) -> Option<(String, String)> {
    let meta = meta?;
    Some((
        meta.get("signature")?.clone(),
        meta.get("signature-algorithm")?.clone(),
    ))
}

impl S3Source {
    pub fn new(aws: &Aws, bucket: &str, prefix: &str) -> S3Source {
        S3Source {
            lister: Arc::new(Lister {
                client: client_for_bucket(aws, bucket),
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
                requests: AtomicU64::new(0),
            }),
            rt: aws.rt.clone(),
            permits: Arc::new(Semaphore::new(aws.opts.max_concurrent_requests.max(1))),
            list_permits: Arc::new(Semaphore::new(aws.opts.max_concurrent_requests.max(1))),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    async fn list_days_at_once(
        &self,
        wanted: Vec<(TrailFolder, Date)>,
    ) -> Result<Listing, S3Error> {
        let mut tasks = tokio::task::JoinSet::new();
        for (folder, day) in wanted {
            let permits = self.list_permits.clone();
            let this = self.lister.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.map_err(|e| {
                    S3Error::other("ListObjectsV2", &this.bucket, &folder.location, e)
                })?;
                this.list_day(&folder, day).await
            });
        }
        let mut listing = Listing::default();
        while let Some(done) = tasks.join_next().await {
            let part = done.map_err(|e| {
                S3Error::other("ListObjectsV2", &self.lister.bucket, &self.lister.prefix, e)
            })??;
            listing.absorb(part);
        }
        listing.files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    /// Start downloading `key` in the background.
    fn spawn_fetch(&self, key: &str) -> Fetched {
        let fetched: Fetched = Arc::new(OnceCell::new());
        let download = self.download(key, fetched.clone());
        self.rt.spawn(download);
        fetched
    }

    /// The download of `key` into `fetched` (once, whoever awaits it first).
    fn download(&self, key: &str, fetched: Fetched) -> impl Future<Output = ()> + Send + 'static {
        let client = self.lister.client.clone();
        let bucket = self.lister.bucket.clone();
        let key = key.to_string();
        let permits = self.permits.clone();
        async move {
            fetched
                .get_or_init(|| async {
                    let _permit = permits
                        .acquire_owned()
                        .await
                        .map_err(|e| S3Error::other("GetObject", &bucket, &key, e))?;
                    fetch(&client, &bucket, &key).await.map(|(bytes, _)| bytes)
                })
                .await;
        }
    }
}

/// An object's bytes and its user metadata.
type Object = (Vec<u8>, Option<HashMap<String, String>>);

/// Download a whole object; retry when the body ends before its Content-Length.
async fn fetch(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Object, S3Error> {
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
        let meta = out.metadata;
        let body = out.body.collect().await.map(|b| b.to_vec());
        let failure = match body {
            Ok(bytes) if expected.is_none_or(|n| n as usize == bytes.len()) => {
                return Ok((bytes, meta))
            }
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
        format!("s3://{}/{}", self.lister.bucket, self.lister.prefix)
    }

    fn discover(&self, filter: &ListFilter) -> Result<Discovery, SourceError> {
        self.rt
            .block_on(self.lister.discover_folders(filter))
            .map_err(SourceError::S3)
    }

    fn day_spans(
        &self,
        folders: &[TrailFolder],
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<Option<(Date, Date)>>, SourceError> {
        let filter = ListFilter {
            from,
            to,
            ..Default::default()
        };
        let index: HashMap<&str, usize> = folders
            .iter()
            .enumerate()
            .map(|(i, f)| (f.location.as_str(), i))
            .collect();
        let mut spans = vec![None; folders.len()];
        let mut skipped = Listing::default();
        let starts = folders
            .iter()
            .map(|f| (f.location.clone(), Level::Region))
            .collect();
        self.rt
            .block_on(self.lister.walk_to(
                starts,
                Level::Day,
                &filter,
                &mut skipped,
                &mut |prefix, parts| {
                    // `prefix` is the folder's location and `YYYY/MM/DD/`.
                    let folder = prefix.get(..prefix.len().saturating_sub(11));
                    if let ([.., y, m, d], Some(&i)) = (parts, folder.and_then(|f| index.get(f))) {
                        if let Some(day) = crate::layout::parse_ymd(y, m, d) {
                            super::widen(&mut spans[i], day);
                        }
                    }
                },
            ))
            .map_err(SourceError::S3)?;
        Ok(spans)
    }

    fn list_days(&self, wanted: &[(&TrailFolder, Date)]) -> Result<Listing, SourceError> {
        let wanted = wanted.iter().map(|(f, d)| ((*f).clone(), *d)).collect();
        self.rt
            .block_on(self.list_days_at_once(wanted))
            .map_err(SourceError::S3)
    }

    fn list_requests(&self) -> u64 {
        self.lister.requests.load(Ordering::Relaxed)
    }

    fn read_digests(
        &self,
        wanted: &[(&TrailFolder, Date)],
    ) -> Result<Vec<Vec<DigestObject>>, SourceError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (folder, day)) in wanted.iter().enumerate() {
            let (this, permits) = (self.lister.clone(), self.permits.clone());
            let day_read = this.digests_of_day((*folder).clone(), *day, permits);
            tasks.spawn_on(async move { (i, day_read.await) }, self.rt.handle());
        }
        self.rt
            .block_on(async {
                let mut out: Vec<Vec<DigestObject>> = wanted.iter().map(|_| Vec::new()).collect();
                while let Some(done) = tasks.join_next().await {
                    let (i, part) = done.map_err(|e| {
                        S3Error::other("GetObject", &self.lister.bucket, "digests", e)
                    })?;
                    let mut part = part?;
                    part.sort_by(|a, b| a.object.cmp(&b.object));
                    out[i] = part;
                }
                Ok(out)
            })
            .map_err(SourceError::S3)
    }

    /// Each call announces one read of each file: a file announced twice (by the
    /// builds of D and D+1) is downloaded once and kept until both have read it.
    fn prefetch(&self, files: &[&InputFile]) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for f in files {
            match inflight.get_mut(&f.location) {
                Some(p) => p.readers += 1,
                None => {
                    let fetched = self.spawn_fetch(&f.location);
                    inflight.insert(
                        f.location.clone(),
                        Pending {
                            fetched,
                            readers: 1,
                        },
                    );
                }
            }
        }
    }

    fn forget(&self, files: &[&InputFile]) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for f in files {
            if let Some(p) = inflight.get_mut(&f.location) {
                p.readers -= 1;
                if p.readers == 0 {
                    inflight.remove(&f.location);
                }
            }
        }
    }

    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError> {
        let announced = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get_mut(&file.location) {
                Some(p) if p.readers > 1 => {
                    p.readers -= 1;
                    Some(p.fetched.clone())
                }
                Some(_) => inflight.remove(&file.location).map(|p| p.fetched),
                None => None,
            }
        };
        let fetched = announced.unwrap_or_else(|| Arc::new(OnceCell::new()));
        self.rt
            .block_on(self.download(&file.location, fetched.clone()));
        // The last reader takes the bytes; an earlier one (or one racing the
        // background task's last reference) copies them.
        let result = match Arc::try_unwrap(fetched) {
            Ok(cell) => cell.into_inner(),
            Err(shared) => shared.get().cloned(),
        };
        result
            .unwrap_or_else(|| {
                Err(S3Error::other(
                    "GetObject",
                    &self.lister.bucket,
                    &file.location,
                    "download did not complete",
                ))
            })
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
        assert_eq!(start_level("curated/AWSLogs/o-abc123/"), Level::Org);
        assert_eq!(
            start_level("AWSLogs/111122223333/CloudTrail/"),
            Level::Service
        );
        assert_eq!(start_level(""), Level::Top);
    }
}
