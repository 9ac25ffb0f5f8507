//! One module per subcommand: turn parsed arguments into library calls and print
//! the result.

pub mod convert;
pub mod iam_policy;
pub mod queries;
pub mod schema;
