//! Namespaces as Glue databases: a namespace's properties are the database's parameters,
//! except `location` (the database's LocationUri, where its tables go) and `comment` (its
//! description), as Iceberg's Glue catalog keeps them.

use std::collections::HashMap;

use freshet_glue::model::{
    CreateDatabaseRequest, Database, DatabaseInput, DeleteDatabaseRequest, GetDatabaseRequest,
    GetDatabasesRequest, GetTablesRequest, UpdateDatabaseRequest,
};
use iceberg::NamespaceIdent;
use iceberg_catalog_rest::{
    CreateNamespaceRequest, ListNamespaceResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};

use super::{IcebergCatalog, IcebergError, Page, glue_pages, namespace_name};

const LOCATION: &str = "location";
const COMMENT: &str = "comment";

fn no_such_namespace(e: freshet_glue::GlueError) -> IcebergError {
    IcebergError::from_glue(e, IcebergError::NoSuchNamespace)
}

impl IcebergCatalog {
    /// Every database. Namespaces have one level, so a namespace has no children: listing
    /// under a `parent` that exists answers nothing.
    pub async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
        page: Page,
    ) -> Result<ListNamespaceResponse, IcebergError> {
        if let Some(parent) = parent {
            self.database(namespace_name(parent)?).await?;
            return Ok(ListNamespaceResponse {
                namespaces: Vec::new(),
                next_page_token: None,
            });
        }
        let (namespaces, next_page_token) =
            glue_pages(page, |next_token, max_results| async move {
                let got = self
                    .glue
                    .get_databases(GetDatabasesRequest {
                        next_token,
                        max_results,
                        ..Default::default()
                    })
                    .await
                    .map_err(no_such_namespace)?;
                let names = got
                    .database_list
                    .into_iter()
                    .map(|d| NamespaceIdent::new(d.name))
                    .collect();
                Ok((names, got.next_token))
            })
            .await?;
        Ok(ListNamespaceResponse {
            namespaces,
            next_page_token,
        })
    }

    pub async fn create_namespace(
        &self,
        request: CreateNamespaceRequest,
    ) -> Result<NamespaceResponse, IcebergError> {
        let name = namespace_name(&request.namespace)?;
        let database_input = database_input(name, request.properties, None);
        self.glue
            .create_database(CreateDatabaseRequest {
                catalog_id: None,
                database_input,
                tags: None,
            })
            .await
            .map_err(no_such_namespace)?;
        tracing::info!(namespace = %name, "iceberg namespace created");
        // Read back: Glue folds the name to lowercase, and the answer names the namespace kept.
        self.load_namespace(&request.namespace).await
    }

    pub async fn load_namespace(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<NamespaceResponse, IcebergError> {
        let database = self.database(namespace_name(namespace)?).await?;
        Ok(NamespaceResponse {
            properties: properties(&database),
            namespace: NamespaceIdent::new(database.name),
        })
    }

    /// Drops an empty namespace. Glue would delete a database's tables with it, so a database
    /// with any table (Iceberg or not) is refused.
    pub async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<(), IcebergError> {
        let name = namespace_name(namespace)?;
        let tables = self
            .glue
            .get_tables(GetTablesRequest {
                catalog_id: None,
                database_name: name.to_string(),
                expression: None,
                next_token: None,
                max_results: Some(1),
                transaction_id: None,
                query_as_of_time: None,
                attributes_to_get: None,
            })
            .await
            .map_err(no_such_namespace)?;
        if !tables.table_list.is_empty() {
            return Err(IcebergError::NamespaceNotEmpty(format!(
                "Namespace {name} is not empty."
            )));
        }
        self.glue
            .delete_database(DeleteDatabaseRequest {
                catalog_id: None,
                name: name.to_string(),
            })
            .await
            .map_err(no_such_namespace)?;
        tracing::info!(namespace = %name, "iceberg namespace dropped");
        Ok(())
    }

    /// Sets and removes properties. Glue databases carry no version, so two clients changing
    /// the same namespace at once may each overwrite the other's change (as on AWS).
    pub async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        request: UpdateNamespacePropertiesRequest,
    ) -> Result<UpdateNamespacePropertiesResponse, IcebergError> {
        let removals = request.removals.unwrap_or_default();
        if let Some(both) = removals.iter().find(|k| request.updates.contains_key(*k)) {
            return Err(IcebergError::BadRequest(format!(
                "Property {both} is both updated and removed."
            )));
        }
        let database = self.database(namespace_name(namespace)?).await?;
        let mut kept = properties(&database);
        let (removed, missing): (Vec<String>, Vec<String>) = removals
            .into_iter()
            .partition(|key| kept.remove(key).is_some());
        let updated: Vec<String> = request.updates.keys().cloned().collect();
        kept.extend(request.updates);
        let name = database.name.clone();
        self.glue
            .update_database(UpdateDatabaseRequest {
                catalog_id: None,
                name: name.clone(),
                database_input: database_input(&name, kept, Some(database)),
            })
            .await
            .map_err(no_such_namespace)?;
        tracing::info!(namespace = %name, updated = updated.len(), removed = removed.len(), "iceberg namespace properties updated");
        Ok(UpdateNamespacePropertiesResponse {
            updated,
            removed,
            missing: Some(missing),
        })
    }

    pub(super) async fn database(&self, name: &str) -> Result<Database, IcebergError> {
        let got = self
            .glue
            .get_database(GetDatabaseRequest {
                catalog_id: None,
                name: name.to_string(),
            })
            .await
            .map_err(no_such_namespace)?;
        Ok(got.database)
    }
}

/// A database's namespace properties.
fn properties(database: &Database) -> HashMap<String, String> {
    let mut properties: HashMap<String, String> = database
        .parameters
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(location) = &database.location_uri {
        properties.insert(LOCATION.into(), location.clone());
    }
    if let Some(comment) = &database.description {
        properties.insert(COMMENT.into(), comment.clone());
    }
    properties
}

/// The database for a namespace's properties; an update keeps what the namespace does not
/// carry (its Lake Formation permissions, other Glue members) from the `current` database.
fn database_input(
    name: &str,
    mut properties: HashMap<String, String>,
    current: Option<Database>,
) -> DatabaseInput {
    let location_uri = properties.remove(LOCATION);
    let description = properties.remove(COMMENT);
    let (create_table_default_permissions, rest) = match current {
        Some(d) => (Some(d.create_table_default_permissions), d.rest),
        None => (None, Default::default()),
    };
    DatabaseInput {
        name: name.to_string(),
        description,
        location_uri,
        parameters: (!properties.is_empty()).then(|| properties.into_iter().collect()),
        create_table_default_permissions,
        rest,
    }
}
