//! The Glue catalog service: its configuration, its document behind one lock, and the schema
//! lookups other services make (`table_columns`). The operations themselves are in
//! `databases.rs` and `tables.rs`.

use std::sync::Arc;

use freshet_catalog::Catalog;
use freshet_runtime::SharedClock;
use tokio::sync::Mutex;

use crate::Column;
use crate::error::{GlueError, Result, database_not_found, invalid, table_not_found};
use crate::names;
use crate::store::{CatalogDocument, StoredTable, version_number};

pub struct GlueConfig {
    pub region: String,
    /// The one catalog served: its id is the account id (`CatalogId`).
    pub account_id: String,
    /// Where creation and update times come from.
    pub clock: SharedClock,
}

/// The Glue Data Catalog (databases and tables): cheap to clone, shared by the edge and the
/// services that read table schemas.
#[derive(Clone)]
pub struct GlueService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: GlueConfig,
    catalog: Catalog,
    doc: Mutex<CatalogDocument>,
}

impl GlueService {
    /// Opens the Glue catalog kept in `catalog` (empty the first time). Reads only.
    pub async fn open(config: GlueConfig, catalog: Catalog) -> Result<GlueService> {
        let doc = CatalogDocument::load(&catalog).await?;
        tracing::info!(
            region = %config.region,
            databases = doc.databases.len(),
            tables = doc.table_count(),
            "glue catalog loaded"
        );
        Ok(GlueService {
            inner: Arc::new(Inner {
                config,
                catalog,
                doc: Mutex::new(doc),
            }),
        })
    }

    /// Whether the catalog store answers.
    pub async fn health(&self) -> Result<()> {
        self.inner.catalog.ping().await?;
        Ok(())
    }

    /// The columns of a table's StorageDescriptor, in order, at version `version_id` (the
    /// current one when None): the schema Firehose's record format conversion writes with.
    /// Database and table names are folded to lowercase, as Glue does.
    pub async fn table_columns(
        &self,
        database: &str,
        table: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<Column>, GlueError> {
        self.read(|doc| {
            let stored = find_table(doc, &names::fold(database)?, &names::fold(table)?)?;
            let version = match version_id {
                None => &stored.current,
                Some(id) => find_version(stored, id)?,
            };
            Ok(version
                .storage_descriptor
                .iter()
                .flat_map(|sd| sd.columns.iter().flatten())
                .map(|c| Column {
                    name: c.name.clone(),
                    type_name: c.type_name.clone().unwrap_or_default(),
                })
                .collect())
        })
        .await
    }

    pub(crate) fn now(&self) -> crate::model::Timestamp {
        crate::model::Timestamp(self.inner.config.clock.now_ms())
    }

    /// Refuses a CatalogId other than this account's: Freshet serves one catalog.
    pub(crate) fn check_catalog(&self, catalog_id: Option<&str>) -> Result<()> {
        match catalog_id {
            Some(id) if id != self.inner.config.account_id => Err(GlueError::EntityNotFound(
                format!("Catalog {id} not found."),
            )),
            _ => Ok(()),
        }
    }

    /// Answers from the catalog as it is now.
    pub(crate) async fn read<T>(&self, f: impl FnOnce(&CatalogDocument) -> Result<T>) -> Result<T> {
        let doc = self.inner.doc.lock().await;
        f(&doc)
    }

    /// Makes one change: `f` edits a copy of the catalog, the copy is stored, and only then does
    /// it become the catalog served. A refused or failed change leaves nothing behind.
    pub(crate) async fn change<T>(
        &self,
        f: impl FnOnce(&mut CatalogDocument) -> Result<T>,
    ) -> Result<T> {
        // Held across the write on purpose: changes are stored in the order they are made, and
        // no reader sees a change before it is durable.
        let mut doc = self.inner.doc.lock().await;
        let mut next = doc.clone();
        let out = f(&mut next)?;
        next.save(&self.inner.catalog).await?;
        *doc = next;
        Ok(out)
    }
}

/// A table by its folded database and table names.
pub(crate) fn find_table<'a>(
    doc: &'a CatalogDocument,
    database: &str,
    table: &str,
) -> Result<&'a StoredTable> {
    doc.databases
        .get(database)
        .ok_or_else(|| database_not_found(database))?
        .tables
        .get(table)
        .ok_or_else(|| table_not_found(table))
}

/// A version of a table by its VersionId.
pub(crate) fn find_version<'a>(
    stored: &'a StoredTable,
    id: &str,
) -> Result<&'a crate::model::Table> {
    let number = version_number(id)
        .ok_or_else(|| invalid(format!("Invalid VersionId: {id}. It must be a number.")))?;
    stored
        .version(number)
        .ok_or_else(|| GlueError::EntityNotFound("Version not found.".into()))
}
