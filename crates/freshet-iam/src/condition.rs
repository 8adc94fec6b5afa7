//! The `Condition` element: operators, their `IfExists` and set (`ForAnyValue`/`ForAllValues`)
//! forms, and the request context they read. Semantics as the IAM documentation gives them: a
//! key missing from the context fails a positive operator and passes a negated one; a negated
//! operator with several values passes only when none matches.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::glob;
use crate::policy::PolicyError;

/// What a request brings to condition evaluation: condition keys (case-insensitive) to one
/// value or several.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    pub fn set_all(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// A single-valued key's value.
    pub fn one(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some([v]) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
pub struct Condition {
    base: Base,
    negated: bool,
    if_exists: bool,
    set: Set,
    key: String,
    values: Vec<String>,
}

fn operator(name: &str) -> Option<(Base, bool)> {
    use Base::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// Parses a statement's `Condition` block.
pub(crate) fn parse_block(block: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let (set, rest) = if let Some(rest) = op_name.strip_prefix("ForAnyValue:") {
            (Set::AnyValue, rest)
        } else if let Some(rest) = op_name.strip_prefix("ForAllValues:") {
            (Set::AllValues, rest)
        } else {
            (Set::Single, op_name.as_str())
        };
        let (if_exists, rest) = match rest.strip_suffix("IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (base, negated) = operator(rest)
            .filter(|(base, _)| !(if_exists && *base == Base::Null))
            .ok_or_else(|| PolicyError(format!("Invalid Condition type : {op_name}.")))?;
        let keys = keys
            .as_object()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| PolicyError("Syntax errors in policy.".into()))?;
        for (key, values) in keys {
            if !key.contains(':') {
                return Err(PolicyError(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
                        .into(),
                ));
            }
            let values = condition_values(values)?;
            for v in &values {
                check_value(base, v, op_name)?;
            }
            out.push(Condition {
                base,
                negated,
                if_exists,
                set,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Condition values may be strings, booleans or numbers (as JSON writes them), alone or listed.
fn condition_values(v: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PolicyError("Syntax errors in policy.".into())),
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(PolicyError("Syntax errors in policy.".into())),
        v => Ok(vec![one(v)?]),
    }
}

/// Values an operator could never compare are refused when the policy is written, as IAM does.
fn check_value(base: Base, v: &str, op_name: &str) -> Result<(), PolicyError> {
    let ok = match base {
        Base::NumericEquals
        | Base::NumericLessThan
        | Base::NumericLessThanEquals
        | Base::NumericGreaterThan
        | Base::NumericGreaterThanEquals => v.parse::<f64>().is_ok() || v.contains("${"),
        Base::DateEquals
        | Base::DateLessThan
        | Base::DateLessThanEquals
        | Base::DateGreaterThan
        | Base::DateGreaterThanEquals => date(v).is_some() || v.contains("${"),
        Base::IpAddress => cidr(v).is_some(),
        Base::Null => matches!(v, "true" | "false"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(PolicyError(format!(
            "Invalid Condition value : {v} for {op_name}."
        )))
    }
}

fn date(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        // Seconds whose milliseconds overflow are no date (and must not wrap into one).
        return secs.checked_mul(1000);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

fn cidr(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A policy value once its variables are replaced: as text for the exact operators, as a
/// pattern for the wildcard ones (where `${*}` is an asterisk, not a wildcard).
struct Wanted {
    text: String,
    pattern: Vec<glob::Token>,
}

/// One context value against one policy value, by the operator's positive sense.
fn compare(base: Base, actual: &str, wanted: &Wanted) -> bool {
    let pattern = &wanted.pattern;
    let wanted = wanted.text.as_str();
    let num = |a: &str, w: &str, f: fn(f64, f64) -> bool| match (a.parse(), w.parse()) {
        (Ok(a), Ok(w)) => f(a, w),
        _ => false,
    };
    let when = |a: &str, w: &str, f: fn(i64, i64) -> bool| match (date(a), date(w)) {
        (Some(a), Some(w)) => f(a, w),
        _ => false,
    };
    match base {
        Base::StringEquals => actual == wanted,
        Base::StringEqualsIgnoreCase => actual.to_lowercase() == wanted.to_lowercase(),
        Base::StringLike => glob::matches_tokens(pattern, actual, false),
        Base::NumericEquals => num(actual, wanted, |a, w| a == w),
        Base::NumericLessThan => num(actual, wanted, |a, w| a < w),
        Base::NumericLessThanEquals => num(actual, wanted, |a, w| a <= w),
        Base::NumericGreaterThan => num(actual, wanted, |a, w| a > w),
        Base::NumericGreaterThanEquals => num(actual, wanted, |a, w| a >= w),
        Base::DateEquals => when(actual, wanted, |a, w| a == w),
        Base::DateLessThan => when(actual, wanted, |a, w| a < w),
        Base::DateLessThanEquals => when(actual, wanted, |a, w| a <= w),
        Base::DateGreaterThan => when(actual, wanted, |a, w| a > w),
        Base::DateGreaterThanEquals => when(actual, wanted, |a, w| a >= w),
        Base::Bool => actual.eq_ignore_ascii_case(wanted),
        Base::BinaryEquals => actual == wanted,
        Base::IpAddress => match (actual.parse::<IpAddr>(), cidr(wanted)) {
            (Ok(ip), Some(net)) => net.contains(&ip),
            _ => false,
        },
        Base::ArnLike => glob::arn_matches(pattern, actual),
        Base::Null => false,
    }
}

impl Condition {
    /// Whether the condition holds for `ctx`; `vars` substitutes policy variables in values
    /// (a value whose variable has no value matches nothing).
    pub(crate) fn holds(&self, ctx: &Context, vars: bool) -> bool {
        let actual = ctx.get(&self.key).filter(|v| match self.set {
            Set::Single => !v.is_empty(),
            // To a set operator, nothing but empty strings is a null data set, as no value is.
            Set::AnyValue | Set::AllValues => v.iter().any(|s| !s.is_empty()),
        });
        if self.base == Base::Null {
            let want_absent = self.values.iter().any(|v| v == "true");
            return actual.is_none() == want_absent;
        }
        let wanted: Vec<Wanted> = self
            .values
            .iter()
            .filter_map(|v| {
                if vars {
                    Some(Wanted {
                        text: crate::vars::substitute(v, ctx)?,
                        pattern: crate::vars::pattern(v, ctx)?,
                    })
                } else {
                    Some(Wanted {
                        text: v.clone(),
                        pattern: glob::tokens(v),
                    })
                }
            })
            .collect();
        // One context value, by the operator's own sense (negated: it matches none of them).
        let one = |a: &str| wanted.iter().any(|w| compare(self.base, a, w)) != self.negated;
        match (self.set, actual) {
            (Set::AnyValue, None) => self.if_exists,
            (Set::AllValues, None) => true,
            (Set::Single, None) => self.if_exists || self.negated,
            (Set::AnyValue, Some(values)) => values.iter().any(|a| one(a)),
            (Set::AllValues, Some(values)) => values.iter().all(|a| one(a)),
            (Set::Single, Some(values)) => {
                let any = values
                    .iter()
                    .any(|a| wanted.iter().any(|w| compare(self.base, a, w)));
                any != self.negated
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(json: &str) -> Vec<Condition> {
        parse_block(
            serde_json::from_str::<Value>(json)
                .unwrap()
                .as_object()
                .unwrap(),
        )
        .unwrap()
    }

    fn holds(json: &str, ctx: &Context) -> bool {
        block(json).iter().all(|c| c.holds(ctx, true))
    }

    #[test]
    fn the_documentations_missing_key_rules() {
        let empty = Context::default();
        assert!(!holds(r#"{"StringEquals":{"aws:username":"bob"}}"#, &empty));
        assert!(holds(
            r#"{"StringNotEquals":{"aws:username":"bob"}}"#,
            &empty
        ));
        assert!(holds(
            r#"{"StringEqualsIfExists":{"aws:username":"bob"}}"#,
            &empty
        ));
        assert!(holds(r#"{"Null":{"aws:username":"true"}}"#, &empty));
        assert!(!holds(r#"{"Null":{"aws:username":"false"}}"#, &empty));
        assert!(!holds(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}}"#,
            &empty
        ));
        assert!(holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"a"}}"#,
            &empty
        ));
    }

    #[test]
    fn several_values_or_but_negated_and() {
        let mut ctx = Context::default();
        ctx.set("aws:PrincipalTag/role", "audit");
        assert!(holds(
            r#"{"StringEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"StringNotEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"StringNotEquals":{"aws:PrincipalTag/role":["x","security"]}}"#,
            &ctx
        ));
    }

    #[test]
    fn keys_are_case_insensitive_and_blocks_and() {
        let mut ctx = Context::default();
        ctx.set("aws:SourceIp", "203.0.113.7");
        ctx.set("aws:SecureTransport", "false");
        assert!(holds(
            r#"{"IpAddress":{"AWS:SOURCEIP":"203.0.113.0/24"}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","10.0.0.0/8"]}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"},"Bool":{"aws:SecureTransport":"true"}}"#,
            &ctx
        ));
        assert!(holds(r#"{"Bool":{"aws:SecureTransport":false}}"#, &ctx));
    }

    #[test]
    fn set_operators() {
        let mut ctx = Context::default();
        ctx.set_all("aws:TagKeys", vec!["env".into(), "team".into()]);
        assert!(holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team","cost"]}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"ForAnyValue:StringLike":{"aws:TagKeys":["x*"]}}"#,
            &ctx
        ));
    }

    #[test]
    fn numbers_dates_and_arns() {
        let mut ctx = Context::default();
        ctx.set("aws:EpochTime", "1700000000");
        ctx.set("aws:CurrentTime", "2023-11-14T22:13:20Z");
        ctx.set("aws:PrincipalArn", "arn:aws:iam::111122223333:role/ops");
        assert!(holds(
            r#"{"NumericLessThan":{"aws:EpochTime":1800000000}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"NumericGreaterThan":{"aws:EpochTime":"1800000000"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2023-01-01T00:00:00Z"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-01-01"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/o*"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::*:role/x"}}"#,
            &ctx
        ));
    }

    #[test]
    fn bad_operators_and_values_are_refused() {
        for bad in [
            r#"{"StringEqualz":{"aws:x":"a"}}"#,
            r#"{"NullIfExists":{"aws:x":"true"}}"#,
            r#"{"NumericEquals":{"aws:x":"ten"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}"#,
            r#"{"Null":{"aws:x":"maybe"}}"#,
            r#"{"StringEquals":{"nokey":"a"}}"#,
            r#"{"StringEquals":{}}"#,
        ] {
            assert!(
                parse_block(
                    serde_json::from_str::<Value>(bad)
                        .unwrap()
                        .as_object()
                        .unwrap()
                )
                .is_err(),
                "{bad}"
            );
        }
    }
}
