//! IAM policy documents: AWS's JSON grammar parsed into statements, refused with IAM's messages
//! when malformed.

use serde_json::{Map, Value};

use crate::condition::Condition;

/// Why a policy document was refused (IAM's `MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or its complement (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone)]
pub struct Patterns<T> {
    pub items: Vec<T>,
    pub negated: bool,
}

/// Who a resource policy's statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Anyone,
    /// An account (`"111122223333"` or `arn:aws:iam::111122223333:root`): that account's
    /// principals, as far as their own identity policies allow.
    Account(String),
    /// One user, role or role session by ARN.
    Arn(String),
    /// A service principal (`{"Service": "firehose.amazonaws.com"}`); no caller of this server
    /// is one.
    Service(String),
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Patterns<PrincipalPattern>>,
    pub action: Patterns<String>,
    pub resource: Option<Patterns<String>>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// `2012-10-17` documents substitute `${...}` policy variables; older ones take them literally.
    pub variables: bool,
    pub statements: Vec<Statement>,
}

/// Identity policies have no `Principal`; resource and trust policies must name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Identity,
    Resource,
}

/// The largest document accepted, and the deepest nesting: a policy is small and flat, so
/// anything beyond is refused before it costs memory.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

impl Policy {
    pub fn parse(text: &str, kind: Kind) -> Result<Policy, PolicyError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(malformed(format!(
                "Cannot exceed quota for PolicySize: {MAX_DOCUMENT_BYTES}"
            )));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| malformed(format!("Syntax errors in policy. {e}")))?;
        Policy::from_value(&value, kind)
    }

    pub fn from_value(value: &Value, kind: Kind) -> Result<Policy, PolicyError> {
        let doc = value
            .as_object()
            .ok_or_else(|| malformed("Syntax errors in policy."))?;
        let mut variables = false;
        let mut statements = None;
        for (key, v) in doc {
            match key.as_str() {
                "Version" => {
                    variables = match v.as_str() {
                        Some("2012-10-17") => true,
                        Some("2008-10-17") => false,
                        _ => {
                            return Err(malformed(
                                "The policy must contain a valid version string",
                            ));
                        }
                    }
                }
                "Id" => {}
                "Statement" => {
                    let list: Vec<&Value> = match v {
                        Value::Array(items) => items.iter().collect(),
                        Value::Object(_) => vec![v],
                        _ => return Err(malformed("Syntax errors in policy.")),
                    };
                    statements = Some(
                        list.into_iter()
                            .map(|s| statement(s, kind))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                other => {
                    return Err(malformed(format!(
                        "Policy document contains an unknown element: {other}"
                    )));
                }
            }
        }
        let statements = statements.ok_or_else(|| malformed("Missing required field Statement"))?;
        Ok(Policy {
            variables,
            statements,
        })
    }
}

fn statement(value: &Value, kind: Kind) -> Result<Statement, PolicyError> {
    let st = value
        .as_object()
        .ok_or_else(|| malformed("Syntax errors in policy."))?;
    for key in st.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!(
                "Statement contains an unknown element: {key}"
            )));
        }
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Syntax errors in policy.")),
    };
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => {
            return Err(malformed(format!("Invalid effect: {other}")));
        }
        None => return Err(malformed("Missing required field Effect")),
    };
    let principal = match either(st, "Principal", "NotPrincipal")? {
        None => None,
        Some((v, negated)) => Some(Patterns {
            items: principals(v)?,
            negated,
        }),
    };
    match (kind, &principal) {
        (Kind::Identity, Some(_)) => {
            return Err(malformed("Policy document should not specify a principal."));
        }
        (Kind::Resource, None) => {
            return Err(malformed("Missing required field Principal"));
        }
        _ => {}
    }
    let (action, negated) = either(st, "Action", "NotAction")?
        .ok_or_else(|| malformed("Missing required field Action"))?;
    let action = Patterns {
        items: strings(action)?
            .into_iter()
            .map(|a| {
                if a == "*" || a.split_once(':').is_some_and(|(v, _)| !v.is_empty()) {
                    Ok(a)
                } else {
                    Err(malformed(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
        negated,
    };
    let resource = match either(st, "Resource", "NotResource")? {
        None if kind == Kind::Identity => {
            return Err(malformed("Missing required field Resource"));
        }
        None => None,
        Some((v, negated)) => Some(Patterns {
            items: strings(v)?
                .into_iter()
                .map(|r| {
                    if r == "*" || r.starts_with("arn:") {
                        Ok(r)
                    } else {
                        Err(malformed(format!(
                            "Resource {r} must be in ARN format or \"*\"."
                        )))
                    }
                })
                .collect::<Result<_, _>>()?,
            negated,
        }),
    };
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => crate::condition::parse_block(block)?,
        Some(_) => return Err(malformed("Syntax errors in policy.")),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// The one of `name` and `not_name` a statement carries (both is an error).
fn either<'a>(
    st: &'a Map<String, Value>,
    name: &str,
    not_name: &str,
) -> Result<Option<(&'a Value, bool)>, PolicyError> {
    match (st.get(name), st.get(not_name)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "Statement cannot contain both {name} and {not_name}."
        ))),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty list of strings.
pub(crate) fn strings(v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed("Syntax errors in policy."))
            })
            .collect(),
        _ => Err(malformed("Syntax errors in policy.")),
    }
}

fn principals(v: &Value) -> Result<Vec<PrincipalPattern>, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalPattern::Anyone]),
        Value::Object(map) if !map.is_empty() => {
            let mut out = Vec::new();
            for (kind, values) in map {
                for value in strings(values)? {
                    out.push(match kind.as_str() {
                        "AWS" => aws_principal(&value)?,
                        "Service" => PrincipalPattern::Service(value),
                        "Federated" | "CanonicalUser" => {
                            // Named but never matched: this server has no such callers.
                            PrincipalPattern::Service(value)
                        }
                        other => {
                            return Err(malformed(format!("Invalid principal type: {other}")));
                        }
                    });
                }
            }
            Ok(out)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

fn aws_principal(value: &str) -> Result<PrincipalPattern, PolicyError> {
    if value == "*" {
        return Ok(PrincipalPattern::Anyone);
    }
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PrincipalPattern::Account(value.to_string()));
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !matches!(parts[2], "iam" | "sts") {
        return Err(malformed(format!(
            "Invalid principal in policy: \"AWS\":\"{value}\""
        )));
    }
    if value.contains('*') {
        return Err(malformed(format!(
            "Invalid principal in policy: \"AWS\":\"{value}\""
        )));
    }
    if parts[2] == "iam" && parts[5] == "root" {
        return Ok(PrincipalPattern::Account(parts[4].to_string()));
    }
    Ok(PrincipalPattern::Arn(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_parse() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
            Kind::Identity,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        assert!(p.variables);
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"x","Effect":"Deny","NotAction":["kinesis:Get*","kinesis:List*"],"NotResource":"arn:aws:kinesis:*:*:stream/a"}]}"#,
            Kind::Identity,
        )
        .unwrap();
        assert!(p.statements[0].action.negated);
        assert_eq!(p.statements[0].effect, Effect::Deny);
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:root","arn:aws:iam::444455556666:user/bob"]},"Action":"kinesis:GetRecords","Resource":"*"}]}"#,
            Kind::Resource,
        )
        .unwrap();
        assert_eq!(
            p.statements[0].principal.as_ref().unwrap().items,
            vec![
                PrincipalPattern::Account("111122223333".into()),
                PrincipalPattern::Account("444455556666".into()),
                PrincipalPattern::Arn("arn:aws:iam::444455556666:user/bob".into()),
            ]
        );
    }

    #[test]
    fn malformed_documents_are_refused_with_iams_messages() {
        let cases = [
            ("{", "Syntax errors in policy."),
            (
                r#"{"Version":"2012-10-17"}"#,
                "Missing required field Statement",
            ),
            (
                r#"{"Version":"2001-01-01","Statement":[]}"#,
                "The policy must contain a valid version string",
            ),
            (
                r#"{"Statement":{"Action":"kinesis:*","Resource":"*"}}"#,
                "Missing required field Effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"PutRecord","Resource":"*"}}"#,
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"stream/x"}}"#,
                "Resource stream/x must be in ARN format or \"*\".",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kinesis:*","NotAction":"x:y","Resource":"*"}}"#,
                "Statement cannot contain both Action and NotAction.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Resource":"*"}}"#,
                "Policy document should not specify a principal.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*","Extra":1}}"#,
                "Statement contains an unknown element: Extra",
            ),
        ];
        for (text, message) in cases {
            let err = Policy::parse(text, Kind::Identity).unwrap_err();
            assert!(err.0.starts_with(message), "{text}: {}", err.0);
        }
        let err = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}"#,
            Kind::Resource,
        )
        .unwrap_err();
        assert_eq!(err.0, "Missing required field Principal");
        let err = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/*"},"Action":"kinesis:*","Resource":"*"}}"#,
            Kind::Resource,
        )
        .unwrap_err();
        assert!(err.0.starts_with("Invalid principal in policy"));
    }
}
