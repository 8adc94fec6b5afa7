//! Where a delivery worker reads from: the delivery stream's own durable log (DirectPut) or the
//! shards of a Kinesis data stream (KinesisStreamAsSource), read through the same API that
//! GetRecords serves. Every record carries a mark — (source, resume position) — that the worker
//! checkpoints once the destination has accepted the record.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use freshet_log::{Log, ShardLogId};
use freshet_streams::StreamsService;
use freshet_streams::model::{GetRecordsInput, GetShardIteratorInput, ListShardsInput};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::Clock;

use crate::error::{FirehoseError, Result};

/// The checkpoint key of a DirectPut stream's log.
pub const LOG_SOURCE: &str = "log";
/// The position of a Kinesis shard whose every record has been delivered.
pub const SHARD_END: &str = "SHARD_END";

/// Records read per call.
const READ_RECORDS: usize = 10_000;
/// How often Kinesis shards are polled when they had nothing (Firehose polls each shard about
/// once a second; a shorter period keeps delivery latency low at negligible cost here).
const KINESIS_IDLE_POLL: Duration = Duration::from_millis(200);

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
    pub opened: Option<u64>,
    pub clock: Clock,
}

impl Batch {
    pub fn new(clock: Clock) -> Batch {
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
            self.opened = Some(self.clock.now_ms());
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
            Source::Log(s) => s.poll(room, batch),
            Source::Kinesis(s) => s.poll(room, batch),
        }
    }

    /// Waits until new records may be there, or until the clock reads `deadline_ms`.
    pub async fn wait(&mut self, clock: &Clock, deadline_ms: Option<u64>) {
        let sleep = async {
            match deadline_ms {
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
            Source::Kinesis(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(KINESIS_IDLE_POLL) => {}
                    _ = sleep => {}
                }
            }
        }
    }

    /// After a checkpoint: lets the log drop segments whose every record is delivered.
    pub async fn delivered(&self, batch: &Batch) {
        if let (Source::Log(s), Some(last)) = (self, batch.records.last()) {
            let (log, id, cutoff) = (s.log.clone(), s.id, last.arrival_ms);
            let trimmed = tokio::task::spawn_blocking(move || log.trim_before(id, cutoff)).await;
            if let Ok(Err(error)) = trimmed {
                tracing::warn!(%error, log = %s.id, "cannot trim delivered records");
            }
        }
    }
}

pub struct LogSource {
    log: Log,
    id: ShardLogId,
    next: u64,
    tail: watch::Receiver<u64>,
}

impl LogSource {
    pub fn new(log: Log, id: ShardLogId, next: u64) -> Result<LogSource> {
        let tail = log.subscribe(id)?;
        Ok(LogSource {
            log,
            id,
            next,
            tail,
        })
    }

    fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        let records = self
            .log
            .read(self.id, self.next, READ_RECORDS, room as usize)?;
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

struct Cursor {
    parents: Vec<String>,
    /// None until the shard may be read (its parents are done) and an iterator was taken.
    iterator: Option<String>,
    /// The last sequence number read, to resume after an expired iterator.
    last: Option<String>,
    done: bool,
}

pub struct KinesisSource {
    streams: StreamsService,
    stream_arn: String,
    /// Shards without a checkpoint and without parents start here (the delivery stream's
    /// creation: Firehose reads from LATEST as of then).
    start_ms: i64,
    checkpoints: BTreeMap<String, String>,
    shards: BTreeMap<String, Cursor>,
    listed: Option<Instant>,
}

fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| FirehoseError::Corrupt(e.to_string()))
}

impl KinesisSource {
    pub fn new(
        streams: StreamsService,
        stream_arn: String,
        start_ms: i64,
        checkpoints: BTreeMap<String, String>,
    ) -> KinesisSource {
        KinesisSource {
            streams,
            stream_arn,
            start_ms,
            checkpoints,
            shards: BTreeMap::new(),
            listed: None,
        }
    }

    fn refresh(&mut self) -> Result<()> {
        if self
            .listed
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return Ok(());
        }
        self.listed = Some(Instant::now());
        let mut token: Option<String> = None;
        loop {
            let input = match &token {
                Some(t) => json!({"NextToken": t}),
                None => json!({"StreamARN": self.stream_arn}),
            };
            let out = self
                .streams
                .list_shards(from_value::<ListShardsInput>(input)?)
                .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
            for shard in out.shards {
                let done = self
                    .checkpoints
                    .get(&shard.shard_id)
                    .is_some_and(|p| p == SHARD_END);
                self.shards.entry(shard.shard_id).or_insert_with(|| Cursor {
                    parents: shard
                        .parent_shard_id
                        .into_iter()
                        .chain(shard.adjacent_parent_shard_id)
                        .collect(),
                    iterator: None,
                    last: None,
                    done,
                });
            }
            match out.next_token {
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
    }

    fn iterator_for(&self, shard_id: &str, cursor: &Cursor) -> Result<String> {
        let resume = cursor
            .last
            .clone()
            .or_else(|| self.checkpoints.get(shard_id).cloned());
        let input = match resume {
            Some(seq) => json!({"StreamARN": self.stream_arn, "ShardId": shard_id,
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": seq}),
            // A child shard's records all come after the delivery started.
            None if !cursor.parents.is_empty() => json!({"StreamARN": self.stream_arn,
                "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}),
            None => json!({"StreamARN": self.stream_arn, "ShardId": shard_id,
                "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": self.start_ms as f64 / 1000.0}),
        };
        let out = self
            .streams
            .get_shard_iterator(from_value::<GetShardIteratorInput>(input)?)
            .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
        Ok(out.shard_iterator)
    }

    fn poll(&mut self, room: u64, batch: &mut Batch) -> Result<usize> {
        self.refresh()?;
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        let mut total = 0;
        for id in ids {
            if batch.bytes >= room && total > 0 {
                break;
            }
            let ready = {
                let cursor = &self.shards[&id];
                !cursor.done
                    && cursor.parents.iter().all(|p| {
                        // A parent gone past retention no longer holds anything to deliver.
                        self.shards.get(p).is_none_or(|c| c.done)
                    })
            };
            if !ready {
                continue;
            }
            let iterator = match self.shards[&id].iterator.clone() {
                Some(it) => it,
                None => self.iterator_for(&id, &self.shards[&id])?,
            };
            let input = json!({"ShardIterator": iterator, "Limit": READ_RECORDS});
            let out = match self
                .streams
                .get_records(from_value::<GetRecordsInput>(input)?)
            {
                Ok(out) => out,
                Err(freshet_streams::StreamsError::ExpiredIterator(_)) => {
                    if let Some(c) = self.shards.get_mut(&id) {
                        c.iterator = None;
                    }
                    continue;
                }
                Err(e) => return Err(FirehoseError::InvalidArgument(e.to_string())),
            };
            let Some(cursor) = self.shards.get_mut(&id) else {
                continue;
            };
            for r in out.records {
                batch.push(SourceRecord {
                    data: r.data.0,
                    arrival_ms: r.approximate_arrival_timestamp.as_millis(),
                });
                batch.marks.insert(id.clone(), r.sequence_number.clone());
                cursor.last = Some(r.sequence_number);
                total += 1;
            }
            match out.next_shard_iterator {
                Some(next) => cursor.iterator = Some(next),
                None => {
                    // Closed and read to its end: done once what was read is delivered.
                    cursor.done = true;
                    cursor.iterator = None;
                    batch.marks.insert(id.clone(), SHARD_END.to_string());
                    self.listed = None;
                }
            }
        }
        Ok(total)
    }
}
