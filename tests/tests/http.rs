//! The HTTP edge on a real server on 127.0.0.1: calls reach the app's
//! handler with path, query, headers and body; errors are problem+json with
//! a stable type; a misbehaving app answers with its error and the server
//! keeps serving.

use superapp_tests::{STORAGE, guest, manifest, open_host, root, serve};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

fn send(method: &str, url: &str, body: Option<&[u8]>) -> anyhow::Result<Reply> {
    let agent = agent();
    let mut resp = match body {
        Some(b) => agent.run(
            ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .body(b.to_vec())?,
        )?,
        None => agent.run(
            ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .body(())?,
        )?,
    };
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(Reply {
        status: resp.status().as_u16(),
        content_type,
        body: resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()?,
    })
}

fn problem_type(reply: &Reply) -> String {
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    v["type"].as_str().unwrap_or("").to_string()
}

fn server() -> anyhow::Result<(tempfile::TempDir, String, tokio::runtime::Runtime)> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    let looper = manifest(
        dir.path(),
        "looper",
        &guest("fixture_loop"),
        "[limits]\ndeadline_ms = 100",
    );
    host.install_dev(&looper, false)?;
    let kv = manifest(dir.path(), "kv", &guest("fixture_kv"), STORAGE);
    host.install_dev(&kv, false)?;
    let (base, rt) = serve(host)?;
    Ok((dir, base, rt))
}

#[test]
fn calls_reach_the_app_with_path_query_and_body() -> anyhow::Result<()> {
    let (_dir, base, _rt) = server()?;
    let root = send("GET", &format!("{base}/apps/hello/call/"), None)?;
    assert_eq!(root.status, 200);
    assert_eq!(root.body, "Hello from a Superapp mini-app!\n");
    assert!(root.content_type.starts_with("text/plain"));
    let bare = send("GET", &format!("{base}/apps/hello/call"), None)?;
    assert_eq!(bare.body, root.body);

    let greet = send("GET", &format!("{base}/apps/hello/call/greet/Zoë"), None)?;
    assert_eq!(greet.body, r#"{"greeting":"Hello, Zoë!"}"#);

    let put = send("PUT", &format!("{base}/apps/kv/call/app/k1"), Some(b"v1"))?;
    assert_eq!(put.status, 204);
    let got = send("GET", &format!("{base}/apps/kv/call/app/k1"), None)?;
    assert_eq!(got.body, "v1");
    let listed = send("GET", &format!("{base}/apps/kv/call/app?prefix=k"), None)?;
    assert!(listed.body.contains(r#""keys":["k1"]"#), "{}", listed.body);

    let visit = send("POST", &format!("{base}/apps/hello/call/visits"), Some(b""))?;
    assert_eq!(visit.body, r#"{"count":1}"#);
    Ok(())
}

#[test]
fn errors_are_problem_json_with_stable_types() -> anyhow::Result<()> {
    let (_dir, base, _rt) = server()?;
    let missing = send("GET", &format!("{base}/apps/nobody/call/"), None)?;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/problem+json");
    assert_eq!(problem_type(&missing), "urn:superapp:problem:app-not-found");

    let too_big = vec![b'x'; (1 << 20) + 1];
    let big = send(
        "POST",
        &format!("{base}/apps/hello/call/visits"),
        Some(&too_big),
    )?;
    assert_eq!(big.status, 413);
    assert_eq!(problem_type(&big), "urn:superapp:problem:request-too-large");

    let nowhere = send("GET", &format!("{base}/nowhere"), None)?;
    assert_eq!(nowhere.status, 404);
    assert_eq!(problem_type(&nowhere), "urn:superapp:problem:not-found");

    let app_404 = send(
        "GET",
        &format!("{base}/apps/hello/call/no/such/route"),
        None,
    )?;
    assert_eq!(app_404.status, 404, "the app's own 404 passes through");
    assert!(app_404.body.contains("\"error\":\"not-found\""));
    Ok(())
}

#[test]
fn a_looping_app_times_out_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let (_dir, base, _rt) = server()?;
    let slow = send("GET", &format!("{base}/apps/looper/call/"), None)?;
    assert_eq!(slow.status, 504);
    assert_eq!(problem_type(&slow), "urn:superapp:problem:timeout");
    let ok = send("GET", &format!("{base}/apps/looper/call/ok"), None)?;
    assert_eq!(ok.body, "ok");
    let health = send("GET", &format!("{base}/healthz"), None)?;
    assert_eq!(health.body, r#"{"apps":3,"status":"ok"}"#);
    Ok(())
}
