//! Typed requests and answers of the supported `kinesisvideo` operations, in the wire's member
//! names. Requests arrive already checked against the botocore model by the edge; the
//! image-generation and notification configurations stay JSON documents, stored and returned as
//! the model shaped them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stream named by `StreamName` or `StreamARN` (most operations take either).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct StreamRef {
    #[serde(rename = "StreamName", default)]
    pub name: Option<String>,
    #[serde(rename = "StreamARN", default)]
    pub arn: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CreateStreamInput {
    pub stream_name: String,
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub data_retention_in_hours: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub stream_storage_configuration: Option<Value>,
}

#[derive(Serialize, Debug)]
pub struct CreateStreamOutput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

#[derive(Deserialize, Debug)]
pub struct DescribeStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct StreamInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub kms_key_id: String,
    pub version: String,
    pub status: &'static str,
    /// Epoch seconds, as rest-json timestamps are.
    pub creation_time: f64,
    pub data_retention_in_hours: u32,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    pub stream_info: StreamInfo,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct StreamNameCondition {
    #[serde(default)]
    pub comparison_operator: Option<String>,
    #[serde(default)]
    pub comparison_value: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsInput {
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub stream_name_condition: Option<StreamNameCondition>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    pub stream_info_list: Vec<StreamInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct DeleteStreamInput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(rename = "CurrentVersion", default)]
    pub current_version: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub current_version: String,
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub media_type: Option<String>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetentionChange {
    IncreaseDataRetention,
    DecreaseDataRetention,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDataRetentionInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub current_version: String,
    pub operation: RetentionChange,
    pub data_retention_change_in_hours: u32,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct TagStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UntagStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tag_key_list: Vec<String>,
}

#[derive(Deserialize, Debug)]
pub struct ListTagsForStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsOutput {
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tag_key_list: Vec<String>,
}

#[derive(Deserialize, Debug)]
pub struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

#[derive(Deserialize, Debug)]
pub struct GetDataEndpointInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(rename = "APIName")]
    pub api_name: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetDataEndpointOutput {
    pub data_endpoint: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateImageGenerationConfigurationInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub image_generation_configuration: Option<Value>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeImageGenerationConfigurationOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_generation_configuration: Option<Value>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateNotificationConfigurationInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub notification_configuration: Option<Value>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNotificationConfigurationOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_configuration: Option<Value>,
}

/// The answer of operations that return an empty structure.
#[derive(Serialize, Debug, Default)]
pub struct Empty {}

// ---- kinesis-video-media and kinesis-video-archived-media ----

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct StartSelector {
    pub start_selector_type: String,
    #[serde(default)]
    pub after_fragment_number: Option<String>,
    /// Epoch seconds.
    #[serde(default)]
    pub start_timestamp: Option<f64>,
    #[serde(default)]
    pub continuation_token: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetMediaInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub start_selector: StartSelector,
}

/// Epoch seconds, both ends included.
#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(rename_all = "PascalCase")]
pub struct TimestampRange {
    pub start_timestamp: f64,
    pub end_timestamp: f64,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct FragmentSelector {
    pub fragment_selector_type: String,
    pub timestamp_range: TimestampRange,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListFragmentsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub fragment_selector: Option<FragmentSelector>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FragmentInfo {
    pub fragment_number: String,
    pub fragment_size_in_bytes: u64,
    pub producer_timestamp: f64,
    pub server_timestamp: f64,
    pub fragment_length_in_milliseconds: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListFragmentsOutput {
    pub fragments: Vec<FragmentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetMediaForFragmentListInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub fragments: Vec<String>,
}

/// A playback session's fragment range (HLS, DASH, clips): epoch seconds, each end optional
/// where the mode allows.
#[derive(Deserialize, Debug, Default, Clone, Copy)]
#[serde(rename_all = "PascalCase")]
pub struct SessionTimestampRange {
    #[serde(default)]
    pub start_timestamp: Option<f64>,
    #[serde(default)]
    pub end_timestamp: Option<f64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SessionFragmentSelector {
    #[serde(default)]
    pub fragment_selector_type: Option<String>,
    #[serde(default)]
    pub timestamp_range: Option<SessionTimestampRange>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetHlsStreamingSessionUrlInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub playback_mode: Option<String>,
    #[serde(rename = "HLSFragmentSelector", default)]
    pub fragment_selector: Option<SessionFragmentSelector>,
    #[serde(default)]
    pub container_format: Option<String>,
    #[serde(default)]
    pub discontinuity_mode: Option<String>,
    #[serde(default)]
    pub display_fragment_timestamp: Option<String>,
    #[serde(default)]
    pub expires: Option<i64>,
    #[serde(default)]
    pub max_media_playlist_fragment_results: Option<usize>,
}

#[derive(Serialize, Debug)]
pub struct GetHlsStreamingSessionUrlOutput {
    #[serde(rename = "HLSStreamingSessionURL")]
    pub url: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetDashStreamingSessionUrlInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub playback_mode: Option<String>,
    #[serde(default)]
    pub display_fragment_timestamp: Option<String>,
    #[serde(default)]
    pub display_fragment_number: Option<String>,
    #[serde(rename = "DASHFragmentSelector", default)]
    pub fragment_selector: Option<SessionFragmentSelector>,
    #[serde(default)]
    pub expires: Option<i64>,
    #[serde(default)]
    pub max_manifest_fragment_results: Option<usize>,
}

#[derive(Serialize, Debug)]
pub struct GetDashStreamingSessionUrlOutput {
    #[serde(rename = "DASHStreamingSessionURL")]
    pub url: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ClipFragmentSelector {
    pub fragment_selector_type: String,
    pub timestamp_range: TimestampRange,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetClipInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub clip_fragment_selector: ClipFragmentSelector,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetImagesInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub image_selector_type: String,
    pub start_timestamp: f64,
    pub end_timestamp: f64,
    #[serde(default)]
    pub sampling_interval: Option<i64>,
    pub format: String,
    #[serde(default)]
    pub format_config: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub width_pixels: Option<u32>,
    #[serde(default)]
    pub height_pixels: Option<u32>,
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub next_token: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub time_stamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_content: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetImagesOutput {
    pub images: Vec<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
