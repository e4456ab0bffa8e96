//! The ledger: a deterministic state machine over balances, payments and red
//! packets. It never touches storage or clocks: the caller passes the time
//! and fresh ids, and collects what each batch appended. It must never let a
//! non-system balance go below zero, and it asserts conservation.

use super::WalletError;
use super::split::next_share;
use super::types::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Longest memo, in characters.
pub const MAX_MEMO_CHARS: usize = 128;
/// Longest red-packet greeting, in characters.
pub const MAX_GREETING_CHARS: usize = 64;

/// What an idempotency key answered the first time.
#[derive(Debug, Clone)]
struct Remembered {
    fingerprint: [u8; 16],
    outcome: Outcome,
}

/// Something due at a time: an intent to expire, escrow to release, a hold
/// to void, a packet to return.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Due {
    Payment(String),
    Packet(String),
}

/// What one batch appended, for the store: the transfers (for each
/// account's history) and the events (for the outbox). Derived from the
/// journal, so not in it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Appended {
    pub transfers: Vec<Transfer>,
    pub events: Vec<WalletEvent>,
}

/// The whole wallet state, rebuilt from the journal at start.
#[derive(Debug)]
pub struct Ledger {
    rules: Rules,
    balances: HashMap<Account, Amount>,
    issued: Amount,
    redeemed: Amount,
    next_seq: u64,
    next_event: u64,
    payments: HashMap<String, Payment>,
    packets: HashMap<String, RedPacket>,
    due: BTreeSet<(i64, Due)>,
    due_index: HashMap<Due, i64>,
    remembered: HashMap<(String, String), Remembered>,
    /// Intents waiting for their payer, per (app, payer) and per app: what
    /// the pending caps are checked against.
    pending: HashMap<(String, String), u32>,
    pending_by_app: HashMap<String, u32>,
    /// Bumped by every change, so the caller can tell a no-op from a write.
    version: u64,
    appended: Appended,
}

/// Totals that the invariants are stated over.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    pub issued: Amount,
    pub redeemed: Amount,
    /// Sum of every non-system balance.
    pub held: Amount,
    pub transfers: u64,
}

impl Ledger {
    pub fn new(rules: Rules) -> Ledger {
        Ledger {
            rules,
            balances: HashMap::new(),
            issued: 0,
            redeemed: 0,
            next_seq: 1,
            next_event: 1,
            payments: HashMap::new(),
            packets: HashMap::new(),
            due: BTreeSet::new(),
            due_index: HashMap::new(),
            remembered: HashMap::new(),
            pending: HashMap::new(),
            pending_by_app: HashMap::new(),
            version: 0,
            appended: Appended::default(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Rules change only between batches (a restart with a new config).
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Takes what was appended since the last call.
    pub fn take_appended(&mut self) -> Appended {
        std::mem::take(&mut self.appended)
    }

    pub fn balance(&self, account: &Account) -> Amount {
        self.balances.get(account).copied().unwrap_or(0)
    }

    pub fn payment(&self, id: &str) -> Option<&Payment> {
        self.payments.get(id)
    }

    pub fn packet(&self, id: &str) -> Option<&RedPacket> {
        self.packets.get(id)
    }

    /// A person's intents waiting for their decision, oldest first.
    pub fn pending_for(&self, user: &str, now: i64) -> Vec<Payment> {
        let mut out: Vec<Payment> = self
            .due
            .iter()
            .filter_map(|(_, d)| match d {
                Due::Payment(id) => self.payments.get(id),
                Due::Packet(_) => None,
            })
            .filter(|p| p.payer == user && p.status == PaymentStatus::Pending && now < p.expires_at)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    /// Balances of accounts of one kind, by key.
    pub fn balances_where(&self, pick: impl Fn(&Account) -> bool) -> Vec<(Account, Amount)> {
        let mut v: Vec<_> = self
            .balances
            .iter()
            .filter(|(a, _)| pick(a))
            .map(|(a, b)| (a.clone(), *b))
            .collect();
        v.sort();
        v
    }

    pub fn totals(&self) -> Totals {
        Totals {
            issued: self.issued,
            redeemed: self.redeemed,
            held: self.balances.values().sum(),
            transfers: self.next_seq - 1,
        }
    }

    /// Conservation: what the accounts hold is exactly what was issued
    /// minus what was redeemed; and every escrow, hold and packet account
    /// matches the state of its payment or packet.
    pub fn check_invariants(&self) -> Result<(), String> {
        let held: u128 = self.balances.values().map(|&b| u128::from(b)).sum();
        let expected = i128::from(self.issued) - i128::from(self.redeemed);
        if held as i128 != expected {
            return Err(format!(
                "conservation broken: accounts hold {held}, issued {} − redeemed {}",
                self.issued, self.redeemed
            ));
        }
        for p in self.payments.values() {
            let (account, want) = match (&p.kind, p.status) {
                (
                    PaymentKind::Purchase {
                        mode: PaymentMode::Escrow,
                    },
                    s,
                ) => (
                    Account::Escrow(p.id.clone()),
                    if s == PaymentStatus::Escrowed {
                        p.amount - p.refunded
                    } else {
                        0
                    },
                ),
                (
                    PaymentKind::Purchase {
                        mode: PaymentMode::Hold,
                    },
                    s,
                ) => (
                    Account::Hold(p.id.clone()),
                    if s == PaymentStatus::Held {
                        p.amount
                    } else {
                        0
                    },
                ),
                _ => continue,
            };
            if self.balance(&account) != want {
                return Err(format!(
                    "{} holds {} but payment {} ({}) needs {want}",
                    account.key(),
                    self.balance(&account),
                    p.id,
                    p.status.name()
                ));
            }
            if p.refunded > p.settled() {
                return Err(format!("payment {} refunded more than was paid", p.id));
            }
        }
        let mut pending: HashMap<(String, String), u32> = HashMap::new();
        for p in self.payments.values() {
            if p.status == PaymentStatus::Pending {
                *pending.entry((p.app.clone(), p.payer.clone())).or_default() += 1;
            }
        }
        let mut by_app: HashMap<String, u32> = HashMap::new();
        for ((app, _), n) in &pending {
            *by_app.entry(app.clone()).or_default() += n;
        }
        if pending != self.pending || by_app != self.pending_by_app {
            return Err("the pending-intent counts differ from the pending payments".into());
        }
        for r in self.packets.values() {
            let claimed: Amount = r.claims.iter().map(|c| c.amount).sum();
            let funded = !matches!(r.status, PacketStatus::Unfunded | PacketStatus::Cancelled);
            if funded && claimed + r.remaining + r.returned != r.spec.total {
                return Err(format!("red packet {} does not add up", r.id));
            }
            if r.claims.len() > r.spec.count as usize {
                return Err(format!("red packet {} over-claimed", r.id));
            }
            if self.balance(&Account::Packet(r.id.clone())) != r.remaining {
                return Err(format!("red packet {} account differs", r.id));
            }
        }
        Ok(())
    }

    /// Applies one command at time `now`. On error nothing changed.
    pub fn apply(
        &mut self,
        cmd: &Command,
        fresh: &Fresh,
        now: i64,
    ) -> Result<Outcome, WalletError> {
        let Some((scope, key)) = cmd.idempotency() else {
            return self.execute(cmd, fresh, now);
        };
        check_key(key)?;
        let fingerprint = fingerprint(cmd);
        let slot = (scope, key.to_string());
        if let Some(r) = self.remembered.get(&slot) {
            return if r.fingerprint == fingerprint {
                Ok(r.outcome.clone())
            } else {
                Err(WalletError::IdempotencyConflict {
                    key: key.to_string(),
                })
            };
        }
        let outcome = self.execute(cmd, fresh, now)?;
        self.remembered.insert(
            slot,
            Remembered {
                fingerprint,
                outcome: outcome.clone(),
            },
        );
        self.version += 1;
        Ok(outcome)
    }

    fn execute(&mut self, cmd: &Command, fresh: &Fresh, now: i64) -> Result<Outcome, WalletError> {
        match cmd {
            Command::TopUp { user, amount, key } => {
                self.check_amount(*amount)?;
                let t = self.post(
                    Account::Issuance,
                    Account::User(user.clone()),
                    *amount,
                    TransferKind::TopUp,
                    key,
                    "",
                    now,
                )?;
                Ok(Outcome::Transfer(t))
            }
            Command::Withdraw {
                holder,
                amount,
                key,
            } => {
                self.check_amount(*amount)?;
                let from = match holder {
                    Holder::User(u) => Account::User(u.clone()),
                    Holder::Merchant(a) => Account::Merchant(a.clone()),
                };
                let t = self.post(
                    from,
                    Account::Redemption,
                    *amount,
                    TransferKind::Withdrawal,
                    key,
                    "",
                    now,
                )?;
                Ok(Outcome::Transfer(t))
            }
            Command::Transfer {
                from,
                to,
                amount,
                memo,
                key,
            } => {
                self.check_amount(*amount)?;
                check_text("memo", memo, MAX_MEMO_CHARS)?;
                if from == to {
                    return Err(WalletError::SelfTransfer);
                }
                let t = self.post(
                    Account::User(from.clone()),
                    Account::User(to.clone()),
                    *amount,
                    TransferKind::Transfer,
                    key,
                    memo,
                    now,
                )?;
                Ok(Outcome::Transfer(t))
            }
            Command::RequestPayment {
                app,
                user,
                amount,
                memo,
                mode,
                key,
            } => self.new_intent(
                app,
                user,
                PaymentKind::Purchase { mode: *mode },
                *amount,
                memo,
                key,
                fresh,
                now,
            ),
            Command::RequestTransfer {
                app,
                from,
                to,
                amount,
                memo,
                key,
            } => {
                if from == to {
                    return Err(WalletError::SelfTransfer);
                }
                self.new_intent(
                    app,
                    from,
                    PaymentKind::Transfer { to: to.clone() },
                    *amount,
                    memo,
                    key,
                    fresh,
                    now,
                )
            }
            Command::RequestRedPacket {
                app,
                user,
                spec,
                key,
            } => {
                self.check_packet(spec)?;
                let packet = format!("rp_{}", fresh.id);
                let out = self.new_intent(
                    app,
                    user,
                    PaymentKind::RedPacket {
                        packet: packet.clone(),
                    },
                    spec.total,
                    &spec.greeting,
                    key,
                    fresh,
                    now,
                )?;
                self.packets.insert(
                    packet.clone(),
                    RedPacket {
                        id: packet,
                        app: Some(app.clone()),
                        sender: user.clone(),
                        spec: spec.clone(),
                        seed: fresh.seed,
                        status: PacketStatus::Unfunded,
                        created_at: now,
                        expires_at: None,
                        claims: Vec::new(),
                        remaining: 0,
                        returned: 0,
                    },
                );
                Ok(out)
            }
            Command::CreateRedPacket { user, spec, key } => {
                self.check_packet(spec)?;
                self.need(&Account::User(user.clone()), spec.total)?;
                let id = format!("rp_{}", fresh.id);
                self.packets.insert(
                    id.clone(),
                    RedPacket {
                        id: id.clone(),
                        app: None,
                        sender: user.clone(),
                        spec: spec.clone(),
                        seed: fresh.seed,
                        status: PacketStatus::Unfunded,
                        created_at: now,
                        expires_at: None,
                        claims: Vec::new(),
                        remaining: 0,
                        returned: 0,
                    },
                );
                self.fund_packet(&id, user, key, now)?;
                Ok(Outcome::Packet(self.packet_clone(&id)?))
            }
            Command::Confirm { user, payment } => self.confirm(user, payment, now),
            Command::Decline { user, payment } => {
                let p = self.own_payment(user, payment)?;
                match p.status {
                    PaymentStatus::Declined => return Ok(Outcome::Payment(p.clone())),
                    PaymentStatus::Pending => {}
                    s => return Err(invalid_state(p, s, "decline")),
                }
                self.end_intent(
                    payment,
                    PaymentStatus::Declined,
                    EventKind::PaymentDeclined,
                    now,
                );
                Ok(Outcome::Payment(self.payment_clone(payment)?))
            }
            Command::ConfirmReceipt { user, payment } => {
                let p = self.own_payment(user, payment)?;
                match p.status {
                    PaymentStatus::Released => return Ok(Outcome::Payment(p.clone())),
                    PaymentStatus::Escrowed => {}
                    s => return Err(invalid_state(p, s, "confirm receipt of")),
                }
                self.release(payment, now);
                Ok(Outcome::Payment(self.payment_clone(payment)?))
            }
            Command::Refund {
                app,
                payment,
                amount,
                key,
            } => self.refund(app, payment, *amount, key, fresh, now),
            Command::Capture {
                app,
                payment,
                amount,
                key: _,
            } => {
                let p = self.app_payment(app, payment)?;
                if p.status != PaymentStatus::Held {
                    return Err(invalid_state(p, p.status, "capture"));
                }
                if *amount == 0 || *amount > p.amount {
                    return Err(WalletError::InvalidAmount(format!(
                        "a capture must be between 1 and the held {}, not {amount}",
                        p.amount
                    )));
                }
                let (payer, held, id) = (p.payer.clone(), p.amount, p.id.clone());
                let hold = Account::Hold(id.clone());
                self.post(
                    hold.clone(),
                    Account::Merchant(app.clone()),
                    *amount,
                    TransferKind::Capture,
                    &id,
                    "",
                    now,
                )?;
                if held > *amount {
                    self.post(
                        hold,
                        Account::User(payer),
                        held - amount,
                        TransferKind::HoldReturn,
                        &id,
                        "",
                        now,
                    )?;
                }
                self.set_due(&id, None);
                let p = self.payment_mut(&id)?;
                p.status = PaymentStatus::Captured;
                p.captured = *amount;
                Ok(Outcome::Payment(p.clone()))
            }
            Command::Void {
                app,
                payment,
                key: _,
            } => {
                let p = self.app_payment(app, payment)?;
                if p.status != PaymentStatus::Held {
                    return Err(invalid_state(p, p.status, "void"));
                }
                self.void(payment, now)?;
                Ok(Outcome::Payment(self.payment_clone(payment)?))
            }
            Command::Payout {
                app,
                to,
                amount,
                memo,
                key,
            } => {
                self.check_amount(*amount)?;
                check_text("memo", memo, MAX_MEMO_CHARS)?;
                let t = self.post(
                    Account::Merchant(app.clone()),
                    Account::User(to.clone()),
                    *amount,
                    TransferKind::Payout,
                    key,
                    memo,
                    now,
                )?;
                Ok(Outcome::Transfer(t))
            }
            Command::Claim {
                user,
                packet,
                via_app,
            } => self.claim(user, packet, via_app.as_deref(), now),
            Command::Sweep => Ok(Outcome::Swept(self.sweep(now))),
        }
    }

    // ---- operations -------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn new_intent(
        &mut self,
        app: &str,
        user: &str,
        kind: PaymentKind,
        amount: Amount,
        memo: &str,
        key: &str,
        fresh: &Fresh,
        now: i64,
    ) -> Result<Outcome, WalletError> {
        self.check_amount(amount)?;
        check_text("memo", memo, MAX_MEMO_CHARS)?;
        let id = format!("pay_{}", fresh.id);
        if self.payments.contains_key(&id) {
            return Err(WalletError::Internal(format!("payment id {id} reused")));
        }
        self.check_pending_room(app, user)?;
        let p = Payment {
            id: id.clone(),
            app: app.to_string(),
            payer: user.to_string(),
            kind,
            amount,
            memo: memo.to_string(),
            key: key.to_string(),
            status: PaymentStatus::Pending,
            created_at: now,
            expires_at: now + self.rules.intent_ttl_secs,
            confirmed_at: None,
            due_at: None,
            captured: 0,
            refunded: 0,
            refunds: Vec::new(),
        };
        self.schedule(Due::Payment(id.clone()), Some(p.expires_at));
        self.payments.insert(id, p.clone());
        *self
            .pending
            .entry((app.to_string(), user.to_string()))
            .or_default() += 1;
        *self.pending_by_app.entry(app.to_string()).or_default() += 1;
        self.version += 1;
        Ok(Outcome::Payment(p))
    }

    /// Refuses a new intent past the caps, so one call (or one app) cannot
    /// bury a person, or everyone, in payment requests.
    fn check_pending_room(&self, app: &str, user: &str) -> Result<(), WalletError> {
        let for_person = self
            .pending
            .get(&(app.to_string(), user.to_string()))
            .copied()
            .unwrap_or(0);
        if for_person >= self.rules.max_pending_per_person {
            return Err(WalletError::TooManyPending(format!(
                "this person already has {for_person} payment requests from this app waiting \
                 (the limit is {}); they must confirm or decline one, or let it expire, first",
                self.rules.max_pending_per_person
            )));
        }
        let for_app = self.pending_by_app.get(app).copied().unwrap_or(0);
        if for_app >= self.rules.max_pending_per_app {
            return Err(WalletError::TooManyPending(format!(
                "this app already has {for_app} payment requests waiting (the limit is {})",
                self.rules.max_pending_per_app
            )));
        }
        Ok(())
    }

    /// An intent leaves `pending` (confirmed, declined or expired).
    fn unpend(&mut self, app: &str, user: &str) {
        let key = (app.to_string(), user.to_string());
        if let Some(n) = self.pending.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.pending.remove(&key);
            }
        }
        if let Some(n) = self.pending_by_app.get_mut(app) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.pending_by_app.remove(app);
            }
        }
    }

    fn confirm(&mut self, user: &str, id: &str, now: i64) -> Result<Outcome, WalletError> {
        let p = self.own_payment(user, id)?;
        match p.status {
            PaymentStatus::Pending => {}
            _ if p.confirmed_at.is_some() => return Ok(Outcome::Payment(p.clone())),
            s => return Err(invalid_state(p, s, "confirm")),
        }
        if now >= p.expires_at {
            return Err(WalletError::PaymentExpired(id.to_string()));
        }
        let (kind, amount, app, memo) = (p.kind.clone(), p.amount, p.app.clone(), p.memo.clone());
        let payer = Account::User(user.to_string());
        self.need(&payer, amount)?;
        self.set_due(id, None);
        let (status, due) = match &kind {
            PaymentKind::Purchase { mode } => {
                let (to, kind, status, due) = match mode {
                    PaymentMode::Direct => (
                        Account::Merchant(app.clone()),
                        TransferKind::Payment,
                        PaymentStatus::Paid,
                        None,
                    ),
                    PaymentMode::Escrow => (
                        Account::Escrow(id.to_string()),
                        TransferKind::Payment,
                        PaymentStatus::Escrowed,
                        Some(now + self.rules.escrow_release_secs),
                    ),
                    PaymentMode::Hold => (
                        Account::Hold(id.to_string()),
                        TransferKind::Payment,
                        PaymentStatus::Held,
                        Some(now + self.rules.hold_ttl_secs),
                    ),
                };
                self.post(payer, to, amount, kind, id, "", now)?;
                (status, due)
            }
            PaymentKind::Transfer { to } => {
                self.post(
                    payer,
                    Account::User(to.clone()),
                    amount,
                    TransferKind::Transfer,
                    id,
                    &memo,
                    now,
                )?;
                (PaymentStatus::Paid, None)
            }
            PaymentKind::RedPacket { packet } => {
                self.fund_packet(packet, user, id, now)?;
                (PaymentStatus::Paid, None)
            }
        };
        let p = self.payment_mut(id)?;
        p.status = status;
        p.confirmed_at = Some(now);
        p.due_at = due;
        if let Some(at) = due {
            self.set_due(id, Some(at));
        }
        self.unpend(&app, user);
        self.emit(&app, user, EventKind::PaymentConfirmed, id, amount, now);
        Ok(Outcome::Payment(self.payment_clone(id)?))
    }

    fn fund_packet(
        &mut self,
        id: &str,
        user: &str,
        reference: &str,
        now: i64,
    ) -> Result<(), WalletError> {
        let total = self.packet_clone(id)?.spec.total;
        self.post(
            Account::User(user.to_string()),
            Account::Packet(id.to_string()),
            total,
            TransferKind::RedPacketFunding,
            reference,
            "",
            now,
        )?;
        let expires = now + self.rules.red_packet_ttl_secs;
        let r = self.packet_mut(id)?;
        r.status = PacketStatus::Open;
        r.remaining = total;
        r.expires_at = Some(expires);
        self.schedule(Due::Packet(id.to_string()), Some(expires));
        Ok(())
    }

    fn refund(
        &mut self,
        app: &str,
        id: &str,
        amount: Amount,
        key: &str,
        fresh: &Fresh,
        now: i64,
    ) -> Result<Outcome, WalletError> {
        let p = self.app_payment(app, id)?;
        if !matches!(p.kind, PaymentKind::Purchase { .. })
            || !matches!(
                p.status,
                PaymentStatus::Paid
                    | PaymentStatus::Escrowed
                    | PaymentStatus::Released
                    | PaymentStatus::Captured
            )
        {
            return Err(invalid_state(p, p.status, "refund"));
        }
        let refundable = p.settled() - p.refunded;
        if amount == 0 || amount > refundable {
            return Err(WalletError::InvalidAmount(format!(
                "a refund of payment {id} must be between 1 and the {refundable} not yet refunded, not {amount}"
            )));
        }
        if p.refunds.len() >= self.rules.max_refunds as usize {
            return Err(WalletError::LimitExceeded(format!(
                "payment {id} already has {} refunds, the most allowed",
                p.refunds.len()
            )));
        }
        let (payer, escrowed) = (p.payer.clone(), p.status == PaymentStatus::Escrowed);
        let from = if escrowed {
            Account::Escrow(id.to_string())
        } else {
            Account::Merchant(app.to_string())
        };
        self.post(
            from,
            Account::User(payer.clone()),
            amount,
            TransferKind::Refund,
            id,
            "",
            now,
        )?;
        let p = self.payment_mut(id)?;
        p.refunded += amount;
        p.refunds.push(Refund {
            id: format!("rf_{}", fresh.id),
            amount,
            key: key.to_string(),
            at: now,
        });
        if p.refunded == p.settled() {
            p.status = PaymentStatus::Refunded;
            p.due_at = None;
            self.set_due(id, None);
        }
        self.emit(app, &payer, EventKind::RefundDone, id, amount, now);
        Ok(Outcome::Payment(self.payment_clone(id)?))
    }

    fn claim(
        &mut self,
        user: &str,
        id: &str,
        via_app: Option<&str>,
        now: i64,
    ) -> Result<Outcome, WalletError> {
        let r = self
            .packets
            .get(id)
            .filter(|r| via_app.is_none() || r.app.as_deref() == via_app)
            .ok_or_else(|| WalletError::PacketNotFound(id.to_string()))?;
        if let Some(c) = r.claims.iter().find(|c| c.user == user) {
            return Ok(Outcome::Claim(ClaimReceipt {
                packet: id.to_string(),
                amount: c.amount,
                new: false,
                packet_status: r.status,
            }));
        }
        match r.status {
            PacketStatus::Open if r.expires_at.is_some_and(|t| now < t) => {}
            PacketStatus::Open | PacketStatus::Expired => {
                return Err(WalletError::PacketExpired(id.to_string()));
            }
            PacketStatus::Empty => return Err(WalletError::PacketEmpty(id.to_string())),
            PacketStatus::Unfunded | PacketStatus::Cancelled => {
                return Err(WalletError::PacketNotFound(id.to_string()));
            }
        }
        let index = r.claims.len() as u32;
        let share = next_share(
            r.spec.split,
            &r.seed,
            index,
            r.spec.total,
            r.spec.count,
            r.remaining,
            r.spec.count - index,
        );
        let app = r.app.clone();
        self.post(
            Account::Packet(id.to_string()),
            Account::User(user.to_string()),
            share,
            TransferKind::RedPacketClaim,
            id,
            "",
            now,
        )?;
        let r = self.packet_mut(id)?;
        r.remaining -= share;
        r.claims.push(Claim {
            user: user.to_string(),
            amount: share,
            at: now,
        });
        let empty = r.claims.len() as u32 == r.spec.count;
        if empty {
            r.status = PacketStatus::Empty;
        }
        let status = r.status;
        if empty {
            self.schedule(Due::Packet(id.to_string()), None);
        }
        if let Some(app) = app {
            self.emit(&app, user, EventKind::RedPacketClaimed, id, share, now);
        }
        Ok(Outcome::Claim(ClaimReceipt {
            packet: id.to_string(),
            amount: share,
            new: true,
            packet_status: status,
        }))
    }

    fn sweep(&mut self, now: i64) -> SweepReport {
        let mut report = SweepReport::default();
        while let Some((at, due)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.remove(&(at, due.clone()));
            self.due_index.remove(&due);
            self.version += 1;
            match due {
                Due::Payment(id) => {
                    let Some(p) = self.payments.get(&id) else {
                        continue;
                    };
                    match p.status {
                        PaymentStatus::Pending => {
                            self.end_intent(
                                &id,
                                PaymentStatus::Expired,
                                EventKind::PaymentExpired,
                                now,
                            );
                            report.expired_intents += 1;
                        }
                        PaymentStatus::Escrowed => {
                            self.release(&id, now);
                            report.released_escrows += 1;
                        }
                        PaymentStatus::Held => {
                            let (app, payer, amount) = (p.app.clone(), p.payer.clone(), p.amount);
                            if self.void(&id, now).is_ok() {
                                self.emit(&app, &payer, EventKind::HoldExpired, &id, amount, now);
                                report.expired_holds += 1;
                            }
                        }
                        _ => {}
                    }
                }
                Due::Packet(id) => {
                    let Some(r) = self.packets.get(&id) else {
                        continue;
                    };
                    if r.status != PacketStatus::Open {
                        continue;
                    }
                    let (rest, sender, app) = (r.remaining, r.sender.clone(), r.app.clone());
                    if rest > 0 {
                        // Cannot fail: the packet account holds `remaining`.
                        let _ = self.post(
                            Account::Packet(id.clone()),
                            Account::User(sender.clone()),
                            rest,
                            TransferKind::RedPacketReturn,
                            &id,
                            "",
                            now,
                        );
                    }
                    if let Some(r) = self.packets.get_mut(&id) {
                        r.status = PacketStatus::Expired;
                        r.returned = rest;
                        r.remaining = 0;
                    }
                    if let Some(app) = app {
                        self.emit(&app, &sender, EventKind::RedPacketExpired, &id, rest, now);
                    }
                    report.expired_packets += 1;
                }
            }
        }
        report
    }

    /// Pending → declined or expired; a red packet waiting on it is cancelled.
    fn end_intent(&mut self, id: &str, status: PaymentStatus, event: EventKind, now: i64) {
        self.set_due(id, None);
        let Some(p) = self.payments.get_mut(id) else {
            return;
        };
        let was_pending = p.status == PaymentStatus::Pending;
        p.status = status;
        let (app, payer, amount, kind) = (p.app.clone(), p.payer.clone(), p.amount, p.kind.clone());
        if was_pending {
            self.unpend(&app, &payer);
        }
        if let PaymentKind::RedPacket { packet } = kind
            && let Some(r) = self.packets.get_mut(&packet)
        {
            r.status = PacketStatus::Cancelled;
        }
        self.version += 1;
        self.emit(&app, &payer, event, id, amount, now);
    }

    /// Escrow → merchant (what refunds left of it).
    fn release(&mut self, id: &str, now: i64) {
        self.set_due(id, None);
        let Some(p) = self.payments.get(id) else {
            return;
        };
        let (app, payer, rest) = (p.app.clone(), p.payer.clone(), p.amount - p.refunded);
        if rest > 0 {
            // Cannot fail: the escrow account holds exactly `rest`.
            let _ = self.post(
                Account::Escrow(id.to_string()),
                Account::Merchant(app.clone()),
                rest,
                TransferKind::EscrowRelease,
                id,
                "",
                now,
            );
        }
        if let Some(p) = self.payments.get_mut(id) {
            p.status = PaymentStatus::Released;
            p.due_at = None;
        }
        self.emit(&app, &payer, EventKind::ReceiptConfirmed, id, rest, now);
    }

    fn void(&mut self, id: &str, now: i64) -> Result<(), WalletError> {
        let p = self.payment_clone(id)?;
        self.post(
            Account::Hold(id.to_string()),
            Account::User(p.payer.clone()),
            p.amount,
            TransferKind::HoldReturn,
            id,
            "",
            now,
        )?;
        self.set_due(id, None);
        let p = self.payment_mut(id)?;
        p.status = PaymentStatus::Voided;
        p.due_at = None;
        Ok(())
    }

    // ---- the one place money moves ----------------------------------------

    /// Moves `amount` from one account to another, appending the transfer.
    /// Refuses to take a non-system balance below zero.
    #[allow(clippy::too_many_arguments)]
    fn post(
        &mut self,
        from: Account,
        to: Account,
        amount: Amount,
        kind: TransferKind,
        reference: &str,
        memo: &str,
        now: i64,
    ) -> Result<Transfer, WalletError> {
        debug_assert!(amount > 0, "zero transfer");
        debug_assert!(from != to, "transfer to itself");
        match &from {
            Account::Issuance => {
                self.issued = self.issued.checked_add(amount).ok_or_else(|| {
                    WalletError::LimitExceeded("total issuance would overflow".into())
                })?;
            }
            Account::Redemption => {
                return Err(WalletError::Internal(
                    "money cannot leave redemption".into(),
                ));
            }
            account => {
                self.need(account, amount)?;
                let b = self.balances.entry(account.clone()).or_insert(0);
                *b -= amount;
                if *b == 0 && !matches!(account, Account::User(_) | Account::Merchant(_)) {
                    self.balances.remove(account);
                }
            }
        }
        match &to {
            Account::Redemption => self.redeemed += amount,
            Account::Issuance => {
                return Err(WalletError::Internal("money cannot go to issuance".into()));
            }
            account => *self.balances.entry(account.clone()).or_insert(0) += amount,
        }
        let t = Transfer {
            seq: self.next_seq,
            from,
            to,
            amount,
            kind,
            reference: reference.to_string(),
            memo: memo.to_string(),
            at: now,
        };
        self.next_seq += 1;
        self.version += 1;
        self.appended.transfers.push(t.clone());
        Ok(t)
    }

    fn emit(
        &mut self,
        app: &str,
        user: &str,
        kind: EventKind,
        subject: &str,
        amount: Amount,
        now: i64,
    ) {
        self.appended.events.push(WalletEvent {
            seq: self.next_event,
            app: app.to_string(),
            user: user.to_string(),
            kind,
            subject: subject.to_string(),
            amount,
            at: now,
        });
        self.next_event += 1;
        self.version += 1;
    }

    // ---- helpers ----------------------------------------------------------

    fn need(&self, account: &Account, amount: Amount) -> Result<(), WalletError> {
        let available = self.balance(account);
        if available < amount {
            return Err(WalletError::InsufficientFunds {
                // Never an internal user id: messages may reach a mini-app.
                account: match account {
                    Account::User(_) => "the wallet".into(),
                    other => other.key(),
                },
                needed: amount,
                available,
            });
        }
        Ok(())
    }

    fn check_amount(&self, amount: Amount) -> Result<(), WalletError> {
        if amount == 0 || amount > self.rules.max_amount {
            return Err(WalletError::InvalidAmount(format!(
                "the amount must be between 1 and {} minor units, not {amount}",
                self.rules.max_amount
            )));
        }
        Ok(())
    }

    fn check_packet(&self, spec: &PacketSpec) -> Result<(), WalletError> {
        check_text("greeting", &spec.greeting, MAX_GREETING_CHARS)?;
        let r = &self.rules;
        if spec.count == 0 || spec.count > r.max_red_packet_count {
            return Err(WalletError::InvalidPacket(format!(
                "a red packet has 1 to {} shares, not {}",
                r.max_red_packet_count, spec.count
            )));
        }
        if spec.total > r.max_red_packet_amount {
            return Err(WalletError::InvalidPacket(format!(
                "a red packet holds at most {}, not {}",
                r.max_red_packet_amount, spec.total
            )));
        }
        if spec.total < Amount::from(spec.count) {
            return Err(WalletError::InvalidPacket(format!(
                "{} shares need at least {} minor units (one each), not {}",
                spec.count, spec.count, spec.total
            )));
        }
        Ok(())
    }

    fn set_due(&mut self, id: &str, at: Option<i64>) {
        self.schedule(Due::Payment(id.to_string()), at);
    }

    fn schedule(&mut self, due: Due, at: Option<i64>) {
        if let Some(old) = self.due_index.remove(&due) {
            self.due.remove(&(old, due.clone()));
        }
        if let Some(at) = at {
            self.due.insert((at, due.clone()));
            self.due_index.insert(due, at);
        }
        self.version += 1;
    }

    fn own_payment(&self, user: &str, id: &str) -> Result<&Payment, WalletError> {
        // Another person's payment is reported as missing, not as forbidden.
        self.payments
            .get(id)
            .filter(|p| p.payer == user)
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    fn app_payment(&self, app: &str, id: &str) -> Result<&Payment, WalletError> {
        self.payments
            .get(id)
            .filter(|p| p.app == app)
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    fn payment_clone(&self, id: &str) -> Result<Payment, WalletError> {
        self.payments
            .get(id)
            .cloned()
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    fn payment_mut(&mut self, id: &str) -> Result<&mut Payment, WalletError> {
        self.version += 1;
        self.payments
            .get_mut(id)
            .ok_or_else(|| WalletError::PaymentNotFound(id.to_string()))
    }

    fn packet_clone(&self, id: &str) -> Result<RedPacket, WalletError> {
        self.packets
            .get(id)
            .cloned()
            .ok_or_else(|| WalletError::PacketNotFound(id.to_string()))
    }

    fn packet_mut(&mut self, id: &str) -> Result<&mut RedPacket, WalletError> {
        self.version += 1;
        self.packets
            .get_mut(id)
            .ok_or_else(|| WalletError::PacketNotFound(id.to_string()))
    }
}

fn invalid_state(p: &Payment, status: PaymentStatus, action: &str) -> WalletError {
    WalletError::InvalidState(format!(
        "cannot {action} payment {} while it is {}",
        p.id,
        status.name()
    ))
}

/// Idempotency keys: 6–64 characters of `A-Z a-z 0-9 . _ : -` (merchant
/// order ids fit).
pub fn check_key(key: &str) -> Result<(), WalletError> {
    let ok = (6..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(WalletError::InvalidKey(format!(
            "`{key}` is not an idempotency key: use 6 to 64 of A-Z a-z 0-9 . _ : -"
        )))
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), WalletError> {
    if text.chars().count() > max {
        return Err(WalletError::InvalidText(format!(
            "the {field} has more than {max} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(WalletError::InvalidText(format!(
            "the {field} contains control characters"
        )));
    }
    Ok(())
}

/// What a command asks for, so a key reused with other parameters is told
/// apart from a retry.
fn fingerprint(cmd: &Command) -> [u8; 16] {
    let bytes = rmp_serde::to_vec(cmd).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}
