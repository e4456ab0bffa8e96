//! The ledger in the database. The journal of batches is the truth the
//! core's rules replay; each batch also lands, in the same `SERIALIZABLE`
//! transaction, as rows of transfers and balances that the audit checks in
//! SQL. Writers on every host take turns on the journal's head row: a host
//! locks it, reads the batches other hosts wrote since it last looked,
//! decides its own commands after them, and writes the next batch.

use super::{Postgres, StepError, Txn, retrying};
use crate::ledger::{decode, encode, encode_compact};
use crate::{BatchRecord, Decide, Delivery, LedgerStore, StoreError, TableAudit};
use std::collections::BTreeMap;
use superapp_core::wallet::{Account, Appended, Transfer, WalletError};

/// How long a host holds an outbox entry it is delivering (seconds of
/// the delivery clock); one that dies leaves it to others after this.
const CLAIM_SECS: i64 = 120;

pub(crate) struct PgLedger {
    pg: Postgres,
}

impl PgLedger {
    pub(crate) fn new(pg: Postgres) -> PgLedger {
        PgLedger { pg }
    }
}

fn corrupt(what: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        tree: "ledger",
        key: what.to_string(),
        detail: detail.into(),
    }
}

/// The rows one batch adds besides its journal record.
struct BatchRows {
    seq: i64,
    record: Vec<u8>,
    history: Option<Vec<u8>>,
    t_seq: Vec<i64>,
    t_from: Vec<String>,
    t_to: Vec<String>,
    t_amount: Vec<i64>,
    accounts: Vec<String>,
    deltas: Vec<i64>,
    o_seq: Vec<i64>,
    o_delivery: Vec<Vec<u8>>,
}

fn rows(batch: &BatchRecord, appended: &Appended) -> Result<BatchRows, StoreError> {
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    let mut r = BatchRows {
        seq: batch.seq as i64,
        record: encode(batch)?,
        history: if appended.transfers.is_empty() {
            None
        } else {
            Some(encode_compact(&appended.transfers)?)
        },
        t_seq: Vec::new(),
        t_from: Vec::new(),
        t_to: Vec::new(),
        t_amount: Vec::new(),
        accounts: Vec::new(),
        deltas: Vec::new(),
        o_seq: Vec::new(),
        o_delivery: Vec::new(),
    };
    for t in &appended.transfers {
        let amount = i64::try_from(t.amount)
            .map_err(|_| StoreError::Io(format!("transfer {} is too large", t.seq)))?;
        let (from, to) = (t.from.key(), t.to.key());
        *net.entry(from.clone()).or_default() -= amount;
        *net.entry(to.clone()).or_default() += amount;
        r.t_seq.push(t.seq as i64);
        r.t_from.push(from);
        r.t_to.push(to);
        r.t_amount.push(amount);
    }
    (r.accounts, r.deltas) = net.into_iter().unzip();
    for event in &appended.events {
        let d = Delivery {
            event: event.clone(),
            attempts: 0,
            next_at: i64::MIN,
            last_error: None,
            gave_up: false,
        };
        r.o_seq.push(event.seq as i64);
        r.o_delivery.push(encode(&d)?);
    }
    Ok(r)
}

async fn write_rows(c: &tokio_postgres::Client, r: BatchRows) -> Result<(), tokio_postgres::Error> {
    c.execute(
        "INSERT INTO ledger_batches (seq, record) VALUES ($1, $2)",
        &[&r.seq, &r.record],
    )
    .await?;
    if let Some(h) = &r.history {
        c.execute(
            "INSERT INTO ledger_history (batch, transfers) VALUES ($1, $2)",
            &[&r.seq, h],
        )
        .await?;
        c.execute(
            "INSERT INTO ledger_transfers (seq, batch, from_account, to_account, amount)
             SELECT s, $1, f, t, a FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[])
             AS x(s, f, t, a)",
            &[&r.seq, &r.t_seq, &r.t_from, &r.t_to, &r.t_amount],
        )
        .await?;
        c.execute(
            "INSERT INTO ledger_balances (account, balance)
             SELECT a, d FROM unnest($1::text[], $2::bigint[]) AS x(a, d)
             ON CONFLICT (account) DO UPDATE SET balance = ledger_balances.balance + excluded.balance",
            &[&r.accounts, &r.deltas],
        )
        .await?;
    }
    if !r.o_seq.is_empty() {
        let never = i64::MIN;
        c.execute(
            "INSERT INTO ledger_outbox (seq, delivery, next_at, gave_up)
             SELECT s, d, $3, false FROM unnest($1::bigint[], $2::bytea[]) AS x(s, d)",
            &[&r.o_seq, &r.o_delivery, &never],
        )
        .await?;
    }
    c.execute("UPDATE ledger_head SET seq = $1 WHERE id = 1", &[&r.seq])
        .await?;
    Ok(())
}

fn decode_batches(rows: Vec<(i64, Vec<u8>)>) -> Result<Vec<BatchRecord>, StoreError> {
    rows.into_iter()
        .map(|(seq, bytes)| decode(format!("j{seq}").as_bytes(), &bytes))
        .collect()
}

impl LedgerStore for PgLedger {
    fn replay(
        &self,
        f: &mut dyn FnMut(BatchRecord) -> Result<(), WalletError>,
    ) -> Result<(), WalletError> {
        // In pages, so a long journal is not read into memory at once.
        let mut after = 0;
        loop {
            let page = self.pg.query(move |c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT seq, record FROM ledger_batches WHERE seq > $1 ORDER BY seq LIMIT 512",
                            &[&after],
                        )
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|r| (r.get::<_, i64>(0), r.get::<_, Vec<u8>>(1)))
                        .collect::<Vec<_>>())
                })
            })?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = *last;
            for b in decode_batches(page)? {
                f(b)?;
            }
        }
    }

    fn batches_after(&self, after: u64) -> Result<Vec<BatchRecord>, StoreError> {
        let after = after as i64;
        let rows = self.pg.query(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT seq, record FROM ledger_batches WHERE seq > $1 ORDER BY seq",
                        &[&after],
                    )
                    .await?;
                Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        decode_batches(rows)
    }

    fn commit_next(&self, after: u64, decide: Decide<'_>) -> Result<bool, WalletError> {
        let mut refused: Option<WalletError> = None;
        let written = retrying(&self.pg, || {
            let from = after as i64;
            let lock = self.pg.locks_tables();
            let (t, (head, others)) = Txn::begin(&self.pg, true, move |c| {
                Box::pin(async move {
                    // The head is locked before the snapshot is taken (a
                    // lock statement takes none), so a writer that waited
                    // for another host's commit sees it instead of failing
                    // with 40001. Engines without LOCK TABLE take the
                    // row lock below and retry.
                    if lock {
                        c.batch_execute("LOCK TABLE ledger_head IN EXCLUSIVE MODE")
                            .await?;
                    }
                    let head: i64 = c
                        .query_one("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE", &[])
                        .await?
                        .get(0);
                    let rows = c
                        .query(
                            "SELECT seq, record FROM ledger_batches WHERE seq > $1 ORDER BY seq",
                            &[&from],
                        )
                        .await?;
                    let others: Vec<(i64, Vec<u8>)> =
                        rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
                    Ok((head, others))
                })
            })?;
            let others = decode_batches(others).map_err(StepError::Fail)?;
            // From here on `decide` has run: a failure is reported, not
            // retried (the caller reloads its ledger from the journal).
            let decided = match decide(others) {
                Ok(d) => d,
                Err(e) => {
                    refused = Some(e);
                    return Err(StepError::Fail(StoreError::Io("refused".into())));
                }
            };
            let Some((batch, appended)) = decided else {
                t.rollback().map_err(fail)?;
                return Ok(false);
            };
            if batch.seq as i64 != head + 1 {
                return Err(StepError::Fail(corrupt(
                    "head",
                    format!("batch {} does not follow batch {head}", batch.seq),
                )));
            }
            let r = rows(&batch, &appended).map_err(StepError::Fail)?;
            t.commit_with(move |c| Box::pin(async move { write_rows(c, r).await }))
                .map_err(fail)?;
            Ok(true)
        });
        match (written, refused) {
            (_, Some(e)) => Err(e),
            (Ok(w), None) => Ok(w),
            (Err(e), None) => Err(e.into()),
        }
    }

    fn batch_transfers(&self, seq: u64) -> Result<Vec<Transfer>, StoreError> {
        let batch = seq as i64;
        let bytes: Option<Vec<u8>> = self.pg.query(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT transfers FROM ledger_history WHERE batch = $1",
                    &[&batch],
                )
                .await?
                .map(|r| r.get(0)))
            })
        })?;
        match bytes {
            Some(b) => decode(format!("h{seq}").as_bytes(), &b),
            None => Ok(Vec::new()),
        }
    }

    fn due_events(&self, now: i64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let until = now.saturating_add(CLAIM_SECS);
        let limit = limit as i64;
        let mut rows: Vec<(i64, Vec<u8>)> = self.pg.query(move |c| {
            Box::pin(async move {
                // Claimed, so two hosts never deliver the same event at
                // once; SKIP LOCKED lets each take different ones.
                let rows = c
                    .query(
                        "UPDATE ledger_outbox SET claimed_until = $2
                         WHERE seq IN (
                             SELECT seq FROM ledger_outbox
                             WHERE NOT gave_up AND next_at <= $1
                               AND (claimed_until IS NULL OR claimed_until <= $1)
                             ORDER BY seq LIMIT $3
                             FOR UPDATE SKIP LOCKED)
                         RETURNING seq, delivery",
                        &[&now, &until, &limit],
                    )
                    .await?;
                Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        rows.sort_by_key(|(seq, _)| *seq);
        rows.into_iter()
            .map(|(seq, d)| decode(format!("e{seq}").as_bytes(), &d))
            .collect()
    }

    fn all_events(&self) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = self.pg.query(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT seq, delivery FROM ledger_outbox ORDER BY seq", &[])
                    .await?;
                Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        rows.into_iter()
            .map(|(seq, d)| decode(format!("e{seq}").as_bytes(), &d))
            .collect()
    }

    fn event_delivered(&self, seq: u64) -> Result<(), StoreError> {
        let seq = seq as i64;
        self.pg.query(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM ledger_outbox WHERE seq = $1", &[&seq])
                    .await
                    .map(|_| ())
            })
        })
    }

    fn event_failed(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let seq = delivery.event.seq as i64;
        let (next_at, gave_up) = (delivery.next_at, delivery.gave_up);
        let bytes = encode(delivery)?;
        self.pg.query(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE ledger_outbox SET delivery = $2, next_at = $3, gave_up = $4,
                     claimed_until = NULL WHERE seq = $1",
                    &[&seq, &bytes, &next_at, &gave_up],
                )
                .await
                .map(|_| ())
            })
        })
    }

    fn restore_events(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let mut seqs = Vec::new();
        let mut bytes = Vec::new();
        let mut next = Vec::new();
        let mut gave_up = Vec::new();
        for d in deliveries {
            seqs.push(d.event.seq as i64);
            bytes.push(encode(d)?);
            next.push(d.next_at);
            gave_up.push(d.gave_up);
        }
        self.pg.query(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO ledger_outbox (seq, delivery, next_at, gave_up)
                     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::boolean[])
                     ON CONFLICT (seq) DO UPDATE SET delivery = excluded.delivery,
                         next_at = excluded.next_at, gave_up = excluded.gave_up",
                    &[&seqs, &bytes, &next, &gave_up],
                )
                .await
                .map(|_| ())
            })
        })
    }

    fn audit_tables(&self) -> Result<Option<TableAudit>, StoreError> {
        let found = self.pg.query(|c| Box::pin(async move { audit(c).await }))?;
        found.map(Some)
    }
}

fn fail(e: StepError) -> StepError {
    StepError::Fail(e.into())
}

/// The ledger's invariants, checked over every row in SQL.
async fn audit(
    c: &tokio_postgres::Client,
) -> Result<Result<TableAudit, StoreError>, tokio_postgres::Error> {
    let head: i64 = c
        .query_one("SELECT seq FROM ledger_head WHERE id = 1", &[])
        .await?
        .get(0);
    let b = c
        .query_one(
            "SELECT count(*)::bigint, coalesce(max(seq), 0)::bigint, coalesce(min(seq), 1)::bigint FROM ledger_batches",
            &[],
        )
        .await?;
    let (n, max, min): (i64, i64, i64) = (b.get(0), b.get(1), b.get(2));
    if n != max || min != 1 || head != max {
        return Ok(Err(corrupt(
            "batches",
            format!("{n} batches numbered {min}..={max}, head at {head}: the journal has gaps"),
        )));
    }
    let t = c
        .query_one(
            "SELECT count(*)::bigint, coalesce(max(seq), 0)::bigint FROM ledger_transfers",
            &[],
        )
        .await?;
    let (transfers, tmax): (i64, i64) = (t.get(0), t.get(1));
    if transfers != tmax {
        return Ok(Err(corrupt(
            "transfers",
            format!("{transfers} transfers numbered up to {tmax}: transfers are missing"),
        )));
    }
    let total: i64 = c
        .query_one(
            "SELECT coalesce(sum(balance), 0)::bigint FROM ledger_balances",
            &[],
        )
        .await?
        .get(0);
    if total != 0 {
        return Ok(Err(corrupt(
            "balances",
            format!("balances add up to {total}, not 0: money was made or lost"),
        )));
    }
    let wrong = c
        .query(
            "SELECT coalesce(b.account, t.account), coalesce(b.balance, 0)::bigint, coalesce(t.net, 0)::bigint
             FROM ledger_balances b
             FULL JOIN (
                 SELECT account, sum(delta)::bigint AS net FROM (
                     SELECT to_account AS account, amount AS delta FROM ledger_transfers
                     UNION ALL
                     SELECT from_account, -amount FROM ledger_transfers
                 ) moves GROUP BY account
             ) t ON t.account = b.account
             WHERE coalesce(b.balance, 0) <> coalesce(t.net, 0)
             LIMIT 3",
            &[],
        )
        .await?;
    if let Some(r) = wrong.first() {
        let (account, balance, net): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
        return Ok(Err(corrupt(
            "balances",
            format!("{account} holds {balance} but its transfers add up to {net}"),
        )));
    }
    let negative = c
        .query(
            "SELECT account, balance FROM ledger_balances
             WHERE balance < 0 AND account NOT LIKE 'system:%' LIMIT 1",
            &[],
        )
        .await?;
    if let Some(r) = negative.first() {
        let (account, balance): (String, i64) = (r.get(0), r.get(1));
        return Ok(Err(corrupt(
            "balances",
            format!("{account} is negative ({balance})"),
        )));
    }
    let rows = c
        .query(
            "SELECT account, balance FROM ledger_balances ORDER BY account",
            &[],
        )
        .await?;
    let mut audit = TableAudit {
        batches: n as u64,
        transfers: transfers as u64,
        balances: Vec::new(),
        issued: 0,
        redeemed: 0,
    };
    for r in rows {
        let (account, balance): (String, i64) = (r.get(0), r.get(1));
        if account == Account::Issuance.key() {
            audit.issued = balance.unsigned_abs();
        } else if account == Account::Redemption.key() {
            audit.redeemed = balance as u64;
        } else if balance != 0 {
            audit.balances.push((account, balance as u64));
        }
    }
    Ok(Ok(audit))
}
