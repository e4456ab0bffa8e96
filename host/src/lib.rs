//! superapp-host: runs third-party mini-apps as sandboxed WebAssembly
//! components and gives them a typed capability API. Services (identity,
//! kv, packages, wallet) in the middle; adapters (capabilities, http, the CLI) at
//! the edges; `store` is the only module that knows sled; `runtime` the
//! only one that drives wasmtime.

pub mod capabilities;
pub mod cli;
pub mod config;
mod fsutil;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod kv;
pub mod links;
pub mod messaging;
pub mod packages;
pub mod platform;
pub mod remote;
pub mod runtime;
mod schemas;
// The storage traits and the sled backend, where the host's modules have
// always found them.
pub use superapp_store as store;
// Core's text rules, where the host's modules have always found them.
pub use superapp_core::text;
pub mod wallet;

pub use config::HostConfig;
pub use platform::{Caller, Superapp};
pub use runtime::{CallError, CallRequest, CallResponse};
