//! Fuzz the package parser and signature check: any input must yield a
//! package or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| superapp_host::fuzzing::package(data));
