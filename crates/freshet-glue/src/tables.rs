//! CreateTable, GetTable, GetTables, UpdateTable, DeleteTable, GetTableVersion and
//! GetTableVersions. A table is created at VersionId "0"; each update makes the next version and
//! archives the one it replaces (unless SkipArchive), which GetTableVersion(s) still answer.

use std::ops::Bound;

use crate::error::{GlueError, Result, database_not_found, invalid, table_not_found};
use crate::expression::NameFilter;
use crate::model::*;
use crate::names;
use crate::paging;
use crate::service::{GlueService, find_table, find_version};
use crate::store::{StoredTable, version_number};

/// Members for Lake Formation governed tables and open table formats, which this catalog does
/// not have: refused rather than silently ignored.
fn unsupported(member: &str) -> GlueError {
    invalid(format!("{member} is not supported by this catalog."))
}

fn refuse_transactions(
    transaction_id: &Option<String>,
    query_as_of_time: Option<Timestamp>,
) -> Result<()> {
    if transaction_id.is_some() {
        return Err(unsupported("TransactionId"));
    }
    if query_as_of_time.is_some() {
        return Err(unsupported("QueryAsOfTime"));
    }
    Ok(())
}

/// What the stored versions of a table keep from one update to the next.
struct Stamp {
    create_time: Timestamp,
    update_time: Timestamp,
    version: u64,
}

impl GlueService {
    fn table(&self, database: &str, name: String, input: TableInput, stamp: Stamp) -> Table {
        Table {
            name,
            database_name: database.to_string(),
            description: input.description,
            owner: input.owner,
            create_time: stamp.create_time,
            update_time: stamp.update_time,
            last_access_time: input.last_access_time,
            last_analyzed_time: input.last_analyzed_time,
            retention: input.retention.unwrap_or(0),
            storage_descriptor: input.storage_descriptor,
            partition_keys: input.partition_keys.unwrap_or_default(),
            view_original_text: input.view_original_text,
            view_expanded_text: input.view_expanded_text,
            table_type: input.table_type,
            parameters: input.parameters,
            is_registered_with_lake_formation: false,
            catalog_id: self.inner.config.account_id.clone(),
            version_id: stamp.version.to_string(),
            rest: input.rest,
        }
    }

    pub async fn create_table(&self, req: CreateTableRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        refuse_transactions(&req.transaction_id, None)?;
        if req.open_table_format_input.is_some() {
            return Err(unsupported("OpenTableFormatInput"));
        }
        let input = req
            .table_input
            .ok_or_else(|| invalid("TableInput is required."))?;
        let database = names::fold(&req.database_name)?;
        let name = names::fold(&input.name)?;
        let now = self.now();
        let stamp = Stamp {
            create_time: now,
            update_time: now,
            version: 0,
        };
        let table = self.table(&database, name.clone(), input, stamp);
        self.change(|doc| {
            let tables = &mut doc
                .databases
                .get_mut(&database)
                .ok_or_else(|| database_not_found(&database))?
                .tables;
            if tables.contains_key(&name) {
                return Err(GlueError::AlreadyExists("Table already exists.".into()));
            }
            tables.insert(
                name.clone(),
                StoredTable {
                    current: table,
                    archive: Vec::new(),
                },
            );
            Ok(())
        })
        .await?;
        tracing::info!(%database, table = %name, "glue table created");
        Ok(Empty {})
    }

    pub async fn get_table(&self, req: GetTableRequest) -> Result<GetTableResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        refuse_transactions(&req.transaction_id, req.query_as_of_time)?;
        let database = names::fold(&req.database_name)?;
        let name = names::fold(&req.name)?;
        self.read(|doc| {
            Ok(GetTableResponse {
                table: find_table(doc, &database, &name)?.current.clone(),
            })
        })
        .await
    }

    pub async fn get_tables(&self, req: GetTablesRequest) -> Result<GetTablesResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        refuse_transactions(&req.transaction_id, req.query_as_of_time)?;
        let database = names::fold(&req.database_name)?;
        let size = paging::page_size(req.max_results)?;
        let after = paging::after(req.next_token.as_deref())?;
        let filter = req
            .expression
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(NameFilter::parse)
            .transpose()?;
        self.read(|doc| {
            let stored = doc
                .databases
                .get(&database)
                .ok_or_else(|| database_not_found(&database))?;
            let start = match &after {
                Some(last) => Bound::Excluded(last.clone()),
                None => Bound::Unbounded,
            };
            let tables = stored
                .tables
                .range((start, Bound::Unbounded))
                .filter(|(name, _)| filter.as_ref().is_none_or(|f| f.matches(name)))
                .map(|(_, t)| &t.current);
            let (page, next_token) = paging::take(tables, size, |t| t.name.clone());
            Ok(GetTablesResponse {
                table_list: page.into_iter().cloned().collect(),
                next_token,
            })
        })
        .await
    }

    /// Makes TableInput the table's next version. Glue cannot rename a table; a VersionId that
    /// is no longer the current one means someone else updated the table first.
    pub async fn update_table(&self, req: UpdateTableRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        refuse_transactions(&req.transaction_id, None)?;
        if req.update_open_table_format_input.is_some() {
            return Err(unsupported("UpdateOpenTableFormatInput"));
        }
        let input = req
            .table_input
            .ok_or_else(|| invalid("TableInput is required."))?;
        let database = names::fold(&req.database_name)?;
        // The table updated is the one Name names when given (TableInput's otherwise).
        let name = names::fold(req.name.as_deref().unwrap_or(&input.name))?;
        let renamed = names::fold(&input.name)? != name;
        let expected = req.version_id;
        let archive = !req.skip_archive.unwrap_or(false);
        let now = self.now();
        let version = self
            .change(|doc| {
                let stored = doc
                    .databases
                    .get_mut(&database)
                    .ok_or_else(|| database_not_found(&database))?
                    .tables
                    .get_mut(&name)
                    .ok_or_else(|| table_not_found(&name))?;
                if renamed {
                    return Err(invalid("Table cannot be renamed"));
                }
                let current = version_number(&stored.current.version_id).unwrap_or(0);
                if let Some(expected) = &expected
                    && version_number(expected) != Some(current)
                {
                    return Err(GlueError::ConcurrentModification(
                        "Update table failed due to concurrent modifications.".into(),
                    ));
                }
                let stamp = Stamp {
                    create_time: stored.current.create_time,
                    update_time: now,
                    version: current + 1,
                };
                let next = self.table(&database, name.clone(), input, stamp);
                let replaced = std::mem::replace(&mut stored.current, next);
                if archive {
                    stored.archive.push(replaced);
                }
                Ok(current + 1)
            })
            .await?;
        tracing::info!(%database, table = %name, version, archive, "glue table updated");
        Ok(Empty {})
    }

    /// Deletes a table with all its versions.
    pub async fn delete_table(&self, req: DeleteTableRequest) -> Result<Empty> {
        self.check_catalog(req.catalog_id.as_deref())?;
        refuse_transactions(&req.transaction_id, None)?;
        let database = names::fold(&req.database_name)?;
        let name = names::fold(&req.name)?;
        self.change(|doc| {
            doc.databases
                .get_mut(&database)
                .ok_or_else(|| database_not_found(&database))?
                .tables
                .remove(&name)
                .ok_or_else(|| table_not_found(&name))?;
            Ok(())
        })
        .await?;
        tracing::info!(%database, table = %name, "glue table deleted");
        Ok(Empty {})
    }

    pub async fn get_table_version(
        &self,
        req: GetTableVersionRequest,
    ) -> Result<GetTableVersionResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let database = names::fold(&req.database_name)?;
        let name = names::fold(&req.table_name)?;
        self.read(|doc| {
            let stored = find_table(doc, &database, &name)?;
            let table = match req.version_id.as_deref() {
                None => &stored.current,
                Some(id) => find_version(stored, id)?,
            };
            Ok(GetTableVersionResponse {
                table_version: TableVersion {
                    table: table.clone(),
                    version_id: table.version_id.clone(),
                },
            })
        })
        .await
    }

    /// Every kept version of a table, newest first.
    pub async fn get_table_versions(
        &self,
        req: GetTableVersionsRequest,
    ) -> Result<GetTableVersionsResponse> {
        self.check_catalog(req.catalog_id.as_deref())?;
        let database = names::fold(&req.database_name)?;
        let name = names::fold(&req.table_name)?;
        let size = paging::page_size(req.max_results)?;
        let after = match paging::after(req.next_token.as_deref())? {
            Some(last) => Some(version_number(&last).ok_or_else(|| invalid("Invalid NextToken."))?),
            None => None,
        };
        self.read(|doc| {
            let stored = find_table(doc, &database, &name)?;
            let versions = stored
                .newest_first()
                .filter(|t| match (after, version_number(&t.version_id)) {
                    (Some(last), Some(v)) => v < last,
                    _ => true,
                })
                .map(|t| TableVersion {
                    table: t.clone(),
                    version_id: t.version_id.clone(),
                });
            let (page, next_token) = paging::take(versions, size, |v| v.version_id.clone());
            Ok(GetTableVersionsResponse {
                table_versions: page,
                next_token,
            })
        })
        .await
    }
}
