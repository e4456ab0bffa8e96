//! The web shell's door into the host, over a real server on 127.0.0.1:
//! the session cookie (`POST/GET/DELETE /auth/session`) with its CSRF rule
//! for everything that changes something, bearer requests unchanged, the
//! cookie kept from mini-apps, and the shell's own files with their CSP and
//! frame headers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use superapp_tests::{
    PASSWORD, Reply, STORAGE, TestServer, guest, login, manifest, send, send_with,
};

const SHELL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; \
form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

fn server() -> anyhow::Result<TestServer> {
    TestServer::start(
        &["examples/hello/superapp.toml"],
        &[("ann", "Ann"), ("ben", "Ben")],
    )
}

/// A browser-like sign-in: the cookie's value and the answer.
struct ShellSession {
    cookie: String,
    csrf: String,
    reply: Reply,
}

fn sign_in(s: &TestServer, handle: &str) -> anyhow::Result<ShellSession> {
    let body = serde_json::to_vec(&json!({ "handle": handle, "password": PASSWORD }))?;
    let reply = send(
        "POST",
        &s.url("/auth/session"),
        None,
        Some((&body, "application/json")),
    )?;
    anyhow::ensure!(reply.status == 200, "sign-in failed: {}", reply.body);
    let set = reply.header("set-cookie").unwrap_or("").to_string();
    let value = set
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("superapp_session="))
        .unwrap_or("")
        .to_string();
    Ok(ShellSession {
        cookie: format!("superapp_session={value}"),
        csrf: reply.json()["csrf"].as_str().unwrap_or("").to_string(),
        reply,
    })
}

/// A request with `cookie` and extra headers (and a JSON body).
fn with_cookie(
    method: &str,
    url: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> anyhow::Result<Reply> {
    let mut all = vec![("cookie", cookie)];
    all.extend_from_slice(headers);
    let bytes = body.map(|b| serde_json::to_vec(&b)).transpose()?;
    send_with(
        method,
        url,
        None,
        bytes.as_deref().map(|b| (b, "application/json")),
        &all,
    )
}

#[test]
fn the_shell_signs_in_with_an_http_only_strict_cookie_and_never_sees_the_token()
-> anyhow::Result<()> {
    let s = server()?;
    let ann = sign_in(&s, "ann")?;
    let body = ann.reply.json();
    assert_eq!(body["handle"], "ann");
    assert_eq!(body["display_name"], "Ann");
    assert!(
        body["expires_at"].as_str().unwrap_or("").ends_with('Z'),
        "{body}"
    );
    assert!(
        body.get("token").is_none(),
        "the token is in the answer: {body}"
    );
    assert_eq!(ann.csrf.len(), 64, "{body}");
    assert!(ann.csrf.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(ann.reply.header("cache-control"), Some("no-store"));

    let cookie = ann.reply.header("set-cookie").unwrap_or("");
    let parts: Vec<&str> = cookie.split("; ").collect();
    assert!(
        parts[0].starts_with("superapp_session=") && parts[0].len() > 40,
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(parts.contains(&attr), "no {attr} in {cookie}");
    }
    // As long as the session (30 days by default), and not Secure on http.
    let max_age: i64 = parts
        .iter()
        .find_map(|p| p.strip_prefix("Max-Age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (30 * 24 * 3600 - 60..=30 * 24 * 3600).contains(&max_age),
        "{cookie}"
    );
    assert!(!parts.contains(&"Secure"), "{cookie}");
    assert!(!ann.csrf.is_empty() && !cookie.contains(&ann.csrf));
    Ok(())
}

#[test]
fn the_shell_sign_in_refuses_a_wrong_password_and_shares_the_login_throttle() -> anyhow::Result<()>
{
    let s = server()?;
    let wrong = serde_json::to_vec(&json!({ "handle": "ann", "password": "not it" }))?;
    let r = send(
        "POST",
        &s.url("/auth/session"),
        None,
        Some((&wrong, "application/json")),
    )?;
    assert_eq!(r.status, 401);
    assert_eq!(r.problem(), "invalid-credentials");
    assert!(r.header("set-cookie").is_none());
    // Four more on the bearer login pause the account for both doors.
    for _ in 0..4 {
        let r = send(
            "POST",
            &s.url("/auth/login"),
            None,
            Some((&wrong, "application/json")),
        )?;
        assert_eq!(r.status, 401);
    }
    let right = serde_json::to_vec(&json!({ "handle": "ann", "password": PASSWORD }))?;
    let r = send(
        "POST",
        &s.url("/auth/session"),
        None,
        Some((&right, "application/json")),
    )?;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.problem(), "login-throttled");
    assert!(r.header("retry-after").is_some());
    assert!(r.header("set-cookie").is_none());
    Ok(())
}

#[test]
fn another_site_cannot_sign_the_browser_in() -> anyhow::Result<()> {
    let s = server()?;
    let body = serde_json::to_vec(&json!({ "handle": "ann", "password": PASSWORD }))?;
    let r = send_with(
        "POST",
        &s.url("/auth/session"),
        None,
        Some((&body, "application/json")),
        &[("origin", "https://evil.example")],
    )?;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.problem(), "csrf-failed");
    assert!(r.header("set-cookie").is_none());
    let own = s.base.clone();
    let r = send_with(
        "POST",
        &s.url("/auth/session"),
        None,
        Some((&body, "application/json")),
        &[("origin", own.as_str())],
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

#[test]
fn reads_with_the_cookie_work_and_a_reload_finds_the_session() -> anyhow::Result<()> {
    let s = server()?;
    let ann = sign_in(&s, "ann")?;
    let me = with_cookie("GET", &s.url("/me"), &ann.cookie, &[], None)?;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["handle"], "ann");
    let again = with_cookie("GET", &s.url("/auth/session"), &ann.cookie, &[], None)?;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["csrf"], ann.csrf.as_str());
    assert_eq!(again.json()["handle"], "ann");
    assert!(again.json().get("token").is_none());
    // Among other cookies, and not without it.
    let mixed = format!("theme=dark; {}; lang=en", ann.cookie);
    assert_eq!(
        with_cookie("GET", &s.url("/me/wallet"), &mixed, &[], None)?.status,
        200
    );
    let none = send("GET", &s.url("/auth/session"), None, None)?;
    assert_eq!(none.status, 401);
    assert_eq!(none.problem(), "token-required");
    let forged = with_cookie("GET", &s.url("/me"), "superapp_session=forged", &[], None)?;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.problem(), "invalid-token");
    Ok(())
}

#[test]
fn a_change_with_the_cookie_needs_the_sessions_csrf_token_and_its_own_origin() -> anyhow::Result<()>
{
    let s = server()?;
    s.top_up("ann", 10_000, "fund-ann-1")?;
    let ann = sign_in(&s, "ann")?;
    let other = sign_in(&s, "ann")?;
    assert_ne!(ann.csrf, other.csrf, "each session has its own");
    let transfer = |headers: &[(&str, &str)], key: &str| {
        let mut all = vec![("idempotency-key", key)];
        all.extend_from_slice(headers);
        with_cookie(
            "POST",
            &s.url("/me/transfers"),
            &ann.cookie,
            &all,
            Some(json!({ "to": "ben", "amount": 100 })),
        )
    };
    let origin = s.base.clone();
    for (what, headers) in [
        ("no token", vec![]),
        ("a wrong token", vec![("x-csrf-token", "00".repeat(32))]),
        (
            "another session's token",
            vec![("x-csrf-token", other.csrf.clone())],
        ),
        (
            "another site's origin",
            vec![
                ("x-csrf-token", ann.csrf.clone()),
                ("origin", "https://evil.example".to_string()),
            ],
        ),
        (
            "an opaque origin",
            vec![
                ("x-csrf-token", ann.csrf.clone()),
                ("origin", "null".to_string()),
            ],
        ),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = transfer(&h, "t-refused-1")?;
        assert_eq!(r.status, 403, "{what}: {}", r.body);
        assert_eq!(r.problem(), "csrf-failed", "{what}");
        assert_eq!(r.content_type, "application/problem+json");
    }
    let bearer = login(&s.base, "ann")?;
    assert_eq!(s.balance(&bearer)?, 10_000, "nothing moved");

    let ok = transfer(
        &[("x-csrf-token", &ann.csrf), ("origin", &origin)],
        "t-ok-1",
    )?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let ok = transfer(&[("x-csrf-token", &ann.csrf)], "t-ok-2")?;
    assert_eq!(ok.status, 200, "without an Origin: {}", ok.body);
    assert_eq!(s.balance(&bearer)?, 9_800);
    Ok(())
}

#[test]
fn bearer_requests_need_no_csrf_token() -> anyhow::Result<()> {
    let s = server()?;
    s.top_up("ann", 1_000, "fund-ann-2")?;
    let token = login(&s.base, "ann")?;
    let body = serde_json::to_vec(&json!({ "to": "ben", "amount": 100 }))?;
    let r = send_with(
        "POST",
        &s.url("/me/transfers"),
        Some(&token),
        Some((&body, "application/json")),
        &[
            ("idempotency-key", "bearer-1"),
            ("origin", "https://elsewhere.example"),
        ],
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    // A bearer header wins over a stale cookie.
    let r = send_with(
        "GET",
        &s.url("/me"),
        Some(&token),
        None,
        &[("cookie", "superapp_session=forged")],
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

#[test]
fn the_shell_session_routes_take_only_the_cookie() -> anyhow::Result<()> {
    let s = server()?;
    let token = login(&s.base, "ann")?;
    for method in ["GET", "DELETE"] {
        let r = send(method, &s.url("/auth/session"), Some(&token), None)?;
        assert_eq!(r.status, 401, "{method}: {}", r.body);
        assert_eq!(r.problem(), "token-required");
    }
    let still = send("GET", &s.url("/me"), Some(&token), None)?;
    assert_eq!(still.status, 200, "a bearer session is not signed out here");
    Ok(())
}

#[test]
fn signing_out_needs_the_csrf_token_revokes_the_session_and_clears_the_cookie() -> anyhow::Result<()>
{
    let s = server()?;
    let ann = sign_in(&s, "ann")?;
    let r = with_cookie("DELETE", &s.url("/auth/session"), &ann.cookie, &[], None)?;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.problem(), "csrf-failed");
    assert!(
        r.header("set-cookie").is_none(),
        "another site cannot sign one out"
    );
    assert_eq!(
        with_cookie("GET", &s.url("/me"), &ann.cookie, &[], None)?.status,
        200
    );

    let r = with_cookie(
        "DELETE",
        &s.url("/auth/session"),
        &ann.cookie,
        &[("x-csrf-token", &ann.csrf)],
        None,
    )?;
    assert_eq!(r.status, 204, "{}", r.body);
    let cleared = r.header("set-cookie").unwrap_or("");
    assert!(cleared.starts_with("superapp_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = with_cookie("GET", &s.url("/me"), &ann.cookie, &[], None)?;
    assert_eq!(after.status, 401);
    assert_eq!(after.problem(), "token-revoked");
    // Signing out a dead session still clears the cookie.
    let again = with_cookie(
        "DELETE",
        &s.url("/auth/session"),
        &ann.cookie,
        &[("x-csrf-token", &ann.csrf)],
        None,
    )?;
    assert_eq!(again.status, 401);
    assert!(
        again
            .header("set-cookie")
            .unwrap_or("")
            .contains("Max-Age=0")
    );
    Ok(())
}

#[test]
fn the_session_cookie_opens_the_live_stream() -> anyhow::Result<()> {
    let s = server()?;
    let ann = sign_in(&s, "ann")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method("GET")
        .uri(s.url("/me/events"))
        .header("cookie", &ann.cookie)
        .body(())?;
    // The head arrives at once; the body would stream for as long as it is read.
    let resp = agent.run(req)?;
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    Ok(())
}

#[test]
fn the_cookie_and_the_csrf_token_never_reach_a_mini_app() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kv = manifest(dir.path(), "kv", &guest("fixture_kv"), STORAGE);
    let s = TestServer::start(&[], &[("ann", "Ann")])?;
    s.host.install_dev(&kv, false)?;
    let ann = sign_in(&s, "ann")?;
    let r = with_cookie(
        "GET",
        &s.url("/apps/kv/call/headers"),
        &format!("{}; other=1", ann.cookie),
        &[("x-csrf-token", &ann.csrf), ("x-order", "7")],
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    let names: Vec<String> = seen
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str())
        .map(|h| h.split(':').next().unwrap_or("").to_ascii_lowercase())
        .collect();
    assert!(names.iter().any(|n| n == "x-order"), "{seen}");
    for hidden in ["cookie", "authorization", "x-csrf-token"] {
        assert!(
            !names.iter().any(|n| n == hidden),
            "{hidden} reached the app: {seen}"
        );
    }
    assert!(!r.body.contains(&ann.csrf) && !r.body.contains(&ann.cookie[17..]));
    Ok(())
}

fn assert_shell_headers(r: &Reply, what: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(SHELL_CSP),
        "{what}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"), "{what}");
    assert!(
        r.header("etag").is_some_and(|e| e.starts_with('"')),
        "{what}"
    );
}

#[test]
fn the_shell_page_and_its_files_carry_the_shell_csp_and_frame_headers() -> anyhow::Result<()> {
    let s = server()?;
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/?app=hello&path=/x&scene=link", "text/html; charset=utf-8"),
        ("/shell/app.js", "text/javascript; charset=utf-8"),
        ("/shell/strings.js", "text/javascript; charset=utf-8"),
        ("/shell/screens/home.js", "text/javascript; charset=utf-8"),
        (
            "/shell/vendor/htm-preact.mjs",
            "text/javascript; charset=utf-8",
        ),
        ("/shell/style.css", "text/css; charset=utf-8"),
        ("/shell/icon.svg", "image/svg+xml"),
        ("/shell/vendor/LICENSE-preact", "text/plain; charset=utf-8"),
    ] {
        let r = send("GET", &s.url(path), None, None)?;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.content_type, kind, "{path}");
        assert_shell_headers(&r, path);
    }
    let page = send("GET", &s.url("/"), None, None)?;
    assert!(
        page.body
            .contains(r#"<script type="module" src="/shell/app.js"></script>"#)
    );
    assert!(!page.body.contains("style="), "no inline styles");
    // Revalidation by content hash.
    let etag = page.header("etag").unwrap_or("").to_string();
    let fresh = send_with("GET", &s.url("/"), None, None, &[("if-none-match", &etag)])?;
    assert_eq!(fresh.status, 304);
    assert!(fresh.body.is_empty());
    assert_shell_headers(&fresh, "304");
    let js = send("GET", &s.url("/shell/app.js"), None, None)?;
    assert_ne!(
        js.header("etag"),
        Some(etag.as_str()),
        "one ETag per content"
    );
    for missing in [
        "/shell/nope.js",
        "/shell/../Cargo.toml",
        "/shell/bridge/v1.js",
        "/shell/",
    ] {
        let r = send("GET", &s.url(missing), None, None)?;
        assert_eq!(r.status, 404, "{missing}: {}", r.body);
        assert_eq!(r.content_type, "application/problem+json", "{missing}");
    }
    Ok(())
}

#[test]
fn the_bridge_client_loads_into_opaque_origin_frames() -> anyhow::Result<()> {
    let s = server()?;
    for method in ["GET", "HEAD"] {
        let r = send(method, &s.url("/bridge/v1.js"), None, None)?;
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.content_type, "text/javascript; charset=utf-8");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("cross-origin-resource-policy"),
            Some("cross-origin")
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(r.header("etag").is_some());
        if method == "GET" {
            assert!(r.body.contains("superapp"), "{}", r.body);
        }
    }
    Ok(())
}

#[test]
fn on_https_the_cookie_is_secure_and_the_origin_is_the_public_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = superapp_tests::open_host(&dir.path().join("data"))?;
    host.identity()
        .add_user("ann", Some("Ann"), Some(PASSWORD))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    rt.spawn(superapp_host::http::serve(
        std::sync::Arc::new(host),
        listener,
        superapp_host::http::ServeOptions {
            admin_token: None,
            issuer: "https://super.example/".into(),
        },
        std::future::pending(),
    ));
    let body = serde_json::to_vec(&json!({ "handle": "ann", "password": PASSWORD }))?;
    let sign_in = |origin: &str| {
        send_with(
            "POST",
            &format!("{base}/auth/session"),
            None,
            Some((&body, "application/json")),
            &[("origin", origin), ("host", "super.example")],
        )
    };
    let ok = sign_in("https://super.example")?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let cookie = ok.header("set-cookie").unwrap_or("");
    assert!(cookie.split("; ").any(|p| p == "Secure"), "{cookie}");
    // The public URL's scheme: the same host over plain http is another origin.
    let r = sign_in("http://super.example")?;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.problem(), "csrf-failed");
    Ok(())
}
