//! Launch tokens: short-lived EdDSA JWTs the host signs when a person opens
//! a mini-app, so the app's own backend can learn who came (as the app's
//! open id) without trusting the client. The public keys are published as a
//! JWKS; rotation adds a key and keeps the old one published until every
//! token it signed has expired.

use super::{Identity, IdentityError, now, random_token, rfc3339};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// How long a launch token is valid.
pub const LAUNCH_TOKEN_TTL_SECS: i64 = 5 * 60;
/// A retired key stays published this much longer than the last token it
/// signed, for verifiers whose clocks run a little behind.
const PUBLISH_LEEWAY_SECS: i64 = 60;

/// A signing key, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct HostKey {
    secret: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl HostKey {
    fn signing_key(&self) -> Option<SigningKey> {
        let secret: [u8; 32] = self.secret.as_slice().try_into().ok()?;
        Some(SigningKey::from_bytes(&secret))
    }

    fn published(&self, now: i64) -> bool {
        self.retired_at
            .is_none_or(|r| now < r + LAUNCH_TOKEN_TTL_SECS + PUBLISH_LEEWAY_SECS)
    }
}

/// A key as `host-keys list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostKeyInfo {
    pub kid: String,
    pub created_at: String,
    pub retired_at: Option<String>,
    /// Whether new tokens are signed with it.
    pub active: bool,
    /// Whether the JWKS still lists it.
    pub published: bool,
}

/// One public key in the JWKS (RFC 8037: OKP, Ed25519).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// The claims of a launch token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchClaims {
    /// The host's public URL.
    pub iss: String,
    /// The app id.
    pub aud: String,
    /// The person's open id in this app.
    pub sub: String,
    /// The person's union id for this app's developer.
    pub union_id: String,
    pub scene: String,
    pub path: String,
    pub iat: i64,
    pub exp: i64,
    /// A unique token id, for replay checks.
    pub jti: String,
}

/// A key id: the first 16 hex digits of the public key's SHA-256.
fn kid_of(key: &SigningKey) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.verifying_key().as_bytes());
    crate::text::hex(&digest[..8])
}

impl Identity {
    fn new_host_key(&self, at: i64) -> Result<String, IdentityError> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let kid = kid_of(&SigningKey::from_bytes(&secret));
        self.keys.insert(
            &kid,
            &HostKey {
                secret: secret.to_vec(),
                created_at: at,
                retired_at: None,
            },
        )?;
        Ok(kid)
    }

    pub(super) fn ensure_signing_key(&self) -> Result<(), IdentityError> {
        if self.active_key()?.is_none() {
            self.new_host_key(now())?;
        }
        Ok(())
    }

    /// The newest key that is not retired.
    fn active_key(&self) -> Result<Option<(String, HostKey)>, IdentityError> {
        Ok(self
            .keys
            .all()?
            .into_iter()
            .filter(|(_, k)| k.retired_at.is_none())
            .max_by_key(|(_, k)| k.created_at))
    }

    /// Starts signing with a new key; the old ones stay published until
    /// their last tokens expire, and keys past that are deleted.
    pub fn rotate_host_key(&self) -> Result<Vec<HostKeyInfo>, IdentityError> {
        let at = now();
        for (kid, key) in self.keys.all()? {
            if key.retired_at.is_none() {
                self.keys.insert(
                    &kid,
                    &HostKey {
                        retired_at: Some(at),
                        ..key
                    },
                )?;
            } else if !key.published(at) {
                self.keys.remove(&kid)?;
            }
        }
        self.new_host_key(at)?;
        self.host_keys()
    }

    /// Every stored key, newest first.
    pub fn host_keys(&self) -> Result<Vec<HostKeyInfo>, IdentityError> {
        let at = now();
        let active = self.active_key()?.map(|(kid, _)| kid);
        let mut keys = self.keys.all()?;
        // The active key first, then the most recently retired.
        keys.sort_by_key(|(_, k)| {
            std::cmp::Reverse((k.retired_at.is_none(), k.retired_at, k.created_at))
        });
        Ok(keys
            .into_iter()
            .map(|(kid, k)| HostKeyInfo {
                active: active.as_deref() == Some(kid.as_str()),
                published: k.published(at),
                created_at: rfc3339(k.created_at),
                retired_at: k.retired_at.map(rfc3339),
                kid,
            })
            .collect())
    }

    /// The published public keys.
    pub fn jwks(&self) -> Result<Vec<Jwk>, IdentityError> {
        let at = now();
        Ok(self
            .keys
            .all()?
            .into_iter()
            .filter(|(_, k)| k.published(at))
            .filter_map(|(kid, k)| {
                Some(Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: URL_SAFE_NO_PAD.encode(k.signing_key()?.verifying_key().as_bytes()),
                    kid,
                    alg: "EdDSA".into(),
                    use_: "sig".into(),
                })
            })
            .collect())
    }

    /// Signs a launch token for `open_id` in `app_id`. `path` must start
    /// with `/` (at most 1024 bytes); `scene` is a short label (at most 32
    /// characters of `a-z A-Z 0-9 _ -`, as WeChat's scene values).
    pub fn launch_token(
        &self,
        issuer: &str,
        app_id: &str,
        open_id: &str,
        union_id: &str,
        scene: &str,
        path: &str,
    ) -> Result<(String, LaunchClaims), IdentityError> {
        check_launch(scene, path)?;
        let (kid, key) = self
            .active_key()?
            .ok_or_else(|| IdentityError::Crypto("no signing key".into()))?;
        let key = key
            .signing_key()
            .ok_or_else(|| IdentityError::Crypto(format!("stored key `{kid}` is malformed")))?;
        let iat = now();
        let claims = LaunchClaims {
            iss: issuer.to_string(),
            aud: app_id.to_string(),
            sub: open_id.to_string(),
            union_id: union_id.to_string(),
            scene: scene.to_string(),
            path: path.to_string(),
            iat,
            exp: iat + LAUNCH_TOKEN_TTL_SECS,
            jti: random_token()[..32].to_string(),
        };
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
        let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(&claims)?);
        let signature = key.sign(signing_input.as_bytes());
        Ok((
            format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(signature.to_bytes())
            ),
            claims,
        ))
    }
}

fn b64_json<T: Serialize>(value: &T) -> Result<String, IdentityError> {
    let json = serde_json::to_vec(value).map_err(|e| IdentityError::Crypto(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// A launch scene: 1–32 of `a-z A-Z 0-9 _ -` (as WeChat's scene values).
pub fn check_scene(scene: &str) -> Result<(), IdentityError> {
    if scene.is_empty()
        || scene.len() > 32
        || !scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(IdentityError::InvalidLaunch(format!(
            "scene `{scene}` must be 1–32 characters of a-z, A-Z, 0-9, `_` and `-`"
        )));
    }
    Ok(())
}

fn check_launch(scene: &str, path: &str) -> Result<(), IdentityError> {
    check_scene(scene)?;
    if !path.starts_with('/') || path.len() > 1024 || path.chars().any(char::is_control) {
        return Err(IdentityError::InvalidLaunch(
            "path must start with `/`, have at most 1024 bytes and no control characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[test]
    fn rotation_signs_with_the_new_key_and_keeps_the_old_one_published() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        let first = id.jwks()?;
        assert_eq!(first.len(), 1);
        let keys = id.rotate_host_key()?;
        assert_eq!(keys.len(), 2);
        assert!(keys[0].active && keys[0].published);
        assert!(!keys[1].active && keys[1].published);
        assert_eq!(id.jwks()?.len(), 2);
        let (token, _) = id.launch_token("http://h", "shop", "ou_1", "un_1", "qr", "/")?;
        let header = token.split('.').next().unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
        assert_eq!(header["kid"], keys[0].kid.as_str());
        Ok(())
    }

    #[test]
    fn bad_scenes_and_paths_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        for (scene, path) in [
            ("", "/"),
            ("a b", "/"),
            ("qr", "x"),
            (&"s".repeat(33)[..], "/"),
        ] {
            let e = id.launch_token("i", "a", "o", "u", scene, path).err();
            assert_eq!(
                e.map(|e| e.code()),
                Some("invalid-launch"),
                "{scene:?} {path:?}"
            );
        }
        Ok(())
    }
}
