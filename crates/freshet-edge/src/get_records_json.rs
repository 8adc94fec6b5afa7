//! The hot path of GetRecords' JSON answer: written straight into one buffer sized up front,
//! each record's data base64-encoded in place. serde's path builds a token per record, checks
//! it again as JSON, copies it, scans strings for escapes and grows the buffer by doubling;
//! those were a third of a GetRecords' CPU. Every member that can need escaping, and every
//! number, still goes through serde_json, so the bytes are identical to serde's (a property test
//! holds the two to that).
//! Public so the micro-benchmarks can measure it.

use freshet_streams::model::{GetRecordsOutput, Record};

/// Fixed bytes of a record besides its strings and data (member names, quotes, the timestamp).
const RECORD_OVERHEAD: usize = 120;

/// GetRecords' answer as AWS JSON 1.1, the same bytes `serde_json::to_vec` gives.
pub fn encode(out: &GetRecordsOutput) -> Vec<u8> {
    let size: usize = out
        .records
        .iter()
        .map(|r| {
            r.data.0.len().div_ceil(3) * 4
                + r.sequence_number.len()
                + r.partition_key.len()
                + RECORD_OVERHEAD
        })
        .sum::<usize>()
        + out.next_shard_iterator.as_ref().map_or(0, String::len)
        + 256;
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(b"{\"Records\":[");
    for (i, record) in out.records.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_record(&mut buf, record);
    }
    buf.push(b']');
    if let Some(iterator) = &out.next_shard_iterator {
        buf.extend_from_slice(b",\"NextShardIterator\":");
        json(&mut buf, iterator);
    }
    buf.extend_from_slice(b",\"MillisBehindLatest\":");
    json(&mut buf, &out.millis_behind_latest);
    if let Some(children) = &out.child_shards {
        buf.extend_from_slice(b",\"ChildShards\":");
        json(&mut buf, children);
    }
    buf.push(b'}');
    buf
}

fn write_record(buf: &mut Vec<u8>, record: &Record) {
    buf.extend_from_slice(b"{\"SequenceNumber\":");
    json(buf, &record.sequence_number);
    buf.extend_from_slice(b",\"ApproximateArrivalTimestamp\":");
    json(buf, &record.approximate_arrival_timestamp);
    // Base64 text is never escaped: it goes in as is.
    buf.extend_from_slice(b",\"Data\":\"");
    base64_simd::STANDARD.encode_append(&record.data.0, buf);
    buf.extend_from_slice(b"\",\"PartitionKey\":");
    json(buf, &record.partition_key);
    if let Some(kind) = &record.encryption_type {
        buf.extend_from_slice(b",\"EncryptionType\":");
        json(buf, kind);
    }
    buf.push(b'}');
}

/// Appends serde_json's form of `value` (escaping, number formatting).
fn json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    // Writing plain values into a Vec cannot fail: there is no I/O and no map with non-string
    // keys among these types.
    let _ = serde_json::to_writer(&mut *buf, value);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use freshet_streams::model::{Blob, ChildShard, HashKeyRange, Timestamp};
    use proptest::prelude::*;

    use super::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            "[0-9]{1,56}",
            0i64..4_000_000_000_000,
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<String>(),
            proptest::option::of("KMS|NONE|\u{0}\"\\\\"),
        )
            .prop_map(|(seq, ms, data, key, kind)| Record {
                sequence_number: seq,
                approximate_arrival_timestamp: Timestamp::from_millis(ms),
                data: Blob(Bytes::from(data)),
                partition_key: key,
                encryption_type: kind,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn same_bytes_as_serde(
            records in proptest::collection::vec(record(), 0..8),
            iterator in proptest::option::of(any::<String>()),
            behind in any::<i64>(),
            children in any::<bool>(),
        ) {
            let out = GetRecordsOutput {
                records,
                next_shard_iterator: iterator,
                millis_behind_latest: behind,
                child_shards: children.then(|| vec![ChildShard {
                    shard_id: "shardId-000000000001".into(),
                    parent_shards: vec!["shardId-000000000000".into()],
                    hash_key_range: HashKeyRange {
                        starting_hash_key: "0".into(),
                        ending_hash_key: "340282366920938463463374607431768211455".into(),
                    },
                }]),
            };
            prop_assert_eq!(encode(&out), serde_json::to_vec(&out).unwrap());
        }
    }
}
