//! The Glue catalog as stored: one JSON document under one catalog setting, read once at open
//! and rewritten whole by each change. The document carries its format number; a change of
//! format is a deliberate step with a reader for the old one.

use std::collections::BTreeMap;

use freshet_catalog::Catalog;
use serde::{Deserialize, Serialize};

use crate::error::{GlueError, Result};
use crate::model::{Database, Table};

/// The catalog setting that holds the document.
const SETTING_KEY: &str = "glue/catalog";
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CatalogDocument {
    format: u32,
    /// By (lowercase) name, so listings come in name order.
    pub(crate) databases: BTreeMap<String, StoredDatabase>,
}

impl Default for CatalogDocument {
    fn default() -> Self {
        CatalogDocument {
            format: FORMAT,
            databases: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredDatabase {
    pub(crate) database: Database,
    pub(crate) tables: BTreeMap<String, StoredTable>,
}

/// A table's current version and the versions it replaced, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredTable {
    pub(crate) current: Table,
    pub(crate) archive: Vec<Table>,
}

impl StoredTable {
    /// The version `id` (a number), current or archived.
    pub(crate) fn version(&self, id: u64) -> Option<&Table> {
        std::iter::once(&self.current)
            .chain(&self.archive)
            .find(|t| version_number(&t.version_id) == Some(id))
    }

    /// Every version, newest first (as GetTableVersions lists them).
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Table> {
        std::iter::once(&self.current).chain(self.archive.iter().rev())
    }
}

/// A VersionId as a number: Glue's are "0", "1", ...
pub(crate) fn version_number(id: &str) -> Option<u64> {
    id.parse().ok()
}

impl CatalogDocument {
    pub(crate) async fn load(catalog: &Catalog) -> Result<CatalogDocument> {
        let Some(bytes) = catalog.get_setting(SETTING_KEY).await? else {
            return Ok(CatalogDocument::default());
        };
        let doc: CatalogDocument =
            serde_json::from_slice(&bytes).map_err(|e| GlueError::Corrupt(e.to_string()))?;
        if doc.format != FORMAT {
            return Err(GlueError::Corrupt(format!(
                "format {} (this build reads {FORMAT})",
                doc.format
            )));
        }
        Ok(doc)
    }

    /// Replaces the stored document with this one, in one catalog transaction.
    pub(crate) async fn save(&self, catalog: &Catalog) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| GlueError::Corrupt(e.to_string()))?;
        catalog.put_setting(SETTING_KEY, &bytes).await?;
        Ok(())
    }

    pub(crate) fn table_count(&self) -> usize {
        self.databases.values().map(|d| d.tables.len()).sum()
    }
}
