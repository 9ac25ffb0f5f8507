//! trailpack: AWS CloudTrail logs to compacted, sorted, query-ready Parquet.

pub mod decode;
pub mod layout;
pub mod schema;
