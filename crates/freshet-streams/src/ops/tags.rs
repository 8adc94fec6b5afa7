//! Tags, through both APIs: the stream-named one (AddTagsToStream, RemoveTagsFromStream,
//! ListTagsForStream) and the ARN-named one (TagResource, UntagResource, ListTagsForResource).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Result, StreamsError};
use crate::model::*;
use crate::service::StreamsService;
use crate::state::{STATUS_ACTIVE, STATUS_UPDATING, Stream};

/// AWS allows 50 tags on a stream.
const MAX_TAGS: usize = 50;

/// AWS's tag character rules: Unicode letters, digits, white space and `_ . / = + - % @ :`.
fn valid_tag_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_./=+-%@:".contains(c))
}

pub(crate) fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags
        .iter()
        .any(|(k, v)| !valid_tag_text(k) || !valid_tag_text(v))
    {
        return Err(StreamsError::InvalidArgument(
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @ :.".into(),
        ));
    }
    if tags
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(StreamsError::InvalidArgument(
            "Some tags contain the reserved prefix 'aws:'. Tag keys starting with 'aws:' are reserved for AWS use.".into(),
        ));
    }
    if tags.len() > MAX_TAGS {
        return Err(StreamsError::InvalidArgument(format!(
            "A stream cannot have more than {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

impl StreamsService {
    pub async fn add_tags_to_stream(&self, input: AddTagsToStreamInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.add_tags(&stream, input.tags).await
    }

    pub async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.remove_tags(&stream, &input.tag_keys).await
    }

    pub fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput> {
        let stream = self.find(&input.stream)?;
        let tags = stream.state.read().tags.clone();
        let limit = input.limit.unwrap_or(MAX_TAGS as i64).max(1) as usize;
        let mut iter = tags.into_iter().filter(|(k, _)| {
            input
                .exclusive_start_tag_key
                .as_ref()
                .is_none_or(|start| k > start)
        });
        let page: Vec<Tag> = iter
            .by_ref()
            .take(limit)
            .map(|(key, value)| Tag { key, value })
            .collect();
        Ok(ListTagsForStreamOutput {
            tags: page,
            has_more_tags: iter.next().is_some(),
        })
    }

    pub async fn tag_resource(&self, input: TagResourceInput) -> Result<Empty> {
        let stream = self.find_arn(&input.resource_arn)?;
        self.add_tags(&stream, input.tags).await
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty> {
        let stream = self.find_arn(&input.resource_arn)?;
        self.remove_tags(&stream, &input.tag_keys).await
    }

    pub fn list_tags_for_resource(
        &self,
        input: ResourceArnInput,
    ) -> Result<ListTagsForResourceOutput> {
        let stream = self.find_arn(&input.resource_arn)?;
        let tags = stream.state.read().tags.clone();
        Ok(ListTagsForResourceOutput {
            tags: tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
        })
    }

    /// The stream a resource ARN names.
    pub(crate) fn find_arn(&self, arn: &str) -> Result<Arc<Stream>> {
        self.find(&StreamRef {
            stream_name: None,
            stream_arn: Some(arn.to_string()),
        })
    }

    async fn add_tags(&self, stream: &Arc<Stream>, new: BTreeMap<String, String>) -> Result<Empty> {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.check_taggable(stream)?;
        let mut tags = stream.state.read().tags.clone();
        tags.extend(new);
        check_tags(&tags)?;
        self.inner.catalog.set_tags(stream.uid, &tags).await?;
        stream.state.write().tags = tags;
        Ok(Empty {})
    }

    async fn remove_tags(&self, stream: &Arc<Stream>, keys: &[String]) -> Result<Empty> {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.check_taggable(stream)?;
        let mut tags = stream.state.read().tags.clone();
        for key in keys {
            tags.remove(key);
        }
        self.inner.catalog.set_tags(stream.uid, &tags).await?;
        stream.state.write().tags = tags;
        Ok(Empty {})
    }

    fn check_taggable(&self, stream: &Stream) -> Result<()> {
        let status = stream.status();
        if status == STATUS_ACTIVE || status == STATUS_UPDATING {
            Ok(())
        } else {
            Err(self.not_active(stream, &status))
        }
    }
}
