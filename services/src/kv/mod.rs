//! Per-app key-value state: scopes, key rules, value size and app quotas.
//! The storage capability and (later) the HTTP API both come through here.

pub use crate::store::KvStore;
use crate::store::{KvWriteError, StoreError};
use std::sync::Arc;

pub use superapp_core::kv::{DEFAULT_LIST_LIMIT, MAX_KEY_BYTES, MAX_LIST_LIMIT};

/// Which space a key lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Shared by every user of the app.
    App,
    /// The calling user's private space in the app.
    User,
}

/// Whose storage an operation touches: the app, and the user of the call.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub app: &'a str,
    pub user: Option<&'a str>,
}

/// The limits of one app's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    pub quota_bytes: u64,
    pub value_bytes: u64,
}

/// Why a storage operation was refused. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("the user scope needs a signed-in user, and this call has none")]
    NoUser,
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KvError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            KvError::NoUser => "no-user",
            KvError::InvalidKey(_) => "invalid-key",
            KvError::QuotaExceeded(_) => "quota-exceeded",
            KvError::Store(e) => e.code(),
        }
    }
}

/// A page of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

/// The storage service.
#[derive(Clone)]
pub struct AppStorage {
    trees: Arc<dyn KvStore>,
}

fn check_key(key: &str) -> Result<(), KvError> {
    superapp_core::kv::check_key(key).map_err(KvError::InvalidKey)
}

fn check_value_size(value: &[u8], limits: StorageLimits) -> Result<(), KvError> {
    if value.len() as u64 > limits.value_bytes {
        return Err(KvError::QuotaExceeded(format!(
            "a value is at most {} bytes, this one has {}",
            limits.value_bytes,
            value.len()
        )));
    }
    Ok(())
}

fn write_error(e: KvWriteError) -> KvError {
    match e {
        KvWriteError::Quota { .. } => KvError::QuotaExceeded(e.to_string()),
        KvWriteError::Store(s) => KvError::Store(s),
    }
}

impl AppStorage {
    pub fn new(trees: Arc<dyn KvStore>) -> Self {
        AppStorage { trees }
    }

    fn user<'a>(owner: Owner<'a>, scope: Scope) -> Result<Option<&'a str>, KvError> {
        match scope {
            Scope::App => Ok(None),
            Scope::User => owner.user.map(Some).ok_or(KvError::NoUser),
        }
    }

    pub fn get(&self, owner: Owner, scope: Scope, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let user = Self::user(owner, scope)?;
        check_key(key)?;
        Ok(self.trees.get(owner.app, user, key)?)
    }

    pub fn set(
        &self,
        owner: Owner,
        scope: Scope,
        key: &str,
        value: &[u8],
        limits: StorageLimits,
    ) -> Result<(), KvError> {
        let user = Self::user(owner, scope)?;
        check_key(key)?;
        check_value_size(value, limits)?;
        self.trees
            .set(owner.app, user, key, value, limits.quota_bytes)
            .map_err(write_error)
    }

    /// Replaces the value under `key` with `new` (deletes it when `None`)
    /// only if it is `expected` now (`None`: absent); returns whether it did.
    pub fn swap(
        &self,
        owner: Owner,
        scope: Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        limits: StorageLimits,
    ) -> Result<bool, KvError> {
        let user = Self::user(owner, scope)?;
        check_key(key)?;
        if let Some(v) = new {
            check_value_size(v, limits)?;
        }
        self.trees
            .swap(owner.app, user, key, expected, new, limits.quota_bytes)
            .map_err(write_error)
    }

    pub fn delete(&self, owner: Owner, scope: Scope, key: &str) -> Result<bool, KvError> {
        let user = Self::user(owner, scope)?;
        check_key(key)?;
        Ok(self.trees.delete(owner.app, user, key)?)
    }

    pub fn list(
        &self,
        owner: Owner,
        scope: Scope,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        let user = Self::user(owner, scope)?;
        if prefix.len() > MAX_KEY_BYTES {
            return Err(KvError::InvalidKey(format!(
                "a prefix is at most {MAX_KEY_BYTES} bytes"
            )));
        }
        let limit = match limit {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        };
        let (keys, more) = self
            .trees
            .list(owner.app, user, prefix, cursor, limit as usize)?;
        let next_cursor = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next_cursor })
    }

    /// Bytes the app's storage uses.
    pub fn usage(&self, app: &str) -> Result<u64, KvError> {
        Ok(self.trees.usage(app)?)
    }

    /// Everything `user` stored in the app's user scope.
    pub fn user_entries(&self, app: &str, user: &str) -> Result<Vec<(String, Vec<u8>)>, KvError> {
        Ok(self.trees.user_entries(app, user)?)
    }

    /// Every app in which `user` stored something (installed or not).
    pub fn apps_with_user_data(
        &self,
        user: &str,
    ) -> Result<std::collections::BTreeSet<String>, KvError> {
        Ok(self.trees.apps_with_user_data(user)?)
    }

    /// Erases `user`'s user-scoped keys in the app (each delete keeps the
    /// app's usage counter exact); returns how many keys went.
    pub fn purge_user(&self, app: &str, user: &str) -> Result<usize, KvError> {
        let entries = self.trees.user_entries(app, user)?;
        for (key, _) in &entries {
            self.trees.delete(app, Some(user), key)?;
        }
        Ok(entries.len())
    }

    /// Erases all of the app's storage.
    pub fn purge_app(&self, app: &str) -> Result<(), KvError> {
        Ok(self.trees.purge_app(app)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    const LIMITS: StorageLimits = StorageLimits {
        quota_bytes: 100,
        value_bytes: 40,
    };

    fn owner(app: &str) -> Owner<'_> {
        Owner {
            app,
            user: Some("u1"),
        }
    }

    #[test]
    fn quota_counts_keys_and_values_and_rewrites_replace_old_sizes() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let kv = AppStorage::new(Arc::new(Db::open(dir.path())?.kv()?));
        let o = owner("a");
        kv.set(o, Scope::App, "k1", &[0; 38], LIMITS)?; // 40
        kv.set(o, Scope::User, "k2", &[0; 38], LIMITS)?; // 80
        kv.set(o, Scope::App, "k1", &[0; 18], LIMITS)?; // 60
        assert_eq!(kv.usage("a")?, 60);
        let err = kv.set(o, Scope::App, "k3", &[0; 39], LIMITS).err();
        assert!(matches!(err, Some(KvError::QuotaExceeded(_))), "{err:?}");
        let err = kv.set(o, Scope::App, "k4", &[0; 41], LIMITS).err();
        assert!(matches!(err, Some(KvError::QuotaExceeded(_))), "{err:?}");
        assert!(kv.delete(o, Scope::User, "k2")?);
        assert_eq!(kv.usage("a")?, 20);
        assert_eq!(kv.get(o, Scope::App, "k3")?, None);
        Ok(())
    }

    #[test]
    fn compare_and_swap_writes_only_over_the_expected_value_and_keeps_usage_exact()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let kv = AppStorage::new(Arc::new(Db::open(dir.path())?.kv()?));
        let o = owner("a");
        // Create only if absent, once.
        assert!(kv.swap(o, Scope::App, "stock", None, Some(b"5"), LIMITS)?);
        assert!(!kv.swap(o, Scope::App, "stock", None, Some(b"9"), LIMITS)?);
        // Replace only over what was read.
        assert!(!kv.swap(o, Scope::App, "stock", Some(b"4"), Some(b"3"), LIMITS)?);
        assert!(kv.swap(o, Scope::App, "stock", Some(b"5"), Some(b"4444"), LIMITS)?);
        assert_eq!(kv.get(o, Scope::App, "stock")?, Some(b"4444".to_vec()));
        assert_eq!(kv.usage("a")?, 9);
        // A value over the size limit, or a total over the quota: refused,
        // nothing written.
        let err = kv
            .swap(
                o,
                Scope::App,
                "stock",
                Some(b"4444"),
                Some(&[0; 41]),
                LIMITS,
            )
            .err();
        assert!(matches!(err, Some(KvError::QuotaExceeded(_))), "{err:?}");
        kv.set(o, Scope::App, "k1", &[0; 38], LIMITS)?;
        kv.set(o, Scope::App, "k2", &[0; 38], LIMITS)?;
        let err = kv
            .swap(o, Scope::App, "k3", None, Some(&[0; 20]), LIMITS)
            .err();
        assert!(matches!(err, Some(KvError::QuotaExceeded(_))), "{err:?}");
        assert_eq!(kv.get(o, Scope::App, "k3")?, None);
        assert_eq!(kv.usage("a")?, 89);
        kv.delete(o, Scope::App, "k1")?;
        kv.delete(o, Scope::App, "k2")?;
        // Delete only over what was read.
        assert!(kv.swap(o, Scope::App, "stock", Some(b"4444"), None, LIMITS)?);
        assert_eq!(kv.usage("a")?, 0);
        assert!(!kv.swap(o, Scope::App, "stock", Some(b"4444"), None, LIMITS)?);
        Ok(())
    }

    #[test]
    fn paging_walks_every_key_once_in_order() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let kv = AppStorage::new(Arc::new(Db::open(dir.path())?.kv()?));
        let big = StorageLimits {
            quota_bytes: 1 << 20,
            value_bytes: 1 << 10,
        };
        let o = owner("a");
        for i in 0..25 {
            kv.set(o, Scope::App, &format!("item/{i:02}"), b"v", big)?;
        }
        kv.set(o, Scope::App, "other", b"v", big)?;
        kv.set(owner("a-b"), Scope::App, "item/99", b"v", big)?;
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = kv.list(o, Scope::App, "item/", cursor.as_deref(), 10)?;
            seen.extend(page.keys);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25).map(|i| format!("item/{i:02}")).collect();
        assert_eq!(seen, expected);
        Ok(())
    }

    #[test]
    fn user_scope_without_a_user_is_refused_and_bad_keys_are_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let kv = AppStorage::new(Arc::new(Db::open(dir.path())?.kv()?));
        let anon = Owner {
            app: "a",
            user: None,
        };
        assert!(matches!(
            kv.get(anon, Scope::User, "k"),
            Err(KvError::NoUser)
        ));
        assert!(matches!(
            kv.get(anon, Scope::App, ""),
            Err(KvError::InvalidKey(_))
        ));
        assert!(matches!(
            kv.get(anon, Scope::App, "a\u{0}b"),
            Err(KvError::InvalidKey(_))
        ));
        Ok(())
    }
}
