//! The continuous-SQL engine behind Freshet's Analytics applications (Kinesis Data Analytics
//! SQL): application code is parsed, planned into pumps between in-application streams, and run
//! on Arrow batches with DataFusion's expressions and aggregates inside our own streaming
//! operators. No HTTP and no I/O: the runner feeds records in and takes encoded rows out.

mod app;
mod decode;
mod encode;
mod expr;
pub mod flink;
mod function;
mod grouped;
mod logparse;
mod lookup;
mod operator;
mod parse;
mod pump;
mod scalar;
mod sliding;
mod stream;
mod stream_join;
mod types;

pub use app::{
    Application, CompileError, ERROR_STREAM, InputSpec, OutputSpec, ReferenceSpec, RunError,
};
pub use decode::{ColumnSpec, InputRecord, InputSchema, RecordFormat};
pub use encode::OutputFormat;
pub use parse::{ParseError, Script, Statement, normalize, parse};
pub use types::parse_sql_type;
