//! The cluster log's tables in PostgreSQL, migrated in order at open.

use sqlx::PgPool;

/// Schema versions, applied in order; a change is a new entry, never an edit of an old one.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_log.sql")];

/// Applies the migrations not yet applied. Nodes starting together take turns on an advisory
/// lock, so the second sees the first's version and applies nothing twice.
pub(crate) async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('freshet_log_schema'))")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS log_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM log_schema")
        .fetch_one(&mut *tx)
        .await?;
    for (version, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(applied.unwrap_or(0).max(0) as usize)
    {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO log_schema (version) VALUES ($1)")
            .bind(version as i64 + 1)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = version + 1, "cluster log schema migrated");
    }
    tx.commit().await
}
