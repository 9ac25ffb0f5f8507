//! AWS Glue as the catalog of the curated table.
//!
//! The table is an external Parquet table whose columns come from `schema/`,
//! partitioned by account, region and day (strings), located at the output prefix.
//! Two ways to make partitions queryable:
//! - registered partitions (default): BatchCreatePartition in chunks of 100 after the
//!   data is published; partitions that exist are updated only when their location
//!   or columns differ; per-entry errors are retried when transient, else reported.
//!   Registered partitions also serve Spark, Trino or EMR reading through Glue.
//! - partition projection (`--glue-projection`): no partition API calls; the table's
//!   projection properties describe the layout (day as a date range from the earliest
//!   written day to NOW; account and region as enums kept current by trailpack, or
//!   `injected`). Athena only; cheapest for large organisations.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    BatchUpdatePartitionRequestEntry, Column, DatabaseInput, PartitionInput, PartitionValueList,
    SerDeInfo, StorageDescriptor, TableInput,
};

use super::{Catalog, CatalogError, CatalogReport, PartitionLocation};
use crate::aws::Aws;
use crate::layout::day_string;
use crate::partition::PartitionKey;
use crate::schema::{FindingsSchema, TableSchema, PARTITION_KEYS};

const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
const TRANSIENT: [&str; 4] = [
    "ThrottlingException",
    "InternalServiceException",
    "ConcurrentModificationException",
    "OperationTimeoutException",
];

/// How partitions become queryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Register,
    /// Partition projection; `injected`: account and region are given in queries.
    Projection {
        injected: bool,
    },
}

pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    rt: Arc<tokio::runtime::Runtime>,
    database: String,
    table: String,
    /// `s3://bucket/prefix/` of the curated data.
    location: String,
    mode: Mode,
    def: TableDef,
    /// Accounts, regions and earliest day of the projection as last read or written.
    projected: std::sync::Mutex<Option<Projected>>,
    /// The findings table kept beside this one (`--rules`), partitions registered.
    findings: Option<Box<GlueCatalog>>,
}

/// The columns of a table and the fingerprint of the schema file they come from.
struct TableDef {
    /// (name, Glue type, comment)
    columns: Vec<(String, String, String)>,
    fingerprint: String,
}

impl TableDef {
    fn curated(schema: &TableSchema) -> TableDef {
        TableDef {
            columns: schema
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.glue_type(), c.description.clone()))
                .collect(),
            fingerprint: schema.fingerprint().to_string(),
        }
    }

    fn findings(schema: &FindingsSchema) -> TableDef {
        TableDef {
            columns: schema
                .columns
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.glue_type().to_string(),
                        c.description.clone(),
                    )
                })
                .collect(),
            fingerprint: schema.fingerprint().to_string(),
        }
    }
}

type Projected = (BTreeSet<String>, BTreeSet<String>, String);

fn service_err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    action: &'static str,
    target: &str,
    e: &SdkError<E, R>,
) -> CatalogError {
    let detail = e
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| aws_sdk_glue::error::DisplayErrorContext(e).to_string());
    CatalogError::Service {
        action,
        target: target.to_string(),
        code: e.code().map(|c| format!(" ({c})")).unwrap_or_default(),
        detail,
    }
}

/// A Lake Formation denial, explained: what to grant the job's role.
fn explain_lake_formation(e: CatalogError, db: &str, table: &str) -> CatalogError {
    match e {
        CatalogError::Service {
            action,
            target,
            code,
            detail,
        } if code.contains("AccessDenied") && detail.contains("Lake Formation") => {
            CatalogError::Service {
                action,
                target,
                code,
                detail: format!(
                    "{detail}. Lake Formation manages this catalog: IAM permissions are not \
                     enough. Grant the job's role DESCRIBE and CREATE_TABLE on database {db}; \
                     ALTER, DESCRIBE, INSERT, DELETE and SELECT on table {db}.{table}; and \
                     DATA_LOCATION_ACCESS on the output location if it is registered with \
                     Lake Formation (README, \"Lake Formation\"; the stack's \
                     LakeFormationGrants parameter)"
                ),
            }
        }
        other => other,
    }
}

/// The comma-separated values of a projection parameter.
fn projection_values(params: &HashMap<String, String>, key: &str) -> BTreeSet<String> {
    params
        .get(key)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A partition's values in key order: account, region, day.
fn partition_values(k: &PartitionKey) -> Vec<String> {
    vec![k.account.clone(), k.region.clone(), day_string(k.day)]
}

fn value_list(k: &PartitionKey) -> PartitionValueList {
    built(
        PartitionValueList::builder()
            .set_values(Some(partition_values(k)))
            .build(),
    )
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    // Builders fail only when a required field is missing; every call below sets them.
    r.unwrap_or_else(|e| panic!("Glue request builder: {e}"))
}

impl GlueCatalog {
    pub fn new(aws: &Aws, database: &str, table: &str, location: &str, mode: Mode) -> GlueCatalog {
        GlueCatalog {
            client: aws_sdk_glue::Client::new(&aws.config),
            rt: aws.rt.clone(),
            database: database.to_string(),
            table: table.to_string(),
            location: if location.ends_with('/') {
                location.to_string()
            } else {
                format!("{location}/")
            },
            mode,
            def: TableDef::curated(TableSchema::embedded()),
            projected: std::sync::Mutex::new(None),
            findings: None,
        }
    }

    /// A findings table of its own at `location` (what `detect --output` writes):
    /// partitions registered at `<location>/account=…/region=…/day=…/`.
    pub fn findings_table(aws: &Aws, database: &str, table: &str, location: &str) -> GlueCatalog {
        let mut f = GlueCatalog::new(aws, database, table, location, Mode::Register);
        f.def = TableDef::findings(FindingsSchema::embedded());
        f
    }

    /// Also keep the findings table `table` (in the same database): each published
    /// partition's findings folder is registered as its partition there.
    pub fn with_findings(mut self, aws: &Aws, table: &str) -> GlueCatalog {
        let mut f = GlueCatalog::new(aws, &self.database, table, &self.location, Mode::Register);
        f.def = TableDef::findings(FindingsSchema::embedded());
        self.findings = Some(Box::new(f));
        self
    }

    fn target(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    fn columns(&self) -> Vec<Column> {
        self.def
            .columns
            .iter()
            .map(|(name, ty, comment)| {
                built(
                    Column::builder()
                        .name(name)
                        .r#type(ty)
                        .comment(comment.chars().take(255).collect::<String>())
                        .build(),
                )
            })
            .collect()
    }

    fn storage(&self, location: &str, columns: Vec<Column>) -> StorageDescriptor {
        StorageDescriptor::builder()
            .set_columns(Some(columns))
            .location(location)
            .input_format(INPUT_FORMAT)
            .output_format(OUTPUT_FORMAT)
            .serde_info(SerDeInfo::builder().serialization_library(SERDE).build())
            .build()
    }

    /// The folder a partition is registered at: `<location>account=…/region=…/day=…/`.
    pub fn partition_location(&self, k: &PartitionKey) -> String {
        format!("{}{}/", self.location, k.rel_path())
    }

    fn table_input(
        &self,
        columns: Vec<Column>,
        mut parameters: HashMap<String, String>,
    ) -> TableInput {
        parameters.insert("classification".into(), "parquet".into());
        parameters.insert("EXTERNAL".into(), "TRUE".into());
        parameters.insert("parquet.compression".into(), "ZSTD".into());
        parameters.insert("trailpack.schema".into(), self.def.fingerprint.clone());
        let keys = PARTITION_KEYS
            .iter()
            .map(|k| built(Column::builder().name(*k).r#type("string").build()))
            .collect();
        built(
            TableInput::builder()
                .name(&self.table)
                .table_type("EXTERNAL_TABLE")
                .set_parameters(Some(parameters))
                .storage_descriptor(self.storage(&self.location, columns))
                .set_partition_keys(Some(keys))
                .build(),
        )
    }

    /// Create the database and table if missing, or add the schema's new columns to
    /// an existing table (never dropping or retyping one).
    async fn ensure(&self, report: &mut CatalogReport) -> Result<(), CatalogError> {
        self.ensure_database().await?;
        match self.get_table().await? {
            Some(table) => self.evolve(&table, report).await,
            None => self.create_table(report).await,
        }
    }

    async fn ensure_database(&self) -> Result<(), CatalogError> {
        let c = &self.client;
        match c.get_database().name(&self.database).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                let created = c
                    .create_database()
                    .database_input(built(DatabaseInput::builder().name(&self.database).build()))
                    .send()
                    .await;
                match created {
                    // Another run created it meanwhile: fine.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_already_exists_exception()) =>
                    {
                        Ok(())
                    }
                    other => other
                        .map(|_| ())
                        .map_err(|e| service_err("CreateDatabase", &self.database, &e)),
                }
            }
            Err(e) => Err(service_err("GetDatabase", &self.database, &e)),
        }
    }

    /// The table, or `None` when it does not exist.
    async fn get_table(&self) -> Result<Option<aws_sdk_glue::types::Table>, CatalogError> {
        let got = self
            .client
            .get_table()
            .database_name(&self.database)
            .name(&self.table)
            .send()
            .await;
        match got {
            Ok(out) => Ok(out.table),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(service_err("GetTable", &self.target(), &e)),
        }
    }

    async fn create_table(&self, report: &mut CatalogReport) -> Result<(), CatalogError> {
        let created = self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(self.table_input(self.columns(), HashMap::new()))
            .send()
            .await;
        match created {
            Ok(_) => {
                report.table_created = true;
                Ok(())
            }
            // Another run created it meanwhile: look again (it may need columns).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Err(CatalogError::Service {
                    action: "CreateTable",
                    target: self.target(),
                    code: " (ConcurrentModificationException)".into(),
                    detail: "created by another run meanwhile".into(),
                })
            }
            Err(e) => Err(service_err("CreateTable", &self.target(), &e)),
        }
    }

    /// Add the schema's columns the table lacks; a column of another type, or other
    /// partition keys, is a conflict for the user to resolve.
    async fn evolve(
        &self,
        table: &aws_sdk_glue::types::Table,
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        let have: Vec<Column> = table
            .storage_descriptor()
            .map(|sd| sd.columns().to_vec())
            .unwrap_or_default();
        let lower = |t: Option<&str>| t.map(str::to_ascii_lowercase);
        let mut columns = have.clone();
        for want in self.columns() {
            let same_name = |h: &&Column| h.name().eq_ignore_ascii_case(want.name());
            match have.iter().find(same_name) {
                Some(h) if lower(h.r#type()) != lower(want.r#type()) => {
                    return Err(CatalogError::Conflict(format!(
                        "Glue table {}: column {} is {} there but {} in trailpack's schema; \
                         change the column's type in Glue (or drop and let trailpack recreate the table), then run again",
                        self.target(),
                        want.name(),
                        h.r#type().unwrap_or("?"),
                        want.r#type().unwrap_or("?")
                    )));
                }
                Some(_) => {}
                None => {
                    report.columns_added.push(want.name().to_string());
                    columns.push(want);
                }
            }
        }
        let keys: Vec<&str> = table.partition_keys().iter().map(|k| k.name()).collect();
        if keys != PARTITION_KEYS {
            return Err(CatalogError::Conflict(format!(
                "Glue table {} is partitioned by {:?}, trailpack writes {:?}; use another --glue-table",
                self.target(),
                keys,
                PARTITION_KEYS
            )));
        }
        if !report.columns_added.is_empty() {
            let params = table.parameters().cloned().unwrap_or_default();
            self.update_table(table, columns, params).await?;
        }
        Ok(())
    }

    /// Replace the table's columns and parameters, on condition that it is still the
    /// version read (`VersionId`): a concurrent update fails with
    /// ConcurrentModificationException and the caller looks again.
    async fn update_table(
        &self,
        read: &aws_sdk_glue::types::Table,
        columns: Vec<Column>,
        params: HashMap<String, String>,
    ) -> Result<(), CatalogError> {
        self.client
            .update_table()
            .database_name(&self.database)
            .table_input(self.table_input(columns, params))
            .set_version_id(read.version_id().map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| service_err("UpdateTable", &self.target(), &e))
    }

    /// Create the partitions Glue lacks and update those whose location or columns
    /// differ; count those already current.
    async fn register(
        &self,
        located: &[PartitionLocation],
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        let columns = self.columns();
        let existing = self.existing_partitions(located).await?;
        let (mut to_create, mut to_update) = (Vec::new(), Vec::new());
        for p in located {
            let location = with_slash(&p.location);
            match existing.get(&partition_values(&p.key)) {
                None => to_create.push((&p.key, location)),
                Some((loc, cols))
                    if loc.as_deref() != Some(location.as_str()) || cols != &columns =>
                {
                    to_update.push((&p.key, location))
                }
                Some(_) => report.partitions_unchanged += 1,
            }
        }
        let input = |(k, location): &(&PartitionKey, String)| {
            PartitionInput::builder()
                .set_values(Some(partition_values(k)))
                .storage_descriptor(self.storage(location, columns.clone()))
                .build()
        };
        for chunk in to_create.chunks(100) {
            let inputs: Vec<_> = chunk.iter().map(|p| (p.0, input(p))).collect();
            self.create_partitions(inputs, report).await?;
        }
        for chunk in to_update.chunks(100) {
            let inputs = chunk.iter().map(|p| (p.0, input(p))).collect();
            self.update_partitions(inputs).await?;
            report.partitions_updated += chunk.len();
        }
        Ok(())
    }

    /// The location and columns of those of the partitions that exist, in chunks of
    /// 1,000 (BatchGetPartition's limit).
    async fn existing_partitions(
        &self,
        located: &[PartitionLocation],
    ) -> Result<HashMap<Vec<String>, (Option<String>, Vec<Column>)>, CatalogError> {
        let mut existing = HashMap::new();
        for chunk in located.chunks(1000) {
            let out = self
                .client
                .batch_get_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .set_partitions_to_get(Some(chunk.iter().map(|p| value_list(&p.key)).collect()))
                .send()
                .await
                .map_err(|e| service_err("BatchGetPartition", &self.target(), &e))?;
            for p in out.partitions() {
                let sd = p.storage_descriptor();
                existing.insert(
                    p.values().to_vec(),
                    (
                        sd.and_then(|s| s.location()).map(str::to_string),
                        sd.map(|s| s.columns().to_vec()).unwrap_or_default(),
                    ),
                );
            }
        }
        Ok(existing)
    }

    /// Create up to 100 partitions (BatchCreatePartition's limit), retrying those
    /// refused for a transient reason; one that exists already (another run made it)
    /// counts as unchanged.
    async fn create_partitions(
        &self,
        mut pending: Vec<(&PartitionKey, PartitionInput)>,
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        for attempt in 1..=5 {
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .set_partition_input_list(Some(pending.iter().map(|p| p.1.clone()).collect()))
                .send()
                .await
                .map_err(|e| service_err("BatchCreatePartition", &self.target(), &e))?;
            let mut retry = Vec::new();
            let mut failed = Vec::new();
            let errors = out.errors();
            for (k, input) in pending {
                let err = errors
                    .iter()
                    .find(|e| e.partition_values() == partition_values(k).as_slice());
                match err.and_then(|e| e.error_detail()) {
                    None => report.partitions_created += 1,
                    Some(d) if d.error_code() == Some("AlreadyExistsException") => {
                        report.partitions_unchanged += 1
                    }
                    Some(d) if TRANSIENT.contains(&d.error_code().unwrap_or("")) && attempt < 5 => {
                        retry.push((k, input))
                    }
                    Some(d) => failed.push(format!(
                        "{}: {} {}",
                        k,
                        d.error_code().unwrap_or("?"),
                        d.error_message().unwrap_or("")
                    )),
                }
            }
            if !failed.is_empty() {
                return Err(CatalogError::Service {
                    action: "BatchCreatePartition",
                    target: self.target(),
                    code: String::new(),
                    detail: failed.join("; "),
                });
            }
            if retry.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            pending = retry;
        }
        Ok(())
    }

    /// Point up to 100 existing partitions (BatchUpdatePartition's limit) at their
    /// new location and columns.
    async fn update_partitions(
        &self,
        inputs: Vec<(&PartitionKey, PartitionInput)>,
    ) -> Result<(), CatalogError> {
        let entries = inputs
            .into_iter()
            .map(|(k, input)| {
                built(
                    BatchUpdatePartitionRequestEntry::builder()
                        .set_partition_value_list(Some(partition_values(k)))
                        .partition_input(input)
                        .build(),
                )
            })
            .collect();
        let out = self
            .client
            .batch_update_partition()
            .database_name(&self.database)
            .table_name(&self.table)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| service_err("BatchUpdatePartition", &self.target(), &e))?;
        match out.errors().first() {
            None => Ok(()),
            Some(e) => Err(CatalogError::Service {
                action: "BatchUpdatePartition",
                target: self.target(),
                code: e
                    .error_detail()
                    .and_then(|d| d.error_code())
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                detail: e
                    .error_detail()
                    .and_then(|d| d.error_message())
                    .unwrap_or("")
                    .to_string(),
            }),
        }
    }

    /// Add the partitions' accounts, regions and days to the table's projection.
    /// Concurrent runs (backfill shards) update the same table: each update names
    /// the table version it read (`VersionId`) and is retried on a conflict, so no
    /// run's values are lost. Values this process already saw in the table are not
    /// written again.
    async fn project(
        &self,
        partitions: &[PartitionKey],
        injected: bool,
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        if self.projection_covers(partitions) {
            return Ok(());
        }
        for attempt in 0..20u32 {
            match self.project_once(partitions, injected, report).await {
                Err(CatalogError::Service { code, .. })
                    if code.contains("ConcurrentModificationException") && attempt < 19 =>
                {
                    let ms = 50 + fastrand::u64(..100) * u64::from(attempt + 1);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                other => return other,
            }
        }
        Ok(())
    }

    /// Whether the projection seen last already holds these partitions' values.
    fn projection_covers(&self, partitions: &[PartitionKey]) -> bool {
        let seen = self.projected.lock().unwrap_or_else(|e| e.into_inner());
        let Some((accounts, regions, earliest)) = seen.as_ref() else {
            return false;
        };
        partitions.iter().all(|k| {
            accounts.contains(&k.account)
                && regions.contains(&k.region)
                && day_string(k.day).as_str() >= earliest.as_str()
        })
    }

    async fn project_once(
        &self,
        partitions: &[PartitionKey],
        injected: bool,
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        let c = &self.client;
        let table = c
            .get_table()
            .database_name(&self.database)
            .name(&self.table)
            .send()
            .await
            .map_err(|e| service_err("GetTable", &self.target(), &e))?
            .table
            .ok_or_else(|| {
                CatalogError::Conflict(format!("Glue table {} vanished", self.target()))
            })?;
        let before = table.parameters().cloned().unwrap_or_default();
        let (params, seen) = projection_parameters(&before, partitions, injected, &self.location);
        if params != before {
            let columns = table
                .storage_descriptor()
                .map(|sd| sd.columns().to_vec())
                .unwrap_or_default();
            self.update_table(&table, columns, params).await?;
            report.projection_updated = true;
        }
        if !injected {
            *self.projected.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
        }
        Ok(())
    }
}

/// A table's parameters `before`, with a partition projection that also covers
/// `partitions` (accounts and regions listed, or `injected` into queries; days from
/// the earliest one known), and the accounts, regions and earliest day it holds.
/// Data at `location` (`s3://bucket/prefix/`).
fn projection_parameters(
    before: &HashMap<String, String>,
    partitions: &[PartitionKey],
    injected: bool,
    location: &str,
) -> (HashMap<String, String>, Projected) {
    let mut params = before.clone();
    let mut accounts = projection_values(&params, "projection.account.values");
    let mut regions = projection_values(&params, "projection.region.values");
    accounts.extend(partitions.iter().map(|k| k.account.clone()));
    regions.extend(partitions.iter().map(|k| k.region.clone()));
    let earliest_written = partitions.iter().map(|k| day_string(k.day)).min();
    let earliest_known = params
        .get("projection.day.range")
        .and_then(|r| r.split(',').next())
        .map(str::to_string);
    let earliest = match (earliest_written, earliest_known) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    params.insert("projection.enabled".into(), "true".into());
    if let Some(e) = &earliest {
        params.insert("projection.day.type".into(), "date".into());
        params.insert("projection.day.format".into(), "yyyy-MM-dd".into());
        params.insert("projection.day.range".into(), format!("{e},NOW"));
        params.insert("projection.day.interval".into(), "1".into());
        params.insert("projection.day.interval.unit".into(), "DAYS".into());
    }
    for (key, values) in [("account", accounts), ("region", regions)] {
        if injected {
            params.insert(format!("projection.{key}.type"), "injected".into());
            params.remove(&format!("projection.{key}.values"));
        } else {
            params.insert(format!("projection.{key}.type"), "enum".into());
            params.insert(
                format!("projection.{key}.values"),
                values.into_iter().collect::<Vec<_>>().join(","),
            );
        }
    }
    params.insert(
        "storage.location.template".into(),
        format!("{location}account=${{account}}/region=${{region}}/day=${{day}}/"),
    );
    let seen = (
        projection_values(&params, "projection.account.values"),
        projection_values(&params, "projection.region.values"),
        earliest.unwrap_or_default(),
    );
    (params, seen)
}

impl GlueCatalog {
    async fn delete(&self, partitions: &[PartitionKey]) -> Result<(), CatalogError> {
        for chunk in partitions.chunks(25) {
            let out = self
                .client
                .batch_delete_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .set_partitions_to_delete(Some(chunk.iter().map(value_list).collect()))
                .send()
                .await
                .map_err(|e| service_err("BatchDeletePartition", &self.target(), &e))?;
            let real: Vec<String> = out
                .errors()
                .iter()
                .filter_map(|e| e.error_detail())
                .filter(|d| d.error_code() != Some("EntityNotFoundException"))
                .map(|d| {
                    format!(
                        "{} {}",
                        d.error_code().unwrap_or("?"),
                        d.error_message().unwrap_or("")
                    )
                })
                .collect();
            if !real.is_empty() {
                return Err(CatalogError::Service {
                    action: "BatchDeletePartition",
                    target: self.target(),
                    code: String::new(),
                    detail: real.join("; "),
                });
            }
        }
        Ok(())
    }
}

impl Catalog for GlueCatalog {
    fn drop_partitions(&self, partitions: &[PartitionKey]) -> Result<(), CatalogError> {
        if let Some(f) = &self.findings {
            f.drop_partitions(partitions)?;
        }
        match self.mode {
            // Projection has no partition entries; the data is gone, so is the partition.
            Mode::Projection { .. } => Ok(()),
            Mode::Register => self.rt.block_on(self.delete(partitions)),
        }
    }

    /// Concurrent first runs race to create and evolve the table: a lost race is
    /// looked at again.
    fn ensure_table(&self, report: &mut CatalogReport) -> Result<(), CatalogError> {
        if let Some(f) = &self.findings {
            let mut r = CatalogReport::default();
            f.ensure_table(&mut r)?;
        }
        self.rt.block_on(async {
            for attempt in 0..10u32 {
                match self.ensure(report).await {
                    Err(CatalogError::Service { code, .. })
                        if code.contains("ConcurrentModificationException") && attempt < 9 =>
                    {
                        tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..200))).await;
                    }
                    other => {
                        return other
                            .map_err(|e| explain_lake_formation(e, &self.database, &self.table))
                    }
                }
            }
            Ok(())
        })
    }

    fn publish(
        &self,
        partitions: &[PartitionLocation],
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let done = match self.mode {
            Mode::Register => self.rt.block_on(self.register(partitions, report)),
            Mode::Projection { injected } => {
                let keys: Vec<PartitionKey> = partitions.iter().map(|p| p.key.clone()).collect();
                self.rt.block_on(self.project(&keys, injected, report))
            }
        };
        done.map_err(|e| explain_lake_formation(e, &self.database, &self.table))
    }

    fn publish_findings(
        &self,
        key: &PartitionKey,
        folder: Option<&str>,
    ) -> Result<(), CatalogError> {
        let Some(f) = &self.findings else {
            return Ok(());
        };
        match folder {
            Some(rel) => {
                let located = [PartitionLocation {
                    key: key.clone(),
                    location: format!("{}{rel}", f.partition_location(key)),
                }];
                let mut r = CatalogReport::default();
                f.rt.block_on(f.register(&located, &mut r))
            }
            // No findings in this version: none from an older one stay visible.
            None => f.rt.block_on(f.delete(std::slice::from_ref(key))),
        }
        .map_err(|e| explain_lake_formation(e, &f.database, &f.table))
    }

    fn location(&self, key: &PartitionKey) -> Result<Option<String>, CatalogError> {
        if self.mode != Mode::Register {
            return Ok(None);
        }
        self.rt.block_on(async {
            let out = self
                .client
                .batch_get_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .partitions_to_get(value_list(key))
                .send()
                .await
                .map_err(|e| service_err("BatchGetPartition", &self.target(), &e))?;
            Ok(out
                .partitions()
                .first()
                .and_then(|p| p.storage_descriptor())
                .and_then(|sd| sd.location())
                .map(str::to_string))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn key(account: &str, region: &str, day: time::Date) -> PartitionKey {
        PartitionKey {
            account: account.into(),
            region: region.into(),
            day,
        }
    }

    /// New accounts, regions and an earlier day widen the projection; what it held
    /// stays, other parameters are kept, and a second pass changes nothing (no
    /// UpdateTable when the partitions are covered).
    #[test]
    fn projection_widens_to_new_partitions_and_is_stable() {
        let before: HashMap<String, String> = [
            ("classification", "parquet"),
            ("projection.account.values", "111122223333"),
            ("projection.region.values", "us-east-1"),
            ("projection.day.range", "2024-03-01,NOW"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let parts = [
            key("222233334444", "eu-west-1", date!(2024 - 02 - 28)),
            key("111122223333", "us-east-1", date!(2024 - 03 - 05)),
        ];
        let (params, seen) = projection_parameters(&before, &parts, false, "s3://lake/cur/");
        let get = |k: &str| params.get(k).map(String::as_str);
        assert_eq!(get("classification"), Some("parquet"));
        assert_eq!(get("projection.enabled"), Some("true"));
        assert_eq!(
            get("projection.account.values"),
            Some("111122223333,222233334444")
        );
        assert_eq!(get("projection.account.type"), Some("enum"));
        assert_eq!(get("projection.region.values"), Some("eu-west-1,us-east-1"));
        assert_eq!(get("projection.day.range"), Some("2024-02-28,NOW"));
        assert_eq!(get("projection.day.format"), Some("yyyy-MM-dd"));
        assert_eq!(
            get("storage.location.template"),
            Some("s3://lake/cur/account=${account}/region=${region}/day=${day}/")
        );
        assert_eq!(seen.2, "2024-02-28");
        assert!(seen.0.contains("222233334444") && seen.1.contains("eu-west-1"));

        let (again, _) = projection_parameters(&params, &parts[1..], false, "s3://lake/cur/");
        assert_eq!(again, params);
    }

    /// Injected account and region: their types say so and no value list is kept.
    #[test]
    fn injected_projection_lists_no_values() {
        let before: HashMap<String, String> =
            [("projection.account.values".to_string(), "1".to_string())].into();
        let parts = [key("111122223333", "us-east-1", date!(2024 - 03 - 05))];
        let (params, seen) = projection_parameters(&before, &parts, true, "s3://lake/");
        assert_eq!(params["projection.account.type"], "injected");
        assert_eq!(params["projection.region.type"], "injected");
        assert!(!params.contains_key("projection.account.values"));
        assert!(!params.contains_key("projection.region.values"));
        assert_eq!(params["projection.day.range"], "2024-03-05,NOW");
        assert!(seen.0.is_empty() && seen.1.is_empty());
    }
}
