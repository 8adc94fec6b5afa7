//! The hot path of PutRecords: the body is decoded straight into typed records (no JSON tree),
//! checked against the same model constraints as every request, and handed to the service. When
//! anything is off — a JSON type, a missing member, a constraint — it gives up and the request
//! takes the generic path, which finds the problem again and words AWS's exact error. So the
//! fast path changes the cost of good requests and nothing about bad ones.
//! Public so the micro-benchmarks and the `json_request` fuzz target can hold it to that.

use std::borrow::Cow;

use base64_simd::STANDARD as BASE64;
use bytes::Bytes;
use bytestring::ByteString;
use freshet_streams::model::{Blob, PutRecordsInput, PutRecordsRequestEntry, StreamRef};
use serde::Deserialize;

use crate::shape::Model;
use crate::validate::{base64_tail_ok, blob_len_ok, list_len_ok, scalar_ok};

// Unknown members are refused, not skipped: serde_json skips them without checking their UTF-8,
// which the generic path's JSON tree does check (found by the json_request fuzz target). No SDK
// sends unknown members, so good requests stay on this path.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    stream_name: Option<Cow<'a, str>>,
    #[serde(rename = "StreamARN", borrow)]
    stream_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    records: Vec<Entry<'a>>,
}

#[derive(Deserialize, Debug, PartialEq)]
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
    let request = scan(body).or_else(|| serde_json::from_slice(body).ok())?;
    let ok = |shape: &str, value: &Option<Cow<str>>| {
        value.as_deref().is_none_or(|v| scalar_ok(model, shape, v))
    };
    if !list_len_ok(model, "PutRecordsRequestEntryList", request.records.len())
        || !ok("StreamName", &request.stream_name)
        || !ok("StreamARN", &request.stream_arn)
    {
        return None;
    }
    // Every key goes into one buffer and all data into another, and each record holds slices
    // of the two: a record costs no allocation of its own here, nor a free on the log's thread
    // when its cache lets it go (together those were an eighth of a put's CPU).
    // Three bytes per four characters at most: sized without reading each text's padding twice.
    let data_len = request.records.iter().map(|e| e.data.len() / 4 * 3).sum();
    let keys_len = request.records.iter().map(|e| e.partition_key.len()).sum();
    let mut keys = String::with_capacity(keys_len);
    let mut data = Vec::with_capacity(data_len);
    let mut ends = Vec::with_capacity(request.records.len());
    for entry in &request.records {
        if !scalar_ok(model, "PartitionKey", &entry.partition_key)
            || !ok("HashKey", &entry.explicit_hash_key)
            || !base64_tail_ok(&entry.data)
        {
            return None;
        }
        keys.push_str(&entry.partition_key);
        let start = data.len();
        // Decoding checks the characters, length and padding in the same pass (the generic
        // path checks them separately to word AWS's complaint).
        BASE64
            .decode_append(entry.data.as_bytes(), &mut data)
            .ok()?;
        if !blob_len_ok(model, "Data", data.len() - start) {
            return None;
        }
        ends.push((keys.len(), data.len()));
    }
    let keys = ByteString::from(keys);
    let data = Bytes::from(data);
    let mut starts = (0, 0);
    let records = request
        .records
        .into_iter()
        .zip(ends)
        .map(|(entry, (key_end, data_end))| {
            let record = PutRecordsRequestEntry {
                data: Blob(data.slice(starts.1..data_end)),
                explicit_hash_key: entry.explicit_hash_key.map(Cow::into_owned),
                partition_key: keys.slice_ref(&keys[starts.0..key_end]),
            };
            starts = (key_end, data_end);
            record
        })
        .collect();
    Some(PutRecordsInput {
        stream: StreamRef {
            stream_name: request.stream_name.map(Cow::into_owned),
            stream_arn: request.stream_arn.map(Cow::into_owned),
        },
        records,
    })
}

/// The common form of a PutRecords body read in one pass: plain strings (no escapes), no nulls, no
/// repeated or unknown members. serde_json checks every string byte by byte for escapes; here a
/// SIMD search finds each string's end, and the data text's characters are left to the base64
/// decoder. Anything else gives None, and serde_json reads the body instead; whatever this
/// accepts, serde_json reads to the same request (a property test holds the two to that).
fn scan(body: &[u8]) -> Option<Request<'_>> {
    let mut s = Scanner { b: body, i: 0 };
    let mut request = Request {
        stream_name: None,
        stream_arn: None,
        records: Vec::new(),
    };
    let mut seen_records = false;
    s.members(|s, key| match key {
        b"StreamName" if request.stream_name.is_none() => {
            request.stream_name = Some(Cow::Borrowed(s.text()?));
            Some(())
        }
        b"StreamARN" if request.stream_arn.is_none() => {
            request.stream_arn = Some(Cow::Borrowed(s.text()?));
            Some(())
        }
        b"Records" if !seen_records => {
            seen_records = true;
            s.eat(b'[')?;
            if s.peek()? == b']' {
                s.i += 1;
                return Some(());
            }
            loop {
                request.records.push(s.entry()?);
                match s.next()? {
                    b',' => {}
                    b']' => return Some(()),
                    _ => return None,
                }
            }
        }
        _ => None,
    })?;
    s.ws();
    (seen_records && s.i == body.len()).then_some(request)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// An object's members, each handed to `member` with the scanner at its value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.raw_string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The bytes of a string without escapes.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// A string without escapes, checked as JSON requires (UTF-8, no control characters).
    fn text(&mut self) -> Option<&'a str> {
        let raw = self.raw_string()?;
        // One pass without an early exit, which the compiler vectorizes (data text is kilobytes):
        // is every byte printable ASCII?
        let odd = raw
            .iter()
            .fold(false, |odd, &c| odd | !(0x20..0x80).contains(&c));
        if !odd {
            // SAFETY: every byte is below 0x80, i.e. ASCII, and ASCII is valid UTF-8.
            return Some(unsafe { std::str::from_utf8_unchecked(raw) });
        }
        if raw.iter().any(|&c| c < 0x20) {
            return None;
        }
        std::str::from_utf8(raw).ok()
    }

    fn entry(&mut self) -> Option<Entry<'a>> {
        let (mut data, mut key, mut hash_key) = (None, None, None);
        self.members(|s, name| {
            let slot = match name {
                b"Data" => &mut data,
                b"PartitionKey" => &mut key,
                b"ExplicitHashKey" => &mut hash_key,
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(s.text()?);
            Some(())
        })?;
        Some(Entry {
            data: Cow::Borrowed(data?),
            explicit_hash_key: hash_key.map(Cow::Borrowed),
            partition_key: Cow::Borrowed(key?),
        })
    }
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

    /// A PutRecords body in many spellings: member order, whitespace, escapes, nulls, repeated and
    /// unknown members, stray bytes; mostly well-formed, so the scanner accepts a good share.
    fn body() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let ws = proptest::sample::select(vec!["", "", " ", "\n\t ", "\r"]);
        let text = prop_oneof![
            30 => "[A-Za-z0-9+/=]{0,12}".prop_map(|t| format!("\"{t}\"")),
            2 => "[ -~]{0,6}".prop_map(|t| serde_json::to_string(&t).unwrap()),
            1 => Just("\"\\u0041b\"".to_string()),
            1 => Just("\"\u{1}\"".to_string()),
            1 => Just("\"é\"".to_string()),
            1 => Just("null".to_string()),
            1 => Just("5".to_string()),
        ];
        let names = |usual: Vec<&'static str>, odd: Vec<&'static str>| {
            prop_oneof![
                12 => Just(usual.clone()).prop_shuffle(),
                1 => proptest::collection::vec(proptest::sample::select(odd), 0..4),
            ]
        };
        let member = |names: BoxedStrategy<Vec<&'static str>>,
                      text: BoxedStrategy<String>,
                      ws: proptest::sample::Select<&'static str>| {
            names.prop_flat_map(move |names: Vec<&'static str>| {
                proptest::collection::vec((text.clone(), ws.clone()), names.len()).prop_map(
                    move |values| {
                        let inner: Vec<String> = names
                            .iter()
                            .zip(values)
                            .map(|(k, (v, w))| format!("{w}\"{k}\"{w}:{w}{v}{w}"))
                            .collect();
                        format!("{{{}}}", inner.join(","))
                    },
                )
            })
        };
        let entry = member(
            prop_oneof![
                names(
                    vec!["Data", "PartitionKey"],
                    vec!["Data", "PartitionKey", "Extra"]
                ),
                names(
                    vec!["Data", "PartitionKey", "ExplicitHashKey"],
                    vec!["ExplicitHashKey", "Data"]
                ),
            ]
            .boxed(),
            text.clone().boxed(),
            ws.clone(),
        );
        let records = proptest::collection::vec(entry, 0..4)
            .prop_map(|entries| format!("[{}]", entries.join(",")))
            .boxed();
        let body = member(
            prop_oneof![
                names(
                    vec!["StreamName", "Records"],
                    vec!["StreamName", "Records", "Other"]
                ),
                names(vec!["StreamARN", "Records"], vec!["StreamARN", "Records"]),
            ]
            .boxed(),
            text.boxed(),
            ws,
        );
        // The member helper gives every member the same kind of value; put the records list in.
        (
            body,
            records,
            prop_oneof![8 => Just(""), 2 => Just(" "), 1 => Just("x"), 1 => Just("}")],
        )
            .prop_map(|(body, records, tail)| {
                let body = match body.find("\"Records\"") {
                    Some(at) => {
                        let colon = at + body[at..].find(':').unwrap_or(0) + 1;
                        let value_end = body[colon..]
                            .find([',', '}'])
                            .map_or(body.len(), |e| colon + e);
                        format!("{}{}{}", &body[..colon], records, &body[value_end..])
                    }
                    None => body,
                };
                format!("{body}{tail}")
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the one-pass scanner accepts, serde_json reads to the same request.
        #[test]
        fn scan_agrees_with_serde(body in body()) {
            if let Some(scanned) = scan(body.as_bytes()) {
                let serde: Result<Request, _> = serde_json::from_str(&body);
                proptest::prop_assert_eq!(Some(scanned), serde.ok(), "{}", body);
            }
        }
    }

    /// The scanner takes the common spelling (else the check above would prove nothing).
    #[test]
    fn scan_takes_sdk_bodies() {
        let body = br#"{"StreamName":"s","Records":[{"Data":"aGk=","PartitionKey":"k"},{"Data":"","PartitionKey":"p","ExplicitHashKey":"7"}]}"#;
        let request = scan(body).unwrap();
        assert_eq!(request.records.len(), 2);
        assert_eq!(request.records[1].explicit_hash_key.as_deref(), Some("7"));
        assert!(
            scan(br#"{"StreamName":"s","Records":[{"Data":"a\u0047k=","PartitionKey":"k"}]}"#)
                .is_none()
        );
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
