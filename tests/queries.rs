//! The Athena query pack and the compatibility view: every query parses as Trino
//! SQL, is translated to DuckDB by sqlglot and answers known questions over the
//! Parquet output of a crafted fixture day.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

const A: &str = "111122223333";

fn ev(id: &str, time: &str, identity: Value, source: &str, name: &str) -> Value {
    json!({"eventVersion": "1.08", "userIdentity": identity, "eventTime": time, "eventSource": source,
           "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
           "userAgent": "aws-cli/2", "requestParameters": null, "responseElements": null,
           "requestID": format!("req-{id}"), "eventID": id, "eventType": "AwsApiCall",
           "recipientAccountId": A})
}

fn user(name: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{name}"), "arn": format!("arn:aws:iam::{A}:user/{name}"),
           "accountId": A, "accessKeyId": format!("AKIA{}", name.to_uppercase()), "userName": name})
}

fn ops_session() -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAOPS:s1", "arn": format!("arn:aws:sts::{A}:assumed-role/Ops/s1"),
           "accountId": A, "accessKeyId": "ASIAOPS",
           "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAOPS", "arn": format!("arn:aws:iam::{A}:role/Ops"),
                              "accountId": A, "userName": "Ops"},
                              "attributes": {"creationDate": "2024-03-05T09:00:00Z", "mfaAuthenticated": "true"},
                              "webIdFederationData": {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/x", "attributes": {"aud": "sts"}}}})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// The fixture: one day (2024-03-05) with a known answer for every query, plus a
/// baseline day (2024-03-04) for "new regions".
fn fixture() -> Tree {
    let mut t = Tree::new();
    let root = json!({"type": "Root", "principalId": A, "arn": format!("arn:aws:iam::{A}:root"), "accountId": A});
    let day: Vec<Value> = vec![
        ev(
            "root-1",
            "2024-03-05T08:00:00Z",
            root.clone(),
            "iam.amazonaws.com",
            "GetAccountSummary",
        ),
        with(
            ev(
                "root-svc",
                "2024-03-05T08:01:00Z",
                with(root, json!({"invokedBy": "support.amazonaws.com"})),
                "iam.amazonaws.com",
                "ListUsers",
            ),
            json!({}),
        ),
        with(
            ev(
                "login-alice",
                "2024-03-05T08:10:00Z",
                user("alice"),
                "signin.amazonaws.com",
                "ConsoleLogin",
            ),
            json!({"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}}),
        ),
        with(
            ev(
                "login-bob",
                "2024-03-05T08:11:00Z",
                user("bob"),
                "signin.amazonaws.com",
                "ConsoleLogin",
            ),
            json!({"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "Yes"}}),
        ),
        with(
            ev(
                "login-m1",
                "2024-03-05T08:12:00Z",
                user("mallory"),
                "signin.amazonaws.com",
                "ConsoleLogin",
            ),
            json!({"eventType": "AwsConsoleSignIn", "sourceIPAddress": "203.0.113.9", "errorMessage": "Failed authentication",
                    "responseElements": {"ConsoleLogin": "Failure"}, "additionalEventData": {"MFAUsed": "No"}}),
        ),
        with(
            ev(
                "login-m2",
                "2024-03-05T08:13:00Z",
                user("mallory"),
                "signin.amazonaws.com",
                "ConsoleLogin",
            ),
            json!({"eventType": "AwsConsoleSignIn", "sourceIPAddress": "203.0.113.9", "errorMessage": "Failed authentication",
                    "responseElements": {"ConsoleLogin": "Failure"}, "additionalEventData": {"MFAUsed": "No"}}),
        ),
        with(
            ev(
                "deny-1",
                "2024-03-05T10:00:00Z",
                ops_session(),
                "s3.amazonaws.com",
                "GetObject",
            ),
            json!({"errorCode": "AccessDenied", "readOnly": true}),
        ),
        with(
            ev(
                "deny-2",
                "2024-03-05T10:30:00Z",
                ops_session(),
                "s3.amazonaws.com",
                "GetObject",
            ),
            json!({"errorCode": "AccessDenied", "readOnly": true}),
        ),
        with(
            ev(
                "deny-3",
                "2024-03-05T11:30:00Z",
                ops_session(),
                "ec2.amazonaws.com",
                "RunInstances",
            ),
            json!({"errorCode": "Client.UnauthorizedOperation"}),
        ),
        with(
            ev(
                "ar-fail",
                "2024-03-05T09:00:00Z",
                user("bob"),
                "sts.amazonaws.com",
                "AssumeRole",
            ),
            json!({"errorCode": "AccessDenied", "requestParameters": {"roleArn": format!("arn:aws:iam::{A}:role/Admin")}}),
        ),
        with(
            ev(
                "ar-1",
                "2024-03-05T09:01:00Z",
                user("alice"),
                "sts.amazonaws.com",
                "AssumeRole",
            ),
            json!({"requestParameters": {"roleArn": format!("arn:aws:iam::{A}:role/Admin")}}),
        ),
        with(
            ev(
                "ar-2",
                "2024-03-05T09:02:00Z",
                user("alice"),
                "sts.amazonaws.com",
                "AssumeRole",
            ),
            json!({"requestParameters": {"roleArn": format!("arn:aws:iam::{A}:role/Admin")}}),
        ),
        with(
            ev(
                "ar-3",
                "2024-03-05T09:03:00Z",
                user("carol"),
                "sts.amazonaws.com",
                "AssumeRole",
            ),
            json!({"requestParameters": {"roleArn": format!("arn:aws:iam::{A}:role/ReadOnly")}}),
        ),
        ev(
            "dave-1",
            "2024-03-05T12:00:00Z",
            user("dave"),
            "ec2.amazonaws.com",
            "DescribeInstances",
        ),
        ev(
            "dave-2",
            "2024-03-05T12:01:00Z",
            user("dave"),
            "ec2.amazonaws.com",
            "DescribeInstances",
        ),
        ev(
            "dave-3",
            "2024-03-05T12:02:00Z",
            user("dave"),
            "ec2.amazonaws.com",
            "DescribeInstances",
        ),
        with(
            ev(
                "iam-1",
                "2024-03-05T13:00:00Z",
                user("alice"),
                "iam.amazonaws.com",
                "CreateAccessKey",
            ),
            json!({"requestParameters": {"userName": "bob"}}),
        ),
        with(
            ev(
                "iam-fail",
                "2024-03-05T13:01:00Z",
                user("alice"),
                "iam.amazonaws.com",
                "CreateUser",
            ),
            json!({"errorCode": "EntityAlreadyExists", "requestParameters": {"userName": "bob"}}),
        ),
        with(
            ev(
                "tamper-1",
                "2024-03-05T14:00:00Z",
                ops_session(),
                "cloudtrail.amazonaws.com",
                "StopLogging",
            ),
            json!({"requestParameters": {"name": "org-trail"}}),
        ),
        ev(
            "tamper-2",
            "2024-03-05T14:01:00Z",
            ops_session(),
            "guardduty.amazonaws.com",
            "DeleteDetector",
        ),
        with(
            ev(
                "s3pol",
                "2024-03-05T15:00:00Z",
                user("alice"),
                "s3.amazonaws.com",
                "PutBucketPolicy",
            ),
            json!({"requestParameters": {"bucketName": "b1", "policy": "{}"}}),
        ),
    ];
    t.file(None, A, "us-east-1", "2024-03-05", "1600", &day);
    t.file(
        None,
        A,
        "eu-west-1",
        "2024-03-05",
        "1600",
        &[with(
            ev(
                "euw-1",
                "2024-03-05T15:30:00Z",
                user("erin"),
                "ec2.amazonaws.com",
                "DescribeRegions",
            ),
            json!({"awsRegion": "eu-west-1"}),
        )],
    );
    t.file(
        None,
        A,
        "us-east-1",
        "2024-03-04",
        "1200",
        &[ev(
            "base-1",
            "2024-03-04T11:00:00Z",
            user("dave"),
            "ec2.amazonaws.com",
            "DescribeInstances",
        )],
    );
    let (code, _, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    t
}

/// Render a query with parameters and run it (Trino → DuckDB) over `out`.
fn run_query(out: &Path, name: &str, params: &[(&str, &str)]) -> Vec<Value> {
    let mut args = vec!["queries".to_string(), "show".to_string(), name.to_string()];
    let mut all = vec![("from_day", "2024-03-05"), ("to_day", "2024-03-05")];
    all.extend_from_slice(params);
    for (k, v) in all {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    let o = trailpack(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.sql"));
    std::fs::write(&file, stdout(&o)).unwrap();
    trino(out, &[&file])
}

fn trino(out: &Path, files: &[&Path]) -> Vec<Value> {
    let mut cmd = std::process::Command::new(python());
    cmd.arg(repo().join("tests/py/trailcheck.py"))
        .arg("trino")
        .arg(out);
    for f in files {
        cmd.arg(f);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn col(rows: &[Value], c: &str) -> Vec<Value> {
    rows.iter().map(|r| r[c].clone()).collect()
}

#[test]
fn every_query_answers_its_question() {
    let t = fixture();
    let out = t.output();
    let arn = |s: &str| format!("arn:aws:iam::{A}:{s}");
    let ops = format!("arn:aws:sts::{A}:assumed-role/Ops/s1");

    let r = run_query(&out, "root_account_usage", &[]);
    assert_eq!(col(&r, "eventname"), [json!("GetAccountSummary")]);
    assert_eq!(r[0]["account"], A);

    let r = run_query(&out, "console_logins_without_mfa", &[]);
    assert_eq!(col(&r, "useridentity_arn"), [json!(arn("user/alice"))]);

    let r = run_query(&out, "failed_console_logins", &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0]["principal"].clone(),
            r[0]["sourceipaddress"].clone(),
            r[0]["failures"].clone()
        ),
        (json!(arn("user/mallory")), json!("203.0.113.9"), json!(2))
    );

    let r = run_query(&out, "access_denied_by_principal", &[]);
    let got: Vec<(Value, Value, Value)> = r
        .iter()
        .map(|x| {
            (
                x["principal"].clone(),
                x["eventname"].clone(),
                x["denials"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(ops), json!("GetObject"), json!(2)),
            (json!(arn("user/bob")), json!("AssumeRole"), json!(1)),
            (json!(ops), json!("RunInstances"), json!(1)),
        ]
    );

    let r = run_query(&out, "failed_assume_role", &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0]["caller"].clone(),
            r[0]["role_arn"].clone(),
            r[0]["errorcode"].clone()
        ),
        (
            json!(arn("user/bob")),
            json!(arn("role/Admin")),
            json!("AccessDenied")
        )
    );

    let r = run_query(&out, "top_assume_role_callers", &[]);
    let got: Vec<(Value, Value, Value)> = r
        .iter()
        .map(|x| {
            (
                x["caller"].clone(),
                x["role_arn"].clone(),
                x["calls"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(arn("user/alice")), json!(arn("role/Admin")), json!(2)),
            (
                json!(arn("user/carol")),
                json!(arn("role/ReadOnly")),
                json!(1)
            )
        ]
    );

    let r = run_query(&out, "top_api_calls_by_principal", &[("limit", "1")]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0]["principal"].clone(),
            r[0]["eventname"].clone(),
            r[0]["calls"].clone()
        ),
        (
            json!(arn("user/dave")),
            json!("DescribeInstances"),
            json!(3)
        )
    );

    let r = run_query(
        &out,
        "access_key_activity",
        &[("access_key_id", "AKIADAVE")],
    );
    assert_eq!(r.len(), 3);
    assert!(r
        .iter()
        .all(|x| x["useridentity_arn"] == json!(arn("user/dave"))));

    let r = run_query(&out, "source_ip_activity", &[("ip", "203.0.113.9")]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0]["principal"].clone(), r[0]["calls"].clone()),
        (json!(arn("user/mallory")), json!(2))
    );

    let r = run_query(
        &out,
        "new_regions_used",
        &[("baseline_from_day", "2024-03-01")],
    );
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0]["awsregion"].clone(), r[0]["first_day"].clone()),
        (json!("eu-west-1"), json!("2024-03-05"))
    );
    // Without the baseline day, us-east-1 is new as well.
    let r = run_query(
        &out,
        "new_regions_used",
        &[("baseline_from_day", "2024-03-05")],
    );
    assert_eq!(r.len(), 2);

    let r = run_query(&out, "iam_changes", &[]);
    assert_eq!(col(&r, "eventname"), [json!("CreateAccessKey")]);
    assert_eq!(r[0]["target"], "bob");

    let r = run_query(&out, "security_control_tampering", &[]);
    assert_eq!(
        col(&r, "eventname"),
        [json!("StopLogging"), json!("DeleteDetector")]
    );

    let r = run_query(&out, "s3_bucket_policy_changes", &[]);
    assert_eq!(col(&r, "bucket"), [json!("b1")]);

    let r = run_query(
        &out,
        "principal_activity_window",
        &[
            ("principal_arn", &arn("role/Ops")),
            ("from_time", "2024-03-05T10:00:00Z"),
            ("to_time", "2024-03-05T11:00:00Z"),
        ],
    );
    assert_eq!(
        col(&r, "eventname"),
        [json!("GetObject"), json!("GetObject")]
    );

    // Every query of the pack was exercised above.
    let listed = stdout(&trailpack(&["queries", "list"]));
    assert_eq!(listed.lines().count(), 14, "{listed}");
}

#[test]
fn compatibility_view_presents_the_aws_table_shape() {
    let t = fixture();
    let out = t.output();
    let o = trailpack(&[
        "schema",
        "--format",
        "athena-compat-view",
        "--database",
        "main",
        "--table",
        "cloudtrail",
    ]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let view = dir.path().join("view.sql");
    std::fs::write(&view, stdout(&o)).unwrap();
    // A query written for AWS's documented table, unchanged.
    let query = dir.path().join("q.sql");
    std::fs::write(
        &query,
        "SELECT useridentity.type, useridentity.arn, useridentity.sessioncontext.sessionissuer.arn AS issuer, \
         useridentity.sessioncontext.attributes.mfaauthenticated AS mfa, useridentity.sessioncontext.attributes.creationdate AS created, \
         useridentity.sessioncontext.webidfederationdata.attributes['aud'] AS aud, \
         eventtime, readonly, resources, tlsdetails.tlsversion AS tls, addendum.reason AS reason \
         FROM main.cloudtrail_compat WHERE eventid = 'deny-1' AND eventtime > '2024-03-05T09:59:59Z'",
    )
    .unwrap();
    let r = trino(&out, &[&view, &query]);
    assert_eq!(r.len(), 1, "{r:?}");
    let row = &r[0];
    assert_eq!(row["type"], "AssumedRole");
    assert_eq!(row["issuer"], format!("arn:aws:iam::{A}:role/Ops"));
    assert_eq!(row["mfa"], "true");
    assert_eq!(row["created"], "2024-03-05T09:00:00Z");
    assert_eq!(row["aud"], "sts");
    assert_eq!(row["eventtime"], "2024-03-05T10:00:00Z");
    assert_eq!(row["readonly"], "true");
    assert_eq!(row["reason"], Value::Null);
}

#[test]
fn queries_cli_errors_are_usage_errors() {
    for (args, needle) in [
        (vec!["queries", "show", "nope"], "no query named"),
        (
            vec![
                "queries",
                "show",
                "root_account_usage",
                "--param",
                "bogus=1",
            ],
            "has no parameter",
        ),
        (
            vec![
                "queries",
                "show",
                "root_account_usage",
                "--param",
                "from_day=yesterday",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "queries",
                "show",
                "access_key_activity",
                "--param",
                "access_key_id=x'--",
            ],
            "not allowed",
        ),
        (
            vec![
                "queries",
                "show",
                "root_account_usage",
                "--param",
                "from_day",
            ],
            "NAME=VALUE",
        ),
    ] {
        let o = trailpack(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}
