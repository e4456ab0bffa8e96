//! One identity across mini-apps, over the real HTTP API: people sign in,
//! open apps, and decide what each app may see; apps see pseudonyms only;
//! launch tokens verify with a third-party JWT library; people read what apps
//! did, export and erase their data. Every bad request is a clear error that
//! changes nothing.

use ed25519_dalek::SigningKey;
use serde_json::json;
use std::sync::Arc;
use superapp_host::packages::{CommitMode, encode_package, public_key_text};
use superapp_host::{CallRequest, Caller, Superapp};
use superapp_tests::{
    HELLO_CAPS, PASSWORD, Reply, cli, guest, login, open_host, person, root, send, send_json,
    serve_shared, serve_with_admin,
};

struct Server {
    _dir: tempfile::TempDir,
    base: String,
    host: Arc<Superapp>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    /// A host serving the tutorial app, with Alice (verified adult) and Bob.
    fn new() -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let host = open_host(&dir.path().join("data"))?;
        host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
        host.identity()
            .add_user("alice", Some("Alice W"), Some(PASSWORD))?;
        host.identity().verify_user("alice", "1990-05-17")?;
        person(&host, "bob")?;
        let (base, host, rt) = serve_shared(host)?;
        Ok(Server {
            _dir: dir,
            base,
            host,
            _rt: rt,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, token: &str, path: &str) -> anyhow::Result<Reply> {
        send("GET", &self.url(path), Some(token), None)
    }

    fn json(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<Reply> {
        send_json(method, &self.url(path), token, &body)
    }

    fn decide(&self, token: &str, scope: &str, decision: &str) -> anyhow::Result<Reply> {
        self.json(
            "PUT",
            Some(token),
            &format!("/me/apps/hello/grants/{scope}"),
            json!({ "decision": decision }),
        )
    }
}

#[test]
fn a_person_sees_their_profile_reach_an_app_only_after_granting_it() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;

    let who = s.get(&alice, "/apps/hello/call/whoami")?.json();
    let open_id = who["open_id"].as_str().unwrap_or_default().to_string();
    assert!(open_id.starts_with("ou_"), "{who}");
    assert!(who["union_id"].as_str().unwrap_or("").starts_with("un_"));
    assert_eq!(who["profile"], serde_json::Value::Null);
    assert_eq!(who["profile_withheld"], "not-granted");

    let grants = s.get(&alice, "/me/apps/hello/grants")?.json();
    assert_eq!(
        grants["scopes"],
        json!([{ "scope": "profile", "purpose": "Greet you by your name.", "state": "undecided", "decided_at": null }])
    );

    let granted = s.decide(&alice, "profile", "grant")?;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.json()["state"], "granted");
    let who = s.get(&alice, "/apps/hello/call/whoami")?.json();
    assert_eq!(
        who["profile"],
        json!({ "display_name": "Alice W", "verified": true, "is_minor": false })
    );
    assert_eq!(who["open_id"], open_id.as_str(), "the open id is stable");

    // A denial sticks, call after call, until she changes it.
    s.decide(&alice, "profile", "deny")?;
    for _ in 0..2 {
        let who = s.get(&alice, "/apps/hello/call/whoami")?.json();
        assert_eq!(who["profile_withheld"], "refused");
    }
    let revoked = s.decide(&alice, "profile", "revoke")?.json();
    assert_eq!(revoked["state"], "undecided");

    // Bob's decisions are his own.
    let bob = login(&s.base, "bob")?;
    let bobs = s.get(&bob, "/me/apps/hello/grants")?.json();
    assert_eq!(bobs["scopes"][0]["state"], "undecided");
    let bob_who = s.get(&bob, "/apps/hello/call/whoami")?.json();
    assert_ne!(bob_who["open_id"], open_id.as_str());
    Ok(())
}

#[test]
fn the_access_log_export_and_erasure_show_a_person_everything() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let note = br#"{"text":"buy milk"}"#;
    let put = send(
        "PUT",
        &s.url("/apps/hello/call/note"),
        Some(&alice),
        Some((note, "application/json")),
    )?;
    assert_eq!(put.status, 200, "{}", put.body);
    s.get(&alice, "/apps/hello/call/whoami")?;
    s.decide(&alice, "profile", "grant")?;
    s.get(&alice, "/apps/hello/call/whoami")?;

    let log = s.get(&alice, "/me/access-log?app=hello")?.json();
    let entries: Vec<(String, String)> = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["capability"].as_str().unwrap_or("").to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("identity.profile".to_string(), "allowed".to_string()),
            ("identity.profile".to_string(), "denied".to_string()),
            ("storage.user".to_string(), "allowed".to_string()),
        ],
        "newest first: {log}"
    );
    let bob = login(&s.base, "bob")?;
    let bobs = s.get(&bob, "/me/access-log")?.json();
    assert_eq!(bobs["entries"], json!([]), "another person's log is empty");

    let export = s.get(&alice, "/me/export")?;
    assert!(
        export
            .header("content-disposition")
            .is_some_and(|v| v.contains("attachment"))
    );
    let export = export.json();
    assert_eq!(export["user"]["handle"], "alice");
    assert_eq!(export["user"]["birth_date"], "1990-05-17");
    assert!(!export.to_string().contains("argon2"), "no password hash");
    assert!(!export.to_string().contains(&alice), "no session token");
    let hello = &export["apps"][0];
    assert_eq!(hello["app"], "hello");
    assert!(hello["open_id"].as_str().unwrap_or("").starts_with("ou_"));
    assert_eq!(
        hello["storage"],
        json!([{ "key": "note", "text": "{\"text\":\"buy milk\"}", "base64": null }])
    );
    assert_eq!(hello["grants"][0]["state"], "granted");
    assert_eq!(export["access_log"].as_array().map(Vec::len), Some(3));
    assert_eq!(export["sessions"].as_array().map(Vec::len), Some(1));

    // Bob's note must survive Alice's erasure.
    let bob_note = br#"{"text":"bob's"}"#;
    send(
        "PUT",
        &s.url("/apps/hello/call/note"),
        Some(&bob),
        Some((bob_note, "application/json")),
    )?;
    let erased = send("DELETE", &s.url("/me/apps/hello/data"), Some(&alice), None)?;
    assert_eq!(
        erased.json(),
        json!({ "app": "hello", "storage_keys": 1, "grants": 1 })
    );
    assert_eq!(s.get(&alice, "/apps/hello/call/note")?.status, 404);
    let grants = s.get(&alice, "/me/apps/hello/grants")?.json();
    assert_eq!(grants["scopes"][0]["state"], "undecided");
    assert_eq!(
        s.get(&bob, "/apps/hello/call/note")?.body,
        r#"{"text":"bob's"}"#
    );

    // An app removed without purging still holds Bob's note: the export
    // shows it, and he can erase it.
    s.host.remove("hello", false)?;
    let export = s.get(&bob, "/me/export")?.json();
    assert_eq!(export["apps"][0]["app"], "hello");
    assert_eq!(export["apps"][0]["installed"], false);
    assert_eq!(export["apps"][0]["storage"][0]["key"], "note");
    let erased = send("DELETE", &s.url("/me/apps/hello/data"), Some(&bob), None)?;
    assert_eq!(erased.json()["storage_keys"], 1);
    let export = s.get(&bob, "/me/export")?.json();
    assert_eq!(export["apps"], json!([]));
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    union_id: String,
    scene: String,
    path: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// Verifies `token` with the jsonwebtoken crate against the host's JWKS,
/// as a mini-app's backend would.
fn verify_launch(base: &str, token: &str) -> anyhow::Result<Claims> {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(
        &send("GET", &format!("{base}/.well-known/jwks.json"), None, None)?.body,
    )?;
    let header = jsonwebtoken::decode_header(token)?;
    anyhow::ensure!(header.alg == jsonwebtoken::Algorithm::EdDSA);
    let kid = header.kid.unwrap_or_default();
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| anyhow::anyhow!("kid {kid} is not in the JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["hello"]);
    validation.set_issuer(&[base]);
    Ok(jsonwebtoken::decode::<Claims>(token, &key, &validation)?.claims)
}

#[test]
fn launch_tokens_verify_with_a_third_party_jwt_library_across_key_rotation() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let host = open_host(&data)?;
    host.install_dev(&root().join("examples/hello/superapp.toml"), false)?;
    person(&host, "carol")?;
    let (base, _host, _rt) = serve_with_admin(host)?;
    let carol = login(&base, "carol")?;
    let launch = |scene: &str| {
        send_json(
            "POST",
            &format!("{base}/apps/hello/launch"),
            Some(&carol),
            &json!({ "path": "/greet/carol?x=1", "scene": scene }),
        )
    };

    let first = launch("qr")?;
    assert_eq!(first.status, 200, "{}", first.body);
    let token = first.json()["token"].as_str().unwrap_or("").to_string();
    let claims = verify_launch(&base, &token)?;
    let who = send(
        "GET",
        &format!("{base}/apps/hello/call/whoami"),
        Some(&carol),
        None,
    )?
    .json();
    assert_eq!(claims.sub, who["open_id"].as_str().unwrap_or("-"));
    assert_eq!(claims.union_id, who["union_id"].as_str().unwrap_or("-"));
    assert_eq!(
        (claims.aud.as_str(), claims.iss.as_str()),
        ("hello", base.as_str())
    );
    assert_eq!(
        (claims.scene.as_str(), claims.path.as_str()),
        ("qr", "/greet/carol?x=1")
    );
    assert_eq!(claims.exp - claims.iat, 300);
    assert_eq!(claims.jti.len(), 32);

    // A token whose claims were changed after signing is refused.
    let forged = {
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut payload: serde_json::Value = serde_json::from_slice(
            &base64_url_decode(&parts[1]).ok_or_else(|| anyhow::anyhow!("payload"))?,
        )?;
        payload["sub"] = json!("ou_someone_else");
        parts[1] = base64_url_encode(&serde_json::to_vec(&payload)?);
        parts.join(".")
    };
    assert!(
        verify_launch(&base, &forged).is_err(),
        "a changed payload fails"
    );

    let data_s = data.display().to_string();
    let (ok, out, err) = cli(&["--data", &data_s, "host-keys", "rotate"]);
    assert!(ok, "{err}");
    assert!(out.contains("now signing launch tokens with key"), "{out}");
    let second = launch("chat-card")?.json()["token"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let kid = |t: &str| jsonwebtoken::decode_header(t).map(|h| h.kid);
    assert_ne!(kid(&token)?, kid(&second)?, "signed with the new key");
    assert_eq!(verify_launch(&base, &second)?.scene, "chat-card");
    assert!(
        verify_launch(&base, &token).is_ok(),
        "the old key stays published while its tokens live"
    );
    let (_, keys, _) = cli(&["--data", &data_s, "host-keys", "list"]);
    assert_eq!(
        keys.lines().filter(|l| l.contains(" yes ")).count(),
        2,
        "{keys}"
    );
    Ok(())
}

fn base64_url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

fn base64_url_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[test]
fn apps_of_two_developers_cannot_correlate_a_person() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    let wasm = std::fs::read(guest("hello"))?;
    let dev_a = SigningKey::from_bytes(&[1u8; 32]);
    let dev_b = SigningKey::from_bytes(&[2u8; 32]);
    for (id, key) in [("shop", &dev_a), ("rides", &dev_a), ("maps", &dev_b)] {
        host.trust()
            .add(&public_key_text(&key.verifying_key().to_bytes()), None)?;
        let manifest = format!(
            "id = \"{id}\"\nname = \"{id}\"\nversion = \"1.0.0\"\ndeveloper = \"d\"\ncomponent = \"x.wasm\"\n{HELLO_CAPS}"
        );
        host.install_package(
            &encode_package(&manifest, &wasm, Some(key))?,
            CommitMode::Install,
        )?;
    }
    let dana = person(&host, "dana")?;
    let ids = |app: &str| -> anyhow::Result<(String, String)> {
        let r = host.call(
            app,
            Caller {
                user: Some(dana.clone()),
                scene: None,
            },
            CallRequest {
                method: "GET".into(),
                path: "/whoami".into(),
                query: String::new(),
                headers: vec![],
                body: vec![],
            },
        )?;
        let v: serde_json::Value = serde_json::from_slice(&r.body)?;
        let text = v.to_string();
        anyhow::ensure!(!text.contains(&dana) && !text.contains("dana"), "{text}");
        Ok((
            v["open_id"].as_str().unwrap_or("").into(),
            v["union_id"].as_str().unwrap_or("").into(),
        ))
    };
    let (shop, rides, maps) = (ids("shop")?, ids("rides")?, ids("maps")?);
    assert_ne!(shop.0, rides.0, "open ids differ per app");
    assert_ne!(shop.0, maps.0);
    assert_eq!(shop.1, rides.1, "one developer's apps share the union id");
    assert_ne!(shop.1, maps.1, "another developer cannot link it");
    assert!(![&rides.0, &maps.0, &maps.1].contains(&&shop.1));
    Ok(())
}

#[test]
fn failed_logins_slow_the_account_down_and_only_that_account() -> anyhow::Result<()> {
    let s = Server::new()?;
    let attempt = |handle: &str, password: &str| {
        s.json(
            "POST",
            None,
            "/auth/login",
            json!({ "handle": handle, "password": password }),
        )
    };
    for _ in 0..5 {
        let r = attempt("alice", "not her password")?;
        assert_eq!(
            (r.status, r.problem().as_str()),
            (401, "invalid-credentials")
        );
    }
    let paused = attempt("alice", PASSWORD)?;
    assert_eq!(
        (paused.status, paused.problem().as_str()),
        (429, "login-throttled")
    );
    let retry: u64 = paused.header("retry-after").unwrap_or("0").parse()?;
    assert!((1..=30).contains(&retry), "{retry}");
    let unknown = attempt("nobody", PASSWORD)?;
    assert_eq!(
        unknown.problem(),
        "invalid-credentials",
        "same answer as a wrong password"
    );
    assert_eq!(attempt("bob", PASSWORD)?.status, 200, "bob is not slowed");
    Ok(())
}

#[test]
fn sign_in_answers_the_same_for_a_handle_nobody_has() -> anyhow::Result<()> {
    let s = Server::new()?;
    // Seven wrong tries each: 401 five times, then 429, for alice (who
    // exists) exactly as for zed (who does not). Before, zed kept getting
    // 401, which told who is registered.
    let answers = |handle: &str| -> anyhow::Result<Vec<String>> {
        let mut seen = Vec::new();
        for _ in 0..7 {
            let r = s.json(
                "POST",
                None,
                "/auth/login",
                json!({ "handle": handle, "password": "not the password" }),
            )?;
            let retry = r
                .header("retry-after")
                .map(|v| v.parse::<u64>().unwrap_or(0));
            // The seconds left may tick between the two runs: compare the
            // shape of the answer, not the clock.
            let detail = r.json()["detail"]
                .as_str()
                .unwrap_or("")
                .replace(|c: char| c.is_ascii_digit(), "#");
            seen.push(format!(
                "{} {} {} retry:{} www-auth:{:?} detail:{detail}",
                r.status,
                r.content_type,
                r.problem(),
                retry.is_some_and(|n| (1..=30).contains(&n)),
                r.header("www-authenticate"),
            ));
        }
        Ok(seen)
    };
    let before = s.host.identity().password_checks();
    let known = answers("alice")?;
    let known_checks = s.host.identity().password_checks() - before;
    let unknown = answers("zed")?;
    let unknown_checks = s.host.identity().password_checks() - before - known_checks;
    assert_eq!(known, unknown);
    assert!(
        known[5].starts_with("429 application/problem+json login-throttled retry:true"),
        "{known:?}"
    );
    // The same work either way: one password hash checked per unpaused try.
    assert_eq!((known_checks, unknown_checks), (5, 5));
    Ok(())
}

fn get_with_scene(url: &str, token: &str, scene: &str) -> anyhow::Result<Reply> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .header("x-superapp-scene", scene)
        .call()?;
    Ok(Reply {
        status: r.status().as_u16(),
        content_type: String::new(),
        headers: vec![],
        body: r.body_mut().read_to_string()?,
    })
}

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    s.decide(&alice, "profile", "grant")?;
    let before = s.get(&alice, "/me/export")?.json();
    let login_url = s.url("/auth/login");
    let raw = |method: &str, path: &str, token: Option<&str>, body: &[u8], ct: &str| {
        send(method, &s.url(path), token, Some((body, ct)))
    };

    let cases: Vec<(Reply, u16, &str)> = vec![
        // Login bodies.
        (
            send(
                "POST",
                &login_url,
                None,
                Some((b"{\"handle\":", "application/json")),
            )?,
            400,
            "invalid-json",
        ),
        (
            send(
                "POST",
                &login_url,
                None,
                Some((b"{\"handle\":\"alice\"}", "application/json")),
            )?,
            400,
            "invalid-json",
        ),
        (
            send(
                "POST",
                &login_url,
                None,
                Some((b"handle=alice", "application/x-www-form-urlencoded")),
            )?,
            415,
            "unsupported-media-type",
        ),
        (
            send(
                "POST",
                &login_url,
                None,
                Some((&vec![b' '; 70_000], "application/json")),
            )?,
            413,
            "request-too-large",
        ),
        // Tokens.
        (
            send("GET", &s.url("/me"), None, None)?,
            401,
            "token-required",
        ),
        (
            send("GET", &s.url("/me"), Some("forged-token"), None)?,
            401,
            "invalid-token",
        ),
        (
            send("GET", &s.url("/apps/hello/call/"), None, None)?,
            401,
            "token-required",
        ),
        (
            send("GET", &s.url("/apps/hello/call/"), Some(""), None)?,
            401,
            "invalid-token",
        ),
        // Unknown apps and scopes, wrong decisions.
        (s.get(&alice, "/me/apps/nope/grants")?, 404, "app-not-found"),
        (
            s.json(
                "PUT",
                Some(&alice),
                "/me/apps/nope/grants/profile",
                json!({"decision": "grant"}),
            )?,
            404,
            "app-not-found",
        ),
        (s.decide(&alice, "camera", "grant")?, 404, "unknown-scope"),
        (s.decide(&alice, "storage", "grant")?, 404, "unknown-scope"),
        // Notifications are consented one subscription at a time
        // (`/me/apps/{id}/subscriptions`), never by a standing grant.
        (s.decide(&alice, "notify", "grant")?, 404, "unknown-scope"),
        (
            s.decide(&alice, "real-name", "grant")?,
            409,
            "scope-not-requested",
        ),
        (s.decide(&alice, "profile", "maybe")?, 400, "invalid-json"),
        (
            raw(
                "PUT",
                "/me/apps/hello/grants/profile",
                Some(&alice),
                b"grant",
                "application/json",
            )?,
            400,
            "invalid-json",
        ),
        (
            send("DELETE", &s.url("/me/apps/nope/data"), Some(&alice), None)?,
            404,
            "app-not-found",
        ),
        (
            s.get(&alice, "/me/access-log?limit=0")?,
            400,
            "invalid-query",
        ),
        (
            s.get(&alice, "/me/access-log?limit=lots")?,
            400,
            "invalid-query",
        ),
        (
            s.get(&alice, "/me/access-log?color=red")?,
            400,
            "invalid-query",
        ),
        // Launches.
        (
            s.json("POST", Some(&alice), "/apps/nope/launch", json!({}))?,
            404,
            "app-not-found",
        ),
        (
            s.json(
                "POST",
                Some(&alice),
                "/apps/hello/launch",
                json!({"scene": "a b"}),
            )?,
            422,
            "invalid-launch",
        ),
        (
            s.json(
                "POST",
                Some(&alice),
                "/apps/hello/launch",
                json!({"path": "no-slash"}),
            )?,
            422,
            "invalid-launch",
        ),
        (
            s.json(
                "POST",
                Some(&alice),
                "/apps/hello/launch",
                json!({"sceen": "qr"}),
            )?,
            400,
            "invalid-json",
        ),
        (
            get_with_scene(&s.url("/apps/hello/call/whoami"), &alice, "no spaces")?,
            400,
            "bad-request",
        ),
    ];
    for (i, (reply, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (reply.status, reply.problem().as_str()),
            (*status, *code),
            "case {i}: {}",
            reply.body
        );
        assert!(
            reply.content_type.is_empty() || reply.content_type == "application/problem+json",
            "case {i}"
        );
    }
    let www = send("GET", &s.url("/me"), None, None)?;
    assert!(
        www.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );

    // Expired and revoked tokens.
    let expired = s.host.identity().login("bob", PASSWORD, 0)?;
    let r = s.get(&expired.token, "/me")?;
    assert_eq!((r.status, r.problem().as_str()), (401, "token-expired"));
    let short = login(&s.base, "bob")?;
    assert_eq!(
        send("POST", &s.url("/auth/logout"), Some(&short), None)?.status,
        204
    );
    let r = s.get(&short, "/me")?;
    assert_eq!((r.status, r.problem().as_str()), (401, "token-revoked"));
    let r = send("POST", &s.url("/auth/logout"), Some(&short), None)?;
    assert_eq!(r.problem(), "token-revoked", "logging out twice is refused");

    let after = s.get(&alice, "/me/export")?.json();
    assert_eq!(before["apps"], after["apps"], "nothing changed");
    assert_eq!(before["access_log"], after["access_log"]);
    Ok(())
}

#[test]
fn the_app_never_sees_the_callers_token_and_requests_carry_an_id() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    let kv = superapp_tests::manifest(
        dir.path(),
        "kv",
        &guest("fixture_kv"),
        superapp_tests::STORAGE,
    );
    host.install_dev(&kv, false)?;
    person(&host, "erin")?;
    let (base, _host, _rt) = serve_shared(host)?;
    let erin = login(&base, "erin")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{base}/apps/kv/call/headers"))
        .header("authorization", format!("Bearer {erin}"))
        .header("x-request-id", "trace-123")
        .call()?;
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-123")
    );
    let body = r.body_mut().read_to_string()?;
    assert!(
        !body.contains(&erin) && !body.contains("authorization"),
        "{body}"
    );
    let plain = send("GET", &format!("{base}/healthz"), None, None)?;
    assert!(plain.header("x-request-id").is_some_and(|v| !v.is_empty()));
    Ok(())
}

#[test]
fn the_openapi_document_describes_the_routes_and_their_auth() -> anyhow::Result<()> {
    let s = Server::new()?;
    let doc = send("GET", &s.url("/openapi.json"), None, None)?.json();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{doc}"
    );
    for path in [
        "/auth/login",
        "/auth/logout",
        "/apps",
        "/apps/{id}/launch",
        "/apps/{id}/call/{path}",
        "/.well-known/jwks.json",
        "/me",
        "/me/apps/{id}/grants",
        "/me/apps/{id}/grants/{scope}",
        "/me/apps/{id}/data",
        "/me/access-log",
        "/me/export",
        "/admin/users",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/me/export"]["get"]["security"].is_array());
    assert!(doc["components"]["schemas"]["LoginRequest"].is_object());
    Ok(())
}

#[test]
fn users_are_managed_from_the_command_line_with_clear_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data").display().to_string();
    let run = |args: &[&str], input: &str| {
        let mut all = vec!["--data", data.as_str()];
        all.extend_from_slice(args);
        superapp_tests::cli_with_input(&all, input)
    };
    let (ok, out, err) = run(
        &["users", "add", "fay", "--name", "Fay L", "--password-stdin"],
        "a long password\n",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "added fay (Fay L)\n");
    let (ok, _, err) = run(&["users", "add", "fay"], "");
    assert!(!ok && err.contains("[handle-taken]"), "{err}");
    let (ok, _, err) = run(&["users", "add", "gus", "--password-stdin"], "short\n");
    assert!(!ok && err.contains("[invalid-password]"), "{err}");
    let (ok, _, err) = run(&["users", "add", "gus", "--password-stdin"], "");
    assert!(!ok && err.contains("standard input"), "{err}");
    let (ok, _, err) = run(
        &["users", "verify", "fay", "--birth-date", "17/05/1990"],
        "",
    );
    assert!(!ok && err.contains("[invalid-birth-date]"), "{err}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let year = 1970 + now.as_secs() / 31_556_952 - 12;
    let (ok, out, err) = run(
        &[
            "users",
            "verify",
            "fay",
            "--birth-date",
            &format!("{year}-01-01"),
        ],
        "",
    );
    assert!(ok && out.contains("a minor"), "{out}{err}");
    let (_, list, _) = run(&["users", "list"], "");
    assert!(list.contains("fay") && !list.contains("gus"), "{list}");

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "admin_token = \"short\"\n")?;
    let cfg_s = cfg.display().to_string();
    let (ok, _, err) = run(&["--config", &cfg_s, "users", "list"], "");
    assert!(
        !ok && err.contains("[invalid-config]") && err.contains("admin_token"),
        "{err}"
    );
    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\nport = 3\n")?;
    let (ok, _, err) = run(&["--config", &cfg_s, "users", "list"], "");
    assert!(!ok && err.contains("port"), "{err}");
    Ok(())
}
