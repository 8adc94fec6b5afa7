//! Throwaway servers for tests, each run under a small `sh` watchdog that stops it (and removes its
//! directory) within a second of the test process ending, however that process ends; a server is
//! handed over only once it is ready.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Runs the server (`$4...`) in the background and, once the test process (`$1`) is gone, stops it
/// with signal `$2` and removes directory `$3` (if not empty). The server's output goes to this
/// script's stdout; the script itself then writes nowhere, so a closed pipe after the test process
/// ends cannot kill it before it cleans up. (`sh` starts a background command with SIGINT and
/// SIGQUIT ignored: the stop signal must be one the server handles itself, or SIGTERM.)
const WATCHDOG: &str = r#"
test_pid=$1 signal=$2 dir=$3
shift 3
"$@" 2>&1 &
server=$!
exec >/dev/null 2>&1
while [ -d "/proc/$test_pid" ]; do sleep 1; done
kill "-$signal" "$server"
wait "$server"
if [ -n "$dir" ]; then rm -rf "$dir"; fi
"#;

/// How often a server that says nothing about being ready is asked.
const POLL: Duration = Duration::from_millis(50);

/// How many quiet polls a server may take to become ready: a minute at least (a loaded CI machine
/// starting Python included). Counted rather than timed: the workspace reads time only through
/// `freshet_runtime::Clock`, which a test helper does not need for a bound this loose.
const START_POLLS: u32 = 60 * 20;

/// A server to start under the watchdog.
pub(crate) struct WatchedServer {
    /// What the server is called in panics.
    pub name: &'static str,
    /// How `/bin/sh` is run: the watchdog runs with this command's user and working directory.
    pub shell: Command,
    /// The server's program and arguments.
    pub argv: Vec<OsString>,
    /// The signal (a name for `kill -NAME`) that stops the server once the test process is gone.
    pub stop_signal: &'static str,
    /// A directory removed once the server is stopped.
    pub remove_after: Option<PathBuf>,
    /// When the server counts as started.
    pub ready: Ready,
}

/// How a server shows that it is ready.
pub(crate) enum Ready {
    /// It logs a line containing this text.
    LogLine(&'static str),
    /// An HTTP request to this port on 127.0.0.1 gets an answer (any status).
    HttpAnswers(u16),
}

impl WatchedServer {
    /// Starts the server and returns once it is ready; panics, with the server's output, if it
    /// exits or is not ready within a minute. Blocks: call it from a blocking thread.
    pub(crate) fn start(self) {
        let WatchedServer {
            name,
            mut shell,
            argv,
            stop_signal,
            remove_after,
            ready,
        } = self;
        shell
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(stop_signal)
            .arg(remove_after.as_deref().unwrap_or(Path::new("")))
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // A process group of its own, so an interrupt meant for the tests (Ctrl-C) leaves the
        // watchdog alive to clean up.
        std::os::unix::process::CommandExt::process_group(&mut shell, 0);
        let mut child = shell
            .spawn()
            .unwrap_or_else(|e| panic!("the {name} watchdog does not start: {e}"));
        let output = BufReader::new(child.stdout.take().expect("a piped stdout"));

        // The server writes for as long as it runs: a thread keeps its pipe drained, so it never
        // blocks on a write, and passes each line on until no one listens. The channel closes
        // when the server's output ends, that is when it exits.
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            let mut listening = true;
            // Split on bytes: a line that is not UTF-8 must not stop the draining.
            for line in output.split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                listening = listening && lines.send(line).is_ok();
            }
            child.wait().ok();
        });

        let mut polls = 0;
        let mut seen = Vec::new();
        loop {
            match log.recv_timeout(POLL) {
                Ok(line) => {
                    let is_ready = matches!(ready, Ready::LogLine(text) if line.contains(text));
                    seen.push(line);
                    if is_ready {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Ready::HttpAnswers(port) = ready
                        && http_status(port, "GET", "/").is_ok()
                    {
                        return;
                    }
                    polls += 1;
                    if polls > START_POLLS {
                        panic!(
                            "{name} was not ready after {:?}:\n{}",
                            POLL * START_POLLS,
                            seen.join("\n")
                        );
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{name} did not start:\n{}", seen.join("\n"))
                }
            }
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// Sends an HTTP/1.1 request without a body to 127.0.0.1:`port` and returns the answer's status.
/// Blocks, for at most a few seconds.
pub(crate) fn http_status(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all that is wanted; the rest is read off so the server is not cut short.
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: {answer:.80}"),
            )
        })
}

/// The first file called `program` in a directory on PATH.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(program))
        .find(|file| file.is_file())
}
