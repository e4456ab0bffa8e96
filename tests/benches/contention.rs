//! Storage under contention, over the real HTTP API on 127.0.0.1 with real
//! sled: 64 client threads all bump one counter with the tutorial app's
//! `POST /visits` (`update_json`: read, change, compare-and-swap, again on
//! conflict), against the same threads each writing their own key with
//! `PUT /note` (a plain `set`, no contention: the baseline). Checks that no
//! visit is lost. Three rounds; medians and ratios.
//! Run: `cargo bench -p superapp-tests --bench contention`.

use serde_json::json;
use std::time::Instant;
use superapp_tests::{
    PASSWORD, login, median, open_host, percentile, root, send, send_json, serve_shared,
};

const THREADS: usize = 64;
const PER_THREAD: usize = 50;
const ROUNDS: usize = 3;

/// Every thread makes `PER_THREAD` calls; returns (calls/s, latencies ms).
fn hammer(
    tokens: &[String],
    call: impl Fn(&str, usize) -> anyhow::Result<u16> + Sync,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let start = Instant::now();
    let per_thread: Vec<anyhow::Result<Vec<f64>>> = std::thread::scope(|s| {
        let calls: Vec<_> = tokens
            .iter()
            .map(|t| {
                let call = &call;
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(PER_THREAD);
                    for i in 0..PER_THREAD {
                        let t0 = Instant::now();
                        let status = call(t, i)?;
                        anyhow::ensure!(status == 200, "status {status}");
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(lat)
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|c| {
                c.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client panicked")))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for l in per_thread {
        all.extend(l?);
    }
    Ok(((THREADS * PER_THREAD) as f64 / secs, all))
}

fn visits(base: &str, token: &str) -> anyhow::Result<u64> {
    let r = send(
        "GET",
        &format!("{base}/apps/hello/call/visits"),
        Some(token),
        None,
    )?;
    Ok(r.json()["count"].as_u64().unwrap_or(0))
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    let handles: Vec<String> = (0..THREADS).map(|i| format!("c{i:02}")).collect();
    for h in &handles {
        host.identity().add_user(h, None, Some(PASSWORD))?;
    }
    let (base, _host, _rt) = serve_shared(host)?;
    let tokens = handles
        .iter()
        .map(|h| login(&base, h))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let (mut hot, mut hot_p50, mut hot_p99) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cold, mut cold_p50, mut cold_p99) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (rate, mut lat) = hammer(&tokens, |t, i| {
            let body = json!({ "text": format!("note {i}") });
            Ok(send_json(
                "PUT",
                &format!("{base}/apps/hello/call/note"),
                Some(t),
                &body,
            )?
            .status)
        })?;
        cold.push(rate);
        cold_p50.push(percentile(&mut lat, 50));
        cold_p99.push(percentile(&mut lat, 99));
        let before = visits(&base, &tokens[0])?;
        let (rate, mut lat) = hammer(&tokens, |t, _| {
            Ok(send(
                "POST",
                &format!("{base}/apps/hello/call/visits"),
                Some(t),
                Some((b"", "application/json")),
            )?
            .status)
        })?;
        let counted = visits(&base, &tokens[0])? - before;
        anyhow::ensure!(
            counted == (THREADS * PER_THREAD) as u64,
            "lost visits: {counted} counted of {}",
            THREADS * PER_THREAD
        );
        hot.push(rate);
        hot_p50.push(percentile(&mut lat, 50));
        hot_p99.push(percentile(&mut lat, 99));
        println!(
            "round {round}: one hot counter {:.0} calls/s (p50 {:.1} ms, p99 {:.1} ms), all {counted} counted; own keys {:.0} calls/s (p50 {:.1} ms, p99 {:.1} ms)",
            hot[round],
            hot_p50[round],
            hot_p99[round],
            cold[round],
            cold_p50[round],
            cold_p99[round]
        );
    }
    let (h, c) = (median(hot), median(cold));
    println!(
        "median over {ROUNDS} rounds, {THREADS} threads × {PER_THREAD} calls: one counter (compare-and-swap) {h:.0} calls/s, p50 {:.1} ms, p99 {:.1} ms; own keys (set) {c:.0} calls/s, p50 {:.1} ms, p99 {:.1} ms; ratio {:.2}; no visit lost",
        median(hot_p50),
        median(hot_p99),
        median(cold_p50),
        median(cold_p99),
        h / c
    );
    Ok(())
}
