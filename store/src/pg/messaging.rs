//! The messenger in the database: its records in the shared key layout
//! (tree `messaging`), with ordered writes that lock the id counter's row
//! for the whole transaction (one per batch of writes). Ids are taken and committed under that lock,
//! so they become visible in id order across every host: a client resuming
//! after id N can never miss a smaller id committed later.

use super::records::{PgRecords, write_records};
use super::{Postgres, Txn, retrying};
use crate::messaging::{Pending, add_pending, with_pending};
use crate::{Applied, MessagingTree, MessagingWrite, OrderedWrites, StoreError, Ticket};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub(crate) fn open(pg: Postgres) -> Result<MessagingTree, StoreError> {
    let records = Arc::new(PgRecords::new(pg.clone(), "messaging"));
    // What is in the store when this host starts, its streams read from
    // there; from here on its batches pass on what other hosts add.
    let newest: i64 = pg.query(|c| {
        Box::pin(async move {
            Ok(
                c.query_one("SELECT next - 1 FROM msg_head WHERE id = 1", &[])
                    .await?
                    .get(0),
            )
        })
    })?;
    let tree = MessagingTree::new(
        records.clone(),
        Arc::new(Arc::new(PgOrder {
            pg,
            records,
            state: Mutex::new(Batches {
                known: newest,
                ..Batches::default()
            }),
            done: Condvar::new(),
        })),
    );
    tree.upgrade_streams()?;
    Ok(tree)
}

/// The messenger's ordered writes on the database. Writes are gathered
/// into batches, each one transaction: the first write of a batch begins
/// it and locks the id counter's row (`msg_head`), later writes build on
/// what the batch holds so far (their reads see its pending records), and
/// the first `flush_write` for the batch commits it while the next batch
/// gathers behind the lock. So many sends cost one commit, and ids still
/// become visible in id order across hosts.
struct PgOrder {
    pg: Postgres,
    records: Arc<PgRecords>,
    state: Mutex<Batches>,
    /// Signalled when a batch's outcome is known.
    done: Condvar,
}

#[derive(Default)]
struct Batches {
    open: Option<Open>,
    /// The number the next batch gets (1, 2, …).
    next_no: u64,
    /// How recent batches ended (an error's text when they failed).
    outcomes: BTreeMap<u64, Result<(), String>>,
    /// The newest event id this host knows of: its own, or other hosts'
    /// that a batch passed on.
    known: i64,
}

/// A batch being gathered: its transaction holds the counter's row.
struct Open {
    no: u64,
    txn: Txn,
    next: u64,
    pending: Pending,
    /// (event id, person) for `msg_events`, which other hosts follow.
    events: Vec<(i64, String)>,
    /// Other hosts' events committed since this host last looked, for the
    /// batch's first write to pass on.
    others: Vec<(String, u64)>,
    /// Writes in the batch.
    writes: usize,
    /// What the host knew before this batch began (put back if it ends
    /// empty, so its `others` are read again by the next).
    known_before: i64,
}

/// Outcomes kept for writers still to ask (far more than ever wait).
const KEEP_OUTCOMES: usize = 4096;

impl PgOrder {
    /// Begins batch `no`: locks the counter's row and, in the same trip,
    /// reads the events other hosts committed after `known`.
    fn begin(&self, no: u64, known: i64) -> Result<Open, StoreError> {
        retrying(&self.pg, || {
            let (txn, (first, others)): (Txn, (i64, Vec<(String, u64)>)) =
                Txn::begin(&self.pg, false, move |c| {
                    Box::pin(async move {
                        let head =
                            c.query_one("SELECT next FROM msg_head WHERE id = 1 FOR UPDATE", &[]);
                        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&known];
                        let newer = c.query(
                            "SELECT uid, id FROM msg_events WHERE id > $1 ORDER BY id",
                            &params,
                        );
                        let (head, newer) = futures_util::future::join(head, newer).await;
                        let others = newer?
                            .iter()
                            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                            .collect();
                        Ok((head?.get(0), others))
                    })
                })?;
            Ok(Open {
                no,
                txn,
                next: first as u64,
                pending: Pending::new(),
                events: Vec::new(),
                others,
                writes: 0,
                known_before: known,
            })
        })
    }

    /// Commits a batch: its records, the counter, and its events (with a
    /// NOTIFY, delivered only if it commits).
    fn commit(&self, open: Open) -> Result<(), StoreError> {
        metrics::histogram!("superapp_messaging_batch_size").record(open.writes as f64);
        let Open {
            txn,
            next,
            pending,
            events,
            ..
        } = open;
        let (mut puts, mut removes) = (Vec::new(), Vec::new());
        for (k, (_, v)) in pending {
            match v {
                Some(v) => puts.push((k, v)),
                None => removes.push(k),
            }
        }
        let after = next as i64;
        let (ids, uids): (Vec<i64>, Vec<String>) = events.into_iter().unzip();
        let notify = self.pg.notifies();
        txn.commit_with(move |c| {
            Box::pin(async move {
                if let Err(e) = write_records(c, "messaging", puts, removes).await {
                    return Ok(Err(e));
                }
                c.execute("UPDATE msg_head SET next = $1 WHERE id = 1", &[&after])
                    .await?;
                if !ids.is_empty() {
                    c.execute(
                        "INSERT INTO msg_events (id, uid)
                         SELECT i, u FROM unnest($1::bigint[], $2::text[]) AS x(i, u)",
                        &[&ids, &uids],
                    )
                    .await?;
                    if notify {
                        c.batch_execute("NOTIFY superapp_events").await?;
                    }
                }
                Ok(Ok(()))
            })
        })
        .map_err(StoreError::from)?
    }

    /// Waits for batch `ticket`'s outcome, committing it if nobody is.
    fn wait_for_batch(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut st = self.lock();
        loop {
            if let Some(outcome) = st.outcomes.get(&ticket) {
                return outcome.clone().map_err(StoreError::Io);
            }
            if let Some(open) = st.open.take_if(|o| o.no == ticket) {
                // The next batch begins once this one commits (it waits for
                // the counter's row): it need not be told of this one's
                // events. Put back if the commit fails (its ids are unused).
                let before = st.known;
                st.known = open.next as i64 - 1;
                drop(st);
                let outcome = self.commit(open).map_err(|e| e.to_string());
                let mut st = self.lock();
                if outcome.is_err() {
                    st.known = st.known.min(before);
                }
                st.outcomes.insert(ticket, outcome.clone());
                while st.outcomes.len() > KEEP_OUTCOMES {
                    st.outcomes.pop_first();
                }
                self.done.notify_all();
                return outcome.map_err(StoreError::Io);
            }
            if ticket > st.next_no {
                return Err(StoreError::Io(format!("no messaging batch {ticket}")));
            }
            // Another writer of the batch is committing it.
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Batches> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl OrderedWrites for Arc<PgOrder> {
    fn write_ordered(
        &self,
        build: crate::BuildWrite<'_>,
        applied: Applied<'_>,
    ) -> Result<Option<(MessagingWrite, Ticket)>, StoreError> {
        let mut st = self.lock();
        let mut open = match st.open.take() {
            Some(open) => open,
            None => {
                st.next_no += 1;
                let open = self.begin(st.next_no, st.known)?;
                // Everything below the batch's first id is committed by now.
                st.known = open.next as i64 - 1;
                open
            }
        };
        let mut next = open.next;
        let mut take = || -> Result<u64, StoreError> {
            next += 1;
            Ok(next - 1)
        };
        let built = with_pending(&mut open.pending, || build(&mut take));
        let records = built.as_ref().map(MessagingWrite::records).transpose();
        let (write, (puts, removes)) = match (built, records) {
            (Some(write), Ok(Some(changes))) => (write, changes),
            (_, refused) => {
                // Nothing of this call's goes in. A batch holding nothing
                // is ended now: no flush will come for it, and it holds the
                // counter's row every host needs.
                if open.writes == 0 {
                    st.known = open.known_before;
                    open.txn.rollback()?;
                } else {
                    st.open = Some(open);
                }
                return refused.map(|_| None);
            }
        };
        open.next = next;
        open.writes += 1;
        add_pending(&mut open.pending, open.no, &puts, &removes);
        open.events.extend(
            write
                .stream
                .iter()
                .map(|(user, e)| (e.id as i64, user.clone())),
        );
        let no = open.no;
        let others = std::mem::take(&mut open.others);
        st.open = Some(open);
        applied(&write, &others);
        Ok(Some((write, no)))
    }

    async fn flush_write(&self, ticket: Ticket) -> Result<(), StoreError> {
        // On the blocking pool, which runs it to the end even if the caller
        // goes away: a batch must not be left open.
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.wait_for_batch(ticket))
            .await
            .map_err(|e| StoreError::Io(format!("flush task: {e}")))?
    }

    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError> {
        // Its own statement: durable when it returns.
        crate::RecordStore::apply(self.records.as_ref(), puts, removes)
    }

    fn visible_upto(&self) -> Result<u64, StoreError> {
        // Ids are committed in order under the counter's row: below its
        // committed value everything is visible, and later commits are
        // above it.
        let next: i64 = self.pg.query(|c| {
            Box::pin(async move {
                Ok(c.query_one("SELECT next FROM msg_head WHERE id = 1", &[])
                    .await?
                    .get(0))
            })
        })?;
        Ok((next as u64).saturating_sub(1))
    }

    fn flush(&self) -> Result<(), StoreError> {
        let open = self.lock().open.as_ref().map(|o| o.no);
        match open {
            Some(no) => self.wait_for_batch(no),
            None => Ok(()),
        }
    }
}
