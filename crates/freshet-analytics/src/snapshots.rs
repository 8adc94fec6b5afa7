//! Snapshots of Flink applications through `KinesisAnalytics_20180523`: Create (of a RUNNING
//! application with snapshots enabled), List, Describe and Delete. The runner stores a
//! snapshot's document in the catalog (`application_snapshots`); this side names it, lists it
//! and describes it in AWS's `SnapshotDetails`. A snapshot is stored when the call returns, so
//! it is READY from the first time it is listed.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppDoc;
use crate::error::{AnalyticsError, Result};
use crate::lifecycle::{MAX_SNAPSHOTS, no_snapshot};
use crate::model::ApplicationStatus;
use crate::service::{AnalyticsService, Entry, in_use, seconds};
use crate::v2::{flink_only, page_by};
use freshet_catalog::ApplicationSnapshotRow;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotInput {
    pub application_name: String,
    pub snapshot_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSnapshotsInput {
    pub application_name: String,
    pub limit: Option<usize>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSnapshotInput {
    pub application_name: String,
    pub snapshot_name: String,
    /// Epoch seconds, as the JSON protocol sends timestamps.
    pub snapshot_creation_timestamp: f64,
}

/// `SnapshotDetails`: the runtime and encryption of the version it was taken for (the current
/// ones when that version is no longer kept).
fn details(doc: &AppDoc, row: &ApplicationSnapshotRow) -> Value {
    let config = doc
        .versions
        .iter()
        .find(|v| v.version == row.version)
        .map_or(&doc.config, |v| &v.config);
    let mut out = json!({
        "SnapshotName": row.name,
        "SnapshotStatus": "READY",
        "ApplicationVersionId": row.version,
        "SnapshotCreationTimestamp": seconds(row.created_ms),
        "RuntimeEnvironment": config.runtime(),
    });
    if let Some(encryption) = config.flink.as_ref().and_then(|f| f.encryption.as_ref()) {
        out["ApplicationEncryptionConfigurationDescription"] = json!(encryption);
    }
    out
}

impl AnalyticsService {
    /// The Flink application `name`; a SQL application answers AWS's UnsupportedOperationException.
    fn flink_application(&self, name: &str, operation: &str) -> Result<Arc<Entry>> {
        let entry = self.get(name)?;
        if entry.doc.lock().config.flink.is_none() {
            return Err(flink_only(operation));
        }
        Ok(entry)
    }

    async fn snapshot_row(&self, entry: &Entry, name: &str) -> Result<ApplicationSnapshotRow> {
        self.inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| no_snapshot(&entry.name, name))
    }

    pub async fn v2_create_application_snapshot(&self, input: SnapshotInput) -> Result<Value> {
        let name = &input.application_name;
        let entry = self.flink_application(name, "CreateApplicationSnapshot")?;
        // No start, stop or restart runs while the snapshot is taken.
        let _run = entry.run.lock().await;
        let _admin = entry.admin.lock().await;
        let doc = entry.doc();
        if doc.status != ApplicationStatus::Running {
            return Err(in_use(name, doc.status));
        }
        if !doc
            .config
            .flink
            .as_ref()
            .is_some_and(|f| f.snapshots_enabled)
        {
            return Err(AnalyticsError::InvalidApplicationConfiguration(format!(
                "Snapshots are not enabled for application {name}: set ApplicationSnapshotConfiguration SnapshotsEnabled to true."
            )));
        }
        let snapshots = self
            .inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?;
        if snapshots.iter().any(|s| s.name == input.snapshot_name) {
            return Err(AnalyticsError::InvalidArgument(format!(
                "Snapshot {} already exists for application {name}.",
                input.snapshot_name
            )));
        }
        if snapshots.len() >= MAX_SNAPSHOTS {
            return Err(AnalyticsError::LimitExceeded(format!(
                "Application {name} has {MAX_SNAPSHOTS} snapshots, the most it may have: delete some with DeleteApplicationSnapshot."
            )));
        }
        self.inner
            .flink_launcher
            .snapshot(entry.uid, input.snapshot_name, doc.version)
            .await
            .map_err(|e| AnalyticsError::InvalidApplicationConfiguration(e.to_string()))?;
        Ok(json!({}))
    }

    pub async fn v2_list_application_snapshots(&self, input: ListSnapshotsInput) -> Result<Value> {
        let entry = self.flink_application(&input.application_name, "ListApplicationSnapshots")?;
        let rows = self
            .inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?;
        let (page, next) = page_by(
            rows,
            |s| s.name.clone(),
            input.next_token.as_deref(),
            input.limit.unwrap_or(50),
        )?;
        let doc = entry.doc();
        let summaries: Vec<Value> = page.iter().map(|s| details(&doc, s)).collect();
        let mut out = json!({ "SnapshotSummaries": summaries });
        if let Some(next) = next {
            out["NextToken"] = json!(next);
        }
        Ok(out)
    }

    pub async fn v2_describe_application_snapshot(&self, input: SnapshotInput) -> Result<Value> {
        let entry =
            self.flink_application(&input.application_name, "DescribeApplicationSnapshot")?;
        let row = self.snapshot_row(&entry, &input.snapshot_name).await?;
        Ok(json!({ "SnapshotDetails": details(&entry.doc(), &row) }))
    }

    /// Deletes a snapshot named with its exact creation time (to the second: SDKs send whole
    /// epoch seconds), while the application is READY or RUNNING.
    pub async fn v2_delete_application_snapshot(
        &self,
        input: DeleteSnapshotInput,
    ) -> Result<Value> {
        let name = &input.application_name;
        let entry = self.flink_application(name, "DeleteApplicationSnapshot")?;
        let _admin = entry.admin.lock().await;
        let status = entry.doc.lock().status;
        if !matches!(
            status,
            ApplicationStatus::Ready | ApplicationStatus::Running
        ) {
            return Err(in_use(name, status));
        }
        let row = self.snapshot_row(&entry, &input.snapshot_name).await?;
        if input.snapshot_creation_timestamp.floor() as i64 != row.created_ms.div_euclid(1000) {
            return Err(AnalyticsError::InvalidArgument(format!(
                "SnapshotCreationTimestamp {} does not match the creation time of snapshot {} of application {name}.",
                input.snapshot_creation_timestamp, input.snapshot_name
            )));
        }
        self.inner
            .catalog
            .delete_application_snapshot(entry.uid, &input.snapshot_name)
            .await?;
        Ok(json!({}))
    }
}
