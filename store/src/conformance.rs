//! The backend conformance suite: the same cases, run against any
//! backend's implementation of the storage traits (sled now; a database
//! backend runs them too). A case takes a function that opens the backend
//! on one place — empty the first time, the same data every later time — so
//! durability is checked by dropping the store and opening it again.
//! Only what the trait promises is checked: a commit is durable when it
//! returns; outbox marks (delivered, failed) may be lost in a crash, which
//! only means a delivery is tried again.

#![allow(clippy::panic)]

use crate::{
    BatchRecord, BlobStore, Delivery, KvStore, LedgerStore, MessagingStore, MessagingWrite,
    RecordStore, Tree, digest,
};
use std::sync::Arc;
use superapp_core::messaging::{
    AppDelivery, Body, Conversation, ConversationKind, LiveBody, LiveEvent, Membership, Message,
    Sender, Window,
};
use superapp_core::wallet::{
    Account, Appended, EventKind, Rules, Transfer, TransferKind, WalletError, WalletEvent,
};

fn transfer(seq: u64) -> Transfer {
    Transfer {
        seq,
        from: Account::Issuance,
        to: Account::User("u_conformance".into()),
        amount: 100 * seq,
        kind: TransferKind::TopUp,
        reference: format!("key-{seq}"),
        memo: String::new(),
        at: 1_000 + seq as i64,
    }
}

fn event(seq: u64) -> WalletEvent {
    WalletEvent {
        seq,
        app: "shop".into(),
        user: "u_conformance".into(),
        kind: EventKind::PaymentConfirmed,
        subject: format!("pay_{seq}"),
        amount: 10 * seq,
        at: 1_000,
    }
}

fn batch(seq: u64, transfers: Vec<Transfer>, events: Vec<WalletEvent>) -> (BatchRecord, Appended) {
    let appended = Appended { transfers, events };
    let record = BatchRecord {
        seq,
        rules: Rules::default(),
        entries: Vec::new(),
        digest: digest(&appended),
    };
    (record, appended)
}

fn replayed(store: &dyn LedgerStore) -> Vec<BatchRecord> {
    let mut out = Vec::new();
    let r: Result<(), WalletError> = store.replay(&mut |b| {
        out.push(b);
        Ok(())
    });
    if let Err(e) = r {
        panic!("replay failed: {e}");
    }
    out
}

fn seqs(ds: Result<Vec<Delivery>, crate::StoreError>) -> Vec<u64> {
    match ds {
        Ok(ds) => ds.iter().map(|d| d.event.seq).collect(),
        Err(e) => panic!("outbox read failed: {e}"),
    }
}

fn ok<T>(r: Result<T, crate::StoreError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The ledger store: journal, per-batch history and the outbox. `shared`:
/// the backend is one several hosts share, so an event handed out for
/// delivery is claimed (not handed out again until its claim of 120 s of
/// the delivery clock runs out, or a failure is recorded).
pub fn ledger_store(open: &dyn Fn() -> Arc<dyn LedgerStore>, shared: bool) {
    let store = open();
    assert!(
        replayed(store.as_ref()).is_empty(),
        "a new store replays nothing"
    );
    assert!(
        seqs(store.all_events()).is_empty(),
        "a new store has no events"
    );
    assert!(ok(store.batch_transfers(1), "history").is_empty());

    let b1 = batch(1, vec![transfer(1), transfer(2)], vec![event(1), event(2)]);
    let b2 = batch(2, vec![transfer(3)], Vec::new());
    let b3 = batch(3, Vec::new(), vec![event(3)]);
    for (record, appended) in [&b1, &b2, &b3] {
        ok(store.commit(record, appended), "commit");
    }
    let journal = [b1.0.clone(), b2.0.clone(), b3.0.clone()];
    assert_eq!(
        replayed(store.as_ref()),
        journal,
        "replay gives every batch, in order"
    );
    assert_eq!(ok(store.batch_transfers(1), "history"), b1.1.transfers);
    assert_eq!(ok(store.batch_transfers(2), "history"), b2.1.transfers);
    assert!(
        ok(store.batch_transfers(3), "history").is_empty(),
        "a batch without transfers"
    );

    // Events are due at once, whatever time their command ran as.
    assert_eq!(seqs(store.due_events(i64::MIN + 1, 10)), [1, 2, 3]);
    assert_eq!(
        seqs(store.due_events(0, 2)),
        [1, 2],
        "at most `limit`, oldest first"
    );
    let again: &[u64] = if shared { &[3] } else { &[1, 2, 3] };
    assert_eq!(
        seqs(store.due_events(1, 10)),
        again,
        "claimed events are not handed out twice at once"
    );
    let fresh = ok(store.all_events(), "outbox");
    assert!(
        fresh
            .iter()
            .all(|d| d.attempts == 0 && d.last_error.is_none() && !d.gave_up)
    );
    assert_eq!(fresh[0].event, event(1), "the event as appended");

    // A failed try waits for its next time.
    let mut first = fresh[0].clone();
    first.attempts = 1;
    first.next_at = 500;
    first.last_error = Some("[trap] boom".into());
    ok(store.event_failed(&first), "event_failed");
    assert_eq!(
        seqs(store.due_events(499, 10)),
        [2, 3],
        "not due before its next try"
    );
    assert_eq!(seqs(store.due_events(1_000, 10)), [1, 2, 3], "due at it");
    let kept = ok(store.all_events(), "outbox");
    assert_eq!(kept[0], first, "the failure is kept as written");

    ok(store.event_delivered(2), "event_delivered");
    assert_eq!(
        seqs(store.due_events(2_000, 10)),
        [1, 3],
        "a delivered event is gone"
    );
    let mut last = kept[2].clone();
    last.attempts = 15;
    last.gave_up = true;
    ok(store.event_failed(&last), "event_failed");
    assert_eq!(
        seqs(store.due_events(i64::MAX, 10)),
        [1],
        "a given-up event is never due"
    );
    assert_eq!(
        seqs(store.all_events()),
        [1, 3],
        "but stays for the operator"
    );

    // What a commit wrote survives the store being dropped and opened again.
    drop(store);
    let store = open();
    assert_eq!(
        replayed(store.as_ref()),
        journal,
        "the journal after reopening"
    );
    assert_eq!(ok(store.batch_transfers(1), "history"), b1.1.transfers);
    let b4 = batch(4, vec![transfer(4)], vec![event(4)]);
    ok(store.commit(&b4.0, &b4.1), "commit after reopening");
    assert_eq!(replayed(store.as_ref()).len(), 4);
    assert!(seqs(store.due_events(i64::MAX, 10)).contains(&4));
}

fn kv<T>(r: Result<T, crate::KvWriteError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Per-app storage: both scopes, exact usage, the quota, compare-and-swap,
/// paging, a person's data across apps, purging an app.
pub fn kv_store(open: &dyn Fn() -> Arc<dyn KvStore>) {
    const Q: u64 = 1_000;
    let store = open();
    assert_eq!(ok(store.get("a", None, "k"), "get"), None);
    assert_eq!(ok(store.usage("a"), "usage"), 0);

    kv(store.set("a", None, "k", b"value", Q), "set");
    kv(store.set("a", Some("u1"), "k", b"mine", Q), "set");
    assert_eq!(
        ok(store.get("a", None, "k"), "get"),
        Some(b"value".to_vec())
    );
    assert_eq!(
        ok(store.get("a", Some("u1"), "k"), "get"),
        Some(b"mine".to_vec()),
        "scopes are apart"
    );
    assert_eq!(
        ok(store.get("a", Some("u2"), "k"), "get"),
        None,
        "people are apart"
    );
    assert_eq!(ok(store.get("b", None, "k"), "get"), None, "apps are apart");
    assert_eq!(
        ok(store.usage("a"), "usage"),
        (1 + 5) + (1 + 4),
        "keys and values counted"
    );
    kv(store.set("a", None, "k", b"v", Q), "overwrite");
    assert_eq!(
        ok(store.usage("a"), "usage"),
        (1 + 1) + (1 + 4),
        "an overwrite counts once"
    );

    // The quota refuses growth past it and changes nothing; shrinking is fine.
    let big = vec![b'x'; 995]; // 7 + 3 + 995 > 1000
    match store.set("a", None, "big", &big, Q) {
        Err(crate::KvWriteError::Quota { quota, .. }) => assert_eq!(quota, Q),
        other => panic!("over the quota: {:?}", other.map(|_| ())),
    }
    assert_eq!(
        ok(store.get("a", None, "big"), "get"),
        None,
        "nothing written"
    );
    assert_eq!(ok(store.usage("a"), "usage"), 7, "usage unchanged");

    // Compare-and-swap.
    assert!(
        !kv(
            store.swap("a", None, "k", Some(b"other"), Some(b"w"), Q),
            "swap"
        ),
        "a wrong expectation writes nothing"
    );
    assert_eq!(ok(store.get("a", None, "k"), "get"), Some(b"v".to_vec()));
    assert!(kv(
        store.swap("a", None, "k", Some(b"v"), Some(b"w"), Q),
        "swap"
    ));
    assert!(
        kv(store.swap("a", None, "new", None, Some(b"n"), Q), "swap"),
        "create if absent"
    );
    assert!(
        !kv(store.swap("a", None, "new", None, Some(b"m"), Q), "swap"),
        "not if present"
    );
    assert!(
        kv(store.swap("a", None, "new", Some(b"n"), None, Q), "swap"),
        "delete by swap"
    );
    assert_eq!(ok(store.get("a", None, "new"), "get"), None);
    assert_eq!(ok(store.usage("a"), "usage"), 7);

    // Delete and paging.
    assert!(ok(store.delete("a", None, "k"), "delete"));
    assert!(
        !ok(store.delete("a", None, "k"), "delete"),
        "nothing left to delete"
    );
    for i in 0..5 {
        kv(store.set("a", None, &format!("item-{i}"), b"x", Q), "set");
    }
    kv(store.set("a", None, "other", b"x", Q), "set");
    let (page, more) = ok(store.list("a", None, "item-", None, 2), "list");
    assert_eq!(
        (page.as_slice(), more),
        (&["item-0".to_string(), "item-1".to_string()][..], true)
    );
    let (page, more) = ok(store.list("a", None, "item-", Some("item-1"), 2), "list");
    assert_eq!(
        (page.as_slice(), more),
        (&["item-2".to_string(), "item-3".to_string()][..], true)
    );
    let (page, more) = ok(store.list("a", None, "item-", Some("item-3"), 2), "list");
    assert_eq!(
        (page.as_slice(), more),
        (&["item-4".to_string()][..], false)
    );
    let (all, _) = ok(store.list("a", None, "", None, 100), "list");
    assert_eq!(all.len(), 6, "the app scope only: {all:?}");

    // A person's data across apps, then an app purged.
    kv(store.set("b", Some("u1"), "note", b"hi", Q), "set");
    assert_eq!(
        ok(store.user_entries("a", "u1"), "entries"),
        [("k".to_string(), b"mine".to_vec())]
    );
    let apps: Vec<String> = ok(store.apps_with_user_data("u1"), "apps")
        .into_iter()
        .collect();
    assert_eq!(apps, ["a", "b"]);
    ok(store.purge_app("a"), "purge");
    assert_eq!(ok(store.usage("a"), "usage"), 0);
    assert_eq!(ok(store.list("a", None, "", None, 100), "list").0.len(), 0);
    assert_eq!(ok(store.get("a", Some("u1"), "k"), "get"), None);
    assert_eq!(
        ok(store.get("b", Some("u1"), "note"), "get"),
        Some(b"hi".to_vec()),
        "other apps keep theirs"
    );

    // Writes survive the store being dropped and opened again.
    drop(store);
    let store = open();
    assert_eq!(
        ok(store.get("b", Some("u1"), "note"), "get"),
        Some(b"hi".to_vec())
    );
    assert_eq!(ok(store.usage("b"), "usage"), 4 + 2);
}

fn text(id: u64, conv: &str, said: &str) -> Message {
    Message {
        id,
        conversation: conv.into(),
        sender: Sender::System,
        body: Body::Text { text: said.into() },
        at: 1_000 + id as i64,
    }
}

fn texts(ms: Vec<Message>) -> Vec<String> {
    ms.into_iter()
        .map(|m| match m.body {
            Body::Text { text } => text,
            other => format!("{other:?}"),
        })
        .collect()
}

/// The messenger: ids that only grow, every record `apply` writes and the
/// readers that page them, the outbox to apps, and durability on `flush`.
pub async fn messaging_store(open: &dyn Fn() -> Arc<dyn MessagingStore>) {
    let store = open();
    let ids = fresh_ids(store.as_ref(), 5).await;
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {ids:?}"
    );
    assert!(ok(store.conversation("c1"), "conversation").is_none());
    assert_eq!(ok(store.newest_event("u1"), "newest"), None);
    group_commit(store.as_ref()).await;
    durable_writes_read_back_at_once(store.clone()).await;
    a_followed_stream_skips_nothing(store.clone()).await;

    let conv = Conversation {
        id: "c1".into(),
        kind: ConversationKind::Group,
        title: Some("Tea".into()),
        created_by: "u1".into(),
        created_at: 1_000,
        members: vec!["u1".into(), "u2".into()],
        app: None,
    };
    let mut w = MessagingWrite {
        conversations: vec![conv],
        memberships: vec![
            (
                "u1".into(),
                "c1".into(),
                Some(Membership {
                    joined_at: 1_000,
                    last_read: 0,
                    since: Some(0),
                }),
            ),
            (
                "u2".into(),
                "c1".into(),
                Some(Membership {
                    joined_at: 1_000,
                    last_read: 0,
                    since: Some(0),
                }),
            ),
        ],
        direct: Some(("u2".into(), "u1".into(), "d1".into())),
        packets: vec![("rp_1".into(), "c1".into())],
        app_conversation: Some(("u1".into(), "shop".into(), "a1".into())),
        subscriptions: vec![("u1".into(), "shop".into(), "shipped".into(), 2)],
        windows: vec![(
            "shop".into(),
            "u1".into(),
            Window {
                until: 5_000,
                replies_left: 5,
            },
        )],
        ..MessagingWrite::default()
    };
    for (i, id) in [10u64, 20, 30, 40, 50].into_iter().enumerate() {
        w.messages.push(text(id, "c1", &format!("m{i}")));
        for member in ["u1", "u2"] {
            w.stream.push((
                member.into(),
                LiveEvent::message(text(id, "c1", &format!("m{i}"))),
            ));
        }
    }
    w.outbox = [60u64, 61, 62]
        .into_iter()
        .map(|id| AppDelivery {
            id,
            app: "shop".into(),
            user: "u1".into(),
            text: format!("to the shop {id}"),
            at: 1_000,
            attempts: 0,
            next_at: 1_000,
            last_error: None,
            gave_up: false,
        })
        .collect();
    ok(store.apply(&w), "apply");

    let c = ok(store.conversation("c1"), "conversation").unwrap_or_else(|| panic!("c1 is there"));
    assert_eq!((c.title.as_deref(), c.members.len()), (Some("Tea"), 2));
    assert_eq!(
        ok(store.membership("u2", "c1"), "membership").map(|m| m.joined_at),
        Some(1_000)
    );
    assert!(ok(store.membership("u3", "c1"), "membership").is_none());
    let mine: Vec<String> = ok(store.memberships("u1"), "memberships")
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(mine, ["c1"]);
    assert_eq!(
        ok(store.direct("u1", "u2"), "direct").as_deref(),
        Some("d1"),
        "a pair in either order"
    );
    assert_eq!(
        ok(store.direct("u2", "u1"), "direct").as_deref(),
        Some("d1")
    );
    assert_eq!(
        ok(store.packet_conversation("rp_1"), "packet").as_deref(),
        Some("c1")
    );
    assert_eq!(
        ok(store.app_conversation("u1", "shop"), "app conversation").as_deref(),
        Some("a1")
    );
    assert_eq!(
        ok(store.subscription("u1", "shop", "shipped"), "subscription"),
        2
    );
    assert_eq!(
        ok(store.subscription("u1", "shop", "other"), "subscription"),
        0
    );
    assert_eq!(
        ok(store.window("shop", "u1"), "window").map(|w| w.replies_left),
        Some(5)
    );

    // Paging messages both ways, with bounds exclusive.
    assert_eq!(
        texts(ok(store.messages("c1", 0, u64::MAX, 2, true), "messages")),
        ["m4", "m3"]
    );
    assert_eq!(
        texts(ok(store.messages("c1", 0, 40, 2, true), "messages")),
        ["m2", "m1"]
    );
    assert_eq!(
        texts(ok(store.messages("c1", 20, u64::MAX, 2, false), "messages")),
        ["m2", "m3"]
    );
    assert_eq!(
        texts(ok(store.messages("c1", 10, 30, 10, false), "messages")),
        ["m1"]
    );
    assert!(ok(store.messages("c2", 0, u64::MAX, 10, true), "messages").is_empty());
    assert_eq!(ok(store.count_after("c1", 20, 100), "count"), 3);
    assert_eq!(ok(store.count_after("c1", 20, 2), "count"), 2, "capped");

    // A person's live stream resumes after an id.
    let after: Vec<u64> = ok(store.stream_after("u2", 20, 10), "stream")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(after, [30, 40, 50]);
    assert_eq!(ok(store.stream_after("u2", 20, 1), "stream").len(), 1);
    assert_eq!(ok(store.newest_event("u2"), "newest"), Some(50));
    assert_eq!(
        ok(store.stream_after("u1", 0, 10), "stream").len(),
        5,
        "every member's stream has the conversation's messages"
    );
    assert!(
        ok(store.stream_after("u3", 0, 10), "stream").is_empty(),
        "streams are per person"
    );
    stream_from_conversations(store.as_ref()).await;

    // The outbox to apps.
    let due = |now| -> Vec<u64> {
        ok(store.due_deliveries(now, 10), "due")
            .into_iter()
            .map(|d| d.id)
            .collect()
    };
    assert_eq!(due(999), Vec::<u64>::new(), "not before its time");
    assert_eq!(due(1_000), [60, 61, 62]);
    assert_eq!(
        ok(store.due_deliveries(1_000, 2), "due").len(),
        2,
        "at most `limit`"
    );
    let mut failed = ok(store.deliveries(), "deliveries")[1].clone();
    failed.attempts = 1;
    failed.next_at = 2_000;
    let mut given_up = ok(store.deliveries(), "deliveries")[2].clone();
    given_up.gave_up = true;
    ok(
        store.apply(&MessagingWrite {
            outbox: vec![failed, given_up],
            delivered: vec![60],
            memberships: vec![("u2".into(), "c1".into(), None)],
            left: vec![("u2".into(), "c1".into(), 0, 51)],
            subscriptions: vec![("u1".into(), "shop".into(), "shipped".into(), 0)],
            ..MessagingWrite::default()
        }),
        "apply",
    );
    assert_eq!(due(1_999), Vec::<u64>::new());
    assert_eq!(due(i64::MAX), [61], "a given-up message is never due");
    let held: Vec<u64> = ok(store.deliveries(), "deliveries")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(held, [61, 62], "delivered is gone; given up is kept");
    assert!(
        ok(store.membership("u2", "c1"), "membership").is_none(),
        "a membership removed"
    );
    assert_eq!(
        ok(store.subscription("u1", "shop", "shipped"), "subscription"),
        0,
        "0 removes it"
    );
    assert!(ok(store.subscriptions("u1", "shop"), "subscriptions").is_empty());

    // What was flushed survives reopening, and ids keep growing.
    ok(store.flush().await, "flush");
    let last = fresh_ids(store.as_ref(), 1).await[0];
    drop(store);
    let store = open();
    assert!(
        fresh_ids(store.as_ref(), 1).await[0] > last,
        "ids grow across restarts"
    );
    let nothing = store.write_ordered(
        &mut |next| {
            let _ = next();
            None
        },
        &mut |_, _| panic!("nothing was applied"),
    );
    assert!(
        ok(nothing, "write_ordered").is_none(),
        "a build that gives up writes nothing"
    );
    assert_eq!(
        texts(ok(store.messages("c1", 0, u64::MAX, 10, false), "messages")).len(),
        5
    );
    assert_eq!(ok(store.newest_event("u2"), "newest"), Some(50));
    assert_eq!(ok(store.deliveries(), "deliveries").len(), 2);
}

/// A person's stream: their own events merged, in id order, with the
/// messages of the conversations they are in from when they joined, and
/// of those they left up to when they left.
async fn stream_from_conversations(store: &dyn MessagingStore) {
    let ids = fresh_ids(store, 8).await;
    let member = |since: u64| Membership {
        joined_at: 0,
        last_read: 0,
        since: Some(since),
    };
    let mut w = MessagingWrite {
        conversations: vec![Conversation {
            id: "sc".into(),
            kind: ConversationKind::Group,
            title: None,
            created_by: "sa".into(),
            created_at: 0,
            members: vec!["sa".into()],
            app: None,
        }],
        memberships: vec![("sa".into(), "sc".into(), Some(member(0)))],
        ..MessagingWrite::default()
    };
    // Said before sb joins at ids[3]; sa has a payment prompt at ids[2].
    for id in [ids[0], ids[1], ids[3], ids[4], ids[5], ids[6]] {
        w.messages.push(text(id, "sc", &format!("s{id}")));
    }
    w.stream.push((
        "sa".into(),
        LiveEvent {
            id: ids[2],
            at: 0,
            body: LiveBody::PaymentPrompt {
                payment: "p1".into(),
                app: "shop".into(),
                amount: 5,
                memo: String::new(),
            },
        },
    ));
    w.memberships
        .push(("sb".into(), "sc".into(), Some(member(ids[3]))));
    ok(store.apply(&w), "apply");
    let stream = |user: &str, after: u64, limit: usize| -> Vec<u64> {
        ok(store.stream_after(user, after, limit), "stream_after")
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let all: Vec<u64> = ids[..7].to_vec();
    assert_eq!(stream("sa", 0, 100), all, "own events among the messages");
    assert_eq!(
        stream("sa", ids[1], 2),
        [ids[2], ids[3]],
        "after, at most limit"
    );
    assert_eq!(
        stream("sb", 0, 100),
        ids[3..7],
        "from the id they joined at"
    );
    assert_eq!(ok(store.newest_event("sb"), "newest"), Some(ids[6]));

    // sa leaves at ids[5]: what they were in stays, nothing after it.
    ok(
        store.apply(&MessagingWrite {
            memberships: vec![("sa".into(), "sc".into(), None)],
            left: vec![("sa".into(), "sc".into(), 0, ids[5])],
            ..MessagingWrite::default()
        }),
        "apply",
    );
    assert_eq!(stream("sa", 0, 100), ids[..5], "up to when they left");
    assert_eq!(ok(store.newest_event("sa"), "newest"), Some(ids[4]));
    // Back in from ids[6]: both spans, once each.
    ok(
        store.apply(&MessagingWrite {
            memberships: vec![("sa".into(), "sc".into(), Some(member(ids[6])))],
            ..MessagingWrite::default()
        }),
        "apply",
    );
    let mut back = ids[..5].to_vec();
    back.push(ids[6]);
    assert_eq!(
        stream("sa", 0, 100),
        back,
        "the gap while away is not theirs"
    );
    let events = ok(store.stream_after("sa", ids[5], 10), "stream_after");
    assert!(
        matches!(&events[..], [e] if matches!(&e.body, LiveBody::Message(m) if m.id == ids[6] && m.conversation == "sc")),
        "a message event carries the message: {events:?}"
    );
}

/// Ordered writes group-committed: a write builds on the ones applied
/// before it and not yet flushed (it sees their records, also in scans),
/// the `applied` calls come in id order, and one flush makes them all
/// durable and visible.
async fn group_commit(store: &dyn MessagingStore) {
    let mut order = Vec::new();
    let mut tickets = Vec::new();
    for (i, conv) in ["g1", "g2", "g3"].into_iter().enumerate() {
        let w = store.write_ordered(
            &mut |next| {
                let id = next().ok()?;
                // Each write sees the conversations written before it.
                for earlier in ["g1", "g2", "g3"].iter().take(i) {
                    assert!(
                        store.conversation(earlier).ok()?.is_some(),
                        "{conv}'s build sees {earlier}, applied before it"
                    );
                }
                let seen = store.memberships("gu").ok()?.len();
                assert_eq!(
                    seen, i,
                    "{conv}'s build sees the earlier memberships in a scan"
                );
                Some(MessagingWrite {
                    conversations: vec![Conversation {
                        id: conv.into(),
                        kind: ConversationKind::Group,
                        title: None,
                        created_by: "gu".into(),
                        members: vec!["gu".into()],
                        app: None,
                        created_at: 0,
                    }],
                    memberships: vec![(
                        "gu".into(),
                        conv.into(),
                        Some(Membership {
                            joined_at: 0,
                            last_read: id,
                            since: Some(0),
                        }),
                    )],
                    ..MessagingWrite::default()
                })
            },
            &mut |w, _| order.push(w.memberships[0].2.as_ref().map_or(0, |m| m.last_read)),
        );
        let Some((_, ticket)) = ok(w, "write_ordered") else {
            panic!("{conv} was not written");
        };
        tickets.push(ticket);
    }
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "applied in id order: {order:?}"
    );
    // The last write's flush makes the earlier ones durable too.
    let last = tickets[tickets.len() - 1];
    ok(store.flush_write(last).await, "flush_write");
    for t in &tickets {
        ok(
            store.flush_write(*t).await,
            "flush_write of an earlier write",
        );
    }
    assert_eq!(ok(store.memberships("gu"), "memberships").len(), 3);
}

/// A reader following a person's stream (each read after the last id it
/// got) while writers go on into several of their conversations never
/// skips an id: writes made visible during a read (which reads one range
/// per conversation) must not show a later id without an earlier one.
async fn a_followed_stream_skips_nothing(store: Arc<dyn MessagingStore>) {
    const CONVS: usize = 8;
    const WRITERS: u64 = 4;
    const EACH: u64 = 60;
    let user = "fw";
    let mut setup = MessagingWrite::default();
    for c in 0..CONVS {
        let conv = format!("fw-{c}");
        setup.conversations.push(Conversation {
            id: conv.clone(),
            kind: ConversationKind::Group,
            title: None,
            created_by: user.into(),
            members: vec![user.into()],
            app: None,
            created_at: 0,
        });
        setup.memberships.push((
            user.into(),
            conv,
            Some(Membership {
                joined_at: 0,
                last_read: 0,
                since: Some(0),
            }),
        ));
    }
    ok(store.apply(&setup), "apply");
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                // Each writer walks the conversations from its own offset.
                let conv = format!("fw-{}", (w * 3 + i) as usize % CONVS);
                let written = store.write_ordered(
                    &mut |next| {
                        let m = text(next().ok()?, &conv, "go");
                        Some(MessagingWrite {
                            stream: vec![(user.into(), LiveEvent::message(m.clone()))],
                            messages: vec![m],
                            ..MessagingWrite::default()
                        })
                    },
                    &mut |_, _| {},
                );
                let Some((_, ticket)) = ok(written, "write_ordered") else {
                    panic!("not written");
                };
                ok(store.flush_write(ticket).await, "flush_write");
            }
        }));
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            let (mut after, mut seen) = (0u64, Vec::new());
            // A skipped id never comes: once the writers are done, one
            // read with nothing new ends it, and the comparison below says
            // what was missed.
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let got = ok(store.stream_after(user, after, 200), "stream_after");
                if got.is_empty() && finished {
                    return seen;
                }
                for e in got {
                    after = e.id;
                    seen.push(e.id);
                }
            }
        })
    };
    for w in writers {
        if let Err(e) = w.await {
            panic!("a writer failed: {e}");
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let followed = match reader.await {
        Ok(seen) => seen,
        Err(e) => panic!("the reader failed: {e}"),
    };
    let all: Vec<u64> = ok(store.stream_after(user, 0, 1_000), "stream_after")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(followed, all, "the follower got every id, in order, once");
}

/// Every write reads back, for anyone, as soon as its flush returns, while
/// other writers go on: a backend that answers before its records are
/// installed must show them some other way until they are. Each write is
/// a wide fan-out, so installing one takes a while.
async fn durable_writes_read_back_at_once(store: Arc<dyn MessagingStore>) {
    const WIDE: usize = 200;
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("rb{w}");
            let reader = format!("rb{w}-r{}", WIDE - 1);
            for i in 0..10u64 {
                let conv = format!("rb-{w}-{i}");
                let mut id = 0;
                let written = store.write_ordered(
                    &mut |next| {
                        id = next().ok()?;
                        let mut write = MessagingWrite {
                            conversations: vec![Conversation {
                                id: conv.clone(),
                                kind: ConversationKind::Group,
                                title: None,
                                created_by: user.clone(),
                                members: vec![user.clone()],
                                app: None,
                                created_at: 0,
                            }],
                            memberships: vec![(
                                user.clone(),
                                conv.clone(),
                                Some(Membership {
                                    joined_at: 0,
                                    last_read: id,
                                    since: Some(0),
                                }),
                            )],
                            messages: vec![text(id, &conv, "hi")],
                            ..MessagingWrite::default()
                        };
                        for r in 0..WIDE {
                            write.memberships.push((
                                format!("rb{w}-r{r}"),
                                conv.clone(),
                                Some(Membership {
                                    joined_at: 0,
                                    last_read: 0,
                                    since: Some(0),
                                }),
                            ));
                            write.stream.push((
                                format!("rb{w}-r{r}"),
                                LiveEvent::message(text(id, &conv, "hi")),
                            ));
                        }
                        Some(write)
                    },
                    &mut |_, _| {},
                );
                let Some((_, ticket)) = ok(written, "write_ordered") else {
                    panic!("{conv} was not written");
                };
                ok(store.flush_write(ticket).await, "flush_write");
                assert!(
                    ok(store.conversation(&conv), "conversation").is_some(),
                    "{conv} reads back once durable"
                );
                assert!(
                    ok(store.memberships(&user), "memberships")
                        .iter()
                        .any(|(c, m)| *c == conv && m.last_read == id),
                    "{conv}'s membership is in a scan once durable"
                );
                let events = ok(store.stream_after(&reader, id - 1, 10), "stream_after");
                assert_eq!(
                    events.first().map(|e| e.id),
                    Some(id),
                    "{conv}'s event is in the last member's stream once durable"
                );
                assert_eq!(
                    ok(store.newest_event(&reader), "newest_event"),
                    Some(id),
                    "{conv}"
                );
                let said = ok(store.messages(&conv, 0, u64::MAX, 10, false), "messages");
                assert_eq!(texts(said), vec!["hi".to_string()], "{conv}");
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("a writer failed: {e}");
        }
    }
}

/// `n` ids from an ordered write that writes nothing else.
async fn fresh_ids(store: &dyn MessagingStore, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    let w = store.write_ordered(
        &mut |next| {
            for _ in 0..n {
                ids.push(next().ok()?);
            }
            Some(MessagingWrite::default())
        },
        &mut |_, _| {},
    );
    let Some((_, ticket)) = ok(w, "write_ordered") else {
        panic!("the write was not made");
    };
    ok(store.flush_write(ticket).await, "flush_write");
    assert_eq!(ids.len(), n, "every id taken");
    ids
}

fn keys(entries: crate::Entries<'_>) -> Vec<String> {
    entries
        .map(|e| e.map(|(k, _)| k).unwrap_or_else(|e| panic!("scan: {e}")))
        .collect()
}

/// The record stores under identity's and the packages' typed trees:
/// get, insert, remove, compare-and-swap, ordered scans both ways, atomic
/// batches — and the typed tree over them (insert_new, update, prefixes).
/// `ranges`: each range's first (or last) entries, grouped in the order
/// the ranges were asked in.
fn several_ranges_read_at_once(store: &dyn RecordStore) {
    let mut puts = Vec::new();
    for k in ["r/a/1", "r/a/2", "r/a/3", "r/b/1", "r/c/7"] {
        puts.push((k.to_string(), k.as_bytes().to_vec()));
    }
    ok(store.apply(puts, Vec::new()), "apply");
    let asked = [
        ("r/b/".to_string(), "r/b/9".to_string()),
        ("r/a/2".to_string(), "r/a/9".to_string()),
        ("r/x/".to_string(), "r/x/9".to_string()),
        ("r/a/".to_string(), "r/a/3".to_string()),
    ];
    let got = |limit, rev| -> Vec<Vec<String>> {
        ok(store.ranges(&asked, limit, rev), "ranges")
            .into_iter()
            .map(|g| g.into_iter().map(|(k, _)| k).collect())
            .collect()
    };
    assert_eq!(
        got(10, false),
        [
            vec!["r/b/1"],
            vec!["r/a/2", "r/a/3"],
            vec![],
            vec!["r/a/1", "r/a/2"]
        ],
        "[lo, hi), in the order asked"
    );
    assert_eq!(
        got(1, true),
        [vec!["r/b/1"], vec!["r/a/3"], vec![], vec!["r/a/2"]],
        "the last ones, at most `limit`"
    );
    let removes = ["r/a/1", "r/a/2", "r/a/3", "r/b/1", "r/c/7"];
    ok(
        store.apply(Vec::new(), removes.iter().map(|k| k.to_string()).collect()),
        "apply",
    );
}

pub fn record_store(open: &dyn Fn() -> Arc<dyn RecordStore>) {
    let store = open();
    several_ranges_read_at_once(store.as_ref());
    assert_eq!(ok(store.get("a/1"), "get"), None);
    assert!(keys(store.scan_prefix("", false)).is_empty());
    for k in ["a/2", "b/1", "a/1"] {
        ok(store.insert(k, k.as_bytes().to_vec()), "insert");
    }
    assert_eq!(ok(store.get("a/1"), "get"), Some(b"a/1".to_vec()));
    assert_eq!(
        keys(store.scan_prefix("a/", false)),
        ["a/1", "a/2"],
        "key order"
    );
    assert_eq!(
        keys(store.scan_prefix("a/", true)),
        ["a/2", "a/1"],
        "reversed"
    );
    assert_eq!(keys(store.scan_prefix("", false)), ["a/1", "a/2", "b/1"]);
    assert_eq!(ok(store.remove("b/1"), "remove"), Some(b"b/1".to_vec()));
    assert_eq!(ok(store.remove("b/1"), "remove"), None);

    // Compare-and-swap.
    assert!(
        ok(
            store.compare_and_swap("c", None, Some(b"1".to_vec())),
            "cas"
        ),
        "create if absent"
    );
    assert!(
        !ok(
            store.compare_and_swap("c", None, Some(b"2".to_vec())),
            "cas"
        ),
        "not if present"
    );
    assert!(
        !ok(
            store.compare_and_swap("c", Some(b"9"), Some(b"2".to_vec())),
            "cas"
        ),
        "not if different"
    );
    assert!(ok(
        store.compare_and_swap("c", Some(b"1"), Some(b"2".to_vec())),
        "cas"
    ));
    assert_eq!(ok(store.get("c"), "get"), Some(b"2".to_vec()));
    assert!(
        ok(store.compare_and_swap("c", Some(b"2"), None), "cas"),
        "remove by swap"
    );
    assert_eq!(ok(store.get("c"), "get"), None);

    // A batch lands whole.
    ok(
        store.apply(
            vec![("d/1".into(), b"x".to_vec()), ("d/2".into(), b"y".to_vec())],
            vec!["a/2".into()],
        ),
        "apply",
    );
    assert_eq!(keys(store.scan_prefix("", false)), ["a/1", "d/1", "d/2"]);

    // The typed tree on top.
    let tree: Tree<u64> = Tree::new("conformance", store.clone());
    assert!(ok(tree.insert_new("n/1", &1), "insert_new"));
    assert!(
        !ok(tree.insert_new("n/1", &5), "insert_new"),
        "insert_new keeps what is there"
    );
    let seen = ok(tree.update("n/1", |v| (v.map(|n| n + 1), v)), "update");
    assert_eq!((seen, ok(tree.get("n/1"), "get")), (Some(1), Some(2)));
    ok(
        tree.update("n/2", |v| (Some(v.unwrap_or(0) + 10), ())),
        "update",
    );
    ok(
        tree.insert_all(&[("n/3".into(), 3), ("n/4".into(), 4)]),
        "insert_all",
    );
    let odd = ok(tree.scan_prefix("n/", true, 10, |v| v % 2 == 0), "scan");
    assert_eq!(
        odd.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["n/4", "n/2", "n/1"]
    );
    assert_eq!(
        ok(tree.scan_prefix("n/", false, 1, |_| true), "scan").len(),
        1,
        "limit"
    );
    assert_eq!(ok(tree.remove_prefix("n/"), "remove_prefix"), 4);
    assert!(ok(tree.scan_prefix("n/", false, 10, |_| true), "scan").is_empty());

    drop(tree);
    drop(store);
    let store = open();
    assert_eq!(
        keys(store.scan_prefix("", false)),
        ["a/1", "d/1", "d/2"],
        "after reopening"
    );
}

/// Installed apps' files: absent until put, whole and by range, replaced
/// whole, removed once, names with folders, names that are not plain
/// relative paths refused, and everything kept across reopening.
pub fn blob_store(open: &dyn Fn() -> Arc<dyn BlobStore>) {
    let store = open();
    let name = "components/shop/1.0.0-ab.wasm";
    assert_eq!(ok(store.get(name), "get absent"), None);
    assert_eq!(ok(store.read_at(name, 0, 1), "read_at absent"), None);
    assert!(!ok(store.remove(name), "remove absent"));
    ok(store.put(name, b"hello, world"), "put");
    assert_eq!(ok(store.get(name), "get"), Some(b"hello, world".to_vec()));
    assert_eq!(
        ok(store.read_at(name, 7, 5), "read_at"),
        Some(b"world".to_vec())
    );
    assert!(
        store.read_at(name, 7, 50).is_err(),
        "a range past the end is an error, not short bytes"
    );
    ok(store.put(name, b"v2"), "put again");
    assert_eq!(ok(store.get(name), "get v2"), Some(b"v2".to_vec()));
    let other = "components/ride/2.0.0-cd.ui";
    ok(store.put(other, &[0u8; 70_000]), "put a larger blob");
    for bad in ["", "../escape", "/abs/path", "components/../x", "a/./b"] {
        assert!(store.put(bad, b"x").is_err(), "`{bad}` was accepted");
        assert!(store.get(bad).is_err(), "`{bad}` was read");
    }
    drop(store);
    let store = open();
    assert_eq!(ok(store.get(name), "after reopening"), Some(b"v2".to_vec()));
    assert_eq!(
        ok(store.get(other), "after reopening").map(|b| b.len()),
        Some(70_000)
    );
    assert!(ok(store.remove(name), "remove"));
    assert!(!ok(store.remove(name), "remove twice"));
    assert_eq!(ok(store.get(name), "get removed"), None);
}

#[cfg(test)]
mod tests {
    use crate::Db;
    use std::sync::Arc;

    #[test]
    fn the_file_blob_store_conforms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().to_path_buf();
        super::blob_store(&|| {
            Db::open(&path)
                .map(|db| db.blobs())
                .unwrap_or_else(|e| panic!("open: {e}"))
        });
    }

    #[test]
    fn the_sled_record_store_conforms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().to_path_buf();
        super::record_store(&|| {
            Db::open(&path)
                .and_then(|db| db.records("conformance"))
                .unwrap_or_else(|e| panic!("open sled: {e}"))
        });
    }

    #[tokio::test]
    async fn the_sled_messaging_store_conforms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().to_path_buf();
        super::messaging_store(&|| {
            Arc::new(
                Db::open(&path)
                    .and_then(|db| db.messaging())
                    .unwrap_or_else(|e| panic!("open sled: {e}")),
            )
        })
        .await;
    }

    #[test]
    fn the_sled_kv_store_conforms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().to_path_buf();
        super::kv_store(&|| {
            Arc::new(
                Db::open(&path)
                    .and_then(|db| db.kv())
                    .unwrap_or_else(|e| panic!("open sled: {e}")),
            )
        });
    }

    #[test]
    fn the_sled_ledger_store_conforms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().to_path_buf();
        super::ledger_store(
            &|| {
                Arc::new(
                    Db::open(&path)
                        .and_then(|db| db.ledger())
                        .unwrap_or_else(|e| panic!("open sled: {e}")),
                )
            },
            false,
        );
    }
}

/// The same cases on PostgreSQL, each on a fresh database of the test
/// server (see `pg::testing`); "reopening" connects again.
#[cfg(test)]
mod postgres {
    use crate::pg::{Postgres, testing};
    use crate::{Backend, MessagingStore};
    use std::sync::Arc;

    fn connect(url: &str) -> Postgres {
        Postgres::connect(url).unwrap_or_else(|e| panic!("connect: {e}"))
    }

    #[test]
    fn the_postgres_record_store_conforms() {
        let url = testing::fresh_database();
        super::record_store(&|| {
            connect(&url)
                .record_store("conformance")
                .unwrap_or_else(|e| panic!("{e}"))
        });
    }

    #[test]
    fn the_postgres_blob_store_conforms() {
        let url = testing::fresh_database();
        super::blob_store(&|| connect(&url).blob_store());
    }

    #[test]
    fn the_postgres_kv_store_conforms() {
        let url = testing::fresh_database();
        super::kv_store(&|| connect(&url).kv_store().unwrap_or_else(|e| panic!("{e}")));
    }

    #[test]
    fn the_postgres_ledger_store_conforms() {
        let url = testing::fresh_database();
        super::ledger_store(
            &|| {
                connect(&url)
                    .ledger_store()
                    .unwrap_or_else(|e| panic!("{e}"))
            },
            true,
        );
    }

    #[test]
    fn migrations_apply_once_and_a_newer_schema_is_refused() {
        let url = testing::fresh_database();
        drop(connect(&url));
        drop(connect(&url)); // a second start migrates nothing
        let versions = testing::query_texts(&url, "SELECT version FROM superapp_schema")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(versions, [crate::pg::SCHEMA_VERSION.to_string()]);
        testing::run_sql(&url, "INSERT INTO superapp_schema (version) VALUES (999)")
            .unwrap_or_else(|e| panic!("{e}"));
        match Postgres::connect(&url) {
            Err(e) => {
                assert_eq!(e.code(), "schema-too-new");
                assert!(e.to_string().contains("999"), "{e}");
            }
            Ok(_) => panic!("a host started on a schema newer than it knows"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_postgres_messaging_store_conforms() {
        let url = testing::fresh_database();
        let open = || -> Arc<dyn MessagingStore> {
            connect(&url)
                .messaging_store()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        super::messaging_store(&open).await;
    }
}
