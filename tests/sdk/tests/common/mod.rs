//! The test harness: runs a real `freshet serve` on a free loopback port over a fresh data
//! directory and kills it when dropped. It builds nothing; `cargo build -p freshet` must have
//! built the binary first.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
