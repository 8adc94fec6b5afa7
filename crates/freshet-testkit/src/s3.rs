//! A throwaway S3-compatible server for tests: Python moto's standalone server (`moto_server`),
//! listening on 127.0.0.1 only, keeping everything in memory, and gone within a second of the test
//! process, however that process ends.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::watched::{Ready, WatchedServer, free_port, http_status, on_path};

/// An empty bucket on this test process's S3-compatible server. The server takes any credentials
/// (moto checks no signature), in any region, and needs path-style requests over plain HTTP.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    /// The server's URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub bucket: String,
}

impl S3Bucket {
    /// An object_store client for this bucket.
    pub fn object_store(&self) -> std::sync::Arc<dyn object_store::ObjectStore> {
        // The workspace's reqwest has no bundled crypto provider, and its client wants one even
        // for plain http; the process has one TLS stack (ring), as the server's own does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_allow_http(true)
            .with_region("us-east-1")
            // moto checks no signature, but the client signs every request.
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .expect("an S3 client for moto");
        std::sync::Arc::new(store)
    }
}

/// The port of this test process's moto server.
static SERVER: OnceLock<u16> = OnceLock::new();
static BUCKETS: AtomicU64 = AtomicU64::new(0);

/// A new, empty bucket on this test process's S3-compatible server; the server starts on the
/// first call. Panics if moto_server is not installed or does not start.
pub async fn s3_bucket() -> S3Bucket {
    // Starting the server and creating a bucket are blocking socket and process work, and tests on
    // other runtimes wait for the same start: both belong on a blocking thread.
    tokio::task::spawn_blocking(|| {
        let port = *SERVER.get_or_init(start);
        let bucket = format!("test-{}", BUCKETS.fetch_add(1, Ordering::Relaxed));
        // moto creates a bucket on a bare `PUT /<bucket>`, unsigned, in us-east-1.
        let status = http_status(port, "PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("moto_server does not answer: {e}"));
        assert_eq!(status, 200, "moto_server did not create bucket {bucket}");
        S3Bucket {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
        }
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Starts moto_server under its watchdog; returns its port once it answers HTTP.
fn start() -> u16 {
    let moto = on_path("moto_server").expect(
        "moto_server is not installed (not on PATH); scripts/test.sh installs it, with the \
         end-to-end tests' requirements (tests/e2e/requirements.txt: moto[server])",
    );
    let port = free_port();
    WatchedServer {
        name: "moto_server",
        shell: std::process::Command::new("/bin/sh"),
        argv: vec![
            moto.into(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string().into(),
        ],
        // Its state is in memory: nothing to keep, nothing to remove.
        stop_signal: "TERM",
        remove_after: None,
        ready: Ready::HttpAnswers(port),
    }
    .start();
    port
}
