//! Records the Kinesis Producer Library aggregated: one Kinesis record holding many user records,
//! as the KPL writes it — the magic bytes `F3 89 9A C2`, a protobuf `AggregatedRecord`, and the
//! MD5 of that protobuf. Consumers that de-aggregate (the KCL, Firehose reading a stream) hand
//! on the user records; a record without the magic, or whose digest or protobuf does not check,
//! is an ordinary record, as the KCL treats it.
//!
//! ```text
//! message AggregatedRecord {
//!   repeated string partition_key_table = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records = 3;
//! }
//! message Record {
//!   required uint64 partition_key_index = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes data = 3;
//!   repeated Tag tags = 4;
//! }
//! ```

use bytes::Bytes;
use md5::{Digest, Md5};

const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST: usize = 16;

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LENGTH: u64 = 2;
const WIRE_FIXED32: u64 = 5;

/// The user records of an aggregated record, in order; None if `data` is not one.
pub fn deaggregate(data: &Bytes) -> Option<Vec<Bytes>> {
    let body = data.get(MAGIC.len()..data.len().checked_sub(DIGEST)?)?;
    if data[..MAGIC.len()] != MAGIC || Md5::digest(body)[..] != data[data.len() - DIGEST..] {
        return None;
    }
    let start = MAGIC.len();
    let mut records = Vec::new();
    for field in Fields::new(body) {
        let (number, value) = field?;
        if let (3, Value::Bytes(record)) = (number, value) {
            let mut user_data = None;
            for inner in Fields::new(record) {
                if let (3, Value::Bytes(bytes)) = inner? {
                    user_data = Some(bytes);
                }
            }
            // Data is a view of the record as stored: no copy.
            let bytes = user_data?;
            let offset = start + (bytes.as_ptr() as usize - body.as_ptr() as usize);
            records.push(data.slice(offset..offset + bytes.len()));
        }
    }
    Some(records)
}

enum Value<'a> {
    Number,
    Bytes(&'a [u8]),
}

/// The fields of a protobuf message: (field number, value); an Err ends a malformed message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Fields<'a> {
        Fields { rest: message }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(taken)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                WIRE_VARINT => self.varint().map(|_| Value::Number)?,
                WIRE_FIXED64 => self.take(8).map(|_| Value::Number)?,
                WIRE_FIXED32 => self.take(4).map(|_| Value::Number)?,
                WIRE_LENGTH => {
                    let len = usize::try_from(self.varint()?).ok()?;
                    Value::Bytes(self.take(len)?)
                }
                _ => return None,
            };
            Some((key >> 3, value))
        })();
        if field.is_none() {
            // Malformed: this item says so and the iteration ends.
            self.rest = &[];
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn length_field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | WIRE_LENGTH, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// What the KPL writes for these user records, each with a partition key index and a tag.
    fn aggregate(records: &[&[u8]]) -> Vec<u8> {
        let mut message = Vec::new();
        length_field(1, b"pk-0", &mut message);
        length_field(2, b"12345", &mut message);
        for (i, data) in records.iter().enumerate() {
            let mut record = Vec::new();
            varint(1 << 3 | WIRE_VARINT, &mut record);
            varint(0, &mut record);
            varint(2 << 3 | WIRE_VARINT, &mut record);
            varint(i as u64, &mut record);
            length_field(3, data, &mut record);
            let mut tag = Vec::new();
            length_field(1, b"k", &mut tag);
            length_field(4, &tag, &mut record);
            length_field(3, &record, &mut message);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&message);
        out.extend_from_slice(&Md5::digest(&message));
        out
    }

    #[test]
    fn aggregated_records_give_their_user_records_in_order() {
        let big = vec![7u8; 300];
        let records: [&[u8]; 3] = [b"first", b"", &big];
        let data = Bytes::from(aggregate(&records));
        let out = deaggregate(&data).unwrap();
        assert_eq!(out.len(), 3);
        for (got, want) in out.iter().zip(records) {
            assert_eq!(&got[..], want);
        }
    }

    #[test]
    fn anything_else_is_an_ordinary_record() {
        let good = aggregate(&[b"x"]);
        // Plain data, too short, a wrong digest, a digest over a malformed protobuf.
        let mut bad_digest = good.clone();
        *bad_digest.last_mut().unwrap() ^= 1;
        let mut truncated_protobuf = MAGIC.to_vec();
        let message = [3 << 3 | 2, 50, 1, 2];
        truncated_protobuf.extend_from_slice(&message);
        truncated_protobuf.extend_from_slice(&Md5::digest(message));
        for data in [
            b"{\"plain\":true}".to_vec(),
            MAGIC.to_vec(),
            bad_digest,
            truncated_protobuf,
        ] {
            assert!(
                deaggregate(&Bytes::from(data.clone())).is_none(),
                "{data:?}"
            );
        }
        // Magic and digest alone: an aggregate of no records.
        let mut empty = MAGIC.to_vec();
        empty.extend_from_slice(&Md5::digest([]));
        assert_eq!(deaggregate(&Bytes::from(empty)), Some(vec![]));
    }
}
