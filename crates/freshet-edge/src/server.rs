//! The listener: one TCP port serving HTTP/1.1 and HTTP/2 (prior-knowledge h2c, or h2 by ALPN
//! over TLS), with graceful shutdown that lets in-flight requests finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long shutdown waits for in-flight requests before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What one client can hold of the server: connections, and how long and how large a request
/// head may be. Past them a connection is closed (or answered 431 by the HTTP layer).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Time allowed to send a request's head, and to start one on an idle keep-alive
    /// connection (slowloris).
    pub header_read_timeout: Duration,
    /// Bytes of a request head (HTTP/1 buffer; HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Header fields in one HTTP/1 request.
    pub max_headers: usize,
    /// Concurrent HTTP/2 streams on one connection.
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_concurrent_streams: 250,
        }
    }
}

/// Open connections, in all and per address.
#[derive(Default)]
struct Census {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// A counted connection; leaving the census when dropped (its task ends).
struct Admitted {
    census: Arc<Mutex<Census>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut c = self.census.lock();
        c.total -= 1;
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

fn admit(census: &Arc<Mutex<Census>>, limits: &Limits, ip: IpAddr) -> Option<Admitted> {
    let mut c = census.lock();
    let from_ip = c.by_ip.get(&ip).copied().unwrap_or(0);
    if c.total >= limits.max_connections || from_ip >= limits.max_connections_per_ip {
        return None;
    }
    c.total += 1;
    c.by_ip.insert(ip, from_ip + 1);
    Some(Admitted {
        census: census.clone(),
        ip,
    })
}

pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        // A peer that stops answering pings is gone: its connection is closed.
        .keep_alive_interval(Some(limits.header_read_timeout))
        .keep_alive_timeout(limits.header_read_timeout)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let census = Arc::new(Mutex::new(Census::default()));
    let mut refused = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Accept errors (e.g. out of file descriptors) are transient: keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&census, &limits, peer.ip().to_canonical()) else {
            // Closed at once: a client over its share gets no request served. Logged at the
            // first refusal and then every thousandth, not per connection.
            if refused.is_multiple_of(1000) {
                tracing::warn!(%peer, refused = refused + 1, "connection refused: over the connection limits");
            }
            refused += 1;
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let first_byte = limits.header_read_timeout;
        let conn = crate::Peer {
            addr: peer,
            secure: tls.is_some(),
        };
        let service = TowerToHyperService::new(app.clone().layer(axum::Extension(conn)));
        match &tls {
            None => {
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _admitted = admitted;
                    // The HTTP layer's head timeout starts at a request's first byte: a
                    // connection that never sends one is closed here.
                    let mut probe = [0u8; 1];
                    if !matches!(
                        tokio::time::timeout(first_byte, tcp.peek(&mut probe)).await,
                        Ok(Ok(n)) if n > 0
                    ) {
                        return;
                    }
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    if let Err(error) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let handshake_timeout = limits.header_read_timeout;
                tokio::spawn(async move {
                    let _admitted = admitted;
                    let stream =
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(error) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("in-flight requests did not finish in time"),
    }
    Ok(())
}
