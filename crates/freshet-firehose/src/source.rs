//! Where a delivery stream's records are read from: its own durable log (DirectPut) or the
//! shards of a Kinesis data stream (KinesisStreamAsSource), read through the typed stream reader
//! (`freshet_streams::StreamReader`, GetRecords' semantics without JSON). The delivery worker
//! and every other reader (`reader.rs`) read through it. Records come per partition (the log,
//! or a shard) with the position to resume from once they are processed: the worker
//! checkpoints it once the destination has accepted the records. Records the KPL aggregated
//! come out of a Kinesis source as their user records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_log::{ShardLogId, SharedLog};
use freshet_runtime::SharedClock;
use freshet_streams::{Checkpoint, StartingPosition, StreamReader, StreamsService, kpl};
use tokio::sync::watch;

use crate::error::{FirehoseError, Result};
use crate::retention::{self, Holds};

/// The partition (and checkpoint key) of a DirectPut stream's log; never a shard id.
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

/// Records read from one partition of a source, and the position that covers them: the next
/// log offset, or a shard's sequence number to resume after (`SHARD_END` once it is done).
#[derive(Debug)]
pub struct Partition {
    pub partition: String,
    pub records: Vec<SourceRecord>,
    pub position: String,
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

    /// Takes in a partition's records and moves its mark; returns how many records.
    fn add(&mut self, partition: Partition) -> usize {
        let n = partition.records.len();
        if n > 0 && self.opened.is_none() {
            self.opened = Some(self.clock.elapsed());
        }
        for record in partition.records {
            self.bytes += record.data.len() as u64;
            self.records.push(record);
        }
        self.marks.insert(partition.partition, partition.position);
        n
    }
}

pub enum Source {
    Log(LogSource),
    Kinesis(Box<KinesisSource>),
}

impl Source {
    /// What is there, about `max_bytes` (at least one record if any is there), per partition.
    pub async fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Partition>> {
        match self {
            Source::Log(s) => s.read(max_records, max_bytes).await,
            Source::Kinesis(s) => s.read(max_records, max_bytes).await,
        }
    }

    /// Moves records (about `room` bytes, at least one if any is there) into the batch;
    /// returns how many.
    pub async fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        let read = self.read(READ_RECORDS, room as usize).await?;
        Ok(read.into_iter().map(|partition| batch.add(partition)).sum())
    }

    /// Resolves when new records may be there.
    pub async fn wait(&mut self) {
        match self {
            Source::Log(s) => {
                let next = s.next;
                if s.tail.wait_for(|&end| end > next).await.is_err() {
                    // The log was removed with its delivery stream: nothing more will come, and
                    // the caller's own timer paces its retries.
                    std::future::pending::<()>().await;
                }
            }
            Source::Kinesis(s) => s.wait().await,
        }
    }

    /// After a checkpoint: lets the log drop segments whose every record is delivered and
    /// that no reader still holds (`retention.rs`).
    /// `last_arrival_ms`: when the last delivered record arrived.
    pub async fn delivered(&self, last_arrival_ms: Option<i64>, now_ms: i64) {
        if let (Source::Log(s), Some(last)) = (self, last_arrival_ms) {
            s.trim(last, now_ms).await;
        }
    }
}

pub struct LogSource {
    log: SharedLog,
    id: ShardLogId,
    next: u64,
    tail: watch::Receiver<u64>,
    holds: Arc<Holds>,
}

impl LogSource {
    /// Opens the log at the offset `positions` holds for it, or else at `start`.
    pub async fn open(
        log: SharedLog,
        id: ShardLogId,
        holds: Arc<Holds>,
        positions: &BTreeMap<String, String>,
        start: &StartingPosition,
    ) -> Result<LogSource> {
        let next = match positions.get(LOG_SOURCE) {
            Some(position) => position.parse().map_err(|_| {
                FirehoseError::Corrupt(format!("{id} position {position} is not an offset"))
            })?,
            None => match start {
                StartingPosition::TrimHorizon => log.bounds(id).await?.0,
                StartingPosition::Latest => log.bounds(id).await?.1,
                StartingPosition::AtTimestamp(ms) => log.offset_at_time(id, *ms).await?,
                StartingPosition::AtSequenceNumber(_)
                | StartingPosition::AfterSequenceNumber(_) => {
                    return Err(FirehoseError::InvalidArgument(
                        "A delivery stream's records have no sequence numbers.".into(),
                    ));
                }
            },
        };
        let tail = log.subscribe(id)?;
        Ok(LogSource {
            log,
            id,
            next,
            tail,
            holds,
        })
    }

    /// The next offset to read.
    pub fn next(&self) -> u64 {
        self.next
    }

    pub fn holds(&self) -> &Arc<Holds> {
        &self.holds
    }

    async fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Partition>> {
        let records = self
            .log
            .read(self.id, self.next, max_records, max_bytes)
            .await?;
        let Some(last) = records.last() else {
            return Ok(Vec::new());
        };
        let first = records[0].offset;
        if first > self.next {
            // Only a reader more than a day behind gets here (its hold expired).
            tracing::warn!(log = %self.id, skipped = first - self.next, "records were trimmed before this reader read them");
        }
        self.next = last.offset + 1;
        Ok(vec![Partition {
            partition: LOG_SOURCE.to_string(),
            records: records
                .into_iter()
                .map(|r| SourceRecord {
                    data: r.data,
                    arrival_ms: r.arrival_ms,
                })
                .collect(),
            position: self.next.to_string(),
        }])
    }

    /// Drops the segments whose records all arrived before both the last delivered record and
    /// the oldest record a reader holds.
    async fn trim(&self, delivered_ms: i64, now_ms: i64) {
        let held_arrival_ms = match self.holds.oldest().await {
            None => None,
            // The log reads from its trim horizon when the held offset is below it.
            Some(offset) => match self.log.read(self.id, offset, 1, 0).await {
                Ok(records) => records.first().map(|r| r.arrival_ms),
                Err(error) => {
                    tracing::warn!(%error, log = %self.id, "cannot read a held record; not trimming");
                    return;
                }
            },
        };
        let cutoff = retention::cutoff(delivered_ms, held_arrival_ms, now_ms);
        if let Err(error) = self.log.trim_before(self.id, cutoff).await {
            tracing::warn!(%error, log = %self.id, "cannot trim delivered records");
        }
    }
}

/// A Kinesis data stream read through the typed stream reader (the same reads GetRecords
/// serves). The reader is opened with the source, which places the shards' starts then (a NOW
/// start is the stream's end as of the open); a source stream that is missing is opened at a
/// later read instead, retried like any failed read.
pub struct KinesisSource {
    streams: StreamsService,
    stream_arn: String,
    /// Where shards without a checkpoint start, as `StreamsService::reader` applies it (for the
    /// delivery worker, the delivery stream's creation: Firehose reads from LATEST as of then).
    start: StartingPosition,
    checkpoints: BTreeMap<String, Checkpoint>,
    reader: Option<StreamReader>,
}

impl KinesisSource {
    pub async fn open(
        streams: StreamsService,
        stream_arn: String,
        start: StartingPosition,
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
        let mut source = KinesisSource {
            streams,
            stream_arn,
            start,
            checkpoints,
            reader: None,
        };
        // Where it fails (the stream is missing), the first read opens it again and says why.
        let _ = source.reader().await;
        source
    }

    /// Where the source resumes in each shard the reader has placed, as checkpoints store it:
    /// from the open on, before any read; none while the reader is not open.
    pub fn positions(&self) -> BTreeMap<String, String> {
        let Some(reader) = &self.reader else {
            return BTreeMap::new();
        };
        reader
            .positions()
            .into_iter()
            .map(|(shard, checkpoint)| (shard, position(checkpoint)))
            .collect()
    }

    async fn reader(&mut self) -> Result<&mut StreamReader> {
        if self.reader.is_none() {
            let reader = self
                .streams
                .reader(
                    &self.stream_arn,
                    self.start.clone(),
                    self.checkpoints.clone(),
                )
                .await
                .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
            self.reader = Some(reader);
        }
        Ok(self.reader.as_mut().expect("opened above"))
    }

    async fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Partition>> {
        let read = match self.reader().await?.read(max_records, max_bytes).await {
            Ok(read) => read,
            Err(e) => {
                // Opened again next time: the stream may come back (or be another one).
                self.reader = None;
                return Err(FirehoseError::InvalidArgument(e.to_string()));
            }
        };
        Ok(read
            .into_iter()
            .map(|shard| {
                let mut records = Vec::with_capacity(shard.records.len());
                for r in shard.records {
                    let arrival_ms = r.approximate_arrival_timestamp.as_millis();
                    // Records the KPL aggregated are delivered as their user records, as AWS
                    // does.
                    match kpl::deaggregate(&r.data.0) {
                        Some(users) => records.extend(
                            users
                                .into_iter()
                                .map(|data| SourceRecord { data, arrival_ms }),
                        ),
                        None => records.push(SourceRecord {
                            data: r.data.0,
                            arrival_ms,
                        }),
                    }
                }
                Partition {
                    partition: shard.shard_id,
                    records,
                    position: position(shard.checkpoint),
                }
            })
            .collect())
    }

    async fn wait(&mut self) {
        match &mut self.reader {
            Some(reader) => reader.wait().await,
            // Not open (the stream was missing): the worker's retry pace applies.
            None => std::future::pending().await,
        }
    }
}

/// A shard's checkpoint as a delivery stream's checkpoints store it.
fn position(checkpoint: Checkpoint) -> String {
    match checkpoint {
        Checkpoint::After(seq) => seq,
        Checkpoint::ShardEnd => SHARD_END.to_string(),
    }
}
