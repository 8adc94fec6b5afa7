//! The errors of the Data Streams semantics. Each variant is one AWS error type; the edge maps
//! them to `__type` and HTTP status in one place and never invents messages of its own.

use freshet_log::{KeyError, LogError};

#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum StreamsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    ExpiredNextToken(String),
    #[error("{0}")]
    ProvisionedThroughputExceeded(String),
    #[error("{0}")]
    Validation(String),
    /// Storage failures, and refusals of an encrypted stream's KMS key (`LogError::Key`).
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("catalog failure: {0}")]
    Catalog(#[from] freshet_catalog::CatalogError),
}

impl StreamsError {
    /// The AWS error type name (`__type`) this error is reported as.
    pub fn aws_type(&self) -> &'static str {
        match self {
            StreamsError::ResourceNotFound(_) => "ResourceNotFoundException",
            StreamsError::ResourceInUse(_) => "ResourceInUseException",
            StreamsError::InvalidArgument(_) => "InvalidArgumentException",
            StreamsError::LimitExceeded(_) => "LimitExceededException",
            StreamsError::ExpiredIterator(_) => "ExpiredIteratorException",
            StreamsError::ExpiredNextToken(_) => "ExpiredNextTokenException",
            StreamsError::ProvisionedThroughputExceeded(_) => {
                "ProvisionedThroughputExceededException"
            }
            StreamsError::Validation(_) => "ValidationException",
            StreamsError::Log(LogError::Key(k)) => match k {
                KeyError::Disabled(_) => "KMSDisabledException",
                KeyError::InvalidState(_) => "KMSInvalidStateException",
                KeyError::NotFound(_) => "KMSNotFoundException",
                KeyError::AccessDenied(_) => "KMSAccessDeniedException",
                KeyError::Unavailable(_) => "KMSThrottlingException",
                KeyError::Undecryptable(_) | KeyError::Internal(_) => "InternalFailure",
            },
            StreamsError::Log(_) | StreamsError::Catalog(_) => "InternalFailure",
        }
    }

    /// Whether this is our fault (HTTP 500) rather than the caller's (HTTP 400).
    pub fn is_internal(&self) -> bool {
        match self {
            StreamsError::Log(LogError::Key(k)) => k.is_internal(),
            StreamsError::Log(_) | StreamsError::Catalog(_) => true,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StreamsError>;
