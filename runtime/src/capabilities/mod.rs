//! The host side of the WIT contract: one adapter per capability interface.
//! Each adapter finds who is calling (from the per-call state the host set,
//! never from guest arguments), checks the manifest grant, calls a service
//! and maps service errors to WIT error values. A refused call is an error
//! value the guest can handle, never a trap.

mod context;
mod identity;
mod log;
mod messaging;
mod storage;
mod wallet;

use crate::identity::{AccessOutcome, AccessRecord, Identity};
use crate::kv::{AppStorage, StorageLimits};
use crate::packages::Capability;
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

// Exports are async so a guest runs on the caller's async task (yielding at
// every epoch tick); imports stay plain functions (sled is quick), except the
// wallet's, which wait for a group commit without holding the thread.
wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "miniapp",
    exports: { default: async },
    imports: { "superapp:platform/wallet": async, "superapp:platform/messaging": async },
});

pub use superapp::platform::events::{
    AppMessage as GuestAppMessage, Event as GuestEvent, EventBody as GuestEventBody,
    WalletEvent as GuestWalletEvent, WalletEventKind as GuestWalletEventKind,
};
use superapp::platform::types::Problem;
pub use superapp::platform::types::{Request as GuestRequest, Response as GuestResponse};

/// What a capability tells the app went wrong: the host's stable `code`
/// (the one its HTTP API uses for the same refusal) and the message.
fn problem(code: &str, message: impl Into<String>) -> Problem {
    Problem {
        code: code.to_string(),
        message: message.into(),
    }
}

/// The host's own failure as the app is told it: the code, and no more
/// (the details are the operator's, in the host's log).
fn internal_problem(code: &str) -> Problem {
    problem(code, code)
}

/// The code an undeclared capability is refused with.
const NOT_DECLARED: &str = "capability-not-declared";

/// What one installed app may do, fixed at install.
#[derive(Debug, Clone)]
pub struct AppGrants {
    pub app_id: String,
    pub declared: BTreeSet<Capability>,
    pub storage: StorageLimits,
    /// The developer key that signed the running version (text form); none
    /// for developer installs. Union ids are derived from it.
    pub signer: Option<String>,
}

/// The user a call runs for.
#[derive(Debug, Clone)]
pub struct CallUser {
    /// The host's internal user id (never shown to the guest).
    pub user_id: String,
    /// The user's open id in this app.
    pub open_id: String,
    /// The user's union id for this app's developer.
    pub union_id: String,
}

/// Per-call capability state, set by the host before the guest runs.
pub struct CallCaps {
    pub grants: Arc<AppGrants>,
    pub user: Option<CallUser>,
    pub scene: Option<String>,
    pub storage: AppStorage,
    pub identity: Identity,
    pub wallet: crate::wallet::Wallet,
    pub messaging: crate::messaging::Messaging,
    /// Log lines the guest may still emit in this call.
    pub log_budget: usize,
    /// What this call did with the user's data, written to their access log
    /// when the call ends (however it ends).
    pub accesses: Vec<AccessRecord>,
}

impl CallCaps {
    /// The internal user this app knows as `open_id`; each interface wraps
    /// the miss and the failure in its own error type.
    fn user_of_open_id<E>(
        &self,
        app: &str,
        open_id: &str,
        not_found: fn(Problem) -> E,
        internal: fn(Problem) -> E,
    ) -> Result<String, E> {
        self.identity
            .user_by_open_id(app, open_id)
            .map_err(|e| internal(internal_problem(e.code())))?
            .ok_or_else(|| {
                not_found(problem(
                    "unknown-person",
                    format!("no person with open id `{open_id}` in this app"),
                ))
            })
    }

    /// Notes one use of the user's data for their access log.
    fn note(&mut self, capability: &'static str, outcome: AccessOutcome) {
        if self.user.is_some() {
            self.accesses.push(AccessRecord {
                capability,
                outcome,
            });
        }
    }
}

impl Drop for CallCaps {
    // The store (and with it these caps) is dropped at the end of every call,
    // trapped or not, so this is the one place that sees every access.
    fn drop(&mut self) {
        let Some(user) = &self.user else { return };
        if let Err(e) =
            self.identity
                .record_access(&user.user_id, &self.grants.app_id, &self.accesses)
        {
            tracing::error!(app = %self.grants.app_id, error = %e, "cannot write the access log");
        }
    }
}

/// Links every capability interface into `linker`, reading state through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut CallCaps,
) -> wasmtime::Result<()> {
    Miniapp::add_to_linker::<T, HasSelf<CallCaps>>(linker, get)
}

// `types` and `events` have no functions; their traits only need to exist.
impl superapp::platform::types::Host for CallCaps {}
impl superapp::platform::events::Host for CallCaps {}
