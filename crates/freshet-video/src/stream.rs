//! One video stream's description and the rules AWS applies when it changes: the version token
//! every update must name, retention bounds, tag limits, and that only ACTIVE streams change.

use std::collections::BTreeMap;

use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, VideoError};
use crate::model::{RetentionChange, StreamInfo};

/// AWS's ceiling for `DataRetentionInHours`: ten years.
pub const MAX_RETENTION_HOURS: u32 = 87_600;
/// Tags per stream (`TagsPerResourceExceededLimitException` beyond).
pub const MAX_TAGS: usize = 50;

/// The one resource lifecycle (stored as its AWS name, as before it was shared).
pub use freshet_runtime::Status;

/// A stream as stored in the catalog's `doc` column (the uid, name and creation time are the
/// row's own columns and are not repeated here).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct VideoStream {
    #[serde(skip)]
    pub uid: u64,
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub created_ms: i64,
    pub arn: String,
    pub status: Status,
    pub version: String,
    pub device_name: Option<String>,
    pub media_type: Option<String>,
    pub kms_key_id: String,
    pub retention_hours: u32,
    pub tags: BTreeMap<String, String>,
    pub image_generation: Option<Value>,
    pub notification: Option<Value>,
}

/// A fresh version token: AWS's are opaque alphanumeric strings that change on every update.
pub fn new_version() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

impl VideoStream {
    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            device_name: self.device_name.clone(),
            stream_name: self.name.clone(),
            stream_arn: self.arn.clone(),
            media_type: self.media_type.clone(),
            kms_key_id: self.kms_key_id.clone(),
            version: self.version.clone(),
            status: self.status.as_str(),
            creation_time: self.created_ms as f64 / 1000.0,
            data_retention_in_hours: self.retention_hours,
        }
    }

    /// Updates need an ACTIVE stream (`ResourceInUseException` while it is being created).
    pub fn require_active(&self) -> Result<()> {
        match self.status {
            Status::Active => Ok(()),
            status => Err(VideoError::ResourceInUse(format!(
                "The stream {} is {}; it can be changed once it is ACTIVE.",
                self.name,
                status.as_str()
            ))),
        }
    }

    /// Optimistic concurrency: a named version must be the current one.
    pub fn check_version(&self, given: &str) -> Result<()> {
        check_version(&format!("stream {}", self.name), given, &self.version)
    }

    /// The retention an `UpdateDataRetention` leads to, or AWS's refusal.
    pub fn retention_after(&self, change: RetentionChange, hours: u32) -> Result<u32> {
        let current = self.retention_hours;
        match change {
            RetentionChange::IncreaseDataRetention => current
                .checked_add(hours)
                .filter(|&r| r <= MAX_RETENTION_HOURS)
                .ok_or_else(|| {
                    VideoError::InvalidArgument(format!(
                        "Increasing the data retention of {current} hours by {hours} hours would \
                         exceed the maximum of {MAX_RETENTION_HOURS} hours."
                    ))
                }),
            RetentionChange::DecreaseDataRetention => current.checked_sub(hours).ok_or_else(|| {
                VideoError::InvalidArgument(format!(
                    "Decreasing the data retention of {current} hours by {hours} hours would \
                         make it negative."
                ))
            }),
        }
    }

    /// The tags after adding `new` (same keys overwrite), within the 50-tag limit.
    pub fn tags_with(
        &self,
        new: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BTreeMap<String, String>> {
        tags_with(&format!("stream {}", self.name), &self.tags, new)
    }
}

/// Optimistic concurrency for any resource (`what`: "stream cam"): a named version must be the
/// current one.
pub fn check_version(what: &str, given: &str, current: &str) -> Result<()> {
    if given == current {
        Ok(())
    } else {
        Err(VideoError::VersionMismatch(format!(
            "The version {given} of {what} does not match its current version {current}."
        )))
    }
}

/// A resource's tags after adding `new` (same keys overwrite), within the 50-tag limit.
pub fn tags_with(
    what: &str,
    current: &BTreeMap<String, String>,
    new: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>> {
    let mut tags = current.clone();
    tags.extend(new);
    if tags.len() > MAX_TAGS {
        return Err(VideoError::TagsPerResourceExceededLimit(format!(
            "The {what} would have {} tags; the limit is {MAX_TAGS}.",
            tags.len()
        )));
    }
    Ok(tags)
}

/// A retention for a new stream: the model only bounds it below.
pub fn check_create_retention(hours: u32) -> Result<()> {
    if hours > MAX_RETENTION_HOURS {
        return Err(VideoError::InvalidArgument(format!(
            "DataRetentionInHours {hours} exceeds the maximum of {MAX_RETENTION_HOURS} hours."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(retention_hours: u32) -> VideoStream {
        VideoStream {
            uid: 1,
            name: "cam".into(),
            created_ms: 1_700_000_000_000,
            arn: "arn".into(),
            status: Status::Active,
            version: new_version(),
            device_name: None,
            media_type: None,
            kms_key_id: "k".into(),
            retention_hours,
            tags: BTreeMap::new(),
            image_generation: None,
            notification: None,
        }
    }

    #[test]
    fn versions_are_fresh_alphanumeric_tokens() {
        let (a, b) = (new_version(), new_version());
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        let s = stream(0);
        s.check_version(&s.version.clone()).unwrap();
        assert!(matches!(
            s.check_version(&a),
            Err(VideoError::VersionMismatch(_))
        ));
    }

    #[test]
    fn retention_changes_follow_aws_bounds() {
        use RetentionChange::*;
        let s = stream(24);
        assert_eq!(s.retention_after(IncreaseDataRetention, 1).unwrap(), 25);
        assert_eq!(s.retention_after(DecreaseDataRetention, 24).unwrap(), 0);
        assert!(matches!(
            s.retention_after(DecreaseDataRetention, 25),
            Err(VideoError::InvalidArgument(_))
        ));
        assert_eq!(
            s.retention_after(IncreaseDataRetention, MAX_RETENTION_HOURS - 24)
                .unwrap(),
            MAX_RETENTION_HOURS
        );
        assert!(
            s.retention_after(IncreaseDataRetention, MAX_RETENTION_HOURS - 23)
                .is_err()
        );
        assert!(s.retention_after(IncreaseDataRetention, u32::MAX).is_err());
        assert!(check_create_retention(MAX_RETENTION_HOURS).is_ok());
        assert!(check_create_retention(MAX_RETENTION_HOURS + 1).is_err());
    }

    #[test]
    fn only_active_streams_change_and_tags_are_capped() {
        let mut s = stream(0);
        s.status = Status::Creating;
        assert!(matches!(
            s.require_active(),
            Err(VideoError::ResourceInUse(_))
        ));
        let fifty = (0..50).map(|i| (format!("k{i}"), "v".to_string()));
        s.tags = s.tags_with(fifty).unwrap();
        // Overwriting an existing key stays within the limit; a 51st key does not.
        assert_eq!(s.tags_with([("k1".into(), "w".into())]).unwrap()["k1"], "w");
        assert!(matches!(
            s.tags_with([("new".into(), "v".into())]),
            Err(VideoError::TagsPerResourceExceededLimit(_))
        ));
    }
}
