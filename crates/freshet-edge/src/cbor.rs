//! The CBOR form of the AWS JSON 1.1 protocol (`application/x-amz-cbor-1.1`), which the Java
//! SDKs, the KCL and the Flink/Spark connectors send by default. It carries the same documents
//! as the JSON form except that blobs are CBOR byte strings and timestamps are CBOR tag 1 over
//! epoch *milliseconds* (the Java SDKs' `SdkCborGenerator` writes `writeTag(1)` then
//! `date.getTime()`). Requests are converted to the JSON form (blobs to base64, timestamps to
//! epoch seconds) so one validator and one set of types serve both; responses are converted
//! back guided by the output shape, which says which strings are blobs and which numbers are
//! timestamps.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ciborium::value::Value as Cbor;
use serde_json::{Map, Number, Value as Json};

use crate::error::ApiError;
use crate::shape::{Model, Shape};

/// Epoch values above this are milliseconds, below it seconds (1e11 s is the year 5138; 1e11 ms
/// is 1973). Java clients send milliseconds; smithy-style clients send seconds.
const MILLIS_THRESHOLD: f64 = 1e11;

pub fn decode_request(bytes: &[u8]) -> Result<Json, ApiError> {
    if bytes.is_empty() {
        return Ok(Json::Object(Map::new()));
    }
    let value: Cbor = ciborium::de::from_reader(bytes)
        .map_err(|e| ApiError::serialization(format!("Malformed CBOR request body: {e}")))?;
    Ok(to_json(value))
}

fn to_json(v: Cbor) -> Json {
    match v {
        Cbor::Integer(i) => {
            let i: i128 = i.into();
            i64::try_from(i)
                .map(Json::from)
                .or_else(|_| u64::try_from(i).map(Json::from))
                .unwrap_or(Json::Null)
        }
        Cbor::Bytes(b) => Json::String(BASE64.encode(b)),
        Cbor::Float(f) => Number::from_f64(f).map_or(Json::Null, Json::Number),
        Cbor::Text(s) => Json::String(s),
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Null => Json::Null,
        Cbor::Tag(1, inner) => {
            let epoch = match *inner {
                Cbor::Integer(i) => i128::from(i) as f64,
                Cbor::Float(f) => f,
                _ => return Json::Null,
            };
            let seconds = if epoch.abs() >= MILLIS_THRESHOLD {
                epoch / 1000.0
            } else {
                epoch
            };
            Number::from_f64(seconds).map_or(Json::Null, Json::Number)
        }
        Cbor::Tag(_, inner) => to_json(*inner),
        Cbor::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Cbor::Map(entries) => Json::Object(
            entries
                .into_iter()
                .filter_map(|(k, v)| match k {
                    Cbor::Text(k) => Some((k, to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        _ => Json::Null,
    }
}

/// Encodes a JSON-form document as CBOR, following `shape` for blobs and timestamps.
pub fn encode(model: &Model, shape: Option<&str>, value: &Json) -> Vec<u8> {
    let cbor = to_cbor(model, shape, value);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&cbor, &mut out);
    out
}

fn to_cbor(model: &Model, shape: Option<&str>, v: &Json) -> Cbor {
    let shape_def = shape.and_then(|s| model.shape(s));
    match (shape_def, v) {
        (Some(Shape::Blob { .. }), Json::String(s)) => {
            Cbor::Bytes(BASE64.decode(s).unwrap_or_default())
        }
        (Some(Shape::Timestamp), Json::Number(n)) => {
            let millis = (n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            Cbor::Tag(1, Box::new(Cbor::Integer(millis.into())))
        }
        // Members in the model's order, as AWS writes them.
        (Some(Shape::Structure { members, .. }), Json::Object(map)) => Cbor::Map(
            members
                .iter()
                .filter_map(|(name, shape)| {
                    let v = map.get(name)?;
                    Some((Cbor::Text(name.clone()), to_cbor(model, Some(shape), v)))
                })
                .collect(),
        ),
        (Some(Shape::List { member, .. }), Json::Array(items)) => Cbor::Array(
            items
                .iter()
                .map(|i| to_cbor(model, Some(member), i))
                .collect(),
        ),
        (Some(Shape::Map { value, .. }), Json::Object(map)) => Cbor::Map(
            map.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(model, Some(value), v)))
                .collect(),
        ),
        (_, Json::Null) => Cbor::Null,
        (_, Json::Bool(b)) => Cbor::Bool(*b),
        (_, Json::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cbor::Integer(i.into()),
            (None, Some(u)) => Cbor::Integer(u.into()),
            _ => Cbor::Float(n.as_f64().unwrap_or(0.0)),
        },
        (_, Json::String(s)) => Cbor::Text(s.clone()),
        (_, Json::Array(items)) => {
            Cbor::Array(items.iter().map(|i| to_cbor(model, None, i)).collect())
        }
        (_, Json::Object(map)) => Cbor::Map(
            map.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(model, None, v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::kinesis;
    use serde_json::json;

    fn cbor_bytes(v: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    /// A PutRecord as the Java SDK writes it: Data as a byte string.
    #[test]
    fn request_blobs_become_base64_and_timestamps_seconds() {
        let req = Cbor::Map(vec![
            (Cbor::Text("StreamName".into()), Cbor::Text("s".into())),
            (Cbor::Text("Data".into()), Cbor::Bytes(b"hello".to_vec())),
            (Cbor::Text("PartitionKey".into()), Cbor::Text("k".into())),
            (
                Cbor::Text("Timestamp".into()),
                Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000_123i64.into()))),
            ),
            (
                Cbor::Text("Seconds".into()),
                Cbor::Tag(1, Box::new(Cbor::Float(1_700_000_000.5))),
            ),
        ]);
        let json = decode_request(&cbor_bytes(&req)).unwrap();
        assert_eq!(json["Data"], json!("aGVsbG8="));
        assert_eq!(json["Timestamp"].as_f64(), Some(1_700_000_000.123));
        assert_eq!(json["Seconds"].as_f64(), Some(1_700_000_000.5));
    }

    /// Exact bytes of a GetRecords response record, pinned: map of 4, blob as byte string,
    /// timestamp as tag 1 (0xc1) over integer milliseconds.
    #[test]
    fn response_vector_is_pinned() {
        let out = json!({
            "Records": [{
                "SequenceNumber": "1",
                "ApproximateArrivalTimestamp": 1.5,
                "Data": "AAE=",
                "PartitionKey": "k"
            }],
            "MillisBehindLatest": 0
        });
        let bytes = encode(kinesis(), Some("GetRecordsOutput"), &out);
        let expected: Vec<u8> = [
            &[0xa2][..],
            &[0x67],
            b"Records",
            &[0x81, 0xa4],
            &[0x6e],
            b"SequenceNumber",
            &[0x61],
            b"1",
            &[0x78, 0x1b],
            b"ApproximateArrivalTimestamp",
            &[0xc1, 0x19, 0x05, 0xdc],
            &[0x64],
            b"Data",
            &[0x42, 0x00, 0x01],
            &[0x6c],
            b"PartitionKey",
            &[0x61],
            b"k",
            &[0x72],
            b"MillisBehindLatest",
            &[0x00],
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn malformed_cbor_is_a_serialization_error() {
        let err = decode_request(&[0xa1, 0x61]).unwrap_err();
        assert_eq!(err.aws_type, "SerializationException");
    }
}
