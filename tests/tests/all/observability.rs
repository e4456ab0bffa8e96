//! What an operator sees: `/metrics` (Prometheus text, behind the admin
//! token or on a listener of its own) moving with the traffic, and JSON log
//! lines that carry the request id and the app.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use superapp_tests::{
    EventStream, TestServer, login, post_keyed, send, send_json, send_with, wait_until,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_superapp-under-test"))
}

/// The value of the sample `name{labels…}` whose labels include every one
/// of `labels` (summed over the rest), from Prometheus text.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

fn scrape(t: &TestServer) -> anyhow::Result<String> {
    let r = send("GET", &format!("{}/metrics", t.base), Some(&t.admin), None)?;
    anyhow::ensure!(r.status == 200, "/metrics: {} {}", r.status, r.body);
    anyhow::ensure!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "the Prometheus text format, not {:?}",
        r.header("content-type")
    );
    Ok(r.body)
}

#[test]
fn metrics_need_the_admin_token_and_move_with_requests_calls_payments_and_messages()
-> anyhow::Result<()> {
    let t = TestServer::start(
        &["examples/hello/superapp.toml"],
        &[("ann", "Ann"), ("bob", "Bob")],
    )?;
    let anonymous = send("GET", &format!("{}/metrics", t.base), None, None)?;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let wrong = send("GET", &format!("{}/metrics", t.base), Some("nope"), None)?;
    assert_eq!(wrong.status, 401, "{}", wrong.body);

    let before = scrape(&t)?;
    let ann = login(&t.base, "ann")?;
    let bob = login(&t.base, "bob")?;
    for _ in 0..3 {
        assert_eq!(send("GET", &t.url("/healthz"), None, None)?.status, 200);
    }
    let call = send("GET", &t.url("/apps/hello/call/"), Some(&ann), None)?;
    assert_eq!(call.status, 200, "{}", call.body);
    t.top_up("ann", 500, "obs-topup-1")?;
    let paid = post_keyed(
        &t.url("/me/transfers"),
        Some(&ann),
        "obs-transfer-1",
        &json!({ "to": "bob", "amount": 100 }),
    )?;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let chat = send_json(
        "POST",
        &t.url("/me/conversations"),
        Some(&ann),
        &json!({ "members": ["bob"] }),
    )?;
    assert_eq!(chat.status, 201, "{}", chat.body);
    let conv = chat.json()["id"].as_str().unwrap_or_default().to_string();
    let mut stream = match EventStream::open(&t.base, &bob, None)? {
        Ok(s) => s,
        Err(r) => anyhow::bail!("stream refused: {}", r.body),
    };
    let sent = send_json(
        "POST",
        &t.url(&format!("/me/conversations/{conv}/messages")),
        Some(&ann),
        &json!({ "kind": "text", "text": "counted" }),
    )?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(stream.next_event()?.data["text"], "counted");

    let after = scrape(&t)?;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let healthz = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert!(
        moved("superapp_http_requests_total", &healthz) >= 3.0,
        "three /healthz requests counted by their route template:\n{after}"
    );
    assert!(
        moved(
            "superapp_http_request_duration_seconds_count",
            &[("route", "/healthz")]
        ) >= 3.0,
        "with their latency in a histogram"
    );
    assert!(
        after.contains("superapp_http_request_duration_seconds_bucket{"),
        "latency buckets are there"
    );
    assert!(
        moved(
            "superapp_http_requests_total",
            &[("route", "/apps/{id}/call/"), ("status", "200")]
        ) >= 1.0,
        "the call counted under its template, not its app id"
    );
    assert!(
        moved(
            "superapp_app_calls_total",
            &[("app", "hello"), ("outcome", "ok")]
        ) >= 1.0,
        "the mini-app call counted by app and outcome"
    );
    assert!(
        moved(
            "superapp_app_call_duration_seconds_count",
            &[("app", "hello")]
        ) >= 1.0,
        "with its latency"
    );
    assert!(
        moved("superapp_ledger_batch_size_count", &[]) >= 2.0,
        "the top-up and the transfer were ledger batches"
    );
    assert!(moved("superapp_ledger_commit_seconds_count", &[]) >= 2.0);
    assert!(
        moved("superapp_messaging_batch_size_count", &[]) >= 1.0,
        "the message was a messaging batch"
    );
    assert!(moved("superapp_messaging_commit_seconds_count", &[]) >= 2.0);
    assert!(
        sample(&after, "superapp_live_streams", &[]) >= 1.0,
        "bob's stream is open"
    );
    assert!(moved("superapp_live_events_sent_total", &[]) >= 1.0);
    assert!(
        sample(&after, "superapp_process_resident_memory_bytes", &[]) > 1e6,
        "resident memory is reported"
    );
    assert!(
        after.contains("# HELP superapp_app_calls_total"),
        "metrics are described"
    );
    drop(stream);
    wait_until(
        "the closed stream to be counted",
        Duration::from_secs(10),
        || scrape(&t).is_ok_and(|m| sample(&m, "superapp_live_streams", &[]) < 1.0),
    )?;
    Ok(())
}

/// A `superapp serve` process with `args` after `serve`, its standard error
/// in a file; returns it, its API address and the next line it printed.
fn serve_process(
    data: &Path,
    log: &Path,
    global: &[&str],
    args: &[&str],
) -> anyhow::Result<(std::process::Child, String, Vec<String>)> {
    let mut cmd = Command::new(bin());
    // On the database backend, the folder's database goes along.
    if let Some(url) = superapp_tests::store_for(data) {
        cmd.args(["--store", &url]);
    }
    let mut child = cmd
        .args(global)
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("SUPERAPP_ADMIN_TOKEN", "t".repeat(32))
        .env("RUST_LOG", "info,superapp_host=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let Some(base) = first.split_whitespace().find(|w| w.starts_with("http://")) else {
        let _ = child.kill();
        anyhow::bail!("the host said: {first}");
    };
    let base = base.trim_end_matches(';').to_string();
    let rest = if args.contains(&"--metrics-listen") {
        lines.next().transpose()?.into_iter().collect()
    } else {
        Vec::new()
    };
    Ok((child, base, rest))
}

#[test]
fn a_metrics_listener_of_its_own_needs_no_token_and_serves_only_metrics() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, base, said) = serve_process(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &[],
        &["--metrics-listen", "127.0.0.1:0"],
    )?;
    let result = (|| -> anyhow::Result<()> {
        let line = said.first().cloned().unwrap_or_default();
        let metrics = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| anyhow::anyhow!("no metrics address in {line:?}"))?;
        assert_eq!(
            send("GET", &format!("{base}/healthz"), None, None)?.status,
            200
        );
        let r = send("GET", metrics, None, None)?;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            sample(
                &r.body,
                "superapp_http_requests_total",
                &[("route", "/healthz")]
            ) >= 1.0,
            "the API's requests are counted there:\n{}",
            r.body
        );
        let other = metrics.trim_end_matches("/metrics");
        let r = send("GET", &format!("{other}/healthz"), None, None)?;
        assert_eq!(r.status, 404, "only /metrics is served there");
        // The API's own /metrics still needs the token.
        let r = send("GET", &format!("{base}/metrics"), None, None)?;
        assert_eq!(r.status, 401);
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn json_logs_put_the_request_id_on_every_line_of_a_request_and_the_app_on_its_output()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (ok, _, err) = superapp_tests::cli(&[
        "--data",
        data.to_str().unwrap_or_default(),
        "install",
        "--dev",
        superapp_tests::root()
            .join("examples/hello/superapp.toml")
            .to_str()
            .unwrap_or_default(),
        "--component",
        superapp_tests::guest("hello").to_str().unwrap_or_default(),
    ]);
    assert!(ok, "install: {err}");
    let (ok, _, err) = superapp_tests::cli_with_input(
        &[
            "--data",
            data.to_str().unwrap_or_default(),
            "users",
            "add",
            "ann",
            "--password-stdin",
        ],
        &format!("{}\n", superapp_tests::PASSWORD),
    );
    assert!(ok, "users add: {err}");
    let log = dir.path().join("log");
    let (mut child, base, _) = serve_process(&data, &log, &["--log-format", "json"], &[])?;
    let result = (|| -> anyhow::Result<()> {
        let ann = login(&base, "ann")?;
        let r = send_with(
            "POST",
            &format!("{base}/apps/hello/call/visits"),
            Some(&ann),
            Some((b"{}", "application/json")),
            &[("x-request-id", "trace-me-42")],
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-request-id"), Some("trace-me-42"));
        // The request's last line is written once it is answered.
        wait_until("the request's log lines", Duration::from_secs(10), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("answered"))
        })?;
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result?;
    let text = std::fs::read_to_string(&log)?;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("not JSON: {l}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    assert!(!lines.is_empty(), "something was logged");
    let in_request: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == "request"))
        })
        .collect();
    let request = |l: &Value| -> Value {
        l["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == "request")
            .cloned()
            .unwrap_or_default()
    };
    for l in &in_request {
        assert!(
            request(l)["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "every line in a request carries its id: {l}"
        );
    }
    let traced: Vec<&&Value> = in_request
        .iter()
        .filter(|l| request(l)["path"] == "/apps/hello/call/visits")
        .collect();
    assert!(
        traced.len() >= 2,
        "the app's line and the answer are in the request: {text}"
    );
    for l in &traced {
        assert_eq!(
            request(l)["request_id"],
            "trace-me-42",
            "the client's id on every line of its request: {l}"
        );
    }
    let app_line = traced
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("visit number 1"))
        })
        .ok_or_else(|| anyhow::anyhow!("the app's log line is missing: {text}"))?;
    assert_eq!(app_line["fields"]["app"], "hello", "tagged with the app id");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when not on a terminal"
    );
    Ok(())
}
