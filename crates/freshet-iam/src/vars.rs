//! Policy variables (`${aws:username}`, `${aws:PrincipalAccount, 'none'}`) in resources and
//! condition values of `2012-10-17` documents.

use crate::condition::Context;
use crate::glob::{self, Token};

/// A piece of a policy string: as the policy writes it, or the value of a variable.
enum Piece<'a> {
    Written(&'a str),
    Value(String),
}

/// `text` cut into what the policy wrote and what its variables stand for; `None` when a
/// variable has no value and no default, which makes the element it sits in match nothing (as
/// IAM does).
fn pieces<'a>(text: &'a str, ctx: &Context) -> Option<Vec<Piece<'a>>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push(Piece::Written(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push(Piece::Written(&rest[start..]));
            return Some(out);
        };
        let inner = &after[..end];
        let (key, default) = match inner.split_once(',') {
            Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_string())),
            None => (inner.trim(), None),
        };
        out.push(Piece::Value(match key {
            "*" | "?" | "$" => key.to_string(),
            key => ctx.one(key).map(str::to_string).or(default)?,
        }));
        rest = &after[end + 1..];
    }
    out.push(Piece::Written(rest));
    Some(out)
}

/// `text` with every variable replaced by the context's value, for exact comparisons.
pub fn substitute(text: &str, ctx: &Context) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text, ctx)? {
        match piece {
            Piece::Written(s) => out.push_str(s),
            Piece::Value(s) => out.push_str(&s),
        }
    }
    Some(out)
}

/// `text` as a wildcard pattern with its variables replaced: `${*}` and `${?}` stand for the
/// characters themselves ("Special characters" in IAM's guide to policy variables), and so does
/// any `*` or `?` in a variable's value.
pub fn pattern(text: &str, ctx: &Context) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(text.len());
    for piece in pieces(text, ctx)? {
        match piece {
            Piece::Written(s) => out.extend(glob::tokens(s)),
            Piece::Value(s) => out.extend(s.chars().map(Token::Char)),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_defaults_and_escapes() {
        let mut ctx = Context::default();
        ctx.set("aws:username", "alice");
        assert_eq!(
            substitute("arn:aws:kinesis:*:*:stream/${aws:username}-*", &ctx).as_deref(),
            Some("arn:aws:kinesis:*:*:stream/alice-*")
        );
        assert_eq!(substitute("${aws:userid}", &ctx), None);
        assert_eq!(
            substitute("${aws:userid, 'anon'}/${$}", &ctx).as_deref(),
            Some("anon/$")
        );
    }
}
