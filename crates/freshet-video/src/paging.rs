//! ListStreams paging: the token is the base64 of the last stream name returned (the model's
//! token pattern is base64's alphabet), so a page resumes after it even if streams come and go.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Result, VideoError};

pub fn token_after(name: &str) -> String {
    STANDARD.encode(name.as_bytes())
}

pub fn name_of_token(token: &str) -> Result<String> {
    STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
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
    }
}
