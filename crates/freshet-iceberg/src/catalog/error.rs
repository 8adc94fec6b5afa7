//! The Iceberg REST catalog's errors, each with the `type` and HTTP status of the REST
//! specification's error model (`{"error": {"message", "type", "code"}}`).

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum IcebergError {
    #[error("{0}")]
    NoSuchNamespace(String),
    #[error("{0}")]
    NoSuchTable(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NamespaceNotEmpty(String),
    /// A commit's requirements did not hold of the table's current metadata.
    #[error("{0}")]
    CommitFailed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unsupported(String),
    /// The catalog or its storage could not be reached or did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl IcebergError {
    /// The error model's `type`.
    pub fn rest_type(&self) -> &'static str {
        match self {
            IcebergError::NoSuchNamespace(_) => "NoSuchNamespaceException",
            IcebergError::NoSuchTable(_) => "NoSuchTableException",
            IcebergError::AlreadyExists(_) => "AlreadyExistsException",
            IcebergError::NamespaceNotEmpty(_) => "NamespaceNotEmptyException",
            IcebergError::CommitFailed(_) => "CommitFailedException",
            IcebergError::BadRequest(_) => "BadRequestException",
            IcebergError::Unsupported(_) => "UnsupportedOperationException",
            IcebergError::Unavailable(_) => "ServiceUnavailableException",
            IcebergError::Internal(_) => "ServiceFailureException",
        }
    }

    /// The HTTP status the REST specification gives the error.
    pub fn status(&self) -> u16 {
        match self {
            IcebergError::NoSuchNamespace(_) | IcebergError::NoSuchTable(_) => 404,
            IcebergError::AlreadyExists(_)
            | IcebergError::NamespaceNotEmpty(_)
            | IcebergError::CommitFailed(_) => 409,
            IcebergError::BadRequest(_) => 400,
            IcebergError::Unsupported(_) => 406,
            IcebergError::Unavailable(_) => 503,
            IcebergError::Internal(_) => 500,
        }
    }

    /// A remote catalog's error answer, by its status.
    pub fn from_status(status: u16, message: String) -> IcebergError {
        match status {
            404 => IcebergError::NoSuchTable(message),
            409 => IcebergError::CommitFailed(message),
            400 | 422 => IcebergError::BadRequest(message),
            406 | 501 => IcebergError::Unsupported(message),
            500 => IcebergError::Internal(message),
            _ => IcebergError::Unavailable(message),
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IcebergError::CommitFailed(_)
                | IcebergError::Unavailable(_)
                | IcebergError::Internal(_)
        )
    }
}

impl IcebergError {
    /// A Glue failure, where Glue's EntityNotFound means `missing` (a namespace or a table,
    /// depending on what the operation looked up).
    pub(crate) fn from_glue(
        e: freshet_glue::GlueError,
        missing: fn(String) -> IcebergError,
    ) -> IcebergError {
        use freshet_glue::GlueError;
        match e {
            GlueError::EntityNotFound(m) => missing(m),
            GlueError::AlreadyExists(m) => IcebergError::AlreadyExists(m),
            GlueError::InvalidInput(m) => IcebergError::BadRequest(m),
            // Another writer updated the Glue table since it was loaded: the client reloads and
            // retries, as after a failed requirement.
            GlueError::ConcurrentModification(m) => IcebergError::CommitFailed(m),
            other => IcebergError::Internal(other.to_string()),
        }
    }

    /// Table metadata a request's schema, specs or updates cannot make.
    pub(crate) fn invalid_change(e: iceberg::Error) -> IcebergError {
        match e.kind() {
            iceberg::ErrorKind::FeatureUnsupported => IcebergError::Unsupported(e.to_string()),
            iceberg::ErrorKind::CatalogCommitConflicts => IcebergError::CommitFailed(e.to_string()),
            _ => IcebergError::BadRequest(e.to_string()),
        }
    }

    /// A metadata file that could not be read: the object store did not answer, or the file
    /// the Glue table names is missing or unreadable (our fault, not the caller's).
    pub(crate) fn unreadable(location: &str, e: iceberg::Error) -> IcebergError {
        match e.kind() {
            iceberg::ErrorKind::Unexpected => {
                IcebergError::Unavailable(format!("cannot read {location}: {e}"))
            }
            _ => IcebergError::Internal(format!("cannot read {location}: {e}")),
        }
    }

    /// A metadata file that could not be written: a location the object store cannot take is
    /// the caller's; anything else is the store's.
    pub(crate) fn unwritable(location: &str, e: iceberg::Error) -> IcebergError {
        match e.kind() {
            iceberg::ErrorKind::DataInvalid => {
                IcebergError::BadRequest(format!("cannot write {location}: {}", e.message()))
            }
            _ => IcebergError::Unavailable(format!("cannot write {location}: {e}")),
        }
    }
}
