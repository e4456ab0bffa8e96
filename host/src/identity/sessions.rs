//! Sessions: opaque bearer tokens (256 random bits) handed out at login.
//! Only their SHA-256 is stored, so a copy of the database logs nobody in.

use super::{Identity, IdentityError, now, random_token, rfc3339};
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
}

/// A session as its owner sees it in an export (never the token).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
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
        let token = random_token();
        let created_at = now();
        let session = Session {
            user_id: user.id,
            created_at,
            expires_at: created_at.saturating_add(ttl_secs),
            revoked_at: None,
        };
        self.sessions.insert(&token_key(&token), &session)?;
        Ok(NewSession {
            token,
            expires_at: session.expires_at,
        })
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
}
