//! The database schema and its versioned migrations, applied at start.
//! Each migration runs once, in its own transaction, recorded in
//! `superapp_schema`; hosts starting together race harmlessly (the loser's
//! insert of the version conflicts and it re-reads). A host refuses a
//! schema newer than it knows, rather than write to tables it misreads.
//!
//! Only portable SQL: no advisory locks, no sequences whose gaps matter,
//! no triggers (CockroachDB and YugabyteDB run it as is).

use super::{db_error, pool_error};
use crate::StoreError;
use deadpool_postgres::Pool;

/// The newest schema this host knows.
pub const SCHEMA_VERSION: i32 = 1;

/// Migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: every store.
    "
    CREATE TABLE records (
        tree  text  NOT NULL,
        key   bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (tree, key)
    );
    CREATE TABLE kv (
        app   text  NOT NULL,
        uid   text  NOT NULL,  -- '' for the app scope
        key   bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (app, uid, key)
    );
    CREATE INDEX kv_by_user ON kv (uid, app);
    CREATE TABLE kv_usage (
        app  text   PRIMARY KEY,
        used bigint NOT NULL CHECK (used >= 0)
    );
    CREATE TABLE blobs (
        name  text  PRIMARY KEY,
        bytes bytea NOT NULL
    );
    CREATE TABLE ledger_head (
        id  integer PRIMARY KEY CHECK (id = 1),
        seq bigint  NOT NULL
    );
    INSERT INTO ledger_head (id, seq) VALUES (1, 0);
    CREATE TABLE ledger_batches (
        seq    bigint PRIMARY KEY,
        record bytea  NOT NULL
    );
    CREATE TABLE ledger_history (
        batch     bigint PRIMARY KEY,
        transfers bytea  NOT NULL
    );
    CREATE TABLE ledger_transfers (
        seq          bigint PRIMARY KEY,
        batch        bigint NOT NULL,
        from_account text   NOT NULL,
        to_account   text   NOT NULL,
        amount       bigint NOT NULL CHECK (amount >= 0)
    );
    CREATE TABLE ledger_balances (
        account text   PRIMARY KEY,
        balance bigint NOT NULL
    );
    CREATE TABLE ledger_outbox (
        seq           bigint  PRIMARY KEY,
        delivery      bytea   NOT NULL,
        next_at       bigint  NOT NULL,
        gave_up       boolean NOT NULL,
        claimed_until bigint
    );
    CREATE TABLE msg_head (
        id   integer PRIMARY KEY CHECK (id = 1),
        next bigint  NOT NULL
    );
    INSERT INTO msg_head (id, next) VALUES (1, 1);
    -- Which person each live event is for, in id order: how hosts learn
    -- of events other hosts wrote (after a NOTIFY, or by polling).
    CREATE TABLE msg_events (
        id  bigint NOT NULL,
        uid text   NOT NULL,
        PRIMARY KEY (id, uid)
    );
    CREATE TABLE leases (
        name   text   PRIMARY KEY,
        holder text   NOT NULL,
        until  bigint NOT NULL
    );
    CREATE TABLE changes (
        name    text   PRIMARY KEY,
        version bigint NOT NULL
    );
    ",
];

/// Applies every migration the database lacks; refuses a newer schema.
pub(super) async fn migrate(pool: Pool) -> Result<(), StoreError> {
    let mut c = pool.get().await.map_err(pool_error)?;
    let encoding: String = c
        .query_one("SHOW server_encoding", &[])
        .await
        .map_err(db_error)?
        .get(0);
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(StoreError::InvalidStore(format!(
            "the database's encoding is {encoding}; superapp needs UTF8 (createdb -E UTF8)"
        )));
    }
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS superapp_schema (
            version    integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(db_error)?;
    loop {
        let current: i32 = c
            .query_one("SELECT coalesce(max(version), 0) FROM superapp_schema", &[])
            .await
            .map_err(db_error)?
            .get(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let next = current + 1;
        let tx = c.transaction().await.map_err(db_error)?;
        // The version first: a second host migrating at the same moment
        // waits on this key, then fails on it and re-reads.
        let claimed = tx
            .execute(
                "INSERT INTO superapp_schema (version) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&next],
            )
            .await
            .map_err(db_error)?;
        if claimed == 0 {
            tx.rollback().await.map_err(db_error)?;
            continue;
        }
        let sql = MIGRATIONS[(next - 1) as usize];
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Io(format!("migration {next} failed: {}", db_error(e))))?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(version = next, "database schema migrated");
    }
}
