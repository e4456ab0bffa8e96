//! HTTP throughput and latency of an authenticated `hello` call over
//! loopback, next to (a) a bare hyper server answering the same fixed body
//! and (b) the in-process call rate of the same app at the same concurrency.
//! The load comes from a separate client process (this program, re-run as
//! the client) with one keep-alive connection per task (64), measured in
//! interleaved rounds so drift on a shared machine hits every side alike. Prints req/s,
//! p50/p99 and the ratios; target: HTTP ≥ 0.7 × in-process.
//! Run: `cargo bench -p superapp-tests --bench http`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use superapp_host::{CallRequest, Caller, Superapp};
use superapp_tests::load::{self, Load, Req, Sample};
use superapp_tests::{login, median, person, root, serve_shared};

const CONNECTIONS: usize = 64;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
const BODY: &str = "Hello from a Superapp mini-app!\n";

/// A hyper server that answers every request with `BODY`: the floor of
/// what any HTTP server on this machine can do.
fn bare_hyper(rt: &tokio::runtime::Runtime) -> anyhow::Result<SocketAddr> {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(BODY.as_bytes()),
                    )))
                });
                let _ = server_http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// `threads` threads calling the app in-process for `ROUND`.
fn in_process(host: &Superapp, user: &str, threads: usize) -> anyhow::Result<Sample> {
    let deadline = Instant::now() + ROUND;
    let started = Instant::now();
    let per_thread = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<Vec<Duration>> {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let r = host.call(
                            "hello",
                            Caller {
                                user: Some(user.to_string()),
                                scene: None,
                            },
                            CallRequest {
                                method: "GET".into(),
                                path: "/".into(),
                                query: String::new(),
                                headers: vec![],
                                body: vec![],
                            },
                        )?;
                        anyhow::ensure!(r.status == 200 && r.body == BODY.as_bytes());
                        latencies.push(t.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a caller panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let latencies: Vec<Duration> = per_thread.into_iter().flatten().collect();
    Ok(Sample {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    })
}

/// `conns` keep-alive connections sending `GET path` for a round, from
/// the load client process.
fn remote_load(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    conns: usize,
) -> anyhow::Result<Sample> {
    let req = Req::get(path, token).expecting(BODY);
    load::remote(&Load {
        addr,
        connections: vec![vec![req]; conns],
        round_ms: ROUND.as_millis() as u64,
    })
}

fn main() -> anyhow::Result<()> {
    if load::client_if_asked()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    // The default config (256 instance slots), not the tests' small pool:
    // 64 in-process callers must not run out of slots.
    let host = Superapp::open(superapp_host::HostConfig::new(dir.path().join("data")))?;
    host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    let user = person(&host, "bench")?;
    let (base, host, _server_rt) = serve_shared(host)?;
    let token = login(&base, "bench")?;
    let api: SocketAddr = base.trim_start_matches("http://").parse()?;
    let bare_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bare = bare_hyper(&bare_rt)?;
    // One client thread: hyper's client pushes far more than these servers
    // answer, and every thread it does not use is left to the server.
    println!(
        "{CONNECTIONS} keep-alive connections / threads, {ROUNDS} interleaved rounds of {} s, {} cores",
        ROUND.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Warm-up: connections, caches, the instance pool.
    remote_load(api, "/apps/hello/call/", Some(&token), CONNECTIONS)?;
    in_process(&host, &user, CONNECTIONS)?;

    let (mut http, mut bare_s, mut local) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare_s.push(remote_load(bare, "/", None, CONNECTIONS)?);
        http.push(remote_load(
            api,
            "/apps/hello/call/",
            Some(&token),
            CONNECTIONS,
        )?);
        local.push(in_process(&host, &user, CONNECTIONS)?);
    }
    // One request at a time: the latency the HTTP hop adds to a call.
    let (mut http1, mut local1, mut bare1) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare1.push(remote_load(bare, "/", None, 1)?);
        http1.push(remote_load(api, "/apps/hello/call/", Some(&token), 1)?);
        local1.push(in_process(&host, &user, 1)?);
    }
    let report = |name: &str, samples: &mut Vec<Sample>| {
        let rate = median(samples.iter().map(Sample::rate).collect());
        let p50 = median(samples.iter_mut().map(|s| s.pct_us(50)).collect());
        let p99 = median(samples.iter_mut().map(|s| s.pct_us(99)).collect());
        println!("  {name:<34} {rate:>9.0} req/s   p50 {p50:>8.0} µs   p99 {p99:>8.0} µs");
        rate
    };
    println!("medians over the rounds:");
    let bare_rate = report("bare hyper, fixed body", &mut bare_s);
    let local_rate = report("in-process host.call (hello /)", &mut local);
    let http_rate = report("HTTP, bearer auth, hello /", &mut http);
    println!(
        "ratio HTTP / in-process: {:.2} (target ≥ 0.70)",
        http_rate / local_rate
    );
    println!("ratio HTTP / bare hyper: {:.3}", http_rate / bare_rate);
    println!("one request at a time:");
    report("bare hyper, 1 connection", &mut bare1);
    report("in-process, 1 thread", &mut local1);
    report("HTTP, 1 connection", &mut http1);
    Ok(())
}
