//! `superapp:platform/storage`: per-app key-value state through the kv service.

use super::superapp::platform::storage::{Error, Host, KeyPage, Scope};
use super::{CallCaps, NOT_DECLARED, internal_problem, problem};
use crate::identity::AccessOutcome;
use crate::kv::{self, KvError, Owner};
use crate::packages::Capability;

impl CallCaps {
    fn storage_owner(&self) -> Result<Owner<'_>, Error> {
        if !self.grants.declared.contains(&Capability::Storage) {
            return Err(Error::Denied(problem(
                NOT_DECLARED,
                "the app's manifest does not declare the storage capability",
            )));
        }
        Ok(Owner {
            app: &self.grants.app_id,
            user: self.user.as_ref().map(|u| u.user_id.as_str()),
        })
    }
}

const USER_STORAGE: &str = "storage.user";

impl CallCaps {
    /// Notes a user-scoped storage call for the user's access log.
    fn note_storage<T>(&mut self, s: Scope, result: &Result<T, Error>) {
        if s != Scope::User {
            return;
        }
        let outcome = match result {
            Ok(_) => AccessOutcome::Allowed,
            Err(Error::Denied(_)) => AccessOutcome::Denied,
            Err(Error::NoUser) => return,
            Err(_) => AccessOutcome::Failed,
        };
        self.note(USER_STORAGE, outcome);
    }
}

fn scope(s: Scope) -> kv::Scope {
    match s {
        Scope::App => kv::Scope::App,
        Scope::User => kv::Scope::User,
    }
}

fn to_wit(e: KvError) -> Error {
    match &e {
        KvError::NoUser => Error::NoUser,
        KvError::InvalidKey(m) => Error::InvalidKey(problem(e.code(), m.clone())),
        KvError::QuotaExceeded(m) => Error::QuotaExceeded(problem(e.code(), m.clone())),
        KvError::Store(s) => {
            tracing::error!(error = %s, "storage capability failed");
            Error::Internal(internal_problem(s.code()))
        }
    }
}

impl Host for CallCaps {
    fn get(&mut self, s: Scope, key: String) -> Result<Option<Vec<u8>>, Error> {
        let result = self
            .storage_owner()
            .and_then(|owner| self.storage.get(owner, scope(s), &key).map_err(to_wit));
        self.note_storage(s, &result);
        result
    }

    fn set(&mut self, s: Scope, key: String, value: Vec<u8>) -> Result<(), Error> {
        let limits = self.grants.storage;
        let result = self.storage_owner().and_then(|owner| {
            self.storage
                .set(owner, scope(s), &key, &value, limits)
                .map_err(to_wit)
        });
        self.note_storage(s, &result);
        result
    }

    fn delete(&mut self, s: Scope, key: String) -> Result<bool, Error> {
        let result = self
            .storage_owner()
            .and_then(|owner| self.storage.delete(owner, scope(s), &key).map_err(to_wit));
        self.note_storage(s, &result);
        result
    }

    fn compare_and_swap(
        &mut self,
        s: Scope,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, Error> {
        let limits = self.grants.storage;
        let result = self.storage_owner().and_then(|owner| {
            self.storage
                .swap(
                    owner,
                    scope(s),
                    &key,
                    expected.as_deref(),
                    new.as_deref(),
                    limits,
                )
                .map_err(to_wit)
        });
        self.note_storage(s, &result);
        result
    }

    fn list_keys(
        &mut self,
        s: Scope,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, Error> {
        let result = self.storage_owner().and_then(|owner| {
            self.storage
                .list(owner, scope(s), &prefix, cursor.as_deref(), limit)
                .map_err(to_wit)
        });
        self.note_storage(s, &result);
        let page = result?;
        Ok(KeyPage {
            keys: page.keys,
            next_cursor: page.next_cursor,
        })
    }
}
