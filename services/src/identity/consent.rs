//! Consent: each person's decision on each scope an app requests. A denial
//! is stored as such and sticks until the person changes it; only the
//! person (through `/me`) changes decisions, never an app.

use super::{Identity, IdentityError, now, rfc3339};
use crate::packages::Capability;
use serde::{Deserialize, Serialize};

/// A person's standing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantState {
    Granted,
    Denied,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub state: GrantState,
    pub decided_at: i64,
}

impl Grant {
    pub fn decided_at_text(&self) -> String {
        rfc3339(self.decided_at)
    }
}

/// What the person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Let the app use the scope.
    Grant,
    /// Refuse it; the app is told so and should not ask again.
    Deny,
    /// Withdraw any decision: back to undecided.
    Revoke,
}

fn grant_prefix(user_id: &str, app_id: &str) -> String {
    format!("{user_id}\0{app_id}\0")
}

impl Identity {
    /// The person's decision on `scope` in `app_id`, if any.
    pub fn grant(
        &self,
        user_id: &str,
        app_id: &str,
        scope: Capability,
    ) -> Result<Option<Grant>, IdentityError> {
        Ok(self
            .grants
            .get(&format!("{}{scope}", grant_prefix(user_id, app_id)))?)
    }

    /// Records a decision; returns the standing one (none after a revoke).
    /// The caller has checked that the app requests `scope`.
    pub fn decide(
        &self,
        user_id: &str,
        app_id: &str,
        scope: Capability,
        decision: Decision,
    ) -> Result<Option<Grant>, IdentityError> {
        let key = format!("{}{scope}", grant_prefix(user_id, app_id));
        let state = match decision {
            Decision::Grant => GrantState::Granted,
            Decision::Deny => GrantState::Denied,
            Decision::Revoke => {
                self.grants.remove(&key)?;
                return Ok(None);
            }
        };
        let grant = Grant {
            state,
            decided_at: now(),
        };
        self.grants.insert(&key, &grant)?;
        Ok(Some(grant))
    }

    /// Every decision the person made in `app_id`.
    pub fn grants_in(
        &self,
        user_id: &str,
        app_id: &str,
    ) -> Result<Vec<(Capability, Grant)>, IdentityError> {
        let prefix = grant_prefix(user_id, app_id);
        Ok(self
            .grants
            .scan_prefix(&prefix, false, usize::MAX, |_| true)?
            .into_iter()
            .filter_map(|(k, g)| Some((Capability::parse(&k[prefix.len()..])?, g)))
            .collect())
    }

    /// Every decision the person made, by app.
    pub fn grants_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, Capability, Grant)>, IdentityError> {
        let prefix = format!("{user_id}\0");
        Ok(self
            .grants
            .scan_prefix(&prefix, false, usize::MAX, |_| true)?
            .into_iter()
            .filter_map(|(k, g)| {
                let (app, scope) = k[prefix.len()..].split_once('\0')?;
                Some((app.to_string(), Capability::parse(scope)?, g))
            })
            .collect())
    }

    /// Forgets every decision the person made in `app_id`.
    pub fn erase_grants(&self, user_id: &str, app_id: &str) -> Result<usize, IdentityError> {
        Ok(self.grants.remove_prefix(&grant_prefix(user_id, app_id))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[test]
    fn a_denial_sticks_until_the_person_changes_it() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        let p = Capability::Profile;
        assert_eq!(id.grant("u", "shop", p)?, None);
        id.decide("u", "shop", p, Decision::Deny)?;
        assert_eq!(
            id.grant("u", "shop", p)?.map(|g| g.state),
            Some(GrantState::Denied)
        );
        assert_eq!(id.grant("u", "shopx", p)?, None, "per app");
        id.decide("u", "shop", p, Decision::Grant)?;
        assert_eq!(id.grants_in("u", "shop")?.len(), 1);
        id.decide("u", "shop", p, Decision::Revoke)?;
        assert_eq!(id.grant("u", "shop", p)?, None);
        id.decide("u", "shop", Capability::Notify, Decision::Grant)?;
        assert_eq!(id.erase_grants("u", "shop")?, 1);
        assert!(id.grants_of("u")?.is_empty());
        Ok(())
    }
}
