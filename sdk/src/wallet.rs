//! The person's wallet, as a mini-app may use it (the `wallet` capability).
//! Requests create intents the person confirms in the host; nothing here
//! moves their money by itself. Amounts are integer minor units (cents).
//! Every money-moving call takes an idempotency key such as your order id:
//! a retry with the same key returns the first result.

use crate::backend::wallet as host;
use crate::bindings::superapp::platform::wallet as raw;
pub use raw::{
    Claim, ClaimResult, Error as WalletError, PacketStatus, Payment, PaymentMode, PaymentRefund,
    PaymentStatus, Payout, RedPacket, Split,
};

/// Asks the current person to pay `amount` to this app; returns the pending
/// intent (the person confirms it in the host).
pub fn request_payment(
    amount: u64,
    memo: &str,
    mode: PaymentMode,
    idempotency_key: &str,
) -> Result<Payment, WalletError> {
    host::request_payment(amount, memo, mode, idempotency_key)
}

/// Asks the current person to send `amount` to the person this app knows
/// as `to_open_id`.
pub fn request_transfer(
    to_open_id: &str,
    amount: u64,
    memo: &str,
    idempotency_key: &str,
) -> Result<Payment, WalletError> {
    host::request_transfer(to_open_id, amount, memo, idempotency_key)
}

/// A payment this app created.
pub fn payment(id: &str) -> Result<Payment, WalletError> {
    host::get_payment(id)
}

/// Refunds `amount` of a payment (from escrow while held, else from this
/// app's merchant balance).
pub fn refund(payment: &str, amount: u64, idempotency_key: &str) -> Result<Payment, WalletError> {
    host::refund(payment, amount, idempotency_key)
}

/// Captures `amount` (≤ held) of a hold; the rest returns to the payer.
pub fn capture(payment: &str, amount: u64, idempotency_key: &str) -> Result<Payment, WalletError> {
    host::capture(payment, amount, idempotency_key)
}

/// Returns a whole hold to the payer.
pub fn void(payment: &str, idempotency_key: &str) -> Result<Payment, WalletError> {
    host::void(payment, idempotency_key)
}

/// Asks the current person to fund a red packet; the intent's `red_packet`
/// is the id to share.
pub fn create_red_packet(
    total: u64,
    count: u32,
    split: Split,
    greeting: &str,
    idempotency_key: &str,
) -> Result<Payment, WalletError> {
    host::create_red_packet(total, count, split, greeting, idempotency_key)
}

/// Claims a share for the current person (a second claim returns the first).
pub fn claim_red_packet(id: &str) -> Result<ClaimResult, WalletError> {
    host::claim_red_packet(id)
}

/// A red packet sent through this app, with its claims.
pub fn red_packet(id: &str) -> Result<RedPacket, WalletError> {
    host::get_red_packet(id)
}

/// Pays `amount` from this app's merchant balance to the person this app
/// knows as `to_open_id` (a driver's fare). Needs no confirmation.
pub fn pay_out(
    to_open_id: &str,
    amount: u64,
    memo: &str,
    idempotency_key: &str,
) -> Result<Payout, WalletError> {
    host::pay_out(to_open_id, amount, memo, idempotency_key)
}

impl WalletError {
    /// The host's stable code and message (`insufficient-funds`,
    /// `packet-expired`, `idempotency-conflict`…), finer than the case;
    /// none for `no-user`.
    pub fn problem(&self) -> Option<&crate::Problem> {
        match self {
            WalletError::NoUser => None,
            WalletError::Denied(p)
            | WalletError::Invalid(p)
            | WalletError::IdempotencyConflict(p)
            | WalletError::NotFound(p)
            | WalletError::InvalidState(p)
            | WalletError::InsufficientFunds(p)
            | WalletError::LimitReached(p)
            | WalletError::Internal(p) => Some(p),
        }
    }
}

impl From<WalletError> for crate::Error {
    fn from(e: WalletError) -> Self {
        let (status, code) = match &e {
            WalletError::Denied(_) => (403, "wallet-denied"),
            WalletError::NoUser => (401, "no-user"),
            WalletError::Invalid(_) => (400, "invalid"),
            WalletError::IdempotencyConflict(_) => (409, "idempotency-conflict"),
            WalletError::NotFound(_) => (404, "not-found"),
            WalletError::InvalidState(_) => (409, "invalid-state"),
            WalletError::InsufficientFunds(_) => (409, "insufficient-funds"),
            WalletError::LimitReached(_) => (429, "too-many-pending-payments"),
            WalletError::Internal(_) => (500, "internal"),
        };
        let message = match e {
            WalletError::Denied(m)
            | WalletError::Invalid(m)
            | WalletError::IdempotencyConflict(m)
            | WalletError::NotFound(m)
            | WalletError::InvalidState(m)
            | WalletError::InsufficientFunds(m)
            | WalletError::LimitReached(m)
            | WalletError::Internal(m) => m.message,
            WalletError::NoUser => "this needs a signed-in user".to_string(),
        };
        crate::Error::new(status, code, message)
    }
}

impl PaymentStatus {
    /// The name the host's API uses, e.g. `escrowed`.
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

impl PaymentMode {
    /// `direct`, `escrow` or `hold`.
    pub fn name(self) -> &'static str {
        match self {
            PaymentMode::Direct => "direct",
            PaymentMode::Escrow => "escrow",
            PaymentMode::Hold => "hold",
        }
    }
}

impl PacketStatus {
    /// `unfunded`, `open`, `empty`, `expired` or `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            PacketStatus::Unfunded => "unfunded",
            PacketStatus::Open => "open",
            PacketStatus::Empty => "empty",
            PacketStatus::Expired => "expired",
            PacketStatus::Cancelled => "cancelled",
        }
    }
}

impl crate::WalletEventKind {
    /// The kebab-case name, e.g. `payment-confirmed`.
    pub fn name(self) -> &'static str {
        use crate::WalletEventKind as K;
        match self {
            K::PaymentConfirmed => "payment-confirmed",
            K::PaymentDeclined => "payment-declined",
            K::PaymentExpired => "payment-expired",
            K::RefundDone => "refund-done",
            K::ReceiptConfirmed => "receipt-confirmed",
            K::HoldExpired => "hold-expired",
            K::RedPacketClaimed => "red-packet-claimed",
            K::RedPacketExpired => "red-packet-expired",
        }
    }
}
