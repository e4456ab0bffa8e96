//! The wallet through both doors — the HTTP API people and operators use and
//! the WIT `wallet` interface mini-apps use — on real sled files and a real
//! server: money moves only with the person's confirmation, idempotency keys
//! replay, escrow/holds/refunds settle exactly, events reach apps at least
//! once with retries, balances never go negative under concurrency, red
//! packets are never over-claimed, and the ledger's invariants hold.

use serde_json::{Value, json};
use std::sync::Arc;
use superapp_host::platform::block_on;
use superapp_host::wallet::{Command, Outcome, PacketSpec, Split};
use superapp_tests::{
    PASSWORD, Reply, TestServer, cli, login, open_host, person, post_keyed, root, send, send_json,
    serve_with_admin,
};

/// The shared test server, with the wallet tests' own helpers.
struct Server(TestServer);

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.0
    }
}

const SHOP: &str = "shopfix";

impl Server {
    /// A host serving the wallet fixture (`shopfix`) and the red-packet app,
    /// with Alice, Bob and Carol.
    fn new() -> anyhow::Result<Server> {
        Ok(Server(TestServer::start(
            &[
                "tests/fixtures/wallet/superapp.toml",
                "manifests/red-packet.toml",
            ],
            &[("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")],
        )?))
    }

    fn me(&self, method: &str, path: &str, token: &str) -> anyhow::Result<Reply> {
        send(method, &self.url(path), Some(token), None)
    }

    fn events(&self, token: &str) -> anyhow::Result<Vec<Value>> {
        let r = self.app(SHOP, "GET", "/events", token, Value::Null)?;
        Ok(r.json().as_array().cloned().unwrap_or_default())
    }
}

fn now() -> i64 {
    superapp_host::identity::now()
}

#[test]
fn top_up_and_transfer_move_money_once_per_key() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;

    let first = s.top_up("alice", 10_000, "topup-0001")?;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = s.top_up("alice", 10_000, "topup-0001")?;
    assert_eq!(
        again.json(),
        first.json(),
        "a retry returns the first result"
    );
    let reused = s.top_up("alice", 20_000, "topup-0001")?;
    assert_eq!(
        (reused.status, reused.problem().as_str()),
        (409, "idempotency-conflict")
    );
    assert_eq!(s.balance(&alice)?, 10_000, "topped up once");

    let t = post_keyed(
        &s.url("/me/transfers"),
        Some(&alice),
        "tr-000001",
        &json!({ "to": "bob", "amount": 2_550, "memo": "dinner" }),
    )?;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json()["direction"], "out");
    assert_eq!(t.json()["counterparty"], "@bob");
    let retry = post_keyed(
        &s.url("/me/transfers"),
        Some(&alice),
        "tr-000001",
        &json!({ "to": "bob", "amount": 2_550, "memo": "dinner" }),
    )?;
    assert_eq!(retry.json()["seq"], t.json()["seq"]);
    assert_eq!((s.balance(&alice)?, s.balance(&bob)?), (7_450, 2_550));

    // Bob's history: newest first, paged.
    for i in 0..3 {
        let r = post_keyed(
            &s.url("/me/transfers"),
            Some(&alice),
            &format!("tr-more-{i}"),
            &json!({ "to": "bob", "amount": 1 }),
        )?;
        assert_eq!(r.status, 200);
    }
    let page = send(
        "GET",
        &s.url("/me/wallet/transactions?limit=2"),
        Some(&bob),
        None,
    )?
    .json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["items"][0]["direction"], "in");
    assert_eq!(page["items"][0]["counterparty"], "@alice");
    let before = page["next_before"].as_u64().unwrap_or(0);
    let rest = send(
        "GET",
        &s.url(&format!("/me/wallet/transactions?limit=10&before={before}")),
        Some(&bob),
        None,
    )?
    .json();
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest["items"][1]["memo"], "dinner");
    assert_eq!(rest["next_before"], Value::Null);

    // Money leaves only through the operator.
    let w = post_keyed(
        &s.url("/admin/wallet/withdraw"),
        Some(&s.admin),
        "wd-000001",
        &json!({ "handle": "bob", "amount": 553 }),
    )?;
    assert_eq!(w.status, 200, "{}", w.body);
    assert_eq!(s.balance(&bob)?, 2_000);
    let audit = s.audit()?;
    assert_eq!(audit["totals"]["issued"], 10_000);
    assert_eq!(audit["totals"]["redeemed"], 553);
    assert_eq!(audit["totals"]["held"], 10_000 - 553);
    Ok(())
}

#[test]
fn bad_wallet_requests_are_refused_by_name_and_change_nothing() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    assert_eq!(s.top_up("alice", 1_000, "topup-bad-1")?.status, 200);
    let before = s.audit()?;
    let transfer = |key: Option<&str>, body: Value| -> anyhow::Result<Reply> {
        match key {
            Some(k) => post_keyed(&s.url("/me/transfers"), Some(&alice), k, &body),
            None => send_json("POST", &s.url("/me/transfers"), Some(&alice), &body),
        }
    };
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            transfer(None, json!({"to": "bob", "amount": 1}))?,
            400,
            "idempotency-key-required",
        ),
        (
            transfer(Some("k"), json!({"to": "bob", "amount": 1}))?,
            422,
            "invalid-idempotency-key",
        ),
        (
            transfer(Some("key with space"), json!({"to": "bob", "amount": 1}))?,
            422,
            "invalid-idempotency-key",
        ),
        (
            transfer(Some("bad-000001"), json!({"to": "bob", "amount": 0}))?,
            422,
            "invalid-amount",
        ),
        (
            transfer(
                Some("bad-000002"),
                json!({"to": "bob", "amount": 1_000_000_000}),
            )?,
            422,
            "invalid-amount",
        ),
        (
            transfer(Some("bad-000003"), json!({"to": "bob", "amount": -5}))?,
            400,
            "invalid-json",
        ),
        (
            transfer(Some("bad-000004"), json!({"to": "bob", "amount": 1_001}))?,
            409,
            "insufficient-funds",
        ),
        (
            transfer(Some("bad-000005"), json!({"to": "nobody", "amount": 1}))?,
            404,
            "unknown-user",
        ),
        (
            transfer(Some("bad-000006"), json!({"to": "alice", "amount": 1}))?,
            422,
            "self-transfer",
        ),
        (
            transfer(
                Some("bad-000007"),
                json!({"to": "bob", "amount": 1, "memo": "x".repeat(129)}),
            )?,
            422,
            "invalid-text",
        ),
        (
            transfer(
                Some("bad-000008"),
                json!({"to": "bob", "amount": 1, "tip": 3}),
            )?,
            400,
            "invalid-json",
        ),
        (
            s.me("POST", "/me/payments/pay_nope/confirm", &alice)?,
            404,
            "payment-not-found",
        ),
        (
            s.me("POST", "/me/red-packets/rp_nope/claim", &alice)?,
            404,
            "red-packet-not-found",
        ),
        (
            post_keyed(
                &s.url("/me/red-packets"),
                Some(&alice),
                "bad-000009",
                &json!({"total": 5, "count": 6}),
            )?,
            422,
            "invalid-red-packet",
        ),
        (
            post_keyed(
                &s.url("/me/red-packets"),
                Some(&alice),
                "bad-000010",
                &json!({"total": 20_001, "count": 6}),
            )?,
            422,
            "invalid-red-packet",
        ),
        (
            post_keyed(
                &s.url("/me/red-packets"),
                Some(&alice),
                "bad-000011",
                &json!({"total": 500, "count": 101}),
            )?,
            422,
            "invalid-red-packet",
        ),
        (
            post_keyed(
                &s.url("/admin/wallet/topup"),
                Some(&s.admin),
                "bad-000012",
                &json!({"app": SHOP, "amount": 5}),
            )?,
            422,
            "invalid-holder",
        ),
        (
            post_keyed(
                &s.url("/admin/wallet/withdraw"),
                Some(&s.admin),
                "bad-000013",
                &json!({"handle": "alice", "app": SHOP, "amount": 5}),
            )?,
            422,
            "invalid-holder",
        ),
        (
            post_keyed(
                &s.url("/admin/wallet/withdraw"),
                Some(&s.admin),
                "bad-000014",
                &json!({"app": "ghost", "amount": 5}),
            )?,
            404,
            "unknown-app",
        ),
        (
            post_keyed(
                &s.url("/admin/wallet/topup"),
                None,
                "bad-000015",
                &json!({"handle": "alice", "amount": 5}),
            )?,
            401,
            "admin-token-required",
        ),
        (
            send(
                "GET",
                &s.url("/me/wallet/transactions?limit=x"),
                Some(&alice),
                None,
            )?,
            400,
            "invalid-query",
        ),
        (
            send("GET", &s.url("/me/wallet"), None, None)?,
            401,
            "token-required",
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
            !reply.json()["detail"].as_str().unwrap_or("").is_empty(),
            "case {i} says why"
        );
    }
    assert_eq!(s.audit()?, before, "nothing changed");
    assert_eq!(s.balance(&alice)?, 1_000);
    Ok(())
}

#[test]
fn a_mini_app_gets_paid_only_when_the_person_confirms() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    assert_eq!(s.top_up("alice", 5_000, "topup-pay-1")?.status, 200);

    let pay = s.app(
        SHOP,
        "POST",
        "/pay",
        &alice,
        json!({"amount": 1_200, "mode": "direct", "key": "order-0001", "memo": "tea"}),
    )?;
    assert_eq!(pay.status, 200, "{}", pay.body);
    let p = pay.json();
    let id = p["id"].as_str().unwrap_or("").to_string();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["currency"], "CNY");
    assert_eq!(s.balance(&alice)?, 5_000, "asking moves nothing");
    let again = s.app(
        SHOP,
        "POST",
        "/pay",
        &alice,
        json!({"amount": 1_200, "mode": "direct", "key": "order-0001", "memo": "tea"}),
    )?;
    assert_eq!(
        again.json()["id"],
        p["id"],
        "the order id is the idempotency key"
    );
    let conflict = s.app(
        SHOP,
        "POST",
        "/pay",
        &alice,
        json!({"amount": 1_300, "mode": "direct", "key": "order-0001"}),
    )?;
    assert_eq!(
        (conflict.status, conflict.json()["error"].as_str()),
        (409, Some("idempotency-conflict"))
    );

    let pending = s.me("GET", "/me/payments/pending", &alice)?.json();
    assert_eq!(pending[0]["id"], id.as_str());
    assert_eq!(pending[0]["app"], SHOP);
    assert_eq!(pending[0]["memo"], "tea");
    // Someone else cannot see or confirm it.
    let theirs = s.me("POST", &format!("/me/payments/{id}/confirm"), &bob)?;
    assert_eq!(
        (theirs.status, theirs.problem().as_str()),
        (404, "payment-not-found")
    );

    let ok = s.me("POST", &format!("/me/payments/{id}/confirm"), &alice)?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["status"], "paid");
    let twice = s.me("POST", &format!("/me/payments/{id}/confirm"), &alice)?;
    assert_eq!(twice.status, 200, "confirming twice pays once");
    assert_eq!(s.balance(&alice)?, 3_800);
    assert_eq!(s.merchant(SHOP)?, 1_200);
    let seen = s
        .app(SHOP, "GET", &format!("/payments/{id}"), &alice, Value::Null)?
        .json();
    assert_eq!(seen["status"], "paid");

    // Declined and expired intents move nothing and tell the app.
    let d = s
        .app(
            SHOP,
            "POST",
            "/pay",
            &alice,
            json!({"amount": 100, "key": "order-0002"}),
        )?
        .json();
    let declined = s.me(
        "POST",
        &format!("/me/payments/{}/decline", d["id"].as_str().unwrap_or("")),
        &alice,
    )?;
    assert_eq!(declined.json()["status"], "declined");
    let late = s
        .app(
            SHOP,
            "POST",
            "/pay",
            &alice,
            json!({"amount": 100, "key": "order-0003"}),
        )?
        .json();
    block_on(s.host.sweep_wallet(now() + 15 * 60 + 1))?;
    let expired = s.me(
        "POST",
        &format!("/me/payments/{}/confirm", late["id"].as_str().unwrap_or("")),
        &alice,
    )?;
    assert_eq!(
        (expired.status, expired.problem().as_str()),
        (409, "invalid-state")
    );
    assert_eq!(s.balance(&alice)?, 3_800);

    s.deliver()?;
    let events = s.events(&alice)?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"payment-confirmed"), "{kinds:?}");
    assert!(kinds.contains(&"payment-declined"), "{kinds:?}");
    assert!(kinds.contains(&"payment-expired"), "{kinds:?}");
    let whoami = s.app(SHOP, "GET", "/whoami", &alice, Value::Null)?.json();
    let confirmed = events
        .iter()
        .find(|e| e["kind"] == "payment-confirmed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        confirmed["open_id"], whoami["open_id"],
        "the event names the payer by the app's open id"
    );
    assert_eq!(
        confirmed["user_open_id"], whoami["open_id"],
        "and runs as the payer"
    );
    assert_eq!(confirmed["subject"], id.as_str());
    assert_eq!(s.audit()?["totals"]["held"], 5_000);
    Ok(())
}

#[test]
fn escrow_is_released_on_receipt_or_after_the_period_and_refunds_come_back() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    assert_eq!(s.top_up("alice", 10_000, "topup-esc-1")?.status, 200);
    let pay = |key: &str, amount: u64| -> anyhow::Result<String> {
        let p = s
            .app(
                SHOP,
                "POST",
                "/pay",
                &alice,
                json!({"amount": amount, "mode": "escrow", "key": key}),
            )?
            .json();
        let id = p["id"].as_str().unwrap_or("").to_string();
        let c = s.me("POST", &format!("/me/payments/{id}/confirm"), &alice)?;
        anyhow::ensure!(c.json()["status"] == "escrowed", "{}", c.body);
        Ok(id)
    };
    let a = pay("order-esc-a", 3_000)?;
    assert_eq!(
        (s.balance(&alice)?, s.merchant(SHOP)?),
        (7_000, 0),
        "held by the host, not the merchant"
    );

    // A partial refund comes out of escrow; a retried refund key refunds once.
    let r = s.app(
        SHOP,
        "POST",
        &format!("/payments/{a}/refund"),
        &alice,
        json!({"amount": 500, "key": "refund-a-1"}),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let r2 = s.app(
        SHOP,
        "POST",
        &format!("/payments/{a}/refund"),
        &alice,
        json!({"amount": 500, "key": "refund-a-1"}),
    )?;
    assert_eq!(r2.json()["refunds"], 1);
    assert_eq!(s.balance(&alice)?, 7_500);
    let receipt = s.me("POST", &format!("/me/payments/{a}/confirm-receipt"), &alice)?;
    assert_eq!(receipt.json()["status"], "released");
    assert_eq!(s.merchant(SHOP)?, 2_500);

    // Without a receipt, the release period passes.
    let b = pay("order-esc-b", 2_000)?;
    block_on(s.host.sweep_wallet(now() + 10 * 86_400 - 60))?;
    assert_eq!(s.merchant(SHOP)?, 2_500, "not yet");
    block_on(s.host.sweep_wallet(now() + 10 * 86_400 + 1))?;
    assert_eq!(s.merchant(SHOP)?, 4_500);
    let seen = s.me("GET", &format!("/me/payments/{b}"), &alice)?.json();
    assert_eq!(seen["status"], "released");

    // After release, refunds come from the merchant balance, never more than paid.
    let over = s.app(
        SHOP,
        "POST",
        &format!("/payments/{b}/refund"),
        &alice,
        json!({"amount": 2_001, "key": "refund-b-1"}),
    )?;
    assert_eq!(
        (over.status, over.json()["error"].as_str()),
        (400, Some("invalid"))
    );
    let full = s.app(
        SHOP,
        "POST",
        &format!("/payments/{b}/refund"),
        &alice,
        json!({"amount": 2_000, "key": "refund-b-2"}),
    )?;
    assert_eq!(full.json()["status"], "refunded");
    assert_eq!((s.balance(&alice)?, s.merchant(SHOP)?), (7_500, 2_500));
    s.deliver()?;
    let kinds: Vec<String> = s
        .events(&alice)?
        .iter()
        .filter_map(|e| e["kind"].as_str().map(String::from))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "receipt-confirmed").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "refund-done").count(),
        2,
        "{kinds:?}"
    );
    s.audit()?;
    Ok(())
}

#[test]
fn a_hold_captures_part_and_returns_the_rest_or_voids() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    assert_eq!(s.top_up("alice", 10_000, "topup-hold-1")?.status, 200);
    let hold = |key: &str| -> anyhow::Result<String> {
        let p = s
            .app(
                SHOP,
                "POST",
                "/pay",
                &alice,
                json!({"amount": 4_000, "mode": "hold", "key": key}),
            )?
            .json();
        let id = p["id"].as_str().unwrap_or("").to_string();
        let c = s.me("POST", &format!("/me/payments/{id}/confirm"), &alice)?;
        anyhow::ensure!(c.json()["status"] == "held", "{}", c.body);
        Ok(id)
    };
    let ride = hold("ride-0001")?;
    assert_eq!(s.balance(&alice)?, 6_000);
    let too_much = s.app(
        SHOP,
        "POST",
        &format!("/payments/{ride}/capture"),
        &alice,
        json!({"amount": 4_001, "key": "cap-0001"}),
    )?;
    assert_eq!(too_much.status, 400);
    let cap = s.app(
        SHOP,
        "POST",
        &format!("/payments/{ride}/capture"),
        &alice,
        json!({"amount": 2_750, "key": "cap-0002"}),
    )?;
    assert_eq!(cap.json()["status"], "captured");
    assert_eq!(cap.json()["captured"], 2_750);
    assert_eq!((s.balance(&alice)?, s.merchant(SHOP)?), (7_250, 2_750));
    let void_late = s.app(
        SHOP,
        "POST",
        &format!("/payments/{ride}/void"),
        &alice,
        json!({"key": "void-0001"}),
    )?;
    assert_eq!(
        (void_late.status, void_late.json()["error"].as_str()),
        (409, Some("invalid-state"))
    );
    // Support refunds part of it for the merchant.
    let support = post_keyed(
        &s.url(&format!("/admin/wallet/payments/{ride}/refund")),
        Some(&s.admin),
        "support-0001",
        &json!({"amount": 750}),
    )?;
    assert_eq!(support.status, 200, "{}", support.body);
    assert_eq!(support.json()["refunded"], 750);
    assert_eq!((s.balance(&alice)?, s.merchant(SHOP)?), (8_000, 2_000));
    let seen = send(
        "GET",
        &s.url(&format!("/admin/wallet/payments/{ride}")),
        Some(&s.admin),
        None,
    )?
    .json();
    assert_eq!(
        (seen["status"].as_str(), seen["captured"].as_u64()),
        (Some("captured"), Some(2_750))
    );
    let no_key = send_json(
        "POST",
        &s.url(&format!("/admin/wallet/payments/{ride}/void")),
        Some(&s.admin),
        &json!({}),
    )?;
    assert_eq!(no_key.problem(), "idempotency-key-required");

    let rental = hold("rent-0001")?;
    let v = s.app(
        SHOP,
        "POST",
        &format!("/payments/{rental}/void"),
        &alice,
        json!({"key": "void-0002"}),
    )?;
    assert_eq!(v.json()["status"], "voided");
    assert_eq!(s.balance(&alice)?, 8_000);

    // A hold nobody captures is voided when its period passes.
    let stale = hold("rent-0002")?;
    block_on(s.host.sweep_wallet(now() + 7 * 86_400 + 1))?;
    assert_eq!(
        s.me("GET", &format!("/me/payments/{stale}"), &alice)?
            .json()["status"],
        "voided"
    );
    assert_eq!(s.balance(&alice)?, 8_000);
    s.audit()?;
    Ok(())
}

#[test]
fn an_app_proposes_a_transfer_by_open_id_and_the_sender_confirms_it() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    assert_eq!(s.top_up("alice", 1_000, "topup-tr-1")?.status, 200);
    let bob_open = s.app(SHOP, "GET", "/whoami", &bob, Value::Null)?.json()["open_id"].clone();
    let p = s.app(
        SHOP,
        "POST",
        "/transfer",
        &alice,
        json!({"to": bob_open, "amount": 300, "key": "split-bill-1"}),
    )?;
    assert_eq!(p.status, 200, "{}", p.body);
    let id = p.json()["id"].as_str().unwrap_or("").to_string();
    assert_eq!(s.balance(&bob)?, 0, "nothing until Alice confirms");
    let view = s.me("GET", &format!("/me/payments/{id}"), &alice)?.json();
    assert_eq!(
        (view["kind"].as_str(), view["to"].as_str()),
        (Some("transfer"), Some("bob"))
    );
    s.me("POST", &format!("/me/payments/{id}/confirm"), &alice)?;
    assert_eq!((s.balance(&alice)?, s.balance(&bob)?), (700, 300));
    let unknown = s.app(
        SHOP,
        "POST",
        "/transfer",
        &alice,
        json!({"to": "ou_00000000000000000000000000000000", "amount": 1, "key": "split-bill-2"}),
    )?;
    assert_eq!(unknown.status, 404);
    Ok(())
}

#[test]
fn events_are_retried_with_back_off_until_the_app_takes_them() -> anyhow::Result<()> {
    // No server here: deliveries happen only when the test asks, at the
    // times it names.
    let dir = tempfile::tempdir()?;
    let host = open_host(&dir.path().join("data"))?;
    host.install_dev(&root().join("tests/fixtures/wallet/superapp.toml"), false)?;
    let alice = person(&host, "alice")?;
    block_on(host.top_up("alice", 1_000, "topup-ev-1"))?;
    let call = |method: &str, path: &str, body: Value| -> anyhow::Result<Value> {
        let r = host.call(
            SHOP,
            superapp_host::Caller {
                user: Some(alice.clone()),
                scene: None,
            },
            superapp_host::CallRequest {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&body)?,
            },
        )?;
        Ok(serde_json::from_slice(&r.body).unwrap_or_default())
    };
    call("POST", "/fail-next", json!({"n": 2}))?;
    let p = call("POST", "/pay", json!({"amount": 10, "key": "order-ev-1"}))?;
    block_on(host.decide_payment(
        &alice,
        p["id"].as_str().unwrap_or(""),
        superapp_host::platform::PaymentDecision::Confirm,
    ))?;

    let t0 = now();
    let first = block_on(host.deliver_events(t0))?;
    assert_eq!((first.delivered, first.failed), (0, 1));
    let outbox = host.wallet().outbox().all_events()?;
    assert_eq!(outbox[0].attempts, 1);
    assert_eq!(outbox[0].next_at, t0 + 15, "first retry after 15 s");
    assert!(
        outbox[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("asked to fail")
    );
    assert_eq!(
        block_on(host.deliver_events(t0 + 14))?.failed,
        0,
        "not due yet"
    );
    assert_eq!(block_on(host.deliver_events(t0 + 15))?.failed, 1);
    assert_eq!(host.wallet().outbox().all_events()?[0].next_at, t0 + 30);
    assert_eq!(block_on(host.deliver_events(t0 + 30))?.delivered, 1);
    assert!(
        host.wallet().outbox().all_events()?.is_empty(),
        "delivered events leave the outbox"
    );
    let events = call("GET", "/events", Value::Null)?;
    assert_eq!(events[0]["kind"], "payment-confirmed");
    assert_eq!(events[0]["deliveries"], 1);

    // An app that never accepts is given up on after 15 tries, kept for
    // the operator.
    call("POST", "/fail-next", json!({"n": 100}))?;
    let refund = call(
        "POST",
        &format!("/payments/{}/refund", p["id"].as_str().unwrap_or("")),
        json!({"amount": 5, "key": "refund-ev-1"}),
    )?;
    assert_eq!(refund["refunded"], 5);
    let mut t = t0 + 100;
    for _ in 0..15 {
        block_on(host.deliver_events(t))?;
        t += 7 * 3600;
    }
    let left = host.wallet().outbox().all_events()?;
    assert_eq!(left.len(), 1);
    assert!(left[0].gave_up);
    assert_eq!(left[0].attempts, 15);
    assert_eq!(
        block_on(host.deliver_events(t + 86_400))?,
        Default::default(),
        "given up: not tried again"
    );
    Ok(())
}

#[test]
fn concurrent_transfers_never_take_a_balance_below_zero() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    assert_eq!(s.top_up("alice", 100, "topup-race-1")?.status, 200);
    let results: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..48)
            .map(|i| {
                let (url, alice) = (s.url("/me/transfers"), alice.clone());
                scope.spawn(move || {
                    post_keyed(
                        &url,
                        Some(&alice),
                        &format!("race-{i:04}"),
                        &json!({"to": "bob", "amount": 10}),
                    )
                    .map(|r| r.status)
                    .unwrap_or(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    assert_eq!(
        results.iter().filter(|&&c| c == 200).count(),
        10,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|&&c| c == 409).count(),
        38,
        "{results:?}"
    );
    assert_eq!((s.balance(&alice)?, s.balance(&bob)?), (0, 100));
    s.audit()?;
    Ok(())
}

#[test]
fn a_red_packet_is_never_over_claimed_nor_paid_twice_under_1000_concurrent_claims()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = Arc::new(open_host(&dir.path().join("data"))?);
    let sender = person(&host, "sender")?;
    block_on(host.top_up("sender", 20_000, "topup-storm-1"))?;
    let packet = match block_on(host.wallet().execute(Command::CreateRedPacket {
        user: sender,
        spec: PacketSpec {
            total: 20_000,
            count: 100,
            split: Split::Random,
            greeting: "新年快乐".into(),
        },
        key: "storm-packet-1".into(),
    }))? {
        Outcome::Packet(p) => p.id,
        other => anyhow::bail!("unexpected {other:?}"),
    };
    // 1,000 people, each claiming twice, all at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let claims = rt.block_on(async {
        let mut tasks = Vec::new();
        for round in 0..2 {
            for i in 0..1000 {
                let (host, packet) = (host.clone(), packet.clone());
                tasks.push(tokio::spawn(async move {
                    let user = format!("u_{i:032x}");
                    let r = host
                        .wallet()
                        .execute(Command::Claim {
                            user: user.clone(),
                            packet,
                            via_app: None,
                        })
                        .await;
                    (round, user, r)
                }));
            }
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    });
    let mut won = std::collections::BTreeMap::new();
    let mut refused = 0;
    for c in claims {
        let (_, user, r) = c?;
        match r {
            Ok(Outcome::Claim(c)) => {
                let prev = won.insert(user.clone(), c.amount);
                assert!(
                    prev.is_none() || prev == Some(c.amount),
                    "{user} got two different shares"
                );
                assert!(c.amount >= 1);
            }
            Err(e) => {
                assert_eq!(e.code(), "red-packet-empty");
                refused += 1;
            }
            Ok(other) => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(won.len(), 100, "exactly one share per person, 100 shares");
    assert_eq!(
        won.values().sum::<u64>(),
        20_000,
        "the shares add up to the packet"
    );
    assert_eq!(refused, 2000 - 200, "everyone else is told it is empty");
    for (user, amount) in &won {
        let account = superapp_host::wallet::Account::User(user.clone());
        let balance = block_on(host.wallet().read(move |l| l.balance(&account)))?;
        assert_eq!(balance, *amount, "{user} was paid once");
    }
    block_on(host.wallet().audit())?;
    Ok(())
}

#[test]
fn the_ledger_replays_the_same_state_after_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (alice, balances) = {
        let host = open_host(&data)?;
        let alice = person(&host, "alice")?;
        person(&host, "bob")?;
        block_on(host.top_up("alice", 9_999, "topup-restart"))?;
        block_on(host.transfer(&alice, "bob", 1_234, "rent", "restart-tr-1"))?;
        block_on(host.send_red_packet(
            &alice,
            PacketSpec {
                total: 100,
                count: 3,
                split: Split::Equal,
                greeting: String::new(),
            },
            "restart-rp-1",
        ))?;
        let a = block_on(host.wallet().audit())?;
        (alice, a)
    };
    let host = open_host(&data)?;
    let after = block_on(host.wallet().audit())?;
    assert_eq!(after.totals, balances.totals);
    assert_eq!(
        block_on(host.wallet_of(&alice))?.balance,
        9_999 - 1_234 - 100
    );
    let retry = block_on(host.transfer(&alice, "bob", 1_234, "rent", "restart-tr-1"))?;
    assert_eq!(retry.seq, 2, "idempotency survives the restart");
    assert_eq!(block_on(host.balance_of("bob"))?.balance, 1_234);
    Ok(())
}

#[test]
fn operators_move_money_with_the_cli_locally_and_through_a_running_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let d = data.to_str().unwrap_or_default();
    {
        let host = open_host(&data)?;
        person(&host, "alice")?;
    }
    let (ok, out, err) = cli(&[
        "--data",
        d,
        "wallet",
        "topup",
        "alice",
        "12.34",
        "--idempotency-key",
        "cli-topup-1",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("topped up @alice with 12.34 CNY"), "{out}");
    let (ok, _, _) = cli(&[
        "--data",
        d,
        "wallet",
        "topup",
        "alice",
        "12.34",
        "--idempotency-key",
        "cli-topup-1",
    ]);
    assert!(ok);
    let (_, out, _) = cli(&["--data", d, "wallet", "balance", "alice"]);
    assert_eq!(out.trim(), "@alice: 12.34 CNY", "the retry topped up once");
    let (ok, _, err) = cli(&["--data", d, "wallet", "topup", "alice", "1.234"]);
    assert!(!ok);
    assert!(
        err.contains("[invalid-amount]") && err.contains("1.234"),
        "{err}"
    );
    let (ok, _, err) = cli(&["--data", d, "wallet", "withdraw", "alice", "20"]);
    assert!(!ok);
    assert!(err.contains("[insufficient-funds]"), "{err}");
    let (ok, _, err) = cli(&["--data", d, "wallet", "topup", "zed", "1"]);
    assert!(!ok && err.contains("[unknown-user]"), "{err}");

    // While a server holds the folder, the CLI goes through its admin routes.
    let host = open_host(&data)?;
    let (_base, _host, _rt) = serve_with_admin(host)?;
    let (ok, out, err) = cli(&["--data", d, "wallet", "withdraw", "alice", "2.34"]);
    assert!(ok, "{err}");
    assert!(out.contains("withdrew 2.34 CNY from @alice"), "{out}");
    let (_, out, _) = cli(&["--data", d, "wallet", "balance", "alice"]);
    assert_eq!(out.trim(), "@alice: 10.00 CNY");
    let (ok, out, err) = cli(&["--data", d, "wallet", "audit"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ledger ok: 2 transfers")
            && out.contains("issued 12.34, redeemed 2.34, held 10.00"),
        "{out}"
    );
    Ok(())
}

#[test]
fn the_red_packet_app_works_end_to_end() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let carol = login(&s.base, "carol")?;
    let dave = {
        s.host
            .identity()
            .add_user("dave", Some("Dave"), Some(PASSWORD))?;
        login(&s.base, "dave")?
    };
    assert_eq!(s.top_up("alice", 5_000, "topup-rp-1")?.status, 200);
    // Bob and Alice let the app show their names; Carol and Dave do not.
    for t in [&alice, &bob] {
        let g = send_json(
            "PUT",
            &s.url("/me/apps/red-packet/grants/profile"),
            Some(t),
            &json!({"decision": "grant"}),
        )?;
        assert_eq!(g.status, 200, "{}", g.body);
    }

    let sent = s.app(
        "red-packet",
        "POST",
        "/packets",
        &alice,
        json!({"total": 1_000, "count": 3, "greeting": "新年快乐", "key": "rp-e2e-0001"}),
    )?;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let sent = sent.json();
    let packet = sent["packet"].as_str().unwrap_or("").to_string();
    let link = sent["link"].as_str().unwrap_or("").to_string();
    assert_eq!(link, format!("/apps/red-packet/call/packets/{packet}"));
    let waiting = send("GET", &s.url(&link), Some(&bob), None)?.json();
    assert_eq!(waiting["status"], "waiting for the sender to confirm");
    let early = s.app(
        "red-packet",
        "POST",
        &format!("/packets/{packet}/claim"),
        &bob,
        Value::Null,
    )?;
    assert_eq!(early.status, 404, "nothing to claim before it is funded");

    let confirm = s.me("POST", sent["confirm"].as_str().unwrap_or(""), &alice)?;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(s.balance(&alice)?, 4_000);

    let mut shares = Vec::new();
    for t in [&bob, &carol, &dave] {
        let c = s.app(
            "red-packet",
            "POST",
            &format!("/packets/{packet}/claim"),
            t,
            Value::Null,
        )?;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.json()["first_claim"], true);
        shares.push(c.json()["amount"].as_u64().unwrap_or(0));
    }
    assert_eq!(shares.iter().sum::<u64>(), 1_000, "{shares:?}");
    assert!(shares.iter().all(|&x| x >= 1));
    let again = s.app(
        "red-packet",
        "POST",
        &format!("/packets/{packet}/claim"),
        &bob,
        Value::Null,
    )?;
    assert_eq!(
        (
            again.json()["amount"].as_u64(),
            again.json()["first_claim"].as_bool()
        ),
        (Some(shares[0]), Some(false))
    );
    let late = s.app(
        "red-packet",
        "POST",
        &format!("/packets/{packet}/claim"),
        &alice,
        Value::Null,
    )?;
    assert_eq!(
        (late.status, late.json()["error"].as_str()),
        (409, Some("invalid-state")),
        "{}",
        late.body
    );
    assert_eq!(
        (s.balance(&bob)?, s.balance(&carol)?, s.balance(&dave)?),
        (shares[0], shares[1], shares[2])
    );

    let view = send("GET", &s.url(&link), Some(&carol), None)?.json();
    assert_eq!(view["status"], "all claimed");
    assert_eq!(view["from"], "Alice");
    assert_eq!(view["greeting"], "新年快乐");
    assert_eq!(view["claims"][0]["who"], "Bob");
    assert_eq!(
        view["claims"][1]["who"], "a friend",
        "Carol did not share her name"
    );
    assert_eq!(view["mine"].as_u64(), Some(shares[1]));
    let best = *shares.iter().max().unwrap_or(&0);
    assert_eq!(view["luckiest"]["amount"].as_u64(), Some(best));

    // The host's own view agrees, and the app heard about each claim.
    let host_view = s
        .me("GET", &format!("/me/red-packets/{packet}"), &dave)?
        .json();
    assert_eq!(host_view["claims"].as_array().map(Vec::len), Some(3));
    assert_eq!(host_view["status"], "empty");
    s.deliver()?;
    let activity = s
        .app("red-packet", "GET", "/activity", &alice, Value::Null)?
        .json();
    let whats: Vec<&str> = activity
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["what"].as_str())
        .collect();
    assert_eq!(
        whats.iter().filter(|w| **w == "share claimed").count(),
        3,
        "{whats:?}"
    );
    assert!(whats.contains(&"packet funded"), "{whats:?}");

    // A packet sent in the host directly; what nobody claims goes back.
    let direct = post_keyed(
        &s.url("/me/red-packets"),
        Some(&alice),
        "rp-direct-01",
        &json!({"total": 300, "count": 3, "split": "equal"}),
    )?;
    assert_eq!(direct.status, 201, "{}", direct.body);
    let id = direct.json()["id"].as_str().unwrap_or("").to_string();
    let one = s.me("POST", &format!("/me/red-packets/{id}/claim"), &bob)?;
    assert_eq!(one.json()["amount"], 100);
    block_on(s.host.sweep_wallet(now() + 24 * 3600 + 1))?;
    let expired = s
        .me("GET", &format!("/me/red-packets/{id}"), &alice)?
        .json();
    assert_eq!(
        (expired["status"].as_str(), expired["returned"].as_u64()),
        (Some("expired"), Some(200))
    );
    assert_eq!(s.balance(&alice)?, 4_000 - 300 + 200);
    let gone = s.me("POST", &format!("/me/red-packets/{id}/claim"), &carol)?;
    assert_eq!(
        (gone.status, gone.problem().as_str()),
        (410, "red-packet-expired")
    );
    s.audit()?;
    Ok(())
}
