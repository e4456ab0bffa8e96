//! Identity: per-app pseudonymous open ids, derived with a keyed hash from a
//! host secret so that two apps cannot correlate a user and no app ever sees
//! the internal user id. (Users, sessions and consent arrive with identity.)

use crate::store::{Db, StoreError, Tree};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Why a user reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("`{0}` is not a valid user id: use 1–64 characters of a-z, 0-9, `.`, `_` and `-`")]
    InvalidUserId(String),
}

/// Checks a user id's charset (ids appear in storage keys; no NUL, no spaces).
pub fn check_user_id(id: &str) -> Result<(), IdentityError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidUserId(id.to_string()))
    }
}

/// A fresh random token (256 bits, hex), for bearer credentials.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    crate::text::hex(&bytes)
}

/// Derives open ids from the host secret.
#[derive(Clone)]
pub struct Identity {
    secret: [u8; 32],
}

impl Identity {
    /// Loads the host secret, creating it on first start.
    pub fn open(db: &Db) -> Result<Identity, StoreError> {
        let meta: Tree<Vec<u8>> = db.tree("meta")?;
        let secret = match meta.get("open-id-secret")? {
            Some(s) if s.len() == 32 => s,
            _ => {
                let mut s = vec![0u8; 32];
                rand::rng().fill_bytes(&mut s);
                // Only one writer wins; everyone uses what is stored.
                meta.insert_new("open-id-secret", &s)?;
                db.flush()?;
                meta.get("open-id-secret")?.unwrap_or(s)
            }
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(&secret[..32]);
        Ok(Identity { secret: key })
    }

    /// The open id of `user_id` in app `app_id`: stable, and unlinkable
    /// across apps without the host secret.
    pub fn open_id(&self, user_id: &str, app_id: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            unreachable_key()
        };
        mac.update(b"superapp open-id v1\0");
        mac.update(app_id.as_bytes());
        mac.update(b"\0");
        mac.update(user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("ou_{}", crate::text::hex(&digest[..16]))
    }
}

// HMAC accepts keys of any length, so this cannot happen.
#[allow(clippy::panic)]
fn unreachable_key() -> ! {
    panic!("HMAC rejected a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ids_are_stable_per_app_and_differ_across_apps() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = Db::open(dir.path())?;
        let id = Identity::open(&db)?;
        let a = id.open_id("alice", "shop");
        assert_eq!(a, Identity::open(&db)?.open_id("alice", "shop"));
        assert_ne!(a, id.open_id("alice", "rides"));
        assert_ne!(a, id.open_id("bob", "shop"));
        assert!(!a.contains("alice"));
        Ok(())
    }

    #[test]
    fn user_ids_with_odd_characters_are_refused() {
        assert!(check_user_id("alice.w_1").is_ok());
        assert!(check_user_id("").is_err());
        assert!(check_user_id("Alice").is_err());
        assert!(check_user_id("a\u{0}b").is_err());
    }
}
