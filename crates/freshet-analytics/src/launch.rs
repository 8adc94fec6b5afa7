//! The seam between the control plane and whatever runs applications: the service decides when
//! an application starts and stops and with what configuration (`RunSpec`), a `Launcher` does
//! it. The service never runs SQL itself, so it can be tested with a recording launcher and the
//! runner can change without touching the API.

use futures_util::future::BoxFuture;

/// Where an input's source records come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    KinesisStream { name: String },
    DeliveryStream { name: String },
}

/// How records are split into columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    Json {
        record_row_path: String,
    },
    Csv {
        row_delimiter: String,
        column_delimiter: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordColumn {
    pub name: String,
    pub sql_type: String,
    /// The JSONPath (JSON) or nothing (CSV: columns in order).
    pub mapping: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub columns: Vec<RecordColumn>,
    pub format: RecordFormat,
    /// `UTF-8`, the only encoding AWS accepts.
    pub encoding: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub id: String,
    pub source: Source,
    /// In-application streams are `<prefix>_001` … `<prefix>_<parallelism>`.
    pub name_prefix: String,
    pub parallelism: u32,
    pub schema: Schema,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Csv,
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
}

/// Why a run could not start; the service answers or records it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    /// The configuration cannot run (code that does not compile against the inputs, a missing
    /// stream, an unreadable reference object): InvalidApplicationConfigurationException.
    #[error("{0}")]
    InvalidConfiguration(String),
}

pub trait Launcher: Send + Sync + 'static {
    /// Starts the application; returns once it runs (or fails to start).
    fn start(&self, spec: RunSpec) -> BoxFuture<'static, Result<(), LaunchError>>;
    /// Stops it; returns once its last checkpoint is committed.
    fn stop(&self, app_uid: u64) -> BoxFuture<'static, ()>;
}
