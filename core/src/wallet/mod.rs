//! The ledger's rules: a deterministic state machine over accounts,
//! transfers, payments and red packets (`ledger`), its types, the
//! red-packet split, and the wallet's errors with their stable codes.
//! Nothing here does I/O; the host's wallet service persists and runs it.

mod ledger;
#[cfg(any(test, feature = "model"))]
#[allow(clippy::panic)]
pub mod model;
#[cfg(test)]
mod model_tests;
mod split;
mod types;

pub use ledger::{Appended, Ledger, MAX_GREETING_CHARS, MAX_MEMO_CHARS, Totals, check_key};
pub use split::next_share;
pub use types::*;

/// What went wrong in the wallet. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    InvalidKey(String),
    #[error("{0}")]
    InvalidText(String),
    #[error("{0}")]
    InvalidPacket(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{account} holds {available}, {needed} is needed")]
    InsufficientFunds {
        account: String,
        needed: Amount,
        available: Amount,
    },
    #[error("the idempotency key `{key}` was already used for a different request")]
    IdempotencyConflict { key: String },
    #[error("no person with handle `{0}`")]
    UnknownUser(String),
    #[error("no installed app `{0}`")]
    UnknownApp(String),
    #[error("money cannot be sent to oneself")]
    SelfTransfer,
    #[error("no payment `{0}`")]
    PaymentNotFound(String),
    #[error("no red packet `{0}`")]
    PacketNotFound(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("payment `{0}` expired before it was confirmed")]
    PaymentExpired(String),
    #[error("red packet `{0}` has expired")]
    PacketExpired(String),
    #[error("red packet `{0}` has no shares left")]
    PacketEmpty(String),
    #[error("{0}")]
    TooManyPending(String),
    /// The store failed (its message): the host maps its store errors in.
    #[error("the ledger could not be written: {0}")]
    Storage(String),
    #[error("the ledger journal does not replay: {0}")]
    Corrupt(String),
    #[error("red packet `{0}` was sent into a conversation you are not in")]
    NotInConversation(String),
    #[error("the wallet is not running")]
    Unavailable,
    #[error("internal wallet error: {0}")]
    Internal(String),
}

impl WalletError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WalletError::InvalidAmount(_) => "invalid-amount",
            WalletError::InvalidKey(_) => "invalid-idempotency-key",
            WalletError::InvalidText(_) => "invalid-text",
            WalletError::InvalidPacket(_) => "invalid-red-packet",
            WalletError::LimitExceeded(_) => "limit-exceeded",
            WalletError::InsufficientFunds { .. } => "insufficient-funds",
            WalletError::IdempotencyConflict { .. } => "idempotency-conflict",
            WalletError::UnknownUser(_) => "unknown-user",
            WalletError::UnknownApp(_) => "unknown-app",
            WalletError::SelfTransfer => "self-transfer",
            WalletError::PaymentNotFound(_) => "payment-not-found",
            WalletError::PacketNotFound(_) => "red-packet-not-found",
            WalletError::InvalidState(_) => "invalid-state",
            WalletError::PaymentExpired(_) => "payment-expired",
            WalletError::PacketExpired(_) => "red-packet-expired",
            WalletError::PacketEmpty(_) => "red-packet-empty",
            WalletError::TooManyPending(_) => "too-many-pending-payments",
            WalletError::Storage(_) => "storage-io",
            WalletError::Corrupt(_) => "ledger-corrupt",
            WalletError::NotInConversation(_) => "not-a-member",
            WalletError::Unavailable => "wallet-unavailable",
            WalletError::Internal(_) => "internal",
        }
    }
}
