//! Durable wallet throughput with group commit. Transfers between 1,000
//! people at concurrency 1 (every operation its own flush: the baseline),
//! 64 and 256, each acknowledged only after its batch is flushed to disk;
//! then a red-packet claim storm: one packet of 100 shares, 10,000 people
//! claiming at once. Interleaved rounds, medians; prints ops/s, p50/p99 and
//! the group-commit ratio. Targets on a 2-core machine: ≥ 20,000 durable
//! transfers/s at 256 with p99 < 20 ms; the storm at ≥ 20,000 claims/s.
//! Run: `cargo bench -p superapp-tests --bench wallet`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use superapp_host::wallet::{Command, PacketSpec, Split, Wallet};
use superapp_tests::median;
use superapp_tests::open_host;

const PEOPLE: u64 = 1_000;
const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;
const CLAIMERS: u64 = 10_000;

struct Sample {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

fn pct(latencies: &mut [Duration], p: usize) -> f64 {
    latencies.sort();
    let i = (latencies.len() * p / 100).min(latencies.len().saturating_sub(1));
    latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn user(i: u64) -> String {
    format!("u_{i:032x}")
}

/// `concurrency` tasks sending transfers for one round.
async fn transfers(wallet: &Wallet, concurrency: usize, next_key: &Arc<AtomicU64>) -> Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (wallet, stop, next_key) = (wallet.clone(), stop.clone(), next_key.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = t as u64;
                while !stop.load(Ordering::Relaxed) {
                    let n = next_key.fetch_add(1, Ordering::Relaxed);
                    let (from, to) = (i % PEOPLE, (i * 7 + 1) % PEOPLE);
                    i += 13;
                    if from == to {
                        continue;
                    }
                    let t0 = Instant::now();
                    let r = wallet
                        .execute(Command::Transfer {
                            from: user(from),
                            to: user(to),
                            amount: 1,
                            memo: String::new(),
                            key: format!("bench-{n:012}"),
                        })
                        .await;
                    if r.is_ok() {
                        lat.push(t0.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    Sample {
        ops: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

/// 10,000 people claim one packet of 100 shares at once.
async fn storm(wallet: &Wallet, round: usize) -> Sample {
    let sender = user(0);
    let packet = match wallet
        .execute(Command::CreateRedPacket {
            user: sender,
            spec: PacketSpec {
                total: 20_000,
                count: 100,
                split: Split::Random,
                greeting: "bench".into(),
            },
            key: format!("storm-{round}"),
        })
        .await
    {
        Ok(superapp_host::wallet::Outcome::Packet(p)) => p.id,
        other => {
            eprintln!("cannot create the packet: {other:?}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLAIMERS)
        .map(|i| {
            let (wallet, packet) = (wallet.clone(), packet.clone());
            tokio::spawn(async move {
                let t0 = Instant::now();
                let r = wallet
                    .execute(Command::Claim {
                        user: format!("c_{round}_{i}"),
                        packet,
                        via_app: None,
                    })
                    .await;
                (t0.elapsed(), r.is_ok())
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut won = 0;
    for t in tasks {
        if let Ok((d, ok)) = t.await {
            latencies.push(d);
            won += usize::from(ok);
        }
    }
    let elapsed = started.elapsed();
    if won != 100 {
        eprintln!("the storm paid {won} shares, not 100");
        std::process::exit(1);
    }
    Sample {
        ops: latencies.len(),
        elapsed,
        latencies,
    }
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    let wallet = host.wallet().clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        for i in 0..PEOPLE {
            let r = wallet
                .execute(Command::TopUp {
                    user: user(i),
                    amount: 100_000_000,
                    key: format!("bench-topup-{i}"),
                })
                .await;
            if let Err(e) = r {
                eprintln!("top-up failed: {e}");
                std::process::exit(1);
            }
        }
    });
    println!(
        "wallet bench: durable transfers (acknowledged after the flush), {PEOPLE} people, {ROUNDS} interleaved rounds of {} s",
        ROUND.as_secs()
    );
    let levels = [1usize, 64, 256];
    let next_key = Arc::new(AtomicU64::new(0));
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    let mut lats: Vec<Vec<Duration>> = vec![Vec::new(); levels.len()];
    for _ in 0..ROUNDS {
        for (i, &c) in levels.iter().enumerate() {
            let s = rt.block_on(transfers(&wallet, c, &next_key));
            rates[i].push(s.rate());
            lats[i].extend(s.latencies);
        }
    }
    println!(
        "{:<28} {:>12} {:>10} {:>10}",
        "", "ops/s", "p50 ms", "p99 ms"
    );
    let mut medians = Vec::new();
    for (i, &c) in levels.iter().enumerate() {
        let rate = median(rates[i].clone());
        medians.push(rate);
        println!(
            "{:<28} {:>12.0} {:>10.2} {:>10.2}",
            format!("transfers, concurrency {c}"),
            rate,
            pct(&mut lats[i], 50),
            pct(&mut lats[i], 99)
        );
    }
    let mut storm_rates = Vec::new();
    let mut storm_lat = Vec::new();
    for round in 0..ROUNDS {
        let s = rt.block_on(storm(&wallet, round));
        storm_rates.push(s.rate());
        storm_lat.extend(s.latencies);
    }
    println!(
        "{:<28} {:>12.0} {:>10.2} {:>10.2}",
        "claim storm (100 / 10,000)",
        median(storm_rates),
        pct(&mut storm_lat, 50),
        pct(&mut storm_lat, 99)
    );
    println!(
        "group commit: concurrency 256 / concurrency 1 (a flush per operation) = {:.1}x",
        medians[2] / medians[0].max(1.0)
    );
    let audit = rt.block_on(wallet.audit())?;
    println!(
        "audit after the run: {} transfers in {} batches ({:.1} per flush), invariants hold",
        audit.totals.transfers,
        audit.batches,
        audit.totals.transfers as f64 / audit.batches.max(1) as f64
    );
    Ok(())
}
