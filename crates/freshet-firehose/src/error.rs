//! Firehose errors, each with the AWS error type the edge answers with.

#[derive(thiserror::Error, Debug)]
pub enum FirehoseError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Validation(String),
    /// The stream's KMS key cannot be used (disabled, missing, pending deletion).
    #[error("{0}")]
    InvalidKmsResource(String),
    #[error(transparent)]
    Log(#[from] freshet_log::LogError),
    #[error(transparent)]
    Catalog(#[from] freshet_catalog::CatalogError),
    #[error("corrupt delivery stream document: {0}")]
    Corrupt(String),
}

impl FirehoseError {
    pub fn aws_type(&self) -> &'static str {
        match self {
            FirehoseError::ResourceNotFound(_) => "ResourceNotFoundException",
            FirehoseError::ResourceInUse(_) => "ResourceInUseException",
            FirehoseError::InvalidArgument(_) => "InvalidArgumentException",
            FirehoseError::LimitExceeded(_) => "LimitExceededException",
            FirehoseError::ConcurrentModification(_) => "ConcurrentModificationException",
            FirehoseError::ServiceUnavailable(_) => "ServiceUnavailableException",
            FirehoseError::Validation(_) => "ValidationException",
            FirehoseError::InvalidKmsResource(_) => "InvalidKMSResourceException",
            FirehoseError::Log(freshet_log::LogError::Key(k)) if !k.is_internal() => {
                "InvalidKMSResourceException"
            }
            FirehoseError::Log(_) | FirehoseError::Catalog(_) | FirehoseError::Corrupt(_) => {
                "InternalFailure"
            }
        }
    }

    /// Whether this is our fault (HTTP 500) rather than the caller's (HTTP 400).
    pub fn is_internal(&self) -> bool {
        match self {
            FirehoseError::Log(freshet_log::LogError::Key(k)) => k.is_internal(),
            FirehoseError::Log(_) | FirehoseError::Catalog(_) | FirehoseError::Corrupt(_) => true,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, FirehoseError>;

/// A request's configuration that Freshet refuses: `InvalidArgumentException`.
pub(crate) fn invalid(message: impl Into<String>) -> FirehoseError {
    FirehoseError::InvalidArgument(message.into())
}
