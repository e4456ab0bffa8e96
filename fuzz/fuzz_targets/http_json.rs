//! Fuzz the HTTP API's JSON bodies: the bytes pick a route, method,
//! content type, credentials and body, sent to the real router of one host
//! per process; no answer may be a 5xx or an error outside problem+json.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| superapp_tests::http_fuzz::run(data));
