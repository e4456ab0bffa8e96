//! The messenger in the database: its records in the shared key layout
//! (tree `messaging`), with ordered writes that lock the id counter's row
//! for the whole transaction. Ids are taken and committed under that lock,
//! so they become visible in id order across every host: a client resuming
//! after id N can never miss a smaller id committed later.

use super::records::{PgRecords, write_records};
use super::{Postgres, StepError, Txn, retrying};
use crate::{MessagingTree, MessagingWrite, OrderedWrites, StoreError};
use std::sync::Arc;

pub(crate) fn open(pg: Postgres) -> MessagingTree {
    let records = Arc::new(PgRecords::new(pg.clone(), "messaging"));
    MessagingTree::new(records, Arc::new(PgOrder { pg }))
}

struct PgOrder {
    pg: Postgres,
}

impl OrderedWrites for PgOrder {
    fn write_ordered(
        &self,
        build: crate::BuildWrite<'_>,
    ) -> Result<Option<MessagingWrite>, StoreError> {
        let mut built = false;
        retrying(&self.pg, || {
            if built {
                // `build` has run and its write was not committed; it is not
                // run twice (the caller reports the failure).
                return Err(StepError::Fail(StoreError::Io(
                    "the messaging write was not committed".into(),
                )));
            }
            let (t, first): (Txn, i64) = Txn::begin(&self.pg, false, |c| {
                Box::pin(async move {
                    Ok(
                        c.query_one("SELECT next FROM msg_head WHERE id = 1 FOR UPDATE", &[])
                            .await?
                            .get(0),
                    )
                })
            })?;
            let mut next = first as u64;
            let mut take = || -> Result<u64, StoreError> {
                next += 1;
                Ok(next - 1)
            };
            built = true;
            let Some(write) = build(&mut take) else {
                t.rollback().map_err(|e| StepError::Fail(e.into()))?;
                return Ok(None);
            };
            let after = next as i64;
            let (puts, removes) = write.records().map_err(StepError::Fail)?;
            let (ids, uids): (Vec<i64>, Vec<String>) = write
                .stream
                .iter()
                .map(|(user, e)| (e.id as i64, user.clone()))
                .unzip();
            let notify = self.pg.notifies();
            t.commit_with(move |c| {
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
                            // Delivered when (and only if) this commits.
                            c.batch_execute("NOTIFY superapp_events").await?;
                        }
                    }
                    Ok(Ok(()))
                })
            })
            .map_err(|e| StepError::Fail(e.into()))?
            .map_err(StepError::Fail)?;
            Ok(Some(write))
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Each write is a committed transaction already.
        Ok(())
    }
}
