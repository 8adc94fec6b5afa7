//! A KMS-compatible endpoint as the key service (`[encryption] kms_endpoint`): GenerateDataKey,
//! Decrypt and ReEncrypt over KMS's JSON API, SigV4-signed. Appends and reads must not wait on
//! the network, so whether a key may be used is the answer of its last call or of DescribeKey,
//! asked for every key in use once per check interval; a key disabled at the endpoint refuses
//! appends within that interval (AWS's services likewise cache data keys for minutes).

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use freshet_runtime::SharedClock;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{Context, KeyService, KmsError, NewDataKey, Result};

pub struct RemoteKms {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    identity: Identity,
    /// Signing time and the check interval's timer.
    clock: SharedClock,
    /// The last answer about each key in use, by ARN.
    states: RwLock<HashMap<String, Result<()>>>,
    /// Rotations at the endpoint are invisible here: this never changes.
    rotations: watch::Sender<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    plaintext: Option<String>,
    #[serde(default)]
    ciphertext_blob: Option<String>,
    #[serde(default)]
    key_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    arn: String,
    key_state: String,
}

impl RemoteKms {
    pub fn new(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        clock: SharedClock,
    ) -> Result<RemoteKms> {
        // The process-wide TLS provider, for https endpoints (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| KmsError::Internal(format!("KMS endpoint client: {e}")))?;
        Ok(RemoteKms {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            identity: Credentials::new(access_key_id, secret_access_key, None, None, "freshet")
                .into(),
            clock,
            states: RwLock::new(HashMap::new()),
            rotations: watch::channel(0).0,
        })
    }

    /// Asks the endpoint about every key in use, once per `every`, for as long as it runs.
    pub async fn check_keys(self: std::sync::Arc<Self>, every: Duration) {
        loop {
            self.clock.sleep(every).await;
            let arns: Vec<String> = self.states.read().keys().cloned().collect();
            for arn in arns {
                let state = match self.call("DescribeKey", json!({ "KeyId": arn })).await {
                    Ok(Answer {
                        key_metadata: Some(m),
                        ..
                    }) => state(&m),
                    // The endpoint unreachable or failing: the last answer stands, rather than
                    // one hiccup refusing every stream on the key for a whole interval.
                    Ok(_) | Err(KmsError::Internal(_)) => continue,
                    Err(e) => Err(e),
                };
                self.states.write().insert(arn, state);
            }
        }
    }

    async fn call(&self, op: &str, body: Value) -> Result<Answer> {
        let body = serde_json::to_vec(&body).map_err(|e| KmsError::Internal(e.to_string()))?;
        let target = format!("TrentService.{op}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("kms")
            .time(UNIX_EPOCH + Duration::from_millis(self.clock.now_ms().max(0) as u64))
            .settings(settings)
            .build()
            .map_err(|e| KmsError::Internal(format!("signing: {e}")))?
            .into();
        let url = format!("{}/", self.endpoint);
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| KmsError::Internal(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KmsError::Internal(format!("signing: {e}")))?
            .into_parts();
        let mut request = self.http.post(&url).body(body.clone());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| KmsError::Internal(format!("KMS endpoint {}: {e}", self.endpoint)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| KmsError::Internal(format!("KMS endpoint {}: {e}", self.endpoint)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| KmsError::Internal(format!("KMS endpoint answer: {e}")));
        }
        Err(error(&bytes))
    }

    /// Records what a call said about the key it used.
    fn saw(&self, arn: &str, outcome: &Result<()>) {
        self.states.write().insert(arn.to_string(), outcome.clone());
    }
}

/// A key's state as `usable` answers it.
fn state(m: &Metadata) -> Result<()> {
    match m.key_state.as_str() {
        "Enabled" => Ok(()),
        "Disabled" => Err(KmsError::Disabled(format!("{} is disabled.", m.arn))),
        "PendingDeletion" => Err(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            m.arn
        ))),
        other => Err(KmsError::InvalidState(format!("{} is {other}.", m.arn))),
    }
}

/// An endpoint's error answer (`__type` with or without its namespace) as the same KMS error.
fn error(body: &[u8]) -> KmsError {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let kind = v["__type"].as_str().unwrap_or("");
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = v["message"]
        .as_str()
        .or_else(|| v["Message"].as_str())
        .unwrap_or("")
        .to_string();
    match kind {
        "NotFoundException" => KmsError::NotFound(message),
        "DisabledException" => KmsError::Disabled(message),
        "KMSInvalidStateException" => KmsError::InvalidState(message),
        "InvalidCiphertextException" => KmsError::InvalidCiphertext(message),
        "IncorrectKeyException" => KmsError::IncorrectKey(message),
        "AccessDeniedException" | "NotAuthorizedException" => KmsError::NotAuthorized(message),
        "ValidationException" => KmsError::Validation(message),
        other => KmsError::Internal(format!("KMS endpoint: {other} {message}")),
    }
}

fn decoded(field: Option<String>, what: &str) -> Result<Vec<u8>> {
    field
        .and_then(|b| B64.decode(b).ok())
        .ok_or_else(|| KmsError::Internal(format!("the KMS endpoint answered no {what}")))
}

impl KeyService for RemoteKms {
    fn generate_data_key<'a>(
        &'a self,
        key_id: &'a str,
        context: &'a Context,
    ) -> BoxFuture<'a, Result<NewDataKey>> {
        Box::pin(async move {
            let body = json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context});
            let out = self.call("GenerateDataKey", body).await?;
            let key_arn = out.key_id.clone().unwrap_or_else(|| key_id.to_string());
            self.saw(&key_arn, &Ok(()));
            Ok(NewDataKey {
                plaintext: decoded(out.plaintext, "Plaintext")?,
                blob: decoded(out.ciphertext_blob, "CiphertextBlob")?,
                key_arn,
            })
        })
    }

    fn decrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let body = json!({"CiphertextBlob": B64.encode(blob), "EncryptionContext": context});
            let out = self.call("Decrypt", body).await?;
            if let Some(arn) = &out.key_id {
                self.saw(arn, &Ok(()));
            }
            decoded(out.plaintext, "Plaintext")
        })
    }

    fn re_encrypt<'a>(
        &'a self,
        blob: &'a [u8],
        context: &'a Context,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<(Vec<u8>, String)>> {
        Box::pin(async move {
            let body = json!({
                "CiphertextBlob": B64.encode(blob),
                "DestinationKeyId": destination,
                "SourceEncryptionContext": context,
                "DestinationEncryptionContext": context,
            });
            let out = self.call("ReEncrypt", body).await?;
            let arn = out
                .key_id
                .clone()
                .unwrap_or_else(|| destination.to_string());
            Ok((decoded(out.ciphertext_blob, "CiphertextBlob")?, arn))
        })
    }

    fn usable(&self, arn: &str) -> Result<()> {
        self.states.read().get(arn).cloned().unwrap_or(Ok(()))
    }

    fn is_current(&self, _blob: &[u8]) -> bool {
        true
    }

    fn rotations(&self) -> watch::Receiver<u64> {
        self.rotations.subscribe()
    }
}
