//! superapp-store: the storage traits every service persists through, and
//! the embedded backend on sled — the only crate that knows sled exists. It
//! owns the tree names, the key layout and the rmp-serde codec; services
//! see the traits and typed trees, never sled itself.

mod backend;
mod blobs;
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
mod kv;
mod ledger;
mod messaging;
pub mod pg;
mod traits;

pub use backend::{Backend, MESSAGING_TREE, StoreSpec, open};

pub use blobs::{FileBlobs, write_atomic};
pub use traits::*;

pub use kv::{KvTrees, KvWriteError};
pub use ledger::LedgerTree;
pub use messaging::{MessagingTree, MessagingWrite, OrderedWrites};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What went wrong in the store. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data folder {dir} is in use by another superapp process (stop `superapp serve` first)"
    )]
    Locked { dir: PathBuf },
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored record `{key}` in `{tree}` cannot be decoded: {detail}")]
    Corrupt {
        tree: &'static str,
        key: String,
        detail: String,
    },
    #[error("invalid store: {0}")]
    InvalidStore(String),
    #[error(
        "the database's schema is version {found}, newer than this host knows ({known}): upgrade superapp first"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error("{0}")]
    NotEmpty(String),
}

impl StoreError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Locked { .. } => "data-dir-locked",
            StoreError::Io(_) => "storage-io",
            StoreError::Corrupt { .. } => "storage-corrupt",
            StoreError::InvalidStore(_) => "invalid-store",
            StoreError::SchemaTooNew { .. } => "schema-too-new",
            StoreError::NotEmpty(_) => "store-not-empty",
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// How long `Db::open` waits for a folder another holder is releasing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The open database under `DATA/db`. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    db: sled::Db,
    dir: PathBuf,
    /// The messenger, made once: it owns the redo log's file.
    messaging: Arc<std::sync::Mutex<Option<MessagingTree>>>,
}

impl Db {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Db, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create data folder {}: {e}",
                data_dir.display()
            ))
        })?;
        // sled releases its file lock only when its last background task
        // ends, a moment after the previous holder (another command in this
        // process, or one that is exiting) closed it; wait briefly for that.
        let mut wait = std::time::Duration::from_millis(5);
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            match Self::open_once(data_dir) {
                Err(StoreError::Locked { .. }) if waited < LOCK_WAIT => {
                    std::thread::sleep(wait);
                    waited += wait;
                    wait = (wait * 2).min(std::time::Duration::from_millis(200));
                }
                other => break other?,
            }
        };
        let db = Db {
            db,
            dir: data_dir.to_path_buf(),
            messaging: Default::default(),
        };
        // Before anyone reads: messages acknowledged before a crash.
        db.replay_messaging_log()?;
        Ok(db)
    }

    fn open_once(data_dir: &Path) -> Result<sled::Db, StoreError> {
        sled::Config::new()
            .path(data_dir.join("db"))
            .open()
            .map_err(|e| match e {
                // sled reports its file lock being held as an I/O error
                // with this text (kind `Other`), so the text is all we have.
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        dir: data_dir.to_path_buf(),
                    }
                }
                other => StoreError::Io(format!(
                    "cannot open the database in {}: {other}",
                    data_dir.display()
                )),
            })
    }

    /// The data folder this database lives in.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Installed apps' files, in the data folder beside the database.
    pub fn blobs(&self) -> Arc<dyn BlobStore> {
        Arc::new(FileBlobs::new(&self.dir))
    }

    /// A typed tree of records.
    pub fn tree<V>(&self, name: &'static str) -> Result<Tree<V>, StoreError> {
        Ok(Tree::new(name, self.records(name)?))
    }

    /// The record store named `name`, untyped.
    pub fn records(&self, name: &'static str) -> Result<Arc<dyn RecordStore>, StoreError> {
        Ok(Arc::new(SledRecords {
            tree: self.db.open_tree(name)?,
        }))
    }

    /// The trees behind per-app key-value storage.
    pub fn kv(&self) -> Result<KvTrees, StoreError> {
        KvTrees::open(&self.db)
    }

    /// The trees holding records (not sled's own, not the ledger's, the
    /// messenger's or per-app storage's, which have their own layouts).
    fn record_tree_names(&self) -> Result<Vec<String>, StoreError> {
        let special = ["__sled__default", "ledger", "kv", "kv_usage", "messaging"];
        let mut names = Vec::new();
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if special.contains(&name.as_str()) {
                continue;
            }
            if !self.db.open_tree(&name)?.is_empty() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn holds_nothing(&self) -> Result<bool, StoreError> {
        for name in self.db.tree_names() {
            if !self.db.open_tree(&name)?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn reserve_messaging_ids(&self, above: u64) -> Result<(), StoreError> {
        // sled's id generator only moves forward one id at a time; a copy
        // never targets the embedded backend, so refuse a jump it cannot make.
        if self.db.generate_id()? + 1 > above {
            return Ok(());
        }
        Err(StoreError::Io(format!(
            "cannot move the embedded backend's ids past {above}"
        )))
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// A named map from string keys to bytes: what a backend provides under
/// the services' typed record trees (identity, packages). [`Tree`] adds
/// the encoding on top, so a backend never sees a record type.
pub trait RecordStore: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn insert(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    /// Removes the value under `key`, returning it.
    fn remove(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes `new` (`None` removes) only if the value is `expected` now
    /// (`None`: absent); says whether it did.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError>;
    /// Entries whose key starts with `prefix`, in key order (`rev`: from
    /// the end), read lazily.
    fn scan_prefix<'a>(&'a self, prefix: &str, rev: bool) -> Entries<'a>;
    /// Entries with keys in [`lo`, `hi`), in key order (`rev`: from the
    /// end), read lazily.
    fn range<'a>(&'a self, lo: &str, hi: &str, rev: bool) -> Entries<'a>;
    /// The first `limit` entries of each range [`lo`, `hi`) (`rev`: the
    /// last), in the order of `ranges`; in one round trip where the backend
    /// has them (a person's stream reads a range per conversation).
    fn ranges(
        &self,
        ranges: &[(String, String)],
        limit: usize,
        rev: bool,
    ) -> Result<Vec<Range>, StoreError> {
        ranges
            .iter()
            .map(|(lo, hi)| self.range(lo, hi, rev).take(limit).collect())
            .collect()
    }
    /// Writes `puts` and removes `removes` all at once, or none of them.
    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError>;
}

/// One range's entries, as [`RecordStore::ranges`] reads them.
pub type Range = Vec<(String, Vec<u8>)>;

/// What [`RecordStore::scan_prefix`] yields.
pub type Entries<'a> = Box<dyn Iterator<Item = Result<(String, Vec<u8>), StoreError>> + 'a>;

fn sled_entries<'a>(iter: sled::Iter, rev: bool) -> Entries<'a> {
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if rev {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    Box::new(iter.map(|item| {
        let (k, v) = item?;
        Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
    }))
}

/// The sled backend of a record tree.
struct SledRecords {
    tree: sled::Tree,
}

impl RecordStore for SledRecords {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key.as_bytes())?.map(|v| v.to_vec()))
    }
    fn insert(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.tree.insert(key.as_bytes(), value)?;
        Ok(())
    }
    fn remove(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.remove(key.as_bytes())?.map(|v| v.to_vec()))
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .tree
            .compare_and_swap(key.as_bytes(), expected, new)?
            .is_ok())
    }
    fn scan_prefix<'a>(&'a self, prefix: &str, rev: bool) -> Entries<'a> {
        sled_entries(self.tree.scan_prefix(prefix.as_bytes()), rev)
    }
    fn range<'a>(&'a self, lo: &str, hi: &str, rev: bool) -> Entries<'a> {
        sled_entries(self.tree.range(lo.as_bytes()..hi.as_bytes()), rev)
    }
    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in puts {
            batch.insert(k.as_bytes(), v);
        }
        for k in removes {
            batch.remove(k.as_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

/// A tree whose values are `V`, encoded with rmp-serde (named fields, so
/// records can gain optional fields later), over any [`RecordStore`].
pub struct Tree<V> {
    name: &'static str,
    store: Arc<dyn RecordStore>,
    _v: PhantomData<fn() -> V>,
}

impl<V> Clone for Tree<V> {
    fn clone(&self) -> Self {
        Tree {
            name: self.name,
            store: self.store.clone(),
            _v: PhantomData,
        }
    }
}

impl<V> Tree<V> {
    /// The tree `name` over `store`.
    pub fn new(name: &'static str, store: Arc<dyn RecordStore>) -> Tree<V> {
        Tree {
            name,
            store,
            _v: PhantomData,
        }
    }
}

impl<V: Serialize + DeserializeOwned> Tree<V> {
    fn decode(&self, key: &str, bytes: &[u8]) -> Result<V, StoreError> {
        rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            tree: self.name,
            key: key.to_string(),
            detail: e.to_string(),
        })
    }

    fn encode(value: &V) -> Result<Vec<u8>, StoreError> {
        rmp_serde::to_vec_named(value).map_err(|e| StoreError::Io(format!("encode: {e}")))
    }

    /// The record under `key`.
    pub fn get(&self, key: &str) -> Result<Option<V>, StoreError> {
        match self.store.get(key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the record under `key`.
    pub fn insert(&self, key: &str, value: &V) -> Result<(), StoreError> {
        self.store.insert(key, Self::encode(value)?)
    }

    /// Writes the record only if `key` is absent; returns false if it existed.
    pub fn insert_new(&self, key: &str, value: &V) -> Result<bool, StoreError> {
        self.store
            .compare_and_swap(key, None, Some(Self::encode(value)?))
    }

    /// Removes the record under `key`, returning it.
    pub fn remove(&self, key: &str) -> Result<Option<V>, StoreError> {
        match self.store.remove(key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every record, in key order.
    pub fn all(&self) -> Result<Vec<(String, V)>, StoreError> {
        self.store
            .scan_prefix("", false)
            .map(|item| {
                let (k, v) = item?;
                let value = self.decode(&k, &v)?;
                Ok((k, value))
            })
            .collect()
    }

    /// Records whose key starts with `prefix`, in key order (newest last
    /// for time-ordered keys); `rev` walks from the end. Stops after `limit`
    /// records that pass `keep`.
    pub fn scan_prefix(
        &self,
        prefix: &str,
        rev: bool,
        limit: usize,
        mut keep: impl FnMut(&V) -> bool,
    ) -> Result<Vec<(String, V)>, StoreError> {
        let mut out = Vec::new();
        for item in self.store.scan_prefix(prefix, rev) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let value = self.decode(&k, &v)?;
            if keep(&value) {
                out.push((k, value));
            }
        }
        Ok(out)
    }

    /// Removes every record whose key starts with `prefix`; returns how many.
    pub fn remove_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let keys = self
            .store
            .scan_prefix(prefix, false)
            .map(|item| item.map(|(k, _)| k))
            .collect::<Result<Vec<_>, _>>()?;
        let n = keys.len();
        self.store.apply(Vec::new(), keys)?;
        Ok(n)
    }

    /// Writes several records at once (all or none).
    pub fn insert_all(&self, records: &[(String, V)]) -> Result<(), StoreError> {
        let puts = records
            .iter()
            .map(|(k, v)| Ok((k.clone(), Self::encode(v)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.store.apply(puts, Vec::new())
    }

    /// Replaces the record under `key` with `f(current)` atomically (retried
    /// on a concurrent change). `f` returning `None` removes it.
    pub fn update<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<V>) -> (Option<V>, T),
    ) -> Result<T, StoreError> {
        loop {
            let old = self.store.get(key)?;
            let current = match &old {
                Some(bytes) => Some(self.decode(key, bytes)?),
                None => None,
            };
            let (new, out) = f(current);
            let new = match new {
                Some(v) => Some(Self::encode(&v)?),
                None => None,
            };
            if self.store.compare_and_swap(key, old.as_deref(), new)? {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_the_database() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let db = Db::open(dir.path())?;
            let tree: Tree<Vec<String>> = db.tree("t")?;
            tree.insert("k", &vec!["a".to_string()])?;
            assert!(!tree.insert_new("k", &vec![])?);
            db.flush()?;
        }
        let db = Db::open(dir.path())?;
        let tree: Tree<Vec<String>> = db.tree("t")?;
        assert_eq!(tree.get("k")?, Some(vec!["a".to_string()]));
        Ok(())
    }

    #[test]
    fn a_second_open_of_the_same_folder_is_refused_as_locked() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let _db = Db::open(dir.path())?;
        let err = Db::open(dir.path()).err();
        assert!(
            matches!(err, Some(StoreError::Locked { .. })),
            "got {err:?}"
        );
        Ok(())
    }
}
