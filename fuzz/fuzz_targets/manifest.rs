//! Fuzz the manifest parser and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| superapp_host::fuzzing::manifest(data));
