//! The video service's failures, each naming the modelled AWS error the edge answers with.

use freshet_catalog::CatalogError;

use freshet_log::LogError;

use crate::store::StoreError;

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
    #[error("{0}")]
    ConnectionLimitExceeded(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    ClientLimitExceeded(String),
    #[error("{0}")]
    MissingCodecPrivateData(String),
    #[error("{0}")]
    InvalidCodecPrivateData(String),
    #[error("{0}")]
    UnsupportedStreamMediaType(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    #[error("corrupt video stream document: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl VideoError {
    /// KVS's answer to any malformed or out-of-bounds input.
    pub(crate) fn invalid(message: impl Into<String>) -> VideoError {
        VideoError::InvalidArgument(message.into())
    }

    /// The error shape of the `kinesisvideo` model this failure is reported as.
    pub fn aws_type(&self) -> &'static str {
        match self {
            VideoError::ResourceNotFound(_) => "ResourceNotFoundException",
            VideoError::ResourceInUse(_) => "ResourceInUseException",
            VideoError::VersionMismatch(_) => "VersionMismatchException",
            VideoError::InvalidArgument(_) => "InvalidArgumentException",
            VideoError::TagsPerResourceExceededLimit(_) => "TagsPerResourceExceededLimitException",
            VideoError::NoDataRetention(_) => "NoDataRetentionException",
            VideoError::ConnectionLimitExceeded(_) => "ConnectionLimitExceededException",
            VideoError::NotAuthorized(_) => "NotAuthorizedException",
            VideoError::ClientLimitExceeded(_) => "ClientLimitExceededException",
            VideoError::MissingCodecPrivateData(_) => "MissingCodecPrivateDataException",
            VideoError::InvalidCodecPrivateData(_) => "InvalidCodecPrivateDataException",
            VideoError::UnsupportedStreamMediaType(_) => "UnsupportedStreamMediaTypeException",
            // A stream's KMS key that refuses: the caller may not read or write its media now.
            VideoError::Store(StoreError::Log(LogError::Key(k))) if !k.is_internal() => {
                "NotAuthorizedException"
            }
            VideoError::Catalog(_)
            | VideoError::Corrupt(_)
            | VideoError::Store(_)
            | VideoError::Internal(_) => "InternalFailure",
        }
    }

    /// Our fault, not the caller's: logged by the edge and answered with a 500.
    pub fn is_internal(&self) -> bool {
        if let VideoError::Store(StoreError::Log(LogError::Key(k))) = self {
            return k.is_internal();
        }
        matches!(
            self,
            VideoError::Catalog(_)
                | VideoError::Corrupt(_)
                | VideoError::Store(_)
                | VideoError::Internal(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, VideoError>;
