//! The messenger over a real server and real sled files: people chat in
//! direct conversations and groups, page history with cursors, mark what
//! they read, share cards and red packets, get everything live over SSE and
//! lose nothing when they reconnect; bad input is refused with a clear code
//! and stores nothing.

use serde_json::{Value, json};
use superapp_host::Superapp;
use superapp_host::platform::block_on;
use superapp_tests::{
    EventStream, PASSWORD, Reply, TestServer, login, open_host, post_keyed, root, send, send_json,
    serve_with_admin, test_config,
};

/// The shared test server, with the messenger tests' own helpers.
struct Server(TestServer);

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.0
    }
}

impl Server {
    /// A host with the red-packet app and Alice, Bob, Carol and Dave.
    fn new() -> anyhow::Result<Server> {
        Ok(Server(TestServer::start(
            &[
                "manifests/red-packet.toml",
                "tests/fixtures/wallet/superapp.toml",
            ],
            &[
                ("alice", "Alice"),
                ("bob", "Bob"),
                ("carol", "Carol"),
                ("dave", "Dave"),
            ],
        )?))
    }

    /// POSTs to mini-app `app` at `path` as the person with `token`.
    fn post_app(&self, app: &str, path: &str, token: &str, body: Value) -> anyhow::Result<Reply> {
        send_json(
            "POST",
            &self.url(&format!("/apps/{app}/call{path}")),
            Some(token),
            &body,
        )
    }

    /// The person's open id in the wallet fixture (`shopfix`).
    fn open_id(&self, token: &str) -> anyhow::Result<String> {
        let r = send(
            "GET",
            &self.url("/apps/shopfix/call/whoami"),
            Some(token),
            None,
        )?;
        anyhow::ensure!(r.status == 200, "whoami: {}", r.body);
        Ok(r.json()["open_id"].as_str().unwrap_or_default().to_string())
    }

    fn get(&self, path: &str, token: &str) -> anyhow::Result<Reply> {
        send("GET", &self.url(path), Some(token), None)
    }

    fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Reply> {
        send_json("POST", &self.url(path), Some(token), &body)
    }

    /// Starts a conversation; returns its id.
    fn start(&self, token: &str, body: Value) -> anyhow::Result<String> {
        let r = self.post("/me/conversations", token, body)?;
        anyhow::ensure!(r.status == 201, "start: {} {}", r.status, r.body);
        Ok(r.json()["id"].as_str().unwrap_or_default().to_string())
    }

    fn say(&self, token: &str, conv: &str, text: &str) -> anyhow::Result<u64> {
        let r = self.post(
            &format!("/me/conversations/{conv}/messages"),
            token,
            json!({ "kind": "text", "text": text }),
        )?;
        anyhow::ensure!(r.status == 201, "send: {} {}", r.status, r.body);
        Ok(r.json()["id"].as_u64().unwrap_or_default())
    }

    /// Every message of the conversation, oldest first, as (kind, text).
    fn texts(&self, token: &str, conv: &str) -> anyhow::Result<Vec<(String, String)>> {
        let r = self.get(
            &format!("/me/conversations/{conv}/messages?after=0&limit=200"),
            token,
        )?;
        anyhow::ensure!(r.status == 200, "history: {} {}", r.status, r.body);
        Ok(r.json()["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap_or_default().to_string(),
                    m["text"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    fn unread(&self, token: &str, conv: &str) -> anyhow::Result<u64> {
        let r = self.get("/me/conversations", token)?;
        anyhow::ensure!(r.status == 200, "list: {}", r.body);
        r.json()["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .find(|c| c["id"] == conv)
            .and_then(|c| c["unread"].as_u64())
            .ok_or_else(|| anyhow::anyhow!("{conv} not listed"))
    }
}

fn expect(r: &Reply, status: u16, code: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        r.status == status && r.problem() == code,
        "expected {status} {code}, got {} {}",
        r.status,
        r.body
    );
    Ok(())
}

#[test]
fn two_people_chat_in_one_direct_conversation_with_paged_history_and_read_marks()
-> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let conv = s.start(&alice, json!({ "members": ["bob"] }))?;
    // Either side opening it again gets the same conversation.
    assert_eq!(s.start(&alice, json!({ "members": ["bob"] }))?, conv);
    assert_eq!(s.start(&bob, json!({ "members": ["alice"] }))?, conv);
    let detail = s.get(&format!("/me/conversations/{conv}"), &bob)?.json();
    assert_eq!(detail["kind"], "direct");
    assert_eq!(detail["title"], "Alice");
    assert_eq!(detail["member_count"], 2);

    let mut ids = Vec::new();
    for i in 0..5 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        ids.push(s.say(who, &conv, &format!("hello {i}"))?);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // Newest first, two per page, following the cursor to the start.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let r = s.get(
            &format!("/me/conversations/{conv}/messages?limit=2{before}"),
            &bob,
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        for m in page["messages"].as_array().cloned().unwrap_or_default() {
            seen.push(m["text"].as_str().unwrap_or_default().to_string());
        }
        match page["next_before"].as_u64() {
            Some(cursor) => before = format!("&before={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).rev().map(|i| format!("hello {i}")).collect();
    assert_eq!(seen, expected);

    // Sending marks one's own message read: Alice wrote the last one, Bob
    // has Alice's last message unread.
    assert_eq!(s.unread(&alice, &conv)?, 0);
    assert_eq!(s.unread(&bob, &conv)?, 1);
    let read = format!("/me/conversations/{conv}/read");
    let r = s.post(&read, &bob, json!({ "up_to": ids[4] }))?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.unread(&bob, &conv)?, 0);
    // A read mark never moves back, nor past the newest message.
    let r = s.post(&read, &bob, json!({ "up_to": ids[0] }))?;
    assert_eq!(r.json()["up_to"], ids[4]);
    let r = s.post(&read, &bob, json!({ "up_to": ids[4] + 1000 }))?;
    expect(&r, 422, "invalid-message")?;

    // Carol is not in it: she can neither read nor post.
    let carol = login(&s.base, "carol")?;
    expect(
        &s.get(&format!("/me/conversations/{conv}/messages"), &carol)?,
        403,
        "not-a-member",
    )?;
    expect(
        &s.post(
            &format!("/me/conversations/{conv}/messages"),
            &carol,
            json!({ "kind": "text", "text": "let me in" }),
        )?,
        403,
        "not-a-member",
    )?;
    assert_eq!(s.texts(&alice, &conv)?.len(), 5);
    Ok(())
}

#[test]
fn groups_invite_and_leave_with_notices_and_only_members_take_part() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let carol = login(&s.base, "carol")?;
    let dave = login(&s.base, "dave")?;
    let group = s.start(
        &alice,
        json!({ "title": "Hotpot Friday", "members": ["bob", "bob", "alice"] }),
    )?;
    let d = s.get(&format!("/me/conversations/{group}"), &bob)?.json();
    assert_eq!(d["kind"], "group");
    assert_eq!(d["title"], "Hotpot Friday");
    assert_eq!(
        d["member_count"], 2,
        "duplicates and the creator count once"
    );

    expect(
        &s.get(&format!("/me/conversations/{group}"), &carol)?,
        403,
        "not-a-member",
    )?;
    let r = s.post(
        &format!("/me/conversations/{group}/members"),
        &bob,
        json!({ "members": ["carol", "dave"] }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["member_count"], 4);
    s.say(&carol, &group, "thanks for inviting me")?;

    let r = s.post(
        &format!("/me/conversations/{group}/leave"),
        &dave,
        json!({}),
    )?;
    assert_eq!(r.status, 204, "{}", r.body);
    expect(
        &s.post(
            &format!("/me/conversations/{group}/messages"),
            &dave,
            json!({ "kind": "text", "text": "still here?" }),
        )?,
        403,
        "not-a-member",
    )?;
    let texts = s.texts(&alice, &group)?;
    assert_eq!(
        texts,
        vec![
            (
                "system".to_string(),
                "Alice created the group “Hotpot Friday” with Bob".to_string()
            ),
            ("system".to_string(), "Bob invited Carol, Dave".to_string()),
            ("text".to_string(), "thanks for inviting me".to_string()),
            ("system".to_string(), "Dave left the group".to_string()),
        ]
    );
    // Dave's list no longer has it; a direct conversation cannot be left.
    let list = s.get("/me/conversations", &dave)?.json();
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(0));
    let direct = s.start(&alice, json!({ "members": ["bob"] }))?;
    expect(
        &s.post(
            &format!("/me/conversations/{direct}/leave"),
            &alice,
            json!({}),
        )?,
        409,
        "not-a-group",
    )?;
    expect(
        &s.post(
            &format!("/me/conversations/{direct}/members"),
            &alice,
            json!({ "members": ["carol"] }),
        )?,
        409,
        "not-a-group",
    )?;
    Ok(())
}

#[test]
fn a_group_holds_at_most_500_members() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    // People without passwords: quick to make, they only need to exist.
    let mut handles = Vec::new();
    for i in 0..500 {
        let h = format!("member{i:03}");
        s.host.identity().add_user(&h, None, None)?;
        handles.push(h);
    }
    let r = s.post(
        "/me/conversations",
        &alice,
        json!({ "title": "too big", "members": handles }),
    )?;
    expect(&r, 409, "group-full")?;
    let full = s.start(
        &alice,
        json!({ "title": "exactly full", "members": handles[..499] }),
    )?;
    let r = s.post(
        &format!("/me/conversations/{full}/members"),
        &alice,
        json!({ "members": ["bob"] }),
    )?;
    expect(&r, 409, "group-full")?;
    let d = s.get(&format!("/me/conversations/{full}"), &alice)?.json();
    assert_eq!(d["member_count"], 500);
    assert_eq!(d["members"].as_array().map(Vec::len), Some(500));
    // Only the refused group is absent: Alice has exactly one conversation.
    let list = s.get("/me/conversations", &alice)?.json();
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn bad_messages_are_refused_with_a_clear_code_and_store_nothing() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let conv = s.start(&alice, json!({ "members": ["bob"] }))?;
    s.say(&alice, &conv, "the only message")?;
    let path = format!("/me/conversations/{conv}/messages");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({ "kind": "text", "text": "x".repeat(4001) }),
            413,
            "message-too-large",
        ),
        (
            json!({ "kind": "text", "text": "   " }),
            422,
            "invalid-message",
        ),
        // A bidi override makes the text read otherwise than it was written.
        (
            json!({ "kind": "text", "text": "I owe you \u{202E}001" }),
            422,
            "invalid-message",
        ),
        (
            json!({ "kind": "app-card", "app": "red-packet", "path": "/", "title": "\u{2067}Bank\u{2069}" }),
            422,
            "invalid-message",
        ),
        (
            json!({ "kind": "text", "text": "nul \u{0} inside" }),
            422,
            "invalid-message",
        ),
        (
            json!({ "kind": "shout", "text": "hi" }),
            400,
            "invalid-json",
        ),
        (
            json!({ "kind": "text", "text": "hi", "extra": 1 }),
            400,
            "invalid-json",
        ),
        (
            json!({ "kind": "app-card", "app": "nope", "path": "/", "title": "t" }),
            404,
            "app-not-found",
        ),
        (
            json!({ "kind": "app-card", "app": "red-packet", "path": "no-slash", "title": "t" }),
            422,
            "invalid-message",
        ),
        (
            json!({ "kind": "app-card", "app": "red-packet", "path": "/", "title": "t".repeat(65) }),
            413,
            "message-too-large",
        ),
        (
            json!({ "kind": "red-packet", "packet": "rp_nope" }),
            404,
            "packet-not-found",
        ),
    ];
    for (body, status, code) in cases {
        let r = s.post(&path, &bob, body.clone())?;
        expect(&r, status, code).map_err(|e| anyhow::anyhow!("{body}: {e}"))?;
    }
    expect(
        &s.post(
            "/me/conversations/c_nope/messages",
            &bob,
            json!({ "kind": "text", "text": "hi" }),
        )?,
        404,
        "conversation-not-found",
    )?;
    expect(
        &s.post("/me/conversations", &alice, json!({ "members": ["alice"] }))?,
        422,
        "invalid-message",
    )?;
    expect(
        &s.post(
            "/me/conversations",
            &alice,
            json!({ "members": ["nobody"] }),
        )?,
        404,
        "unknown-person",
    )?;
    expect(
        &s.post(
            "/me/conversations",
            &alice,
            json!({ "members": ["bob", "carol"] }),
        )?,
        422,
        "invalid-message",
    )?;
    expect(
        &s.post(
            "/me/conversations",
            &alice,
            json!({ "title": "x".repeat(65), "members": ["bob"] }),
        )?,
        413,
        "message-too-large",
    )?;
    expect(
        &s.get(&format!("{path}?limit=0"), &bob)?,
        400,
        "invalid-query",
    )?;
    expect(
        &s.get(&format!("{path}?before=abc"), &bob)?,
        400,
        "invalid-query",
    )?;
    assert_eq!(
        s.texts(&bob, &conv)?,
        vec![("text".to_string(), "the only message".to_string())]
    );
    let list = s.get("/me/conversations", &alice)?.json();
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn cards_and_red_packets_are_shared_into_chats_and_opened_from_them() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let group = s.start(&alice, json!({ "title": "Family", "members": ["bob"] }))?;
    let path = format!("/me/conversations/{group}/messages");
    let r = s.post(
        &path,
        &alice,
        json!({ "kind": "app-card", "app": "red-packet", "path": "/packets/new?amount=8", "title": "Send a packet" }),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["card"]["app"], "red-packet");

    let r = post_keyed(
        &s.url("/admin/wallet/topup"),
        Some(&s.admin),
        "topup-alice-1",
        &json!({ "handle": "alice", "amount": 1000 }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_keyed(
        &s.url("/me/red-packets"),
        Some(&alice),
        "packet-family-1",
        &json!({ "total": 600, "count": 2, "split": "equal", "greeting": "Happy new year" }),
    )?;
    assert!(r.status == 201, "{}", r.body);
    let packet = r.json()["id"].as_str().unwrap_or_default().to_string();
    // Only the sender may post their packet.
    expect(
        &s.post(
            &path,
            &bob,
            json!({ "kind": "red-packet", "packet": packet }),
        )?,
        403,
        "not-your-packet",
    )?;
    let r = s.post(
        &path,
        &alice,
        json!({ "kind": "red-packet", "packet": packet }),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);

    // Bob finds the card in the chat and opens it.
    let history = s.get(&path, &bob)?.json();
    let card = &history["messages"][0];
    assert_eq!(card["kind"], "red-packet");
    assert_eq!(card["red_packet"]["greeting"], "Happy new year");
    assert_eq!(card["sender"]["handle"], "alice");
    let id = card["red_packet"]["packet"].as_str().unwrap_or_default();
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{id}/claim")),
        Some(&bob),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["amount"], 300);

    // Sent into the group, it is the group's: Carol, outside it, cannot
    // claim, and it cannot be sent into another conversation too.
    let carol = login(&s.base, "carol")?;
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{id}/claim")),
        Some(&carol),
        None,
    )?;
    expect(&r, 403, "not-a-member")?;
    // Nor can she read who got what; the sender and the members can.
    expect(
        &s.get(&format!("/me/red-packets/{id}"), &carol)?,
        403,
        "not-a-member",
    )?;
    for (who, token) in [("alice", &alice), ("bob", &bob)] {
        let r = s.get(&format!("/me/red-packets/{id}"), token)?;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert_eq!(r.json()["claims"][0]["amount"], 300, "{who}: {}", r.body);
    }
    let other = s.start(&alice, json!({ "members": ["carol"] }))?;
    let r = s.post(
        &format!("/me/conversations/{other}/messages"),
        &alice,
        json!({ "kind": "red-packet", "packet": id }),
    )?;
    expect(&r, 422, "invalid-message")?;
    // Once Carol joins, the rest is hers to claim.
    let r = s.post(
        &format!("/me/conversations/{group}/members"),
        &bob,
        json!({ "members": ["carol"] }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{id}/claim")),
        Some(&carol),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["amount"], 300);

    // A packet already opened through its link cannot be fenced in later.
    let r = post_keyed(
        &s.url("/me/red-packets"),
        Some(&alice),
        "packet-link-1",
        &json!({ "total": 100, "count": 2, "split": "equal", "greeting": "link" }),
    )?;
    let link = r.json()["id"].as_str().unwrap_or_default().to_string();
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{link}/claim")),
        Some(&carol),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    expect(
        &s.post(
            &path,
            &alice,
            json!({ "kind": "red-packet", "packet": link }),
        )?,
        422,
        "invalid-message",
    )?;
    Ok(())
}

/// A client resuming from the start: each (kind, text) of the next `n`
/// events on the person's stream.
fn resumed(s: &Server, token: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let mut stream = match EventStream::open(&s.base, token, Some("0"))? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    (0..n)
        .map(|_| {
            let e = stream.next_event()?;
            Ok((
                e.data["kind"].as_str().unwrap_or_default().to_string(),
                e.data["text"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

#[test]
fn a_resumed_stream_holds_a_group_from_when_the_person_joined_until_they_left() -> anyhow::Result<()>
{
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let carol = login(&s.base, "carol")?;
    let group = s.start(&alice, json!({ "title": "Tea", "members": ["bob"] }))?;
    s.say(&bob, &group, "before carol")?;
    let r = s.post(
        &format!("/me/conversations/{group}/members"),
        &alice,
        json!({ "members": ["carol"] }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    s.say(&carol, &group, "hello all")?;
    let r = s.post(
        &format!("/me/conversations/{group}/leave"),
        &carol,
        json!({}),
    )?;
    assert_eq!(r.status, 204, "{}", r.body);
    s.say(&bob, &group, "after carol")?;
    // Something of Carol's after she left, to end her backlog on.
    let direct = s.start(&alice, json!({ "members": ["carol"] }))?;
    s.say(&alice, &direct, "just you")?;

    let pair = |k: &str, t: &str| (k.to_string(), t.to_string());
    assert_eq!(
        resumed(&s, &carol, 3)?,
        [
            pair("system", "Alice invited Carol"),
            pair("text", "hello all"),
            pair("text", "just you"),
        ],
        "not what was said before she joined, nor after she left"
    );
    assert_eq!(
        resumed(&s, &bob, 5)?,
        [
            pair("system", "Alice created the group “Tea” with Bob"),
            pair("text", "before carol"),
            pair("system", "Alice invited Carol"),
            pair("text", "hello all"),
            pair("system", "Carol left the group"),
        ]
    );
    Ok(())
}

#[test]
fn the_live_stream_carries_new_messages_and_a_reconnecting_client_misses_nothing()
-> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let conv = s.start(&alice, json!({ "members": ["bob"] }))?;
    s.say(&bob, &conv, "before alice connected")?;

    let mut stream = match EventStream::open(&s.base, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    // Only what happens after connecting (the backlog is in the history).
    s.say(&bob, &conv, "one")?;
    s.say(&alice, &conv, "two")?;
    let first = stream.next_event()?;
    let second = stream.next_event()?;
    assert_eq!(first.event, "message");
    assert_eq!(first.data["text"], "one");
    assert_eq!(first.data["sender"]["handle"], "bob");
    assert_eq!(first.data["conversation"], conv.as_str());
    assert_eq!(
        second.data["text"], "two",
        "her own messages reach her other devices"
    );
    drop(stream);

    // While Alice is away, three more; she comes back with the last id seen.
    for t in ["three", "four", "five"] {
        s.say(&bob, &conv, t)?;
    }
    let mut stream = match EventStream::open(&s.base, &alice, Some(&second.id))? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    s.say(&bob, &conv, "six")?;
    let texts: Vec<String> = (0..4)
        .map(|_| {
            stream
                .next_event()
                .map(|e| e.data["text"].as_str().unwrap_or_default().to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(texts, ["three", "four", "five", "six"]);

    // Bad resume points and missing tokens are refused.
    match EventStream::open(&s.base, &alice, Some("yesterday"))? {
        Ok(_) => anyhow::bail!("a bad Last-Event-ID was accepted"),
        Err(r) => expect(&r, 400, "invalid-last-event-id")?,
    }
    let r = send("GET", &s.url("/me/events"), None, None)?;
    assert_eq!(r.status, 401);
    Ok(())
}

#[test]
fn conversations_and_ids_survive_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (conv, before) = {
        let host = open_host(&data)?;
        host.identity()
            .add_user("alice", Some("Alice"), Some(PASSWORD))?;
        host.identity().add_user("bob", Some("Bob"), None)?;
        let (base, _host, _rt) = serve_with_admin(host)?;
        let alice = login(&base, "alice")?;
        let r = send_json(
            "POST",
            &format!("{base}/me/conversations"),
            Some(&alice),
            &json!({ "members": ["bob"] }),
        )?;
        let conv = r.json()["id"].as_str().unwrap_or_default().to_string();
        let r = send_json(
            "POST",
            &format!("{base}/me/conversations/{conv}/messages"),
            Some(&alice),
            &json!({ "kind": "text", "text": "before the restart" }),
        )?;
        assert_eq!(r.status, 201, "{}", r.body);
        (conv, r.json()["id"].as_u64().unwrap_or(u64::MAX))
    };
    let (base, _host, _rt) = serve_with_admin(open_host(&data)?)?;
    let alice = login(&base, "alice")?;
    let r = send_json(
        "POST",
        &format!("{base}/me/conversations/{conv}/messages"),
        Some(&alice),
        &json!({ "kind": "text", "text": "after" }),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["id"].as_u64().unwrap_or_default() > before);
    let r = send(
        "GET",
        &format!("{base}/me/conversations/{conv}/messages"),
        Some(&alice),
        None,
    )?;
    let texts: Vec<String> = r.json()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(texts, ["after", "before the restart"]);
    Ok(())
}

#[test]
fn the_live_stream_prompts_for_payments_and_tells_the_sender_who_opened_a_packet()
-> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let r = post_keyed(
        &s.url("/admin/wallet/topup"),
        Some(&s.admin),
        "topup-alice-live",
        &json!({ "handle": "alice", "amount": 5000 }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut stream = match EventStream::open(&s.base, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    // The red-packet app proposes a packet: Alice is asked to pay for it.
    let r = send_json(
        "POST",
        &s.url("/apps/red-packet/call/packets"),
        Some(&alice),
        &json!({"total": 1_000, "count": 2, "greeting": "恭喜发财", "key": "rp-live-0001"}),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let confirm = r.json()["confirm"].as_str().unwrap_or_default().to_string();
    let packet = r.json()["packet"].as_str().unwrap_or_default().to_string();
    let prompt = stream.next_event()?;
    assert_eq!(prompt.event, "payment-prompt");
    let payment = prompt.data["payment"].as_str().unwrap_or_default();
    assert_eq!(confirm, format!("/me/payments/{payment}/confirm"));
    assert_eq!(prompt.data["app"], "red-packet");
    assert_eq!(prompt.data["amount"], 1000);
    let r = send("POST", &s.url(&confirm), Some(&alice), None)?;
    assert_eq!(r.status, 200, "{}", r.body);

    // Bob opens it: Alice hears who and how much, once.
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{packet}/claim")),
        Some(&bob),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let amount = r.json()["amount"].as_u64();
    let again = send(
        "POST",
        &s.url(&format!("/me/red-packets/{packet}/claim")),
        Some(&bob),
        None,
    )?;
    assert_eq!(again.status, 200, "{}", again.body);
    s.say(
        &alice,
        &s.start(&alice, json!({ "members": ["bob"] }))?,
        "marker",
    )?;
    let claimed = stream.next_event()?;
    assert_eq!(claimed.event, "packet-claimed");
    assert_eq!(claimed.data["packet"], packet.as_str());
    assert_eq!(claimed.data["by"]["handle"], "bob");
    assert_eq!(claimed.data["amount"].as_u64(), amount);
    let next = stream.next_event()?;
    assert_eq!(next.event, "message", "the second claim announced nothing");
    assert_eq!(next.data["text"], "marker");
    Ok(())
}

/// The error code a mini-app answered with (`{"error": code}`).
fn app_error(r: &Reply) -> String {
    format!(
        "{} {}",
        r.status,
        r.json()["error"].as_str().unwrap_or_default()
    )
}

#[test]
fn a_mini_app_notifies_a_person_exactly_as_often_as_they_subscribed() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let oid = s.open_id(&alice)?;
    let notify = |topic: &str| {
        s.post_app(
            "shopfix",
            "/notify",
            &alice,
            json!({ "open_id": oid, "topic": topic, "body": "Your order has shipped" }),
        )
    };
    assert_eq!(app_error(&notify("order-shipped")?), "409 no-subscription");

    let subs = "/me/apps/shopfix/subscriptions";
    for expected in [1, 2] {
        let r = s.post(subs, &alice, json!({ "topic": "order-shipped" }))?;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["remaining"], expected);
    }
    let list = s.get(subs, &alice)?.json();
    assert_eq!(list["subscriptions"][0]["topic"], "order-shipped");
    assert_eq!(list["subscriptions"][0]["remaining"], 2);

    let mut stream = match EventStream::open(&s.base, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    for _ in 0..2 {
        let r = notify("order-shipped")?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(app_error(&notify("order-shipped")?), "409 no-subscription");
    assert_eq!(app_error(&notify("other-topic")?), "409 no-subscription");
    assert_eq!(app_error(&notify("Bad Topic")?), "400 invalid");
    let e = stream.next_event()?;
    assert_eq!(e.event, "notification");
    assert_eq!(e.data["app"], "shopfix");
    assert_eq!(e.data["topic"], "order-shipped");
    assert_eq!(e.data["text"], "Your order has shipped");
    let list = s.get(subs, &alice)?.json();
    assert_eq!(list["subscriptions"].as_array().map(Vec::len), Some(0));

    // The notifications are in Alice's conversation with the app.
    let convs = s.get("/me/conversations", &alice)?.json();
    let c = &convs["conversations"][0];
    assert_eq!(c["kind"], "app");
    assert_eq!(c["title"], "Wallet fixture");
    let conv = c["id"].as_str().unwrap_or_default();
    let texts = s.texts(&alice, conv)?;
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().all(|(k, _)| k == "notification"));

    // A withdrawn subscription allows nothing.
    s.post(subs, &alice, json!({ "topic": "promo" }))?;
    let r = send(
        "DELETE",
        &s.url(&format!("{subs}/promo")),
        Some(&alice),
        None,
    )?;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app_error(&notify("promo")?), "409 no-subscription");

    // Bad subscriptions are refused and store nothing.
    expect(
        &s.post(subs, &alice, json!({ "topic": "No Spaces" }))?,
        422,
        "invalid-message",
    )?;
    expect(
        &s.post(
            "/me/apps/nope/subscriptions",
            &alice,
            json!({ "topic": "x" }),
        )?,
        404,
        "app-not-found",
    )?;
    assert_eq!(
        s.get(subs, &alice)?.json()["subscriptions"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    Ok(())
}

#[test]
fn notifications_are_rate_limited_per_app_without_using_up_subscriptions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut config = test_config(&data);
    config.app_messages_per_minute = 3;
    let host = Superapp::open(config)?;
    host.install_dev(&root().join("tests/fixtures/wallet/superapp.toml"), false)?;
    host.identity()
        .add_user("alice", Some("Alice"), Some(PASSWORD))?;
    let (base, _host, _rt) = serve_with_admin(host)?;
    let alice = login(&base, "alice")?;
    let r = send(
        "GET",
        &format!("{base}/apps/shopfix/call/whoami"),
        Some(&alice),
        None,
    )?;
    let oid = r.json()["open_id"].as_str().unwrap_or_default().to_string();
    for _ in 0..5 {
        let r = send_json(
            "POST",
            &format!("{base}/me/apps/shopfix/subscriptions"),
            Some(&alice),
            &json!({ "topic": "deals" }),
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut answers = Vec::new();
    for _ in 0..4 {
        let r = send_json(
            "POST",
            &format!("{base}/apps/shopfix/call/notify"),
            Some(&alice),
            &json!({ "open_id": oid, "topic": "deals", "body": "50% off" }),
        )?;
        answers.push(app_error(&r));
    }
    // Three in a burst; the fourth waits for the bucket (3 per minute).
    assert_eq!(answers[..3], ["200 ", "200 ", "200 "]);
    assert_eq!(answers[3], "429 rate-limited");
    let r = send(
        "GET",
        &format!("{base}/me/apps/shopfix/subscriptions"),
        Some(&alice),
        None,
    )?;
    assert_eq!(r.json()["subscriptions"][0]["remaining"], 2);
    Ok(())
}

#[test]
fn customer_service_answers_within_48_hours_and_at_most_five_times() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let oid = s.open_id(&alice)?;
    let reply = |text: &str| {
        s.post_app(
            "shopfix",
            "/reply",
            &alice,
            json!({ "open_id": oid, "text": text }),
        )
    };
    assert_eq!(app_error(&reply("hello?")?), "409 outside-window");

    let r = s.post(
        "/apps/shopfix/messages",
        &alice,
        json!({ "text": "Where is my order?" }),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let asked = r.json()["id"].as_u64().unwrap_or_default();
    // The app gets it as an event, with Alice's open id.
    block_on(s.host.deliver_app_messages(superapp_host::identity::now()))?;
    let events = send(
        "GET",
        &s.url("/apps/shopfix/call/events"),
        Some(&alice),
        None,
    )?
    .json();
    let got = events
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|e| e["kind"] == "message")
        .ok_or_else(|| anyhow::anyhow!("no message event: {events}"))?;
    assert_eq!(got["subject"], "Where is my order?");
    assert_eq!(got["amount"], asked);
    assert_eq!(got["open_id"], oid.as_str());
    assert!(
        s.host.messaging().deliveries()?.is_empty(),
        "delivered and dequeued"
    );

    for i in 0..5 {
        let r = reply(&format!("answer {i}"))?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(app_error(&reply("a sixth")?), "409 outside-window");
    let (alice_id, _) = s
        .host
        .identity()
        .users()?
        .into_iter()
        .find(|u| u.handle == "alice")
        .map(|u| (u.id, ()))
        .ok_or_else(|| anyhow::anyhow!("no alice"))?;
    // A new message opens the window again; 48 hours later it is shut.
    let r = s.post(
        "/apps/shopfix/messages",
        &alice,
        json!({ "text": "Thanks!" }),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let late = superapp_host::identity::now() + 48 * 3600 + 1;
    let refused = block_on(
        s.host
            .messaging()
            .reply("shopfix", &alice_id, "late".into(), late),
    );
    assert!(
        matches!(
            refused,
            Err(superapp_host::messaging::MessagingError::OutsideWindow(_))
        ),
        "{refused:?}"
    );

    // The exchange is Alice's conversation with the app, nothing else.
    let convs = s.get("/me/conversations", &alice)?.json();
    let conv = convs["conversations"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let texts = s.texts(&alice, &conv)?;
    assert_eq!(texts.len(), 7, "{texts:?}");
    // Bad input stores nothing.
    expect(
        &s.post("/apps/shopfix/messages", &alice, json!({ "text": "" }))?,
        422,
        "invalid-message",
    )?;
    expect(
        &s.post("/apps/nope/messages", &alice, json!({ "text": "hi" }))?,
        404,
        "app-not-found",
    )?;
    assert_eq!(s.texts(&alice, &conv)?.len(), 7);
    Ok(())
}

#[test]
fn an_app_shares_cards_only_into_the_calling_persons_conversations() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let carol = login(&s.base, "carol")?;
    let conv = s.start(&alice, json!({ "members": ["bob"] }))?;
    let share = |token: &str| {
        s.post_app(
            "shopfix",
            "/share-card",
            token,
            json!({ "conversation": conv, "path": "/orders/42", "title": "My order" }),
        )
    };
    let r = share(&alice)?;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = s
        .get(&format!("/me/conversations/{conv}/messages"), &bob)?
        .json();
    let card = &history["messages"][0];
    assert_eq!(card["kind"], "app-card");
    assert_eq!(card["card"]["app"], "shopfix");
    assert_eq!(card["card"]["path"], "/orders/42");
    assert_eq!(card["sender"]["handle"], "alice");
    // Carol is not in it: the app cannot post there on her behalf.
    assert_eq!(app_error(&share(&carol)?), "403 not-a-member");
    let r = s.post_app(
        "shopfix",
        "/share-card",
        &alice,
        json!({ "conversation": conv, "path": "orders", "title": "x" }),
    )?;
    assert_eq!(app_error(&r), "400 invalid");
    assert_eq!(s.texts(&bob, &conv)?.len(), 1);
    Ok(())
}

#[test]
fn a_group_shares_a_red_packet_from_the_app_and_only_members_claim_it() -> anyhow::Result<()> {
    let s = Server::new()?;
    let alice = login(&s.base, "alice")?;
    let bob = login(&s.base, "bob")?;
    let carol = login(&s.base, "carol")?;
    let dave = login(&s.base, "dave")?;
    let r = post_keyed(
        &s.url("/admin/wallet/topup"),
        Some(&s.admin),
        "topup-alice-group",
        &json!({ "handle": "alice", "amount": 5000 }),
    )?;
    assert_eq!(r.status, 200, "{}", r.body);
    let group = s.start(
        &alice,
        json!({ "title": "Cousins", "members": ["bob", "carol"] }),
    )?;
    let body = json!({ "total": 900, "count": 3, "key": "rp-group-0001", "conversation": group });
    let r = s.post_app("red-packet", "/packets", &alice, body.clone())?;
    assert_eq!(r.status, 201, "{}", r.body);
    let sent = r.json();
    assert!(sent["message"].as_u64().is_some(), "{sent}");
    // A retry (same key) does not post a second card.
    let again = s.post_app("red-packet", "/packets", &alice, body)?;
    assert_eq!(again.status, 201, "{}", again.body);
    let r = send(
        "POST",
        &s.url(sent["confirm"].as_str().unwrap_or_default()),
        Some(&alice),
        None,
    )?;
    assert_eq!(r.status, 200, "{}", r.body);

    let history = s
        .get(&format!("/me/conversations/{group}/messages"), &bob)?
        .json();
    let cards: Vec<&Value> = history["messages"]
        .as_array()
        .map(|a| a.iter().filter(|m| m["kind"] == "red-packet").collect())
        .unwrap_or_default();
    assert_eq!(cards.len(), 1);
    let packet = cards[0]["red_packet"]["packet"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut stream = match EventStream::open(&s.base, &alice, None)? {
        Ok(stream) => stream,
        Err(r) => anyhow::bail!("stream refused: {} {}", r.status, r.body),
    };
    for t in [&bob, &carol] {
        let r = s.post_app(
            "red-packet",
            &format!("/packets/{packet}/claim"),
            t,
            Value::Null,
        )?;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Dave is not in the group: refused through the app and the host alike.
    let r = s.post_app(
        "red-packet",
        &format!("/packets/{packet}/claim"),
        &dave,
        Value::Null,
    )?;
    assert_eq!(app_error(&r), "403 wallet-denied");
    let r = send(
        "POST",
        &s.url(&format!("/me/red-packets/{packet}/claim")),
        Some(&dave),
        None,
    )?;
    expect(&r, 403, "not-a-member")?;
    // Alice sees who opened it, live and in the packet.
    let who: Vec<String> = (0..2)
        .map(|_| {
            stream.next_event().map(|e| {
                e.data["by"]["handle"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(who, ["bob", "carol"]);
    let view = send(
        "GET",
        &s.url(&format!("/me/red-packets/{packet}")),
        Some(&alice),
        None,
    )?
    .json();
    assert_eq!(view["claims"].as_array().map(Vec::len), Some(2), "{view}");
    Ok(())
}

#[test]
fn a_live_stream_that_stops_reading_is_cut_off_at_its_buffer_and_resumes_from_the_store()
-> anyhow::Result<()> {
    use superapp_host::messaging::{Live, live::LIVE_BUFFER};
    let t = TestServer::start(&[], &[("ann", "Ann"), ("bob", "Bob")])?;
    let ann = login(&t.base, "ann")?;
    let bob = login(&t.base, "bob")?;
    let chat = send_json(
        "POST",
        &t.url("/me/conversations"),
        Some(&ann),
        &json!({ "members": ["bob"] }),
    )?;
    let conv = chat.json()["id"].as_str().unwrap_or_default().to_string();
    // Bob's connection, never read: a client that stopped reading.
    let bob_id = t.host.identity().user_by_handle("bob")?.id;
    let mut stalled = t.host.messaging().connect_live(&bob_id);
    let before = t
        .host
        .messaging()
        .live_counters()
        .cut_off
        .load(std::sync::atomic::Ordering::Relaxed);
    let total = LIVE_BUFFER + 8;
    for i in 0..total {
        let r = send_json(
            "POST",
            &t.url(&format!("/me/conversations/{conv}/messages")),
            Some(&ann),
            &json!({ "kind": "text", "text": format!("n{i}") }),
        )?;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // It holds at most its buffer, then it is closed.
    let mut held = Vec::new();
    loop {
        match stalled.try_recv() {
            Ok(Live::Event(e)) => held.push(e.event.id),
            Ok(Live::Wake | Live::KeepAlive) => {}
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                anyhow::bail!(
                    "the stalled connection was not cut off ({} held)",
                    held.len()
                )
            }
        }
    }
    assert_eq!(held.len(), LIVE_BUFFER, "no more than its buffer was held");
    assert!(
        t.host
            .messaging()
            .live_counters()
            .cut_off
            .load(std::sync::atomic::Ordering::Relaxed)
            > before,
        "the cut-off is counted"
    );
    // Reconnecting after the last event it got, the client gets the rest
    // from the store, in order, and nothing twice.
    let last = held[held.len() - 1].to_string();
    let mut resumed = match EventStream::open(&t.base, &bob, Some(&last))? {
        Ok(s) => s,
        Err(r) => anyhow::bail!("resume refused: {}", r.body),
    };
    for i in LIVE_BUFFER..total {
        let e = resumed.next_event()?;
        assert_eq!(e.data["text"], format!("n{i}"));
    }
    Ok(())
}
