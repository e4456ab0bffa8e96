//! Reaching people (the `notify` capability): notifications as often as
//! each person subscribed, cards into the calling person's chats, and
//! answers to people who wrote to the app. Apps never read chats.

use crate::backend::messaging as host;
use crate::bindings::superapp::platform::messaging as raw;
pub use raw::MessagingError;

/// Notifies the person this app knows as `open_id` on `topic`, using one
/// of their one-time subscriptions to it. Returns the message id.
pub fn notify(open_id: &str, topic: &str, body: &str) -> Result<u64, MessagingError> {
    host::notify(open_id, topic, body)
}

/// Posts a card opening this app at `path` into a conversation the calling
/// person is in (they chose it; the client passes its id to the app).
pub fn share_card(conversation: &str, path: &str, title: &str) -> Result<u64, MessagingError> {
    host::share_card(conversation, path, title)
}

/// Posts the calling person's red packet into a conversation they are in;
/// only its members can claim it from then on.
pub fn share_red_packet(conversation: &str, packet: &str) -> Result<u64, MessagingError> {
    host::share_red_packet(conversation, packet)
}

/// Answers a person who wrote to the app, within 48 hours of their message
/// and at most 5 times per message.
pub fn reply(open_id: &str, text: &str) -> Result<u64, MessagingError> {
    host::reply(open_id, text)
}

impl MessagingError {
    /// The host's stable code and message (`packet-already-shared`,
    /// `unknown-person`…), finer than the case; none for `no-user`.
    pub fn problem(&self) -> Option<&crate::Problem> {
        match self {
            MessagingError::NoUser => None,
            MessagingError::Denied(p)
            | MessagingError::Invalid(p)
            | MessagingError::NotFound(p)
            | MessagingError::NotMember(p)
            | MessagingError::NoSubscription(p)
            | MessagingError::OutsideWindow(p)
            | MessagingError::RateLimited(p)
            | MessagingError::Internal(p) => Some(p),
        }
    }
}

impl From<MessagingError> for crate::Error {
    fn from(e: MessagingError) -> Self {
        let (status, code, message) = match e {
            MessagingError::Denied(p) => (403, "messaging-denied", p.message),
            MessagingError::NoUser => (401, "no-user", "this needs a signed-in user".into()),
            MessagingError::Invalid(p) => (400, "invalid", p.message),
            MessagingError::NotFound(p) => (404, "not-found", p.message),
            MessagingError::NotMember(p) => (403, "not-a-member", p.message),
            MessagingError::NoSubscription(p) => (409, "no-subscription", p.message),
            MessagingError::OutsideWindow(p) => (409, "outside-window", p.message),
            MessagingError::RateLimited(p) => (429, "rate-limited", p.message),
            MessagingError::Internal(p) => (500, "internal", p.message),
        };
        crate::Error::new(status, code, message)
    }
}
