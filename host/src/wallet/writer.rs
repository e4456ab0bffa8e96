//! The ledger's two threads. The writer applies commands in batches; the
//! flusher makes each batch durable (one sled batch, one flush) and only
//! then answers it. The writer runs ahead of the disk — it applies batch
//! N+1 while N flushes — but nothing is answered before its batch and every
//! earlier one are durable, and a failed commit fails every later batch
//! until the writer has reloaded the ledger from the journal.

use super::{
    Appended, BatchRecord, Entry, Ledger, LedgerStore, Outcome, Rules, WalletError, digest,
    rebuild,
};
use crate::store::StoreError;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::{Notify, oneshot};

/// Largest number of jobs one group commit takes.
const MAX_BATCH: usize = 4096;

/// An answer held back until its batch is durable.
pub(super) type Deferred = Box<dyn FnOnce() + Send>;

pub(super) enum Job {
    Command {
        entry: Entry,
        reply: oneshot::Sender<Result<Outcome, WalletError>>,
    },
    /// Reads the ledger; the answer goes out once the batch is durable.
    Read(Box<dyn FnOnce(&Ledger) -> Deferred + Send>),
    /// Runs once every earlier batch is durable and none is in flight (the
    /// audit compares the journal with the ledger).
    Quiesced(Box<dyn FnOnce(&Ledger) + Send>),
}

type Reply = (
    oneshot::Sender<Result<Outcome, WalletError>>,
    Result<Outcome, WalletError>,
);

struct Flush {
    batch: Option<(BatchRecord, Appended)>,
    replies: Vec<Reply>,
    reads: Vec<Deferred>,
}

/// Batches handed to the flusher and not finished, and whether a commit
/// failed since the writer last reloaded.
#[derive(Default)]
struct Pipeline {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Pipeline {
    fn with<T>(&self, f: impl FnOnce(&mut (usize, bool)) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut s);
        self.changed.notify_all();
        out
    }

    fn failed(&self) -> bool {
        self.with(|s| s.1)
    }

    /// Waits until no batch is in flight; says whether a commit failed.
    fn wait_idle(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 > 0 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.1
    }
}

pub(super) fn run(
    mut ledger: Ledger,
    mut next_batch: u64,
    store: Arc<dyn LedgerStore>,
    rules: Rules,
    rx: mpsc::Receiver<Job>,
    events: Arc<Notify>,
) {
    let pipe = Arc::new(Pipeline::default());
    let (to_flusher, flushes) = mpsc::sync_channel::<Flush>(1);
    let flusher = {
        let (store, pipe) = (store.clone(), pipe.clone());
        std::thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn(move || flush_loop(store.as_ref(), flushes, &pipe, &events))
    };
    let flusher = match flusher {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the ledger flusher");
            return;
        }
    };
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if broken.is_none() && pipe.failed() {
            // A commit failed: what the ledger holds past the journal is
            // not durable. Reload it once nothing is in flight.
            pipe.wait_idle();
            match rebuild(store.as_ref(), &rules) {
                Ok((l, n)) => {
                    ledger = l;
                    ledger.set_rules(rules.clone());
                    next_batch = n;
                    pipe.with(|s| s.1 = false);
                }
                Err(e) => broken = Some(e.to_string()),
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
        let mut quiesced = Vec::new();
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
                Job::Read(f) => reads.push(f(&ledger)),
                Job::Quiesced(f) => quiesced.push(f),
            }
        }
        let batch = if entries.is_empty() {
            None
        } else {
            let appended = ledger.take_appended();
            #[cfg(debug_assertions)]
            if let Err(e) = ledger.check_invariants() {
                tracing::error!(error = %e, "ledger invariant broken");
                debug_assert!(false, "ledger invariant broken: {e}");
            }
            let record = BatchRecord {
                seq: next_batch,
                rules: ledger.rules().clone(),
                entries,
                digest: digest(&appended),
            };
            next_batch += 1;
            Some((record, appended))
        };
        pipe.with(|s| s.0 += 1);
        let flush = Flush {
            batch,
            replies,
            reads,
        };
        if to_flusher.send(flush).is_err() {
            break;
        }
        if !quiesced.is_empty() && !pipe.wait_idle() {
            for f in quiesced {
                f(&ledger);
            }
        }
    }
    drop(to_flusher);
    let _ = flusher.join();
}

fn flush_loop(
    store: &dyn LedgerStore,
    flushes: mpsc::Receiver<Flush>,
    pipe: &Pipeline,
    events: &Notify,
) {
    while let Ok(f) = flushes.recv() {
        let mut ok = !pipe.failed();
        if ok && let Some((batch, appended)) = &f.batch {
            match store.commit(batch, appended) {
                Ok(()) => {
                    if !appended.events.is_empty() {
                        events.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = batch.seq, "ledger commit failed; the writer reloads from the journal");
                    ok = false;
                }
            }
        }
        if ok {
            for (reply, result) in f.replies {
                let _ = reply.send(result);
            }
            for answer in f.reads {
                answer();
            }
        } else {
            for (reply, _) in f.replies {
                let _ = reply.send(Err(WalletError::Storage(StoreError::Io(
                    "the ledger could not be written; nothing was applied".into(),
                ))));
            }
        }
        pipe.with(|s| {
            s.0 -= 1;
            if !ok {
                s.1 = true;
            }
        });
    }
}
