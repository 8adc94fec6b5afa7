//! The catalog schema and how each backend records which version of it a database holds. Both
//! backends end up with the same tables and columns, so `sql.rs` runs one set of queries on
//! either. A schema change is a new entry in each list, never an edit of an old one.

use sqlx::{AnyPool, Row};

use crate::Result;

/// SQLite schema versions, applied in order; `PRAGMA user_version` records how many have run.
const SQLITE: &[&str] = &[
    include_str!("../migrations/0001_streams.sql"),
    include_str!("../migrations/0002_consumers.sql"),
    include_str!("../migrations/0003_delivery_streams.sql"),
    include_str!("../migrations/0004_video_streams.sql"),
    include_str!("../migrations/0005_leases.sql"),
    include_str!("../migrations/0006_applications.sql"),
    include_str!("../migrations/0007_application_snapshots.sql"),
    include_str!("../migrations/0008_application_code.sql"),
    include_str!("../migrations/0009_signaling_channels.sql"),
    include_str!("../migrations/0010_lease_log.sql"),
];

/// PostgreSQL schema versions, applied in order; `schema_migrations` records which have run. The
/// first one is SQLite's nine at once: no PostgreSQL catalog predates it.
const POSTGRES: &[&str] = &[include_str!("../migrations/postgres/0001_catalog.sql")];

/// The advisory lock PostgreSQL migrations run under (an arbitrary constant every node agrees on).
const POSTGRES_MIGRATION_LOCK: i64 = 0x6672_6573_6865_7401;

pub(crate) async fn sqlite(pool: &AnyPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    let applied: i64 = sqlx::query("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    for (version, sql) in SQLITE.iter().enumerate().skip(applied.max(0) as usize) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", version + 1))
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = version + 1, "catalog schema migrated");
    }
    // Not through `commit`: schema setup is no change a caller asked for, and failing it would keep
    // every server from starting rather than fail the write a test aims at.
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn postgres(pool: &AnyPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    // Nodes of a cluster may start at once against one database: the lock (held until this
    // transaction ends) lets one of them migrate while the others wait, then find nothing to do.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(POSTGRES_MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    for (version, sql) in POSTGRES.iter().enumerate().skip(applied.max(0) as usize) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version as i64 + 1)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = version + 1, "catalog schema migrated");
    }
    // Not through `commit`, as for SQLite.
    tx.commit().await?;
    Ok(())
}
