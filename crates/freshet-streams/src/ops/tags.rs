//! Tags, through both APIs: the stream-named one (AddTagsToStream, RemoveTagsFromStream,
//! ListTagsForStream) and the ARN-named one (TagResource, UntagResource, ListTagsForResource).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::arn::consumer_from_arn;
use crate::error::{Result, StreamsError};
use crate::model::*;
use crate::service::StreamsService;
use crate::state::{Status, Stream};

/// Something that carries tags: a stream, or one of its consumers.
pub(crate) enum Tagged {
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

impl Tagged {
    /// The resource as AWS's tag messages name it.
    fn describe(&self) -> String {
        match self {
            Tagged::Stream(s) => format!("stream {}", s.name),
            Tagged::Consumer(s, name) => format!("consumer {name} of stream {}", s.name),
        }
    }
}

/// A change to a resource's tags.
enum Change {
    Add(BTreeMap<String, String>),
    Remove(Vec<String>),
}

/// AWS allows 50 tags on a stream.
const MAX_TAGS: usize = 50;

/// Whether tags are being added or removed: AWS's second message names the change.
#[derive(Clone, Copy)]
pub(crate) enum TagChange {
    Add,
    Remove,
}

/// AWS's character rule for Kinesis tag keys and values, for every operation that takes them
/// (CreateStream, AddTagsToStream, RemoveTagsFromStream, TagResource, UntagResource,
/// RegisterStreamConsumer). The documented set is "Unicode letters, digits, white space,
/// _ . / = + - % @" (API_Tag); the service model has no pattern. Recorded against AWS
/// (kinesalite's tests of AddTagsToStream and RemoveTagsFromStream): "white space" is the space
/// alone (tab and newline are refused), `:` and `,` are refused with the first message below,
/// and `%`, though listed, is then refused with a second message that names the change.
pub(crate) fn check_tag_text<'a>(
    texts: impl IntoIterator<Item = &'a str> + Clone,
    change: TagChange,
    resource: &str,
    account: &str,
) -> Result<()> {
    let listed = |c: char| c.is_alphanumeric() || c == ' ' || "_./=+-%@".contains(c);
    if texts.clone().into_iter().any(|t| !t.chars().all(listed)) {
        return Err(StreamsError::InvalidArgument(
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.".into(),
        ));
    }
    if texts.into_iter().any(|t| t.contains('%')) {
        let what = match change {
            TagChange::Add => "add tags to",
            TagChange::Remove => "remove tags from",
        };
        return Err(StreamsError::InvalidArgument(format!(
            "Failed to {what} {resource} under account {account} because some tags contained illegal characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
        )));
    }
    Ok(())
}

/// Tags being set on `resource` (e.g. "stream orders"): their characters and AWS's reserved
/// prefix.
pub(crate) fn check_new_tags(
    tags: &BTreeMap<String, String>,
    resource: &str,
    account: &str,
) -> Result<()> {
    let texts = tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    check_tag_text(texts, TagChange::Add, resource, account)?;
    if tags
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(StreamsError::InvalidArgument(
            "Some tags contain the reserved prefix 'aws:'. Tag keys starting with 'aws:' are reserved for AWS use.".into(),
        ));
    }
    Ok(())
}

/// The number of tags a resource ends up with.
pub(crate) fn check_tag_count(tags: &BTreeMap<String, String>) -> Result<()> {
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
        self.change_tags(Tagged::Stream(stream), Change::Add(input.tags))
            .await
    }

    pub async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.change_tags(Tagged::Stream(stream), Change::Remove(input.tag_keys))
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
        self.change_tags(resource, Change::Add(input.tags)).await
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty> {
        let resource = self.tagged(&input.resource_arn)?;
        self.change_tags(resource, Change::Remove(input.tag_keys))
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
    pub(crate) fn tagged(&self, arn: &str) -> Result<Tagged> {
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

    async fn change_tags(&self, resource: Tagged, change: Change) -> Result<Empty> {
        let stream = resource.stream().clone();
        let account = &self.config().account_id;
        let name = resource.describe();
        match &change {
            Change::Add(new) => check_new_tags(new, &name, account)?,
            Change::Remove(keys) => check_tag_text(
                keys.iter().map(String::as_str),
                TagChange::Remove,
                &name,
                account,
            )?,
        }
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.check_taggable(&stream)?;
        let mut tags = self.tags_of(&resource)?;
        match change {
            Change::Add(new) => tags.extend(new),
            Change::Remove(keys) => {
                for key in keys {
                    tags.remove(&key);
                }
            }
        }
        check_tag_count(&tags)?;
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
        if status == Status::Active || status == Status::Updating {
            Ok(())
        } else {
            Err(self.not_active(stream, status))
        }
    }
}
