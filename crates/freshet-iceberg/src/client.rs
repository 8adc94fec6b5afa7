//! What Firehose's Iceberg destination needs of a catalog: load a table, commit a change. Served
//! in process by Freshet's own catalog, or over HTTP by any Iceberg REST catalog.

use futures_util::future::BoxFuture;
use iceberg_catalog_rest::{
    CommitTableRequest, CommitTableResponse, ErrorResponse, LoadTableResult,
};

use crate::catalog::IcebergError;

/// A table of a catalog: its namespace (one level: a Glue database) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub namespace: String,
    pub table: String,
}

pub trait TableCatalog: Send + Sync {
    /// The table's current metadata and where it is kept.
    fn load_table<'a>(
        &'a self,
        name: &'a TableName,
    ) -> BoxFuture<'a, Result<LoadTableResult, IcebergError>>;

    /// Applies `commit`'s updates if its requirements hold of the current metadata; a
    /// requirement that fails is `IcebergError::CommitFailed`.
    fn commit<'a>(
        &'a self,
        name: &'a TableName,
        commit: CommitTableRequest,
    ) -> BoxFuture<'a, Result<CommitTableResponse, IcebergError>>;
}

/// An Iceberg REST catalog at `url` (its `/v1/config` is at `{url}/v1/config`). Requests are
/// unsigned: a catalog that wants SigV4 or OAuth2 is not reachable this way yet.
pub struct RestClient {
    http: reqwest::Client,
    url: String,
    warehouse: Option<String>,
    prefix: tokio::sync::OnceCell<String>,
}

impl RestClient {
    pub fn new(
        http: reqwest::Client,
        url: &str,
        warehouse: Option<String>,
    ) -> Result<RestClient, IcebergError> {
        reqwest::Url::parse(url)
            .map_err(|e| IcebergError::BadRequest(format!("Invalid catalog URL {url}: {e}")))?;
        Ok(RestClient {
            http,
            url: url.trim_end_matches('/').to_string(),
            warehouse,
            prefix: tokio::sync::OnceCell::new(),
        })
    }

    /// The `prefix` the catalog's configuration gives (empty when none), asked once.
    async fn prefix(&self) -> Result<&str, IcebergError> {
        self.prefix
            .get_or_try_init(|| async {
                let mut url = reqwest::Url::parse(&format!("{}/v1/config", self.url))
                    .map_err(|e| IcebergError::Unavailable(format!("{}: {e}", self.url)))?;
                if let Some(warehouse) = &self.warehouse {
                    url.query_pairs_mut().append_pair("warehouse", warehouse);
                }
                let config: serde_json::Value = answer(self.http.get(url).send().await).await?;
                let pick = |part: &str| config[part]["prefix"].as_str().map(str::to_string);
                Ok(pick("overrides")
                    .or_else(|| pick("defaults"))
                    .unwrap_or_default())
            })
            .await
            .map(String::as_str)
    }

    async fn table_url(&self, name: &TableName) -> Result<String, IcebergError> {
        let prefix = self.prefix().await?;
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| IcebergError::Unavailable(format!("{}: {e}", self.url)))?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| IcebergError::Unavailable(format!("{} cannot be a base", self.url)))?;
            segments.push("v1");
            segments.extend(prefix.split('/').filter(|s| !s.is_empty()));
            segments.extend(["namespaces", &name.namespace, "tables", &name.table]);
        }
        Ok(url.to_string())
    }
}

/// A catalog's answer: its body when 200, its error model otherwise.
async fn answer<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, IcebergError> {
    let response = sent.map_err(|e| IcebergError::Unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| IcebergError::Unavailable(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| IcebergError::Unavailable(format!("unreadable catalog answer: {e}")));
    }
    let message = match serde_json::from_slice::<ErrorResponse>(&body) {
        Ok(error) => iceberg::Error::from(error).to_string(),
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    };
    Err(IcebergError::from_status(status.as_u16(), message))
}

impl TableCatalog for RestClient {
    fn load_table<'a>(
        &'a self,
        name: &'a TableName,
    ) -> BoxFuture<'a, Result<LoadTableResult, IcebergError>> {
        Box::pin(async move {
            let url = self.table_url(name).await?;
            answer(self.http.get(url).send().await).await
        })
    }

    fn commit<'a>(
        &'a self,
        name: &'a TableName,
        commit: CommitTableRequest,
    ) -> BoxFuture<'a, Result<CommitTableResponse, IcebergError>> {
        Box::pin(async move {
            let url = self.table_url(name).await?;
            let body = serde_json::to_vec(&commit)
                .map_err(|e| IcebergError::Internal(format!("cannot encode a commit: {e}")))?;
            let request = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            answer(request.send().await).await
        })
    }
}
