//! Test support shared by the crates' tests (a dev-dependency only): throwaway servers, one per
//! test process, started on first use and gone with it — PostgreSQL, with a fresh database for each
//! test that asks, and an S3-compatible server (moto), with a fresh bucket for each test that asks.

mod postgres;
mod s3;
mod watched;

pub use postgres::{postgres_database, postgres_server_url};
pub use s3::{S3Bucket, s3_bucket};
