//! The wallet's vocabulary: accounts, transfers, payments, red packets,
//! events, the commands that change them and the rules that bound them.
//! Plain data with serde; no logic beyond naming and validation helpers.

use super::WalletError;
use serde::{Deserialize, Serialize};

/// Money in the host currency's minor units (cents for CNY).
pub type Amount = u64;

/// Where money can be. Balances of the system accounts are not kept: they
/// are the counterparties of issuance (top-ups) and redemption (withdrawals),
/// tracked as running totals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Account {
    /// A person's wallet (internal user id).
    User(String),
    /// A mini-app's merchant account (app id).
    Merchant(String),
    /// Money held for one escrow payment until receipt is confirmed.
    Escrow(String),
    /// Money pre-authorized by one hold payment until capture or void.
    Hold(String),
    /// The undistributed rest of one red packet.
    Packet(String),
    /// Where operator top-ups come from.
    Issuance,
    /// Where operator withdrawals go.
    Redemption,
}

impl Account {
    /// A stable text form (`user:u_…`, `merchant:shop`, `escrow:pay_…`…),
    /// also the key the store files history under.
    pub fn key(&self) -> String {
        match self {
            Account::User(id) => format!("user:{id}"),
            Account::Merchant(id) => format!("merchant:{id}"),
            Account::Escrow(id) => format!("escrow:{id}"),
            Account::Hold(id) => format!("hold:{id}"),
            Account::Packet(id) => format!("packet:{id}"),
            Account::Issuance => "system:issuance".into(),
            Account::Redemption => "system:redemption".into(),
        }
    }

    pub fn is_system(&self) -> bool {
        matches!(self, Account::Issuance | Account::Redemption)
    }
}

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferKind {
    TopUp,
    Withdrawal,
    Transfer,
    Payment,
    EscrowRelease,
    Capture,
    HoldReturn,
    Refund,
    RedPacketFunding,
    RedPacketClaim,
    RedPacketReturn,
    /// A mini-app pays a person from its merchant balance (a driver's fare).
    Payout,
}

/// One double-entry movement: `amount` leaves `from` and arrives at `to`.
/// Transfers are only ever appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Position in the ledger, from 1, without gaps.
    pub seq: u64,
    pub from: Account,
    pub to: Account,
    pub amount: Amount,
    pub kind: TransferKind,
    /// The payment, red packet or idempotency key this belongs to.
    pub reference: String,
    pub memo: String,
    /// Unix seconds.
    pub at: i64,
}

/// How a mini-app's payment settles once the person confirms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentMode {
    /// Straight to the merchant.
    Direct,
    /// Held by the host until the buyer confirms receipt (or the release
    /// period passes).
    Escrow,
    /// Pre-authorized: the app captures the final amount later.
    Hold,
}

/// What a payment intent pays for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum PaymentKind {
    /// A purchase from the app's merchant account.
    Purchase { mode: PaymentMode },
    /// Money to another person, proposed by the app.
    Transfer { to: String },
    /// Funding of a red packet the app proposed.
    RedPacket { packet: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentStatus {
    /// Waiting for the person to confirm or decline.
    Pending,
    Declined,
    /// Not confirmed in time.
    Expired,
    /// Settled (direct purchase, transfer, red packet funded).
    Paid,
    /// Confirmed; the money waits in escrow for the buyer's receipt.
    Escrowed,
    /// Escrow released to the merchant.
    Released,
    /// Confirmed; the money is pre-authorized.
    Held,
    /// The hold was captured (the rest went back to the payer).
    Captured,
    /// The hold was voided (all of it went back).
    Voided,
    /// Everything that was paid has been refunded.
    Refunded,
}

impl PaymentStatus {
    pub fn name(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Escrowed => "escrowed",
            PaymentStatus::Released => "released",
            PaymentStatus::Held => "held",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Voided => "voided",
            PaymentStatus::Refunded => "refunded",
        }
    }
}

/// One (partial) refund of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: Amount,
    /// The merchant's refund key (a repeated key refunds once).
    pub key: String,
    pub at: i64,
}

/// A payment intent created by a mini-app and decided by the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    /// The app that asked.
    pub app: String,
    /// The person who pays (internal user id).
    pub payer: String,
    pub kind: PaymentKind,
    pub amount: Amount,
    pub memo: String,
    /// The app's idempotency key (its order id).
    pub key: String,
    pub status: PaymentStatus,
    pub created_at: i64,
    /// A pending intent expires at this time.
    pub expires_at: i64,
    pub confirmed_at: Option<i64>,
    /// When escrow is released (or a hold voided) if nothing else happens.
    pub due_at: Option<i64>,
    /// How much of a hold was captured.
    pub captured: Amount,
    pub refunded: Amount,
    pub refunds: Vec<Refund>,
}

impl Payment {
    /// What the merchant ended up with before refunds.
    pub fn settled(&self) -> Amount {
        match (&self.kind, self.status) {
            (
                PaymentKind::Purchase {
                    mode: PaymentMode::Hold,
                },
                _,
            ) => self.captured,
            (
                PaymentKind::Purchase { .. },
                PaymentStatus::Paid
                | PaymentStatus::Escrowed
                | PaymentStatus::Released
                | PaymentStatus::Refunded,
            ) => self.amount,
            _ => 0,
        }
    }
}

/// How a red packet is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The "double mean" draw: each share uniform in [0.01, 2 × the
    /// remaining average]; the last share takes the rest.
    Random,
    /// Equal shares (the first `total % count` get one minor unit more).
    Equal,
}

/// What the sender asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketSpec {
    pub total: Amount,
    pub count: u32,
    pub split: Split,
    pub greeting: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PacketStatus {
    /// Waiting for the sender to confirm the funding payment.
    Unfunded,
    /// Claimable.
    Open,
    /// Every share has been claimed.
    Empty,
    /// Expired; the unclaimed rest went back to the sender.
    Expired,
    /// The funding payment was declined or expired.
    Cancelled,
}

/// One person's share of a red packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub user: String,
    pub amount: Amount,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedPacket {
    pub id: String,
    /// The app it was sent through, if any.
    pub app: Option<String>,
    pub sender: String,
    pub spec: PacketSpec,
    /// Per-packet secret the random shares are drawn from.
    pub seed: [u8; 32],
    pub status: PacketStatus,
    pub created_at: i64,
    /// When unclaimed money returns (set when funded).
    pub expires_at: Option<i64>,
    pub claims: Vec<Claim>,
    /// Money not yet claimed.
    pub remaining: Amount,
    /// Money returned to the sender at expiry.
    pub returned: Amount,
}

/// What a claim gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReceipt {
    pub packet: String,
    pub amount: Amount,
    /// False when this person had already claimed (the first share is
    /// returned again, nothing moves).
    pub new: bool,
    pub packet_status: PacketStatus,
}

/// Something a mini-app is told about, at least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    PaymentConfirmed,
    PaymentDeclined,
    PaymentExpired,
    RefundDone,
    ReceiptConfirmed,
    HoldExpired,
    RedPacketClaimed,
    RedPacketExpired,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::PaymentConfirmed => "payment-confirmed",
            EventKind::PaymentDeclined => "payment-declined",
            EventKind::PaymentExpired => "payment-expired",
            EventKind::RefundDone => "refund-done",
            EventKind::ReceiptConfirmed => "receipt-confirmed",
            EventKind::HoldExpired => "hold-expired",
            EventKind::RedPacketClaimed => "red-packet-claimed",
            EventKind::RedPacketExpired => "red-packet-expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletEvent {
    /// From 1, without gaps; the event id is `ev_<seq>`.
    pub seq: u64,
    pub app: String,
    /// The person concerned (internal id; the app sees its open id).
    pub user: String,
    pub kind: EventKind,
    /// The payment or red packet id.
    pub subject: String,
    pub amount: Amount,
    pub at: i64,
}

impl WalletEvent {
    pub fn id(&self) -> String {
        format!("ev_{}", self.seq)
    }
}

/// Whose money an operator withdrawal takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holder {
    User(String),
    Merchant(String),
}

/// Everything that can change the wallet. Each carries who acts (set by the
/// edge, never by a mini-app's arguments) and, where money moves, an
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    TopUp {
        user: String,
        amount: Amount,
        key: String,
    },
    Withdraw {
        holder: Holder,
        amount: Amount,
        key: String,
    },
    Transfer {
        from: String,
        to: String,
        amount: Amount,
        memo: String,
        key: String,
    },
    RequestPayment {
        app: String,
        user: String,
        amount: Amount,
        memo: String,
        mode: PaymentMode,
        key: String,
    },
    RequestTransfer {
        app: String,
        from: String,
        to: String,
        amount: Amount,
        memo: String,
        key: String,
    },
    /// A mini-app proposes a red packet; the sender confirms its funding.
    RequestRedPacket {
        app: String,
        user: String,
        spec: PacketSpec,
        key: String,
    },
    /// The person sends a red packet themselves (funded at once).
    CreateRedPacket {
        user: String,
        spec: PacketSpec,
        key: String,
    },
    Confirm {
        user: String,
        payment: String,
    },
    Decline {
        user: String,
        payment: String,
    },
    ConfirmReceipt {
        user: String,
        payment: String,
    },
    Refund {
        app: String,
        payment: String,
        amount: Amount,
        key: String,
    },
    Capture {
        app: String,
        payment: String,
        amount: Amount,
        key: String,
    },
    Void {
        app: String,
        payment: String,
        key: String,
    },
    /// A mini-app pays a person from its merchant balance. Needs no
    /// confirmation: the money is the app's.
    Payout {
        app: String,
        to: String,
        amount: Amount,
        memo: String,
        key: String,
    },
    Claim {
        user: String,
        packet: String,
        /// Set when a mini-app claims for the person: only packets sent
        /// through that app. None: the person claims in the host.
        via_app: Option<String>,
    },
    /// Expire intents, release escrow, void stale holds, return unclaimed
    /// red packets: everything due by the command's time.
    Sweep,
}

impl Command {
    /// The texts a person will be shown (memos, greetings), by field name.
    pub fn shown_texts(&self) -> Vec<(&'static str, &str)> {
        match self {
            Command::Transfer { memo, .. }
            | Command::RequestPayment { memo, .. }
            | Command::RequestTransfer { memo, .. }
            | Command::Payout { memo, .. } => vec![("memo", memo)],
            Command::RequestRedPacket { spec, .. } | Command::CreateRedPacket { spec, .. } => {
                vec![("greeting", &spec.greeting)]
            }
            _ => Vec::new(),
        }
    }

    /// The host's rule for the texts a person is shown: no control or bidi
    /// characters (core's `text::check_shown_text`). Checked on a new
    /// command before the ledger runs it, not inside `Ledger::apply`, so
    /// journals written before the rule still replay as they were decided.
    pub fn check_shown_texts(&self) -> Result<(), WalletError> {
        for (field, text) in self.shown_texts() {
            crate::text::check_shown_text(text, false)
                .map_err(|why| WalletError::InvalidText(format!("the {field} {why}")))?;
        }
        Ok(())
    }

    /// The idempotency scope and key, for commands that move money.
    pub fn idempotency(&self) -> Option<(String, &str)> {
        match self {
            Command::TopUp { key, .. } | Command::Withdraw { key, .. } => {
                Some(("operator".into(), key))
            }
            Command::Transfer {
                from: user, key, ..
            }
            | Command::CreateRedPacket { user, key, .. } => Some((format!("user:{user}"), key)),
            Command::RequestPayment { app, key, .. }
            | Command::RequestTransfer { app, key, .. }
            | Command::RequestRedPacket { app, key, .. }
            | Command::Refund { app, key, .. }
            | Command::Capture { app, key, .. }
            | Command::Void { app, key, .. }
            | Command::Payout { app, key, .. } => Some((format!("app:{app}"), key)),
            Command::Confirm { .. }
            | Command::Decline { .. }
            | Command::ConfirmReceipt { .. }
            | Command::Claim { .. }
            | Command::Sweep => None,
        }
    }
}

/// Values a command needs that must not depend on replaying it: fresh ids
/// and randomness, drawn once by the edge and journaled with the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fresh {
    /// `pay_…`, `rp_…` or `rf_…` material (32 hex).
    pub id: String,
    pub seed: [u8; 32],
}

impl Fresh {
    /// Whether `cmd` creates something, and so journals fresh values (most
    /// commands need none).
    pub fn needed(cmd: &Command) -> bool {
        matches!(
            cmd,
            Command::RequestPayment { .. }
                | Command::RequestTransfer { .. }
                | Command::RequestRedPacket { .. }
                | Command::CreateRedPacket { .. }
                | Command::Refund { .. }
        )
    }

    /// What `cmd` needs, drawn from `fill` (the id source is passed in: the
    /// host's is the OS's randomness).
    pub fn for_command(cmd: &Command, mut fill: impl FnMut(&mut [u8])) -> Fresh {
        if !Fresh::needed(cmd) {
            return Fresh::none();
        }
        let mut seed = [0u8; 32];
        fill(&mut seed);
        let mut id = [0u8; 16];
        fill(&mut id);
        Fresh {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            seed,
        }
    }

    /// No fresh values.
    pub fn none() -> Fresh {
        Fresh {
            id: String::new(),
            seed: [0; 32],
        }
    }

    pub fn is_none(&self) -> bool {
        self.id.is_empty()
    }
}

impl Default for Fresh {
    fn default() -> Self {
        Fresh::none()
    }
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Transfer(Transfer),
    Payment(Payment),
    Packet(RedPacket),
    Claim(ClaimReceipt),
    Swept(SweepReport),
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub expired_intents: u32,
    pub released_escrows: u32,
    pub expired_holds: u32,
    pub expired_packets: u32,
}

/// The limits and periods the wallet runs under. Journaled with each batch
/// so a replay decides exactly as the original run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// ISO 4217 code of the one currency this host keeps. Default CNY.
    pub currency: String,
    /// Digits after the decimal point in the currency. Default 2.
    pub decimals: u32,
    /// Largest amount of any one operation. Default 1,000,000.00.
    pub max_amount: Amount,
    /// How long a payment intent waits for the person. Default 15 min.
    pub intent_ttl_secs: i64,
    /// When escrow is released without a receipt. Default 10 days.
    pub escrow_release_secs: i64,
    /// When an uncaptured hold is voided. Default 7 days.
    pub hold_ttl_secs: i64,
    /// When unclaimed red-packet money returns. Default 24 h.
    pub red_packet_ttl_secs: i64,
    /// Largest red packet. Default 200.00.
    pub max_red_packet_amount: Amount,
    /// Most shares in one red packet. Default 100.
    pub max_red_packet_count: u32,
    /// Most partial refunds of one payment. Default 50.
    pub max_refunds: u32,
    /// Most payment intents one app may have waiting for one person.
    /// Default 20. (Journals written before this rule replay uncapped.)
    #[serde(default = "uncapped")]
    pub max_pending_per_person: u32,
    /// Most payment intents one app may have waiting in all. Default 10,000.
    #[serde(default = "uncapped")]
    pub max_pending_per_app: u32,
}

fn uncapped() -> u32 {
    u32::MAX
}

/// The default rules as constants, for what needs them at compile time
/// (the SDK's mock host applies exactly these).
pub mod defaults {
    use super::Amount;
    pub const MAX_AMOUNT: Amount = 100_000_000;
    pub const INTENT_TTL_SECS: i64 = 15 * 60;
    pub const ESCROW_RELEASE_SECS: i64 = 10 * 24 * 3600;
    pub const HOLD_TTL_SECS: i64 = 7 * 24 * 3600;
    pub const RED_PACKET_TTL_SECS: i64 = 24 * 3600;
    pub const MAX_RED_PACKET_AMOUNT: Amount = 20_000;
    pub const MAX_RED_PACKET_COUNT: u32 = 100;
    pub const MAX_REFUNDS: u32 = 50;
    pub const MAX_PENDING_PER_PERSON: u32 = 20;
    pub const MAX_PENDING_PER_APP: u32 = 10_000;
}

impl Default for Rules {
    fn default() -> Self {
        use defaults::*;
        Rules {
            currency: "CNY".into(),
            decimals: 2,
            max_amount: MAX_AMOUNT,
            intent_ttl_secs: INTENT_TTL_SECS,
            escrow_release_secs: ESCROW_RELEASE_SECS,
            hold_ttl_secs: HOLD_TTL_SECS,
            red_packet_ttl_secs: RED_PACKET_TTL_SECS,
            max_red_packet_amount: MAX_RED_PACKET_AMOUNT,
            max_red_packet_count: MAX_RED_PACKET_COUNT,
            max_refunds: MAX_REFUNDS,
            max_pending_per_person: MAX_PENDING_PER_PERSON,
            max_pending_per_app: MAX_PENDING_PER_APP,
        }
    }
}

impl Rules {
    /// `1234` → `"12.34"` in this currency's minor units.
    pub fn format(&self, amount: Amount) -> String {
        if self.decimals == 0 {
            return amount.to_string();
        }
        let unit = 10u64.pow(self.decimals);
        format!(
            "{}.{:0width$}",
            amount / unit,
            amount % unit,
            width = self.decimals as usize
        )
    }

    /// `"12.34"` → `1234`; at most `decimals` digits after the point.
    pub fn parse(&self, text: &str) -> Result<Amount, String> {
        let bad = || {
            format!(
                "`{text}` is not an amount in {} (digits, optionally a point and up to {} decimals)",
                self.currency, self.decimals
            )
        };
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > self.decimals as usize
            || (text.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let unit = 10u64.pow(self.decimals);
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let frac_value: u64 = if frac.is_empty() {
            0
        } else {
            let digits: u64 = frac.parse().map_err(|_| bad())?;
            digits * 10u64.pow(self.decimals - frac.len() as u32)
        };
        whole
            .checked_mul(unit)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(bad)
    }
}
