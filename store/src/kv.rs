//! Key layout and atomic quota accounting for per-app key-value storage.
//!
//! `kv`:       app_id 0x00 'a' key            (app scope)
//!             app_id 0x00 'u' user_id 0x00 key (user scope)
//! `kv_usage`: app_id -> u64 big-endian bytes used (sum of key + value lengths)
//!
//! App ids and user ids never contain 0x00 (their charset is checked where
//! they are made), so one app's prefix can never reach into another's.

use super::StoreError;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

/// A write refused by the store.
#[derive(Debug, thiserror::Error)]
pub enum KvWriteError {
    #[error("the app's storage would grow to {would_use} bytes, over its quota of {quota} bytes")]
    Quota { would_use: u64, quota: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The trees behind per-app storage.
#[derive(Clone)]
pub struct KvTrees {
    data: sled::Tree,
    usage: sled::Tree,
}

fn scope_prefix(app: &str, user: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(app.len() + 40);
    k.extend_from_slice(app.as_bytes());
    k.push(0);
    match user {
        None => k.push(b'a'),
        Some(u) => {
            k.push(b'u');
            k.extend_from_slice(u.as_bytes());
            k.push(0);
        }
    }
    k
}

fn full_key(app: &str, user: Option<&str>, key: &str) -> Vec<u8> {
    let mut k = scope_prefix(app, user);
    k.extend_from_slice(key.as_bytes());
    k
}

fn app_prefix(app: &str) -> Vec<u8> {
    let mut k = app.as_bytes().to_vec();
    k.push(0);
    k
}

fn read_u64(v: Option<sled::IVec>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl KvTrees {
    pub(super) fn open(db: &sled::Db) -> Result<KvTrees, StoreError> {
        Ok(KvTrees {
            data: db.open_tree("kv")?,
            usage: db.open_tree("kv_usage")?,
        })
    }

    /// `set` (no `condition`) and `swap` (write only over `condition`).
    fn write(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        condition: Option<Option<&[u8]>>,
        new: Option<&[u8]>,
        quota: u64,
    ) -> Result<bool, KvWriteError> {
        let k = full_key(app, user, key);
        let result = (&self.data, &self.usage).transaction(|(data, usage)| {
            let current = data.get(&k)?;
            if condition.is_some_and(|expected| current.as_deref() != expected) {
                return Ok(false);
            }
            let size = |v: Option<&[u8]>| v.map_or(0, |v| (key.len() + v.len()) as u64);
            let (old_size, new_size) = (size(current.as_deref()), size(new));
            let used = read_u64(usage.get(app.as_bytes())?);
            let would_use = used.saturating_sub(old_size) + new_size;
            if would_use > quota && new_size > old_size {
                return Err(ConflictableTransactionError::Abort(KvWriteError::Quota {
                    would_use,
                    quota,
                }));
            }
            match new {
                Some(v) => data.insert(k.as_slice(), v)?,
                None => data.remove(k.as_slice())?,
            };
            usage.insert(app.as_bytes(), &would_use.to_be_bytes())?;
            Ok(true)
        });
        match result {
            Ok(done) => Ok(done),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(KvWriteError::Store(e.into())),
        }
    }
}

/// The sled backend of per-app storage.
impl crate::KvStore for KvTrees {
    /// The value under `key` in the given scope.
    fn get(&self, app: &str, user: Option<&str>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.get(full_key(app, user, key))?.map(|v| v.to_vec()))
    }

    /// Writes `value` under `key`, atomically with the app's usage counter.
    /// Refused if the app's total would exceed `quota` (a write that shrinks
    /// usage is always allowed, so an app over a lowered quota can clean up).
    fn set(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<(), KvWriteError> {
        self.write(app, user, key, None, Some(value), quota)
            .map(|_| ())
    }

    /// Writes `new` under `key` (deletes it when `None`) only if the key
    /// holds `expected` now (`None`: absent), atomically with the usage
    /// counter. Returns whether it wrote; a quota refusal as in `set`.
    fn swap(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        quota: u64,
    ) -> Result<bool, KvWriteError> {
        self.write(app, user, key, Some(expected), new, quota)
    }

    /// Deletes `key`; returns whether it existed.
    fn delete(&self, app: &str, user: Option<&str>, key: &str) -> Result<bool, StoreError> {
        let k = full_key(app, user, key);
        let result = (&self.data, &self.usage).transaction(|(data, usage)| {
            let Some(old) = data.remove(k.as_slice())? else {
                return Ok(false);
            };
            let used = read_u64(usage.get(app.as_bytes())?);
            let left = used.saturating_sub((key.len() + old.len()) as u64);
            usage.insert(app.as_bytes(), &left.to_be_bytes())?;
            Ok(true)
        });
        result.map_err(|e: TransactionError<()>| match e {
            TransactionError::Abort(()) => StoreError::Io("delete aborted".into()),
            TransactionError::Storage(e) => e.into(),
        })
    }

    /// Up to `limit` keys starting with `prefix`, strictly after `after`.
    /// The flag says whether more keys follow.
    fn list(
        &self,
        app: &str,
        user: Option<&str>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let scope = scope_prefix(app, user);
        let mut start = scope.clone();
        start.extend_from_slice(prefix.as_bytes());
        let mut keys = Vec::new();
        let range = match after {
            Some(a) if a.as_bytes() >= prefix.as_bytes() => {
                let mut from = scope.clone();
                from.extend_from_slice(a.as_bytes());
                from.push(0); // the smallest key strictly after `a`
                self.data.range(from..)
            }
            _ => self.data.range(start.clone()..),
        };
        for item in range {
            let (k, _) = item?;
            if !k.starts_with(&start) {
                break;
            }
            if keys.len() == limit {
                return Ok((keys, true));
            }
            keys.push(String::from_utf8_lossy(&k[scope.len()..]).into_owned());
        }
        Ok((keys, false))
    }

    /// Every key and value `user` holds in the app's user scope, in key order.
    fn user_entries(&self, app: &str, user: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let scope = scope_prefix(app, Some(user));
        self.data
            .scan_prefix(&scope)
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k[scope.len()..]).into_owned(),
                    v.to_vec(),
                ))
            })
            .collect()
    }

    /// Bytes the app's storage uses (keys plus values, all scopes).
    fn usage(&self, app: &str) -> Result<u64, StoreError> {
        Ok(read_u64(self.usage.get(app.as_bytes())?))
    }

    /// Every app in which `user` holds user-scoped keys. A full scan (there
    /// is no per-user index): meant for exports, not hot paths.
    fn apps_with_user_data(
        &self,
        user: &str,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut marker = vec![b'u'];
        marker.extend_from_slice(user.as_bytes());
        marker.push(0);
        let mut apps = std::collections::BTreeSet::new();
        for item in self.data.iter().keys() {
            let key = item?;
            if let Some(at) = key.iter().position(|b| *b == 0)
                && key[at + 1..].starts_with(&marker)
            {
                apps.insert(String::from_utf8_lossy(&key[..at]).into_owned());
            }
        }
        Ok(apps)
    }

    fn export(&self) -> Result<Vec<crate::KvEntry>, StoreError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut out = Vec::new();
        for item in self.data.iter() {
            let (k, v) = item?;
            let corrupt = || StoreError::Corrupt {
                tree: "kv",
                key: text(&k),
                detail: "not an app key".into(),
            };
            let at = k.iter().position(|b| *b == 0).ok_or_else(corrupt)?;
            let (app, rest) = (text(&k[..at]), &k[at + 1..]);
            match rest.split_first() {
                Some((b'a', key)) => out.push((app, None, text(key), v.to_vec())),
                Some((b'u', rest)) => {
                    let end = rest.iter().position(|b| *b == 0).ok_or_else(corrupt)?;
                    out.push((
                        app,
                        Some(text(&rest[..end])),
                        text(&rest[end + 1..]),
                        v.to_vec(),
                    ));
                }
                _ => return Err(corrupt()),
            }
        }
        Ok(out)
    }

    /// Erases every key of the app, in both scopes.
    fn purge_app(&self, app: &str) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for item in self.data.scan_prefix(app_prefix(app)) {
            batch.remove(item?.0);
        }
        self.data.apply_batch(batch)?;
        self.usage.remove(app.as_bytes())?;
        Ok(())
    }
}
