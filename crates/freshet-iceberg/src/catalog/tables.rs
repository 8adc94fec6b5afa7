//! Tables: listing, creating, loading and dropping the Glue tables that hold Iceberg tables. A
//! Glue table that is not an Iceberg table is not a table of this catalog (Iceberg's Glue
//! catalog answers NoSuchTable for it too).

use std::collections::HashMap;

use freshet_glue::GlueError;
use freshet_glue::model::{
    CreateTableRequest as GlueCreateTable, Database, DeleteTableRequest, GetTableRequest,
    GetTablesRequest, Table,
};
use iceberg::spec::{FormatVersion, TableMetadata, TableMetadataBuilder, TableProperties};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_rest::{
    CreateTableRequest, ListTablesResponse, LoadTableResult, RenameTableRequest,
};

use super::glue_table::{metadata_location, table_input};
use super::{IcebergCatalog, IcebergError, Page, glue_pages, metadata_files, namespace_name};
use crate::client::TableName;

/// A table as it is now: its Glue table (with the VersionId a commit must update from) and
/// its current metadata.
pub(super) struct CurrentTable {
    pub(super) glue: Table,
    pub(super) metadata_location: String,
    pub(super) metadata: TableMetadata,
}

impl CurrentTable {
    pub(super) fn into_load_result(self) -> LoadTableResult {
        LoadTableResult {
            metadata_location: Some(self.metadata_location),
            metadata: self.metadata,
            config: HashMap::new(),
            storage_credentials: None,
        }
    }
}

fn no_such_table(e: GlueError) -> IcebergError {
    IcebergError::from_glue(e, IcebergError::NoSuchTable)
}

fn not_iceberg(name: &TableName) -> IcebergError {
    IcebergError::NoSuchTable(format!(
        "Table {}.{} is not an Iceberg table.",
        name.namespace, name.table
    ))
}

impl IcebergCatalog {
    /// The namespace's Iceberg tables.
    pub async fn list_tables(
        &self,
        namespace: &NamespaceIdent,
        page: Page,
    ) -> Result<ListTablesResponse, IcebergError> {
        let name = namespace_name(namespace)?;
        let (identifiers, next_page_token) =
            glue_pages(page, |next_token, max_results| async move {
                let got = self
                    .glue
                    .get_tables(GetTablesRequest {
                        catalog_id: None,
                        database_name: name.to_string(),
                        expression: None,
                        next_token,
                        max_results,
                        transaction_id: None,
                        query_as_of_time: None,
                        attributes_to_get: None,
                    })
                    .await
                    .map_err(|e| IcebergError::from_glue(e, IcebergError::NoSuchNamespace))?;
                let tables = got
                    .table_list
                    .into_iter()
                    .filter(|t| metadata_location(t).is_some())
                    .map(|t| TableIdent::new(NamespaceIdent::new(t.database_name), t.name))
                    .collect();
                Ok((tables, got.next_token))
            })
            .await?;
        Ok(ListTablesResponse {
            identifiers,
            next_page_token,
        })
    }

    /// Creates a table: its first metadata file, then the Glue table pointing at it.
    pub async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        request: CreateTableRequest,
    ) -> Result<LoadTableResult, IcebergError> {
        let ns = namespace_name(namespace)?;
        if request.stage_create == Some(true) {
            return Err(IcebergError::Unsupported(
                "Staged table creation (stage-create) is not supported.".into(),
            ));
        }
        let database = self.database(ns).await?;
        // Refused before a metadata file is written for nothing; Glue's create still refuses a
        // table made in between.
        let name = TableName {
            namespace: database.name.clone(),
            table: request.name.clone(),
        };
        if self.glue_table(&name).await.is_ok() {
            return Err(IcebergError::AlreadyExists(format!(
                "Table {ns}.{} already exists.",
                request.name
            )));
        }
        let location = self.table_location(&database, &request)?;
        let metadata = TableMetadataBuilder::from_table_creation(creation(request, location)?)
            .and_then(|builder| builder.build())
            .map_err(IcebergError::invalid_change)?
            .metadata;
        let metadata_location = metadata_files::write(&self.files, &metadata, None).await?;
        self.glue
            .create_table(GlueCreateTable {
                catalog_id: None,
                database_name: database.name.clone(),
                name: None,
                table_input: Some(table_input(
                    &name.table,
                    None,
                    &metadata,
                    &metadata_location,
                )),
                partition_indexes: None,
                transaction_id: None,
                open_table_format_input: None,
            })
            .await
            .map_err(|e| IcebergError::from_glue(e, IcebergError::NoSuchNamespace))?;
        tracing::info!(namespace = %name.namespace, table = %name.table, %metadata_location, "iceberg table created");
        Ok(LoadTableResult {
            metadata_location: Some(metadata_location),
            metadata,
            config: HashMap::new(),
            storage_credentials: None,
        })
    }

    /// Drops the table from the catalog. Its files stay (`purgeRequested` is not honoured):
    /// Freshet never deletes table files, as Glue's own drop does not.
    pub async fn drop_table(&self, name: &TableName) -> Result<(), IcebergError> {
        let table = self.glue_table(name).await?;
        if metadata_location(&table).is_none() {
            return Err(not_iceberg(name));
        }
        self.glue
            .delete_table(DeleteTableRequest {
                catalog_id: None,
                database_name: name.namespace.clone(),
                name: name.table.clone(),
                transaction_id: None,
            })
            .await
            .map_err(no_such_table)?;
        tracing::info!(namespace = %name.namespace, table = %name.table, "iceberg table dropped");
        Ok(())
    }

    pub async fn table_exists(&self, name: &TableName) -> Result<bool, IcebergError> {
        match self.glue_table(name).await {
            Ok(table) => Ok(metadata_location(&table).is_some()),
            Err(IcebergError::NoSuchTable(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Glue cannot rename a table (UpdateTable refuses a new name), so neither can its
    /// Iceberg catalog.
    pub fn rename_table(&self, request: &RenameTableRequest) -> Result<(), IcebergError> {
        Err(IcebergError::Unsupported(format!(
            "Cannot rename {} to {}: Glue tables cannot be renamed.",
            request.source, request.destination
        )))
    }

    /// The table's Glue table and current metadata.
    pub(super) async fn current(&self, name: &TableName) -> Result<CurrentTable, IcebergError> {
        let glue = self.glue_table(name).await?;
        let metadata_location = metadata_location(&glue)
            .ok_or_else(|| not_iceberg(name))?
            .to_string();
        let metadata = metadata_files::read(&self.files, &metadata_location).await?;
        Ok(CurrentTable {
            glue,
            metadata_location,
            metadata,
        })
    }

    async fn glue_table(&self, name: &TableName) -> Result<Table, IcebergError> {
        let got = self
            .glue
            .get_table(GetTableRequest {
                catalog_id: None,
                database_name: name.namespace.clone(),
                name: name.table.clone(),
                transaction_id: None,
                query_as_of_time: None,
            })
            .await
            .map_err(no_such_table)?;
        Ok(got.table)
    }

    /// The request's location, else under the namespace's location, else under the
    /// configured warehouse as `<warehouse>/<namespace>.db/<table>` (Hive's layout, which
    /// Iceberg's Glue catalog also uses).
    fn table_location(
        &self,
        database: &Database,
        request: &CreateTableRequest,
    ) -> Result<String, IcebergError> {
        let trim = |s: &str| s.trim_end_matches('/').to_string();
        if let Some(location) = &request.location {
            return Ok(trim(location));
        }
        if let Some(base) = &database.location_uri {
            return Ok(format!("{}/{}", trim(base), request.name));
        }
        if let Some(warehouse) = &self.config.warehouse {
            return Ok(format!(
                "{}/{}.db/{}",
                trim(warehouse),
                database.name,
                request.name
            ));
        }
        Err(IcebergError::BadRequest(format!(
            "Table {}.{} has no location: give one, or a `location` property to the namespace.",
            database.name, request.name
        )))
    }
}

/// Iceberg's table creation from the request, at `location`. The `format-version` property is
/// reserved: it picks the format (2 unless given) and is not kept among the properties.
fn creation(
    mut request: CreateTableRequest,
    location: String,
) -> Result<TableCreation, IcebergError> {
    let format_version = match request
        .properties
        .remove(TableProperties::PROPERTY_FORMAT_VERSION)
        .as_deref()
    {
        None | Some("2") => FormatVersion::V2,
        Some("1") => FormatVersion::V1,
        Some("3") => FormatVersion::V3,
        Some(other) => {
            return Err(IcebergError::BadRequest(format!(
                "Unsupported format-version {other}: 1, 2 or 3."
            )));
        }
    };
    Ok(TableCreation {
        name: request.name,
        location: Some(location),
        schema: request.schema,
        partition_spec: request.partition_spec,
        sort_order: request.write_order,
        properties: request.properties,
        format_version,
    })
}
