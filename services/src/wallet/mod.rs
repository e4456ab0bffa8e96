//! The wallet service: one ledger, written by one thread that batches
//! commands into a single durable commit (group commit) and acknowledges
//! only after it. It knows nothing of sled, HTTP or wasmtime; it persists
//! through [`LedgerStore`] and must never acknowledge what is not durable.

// The rules (ledger, types, split, errors) are core's; this module runs them.
#[cfg(any(test, feature = "model"))]
pub use superapp_core::wallet::model;
pub use superapp_core::wallet::*;

use crate::store::StoreError;
// The journal's records and the trait a backend implements are the store's.
pub use crate::store::{BatchRecord, Delivery, Entry, LedgerStore, digest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use tokio::sync::{Notify, oneshot};

/// The identity's refusals as the wallet reports them.
impl From<crate::identity::IdentityError> for WalletError {
    fn from(e: crate::identity::IdentityError) -> Self {
        match e {
            crate::identity::IdentityError::UnknownUser(h) => WalletError::UnknownUser(h),
            crate::identity::IdentityError::Store(s) => s.into(),
            other => WalletError::Internal(other.to_string()),
        }
    }
}

/// Largest number of jobs one group commit takes.
const MAX_BATCH: usize = 4096;

type Read = Box<dyn FnOnce(&Ledger) + Send>;

enum Job {
    Command {
        entry: Entry,
        reply: oneshot::Sender<Result<Outcome, WalletError>>,
    },
    Read(Read),
}

/// Which batches touched each account, oldest first: rebuilt by the replay
/// and extended after each commit, so history costs no extra key per write.
type HistoryIndex = HashMap<Account, Vec<u64>>;

fn index_batch(index: &mut HistoryIndex, seq: u64, transfers: &[Transfer]) {
    for t in transfers {
        for a in [&t.from, &t.to] {
            if a.is_system() {
                continue;
            }
            let seqs = index.entry(a.clone()).or_default();
            if seqs.last() != Some(&seq) {
                seqs.push(seq);
            }
        }
    }
}

struct Inner {
    tx: Option<mpsc::Sender<Job>>,
    index: Arc<RwLock<HistoryIndex>>,
    writer: Option<std::thread::JoinHandle<()>>,
    store: Arc<dyn LedgerStore>,
    rules: Rules,
    events: Arc<Notify>,
}

impl Drop for Inner {
    // Closing the channel ends the writer; waiting for it releases the store.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The running wallet. Cheap to clone.
#[derive(Clone)]
pub struct Wallet {
    inner: Arc<Inner>,
}

/// What an audit found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audit {
    pub totals: Totals,
    pub batches: u64,
}

impl Wallet {
    /// Rebuilds the ledger by replaying the journal (checking every batch
    /// appends what it recorded) and starts the writer.
    pub fn open(store: Arc<dyn LedgerStore>, rules: Rules) -> Result<Wallet, WalletError> {
        let (mut ledger, next_batch, index) = rebuild(store.as_ref(), &rules)?;
        ledger.set_rules(rules.clone());
        let index = Arc::new(RwLock::new(index));
        let events = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel();
        let writer = {
            let store = store.clone();
            let events = events.clone();
            let rules = rules.clone();
            let index = index.clone();
            let start = Start {
                ledger,
                next_batch,
                index,
            };
            std::thread::Builder::new()
                .name("ledger-writer".into())
                .spawn(move || write_loop(start, store, rules, rx, events))
                .map_err(|e| {
                    WalletError::Internal(format!("cannot start the ledger writer: {e}"))
                })?
        };
        Ok(Wallet {
            inner: Arc::new(Inner {
                tx: Some(tx),
                index,
                writer: Some(writer),
                store,
                rules,
                events,
            }),
        })
    }

    pub fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    /// Runs `cmd` now; answers once it is durable.
    pub async fn execute(&self, cmd: Command) -> Result<Outcome, WalletError> {
        self.execute_at(cmd, crate::identity::now()).await
    }

    /// Runs `cmd` as of `now` (unix seconds): tests and the sweeper use it.
    pub async fn execute_at(&self, cmd: Command, now: i64) -> Result<Outcome, WalletError> {
        // Checked here, not in the ledger: journals written before this rule
        // must still replay as they were decided.
        cmd.check_shown_texts()?;
        let fresh = Fresh::for_command(&cmd, |b| rand::RngCore::fill_bytes(&mut rand::rng(), b));
        let (reply, rx) = oneshot::channel();
        self.send(Job::Command {
            entry: Entry { cmd, fresh, now },
            reply,
        })?;
        rx.await.map_err(|_| WalletError::Unavailable)?
    }

    /// Reads committed state (after the batch in flight is durable).
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> R + Send + 'static,
    ) -> Result<R, WalletError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Read(Box::new(move |l| {
            let _ = tx.send(f(l));
        })))?;
        rx.await.map_err(|_| WalletError::Unavailable)
    }

    fn send(&self, job: Job) -> Result<(), WalletError> {
        self.inner
            .tx
            .as_ref()
            .ok_or(WalletError::Unavailable)?
            .send(job)
            .map_err(|_| WalletError::Unavailable)
    }

    /// An account's transfers, newest first, below the `before` sequence.
    pub fn history(
        &self,
        account: &Account,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Transfer>, WalletError> {
        let batches = match self.inner.index.read() {
            Ok(index) => index.get(account).cloned().unwrap_or_default(),
            Err(_) => return Err(WalletError::Unavailable),
        };
        let mut out = Vec::new();
        for seq in batches.into_iter().rev() {
            let transfers = self.inner.store.batch_transfers(seq)?;
            for t in transfers.into_iter().rev() {
                let mine = &t.from == account || &t.to == account;
                if !mine || before.is_some_and(|b| t.seq >= b) {
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

    /// Replays the whole journal into a fresh ledger and compares it with
    /// the live one: balances, totals and every invariant.
    pub async fn audit(&self) -> Result<Audit, WalletError> {
        let store = self.inner.store.clone();
        let rules = self.inner.rules.clone();
        // The replay runs on the writer thread so no batch lands halfway.
        self.read(move |live| {
            let (fresh, next, _) = rebuild(store.as_ref(), &rules)?;
            fresh.check_invariants().map_err(WalletError::Corrupt)?;
            live.check_invariants().map_err(WalletError::Corrupt)?;
            if fresh.totals() != live.totals()
                || fresh.balances_where(|_| true) != live.balances_where(|_| true)
            {
                return Err(WalletError::Corrupt(
                    "the journal and the running ledger disagree".into(),
                ));
            }
            Ok(Audit {
                totals: live.totals(),
                batches: next - 1,
            })
        })
        .await?
    }

    /// Woken after each commit that queued events for mini-apps.
    pub fn events_notify(&self) -> Arc<Notify> {
        self.inner.events.clone()
    }

    /// The outbox of events for mini-apps.
    pub fn outbox(&self) -> &dyn LedgerStore {
        self.inner.store.as_ref()
    }
}

/// Replays the journal into a new ledger; returns it and the next batch seq.
/// Replays the journal into a new ledger; returns it, the next batch seq and
/// the history index.
fn rebuild(
    store: &dyn LedgerStore,
    rules: &Rules,
) -> Result<(Ledger, u64, HistoryIndex), WalletError> {
    let mut ledger = Ledger::new(rules.clone());
    let mut next = 1;
    let mut index = HistoryIndex::new();
    store.replay(&mut |batch| {
        if batch.seq != next {
            return Err(WalletError::Corrupt(format!(
                "batch {} follows batch {}",
                batch.seq,
                next - 1
            )));
        }
        ledger.set_rules(batch.rules.clone());
        for e in &batch.entries {
            ledger.apply(&e.cmd, &e.fresh, e.now).map_err(|err| {
                WalletError::Corrupt(format!(
                    "batch {}: a journaled command fails: {err}",
                    batch.seq
                ))
            })?;
        }
        let appended = ledger.take_appended();
        if digest(&appended) != batch.digest {
            return Err(WalletError::Corrupt(format!(
                "batch {} replays to different transfers than it recorded",
                batch.seq
            )));
        }
        index_batch(&mut index, batch.seq, &appended.transfers);
        next += 1;
        Ok(())
    })?;
    Ok((ledger, next, index))
}

/// What the writer starts from.
struct Start {
    ledger: Ledger,
    next_batch: u64,
    index: Arc<RwLock<HistoryIndex>>,
}

fn write_loop(
    start: Start,
    store: Arc<dyn LedgerStore>,
    rules: Rules,
    rx: mpsc::Receiver<Job>,
    events: Arc<Notify>,
) {
    let Start {
        mut ledger,
        mut next_batch,
        index,
    } = start;
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if let Some(why) = &broken {
            for job in jobs {
                if let Job::Command { reply, .. } = job {
                    let _ = reply.send(Err(WalletError::Corrupt(why.clone())));
                }
            }
            continue;
        }

        let mut entries = Vec::new();
        let mut replies = Vec::new();
        let mut reads = Vec::new();
        for job in jobs {
            match job {
                Job::Command { entry, reply } => {
                    let before = ledger.version();
                    let result = ledger.apply(&entry.cmd, &entry.fresh, entry.now);
                    if ledger.version() != before {
                        entries.push(entry);
                    }
                    replies.push((reply, result));
                }
                Job::Read(f) => reads.push(f),
            }
        }

        if !entries.is_empty() {
            let appended = ledger.take_appended();
            #[cfg(debug_assertions)]
            if let Err(e) = ledger.check_invariants() {
                tracing::error!(error = %e, "ledger invariant broken");
                debug_assert!(false, "ledger invariant broken: {e}");
            }
            let batch = BatchRecord {
                seq: next_batch,
                rules: ledger.rules().clone(),
                entries,
                digest: digest(&appended),
            };
            match store.commit(&batch, &appended) {
                Ok(()) => {
                    // Before answering, so a person sees their own transfer.
                    if let Ok(mut i) = index.write() {
                        index_batch(&mut i, batch.seq, &appended.transfers);
                    }
                    next_batch += 1;
                    if !appended.events.is_empty() {
                        events.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "ledger commit failed; reloading from the journal");
                    for (_, result) in replies.iter_mut() {
                        *result = Err(StoreError::Io(e.to_string()).into());
                    }
                    match rebuild(store.as_ref(), &rules) {
                        Ok((l, n, i)) => {
                            ledger = l;
                            ledger.set_rules(rules.clone());
                            next_batch = n;
                            if let Ok(mut index) = index.write() {
                                *index = i;
                            }
                        }
                        Err(e) => broken = Some(e.to_string()),
                    }
                }
            }
        }
        for f in reads {
            f(&ledger);
        }
        for (reply, result) in replies {
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod commit_failure_tests {
    //! A store whose commits can be made to fail, to check that a failed
    //! group commit is answered as failed, leaves nothing applied, and that
    //! the wallet carries on from the journal.

    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    struct FlakyStore {
        journal: Mutex<Vec<BatchRecord>>,
        fail: AtomicBool,
    }

    impl LedgerStore for FlakyStore {
        fn replay(
            &self,
            f: &mut dyn FnMut(BatchRecord) -> Result<(), WalletError>,
        ) -> Result<(), WalletError> {
            let batches = self.journal.lock().map(|j| j.clone()).unwrap_or_default();
            batches.into_iter().try_for_each(f)
        }
        fn commit(&self, batch: &BatchRecord, _: &Appended) -> Result<(), StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Io("disk full".into()));
            }
            if let Ok(mut j) = self.journal.lock() {
                j.push(batch.clone());
            }
            Ok(())
        }
        fn batch_transfers(&self, _: u64) -> Result<Vec<Transfer>, StoreError> {
            Ok(Vec::new())
        }
        fn due_events(&self, _: i64, _: usize) -> Result<Vec<Delivery>, StoreError> {
            Ok(Vec::new())
        }
        fn all_events(&self) -> Result<Vec<Delivery>, StoreError> {
            Ok(Vec::new())
        }
        fn event_delivered(&self, _: u64) -> Result<(), StoreError> {
            Ok(())
        }
        fn event_failed(&self, _: &Delivery) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn top_up(user: &str, amount: Amount, key: &str) -> Command {
        Command::TopUp {
            user: user.into(),
            amount,
            key: key.into(),
        }
    }

    #[test]
    fn a_failed_commit_is_answered_as_failed_and_applies_nothing() -> Result<(), WalletError> {
        // The wallet answers through tokio channels; a test thread waits.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| WalletError::Internal(e.to_string()))?;
        let store = Arc::new(FlakyStore::default());
        let wallet = Wallet::open(store.clone(), Rules::default())?;
        let balance = |w: &Wallet| {
            let a = Account::User("u_a".into());
            rt.block_on(w.read(move |l| l.balance(&a)))
        };
        rt.block_on(wallet.execute(top_up("u_a", 100, "key-001")))?;
        store.fail.store(true, Ordering::SeqCst);
        let failed = rt.block_on(wallet.execute(top_up("u_a", 50, "key-002")));
        assert_eq!(failed.map_err(|e| e.code()).err(), Some("storage-io"));
        store.fail.store(false, Ordering::SeqCst);
        // The failed top-up is gone, its key is free again, and the ledger
        // agrees with its journal.
        assert_eq!(balance(&wallet)?, 100);
        rt.block_on(wallet.execute(top_up("u_a", 50, "key-002")))?;
        assert_eq!(balance(&wallet)?, 150);
        let audit = rt.block_on(wallet.audit())?;
        assert_eq!(audit.totals.issued, 150);
        assert_eq!(audit.batches, 2);
        Ok(())
    }
}
