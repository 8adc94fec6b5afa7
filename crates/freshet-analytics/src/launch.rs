//! The seam between the control plane and whatever runs applications: the service decides when
//! an application starts and stops and with what configuration (`RunSpec`), a `Launcher` does
//! it. The service never runs SQL itself, so it can be tested with a recording launcher and the
//! runner can change without touching the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// Where an input's source records come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    KinesisStream { name: String },
    DeliveryStream { name: String },
}

// The schemas and formats are the engine's own types: what the control plane stores is what
// the runner compiles, with no translation in between.
pub use freshet_analytics_engine::{
    ColumnSpec as RecordColumn, InputSchema as Schema, OutputFormat, RecordFormat,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub id: String,
    pub source: Source,
    /// In-application streams are `<prefix>_001` … `<prefix>_<parallelism>`.
    pub name_prefix: String,
    pub parallelism: u32,
    pub schema: Schema,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    pub id: String,
    /// The in-application stream whose rows are written.
    pub name: String,
    pub destination: Source,
    pub format: OutputFormat,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceSpec {
    pub id: String,
    pub table_name: String,
    pub bucket: String,
    pub file_key: String,
    pub schema: Schema,
}

/// Where an input starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    Now,
    TrimHorizon,
    /// Where the application's last run stopped (its checkpoint); NOW when it never ran.
    LastStoppedPoint,
}

/// Everything a run needs, fixed for its lifetime: a configuration change restarts the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    pub app_uid: u64,
    pub app_name: String,
    pub version: u64,
    pub code: String,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
    pub references: Vec<ReferenceSpec>,
    /// Per input id, where it starts.
    pub starting: Vec<(String, StartingPosition)>,
    /// For a FLINK-* application: `code` is Flink SQL, whose tables name its sources and
    /// sinks (`inputs`, `outputs` and `references` are empty).
    pub flink: Option<FlinkRun>,
}

/// How a Flink application's run starts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlinkRun {
    /// `EnvironmentProperties`: property group id, then key, then value.
    pub properties: BTreeMap<String, BTreeMap<String, String>>,
    /// The snapshot whose state and positions the run starts from; None: no state, each
    /// source table at its configured initial position.
    pub restore_from: Option<String>,
    /// Whether state in the snapshot that no operator of the code takes is dropped (true) or
    /// refuses the start (false), as Flink's `allowNonRestoredState`.
    pub allow_non_restored_state: bool,
    /// The application is a JAR (`code` is empty), which only a Flink cluster runs.
    pub jar: Option<Arc<Vec<u8>>>,
    /// Flink's parallelism for the job.
    pub parallelism: u32,
    /// How often the run commits a checkpoint (the application's CheckpointConfiguration);
    /// None: checkpointing is disabled, and only stops and snapshots commit one.
    pub checkpoint_interval: Option<std::time::Duration>,
}

/// How a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Its state is kept for a next start (a Flink cluster's job stops with a savepoint).
    Graceful,
    /// At once (a forced StopApplication): a Flink cluster's job is cancelled, no savepoint.
    Force,
}

/// Why a run could not start; the service answers or records it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    /// The configuration cannot run (code that does not compile against the inputs, a missing
    /// stream, an unreadable reference object): InvalidApplicationConfigurationException.
    #[error("{0}")]
    InvalidConfiguration(String),
}

/// Something that went wrong in a running application (a step failed, an output refused).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppError {
    /// Epoch milliseconds.
    pub at_ms: i64,
    pub message: String,
}

pub trait Launcher: Send + Sync + 'static {
    /// Starts the application; returns once it runs (or fails to start).
    fn start(&self, spec: RunSpec) -> BoxFuture<'static, Result<(), LaunchError>>;
    /// Stops it; returns once its last checkpoint is committed.
    fn stop(&self, app_uid: u64, mode: StopMode) -> BoxFuture<'static, ()>;
    /// Stores the application's state as the snapshot `name` (taken for application version
    /// `version`): a running application's state now, a stopped one's last checkpoint.
    fn snapshot(
        &self,
        app_uid: u64,
        name: String,
        version: u64,
    ) -> BoxFuture<'static, Result<(), LaunchError>>;
    /// Whether application `app_uid`'s run goes on: Some(false) once it ended by itself (a
    /// Flink cluster's job that finished, failed for good or was cancelled there); None when
    /// the launcher does not run it or cannot tell (the embedded runner's runs end only when
    /// stopped).
    fn alive(&self, _app_uid: u64) -> BoxFuture<'static, Option<bool>> {
        Box::pin(async { None })
    }

    /// Adds the running applications' metrics to a scrape.
    fn render_metrics(&self, _e: &mut freshet_runtime::metrics::Exposition) {}

    /// The running application's recent errors, newest first.
    fn recent_errors(&self, _app_uid: u64) -> Vec<AppError> {
        Vec::new()
    }

    /// The application is deleted: drops what its runs kept for a next run beside its
    /// checkpoint (the runner's holds on delivery streams). A launcher that keeps nothing has
    /// nothing to do.
    fn forget(&self, _app_uid: u64) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
