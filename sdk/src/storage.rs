//! Per-app key-value storage with typed JSON helpers. Two scopes: [`app`]
//! (shared by all users of the app) and [`user`] (the current user's own).

use crate::backend::storage as host;
pub use crate::bindings::superapp::platform::storage::Error as StorageError;
use crate::bindings::superapp::platform::storage::{self as raw, Scope};
use crate::http::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How often [`Store::update_json`] rereads a value others keep changing.
const MAX_UPDATE_TRIES: u32 = 64;

/// A handle on one storage scope.
#[derive(Debug, Clone, Copy)]
pub struct Store {
    scope: Scope,
}

/// The app-wide scope, shared by every user of this app.
pub fn app() -> Store {
    Store { scope: Scope::App }
}

/// The current user's private scope in this app. Operations fail with
/// [`StorageError::NoUser`] when the call has no user.
pub fn user() -> Store {
    Store { scope: Scope::User }
}

impl Store {
    /// The raw bytes under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        host::get(self.scope, key)
    }

    /// Stores raw bytes under `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        host::set(self.scope, key, value)
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        host::delete(self.scope, key)
    }

    /// Writes `new` (deletes the key when `None`) only if the key holds
    /// `expected` now (`None`: absent); returns whether it wrote. See
    /// [`Store::update_json`] for the usual read-modify-write loop.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        host::compare_and_swap(self.scope, key, expected, new)
    }

    /// Changes the JSON value under `key` safely against concurrent calls:
    /// `change` gets the current value (`None`: absent) and returns the new
    /// one (`None` deletes) or an error that leaves it untouched; if another
    /// call wrote in between, it runs again on the fresh value. Returns what
    /// was written.
    ///
    /// A visit counter that counts every visit, however many calls run at
    /// once (`get_json` then `set_json` would lose some):
    ///
    /// ```
    /// use superapp_sdk::{App, Error, Request, Response, Router, storage};
    ///
    /// fn visit(_: &Request) -> Result<Response, Error> {
    ///     let n = storage::app().update_json::<u64>("visits", |n| Ok(Some(n.unwrap_or(0) + 1)))?;
    ///     Ok(Response::json(&n.unwrap_or(0)))
    /// }
    ///
    /// struct Counter;
    /// impl App for Counter {
    ///     fn handle(req: Request) -> Response {
    ///         Router::new().post("/visits", visit).handle(req)
    ///     }
    /// }
    ///
    /// let host = superapp_sdk::mock::MockHost::<Counter>::new("counter");
    /// let ann = host.person("ann");
    /// host.post(&ann, "/visits", &serde_json::json!({}));
    /// assert_eq!(host.post(&ann, "/visits", &serde_json::json!({})).body_text(), "2");
    /// ```
    pub fn update_json<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<T>) -> Result<Option<T>, Error>,
    ) -> Result<Option<T>, Error> {
        for _ in 0..MAX_UPDATE_TRIES {
            let raw = self.get(key)?;
            let current = raw.as_deref().map(|b| decode(key, b)).transpose()?;
            let next = change(current)?;
            let bytes = next.as_ref().map(|v| encode(key, v)).transpose()?;
            if self.compare_and_swap(key, raw.as_deref(), bytes.as_deref())? {
                return Ok(next);
            }
        }
        Err(Error::new(
            503,
            "busy",
            format!("`{key}` kept changing under this call; try again"),
        ))
    }

    /// One page of keys starting with `prefix`, after `cursor`.
    pub fn list_page(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<raw::KeyPage, StorageError> {
        host::list_keys(self.scope, prefix, cursor, limit)
    }

    /// Every key starting with `prefix` (reads page by page).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page(prefix, cursor.as_deref(), 0)?;
            keys.extend(page.keys);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// The JSON value under `key`, decoded into `T`.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?.map(|b| decode(key, &b)).transpose()
    }

    /// Stores `value` as JSON under `key`.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        Ok(self.set(key, &encode(key, value)?)?)
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("stored value `{key}` is not valid: {e}")))
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("could not encode `{key}`: {e}")))
}

impl StorageError {
    /// The host's stable code and message (`invalid-key`, `quota-exceeded`,
    /// `capability-not-declared`…); none for `no-user`.
    pub fn problem(&self) -> Option<&crate::Problem> {
        match self {
            StorageError::NoUser => None,
            StorageError::Denied(p)
            | StorageError::InvalidKey(p)
            | StorageError::QuotaExceeded(p)
            | StorageError::Internal(p) => Some(p),
        }
    }

    /// A stable code for this error, as used in JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Denied(_) => "storage-denied",
            StorageError::NoUser => "sign-in-required",
            StorageError::InvalidKey(_) => "invalid-key",
            StorageError::QuotaExceeded(_) => "quota-exceeded",
            StorageError::Internal(_) => "storage-failed",
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        let status = match e {
            StorageError::Denied(_) => 403,
            StorageError::NoUser => 401,
            StorageError::InvalidKey(_) => 400,
            StorageError::QuotaExceeded(_) => 507,
            StorageError::Internal(_) => 500,
        };
        let message = match &e {
            StorageError::NoUser => "this needs a signed-in user".to_string(),
            StorageError::Denied(p)
            | StorageError::InvalidKey(p)
            | StorageError::QuotaExceeded(p)
            | StorageError::Internal(p) => p.message.clone(),
        };
        Error::new(status, e.code(), message)
    }
}
