//! The messenger: direct and group conversations, their ordered messages
//! (text, mini-app cards, red-packet cards, system notices), read marks and
//! each person's live-event stream. People appear here by internal user id;
//! the edges resolve handles and show names.

pub use crate::store::MessagingStore;
use crate::store::{MessagingWrite, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use superapp_core::rate::TokenBucket;

pub mod live;
pub use live::{Live, SharedEvent};

// The records are core's (the stores persist them); the rules are here.
pub use superapp_core::messaging::*;

/// Most members a group may have (creator included).
pub const MAX_GROUP_MEMBERS: usize = 500;
/// Longest text message, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest group or card title, in characters.
pub const MAX_TITLE_CHARS: usize = 64;
/// Longest mini-app path a card may carry, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// Most messages or events one page returns.
pub const MAX_PAGE: usize = 200;
/// How long after a person's message the app may answer them.
pub const REPLY_WINDOW_SECS: i64 = 48 * 3600;
/// Answers an app may send per message of the person.
pub const REPLIES_PER_MESSAGE: u32 = 5;
/// Most unused one-time subscriptions a person may hold per app and topic.
pub const MAX_SUBSCRIPTIONS: u32 = 100;
/// Unread counts stop at this (clients show "99+").
const UNREAD_CAP: usize = 100;

/// What went wrong. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    #[error("no conversation `{0}`")]
    ConversationNotFound(String),
    #[error("you are not a member of conversation `{0}`")]
    NotAMember(String),
    #[error("conversation `{0}` is not a group: {1}")]
    NotAGroup(String, &'static str),
    #[error("a group has at most {MAX_GROUP_MEMBERS} members; this would make {0}")]
    GroupFull(usize),
    #[error("no person with handle `{0}`")]
    UnknownPerson(String),
    #[error("no installed app `{0}`")]
    UnknownApp(String),
    #[error("no red packet `{0}`")]
    PacketNotFound(String),
    #[error("red packet `{0}` was not sent by you")]
    NotYourPacket(String),
    #[error("red packet `{0}` was already sent into a conversation")]
    PacketAlreadyShared(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NoSubscription(String),
    #[error("{0}")]
    OutsideWindow(String),
    #[error("app `{0}` sent more than {1} messages this minute; try again shortly")]
    RateLimited(String, u32),
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// An unknown handle is an unknown person here; anything else the
/// identity refuses is an invalid message.
impl From<crate::identity::IdentityError> for MessagingError {
    fn from(e: crate::identity::IdentityError) -> Self {
        match e {
            crate::identity::IdentityError::UnknownUser(h) => MessagingError::UnknownPerson(h),
            other => MessagingError::Invalid(other.to_string()),
        }
    }
}

impl MessagingError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            MessagingError::ConversationNotFound(_) => "conversation-not-found",
            MessagingError::NotAMember(_) => "not-a-member",
            MessagingError::NotAGroup(..) => "not-a-group",
            MessagingError::GroupFull(_) => "group-full",
            MessagingError::UnknownPerson(_) => "unknown-person",
            MessagingError::UnknownApp(_) => "app-not-found",
            MessagingError::PacketNotFound(_) => "packet-not-found",
            MessagingError::NotYourPacket(_) => "not-your-packet",
            MessagingError::PacketAlreadyShared(_) => "packet-already-shared",
            MessagingError::Invalid(_) => "invalid-message",
            MessagingError::TooLarge(_) => "message-too-large",
            MessagingError::NoSubscription(_) => "no-subscription",
            MessagingError::OutsideWindow(_) => "outside-window",
            MessagingError::RateLimited(..) => "rate-limited",
            MessagingError::Storage(e) => e.code(),
        }
    }
}

/// Checks sizes and shapes of what a person or app may send.
pub fn check_body(body: &Body) -> Result<(), MessagingError> {
    match body {
        Body::Text { text } => {
            if text.trim().is_empty() {
                return Err(MessagingError::Invalid("`text` is empty".into()));
            }
            check_len("text", text, MAX_TEXT_CHARS)
        }
        Body::AppCard { app, path, title } => {
            if app.is_empty() {
                return Err(MessagingError::Invalid("a card needs an `app`".into()));
            }
            if !path.starts_with('/') || path.len() > MAX_PATH_BYTES {
                return Err(MessagingError::Invalid(format!(
                    "a card's `path` starts with `/` and has at most {MAX_PATH_BYTES} bytes"
                )));
            }
            if title.trim().is_empty() {
                return Err(MessagingError::Invalid("a card needs a `title`".into()));
            }
            check_len("title", title, MAX_TITLE_CHARS)
        }
        Body::RedPacket { packet, .. } if packet.is_empty() => Err(MessagingError::Invalid(
            "a red-packet card needs a `packet`".into(),
        )),
        Body::Notification { topic, text } => {
            check_topic(topic)?;
            if text.trim().is_empty() {
                return Err(MessagingError::Invalid("the notification is empty".into()));
            }
            check_len("body", text, MAX_TEXT_CHARS)
        }
        Body::RedPacket { .. } | Body::System { .. } => Ok(()),
    }
}

/// Topics are short names: 1–64 of `a-z 0-9 - _ .`.
pub fn check_topic(topic: &str) -> Result<(), MessagingError> {
    let ok = !topic.is_empty()
        && topic.len() <= 64
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(MessagingError::Invalid(format!(
            "topic `{topic}` is not 1–64 of a-z 0-9 - _ ."
        )))
    }
}

/// A text people are shown: at most `max` characters, and nothing in it
/// that reorders what is shown (see `text::check_shown_text`). Titles are
/// one line; message bodies may have several.
fn check_len(field: &str, text: &str, max: usize) -> Result<(), MessagingError> {
    let n = text.chars().count();
    if n > max {
        return Err(MessagingError::TooLarge(format!(
            "`{field}` has {n} characters; at most {max} are allowed"
        )));
    }
    let multiline = matches!(field, "text" | "body");
    crate::text::check_shown_text(text, multiline)
        .map_err(|why| MessagingError::Invalid(format!("`{field}` {why}")))
}

/// A conversation as one member sees it in their list.
#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub last_message: Option<Message>,
    pub unread: usize,
}

/// One page of a conversation's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// Pass as `before` for the next (older) page; none at the start.
    pub next_before: Option<u64>,
}

/// The messenger service. Cheap to clone.
#[derive(Clone)]
pub struct Messaging {
    /// Its ordered writes make every reader see ids appear in order (a
    /// client resuming after id N can never miss a smaller one).
    tree: Arc<dyn MessagingStore>,
    /// The live connections open on this host.
    hub: Arc<live::Hub>,
    /// Applied writes' live events, handed out once durable, in id order.
    outgoing: Arc<live::Outgoing>,
    /// Event ids this host wrote lately (not woken for again when the
    /// store's feed reports them).
    mine: Arc<Mutex<live::Recent>>,
    /// Wakes the delivery of people's messages to apps.
    to_apps: Arc<tokio::sync::Notify>,
    /// Per-app budget of notifications and answers.
    rate: Arc<Mutex<HashMap<String, TokenBucket>>>,
    per_minute: u32,
}

impl Messaging {
    /// `per_minute`: how many notifications and answers each app may send
    /// per minute (a token bucket: bursts up to that, refilled evenly).
    pub fn new(tree: Arc<dyn MessagingStore>, per_minute: u32) -> Messaging {
        Messaging {
            tree,
            hub: Arc::new(live::Hub::default()),
            outgoing: Arc::new(live::Outgoing::default()),
            mine: Arc::default(),
            to_apps: Arc::new(tokio::sync::Notify::new()),
            rate: Arc::new(Mutex::new(HashMap::new())),
            per_minute,
        }
    }

    /// Takes one message from `app`'s budget at `now`, or says it is spent.
    fn take_budget(&self, app: &str, now: i64) -> Result<(), MessagingError> {
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = rate
            .entry(app.to_string())
            .or_insert_with(|| TokenBucket::full(self.per_minute, now));
        if !bucket.take(self.per_minute, now) {
            return Err(MessagingError::RateLimited(
                app.to_string(),
                self.per_minute,
            ));
        }
        Ok(())
    }

    /// Notified when a person's message for an app is queued.
    pub fn to_apps_notify(&self) -> Arc<tokio::sync::Notify> {
        self.to_apps.clone()
    }

    /// Applies what `build` makes from fresh ids, in id order, durably, then
    /// hands its live events to the connections they are for. Writes from
    /// many callers share one flush (group commit); each caller returns
    /// once its own write is durable.
    async fn commit(
        &self,
        build: impl FnOnce(
            &mut dyn FnMut() -> Result<u64, StoreError>,
        ) -> Result<MessagingWrite, MessagingError>,
    ) -> Result<MessagingWrite, MessagingError> {
        let started = std::time::Instant::now();
        let mut build = Some(build);
        let mut refused = None;
        let mut place = None;
        let written = self.tree.write_ordered(
            &mut |next| {
                let f = build.take()?;
                match f(next) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        refused = Some(e);
                        None
                    }
                }
            },
            &mut |w, others| {
                if !w.stream.is_empty() || !others.is_empty() {
                    place = Some(self.outgoing.queue(&w.stream, others));
                }
                if !w.stream.is_empty() {
                    let mut mine = self.mine.lock().unwrap_or_else(|p| p.into_inner());
                    for (_, e) in &w.stream {
                        mine.add(e.id);
                    }
                }
            },
        )?;
        let (write, ticket) = match (written, refused) {
            (Some(w), _) => w,
            (None, Some(e)) => return Err(e),
            (None, None) => {
                return Err(MessagingError::Storage(StoreError::Io(
                    "the write was not built".into(),
                )));
            }
        };
        // Waited for here; if this caller goes away first, the guard
        // finishes the wait in a task, so the queue still moves on. (A task
        // per write cost a spawn and a cross-thread wake-up per message.)
        let mut guard = Settle {
            messaging: self.clone(),
            ticket,
            place,
        };
        let durable = self.tree.flush_write(ticket).await;
        if let Some(place) = guard.place.take() {
            self.outgoing.settle(place, durable.is_ok(), &self.hub);
        }
        durable?;
        metrics::histogram!("superapp_messaging_commit_seconds").record(started.elapsed());
        if !write.outbox.is_empty() {
            self.to_apps.notify_one();
        }
        Ok(write)
    }

    /// Wakes the live streams of each (person, event id) other hosts
    /// sharing the store wrote: they read those from the store. Events this
    /// host wrote (the feed of the store has them too) were handed out from
    /// memory already and wake nobody.
    pub fn wake_streams<'a>(&self, events: impl IntoIterator<Item = (&'a str, u64)>) {
        let mine = self.mine.lock().unwrap_or_else(|p| p.into_inner());
        let others: Vec<&str> = events
            .into_iter()
            .filter(|(_, id)| !mine.contains(*id))
            .map(|(user, _)| user)
            .collect();
        drop(mine);
        self.hub.wake(others);
    }

    /// A connection to the person's live events: durable events of this
    /// host's as they happen, and a wake-up when other hosts wrote some.
    /// Take it before reading the backlog, so nothing falls between the
    /// two (skip what the backlog already gave). It ends when the
    /// connection falls [`live::LIVE_BUFFER`] events behind.
    pub fn connect_live(&self, user: &str) -> live::LiveReceiver {
        live::Hub::start_keep_alive(&self.hub);
        self.hub.connect(user)
    }

    /// How many live connections are open on this host.
    pub fn live_connections(&self) -> usize {
        self.hub.open()
    }

    /// Live events handed to connections, and connections cut off for
    /// falling behind, since start.
    pub fn live_counters(&self) -> &live::LiveCounters {
        &self.hub.counters
    }

    /// Puts `body` on the person's live stream.
    pub async fn announce(
        &self,
        user: &str,
        body: LiveBody,
        now: i64,
    ) -> Result<u64, MessagingError> {
        let w = self
            .commit(|next| {
                let e = LiveEvent {
                    id: next()?,
                    at: now,
                    body,
                };
                Ok(MessagingWrite {
                    stream: vec![(user.to_string(), e)],
                    ..MessagingWrite::default()
                })
            })
            .await?;
        Ok(w.stream.first().map_or(0, |(_, e)| e.id))
    }

    /// The person's live events after `after`, oldest first.
    pub fn events_after(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LiveEvent>, MessagingError> {
        Ok(self.tree.stream_after(user, after, limit.min(MAX_PAGE))?)
    }

    /// Whether `user` may claim red packet `packet`: a packet sent into a
    /// conversation is for its members only; one never sent is for anyone
    /// holding its link.
    pub fn may_claim(&self, packet: &str, user: &str) -> Result<bool, MessagingError> {
        Ok(match self.tree.packet_conversation(packet)? {
            Some(conv) => self.tree.membership(user, &conv)?.is_some(),
            None => true,
        })
    }

    /// The id of the person's newest live event, if any.
    pub fn newest_event(&self, user: &str) -> Result<Option<u64>, MessagingError> {
        Ok(self.tree.newest_event(user)?)
    }

    fn load(&self, id: &str) -> Result<Conversation, MessagingError> {
        self.tree
            .conversation(id)?
            .ok_or_else(|| MessagingError::ConversationNotFound(id.to_string()))
    }

    /// The conversation, if `user` is in it.
    pub fn conversation_of(&self, user: &str, id: &str) -> Result<Conversation, MessagingError> {
        let c = self.load(id)?;
        self.member(user, &c)?;
        Ok(c)
    }

    fn member(&self, user: &str, c: &Conversation) -> Result<Membership, MessagingError> {
        self.tree
            .membership(user, &c.id)?
            .ok_or_else(|| MessagingError::NotAMember(c.id.clone()))
    }

    /// The direct conversation of `me` and `other`, made on first use.
    pub async fn open_direct(
        &self,
        me: &Person,
        other: &Person,
        now: i64,
    ) -> Result<Conversation, MessagingError> {
        if me.user == other.user {
            return Err(MessagingError::Invalid(
                "a direct conversation needs another person".into(),
            ));
        }
        if let Some(id) = self.tree.direct(&me.user, &other.user)? {
            return self.load(&id);
        }
        let w = self
            .commit(|_| {
                // Another request may have made it while we waited.
                if let Some(id) = self.tree.direct(&me.user, &other.user)? {
                    return Ok(MessagingWrite {
                        conversations: vec![self.load(&id)?],
                        ..MessagingWrite::default()
                    });
                }
                let c = Conversation {
                    id: new_conversation_id(),
                    kind: ConversationKind::Direct,
                    title: None,
                    created_by: me.user.clone(),
                    created_at: now,
                    members: vec![me.user.clone(), other.user.clone()],
                    app: None,
                };
                Ok(MessagingWrite {
                    memberships: joins(&c, &c.members, now, 0),
                    direct: Some((me.user.clone(), other.user.clone(), c.id.clone())),
                    conversations: vec![c],
                    ..MessagingWrite::default()
                })
            })
            .await?;
        first_conversation(w)
    }

    /// A new group of `me` and `others` (duplicates and `me` ignored).
    pub async fn create_group(
        &self,
        me: &Person,
        title: &str,
        others: &[Person],
        now: i64,
    ) -> Result<Conversation, MessagingError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(MessagingError::Invalid("a group needs a `title`".into()));
        }
        check_len("title", title, MAX_TITLE_CHARS)?;
        let mut members = vec![me.user.clone()];
        let mut added = Vec::new();
        for p in others {
            if !members.contains(&p.user) {
                members.push(p.user.clone());
                added.push(p.name.as_str());
            }
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(MessagingError::GroupFull(members.len()));
        }
        let created = format!("{} created the group “{title}”", me.name);
        let w = self
            .commit(|next| {
                let c = Conversation {
                    id: new_conversation_id(),
                    kind: ConversationKind::Group,
                    title: Some(title.to_string()),
                    created_by: me.user.clone(),
                    created_at: now,
                    members,
                    app: None,
                };
                let mut w = MessagingWrite {
                    memberships: joins(&c, &c.members, now, 0),
                    ..MessagingWrite::default()
                };
                let mut text = created;
                if !added.is_empty() {
                    text.push_str(&format!(" with {}", added.join(", ")));
                }
                notice(&mut w, &c, text, now, next)?;
                w.conversations.push(c);
                Ok(w)
            })
            .await?;
        first_conversation(w)
    }

    /// `me`, a member, adds `others` to the group.
    pub async fn invite(
        &self,
        me: &Person,
        id: &str,
        others: &[Person],
        now: i64,
    ) -> Result<Conversation, MessagingError> {
        let w = self
            .commit(|next| {
                let mut c = self.conversation_of(&me.user, id)?;
                if c.kind != ConversationKind::Group {
                    return Err(MessagingError::NotAGroup(
                        c.id,
                        "only groups take new members",
                    ));
                }
                let mut added = Vec::new();
                let mut names = Vec::new();
                for p in others {
                    if !c.members.contains(&p.user) && !added.contains(&p.user) {
                        added.push(p.user.clone());
                        names.push(p.name.as_str());
                    }
                }
                if c.members.len() + added.len() > MAX_GROUP_MEMBERS {
                    return Err(MessagingError::GroupFull(c.members.len() + added.len()));
                }
                c.members.extend(added.iter().cloned());
                let mut w = MessagingWrite::default();
                if !names.is_empty() {
                    let text = format!("{} invited {}", me.name, names.join(", "));
                    notice(&mut w, &c, text, now, next)?;
                }
                // Their stream has the group from the notice of their
                // joining on, not what was said before.
                let since = w.messages.last().map_or(0, |m| m.id);
                w.memberships = joins(&c, &added, now, since);
                w.conversations.push(c);
                Ok(w)
            })
            .await?;
        first_conversation(w)
    }

    /// `me` leaves the group; the others are told.
    pub async fn leave(&self, me: &Person, id: &str, now: i64) -> Result<(), MessagingError> {
        self.commit(|next| {
            let mut c = self.load(id)?;
            let since = self.member(&me.user, &c)?.since.unwrap_or(0);
            if c.kind != ConversationKind::Group {
                return Err(MessagingError::NotAGroup(
                    c.id,
                    "a direct conversation cannot be left",
                ));
            }
            c.members.retain(|m| *m != me.user);
            let mut w = MessagingWrite {
                memberships: vec![(me.user.clone(), c.id.clone(), None)],
                ..MessagingWrite::default()
            };
            let text = format!("{} left the group", me.name);
            notice(&mut w, &c, text, now, next)?;
            // What they were in stays in their stream; the notice is not.
            let until = w.messages.last().map_or(0, |m| m.id);
            w.left.push((me.user.clone(), c.id.clone(), since, until));
            w.conversations.push(c);
            Ok(w)
        })
        .await
        .map(|_| ())
    }

    /// `me` posts `body` into conversation `id`; every member's stream gets it.
    pub async fn send(
        &self,
        me: &Person,
        id: &str,
        body: Body,
        now: i64,
    ) -> Result<Message, MessagingError> {
        if matches!(body, Body::System { .. }) {
            return Err(MessagingError::Invalid(
                "system notices come from the host only".into(),
            ));
        }
        check_body(&body)?;
        let w = self
            .commit(|next| {
                let mut w = MessagingWrite::default();
                if let Body::RedPacket { packet, .. } = &body {
                    // One card per packet: it belongs to one conversation.
                    if self.tree.packet_conversation(packet)?.is_some() {
                        return Err(MessagingError::PacketAlreadyShared(packet.clone()));
                    }
                    w.packets.push((packet.clone(), id.to_string()));
                }
                // Read under the writer lock: a member who just left gets no
                // message in, and the sender's own read mark moves with it.
                let c = self.conversation_of(&me.user, id)?;
                self.post_as_person(&mut w, me, &c, body, now, next)?;
                Ok(w)
            })
            .await?;
        first_message(w)
    }

    /// Posts a person's message; in an app conversation it also opens the
    /// app's answer window and queues the message for the app.
    fn post_as_person(
        &self,
        w: &mut MessagingWrite,
        me: &Person,
        c: &Conversation,
        body: Body,
        now: i64,
        next: &mut dyn FnMut() -> Result<u64, StoreError>,
    ) -> Result<(), MessagingError> {
        // A conversation made in this same write is not in the tree yet.
        let pending = w
            .memberships
            .iter()
            .find(|(u, conv, _)| *u == me.user && *conv == c.id)
            .and_then(|(_, _, m)| m.clone());
        let mut mark = match pending {
            Some(m) => m,
            None => self.member(&me.user, c)?,
        };
        let to_app = match (&c.app, &body) {
            (Some(app), Body::Text { text }) => Some((app.clone(), text.clone())),
            (Some(_), _) => {
                return Err(MessagingError::Invalid(
                    "a conversation with an app takes text only".into(),
                ));
            }
            (None, _) => None,
        };
        post(w, c, Sender::Person(me.clone()), body, now, next)?;
        let id = w.messages.last().map_or(0, |m| m.id);
        mark.last_read = id;
        w.memberships
            .push((me.user.clone(), c.id.clone(), Some(mark)));
        if let Some((app, text)) = to_app {
            // Each message gives the app 5 answers for 48 hours (not added
            // up: the window restarts).
            w.windows.push((
                app.clone(),
                me.user.clone(),
                Window {
                    until: now + REPLY_WINDOW_SECS,
                    replies_left: REPLIES_PER_MESSAGE,
                },
            ));
            w.outbox.push(AppDelivery {
                id,
                app,
                user: me.user.clone(),
                text,
                at: now,
                attempts: 0,
                next_at: now,
                last_error: None,
                gave_up: false,
            });
        }
        Ok(())
    }

    /// The person's conversation with `app`, made (into `w`) if new.
    fn app_conversation(
        &self,
        w: &mut MessagingWrite,
        user: &str,
        app: &str,
        now: i64,
    ) -> Result<Conversation, MessagingError> {
        if let Some(id) = self.tree.app_conversation(user, app)? {
            return self.load(&id);
        }
        let c = Conversation {
            id: new_conversation_id(),
            kind: ConversationKind::App,
            title: None,
            created_by: user.to_string(),
            created_at: now,
            members: vec![user.to_string()],
            app: Some(app.to_string()),
        };
        w.memberships.extend(joins(&c, &c.members, now, 0));
        w.app_conversation = Some((user.to_string(), app.to_string(), c.id.clone()));
        w.conversations.push(c.clone());
        Ok(c)
    }

    /// A person writes to a mini-app (customer service); the app gets it as
    /// an event and may answer within the window.
    pub async fn write_to_app(
        &self,
        me: &Person,
        app: &str,
        text: String,
        now: i64,
    ) -> Result<Message, MessagingError> {
        let body = Body::Text { text };
        check_body(&body)?;
        let w = self
            .commit(|next| {
                let mut w = MessagingWrite::default();
                let c = self.app_conversation(&mut w, &me.user, app, now)?;
                self.post_as_person(&mut w, me, &c, body, now, next)?;
                Ok(w)
            })
            .await?;
        first_message(w)
    }

    /// The app notifies the person on `topic`, using one subscription.
    pub async fn notify(
        &self,
        app: &str,
        user: &str,
        topic: &str,
        text: String,
        now: i64,
    ) -> Result<Message, MessagingError> {
        let body = Body::Notification {
            topic: topic.to_string(),
            text,
        };
        check_body(&body)?;
        self.take_budget(app, now)?;
        let w = self
            .commit(|next| {
                let left = self.tree.subscription(user, app, topic)?;
                if left == 0 {
                    return Err(MessagingError::NoSubscription(format!(
                        "the person holds no subscription to `{topic}` (each one-time subscription allows one notification)"
                    )));
                }
                let mut w = MessagingWrite::default();
                w.subscriptions
                    .push((user.to_string(), app.to_string(), topic.to_string(), left - 1));
                let c = self.app_conversation(&mut w, user, app, now)?;
                post(&mut w, &c, Sender::App(app.to_string()), body, now, next)?;
                Ok(w)
            })
            .await?;
        first_message(w)
    }

    /// The app answers a person who wrote to it, inside the window.
    pub async fn reply(
        &self,
        app: &str,
        user: &str,
        text: String,
        now: i64,
    ) -> Result<Message, MessagingError> {
        let body = Body::Text { text };
        check_body(&body)?;
        self.take_budget(app, now)?;
        let w = self
            .commit(|next| {
                let mut window = match self.tree.window(app, user)? {
                    Some(w) if w.until < now => {
                        return Err(MessagingError::OutsideWindow(format!(
                            "the person last wrote more than {} hours ago",
                            REPLY_WINDOW_SECS / 3600
                        )));
                    }
                    Some(w) if w.replies_left == 0 => {
                        return Err(MessagingError::OutsideWindow(format!(
                            "all {REPLIES_PER_MESSAGE} answers to the person's last message are used"
                        )));
                    }
                    Some(w) => w,
                    None => {
                        return Err(MessagingError::OutsideWindow(
                            "the person has not written to this app".into(),
                        ));
                    }
                };
                window.replies_left -= 1;
                let mut w = MessagingWrite::default();
                w.windows.push((app.to_string(), user.to_string(), window));
                let c = self.app_conversation(&mut w, user, app, now)?;
                post(&mut w, &c, Sender::App(app.to_string()), body, now, next)?;
                Ok(w)
            })
            .await?;
        first_message(w)
    }

    /// The person's subscriptions to `app`: (topic, notifications left).
    pub fn subscriptions(
        &self,
        user: &str,
        app: &str,
    ) -> Result<Vec<(String, u32)>, MessagingError> {
        Ok(self.tree.subscriptions(user, app)?)
    }

    /// The person allows `app` one more notification on `topic`.
    pub async fn subscribe(
        &self,
        user: &str,
        app: &str,
        topic: &str,
    ) -> Result<u32, MessagingError> {
        check_topic(topic)?;
        let w = self
            .commit(|_| {
                let left = self.tree.subscription(user, app, topic)?;
                if left >= MAX_SUBSCRIPTIONS {
                    return Err(MessagingError::Invalid(format!(
                        "at most {MAX_SUBSCRIPTIONS} unused subscriptions per topic"
                    )));
                }
                Ok(MessagingWrite {
                    subscriptions: vec![(
                        user.to_string(),
                        app.to_string(),
                        topic.to_string(),
                        left + 1,
                    )],
                    ..MessagingWrite::default()
                })
            })
            .await?;
        Ok(w.subscriptions.first().map_or(0, |s| s.3))
    }

    /// The person withdraws every unused subscription to `topic`.
    pub async fn unsubscribe(
        &self,
        user: &str,
        app: &str,
        topic: &str,
    ) -> Result<(), MessagingError> {
        check_topic(topic)?;
        self.commit(|_| {
            Ok(MessagingWrite {
                subscriptions: vec![(user.to_string(), app.to_string(), topic.to_string(), 0)],
                ..MessagingWrite::default()
            })
        })
        .await
        .map(|_| ())
    }

    /// People's messages due for delivery to apps by `now`.
    pub fn due_deliveries(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<AppDelivery>, MessagingError> {
        Ok(self.tree.due_deliveries(now, limit)?)
    }

    /// Every queued delivery (for operators and tests).
    pub fn deliveries(&self) -> Result<Vec<AppDelivery>, MessagingError> {
        Ok(self.tree.deliveries()?)
    }

    /// The app took the message (or is gone): it leaves the queue.
    pub async fn delivered(&self, id: u64) -> Result<(), MessagingError> {
        self.tree.apply(&MessagingWrite {
            delivered: vec![id],
            ..MessagingWrite::default()
        })?;
        self.tree.flush().await?;
        Ok(())
    }

    /// Records a failed try (its next time, or that it was given up).
    pub async fn delivery_failed(&self, d: AppDelivery) -> Result<(), MessagingError> {
        self.tree.apply(&MessagingWrite {
            outbox: vec![d],
            ..MessagingWrite::default()
        })?;
        self.tree.flush().await?;
        Ok(())
    }

    /// A page of the conversation: newest first below `before`, or oldest
    /// first above `after` (catching up).
    pub fn history(
        &self,
        user: &str,
        id: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, MessagingError> {
        let c = self.conversation_of(user, id)?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(MessagingError::Invalid(format!("`limit` is 1–{MAX_PAGE}")));
        }
        let newest_first = after.is_none();
        let messages = self.tree.messages(
            &c.id,
            after.unwrap_or(0),
            before.unwrap_or(u64::MAX),
            limit,
            newest_first,
        )?;
        let next_before = if newest_first && messages.len() == limit {
            messages.last().map(|m| m.id)
        } else {
            None
        };
        Ok(HistoryPage {
            messages,
            next_before,
        })
    }

    /// The person has read everything up to `up_to` (never moves back).
    pub async fn mark_read(&self, user: &str, id: &str, up_to: u64) -> Result<u64, MessagingError> {
        let w = self
            .commit(|_| {
                let c = self.conversation_of(user, id)?;
                let mut m = self.member(user, &c)?;
                let newest = self
                    .tree
                    .messages(&c.id, 0, u64::MAX, 1, true)?
                    .first()
                    .map_or(0, |m| m.id);
                if up_to > newest {
                    return Err(MessagingError::Invalid(format!(
                        "`up_to` {up_to} is past the newest message ({newest})"
                    )));
                }
                m.last_read = m.last_read.max(up_to);
                Ok(MessagingWrite {
                    memberships: vec![(user.to_string(), c.id.clone(), Some(m))],
                    ..MessagingWrite::default()
                })
            })
            .await?;
        Ok(w.memberships
            .first()
            .and_then(|(_, _, m)| m.as_ref())
            .map_or(0, |m| m.last_read))
    }

    /// The person's conversations, the most recently active first.
    pub fn conversations(&self, user: &str) -> Result<Vec<ConversationSummary>, MessagingError> {
        let mut out = Vec::new();
        for (id, m) in self.tree.memberships(user)? {
            let conversation = self.load(&id)?;
            let last_message = self
                .tree
                .messages(&id, 0, u64::MAX, 1, true)?
                .into_iter()
                .next();
            let unread = self.tree.count_after(&id, m.last_read, UNREAD_CAP)?;
            out.push(ConversationSummary {
                conversation,
                last_message,
                unread,
            });
        }
        out.sort_by_key(|s| {
            std::cmp::Reverse(
                s.last_message
                    .as_ref()
                    .map_or(s.conversation.created_at, |m| m.at),
            )
        });
        Ok(out)
    }
}

fn new_conversation_id() -> String {
    format!("c_{}", &crate::identity::random_token()[..20])
}

/// A write's live events not yet settled: settled when its write is
/// durable (or lost), even if the caller that waited went away.
struct Settle {
    messaging: Messaging,
    ticket: crate::store::Ticket,
    place: Option<u64>,
}

impl Drop for Settle {
    fn drop(&mut self) {
        let Some(place) = self.place.take() else {
            return;
        };
        let m = self.messaging.clone();
        let ticket = self.ticket;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let durable = m.tree.flush_write(ticket).await;
                    m.outgoing.settle(place, durable.is_ok(), &m.hub);
                });
            }
            // No runtime left (the host is stopping): nobody is listening.
            Err(_) => m.outgoing.settle(place, false, &m.hub),
        }
    }
}

/// `users` joining `c`: its messages from id `since` on are theirs (0 for
/// a conversation made with them).
fn joins(
    c: &Conversation,
    users: &[String],
    now: i64,
    since: u64,
) -> Vec<(String, String, Option<Membership>)> {
    users
        .iter()
        .map(|u| {
            (
                u.clone(),
                c.id.clone(),
                Some(Membership {
                    joined_at: now,
                    last_read: 0,
                    since: Some(since),
                }),
            )
        })
        .collect()
}

/// Adds a message to `w` and a live event for each of the conversation's
/// members (exactly them: the store keeps the message once, and a person's
/// stream reads it from the conversations they are in).
fn post(
    w: &mut MessagingWrite,
    c: &Conversation,
    sender: Sender,
    body: Body,
    now: i64,
    next: &mut dyn FnMut() -> Result<u64, StoreError>,
) -> Result<(), MessagingError> {
    let message = Message {
        id: next()?,
        conversation: c.id.clone(),
        sender,
        body,
        at: now,
    };
    for user in &c.members {
        w.stream
            .push((user.clone(), LiveEvent::message(message.clone())));
    }
    w.messages.push(message);
    Ok(())
}

/// A host notice to everyone in `c` (joins, leaves).
fn notice(
    w: &mut MessagingWrite,
    c: &Conversation,
    text: String,
    now: i64,
    next: &mut dyn FnMut() -> Result<u64, StoreError>,
) -> Result<(), MessagingError> {
    post(w, c, Sender::System, Body::System { text }, now, next)
}

fn first_message(w: MessagingWrite) -> Result<Message, MessagingError> {
    w.messages
        .into_iter()
        .next()
        .ok_or_else(|| MessagingError::Invalid("nothing was sent".into()))
}

fn first_conversation(w: MessagingWrite) -> Result<Conversation, MessagingError> {
    w.conversations
        .into_iter()
        .next()
        .ok_or_else(|| MessagingError::Invalid("nothing was written".into()))
}
