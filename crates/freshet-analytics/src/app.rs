//! An application as stored (the catalog row's document): its configuration in AWS's
//! description shapes (a SQL application's) or request shapes (a Flink application's,
//! `flink.rs`), status, version, tags, the versions it went through and the operations run on
//! it. Changes are pure functions on a copy, so a refused change leaves nothing behind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{AnalyticsError, Result};
use crate::flink::FlinkConfig;
use crate::model::*;
use crate::validate;

/// `RuntimeEnvironment` of SQL applications (v1's, and v2's SQL view).
pub const SQL_RUNTIME: &str = "SQL-1_0";
/// Versions and operations kept per application (for v2's ListApplicationVersions and
/// ListApplicationOperations); older ones are forgotten.
const HISTORY: usize = 50;

/// What a version of an application is: everything a change can touch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Config {
    pub description: Option<String>,
    pub code: String,
    pub service_execution_role: Option<String>,
    pub inputs: Vec<InputDescription>,
    pub outputs: Vec<OutputDescription>,
    pub references: Vec<ReferenceDataSourceDescription>,
    pub cloudwatch: Vec<CloudWatchLoggingOptionDescription>,
    /// A Flink application's configuration (its code included: `code` above stays empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink: Option<FlinkConfig>,
}

impl Config {
    /// The `RuntimeEnvironment` this configuration runs on.
    pub fn runtime(&self) -> &str {
        self.flink
            .as_ref()
            .map_or(SQL_RUNTIME, |f| f.runtime.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: u64,
    pub status: ApplicationStatus,
    pub created_ms: i64,
    pub config: Config,
    /// Whether a run of this version started (a rollback goes back to the last such version).
    #[serde(default)]
    pub ran: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationStatus {
    InProgress,
    Cancelled,
    Successful,
    Failed,
}

/// One operation v2 reports (`ApplicationOperationInfo`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: String,
    pub operation: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub status: OperationStatus,
    pub from_version: u64,
    pub to_version: u64,
    pub error: Option<String>,
    /// The system rollback this failed operation started (`OperationFailureDetails`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_operation: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppDoc {
    pub status: ApplicationStatus,
    pub version: u64,
    pub updated_ms: i64,
    pub runtime: String,
    pub config: Config,
    pub tags: BTreeMap<String, Option<String>>,
    pub versions: Vec<VersionRecord>,
    pub operations: Vec<OperationRecord>,
    pub next_operation: u64,
    /// The version the last UpdateApplication changed (`ApplicationVersionUpdatedFrom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_from: Option<u64>,
    /// The versions the last rollback went from and back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<u64>,
    /// `ApplicationMaintenanceWindowStartTime` (HH:MM, UTC) once set; no version of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window_start: Option<String>,
}

impl AppDoc {
    pub fn new(config: Config, tags: BTreeMap<String, Option<String>>, now_ms: i64) -> AppDoc {
        let mut doc = AppDoc {
            status: ApplicationStatus::Ready,
            version: 1,
            updated_ms: now_ms,
            runtime: config.runtime().to_string(),
            config,
            tags,
            versions: Vec::new(),
            operations: Vec::new(),
            next_operation: 1,
            updated_from: None,
            rolled_back_from: None,
            rolled_back_to: None,
            maintenance_window_start: None,
        };
        doc.record_version(now_ms);
        doc
    }

    pub fn parse(text: &str) -> Result<AppDoc> {
        serde_json::from_str(text).map_err(|e| AnalyticsError::Corrupt(e.to_string()))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| AnalyticsError::Corrupt(e.to_string()))
    }

    /// Commits a configuration change as the next version.
    pub fn bump(&mut self, now_ms: i64) {
        // The version it supersedes is listed with the status it ended in.
        let status = self.status;
        if let Some(current) = self.current_version() {
            current.status = status;
        }
        self.version += 1;
        self.updated_ms = now_ms;
        self.runtime = self.config.runtime().to_string();
        self.record_version(now_ms);
    }

    fn record_version(&mut self, now_ms: i64) {
        self.versions.push(VersionRecord {
            version: self.version,
            status: self.status,
            created_ms: now_ms,
            config: self.config.clone(),
            ran: false,
        });
        let excess = self.versions.len().saturating_sub(HISTORY);
        self.versions.drain(..excess);
    }

    /// Records an operation and returns its id.
    pub fn begin_operation(&mut self, operation: &str, from_version: u64, now_ms: i64) -> String {
        let id = format!("{:016x}", self.next_operation);
        self.next_operation += 1;
        self.operations.push(OperationRecord {
            id: id.clone(),
            operation: operation.into(),
            start_ms: now_ms,
            end_ms: None,
            status: OperationStatus::InProgress,
            from_version,
            to_version: self.version,
            error: None,
            rollback_operation: None,
        });
        let excess = self.operations.len().saturating_sub(HISTORY);
        self.operations.drain(..excess);
        id
    }

    /// Ends the operation in progress, if any, with `outcome`.
    pub fn end_operation(&mut self, outcome: std::result::Result<(), String>, now_ms: i64) {
        if let Some(op) = self
            .operations
            .iter_mut()
            .rev()
            .find(|op| op.status == OperationStatus::InProgress)
        {
            op.end_ms = Some(now_ms);
            match outcome {
                Ok(()) => op.status = OperationStatus::Successful,
                Err(e) => {
                    op.status = OperationStatus::Failed;
                    op.error = Some(e);
                }
            }
        }
    }

    /// Cancels every operation still in progress (a forced stop or a rollback overtakes them).
    pub fn cancel_operations(&mut self, now_ms: i64) {
        for op in &mut self.operations {
            if op.status == OperationStatus::InProgress {
                op.status = OperationStatus::Cancelled;
                op.end_ms = Some(now_ms);
            }
        }
    }

    /// The current version's record.
    pub fn current_version(&mut self) -> Option<&mut VersionRecord> {
        let version = self.version;
        self.versions
            .iter_mut()
            .rev()
            .find(|v| v.version == version)
    }

    /// Whether `expected` is the current version: every change names the version it was made
    /// against (optimistic concurrency).
    pub fn check_version(&self, name: &str, expected: Option<u64>) -> Result<()> {
        match expected {
            Some(v) if v != self.version => Err(AnalyticsError::ConcurrentModification(format!(
                "Current application version is {}. The provided version {v} for application {name} is not current.",
                self.version
            ))),
            _ => Ok(()),
        }
    }
}

/// Ids as AWS makes them: `<version>.<n>`, the application version that added the item and its
/// place among the items of its kind that version added (`1.1` for the first input of a new
/// application, `2.1` for an output added to version 1).
pub fn next_id<'a>(version: u64, existing: impl Iterator<Item = &'a str>) -> String {
    let prefix = format!("{version}.");
    let n = existing
        .filter_map(|id| id.strip_prefix(&prefix)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", n + 1)
}

/// The in-application streams an input feeds: `<prefix>_001` … `<prefix>_<parallelism>`.
pub fn in_app_stream_names(prefix: &str, parallelism: u32) -> Vec<String> {
    (1..=parallelism)
        .map(|i| format!("{prefix}_{i:03}"))
        .collect()
}

fn not_found(kind: &str, id: &str, name: &str) -> AnalyticsError {
    AnalyticsError::ResourceNotFound(format!(
        "{kind} with id {id} not found in application {name}."
    ))
}

impl Config {
    /// Adds an input as version `version` (the version the change creates) numbers it.
    pub fn add_input(&mut self, input: Input, version: u64) -> Result<&InputDescription> {
        if input.input_processing_configuration.is_some() {
            return Err(validate::no_lambda("InputProcessingConfiguration"));
        }
        let parallelism = validate::parallelism(input.input_parallelism.and_then(|p| p.count))?;
        validate::schema(&input.input_schema)?;
        let (streams, firehose) = match (input.kinesis_streams_input, input.kinesis_firehose_input)
        {
            (Some(s), None) => (Some(s), None),
            (None, Some(f)) => (None, Some(f)),
            _ => {
                return Err(AnalyticsError::InvalidArgument(
                    "An input needs exactly one of KinesisStreamsInput and KinesisFirehoseInput."
                        .into(),
                ));
            }
        };
        let id = next_id(version, self.inputs.iter().map(|i| i.input_id.as_str()));
        self.inputs.push(InputDescription {
            input_id: id,
            in_app_stream_names: in_app_stream_names(&input.name_prefix, parallelism),
            name_prefix: input.name_prefix,
            input_processing_configuration_description: None,
            kinesis_streams_input_description: streams,
            kinesis_firehose_input_description: firehose,
            input_schema: input.input_schema,
            input_parallelism: InputParallelism {
                count: Some(parallelism),
            },
            input_starting_position_configuration: None,
        });
        validate::counts(self.inputs.len(), self.outputs.len(), self.references.len())?;
        Ok(self.inputs.last().expect("pushed above"))
    }

    pub fn add_output(&mut self, output: Output, version: u64) -> Result<&OutputDescription> {
        if output.lambda_output.is_some() {
            return Err(validate::no_lambda("LambdaOutput"));
        }
        let (streams, firehose) = match (
            output.kinesis_streams_output,
            output.kinesis_firehose_output,
        ) {
            (Some(s), None) => (Some(s), None),
            (None, Some(f)) => (None, Some(f)),
            _ => {
                return Err(AnalyticsError::InvalidArgument(
                    "An output needs exactly one of KinesisStreamsOutput, KinesisFirehoseOutput and LambdaOutput."
                        .into(),
                ));
            }
        };
        let id = next_id(version, self.outputs.iter().map(|o| o.output_id.as_str()));
        self.outputs.push(OutputDescription {
            output_id: id,
            name: output.name,
            kinesis_streams_output_description: streams,
            kinesis_firehose_output_description: firehose,
            lambda_output_description: None,
            destination_schema: output.destination_schema,
        });
        validate::counts(self.inputs.len(), self.outputs.len(), self.references.len())?;
        Ok(self.outputs.last().expect("pushed above"))
    }

    pub fn add_reference(
        &mut self,
        reference: ReferenceDataSource,
        version: u64,
    ) -> Result<&ReferenceDataSourceDescription> {
        validate::schema(&reference.reference_schema)?;
        let s3 = reference.s3_reference_data_source.ok_or_else(|| {
            AnalyticsError::InvalidArgument(
                "S3ReferenceDataSource is required: reference data is read from S3.".into(),
            )
        })?;
        crate::arn::bucket_from_arn(&s3.bucket_arn).ok_or_else(|| {
            AnalyticsError::InvalidArgument(format!("Invalid BucketARN {}.", s3.bucket_arn))
        })?;
        if self
            .references
            .iter()
            .any(|r| r.table_name == reference.table_name)
        {
            return Err(AnalyticsError::InvalidArgument(format!(
                "A reference data source with table name {} already exists.",
                reference.table_name
            )));
        }
        let id = next_id(
            version,
            self.references.iter().map(|r| r.reference_id.as_str()),
        );
        self.references.push(ReferenceDataSourceDescription {
            reference_id: id,
            table_name: reference.table_name,
            s3_reference_data_source_description: s3,
            reference_schema: reference.reference_schema,
        });
        validate::counts(self.inputs.len(), self.outputs.len(), self.references.len())?;
        Ok(self.references.last().expect("pushed above"))
    }

    pub fn add_cloudwatch(
        &mut self,
        option: CloudWatchLoggingOption,
        version: u64,
    ) -> Result<&CloudWatchLoggingOptionDescription> {
        if self
            .cloudwatch
            .iter()
            .any(|c| c.log_stream_arn == option.log_stream_arn)
        {
            return Err(AnalyticsError::InvalidArgument(format!(
                "The log stream {} is already a CloudWatch logging option of this application.",
                option.log_stream_arn
            )));
        }
        let id = next_id(
            version,
            self.cloudwatch
                .iter()
                .map(|c| c.cloud_watch_logging_option_id.as_str()),
        );
        self.cloudwatch.push(CloudWatchLoggingOptionDescription {
            cloud_watch_logging_option_id: id,
            log_stream_arn: option.log_stream_arn,
            role_arn: option.role_arn,
        });
        Ok(self.cloudwatch.last().expect("pushed above"))
    }

    pub fn input_mut(&mut self, id: &str, app: &str) -> Result<&mut InputDescription> {
        self.inputs
            .iter_mut()
            .find(|i| i.input_id == id)
            .ok_or_else(|| not_found("Input", id, app))
    }

    pub fn remove_output(&mut self, id: &str, app: &str) -> Result<()> {
        let at = self
            .outputs
            .iter()
            .position(|o| o.output_id == id)
            .ok_or_else(|| not_found("Output", id, app))?;
        self.outputs.remove(at);
        Ok(())
    }

    pub fn remove_reference(&mut self, id: &str, app: &str) -> Result<()> {
        let at = self
            .references
            .iter()
            .position(|r| r.reference_id == id)
            .ok_or_else(|| not_found("Reference data source", id, app))?;
        self.references.remove(at);
        Ok(())
    }

    pub fn remove_cloudwatch(&mut self, id: &str, app: &str) -> Result<()> {
        let at = self
            .cloudwatch
            .iter()
            .position(|c| c.cloud_watch_logging_option_id == id)
            .ok_or_else(|| not_found("CloudWatch logging option", id, app))?;
        self.cloudwatch.remove(at);
        Ok(())
    }

    /// Applies an `ApplicationUpdate` (v1's UpdateApplication, the SQL part of v2's).
    pub fn apply(&mut self, update: ApplicationUpdate, app: &str) -> Result<()> {
        if let Some(code) = update.application_code_update {
            validate::code(&code)?;
            self.code = code;
        }
        for u in update.input_updates.unwrap_or_default() {
            let input = self.input_mut(&u.input_id, app)?;
            if u.input_processing_configuration_update.is_some() {
                return Err(validate::no_lambda("InputProcessingConfiguration"));
            }
            if let Some(prefix) = u.name_prefix_update {
                input.name_prefix = prefix;
            }
            if let Some(p) = u.input_parallelism_update.and_then(|p| p.count_update) {
                input.input_parallelism.count = Some(validate::parallelism(Some(p))?);
            }
            let parallelism = input.input_parallelism.count.unwrap_or(1);
            input.in_app_stream_names = in_app_stream_names(&input.name_prefix, parallelism);
            if let Some(s) = u.kinesis_streams_input_update {
                let current = input.kinesis_streams_input_description.take();
                input.kinesis_streams_input_description = Some(updated(current, s)?);
                input.kinesis_firehose_input_description = None;
            }
            if let Some(f) = u.kinesis_firehose_input_update {
                let current = input.kinesis_firehose_input_description.take();
                input.kinesis_firehose_input_description = Some(updated(current, f)?);
                input.kinesis_streams_input_description = None;
            }
            if let Some(s) = u.input_schema_update {
                if let Some(format) = s.record_format_update {
                    input.input_schema.record_format = format;
                }
                if let Some(encoding) = s.record_encoding_update {
                    input.input_schema.record_encoding = Some(encoding);
                }
                if let Some(columns) = s.record_column_updates {
                    input.input_schema.record_columns = columns;
                }
                validate::schema(&input.input_schema)?;
            }
        }
        for u in update.output_updates.unwrap_or_default() {
            let output = self
                .outputs
                .iter_mut()
                .find(|o| o.output_id == u.output_id)
                .ok_or_else(|| not_found("Output", &u.output_id, app))?;
            if u.lambda_output_update.is_some() {
                return Err(validate::no_lambda("LambdaOutput"));
            }
            if let Some(name) = u.name_update {
                output.name = name;
            }
            if let Some(schema) = u.destination_schema_update {
                output.destination_schema = schema;
            }
            if let Some(s) = u.kinesis_streams_output_update {
                let current = output.kinesis_streams_output_description.take();
                output.kinesis_streams_output_description = Some(updated(current, s)?);
                output.kinesis_firehose_output_description = None;
            }
            if let Some(f) = u.kinesis_firehose_output_update {
                let current = output.kinesis_firehose_output_description.take();
                output.kinesis_firehose_output_description = Some(updated(current, f)?);
                output.kinesis_streams_output_description = None;
            }
        }
        for u in update.reference_data_source_updates.unwrap_or_default() {
            let reference = self
                .references
                .iter_mut()
                .find(|r| r.reference_id == u.reference_id)
                .ok_or_else(|| not_found("Reference data source", &u.reference_id, app))?;
            if let Some(table) = u.table_name_update {
                reference.table_name = table;
            }
            if let Some(s3) = u.s3_reference_data_source_update {
                let d = &mut reference.s3_reference_data_source_description;
                if let Some(bucket) = s3.bucket_arn_update {
                    crate::arn::bucket_from_arn(&bucket).ok_or_else(|| {
                        AnalyticsError::InvalidArgument(format!("Invalid BucketARN {bucket}."))
                    })?;
                    d.bucket_arn = bucket;
                }
                if let Some(key) = s3.file_key_update {
                    d.file_key = key;
                }
                if let Some(role) = s3.reference_role_arn_update {
                    d.reference_role_arn = Some(role);
                }
            }
            if let Some(schema) = u.reference_schema_update {
                validate::schema(&schema)?;
                reference.reference_schema = schema;
            }
        }
        for u in update
            .cloud_watch_logging_option_updates
            .unwrap_or_default()
        {
            let option = self
                .cloudwatch
                .iter_mut()
                .find(|c| c.cloud_watch_logging_option_id == u.cloud_watch_logging_option_id)
                .ok_or_else(|| {
                    not_found(
                        "CloudWatch logging option",
                        &u.cloud_watch_logging_option_id,
                        app,
                    )
                })?;
            if let Some(arn) = u.log_stream_arn_update {
                option.log_stream_arn = arn;
            }
            if let Some(role) = u.role_arn_update {
                option.role_arn = Some(role);
            }
        }
        Ok(())
    }
}

/// A resource/role pair after an update; switching kinds (streams ↔ Firehose) needs the ARN.
fn updated(current: Option<ResourceRole>, update: ResourceRoleUpdate) -> Result<ResourceRole> {
    let resource_arn = match (update.resource_arn_update, &current) {
        (Some(arn), _) => arn,
        (None, Some(c)) => c.resource_arn.clone(),
        (None, None) => {
            return Err(AnalyticsError::InvalidArgument(
                "ResourceARNUpdate is required to change the kind of a source or destination."
                    .into(),
            ));
        }
    };
    Ok(ResourceRole {
        resource_arn,
        role_arn: update
            .role_arn_update
            .or_else(|| current.and_then(|c| c.role_arn)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_version_that_added_them() {
        assert_eq!(next_id(1, [].into_iter()), "1.1");
        assert_eq!(next_id(1, ["1.1"].into_iter()), "1.2");
        assert_eq!(next_id(2, ["1.1", "1.2"].into_iter()), "2.1");
        assert_eq!(next_id(3, ["3.4", "2.1"].into_iter()), "3.5");
    }

    #[test]
    fn in_app_streams_are_numbered_from_001() {
        assert_eq!(
            in_app_stream_names("SOURCE_SQL_STREAM", 2),
            vec!["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"]
        );
    }

    #[test]
    fn versions_and_operations_are_kept_with_a_bound() {
        let mut doc = AppDoc::new(Config::default(), BTreeMap::new(), 1);
        for i in 0..60 {
            doc.bump(i);
        }
        assert_eq!(doc.version, 61);
        assert_eq!(doc.versions.len(), HISTORY);
        assert_eq!(doc.versions.last().map(|v| v.version), Some(61));
        let id = doc.begin_operation("StartApplication", 61, 5);
        doc.end_operation(Err("no".into()), 6);
        assert_eq!(doc.operations[0].id, id);
        assert_eq!(doc.operations[0].status, OperationStatus::Failed);
        assert!(doc.check_version("a", Some(61)).is_ok());
        assert!(matches!(
            doc.check_version("a", Some(60)),
            Err(AnalyticsError::ConcurrentModification(_))
        ));
    }
}
