//! Encryption at rest's keys. `Kms` is a local KMS (served on the API port as KMS's JSON API):
//! symmetric keys whose material is wrapped by a master key from a key file (`master`), aliases,
//! rotation, and the cryptographic operations. A `Keyring` holds one log's data keys: made by
//! `GenerateDataKey` when a stream's encryption starts, kept wrapped in the catalog, unwrapped
//! in memory, and handed to the log's `Sealing` (`DataKeys`). `RemoteKms` puts a KMS-compatible
//! endpoint in the local KMS's place.

mod keyring;
mod keys;
pub mod master;
pub mod model;
mod remote;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

pub use keyring::Keyring;
pub use keys::Kms;
pub use model::Context;
pub use remote::RemoteKms;

/// Whether a blob is one of the local KMS's ciphertexts, and which key's (its id): what a
/// Decrypt or ReEncrypt call is authorized on.
pub fn blob_key_id(blob: &[u8]) -> Option<String> {
    keys::blob_key(blob).map(|id| id.to_string())
}

/// KMS's errors, each answered with its AWS error code.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Internal(String),
}

impl KmsError {
    pub fn aws_type(&self) -> &'static str {
        match self {
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::InvalidState(_) => "KMSInvalidStateException",
            KmsError::InvalidCiphertext(_) => "InvalidCiphertextException",
            KmsError::IncorrectKey(_) => "IncorrectKeyException",
            KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::NotAuthorized(_) => "NotAuthorizedException",
            KmsError::Unsupported(_) => "UnsupportedOperationException",
            KmsError::Internal(_) => "KMSInternalException",
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, KmsError::Internal(_))
    }
}

/// What a service tells its callers when a stream's key cannot be used: the KMS condition.
impl From<KmsError> for freshet_log::KeyError {
    fn from(e: KmsError) -> Self {
        use freshet_log::KeyError;
        match e {
            KmsError::NotFound(m) => KeyError::NotFound(m),
            KmsError::Disabled(m) => KeyError::Disabled(m),
            KmsError::InvalidState(m) => KeyError::InvalidState(m),
            KmsError::InvalidCiphertext(m) | KmsError::IncorrectKey(m) => {
                KeyError::Undecryptable(m)
            }
            KmsError::NotAuthorized(m) => KeyError::AccessDenied(m),
            KmsError::Internal(m) => KeyError::Internal(m),
            KmsError::Validation(m) | KmsError::InvalidKeyUsage(m) | KmsError::Unsupported(m) => {
                KeyError::InvalidState(m)
            }
            KmsError::AlreadyExists(m) => KeyError::Unavailable(m),
        }
    }
}

pub type Result<T, E = KmsError> = std::result::Result<T, E>;

/// A fresh data key: its plaintext, its ciphertext blob, and the ARN of the key that wraps it.
pub struct NewDataKey {
    pub plaintext: Vec<u8>,
    pub blob: Vec<u8>,
    pub key_arn: String,
}

/// Where keyrings get and open their data keys: the local KMS, or a KMS-compatible endpoint.
pub trait KeyService: Send + Sync {
    /// A fresh 256-bit data key.
    fn generate_data_key<'a>(
        &'a self,
        key_id: &'a str,
        context: &'a Context,
    ) -> BoxFuture<'a, Result<NewDataKey>>;

    /// A blob's plaintext.
    fn decrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
    ) -> BoxFuture<'a, Result<Vec<u8>>>;

    /// The blob wrapped anew under `destination` (its newest material): (blob, key ARN).
    fn re_encrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<(Vec<u8>, String)>>;

    /// Whether the key may be used now (asked on every append and read: must be cheap).
    fn usable(&self, arn: &str) -> Result<()>;

    /// Whether the blob is wrapped under its key's newest material.
    fn is_current(&self, blob: &[u8]) -> bool;

    /// Changes whenever some key rotates.
    fn rotations(&self) -> watch::Receiver<u64>;
}

impl KeyService for Kms {
    fn generate_data_key<'a>(
        &'a self,
        key_id: &'a str,
        context: &'a Context,
    ) -> BoxFuture<'a, Result<NewDataKey>> {
        Box::pin(async move {
            let out = Kms::generate_data_key(
                self,
                model::GenerateDataKeyInput {
                    key_id: key_id.to_string(),
                    key_spec: Some("AES_256".into()),
                    number_of_bytes: None,
                    encryption_context: context.clone(),
                },
                true,
            )
            .await?;
            Ok(NewDataKey {
                plaintext: out.plaintext.unwrap_or_default(),
                blob: out.ciphertext_blob,
                key_arn: out.key_id,
            })
        })
    }

    fn decrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let out = Kms::decrypt(
                self,
                model::DecryptInput {
                    ciphertext_blob: blob.to_vec(),
                    key_id: None,
                    encryption_context: context.clone(),
                    encryption_algorithm: None,
                },
            )
            .await?;
            Ok(out.plaintext)
        })
    }

    fn re_encrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<(Vec<u8>, String)>> {
        Box::pin(async move {
            let out = Kms::re_encrypt(
                self,
                model::ReEncryptInput {
                    ciphertext_blob: blob.to_vec(),
                    source_key_id: None,
                    destination_key_id: destination.to_string(),
                    source_encryption_context: context.clone(),
                    destination_encryption_context: context.clone(),
                },
            )
            .await?;
            Ok((out.ciphertext_blob, out.key_id))
        })
    }

    fn usable(&self, arn: &str) -> Result<()> {
        Kms::usable(self, arn)
    }

    fn is_current(&self, blob: &[u8]) -> bool {
        Kms::is_current(self, blob)
    }

    fn rotations(&self) -> watch::Receiver<u64> {
        Kms::rotations(self)
    }
}
