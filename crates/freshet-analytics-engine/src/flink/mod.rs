//! Flink SQL jobs (Managed Service for Apache Flink's applications) on the same engine: the
//! script's tables, views and INSERTs are planned into a graph of streaming operators driven
//! by event time. Records go in with [`FlinkJob::push`] (per source table and partition, with
//! their Kinesis metadata) and the files of `filesystem` tables with [`FlinkJob::load`], time
//! passes with [`FlinkJob::advance`], records for each sink come out of
//! [`FlinkJob::take_outputs`]; [`FlinkJob::snapshot`] and [`FlinkJob::restore`] carry open
//! windows, join state and watermarks across restarts.
//!
//! Watermarks work as Flink's: a source's is the highest `WATERMARK FOR` expression value seen
//! on each of its partitions, the lowest over the partitions (idle ones left out after the
//! idle timeout); an operator's is the lowest of its inputs'. Windows fire when the watermark
//! passes their end; rows for windows that fired are late, counted and dropped.

mod connector;
mod datagen;
mod dialect;
mod format;
mod join;
mod lookup;
mod over;
mod pending;
mod plan;
mod script;
mod session;
mod statements;
mod tvf;
mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine;
use datafusion_common::arrow::array::{
    ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion_common::arrow::compute::filter_record_batch;
use serde::{Deserialize, Serialize};

pub use connector::{Connector, StartPosition};
use datagen::Datagen;
use plan::{MetadataKey, Node, Op, Planner, SinkTable, SourceColumn, SourceTable};
use script::Statement;
pub use statements::cluster_statements;

use crate::app::{CompileError, RunError};
use crate::expr::Functions;
use crate::operator::{eval, ipc_batches, ipc_bytes};
use crate::parse::ParseError;

/// Records per batch when a file is loaded.
const LOAD_BATCH: usize = 10_000;

/// A record read from a source table's stream.
#[derive(Debug, Clone, Copy)]
pub struct SourceRecord<'a> {
    pub data: &'a [u8],
    pub arrival_ms: i64,
    pub partition_key: &'a str,
    pub sequence_number: &'a str,
}

/// A record for a sink table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRecord {
    pub data: Vec<u8>,
    /// From the table's `PARTITIONED BY` columns; None: any key (Flink's random partitioner).
    pub partition_key: Option<String>,
}

/// A table the job reads or writes, as the runner needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    pub name: String,
    pub connector: Connector,
}

/// Counters since the job started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobMetrics {
    pub records_in: u64,
    pub records_out: u64,
    /// Records a source's format could not read.
    pub parse_failures: u64,
    /// Rows that came after their window had fired.
    pub late_rows: u64,
    /// Batches an operator failed on (an expression error), dropped.
    pub failed_batches: u64,
}

/// What a restore found in the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Operator states in the snapshot that no operator of this job took (its code changed).
    pub unmatched: Vec<String>,
}

struct SourceRuntime {
    table: SourceTable,
    /// Per partition (shard): its watermark and when it last had records.
    partitions: HashMap<String, (i64, i64)>,
    idle_timeout: Option<i64>,
    datagen: Option<Datagen>,
    finished: bool,
    watermark: i64,
    idle: bool,
}

struct NodeRuntime {
    node: Node,
    watermark: i64,
    idle: bool,
}

pub struct FlinkJob {
    nodes: Vec<NodeRuntime>,
    sources: Vec<SourceRuntime>,
    sinks: Vec<(SinkTable, Vec<SinkRecord>)>,
    metrics: JobMetrics,
}

/// `${group.key}` in the code, replaced by the application's runtime property.
fn substitute(
    code: &str,
    properties: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<String, CompileError> {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| CompileError::Configuration("an unclosed ${ in the code".into()))?;
        let name = &after[..end];
        let value = name
            .split_once('.')
            .and_then(|(group, key)| properties.get(group)?.get(key))
            .ok_or_else(|| {
                CompileError::Configuration(format!(
                    "the code reads ${{{name}}}, but no property group and key of the application's EnvironmentProperties has that name (write ${{PropertyGroupId.Key}})"
                ))
            })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl FlinkJob {
    /// Plans `code` (Flink SQL), with `${group.key}` replaced by the runtime properties.
    pub fn compile(
        code: &str,
        properties: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<FlinkJob, CompileError> {
        let code = substitute(code, properties)?;
        let mut script = script::parse(&code)?;
        for statement in &mut script.statements {
            if let Statement::CreateView { query, at, .. } | Statement::Insert { query, at, .. } =
                statement
            {
                tvf::rewrite_group_windows(query, &mut script.windows)
                    .map_err(|m| ParseError::at(*at, m))?;
                dialect::rewrite(query);
            }
        }
        let functions = Functions::flink();
        let mut planner = Planner::new(&functions, script.windows, script.lookups);
        let mut idle_timeout = None;
        let mut inserts = 0;
        for statement in script.statements {
            match statement {
                Statement::CreateTable(table) => {
                    let at = table.at;
                    planner
                        .create_table(*table)
                        .map_err(|m| ParseError::at(at, m))?;
                }
                Statement::CreateView {
                    name,
                    columns,
                    query,
                    at,
                } => planner
                    .create_view(name, &columns, &query)
                    .map_err(|m| ParseError::at(at, m))?,
                Statement::Insert {
                    table,
                    columns,
                    query,
                    at,
                } => {
                    inserts += 1;
                    planner
                        .insert(&table, &columns, &query)
                        .map_err(|m| ParseError::at(at, m))?;
                }
                Statement::Set { key, value } => {
                    if key == "table.exec.source.idle-timeout" {
                        idle_timeout = Some(
                            connector::parse_duration(&value)
                                .map_err(CompileError::Configuration)?,
                        );
                    }
                }
            }
        }
        if inserts == 0 {
            return Err(CompileError::Configuration(
                "No operators defined in streaming topology: the code has no INSERT INTO".into(),
            ));
        }
        let sources = planner
            .sources
            .drain(..)
            .map(|table| {
                let datagen = match &table.connector.connector {
                    Connector::Datagen {
                        rows_per_second,
                        number_of_rows,
                    } => Some(
                        Datagen::new(
                            table.base_schema.clone(),
                            &table.connector.fields,
                            *rows_per_second,
                            *number_of_rows,
                        )
                        .map_err(CompileError::Configuration)?,
                    ),
                    _ => None,
                };
                Ok(SourceRuntime {
                    idle_timeout: table.connector.idle_timeout.or(idle_timeout),
                    table,
                    partitions: HashMap::new(),
                    datagen,
                    finished: false,
                    watermark: i64::MIN,
                    idle: false,
                })
            })
            .collect::<Result<Vec<_>, CompileError>>()?;
        Ok(FlinkJob {
            nodes: planner
                .nodes
                .drain(..)
                .map(|node| NodeRuntime {
                    node,
                    watermark: i64::MIN,
                    idle: false,
                })
                .collect(),
            sources,
            sinks: planner.sinks.drain(..).map(|s| (s, Vec::new())).collect(),
            metrics: JobMetrics::default(),
        })
    }

    /// The tables the job reads, in the order [`FlinkJob::push`] numbers them.
    pub fn sources(&self) -> Vec<TableInfo> {
        self.sources
            .iter()
            .map(|s| TableInfo {
                name: s.table.name.clone(),
                connector: s.table.connector.connector.clone(),
            })
            .collect()
    }

    /// The tables the job writes, in the order [`FlinkJob::take_outputs`] gives them.
    pub fn sinks(&self) -> Vec<TableInfo> {
        self.sinks
            .iter()
            .map(|(s, _)| TableInfo {
                name: s.name.clone(),
                connector: s.connector.clone(),
            })
            .collect()
    }

    pub fn metrics(&self) -> JobMetrics {
        let mut metrics = self.metrics;
        metrics.late_rows = self
            .nodes
            .iter()
            .map(|n| match &n.node.op {
                Op::Aggregate(a) => a.late,
                Op::Session(s) => s.late,
                Op::WindowJoin(j) => j.late,
                Op::Over(o) => o.late,
                _ => 0,
            })
            .sum();
        metrics
    }

    /// Feeds records read from partition `partition` (a shard) of source `source` at `now_ms`.
    pub fn push(
        &mut self,
        source: usize,
        partition: &str,
        records: &[SourceRecord<'_>],
        now_ms: i64,
    ) -> Result<(), RunError> {
        self.metrics.records_in += records.len() as u64;
        let data: Vec<&[u8]> = records.iter().map(|r| r.data).collect();
        let decoded = self.decode_counted(source, &data)?;
        let kept: Vec<&SourceRecord<'_>> = match &decoded.kept {
            Some(k) => k.iter().map(|i| &records[*i as usize]).collect(),
            None => records.iter().collect(),
        };
        self.ingest(source, partition, decoded.batch, Some(&kept), now_ms)?;
        self.propagate(now_ms)
    }

    /// Feeds one file of the `filesystem` table `source` (the object's bytes, as read from the
    /// S3 store when the run starts): its lines are the format's records. Once every file is
    /// in, [`FlinkJob::finish`] ends the source.
    pub fn load(&mut self, source: usize, file: &[u8], now_ms: i64) -> Result<(), RunError> {
        let table = &self
            .sources
            .get(source)
            .ok_or_else(|| RunError(format!("no source {source}")))?
            .table;
        if !matches!(table.connector.connector, Connector::Filesystem { .. }) {
            return Err(RunError(format!(
                "the table {} is not a 'filesystem' table",
                table.name
            )));
        }
        let records = format::file_records(file, table.connector.format);
        // In batches of the size a stream read gives, so that a large file is not one batch.
        for chunk in records.chunks(LOAD_BATCH) {
            self.metrics.records_in += chunk.len() as u64;
            let decoded = self.decode_counted(source, chunk)?;
            self.ingest(source, "", decoded.batch, None, now_ms)?;
        }
        self.propagate(now_ms)
    }

    /// Decodes a source's records, counting and logging those its format cannot read.
    fn decode_counted(
        &mut self,
        source: usize,
        records: &[&[u8]],
    ) -> Result<format::Decoded, RunError> {
        let decoded = self.decoder(source)?.decode(records).map_err(RunError)?;
        if decoded.failures > 0 {
            self.metrics.parse_failures += decoded.failures;
            tracing::warn!(
                table = %self.sources[source].table.name,
                records = decoded.failures,
                error = decoded.first_error.as_deref().unwrap_or(""),
                "records the table's format cannot read were skipped"
            );
        }
        Ok(decoded)
    }

    /// A source's records decoded by its format into its physical columns (records that do
    /// not decode left out): what [`FlinkJob::push_rows`] takes.
    pub fn decode(&self, source: usize, records: &[&[u8]]) -> Result<RecordBatch, RunError> {
        Ok(self
            .decoder(source)?
            .decode(records)
            .map_err(RunError)?
            .batch)
    }

    /// Feeds rows already in the source's physical columns (a generator's, or
    /// [`FlinkJob::decode`]'s), without record metadata (METADATA columns are NULL).
    pub fn push_rows(
        &mut self,
        source: usize,
        partition: &str,
        rows: RecordBatch,
        now_ms: i64,
    ) -> Result<(), RunError> {
        self.metrics.records_in += rows.num_rows() as u64;
        self.ingest(source, partition, rows, None, now_ms)?;
        self.propagate(now_ms)
    }

    fn decoder(&self, source: usize) -> Result<&format::Decoder, RunError> {
        let runtime = self
            .sources
            .get(source)
            .ok_or_else(|| RunError(format!("no source {source}")))?;
        runtime.table.decoder.as_ref().ok_or_else(|| {
            RunError(format!(
                "the table {} is not read from records",
                runtime.table.name
            ))
        })
    }

    /// A source's rows (physical columns) into the job: every column made, the partition's
    /// watermark moved, the rows delivered.
    fn ingest(
        &mut self,
        source: usize,
        partition: &str,
        physical: RecordBatch,
        records: Option<&[&SourceRecord<'_>]>,
        now_ms: i64,
    ) -> Result<(), RunError> {
        let runtime = self
            .sources
            .get_mut(source)
            .ok_or_else(|| RunError(format!("no source {source}")))?;
        let batch = full_batch(
            &runtime.table,
            physical,
            records.map(|r| (partition, r)),
            now_ms,
        )?;
        let watermark = batch_watermark(&runtime.table, &batch, now_ms)?;
        let entry = runtime
            .partitions
            .entry(partition.to_string())
            .or_insert((i64::MIN, now_ms));
        entry.0 = entry.0.max(watermark);
        entry.1 = now_ms;
        let node = runtime.table.node;
        self.deliver(node, batch)
    }

    /// Lets time pass: processing-time watermarks move, idle partitions stop holding the
    /// watermark back, datagen tables make their rows.
    pub fn advance(&mut self, now_ms: i64) -> Result<(), RunError> {
        for i in 0..self.sources.len() {
            while let Some(physical) = self.sources[i]
                .datagen
                .as_mut()
                .and_then(|g| g.generate(now_ms, 10_000))
            {
                self.metrics.records_in += physical.num_rows() as u64;
                self.ingest(i, "", physical, None, now_ms)?;
            }
            if self.sources[i].datagen.as_ref().is_some_and(Datagen::done) {
                self.sources[i].finished = true;
            }
        }
        self.propagate(now_ms)
    }

    /// Whether every source is bounded and has ended (datagen's number-of-rows made).
    pub fn finished(&self) -> bool {
        self.sources.iter().all(|s| s.finished)
    }

    /// Whether source `source` has ended: a bounded one that finished, in this run or (a
    /// `filesystem` table read whole) before the snapshot it was restored from, which a run
    /// therefore does not load again. A lookup join's table is never restored as finished: it
    /// is no state, and loaded at every start.
    pub fn is_finished(&self, source: usize) -> bool {
        self.sources.get(source).is_some_and(|s| s.finished)
    }

    /// A bounded source ended: its watermark goes to the end of time, firing every window.
    pub fn finish(&mut self, source: usize, now_ms: i64) -> Result<(), RunError> {
        if let Some(s) = self.sources.get_mut(source) {
            s.finished = true;
        }
        self.propagate(now_ms)
    }

    /// The records each sink has to write (by [`FlinkJob::sinks`] index), taken.
    pub fn take_outputs(&mut self) -> Vec<Vec<SinkRecord>> {
        self.sinks
            .iter_mut()
            .map(|(_, records)| std::mem::take(records))
            .collect()
    }

    fn propagate(&mut self, now_ms: i64) -> Result<(), RunError> {
        for s in &mut self.sources {
            if s.finished {
                s.watermark = i64::MAX;
                s.idle = false;
                continue;
            }
            if s.table.proctime {
                s.watermark = s.watermark.max(now_ms);
                continue;
            }
            let timeout = s.idle_timeout;
            let active: Vec<i64> = s
                .partitions
                .values()
                .filter(|(_, last)| timeout.is_none_or(|t| now_ms - last < t))
                .map(|(w, _)| *w)
                .collect();
            s.idle = !s.partitions.is_empty() && active.is_empty();
            if let Some(w) = active.iter().min() {
                s.watermark = s.watermark.max(*w);
            }
        }
        for i in 0..self.nodes.len() {
            let (watermark, idle) = match &self.nodes[i].node.op {
                Op::Source => {
                    let s = self
                        .sources
                        .iter()
                        .find(|s| s.table.node == i)
                        .ok_or_else(|| RunError("a source node without its table".into()))?;
                    (s.watermark, s.idle)
                }
                _ => {
                    let node = &self.nodes[i].node;
                    // A lookup join's time is its stream's: its table is read whole at the
                    // start, whatever the time.
                    let inputs = match node.op {
                        Op::Lookup(_) => &node.inputs[..1],
                        _ => &node.inputs[..],
                    };
                    let inputs: Vec<(i64, bool)> = inputs
                        .iter()
                        .map(|n| (self.nodes[*n].watermark, self.nodes[*n].idle))
                        .collect();
                    let active = inputs
                        .iter()
                        .filter(|(_, idle)| !idle)
                        .map(|(w, _)| *w)
                        .min();
                    match active {
                        Some(w) => (w, false),
                        None => (self.nodes[i].watermark, true),
                    }
                }
            };
            self.nodes[i].idle = idle;
            if watermark <= self.nodes[i].watermark {
                continue;
            }
            let mut out = Vec::new();
            let result = match &mut self.nodes[i].node.op {
                Op::Aggregate(a) => a.on_watermark(watermark, &mut out),
                Op::Session(s) => s.on_watermark(watermark, &mut out),
                Op::WindowJoin(j) => j.on_watermark(watermark, &mut out),
                Op::Join(j) => {
                    j.on_watermark(watermark);
                    Ok(())
                }
                Op::Over(o) => o.on_watermark(watermark, &mut out),
                _ => Ok(()),
            };
            self.nodes[i].watermark = watermark;
            result.map_err(|e| RunError(e.to_string()))?;
            for batch in out {
                self.deliver(i, batch)?;
            }
        }
        Ok(())
    }

    /// Hands `batch`, produced by `node`, to its consumers.
    fn deliver(&mut self, node: usize, batch: RecordBatch) -> Result<(), RunError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for c in 0..self.nodes[node].node.consumers.len() {
            let (consumer, side) = self.nodes[node].node.consumers[c];
            let watermark = self.nodes[consumer].watermark;
            let mut out = Vec::new();
            let result = match &mut self.nodes[consumer].node.op {
                Op::Source => Ok(()),
                Op::Map {
                    filter,
                    exprs,
                    schema,
                } => map(filter.as_ref(), exprs.as_deref(), schema, &batch).map(|b| out.push(b)),
                Op::Assign(a) => a.process(&batch).map(|b| out.push(b)),
                Op::Aggregate(a) => a.process(&batch, watermark),
                Op::Session(s) => s.process(&batch, watermark),
                Op::WindowJoin(j) => j.process(side, &batch, watermark),
                Op::Join(j) => j.process(side, &batch, &mut out),
                Op::Lookup(j) => j.process(side, &batch, &mut out),
                Op::Over(o) => o.process(&batch, watermark),
                Op::Union => {
                    out.push(batch.clone());
                    Ok(())
                }
                Op::Sink(s) => {
                    let s = *s;
                    self.write(s, &batch)?;
                    Ok(())
                }
            };
            if let Err(error) = result {
                // Flink would fail the job and restart it from its last checkpoint, meeting
                // the same rows again; the batch is dropped instead, counted and logged.
                self.metrics.failed_batches += 1;
                tracing::warn!(operator = %self.nodes[consumer].node.id, %error, rows = batch.num_rows(), "an operator failed on a batch of rows, which was dropped");
                continue;
            }
            for produced in out {
                self.deliver(consumer, produced)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, sink: usize, batch: &RecordBatch) -> Result<(), RunError> {
        let (table, records) = &mut self.sinks[sink];
        let mut encoded = Vec::new();
        match &table.connector {
            Connector::Blackhole => {}
            Connector::Print { prefix } => {
                for row in 0..batch.num_rows() {
                    let values: Vec<String> = batch
                        .columns()
                        .iter()
                        .map(|c| {
                            datafusion_common::arrow::util::display::array_value_to_string(c, row)
                                .unwrap_or_default()
                        })
                        .collect();
                    tracing::info!(target: "freshet::print", "{prefix}+I[{}]", values.join(", "));
                }
            }
            _ => format::encode(batch, table.format, &mut encoded).map_err(RunError)?,
        }
        self.metrics.records_out += batch.num_rows() as u64;
        if encoded.is_empty() {
            return Ok(());
        }
        let keys: Option<Vec<String>> = if table.partition_key.is_empty() {
            None
        } else {
            let columns: Vec<&ArrayRef> = table
                .partition_key
                .iter()
                .map(|i| batch.column(*i))
                .collect();
            Some(
                (0..batch.num_rows())
                    .map(|row| {
                        columns
                            .iter()
                            .map(|c| {
                                datafusion_common::arrow::util::display::array_value_to_string(
                                    c, row,
                                )
                                .unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect(),
            )
        };
        for (i, data) in encoded.into_iter().enumerate() {
            records.push(SinkRecord {
                data,
                partition_key: keys.as_ref().map(|k| k[i].clone()),
            });
        }
        Ok(())
    }

    /// The state a restart needs: watermarks and every operator's open windows and rows.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, RunError> {
        let error = |e: datafusion_common::DataFusionError| RunError(e.to_string());
        let mut operators = Vec::new();
        for runtime in &mut self.nodes {
            let parts: Vec<(usize, RecordBatch)> = match &mut runtime.node.op {
                Op::Aggregate(a) => a
                    .snapshot()
                    .map_err(error)?
                    .into_iter()
                    .map(|b| (0, b))
                    .collect(),
                Op::Session(s) => s.snapshot().map_err(error)?,
                Op::WindowJoin(j) => j.snapshot().map_err(error)?,
                Op::Join(j) => j.snapshot().map_err(error)?,
                Op::Over(o) => o.snapshot().map_err(error)?,
                _ => continue,
            };
            let mut states = Vec::new();
            for (part, batch) in parts {
                let bytes = ipc_bytes(&batch).map_err(error)?;
                states.push(PartState {
                    part,
                    state: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
            }
            operators.push(OperatorState {
                id: runtime.node.id.clone(),
                watermark: runtime.watermark,
                parts: states,
            });
        }
        let sources = self
            .sources
            .iter()
            .filter(|s| !s.table.lookup)
            .map(|s| SourceState {
                name: s.table.name.clone(),
                partitions: s
                    .partitions
                    .iter()
                    .map(|(k, (w, _))| (k.clone(), *w))
                    .collect(),
                finished: s.finished
                    && matches!(s.table.connector.connector, Connector::Filesystem { .. }),
            })
            .collect();
        serde_json::to_vec(&JobSnapshot { operators, sources }).map_err(|e| RunError(e.to_string()))
    }

    /// Takes back a snapshot's state; operators whose state finds no place are reported.
    pub fn restore(&mut self, snapshot: &[u8], now_ms: i64) -> Result<RestoreReport, RunError> {
        let snapshot: JobSnapshot = serde_json::from_slice(snapshot)
            .map_err(|e| RunError(format!("unreadable snapshot: {e}")))?;
        let mut report = RestoreReport::default();
        for state in snapshot.operators {
            let Some(runtime) = self.nodes.iter_mut().find(|n| n.node.id == state.id) else {
                report.unmatched.push(state.id);
                continue;
            };
            runtime.watermark = runtime.watermark.max(state.watermark);
            let watermark = runtime.watermark;
            let mut fits = true;
            for part in state.parts {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(part.state)
                    .map_err(|e| RunError(format!("unreadable snapshot: {e}")))?;
                for batch in ipc_batches(&bytes).map_err(|e| RunError(e.to_string()))? {
                    let restored = match &mut runtime.node.op {
                        Op::Aggregate(a) => a.restore(&batch, watermark),
                        Op::Session(s) => s.restore(part.part, &batch),
                        Op::WindowJoin(j) => j.restore(part.part, &batch),
                        Op::Join(j) => j.restore(part.part, &batch),
                        Op::Over(o) => o.restore(part.part, &batch),
                        _ => Ok(()),
                    };
                    if let Err(error) = restored {
                        tracing::warn!(operator = %state.id, %error, "an operator's snapshot state does not fit it");
                        fits = false;
                    }
                }
            }
            if !fits {
                report.unmatched.push(state.id);
            }
        }
        for state in snapshot.sources {
            if let Some(s) = self
                .sources
                .iter_mut()
                .find(|s| !s.table.lookup && s.table.name == state.name)
            {
                for (partition, watermark) in state.partitions {
                    s.partitions.insert(partition, (watermark, now_ms));
                }
                // Its rows went through before the snapshot (and are in its operators' state),
                // as Flink's file source restores its finished splits.
                s.finished |= state.finished
                    && matches!(s.table.connector.connector, Connector::Filesystem { .. });
            }
        }
        Ok(report)
    }
}

#[derive(Serialize, Deserialize)]
struct JobSnapshot {
    operators: Vec<OperatorState>,
    sources: Vec<SourceState>,
}

#[derive(Serialize, Deserialize)]
struct OperatorState {
    id: String,
    watermark: i64,
    parts: Vec<PartState>,
}

#[derive(Serialize, Deserialize)]
struct PartState {
    part: usize,
    /// Arrow IPC stream, base64.
    state: String,
}

#[derive(Serialize, Deserialize)]
struct SourceState {
    name: String,
    partitions: BTreeMap<String, i64>,
    /// A `filesystem` table read to its end (absent in snapshots taken before there were any).
    #[serde(default)]
    finished: bool,
}

fn map(
    filter: Option<&Arc<dyn datafusion_physical_expr::PhysicalExpr>>,
    exprs: Option<&[Arc<dyn datafusion_physical_expr::PhysicalExpr>]>,
    schema: &datafusion_common::arrow::datatypes::SchemaRef,
    batch: &RecordBatch,
) -> datafusion_common::Result<RecordBatch> {
    let batch = match filter {
        Some(f) => {
            // NULL counts as false.
            let mask = eval(f, batch)?;
            filter_record_batch(
                batch,
                datafusion_common::arrow::array::AsArray::as_boolean(&mask),
            )?
        }
        None => batch.clone(),
    };
    let Some(exprs) = exprs else {
        return Ok(RecordBatch::try_new(
            schema.clone(),
            batch.columns().to_vec(),
        )?);
    };
    let columns = exprs
        .iter()
        .map(|e| eval(e, &batch))
        .collect::<datafusion_common::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A source's rows with every column: the format's, the metadata's, the computed ones.
fn full_batch(
    table: &SourceTable,
    physical: RecordBatch,
    records: Option<(&str, &[&SourceRecord<'_>])>,
    now_ms: i64,
) -> Result<RecordBatch, RunError> {
    let n = physical.num_rows();
    let metadata = |key: MetadataKey| -> ArrayRef {
        let Some((partition, records)) = records else {
            return datafusion_common::arrow::array::new_null_array(
                &datafusion_common::arrow::datatypes::DataType::Utf8,
                n,
            );
        };
        match key {
            MetadataKey::Timestamp => Arc::new(
                TimestampMillisecondArray::from_iter_values(records.iter().map(|r| r.arrival_ms))
                    .with_timezone("UTC"),
            ),
            MetadataKey::ShardId => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                partition, n,
            ))),
            MetadataKey::SequenceNumber => Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.sequence_number),
            )),
            MetadataKey::PartitionKey => Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.partition_key),
            )),
        }
    };
    let mut base = Vec::new();
    for column in &table.columns {
        match column {
            SourceColumn::Physical(i) => base.push(physical.column(*i).clone()),
            SourceColumn::Metadata(key) => base.push(metadata(*key)),
            _ => {}
        }
    }
    let base_batch = RecordBatch::try_new(
        table.base_schema.clone(),
        cast_to(&table.base_schema, base)?,
    )
    .map_err(|e| RunError(e.to_string()))?;
    let mut columns = Vec::new();
    let mut at = 0;
    for column in &table.columns {
        match column {
            SourceColumn::Physical(_) | SourceColumn::Metadata(_) => {
                columns.push(base_batch.column(at).clone());
                at += 1;
            }
            SourceColumn::Computed(expr) => {
                columns.push(eval(expr, &base_batch).map_err(|e| RunError(e.to_string()))?)
            }
            SourceColumn::Proctime => {
                columns.push(Arc::new(TimestampMillisecondArray::from_value(now_ms, n)))
            }
        }
    }
    RecordBatch::try_new(table.schema.clone(), cast_to(&table.schema, columns)?)
        .map_err(|e| RunError(e.to_string()))
}

/// Columns cast to the declared types where the format or expression gave another (a
/// metadata TIMESTAMP_LTZ declared as TIMESTAMP, a computed column's exact type).
fn cast_to(
    schema: &datafusion_common::arrow::datatypes::SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<Vec<ArrayRef>, RunError> {
    columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                datafusion_common::arrow::compute::cast(&c, f.data_type())
                    .map_err(|e| RunError(e.to_string()))
            }
        })
        .collect()
}

/// The highest watermark a batch's rows give (Flink's bounded-out-of-orderness generator).
fn batch_watermark(table: &SourceTable, batch: &RecordBatch, now_ms: i64) -> Result<i64, RunError> {
    if table.proctime {
        return Ok(now_ms);
    }
    let Some(expr) = &table.watermark else {
        return Ok(i64::MIN);
    };
    let values = eval(expr, batch).map_err(|e| RunError(e.to_string()))?;
    let values = datafusion_common::arrow::compute::cast(
        &values,
        &datafusion_common::arrow::datatypes::DataType::Int64,
    )
    .map_err(|e| RunError(e.to_string()))?;
    let values = datafusion_common::arrow::array::AsArray::as_primitive::<
        datafusion_common::arrow::datatypes::Int64Type,
    >(&values);
    Ok(datafusion_common::arrow::compute::max(values).unwrap_or(i64::MIN))
}

#[cfg(test)]
mod tests;
