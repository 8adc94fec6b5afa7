//! Append batches stored outside segment files (cluster mode keeps them in objects): the same
//! checked frames as a segment, with offsets relative to the batch and no arrival time, because
//! a batch is written before its offsets and arrival are assigned (by the commit that indexes
//! it). The reader supplies both from that index.

use bytes::Bytes;

use crate::frame::{self, Decoded, FrameFields};
use crate::{LogError, MAX_DATA_BYTES, MAX_PARTITION_KEY_BYTES, NewRecord, Record};

/// Refuses records a frame cannot hold.
pub fn check_records(records: &[NewRecord]) -> Result<(), LogError> {
    for r in records {
        if r.partition_key.len() > MAX_PARTITION_KEY_BYTES {
            return Err(LogError::InvalidRecord(format!(
                "partition key of {} bytes exceeds {MAX_PARTITION_KEY_BYTES}",
                r.partition_key.len()
            )));
        }
        if r.data.len() > MAX_DATA_BYTES {
            return Err(LogError::InvalidRecord(format!(
                "data of {} bytes exceeds {MAX_DATA_BYTES}",
                r.data.len()
            )));
        }
    }
    Ok(())
}

/// Appends `records` (already checked) to `out` as one batch.
pub fn encode_batch(records: &[NewRecord], out: &mut Vec<u8>) {
    for (i, r) in records.iter().enumerate() {
        frame::encode(
            out,
            &FrameFields {
                offset: i as u64,
                arrival_ms: 0,
                partition_key: &r.partition_key,
                explicit_hash_key: r.explicit_hash_key,
                data: &r.data,
                batch_end: i + 1 == records.len(),
                sealed: r.sealed,
            },
        );
    }
}

/// The records of a batch that `encode_batch` wrote to exactly `buf`, at offsets from
/// `first_offset`, all arrived at `arrival_ms`. `origin` names where the bytes came from in
/// errors.
pub fn decode_batch(
    buf: Bytes,
    first_offset: u64,
    arrival_ms: i64,
    origin: &str,
) -> Result<Vec<Record>, LogError> {
    let corrupt = |pos: usize, reason: &str| LogError::Corrupt {
        path: origin.into(),
        pos: pos as u64,
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match frame::decode(&buf.slice(pos..)) {
            Decoded::Frame { frame, len } => {
                if frame.offset != out.len() as u64 {
                    return Err(corrupt(pos, "batch frames out of order"));
                }
                out.push(Record {
                    offset: first_offset + frame.offset,
                    arrival_ms,
                    partition_key: frame.partition_key,
                    explicit_hash_key: frame.explicit_hash_key,
                    data: frame.data,
                    sealed: frame.sealed,
                });
                pos += len;
                if frame.batch_end != (pos == buf.len()) {
                    return Err(corrupt(pos, "batch end mark misplaced"));
                }
            }
            Decoded::Incomplete { .. } => return Err(corrupt(pos, "batch cut short")),
            Decoded::Invalid(reason) => return Err(corrupt(pos, reason)),
            Decoded::UnknownVersion(version) => {
                return Err(LogError::UnsupportedFormat {
                    path: origin.into(),
                    version,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<NewRecord> {
        (0..3)
            .map(|i| NewRecord {
                partition_key: format!("pk{i}").into(),
                explicit_hash_key: (i == 1).then_some(42),
                data: Bytes::from(vec![i as u8; 10 + i]),
                sealed: i == 2,
            })
            .collect()
    }

    #[test]
    fn a_batch_reads_back_at_the_offsets_and_arrival_its_index_gives() {
        let mut buf = Vec::new();
        encode_batch(&records(), &mut buf);
        let got = decode_batch(Bytes::from(buf), 100, 7, "object").unwrap();
        assert_eq!(
            got.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [100, 101, 102]
        );
        for (got, want) in got.iter().zip(records()) {
            assert_eq!(got.arrival_ms, 7);
            assert_eq!(got.partition_key, want.partition_key);
            assert_eq!(got.explicit_hash_key, want.explicit_hash_key);
            assert_eq!(got.data, want.data);
            assert_eq!(got.sealed, want.sealed);
        }
    }

    #[test]
    fn a_cut_or_damaged_batch_is_an_error_never_fewer_records() {
        let mut buf = Vec::new();
        encode_batch(&records(), &mut buf);
        let whole = Bytes::from(buf);
        // Cut at a frame boundary: the batch end mark is missing.
        let first_len = decode_batch(whole.clone(), 0, 0, "o").unwrap()[0]
            .data
            .len();
        assert!(first_len > 0);
        for cut in [1, whole.len() / 2, whole.len() - 1] {
            assert!(matches!(
                decode_batch(whole.slice(..cut), 0, 0, "o"),
                Err(LogError::Corrupt { .. })
            ));
        }
        let mut flipped = whole.to_vec();
        flipped[20] ^= 1;
        assert!(decode_batch(Bytes::from(flipped), 0, 0, "o").is_err());
    }
}
