//! The hot paths of the record operations' JSON answers (GetRecords, PutRecords): written
//! straight into one buffer sized up front, each record's data base64-encoded in place. serde's
//! path builds a token per record, checks it again as JSON, copies it, scans every string byte by
//! byte for escapes and grows the buffer by doubling; those were a third of a GetRecords' CPU.
//! Strings that need no escaping (sequence numbers, shard ids, almost every partition key) are
//! copied as they are; any other string, and every number, still goes through serde_json, so the
//! bytes are identical to serde's (property tests hold the two to that).
//! Public so the micro-benchmarks can measure it.

use freshet_streams::model::{GetRecordsOutput, PutRecordsOutput, PutRecordsResultEntry, Record};

/// Fixed bytes of a record besides its strings and data (member names, quotes, the timestamp).
const RECORD_OVERHEAD: usize = 120;

/// GetRecords' answer as AWS JSON 1.1, the same bytes `serde_json::to_vec` gives.
pub fn get_records(out: &GetRecordsOutput) -> Vec<u8> {
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
    buf.extend_from_slice(b"{\"Records\":");
    array(&mut buf, &out.records, write_record);
    if let Some(iterator) = &out.next_shard_iterator {
        buf.extend_from_slice(b",\"NextShardIterator\":");
        string(&mut buf, iterator);
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
    string(buf, &record.sequence_number);
    buf.extend_from_slice(b",\"ApproximateArrivalTimestamp\":");
    json(buf, &record.approximate_arrival_timestamp);
    // Base64 text is never escaped: it goes in as is.
    buf.extend_from_slice(b",\"Data\":\"");
    base64_simd::STANDARD.encode_append(&record.data.0, buf);
    buf.extend_from_slice(b"\",\"PartitionKey\":");
    string(buf, &record.partition_key);
    if let Some(kind) = &record.encryption_type {
        buf.extend_from_slice(b",\"EncryptionType\":");
        string(buf, kind);
    }
    buf.push(b'}');
}

/// Fixed bytes of a PutRecords result entry besides its strings.
const ENTRY_OVERHEAD: usize = 40;

/// PutRecords' answer as AWS JSON 1.1, the same bytes `serde_json::to_vec` gives.
pub fn put_records(out: &PutRecordsOutput) -> Vec<u8> {
    let len = |s: Option<&str>| s.map_or(0, str::len);
    let size: usize = out
        .records
        .iter()
        .map(|e| {
            len(e.sequence_number.as_deref())
                + len(e.shard_id.as_deref())
                + len(e.error_code.as_deref())
                + len(e.error_message.as_deref())
                + ENTRY_OVERHEAD
        })
        .sum::<usize>()
        + out.encryption_type.len()
        + 80;
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(b"{\"FailedRecordCount\":");
    json(&mut buf, &out.failed_record_count);
    buf.extend_from_slice(b",\"Records\":");
    array(&mut buf, &out.records, write_entry);
    buf.extend_from_slice(b",\"EncryptionType\":");
    string(&mut buf, &out.encryption_type);
    buf.push(b'}');
    buf
}

fn write_entry(buf: &mut Vec<u8>, entry: &PutRecordsResultEntry) {
    buf.push(b'{');
    let members = [
        ("SequenceNumber", entry.sequence_number.as_deref()),
        ("ShardId", entry.shard_id.as_deref()),
        ("ErrorCode", entry.error_code.as_deref()),
        ("ErrorMessage", entry.error_message.as_deref()),
    ];
    let mut first = true;
    for (name, value) in members {
        let Some(value) = value else { continue };
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.push(b'"');
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(b"\":");
        string(buf, value);
    }
    buf.push(b'}');
}

fn array<T>(buf: &mut Vec<u8>, items: &[T], write: fn(&mut Vec<u8>, &T)) {
    buf.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write(buf, item);
    }
    buf.push(b']');
}

/// Appends `s` as a JSON string. serde_json escapes exactly the control characters, `"` and `\\`;
/// a string without them is copied as it is (one pass without an early exit, which the compiler
/// vectorizes), any other goes through serde_json.
fn string(buf: &mut Vec<u8>, s: &str) {
    let escapes = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if !escapes {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        json(buf, s);
    }
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
                partition_key: key.into(),
                encryption_type: kind,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn get_records_same_bytes_as_serde(
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
            prop_assert_eq!(get_records(&out), serde_json::to_vec(&out).unwrap());
        }

        #[test]
        fn put_records_same_bytes_as_serde(
            entries in proptest::collection::vec((
                proptest::option::of("[0-9]{1,56}"),
                proptest::option::of("shardId-[0-9]{12}|.*"),
                proptest::option::of("ProvisionedThroughputExceededException|InternalFailure|.*"),
                proptest::option::of(any::<String>()),
            ), 0..8),
            failed in any::<i64>(),
            kind in "NONE|KMS|.*",
        ) {
            let out = PutRecordsOutput {
                failed_record_count: failed,
                records: entries
                    .into_iter()
                    .map(|(sequence_number, shard_id, error_code, error_message)| {
                        PutRecordsResultEntry {
                            sequence_number: sequence_number.map(Into::into),
                            shard_id: shard_id.map(Into::into),
                            error_code,
                            error_message,
                        }
                    })
                    .collect(),
                encryption_type: kind,
            };
            prop_assert_eq!(put_records(&out), serde_json::to_vec(&out).unwrap());
        }
    }
}
