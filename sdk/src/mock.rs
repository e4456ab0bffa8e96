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
//! Money follows the host's rules: a request creates a pending intent that
//! only [`MockHost::confirm`] moves; escrow waits for
//! [`MockHost::confirm_receipt`]; refunds, captures and payouts check the
//! balances they take from; idempotency keys return the first result.
//! Events (`payment-confirmed`, `refund-done`, `message`…) are delivered to
//! the app's `on_event` right away, with the person as the call's user;
//! [`MockHost::redeliver_all`] delivers them all again, as the host's
//! at-least-once delivery may.

use crate::bindings::superapp::platform::events::{
    AppMessage, Event, EventBody, WalletEvent, WalletEventKind,
};
use crate::{App, Request, Response};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

// The host's default rules, from core: the mock cannot drift from them.
use superapp_core::wallet::defaults::{
    ESCROW_RELEASE_SECS as ESCROW_RELEASE, HOLD_TTL_SECS as HOLD_TTL,
    INTENT_TTL_SECS as INTENT_TTL, MAX_AMOUNT, MAX_RED_PACKET_AMOUNT as MAX_PACKET_AMOUNT,
    MAX_RED_PACKET_COUNT as MAX_PACKET_COUNT, RED_PACKET_TTL_SECS as PACKET_TTL,
};
const MAX_REFUNDS: usize = superapp_core::wallet::defaults::MAX_REFUNDS as usize;
const MAX_PENDING_PER_PERSON: usize =
    superapp_core::wallet::defaults::MAX_PENDING_PER_PERSON as usize;
const REPLY_WINDOW: i64 = 48 * 3600;
const REPLIES_PER_MESSAGE: u32 = 5;

/// Whether the person granted the app their profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Not decided yet (the default).
    Undecided,
    Granted,
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
    balance: u64,
    subscriptions: BTreeMap<String, u32>,
    /// Where the app's notifications and replies land.
    inbox: Vec<Posted>,
    /// The person's last message to the app: (when, answers used).
    wrote: Option<(i64, u32)>,
}

enum Remembered {
    Payment(String, raw_wallet::Payment),
    Payout(String, raw_wallet::Payout),
}

struct Packet {
    packet: raw_wallet::RedPacket,
    conversation: Option<String>,
}

struct State {
    app_id: String,
    now: i64,
    next_id: u64,
    user: Option<String>,
    people: BTreeMap<String, Person>,
    app_store: BTreeMap<String, Vec<u8>>,
    user_store: BTreeMap<(String, String), Vec<u8>>,
    merchant: u64,
    payments: BTreeMap<String, raw_wallet::Payment>,
    /// Where a transfer intent's money goes.
    transfer_to: BTreeMap<String, String>,
    packets: BTreeMap<String, Packet>,
    remembered: BTreeMap<String, Remembered>,
    conversations: BTreeMap<String, Vec<String>>,
    posts: Vec<(String, Posted)>,
    issued: u64,
    logs: Vec<(raw_log::Level, String)>,
    events: Vec<Event>,
    /// Events raised during a call, delivered when it returns.
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
                user: None,
                people: BTreeMap::new(),
                app_store: BTreeMap::new(),
                user_store: BTreeMap::new(),
                merchant: 0,
                payments: BTreeMap::new(),
                transfer_to: BTreeMap::new(),
                packets: BTreeMap::new(),
                remembered: BTreeMap::new(),
                conversations: BTreeMap::new(),
                posts: Vec::new(),
                issued: 0,
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
                    balance: 0,
                    subscriptions: BTreeMap::new(),
                    inbox: Vec::new(),
                    wrote: None,
                },
            )
        });
        open_id
    }

    /// Sets the person's decision on sharing their profile.
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

    /// The operator tops the person's wallet up.
    pub fn top_up(&self, open_id: &str, amount: u64) {
        with(|s| {
            if let Some(p) = s.people.get_mut(open_id) {
                p.balance += amount;
                s.issued += amount;
            }
        });
    }

    /// The person's wallet balance.
    pub fn balance(&self, open_id: &str) -> u64 {
        with(|s| s.people.get(open_id).map_or(0, |p| p.balance)).unwrap_or(0)
    }

    /// The app's merchant balance.
    pub fn merchant_balance(&self) -> u64 {
        with(|s| s.merchant).unwrap_or(0)
    }

    /// A payment as the host keeps it.
    pub fn payment(&self, id: &str) -> Option<raw_wallet::Payment> {
        with(|s| s.payments.get(id).cloned()).flatten()
    }

    /// The person's pending payment intents, oldest first.
    pub fn pending(&self, open_id: &str) -> Vec<raw_wallet::Payment> {
        with(|s| {
            s.payments
                .values()
                .filter(|p| p.payer == open_id && p.status == raw_wallet::PaymentStatus::Pending)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// Checks that no money appeared or vanished: what the operator topped
    /// up equals wallets + merchant + escrow + holds + unclaimed packets.
    pub fn check_ledger(&self) -> Result<(), String> {
        with(|s| {
            use raw_wallet::PaymentStatus as S;
            let wallets: u64 = s.people.values().map(|p| p.balance).sum();
            let parked: u64 = s
                .payments
                .values()
                .map(|p| match p.status {
                    S::Escrowed => p.amount - p.refunded,
                    S::Held => p.amount,
                    _ => 0,
                })
                .sum();
            let packets: u64 = s.packets.values().map(|p| p.packet.remaining).sum();
            let total = wallets + s.merchant + parked + packets;
            if total == s.issued {
                Ok(())
            } else {
                Err(format!(
                    "{} was topped up but {total} is accounted for (wallets {wallets}, merchant {}, escrow and holds {parked}, packets {packets})",
                    s.issued, s.merchant
                ))
            }
        })
        .unwrap_or_else(|| Err("no mock host".into()))
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
    /// app hears `payment-confirmed`.
    pub fn confirm(&self, open_id: &str, payment: &str) -> Result<(), String> {
        let event = with(|s| s.confirm(open_id, payment)).unwrap_or_else(no_host)?;
        self.deliver(event);
        Ok(())
    }

    /// The payer declines a pending intent.
    pub fn decline(&self, open_id: &str, payment: &str) -> Result<(), String> {
        let event = with(|s| {
            let p = s.own_payment(open_id, payment)?;
            if p.status != raw_wallet::PaymentStatus::Pending {
                return Err(format!("payment {payment} is not pending"));
            }
            p.status = raw_wallet::PaymentStatus::Declined;
            let amount = p.amount;
            if let Some(packet) = p.red_packet.clone()
                && let Some(r) = s.packets.get_mut(&packet)
            {
                r.packet.status = raw_wallet::PacketStatus::Cancelled;
            }
            Ok(s.wallet_event(open_id, WalletEventKind::PaymentDeclined, payment, amount))
        })
        .unwrap_or_else(no_host)?;
        self.deliver(event);
        Ok(())
    }

    /// The buyer confirms receipt of an escrow payment in the host: the
    /// money (less refunds) goes to the merchant and the app hears
    /// `receipt-confirmed`.
    pub fn confirm_receipt(&self, open_id: &str, payment: &str) -> Result<(), String> {
        let event = with(|s| {
            let p = s.own_payment(open_id, payment)?;
            if p.status != raw_wallet::PaymentStatus::Escrowed {
                return Err(format!("payment {payment} is not in escrow"));
            }
            Ok(s.release(payment))
        })
        .unwrap_or_else(no_host)?;
        if let Some(e) = event {
            self.deliver(e);
        }
        Ok(())
    }

    /// Lets time pass: pending intents expire, escrow is released, stale
    /// holds are voided and unclaimed red packets return, as the host's
    /// sweep does; the app hears each.
    pub fn advance(&self, secs: i64) {
        let events = with(|s| {
            s.now += secs;
            s.sweep()
        })
        .unwrap_or_default();
        for e in events {
            self.deliver(e);
        }
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
    /// `message` event and may answer within 48 hours, 5 times.
    pub fn write_to_app(&self, open_id: &str, text: &str) {
        let event = with(|s| {
            let id = s.fresh();
            let now = s.now;
            if let Some(p) = s.people.get_mut(open_id) {
                p.wrote = Some((now, 0));
            }
            Event {
                id: format!("ev_{id}"),
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

fn no_host<T>() -> Result<T, String> {
    Err("no MockHost on this thread".into())
}

impl State {
    fn fresh(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn wallet_event(
        &mut self,
        open_id: &str,
        kind: WalletEventKind,
        subject: &str,
        amount: u64,
    ) -> Event {
        Event {
            id: format!("ev_{}", self.fresh()),
            at: self.now,
            open_id: Some(open_id.to_string()),
            body: EventBody::Wallet(WalletEvent {
                kind,
                subject: subject.to_string(),
                amount,
            }),
        }
    }

    fn own_payment(&mut self, open_id: &str, id: &str) -> Result<&mut raw_wallet::Payment, String> {
        match self.payments.get_mut(id) {
            Some(p) if p.payer == open_id => Ok(p),
            _ => Err(format!("{open_id} has no payment {id}")),
        }
    }

    fn confirm(&mut self, open_id: &str, id: &str) -> Result<Event, String> {
        use raw_wallet::{PaymentMode as M, PaymentStatus as S};
        let now = self.now;
        let p = self.own_payment(open_id, id)?.clone();
        if p.status != S::Pending {
            return Err(format!("payment {id} is {:?}, not pending", p.status));
        }
        if p.expires_at <= now {
            return Err(format!("payment {id} has expired"));
        }
        let payer = self.people.get_mut(open_id).ok_or("no such person")?;
        if payer.balance < p.amount {
            return Err(format!(
                "insufficient funds: {} needed, {} available",
                p.amount, payer.balance
            ));
        }
        payer.balance -= p.amount;
        let status = match (p.mode, &p.red_packet) {
            (Some(M::Direct), _) => {
                self.merchant += p.amount;
                S::Paid
            }
            (Some(M::Escrow), _) => S::Escrowed,
            (Some(M::Hold), _) => S::Held,
            (None, Some(packet)) => {
                if let Some(r) = self.packets.get_mut(packet) {
                    r.packet.status = raw_wallet::PacketStatus::Open;
                    r.packet.remaining = p.amount;
                    r.packet.expires_at = Some(now + PACKET_TTL);
                }
                S::Paid
            }
            (None, None) => {
                let to = self.transfer_to.get(id).cloned().unwrap_or_default();
                if let Some(t) = self.people.get_mut(&to) {
                    t.balance += p.amount;
                }
                S::Paid
            }
        };
        let due = match status {
            S::Escrowed => now + ESCROW_RELEASE,
            S::Held => now + HOLD_TTL,
            _ => p.expires_at,
        };
        if let Some(m) = self.payments.get_mut(id) {
            m.status = status;
            m.expires_at = due;
        }
        Ok(self.wallet_event(open_id, WalletEventKind::PaymentConfirmed, id, p.amount))
    }

    fn release(&mut self, id: &str) -> Option<Event> {
        let p = self.payments.get_mut(id)?;
        p.status = raw_wallet::PaymentStatus::Released;
        let (payer, amount) = (p.payer.clone(), p.amount - p.refunded);
        self.merchant += amount;
        Some(self.wallet_event(&payer, WalletEventKind::ReceiptConfirmed, id, amount))
    }

    fn sweep(&mut self) -> Vec<Event> {
        use raw_wallet::PaymentStatus as S;
        let now = self.now;
        let mut events = Vec::new();
        let due: Vec<(String, S)> = self
            .payments
            .values()
            .filter(|p| p.expires_at <= now)
            .map(|p| (p.id.clone(), p.status))
            .collect();
        for (id, status) in due {
            match status {
                S::Pending => {
                    let Some(p) = self.payments.get_mut(&id) else {
                        continue;
                    };
                    p.status = S::Expired;
                    let (payer, amount) = (p.payer.clone(), p.amount);
                    events.push(self.wallet_event(
                        &payer,
                        WalletEventKind::PaymentExpired,
                        &id,
                        amount,
                    ));
                }
                S::Escrowed => events.extend(self.release(&id)),
                S::Held => {
                    let Some(p) = self.payments.get_mut(&id) else {
                        continue;
                    };
                    p.status = S::Voided;
                    let (payer, amount) = (p.payer.clone(), p.amount);
                    if let Some(person) = self.people.get_mut(&payer) {
                        person.balance += amount;
                    }
                    events.push(self.wallet_event(
                        &payer,
                        WalletEventKind::HoldExpired,
                        &id,
                        amount,
                    ));
                }
                _ => {}
            }
        }
        let expired: Vec<String> = self
            .packets
            .values()
            .filter(|r| {
                r.packet.status == raw_wallet::PacketStatus::Open
                    && r.packet.expires_at.is_some_and(|t| t <= now)
            })
            .map(|r| r.packet.id.clone())
            .collect();
        for id in expired {
            let Some(r) = self.packets.get_mut(&id) else {
                continue;
            };
            let (sender, back) = (r.packet.sender.clone(), r.packet.remaining);
            r.packet.status = raw_wallet::PacketStatus::Expired;
            r.packet.returned = back;
            r.packet.remaining = 0;
            if let Some(p) = self.people.get_mut(&sender) {
                p.balance += back;
            }
            events.push(self.wallet_event(&sender, WalletEventKind::RedPacketExpired, &id, back));
        }
        events
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
            .unwrap_or_else(|| Err(Error::Internal("no MockHost on this thread".into())))
        }
    }

    pub(crate) mod storage {
        use super::super::{State, with};
        use crate::bindings::superapp::platform::storage::{Error, KeyPage, Scope};

        fn check(key: &str) -> Result<(), Error> {
            superapp_core::kv::check_key(key).map_err(Error::InvalidKey)
        }

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| Err(Error::Internal("no MockHost on this thread".into())))
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
        use super::super::*;
        use raw_wallet::{
            ClaimResult, Error, PacketStatus, Payment, PaymentMode, PaymentRefund, PaymentStatus,
            Payout, RedPacket, Split,
        };

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| Err(Error::Internal("no MockHost on this thread".into())))
        }

        fn check_key(key: &str) -> Result<(), Error> {
            superapp_core::wallet::check_key(key).map_err(|e| Error::Invalid(e.to_string()))
        }

        fn check_amount(amount: u64) -> Result<(), Error> {
            if amount == 0 || amount > MAX_AMOUNT {
                return Err(Error::Invalid(format!(
                    "the amount must be between 1 and {MAX_AMOUNT} minor units, not {amount}"
                )));
            }
            Ok(())
        }

        /// The host's rules for a memo or greeting: its length, and core's
        /// shown-text rule (no control or bidi characters).
        fn check_text(field: &str, text: &str, max: usize) -> Result<(), Error> {
            if text.chars().count() > max {
                return Err(Error::Invalid(format!(
                    "the {field} is at most {max} characters"
                )));
            }
            superapp_core::text::check_shown_text(text, false)
                .map_err(|why| Error::Invalid(format!("the {field} {why}")))
        }

        /// Runs `f` once per key: a retry with the same arguments returns
        /// the first payment, other arguments are a conflict.
        fn once(
            key: &str,
            args: String,
            f: impl FnOnce(&mut State) -> Result<Payment, Error>,
        ) -> Result<Payment, Error> {
            check_key(key)?;
            run(|s| {
                if let Some(Remembered::Payment(a, p)) = s.remembered.get(key) {
                    return if *a == args {
                        Ok(p.clone())
                    } else {
                        Err(Error::IdempotencyConflict(format!(
                            "the key `{key}` was used with other arguments"
                        )))
                    };
                }
                if s.remembered.contains_key(key) {
                    return Err(Error::IdempotencyConflict(format!(
                        "the key `{key}` was used with other arguments"
                    )));
                }
                let p = f(s)?;
                s.remembered
                    .insert(key.to_string(), Remembered::Payment(args, p.clone()));
                Ok(p)
            })
        }

        fn user(s: &State) -> Result<String, Error> {
            s.user.clone().ok_or(Error::NoUser)
        }

        fn intent(
            s: &mut State,
            amount: u64,
            memo: &str,
            mode: Option<PaymentMode>,
            key: &str,
        ) -> Result<Payment, Error> {
            check_amount(amount)?;
            check_text("memo", memo, superapp_core::wallet::MAX_MEMO_CHARS)?;
            let payer = user(s)?;
            let waiting = s
                .payments
                .values()
                .filter(|p| p.payer == payer && p.status == PaymentStatus::Pending)
                .count();
            if waiting >= MAX_PENDING_PER_PERSON {
                return Err(Error::LimitReached(format!(
                    "this person already has {waiting} payment requests from this app waiting (the limit is {MAX_PENDING_PER_PERSON})"
                )));
            }
            let p = Payment {
                id: format!("pay_{}", s.fresh()),
                payer,
                amount,
                currency: "CNY".into(),
                memo: memo.to_string(),
                key: key.to_string(),
                mode,
                red_packet: None,
                status: PaymentStatus::Pending,
                expires_at: s.now + INTENT_TTL,
                captured: 0,
                refunded: 0,
                refunds: Vec::new(),
            };
            s.payments.insert(p.id.clone(), p.clone());
            Ok(p)
        }

        fn app_payment<'a>(s: &'a mut State, id: &str) -> Result<&'a mut Payment, Error> {
            s.payments
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("no payment `{id}` for this app")))
        }

        fn state_error(p: &Payment, action: &str) -> Error {
            Error::InvalidState(format!(
                "cannot {action} payment {}: it is {}",
                p.id,
                p.status.name()
            ))
        }

        pub fn request_payment(
            amount: u64,
            memo: &str,
            mode: PaymentMode,
            key: &str,
        ) -> Result<Payment, Error> {
            let args = format!("pay {amount} {memo} {}", mode.name());
            once(key, args, |s| intent(s, amount, memo, Some(mode), key))
        }

        pub fn request_transfer(
            to: &str,
            amount: u64,
            memo: &str,
            key: &str,
        ) -> Result<Payment, Error> {
            let args = format!("transfer {to} {amount} {memo}");
            once(key, args, |s| {
                if !s.people.contains_key(to) {
                    return Err(Error::NotFound(format!(
                        "no person with open id `{to}` in this app"
                    )));
                }
                if s.user.as_deref() == Some(to) {
                    return Err(Error::Invalid("a transfer to oneself".into()));
                }
                let p = intent(s, amount, memo, None, key)?;
                s.transfer_to.insert(p.id.clone(), to.to_string());
                Ok(p)
            })
        }

        pub fn get_payment(id: &str) -> Result<Payment, Error> {
            run(|s| app_payment(s, id).map(|p| p.clone()))
        }

        pub fn refund(payment: &str, amount: u64, key: &str) -> Result<Payment, Error> {
            let args = format!("refund {payment} {amount}");
            let mut event = None;
            let out = once(key, args, |s| {
                let now = s.now;
                let rf = format!("rf_{}", s.fresh());
                let p = app_payment(s, payment)?;
                let settled = match p.status {
                    PaymentStatus::Paid | PaymentStatus::Escrowed | PaymentStatus::Released
                        if p.red_packet.is_none() && p.mode.is_some() =>
                    {
                        p.amount
                    }
                    PaymentStatus::Captured => p.captured,
                    _ => return Err(state_error(p, "refund")),
                };
                if amount == 0 || amount > settled - p.refunded {
                    return Err(Error::Invalid(format!(
                        "a refund must be between 1 and the {} not yet refunded, not {amount}",
                        settled - p.refunded
                    )));
                }
                if p.refunds.len() >= MAX_REFUNDS {
                    return Err(Error::Invalid(format!(
                        "a payment takes at most {MAX_REFUNDS} refunds"
                    )));
                }
                let from_escrow = p.status == PaymentStatus::Escrowed;
                let payer = p.payer.clone();
                if !from_escrow {
                    if s.merchant < amount {
                        return Err(Error::InsufficientFunds(format!(
                            "merchant:{} has {}, {amount} needed",
                            s.app_id, s.merchant
                        )));
                    }
                    s.merchant -= amount;
                }
                let p = app_payment(s, payment)?;
                p.refunded += amount;
                p.refunds.push(PaymentRefund {
                    id: rf,
                    amount,
                    key: key.to_string(),
                    at: now,
                });
                if p.refunded == settled {
                    p.status = PaymentStatus::Refunded;
                }
                let p = p.clone();
                if let Some(person) = s.people.get_mut(&payer) {
                    person.balance += amount;
                }
                event = Some(s.wallet_event(&payer, WalletEventKind::RefundDone, payment, amount));
                Ok(p)
            });
            deliver_later(event);
            out
        }

        pub fn capture(payment: &str, amount: u64, key: &str) -> Result<Payment, Error> {
            let args = format!("capture {payment} {amount}");
            once(key, args, |s| {
                let p = app_payment(s, payment)?;
                if p.status != PaymentStatus::Held {
                    return Err(state_error(p, "capture"));
                }
                if amount == 0 || amount > p.amount {
                    return Err(Error::Invalid(format!(
                        "a capture must be between 1 and the held {}, not {amount}",
                        p.amount
                    )));
                }
                p.status = PaymentStatus::Captured;
                p.captured = amount;
                let (payer, rest) = (p.payer.clone(), p.amount - amount);
                let p = p.clone();
                s.merchant += amount;
                if let Some(person) = s.people.get_mut(&payer) {
                    person.balance += rest;
                }
                Ok(p)
            })
        }

        pub fn void(payment: &str, key: &str) -> Result<Payment, Error> {
            let args = format!("void {payment}");
            once(key, args, |s| {
                let p = app_payment(s, payment)?;
                if p.status != PaymentStatus::Held {
                    return Err(state_error(p, "void"));
                }
                p.status = PaymentStatus::Voided;
                let (payer, amount) = (p.payer.clone(), p.amount);
                let p = p.clone();
                if let Some(person) = s.people.get_mut(&payer) {
                    person.balance += amount;
                }
                Ok(p)
            })
        }

        pub fn create_red_packet(
            total: u64,
            count: u32,
            split: Split,
            greeting: &str,
            key: &str,
        ) -> Result<Payment, Error> {
            let args = format!("packet {total} {count} {split:?} {greeting}");
            once(key, args, |s| {
                check_text(
                    "greeting",
                    greeting,
                    superapp_core::wallet::MAX_GREETING_CHARS,
                )?;
                if count == 0 || count > MAX_PACKET_COUNT {
                    return Err(Error::Invalid(format!(
                        "a red packet has 1 to {MAX_PACKET_COUNT} shares, not {count}"
                    )));
                }
                if total > MAX_PACKET_AMOUNT {
                    return Err(Error::Invalid(format!(
                        "a red packet holds at most {MAX_PACKET_AMOUNT}, not {total}"
                    )));
                }
                if total < u64::from(count) {
                    return Err(Error::Invalid(format!(
                        "{count} shares need at least {count} minor units (one each), not {total}"
                    )));
                }
                let mut p = intent(s, total, greeting, None, key)?;
                let id = format!("rp_{}", s.fresh());
                p.red_packet = Some(id.clone());
                s.payments.insert(p.id.clone(), p.clone());
                s.packets.insert(
                    id.clone(),
                    Packet {
                        packet: RedPacket {
                            id,
                            sender: p.payer.clone(),
                            total,
                            count,
                            split,
                            greeting: greeting.to_string(),
                            status: PacketStatus::Unfunded,
                            claims: Vec::new(),
                            remaining: 0,
                            returned: 0,
                            expires_at: None,
                        },
                        conversation: None,
                    },
                );
                Ok(p)
            })
        }

        pub fn claim_red_packet(id: &str) -> Result<ClaimResult, Error> {
            run(|s| {
                let me = user(s)?;
                let now = s.now;
                let seed = s.next_id;
                let r = s
                    .packets
                    .get(id)
                    .ok_or_else(|| Error::NotFound(format!("no red packet `{id}`")))?;
                if let Some(c) = &r.conversation
                    && !s.conversations.get(c).is_some_and(|m| m.contains(&me))
                {
                    return Err(Error::Denied(format!(
                        "red packet `{id}` is for the members of its conversation"
                    )));
                }
                let Some(r) = s.packets.get_mut(id) else {
                    return Err(Error::NotFound(format!("no red packet `{id}`")));
                };
                let rp = &mut r.packet;
                if let Some(c) = rp.claims.iter().find(|c| c.open_id == me) {
                    return Ok(ClaimResult {
                        amount: c.amount,
                        first_claim: false,
                        status: rp.status,
                    });
                }
                if rp.status != PacketStatus::Open {
                    return Err(Error::InvalidState(format!(
                        "red packet `{id}` is {}",
                        rp.status.name()
                    )));
                }
                let left = rp.count - rp.claims.len() as u32;
                // The host's split; a seed from the mock's counter, so tests
                // see the same shares every run.
                let mut seed_bytes = [0u8; 32];
                seed_bytes[..8].copy_from_slice(&seed.to_be_bytes());
                let split = match rp.split {
                    Split::Equal => superapp_core::wallet::Split::Equal,
                    Split::Random => superapp_core::wallet::Split::Random,
                };
                let share = superapp_core::wallet::next_share(
                    split,
                    &seed_bytes,
                    rp.claims.len() as u32,
                    rp.total,
                    rp.count,
                    rp.remaining,
                    left,
                );
                rp.remaining -= share;
                rp.claims.push(raw_wallet::Claim {
                    open_id: me.clone(),
                    amount: share,
                    at: now,
                });
                if rp.remaining == 0 {
                    rp.status = PacketStatus::Empty;
                }
                let status = rp.status;
                s.next_id += 1;
                if let Some(p) = s.people.get_mut(&me) {
                    p.balance += share;
                }
                let event = s.wallet_event(&me, WalletEventKind::RedPacketClaimed, id, share);
                s.pending_events.push(event);
                Ok(ClaimResult {
                    amount: share,
                    first_claim: true,
                    status,
                })
            })
        }

        pub fn get_red_packet(id: &str) -> Result<RedPacket, Error> {
            run(|s| {
                s.packets
                    .get(id)
                    .map(|r| r.packet.clone())
                    .ok_or_else(|| Error::NotFound(format!("no red packet `{id}`")))
            })
        }

        pub fn pay_out(to: &str, amount: u64, memo: &str, key: &str) -> Result<Payout, Error> {
            check_key(key)?;
            let args = format!("payout {to} {amount} {memo}");
            run(|s| {
                match s.remembered.get(key) {
                    Some(Remembered::Payout(a, p)) if *a == args => return Ok(p.clone()),
                    Some(_) => {
                        return Err(Error::IdempotencyConflict(format!(
                            "the key `{key}` was used with other arguments"
                        )));
                    }
                    None => {}
                }
                check_amount(amount)?;
                check_text("memo", memo, superapp_core::wallet::MAX_MEMO_CHARS)?;
                if !s.people.contains_key(to) {
                    return Err(Error::NotFound(format!(
                        "no person with open id `{to}` in this app"
                    )));
                }
                if s.merchant < amount {
                    return Err(Error::InsufficientFunds(format!(
                        "merchant:{} has {}, {amount} needed",
                        s.app_id, s.merchant
                    )));
                }
                s.merchant -= amount;
                if let Some(p) = s.people.get_mut(to) {
                    p.balance += amount;
                }
                let out = Payout {
                    transfer: s.fresh(),
                    to: to.to_string(),
                    amount,
                    memo: memo.to_string(),
                    at: s.now,
                };
                s.remembered
                    .insert(key.to_string(), Remembered::Payout(args, out.clone()));
                Ok(out)
            })
        }

        /// A refund's event reaches the app after the call returns, as the
        /// host's background delivery does.
        fn deliver_later(event: Option<Event>) {
            if let Some(e) = event {
                with(|s| s.pending_events.push(e));
            }
        }
    }

    pub(crate) mod messaging {
        use super::super::{Posted, REPLIES_PER_MESSAGE, REPLY_WINDOW, State, with};
        use crate::bindings::superapp::platform::messaging::MessagingError as Error;

        fn run<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
            with(f).unwrap_or_else(|| Err(Error::Internal("no MockHost on this thread".into())))
        }

        fn text(field: &str, value: &str, max: usize) -> Result<(), Error> {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(Error::Invalid(format!(
                    "the {field} must be 1 to {max} characters"
                )));
            }
            Ok(())
        }

        fn member(s: &State, conversation: &str) -> Result<(), Error> {
            let me = s.user.as_ref().ok_or(Error::NoUser)?;
            let members = s
                .conversations
                .get(conversation)
                .ok_or_else(|| Error::NotFound(format!("no conversation `{conversation}`")))?;
            if members.contains(me) {
                Ok(())
            } else {
                Err(Error::NotMember(format!(
                    "you are not in conversation `{conversation}`"
                )))
            }
        }

        pub fn notify(open_id: &str, topic: &str, body: &str) -> Result<u64, Error> {
            text("topic", topic, 32)?;
            text("text", body, 4000)?;
            run(|s| {
                let id = s.fresh();
                let p = s.people.get_mut(open_id).ok_or_else(|| {
                    Error::NotFound(format!("no person with open id `{open_id}` in this app"))
                })?;
                match p.subscriptions.get_mut(topic) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => {
                        return Err(Error::NoSubscription(format!(
                            "{open_id} holds no subscription to `{topic}`"
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
                return Err(Error::Invalid("a card's path starts with `/`".into()));
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
                let r = s
                    .packets
                    .get_mut(packet)
                    .filter(|r| r.packet.sender == me)
                    .ok_or_else(|| Error::NotFound(format!("you sent no red packet `{packet}`")))?;
                if r.conversation.is_some() {
                    return Err(Error::Invalid(format!(
                        "red packet `{packet}` was already sent into a conversation"
                    )));
                }
                if !r.packet.claims.is_empty() {
                    return Err(Error::Invalid(format!(
                        "red packet `{packet}` has been opened already; share it before anyone claims it"
                    )));
                }
                r.conversation = Some(conversation.to_string());
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
                    Error::NotFound(format!("no person with open id `{open_id}` in this app"))
                })?;
                match &mut p.wrote {
                    Some((at, used))
                        if now - *at <= REPLY_WINDOW && *used < REPLIES_PER_MESSAGE =>
                    {
                        *used += 1
                    }
                    _ => {
                        return Err(Error::OutsideWindow(format!(
                            "{open_id} has not written in the last 48 hours, or the 5 answers are used"
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
}
