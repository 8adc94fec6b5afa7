//! Search-engine destinations: Amazon OpenSearch Service, Elasticsearch and OpenSearch
//! Serverless, reached at their `ClusterEndpoint` / `CollectionEndpoint` through the `_bulk`
//! API. Each record is one document (single-line JSON), indexed into `IndexName` rotated by
//! the record's arrival time as AWS names rotated indexes, with a Firehose document id that
//! stays the same across retries (or none, with `NO_DOCUMENT_ID`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{BufferingHints, RetryOptions, S3Config, Thresholds, describe_destination};
use crate::error::{Result, invalid};
use crate::process::Processing;

/// Which of the three destination members a search destination came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchKind {
    Elasticsearch,
    OpenSearch,
    Serverless,
}

impl SearchKind {
    pub fn configuration_member(self) -> &'static str {
        match self {
            SearchKind::Elasticsearch => "ElasticsearchDestinationConfiguration",
            SearchKind::OpenSearch => "AmazonopensearchserviceDestinationConfiguration",
            SearchKind::Serverless => "AmazonOpenSearchServerlessDestinationConfiguration",
        }
    }

    pub fn update_member(self) -> &'static str {
        match self {
            SearchKind::Elasticsearch => "ElasticsearchDestinationUpdate",
            SearchKind::OpenSearch => "AmazonopensearchserviceDestinationUpdate",
            SearchKind::Serverless => "AmazonOpenSearchServerlessDestinationUpdate",
        }
    }

    pub fn description_member(self) -> &'static str {
        match self {
            SearchKind::Elasticsearch => "ElasticsearchDestinationDescription",
            SearchKind::OpenSearch => "AmazonopensearchserviceDestinationDescription",
            SearchKind::Serverless => "AmazonOpenSearchServerlessDestinationDescription",
        }
    }

    pub const ALL: [SearchKind; 3] = [
        SearchKind::Elasticsearch,
        SearchKind::OpenSearch,
        SearchKind::Serverless,
    ];

    /// The error output type of documents the engine refused.
    /// The destination as the console names it.
    pub fn label(self) -> &'static str {
        match self {
            SearchKind::Elasticsearch => "Elasticsearch",
            SearchKind::OpenSearch => "OpenSearch",
            SearchKind::Serverless => "OpenSearch Serverless",
        }
    }

    pub fn error_output_type(self) -> &'static str {
        match self {
            SearchKind::Elasticsearch => "elasticsearch-failed",
            SearchKind::OpenSearch => "AmazonOpenSearchService-failed",
            SearchKind::Serverless => "AmazonOpenSearchServerless-failed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DocumentIdOptions {
    pub default_document_id_format: String,
}

/// The members of the three search destination configurations (Serverless has no domain,
/// type, rotation or document ids; it names its endpoint `CollectionEndpoint`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchConfig {
    #[serde(rename = "RoleARN", default)]
    pub role_arn: String,
    #[serde(rename = "DomainARN", skip_serializing_if = "Option::is_none")]
    pub domain_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_endpoint: Option<String>,
    #[serde(default)]
    pub index_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_rotation_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(rename = "S3Configuration", default)]
    pub s3: S3Config,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id_options: Option<DocumentIdOptions>,
}

/// How long failing documents are retried before they go to S3 (AWS: 300 s).
const DEFAULT_RETRY_SECS: u64 = 300;

impl SearchConfig {
    pub fn thresholds(&self) -> Thresholds {
        BufferingHints::thresholds(self.buffering_hints, false)
    }

    pub fn retry_ms(&self) -> u64 {
        RetryOptions::ms(self.retry_options, DEFAULT_RETRY_SECS)
    }

    pub fn backup_all(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("AllDocuments")
    }

    /// The engine's base URL: its endpoint, or the URL `domains` maps its DomainARN's domain
    /// name to.
    pub fn endpoint<'a>(&'a self, domains: &'a BTreeMap<String, String>) -> Option<&'a str> {
        self.cluster_endpoint
            .as_deref()
            .or(self.collection_endpoint.as_deref())
            .or_else(|| domains.get(self.domain_name()?).map(String::as_str))
            .map(|e| e.trim_end_matches('/'))
    }

    /// The domain's name in `DomainARN` (`arn:aws:es:<region>:<account>:domain/<name>`).
    pub fn domain_name(&self) -> Option<&str> {
        self.domain_arn
            .as_deref()?
            .rsplit_once(":domain/")
            .map(|(_, n)| n)
    }

    fn rotation(&self, kind: SearchKind) -> &str {
        match kind {
            SearchKind::Serverless => "NoRotation",
            _ => self.index_rotation_period.as_deref().unwrap_or("OneDay"),
        }
    }

    pub fn document_ids(&self) -> bool {
        self.document_id_options
            .as_ref()
            .is_none_or(|o| o.default_document_id_format != "NO_DOCUMENT_ID")
    }

    pub fn check(&self, kind: SearchKind) -> Result<()> {
        if self.role_arn.is_empty() || self.index_name.is_empty() {
            return Err(invalid(format!(
                "{} requires RoleARN, IndexName and S3Configuration.",
                kind.configuration_member()
            )));
        }
        match kind {
            SearchKind::Serverless => {
                if self.collection_endpoint.is_none() {
                    return Err(invalid(
                        "CollectionEndpoint is required for an OpenSearch Serverless destination.",
                    ));
                }
            }
            _ => match (&self.domain_arn, &self.cluster_endpoint) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "Only one of DomainARN and ClusterEndpoint can be specified.",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        "One of DomainARN and ClusterEndpoint must be specified.",
                    ));
                }
                // Resolved through the server's `firehose.search_domains` (checked by the service).
                (Some(_), None) | (None, Some(_)) => {}
            },
        }
        if let Some(endpoint) = self.endpoint(&BTreeMap::new()) {
            reqwest::Url::parse(endpoint)
                .map_err(|e| invalid(format!("Invalid endpoint {endpoint}: {e}")))?;
        }
        if !matches!(
            self.rotation(kind),
            "NoRotation" | "OneHour" | "OneDay" | "OneWeek" | "OneMonth"
        ) {
            return Err(invalid("Invalid IndexRotationPeriod."));
        }
        if self.s3.bucket_arn.is_empty() {
            return Err(invalid("S3Configuration requires RoleARN and BucketARN."));
        }
        Processing::parse(self.processing_configuration.as_ref(), false)?;
        if self.vpc_configuration.is_some() {
            return Err(invalid(
                "VpcConfiguration is not supported by Freshet: the engine is reached at its endpoint directly.",
            ));
        }
        self.s3.check("S3Configuration")
    }

    /// The description with AWS's defaults filled in.
    pub fn describe(&self, kind: SearchKind) -> Value {
        let mut d = describe_destination(self, &self.s3, self.retry_ms(), "FailedDocumentsOnly");
        d.insert(
            "BufferingHints".into(),
            BufferingHints::described(self.buffering_hints, false),
        );
        if kind != SearchKind::Serverless {
            d.insert("IndexRotationPeriod".into(), json!(self.rotation(kind)));
            d.entry("DocumentIdOptions")
                .or_insert_with(|| json!({"DefaultDocumentIdFormat": "FIREHOSE_DEFAULT"}));
        }
        Value::Object(d)
    }

    /// The index a record that arrived at `arrival_ms` goes to.
    pub fn index(&self, kind: SearchKind, arrival_ms: i64) -> String {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
        let base = &self.index_name;
        match self.rotation(kind) {
            "OneHour" => format!("{base}-{}", t.format("%Y-%m-%d-%H")),
            "OneDay" => format!("{base}-{}", t.format("%Y-%m-%d")),
            // ISO weeks, as AWS's example names 25 February 2016's index `-2016-w08`.
            "OneWeek" => format!("{base}-{}", t.format("%G-w%V")),
            "OneMonth" => format!("{base}-{}", t.format("%Y-%m")),
            _ => base.clone(),
        }
    }
}

/// One document of a bulk request.
pub struct Document<'a> {
    pub index: String,
    pub id: Option<String>,
    pub source: &'a [u8],
}

/// The `_bulk` body: an action line and the document for each.
pub fn bulk_body(docs: &[&Document<'_>], type_name: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    for doc in docs {
        let mut action = json!({"_index": doc.index});
        if let Some(id) = &doc.id {
            action["_id"] = json!(id);
        }
        if let Some(t) = type_name.filter(|t| !t.is_empty()) {
            action["_type"] = json!(t);
        }
        out.extend_from_slice(json!({ "index": action }).to_string().as_bytes());
        out.push(b'\n');
        // A document must be one line of JSON; the engine refuses it otherwise.
        out.extend(
            doc.source
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
        out.push(b'\n');
    }
    out
}

/// Per document of a bulk request: `None` if indexed, else (status, error) to retry or report.
pub fn bulk_results(
    body: &[u8],
    n: usize,
) -> std::result::Result<Vec<Option<(String, String)>>, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("The _bulk response is not JSON: {e}"))?;
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .ok_or("The _bulk response has no items.")?;
    if items.len() != n {
        return Err(format!(
            "The _bulk response has {} items for {n} documents.",
            items.len()
        ));
    }
    Ok(items
        .iter()
        .map(|item| {
            let result = item.as_object().and_then(|o| o.values().next());
            let status = result
                .and_then(|r| r.get("status"))
                .and_then(Value::as_u64)
                .unwrap_or(500);
            if (200..300).contains(&status) {
                None
            } else {
                let error = result
                    .and_then(|r| r.get("error"))
                    .map(Value::to_string)
                    .unwrap_or_else(|| "no error given".into());
                Some((status.to_string(), error))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rotation: &str) -> SearchConfig {
        SearchConfig {
            index_name: "logs".into(),
            index_rotation_period: Some(rotation.into()),
            ..Default::default()
        }
    }

    #[test]
    fn rotated_index_names_follow_aws() {
        // 2016-02-25 13:00:00 UTC: AWS's own example.
        let ms = 1_456_405_200_000;
        let os = SearchKind::OpenSearch;
        assert_eq!(config("NoRotation").index(os, ms), "logs");
        assert_eq!(config("OneHour").index(os, ms), "logs-2016-02-25-13");
        assert_eq!(config("OneDay").index(os, ms), "logs-2016-02-25");
        assert_eq!(config("OneWeek").index(os, ms), "logs-2016-w08");
        assert_eq!(config("OneMonth").index(os, ms), "logs-2016-02");
        assert_eq!(
            config("OneDay").index(SearchKind::Serverless, ms),
            "logs",
            "serverless indexes do not rotate"
        );
    }

    #[test]
    fn bulk_bodies_and_results() {
        let a = Document {
            index: "i".into(),
            id: Some("x".into()),
            source: b"{\"a\":\n1}",
        };
        let b = Document {
            index: "i".into(),
            id: None,
            source: b"{}",
        };
        let body = bulk_body(&[&a, &b], Some("_doc"));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"index\":{\"_id\":\"x\",\"_index\":\"i\",\"_type\":\"_doc\"}}\n{\"a\": 1}\n{\"index\":{\"_index\":\"i\",\"_type\":\"_doc\"}}\n{}\n"
        );
        let response = br#"{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
        let r = bulk_results(response, 2).unwrap();
        assert_eq!(r[0], None);
        assert_eq!(r[1].as_ref().unwrap().0, "400");
        assert!(bulk_results(response, 3).is_err());
    }
}
