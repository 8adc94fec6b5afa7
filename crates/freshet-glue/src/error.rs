//! Glue errors, each with the AWS error type the edge answers with (all HTTP 400 but our own
//! faults).

#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum GlueError {
    #[error("{0}")]
    EntityNotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error(transparent)]
    Catalog(#[from] freshet_catalog::CatalogError),
    #[error("corrupt glue catalog document: {0}")]
    Corrupt(String),
}

impl GlueError {
    pub fn aws_type(&self) -> &'static str {
        match self {
            GlueError::EntityNotFound(_) => "EntityNotFoundException",
            GlueError::AlreadyExists(_) => "AlreadyExistsException",
            GlueError::InvalidInput(_) => "InvalidInputException",
            GlueError::ConcurrentModification(_) => "ConcurrentModificationException",
            GlueError::Catalog(_) | GlueError::Corrupt(_) => "InternalServiceException",
        }
    }

    /// Whether this is our fault (HTTP 500) rather than the caller's (HTTP 400).
    pub fn is_internal(&self) -> bool {
        matches!(self, GlueError::Catalog(_) | GlueError::Corrupt(_))
    }
}

pub type Result<T, E = GlueError> = std::result::Result<T, E>;

/// AWS's wording for a missing database.
pub(crate) fn database_not_found(name: &str) -> GlueError {
    GlueError::EntityNotFound(format!("Database {name} not found."))
}

/// AWS's wording for a missing table (the database exists).
pub(crate) fn table_not_found(name: &str) -> GlueError {
    GlueError::EntityNotFound(format!("Table {name} not found."))
}

pub(crate) fn invalid(message: impl Into<String>) -> GlueError {
    GlueError::InvalidInput(message.into())
}
