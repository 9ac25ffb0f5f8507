//! trailpack: AWS CloudTrail logs to compacted, sorted, query-ready Parquet.
//!
//! Modules, in the direction of their imports:
//! - [`schema`]: the column schema (`schema/cloudtrail.toml`) and its derived forms.
//! - [`layout`]: CloudTrail's delivery layout (paths, file names, days).
//! - [`decode`]: pure decoding of one file into an Arrow batch (no IO).
//! - [`detect`]: Sigma rules evaluated on curated rows (pure CPU).
//! - [`integrity`]: CloudTrail digest files, their signatures and chain, and the
//!   status of each log file (pure).
//! - [`location`], [`aws`], [`s3_client`]: folders or S3 prefixes; AWS configuration and the
//!   IO runtime; the S3 client and its errors.
//! - [`source`]: where input files come from (local folders, S3).
//! - [`partition`]: partitions and the day rule.
//! - [`manifest`]: the per-partition manifest that makes re-runs idempotent.
//! - [`encode`]: sorted row groups and parallel Parquet encoding.
//! - [`sink`]: staging and the conditional commit of partitions (local, S3).
//! - [`catalog`]: the Glue table (creation, evolution, partitions, projection).
//! - [`convert`]: the pipeline tying them together.
//! - [`sweep`]: detection rules over curated partitions or raw files (`detect`).
//! - [`trail_keys`]: CloudTrail's public keys (`ListPublicKeys`).
//! - [`verify`]: a delivery checked against its digest files (`verify`).
//! - [`interrupt`]: SIGTERM/SIGINT end a run early and cleanly.
//! - [`queries`]: the Athena query pack (`queries/*.sql`).
//! - [`permissions`]: the S3, Glue and KMS permissions a run needs (one list).
//! - [`cli`], [`commands`]: the command line.

pub mod aws;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod convert;
pub mod decode;
pub mod detect;
pub mod encode;
pub mod integrity;
pub mod interrupt;
pub mod layout;
pub mod location;
pub mod manifest;
pub mod partition;
pub mod permissions;
pub mod progress;
pub mod queries;
pub mod s3_client;
pub mod schema;
pub mod sink;
pub mod source;
pub mod sweep;
pub mod trail_keys;
pub mod verify;
