//! Typed requests and answers of the media storage operations: `kinesisvideo`'s configuration
//! operations (PascalCase members) and `kinesis-video-webrtc-storage`'s (camelCase members).

use serde::{Deserialize, Serialize};

use crate::model::StreamRef;

/// A channel's media storage configuration, as the wire and the catalog document spell it.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct MediaStorageConfiguration {
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    #[serde(rename = "Status")]
    pub status: String,
}

impl MediaStorageConfiguration {
    pub fn enabled(&self) -> bool {
        self.status == "ENABLED"
    }
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateMediaStorageConfigurationInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    pub media_storage_configuration: MediaStorageConfiguration,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeMediaStorageConfigurationOutput {
    pub media_storage_configuration: MediaStorageConfiguration,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeMappedResourceConfigurationInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub next_token: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct MappedResource {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(rename = "ARN")]
    pub arn: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeMappedResourceConfigurationOutput {
    pub mapped_resource_configuration_list: Vec<MappedResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JoinStorageSessionInput {
    pub channel_arn: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JoinStorageSessionAsViewerInput {
    pub channel_arn: String,
    pub client_id: String,
}
