//! The KMS operations' requests and answers as the JSON API spells them (the edge has already
//! checked each request against KMS's model: types, required members, lengths).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// KMS's encryption context: authenticated, not secret; the same pairs must come back to decrypt.
pub type Context = BTreeMap<String, String>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateKeyInput {
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub origin: Option<String>,
    pub multi_region: Option<bool>,
    pub policy: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize, Serialize, Clone, PartialEq, Eq, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdInput {
    pub key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataOutput {
    pub key_metadata: KeyMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: &'static str,
    pub key_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    pub origin: &'static str,
    pub key_manager: &'static str,
    pub customer_master_key_spec: &'static str,
    pub key_spec: &'static str,
    pub encryption_algorithms: [&'static str; 1],
    pub multi_region: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct PageInput {
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysOutput {
    pub keys: Vec<KeyListEntry>,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasInput {
    pub alias_name: String,
    #[serde(default)]
    pub target_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesOutput {
    pub aliases: Vec<AliasListEntry>,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleDeletionInput {
    pub key_id: String,
    #[serde(default)]
    pub pending_window_in_days: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleDeletionOutput {
    pub key_id: String,
    pub deletion_date: f64,
    pub key_state: &'static str,
    pub pending_window_in_days: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdOutput {
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableRotationInput {
    pub key_id: String,
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationStatusOutput {
    pub key_rotation_enabled: bool,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_start_date: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyInput {
    pub key_id: String,
    #[serde(default)]
    pub key_spec: Option<String>,
    #[serde(default)]
    pub number_of_bytes: Option<usize>,
    #[serde(default)]
    pub encryption_context: Context,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyOutput {
    #[serde(with = "blob")]
    pub ciphertext_blob: Vec<u8>,
    #[serde(with = "blob::optional", skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Vec<u8>>,
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptInput {
    pub key_id: String,
    #[serde(with = "blob")]
    pub plaintext: Vec<u8>,
    #[serde(default)]
    pub encryption_context: Context,
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptOutput {
    #[serde(with = "blob")]
    pub ciphertext_blob: Vec<u8>,
    pub key_id: String,
    pub encryption_algorithm: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptInput {
    #[serde(with = "blob")]
    pub ciphertext_blob: Vec<u8>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub encryption_context: Context,
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptOutput {
    pub key_id: String,
    #[serde(with = "blob")]
    pub plaintext: Vec<u8>,
    pub encryption_algorithm: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptInput {
    #[serde(with = "blob")]
    pub ciphertext_blob: Vec<u8>,
    #[serde(default)]
    pub source_key_id: Option<String>,
    pub destination_key_id: String,
    #[serde(default)]
    pub source_encryption_context: Context,
    #[serde(default)]
    pub destination_encryption_context: Context,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptOutput {
    #[serde(with = "blob")]
    pub ciphertext_blob: Vec<u8>,
    pub source_key_id: String,
    pub key_id: String,
    pub source_encryption_algorithm: &'static str,
    pub destination_encryption_algorithm: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomInput {
    #[serde(default)]
    pub number_of_bytes: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomOutput {
    #[serde(with = "blob")]
    pub plaintext: Vec<u8>,
}

#[derive(Serialize, Debug)]
pub struct Empty {}

/// Blobs travel as base64 in KMS's JSON.
mod blob {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map_err(|_| serde::de::Error::custom("blob is not valid base64"))
    }

    pub mod optional {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }
    }
}
