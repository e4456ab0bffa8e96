//! A misbehaving mini-app hurts only itself: each failure fixture gets its
//! exact error kind, and the very next call (to it and to another app) works.

use superapp_host::{CallError, CallRequest, Caller, Superapp};
use superapp_tests::{guest, manifest, open_host};

fn get(path: &str) -> CallRequest {
    CallRequest {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    }
}

fn install(host: &Superapp, dir: &std::path::Path, id: &str, wasm: &str, extra: &str) {
    let m = manifest(dir, id, &guest(wasm), extra);
    if let Err(e) = host.install_dev(&m, false) {
        unreachable_install(id, e);
    }
}

#[allow(clippy::panic)]
fn unreachable_install(id: &str, e: impl std::fmt::Display) -> ! {
    panic!("installing {id}: {e}")
}

/// Calls the bad path, returns its error, and checks both apps answer next.
fn contained(host: &Superapp, id: &str) -> CallError {
    let err = match host.call(id, Caller::default(), get("/")) {
        Ok(resp) => CallError::Internal(format!("the bad call succeeded with {}", resp.status)),
        Err(e) => e,
    };
    let again = host.call(id, Caller::default(), get("/ok"));
    assert_eq!(
        again.map(|r| r.body),
        Ok(b"ok".to_vec()),
        "{id} after its failure"
    );
    let hello = host.call("hello", Caller::default(), get("/"));
    assert_eq!(hello.map(|r| r.status), Ok(200), "hello after {id} failed");
    err
}

fn host_with_fixtures() -> anyhow::Result<(tempfile::TempDir, Superapp)> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    install(
        &host,
        dir.path(),
        "hello",
        "hello",
        superapp_tests::HELLO_CAPS,
    );
    Ok((dir, host))
}

#[test]
fn an_endless_loop_times_out_at_its_deadline() -> anyhow::Result<()> {
    let (dir, host) = host_with_fixtures()?;
    install(
        &host,
        dir.path(),
        "looper",
        "fixture_loop",
        "[limits]\ndeadline_ms = 150",
    );
    let err = contained(&host, "looper");
    assert_eq!(err, CallError::Timeout { deadline_ms: 150 });
    assert_eq!(err.code(), "timeout");
    Ok(())
}

#[test]
fn a_memory_bomb_hits_its_memory_limit() -> anyhow::Result<()> {
    let (dir, host) = host_with_fixtures()?;
    install(
        &host,
        dir.path(),
        "bomb",
        "fixture_membomb",
        "[limits]\nmemory_mib = 16",
    );
    let err = contained(&host, "bomb");
    assert_eq!(
        err,
        CallError::OutOfMemory {
            limit_bytes: 16 << 20
        }
    );
    assert_eq!(err.code(), "out-of-memory");
    Ok(())
}

#[test]
fn a_stack_overflow_traps_with_its_reason() -> anyhow::Result<()> {
    let (dir, host) = host_with_fixtures()?;
    install(&host, dir.path(), "deep", "fixture_stack", "");
    let err = contained(&host, "deep");
    assert_eq!(err.code(), "trap");
    assert!(err.to_string().contains("stack overflow"), "got: {err}");
    Ok(())
}

#[test]
fn a_panic_traps_with_the_panic_message() -> anyhow::Result<()> {
    let (dir, host) = host_with_fixtures()?;
    install(&host, dir.path(), "panicker", "fixture_panic", "");
    let err = contained(&host, "panicker");
    assert_eq!(err.code(), "trap");
    assert!(
        err.to_string().contains("the fixture panicked on purpose"),
        "got: {err}"
    );
    Ok(())
}

#[test]
fn an_oversized_response_is_refused() -> anyhow::Result<()> {
    let (dir, host) = host_with_fixtures()?;
    install(&host, dir.path(), "big", "fixture_bigresponse", "");
    let err = contained(&host, "big");
    assert_eq!(
        err,
        CallError::ResponseTooLarge {
            size: 8 << 20,
            limit: 4 << 20
        }
    );
    Ok(())
}

#[test]
fn an_oversized_request_never_reaches_the_app() -> anyhow::Result<()> {
    let (_dir, host) = host_with_fixtures()?;
    let req = CallRequest {
        method: "POST".into(),
        path: "/visits".into(),
        body: vec![0; (1 << 20) + 1],
        ..Default::default()
    };
    let err = host.call("hello", Caller::default(), req).err();
    assert_eq!(err.as_ref().map(CallError::code), Some("request-too-large"));
    let visits = host.call("hello", Caller::default(), get("/visits"))?;
    assert_eq!(visits.body, br#"{"count":0}"#.to_vec());
    Ok(())
}
