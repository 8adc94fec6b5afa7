use thiserror::Error;

/// CloudWatch's errors: each has its JSON `__type` and the query-protocol code SDKs report.
#[derive(Debug, Error)]
pub enum CloudWatchError {
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("The service returned an invalid NextToken.")]
    InvalidNextToken,
}

impl CloudWatchError {
    pub fn aws_type(&self) -> &'static str {
        match self {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValueException",
            CloudWatchError::InvalidParameterCombination(_) => {
                "InvalidParameterCombinationException"
            }
            CloudWatchError::MissingParameter(_) => "MissingRequiredParameterException",
            CloudWatchError::InvalidNextToken => "InvalidNextToken",
        }
    }

    /// The code the query protocol names the error by (`x-amzn-query-error`), which SDKs in
    /// query-compatible mode report.
    pub fn query_code(&self) -> &'static str {
        match self {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValue",
            CloudWatchError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            CloudWatchError::MissingParameter(_) => "MissingParameter",
            CloudWatchError::InvalidNextToken => "InvalidNextToken",
        }
    }
}

pub type Result<T> = std::result::Result<T, CloudWatchError>;
