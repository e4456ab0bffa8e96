//! The benchmarks' load client: keep-alive HTTP/1.1 connections on one
//! thread, run in a child process (the benchmark re-executed), so a real
//! client is never inside the server's process (sharing its address space,
//! every page the server's allocator hands back would also interrupt the
//! client's core to flush its TLB). Each connection sends its own list of
//! requests over and over until the round ends, and every latency is kept.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The environment variable that turns a benchmark into the load client.
pub const CLIENT_ENV: &str = "SUPERAPP_LOAD_CLIENT";

/// One request a connection sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// A bearer token.
    pub token: Option<String>,
    /// A JSON body.
    pub body: Option<String>,
    /// The status the answer must have.
    pub status: u16,
    /// The body it must have, where that is fixed.
    pub expect: Option<String>,
}

impl Req {
    pub fn get(path: &str, token: Option<&str>) -> Req {
        Req {
            method: "GET".into(),
            path: path.into(),
            token: token.map(str::to_string),
            body: None,
            status: 200,
            expect: None,
        }
    }

    pub fn post_json(path: &str, token: &str, body: &serde_json::Value, status: u16) -> Req {
        Req {
            method: "POST".into(),
            path: path.into(),
            token: Some(token.into()),
            body: Some(body.to_string()),
            status,
            expect: None,
        }
    }

    /// The same, answered with exactly `body`.
    pub fn expecting(mut self, body: &str) -> Req {
        self.expect = Some(body.into());
        self
    }
}

/// A load: one list of requests per connection, for `round`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub addr: SocketAddr,
    pub connections: Vec<Vec<Req>>,
    pub round_ms: u64,
}

/// What one round saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub requests: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Sample {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile latency, in µs.
    pub fn pct_us(&mut self, p: usize) -> f64 {
        self.latencies.sort();
        let i = (self.latencies.len() * p / 100).min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }
}

/// This program again, told by `env` to run `spec` (written to a file the
/// caller keeps until the child is done).
fn this_program_as(
    env: &str,
    spec: &impl Serialize,
) -> anyhow::Result<(std::process::Command, tempfile::NamedTempFile)> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(spec)?)?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.env(env, file.path());
    Ok((cmd, file))
}

/// Runs `load` in a child process (this program again, as the client).
pub fn remote(load: &Load) -> anyhow::Result<Sample> {
    let (mut cmd, _spec) = this_program_as(CLIENT_ENV, load)?;
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "load client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// If this process is a load client, runs it and returns true (the caller
/// then exits); else false.
pub fn client_if_asked() -> anyhow::Result<bool> {
    let Some(spec) = std::env::var_os(CLIENT_ENV) else {
        return Ok(false);
    };
    let load: Load = serde_json::from_slice(&std::fs::read(spec)?)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sample = rt.block_on(run(load))?;
    println!("{}", serde_json::to_string(&sample)?);
    Ok(true)
}

/// Every connection sends its requests until the round ends.
async fn run(load: Load) -> anyhow::Result<Sample> {
    let deadline = Instant::now() + Duration::from_millis(load.round_ms);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for reqs in load.connections {
        let addr = load.addr;
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            'round: loop {
                for r in &reqs {
                    if Instant::now() >= deadline {
                        break 'round;
                    }
                    let mut req = hyper::Request::builder()
                        .method(r.method.as_str())
                        .uri(&r.path)
                        .header("host", "bench");
                    if let Some(t) = &r.token {
                        req = req.header("authorization", format!("Bearer {t}"));
                    }
                    if r.body.is_some() {
                        req = req.header("content-type", "application/json");
                    }
                    let body = Full::new(Bytes::from(r.body.clone().unwrap_or_default()));
                    let t = Instant::now();
                    let resp = sender.send_request(req.body(body)?).await?;
                    let status = resp.status().as_u16();
                    let got = resp.into_body().collect().await?.to_bytes();
                    anyhow::ensure!(
                        status == r.status && r.expect.as_ref().is_none_or(|e| e.as_bytes() == got),
                        "{} {}: {status} {got:?}",
                        r.method,
                        r.path
                    );
                    latencies.push(t.elapsed());
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Sample {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    })
}

/// The environment variable that turns a benchmark into a stream reader.
pub const READER_ENV: &str = "SUPERAPP_STREAM_READER";

/// Readers of live streams: one `GET /me/events` per token, each until it
/// has `expect` events whose text is `m<i>@<sent, µs since the epoch>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Readers {
    pub addr: SocketAddr,
    pub tokens: Vec<String>,
    pub expect: usize,
}

/// What the readers saw: send→receipt latencies (µs), and the first and
/// last receipt (µs since the epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Received {
    pub latencies_us: Vec<u64>,
    pub first_us: u64,
    pub last_us: u64,
}

/// Microseconds since the epoch: one clock for the sender and the reader
/// processes on this machine.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Live-stream readers in a child process (this program again), connected
/// once this returns; `finish` waits for what they received.
pub struct ReaderProcess {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    _spec: tempfile::NamedTempFile,
}

impl ReaderProcess {
    pub fn start(readers: &Readers) -> anyhow::Result<ReaderProcess> {
        use std::io::BufRead;
        let (mut cmd, spec) = this_program_as(READER_ENV, readers)?;
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut out = std::io::BufReader::new(stdout);
        let mut line = String::new();
        out.read_line(&mut line)?;
        anyhow::ensure!(line.trim() == "ready", "the readers said: {line}");
        Ok(ReaderProcess {
            child,
            out,
            _spec: spec,
        })
    }

    pub fn finish(mut self) -> anyhow::Result<Received> {
        use std::io::Read;
        let mut text = String::new();
        self.out.read_to_string(&mut text)?;
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "the readers failed: {text}");
        Ok(serde_json::from_str(text.trim())?)
    }
}

/// If this process is a stream reader, runs it and returns true.
pub fn reader_if_asked() -> anyhow::Result<bool> {
    let Some(spec) = std::env::var_os(READER_ENV) else {
        return Ok(false);
    };
    let readers: Readers = serde_json::from_slice(&std::fs::read(spec)?)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let received = rt.block_on(read_streams(readers))?;
    println!("{}", serde_json::to_string(&received)?);
    Ok(true)
}

async fn read_streams(r: Readers) -> anyhow::Result<Received> {
    // Connect every stream first, then say so.
    let mut bodies = Vec::new();
    for token in &r.tokens {
        let stream = tokio::net::TcpStream::connect(r.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/me/events")
            .header("host", "bench")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status() == 200, "stream: {}", resp.status());
        bodies.push((sender, resp.into_body()));
    }
    println!("ready");
    use std::io::Write;
    std::io::stdout().flush()?;
    let expect = r.expect;
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|(sender, mut body)| {
            tokio::spawn(async move {
                let _keep = sender;
                let mut got = Vec::new();
                let mut buf = Vec::new();
                while got.len() < expect {
                    let Some(frame) = body.frame().await else {
                        anyhow::bail!("the stream ended after {} events", got.len());
                    };
                    let Ok(data) = frame?.into_data() else {
                        continue;
                    };
                    let at = now_us();
                    buf.extend_from_slice(&data);
                    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                        let event: Vec<u8> = buf.drain(..end + 2).collect();
                        let text = String::from_utf8_lossy(&event);
                        let Some(json) = text.lines().find_map(|l| l.strip_prefix("data: ")) else {
                            continue;
                        };
                        let v: serde_json::Value = serde_json::from_str(json)?;
                        let sent = v["text"]
                            .as_str()
                            .and_then(|t| t.split_once('@'))
                            .and_then(|(_, us)| us.parse::<u64>().ok());
                        if let Some(sent) = sent {
                            got.push((at.saturating_sub(sent), at));
                        }
                    }
                }
                anyhow::Ok(got)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Received {
        first_us: all.iter().map(|g| g.1).min().unwrap_or(0),
        last_us: all.iter().map(|g| g.1).max().unwrap_or(0),
        latencies_us: all.into_iter().map(|g| g.0).collect(),
    })
}
