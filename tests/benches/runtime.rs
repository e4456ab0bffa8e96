//! Per-call latency of `hello` through the host (instantiate, handle, drop)
//! against a bare-wasmtime floor measured in the same run: same component,
//! `InstancePre`, pooling allocator, empty WASI context, no host logic.
//! Prints medians, the ratio (target: host ≤ 1.3 × floor) and calls/s with
//! 2 threads. Run: `cargo bench -p superapp-tests --bench runtime`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use superapp_host::capabilities::{GuestRequest, MiniappPre};
use superapp_host::{CallRequest, Caller, Superapp};
use superapp_tests::{open_host, root};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const ROUNDS: usize = 20;
const CALLS_PER_ROUND: usize = 500;
const THREADED_CALLS: usize = 20_000;

struct FloorState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// wasmtime 48 has its own error type; bring it into anyhow for `?`.
fn wt<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:?}"))
}

struct Floor {
    engine: Engine,
    pre: MiniappPre<FloorState>,
}

impl Floor {
    fn new(wasm: &[u8]) -> anyhow::Result<Floor> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(
            PoolingAllocationConfig::default(),
        ));
        let engine = wt(Engine::new(&config))?;
        let component = wt(Component::new(&engine, wasm))?;
        let mut linker = Linker::<FloorState>::new(&engine);
        wt(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        // hello's `/` route calls no capability; the rest only need to exist.
        wt(linker.define_unknown_imports_as_traps(&component))?;
        let pre = wt(MiniappPre::new(wt(linker.instantiate_pre(&component))?))?;
        Ok(Floor { engine, pre })
    }

    fn call(&self) -> anyhow::Result<u16> {
        let mut store = Store::new(
            &self.engine,
            FloorState {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        let req = GuestRequest {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        // The same execution mode as the host: async, on a fiber.
        wasmtime_wasi::runtime::in_tokio(async {
            let instance = wt(self.pre.instantiate_async(&mut store).await)?;
            Ok(wt(instance.call_handle(&mut store, &req).await)?.status)
        })
    }
}

fn host_call(host: &Superapp) -> anyhow::Result<u16> {
    let req = CallRequest {
        method: "GET".into(),
        path: "/".into(),
        ..Default::default()
    };
    Ok(host.call("hello", Caller::default(), req)?.status)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_calls(
    n: usize,
    mut f: impl FnMut() -> anyhow::Result<u16>,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let status = f()?;
        out.push(t.elapsed());
        anyhow::ensure!(status == 200, "status {status}");
    }
    Ok(out)
}

fn threaded<F>(f: Arc<F>) -> anyhow::Result<f64>
where
    F: Fn() -> anyhow::Result<u16> + Send + Sync + 'static,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                for _ in 0..THREADED_CALLS / 2 {
                    f()?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("bench thread panicked"))??;
    }
    Ok(THREADED_CALLS as f64 / start.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    let record = host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    let wasm = std::fs::read(dir.path().join("data").join(&record.current.wasm_file))?;
    let floor = Floor::new(&wasm)?;
    println!(
        "hello component: {} bytes; host pooling allocator: {}",
        wasm.len(),
        host.runtime().pooling()
    );

    // Warm up both, then interleave rounds so drift on a shared machine
    // hits both sides alike.
    time_calls(200, || floor.call())?;
    time_calls(200, || host_call(&host))?;
    let (mut floor_t, mut host_t) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        floor_t.extend(time_calls(CALLS_PER_ROUND, || floor.call())?);
        host_t.extend(time_calls(CALLS_PER_ROUND, || host_call(&host))?);
    }
    let p99 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() * 99 / 100]
    };
    let (fm, hm) = (median(&mut floor_t), median(&mut host_t));
    println!(
        "per call (instantiate + handle + drop), {} calls each:",
        ROUNDS * CALLS_PER_ROUND
    );
    println!(
        "  floor (bare wasmtime): median {:>8.1} µs  p99 {:>8.1} µs",
        fm.as_secs_f64() * 1e6,
        p99(&mut floor_t).as_secs_f64() * 1e6
    );
    println!(
        "  host  (superapp):      median {:>8.1} µs  p99 {:>8.1} µs",
        hm.as_secs_f64() * 1e6,
        p99(&mut host_t).as_secs_f64() * 1e6
    );
    println!(
        "  ratio host / floor: {:.2} (target ≤ 1.30)",
        hm.as_secs_f64() / fm.as_secs_f64()
    );

    let floor = Arc::new(floor);
    let floor_rate = threaded(Arc::new(move || floor.call()))?;
    let host = Arc::new(host);
    let host_rate = threaded(Arc::new(move || host_call(&host)))?;
    println!("calls/s with 2 threads ({THREADED_CALLS} calls):");
    println!("  floor: {floor_rate:>10.0}");
    println!(
        "  host:  {host_rate:>10.0}  ({:.2} × floor)",
        host_rate / floor_rate
    );
    Ok(())
}
