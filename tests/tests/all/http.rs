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

// ---- the HTTP edge under abuse ----------------------------------------

/// A served host with the hostile fixture and `tester`, configured by
/// `configure`; returns it with tester's token.
fn edge_server(
    configure: impl FnOnce(&mut superapp_host::HostConfig),
) -> anyhow::Result<(superapp_tests::TestServer, tempfile::TempDir, String)> {
    let s = superapp_tests::TestServer::start_with(&[], &[("tester", "Tester")], configure)?;
    let dir = tempfile::tempdir()?;
    s.host.install_dev(
        &superapp_tests::hostile_manifest(dir.path(), "hostile", ""),
        false,
    )?;
    let token = login(&s.base, "tester")?;
    Ok((s, dir, token))
}

/// The server's address (`127.0.0.1:port`).
fn addr(s: &superapp_tests::TestServer) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Writes `request` as is on a fresh connection and reads the answer until
/// the server closes it (at most a minute, so a hang fails the test).
fn raw(s: &superapp_tests::TestServer, request: &[u8]) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr(s))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    tcp.write_all(request)?;
    let mut out = Vec::new();
    tcp.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn get_as(s: &superapp_tests::TestServer, token: &str, path: &str) -> anyhow::Result<Reply> {
    superapp_tests::send("GET", &s.url(path), Some(token), None)
}

#[test]
fn a_client_that_dribbles_its_headers_is_cut_off() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let (s, _dir, _) = edge_server(|c| c.header_read_timeout = std::time::Duration::from_secs(1))?;
    // Half a request head, then silence: the server must hang up on its
    // own (before the fix it waited forever; the read would time out).
    let mut tcp = std::net::TcpStream::connect(addr(&s))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")?;
    let mut out = Vec::new();
    let read = tcp.read_to_end(&mut out);
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    // A complete request on a new connection is served.
    let r = superapp_tests::send("GET", &s.url("/healthz"), None, None)?;
    assert_eq!(r.status, 200);
    Ok(())
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_room_comes_back() -> anyhow::Result<()> {
    use std::io::Read;
    let (s, _dir, _) = edge_server(|c| c.max_connections = 3)?;
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr(&s)))
        .collect::<Result<_, _>>()?;
    // The server accepts in order; wait until it holds all three, then a
    // fourth is closed unanswered.
    superapp_tests::wait_until(
        "a fourth connection to be refused",
        std::time::Duration::from_secs(30),
        || {
            let Ok(mut extra) = std::net::TcpStream::connect(addr(&s)) else {
                return false;
            };
            let _ = extra.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let mut buf = [0u8; 1];
            matches!(extra.read(&mut buf), Ok(0))
        },
    )?;
    drop(held);
    superapp_tests::wait_until(
        "room for a new connection",
        std::time::Duration::from_secs(30),
        || {
            superapp_tests::send("GET", &s.url("/healthz"), None, None)
                .is_ok_and(|r| r.status == 200)
        },
    )?;
    Ok(())
}

#[test]
fn an_app_answers_data_without_the_hosts_cookies_cors_or_active_content() -> anyhow::Result<()> {
    let (s, _dir, token) = edge_server(|_| {})?;
    let q = [
        "h=set-cookie%3Asession%3Devil",
        "h=access-control-allow-origin%3A%2A",
        "h=access-control-allow-credentials%3Atrue",
        "h=content-type%3Atext%2Fhtml",
        "h=location%3Ahttps%3A%2F%2Fevil.example%2F",
        "h=content-security-policy%3Adefault-src%20%2A",
        "h=x-order-count%3A3",
        "body=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ]
    .join("&");
    let r = get_as(&s, &token, &format!("/apps/hostile/call/respond?{q}"))?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "<script>alert(1)</script>", "the body is the app's");
    for gone in [
        "set-cookie",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "location",
    ] {
        assert_eq!(r.header(gone), None, "{gone} must not reach the client");
    }
    assert_eq!(
        r.content_type, "text/plain; charset=utf-8",
        "HTML is served as text"
    );
    assert_eq!(
        r.header("x-order-count"),
        Some("3"),
        "the app's own headers pass"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(
        csp.starts_with("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    // A redirect inside the app itself passes; one out of it does not.
    let redirect = |to: &str| {
        raw(
            &s,
            format!(
                "GET /apps/hostile/call/respond?status=303&h=location%3A{to} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let inside = redirect("%2Fapps%2Fhostile%2Fcall%2Fok")?.to_lowercase();
    assert!(
        inside.contains("location: /apps/hostile/call/ok\r\n"),
        "{inside}"
    );
    let outside = redirect("%2Fme%2Fexport")?.to_lowercase();
    assert!(
        outside.starts_with("http/1.1 303") && !outside.contains("location:"),
        "{outside}"
    );
    Ok(())
}

#[test]
fn an_app_cannot_answer_with_a_1xx_status_or_huge_headers() -> anyhow::Result<()> {
    let (s, _dir, token) = edge_server(|_| {})?;
    for status in [100, 101, 103, 199, 600] {
        let r = get_as(
            &s,
            &token,
            &format!("/apps/hostile/call/respond?status={status}"),
        )?;
        assert_eq!(
            (r.status, r.problem().as_str()),
            (502, "bad-response"),
            "{status}: {}",
            r.body
        );
    }
    for status in [200, 204, 404, 599] {
        let r = get_as(
            &s,
            &token,
            &format!("/apps/hostile/call/respond?status={status}"),
        )?;
        assert_eq!(r.status, status);
    }
    let big = "v".repeat(20 << 10);
    let r = get_as(
        &s,
        &token,
        &format!("/apps/hostile/call/respond?h=x-big%3A{big}"),
    )?;
    assert_eq!(
        (r.status, r.problem().as_str()),
        (502, "bad-response"),
        "{}",
        r.body
    );
    Ok(())
}

#[test]
fn oversized_request_headers_never_reach_the_app() -> anyhow::Result<()> {
    let (s, _dir, token) = edge_server(|_| {})?;
    let send = |value: &str| {
        superapp_tests::send_with(
            "GET",
            &s.url("/apps/hostile/call/echo"),
            Some(&token),
            None,
            &[("x-big", value)],
        )
    };
    let fine = send(&"a".repeat(1024))?;
    assert_eq!(fine.status, 200);
    assert!(fine.body.contains("x-big"), "{}", fine.body);
    let over = send(&"a".repeat(20 << 10))?;
    assert_eq!(
        (over.status, over.problem().as_str()),
        (431, "headers-too-large"),
        "{}",
        over.body
    );
    // Past the head limit the server refuses before any route runs.
    let huge = raw(
        &s,
        format!(
            "GET /apps/hostile/call/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nX-Huge: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(390 << 10)
        )
        .as_bytes(),
    )?;
    assert!(
        huge.starts_with("HTTP/1.1 431"),
        "{}",
        &huge[..huge.len().min(200)]
    );
    Ok(())
}

#[test]
fn call_paths_are_decoded_and_dot_segments_or_encoded_slashes_refused() -> anyhow::Result<()> {
    let (s, _dir, token) = edge_server(|_| {})?;
    let request = |path: &str| {
        raw(
            &s,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    for bad in [
        "/apps/hostile/call/..%2f..%2fme",
        "/apps/hostile/call/../../me",
        "/apps/hostile/call/echo/%2e%2e/x",
        "/apps/hostile/call/echo/a%00b",
        "/apps/hostile/call/echo/a%5Cb",
        "/apps/hostile/call/echo/%ff",
    ] {
        let answer = request(bad)?;
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad}: {answer}");
        assert!(answer.contains("invalid-path"), "{bad}: {answer}");
    }
    let ok = get_as(&s, &token, "/apps/hostile/call/echo/tea%20tins/%E8%8C%B6")?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["path"], "/echo/tea tins/茶");
    Ok(())
}

#[test]
fn one_person_may_hold_only_so_many_live_streams() -> anyhow::Result<()> {
    let (s, _dir, token) = edge_server(|c| c.max_streams_per_person = 2)?;
    let first = superapp_tests::EventStream::open(&s.base, &token, None)?;
    let second = superapp_tests::EventStream::open(&s.base, &token, None)?;
    assert!(first.is_ok() && second.is_ok());
    match superapp_tests::EventStream::open(&s.base, &token, None)? {
        Ok(_) => anyhow::bail!("a third stream was opened"),
        Err(r) => assert_eq!(
            (r.status, r.json()["type"].as_str()),
            (429, Some("urn:superapp:problem:too-many-streams")),
            "{}",
            r.body
        ),
    }
    // Closing one gives its place back.
    drop(first);
    superapp_tests::wait_until(
        "a closed stream to free its place",
        std::time::Duration::from_secs(30),
        || {
            matches!(
                superapp_tests::EventStream::open(&s.base, &token, None),
                Ok(Ok(_))
            )
        },
    )?;
    Ok(())
}
