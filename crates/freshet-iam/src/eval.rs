//! Policy evaluation as the IAM documentation gives it: an explicit deny anywhere wins; within
//! an account, an identity policy or a resource policy naming the caller allows; across
//! accounts both must allow; a session policy limits a role session to what it also allows.

use std::sync::Arc;

use crate::condition::Context;
use crate::glob;
use crate::policy::{Effect, Policy, PrincipalPattern, Statement};

/// Who a caller is, once their signature checks out.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    /// `arn:aws:iam::<account>:user/<name>`, `arn:aws:sts::<account>:assumed-role/<role>/<session>`
    /// or `arn:aws:iam::<account>:root`.
    pub arn: String,
    /// IAM's unique id: `AIDA...` for a user, `AROA...:<session>` for a role session, the
    /// account id for the root.
    pub user_id: String,
    pub kind: PrincipalKind,
    /// The user's or role's identity policies.
    pub policies: Arc<[Policy]>,
    /// An inline session policy passed to `AssumeRole` or `GetSessionToken`... only AssumeRole
    /// takes one.
    pub session_policy: Option<Arc<Policy>>,
    /// When the temporary credentials were issued (milliseconds), for `aws:TokenIssueTime`.
    pub token_issued_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account itself (the single key of `[auth]`): every action on its own resources.
    Root,
    User {
        name: String,
    },
    AssumedRole {
        role_arn: String,
        session: String,
    },
}

impl Identity {
    /// The ARNs a resource policy may name this caller by.
    fn names(&self) -> Vec<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn, .. } => vec![role_arn, &self.arn],
            _ => vec![&self.arn],
        }
    }

    /// Adds the principal's global condition keys to `ctx`.
    pub fn describe(&self, ctx: &mut Context) {
        ctx.set("aws:PrincipalAccount", &self.account);
        ctx.set("aws:userid", &self.user_id);
        match &self.kind {
            PrincipalKind::Root => {
                ctx.set("aws:PrincipalArn", &self.arn);
                ctx.set("aws:PrincipalType", "Account");
            }
            PrincipalKind::User { name } => {
                ctx.set("aws:PrincipalArn", &self.arn);
                ctx.set("aws:PrincipalType", "User");
                ctx.set("aws:username", name);
            }
            PrincipalKind::AssumedRole { role_arn, .. } => {
                ctx.set("aws:PrincipalArn", role_arn);
                ctx.set("aws:PrincipalType", "AssumedRole");
            }
        }
        if let Some(ms) = self.token_issued_ms {
            ctx.set("aws:TokenIssueTime", crate::iso8601(ms));
        }
    }
}

/// What a caller asks to do: the action (`kinesis:PutRecord`), the resource's ARN (`*` for
/// actions on no resource), the resource's own policy, and the request's condition keys.
pub struct Access<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_policy: Option<&'a Policy>,
    pub context: &'a Context,
}

/// Why a request was refused, in the words AWS's `AccessDeniedException` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    IdentityDeny,
    ResourceDeny,
    SessionDeny,
    NoIdentityAllow,
    NoResourceAllow,
    NoSessionAllow,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct AccessDenied {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub why: Denial,
}

impl AccessDenied {
    pub fn message(&self) -> String {
        let on = if self.resource == "*" {
            String::new()
        } else {
            format!(" on resource: {}", self.resource)
        };
        let why = match self.why {
            Denial::IdentityDeny => "with an explicit deny in an identity-based policy".into(),
            Denial::ResourceDeny => "with an explicit deny in a resource-based policy".into(),
            Denial::SessionDeny => "with an explicit deny in a session policy".into(),
            Denial::NoIdentityAllow => format!(
                "because no identity-based policy allows the {} action",
                self.action
            ),
            Denial::NoResourceAllow => format!(
                "because no resource-based policy allows the {} action",
                self.action
            ),
            Denial::NoSessionAllow => format!(
                "because no session policy allows the {} action",
                self.action
            ),
        };
        format!(
            "User: {} is not authorized to perform: {}{on} {why}",
            self.principal, self.action
        )
    }
}

/// How a policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    None,
    /// Allowed through an account principal: the account's own identity policies must allow too.
    AllowDelegated,
    /// Allowed naming the caller (or, to a caller other than a role session, everyone).
    Allow,
    /// Allowed naming this exact role session (or everyone): within the account, not limited by
    /// its session policy.
    AllowSession,
    Deny,
}

impl Verdict {
    fn allows(self) -> bool {
        matches!(
            self,
            Verdict::Allow | Verdict::AllowDelegated | Verdict::AllowSession
        )
    }
}

/// The account of an ARN (its fifth part), if it names one.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

pub fn authorize(identity: &Identity, access: &Access<'_>) -> Result<(), AccessDenied> {
    let deny = |why| AccessDenied {
        principal: identity.arn.clone(),
        action: access.action.to_string(),
        resource: access.resource.to_string(),
        why,
    };
    let id = match identity.kind {
        PrincipalKind::Root => Verdict::Allow,
        _ => identity
            .policies
            .iter()
            .map(|p| decide(p, access, None))
            .max()
            .unwrap_or(Verdict::None),
    };
    let resource = access
        .resource_policy
        .map_or(Verdict::None, |p| decide(p, access, Some(identity)));
    let session = identity
        .session_policy
        .as_deref()
        .map(|p| decide(p, access, None));
    if id == Verdict::Deny {
        return Err(deny(Denial::IdentityDeny));
    }
    if resource == Verdict::Deny {
        return Err(deny(Denial::ResourceDeny));
    }
    if session == Some(Verdict::Deny) {
        return Err(deny(Denial::SessionDeny));
    }
    let session_allows = session.is_none_or(Verdict::allows);
    let same_account = arn_account(access.resource).is_none_or(|a| a == identity.account);
    if same_account {
        let resource_alone = matches!(resource, Verdict::Allow | Verdict::AllowSession);
        if !(id.allows() || resource_alone) {
            return Err(deny(Denial::NoIdentityAllow));
        }
        if !session_allows && resource != Verdict::AllowSession {
            return Err(deny(Denial::NoSessionAllow));
        }
    } else {
        // The caller's own account decides on its identity and session policies alone (a
        // grant to the session itself escapes the session policy only within one account).
        if !id.allows() {
            return Err(deny(Denial::NoIdentityAllow));
        }
        if !session_allows {
            return Err(deny(Denial::NoSessionAllow));
        }
        if !resource.allows() {
            return Err(deny(Denial::NoResourceAllow));
        }
    }
    Ok(())
}

/// One policy's verdict; `principal` is the caller when the policy is a resource policy.
fn decide(policy: &Policy, access: &Access<'_>, principal: Option<&Identity>) -> Verdict {
    let mut verdict = Verdict::None;
    for st in &policy.statements {
        let Some(how) = applies(st, policy.variables, access, principal) else {
            continue;
        };
        match st.effect {
            Effect::Deny => return Verdict::Deny,
            Effect::Allow => verdict = verdict.max(how),
        }
    }
    verdict
}

/// Whether a statement covers the request, and if it allows, how strongly.
fn applies(
    st: &Statement,
    vars: bool,
    access: &Access<'_>,
    principal: Option<&Identity>,
) -> Option<Verdict> {
    let action = st
        .action
        .items
        .iter()
        .any(|p| glob::matches(p, access.action, true));
    if action == st.action.negated {
        return None;
    }
    if let Some(resources) = &st.resource {
        let hit = resources.items.iter().any(|p| {
            let p = if vars {
                crate::vars::pattern(p, access.context)
            } else {
                Some(glob::tokens(p))
            };
            p.is_some_and(|p| glob::matches_tokens(&p, access.resource, false))
        });
        if hit == resources.negated {
            return None;
        }
    }
    let how = match (principal, &st.principal) {
        (Some(identity), Some(principals)) if principals.negated => {
            if spared(&principals.items, identity) {
                return None;
            }
            Verdict::Allow
        }
        (Some(identity), Some(principals)) => {
            let how = principals
                .items
                .iter()
                .map(|p| names(p, identity))
                .max()
                .unwrap_or(Verdict::None);
            if how == Verdict::None {
                return None;
            }
            how
        }
        _ => Verdict::Allow,
    };
    if !st.conditions.iter().all(|c| c.holds(access.context, vars)) {
        return None;
    }
    Some(how)
}

/// Whether a `NotPrincipal` list leaves the caller out. AWS checks the account, then the role,
/// then the user or session, each against the list, so every one of them must be named: naming
/// the account alone spares none of its users, and naming a role none of its other sessions.
fn spared(items: &[PrincipalPattern], identity: &Identity) -> bool {
    let listed = |arn: &str| {
        items
            .iter()
            .any(|p| matches!(p, PrincipalPattern::Arn(a) if a == arn))
    };
    let account = items
        .iter()
        .any(|p| matches!(p, PrincipalPattern::Account(a) if *a == identity.account));
    items.contains(&PrincipalPattern::Anyone)
        || account
            && match &identity.kind {
                PrincipalKind::Root => true,
                PrincipalKind::User { .. } => listed(&identity.arn),
                PrincipalKind::AssumedRole { role_arn, .. } => {
                    listed(role_arn) && listed(&identity.arn)
                }
            }
}

/// How a principal pattern names a caller.
fn names(pattern: &PrincipalPattern, identity: &Identity) -> Verdict {
    match pattern {
        // Everyone includes the session itself, which a session policy then does not limit.
        PrincipalPattern::Anyone => match identity.kind {
            PrincipalKind::AssumedRole { .. } => Verdict::AllowSession,
            _ => Verdict::Allow,
        },
        PrincipalPattern::Account(a) if *a == identity.account => {
            if identity.kind == PrincipalKind::Root {
                Verdict::Allow
            } else {
                Verdict::AllowDelegated
            }
        }
        PrincipalPattern::Arn(arn) if *arn == identity.arn => match identity.kind {
            PrincipalKind::AssumedRole { .. } => Verdict::AllowSession,
            _ => Verdict::Allow,
        },
        PrincipalPattern::Arn(arn) if identity.names().contains(&arn.as_str()) => Verdict::Allow,
        _ => Verdict::None,
    }
}
