//! Where a delivery worker reads from: the delivery stream's own durable log (DirectPut) or the
//! shards of a Kinesis data stream (KinesisStreamAsSource), read through the typed stream reader
//! (`freshet_streams::StreamReader`, GetRecords' semantics without JSON). Every record carries a mark — (source, resume position) — that the worker
//! checkpoints once the destination has accepted the record.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use freshet_log::{ShardLogId, SharedLog};
use freshet_runtime::SharedClock;
use freshet_streams::{Checkpoint, StartingPosition, StreamReader, StreamsService};
use tokio::sync::watch;

use crate::error::{FirehoseError, Result};

/// The checkpoint key of a DirectPut stream's log.
pub const LOG_SOURCE: &str = "log";
/// The position of a Kinesis shard whose every record has been delivered.
pub const SHARD_END: &str = "SHARD_END";

/// Records read per call.
const READ_RECORDS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct SourceRecord {
    pub data: Bytes,
    pub arrival_ms: i64,
}

/// Records read but not yet delivered, and where each source resumes once they are.
pub struct Batch {
    pub records: Vec<SourceRecord>,
    pub bytes: u64,
    pub marks: BTreeMap<String, String>,
    /// When the first record entered, on the worker's clock (the interval runs from here).
    pub opened: Option<Duration>,
    pub clock: SharedClock,
}

impl Batch {
    pub fn new(clock: SharedClock) -> Batch {
        Batch {
            records: Vec::new(),
            bytes: 0,
            marks: BTreeMap::new(),
            opened: None,
            clock,
        }
    }

    fn push(&mut self, record: SourceRecord) {
        if self.opened.is_none() {
            self.opened = Some(self.clock.elapsed());
        }
        self.bytes += record.data.len() as u64;
        self.records.push(record);
    }
}

pub enum Source {
    Log(LogSource),
    Kinesis(Box<KinesisSource>),
}

impl Source {
    /// Moves records (about `room` bytes, at least one if any is there) into the batch;
    /// returns how many.
    pub async fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        match self {
            Source::Log(s) => s.poll(room, batch).await,
            Source::Kinesis(s) => s.poll(room, batch).await,
        }
    }

    /// Waits until new records may be there, or until the clock reads `deadline`.
    pub async fn wait(&mut self, clock: &SharedClock, deadline: Option<Duration>) {
        let sleep = async {
            match deadline {
                Some(d) => clock.sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        match self {
            Source::Log(s) => {
                tokio::select! {
                    _ = s.tail.wait_for(|&end| end > s.next) => {}
                    _ = sleep => {}
                }
            }
            Source::Kinesis(s) => {
                tokio::select! {
                    _ = s.wait() => {}
                    _ = sleep => {}
                }
            }
        }
    }

    /// After a checkpoint: lets the log drop segments whose every record is delivered.
    pub async fn delivered(&self, batch: &Batch) {
        if let (Source::Log(s), Some(last)) = (self, batch.records.last())
            && let Err(error) = s.log.trim_before(s.id, last.arrival_ms).await
        {
            tracing::warn!(%error, log = %s.id, "cannot trim delivered records");
        }
    }
}

pub struct LogSource {
    log: SharedLog,
    id: ShardLogId,
    next: u64,
    tail: watch::Receiver<u64>,
}

impl LogSource {
    pub fn new(log: SharedLog, id: ShardLogId, next: u64) -> Result<LogSource> {
        let tail = log.subscribe(id)?;
        Ok(LogSource {
            log,
            id,
            next,
            tail,
        })
    }

    async fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        let records = self
            .log
            .read(self.id, self.next, READ_RECORDS, room as usize)
            .await?;
        let n = records.len();
        for r in records {
            self.next = r.offset + 1;
            batch.push(SourceRecord {
                data: r.data,
                arrival_ms: r.arrival_ms,
            });
        }
        if n > 0 {
            batch
                .marks
                .insert(LOG_SOURCE.to_string(), self.next.to_string());
        }
        Ok(n)
    }
}

/// A Kinesis data stream read through the typed stream reader (the same reads GetRecords
/// serves). The reader is opened on first use, so a source stream that is missing or not yet
/// ACTIVE is retried like any failed read.
pub struct KinesisSource {
    streams: StreamsService,
    stream_arn: String,
    /// Shards without a checkpoint and without parents start here (the delivery stream's
    /// creation: Firehose reads from LATEST as of then).
    start_ms: i64,
    checkpoints: BTreeMap<String, Checkpoint>,
    reader: Option<StreamReader>,
}

impl KinesisSource {
    pub fn new(
        streams: StreamsService,
        stream_arn: String,
        start_ms: i64,
        checkpoints: BTreeMap<String, String>,
    ) -> KinesisSource {
        let checkpoints = checkpoints
            .into_iter()
            .map(|(shard, position)| {
                let checkpoint = match position.as_str() {
                    SHARD_END => Checkpoint::ShardEnd,
                    _ => Checkpoint::After(position),
                };
                (shard, checkpoint)
            })
            .collect();
        KinesisSource {
            streams,
            stream_arn,
            start_ms,
            checkpoints,
            reader: None,
        }
    }

    fn reader(&mut self) -> Result<&mut StreamReader> {
        if self.reader.is_none() {
            let reader = self
                .streams
                .reader(
                    &self.stream_arn,
                    StartingPosition::AtTimestamp(self.start_ms),
                    self.checkpoints.clone(),
                )
                .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
            self.reader = Some(reader);
        }
        Ok(self.reader.as_mut().expect("opened above"))
    }

    async fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        let read = match self.reader()?.read(READ_RECORDS, room as usize).await {
            Ok(read) => read,
            Err(e) => {
                // Opened again next time: the stream may come back (or be another one).
                self.reader = None;
                return Err(FirehoseError::InvalidArgument(e.to_string()));
            }
        };
        let mut total = 0;
        for shard in read {
            total += shard.records.len();
            for r in shard.records {
                batch.push(SourceRecord {
                    data: r.data.0,
                    arrival_ms: r.approximate_arrival_timestamp.as_millis(),
                });
            }
            let position = match shard.checkpoint {
                Checkpoint::After(seq) => seq,
                Checkpoint::ShardEnd => SHARD_END.to_string(),
            };
            batch.marks.insert(shard.shard_id, position);
        }
        Ok(total)
    }

    async fn wait(&mut self) {
        match &mut self.reader {
            Some(reader) => reader.wait().await,
            // Not open (the stream was missing): the worker's retry pace applies.
            None => std::future::pending().await,
        }
    }
}
