//! The master key: 32 random bytes in a key file (64 hex digits) that wraps the local KMS's key
//! material. A key file named but absent is created (mode 0600) on first start; keys that were
//! current before a rotation are listed as previous ones, so material wrapped under them is read
//! and wrapped anew under the current key at start.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Identifies a master key inside what it wrapped, without revealing it.
type Fingerprint = [u8; 8];

pub struct MasterKey {
    fingerprint: Fingerprint,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn from_bytes(key: &[u8; 32]) -> MasterKey {
        let digest = Sha256::new()
            .chain_update(b"freshet master key fingerprint")
            .chain_update(key)
            .finalize();
        let mut fingerprint = [0; 8];
        fingerprint.copy_from_slice(&digest[..8]);
        MasterKey {
            fingerprint,
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Reads the key file, or creates it with a fresh key if `create` and it does not exist.
    pub fn load(path: &Path, create: bool) -> std::io::Result<MasterKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).ok();
                let key: [u8; 32] = bytes
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| invalid(path, "does not hold 64 hex digits"))?;
                Ok(MasterKey::from_bytes(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path)?;
                file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "created a master key file");
                Ok(MasterKey::from_bytes(&key))
            }
            Err(e) => Err(std::io::Error::new(
                e.kind(),
                format!("master key file {}: {e}", path.display()),
            )),
        }
    }
}

fn invalid(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("master key file {} {why}", path.display()),
    )
}

/// The current master key and those it replaced.
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

/// Why wrapped material could not be unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum UnwrapError {
    #[error("wrapped under a master key that is not configured (neither current nor previous)")]
    UnknownMaster,
    #[error("wrapped material is damaged")]
    Damaged,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> MasterKeys {
        MasterKeys { current, previous }
    }

    /// `secret` sealed under the current key, bound to `label` (the key it belongs to).
    pub fn wrap(&self, label: &str, secret: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: label.as_bytes(),
                },
            )
            .expect("32 bytes are far below AES-GCM's message limit");
        let mut out = Vec::with_capacity(8 + 12 + sealed.len());
        out.extend_from_slice(&self.current.fingerprint);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// The secret, and whether it was wrapped under a previous key (so should be wrapped anew).
    pub fn unwrap(&self, label: &str, wrapped: &str) -> Result<(Vec<u8>, bool), UnwrapError> {
        let bytes = B64.decode(wrapped).map_err(|_| UnwrapError::Damaged)?;
        if bytes.len() < 8 + 12 + 16 {
            return Err(UnwrapError::Damaged);
        }
        let (fingerprint, rest) = bytes.split_at(8);
        let (key, stale) = if fingerprint == self.current.fingerprint {
            (&self.current, false)
        } else {
            let key = self
                .previous
                .iter()
                .find(|k| k.fingerprint == fingerprint)
                .ok_or(UnwrapError::UnknownMaster)?;
            (key, true)
        };
        let (nonce, sealed) = rest.split_at(12);
        let secret = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| UnwrapError::Damaged)?;
        Ok((secret, stale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms/master.key");
        let created = MasterKey::load(&path, true).unwrap();
        let read = MasterKey::load(&path, false).unwrap();
        assert_eq!(created.fingerprint, read.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(MasterKey::load(&path, true).is_err());
        assert!(MasterKey::load(&dir.path().join("absent"), false).is_err());
    }

    #[test]
    fn rotation_reads_old_wraps_and_flags_them_stale() {
        let old = MasterKey::from_bytes(&[1; 32]);
        let keys = MasterKeys::new(old, vec![]);
        let wrapped = keys.wrap("key-1", b"material");
        assert_eq!(
            keys.unwrap("key-1", &wrapped).unwrap(),
            (b"material".to_vec(), false)
        );
        assert!(matches!(
            keys.unwrap("key-2", &wrapped),
            Err(UnwrapError::Damaged)
        ));
        let rotated = MasterKeys::new(
            MasterKey::from_bytes(&[2; 32]),
            vec![MasterKey::from_bytes(&[1; 32])],
        );
        assert_eq!(
            rotated.unwrap("key-1", &wrapped).unwrap(),
            (b"material".to_vec(), true)
        );
        let forgotten = MasterKeys::new(MasterKey::from_bytes(&[2; 32]), vec![]);
        assert!(matches!(
            forgotten.unwrap("key-1", &wrapped),
            Err(UnwrapError::UnknownMaster)
        ));
    }
}
