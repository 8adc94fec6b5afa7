//! ListStreams paging: the token is the base64 (the model's token alphabet) of a marker and the
//! last stream name returned, so a page resumes after it even if streams come and go, and a
//! token we did not issue is refused rather than misread.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Result, VideoError};

const MARKER: &str = "freshet-list-after:";

pub fn token_after(name: &str) -> String {
    STANDARD.encode(format!("{MARKER}{name}"))
}

pub fn name_of_token(token: &str) -> Result<String> {
    STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| Some(text.strip_prefix(MARKER)?.to_string()))
        .filter(|name| !name.is_empty())
        .ok_or_else(|| VideoError::InvalidArgument(format!("NextToken {token} is not valid.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_invalid() {
        assert_eq!(name_of_token(&token_after("cam-1")).unwrap(), "cam-1");
        assert!(matches!(
            name_of_token("!!!"),
            Err(VideoError::InvalidArgument(_))
        ));
        assert!(name_of_token("").is_err());
        assert!(name_of_token("AAAA").is_err());
    }
}
