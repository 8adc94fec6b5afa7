//! ICE servers for signaling clients: GetIceServerConfig's TURN credentials and the embedded
//! TURN server (webrtc-rs `turn`) they work against, so a call can be relayed on a network with
//! nothing else on it (`iceTransportPolicy: 'relay'`).
//!
//! Credentials are time-limited, in the TURN REST form coturn's `static-auth-secret` and AWS use:
//! the username is `<expiry epoch seconds>:<base64 of the channel ARN>`, the password the base64
//! HMAC-SHA1 of the username under a secret made at every start (so credentials end with the
//! process, as AWS's end with their TTL).

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use freshet_runtime::SharedClock;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::error::{Result, VideoError};

/// How long GetIceServerConfig's credentials last (AWS: 300 s).
pub const CREDENTIAL_TTL_SECONDS: i64 = 300;
/// The realm the TURN server announces.
const REALM: &str = "freshet";

/// One `IceServerList` entry.
#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct IceServer {
    pub uris: Vec<String>,
    pub username: String,
    pub password: String,
    pub ttl: i64,
}

/// Makes and checks credentials.
#[derive(Clone)]
pub struct Credentials {
    secret: Arc<[u8; 32]>,
    clock: SharedClock,
}

impl Credentials {
    pub fn new(clock: SharedClock) -> Credentials {
        Credentials {
            secret: Arc::new(rand::random()),
            clock,
        }
    }

    fn password(&self, username: &str) -> String {
        // Any key length is valid for HMAC.
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.secret[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(username.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// A username and password for a client of `channel_arn`, valid for the TTL.
    pub fn issue(&self, channel_arn: &str) -> (String, String) {
        let expiry = self.clock.now_ms() / 1000 + CREDENTIAL_TTL_SECONDS;
        let username = format!("{expiry}:{}", STANDARD.encode(channel_arn));
        let password = self.password(&username);
        (username, password)
    }

    /// The password of a username this server issued that has not expired.
    fn check(&self, username: &str) -> Option<String> {
        let expiry: i64 = username.split_once(':')?.0.parse().ok()?;
        (expiry >= self.clock.now_ms() / 1000).then(|| self.password(username))
    }
}

/// The TURN server's side of credentials: the long-term key (RFC 5389 10.2) of a username
/// this server issued and that has not expired.
struct TurnAuth(Credentials);

impl turn::auth::AuthHandler for TurnAuth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        _src: SocketAddr,
    ) -> std::result::Result<Vec<u8>, turn::Error> {
        let password = self
            .0
            .check(username)
            .ok_or_else(|| turn::Error::Other(format!("unknown or expired username {username}")))?;
        Ok(turn::auth::generate_auth_key(username, realm, &password))
    }
}

/// The embedded TURN server, relaying on UDP.
pub struct TurnServer {
    server: turn::server::Server,
    addr: SocketAddr,
}

impl TurnServer {
    /// Listens on `listen` (UDP) and relays from ports of the same address.
    pub async fn start(listen: SocketAddr, credentials: Credentials) -> Result<TurnServer> {
        let failed = |e: &dyn std::fmt::Display| {
            VideoError::Internal(format!("cannot start the TURN server on {listen}: {e}"))
        };
        let socket = tokio::net::UdpSocket::bind(listen)
            .await
            .map_err(|e| failed(&e))?;
        let addr = socket.local_addr().map_err(|e| failed(&e))?;
        let relay = turn::relay::relay_static::RelayAddressGeneratorStatic {
            relay_address: addr.ip(),
            address: addr.ip().to_string(),
            net: Arc::new(webrtc_util::vnet::net::Net::new(None)),
        };
        let server = turn::server::Server::new(turn::server::config::ServerConfig {
            conn_configs: vec![turn::server::config::ConnConfig {
                conn: Arc::new(socket),
                relay_addr_generator: Box::new(relay),
            }],
            realm: REALM.into(),
            auth_handler: Arc::new(TurnAuth(credentials)),
            // Zero: the crate's default (ten minutes).
            channel_bind_timeout: std::time::Duration::ZERO,
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| failed(&e))?;
        tracing::info!(%addr, "TURN server listening (UDP)");
        Ok(TurnServer { server, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn close(&self) {
        if let Err(error) = self.server.close().await {
            tracing::warn!(%error, "TURN server did not close cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use freshet_runtime::ManualClock;

    use super::*;

    #[test]
    fn credentials_expire_and_only_issued_ones_pass() {
        let (clock, manual) = ManualClock::shared(1_700_000_000_000);
        let creds = Credentials::new(clock);
        let (user, password) = creds.issue("arn:aws:kinesisvideo:us-east-1:1:channel/c/1");
        assert!(user.starts_with("1700000300:"));
        assert_eq!(
            STANDARD.decode(user.split_once(':').unwrap().1).unwrap(),
            b"arn:aws:kinesisvideo:us-east-1:1:channel/c/1"
        );
        assert_eq!(creds.check(&user), Some(password.clone()));
        // Another server's secret gives another password.
        let other = Credentials::new(creds.clock.clone());
        assert_ne!(other.check(&user), Some(password));
        assert_eq!(creds.check("not-a-username"), None);
        manual.advance(Duration::from_secs(301));
        assert_eq!(creds.check(&user), None);
    }
}
