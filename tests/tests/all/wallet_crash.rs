//! An acknowledged wallet operation survives `kill -9`: a real server
//! process takes concurrent transfers, is killed mid-load, restarts on the
//! same folder, and must still hold every transfer it acknowledged, with
//! the ledger's invariants intact.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use superapp_host::platform::block_on;
use superapp_host::remote::ServeInfo;
use superapp_tests::{login, open_host, person, post_keyed, send, wait_until};

const TOPUP: u64 = 1_000_000;

/// Starts `superapp serve` on `data` and returns it with its base URL, read
/// from the line it prints once it listens.
fn start(data: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_superapp-under-test"));
    if let Some(url) = superapp_tests::store_for(data) {
        cmd.args(["--store", &url]);
    }
    let mut child = cmd
        .args(["--data"])
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .ok_or_else(|| anyhow::anyhow!("the server said: {line}"))?
        .to_string();
    Ok((child, base))
}

#[test]
fn acknowledged_transfers_survive_kill_9_of_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    {
        let host = open_host(&data)?;
        person(&host, "alice")?;
        person(&host, "bob")?;
        block_on(host.top_up("alice", TOPUP, "crash-topup-1"))?;
    }

    let (mut server, base) = start(&data)?;
    let alice = login(&base, "alice")?;
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (url, alice, acked, stop) = (
                format!("{base}/me/transfers"),
                alice.clone(),
                acked.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("crash-w{w}-{i:06}");
                    i += 1;
                    match post_keyed(
                        &url,
                        Some(&alice),
                        &key,
                        &json!({"to": "bob", "amount": 1 + w}),
                    ) {
                        Ok(r) if r.status == 200 => {
                            let seq = r.json()["seq"].as_u64().unwrap_or(0);
                            if let Ok(mut a) = acked.lock() {
                                a.push((key, seq));
                            }
                        }
                        // The server is gone (killed): stop.
                        _ => break,
                    }
                }
            })
        })
        .collect();
    // Kill it mid-load, once it has acknowledged a good number.
    wait_until(
        "300 acknowledged transfers",
        Duration::from_secs(120),
        || acked.lock().map(|a| a.len()).unwrap_or(0) >= 300,
    )?;
    server.kill()?; // SIGKILL on Unix: no shutdown, no flush.
    server.wait()?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 300);

    let (mut server, base) = start(&data)?;
    let admin = ServeInfo::read(&data).map(|i| i.token).unwrap_or_default();
    let alice = login(&base, "alice")?;
    let bob = login(&base, "bob")?;
    let balance = |t: &str| -> anyhow::Result<u64> {
        Ok(
            send("GET", &format!("{base}/me/wallet"), Some(t), None)?.json()["balance"]
                .as_u64()
                .unwrap_or(u64::MAX),
        )
    };
    let bob_before = balance(&bob)?;
    let acked_total: u64 = acked
        .iter()
        .map(|(k, _)| 1 + k[7..8].parse::<u64>().unwrap_or(0))
        .sum();
    assert!(
        bob_before >= acked_total,
        "every acknowledged transfer is there"
    );
    assert_eq!(
        balance(&alice)? + bob_before,
        TOPUP,
        "no money lost or invented"
    );
    // Each acknowledged key replays its first result: it was committed, and
    // retrying it does not pay again.
    for (key, seq) in &acked {
        let w: u64 = key[7..8].parse()?;
        let r = post_keyed(
            &format!("{base}/me/transfers"),
            Some(&alice),
            key,
            &json!({"to": "bob", "amount": 1 + w}),
        )?;
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        assert_eq!(
            r.json()["seq"].as_u64(),
            Some(*seq),
            "{key} kept its place in the ledger"
        );
    }
    assert_eq!(
        balance(&bob)?,
        bob_before,
        "retries of acknowledged transfers paid nothing"
    );
    let audit = send(
        "GET",
        &format!("{base}/admin/wallet/audit"),
        Some(&admin),
        None,
    )?;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(audit.json()["totals"]["issued"], TOPUP);
    assert_eq!(audit.json()["totals"]["held"], TOPUP);
    server.kill()?;
    server.wait()?;
    Ok(())
}

/// An acknowledged message survives `kill -9`: senders post into a direct
/// chat and a group while the server is killed; after a restart on the same
/// folder every acknowledged message is in the history, in id order, each
/// once, and on the readers' streams (the store's resume path).
#[test]
fn acknowledged_messages_survive_kill_9_of_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    {
        let host = open_host(&data)?;
        for p in ["ann", "bob", "cai"] {
            person(&host, p)?;
        }
    }
    let (mut server, base) = start(&data)?;
    let ann = login(&base, "ann")?;
    let new_chat = |body: serde_json::Value| -> anyhow::Result<String> {
        let r = superapp_tests::send_json(
            "POST",
            &format!("{base}/me/conversations"),
            Some(&ann),
            &body,
        )?;
        anyhow::ensure!(r.status == 201, "{}", r.body);
        Ok(r.json()["id"].as_str().unwrap_or_default().to_string())
    };
    let direct = new_chat(json!({ "members": ["bob"] }))?;
    let group = new_chat(json!({ "title": "crash", "members": ["bob", "cai"] }))?;
    let acked: Arc<Mutex<Vec<(String, u64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let conv = if w % 2 == 0 {
                direct.clone()
            } else {
                group.clone()
            };
            let (url, ann, acked, stop) = (
                format!("{base}/me/conversations/{conv}/messages"),
                ann.clone(),
                acked.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("w{w}-{i:06}");
                    i += 1;
                    match superapp_tests::send_json(
                        "POST",
                        &url,
                        Some(&ann),
                        &json!({ "kind": "text", "text": text }),
                    ) {
                        Ok(r) if r.status == 201 => {
                            let id = r.json()["id"].as_u64().unwrap_or(0);
                            if let Ok(mut a) = acked.lock() {
                                a.push((conv.clone(), id, text));
                            }
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    wait_until(
        "500 acknowledged messages",
        Duration::from_secs(120),
        || acked.lock().map(|a| a.len()).unwrap_or(0) >= 500,
    )?;
    server.kill()?;
    server.wait()?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    if !superapp_tests::on_postgres() {
        let wal = std::fs::metadata(data.join("messaging.wal"))?.len();
        assert!(wal > 0, "the redo log holds the last messages, to replay");
    }

    let (mut server, base) = start(&data)?;
    let bob = login(&base, "bob")?;
    for conv in [&direct, &group] {
        // The whole history, oldest first, a page at a time.
        let mut seen: Vec<(u64, String)> = Vec::new();
        let mut after = 0;
        loop {
            let r = send(
                "GET",
                &format!("{base}/me/conversations/{conv}/messages?after={after}&limit=200"),
                Some(&bob),
                None,
            )?;
            anyhow::ensure!(r.status == 200, "{}", r.body);
            let page = r.json()["messages"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                break;
            }
            for m in &page {
                let id = m["id"].as_u64().unwrap_or(0);
                seen.push((id, m["text"].as_str().unwrap_or_default().to_string()));
                after = after.max(id);
            }
        }
        assert!(
            seen.windows(2).all(|w| w[0].0 < w[1].0),
            "in id order, each once"
        );
        for (c, id, text) in acked.iter().filter(|(c, ..)| c == conv) {
            assert!(
                seen.iter().any(|(i, t)| i == id && t == text),
                "acknowledged message {id} ({text}) in {c} survived"
            );
        }
    }
    // Bob's stream from the start has every acknowledged message too.
    let mut stream = match superapp_tests::EventStream::open(&base, &bob, Some("0"))? {
        Ok(s) => s,
        Err(r) => anyhow::bail!("stream refused: {}", r.body),
    };
    let mut on_stream = std::collections::HashSet::new();
    let want: std::collections::HashSet<u64> = acked.iter().map(|(_, id, _)| *id).collect();
    let last = want.iter().copied().max().unwrap_or(0);
    loop {
        let e = stream.next_event()?;
        let id: u64 = e.id.parse()?;
        if e.event == "message" {
            on_stream.insert(e.data["id"].as_u64().unwrap_or(0));
        }
        if id >= last {
            break;
        }
    }
    assert!(
        want.is_subset(&on_stream),
        "every acknowledged message is on the stream"
    );
    server.kill()?;
    server.wait()?;
    Ok(())
}
