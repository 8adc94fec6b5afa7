//! AWS error responses: the one place where a failure becomes `__type`, `message` and an HTTP
//! status. Service errors arrive typed (`StreamsError`) and are mapped here, nowhere else.

use freshet_firehose::FirehoseError;
use freshet_streams::StreamsError;
use freshet_video::VideoError;
use http::StatusCode;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub aws_type: &'static str,
    pub message: Option<String>,
}

impl ApiError {
    pub fn client(aws_type: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            aws_type,
            message: Some(message.into()),
        }
    }

    pub fn validation(message: String) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    pub fn serialization(message: String) -> ApiError {
        ApiError::client("SerializationException", message)
    }

    /// An operation the target prefix does not know, or a request without a target.
    pub fn unknown_operation() -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            aws_type: "UnknownOperationException",
            message: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            aws_type: "InternalFailure",
            message: Some(message.into()),
        }
    }
}

impl From<StreamsError> for ApiError {
    fn from(e: StreamsError) -> ApiError {
        if e.is_internal() {
            // Logged here, where it is handled; the client sees AWS's generic internal failure.
            tracing::error!(error = %e, "internal failure");
            return ApiError::internal("Internal service failure.");
        }
        ApiError::client(e.aws_type(), e.to_string())
    }
}

impl From<FirehoseError> for ApiError {
    fn from(e: FirehoseError) -> ApiError {
        if e.is_internal() {
            tracing::error!(error = %e, "internal failure");
            return ApiError::internal("Internal service failure.");
        }
        let mut error = ApiError::client(e.aws_type(), e.to_string());
        if matches!(e, FirehoseError::ServiceUnavailable(_)) {
            // Backpressure: SDKs retry a 503 with backoff.
            error.status = StatusCode::SERVICE_UNAVAILABLE;
        }
        error
    }
}

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> ApiError {
        if e.is_internal() {
            tracing::error!(error = %e, "internal failure");
            return ApiError::internal("Internal service failure.");
        }
        let mut error = ApiError::client(e.aws_type(), e.to_string());
        // rest-json errors carry the status the model gives their shape (404 for not found).
        if let Some(status) = crate::video::models()
            .iter()
            .find_map(|m| m.error_status.get(e.aws_type()))
            .and_then(|&s| StatusCode::from_u16(s).ok())
        {
            error.status = status;
        }
        error
    }
}
