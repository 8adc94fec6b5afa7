//! The Firehose_20150804 requests and responses (members named as in the service model). The
//! destination configurations stay JSON documents here; `config` gives them types.

/// A blob member: base64 on the wire (the edge has already checked the encoding); the same
/// type as the Kinesis model's.
pub use freshet_streams::model::Blob;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KinesisStreamSourceConfiguration {
    #[serde(rename = "KinesisStreamARN")]
    pub kinesis_stream_arn: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionInput {
    #[serde(rename = "KeyARN", default, skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub delivery_stream_type: Option<String>,
    pub direct_put_source_configuration: Option<Value>,
    pub kinesis_stream_source_configuration: Option<KinesisStreamSourceConfiguration>,
    pub delivery_stream_encryption_configuration_input: Option<EncryptionInput>,
    pub tags: Option<Vec<Tag>>,
    /// The destination configurations (and any source this version does not model).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDeliveryStreamOutput {
    #[serde(rename = "DeliveryStreamARN")]
    pub delivery_stream_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryStreamRef {
    pub delivery_stream_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub allow_force_delete: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub limit: Option<i64>,
    pub exclusive_start_destination_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeliveryStreamsInput {
    pub limit: Option<i64>,
    pub delivery_stream_type: Option<String>,
    pub exclusive_start_delivery_stream_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeliveryStreamsOutput {
    pub delivery_stream_names: Vec<String>,
    pub has_more_delivery_streams: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDestinationInput {
    pub delivery_stream_name: String,
    pub current_delivery_stream_version_id: String,
    pub destination_id: String,
    /// The destination updates.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordInput {
    pub data: Blob,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordInput {
    pub delivery_stream_name: String,
    pub record: RecordInput,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordOutput {
    pub record_id: String,
    pub encrypted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordBatchInput {
    pub delivery_stream_name: String,
    pub records: Vec<RecordInput>,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordBatchResponseEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordBatchOutput {
    pub failed_put_count: u32,
    pub encrypted: bool,
    pub request_responses: Vec<PutRecordBatchResponseEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForDeliveryStreamInput {
    pub delivery_stream_name: String,
    pub exclusive_start_tag_key: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForDeliveryStreamOutput {
    pub tags: Vec<Tag>,
    pub has_more_tags: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartEncryptionInput {
    pub delivery_stream_name: String,
    pub delivery_stream_encryption_configuration_input: Option<EncryptionInput>,
}

/// Operations that answer an empty structure.
#[derive(Debug, Serialize, Default)]
pub struct Empty {}
