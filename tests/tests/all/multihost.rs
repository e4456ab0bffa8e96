//! Several hosts on one PostgreSQL database: this process's host and
//! `superapp serve` processes, each with its own data folder (its cache of
//! compiled components) and its own memory, sharing only the database.
//! What one host does, every other sees; money is exact however requests
//! are spread; a host killed with `kill -9` loses nothing it acknowledged.

use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use superapp_tests::{
    EventStream, HELLO_CAPS, STORAGE, TestServer, cli, guest, login, manifest, post_keyed, send,
    send_json, wait_until,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_superapp-under-test"))
}

/// `n` hosts on a fresh database, with `manifests` and `people` installed.
fn hosts(manifests: &[&str], people: &[(&str, &str)], n: usize) -> anyhow::Result<TestServer> {
    let url = superapp_store::pg::testing::fresh_database();
    let t = TestServer::start_many_with(manifests, people, n, bin(), |c| {
        c.store = superapp_store::StoreSpec::Postgres(url);
    })?;
    anyhow::ensure!(t.hosts() == n, "{} hosts, not {n}", t.hosts());
    Ok(t)
}

fn balance(base: &str, token: &str) -> anyhow::Result<u64> {
    let r = send("GET", &format!("{base}/me/wallet"), Some(token), None)?;
    anyhow::ensure!(r.status == 200, "balance: {} {}", r.status, r.body);
    r.json()["balance"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no balance in {}", r.body))
}

fn audit(t: &TestServer, host: usize) -> anyhow::Result<Value> {
    let r = send(
        "GET",
        &format!("{}/admin/wallet/audit", t.base_of(host)),
        Some(&t.admin),
        None,
    )?;
    anyhow::ensure!(r.status == 200, "audit: {} {}", r.status, r.body);
    Ok(r.json())
}

#[test]
fn a_transfer_through_one_host_is_seen_through_another_and_a_retry_there_replays_it()
-> anyhow::Result<()> {
    let t = hosts(&[], &[("alice", "Alice"), ("bob", "Bob")], 2)?;
    let r = t.top_up("alice", 10_000, "mh-topup-1")?;
    assert_eq!(r.status, 200, "{}", r.body);
    let (a, b) = (t.base_of(0), t.base_of(1));
    let alice = login(a, "alice")?;
    let bob = login(b, "bob")?;
    let body = json!({"to": "bob", "amount": 2_500});
    let first = post_keyed(&format!("{a}/me/transfers"), Some(&alice), "mh-t-1", &body)?;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        balance(b, &bob)?,
        2_500,
        "bob sees it through the other host"
    );
    assert_eq!(balance(b, &alice)?, 7_500);
    let again = post_keyed(&format!("{b}/me/transfers"), Some(&alice), "mh-t-1", &body)?;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["seq"], first.json()["seq"], "the first answer");
    assert_eq!(balance(a, &alice)?, 7_500, "and nothing paid twice");
    for host in 0..2 {
        let audit = audit(&t, host)?;
        assert_eq!(audit["totals"]["issued"], 10_000, "{audit}");
    }
    Ok(())
}

#[test]
fn a_thousand_people_claim_one_packet_through_three_hosts_and_exactly_a_hundred_win()
-> anyhow::Result<()> {
    const PEOPLE: usize = 1_000;
    const TOTAL: u64 = 10_000;
    let t = hosts(&[], &[("sender", "Sender")], 3)?;
    let r = t.top_up("sender", TOTAL, "storm-topup")?;
    assert_eq!(r.status, 200, "{}", r.body);
    let sender = login(t.base_of(0), "sender")?;
    let r = post_keyed(
        &format!("{}/me/red-packets", t.base_of(1)),
        Some(&sender),
        "storm-packet",
        &json!({"total": TOTAL, "count": 100}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let packet = r.json()["id"].as_str().unwrap_or_default().to_string();
    // People without passwords, signed in by the host itself (a thousand
    // password hashes would only slow the test down).
    let id = t.host.identity();
    let mut tokens = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let u = id.add_user(&format!("claimer{i:04}"), None, None)?;
        tokens.push(id.start_session(u.id, 3_600)?.token);
    }
    let bases: Vec<String> = (0..3).map(|i| t.base_of(i).to_string()).collect();
    // (first status, first amount, first new, second status, second amount, second new)
    type Claim = (u16, u64, bool, u16, u64, bool);
    let results: Arc<Mutex<Vec<Claim>>> = Arc::default();
    std::thread::scope(|scope| {
        for w in 0..16 {
            let (tokens, bases, results, packet) = (&tokens, &bases, &results, &packet);
            scope.spawn(move || {
                for i in (w..PEOPLE).step_by(16) {
                    let claim = |host: usize| {
                        let url = format!("{}/me/red-packets/{packet}/claim", bases[host % 3]);
                        match send("POST", &url, Some(&tokens[i]), None) {
                            Ok(r) => (
                                r.status,
                                r.json()["amount"].as_u64().unwrap_or(0),
                                r.json()["new"].as_bool().unwrap_or(false),
                            ),
                            Err(_) => (0, 0, false),
                        }
                    };
                    let (s1, a1, n1) = claim(i);
                    let (s2, a2, n2) = claim(i + 1);
                    if let Ok(mut r) = results.lock() {
                        r.push((s1, a1, n1, s2, a2, n2));
                    }
                }
            });
        }
    });
    let results = results.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(results.len(), PEOPLE);
    let winners: Vec<&Claim> = results.iter().filter(|c| c.0 == 200 && c.2).collect();
    assert_eq!(winners.len(), 100, "exactly the packet's shares are won");
    assert_eq!(
        winners.iter().map(|c| c.1).sum::<u64>(),
        TOTAL,
        "the shares add up to the packet"
    );
    for c in &results {
        assert!(
            c.0 == 200 || c.0 == 410,
            "a claim answers its share or that the packet is empty: {c:?}"
        );
        if c.0 == 200 {
            assert_eq!((c.3, c.4, c.5), (200, c.1, false), "a second claim replays");
        } else {
            assert_eq!(c.3, 410, "a loser stays a loser: {c:?}");
        }
    }
    let audit = audit(&t, 2)?;
    assert_eq!(audit["totals"]["issued"], TOTAL, "{audit}");
    assert_eq!(audit["totals"]["held"], TOTAL, "{audit}");
    Ok(())
}

#[test]
fn a_live_stream_on_one_host_hears_what_happens_on_another() -> anyhow::Result<()> {
    let t = hosts(
        &["manifests/red-packet.toml"],
        &[("alice", "Alice"), ("bob", "Bob")],
        2,
    )?;
    let (a, b) = (t.base_of(0).to_string(), t.base_of(1).to_string());
    let r = t.top_up("alice", 5_000, "live-topup")?;
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = login(&a, "alice")?;
    let bob = login(&a, "bob")?;
    // Alice listens on host B; everything below happens on host A.
    let mut stream = match EventStream::open(&b, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    let r = send_json(
        "POST",
        &format!("{a}/me/conversations"),
        Some(&bob),
        &json!({"members": ["alice"]}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let conv = r.json()["id"].as_str().unwrap_or_default().to_string();
    let r = send_json(
        "POST",
        &format!("{a}/me/conversations/{conv}/messages"),
        Some(&bob),
        &json!({"kind": "text", "text": "sent through A"}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = stream.next_event()?;
    assert_eq!(
        (e.event.as_str(), &e.data["text"]),
        ("message", &json!("sent through A"))
    );

    // An app call on A asks Alice to pay: the prompt reaches her on B.
    let r = send_json(
        "POST",
        &format!("{a}/apps/red-packet/call/packets"),
        Some(&alice),
        &json!({"total": 1_000, "count": 2, "greeting": "hi", "key": "mh-live-0001"}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let confirm = r.json()["confirm"].as_str().unwrap_or_default().to_string();
    let packet = r.json()["packet"].as_str().unwrap_or_default().to_string();
    let e = stream.next_event()?;
    assert_eq!(e.event, "payment-prompt", "{:?}", e.data);
    assert_eq!(e.data["amount"], 1_000);
    let r = send("POST", &format!("{a}{confirm}"), Some(&alice), None)?;
    assert_eq!(r.status, 200, "{}", r.body);

    // Bob opens the packet on A: Alice hears it on B.
    let r = send(
        "POST",
        &format!("{a}/me/red-packets/{packet}/claim"),
        Some(&bob),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = stream.next_event()?;
    assert_eq!(e.event, "packet-claimed", "{:?}", e.data);
    assert_eq!(e.data["by"]["handle"], "bob");
    Ok(())
}

/// What app `multi` answers at `/` through host `base` (status and body:
/// each version answers differently).
fn answer(base: &str) -> anyhow::Result<String> {
    let token = login(base, "alice")?;
    let r = send(
        "GET",
        &format!("{base}/apps/multi/call/"),
        Some(&token),
        None,
    )?;
    anyhow::ensure!(
        r.status != 404 || r.body.contains("no route"),
        "call: {} {}",
        r.status,
        r.body
    );
    Ok(format!("{} {}", r.status, r.body))
}

#[test]
fn an_install_or_upgrade_on_one_host_is_live_on_every_host() -> anyhow::Result<()> {
    let mut t = hosts(&[], &[("alice", "Alice")], 3)?;
    let dir = tempfile::tempdir()?;
    let v1 = manifest(dir.path(), "multi", &guest("hello"), HELLO_CAPS);
    let v2_dir = tempfile::tempdir()?;
    let v2 = manifest(v2_dir.path(), "multi", &guest("fixture_kv"), STORAGE);
    let data = |t: &mut TestServer, i: usize| t.process(i).data.display().to_string();

    // Installed through host A (a process), called through host B.
    let a = data(&mut t, 1);
    let (ok, out, err) = cli(&["--data", &a, "install", "--dev", &v1.display().to_string()]);
    assert!(ok, "{out}{err}");
    let first = answer(t.base_of(2))?;
    assert_eq!(answer(t.base_of(1))?, first);

    // Replaced through host C (this process), called again through A.
    let host = t.host.clone();
    host.install_dev(&v2, true)?;
    let second = answer(t.base_of(0))?;
    assert_ne!(second, first, "the new component answers");
    let base_a = t.base_of(1).to_string();
    let mut seen = String::new();
    wait_until(
        "host A to run the new version",
        Duration::from_secs(5),
        || {
            seen = answer(&base_a).unwrap_or_default();
            seen == second
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}: A answered {seen}"))?;

    // Removed through B: gone on every host.
    let b = data(&mut t, 2);
    let (ok, out, err) = cli(&["--data", &b, "apps", "remove", "multi"]);
    assert!(ok, "{out}{err}");
    let token = login(t.base_of(0), "alice")?;
    for i in 0..3 {
        let url = format!("{}/apps/multi/call/", t.base_of(i));
        wait_until(
            "the removal to reach every host",
            Duration::from_secs(5),
            || {
                send("GET", &url, Some(&token), None)
                    .is_ok_and(|r| r.status == 404 && !r.body.contains("no route"))
            },
        )?;
    }
    Ok(())
}

/// (idempotency key, amount, the ledger seq of its first answer).
type Acked = Arc<Mutex<Vec<(String, u64, Value)>>>;

#[test]
fn a_host_killed_under_load_loses_nothing_acknowledged_and_retries_elsewhere_pay_once()
-> anyhow::Result<()> {
    const TOPUP: u64 = 1_000_000;
    let mut t = hosts(&[], &[("alice", "Alice"), ("bob", "Bob")], 3)?;
    let r = t.top_up("alice", TOPUP, "kill-topup")?;
    assert_eq!(r.status, 200, "{}", r.body);
    let (victim, survivor) = (t.base_of(1).to_string(), t.base_of(2).to_string());
    let alice = login(&survivor, "alice")?;
    let bob = login(&survivor, "bob")?;
    // Every key is tried until it is acknowledged: first through the
    // victim (until it dies), then through the survivor.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let workers: Vec<_> = (0..6u64)
        .map(|w| {
            let (victim, survivor, alice, stop, acked) = (
                victim.clone(),
                survivor.clone(),
                alice.clone(),
                stop.clone(),
                acked.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("kill-w{w}-{i:05}");
                    let amount = 1 + w;
                    i += 1;
                    let body = json!({"to": "bob", "amount": amount});
                    let mut tries = 0;
                    loop {
                        let base = if tries == 0 { &victim } else { &survivor };
                        tries += 1;
                        match post_keyed(&format!("{base}/me/transfers"), Some(&alice), &key, &body)
                        {
                            Ok(r) if r.status == 200 => {
                                if let Ok(mut a) = acked.lock() {
                                    a.push((key.clone(), amount, r.json()["seq"].clone()));
                                }
                                break;
                            }
                            _ if tries < 50 => continue,
                            _ => break,
                        }
                    }
                }
            })
        })
        .collect();
    let count = |acked: &Acked| acked.lock().map_or(0, |a| a.len());
    wait_until(
        "some transfers through the victim",
        Duration::from_secs(60),
        || count(&acked) >= 200,
    )?;
    t.process(1).kill()?;
    let at_kill = count(&acked);
    wait_until(
        "more transfers after the kill",
        Duration::from_secs(60),
        || count(&acked) >= at_kill + 200,
    )?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    // Every acknowledged key retried through the survivor replays its
    // first answer and pays nothing.
    for (key, amount, seq) in acked.iter().step_by(7) {
        let r = post_keyed(
            &format!("{survivor}/me/transfers"),
            Some(&alice),
            key,
            &json!({"to": "bob", "amount": amount}),
        )?;
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        assert_eq!(&r.json()["seq"], seq, "{key} replays");
    }
    let paid: u64 = acked.iter().map(|(_, a, _)| a).sum();
    assert_eq!(
        balance(&survivor, &bob)?,
        paid,
        "every acknowledged transfer, once"
    );
    assert_eq!(balance(&survivor, &alice)?, TOPUP - paid);
    let audit = audit(&t, 2)?;
    assert_eq!(audit["totals"]["issued"], TOPUP, "{audit}");
    Ok(())
}

#[test]
fn an_embedded_deployment_moves_into_the_database_with_every_balance_and_message()
-> anyhow::Result<()> {
    use superapp_tests::{PASSWORD, root, serve_with_admin};
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let conv;
    {
        // An embedded deployment, whatever backend the rest of the run uses.
        let mut config = superapp_host::HostConfig::new(&data);
        config.max_concurrent_calls = 16;
        let host = superapp_host::Superapp::open(config)?;
        host.install_dev(&root().join("manifests/red-packet.toml"), false)?;
        host.install_dev(
            &manifest(dir.path(), "hello", &guest("hello"), HELLO_CAPS),
            false,
        )?;
        for h in ["alice", "bob"] {
            host.identity().add_user(h, Some(h), Some(PASSWORD))?;
        }
        let (base, _host, _rt) = serve_with_admin(host)?;
        let admin = superapp_host::remote::ServeInfo::read(&data)
            .map(|i| i.token)
            .ok_or_else(|| anyhow::anyhow!("no serve.json"))?;
        let r = post_keyed(
            &format!("{base}/admin/wallet/topup"),
            Some(&admin),
            "copy-topup",
            &json!({"handle": "alice", "amount": 9_000}),
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
        let alice = login(&base, "alice")?;
        let r = post_keyed(
            &format!("{base}/me/transfers"),
            Some(&alice),
            "copy-t-1",
            &json!({"to": "bob", "amount": 1_234}),
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = send_json(
            "POST",
            &format!("{base}/me/conversations"),
            Some(&alice),
            &json!({"members": ["bob"]}),
        )?;
        conv = r.json()["id"].as_str().unwrap_or_default().to_string();
        let r = send_json(
            "POST",
            &format!("{base}/me/conversations/{conv}/messages"),
            Some(&alice),
            &json!({"kind": "text", "text": "before the move"}),
        )?;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = send(
            "GET",
            &format!("{base}/apps/hello/call/"),
            Some(&alice),
            None,
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
        // The server and the host stop here, releasing the folder.
    }
    std::fs::remove_file(data.join("serve.json"))?;

    let url = superapp_store::pg::testing::fresh_database();
    let (ok, out, err) = cli(&[
        "store",
        "copy",
        "--from",
        &data.display().to_string(),
        "--to",
        &url,
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("audit passed on both"), "{out}");
    let (ok, _, err) = cli(&[
        "store",
        "copy",
        "--from",
        &data.display().to_string(),
        "--to",
        &url,
    ]);
    assert!(
        !ok && err.contains("[store-not-empty]"),
        "a second copy is refused: {err}"
    );

    // A host on the database, with a folder of its own, carries on.
    let t = TestServer::start_many_with(&[], &[], 2, bin(), |c| {
        c.store = superapp_store::StoreSpec::Postgres(url.clone());
    })?;
    let bob = login(t.base_of(1), "bob")?;
    assert_eq!(balance(t.base_of(1), &bob)?, 1_234);
    let alice = login(t.base_of(0), "alice")?;
    assert_eq!(balance(t.base_of(0), &alice)?, 9_000 - 1_234);
    let r = send(
        "GET",
        &format!("{}/me/conversations/{conv}/messages", t.base_of(1)),
        Some(&bob),
        None,
    )?;
    assert!(
        r.status == 200 && r.body.contains("before the move"),
        "{}",
        r.body
    );
    let r = send(
        "GET",
        &format!("{}/apps/hello/call/", t.base_of(1)),
        Some(&alice),
        None,
    )?;
    assert_eq!(r.status, 200, "the copied app runs: {}", r.body);
    let r = send_json(
        "POST",
        &format!("{}/me/conversations/{conv}/messages", t.base_of(0)),
        Some(&bob),
        &json!({"kind": "text", "text": "after the move"}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let audit = audit(&t, 1)?;
    assert_eq!(audit["totals"]["issued"], 9_000, "{audit}");
    Ok(())
}

#[test]
fn failed_logins_spread_over_hosts_add_up_to_one_pause() -> anyhow::Result<()> {
    use superapp_tests::PASSWORD;
    let t = hosts(&[], &[("alice", "Alice"), ("bob", "Bob")], 3)?;
    let attempt = |host: usize, handle: &str, password: &str| {
        send_json(
            "POST",
            &format!("{}/auth/login", t.base_of(host)),
            None,
            &json!({"handle": handle, "password": password}),
        )
    };
    // Five wrong guesses, each through the next host: none is paused yet.
    for i in 0..5 {
        let r = attempt(i % 3, "alice", "not her password")?;
        assert_eq!(
            (r.status, r.problem().as_str()),
            (401, "invalid-credentials")
        );
    }
    // Every host now pauses alice, even for the right password.
    for host in 0..3 {
        let r = attempt(host, "alice", PASSWORD)?;
        assert_eq!(
            (r.status, r.problem().as_str()),
            (429, "login-throttled"),
            "host {host}"
        );
    }
    assert_eq!(
        attempt(1, "bob", PASSWORD)?.status,
        200,
        "bob is not slowed"
    );
    Ok(())
}

#[test]
fn a_host_that_polls_instead_of_listening_still_hears_other_hosts() -> anyhow::Result<()> {
    // As on an engine without LISTEN/NOTIFY (CockroachDB).
    let t = hosts(&[], &[("alice", "Alice"), ("bob", "Bob")], 1)?;
    let superapp_store::StoreSpec::Postgres(url) = t.host.config().store.clone() else {
        anyhow::bail!("not on PostgreSQL");
    };
    let dir = tempfile::tempdir()?;
    let b = superapp_tests::HostProcess::start_with_env(
        bin(),
        &url,
        &dir.path().join("b"),
        Some(&t.admin),
        &[(superapp_store::pg::FOLLOW_ENV, "poll")],
    )?;
    let a = t.base_of(0).to_string();
    let alice = login(&a, "alice")?;
    let bob = login(&a, "bob")?;
    let mut stream = match EventStream::open(&b.base, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    let r = send_json(
        "POST",
        &format!("{a}/me/conversations"),
        Some(&bob),
        &json!({"members": ["alice"]}),
    )?;
    let conv = r.json()["id"].as_str().unwrap_or_default().to_string();
    for text in ["one", "two"] {
        let r = send_json(
            "POST",
            &format!("{a}/me/conversations/{conv}/messages"),
            Some(&bob),
            &json!({"kind": "text", "text": text}),
        )?;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (first, second) = (stream.next_event()?, stream.next_event()?);
    assert_eq!(
        (&first.data["text"], &second.data["text"]),
        (&json!("one"), &json!("two"))
    );
    Ok(())
}

#[test]
fn a_key_rotation_on_one_host_is_published_by_every_host() -> anyhow::Result<()> {
    let mut t = hosts(&[], &[], 2)?;
    let kids = |base: &str| -> anyhow::Result<Vec<String>> {
        let r = send("GET", &format!("{base}/.well-known/jwks.json"), None, None)?;
        anyhow::ensure!(r.status == 200, "jwks: {}", r.body);
        Ok(r.json()["keys"]
            .as_array()
            .map(|ks| {
                ks.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    };
    let before = kids(t.base_of(0))?;
    assert_eq!(kids(t.base_of(1))?, before);
    // Rotated through host B (the CLI goes to its running server).
    let b = t.process(1).data.display().to_string();
    let (ok, out, err) = cli(&["--data", &b, "host-keys", "rotate"]);
    assert!(ok, "{out}{err}");
    let after = kids(t.base_of(0))?;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "host A publishes the new key: {after:?}"
    );
    assert_eq!(kids(t.base_of(1))?, after);
    Ok(())
}
