//! The red-packet logic against the SDK's mock host: funding, claims,
//! group packets, names, activity.

use super::RedPackets;
use serde_json::{Value, json};
use superapp_sdk::Response;
use superapp_sdk::mock::{Consent, MockHost, Posted};

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

#[test]
fn a_packet_is_funded_on_confirmation_and_shared_out_exactly() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let (amy, bo, cy) = (host.person("amy"), host.person("bo"), host.person("cy"));
    host.top_up(&amy, 5_000);
    let sent = host.post(
        &amy,
        "/packets",
        &json!({"total": 1000, "count": 2, "key": "pk-000001"}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body_text());
    let sent = body(&sent);
    let packet = sent["packet"].as_str().unwrap_or_default();
    // Not claimable before the sender confirms: not found, as the host
    // answers (tests/tests/all/wallet.rs asserts the same of this app).
    assert_eq!(
        host.post(&bo, &format!("/packets/{packet}/claim"), &json!({}))
            .status,
        404
    );
    assert_eq!(
        host.confirm(&amy, sent["payment"].as_str().unwrap_or_default()),
        Ok(())
    );
    assert_eq!(host.balance(&amy), 4_000);
    let first = body(&host.post(&bo, &format!("/packets/{packet}/claim"), &json!({})));
    let again = body(&host.post(&bo, &format!("/packets/{packet}/claim"), &json!({})));
    assert_eq!(
        (again["amount"].clone(), again["first_claim"].clone()),
        (first["amount"].clone(), json!(false))
    );
    let last = body(&host.post(&cy, &format!("/packets/{packet}/claim"), &json!({})));
    assert_eq!(last["status"], "all claimed");
    assert_eq!(host.balance(&bo) + host.balance(&cy), 1_000);
    assert_eq!(host.check_ledger(), Ok(()));
}

#[test]
fn a_packet_posted_into_a_group_is_for_its_members_only() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let (amy, bo, eve) = (host.person("amy"), host.person("bo"), host.person("eve"));
    host.top_up(&amy, 5_000);
    let group = host.group(&[&amy, &bo]);
    let req = json!({"total": 600, "count": 3, "split": "equal", "key": "pk-group-1", "conversation": group});
    let sent = body(&host.post(&amy, "/packets", &req));
    let packet = sent["packet"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        host.posts(&group),
        vec![Posted::RedPacket {
            packet: packet.clone()
        }]
    );
    // A retried send posts no second card.
    assert_eq!(host.post(&amy, "/packets", &req).status, 201);
    assert_eq!(host.posts(&group).len(), 1);
    host.confirm(&amy, sent["payment"].as_str().unwrap_or_default())
        .ok();
    assert_eq!(
        host.post(&eve, &format!("/packets/{packet}/claim"), &json!({}))
            .status,
        403
    );
    assert_eq!(
        body(&host.post(&bo, &format!("/packets/{packet}/claim"), &json!({})))["amount"],
        200
    );
    // Someone outside the group cannot receive its card either.
    let other = host.group(&[&bo, &eve]);
    let r = host.post(
        &amy,
        "/packets",
        &json!({"total": 100, "count": 1, "key": "pk-other-1", "conversation": other}),
    );
    assert_eq!(r.status, 403, "{}", r.body_text());
}

#[test]
fn claims_show_the_names_people_chose_to_show_and_the_luckiest() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let (amy, bo, cy) = (host.person("amy"), host.person("bo"), host.person("cy"));
    host.set_consent(&bo, Consent::Granted);
    host.top_up(&amy, 5_000);
    let sent = body(&host.post(
        &amy,
        "/packets",
        &json!({"total": 300, "count": 2, "key": "pk-names-1"}),
    ));
    let packet = sent["packet"].as_str().unwrap_or_default();
    host.confirm(&amy, sent["payment"].as_str().unwrap_or_default())
        .ok();
    host.post(&bo, &format!("/packets/{packet}/claim"), &json!({}));
    host.post(&cy, &format!("/packets/{packet}/claim"), &json!({}));
    let view = body(&host.get(&cy, &format!("/packets/{packet}")));
    assert_eq!(view["claims"][0]["who"], "bo");
    assert_eq!(
        view["claims"][1]["who"], "a friend",
        "cy did not share a name"
    );
    assert_eq!(view["claims"][1]["mine"], true);
    assert!(view["luckiest"]["amount"].as_u64() >= Some(150));
    // The host's events were recorded once each.
    let activity = body(&host.get(&amy, "/activity"));
    let what: Vec<&str> = activity
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["what"].as_str())
        .collect();
    assert_eq!(what, ["packet funded", "share claimed", "share claimed"]);
    assert!(host.event_errors().is_empty());
}

#[test]
fn a_name_shown_later_shows_on_the_packets_sent_before() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let (amy, bo) = (host.person("amy"), host.person("bo"));
    host.top_up(&amy, 5_000);
    let sent = body(&host.post(
        &amy,
        "/packets",
        &json!({"total": 300, "count": 2, "key": "pk-later-1"}),
    ));
    let packet = sent["packet"].as_str().unwrap_or_default();
    let before = body(&host.get(&bo, &format!("/packets/{packet}")));
    assert_eq!(before["from"], "a friend", "amy has not shown her name");

    let refused = body(&host.post(&amy, "/me/name", &json!({})));
    assert_eq!(refused["name"], Value::Null, "no profile without consent");
    host.set_consent(&amy, Consent::Granted);
    let shown = body(&host.post(&amy, "/me/name", &json!({})));
    assert_eq!(shown["name"], "amy");
    let after = body(&host.get(&bo, &format!("/packets/{packet}")));
    assert_eq!(
        after["from"], "amy",
        "the packet sent before shows her name now"
    );
}

#[test]
fn a_bad_split_is_refused_and_nothing_is_asked() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let amy = host.person("amy");
    let r = host.post(
        &amy,
        "/packets",
        &json!({"total": 300, "count": 2, "split": "fair", "key": "pk-bad-01"}),
    );
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (400, json!("invalid-split"))
    );
    let r = host.post(
        &amy,
        "/packets",
        &json!({"total": 1, "count": 2, "key": "pk-bad-02"}),
    );
    assert_eq!(r.status, 400, "{}", r.body_text());
    assert!(host.pending(&amy).is_empty());
}

#[test]
fn a_packet_made_first_goes_into_the_chat_chosen_after_and_the_sender_lists_it() {
    let host = MockHost::<RedPackets>::new("red-packet");
    let (amy, bo, eve) = (host.person("amy"), host.person("bo"), host.person("eve"));
    host.top_up(&amy, 5_000);
    let group = host.group(&[&amy, &bo]);
    // The UI creates the packet, the person picks the chat, the UI sends
    // the same request again with the chat: one packet, one card there.
    let first = json!({"total": 400, "count": 2, "split": "equal", "key": "pk-later-1"});
    let made = body(&host.post(&amy, "/packets", &first));
    let packet = made["packet"].as_str().unwrap_or_default().to_string();
    assert_eq!(host.posts(&group), vec![]);
    let mut again = first.clone();
    again["conversation"] = json!(group);
    let sent = body(&host.post(&amy, "/packets", &again));
    assert_eq!(
        (sent["packet"].as_str(), sent["payment"].clone()),
        (Some(packet.as_str()), made["payment"].clone())
    );
    assert_eq!(
        host.posts(&group),
        vec![Posted::RedPacket {
            packet: packet.clone()
        }]
    );
    assert_eq!(host.pending(&amy).len(), 1, "one payment to confirm");
    let mine = body(&host.get(&amy, "/packets"));
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["id"], packet.as_str());
    assert_eq!(mine[0]["payment"], made["payment"]);
    assert_eq!(mine[0]["conversation"], group.as_str());
    assert_eq!(mine[0]["status"], "waiting for the sender to confirm");
    host.confirm(&amy, made["payment"].as_str().unwrap_or_default())
        .ok();
    // Fenced into the group from the start.
    assert_eq!(
        host.post(&eve, &format!("/packets/{packet}/claim"), &json!({}))
            .status,
        403
    );
    assert_eq!(
        body(&host.post(&bo, &format!("/packets/{packet}/claim"), &json!({})))["amount"],
        200
    );
    // A second packet lists first; others see none of amy's.
    let r = host.post(
        &amy,
        "/packets",
        &json!({"total": 100, "count": 1, "key": "pk-later-2"}),
    );
    assert_eq!(r.status, 201);
    let mine = body(&host.get(&amy, "/packets"));
    assert_eq!(mine[0]["claimed"], 0);
    assert_eq!(mine[1]["claimed"], 1);
    assert_eq!(body(&host.get(&bo, "/packets")), json!([]));
}
