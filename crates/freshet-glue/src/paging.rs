//! Pages of GetDatabases, GetTables and GetTableVersions. A `NextToken` names the last item a
//! page answered, so paging goes on from there even when items were added or removed in between
//! (a name or version removed since is simply passed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Result, invalid};

/// Items per page when MaxResults is not given, and the most a page holds (the model's maximum).
pub(crate) const MAX_PAGE: usize = 100;

/// What a token's text starts with, so a token of another service or a typo is told apart.
const TOKEN_PREFIX: &str = "glue1:";

/// The page size a request asks for.
pub(crate) fn page_size(max_results: Option<i32>) -> Result<usize> {
    match max_results {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE as i32).contains(&n) => Ok(n as usize),
        Some(_) => Err(invalid(format!(
            "MaxResults must be between 1 and {MAX_PAGE}."
        ))),
    }
}

/// The last key the previous page answered, from its token.
pub(crate) fn after(token: Option<&str>) -> Result<Option<String>> {
    let Some(token) = token else {
        return Ok(None);
    };
    let bad = || invalid("Invalid NextToken.");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = text.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    Ok(Some(key.to_string()))
}

fn token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{last_key}"))
}

/// Up to `size` items, and a token when more follow.
pub(crate) fn take<T>(
    items: impl Iterator<Item = T>,
    size: usize,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let mut items = items.peekable();
    let page: Vec<T> = items.by_ref().take(size).collect();
    let next = match (items.peek(), page.last()) {
        (Some(_), Some(last)) => Some(token(&key(last))),
        _ => None,
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_last_item_of_its_page() {
        let (page, next) = take(["a", "b", "c"].into_iter(), 2, |s| s.to_string());
        assert_eq!(page, ["a", "b"]);
        assert_eq!(after(next.as_deref()).unwrap().as_deref(), Some("b"));
        let (page, next) = take(["a", "b"].into_iter(), 2, |s| s.to_string());
        assert_eq!(page, ["a", "b"]);
        assert_eq!(next, None);
    }

    #[test]
    fn foreign_tokens_and_sizes_are_refused() {
        assert!(after(Some("not a token")).is_err());
        assert!(after(Some(&URL_SAFE_NO_PAD.encode("other:x"))).is_err());
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
        assert_eq!(page_size(None).unwrap(), 100);
    }
}
