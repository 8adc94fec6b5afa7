//! Request checking against the service model, in AWS's two steps and with its wording:
//! first types (a wrong JSON type is a `SerializationException`, phrased as the Java service
//! phrases it), then constraints (required members, lengths, ranges, patterns and enums, all
//! reported together as one `ValidationException`: "N validation errors detected: ...").

use serde_json::Value;

use crate::error::ApiError;
use crate::shape::{Model, Shape};

/// AWS stops listing constraint violations after ten.
const MAX_REPORTED: usize = 10;

/// Checks and normalizes a request body in place: nulls are dropped (AWS treats them as
/// absent), integral members given as fractions are truncated, unknown members are ignored.
pub fn check_request(model: &Model, shape: &str, body: &mut Value) -> Result<(), ApiError> {
    check_type(model, shape, body)?;
    let mut errors = Vec::new();
    check_constraints(model, shape, body, Path::Root, &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    errors.truncate(MAX_REPORTED);
    Err(ApiError::validation(format!(
        "{n} validation error{} detected: {}",
        if n > 1 { "s" } else { "" },
        errors.join("; ")
    )))
}

fn type_error(message: impl Into<String>) -> ApiError {
    ApiError::serialization(message.into())
}

fn scalar_mismatch(v: &Value, target: &str) -> ApiError {
    match v {
        Value::Array(_) => type_error("Start of list found where not expected"),
        Value::Object(_) => type_error("Start of structure or map found where not expected."),
        Value::Bool(_) => type_error(format!(
            "class java.lang.Boolean can not be converted to {target}"
        )),
        Value::Number(_) => type_error(format!(
            "class java.math.BigDecimal can not be converted to {target}"
        )),
        Value::String(_) => type_error(format!(
            "class java.lang.String can not be converted to {target}"
        )),
        Value::Null => type_error("Unexpected null"),
    }
}

fn check_type(model: &Model, shape_name: &str, v: &mut Value) -> Result<(), ApiError> {
    let Some(shape) = model.shape(shape_name) else {
        return Ok(());
    };
    match shape {
        Shape::Structure { members, .. } => {
            let Value::Object(map) = v else {
                return Err(match v {
                    Value::Array(_) => type_error("Start of list found where not expected"),
                    _ => type_error("Expected null"),
                });
            };
            map.retain(|k, val| !val.is_null() && members.iter().any(|(m, _)| m == k));
            for (name, member_shape) in members {
                if let Some(val) = map.get_mut(name) {
                    check_type(model, member_shape, val)?;
                }
            }
        }
        Shape::List { member, .. } => {
            let Value::Array(items) = v else {
                return Err(match v {
                    Value::Object(_) => {
                        type_error("Start of structure or map found where not expected.")
                    }
                    _ => type_error("Expected list or null"),
                });
            };
            items.retain(|i| !i.is_null());
            for item in items {
                check_type(model, member, item)?;
            }
        }
        Shape::Map { value, .. } => {
            let Value::Object(map) = v else {
                return Err(match v {
                    Value::Array(_) => type_error("Start of list found where not expected"),
                    _ => type_error("Expected map or null"),
                });
            };
            map.retain(|_, val| !val.is_null());
            for val in map.values_mut() {
                check_type(model, value, val)?;
            }
        }
        Shape::String { .. } => {
            if !v.is_string() {
                return Err(scalar_mismatch(v, "an String"));
            }
        }
        Shape::Integer { .. } | Shape::Long { .. } => {
            // The service reads these into Java ints and longs: a number outside their range
            // cannot be deserialized at all (a type error, not a constraint violation), and
            // letting one through would only fail later in the typed request with serde's wording.
            let (target, java, bits) = if matches!(shape, Shape::Integer { .. }) {
                ("an Integer", "int", 32)
            } else {
                ("an Long", "long", 64)
            };
            let Value::Number(n) = v else {
                return Err(scalar_mismatch(v, target));
            };
            let value = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i128::from(i),
                (None, Some(u)) => i128::from(u),
                // Fractions truncate; `as` saturates the (finite) huge ones, caught below.
                (None, None) => n.as_f64().unwrap_or(0.0).trunc() as i128,
            };
            let limit = 1i128 << (bits - 1);
            if !(-limit..limit).contains(&value) {
                return Err(type_error(format!(
                    "Numeric value ({n}) out of range of {java}"
                )));
            }
            if !n.is_i64() {
                *v = Value::from(value as i64);
            }
        }
        Shape::Boolean => match v {
            Value::Bool(_) => {}
            Value::String(s) => {
                return Err(type_error(format!(
                    "'{}' can not be converted to an Boolean",
                    s.to_uppercase()
                )));
            }
            _ => return Err(scalar_mismatch(v, "an Boolean")),
        },
        Shape::Double => {
            if !v.is_number() {
                return Err(scalar_mismatch(v, "a Double"));
            }
        }
        Shape::Blob { .. } => {
            let Value::String(s) = v else {
                return Err(scalar_mismatch(v, "a Blob"));
            };
            check_base64(s)?;
        }
        Shape::Timestamp => {
            if !v.is_number() {
                return Err(scalar_mismatch(v, "milliseconds"));
            }
        }
    }
    Ok(())
}

/// Each byte's 6-bit base64 value, or `INVALID`: a table, since this runs over every byte of
/// every record put.
const INVALID: u8 = 0xff;
static BASE64_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn base64_value(b: u8) -> Option<u8> {
    let v = BASE64_VALUES[b as usize];
    (v != INVALID).then_some(v)
}

/// How many `=` end a base64 text (at most two count as padding).
fn base64_padding(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count()
}

/// Checks a base64 blob the way AWS's Java service words its complaints, without decoding it:
/// this runs on every record of every put, and the typed request decodes each blob once later.
fn check_base64(s: &str) -> Result<(), ApiError> {
    let bad = |why: String| type_error(format!("'{s}' can not be converted to a Blob: {why}"));
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(bad(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            bytes.len()
        )));
    }
    let pad = base64_padding(bytes);
    let body = &bytes[..bytes.len() - pad];
    // Branch-free over the whole body first; the position is only looked for on failure.
    if body
        .iter()
        .fold(0u8, |acc, &b| acc | (BASE64_VALUES[b as usize] & 0x80))
        != 0
        && let Some(pos) = body.iter().position(|&b| base64_value(b).is_none())
    {
        let c = s[pos..].chars().next().unwrap_or('?');
        return Err(bad(format!("Invalid Base64 character: '{c}'")));
    }
    if !base64_tail_ok(s) {
        return Err(bad("Invalid last non-pad Base64 character dectected".into()));
    }
    Ok(())
}

/// The length of the bytes a (valid) base64 text decodes to.
fn base64_decoded_len(s: &str) -> usize {
    let pad = base64_padding(s.as_bytes());
    (s.len() / 4 * 3).saturating_sub(pad)
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How AWS prints a value in a constraint message.
fn show(model: &Model, shape: &str, v: &Value) -> String {
    match (model.shape(shape), v) {
        (_, Value::Null) => "null".into(),
        (Some(Shape::Blob { .. }), Value::String(s)) => {
            let n = base64_decoded_len(s);
            format!("'java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]'")
        }
        (Some(Shape::List { member, .. }), Value::Array(items)) => format!(
            "'[{}]'",
            items
                .iter()
                .map(|i| show_bare(model, member, i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (Some(Shape::Map { value, .. }), Value::Object(map)) => format!(
            "'{{{}}}'",
            map.iter()
                .map(|(k, v)| format!("{k}={}", show_bare(model, value, v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("'{}'", show_bare(model, shape, v)),
    }
}

fn show_bare(model: &Model, shape: &str, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(_) if matches!(model.shape(shape), Some(Shape::List { .. })) => {
            show(model, shape, v).trim_matches('\'').to_string()
        }
        Value::Array(_) => v.to_string(),
        Value::Object(_) => v.to_string(),
    }
}

/// The constraints a scalar shape states, in the order AWS lists them.
fn scalar_rules(shape: &Shape) -> Vec<String> {
    let mut rules = Vec::new();
    match shape {
        Shape::String {
            min,
            max,
            pattern,
            enumeration,
        } => {
            if let Some(e) = enumeration {
                rules.push(format!(
                    "Member must satisfy enum value set: [{}]",
                    e.join(", ")
                ));
            }
            if let Some(m) = max {
                rules.push(format!("Member must have length less than or equal to {m}"));
            }
            if let Some(m) = min {
                rules.push(format!(
                    "Member must have length greater than or equal to {m}"
                ));
            }
            if let Some((p, _)) = pattern {
                rules.push(format!(
                    "Member must satisfy regular expression pattern: {p}"
                ));
            }
        }
        Shape::Integer { min, max } | Shape::Long { min, max } => {
            if let Some(m) = max {
                rules.push(format!("Member must have value less than or equal to {m}"));
            }
            if let Some(m) = min {
                rules.push(format!(
                    "Member must have value greater than or equal to {m}"
                ));
            }
        }
        _ => {}
    }
    rules
}

/// AWS's messages for a length (of a string, blob, list or map) outside its bounds.
fn length_violations(len: usize, min: Option<i64>, max: Option<i64>) -> Vec<String> {
    let len = len as i64;
    let mut out = Vec::new();
    if let Some(m) = min.filter(|m| len < *m) {
        out.push(format!(
            "Member must have length greater than or equal to {m}"
        ));
    }
    if let Some(m) = max.filter(|m| len > *m) {
        out.push(format!("Member must have length less than or equal to {m}"));
    }
    out
}

/// Whether a string or blob (given as its base64 text) satisfies everything the generic checks
/// would test for its model shape. Fast request paths use it to decide when they may skip those
/// checks; on `false` they fall back to the generic path, which words the error.
pub fn scalar_ok(model: &Model, shape: &str, s: &str) -> bool {
    match model.shape(shape) {
        Some(Shape::String {
            min,
            max,
            pattern,
            enumeration,
        }) => {
            pattern.as_ref().is_none_or(|(_, re)| re.is_match(s))
                && length_violations(s.chars().count(), *min, *max).is_empty()
                && enumeration
                    .as_ref()
                    .is_none_or(|e| e.iter().any(|x| x == s))
        }
        Some(Shape::Blob { min, max }) => {
            check_base64(s).is_ok()
                && length_violations(base64_decoded_len(s), *min, *max).is_empty()
        }
        _ => false,
    }
}

/// Whether a decoded blob's length is within its model shape's bounds.
pub fn blob_len_ok(model: &Model, shape: &str, len: usize) -> bool {
    matches!(model.shape(shape), Some(Shape::Blob { min, max })
        if length_violations(len, *min, *max).is_empty())
}

/// Whether a base64 text's last data character carries no bits beyond the data: with padding,
/// those bits must be zero (AWS refuses such text; a decoder may not).
pub fn base64_tail_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let pad = base64_padding(bytes);
    let spare_bits = [0u8, 0b11, 0b1111][pad];
    bytes[..bytes.len() - pad]
        .last()
        .is_none_or(|&last| base64_value(last).unwrap_or(0) & spare_bits == 0)
}

/// Whether a list length is within its model shape's bounds.
pub fn list_len_ok(model: &Model, shape: &str, len: usize) -> bool {
    matches!(model.shape(shape), Some(Shape::List { min, max, .. })
        if length_violations(len, *min, *max).is_empty())
}

/// The constraint messages a scalar value violates.
fn scalar_violations(shape: &Shape, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match (shape, v) {
        (
            Shape::String {
                min,
                max,
                pattern,
                enumeration,
            },
            Value::String(s),
        ) => {
            if let Some((p, re)) = pattern
                && !re.is_match(s)
            {
                out.push(format!(
                    "Member must satisfy regular expression pattern: {p}"
                ));
            }
            out.extend(length_violations(s.chars().count(), *min, *max));
            if let Some(e) = enumeration
                && !e.iter().any(|x| x == s)
            {
                out.push(format!(
                    "Member must satisfy enum value set: [{}]",
                    e.join(", ")
                ));
            }
        }
        (Shape::Integer { min, max } | Shape::Long { min, max }, Value::Number(n)) => {
            let x = n.as_i64().unwrap_or(i64::MAX);
            if let Some(m) = min.filter(|m| x < *m) {
                out.push(format!(
                    "Member must have value greater than or equal to {m}"
                ));
            }
            if let Some(m) = max.filter(|m| x > *m) {
                out.push(format!("Member must have value less than or equal to {m}"));
            }
        }
        (Shape::Blob { min, max }, Value::String(s)) => {
            out.extend(length_violations(base64_decoded_len(s), *min, *max));
        }
        _ => {}
    }
    out
}

/// Where a value sits in the request, as AWS names it in messages (`records.2.member.data`).
/// Built as a chain on the stack and rendered only when there is an error to report, since the
/// walk visits every member of every record.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Member(Path::Root, name) => write!(f, "{}", lower_first(name)),
            Path::Member(parent, name) => write!(f, "{parent}.{}", lower_first(name)),
            Path::Item(parent, i) => write!(f, "{parent}.{}.member", i + 1),
        }
    }
}

fn check_constraints(
    model: &Model,
    shape_name: &str,
    v: &Value,
    path: Path<'_>,
    errors: &mut Vec<String>,
) {
    let Some(shape) = model.shape(shape_name) else {
        return;
    };
    let mut push = |msg: String, shown: String| {
        errors.push(format!(
            "Value {shown} at '{path}' failed to satisfy constraint: {msg}"
        ));
    };
    match shape {
        Shape::Structure { members, required } => {
            for (name, member_shape) in members {
                let member_path = Path::Member(&path, name);
                match v.get(name) {
                    None if required.contains(name) => errors.push(format!(
                        "Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                    )),
                    None => {}
                    Some(val) => check_constraints(model, member_shape, val, member_path, errors),
                }
            }
        }
        Shape::List { member, min, max } => {
            let Value::Array(items) = v else { return };
            for msg in length_violations(items.len(), *min, *max) {
                push(msg, show(model, shape_name, v));
            }
            match model.shape(member) {
                Some(Shape::Structure { .. }) => {
                    for (i, item) in items.iter().enumerate() {
                        check_constraints(model, member, item, Path::Item(&path, i), errors);
                    }
                }
                // Constraints on scalar list members are reported once, for the whole list.
                Some(member_shape)
                    if items
                        .iter()
                        .any(|i| !scalar_violations(member_shape, i).is_empty()) =>
                {
                    let rules = scalar_rules(member_shape).join(", ");
                    push(
                        format!("Member must satisfy constraint: [{rules}]"),
                        show(model, shape_name, v),
                    );
                }
                _ => {}
            }
        }
        Shape::Map {
            key,
            value,
            min,
            max,
        } => {
            let Value::Object(map) = v else { return };
            for msg in length_violations(map.len(), *min, *max) {
                push(msg, show(model, shape_name, v));
            }
            if let Some(key_shape) = model.shape(key)
                && map
                    .keys()
                    .any(|k| !scalar_violations(key_shape, &Value::String(k.clone())).is_empty())
            {
                let rules = scalar_rules(key_shape).join(", ");
                push(
                    format!("Map keys must satisfy constraint: [{rules}]"),
                    show(model, shape_name, v),
                );
            }
            if let Some(value_shape) = model.shape(value)
                && map
                    .values()
                    .any(|val| !scalar_violations(value_shape, val).is_empty())
            {
                let rules = scalar_rules(value_shape).join(", ");
                push(
                    format!("Map value must satisfy constraint: [{rules}]"),
                    show(model, shape_name, v),
                );
            }
        }
        _ => {
            for msg in scalar_violations(shape, v) {
                push(msg, show(model, shape_name, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::kinesis;
    use serde_json::json;

    fn check(op_input: &str, mut body: Value) -> Result<Value, ApiError> {
        check_request(kinesis(), op_input, &mut body).map(|_| body)
    }

    #[test]
    fn missing_and_malformed_members_are_listed_in_model_order() {
        let err = check("PutRecordInput", json!({"StreamName": "a b", "Data": ""})).unwrap_err();
        assert_eq!(err.aws_type, "ValidationException");
        assert_eq!(
            err.message.as_deref(),
            Some(
                "2 validation errors detected: Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value null at 'partitionKey' failed to satisfy constraint: Member must not be null"
            )
        );
    }

    #[test]
    fn ranges_lengths_and_enums() {
        let err = check(
            "CreateStreamInput",
            json!({"StreamName": "", "ShardCount": 0}),
        )
        .unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some(
                "3 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )
        );
        let err = check(
            "GetShardIteratorInput",
            json!({"StreamName": "s", "ShardId": "x", "ShardIteratorType": "NOPE"}),
        )
        .unwrap_err();
        assert!(err.message.unwrap().contains("Value 'NOPE' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"));
    }

    #[test]
    fn nested_list_members_have_indexed_paths() {
        let err = check("PutRecordsInput", json!({"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "k"}, {"Data": ""}]})).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some(
                "1 validation error detected: Value null at 'records.2.member.partitionKey' failed to satisfy constraint: Member must not be null"
            )
        );
        let err = check(
            "EnableEnhancedMonitoringInput",
            json!({"StreamName": "s", "ShardLevelMetrics": ["Bad"]}),
        )
        .unwrap_err();
        assert!(err.message.unwrap().starts_with("1 validation error detected: Value '[Bad]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: ["));
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        let err = check(
            "CreateStreamInput",
            json!({"StreamName": "s", "ShardCount": "1"}),
        )
        .unwrap_err();
        assert_eq!(err.aws_type, "SerializationException");
        assert_eq!(
            err.message.as_deref(),
            Some("class java.lang.String can not be converted to an Integer")
        );
        let err = check(
            "PutRecordInput",
            json!({"StreamName": "s", "PartitionKey": "k", "Data": "abc"}),
        )
        .unwrap_err();
        assert_eq!(err.aws_type, "SerializationException");
        assert!(
            err.message
                .unwrap()
                .contains("Base64 encoded length is expected a multiple of 4")
        );
        let err = check("PutRecordsInput", json!({"Records": {}})).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some("Start of structure or map found where not expected.")
        );
    }

    proptest::proptest! {
        /// The decode-free blob check accepts exactly what the base64 decoder accepts, and
        /// computes the decoded length.
        #[test]
        fn blob_check_agrees_with_the_decoder(s in "[A-Za-z0-9+/=]{0,12}") {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(&s);
            proptest::prop_assert_eq!(check_base64(&s).is_ok(), decoded.is_ok(), "{}", s);
            if let Ok(bytes) = decoded {
                proptest::prop_assert_eq!(base64_decoded_len(&s), bytes.len());
            }
        }
    }

    /// Found by the json_request fuzz target: a number beyond the Java type passed the check
    /// and then failed the typed conversion with serde's message.
    #[test]
    fn numbers_outside_a_java_int_are_serialization_errors() {
        for count in [
            json!(18446744073709551615u64),
            json!(2147483648u64),
            json!(-2147483649i64),
            json!(1e300),
        ] {
            let err = check(
                "CreateStreamInput",
                json!({"StreamName": "s", "ShardCount": count}),
            )
            .unwrap_err();
            assert_eq!(err.aws_type, "SerializationException");
            assert_eq!(
                err.message.unwrap(),
                format!("Numeric value ({count}) out of range of int")
            );
        }
        // The edges of the ranges still pass the type check (and reach the constraints).
        let body = check(
            "CreateStreamInput",
            json!({"StreamName": "s", "ShardCount": 2147483647.9}),
        )
        .unwrap();
        assert_eq!(body["ShardCount"], json!(2147483647));
    }

    #[test]
    fn nulls_are_absent_and_fractions_truncate() {
        let body = check(
            "CreateStreamInput",
            json!({"StreamName": "s", "ShardCount": 2.7, "Tags": null, "Extra": 1}),
        )
        .unwrap();
        assert_eq!(body, json!({"StreamName": "s", "ShardCount": 2}));
    }
}
