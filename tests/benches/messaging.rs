//! Messaging throughput over the real HTTP API on 127.0.0.1 with real sled:
//! (1) one message to a 500-member group with every member connected to
//! `GET /me/events` (500 streams read by a separate client process, one
//! thread, as real clients are not in the server's process) —
//! deliveries/s and send-to-receipt p50/p99, against the same messages in a
//! direct chat with one connected reader (the baseline);
//! (2) durable messages/s and p50/p99 across 1,000 direct chats from 64
//! keep-alive connections (a separate client process), against `GET
//! /healthz` from the same client at the same concurrency (the HTTP floor),
//! in interleaved rounds. Three rounds each; medians and ratios. Targets:
//! group send→receipt p99 ≤ 20 ms; ≥ 20,000 messages/s with p99 < 20 ms.
//! (3) the store alone: 64 writers making durable direct-message writes
//! (the message and both members' stream entries) straight on the sled
//! messaging store, no HTTP — the ceiling the HTTP figure is under.
//! Run: `cargo bench -p superapp-tests --bench messaging`.

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use superapp_tests::load::{self, Load, Req, Sample};
use superapp_tests::{PASSWORD, login, median, open_host, percentile, send_json, serve_shared};

const MEMBERS: usize = 500;
const FANOUT_MESSAGES: usize = 20;
const PEOPLE: usize = 100;
const CHATS: usize = 1_000;
const CONNECTIONS: usize = 64;
const ROUND_MS: u64 = 3_000;
const ROUNDS: usize = 3;

/// Logs every handle in parallel (argon2 makes this the slow part).
fn login_all(base: &str, handles: &[String]) -> anyhow::Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let tokens = Mutex::new(vec![String::new(); handles.len()]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(h) = handles.get(i) else { break };
                    if let (Ok(t), Ok(mut all)) = (login(base, h), tokens.lock()) {
                        all[i] = t;
                    }
                }
            });
        }
    });
    let tokens = tokens
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    anyhow::ensure!(tokens.iter().all(|t| !t.is_empty()), "a login failed");
    Ok(tokens)
}

fn post(
    base: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let r = send_json("POST", &format!("{base}{path}"), Some(token), &body)?;
    anyhow::ensure!(
        r.status == 201 || r.status == 200,
        "{path}: {} {}",
        r.status,
        r.body
    );
    Ok(r.json())
}

/// Sends `FANOUT_MESSAGES` into `conv` with every reader connected (in a
/// separate process, as real clients are); returns (deliveries/s,
/// send→receipt latencies in ms).
fn fan_out(
    base: &str,
    sender: &str,
    conv: &str,
    readers: &[String],
) -> anyhow::Result<(f64, Vec<f64>)> {
    let reading = load::ReaderProcess::start(&load::Readers {
        addr: base.trim_start_matches("http://").parse()?,
        tokens: readers.to_vec(),
        expect: FANOUT_MESSAGES,
    })?;
    let first = load::now_us();
    for i in 0..FANOUT_MESSAGES {
        post(
            base,
            &format!("/me/conversations/{conv}/messages"),
            sender,
            json!({ "kind": "text", "text": format!("m{i}@{}", load::now_us()) }),
        )?;
    }
    let got = reading.finish()?;
    anyhow::ensure!(
        got.latencies_us.len() == readers.len() * FANOUT_MESSAGES,
        "{} of {} deliveries",
        got.latencies_us.len(),
        readers.len() * FANOUT_MESSAGES
    );
    let rate = got.latencies_us.len() as f64 / ((got.last_us.max(first + 1) - first) as f64 / 1e6);
    Ok((
        rate,
        got.latencies_us.iter().map(|us| *us as f64 / 1e3).collect(),
    ))
}

/// 64 tasks writing direct messages straight on a sled messaging store for
/// a round each; returns (writes/s, p50 ms, p99 ms) medians.
fn store_alone() -> anyhow::Result<(f64, f64, f64)> {
    use superapp_host::messaging::{Body, LiveEvent, Message, Sender};
    use superapp_host::store::{MessagingStore, MessagingWrite};
    let dir = tempfile::tempdir()?;
    let db = superapp_host::store::Db::open(dir.path())?;
    let store: Arc<dyn MessagingStore> = Arc::new(db.messaging()?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let deadline = Instant::now() + std::time::Duration::from_millis(ROUND_MS);
        let started = Instant::now();
        let mut lat = rt.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..CONNECTIONS {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let w = store.write_ordered(
                            &mut |next| {
                                let id = next().ok()?;
                                let m = Message {
                                    id,
                                    conversation: format!("c{c}"),
                                    sender: Sender::System,
                                    body: Body::Text { text: "hi".into() },
                                    at: 0,
                                };
                                let event = LiveEvent::message(m.clone());
                                Some(MessagingWrite {
                                    stream: vec![
                                        (format!("a{c}"), event.clone()),
                                        (format!("b{c}"), event),
                                    ],
                                    messages: vec![m],
                                    ..MessagingWrite::default()
                                })
                            },
                            &mut |_, _| {},
                        )?;
                        if let Some((_, ticket)) = w {
                            store.flush_write(ticket).await?;
                        }
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    anyhow::Ok(lat)
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            anyhow::Ok(all)
        })?;
        let rate = lat.len() as f64 / started.elapsed().as_secs_f64();
        rounds.push((rate, percentile(&mut lat, 50), percentile(&mut lat, 99)));
    }
    Ok((
        median(rounds.iter().map(|r| r.0).collect()),
        median(rounds.iter().map(|r| r.1).collect()),
        median(rounds.iter().map(|r| r.2).collect()),
    ))
}

fn main() -> anyhow::Result<()> {
    if load::client_if_asked()? || load::reader_if_asked()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    let handles: Vec<String> = (0..MEMBERS).map(|i| format!("p{i:03}")).collect();
    for h in &handles {
        host.identity().add_user(h, None, Some(PASSWORD))?;
    }
    let (base, _host, _rt) = serve_shared(host)?;
    println!("logging in {MEMBERS} people…");
    let tokens = login_all(&base, &handles)?;

    // (1) fan-out
    let group = post(
        &base,
        "/me/conversations",
        &tokens[0],
        json!({ "title": "bench", "members": handles[1..] }),
    )?;
    let group = group["id"].as_str().unwrap_or_default().to_string();
    let direct = post(
        &base,
        "/me/conversations",
        &tokens[0],
        json!({ "members": [handles[1]] }),
    )?;
    let direct = direct["id"].as_str().unwrap_or_default().to_string();
    let (mut g_rate, mut g_p50, mut g_p99) = (Vec::new(), Vec::new(), Vec::new());
    let (mut d_p50, mut d_p99) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (_, mut lat) = fan_out(&base, &tokens[0], &direct, &tokens[1..2])?;
        d_p50.push(percentile(&mut lat, 50));
        d_p99.push(percentile(&mut lat, 99));
        let (rate, mut lat) = fan_out(&base, &tokens[0], &group, &tokens[..])?;
        g_rate.push(rate);
        g_p50.push(percentile(&mut lat, 50));
        g_p99.push(percentile(&mut lat, 99));
        println!(
            "round {round}: group {:.0} deliveries/s p50 {:.1} ms p99 {:.1} ms; direct p50 {:.2} ms",
            g_rate[round], g_p50[round], g_p99[round], d_p50[round]
        );
    }

    // (2) 1,000 direct chats among the first 100 people.
    let mut pairs = Vec::new();
    'outer: for a in 0..PEOPLE {
        for b in a + 1..PEOPLE {
            pairs.push((a, b));
            if pairs.len() == CHATS {
                break 'outer;
            }
        }
    }
    let chats: Vec<(usize, String)> = pairs
        .iter()
        .map(|&(a, b)| {
            post(
                &base,
                "/me/conversations",
                &tokens[a],
                json!({ "members": [handles[b]] }),
            )
            .map(|c| (a, c["id"].as_str().unwrap_or_default().to_string()))
        })
        .collect::<anyhow::Result<_>>()?;
    // Connection j sends into chats j, j + 64, …, each as its first member.
    let addr = base.trim_start_matches("http://").parse()?;
    let sends = Load {
        addr,
        connections: (0..CONNECTIONS)
            .map(|j| {
                chats
                    .iter()
                    .skip(j)
                    .step_by(CONNECTIONS)
                    .map(|(who, conv)| {
                        Req::post_json(
                            &format!("/me/conversations/{conv}/messages"),
                            &tokens[*who],
                            &json!({ "kind": "text", "text": "hi" }),
                            201,
                        )
                    })
                    .collect()
            })
            .collect(),
        round_ms: ROUND_MS,
    };
    let floor = Load {
        addr,
        connections: vec![vec![Req::get("/healthz", None)]; CONNECTIONS],
        round_ms: ROUND_MS,
    };
    // Warm-up: connections, caches.
    load::remote(&Load {
        round_ms: 500,
        ..sends.clone()
    })?;
    let (mut chat, mut healthz): (Vec<Sample>, Vec<Sample>) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut c = load::remote(&sends)?;
        let f = load::remote(&floor)?;
        println!(
            "round {round}: {:.0} messages/s (p99 {:.1} ms) over {CHATS} chats; /healthz {:.0} req/s",
            c.rate(),
            c.pct_us(99) / 1e3,
            f.rate()
        );
        chat.push(c);
        healthz.push(f);
    }
    let stats = |v: &mut Vec<Sample>| {
        (
            median(v.iter().map(Sample::rate).collect()),
            median(v.iter_mut().map(|s| s.pct_us(50) / 1e3).collect()),
            median(v.iter_mut().map(|s| s.pct_us(99) / 1e3).collect()),
        )
    };
    let (cr, cp50, cp99) = stats(&mut chat);
    let (fr, fp50, fp99) = stats(&mut healthz);
    let (sr, sp50, sp99) = store_alone()?;

    let (gr, gp50, gp99) = (median(g_rate), median(g_p50), median(g_p99));
    let (dp50, dp99) = (median(d_p50), median(d_p99));
    println!();
    println!(
        "500-member group, all connected ({FANOUT_MESSAGES} messages × {MEMBERS} streams, medians of {ROUNDS}):"
    );
    println!(
        "  {gr:.0} deliveries/s; send→receipt p50 {gp50:.1} ms, p99 {gp99:.1} ms (target p99 ≤ 20 ms)"
    );
    println!(
        "  baseline, direct chat with one reader: p50 {dp50:.2} ms, p99 {dp99:.2} ms ({:.1}× the p99)",
        gp99 / dp99.max(1e-9)
    );
    println!(
        "{CHATS} direct chats, {CONNECTIONS} keep-alive connections, durable sends (medians of {ROUNDS} rounds of {} s):",
        ROUND_MS / 1000
    );
    println!(
        "  {cr:.0} messages/s, p50 {cp50:.2} ms, p99 {cp99:.2} ms (target ≥ 20,000/s with p99 < 20 ms)"
    );
    println!(
        "  /healthz from the same client: {fr:.0} req/s, p50 {fp50:.2} ms, p99 {fp99:.2} ms; ratio messages / healthz {:.2}",
        cr / fr.max(1e-9)
    );
    println!(
        "the sled messaging store alone, {CONNECTIONS} writers, durable direct-message writes: {sr:.0}/s, p50 {sp50:.2} ms, p99 {sp99:.2} ms; HTTP reaches {:.2} of it",
        cr / sr.max(1e-9)
    );
    Ok(())
}
