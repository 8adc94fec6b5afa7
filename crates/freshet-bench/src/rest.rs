//! The Kinesis Video control plane as the `signaling` and `turn` modes call it: rest-json
//! (`POST /<operation>` with a JSON body, the error's name in `x-amzn-errortype`), unsigned as
//! the Kinesis client's calls are, and the signaling channels a run needs, made or found again.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use indicatif::ProgressBar;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::client::{CallError, plain_http};

/// AWS's largest ListSignalingChannels page.
const LIST_PAGE: usize = 10_000;

#[derive(Clone)]
pub struct KinesisVideo {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
}

impl KinesisVideo {
    pub fn new(endpoint: &str) -> anyhow::Result<Self> {
        let (http, _) = plain_http(endpoint, false)?;
        Ok(KinesisVideo {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// Calls `operation` (its path without the leading `/`) and parses the reply.
    pub async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        input: &serde_json::Value,
    ) -> Result<T, CallError> {
        let transport = |e: &dyn std::fmt::Display| CallError::Transport(e.to_string());
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/{operation}", self.endpoint))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(input.to_string())))
            .map_err(|e| transport(&e))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(format!("{e:?}")))?;
        let status = response.status();
        // rest-json names the error in a header, possibly followed by `:<a link>`.
        let kind = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or_default().to_owned());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(&e))?
            .to_bytes();
        if !status.is_success() {
            #[derive(Deserialize, Default)]
            struct ErrorDocument {
                #[serde(alias = "Message", default)]
                message: String,
            }
            let doc: ErrorDocument = serde_json::from_slice(&body).unwrap_or_default();
            return Err(CallError::Api {
                status,
                kind: kind.unwrap_or_default(),
                message: doc.message,
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| CallError::Transport(format!("unparseable {operation} response: {e}")))
    }

    /// The signaling channels `<prefix>0` … `<prefix><count - 1>` (SINGLE_MASTER), created where
    /// missing and found again where an earlier run made them, so a rerun costs a listing.
    pub async fn ensure_channels(
        &self,
        prefix: &str,
        count: usize,
        concurrency: usize,
        progress: &ProgressBar,
    ) -> anyhow::Result<Channels> {
        let mut existing = std::collections::HashMap::new();
        let mut next_token: Option<String> = None;
        loop {
            let mut input = json!({
                "MaxResults": LIST_PAGE,
                "ChannelNameCondition": { "ComparisonOperator": "BEGINS_WITH", "ComparisonValue": prefix },
            });
            if let Some(token) = &next_token {
                input["NextToken"] = json!(token);
            }
            let page: ChannelPage = self.call("listSignalingChannels", &input).await?;
            for c in page.channel_info_list {
                if c.channel_type == "SINGLE_MASTER" {
                    existing.insert(c.channel_name, c.channel_arn);
                }
            }
            match page.next_token {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !existing.contains_key(*n))
            .collect();
        let created = missing.len();
        progress.set_length(created as u64);
        let made: Vec<(String, String)> = stream::iter(missing)
            .map(|name| async move {
                let arn = self.create_channel(name).await?;
                progress.inc(1);
                anyhow::Ok((name.clone(), arn))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        existing.extend(made);
        let arns = names
            .iter()
            .map(|n| existing.remove(n))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| anyhow::anyhow!("a channel made or listed went missing"))?;
        Ok(Channels {
            arns,
            created,
            reused: count - created,
        })
    }

    async fn create_channel(&self, name: &str) -> anyhow::Result<String> {
        let created: Result<CreateOutput, _> = self
            .call("createSignalingChannel", &json!({ "ChannelName": name }))
            .await;
        match created {
            Ok(out) => Ok(out.channel_arn),
            // Made meanwhile (a run beside this one, or a listing that raced a creation).
            Err(CallError::Api { kind, .. }) if kind == "ResourceInUseException" => {
                let out: DescribeOutput = self
                    .call("describeSignalingChannel", &json!({ "ChannelName": name }))
                    .await?;
                Ok(out.channel_info.channel_arn)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("creating channel {name}"))),
        }
    }
}

/// The channels of a run, in index order.
pub struct Channels {
    pub arns: Vec<String>,
    pub created: usize,
    pub reused: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChannelInfo {
    channel_name: String,
    #[serde(rename = "ChannelARN")]
    channel_arn: String,
    #[serde(default)]
    channel_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChannelPage {
    #[serde(default)]
    channel_info_list: Vec<ChannelInfo>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct CreateOutput {
    #[serde(rename = "ChannelARN")]
    channel_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeOutput {
    channel_info: ChannelInfo,
}
