//! CreateDatabase, GetDatabase, GetDatabases, UpdateDatabase and DeleteDatabase.

use std::ops::Bound;

use serde_json::{Value, json};

use crate::error::{GlueError, Result, database_not_found, invalid};
use crate::model::*;
use crate::names;
use crate::paging;
use crate::service::GlueService;
use crate::store::StoredDatabase;

/// What a database created without CreateTableDefaultPermissions answers with: Lake Formation's
/// default ("Use only IAM access control for new tables"), as AWS shows it.
fn default_permissions() -> Vec<Value> {
    vec![json!({
        "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
        "Permissions": ["ALL"],
    })]
}

impl GlueService {
    /// A database from its input; `create_time` is kept across updates.
    fn database(&self, name: String, input: DatabaseInput, create_time: Timestamp) -> Database {
        Database {
            name,
            description: input.description,
            location_uri: input.location_uri,
            parameters: input.parameters,
            create_time,
            create_table_default_permissions: input
                .create_table_default_permissions
                .unwrap_or_else(default_permissions),
            catalog_id: self.inner.config.account_id.clone(),
            rest: input.rest,
        }
    }

    pub async fn create_database(&self, req: CreateDatabaseRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let name = names::fold(&req.database_input.name)?;
        let database = self.database(name.clone(), req.database_input, self.now());
        self.change(|doc| {
            if doc.databases.contains_key(&name) {
                return Err(GlueError::AlreadyExists("Database already exists.".into()));
            }
            doc.databases.insert(
                name.clone(),
                StoredDatabase {
                    database,
                    tables: Default::default(),
                },
            );
            Ok(())
        })
        .await?;
        tracing::info!(database = %name, "glue database created");
        Ok(Empty {})
    }

    pub async fn get_database(&self, req: GetDatabaseRequest) -> Result<GetDatabaseResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let name = names::fold(&req.name)?;
        self.read(|doc| {
            let stored = doc
                .databases
                .get(&name)
                .ok_or_else(|| database_not_found(&name))?;
            Ok(GetDatabaseResponse {
                database: stored.database.clone(),
            })
        })
        .await
    }

    pub async fn get_databases(&self, req: GetDatabasesRequest) -> Result<GetDatabasesResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let size = paging::page_size(req.max_results)?;
        let after = paging::after(req.next_token.as_deref())?;
        // FOREIGN lists databases shared with this account by others: there are none here.
        // FEDERATED lists those federated to an outside source.
        let wanted = |d: &Database| match req.resource_share_type.as_deref() {
            Some("FOREIGN") => false,
            Some("FEDERATED") => d.rest.contains_key("FederatedDatabase"),
            _ => true,
        };
        self.read(|doc| {
            let start = match &after {
                Some(last) => Bound::Excluded(last.clone()),
                None => Bound::Unbounded,
            };
            let databases = doc
                .databases
                .range((start, Bound::Unbounded))
                .map(|(_, stored)| &stored.database)
                .filter(|d| wanted(d));
            let (page, next_token) = paging::take(databases, size, |d| d.name.clone());
            Ok(GetDatabasesResponse {
                database_list: page.into_iter().cloned().collect(),
                next_token,
            })
        })
        .await
    }

    /// Replaces a database's definition. Glue cannot rename a database.
    pub async fn update_database(&self, req: UpdateDatabaseRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let name = names::fold(&req.name)?;
        let renamed = names::fold(&req.database_input.name)? != name;
        let input = req.database_input;
        self.change(|doc| {
            let stored = doc
                .databases
                .get_mut(&name)
                .ok_or_else(|| database_not_found(&name))?;
            if renamed {
                return Err(invalid("Database cannot be renamed"));
            }
            stored.database = self.database(name.clone(), input, stored.database.create_time);
            Ok(())
        })
        .await?;
        tracing::info!(database = %name, "glue database updated");
        Ok(Empty {})
    }

    /// Deletes a database and every table in it.
    pub async fn delete_database(&self, req: DeleteDatabaseRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let name = names::fold(&req.name)?;
        let tables = self
            .change(|doc| {
                let stored = doc
                    .databases
                    .remove(&name)
                    .ok_or_else(|| database_not_found(&name))?;
                Ok(stored.tables.len())
            })
            .await?;
        tracing::info!(database = %name, tables, "glue database deleted");
        Ok(Empty {})
    }
}
