//! What the messenger keeps: conversations, memberships, messages, each
//! person's live events, reply windows and the outbox to apps. Plain data,
//! shared by the messaging service and the stores that persist it; the
//! rules that check them are the service's.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationKind {
    /// Between two people; one per pair.
    Direct,
    /// Created by a person, who may invite others; members may leave.
    Group,
    /// A person and a mini-app: the app's notifications and answers, and
    /// what the person writes to the app.
    App,
}

/// A conversation and who is in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    /// Groups only.
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    /// User ids, in the order they joined.
    pub members: Vec<String>,
    /// `App` conversations: the app.
    #[serde(default)]
    pub app: Option<String>,
}

/// One person's place in a conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub joined_at: i64,
    /// The newest message id the person has read.
    pub last_read: u64,
    /// The conversation's messages from this id on are in the person's
    /// live stream (the first id after they joined). `None` only on
    /// records written before streams were read this way; the store sets
    /// it when it opens such a folder.
    #[serde(default)]
    pub since: Option<u64>,
}

/// A person as the messenger records them on what they send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub user: String,
    pub handle: String,
    pub name: String,
}

/// Who sent a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Sender {
    /// A person; handle and name as they were when sent.
    Person(Person),
    /// The host (joins, leaves).
    System,
    /// A mini-app (notifications and answers in its conversation).
    App(String),
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Text {
        text: String,
    },
    /// Opening it launches `app` at `path`.
    AppCard {
        app: String,
        path: String,
        title: String,
    },
    /// A red packet to open from the chat.
    RedPacket {
        packet: String,
        greeting: String,
    },
    /// A notice by the host.
    System {
        text: String,
    },
    /// A mini-app's notification on a topic the person subscribed to.
    Notification {
        topic: String,
        text: String,
    },
}

/// A message, ordered in its conversation by `id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub conversation: String,
    pub sender: Sender,
    pub body: Body,
    pub at: i64,
}

/// Something a person's clients are told about live.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Increasing per person; the SSE `id` a reconnecting client sends back.
    pub id: u64,
    pub at: i64,
    pub body: LiveBody,
}

impl LiveEvent {
    /// A message as its conversation's members are told of it: the
    /// event's id and time are the message's.
    pub fn message(m: Message) -> LiveEvent {
        LiveEvent {
            id: m.id,
            at: m.at,
            body: LiveBody::Message(m),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LiveBody {
    /// A new message in one of the person's conversations.
    Message(Message),
    /// A mini-app asks the person to confirm a payment.
    PaymentPrompt {
        payment: String,
        app: String,
        amount: u64,
        memo: String,
    },
    /// Someone opened the person's red packet.
    PacketClaimed {
        packet: String,
        by: Person,
        amount: u64,
    },
}

/// How an app may still answer a person who wrote to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    /// Unix seconds; answers after this are refused.
    pub until: i64,
    pub replies_left: u32,
}

/// A person's message on its way to the app, at least once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppDelivery {
    /// The message id.
    pub id: u64,
    pub app: String,
    pub user: String,
    pub text: String,
    pub at: i64,
    pub attempts: u32,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub gave_up: bool,
}
