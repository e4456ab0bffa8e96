//! The HTTP edge on a real server on 127.0.0.1: calls reach the app's
//! handler with path, query, headers and body; errors are problem+json with
//! a stable type; a misbehaving app answers with its error and the server
//! keeps serving.

use superapp_tests::{Reply, STORAGE, guest, login, manifest, open_host, person, root, serve};

/// A signed-in client of a served host.
struct Client {
    base: String,
    token: String,
}

impl Client {
    fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Reply> {
        superapp_tests::send(
            method,
            &format!("{}{path}", self.base),
            Some(&self.token),
            body.map(|b| (b, "application/octet-stream")),
        )
    }
}

fn server() -> anyhow::Result<(tempfile::TempDir, Client, tokio::runtime::Runtime)> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    person(&host, "tester")?;
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
    let token = login(&base, "tester")?;
    Ok((dir, Client { base, token }, rt))
}

#[test]
fn calls_reach_the_app_with_path_query_and_body() -> anyhow::Result<()> {
    let (_dir, c, _rt) = server()?;
    let root = c.send("GET", "/apps/hello/call/", None)?;
    assert_eq!(root.status, 200);
    assert_eq!(root.body, "Hello from a Superapp mini-app!\n");
    assert!(root.content_type.starts_with("text/plain"));
    let bare = c.send("GET", "/apps/hello/call", None)?;
    assert_eq!(bare.body, root.body);

    let greet = c.send("GET", "/apps/hello/call/greet/Zoë", None)?;
    assert_eq!(greet.body, r#"{"greeting":"Hello, Zoë!"}"#);

    let put = c.send("PUT", "/apps/kv/call/app/k1", Some(b"v1"))?;
    assert_eq!(put.status, 204);
    let got = c.send("GET", "/apps/kv/call/app/k1", None)?;
    assert_eq!(got.body, "v1");
    let listed = c.send("GET", "/apps/kv/call/app?prefix=k", None)?;
    assert!(listed.body.contains(r#""keys":["k1"]"#), "{}", listed.body);

    let visit = c.send("POST", "/apps/hello/call/visits", Some(b""))?;
    assert_eq!(visit.body, r#"{"count":1}"#);
    Ok(())
}

#[test]
fn errors_are_problem_json_with_stable_types() -> anyhow::Result<()> {
    let (_dir, c, _rt) = server()?;
    let missing = c.send("GET", "/apps/nobody/call/", None)?;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/problem+json");
    assert_eq!(missing.problem(), "app-not-found");

    let too_big = vec![b'x'; (1 << 20) + 1];
    let big = c.send("POST", "/apps/hello/call/visits", Some(&too_big))?;
    assert_eq!(big.status, 413);
    assert_eq!(big.problem(), "request-too-large");

    let nowhere = c.send("GET", "/nowhere", None)?;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.problem(), "not-found");

    let app_404 = c.send("GET", "/apps/hello/call/no/such/route", None)?;
    assert_eq!(app_404.status, 404, "the app's own 404 passes through");
    assert!(app_404.body.contains("\"error\":\"not-found\""));
    Ok(())
}

#[test]
fn a_looping_app_times_out_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let (_dir, c, _rt) = server()?;
    let slow = c.send("GET", "/apps/looper/call/", None)?;
    assert_eq!(slow.status, 504);
    assert_eq!(slow.problem(), "timeout");
    let ok = c.send("GET", "/apps/looper/call/ok", None)?;
    assert_eq!(ok.body, "ok");
    let health = c.send("GET", "/healthz", None)?;
    assert_eq!(health.body, r#"{"apps":3,"status":"ok"}"#);
    Ok(())
}

#[test]
fn a_request_whose_body_never_arrives_is_ended_with_a_timeout() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir()?;
    let mut config = superapp_tests::test_config(&dir.path().join("data"));
    config.request_timeout = std::time::Duration::from_millis(300);
    let (base, _rt) = serve(superapp_host::Superapp::open(config)?)?;
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://"))?;
    // Promise 100 bytes, send one, then wait for the server's answer.
    stream.write_all(
        b"POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(b"}") {
        let n = stream.read(&mut buf)?;
        anyhow::ensure!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("urn:superapp:problem:request-timeout"),
        "{text}"
    );
    Ok(())
}
