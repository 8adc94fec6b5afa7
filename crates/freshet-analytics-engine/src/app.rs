//! A running application: its in-application streams, the pumps between them, the inputs that
//! feed them and the outputs that drain them. Records go in with [`Application::push`], time
//! passes with [`Application::advance`], records for each output come out of
//! [`Application::take_outputs`]; [`Application::snapshot`] and [`Application::restore`] carry
//! the open windows across a restart.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use datafusion_common::arrow::array::{
    ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion_common::arrow::datatypes::DataType;
use datafusion_sql::sqlparser::ast::{Query, SetExpr, SetOperator, SetQuantifier};
use serde::{Deserialize, Serialize};

use crate::decode::{DecodeError, Decoder, InputRecord, InputSchema, RecordFormat, input_columns};
use crate::encode::{OutputFormat, encode};
use crate::expr::Functions;
use crate::lookup::Table;
use crate::operator::{Stages, ipc_batches, ipc_bytes};
use crate::parse::{ParseError, Statement, parse};
use crate::pump::{Target, plan, stream_schema};
use crate::stream::StreamDef;
use crate::types::{TIMESTAMP, arrow_type};

/// The in-application stream runtime errors go to.
pub const ERROR_STREAM: &str = "error_stream";

/// A streaming input: records read from one source become rows of `<prefix>_001` ...
/// `<prefix>_<parallelism>`.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name_prefix: String,
    pub parallelism: usize,
    pub schema: InputSchema,
}

/// An output: the rows of the in-application stream `name`, written as `format`.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub name: String,
    pub format: OutputFormat,
}

/// Why an application cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// The code is wrong, at this place.
    #[error(transparent)]
    Code(#[from] ParseError),
    /// The code does not fit the application's inputs or outputs.
    #[error("{0}")]
    Configuration(String),
}

/// A failure while running (a bug or an impossible state, not bad data: bad data goes to
/// `error_stream`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub(crate) String);

struct StreamRuntime {
    def: StreamDef,
    /// Pumps reading this stream, each with the side it reads it as (1: a stream join's right).
    consumers: Vec<(usize, usize)>,
    /// Outputs writing this stream out.
    outputs: Vec<usize>,
}

struct PumpRuntime {
    name: String,
    /// Which branch of the pump's UNION ALL (0 without one).
    branch: usize,
    /// The streams it reads (two for a stream join).
    sources: Vec<usize>,
    target: usize,
    stages: Stages,
}

impl PumpRuntime {
    fn process(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> datafusion_common::Result<()> {
        self.stages.process(side, batch, out)
    }
}

/// A reference table: its name in the code, its schema, and the object it is read from.
#[derive(Debug, Clone)]
pub struct ReferenceSpec {
    pub table_name: String,
    pub schema: InputSchema,
    pub data: Vec<u8>,
}

struct OutputRuntime {
    format: OutputFormat,
    records: Vec<Vec<u8>>,
}

pub struct Application {
    streams: Vec<StreamRuntime>,
    pumps: Vec<PumpRuntime>,
    /// Pump indexes, each after every pump feeding its source.
    order: Vec<usize>,
    /// Per input instance (`_001`, `_002`, ...), its stream and decoder.
    inputs: Vec<(usize, Decoder)>,
    outputs: Vec<OutputRuntime>,
    error_stream: usize,
    last_rowtime: i64,
}

impl Application {
    /// Plans `code` over `inputs`, writing `outputs`.
    pub fn compile(
        code: &str,
        inputs: &[InputSpec],
        references: &[ReferenceSpec],
        outputs: &[OutputSpec],
    ) -> Result<Application, CompileError> {
        let script = parse(code)?;
        let functions = Functions::new();
        let tables = references
            .iter()
            .map(load_table)
            .collect::<Result<Vec<_>, _>>()
            .map_err(CompileError::Configuration)?;
        let mut streams: Vec<StreamRuntime> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut add = |streams: &mut Vec<StreamRuntime>, def: StreamDef| -> Result<usize, String> {
            if by_name.contains_key(&def.name) {
                return Err(format!("Stream {} already exists", def.name));
            }
            by_name.insert(def.name.clone(), streams.len());
            streams.push(StreamRuntime {
                def,
                consumers: Vec::new(),
                outputs: Vec::new(),
            });
            Ok(streams.len() - 1)
        };
        let mut decoders = Vec::new();
        for input in inputs {
            let columns = input_columns(&input.schema).map_err(CompileError::Configuration)?;
            let schema = stream_schema(columns);
            for instance in 1..=input.parallelism.max(1) {
                let name = format!("{}_{instance:03}", input.name_prefix);
                let decoder = Decoder::new(&input.schema, schema.clone())
                    .map_err(CompileError::Configuration)?;
                let stream = add(&mut streams, StreamDef::new(name, schema.clone(), 2))
                    .map_err(CompileError::Configuration)?;
                decoders.push((stream, decoder));
            }
        }
        let error_stream = add(
            &mut streams,
            StreamDef::new(ERROR_STREAM.into(), error_schema(), 1),
        )
        .map_err(CompileError::Configuration)?;
        let declared_from = streams.len();

        let mut pumps = Vec::new();
        let mut pump_names = HashMap::new();
        for statement in &script.statements {
            match statement {
                Statement::CreateStream { name, columns, at } => {
                    let mut fields = Vec::new();
                    for column in columns {
                        let data_type =
                            arrow_type(&column.data_type).map_err(|m| ParseError::at(*at, m))?;
                        fields.push((crate::parse::normalize(&column.name), data_type));
                    }
                    let def = StreamDef::new(name.clone(), stream_schema(fields), 1);
                    add(&mut streams, def).map_err(|m| ParseError::at(*at, m))?;
                }
                Statement::CreatePump {
                    name,
                    target,
                    columns,
                    query,
                    at,
                } => {
                    if pump_names.insert(name.clone(), ()).is_some() {
                        return Err(
                            ParseError::at(*at, format!("Pump {name} already exists")).into()
                        );
                    }
                    let target_index = streams
                        .iter()
                        .position(|s| s.def.name == *target)
                        .filter(|i| *i >= declared_from)
                        .ok_or_else(|| ParseError::at(*at, format!("Object '{target}' not found within schema (a pump writes a stream created by CREATE STREAM)")))?;
                    let lookup = |n: &str| {
                        streams
                            .iter()
                            .find(|s| s.def.name == n)
                            .map(|s| s.def.clone())
                    };
                    // Each branch of a UNION ALL is a pump of its own into the same stream.
                    let branches = union_branches(query).map_err(|m| ParseError::at(*at, m))?;
                    let planned = branches
                        .iter()
                        .map(|query| {
                            plan(
                                &functions,
                                query,
                                &lookup,
                                &tables,
                                &script.stream_windows,
                                Target::Stream(&streams[target_index].def, columns),
                            )
                            .map_err(|m| ParseError::at(*at, m))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    for (branch, planned) in planned.into_iter().enumerate() {
                        let mut sources = Vec::new();
                        for (side, name) in planned.sources.iter().enumerate() {
                            let source = streams
                                .iter()
                                .position(|s| s.def.name == *name)
                                .unwrap_or(error_stream);
                            if source == error_stream {
                                return Err(ParseError::at(
                                    *at,
                                    "error_stream cannot be read by application code",
                                )
                                .into());
                            }
                            streams[source].consumers.push((pumps.len(), side));
                            sources.push(source);
                        }
                        pumps.push(PumpRuntime {
                            name: name.clone(),
                            branch,
                            sources,
                            target: target_index,
                            stages: Stages(planned.stages),
                        });
                    }
                }
            }
        }
        let order = topological(&pumps, streams.len()).map_err(CompileError::Configuration)?;

        let mut runtime_outputs = Vec::new();
        for (i, output) in outputs.iter().enumerate() {
            let stream = streams
                .iter()
                .position(|s| s.def.name == output.name)
                .ok_or_else(|| {
                    CompileError::Configuration(format!(
                        "the output {} names no in-application stream the code creates",
                        output.name
                    ))
                })?;
            streams[stream].outputs.push(i);
            runtime_outputs.push(OutputRuntime {
                format: output.format,
                records: Vec::new(),
            });
        }
        Ok(Application {
            streams,
            pumps,
            order,
            inputs: decoders,
            outputs: runtime_outputs,
            error_stream,
            last_rowtime: i64::MIN,
        })
    }

    /// How many input instances (in-application input streams) there are, in order of
    /// [`InputSpec`] then instance.
    pub fn input_instances(&self) -> usize {
        self.inputs.len()
    }

    /// Feeds records that arrived on input instance `instance` at `now_ms`.
    pub fn push(
        &mut self,
        instance: usize,
        records: &[InputRecord<'_>],
        now_ms: i64,
    ) -> Result<(), RunError> {
        let rowtime = self.tick(now_ms);
        let (stream, decoder) = self
            .inputs
            .get(instance)
            .ok_or_else(|| RunError(format!("no input instance {instance}")))?;
        let stream = *stream;
        let (batch, errors) = decoder.decode(records, rowtime).map_err(RunError)?;
        if !errors.is_empty() {
            self.report_decode_errors(records, &errors, rowtime)?;
        }
        self.deliver(stream, batch)
    }

    /// Lets time pass to `now_ms`: windows that have ended are emitted.
    pub fn advance(&mut self, now_ms: i64) -> Result<(), RunError> {
        let now = self.tick(now_ms);
        for i in 0..self.order.len() {
            let pump = self.order[i];
            let mut out = Vec::new();
            self.pumps[pump]
                .stages
                .advance(now, &mut out)
                .map_err(|e| RunError(e.to_string()))?;
            let target = self.pumps[pump].target;
            for batch in out {
                self.deliver(target, batch)?;
            }
        }
        Ok(())
    }

    /// The records each output has to write (by [`OutputSpec`] index), taken.
    pub fn take_outputs(&mut self) -> Vec<Vec<Vec<u8>>> {
        self.outputs
            .iter_mut()
            .map(|o| std::mem::take(&mut o.records))
            .collect()
    }

    /// ROWTIME never decreases: a clock stepping back does not reorder rows.
    fn tick(&mut self, now_ms: i64) -> i64 {
        self.last_rowtime = self.last_rowtime.max(now_ms);
        self.last_rowtime
    }

    fn deliver(&mut self, stream: usize, batch: RecordBatch) -> Result<(), RunError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for &output in &self.streams[stream].outputs {
            let output = &mut self.outputs[output];
            encode(&batch, output.format, &mut output.records).map_err(RunError)?;
        }
        for i in 0..self.streams[stream].consumers.len() {
            let (pump, side) = self.streams[stream].consumers[i];
            let mut out = Vec::new();
            if let Err(error) = self.pumps[pump].process(side, &batch, &mut out) {
                out.clear();
                self.isolate_bad_rows(pump, side, &batch, &error.to_string(), &mut out)?;
            }
            let target = self.pumps[pump].target;
            for produced in out {
                self.deliver(target, produced)?;
            }
        }
        Ok(())
    }

    /// A batch failed as a whole (one row divides by zero, say): each row is run on its own so
    /// the good ones go on and each bad one goes to `error_stream`.
    fn isolate_bad_rows(
        &mut self,
        pump: usize,
        side: usize,
        batch: &RecordBatch,
        first: &str,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), RunError> {
        if batch.num_rows() == 1 {
            let row = row_text(batch);
            let rowtime = rowtime_of(batch);
            let name = self.pumps[pump].name.clone();
            return self.report(&[ErrorRow {
                name: "Evaluation_Error",
                message: first.to_string(),
                rowtime,
                row,
                pump: Some(name),
            }]);
        }
        for i in 0..batch.num_rows() {
            let row = batch.slice(i, 1);
            if let Err(error) = self.pumps[pump].process(side, &row, out) {
                self.isolate_bad_rows(pump, side, &row, &error.to_string(), out)?;
            }
        }
        Ok(())
    }

    fn report_decode_errors(
        &mut self,
        records: &[InputRecord<'_>],
        errors: &[DecodeError],
        rowtime: i64,
    ) -> Result<(), RunError> {
        let rows: Vec<ErrorRow> = errors
            .iter()
            .map(|e| ErrorRow {
                name: e.name,
                message: e.message.clone(),
                rowtime,
                row: hex::encode(records[e.record].data),
                pump: None,
            })
            .collect();
        self.report(&rows)
    }

    fn report(&mut self, rows: &[ErrorRow]) -> Result<(), RunError> {
        let n = rows.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from_value(self.last_rowtime, n)),
            Arc::new(TimestampMillisecondArray::from_value(self.last_rowtime, n)),
            Arc::new(StringArray::from(vec!["ERROR"; n])),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.name))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.message.as_str()),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.rowtime),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.row.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.pump.as_deref()),
            )),
        ];
        let schema = self.streams[self.error_stream].def.schema.clone();
        let batch = RecordBatch::try_new(schema, columns).map_err(|e| RunError(e.to_string()))?;
        self.deliver(self.error_stream, batch)
    }

    /// The state that must survive a restart: ROWTIME's high mark and every open window.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, RunError> {
        let mut windows = Vec::new();
        for pump in &mut self.pumps {
            for (stage, start, batch) in pump
                .stages
                .snapshot()
                .map_err(|e| RunError(e.to_string()))?
            {
                let bytes = ipc_bytes(&batch).map_err(|e| RunError(e.to_string()))?;
                windows.push(WindowSnapshot {
                    pump: pump.name.clone(),
                    branch: pump.branch,
                    stage,
                    start,
                    state: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
            }
        }
        serde_json::to_vec(&Snapshot {
            last_rowtime: self.last_rowtime,
            windows,
        })
        .map_err(|e| RunError(e.to_string()))
    }

    /// Reopens the windows of a snapshot taken by an application with the same pumps; windows
    /// of pumps that no longer exist are dropped (the code changed).
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), RunError> {
        let snapshot: Snapshot = serde_json::from_slice(snapshot)
            .map_err(|e| RunError(format!("unreadable snapshot: {e}")))?;
        self.last_rowtime = self.last_rowtime.max(snapshot.last_rowtime);
        for window in snapshot.windows {
            let Some(pump) = self
                .pumps
                .iter_mut()
                .find(|p| p.name == window.pump && p.branch == window.branch)
            else {
                continue;
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(window.state)
                .map_err(|e| RunError(format!("unreadable snapshot: {e}")))?;
            for batch in ipc_batches(&bytes).map_err(|e| RunError(e.to_string()))? {
                // A window whose state no longer fits the pump (its query changed) starts over.
                if pump
                    .stages
                    .restore(window.stage, window.start, &batch)
                    .is_err()
                {
                    tracing::warn!(pump = %window.pump, "the open window of a changed pump was dropped on restore");
                }
            }
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    last_rowtime: i64,
    windows: Vec<WindowSnapshot>,
}

#[derive(Serialize, Deserialize)]
struct WindowSnapshot {
    pump: String,
    #[serde(default)]
    branch: usize,
    /// Which of the pump's stages (snapshots from before table functions have only stage 0).
    #[serde(default)]
    stage: usize,
    start: i64,
    /// The window's groups as an Arrow IPC stream, base64.
    state: String,
}

struct ErrorRow {
    name: &'static str,
    message: String,
    rowtime: i64,
    row: String,
    pump: Option<String>,
}

/// The queries a pump's UNION ALL joins (the query itself when it has none).
fn union_branches(query: &Query) -> Result<Vec<Query>, String> {
    fn collect(body: &SetExpr, into: &mut Vec<SetExpr>) -> Result<(), String> {
        match body {
            SetExpr::SetOperation {
                op: SetOperator::Union,
                set_quantifier: SetQuantifier::All,
                left,
                right,
            } => {
                collect(left, into)?;
                collect(right, into)
            }
            SetExpr::SetOperation { op, .. } => Err(format!(
                "only UNION ALL combines streams ({op} would have to wait for the streams to end)"
            )),
            other => {
                into.push(other.clone());
                Ok(())
            }
        }
    }
    let mut bodies = Vec::new();
    collect(&query.body, &mut bodies)?;
    Ok(bodies
        .into_iter()
        .map(|body| {
            let mut branch = query.clone();
            branch.body = Box::new(body);
            branch
        })
        .collect())
}

/// Pumps ordered so every pump comes after those feeding its source; a cycle is refused.
fn topological(pumps: &[PumpRuntime], streams: usize) -> Result<Vec<usize>, String> {
    let mut depth = vec![0usize; streams];
    for _ in 0..=pumps.len() {
        let mut changed = false;
        for pump in pumps {
            let want = pump.sources.iter().map(|&s| depth[s]).max().unwrap_or(0) + 1;
            if depth[pump.target] < want {
                depth[pump.target] = want;
                changed = true;
            }
        }
        if !changed {
            let mut order: Vec<usize> = (0..pumps.len()).collect();
            order.sort_by_key(|&p| pumps[p].sources.iter().map(|&s| depth[s]).max());
            return Ok(order);
        }
    }
    Err("the pumps form a cycle: a stream feeds itself".into())
}

/// The error stream's documented columns.
fn error_schema() -> datafusion_common::arrow::datatypes::SchemaRef {
    stream_schema([
        ("ERROR_TIME".to_string(), TIMESTAMP),
        ("ERROR_LEVEL".to_string(), DataType::Utf8),
        ("ERROR_NAME".to_string(), DataType::Utf8),
        ("MESSAGE".to_string(), DataType::Utf8),
        ("DATA_ROWTIME".to_string(), TIMESTAMP),
        ("DATA_ROW".to_string(), DataType::Utf8),
        ("PUMP_NAME".to_string(), DataType::Utf8),
    ])
}

fn rowtime_of(batch: &RecordBatch) -> i64 {
    use datafusion_common::arrow::array::AsArray;
    use datafusion_common::arrow::datatypes::TimestampMillisecondType;
    batch
        .column(0)
        .as_primitive::<TimestampMillisecondType>()
        .value(0)
}

/// A row as `error_stream` carries it: the hex of its JSON form.
fn row_text(batch: &RecordBatch) -> String {
    let mut records = Vec::new();
    match encode(batch, OutputFormat::Json, &mut records) {
        Ok(()) => records.first().map(hex::encode).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Reads a reference object into its table: CSV rows split on the row delimiter, JSON one
/// document per line. A row that does not fit the schema makes the table unusable (AWS refuses
/// to start, too), so the message names it.
fn load_table(spec: &ReferenceSpec) -> Result<Table, String> {
    let schema = stream_schema(input_columns(&spec.schema)?);
    let decoder = Decoder::new(&spec.schema, schema)?;
    let lines: Vec<&[u8]> = match &spec.schema.format {
        RecordFormat::Csv { .. } => vec![spec.data.as_slice()],
        RecordFormat::Json { .. } => spec
            .data
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect(),
    };
    let records: Vec<InputRecord<'_>> = lines
        .iter()
        .map(|data| InputRecord {
            data,
            arrival_ms: 0,
        })
        .collect();
    let (batch, errors) = decoder.decode(&records, 0)?;
    if let Some(error) = errors.first() {
        return Err(format!(
            "the reference table {} cannot be read: {}",
            spec.table_name, error.message
        ));
    }
    // ROWTIME and APPROXIMATE_ARRIVAL_TIME belong to streams, not tables.
    let rows = batch
        .project(&(2..batch.num_columns()).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    Ok(Table {
        name: spec.table_name.clone(),
        rows,
    })
}
