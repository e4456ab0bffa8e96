//! The messenger over HTTP: a person's conversations, messages and read
//! marks (`/me/conversations/...`) and their live event stream
//! (`GET /me/events`, server-sent events resumable with `Last-Event-ID`).

use super::auth::Authed;
use super::{AppState, JsonBody, PageLimit, Problem, query};
use crate::identity::now;
use crate::messaging::MessagingError;
use crate::messaging::{Live, SharedEvent};
use crate::platform::{
    ConversationView, HistoryView, LiveEventView, MessageView, NewMessage, SubscriptionView,
    Superapp, live_event_view,
};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;

impl From<MessagingError> for Problem {
    fn from(e: MessagingError) -> Self {
        use MessagingError as M;
        let status = match &e {
            M::ConversationNotFound(_)
            | M::UnknownPerson(_)
            | M::UnknownApp(_)
            | M::PacketNotFound(_) => StatusCode::NOT_FOUND,
            M::NotAMember(_) | M::NotYourPacket(_) => StatusCode::FORBIDDEN,
            M::NotAGroup(..) | M::GroupFull(_) | M::NoSubscription(_) | M::OutsideWindow(_) => {
                StatusCode::CONFLICT
            }
            M::RateLimited(..) => StatusCode::TOO_MANY_REQUESTS,
            // 422 as before it had its own code.
            M::Invalid(_) | M::PacketAlreadyShared(_) => StatusCode::UNPROCESSABLE_ENTITY,
            M::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            M::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

/// The person's conversations.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationView>,
}

/// The person's conversations, the most recently active first, each with
/// its newest message and unread count.
#[utoipa::path(get, path = "/me/conversations", tag = "messaging", security(("bearer" = [])),
    responses((status = 200, body = ConversationList)))]
pub(super) async fn list(
    State(s): State<AppState>,
    who: Authed,
) -> Result<Json<ConversationList>, Problem> {
    Ok(Json(ConversationList {
        conversations: s.host.conversations(&who.user_id)?,
    }))
}

/// A direct conversation (one member, no title) or a group (a title).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// Handles of the other people.
    pub members: Vec<String>,
    /// Makes a group.
    pub title: Option<String>,
}

/// Opens the direct conversation with one person (the existing one if any),
/// or creates a group of up to 500.
#[utoipa::path(post, path = "/me/conversations", tag = "messaging", security(("bearer" = [])),
    request_body = NewConversation,
    responses((status = 201, body = ConversationView),
        (status = 404, description = "`unknown-person`: a handle names nobody"),
        (status = 409, description = "`group-full`"),
        (status = 413, description = "`message-too-large`: the title is too long"),
        (status = 422, description = "`invalid-message`: no members, or a direct conversation with more than one")))]
pub(super) async fn create(
    State(s): State<AppState>,
    who: Authed,
    JsonBody(req): JsonBody<NewConversation>,
) -> Result<(StatusCode, Json<ConversationView>), Problem> {
    let view = s
        .host
        .start_conversation(&who.user_id, req.title, &req.members, now())
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A conversation the person is in, with its members.
#[utoipa::path(get, path = "/me/conversations/{id}", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView),
        (status = 403, description = "`not-a-member`"),
        (status = 404, description = "`conversation-not-found`")))]
pub(super) async fn detail(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, Problem> {
    Ok(Json(s.host.conversation(&who.user_id, &id)?))
}

/// People to add to a group.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// Handles.
    pub members: Vec<String>,
}

/// A member adds people to the group.
#[utoipa::path(post, path = "/me/conversations/{id}/members", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")), request_body = Invite,
    responses((status = 200, body = ConversationView),
        (status = 403, description = "`not-a-member`"),
        (status = 404, description = "`conversation-not-found`, `unknown-person`"),
        (status = 409, description = "`not-a-group`, `group-full`"),
        (status = 422, description = "`invalid-message`: nobody to add")))]
pub(super) async fn invite(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<Invite>,
) -> Result<Json<ConversationView>, Problem> {
    Ok(Json(
        s.host
            .invite(&who.user_id, &id, &req.members, now())
            .await?,
    ))
}

/// The person leaves a group.
#[utoipa::path(post, path = "/me/conversations/{id}/leave", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 204, description = "Left"),
        (status = 403, description = "`not-a-member`"),
        (status = 404, description = "`conversation-not-found`"),
        (status = 409, description = "`not-a-group`: a direct conversation cannot be left")))]
pub(super) async fn leave(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.host.leave(&who.user_id, &id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a message: `{"kind":"text","text":…}`, `{"kind":"app-card","app":…,
/// "path":"/…","title":…}` or `{"kind":"red-packet","packet":…}` (a packet
/// the person sent).
#[utoipa::path(post, path = "/me/conversations/{id}/messages", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")), request_body = NewMessage,
    responses((status = 201, body = MessageView),
        (status = 403, description = "`not-a-member`, `not-your-packet`"),
        (status = 404, description = "`conversation-not-found`, `app-not-found`, `packet-not-found`"),
        (status = 413, description = "`message-too-large`"),
        (status = 422, description = "`invalid-message`, `packet-already-shared`")))]
pub(super) async fn send(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>), Problem> {
    let view = s.host.send_message(&who.user_id, &id, req, now()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Older messages: ids below this (from `next_before`), newest first.
    #[param(nullable = false)]
    before: Option<u64>,
    /// Catching up: ids above this, oldest first.
    #[param(nullable = false)]
    after: Option<u64>,
    #[param(inline)]
    limit: Option<PageLimit>,
}

/// A page of the conversation's messages.
#[utoipa::path(get, path = "/me/conversations/{id}/messages", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id"), HistoryQuery),
    responses((status = 200, body = HistoryView),
        (status = 403, description = "`not-a-member`"),
        (status = 404, description = "`conversation-not-found`")))]
pub(super) async fn history(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<HistoryView>, Problem> {
    let q: HistoryQuery = query(&uri)?;
    Ok(Json(s.host.history(
        &who.user_id,
        &id,
        q.before,
        q.after,
        PageLimit::or_default(q.limit),
    )?))
}

/// How far the person has read.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMark {
    /// The newest message id read.
    pub up_to: u64,
}

/// Marks the conversation read up to a message (never moves back).
#[utoipa::path(post, path = "/me/conversations/{id}/read", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")), request_body = ReadMark,
    responses((status = 200, body = ReadMark),
        (status = 403, description = "`not-a-member`"),
        (status = 404, description = "`conversation-not-found`"),
        (status = 422, description = "`invalid-message`: past the newest message")))]
pub(super) async fn read(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReadMark>,
) -> Result<Json<ReadMark>, Problem> {
    let up_to = s
        .host
        .messaging()
        .mark_read(&who.user_id, &id, req.up_to)
        .await?;
    Ok(Json(ReadMark { up_to }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins).
    #[param(nullable = false)]
    after: Option<u64>,
}

/// Where a stream resumes: `Last-Event-ID` (what browsers send when they
/// reconnect), else `?after=`, else only new events.
fn resume_point(
    host: &Superapp,
    user: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<u64, Problem> {
    if let Some(v) = headers.get("last-event-id") {
        return v
            .to_str()
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-last-event-id",
                    "`Last-Event-ID` is the decimal `id` of an event this stream sent",
                )
            });
    }
    let q: StreamQuery = query(uri)?;
    match q.after {
        Some(after) => Ok(after),
        // Only what happens from now on: start after the newest event.
        None => Ok(host.messaging().newest_event(user)?.unwrap_or(0)),
    }
}

/// The person's live events as server-sent events: `message` (a new message
/// in one of their conversations). Each event's `id` resumes the stream:
/// a client reconnecting with `Last-Event-ID` gets everything after it.
#[utoipa::path(get, path = "/me/events", tag = "messaging", security(("bearer" = [])),
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Server-sent events: `message`, `notification`, `payment-prompt`, `packet-claimed`", content_type = "text/event-stream"),
        (status = 400, description = "`invalid-last-event-id`"),
        (status = 429, description = "`too-many-streams`: the person has too many streams open")))]
pub(super) async fn events(
    State(s): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Problem> {
    let slot = StreamSlot::take(&s, &who.user_id)?;
    // Connect before reading the backlog, so nothing falls in between.
    let live = s.host.messaging().connect_live(&who.user_id);
    let after = resume_point(&s.host, &who.user_id, &headers, &uri)?;
    let state = Stream {
        host: s.host.clone(),
        user: who.user_id,
        after,
        live,
        read_store: true,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(state, Stream::next);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Most events sent in one write.
const SEND_AT_ONCE: usize = 64;

/// One event as the stream sends it.
fn sse_frame(v: &LiveEventView) -> Bytes {
    // Compact JSON has no line breaks, so `data` is one line.
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        v.id, v.event, v.data
    ))
}

/// A shared event, encoded by the first stream that sends it.
fn shared_frame(e: &SharedEvent) -> Bytes {
    e.encoded(|ev| sse_frame(&live_event_view(ev.clone())))
}

/// One open event stream: the backlog and other hosts' events from the
/// store, this host's from memory.
struct Stream {
    host: Arc<Superapp>,
    user: String,
    /// The newest event id sent.
    after: u64,
    live: crate::messaging::live::LiveReceiver,
    /// The store may hold events after `after` not yet sent.
    read_store: bool,
    _slot: StreamSlot,
}

/// One of a person's `max_streams_per_person` live streams, given back
/// when the stream is dropped (the client went away).
struct StreamSlot {
    streams: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    user: String,
}

impl StreamSlot {
    fn take(s: &AppState, user: &str) -> Result<StreamSlot, Problem> {
        let limit = s.host.config().max_streams_per_person;
        let mut open = s.streams.lock().map_err(Problem::internal)?;
        let n = open.entry(user.to_string()).or_default();
        if *n >= limit {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                format!(
                    "you already have {n} live streams open (the limit is {limit}); close one first"
                ),
            ));
        }
        *n += 1;
        Ok(StreamSlot {
            streams: s.streams.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.lock()
            && let Some(n) = open.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Stream)> {
        loop {
            if self.read_store {
                let batch = match self.host.live_events(&self.user, self.after, 200) {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the live stream; closing it");
                        return None;
                    }
                };
                self.read_store = batch.len() == 200;
                if let Some(last) = batch.last() {
                    self.after = last.id;
                    let mut out = BytesMut::new();
                    for e in &batch {
                        out.extend_from_slice(&sse_frame(e));
                    }
                    return Some((Ok(out.freeze()), self));
                }
                continue;
            }
            // Idle streams are sent a keep-alive by the hub's ticker (no
            // timer per receive).
            let first = match self.live.recv().await {
                // Cut off for falling behind, or the host is stopping: the
                // client reconnects and resumes from the store.
                None => return None,
                Some(item) => item,
            };
            // What else is already waiting goes in the same write.
            let mut out = BytesMut::new();
            let mut item = Some(first);
            let mut taken = 0;
            let mut ping = false;
            while let Some(next) = item.take() {
                match next {
                    Live::Wake => self.read_store = true,
                    Live::KeepAlive => ping = true,
                    // Skip what the backlog already sent.
                    Live::Event(e) if e.event.id > self.after && !self.read_store => {
                        self.after = e.event.id;
                        out.extend_from_slice(&shared_frame(&e));
                    }
                    // Read from the store with what came before it.
                    Live::Event(_) => {}
                }
                taken += 1;
                if taken < SEND_AT_ONCE {
                    item = self.live.try_recv().ok();
                }
            }
            if !out.is_empty() {
                return Some((Ok(out.freeze()), self));
            }
            if ping && !self.read_store {
                return Some((Ok(Bytes::from_static(b":\n\n")), self));
            }
        }
    }
}

/// A person's subscriptions to one app.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    pub app: String,
    pub subscriptions: Vec<SubscriptionView>,
}

/// The person's one-time subscriptions to an app's notifications: each
/// allows the app exactly one notification on its topic.
#[utoipa::path(get, path = "/me/apps/{id}/subscriptions", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")),
    responses((status = 200, body = SubscriptionList),
        (status = 404, description = "`app-not-found`"),
        (status = 422, description = "`invalid-message`: the app does not message people")))]
pub(super) async fn subscriptions(
    State(s): State<AppState>,
    who: Authed,
    Path(app): Path<String>,
) -> Result<Json<SubscriptionList>, Problem> {
    let subscriptions = s.host.subscriptions(&who.user_id, &app)?;
    Ok(Json(SubscriptionList { app, subscriptions }))
}

/// A topic to subscribe to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// 1–64 of a-z 0-9 - _ .
    pub topic: String,
}

/// The person allows the app one more notification on a topic.
#[utoipa::path(post, path = "/me/apps/{id}/subscriptions", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")), request_body = Subscribe,
    responses((status = 200, body = SubscriptionView),
        (status = 404, description = "`app-not-found`"),
        (status = 422, description = "`invalid-message`: a bad topic, too many unused, or the app does not message people")))]
pub(super) async fn subscribe(
    State(s): State<AppState>,
    who: Authed,
    Path(app): Path<String>,
    JsonBody(req): JsonBody<Subscribe>,
) -> Result<Json<SubscriptionView>, Problem> {
    Ok(Json(
        s.host.subscribe(&who.user_id, &app, &req.topic).await?,
    ))
}

/// The person withdraws their unused subscriptions to a topic.
#[utoipa::path(delete, path = "/me/apps/{id}/subscriptions/{topic}", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello"), ("topic" = String, Path, description = "Topic")),
    responses((status = 204, description = "Withdrawn"),
        (status = 404, description = "`app-not-found`"),
        (status = 422, description = "`invalid-message`: a bad topic, or the app does not message people")))]
pub(super) async fn unsubscribe(
    State(s): State<AppState>,
    who: Authed,
    Path((app, topic)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    s.host.unsubscribe(&who.user_id, &app, &topic).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message to a mini-app.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToApp {
    pub text: String,
}

/// The person writes to a mini-app (customer service). The app receives it
/// as an event and may answer within 48 hours, at most 5 times; the
/// exchange is the person's conversation with the app.
#[utoipa::path(post, path = "/apps/{id}/messages", tag = "messaging", security(("bearer" = [])),
    params(("id" = String, Path, description = "App id", example = "hello")), request_body = ToApp,
    responses((status = 201, body = MessageView),
        (status = 404, description = "`app-not-found`"),
        (status = 413, description = "`message-too-large`"),
        (status = 422, description = "`invalid-message`: empty, or the app does not message people")))]
pub(super) async fn to_app(
    State(s): State<AppState>,
    who: Authed,
    Path(app): Path<String>,
    JsonBody(req): JsonBody<ToApp>,
) -> Result<(StatusCode, Json<MessageView>), Problem> {
    let view = s
        .host
        .write_to_app(&who.user_id, &app, req.text, now())
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}
