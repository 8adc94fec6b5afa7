//! Paging tokens: the base64 (the models' token alphabet) of a marker naming the operation and
//! where the next page starts, so a page resumes there even if things come and go, and a token
//! we did not issue (or one of another operation) is refused rather than misread.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The token for resuming at `position` of the listing `marker` names.
pub fn token(marker: &str, position: impl std::fmt::Display) -> String {
    STANDARD.encode(format!("{marker}{position}"))
}

/// The position a token of `marker`'s listing carries; None for anything else.
pub fn position<T: std::str::FromStr>(marker: &str, token: &str) -> Option<T> {
    STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(marker)?.parse().ok())
}

/// One page of a listing by name (a map ordered by name): the entries after the token's name
/// that start with `prefix`, at most `limit`, and the token for the next page when there is one.
pub fn page_by_name<'a, T: 'a, Out>(
    marker: &str,
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    next_token: Option<&str>,
    prefix: &str,
    limit: usize,
    describe: impl Fn(&T) -> Out,
) -> crate::error::Result<(Vec<Out>, Option<String>)> {
    let after = match next_token {
        Some(t) => Some(
            position::<String>(marker, t)
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    crate::error::VideoError::invalid(format!("NextToken {t} is not valid."))
                })?,
        ),
        None => None,
    };
    let mut matching = entries
        .filter(|(name, _)| after.as_deref().is_none_or(|a| name.as_str() > a))
        .filter(|(name, _)| name.starts_with(prefix));
    let mut page = Vec::new();
    let mut last = None;
    for (name, entry) in matching.by_ref().take(limit) {
        page.push(describe(entry));
        last = Some(name);
    }
    let next = match (matching.next(), last) {
        (Some(_), Some(last)) => Some(token(marker, last)),
        _ => None,
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_or_other_markers_are_refused() {
        assert_eq!(
            position::<String>("list:", &token("list:", "cam-1")).as_deref(),
            Some("cam-1")
        );
        assert_eq!(
            position::<u64>("fragment:", &token("fragment:", 42)),
            Some(42)
        );
        assert_eq!(position::<u64>("image:", &token("fragment:", 42)), None);
        assert_eq!(position::<String>("list:", "!!!"), None);
        assert_eq!(position::<String>("list:", "AAAA"), None);
    }
}
