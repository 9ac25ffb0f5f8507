//! `trailpack iam-policy`: print the least-privilege IAM policy for a run.

use std::process::ExitCode;

use clap::Args;

use super::convert::GlueArgs;
use super::UsageError;
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
            findings_table: args.with_findings.then(|| {
                args.glue
                    .glue_findings_table
                    .clone()
                    .unwrap_or_else(|| format!("{}_findings", args.glue.glue_table))
            }),
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
        trail_keys: args.with_digests,
        source,
        curated,
    })
}

pub const IAM_POLICY_AFTER_HELP: &str = "\
The policy grants exactly the S3, Glue and CloudTrail actions trailpack calls (one list in the code,
checked against its SDK calls): ListBucket limited to the input and output prefixes,
GetObject on the input, Get/Put/DeleteObject and AbortMultipartUpload on the output, the
Glue actions on the catalog, database and table (no partition actions with
--glue-projection), cloudtrail:ListPublicKeys with --with-digests, and KMS for the given
keys. Local folders need no statement.

The options read the same TRAILPACK_* environment variables as convert/daily/backfill,
so in a configured task `trailpack iam-policy` prints the policy of its own run.

Example:
  trailpack iam-policy --input s3://my-org-trail/AWSLogs/ --output s3://my-lake/cloudtrail/ \\
    --glue-database security --aws-region eu-west-1 --account-id 111122223333 \\
    --trail-kms-key arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// CloudTrail logs the run reads (s3://bucket/prefix; a folder adds nothing).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub input: Option<String>,

    /// Curated output the run writes (s3://bucket/prefix; a folder adds nothing).
    #[arg(long, value_name = "DIR|S3_URI")]
    pub output: Option<String>,

    #[command(flatten)]
    pub glue: GlueArgs,

    /// The run evaluates --rules: also allow its Glue findings table
    /// (--glue-findings-table, default <glue-table>_findings).
    #[arg(long, requires = "glue_database")]
    pub with_findings: bool,

    /// The run checks signed digests (--verify-digests or `verify` on S3, keys not
    /// given with --public-keys): also allow cloudtrail:ListPublicKeys. The digest
    /// folders (AWSLogs/…/CloudTrail-Digest/) must be under the --input prefix.
    #[arg(long, env = "TRAILPACK_VERIFY_DIGESTS")]
    pub with_digests: bool,

    /// Region of the Glue catalog (default: any, `*`).
    #[arg(long, value_name = "REGION", default_value = "*")]
    pub aws_region: String,

    /// AWS account of the Glue catalog (default: any, `*`).
    #[arg(long, value_name = "ID", default_value = "*")]
    pub account_id: String,

    /// AWS partition of the ARNs.
    #[arg(long, value_name = "PARTITION", default_value = "aws")]
    pub aws_partition: String,

    /// KMS key ARN the trail is encrypted with (kms:Decrypt; repeatable).
    #[arg(long, value_name = "ARN")]
    pub trail_kms_key: Vec<String>,

    /// KMS key ARN the run encrypts written objects with (kms:GenerateDataKey, kms:Decrypt).
    #[arg(long, value_name = "ARN")]
    pub sse_kms_key_id: Option<String>,
}
