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
    /// Batches the writer's ledger has applied (its own and other hosts').
    applied: Arc<std::sync::atomic::AtomicU64>,
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
        let (mut ledger, next_batch, index) = rebuild(store.as_ref(), &rules, None)?;
        ledger.set_rules(rules.clone());
        let index = Arc::new(RwLock::new(index));
        let events = Arc::new(Notify::new());
        let applied = Arc::new(std::sync::atomic::AtomicU64::new(next_batch - 1));
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
                applied: applied.clone(),
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
                applied,
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

    /// An account's transfers, newest first, below the `before` sequence
    /// (after the writer has seen what other hosts committed).
    pub async fn history(
        &self,
        account: &Account,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Transfer>, WalletError> {
        self.read(|_| ()).await?;
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
    /// the live one: balances, totals and every invariant; on a backend
    /// that keeps ledger tables, also checks them (in SQL) against both.
    pub async fn audit(&self) -> Result<Audit, WalletError> {
        // On a shared store other hosts may commit while this runs; the
        // tables are compared only when they show exactly the batches the
        // live ledger has, else the audit is tried again.
        for _ in 0..20 {
            let store = self.inner.store.clone();
            let rules = self.inner.rules.clone();
            let applied = self.inner.applied.clone();
            // The replay runs on the writer thread so no batch lands halfway.
            let found = self
                .read(move |live| {
                    let batches = applied.load(std::sync::atomic::Ordering::SeqCst);
                    audit_against(store.as_ref(), &rules, live, batches)
                })
                .await??;
            if let Some(audit) = found {
                return Ok(audit);
            }
        }
        Err(WalletError::Unavailable)
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

/// The audit of `live` against a fresh replay of its journal and the
/// backend's tables; none when the tables have moved past `live`.
fn audit_against(
    store: &dyn LedgerStore,
    rules: &Rules,
    live: &Ledger,
    batches: u64,
) -> Result<Option<Audit>, WalletError> {
    let (fresh, next, _) = rebuild(store, rules, Some(batches))?;
    fresh.check_invariants().map_err(WalletError::Corrupt)?;
    live.check_invariants().map_err(WalletError::Corrupt)?;
    if fresh.totals() != live.totals()
        || fresh.balances_where(|_| true) != live.balances_where(|_| true)
    {
        return Err(WalletError::Corrupt(
            "the journal and the running ledger disagree".into(),
        ));
    }
    let totals = live.totals();
    if let Some(tables) = store.audit_tables()? {
        if tables.batches != next - 1 {
            return Ok(None);
        }
        let mut balances: Vec<(String, u64)> = live
            .balances_where(|_| true)
            .into_iter()
            .filter(|(_, b)| *b != 0)
            .map(|(a, b)| (a.key(), b))
            .collect();
        balances.sort();
        if tables.transfers != totals.transfers
            || tables.issued != totals.issued
            || tables.redeemed != totals.redeemed
            || tables.balances != balances
        {
            return Err(WalletError::Corrupt(format!(
                "the ledger tables disagree with the journal: {} transfers, {} issued, {} redeemed \
                 in the tables; {} transfers, {} issued, {} redeemed replayed",
                tables.transfers,
                tables.issued,
                tables.redeemed,
                totals.transfers,
                totals.issued,
                totals.redeemed
            )));
        }
    }
    Ok(Some(Audit {
        totals,
        batches: next - 1,
    }))
}

/// Applies the batches other hosts committed (in order) and puts this
/// host's rules back; `had_events` is set when one of them raised events
/// (also when a later one fails).
fn catch_up(
    ledger: &mut Ledger,
    index: &RwLock<HistoryIndex>,
    others: &[BatchRecord],
    rules: &Rules,
    next_batch: &mut u64,
    had_events: &mut bool,
) -> Result<(), WalletError> {
    {
        let mut i = index.write().map_err(|_| WalletError::Unavailable)?;
        for b in others {
            let appended = apply_batch(ledger, &mut i, b)?;
            *had_events |= !appended.events.is_empty();
            *next_batch = b.seq + 1;
        }
    }
    ledger.set_rules(rules.clone());
    Ok(())
}

/// Applies one committed batch to `ledger`, checking it appends what it
/// recorded; indexes its transfers.
fn apply_batch(
    ledger: &mut Ledger,
    index: &mut HistoryIndex,
    batch: &BatchRecord,
) -> Result<Appended, WalletError> {
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
    index_batch(index, batch.seq, &appended.transfers);
    Ok(appended)
}

/// Replays the journal (up to batch `upto`, when given) into a new ledger;
/// returns it, the next batch seq and the history index.
fn rebuild(
    store: &dyn LedgerStore,
    rules: &Rules,
    upto: Option<u64>,
) -> Result<(Ledger, u64, HistoryIndex), WalletError> {
    let mut ledger = Ledger::new(rules.clone());
    let mut next = 1;
    let mut index = HistoryIndex::new();
    store.replay(&mut |batch| {
        if upto.is_some_and(|u| batch.seq > u) {
            return Ok(());
        }
        if batch.seq != next {
            return Err(WalletError::Corrupt(format!(
                "batch {} follows batch {}",
                batch.seq,
                next - 1
            )));
        }
        apply_batch(&mut ledger, &mut index, &batch)?;
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
    applied: Arc<std::sync::atomic::AtomicU64>,
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
        applied,
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

        let mut commands = Vec::new();
        let mut reads = Vec::new();
        for job in jobs {
            match job {
                Job::Command { entry, reply } => commands.push((entry, reply)),
                Job::Read(f) => reads.push(f),
            }
        }

        let mut replies = Vec::new();
        let mut committed: Option<(u64, Appended)> = None;
        let mut others_had_events = false;
        let has_commands = !commands.is_empty();
        let batch_size = commands.len();
        let started = std::time::Instant::now();
        let mut pending = Some(commands);
        let outcome = if !has_commands {
            // Reads see what other hosts committed too (a no-op where one
            // process owns the store).
            store
                .batches_after(next_batch - 1)
                .map_err(WalletError::from)
                .and_then(|others| {
                    catch_up(
                        &mut ledger,
                        &index,
                        &others,
                        &rules,
                        &mut next_batch,
                        &mut others_had_events,
                    )?;
                    Ok(false)
                })
        } else {
            let after = next_batch - 1;
            let mut decide = |others: Vec<BatchRecord>| {
                catch_up(
                    &mut ledger,
                    &index,
                    &others,
                    &rules,
                    &mut next_batch,
                    &mut others_had_events,
                )?;
                let mut entries = Vec::new();
                for (entry, reply) in pending.take().unwrap_or_default() {
                    let before = ledger.version();
                    let result = ledger.apply(&entry.cmd, &entry.fresh, entry.now);
                    if ledger.version() != before {
                        entries.push(entry);
                    }
                    replies.push((reply, result));
                }
                if entries.is_empty() {
                    return Ok(None);
                }
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
                committed = Some((batch.seq, appended.clone()));
                Ok(Some((batch, appended)))
            };
            store.commit_next(after, &mut decide)
        };
        if has_commands {
            metrics::histogram!("superapp_ledger_batch_size").record(batch_size as f64);
            metrics::histogram!("superapp_ledger_commit_seconds").record(started.elapsed());
        }
        match outcome {
            Ok(true) => {
                if let Some((seq, appended)) = committed.take() {
                    // Before answering, so a person sees their own transfer.
                    if let Ok(mut i) = index.write() {
                        index_batch(&mut i, seq, &appended.transfers);
                    }
                    next_batch = seq + 1;
                    if !appended.events.is_empty() {
                        events.notify_one();
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "ledger commit failed; reloading from the journal");
                // Every command of the batch fails as the commit did (its
                // message once, not wrapped again).
                let failed = || match &e {
                    WalletError::Storage(m) => WalletError::Storage(m.clone()),
                    other => StoreError::Io(other.to_string()).into(),
                };
                for (_, result) in replies.iter_mut() {
                    *result = Err(failed());
                }
                // Commands the failure came before were never decided.
                for (_, reply) in pending.take().unwrap_or_default() {
                    let _ = reply.send(Err(failed()));
                }
                match rebuild(store.as_ref(), &rules, None) {
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
        applied.store(next_batch - 1, std::sync::atomic::Ordering::SeqCst);
        if others_had_events {
            events.notify_one();
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
        fn batches_after(&self, after: u64) -> Result<Vec<BatchRecord>, StoreError> {
            let batches = self.journal.lock().map(|j| j.clone()).unwrap_or_default();
            Ok(batches.into_iter().filter(|b| b.seq > after).collect())
        }
        fn commit_next(
            &self,
            after: u64,
            decide: crate::store::Decide<'_>,
        ) -> Result<bool, WalletError> {
            let Some((batch, _)) = decide(self.batches_after(after)?)? else {
                return Ok(false);
            };
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Io("disk full".into()).into());
            }
            if let Ok(mut j) = self.journal.lock() {
                j.push(batch);
            }
            Ok(true)
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
        fn restore_events(&self, _: &[Delivery]) -> Result<(), StoreError> {
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

#[cfg(test)]
mod store_model_tests {
    //! The ledger's model-based test, through a real backend: random runs
    //! of every operation (checked against the reference model at each
    //! step), their journal committed in batches to the store, then a
    //! wallet opened on that store must rebuild the same ledger and pass
    //! its audit — on PostgreSQL that includes the SQL checks of the
    //! transfer and balance tables.

    #![allow(clippy::panic)]

    use super::*;
    use crate::store::{Backend, Db};
    use superapp_core::wallet::model;

    fn journal_into(store: &dyn LedgerStore, h: &model::Harness) {
        let mut mirror = Ledger::new(model::rules());
        for (i, chunk) in h.journal().chunks(7).enumerate() {
            let mut entries = Vec::new();
            for (cmd, fresh, now) in chunk {
                if let Err(e) = mirror.apply(cmd, fresh, *now) {
                    panic!("a journaled command fails: {e}");
                }
                entries.push(Entry {
                    cmd: cmd.clone(),
                    fresh: fresh.clone(),
                    now: *now,
                });
            }
            let appended = mirror.take_appended();
            let batch = BatchRecord {
                seq: i as u64 + 1,
                rules: mirror.rules().clone(),
                entries,
                digest: digest(&appended),
            };
            if let Err(e) = store.commit(&batch, &appended) {
                panic!("commit: {e}");
            }
        }
    }

    fn check(open: &dyn Fn() -> Arc<dyn LedgerStore>, runs: u64) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for run in 0..runs {
            let mut bytes = vec![0u8; 600];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let h = model::run_harness(&bytes);
            let store = open();
            journal_into(store.as_ref(), &h);
            drop(store);
            let wallet = Wallet::open(open(), model::rules())
                .unwrap_or_else(|e| panic!("run {run}: reopening: {e}"));
            let audit = rt
                .block_on(wallet.audit())
                .unwrap_or_else(|e| panic!("run {run}: audit: {e}"));
            assert_eq!(audit.totals, h.ledger().totals(), "run {run}: totals");
            let balances = rt
                .block_on(wallet.read(|l| l.balances_where(|_| true)))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(balances, h.ledger().balances_where(|_| true), "run {run}");
        }
    }

    #[test]
    fn random_runs_replay_from_the_embedded_store_as_the_model_decided() {
        for _ in 0..8 {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().to_path_buf();
            check(
                &|| {
                    Db::open(&path)
                        .and_then(|db| db.ledger_store())
                        .unwrap_or_else(|e| panic!("{e}"))
                },
                1,
            );
        }
    }

    #[test]
    fn random_runs_replay_from_postgres_and_its_tables_audit_as_the_model_decided() {
        for _ in 0..12 {
            let url = crate::store::pg::testing::fresh_database();
            check(
                &|| {
                    crate::store::pg::Postgres::connect(&url)
                        .and_then(|pg| pg.ledger_store())
                        .unwrap_or_else(|e| panic!("{e}"))
                },
                1,
            );
        }
    }
}
