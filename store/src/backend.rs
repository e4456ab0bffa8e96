//! Which backend holds a host's data: the embedded one (sled in the data
//! folder, the default) or a PostgreSQL-protocol database several hosts
//! share. Services open their stores through [`Backend`] and never learn
//! which it is.

use crate::{BlobStore, Db, KvStore, LedgerStore, MessagingStore, RecordStore, StoreError, Tree};
use std::path::Path;
use std::sync::Arc;

/// Where a host keeps its data, as an operator names it: a data folder
/// (the embedded default) or `postgres://…` / `postgresql://…`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreSpec {
    /// sled under the data folder.
    #[default]
    Embedded,
    /// A PostgreSQL-protocol database, by connection URL.
    Postgres(String),
}

impl StoreSpec {
    /// Reads an operator's `store` setting: `embedded` (or empty) or a
    /// `postgres://` URL.
    pub fn parse(text: &str) -> Result<StoreSpec, StoreError> {
        let t = text.trim();
        if t.is_empty() || t == "embedded" || t == "sled" {
            return Ok(StoreSpec::Embedded);
        }
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(t.to_string()));
        }
        Err(StoreError::InvalidStore(format!(
            "`{}` is neither `embedded` nor a postgres:// URL",
            crate::pg::redact(t)
        )))
    }

    /// How it is shown to people: a URL without its password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreSpec::Embedded => format!("embedded (sled in {})", data_dir.display()),
            StoreSpec::Postgres(url) => crate::pg::redact(url),
        }
    }
}

/// One backend: each store trait's implementation on it.
pub trait Backend: Send + Sync {
    /// The record store named `name` (identity, packages, trust…).
    fn record_store(&self, name: &'static str) -> Result<Arc<dyn RecordStore>, StoreError>;
    fn kv_store(&self) -> Result<Arc<dyn KvStore>, StoreError>;
    fn ledger_store(&self) -> Result<Arc<dyn LedgerStore>, StoreError>;
    fn messaging_store(&self) -> Result<Arc<dyn MessagingStore>, StoreError>;
    /// Installed apps' components and UI sections.
    fn blob_store(&self) -> Arc<dyn BlobStore>;
    /// Makes every write so far durable (a no-op where each write already is).
    fn flush_all(&self) -> Result<(), StoreError>;
    /// Whether several hosts may share this backend (then each host
    /// re-reads what others may have changed instead of trusting memory).
    fn shared(&self) -> bool;
    /// Takes (or renews) the lease `name` for `holder` until `now + ttl`
    /// seconds, unless another holder's lease is still running: background
    /// work that must run once, not once per host. Always granted where one
    /// process owns the backend.
    fn lease(&self, name: &str, holder: &str, now: i64, ttl: i64) -> Result<bool, StoreError>;
    /// A counter that moves whenever any host changes the installed apps,
    /// so every host can tell its loaded apps are stale.
    fn apps_version(&self) -> Result<u64, StoreError>;
    /// Moves that counter on (after an install, upgrade, rollback, removal).
    fn bump_apps_version(&self) -> Result<(), StoreError>;
    /// What this backend is, for people: never a password.
    fn describe(&self) -> String;
    /// (person, event id) of every live event with an id above `after`,
    /// oldest first, whichever host wrote it (at most 10,000 at a time):
    /// how a host wakes its streams for other hosts' events. Empty where
    /// one process owns the backend (it wakes its streams itself).
    fn live_events_after(&self, after: u64) -> Result<Vec<(String, u64)>, StoreError>;
    /// The newest live event's id, where following starts.
    fn newest_live_event(&self) -> Result<u64, StoreError>;
    /// Forgets which person the live events more than `keep` ids behind
    /// the newest were for (hosts follow from the newest; streams resume
    /// from the messenger's own records). Returns how many rows went.
    fn prune_live_events(&self, keep: u64) -> Result<u64, StoreError>;
    /// Woken when another host changed something (LISTEN/NOTIFY); none
    /// when the engine cannot notify and changes must be polled for.
    fn changes(&self) -> Option<Arc<tokio::sync::Notify>>;
    /// The names of the record trees that hold anything.
    fn record_trees(&self) -> Result<Vec<String>, StoreError>;
    /// Whether nothing at all is stored yet (a copy's target must be).
    fn is_empty(&self) -> Result<bool, StoreError>;
    /// Makes every messaging id handed out from now on greater than
    /// `above` (a copied deployment keeps counting where it was).
    fn reserve_ids(&self, above: u64) -> Result<(), StoreError>;
}

/// The messenger's tree, which every backend orders itself: not a plain
/// record tree to copy.
pub const MESSAGING_TREE: &str = "messaging";

impl dyn Backend + '_ {
    /// A typed tree of records.
    pub fn tree<V>(&self, name: &'static str) -> Result<Tree<V>, StoreError> {
        Ok(Tree::new(name, self.record_store(name)?))
    }
}

/// Opens the backend `spec` names; `data_dir` holds the embedded database
/// (and, for every backend, the host's own cache of compiled components).
pub fn open(spec: &StoreSpec, data_dir: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    match spec {
        StoreSpec::Embedded => Ok(Arc::new(Db::open(data_dir)?)),
        StoreSpec::Postgres(url) => {
            // The folder still holds this host's own files: compiled
            // components, and `serve.json` for the CLI.
            std::fs::create_dir_all(data_dir).map_err(|e| {
                StoreError::Io(format!(
                    "cannot create data folder {}: {e}",
                    data_dir.display()
                ))
            })?;
            Ok(Arc::new(crate::pg::Postgres::connect(url)?))
        }
    }
}

impl Backend for Db {
    fn record_store(&self, name: &'static str) -> Result<Arc<dyn RecordStore>, StoreError> {
        self.records(name)
    }
    fn kv_store(&self) -> Result<Arc<dyn KvStore>, StoreError> {
        Ok(Arc::new(self.kv()?))
    }
    fn ledger_store(&self) -> Result<Arc<dyn LedgerStore>, StoreError> {
        Ok(Arc::new(self.ledger()?))
    }
    fn messaging_store(&self) -> Result<Arc<dyn MessagingStore>, StoreError> {
        Ok(Arc::new(self.messaging()?))
    }
    fn blob_store(&self) -> Arc<dyn BlobStore> {
        self.blobs()
    }
    fn flush_all(&self) -> Result<(), StoreError> {
        self.flush()
    }
    fn shared(&self) -> bool {
        false
    }
    fn lease(&self, _: &str, _: &str, _: i64, _: i64) -> Result<bool, StoreError> {
        Ok(true)
    }
    fn apps_version(&self) -> Result<u64, StoreError> {
        // One process: its own changes are the only ones, and it reloads
        // an app as it changes it.
        Ok(0)
    }
    fn bump_apps_version(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn describe(&self) -> String {
        format!("embedded (sled in {})", self.data_dir().display())
    }
    fn live_events_after(&self, _: u64) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(Vec::new())
    }
    fn newest_live_event(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn prune_live_events(&self, _: u64) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    fn record_trees(&self) -> Result<Vec<String>, StoreError> {
        self.record_tree_names()
    }
    fn is_empty(&self) -> Result<bool, StoreError> {
        self.holds_nothing()
    }
    fn reserve_ids(&self, above: u64) -> Result<(), StoreError> {
        self.reserve_messaging_ids(above)
    }
}
