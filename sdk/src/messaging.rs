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

impl From<MessagingError> for crate::Error {
    fn from(e: MessagingError) -> Self {
        let (status, code, message) = match e {
            MessagingError::Denied(m) => (403, "messaging-denied", m),
            MessagingError::NoUser => (401, "no-user", "this needs a signed-in user".into()),
            MessagingError::Invalid(m) => (400, "invalid", m),
            MessagingError::NotFound(m) => (404, "not-found", m),
            MessagingError::NotMember(m) => (403, "not-a-member", m),
            MessagingError::NoSubscription(m) => (409, "no-subscription", m),
            MessagingError::OutsideWindow(m) => (409, "outside-window", m),
            MessagingError::RateLimited(m) => (429, "rate-limited", m),
            MessagingError::Internal(m) => (500, "internal", m),
        };
        crate::Error::new(status, code, message)
    }
}
