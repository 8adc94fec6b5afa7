//! AWS error responses: a failure as `__type`, `message` and an HTTP status. Each service's
//! adapter maps its own typed errors into this (see `kinesis.rs`, `firehose.rs`, `video.rs`);
//! our own faults keep their detail for the log (written once, by the request middleware) and
//! show the client only AWS's generic internal failure.

use http::StatusCode;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub aws_type: &'static str,
    pub message: Option<String>,
    /// What went wrong inside, for the log only (internal failures).
    pub detail: Option<String>,
    /// Members of the error's shape besides `message` (UnableToDetectSchemaException carries
    /// the records it read), written into the envelope beside `__type`.
    pub members: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// For a query-compatible JSON service (CloudWatch): the error's query-protocol code, sent
    /// as `x-amzn-query-error: <code>;Sender`, which SDKs report as the error's code.
    pub query_code: Option<&'static str>,
}

/// The detail of an internal failure, carried on the response to the request middleware, which
/// logs it once with the request's id.
#[derive(Clone, Debug)]
pub struct FailureDetail(pub String);

impl ApiError {
    pub fn client(aws_type: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            aws_type,
            message: Some(message.into()),
            detail: None,
            members: None,
            query_code: None,
        }
    }

    pub fn validation(message: String) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    pub fn serialization(message: String) -> ApiError {
        ApiError::client("SerializationException", message)
    }

    /// AWS's answer to unparsable JSON: a bare SerializationException, without a message.
    pub fn bare_serialization() -> ApiError {
        ApiError {
            message: None,
            ..ApiError::client("SerializationException", "")
        }
    }

    /// An operation the target prefix does not know, or a request without a target.
    pub fn unknown_operation() -> ApiError {
        ApiError {
            message: None,
            ..ApiError::client("UnknownOperationException", "")
        }
    }

    /// Our fault: the client sees AWS's generic internal failure; `detail` goes to the log.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            aws_type: "InternalFailure",
            message: Some("Internal service failure.".into()),
            detail: Some(detail.into()),
            members: None,
            query_code: None,
        }
    }

    /// A service error as AWS names it: our faults become `internal`, the rest client errors.
    pub fn from_service(
        internal: bool,
        aws_type: &'static str,
        error: &impl std::fmt::Display,
    ) -> ApiError {
        if internal {
            ApiError::internal(error.to_string())
        } else {
            ApiError::client(aws_type, error.to_string())
        }
    }
}
