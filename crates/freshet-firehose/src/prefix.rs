//! S3 key prefixes with Firehose's expressions: `!{timestamp:<Java DateTimeFormatter pattern>}`,
//! `!{firehose:random-string}`, `!{firehose:error-output-type}` and, with dynamic partitioning,
//! `!{partitionKeyFromQuery:name}` and `!{partitionKeyFromLambda:name}`; checked once when a
//! delivery stream is configured and evaluated for every object written.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use rand::Rng;

/// What a prefix is evaluated for: the records' oldest arrival time and, for error output, why
/// they failed (`processing-failed`, `http-endpoint-failed`, ...).
pub struct Context<'a> {
    pub oldest_arrival: DateTime<Utc>,
    pub error_output_type: Option<&'a str>,
    /// The partition's keys (dynamic partitioning), shared by every record of the object.
    pub keys: Option<&'a PartitionKeys>,
}

/// Where a partition key's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeySource {
    /// The MetadataExtraction processor's jq query.
    Query,
    /// A Lambda processor's `metadata.partitionKeys`.
    Lambda,
}

impl KeySource {
    fn namespace(self) -> &'static str {
        match self {
            KeySource::Query => "partitionKeyFromQuery",
            KeySource::Lambda => "partitionKeyFromLambda",
        }
    }
}

/// A record's partition keys by source and name.
pub type PartitionKeys = BTreeMap<(KeySource, String), String>;

/// The value of one partition key (a record has a few; looked up without allocating).
pub fn key_value<'a>(keys: &'a PartitionKeys, source: KeySource, name: &str) -> Option<&'a str> {
    keys.iter()
        .find(|((s, n), _)| *s == source && n == name)
        .map(|(_, v)| v.as_str())
}

/// The timestamp AWS appends to a prefix that has none, and the default prefix itself.
const DEFAULT_TIME: &str = "!{timestamp:yyyy/MM/dd/HH/}";
/// The evaluated prefix may not be longer than this.
const MAX_EVALUATED: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Time(Vec<Pattern>),
    RandomString,
    ErrorOutputType,
    PartitionKey(KeySource, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Literal(String),
    /// A pattern letter and how many times it repeats (`yyyy` is ('y', 4)).
    Field(char, usize),
}

/// A checked prefix, ready to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    parts: Vec<Part>,
}

/// Why a prefix was refused; the text is AWS's constraint message.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
#[error("The supplied prefix(es) do not satisfy the following constraint: {0}")]
pub struct PrefixError(pub String);

fn refuse(message: impl Into<String>) -> PrefixError {
    PrefixError(message.into())
}

/// The data and error prefixes of one S3 destination, checked together as AWS does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefixes {
    pub data: Prefix,
    pub error: Prefix,
}

impl Prefixes {
    /// `dynamic`: whether dynamic partitioning is enabled, which allows (and demands)
    /// partition key expressions in the data prefix.
    pub fn new(
        prefix: Option<&str>,
        error_prefix: Option<&str>,
        dynamic: bool,
    ) -> Result<Prefixes, PrefixError> {
        let prefix = prefix.unwrap_or_default();
        let error_prefix = error_prefix.filter(|p| !p.is_empty());
        let data = parse(prefix)?;
        if data.parts.contains(&Part::ErrorOutputType) {
            return Err(refuse(
                "Prefix cannot contain the expression !{firehose:error-output-type}",
            ));
        }
        let keyed = data
            .parts
            .iter()
            .any(|p| matches!(p, Part::PartitionKey(..)));
        if keyed && !dynamic {
            return Err(refuse(
                "Prefix cannot contain partitionKeyFromQuery or partitionKeyFromLambda expressions when dynamic partitioning is not enabled",
            ));
        }
        if dynamic && !keyed {
            return Err(refuse(
                "Prefix must contain at least one partitionKeyFromQuery or partitionKeyFromLambda expression when dynamic partitioning is enabled",
            ));
        }
        if dynamic && error_prefix.is_none() {
            return Err(refuse(
                "ErrorOutputPrefix cannot be null or empty when dynamic partitioning is enabled",
            ));
        }
        let has_expressions = data.parts.iter().any(|p| !matches!(p, Part::Literal(_)));
        let error = match error_prefix {
            Some(e) => {
                let error = parse(e)?;
                if error
                    .parts
                    .iter()
                    .any(|p| matches!(p, Part::PartitionKey(..)))
                {
                    return Err(refuse(
                        "ErrorOutputPrefix cannot contain partitionKeyFromQuery or partitionKeyFromLambda expressions",
                    ));
                }
                error
            }
            None if has_expressions => {
                return Err(refuse(
                    "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions",
                ));
            }
            // Errors of a static prefix go under it, in a folder named for the kind of failure.
            None => parse(&format!("{prefix}!{{firehose:error-output-type}}/"))?,
        };
        Ok(Prefixes {
            data: data.with_default_time(),
            error: error.with_default_time(),
        })
    }
}

impl Prefix {
    /// The partition keys this prefix names, in order: together their values identify a
    /// partition.
    pub fn keys(&self) -> impl Iterator<Item = (KeySource, &str)> {
        self.parts.iter().filter_map(|p| match p {
            Part::PartitionKey(source, name) => Some((*source, name.as_str())),
            _ => None,
        })
    }

    /// AWS appends `yyyy/MM/dd/HH/` to a prefix without a timestamp expression.
    fn with_default_time(mut self) -> Prefix {
        if !self.parts.iter().any(|p| matches!(p, Part::Time(_)))
            && let Ok(default) = parse(DEFAULT_TIME)
        {
            self.parts.extend(default.parts);
        }
        self
    }

    /// The prefix for one object. Every timestamp expression gives the same instant.
    pub fn evaluate(&self, ctx: &Context<'_>) -> Result<String, PrefixError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Time(patterns) => format_time(patterns, ctx.oldest_arrival, &mut out),
                Part::RandomString => out.push_str(&random_string()),
                Part::ErrorOutputType => out.push_str(ctx.error_output_type.unwrap_or_default()),
                Part::PartitionKey(source, name) => {
                    match ctx.keys.and_then(|k| key_value(k, *source, name)) {
                        Some(value) => out.push_str(value),
                        None => {
                            return Err(refuse(format!(
                                "The partition key {name} of !{{{}:{name}}} has no value",
                                source.namespace()
                            )));
                        }
                    }
                }
            }
        }
        if out.len() > MAX_EVALUATED {
            return Err(refuse(format!(
                "The evaluated prefix must not be longer than {MAX_EVALUATED} characters"
            )));
        }
        Ok(out)
    }
}

/// 11 characters of lowercase letters and digits, new for every occurrence.
fn random_string() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..11)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn parse(text: &str) -> Result<Prefix, PrefixError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("!{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_string()));
        }
        let body_start = start + 2;
        let end = rest[body_start..]
            .find('}')
            .map(|e| body_start + e)
            .ok_or_else(|| refuse(format!("Unclosed expression in prefix: {text}")))?;
        let expression = &rest[body_start..end];
        let (namespace, value) = expression
            .split_once(':')
            .ok_or_else(|| refuse(format!("Invalid expression !{{{expression}}}")))?;
        parts.push(match (namespace, value) {
            ("timestamp", pattern) => Part::Time(parse_pattern(pattern)?),
            ("firehose", "random-string") => Part::RandomString,
            ("firehose", "error-output-type") => Part::ErrorOutputType,
            ("partitionKeyFromQuery", name) if valid_key(name) => {
                Part::PartitionKey(KeySource::Query, name.to_string())
            }
            ("partitionKeyFromLambda", name) if valid_key(name) => {
                Part::PartitionKey(KeySource::Lambda, name.to_string())
            }
            _ => {
                return Err(refuse(format!("Unsupported expression !{{{expression}}}")));
            }
        });
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(Prefix { parts })
}

/// A partition key's name: what a jq object key or a Lambda's metadata key can be, without
/// the characters that end an expression.
fn valid_key(name: &str) -> bool {
    !name.is_empty() && !name.contains(['{', '}', '!']) && !name.trim().is_empty()
}

/// The pattern letters this formatter knows; others are refused rather than misprinted.
const FIELDS: &str = "yuMLdDHhmsSEawk";

fn parse_pattern(pattern: &str) -> Result<Vec<Pattern>, PrefixError> {
    let invalid = || refuse(format!("Invalid timestamp pattern: {pattern}"));
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' inside or outside quotes is one quote.
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(invalid()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            if text.is_empty() {
                text.push('\'');
            }
            out.push(Pattern::Literal(text));
        } else if c.is_ascii_alphabetic() {
            if !FIELDS.contains(c) {
                return Err(invalid());
            }
            let run = chars[i..].iter().take_while(|&&x| x == c).count();
            out.push(Pattern::Field(c, run));
            i += run;
        } else if matches!(c, '[' | ']' | '{' | '}' | '#') {
            // Optional sections and reserved characters.
            return Err(invalid());
        } else {
            out.push(Pattern::Literal(c.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn pad(out: &mut String, value: i64, width: usize) {
    out.push_str(&format!("{value:0width$}"));
}

fn text(out: &mut String, full: &str, count: usize) {
    if count >= 4 {
        out.push_str(full);
    } else {
        out.push_str(&full[..3]);
    }
}

fn format_time(patterns: &[Pattern], t: DateTime<Utc>, out: &mut String) {
    for p in patterns {
        match *p {
            Pattern::Literal(ref s) => out.push_str(s),
            Pattern::Field(c, n) => match c {
                'y' | 'u' if n == 2 => pad(out, i64::from(t.year()).rem_euclid(100), 2),
                'y' | 'u' => pad(out, i64::from(t.year()), n),
                'M' | 'L' if n >= 3 => text(out, MONTHS[t.month0() as usize], n),
                'M' | 'L' => pad(out, i64::from(t.month()), n),
                'd' => pad(out, i64::from(t.day()), n),
                'D' => pad(out, i64::from(t.ordinal()), n),
                'H' => pad(out, i64::from(t.hour()), n),
                'k' => pad(out, i64::from(if t.hour() == 0 { 24 } else { t.hour() }), n),
                'h' => pad(out, i64::from((t.hour() + 11) % 12 + 1), n),
                'm' => pad(out, i64::from(t.minute()), n),
                's' => pad(out, i64::from(t.second()), n),
                'S' => {
                    let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
                    out.push_str(&nanos[..n.min(9)]);
                    for _ in 9..n {
                        out.push('0');
                    }
                }
                'E' => text(out, DAYS[t.weekday().num_days_from_monday() as usize], n),
                'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                'w' => pad(out, i64::from(week_of_week_based_year(t.date_naive())), n),
                _ => {}
            },
        }
    }
}

/// Week of the week-based year as Java's `w` formats it in the US locale (weeks start on
/// Sunday; week 1 is the week that contains 1 January).
fn week_of_week_based_year(date: NaiveDate) -> u32 {
    let sunday = date - Duration::days(i64::from(date.weekday().num_days_from_sunday()));
    let saturday = sunday + Duration::days(6);
    if saturday.year() > sunday.year() {
        return 1;
    }
    let Some(jan1) = NaiveDate::from_ymd_opt(date.year(), 1, 1) else {
        return 1;
    };
    let offset = jan1.weekday().num_days_from_sunday();
    (date.ordinal0() + offset) / 7 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn eval(p: &Prefix, t: DateTime<Utc>, kind: Option<&str>) -> String {
        p.evaluate(&Context {
            oldest_arrival: t,
            error_output_type: kind,
            keys: None,
        })
        .unwrap()
    }

    #[test]
    fn default_prefix_is_the_utc_hour_folder() {
        let p = Prefixes::new(None, None, false).unwrap();
        let t = at(2026, 3, 7, 5, 9, 1);
        assert_eq!(eval(&p.data, t, None), "2026/03/07/05/");
        assert_eq!(
            eval(&p.error, t, Some("processing-failed")),
            "processing-failed/2026/03/07/05/"
        );
    }

    #[test]
    fn static_prefix_gets_the_time_folder_appended() {
        let p = Prefixes::new(Some("logs/"), None, false).unwrap();
        let t = at(2026, 12, 31, 23, 0, 0);
        assert_eq!(eval(&p.data, t, None), "logs/2026/12/31/23/");
        assert_eq!(
            eval(&p.error, t, Some("http-endpoint-failed")),
            "logs/http-endpoint-failed/2026/12/31/23/"
        );
    }

    #[test]
    fn timestamp_patterns_follow_java_date_time_formatter() {
        let p = Prefixes::new(
            Some("year=!{timestamp:yyyy}/m=!{timestamp:MM}/!{timestamp:'d='dd'/h='HH}/!{timestamp:yy-M-d H:m:s EEE MMM D}/"),
            Some("err/!{firehose:error-output-type}/!{timestamp:yyyy}/"), false)
        .unwrap();
        let t = at(2026, 2, 3, 4, 5, 6);
        assert_eq!(
            eval(&p.data, t, None),
            "year=2026/m=02/d=03/h=04/26-2-3 4:5:6 Tue Feb 34/"
        );
        assert_eq!(
            eval(&p.error, t, Some("processing-failed")),
            "err/processing-failed/2026/"
        );
        let quote = Prefixes::new(
            Some("!{timestamp:''yyyy''}"),
            Some("e!{timestamp:yyyy}"),
            false,
        )
        .unwrap();
        assert_eq!(eval(&quote.data, t, None), "'2026'");
    }

    #[test]
    fn week_numbers_match_the_us_week_based_year() {
        let w = |y, m, d| week_of_week_based_year(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        // 1 Jan 2026 is a Thursday: its week (Sun 28 Dec 2025 .. Sat 3 Jan 2026) is week 1.
        assert_eq!(w(2026, 1, 1), 1);
        assert_eq!(w(2025, 12, 28), 1);
        assert_eq!(w(2026, 1, 3), 1);
        assert_eq!(w(2026, 1, 4), 2);
        assert_eq!(w(2025, 12, 27), 52);
    }

    #[test]
    fn random_strings_are_new_for_every_occurrence() {
        let p = Prefixes::new(
            Some("!{firehose:random-string}/!{firehose:random-string}/"),
            Some("e/"),
            false,
        )
        .unwrap();
        let s = eval(&p.data, at(2026, 1, 1, 0, 0, 0), None);
        let parts: Vec<&str> = s.split('/').collect();
        assert_eq!(parts[0].len(), 11);
        assert_eq!(parts[1].len(), 11);
        assert_ne!(parts[0], parts[1]);
        assert!(
            parts[0]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn aws_prefix_rules_are_enforced() {
        let e = Prefixes::new(Some("a/!{timestamp:yyyy}/"), None, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
        );
        assert!(Prefixes::new(Some("!{firehose:error-output-type}"), Some("e"), false).is_err());
        assert!(Prefixes::new(Some("!{timestamp:yyyy"), Some("e"), false).is_err());
        assert!(Prefixes::new(Some("!{timestamp:qqq}"), Some("e"), false).is_err());
        assert!(Prefixes::new(Some("!{nope:x}"), Some("e"), false).is_err());
        assert!(Prefixes::new(Some("!{partitionKeyFromQuery:id}"), Some("e"), false).is_err());
        let long = Prefixes::new(Some(&"x".repeat(600)), None, false).unwrap();
        assert!(
            long.data
                .evaluate(&Context {
                    oldest_arrival: at(2026, 1, 1, 0, 0, 0),
                    error_output_type: None,
                    keys: None,
                })
                .is_err()
        );
    }

    #[test]
    fn partition_keys_need_dynamic_partitioning_and_fill_the_prefix() {
        let data = "c=!{partitionKeyFromQuery:customer}/l=!{partitionKeyFromLambda:region}/!{timestamp:yyyy}/";
        assert!(Prefixes::new(Some(data), Some("e/"), false).is_err());
        assert!(Prefixes::new(Some("static/"), Some("e/"), true).is_err());
        assert!(Prefixes::new(Some(data), None, true).is_err());
        assert!(
            Prefixes::new(
                Some(data),
                Some("e/!{partitionKeyFromQuery:customer}/"),
                true
            )
            .is_err()
        );
        let p = Prefixes::new(Some(data), Some("e/!{firehose:error-output-type}/"), true).unwrap();
        assert_eq!(
            p.data.keys().collect::<Vec<_>>(),
            [
                (KeySource::Query, "customer"),
                (KeySource::Lambda, "region")
            ]
        );
        let mut keys = PartitionKeys::new();
        keys.insert((KeySource::Query, "customer".into()), "42".into());
        keys.insert((KeySource::Lambda, "region".into()), "eu".into());
        let evaluate = |keys: &PartitionKeys| {
            p.data.evaluate(&Context {
                oldest_arrival: at(2026, 5, 1, 0, 0, 0),
                error_output_type: None,
                keys: Some(keys),
            })
        };
        assert_eq!(evaluate(&keys).unwrap(), "c=42/l=eu/2026/");
        keys.remove(&(KeySource::Lambda, "region".into()));
        assert!(evaluate(&keys).is_err());
    }
}
