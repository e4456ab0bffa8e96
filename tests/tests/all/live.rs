//! A running server picks up installs, upgrades, rollbacks and removals made
//! with the `superapp` command line, without a restart; a call in flight
//! finishes on the version it started with.

use std::path::{Path, PathBuf};
use std::time::Duration;
use superapp_tests::{
    HELLO_CAPS, PASSWORD, STORAGE, cli, cli_with_input, guest, login, manifest, open_host, send,
    serve_with_admin, wait_until,
};

fn get(url: &str) -> (u16, String) {
    get_as(None, url)
}

fn get_as(token: Option<&str>, url: &str) -> (u16, String) {
    match send("GET", url, token, None) {
        Ok(r) => (r.status, r.body),
        Err(e) => (0, e.to_string()),
    }
}

fn post_as(token: Option<&str>, url: &str) -> u16 {
    send("POST", url, token, Some((b"", "text/plain")))
        .map(|r| r.status)
        .unwrap_or(0)
}

fn pack(dir: &Path, key: &Path, version: &str, wasm: &Path, extra: &str) -> PathBuf {
    let m = manifest(dir, "greeter", wasm, extra);
    let text = std::fs::read_to_string(&m).unwrap_or_default();
    std::fs::write(&m, text.replace("1.0.0", version)).unwrap_or_default();
    let out = dir.join(format!("greeter-{version}.sapp"));
    let (ok, _, err) = cli(&[
        "pack",
        &m.display().to_string(),
        "--key",
        &key.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    assert!(ok, "{err}");
    out
}

#[test]
fn the_cli_changes_a_running_server_live_and_in_flight_calls_finish_on_their_version()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_s = data.display().to_string();
    let key = dir.path().join("dev.key");
    let (_, out, _) = cli(&["keys", "new", "--out", &key.display().to_string()]);
    let pubkey = out.lines().last().unwrap_or_default().to_string();
    // v1 is the kv fixture (it can hold a call open); v2 is hello.
    let v1 = pack(
        dir.path(),
        &key,
        "1.0.0",
        &guest("fixture_kv"),
        &format!("{STORAGE}[limits]\ndeadline_ms = 10000"),
    );
    let v2 = pack(dir.path(), &key, "2.0.0", &guest("hello"), HELLO_CAPS);

    let (base, host, _rt) = serve_with_admin(open_host(&data)?)?;
    let run = |args: &[&str]| {
        let mut all = vec!["--data", &data_s];
        all.extend_from_slice(args);
        cli(&all)
    };

    // People are added through the running server too.
    let (ok, out, err) = cli_with_input(
        &[
            "--data",
            &data_s,
            "users",
            "add",
            "viewer",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok && out.contains("added viewer"), "{err}");
    let token = login(&base, "viewer")?;
    let t = Some(token.as_str());

    let (ok, out, err) = run(&["trust", "add", &pubkey]);
    assert!(ok, "{err}");
    assert!(out.starts_with("trusted ed25519:"), "{out}");
    let (ok, _, err) = run(&["install", &v1.display().to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        get_as(t, &format!("{base}/apps/greeter/call/")).0,
        404,
        "kv has no `/` route"
    );
    let (ok, out, _) = run(&["apps", "list"]);
    assert!(
        ok && out.contains("greeter") && out.contains("1.0.0"),
        "{out}"
    );

    // Hold a call open on v1, upgrade, then let it finish.
    let wait_url = format!("{base}/apps/greeter/call/wait/visits");
    let held = token.clone();
    let in_flight = std::thread::spawn(move || get_as(Some(&held), &wait_url));
    wait_until(
        "the held call to start (its visit stored)",
        Duration::from_secs(60),
        || host.storage_usage("greeter").unwrap_or(0) > 0,
    )?;
    let (ok, out, err) = run(&["apps", "upgrade", &v2.display().to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("from 1.0.0 to 2.0.0"), "{out}");
    let (status, body) = get_as(t, &format!("{base}/apps/greeter/call/"));
    assert_eq!(
        (status, body.as_str()),
        (200, "Hello from a Superapp mini-app!\n")
    );
    // hello's POST /visits writes the key the v1 call waits for.
    assert_eq!(post_as(t, &format!("{base}/apps/greeter/call/visits")), 200);
    let (status, body) = in_flight
        .join()
        .map_err(|_| anyhow::anyhow!("caller panicked"))?;
    assert_eq!((status, body.as_str()), (200, "finished on the kv version"));

    let (_, apps) = get(&format!("{base}/apps"));
    assert!(
        apps.contains("\"version\":\"2.0.0\"") && apps.contains("developer_key_fingerprint"),
        "{apps}"
    );

    let (ok, _, err) = run(&["apps", "rollback", "greeter"]);
    assert!(ok, "{err}");
    assert_eq!(
        get_as(t, &format!("{base}/apps/greeter/call/")).0,
        404,
        "back on kv"
    );
    let (ok, out, _) = run(&["apps", "show", "greeter"]);
    assert!(ok && out.contains("version:     1.0.0"), "{out}");

    let (ok, _, err) = run(&["apps", "upgrade", &v1.display().to_string()]);
    assert!(
        !ok && err.contains("[not-newer]"),
        "errors come back typed: {err}"
    );

    let (ok, _, err) = run(&["apps", "remove", "greeter"]);
    assert!(ok, "{err}");
    assert_eq!(get_as(t, &format!("{base}/apps/greeter/call/")).0, 404);
    let (_, apps) = get(&format!("{base}/apps"));
    assert_eq!(apps, r#"{"apps":[]}"#);
    Ok(())
}

#[test]
fn admin_routes_refuse_requests_without_the_token() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (base, _host, _rt) = serve_with_admin(open_host(&dir.path().join("data"))?)?;
    let (status, body) = get(&format!("{base}/admin/apps"));
    assert_eq!(status, 401);
    assert!(
        body.contains("urn:superapp:problem:admin-token-required"),
        "{body}"
    );
    Ok(())
}

#[test]
fn a_dev_install_reaches_a_running_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_s = data.display().to_string();
    let (base, host, _rt) = serve_with_admin(open_host(&data)?)?;
    superapp_tests::person(&host, "dev")?;
    let token = login(&base, "dev")?;
    let t = Some(token.as_str());
    let m = manifest(dir.path(), "devapp", &guest("hello"), HELLO_CAPS);
    let m = m.display().to_string();
    let (ok, out, err) = cli(&["--data", &data_s, "install", "--dev", &m]);
    assert!(ok, "{err}");
    assert!(out.contains("unsigned developer install"), "{out}");
    assert_eq!(get_as(t, &format!("{base}/apps/devapp/call/")).0, 200);
    let (ok, _, err) = cli(&["--data", &data_s, "install", "--dev", &m]);
    assert!(!ok && err.contains("[already-installed]"), "{err}");
    let (ok, _, err) = cli(&["--data", &data_s, "install", "--dev", "--replace", &m]);
    assert!(ok, "{err}");
    let (_, list, _) = cli(&["--data", &data_s, "apps", "list"]);
    assert!(list.contains("UNSIGNED (dev)"), "{list}");
    Ok(())
}
