//! The Glue catalog against a real Glue-compatible server (moto) over HTTP,
//! verified with boto3.

mod common;

use common::*;
use serde_json::{json, Value};

fn glue_table(db: &str, table: &str) -> Value {
    let o = py_aws(&["glue-table", db, table]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Columns of a checked-in Glue derivation (`schema/<file>`) as the API takes them.
fn columns_of(file: &str) -> Vec<Value> {
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("schema").join(file)).unwrap())
            .unwrap();
    g["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["Name"], c["Type"]]))
        .collect()
}

/// Schema columns as the Glue API takes them (the checked-in derivation).
fn schema_columns() -> Vec<Value> {
    columns_of("glue-columns.json")
}

/// Findings schema columns as the Glue API takes them.
fn findings_columns() -> Vec<Value> {
    columns_of("findings-glue-columns.json")
}

fn day_tree(t: &mut Tree, accounts: &[&str]) {
    for a in accounts {
        for region in ["us-east-1", "eu-west-1"] {
            t.file(
                None,
                a,
                region,
                "2024-03-05",
                "1000",
                &[record(
                    &format!("{a}-{region}"),
                    "2024-03-05T09:59:00Z",
                    "a",
                )],
            );
        }
    }
}

fn run(input: &str, output: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["convert", "--input", input, "--output", output, "--json"];
    args.extend_from_slice(extra);
    let o = trailpack_aws(&args);
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
        stderr(&o),
    )
}

#[test]
fn table_and_partitions_are_registered_once_and_kept_current() {
    let mut t = Tree::new();
    day_tree(&mut t, &["111122223333"]);
    let out = bucket("out");
    assert!(py_aws(&[
        "s3-put",
        &out,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/curated");
    let input = t.input();
    let input = input.to_str().unwrap();

    let (code, r, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--glue-table", "cloudtrail"],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["catalog"]["table_created"], true);
    assert_eq!(r["catalog"]["partitions_created"], 2);
    let g = glue_table(&db, "cloudtrail");
    assert_eq!(g["columns"].as_array().unwrap(), &schema_columns());
    assert_eq!(
        g["partition_keys"],
        json!([
            ["account", "string"],
            ["region", "string"],
            ["day", "string"]
        ])
    );
    assert_eq!(g["location"], format!("{output}/"));
    assert_eq!(g["table_type"], "EXTERNAL_TABLE");
    assert_eq!(g["parameters"]["classification"], "parquet");
    assert_eq!(
        g["serde"],
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
    assert_eq!(
        g["input_format"],
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    );
    // Each partition points at its build's folder, the one its manifest names.
    let built = |region: &str| -> String {
        let p = r["partition_reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partition"].as_str().unwrap().contains(region))
            .unwrap();
        p["location"].as_str().unwrap().to_string()
    };
    for region in ["eu-west-1", "us-east-1"] {
        let loc = built(region);
        let day = format!("{output}/account=111122223333/region={region}/day=2024-03-05/");
        let build = loc.strip_prefix(&day).unwrap_or_else(|| panic!("{loc}"));
        assert!(build.ends_with('/') && build.len() > 10, "{loc}");
    }
    assert_eq!(
        g["partitions"],
        json!([
            {"values": ["111122223333", "eu-west-1", "2024-03-05"], "location": built("eu-west-1"), "columns": schema_columns().len()},
            {"values": ["111122223333", "us-east-1", "2024-03-05"], "location": built("us-east-1"), "columns": schema_columns().len()},
        ])
    );

    // A re-run registers nothing new.
    let (code, r, _) = run(input, &output, &["--glue-database", &db]);
    assert_eq!(code, 0);
    assert_eq!(
        (
            r["catalog"]["partitions_created"].clone(),
            r["catalog"]["partitions_unchanged"].clone()
        ),
        (json!(0), json!(2))
    );

    // A new account appears: converted and registered with no configuration change.
    day_tree(&mut t, &["444455556666"]);
    let (code, r, _) = run(input, &output, &["--glue-database", &db]);
    assert_eq!(code, 0);
    assert_eq!(r["partitions"]["written"], 2);
    assert_eq!(r["catalog"]["partitions_created"], 2);
    assert_eq!(
        glue_table(&db, "cloudtrail")["partitions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn an_older_table_gains_new_columns_and_conflicts_are_errors() {
    let mut t = Tree::new();
    day_tree(&mut t, &["111122223333"]);
    let out = bucket("out");
    assert!(py_aws(&[
        "s3-put",
        &out,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/c");
    let input = t.input();
    let input = input.to_str().unwrap();
    // A table made by an older schema: the last two columns missing.
    let mut older = schema_columns();
    let dropped: Vec<Value> = older.split_off(older.len() - 2);
    assert!(py_aws(&[
        "glue-create-table",
        &db,
        "ct",
        &Value::Array(older).to_string()
    ])
    .status
    .success());
    let (code, r, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--glue-table", "ct"],
    );
    assert_eq!(code, 0, "{e}");
    let added: Vec<Value> = dropped.iter().map(|c| c[0].clone()).collect();
    assert_eq!(r["catalog"]["columns_added"], Value::Array(added));
    let g = glue_table(&db, "ct");
    assert_eq!(g["columns"].as_array().unwrap(), &schema_columns());
    assert_eq!(
        g["parameters"]["owner"], "someone",
        "existing parameters are kept"
    );

    // A retyped column is not silently changed: exit 2 with what to do.
    let mut conflicting = schema_columns();
    conflicting[1] = json!(["eventtime", "string"]);
    assert!(py_aws(&[
        "glue-create-table",
        &db,
        "bad",
        &Value::Array(conflicting).to_string()
    ])
    .status
    .success());
    let (code, _, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--glue-table", "bad"],
    );
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("eventtime is string there but timestamp"), "{e}");
}

#[test]
fn projection_mode_sets_the_table_parameters() {
    let mut t = Tree::new();
    day_tree(&mut t, &["111122223333", "444455556666"]);
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-04",
        "1000",
        &[record("early", "2024-03-04T09:59:00Z", "a")],
    );
    let out = bucket("out");
    assert!(py_aws(&[
        "s3-put",
        &out,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/p");
    let input = t.input();
    let input = input.to_str().unwrap();
    let (code, r, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--glue-projection"],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["catalog"]["projection_updated"], true);
    assert_eq!(r["catalog"]["partitions_created"], 0);
    let g = glue_table(&db, "cloudtrail");
    let p = &g["parameters"];
    assert_eq!(p["projection.enabled"], "true");
    assert_eq!(p["projection.day.type"], "date");
    assert_eq!(p["projection.day.format"], "yyyy-MM-dd");
    assert_eq!(p["projection.day.range"], "2024-03-04,NOW");
    assert_eq!(p["projection.account.type"], "enum");
    assert_eq!(p["projection.account.values"], "111122223333,444455556666");
    assert_eq!(p["projection.region.values"], "eu-west-1,us-east-1");
    assert_eq!(
        p["storage.location.template"],
        format!("{output}/account=${{account}}/region=${{region}}/day=${{day}}/")
    );
    assert_eq!(
        g["partitions"],
        json!([]),
        "projection registers no partitions"
    );

    // Injected account and region.
    let (code, _, _) = run(
        input,
        &output,
        &[
            "--glue-database",
            &db,
            "--glue-table",
            "inj",
            "--glue-projection",
            "--glue-projection-injected",
        ],
    );
    assert_eq!(code, 0);
    let p = glue_table(&db, "inj")["parameters"].clone();
    assert_eq!(
        (
            p["projection.account.type"].clone(),
            p["projection.region.type"].clone()
        ),
        (json!("injected"), json!("injected"))
    );
    assert!(p.get("projection.account.values").is_none());
}

#[test]
fn glue_needs_an_s3_output() {
    let t = Tree::new();
    std::fs::create_dir_all(t.input()).unwrap();
    let o = trailpack_aws(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        t.output().to_str().unwrap(),
        "--glue-database",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs an s3:// --output"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn retention_deletes_s3_data_and_glue_partitions() {
    let mut t = Tree::new();
    for d in 1..=4 {
        let day = format!("2024-03-0{d}");
        t.file(
            None,
            "111122223333",
            "us-east-1",
            &day,
            "1200",
            &[record(&format!("r{d}"), &format!("{day}T11:00:00Z"), "a")],
        );
    }
    let out = bucket("out");
    assert!(py_aws(&[
        "s3-put",
        &out,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/r");
    let input = t.input();
    let input = input.to_str().unwrap();
    let (code, r, e) = run(input, &output, &["--glue-database", &db]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["catalog"]["partitions_created"], 4);
    let o = trailpack_aws(&[
        "daily",
        "--input",
        input,
        "--output",
        &output,
        "--glue-database",
        &db,
        "--now",
        "2024-03-05T02:00:00Z",
        "--lookback-days",
        "0",
        "--retain-days",
        "2",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["retention"]["deleted"],
        json!([
            "account=111122223333/region=us-east-1/day=2024-03-01",
            "account=111122223333/region=us-east-1/day=2024-03-02"
        ])
    );
    let values: Vec<Value> = glue_table(&db, "cloudtrail")["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["values"][2].clone())
        .collect();
    assert_eq!(values, vec![json!("2024-03-03"), json!("2024-03-04")]);
    let keys: Value = serde_json::from_slice(&py_aws(&["s3-keys", &out, "r/"]).stdout).unwrap();
    let left: Vec<&str> = keys["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert!(
        left.iter().all(|k| k.contains("day=2024-03-03")
            || k.contains("day=2024-03-04")
            || k.ends_with("_trailpack_dataset.json")),
        "{left:?}"
    );
    assert_eq!(
        left.len(),
        5,
        "two partitions (data + manifest) and the dataset file"
    );
}

#[test]
fn a_lake_formation_denial_names_the_grants_to_add() {
    let mut t = Tree::new();
    day_tree(&mut t, &["111122223333"]);
    let outb = bucket("lfout").replace('_', "-");
    let mk = py_aws(&[
        "s3-put",
        &outb,
        "x/",
        t.dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(mk.status.success(), "{}", stderr(&mk));
    // The proxy answers Glue calls on a database named *lakeformation* as a
    // Lake Formation-managed catalog does for a role without grants.
    let proxy = FaultProxy::start(0, 0);
    let db = bucket("lakeformation");
    let o = proxy.trailpack(&[
        "convert",
        "--input",
        t.input().to_str().unwrap(),
        "--output",
        &format!("s3://{outb}/c"),
        "--glue-database",
        &db,
        "--json",
    ]);
    let e = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{e}");
    for want in [
        "Lake Formation manages this catalog",
        &format!("DESCRIBE and CREATE_TABLE on database {db}"),
        &format!("on table {db}.cloudtrail"),
        "DATA_LOCATION_ACCESS",
        "README",
    ] {
        assert!(e.contains(want), "missing {want:?} in: {e}");
    }
}

#[test]
fn findings_table_is_registered_with_each_partition_and_follows_rebuilds() {
    let t = stop_logging_tree();
    let out = bucket("out");
    assert!(py_aws(&[
        "s3-put",
        &out,
        "x/",
        t.dir.path().join("none").to_str().unwrap()
    ])
    .status
    .success());
    let db = bucket("db").replace('-', "_");
    let output = format!("s3://{out}/curated");
    let input = t.input();
    let input = input.to_str().unwrap();
    let rule = repo().join("tests/detect/rules/t13_one_of_prefix.yml");
    let (code, r, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--rules", rule.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["detections"]["findings"], json!({"critical": 1}));
    let g = glue_table(&db, "cloudtrail_findings");
    assert_eq!(g["columns"].as_array().unwrap(), &findings_columns());
    let parts = g["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{g}");
    // The findings partition is the `_findings/` folder of the data version the
    // curated partition points at.
    let data = glue_table(&db, "cloudtrail")["partitions"][0]["location"]
        .as_str()
        .unwrap()
        .to_string();
    let loc = parts[0]["location"].as_str().unwrap();
    assert_eq!(loc, format!("{data}_findings/"));
    let rows: Value = serde_json::from_slice(&py_aws(&["s3-parquet-rows", loc]).stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["eventid"], "stop-1");
    assert_eq!(rows[0]["rule_level"], "critical");
    // Rebuilt with a rule that finds nothing: the findings partition goes away.
    let nothing = clean_rule(t.dir.path());
    let (code, r, e) = run(
        input,
        &output,
        &["--glue-database", &db, "--rules", nothing.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{e}");
    assert_eq!(r["partitions"]["written"], 1);
    assert_eq!(
        glue_table(&db, "cloudtrail_findings")["partitions"],
        json!([])
    );
}

/// `detect --output s3://… --glue-database` makes the findings queryable: a table
/// of the findings schema, each swept partition's folder registered right after its
/// file is written, dropped when the partition is found clean; without an S3 output
/// it is a usage error.
#[test]
fn detect_registers_its_findings_in_glue() {
    let t = stop_logging_tree();
    let out = bucket("detectglue");
    let none = t.dir.path().join("none");
    assert!(py_aws(&["s3-put", &out, "x/", none.to_str().unwrap()])
        .status
        .success());
    let db = bucket("detectdb").replace('-', "_");
    let findings = format!("s3://{out}/findings");
    let input = t.input();
    let detect = |rule: &std::path::Path, output: &str| {
        trailpack_aws(&[
            "detect",
            "--rules",
            rule.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output,
            "--glue-database",
            &db,
            "--json",
        ])
    };
    let rule = repo().join("tests/detect/rules/t13_one_of_prefix.yml");
    let o = detect(&rule, &findings);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["glue"]["partitions_registered"], 1, "{summary}");
    let g = glue_table(&db, "detect_findings");
    assert_eq!(g["columns"].as_array().unwrap(), &findings_columns());
    let parts = g["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{g}");
    let loc = parts[0]["location"].as_str().unwrap();
    assert_eq!(
        loc,
        format!("{findings}/account=111122223333/region=us-east-1/day=2024-03-05/")
    );
    let rows: Value = serde_json::from_slice(&py_aws(&["s3-parquet-rows", loc]).stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["eventid"], "stop-1");
    // Found clean: the partition is dropped with its file.
    let nothing = clean_rule(t.dir.path());
    let o = detect(&nothing, &findings);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(glue_table(&db, "detect_findings")["partitions"], json!([]));
    // A local output cannot be registered.
    let local = t.dir.path().join("local");
    let o = detect(&rule, local.to_str().unwrap());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--glue-database needs an s3:// --output"),
        "{}",
        stderr(&o)
    );
}
