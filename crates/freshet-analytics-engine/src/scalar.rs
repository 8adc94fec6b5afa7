//! KDA's own scalar functions, the ones DataFusion's library does not have (or has with other
//! meanings): `CHAR_TO_TIMESTAMP(format, text)` and `TIMESTAMP_TO_CHAR(format, ts)` with Java
//! `SimpleDateFormat` patterns, `TSDIFF(a, b)` in milliseconds, `UNIX_TIMESTAMP(ts)` and
//! `TO_TIMESTAMP(ms)` on milliseconds since the epoch (DataFusion's `to_timestamp` counts
//! seconds), and `MONOTONIC(x)`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray,
};
use datafusion_common::arrow::datatypes::{DataType, Int64Type, TimestampMillisecondType};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::types::TIMESTAMP;

/// The name of `MONOTONIC`, which planning looks for among GROUP BY keys.
pub(crate) const MONOTONIC: &str = "monotonic";

/// The functions, to be registered over DataFusion's of the same names.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        Kind::CharToTimestamp,
        Kind::TimestampToChar,
        Kind::Tsdiff,
        Kind::UnixTimestamp,
        Kind::ToTimestamp,
        Kind::Monotonic,
    ]
    .into_iter()
    .map(|kind| Arc::new(ScalarUDF::new_from_impl(Kda::new(kind))))
    .chain(crate::logparse::functions())
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    CharToTimestamp,
    TimestampToChar,
    Tsdiff,
    UnixTimestamp,
    ToTimestamp,
    /// `MONOTONIC(x)`: x, declared never to change direction (a GROUP BY key that closes its
    /// groups when it moves on).
    Monotonic,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Kda {
    kind: Kind,
    signature: Signature,
}

impl Kda {
    fn new(kind: Kind) -> Kda {
        let args = match kind {
            Kind::CharToTimestamp => vec![DataType::Utf8, DataType::Utf8],
            Kind::TimestampToChar => vec![DataType::Utf8, TIMESTAMP],
            Kind::Tsdiff => vec![TIMESTAMP, TIMESTAMP],
            Kind::UnixTimestamp => vec![TIMESTAMP],
            Kind::ToTimestamp => vec![DataType::Int64],
            Kind::Monotonic => {
                return Kda {
                    kind,
                    signature: Signature::any(1, Volatility::Immutable),
                };
            }
        };
        Kda {
            kind,
            signature: Signature::exact(args, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Kda {
    fn name(&self) -> &str {
        match self.kind {
            Kind::CharToTimestamp => "char_to_timestamp",
            Kind::TimestampToChar => "timestamp_to_char",
            Kind::Tsdiff => "tsdiff",
            Kind::UnixTimestamp => "unix_timestamp",
            Kind::ToTimestamp => "to_timestamp",
            Kind::Monotonic => MONOTONIC,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Monotonic => arg_types.first().cloned().unwrap_or(DataType::Null),
            Kind::CharToTimestamp | Kind::ToTimestamp => TIMESTAMP,
            Kind::TimestampToChar => DataType::Utf8,
            Kind::Tsdiff | Kind::UnixTimestamp => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.kind == Kind::Monotonic {
            return args
                .args
                .into_iter()
                .next()
                .ok_or_else(|| DataFusionError::Plan("MONOTONIC takes one argument".into()));
        }
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let result: ArrayRef = match self.kind {
            Kind::CharToTimestamp => {
                let (formats, texts) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
                let mut out = Vec::with_capacity(rows);
                let mut pattern = Pattern::default();
                for i in 0..rows {
                    out.push(if formats.is_null(i) || texts.is_null(i) {
                        None
                    } else {
                        Some(pattern.get(formats.value(i))?.parse(texts.value(i))?)
                    });
                }
                Arc::new(TimestampMillisecondArray::from(out))
            }
            Kind::TimestampToChar => {
                let (formats, times) = (
                    arrays[0].as_string::<i32>(),
                    arrays[1].as_primitive::<TimestampMillisecondType>(),
                );
                let mut out = Vec::with_capacity(rows);
                let mut pattern = Pattern::default();
                for i in 0..rows {
                    out.push(if formats.is_null(i) || times.is_null(i) {
                        None
                    } else {
                        Some(pattern.get(formats.value(i))?.format(times.value(i))?)
                    });
                }
                Arc::new(StringArray::from(out))
            }
            Kind::Tsdiff => {
                let (a, b) = (
                    arrays[0].as_primitive::<TimestampMillisecondType>(),
                    arrays[1].as_primitive::<TimestampMillisecondType>(),
                );
                Arc::new(Int64Array::from_iter((0..rows).map(|i| {
                    (!a.is_null(i) && !b.is_null(i)).then(|| a.value(i) - b.value(i))
                })))
            }
            Kind::UnixTimestamp => Arc::new(
                arrays[0]
                    .as_primitive::<TimestampMillisecondType>()
                    .reinterpret_cast::<Int64Type>(),
            ),
            Kind::Monotonic => arrays[0].clone(),
            Kind::ToTimestamp => Arc::new(
                arrays[0]
                    .as_primitive::<Int64Type>()
                    .reinterpret_cast::<TimestampMillisecondType>(),
            ),
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }
}

/// A Java `SimpleDateFormat` pattern translated to chrono's, kept for the next row (a pattern is
/// nearly always a literal).
#[derive(Default)]
struct Pattern {
    java: String,
    chrono: String,
}

impl Pattern {
    fn get(&mut self, java: &str) -> Result<&Pattern> {
        if self.java != java || self.chrono.is_empty() {
            self.chrono = translate(java).map_err(DataFusionError::Execution)?;
            self.java = java.to_string();
        }
        Ok(self)
    }

    fn parse(&self, text: &str) -> Result<i64> {
        let parsed = NaiveDateTime::parse_from_str(text, &self.chrono).or_else(|e| {
            // A pattern with no time of day reads a date at midnight.
            NaiveDate::parse_from_str(text, &self.chrono)
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
                .map_err(|_| e)
        });
        parsed.map(|t| t.and_utc().timestamp_millis()).map_err(|e| {
            DataFusionError::Execution(format!(
                "CHAR_TO_TIMESTAMP: '{text}' does not match the format '{}': {e}",
                self.java
            ))
        })
    }

    fn format(&self, ms: i64) -> Result<String> {
        let time = DateTime::from_timestamp_millis(ms).ok_or_else(|| {
            DataFusionError::Execution(format!("TIMESTAMP_TO_CHAR: {ms} is out of range"))
        })?;
        let mut text = String::new();
        use std::fmt::Write;
        write!(text, "{}", time.naive_utc().format(&self.chrono)).map_err(|_| {
            DataFusionError::Execution(format!(
                "TIMESTAMP_TO_CHAR: the format '{}' cannot be written",
                self.java
            ))
        })?;
        Ok(text)
    }
}

/// `SimpleDateFormat` letters to chrono specifiers: runs of one letter are one field, text in
/// single quotes is literal (`''` is a quote), anything else is copied.
fn translate(java: &str) -> Result<String, String> {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        out.push_str(match (c, n) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('k', _) => "%k",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 1) => "%1f",
            ('S', 2) => "%2f",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('z', _) => "%Z",
            ('Z' | 'X', _) => "%z",
            _ => {
                return Err(format!(
                    "the date format '{java}' has a pattern letter Freshet does not support: {}",
                    c.to_string().repeat(n)
                ));
            }
        });
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_become_chrono_ones() {
        assert_eq!(
            translate("yyyy-MM-dd HH:mm:ss.SSS").as_deref(),
            Ok("%Y-%m-%d %H:%M:%S.%3f")
        );
        assert_eq!(
            translate("dd/MMM/yyyy:hh:mm:ss a 'at' '%'").as_deref(),
            Ok("%d/%b/%Y:%I:%M:%S %p at %%")
        );
        assert!(translate("yyyy-ww").is_err());
    }

    #[test]
    fn timestamps_round_trip_through_text() {
        let mut pattern = Pattern::default();
        let p = pattern.get("yyyy-MM-dd'T'HH:mm:ss.SSS").expect("pattern");
        let ms = p.parse("2018-08-01T20:17:20.797").expect("parses");
        assert_eq!(ms, 1_533_154_640_797);
        assert_eq!(p.format(ms).expect("formats"), "2018-08-01T20:17:20.797");
        let p = pattern.get("yyyy-MM-dd").expect("pattern");
        assert_eq!(p.parse("1970-01-02").expect("date"), 86_400_000);
        assert!(p.parse("yesterday").is_err());
    }
}
