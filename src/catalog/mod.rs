//! The table catalog: makes what was written queryable. The converter only talks to
//! the `Catalog` trait; AWS Glue is the implementation (`glue`).

pub mod glue;

use crate::partition::PartitionKey;

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
    /// Make these partitions (whose data is published) queryable.
    fn publish(
        &self,
        partitions: &[PartitionKey],
        report: &mut CatalogReport,
    ) -> Result<(), CatalogError>;
    /// Forget these partitions (retention).
    fn drop_partitions(&self, partitions: &[PartitionKey]) -> Result<(), CatalogError>;
}
