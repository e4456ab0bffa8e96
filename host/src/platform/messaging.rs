//! People's messaging operations, shared by the edges: handles are resolved
//! to people here, cards are checked against installed apps and the wallet,
//! and the messenger's records become the views clients see.

use super::Superapp;
use super::delivery::Retry;
use crate::identity::rfc3339;
use crate::links::{person_of, red_packet_card};
use crate::messaging::{
    AppDelivery, Body, Conversation, ConversationKind, HistoryPage, LiveBody, LiveEvent, Message,
    Messaging, MessagingError, Person, Sender,
};
use serde::{Deserialize, Serialize};

/// A person as other people see them in chats.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    pub handle: String,
    pub name: String,
}

/// A mini-app card: opening it launches `app` at `path`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardView {
    pub app: String,
    pub path: String,
    pub title: String,
}

/// A red packet shared into a chat.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PacketCardView {
    pub packet: String,
    pub greeting: String,
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Increasing within the conversation (and across the host).
    pub id: u64,
    pub conversation: String,
    /// `text`, `app-card`, `red-packet`, `notification` or `system`.
    pub kind: String,
    /// The person who sent it; none for system notices and apps.
    pub sender: Option<MemberView>,
    /// The mini-app that sent it (notifications and answers).
    pub app: Option<String>,
    /// Notifications: the topic the person subscribed to.
    pub topic: Option<String>,
    pub text: Option<String>,
    pub card: Option<CardView>,
    pub red_packet: Option<PacketCardView>,
    /// RFC 3339.
    pub at: String,
}

/// A conversation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    /// `direct` or `group`.
    pub kind: String,
    /// Groups: their title; direct: the other person's name.
    pub title: String,
    pub member_count: usize,
    /// Everyone in it (only in the detail view and on create).
    pub members: Option<Vec<MemberView>>,
    /// The newest message (in lists).
    pub last_message: Option<MessageView>,
    /// Messages after the person's read mark (stops at 100).
    pub unread: usize,
    pub created_at: String,
}

/// A page of history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub messages: Vec<MessageView>,
    /// Pass as `before` for older messages; none at the start.
    pub next_before: Option<u64>,
}

/// One live event, as the SSE stream carries it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveEventView {
    pub id: u64,
    /// The SSE event name: `message`.
    pub event: String,
    pub data: serde_json::Value,
}

/// A person's one-time subscriptions to one topic of an app.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub topic: String,
    /// Notifications the app may still send on it.
    pub remaining: u32,
}

/// What a person sends.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NewMessage {
    Text {
        text: String,
    },
    AppCard {
        app: String,
        path: String,
        title: String,
    },
    RedPacket {
        packet: String,
    },
}

impl Superapp {
    /// Conversations, messages and live streams.
    pub fn messaging(&self) -> &Messaging {
        &self.messaging
    }

    fn person(&self, user_id: &str) -> Result<Person, MessagingError> {
        let u = self
            .identity
            .user(user_id)?
            .ok_or_else(|| MessagingError::UnknownPerson(user_id.to_string()))?;
        Ok(person_of(u))
    }

    fn people(&self, handles: &[String]) -> Result<Vec<Person>, MessagingError> {
        handles
            .iter()
            .map(|h| Ok(person_of(self.identity.user_by_handle(h)?)))
            .collect()
    }

    fn member_view(&self, user_id: &str) -> MemberView {
        match self.identity.user(user_id) {
            Ok(Some(u)) => MemberView {
                handle: u.handle,
                name: u.display_name,
            },
            _ => MemberView {
                handle: "(removed)".into(),
                name: "(removed)".into(),
            },
        }
    }

    fn conversation_view(
        &self,
        viewer: &str,
        c: Conversation,
        with_members: bool,
    ) -> ConversationView {
        let title = match (&c.kind, &c.title) {
            (ConversationKind::Group, Some(t)) => t.clone(),
            (ConversationKind::App, _) => {
                let app = c.app.clone().unwrap_or_default();
                match self.packages.get(&app) {
                    Ok(Some(record)) => record.current.manifest.name,
                    _ => app,
                }
            }
            _ => c
                .members
                .iter()
                .find(|m| *m != viewer)
                .map(|m| self.member_view(m).name)
                .unwrap_or_default(),
        };
        ConversationView {
            kind: match c.kind {
                ConversationKind::Direct => "direct".into(),
                ConversationKind::Group => "group".into(),
                ConversationKind::App => "app".into(),
            },
            title,
            member_count: c.members.len(),
            members: with_members.then(|| c.members.iter().map(|m| self.member_view(m)).collect()),
            last_message: None,
            unread: 0,
            created_at: rfc3339(c.created_at),
            id: c.id,
        }
    }

    /// The person's conversations, the most recently active first.
    pub fn conversations(&self, user_id: &str) -> Result<Vec<ConversationView>, MessagingError> {
        Ok(self
            .messaging
            .conversations(user_id)?
            .into_iter()
            .map(|s| {
                let mut v = self.conversation_view(user_id, s.conversation, false);
                v.last_message = s.last_message.map(message_view);
                v.unread = s.unread;
                v
            })
            .collect())
    }

    /// One conversation with its members.
    pub fn conversation(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<ConversationView, MessagingError> {
        let c = self.messaging.conversation_of(user_id, id)?;
        Ok(self.conversation_view(user_id, c, true))
    }

    /// The direct conversation with `handle`, or a new group of `handles`.
    pub async fn start_conversation(
        &self,
        user_id: &str,
        title: Option<String>,
        handles: &[String],
        now: i64,
    ) -> Result<ConversationView, MessagingError> {
        let me = self.person(user_id)?;
        let others = self.people(handles)?;
        let c = match (title, others.as_slice()) {
            (None, [other]) => self.messaging.open_direct(&me, other, now).await?,
            (None, _) => {
                return Err(MessagingError::Invalid(
                    "a direct conversation names exactly one other person in `members`; give a `title` to make a group".into(),
                ));
            }
            (Some(title), others) => {
                self.messaging
                    .create_group(&me, &title, others, now)
                    .await?
            }
        };
        Ok(self.conversation_view(user_id, c, true))
    }

    /// Adds people to a group the person is in.
    pub async fn invite(
        &self,
        user_id: &str,
        id: &str,
        handles: &[String],
        now: i64,
    ) -> Result<ConversationView, MessagingError> {
        let me = self.person(user_id)?;
        let others = self.people(handles)?;
        let c = self.messaging.invite(&me, id, &others, now).await?;
        Ok(self.conversation_view(user_id, c, true))
    }

    /// The person leaves a group.
    pub async fn leave(&self, user_id: &str, id: &str, now: i64) -> Result<(), MessagingError> {
        let me = self.person(user_id)?;
        self.messaging.leave(&me, id, now).await
    }

    /// The person sends a message: cards name an installed app, red-packet
    /// cards a packet the person sent.
    pub async fn send_message(
        &self,
        user_id: &str,
        id: &str,
        message: NewMessage,
        now: i64,
    ) -> Result<MessageView, MessagingError> {
        let me = self.person(user_id)?;
        let body = match message {
            NewMessage::Text { text } => Body::Text { text },
            NewMessage::AppCard { app, path, title } => {
                if self.packages.get(&app)?.is_none() {
                    return Err(MessagingError::UnknownApp(app));
                }
                Body::AppCard { app, path, title }
            }
            NewMessage::RedPacket { packet } => {
                red_packet_card(&self.wallet, packet, user_id, None).await?
            }
        };
        let m = self.messaging.send(&me, id, body, now).await?;
        Ok(message_view(m))
    }

    /// A page of a conversation the person is in.
    pub fn history(
        &self,
        user_id: &str,
        id: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<HistoryView, MessagingError> {
        let HistoryPage {
            messages,
            next_before,
        } = self.messaging.history(user_id, id, before, after, limit)?;
        Ok(HistoryView {
            messages: messages.into_iter().map(message_view).collect(),
            next_before,
        })
    }

    /// A person writes to a mini-app (customer service): the message lands
    /// in their conversation with the app and goes to the app as an event.
    pub async fn write_to_app(
        &self,
        user_id: &str,
        app: &str,
        text: String,
        now: i64,
    ) -> Result<MessageView, MessagingError> {
        self.notifying_app(app)?;
        let me = self.person(user_id)?;
        let m = self.messaging.write_to_app(&me, app, text, now).await?;
        Ok(message_view(m))
    }

    /// One pass over the messages people wrote to apps: hands each one due
    /// by `now` to its app (the delivery engine's rules).
    pub async fn deliver_app_messages(
        &self,
        now: i64,
    ) -> Result<super::DeliveryReport, MessagingError> {
        self.deliver(&AppMessages(&self.messaging), now).await
    }

    /// The person's one-time subscriptions to `app`.
    pub fn subscriptions(
        &self,
        user_id: &str,
        app: &str,
    ) -> Result<Vec<SubscriptionView>, MessagingError> {
        self.notifying_app(app)?;
        Ok(self
            .messaging
            .subscriptions(user_id, app)?
            .into_iter()
            .map(|(topic, remaining)| SubscriptionView { topic, remaining })
            .collect())
    }

    /// The person allows `app` one more notification on `topic`.
    pub async fn subscribe(
        &self,
        user_id: &str,
        app: &str,
        topic: &str,
    ) -> Result<SubscriptionView, MessagingError> {
        self.notifying_app(app)?;
        let remaining = self.messaging.subscribe(user_id, app, topic).await?;
        Ok(SubscriptionView {
            topic: topic.to_string(),
            remaining,
        })
    }

    /// The person withdraws their unused subscriptions to `topic`.
    pub async fn unsubscribe(
        &self,
        user_id: &str,
        app: &str,
        topic: &str,
    ) -> Result<(), MessagingError> {
        self.notifying_app(app)?;
        self.messaging.unsubscribe(user_id, app, topic).await
    }

    /// `app` is installed and declares `notify`.
    fn notifying_app(&self, app: &str) -> Result<(), MessagingError> {
        match self.packages.get(app)? {
            Some(r)
                if r.current
                    .manifest
                    .capabilities
                    .contains_key(&crate::packages::Capability::Notify) =>
            {
                Ok(())
            }
            Some(_) => Err(MessagingError::Invalid(format!(
                "app `{app}` does not message people (its manifest does not declare `notify`)"
            ))),
            None => Err(MessagingError::UnknownApp(app.to_string())),
        }
    }

    /// The person's live events after `after`, as the stream sends them.
    pub fn live_events(
        &self,
        user_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LiveEventView>, MessagingError> {
        Ok(self
            .messaging
            .events_after(user_id, after, limit)?
            .into_iter()
            .map(live_event_view)
            .collect())
    }
}

fn message_view(m: Message) -> MessageView {
    let (sender, app) = match m.sender {
        Sender::Person(p) => (
            Some(MemberView {
                handle: p.handle,
                name: p.name,
            }),
            None,
        ),
        Sender::App(app) => (None, Some(app)),
        Sender::System => (None, None),
    };
    let mut v = MessageView {
        id: m.id,
        conversation: m.conversation,
        kind: String::new(),
        sender,
        app,
        topic: None,
        text: None,
        card: None,
        red_packet: None,
        at: rfc3339(m.at),
    };
    match m.body {
        Body::Text { text } => {
            v.kind = "text".into();
            v.text = Some(text);
        }
        Body::System { text } => {
            v.kind = "system".into();
            v.text = Some(text);
        }
        Body::Notification { topic, text } => {
            v.kind = "notification".into();
            v.topic = Some(topic);
            v.text = Some(text);
        }
        Body::AppCard { app, path, title } => {
            v.kind = "app-card".into();
            v.card = Some(CardView { app, path, title });
        }
        Body::RedPacket { packet, greeting } => {
            v.kind = "red-packet".into();
            v.red_packet = Some(PacketCardView { packet, greeting });
        }
    }
    v
}

/// A live event as streams send it.
pub fn live_event_view(e: LiveEvent) -> LiveEventView {
    let (event, data) = match e.body {
        LiveBody::Message(m) => {
            let name = match m.body {
                Body::Notification { .. } => "notification",
                _ => "message",
            };
            (name, serde_json::to_value(message_view(m)))
        }
        LiveBody::PaymentPrompt {
            payment,
            app,
            amount,
            memo,
        } => (
            "payment-prompt",
            Ok(
                serde_json::json!({ "payment": payment, "app": app, "amount": amount, "memo": memo }),
            ),
        ),
        LiveBody::PacketClaimed { packet, by, amount } => (
            "packet-claimed",
            Ok(serde_json::json!({
                "packet": packet,
                "by": { "handle": by.handle, "name": by.name },
                "amount": amount,
            })),
        ),
    };
    LiveEventView {
        id: e.id,
        event: event.into(),
        data: data.unwrap_or_default(),
    }
}

/// The messages people wrote to apps, as a delivery queue.
struct AppMessages<'a>(&'a Messaging);

impl super::delivery::Queued for AppDelivery {
    fn app(&self) -> &str {
        &self.app
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn label(&self) -> String {
        format!("message {}", self.id)
    }
    fn event(&self, open_id: Option<String>) -> crate::capabilities::GuestEvent {
        use crate::capabilities::{GuestAppMessage, GuestEvent, GuestEventBody};
        GuestEvent {
            id: format!("msg-{}", self.id),
            at: self.at,
            open_id,
            body: GuestEventBody::Message(GuestAppMessage {
                id: self.id,
                text: self.text.clone(),
            }),
        }
    }
    fn retry(&mut self) -> Retry<'_> {
        Retry {
            attempts: &mut self.attempts,
            next_at: &mut self.next_at,
            last_error: &mut self.last_error,
            gave_up: &mut self.gave_up,
        }
    }
}

impl super::delivery::Queue for AppMessages<'_> {
    const NAME: &'static str = "messages";
    type Item = AppDelivery;
    type Error = MessagingError;
    fn due(&self, now: i64, limit: usize) -> Result<Vec<AppDelivery>, MessagingError> {
        self.0.due_deliveries(now, limit)
    }
    fn delivered(
        &self,
        item: &AppDelivery,
    ) -> impl std::future::Future<Output = Result<(), MessagingError>> + Send {
        self.0.delivered(item.id)
    }
    fn failed(
        &self,
        item: AppDelivery,
    ) -> impl std::future::Future<Output = Result<(), MessagingError>> + Send {
        self.0.delivery_failed(item)
    }
}
