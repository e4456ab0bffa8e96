//! The red-packet mini-app. A person sends a packet (random "double mean"
//! shares or equal ones); the host asks them to confirm the money; they
//! share the link; friends claim once each; everyone sees who got what and
//! who drew the most. Money rules live in the host's wallet: this app only
//! asks, shows, and remembers names people chose to show.
//!
//! Routes:
//! - `POST /packets` `{total, count, split?, greeting?, key, conversation?}`
//!   → 201 with the payment to confirm (`/me/payments/{id}/confirm`), the
//!   packet's link, and with `conversation` the card posted into that chat
//!   (the same `key` again with a `conversation` posts the card of the packet
//!   sent before: a client may create it first and choose the chat after)
//! - `GET /packets` → the packets you sent, newest first, with their payment
//! - `GET /packets/{id}` → the packet, its claims, the luckiest, your share
//! - `POST /packets/{id}/claim` → your share
//! - `GET /activity` → the events the host delivered (newest last)

use serde::{Deserialize, Serialize};
use serde_json::json;
use superapp_sdk::messaging::{self, MessagingError};
use superapp_sdk::wallet::{self, PacketStatus, Split};
use superapp_sdk::{
    App, Error, Event, EventBody, Request, Response, Router, WalletEventKind, context, identity,
    storage,
};

struct RedPackets;

impl App for RedPackets {
    fn handle(req: Request) -> Response {
        Router::new()
            .post("/packets", send)
            .get("/packets", sent_by_me)
            .get("/packets/{id}", show)
            .post("/packets/{id}/claim", claim)
            .get("/activity", activity)
            .post("/me/name", show_my_name)
            .handle(req)
    }

    fn on_event(event: Event) -> Result<(), String> {
        // People's messages to the app are not answered here.
        let EventBody::Wallet(w) = &event.body else {
            return Ok(());
        };
        let store = storage::app();
        // Delivered at least once: the event id makes a retry harmless.
        let key = format!("activity:{:020}:{}", event.at, event.id);
        let seen = store.get(&key).map_err(|e| format!("{e:?}"))?;
        if seen.is_some() {
            return Ok(());
        }
        let what = match w.kind {
            WalletEventKind::PaymentConfirmed => "packet funded",
            WalletEventKind::PaymentDeclined => "sender declined",
            WalletEventKind::PaymentExpired => "never confirmed",
            WalletEventKind::RedPacketClaimed => "share claimed",
            WalletEventKind::RedPacketExpired => "expired, rest returned",
            _ => "other",
        };
        let entry = Activity {
            event: event.id.clone(),
            what: what.to_string(),
            subject: w.subject.clone(),
            amount: w.amount,
        };
        store.set_json(&key, &entry).map_err(|e| e.message)
    }
}

#[derive(Serialize, Deserialize)]
struct Activity {
    event: String,
    what: String,
    subject: String,
    amount: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    total: u64,
    count: u32,
    #[serde(default)]
    split: Option<String>,
    #[serde(default)]
    greeting: Option<String>,
    /// The client's idempotency key: a retry sends the same one.
    key: String,
    /// A chat to post the packet into (the person chose it in the client);
    /// only its members can then claim.
    #[serde(default)]
    conversation: Option<String>,
}

/// The name a person shows, if they let this app see it.
fn my_name() -> Option<String> {
    identity::profile().ok().map(|p| p.display_name)
}

/// Keeps the name the caller shows (if they let this app see it) for the
/// packets they sent and opened; answers it.
fn remember_name() -> Result<Option<String>, Error> {
    let Some(open_id) = context::current().open_id else {
        return Ok(None);
    };
    let name = my_name();
    if let Some(name) = &name {
        storage::app().set_json(&format!("name:{open_id}"), name)?;
    }
    Ok(name)
}

/// Called once the person let this app see their profile, so their name
/// shows at once, on the packets they sent and opened before too.
fn show_my_name(_: &Request) -> Result<Response, Error> {
    context::open_id().ok_or_else(Error::sign_in_required)?;
    let name = remember_name()?;
    Ok(Response::json(&json!({ "name": name })))
}

fn name_of(open_id: &str) -> Result<String, Error> {
    Ok(storage::app()
        .get_json::<String>(&format!("name:{open_id}"))?
        .unwrap_or_else(|| "a friend".to_string()))
}

fn send(req: &Request) -> Result<Response, Error> {
    let r: SendRequest = req.json()?;
    let split = match r.split.as_deref() {
        None | Some("random") => Split::Random,
        Some("equal") => Split::Equal,
        Some(other) => {
            return Err(Error::bad_request(
                "invalid-split",
                format!("split is `random` or `equal`, not `{other}`"),
            ));
        }
    };
    let greeting = r
        .greeting
        .unwrap_or_else(|| "恭喜发财，大吉大利".to_string());
    let payment = wallet::create_red_packet(r.total, r.count, split, &greeting, &r.key)?;
    remember_name()?;
    let packet = payment.red_packet.clone().unwrap_or_default();
    // Posted before the sender confirms: nobody can claim it before then,
    // so it is fenced into the chat from the start. A retry finds it there.
    let message = match &r.conversation {
        Some(conversation) => match messaging::share_red_packet(conversation, &packet) {
            Ok(id) => Some(id),
            Err(MessagingError::Invalid(p)) if p.code == "packet-already-shared" => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    remember_sent(&packet, &payment.id, r.conversation.as_deref())?;
    let app = context::current().app_id;
    Ok(Response::json(&json!({
        "payment": payment.id,
        "packet": packet,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status.name(),
        "confirm": format!("/me/payments/{}/confirm", payment.id),
        "link": format!("/apps/{app}/call/packets/{packet}"),
        "message": message,
    }))
    .with_status(201))
}

/// What the sender's list needs: the packet's payment (to confirm it later)
/// and where it went; numbered so the list keeps the order of sending.
#[derive(Serialize, Deserialize)]
struct Sent {
    n: u64,
    packet: String,
    payment: String,
    conversation: Option<String>,
}

/// Records a packet in its sender's list; a retry keeps its place.
fn remember_sent(packet: &str, payment: &str, conversation: Option<&str>) -> Result<(), Error> {
    let user = storage::user();
    let key = format!("sent:{packet}");
    if let Some(mut s) = user.get_json::<Sent>(&key)? {
        if s.conversation.is_none() && conversation.is_some() {
            s.conversation = conversation.map(str::to_string);
            user.set_json(&key, &s)?;
        }
        return Ok(());
    }
    let n = user
        .update_json::<u64>("sent-count", |n| Ok(Some(n.unwrap_or(0) + 1)))?
        .unwrap_or(1);
    user.set_json(
        &key,
        &Sent {
            n,
            packet: packet.to_string(),
            payment: payment.to_string(),
            conversation: conversation.map(str::to_string),
        },
    )
}

fn sent_by_me(_: &Request) -> Result<Response, Error> {
    context::open_id().ok_or_else(Error::sign_in_required)?;
    let user = storage::user();
    let mut sent = Vec::new();
    for k in user.list("sent:")? {
        if let Some(s) = user.get_json::<Sent>(&k)? {
            sent.push(s);
        }
    }
    sent.sort_by_key(|s| std::cmp::Reverse(s.n));
    let mut out = Vec::new();
    for s in sent {
        let p = wallet::red_packet(&s.packet)?;
        out.push(json!({
            "id": p.id,
            "payment": s.payment,
            "conversation": s.conversation,
            "greeting": p.greeting,
            "total": p.total,
            "count": p.count,
            "claimed": p.claims.len(),
            "status": status_name(p.status),
        }));
    }
    Ok(Response::json(&out))
}

fn show(req: &Request) -> Result<Response, Error> {
    let id = req.param("id").unwrap_or_default();
    let p = wallet::red_packet(id)?;
    let me = context::current().open_id;
    let mut claims = Vec::new();
    for c in &p.claims {
        claims.push(json!({ "who": name_of(&c.open_id)?, "amount": c.amount, "mine": Some(&c.open_id) == me.as_ref() }));
    }
    // The earliest of equal best shares is the luckiest.
    let luckiest = p
        .claims
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (c.amount, std::cmp::Reverse(*i)))
        .map(|(_, c)| c);
    let luckiest = match luckiest {
        Some(c) => Some(json!({ "who": name_of(&c.open_id)?, "amount": c.amount })),
        None => None,
    };
    let mine = p
        .claims
        .iter()
        .find(|c| Some(&c.open_id) == me.as_ref())
        .map(|c| c.amount);
    Ok(Response::json(&json!({
        "id": p.id,
        "from": name_of(&p.sender)?,
        "greeting": p.greeting,
        "total": p.total,
        "count": p.count,
        "split": if p.split == Split::Equal { "equal" } else { "random" },
        "status": status_name(p.status),
        "claimed": p.claims.len(),
        "remaining": p.remaining,
        "returned": p.returned,
        "claims": claims,
        "luckiest": luckiest,
        "mine": mine,
    })))
}

fn status_name(s: PacketStatus) -> &'static str {
    match s {
        PacketStatus::Unfunded => "waiting for the sender to confirm",
        PacketStatus::Open => "open",
        PacketStatus::Empty => "all claimed",
        PacketStatus::Expired => "expired",
        PacketStatus::Cancelled => "cancelled",
    }
}

fn claim(req: &Request) -> Result<Response, Error> {
    let id = req.param("id").unwrap_or_default();
    let c = wallet::claim_red_packet(id)?;
    if c.first_claim {
        remember_name()?;
    }
    Ok(Response::json(&json!({
        "amount": c.amount,
        "first_claim": c.first_claim,
        "status": status_name(c.status),
    })))
}

fn activity(_: &Request) -> Result<Response, Error> {
    let store = storage::app();
    let mut out = Vec::new();
    for k in store.list("activity:")? {
        if let Some(a) = store.get_json::<Activity>(&k)? {
            out.push(a);
        }
    }
    Ok(Response::json(&out))
}

superapp_sdk::export!(RedPackets);

#[cfg(test)]
mod tests;
