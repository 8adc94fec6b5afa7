//! Typed requests and answers of the signaling channel operations (`kinesisvideo` and
//! `kinesis-video-signaling`), in the wire's member names.

use serde::{Deserialize, Serialize};

use crate::model::Tag;

#[derive(Deserialize, Serialize, Debug, Clone, Copy)]
#[serde(rename_all = "PascalCase")]
pub struct SingleMasterConfiguration {
    pub message_ttl_seconds: Option<u32>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSignalingChannelInput {
    pub channel_name: String,
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub single_master_configuration: Option<SingleMasterConfiguration>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Serialize, Debug)]
pub struct CreateSignalingChannelOutput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
}

/// A channel named by `ChannelName` or `ChannelARN`.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct ChannelRefInput {
    #[serde(rename = "ChannelName", default)]
    pub name: Option<String>,
    #[serde(rename = "ChannelARN", default)]
    pub arn: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelInfo {
    pub channel_name: String,
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    pub channel_type: &'static str,
    pub channel_status: &'static str,
    pub creation_time: f64,
    pub single_master_configuration: SingleMasterConfiguration,
    pub version: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSignalingChannelOutput {
    pub channel_info: ChannelInfo,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelNameCondition {
    #[serde(default)]
    pub comparison_value: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListSignalingChannelsInput {
    #[serde(default)]
    pub max_results: Option<usize>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub channel_name_condition: Option<ChannelNameCondition>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListSignalingChannelsOutput {
    pub channel_info_list: Vec<ChannelInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSignalingChannelInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    pub current_version: String,
    #[serde(default)]
    pub single_master_configuration: Option<SingleMasterConfiguration>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSignalingChannelInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    #[serde(default)]
    pub current_version: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfiguration {
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetSignalingChannelEndpointInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    #[serde(default)]
    pub single_master_channel_endpoint_configuration: Option<EndpointConfiguration>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceEndpoint {
    pub protocol: String,
    pub resource_endpoint: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetSignalingChannelEndpointOutput {
    pub resource_endpoint_list: Vec<ResourceEndpoint>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetIceServerConfigInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetIceServerConfigOutput {
    pub ice_server_list: Vec<super::ice::IceServer>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct SendAlexaOfferToMasterInput {
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    pub sender_client_id: String,
    pub message_payload: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct SendAlexaOfferToMasterOutput {
    pub answer: String,
}
