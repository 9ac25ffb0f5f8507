//! End-to-end tests of `trailpack convert`: the real binary on real files, the
//! output read back by pyarrow and DuckDB.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const A: &str = "111122223333";
const B: &str = "444455556666";

/// A log file of account A in us-east-1, folder `day`, delivered at `hhmm`.
fn put(t: &mut Tree, day: &str, hhmm: &str, records: &[Value]) -> std::path::PathBuf {
    t.file(None, A, "us-east-1", day, hhmm, records)
}

/// A messy but realistic set of records, covering the shapes of real logs.
fn messy_records() -> Vec<Value> {
    vec![
        record("e-1", "2024-03-05T10:00:00Z", "alice"),
        json!({"eventVersion": "1.09", "eventTime": "2024-03-05T10:00:01.123Z", "eventSource": "sts.amazonaws.com",
               "eventName": "AssumeRole", "awsRegion": "us-east-1", "eventID": "e-2", "readOnly": "True",
               "userIdentity": {"type": "AssumedRole", "principalId": "AROA:s", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/s",
                   "accountId": 111122223333u64, "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Admin"},
                   "webIdFederationData": {}, "attributes": {"creationDate": "20240305T095959Z", "mfaAuthenticated": "false"},
                   "ec2RoleDelivery": "2.0", "sourceIdentity": "alice"},
                   "inScopeOf": {"issuerType": "AWS::Lambda::Function", "sourceArn": "arn:aws:lambda:us-east-1:111122223333:function:f"}},
               "resources": [{"ARN": "arn:aws:iam::111122223333:role/Admin", "accountId": "111122223333", "type": "AWS::IAM::Role"}],
               "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "sts.amazonaws.com"},
               "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/Admin", "durationSeconds": 3600, "nested": {"a": [1, 2.50, null]}},
               "responseElements": {"credentials": {"accessKeyId": "ASIA"}}, "sessionCredentialFromConsole": "true",
               "additionalEventData": "a string, not an object", "managementEvent": "maybe", "p_log_type": "AWS.CloudTrail",
               "addendum": {"reason": "DELIVERY_DELAY", "originalEventID": "e-0"}}),
        json!({"eventTime": "2024-03-05 11:00:00.000000000", "eventName": "Odd", "eventSource": "ec2.amazonaws.com",
               "userIdentity": {"type": "Root", "accesKeyId": "AKIA", "invokedBy": null, "principalid": "x"},
               "serviceEventDetails": {"k": "v"}, "resources": null, "errorCode": null, "eventID": "e-3",
               "edgeDeviceDetails": {"deviceID": "d"}, "insightDetails": {"state": "Start"}, "weird key \"q\"": [1, {"x": 2}]}),
        json!({"eventTime": "...", "eventName": "NoTime", "eventSource": "s3.amazonaws.com", "userIdentity": "not an object",
               "tlsDetails": {}, "resources": [{"ARN": "a", "accountId": 42, "type": "T"}, {}], "eventID": "e-4"}),
        json!({"eventSource": "s3.amazonaws.com", "eventName": "NoTimeAtAll", "@timestamp": "2020-09-14T01:19:40Z", "@version": "1"}),
        json!({"eventTime": "2024-03-05T12:00:00+02:00", "eventName": "Offset", "eventSource": "kms.amazonaws.com",
               "readOnly": false, "eventID": "e-6", "eventCategory": "Data", "vpcEndpointId": "vpce-1", "sharedEventID": "s-1",
               "resources": [], "recipientAccountId": "111122223333", "unknownNewField": {"deep": {"er": true}}}),
    ]
}

#[test]
fn roundtrip_of_fixtures_is_lossless() {
    let mut t = Tree::new();
    t.file(None, A, "us-east-1", "2024-03-05", "1005", &messy_records());
    t.file(
        Some("o-abc123def4"),
        B,
        "eu-west-1",
        "2024-03-05",
        "1105",
        &[record("b-1", "2024-03-05T11:00:00Z", "bob")],
    );
    let (code, report, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert_eq!(report["records"]["read"], 7);
    assert_eq!(report["records"]["written"], 7);
    let text = assert_roundtrip(&t.input(), &t.output());
    assert!(text.contains("roundtrip OK: 7 records"), "{text}");

    // Typed values mean the same thing as the source.
    let out = t.output();
    let row = &sql(&out, "SELECT CAST(eventtime AS VARCHAR) AS et, readonly, useridentity_accountid, \
        CAST(useridentity_sessioncontext_attributes_creationdate AS VARCHAR) AS cd, \
        useridentity_sessioncontext_attributes_mfaauthenticated AS mfa, sessioncredentialfromconsole AS scfc, \
        managementevent, useridentity_inscopeof_issuertype AS ist, tlsdetails_tlsversion AS tls, addendum_reason, \
        resources[1].arn AS r_arn, requestparameters, additionaleventdata, unmapped FROM t WHERE eventid = 'e-2'")[0];
    assert_eq!(row["et"], "2024-03-05 10:00:01.123+00");
    assert_eq!(row["readonly"], true);
    assert_eq!(row["useridentity_accountid"], "111122223333");
    assert_eq!(row["cd"], "2024-03-05 09:59:59+00");
    assert_eq!(row["mfa"], false);
    assert_eq!(row["scfc"], true);
    assert_eq!(row["managementevent"], Value::Null);
    assert_eq!(row["ist"], "AWS::Lambda::Function");
    assert_eq!(row["tls"], "TLSv1.3");
    assert_eq!(row["addendum_reason"], "DELIVERY_DELAY");
    assert_eq!(row["r_arn"], "arn:aws:iam::111122223333:role/Admin");
    assert_eq!(
        row["requestparameters"],
        r#"{"durationSeconds":3600,"nested":{"a":[1,2.5,null]},"roleArn":"arn:aws:iam::111122223333:role/Admin"}"#
    );
    assert_eq!(row["additionaleventdata"], r#""a string, not an object""#);
    let unmapped: Value = serde_json::from_str(row["unmapped"].as_str().unwrap()).unwrap();
    assert_eq!(
        unmapped,
        json!({"managementEvent": "maybe", "p_log_type": "AWS.CloudTrail",
               "userIdentity": {"sessionContext": {"webIdFederationData": {}}}})
    );
    // An offset time is stored as the same instant in UTC.
    assert_eq!(
        sql1(
            &out,
            "SELECT CAST(eventtime AS VARCHAR) FROM t WHERE eventid = 'e-6'"
        ),
        "2024-03-05 10:00:00+00"
    );
    // Unparseable times stay out of the column, in unmapped.
    assert_eq!(
        sql1(
            &out,
            "SELECT json_extract_string(unmapped, '$.eventTime') FROM t WHERE eventid = 'e-4'"
        ),
        "..."
    );
}

#[test]
fn real_corpus_roundtrip_is_lossless() {
    let t = corpus_tree();
    let (code, report, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    let total: u64 = report["records"]["read"].as_u64().unwrap();
    assert!(total >= 1000, "corpus records read: {total}");
    assert_eq!(report["records"]["written"].as_u64().unwrap(), total);
    let text = assert_roundtrip(&t.input(), &t.output());
    assert!(
        text.contains(&format!("roundtrip OK: {total} records")),
        "{text}"
    );
    // The derived columns (checked against their JSON members by the round trip) are
    // filled from real records: role assumptions, IAM and S3 calls, console sign-ins.
    let n = &sql(
        &t.output(),
        "SELECT count(requestparameters_rolearn) AS rolearn, count(requestparameters_username) AS username, \
         count(requestparameters_bucketname) AS bucketname, count(responseelements_consolelogin) AS consolelogin, \
         count(additionaleventdata_mfaused) AS mfaused FROM t",
    )[0];
    for c in [
        "rolearn",
        "username",
        "bucketname",
        "consolelogin",
        "mfaused",
    ] {
        assert!(
            n[c].as_u64().unwrap() > 0,
            "no {c} in the corpus output: {n}"
        );
    }
    eprintln!("derived columns filled: {n}");
}

#[test]
fn day_rule_moves_late_records_within_the_window_only() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "2355",
        &[record("d-2350", "2024-03-05T23:50:00Z", "a")],
    );
    // An early file of the next folder: its 03-05 record belongs to 03-05.
    put(
        &mut t,
        "2024-03-06",
        "0005",
        &[
            record("late", "2024-03-05T23:59:30Z", "a"),
            record("d6-0001", "2024-03-06T00:01:00Z", "a"),
        ],
    );
    // Outside the window: stays in 03-06 whatever its eventTime.
    put(
        &mut t,
        "2024-03-06",
        "0300",
        &[record("very-late", "2024-03-05T23:58:00Z", "a")],
    );
    let (code, report, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["records"]["rerouted_out"], 1);
    let out = t.output();
    let rows = sql(
        &out,
        "SELECT eventid, CAST(day AS VARCHAR) AS day FROM t ORDER BY eventid",
    );
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["eventid"].as_str().unwrap().into(),
                r["day"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("d-2350", "2024-03-05"),
        ("d6-0001", "2024-03-06"),
        ("late", "2024-03-05"),
        ("very-late", "2024-03-06"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // The manifest of 03-05 lists the early file of 03-06 as a late input.
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(
            out.join("account=111122223333/region=us-east-1/day=2024-03-05/_trailpack.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let roles: Vec<&str> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["own", "late"]);
    assert_eq!(m["records"]["rerouted_in"], 1);
    // Turning the rule off keeps every record in its folder's day.
    let out2 = t.dir.path().join("out2");
    let (code, _, _) = convert(&t.input(), &out2, &["--late-window", "0"]);
    assert_eq!(code, 0);
    assert_eq!(
        sql1(
            &out2,
            "SELECT CAST(day AS VARCHAR) FROM t WHERE eventid = 'late'"
        ),
        "2024-03-06"
    );
}

#[test]
fn day_filter_reads_the_next_folder_for_late_records() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1200",
        &[record("noon", "2024-03-05T11:59:00Z", "a")],
    );
    put(
        &mut t,
        "2024-03-06",
        "0005",
        &[
            record("late", "2024-03-05T23:59:30Z", "a"),
            record("next", "2024-03-06T00:01:00Z", "a"),
        ],
    );
    let (code, report, _) = convert(&t.input(), &t.output(), &["--day", "2024-03-05"]);
    assert_eq!(code, 0);
    assert_eq!(report["partitions"]["planned"], 1);
    let rows = sql(&t.output(), "SELECT eventid FROM t ORDER BY eventid");
    assert_eq!(
        rows,
        vec![json!({"eventid": "late"}), json!({"eventid": "noon"})]
    );
}

#[test]
fn org_and_plain_layouts_side_by_side_and_filters() {
    let mut t = Tree::new();
    t.file(
        Some("o-aaaa1111bb"),
        A,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("org-a", "2024-03-05T09:59:00Z", "a")],
    );
    t.file(
        None,
        B,
        "eu-west-1",
        "2024-03-05",
        "1000",
        &[record("plain-b", "2024-03-05T09:59:00Z", "b")],
    );
    t.file(
        None,
        B,
        "us-east-1",
        "2024-03-05",
        "1000",
        &[record("plain-b-use1", "2024-03-05T09:59:00Z", "b")],
    );
    // The root may be AWSLogs itself.
    let (code, report, _) = convert(&t.input().join("AWSLogs"), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["partitions"]["written"], 3);
    let rows = sql(
        &t.output(),
        "SELECT account, region, eventid FROM t ORDER BY eventid",
    );
    assert_eq!(
        rows,
        vec![
            json!({"account": A.parse::<u64>().unwrap(), "region": "us-east-1", "eventid": "org-a"}),
            json!({"account": B.parse::<u64>().unwrap(), "region": "eu-west-1", "eventid": "plain-b"}),
            json!({"account": B.parse::<u64>().unwrap(), "region": "us-east-1", "eventid": "plain-b-use1"}),
        ]
    );
    let out2 = t.dir.path().join("filtered");
    let (code, report, _) = convert(
        &t.input(),
        &out2,
        &["--account", B, "--region", "eu-west-1"],
    );
    assert_eq!(code, 0);
    assert_eq!(report["partitions"]["planned"], 1);
    assert_eq!(sql1(&out2, "SELECT eventid FROM t"), "plain-b");
}

#[test]
fn digests_and_foreign_files_are_skipped_and_counted() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[record("x", "2024-03-05T09:59:00Z", "a")],
    );
    t.raw(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T100000Z.json.gz",
        &gz(b"{\"digestStartTime\":\"x\"}"),
    );
    t.raw(
        "AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile",
        b"",
    );
    t.raw("README.txt", b"not a log: ignored");
    t.raw("exports/stray.json.gz", &gz(b"{\"Records\":[]}"));
    let (code, report, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["files"]["digest_skipped"], 1);
    assert_eq!(report["files"]["writability_check_skipped"], 1);
    assert_eq!(report["files"]["outside_layout_skipped"], 1);
    assert_eq!(report["files"]["listed"], 1);
    assert_eq!(report["records"]["written"], 1);
}

#[test]
fn insight_and_network_activity_folders_are_converted() {
    let mut t = Tree::new();
    let mut rec = record("ins", "2024-03-05T09:59:00Z", "a");
    rec["eventCategory"] = json!("Insight");
    rec["insightDetails"] = json!({"state": "Start", "eventSource": "ec2.amazonaws.com"});
    let p = t.file(None, A, "us-east-1", "2024-03-05", "1000", &[rec]);
    let dest = p
        .to_string_lossy()
        .replace("/CloudTrail/", "/CloudTrail-Insight/");
    std::fs::create_dir_all(Path::new(&dest).parent().unwrap()).unwrap();
    std::fs::rename(&p, &dest).unwrap();
    let mut net = record("net", "2024-03-05T09:58:00Z", "a");
    net["eventCategory"] = json!("NetworkActivity");
    let p = t.file(None, A, "us-east-1", "2024-03-05", "1000", &[net]);
    let dest = p
        .to_string_lossy()
        .replace("/CloudTrail/", "/CloudTrail-NetworkActivity/");
    std::fs::create_dir_all(Path::new(&dest).parent().unwrap()).unwrap();
    std::fs::rename(&p, &dest).unwrap();
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let rows = sql(
        &t.output(),
        "SELECT eventcategory, insightdetails IS NOT NULL AS ins FROM t ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            json!({"eventcategory": "Insight", "ins": true}),
            json!({"eventcategory": "NetworkActivity", "ins": false})
        ]
    );
}

fn partition_dir(out: &Path) -> std::path::PathBuf {
    out.join("account=111122223333/region=us-east-1/day=2024-03-05")
}

#[test]
fn rerun_over_unchanged_input_changes_nothing() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[record("a", "2024-03-05T09:59:00Z", "a")],
    );
    put(
        &mut t,
        "2024-03-05",
        "1100",
        &[record("b", "2024-03-05T10:59:00Z", "a")],
    );
    let (code, first, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!((code, &first["partitions"]["written"]), (0, &json!(1)));
    let dir = partition_dir(&t.output());
    let before: Vec<(String, Vec<u8>, std::time::SystemTime)> = list_files(&dir)
        .into_iter()
        .map(|f| {
            let p = dir.join(&f);
            (
                f,
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            )
        })
        .collect();
    let (code, second, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(second["partitions"]["written"], 0);
    assert_eq!(second["partitions"]["unchanged"], 1);
    assert_eq!(second["files"]["read"], 0);
    let after: Vec<(String, Vec<u8>, std::time::SystemTime)> = list_files(&dir)
        .into_iter()
        .map(|f| {
            let p = dir.join(&f);
            (
                f,
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            )
        })
        .collect();
    assert_eq!(before, after, "an unchanged partition is not rewritten");
    assert_eq!(sql1(&t.output(), "SELECT count(*) FROM t"), 2);
    // --force rebuilds, and still does not duplicate.
    let (code, third, _) = convert(&t.input(), &t.output(), &["--force"]);
    assert_eq!((code, &third["partitions"]["written"]), (0, &json!(1)));
    assert_eq!(sql1(&t.output(), "SELECT count(*) FROM t"), 2);
}

#[test]
fn late_file_rebuilds_the_partition_from_all_inputs() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[
            record("a", "2024-03-05T09:59:00Z", "a"),
            record("b", "2024-03-05T09:58:00Z", "a"),
        ],
    );
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(
        sql1(
            &t.output(),
            "SELECT count(*) FROM t WHERE day = '2024-03-05'"
        ),
        2
    );
    // A late file arrives in the next folder.
    put(
        &mut t,
        "2024-03-06",
        "0010",
        &[
            record("late1", "2024-03-05T23:59:00Z", "a"),
            record("late2", "2024-03-05T23:59:59Z", "a"),
            record("n", "2024-03-06T00:05:00Z", "a"),
        ],
    );
    let (code, report, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["partitions"]["written"], 2); // 03-05 rebuilt, 03-06 new
    let out = t.output();
    assert_eq!(
        sql1(&out, "SELECT count(*) FROM t WHERE day = '2024-03-05'"),
        4
    );
    assert_eq!(
        sql1(&out, "SELECT count(DISTINCT eventid) = count(*) FROM t"),
        true
    );
    // Rows are sorted by eventtime.
    let ids: Vec<Value> = sql(&out, "SELECT eventid FROM t WHERE day = '2024-03-05'")
        .into_iter()
        .map(|r| r["eventid"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("b"), json!("a"), json!("late1"), json!("late2")]
    );
    // A changed input file also triggers a rebuild.
    let (_, r, _) = convert(&t.input(), &t.output(), &["--day", "2024-03-05"]);
    assert_eq!(r["partitions"]["unchanged"], 1);
    let p = put(
        &mut t,
        "2024-03-05",
        "1000",
        &[record("a2", "2024-03-05T09:59:00Z", "a")],
    );
    let (_, r, _) = convert(&t.input(), &t.output(), &["--day", "2024-03-05"]);
    assert_eq!(r["partitions"]["written"], 1);
    assert_eq!(
        sql1(&out, "SELECT count(*) FROM t WHERE day = '2024-03-05'"),
        5
    );
    std::fs::remove_file(p).unwrap();
}

#[test]
fn identical_records_are_written_once_and_conflicts_kept() {
    let mut t = Tree::new();
    let same = record("dup", "2024-03-05T09:59:00Z", "a");
    let mut conflict = record("dup", "2024-03-05T09:59:00Z", "a");
    conflict["eventName"] = json!("Other");
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[same.clone(), record("x", "2024-03-05T09:00:00Z", "a")],
    );
    put(
        &mut t,
        "2024-03-05",
        "1005",
        &[same.clone(), conflict.clone()],
    );
    t.file(None, A, "us-east-1", "2024-03-05", "1010", &[conflict]);
    let (code, report, o) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["records"]["read"], 5);
    assert_eq!(report["records"]["written"], 3);
    assert_eq!(report["records"]["deduplicated"], 2);
    assert_eq!(report["records"]["eventid_conflicts"], 1);
    assert!(stderr(&o).contains("share an eventID"), "{}", stderr(&o));
    let rows = sql(
        &t.output(),
        "SELECT eventname, count(*) AS n FROM t WHERE eventid = 'dup' GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            json!({"eventname": "ListBuckets", "n": 1}),
            json!({"eventname": "Other", "n": 1})
        ]
    );
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(partition_dir(&t.output()).join("_trailpack.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["records"]["deduplicated"], 2);
}

/// Each kind of bad input: the partition fails naming the file and the reason,
/// other partitions are published, exit code 1; with --skip-bad-files the
/// partition is published without the file.
#[test]
fn bad_input_kinds_fail_the_partition_with_a_clear_error() {
    let big = format!(
        "{{\"Records\":[{}]}}",
        vec![record("big", "2024-03-05T09:00:00Z", "a").to_string(); 200].join(",")
    );
    let mut corrupt = gz(big.as_bytes());
    let n = corrupt.len();
    for b in &mut corrupt[20..n / 2] {
        *b ^= 0xa5;
    }
    let truncated = gz(big.as_bytes())[..n / 2].to_vec();
    // (case, file content, kind reported, words of the message)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("corrupt gzip", corrupt, "corrupt_gzip", "corrupt gzip"),
        (
            "truncated gzip",
            truncated,
            "truncated_gzip",
            "truncated gzip",
        ),
        ("empty file", Vec::new(), "empty", "empty file"),
        (
            "not JSON",
            gz(b"<html>nope</html>"),
            "not_json",
            "not valid JSON",
        ),
        (
            "no Records",
            gz(b"{\"records\":[]}"),
            "no_records",
            "no \"Records\"",
        ),
        (
            "Records not an array",
            gz(b"{\"Records\":{\"a\":1}}"),
            "records_not_array",
            "\"Records\" is not an array",
        ),
        (
            "record not an object",
            gz(b"{\"Records\":[{},42]}"),
            "record_not_object",
            "record #1",
        ),
        (
            "invalid UTF-8",
            gz(b"{\"Records\":[{\"eventName\":\"\xff\xfe\"}]}"),
            "invalid_utf8",
            "invalid UTF-8",
        ),
        (
            "oversized",
            gz(big.as_bytes()),
            "oversized",
            "exceeds the limit",
        ),
        (
            "plain text named .json.gz",
            b"Records: []".to_vec(),
            "not_json",
            "not valid JSON",
        ),
        (
            "top level not an object",
            gz(b"[]"),
            "not_an_object",
            "not an object",
        ),
    ];
    for (case, bytes, kind, message) in cases {
        let mut t = Tree::new();
        t.file(
            None,
            A,
            "us-east-1",
            "2024-03-05",
            "1000",
            &[record("ok", "2024-03-05T09:59:00Z", "a")],
        );
        let bad = t.log_path(None, A, "us-east-1", "2024-03-05", "1005");
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, &bytes).unwrap();
        t.file(
            None,
            B,
            "us-east-1",
            "2024-03-05",
            "1000",
            &[record("other", "2024-03-05T09:59:00Z", "b")],
        );
        let extra: &[&str] = if case == "oversized" {
            &["--max-file-bytes", "10KiB"]
        } else {
            &[]
        };
        let (code, report, o) = convert(&t.input(), &t.output(), extra);
        assert_eq!(code, 1, "{case}: {}", stderr(&o));
        assert_eq!(report["partitions"]["failed"], 1, "{case}");
        assert_eq!(
            report["partitions"]["written"], 1,
            "{case}: the other partition is published"
        );
        let failed = report["partition_reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["status"] == "failed")
            .unwrap();
        let err = failed["error"].as_str().unwrap();
        assert!(
            err.contains(bad.to_str().unwrap()),
            "{case}: error names the file: {err}"
        );
        assert!(
            err.contains(message),
            "{case}: error says why ({message}): {err}"
        );
        assert!(stderr(&o).contains(bad.to_str().unwrap()), "{case}: logged");
        assert!(
            !partition_dir(&t.output()).exists(),
            "{case}: nothing published for the failed partition"
        );
        assert_eq!(sql1(&t.output(), "SELECT eventid FROM t"), "other");

        // Human summary names it too.
        let o = trailpack(&[
            "convert",
            "--input",
            t.input().to_str().unwrap(),
            "--output",
            t.output().to_str().unwrap(),
            "--max-file-bytes",
            if case == "oversized" { "10KiB" } else { "1GiB" },
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stdout(&o).contains("FAILED") && stdout(&o).contains(bad.to_str().unwrap()),
            "{case}: {}",
            stdout(&o)
        );

        let mut args = vec!["--skip-bad-files"];
        args.extend_from_slice(extra);
        let (code, report, _) = convert(&t.input(), &t.output(), &args);
        assert_eq!(code, 0, "{case}: skipped");
        assert_eq!(report["files"]["bad"], 1);
        let m: Value = serde_json::from_str(
            &std::fs::read_to_string(partition_dir(&t.output()).join("_trailpack.json")).unwrap(),
        )
        .unwrap();
        let skipped: Vec<&Value> = m["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i.get("skipped").is_some())
            .collect();
        assert_eq!(skipped.len(), 1, "{case}");
        assert!(
            skipped[0]["skipped"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{kind}: ")),
            "{case}: {}",
            skipped[0]
        );
        assert_eq!(
            sql1(
                &t.output(),
                "SELECT count(*) FROM t WHERE account = 111122223333"
            ),
            1
        );
    }
}

#[test]
fn failed_rebuild_keeps_the_previous_partition() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[record("a", "2024-03-05T09:59:00Z", "a")],
    );
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let dir = partition_dir(&t.output());
    let snapshot: Vec<(String, Vec<u8>)> = list_files(&dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    // A new, corrupt file makes the partition due for a rebuild, which fails.
    let bad = t.log_path(None, A, "us-east-1", "2024-03-05", "1100");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage").unwrap();
    let (code, report, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["partitions"]["failed"], 1);
    let after: Vec<(String, Vec<u8>)> = list_files(&dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    assert_eq!(snapshot, after, "previous version untouched");
    let region_dir = dir.parent().unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(region_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        vec!["day=2024-03-05".to_string()],
        "no staging left behind"
    );
    assert_eq!(sql1(&t.output(), "SELECT eventid FROM t"), "a");
}

#[test]
fn large_partitions_split_into_several_files_and_row_groups() {
    let mut t = Tree::new();
    for f in 0..24 {
        let recs: Vec<Value> = (0..150)
            .map(|i| {
                let mut r = record(
                    &format!("f{f}-{i}"),
                    &format!("2024-03-05T{:02}:{:02}:{:02}Z", f, i / 60 % 60, i % 60),
                    "a",
                );
                // Incompressible payload, so the output is large enough to split.
                let mut x: u64 = ((f * 1000 + i) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let blob: String = (0..64)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        format!("{x:016x}")
                    })
                    .collect();
                r["requestParameters"] = json!({ "blob": blob });
                r
            })
            .collect();
        t.file(
            None,
            A,
            "us-east-1",
            "2024-03-05",
            &format!("{:02}{:02}", 10 + f / 12, (f % 12) * 5),
            &recs,
        );
    }
    let (code, report, o) = convert(
        &t.input(),
        &t.output(),
        &["--target-file-size", "1MiB", "--row-group-size", "512KiB"],
    );
    assert_eq!(code, 0, "{}", stderr(&o));
    let parts: Vec<String> = list_files(&partition_dir(&t.output()))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect();
    assert!(parts.len() >= 2, "split into several files: {parts:?}");
    assert_eq!(parts[0], "part-00000.parquet");
    assert_eq!(report["records"]["written"], 3600);
    assert_eq!(
        sql1(&t.output(), "SELECT count(DISTINCT eventid) FROM t"),
        3600
    );
    // Files and row groups, as the manifest and pyarrow see them.
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(partition_dir(&t.output()).join("_trailpack.json")).unwrap(),
    )
    .unwrap();
    let outputs = m["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), parts.len());
    let mut groups = 0;
    for o in outputs {
        let meta = parquet_meta(&partition_dir(&t.output()).join(o["file"].as_str().unwrap()));
        assert_eq!(meta["num_rows"], o["rows"]);
        assert_eq!(meta["num_row_groups"], o["row_groups"]);
        groups += meta["num_row_groups"].as_u64().unwrap();
    }
    assert!(
        groups > outputs.len() as u64,
        "several row groups: {groups}"
    );
    assert_roundtrip(&t.input(), &t.output());
}

#[test]
fn parquet_files_are_zstd_with_statistics_page_index_and_sorted() {
    let mut t = Tree::new();
    let recs: Vec<Value> = (0..300)
        .map(|i| {
            record(
                &format!("r{i}"),
                &format!("2024-03-05T09:{:02}:{:02}Z", (299 - i) / 60, (299 - i) % 60),
                "a",
            )
        })
        .collect();
    t.file(None, A, "us-east-1", "2024-03-05", "1000", &recs);
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let meta = parquet_meta(&partition_dir(&t.output()).join("part-00000.parquet"));
    let cols = meta["columns"].as_object().unwrap();
    for (name, c) in cols {
        assert_eq!(c["compression"], "ZSTD", "{name}");
        assert_eq!(c["has_statistics"], true, "{name}");
        assert_eq!(c["has_offset_index"], true, "{name}");
    }
    assert_eq!(cols["eventtime"]["has_column_index"], true);
    assert_eq!(cols["eventsource"]["has_dictionary_page"], true);
    assert_eq!(cols["eventid"]["has_dictionary_page"], false);
    assert_eq!(meta["schema"]["eventtime"], "timestamp[us, tz=UTC]");
    assert_eq!(
        meta["sorting_columns"],
        json!([{"column_index": 1, "descending": false}])
    );
    for k in ["account", "region", "day"] {
        assert!(
            meta["schema"].get(k).is_none(),
            "partition key {k} is not a column"
        );
    }
    // Sorted by eventtime within the row group.
    let sorted = sql1(&t.output(), "SELECT bool_and(eventtime >= prev) FROM (SELECT eventtime, lag(eventtime) OVER () AS prev FROM t) WHERE prev IS NOT NULL");
    assert_eq!(sorted, true);
}

#[test]
fn duckdb_answers_identity_and_day_queries_with_hive_partitioning() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[
            record("1", "2024-03-05T09:00:00Z", "alice"),
            record("2", "2024-03-05T09:01:00Z", "bob"),
        ],
    );
    put(
        &mut t,
        "2024-03-06",
        "1000",
        &[record("3", "2024-03-06T09:00:00Z", "alice")],
    );
    let (code, _, _) = convert(&t.input(), &t.output(), &[]);
    assert_eq!(code, 0);
    let rows = sql(
        &t.output(),
        "SELECT eventid FROM t WHERE useridentity_arn = 'arn:aws:iam::111122223333:user/alice' AND day = '2024-03-05'",
    );
    assert_eq!(rows, vec![json!({"eventid": "1"})]);
    let rows = sql(
        &t.output(),
        "SELECT CAST(day AS VARCHAR) AS day, count(*) AS n FROM t GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            json!({"day": "2024-03-05", "n": 2}),
            json!({"day": "2024-03-06", "n": 1})
        ]
    );
}

#[test]
fn dry_run_writes_nothing() {
    let mut t = Tree::new();
    put(
        &mut t,
        "2024-03-05",
        "1000",
        &[record("1", "2024-03-05T09:00:00Z", "a")],
    );
    let (code, report, _) = convert(&t.input(), &t.output(), &["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(report["partitions"]["would_build"], 1);
    assert_eq!(report["partitions"]["written"], 0);
    assert!(list_files(&t.output()).is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let t = Tree::new();
    std::fs::create_dir_all(t.input()).unwrap();
    let i = t.input();
    let o = t.output();
    let (i, o) = (i.to_str().unwrap(), o.to_str().unwrap());
    for (args, needle) in [
        (
            vec![
                "convert",
                "--input",
                "/nonexistent/trailpack",
                "--output",
                o,
            ],
            "--input",
        ),
        (
            vec![
                "convert",
                "--input",
                i,
                "--output",
                o,
                "--day",
                "2024-13-01",
            ],
            "--day",
        ),
        (
            vec!["convert", "--input", i, "--output", o, "--account", "123"],
            "12 digits",
        ),
        (
            vec![
                "convert",
                "--input",
                i,
                "--output",
                o,
                "--from",
                "2024-03-05",
                "--to",
                "2024-03-01",
            ],
            "after",
        ),
        (
            vec![
                "convert",
                "--input",
                i,
                "--output",
                o,
                "--late-window",
                "25h",
            ],
            "24h",
        ),
        (
            vec![
                "convert",
                "--input",
                i,
                "--output",
                o,
                "--target-file-size",
                "lots",
            ],
            "size",
        ),
        (
            vec![
                "convert",
                "--input",
                i,
                "--output",
                o,
                "--day",
                "2024-03-05",
                "--from",
                "2024-03-01",
            ],
            "cannot be used with",
        ),
        (vec!["convert", "--output", o], "--input"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = trailpack(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_teaches_layout_day_rule_and_exit_codes() {
    let top = stdout(&trailpack(&["--help"]));
    assert!(top.contains("Exit codes"), "{top}");
    let conv = stdout(&trailpack(&["convert", "--help"]));
    for needle in [
        "AWSLogs/[o-<orgid>/]",
        "Day rule",
        "--late-window",
        "--skip-bad-files",
        "_trailpack.json",
        "CloudTrail-Digest",
    ] {
        assert!(conv.contains(needle), "convert --help lacks {needle}");
    }
}

#[test]
fn sample_logs_in_the_repo_convert() {
    let out = tempfile::tempdir().unwrap();
    let (code, report, o) = convert(&repo().join("samples"), out.path(), &[]);
    assert_eq!(code, 0, "{}", stderr(&o));
    assert!(
        report["partitions"]["written"].as_u64().unwrap() >= 3,
        "{report}"
    );
    assert_eq!(report["files"]["digest_skipped"], 1);
    assert!(
        report["records"]["rerouted_out"].as_u64().unwrap() > 0,
        "the samples show the day rule"
    );
    assert_roundtrip(&repo().join("samples"), out.path());
    let accounts = sql(out.path(), "SELECT DISTINCT account FROM t ORDER BY 1");
    assert!(accounts.len() >= 2);
}

/// The same inputs give the same bytes: a generated day of 40 files × 1,500 records
/// (two 32 MiB row groups), decoded by two threads in whatever order they finish,
/// four times. (Row groups used to be cut by builder capacities, which depend on the
/// file a thread decoded before: on the benchmark's W1 day, row-group boundaries
/// changed from run to run.)
#[test]
fn conversion_is_reproducible_to_the_byte() {
    let t = Tree::new();
    let gen = std::process::Command::new(env!("CARGO_BIN_EXE_trailpack-gen"))
        .args([
            "--files",
            "40",
            "--records",
            "1500",
            "--no-digests",
            "--out",
        ])
        .arg(t.input())
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let outs: Vec<PathBuf> = (0..4).map(|k| t.output().join(format!("run{k}"))).collect();
    for out in &outs {
        let (code, _, o) = convert(&t.input(), out, &["--threads", "2"]);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&o.stderr));
    }
    let parts = |out: &Path| -> Vec<(String, Vec<u8>)> {
        list_files(out)
            .into_iter()
            .filter(|f| f.ends_with(".parquet"))
            .map(|f| (f.clone(), std::fs::read(out.join(&f)).unwrap()))
            .collect()
    };
    let first = parts(&outs[0]);
    assert!(!first.is_empty());
    let largest = first.iter().max_by_key(|(_, b)| b.len()).unwrap();
    let meta = parquet_meta(&outs[0].join(&largest.0));
    assert!(
        meta["num_row_groups"].as_u64().unwrap() >= 2,
        "{}",
        meta["num_row_groups"]
    );
    for out in &outs[1..] {
        assert!(
            parts(out) == first,
            "{} differs from the first run",
            out.display()
        );
    }
    assert_eq!(sql1(&outs[0], "SELECT count(*) FROM t"), 60_000);
}
