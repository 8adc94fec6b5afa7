//! The principals file: users with access keys and roles with trust policies, each with its
//! identity policies, in TOML or JSON. Loaded whole or refused whole, so a bad edit leaves the
//! server on the last good file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::eval::{Identity, PrincipalKind};
use crate::policy::{Kind, Policy};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    users: Vec<UserDoc>,
    #[serde(default)]
    roles: Vec<RoleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDoc {
    name: String,
    account: Option<String>,
    #[serde(default)]
    access_keys: Vec<KeyDoc>,
    #[serde(default)]
    policies: Vec<PolicyDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    id: String,
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDoc {
    name: String,
    account: Option<String>,
    trust_policy: PolicyDoc,
    #[serde(default)]
    policies: Vec<PolicyDoc>,
    /// Longest session `AssumeRole` grants, in seconds (IAM: 3600 to 43200; default 3600).
    max_session_duration: Option<u32>,
}

/// A policy written as JSON text or as a table in the file's own syntax.
#[derive(Deserialize)]
#[serde(untagged)]
enum PolicyDoc {
    Text(String),
    Document(Value),
}

impl PolicyDoc {
    fn parse(&self, kind: Kind) -> Result<Policy, String> {
        match self {
            PolicyDoc::Text(text) => Policy::parse(text, kind),
            PolicyDoc::Document(value) => Policy::from_value(value, kind),
        }
        .map_err(|e| e.0)
    }
}

#[derive(Debug)]
pub struct Role {
    pub arn: String,
    pub name: String,
    pub account: String,
    /// IAM's `AROA...` id.
    pub id: String,
    pub trust: Policy,
    pub policies: Arc<[Policy]>,
    pub max_session_secs: u32,
}

/// Every principal of one version of the file (and the `[auth]` key, the account's root).
#[derive(Debug, Default)]
pub struct Directory {
    keys: HashMap<String, (String, Arc<Identity>)>,
    users: HashMap<String, Arc<Identity>>,
    roles: HashMap<String, Arc<Role>>,
    root: Option<Arc<Identity>>,
}

/// IAM-shaped unique ids, stable for a name: a prefix and 17 characters of a hash.
pub(crate) fn unique_id(prefix: &str, arn: &str) -> String {
    crate::iam_id(prefix, Sha256::digest(arn.as_bytes()).into_iter().take(17))
}

/// What users and roles have alike: their account (the server's unless named), ARN and
/// identity policies, or why the file is refused.
fn principal(
    kind: &str,
    name: &str,
    account: Option<String>,
    policies: &[PolicyDoc],
    default_account: &str,
) -> Result<(String, String, Arc<[Policy]>), String> {
    let account = account.unwrap_or_else(|| default_account.to_string());
    if !valid_account(&account) {
        return Err(format!(
            "{kind} {name}: account {account:?} is not 12 digits"
        ));
    }
    let arn = format!("arn:aws:iam::{account}:{kind}/{name}");
    let policies = policies
        .iter()
        .map(|p| p.parse(Kind::Identity))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{kind} {name}: policy: {e}"))?;
    Ok((account, arn, policies.into()))
}

fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

impl Directory {
    /// The directory of one file's text; `json` picks the syntax; `default_account` is the
    /// server's, for principals that name none.
    pub fn parse(text: &str, json: bool, default_account: &str) -> Result<Directory, String> {
        let doc: FileDoc = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        let mut dir = Directory::default();
        for user in doc.users {
            let (account, arn, policies) = principal(
                "user",
                &user.name,
                user.account,
                &user.policies,
                default_account,
            )?;
            let identity = Arc::new(Identity {
                user_id: unique_id("AIDA", &arn),
                account,
                kind: PrincipalKind::User {
                    name: user.name.clone(),
                },
                arn: arn.clone(),
                policies,
                session_policy: None,
                token_issued_ms: None,
            });
            for key in user.access_keys {
                if key.id.len() < 16 || key.id.len() > 128 || key.secret.is_empty() {
                    return Err(format!(
                        "user {}: access key ids are 16 to 128 characters and secrets not empty",
                        user.name
                    ));
                }
                if dir
                    .keys
                    .insert(key.id.clone(), (key.secret, identity.clone()))
                    .is_some()
                {
                    return Err(format!("access key {} is given twice", key.id));
                }
            }
            if dir.users.insert(arn.clone(), identity).is_some() {
                return Err(format!("{arn} is given twice"));
            }
        }
        for role in doc.roles {
            let (account, arn, policies) = principal(
                "role",
                &role.name,
                role.account,
                &role.policies,
                default_account,
            )?;
            let trust = role
                .trust_policy
                .parse(Kind::Resource)
                .map_err(|e| format!("role {}: trust policy: {e}", role.name))?;
            let max = role.max_session_duration.unwrap_or(3600);
            if !(3600..=43200).contains(&max) {
                return Err(format!(
                    "role {}: max_session_duration is 3600 to 43200 seconds",
                    role.name
                ));
            }
            let entry = Arc::new(Role {
                id: unique_id("AROA", &arn),
                arn: arn.clone(),
                name: role.name,
                account,
                trust,
                policies,
                max_session_secs: max,
            });
            if dir.roles.insert(arn.clone(), entry).is_some() {
                return Err(format!("{arn} is given twice"));
            }
        }
        Ok(dir)
    }

    /// Adds the account's root key (the `[auth]` pair).
    pub fn with_root(mut self, access_key: &str, secret: &str, account: &str) -> Directory {
        let identity = root_of(account);
        self.keys.insert(
            access_key.to_string(),
            (secret.to_string(), identity.clone()),
        );
        self.root = Some(identity);
        self
    }

    pub fn root(&self) -> Option<Arc<Identity>> {
        self.root.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A long-term key's secret and owner.
    pub fn key(&self, access_key: &str) -> Option<(&str, &Arc<Identity>)> {
        self.keys
            .get(access_key)
            .map(|(secret, identity)| (secret.as_str(), identity))
    }

    pub fn user(&self, arn: &str) -> Option<&Arc<Identity>> {
        self.users.get(arn)
    }

    pub fn role(&self, arn: &str) -> Option<&Arc<Role>> {
        self.roles.get(arn)
    }
}

/// An account's root principal.
pub(crate) fn root_of(account: &str) -> Arc<Identity> {
    Arc::new(Identity {
        account: account.to_string(),
        user_id: account.to_string(),
        kind: PrincipalKind::Root,
        arn: format!("arn:aws:iam::{account}:root"),
        policies: Vec::new().into(),
        session_policy: None,
        token_issued_ms: None,
    })
}

/// The live directory: the file's last good version, swapped whole on reload.
pub struct Principals {
    path: Option<PathBuf>,
    default_account: String,
    root: Option<(String, String)>,
    current: RwLock<Arc<Directory>>,
    stamp: RwLock<Option<(SystemTime, u64)>>,
}

impl Principals {
    /// Loads `path` (when given) and adds the root key (when given).
    pub fn load(
        path: Option<&Path>,
        default_account: &str,
        root: Option<(String, String)>,
    ) -> Result<Principals, LoadError> {
        let principals = Principals {
            path: path.map(Path::to_path_buf),
            default_account: default_account.to_string(),
            root,
            current: RwLock::new(Arc::default()),
            stamp: RwLock::new(None),
        };
        principals.reload()?;
        Ok(principals)
    }

    /// Reads the file again; on error the previous directory stays.
    pub fn reload(&self) -> Result<(), LoadError> {
        let mut dir = match &self.path {
            None => Directory::default(),
            Some(path) => {
                let read = |e| LoadError::Read {
                    path: path.clone(),
                    source: e,
                };
                // Stamped before parsing: a bad version is reported once, not at every poll.
                *self.stamp.write() = Some(stamp(path).map_err(read)?);
                let text = std::fs::read_to_string(path).map_err(read)?;
                let json = path.extension().is_some_and(|e| e == "json");
                Directory::parse(&text, json, &self.default_account).map_err(|message| {
                    LoadError::Invalid {
                        path: path.clone(),
                        message,
                    }
                })?
            }
        };
        if let Some((key, secret)) = &self.root {
            dir = dir.with_root(key, secret, &self.default_account);
        }
        // A server that checks signatures never stops (an emptied or half-written file would
        // otherwise open it to anyone).
        if dir.is_empty()
            && !self.current.read().is_empty()
            && let Some(path) = &self.path
        {
            return Err(LoadError::Invalid {
                path: path.clone(),
                message: "holds no access key, and the server checks signatures: refused".into(),
            });
        }
        *self.current.write() = Arc::new(dir);
        Ok(())
    }

    /// Reloads when the file's modification time or size changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, LoadError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let now = stamp(path).map_err(|e| LoadError::Read {
            path: path.clone(),
            source: e,
        })?;
        if *self.stamp.read() == Some(now) {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    pub fn current(&self) -> Arc<Directory> {
        self.current.read().clone()
    }

    /// The account of principals that name none: the server's.
    pub fn default_account(&self) -> &str {
        &self.default_account
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[users]]
name = "alice"
access_keys = [{ id = "AKIAALICE0000000", secret = "s3cret" }]
policies = ['{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}']

[[users]]
name = "bob"
account = "222222222222"
access_keys = [{ id = "AKIABOB000000000", secret = "b" }]
policies = [{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Resource = "*" }] }]

[[roles]]
name = "reader"
trust_policy = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Principal = { AWS = "222222222222" }, Action = "sts:AssumeRole" }] }
max_session_duration = 7200
"#;

    #[test]
    fn a_file_of_users_and_roles_loads() {
        let dir = Directory::parse(FILE, false, "111111111111").unwrap();
        let (secret, alice) = dir.key("AKIAALICE0000000").unwrap();
        assert_eq!(secret, "s3cret");
        assert_eq!(alice.arn, "arn:aws:iam::111111111111:user/alice");
        assert!(alice.user_id.starts_with("AIDA"));
        assert_eq!(
            dir.key("AKIABOB000000000").unwrap().1.account,
            "222222222222"
        );
        let role = dir.role("arn:aws:iam::111111111111:role/reader").unwrap();
        assert_eq!(role.max_session_secs, 7200);
        assert!(role.id.starts_with("AROA"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let bad = FILE.replace("kinesis:*", "kinesis");
        let err = Directory::parse(&bad, false, "111111111111").unwrap_err();
        assert!(
            err.starts_with("user alice: policy: Actions/Conditions must be prefaced"),
            "{err}"
        );
        let err =
            Directory::parse("[[users]]\nname='x'\nextra=1", false, "111111111111").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        let err = Directory::parse(&FILE.replace("7200", "60"), false, "111111111111").unwrap_err();
        assert!(err.contains("max_session_duration"), "{err}");
    }

    #[test]
    fn reload_keeps_the_last_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("principals.toml");
        std::fs::write(&path, FILE).unwrap();
        let p = Principals::load(Some(&path), "111111111111", None).unwrap();
        assert!(p.current().key("AKIAALICE0000000").is_some());
        std::fs::write(&path, "not toml [").unwrap();
        assert!(p.reload().is_err());
        assert!(p.current().key("AKIAALICE0000000").is_some());
        std::fs::write(&path, FILE.replace("AKIAALICE0000000", "AKIAALICE1111111")).unwrap();
        assert!(p.reload_if_changed().unwrap());
        assert!(p.current().key("AKIAALICE0000000").is_none());
        assert!(p.current().key("AKIAALICE1111111").is_some());
    }
}
