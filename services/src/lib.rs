//! superapp-services: what the host is, without its edges — identity,
//! the wallet (core's ledger behind one writer), the messenger, per-app
//! storage and the packages, with what they need of each other (`links`)
//! and the configuration they share. They persist through superapp-store's
//! traits and know no wasmtime and no HTTP: neither is a dependency here,
//! so a service that reaches for either does not compile.

pub mod config;
pub mod copy;
pub mod fsutil;
pub mod identity;
pub mod kv;
pub mod links;
pub mod messaging;
pub mod packages;
pub mod wallet;

pub use config::HostConfig;
// The storage traits and core's text rules, where these modules have
// always found them.
pub use superapp_core::text;
pub use superapp_store as store;
