//! Analytics errors, each with the AWS error type the edge answers with.

#[derive(thiserror::Error, Debug)]
pub enum AnalyticsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    CodeValidation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    InvalidApplicationConfiguration(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    TooManyTags(String),
    /// No schema could be inferred; the records read go back with the error, as AWS's
    /// `UnableToDetectSchemaException` carries them.
    #[error("{message}")]
    UnableToDetectSchema {
        message: String,
        raw_input_records: Vec<String>,
        processed_input_records: Vec<String>,
    },
    #[error(transparent)]
    Catalog(#[from] freshet_catalog::CatalogError),
    #[error("corrupt application document: {0}")]
    Corrupt(String),
}

impl AnalyticsError {
    pub fn aws_type(&self) -> &'static str {
        match self {
            AnalyticsError::ResourceNotFound(_) => "ResourceNotFoundException",
            AnalyticsError::ResourceInUse(_) => "ResourceInUseException",
            AnalyticsError::InvalidArgument(_) => "InvalidArgumentException",
            AnalyticsError::CodeValidation(_) => "CodeValidationException",
            AnalyticsError::LimitExceeded(_) => "LimitExceededException",
            AnalyticsError::ConcurrentModification(_) => "ConcurrentModificationException",
            AnalyticsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            AnalyticsError::InvalidApplicationConfiguration(_) => {
                "InvalidApplicationConfigurationException"
            }
            AnalyticsError::InvalidRequest(_) => "InvalidRequestException",
            AnalyticsError::TooManyTags(_) => "TooManyTagsException",
            AnalyticsError::UnableToDetectSchema { .. } => "UnableToDetectSchemaException",
            AnalyticsError::Catalog(_) | AnalyticsError::Corrupt(_) => "InternalFailure",
        }
    }

    /// Whether this is our fault (HTTP 500) rather than the caller's (HTTP 400).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            AnalyticsError::Catalog(_) | AnalyticsError::Corrupt(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, AnalyticsError>;
