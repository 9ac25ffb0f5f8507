//! The commit stage: publish a built version with the sink's conditional commit,
//! register it in the catalog right away, then delete what no version needs.
//!
//! Order matters for readers: the data is complete before the manifest names it;
//! the catalog is pointed at it only after the commit; older versions are deleted
//! only after the catalog points elsewhere (and, on S3, after a grace period), and
//! never the folder the catalog currently points at.

use super::{Builder, PartitionFailure, PartitionReport, Status};
use crate::catalog::{CatalogReport, PartitionLocation};
use crate::manifest::ManifestFindings;
use crate::partition::{InputRole, PartitionKey, PartitionPlan};
use crate::sink::{Commit, Current};

impl Builder<'_> {
    /// Build `plan` and publish it if `previous` is still current. `Ok(false)`:
    /// another run published first; nothing of this build remains.
    pub(super) fn build_and_commit(
        &self,
        plan: &PartitionPlan,
        previous: Option<&Current>,
        report: &mut PartitionReport,
    ) -> Result<bool, PartitionFailure> {
        let build = super::new_build_id();
        let mut staged = self.sink.stage(&plan.key, &build)?;
        let manifest = self.fill(plan, &build, previous, staged.as_mut(), report)?;
        if crate::interrupt::requested() {
            // Built but not yet committed: dropped (its staging goes with it).
            return Err(PartitionFailure::Interrupted);
        }
        let empty = manifest.records.written == 0
            && previous.is_none()
            && plan.inputs.iter().all(|i| i.role == InputRole::Late);
        let token = match staged.commit(&manifest, previous)? {
            Commit::Lost => {
                tracing::info!(partition = %plan.key, "another run published it first; looking again");
                return Ok(false);
            }
            Commit::Published(token) => token,
        };
        report.status = if empty {
            Status::Empty
        } else {
            Status::Written
        };
        report.bytes_out = manifest.outputs.iter().map(|o| o.bytes).sum();
        let location = self.sink.data_location(&plan.key, &manifest);
        report.location = Some(location.clone());
        let current = Current { manifest, token };
        let registered = current.manifest.records.written == 0
            || self.register(
                &plan.key,
                location,
                current.manifest.findings.as_ref(),
                report,
            );
        if registered {
            self.tidy(&plan.key, &current, report);
        }
        Ok(true)
    }

    /// Point the catalog at a committed version. `false` if that failed (reported).
    fn register(
        &self,
        key: &PartitionKey,
        location: String,
        findings: Option<&ManifestFindings>,
        report: &mut PartitionReport,
    ) -> bool {
        let Some(catalog) = self.catalog else {
            return true;
        };
        let mut r = CatalogReport::default();
        let published = [PartitionLocation {
            key: key.clone(),
            location,
        }];
        let published_findings = |()| match findings {
            Some(f) => {
                let folder = f
                    .outputs
                    .first()
                    .and_then(|o| o.file.rsplit_once('/'))
                    .map(|(dir, _)| format!("{dir}/"));
                catalog.publish_findings(key, folder.as_deref())
            }
            None => Ok(()),
        };
        match catalog
            .publish(&published, &mut r)
            .and_then(published_findings)
        {
            Ok(()) => {
                let mut total = self
                    .catalog_report
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                total.add(&r);
                true
            }
            Err(e) => {
                tracing::error!(partition = %key, "published, but the catalog was not updated: {e}");
                report.catalog_error = Some(e.to_string());
                false
            }
        }
    }

    /// Delete older versions past their grace period and abandoned builds' files,
    /// never the folder the catalog points readers at. Failures only warn: the next
    /// run tries again.
    pub(super) fn tidy(&self, key: &PartitionKey, current: &Current, report: &mut PartitionReport) {
        let pinned = match self.catalog.map(|c| c.location(key)).transpose() {
            Ok(p) => p.flatten(),
            Err(e) => {
                tracing::warn!(partition = %key, "older versions kept: catalog location unknown: {e}");
                return;
            }
        };
        match self.sink.collect_garbage(key, current, pinned.as_deref()) {
            Ok(n) => report.garbage_deleted = n,
            Err(e) => tracing::warn!(partition = %key, "older versions kept for now: {e}"),
        }
    }
}
