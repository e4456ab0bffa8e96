//! Durable wallet transfers at scale. The same load — 256 concurrent
//! clients sending transfers of 1 between random pairs of 1,000 people,
//! each acknowledged only once its batch is durable — on one host on sled
//! (the embedded backend: the baseline, same run), one host on PostgreSQL,
//! and two hosts (two OS processes, 128 clients each) sharing one
//! PostgreSQL database; then a red-packet claim storm across the two hosts:
//! one packet of 100 shares, 2,000 people claiming at once, half through
//! each host, checking that exactly 100 shares were won and that they add
//! up to the packet (in the claims' answers and in the ledger tables).
//!
//! Every host is a worker process: this binary re-executed with
//! `--scale-worker <store> <name>`, driven over stdin/stdout (JSON lines;
//! a round starts on a "go" line sent to all its workers at once), so host
//! CPU is read the same way for all three from /proc. The PostgreSQL
//! cluster is a throwaway one with durable settings (fsync, synchronous
//! commit). A warm-up, then interleaved rounds; medians.
//!
//! Prints transfers/s and p50/p99 latency per setup, the ratios PG 1 host /
//! sled and PG 2 hosts / PG 1 host, the storm's claims/s, and where the time
//! goes: host and database CPU seconds per 1,000 transfers (utime + stime
//! from /proc; the database's are the postmaster's and its children's),
//! WAL fsyncs/s and transfers per fsync (`pg_stat_wal`), with a verdict
//! naming the bottleneck. Target on a 2-core machine: ≥ 10,000 durable
//! transfers/s with one host on PostgreSQL.
//! Run: `cargo bench -p superapp-tests --bench scale`.

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use superapp_host::wallet::{Command, Outcome, PacketSpec, Rules, Split, Wallet, WalletError};
use superapp_store::Backend;
use superapp_store::pg::testing::{durable_cluster, query_texts, run_sql};
use superapp_tests::median;

const PEOPLE: u64 = 1_000;
const CLIENTS: usize = 256;
const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_secs(2);
const WARM_UP: Duration = Duration::from_secs(1);
const CLAIMERS: u64 = 2_000;
const SHARES: u32 = 100;
/// The largest red packet the default rules allow (200.00).
const PACKET_TOTAL: u64 = 20_000;
/// Transfers/s with one host on PostgreSQL.
const TARGET: f64 = 10_000.0;
/// Clock ticks per second of /proc's CPU times.
const TICKS: f64 = 100.0;
/// How long PostgreSQL's backends may hold their statistics before they
/// report them (PGSTAT_MIN_INTERVAL is 1 s): waited before `pg_stat_wal`
/// is read after a round.
const STATS_SETTLE: Duration = Duration::from_millis(1_100);
/// Longest wait for a worker's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(120);

fn user(i: u64) -> String {
    format!("u_{i:032x}")
}

// ---------------------------------------------------------------- latencies

/// Latencies in log-scale buckets 1% wide (bucket ⌊100 · ln µs⌋): what a
/// worker sends the parent instead of every sample.
#[derive(Default, Clone)]
struct Hist(BTreeMap<u32, u64>);

impl Hist {
    fn add(&mut self, d: Duration) {
        let us = (d.as_micros() as f64).max(1.0);
        *self.0.entry((us.ln() * 100.0) as u32).or_default() += 1;
    }

    fn merge(&mut self, other: &Hist) {
        for (b, n) in &other.0 {
            *self.0.entry(*b).or_default() += n;
        }
    }

    fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `p`th percentile in milliseconds (the middle of its bucket).
    fn pct(&self, p: u64) -> f64 {
        let rank = (self.count() * p).div_ceil(100).max(1);
        let mut seen = 0;
        for (b, n) in &self.0 {
            seen += n;
            if seen >= rank {
                return ((f64::from(*b) + 0.5) / 100.0).exp() / 1000.0;
            }
        }
        0.0
    }

    fn to_json(&self) -> Value {
        Value::Array(self.0.iter().map(|(b, n)| json!([b, n])).collect())
    }

    fn from_json(v: &Value) -> Hist {
        let mut h = Hist::default();
        for pair in v.as_array().into_iter().flatten() {
            if let (Some(b), Some(n)) = (pair[0].as_u64(), pair[1].as_u64()) {
                *h.0.entry(b as u32).or_default() += n;
            }
        }
        h
    }
}

// ------------------------------------------------------------------ worker

/// What a worker's clients did in one round.
#[derive(Default)]
struct Tally {
    hist: Hist,
    ok: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    /// Claims that won a share, and what they were paid.
    won: u64,
    paid: u64,
}

impl Tally {
    fn error(&mut self, e: &WalletError) {
        *self.errors.entry(e.code().to_string()).or_default() += 1;
        if self.first_error.is_none() && !matches!(e, WalletError::PacketEmpty(_)) {
            self.first_error = Some(format!("{}: {e}", e.code()));
        }
    }

    fn merge(&mut self, o: Tally) {
        self.hist.merge(&o.hist);
        self.ok += o.ok;
        for (code, n) in o.errors {
            *self.errors.entry(code).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.won += o.won;
        self.paid += o.paid;
    }

    fn to_json(&self, elapsed: Duration) -> Value {
        json!({
            "ops": self.ok,
            "elapsed": elapsed.as_secs_f64(),
            "hist": self.hist.to_json(),
            "errors": self.errors,
            "first_error": self.first_error,
            "won": self.won,
            "paid": self.paid,
        })
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One client: transfers of 1 between random pairs until `stop`.
async fn transfer_client(
    wallet: Wallet,
    mut gate: tokio::sync::watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    tag: String,
    mut rng: u64,
) -> Tally {
    let mut t = Tally::default();
    if gate.wait_for(|go| *go).await.is_err() {
        return t;
    }
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let from = splitmix(&mut rng) % PEOPLE;
        let to = (from + 1 + splitmix(&mut rng) % (PEOPLE - 1)) % PEOPLE;
        n += 1;
        let t0 = Instant::now();
        let r = wallet
            .execute(Command::Transfer {
                from: user(from),
                to: user(to),
                amount: 1,
                memo: String::new(),
                key: format!("{tag}-{n}"),
            })
            .await;
        match r {
            Ok(_) => {
                t.ok += 1;
                t.hist.add(t0.elapsed());
            }
            Err(e) => t.error(&e),
        }
    }
    t
}

/// One claimer: a single claim of `packet`.
async fn claim_client(
    wallet: Wallet,
    mut gate: tokio::sync::watch::Receiver<bool>,
    packet: String,
    claimer: String,
) -> Tally {
    let mut t = Tally::default();
    if gate.wait_for(|go| *go).await.is_err() {
        return t;
    }
    let t0 = Instant::now();
    let r = wallet
        .execute(Command::Claim {
            user: claimer,
            packet,
            via_app: None,
        })
        .await;
    match r {
        Ok(Outcome::Claim(receipt)) => {
            t.ok += 1;
            t.hist.add(t0.elapsed());
            if receipt.new {
                t.won += 1;
                t.paid += receipt.amount;
            }
        }
        Ok(other) => {
            t.error(&WalletError::Internal(format!(
                "a claim answered {other:?}"
            )));
        }
        Err(e) => {
            // A claim the packet is empty for is answered too: it counts.
            if matches!(e, WalletError::PacketEmpty(_)) {
                t.ok += 1;
                t.hist.add(t0.elapsed());
            }
            t.error(&e);
        }
    }
    t
}

/// One line of JSON to the parent.
fn say(v: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    out.flush()?;
    Ok(())
}

type Lines = std::io::Lines<std::io::StdinLock<'static>>;

/// Tells the parent the round is ready and waits for its "go".
fn ready_then_go(lines: &mut Lines) -> anyhow::Result<()> {
    say(&json!({ "ready": true }))?;
    match lines.next() {
        Some(Ok(l)) if l.trim() == "go" => Ok(()),
        Some(Ok(l)) => bail!("expected `go`, got `{l}`"),
        Some(Err(e)) => Err(e.into()),
        None => bail!("the parent went away"),
    }
}

/// Runs the tasks `spawn` makes from the gate once the parent says go;
/// returns their tally and the time from go until the last one ended.
fn gated<F>(
    rt: &tokio::runtime::Runtime,
    lines: &mut Lines,
    n: usize,
    mut spawn: impl FnMut(usize, tokio::sync::watch::Receiver<bool>) -> F,
    during: impl FnOnce(),
) -> anyhow::Result<(Tally, Duration)>
where
    F: std::future::Future<Output = Tally> + Send + 'static,
{
    let (go, gate) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..n).map(|i| rt.spawn(spawn(i, gate.clone()))).collect();
    drop(gate);
    ready_then_go(lines)?;
    let started = Instant::now();
    go.send_replace(true);
    during();
    let mut tally = Tally::default();
    rt.block_on(async {
        for t in tasks {
            match t.await {
                Ok(t) => tally.merge(t),
                Err(e) => tally.error(&WalletError::Internal(format!("a client failed: {e}"))),
            }
        }
    });
    Ok((tally, started.elapsed()))
}

fn command(
    rt: &tokio::runtime::Runtime,
    wallet: &Wallet,
    lines: &mut Lines,
    words: &[&str],
) -> anyhow::Result<Value> {
    match words {
        ["topup", from, to] => {
            let (from, to): (u64, u64) = (from.parse()?, to.parse()?);
            let mut tally = Tally::default();
            rt.block_on(async {
                let tasks: Vec<_> = (from..to)
                    .map(|i| {
                        let wallet = wallet.clone();
                        tokio::spawn(async move {
                            wallet
                                .execute(Command::TopUp {
                                    user: user(i),
                                    amount: 100_000_000,
                                    key: format!("scale-topup-{i}"),
                                })
                                .await
                        })
                    })
                    .collect();
                for t in tasks {
                    match t.await {
                        Ok(Ok(_)) => tally.ok += 1,
                        Ok(Err(e)) => tally.error(&e),
                        Err(e) => tally.error(&WalletError::Internal(e.to_string())),
                    }
                }
            });
            Ok(tally.to_json(Duration::ZERO))
        }
        ["transfers", clients, millis, tag, seed] => {
            let clients: usize = clients.parse()?;
            let length = Duration::from_millis(millis.parse()?);
            let seed: u64 = seed.parse()?;
            let stop = Arc::new(AtomicBool::new(false));
            let (tally, elapsed) = gated(
                rt,
                lines,
                clients,
                |c, gate| {
                    let mut rng = seed ^ ((c as u64) << 32);
                    splitmix(&mut rng);
                    transfer_client(
                        wallet.clone(),
                        gate,
                        stop.clone(),
                        format!("scale-{tag}-{c}"),
                        rng,
                    )
                },
                || {
                    std::thread::sleep(length);
                    stop.store(true, Ordering::Relaxed);
                },
            )?;
            Ok(tally.to_json(elapsed))
        }
        ["packet", tag] => {
            let r = rt.block_on(wallet.execute(Command::CreateRedPacket {
                user: user(0),
                spec: PacketSpec {
                    total: PACKET_TOTAL,
                    count: SHARES,
                    split: Split::Random,
                    greeting: "scale".into(),
                },
                key: format!("scale-packet-{tag}"),
            }))?;
            match r {
                Outcome::Packet(p) => Ok(json!({ "packet": p.id })),
                other => bail!("creating a packet answered {other:?}"),
            }
        }
        ["claim", packet, from, to, tag] => {
            let (from, to): (u64, u64) = (from.parse()?, to.parse()?);
            let (tally, elapsed) = gated(
                rt,
                lines,
                (to - from) as usize,
                |i, gate| {
                    claim_client(
                        wallet.clone(),
                        gate,
                        packet.to_string(),
                        format!("c_{tag}_{}", from + i as u64),
                    )
                },
                || {},
            )?;
            Ok(tally.to_json(elapsed))
        }
        ["audit"] => {
            let audit = rt.block_on(wallet.audit())?;
            Ok(json!({
                "transfers": audit.totals.transfers,
                "batches": audit.batches,
            }))
        }
        _ => bail!("unknown command {words:?}"),
    }
}

/// A host: its own store and wallet, driven by the parent over stdin.
fn worker(args: &[String]) -> anyhow::Result<()> {
    let [store, name, ..] = args else {
        bail!("usage: --scale-worker <sled:DIR | postgres://…> <name>");
    };
    let ledger = if let Some(dir) = store.strip_prefix("sled:") {
        superapp_store::Db::open(Path::new(dir))?.ledger_store()?
    } else {
        superapp_store::pg::Postgres::connect(store)?.ledger_store()?
    };
    let wallet = Wallet::open(ledger, Rules::default())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    say(&json!({ "ready": name }))?;
    let mut lines: Lines = std::io::stdin().lock().lines();
    while let Some(line) = lines.next() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words == ["quit"] {
            break;
        }
        let reply = command(&rt, &wallet, &mut lines, &words)
            .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
        say(&reply)?;
    }
    drop(wallet);
    rt.shutdown_background();
    Ok(())
}

// ------------------------------------------------------------------ parent

/// A worker process and the lines it answers with.
struct Worker {
    name: String,
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Worker {
    /// Starts a host on `store` and waits until its wallet is open.
    fn spawn(store: &str, name: &str) -> anyhow::Result<Worker> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["--scale-worker", store, name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a worker")?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut w = Worker {
            name: name.to_string(),
            child,
            stdin,
            answers,
        };
        w.recv()?;
        Ok(w)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("worker {} is gone", self.name))
    }

    fn recv(&mut self) -> anyhow::Result<Value> {
        let line = self
            .answers
            .recv_timeout(ANSWER_WAIT)
            .map_err(|e| anyhow!("no answer from worker {}: {e}", self.name))?;
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("worker {} said `{line}`", self.name))?;
        if let Some(e) = v.get("error") {
            bail!("worker {}: {e}", self.name);
        }
        Ok(v)
    }

    fn ask(&mut self, line: &str) -> anyhow::Result<Value> {
        self.send(line)?;
        self.recv()
    }

    fn quit(mut self) {
        let _ = self.send("quit");
        let _ = self.child.wait();
    }
}

/// The numeric fields of /proc/<pid>/stat (or a task's) after the command
/// name: index 0 is field 3 (state), so utime (field 14) is index 11.
fn stat_fields(path: &Path) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

fn field(f: &[u64], number: usize) -> u64 {
    f.get(number - 3).copied().unwrap_or(0)
}

/// utime + stime of a process (all its threads), in ticks.
fn process_ticks(pid: u32) -> u64 {
    stat_fields(&PathBuf::from(format!("/proc/{pid}/stat")))
        .map_or(0, |f| field(&f, 14) + field(&f, 15))
}

/// utime + stime of the threads of `pid` named `name`, in ticks.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    std::fs::read_dir(tasks)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| stat_fields(&t.path().join("stat")))
        .map(|f| field(&f, 14) + field(&f, 15))
        .sum()
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// Whether the process runs PostgreSQL's server (the postmaster runs as
/// `…/bin/postgres -D …`, its children rename themselves `postgres: …`).
fn is_postgres(pid: u32) -> bool {
    let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let first = cmd.split(|b| *b == 0).next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let base = first.rsplit('/').next().unwrap_or_default();
    base.starts_with("postgres")
}

/// The cluster's postmaster: from its data folder's postmaster.pid (where
/// `durable_cluster` puts it), else this process's child running postgres.
fn postmaster_pid() -> Option<u32> {
    let data = std::env::temp_dir()
        .join("superapp-test-postgres")
        .join(format!("{}-durable", std::process::id()))
        .join("data")
        .join("postmaster.pid");
    if let Some(pid) = std::fs::read_to_string(data)
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse().ok())
    {
        return Some(pid);
    }
    let me = std::process::id();
    pids().find(|&p| {
        is_postgres(p)
            && stat_fields(&PathBuf::from(format!("/proc/{p}/stat")))
                .is_some_and(|f| field(&f, 4) == u64::from(me))
    })
}

/// What a database process is, from its title: `backend of scale_pg1`
/// (a client connection), `autovacuum worker`, `walwriter`…
fn db_role(pid: u32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let title = String::from_utf8_lossy(&cmd).replace('\0', " ");
    match title.trim().strip_prefix("postgres: ") {
        // `postgres: <user> <database> <host>(<port>) <state>`
        Some(t) if t.contains('(') => {
            format!("backend of {}", t.split_whitespace().nth(1).unwrap_or("?"))
        }
        Some(t) => t.to_string(),
        // A child that has not named itself yet: a backend starting.
        None => "starting backend".into(),
    }
}

/// CPU ticks of each database process by pid, with what it is: the
/// postmaster (counting its exited children, which it has reaped) and its
/// live children; without a postmaster, every `postgres` process.
type DbSnap = BTreeMap<u32, (u64, String)>;

const REAPED: &str = "postmaster and exited processes";

fn db_snapshot(postmaster: Option<u32>) -> DbSnap {
    let stat = |p: u32| stat_fields(&PathBuf::from(format!("/proc/{p}/stat")));
    let mut snap = DbSnap::new();
    match postmaster {
        Some(pm) => {
            if let Some(f) = stat(pm) {
                let t = field(&f, 14) + field(&f, 15) + field(&f, 16) + field(&f, 17);
                snap.insert(pm, (t, REAPED.into()));
            }
            for p in pids() {
                if let Some(f) = stat(p).filter(|f| field(f, 4) == u64::from(pm)) {
                    snap.insert(p, (field(&f, 14) + field(&f, 15), db_role(p)));
                }
            }
        }
        None => {
            for p in pids().filter(|&p| is_postgres(p)) {
                snap.insert(p, (process_ticks(p), db_role(p)));
            }
        }
    }
    snap
}

/// The database's CPU seconds between two snapshots, by role, and its
/// busiest process (role, seconds). A process that ended meanwhile is
/// counted through the postmaster's reaped children.
fn db_delta(
    before: &DbSnap,
    after: &DbSnap,
) -> (f64, BTreeMap<String, f64>, Option<(String, f64)>) {
    let sum = |s: &DbSnap| s.values().map(|(t, _)| *t).sum::<u64>();
    let total = sum(after).saturating_sub(sum(before)) as f64 / TICKS;
    let mut roles: BTreeMap<String, f64> = BTreeMap::new();
    let mut busiest: Option<(String, f64)> = None;
    for (pid, (t, role)) in after {
        let d = (*t as f64 - before.get(pid).map_or(0.0, |b| b.0 as f64)) / TICKS;
        *roles.entry(role.clone()).or_default() += d;
        if role != REAPED && d > 0.0 && busiest.as_ref().is_none_or(|(_, b)| d > *b) {
            busiest = Some((role.clone(), d));
        }
    }
    for (pid, (t, _)) in before {
        if !after.contains_key(pid) {
            *roles.entry(REAPED.into()).or_default() -= *t as f64 / TICKS;
        }
    }
    (total, roles, busiest)
}

/// (busy, total) ticks of the whole machine, from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// What the parent reads of a PostgreSQL setup around a round.
struct Pg {
    admin: String,
    db: String,
    postmaster: Option<u32>,
    /// Whether `pg_stat_wal` times its fsyncs (track_wal_io_timing).
    timed: bool,
}

/// WAL counters: (fsyncs, writes, fsync time in ms when timed).
fn wal(admin: &str) -> anyhow::Result<(u64, u64, Option<f64>)> {
    let row = query_texts(
        admin,
        "SELECT wal_sync::text || ' ' || wal_write::text || ' ' || wal_sync_time::text \
         FROM pg_stat_wal",
    )
    .map_err(anyhow::Error::msg)?;
    let row = row.first().ok_or_else(|| anyhow!("pg_stat_wal is empty"))?;
    let v: Vec<&str> = row.split(' ').collect();
    let num = |i: usize| -> anyhow::Result<u64> {
        Ok(v.get(i)
            .ok_or_else(|| anyhow!("pg_stat_wal: `{row}`"))?
            .parse()?)
    };
    Ok((num(0)?, num(1)?, v.get(2).and_then(|t| t.parse().ok())))
}

/// The ledger's head batch and the database's counters: (head, sessions
/// opened, transactions committed, transactions rolled back).
fn db_counters(db: &str) -> anyhow::Result<[u64; 4]> {
    let row = query_texts(
        db,
        "SELECT (SELECT seq FROM ledger_head WHERE id = 1)::text || ' ' || sessions::text \
         || ' ' || xact_commit::text || ' ' || xact_rollback::text \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .map_err(anyhow::Error::msg)?;
    let v: Vec<u64> = row
        .first()
        .map(|t| t.split(' ').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    match v.as_slice() {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => bail!("unexpected database counters {row:?}"),
    }
}

/// One round of one setup, as measured.
#[derive(Default)]
struct Round {
    ops: u64,
    elapsed: f64,
    hist: Hist,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    /// CPU seconds.
    host_cpu: f64,
    writer_cpu: f64,
    db_cpu: Option<f64>,
    /// The database's CPU seconds by process role, and its busiest process.
    db_roles: BTreeMap<String, f64>,
    db_busiest: Option<(String, f64)>,
    /// Share of the machine's CPU time that was busy.
    machine_busy: f64,
    fsyncs: Option<u64>,
    fsync_ms: Option<f64>,
    batches: Option<u64>,
    /// Connections the database accepted for the setup's database
    /// (including this bench's probe), transactions committed and rolled back.
    sessions: Option<u64>,
    commits: Option<u64>,
    rollbacks: Option<u64>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.max(1e-9)
    }
    fn per_k(&self, cpu: f64) -> f64 {
        cpu * 1000.0 / (self.ops.max(1) as f64)
    }
}

/// Adds one worker's answer to a round.
fn absorb(r: &mut Round, v: &Value) {
    r.ops += v["ops"].as_u64().unwrap_or(0);
    r.elapsed = r.elapsed.max(v["elapsed"].as_f64().unwrap_or(0.0));
    r.hist.merge(&Hist::from_json(&v["hist"]));
    for (code, n) in v["errors"].as_object().into_iter().flatten() {
        *r.errors.entry(code.clone()).or_default() += n.as_u64().unwrap_or(0);
    }
    if r.first_error.is_none() {
        r.first_error = v["first_error"].as_str().map(str::to_string);
    }
}

fn host_ticks(pool: &[Worker], who: &[usize]) -> (u64, u64) {
    let pids: Vec<u32> = who.iter().map(|&i| pool[i].pid()).collect();
    (
        pids.iter().map(|&p| process_ticks(p)).sum(),
        pids.iter().map(|&p| thread_ticks(p, "ledger-writer")).sum(),
    )
}

/// One round of transfers on the workers `who` (the clients split among
/// them), with CPU, WAL and batches read around it.
fn transfer_round(
    pool: &mut [Worker],
    who: &[usize],
    pg: Option<&Pg>,
    tag: &str,
    length: Duration,
    seed: u64,
) -> anyhow::Result<Round> {
    let clients = CLIENTS / who.len();
    for (k, &i) in who.iter().enumerate() {
        pool[i].send(&format!(
            "transfers {clients} {} {tag}-{k} {}",
            length.as_millis(),
            seed * 16 + k as u64
        ))?;
    }
    for &i in who {
        pool[i].recv()?;
    }
    let wal_before = pg.map(|p| wal(&p.admin)).transpose()?;
    let counters_before = pg.map(|p| db_counters(&p.db)).transpose()?;
    let db_before = pg.map(|p| db_snapshot(p.postmaster));
    let host_before = host_ticks(pool, who);
    let machine_before = machine_ticks();
    for &i in who {
        pool[i].send("go")?;
    }
    let mut r = Round::default();
    for &i in who {
        let v = pool[i].recv()?;
        absorb(&mut r, &v);
    }
    let host_after = host_ticks(pool, who);
    let machine_after = machine_ticks();
    let db_after = pg.map(|p| db_snapshot(p.postmaster));
    r.host_cpu = (host_after.0 - host_before.0) as f64 / TICKS;
    r.writer_cpu = (host_after.1 - host_before.1) as f64 / TICKS;
    if let (Some(a), Some(b)) = (db_after, db_before) {
        let (total, roles, busiest) = db_delta(&b, &a);
        r.db_cpu = Some(total);
        r.db_roles = roles;
        r.db_busiest = busiest;
    }
    r.machine_busy = (machine_after.0 - machine_before.0) as f64
        / ((machine_after.1 - machine_before.1).max(1) as f64);
    if let Some(p) = pg {
        std::thread::sleep(STATS_SETTLE);
        let after = wal(&p.admin)?;
        if let Some(before) = wal_before {
            r.fsyncs = Some(after.0 - before.0);
            r.fsync_ms = after
                .2
                .zip(before.2)
                .filter(|_| p.timed)
                .map(|(a, b)| a - b);
        }
        if let Some(b) = counters_before {
            let a = db_counters(&p.db)?;
            let d = |i: usize| Some(a[i].saturating_sub(b[i]));
            (r.batches, r.sessions, r.commits, r.rollbacks) = (d(0), d(1), d(2), d(3));
        }
    }
    Ok(r)
}

/// One storm: a packet of 100 shares sent on the first host, then
/// `CLAIMERS` people claim it at once, half through each host.
fn storm_round(
    pool: &mut [Worker],
    who: [usize; 2],
    db: &str,
    round: usize,
) -> anyhow::Result<(Round, u64, u64, u64, u64)> {
    let packet = pool[who[0]].ask(&format!("packet storm-{round}"))?;
    let packet = packet["packet"]
        .as_str()
        .filter(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .ok_or_else(|| anyhow!("no packet id in {packet}"))?
        .to_string();
    let half = CLAIMERS / 2;
    for (k, &i) in who.iter().enumerate() {
        let from = k as u64 * half;
        pool[i].send(&format!("claim {packet} {from} {} {round}", from + half))?;
    }
    for &i in &who {
        pool[i].recv()?;
    }
    for &i in &who {
        pool[i].send("go")?;
    }
    let mut r = Round::default();
    let (mut won, mut paid) = (0, 0);
    for &i in &who {
        let v = pool[i].recv()?;
        absorb(&mut r, &v);
        won += v["won"].as_u64().unwrap_or(0);
        paid += v["paid"].as_u64().unwrap_or(0);
    }
    let row = query_texts(
        db,
        &format!(
            "SELECT count(*)::text || ' ' || coalesce(sum(amount), 0)::text \
             FROM ledger_transfers WHERE from_account = 'packet:{packet}'"
        ),
    )
    .map_err(anyhow::Error::msg)?;
    let nums: Vec<u64> = row
        .first()
        .map(|t| t.split(' ').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    let (rows, sum) = (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    );
    Ok((r, won, paid, rows, sum))
}

/// Connections opened to measure what a fresh one costs the database.
const CALIBRATION: usize = 40;

/// Database CPU seconds of one fresh connection that touches the ledger's
/// tables (loading what a new backend loads for a batch) and closes.
fn connection_cost(p: &Pg) -> anyhow::Result<f64> {
    let before = db_snapshot(p.postmaster);
    for _ in 0..CALIBRATION {
        query_texts(
            &p.db,
            "SELECT 1 FROM ledger_head, ledger_batches, ledger_history, ledger_transfers, \
             ledger_balances, ledger_outbox WHERE false",
        )
        .map_err(anyhow::Error::msg)?;
    }
    // The postmaster reaps the last ones a moment after they close.
    std::thread::sleep(Duration::from_millis(300));
    let after = db_snapshot(p.postmaster);
    Ok(db_delta(&before, &after).0 / CALIBRATION as f64)
}

/// Per setup, over the measured rounds.
struct Setup {
    name: &'static str,
    who: Vec<usize>,
    pg: Option<Pg>,
    rounds: Vec<Round>,
}

impl Setup {
    fn med(&self, f: impl Fn(&Round) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    }
    fn rate(&self) -> f64 {
        self.med(|r| Some(r.rate())).unwrap_or(0.0)
    }
    fn hist(&self) -> Hist {
        let mut h = Hist::default();
        for r in &self.rounds {
            h.merge(&r.hist);
        }
        h
    }
    fn errors(&self) -> (u64, Option<String>) {
        let n = self.rounds.iter().flat_map(|r| r.errors.values()).sum();
        let first = self.rounds.iter().find_map(|r| r.first_error.clone());
        (n, first)
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where one setup's time went (medians over its rounds), and the
/// verdict's inputs. CPU and fsync time per 1,000 transfers in seconds.
struct Costs {
    host: f64,
    host_cores: f64,
    writer: f64,
    writer_busy: f64,
    db: Option<f64>,
    db_cores: Option<f64>,
    /// Cores by database process role, over all rounds.
    db_roles: Vec<(String, f64)>,
    db_busiest: Option<(String, f64)>,
    fsync: Option<f64>,
    fsyncs_per_s: Option<f64>,
    per_fsync: Option<f64>,
    fsync_each_ms: Option<f64>,
    fsync_busy: Option<f64>,
    per_batch: Option<f64>,
    cycle_ms: Option<f64>,
    /// New database connections per batch, and rolled-back transactions/s.
    sessions_per_batch: Option<f64>,
    rollbacks_per_s: Option<f64>,
    /// Share of the database's CPU spent in processes that ended.
    exited_share: Option<f64>,
    machine: f64,
    /// Cores used by processes other than the hosts and the database.
    others: f64,
}

fn costs(s: &Setup, cores: usize) -> Costs {
    let m = |f: &dyn Fn(&Round) -> Option<f64>| s.med(f);
    let secs = |r: &Round| r.elapsed.max(1e-9);
    let mut roles: BTreeMap<String, f64> = BTreeMap::new();
    for r in &s.rounds {
        for (role, c) in &r.db_roles {
            *roles.entry(role.clone()).or_default() += c;
        }
    }
    let wall: f64 = s.rounds.iter().map(secs).sum();
    let mut db_roles: Vec<(String, f64)> = roles
        .into_iter()
        .map(|(role, c)| (role, c / wall.max(1e-9)))
        .collect();
    db_roles.sort_by(|a, b| b.1.total_cmp(&a.1));
    let busiest_role = s
        .rounds
        .iter()
        .filter_map(|r| r.db_busiest.clone())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(role, _)| role);
    let busiest = m(&|r| r.db_busiest.as_ref().map(|(_, c)| c / secs(r)));
    Costs {
        host: m(&|r| Some(r.per_k(r.host_cpu))).unwrap_or(0.0),
        host_cores: m(&|r| Some(r.host_cpu / secs(r))).unwrap_or(0.0),
        writer: m(&|r| Some(r.per_k(r.writer_cpu))).unwrap_or(0.0),
        writer_busy: m(&|r| Some(r.writer_cpu / secs(r))).unwrap_or(0.0),
        db: m(&|r| r.db_cpu.map(|c| r.per_k(c))),
        db_cores: m(&|r| r.db_cpu.map(|c| c / secs(r))),
        db_roles,
        db_busiest: busiest_role.zip(busiest),
        fsync: m(&|r| r.fsync_ms.map(|ms| r.per_k(ms / 1000.0))),
        fsyncs_per_s: m(&|r| r.fsyncs.map(|f| f as f64 / secs(r))),
        per_fsync: m(&|r| r.fsyncs.map(|f| r.ops as f64 / (f.max(1) as f64))),
        fsync_each_ms: m(&|r| {
            r.fsync_ms
                .zip(r.fsyncs)
                .map(|(ms, f)| ms / (f.max(1) as f64))
        }),
        fsync_busy: m(&|r| r.fsync_ms.map(|ms| ms / 1000.0 / secs(r))),
        per_batch: m(&|r| r.batches.map(|b| r.ops as f64 / (b.max(1) as f64))),
        cycle_ms: m(&|r| r.batches.map(|b| secs(r) * 1000.0 / (b.max(1) as f64))),
        sessions_per_batch: m(&|r| {
            r.sessions
                .zip(r.batches)
                .map(|(n, b)| n as f64 / (b.max(1) as f64))
        }),
        rollbacks_per_s: m(&|r| r.rollbacks.map(|n| n as f64 / secs(r))),
        exited_share: m(&|r| {
            r.db_cpu
                .filter(|c| *c > 0.0)
                .map(|c| r.db_roles.get(REAPED).copied().unwrap_or(0.0) / c)
        }),
        machine: m(&|r| Some(r.machine_busy)).unwrap_or(0.0),
        others: m(&|r| {
            let ours = (r.host_cpu + r.db_cpu.unwrap_or(0.0)) / secs(r);
            Some((r.machine_busy * cores as f64 - ours).max(0.0))
        })
        .unwrap_or(0.0),
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

/// The lines saying where one setup's time went.
fn breakdown(name: &str, c: &Costs) -> String {
    let mut out = format!(
        "  {name}: per 1,000 transfers host CPU {:.3} s (ledger writer thread {:.3} s), database CPU {}, WAL fsync {}\n",
        c.host,
        c.writer,
        opt(c.db, |v| format!("{v:.3} s")),
        opt(c.fsync, |v| format!("{v:.3} s")),
    );
    out += &format!(
        "      cores: host {:.2} (ledger writer {:.0}% busy), database {}{}; other processes {:.2}; machine {:.0}% busy\n",
        c.host_cores,
        c.writer_busy * 100.0,
        opt(c.db_cores, |v| format!("{v:.2}")),
        if c.db_roles.is_empty() {
            String::new()
        } else {
            let roles: Vec<String> = c
                .db_roles
                .iter()
                .filter(|(_, k)| *k >= 0.005)
                .take(4)
                .map(|(role, k)| format!("{role} {k:.2}"))
                .collect();
            format!(
                " ({}; busiest single process {})",
                roles.join(", "),
                c.db_busiest
                    .as_ref()
                    .filter(|(_, k)| *k >= 0.005)
                    .map_or("none above 0.005".into(), |(role, k)| format!(
                        "{role} {k:.2}"
                    ))
            )
        },
        c.others,
        c.machine * 100.0
    );
    if c.per_batch.is_none() && c.fsyncs_per_s.is_none() {
        // The embedded backend: no database counters to read.
        return out.trim_end().to_string();
    }
    out += &format!(
        "      group commit: {} transfers/batch, a batch every {} ms; {} new database connections per batch, {} transactions rolled back/s; {} WAL fsyncs/s, {} transfers/fsync, {} ms per fsync, fsync busy {}",
        opt(c.per_batch, |v| format!("{v:.1}")),
        opt(c.cycle_ms, |v| format!("{v:.1}")),
        opt(c.sessions_per_batch, |v| format!("{v:.2}")),
        opt(c.rollbacks_per_s, |v| format!("{v:.0}")),
        opt(c.fsyncs_per_s, |v| format!("{v:.0}")),
        opt(c.per_fsync, |v| format!("{v:.1}")),
        opt(c.fsync_each_ms, |v| format!("{v:.2}")),
        opt(c.fsync_busy, |v| format!("{:.0}%", v * 100.0)),
    );
    out
}

fn verdict(name: &str, c: &Costs, cores: usize, connection: Option<f64>) -> String {
    let db = c.db.unwrap_or(0.0);
    let fsync = c.fsync.unwrap_or(0.0);
    let saturated = c.machine >= 0.85;
    let fsync_bound = !saturated
        && (fsync >= c.host.max(db)
            || c.fsync_busy.is_some_and(|b| b >= 0.5)
            || (c.fsync.is_none() && c.per_fsync.is_some_and(|p| p < 32.0)));
    let what = if fsync_bound {
        format!(
            "fsync-bound: WAL fsync {fsync:.3} s per 1,000 transfers ({} transfers/fsync, fsync busy {}) with the CPU not saturated",
            opt(c.per_fsync, |v| format!("{v:.1}")),
            opt(c.fsync_busy, |v| format!("{:.0}%", v * 100.0)),
        )
    } else if db >= c.host && db >= fsync {
        format!(
            "the database's CPU is the largest consumer: {db:.3} CPU s per 1,000 transfers, {:.1}x the host's {:.3} s, against {fsync:.3} s of WAL fsync{}",
            db / c.host.max(1e-9),
            c.host,
            c.db_busiest
                .as_ref()
                .filter(|(_, k)| *k >= 0.05)
                .map_or(String::new(), |(role, k)| format!(
                    "; its busiest live process ({role}) ran {k:.2} cores"
                ))
        )
    } else {
        format!(
            "the host's CPU is the largest consumer: {:.3} CPU s per 1,000 transfers (ledger writer {:.0}% busy), {:.1}x the database's {db:.3} s, against {fsync:.3} s of WAL fsync",
            c.host,
            c.writer_busy * 100.0,
            c.host / db.max(1e-9)
        )
    };
    let load = format!(
        "machine {:.0}% busy: hosts {:.2} + database {:.2} cores, other processes {:.2} of {cores}{}",
        c.machine * 100.0,
        c.host_cores,
        c.db_cores.unwrap_or(0.0),
        c.others,
        if saturated && c.others > c.host_cores + c.db_cores.unwrap_or(0.0) {
            " (the box was saturated mostly by others: the figures are throttled)"
        } else {
            ""
        }
    );
    let churn = match (c.sessions_per_batch, c.exited_share) {
        (Some(n), Some(x)) if n >= 0.5 => {
            let per_batch_ms = db * c.per_batch.unwrap_or(0.0);
            format!(
                "; connection churn: the database accepts {n:.2} new connections per batch and {:.0}% of its CPU is in processes that ended within the round{}",
                x * 100.0,
                connection.map_or(String::new(), |conn| format!(
                    " — a fresh connection touching the ledger's tables costs it {:.1} ms of CPU, \
                     ≈{:.0}% of its {per_batch_ms:.1} ms of CPU per batch{}",
                    conn * 1000.0,
                    (n * conn * 1000.0 / per_batch_ms.max(1e-9) * 100.0).min(100.0),
                    c.cycle_ms.map_or(String::new(), |ms| format!(
                        " (a batch every {ms:.1} ms: commits run one after another)"
                    ))
                ))
            )
        }
        _ => String::new(),
    };
    format!("verdict ({name}): {what}{churn}; {load}")
}

fn parent() -> anyhow::Result<()> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let base = durable_cluster().map_err(|e| anyhow!("cannot start PostgreSQL: {e}"))?;
    let admin = format!("{base}/postgres");
    let postmaster = postmaster_pid();
    // Times WAL fsyncs in pg_stat_wal (a reload, no restart).
    let _ = run_sql(&admin, "ALTER SYSTEM SET track_wal_io_timing = on")
        .and_then(|()| run_sql(&admin, "SELECT pg_reload_conf()"));
    std::thread::sleep(Duration::from_millis(200));
    let timed = query_texts(&admin, "SHOW track_wal_io_timing")
        .is_ok_and(|v| v.first().is_some_and(|s| s == "on"));
    for db in ["scale_pg1", "scale_pg2"] {
        run_sql(
            &admin,
            &format!("CREATE DATABASE {db} ENCODING 'UTF8' TEMPLATE template0"),
        )
        .map_err(|e| anyhow!("cannot create {db}: {e}"))?;
    }
    let dir = tempfile::tempdir()?;
    let sled = format!("sled:{}", dir.path().join("data").display());
    let (pg1, pg2) = (format!("{base}/scale_pg1"), format!("{base}/scale_pg2"));
    let mut pool = vec![
        Worker::spawn(&sled, "sled")?,
        Worker::spawn(&pg1, "pg1")?,
        Worker::spawn(&pg2, "pg2a")?,
        Worker::spawn(&pg2, "pg2b")?,
    ];
    let probe = |db: &str| Pg {
        admin: admin.clone(),
        db: db.to_string(),
        postmaster,
        timed,
    };
    let mut setups = [
        Setup {
            name: "1 host, sled (baseline)",
            who: vec![0],
            pg: None,
            rounds: Vec::new(),
        },
        Setup {
            name: "1 host, PostgreSQL",
            who: vec![1],
            pg: Some(probe(&pg1)),
            rounds: Vec::new(),
        },
        Setup {
            name: "2 hosts, one PostgreSQL",
            who: vec![2, 3],
            pg: Some(probe(&pg2)),
            rounds: Vec::new(),
        },
    ];
    for i in [0, 1, 2] {
        let v = pool[i].ask(&format!("topup 0 {PEOPLE}"))?;
        if v["ops"].as_u64() != Some(PEOPLE) {
            bail!("top-ups on {} failed: {v}", pool[i].name);
        }
    }
    println!(
        "scale bench: durable wallet transfers (acknowledged once durable), {} people, {CLIENTS} concurrent clients; \
         {ROUNDS} interleaved rounds of {} s after a {} s warm-up, medians; each host its own process; PostgreSQL {}, fsync on{}",
        thousands(PEOPLE as f64),
        ROUND.as_secs(),
        WARM_UP.as_secs(),
        query_texts(&admin, "SHOW server_version")
            .ok()
            .and_then(|v| v.into_iter().next())
            .unwrap_or_default(),
        if postmaster.is_some() {
            ""
        } else {
            " (postmaster not found: database CPU sums every postgres process)"
        }
    );
    for s in &setups {
        transfer_round(&mut pool, &s.who, s.pg.as_ref(), "warm", WARM_UP, 1)?;
    }
    for round in 0..ROUNDS {
        let mut line = format!("round {}:", round + 1);
        for (k, s) in setups.iter_mut().enumerate() {
            let seed = 100 + (round * 3 + k) as u64;
            let r = transfer_round(
                &mut pool,
                &s.who,
                s.pg.as_ref(),
                &format!("r{round}"),
                ROUND,
                seed,
            )?;
            let errors: u64 = r.errors.values().sum();
            line += &format!(
                " {} {}/s{};",
                s.name,
                thousands(r.rate()),
                if errors > 0 {
                    format!(" ({errors} failed)")
                } else {
                    String::new()
                }
            );
            s.rounds.push(r);
        }
        println!("{}", line.trim_end_matches(';'));
    }

    println!();
    println!(
        "{:<34} {:>12} {:>9} {:>9} {:>8}",
        "", "transfers/s", "p50 ms", "p99 ms", "failed"
    );
    for (k, s) in setups.iter().enumerate() {
        let h = s.hist();
        let (failed, _) = s.errors();
        let note = if k == 1 {
            format!(
                "   target ≥ {}/s: {}",
                thousands(TARGET),
                if s.rate() >= TARGET { "met" } else { "NOT met" }
            )
        } else {
            String::new()
        };
        println!(
            "{:<34} {:>12} {:>9.2} {:>9.2} {:>8}{note}",
            s.name,
            thousands(s.rate()),
            h.pct(50),
            h.pct(99),
            failed
        );
    }
    let (sled_rate, pg1_rate, pg2_rate) = (setups[0].rate(), setups[1].rate(), setups[2].rate());
    println!(
        "ratios: PG 1 host / sled = {:.2}; PG 2 hosts / PG 1 host = {:.2}",
        pg1_rate / sled_rate.max(1.0),
        pg2_rate / pg1_rate.max(1.0)
    );
    for s in &setups {
        if let (n, Some(first)) = s.errors() {
            println!("  {}: {n} transfers failed, first: {first}", s.name);
            let mut codes: BTreeMap<String, u64> = BTreeMap::new();
            for r in &s.rounds {
                for (c, n) in &r.errors {
                    *codes.entry(c.clone()).or_default() += n;
                }
            }
            println!("    by code: {codes:?}");
        }
    }

    // The claim storm across the two hosts.
    let mut problems = Vec::new();
    let mut storm = Setup {
        name: "claim storm",
        who: vec![2, 3],
        pg: None,
        rounds: Vec::new(),
    };
    for round in 0..ROUNDS {
        let (r, won, paid, rows, sum) = storm_round(&mut pool, [2, 3], &pg2, round)?;
        if won != u64::from(SHARES) || paid != PACKET_TOTAL {
            problems.push(format!(
                "storm {}: {won} shares won paying {paid}, not {SHARES} paying {PACKET_TOTAL}",
                round + 1
            ));
        }
        if rows != u64::from(SHARES) || sum != PACKET_TOTAL {
            problems.push(format!(
                "storm {}: the ledger tables hold {rows} claims of the packet adding up to {sum}, not {SHARES} adding up to {PACKET_TOTAL}",
                round + 1
            ));
        }
        let unexpected: u64 = r
            .errors
            .iter()
            .filter(|(c, _)| c.as_str() != "red-packet-empty")
            .map(|(_, n)| n)
            .sum();
        if unexpected > 0 || r.ops != CLAIMERS {
            problems.push(format!(
                "storm {}: {} of {CLAIMERS} claims answered, {unexpected} failed (errors {:?}; first: {})",
                round + 1,
                r.ops,
                r.errors,
                r.first_error.as_deref().unwrap_or("none")
            ));
        }
        storm.rounds.push(r);
    }
    let h = storm.hist();
    println!(
        "claim storm, 2 hosts ({SHARES} shares, {CLAIMERS} claiming, half through each host): {} claims/s, p50 {:.2} ms, p99 {:.2} ms; {}",
        thousands(storm.rate()),
        h.pct(50),
        h.pct(99),
        if problems.is_empty() {
            format!(
                "every storm: exactly {SHARES} shares won, adding up to {PACKET_TOTAL} (the answers and the ledger tables agree)"
            )
        } else {
            "CHECKS FAILED (below)".to_string()
        }
    );

    println!();
    println!(
        "where the time goes (medians per round; CPU from /proc utime+stime at {TICKS:.0} ticks/s; WAL from pg_stat_wal{}):",
        if timed {
            ", fsync time with track_wal_io_timing"
        } else {
            ""
        }
    );
    let all: Vec<Costs> = setups.iter().map(|s| costs(s, cores)).collect();
    for (s, c) in setups.iter().zip(&all) {
        println!("{}", breakdown(s.name, c));
    }
    let connection = setups[1].pg.as_ref().map(connection_cost).transpose()?;
    if let Some(conn) = connection {
        println!(
            "  a fresh database connection that touches the ledger's tables, then closes: {:.1} ms of database CPU (mean of {CALIBRATION} connections)",
            conn * 1000.0
        );
    }
    println!("{}", verdict(setups[1].name, &all[1], cores, connection));
    println!("{}", verdict(setups[2].name, &all[2], cores, connection));

    for (i, name) in [
        (0, "sled"),
        (1, "PostgreSQL, 1 host"),
        (2, "PostgreSQL, 2 hosts"),
    ] {
        let a = pool[i].ask("audit")?;
        println!(
            "audit ({name}): {} transfers in {} batches, invariants hold",
            a["transfers"], a["batches"]
        );
    }
    for w in pool {
        w.quit();
    }
    println!("total wall time {:.0} s", started.elapsed().as_secs_f64());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        bail!("{} check(s) failed", problems.len());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scale-worker") {
        return worker(args.get(i + 1..).unwrap_or_default());
    }
    parent()
}
