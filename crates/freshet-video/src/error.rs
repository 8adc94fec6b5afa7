//! The video service's failures, each naming the modelled AWS error the edge answers with.

use freshet_catalog::CatalogError;

#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum VideoError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    VersionMismatch(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    TagsPerResourceExceededLimit(String),
    #[error("{0}")]
    NoDataRetention(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("corrupt video stream document: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl VideoError {
    /// The error shape of the `kinesisvideo` model this failure is reported as.
    pub fn aws_type(&self) -> &'static str {
        match self {
            VideoError::ResourceNotFound(_) => "ResourceNotFoundException",
            VideoError::ResourceInUse(_) => "ResourceInUseException",
            VideoError::VersionMismatch(_) => "VersionMismatchException",
            VideoError::InvalidArgument(_) => "InvalidArgumentException",
            VideoError::TagsPerResourceExceededLimit(_) => "TagsPerResourceExceededLimitException",
            VideoError::NoDataRetention(_) => "NoDataRetentionException",
            VideoError::Catalog(_) | VideoError::Corrupt(_) => "InternalFailure",
        }
    }

    /// Our fault, not the caller's: logged by the edge and answered with a 500.
    pub fn is_internal(&self) -> bool {
        matches!(self, VideoError::Catalog(_) | VideoError::Corrupt(_))
    }
}

pub type Result<T> = std::result::Result<T, VideoError>;
