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

/// The case of the WIT `wallet.error` variant a wallet error reaches a
/// mini-app as. The host's capability adapter and the SDK's mock host both
/// sort errors through [`WalletError::app_case`], so an app sees the same
/// case from either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppErrorCase {
    Invalid,
    IdempotencyConflict,
    NotFound,
    InvalidState,
    InsufficientFunds,
    LimitReached,
    Denied,
    /// The host's own failure; the app is told only the code.
    Internal,
}

impl WalletError {
    /// The case a mini-app is told this error as. Every variant is named,
    /// so a new one must be sorted here.
    pub fn app_case(&self) -> AppErrorCase {
        match self {
            WalletError::InvalidAmount(_)
            | WalletError::InvalidKey(_)
            | WalletError::InvalidText(_)
            | WalletError::InvalidPacket(_)
            | WalletError::LimitExceeded(_)
            | WalletError::SelfTransfer => AppErrorCase::Invalid,
            WalletError::IdempotencyConflict { .. } => AppErrorCase::IdempotencyConflict,
            WalletError::PaymentNotFound(_)
            | WalletError::PacketNotFound(_)
            | WalletError::UnknownUser(_)
            | WalletError::UnknownApp(_) => AppErrorCase::NotFound,
            WalletError::InvalidState(_)
            | WalletError::PaymentExpired(_)
            | WalletError::PacketExpired(_)
            | WalletError::PacketEmpty(_) => AppErrorCase::InvalidState,
            WalletError::InsufficientFunds { .. } => AppErrorCase::InsufficientFunds,
            WalletError::TooManyPending(_) => AppErrorCase::LimitReached,
            WalletError::NotInConversation(_) => AppErrorCase::Denied,
            WalletError::Storage(_)
            | WalletError::Corrupt(_)
            | WalletError::Unavailable
            | WalletError::Internal(_) => AppErrorCase::Internal,
        }
    }

    /// The text a mini-app is told with it: the message (the ledger's
    /// messages name accounts by kind, never by internal id), or only the
    /// code for the host's own failures, whose text is the operator's.
    pub fn app_message(&self) -> String {
        match self.app_case() {
            AppErrorCase::Internal => self.code().to_string(),
            _ => self.to_string(),
        }
    }

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

#[cfg(test)]
mod app_error_tests {
    use super::*;

    #[test]
    fn an_app_is_told_the_hosts_own_failures_by_code_only() {
        let e = WalletError::Storage("/data/ledger: disk full".into());
        assert_eq!(e.app_case(), AppErrorCase::Internal);
        assert_eq!(e.app_message(), "storage-io");
        let e = WalletError::PaymentNotFound("pay_1".into());
        assert_eq!(e.app_case(), AppErrorCase::NotFound);
        assert_eq!(e.app_message(), "no payment `pay_1`");
    }

    #[test]
    fn a_bidi_memo_is_refused_before_the_ledger_sees_it() {
        let cmd = |memo: &str| Command::RequestPayment {
            app: "shop".into(),
            user: "u_1".into(),
            amount: 1,
            memo: memo.into(),
            mode: PaymentMode::Direct,
            key: "order-1".into(),
        };
        let refused = cmd("gpj\u{202E}exe.tea").check_shown_texts();
        assert!(
            matches!(&refused, Err(WalletError::InvalidText(m)) if m.starts_with("the memo ")),
            "{refused:?}"
        );
        assert!(cmd("Longjing tea").check_shown_texts().is_ok());
    }
}
