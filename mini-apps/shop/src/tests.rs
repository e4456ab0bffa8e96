//! The shop's logic against the SDK's mock host: catalog rights, checkout
//! into escrow, the order's life, refunds, customer service.

use super::Shop;
use serde_json::{Value, json};
use superapp_sdk::Response;
use superapp_sdk::mock::{MockHost, Posted};

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn code(r: &Response) -> String {
    body(r)["error"].as_str().unwrap_or("").to_string()
}

/// A shop owned by `boss` with tea (12.00, 5 in stock) and a cup (30.00, 1).
fn open_shop() -> (MockHost<Shop>, String) {
    let host = MockHost::<Shop>::new("shop");
    let boss = host.person("boss");
    assert_eq!(host.post(&boss, "/admin/setup", &json!({})).status, 200);
    let tea = host.post(
        &boss,
        "/admin/products",
        &json!({"name": "Tea", "price": 1200, "stock": 5}),
    );
    assert_eq!(tea.status, 201, "{}", tea.body_text());
    let cup = host.post(
        &boss,
        "/admin/products",
        &json!({"name": "Cup", "price": 3000, "stock": 1}),
    );
    assert_eq!(cup.status, 201);
    (host, boss)
}

/// `who` buys 2 tea and the cup and confirms the payment; returns the order.
fn bought(host: &MockHost<Shop>, who: &str) -> Value {
    host.top_up(who, 10_000);
    assert_eq!(host.put(who, "/cart/p1", &json!({"qty": 2})).status, 200);
    let cart = host.put(who, "/cart/p2", &json!({"qty": 1}));
    assert_eq!(body(&cart)["total"], 5400);
    let order = host.post(who, "/checkout", &json!({"key": "first-try"}));
    assert_eq!(order.status, 201, "{}", order.body_text());
    let order = body(&order);
    assert_eq!(order["status"], "awaiting-payment");
    let payment = order["payment"].as_str().unwrap_or_default().to_string();
    assert_eq!(host.payment(&payment).map(|p| p.amount), Some(5400));
    assert_eq!(host.confirm(who, &payment), Ok(()));
    order
}

#[test]
fn only_the_owner_and_staff_manage_the_catalog() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    let r = host.post(
        &ann,
        "/admin/products",
        &json!({"name": "Fake", "price": 1, "stock": 1}),
    );
    assert_eq!((r.status, code(&r).as_str()), (403, "not-merchant"));
    assert_eq!(
        code(&host.post(&ann, "/admin/setup", &json!({}))),
        "has-owner"
    );
    assert_eq!(
        code(&host.post(&ann, "/admin/staff", &json!({"open_id": ann}))),
        "not-owner"
    );
    assert_eq!(
        host.post(&boss, "/admin/staff", &json!({"open_id": ann}))
            .status,
        204
    );
    let r = host.put(&ann, "/admin/products/p1", &json!({"price": 1500}));
    assert_eq!(body(&r)["price"], 1500);
    assert_eq!(
        host.delete(&boss, &format!("/admin/staff/{ann}")).status,
        204
    );
    assert_eq!(
        host.put(&ann, "/admin/products/p1", &json!({"price": 1}))
            .status,
        403
    );
    // Bad products name what was wrong and store nothing.
    assert_eq!(
        code(&host.post(
            &boss,
            "/admin/products",
            &json!({"name": "", "price": 5, "stock": 1})
        )),
        "invalid-name"
    );
    assert_eq!(
        code(&host.post(
            &boss,
            "/admin/products",
            &json!({"name": "X", "price": 0, "stock": 1})
        )),
        "invalid-price"
    );
    assert_eq!(
        body(&host.get(&ann, "/products")).as_array().map(Vec::len),
        Some(2)
    );
    // A deactivated product leaves the catalog.
    host.put(&boss, "/admin/products/p2", &json!({"active": false}));
    assert_eq!(
        body(&host.get(&ann, "/products")).as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(host.get(&ann, "/products/p2").status, 404);
}

#[test]
fn checkout_asks_for_an_escrow_payment_and_takes_the_stock() {
    let (host, _boss) = open_shop();
    let ann = host.person("ann");
    let order = bought(&host, &ann);
    // Escrow: the money left the buyer but the merchant has nothing yet.
    assert_eq!(host.balance(&ann), 4600);
    assert_eq!(host.merchant_balance(), 0);
    let id = order["id"].as_str().unwrap_or_default();
    let now = body(&host.get(&ann, &format!("/orders/{id}")));
    assert_eq!(now["status"], "paid");
    assert_eq!(body(&host.get(&ann, "/products/p1"))["stock"], 3);
    assert_eq!(
        body(&host.get(&ann, "/cart"))["total"],
        0,
        "checkout empties the cart"
    );
    // A retried checkout with the same key is the same order.
    let again = body(&host.post(&ann, "/checkout", &json!({"key": "first-try"})));
    assert_eq!(again["id"], order["id"]);
    // The cup is gone: nobody else can buy it, and the refusal takes no tea.
    let bob = host.person("bob");
    host.put(&bob, "/cart/p1", &json!({"qty": 1}));
    host.put(&bob, "/cart/p2", &json!({"qty": 1}));
    assert_eq!(
        code(&host.post(&bob, "/checkout", &json!({}))),
        "out-of-stock"
    );
    assert_eq!(body(&host.get(&bob, "/products/p1"))["stock"], 3);
    // Another person's order is not found for them.
    assert_eq!(host.get(&bob, &format!("/orders/{id}")).status, 404);
    assert_eq!(host.check_ledger(), Ok(()));
}

#[test]
fn the_order_goes_paid_shipped_received_and_receipt_releases_the_money() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    host.subscribe(&ann, "order-shipped", 1);
    let order = bought(&host, &ann);
    let id = order["id"].as_str().unwrap_or_default();
    let payment = order["payment"].as_str().unwrap_or_default();
    let r = host.post(
        &boss,
        &format!("/admin/orders/{id}/ship"),
        &json!({"tracking": "SF123"}),
    );
    assert_eq!(body(&r)["status"], "shipped");
    assert!(
        matches!(host.inbox(&ann).as_slice(), [Posted::Notification { topic, .. }] if topic == "order-shipped")
    );
    assert_eq!(
        code(&host.post(
            &boss,
            &format!("/admin/orders/{id}/ship"),
            &json!({"tracking": "x"})
        )),
        "cannot-ship"
    );
    assert_eq!(host.confirm_receipt(&ann, payment), Ok(()));
    let now = body(&host.get(&ann, &format!("/orders/{id}")));
    assert_eq!(now["status"], "received");
    assert_eq!(
        now["history"],
        json!(["awaiting-payment", "paid", "shipped", "received"])
    );
    assert_eq!(host.merchant_balance(), 5400);
    assert_eq!(host.check_ledger(), Ok(()));
}

#[test]
fn a_partial_refund_is_asked_for_and_the_merchant_decides_the_amount() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    let order = bought(&host, &ann);
    let id = order["id"].as_str().unwrap_or_default();
    let payment = order["payment"].as_str().unwrap_or_default();
    let ask = |amount: u64| {
        host.post(
            &ann,
            &format!("/orders/{id}/refund"),
            &json!({"amount": amount, "reason": "cup chipped"}),
        )
    };
    assert_eq!(code(&ask(0)), "invalid-amount");
    assert_eq!(code(&ask(5401)), "invalid-amount");
    assert_eq!(ask(3000).status, 200);
    assert_eq!(code(&ask(100)), "refund-pending");
    // The merchant refunds 2000 of the 3000 asked, from escrow.
    let r = host.post(
        &boss,
        &format!("/admin/orders/{id}/refund"),
        &json!({"amount": 2000, "note": "a discount"}),
    );
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert_eq!(body(&r)["refunded"], 2000);
    assert_eq!(host.balance(&ann), 4600 + 2000);
    // Receipt releases the rest to the merchant.
    assert_eq!(host.confirm_receipt(&ann, payment), Ok(()));
    assert_eq!(host.merchant_balance(), 3400);
    // A second request after receipt is refunded from the merchant balance; declining is possible too.
    assert_eq!(ask(400).status, 200);
    let r = host.post(
        &boss,
        &format!("/admin/orders/{id}/refund/decline"),
        &json!({"reason": "no"}),
    );
    assert_eq!(body(&r)["refunds"][1]["outcome"], "declined");
    assert_eq!(ask(3400).status, 200);
    let r = body(&host.post(&boss, &format!("/admin/orders/{id}/refund"), &json!({})));
    assert_eq!(r["status"], "refunded");
    assert_eq!((host.balance(&ann), host.merchant_balance()), (10_000, 0));
    assert_eq!(host.check_ledger(), Ok(()));
}

#[test]
fn redelivered_events_change_nothing() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    let order = bought(&host, &ann);
    let id = order["id"].as_str().unwrap_or_default().to_string();
    let ben = host.person("ben");
    host.put(&ben, "/cart/p1", &json!({"qty": 1}));
    host.post(&ben, "/checkout", &json!({}));
    host.advance(16 * 60); // ben's order expires: its stock comes back once
    let before = (
        body(&host.get(&ann, &format!("/orders/{id}")))["status"].clone(),
        body(&host.get(&ann, "/products/p1"))["stock"].clone(),
        body(&host.get(&boss, "/admin/orders")),
        host.merchant_balance(),
    );
    assert_eq!(before.0, "paid");
    assert_eq!(before.1, 3, "5 − ann's 2; ben's 1 came back");
    let delivered = host.events().len();

    host.redeliver_all();
    assert_eq!(host.events().len(), 2 * delivered, "every event came twice");
    let after = (
        body(&host.get(&ann, &format!("/orders/{id}")))["status"].clone(),
        body(&host.get(&ann, "/products/p1"))["stock"].clone(),
        body(&host.get(&boss, "/admin/orders")),
        host.merchant_balance(),
    );
    assert_eq!(after, before, "a second delivery changes nothing");
    assert!(host.event_errors().is_empty(), "{:?}", host.event_errors());
}

#[test]
fn an_unconfirmed_order_is_cancelled_and_its_stock_returns() {
    let (host, _boss) = open_shop();
    let ann = host.person("ann");
    host.put(&ann, "/cart/p2", &json!({"qty": 1}));
    let order = body(&host.post(&ann, "/checkout", &json!({})));
    assert_eq!(body(&host.get(&ann, "/products/p2"))["stock"], 0);
    host.advance(16 * 60);
    let id = order["id"].as_str().unwrap_or_default();
    assert_eq!(
        body(&host.get(&ann, &format!("/orders/{id}")))["status"],
        "cancelled"
    );
    assert_eq!(body(&host.get(&ann, "/products/p2"))["stock"], 1);
    assert_eq!(
        code(&host.post(&ann, "/checkout", &json!({}))),
        "empty-cart"
    );
}

#[test]
fn customer_service_reaches_the_merchant_who_answers() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    host.write_to_app(&ann, "Do you ship to Macau?");
    let inbox = body(&host.get(&boss, "/admin/inbox"));
    assert_eq!(inbox[0]["text"], "Do you ship to Macau?");
    assert_eq!(inbox[0]["from"], ann.as_str());
    assert_eq!(host.get(&ann, "/admin/inbox").status, 403);
    let r = host.post(
        &boss,
        &format!("/admin/inbox/{ann}/reply"),
        &json!({"text": "Yes, 3 days."}),
    );
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert_eq!(
        host.inbox(&ann),
        vec![Posted::Reply {
            text: "Yes, 3 days.".into()
        }]
    );
    // Two days later the window has closed.
    host.advance(49 * 3600);
    let r = host.post(
        &boss,
        &format!("/admin/inbox/{ann}/reply"),
        &json!({"text": "Still there?"}),
    );
    assert_eq!((r.status, code(&r).as_str()), (409, "outside-window"));
}

#[test]
fn the_merchant_sees_inactive_products_and_can_switch_them_back_on() {
    let (host, boss) = open_shop();
    let ann = host.person("ann");
    host.put(&boss, "/admin/products/p2", &json!({"active": false}));
    let all = body(&host.get(&boss, "/admin/products"));
    let listed: Vec<(Value, Value)> = all
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].clone(), p["active"].clone()))
        .collect();
    assert_eq!(
        listed,
        [(json!("p1"), json!(true)), (json!("p2"), json!(false))]
    );
    // Shoppers never see the merchant's list.
    let r = host.get(&ann, "/admin/products");
    assert_eq!((r.status, code(&r).as_str()), (403, "not-merchant"));
    host.put(&boss, "/admin/products/p2", &json!({"active": true}));
    assert_eq!(host.get(&ann, "/products/p2").status, 200);
}

#[test]
fn everyone_learns_whether_they_run_the_shop() {
    let (host, boss) = open_shop();
    let (ann, cat) = (host.person("ann"), host.person("cat"));
    assert_eq!(
        host.post(&boss, "/admin/staff", &json!({"open_id": cat}))
            .status,
        204
    );
    assert_eq!(
        body(&host.get(&boss, "/me")),
        json!({"merchant": true, "owner": true})
    );
    assert_eq!(
        body(&host.get(&cat, "/me")),
        json!({"merchant": true, "owner": false})
    );
    let r = host.get(&ann, "/me");
    assert_eq!(
        (r.status, body(&r)),
        (200, json!({"merchant": false, "owner": false}))
    );
}
