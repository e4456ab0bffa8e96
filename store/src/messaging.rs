//! The messenger's persistence on sled: one tree holding conversations,
//! memberships, messages and each person's live-event stream. A send is one
//! atomic sled batch (the message and every member's stream entry), so a
//! reader never sees half of it.

use super::{Db, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use superapp_core::messaging::{AppDelivery, Conversation, LiveEvent, Membership, Message, Window};

const TREE: &str = "messaging";

/// Key layout (ids never contain `/`):
/// `c/<conv>` conversation · `m/<conv>/<id>` message · `u/<user>/<conv>`
/// membership · `d/<user a>/<user b>` direct conversation of a pair (a < b) ·
/// `s/<user>/<id>` live event · `p/<packet>` the conversation a red packet
/// was sent into · `a/<user>/<app>` the person's conversation with an app ·
/// `n/<user>/<app>/<topic>` one-time subscriptions left · `w/<app>/<user>`
/// the app's answer window · `o/<id>` a message waiting for its app · `<id>` is 16 hex digits, so keys sort by id.
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
fn sub_key(user: &str, app: &str, topic: &str) -> String {
    format!("n/{user}/{app}/{topic}")
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
    /// (user, event) appended to the person's live stream.
    pub stream: Vec<(String, LiveEvent)>,
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
}

/// The sled side of the messenger.
#[derive(Clone)]
pub struct MessagingTree {
    db: sled::Db,
    tree: sled::Tree,
}

impl Db {
    /// The messenger's tree.
    pub fn messaging(&self) -> Result<MessagingTree, StoreError> {
        Ok(MessagingTree {
            db: self.db.clone(),
            tree: self.db.open_tree(TREE)?,
        })
    }
}

impl MessagingTree {
    fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, StoreError> {
        match self.tree.get(key.as_bytes())? {
            Some(bytes) => decode(key.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// The sled backend of the messenger.
#[async_trait::async_trait]
impl crate::MessagingStore for MessagingTree {
    /// A fresh id, greater than every id handed out before (also across
    /// restarts). Callers serialise id-taking and `apply` so that ids are
    /// committed in order.
    fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1)
    }

    fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        self.get(&conv_key(id))
    }

    fn membership(&self, user: &str, conv: &str) -> Result<Option<Membership>, StoreError> {
        self.get(&member_key(user, conv))
    }

    /// Every conversation the person belongs to, with their membership.
    fn memberships(&self, user: &str) -> Result<Vec<(String, Membership)>, StoreError> {
        let prefix = format!("u/{user}/");
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let conv = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((conv, decode(&k, &v)?));
        }
        Ok(out)
    }

    fn direct(&self, a: &str, b: &str) -> Result<Option<String>, StoreError> {
        self.get(&direct_key(a, b))
    }

    /// Up to `limit` messages of `conv` with ids in (`after`, `before`):
    /// the newest first when `newest_first`, else the oldest first.
    fn messages(
        &self,
        conv: &str,
        after: u64,
        before: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Message>, StoreError> {
        let prefix = msg_prefix(conv);
        let lo = format!("{prefix}{}", id_text(after.saturating_add(1)));
        let hi = format!("{prefix}{}", id_text(before));
        let range = self.tree.range(lo.as_bytes()..hi.as_bytes());
        let mut out = Vec::new();
        let mut push = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<bool, StoreError> {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
            Ok(out.len() < limit)
        };
        if newest_first {
            for item in range.rev() {
                if !push(item)? {
                    break;
                }
            }
        } else {
            for item in range {
                if !push(item)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// How many messages of `conv` have an id above `after` (at most `cap`).
    fn count_after(&self, conv: &str, after: u64, cap: usize) -> Result<usize, StoreError> {
        let prefix = msg_prefix(conv);
        let lo = format!("{prefix}{}", id_text(after.saturating_add(1)));
        let hi = format!("{prefix}{}", id_text(u64::MAX));
        Ok(self
            .tree
            .range(lo.as_bytes()..hi.as_bytes())
            .take(cap)
            .count())
    }

    /// The person's live events after `after`, oldest first.
    fn stream_after(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        let prefix = stream_prefix(user);
        let lo = format!("{prefix}{}", id_text(after.saturating_add(1)));
        let hi = format!("{prefix}{}", id_text(u64::MAX));
        let mut out = Vec::new();
        for item in self.tree.range(lo.as_bytes()..hi.as_bytes()).take(limit) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// The person's conversation with an app, if they have one.
    fn app_conversation(&self, user: &str, app: &str) -> Result<Option<String>, StoreError> {
        self.get(&format!("a/{user}/{app}"))
    }

    /// How many one-time subscriptions to `topic` the person holds for `app`.
    fn subscription(&self, user: &str, app: &str, topic: &str) -> Result<u32, StoreError> {
        Ok(self.get(&sub_key(user, app, topic))?.unwrap_or(0))
    }

    /// Every topic the person subscribed to for `app`, with what is left.
    fn subscriptions(&self, user: &str, app: &str) -> Result<Vec<(String, u32)>, StoreError> {
        let prefix = format!("n/{user}/{app}/");
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let topic = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((topic, decode(&k, &v)?));
        }
        Ok(out)
    }

    /// How `app` may still answer the person.
    fn window(&self, app: &str, user: &str) -> Result<Option<Window>, StoreError> {
        self.get(&format!("w/{app}/{user}"))
    }

    /// Up to `limit` messages due for delivery to apps by `now`.
    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<AppDelivery>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"o/") {
            let (k, v) = item?;
            let d: AppDelivery = decode(&k, &v)?;
            if !d.gave_up && d.next_at <= now {
                out.push(d);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every delivery still held (due, waiting or given up).
    fn deliveries(&self) -> Result<Vec<AppDelivery>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"o/") {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// The conversation a red packet was sent into, if any.
    fn packet_conversation(&self, packet: &str) -> Result<Option<String>, StoreError> {
        self.get(&format!("p/{packet}"))
    }

    /// The id of the person's newest live event.
    fn newest_event(&self, user: &str) -> Result<Option<u64>, StoreError> {
        match self
            .tree
            .scan_prefix(stream_prefix(user).as_bytes())
            .next_back()
        {
            Some(item) => {
                let (k, v) = item?;
                decode::<LiveEvent>(&k, &v).map(|e| Some(e.id))
            }
            None => Ok(None),
        }
    }

    /// Applies `w` atomically (visible to readers at once; durable after
    /// `flush`).
    fn apply(&self, w: &MessagingWrite) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for c in &w.conversations {
            batch.insert(conv_key(&c.id).as_bytes(), encode(c)?);
        }
        for (user, conv, m) in &w.memberships {
            let k = member_key(user, conv);
            match m {
                Some(m) => batch.insert(k.as_bytes(), encode(m)?),
                None => batch.remove(k.as_bytes()),
            }
        }
        if let Some((a, b, conv)) = &w.direct {
            batch.insert(direct_key(a, b).as_bytes(), encode(conv)?);
        }
        for m in &w.messages {
            let k = format!("{}{}", msg_prefix(&m.conversation), id_text(m.id));
            batch.insert(k.as_bytes(), encode(m)?);
        }
        for (user, e) in &w.stream {
            let k = format!("{}{}", stream_prefix(user), id_text(e.id));
            batch.insert(k.as_bytes(), encode(e)?);
        }
        for (packet, conv) in &w.packets {
            batch.insert(format!("p/{packet}").as_bytes(), encode(conv)?);
        }
        if let Some((user, app, conv)) = &w.app_conversation {
            batch.insert(format!("a/{user}/{app}").as_bytes(), encode(conv)?);
        }
        for (user, app, topic, left) in &w.subscriptions {
            let k = sub_key(user, app, topic);
            match left {
                0 => batch.remove(k.as_bytes()),
                n => batch.insert(k.as_bytes(), encode(n)?),
            }
        }
        for (app, user, window) in &w.windows {
            batch.insert(format!("w/{app}/{user}").as_bytes(), encode(window)?);
        }
        for d in &w.outbox {
            batch.insert(format!("o/{}", id_text(d.id)).as_bytes(), encode(d)?);
        }
        for id in &w.delivered {
            batch.remove(format!("o/{}", id_text(*id)).as_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Makes everything applied so far durable.
    async fn flush(&self) -> Result<(), StoreError> {
        // sled's `flush_async` stalled under many concurrent callers (the
        // messaging benchmark hung at 64); a blocking flush on the blocking
        // pool is what the wallet's writer does too, and concurrent flushes
        // share the work.
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| StoreError::Io(format!("flush task: {e}")))??;
        Ok(())
    }
}
