//! Tags, through both APIs: the stream-named one (AddTagsToStream, RemoveTagsFromStream,
//! ListTagsForStream) and the ARN-named one (TagResource, UntagResource, ListTagsForResource).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::arn::consumer_from_arn;
use crate::error::{Result, StreamsError};
use crate::model::*;
use crate::service::StreamsService;
use crate::state::{STATUS_ACTIVE, STATUS_UPDATING, Stream};

/// Something that carries tags: a stream, or one of its consumers.
enum Tagged {
    Stream(Arc<Stream>),
    Consumer(Arc<Stream>, String),
}

impl Tagged {
    fn stream(&self) -> &Arc<Stream> {
        match self {
            Tagged::Stream(s) | Tagged::Consumer(s, _) => s,
        }
    }
}

fn remove(tags: &mut BTreeMap<String, String>, keys: &[String]) {
    for key in keys {
        tags.remove(key);
    }
}

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
        self.change_tags(Tagged::Stream(stream), |tags| tags.extend(input.tags))
            .await
    }

    pub async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.change_tags(Tagged::Stream(stream), |tags| remove(tags, &input.tag_keys))
            .await
    }

    pub fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput> {
        let stream = self.find(&input.stream)?;
        let tags = stream.snapshot().tags.clone();
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
        let resource = self.tagged(&input.resource_arn)?;
        self.change_tags(resource, |tags| tags.extend(input.tags))
            .await
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty> {
        let resource = self.tagged(&input.resource_arn)?;
        self.change_tags(resource, |tags| remove(tags, &input.tag_keys))
            .await
    }

    pub fn list_tags_for_resource(
        &self,
        input: ResourceArnInput,
    ) -> Result<ListTagsForResourceOutput> {
        let tags = self.tags_of(&self.tagged(&input.resource_arn)?)?;
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

    /// The stream or consumer a resource ARN names.
    fn tagged(&self, arn: &str) -> Result<Tagged> {
        let c = self.config();
        if consumer_from_arn(arn, &c.region, &c.account_id).is_some() {
            let (stream, name) = self.find_consumer(&ConsumerRef {
                stream_arn: None,
                consumer_name: None,
                consumer_arn: Some(arn.to_string()),
            })?;
            return Ok(Tagged::Consumer(stream, name));
        }
        Ok(Tagged::Stream(self.find_arn(arn)?))
    }

    fn tags_of(&self, resource: &Tagged) -> Result<BTreeMap<String, String>> {
        Ok(match resource {
            Tagged::Stream(stream) => stream.snapshot().tags.clone(),
            Tagged::Consumer(stream, name) => self.consumer_row(stream, name)?.tags,
        })
    }

    async fn change_tags<F>(&self, resource: Tagged, change: F) -> Result<Empty>
    where
        F: FnOnce(&mut BTreeMap<String, String>),
    {
        let stream = resource.stream().clone();
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.check_taggable(&stream)?;
        let mut tags = self.tags_of(&resource)?;
        change(&mut tags);
        check_tags(&tags)?;
        match resource {
            Tagged::Stream(_) => {
                self.inner.catalog.set_tags(stream.uid, &tags).await?;
                stream.edit().tags = tags;
            }
            Tagged::Consumer(_, name) => {
                let mut row = self.consumer_row(&stream, &name)?;
                row.tags = tags;
                self.save_consumer(&stream, row).await?;
            }
        }
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
