//! The ride-hailing logic against the SDK's mock host: holds, capture
//! within the hold, the driver's pay, cancellation rules, ratings.

use super::Rides;
use serde_json::{Value, json};
use superapp_sdk::Response;
use superapp_sdk::mock::MockHost;

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn code(r: &Response) -> String {
    body(r)["error"].as_str().unwrap_or("").to_string()
}

/// About 5.6 km by road across town.
fn trip() -> Value {
    json!({"pickup": {"lat": 31.2304, "lng": 121.4737}, "dropoff": {"lat": 31.2397, "lng": 121.4998}})
}

struct World {
    host: MockHost<Rides>,
    rider: String,
    driver: String,
}

/// A rider with 100.00 and a registered driver.
fn world() -> World {
    let host = MockHost::<Rides>::new("ride-hailing");
    let rider = host.person("rita");
    let driver = host.person("dan");
    host.top_up(&rider, 10_000);
    let r = host.post(
        &driver,
        "/drivers",
        &json!({"name": "Dan", "car": "white BYD Qin", "plate": "沪A12345"}),
    );
    assert_eq!(r.status, 201, "{}", r.body_text());
    World {
        host,
        rider,
        driver,
    }
}

/// The rider asks for the trip and confirms the hold; returns (ride id, held).
fn requested(w: &World) -> (String, u64) {
    let ride = w.host.post(&w.rider, "/rides", &trip());
    assert_eq!(ride.status, 201, "{}", ride.body_text());
    let ride = body(&ride);
    let held = ride["held"].as_u64().unwrap_or(0);
    let payment = ride["payment"].as_str().unwrap_or_default();
    assert_eq!(w.host.confirm(&w.rider, payment), Ok(()));
    (ride["id"].as_str().unwrap_or_default().to_string(), held)
}

#[test]
fn the_estimate_is_held_and_a_shorter_trip_captures_less() {
    let w = world();
    let est = body(&w.host.post(&w.rider, "/estimate", &trip()));
    let (id, held) = requested(&w);
    assert_eq!(Some(held), est["fare"].as_u64());
    assert!(held > 1500, "{est}");
    assert_eq!(
        w.host.balance(&w.rider),
        10_000 - held,
        "the estimate is held"
    );
    let open = body(&w.host.get(&w.driver, "/rides/open"));
    assert_eq!(open[0]["id"], id.as_str());
    assert_eq!(
        body(
            &w.host
                .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}))
        )["status"],
        "accepted"
    );
    assert_eq!(body(&w.host.get(&w.driver, "/rides/open")), json!([]));
    assert_eq!(
        body(
            &w.host
                .post(&w.driver, &format!("/rides/{id}/start"), &json!({}))
        )["status"],
        "in-progress"
    );
    // 3.0 km: 10.00 + 3 × 2.50 = 17.50, below the hold.
    let done = body(&w.host.post(
        &w.driver,
        &format!("/rides/{id}/complete"),
        &json!({"distance_km": 3.0}),
    ));
    assert_eq!(done["status"], "completed");
    assert_eq!(done["charged"], 1750);
    assert!(held > 1750);
    assert_eq!(
        w.host.balance(&w.rider),
        10_000 - 1750,
        "the rest of the hold came back"
    );
    assert_eq!(w.host.balance(&w.driver), 1400, "80% to the driver");
    assert_eq!(w.host.merchant_balance(), 350);
    assert_eq!(w.host.check_ledger(), Ok(()));
}

#[test]
fn a_longer_trip_is_never_charged_above_the_hold() {
    let w = world();
    let (id, held) = requested(&w);
    w.host
        .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}));
    w.host
        .post(&w.driver, &format!("/rides/{id}/start"), &json!({}));
    let done = body(&w.host.post(
        &w.driver,
        &format!("/rides/{id}/complete"),
        &json!({"distance_km": 40.0}),
    ));
    assert_eq!(done["charged"].as_u64(), Some(held));
    assert_eq!(w.host.balance(&w.rider), 10_000 - held);
    assert_eq!(w.host.check_ledger(), Ok(()));
}

#[test]
fn cancelling_is_free_before_a_driver_accepts_and_costs_the_fee_after() {
    let w = world();
    let (first, _) = requested(&w);
    let r = body(
        &w.host
            .post(&w.rider, &format!("/rides/{first}/cancel"), &json!({})),
    );
    assert_eq!(
        (r["status"].as_str(), r["charged"].as_u64()),
        (Some("cancelled"), Some(0))
    );
    assert_eq!(w.host.balance(&w.rider), 10_000);
    let (second, _) = requested(&w);
    w.host
        .post(&w.driver, &format!("/rides/{second}/accept"), &json!({}));
    let r = body(
        &w.host
            .post(&w.rider, &format!("/rides/{second}/cancel"), &json!({})),
    );
    assert_eq!(r["charged"], 500);
    assert_eq!(w.host.balance(&w.rider), 10_000 - 500);
    assert_eq!(w.host.balance(&w.driver), 400);
    // The driver is free again; a cancelled ride cannot start.
    assert_eq!(
        body(&w.host.get(&w.driver, "/drivers/me"))["current"],
        Value::Null
    );
    assert_eq!(
        code(
            &w.host
                .post(&w.driver, &format!("/rides/{second}/start"), &json!({}))
        ),
        "wrong-state"
    );
    assert_eq!(w.host.check_ledger(), Ok(()));
}

#[test]
fn a_driver_who_gives_a_ride_back_puts_it_in_the_queue_for_free() {
    let w = world();
    let (id, held) = requested(&w);
    w.host
        .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}));
    let r = body(
        &w.host
            .post(&w.driver, &format!("/rides/{id}/cancel"), &json!({})),
    );
    assert_eq!(r["status"], "requested");
    assert_eq!(w.host.balance(&w.rider), 10_000 - held);
    assert_eq!(
        body(&w.host.get(&w.driver, "/rides/open"))[0]["id"],
        id.as_str()
    );
}

#[test]
fn only_registered_drivers_take_rides_and_only_their_driver_drives_one() {
    let w = world();
    let (id, _) = requested(&w);
    let stranger = w.host.person("sam");
    assert_eq!(
        code(
            &w.host
                .post(&stranger, &format!("/rides/{id}/accept"), &json!({}))
        ),
        "not-a-driver"
    );
    assert_eq!(code(&w.host.get(&stranger, "/rides/open")), "not-a-driver");
    assert_eq!(
        code(
            &w.host
                .post(&w.rider, &format!("/rides/{id}/accept"), &json!({}))
        ),
        "not-a-driver"
    );
    w.host.post(
        &stranger,
        "/drivers",
        &json!({"name": "Sam", "car": "red car", "plate": "B1"}),
    );
    w.host
        .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}));
    assert_eq!(
        code(
            &w.host
                .post(&stranger, &format!("/rides/{id}/accept"), &json!({}))
        ),
        "not-found"
    );
    assert_eq!(
        code(
            &w.host
                .post(&stranger, &format!("/rides/{id}/start"), &json!({}))
        ),
        "not-found"
    );
    // Bad input names what was wrong.
    assert_eq!(
        code(&w.host.post(
            &w.rider,
            "/estimate",
            &json!({"pickup": {"lat": 91.0, "lng": 0.0}, "dropoff": {"lat": 0.0, "lng": 0.0}})
        )),
        "invalid-pickup"
    );
    assert_eq!(
        code(&w.host.post(
            &w.rider,
            "/estimate",
            &json!({"pickup": {"lat": 1.0, "lng": 1.0}, "dropoff": {"lat": 1.0, "lng": 1.0}})
        )),
        "invalid-dropoff"
    );
    assert_eq!(
        code(&w.host.post(
            &stranger,
            "/drivers",
            &json!({"name": "", "car": "x", "plate": "y"})
        )),
        "invalid-name"
    );
}

#[test]
fn rider_and_driver_rate_each_other_once_after_the_trip() {
    let w = world();
    let (id, _) = requested(&w);
    assert_eq!(
        code(
            &w.host
                .post(&w.rider, &format!("/rides/{id}/rate"), &json!({"stars": 5}))
        ),
        "wrong-state"
    );
    w.host
        .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}));
    w.host
        .post(&w.driver, &format!("/rides/{id}/start"), &json!({}));
    w.host.post(
        &w.driver,
        &format!("/rides/{id}/complete"),
        &json!({"distance_km": 3.0}),
    );
    assert_eq!(
        code(
            &w.host
                .post(&w.rider, &format!("/rides/{id}/rate"), &json!({"stars": 6}))
        ),
        "invalid-stars"
    );
    assert_eq!(
        w.host
            .post(
                &w.rider,
                &format!("/rides/{id}/rate"),
                &json!({"stars": 4, "comment": "smooth"})
            )
            .status,
        200
    );
    assert_eq!(
        code(
            &w.host
                .post(&w.rider, &format!("/rides/{id}/rate"), &json!({"stars": 5}))
        ),
        "already-rated"
    );
    assert_eq!(
        w.host
            .post(
                &w.driver,
                &format!("/rides/{id}/rate"),
                &json!({"stars": 5})
            )
            .status,
        200
    );
    assert_eq!(body(&w.host.get(&w.driver, "/drivers/me"))["rating"], 4.0);
    assert_eq!(
        body(&w.host.get(&w.rider, &format!("/rides/{id}")))["rider_rating"],
        5.0
    );
}

#[test]
fn an_unconfirmed_hold_cancels_the_ride_and_a_late_confirmation_is_voided() {
    let w = world();
    let ride = body(&w.host.post(&w.rider, "/rides", &trip()));
    let id = ride["id"].as_str().unwrap_or_default();
    let payment = ride["payment"].as_str().unwrap_or_default();
    assert_eq!(
        body(
            &w.host
                .post(&w.rider, &format!("/rides/{id}/cancel"), &json!({}))
        )["status"],
        "cancelled"
    );
    assert_eq!(w.host.confirm(&w.rider, payment), Ok(()));
    assert_eq!(
        w.host.balance(&w.rider),
        10_000,
        "the hold was voided at once"
    );
    let other = body(&w.host.post(&w.rider, "/rides", &trip()));
    w.host.advance(16 * 60);
    let id = other["id"].as_str().unwrap_or_default();
    assert_eq!(
        body(&w.host.get(&w.rider, &format!("/rides/{id}")))["status"],
        "cancelled"
    );
    assert!(
        w.host.event_errors().is_empty(),
        "{:?}",
        w.host.event_errors()
    );
    assert_eq!(w.host.check_ledger(), Ok(()));
}

#[test]
fn a_retried_request_with_its_key_is_the_same_ride_and_one_hold() {
    let w = world();
    let mut req = trip();
    req["key"] = json!("rita-home-1");
    let first = body(&w.host.post(&w.rider, "/rides", &req));
    let again = body(&w.host.post(&w.rider, "/rides", &req));
    assert_eq!(
        (first["id"].clone(), first["payment"].clone()),
        (again["id"].clone(), again["payment"].clone())
    );
    assert_eq!(w.host.pending(&w.rider).len(), 1);
    let other = body(&w.host.post(&w.rider, "/rides", &trip()));
    assert_ne!(other["id"], first["id"]);
}

#[test]
fn each_ride_says_which_side_the_caller_is_on() {
    let w = world();
    let (id, _) = requested(&w);
    let other = w.host.person("olga");
    let r = w.host.post(
        &other,
        "/drivers",
        &json!({"name": "Olga", "car": "red Tesla", "plate": "沪B54321"}),
    );
    assert_eq!(r.status, 201);
    let path = format!("/rides/{id}");
    // Another driver sees the open request, as nobody in particular.
    assert_eq!(body(&w.host.get(&other, &path))["role"], Value::Null);
    w.host
        .post(&w.driver, &format!("/rides/{id}/accept"), &json!({}));
    assert_eq!(body(&w.host.get(&w.rider, &path))["role"], "rider");
    assert_eq!(body(&w.host.get(&w.driver, &path))["role"], "driver");
    let mine = body(&w.host.get(&w.driver, "/rides"));
    assert_eq!(mine[0]["role"], "driver");
}
