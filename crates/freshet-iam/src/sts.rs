//! The semantics of STS's `AssumeRole`, `GetSessionToken` and `GetCallerIdentity`, without
//! its wire format (the edge's).

use std::sync::Arc;

use crate::Iam;
use crate::condition::Context;
use crate::eval::{Access, Identity, PrincipalKind, authorize};
use crate::policy::{Kind, Policy};
use crate::principals::Role;
use crate::session::{Claims, Issued, Sessions};

/// An STS error: its query-protocol code, message and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StsError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

fn validation(message: String) -> StsError {
    StsError {
        code: "ValidationError",
        message: format!("1 validation error detected: {message}"),
        status: 400,
    }
}

/// A `ValidationError` in STS's own words (not a model constraint's).
fn invalid(message: &str) -> StsError {
    StsError {
        code: "ValidationError",
        message: message.to_string(),
        status: 400,
    }
}

fn access_denied(message: String) -> StsError {
    StsError {
        code: "AccessDenied",
        message,
        status: 403,
    }
}

/// Largest inline session policy, as AWS packs it.
const MAX_SESSION_POLICY: usize = 2048;
/// A role session made by a role session (role chaining) lasts an hour at most.
const CHAINED_MAX_SECS: i64 = 3600;

#[derive(Debug, Default, Clone)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
    pub policy: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Granted {
    pub credentials: Issued,
    pub expires_ms: i64,
}

#[derive(Debug, Clone)]
pub struct AssumedRole {
    pub granted: Granted,
    /// `AROA...:<session>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// The session policy's share of AWS's packed limit, in percent.
    pub packed_policy_size: Option<u32>,
}

fn check_len(value: &str, member: &str, min: usize, max: usize) -> Result<(), StsError> {
    let n = value.chars().count();
    if n < min {
        return Err(validation(format!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        )));
    }
    if n > max {
        return Err(validation(format!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

fn check_duration(secs: i64, min: i64, max: i64) -> Result<(), StsError> {
    if secs < min {
        return Err(validation(format!(
            "Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if secs > max {
        return Err(validation(format!(
            "Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(())
}

fn session_name_ok(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// A role known only by its ARN (`arn:aws:iam::<account>:role/<path/><name>`).
fn anonymous_role(arn: &str) -> Result<Arc<Role>, StsError> {
    let invalid = || invalid(&format!("{arn} is invalid"));
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
    let (account, path) = rest.split_once(':').ok_or_else(invalid)?;
    let name = path
        .strip_prefix("role/")
        .and_then(|p| p.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(invalid)?;
    Ok(Arc::new(Role {
        arn: arn.to_string(),
        name: name.to_string(),
        account: account.to_string(),
        id: crate::principals::unique_id("AROA", arn),
        trust: Policy {
            variables: true,
            statements: Vec::new(),
        },
        policies: Vec::new().into(),
        max_session_secs: 43_200,
    }))
}

impl Iam {
    /// `AssumeRole`: the caller must be allowed `sts:AssumeRole` on the role by the role's trust
    /// policy (and, across accounts or when the trust names only the account, by their own).
    pub fn assume_role(
        &self,
        caller: &Identity,
        ctx: &Context,
        input: &AssumeRoleInput,
        now_ms: i64,
    ) -> Result<AssumedRole, StsError> {
        check_len(&input.role_arn, "roleArn", 20, 2048)?;
        check_len(&input.role_session_name, "roleSessionName", 2, 64)?;
        if !session_name_ok(&input.role_session_name) {
            return Err(validation(format!(
                "Value '{}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
                input.role_session_name
            )));
        }
        if let Some(id) = &input.external_id {
            check_len(id, "externalId", 2, 1224)?;
        }
        if let Some(secs) = input.duration_seconds {
            check_duration(secs, 900, 43200)?;
        }
        let session_policy = match &input.policy {
            None => None,
            Some(text) => {
                if text.len() > MAX_SESSION_POLICY {
                    return Err(StsError {
                        code: "PackedPolicyTooLarge",
                        message: format!(
                            "Packed policy consumes {}% of allotted space, please use smaller policy for session.",
                            text.len() * 100 / MAX_SESSION_POLICY
                        ),
                        status: 400,
                    });
                }
                Some(Policy::parse(text, Kind::Identity).map_err(|e| StsError {
                    code: "MalformedPolicyDocument",
                    message: e.0,
                    status: 400,
                })?)
            }
        };
        let role = if self.enabled() {
            self.authorize_assume(caller, ctx, input)?
        } else {
            // An anonymous server checks nothing: any role may be assumed, as far as its ARN
            // is well formed, so SDK role profiles work against it unchanged.
            anonymous_role(&input.role_arn)?
        };
        let chained = matches!(caller.kind, PrincipalKind::AssumedRole { .. });
        let secs = input.duration_seconds.unwrap_or(3600);
        if chained && secs > CHAINED_MAX_SECS {
            return Err(invalid(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        if secs > i64::from(role.max_session_secs) {
            return Err(invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        let expires_ms = now_ms + secs * 1000;
        let claims = Claims {
            key: Sessions::new_key_id(),
            principal: role.arn.clone(),
            session: Some(input.role_session_name.clone()),
            policy: input.policy.clone(),
            issued_ms: now_ms,
            expires_ms,
        };
        Ok(AssumedRole {
            granted: Granted {
                credentials: self.sessions.issue(&claims),
                expires_ms,
            },
            assumed_role_id: format!("{}:{}", role.id, input.role_session_name),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                role.account, role.name, input.role_session_name
            ),
            packed_policy_size: session_policy
                .as_ref()
                .and(input.policy.as_ref())
                .map(|t| (t.len() * 100 / MAX_SESSION_POLICY) as u32),
        })
    }

    /// The role `input` names, if `caller` may assume it.
    fn authorize_assume(
        &self,
        caller: &Identity,
        ctx: &Context,
        input: &AssumeRoleInput,
    ) -> Result<Arc<Role>, StsError> {
        if caller.kind == PrincipalKind::Root {
            return Err(access_denied(
                "Roles may not be assumed by root accounts.".to_string(),
            ));
        }
        let dir = self.principals.current();
        // An unknown role is refused like a forbidden one: callers learn nothing of the others.
        let role = dir.role(&input.role_arn).cloned().ok_or_else(|| {
            access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.arn, input.role_arn
            ))
        })?;
        let mut ctx = ctx.clone();
        ctx.set("sts:RoleSessionName", &input.role_session_name);
        if let Some(id) = &input.external_id {
            ctx.set("sts:ExternalId", id);
        }
        authorize(
            caller,
            &Access {
                action: "sts:AssumeRole",
                resource: &role.arn,
                resource_policy: Some(&role.trust),
                context: &ctx,
            },
        )
        .map_err(|e| access_denied(e.message()))?;
        Ok(role)
    }

    /// `GetSessionToken`: temporary credentials of a user (or the root) with their own
    /// permissions. Needs no permission, but refuses session credentials.
    pub fn get_session_token(
        &self,
        caller: &Identity,
        duration_seconds: Option<i64>,
        now_ms: i64,
    ) -> Result<Granted, StsError> {
        let max = if caller.kind == PrincipalKind::Root {
            3600
        } else {
            129_600
        };
        if let Some(secs) = duration_seconds {
            check_duration(secs, 900, 129_600)?;
        }
        if caller.token_issued_ms.is_some() {
            return Err(access_denied(
                "Cannot call GetSessionToken with session credentials".to_string(),
            ));
        }
        let secs = duration_seconds.unwrap_or(43_200).min(max);
        let expires_ms = now_ms + secs * 1000;
        let claims = Claims {
            key: Sessions::new_key_id(),
            principal: caller.arn.clone(),
            session: None,
            policy: None,
            issued_ms: now_ms,
            expires_ms,
        };
        Ok(Granted {
            credentials: self.sessions.issue(&claims),
            expires_ms,
        })
    }

    /// The identity a session's claims stand for, as the directory has it now (a role's
    /// policies edited since apply at once; a principal removed ends its sessions).
    pub(crate) fn session_identity(&self, claims: &Claims) -> Option<Arc<Identity>> {
        let dir = self.principals.current();
        let session_policy = match &claims.policy {
            Some(text) => Some(Arc::new(Policy::parse(text, Kind::Identity).ok()?)),
            None => None,
        };
        match &claims.session {
            None => {
                let user = dir.user(&claims.principal).cloned().or_else(|| {
                    // The root's sessions: its key is not in the file.
                    let root = dir.root()?;
                    (root.arn == claims.principal).then_some(root)
                })?;
                let mut identity = (*user).clone();
                identity.token_issued_ms = Some(claims.issued_ms);
                Some(Arc::new(identity))
            }
            Some(session) => {
                let role = dir.role(&claims.principal)?;
                Some(Arc::new(Identity {
                    account: role.account.clone(),
                    arn: format!(
                        "arn:aws:sts::{}:assumed-role/{}/{session}",
                        role.account, role.name
                    ),
                    user_id: format!("{}:{session}", role.id),
                    kind: PrincipalKind::AssumedRole {
                        role_arn: role.arn.clone(),
                        session: session.clone(),
                    },
                    policies: role.policies.clone(),
                    session_policy,
                    token_issued_ms: Some(claims.issued_ms),
                }))
            }
        }
    }
}
