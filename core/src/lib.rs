//! Superapp's rules without I/O, shared by the host and its tests: the
//! ledger state machine and its types (`wallet`), and what names and shown
//! texts may hold (`text`). A wrong-way import cannot compile here: this
//! crate depends on no wasmtime, axum, hyper, sled or tokio.

pub mod text;
pub mod wallet;
