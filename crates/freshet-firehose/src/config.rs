//! Destination configurations as the API carries them: parsed from Create/Update requests,
//! merged by UpdateDestination, checked for what Freshet supports, stored in the catalog and
//! described back with AWS's defaults filled in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::compress::Compression;
use crate::convert::Conversion;
use crate::error::{FirehoseError, Result, invalid};
use crate::iceberg::IcebergConfig;
use crate::prefix::{KeySource, Prefix, Prefixes};
use crate::process::Processing;
use crate::redshift::RedshiftConfig;
use crate::search::{SearchConfig, SearchKind};
use crate::splunk::SplunkConfig;

const MIB: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BufferingHints {
    #[serde(rename = "SizeInMBs", skip_serializing_if = "Option::is_none")]
    pub size_in_mbs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_in_seconds: Option<u64>,
}

/// The buffer thresholds a destination flushes at, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub bytes: u64,
    pub interval_ms: u64,
}

/// The buffer size dynamic partitioning needs at least, and its default.
const PARTITIONED_MIN_MIB: u64 = 64;
const PARTITIONED_DEFAULT_MIB: u64 = 128;

impl BufferingHints {
    /// AWS's defaults for S3 and HTTP endpoints: 5 MiB (128 MiB with dynamic partitioning) or
    /// 300 seconds.
    pub(crate) fn thresholds(hints: Option<BufferingHints>, partitioned: bool) -> Thresholds {
        let hints = hints.unwrap_or_default();
        let default_mib = if partitioned {
            PARTITIONED_DEFAULT_MIB
        } else {
            5
        };
        Thresholds {
            bytes: hints.size_in_mbs.unwrap_or(default_mib) * MIB,
            interval_ms: hints.interval_in_seconds.unwrap_or(300) * 1000,
        }
    }

    pub(crate) fn described(hints: Option<BufferingHints>, partitioned: bool) -> Value {
        let t = BufferingHints::thresholds(hints, partitioned);
        json!({"SizeInMBs": t.bytes / MIB, "IntervalInSeconds": t.interval_ms / 1000})
    }
}

/// An S3 destination: `ExtendedS3DestinationConfiguration`, the older
/// `S3DestinationConfiguration`, or the S3 part of an HTTP endpoint destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Config {
    #[serde(rename = "RoleARN", default)]
    pub role_arn: String,
    #[serde(rename = "BucketARN", default)]
    pub bucket_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_output_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_format: Option<Compression>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(
        rename = "S3BackupConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_backup: Option<Box<S3Config>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_format_conversion_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_partitioning_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_time_zone: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfig {
    #[serde(default)]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonAttribute {
    pub attribute_name: String,
    pub attribute_value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_attributes: Option<Vec<CommonAttribute>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<u64>,
}

impl RetryOptions {
    /// How long a destination retries, in milliseconds: the configured duration or the
    /// destination's default.
    pub fn ms(options: Option<RetryOptions>, default_secs: u64) -> u64 {
        options
            .and_then(|r| r.duration_in_seconds)
            .unwrap_or(default_secs)
            * 1000
    }
}

/// What the descriptions of the destinations other than S3 share: the configuration with
/// `RetryOptions` (as `retry_ms`), `S3BackupMode` (`backup_default` when unset) and
/// `CloudWatchLoggingOptions` filled in, and its S3 configuration described as
/// `S3DestinationDescription`.
pub(crate) fn describe_destination<T: Serialize>(
    config: &T,
    s3: &S3Config,
    retry_ms: u64,
    backup_default: &str,
) -> Map<String, Value> {
    let mut d = match serde_json::to_value(config) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    d.insert(
        "RetryOptions".into(),
        json!({"DurationInSeconds": retry_ms / 1000}),
    );
    d.entry("S3BackupMode")
        .or_insert_with(|| json!(backup_default));
    d.entry("CloudWatchLoggingOptions")
        .or_insert_with(|| json!({"Enabled": false}));
    d.remove("S3Configuration");
    d.insert("S3DestinationDescription".into(), s3.describe(false));
    d
}

/// `HttpEndpointDestinationConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpConfig {
    #[serde(default)]
    pub endpoint_configuration: EndpointConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_configuration: Option<RequestConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(rename = "S3Configuration", default)]
    pub s3: S3Config,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_manager_configuration: Option<Value>,
}

/// A delivery stream's one destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Destination {
    /// `plain` marks one created through the deprecated `S3DestinationConfiguration`, which
    /// AWS describes under both names.
    S3 {
        config: Box<S3Config>,
        plain: bool,
    },
    Http(Box<HttpConfig>),
    Splunk(Box<SplunkConfig>),
    Redshift(Box<RedshiftConfig>),
    /// OpenSearch Service, Elasticsearch or OpenSearch Serverless.
    Search {
        kind: SearchKind,
        config: Box<SearchConfig>,
    },
    Iceberg(Box<IcebergConfig>),
}

/// The destination members of CreateDeliveryStream that Freshet does not deliver to yet.
pub const UNSUPPORTED_DESTINATIONS: &[&str] = &["SnowflakeDestinationConfiguration"];

/// The same for UpdateDestination.
pub const UNSUPPORTED_UPDATES: &[&str] = &["SnowflakeDestinationUpdate"];

pub(crate) fn enabled(feature: &Option<Value>) -> bool {
    feature
        .as_ref()
        .and_then(|v| v.get("Enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| FirehoseError::Validation(e.to_string()))
}

impl S3Config {
    pub fn bucket(&self) -> &str {
        self.bucket_arn
            .rsplit_once(":::")
            .map(|(_, b)| b)
            .unwrap_or(&self.bucket_arn)
    }

    pub fn thresholds(&self) -> Thresholds {
        BufferingHints::thresholds(self.buffering_hints, self.dynamic())
    }

    /// Whether dynamic partitioning is enabled.
    pub fn dynamic(&self) -> bool {
        enabled(&self.dynamic_partitioning_configuration)
    }

    pub fn compression(&self) -> Compression {
        self.compression_format.unwrap_or_default()
    }

    /// The object-name extension: `FileExtension` if set, else the compression's.
    pub fn extension(&self) -> &str {
        self.file_extension
            .as_deref()
            .unwrap_or(self.compression().extension())
    }

    pub fn prefixes(&self) -> Result<Prefixes> {
        Prefixes::new(
            self.prefix.as_deref(),
            self.error_output_prefix.as_deref(),
            self.dynamic(),
        )
        .map_err(|e| invalid(e.to_string()))
    }

    pub fn backup_enabled(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("Enabled")
    }

    /// Refuses what Freshet cannot do as AWS documents it, with AWS's InvalidArgumentException.
    pub(crate) fn check(&self, what: &str) -> Result<()> {
        if self.bucket_arn.is_empty() || self.role_arn.is_empty() {
            return Err(invalid(format!("{what} requires RoleARN and BucketARN.")));
        }
        let prefixes = self.prefixes()?;
        let processing = Processing::parse(self.processing_configuration.as_ref(), self.dynamic())?;
        if self.dynamic() {
            let hints = self.buffering_hints.unwrap_or_default();
            if hints.size_in_mbs.is_some_and(|s| s < PARTITIONED_MIN_MIB) {
                return Err(invalid(format!(
                    "BufferingHints.SizeInMBs must be at least {PARTITIONED_MIN_MIB} when dynamic partitioning is enabled."
                )));
            }
            if hints.interval_in_seconds == Some(0) {
                return Err(invalid(
                    "Zero buffering (BufferingHints.IntervalInSeconds 0) is not available with dynamic partitioning.",
                ));
            }
            for (source, name) in prefixes.data.keys() {
                let provided = match source {
                    KeySource::Query => processing.as_ref().is_some_and(Processing::has_query),
                    KeySource::Lambda => processing.as_ref().is_some_and(|p| p.lambda.is_some()),
                };
                if !provided {
                    let (namespace, processor) = match source {
                        KeySource::Query => ("partitionKeyFromQuery", "MetadataExtraction"),
                        KeySource::Lambda => ("partitionKeyFromLambda", "Lambda"),
                    };
                    return Err(invalid(format!(
                        "Prefix uses !{{{namespace}:{name}}} but ProcessingConfiguration has no enabled {processor} processor."
                    )));
                }
            }
        }
        if Conversion::parse(self.data_format_conversion_configuration.as_ref())?.is_some()
            && self.compression() != Compression::Uncompressed
        {
            return Err(invalid(
                "CompressionFormat must be UNCOMPRESSED when data format conversion is enabled; set the serializer's own compression instead.",
            ));
        }
        if self
            .encryption_configuration
            .as_ref()
            .is_some_and(|e| e.get("KMSEncryptionConfig").is_some())
        {
            return Err(invalid(
                "KMSEncryptionConfig (SSE-KMS for delivered objects) is not supported by Freshet yet.",
            ));
        }
        if self
            .custom_time_zone
            .as_deref()
            .is_some_and(|z| !z.is_empty() && z != "UTC")
        {
            return Err(invalid(
                "CustomTimeZone other than UTC is not supported by Freshet yet.",
            ));
        }
        if let Some(backup) = &self.s3_backup {
            backup.check("S3BackupConfiguration")?;
        }
        if self.backup_enabled() && self.s3_backup.is_none() {
            return Err(invalid(
                "S3BackupConfiguration is required when S3BackupMode is Enabled.",
            ));
        }
        Ok(())
    }

    /// The `S3DestinationDescription` / `ExtendedS3DestinationDescription` form: the
    /// configuration with AWS's defaults filled in.
    pub(crate) fn describe(&self, extended: bool) -> Value {
        let mut d = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        d.insert(
            "BufferingHints".into(),
            BufferingHints::described(self.buffering_hints, self.dynamic()),
        );
        d.insert(
            "CompressionFormat".into(),
            serde_json::to_value(self.compression()).unwrap_or(Value::Null),
        );
        d.entry("EncryptionConfiguration")
            .or_insert_with(|| json!({"NoEncryptionConfig": "NoEncryption"}));
        d.entry("CloudWatchLoggingOptions")
            .or_insert_with(|| json!({"Enabled": false}));
        d.remove("S3BackupConfiguration");
        if extended {
            d.entry("S3BackupMode").or_insert_with(|| json!("Disabled"));
            if let Some(backup) = &self.s3_backup {
                d.insert("S3BackupDescription".into(), backup.describe(false));
            }
        } else {
            for extended_only in [
                "ProcessingConfiguration",
                "S3BackupMode",
                "DataFormatConversionConfiguration",
                "DynamicPartitioningConfiguration",
                "FileExtension",
                "CustomTimeZone",
            ] {
                d.remove(extended_only);
            }
        }
        Value::Object(d)
    }
}

impl HttpConfig {
    pub fn thresholds(&self) -> Thresholds {
        BufferingHints::thresholds(self.buffering_hints, false)
    }

    /// How long a failing batch is retried before it goes to the S3 error output (AWS: 300 s).
    pub fn retry_ms(&self) -> u64 {
        RetryOptions::ms(self.retry_options, 300)
    }

    pub fn gzip(&self) -> bool {
        self.request_configuration
            .as_ref()
            .and_then(|r| r.content_encoding.as_deref())
            == Some("GZIP")
    }

    pub fn backup_all(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("AllData")
    }

    fn check(&self) -> Result<()> {
        // The model's pattern (checked at the edge) already demands https://.
        reqwest::Url::parse(&self.endpoint_configuration.url)
            .map_err(|e| invalid(format!("Invalid EndpointConfiguration.Url: {e}")))?;
        Processing::parse(self.processing_configuration.as_ref(), false)?;
        if enabled(&self.secrets_manager_configuration) {
            return Err(invalid(
                "SecretsManagerConfiguration is not supported by Freshet yet.",
            ));
        }
        self.s3.check("S3Configuration")
    }

    fn describe(&self) -> Value {
        let mut d = describe_destination(self, &self.s3, self.retry_ms(), "FailedDataOnly");
        // The access key is write-only, as in AWS.
        let mut endpoint = json!({"Url": self.endpoint_configuration.url});
        if let Some(name) = &self.endpoint_configuration.name {
            endpoint["Name"] = json!(name);
        }
        d.insert("EndpointConfiguration".into(), endpoint);
        d.insert(
            "BufferingHints".into(),
            BufferingHints::described(self.buffering_hints, false),
        );
        let mut request =
            serde_json::to_value(self.request_configuration.clone().unwrap_or_default())
                .unwrap_or_else(|_| json!({}));
        if request.get("ContentEncoding").is_none() {
            request["ContentEncoding"] = json!("NONE");
        }
        d.insert("RequestConfiguration".into(), request);
        Value::Object(d)
    }
}

impl Destination {
    /// The destination of a CreateDeliveryStream request (its raw members), checked.
    pub fn from_create(request: &Map<String, Value>) -> Result<Destination> {
        let given: Vec<&str> = [
            "S3DestinationConfiguration",
            "ExtendedS3DestinationConfiguration",
            "HttpEndpointDestinationConfiguration",
            "SplunkDestinationConfiguration",
            "RedshiftDestinationConfiguration",
            "IcebergDestinationConfiguration",
        ]
        .into_iter()
        .chain(SearchKind::ALL.map(SearchKind::configuration_member))
        .chain(UNSUPPORTED_DESTINATIONS.iter().copied())
        .filter(|k| request.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
        let destination = match given.as_slice() {
            [] => {
                return Err(invalid(
                    "Exactly one destination configuration must be specified.",
                ));
            }
            [one] => *one,
            _ => {
                return Err(invalid(
                    "Only one destination configuration can be specified.",
                ));
            }
        };
        let value = request.get(destination).cloned().unwrap_or(Value::Null);
        let d = match destination {
            "S3DestinationConfiguration" => Destination::S3 {
                config: Box::new(parse(value)?),
                plain: true,
            },
            "ExtendedS3DestinationConfiguration" => Destination::S3 {
                config: Box::new(parse(value)?),
                plain: false,
            },
            "HttpEndpointDestinationConfiguration" => Destination::Http(Box::new(parse(value)?)),
            "SplunkDestinationConfiguration" => Destination::Splunk(Box::new(parse(value)?)),
            "RedshiftDestinationConfiguration" => Destination::Redshift(Box::new(parse(value)?)),
            "IcebergDestinationConfiguration" => Destination::Iceberg(Box::new(parse(value)?)),
            "SnowflakeDestinationConfiguration" => {
                return Err(invalid(
                    "SnowflakeDestinationConfiguration is not supported by Freshet: Snowflake's Snowpipe Streaming ingestion is a proprietary service that Freshet cannot run or emulate. Deliver to S3 and load with Snowpipe, or use an HTTP endpoint destination.",
                ));
            }
            other => match SearchKind::ALL
                .into_iter()
                .find(|k| k.configuration_member() == other)
            {
                Some(kind) => Destination::Search {
                    kind,
                    config: Box::new(parse(value)?),
                },
                None => {
                    return Err(invalid(format!(
                        "{other} is not supported by Freshet yet; supported destinations are ExtendedS3DestinationConfiguration, S3DestinationConfiguration, HttpEndpointDestinationConfiguration, SplunkDestinationConfiguration, RedshiftDestinationConfiguration, IcebergDestinationConfiguration, AmazonopensearchserviceDestinationConfiguration, ElasticsearchDestinationConfiguration and AmazonOpenSearchServerlessDestinationConfiguration."
                    )));
                }
            },
        };
        d.check()?;
        Ok(d)
    }

    pub fn check(&self) -> Result<()> {
        match self {
            Destination::S3 { config, .. } => config.check("ExtendedS3DestinationConfiguration"),
            Destination::Http(h) => h.check(),
            Destination::Search { kind, config } => config.check(*kind),
            Destination::Splunk(c) => c.check(),
            Destination::Redshift(c) => c.check(),
            Destination::Iceberg(c) => c.check(),
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        match self {
            Destination::S3 { config, .. } => config.thresholds(),
            Destination::Http(h) => h.thresholds(),
            Destination::Search { config, .. } => config.thresholds(),
            Destination::Splunk(c) => c.thresholds(),
            Destination::Redshift(c) => c.thresholds(),
            Destination::Iceberg(c) => c.thresholds(),
        }
    }

    /// The S3 configuration that receives error output.
    pub fn s3(&self) -> &S3Config {
        match self {
            Destination::S3 { config, .. } => config,
            Destination::Http(h) => &h.s3,
            Destination::Search { config, .. } => &config.s3,
            Destination::Splunk(c) => &c.s3,
            Destination::Redshift(c) => &c.s3,
            Destination::Iceberg(c) => &c.s3,
        }
    }

    /// The destination's processors, compiled.
    pub fn processing(&self) -> Result<Option<Processing>> {
        match self {
            Destination::S3 { config, .. } => {
                Processing::parse(config.processing_configuration.as_ref(), config.dynamic())
            }
            Destination::Http(h) => Processing::parse(h.processing_configuration.as_ref(), false),
            Destination::Search { config, .. } => {
                Processing::parse(config.processing_configuration.as_ref(), false)
            }
            Destination::Splunk(c) => Processing::parse(c.processing_configuration.as_ref(), false),
            Destination::Redshift(c) => {
                Processing::parse(c.processing_configuration.as_ref(), false)
            }
            // Metadata extraction routes records to Iceberg tables.
            Destination::Iceberg(c) => Processing::parse(c.processing_configuration.as_ref(), true),
        }
    }

    /// The destination's record format conversion.
    pub fn conversion(&self) -> Result<Option<Conversion>> {
        match self {
            Destination::S3 { config, .. } => {
                Conversion::parse(config.data_format_conversion_configuration.as_ref())
            }
            _ => Ok(None),
        }
    }

    /// The data prefix whose partition keys split records into buffers, with dynamic
    /// partitioning.
    pub fn partitioned_prefix(&self) -> Option<Prefix> {
        match self {
            Destination::S3 { config, .. } if config.dynamic() => {
                config.prefixes().ok().map(|p| p.data)
            }
            _ => None,
        }
    }

    /// Whether the untransformed source records are also written to S3 (S3BackupMode Enabled,
    /// or AllData for an HTTP endpoint).
    pub fn backs_up_source(&self) -> bool {
        match self {
            Destination::S3 { config, .. } => config.backup_enabled(),
            Destination::Http(h) => h.backup_all(),
            Destination::Search { config, .. } => config.backup_all(),
            Destination::Splunk(c) => c.backup_all(),
            Destination::Redshift(c) => c.backup_enabled(),
            Destination::Iceberg(c) => c.backup_all(),
        }
    }

    fn dynamic(&self) -> bool {
        matches!(self, Destination::S3 { config, .. } if config.dynamic())
    }

    /// UpdateDestination: an update of the same kind is merged into the configuration (nested
    /// S3 settings member by member); one of another kind replaces it and must be complete.
    pub fn update(&self, request: &Map<String, Value>) -> Result<Destination> {
        let given: Vec<&str> = [
            "S3DestinationUpdate",
            "ExtendedS3DestinationUpdate",
            "HttpEndpointDestinationUpdate",
            "SplunkDestinationUpdate",
            "RedshiftDestinationUpdate",
            "IcebergDestinationUpdate",
        ]
        .into_iter()
        .chain(SearchKind::ALL.map(SearchKind::update_member))
        .chain(UNSUPPORTED_UPDATES.iter().copied())
        .filter(|k| request.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
        let kind = match given.as_slice() {
            [] => return Ok(self.clone()),
            [one] => *one,
            _ => {
                return Err(invalid("Only one destination update can be specified."));
            }
        };
        let mut update = request.get(kind).cloned().unwrap_or(Value::Null);
        rename(&mut update, "S3BackupUpdate", "S3BackupConfiguration");
        rename(&mut update, "S3Update", "S3Configuration");
        let d = match (kind, self) {
            (
                "S3DestinationUpdate" | "ExtendedS3DestinationUpdate",
                Destination::S3 { config, plain },
            ) => Destination::S3 {
                config: Box::new(parse(merged(config, update)?)?),
                plain: *plain && kind == "S3DestinationUpdate",
            },
            ("S3DestinationUpdate" | "ExtendedS3DestinationUpdate", _) => Destination::S3 {
                config: Box::new(parse(update)?),
                plain: kind == "S3DestinationUpdate",
            },
            ("HttpEndpointDestinationUpdate", Destination::Http(h)) => {
                Destination::Http(Box::new(parse(merged(h, update)?)?))
            }
            ("HttpEndpointDestinationUpdate", _) => Destination::Http(Box::new(parse(update)?)),
            ("SplunkDestinationUpdate", Destination::Splunk(c)) => {
                Destination::Splunk(Box::new(parse(merged(c, update)?)?))
            }
            ("SplunkDestinationUpdate", _) => Destination::Splunk(Box::new(parse(update)?)),
            ("RedshiftDestinationUpdate", Destination::Redshift(c)) => {
                Destination::Redshift(Box::new(parse(merged(c, update)?)?))
            }
            ("RedshiftDestinationUpdate", _) => Destination::Redshift(Box::new(parse(update)?)),
            ("IcebergDestinationUpdate", Destination::Iceberg(c)) => {
                Destination::Iceberg(Box::new(parse(merged(c, update)?)?))
            }
            ("IcebergDestinationUpdate", _) => Destination::Iceberg(Box::new(parse(update)?)),
            (other, current) => {
                let Some(kind) = SearchKind::ALL
                    .into_iter()
                    .find(|k| k.update_member() == other)
                else {
                    return Err(invalid(format!("{other} is not supported by Freshet yet.")));
                };
                let config = match current {
                    Destination::Search { kind: k, config } if *k == kind => {
                        parse(merged(config, update)?)?
                    }
                    _ => parse(update)?,
                };
                Destination::Search {
                    kind,
                    config: Box::new(config),
                }
            }
        };
        if d.dynamic() != self.dynamic() {
            return Err(invalid(
                "Dynamic partitioning can be enabled only when the delivery stream is created, and cannot be disabled.",
            ));
        }
        d.check()?;
        Ok(d)
    }

    /// The `DestinationDescription` (without its DestinationId).
    pub fn describe(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            Destination::S3 { config, plain } => {
                d.insert(
                    "ExtendedS3DestinationDescription".into(),
                    config.describe(true),
                );
                if *plain {
                    d.insert("S3DestinationDescription".into(), config.describe(false));
                }
            }
            Destination::Http(h) => {
                d.insert("HttpEndpointDestinationDescription".into(), h.describe());
            }
            Destination::Search { kind, config } => {
                d.insert(kind.description_member().into(), config.describe(*kind));
            }
            Destination::Splunk(c) => {
                d.insert("SplunkDestinationDescription".into(), c.describe());
            }
            Destination::Redshift(c) => {
                d.insert("RedshiftDestinationDescription".into(), c.describe());
            }
            Destination::Iceberg(c) => {
                d.insert("IcebergDestinationDescription".into(), c.describe());
            }
        }
        d
    }
}

fn rename(value: &mut Value, from: &str, to: &str) {
    if let Some(map) = value.as_object_mut() {
        if let Some(v) = map.remove(from) {
            map.insert(to.to_string(), v);
        }
        for child in map.values_mut() {
            rename(child, from, to);
        }
    }
}

/// `base` with the members of `update` laid over it; nested S3 configurations merge too.
fn merged<T: Serialize>(base: &T, update: Value) -> Result<Value> {
    let mut base = serde_json::to_value(base).map_err(|e| FirehoseError::Corrupt(e.to_string()))?;
    overlay(&mut base, update);
    Ok(base)
}

fn overlay(base: &mut Value, update: Value) {
    match (base.as_object_mut(), update) {
        (Some(base), Value::Object(update)) => {
            for (key, value) in update {
                let nested = matches!(key.as_str(), "S3BackupConfiguration" | "S3Configuration");
                match base.get_mut(&key) {
                    Some(existing) if nested => overlay(existing, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, update) => *base = update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";

    #[test]
    fn s3_is_described_with_aws_defaults() {
        let d = Destination::from_create(&request(json!({"ExtendedS3DestinationConfiguration": {
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "Prefix": "p/"}})))
        .unwrap();
        let desc = &d.describe()["ExtendedS3DestinationDescription"];
        assert_eq!(
            desc["BufferingHints"],
            json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
        );
        assert_eq!(desc["CompressionFormat"], "UNCOMPRESSED");
        assert_eq!(
            desc["EncryptionConfiguration"],
            json!({"NoEncryptionConfig": "NoEncryption"})
        );
        assert_eq!(desc["S3BackupMode"], "Disabled");
        assert_eq!(desc["Prefix"], "p/");
        let Destination::S3 { config, .. } = &d else {
            panic!()
        };
        assert_eq!(config.bucket(), "b");
        assert_eq!(
            config.thresholds(),
            Thresholds {
                bytes: 5 << 20,
                interval_ms: 300_000
            }
        );
    }

    #[test]
    fn one_supported_destination_is_required() {
        let none = Destination::from_create(&request(json!({}))).unwrap_err();
        assert!(matches!(none, FirehoseError::InvalidArgument(_)));
        let snowflake =
            Destination::from_create(&request(json!({"SnowflakeDestinationConfiguration": {}})))
                .unwrap_err();
        assert!(snowflake.to_string().contains("not supported"));
        let processing =
            Destination::from_create(&request(json!({"ExtendedS3DestinationConfiguration": {
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b",
                "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "Nope"}]}}})))
            .unwrap_err();
        assert_eq!(processing.aws_type(), "InvalidArgumentException");
    }

    #[test]
    fn http_endpoints_hide_the_access_key() {
        let r = request(json!({"HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": "https://127.0.0.1:1/x", "AccessKey": "k"},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b"}}}));
        let d = Destination::from_create(&r).unwrap();
        let desc = &d.describe()["HttpEndpointDestinationDescription"];
        assert_eq!(
            desc["EndpointConfiguration"],
            json!({"Url": "https://127.0.0.1:1/x"})
        );
        assert_eq!(desc["S3BackupMode"], "FailedDataOnly");
        assert_eq!(desc["RetryOptions"], json!({"DurationInSeconds": 300}));
        assert_eq!(desc["RequestConfiguration"]["ContentEncoding"], "NONE");
        assert_eq!(
            desc["S3DestinationDescription"]["BucketARN"],
            "arn:aws:s3:::b"
        );
    }

    #[test]
    fn updates_merge_into_the_same_kind_and_replace_another() {
        let d = Destination::from_create(&request(json!({"ExtendedS3DestinationConfiguration": {
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "Prefix": "p/",
                "CompressionFormat": "GZIP", "S3BackupMode": "Enabled",
                "S3BackupConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}}})))
        .unwrap();
        let u = d
            .update(&request(json!({"ExtendedS3DestinationUpdate": {
                    "Prefix": "q/", "S3BackupUpdate": {"Prefix": "bk/"}}})))
            .unwrap();
        let Destination::S3 { config, .. } = &u else {
            panic!()
        };
        assert_eq!(config.prefix.as_deref(), Some("q/"));
        assert_eq!(config.compression(), Compression::Gzip);
        let backup = config.s3_backup.as_ref().unwrap();
        assert_eq!(
            (backup.bucket(), backup.prefix.as_deref()),
            ("backup", Some("bk/"))
        );
        // Another kind must be complete.
        let incomplete = d.update(
            &request(json!({"HttpEndpointDestinationUpdate": {"EndpointConfiguration": {"Url": "https://x"}}})),
        );
        assert!(incomplete.is_err());
    }
}
