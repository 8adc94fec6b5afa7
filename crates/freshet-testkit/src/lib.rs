//! Test support shared by the crates' tests (a dev-dependency only): a throwaway PostgreSQL server,
//! one per test process, started on first use, with a fresh database for each test that asks.

mod postgres;

pub use postgres::{postgres_database, postgres_server_url};
