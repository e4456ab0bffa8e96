//! A mock host for native unit tests of mini-apps: storage, identity,
//! wallet, messaging, log and context behave like the host's, in memory,
//! on the test's thread. Only on non-wasm targets.
//!
//! ```
//! use superapp_sdk::mock::MockHost;
//! use superapp_sdk::wallet::{self, PaymentMode};
//! use superapp_sdk::{App, Error, Request, Response, Router};
//!
//! struct Shop;
//! impl App for Shop {
//!     fn handle(req: Request) -> Response {
//!         fn order(req: &Request) -> Result<Response, Error> {
//!             let item: serde_json::Value = req.json()?;
//!             // The order id is the idempotency key: a retry asks once.
//!             let key = format!("order-{}", item["item"].as_str().unwrap_or(""));
//!             let p = wallet::request_payment(1_200, "tea", PaymentMode::Direct, &key)?;
//!             Ok(Response::json(&serde_json::json!({ "payment": p.id })))
//!         }
//!         Router::new().post("/orders", order).handle(req)
//!     }
//! }
//!
//! # fn main() -> Result<(), String> {
//! let host = MockHost::<Shop>::new("shop");
//! let ann = host.person("ann");
//! host.top_up(&ann, 10_000);
//! let res = host.post(&ann, "/orders", &serde_json::json!({"item": "tea"}));
//! assert_eq!(res.status, 200);
//! let body: serde_json::Value = serde_json::from_slice(&res.body).map_err(|e| e.to_string())?;
//! let payment = body["payment"].as_str().unwrap_or_default();
//! assert_eq!(host.balance(&ann), 10_000, "nothing moves before she confirms");
//! host.confirm(&ann, payment)?; // the person confirms in the host
//! assert_eq!(host.balance(&ann), 10_000 - 1_200);
//! # Ok(())
//! # }
//! ```
//!
//! The wallet is the host's own: core's [`Ledger`] under the default
//! [`Rules`], sent the same commands the host's wallet adapter and its
//! person-facing actions send, with the same idempotency scopes, and
//! answered in the same WIT values and errors. A request creates a pending
//! intent that only [`MockHost::confirm`] moves; escrow waits for
//! [`MockHost::confirm_receipt`] or [`MockHost::advance`]; idempotency keys
//! return the first result. People are in the ledger by their open id (the
//! mock runs one app). Fresh ids and red-packet seeds come from a
//! deterministic source, so a test sees the same shares every run. Events
//! (`payment-confirmed`, `refund-done`, `message`…) are delivered to the
//! app's `on_event` after the call or action that raised them returns,
//! with the person as the call's user; [`MockHost::redeliver_all`] delivers
//! them all again, as the host's at-least-once delivery may.

use crate::bindings::superapp::platform::events::{AppMessage, Event, EventBody};
use crate::{App, Request, Response};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use superapp_core::wallet::{Account, Command, Fresh, Ledger, Outcome, Rules, WalletError};

// Messaging's answer window (the wallet's rules are all core's).
const REPLY_WINDOW: i64 = 48 * 3600;
const REPLIES_PER_MESSAGE: u32 = 5;

/// Whether the person granted the app their profile: set it with
/// [`MockHost::set_consent`], as the person's `PUT
/// /me/apps/{id}/grants/profile` does in the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Not decided yet (the default): `identity::profile()` is
    /// `NotGranted`.
    Undecided,
    /// Granted (`{"decision":"grant"}`): the app reads the profile.
    Granted,
    /// Refused (`{"decision":"deny"}`): `identity::profile()` is `Refused`.
    Refused,
}

/// Something the app posted for a person or into a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// `messaging::notify`.
    Notification { topic: String, text: String },
    /// `messaging::reply`.
    Reply { text: String },
    /// `messaging::share_card`.
    Card { path: String, title: String },
    /// `messaging::share_red_packet`.
    RedPacket { packet: String },
}

struct Person {
    name: String,
    verified: bool,
    minor: Option<bool>,
    consent: Consent,
    subscriptions: BTreeMap<String, u32>,
    /// Where the app's notifications and replies land.
    inbox: Vec<Posted>,
    /// The person's last message to the app: (when, answers used).
    wrote: Option<(i64, u32)>,
}

struct State {
    app_id: String,
    now: i64,
    next_id: u64,
    /// The deterministic source of the ledger's fresh ids and seeds.
    fresh_state: u64,
    user: Option<String>,
    people: BTreeMap<String, Person>,
    app_store: BTreeMap<String, Vec<u8>>,
    user_store: BTreeMap<(String, String), Vec<u8>>,
    /// The host's ledger; people are in it by their open id.
    ledger: Ledger,
    /// The conversation each red packet was posted into, if any.
    packet_conversations: BTreeMap<String, String>,
    conversations: BTreeMap<String, Vec<String>>,
    posts: Vec<(String, Posted)>,
    logs: Vec<(raw_log::Level, String)>,
    events: Vec<Event>,
    /// Events raised during a call or action, delivered when it returns.
    pending_events: Vec<Event>,
    event_errors: Vec<(String, String)>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

use crate::bindings::superapp::platform::log as raw_log;
use crate::bindings::superapp::platform::wallet as raw_wallet;

/// The mock host for app `A`, installed on this thread until dropped.
pub struct MockHost<A: App> {
    _app: PhantomData<fn() -> A>,
}

impl<A: App> MockHost<A> {
    /// A fresh host running `A` as the app `app_id`, with nobody in it yet.
    pub fn new(app_id: &str) -> Self {
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                app_id: app_id.to_string(),
                now: 1_800_000_000,
                next_id: 1,
                fresh_state: 0,
                user: None,
                people: BTreeMap::new(),
                app_store: BTreeMap::new(),
                user_store: BTreeMap::new(),
                ledger: Ledger::new(Rules::default()),
                packet_conversations: BTreeMap::new(),
                conversations: BTreeMap::new(),
                posts: Vec::new(),
                logs: Vec::new(),
                events: Vec::new(),
                pending_events: Vec::new(),
                event_errors: Vec::new(),
            })
        });
        MockHost { _app: PhantomData }
    }

    /// Adds a person shown as `name`; returns their open id in this app
    /// (`ou_<name>`).
    pub fn person(&self, name: &str) -> String {
        let open_id = format!("ou_{name}");
        with(|s| {
            s.people.insert(
                open_id.clone(),
                Person {
                    name: name.to_string(),
                    verified: false,
                    minor: None,
                    consent: Consent::Undecided,
                    subscriptions: BTreeMap::new(),
                    inbox: Vec::new(),
                    wrote: None,
                },
            )
        });
        open_id
    }

    /// Sets the person's decision on sharing their profile (see
    /// [`crate::identity::profile`] for an app that reads it).
    pub fn set_consent(&self, open_id: &str, consent: Consent) {
        with(|s| {
            if let Some(p) = s.people.get_mut(open_id) {
                p.consent = consent;
            }
        });
    }

    /// Marks the person real-name verified (and whether they are a minor).
    pub fn verify(&self, open_id: &str, minor: bool) {
        with(|s| {
            if let Some(p) = s.people.get_mut(open_id) {
                p.verified = true;
                p.minor = Some(minor);
            }
        });
    }

    /// The operator tops the person's wallet up: the host's `TopUp`, under
    /// a key of its own. More than the largest amount of one operation is
    /// topped up in several, as an operator would have to.
    pub fn top_up(&self, open_id: &str, amount: u64) {
        with(|s| {
            if !s.people.contains_key(open_id) {
                return;
            }
            let most = s.ledger.rules().max_amount;
            let mut left = amount;
            while left > 0 {
                let part = left.min(most);
                let key = format!("mock-top-up-{}", s.fresh());
                let cmd = Command::TopUp {
                    user: open_id.to_string(),
                    amount: part,
                    key,
                };
                // Only total issuance past u64::MAX could be refused.
                if s.execute(cmd).is_err() {
                    break;
                }
                left -= part;
            }
        });
    }

    /// The person's wallet balance.
    pub fn balance(&self, open_id: &str) -> u64 {
        with(|s| s.ledger.balance(&Account::User(open_id.to_string()))).unwrap_or(0)
    }

    /// The app's merchant balance.
    pub fn merchant_balance(&self) -> u64 {
        with(|s| s.ledger.balance(&Account::Merchant(s.app_id.clone()))).unwrap_or(0)
    }

    /// A payment as the host keeps it.
    pub fn payment(&self, id: &str) -> Option<raw_wallet::Payment> {
        with(|s| {
            let p = s.ledger.payment(id)?.clone();
            Some(wit::payment(s, p))
        })
        .flatten()
    }

    /// The person's payment intents still waiting for them, oldest first
    /// (the host's list: expired ones are not shown even before a sweep).
    pub fn pending(&self, open_id: &str) -> Vec<raw_wallet::Payment> {
        with(|s| {
            s.ledger
                .pending_for(open_id, s.now)
                .into_iter()
                .filter(|p| p.app == s.app_id)
                .map(|p| wit::payment(s, p))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Checks the ledger's invariants, as the host's audit does: what the
    /// operator topped up is exactly what the wallets, the merchant, escrow,
    /// holds and unclaimed packets hold, and each escrow, hold and packet
    /// account matches its payment or packet.
    pub fn check_ledger(&self) -> Result<(), String> {
        with(|s| s.ledger.check_invariants()).unwrap_or_else(|| Err("no mock host".into()))
    }

    /// Calls the app's handler as `user` (None: no signed-in person).
    pub fn call(&self, user: Option<&str>, req: Request) -> Response {
        with(|s| s.user = user.map(str::to_string));
        let res = A::handle(req);
        with(|s| s.user = None);
        self.deliver_pending();
        res
    }

    fn deliver_pending(&self) {
        while let Some(events) =
            with(|s| std::mem::take(&mut s.pending_events)).filter(|e| !e.is_empty())
        {
            for e in events {
                self.deliver(e);
            }
        }
    }

    /// `GET path` as `user`.
    pub fn get(&self, user: &str, path: &str) -> Response {
        self.call(Some(user), Request::new("GET", path, Vec::new()))
    }

    /// `POST path` with a JSON body as `user`.
    pub fn post(&self, user: &str, path: &str, body: &serde_json::Value) -> Response {
        self.call(Some(user), json_request("POST", path, body))
    }

    /// `PUT path` with a JSON body as `user`.
    pub fn put(&self, user: &str, path: &str, body: &serde_json::Value) -> Response {
        self.call(Some(user), json_request("PUT", path, body))
    }

    /// `DELETE path` as `user`.
    pub fn delete(&self, user: &str, path: &str) -> Response {
        self.call(Some(user), Request::new("DELETE", path, Vec::new()))
    }

    /// The payer confirms a pending intent in the host: money moves and the
    /// app hears `payment-confirmed`. Confirming again is a no-op, as in
    /// the host. An error reads `<the host's code>: <its message>`.
    pub fn confirm(&self, open_id: &str, payment: &str) -> Result<(), String> {
        self.decide(Command::Confirm {
            user: open_id.to_string(),
            payment: payment.to_string(),
        })
    }

    /// The payer declines a pending intent (declining again is a no-op).
    pub fn decline(&self, open_id: &str, payment: &str) -> Result<(), String> {
        self.decide(Command::Decline {
            user: open_id.to_string(),
            payment: payment.to_string(),
        })
    }

    /// The buyer confirms receipt of an escrow payment in the host: the
    /// money (less refunds) goes to the merchant and the app hears
    /// `receipt-confirmed`.
    pub fn confirm_receipt(&self, open_id: &str, payment: &str) -> Result<(), String> {
        self.decide(Command::ConfirmReceipt {
            user: open_id.to_string(),
            payment: payment.to_string(),
        })
    }

    /// A person's decision, run as the host's `decide_payment` runs it.
    fn decide(&self, cmd: Command) -> Result<(), String> {
        let done = with(|s| s.execute(cmd).map(|_| ())).unwrap_or_else(no_host);
        self.deliver_pending();
        done.map_err(|e| format!("{}: {e}", e.code()))
    }

    /// Lets time pass: the host's sweep at the new time expires pending
    /// intents, releases escrow, voids stale holds and returns unclaimed
    /// red packets; the app hears each.
    pub fn advance(&self, secs: i64) {
        with(|s| {
            s.now += secs;
            // A sweep refuses nothing.
            let _ = s.execute(Command::Sweep);
        });
        self.deliver_pending();
    }

    /// Now, in the mock's Unix seconds.
    pub fn now(&self) -> i64 {
        with(|s| s.now).unwrap_or(0)
    }

    /// The person takes one-time subscriptions to `topic` (one notification each).
    pub fn subscribe(&self, open_id: &str, topic: &str, times: u32) {
        with(|s| {
            if let Some(p) = s.people.get_mut(open_id) {
                *p.subscriptions.entry(topic.to_string()).or_insert(0) += times;
            }
        });
    }

    /// The person writes to the app (customer service); the app hears a
    /// `message` event (its id `msg-<message id>`, as the host names it)
    /// and may answer within 48 hours, 5 times.
    pub fn write_to_app(&self, open_id: &str, text: &str) {
        let event = with(|s| {
            let id = s.fresh();
            let now = s.now;
            if let Some(p) = s.people.get_mut(open_id) {
                p.wrote = Some((now, 0));
            }
            Event {
                id: format!("msg-{id}"),
                at: now,
                open_id: Some(open_id.to_string()),
                body: EventBody::Message(AppMessage {
                    id,
                    text: text.to_string(),
                }),
            }
        });
        if let Some(e) = event {
            self.deliver(e);
        }
    }

    /// What the app sent the person: notifications and answers, in order.
    pub fn inbox(&self, open_id: &str) -> Vec<Posted> {
        with(|s| s.people.get(open_id).map(|p| p.inbox.clone()))
            .flatten()
            .unwrap_or_default()
    }

    /// A group chat of these people; returns its id.
    pub fn group(&self, members: &[&str]) -> String {
        with(|s| {
            let id = format!("c_{}", s.fresh());
            s.conversations
                .insert(id.clone(), members.iter().map(|m| m.to_string()).collect());
            id
        })
        .unwrap_or_default()
    }

    /// What the app posted into a conversation, in order.
    pub fn posts(&self, conversation: &str) -> Vec<Posted> {
        with(|s| {
            s.posts
                .iter()
                .filter(|(c, _)| c == conversation)
                .map(|(_, p)| p.clone())
                .collect()
        })
        .unwrap_or_default()
    }

    /// Delivers again, in order, every event delivered so far — as the host
    /// may after a crash between the app's answer and its outbox write
    /// (delivery is at least once). An app that de-duplicates changes
    /// nothing; its tests call this after a flow and check just that.
    pub fn redeliver_all(&self) {
        let delivered = with(|s| s.events.clone()).unwrap_or_default();
        for event in delivered {
            self.deliver(event);
        }
    }

    /// Every event delivered to the app, in order (redeliveries included).
    pub fn events(&self) -> Vec<Event> {
        with(|s| s.events.clone()).unwrap_or_default()
    }

    /// Events the app's `on_event` answered with an error (the host would
    /// retry them), as (event id, error).
    pub fn event_errors(&self) -> Vec<(String, String)> {
        with(|s| s.event_errors.clone()).unwrap_or_default()
    }

    /// Log lines the app wrote, as (level name, message).
    pub fn logs(&self) -> Vec<(String, String)> {
        with(|s| {
            s.logs
                .iter()
                .map(|(l, m)| {
                    let level = match l {
                        raw_log::Level::Trace => "trace",
                        raw_log::Level::Debug => "debug",
                        raw_log::Level::Info => "info",
                        raw_log::Level::Warn => "warn",
                        raw_log::Level::Error => "error",
                    };
                    (level.to_string(), m.clone())
                })
                .collect()
        })
        .unwrap_or_default()
    }

    fn deliver(&self, event: Event) {
        with(|s| {
            s.user = event.open_id.clone();
            s.events.push(event.clone());
        });
        let id = event.id.clone();
        let result = A::on_event(event);
        with(|s| {
            s.user = None;
            if let Err(e) = result {
                s.event_errors.push((id, e));
            }
        });
        self.deliver_pending();
    }
}

impl<A: App> Drop for MockHost<A> {
    fn drop(&mut self) {
        STATE.with(|s| *s.borrow_mut() = None);
    }
}

fn json_request(method: &str, path: &str, body: &serde_json::Value) -> Request {
    Request::new(method, path, serde_json::to_vec(body).unwrap_or_default())
}

fn no_host<T>() -> Result<T, WalletError> {
    Err(WalletError::Internal("no MockHost on this thread".into()))
}

impl State {
    fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Runs `cmd` as the host's wallet does, at the mock's time: the
    /// shown-text rule first, then fresh values (from the mock's source,
    /// where the host draws the OS's randomness) and core's ledger. The
    /// wallet events it raised wait for delivery.
    fn execute(&mut self, cmd: Command) -> Result<Outcome, WalletError> {
        cmd.check_shown_texts()?;
        let fresh = Fresh::for_command(&cmd, |b| self.fill(b));
        let result = self.ledger.apply(&cmd, &fresh, self.now);
        for e in self.ledger.take_appended().events {
            if e.app == self.app_id {
                self.pending_events.push(wit::event(e));
            }
        }
        result
    }

    /// Deterministic bytes (splitmix64): distinct ids and seeds, the same
    /// every run.
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.fresh_state = self.fresh_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.fresh_state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
    }
}

/// Core's wallet values as the WIT types a mini-app sees, mapped as the
/// host's wallet adapter maps them (people by open id, which is how the
/// mock's ledger already knows them).
mod wit {
    use super::State;
    use crate::bindings::superapp::platform::events::{
        Event, EventBody, WalletEvent, WalletEventKind,
    };
    use crate::bindings::superapp::platform::wallet as raw;
    use superapp_core::wallet::{
        self as core, AppErrorCase, EventKind, PacketStatus, PaymentKind, PaymentMode,
        PaymentStatus, Split, WalletError,
    };

    pub(super) fn error(e: WalletError) -> raw::Error {
        let message = crate::Problem::new(e.code(), e.app_message());
        match e.app_case() {
            AppErrorCase::Invalid => raw::Error::Invalid(message),
            AppErrorCase::IdempotencyConflict => raw::Error::IdempotencyConflict(message),
            AppErrorCase::NotFound => raw::Error::NotFound(message),
            AppErrorCase::InvalidState => raw::Error::InvalidState(message),
            AppErrorCase::InsufficientFunds => raw::Error::InsufficientFunds(message),
            AppErrorCase::LimitReached => raw::Error::LimitReached(message),
            AppErrorCase::Denied => raw::Error::Denied(message),
            AppErrorCase::Internal => raw::Error::Internal(message),
        }
    }

    pub(super) fn mode_from(m: raw::PaymentMode) -> PaymentMode {
        match m {
            raw::PaymentMode::Direct => PaymentMode::Direct,
            raw::PaymentMode::Escrow => PaymentMode::Escrow,
            raw::PaymentMode::Hold => PaymentMode::Hold,
        }
    }

    fn mode(m: PaymentMode) -> raw::PaymentMode {
        match m {
            PaymentMode::Direct => raw::PaymentMode::Direct,
            PaymentMode::Escrow => raw::PaymentMode::Escrow,
            PaymentMode::Hold => raw::PaymentMode::Hold,
        }
    }

    pub(super) fn split_from(s: raw::Split) -> Split {
        match s {
            raw::Split::Random => Split::Random,
            raw::Split::Equal => Split::Equal,
        }
    }

    fn status(s: PaymentStatus) -> raw::PaymentStatus {
        match s {
            PaymentStatus::Pending => raw::PaymentStatus::Pending,
            PaymentStatus::Declined => raw::PaymentStatus::Declined,
            PaymentStatus::Expired => raw::PaymentStatus::Expired,
            PaymentStatus::Paid => raw::PaymentStatus::Paid,
            PaymentStatus::Escrowed => raw::PaymentStatus::Escrowed,
            PaymentStatus::Released => raw::PaymentStatus::Released,
            PaymentStatus::Held => raw::PaymentStatus::Held,
            PaymentStatus::Captured => raw::PaymentStatus::Captured,
            PaymentStatus::Voided => raw::PaymentStatus::Voided,
            PaymentStatus::Refunded => raw::PaymentStatus::Refunded,
        }
    }

    pub(super) fn packet_status(s: PacketStatus) -> raw::PacketStatus {
        match s {
            PacketStatus::Unfunded => raw::PacketStatus::Unfunded,
            PacketStatus::Open => raw::PacketStatus::Open,
            PacketStatus::Empty => raw::PacketStatus::Empty,
            PacketStatus::Expired => raw::PacketStatus::Expired,
            PacketStatus::Cancelled => raw::PacketStatus::Cancelled,
        }
    }

    pub(super) fn payment(s: &State, p: core::Payment) -> raw::Payment {
        let (mode, red_packet) = match p.kind {
            PaymentKind::Purchase { mode: m } => (Some(mode(m)), None),
            PaymentKind::Transfer { .. } => (None, None),
            PaymentKind::RedPacket { packet } => (None, Some(packet)),
        };
        raw::Payment {
            payer: p.payer,
            id: p.id,
            amount: p.amount,
            currency: s.ledger.rules().currency.clone(),
            memo: p.memo,
            key: p.key,
            mode,
            red_packet,
            status: status(p.status),
            expires_at: p.expires_at,
            captured: p.captured,
            refunded: p.refunded,
            refunds: p
                .refunds
                .into_iter()
                .map(|r| raw::PaymentRefund {
                    id: r.id,
                    amount: r.amount,
                    key: r.key,
                    at: r.at,
                })
                .collect(),
        }
    }

    pub(super) fn packet(r: core::RedPacket) -> raw::RedPacket {
        raw::RedPacket {
            sender: r.sender,
            id: r.id,
            total: r.spec.total,
            count: r.spec.count,
            split: match r.spec.split {
                Split::Random => raw::Split::Random,
                Split::Equal => raw::Split::Equal,
            },
            greeting: r.spec.greeting,
            status: packet_status(r.status),
            claims: r
                .claims
                .into_iter()
                .map(|c| raw::Claim {
                    open_id: c.user,
                    amount: c.amount,
                    at: c.at,
                })
                .collect(),
            remaining: r.remaining,
            returned: r.returned,
            expires_at: r.expires_at,
        }
    }

    /// A ledger event as the host's delivery engine hands it to the app.
    pub(super) fn event(e: core::WalletEvent) -> Event {
        let kind = match e.kind {
            EventKind::PaymentConfirmed => WalletEventKind::PaymentConfirmed,
            EventKind::PaymentDeclined => WalletEventKind::PaymentDeclined,
            EventKind::PaymentExpired => WalletEventKind::PaymentExpired,
            EventKind::RefundDone => WalletEventKind::RefundDone,
            EventKind::ReceiptConfirmed => WalletEventKind::ReceiptConfirmed,
            EventKind::HoldExpired => WalletEventKind::HoldExpired,
            EventKind::RedPacketClaimed => WalletEventKind::RedPacketClaimed,
            EventKind::RedPacketExpired => WalletEventKind::RedPacketExpired,
        };
        Event {
            id: e.id(),
            at: e.at,
            open_id: Some(e.user),
            body: EventBody::Wallet(WalletEvent {
                kind,
                subject: e.subject,
                amount: e.amount,
            }),
        }
    }
}

// ---- the capability imports, with the bindings' signatures --------------

pub(crate) mod imports {
    pub(crate) mod context {
        use super::super::with;
        pub use crate::bindings::superapp::platform::context::CallContext;

        pub fn current() -> CallContext {
            with(|s| CallContext {
                app_id: s.app_id.clone(),
                open_id: s.user.clone(),
                union_id: s.user.as_ref().map(|u| format!("un_{u}")),
                // Mock calls are not launches: no scene.
                scene: None,
            })
            .unwrap_or(CallContext {
                app_id: String::new(),
                open_id: None,
                union_id: None,
                scene: None,
            })
        }
    }

    pub(crate) mod log {
        use super::super::with;
        use crate::bindings::superapp::platform::log::Level;

        pub fn log(level: Level, message: &str) {
            with(|s| s.logs.push((level, message.to_string())));
        }
    }

    pub(crate) mod identity {
        use super::super::{Consent, with};
        use crate::bindings::superapp::platform::identity::{Denial, Error, UserProfile};

        pub fn profile() -> Result<UserProfile, Error> {
            with(|s| {
                let user = s.user.as_ref().ok_or(Error::NoUser)?;
                let p = s.people.get(user).ok_or(Error::NoUser)?;
                match p.consent {
                    Consent::Granted => Ok(UserProfile {
                        display_name: p.name.clone(),
                        verified: p.verified,
                        is_minor: p.minor,
                    }),
                    Consent::Refused => Err(Error::Denied(Denial::Refused)),
                    Consent::Undecided => Err(Error::Denied(Denial::NotGranted)),
                }
            })
            .unwrap_or_else(|| {
                Err(Error::Internal(crate::Problem::new(
                    "no-mock-host",
                    "no MockHost on this thread",
                )))
            })
        }
    }

    pub(crate) mod storage {
        use super::super::{State, with};
        use crate::bindings::superapp::platform::storage::{Error, KeyPage, Scope};

        fn check(key: &str) -> Result<(), Error> {
            superapp_core::kv::check_key(key)
                .map_err(|why| Error::InvalidKey(crate::Problem::new("invalid-key", why)))
        }

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| {
                Err(Error::Internal(crate::Problem::new(
                    "no-mock-host",
                    "no MockHost on this thread",
                )))
            })
        }

        fn user(s: &State, scope: Scope) -> Result<Option<String>, Error> {
            match scope {
                Scope::App => Ok(None),
                Scope::User => s.user.clone().map(Some).ok_or(Error::NoUser),
            }
        }

        pub fn get(scope: Scope, key: &str) -> Result<Option<Vec<u8>>, Error> {
            check(key)?;
            run(|s| {
                Ok(match user(s, scope)? {
                    None => s.app_store.get(key).cloned(),
                    Some(u) => s.user_store.get(&(u, key.to_string())).cloned(),
                })
            })
        }

        pub fn set(scope: Scope, key: &str, value: &[u8]) -> Result<(), Error> {
            check(key)?;
            run(|s| {
                match user(s, scope)? {
                    None => s.app_store.insert(key.to_string(), value.to_vec()),
                    Some(u) => s.user_store.insert((u, key.to_string()), value.to_vec()),
                };
                Ok(())
            })
        }

        pub fn delete(scope: Scope, key: &str) -> Result<bool, Error> {
            check(key)?;
            run(|s| {
                Ok(match user(s, scope)? {
                    None => s.app_store.remove(key).is_some(),
                    Some(u) => s.user_store.remove(&(u, key.to_string())).is_some(),
                })
            })
        }

        pub fn compare_and_swap(
            scope: Scope,
            key: &str,
            expected: Option<&[u8]>,
            new: Option<&[u8]>,
        ) -> Result<bool, Error> {
            check(key)?;
            run(|s| {
                let user = user(s, scope)?;
                let slot = match &user {
                    None => s.app_store.get(key),
                    Some(u) => s.user_store.get(&(u.clone(), key.to_string())),
                };
                if slot.map(Vec::as_slice) != expected {
                    return Ok(false);
                }
                match (user, new) {
                    (None, Some(v)) => {
                        s.app_store.insert(key.to_string(), v.to_vec());
                    }
                    (None, None) => {
                        s.app_store.remove(key);
                    }
                    (Some(u), Some(v)) => {
                        s.user_store.insert((u, key.to_string()), v.to_vec());
                    }
                    (Some(u), None) => {
                        s.user_store.remove(&(u, key.to_string()));
                    }
                }
                Ok(true)
            })
        }

        pub fn list_keys(
            scope: Scope,
            prefix: &str,
            cursor: Option<&str>,
            limit: u32,
        ) -> Result<KeyPage, Error> {
            let limit = match limit {
                0 => 100,
                n => n.min(1000),
            } as usize;
            run(|s| {
                let all: Vec<String> = match user(s, scope)? {
                    None => s.app_store.keys().cloned().collect(),
                    Some(u) => s
                        .user_store
                        .keys()
                        .filter(|(o, _)| *o == u)
                        .map(|(_, k)| k.clone())
                        .collect(),
                };
                let mut keys: Vec<String> = all
                    .into_iter()
                    .filter(|k| k.starts_with(prefix))
                    .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
                    .take(limit + 1)
                    .collect();
                let next_cursor = if keys.len() > limit {
                    keys.truncate(limit);
                    keys.last().cloned()
                } else {
                    None
                };
                Ok(KeyPage { keys, next_cursor })
            })
        }
    }

    pub(crate) mod wallet {
        //! The WIT wallet calls as the host's adapter makes them: who acts
        //! comes from the call, the same core command goes to the ledger,
        //! and its answer or error comes back as the same WIT value.
        use super::super::{State, wit, with};
        use crate::bindings::superapp::platform::wallet::Payment;
        use crate::bindings::superapp::platform::wallet::{
            ClaimResult, Error, PaymentMode, Payout, RedPacket, Split,
        };
        use superapp_core::wallet::{Command, Outcome, PacketSpec, WalletError};

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| {
                Err(Error::Internal(crate::Problem::new(
                    "no-mock-host",
                    "no MockHost on this thread",
                )))
            })
        }

        /// The person of the call: requests and claims need one.
        fn user(s: &State) -> Result<String, Error> {
            s.user.clone().ok_or(Error::NoUser)
        }

        /// The person this app knows as `open_id` (the ledger knows them
        /// by it too), answered as the host's adapter answers.
        fn person(s: &State, open_id: &str) -> Result<String, Error> {
            if s.people.contains_key(open_id) {
                Ok(open_id.to_string())
            } else {
                Err(Error::NotFound(crate::Problem::new(
                    "unknown-person",
                    format!("no person with open id `{open_id}` in this app"),
                )))
            }
        }

        /// What the host's adapter answers for an outcome it did not ask for.
        fn unexpected() -> Error {
            Error::Internal(crate::Problem::new("internal", "internal"))
        }

        fn payment_command(s: &mut State, cmd: Command) -> Result<Payment, Error> {
            match s.execute(cmd).map_err(wit::error)? {
                Outcome::Payment(p) => Ok(wit::payment(s, p)),
                _ => Err(unexpected()),
            }
        }

        pub fn request_payment(
            amount: u64,
            memo: &str,
            mode: PaymentMode,
            key: &str,
        ) -> Result<Payment, Error> {
            run(|s| {
                let cmd = Command::RequestPayment {
                    app: s.app_id.clone(),
                    user: user(s)?,
                    amount,
                    memo: memo.to_string(),
                    mode: wit::mode_from(mode),
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn request_transfer(
            to: &str,
            amount: u64,
            memo: &str,
            key: &str,
        ) -> Result<Payment, Error> {
            run(|s| {
                let from = user(s)?;
                let cmd = Command::RequestTransfer {
                    app: s.app_id.clone(),
                    from,
                    to: person(s, to)?,
                    amount,
                    memo: memo.to_string(),
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn get_payment(id: &str) -> Result<Payment, Error> {
            run(|s| {
                let found = s.ledger.payment(id).filter(|p| p.app == s.app_id).cloned();
                found
                    .map(|p| wit::payment(s, p))
                    .ok_or_else(|| wit::error(WalletError::PaymentNotFound(id.to_string())))
            })
        }

        pub fn refund(payment: &str, amount: u64, key: &str) -> Result<Payment, Error> {
            run(|s| {
                let cmd = Command::Refund {
                    app: s.app_id.clone(),
                    payment: payment.to_string(),
                    amount,
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn capture(payment: &str, amount: u64, key: &str) -> Result<Payment, Error> {
            run(|s| {
                let cmd = Command::Capture {
                    app: s.app_id.clone(),
                    payment: payment.to_string(),
                    amount,
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn void(payment: &str, key: &str) -> Result<Payment, Error> {
            run(|s| {
                let cmd = Command::Void {
                    app: s.app_id.clone(),
                    payment: payment.to_string(),
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn create_red_packet(
            total: u64,
            count: u32,
            split: Split,
            greeting: &str,
            key: &str,
        ) -> Result<Payment, Error> {
            run(|s| {
                let cmd = Command::RequestRedPacket {
                    app: s.app_id.clone(),
                    user: user(s)?,
                    spec: PacketSpec {
                        total,
                        count,
                        split: wit::split_from(split),
                        greeting: greeting.to_string(),
                    },
                    key: key.to_string(),
                };
                payment_command(s, cmd)
            })
        }

        pub fn claim_red_packet(id: &str) -> Result<ClaimResult, Error> {
            run(|s| {
                let me = user(s)?;
                // The messenger's fence first, as the host checks it.
                if let Some(c) = s.packet_conversations.get(id)
                    && !s.conversations.get(c).is_some_and(|m| m.contains(&me))
                {
                    return Err(wit::error(WalletError::NotInConversation(id.to_string())));
                }
                let cmd = Command::Claim {
                    user: me,
                    packet: id.to_string(),
                    via_app: Some(s.app_id.clone()),
                };
                match s.execute(cmd).map_err(wit::error)? {
                    Outcome::Claim(c) => Ok(ClaimResult {
                        amount: c.amount,
                        first_claim: c.new,
                        status: wit::packet_status(c.packet_status),
                    }),
                    _ => Err(unexpected()),
                }
            })
        }

        pub fn get_red_packet(id: &str) -> Result<RedPacket, Error> {
            run(|s| {
                s.ledger
                    .packet(id)
                    .filter(|r| r.app.as_deref() == Some(s.app_id.as_str()))
                    .cloned()
                    .map(wit::packet)
                    .ok_or_else(|| wit::error(WalletError::PacketNotFound(id.to_string())))
            })
        }

        pub fn pay_out(to: &str, amount: u64, memo: &str, key: &str) -> Result<Payout, Error> {
            run(|s| {
                let cmd = Command::Payout {
                    app: s.app_id.clone(),
                    to: person(s, to)?,
                    amount,
                    memo: memo.to_string(),
                    key: key.to_string(),
                };
                match s.execute(cmd).map_err(wit::error)? {
                    Outcome::Transfer(t) => Ok(Payout {
                        transfer: t.seq,
                        to: to.to_string(),
                        amount: t.amount,
                        memo: t.memo,
                        at: t.at,
                    }),
                    _ => Err(unexpected()),
                }
            })
        }
    }

    pub(crate) mod messaging {
        use super::super::{Posted, REPLIES_PER_MESSAGE, REPLY_WINDOW, State, with};
        use crate::bindings::superapp::platform::messaging::MessagingError as Error;

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| {
                Err(Error::Internal(crate::Problem::new(
                    "no-mock-host",
                    "no MockHost on this thread",
                )))
            })
        }

        fn text(field: &str, value: &str, max: usize) -> Result<(), Error> {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(Error::Invalid(crate::Problem::new(
                    "invalid-message",
                    format!("the {field} must be 1 to {max} characters"),
                )));
            }
            Ok(())
        }

        fn member(s: &State, conversation: &str) -> Result<(), Error> {
            let me = s.user.as_ref().ok_or(Error::NoUser)?;
            let members = s.conversations.get(conversation).ok_or_else(|| {
                Error::NotFound(crate::Problem::new(
                    "conversation-not-found",
                    format!("no conversation `{conversation}`"),
                ))
            })?;
            if members.contains(me) {
                Ok(())
            } else {
                Err(Error::NotMember(crate::Problem::new(
                    "not-a-member",
                    format!("you are not in conversation `{conversation}`"),
                )))
            }
        }

        pub fn notify(open_id: &str, topic: &str, body: &str) -> Result<u64, Error> {
            text("topic", topic, 32)?;
            text("text", body, 4000)?;
            run(|s| {
                let id = s.fresh();
                let p = s.people.get_mut(open_id).ok_or_else(|| {
                    Error::NotFound(crate::Problem::new(
                        "unknown-person",
                        format!("no person with open id `{open_id}` in this app"),
                    ))
                })?;
                match p.subscriptions.get_mut(topic) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => {
                        return Err(Error::NoSubscription(crate::Problem::new(
                            "no-subscription",
                            format!("{open_id} holds no subscription to `{topic}`"),
                        )));
                    }
                }
                p.inbox.push(Posted::Notification {
                    topic: topic.to_string(),
                    text: body.to_string(),
                });
                Ok(id)
            })
        }

        pub fn share_card(conversation: &str, path: &str, title: &str) -> Result<u64, Error> {
            text("title", title, 64)?;
            if !path.starts_with('/') {
                return Err(Error::Invalid(crate::Problem::new(
                    "invalid-message",
                    "a card's path starts with `/`",
                )));
            }
            run(|s| {
                member(s, conversation)?;
                s.posts.push((
                    conversation.to_string(),
                    Posted::Card {
                        path: path.to_string(),
                        title: title.to_string(),
                    },
                ));
                Ok(s.fresh())
            })
        }

        pub fn share_red_packet(conversation: &str, packet: &str) -> Result<u64, Error> {
            run(|s| {
                member(s, conversation)?;
                let me = s.user.clone().unwrap_or_default();
                // Only the caller's own packet, sent through this app.
                let found = s.ledger.packet(packet).ok_or_else(|| {
                    Error::NotFound(crate::Problem::new(
                        "packet-not-found",
                        format!("no red packet `{packet}`"),
                    ))
                })?;
                if found.sender != me || found.app.as_deref() != Some(s.app_id.as_str()) {
                    return Err(Error::NotFound(crate::Problem::new(
                        "not-your-packet",
                        format!("red packet `{packet}` was not sent by you"),
                    )));
                }
                let opened = !found.claims.is_empty();
                if s.packet_conversations.contains_key(packet) {
                    return Err(Error::Invalid(crate::Problem::new(
                        "packet-already-shared",
                        format!("red packet `{packet}` was already sent into a conversation"),
                    )));
                }
                if opened {
                    return Err(Error::Invalid(crate::Problem::new(
                        "invalid-message",
                        format!(
                            "red packet `{packet}` has been opened already; share it before anyone claims it"
                        ),
                    )));
                }
                s.packet_conversations
                    .insert(packet.to_string(), conversation.to_string());
                s.posts.push((
                    conversation.to_string(),
                    Posted::RedPacket {
                        packet: packet.to_string(),
                    },
                ));
                Ok(s.fresh())
            })
        }

        pub fn reply(open_id: &str, body: &str) -> Result<u64, Error> {
            text("text", body, 4000)?;
            run(|s| {
                let now = s.now;
                let id = s.fresh();
                let p = s.people.get_mut(open_id).ok_or_else(|| {
                    Error::NotFound(crate::Problem::new(
                        "unknown-person",
                        format!("no person with open id `{open_id}` in this app"),
                    ))
                })?;
                match &mut p.wrote {
                    Some((at, used))
                        if now - *at <= REPLY_WINDOW && *used < REPLIES_PER_MESSAGE =>
                    {
                        *used += 1
                    }
                    _ => {
                        return Err(Error::OutsideWindow(crate::Problem::new(
                            "outside-window",
                            format!(
                                "{open_id} has not written in the last 48 hours, or the 5 answers are used"
                            ),
                        )));
                    }
                }
                p.inbox.push(Posted::Reply {
                    text: body.to_string(),
                });
                Ok(id)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MockHost;
    use crate::wallet::{self, PaymentMode};
    use crate::{App, Error, Request, Response, Router};

    struct Pay;
    impl App for Pay {
        fn handle(req: Request) -> Response {
            fn pay(req: &Request) -> Result<Response, Error> {
                let memo = String::from_utf8_lossy(req.body()).into_owned();
                let p = wallet::request_payment(100, &memo, PaymentMode::Direct, "order-1")?;
                Ok(Response::json(&p.id))
            }
            Router::new().post("/pay", pay).handle(req)
        }
    }

    #[test]
    fn memos_follow_the_hosts_text_rules() {
        let host = MockHost::<Pay>::new("pay");
        let ann = host.person("ann");
        let call = |memo: &str| host.call(Some(&ann), Request::new("POST", "/pay", memo));
        let reordered = call("gpj\u{202E}exe.tea");
        assert_eq!(reordered.status, 400, "{}", reordered.body_text());
        assert!(
            reordered.body_text().contains("bidirectional"),
            "{}",
            reordered.body_text()
        );
        assert_eq!(
            call(&"x".repeat(superapp_core::wallet::MAX_MEMO_CHARS + 1)).status,
            400
        );
        assert_eq!(call("Longjing tea").status, 200);
    }

    fn paid(host: &MockHost<Pay>, who: &str) -> String {
        let r = host.call(Some(who), Request::new("POST", "/pay", "tea"));
        serde_json::from_slice(&r.body).unwrap_or_default()
    }

    #[test]
    fn a_second_confirmation_is_a_no_op_as_in_the_host() {
        let host = MockHost::<Pay>::new("pay");
        let ann = host.person("ann");
        host.top_up(&ann, 1_000);
        let payment = paid(&host, &ann);
        assert_eq!(host.confirm(&ann, &payment), Ok(()));
        assert_eq!(host.confirm(&ann, &payment), Ok(()));
        assert_eq!((host.balance(&ann), host.merchant_balance()), (900, 100));
        assert_eq!(host.events().len(), 1, "one payment-confirmed");
        let declined = host.decline(&ann, &payment);
        assert!(
            declined
                .as_ref()
                .is_err_and(|e| e.starts_with("invalid-state: ")),
            "{declined:?}"
        );
        assert_eq!(host.check_ledger(), Ok(()));
    }

    #[test]
    fn a_key_another_person_used_is_a_conflict_not_their_payment() {
        let host = MockHost::<Pay>::new("pay");
        let (ann, bob) = (host.person("ann"), host.person("bob"));
        assert!(paid(&host, &ann).starts_with("pay_"));
        let r = host.call(Some(&bob), Request::new("POST", "/pay", "tea"));
        assert_eq!(r.status, 409, "{}", r.body_text());
        assert!(r.body_text().contains("idempotency"), "{}", r.body_text());
        assert!(host.pending(&bob).is_empty());
    }

    struct Packets;
    impl App for Packets {
        fn handle(req: Request) -> Response {
            fn send(_: &Request) -> Result<Response, Error> {
                let p = wallet::create_red_packet(300, 3, wallet::Split::Equal, "hi", "pk-0001")?;
                Ok(Response::json(&(p.id, p.red_packet)))
            }
            fn claim(req: &Request) -> Result<Response, Error> {
                let c = wallet::claim_red_packet(req.param("id").unwrap_or_default())?;
                Ok(Response::json(&c.amount))
            }
            Router::new()
                .post("/packets", send)
                .post("/packets/{id}/claim", claim)
                .handle(req)
        }
    }

    #[test]
    fn a_packet_is_not_found_until_its_sender_funds_it_as_in_the_host() {
        let host = MockHost::<Packets>::new("packets");
        let (amy, bo) = (host.person("amy"), host.person("bo"));
        host.top_up(&amy, 1_000);
        let sent = host.call(Some(&amy), Request::new("POST", "/packets", ""));
        let (payment, packet): (String, Option<String>) =
            serde_json::from_slice(&sent.body).unwrap_or_default();
        let claim = || {
            let path = format!("/packets/{}/claim", packet.as_deref().unwrap_or_default());
            host.call(Some(&bo), Request::new("POST", &path, ""))
        };
        assert_eq!(claim().status, 404, "unfunded");
        assert_eq!(host.confirm(&amy, &payment), Ok(()));
        assert_eq!(claim().body_text(), "100");
        host.advance(superapp_core::wallet::defaults::RED_PACKET_TTL_SECS);
        assert_eq!(host.balance(&amy), 1_000 - 100, "the rest came back");
        assert_eq!(
            claim().body_text(),
            "100",
            "a claim again shows the first share"
        );
    }
}
