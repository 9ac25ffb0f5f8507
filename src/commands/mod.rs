//! One module per subcommand: each owns its arguments (clap structs), turns them
//! into library calls and prints the result. `cli` dispatches to them; they never
//! import `cli`.

pub mod convert;
pub mod detect;
pub mod iam_policy;
pub mod queries;
pub mod schema;
mod values;
pub mod verify;

pub use values::{
    load_rules, open_source, parse_day_flag, parse_day_range, parse_duration, parse_size,
    FilterArgs, LevelArg, UsageError, FINDINGS_EXIT,
};
