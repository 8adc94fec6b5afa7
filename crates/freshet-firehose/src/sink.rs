//! Where delivered bytes go (and where Analytics reads objects from): S3 objects (an S3-compatible endpoint, or files under the data
//! directory when none is configured) and HTTP endpoints speaking Firehose's HTTP delivery
//! contract. A sink call is one attempt; retrying is the delivery worker's job.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::config::HttpConfig;

/// Iceberg tables' files live in the same store as S3 deliveries.
impl freshet_iceberg::Files for ObjectWriter {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            ObjectWriter::put(self, bucket, key, body)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            ObjectWriter::get(self, bucket, key)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Where S3 destinations write.
#[derive(Clone, Debug)]
pub enum S3Target {
    /// `<dir>/<bucket>/<key>`, each object fsynced before it counts as delivered.
    Local(PathBuf),
    Remote(S3Endpoint),
}

#[derive(Clone, Debug)]
pub struct S3Endpoint {
    pub url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `bucket.host` addressing instead of `host/bucket`.
    pub virtual_hosted: bool,
}

impl S3Endpoint {
    /// A client for one bucket of this endpoint (Firehose's S3 destinations, cluster mode's
    /// log objects).
    pub fn object_store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
        // reqwest's client wants a crypto provider even for plain http; the server's is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.url)
            .with_region(&self.region)
            .with_bucket_name(bucket)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_allow_http(self.url.starts_with("http://"))
            .with_virtual_hosted_style_request(self.virtual_hosted)
            .build()?;
        Ok(Arc::new(store))
    }
}

#[derive(thiserror::Error, Debug)]
pub enum SinkError {
    #[error("S3 write failed: {0}")]
    S3(String),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// An HTTP endpoint attempt failed; `code` is the Firehose error code for error records.
    #[error("{code}: {message}")]
    Http { code: &'static str, message: String },
}

pub struct ObjectWriter {
    target: S3Target,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectWriter {
    pub fn new(target: S3Target) -> ObjectWriter {
        ObjectWriter {
            target,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// Writes one whole object; done means durable at the destination.
    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        fail::fail_point!("firehose::s3_put", |_| Err(SinkError::S3(
            "failpoint firehose::s3_put".into()
        )));
        match &self.target {
            S3Target::Local(dir) => {
                let path = local_path(dir, bucket, key);
                tokio::task::spawn_blocking(move || write_durably(&path, &body))
                    .await
                    .map_err(|e| SinkError::S3(e.to_string()))?
                    .map_err(|e| SinkError::S3(e.to_string()))
            }
            S3Target::Remote(endpoint) => {
                let store = self.store(endpoint, bucket)?;
                store
                    .put(&ObjectPath::from(key), Bytes::from(body).into())
                    .await
                    .map(drop)
                    .map_err(|e| SinkError::S3(e.to_string()))
            }
        }
    }

    /// The bytes of one object; `None` when it does not exist.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match &self.target {
            S3Target::Local(dir) => {
                let path = local_path(dir, bucket, key);
                match tokio::fs::read(&path).await {
                    Ok(body) => Ok(Some(body)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(SinkError::S3(e.to_string())),
                }
            }
            S3Target::Remote(endpoint) => {
                let store = self.store(endpoint, bucket)?;
                match store.get(&ObjectPath::from(key)).await {
                    Ok(got) => got
                        .bytes()
                        .await
                        .map(|b| Some(b.to_vec()))
                        .map_err(|e| SinkError::S3(e.to_string())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(SinkError::S3(e.to_string())),
                }
            }
        }
    }

    /// The keys of the objects under `prefix` taken as a directory (whole key segments:
    /// `a/b` holds `a/b/c`, not `a/bc`; an empty prefix is the whole bucket), in key order.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SinkError> {
        let mut keys = match &self.target {
            S3Target::Local(dir) => {
                let root = dir.join(bucket);
                let start = local_path(dir, bucket, prefix);
                tokio::task::spawn_blocking(move || local_keys(&root, &start))
                    .await
                    .map_err(|e| SinkError::S3(e.to_string()))?
                    .map_err(|e| SinkError::S3(e.to_string()))?
            }
            S3Target::Remote(endpoint) => {
                let store = self.store(endpoint, bucket)?;
                let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
                let objects: Vec<object_store::ObjectMeta> = store
                    .list(prefix.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| SinkError::S3(e.to_string()))?;
                objects
                    .into_iter()
                    .map(|o| o.location.to_string())
                    .collect()
            }
        };
        keys.sort();
        Ok(keys)
    }

    fn store(
        &self,
        endpoint: &S3Endpoint,
        bucket: &str,
    ) -> Result<Arc<dyn ObjectStore>, SinkError> {
        let mut stores = self.stores.lock();
        if let Some(store) = stores.get(bucket) {
            return Ok(store.clone());
        }
        let store = endpoint
            .object_store(bucket)
            .map_err(|e| SinkError::S3(e.to_string()))?;
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }
}

/// The file for a key; `.`/`..` segments (legal in S3 keys) are escaped so a key can never
/// leave its bucket's directory.
fn local_path(dir: &Path, bucket: &str, key: &str) -> PathBuf {
    let mut path = dir.join(bucket);
    for segment in key.split('/') {
        match segment {
            "" => {}
            "." => path.push("%2E"),
            ".." => path.push("%2E%2E"),
            s => path.push(s),
        }
    }
    path
}

/// The keys of the files under `start` (a directory of the bucket at `root`; none when it is
/// not one), `local_path`'s escapes undone; objects still being written (their temporary
/// names) are not objects yet.
fn local_keys(root: &Path, start: &Path) -> std::io::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut dirs = vec![start.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                dirs.push(path);
                continue;
            }
            if is_temporary(&path) {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let segments: Vec<String> = relative
                .components()
                .map(|c| match c.as_os_str().to_string_lossy().as_ref() {
                    "%2E" => ".".to_string(),
                    "%2E%2E" => "..".to_string(),
                    s => s.to_string(),
                })
                .collect();
            keys.push(segments.join("/"));
        }
    }
    Ok(keys)
}

/// `write_durably`'s temporary name: the object's with a `tmp-<uuid>` extension.
fn is_temporary(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(|e| e.strip_prefix("tmp-"))
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Write to a temporary name, fsync, rename into place and fsync the directory: the object
/// appears whole or not at all, and survives power loss once this returns.
fn write_durably(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("object path has no parent"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(body)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(parent)?.sync_all()
}

/// One HTTP endpoint delivery request.
pub struct HttpRequest<'a> {
    pub config: &'a HttpConfig,
    /// The same across retries of one batch, so endpoints can drop duplicates.
    pub request_id: &'a str,
    pub timestamp_ms: i64,
    pub source_arn: &'a str,
    pub records: &'a [Bytes],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpResponseBody {
    request_id: Option<String>,
}

pub struct HttpSender {
    client: reqwest::Client,
}

impl HttpSender {
    /// `extra_roots` are PEM certificates trusted besides the system's (for private CAs).
    pub fn new(extra_roots: Option<&[u8]>) -> Result<HttpSender, SinkError> {
        // reqwest is built without a bundled crypto provider so that the process has one TLS
        // stack (ring, as the edge uses); it is process-wide, so an earlier install is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = extra_roots {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| SinkError::Setup(e.to_string()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(HttpSender {
            client: builder
                .build()
                .map_err(|e| SinkError::Setup(e.to_string()))?,
        })
    }

    /// The client, for other HTTP calls made with the same trust (Lambda invocations).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// One attempt: only a 200 whose JSON body echoes the request id is success.
    pub async fn send(&self, req: &HttpRequest<'_>) -> Result<(), SinkError> {
        let records: Vec<serde_json::Value> = req
            .records
            .iter()
            .map(|r| serde_json::json!({"data": BASE64.encode(r)}))
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "requestId": req.request_id,
            "timestamp": req.timestamp_ms,
            "records": records,
        }))
        .map_err(|e| http_error("HttpEndpoint.InternalError", e))?;
        let endpoint = &req.config.endpoint_configuration;
        let mut request = self
            .client
            .post(&endpoint.url)
            .header("Content-Type", "application/json")
            .header("X-Amz-Firehose-Protocol-Version", "1.0")
            .header("X-Amz-Firehose-Request-Id", req.request_id)
            .header("X-Amz-Firehose-Source-Arn", req.source_arn);
        if let Some(key) = &endpoint.access_key {
            request = request.header("X-Amz-Firehose-Access-Key", key);
        }
        if let Some(attributes) = req
            .config
            .request_configuration
            .as_ref()
            .and_then(|r| r.common_attributes.as_ref())
        {
            let map: serde_json::Map<String, serde_json::Value> = attributes
                .iter()
                .map(|a| (a.attribute_name.clone(), a.attribute_value.clone().into()))
                .collect();
            let header = serde_json::json!({"commonAttributes": map}).to_string();
            request = request.header("X-Amz-Firehose-Common-Attributes", header);
        }
        let body = if req.config.gzip() {
            request = request.header("Content-Encoding", "gzip");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body)
                .map_err(|e| http_error("HttpEndpoint.InternalError", e))?;
            gz.finish()
                .map_err(|e| http_error("HttpEndpoint.InternalError", e))?
        } else {
            body
        };
        fail::fail_point!("firehose::http_post", |_| Err(SinkError::Http {
            code: "HttpEndpoint.ConnectionFailed",
            message: "failpoint firehose::http_post".into(),
        }));
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                http_error("HttpEndpoint.RequestTimeout", e)
            } else {
                http_error("HttpEndpoint.ConnectionFailed", e)
            }
        })?;
        let status = response.status();
        let text = response
            .bytes()
            .await
            .map_err(|e| http_error("HttpEndpoint.InvalidResponseFromDestination", e))?;
        if status != reqwest::StatusCode::OK {
            return Err(SinkError::Http {
                code: "HttpEndpoint.DestinationException",
                message: format!(
                    "The endpoint answered {status}: {}",
                    String::from_utf8_lossy(&text[..text.len().min(512)])
                ),
            });
        }
        let parsed: Option<HttpResponseBody> = serde_json::from_slice(&text).ok();
        match parsed.and_then(|b| b.request_id) {
            Some(id) if id == req.request_id => Ok(()),
            _ => Err(SinkError::Http {
                code: "HttpEndpoint.InvalidResponseFromDestination",
                message: "The response did not carry the request's requestId.".into(),
            }),
        }
    }
}

/// The error with its causes (reqwest's own message omits them: "error sending request").
fn http_error(code: &'static str, e: impl std::error::Error) -> SinkError {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    SinkError::Http { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_keys_cannot_escape_their_bucket() {
        let p = local_path(Path::new("/d"), "b", "../../etc/./x//y");
        assert_eq!(p, PathBuf::from("/d/b/%2E%2E/%2E%2E/etc/%2E/x/y"));
    }

    #[tokio::test]
    async fn local_objects_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let w = ObjectWriter::new(S3Target::Local(dir.path().to_path_buf()));
        w.put("bucket", "a/b/c.gz", b"hello".to_vec())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("bucket/a/b/c.gz")).unwrap(),
            b"hello"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("bucket/a/b"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[tokio::test]
    async fn local_listings_are_a_directorys_keys_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let w = ObjectWriter::new(S3Target::Local(dir.path().to_path_buf()));
        for key in [
            "dim/b.csv",
            "dim/a/x.csv",
            "dim/./y",
            "dimension.csv",
            "top",
        ] {
            w.put("bucket", key, key.as_bytes().to_vec()).await.unwrap();
        }
        // An object being written is not listed.
        let tmp = format!("c.tmp-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(dir.path().join("bucket/dim").join(tmp), b"partial").unwrap();
        assert_eq!(
            w.list("bucket", "dim").await.unwrap(),
            ["dim/./y", "dim/a/x.csv", "dim/b.csv"]
        );
        assert_eq!(w.list("bucket", "").await.unwrap().len(), 5);
        assert!(w.list("bucket", "none").await.unwrap().is_empty());
        assert!(w.list("bucket", "top").await.unwrap().is_empty());
        assert!(w.list("nobucket", "").await.unwrap().is_empty());
    }
}
