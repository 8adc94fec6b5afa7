//! Writing an output's records to its destination, a Kinesis stream or a delivery stream, in
//! the batches those APIs take, until every record is accepted.

use std::time::Duration;

use bytes::Bytes;
use freshet_firehose::FirehoseService;
use freshet_firehose::model::{Blob as FirehoseBlob, PutRecordBatchInput, RecordInput};
use freshet_runtime::SharedClock;
use freshet_streams::StreamsService;
use freshet_streams::model::{Blob, PutRecordsInput, PutRecordsRequestEntry, StreamRef};

use crate::launch::Source;

/// PutRecords and PutRecordBatch both take at most 500 records a call.
const MAX_RECORDS: usize = 500;
/// Under PutRecords' 5 MiB and PutRecordBatch's 4 MiB.
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A record for an output, with its partition key when the output names one (a Flink table's
/// `PARTITIONED BY` columns); without, records spread over the stream's shards.
#[derive(Clone)]
pub(crate) struct OutputRecord {
    pub data: Bytes,
    pub partition_key: Option<String>,
}

/// Writes one output's records, retrying the ones refused (throughput, a stream being
/// resharded) with a growing pause, until all are in or `stopping` says to give up.
pub(crate) async fn write(
    streams: &StreamsService,
    firehose: &FirehoseService,
    clock: &SharedClock,
    destination: &Source,
    records: Vec<OutputRecord>,
    partition_seed: &mut u64,
    stopping: &(dyn Fn() -> bool + Sync),
) -> Result<(), String> {
    let mut pending = records;
    let mut pause = Duration::from_millis(20);
    while !pending.is_empty() {
        let mut refused = Vec::new();
        for chunk in chunks(&pending) {
            let result = match destination {
                Source::KinesisStream { name } => {
                    put_stream(streams, name, chunk, partition_seed).await
                }
                Source::DeliveryStream { name } => put_delivery(firehose, name, chunk).await,
            };
            match result {
                Ok(failed) => refused.extend(failed.into_iter().map(|i| chunk[i].clone())),
                Err(e) => {
                    tracing::warn!(destination = ?destination, error = %e, "output write failed; retrying");
                    refused.extend(chunk.iter().cloned());
                }
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        if stopping() {
            return Err(format!(
                "{} output record(s) not written before stopping",
                refused.len()
            ));
        }
        clock.sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
        pending = refused;
    }
    Ok(())
}

/// Slices of at most MAX_RECORDS records and about MAX_BYTES.
fn chunks(records: &[OutputRecord]) -> Vec<&[OutputRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < records.len()
            && end - start < MAX_RECORDS
            && (end == start || bytes + records[end].data.len() <= MAX_BYTES)
        {
            bytes += records[end].data.len();
            end += 1;
        }
        out.push(&records[start..end]);
        start = end;
    }
    out
}

/// The indexes of the records the stream refused.
async fn put_stream(
    streams: &StreamsService,
    name: &str,
    chunk: &[OutputRecord],
    seed: &mut u64,
) -> Result<Vec<usize>, String> {
    let records = chunk
        .iter()
        .map(|record| {
            let partition_key = match &record.partition_key {
                Some(key) if !key.is_empty() => key.clone(),
                // Spread over the stream's shards, as a producer without a key of its own does.
                _ => {
                    *seed = seed.wrapping_add(1);
                    seed.to_string()
                }
            };
            PutRecordsRequestEntry {
                data: Blob(record.data.clone()),
                explicit_hash_key: None,
                partition_key: partition_key.into(),
            }
        })
        .collect();
    let input = PutRecordsInput {
        stream: StreamRef {
            stream_name: Some(name.to_string()),
            stream_arn: None,
        },
        records,
    };
    let output = streams
        .put_records(input)
        .await
        .map_err(|e| e.to_string())?;
    Ok(output
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.error_code.is_some())
        .map(|(i, _)| i)
        .collect())
}

async fn put_delivery(
    firehose: &FirehoseService,
    name: &str,
    chunk: &[OutputRecord],
) -> Result<Vec<usize>, String> {
    let input = PutRecordBatchInput {
        delivery_stream_name: name.to_string(),
        records: chunk
            .iter()
            .map(|record| RecordInput {
                data: FirehoseBlob(record.data.to_vec().into()),
            })
            .collect(),
    };
    let output = firehose
        .put_record_batch(input)
        .await
        .map_err(|e| e.to_string())?;
    Ok(output
        .request_responses
        .iter()
        .enumerate()
        .filter(|(_, r)| r.error_code.is_some())
        .map(|(i, _)| i)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_record_and_byte_limits() {
        let record = |size: usize| OutputRecord {
            data: Bytes::from(vec![0u8; size]),
            partition_key: None,
        };
        let records: Vec<OutputRecord> = (0..1200).map(|_| record(10)).collect();
        let sizes: Vec<usize> = chunks(&records).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![500, 500, 200]);
        let big: Vec<OutputRecord> = (0..3).map(|_| record(3 * 1024 * 1024)).collect();
        assert_eq!(
            chunks(&big).iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
    }
}
