//! The wallet's persistence on sled: one tree holding the batch journal,
//! each account's history and the outbox of events for mini-apps. A batch is
//! one atomic sled batch followed by one flush, so a commit is durable and
//! all-or-nothing.

use super::{Db, StoreError};
use crate::wallet::{Account, Appended, BatchRecord, Delivery, LedgerStore, Transfer, WalletError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

const TREE: &str = "ledger";
/// `j` + batch seq: the journal.
const JOURNAL: u8 = b'j';
/// `h` + account key + 0 + batch seq: that account's transfers in the batch.
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

fn history_prefix(account: &Account) -> Vec<u8> {
    let mut k = vec![HISTORY];
    k.extend_from_slice(account.key().as_bytes());
    k.push(0);
    k
}

fn encode<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

fn encode_compact<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

fn decode<V: DeserializeOwned>(k: &[u8], bytes: &[u8]) -> Result<V, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: TREE,
        key: String::from_utf8_lossy(k).into_owned(),
        detail: e.to_string(),
    })
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

    fn commit(&self, batch: &BatchRecord, appended: &Appended) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(&key(JOURNAL, batch.seq), encode(batch)?);
        let mut by_account: BTreeMap<&Account, Vec<&Transfer>> = BTreeMap::new();
        for t in &appended.transfers {
            for a in [&t.from, &t.to] {
                if !a.is_system() {
                    by_account.entry(a).or_default().push(t);
                }
            }
        }
        for (account, transfers) in by_account {
            let mut k = history_prefix(account);
            k.extend_from_slice(&batch.seq.to_be_bytes());
            // Derived data (rebuilt from the journal if need be): compact.
            b.insert(k, encode_compact(&transfers)?);
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

    fn history(
        &self,
        account: &Account,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Transfer>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(history_prefix(account)).rev() {
            let (k, v) = item?;
            let transfers: Vec<Transfer> = decode(&k, &v)?;
            for t in transfers.into_iter().rev() {
                if before.is_some_and(|b| t.seq >= b) {
                    continue;
                }
                if out.len() == limit {
                    return Ok(out);
                }
                out.push(t);
            }
        }
        Ok(out)
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
