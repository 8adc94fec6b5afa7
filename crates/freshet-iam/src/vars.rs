//! Policy variables (`${aws:username}`, `${aws:PrincipalAccount, 'none'}`) in resources and
//! condition values of `2012-10-17` documents.

use crate::condition::Context;

/// `text` with every variable replaced by the context's value; `None` when a variable has no
/// value and no default, which makes the element it sits in match nothing (as IAM does).
pub fn substitute(text: &str, ctx: &Context) -> Option<String> {
    if !text.contains("${") {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out);
        };
        let inner = &after[..end];
        let (key, default) = match inner.split_once(',') {
            Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_string())),
            None => (inner.trim(), None),
        };
        match key {
            "*" | "?" | "$" => out.push_str(key),
            key => out.push_str(&ctx.one(key).map(str::to_string).or(default)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
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
