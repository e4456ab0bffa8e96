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

// ---- a guest that waits or floods: the deadline holds, others are served ----

/// A host with `hello` and the hostile fixture (`extra` goes in its manifest).
fn host_with_hostile(
    extra: &str,
    configure: impl FnOnce(&mut superapp_host::HostConfig),
) -> anyhow::Result<(tempfile::TempDir, Superapp)> {
    let dir = tempfile::tempdir()?;
    let mut config = superapp_tests::test_config(&dir.path().join("data"));
    configure(&mut config);
    let host = Superapp::open(config)?;
    install(
        &host,
        dir.path(),
        "hello",
        "hello",
        superapp_tests::HELLO_CAPS,
    );
    host.install_dev(
        &superapp_tests::hostile_manifest(dir.path(), "hostile", extra),
        false,
    )?;
    Ok((dir, host))
}

/// Calls the hostile app at `path` as `user`, then checks both it and
/// `hello` answer normally after.
fn contained_at(
    host: &Superapp,
    method: &str,
    path: &str,
    user: Option<String>,
) -> Result<superapp_host::CallResponse, CallError> {
    let req = CallRequest {
        method: method.into(),
        path: path.into(),
        ..Default::default()
    };
    let caller = Caller { user, scene: None };
    let result = host.call("hostile", caller, req);
    let again = host.call("hostile", Caller::default(), get("/ok"));
    assert_eq!(
        again.map(|r| r.body),
        Ok(b"ok".to_vec()),
        "hostile after {path}"
    );
    let hello = host.call("hello", Caller::default(), get("/"));
    assert_eq!(
        hello.map(|r| r.status),
        Ok(200),
        "hello after hostile {path}"
    );
    result
}

#[test]
fn a_guest_asleep_in_a_wasi_wait_times_out_at_its_deadline() -> anyhow::Result<()> {
    let (_dir, host) = host_with_hostile("[limits]\ndeadline_ms = 200", |_| {})?;
    // Each sleeps a minute; epoch interruption alone cannot stop a guest
    // parked in a host call, so before the fix each answered after 60 s.
    for path in ["/sleep/60000", "/subscribe/60000", "/poll/60000"] {
        let err = contained_at(&host, "GET", path, None).err();
        assert_eq!(err, Some(CallError::Timeout { deadline_ms: 200 }), "{path}");
    }
    // A short wait inside the deadline still completes.
    let short = contained_at(&host, "GET", "/sleep/1", None)?;
    assert_eq!(short.body, b"woke up".to_vec());
    Ok(())
}

#[test]
fn one_apps_stuck_calls_never_take_the_slots_other_apps_need() -> anyhow::Result<()> {
    let (_dir, host) = host_with_hostile("[limits]\ndeadline_ms = 10000", |c| {
        c.max_concurrent_calls = 8;
        c.max_concurrent_calls_per_app = 2;
    })?;
    let host = std::sync::Arc::new(host);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Twenty calls that each sleep past the deadline: the app holds its
    // two slots, the rest wait in its own queue.
    for _ in 0..20 {
        let host = host.clone();
        rt.spawn(async move {
            let _ = host
                .call_async("hostile", Caller::default(), get("/sleep/60000"))
                .await;
        });
    }
    superapp_tests::wait_until(
        "the sleeping calls to hold the app's slots",
        std::time::Duration::from_secs(30),
        || host.runtime().calls_in_flight("hostile") == 2,
    )?;
    let hello = host.call("hello", Caller::default(), get("/"));
    assert_eq!(hello.map(|r| r.status), Ok(200), "hello is served at once");
    assert_eq!(
        host.runtime().calls_in_flight("hostile"),
        2,
        "hello did not wait for the sleepers to end"
    );
    // Dropping the runtime cancels the sleepers cleanly: their slots return.
    drop(rt);
    assert_eq!(host.runtime().calls_in_flight("hostile"), 0);
    let hello = host.call("hello", Caller::default(), get("/"));
    assert_eq!(hello.map(|r| r.status), Ok(200));
    Ok(())
}

#[test]
fn a_tight_storage_write_loop_stops_at_the_deadline_within_its_quota() -> anyhow::Result<()> {
    let (_dir, host) = host_with_hostile(
        "[limits]\ndeadline_ms = 300\nstorage_quota_kib = 256",
        |_| {},
    )?;
    let err = contained_at(&host, "GET", "/storage-loop", None).err();
    assert_eq!(err, Some(CallError::Timeout { deadline_ms: 300 }));
    let used = host.storage_usage("hostile")?;
    assert!(used <= 256 << 10, "the quota held: {used} bytes");
    assert!(used > 0, "it did write until the quota");
    Ok(())
}

#[test]
fn output_floods_are_cut_off_and_never_fail_or_stall_the_host() -> anyhow::Result<()> {
    let (_dir, host) = host_with_hostile("[limits]\ndeadline_ms = 2000", |_| {})?;
    // 2 MiB of output (32 times the cap) is dropped past the cap; the call
    // itself succeeds.
    let burst = contained_at(&host, "GET", "/print-burst", None)?;
    assert_eq!(burst.body, b"printed".to_vec());
    for path in ["/print-flood", "/log-flood"] {
        let err = contained_at(&host, "GET", path, None).err();
        assert_eq!(
            err,
            Some(CallError::Timeout { deadline_ms: 2000 }),
            "{path}"
        );
    }
    Ok(())
}

#[test]
fn hundreds_of_payment_requests_from_one_call_stop_at_the_pending_cap() -> anyhow::Result<()> {
    // On the database backend each refusal is decided in its own
    // transaction (after other hosts' batches), a few milliseconds each:
    // the flood is sized so a loaded CI machine stays far inside the
    // deadline (10 s, the most a manifest may ask for).
    let (_dir, host) = host_with_hostile("[limits]\ndeadline_ms = 10000", |c| {
        c.wallet.max_pending_per_person = 20;
        c.wallet.max_pending_per_app = 25;
    })?;
    let ann = superapp_tests::person(&host, "ann")?;
    let resp = contained_at(&host, "POST", "/wallet-flood/600", Some(ann.clone()))?;
    let answer: serde_json::Value = serde_json::from_slice(&resp.body)?;
    assert_eq!(answer["created"], 20, "{answer}");
    assert_eq!(answer["refused"]["limit-reached"], 580, "{answer}");
    let pending = superapp_host::platform::block_on(host.pending_payments(&ann))?;
    assert_eq!(pending.len(), 20, "only the capped intents wait for ann");
    // Another person of the same app is not affected by ann's pile.
    let ben = superapp_tests::person(&host, "ben")?;
    let resp = contained_at(&host, "POST", "/wallet-flood/5", Some(ben))?;
    let answer: serde_json::Value = serde_json::from_slice(&resp.body)?;
    assert_eq!(answer["created"], 5, "{answer}");
    // The app as a whole has 25 waiting now: its cap.
    let cai = superapp_tests::person(&host, "cai")?;
    let resp = contained_at(&host, "POST", "/wallet-flood/3", Some(cai))?;
    let answer: serde_json::Value = serde_json::from_slice(&resp.body)?;
    assert_eq!(answer["refused"]["limit-reached"], 3, "{answer}");
    Ok(())
}
