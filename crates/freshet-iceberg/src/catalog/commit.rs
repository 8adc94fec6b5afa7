//! A commit: the requirements checked against the current metadata, the updates applied by
//! Iceberg's metadata builder, the new metadata file written, and then the Glue table pointed
//! at it only if no one else updated it since it was read (Glue's VersionId). The Glue update
//! is the commit point: a commit that loses the race leaves an unreferenced metadata file,
//! never a table pointing at metadata built on a stale base.

use freshet_glue::model::UpdateTableRequest;
use iceberg::TableRequirement;
use iceberg_catalog_rest::{CommitTableRequest, CommitTableResponse};

use super::glue_table::table_input;
use super::{IcebergCatalog, IcebergError, metadata_files};
use crate::client::TableName;

impl IcebergCatalog {
    pub(super) async fn commit_table(
        &self,
        name: &TableName,
        commit: CommitTableRequest,
    ) -> Result<CommitTableResponse, IcebergError> {
        let current = match self.current(name).await {
            Err(IcebergError::NoSuchTable(_)) if creates(&commit) => {
                return Err(IcebergError::Unsupported(
                    "Creating a table by a commit (a staged create) is not supported.".into(),
                ));
            }
            current => current?,
        };
        for requirement in &commit.requirements {
            requirement
                .check(Some(&current.metadata))
                .map_err(|e| IcebergError::CommitFailed(e.to_string()))?;
        }
        let mut builder = current
            .metadata
            .into_builder(Some(current.metadata_location.clone()));
        for update in commit.updates {
            builder = update
                .apply(builder)
                .map_err(IcebergError::invalid_change)?;
        }
        let metadata = builder
            .build()
            .map_err(IcebergError::invalid_change)?
            .metadata;
        let metadata_location =
            metadata_files::write(&self.files, &metadata, Some(&current.metadata_location)).await?;
        let glue = &current.glue;
        self.glue
            .update_table(UpdateTableRequest {
                catalog_id: None,
                database_name: glue.database_name.clone(),
                name: Some(glue.name.clone()),
                table_input: Some(table_input(
                    &glue.name,
                    Some(glue),
                    &metadata,
                    &metadata_location,
                )),
                // Each commit would otherwise keep a Glue table version forever: the metadata
                // files already are the table's history (Iceberg's `glue.skip-archive`).
                skip_archive: Some(true),
                transaction_id: None,
                version_id: Some(glue.version_id.clone()),
                view_update_action: None,
                force: None,
                update_open_table_format_input: None,
            })
            .await
            .map_err(|e| IcebergError::from_glue(e, IcebergError::NoSuchTable))?;
        tracing::info!(namespace = %name.namespace, table = %name.table, %metadata_location, "iceberg table committed");
        Ok(CommitTableResponse {
            metadata_location,
            metadata,
        })
    }
}

/// Whether a commit creates its table (a staged create's commit asserts it does not exist).
fn creates(commit: &CommitTableRequest) -> bool {
    commit
        .requirements
        .iter()
        .any(|r| matches!(r, TableRequirement::NotExist))
}
