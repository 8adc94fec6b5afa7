//! The test harness: runs a real `freshet serve` on a free loopback port over a fresh data
//! directory and kills it when dropped, and builds SDK clients for it. It builds nothing;
//! `cargo build -p freshet` must have built the binary first.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::types::StreamStatus;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// How long a server may take to write its ready file.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Server {
    /// An anonymous server: any credentials (or none) are accepted.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server that verifies SigV4 signatures made with this key pair.
    pub fn start_with_keys(access_key_id: &str, secret_access_key: &str) -> Server {
        Server::start_with(&[
            "--access-key-id",
            access_key_id,
            "--secret-access-key",
            secret_access_key,
        ])
    }

    fn start_with(extra_args: &[&str]) -> Server {
        let bin = freshet_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let ready = dir.path().join("ready");
        let log = File::create(dir.path().join("server.log")).expect("server log");
        let mut child = Command::new(&bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--ready-file")
            .arg(&ready)
            .args(["--create-delay-ms", "0"])
            .args(["--delete-delay-ms", "0"])
            .args(["--update-delay-ms", "0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = loop {
            // The server writes the file whole and renames it, so a read never sees half of it.
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text
                    .trim()
                    .parse()
                    .expect("ready file holds a socket address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("freshet exited early ({status}):\n{}", read_log(dir.path()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "freshet not ready after {READY_TIMEOUT:?}:\n{}",
                    read_log(dir.path())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Server { child, addr, dir }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the server has logged so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// The server binary: `FRESHET_BIN`, else `$CARGO_TARGET_DIR/debug/freshet`, else the `debug`
/// directory this test binary was built into, else the shared build cache.
fn freshet_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FRESHET_BIN") {
        return PathBuf::from(bin);
    }
    let mut candidates = Vec::new();
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("debug/freshet"));
    }
    // Test binaries live in <target>/debug/deps/.
    if let Ok(exe) = std::env::current_exe()
        && let Some(debug) = exe.parent().and_then(Path::parent)
    {
        candidates.push(debug.join("freshet"));
    }
    candidates.push(PathBuf::from("/var/tmp/freshet-target/debug/freshet"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("no freshet binary in {candidates:?}: run `cargo build -p freshet` or set FRESHET_BIN")
        })
}

/// A stream name unique to this process and call, so tests never depend on each other.
pub fn stream_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}")
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// An SDK client with any keys, for anonymous servers.
pub fn client(server: &Server) -> Client {
    client_with_keys(server, "AKID", "SECRET")
}

/// An SDK client over plain HTTP, without aws-config: endpoint, region and static keys only.
pub fn client_with_keys(server: &Server, access_key_id: &str, secret: &str) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .endpoint_url(server.endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

/// An SDK client speaking HTTP/2 without TLS (h2c, prior knowledge), which the server accepts
/// on its one port. The SDK's own hyper client negotiates HTTP/2 only through TLS ALPN, so this
/// is a minimal connector: one HTTP/2 connection per client, every request a stream on it.
pub fn h2c_client(server: &Server) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .endpoint_url(server.endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .http_client(H2cClient {
            addr: server.addr,
            connection: Arc::default(),
        })
        .build();
    Client::from_conf(config)
}

#[derive(Clone)]
struct H2cClient {
    addr: SocketAddr,
    connection: Arc<tokio::sync::Mutex<Option<SendRequest<SdkBody>>>>,
}

impl std::fmt::Debug for H2cClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H2cClient({})", self.addr)
    }
}

impl H2cClient {
    /// The open connection, or a new one (the first call, or after the server closed it).
    async fn sender(&self) -> Result<SendRequest<SdkBody>, ConnectorError> {
        let mut slot = self.connection.lock().await;
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| ConnectorError::io(e.into()))?;
        tcp.set_nodelay(true)
            .map_err(|e| ConnectorError::io(e.into()))?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

impl HttpClient for H2cClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for H2cClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut sender = client.sender().await?;
            sender
                .ready()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let version = response.version();
            assert_eq!(
                version,
                hyper::Version::HTTP_2,
                "h2c answered in {version:?}"
            );
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

pub async fn create_provisioned(client: &Client, name: &str, shards: i32) -> anyhow::Result<()> {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await?;
    wait_active(client, name).await
}

pub async fn wait_active(client: &Client, name: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        let out = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await?;
        let summary = out
            .stream_description_summary()
            .expect("DescribeStreamSummary has a summary");
        if summary.stream_status() == &StreamStatus::Active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("stream {name} did not become ACTIVE in 10 s")
}
