//! The messenger's records over any [`RecordStore`]: one key space holding
//! conversations, memberships, messages and each person's live-event
//! stream. A send is one atomic write (the message and every member's stream
//! entry), so a reader never sees half of it. Each backend brings how
//! writes are ordered ([`OrderedWrites`]); the key layout and the readers
//! are this module's, shared by every backend.

use super::{Db, RecordStore, StoreError};
use crate::{Applied, Ticket};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use superapp_core::messaging::{
    AppDelivery, Conversation, LiveBody, LiveEvent, Membership, Message, Window,
};

const TREE: &str = "messaging";

/// Key layout (ids never contain `/`):
/// `c/<conv>` conversation · `m/<conv>/<id>` message · `u/<user>/<conv>`
/// membership · `d/<user a>/<user b>` direct conversation of a pair (a < b) ·
/// `s/<user>/<id>` live event · `p/<packet>` the conversation a red packet
/// was sent into · `a/<user>/<app>` the person's conversation with an app ·
/// `n/<user>/<app>/<topic>` one-time subscriptions left · `w/<app>/<user>`
/// the app's answer window · `o/<id>` a message waiting for its app ·
/// `l/<user>/<conv>/<since>` a conversation the person was in, from id
/// `since` up to (not including) the id the value holds · `x/format` which
/// stream format the records are in. `<id>` is 16 hex digits, so keys sort
/// by id.
///
/// A person's live stream is their `s/` entries (events that are theirs
/// alone) merged with the messages of the conversations they are and were
/// in, each from the membership's `since` on: a message is kept once, not
/// once per member (a 500-member group's message was 501 records, and
/// putting them into sled took 3–12 ms of a 14 ms send).
fn conv_key(conv: &str) -> String {
    format!("c/{conv}")
}
fn msg_prefix(conv: &str) -> String {
    format!("m/{conv}/")
}
fn member_key(user: &str, conv: &str) -> String {
    format!("u/{user}/{conv}")
}
fn direct_key(a: &str, b: &str) -> String {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    format!("d/{a}/{b}")
}
fn stream_prefix(user: &str) -> String {
    format!("s/{user}/")
}
fn left_prefix(user: &str) -> String {
    format!("l/{user}/")
}
fn sub_key(user: &str, app: &str, topic: &str) -> String {
    format!("n/{user}/{app}/{topic}")
}
/// The keys `prefix + id` for ids in (`after`, `before`), as [lo, hi).
fn id_range(prefix: &str, after: u64, before: u64) -> (String, String) {
    (
        format!("{prefix}{}", id_text(after.saturating_add(1))),
        format!("{prefix}{}", id_text(before)),
    )
}
fn id_text(id: u64) -> String {
    format!("{id:016x}")
}

fn encode<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

fn decode<V: DeserializeOwned>(k: &[u8], bytes: &[u8]) -> Result<V, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree: TREE,
        key: String::from_utf8_lossy(k).into_owned(),
        detail: e.to_string(),
    })
}

/// Everything one messaging operation writes, applied atomically.
#[derive(Default)]
pub struct MessagingWrite {
    pub conversations: Vec<Conversation>,
    /// (user, conversation, membership); `None` removes it.
    pub memberships: Vec<(String, String, Option<Membership>)>,
    /// A new direct conversation of the pair.
    pub direct: Option<(String, String, String)>,
    pub messages: Vec<Message>,
    /// (user, event) for the person's live stream. Events other than
    /// messages are kept as the person's; a message's events are not kept
    /// (the stream reads the message from the conversation), so they must
    /// go to exactly the conversation's members.
    pub stream: Vec<(String, LiveEvent)>,
    /// (user, conversation, since, until): the person left; the messages
    /// they were in (ids `since..until`) stay in their stream.
    pub left: Vec<(String, String, u64, u64)>,
    /// (red packet, conversation): the packet was sent into it.
    pub packets: Vec<(String, String)>,
    /// (user, app, conversation): the person's new conversation with an app.
    pub app_conversation: Option<(String, String, String)>,
    /// (user, app, topic, subscriptions left); 0 removes it.
    pub subscriptions: Vec<(String, String, String, u32)>,
    /// (app, user, window): how the app may still answer the person.
    pub windows: Vec<(String, String, Window)>,
    /// Messages to hand to apps (put) and handed over (removed).
    pub outbox: Vec<AppDelivery>,
    pub delivered: Vec<u64>,
    /// The store's own: the stream format it brought the records to.
    pub format: Option<u32>,
}

/// The stream format of this build: messages kept once ([`STREAM_FORMAT`]
/// 2); 1 (no `x/format`) kept a copy in each member's stream.
const STREAM_FORMAT: u32 = 2;
const FORMAT_KEY: &str = "x/format";

/// Records to put (key, value) and keys to remove.
pub type RecordChanges = (Vec<(String, Vec<u8>)>, Vec<String>);

impl MessagingWrite {
    /// The records this write puts and removes, in the shared key layout.
    pub fn records(&self) -> Result<RecordChanges, StoreError> {
        let mut puts = Vec::new();
        let mut removes = Vec::new();
        for c in &self.conversations {
            puts.push((conv_key(&c.id), encode(c)?));
        }
        for (user, conv, m) in &self.memberships {
            let k = member_key(user, conv);
            match m {
                Some(m) => puts.push((k, encode(m)?)),
                None => removes.push(k),
            }
        }
        if let Some((a, b, conv)) = &self.direct {
            puts.push((direct_key(a, b), encode(conv)?));
        }
        for m in &self.messages {
            let k = format!("{}{}", msg_prefix(&m.conversation), id_text(m.id));
            puts.push((k, encode(m)?));
        }
        for (user, e) in &self.stream {
            if matches!(e.body, LiveBody::Message(_)) {
                continue;
            }
            puts.push((
                format!("{}{}", stream_prefix(user), id_text(e.id)),
                encode(e)?,
            ));
        }
        for (packet, conv) in &self.packets {
            puts.push((format!("p/{packet}"), encode(conv)?));
        }
        if let Some((user, app, conv)) = &self.app_conversation {
            puts.push((format!("a/{user}/{app}"), encode(conv)?));
        }
        for (user, app, topic, left) in &self.subscriptions {
            let k = sub_key(user, app, topic);
            match left {
                0 => removes.push(k),
                n => puts.push((k, encode(n)?)),
            }
        }
        for (app, user, window) in &self.windows {
            puts.push((format!("w/{app}/{user}"), encode(window)?));
        }
        for d in &self.outbox {
            puts.push((outbox_key(d.id), encode(d)?));
        }
        for id in &self.delivered {
            removes.push(outbox_key(*id));
        }
        for (user, conv, since, until) in &self.left {
            puts.push((
                format!("{}{conv}/{}", left_prefix(user), id_text(*since)),
                encode(until)?,
            ));
        }
        if let Some(format) = self.format {
            puts.push((FORMAT_KEY.to_string(), encode(&format)?));
        }
        Ok((puts, removes))
    }
}

fn outbox_key(id: u64) -> String {
    format!("o/{}", id_text(id))
}

/// How a backend makes ordered writes: it hands `build` fresh ids and
/// applies what it returns so that writes become visible in id order (a
/// reader that has seen id N never later finds a smaller one appear), on
/// one host or many.
#[async_trait::async_trait]
pub trait OrderedWrites: Send + Sync {
    fn write_ordered(
        &self,
        build: crate::BuildWrite<'_>,
        applied: Applied<'_>,
    ) -> Result<Option<(MessagingWrite, Ticket)>, StoreError>;
    /// Makes the write behind `ticket` durable, with every other write
    /// applied by then (group commit). The work goes on to the end even if
    /// the caller stops waiting.
    async fn flush_write(&self, ticket: Ticket) -> Result<(), StoreError>;
    /// Makes everything applied so far durable (blocking).
    fn flush(&self) -> Result<(), StoreError>;
    /// An id every write with a smaller or equal id is visible below, and
    /// every write made visible later is above: a reader that caps what it
    /// reads at it sees one consistent prefix, even across several scans.
    fn visible_upto(&self) -> Result<u64, StoreError>;
    /// Applies record changes outside the id order (the outbox's
    /// bookkeeping); durable after the next `flush`.
    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError>;
}

/// Record changes of writes applied but not yet committed (`None`: removed),
/// seen by the builds of later writes in the same batch: a backend that
/// holds a batch's writes until one commit installs it around each build
/// ([`with_pending`]). Only the building thread sees it.
/// Each change carries the ticket of the write that made it.
pub(crate) type Pending = BTreeMap<String, (Ticket, Option<Vec<u8>>)>;

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Runs `f` (a build) with `pending` visible to this thread's reads of the
/// messenger's records, and gives it back.
pub(crate) fn with_pending<T>(pending: &mut Pending, f: impl FnOnce() -> T) -> T {
    PENDING.with(|p| *p.borrow_mut() = Some(std::mem::take(pending)));
    let out = f();
    *pending = PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    out
}

/// Adds a write's record changes to `pending` (puts, then removes, as
/// every backend applies them).
pub(crate) fn add_pending(
    pending: &mut Pending,
    ticket: Ticket,
    puts: &[(String, Vec<u8>)],
    removes: &[String],
) {
    for (k, v) in puts {
        pending.insert(k.clone(), (ticket, Some(v.clone())));
    }
    for k in removes {
        pending.insert(k.clone(), (ticket, None));
    }
}

/// The messenger over a record store and a backend's ordered writes.
#[derive(Clone)]
pub struct MessagingTree {
    records: Arc<dyn RecordStore>,
    order: Arc<dyn OrderedWrites>,
}

/// The embedded backend's ordered writes: one process owns the folder, so
/// a lock around id-taking orders them; sled hands out ids that only grow,
/// also across restarts. Writes are made durable by the messenger's redo
/// log (`DATA/messaging.wal`), not by flushing sled: each write's record
/// changes are appended to it in id order, and one `fdatasync` makes every
/// write appended before it durable. (sled's own flush cost 1–4 ms per
/// group of writes on these disks, in thread hand-offs and
/// `sync_file_range`; an append and a sync of one file costs a fraction of
/// that.) Only then is the group applied to sled, in one batch: sled never
/// holds a write the log does not, so opening the folder replays the log
/// over sled (each frame holds whole values) and reaches exactly the state
/// acknowledged. Until then later writes build on the group's pending
/// changes, as on the database. Once the log passes [`WAL_CHECKPOINT`],
/// sled is flushed and the log emptied.
///
/// Writers do not sync themselves: the first to ask starts a flusher task,
/// which syncs whatever has been appended, again while more comes, and
/// tells every waiter at once through a watch (a lock handed from waiter to
/// waiter woke them one by one, and each sync then covered a few writes).
struct SledOrder {
    flush: Arc<SledFlush>,
}

/// When the redo log is checkpointed.
const WAL_CHECKPOINT: u64 = 8 << 20;

/// The flusher's shared state.
struct SledFlush {
    db: sled::Db,
    records: Arc<dyn RecordStore>,
    /// The order: held while a write is built and appended; guards the
    /// changes appended and not yet in sled.
    order: Mutex<Pending>,
    /// Writes appended (their tickets are 1, 2, …).
    written: AtomicU64,
    /// Every id up to this is in sled (or was never used).
    visible: AtomicU64,
    /// Whether a flusher task is running.
    flushing: std::sync::atomic::AtomicBool,
    durable: tokio::sync::watch::Sender<Durable>,
    /// The log's file: held by whoever syncs (one at a time).
    log: Mutex<Log>,
    /// What is appended and not yet written to it.
    wal: Mutex<Wal>,
}

/// The redo log's file.
struct Log {
    file: std::fs::File,
    /// Its length.
    len: u64,
}

/// Appended to the redo log but not yet written.
#[derive(Default)]
struct Wal {
    /// Frames appended since the last sync.
    buffer: Vec<u8>,
    /// Their changes, in order, for sled once they are durable.
    changes: Vec<RecordChanges>,
    /// The ticket of the last write appended.
    buffered_upto: u64,
    /// The highest id taken by the writes appended so far.
    buffered_top: u64,
}

/// What the flusher has done so far.
#[derive(Debug, Clone, Default)]
struct Durable {
    /// Writes up to this ticket are durable.
    upto: u64,
    /// The last flush that failed: the writes up to its ticket may be lost.
    failed: Option<(u64, String)>,
    /// Moves when a flusher ends, so waiters look again.
    generation: u64,
}

/// One frame: length, CRC-32 of the payload, payload (the record changes).
fn frame(puts: &[(String, Vec<u8>)], removes: &[String]) -> Result<Vec<u8>, StoreError> {
    let payload = encode(&(puts, removes))?;
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The frames of a redo log, up to the first torn or damaged one, and how
/// many bytes they took.
fn frames(bytes: &[u8]) -> (Vec<RecordChanges>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        match rmp_serde::from_slice::<RecordChanges>(payload) {
            Ok(changes) => out.push(changes),
            Err(_) => break,
        }
        at += 8 + len;
    }
    (out, at)
}

/// Several writes' changes as one: each key's last change wins.
fn merged(changes: Vec<RecordChanges>) -> RecordChanges {
    let mut last: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for (puts, removes) in changes {
        for (k, v) in puts {
            last.insert(k, Some(v));
        }
        for k in removes {
            last.insert(k, None);
        }
    }
    let (mut puts, mut removes) = (Vec::new(), Vec::new());
    for (k, v) in last {
        match v {
            Some(v) => puts.push((k, v)),
            None => removes.push(k),
        }
    }
    (puts, removes)
}

impl SledFlush {
    /// Under the order: appends a write's changes to the log and to the
    /// pending changes; returns its ticket.
    fn append(
        &self,
        pending: &mut Pending,
        puts: Vec<(String, Vec<u8>)>,
        removes: Vec<String>,
        top: u64,
    ) -> Result<Ticket, StoreError> {
        let frame = frame(&puts, &removes)?;
        let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        add_pending(pending, ticket, &puts, &removes);
        wal.buffer.extend_from_slice(&frame);
        wal.changes.push((puts, removes));
        wal.buffered_upto = ticket;
        wal.buffered_top = wal.buffered_top.max(top);
        Ok(ticket)
    }

    /// Writes and syncs what has been appended, then applies it to sled;
    /// returns up to which ticket it is durable. Nothing appended since the
    /// last sync: nothing to write or sync.
    fn flush_now(&self) -> Result<u64, StoreError> {
        use std::io::Write;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let (bytes, changes, upto, top) = {
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            let bytes = std::mem::take(&mut wal.buffer);
            let changes = std::mem::take(&mut wal.changes);
            (bytes, changes, wal.buffered_upto, wal.buffered_top)
        };
        let writes = changes.len();
        let result = if bytes.is_empty() {
            Ok(upto)
        } else {
            log.len += bytes.len() as u64;
            log.file
                .write_all(&bytes)
                .and_then(|_| log.file.sync_data())
                .map_err(|e| StoreError::Io(format!("messaging.wal: {e}")))
                .and_then(|_| {
                    // Durable: now readers may see it, in one batch.
                    let (puts, removes) = merged(changes);
                    self.records.apply(puts, removes)?;
                    self.visible.fetch_max(top, Ordering::SeqCst);
                    let mut pending = self.order.lock().unwrap_or_else(|p| p.into_inner());
                    pending.retain(|_, (ticket, _)| *ticket > upto);
                    Ok(())
                })
                .and_then(|_| self.checkpoint_if_long(&mut log))
                .map(|_| upto)
        };
        if writes > 0 {
            metrics::histogram!("superapp_messaging_batch_size").record(writes as f64);
        }
        self.durable.send_modify(|d| match &result {
            Ok(upto) => d.upto = d.upto.max(*upto),
            Err(e) => d.failed = Some((upto, e.to_string())),
        });
        result
    }

    /// Past the size limit (with the log held, so the file holds only what
    /// sled has been given): flushes sled and empties the log.
    fn checkpoint_if_long(&self, log: &mut Log) -> Result<(), StoreError> {
        if log.len <= WAL_CHECKPOINT {
            return Ok(());
        }
        self.db.flush()?;
        log.file
            .set_len(0)
            .and_then(|_| log.file.sync_data())
            .map_err(|e| StoreError::Io(format!("messaging.wal: {e}")))?;
        log.len = 0;
        Ok(())
    }

    /// The flusher: syncs while writes are waiting, then ends. It holds
    /// the store only while it syncs, so a store dropped meanwhile closes
    /// (and its folder can be opened again) without waiting for it.
    async fn run(me: std::sync::Weak<SledFlush>) {
        loop {
            let Some(this) = me.upgrade() else {
                return;
            };
            if this.written.load(Ordering::SeqCst) <= this.durable.borrow().upto {
                break;
            }
            // A failure is recorded for the waiters; try again only when
            // asked again.
            match tokio::task::spawn_blocking(move || this.flush_now()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the messenger's redo log failed");
                    break;
                }
                Err(_) => break,
            }
        }
        if let Some(this) = me.upgrade() {
            this.flushing.store(false, Ordering::SeqCst);
            // Whoever asked after the last look starts the next flusher.
            this.durable.send_modify(|d| d.generation += 1);
        }
    }
}

#[async_trait::async_trait]
impl OrderedWrites for SledOrder {
    fn write_ordered(
        &self,
        build: crate::BuildWrite<'_>,
        applied: Applied<'_>,
    ) -> Result<Option<(MessagingWrite, Ticket)>, StoreError> {
        let mut pending = self.flush.order.lock().unwrap_or_else(|p| p.into_inner());
        let db = &self.flush.db;
        let mut top = 0;
        let mut next = || -> Result<u64, StoreError> {
            top = db.generate_id()? + 1;
            Ok(top)
        };
        let Some(write) = with_pending(&mut pending, || build(&mut next)) else {
            return Ok(None);
        };
        let (puts, removes) = write.records()?;
        let ticket = self.flush.append(&mut pending, puts, removes, top)?;
        // One process owns the folder: no other writers.
        applied(&write, &[]);
        Ok(Some((write, ticket)))
    }

    async fn flush_write(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut seen = self.flush.durable.subscribe();
        loop {
            {
                let d = seen.borrow_and_update();
                if let Some((upto, why)) = &d.failed
                    && *upto >= ticket
                    && d.upto < ticket
                {
                    return Err(StoreError::Io(format!("flush failed: {why}")));
                }
                if d.upto >= ticket {
                    return Ok(());
                }
            }
            if !self.flush.flushing.swap(true, Ordering::SeqCst) {
                tokio::spawn(SledFlush::run(Arc::downgrade(&self.flush)));
            }
            if seen.changed().await.is_err() {
                return Err(StoreError::Io("the messenger's store closed".into()));
            }
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.flush.flush_now().map(|_| ())
    }

    fn visible_upto(&self) -> Result<u64, StoreError> {
        Ok(self.flush.visible.load(Ordering::SeqCst))
    }

    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError> {
        {
            let mut pending = self.flush.order.lock().unwrap_or_else(|p| p.into_inner());
            self.flush.append(&mut pending, puts, removes, 0)?;
        }
        // Visible (and durable) when it returns.
        self.flush.flush_now().map(|_| ())
    }
}

impl Db {
    /// The messenger's tree.
    pub fn messaging(&self) -> Result<MessagingTree, StoreError> {
        let mut made = self.messaging.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree) = made.as_ref() {
            return Ok(tree.clone());
        }
        let records = self.records(TREE)?;
        let path = self.wal_path();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let order = SledOrder {
            flush: Arc::new(SledFlush {
                db: self.db.clone(),
                records: records.clone(),
                order: Mutex::new(Pending::new()),
                written: AtomicU64::new(0),
                // Whatever is in sled now is below the ids to come.
                visible: AtomicU64::new(self.db.generate_id()?),
                flushing: std::sync::atomic::AtomicBool::new(false),
                durable: tokio::sync::watch::channel(Durable::default()).0,
                log: Mutex::new(Log { file, len: 0 }),
                wal: Mutex::new(Wal::default()),
            }),
        };
        let tree = MessagingTree::new(records, Arc::new(order));
        tree.upgrade_streams()?;
        *made = Some(tree.clone());
        Ok(tree)
    }

    fn wal_path(&self) -> std::path::PathBuf {
        self.dir.join("messaging.wal")
    }

    /// Replays the messenger's redo log over sled (then flushed, and the
    /// log emptied): what was acknowledged before a crash.
    pub(crate) fn replay_messaging_log(&self) -> Result<(), StoreError> {
        let path = self.wal_path();
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let records = self.records(TREE)?;
        let (changes, good) = frames(&bytes);
        let replayed = changes.len();
        for (puts, removes) in changes {
            records.apply(puts, removes)?;
        }
        self.db.flush()?;
        if good < bytes.len() {
            // A write cut off by a crash: never acknowledged.
            tracing::warn!(
                torn_bytes = bytes.len() - good,
                "the messenger's redo log ended in a torn frame (never acknowledged)"
            );
        }
        tracing::info!(frames = replayed, "replayed the messenger's redo log");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.set_len(0).and_then(|_| file.sync_all()).map_err(io)
    }
}

impl MessagingTree {
    /// The messenger over `records` (the tree `messaging`), ordered by `order`.
    pub fn new(records: Arc<dyn RecordStore>, order: Arc<dyn OrderedWrites>) -> MessagingTree {
        MessagingTree { records, order }
    }

    fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, StoreError> {
        let pending = PENDING.with(|p| {
            p.borrow()
                .as_ref()
                .and_then(|m| m.get(key).map(|(_, v)| v.clone()))
        });
        let found = match pending {
            Some(v) => v,
            None => self.records.get(key)?,
        };
        match found {
            Some(bytes) => decode(key.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records under `prefix` decoded, each with the key's rest.
    fn under<V: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, V)>, StoreError> {
        self.scan_prefix(prefix, false)
            .map(|item| {
                let (k, v) = item?;
                let rest = k[prefix.len()..].to_string();
                Ok((rest, decode(k.as_bytes(), &v)?))
            })
            .collect()
    }

    /// Values with keys `prefix + id` for ids in (`after`, `before`).
    fn ids_between(&self, prefix: &str, after: u64, before: u64, rev: bool) -> crate::Entries<'_> {
        let (lo, hi) = id_range(prefix, after, before);
        let base = self.records.range(&lo, &hi, rev);
        overlaid(base, &lo, Some(&hi), rev)
    }

    /// Records under `prefix`, with this thread's pending changes.
    fn scan_prefix(&self, prefix: &str, rev: bool) -> crate::Entries<'_> {
        overlaid(self.records.scan_prefix(prefix, rev), prefix, None, rev)
    }

    /// The parts of the person's stream after `after`, each in id order
    /// (newest first with `rev`) and at most `limit` long: their own
    /// events, and the messages of each conversation they are or were in,
    /// over the ids they were in it. One read of all the ranges.
    fn stream_parts(
        &self,
        user: &str,
        after: u64,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<Vec<LiveEvent>>, StoreError> {
        // Taken first, and every range stops there: writes become visible
        // between these scans, and a later one (a message in a conversation
        // already read, a join, a leave) must not show without an earlier
        // one. What is above comes live, or on the next read.
        let end = self.order.visible_upto()?.saturating_add(1);
        let mut ranges = vec![id_range(&stream_prefix(user), after, end)];
        for (conv, m) in crate::MessagingStore::memberships(self, user)? {
            let from = after.max(m.since.unwrap_or(0).saturating_sub(1));
            ranges.push(id_range(&msg_prefix(&conv), from, end));
        }
        for (rest, until) in self.under::<u64>(&left_prefix(user))? {
            // `<conv>/<since>`: ids never contain `/`.
            let Some((conv, since)) = rest.rsplit_once('/') else {
                continue;
            };
            let since = u64::from_str_radix(since, 16).map_err(|e| StoreError::Corrupt {
                tree: TREE,
                key: format!("{}{rest}", left_prefix(user)),
                detail: e.to_string(),
            })?;
            let from = after.max(since.saturating_sub(1));
            ranges.push(id_range(&msg_prefix(conv), from, until.min(end)));
        }
        let found = if PENDING.with(|p| p.borrow().is_some()) {
            // In a build: with the batch's pending changes.
            ranges
                .iter()
                .map(|(lo, hi)| {
                    overlaid(self.records.range(lo, hi, rev), lo, Some(hi), rev)
                        .take(limit)
                        .collect()
                })
                .collect::<Result<Vec<Vec<_>>, _>>()?
        } else {
            self.records.ranges(&ranges, limit, rev)?
        };
        let mut parts = Vec::with_capacity(found.len());
        for (i, entries) in found.into_iter().enumerate() {
            let part = entries
                .into_iter()
                .map(|(k, v)| {
                    if i == 0 {
                        return decode::<LiveEvent>(k.as_bytes(), &v);
                    }
                    Ok(LiveEvent::message(decode(k.as_bytes(), &v)?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            parts.push(part);
        }
        Ok(parts)
    }

    /// Brings records of an older stream format to this one, once: each
    /// membership without `since` starts after its conversation's newest
    /// message, so the messages the person already has copies of in their
    /// stream come from those copies, and newer ones from the conversation.
    /// (Every host sharing a database must run this build or a newer one:
    /// an older one writes memberships without `since`.)
    pub(crate) fn upgrade_streams(&self) -> Result<(), StoreError> {
        let converted = || -> Result<bool, StoreError> {
            Ok(self
                .get::<u32>(FORMAT_KEY)?
                .is_some_and(|f| f >= STREAM_FORMAT))
        };
        // Looked at first without the ordered write (on the database that
        // locks the id counter's row): every start but one finds it done.
        if converted()? {
            return Ok(());
        }
        let mut failed = None;
        let written = self.order.write_ordered(
            &mut |_| {
                // No ids: the starts come from the messages there are.
                let try_build = || -> Result<Option<MessagingWrite>, StoreError> {
                    // Again under the order: another host may have done it.
                    if converted()? {
                        return Ok(None);
                    }
                    let mut w = MessagingWrite {
                        format: Some(STREAM_FORMAT),
                        ..MessagingWrite::default()
                    };
                    let mut starts: BTreeMap<String, u64> = BTreeMap::new();
                    for (rest, mut m) in self.under::<Membership>("u/")? {
                        let Some((user, conv)) = rest.split_once('/') else {
                            continue;
                        };
                        if m.since.is_some() {
                            continue;
                        }
                        // After the conversation's newest message: ids from
                        // the store's keys, so a copy to another backend
                        // (which reserves ids above its keys) agrees.
                        let since = match starts.get(conv) {
                            Some(s) => *s,
                            None => {
                                let newest = crate::MessagingStore::messages(
                                    self,
                                    conv,
                                    0,
                                    u64::MAX,
                                    1,
                                    true,
                                )?
                                .first()
                                .map_or(0, |m| m.id);
                                starts.insert(conv.to_string(), newest + 1);
                                newest + 1
                            }
                        };
                        m.since = Some(since);
                        w.memberships
                            .push((user.to_string(), conv.to_string(), Some(m)));
                    }
                    Ok(Some(w))
                };
                match try_build() {
                    Ok(w) => w,
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                }
            },
            &mut |_, _| {},
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some((w, _)) = written {
            self.order.flush()?;
            if !w.memberships.is_empty() {
                tracing::info!(
                    memberships = w.memberships.len(),
                    "the messenger's streams now read messages from their conversations"
                );
            }
        }
        Ok(())
    }

    fn outbox(&self) -> impl Iterator<Item = Result<AppDelivery, StoreError>> + '_ {
        self.scan_prefix("o/", false).map(|item| {
            let (k, v) = item?;
            decode(k.as_bytes(), &v)
        })
    }
}

/// The messenger on any backend.
#[async_trait::async_trait]
impl crate::MessagingStore for MessagingTree {
    fn write_ordered(
        &self,
        build: crate::BuildWrite<'_>,
        applied: Applied<'_>,
    ) -> Result<Option<(MessagingWrite, Ticket)>, StoreError> {
        self.order.write_ordered(build, applied)
    }

    async fn flush_write(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.order.flush_write(ticket).await
    }

    fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        self.get(&conv_key(id))
    }

    fn membership(&self, user: &str, conv: &str) -> Result<Option<Membership>, StoreError> {
        self.get(&member_key(user, conv))
    }

    fn memberships(&self, user: &str) -> Result<Vec<(String, Membership)>, StoreError> {
        self.under(&format!("u/{user}/"))
    }

    fn direct(&self, a: &str, b: &str) -> Result<Option<String>, StoreError> {
        self.get(&direct_key(a, b))
    }

    fn messages(
        &self,
        conv: &str,
        after: u64,
        before: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Message>, StoreError> {
        self.ids_between(&msg_prefix(conv), after, before, newest_first)
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                decode(k.as_bytes(), &v)
            })
            .collect()
    }

    fn count_after(&self, conv: &str, after: u64, cap: usize) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self
            .ids_between(&msg_prefix(conv), after, u64::MAX, false)
            .take(cap)
        {
            item?;
            n += 1;
        }
        Ok(n)
    }

    fn stream_after(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        let parts = self.stream_parts(user, after, limit, false)?;
        // Merged by id, oldest first; a message kept both ways (a copy
        // from the old format) comes once.
        let mut heads: Vec<_> = parts
            .into_iter()
            .map(|p| p.into_iter().peekable())
            .collect();
        let mut out: Vec<LiveEvent> = Vec::new();
        while out.len() < limit {
            let mut at = None;
            let mut lowest = u64::MAX;
            for (i, h) in heads.iter_mut().enumerate() {
                if let Some(e) = h.peek()
                    && (at.is_none() || e.id < lowest)
                {
                    (at, lowest) = (Some(i), e.id);
                }
            }
            let Some(e) = at.and_then(|i| heads[i].next()) else {
                break;
            };
            if out.last().is_none_or(|last| last.id < e.id) {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn app_conversation(&self, user: &str, app: &str) -> Result<Option<String>, StoreError> {
        self.get(&format!("a/{user}/{app}"))
    }

    fn subscription(&self, user: &str, app: &str, topic: &str) -> Result<u32, StoreError> {
        Ok(self.get(&sub_key(user, app, topic))?.unwrap_or(0))
    }

    fn subscriptions(&self, user: &str, app: &str) -> Result<Vec<(String, u32)>, StoreError> {
        self.under(&format!("n/{user}/{app}/"))
    }

    fn window(&self, app: &str, user: &str) -> Result<Option<Window>, StoreError> {
        self.get(&format!("w/{app}/{user}"))
    }

    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<AppDelivery>, StoreError> {
        let mut out = Vec::new();
        for d in self.outbox() {
            let d = d?;
            if !d.gave_up && d.next_at <= now {
                out.push(d);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn deliveries(&self) -> Result<Vec<AppDelivery>, StoreError> {
        self.outbox().collect()
    }

    fn packet_conversation(&self, packet: &str) -> Result<Option<String>, StoreError> {
        self.get(&format!("p/{packet}"))
    }

    fn newest_event(&self, user: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .stream_parts(user, 0, 1, true)?
            .iter()
            .filter_map(|p| p.first().map(|e| e.id))
            .max())
    }

    fn apply(&self, w: &MessagingWrite) -> Result<(), StoreError> {
        let (puts, removes) = w.records()?;
        self.order.apply(puts, removes)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // sled's `flush_async` stalled under many concurrent callers (the
        // messaging benchmark hung at 64); a blocking flush on the blocking
        // pool is what the wallet's writer does too, and concurrent flushes
        // share the work.
        let order = self.order.clone();
        tokio::task::spawn_blocking(move || order.flush())
            .await
            .map_err(|e| StoreError::Io(format!("flush task: {e}")))??;
        Ok(())
    }
}

/// `base` (keys in [`lo`, `hi`), or under the prefix `lo` when `hi` is
/// none) with this thread's pending changes laid over it. Without any, it
/// is `base` untouched.
fn overlaid<'a>(
    base: crate::Entries<'a>,
    lo: &str,
    hi: Option<&str>,
    rev: bool,
) -> crate::Entries<'a> {
    let changes: Vec<(String, Option<Vec<u8>>)> = PENDING.with(|p| {
        let p = p.borrow();
        let Some(m) = p.as_ref() else {
            return Vec::new();
        };
        m.range(lo.to_string()..)
            .take_while(|(k, _)| match hi {
                Some(hi) => k.as_str() < hi,
                None => k.starts_with(lo),
            })
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect()
    });
    if changes.is_empty() {
        return base;
    }
    let mut all = BTreeMap::new();
    for item in base {
        match item {
            Ok((k, v)) => {
                all.insert(k, v);
            }
            Err(e) => return Box::new(std::iter::once(Err(e))),
        }
    }
    for (k, v) in changes {
        match v {
            Some(v) => all.insert(k, v),
            None => all.remove(&k),
        };
    }
    let items: Vec<_> = all.into_iter().map(Ok).collect();
    if rev {
        Box::new(items.into_iter().rev())
    } else {
        Box::new(items.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessagingStore;
    use superapp_core::messaging::{Body, ConversationKind, Sender};

    fn said(id: u64) -> Message {
        Message {
            id,
            conversation: "lc".into(),
            sender: Sender::System,
            body: Body::Text {
                text: format!("said {id}"),
            },
            at: 0,
        }
    }

    /// A membership as the first stream format wrote it (no `since`).
    #[derive(Serialize)]
    struct OldMembership {
        joined_at: i64,
        last_read: u64,
    }

    #[test]
    fn a_folder_from_the_old_stream_format_is_upgraded_once_and_streams_each_message_once()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut old = Vec::new();
        {
            // Written as before: a copy of each message in each member's
            // stream, memberships without `since`.
            let db = Db::open(dir.path())?;
            let records = db.records(TREE)?;
            let conv = Conversation {
                id: "lc".into(),
                kind: ConversationKind::Group,
                title: None,
                created_by: "la".into(),
                created_at: 0,
                members: vec!["la".into()],
                app: None,
            };
            let mut puts = vec![(conv_key("lc"), encode(&conv)?)];
            let membership = OldMembership {
                joined_at: 0,
                last_read: 0,
            };
            puts.push((member_key("la", "lc"), encode(&membership)?));
            for _ in 0..3 {
                let id = db.db.generate_id()? + 1;
                old.push(id);
                let m = said(id);
                let e = LiveEvent::message(m.clone());
                puts.push((format!("m/lc/{}", id_text(id)), encode(&m)?));
                puts.push((format!("s/la/{}", id_text(id)), encode(&e)?));
            }
            records.apply(puts, Vec::new())?;
            db.flush()?;
        }
        let db = Db::open(dir.path())?;
        let tree = db.messaging()?;
        let since = tree.membership("la", "lc")?.and_then(|m| m.since);
        assert!(
            since.is_some_and(|s| s > old[2]),
            "the membership starts above the old messages: {since:?}"
        );
        let ids = |tree: &MessagingTree| -> anyhow::Result<Vec<u64>> {
            Ok(tree
                .stream_after("la", 0, 100)?
                .into_iter()
                .map(|e| e.id)
                .collect())
        };
        assert_eq!(ids(&tree)?, old, "each old message once");

        // A new message is kept once and read from the conversation.
        tree.write_ordered(
            &mut |next| {
                let m = said(next().ok()?);
                Some(MessagingWrite {
                    stream: vec![("la".into(), LiveEvent::message(m.clone()))],
                    messages: vec![m],
                    ..MessagingWrite::default()
                })
            },
            &mut |_, _| {},
        )?
        .ok_or_else(|| anyhow::anyhow!("not written"))?;
        tree.order.flush()?;
        let now = ids(&tree)?;
        assert_eq!(now.len(), 4);
        assert_eq!(db.records(TREE)?.scan_prefix("s/la/", false).count(), 3);
        assert_eq!(tree.newest_event("la")?, now.last().copied());
        drop(tree);
        drop(db);

        let db = Db::open(dir.path())?;
        let tree = db.messaging()?;
        assert_eq!(
            tree.membership("la", "lc")?.and_then(|m| m.since),
            since,
            "upgraded once"
        );
        assert_eq!(ids(&tree)?, now);
        Ok(())
    }
}
