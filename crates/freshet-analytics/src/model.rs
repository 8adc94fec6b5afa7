//! The request and response shapes of `KinesisAnalytics_20150814` (members named as in the
//! service model). The configuration shapes are shared with the SQL view of
//! `KinesisAnalytics_20180523`, whose members carry the same names (v2 drops the per-resource
//! `RoleARN`s, which are therefore optional here); `v2.rs` holds the shapes only v2 has.

use serde::{Deserialize, Serialize};

/// An ARN with the role that reads or writes it (`KinesisStreamsInput`,
/// `KinesisFirehoseOutputDescription`, ...): v1 requires the role, v2 has none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceRole {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "RoleARN", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// `KinesisStreamsInputUpdate` and its kin: each member replaces its counterpart.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ResourceRoleUpdate {
    #[serde(rename = "ResourceARNUpdate")]
    pub resource_arn_update: Option<String>,
    #[serde(rename = "RoleARNUpdate")]
    pub role_arn_update: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RecordColumn {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    pub sql_type: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordFormatType {
    Json,
    Csv,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JsonMappingParameters {
    #[serde(rename = "RecordRowPath")]
    pub record_row_path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CsvMappingParameters {
    pub record_row_delimiter: String,
    pub record_column_delimiter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct MappingParameters {
    #[serde(
        rename = "JSONMappingParameters",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub json: Option<JsonMappingParameters>,
    #[serde(
        rename = "CSVMappingParameters",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub csv: Option<CsvMappingParameters>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RecordFormat {
    pub record_format_type: RecordFormatType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_parameters: Option<MappingParameters>,
}

/// `SourceSchema`: how records of an input or a reference table become rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SourceSchema {
    pub record_format: RecordFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_encoding: Option<String>,
    pub record_columns: Vec<RecordColumn>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InputParallelism {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InputProcessingConfiguration {
    pub input_lambda_processor: ResourceRole,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InputProcessingConfigurationDescription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_lambda_processor_description: Option<ResourceRole>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InputStartingPosition {
    Now,
    TrimHorizon,
    LastStoppedPoint,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InputStartingPositionConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_starting_position: Option<InputStartingPosition>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Input {
    pub name_prefix: String,
    pub input_processing_configuration: Option<InputProcessingConfiguration>,
    pub kinesis_streams_input: Option<ResourceRole>,
    pub kinesis_firehose_input: Option<ResourceRole>,
    pub input_parallelism: Option<InputParallelism>,
    pub input_schema: SourceSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InputDescription {
    pub input_id: String,
    pub name_prefix: String,
    pub in_app_stream_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_processing_configuration_description: Option<InputProcessingConfigurationDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_streams_input_description: Option<ResourceRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_firehose_input_description: Option<ResourceRole>,
    pub input_schema: SourceSchema,
    pub input_parallelism: InputParallelism,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_starting_position_configuration: Option<InputStartingPositionConfiguration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationSchema {
    pub record_format_type: RecordFormatType,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub name: String,
    pub kinesis_streams_output: Option<ResourceRole>,
    pub kinesis_firehose_output: Option<ResourceRole>,
    pub lambda_output: Option<ResourceRole>,
    pub destination_schema: DestinationSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct OutputDescription {
    pub output_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_streams_output_description: Option<ResourceRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_firehose_output_description: Option<ResourceRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_output_description: Option<ResourceRole>,
    pub destination_schema: DestinationSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct S3ReferenceDataSource {
    #[serde(rename = "BucketARN")]
    pub bucket_arn: String,
    #[serde(rename = "FileKey")]
    pub file_key: String,
    #[serde(
        rename = "ReferenceRoleARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_role_arn: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct S3ReferenceDataSourceUpdate {
    #[serde(rename = "BucketARNUpdate")]
    pub bucket_arn_update: Option<String>,
    #[serde(rename = "FileKeyUpdate")]
    pub file_key_update: Option<String>,
    #[serde(rename = "ReferenceRoleARNUpdate")]
    pub reference_role_arn_update: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReferenceDataSource {
    pub table_name: String,
    #[serde(rename = "S3ReferenceDataSource")]
    pub s3_reference_data_source: Option<S3ReferenceDataSource>,
    pub reference_schema: SourceSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ReferenceDataSourceDescription {
    pub reference_id: String,
    pub table_name: String,
    #[serde(rename = "S3ReferenceDataSourceDescription")]
    pub s3_reference_data_source_description: S3ReferenceDataSource,
    pub reference_schema: SourceSchema,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CloudWatchLoggingOption {
    #[serde(rename = "LogStreamARN")]
    pub log_stream_arn: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CloudWatchLoggingOptionDescription {
    #[serde(rename = "CloudWatchLoggingOptionId")]
    pub cloud_watch_logging_option_id: String,
    #[serde(rename = "LogStreamARN")]
    pub log_stream_arn: String,
    #[serde(rename = "RoleARN", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStatus {
    Deleting,
    Starting,
    Stopping,
    Ready,
    Running,
    Updating,
    /// A Flink application scaling (never entered: Freshet runs an application as one task).
    Autoscaling,
    /// A Flink application stopping without a snapshot (`StopApplication` with `Force`).
    ForceStopping,
    /// A Flink application going back to its previous running version.
    RollingBack,
    /// A Flink application being patched (never entered: Freshet has no maintenance).
    Maintenance,
    /// A version a rollback went back from (in ListApplicationVersions).
    RolledBack,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Deleting => "DELETING",
            ApplicationStatus::Starting => "STARTING",
            ApplicationStatus::Stopping => "STOPPING",
            ApplicationStatus::Ready => "READY",
            ApplicationStatus::Running => "RUNNING",
            ApplicationStatus::Updating => "UPDATING",
            ApplicationStatus::Autoscaling => "AUTOSCALING",
            ApplicationStatus::ForceStopping => "FORCE_STOPPING",
            ApplicationStatus::RollingBack => "ROLLING_BACK",
            ApplicationStatus::Maintenance => "MAINTENANCE",
            ApplicationStatus::RolledBack => "ROLLED_BACK",
        }
    }
}

// ---- v1 requests and responses ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateApplicationInput {
    pub application_name: String,
    pub application_description: Option<String>,
    pub inputs: Option<Vec<Input>>,
    pub outputs: Option<Vec<Output>>,
    pub cloud_watch_logging_options: Option<Vec<CloudWatchLoggingOption>>,
    pub application_code: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationSummary {
    pub application_name: String,
    #[serde(rename = "ApplicationARN")]
    pub application_arn: String,
    pub application_status: ApplicationStatus,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateApplicationOutput {
    pub application_summary: ApplicationSummary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationRef {
    pub application_name: String,
}

/// `ApplicationDetail` of v1.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationDetail {
    pub application_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_description: Option<String>,
    #[serde(rename = "ApplicationARN")]
    pub application_arn: String,
    pub application_status: ApplicationStatus,
    pub create_timestamp: f64,
    pub last_update_timestamp: f64,
    pub input_descriptions: Vec<InputDescription>,
    pub output_descriptions: Vec<OutputDescription>,
    pub reference_data_source_descriptions: Vec<ReferenceDataSourceDescription>,
    pub cloud_watch_logging_option_descriptions: Vec<CloudWatchLoggingOptionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_code: Option<String>,
    pub application_version_id: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeApplicationOutput {
    pub application_detail: ApplicationDetail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListApplicationsInput {
    pub limit: Option<usize>,
    pub exclusive_start_application_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListApplicationsOutput {
    pub application_summaries: Vec<ApplicationSummary>,
    pub has_more_applications: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteApplicationInput {
    pub application_name: String,
    /// Epoch seconds, as the JSON protocol sends timestamps.
    pub create_timestamp: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputSchemaUpdate {
    pub record_format_update: Option<RecordFormat>,
    pub record_encoding_update: Option<String>,
    pub record_column_updates: Option<Vec<RecordColumn>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputParallelismUpdate {
    pub count_update: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputProcessingConfigurationUpdate {
    pub input_lambda_processor_update: ResourceRoleUpdate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputUpdate {
    pub input_id: String,
    pub name_prefix_update: Option<String>,
    pub input_processing_configuration_update: Option<InputProcessingConfigurationUpdate>,
    pub kinesis_streams_input_update: Option<ResourceRoleUpdate>,
    pub kinesis_firehose_input_update: Option<ResourceRoleUpdate>,
    pub input_schema_update: Option<InputSchemaUpdate>,
    pub input_parallelism_update: Option<InputParallelismUpdate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputUpdate {
    pub output_id: String,
    pub name_update: Option<String>,
    pub kinesis_streams_output_update: Option<ResourceRoleUpdate>,
    pub kinesis_firehose_output_update: Option<ResourceRoleUpdate>,
    pub lambda_output_update: Option<ResourceRoleUpdate>,
    pub destination_schema_update: Option<DestinationSchema>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReferenceDataSourceUpdate {
    pub reference_id: String,
    pub table_name_update: Option<String>,
    #[serde(rename = "S3ReferenceDataSourceUpdate")]
    pub s3_reference_data_source_update: Option<S3ReferenceDataSourceUpdate>,
    pub reference_schema_update: Option<SourceSchema>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CloudWatchLoggingOptionUpdate {
    #[serde(rename = "CloudWatchLoggingOptionId")]
    pub cloud_watch_logging_option_id: String,
    #[serde(rename = "LogStreamARNUpdate")]
    pub log_stream_arn_update: Option<String>,
    #[serde(rename = "RoleARNUpdate")]
    pub role_arn_update: Option<String>,
}

/// `ApplicationUpdate` of v1 (v2's `SqlApplicationConfigurationUpdate`, code and logging
/// updates are mapped onto it).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationUpdate {
    pub input_updates: Option<Vec<InputUpdate>>,
    pub application_code_update: Option<String>,
    pub output_updates: Option<Vec<OutputUpdate>>,
    pub reference_data_source_updates: Option<Vec<ReferenceDataSourceUpdate>>,
    pub cloud_watch_logging_option_updates: Option<Vec<CloudWatchLoggingOptionUpdate>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateApplicationInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub application_update: ApplicationUpdate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputConfiguration {
    pub id: String,
    pub input_starting_position_configuration: InputStartingPositionConfiguration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartApplicationInput {
    pub application_name: String,
    pub input_configurations: Vec<InputConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddApplicationInputInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub input: Input,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddApplicationOutputInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub output: Output,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddApplicationReferenceDataSourceInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub reference_data_source: ReferenceDataSource,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddApplicationInputProcessingConfigurationInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub input_id: String,
    pub input_processing_configuration: InputProcessingConfiguration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteApplicationInputProcessingConfigurationInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub input_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddApplicationCloudWatchLoggingOptionInput {
    pub application_name: String,
    pub current_application_version_id: Option<u64>,
    pub cloud_watch_logging_option: CloudWatchLoggingOption,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteApplicationCloudWatchLoggingOptionInput {
    pub application_name: String,
    pub current_application_version_id: Option<u64>,
    pub cloud_watch_logging_option_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteApplicationOutputInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub output_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteApplicationReferenceDataSourceInput {
    pub application_name: String,
    pub current_application_version_id: u64,
    pub reference_id: String,
}

#[derive(Debug, Deserialize)]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "Tags")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "TagKeys")]
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ResourceArnInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceOutput {
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Configuration {
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<String>,
    #[serde(rename = "BucketARN")]
    pub bucket_arn: String,
    pub file_key: String,
}

/// DiscoverInputSchema in either version (v2 adds `ServiceExecutionRole`, required there).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInputSchemaInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<String>,
    pub service_execution_role: Option<String>,
    pub input_starting_position_configuration: Option<InputStartingPositionConfiguration>,
    pub s3_configuration: Option<S3Configuration>,
    pub input_processing_configuration: Option<InputProcessingConfiguration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInputSchemaOutput {
    pub input_schema: SourceSchema,
    pub parsed_input_records: Vec<Vec<String>>,
    pub processed_input_records: Vec<String>,
    pub raw_input_records: Vec<String>,
}

/// An operation's answer without members.
#[derive(Debug, Serialize)]
pub struct Empty {}
