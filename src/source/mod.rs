//! Where CloudTrail files come from: a local folder or S3.
//!
//! A source is listed in two steps, so a run lists only the day folders it builds:
//! [`Source::discover`] finds the trail folders (one account/region of one trail
//! prefix: `AWSLogs/[o-…/]<account>/CloudTrail/<region>/`), and
//! [`Source::list_days`] lists chosen day folders of them, many at once on S3, with
//! each file's size and a version stamp that changes when the content does.
//! [`Source::days`] finds which day folders exist, for runs without a day range.

pub mod local;
pub mod s3;

use time::Date;

use crate::layout::LogPath;

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Where to read it: a filesystem path, or an object key.
    pub location: String,
    /// Canonical layout key (`AWSLogs/…`), independent of the chosen root.
    pub key: String,
    /// The delivered object as rows name it (`source_object`): `s3://bucket/key`,
    /// or the canonical key of a local file.
    pub object: String,
    pub size: u64,
    /// Changes when the content changes: modification time locally, ETag on S3.
    pub version: String,
    pub log: LogPath,
}

/// A digest file as read, with its signature when the source carries it.
#[derive(Debug)]
pub struct DigestObject {
    /// `s3://bucket/key`, or the `AWSLogs/…` key of a local file.
    pub object: String,
    pub log: LogPath,
    /// The file's bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
    /// The object's `signature` and `signature-algorithm` metadata (S3 only).
    pub signature: Option<(String, String)>,
}

/// The region folder of one account/region under one trail prefix. An account and
/// region can have several (an organisation trail and an account trail in one
/// bucket); their files form one partition per day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrailFolder {
    pub account: String,
    pub region: String,
    /// Where the folder is: an S3 prefix ending in `/`, or a local path.
    pub location: String,
}

/// What discovery found: the trail folders, and what it skipped on the way.
#[derive(Debug, Default)]
pub struct Discovery {
    pub folders: Vec<TrailFolder>,
    /// Skipped items seen while discovering (`files` is empty).
    pub skipped: Listing,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Only these regions (empty: all).
    pub regions: Vec<String>,
    /// Only day folders in this inclusive range.
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl ListFilter {
    /// Whether the filter's accounts and regions take this account/region.
    pub fn accepts_folder(&self, account: &str, region: &str) -> bool {
        (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
    }

    /// Whether the filter's days take this day.
    pub fn accepts_day(&self, day: Date) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }

    pub fn accepts(&self, log: &LogPath) -> bool {
        self.accepts_folder(&log.account, &log.region) && self.accepts_day(log.folder_day)
    }
}

/// The result of listing a source.
#[derive(Debug, Default)]
pub struct Listing {
    /// Event files matching the filter, sorted by key.
    pub files: Vec<InputFile>,
    /// `CloudTrail-Digest` files seen (skipped).
    pub digest_files: u64,
    /// `ConfigWritabilityCheckFile` objects seen (skipped).
    pub writability_checks: u64,
    /// Files outside the delivery layout (skipped), as found: wrong folder shape, an
    /// account that is not 12 digits, a region folder that is not a region name, a
    /// file name that is not UTF-8.
    pub outside_layout: Vec<String>,
    /// Symbolic links found and not followed.
    pub links_skipped: Vec<String>,
    /// Folders or files that could not be read while listing, with the reason.
    pub unreadable: Vec<String>,
}

/// Errors of a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("input {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("input {path} is not a folder")]
    NotAFolder { path: String },
    #[error(transparent)]
    S3(crate::s3_client::S3Error),
}

impl Listing {
    /// Add `other`'s files and skipped items to this listing.
    pub fn absorb(&mut self, other: Listing) {
        self.files.extend(other.files);
        self.digest_files += other.digest_files;
        self.writability_checks += other.writability_checks;
        self.outside_layout.extend(other.outside_layout);
        self.links_skipped.extend(other.links_skipped);
        self.unreadable.extend(other.unreadable);
    }
}

/// A place CloudTrail files are read from.
pub trait Source: Send + Sync {
    /// Human-readable root, for messages.
    fn describe(&self) -> String;
    /// The trail folders whose account and region pass `filter` (its days bound
    /// what a local walk counts as skipped; S3 discovery stops above the years).
    fn discover(&self, filter: &ListFilter) -> Result<Discovery, SourceError>;
    /// For each folder, its first and last day folder within `[from, to]` (`None`:
    /// it has none). The folders' years, months and days are listed, all at once.
    fn day_spans(
        &self,
        folders: &[TrailFolder],
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<Option<(Date, Date)>>, SourceError>;
    /// List the event files of these day folders (each given once; a missing
    /// folder has none), sorted by key.
    fn list_days(&self, wanted: &[(&TrailFolder, Date)]) -> Result<Listing, SourceError>;
    /// Listing requests made so far (S3 ListObjectsV2 calls).
    fn list_requests(&self) -> u64 {
        0
    }
    /// Read the digest files of these day folders: the `CloudTrail-Digest` folder
    /// beside each trail folder, with the digests' signatures where the source keeps
    /// them; one list per folder-day asked, in the order asked. A digest that cannot
    /// be read is returned with the reason.
    fn read_digests(
        &self,
        wanted: &[(&TrailFolder, Date)],
    ) -> Result<Vec<Vec<DigestObject>>, SourceError>;
    /// Read a whole file.
    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError>;
    /// The files that will be read next, so a remote source can start fetching.
    /// Each call announces one read of each file (a file may be announced by two
    /// builds); announce a file once per build that reads it.
    fn prefetch(&self, _files: &[&InputFile]) {}
    /// Announced reads that will not happen (a build that stopped early).
    fn forget(&self, _files: &[&InputFile]) {}
}

/// Every day of each folder's span (first and last day, inclusive), with its folder.
pub fn span_days<'f>(
    folders: &'f [TrailFolder],
    spans: &[Option<(Date, Date)>],
) -> Vec<(&'f TrailFolder, Date)> {
    folders
        .iter()
        .zip(spans)
        .filter_map(|(f, span)| span.map(|(a, b)| (f, a, b)))
        .flat_map(|(f, a, b)| {
            std::iter::successors(Some(a), |d| d.next_day())
                .take_while(move |d| *d <= b)
                .map(move |d| (f, d))
        })
        .collect()
}

/// Widen `span` to include `day`.
pub fn widen(span: &mut Option<(Date, Date)>, day: Date) {
    *span = Some(match *span {
        Some((a, b)) => (a.min(day), b.max(day)),
        None => (day, day),
    });
}
