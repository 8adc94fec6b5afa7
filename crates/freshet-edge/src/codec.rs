//! The wire codecs of the AWS JSON 1.1 protocol: a request body (JSON or its CBOR form) becomes
//! the model-checked JSON-form document of an operation's input, then its typed request; a typed
//! answer becomes a body in the request's format. Public so that the micro-benchmarks
//! (`benches/codecs.rs`) and the fuzz targets (`fuzz/`) drive exactly the code the server runs.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cbor;
use crate::error::ApiError;
use crate::shape::{Model, kinesis};
use crate::validate;

/// The body format of a request, and so of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/x-amz-json-1.1`
    Json,
    /// `application/x-amz-cbor-1.1`
    Cbor,
}

/// Decodes a request body and checks it against the input shape of operation `op` of `model`:
/// malformed bodies and wrong types are `SerializationException`s, broken constraints one
/// `ValidationException`. The document is normalized in place (see `validate::check_request`).
pub fn decode_request(
    model: &Model,
    op: &str,
    format: Format,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut document: Value = match format {
        // AWS answers unparsable JSON with a bare SerializationException, without a message.
        Format::Json => serde_json::from_slice(body).map_err(|_| ApiError::bare_serialization())?,
        Format::Cbor => cbor::decode_request(body)?,
    };
    if !document.is_object() {
        return Err(ApiError::serialization(
            "Start of structure or map expected.".into(),
        ));
    }
    if let Some(input) = model.operations.get(op).and_then(|o| o.input.as_deref()) {
        validate::check_request(model, input, &mut document)?;
    }
    Ok(document)
}

/// The typed request of a document that `decode_request` has checked.
pub fn typed<T: DeserializeOwned>(document: Value) -> Result<T, ApiError> {
    serde_json::from_value(document).map_err(|e| ApiError::serialization(e.to_string()))
}

/// Encodes a value of a Kinesis model shape in `format`; CBOR follows `shape` to write blobs as
/// byte strings and timestamps as tagged epoch milliseconds.
pub fn encode<T: Serialize>(
    format: Format,
    shape: Option<&str>,
    value: &T,
) -> Result<Vec<u8>, ApiError> {
    match format {
        Format::Json => serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string())),
        Format::Cbor => {
            let json =
                serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(cbor::encode(kinesis(), shape, &json))
        }
    }
}
