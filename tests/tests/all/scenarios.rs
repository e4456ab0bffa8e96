//! End-to-end stories through the HTTP API with the three flagship
//! mini-apps (shop, ride-hailing, red-packet) as installed by `run.sh`:
//! every balance is asserted at every step, and the ledger audit must add
//! up at the end of each story.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use superapp_tests::{Reply, TestServer, login, send, send_json};

/// The shared test server, counting what the operator tops up.
struct Server {
    t: TestServer,
    issued: u64,
}

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.t
    }
}

impl Server {
    /// A host with the three mini-apps and these people (all with `PASSWORD`).
    /// On PostgreSQL, three hosts on one database, each request going to
    /// the next: every story runs across them.
    fn new(people: &[&str]) -> anyhow::Result<Server> {
        let people: Vec<(&str, &str)> = people.iter().map(|p| (*p, *p)).collect();
        let t = TestServer::start_many(
            &[
                "manifests/shop.toml",
                "manifests/ride-hailing.toml",
                "manifests/red-packet.toml",
            ],
            &people,
            3,
            std::path::Path::new(env!("CARGO_BIN_EXE_superapp-under-test")),
        )?;
        let want = if superapp_tests::on_postgres() { 3 } else { 1 };
        anyhow::ensure!(t.hosts() == want, "{} hosts, not {want}", t.hosts());
        Ok(Server { t, issued: 0 })
    }

    fn top_up(&mut self, handle: &str, amount: u64) -> anyhow::Result<()> {
        let r = self
            .t
            .top_up(handle, amount, &format!("topup-{handle}-{}", self.issued))?;
        anyhow::ensure!(r.status == 200, "top-up: {}", r.body);
        self.issued += amount;
        Ok(())
    }

    /// Like `app`, and the answer must have `status`; returns its JSON.
    fn ok(
        &self,
        app: &str,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
        status: u16,
    ) -> anyhow::Result<Value> {
        let r = self.app(app, method, path, token, body)?;
        anyhow::ensure!(
            r.status == status,
            "{method} {app}{path}: {} {}",
            r.status,
            r.body
        );
        Ok(r.json())
    }

    /// The person confirms something in the host (a payment, a receipt).
    fn host_post(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let r = send("POST", &self.url(path), Some(token), None)?;
        anyhow::ensure!(r.status == 200, "POST {path}: {} {}", r.status, r.body);
        Ok(r.json())
    }

    /// Every wallet and merchant balance is exactly as expected.
    fn expect(
        &self,
        step: &str,
        people: &[(&str, u64)],
        merchants: &[(&str, u64)],
    ) -> anyhow::Result<()> {
        let mut got = BTreeMap::new();
        let mut want = BTreeMap::new();
        for (token, amount) in people {
            got.insert(format!("person {}", &token[..8]), self.balance(token)?);
            want.insert(format!("person {}", &token[..8]), *amount);
        }
        for (app, amount) in merchants {
            got.insert(format!("merchant {app}"), self.merchant(app)?);
            want.insert(format!("merchant {app}"), *amount);
        }
        anyhow::ensure!(got == want, "{step}: balances {got:?}, expected {want:?}");
        Ok(())
    }

    /// The journal replays to the running ledger, and money adds up:
    /// issued = redeemed + everything held anywhere = what the people and
    /// merchants in `accounted` hold (nothing left in escrow or holds).
    fn audit_adds_up(&self, accounted: u64) -> anyhow::Result<()> {
        let audit = self.audit()?;
        let t = &audit["totals"];
        let (issued, redeemed, held) = (
            t["issued"].as_u64(),
            t["redeemed"].as_u64(),
            t["held"].as_u64(),
        );
        anyhow::ensure!(
            issued == Some(self.issued),
            "issued {issued:?}, topped up {}",
            self.issued
        );
        anyhow::ensure!(redeemed == Some(0), "redeemed {redeemed:?}");
        anyhow::ensure!(
            held == Some(accounted),
            "the ledger holds {held:?}, the accounts {accounted}"
        );
        Ok(())
    }
}

fn id_of(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_string()
}

/// Mia opens the shop with tea at 12.00 (10 in stock); Ben has 100.00.
fn shop_with_buyer() -> anyhow::Result<(Server, String, String)> {
    let mut s = Server::new(&["mia", "ben"])?;
    let (mia, ben) = (login(&s.base, "mia")?, login(&s.base, "ben")?);
    s.ok("shop", "POST", "/admin/setup", &mia, json!({}), 200)?;
    let tea = s.ok(
        "shop",
        "POST",
        "/admin/products",
        &mia,
        json!({"name": "Longjing tea", "price": 1200, "stock": 10}),
        201,
    )?;
    assert_eq!(tea["id"], "p1");
    s.top_up("ben", 10_000)?;
    s.expect("start", &[(&ben, 10_000), (&mia, 0)], &[("shop", 0)])?;
    Ok((s, mia, ben))
}

/// Ben buys 3 tea (36.00) and confirms; returns (order id, payment id).
fn ben_buys_tea(s: &Server, mia: &str, ben: &str) -> anyhow::Result<(String, String)> {
    s.ok("shop", "PUT", "/cart/p1", ben, json!({"qty": 3}), 200)?;
    let order = s.ok(
        "shop",
        "POST",
        "/checkout",
        ben,
        json!({"key": "ben-cart-1"}),
        201,
    )?;
    let (id, pay) = (id_of(&order, "id"), id_of(&order, "payment"));
    assert_eq!(order["total"], 3600);
    assert_eq!(order["status"], "awaiting-payment");
    s.expect(
        "checked out, not confirmed",
        &[(ben, 10_000), (mia, 0)],
        &[("shop", 0)],
    )?;
    let p = s.host_post(&format!("/me/payments/{pay}/confirm"), ben)?;
    assert_eq!(p["status"], "escrowed");
    s.expect(
        "paid into escrow",
        &[(ben, 6_400), (mia, 0)],
        &[("shop", 0)],
    )?;
    s.deliver()?;
    let o = s.ok(
        "shop",
        "GET",
        &format!("/orders/{id}"),
        ben,
        Value::Null,
        200,
    )?;
    assert_eq!(o["status"], "paid");
    Ok((id, pay))
}

#[test]
fn a_purchase_waits_in_escrow_until_the_buyer_confirms_receipt() -> anyhow::Result<()> {
    let (s, mia, ben) = shop_with_buyer()?;
    let (id, pay) = ben_buys_tea(&s, &mia, &ben)?;
    let shipped = s.ok(
        "shop",
        "POST",
        &format!("/admin/orders/{id}/ship"),
        &mia,
        json!({"tracking": "SF1234567"}),
        200,
    )?;
    assert_eq!(shipped["status"], "shipped");
    // Ben cannot ship or see the merchant's orders.
    assert_eq!(
        s.app("shop", "GET", "/admin/orders", &ben, Value::Null)?
            .status,
        403
    );
    s.expect("shipped", &[(&ben, 6_400), (&mia, 0)], &[("shop", 0)])?;
    let p = s.host_post(&format!("/me/payments/{pay}/confirm-receipt"), &ben)?;
    assert_eq!(p["status"], "released");
    s.expect(
        "receipt confirmed",
        &[(&ben, 6_400), (&mia, 0)],
        &[("shop", 3_600)],
    )?;
    s.deliver()?;
    let o = s.ok(
        "shop",
        "GET",
        &format!("/orders/{id}"),
        &ben,
        Value::Null,
        200,
    )?;
    assert_eq!(
        o["history"],
        json!(["awaiting-payment", "paid", "shipped", "received"])
    );
    let history = s.ok("shop", "GET", "/orders", &ben, Value::Null, 200)?;
    assert_eq!(history.as_array().map(Vec::len), Some(1));
    s.audit_adds_up(10_000)
}

#[test]
fn a_purchase_with_a_partial_refund_returns_part_and_releases_the_rest() -> anyhow::Result<()> {
    let (s, mia, ben) = shop_with_buyer()?;
    let (id, pay) = ben_buys_tea(&s, &mia, &ben)?;
    // Ben asks for 12.00 back (one tin was crushed); Mia gives 10.00.
    s.ok(
        "shop",
        "POST",
        &format!("/orders/{id}/refund"),
        &ben,
        json!({"amount": 1200, "reason": "one tin crushed"}),
        200,
    )?;
    let r = s.app(
        "shop",
        "POST",
        &format!("/orders/{id}/refund"),
        &ben,
        json!({"amount": 1, "reason": "again"}),
    )?;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("refund-pending"))
    );
    let o = s.ok(
        "shop",
        "POST",
        &format!("/admin/orders/{id}/refund"),
        &mia,
        json!({"amount": 1000, "note": "sorry"}),
        200,
    )?;
    assert_eq!(o["refunded"], 1000);
    s.expect(
        "partly refunded from escrow",
        &[(&ben, 7_400), (&mia, 0)],
        &[("shop", 0)],
    )?;
    s.host_post(&format!("/me/payments/{pay}/confirm-receipt"), &ben)?;
    s.expect(
        "the rest released",
        &[(&ben, 7_400), (&mia, 0)],
        &[("shop", 2_600)],
    )?;
    let p = send(
        "GET",
        &s.url(&format!("/me/payments/{pay}")),
        Some(&ben),
        None,
    )?
    .json();
    assert_eq!(
        (p["refunded"].as_u64(), p["status"].as_str()),
        (Some(1000), Some("released"))
    );
    s.deliver()?;
    assert_eq!(
        s.ok(
            "shop",
            "GET",
            &format!("/orders/{id}"),
            &ben,
            Value::Null,
            200
        )?["status"],
        "received"
    );
    s.audit_adds_up(10_000)
}

/// Rita (100.00) and Dan, a registered driver.
fn rides() -> anyhow::Result<(Server, String, String)> {
    let mut s = Server::new(&["rita", "dan"])?;
    let (rita, dan) = (login(&s.base, "rita")?, login(&s.base, "dan")?);
    s.top_up("rita", 10_000)?;
    s.ok(
        "ride-hailing",
        "POST",
        "/drivers",
        &dan,
        json!({"name": "Dan", "car": "white BYD Qin", "plate": "沪A12345"}),
        201,
    )?;
    Ok((s, rita, dan))
}

/// Rita asks for a ride across town and confirms the hold; returns (ride, held).
fn rita_requests(s: &Server, rita: &str, dan: &str) -> anyhow::Result<(String, u64)> {
    let trip = json!({"pickup": {"lat": 31.2304, "lng": 121.4737}, "dropoff": {"lat": 31.2397, "lng": 121.4998}});
    let est = s.ok("ride-hailing", "POST", "/estimate", rita, trip.clone(), 200)?;
    let ride = s.ok("ride-hailing", "POST", "/rides", rita, trip, 201)?;
    let held = ride["held"].as_u64().unwrap_or(0);
    assert_eq!(
        Some(held),
        est["fare"].as_u64(),
        "the estimate is what is held"
    );
    let p = s.host_post(
        &format!("/me/payments/{}/confirm", id_of(&ride, "payment")),
        rita,
    )?;
    assert_eq!(p["status"], "held");
    s.expect(
        "held",
        &[(rita, 10_000 - held), (dan, 0)],
        &[("ride-hailing", 0)],
    )?;
    s.deliver()?;
    let open = s.ok("ride-hailing", "GET", "/rides/open", dan, Value::Null, 200)?;
    assert_eq!(open[0]["id"], ride["id"]);
    Ok((id_of(&ride, "id"), held))
}

#[test]
fn a_ride_holds_the_estimate_captures_the_fare_and_pays_the_driver() -> anyhow::Result<()> {
    let (s, rita, dan) = rides()?;
    let (id, held) = rita_requests(&s, &rita, &dan)?;
    s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{id}/accept"),
        &dan,
        json!({}),
        200,
    )?;
    s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{id}/start"),
        &dan,
        json!({}),
        200,
    )?;
    s.expect(
        "on the way",
        &[(&rita, 10_000 - held), (&dan, 0)],
        &[("ride-hailing", 0)],
    )?;
    // 3.0 km: 10.00 + 3 × 2.50 = 17.50, less than the hold.
    let done = s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{id}/complete"),
        &dan,
        json!({"distance_km": 3.0}),
        200,
    )?;
    assert_eq!(done["charged"], 1750);
    assert!(held > 1750);
    s.expect(
        "captured and paid",
        &[(&rita, 10_000 - 1750), (&dan, 1400)],
        &[("ride-hailing", 350)],
    )?;
    s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{id}/rate"),
        &rita,
        json!({"stars": 5}),
        200,
    )?;
    s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{id}/rate"),
        &dan,
        json!({"stars": 4}),
        200,
    )?;
    let me = s.ok("ride-hailing", "GET", "/drivers/me", &dan, Value::Null, 200)?;
    assert_eq!(
        (me["rating"].as_f64(), me["earned"].as_u64()),
        (Some(5.0), Some(1400))
    );
    s.audit_adds_up(10_000)
}

#[test]
fn a_cancelled_ride_is_free_before_acceptance_and_costs_the_fee_after() -> anyhow::Result<()> {
    let (s, rita, dan) = rides()?;
    let (first, _) = rita_requests(&s, &rita, &dan)?;
    let c = s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{first}/cancel"),
        &rita,
        json!({}),
        200,
    )?;
    assert_eq!(c["status"], "cancelled");
    s.expect(
        "cancelled before acceptance",
        &[(&rita, 10_000), (&dan, 0)],
        &[("ride-hailing", 0)],
    )?;
    let (second, _) = rita_requests(&s, &rita, &dan)?;
    s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{second}/accept"),
        &dan,
        json!({}),
        200,
    )?;
    let c = s.ok(
        "ride-hailing",
        "POST",
        &format!("/rides/{second}/cancel"),
        &rita,
        json!({}),
        200,
    )?;
    assert_eq!(c["charged"], 500);
    s.expect(
        "cancelled after acceptance",
        &[(&rita, 9_500), (&dan, 400)],
        &[("ride-hailing", 100)],
    )?;
    let r = s.app(
        "ride-hailing",
        "POST",
        &format!("/rides/{second}/start"),
        &dan,
        json!({}),
    )?;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("wrong-state"))
    );
    s.audit_adds_up(10_000)
}

#[test]
fn a_group_red_packet_is_shared_among_many_claimants_and_only_members() -> anyhow::Result<()> {
    const MEMBERS: usize = 12;
    let handles: Vec<String> = (0..MEMBERS).map(|i| format!("guest{i:02}")).collect();
    let mut people: Vec<&str> = vec!["host", "outsider"];
    people.extend(handles.iter().map(String::as_str));
    let mut s = Server::new(&people)?;
    let host = login(&s.base, "host")?;
    let outsider = login(&s.base, "outsider")?;
    s.top_up("host", 50_000)?;
    let r = send_json(
        "POST",
        &s.url("/me/conversations"),
        Some(&host),
        &json!({"title": "Family", "members": handles}),
    )?;
    anyhow::ensure!(r.status == 201, "group: {}", r.body);
    let conv = id_of(&r.json(), "id");
    // 100.00 in 10 random shares for 12 people: two go without.
    let sent = s.ok(
        "red-packet",
        "POST",
        "/packets",
        &host,
        json!({"total": 10_000, "count": 10, "key": "family-2026", "conversation": conv}),
        201,
    )?;
    let (pay, packet) = (id_of(&sent, "payment"), id_of(&sent, "packet"));
    s.host_post(&format!("/me/payments/{pay}/confirm"), &host)?;
    s.expect("funded", &[(&host, 40_000)], &[("red-packet", 0)])?;
    let r = s.app(
        "red-packet",
        "POST",
        &format!("/packets/{packet}/claim"),
        &outsider,
        json!({}),
    )?;
    assert_eq!(r.status, 403, "{}", r.body);
    let mut claimed = 0;
    let mut balances = Vec::new();
    for h in &handles {
        let token = login(&s.base, h)?;
        let r = s.app(
            "red-packet",
            "POST",
            &format!("/packets/{packet}/claim"),
            &token,
            json!({}),
        )?;
        let got = if r.status == 200 {
            r.json()["amount"].as_u64().unwrap_or(0)
        } else {
            0
        };
        assert!(r.status == 200 || r.status == 409, "{}", r.body);
        claimed += got;
        balances.push((token, got));
        let expected: Vec<(&str, u64)> = balances.iter().map(|(t, g)| (t.as_str(), *g)).collect();
        s.expect(
            &format!("{h} claimed {got}"),
            &expected,
            &[("red-packet", 0)],
        )?;
    }
    assert_eq!(claimed, 10_000, "every cent reached a member");
    assert_eq!(balances.iter().filter(|(_, g)| *g > 0).count(), 10);
    let view = s.ok(
        "red-packet",
        "GET",
        &format!("/packets/{packet}"),
        &host,
        Value::Null,
        200,
    )?;
    assert_eq!(
        (view["claimed"].as_u64(), view["remaining"].as_u64()),
        (Some(10), Some(0))
    );
    s.expect(
        "after the packet",
        &[(&host, 40_000), (&outsider, 0)],
        &[("red-packet", 0)],
    )?;
    s.audit_adds_up(50_000)
}

#[test]
fn each_flagship_app_declares_exactly_the_capabilities_it_imports() -> anyhow::Result<()> {
    use superapp_host::packages::{Capability, ImportNeed, Manifest};
    let engine = wasmtime::Engine::default();
    for app in ["shop", "ride-hailing", "red-packet"] {
        let manifest =
            Manifest::load(&superapp_tests::root().join(format!("manifests/{app}.toml")))?;
        let component = wasmtime::component::Component::from_file(&engine, &manifest.component)
            .map_err(|e| anyhow::anyhow!("{app}: {e}"))?;
        let mut used = std::collections::BTreeSet::new();
        for (name, _) in component.component_type().imports(&engine) {
            if let ImportNeed::Capability(c) = Capability::for_import(name) {
                used.insert(c);
            }
        }
        let declared: std::collections::BTreeSet<Capability> =
            manifest.capabilities.keys().copied().collect();
        assert_eq!(declared, used, "{app}: declared vs imported");
    }
    Ok(())
}

/// Runs `call` for every token at the same time, one thread each.
fn at_once(
    tokens: &[String],
    call: impl Fn(&str) -> anyhow::Result<Reply> + Sync,
) -> anyhow::Result<Vec<Reply>> {
    std::thread::scope(|scope| {
        let calls: Vec<_> = tokens.iter().map(|t| scope.spawn(|| call(t))).collect();
        calls
            .into_iter()
            .map(|c| c.join().map_err(|_| anyhow::anyhow!("a caller panicked"))?)
            .collect()
    })
}

#[test]
fn the_last_items_sell_once_and_a_ride_goes_to_one_driver_however_many_race() -> anyhow::Result<()>
{
    const BUYERS: usize = 10;
    let handles: Vec<String> = (0..BUYERS).map(|i| format!("buyer{i:02}")).collect();
    let mut people = vec!["mia", "rita", "dan", "dora"];
    people.extend(handles.iter().map(String::as_str));
    let mut s = Server::new(&people)?;
    let mia = login(&s.base, "mia")?;
    s.ok("shop", "POST", "/admin/setup", &mia, json!({}), 200)?;
    s.ok(
        "shop",
        "POST",
        "/admin/products",
        &mia,
        json!({"name": "Last tins", "price": 500, "stock": 3}),
        201,
    )?;
    let mut buyers = Vec::new();
    for h in &handles {
        s.top_up(h, 1_000)?;
        let t = login(&s.base, h)?;
        s.ok("shop", "PUT", "/cart/p1", &t, json!({"qty": 1}), 200)?;
        buyers.push(t);
    }
    // Every buyer checks out at once: three orders, no more.
    let results = at_once(&buyers, |t| {
        s.app("shop", "POST", "/checkout", t, json!({}))
    })?;
    let sold = results.iter().filter(|r| r.status == 201).count();
    let refused = results
        .iter()
        .filter(|r| r.json()["error"] == "out-of-stock")
        .count();
    assert_eq!(
        (sold, refused),
        (3, BUYERS - 3),
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let p = s.ok("shop", "GET", "/products/p1", &mia, Value::Null, 200)?;
    assert_eq!(p["stock"], 0);

    // Two drivers accept the same ride at once: one gets it.
    let (rita, dan, dora) = (
        login(&s.base, "rita")?,
        login(&s.base, "dan")?,
        login(&s.base, "dora")?,
    );
    s.top_up("rita", 10_000)?;
    for (t, name) in [(&dan, "Dan"), (&dora, "Dora")] {
        s.ok(
            "ride-hailing",
            "POST",
            "/drivers",
            t,
            json!({"name": name, "car": "car", "plate": "A1"}),
            201,
        )?;
    }
    let (ride, _) = rita_requests(&s, &rita, &dan)?;
    let path = format!("/rides/{ride}/accept");
    let results = at_once(&[dan.clone(), dora.clone()], |t| {
        s.app("ride-hailing", "POST", &path, t, json!({}))
    })?;
    let won: Vec<&Reply> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let loser = if won[0].json()["driver"]["name"] == "Dan" {
        &dora
    } else {
        &dan
    };
    let me = s.ok(
        "ride-hailing",
        "GET",
        "/drivers/me",
        loser,
        Value::Null,
        200,
    )?;
    assert_eq!(
        me["current"],
        Value::Null,
        "the losing driver is free again"
    );
    Ok(())
}
