//! The Iceberg REST catalog over the Glue Data Catalog, as AWS Glue serves it at
//! `glue.<region>.amazonaws.com/iceberg`: a namespace is a Glue database (one level only), a
//! table is a Glue table pointing at its current metadata file, and metadata files are written
//! through `Files`. Table metadata itself (creation, requirements, updates) is Iceberg's own
//! `TableMetadataBuilder`; this module decides only where things are kept.
//!
//! `namespaces.rs` and `tables.rs` hold the operations, `commit.rs` the commit protocol,
//! `glue_table.rs` and `columns.rs` the Glue form of a table, `metadata_files.rs` the files.

mod columns;
mod commit;
mod error;
mod glue_table;
mod metadata_files;
mod namespaces;
mod tables;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use freshet_glue::GlueService;
use futures_util::future::BoxFuture;
use iceberg::NamespaceIdent;
use iceberg::io::FileIO;
use iceberg_catalog_rest::{CommitTableRequest, CommitTableResponse, LoadTableResult};

pub use error::IcebergError;

use crate::client::{TableCatalog, TableName};
use crate::files::{Files, files_io};

/// The most items one Glue page holds.
const GLUE_MAX_PAGE: usize = 100;

/// Where tables go when neither their request nor their namespace names a location.
#[derive(Debug, Clone, Default)]
pub struct IcebergConfig {
    pub account_id: String,
    pub warehouse: Option<String>,
}

#[derive(Clone)]
pub struct IcebergCatalog {
    glue: GlueService,
    files: FileIO,
    config: IcebergConfig,
}

/// A page of a listing the client asked for: where the previous page ended and how many items
/// at most. Without a size, a listing answers everything from the token on.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub token: Option<String>,
    pub size: Option<usize>,
}

impl IcebergCatalog {
    pub fn new(glue: GlueService, files: Arc<dyn Files>, config: IcebergConfig) -> IcebergCatalog {
        IcebergCatalog {
            glue,
            files: files_io(files),
            config,
        }
    }

    /// Whether the Glue catalog the tables are kept in answers.
    pub async fn health(&self) -> Result<(), String> {
        self.glue.health().await.map_err(|e| e.to_string())
    }

    /// The catalog's `prefix` for `/v1/config`: `catalogs/<account id>`, as AWS Glue answers.
    /// A `warehouse` names the catalog: AWS takes a catalog id, which here is the account id,
    /// alone or followed by `:` and a child catalog's name (the child is the account's one
    /// catalog: Freshet has no S3 Tables or federated catalogs). Any other is BadRequest.
    pub fn prefix(&self, warehouse: Option<&str>) -> Result<String, IcebergError> {
        let account = &self.config.account_id;
        if let Some(w) = warehouse
            && w != account
            && !w
                .strip_prefix(account.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
        {
            return Err(IcebergError::BadRequest(format!(
                "Catalog {w} not found: the warehouse is the catalog id {account}."
            )));
        }
        Ok(format!("catalogs/{account}"))
    }

    /// Refuses a catalog id (the `{catalog}` of `catalogs/{catalog}/...`) other than the
    /// account's: Freshet serves one catalog.
    pub fn check_catalog(&self, catalog_id: &str) -> Result<(), IcebergError> {
        if catalog_id == self.config.account_id {
            return Ok(());
        }
        Err(IcebergError::NoSuchNamespace(format!(
            "Catalog {catalog_id} not found."
        )))
    }
}

/// The name of a one-level namespace: a Glue database has no parents.
pub fn namespace_name(namespace: &NamespaceIdent) -> Result<&str, IcebergError> {
    match &namespace[..] {
        [name] => Ok(name),
        _ => Err(IcebergError::BadRequest(format!(
            "Namespace {namespace:?} has more than one level: a Glue database is one level."
        ))),
    }
}

/// The items of a listing from Glue's pages: one Glue page of at most `size` items when the
/// client pages (Glue's token is the client's), every page from the token on otherwise.
async fn glue_pages<T, F, Fut>(
    page: Page,
    mut fetch: F,
) -> Result<(Vec<T>, Option<String>), IcebergError>
where
    F: FnMut(Option<String>, Option<i32>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), IcebergError>>,
{
    if let Some(size) = page.size {
        // A server may answer fewer items than asked (the REST specification's pageSize).
        let size = size.clamp(1, GLUE_MAX_PAGE) as i32;
        return fetch(page.token, Some(size)).await;
    }
    let mut items = Vec::new();
    let mut token = page.token;
    loop {
        let (mut got, next) = fetch(token, None).await?;
        items.append(&mut got);
        match next {
            Some(next) => token = Some(next),
            None => return Ok((items, None)),
        }
    }
}

impl TableCatalog for IcebergCatalog {
    fn load_table<'a>(
        &'a self,
        name: &'a TableName,
    ) -> BoxFuture<'a, Result<LoadTableResult, IcebergError>> {
        Box::pin(async move { Ok(self.current(name).await?.into_load_result()) })
    }

    fn commit<'a>(
        &'a self,
        name: &'a TableName,
        commit: CommitTableRequest,
    ) -> BoxFuture<'a, Result<CommitTableResponse, IcebergError>> {
        Box::pin(self.commit_table(name, commit))
    }
}
