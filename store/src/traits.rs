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

/// Where the ledger persists. The store module implements it on sled; the
/// ledger logic never sees how.
pub trait LedgerStore: Send + Sync {
    /// Feeds every committed batch to `f`, oldest first.
    fn replay(
        &self,
        f: &mut dyn FnMut(BatchRecord) -> Result<(), WalletError>,
    ) -> Result<(), WalletError>;
    /// Writes one batch (journal, history index, outbox) atomically and
    /// durably: when this returns Ok it survives a crash.
    fn commit(&self, batch: &BatchRecord, appended: &Appended) -> Result<(), StoreError>;
    /// The transfers batch `seq` appended, in order.
    fn batch_transfers(&self, seq: u64) -> Result<Vec<Transfer>, StoreError>;
    /// Outbox entries due by `now` (not given up), oldest first.
    fn due_events(&self, now: i64, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Every outbox entry, for operators and tests.
    fn all_events(&self) -> Result<Vec<Delivery>, StoreError>;
    /// Removes a delivered event.
    fn event_delivered(&self, seq: u64) -> Result<(), StoreError>;
    /// Records a failed try (the caller sets attempts, next_at, gave_up).
    fn event_failed(&self, delivery: &Delivery) -> Result<(), StoreError>;
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
}

/// Where the messenger persists: the store module implements it on sled.
/// Ids come from `next_id`, greater than every id handed out before (also
/// across restarts). `apply` is atomic and visible to readers at once;
/// `flush` makes everything applied so far durable.
#[async_trait::async_trait]
pub trait MessagingStore: Send + Sync {
    fn next_id(&self) -> Result<u64, StoreError>;
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
