//! Sessions: opaque bearer tokens (256 random bits) handed out at login.
//! Only their SHA-256 is stored, so a copy of the database logs nobody in.
//! A session's CSRF token is derived from its token with the host secret,
//! so it is bound to the session and needs no storage.

use super::{Identity, IdentityError, now, random_token, rfc3339};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A stored session, keyed by the hash of its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// What login returns: the token, shown once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: i64,
    /// Whose session it is (internal id).
    pub user_id: String,
}

/// A session as its owner sees it in an export (never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// Lower- or upper-case hex to bytes; none for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn token_key(token: &str) -> String {
    crate::text::hex(&Sha256::digest(token.as_bytes()))
}

impl Identity {
    /// Logs `handle` in: checks the password (see `check_password`) and
    /// opens a session lasting `ttl_secs`.
    pub fn login(
        &self,
        handle: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<NewSession, IdentityError> {
        let user = self.check_password(handle, password)?;
        self.start_session(user.id, ttl_secs)
    }

    /// A new session for a person already known to be who they are: what
    /// `login` does after the password. No edge offers it on its own; the
    /// host's own tooling and tests use it (people without passwords).
    pub fn start_session(
        &self,
        user_id: String,
        ttl_secs: i64,
    ) -> Result<NewSession, IdentityError> {
        let token = random_token();
        let created_at = now();
        let session = Session {
            user_id,
            created_at,
            expires_at: created_at.saturating_add(ttl_secs),
            revoked_at: None,
        };
        self.sessions.insert(&token_key(&token), &session)?;
        Ok(NewSession {
            token,
            expires_at: session.expires_at,
            user_id: session.user_id,
        })
    }

    fn csrf_mac(&self, token: &str) -> Hmac<Sha256> {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            super::unreachable_key()
        };
        mac.update(b"csrf");
        mac.update(token.as_bytes());
        mac
    }

    /// The CSRF token of the session `token` names: hex
    /// HMAC-SHA256(host secret, "csrf" ‖ token). A page that can read it
    /// (the shell, from its own origin) proves a request is its own.
    pub fn csrf_token(&self, token: &str) -> String {
        crate::text::hex(&self.csrf_mac(token).finalize().into_bytes())
    }

    /// Whether `given` is the CSRF token of `token`'s session (compared in
    /// constant time).
    pub fn csrf_matches(&self, token: &str, given: &str) -> bool {
        let Some(bytes) = unhex(given) else {
            return false;
        };
        self.csrf_mac(token).verify_slice(&bytes).is_ok()
    }

    /// The live session `token` names. Expired sessions are dropped when met.
    pub fn authenticate(&self, token: &str) -> Result<Session, IdentityError> {
        let key = token_key(token);
        let session = self
            .sessions
            .get(&key)?
            .ok_or(IdentityError::TokenInvalid)?;
        if now() >= session.expires_at {
            self.sessions.remove(&key)?;
            return Err(IdentityError::TokenExpired);
        }
        if session.revoked_at.is_some() {
            return Err(IdentityError::TokenRevoked);
        }
        Ok(session)
    }

    /// Revokes the session `token` names (kept, marked, until it would have
    /// expired, so a reused token is told it was revoked).
    pub fn logout(&self, token: &str) -> Result<(), IdentityError> {
        self.authenticate(token)?;
        let at = now();
        self.sessions.update(&token_key(token), |s| {
            let s = s.map(|mut s| {
                s.revoked_at.get_or_insert(at);
                s
            });
            (s, ())
        })?;
        Ok(())
    }

    /// The person's sessions (for their export).
    pub fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionInfo>, IdentityError> {
        Ok(self
            .sessions
            .all()?
            .into_iter()
            .filter(|(_, s)| s.user_id == user_id)
            .map(|(_, s)| SessionInfo {
                created_at: rfc3339(s.created_at),
                expires_at: rfc3339(s.expires_at),
                revoked_at: s.revoked_at.map(rfc3339),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[test]
    fn tokens_are_stored_hashed_and_stop_working_after_logout_or_expiry() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        let user = id.add_user("erin", None, Some("erin's password"))?;
        let s = id.login("erin", "erin's password", 3600)?;
        assert_eq!(id.authenticate(&s.token)?.user_id, user.id);
        assert!(id.sessions.get(&s.token)?.is_none(), "not stored in clear");
        id.logout(&s.token)?;
        assert!(matches!(
            id.authenticate(&s.token),
            Err(IdentityError::TokenRevoked)
        ));
        let expired = id.login("erin", "erin's password", 0)?;
        assert!(matches!(
            id.authenticate(&expired.token),
            Err(IdentityError::TokenExpired)
        ));
        assert!(matches!(
            id.authenticate("forged"),
            Err(IdentityError::TokenInvalid)
        ));
        Ok(())
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_the_host_secret() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        id.add_user("erin", None, Some("erin's password"))?;
        let a = id.login("erin", "erin's password", 3600)?;
        let b = id.login("erin", "erin's password", 3600)?;
        let csrf = id.csrf_token(&a.token);
        assert_eq!(csrf.len(), 64);
        assert_eq!(csrf, id.csrf_token(&a.token), "stable, nothing stored");
        assert!(id.csrf_matches(&a.token, &csrf));
        assert!(id.csrf_matches(&a.token, &csrf.to_uppercase()));
        assert!(!id.csrf_matches(&b.token, &csrf), "another session's");
        assert!(!id.csrf_matches(&a.token, &csrf[..62]));
        assert!(!id.csrf_matches(&a.token, ""));
        assert!(!id.csrf_matches(&a.token, "zz"));
        let other_host = tempfile::tempdir()?;
        let other = Identity::open(&Db::open(other_host.path())?)?;
        assert_ne!(other.csrf_token(&a.token), csrf, "another host's secret");
        Ok(())
    }
}
