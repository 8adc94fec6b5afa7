//! The embedded SQLite catalog passes the catalog conformance suite.

use freshet_catalog::Catalog;
use freshet_catalog::conformance::CatalogStore;

/// One database file in a directory of its own, opened again on each call.
struct SqliteFile(tempfile::TempDir);

impl SqliteFile {
    fn new() -> SqliteFile {
        SqliteFile(tempfile::tempdir().expect("a temporary directory"))
    }
}

impl CatalogStore for SqliteFile {
    async fn open(&self) -> Catalog {
        Catalog::open(&self.0.path().join("catalog.db"))
            .await
            .expect("the catalog opens")
    }
}

freshet_catalog::catalog_conformance_suite!(SqliteFile::new());
