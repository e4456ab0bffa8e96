//! superapp-host: runs third-party mini-apps as sandboxed WebAssembly
//! components and gives them a typed capability API. This crate is the
//! orchestration (`platform`) and the edges (HTTP, the CLI, the web shell);
//! the services, the store and the runtime are crates below it (see
//! docs/architecture.md), re-exported here under the paths they always had.

pub mod cli;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod platform;
mod schemas;
pub mod telemetry;

// The client of a running server, where tests have always found it.
pub use cli::remote;
pub use superapp_core::text;
pub use superapp_runtime::{capabilities, runtime};
pub use superapp_services::{
    HostConfig, config, copy, fsutil, identity, kv, links, messaging, packages, wallet,
};
pub use superapp_store as store;

pub use platform::{Caller, Superapp};
pub use runtime::{CallError, CallRequest, CallResponse};
