//! A Flink application's configuration (Managed Service for Apache Flink through
//! `KinesisAnalytics_20180523`): what CreateApplication and UpdateApplication take, stored in
//! the request shapes AWS defines (so a stored version reads like the request that made it),
//! AWS's defaults where a member is left out, and the description DescribeApplication gives.
//! The code is Flink SQL: PLAINTEXT `TextContent` (Freshet's extension: AWS takes only JARs
//! and ZIPs), or a ZIP (inline or an S3 object) whose `.sql` files, in name order, make it.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AnalyticsError, Result};
use crate::validate;

/// Every Flink runtime of the service model, oldest first (an in-place upgrade goes forward only).
pub const FLINK_RUNTIMES: &[&str] = &[
    "FLINK-1_6",
    "FLINK-1_8",
    "FLINK-1_11",
    "FLINK-1_13",
    "FLINK-1_15",
    "FLINK-1_18",
    "FLINK-1_19",
    "FLINK-1_20",
    "FLINK-2_2",
];

/// Checkpoint settings with `ConfigurationType: DEFAULT` (AWS: "the application will use the
/// following values, even if they are set to other values").
const DEFAULT_CHECKPOINTING: bool = true;
const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 60_000;
const DEFAULT_MIN_PAUSE_MS: i64 = 5_000;
/// Monitoring and parallelism with `ConfigurationType: DEFAULT`.
const DEFAULT_METRICS_LEVEL: &str = "APPLICATION";
const DEFAULT_LOG_LEVEL: &str = "INFO";
const DEFAULT_PARALLELISM: u32 = 1;
const DEFAULT_PARALLELISM_PER_KPU: u32 = 1;
const DEFAULT_AUTO_SCALING: bool = true;
/// The most SQL a ZIP's `.sql` files may hold once inflated (the code of a PLAINTEXT
/// application may hold 102,400 characters; a ZIP is for larger scripts, not for bombs).
const MAX_ZIP_SQL_BYTES: u64 = 16 << 20;

pub fn is_flink(runtime: &str) -> bool {
    FLINK_RUNTIMES.contains(&runtime)
}

fn invalid(message: impl Into<String>) -> AnalyticsError {
    AnalyticsError::InvalidArgument(message.into())
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigurationType {
    #[default]
    Default,
    Custom,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CheckpointConfiguration {
    pub configuration_type: ConfigurationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpointing_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pause_between_checkpoints: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringConfiguration {
    pub configuration_type: ConfigurationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ParallelismConfiguration {
    pub configuration_type: ConfigurationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(
        rename = "ParallelismPerKPU",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parallelism_per_kpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling_enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct FlinkApplicationConfiguration {
    pub checkpoint_configuration: Option<CheckpointConfiguration>,
    pub monitoring_configuration: Option<MonitoringConfiguration>,
    pub parallelism_configuration: Option<ParallelismConfiguration>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CheckpointConfigurationUpdate {
    pub configuration_type_update: Option<ConfigurationType>,
    pub checkpointing_enabled_update: Option<bool>,
    pub checkpoint_interval_update: Option<i64>,
    pub min_pause_between_checkpoints_update: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringConfigurationUpdate {
    pub configuration_type_update: Option<ConfigurationType>,
    pub metrics_level_update: Option<String>,
    pub log_level_update: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ParallelismConfigurationUpdate {
    pub configuration_type_update: Option<ConfigurationType>,
    pub parallelism_update: Option<u32>,
    #[serde(rename = "ParallelismPerKPUUpdate")]
    pub parallelism_per_kpu_update: Option<u32>,
    pub auto_scaling_enabled_update: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct FlinkApplicationConfigurationUpdate {
    pub checkpoint_configuration_update: Option<CheckpointConfigurationUpdate>,
    pub monitoring_configuration_update: Option<MonitoringConfigurationUpdate>,
    pub parallelism_configuration_update: Option<ParallelismConfigurationUpdate>,
}

/// `PropertyGroup`, stored and described as given.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyGroup {
    pub property_group_id: String,
    pub property_map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PropertyGroups {
    pub property_groups: Vec<PropertyGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfiguration {
    pub key_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfigurationUpdate {
    pub key_type_update: String,
    pub key_id_update: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RestoreType {
    SkipRestoreFromSnapshot,
    #[default]
    RestoreFromLatestSnapshot,
    RestoreFromCustomSnapshot,
}

/// `ApplicationRestoreConfiguration`: which snapshot the next run starts from. AWS's default is
/// the latest snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreConfiguration {
    pub application_restore_type: RestoreType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
}

impl RestoreConfiguration {
    /// AWS uses `SnapshotName` only with RESTORE_FROM_CUSTOM_SNAPSHOT, which needs it.
    fn checked(mut self) -> Result<RestoreConfiguration> {
        match self.application_restore_type {
            RestoreType::RestoreFromCustomSnapshot if self.snapshot_name.is_none() => Err(invalid(
                "SnapshotName is required when ApplicationRestoreType is RESTORE_FROM_CUSTOM_SNAPSHOT.",
            )),
            RestoreType::RestoreFromCustomSnapshot => Ok(self),
            _ => {
                self.snapshot_name = None;
                Ok(self)
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct FlinkRunConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
}

/// `RunConfiguration` of StartApplication and `RunConfigurationUpdate` of UpdateApplication
/// (the same members).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfigurationUpdate {
    pub flink_run_configuration: Option<FlinkRunConfiguration>,
    pub application_restore_configuration: Option<RestoreConfiguration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct S3ContentLocation {
    #[serde(rename = "BucketARN")]
    pub bucket_arn: String,
    #[serde(rename = "FileKey")]
    pub file_key: String,
    #[serde(
        rename = "ObjectVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub object_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct S3ContentLocationUpdate {
    #[serde(rename = "BucketARNUpdate")]
    pub bucket_arn_update: Option<String>,
    #[serde(rename = "FileKeyUpdate")]
    pub file_key_update: Option<String>,
    #[serde(rename = "ObjectVersionUpdate")]
    pub object_version_update: Option<String>,
}

/// The Flink members of `ApplicationConfiguration` (the code is read on its own).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct FlinkMembers {
    pub flink_application_configuration: Option<FlinkApplicationConfiguration>,
    pub environment_properties: Option<PropertyGroups>,
    pub application_snapshot_configuration: Option<SnapshotConfiguration>,
    pub application_system_rollback_configuration: Option<RollbackConfiguration>,
    pub vpc_configurations: Option<Value>,
    pub zeppelin_application_configuration: Option<Value>,
    pub application_encryption_configuration: Option<EncryptionConfiguration>,
    pub sql_application_configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotConfiguration {
    pub snapshots_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackConfiguration {
    pub rollback_enabled: bool,
}

/// The Flink members of `ApplicationConfigurationUpdate`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct FlinkMemberUpdates {
    pub flink_application_configuration_update: Option<FlinkApplicationConfigurationUpdate>,
    pub environment_property_updates: Option<PropertyGroups>,
    pub application_snapshot_configuration_update: Option<SnapshotConfigurationUpdate>,
    pub application_system_rollback_configuration_update: Option<RollbackConfigurationUpdate>,
    pub vpc_configuration_updates: Option<Value>,
    pub zeppelin_application_configuration_update: Option<Value>,
    pub application_encryption_configuration_update: Option<EncryptionConfigurationUpdate>,
    pub sql_application_configuration_update: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotConfigurationUpdate {
    pub snapshots_enabled_update: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackConfigurationUpdate {
    pub rollback_enabled_update: bool,
}

/// The code as stored. A ZIP is kept as its checksum, size and the SQL it holds; an archive that
/// holds no SQL (a JAR, for a Flink cluster) is kept apart, in the catalog by its MD5 (`archive`
/// carries it from the request to there); an S3 object is read when the application starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Code {
    Text {
        text: String,
    },
    Zip {
        md5: String,
        size: u64,
        /// Its `.sql` files, in name order; or why there is no SQL in it.
        sql: std::result::Result<String, String>,
        /// The archive as the request brought it, when it holds no SQL; not in the document.
        #[serde(skip)]
        archive: Option<Arc<Vec<u8>>>,
    },
    S3 {
        location: S3ContentLocation,
    },
}

impl Default for Code {
    fn default() -> Code {
        Code::Text {
            text: String::new(),
        }
    }
}

/// What AWS answers when an application's code is not SQL and no Flink cluster runs JARs.
pub fn not_sql(why: &str) -> String {
    format!(
        "The application code holds no Flink SQL ({why}). Freshet's embedded engine runs Flink SQL (PLAINTEXT TextContent, or a ZIP of .sql files); a JAR application needs an Apache Flink cluster: set [analytics.flink] rest_url in Freshet's configuration."
    )
}

/// What AWS answers when an archive is neither SQL nor a JAR (a Python application's ZIP).
pub fn not_jar(why: &str) -> String {
    format!(
        "The application code is neither Flink SQL ({why}) nor a JAR (no META-INF/MANIFEST.MF or .class files): Freshet runs Flink SQL and Java applications; Python applications are not supported."
    )
}

/// Whether a ZIP archive is a Java archive: a manifest or compiled classes.
pub fn is_jar(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_ok_and(|archive| {
        archive.file_names().any(|name| {
            name.is_ok_and(|n| {
                n.eq_ignore_ascii_case("META-INF/MANIFEST.MF") || n.ends_with(".class")
            })
        })
    })
}

impl Code {
    fn text(text: String) -> Code {
        Code::Text { text }
    }

    /// An inline ZIP (its bytes base64-encoded in the JSON request).
    fn zip(base64_bytes: &str) -> Result<Code> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_bytes)
            .map_err(|e| invalid(format!("ZipFileContent is not valid base64: {e}.")))?;
        let sql = sql_from_zip(&bytes);
        Ok(Code::Zip {
            md5: hex(&Md5::digest(&bytes)),
            size: bytes.len() as u64,
            archive: sql.is_err().then(|| Arc::new(bytes)),
            sql,
        })
    }

    fn s3(location: S3ContentLocation) -> Result<Code> {
        crate::arn::bucket_from_arn(&location.bucket_arn)
            .ok_or_else(|| invalid(format!("Invalid BucketARN {}.", location.bucket_arn)))?;
        Ok(Code::S3 { location })
    }

    fn content_type(&self) -> &'static str {
        match self {
            Code::Text { .. } => "PLAINTEXT",
            Code::Zip { .. } | Code::S3 { .. } => "ZIPFILE",
        }
    }

    /// The SQL known without reading S3, for checking it when it is set.
    fn known_sql(&self) -> Option<&str> {
        match self {
            Code::Text { text } => Some(text),
            Code::Zip { sql: Ok(sql), .. } => Some(sql),
            _ => None,
        }
    }

    /// `ApplicationCodeConfigurationDescription`.
    fn describe(&self) -> Value {
        let content = match self {
            Code::Text { text } => json!({ "TextContent": text, "CodeSize": text.len() }),
            // AWS's model calls the checksum CodeMD5: it is the MD5 of the archive, in hex.
            Code::Zip { md5, size, .. } => json!({ "CodeMD5": md5, "CodeSize": size }),
            Code::S3 { location } => json!({ "S3ApplicationCodeLocationDescription": location }),
        };
        json!({ "CodeContentType": self.content_type(), "CodeContentDescription": content })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SQL of a ZIP: its `.sql` files in name order, one after the other; Err says why there
/// is none (not a ZIP, a JAR's classes only, text that is not UTF-8).
pub fn sql_from_zip(bytes: &[u8]) -> std::result::Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the code is not a ZIP file: {e}"))?;
    let mut names = Vec::new();
    for name in archive.file_names() {
        let name = name.map_err(|e| format!("cannot read the ZIP file's entries: {e}"))?;
        if name.to_ascii_lowercase().ends_with(".sql") {
            names.push(name.into_owned());
        }
    }
    if names.is_empty() {
        return Err("the ZIP file has no .sql files".into());
    }
    names.sort();
    let mut sql = String::new();
    let mut budget = MAX_ZIP_SQL_BYTES;
    for name in names {
        let file = archive
            .by_name(&name)
            .map_err(|e| format!("cannot read {name} in the ZIP file: {e}"))?;
        let mut text = Vec::new();
        file.take(budget + 1)
            .read_to_end(&mut text)
            .map_err(|e| format!("cannot read {name} in the ZIP file: {e}"))?;
        budget = budget
            .checked_sub(text.len() as u64)
            .ok_or_else(|| format!("the .sql files hold more than {MAX_ZIP_SQL_BYTES} bytes"))?;
        let text = String::from_utf8(text).map_err(|_| format!("{name} is not UTF-8 text"))?;
        if !sql.is_empty() && !sql.ends_with('\n') {
            sql.push('\n');
        }
        sql.push_str(&text);
    }
    Ok(sql)
}

/// `ApplicationCodeConfiguration` of CreateApplication.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeConfiguration {
    pub code_content: Option<CodeContent>,
    pub code_content_type: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CodeContent {
    pub text_content: Option<String>,
    pub zip_file_content: Option<String>,
    #[serde(rename = "S3ContentLocation")]
    pub s3_content_location: Option<S3ContentLocation>,
}

/// `ApplicationCodeConfigurationUpdate`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeConfigurationUpdate {
    pub code_content_type_update: Option<String>,
    pub code_content_update: Option<CodeContentUpdate>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CodeContentUpdate {
    pub text_content_update: Option<String>,
    pub zip_file_content_update: Option<String>,
    #[serde(rename = "S3ContentLocationUpdate")]
    pub s3_content_location_update: Option<S3ContentLocationUpdate>,
}

/// The code a CreateApplication names: PLAINTEXT takes TextContent only, ZIPFILE exactly one of
/// ZipFileContent and S3ContentLocation.
fn code_of(code: Option<CodeConfiguration>) -> Result<Code> {
    let Some(code) = code else {
        return Ok(Code::default());
    };
    let content = code.code_content.unwrap_or_default();
    match code.code_content_type.as_str() {
        "PLAINTEXT" => {
            if content.zip_file_content.is_some() || content.s3_content_location.is_some() {
                return Err(invalid(
                    "CodeContentType PLAINTEXT takes TextContent; ZipFileContent and S3ContentLocation need CodeContentType ZIPFILE.",
                ));
            }
            Ok(Code::text(content.text_content.unwrap_or_default()))
        }
        _ => match (
            content.text_content,
            content.zip_file_content,
            content.s3_content_location,
        ) {
            (Some(_), _, _) => Err(invalid(
                "CodeContentType ZIPFILE takes ZipFileContent or S3ContentLocation; TextContent needs CodeContentType PLAINTEXT.",
            )),
            (None, Some(zip), None) => Code::zip(&zip),
            (None, None, Some(s3)) => Code::s3(s3),
            (None, Some(_), Some(_)) => Err(invalid(
                "Specify either ZipFileContent or S3ContentLocation, not both.",
            )),
            (None, None, None) => Err(invalid(
                "CodeContentType ZIPFILE needs ZipFileContent or S3ContentLocation.",
            )),
        },
    }
}

/// A Flink application's configuration, one per version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FlinkConfig {
    pub runtime: String,
    pub code: Code,
    pub checkpoint: CheckpointConfiguration,
    pub monitoring: MonitoringConfiguration,
    pub parallelism: ParallelismConfiguration,
    /// None until EnvironmentProperties are given (then described, even when emptied).
    pub properties: Option<Vec<PropertyGroup>>,
    pub snapshots_enabled: bool,
    pub rollback_enabled: bool,
    pub encryption: Option<EncryptionConfiguration>,
    pub restore: RestoreConfiguration,
    pub run: FlinkRunConfiguration,
}

fn property_groups(groups: Vec<PropertyGroup>) -> Result<Vec<PropertyGroup>> {
    let mut ids = std::collections::BTreeSet::new();
    for group in &groups {
        if !ids.insert(group.property_group_id.as_str()) {
            return Err(invalid(format!(
                "Duplicate PropertyGroupId {} in PropertyGroups.",
                group.property_group_id
            )));
        }
    }
    Ok(groups)
}

fn encryption(configuration: EncryptionConfiguration) -> Result<EncryptionConfiguration> {
    if configuration.key_type == "CUSTOMER_MANAGED_KEY" && configuration.key_id.is_none() {
        return Err(invalid(
            "KeyId is required when KeyType is CUSTOMER_MANAGED_KEY.",
        ));
    }
    Ok(configuration)
}

/// VPCs are AWS networking Freshet does not have: an application runs inside the server.
fn no_vpc(member: &str) -> AnalyticsError {
    invalid(format!(
        "{member} is not supported by Freshet: applications run inside the server, which has no VPC to attach them to."
    ))
}

fn no_zeppelin(member: &str) -> AnalyticsError {
    invalid(format!(
        "{member} is only for Studio (ZEPPELIN-FLINK-*) applications."
    ))
}

impl FlinkConfig {
    /// The configuration CreateApplication makes, its code checked when it is SQL at hand.
    pub fn create(
        runtime: String,
        code: Option<CodeConfiguration>,
        members: FlinkMembers,
    ) -> Result<FlinkConfig> {
        if members.sql_application_configuration.is_some() {
            return Err(invalid(format!(
                "SqlApplicationConfiguration is only for SQL-1_0 applications, not {runtime}."
            )));
        }
        if members.vpc_configurations.is_some() {
            return Err(no_vpc("VpcConfigurations"));
        }
        if members.zeppelin_application_configuration.is_some() {
            return Err(no_zeppelin("ZeppelinApplicationConfiguration"));
        }
        let flink = members.flink_application_configuration.unwrap_or_default();
        let config = FlinkConfig {
            runtime,
            code: code_of(code)?,
            checkpoint: flink.checkpoint_configuration.unwrap_or_default(),
            monitoring: flink.monitoring_configuration.unwrap_or_default(),
            parallelism: flink.parallelism_configuration.unwrap_or_default(),
            properties: members
                .environment_properties
                .map(|p| property_groups(p.property_groups))
                .transpose()?,
            snapshots_enabled: members
                .application_snapshot_configuration
                .is_some_and(|s| s.snapshots_enabled),
            rollback_enabled: members
                .application_system_rollback_configuration
                .is_some_and(|r| r.rollback_enabled),
            encryption: members
                .application_encryption_configuration
                .map(encryption)
                .transpose()?,
            restore: RestoreConfiguration::default(),
            run: FlinkRunConfiguration::default(),
        };
        Ok(config)
    }

    /// Checks the code's SQL on the embedded engine, which runs it (a Flink cluster checks
    /// its own, more SQL than the engine plans, when it starts).
    pub fn check_code(&self) -> Result<()> {
        match self.code.known_sql() {
            Some(sql) => validate::flink_code(sql, &self.property_map()),
            None => Ok(()),
        }
    }

    /// The archive a request brought that the catalog must keep (a JAR), with its MD5; it is
    /// not kept in the configuration itself.
    pub fn take_archive(&mut self) -> Option<(String, Arc<Vec<u8>>)> {
        match &mut self.code {
            Code::Zip { md5, archive, .. } => Some((md5.clone(), archive.take()?)),
            _ => None,
        }
    }

    /// `${group.key}` values for the code: the property groups as maps.
    pub fn property_map(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.properties
            .iter()
            .flatten()
            .map(|g| (g.property_group_id.clone(), g.property_map.clone()))
            .collect()
    }

    /// Applies the Flink members of an UpdateApplication.
    pub fn apply(
        &mut self,
        updates: FlinkMemberUpdates,
        code: Option<CodeConfigurationUpdate>,
        run: Option<RunConfigurationUpdate>,
        runtime: Option<String>,
    ) -> Result<()> {
        if updates.sql_application_configuration_update.is_some() {
            return Err(invalid(format!(
                "SqlApplicationConfigurationUpdate is only for SQL-1_0 applications, not {}.",
                self.runtime
            )));
        }
        if updates.vpc_configuration_updates.is_some() {
            return Err(no_vpc("VpcConfigurationUpdates"));
        }
        if updates.zeppelin_application_configuration_update.is_some() {
            return Err(no_zeppelin("ZeppelinApplicationConfigurationUpdate"));
        }
        if let Some(runtime) = runtime {
            self.upgrade(runtime)?;
        }
        if let Some(code) = code {
            self.apply_code(code)?;
        }
        if let Some(flink) = updates.flink_application_configuration_update {
            self.apply_flink(flink);
        }
        if let Some(properties) = updates.environment_property_updates {
            self.properties = Some(property_groups(properties.property_groups)?);
        }
        if let Some(s) = updates.application_snapshot_configuration_update {
            self.snapshots_enabled = s.snapshots_enabled_update;
        }
        if let Some(r) = updates.application_system_rollback_configuration_update {
            self.rollback_enabled = r.rollback_enabled_update;
        }
        if let Some(e) = updates.application_encryption_configuration_update {
            self.encryption = Some(encryption(EncryptionConfiguration {
                key_type: e.key_type_update,
                key_id: e.key_id_update,
            })?);
        }
        if let Some(run) = run {
            self.apply_run(run)?;
        }
        Ok(())
    }

    /// An in-place version upgrade: to a newer FLINK-* runtime only (going back is a rollback).
    fn upgrade(&mut self, runtime: String) -> Result<()> {
        let at = |r: &str| FLINK_RUNTIMES.iter().position(|x| *x == r);
        match (at(&self.runtime), at(&runtime)) {
            (Some(from), Some(to)) if to >= from => {
                self.runtime = runtime;
                Ok(())
            }
            (Some(_), Some(_)) => Err(invalid(format!(
                "RuntimeEnvironmentUpdate cannot go from {} back to {runtime}: an in-place version upgrade only moves to a newer Apache Flink runtime.",
                self.runtime
            ))),
            _ => Err(invalid(format!(
                "RuntimeEnvironmentUpdate to {runtime} is not supported for {} applications: choose a FLINK-* runtime.",
                self.runtime
            ))),
        }
    }

    fn apply_code(&mut self, update: CodeConfigurationUpdate) -> Result<()> {
        let kind = update
            .code_content_type_update
            .unwrap_or_else(|| self.code.content_type().to_string());
        let content = update.code_content_update.unwrap_or_default();
        self.code = match kind.as_str() {
            "PLAINTEXT" => {
                if content.zip_file_content_update.is_some()
                    || content.s3_content_location_update.is_some()
                {
                    return Err(invalid(
                        "CodeContentType PLAINTEXT takes TextContentUpdate; ZipFileContentUpdate and S3ContentLocationUpdate need CodeContentType ZIPFILE.",
                    ));
                }
                match (content.text_content_update, &self.code) {
                    (Some(text), _) => Code::text(text),
                    (None, Code::Text { .. }) => return Ok(()),
                    (None, _) => {
                        return Err(invalid(
                            "TextContentUpdate is required to change the code to PLAINTEXT.",
                        ));
                    }
                }
            }
            _ => match (
                content.text_content_update,
                content.zip_file_content_update,
                content.s3_content_location_update,
            ) {
                (Some(_), _, _) => {
                    return Err(invalid(
                        "CodeContentType ZIPFILE takes ZipFileContentUpdate or S3ContentLocationUpdate; TextContentUpdate needs CodeContentType PLAINTEXT.",
                    ));
                }
                (None, Some(_), Some(_)) => {
                    return Err(invalid(
                        "Specify either ZipFileContentUpdate or S3ContentLocationUpdate, not both.",
                    ));
                }
                (None, Some(zip), None) => Code::zip(&zip)?,
                (None, None, Some(s3)) => Code::s3(self.s3_location(s3)?)?,
                (None, None, None) => match &self.code {
                    Code::Text { .. } => {
                        return Err(invalid(
                            "ZipFileContentUpdate or S3ContentLocationUpdate is required to change the code to ZIPFILE.",
                        ));
                    }
                    _ => return Ok(()),
                },
            },
        };
        Ok(())
    }

    /// The S3 location after an update: members left out keep their values; moving from inline
    /// code to S3 needs the bucket and the key.
    fn s3_location(&self, update: S3ContentLocationUpdate) -> Result<S3ContentLocation> {
        let current = match &self.code {
            Code::S3 { location } => Some(location.clone()),
            _ => None,
        };
        let (bucket_arn, file_key) = match (update.bucket_arn_update, update.file_key_update) {
            (Some(b), Some(k)) => (b, k),
            (b, k) => match &current {
                Some(c) => (
                    b.unwrap_or_else(|| c.bucket_arn.clone()),
                    k.unwrap_or_else(|| c.file_key.clone()),
                ),
                None => {
                    return Err(invalid(
                        "BucketARNUpdate and FileKeyUpdate are required to move the code to S3.",
                    ));
                }
            },
        };
        Ok(S3ContentLocation {
            bucket_arn,
            file_key,
            object_version: update
                .object_version_update
                .or_else(|| current.and_then(|c| c.object_version)),
        })
    }

    fn apply_flink(&mut self, update: FlinkApplicationConfigurationUpdate) {
        if let Some(c) = update.checkpoint_configuration_update {
            let s = &mut self.checkpoint;
            s.configuration_type = c.configuration_type_update.unwrap_or(s.configuration_type);
            s.checkpointing_enabled = c.checkpointing_enabled_update.or(s.checkpointing_enabled);
            s.checkpoint_interval = c.checkpoint_interval_update.or(s.checkpoint_interval);
            s.min_pause_between_checkpoints = c
                .min_pause_between_checkpoints_update
                .or(s.min_pause_between_checkpoints);
        }
        if let Some(m) = update.monitoring_configuration_update {
            let s = &mut self.monitoring;
            s.configuration_type = m.configuration_type_update.unwrap_or(s.configuration_type);
            s.metrics_level = m.metrics_level_update.or(s.metrics_level.take());
            s.log_level = m.log_level_update.or(s.log_level.take());
        }
        if let Some(p) = update.parallelism_configuration_update {
            let s = &mut self.parallelism;
            s.configuration_type = p.configuration_type_update.unwrap_or(s.configuration_type);
            s.parallelism = p.parallelism_update.or(s.parallelism);
            s.parallelism_per_kpu = p.parallelism_per_kpu_update.or(s.parallelism_per_kpu);
            s.auto_scaling_enabled = p.auto_scaling_enabled_update.or(s.auto_scaling_enabled);
        }
    }

    /// A RunConfiguration (StartApplication) or RunConfigurationUpdate: members left out keep
    /// their values.
    pub fn apply_run(&mut self, run: RunConfigurationUpdate) -> Result<()> {
        if let Some(restore) = run.application_restore_configuration {
            self.restore = restore.checked()?;
        }
        if let Some(flink) = run.flink_run_configuration
            && flink.allow_non_restored_state.is_some()
        {
            self.run.allow_non_restored_state = flink.allow_non_restored_state;
        }
        Ok(())
    }

    pub fn allow_non_restored_state(&self) -> bool {
        self.run.allow_non_restored_state.unwrap_or(false)
    }

    /// How often a run checkpoints: the CheckpointConfiguration's interval (DEFAULT: 60 s, as
    /// Managed Flink), or None when a CUSTOM configuration disables checkpointing.
    pub fn checkpoint_interval(&self) -> Option<std::time::Duration> {
        let c = &self.checkpoint;
        let (enabled, interval) = match c.configuration_type {
            ConfigurationType::Default => (DEFAULT_CHECKPOINTING, DEFAULT_CHECKPOINT_INTERVAL_MS),
            ConfigurationType::Custom => (
                c.checkpointing_enabled.unwrap_or(DEFAULT_CHECKPOINTING),
                c.checkpoint_interval
                    .unwrap_or(DEFAULT_CHECKPOINT_INTERVAL_MS),
            ),
        };
        enabled.then(|| std::time::Duration::from_millis(interval.max(1) as u64))
    }

    /// The parallelism the application runs with.
    pub fn effective_parallelism(&self) -> u32 {
        match self.parallelism.configuration_type {
            ConfigurationType::Default => DEFAULT_PARALLELISM,
            ConfigurationType::Custom => {
                self.parallelism.parallelism.unwrap_or(DEFAULT_PARALLELISM)
            }
        }
    }

    /// `ApplicationConfigurationDescription` of a Flink application.
    pub fn describe(&self) -> Value {
        let c = &self.checkpoint;
        let checkpoint = match c.configuration_type {
            ConfigurationType::Default => json!({
                "ConfigurationType": "DEFAULT",
                "CheckpointingEnabled": DEFAULT_CHECKPOINTING,
                "CheckpointInterval": DEFAULT_CHECKPOINT_INTERVAL_MS,
                "MinPauseBetweenCheckpoints": DEFAULT_MIN_PAUSE_MS,
            }),
            ConfigurationType::Custom => json!({
                "ConfigurationType": "CUSTOM",
                "CheckpointingEnabled": c.checkpointing_enabled.unwrap_or(DEFAULT_CHECKPOINTING),
                "CheckpointInterval": c.checkpoint_interval.unwrap_or(DEFAULT_CHECKPOINT_INTERVAL_MS),
                "MinPauseBetweenCheckpoints":
                    c.min_pause_between_checkpoints.unwrap_or(DEFAULT_MIN_PAUSE_MS),
            }),
        };
        let m = &self.monitoring;
        let custom = m.configuration_type == ConfigurationType::Custom;
        let monitoring = json!({
            "ConfigurationType": m.configuration_type,
            "MetricsLevel": m.metrics_level.as_deref().filter(|_| custom).unwrap_or(DEFAULT_METRICS_LEVEL),
            "LogLevel": m.log_level.as_deref().filter(|_| custom).unwrap_or(DEFAULT_LOG_LEVEL),
        });
        let p = &self.parallelism;
        let custom = p.configuration_type == ConfigurationType::Custom;
        let parallelism = json!({
            "ConfigurationType": p.configuration_type,
            "Parallelism": self.effective_parallelism(),
            "ParallelismPerKPU": p.parallelism_per_kpu.filter(|_| custom).unwrap_or(DEFAULT_PARALLELISM_PER_KPU),
            // Freshet runs an application as one task and never scales it.
            "CurrentParallelism": self.effective_parallelism(),
            "AutoScalingEnabled": p.auto_scaling_enabled.filter(|_| custom).unwrap_or(DEFAULT_AUTO_SCALING),
        });
        let mut out = json!({
            "ApplicationCodeConfigurationDescription": self.code.describe(),
            "RunConfigurationDescription": {
                "ApplicationRestoreConfigurationDescription": self.restore,
                "FlinkRunConfigurationDescription": {
                    "AllowNonRestoredState": self.allow_non_restored_state(),
                },
            },
            "FlinkApplicationConfigurationDescription": {
                "CheckpointConfigurationDescription": checkpoint,
                "MonitoringConfigurationDescription": monitoring,
                "ParallelismConfigurationDescription": parallelism,
            },
            "ApplicationSnapshotConfigurationDescription": {
                "SnapshotsEnabled": self.snapshots_enabled,
            },
            "ApplicationSystemRollbackConfigurationDescription": {
                "RollbackEnabled": self.rollback_enabled,
            },
        });
        if let Some(properties) = &self.properties {
            out["EnvironmentPropertyDescriptions"] =
                json!({ "PropertyGroupDescriptions": properties });
        }
        if let Some(encryption) = &self.encryption {
            out["ApplicationEncryptionConfigurationDescription"] = json!(encryption);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, text) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_zip_s_sql_files_make_the_code_in_name_order() {
        let zip = zip_of(&[
            ("b/2-insert.sql", "INSERT INTO b SELECT id FROM g;"),
            ("README.md", "not code"),
            ("a/1-tables.SQL", "CREATE TABLE g (id BIGINT);"),
        ]);
        assert_eq!(
            sql_from_zip(&zip).unwrap(),
            "CREATE TABLE g (id BIGINT);\nINSERT INTO b SELECT id FROM g;"
        );
        let jar = zip_of(&[("com/example/Job.class", "\u{1}")]);
        assert!(sql_from_zip(&jar).unwrap_err().contains("no .sql files"));
        assert!(
            sql_from_zip(b"not a zip")
                .unwrap_err()
                .contains("not a ZIP")
        );
    }

    #[test]
    fn defaults_are_described_as_aws_describes_them() {
        let config =
            FlinkConfig::create("FLINK-1_20".into(), None, FlinkMembers::default()).unwrap();
        let d = config.describe();
        let flink = &d["FlinkApplicationConfigurationDescription"];
        assert_eq!(
            flink["CheckpointConfigurationDescription"],
            json!({"ConfigurationType": "DEFAULT", "CheckpointingEnabled": true,
                   "CheckpointInterval": 60000, "MinPauseBetweenCheckpoints": 5000})
        );
        assert_eq!(
            flink["ParallelismConfigurationDescription"]["CurrentParallelism"],
            json!(1)
        );
        assert_eq!(
            d["RunConfigurationDescription"]["ApplicationRestoreConfigurationDescription"],
            json!({"ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"})
        );
        assert_eq!(
            d["ApplicationSnapshotConfigurationDescription"],
            json!({"SnapshotsEnabled": false})
        );
    }

    #[test]
    fn upgrades_go_forward_only() {
        let mut config = FlinkConfig {
            runtime: "FLINK-1_15".into(),
            ..FlinkConfig::default()
        };
        config.upgrade("FLINK-1_20".into()).unwrap();
        assert!(config.upgrade("FLINK-1_18".into()).is_err());
        assert!(config.upgrade("SQL-1_0".into()).is_err());
        assert_eq!(config.runtime, "FLINK-1_20");
    }

    #[test]
    fn a_custom_restore_needs_a_name_and_others_drop_it() {
        let custom = RestoreConfiguration {
            application_restore_type: RestoreType::RestoreFromCustomSnapshot,
            snapshot_name: None,
        };
        assert!(custom.checked().is_err());
        let latest = RestoreConfiguration {
            application_restore_type: RestoreType::RestoreFromLatestSnapshot,
            snapshot_name: Some("x".into()),
        };
        assert_eq!(latest.checked().unwrap().snapshot_name, None);
    }
}
