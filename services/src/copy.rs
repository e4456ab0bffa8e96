//! Moving a deployment to another backend (an embedded data folder into a
//! database several hosts will share): every record tree, per-app storage,
//! the ledger's journal and outbox, the messenger and the installed apps'
//! files, into a target that must hold nothing yet; then both ledgers are
//! audited and every balance compared.

use crate::packages::Packages;
use crate::store::{Backend, MESSAGING_TREE, RecordStore, StoreError};
use crate::wallet::{Appended, Audit, Rules, Wallet, WalletError};
use std::path::Path;
use std::sync::Arc;

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger: {0}")]
    Wallet(#[from] WalletError),
    #[error("the target already holds data; a copy goes only into an empty store")]
    NotEmpty,
    #[error("after the copy the ledgers differ: {0}")]
    Differs(String),
}

impl CopyError {
    pub fn code(&self) -> &'static str {
        match self {
            CopyError::Store(e) => e.code(),
            CopyError::Wallet(e) => e.code(),
            CopyError::NotEmpty => "store-not-empty",
            CopyError::Differs(_) => "copy-differs",
        }
    }
}

/// What a copy moved, and the audit of the copy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    pub trees: usize,
    pub records: usize,
    pub kv_keys: usize,
    pub batches: u64,
    pub events: usize,
    pub messaging_records: usize,
    pub blobs: usize,
    pub audit: Audit,
    /// Accounts with money, each the same on both sides.
    pub balances: usize,
}

/// Rows one write of a tree copy takes.
const CHUNK: usize = 500;

/// Copies every record of `from` into `to`; returns how many, and the
/// highest id among keys ending in one (the messenger's `…/<16 hex>`).
fn copy_tree(from: &dyn RecordStore, to: &dyn RecordStore) -> Result<(usize, u64), StoreError> {
    let mut n = 0;
    let mut highest = 0;
    let mut chunk = Vec::with_capacity(CHUNK);
    for item in from.scan_prefix("", false) {
        let (k, v) = item?;
        if let Some(id) = k.rsplit('/').next().filter(|t| t.len() == 16)
            && let Ok(id) = u64::from_str_radix(id, 16)
        {
            highest = highest.max(id);
        }
        chunk.push((k, v));
        if chunk.len() == CHUNK {
            n += chunk.len();
            to.apply(std::mem::take(&mut chunk), Vec::new())?;
        }
    }
    n += chunk.len();
    if !chunk.is_empty() {
        to.apply(chunk, Vec::new())?;
    }
    Ok((n, highest))
}

/// Copies the deployment in `from` (whose folder is `from_dir`) into the
/// empty `to`, then audits both ledgers and compares every balance.
pub async fn copy_store(
    from: &Arc<dyn Backend>,
    from_dir: &Path,
    to: &Arc<dyn Backend>,
    rules: &Rules,
) -> Result<CopyReport, CopyError> {
    if !to.is_empty()? {
        return Err(CopyError::NotEmpty);
    }
    let mut records = 0;
    let trees = from.record_trees()?;
    for name in &trees {
        // Tree names are few and this runs once per process.
        let name: &'static str = Box::leak(name.clone().into_boxed_str());
        records += copy_tree(
            from.record_store(name)?.as_ref(),
            to.record_store(name)?.as_ref(),
        )?
        .0;
    }
    let (messaging_records, highest) = copy_tree(
        from.record_store(MESSAGING_TREE)?.as_ref(),
        to.record_store(MESSAGING_TREE)?.as_ref(),
    )?;
    to.reserve_ids(highest)?;

    let (src_kv, dst_kv) = (from.kv_store()?, to.kv_store()?);
    let entries = src_kv.export()?;
    for (app, user, key, value) in &entries {
        dst_kv
            .set(app, user.as_deref(), key, value, u64::MAX)
            .map_err(|e| match e {
                crate::store::KvWriteError::Store(s) => s,
                other => StoreError::Io(other.to_string()),
            })?;
    }

    let (src, dst) = (from.ledger_store()?, to.ledger_store()?);
    let mut batches = 0;
    src.replay(&mut |batch| {
        let appended = Appended {
            transfers: src.batch_transfers(batch.seq)?,
            events: Vec::new(),
        };
        dst.commit(&batch, &appended)?;
        batches += 1;
        Ok(())
    })?;
    let events = src.all_events()?;
    dst.restore_events(&events)?;

    let packages = Packages::open(from, from_dir)?;
    let (src_blobs, dst_blobs) = (from.blob_store(), to.blob_store());
    let names = packages.blob_names()?;
    for name in &names {
        let bytes = src_blobs
            .get(name)?
            .ok_or_else(|| StoreError::Io(format!("an installed app's file {name} is missing")))?;
        dst_blobs.put(name, &bytes)?;
    }
    to.bump_apps_version()?;
    to.flush_all()?;

    // Both ledgers replayed and audited (the target's tables in SQL too),
    // and every balance compared.
    let (before, after) = (
        Wallet::open(src, rules.clone())?,
        Wallet::open(dst, rules.clone())?,
    );
    let (audit_before, balances_before) = (
        before.audit().await?,
        before.read(|l| l.balances_where(|_| true)).await?,
    );
    let (audit_after, balances_after) = (
        after.audit().await?,
        after.read(|l| l.balances_where(|_| true)).await?,
    );
    if audit_before.totals != audit_after.totals {
        return Err(CopyError::Differs(format!(
            "totals {:?} became {:?}",
            audit_before.totals, audit_after.totals
        )));
    }
    if balances_before != balances_after {
        return Err(CopyError::Differs("balances differ".into()));
    }
    Ok(CopyReport {
        trees: trees.len(),
        records,
        kv_keys: entries.len(),
        batches,
        events: events.len(),
        messaging_records,
        blobs: names.len(),
        audit: audit_after,
        balances: balances_after.iter().filter(|(_, b)| *b != 0).count(),
    })
}
