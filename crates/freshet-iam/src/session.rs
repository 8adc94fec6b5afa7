//! Temporary credentials. A session token is the session's claims signed with a key only this
//! server holds, and the session's secret key is derived from its access key id with the same
//! key: nothing is stored per session, and sessions outlive restarts until they expire.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a session token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The session's access key id (`ASIA...`).
    pub key: String,
    /// The user (GetSessionToken) or role (AssumeRole) the session acts as.
    pub principal: String,
    /// The role session's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// An inline session policy (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub issued_ms: i64,
    pub expires_ms: i64,
}

/// The temporary credentials handed to a caller.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("The security token included in the request is invalid.")]
    Invalid,
    #[error("The security token included in the request is expired")]
    Expired,
}

pub struct Sessions {
    key: [u8; 32],
}

const KEY_FILE: &str = "session.key";

impl Sessions {
    /// The signing key under `dir`, made (readable by its owner only) on first use.
    pub fn open(dir: &Path) -> std::io::Result<Sessions> {
        let path = dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not a 32-byte key", path.display()),
                    )
                })?;
                Ok(Sessions { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                let key: [u8; 32] = rand::rngs::OsRng.r#gen();
                let tmp = dir.join(format!("{KEY_FILE}.tmp"));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&tmp)?;
                file.write_all(&key)?;
                file.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(dir)?.sync_all()?;
                Ok(Sessions { key })
            }
            Err(e) => Err(e),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_key(key: [u8; 32]) -> Sessions {
        Sessions { key }
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("hmac accepts any key length");
        mac.update(purpose);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn secret_of(&self, access_key_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"secret\0", access_key_id.as_bytes()))[..40].to_string()
    }

    /// A fresh access key id for a session: `ASIA` and 16 base-32 characters.
    pub fn new_key_id() -> String {
        let mut rng = rand::rngs::OsRng;
        crate::iam_id("ASIA", (0..16).map(|_| rng.r#gen::<u8>()))
    }

    pub fn issue(&self, claims: &Claims) -> Issued {
        let body = serde_json::to_vec(claims).unwrap_or_default();
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(self.mac(b"token\0", &body))
        );
        Issued {
            access_key_id: claims.key.clone(),
            secret_access_key: self.secret_of(&claims.key),
            session_token: token,
        }
    }

    /// The claims and secret of a session, if `token` is this server's, for `access_key_id`,
    /// and not expired at `now_ms`.
    pub fn redeem(
        &self,
        access_key_id: &str,
        token: &str,
        now_ms: i64,
    ) -> Result<(Claims, String), TokenError> {
        let (body, mac) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Invalid)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Invalid)?;
        let expected = self.mac(b"token\0", &body);
        if mac.len() != expected.len()
            || mac
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return Err(TokenError::Invalid);
        }
        let claims: Claims = serde_json::from_slice(&body).map_err(|_| TokenError::Invalid)?;
        if claims.key != access_key_id {
            return Err(TokenError::Invalid);
        }
        if now_ms >= claims.expires_ms {
            return Err(TokenError::Expired);
        }
        let secret = self.secret_of(&claims.key);
        Ok((claims, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(key: &str) -> Claims {
        Claims {
            key: key.into(),
            principal: "arn:aws:iam::111111111111:role/r".into(),
            session: Some("s".into()),
            policy: None,
            issued_ms: 1000,
            expires_ms: 5000,
        }
    }

    #[test]
    fn tokens_redeem_until_they_expire() {
        let sessions = Sessions::with_key([7; 32]);
        let key = Sessions::new_key_id();
        assert!(key.starts_with("ASIA") && key.len() == 20);
        let issued = sessions.issue(&claims(&key));
        let (c, secret) = sessions.redeem(&key, &issued.session_token, 4999).unwrap();
        assert_eq!(c, claims(&key));
        assert_eq!(secret, issued.secret_access_key);
        assert_eq!(
            sessions.redeem(&key, &issued.session_token, 5000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_or_borrowed_tokens_are_invalid() {
        let sessions = Sessions::with_key([7; 32]);
        let issued = sessions.issue(&claims("ASIAAAAAAAAAAAAAAAAA"));
        assert_eq!(
            sessions.redeem("ASIABBBBBBBBBBBBBBBB", &issued.session_token, 0),
            Err(TokenError::Invalid)
        );
        let other = Sessions::with_key([8; 32]);
        assert_eq!(
            other.redeem("ASIAAAAAAAAAAAAAAAAA", &issued.session_token, 0),
            Err(TokenError::Invalid)
        );
        // A token whose claims were edited (a later expiry) no longer matches its MAC.
        let mut edited = claims("ASIAAAAAAAAAAAAAAAAA");
        edited.expires_ms = i64::MAX;
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).unwrap());
        let mac = issued.session_token.split_once('.').unwrap().1;
        assert_eq!(
            sessions.redeem("ASIAAAAAAAAAAAAAAAAA", &format!("{body}.{mac}"), 0),
            Err(TokenError::Invalid)
        );
        for junk in ["", ".", "x.y", "!!!.!!!"] {
            assert_eq!(
                sessions.redeem("ASIAAAAAAAAAAAAAAAAA", junk, 0),
                Err(TokenError::Invalid)
            );
        }
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sessions::open(dir.path()).unwrap();
        let b = Sessions::open(dir.path()).unwrap();
        assert_eq!(a.key, b.key);
    }
}
