//! Host start-up at scale: installs 200 generated mini-apps (signed
//! packages of the hello component under 200 ids), then measures opening the
//! data folder until ready (precompiled artifacts loaded, `InstancePre`
//! built for every app) and resident memory, next to an empty host in the
//! same run. Target: ready in ≤ 1 s with 200 apps.
//! Run: `cargo bench -p superapp-tests --bench startup`.

use ed25519_dalek::SigningKey;
use std::time::{Duration, Instant};
use superapp_host::Superapp;
use superapp_host::packages::{CommitMode, encode_package, public_key_text};
use superapp_tests::{guest, test_config};

const APPS: usize = 200;
const RUNS: usize = 5;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn config(data: &std::path::Path) -> superapp_host::HostConfig {
    let mut c = test_config(data);
    c.max_concurrent_calls = 256;
    c
}

/// Opens the folder and loads every app; returns (time to ready, apps, RSS after).
fn start(data: &std::path::Path) -> anyhow::Result<(Duration, usize, f64)> {
    let t = Instant::now();
    let host = Superapp::open(config(data))?;
    let loaded = host.load_all()?;
    let ready = t.elapsed();
    let rss = rss_mib();
    drop(host);
    Ok((ready, loaded, rss))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let full = dir.path().join("full");
    let empty = dir.path().join("empty");
    let wasm = std::fs::read(guest("hello"))?;
    let key = SigningKey::from_bytes(&[9u8; 32]);
    {
        let host = Superapp::open(config(&full))?;
        host.trust()
            .add(&public_key_text(&key.verifying_key().to_bytes()), None)?;
        let t = Instant::now();
        for i in 0..APPS {
            let manifest = format!(
                "id = \"app-{i:03}\"\nname = \"App {i}\"\nversion = \"1.0.0\"\ndeveloper = \"Bench\"\ncomponent = \"hello.wasm\"\n[capabilities.storage]\npurpose = \"bench\"\n[capabilities.profile]\npurpose = \"bench\"\n"
            );
            let pkg = encode_package(&manifest, &wasm, Some(&key))?;
            host.install_package(&pkg, CommitMode::Install)?;
        }
        println!(
            "installed {APPS} apps in {:.1} s (compile + precompile each)",
            t.elapsed().as_secs_f64()
        );
        Superapp::open(config(&empty)).map(drop)?;
    }

    let rss_before = rss_mib();
    let (mut full_t, mut empty_t) = (Vec::new(), Vec::new());
    let (mut loaded, mut rss_full, mut rss_empty) = (0, 0.0, 0.0);
    for _ in 0..RUNS {
        let (t, n, rss) = start(&empty)?;
        empty_t.push(t);
        rss_empty = rss;
        let (t, n2, rss) = start(&full)?;
        full_t.push(t);
        rss_full = rss;
        loaded = n2;
        debug_assert_eq!(n, 0);
    }
    let (f, e) = (median(full_t), median(empty_t));
    println!("start-up to ready, median of {RUNS} runs:");
    println!("  empty host:      {:>8.1} ms", e.as_secs_f64() * 1e3);
    println!(
        "  {loaded} apps:        {:>8.1} ms  (target ≤ 1000 ms; {:.2} ms per app)",
        f.as_secs_f64() * 1e3,
        (f.saturating_sub(e)).as_secs_f64() * 1e3 / loaded.max(1) as f64
    );
    println!("resident memory (whole bench process):");
    println!("  before start:    {rss_before:>8.1} MiB");
    println!("  empty, ready:    {rss_empty:>8.1} MiB");
    println!("  {loaded} apps, ready: {rss_full:>8.1} MiB");
    Ok(())
}
