//! `superapp:platform/identity`: the current person's profile, only with
//! their grant of the `profile` scope. Every call is noted for the person's
//! access log, allowed or not.

use super::superapp::platform::identity::{Denial, Error, Host, UserProfile};
use super::{CallCaps, internal_problem};
use crate::identity::{AccessOutcome, GrantState};
use crate::packages::Capability;

const PROFILE: &str = "identity.profile";

impl CallCaps {
    fn read_profile(&self) -> Result<UserProfile, Error> {
        let user = self.user.as_ref().ok_or(Error::NoUser)?;
        if !self.grants.declared.contains(&Capability::Profile) {
            return Err(Error::Denied(Denial::NotGranted));
        }
        let internal = |e: crate::identity::IdentityError| {
            tracing::error!(error = %e, "identity capability failed");
            Error::Internal(internal_problem(e.code()))
        };
        let grant = self
            .identity
            .grant(&user.user_id, &self.grants.app_id, Capability::Profile)
            .map_err(internal)?;
        match grant.map(|g| g.state) {
            None => return Err(Error::Denied(Denial::NotGranted)),
            Some(GrantState::Denied) => return Err(Error::Denied(Denial::Refused)),
            Some(GrantState::Granted) => {}
        }
        let person = self
            .identity
            .user(&user.user_id)
            .map_err(internal)?
            .ok_or_else(|| Error::Internal(internal_problem("unknown-user")))?;
        Ok(UserProfile {
            verified: person.verification.is_some(),
            is_minor: person.is_minor(),
            display_name: person.display_name,
        })
    }
}

impl Host for CallCaps {
    fn profile(&mut self) -> Result<UserProfile, Error> {
        let result = self.read_profile();
        let outcome = match &result {
            Ok(_) => AccessOutcome::Allowed,
            Err(Error::Denied(_)) => AccessOutcome::Denied,
            Err(Error::NoUser) => return result,
            Err(Error::Internal(_)) => AccessOutcome::Failed,
        };
        self.note(PROFILE, outcome);
        result
    }
}
