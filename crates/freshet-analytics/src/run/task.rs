//! One running application: read, run, write, checkpoint, until told to stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use freshet_analytics_engine as engine;
use freshet_analytics_engine::flink::{
    Connector, FlinkJob, SinkRecord, SourceRecord, StartPosition,
};
use freshet_analytics_engine::{Application, InputRecord};
use freshet_firehose::DeliveryReader;
use freshet_streams::{StartingPosition as ReaderStart, StreamReader};
use tokio::sync::watch;

use super::Services;
use super::checkpoint::{self, CheckpointDoc};
use super::metrics::AppMetrics;
use super::sink::{self, OutputRecord};
use crate::launch::{FlinkRun, LaunchError, RunSpec, Source, StartingPosition};

/// Records per shard and bytes per read: batches large enough for the engine's vectorised
/// operators, small enough to keep output latency in milliseconds.
const READ_RECORDS: usize = 10_000;
const READ_BYTES: usize = 4 * 1024 * 1024;

/// Where an input's records come from.
enum InputReader {
    /// A Kinesis stream's shards.
    Stream(StreamReader),
    /// A delivery stream's records: its own log (DirectPut), or its source stream's shards.
    Delivery(DeliveryReader),
}

/// Records read from one partition of an input (a shard, or a delivery stream's log), and the
/// position after them as the checkpoint stores it.
struct PartitionRead {
    partition: String,
    records: Vec<ReadRecord>,
    position: String,
}

/// A record as read, with what Flink tables can read of its metadata.
struct ReadRecord {
    data: Bytes,
    arrival_ms: i64,
    partition_key: String,
    sequence_number: String,
}

impl InputReader {
    async fn read(&mut self) -> Result<Vec<PartitionRead>, String> {
        Ok(match self {
            InputReader::Stream(reader) => reader
                .read(READ_RECORDS, READ_BYTES)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|shard| PartitionRead {
                    partition: shard.shard_id,
                    records: shard
                        .records
                        .into_iter()
                        .map(|r| ReadRecord {
                            arrival_ms: r.approximate_arrival_timestamp.as_millis(),
                            data: r.data.0,
                            partition_key: r.partition_key.to_string(),
                            sequence_number: r.sequence_number,
                        })
                        .collect(),
                    position: checkpoint::shard_position(shard.checkpoint),
                })
                .collect(),
            InputReader::Delivery(reader) => reader
                .read(READ_RECORDS, READ_BYTES)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|p| PartitionRead {
                    partition: p.partition,
                    records: p
                        .records
                        .into_iter()
                        .map(|r| ReadRecord {
                            data: r.data,
                            arrival_ms: r.arrival_ms,
                            partition_key: String::new(),
                            sequence_number: String::new(),
                        })
                        .collect(),
                    position: p.position,
                })
                .collect(),
        })
    }

    /// Where the reader resumes in each partition it has placed, as the checkpoint stores it.
    /// A reader places its partitions when it opens (NOW is a shard's or a log's end as of
    /// then), so this holds them before the first read.
    fn positions(&self) -> BTreeMap<String, String> {
        match self {
            InputReader::Stream(reader) => reader
                .positions()
                .into_iter()
                .map(|(shard, position)| (shard, checkpoint::shard_position(position)))
                .collect(),
            InputReader::Delivery(reader) => reader.positions(),
        }
    }

    /// Resolves when new records may be there.
    async fn wait(&mut self) {
        match self {
            InputReader::Stream(reader) => reader.wait().await,
            InputReader::Delivery(reader) => reader.wait().await,
        }
    }
}

/// An input being read: its in-application streams are engine instances `base ..
/// base + parallelism`, and each partition feeds one of them.
struct InputRun {
    id: String,
    reader: InputReader,
    base: usize,
    parallelism: usize,
}

impl InputRun {
    /// A partition always feeds the same instance: a shard's index modulo the parallelism. A
    /// DirectPut delivery stream is one partition (its log), so it feeds the first instance,
    /// as a one-shard stream does.
    fn instance(&self, partition: &str) -> usize {
        let index = freshet_streams::arn::shard_index(partition).unwrap_or(0) as usize;
        self.base + index % self.parallelism
    }
}

/// What runs the records: a SQL application, or a Flink SQL job.
enum Engine {
    Sql(Application),
    Flink(Box<FlinkJob>),
}

impl Engine {
    fn push(
        &mut self,
        instance: usize,
        partition: &str,
        records: &[ReadRecord],
        now: i64,
    ) -> Result<(), String> {
        match self {
            Engine::Sql(app) => {
                let records: Vec<InputRecord<'_>> = records
                    .iter()
                    .map(|r| InputRecord {
                        data: &r.data,
                        arrival_ms: r.arrival_ms,
                    })
                    .collect();
                app.push(instance, &records, now)
            }
            Engine::Flink(job) => {
                let records: Vec<SourceRecord<'_>> = records
                    .iter()
                    .map(|r| SourceRecord {
                        data: &r.data,
                        arrival_ms: r.arrival_ms,
                        partition_key: &r.partition_key,
                        sequence_number: &r.sequence_number,
                    })
                    .collect();
                job.push(instance, partition, &records, now)
            }
        }
        .map_err(|e| e.to_string())
    }

    /// Loads `filesystem` tables' files (by source), each table then ended.
    fn load(&mut self, files: Vec<(usize, Vec<Vec<u8>>)>, now: i64) -> Result<(), String> {
        let Engine::Flink(job) = self else {
            return Ok(());
        };
        for (source, table_files) in files {
            for file in &table_files {
                job.load(source, file, now).map_err(|e| e.to_string())?;
            }
            job.finish(source, now).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn advance(&mut self, now: i64) -> Result<(), String> {
        match self {
            Engine::Sql(app) => app.advance(now),
            Engine::Flink(job) => job.advance(now),
        }
        .map_err(|e| e.to_string())
    }

    /// Each output's records, in the order of the task's outputs.
    fn take_outputs(&mut self) -> Vec<Vec<OutputRecord>> {
        match self {
            Engine::Sql(app) => app
                .take_outputs()
                .into_iter()
                .map(|records| {
                    records
                        .into_iter()
                        .map(|data| OutputRecord {
                            data: Bytes::from(data),
                            partition_key: None,
                        })
                        .collect()
                })
                .collect(),
            Engine::Flink(job) => job
                .take_outputs()
                .into_iter()
                .map(|records| {
                    records
                        .into_iter()
                        .map(
                            |SinkRecord {
                                 data,
                                 partition_key,
                             }| OutputRecord {
                                data: Bytes::from(data),
                                partition_key,
                            },
                        )
                        .collect()
                })
                .collect(),
        }
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        match self {
            Engine::Sql(app) => app.snapshot(),
            Engine::Flink(job) => job.snapshot(),
        }
        .map_err(|e| e.to_string())
    }
}

/// Why a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    Running,
    /// StopApplication (or a restart for an update): a Flink application's next start takes
    /// its state from the snapshot its run configuration names.
    Stop,
    /// The server is shutting down: the next start resumes from the last checkpoint.
    Shutdown,
}

/// A request to the running task: commit a checkpoint now and answer its document.
pub(crate) type SnapshotRequest = tokio::sync::oneshot::Sender<Result<String, String>>;

pub(crate) struct AppTask {
    services: Services,
    name: String,
    uid: u64,
    app: Engine,
    /// Per `filesystem` source table, its files as read at the start; the first step loads
    /// them, so that the first checkpoint (taken before it) holds none of their rows, and
    /// the one that marks them read comes after their output is written.
    files: Vec<(usize, Vec<Vec<u8>>)>,
    inputs: Vec<InputRun>,
    /// Per engine output, where its records go (None: the engine writes them itself, as a
    /// Flink `blackhole` or `print` table).
    outputs: Vec<Option<Source>>,
    doc: CheckpointDoc,
    partition_seed: u64,
    /// For a Flink application, its checkpoint interval (None inside: checkpointing off);
    /// None: a SQL application, which checkpoints on the runner's interval.
    flink_checkpoints: Option<Option<std::time::Duration>>,
    /// Whether anything was read or written since the last checkpoint: an idle application
    /// does not rewrite its state (an anomaly model's is a megabyte) every interval.
    changed: bool,
    metrics: Arc<AppMetrics>,
}

fn invalid(message: impl Into<String>) -> LaunchError {
    LaunchError::InvalidConfiguration(message.into())
}

/// An object of the S3 store Firehose delivers to; None when there is none.
async fn read_object(
    services: &Services,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, LaunchError> {
    services
        .firehose
        .get_object(bucket, key)
        .await
        .map_err(|e| invalid(format!("cannot read s3://{bucket}/{key}: {e}")))
}

/// The files of a `filesystem` table's path in that store, as Flink reads a path: the object
/// at the key, else every object under it taken as a directory, in key order, leaving out
/// hidden ones (a name starting with `.` or `_`, as Flink's file source does). A path with
/// nothing there fails the start, as Flink's job fails on a path that does not exist.
async fn read_path(
    services: &Services,
    table: &str,
    bucket: &str,
    key: &str,
) -> Result<Vec<Vec<u8>>, LaunchError> {
    let directory = key.trim_end_matches('/');
    if !key.is_empty()
        && !key.ends_with('/')
        && let Some(data) = read_object(services, bucket, key).await?
    {
        return Ok(vec![data]);
    }
    let keys = services
        .firehose
        .list_objects(bucket, directory)
        .await
        .map_err(|e| invalid(format!("cannot list s3://{bucket}/{key}: {e}")))?;
    let mut files = Vec::new();
    for found in keys {
        let name = found.strip_prefix(directory).unwrap_or(&found);
        if name
            .split('/')
            .any(|part| part.starts_with('.') || part.starts_with('_'))
        {
            continue;
        }
        // One deleted since the listing is not there to read.
        if let Some(data) = read_object(services, bucket, &found).await? {
            files.push(data);
        }
    }
    if files.is_empty() {
        return Err(invalid(format!(
            "the table {table} reads s3://{bucket}/{key}, where there is no object (nor any under it)"
        )));
    }
    tracing::info!(
        table,
        bucket,
        key,
        files = files.len(),
        "filesystem table read"
    );
    Ok(files)
}

impl AppTask {
    /// Compiles the code against the configuration, restores the last checkpoint when every
    /// input resumes from LAST_STOPPED_POINT, and opens a reader per input.
    pub(crate) async fn prepare(
        services: Services,
        spec: RunSpec,
        metrics: Arc<AppMetrics>,
    ) -> Result<AppTask, LaunchError> {
        if let Some(flink) = &spec.flink {
            return Self::prepare_flink(services, &spec, flink, metrics).await;
        }
        let inputs: Vec<engine::InputSpec> = spec
            .inputs
            .iter()
            .map(|i| engine::InputSpec {
                name_prefix: i.name_prefix.clone(),
                parallelism: i.parallelism.max(1) as usize,
                schema: i.schema.clone(),
            })
            .collect();
        let outputs: Vec<engine::OutputSpec> = spec
            .outputs
            .iter()
            .map(|o| engine::OutputSpec {
                name: o.name.clone(),
                format: o.format,
            })
            .collect();
        let mut references = Vec::new();
        for reference in &spec.references {
            let data = read_object(&services, &reference.bucket, &reference.file_key)
                .await?
                .ok_or_else(|| {
                    invalid(format!(
                        "the reference data object s3://{}/{} does not exist",
                        reference.bucket, reference.file_key
                    ))
                })?;
            references.push(engine::ReferenceSpec {
                table_name: reference.table_name.clone(),
                schema: reference.schema.clone(),
                data,
            });
        }
        let mut app = Application::compile(&spec.code, &inputs, &references, &outputs)
            .map_err(|e| invalid(e.to_string()))?;

        let stored = services
            .catalog
            .load_applications()
            .await
            .map_err(|e| invalid(format!("cannot read the application's checkpoint: {e}")))?
            .into_iter()
            .find(|row| row.uid == spec.app_uid)
            .and_then(|row| row.checkpoint);
        let start_of = |id: &str| {
            spec.starting
                .iter()
                .find(|(input, _)| input == id)
                .map(|(_, p)| *p)
                .unwrap_or(StartingPosition::Now)
        };
        let resume = !spec.inputs.is_empty()
            && spec
                .inputs
                .iter()
                .all(|i| start_of(&i.id) == StartingPosition::LastStoppedPoint);
        let mut doc = match stored {
            Some(text) if resume => CheckpointDoc::parse(&text).map_err(invalid)?,
            _ => CheckpointDoc::default(),
        };
        if let Some(state) = &doc.state {
            app.restore(state.as_bytes())
                .map_err(|e| invalid(e.to_string()))?;
        }

        let holder = super::delivery_reader(spec.app_uid);
        let mut delivery_streams = Vec::new();
        let mut readers = Vec::new();
        let mut base = 0;
        for input in &spec.inputs {
            let positions = doc.input_positions(&input.id);
            let start = match start_of(&input.id) {
                StartingPosition::TrimHorizon => ReaderStart::TrimHorizon,
                StartingPosition::Now => ReaderStart::Latest,
                // Shards with no position yet (new ones) are read from their start: nothing of
                // theirs was read before.
                StartingPosition::LastStoppedPoint if !positions.is_empty() => {
                    ReaderStart::TrimHorizon
                }
                StartingPosition::LastStoppedPoint => ReaderStart::Latest,
            };
            let reader = match &input.source {
                Source::KinesisStream { name } => InputReader::Stream(
                    services
                        .streams
                        .reader(name, start, checkpoint::shard_checkpoints(positions))
                        .await
                        .map_err(|e| invalid(e.to_string()))?,
                ),
                Source::DeliveryStream { name } => {
                    delivery_streams.push(name.clone());
                    InputReader::Delivery(
                        services
                            .firehose
                            .reader(name, Some(&holder), start, positions)
                            .await
                            .map_err(|e| invalid(e.to_string()))?,
                    )
                }
            };
            // Recorded now, a stop before the first record arrives resumes here, not at the
            // next start's NOW (which would skip what was put in between): an application that
            // started at NOW has read up to its start, as LAST_STOPPED_POINT takes it on AWS.
            for (partition, position) in reader.positions() {
                doc.set_position(&input.id, partition, position);
            }
            let parallelism = input.parallelism.max(1) as usize;
            readers.push(InputRun {
                id: input.id.clone(),
                reader,
                base,
                parallelism,
            });
            base += parallelism;
        }
        // A hold left on a delivery stream this application no longer reads (its input was
        // changed) would keep that stream's records for a day for nothing.
        if let Err(error) = services
            .firehose
            .release_reader(&holder, &delivery_streams)
            .await
        {
            tracing::warn!(application = %spec.app_name, %error, "cannot release delivery stream holds");
        }
        Ok(AppTask {
            metrics,
            services,
            name: spec.app_name,
            uid: spec.app_uid,
            app: Engine::Sql(app),
            files: Vec::new(),
            inputs: readers,
            outputs: spec
                .outputs
                .into_iter()
                .map(|o| Some(o.destination))
                .collect(),
            doc,
            partition_seed: 0,
            flink_checkpoints: None,
            changed: false,
        })
    }

    /// Plans the Flink SQL, takes its state from where this run starts (the checkpoint of a
    /// run the server's restart interrupted, else the snapshot the start names, else none),
    /// opens a reader per Kinesis source table, and reads the files of each `filesystem`
    /// table (a lookup join's at every start, a bounded source's unless the state it starts
    /// from has read it whole).
    async fn prepare_flink(
        services: Services,
        spec: &RunSpec,
        flink: &FlinkRun,
        metrics: Arc<AppMetrics>,
    ) -> Result<AppTask, LaunchError> {
        let mut job =
            FlinkJob::compile(&spec.code, &flink.properties).map_err(|e| invalid(e.to_string()))?;
        let stored = services
            .catalog
            .load_applications()
            .await
            .map_err(|e| invalid(format!("cannot read the application's checkpoint: {e}")))?
            .into_iter()
            .find(|row| row.uid == spec.app_uid)
            .and_then(|row| row.checkpoint)
            .map(|text| CheckpointDoc::parse(&text))
            .transpose()
            .map_err(invalid)?;
        let doc = match (stored, &flink.restore_from) {
            (Some(doc), _) if !doc.stopped => doc,
            (_, Some(name)) => {
                let text = services
                    .catalog
                    .get_application_snapshot(spec.app_uid, name)
                    .await
                    .map_err(|e| invalid(format!("cannot read snapshot {name}: {e}")))?
                    .ok_or_else(|| invalid(format!("the snapshot {name} does not exist")))?;
                CheckpointDoc::parse(&text).map_err(invalid)?
            }
            (_, None) => CheckpointDoc::default(),
        };
        let mut doc = CheckpointDoc {
            stopped: false,
            ..doc
        };
        if let Some(state) = &doc.state {
            let report = job
                .restore(state.as_bytes(), services.clock.now_ms())
                .map_err(|e| invalid(e.to_string()))?;
            if let Some(operator) = report.unmatched.first()
                && !flink.allow_non_restored_state
            {
                return Err(invalid(format!(
                    "Failed to rollback to checkpoint/savepoint. Cannot map checkpoint/savepoint state for operator {operator} to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI (AllowNonRestoredState in FlinkRunConfiguration)."
                )));
            }
        }
        let mut files = Vec::new();
        let mut readers = Vec::new();
        for (index, table) in job.sources().into_iter().enumerate() {
            if let Connector::Filesystem { bucket, key } = &table.connector
                && !job.is_finished(index)
            {
                files.push((index, read_path(&services, &table.name, bucket, key).await?));
            }
            let Connector::Kinesis { stream, start, .. } = &table.connector else {
                continue;
            };
            let positions = doc.input_positions(&table.name);
            let start = if !positions.is_empty() {
                // Shards without a position are new since: read from their start.
                ReaderStart::TrimHorizon
            } else {
                match start {
                    StartPosition::Latest => ReaderStart::Latest,
                    StartPosition::TrimHorizon => ReaderStart::TrimHorizon,
                    StartPosition::AtTimestamp(ms) => ReaderStart::AtTimestamp(*ms),
                }
            };
            let reader = services
                .streams
                .reader(stream, start, checkpoint::shard_checkpoints(positions))
                .await
                .map_err(|e| invalid(format!("the table {}: {e}", table.name)))?;
            for (partition, position) in reader.positions() {
                doc.set_position(&table.name, partition, checkpoint::shard_position(position));
            }
            readers.push(InputRun {
                id: table.name,
                reader: InputReader::Stream(reader),
                base: index,
                parallelism: 1,
            });
        }
        let mut outputs = Vec::new();
        for table in job.sinks() {
            outputs.push(match table.connector {
                Connector::Kinesis { stream, .. } => {
                    if !services.streams.contains(&stream) {
                        return Err(invalid(format!(
                            "the table {} writes the stream {stream}, which does not exist",
                            table.name
                        )));
                    }
                    Some(Source::KinesisStream { name: stream })
                }
                Connector::Firehose { delivery_stream } => {
                    if !services.firehose.contains(&delivery_stream) {
                        return Err(invalid(format!(
                            "the table {} writes the delivery stream {delivery_stream}, which does not exist",
                            table.name
                        )));
                    }
                    Some(Source::DeliveryStream {
                        name: delivery_stream,
                    })
                }
                _ => None,
            });
        }
        Ok(AppTask {
            metrics,
            services,
            name: spec.app_name.clone(),
            uid: spec.app_uid,
            app: Engine::Flink(Box::new(job)),
            files,
            inputs: readers,
            outputs,
            doc,
            partition_seed: 0,
            flink_checkpoints: Some(flink.checkpoint_interval),
            changed: false,
        })
    }

    /// Runs until `stop` says why to end, then commits a last checkpoint; answers snapshot
    /// requests on the way.
    pub(crate) async fn run(
        mut self,
        mut stop: watch::Receiver<Halt>,
        mut requests: tokio::sync::mpsc::Receiver<SnapshotRequest>,
    ) {
        let clock = self.services.clock.clone();
        // A Flink application checkpoints as its CheckpointConfiguration says (Managed Flink's
        // default: every minute; its state can be large); a SQL application every interval.
        let interval = match &self.flink_checkpoints {
            Some(flink) => *flink,
            None => Some(self.services.settings.checkpoint_interval),
        };
        // The positions the inputs start from, committed before anything is read: a crash
        // before the first interval resumes from them too, not from a NOW at the restart (nor
        // from an earlier run's checkpoint, which a start at NOW or TRIM_HORIZON replaced).
        let _ = self.checkpoint().await;
        let mut last_checkpoint = clock.elapsed();
        let mut failing: Option<String> = None;
        loop {
            if *stop.borrow() != Halt::Running {
                break;
            }
            while let Ok(request) = requests.try_recv() {
                let _ = request.send(self.checkpoint().await);
            }
            let read = match self.step(&stop).await {
                Ok(read) => {
                    failing = None;
                    read
                }
                Err(e) => {
                    // A stream deleted under the application, say: it waits a tick and tries
                    // again rather than ending, as a KDA application keeps RUNNING (one log
                    // line per new error, not per try; a deleted stream's reader has nothing
                    // to wait on).
                    if failing.as_deref() != Some(e.as_str()) {
                        tracing::warn!(application = %self.name, error = %e, "application step failed; retrying every tick");
                        self.metrics.errors.record(crate::AppError {
                            at_ms: clock.now_ms(),
                            message: e.clone(),
                        });
                        failing = Some(e);
                    }
                    tokio::select! {
                        _ = clock.sleep(self.services.settings.tick) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            if self.changed
                && interval.is_some_and(|i| clock.elapsed().saturating_sub(last_checkpoint) >= i)
            {
                let _ = self.checkpoint().await;
                last_checkpoint = clock.elapsed();
            }
            if read == 0 {
                let tick = clock.sleep(self.services.settings.tick);
                match self.inputs.first_mut() {
                    Some(input) => {
                        tokio::select! {
                            _ = input.reader.wait() => {}
                            _ = tick => {}
                            _ = stop.changed() => {}
                            Some(request) = requests.recv() => {
                                let _ = request.send(self.checkpoint().await);
                            }
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = tick => {}
                            _ = stop.changed() => {}
                            Some(request) = requests.recv() => {
                                let _ = request.send(self.checkpoint().await);
                            }
                        }
                    }
                }
            }
        }
        self.doc.stopped = *stop.borrow() == Halt::Stop;
        // Logged inside when it fails; the run ends either way.
        let _ = self.checkpoint().await;
        tracing::info!(application = %self.name, "application stopped");
    }

    /// Reads what is there, runs it, writes the outputs, and only then moves the positions.
    async fn step(&mut self, stop: &watch::Receiver<Halt>) -> Result<usize, String> {
        let files = std::mem::take(&mut self.files);
        if !files.is_empty() {
            self.app.load(files, self.services.clock.now_ms())?;
        }
        let mut read = 0;
        let mut moved = Vec::new();
        // The furthest behind of the inputs' last records read; 0 when all are caught up.
        let mut behind = 0;
        for input in &mut self.inputs {
            let partitions = input.reader.read().await?;
            let now = self.services.clock.now_ms();
            let m = &self.metrics;
            behind = partitions
                .iter()
                .filter_map(|p| p.records.last())
                .map(|r| (now - r.arrival_ms).max(0) as u64)
                .fold(behind, u64::max);
            for part in partitions {
                read += part.records.len();
                m.input_records.add(part.records.len() as u64);
                let bytes: usize = part.records.iter().map(|r| r.data.len()).sum();
                m.input_bytes.add(bytes as u64);
                self.app.push(
                    input.instance(&part.partition),
                    &part.partition,
                    &part.records,
                    now,
                )?;
                moved.push((input.id.clone(), part.partition, part.position));
            }
        }
        self.metrics.millis_behind_latest.set(behind);
        self.app.advance(self.services.clock.now_ms())?;
        let outputs = self.app.take_outputs();
        self.changed |= !moved.is_empty() || outputs.iter().any(|records| !records.is_empty());
        let stopping = || *stop.borrow() != Halt::Running;
        for (records, destination) in outputs.into_iter().zip(&self.outputs) {
            let Some(destination) = destination else {
                continue;
            };
            if records.is_empty() {
                continue;
            }
            let services = &self.services;
            let (count, bytes) = (
                records.len(),
                records.iter().map(|r| r.data.len()).sum::<usize>(),
            );
            sink::write(
                &services.streams,
                &services.firehose,
                &services.clock,
                destination,
                records,
                &mut self.partition_seed,
                &stopping,
            )
            .await?;
            self.metrics.output_records.add(count as u64);
            self.metrics.output_bytes.add(bytes as u64);
        }
        for (input, partition, position) in moved {
            self.doc.set_position(&input, partition, position);
        }
        Ok(read)
    }

    /// Commits the engine's state with the positions whose output is written, and returns
    /// the committed document; then delivery streams may drop what the application has read.
    async fn checkpoint(&mut self) -> Result<String, String> {
        match self.app.snapshot() {
            Ok(state) => self.doc.state = Some(String::from_utf8_lossy(&state).into_owned()),
            Err(e) => {
                tracing::error!(application = %self.name, error = %e, "application state not checkpointed");
                return Err(e);
            }
        }
        let text = self.doc.to_text();
        if let Err(e) = self
            .services
            .catalog
            .put_application_checkpoint(self.uid, &text, None)
            .await
        {
            tracing::error!(application = %self.name, error = %e, "application checkpoint not committed");
            return Err(e.to_string());
        }
        self.changed = false;
        for input in &self.inputs {
            if let InputReader::Delivery(reader) = &input.reader
                && let Err(e) = reader.committed(&self.doc.input_positions(&input.id)).await
            {
                // The hold stays where it was: more is kept, nothing is lost.
                tracing::warn!(application = %self.name, error = %e, "delivery stream hold not moved");
            }
        }
        Ok(text)
    }
}
