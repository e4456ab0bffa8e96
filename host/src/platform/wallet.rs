//! The wallet as the host runs it: the service handle, the sweeper that
//! applies expiries, and the wallet's outbox as a queue of the delivery
//! engine (events to mini-apps' `on-event`, at least once). Orchestration
//! only; the money rules live in `wallet`.

use super::Superapp;
use super::delivery::{DeliveryReport, Queue, Queued, Retry};
use crate::capabilities::{GuestEvent, GuestEventBody, GuestWalletEvent, GuestWalletEventKind};
use crate::wallet::{Command, Delivery, EventKind, LedgerStore, Wallet, WalletError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `f` to completion on this thread (the CLI and other synchronous
/// callers). Inside an async task, await instead.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    wasmtime_wasi::runtime::in_tokio(f)
}

fn kind_to_wit(kind: EventKind) -> GuestWalletEventKind {
    match kind {
        EventKind::PaymentConfirmed => GuestWalletEventKind::PaymentConfirmed,
        EventKind::PaymentDeclined => GuestWalletEventKind::PaymentDeclined,
        EventKind::PaymentExpired => GuestWalletEventKind::PaymentExpired,
        EventKind::RefundDone => GuestWalletEventKind::RefundDone,
        EventKind::ReceiptConfirmed => GuestWalletEventKind::ReceiptConfirmed,
        EventKind::HoldExpired => GuestWalletEventKind::HoldExpired,
        EventKind::RedPacketClaimed => GuestWalletEventKind::RedPacketClaimed,
        EventKind::RedPacketExpired => GuestWalletEventKind::RedPacketExpired,
    }
}

impl Superapp {
    /// Balances, payments, red packets.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// Applies everything due by `now`: expired intents, escrow releases,
    /// stale holds, expired red packets.
    pub async fn sweep_wallet(&self, now: i64) -> Result<(), WalletError> {
        self.wallet
            .execute_at(Command::Sweep, now)
            .await
            .map(|_| ())
    }

    /// One pass over the wallet's outbox: hands each event due by `now`
    /// to its app (the delivery engine's rules).
    /// Wallet events still waiting for their app (not given up), whichever
    /// host of those sharing the store is delivering them.
    pub fn undelivered_events(&self) -> Result<usize, WalletError> {
        Ok(self
            .wallet
            .outbox()
            .all_events()?
            .iter()
            .filter(|d| !d.gave_up)
            .count())
    }

    pub async fn deliver_events(&self, now: i64) -> Result<DeliveryReport, WalletError> {
        self.deliver(&WalletEvents(self.wallet.outbox()), now).await
    }

    /// Sweeps and delivers until the host is dropped: woken by new events,
    /// and at least every second for expiries and retries.
    pub async fn run_wallet_background(self: Arc<Self>) {
        let notify = self.wallet.events_notify();
        let to_apps = self.messaging.to_apps_notify();
        let mut last_prune = 0;
        loop {
            let now = crate::identity::now();
            // Hosts sharing a store take turns: one sweeps and hands
            // people's messages to apps while its lease runs; wallet events
            // are claimed one by one, so every host delivers some.
            let leads = self.leads(now);
            if leads && let Err(e) = self.sweep_wallet(now).await {
                tracing::error!(error = %e, "wallet sweep failed");
            }
            if leads && now - last_prune >= 3_600 {
                last_prune = now;
                if let Err(e) = self.identity().prune_login_failures(now) {
                    tracing::warn!(error = %e, "cannot forget old failed logins");
                }
                // Hosts follow from the newest event; a million ids back is
                // far more than any host lags.
                if let Err(e) = self.store().prune_live_events(1_000_000) {
                    tracing::warn!(error = %e, "cannot prune the live-event feed");
                }
            }
            if let Err(e) = self.deliver_events(now).await {
                tracing::error!(error = %e, "event delivery failed");
            }
            if leads && let Err(e) = self.deliver_app_messages(now).await {
                tracing::error!(error = %e, "message delivery to apps failed");
            }
            let woken = async {
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = to_apps.notified() => {}
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    }
}

/// The wallet's outbox as a delivery queue: its events, stored by the
/// ledger's store.
struct WalletEvents<'a>(&'a dyn LedgerStore);

impl Queued for Delivery {
    fn app(&self) -> &str {
        &self.event.app
    }
    fn user(&self) -> &str {
        &self.event.user
    }
    fn label(&self) -> String {
        format!("event {}", self.event.seq)
    }
    fn event(&self, open_id: Option<String>) -> GuestEvent {
        GuestEvent {
            id: self.event.id(),
            at: self.event.at,
            open_id,
            body: GuestEventBody::Wallet(GuestWalletEvent {
                kind: kind_to_wit(self.event.kind),
                subject: self.event.subject.clone(),
                amount: self.event.amount,
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

impl Queue for WalletEvents<'_> {
    const NAME: &'static str = "wallet-events";
    type Item = Delivery;
    type Error = WalletError;
    fn due(&self, now: i64, limit: usize) -> Result<Vec<Delivery>, WalletError> {
        Ok(self.0.due_events(now, limit)?)
    }
    fn delivered(&self, item: &Delivery) -> impl Future<Output = Result<(), WalletError>> + Send {
        std::future::ready(
            self.0
                .event_delivered(item.event.seq)
                .map_err(WalletError::from),
        )
    }
    fn failed(&self, item: Delivery) -> impl Future<Output = Result<(), WalletError>> + Send {
        std::future::ready(self.0.event_failed(&item).map_err(WalletError::from))
    }
}

// ---- people's and operators' wallet operations, shared by HTTP and CLI ----

use crate::identity::rfc3339;
use crate::wallet::{
    Account, Amount, Holder, Outcome, PacketSpec, Payment, PaymentKind, RedPacket, Transfer,
};

/// A person's balance.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WalletView {
    pub currency: String,
    pub decimals: u32,
    /// Minor units.
    pub balance: u64,
    /// The balance written out, e.g. `12.34`.
    pub balance_text: String,
}

/// One entry of a person's history, from their side.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TransactionView {
    /// Position in the ledger; pass as `before` to page.
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    /// `top-up`, `transfer`, `payment`, `refund`, `red-packet-claim`…
    pub kind: String,
    /// `in` or `out`.
    pub direction: String,
    pub amount: u64,
    /// `@handle`, `app:<id>`, `escrow`, `hold`, `red-packet`, `operator`.
    pub counterparty: String,
    /// The payment, red packet or key it belongs to.
    pub reference: String,
    pub memo: String,
}

/// A page of history, newest first.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TransactionPage {
    pub items: Vec<TransactionView>,
    /// Pass as `before` for the next page; none at the end.
    pub next_before: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RefundView {
    pub id: String,
    pub amount: u64,
    pub at: String,
}

/// A payment intent as its payer sees it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub id: String,
    /// The app that asked.
    pub app: String,
    pub amount: u64,
    pub currency: String,
    pub memo: String,
    /// `purchase`, `transfer` or `red-packet`.
    pub kind: String,
    /// For purchases: `direct`, `escrow` or `hold`.
    pub mode: Option<String>,
    /// For transfers: the recipient's handle.
    pub to: Option<String>,
    /// For red packets: the packet it funds.
    pub red_packet: Option<String>,
    /// `pending`, `declined`, `expired`, `paid`, `escrowed`, `released`,
    /// `held`, `captured`, `voided` or `refunded`.
    pub status: String,
    pub created_at: String,
    /// A pending intent expires then.
    pub expires_at: String,
    pub confirmed_at: Option<String>,
    /// Escrow released / hold voided automatically then.
    pub due_at: Option<String>,
    pub captured: u64,
    pub refunded: u64,
    pub refunds: Vec<RefundView>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClaimView {
    /// The claimer's display name.
    pub name: String,
    /// The claimer's handle (names need not be unique; handles are).
    pub handle: String,
    pub amount: u64,
    pub at: String,
}

/// A red packet as people see it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PacketView {
    pub id: String,
    /// The app it was sent through, if any.
    pub app: Option<String>,
    /// The sender's display name.
    pub sender: String,
    /// The sender's handle.
    pub sender_handle: String,
    pub total: u64,
    pub count: u32,
    /// `random` or `equal`.
    pub split: String,
    pub greeting: String,
    /// `unfunded`, `open`, `empty`, `expired` or `cancelled`.
    pub status: String,
    pub claims: Vec<ClaimView>,
    pub remaining: u64,
    pub returned: u64,
    pub expires_at: Option<String>,
    /// Who drew the most so far (a random packet's "best luck").
    pub luckiest: Option<String>,
}

/// What a claim gave.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClaimResultView {
    pub packet: String,
    pub amount: u64,
    /// False when this person had claimed before (nothing moved).
    pub new: bool,
    pub status: String,
}

/// A merchant account's balance.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MerchantBalance {
    pub app: String,
    pub balance: u64,
    pub balance_text: String,
}

/// What the person decides about a payment.
#[derive(Debug, Clone, Copy)]
pub enum PaymentDecision {
    Confirm,
    Decline,
    ConfirmReceipt,
}

/// What an operator does to a payment for its merchant.
#[derive(Debug, Clone, Copy)]
pub enum MerchantAction {
    Refund(Amount),
    Capture(Amount),
    Void,
}

/// Whose money an operator withdraws.
#[derive(Debug, Clone)]
pub enum HolderRef {
    /// A person, by handle.
    Person(String),
    /// An app's merchant account, by app id.
    App(String),
}

fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn unexpected(o: Outcome) -> WalletError {
    WalletError::Internal(format!("unexpected outcome {o:?}"))
}

impl Superapp {
    fn user_id_of(&self, handle: &str) -> Result<String, WalletError> {
        Ok(self.identity.user_by_handle(handle)?.id)
    }

    /// A field of a person's account, or `(removed)` for one that is gone.
    /// A person's display name and handle, read once; "(removed)" for both
    /// when they are gone.
    fn name_and_handle(&self, user_id: &str) -> (String, String) {
        match self.identity.user(user_id) {
            Ok(Some(u)) => (u.display_name, u.handle),
            _ => ("(removed)".into(), "(removed)".into()),
        }
    }

    fn handle_of(&self, user_id: &str) -> String {
        self.name_and_handle(user_id).1
    }

    fn wallet_view_of(&self, balance: Amount) -> WalletView {
        let rules = self.wallet.rules();
        WalletView {
            currency: rules.currency.clone(),
            decimals: rules.decimals,
            balance,
            balance_text: rules.format(balance),
        }
    }

    fn transaction_view(&self, mine: &Account, t: &Transfer) -> TransactionView {
        let out = &t.from == mine;
        let other = if out { &t.to } else { &t.from };
        TransactionView {
            seq: t.seq,
            at: rfc3339(t.at),
            kind: kebab(&t.kind),
            direction: if out { "out" } else { "in" }.into(),
            amount: t.amount,
            counterparty: match other {
                Account::User(id) => format!("@{}", self.handle_of(id)),
                Account::Merchant(app) => format!("app:{app}"),
                Account::Escrow(_) => "escrow".into(),
                Account::Hold(_) => "hold".into(),
                Account::Packet(_) => "red-packet".into(),
                Account::Issuance | Account::Redemption => "operator".into(),
            },
            reference: t.reference.clone(),
            memo: t.memo.clone(),
        }
    }

    fn payment_view(&self, p: Payment) -> PaymentView {
        let (kind, mode, to, red_packet) = match &p.kind {
            PaymentKind::Purchase { mode } => ("purchase", Some(kebab(mode)), None, None),
            PaymentKind::Transfer { to } => ("transfer", None, Some(self.handle_of(to)), None),
            PaymentKind::RedPacket { packet } => ("red-packet", None, None, Some(packet.clone())),
        };
        PaymentView {
            id: p.id,
            app: p.app,
            amount: p.amount,
            currency: self.wallet.rules().currency.clone(),
            memo: p.memo,
            kind: kind.into(),
            mode,
            to,
            red_packet,
            status: p.status.name().into(),
            created_at: rfc3339(p.created_at),
            expires_at: rfc3339(p.expires_at),
            confirmed_at: p.confirmed_at.map(rfc3339),
            due_at: p.due_at.map(rfc3339),
            captured: p.captured,
            refunded: p.refunded,
            refunds: p
                .refunds
                .into_iter()
                .map(|r| RefundView {
                    id: r.id,
                    amount: r.amount,
                    at: rfc3339(r.at),
                })
                .collect(),
        }
    }

    fn packet_view(&self, r: RedPacket) -> PacketView {
        let claims: Vec<ClaimView> = r
            .claims
            .iter()
            .map(|c| {
                let (name, handle) = self.name_and_handle(&c.user);
                ClaimView {
                    name,
                    handle,
                    amount: c.amount,
                    at: rfc3339(c.at),
                }
            })
            .collect();
        // The earliest of equal best shares wins; its name is already read.
        let luckiest = claims
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (c.amount, std::cmp::Reverse(*i)))
            .map(|(_, c)| c.name.clone());
        let (sender, sender_handle) = self.name_and_handle(&r.sender);
        PacketView {
            sender,
            sender_handle,
            claims,
            id: r.id,
            app: r.app,
            total: r.spec.total,
            count: r.spec.count,
            split: kebab(&r.spec.split),
            greeting: r.spec.greeting,
            status: kebab(&r.status),
            remaining: r.remaining,
            returned: r.returned,
            expires_at: r.expires_at.map(rfc3339),
            luckiest,
        }
    }

    /// A person's balance.
    pub async fn wallet_of(&self, user_id: &str) -> Result<WalletView, WalletError> {
        let account = Account::User(user_id.to_string());
        let balance = self.wallet.read(move |l| l.balance(&account)).await?;
        Ok(self.wallet_view_of(balance))
    }

    /// A person's history, newest first, `limit` (1–200) entries below `before`.
    pub async fn transactions(
        &self,
        user_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<TransactionPage, WalletError> {
        let limit = limit.clamp(1, 200);
        let account = Account::User(user_id.to_string());
        let mut items = self.wallet.history(&account, before, limit + 1).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_before = if more {
            items.last().map(|t| t.seq)
        } else {
            None
        };
        Ok(TransactionPage {
            items: items
                .iter()
                .map(|t| self.transaction_view(&account, t))
                .collect(),
            next_before,
        })
    }

    /// Sends money from one person to another (by handle).
    pub async fn transfer(
        &self,
        from: &str,
        to_handle: &str,
        amount: Amount,
        memo: &str,
        key: &str,
    ) -> Result<TransactionView, WalletError> {
        let to = self.user_id_of(to_handle)?;
        let cmd = Command::Transfer {
            from: from.to_string(),
            to,
            amount,
            memo: memo.to_string(),
            key: key.to_string(),
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Transfer(t) => Ok(self.transaction_view(&Account::User(from.into()), &t)),
            other => Err(unexpected(other)),
        }
    }

    /// The person's payment intents waiting for their decision.
    pub async fn pending_payments(&self, user_id: &str) -> Result<Vec<PaymentView>, WalletError> {
        let (user, now) = (user_id.to_string(), crate::identity::now());
        let pending = self.wallet.read(move |l| l.pending_for(&user, now)).await?;
        Ok(pending.into_iter().map(|p| self.payment_view(p)).collect())
    }

    /// One of the person's payments.
    pub async fn payment_of(&self, user_id: &str, id: &str) -> Result<PaymentView, WalletError> {
        let (user, pid) = (user_id.to_string(), id.to_string());
        let found = self
            .wallet
            .read(move |l| l.payment(&pid).filter(|p| p.payer == user).cloned())
            .await?;
        found
            .map(|p| self.payment_view(p))
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    /// The person confirms, declines, or confirms receipt of a payment.
    pub async fn decide_payment(
        &self,
        user_id: &str,
        id: &str,
        decision: PaymentDecision,
    ) -> Result<PaymentView, WalletError> {
        let (user, payment) = (user_id.to_string(), id.to_string());
        let cmd = match decision {
            PaymentDecision::Confirm => Command::Confirm { user, payment },
            PaymentDecision::Decline => Command::Decline { user, payment },
            PaymentDecision::ConfirmReceipt => Command::ConfirmReceipt { user, payment },
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Payment(p) => Ok(self.payment_view(p)),
            other => Err(unexpected(other)),
        }
    }

    /// The person sends a red packet themselves (funded at once).
    pub async fn send_red_packet(
        &self,
        user_id: &str,
        spec: PacketSpec,
        key: &str,
    ) -> Result<PacketView, WalletError> {
        let cmd = Command::CreateRedPacket {
            user: user_id.to_string(),
            spec,
            key: key.to_string(),
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Packet(r) => Ok(self.packet_view(r)),
            other => Err(unexpected(other)),
        }
    }

    /// A red packet as `user_id` may see it: a packet sent into a
    /// conversation is shown only to its sender, its members and those who
    /// claimed it (who got what is the group's business); any other packet
    /// to anyone holding its id (the shared link).
    pub async fn red_packet(&self, user_id: &str, id: &str) -> Result<PacketView, WalletError> {
        let pid = id.to_string();
        let found = self.wallet.read(move |l| l.packet(&pid).cloned()).await?;
        let r = found.ok_or_else(|| WalletError::PacketNotFound(id.to_string()))?;
        let involved = r.sender == user_id || r.claims.iter().any(|c| c.user == user_id);
        if !involved {
            crate::links::check_claim(&self.messaging, id, user_id)?;
        }
        Ok(self.packet_view(r))
    }

    /// The person claims a share of a red packet.
    pub async fn claim_red_packet(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<ClaimResultView, WalletError> {
        crate::links::check_claim(&self.messaging, id, user_id)?;
        let cmd = Command::Claim {
            user: user_id.to_string(),
            packet: id.to_string(),
            via_app: None,
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Claim(c) => {
                if c.new {
                    crate::links::announce_claim(
                        &self.messaging,
                        &self.wallet,
                        &self.identity,
                        id,
                        user_id,
                        c.amount,
                    )
                    .await;
                }
                Ok(ClaimResultView {
                    packet: c.packet,
                    amount: c.amount,
                    new: c.new,
                    status: kebab(&c.packet_status),
                })
            }
            other => Err(unexpected(other)),
        }
    }

    /// Operator: money enters a person's wallet.
    pub async fn top_up(
        &self,
        handle: &str,
        amount: Amount,
        key: &str,
    ) -> Result<TransactionView, WalletError> {
        let user = self.user_id_of(handle)?;
        let cmd = Command::TopUp {
            user: user.clone(),
            amount,
            key: key.to_string(),
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Transfer(t) => Ok(self.transaction_view(&Account::User(user), &t)),
            other => Err(unexpected(other)),
        }
    }

    /// Operator: money leaves a person's wallet or an app's merchant account.
    pub async fn withdraw(
        &self,
        from: HolderRef,
        amount: Amount,
        key: &str,
    ) -> Result<TransactionView, WalletError> {
        let (holder, account) = match from {
            HolderRef::Person(handle) => {
                let id = self.user_id_of(&handle)?;
                (Holder::User(id.clone()), Account::User(id))
            }
            HolderRef::App(app) => {
                if self.packages.get(&app)?.is_none()
                    && self.merchant_balances().await?.iter().all(|m| m.app != app)
                {
                    return Err(WalletError::UnknownApp(app));
                }
                (Holder::Merchant(app.clone()), Account::Merchant(app))
            }
        };
        let cmd = Command::Withdraw {
            holder,
            amount,
            key: key.to_string(),
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Transfer(t) => Ok(self.transaction_view(&account, &t)),
            other => Err(unexpected(other)),
        }
    }

    /// Operator: any payment, as its merchant sees it (payer by handle).
    pub async fn payment_for_operator(&self, id: &str) -> Result<PaymentView, WalletError> {
        let pid = id.to_string();
        let found = self.wallet.read(move |l| l.payment(&pid).cloned()).await?;
        found
            .map(|p| self.payment_view(p))
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    /// Operator: refunds, captures or voids a payment on its merchant's
    /// behalf (disputes, support). The key shares the merchant's scope.
    pub async fn settle_for_merchant(
        &self,
        id: &str,
        action: MerchantAction,
        key: &str,
    ) -> Result<PaymentView, WalletError> {
        let pid = id.to_string();
        let app = self
            .wallet
            .read(move |l| l.payment(&pid).map(|p| p.app.clone()))
            .await?
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))?;
        let (payment, key) = (id.to_string(), key.to_string());
        let cmd = match action {
            MerchantAction::Refund(amount) => Command::Refund {
                app,
                payment,
                amount,
                key,
            },
            MerchantAction::Capture(amount) => Command::Capture {
                app,
                payment,
                amount,
                key,
            },
            MerchantAction::Void => Command::Void { app, payment, key },
        };
        match self.wallet.execute(cmd).await? {
            Outcome::Payment(p) => Ok(self.payment_view(p)),
            other => Err(unexpected(other)),
        }
    }

    /// Operator: a person's balance by handle.
    pub async fn balance_of(&self, handle: &str) -> Result<WalletView, WalletError> {
        let id = self.user_id_of(handle)?;
        self.wallet_of(&id).await
    }

    /// Operator: every merchant account.
    pub async fn merchant_balances(&self) -> Result<Vec<MerchantBalance>, WalletError> {
        let all = self
            .wallet
            .read(|l| l.balances_where(|a| matches!(a, Account::Merchant(_))))
            .await?;
        Ok(all
            .into_iter()
            .filter_map(|(a, b)| match a {
                Account::Merchant(app) => Some(MerchantBalance {
                    app,
                    balance: b,
                    balance_text: self.wallet.rules().format(b),
                }),
                _ => None,
            })
            .collect())
    }
}
