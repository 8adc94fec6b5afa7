//! One signaling channel's description and the rules AWS applies when it changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VideoError};
use crate::stream::Status;

/// `SingleMasterConfiguration.MessageTtlSeconds`: AWS's default and bounds.
pub const DEFAULT_MESSAGE_TTL_SECONDS: u32 = 60;
pub const MIN_MESSAGE_TTL_SECONDS: u32 = 5;
pub const MAX_MESSAGE_TTL_SECONDS: u32 = 120;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChannelType {
    /// One master (no ClientId) and viewers that reach only the master.
    SingleMaster,
    /// Every client has a ClientId and reaches any other by it.
    FullMesh,
}

impl ChannelType {
    pub fn parse(text: &str) -> Result<ChannelType> {
        match text {
            "SINGLE_MASTER" => Ok(ChannelType::SingleMaster),
            "FULL_MESH" => Ok(ChannelType::FullMesh),
            other => Err(VideoError::invalid(format!(
                "ChannelType {other} is not one of SINGLE_MASTER, FULL_MESH."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::SingleMaster => "SINGLE_MASTER",
            ChannelType::FullMesh => "FULL_MESH",
        }
    }
}

/// A channel as stored in the catalog's `doc` column (uid, name and creation time are the row's).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Channel {
    #[serde(skip)]
    pub uid: u64,
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub created_ms: i64,
    pub arn: String,
    pub channel_type: ChannelType,
    pub status: Status,
    pub version: String,
    pub message_ttl_seconds: u32,
    pub tags: BTreeMap<String, String>,
    /// The stream WebRTC ingestion records into (UpdateMediaStorageConfiguration); None until
    /// configured, which DescribeMediaStorageConfiguration answers as DISABLED.
    #[serde(default)]
    pub media_storage: Option<crate::storage::model::MediaStorageConfiguration>,
}

/// The ARN of a channel: `arn:aws:kinesisvideo:<region>:<account>:channel/<name>/<created ms>`.
pub fn channel_arn(region: &str, account: &str, name: &str, created_ms: i64) -> String {
    format!("arn:aws:kinesisvideo:{region}:{account}:channel/{name}/{created_ms}")
}

/// Whether an ARN names a signaling channel (rather than a stream).
pub fn is_channel_arn(arn: &str) -> bool {
    arn.split(':')
        .nth(5)
        .is_some_and(|r| r.starts_with("channel/"))
}

/// A TTL within AWS's bounds.
pub fn check_ttl(seconds: u32) -> Result<u32> {
    if (MIN_MESSAGE_TTL_SECONDS..=MAX_MESSAGE_TTL_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(VideoError::invalid(format!(
            "MessageTtlSeconds {seconds} is not between {MIN_MESSAGE_TTL_SECONDS} and {MAX_MESSAGE_TTL_SECONDS}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_ttls() {
        let arn = channel_arn("us-east-1", "000000000000", "door", 1_700_000_000_123);
        assert_eq!(
            arn,
            "arn:aws:kinesisvideo:us-east-1:000000000000:channel/door/1700000000123"
        );
        assert!(is_channel_arn(&arn));
        assert!(!is_channel_arn(
            "arn:aws:kinesisvideo:us-east-1:000000000000:stream/door/1"
        ));
        assert_eq!(check_ttl(5).ok(), Some(5));
        assert_eq!(check_ttl(120).ok(), Some(120));
        assert!(check_ttl(4).is_err() && check_ttl(121).is_err());
        assert!(ChannelType::parse("MESH").is_err());
    }
}
