//! superapp-runtime: runs mini-apps — the wasmtime engine, pooling,
//! compile cache, limits, call slots and deadlines (`runtime`), and the WIT
//! bindings with the capability adapters that hand a guest's calls to the
//! services (`capabilities`). It depends on the services, never on the
//! orchestration or the edges above it (they are not dependencies here).

pub mod capabilities;
pub mod runtime;

pub use runtime::{CallError, CallRequest, CallResponse};

// The services, where the runtime's modules have always found them.
use superapp_services::{config, fsutil, identity, kv, links, messaging, packages, wallet};
