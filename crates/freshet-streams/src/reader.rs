//! The typed in-process stream reader: what Firehose's Kinesis source and Analytics read streams
//! with. It has GetRecords' semantics (the same `read_batch`, the same positioning rules, the
//! same trim horizon) without JSON or iterators in between: it reads every shard of a stream,
//! parents to their end before their children (as AWS orders records across resharding), waits
//! for new durable records on the log's tail notifier and the stream's reshape notifier (never by
//! polling), and hands back, per shard, a position to checkpoint, known from the open on (a
//! start at LATEST is the shard's end when the reader opens, not at its first read).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::future::select_all;
use tokio::sync::watch;

use crate::error::Result;
use crate::model::{Record, StreamRef, Timestamp};
use crate::service::StreamsService;
use crate::state::{ShardState, Status, Stream, StreamState};

/// Where a shard without a checkpoint starts.
#[derive(Clone, Debug, PartialEq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
    AtSequenceNumber(String),
    AfterSequenceNumber(String),
    /// Epoch milliseconds: the first record that arrived at or after it.
    AtTimestamp(i64),
}

/// How far a shard has been read: what a consumer stores to resume exactly there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// A sequence number to resume AFTER (a record's, or a boundary between records).
    After(String),
    /// The shard is closed and was read to its end; its children follow.
    ShardEnd,
}

/// Records read from one shard, and the checkpoint that covers them.
#[derive(Debug)]
pub struct ShardRecords {
    pub shard_id: String,
    pub records: Vec<Record>,
    pub checkpoint: Checkpoint,
}

/// A shard as the reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLineage {
    pub shard_id: String,
    pub parents: Vec<String>,
    pub closed: bool,
}

/// Where the reader is in one shard.
struct Cursor {
    /// The next log offset to read; unknown until the shard is first read.
    offset: Option<u64>,
    done: bool,
    tail: Option<watch::Receiver<u64>>,
}

pub struct StreamReader {
    service: StreamsService,
    stream: Arc<Stream>,
    start: StartingPosition,
    checkpoints: BTreeMap<String, Checkpoint>,
    cursors: BTreeMap<u32, Cursor>,
    /// The shards the stream had when the reader opened (by index): the ones `start` is for.
    at_open: BTreeSet<u32>,
}

impl StreamsService {
    /// A reader of the stream named by `stream` (a name or an ARN). Shards with a checkpoint
    /// resume after it; a shard without one starts at `start` if the stream had it when the
    /// reader opened, as a KCL consumer's initial position applies to every shard there is when
    /// it starts: at LATEST each shard open then starts at its tip, a child of an earlier
    /// reshard included, and its closed parents have nothing more to give. A child starts at its
    /// trim horizon instead (all its records come after its parents', which the reader follows
    /// to their end first) when it was made after the open, when an ancestor of it has a
    /// checkpoint (the consumer was following that lineage: the KCL leases such a shard at
    /// TRIM_HORIZON), or when `start` is a sequence number (which names a place in one shard).
    ///
    /// Every shard that can be read now or takes `start` is placed as the reader opens, not at
    /// its first read: LATEST is the shard's end at the open, as GetShardIterator's LATEST is
    /// fixed when the iterator is issued, so `positions` holds it before anything is read and a
    /// consumer that stores it and stops resumes there, skipping nothing put since. A shard that
    /// cannot be placed now (the stream is not yet ACTIVE, a checkpoint does not fit the shard)
    /// is placed at its first read, which reports why.
    pub async fn reader(
        &self,
        stream: &str,
        start: StartingPosition,
        checkpoints: BTreeMap<String, Checkpoint>,
    ) -> Result<StreamReader> {
        let stream = self.find(&stream_ref(stream))?;
        let at_open = stream
            .snapshot()
            .shards
            .iter()
            .map(|s| s.row.index)
            .collect();
        let mut reader = StreamReader {
            stream,
            service: self.clone(),
            start,
            checkpoints,
            cursors: BTreeMap::new(),
            at_open,
        };
        reader.place().await;
        Ok(reader)
    }

    /// Whether the stream named by `stream` (a name or an ARN) exists, whatever its status:
    /// what a service that will read it checks when it is configured.
    pub fn contains(&self, stream: &str) -> bool {
        self.find(&stream_ref(stream)).is_ok()
    }
}

pub(crate) fn stream_ref(stream: &str) -> StreamRef {
    if stream.starts_with("arn:") {
        StreamRef {
            stream_name: None,
            stream_arn: Some(stream.to_string()),
        }
    } else {
        StreamRef {
            stream_name: Some(stream.to_string()),
            stream_arn: None,
        }
    }
}

impl StreamReader {
    /// Every shard the stream still has (closed ones until retention drops them), in index
    /// order, with its parents.
    pub fn shards(&self) -> Result<Vec<ShardLineage>> {
        let state = self.state()?;
        Ok(state
            .shards
            .iter()
            .map(|s| ShardLineage {
                shard_id: s.id(),
                parents: s.parents().map(crate::arn::shard_id).collect(),
                closed: !s.is_open(),
            })
            .collect())
    }

    /// Where the reader resumes in every shard it has placed or was given a checkpoint for:
    /// what a consumer stores (as it stores `ShardRecords::checkpoint`) to resume exactly there.
    /// Every shard readable at the open or taking the reader's start is placed then, so this
    /// holds them before any read.
    pub fn positions(&self) -> BTreeMap<String, Checkpoint> {
        let state = self.stream.snapshot();
        let mut positions = self.checkpoints.clone();
        for shard in &state.shards {
            let Some(cursor) = self.cursors.get(&shard.row.index) else {
                continue;
            };
            let position = if cursor.done {
                Checkpoint::ShardEnd
            } else if let Some(offset) = cursor.offset {
                Checkpoint::After(shard.boundary(offset).to_string())
            } else {
                continue;
            };
            positions.insert(shard.id(), position);
        }
        positions
    }

    /// Reads what is there from every shard whose parents are done, about `max_bytes` in all
    /// (at least one record when any is there). A shard read to its closed end reports
    /// `Checkpoint::ShardEnd` once, with or without records.
    pub async fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<ShardRecords>> {
        let state = self.state()?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for shard in &state.shards {
            if bytes >= max_bytes && !out.is_empty() {
                break;
            }
            if !self.ready(&state, shard) {
                continue;
            }
            let from = self.offset(&state, shard).await?;
            let batch = self
                .service
                .read_batch(
                    &state,
                    shard,
                    from,
                    max_records,
                    max_bytes.saturating_sub(bytes).max(1),
                )
                .await?;
            let cursor = self.cursor(shard);
            cursor.offset = Some(batch.after);
            let end = batch.child_shards.is_some();
            if end {
                cursor.done = true;
            } else if batch.records.is_empty() {
                continue;
            }
            bytes += batch.bytes as usize;
            out.push(ShardRecords {
                shard_id: shard.id(),
                records: batch.records,
                checkpoint: if end {
                    Checkpoint::ShardEnd
                } else {
                    Checkpoint::After(shard.boundary(batch.after).to_string())
                },
            });
        }
        Ok(out)
    }

    /// Resolves when new records may be readable: a shard being read got durable records past
    /// the reader, or the stream's shards changed (a reshard, a deletion).
    pub async fn wait(&mut self) {
        let reshaped = self.stream.reshaped.notified();
        tokio::pin!(reshaped);
        reshaped.as_mut().enable();
        let Ok(state) = self.state() else { return };
        let mut tails = Vec::new();
        for shard in &state.shards {
            if !self.ready(&state, shard) {
                continue;
            }
            let Ok(from) = self.offset(&state, shard).await else {
                return;
            };
            let log = &self.service.inner.log;
            let cursor = self
                .cursors
                .entry(shard.row.index)
                .or_insert_with(Cursor::new);
            if cursor.tail.is_none() {
                match log.subscribe(shard.log) {
                    Ok(tail) => cursor.tail = Some(tail),
                    Err(_) => return, // the shard is gone: the next read says why
                }
            }
            if let Some(tail) = &cursor.tail {
                if *tail.borrow() > from {
                    return;
                }
                let mut tail = tail.clone();
                tails.push(Box::pin(async move {
                    let _ = tail.wait_for(|&end| end > from).await;
                }));
            }
        }
        if tails.is_empty() {
            reshaped.await;
            return;
        }
        tokio::select! {
            _ = select_all(tails) => {}
            () = reshaped => {}
        }
    }

    /// Fixes where each shard that can be read now starts, and where each shard that takes the
    /// reader's start does even if its parents are still to be read: a child's LATEST is its
    /// tip at the open, not at its parents' end (see `StreamsService::reader`).
    async fn place(&mut self) {
        let Ok(state) = self.state() else { return };
        for shard in &state.shards {
            let takes_start =
                !self.checkpoints.contains_key(&shard.id()) && self.takes_start(&state, shard);
            if self.is_done(shard) || !(takes_start || self.ready(&state, shard)) {
                continue;
            }
            if let Ok(offset) = self.offset(&state, shard).await {
                self.cursor(shard).offset = Some(offset);
            }
        }
    }

    fn state(&self) -> Result<Arc<StreamState>> {
        let state = self.stream.snapshot();
        let live = self
            .service
            .inner
            .streams
            .read()
            .by_uid
            .contains_key(&self.stream.uid);
        if !live || !matches!(state.row.status, Status::Active | Status::Updating) {
            return Err(self.service.not_found(&self.stream.name));
        }
        Ok(state)
    }

    fn cursor(&mut self, shard: &ShardState) -> &mut Cursor {
        self.cursors
            .entry(shard.row.index)
            .or_insert_with(Cursor::new)
    }

    /// Whether a shard is to be read now: not done, and its parents done or gone (a parent
    /// past retention holds nothing more).
    fn ready(&self, state: &StreamState, shard: &ShardState) -> bool {
        if self.is_done(shard) {
            return false;
        }
        shard
            .parents()
            .all(|p| state.shard(p).is_none_or(|parent| self.is_done(parent)))
    }

    fn is_done(&self, shard: &ShardState) -> bool {
        self.cursors.get(&shard.row.index).is_some_and(|c| c.done)
            || self.checkpoints.get(&shard.id()) == Some(&Checkpoint::ShardEnd)
    }

    /// Whether a shard without a checkpoint starts at the reader's start rather than at its trim
    /// horizon (the rule is `StreamsService::reader`'s).
    fn takes_start(&self, state: &StreamState, shard: &ShardState) -> bool {
        if shard.parents().next().is_none() {
            return true;
        }
        let by_sequence = matches!(
            self.start,
            StartingPosition::AtSequenceNumber(_) | StartingPosition::AfterSequenceNumber(_)
        );
        !by_sequence && self.at_open.contains(&shard.row.index) && !self.followed(state, shard)
    }

    /// Whether an ancestor of a shard has a checkpoint. An ancestor gone past retention ends the
    /// search there, as it ends the KCL's. Each ancestor is visited once: splits and merges of
    /// the same range (autoscaling) share ancestors, and a walk of every path would double with
    /// each cycle.
    fn followed(&self, state: &StreamState, shard: &ShardState) -> bool {
        let mut seen = BTreeSet::new();
        let mut next: Vec<u32> = shard.parents().collect();
        while let Some(index) = next.pop() {
            if !seen.insert(index) {
                continue;
            }
            if self.checkpoints.contains_key(&crate::arn::shard_id(index)) {
                return true;
            }
            if let Some(ancestor) = state.shard(index) {
                next.extend(ancestor.parents());
            }
        }
        false
    }

    /// The offset to read a shard from: where the reader is, else its checkpoint, else the
    /// starting position.
    async fn offset(&self, state: &StreamState, shard: &ShardState) -> Result<u64> {
        if let Some(offset) = self.cursors.get(&shard.row.index).and_then(|c| c.offset) {
            return Ok(offset);
        }
        let from_trim_horizon = !self.takes_start(state, shard);
        // A finished shard (ShardEnd) is never read: `ready` leaves it out.
        let checkpoint = match self.checkpoints.get(&shard.id()) {
            Some(Checkpoint::After(seq)) => Some(seq.as_str()),
            _ => None,
        };
        let (kind, sequence, timestamp) = match (checkpoint, &self.start) {
            (Some(seq), _) => ("AFTER_SEQUENCE_NUMBER", Some(seq), None),
            (None, _) if from_trim_horizon => ("TRIM_HORIZON", None, None),
            (None, StartingPosition::TrimHorizon) => ("TRIM_HORIZON", None, None),
            (None, StartingPosition::Latest) => ("LATEST", None, None),
            (None, StartingPosition::AtSequenceNumber(s)) => {
                ("AT_SEQUENCE_NUMBER", Some(s.as_str()), None)
            }
            (None, StartingPosition::AfterSequenceNumber(s)) => {
                ("AFTER_SEQUENCE_NUMBER", Some(s.as_str()), None)
            }
            (None, StartingPosition::AtTimestamp(ms)) => {
                ("AT_TIMESTAMP", None, Some(Timestamp::from_millis(*ms)))
            }
        };
        self.service
            .start_offset(
                &self.stream,
                state,
                shard,
                "reader",
                kind,
                sequence,
                timestamp,
            )
            .await
    }
}

impl Cursor {
    fn new() -> Cursor {
        Cursor {
            offset: None,
            done: false,
            tail: None,
        }
    }
}
