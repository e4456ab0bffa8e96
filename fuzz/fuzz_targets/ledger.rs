//! Fuzz the ledger with command sequences: the bytes decode to wallet
//! operations run through the real ledger and the reference model, which
//! must agree after every step (the property test's runner).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| superapp_host::fuzzing::ledger(data));
