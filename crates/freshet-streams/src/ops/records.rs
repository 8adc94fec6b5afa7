//! The data plane: PutRecord, PutRecords, GetShardIterator, GetRecords.

use std::sync::Arc;

use bytestring::ByteString;
use freshet_log::{DataKeys, LogError, NewRecord};

use crate::arn::shard_index;
use crate::error::{Result, StreamsError};
use crate::hash_key::partition_hash;
use crate::iterator::{ITERATOR_TTL_MS, ShardIterator};
use crate::model::*;
use crate::sequence::SequenceNumber;
use crate::service::StreamsService;
use crate::state::{ShardState, Status, Stream, StreamState};

/// Records read from a shard, and where reading continues.
pub(crate) struct Batch {
    pub records: Vec<Record>,
    /// Their size as AWS meters it (data and partition keys).
    pub bytes: u64,
    /// The log offset after the last record returned.
    pub after: u64,
    pub millis_behind_latest: i64,
    /// Set when the shard is closed and has nothing more to read.
    pub child_shards: Option<Vec<ChildShard>>,
}

/// AWS's per-request caps for PutRecords (5 MiB, raised with the stream's record size) and
/// GetRecords (10 MiB, 10,000 records).
const PUT_RECORDS_MAX_BYTES: usize = 5 * 1024 * 1024;
const GET_RECORDS_MAX_BYTES: usize = 10 * 1024 * 1024;
const GET_RECORDS_DEFAULT_LIMIT: i64 = 10_000;

impl StreamsService {
    pub async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput> {
        let stream = self.find_readable(&input.stream)?;
        let started = self.config().clock.elapsed();
        let size = (input.data.0.len() + input.partition_key.len()) as u64;
        let result = self.put_record_into(&stream, input).await;
        let m = &stream.metrics;
        let took = self.config().clock.elapsed().saturating_sub(started);
        m.put_record.finished(took, result.is_ok());
        if result.is_ok() {
            m.put_record.bytes.add(size);
            m.incoming_bytes.add(size);
            m.incoming_records.inc();
        }
        result
    }

    async fn put_record_into(
        &self,
        stream: &Arc<Stream>,
        input: PutRecordInput,
    ) -> Result<PutRecordOutput> {
        // Held until the append is durable: see `Stream::gate`.
        let _gate = stream.gate.read().await;
        let state = stream.snapshot();
        check_record_size(&state, input.data.0.len(), &input.partition_key)?;
        let key = hash_key(input.explicit_hash_key.as_deref(), &input.partition_key)?;
        if let Some(seq) = &input.sequence_number_for_ordering {
            // Our numbers always grow within a shard, which is the ordering this field asks for;
            // it only has to be a number we could have issued.
            if SequenceNumber::parse(seq).is_none() {
                return Err(StreamsError::InvalidArgument(format!(
                    "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {} under account {} is invalid.",
                    stream.name,
                    self.config().account_id
                )));
            }
        }
        let shard = self.route(stream, &state, key)?;
        let size = input.data.0.len() + input.partition_key.len();
        if !self.admit_write(stream, shard, size as u64) {
            return Err(StreamsError::ProvisionedThroughputExceeded(
                self.write_rate_exceeded(stream, shard),
            ));
        }
        let appended = self
            .inner
            .log
            .append(
                shard.log,
                vec![NewRecord {
                    sealed: false,
                    partition_key: input.partition_key,
                    explicit_hash_key: input.explicit_hash_key.as_ref().map(|_| key),
                    data: input.data.0,
                }],
            )
            .await?;
        shard.metrics.incoming_bytes.add(size as u64);
        shard.metrics.incoming_records.inc();
        Ok(PutRecordOutput {
            shard_id: shard.id(),
            sequence_number: shard.sequence(appended.first_offset).to_string(),
            encryption_type: state.encryption_type(),
        })
    }

    pub async fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput> {
        let stream = self.find_readable(&input.stream)?;
        let started = self.config().clock.elapsed();
        let result = self.put_records_into(&stream, input).await;
        let took = self.config().clock.elapsed().saturating_sub(started);
        // AWS counts a call as a success when at least one of its records was written.
        let ok = result
            .as_ref()
            .is_ok_and(|out| (out.failed_record_count as usize) < out.records.len());
        stream.metrics.put_records.finished(took, ok);
        result
    }

    async fn put_records_into(
        &self,
        stream: &Arc<Stream>,
        input: PutRecordsInput,
    ) -> Result<PutRecordsOutput> {
        // Held until the appends are durable: see `Stream::gate`.
        let _gate = stream.gate.read().await;
        let state = stream.snapshot();
        // A key that refuses fails the whole request, as on AWS (per-record codes are only
        // throughput and internal failures).
        if let Some(keys) = &self.config().keys {
            keys.sealing(stream.uid).map_err(LogError::Key)?;
        }
        let max_total = PUT_RECORDS_MAX_BYTES.max(state.row.max_record_size_kib as usize * 1024);
        let mut total = 0usize;
        // Checked in full before anything is written: a request with a bad record writes nothing.
        let mut routed: Vec<(Option<u128>, &ShardState)> = Vec::with_capacity(input.records.len());
        for r in &input.records {
            check_record_size(&state, r.data.0.len(), &r.partition_key)?;
            total += r.data.0.len() + r.partition_key.len();
            let key = hash_key(r.explicit_hash_key.as_deref(), &r.partition_key)?;
            let shard = self.route(stream, &state, key)?;
            routed.push((r.explicit_hash_key.as_ref().map(|_| key), shard));
        }
        if total > max_total {
            return Err(StreamsError::InvalidArgument(format!(
                "Records size exceeds {} MB limit",
                max_total / (1024 * 1024)
            )));
        }

        // One append per shard, all submitted together so the log commits them in one batch.
        let count = input.records.len();
        let mut by_shard: Vec<(&ShardState, Vec<usize>, Vec<NewRecord>, u64)> = Vec::new();
        let mut throttled: Vec<(usize, &ShardState)> = Vec::new();
        for (i, ((ehk, shard), entry)) in routed.into_iter().zip(input.records).enumerate() {
            let size = (entry.data.0.len() + entry.partition_key.len()) as u64;
            if !self.admit_write(stream, shard, size) {
                throttled.push((i, shard));
                continue;
            }
            let record = NewRecord {
                sealed: false,
                partition_key: entry.partition_key,
                explicit_hash_key: ehk,
                data: entry.data.0,
            };
            match by_shard
                .iter_mut()
                .find(|(s, _, _, _)| s.row.index == shard.row.index)
            {
                Some((_, positions, batch, bytes)) => {
                    positions.push(i);
                    batch.push(record);
                    *bytes += size;
                }
                None => by_shard.push((shard, vec![i], vec![record], size)),
            }
        }
        let log = &self.inner.log;
        let appends = by_shard
            .into_iter()
            .map(|(shard, positions, batch, bytes)| async move {
                (shard, positions, bytes, log.append(shard.log, batch).await)
            });
        let results = futures_util::future::join_all(appends).await;

        let mut out: Vec<PutRecordsResultEntry> = (0..count)
            .map(|_| PutRecordsResultEntry {
                sequence_number: None,
                shard_id: None,
                error_code: None,
                error_message: None,
            })
            .collect();
        let mut failed = 0;
        let (mut written_bytes, mut written_records) = (0, 0);
        for (shard, positions, bytes, result) in results {
            match result {
                Ok(appended) => {
                    let records = positions.len() as u64;
                    shard.metrics.incoming_bytes.add(bytes);
                    shard.metrics.incoming_records.add(records);
                    written_bytes += bytes;
                    written_records += records;
                    // The shard's numbers are written into one buffer and each answer entry
                    // holds a slice of it: no allocation per record.
                    let shard_id = ByteString::from(shard.id());
                    let mut text = String::with_capacity(positions.len() * 40);
                    let ends: Vec<usize> = (0..positions.len() as u64)
                        .map(|n| {
                            shard.sequence(appended.first_offset + n).push_to(&mut text);
                            text.len()
                        })
                        .collect();
                    let text = ByteString::from(text);
                    let mut start = 0;
                    for (&i, end) in positions.iter().zip(ends) {
                        out[i].shard_id = Some(shard_id.clone());
                        out[i].sequence_number = Some(text.slice_ref(&text[start..end]));
                        start = end;
                    }
                }
                Err(error) => {
                    // Reported per record, as AWS reports its internal failures in PutRecords.
                    tracing::error!(stream = %stream.name, shard = %shard.id(), %error, "append failed");
                    for &i in &positions {
                        failed += 1;
                        out[i].error_code = Some("InternalFailure".into());
                        out[i].error_message = Some("Internal service failure.".into());
                    }
                }
            }
        }
        // Once per request: these counters are shared by every writer of the stream.
        let m = &stream.metrics;
        m.incoming_bytes.add(written_bytes);
        m.incoming_records.add(written_records);
        m.put_records.bytes.add(written_bytes);
        m.put_records_successful.add(written_records);
        m.put_records_total.add(count as u64);
        // Internal failures; throttled records are counted apart, as AWS counts them.
        if failed > 0 {
            m.put_records_failed.add(failed as u64);
        }
        if !throttled.is_empty() {
            m.put_records_throttled.add(throttled.len() as u64);
        }
        for (i, shard) in &throttled {
            failed += 1;
            out[*i].error_code = Some("ProvisionedThroughputExceededException".into());
            out[*i].error_message = Some(self.write_rate_exceeded(stream, shard));
        }
        Ok(PutRecordsOutput {
            failed_record_count: failed,
            records: out,
            encryption_type: state.encryption_type(),
        })
    }

    pub async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput> {
        let stream = self.find(&input.stream)?;
        let state = stream.snapshot();
        let account = &self.config().account_id;
        let missing_shard = || {
            StreamsError::ResourceNotFound(format!(
                "Shard {} in stream {} under account {account} does not exist",
                input.shard_id, stream.name
            ))
        };
        match state.row.status {
            Status::Active | Status::Updating => {}
            // A CREATING stream has no shards yet (recorded against AWS in kinesalite's
            // createStream test).
            Status::Creating => return Err(missing_shard()),
            _ => return Err(self.not_found(&stream.name)),
        }
        let index = shard_index(&input.shard_id).ok_or_else(missing_shard)?;
        let shard = state.shard(index).ok_or_else(missing_shard)?;
        let offset = self
            .start_offset(
                &stream,
                &state,
                shard,
                "GetShardIterator",
                &input.shard_iterator_type,
                input.starting_sequence_number.as_deref(),
                input.timestamp,
            )
            .await?;
        Ok(GetShardIteratorOutput {
            shard_iterator: self.iterator(&stream, shard, offset),
        })
    }

    /// Where a reader starts in a shard, for GetShardIterator and SubscribeToShard alike: the
    /// iterator type with its sequence number or timestamp, checked as AWS checks them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_offset(
        &self,
        stream: &Stream,
        state: &StreamState,
        shard: &ShardState,
        api: &str,
        kind: &str,
        starting_sequence_number: Option<&str>,
        timestamp: Option<Timestamp>,
    ) -> Result<u64> {
        let account = &self.config().account_id;
        let with_seq = matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER");
        let either_or = |has: &str| {
            StreamsError::InvalidArgument(format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and {has} StartingSequenceNumber."
            ))
        };
        let (horizon, next) = self.shard_window(state, shard).await?;
        let offset = match (kind, starting_sequence_number) {
            (_, Some(_)) if !with_seq => return Err(either_or("also a")),
            (_, None) if with_seq => return Err(either_or("no")),
            ("TRIM_HORIZON", None) => horizon,
            ("LATEST", None) => next,
            ("AT_TIMESTAMP", None) => {
                let ts = timestamp.ok_or_else(|| {
                    StreamsError::InvalidArgument(
                        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.".into(),
                    )
                })?;
                let (at, now) = (ts.as_millis(), self.now_ms());
                if at > now {
                    // AWS's message, recorded by kinesalite's getShardIterator tests and quoted
                    // from AWS in Hazelcast's Kinesis connector tests.
                    return Err(StreamsError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {at}, currentTimestampInMillis: {now}"
                    )));
                }
                self.inner
                    .log
                    .offset_at_time(shard.log, at)
                    .await?
                    .max(horizon)
            }
            (_, Some(text)) => {
                let invalid = |why: &str| {
                    StreamsError::InvalidArgument(format!(
                        "StartingSequenceNumber {text} used in {api} on shard {} in stream {} under account {account} is invalid{why}.",
                        shard.id(),
                        stream.name
                    ))
                };
                let seq = SequenceNumber::parse(text).ok_or_else(|| invalid(""))?;
                if seq.shard_index() != shard.row.index {
                    return Err(StreamsError::InvalidArgument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        crate::arn::shard_id(seq.shard_index()),
                        shard.id()
                    )));
                }
                if seq.shard_created_ms() != shard.row.created_ms {
                    return Err(invalid(" because it did not come from this stream"));
                }
                // Only numbers already issued (or boundaries that exist) can position a reader.
                if seq.after_offset() > next {
                    return Err(invalid(""));
                }
                let at = if kind == "AT_SEQUENCE_NUMBER" {
                    seq.at_offset()
                } else {
                    seq.after_offset()
                };
                at.max(horizon)
            }
            _ => return Err(either_or("no")),
        };
        Ok(offset)
    }

    pub async fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput> {
        let started = self.config().clock.elapsed();
        let it = self
            .inner
            .iterators
            .decode(&input.shard_iterator)
            .ok_or_else(|| StreamsError::InvalidArgument("Invalid ShardIterator.".into()))?;
        let now = self.now_ms();
        if now - it.issued_ms > ITERATOR_TTL_MS {
            return Err(StreamsError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} milliseconds.",
                amz_time(it.issued_ms),
                amz_time(now)
            )));
        }
        let account = &self.config().account_id;
        let shard_gone = || {
            StreamsError::ResourceNotFound(format!(
                "Shard {} in stream {} under account {account} does not exist",
                crate::arn::shard_id(it.shard_index),
                it.stream_name
            ))
        };
        // The uid tells a stream from a later one of the same name, whose shards are others.
        let stream = match self.inner.streams.read().by_uid.get(&it.stream_uid) {
            Some(s) if matches!(s.status(), Status::Active | Status::Updating) => s.clone(),
            _ => return Err(shard_gone()),
        };
        if let Some(arn) = &input.stream_arn
            && *arn != stream.arn
        {
            return Err(StreamsError::InvalidArgument(format!(
                "StreamARN {arn} does not match the stream of the shard iterator."
            )));
        }
        let state = stream.snapshot();
        let mut bytes = 0;
        let result = async {
            let shard = state.shard(it.shard_index).ok_or_else(shard_gone)?;
            let limits = self.config().enforce_limits.then_some(&shard.limits);
            if let Some(limits) = limits
                && !limits.admit_read(self.config().clock.elapsed())
            {
                stream.metrics.read_exceeded.inc();
                shard.metrics.read_exceeded.inc();
                return Err(StreamsError::ProvisionedThroughputExceeded(format!(
                    "Rate exceeded for Shard - {account}/{}/{}",
                    stream.name,
                    shard.id()
                )));
            }
            let limit = input.limit.unwrap_or(GET_RECORDS_DEFAULT_LIMIT).max(1) as usize;
            let batch = self
                .read_batch(&state, shard, it.offset, limit, GET_RECORDS_MAX_BYTES)
                .await?;
            if let Some(limits) = limits {
                limits.charge_read(self.config().clock.elapsed(), batch.bytes);
            }
            // The age of the last record read, or none when the reader is at the tip.
            let age = batch.records.last().map_or(0, |r| {
                (now - r.approximate_arrival_timestamp.as_millis()).max(0)
            });
            shard
                .metrics
                .iterator_age(self.config().clock.elapsed(), age as u64);
            bytes = batch.bytes;
            let next_shard_iterator = match batch.child_shards {
                Some(_) => None,
                None => Some(self.iterator(&stream, shard, batch.after)),
            };
            Ok(GetRecordsOutput {
                records: batch.records,
                next_shard_iterator,
                millis_behind_latest: batch.millis_behind_latest,
                child_shards: batch.child_shards,
            })
        }
        .await;
        let m = &stream.metrics;
        let took = self.config().clock.elapsed().saturating_sub(started);
        m.get_records.finished(took, result.is_ok());
        if let Ok(out) = &result {
            m.get_records.bytes.add(bytes);
            m.get_records_records.add(out.records.len() as u64);
        }
        result
    }

    /// Reads the next records of a shard from `from` (moved up to the trim horizon), as
    /// GetRecords and SubscribeToShard deliver them.
    pub(crate) async fn read_batch(
        &self,
        state: &StreamState,
        shard: &ShardState,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Batch> {
        let (horizon, next) = self.shard_window(state, shard).await?;
        let from = from.max(horizon);
        let records = self
            .inner
            .log
            .read(shard.log, from, limit, max_bytes)
            .await?;
        let after = records.last().map_or(from, |r| r.offset + 1);
        let millis_behind_latest = if after >= next {
            0
        } else {
            records
                .last()
                .map_or(0, |r| (self.now_ms() - r.arrival_ms).max(0))
        };
        shard.metrics.outgoing_records.add(records.len() as u64);
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record {
                sequence_number: shard.sequence(r.offset).to_string(),
                approximate_arrival_timestamp: Timestamp::from_millis(r.arrival_ms),
                data: Blob(r.data),
                partition_key: r.partition_key,
                // Each record says how it was stored, as on AWS across Start/StopStreamEncryption.
                encryption_type: r.sealed.then(|| "KMS".to_string()),
            })
            .collect();
        let bytes = records_size(&records);
        shard.metrics.outgoing_bytes.add(bytes);
        // A closed shard read to its end points the reader at its children, as AWS does.
        let drained = shard.row.closed_next_offset.is_some_and(|end| after >= end);
        Ok(Batch {
            records,
            bytes,
            after,
            millis_behind_latest,
            child_shards: drained.then(|| child_shards(state, shard)),
        })
    }

    /// Whether a record of `bytes` may be written to the shard now: always, unless limits are
    /// enforced and the shard's budget is spent (then counted as throttled).
    fn admit_write(&self, stream: &Stream, shard: &ShardState, bytes: u64) -> bool {
        if !self.config().enforce_limits
            || shard
                .limits
                .admit_write(self.config().clock.elapsed(), bytes)
        {
            return true;
        }
        stream.metrics.write_exceeded.inc();
        shard.metrics.write_exceeded.inc();
        false
    }

    /// AWS's words for a write over a shard's limits.
    fn write_rate_exceeded(&self, stream: &Stream, shard: &ShardState) -> String {
        format!(
            "Rate exceeded for shard {} in stream {} under account {}.",
            shard.id(),
            stream.name,
            self.config().account_id
        )
    }

    /// The open shard that owns a hash key. Open shards tile the hash space, so this only fails
    /// if the catalog is damaged.
    fn route<'a>(
        &self,
        stream: &Stream,
        state: &'a StreamState,
        key: u128,
    ) -> Result<&'a ShardState> {
        state.route(key).ok_or_else(|| {
            StreamsError::ResourceNotFound(format!(
                "No open shard of stream {} under account {} owns hash key {key}.",
                stream.name,
                self.config().account_id
            ))
        })
    }

    /// The offsets a reader may see now: from the trim horizon (the first record still within
    /// the retention period) to the next offset to be written.
    async fn shard_window(&self, state: &StreamState, shard: &ShardState) -> Result<(u64, u64)> {
        let log = &self.inner.log;
        let (_, next) = log.bounds(shard.log).await?;
        let cutoff = self.now_ms() - state.row.retention_hours * 3_600_000;
        // From the index, not a record: an encrypted stream's window needs no decryption.
        let horizon = log.offset_at_time(shard.log, cutoff).await?;
        Ok((horizon.min(next), next))
    }

    fn iterator(&self, stream: &Arc<Stream>, shard: &ShardState, offset: u64) -> String {
        self.inner.iterators.encode(&ShardIterator {
            stream_name: stream.name.clone(),
            stream_uid: stream.uid,
            shard_index: shard.row.index,
            offset,
            issued_ms: self.now_ms(),
        })
    }
}

/// Records' size as AWS meters it: data and partition keys.
fn records_size(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| (r.data.0.len() + r.partition_key.len()) as u64)
        .sum()
}

fn child_shards(state: &StreamState, parent: &ShardState) -> Vec<ChildShard> {
    state
        .shards
        .iter()
        .filter(|c| {
            c.row.parent_index == Some(parent.row.index)
                || c.row.adjacent_parent_index == Some(parent.row.index)
        })
        .map(|c| ChildShard {
            shard_id: c.id(),
            parent_shards: c.parents().map(crate::arn::shard_id).collect(),
            hash_key_range: HashKeyRange {
                starting_hash_key: c.range.start.to_string(),
                ending_hash_key: c.range.end.to_string(),
            },
        })
        .collect()
}

/// A record's size counts its data and its partition key, against the stream's maximum.
fn check_record_size(state: &StreamState, data_len: usize, partition_key: &str) -> Result<()> {
    let max = state.row.max_record_size_kib as usize * 1024;
    let size = data_len + partition_key.len();
    if size > max {
        return Err(StreamsError::InvalidArgument(format!(
            "Record size {size} bytes exceeds the maximum record size of {} KiB for stream {}.",
            state.row.max_record_size_kib, state.row.name
        )));
    }
    Ok(())
}

fn hash_key(explicit: Option<&str>, partition_key: &str) -> Result<u128> {
    match explicit {
        Some(text) => text.parse::<u128>().map_err(|_| {
            StreamsError::InvalidArgument(format!(
                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {text}"
            ))
        }),
        None => Ok(partition_hash(partition_key)),
    }
}

/// AWS's time format in iterator errors: `Thu Jan 22 01:22:02 UTC 2015`.
fn amz_time(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm) for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn amz_time_matches_aws_format() {
        assert_eq!(
            super::amz_time(1_421_889_722_000),
            "Thu Jan 22 01:22:02 UTC 2015"
        );
        assert_eq!(super::amz_time(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            super::amz_time(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
    }
}
