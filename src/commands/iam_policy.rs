//! `trailpack iam-policy`: print the least-privilege IAM policy for a run.

use std::process::ExitCode;

use crate::cli::{IamPolicyArgs, UsageError};
use crate::location::Location;
use crate::permissions::{policy, GlueScope, PolicyScope, S3Scope};

pub fn run(args: &IamPolicyArgs) -> anyhow::Result<ExitCode> {
    let scope = scope(args)?;
    println!("{}", serde_json::to_string_pretty(&policy(&scope))?);
    Ok(ExitCode::SUCCESS)
}

fn s3(option: &str, value: &Option<String>) -> Result<Option<S3Scope>, UsageError> {
    let Some(v) = value else { return Ok(None) };
    match Location::parse(v).map_err(|e| UsageError(format!("{option}: {e}")))? {
        Location::Local(_) => Ok(None),
        Location::S3 { bucket, prefix } => Ok(Some(S3Scope { bucket, prefix })),
    }
}

/// What the run described by `args` touches.
pub fn scope(args: &IamPolicyArgs) -> Result<PolicyScope, UsageError> {
    let source = s3("--input", &args.input)?;
    let curated = s3("--output", &args.output)?;
    if source.is_none() && curated.is_none() {
        return Err(UsageError(
            "iam-policy: give --input and/or --output as s3://bucket/prefix".into(),
        ));
    }
    if args.glue.glue_database.is_some() && curated.is_none() {
        return Err(UsageError(
            "iam-policy: --glue-database needs an s3:// --output (the table's location)".into(),
        ));
    }
    let kms_arn = |k: &String| {
        if k.starts_with("arn:") {
            Ok(k.clone())
        } else {
            Err(UsageError(format!(
                "iam-policy: KMS key {k:?} must be given as a key ARN (a policy cannot name a key by id or alias)"
            )))
        }
    };
    Ok(PolicyScope {
        partition: args.aws_partition.clone(),
        glue: args.glue.glue_database.as_ref().map(|db| GlueScope {
            database: db.clone(),
            table: args.glue.glue_table.clone(),
            region: args.aws_region.clone(),
            account: args.account_id.clone(),
            projection: args.glue.glue_projection,
        }),
        source_kms_keys: args
            .trail_kms_key
            .iter()
            .map(kms_arn)
            .collect::<Result<_, _>>()?,
        curated_kms_keys: match &args.sse_kms_key_id {
            Some(k) if curated.is_some() => vec![kms_arn(k)?],
            _ => Vec::new(),
        },
        source,
        curated,
    })
}
