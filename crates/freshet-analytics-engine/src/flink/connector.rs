//! A table's `WITH (...)` options: which connector it reads or writes, the connector's options
//! under the names Flink's connectors use, and the record format.

use std::collections::BTreeMap;

/// Where a Kinesis source starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    Latest,
    TrimHorizon,
    /// ms since the epoch.
    AtTimestamp(i64),
}

/// A `datagen` column's generator (`fields.<name>.*`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldGen {
    pub sequence: Option<(i64, i64)>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub length: usize,
    pub null_rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// A Freshet stream (`stream`, `stream.arn`), read from `start` or written.
    Kinesis {
        stream: String,
        start: StartPosition,
        /// The columns whose values make a written record's partition key.
        partition_by: Vec<String>,
    },
    /// A Freshet delivery stream, written.
    Firehose { delivery_stream: String },
    /// Generated rows: `rows_per_second`, and `number_of_rows` in all when bounded.
    Datagen {
        rows_per_second: u64,
        number_of_rows: Option<u64>,
    },
    /// Rows written nowhere.
    Blackhole,
    /// Rows written to the server's log.
    Print { prefix: String },
    /// An S3 object, or every object under a prefix (`s3://bucket/key`), read whole when the
    /// run starts: a bounded source, or a lookup join's table.
    Filesystem { bucket: String, key: String },
}

impl Connector {
    /// The connector's name as written in `'connector' = ...`.
    pub fn name(&self) -> &'static str {
        match self {
            Connector::Kinesis { .. } => "kinesis",
            Connector::Firehose { .. } => "firehose",
            Connector::Datagen { .. } => "datagen",
            Connector::Blackhole => "blackhole",
            Connector::Print { .. } => "print",
            Connector::Filesystem { .. } => "filesystem",
        }
    }
}

/// How records are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json {
        ignore_parse_errors: bool,
    },
    Csv {
        delimiter: u8,
        ignore_parse_errors: bool,
    },
    /// The record is the table's one column (STRING or BYTES).
    Raw,
    /// No format (datagen, blackhole, print).
    None,
}

/// The connector and format of a table, and the datagen field generators.
pub(crate) struct TableConnector {
    pub connector: Connector,
    pub format: Format,
    pub fields: BTreeMap<String, FieldGen>,
    /// `scan.watermark.idle-timeout`, ms.
    pub idle_timeout: Option<i64>,
}

/// Option names every connector takes beside its own (AWS client settings are the server's).
fn common(key: &str) -> bool {
    key == "connector"
        || key == "format"
        || key.starts_with("aws.")
        || key.starts_with("json.")
        || key.starts_with("csv.")
        || key.starts_with("raw.")
        || key == "scan.watermark.idle-timeout"
        || key.starts_with("scan.watermark.")
}

pub(crate) fn table_connector(
    options: &BTreeMap<String, String>,
    partitioned_by: &[String],
) -> Result<TableConnector, String> {
    let name = options.get("connector").ok_or_else(|| {
        "Table options do not contain an option key 'connector' for discovering a connector."
            .to_string()
    })?;
    let get = |k: &str| options.get(k).map(String::as_str);
    let own: &[&str] = match name.as_str() {
        "kinesis" => &[
            "stream",
            "stream.arn",
            "scan.stream.initpos",
            "scan.stream.initpos-timestamp",
            "scan.stream.initpos-timestamp-format",
            "source.init.position",
            "source.init.timestamp",
            "source.init.timestamp.format",
            "sink.partitioner",
            "sink.partitioner-field-delimiter",
            "sink.fail-on-error",
            "sink.batch.max-size",
            "sink.requests.max-inflight",
            "sink.requests.max-buffered",
            "sink.flush-buffer.size",
            "sink.flush-buffer.timeout",
        ],
        "firehose" => &[
            "delivery-stream",
            "sink.fail-on-error",
            "sink.batch.max-size",
        ],
        "datagen" => &["rows-per-second", "number-of-rows"],
        "blackhole" => &[],
        "print" => &["print-identifier", "standard-error", "sink.parallelism"],
        // Flink's filesystem options: the sink's are known (so that writing such a table is
        // refused for what it is, not for its options), the source's too.
        "filesystem" => &[
            "path",
            "source.monitor-interval",
            "source.report-statistics",
            "sink.rolling-policy.file-size",
            "sink.rolling-policy.rollover-interval",
            "sink.rolling-policy.inactivity-interval",
            "sink.rolling-policy.check-interval",
            "sink.shuffle-by-partition.enable",
            "sink.partition-commit.trigger",
            "sink.partition-commit.delay",
            "sink.partition-commit.watermark-time-zone",
            "sink.partition-commit.policy.kind",
            "sink.partition-commit.policy.class",
            "sink.partition-commit.success-file.name",
            "sink.parallelism",
            "auto-compaction",
            "compaction.file-size",
        ],
        other => {
            return Err(format!(
                "Could not find any factory for identifier '{other}' that implements 'org.apache.flink.table.factories.DynamicTableFactory' in the classpath.\n\nAvailable factory identifiers are:\n\nblackhole\ndatagen\nfilesystem\nfirehose\nkinesis\nprint"
            ));
        }
    };
    let unsupported: Vec<&str> = options
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !(common(k) || own.contains(k) || name == "datagen" && k.starts_with("fields."))
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(format!(
            "Unsupported options found for '{name}'.\n\nUnsupported options:\n\n{}",
            unsupported.join("\n")
        ));
    }
    let connector = match name.as_str() {
        "kinesis" => {
            let stream = match (get("stream"), get("stream.arn")) {
                (Some(s), _) => s.to_string(),
                (None, Some(arn)) => arn
                    .rsplit_once(":stream/")
                    .map(|(_, n)| n.to_string())
                    .ok_or_else(|| format!("'stream.arn' is not a Kinesis stream ARN: {arn}"))?,
                (None, None) => {
                    return Err("One or more required options are missing.\n\nMissing required options are:\n\nstream.arn".into());
                }
            };
            let position = get("source.init.position").or(get("scan.stream.initpos"));
            let timestamp = get("source.init.timestamp").or(get("scan.stream.initpos-timestamp"));
            let start = match position.unwrap_or("LATEST").to_uppercase().as_str() {
                "LATEST" => StartPosition::Latest,
                "TRIM_HORIZON" => StartPosition::TrimHorizon,
                "AT_TIMESTAMP" => {
                    let text = timestamp.ok_or("AT_TIMESTAMP needs 'source.init.timestamp'")?;
                    StartPosition::AtTimestamp(parse_instant(text)?)
                }
                other => {
                    return Err(format!(
                        "Invalid initial position '{other}': use LATEST, TRIM_HORIZON or AT_TIMESTAMP"
                    ));
                }
            };
            Connector::Kinesis {
                stream,
                start,
                partition_by: partitioned_by.to_vec(),
            }
        }
        "firehose" => Connector::Firehose {
            delivery_stream: get("delivery-stream")
                .ok_or("One or more required options are missing.\n\nMissing required options are:\n\ndelivery-stream")?
                .to_string(),
        },
        "datagen" => Connector::Datagen {
            rows_per_second: number(get("rows-per-second"), "rows-per-second")?.unwrap_or(10_000),
            number_of_rows: number(get("number-of-rows"), "number-of-rows")?,
        },
        "blackhole" => Connector::Blackhole,
        "filesystem" if !partitioned_by.is_empty() => {
            return Err("A partitioned 'filesystem' table (partition values in directory names) is not supported by Freshet's embedded engine yet: leave out PARTITIONED BY".into());
        }
        "filesystem" => filesystem(get("path"), get("source.monitor-interval"))?,
        _ => Connector::Print {
            prefix: get("print-identifier").map(|p| format!("{p}> ")).unwrap_or_default(),
        },
    };
    let format = match &connector {
        Connector::Kinesis { .. } | Connector::Firehose { .. } | Connector::Filesystem { .. } => {
            let ignore =
                |prefix: &str| get(&format!("{prefix}.ignore-parse-errors")) == Some("true");
            match get("format") {
                Some("json") => Format::Json {
                    ignore_parse_errors: ignore("json"),
                },
                Some("csv") => Format::Csv {
                    delimiter: match get("csv.field-delimiter") {
                        None => b',',
                        Some(d) if d.len() == 1 => d.as_bytes()[0],
                        Some("\\t") => b'\t',
                        Some(d) => {
                            return Err(format!(
                                "'csv.field-delimiter' must be one character, not {d}"
                            ));
                        }
                    },
                    ignore_parse_errors: ignore("csv"),
                },
                Some("raw") => Format::Raw,
                Some(other) => {
                    return Err(format!(
                        "Could not find any format factory for identifier '{other}' in the classpath (formats: json, csv, raw)."
                    ));
                }
                None => {
                    return Err("One or more required options are missing.\n\nMissing required options are:\n\nformat".into());
                }
            }
        }
        _ => Format::None,
    };
    let mut fields = BTreeMap::new();
    for (key, value) in options {
        let Some(rest) = key.strip_prefix("fields.") else {
            continue;
        };
        let Some((field, option)) = rest.rsplit_once('.') else {
            return Err(format!("Unsupported options found for 'datagen': {key}"));
        };
        let entry = fields.entry(field.to_string()).or_insert(FieldGen {
            sequence: None,
            min: None,
            max: None,
            length: 100,
            null_rate: 0.0,
        });
        let float = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("'{key}' is not a number: {value}"))
        };
        match option {
            "kind" if value == "sequence" => {
                entry.sequence.get_or_insert((0, 0));
            }
            "kind" if value == "random" => {}
            "kind" => return Err(format!("'{key}' is random or sequence, not {value}")),
            "min" => entry.min = Some(float()?),
            "max" => entry.max = Some(float()?),
            "length" => entry.length = float()? as usize,
            "null-rate" => entry.null_rate = float()?,
            "start" | "end" => {
                let v = float()? as i64;
                let (s, e) = entry.sequence.get_or_insert((0, 0));
                if option == "start" { *s = v } else { *e = v }
            }
            "max-past" => {}
            _ => return Err(format!("Unsupported options found for 'datagen': {key}")),
        }
    }
    let idle_timeout = get("scan.watermark.idle-timeout")
        .map(parse_duration)
        .transpose()?;
    Ok(TableConnector {
        connector,
        format,
        fields,
        idle_timeout,
    })
}

/// A filesystem table's `path`: only Freshet's S3 store is read (the store Firehose delivers
/// to), never the host's files, so `file://`, `hdfs://` or a bare path is refused.
fn filesystem(path: Option<&str>, monitor: Option<&str>) -> Result<Connector, String> {
    let path = path.ok_or(
        "One or more required options are missing.\n\nMissing required options are:\n\npath",
    )?;
    if monitor.is_some() {
        return Err("'source.monitor-interval' (watching the path for new files, an unbounded source) is not supported by Freshet's embedded engine yet: a 'filesystem' table is read once, when the run starts".into());
    }
    let rest = ["s3://", "s3a://"]
        .iter()
        .find_map(|scheme| {
            path.get(..scheme.len())
                .filter(|p| p.eq_ignore_ascii_case(scheme))
                .map(|_| &path[scheme.len()..])
        })
        .ok_or_else(|| {
            format!(
                "The 'filesystem' path '{path}' is not supported: Freshet reads 'filesystem' tables from its S3 store only (s3://bucket/key or s3a://bucket/key, the store Firehose delivers to), never from the server's own files"
            )
        })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "The 'filesystem' path '{path}' names no bucket (s3://bucket/key)"
        ));
    }
    Ok(Connector::Filesystem {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

fn number(value: Option<&str>, key: &str) -> Result<Option<u64>, String> {
    value
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("Could not parse value '{v}' for key '{key}'."))
        })
        .transpose()
}

/// Flink's duration syntax: `10 s`, `500ms`, `1 min`, `2h`, or a bare number of ms.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("Could not parse the duration '{text}'"))?;
    let scale = match unit.trim().to_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "min" | "m" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return Err(format!("Could not parse the duration '{text}'")),
    };
    Ok(n * scale)
}

/// An initial-position timestamp: seconds since the epoch (with decimals, as the Kinesis
/// connector takes it) or an ISO-8601 instant.
fn parse_instant(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok((seconds * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("Invalid timestamp '{text}' for the initial position: seconds since the epoch or yyyy-MM-dd'T'HH:mm:ss.SSSXXX"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kinesis_options_under_both_connector_generations() {
        let t = table_connector(
            &options(&[
                ("connector", "kinesis"),
                (
                    "stream.arn",
                    "arn:aws:kinesis:us-east-1:000000000000:stream/in",
                ),
                ("aws.region", "us-east-1"),
                ("source.init.position", "AT_TIMESTAMP"),
                ("source.init.timestamp", "2026-01-01T00:00:00Z"),
                ("format", "json"),
            ]),
            &[],
        )
        .expect("valid");
        assert_eq!(
            t.connector,
            Connector::Kinesis {
                stream: "in".into(),
                start: StartPosition::AtTimestamp(1_767_225_600_000),
                partition_by: vec![],
            }
        );
        let t = table_connector(
            &options(&[
                ("connector", "kinesis"),
                ("stream", "in"),
                ("scan.stream.initpos", "TRIM_HORIZON"),
                ("format", "csv"),
                ("csv.field-delimiter", ";"),
            ]),
            &[],
        )
        .expect("valid");
        assert!(matches!(
            t.connector,
            Connector::Kinesis {
                start: StartPosition::TrimHorizon,
                ..
            }
        ));
        assert_eq!(
            t.format,
            Format::Csv {
                delimiter: b';',
                ignore_parse_errors: false
            }
        );
    }

    #[test]
    fn bad_options_are_refused_as_flink_refuses_them() {
        let e = table_connector(&options(&[("connector", "kafka")]), &[])
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("Could not find any factory for identifier 'kafka'"),
            "{e}"
        );
        let e = table_connector(
            &options(&[
                ("connector", "kinesis"),
                ("stream", "s"),
                ("format", "json"),
                ("bogus", "1"),
            ]),
            &[],
        )
        .err()
        .unwrap_or_default();
        assert!(
            e.contains("Unsupported options found for 'kinesis'") && e.contains("bogus"),
            "{e}"
        );
        let e = table_connector(&options(&[("connector", "kinesis"), ("stream", "s")]), &[])
            .err()
            .unwrap_or_default();
        assert!(e.contains("format"), "{e}");
        assert_eq!(parse_duration("10 s"), Ok(10_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert!(parse_duration("ten").is_err());
    }
}
