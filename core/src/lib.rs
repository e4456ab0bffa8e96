//! Superapp's rules without I/O, shared by the host and its tests: the
//! ledger state machine and its types (`wallet`), what names and shown
//! texts may hold (`text`), what a storage key may be (`kv`), an app's call
//! limits (`limits`), the messenger's records (`messaging`), and the token bucket of rate limits (`rate`). A wrong-way import cannot compile here: this
//! crate depends on no wasmtime, axum, hyper, sled or tokio.

pub mod kv;
pub mod limits;
pub mod messaging;
pub mod rate;
pub mod text;
pub mod wallet;
