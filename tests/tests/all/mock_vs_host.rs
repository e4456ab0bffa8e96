//! The SDK's mock host against the real host: random sequences of what a
//! mini-app and a person do (top-ups, payment requests in every mode,
//! transfers, red packets, confirm, decline, receipt, refunds, captures,
//! voids, claims, payouts, retries and conflicting reuse of a key, time
//! passing) run through `MockHost` with the wallet fixture's code built
//! natively, and through a real `Superapp` on sled with the same fixture
//! as a component. After every step both must answer alike (the same
//! status and body, or the same error and message) and every balance
//! must agree; at the end, the events the app heard and both ledgers'
//! invariants. Ids differ between the two, so they are compared by role:
//! the n-th payment, the n-th packet, the n-th person.

use fixture_wallet::Shop;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use superapp_host::platform::{PaymentDecision, block_on};
use superapp_host::wallet::{Account, WalletError};
use superapp_host::{CallRequest, Caller, Superapp};
use superapp_sdk::mock::MockHost;
use superapp_tests::{open_host, person, root};

/// The fixture's app id (its manifest's).
const APP: &str = "shopfix";
const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];

/// The clock steps a run may take first: short of and past an intent's,
/// a packet's, a hold's and an escrow's period.
const JUMPS: [i64; 5] = [5 * 60, 3600, 2 * 86_400, 8 * 86_400, 11 * 86_400];
/// Every later step: past every period. The host runs an app's calls and a
/// person's decisions on the real clock (only its sweep takes a chosen
/// time), so what is created after a first jump falls due on the host one
/// period after the real now, and in the mock one period after the jump: a
/// shorter second jump could sweep it on the host only, one past every
/// period sweeps it on both.
const PAST_EVERY_PERIOD: i64 = 11 * 86_400;

/// What a person decides in the host.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Confirm,
    Decline,
    Receipt,
}

/// One step. People are indices into `PEOPLE`; payments and packets are
/// picked among those made so far, counting back from the newest (modulo
/// their number); `Retry` and `Conflict` pick among the keyed requests so
/// far, the same way.
#[derive(Debug, Clone)]
enum Op {
    TopUp(usize, u64),
    Pay(usize, u64, &'static str),
    Transfer(usize, usize, u64),
    Packet(usize, u64, u32, bool),
    /// A decision on a payment by its payer (None) or by someone else.
    Decide(Option<usize>, usize, Decision),
    Refund(usize, u64),
    Capture(usize, u64),
    Void(usize),
    Claim(usize, usize),
    PayOut(usize, u64),
    /// The same request again, with its key.
    Retry(usize),
    /// Its key with another amount (false) or from another person (true).
    Conflict(usize, bool),
    Advance(usize),
}

/// A request of the app, by role: `<P0>`, `<R0>` and `<U0>` in its path
/// and body stand for each side's own ids.
#[derive(Debug, Clone)]
struct Req {
    who: usize,
    method: &'static str,
    path: String,
    body: Value,
}

/// What a side must do: the app's calls, the person's and operator's
/// actions, and what the comparison reads.
trait Backend {
    fn open_id(&self, who: usize) -> String;
    fn call(&mut self, who: usize, method: &str, path: &str, body: &Value) -> (u16, Value);
    fn top_up(&mut self, who: usize, amount: u64, key: &str) -> Result<(), String>;
    fn decide(&mut self, who: usize, payment: &str, d: Decision) -> Result<(), String>;
    fn advance(&mut self, secs: i64);
    fn balances(&mut self) -> Vec<u64>;
    fn invariants(&mut self) -> Result<(), String>;
}

/// The SDK's mock host running the fixture natively.
struct Mock {
    host: MockHost<Shop>,
    open_ids: Vec<String>,
}

impl Mock {
    fn new() -> Mock {
        let host = MockHost::<Shop>::new(APP);
        let open_ids = PEOPLE.iter().map(|p| host.person(p)).collect();
        Mock { host, open_ids }
    }
}

impl Backend for Mock {
    fn open_id(&self, who: usize) -> String {
        self.open_ids[who].clone()
    }

    fn call(&mut self, who: usize, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let req =
            superapp_sdk::Request::new(method, path, serde_json::to_vec(body).unwrap_or_default());
        let r = self.host.call(Some(&self.open_ids[who]), req);
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    fn top_up(&mut self, who: usize, amount: u64, _key: &str) -> Result<(), String> {
        self.host.top_up(&self.open_ids[who], amount);
        Ok(())
    }

    fn decide(&mut self, who: usize, payment: &str, d: Decision) -> Result<(), String> {
        let who = &self.open_ids[who];
        match d {
            Decision::Confirm => self.host.confirm(who, payment),
            Decision::Decline => self.host.decline(who, payment),
            Decision::Receipt => self.host.confirm_receipt(who, payment),
        }
    }

    fn advance(&mut self, secs: i64) {
        self.host.advance(secs);
    }

    fn balances(&mut self) -> Vec<u64> {
        let mut b: Vec<u64> = self.open_ids.iter().map(|o| self.host.balance(o)).collect();
        b.push(self.host.merchant_balance());
        b
    }

    fn invariants(&mut self) -> Result<(), String> {
        self.host.check_ledger()
    }
}

/// A data folder with the fixture installed and the people added, made
/// once per test; each run opens a copy (installing compiles the component).
struct Template {
    _dir: tempfile::TempDir,
    data: PathBuf,
    users: Vec<String>,
}

impl Template {
    fn new() -> anyhow::Result<Template> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let host = open_host(&data)?;
        host.install_dev(&root().join("tests/fixtures/wallet/superapp.toml"), false)?;
        let users = PEOPLE
            .iter()
            .map(|p| person(&host, p))
            .collect::<anyhow::Result<_>>()?;
        Ok(Template {
            _dir: dir,
            data,
            users,
        })
    }
}

/// The real host, the fixture installed as a component, on its own sled
/// folder. `offset` is how far the test has moved its clock; `trouble`
/// keeps a failed sweep or delivery for the end of the run.
struct Real {
    host: Superapp,
    _dir: tempfile::TempDir,
    users: Vec<String>,
    open_ids: Vec<String>,
    offset: i64,
    trouble: Vec<String>,
}

impl Real {
    fn new(t: &Template) -> anyhow::Result<Real> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        superapp_tests::copy_data(&t.data, &data)?;
        let host = open_host(&data)?;
        let open_ids = t
            .users
            .iter()
            .map(|u| host.identity().open_id(u, APP))
            .collect();
        let mut real = Real {
            host,
            _dir: dir,
            users: t.users.clone(),
            open_ids,
            offset: 0,
            trouble: Vec::new(),
        };
        // An app knows a person by open id once they have used it; the
        // mock's people are such people.
        for who in 0..PEOPLE.len() {
            let (status, me) = real.call(who, "GET", "/whoami", &Value::Null);
            anyhow::ensure!(
                status == 200 && me["open_id"] == real.open_ids[who].as_str(),
                "whoami: {status} {me}"
            );
        }
        Ok(real)
    }

    fn now(&self) -> i64 {
        superapp_host::identity::now() + self.offset
    }

    /// Hands the app what the ledger raised, as the delivery engine does
    /// (the mock delivers when the call returns).
    fn deliver(&mut self) {
        match block_on(self.host.deliver_events(self.now())) {
            Ok(r) if r.failed == 0 => {}
            Ok(r) => self.trouble.push(format!("{} deliveries failed", r.failed)),
            Err(e) => self.trouble.push(format!("delivery: {e}")),
        }
    }
}

fn coded(e: WalletError) -> String {
    format!("{}: {e}", e.code())
}

impl Backend for Real {
    fn open_id(&self, who: usize) -> String {
        self.open_ids[who].clone()
    }

    fn call(&mut self, who: usize, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let caller = Caller {
            user: Some(self.users[who].clone()),
            scene: None,
        };
        let req = CallRequest {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        };
        let answer = match self.host.call(APP, caller, req) {
            Ok(r) => (
                r.status,
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            ),
            Err(e) => (0, json!({ "call-error": e.to_string() })),
        };
        self.deliver();
        answer
    }

    fn top_up(&mut self, who: usize, amount: u64, key: &str) -> Result<(), String> {
        block_on(self.host.top_up(PEOPLE[who], amount, key))
            .map(|_| ())
            .map_err(coded)
    }

    fn decide(&mut self, who: usize, payment: &str, d: Decision) -> Result<(), String> {
        let decision = match d {
            Decision::Confirm => PaymentDecision::Confirm,
            Decision::Decline => PaymentDecision::Decline,
            Decision::Receipt => PaymentDecision::ConfirmReceipt,
        };
        let done = block_on(
            self.host
                .decide_payment(&self.users[who], payment, decision),
        );
        self.deliver();
        done.map(|_| ()).map_err(coded)
    }

    fn advance(&mut self, secs: i64) {
        self.offset += secs;
        if let Err(e) = block_on(self.host.sweep_wallet(self.now())) {
            self.trouble.push(format!("sweep: {e}"));
        }
        self.deliver();
    }

    fn balances(&mut self) -> Vec<u64> {
        let mut b: Vec<u64> = self
            .users
            .iter()
            .map(|u| {
                block_on(self.host.wallet_of(u))
                    .map(|w| w.balance)
                    .unwrap_or(u64::MAX)
            })
            .collect();
        let merchant = Account::Merchant(APP.into());
        b.push(
            block_on(self.host.wallet().read(move |l| l.balance(&merchant))).unwrap_or(u64::MAX),
        );
        b
    }

    fn invariants(&mut self) -> Result<(), String> {
        if !self.trouble.is_empty() {
            return Err(self.trouble.join("; "));
        }
        block_on(self.host.wallet().audit())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// One side with what it has made so far, each id by its role.
struct Side<B> {
    b: B,
    payments: Vec<String>,
    /// Who pays each payment (an index into `PEOPLE`).
    payers: Vec<usize>,
    packets: Vec<String>,
}

impl<B: Backend> Side<B> {
    fn new(b: B) -> Side<B> {
        Side {
            b,
            payments: Vec::new(),
            payers: Vec::new(),
            packets: Vec::new(),
        }
    }

    /// Each id and the role token it stands for.
    fn roles(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        out.extend((0..PEOPLE.len()).map(|i| (self.b.open_id(i), format!("<U{i}>"))));
        out.extend(
            self.payments
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), format!("<P{i}>"))),
        );
        out.extend(
            self.packets
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), format!("<R{i}>"))),
        );
        // Longest first, so an id that is the start of another (`pay_1`,
        // `pay_12`) is never replaced inside it.
        out.sort_by_key(|(id, _)| std::cmp::Reverse(id.len()));
        out
    }

    /// This side's ids in place of the role tokens.
    fn resolve(&self, text: &str) -> String {
        self.roles()
            .iter()
            .fold(text.to_string(), |t, (id, role)| t.replace(role, id))
    }

    /// Role tokens in place of this side's ids.
    fn normalize(&self, v: Value) -> Value {
        let roles = self.roles();
        map_strings(v, &|s| {
            roles
                .iter()
                .fold(s.to_string(), |t, (id, role)| t.replace(id, role))
        })
    }

    /// Takes note of a payment or packet seen for the first time.
    fn learn(&mut self, body: &Value) {
        if let Some(id) = body["id"].as_str()
            && id.starts_with("pay_")
            && !self.payments.iter().any(|p| p == id)
        {
            self.payments.push(id.to_string());
            let payer = (0..PEOPLE.len()).find(|&i| body["payer"] == self.b.open_id(i).as_str());
            self.payers.push(payer.unwrap_or(0));
        }
        if let Some(id) = body["red_packet"].as_str()
            && !self.packets.iter().any(|p| p == id)
        {
            self.packets.push(id.to_string());
        }
    }

    fn request(&mut self, r: &Req) -> Value {
        let path = self.resolve(&r.path);
        let body = map_strings(r.body.clone(), &|s| self.resolve(s));
        let (status, answer) = self.b.call(r.who, r.method, &path, &body);
        if status == 200 {
            self.learn(&answer);
        }
        json!({ "status": status, "body": self.normalize(answer) })
    }

    fn action(&self, done: Result<(), String>) -> Value {
        match done {
            Ok(()) => json!("ok"),
            Err(e) => self.normalize(json!({ "error": e })),
        }
    }

    fn payment(&self, pick: usize) -> String {
        pick_role("P", pick, self.payments.len(), "pay_missing")
    }

    fn payer(&self, pick: usize) -> Option<usize> {
        newest(pick, self.payers.len()).map(|i| self.payers[i])
    }

    /// The events the app recorded, by role and without their ids (a sweep
    /// takes what falls due in the order of the ids).
    fn events(&mut self) -> Vec<Value> {
        let (_, all) = self.b.call(0, "GET", "/events", &Value::Null);
        let mut out: Vec<Value> = all
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut e| {
                if let Some(o) = e.as_object_mut() {
                    o.remove("id");
                }
                self.normalize(e)
            })
            .collect();
        out.sort_by_key(|e| e.to_string());
        out
    }
}

/// The `pick`-th newest of `len` things (modulo `len`).
fn newest(pick: usize, len: usize) -> Option<usize> {
    (len > 0).then(|| len - 1 - pick % len)
}

fn pick_role(kind: &str, pick: usize, len: usize, none: &str) -> String {
    match newest(pick, len) {
        Some(i) => format!("<{kind}{i}>"),
        None => none.to_string(),
    }
}

fn map_strings(v: Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, x)| (k, map_strings(x, f))).collect())
        }
        other => other,
    }
}

/// The run: the same steps on both sides, the same script of requests.
struct Run {
    mock: Side<Mock>,
    real: Side<Real>,
    /// Keyed requests so far, for retries and conflicts.
    keyed: Vec<Req>,
    advanced: bool,
    step: usize,
}

impl Run {
    fn new(template: &Template) -> anyhow::Result<Run> {
        Ok(Run {
            mock: Side::new(Mock::new()),
            real: Side::new(Real::new(template)?),
            keyed: Vec::new(),
            advanced: false,
            step: 0,
        })
    }

    fn key(&self) -> String {
        format!("key-{:03}", self.keyed.len())
    }

    /// A keyed request: sent, and kept for a later retry or conflict.
    fn keyed(&mut self, who: usize, path: String, mut body: Value) -> (Value, Value) {
        body["key"] = json!(self.key());
        let r = Req {
            who,
            method: "POST",
            path,
            body,
        };
        self.keyed.push(r.clone());
        self.send(&r)
    }

    fn send(&mut self, r: &Req) -> (Value, Value) {
        (self.mock.request(r), self.real.request(r))
    }

    /// Runs one step on both sides; returns what each answered.
    fn apply(&mut self, op: &Op) -> (Value, Value) {
        self.step += 1;
        match *op {
            Op::TopUp(who, amount) => {
                let key = format!("top-up-{:03}", self.step);
                let m = self.mock.b.top_up(who, amount, &key);
                let r = self.real.b.top_up(who, amount, &key);
                (self.mock.action(m), self.real.action(r))
            }
            Op::Pay(who, amount, mode) => self.keyed(
                who,
                "/pay".into(),
                json!({ "amount": amount, "memo": "tea", "mode": mode }),
            ),
            Op::Transfer(who, to, amount) => self.keyed(
                who,
                "/transfer".into(),
                json!({ "to": format!("<U{to}>"), "amount": amount, "memo": "dinner" }),
            ),
            Op::Packet(who, total, count, equal) => self.keyed(
                who,
                "/packets".into(),
                json!({
                    "total": total, "count": count, "greeting": "enjoy",
                    "split": if equal { "equal" } else { "random" },
                }),
            ),
            Op::Decide(who, pick, d) => {
                let token = self.mock.payment(pick);
                let who = who.or(self.mock.payer(pick)).unwrap_or(0);
                let (m_id, r_id) = (self.mock.resolve(&token), self.real.resolve(&token));
                let m = self.mock.b.decide(who, &m_id, d);
                let r = self.real.b.decide(who, &r_id, d);
                let decided = (self.mock.action(m), self.real.action(r));
                // The payment as the app sees it after the decision.
                let view = Req {
                    who,
                    method: "GET",
                    path: format!("/payments/{token}"),
                    body: Value::Null,
                };
                let views = self.send(&view);
                (json!([decided.0, views.0]), json!([decided.1, views.1]))
            }
            Op::Refund(pick, amount) => {
                let p = self.mock.payment(pick);
                self.keyed(
                    0,
                    format!("/payments/{p}/refund"),
                    json!({ "amount": amount }),
                )
            }
            Op::Capture(pick, amount) => {
                let p = self.mock.payment(pick);
                self.keyed(
                    0,
                    format!("/payments/{p}/capture"),
                    json!({ "amount": amount }),
                )
            }
            Op::Void(pick) => {
                let p = self.mock.payment(pick);
                self.keyed(0, format!("/payments/{p}/void"), json!({}))
            }
            Op::Claim(who, pick) => {
                let packet = pick_role("R", pick, self.mock.packets.len(), "rp_missing");
                let r = Req {
                    who,
                    method: "POST",
                    path: format!("/packets/{packet}/claim"),
                    body: json!({}),
                };
                let answers = self.send(&r);
                // The packet as the app sees it after the claim, too.
                let view = Req {
                    method: "GET",
                    path: format!("/packets/{packet}"),
                    ..r
                };
                let views = self.send(&view);
                (json!([answers.0, views.0]), json!([answers.1, views.1]))
            }
            Op::PayOut(to, amount) => self.keyed(
                0,
                "/payouts".into(),
                json!({ "to": format!("<U{to}>"), "amount": amount, "memo": "fare" }),
            ),
            Op::Retry(pick) => {
                match newest(pick, self.keyed.len()).map(|i| self.keyed[i].clone()) {
                    Some(r) => self.send(&r),
                    None => (Value::Null, Value::Null),
                }
            }
            Op::Conflict(pick, other_person) => {
                match newest(pick, self.keyed.len()).map(|i| self.keyed[i].clone()) {
                    Some(mut r) if other_person => {
                        r.who = (r.who + 1) % PEOPLE.len();
                        self.send(&r)
                    }
                    Some(mut r) => {
                        for field in ["amount", "total"] {
                            if let Some(n) = r.body[field].as_u64() {
                                r.body[field] = json!(n + 1);
                            }
                        }
                        if r.path.ends_with("/void") {
                            r.path = "/payments/pay_missing/void".into();
                        }
                        self.send(&r)
                    }
                    None => (Value::Null, Value::Null),
                }
            }
            Op::Advance(jump) => {
                let secs = if self.advanced {
                    PAST_EVERY_PERIOD
                } else {
                    JUMPS[jump % JUMPS.len()]
                };
                self.advanced = true;
                self.mock.b.advance(secs);
                self.real.b.advance(secs);
                (json!(secs), json!(secs))
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..PEOPLE.len();
    // Mostly small, sometimes what the rules refuse.
    let amount = prop_oneof![
        12 => 1..3_000u64,
        1 => Just(0u64),
        1 => Just(100_000_001u64),
    ];
    let mode = prop_oneof![Just("direct"), Just("escrow"), Just("hold")];
    let decision = prop_oneof![
        3 => Just(Decision::Confirm),
        1 => Just(Decision::Decline),
        1 => Just(Decision::Receipt),
    ];
    // Mostly the newest or the one before.
    let pick = prop_oneof![3 => 0..2usize, 1 => 0..64usize];
    prop_oneof![
        2 => (who.clone(), 1..20_000u64).prop_map(|(w, a)| Op::TopUp(w, a)),
        3 => (who.clone(), amount.clone(), mode).prop_map(|(w, a, m)| Op::Pay(w, a, m)),
        1 => (who.clone(), who.clone(), amount.clone()).prop_map(|(w, t, a)| Op::Transfer(w, t, a)),
        // A random split draws from the packet's seed, which the host takes
        // from the OS: only one share (it takes all) is the same on both.
        2 => (who.clone(), 0..400u64, 0..5u32, any::<bool>()).prop_map(|(w, t, c, equal)| {
            Op::Packet(w, t, if equal { c } else { c.min(1) }, equal)
        }),
        6 => (prop::option::weighted(0.2, who.clone()), pick.clone(), decision)
            .prop_map(|(w, p, d)| Op::Decide(w, p, d)),
        2 => (pick.clone(), amount.clone()).prop_map(|(p, a)| Op::Refund(p, a)),
        1 => (pick.clone(), amount.clone()).prop_map(|(p, a)| Op::Capture(p, a)),
        1 => pick.clone().prop_map(Op::Void),
        2 => (who.clone(), pick.clone()).prop_map(|(w, p)| Op::Claim(w, p)),
        1 => (who, amount).prop_map(|(t, a)| Op::PayOut(t, a)),
        1 => pick.clone().prop_map(Op::Retry),
        1 => (pick.clone(), any::<bool>()).prop_map(|(p, o)| Op::Conflict(p, o)),
        1 => (0..JUMPS.len()).prop_map(Op::Advance),
    ]
}

/// A step, or a short flow that gets far into a payment's or a packet's
/// life (asked, confirmed, then settled or claimed), which independent
/// random steps rarely do.
fn steps() -> impl Strategy<Value = Vec<Op>> {
    let who = 0..PEOPLE.len();
    let amount = 1..3_000u64;
    let mode = prop_oneof![Just("direct"), Just("escrow"), Just("hold")];
    let settle = prop_oneof![
        (amount.clone()).prop_map(|a| Op::Refund(0, a)),
        (amount.clone()).prop_map(|a| Op::Capture(0, a)),
        Just(Op::Void(0)),
        Just(Op::Decide(None, 0, Decision::Receipt)),
    ];
    let payment = (
        who.clone(),
        amount.clone(),
        mode,
        prop::collection::vec(settle, 1..3),
    )
        .prop_map(|(w, a, m, then)| {
            let mut flow = vec![Op::Pay(w, a, m), Op::Decide(None, 0, Decision::Confirm)];
            flow.extend(then);
            flow
        });
    let packet = (
        who.clone(),
        1..400u64,
        1..4u32,
        prop::collection::vec(who, 1..4),
    )
        .prop_map(|(w, total, count, claimers)| {
            let mut flow = vec![
                Op::Packet(w, total, count, true),
                Op::Decide(None, 0, Decision::Confirm),
            ];
            flow.extend(claimers.into_iter().map(|c| Op::Claim(c, 0)));
            flow
        });
    prop_oneof![
        6 => op().prop_map(|o| vec![o]),
        2 => payment,
        1 => packet,
    ]
}

/// One run: the steps on both sides, compared after each.
fn compare(template: &Template, flows: Vec<Vec<Op>>) -> Result<(), TestCaseError> {
    let mut run = Run::new(template).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    // Everyone starts with money, so more of the steps get past a confirm.
    let start = (0..PEOPLE.len()).map(|w| Op::TopUp(w, 10_000));
    for (i, op) in start.chain(flows.into_iter().flatten()).enumerate() {
        let (mock, real) = run.apply(&op);
        prop_assert_eq!(mock, real, "step {} ({:?}) answered differently", i, op);
        let (m, r) = (run.mock.b.balances(), run.real.b.balances());
        prop_assert_eq!(m, r, "balances after step {} ({:?})", i, op);
    }
    prop_assert_eq!(
        run.mock.events(),
        run.real.events(),
        "the events the app heard"
    );
    prop_assert_eq!(run.mock.b.invariants(), Ok(()));
    prop_assert_eq!(run.real.b.invariants(), Ok(()));
    Ok(())
}

#[test]
fn the_mock_host_answers_every_wallet_step_as_the_real_host_does() -> anyhow::Result<()> {
    let template = Template::new()?;
    // A failure prints its shrunk steps; nothing is written next to the
    // source (the runner is not the macro's, so it knows no source file).
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&prop::collection::vec(steps(), 1..30), |flows| {
            compare(&template, flows)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}
