//! The local KMS at the edge: `TrentService.*` targets, AWS JSON 1.1, decoded into typed
//! requests for `freshet_kms::Kms` (KMS's model trimmed to the operations served; any other
//! target answers UnknownOperationException).

use base64::Engine;
use freshet_kms::{Kms, KmsError};
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::api::{Api, Call, Members, Reply, Scope};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, kms};

pub struct KmsApi {
    kms: Kms,
}

impl KmsApi {
    pub fn new(kms: Kms) -> KmsApi {
        KmsApi { kms }
    }

    async fn run(&self, call: Call<'_>) -> Result<Reply, ApiError> {
        let model = kms();
        if !model.operations.contains_key(call.op) {
            return Err(ApiError::unknown_operation());
        }
        let body = decode_request(model, call.op, Format::Json, &call.body)?;
        let k = &self.kms;
        let answer = match call.op {
            "CreateKey" => output(&k.create_key(typed(body)?).await?),
            "DescribeKey" => output(&k.describe_key(typed(body)?).await?),
            "ListKeys" => output(&k.list_keys(typed(body)?)?),
            "EnableKey" => output(&k.enable_key(typed(body)?).await?),
            "DisableKey" => output(&k.disable_key(typed(body)?).await?),
            "ScheduleKeyDeletion" => output(&k.schedule_key_deletion(typed(body)?).await?),
            "CancelKeyDeletion" => output(&k.cancel_key_deletion(typed(body)?).await?),
            "CreateAlias" => output(&k.create_alias(typed(body)?).await?),
            "UpdateAlias" => output(&k.update_alias(typed(body)?).await?),
            "DeleteAlias" => output(&k.delete_alias(typed(body)?).await?),
            "ListAliases" => output(&k.list_aliases(typed(body)?).await?),
            "EnableKeyRotation" => output(&k.enable_key_rotation(typed(body)?).await?),
            "DisableKeyRotation" => output(&k.disable_key_rotation(typed(body)?).await?),
            "GetKeyRotationStatus" => output(&k.get_key_rotation_status(typed(body)?).await?),
            "RotateKeyOnDemand" => output(&k.rotate_key_on_demand(typed(body)?).await?),
            "GenerateDataKey" => output(&k.generate_data_key(typed(body)?, true).await?),
            "GenerateDataKeyWithoutPlaintext" => {
                output(&k.generate_data_key(typed(body)?, false).await?)
            }
            "Encrypt" => output(&k.encrypt(typed(body)?).await?),
            "Decrypt" => output(&k.decrypt(typed(body)?).await?),
            "ReEncrypt" => output(&k.re_encrypt(typed(body)?).await?),
            "GenerateRandom" => output(&k.generate_random(typed(body)?)?),
            _ => Err(ApiError::unknown_operation()),
        };
        answer.map(Reply::Body)
    }
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

impl Api for KmsApi {
    fn name(&self) -> &'static str {
        "kms"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(kms())
    }

    /// A key named by id or ARN is the resource; an alias is authorized as the alias's ARN
    /// (AWS authorizes on the key behind it). Decrypt and ReEncrypt are also authorized on the
    /// key their ciphertext names; the key-less operations on `*`.
    fn resources(&self, _op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        let named = m
            .get("KeyId")
            .or_else(|| m.get("TargetKeyId"))
            .or_else(|| m.get("DestinationKeyId"))
            .map(|k| match k {
                k if k.starts_with("arn:") => k.to_string(),
                k if k.starts_with("alias/") => scope.arn("kms", k),
                k => scope.arn("kms", &format!("key/{k}")),
            });
        let sealed_by = m
            .get("CiphertextBlob")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| freshet_kms::blob_key_id(&b))
            .map(|id| scope.arn("kms", &format!("key/{id}")));
        let resources: Vec<String> = named.into_iter().chain(sealed_by).collect();
        if resources.is_empty() {
            vec!["*".to_string()]
        } else {
            resources
        }
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(self.run(call))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> ApiError {
        ApiError::from_service(e.is_internal(), e.aws_type(), &e)
    }
}
