//! The backend-verification example (`examples/verify-launch`) against a
//! real host: an app's backend learns who opened the app from a launch
//! token, once per token, only for its own app, across key rotation.

use serde_json::{Value, json};
use std::sync::Arc;
use superapp_tests::{cli, login, open_host, person, root, send_json, serve_with_admin};
use verify_launch::{Verifier, router};

/// Serves the example backend for `app` of `host` on 127.0.0.1; returns its URL.
fn backend(rt: &tokio::runtime::Runtime, host: &str, app: &str) -> anyhow::Result<String> {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = router(Arc::new(Verifier::new(host, app)));
    rt.spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

fn session(backend: &str, token: &str) -> anyhow::Result<(u16, Value)> {
    let r = send_json(
        "POST",
        &format!("{backend}/session"),
        None,
        &json!({ "launch_token": token }),
    )?;
    Ok((r.status, r.json()))
}

#[test]
fn a_backend_trades_a_launch_token_for_the_open_id_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let host = open_host(&data)?;
    host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    host.install_dev(&root().join("manifests/shop.toml"), false)?;
    person(&host, "carol")?;
    let (base, _host, rt) = serve_with_admin(host)?;
    let carol = login(&base, "carol")?;
    let hello_backend = backend(&rt, &base, "hello")?;
    let shop_backend = backend(&rt, &base, "shop")?;
    let launch = |app: &str| -> anyhow::Result<Value> {
        let r = send_json(
            "POST",
            &format!("{base}/apps/{app}/launch"),
            Some(&carol),
            &json!({ "path": "/", "scene": "qr" }),
        )?;
        anyhow::ensure!(r.status == 200, "launch: {}", r.body);
        Ok(r.json())
    };

    let first = launch("hello")?;
    let token = first["token"].as_str().unwrap_or_default();
    let (status, who) = session(&hello_backend, token)?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        who["sub"], first["open_id"],
        "the backend learns the person's open id"
    );
    assert_eq!(who["scene"], "qr");
    // Once only: a replayed token is refused.
    assert_eq!(session(&hello_backend, token)?.1["error"], "replayed-token");
    // Another app's backend refuses it (audience).
    let (status, body) = session(
        &shop_backend,
        launch("hello")?["token"].as_str().unwrap_or_default(),
    )?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid-token"))
    );
    // A forged signature does not verify; garbage is not a token.
    let mut forged = launch("hello")?["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Change the signature's first character (never only padding bits).
    let at = forged.rfind('.').unwrap_or(0) + 1;
    let swap = if forged[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    forged.replace_range(at..at + 1, swap);
    assert_eq!(
        session(&hello_backend, &forged)?.1["error"],
        "invalid-token"
    );
    assert_eq!(
        session(&hello_backend, "not-a-jwt")?.1["error"],
        "malformed-token"
    );

    // The host rotates its key: the backend fetches the new one by itself.
    let data_s = data.display().to_string();
    let (ok, out, err) = cli(&["--data", &data_s, "host-keys", "rotate"]);
    assert!(ok, "{out}{err}");
    let after = launch("hello")?;
    assert_ne!(after["token"], first["token"]);
    let (status, who) = session(&hello_backend, after["token"].as_str().unwrap_or_default())?;
    assert_eq!((status, &who["sub"]), (200, &first["open_id"]), "{who}");
    Ok(())
}
