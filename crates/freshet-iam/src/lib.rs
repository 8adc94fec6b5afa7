//! Identities and access for every Freshet API: who signed a request (a key of the principals
//! file, the account's root key, or temporary credentials from STS), and whether the policies
//! that apply let them do what they ask. The edge asks; this crate knows nothing of HTTP.

mod condition;
mod eval;
mod glob;
mod policy;
mod principals;
mod session;
mod sts;
mod vars;

use std::path::Path;
use std::sync::Arc;

pub use condition::Context;
pub use eval::{Access, AccessDenied, Denial, Identity, PrincipalKind, arn_account, authorize};
pub use policy::{Kind as PolicyKind, Policy, PolicyError};
pub use principals::{Directory, LoadError, Principals, Role};
pub use session::{Claims, Issued, Sessions, TokenError};
pub use sts::{AssumeRoleInput, AssumedRole, Granted, StsError};

/// The principals and the session key together: what the edge authenticates against.
pub struct Iam {
    pub principals: Principals,
    sessions: Sessions,
    /// Whether requests must be signed: some key was configured at start. Decided once, so no
    /// reload can turn checking off.
    signing: bool,
}

/// Why a request's credentials were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("{0}")]
    Token(#[from] TokenError),
}

/// Why the principals or the session key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Principals(#[from] LoadError),
    #[error("the session key under {dir}: {source}")]
    SessionKey {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Iam {
    /// The principals of `file` (when given) and the account's `root` key (when given), with
    /// the session key kept under `dir` (made there on first start). `account` is the
    /// server's: its resources' and that of principals who name none.
    pub fn open(
        dir: &Path,
        account: &str,
        root: Option<(String, String)>,
        file: Option<&Path>,
    ) -> Result<Iam, OpenError> {
        let principals = Principals::load(file, account, root)?;
        let sessions = Sessions::open(dir).map_err(|source| OpenError::SessionKey {
            dir: dir.to_path_buf(),
            source,
        })?;
        Ok(Iam {
            signing: !principals.current().is_empty(),
            principals,
            sessions,
        })
    }

    /// Who an unsigned request on an anonymous server is: the server account's root.
    pub fn anonymous(&self) -> Arc<Identity> {
        principals::root_of(self.principals.default_account())
    }

    /// Whether requests must be signed: some key is configured.
    pub fn enabled(&self) -> bool {
        self.signing
    }

    /// The secret key to check a signature with, and whose it is: a long-term key, or a
    /// session's key with its token.
    pub fn resolve(
        &self,
        access_key: &str,
        token: Option<&str>,
        now_ms: i64,
    ) -> Result<(String, Arc<Identity>), CredentialError> {
        match token {
            None => {
                let dir = self.principals.current();
                let (secret, identity) = dir.key(access_key).ok_or(CredentialError::UnknownKey)?;
                Ok((secret.to_string(), identity.clone()))
            }
            Some(token) => {
                let (claims, secret) = self.sessions.redeem(access_key, token, now_ms)?;
                let identity = self
                    .session_identity(&claims)
                    .ok_or(CredentialError::Token(TokenError::Invalid))?;
                Ok((secret, identity))
            }
        }
    }
}

/// IAM's ids (`AIDA...`, `AROA...`, `ASIA...`): a prefix and characters of the base-32
/// alphabet IAM uses, one per byte of `bytes`.
pub(crate) fn iam_id(prefix: &str, bytes: impl IntoIterator<Item = u8>) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = prefix.to_string();
    id.extend(
        bytes
            .into_iter()
            .map(|b| ALPHABET[usize::from(b % 32)] as char),
    );
    id
}

/// Milliseconds since the epoch as ISO 8601 (`2024-01-02T03:04:05Z`), as STS and condition
/// keys write times.
pub fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
