//! The column schema, loaded from `schema/cloudtrail.toml` (embedded at build time),
//! and everything derived from it: the Arrow schema, Glue columns, Athena DDL and
//! the Markdown column reference.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

mod findings;
mod render;
pub use findings::{FindingColumn, FindingSource, FindingType, FindingsSchema, FINDINGS_TOML};
pub use render::{athena_ddl, glue_columns_json, markdown, DdlOptions};

/// The schema file's text, embedded so the binary is self-contained.
pub const SCHEMA_TOML: &str = include_str!("../../schema/cloudtrail.toml");

/// Partition keys of the curated table, in order. They are folder names
/// (`account=…/region=…/day=…`), never columns inside the files.
pub const PARTITION_KEYS: [&str; 3] = ["account", "region", "day"];

/// Logical type of a column; fixes its Arrow and Glue types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Boolean,
    Timestamp,
    Json,
    StructList,
}

/// A field of a `struct_list` column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructField {
    pub name: String,
    pub key: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

/// Special roles a column can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Unmapped,
    /// A copy of one top-level member of a `json` column (path `<json path>.<key>`),
    /// extracted so that queries filtering on it do not read the whole JSON column.
    /// The JSON column keeps the member: derived columns add nothing to the record.
    Derived,
    /// Not from the record: the delivered object the row was read from (`s3://…` or
    /// the `AWSLogs/…` key of a local file). Dictionary-encoded: one value per file.
    Source,
}

/// The derived columns of one `json` column.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Index of the `json` column.
    pub source: usize,
    /// (member key, derived column index).
    pub members: Vec<(String, usize)>,
}

/// One column of the curated table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    pub path: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default = "default_true")]
    pub dictionary: bool,
    #[serde(default)]
    pub fields: Vec<StructField>,
    #[serde(default)]
    pub role: Option<Role>,
    pub description: String,
}

fn default_true() -> bool {
    true
}

impl Column {
    /// The JSON keys of this column's path.
    pub fn path_keys(&self) -> impl Iterator<Item = &str> {
        self.path.split('.').filter(|k| !k.is_empty())
    }

    /// Arrow data type of the column.
    pub fn arrow_type(&self) -> DataType {
        if self.role == Some(Role::Source) {
            // One value per input file: a dictionary in memory and in Parquet.
            return DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        }
        match self.ty {
            ColumnType::String | ColumnType::Json => DataType::Utf8,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => timestamp_type(),
            ColumnType::StructList => {
                DataType::List(Arc::new(Field::new_list_field(self.struct_type(), true)))
            }
        }
    }

    /// For `struct_list` columns, the element struct type.
    pub fn struct_type(&self) -> DataType {
        DataType::Struct(self.struct_fields())
    }

    pub fn struct_fields(&self) -> Fields {
        self.fields
            .iter()
            .map(|f| Field::new(&f.name, scalar_arrow_type(f.ty), true))
            .collect()
    }

    /// Glue / Athena (Hive DDL) type of the column.
    pub fn glue_type(&self) -> String {
        match self.ty {
            ColumnType::StructList => {
                let inner: Vec<String> = self
                    .fields
                    .iter()
                    .map(|f| format!("{}:{}", f.name, scalar_glue_type(f.ty)))
                    .collect();
                format!("array<struct<{}>>", inner.join(","))
            }
            t => scalar_glue_type(t).to_string(),
        }
    }
}

fn scalar_arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Timestamp => timestamp_type(),
        _ => DataType::Utf8,
    }
}

fn scalar_glue_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Boolean => "boolean",
        ColumnType::Timestamp => "timestamp",
        _ => "string",
    }
}

/// Timestamps are microseconds, UTC: Athena cannot read nanoseconds.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    column: Vec<Column>,
}

/// Errors in the schema file. The embedded file is checked by tests, so these
/// only surface while editing `schema/cloudtrail.toml`.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema/cloudtrail.toml is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("schema/cloudtrail.toml: {0}")]
    Invalid(String),
}

/// The loaded, validated column schema.
#[derive(Debug)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    /// Index of the `unmapped` column.
    pub unmapped: usize,
    /// Index of the `source` column (the row's delivered object).
    pub source: usize,
    /// Index of the `eventtime` column (path `eventTime`).
    pub event_time: usize,
    /// Index of the `eventid` column (path `eventID`).
    pub event_id: usize,
    /// Derived columns, grouped by their `json` column.
    pub extracts: Vec<Extract>,
    arrow: SchemaRef,
    fingerprint: String,
}

impl TableSchema {
    /// Parse and validate schema text.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let file: SchemaFile = toml::from_str(text)?;
        let columns = file.column;
        check_columns(&columns)?;
        let find = |pred: &dyn Fn(&Column) -> bool, what: &str| {
            columns
                .iter()
                .position(pred)
                .ok_or_else(|| SchemaError::Invalid(format!("no {what} column")))
        };
        let unmapped = find(&|c| c.role == Some(Role::Unmapped), "unmapped")?;
        if columns[unmapped].ty != ColumnType::Json {
            return invalid("the unmapped column must have type json".into());
        }
        let source = find(&|c| c.role == Some(Role::Source), "source")?;
        if columns[source].ty != ColumnType::String || !columns[source].path.is_empty() {
            return invalid("the source column must have type string and an empty path".into());
        }
        if columns
            .iter()
            .filter(|c| c.role == Some(Role::Source))
            .count()
            > 1
        {
            return invalid("more than one source column".into());
        }
        let event_time = find(
            &|c| c.path == "eventTime" && c.ty == ColumnType::Timestamp,
            "eventTime timestamp",
        )?;
        let event_id = find(
            &|c| c.path == "eventID" && c.ty == ColumnType::String,
            "eventID",
        )?;
        let extracts = derived_extracts(&columns)?;
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.arrow_type(), true))
                .collect::<Vec<_>>(),
        ));
        let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
        Ok(Self {
            columns,
            unmapped,
            source,
            event_time,
            event_id,
            extracts,
            arrow,
            fingerprint,
        })
    }

    /// The embedded schema (parsed once).
    pub fn embedded() -> &'static TableSchema {
        static SCHEMA: OnceLock<TableSchema> = OnceLock::new();
        SCHEMA.get_or_init(|| match TableSchema::parse(SCHEMA_TOML) {
            Ok(s) => s,
            // The embedded file is validated by the test suite; a broken edit must not ship.
            Err(e) => panic!("embedded schema is invalid: {e}"),
        })
    }

    /// Arrow schema of the data files.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// Short hash of the schema file: recorded in manifests, so that a schema change
    /// makes trailpack rebuild partitions.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn invalid<T>(m: String) -> Result<T, SchemaError> {
    Err(SchemaError::Invalid(m))
}

/// Each column on its own: a lowercase name, unique, not a partition key; a unique
/// path (but for role columns); `fields` with struct_list only, all strings. And no
/// path both a leaf and the parent of another.
fn check_columns(columns: &[Column]) -> Result<(), SchemaError> {
    let mut names = std::collections::HashSet::new();
    let mut paths = std::collections::HashSet::new();
    for c in columns {
        let ok_name = !c.name.is_empty()
            && c.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok_name {
            return invalid(format!(
                "column name {:?} must be lowercase [a-z0-9_]",
                c.name
            ));
        }
        if PARTITION_KEYS.contains(&c.name.as_str()) {
            return invalid(format!("column {:?} clashes with a partition key", c.name));
        }
        if !names.insert(c.name.clone()) {
            return invalid(format!("duplicate column name {:?}", c.name));
        }
        if c.role.is_none() {
            if c.path.is_empty() {
                return invalid(format!("column {:?} has an empty path", c.name));
            }
            if !paths.insert(c.path.clone()) {
                return invalid(format!("duplicate path {:?}", c.path));
            }
        }
        if (c.ty == ColumnType::StructList) == c.fields.is_empty() {
            return invalid(format!(
                "column {:?}: `fields` goes with type struct_list, and only with it",
                c.name
            ));
        }
        if c.fields.iter().any(|f| f.ty != ColumnType::String) {
            return invalid(format!(
                "column {:?}: struct fields must be strings",
                c.name
            ));
        }
    }
    for p in &paths {
        let prefix = format!("{p}.");
        if let Some(q) = paths.iter().find(|q| q.starts_with(&prefix)) {
            return invalid(format!("path {p:?} is a leaf and also the parent of {q:?}"));
        }
    }
    Ok(())
}

/// The derived columns, grouped by the json column they copy a member of.
fn derived_extracts(columns: &[Column]) -> Result<Vec<Extract>, SchemaError> {
    let mut extracts: Vec<Extract> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if c.role != Some(Role::Derived) {
            continue;
        }
        let source = c.path.rsplit_once('.').and_then(|(parent, key)| {
            columns
                .iter()
                .position(|p| p.role.is_none() && p.ty == ColumnType::Json && p.path == parent)
                .map(|s| (s, key))
        });
        let Some((source, key)) = source else {
            return invalid(format!(
                "derived column {:?}: its path must be a json column's path plus one key",
                c.name
            ));
        };
        if c.ty != ColumnType::String {
            return invalid(format!("derived column {:?} must have type string", c.name));
        }
        match extracts.iter_mut().find(|e| e.source == source) {
            Some(e) if e.members.iter().any(|(k, _)| k == key) => {
                return invalid(format!("duplicate path {:?}", c.path));
            }
            Some(e) => e.members.push((key.to_string(), i)),
            None => extracts.push(Extract {
                source,
                members: vec![(key.to_string(), i)],
            }),
        }
    }
    Ok(extracts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_is_valid_and_complete() {
        let s = TableSchema::parse(SCHEMA_TOML).expect("valid");
        let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        for required in [
            "eventversion",
            "eventtime",
            "eventsource",
            "eventname",
            "awsregion",
            "sourceipaddress",
            "useragent",
            "errorcode",
            "errormessage",
            "requestid",
            "eventid",
            "eventtype",
            "apiversion",
            "readonly",
            "recipientaccountid",
            "sharedeventid",
            "vpcendpointid",
            "vpcendpointaccountid",
            "managementevent",
            "eventcategory",
            "sessioncredentialfromconsole",
            "useridentity_type",
            "useridentity_principalid",
            "useridentity_arn",
            "useridentity_accountid",
            "useridentity_accesskeyid",
            "useridentity_username",
            "useridentity_invokedby",
            "useridentity_identityprovider",
            "useridentity_credentialid",
            "useridentity_sessioncontext_attributes_creationdate",
            "useridentity_sessioncontext_attributes_mfaauthenticated",
            "useridentity_sessioncontext_sessionissuer_type",
            "useridentity_sessioncontext_sessionissuer_principalid",
            "useridentity_sessioncontext_sessionissuer_arn",
            "useridentity_sessioncontext_sessionissuer_accountid",
            "useridentity_sessioncontext_sessionissuer_username",
            "useridentity_sessioncontext_webidfederationdata_federatedprovider",
            "useridentity_sessioncontext_webidfederationdata_attributes",
            "useridentity_sessioncontext_sourceidentity",
            "useridentity_sessioncontext_ec2roledelivery",
            "useridentity_sessioncontext_assumedroot",
            "useridentity_onbehalfof_userid",
            "useridentity_onbehalfof_identitystorearn",
            "useridentity_inscopeof_sourcearn",
            "useridentity_invokedbydelegate_accountid",
            "resources",
            "tlsdetails_tlsversion",
            "tlsdetails_ciphersuite",
            "tlsdetails_clientprovidedhostheader",
            "tlsdetails_keyexchange",
            "addendum_reason",
            "addendum_updatedfields",
            "addendum_originalrequestid",
            "addendum_originaleventid",
            "requestparameters",
            "responseelements",
            "additionaleventdata",
            "serviceeventdetails",
            "edgedevicedetails",
            "insightdetails",
            "unmapped",
        ] {
            assert!(names.contains(&required), "missing column {required}");
        }
        assert_eq!(s.columns[s.event_time].name, "eventtime");
        assert_eq!(
            s.arrow_schema()
                .field_with_name("eventtime")
                .unwrap()
                .data_type(),
            &timestamp_type()
        );
        assert_eq!(
            s.columns
                .iter()
                .find(|c| c.name == "resources")
                .unwrap()
                .glue_type(),
            "array<struct<arn:string,accountid:string,type:string>>"
        );
    }

    #[test]
    fn name_follows_path() {
        // Column names are the lowercased path with `_` between levels.
        let s = TableSchema::embedded();
        for c in s
            .columns
            .iter()
            .filter(|c| !matches!(c.role, Some(Role::Unmapped | Role::Source)))
        {
            let derived = c.path.to_ascii_lowercase().replace('.', "_");
            assert_eq!(c.name, derived, "column name must follow its path");
        }
    }

    #[test]
    fn rejects_bad_schemas() {
        let bad = [
            "[[column]]\nname='A'\npath='a'\ntype='string'\ndescription=''",
            "[[column]]\nname='a'\npath='a'\ntype='int'\ndescription=''",
            "[[column]]\nname='a'\npath='a'\ntype='string'\ndescription=''\nbogus=1",
            "[[column]]\nname='day'\npath='a'\ntype='string'\ndescription=''",
        ];
        for text in bad {
            assert!(TableSchema::parse(text).is_err(), "accepted: {text}");
        }
    }

    /// A minimal valid schema plus `extra` columns.
    fn with(extra: &str) -> Result<TableSchema, SchemaError> {
        let base = "[[column]]\nname='eventtime'\npath='eventTime'\ntype='timestamp'\ndescription=''\n\
                    [[column]]\nname='eventid'\npath='eventID'\ntype='string'\ndescription=''\n\
                    [[column]]\nname='requestparameters'\npath='requestParameters'\ntype='json'\ndescription=''\n\
                    [[column]]\nname='unmapped'\npath=''\ntype='json'\nrole='unmapped'\ndescription=''\n\
                    [[column]]\nname='source_object'\npath=''\ntype='string'\nrole='source'\ndescription=''\n";
        TableSchema::parse(&format!("{base}{extra}"))
    }

    #[test]
    fn one_source_column_of_strings_dictionary_encoded() {
        let s = with("").unwrap();
        assert_eq!(s.source, 4);
        assert!(matches!(
            s.arrow_schema().field(4).data_type(),
            DataType::Dictionary(_, v) if **v == DataType::Utf8
        ));
        assert_eq!(s.columns[4].glue_type(), "string");
        let second =
            "[[column]]\nname='source2'\npath=''\ntype='string'\nrole='source'\ndescription=''\n";
        assert!(with(second).is_err());
        let no_source =
            "[[column]]\nname='eventtime'\npath='eventTime'\ntype='timestamp'\ndescription=''\n\
             [[column]]\nname='eventid'\npath='eventID'\ntype='string'\ndescription=''\n\
             [[column]]\nname='unmapped'\npath=''\ntype='json'\nrole='unmapped'\ndescription=''\n";
        assert!(TableSchema::parse(no_source).is_err());
    }

    #[test]
    fn derived_columns_copy_one_member_of_a_json_column() {
        let ok = with("[[column]]\nname='requestparameters_rolearn'\npath='requestParameters.roleArn'\ntype='string'\nrole='derived'\ndescription=''\n").unwrap();
        assert_eq!(ok.extracts.len(), 1);
        assert_eq!(ok.extracts[0].source, 2);
        assert_eq!(ok.extracts[0].members, vec![("roleArn".to_string(), 5)]);
        let embedded = TableSchema::embedded();
        assert!(
            embedded
                .extracts
                .iter()
                .map(|e| e.members.len())
                .sum::<usize>()
                >= 8
        );
        for bad in [
            // not under a json column
            "[[column]]\nname='eventid_x'\npath='eventID.x'\ntype='string'\nrole='derived'\ndescription=''\n",
            // deeper than one member
            "[[column]]\nname='requestparameters_a_b'\npath='requestParameters.a.b'\ntype='string'\nrole='derived'\ndescription=''\n",
            // not a string
            "[[column]]\nname='requestparameters_x'\npath='requestParameters.x'\ntype='boolean'\nrole='derived'\ndescription=''\n",
            // the same member twice
            "[[column]]\nname='requestparameters_x'\npath='requestParameters.x'\ntype='string'\nrole='derived'\ndescription=''\n\
             [[column]]\nname='requestparameters_x2'\npath='requestParameters.x'\ntype='string'\nrole='derived'\ndescription=''\n",
        ] {
            assert!(with(bad).is_err(), "accepted: {bad}");
        }
    }
}
