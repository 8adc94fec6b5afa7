//! A throwaway PostgreSQL server for tests: initialised in a temporary directory, listening on
//! 127.0.0.1 only, with `fsync` off, and gone (process and directory) within a second of the test
//! process, however that process ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::watched::{Ready, WatchedServer, free_port};

/// The superuser `initdb` creates; trust authentication, so no password.
const USER: &str = "freshet";

static SERVER: OnceLock<String> = OnceLock::new();
static DATABASES: AtomicU64 = AtomicU64::new(0);

/// The URL of this test process's PostgreSQL server, without a database; the server starts on the
/// first call. Panics if PostgreSQL is not installed or does not start.
pub async fn postgres_server_url() -> String {
    if let Some(url) = SERVER.get() {
        return url.clone();
    }
    // Starting takes a few seconds of blocking process work, and tests on other runtimes wait for
    // the same start: both belong on a blocking thread, not on a runtime's.
    tokio::task::spawn_blocking(|| SERVER.get_or_init(start).clone())
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The URL of a new, empty database on this test process's PostgreSQL server.
pub async fn postgres_database() -> String {
    let server = postgres_server_url().await;
    let name = format!("test_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the PostgreSQL server accepts connections");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a test database is created");
    admin.close().await.ok();
    format!("{server}/{name}")
}

/// Initialises a cluster and starts the server under its watchdog; returns its URL once it accepts
/// connections.
fn start() -> String {
    let bin = bin_dir().expect(
        "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin); \
         scripts/test.sh installs it",
    );
    let dir = tempfile::Builder::new()
        .prefix("freshet-postgres-")
        .tempdir()
        .expect("a temporary directory")
        // The watchdog removes it, after the server is stopped.
        .keep();
    // PostgreSQL refuses to run as root: then its tools run as the `postgres` user, in a directory
    // that user owns.
    let as_root = effective_uid() == Some(0);
    if as_root {
        run(Command::new("chown").arg("postgres").arg(&dir));
    }
    let tool = |program: &Path| {
        let mut command = if as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The user running the tools may not be allowed into the test's working directory.
        command.current_dir(&dir);
        command
    };
    run(tool(&bin.join("initdb"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["--auth=trust", "--no-sync", "-U", USER])
        .args(["--encoding=UTF8", "--locale=C"]));
    // In the configuration file, not on the command line: a benchmark that measures commits turns
    // it back on with ALTER SYSTEM, which a command-line setting would override.
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("data/postgresql.conf"))
        .and_then(|mut conf| std::io::Write::write_all(&mut conf, b"\nfsync = off\n"))
        .expect("the server's configuration file takes a setting");

    let port = free_port();
    WatchedServer {
        name: "PostgreSQL",
        shell: tool(Path::new("/bin/sh")),
        argv: vec![
            bin.join("postgres").into(),
            "-D".into(),
            dir.join("data").into(),
            "-p".into(),
            port.to_string().into(),
            "-k".into(),
            dir.clone().into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "max_connections=200".into(),
        ],
        // Immediate shutdown: nothing in it is worth keeping.
        stop_signal: "QUIT",
        remove_after: Some(dir),
        ready: Ready::LogLine("database system is ready to accept connections"),
    }
    .start();
    format!("postgres://{USER}@127.0.0.1:{port}")
}

/// The directory holding `initdb` and `postgres`: from PATH, else the newest under
/// /usr/lib/postgresql (Debian's layout, where PATH has only the client tools).
fn bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_tools(dir));
    on_path.or_else(|| {
        let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry
                    .file_name()
                    .to_str()?
                    .split('.')
                    .map(|part| part.parse().ok())
                    .collect::<Option<Vec<u32>>>()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, dir)| has_tools(dir))
            .collect();
        versions.sort();
        versions.pop().map(|(_, dir)| dir)
    })
}

/// This process's effective user id, from /proc (std has no call for it).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Runs a setup command to completion; panics with its output if it fails.
fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} could not run: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
