//! The database backend: every store trait on a PostgreSQL-protocol engine
//! (PostgreSQL; CockroachDB and YugabyteDB speak the same protocol), so
//! several stateless hosts can share one database. It owns the schema and
//! its migrations, the pool, and the bridge from the services' synchronous
//! store calls to the async driver.
//!
//! The store traits are synchronous (the embedded backend answers from
//! memory-mapped pages in microseconds). This backend runs the driver
//! (tokio-postgres, pooled by deadpool-postgres) on a small runtime of its
//! own; a call hands its query there and waits, inside `block_in_place`
//! when it is made from a worker of the host's runtime, so the host's other
//! tasks keep running meanwhile.

mod blobs;
mod kv;
mod ledger;
mod messaging;
mod records;
mod schema;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use crate::{Backend, BlobStore, KvStore, LedgerStore, MessagingStore, RecordStore, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use schema::SCHEMA_VERSION;

/// How a host learns of other hosts' changes: `auto` (LISTEN/NOTIFY when
/// the engine takes LISTEN, else polling), `notify` or `poll`.
pub const FOLLOW_ENV: &str = "SUPERAPP_STORE_FOLLOW";

/// Connections each host keeps to the database at most.
const POOL_SIZE: usize = 16;
/// Tries of a transaction the database asked to retry (serialization
/// failures, deadlocks) before the error is reported.
const MAX_TRIES: u32 = 12;

/// `url` with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    // postgres://user:password@host/db → postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A database error as the store reports it: the server's own message when
/// there is one (with its SQLSTATE), else the driver's.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Io(format!(
            "database: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        )),
        None => StoreError::Io(format!("database: {e}")),
    }
}

/// Whether the database asks for the transaction to be tried again.
pub(crate) fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Capped, jittered back-off before try `attempt` (from 1).
pub(crate) async fn back_off(attempt: u32) {
    let cap_ms = (2u64 << attempt.min(7)).min(200);
    let ms = rand::random_range(1..=cap_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

struct Inner {
    pool: Pool,
    /// Whether `LOCK TABLE` works (PostgreSQL; not CockroachDB): the
    /// ledger then locks its head before its snapshot is taken.
    lock_table: bool,
    /// Woken by the database's notifications (LISTEN/NOTIFY) when the
    /// engine has them; none means other hosts' changes are polled for.
    changes: Option<Arc<tokio::sync::Notify>>,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    url: String,
}

impl Drop for Inner {
    // Dropped maybe from inside the host's runtime, where a blocking
    // shutdown would panic; the driver's tasks just stop.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// An open database backend. Cheap to clone.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

impl Postgres {
    /// Connects to `url`, checks the server and brings the schema up to
    /// date (refusing a schema newer than this host knows).
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let shown = redact(url);
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::InvalidStore(format!("{shown}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("superapp-db")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Io(format!("{shown}: {e}")))?;
        let handle = runtime.handle().clone();
        let mut pg = Postgres {
            inner: Arc::new(Inner {
                pool,
                lock_table: false,
                changes: None,
                handle: handle.clone(),
                runtime: Some(runtime),
                url: shown.clone(),
            }),
        };
        pg.run(schema::migrate(pg.pool().clone()))
            .map_err(|e| match e {
                StoreError::Io(m) => StoreError::Io(format!("{shown}: {m}")),
                other => other,
            })?;
        let lock_table = pg.run(takes_lock_table(pg.pool().clone()))?;
        let follow_mode = std::env::var(FOLLOW_ENV).unwrap_or_default();
        let notify = match follow_mode.as_str() {
            "" | "auto" => pg.run(listen(url.to_string()))?,
            "notify" => true,
            "poll" => false,
            other => {
                return Err(StoreError::InvalidStore(format!(
                    "{FOLLOW_ENV}=`{other}`: use auto, notify or poll"
                )));
            }
        };
        let changes = if notify {
            let changes = Arc::new(tokio::sync::Notify::new());
            handle.spawn(follow(url.to_string(), changes.clone()));
            Some(changes)
        } else {
            None
        };
        if let Some(inner) = Arc::get_mut(&mut pg.inner) {
            inner.lock_table = lock_table;
            inner.changes = changes;
        }
        Ok(pg)
    }

    /// Whether the engine takes `LOCK TABLE` (see `Inner::lock_table`).
    pub(crate) fn locks_tables(&self) -> bool {
        self.inner.lock_table
    }

    /// Whether writes announce themselves with NOTIFY (the engine has
    /// LISTEN/NOTIFY); else other hosts poll.
    pub fn notifies(&self) -> bool {
        self.inner.changes.is_some()
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Runs `f` on the backend's runtime and waits for it.
    pub(crate) fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.wait(f)?
    }

    /// Runs `f` on a pooled connection (outside any transaction of ours:
    /// one statement, or a transaction `f` makes itself).
    pub(crate) fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c deadpool_postgres::Client,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let pool = self.pool().clone();
        self.run(async move {
            let c = pool.get().await.map_err(pool_error)?;
            f(&c).await.map_err(db_error)
        })
    }

    fn wait<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        let wait = || {
            rx.recv()
                .map_err(|_| StoreError::Io("the database task ended unexpectedly".into()))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

/// Whether the engine takes `LOCK TABLE … IN EXCLUSIVE MODE` inside a
/// transaction (PostgreSQL does; CockroachDB does not).
async fn takes_lock_table(pool: Pool) -> Result<bool, StoreError> {
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c.transaction().await.map_err(db_error)?;
    let ok = tx
        .batch_execute("LOCK TABLE ledger_head IN EXCLUSIVE MODE")
        .await
        .is_ok();
    // A failed statement leaves the transaction aborted; either way end it.
    let _ = tx.rollback().await;
    Ok(ok)
}

/// Whether the engine takes LISTEN (PostgreSQL does; CockroachDB does not).
async fn listen(url: String) -> Result<bool, StoreError> {
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .map_err(db_error)?;
    let task = tokio::spawn(conn);
    let ok = client.batch_execute("LISTEN superapp_probe").await.is_ok();
    drop(client);
    let _ = task.await;
    Ok(ok)
}

/// Keeps one connection listening for other hosts' changes and wakes
/// `changes` on each notification, reconnecting when it drops (and waking
/// then too, since notifications may have been missed meanwhile).
async fn follow(url: String, changes: Arc<tokio::sync::Notify>) {
    use futures_util::StreamExt;
    loop {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, mut conn)) => {
                let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                let listening = async {
                    client
                        .batch_execute("LISTEN superapp_events; LISTEN superapp_apps")
                        .await
                };
                // The connection must be polled for the LISTEN to complete.
                let mut listening = std::pin::pin!(listening);
                let ready = loop {
                    tokio::select! {
                        r = &mut listening => break r.is_ok(),
                        m = messages.next() => if m.is_none() { break false },
                    }
                };
                if ready {
                    changes.notify_one();
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                changes.notify_one()
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for other hosts' changes"),
        }
        changes.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Io(format!("database pool: {other}")),
    }
}

/// A transaction whose steps run on the backend's runtime while the
/// caller's thread decides between them (the ledger's writer applies its
/// commands after it has seen every batch before its own; the messenger
/// builds a write from the ids it was given). A failed step closes the
/// connection instead of returning it to the pool mid-transaction.
pub(crate) struct Txn {
    pg: Postgres,
    client: Option<Object>,
}

/// Why a transaction step failed: whether the database asks for a retry.
pub(crate) enum StepError {
    Retry(StoreError),
    Fail(StoreError),
}

impl From<StepError> for StoreError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Retry(e) | StepError::Fail(e) => e,
        }
    }
}

impl Txn {
    /// Begins a transaction (`SERIALIZABLE` when `serializable`, else the
    /// engine's default, READ COMMITTED on PostgreSQL) and runs its first
    /// step, in one trip to the backend's runtime.
    pub(crate) fn begin<T, F>(
        pg: &Postgres,
        serializable: bool,
        first: F,
    ) -> Result<(Txn, T), StepError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c tokio_postgres::Client,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let pool = pg.pool().clone();
        let sql = if serializable {
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        } else {
            "BEGIN"
        };
        let (client, result) = pg
            .wait(async move {
                let client = match pool.get().await {
                    Ok(c) => c,
                    Err(e) => return (None, Err(Err(pool_error(e)))),
                };
                // Sent together: the driver pipelines them, one round trip.
                let r = async {
                    let (begun, v) =
                        futures_util::future::join(client.batch_execute(sql), first(&client)).await;
                    begun?;
                    v
                }
                .await;
                (Some(client), r.map_err(Ok))
            })
            .map_err(StepError::Fail)?;
        let mut t = Txn {
            pg: pg.clone(),
            client,
        };
        match result {
            Ok(v) => Ok((t, v)),
            Err(Err(e)) => Err(StepError::Fail(e)),
            Err(Ok(e)) => Err(t.failed(e)),
        }
    }

    /// Closes the connection after a failed statement; says whether the
    /// database asks for a retry.
    fn failed(&mut self, e: tokio_postgres::Error) -> StepError {
        if let Some(c) = self.client.take() {
            // Not back into the pool with a transaction open.
            drop(Object::take(c));
        }
        if retryable(&e) {
            StepError::Retry(db_error(e))
        } else {
            StepError::Fail(db_error(e))
        }
    }

    /// Runs one step on the transaction's connection.
    pub(crate) fn step<T, F>(&mut self, f: F) -> Result<T, StepError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c tokio_postgres::Client,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let client = self
            .client
            .take()
            .ok_or_else(|| StepError::Fail(StoreError::Io("transaction already ended".into())))?;
        let (client, result) = self
            .pg
            .wait(async move {
                let r = f(&client).await;
                (client, r)
            })
            .map_err(StepError::Fail)?;
        self.client = Some(client);
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(self.failed(e)),
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), StepError> {
        self.step(|c| Box::pin(async move { c.batch_execute("COMMIT").await }))?;
        self.release();
        Ok(())
    }

    /// Back into the pool, the transaction ended (dropping it still in
    /// `self` would close it: see `Drop`).
    fn release(&mut self) {
        drop(self.client.take());
    }

    /// Runs a last step and commits, in one trip.
    pub(crate) fn commit_with<T, F>(mut self, last: F) -> Result<T, StepError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c tokio_postgres::Client,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let v = self.step(move |c| {
            Box::pin(async move {
                let v = last(c).await?;
                c.batch_execute("COMMIT").await?;
                Ok(v)
            })
        })?;
        self.release();
        Ok(v)
    }

    /// Ends the transaction without writing. Nobody waits for it: the
    /// connection goes back to the pool once the ROLLBACK is through.
    pub(crate) fn rollback(mut self) -> Result<(), StepError> {
        if let Some(client) = self.client.take() {
            self.pg.inner.handle.spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
            });
        }
        Ok(())
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        // Ended without commit or rollback (the caller returned early):
        // close the connection, which rolls the transaction back.
        if let Some(c) = self.client.take() {
            drop(Object::take(c));
        }
    }
}

/// Runs a transaction, trying it again (with back-off) while the database
/// asks for that, up to [`MAX_TRIES`].
pub(crate) fn retrying<T>(
    pg: &Postgres,
    mut attempt: impl FnMut() -> Result<T, StepError>,
) -> Result<T, StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt() {
            Ok(v) => return Ok(v),
            Err(StepError::Retry(e)) if tries < MAX_TRIES => {
                tracing::debug!(error = %e, tries, "database asked for a retry");
                pg.wait(back_off(tries))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Backend for Postgres {
    fn record_store(&self, name: &'static str) -> Result<Arc<dyn RecordStore>, StoreError> {
        Ok(Arc::new(records::PgRecords::new(self.clone(), name)))
    }
    fn kv_store(&self) -> Result<Arc<dyn KvStore>, StoreError> {
        Ok(Arc::new(kv::PgKv::new(self.clone())))
    }
    fn ledger_store(&self) -> Result<Arc<dyn LedgerStore>, StoreError> {
        Ok(Arc::new(ledger::PgLedger::new(self.clone())))
    }
    fn messaging_store(&self) -> Result<Arc<dyn MessagingStore>, StoreError> {
        Ok(Arc::new(messaging::open(self.clone())?))
    }
    fn blob_store(&self) -> Arc<dyn BlobStore> {
        Arc::new(blobs::PgBlobs::new(self.clone()))
    }
    fn flush_all(&self) -> Result<(), StoreError> {
        // Every write here is a committed transaction already.
        Ok(())
    }
    fn shared(&self) -> bool {
        true
    }
    fn lease(&self, name: &str, holder: &str, now: i64, ttl: i64) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let until = now.saturating_add(ttl);
        self.query(move |c| {
            Box::pin(async move {
                // Taken when free or run out, renewed by its holder; one
                // statement, so two hosts never both get it.
                let n = c
                    .execute(
                        "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                         WHERE leases.until <= $4 OR leases.holder = excluded.holder",
                        &[&name, &holder, &until, &now],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }
    fn apps_version(&self) -> Result<u64, StoreError> {
        self.query(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT version FROM changes WHERE name = 'apps'", &[])
                    .await?;
                Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
            })
        })
    }
    fn bump_apps_version(&self) -> Result<(), StoreError> {
        self.query(|c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO changes (name, version) VALUES ('apps', 1)
                     ON CONFLICT (name) DO UPDATE SET version = changes.version + 1",
                    &[],
                )
                .await?;
                // Wakes hosts listening, so they reload at once (others poll).
                c.batch_execute("NOTIFY superapp_apps").await.ok();
                Ok(())
            })
        })
    }
    fn describe(&self) -> String {
        self.inner.url.clone()
    }
    fn live_events_after(&self, after: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let after = after as i64;
        self.query(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT uid, id FROM msg_events WHERE id > $1 ORDER BY id LIMIT 10000",
                        &[&after],
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                    .collect())
            })
        })
    }
    fn newest_live_event(&self) -> Result<u64, StoreError> {
        self.query(|c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT coalesce(max(id), 0)::bigint FROM msg_events", &[])
                    .await?;
                Ok(row.get::<_, i64>(0) as u64)
            })
        })
    }
    fn changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.changes.clone()
    }
    fn prune_live_events(&self, keep: u64) -> Result<u64, StoreError> {
        let keep = keep as i64;
        self.query(move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM msg_events
                     WHERE id < (SELECT coalesce(max(id), 0) FROM msg_events) - $1",
                    &[&keep],
                )
                .await
            })
        })
    }
    fn record_trees(&self) -> Result<Vec<String>, StoreError> {
        self.query(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT DISTINCT tree FROM records WHERE tree <> 'messaging' ORDER BY tree",
                        &[],
                    )
                    .await?;
                Ok(rows.into_iter().map(|r| r.get(0)).collect())
            })
        })
    }
    fn is_empty(&self) -> Result<bool, StoreError> {
        self.query(|c| {
            Box::pin(async move {
                let row = c
                    .query_one(
                        "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM kv)
                              + (SELECT count(*) FROM blobs) + (SELECT count(*) FROM ledger_batches)
                              + (SELECT count(*) FROM ledger_outbox) + (SELECT count(*) FROM msg_events)",
                        &[],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0) == 0)
            })
        })
    }
    fn reserve_ids(&self, above: u64) -> Result<(), StoreError> {
        let next = above.saturating_add(1) as i64;
        self.query(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE msg_head SET next = greatest(next, $1) WHERE id = 1",
                    &[&next],
                )
                .await
                .map(|_| ())
            })
        })
    }
}
