//! Kinesis Data Analytics, the control plane: SQL applications through the
//! `KinesisAnalytics_20150814` API and `KinesisAnalytics_20180523` (`v2.rs`), Flink applications
//! (Managed Service for Apache Flink) through the latter (`flink.rs`, `lifecycle.rs`,
//! `snapshots.rs`): configuration, versions, tags, snapshots, the status machine and schema
//! discovery, kept in the catalog. Running an application is a `Launcher`'s job (`launch.rs`): the
//! embedded runner (`run`), or an Apache Flink cluster for FLINK-* applications (`cluster`).

mod app;
pub mod arn;
pub mod cluster;
mod discover;
pub mod error;
pub mod flink;
pub mod launch;
mod lifecycle;
pub mod model;
pub mod run;
mod service;
pub mod snapshots;
#[cfg(test)]
mod tests;
pub mod v2;
mod validate;

pub use cluster::{ClusterConfig, FlinkCluster};
pub use error::{AnalyticsError, Result};
pub use launch::{AppError, LaunchError, Launcher, RunSpec, StopMode};
pub use run::{Runner, RunnerSettings};
pub use service::{AnalyticsConfig, AnalyticsService};
