//! Greeter against the SDK's mock host: `cargo test`, no host needed.

use super::Greeter;
use serde_json::json;
use superapp_sdk::mock::{Consent, MockHost};

#[test]
fn greets_by_the_name_in_the_path() {
    let host = MockHost::<Greeter>::new("greeter");
    let ann = host.person("ann");
    let res = host.get(&ann, "/greet/Ann");
    assert_eq!(res.status, 200);
    assert_eq!(res.body_text(), r#"{"greeting":"Hello, Ann!"}"#);
}

#[test]
fn visits_are_counted_across_people() {
    let host = MockHost::<Greeter>::new("greeter");
    let (ann, ben) = (host.person("ann"), host.person("ben"));
    host.post(&ann, "/visits", &json!({}));
    assert_eq!(host.post(&ben, "/visits", &json!({})).body_text(), "2");
}

#[test]
fn the_app_sees_an_open_id_and_no_one_without_sign_in() {
    let host = MockHost::<Greeter>::new("greeter");
    let ann = host.person("ann");
    assert_eq!(
        host.get(&ann, "/me").body_text(),
        format!(r#"{{"open_id":"{ann}"}}"#)
    );
    let anonymous = host.call(None, superapp_sdk::Request::new("GET", "/me", ""));
    assert_eq!(anonymous.status, 401);
}

#[test]
fn the_name_is_shown_only_once_the_person_grants_profile() {
    let host = MockHost::<Greeter>::new("greeter");
    let ann = host.person("ann");
    let undecided = host.get(&ann, "/profile");
    assert_eq!(undecided.status, 403);
    assert!(undecided.body_text().contains("profile-not-granted"));

    host.set_consent(&ann, Consent::Granted); // as PUT /me/apps/greeter/grants/profile does
    assert_eq!(
        host.get(&ann, "/profile").body_text(),
        r#"{"greeting":"Hello, ann!","verified":false}"#
    );

    host.set_consent(&ann, Consent::Refused);
    assert_eq!(
        host.get(&ann, "/profile").body_text(),
        r#"{"greeting":"Hello!"}"#
    );
}

#[test]
fn a_tip_counts_once_the_person_confirms_it() -> Result<(), String> {
    let host = MockHost::<Greeter>::new("greeter");
    let ann = host.person("ann");
    host.top_up(&ann, 10_000);
    let asked = host.post(&ann, "/tips", &json!({ "amount": 500, "key": "tip-0001" }));
    assert_eq!(asked.status, 200, "{}", asked.body_text());
    let body: serde_json::Value = serde_json::from_slice(&asked.body).map_err(|e| e.to_string())?;
    let payment = body["payment"].as_str().unwrap_or_default();
    assert_eq!(
        host.get(&ann, "/tips").body_text(),
        "0",
        "not before she confirms"
    );

    host.confirm(&ann, payment)?; // she confirms in the host; on_event hears it
    assert_eq!(host.get(&ann, "/tips").body_text(), "500");
    host.redeliver_all(); // delivery is at least once
    assert_eq!(host.get(&ann, "/tips").body_text(), "500");
    assert_eq!((host.balance(&ann), host.merchant_balance()), (9_500, 500));
    host.check_ledger()
}

#[test]
fn a_message_to_the_app_is_logged() {
    let host = MockHost::<Greeter>::new("greeter");
    let ann = host.person("ann");
    host.write_to_app(&ann, "hello?");
    assert!(
        host.logs()
            .iter()
            .any(|(_, line)| line.ends_with(": hello?"))
    );
}
