//! Kinesis Data Analytics, the control plane: SQL applications through the
//! `KinesisAnalytics_20150814` API and the SQL view of `KinesisAnalytics_20180523`
//! (`v2.rs`): configuration, versions, tags, the status machine and schema discovery, kept in
//! the catalog. Running an application is a `Launcher`'s job (`launch.rs`); no HTTP types here.

mod app;
pub mod arn;
mod discover;
pub mod error;
pub mod launch;
pub mod model;
pub mod run;
mod service;
#[cfg(test)]
mod tests;
pub mod v2;
mod validate;

pub use error::{AnalyticsError, Result};
pub use launch::{LaunchError, Launcher, RunSpec};
pub use run::{Runner, RunnerSettings};
pub use service::{AnalyticsConfig, AnalyticsService};
