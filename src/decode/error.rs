//! Why a file could not be decoded. Every kind names the reason in words a user
//! can act on; the caller adds the file's path.

/// The reason a file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("corrupt gzip data: {0}")]
    CorruptGzip(String),
    #[error("truncated gzip data: the stream ends before its end marker")]
    TruncatedGzip,
    #[error("decompressed size exceeds the limit of {limit} bytes (--max-file-bytes); possible gzip bomb")]
    Oversized { limit: usize },
    #[error("invalid UTF-8 at byte {offset} of the decompressed content")]
    InvalidUtf8 { offset: usize },
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("the top-level JSON value is not an object (expected {{\"Records\":[...]}})")]
    NotAnObject,
    #[error("no \"Records\" key in the top-level object")]
    NoRecords,
    #[error("\"Records\" is not an array: {0}")]
    RecordsNotArray(String),
    #[error("record #{index} (0-based) in \"Records\" is not a JSON object: {detail}")]
    RecordNotObject { index: usize, detail: String },
}

impl DecodeError {
    /// A short, stable name of the kind, for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::CorruptGzip(_) => "corrupt_gzip",
            DecodeError::TruncatedGzip => "truncated_gzip",
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::NotJson(_) => "not_json",
            DecodeError::NotAnObject => "not_an_object",
            DecodeError::NoRecords => "no_records",
            DecodeError::RecordsNotArray(_) => "records_not_array",
            DecodeError::RecordNotObject { .. } => "record_not_object",
        }
    }
}
