//! The storage capability end to end, through a real component and sled on
//! disk: scopes, quotas as error values, paging, and isolation between apps
//! and between users.

use superapp_host::{CallRequest, CallResponse, Caller, Superapp};
use superapp_tests::{STORAGE, guest, manifest, open_host};

fn req(method: &str, path_and_query: &str, body: &[u8]) -> CallRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    CallRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: Vec::new(),
        body: body.to_vec(),
    }
}

fn as_user(user: Option<&str>) -> Caller {
    Caller {
        user: user.map(str::to_string),
        scene: None,
    }
}

fn call(host: &Superapp, app: &str, user: Option<&str>, r: CallRequest) -> CallResponse {
    match host.call(app, as_user(user), r) {
        Ok(resp) => resp,
        Err(e) => CallResponse {
            status: 0,
            headers: Vec::new(),
            body: e.to_string().into_bytes(),
        },
    }
}

fn json(resp: &CallResponse) -> serde_json::Value {
    serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null)
}

fn kv_host(extra: &str, ids: &[&str]) -> anyhow::Result<(tempfile::TempDir, Superapp)> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    for id in ids {
        let m = manifest(
            dir.path(),
            id,
            &guest("fixture_kv"),
            &format!("{STORAGE}{extra}"),
        );
        host.install_dev(&m, false)?;
    }
    Ok((dir, host))
}

#[test]
fn one_app_can_never_read_another_apps_keys() -> anyhow::Result<()> {
    let (_dir, host) = kv_host("", &["kv-a", "kv-b"])?;
    let put = call(&host, "kv-a", None, req("PUT", "/app/secret", b"a's data"));
    assert_eq!(put.status, 204);
    let own = call(&host, "kv-a", None, req("GET", "/app/secret", b""));
    assert_eq!(own.body, b"a's data");
    let other = call(&host, "kv-b", None, req("GET", "/app/secret", b""));
    assert_eq!(other.status, 404);
    let listed = call(&host, "kv-b", None, req("GET", "/app", b""));
    assert_eq!(json(&listed)["keys"], serde_json::json!([]));
    Ok(())
}

#[test]
fn user_scope_is_private_to_each_user_and_needs_one() -> anyhow::Result<()> {
    let (_dir, host) = kv_host("", &["kv"])?;
    let put = call(
        &host,
        "kv",
        Some("alice"),
        req("PUT", "/user/note", b"alice's"),
    );
    assert_eq!(put.status, 204);
    let bob = call(&host, "kv", Some("bob"), req("GET", "/user/note", b""));
    assert_eq!(bob.status, 404);
    let alice = call(&host, "kv", Some("alice"), req("GET", "/user/note", b""));
    assert_eq!(alice.body, b"alice's");
    let shared = call(&host, "kv", Some("alice"), req("GET", "/app/note", b""));
    assert_eq!(
        shared.status, 404,
        "user keys do not leak into the app scope"
    );
    let anon = call(&host, "kv", None, req("GET", "/user/note", b""));
    assert_eq!(anon.status, 401);
    assert_eq!(json(&anon)["error"], "sign-in-required");
    Ok(())
}

#[test]
fn quotas_come_back_as_error_values_and_keep_the_old_data() -> anyhow::Result<()> {
    let limits = "[limits]\nstorage_quota_kib = 8\nstorage_value_kib = 4\n";
    let (_dir, host) = kv_host(limits, &["kv"])?;
    let too_big = call(&host, "kv", None, req("PUT", "/app/big", &[1; 4097]));
    assert_eq!(
        too_big.status,
        507,
        "{}",
        String::from_utf8_lossy(&too_big.body)
    );
    assert_eq!(json(&too_big)["error"], "quota-exceeded");

    for k in ["a", "b"] {
        let put = call(
            &host,
            "kv",
            None,
            req("PUT", &format!("/app/{k}"), &[1; 4000]),
        );
        assert_eq!(put.status, 204);
    }
    let over = call(&host, "kv", Some("u"), req("PUT", "/user/c", &[1; 1000]));
    assert_eq!(
        json(&over)["error"],
        "quota-exceeded",
        "user data counts too"
    );
    assert_eq!(host.storage_usage("kv")?, 8002);
    let rewrite = call(&host, "kv", None, req("PUT", "/app/a", &[2; 10]));
    assert_eq!(rewrite.status, 204, "shrinking a value is always allowed");
    let after = call(&host, "kv", Some("u"), req("PUT", "/user/c", &[1; 1000]));
    assert_eq!(after.status, 204);
    let b = call(&host, "kv", None, req("GET", "/app/b", b""));
    assert_eq!(b.body.len(), 4000);
    Ok(())
}

#[test]
fn listing_pages_through_keys_with_a_cursor() -> anyhow::Result<()> {
    let (_dir, host) = kv_host("", &["kv"])?;
    for i in 0..7 {
        call(
            &host,
            "kv",
            None,
            req("PUT", &format!("/app/item-{i}"), b"x"),
        );
    }
    call(&host, "kv", None, req("PUT", "/app/zzz", b"x"));
    let mut seen = Vec::new();
    let mut query = "/app?prefix=item-&limit=3".to_string();
    loop {
        let page = json(&call(&host, "kv", None, req("GET", &query, b"")));
        let keys = page["keys"].as_array().cloned().unwrap_or_default();
        assert!(keys.len() <= 3);
        seen.extend(keys.iter().filter_map(|k| k.as_str().map(str::to_string)));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("/app?prefix=item-&limit=3&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("item-{i}")).collect();
    assert_eq!(seen, expected);
    Ok(())
}

#[test]
fn deleting_frees_quota_and_reports_whether_the_key_existed() -> anyhow::Result<()> {
    let (_dir, host) = kv_host("", &["kv"])?;
    call(&host, "kv", None, req("PUT", "/app/k", &[0; 100]));
    assert_eq!(host.storage_usage("kv")?, 101);
    let first = call(&host, "kv", None, req("DELETE", "/app/k", b""));
    assert_eq!(json(&first)["existed"], true);
    let second = call(&host, "kv", None, req("DELETE", "/app/k", b""));
    assert_eq!(json(&second)["existed"], false);
    assert_eq!(host.storage_usage("kv")?, 0);
    Ok(())
}

#[test]
fn stored_data_survives_a_restart_of_the_host() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    {
        let host = open_host(&data)?;
        host.install_dev(
            &manifest(dir.path(), "kv", &guest("fixture_kv"), STORAGE),
            false,
        )?;
        call(&host, "kv", Some("ann"), req("PUT", "/user/k", b"kept"));
    }
    let host = open_host(&data)?;
    let got = call(&host, "kv", Some("ann"), req("GET", "/user/k", b""));
    assert_eq!(got.body, b"kept");
    Ok(())
}
