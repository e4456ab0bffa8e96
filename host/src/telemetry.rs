//! What an operator sees of a running host: the log format (text or JSON
//! lines) and the Prometheus metrics — the exporter, its histogram buckets,
//! and the figures read at scrape time (resident memory, live streams).
//! The services and runtime record through the `metrics` facade; only this
//! module knows the exporter.

use crate::Superapp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

pub use crate::config::LogFormat;

/// Latency buckets, in seconds: 100 µs to 30 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];
/// Batch-size buckets (commands or writes per commit).
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Sets up logging to standard error for the rest of the process: `RUST_LOG`
/// filters (default `info`); text with colour only on a terminal (and not
/// with `NO_COLOR`), or one JSON object per line with the spans it happened
/// in (a request's carries its `request_id`, a mini-app's its `app`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests run many commands in one process) keeps the first.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).try_init()
        }
    };
}

/// The process's metrics recorder, installed the first time it is asked
/// for (one per process: hosts in one test process share it).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES));
        let recorder = match builder {
            Ok(b) => b.build_recorder(),
            // The bucket lists above are fixed and not empty.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only its own");
        }
        describe();
        handle
    })
}

/// Help lines for what the host records.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "superapp_http_requests_total",
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        "superapp_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request (to its head, for streams)"
    );
    describe_counter!(
        "superapp_app_calls_total",
        "Mini-app calls, by app and outcome (ok or the error code)"
    );
    describe_histogram!(
        "superapp_app_call_duration_seconds",
        Unit::Seconds,
        "Time a mini-app call took, by app"
    );
    describe_histogram!(
        "superapp_ledger_batch_size",
        "Wallet commands committed in one ledger batch"
    );
    describe_histogram!(
        "superapp_ledger_commit_seconds",
        Unit::Seconds,
        "Time to commit one ledger batch durably"
    );
    describe_histogram!(
        "superapp_messaging_batch_size",
        "Messaging writes made durable by one flush or transaction"
    );
    describe_histogram!(
        "superapp_messaging_commit_seconds",
        Unit::Seconds,
        "Time from a messaging write to it being durable"
    );
    describe_gauge!(
        "superapp_live_streams",
        "Live event streams (GET /me/events) open on this host"
    );
    describe_counter!(
        "superapp_live_events_sent_total",
        "Live events handed to open streams from memory"
    );
    describe_counter!(
        "superapp_live_streams_cut_off_total",
        "Live streams closed for falling too far behind (they resume from the store)"
    );
    describe_counter!(
        "superapp_event_deliveries_total",
        "Events and messages handed to mini-apps, by queue and outcome (delivered, retry, gave-up, dropped)"
    );
    describe_gauge!(
        "superapp_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process"
    );
}

/// The metrics as Prometheus text, with the figures read now.
pub fn render(host: &Superapp) -> String {
    let handle = metrics();
    let messaging = host.messaging();
    metrics::gauge!("superapp_live_streams").set(messaging.live_connections() as f64);
    let live = messaging.live_counters();
    metrics::counter!("superapp_live_events_sent_total")
        .absolute(live.delivered.load(Ordering::Relaxed));
    metrics::counter!("superapp_live_streams_cut_off_total")
        .absolute(live.cut_off.load(Ordering::Relaxed));
    if let Some(rss) = resident_bytes() {
        metrics::gauge!("superapp_process_resident_memory_bytes").set(rss as f64);
    }
    handle.run_upkeep();
    handle.render()
}

/// Resident memory (`VmRSS` of `/proc/self/status`, in kB), where there
/// is one.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
