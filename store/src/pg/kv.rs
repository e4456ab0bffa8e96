//! Per-app key-value storage in the database. A write locks the app's
//! usage row first (`SELECT … FOR UPDATE`), so writers on every host take
//! turns per app and the quota is exact; reads take no lock.

use super::{Postgres, StepError, Txn, db_error, pool_error, retrying};
use crate::{KvStore, KvWriteError, StoreError};
use std::collections::BTreeSet;

pub(crate) struct PgKv {
    pg: Postgres,
}

impl PgKv {
    pub(crate) fn new(pg: Postgres) -> PgKv {
        PgKv { pg }
    }

    /// `set` (no `condition`) and `swap` (write only over `condition`).
    fn write(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        condition: Option<Option<&[u8]>>,
        new: Option<&[u8]>,
        quota: u64,
    ) -> Result<bool, KvWriteError> {
        let app = app.to_string();
        let uid = user.unwrap_or("").to_string();
        let k = key.as_bytes().to_vec();
        let condition = condition.map(|c| c.map(<[u8]>::to_vec));
        let new = new.map(<[u8]>::to_vec);
        let mut refused = None;
        let done = retrying(&self.pg, || {
            let (app2, uid2, k2) = (app.clone(), uid.clone(), k.clone());
            let (t, (used, current)): (Txn, (i64, Option<Vec<u8>>)) =
                Txn::begin(&self.pg, false, move |c| {
                    Box::pin(async move {
                        c.execute(
                        "INSERT INTO kv_usage (app, used) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                        &[&app2],
                    )
                    .await?;
                        let used: i64 = c
                            .query_one(
                                "SELECT used FROM kv_usage WHERE app = $1 FOR UPDATE",
                                &[&app2],
                            )
                            .await?
                            .get(0);
                        let current = c
                            .query_opt(
                                "SELECT value FROM kv WHERE app = $1 AND uid = $2 AND key = $3",
                                &[&app2, &uid2, &k2],
                            )
                            .await?
                            .map(|r| r.get(0));
                        Ok((used, current))
                    })
                })?;
            if condition
                .as_ref()
                .is_some_and(|expected| current.as_deref() != expected.as_deref())
            {
                t.rollback()?;
                return Ok(false);
            }
            let size = |v: Option<&[u8]>| v.map_or(0, |v| (k.len() + v.len()) as u64);
            let (old_size, new_size) = (size(current.as_deref()), size(new.as_deref()));
            let would_use = (used as u64).saturating_sub(old_size) + new_size;
            if would_use > quota && new_size > old_size {
                refused = Some(KvWriteError::Quota { would_use, quota });
                t.rollback()?;
                return Ok(false);
            }
            let (app2, uid2, k2, new2) = (app.clone(), uid.clone(), k.clone(), new.clone());
            let would = would_use as i64;
            t.commit_with(move |c| {
                Box::pin(async move {
                    match &new2 {
                        Some(v) => {
                            c.execute(
                                "INSERT INTO kv (app, uid, key, value) VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (app, uid, key) DO UPDATE SET value = excluded.value",
                                &[&app2, &uid2, &k2, v],
                            )
                            .await?
                        }
                        None => {
                            c.execute(
                                "DELETE FROM kv WHERE app = $1 AND uid = $2 AND key = $3",
                                &[&app2, &uid2, &k2],
                            )
                            .await?
                        }
                    };
                    c.execute(
                        "UPDATE kv_usage SET used = $2 WHERE app = $1",
                        &[&app2, &would],
                    )
                    .await?;
                    Ok(())
                })
            })?;
            Ok(true)
        })?;
        match refused {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

fn scope(user: Option<&str>) -> String {
    user.unwrap_or("").to_string()
}

impl KvStore for PgKv {
    fn get(&self, app: &str, user: Option<&str>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (app, uid, k) = (app.to_string(), scope(user), key.as_bytes().to_vec());
        self.pg.query(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT value FROM kv WHERE app = $1 AND uid = $2 AND key = $3",
                    &[&app, &uid, &k],
                )
                .await?
                .map(|r| r.get(0)))
            })
        })
    }

    fn set(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<(), KvWriteError> {
        self.write(app, user, key, None, Some(value), quota)
            .map(|_| ())
    }

    fn swap(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        quota: u64,
    ) -> Result<bool, KvWriteError> {
        self.write(app, user, key, Some(expected), new, quota)
    }

    fn delete(&self, app: &str, user: Option<&str>, key: &str) -> Result<bool, StoreError> {
        let (app, uid, k) = (app.to_string(), scope(user), key.as_bytes().to_vec());
        retrying(&self.pg, || {
            let (app, uid, k) = (app.clone(), uid.clone(), k.clone());
            let (t, gone) = Txn::begin(&self.pg, false, move |c| {
                Box::pin(async move {
                    c.execute(
                        "INSERT INTO kv_usage (app, used) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                        &[&app],
                    )
                    .await?;
                    c.query_one(
                        "SELECT used FROM kv_usage WHERE app = $1 FOR UPDATE",
                        &[&app],
                    )
                    .await?;
                    let old = c
                        .query_opt(
                            "DELETE FROM kv WHERE app = $1 AND uid = $2 AND key = $3 RETURNING value",
                            &[&app, &uid, &k],
                        )
                        .await?;
                    let Some(old) = old else {
                        return Ok(false);
                    };
                    let size = (k.len() + old.get::<_, Vec<u8>>(0).len()) as i64;
                    c.execute(
                        "UPDATE kv_usage SET used = greatest(used - $2, 0) WHERE app = $1",
                        &[&app, &size],
                    )
                    .await?;
                    Ok(true)
                })
            })?;
            t.commit()?;
            Ok::<_, StepError>(gone)
        })
    }

    fn list(
        &self,
        app: &str,
        user: Option<&str>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let (app, uid) = (app.to_string(), scope(user));
        let lo = prefix.as_bytes().to_vec();
        let hi = super::records::prefix_end(&lo);
        // Strictly after `after` when it is inside the prefix's range.
        let start = match after {
            Some(a) if a.as_bytes() >= prefix.as_bytes() => {
                let mut from = a.as_bytes().to_vec();
                from.push(0);
                from
            }
            _ => lo,
        };
        let take = limit as i64 + 1;
        let mut keys: Vec<String> = self.pg.query(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT key FROM kv WHERE app = $1 AND uid = $2 AND key >= $3
                         AND ($4::bytea IS NULL OR key < $4) ORDER BY key LIMIT $5",
                        &[&app, &uid, &start, &hi, &take],
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| String::from_utf8_lossy(&r.get::<_, Vec<u8>>(0)).into_owned())
                    .collect())
            })
        })?;
        let more = keys.len() > limit;
        keys.truncate(limit);
        Ok((keys, more))
    }

    fn user_entries(&self, app: &str, user: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (app, uid) = (app.to_string(), user.to_string());
        self.pg.query(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT key, value FROM kv WHERE app = $1 AND uid = $2 ORDER BY key",
                        &[&app, &uid],
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        (
                            String::from_utf8_lossy(&r.get::<_, Vec<u8>>(0)).into_owned(),
                            r.get(1),
                        )
                    })
                    .collect())
            })
        })
    }

    fn usage(&self, app: &str) -> Result<u64, StoreError> {
        let app = app.to_string();
        self.pg.query(move |c| {
            Box::pin(async move {
                Ok(
                    c.query_opt("SELECT used FROM kv_usage WHERE app = $1", &[&app])
                        .await?
                        .map_or(0, |r| r.get::<_, i64>(0) as u64),
                )
            })
        })
    }

    fn apps_with_user_data(&self, user: &str) -> Result<BTreeSet<String>, StoreError> {
        let uid = user.to_string();
        self.pg.query(move |c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT DISTINCT app FROM kv WHERE uid = $1", &[&uid])
                    .await?;
                Ok(rows.into_iter().map(|r| r.get(0)).collect())
            })
        })
    }

    fn export(&self) -> Result<Vec<crate::KvEntry>, StoreError> {
        self.pg.query(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT app, uid, key, value FROM kv ORDER BY app, uid, key",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let uid: String = r.get(1);
                        (
                            r.get(0),
                            (!uid.is_empty()).then_some(uid),
                            String::from_utf8_lossy(&r.get::<_, Vec<u8>>(2)).into_owned(),
                            r.get(3),
                        )
                    })
                    .collect())
            })
        })
    }

    fn purge_app(&self, app: &str) -> Result<(), StoreError> {
        let app = app.to_string();
        let pool = self.pg.pool().clone();
        self.pg.run(async move {
            let mut c = pool.get().await.map_err(pool_error)?;
            let tx = c.transaction().await.map_err(db_error)?;
            tx.execute("DELETE FROM kv WHERE app = $1", &[&app])
                .await
                .map_err(db_error)?;
            tx.execute("DELETE FROM kv_usage WHERE app = $1", &[&app])
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)
        })
    }
}
