//! Every integration test in one binary, a module per area (one link of
//! wasmtime and the host instead of one per area; one process whose test
//! threads share the cores). Run one area with `cargo test --test all <area>::`.

mod cli;
mod failures;
mod http;
mod identity;
mod install;
mod layers;
mod live;
mod messaging;
mod mock_vs_host;
mod multihost;
mod observability;
mod openapi;
mod package_mutations;
mod packages;
mod scenarios;
mod shell;
mod storage;
mod tutorial;
mod ui;
mod verify_launch;
mod wallet;
mod wallet_crash;
