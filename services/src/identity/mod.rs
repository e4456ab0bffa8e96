//! Identity: people (users with argon2 passwords and real-name
//! verification), their sessions, the pseudonymous ids each mini-app sees
//! (open ids per app, union ids per developer key), their consent grants,
//! the access log of what apps read about them, and the host's launch-token
//! signing keys. Plain Rust over the store: no HTTP, no wasmtime. It never
//! hands an internal user id to anything a mini-app can see.

mod access_log;
mod consent;
mod launch;
mod sessions;
mod users;

pub use access_log::{AccessEntry, AccessOutcome, AccessRecord};
pub use consent::{Decision, Grant, GrantState};
pub use launch::{HostKeyInfo, Jwk, LAUNCH_TOKEN_TTL_SECS, LaunchClaims, check_scene};
pub use sessions::{NewSession, Session, SessionInfo};
pub use users::{User, UserView, Verification};

use crate::store::{Backend, StoreError, Tree};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What went wrong in the identity service. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("`{0}` is not a valid user id: use 1–64 characters of a-z, 0-9, `.`, `_` and `-`")]
    InvalidUserId(String),
    #[error(
        "`{0}` is not a valid handle: use 3–32 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter"
    )]
    InvalidHandle(String),
    #[error("the handle `{0}` is taken")]
    HandleTaken(String),
    #[error("no user has the handle `{0}`")]
    UnknownUser(String),
    #[error("display name: {0}")]
    InvalidDisplayName(String),
    #[error("password: {0}")]
    InvalidPassword(String),
    #[error("birth date `{0}`: expected a past date as YYYY-MM-DD")]
    InvalidBirthDate(String),
    #[error("wrong handle or password")]
    InvalidCredentials,
    #[error("too many failed logins for this account; try again in {retry_after_secs} s")]
    LoginThrottled { retry_after_secs: u64 },
    #[error("the session token is not known to this host (mistyped or forged)")]
    TokenInvalid,
    #[error("the session token expired; log in again")]
    TokenExpired,
    #[error("the session token was revoked (logged out); log in again")]
    TokenRevoked,
    #[error(
        "`{0}` is not a scope: use one of profile, real-name (storage needs no consent; money is confirmed payment by payment, notifications subscription by subscription)"
    )]
    UnknownScope(String),
    #[error("the app `{app}` does not request the `{scope}` scope in its manifest")]
    ScopeNotRequested { app: String, scope: String },
    #[error("no app `{0}` is installed")]
    UnknownApp(String),
    #[error("launch: {0}")]
    InvalidLaunch(String),
    #[error("signing failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::kv::KvError> for IdentityError {
    fn from(e: crate::kv::KvError) -> Self {
        match e {
            crate::kv::KvError::Store(s) => IdentityError::Store(s),
            other => IdentityError::Store(StoreError::Io(other.to_string())),
        }
    }
}

impl IdentityError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::InvalidUserId(_) => "invalid-user-id",
            IdentityError::InvalidHandle(_) => "invalid-handle",
            IdentityError::HandleTaken(_) => "handle-taken",
            IdentityError::UnknownUser(_) => "unknown-user",
            IdentityError::InvalidDisplayName(_) => "invalid-display-name",
            IdentityError::InvalidPassword(_) => "invalid-password",
            IdentityError::InvalidBirthDate(_) => "invalid-birth-date",
            IdentityError::InvalidCredentials => "invalid-credentials",
            IdentityError::LoginThrottled { .. } => "login-throttled",
            IdentityError::TokenInvalid => "invalid-token",
            IdentityError::TokenExpired => "token-expired",
            IdentityError::TokenRevoked => "token-revoked",
            IdentityError::UnknownScope(_) => "unknown-scope",
            IdentityError::ScopeNotRequested { .. } => "scope-not-requested",
            IdentityError::UnknownApp(_) => "app-not-found",
            IdentityError::InvalidLaunch(_) => "invalid-launch",
            IdentityError::Crypto(_) => "internal",
            IdentityError::Store(s) => s.code(),
        }
    }
}

/// The characters user ids and handles are made of: `a-z 0-9 . _ -` (they
/// appear in storage keys and URLs; no NUL, no spaces, one spelling).
fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

/// Checks a user id's charset (ids appear in storage keys; no NUL, no spaces).
pub fn check_user_id(id: &str) -> Result<(), IdentityError> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(is_name_char);
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

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `secs` since the epoch as RFC 3339 (UTC), the form the API shows.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The identity service over the store.
#[derive(Clone)]
pub struct Identity {
    secret: [u8; 32],
    users: Tree<User>,
    handles: Tree<String>,
    sessions: Tree<Session>,
    grants: Tree<Grant>,
    access: Tree<AccessEntry>,
    keys: Tree<launch::HostKey>,
    /// `<app>/<open id>` → internal user id, for apps naming people.
    open_ids: Tree<String>,
    throttle: std::sync::Arc<users::LoginThrottle>,
}

impl Identity {
    /// Opens the service, creating the host secret and a first launch-token
    /// signing key on first start.
    /// Forgets failed-login counts a day old, where hosts share them.
    pub fn prune_login_failures(&self, now: i64) -> Result<usize, IdentityError> {
        Ok(self.throttle.prune(now)?)
    }

    pub fn open(db: &dyn Backend) -> Result<Identity, IdentityError> {
        let meta: Tree<Vec<u8>> = db.tree("meta")?;
        let secret = match meta.get("open-id-secret")? {
            Some(s) if s.len() == 32 => s,
            _ => {
                let mut s = vec![0u8; 32];
                rand::rng().fill_bytes(&mut s);
                // Only one writer wins; everyone uses what is stored.
                meta.insert_new("open-id-secret", &s)?;
                db.flush_all()?;
                meta.get("open-id-secret")?.unwrap_or(s)
            }
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(&secret[..32]);
        let identity = Identity {
            secret: key,
            users: db.tree("users")?,
            handles: db.tree("user-handles")?,
            sessions: db.tree("sessions")?,
            grants: db.tree("grants")?,
            access: db.tree("access-log")?,
            keys: db.tree("host-keys")?,
            open_ids: db.tree("open-ids")?,
            throttle: std::sync::Arc::new(if db.shared() {
                users::LoginThrottle::shared(db.tree("login-failures")?)
            } else {
                users::LoginThrottle::default()
            }),
        };
        identity.ensure_signing_key()?;
        Ok(identity)
    }

    fn keyed_id(&self, prefix: &str, domain: &[u8], scope: &str, user_id: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            unreachable_key()
        };
        mac.update(domain);
        mac.update(scope.as_bytes());
        mac.update(b"\0");
        mac.update(user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{prefix}{}", crate::text::hex(&digest[..16]))
    }

    /// The open id of `user_id` in app `app_id`: stable, and unlinkable
    /// across apps without the host secret.
    pub fn open_id(&self, user_id: &str, app_id: &str) -> String {
        self.keyed_id("ou_", b"superapp open-id v1\0", app_id, user_id)
    }

    /// Notes that `user_id` is known to `app_id` by `open_id`, so the app
    /// can later name them (e.g. as a transfer's recipient).
    pub fn remember_open_id(
        &self,
        user_id: &str,
        app_id: &str,
        open_id: &str,
    ) -> Result<(), IdentityError> {
        let key = format!("{app_id}/{open_id}");
        if self.open_ids.get(&key)?.is_none() {
            self.open_ids.insert_new(&key, &user_id.to_string())?;
        }
        Ok(())
    }

    /// The person `app_id` knows as `open_id`, if they ever used the app.
    pub fn user_by_open_id(
        &self,
        app_id: &str,
        open_id: &str,
    ) -> Result<Option<String>, IdentityError> {
        Ok(self.open_ids.get(&format!("{app_id}/{open_id}"))?)
    }

    /// The union id of `user_id` for a developer: the same in every app
    /// signed by `signer` (the key's text form), unlinkable across
    /// developers. An unsigned app (`signer` none) proves no developer, so
    /// its union id is its own: `app:<id>` stands in for the key.
    pub fn union_id(&self, user_id: &str, signer: Option<&str>, app_id: &str) -> String {
        let scope = match signer {
            Some(key) => format!("key:{key}"),
            None => format!("app:{app_id}"),
        };
        self.keyed_id("un_", b"superapp union-id v1\0", &scope, user_id)
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
    use crate::store::Db;

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
    fn union_ids_are_shared_by_one_developers_apps_only() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        let k1 = Some("ed25519:one");
        let k2 = Some("ed25519:two");
        assert_eq!(id.union_id("u", k1, "shop"), id.union_id("u", k1, "rides"));
        assert_ne!(id.union_id("u", k1, "shop"), id.union_id("u", k2, "maps"));
        assert_ne!(
            id.union_id("u", None, "shop"),
            id.union_id("u", None, "rides")
        );
        assert_ne!(id.union_id("u", k1, "shop"), id.union_id("v", k1, "shop"));
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
