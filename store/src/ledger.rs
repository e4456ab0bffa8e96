//! The wallet's persistence on sled: one tree holding the batch journal,
//! each batch's transfers and the outbox of events for mini-apps. A batch is
//! one atomic sled batch followed by one flush, so a commit is durable and
//! all-or-nothing.

use super::{Db, StoreError};
use crate::{BatchRecord, Decide, Delivery, LedgerStore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use superapp_core::wallet::{Appended, Transfer, WalletError};

const TREE: &str = "ledger";
/// `j` + batch seq: the journal.
const JOURNAL: u8 = b'j';
/// `h` + batch seq: the transfers the batch appended (each account's history
/// is found through the wallet's in-memory index of batches per account).
const HISTORY: u8 = b'h';
/// `e` + event seq: an event waiting for delivery.
const OUTBOX: u8 = b'e';

/// The sled side of the ledger.
pub struct LedgerTree {
    db: sled::Db,
    tree: sled::Tree,
}

impl Db {
    /// The ledger's tree.
    pub fn ledger(&self) -> Result<LedgerTree, StoreError> {
        Ok(LedgerTree {
            db: self.db.clone(),
            tree: self.db.open_tree(TREE)?,
        })
    }
}

fn key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn encode<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

pub(crate) fn encode_compact<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

pub(crate) fn decode<V: DeserializeOwned>(k: &[u8], bytes: &[u8]) -> Result<V, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: TREE,
        key: String::from_utf8_lossy(k).into_owned(),
        detail: e.to_string(),
    })
}

impl LedgerTree {
    fn write(&self, batch: &BatchRecord, appended: &Appended) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(&key(JOURNAL, batch.seq), encode(batch)?);
        if !appended.transfers.is_empty() {
            // Derived data (the journal can rebuild it): compact encoding.
            b.insert(
                &key(HISTORY, batch.seq),
                encode_compact(&appended.transfers)?,
            );
        }
        for event in &appended.events {
            let d = Delivery {
                event: event.clone(),
                attempts: 0,
                // Due at once, whatever time the command ran as.
                next_at: i64::MIN,
                last_error: None,
                gave_up: false,
            };
            b.insert(&key(OUTBOX, event.seq), encode(&d)?);
        }
        self.tree.apply_batch(b)?;
        self.db.flush()?;
        Ok(())
    }
}

impl LedgerStore for LedgerTree {
    fn replay(
        &self,
        f: &mut dyn FnMut(BatchRecord) -> Result<(), WalletError>,
    ) -> Result<(), WalletError> {
        for item in self.tree.scan_prefix([JOURNAL]) {
            let (k, v) = item.map_err(StoreError::from)?;
            f(decode(&k, &v)?)?;
        }
        Ok(())
    }

    fn restore_events(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for d in deliveries {
            b.insert(&key(OUTBOX, d.event.seq), encode(d)?);
        }
        self.tree.apply_batch(b)?;
        self.db.flush()?;
        Ok(())
    }

    fn batches_after(&self, after: u64) -> Result<Vec<BatchRecord>, StoreError> {
        let from = key(JOURNAL, after.saturating_add(1));
        let to = key(JOURNAL, u64::MAX);
        self.tree
            .range(from..to)
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    fn commit_next(&self, after: u64, decide: Decide<'_>) -> Result<bool, WalletError> {
        // One process owns the folder and its one writer is the caller, so
        // the batches after `after` are only ever ones it has seen.
        let others = self.batches_after(after)?;
        let Some((batch, appended)) = decide(others)? else {
            return Ok(false);
        };
        self.write(&batch, &appended)?;
        Ok(true)
    }

    fn batch_transfers(&self, seq: u64) -> Result<Vec<Transfer>, StoreError> {
        let k = key(HISTORY, seq);
        match self.tree.get(k)? {
            Some(v) => decode(&k, &v),
            None => Ok(Vec::new()),
        }
    }

    fn due_events(&self, now: i64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for d in self.all_events()? {
            if out.len() == limit {
                break;
            }
            if !d.gave_up && d.next_at <= now {
                out.push(d);
            }
        }
        Ok(out)
    }

    fn all_events(&self) -> Result<Vec<Delivery>, StoreError> {
        self.tree
            .scan_prefix([OUTBOX])
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    fn event_delivered(&self, seq: u64) -> Result<(), StoreError> {
        self.tree.remove(key(OUTBOX, seq))?;
        Ok(())
    }

    fn event_failed(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.tree
            .insert(key(OUTBOX, delivery.event.seq), encode(delivery)?)?;
        Ok(())
    }
}
