//! The hot path of PutRecords: the body is decoded straight into typed records (no JSON tree),
//! checked against the same model constraints as every request, and handed to the service. When
//! anything is off — a JSON type, a missing member, a constraint — it gives up and the request
//! takes the generic path, which finds the problem again and words AWS's exact error. So the
//! fast path changes the cost of good requests and nothing about bad ones.
//! Public so the micro-benchmarks and the `json_request` fuzz target can hold it to that.

use std::borrow::Cow;

use bytes::Bytes;
use freshet_streams::model::{Blob, PutRecordsInput, PutRecordsRequestEntry, StreamRef};
use serde::Deserialize;

use crate::shape::Model;
use crate::validate::{base64_tail_ok, blob_len_ok, list_len_ok, scalar_ok};

// Unknown members are refused, not skipped: serde_json skips them without checking their UTF-8,
// which the generic path's JSON tree does check (found by the json_request fuzz target). No SDK
// sends unknown members, so good requests stay on this path.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    stream_name: Option<Cow<'a, str>>,
    #[serde(rename = "StreamARN", borrow)]
    stream_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    records: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Entry<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow)]
    explicit_hash_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    partition_key: Cow<'a, str>,
}

/// The typed PutRecords request if the body is well-formed and satisfies the model, else None.
pub fn put_records(model: &Model, body: &[u8]) -> Option<PutRecordsInput> {
    let request: Request = serde_json::from_slice(body).ok()?;
    let ok = |shape: &str, value: &Option<Cow<str>>| {
        value.as_deref().is_none_or(|v| scalar_ok(model, shape, v))
    };
    if !list_len_ok(model, "PutRecordsRequestEntryList", request.records.len())
        || !ok("StreamName", &request.stream_name)
        || !ok("StreamARN", &request.stream_arn)
    {
        return None;
    }
    let mut records = Vec::with_capacity(request.records.len());
    for entry in request.records {
        if !scalar_ok(model, "PartitionKey", &entry.partition_key)
            || !ok("HashKey", &entry.explicit_hash_key)
            || !base64_tail_ok(&entry.data)
        {
            return None;
        }
        // Decoding checks the characters, length and padding in the same pass (the generic
        // path checks them separately to word AWS's complaint).
        let data = base64_simd::STANDARD
            .decode_to_vec(entry.data.as_bytes())
            .ok()?;
        if !blob_len_ok(model, "Data", data.len()) {
            return None;
        }
        records.push(PutRecordsRequestEntry {
            data: Blob(Bytes::from(data)),
            explicit_hash_key: entry.explicit_hash_key.map(Cow::into_owned),
            partition_key: entry.partition_key.into_owned(),
        });
    }
    Some(PutRecordsInput {
        stream: StreamRef {
            stream_name: request.stream_name.map(Cow::into_owned),
            stream_arn: request.stream_arn.map(Cow::into_owned),
        },
        records,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec::{Format, decode_request, typed};
    use crate::shape::kinesis;

    fn both(body: serde_json::Value) -> (Option<PutRecordsInput>, Result<PutRecordsInput, String>) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let fast = put_records(kinesis(), &bytes);
        let generic = decode_request(kinesis(), "PutRecords", Format::Json, &bytes)
            .and_then(typed::<PutRecordsInput>)
            .map_err(|e| format!("{}: {:?}", e.aws_type, e.message));
        (fast, generic)
    }

    #[test]
    fn good_requests_decode_to_what_the_generic_path_gives() {
        let (fast, generic) = both(json!({"StreamName": "s", "Records": [
            {"Data": "aGVsbG8=", "PartitionKey": "pk"},
            {"Data": "", "PartitionKey": "k2", "ExplicitHashKey": "170141183460469231731687303715884105728"}]}));
        let (fast, generic) = (fast.unwrap(), generic.unwrap());
        assert_eq!(fast.stream.stream_name, generic.stream.stream_name);
        assert_eq!(fast.records.len(), 2);
        for (a, b) in fast.records.iter().zip(&generic.records) {
            assert_eq!(a.data.0, b.data.0);
            assert_eq!(a.partition_key, b.partition_key);
            assert_eq!(a.explicit_hash_key, b.explicit_hash_key);
        }
        assert_eq!(&fast.records[0].data.0[..], b"hello");
    }

    #[test]
    fn anything_the_generic_path_refuses_is_left_to_it() {
        let bad = [
            json!({"StreamName": "s", "Records": []}),
            json!({"StreamName": "bad name", "Records": [{"Data": "", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "abc", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "", "PartitionKey": ""}]}),
            json!({"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "k", "ExplicitHashKey": "-1"}]}),
            json!({"StreamName": "s", "Records": [{"Data": 5, "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": vec![json!({"Data": "", "PartitionKey": "k"}); 501]}),
            json!({"StreamARN": "nope", "Records": [{"Data": "", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "aGVsbG9=", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "aGVs bG8=", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "aGVsbG8", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "aG=sbG8=", "PartitionKey": "k"}]}),
            json!({"StreamName": "s", "Records": [{"Data": "aGVsbA==\n", "PartitionKey": "k"}]}),
        ];
        for body in bad {
            let (fast, generic) = both(body.clone());
            assert!(fast.is_none(), "fast path accepted {body}");
            assert!(generic.is_err(), "generic path accepted {body}");
        }
    }

    /// Found by the json_request fuzz target: invalid UTF-8 in a member the fast path ignored
    /// was accepted, while the generic path answers SerializationException.
    #[test]
    fn invalid_utf8_in_unknown_members_is_left_to_the_generic_path() {
        for body in [
            &b"{\"Extra\": \"\xa5\", \"StreamName\": \"s\", \"Records\": [{\"Data\": \"\", \"PartitionKey\": \"k\"}]}"[..],
            &b"{\"StreamName\": \"s\", \"Records\": [{\"Extra\": \"\xa5\", \"Data\": \"\", \"PartitionKey\": \"k\"}]}"[..],
        ] {
            assert!(put_records(kinesis(), body).is_none());
            let generic = decode_request(kinesis(), "PutRecords", Format::Json, body);
            assert_eq!(generic.unwrap_err().aws_type, "SerializationException");
        }
    }

    proptest::proptest! {
        /// For any data text, the fast path accepts exactly what the generic path accepts, and
        /// decodes it to the same bytes.
        #[test]
        fn agrees_with_the_generic_path_on_any_data(data in "[A-Za-z0-9+/= ]{0,13}") {
            let (fast, generic) = both(json!({"StreamName": "s", "Records": [
                {"Data": data, "PartitionKey": "k"}]}));
            match (fast, generic) {
                (Some(f), Ok(g)) => proptest::prop_assert_eq!(&f.records[0].data.0, &g.records[0].data.0),
                (None, Err(_)) => {}
                (f, g) => proptest::prop_assert!(false, "fast {:?} vs generic {:?}", f.is_some(), g.is_ok()),
            }
        }
    }
}
