//! The catalog: durable metadata for streams (shards with their lineage, tags, settings),
//! consumers, delivery streams with their checkpoints, video streams, analytics applications with
//! their checkpoints and snapshots, and the leases under which
//! background work runs. Every mutation is one transaction, so a crash leaves either the old or
//! the new state; the services order catalog and log changes so that the next start can finish or
//! undo whatever was in flight (see `Status::Creating` / `Deleting`).
//!
//! The services see the catalog through `CatalogBackend` (`backend.rs`). One implementation,
//! `SqlCatalog` (`sql.rs`), runs the same queries on either backend: embedded SQLite for a single
//! node, PostgreSQL shared by the nodes of a cluster. Both hold one schema (`migrate.rs`) and pass
//! one conformance suite (`conformance.rs`).

mod backend;
pub mod conformance;
mod migrate;
mod rows;
mod sql;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use backend::{BoxFuture, CatalogBackend};
pub use freshet_runtime::Status;
pub use rows::{
    ApplicationRow, ApplicationSnapshotRow, ConsumerRow, DeliveryStreamRow, NamedDocRow, ShardRow,
    SignalingChannelRow, StreamMode, StreamRow, VideoStreamRow,
};
pub use sql::SqlCatalog;

pub(crate) use sql::parse_u128;

#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("catalog database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("a stream named {0} already exists")]
    NameTaken(String),
    #[error("corrupt catalog value in {field}: {value}")]
    Corrupt { field: &'static str, value: String },
    /// A write under a lease whose epoch was overtaken: another holder took the work over.
    #[error("lease {name} was taken over (epoch {held} < {current})")]
    Fenced {
        name: String,
        held: u64,
        current: u64,
    },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

/// A stream as stored: its row, its shards in index order and its tags.
#[derive(Clone, Debug)]
pub struct StoredStream {
    pub stream: StreamRow,
    pub shards: Vec<ShardRow>,
    pub tags: BTreeMap<String, String>,
    pub consumers: Vec<ConsumerRow>,
}

/// The right to run one piece of background work (a delivery worker, an application, a
/// scaler) until `expires_ms`. `epoch` grows each time the lease changes hands, and writes made
/// under a lease are fenced on it: a holder that lost its lease cannot commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub epoch: u64,
    pub expires_ms: i64,
}

/// A handle to the catalog, whatever its backend: cheap to clone, shared by every service.
#[derive(Clone)]
pub struct Catalog(Arc<dyn CatalogBackend>);

impl Catalog {
    /// The embedded catalog: opens (creating if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Catalog> {
        Ok(Catalog::new(SqlCatalog::open_sqlite(path).await?))
    }

    /// The cluster catalog: connects to the PostgreSQL database at `url`, which other nodes may
    /// share, migrating its schema if needed.
    pub async fn open_postgres(url: &str) -> Result<Catalog> {
        Ok(Catalog::new(SqlCatalog::open_postgres(url).await?))
    }

    pub fn new(backend: impl CatalogBackend + 'static) -> Catalog {
        Catalog(Arc::new(backend))
    }
}

impl std::ops::Deref for Catalog {
    type Target = dyn CatalogBackend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
