//! The AWS permissions a run needs: one list, kept beside the code that makes the calls.
//!
//! [`CALLS`] names every S3, Glue and CloudTrail API operation the code calls, the module that
//! calls it, the IAM action it needs and what it acts on. From it:
//! - `trailpack iam-policy` prints the least-privilege identity policy for a run;
//! - a unit test scans the source for SDK operation calls and fails when one is missing
//!   from the list or listed but no longer called;
//! - the deploy test checks that the CloudFormation task role grants exactly this
//!   policy, and an end-to-end test runs the binary against an S3/Glue server that
//!   enforces it.
//!
//! KMS is not called directly: reading an SSE-KMS object needs `kms:Decrypt` on its
//! key, writing one needs `kms:GenerateDataKey` (and `kms:Decrypt`, for multipart
//! uploads and for reading manifests back).

use serde_json::{json, Value};

/// What an action is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The trail's bucket, listing limited to the input prefix.
    SourceBucket,
    /// Objects under the input prefix.
    SourceObjects,
    /// The curated bucket, listing limited to the output prefix.
    CuratedBucket,
    /// Objects under the output prefix.
    CuratedObjects,
    /// The Glue catalog, database and table.
    Catalog,
    /// CloudTrail's public keys (`--verify-digests`, `verify`): ListPublicKeys has no
    /// resource-level permissions.
    TrailKeys,
}

/// One SDK operation the code calls.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// Source file (under `src/`) that makes the call.
    pub module: &'static str,
    /// The SDK's operation method (`list_objects_v2`).
    pub operation: &'static str,
    /// The IAM action it needs.
    pub action: &'static str,
    pub target: Target,
    /// Made only when partitions are registered (not with `--glue-projection`).
    pub registered_only: bool,
}

const fn call(
    module: &'static str,
    operation: &'static str,
    action: &'static str,
    target: Target,
) -> Call {
    Call {
        module,
        operation,
        action,
        target,
        registered_only: false,
    }
}

const fn registered(module: &'static str, operation: &'static str, action: &'static str) -> Call {
    Call {
        module,
        operation,
        action,
        target: Target::Catalog,
        registered_only: true,
    }
}

use Target::*;

const S3_CLIENT: &str = "s3_client.rs";
const SOURCE: &str = "source/s3.rs";
const SINK: &str = "sink/s3.rs";
const GLUE: &str = "catalog/glue.rs";
const KEYS: &str = "trail_keys.rs";

/// Every S3 and Glue operation trailpack calls.
pub const CALLS: &[Call] = &[
    // The region of each bucket (x-amz-bucket-region; answered even when denied).
    call(S3_CLIENT, "head_bucket", "s3:ListBucket", SourceBucket),
    // Reading the trail: walk the layout, download files.
    call(SOURCE, "list_objects_v2", "s3:ListBucket", SourceBucket),
    call(SOURCE, "get_object", "s3:GetObject", SourceObjects),
    // Writing the curated prefix: reachability check and listings of partitions.
    call(SINK, "list_objects_v2", "s3:ListBucket", CuratedBucket),
    // Manifests and the dataset settings read back; data files of a version whose
    // rows are carried over into a rebuild.
    call(SINK, "get_object", "s3:GetObject", CuratedObjects),
    // Data files; manifests and dataset settings (conditional: If-Match/If-None-Match).
    call(SINK, "put_object", "s3:PutObject", CuratedObjects),
    call(
        SINK,
        "create_multipart_upload",
        "s3:PutObject",
        CuratedObjects,
    ),
    call(SINK, "upload_part", "s3:PutObject", CuratedObjects),
    call(
        SINK,
        "complete_multipart_upload",
        "s3:PutObject",
        CuratedObjects,
    ),
    call(
        SINK,
        "abort_multipart_upload",
        "s3:AbortMultipartUpload",
        CuratedObjects,
    ),
    // Files of replaced or abandoned versions (garbage collection), retention.
    call(SINK, "delete_object", "s3:DeleteObject", CuratedObjects),
    // The table: created if missing, evolved, projection properties kept current.
    call(GLUE, "get_database", "glue:GetDatabase", Catalog),
    call(GLUE, "create_database", "glue:CreateDatabase", Catalog),
    call(GLUE, "get_table", "glue:GetTable", Catalog),
    call(GLUE, "create_table", "glue:CreateTable", Catalog),
    call(GLUE, "update_table", "glue:UpdateTable", Catalog),
    // Registered partitions.
    registered(GLUE, "batch_get_partition", "glue:BatchGetPartition"),
    registered(GLUE, "batch_create_partition", "glue:BatchCreatePartition"),
    registered(GLUE, "batch_update_partition", "glue:BatchUpdatePartition"),
    registered(GLUE, "batch_delete_partition", "glue:BatchDeletePartition"),
    // The keys that signed the digest files (validation of signed digests on S3).
    call(
        KEYS,
        "list_public_keys",
        "cloudtrail:ListPublicKeys",
        TrailKeys,
    ),
];

/// An S3 location the policy covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Scope {
    pub bucket: String,
    /// Empty, or ending with `/`.
    pub prefix: String,
}

/// The Glue table the policy covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueScope {
    pub database: String,
    pub table: String,
    /// Region and account of the catalog (`*` when not known).
    pub region: String,
    pub account: String,
    /// Partition projection: no partition API calls.
    pub projection: bool,
    /// The findings table kept beside the table (runs with `--rules`); its
    /// partitions are always registered.
    pub findings_table: Option<String>,
}

/// What a run touches; local folders have no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope {
    /// AWS partition of the ARNs (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    pub source: Option<S3Scope>,
    pub curated: Option<S3Scope>,
    pub glue: Option<GlueScope>,
    /// KMS keys (ARNs) the trail is encrypted with.
    pub source_kms_keys: Vec<String>,
    /// KMS key (ARN) the curated objects are encrypted with.
    pub curated_kms_keys: Vec<String>,
    /// Digest signatures are checked with keys asked of CloudTrail.
    pub trail_keys: bool,
}

/// The IAM actions needed on `target` (sorted, unique).
pub fn actions(target: Target, projection: bool) -> Vec<&'static str> {
    let mut a: Vec<&'static str> = CALLS
        .iter()
        .filter(|c| c.target == target && !(projection && c.registered_only))
        .map(|c| c.action)
        .collect();
    a.sort_unstable();
    a.dedup();
    a
}

fn one_or_many(mut v: Vec<String>) -> Value {
    if v.len() == 1 {
        Value::String(v.remove(0))
    } else {
        json!(v)
    }
}

fn statement(sid: &str, actions: Vec<&str>, resources: Vec<String>) -> Value {
    let actions: Vec<String> = actions.into_iter().map(str::to_string).collect();
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": one_or_many(actions),
        "Resource": one_or_many(resources),
    })
}

fn bucket_statement(sid: &str, p: &str, s: &S3Scope, target: Target) -> Value {
    let mut st = statement(
        sid,
        actions(target, false),
        vec![format!("arn:{p}:s3:::{}", s.bucket)],
    );
    if !s.prefix.is_empty() {
        st["Condition"] = json!({"StringLike": {"s3:prefix": [format!("{}*", s.prefix)]}});
    }
    st
}

fn objects(p: &str, s: &S3Scope) -> String {
    format!("arn:{p}:s3:::{}/{}*", s.bucket, s.prefix)
}

/// The least-privilege identity policy for a run over `scope`.
pub fn policy(scope: &PolicyScope) -> Value {
    let p = scope.partition.as_str();
    let mut statements = Vec::new();
    if let Some(s) = &scope.source {
        statements.push(bucket_statement("ListTrail", p, s, SourceBucket));
        statements.push(statement(
            "ReadTrail",
            actions(SourceObjects, false),
            vec![objects(p, s)],
        ));
    }
    if let Some(s) = &scope.curated {
        statements.push(bucket_statement("ListCurated", p, s, CuratedBucket));
        statements.push(statement(
            "WriteCurated",
            actions(CuratedObjects, false),
            vec![objects(p, s)],
        ));
    }
    if let Some(g) = &scope.glue {
        let base = format!("arn:{p}:glue:{}:{}", g.region, g.account);
        let mut resources = vec![
            format!("{base}:catalog"),
            format!("{base}:database/{}", g.database),
            format!("{base}:table/{}/{}", g.database, g.table),
        ];
        if let Some(f) = &g.findings_table {
            resources.push(format!("{base}:table/{}/{f}", g.database));
        }
        // The findings table's partitions are registered even in projection mode.
        let projection = g.projection && g.findings_table.is_none();
        statements.push(statement(
            "Catalog",
            actions(Catalog, projection),
            resources,
        ));
    }
    if scope.trail_keys {
        statements.push(statement(
            "PublicKeys",
            actions(TrailKeys, false),
            vec!["*".to_string()],
        ));
    }
    if !scope.source_kms_keys.is_empty() {
        statements.push(statement(
            "DecryptTrail",
            vec!["kms:Decrypt"],
            scope.source_kms_keys.clone(),
        ));
    }
    if !scope.curated_kms_keys.is_empty() {
        statements.push(statement(
            "EncryptCurated",
            vec!["kms:Decrypt", "kms:GenerateDataKey"],
            scope.curated_kms_keys.clone(),
        ));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// The operation names of an SDK crate: the modules under `src/operation/` of the
    /// version in Cargo.lock, in cargo's registry source cache.
    fn sdk_operations(krate: &str) -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lock: toml::Table = std::fs::read_to_string(root.join("Cargo.lock"))
            .expect("Cargo.lock")
            .parse()
            .expect("Cargo.lock is TOML");
        let version = lock["package"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"].as_str() == Some(krate))
            .and_then(|p| p["version"].as_str())
            .unwrap_or_else(|| panic!("{krate} in Cargo.lock"));
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
            .expect("CARGO_HOME or HOME");
        let registries = cargo_home.join("registry").join("src");
        let dir = std::fs::read_dir(&registries)
            .unwrap_or_else(|e| panic!("{}: {e}", registries.display()))
            .flatten()
            .map(|r| {
                r.path()
                    .join(format!("{krate}-{version}"))
                    .join("src")
                    .join("operation")
            })
            .find(|d| d.is_dir())
            .unwrap_or_else(|| panic!("{krate}-{version} sources under {}", registries.display()));
        let ops: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(ops.len() > 50, "{krate}: found {} operations", ops.len());
        ops
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Every `.operation()` call (no arguments) of an SDK operation in a file that
    /// uses that SDK, as (module, operation).
    fn calls_in_source() -> BTreeSet<(String, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let sdks = [
            ("aws_sdk_s3", sdk_operations("aws-sdk-s3")),
            ("aws_sdk_glue", sdk_operations("aws-sdk-glue")),
            ("aws_sdk_cloudtrail", sdk_operations("aws-sdk-cloudtrail")),
        ];
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut found = BTreeSet::new();
        for f in files {
            if f.ends_with("permissions.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("read source");
            let module = f
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            for (krate, ops) in &sdks {
                if !text.contains(krate) {
                    continue;
                }
                for op in ops {
                    if text.contains(&format!(".{op}()")) {
                        found.insert((module.clone(), op.clone()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn the_list_is_exactly_the_sdk_calls_in_the_code() {
        let listed: BTreeSet<(String, String)> = CALLS
            .iter()
            .map(|c| (c.module.to_string(), c.operation.to_string()))
            .collect();
        assert_eq!(listed.len(), CALLS.len(), "duplicate entries in CALLS");
        let called = calls_in_source();
        let missing: Vec<_> = called.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&called).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "SDK calls not in permissions::CALLS: {missing:?}; listed but not called: {stale:?}"
        );
    }

    #[test]
    fn actions_are_iam_names_of_their_service() {
        for c in CALLS {
            let service = match c.module {
                GLUE => "glue:",
                KEYS => "cloudtrail:",
                _ => "s3:",
            };
            assert!(c.action.starts_with(service), "{c:?}");
            let name = &c.action[service.len()..];
            assert!(
                name.chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_uppercase()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn policy_scopes_each_grant() {
        let scope = PolicyScope {
            partition: "aws".into(),
            source: Some(S3Scope {
                bucket: "trail".into(),
                prefix: "AWSLogs/".into(),
            }),
            curated: Some(S3Scope {
                bucket: "lake".into(),
                prefix: String::new(),
            }),
            glue: Some(GlueScope {
                database: "security".into(),
                table: "cloudtrail".into(),
                region: "eu-west-1".into(),
                account: "111122223333".into(),
                projection: true,
                findings_table: None,
            }),
            source_kms_keys: vec!["arn:aws:kms:eu-west-1:111122223333:key/a".into()],
            curated_kms_keys: vec![],
            trail_keys: true,
        };
        let p = policy(&scope);
        let st = p["Statement"].as_array().unwrap();
        let sids: Vec<&str> = st.iter().map(|s| s["Sid"].as_str().unwrap()).collect();
        assert_eq!(
            sids,
            [
                "ListTrail",
                "ReadTrail",
                "ListCurated",
                "WriteCurated",
                "Catalog",
                "PublicKeys",
                "DecryptTrail"
            ]
        );
        assert_eq!(st[0]["Resource"], "arn:aws:s3:::trail");
        assert_eq!(
            st[0]["Condition"]["StringLike"]["s3:prefix"],
            json!(["AWSLogs/*"])
        );
        assert!(st[2].get("Condition").is_none(), "no prefix, no condition");
        assert_eq!(st[3]["Resource"], "arn:aws:s3:::lake/*");
        assert_eq!(
            st[3]["Action"],
            json!([
                "s3:AbortMultipartUpload",
                "s3:DeleteObject",
                "s3:GetObject",
                "s3:PutObject"
            ])
        );
        let glue: Vec<&str> = st[4]["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            glue.contains(&"glue:UpdateTable") && !glue.iter().any(|a| a.contains("Partition")),
            "{glue:?}"
        );
        assert_eq!(
            st[4]["Resource"][2],
            "arn:aws:glue:eu-west-1:111122223333:table/security/cloudtrail"
        );
        assert_eq!(st[5]["Action"], "cloudtrail:ListPublicKeys");
        assert_eq!(st[5]["Resource"], "*");
        assert_eq!(st[6]["Action"], "kms:Decrypt");
    }
}
