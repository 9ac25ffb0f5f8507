//! The table catalog: makes what was written queryable. The converter only talks to
//! the `Catalog` trait; AWS Glue is the implementation (`glue`).

pub mod glue;

use crate::partition::PartitionKey;

/// A published partition and where its data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLocation {
    pub key: PartitionKey,
    /// `s3://…/` folder of the current version's data files.
    pub location: String,
}

/// What a catalog sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CatalogReport {
    pub table_created: bool,
    pub columns_added: Vec<String>,
    pub partitions_created: usize,
    pub partitions_updated: usize,
    pub partitions_unchanged: usize,
    /// Partition-projection mode: the table's projection was (re)written.
    pub projection_updated: bool,
}

impl CatalogReport {
    pub fn add(&mut self, o: &CatalogReport) {
        self.table_created |= o.table_created;
        for c in &o.columns_added {
            if !self.columns_added.contains(c) {
                self.columns_added.push(c.clone());
            }
        }
        self.partitions_created += o.partitions_created;
        self.partitions_updated += o.partitions_updated;
        self.partitions_unchanged += o.partitions_unchanged;
        self.projection_updated |= o.projection_updated;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The existing table cannot be reconciled with the schema: the user must act.
    #[error("{0}")]
    Conflict(String),
    #[error("{action} {target} failed{code}: {detail}")]
    Service {
        action: &'static str,
        target: String,
        code: String,
        detail: String,
    },
}

/// A catalog of the curated table.
pub trait Catalog: Send + Sync {
    /// Create the database and table if absent; add columns the table lacks.
    fn ensure_table(&self, report: &mut CatalogReport) -> Result<(), CatalogError>;
    /// Make these partitions (whose data is published) queryable at their locations.
    fn publish(
        &self,
        partitions: &[PartitionLocation],
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError>;
    /// The folder readers of a partition are pointed at, when the catalog points at
    /// one (registered partitions); `None` otherwise or when it is not registered.
    fn location(&self, key: &PartitionKey) -> Result<Option<String>, CatalogError>;
    /// Forget these partitions (retention).
    fn drop_partitions(&self, partitions: &[PartitionKey]) -> Result<(), CatalogError>;
    /// Point the findings table (`--rules`) at a published partition's findings
    /// folder, given relative to the partition's folder; `None`: the version has no
    /// findings, so the findings partition is dropped. No-op without a findings table.
    fn publish_findings(
        &self,
        _key: &PartitionKey,
        _folder: Option<&str>,
    ) -> Result<(), CatalogError> {
        Ok(())
    }
}
