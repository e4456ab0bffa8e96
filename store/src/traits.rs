//! The traits the services persist through, and the records they pass: a
//! backend is one implementation of each (sled's are in this crate; the
//! conformance suite says what every one must do).

use crate::{KvWriteError, MessagingWrite, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use superapp_core::messaging::{AppDelivery, Conversation, LiveEvent, Membership, Message, Window};
use superapp_core::wallet::{Appended, Command, Fresh, Rules, Transfer, WalletError, WalletEvent};

/// The store's failures, as the wallet reports them (`storage-io`).
impl From<StoreError> for WalletError {
    fn from(e: StoreError) -> Self {
        WalletError::Storage(e.to_string())
    }
}

/// One journaled command with everything its replay needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub cmd: Command,
    /// Empty for commands that create nothing.
    #[serde(default, skip_serializing_if = "Fresh::is_none")]
    pub fresh: Fresh,
    pub now: i64,
}

/// One group commit: the commands that changed the ledger, in order, and a
/// digest of what they appended. Replaying `entries` must append transfers
/// and events with exactly this digest; a journal that does not is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub seq: u64,
    pub rules: Rules,
    pub entries: Vec<Entry>,
    /// SHA-256 of the transfers and events the batch appended.
    pub digest: [u8; 32],
}

/// The digest a batch record keeps of what it appended.
pub fn digest(appended: &Appended) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let bytes = rmp_serde::to_vec(&(&appended.transfers, &appended.events)).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub event: WalletEvent,
    pub attempts: u32,
    /// Unix seconds of the next try.
    pub next_at: i64,
    pub last_error: Option<String>,
    /// Every retry failed; kept for the operator, not tried again.
    pub gave_up: bool,
}

/// What a ledger writer decides once it has seen every batch committed
/// before its own: given the batches other writers committed since it last
/// looked (oldest first), the batch to write next and what it appended, or
/// none when its commands changed nothing.
pub type Decide<'a> =
    &'a mut dyn FnMut(Vec<BatchRecord>) -> Result<Option<(BatchRecord, Appended)>, WalletError>;

/// What a backend that keeps the ledger in tables of its own finds when it
/// checks them (the embedded backend keeps only the journal, so it has
/// nothing to add to the replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableAudit {
    pub batches: u64,
    pub transfers: u64,
    /// Every account that is not a system account, by `Account::key`.
    pub balances: Vec<(String, u64)>,
    pub issued: u64,
    pub redeemed: u64,
}

/// Where the ledger persists. The ledger logic never sees how.
pub trait LedgerStore: Send + Sync {
    /// Feeds every committed batch to `f`, oldest first.
    fn replay(
        &self,
        f: &mut dyn FnMut(BatchRecord) -> Result<(), WalletError>,
    ) -> Result<(), WalletError>;
    /// The batches committed after batch `after`, oldest first: what other
    /// hosts wrote, on a backend several hosts share.
    fn batches_after(&self, after: u64) -> Result<Vec<BatchRecord>, StoreError>;
    /// Writes the next batch: hands `decide` every batch committed after
    /// `after` and writes the one it returns (journal, history, outbox)
    /// atomically and durably, with no other writer's batch landing in
    /// between. Says whether it wrote one. When this returns Ok the batch
    /// survives a crash; when it fails, `decide` may have run and its batch
    /// is not written.
    fn commit_next(&self, after: u64, decide: Decide<'_>) -> Result<bool, WalletError>;
    /// Writes one batch that must follow the last one directly.
    fn commit(&self, batch: &BatchRecord, appended: &Appended) -> Result<(), StoreError> {
        let mut decide = |others: Vec<BatchRecord>| {
            if let Some(b) = others.first() {
                return Err(WalletError::Corrupt(format!(
                    "batch {} is already written",
                    b.seq
                )));
            }
            Ok(Some((batch.clone(), appended.clone())))
        };
        self.commit_next(batch.seq.saturating_sub(1), &mut decide)
            .map(|_| ())
            .map_err(|e| StoreError::Io(e.to_string()))
    }
    /// The backend's own check of its ledger tables, if it keeps any.
    fn audit_tables(&self) -> Result<Option<TableAudit>, StoreError> {
        Ok(None)
    }
    /// The transfers batch `seq` appended, in order.
    fn batch_transfers(&self, seq: u64) -> Result<Vec<Transfer>, StoreError>;
    /// Outbox entries due by `now` (not given up), oldest first. On a
    /// shared backend each is claimed for a while, so another host does not
    /// deliver it at the same time (a host that dies leaves it to be
    /// claimed again once the claim runs out).
    fn due_events(&self, now: i64, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Every outbox entry, for operators and tests.
    fn all_events(&self) -> Result<Vec<Delivery>, StoreError>;
    /// Removes a delivered event.
    fn event_delivered(&self, seq: u64) -> Result<(), StoreError>;
    /// Records a failed try (the caller sets attempts, next_at, gave_up).
    fn event_failed(&self, delivery: &Delivery) -> Result<(), StoreError>;
    /// Puts outbox entries back as they were (moving a deployment to
    /// another backend: tries, next times and give-ups kept).
    fn restore_events(&self, deliveries: &[Delivery]) -> Result<(), StoreError>;
}

/// Where per-app storage persists: the store module implements it on sled.
/// Keys arrive checked; `user` is `None` for the app scope. Usage is the
/// sum of key and value lengths of the app's keys, kept exact by every write.
pub trait KvStore: Send + Sync {
    fn get(&self, app: &str, user: Option<&str>, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes `value` unless the app's usage would pass `quota`.
    fn set(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<(), KvWriteError>;
    /// Compare-and-swap: writes `new` (`None` deletes) only if the stored
    /// value is `expected` (`None`: absent); says whether it did.
    fn swap(
        &self,
        app: &str,
        user: Option<&str>,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        quota: u64,
    ) -> Result<bool, KvWriteError>;
    /// Whether there was a value to delete.
    fn delete(&self, app: &str, user: Option<&str>, key: &str) -> Result<bool, StoreError>;
    /// Keys starting with `prefix`, in order, after `after`, at most
    /// `limit`; and whether more follow.
    fn list(
        &self,
        app: &str,
        user: Option<&str>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError>;
    /// Every key and value of `user` in `app`.
    fn user_entries(&self, app: &str, user: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Bytes the app uses.
    fn usage(&self, app: &str) -> Result<u64, StoreError>;
    /// Every app in which `user` holds keys.
    fn apps_with_user_data(&self, user: &str) -> Result<BTreeSet<String>, StoreError>;
    /// Removes every key of `app` and its usage.
    fn purge_app(&self, app: &str) -> Result<(), StoreError>;
    /// Every key of every app: (app, user or none for the app scope, key,
    /// value). For moving a deployment to another backend.
    fn export(&self) -> Result<Vec<KvEntry>, StoreError>;
}

/// One stored key, as [`KvStore::export`] gives it.
pub type KvEntry = (String, Option<String>, String, Vec<u8>);

/// What an ordered messaging write is built by: given a source of fresh
/// ids, the write to apply (none: nothing to write, the caller keeps why).
pub type BuildWrite<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut() -> Result<u64, StoreError>) -> Option<MessagingWrite>;

/// Told of each write once it is applied, before the next ordered write
/// can be: calls come in id order (the messenger queues live events with
/// it, to hand them out in that order once they are durable). With it come
/// the (person, event id) other hosts sharing the store committed with
/// smaller ids since this host last looked: their streams must read those
/// from the store before they are handed this write's events.
pub type Applied<'a> = &'a mut dyn FnMut(&MessagingWrite, &[(String, u64)]);

/// Names an applied write's way to durability: give it to `flush_write`.
pub type Ticket = u64;

/// Where the messenger persists. Ids come from `write_ordered`, each
/// greater than every id handed out before (also across restarts and
/// hosts), and writes become visible in id order. `apply` is atomic and
/// visible to readers at once; `flush` makes everything applied so far
/// durable. Ordered writes are group-committed: `flush_write` makes one
/// durable together with every write applied meanwhile (one fsync, or on
/// a database one transaction, for all of them).
#[async_trait::async_trait]
pub trait MessagingStore: Send + Sync {
    /// Hands `build` fresh ids and applies what it returns, ordered so that
    /// a reader that has seen id N never later finds a smaller id appear.
    /// `applied` is called under the same order, once the write is in.
    fn write_ordered(
        &self,
        build: BuildWrite<'_>,
        applied: Applied<'_>,
    ) -> Result<Option<(MessagingWrite, Ticket)>, StoreError>;
    /// Returns once the write behind `ticket` is durable, or says it never
    /// will be (then it is not visible either where the backend holds
    /// writes until they commit).
    async fn flush_write(&self, ticket: Ticket) -> Result<(), StoreError>;
    fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;
    fn membership(&self, user: &str, conv: &str) -> Result<Option<Membership>, StoreError>;
    /// Every conversation the person belongs to, with their membership.
    fn memberships(&self, user: &str) -> Result<Vec<(String, Membership)>, StoreError>;
    /// The direct conversation of a pair (either order).
    fn direct(&self, a: &str, b: &str) -> Result<Option<String>, StoreError>;
    /// Up to `limit` messages of `conv` with ids in (`after`, `before`):
    /// the newest first when `newest_first`, else the oldest first.
    fn messages(
        &self,
        conv: &str,
        after: u64,
        before: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Message>, StoreError>;
    /// How many messages of `conv` have an id above `after` (at most `cap`).
    fn count_after(&self, conv: &str, after: u64, cap: usize) -> Result<usize, StoreError>;
    /// The person's live events after `after`, oldest first.
    fn stream_after(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LiveEvent>, StoreError>;
    /// The id of the person's newest live event.
    fn newest_event(&self, user: &str) -> Result<Option<u64>, StoreError>;
    fn app_conversation(&self, user: &str, app: &str) -> Result<Option<String>, StoreError>;
    /// One-time subscriptions left (0: none).
    fn subscription(&self, user: &str, app: &str, topic: &str) -> Result<u32, StoreError>;
    fn subscriptions(&self, user: &str, app: &str) -> Result<Vec<(String, u32)>, StoreError>;
    fn window(&self, app: &str, user: &str) -> Result<Option<Window>, StoreError>;
    /// Up to `limit` messages due for delivery to apps by `now` (not given up).
    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<AppDelivery>, StoreError>;
    /// Every delivery still held (due, waiting or given up).
    fn deliveries(&self) -> Result<Vec<AppDelivery>, StoreError>;
    fn packet_conversation(&self, packet: &str) -> Result<Option<String>, StoreError>;
    fn apply(&self, w: &MessagingWrite) -> Result<(), StoreError>;
    async fn flush(&self) -> Result<(), StoreError>;
}

/// Where installed apps' files live — components and UI sections — by name
/// (a relative path such as `components/shop/1.0.0-ab12….wasm`). `put` is
/// atomic and durable when it returns; a name is written once per content
/// (names carry the content's digest), so readers never race a rewrite.
pub trait BlobStore: Send + Sync {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// The whole blob; none if there is no such name.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// `len` bytes from `offset`; none if there is no such name, an error if
    /// the blob is shorter.
    fn read_at(&self, name: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether there was a blob to remove.
    fn remove(&self, name: &str) -> Result<bool, StoreError>;
}
