//! Where CloudTrail files come from: a local folder or S3. A source lists the files
//! of the delivery layout (with size and a version stamp that changes when the
//! content does) and reads a file's bytes.

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
    pub fn accepts(&self, log: &LogPath) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&log.account))
            && (self.regions.is_empty() || self.regions.contains(&log.region))
            && self.from.is_none_or(|f| log.folder_day >= f)
            && self.to.is_none_or(|t| log.folder_day <= t)
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
    S3(crate::s3::S3Error),
}

/// A place CloudTrail files are read from.
pub trait Source: Send + Sync {
    /// Human-readable root, for messages.
    fn describe(&self) -> String;
    /// List the event files of the layout that pass `filter`.
    fn list(&self, filter: &ListFilter) -> Result<Listing, SourceError>;
    /// Read a whole file.
    fn read(&self, file: &InputFile) -> Result<Vec<u8>, SourceError>;
    /// The files that will be read next, so a remote source can start fetching.
    fn prefetch(&self, _files: &[&InputFile]) {}
}
