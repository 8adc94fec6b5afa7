//! A delivery stream's recent deliveries, for the console: the objects written, the HTTP
//! endpoint's answers and the failures.

use serde::Serialize;

/// One delivery attempt's outcome.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delivery {
    /// Epoch milliseconds on the service's clock.
    pub at_ms: i64,
    /// What was delivered: `S3`, `S3 error output (<type>)`, `HTTP endpoint`, ...
    pub destination: String,
    /// Where: `s3://bucket/key` or the endpoint's URL.
    pub target: String,
    pub bytes: u64,
    /// None when delivered; the error otherwise.
    pub error: Option<String>,
}
