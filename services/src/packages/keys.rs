//! Developer keys and the operator's trust store: Ed25519 key files (PKCS#8
//! PEM, mode 0600), the copy-pasteable public key text `ed25519:<base64url>`,
//! fingerprints, and the set of developer keys this host trusts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

use crate::store::{Backend, StoreError, Tree};

/// Why a key could not be made, read or trusted. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} already exists; choose another --out (keys are never overwritten)")]
    Exists(String),
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
    #[error("{path}: not an Ed25519 private key in PKCS#8 PEM form ({detail})")]
    BadKeyFile { path: String, detail: String },
    #[error("`{0}` is not a public key: expected `ed25519:` followed by 43 base64url characters")]
    BadPublicKey(String),
    #[error("{0} is not in the trust store")]
    NotTrusted(String),
    #[error(transparent)]
    File(#[from] crate::fsutil::FileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KeyError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Exists(_) => "key-exists",
            KeyError::Io { .. } => "io",
            KeyError::BadKeyFile { .. } => "bad-key-file",
            KeyError::BadPublicKey(_) => "bad-public-key",
            KeyError::NotTrusted(_) => "not-trusted",
            KeyError::File(f) => f.code(),
            KeyError::Store(e) => e.code(),
        }
    }
}

/// The text form of a public key: `ed25519:<base64url, no padding>`.
pub fn public_key_text(key: &[u8; 32]) -> String {
    format!("ed25519:{}", URL_SAFE_NO_PAD.encode(key))
}

/// Parses the text form of a public key.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bad = || KeyError::BadPublicKey(text.to_string());
    let b64 = text.trim().strip_prefix("ed25519:").ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    Ok(key)
}

/// A short, stable fingerprint of a public key (hex of SHA-256, 16 chars).
pub fn fingerprint(key: &[u8; 32]) -> String {
    crate::text::hex(&Sha256::digest(key)[..8])
}

/// Creates a new key pair in `path` (never overwriting; mode 0600) and
/// returns the public key.
pub fn generate_key_file(path: &Path) -> Result<[u8; 32], KeyError> {
    let shown = path.display().to_string();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = SigningKey::from_bytes(&secret);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| KeyError::Io {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists(shown.clone()),
        _ => KeyError::Io {
            path: shown.clone(),
            detail: e.to_string(),
        },
    })?;
    use std::io::Write;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::Io {
            path: shown,
            detail: e.to_string(),
        })?;
    Ok(key.verifying_key().to_bytes())
}

/// The largest key file read (a PEM Ed25519 key is about 120 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 16 << 10;

/// Reads a private key file made by [`generate_key_file`] (or by any tool
/// that writes Ed25519 PKCS#8 PEM, such as `openssl genpkey -algorithm ed25519`).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    let text = crate::fsutil::read_text_bounded(path, "key file", MAX_KEY_FILE_BYTES)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| KeyError::BadKeyFile {
        path: shown,
        detail: e.to_string(),
    })
}

/// A developer key the operator trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    pub public_key: String,
    pub name: Option<String>,
    pub added_at: u64,
}

/// The operator's trusted developer keys.
#[derive(Clone)]
pub struct TrustStore {
    keys: Tree<TrustedKey>,
    db: Arc<dyn Backend>,
}

impl TrustStore {
    pub fn open(db: &Arc<dyn Backend>) -> Result<TrustStore, StoreError> {
        Ok(TrustStore {
            keys: db.tree("trust")?,
            db: db.clone(),
        })
    }

    /// Trusts `public_key` (text form); re-adding updates the name.
    pub fn add(&self, public_key: &str, name: Option<String>) -> Result<TrustedKey, KeyError> {
        let key = parse_public_key(public_key)?;
        let text = public_key_text(&key);
        let entry = TrustedKey {
            public_key: text.clone(),
            name,
            added_at: super::now_secs(),
        };
        self.keys.insert(&text, &entry)?;
        self.db.flush_all()?;
        Ok(entry)
    }

    /// Stops trusting `public_key`. Installed apps keep running; new
    /// installs and upgrades signed by it are refused.
    pub fn remove(&self, public_key: &str) -> Result<TrustedKey, KeyError> {
        let text = public_key_text(&parse_public_key(public_key)?);
        let removed = self
            .keys
            .remove(&text)?
            .ok_or_else(|| KeyError::NotTrusted(text.clone()))?;
        self.db.flush_all()?;
        Ok(removed)
    }

    pub fn list(&self) -> Result<Vec<TrustedKey>, StoreError> {
        Ok(self.keys.all()?.into_iter().map(|(_, k)| k).collect())
    }

    pub fn is_trusted(&self, key: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.keys.get(&public_key_text(key))?.is_some())
    }
}
