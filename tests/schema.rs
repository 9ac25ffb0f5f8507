//! `schema/` is the single source of truth: the derived forms checked in under
//! `schema/` must match what the binary derives, and the data files must carry
//! exactly the schema's columns.

mod common;

use common::*;

fn derived(format: &str) -> String {
    let o = trailpack(&["schema", "--format", format]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn checked_in_derivations_do_not_drift() {
    for (format, file) in [
        ("markdown", "schema/COLUMNS.md"),
        ("glue-json", "schema/glue-columns.json"),
        ("athena-ddl", "schema/athena-table.sql"),
    ] {
        let want = derived(format);
        let have = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        assert!(
            have == want,
            "{file} differs from `trailpack schema --format {format}`; regenerate it with\n  cargo run -- schema --format {format} > {file}"
        );
    }
}

#[test]
fn checked_in_findings_derivations_do_not_drift() {
    for (format, file) in [
        ("markdown", "schema/FINDINGS.md"),
        ("glue-json", "schema/findings-glue-columns.json"),
        ("athena-ddl", "schema/findings-athena-table.sql"),
    ] {
        let o = trailpack(&["schema", "--findings", "--format", format]);
        assert!(o.status.success(), "{}", stderr(&o));
        let want = stdout(&o);
        let have = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        assert!(
            have == want,
            "{file} differs from `trailpack schema --findings --format {format}`; regenerate it with\n  cargo run -- schema --findings --format {format} > {file}"
        );
    }
    // Every column of findings.toml, in order, in the Glue form.
    let text = std::fs::read_to_string(repo().join("schema/findings.toml")).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    let names: Vec<&str> = file["column"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let glue: serde_json::Value = serde_json::from_str(&stdout(&trailpack(&[
        "schema",
        "--findings",
        "--format",
        "glue-json",
    ])))
    .unwrap();
    let glue_names: Vec<&str> = glue["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(glue_names, names);
}

#[test]
fn derived_forms_agree_with_the_schema_file() {
    let text = std::fs::read_to_string(repo().join("schema/cloudtrail.toml")).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    let cols = file["column"].as_array().unwrap();
    let glue: serde_json::Value = serde_json::from_str(&derived("glue-json")).unwrap();
    let glue_cols = glue["Columns"].as_array().unwrap();
    assert_eq!(glue_cols.len(), cols.len());
    for (c, g) in cols.iter().zip(glue_cols) {
        assert_eq!(g["Name"].as_str(), c["name"].as_str());
    }
    let arrow = derived("arrow");
    assert_eq!(arrow.lines().count(), cols.len());
    assert!(
        arrow.contains("eventtime: Timestamp(µs, \"UTC\")")
            || arrow.contains("eventtime: Timestamp(Microsecond, Some(\"UTC\"))"),
        "{arrow}"
    );
    let ddl = derived("athena-ddl");
    for c in cols {
        assert!(ddl.contains(&format!("`{}`", c["name"].as_str().unwrap())));
    }
    assert!(ddl.contains("PARTITIONED BY (`account` string, `region` string, `day` string)"));
    let loc = stdout(&trailpack(&[
        "schema",
        "--format",
        "athena-ddl",
        "--location",
        "s3://b/p",
        "--table",
        "ct",
        "--database",
        "sec",
    ]));
    assert!(
        loc.contains("LOCATION 's3://b/p/'") && loc.contains("`sec`.`ct`"),
        "{loc}"
    );
}
