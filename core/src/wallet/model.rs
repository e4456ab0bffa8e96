//! The ledger's reference model and the sequence runner shared by the
//! property test (`model_tests`) and the `ledger` fuzz target: operations
//! run against the real [`Ledger`] and against a deliberately simple model
//! written separately; after every step the balances, totals, payment
//! states and the ledger's own invariants must agree, and the journal must
//! replay into the same state (a restart). A disagreement panics: that is
//! how both proptest and libFuzzer are told. Nothing here is built into the
//! host outside tests and the `fuzzing` feature.

use super::WalletError;
use super::ledger::Ledger;
use super::types::*;
use std::collections::BTreeMap;

/// People in a run (`u_000…0` to `u_000…3`).
pub const USERS: u8 = 4;
/// Mini-apps in a run (`app0`, `app1`).
pub const APPS: u8 = 2;
/// The time a run starts at.
const START: i64 = 1_000_000;
/// Most operations one fuzz input runs (each step checks every payment).
const MAX_OPS: usize = 512;

/// One step of a run. Indices pick among the payments, packets or keyed
/// commands so far (modulo their number); users and apps are taken modulo
/// `USERS` and `APPS`.
#[derive(Debug, Clone)]
pub enum Op {
    TopUp(u8, u64),
    Withdraw(u8, u64),
    WithdrawMerchant(u8, u64),
    Payout(u8, u8, u64),
    Transfer(u8, u8, u64),
    Request(u8, u8, u64, u8),
    RequestTransfer(u8, u8, u8, u64),
    RequestPacket(u8, u8, u64, u32, bool),
    SendPacket(u8, u64, u32, bool),
    Confirm(usize),
    Decline(usize),
    Receipt(usize),
    Refund(usize, u64),
    Capture(usize, u64),
    Void(usize),
    Claim(usize, u8),
    Advance(i64),
    Retry(usize),
    Conflict(usize),
}

/// The clock steps a run takes: past an intent's, a packet's, a hold's and
/// an escrow's lifetime.
pub const ADVANCES: [i64; 6] = [60, 901, 3600, 86_401, 7 * 86_400 + 1, 10 * 86_400 + 1];

/// Runs the operations `data` decodes to (see [`decode`]) and checks the
/// restart; panics on the first disagreement. The `ledger` fuzz target.
pub fn run(data: &[u8]) {
    run_harness(data);
}

/// `run`, returning the harness (its ledger and journal) for checks of
/// its own: the store's model test replays the journal from a backend.
pub fn run_harness(data: &[u8]) -> Harness {
    let mut input = Input(data);
    let mut h = Harness::new(input.u64());
    for op in decode(&mut input) {
        h.step(op);
    }
    h.check_restart();
    h
}

/// Bytes as a source of values; reads past the end give zeros, so every
/// input is a valid run.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.u8()) << (8 * i))
    }

    /// Mostly small amounts, sometimes the edges the rules care about.
    fn amount(&mut self) -> u64 {
        let max = Rules::default().max_amount;
        match self.u8() {
            0..=199 => 1 + u64::from(self.u16()) % 3000,
            200..=219 => 0,
            220..=229 => 200_000_000,
            230..=239 => max,
            240..=249 => max + 1,
            _ => self.u64(),
        }
    }
}

/// The operations `input` encodes, one tag byte and its fields each, until
/// the input ends (at most `MAX_OPS`).
fn decode(input: &mut Input) -> Vec<Op> {
    let mut ops = Vec::new();
    while !input.0.is_empty() && ops.len() < MAX_OPS {
        let u = |i: &mut Input| i.u8() % USERS;
        let a = |i: &mut Input| i.u8() % APPS;
        let op = match input.u8() % 19 {
            0 => Op::TopUp(u(input), input.amount()),
            1 => Op::Withdraw(u(input), input.amount()),
            2 => Op::WithdrawMerchant(a(input), input.amount()),
            3 => Op::Payout(a(input), u(input), input.amount()),
            4 => Op::Transfer(u(input), u(input), input.amount()),
            5 => Op::Request(a(input), u(input), input.amount(), input.u8() % 3),
            6 => Op::RequestTransfer(a(input), u(input), u(input), input.amount()),
            7 => Op::RequestPacket(
                a(input),
                u(input),
                u64::from(input.u16()) % 25_000,
                u32::from(input.u8()) % 120,
                input.u8() & 1 == 1,
            ),
            8 => Op::SendPacket(
                u(input),
                u64::from(input.u16()) % 25_000,
                u32::from(input.u8()) % 120,
                input.u8() & 1 == 1,
            ),
            9 => Op::Confirm(input.u16().into()),
            10 => Op::Decline(input.u16().into()),
            11 => Op::Receipt(input.u16().into()),
            12 => Op::Refund(input.u16().into(), input.amount()),
            13 => Op::Capture(input.u16().into(), input.amount()),
            14 => Op::Void(input.u16().into()),
            15 => Op::Claim(input.u16().into(), u(input)),
            16 => Op::Advance(ADVANCES[usize::from(input.u8()) % ADVANCES.len()]),
            17 => Op::Retry(input.u16().into()),
            _ => Op::Conflict(input.u16().into()),
        };
        ops.push(op);
    }
    ops
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MKind {
    Direct,
    Escrow,
    Hold,
    Transfer(u8),
    Packet(usize),
}

#[derive(Debug, Clone)]
struct MPay {
    id: String,
    app: u8,
    payer: u8,
    kind: MKind,
    amount: u64,
    status: PaymentStatus,
    confirmed: bool,
    expires_at: i64,
    due_at: i64,
    refunded: u64,
    refunds: u32,
    captured: u64,
}

#[derive(Debug, Clone)]
struct MPacket {
    id: String,
    sender: u8,
    total: u64,
    count: u32,
    claims: BTreeMap<u8, u64>,
    remaining: u64,
    status: PacketStatus,
    expires_at: i64,
}

/// The reference model: plain maps and the rules written out again.
#[derive(Debug, Default)]
struct Model {
    users: BTreeMap<u8, u64>,
    merchants: BTreeMap<u8, u64>,
    issued: u64,
    redeemed: u64,
    pays: Vec<MPay>,
    packets: Vec<MPacket>,
}

fn user(u: u8) -> String {
    format!("u_{u:032}")
}
fn app(a: u8) -> String {
    format!("app{a}")
}

impl Model {
    fn bal(&mut self, u: u8) -> &mut u64 {
        self.users.entry(u).or_insert(0)
    }
    fn merch(&mut self, a: u8) -> &mut u64 {
        self.merchants.entry(a).or_insert(0)
    }

    fn sweep(&mut self, now: i64) {
        for i in 0..self.pays.len() {
            let p = self.pays[i].clone();
            match p.status {
                PaymentStatus::Pending if p.expires_at <= now => {
                    self.pays[i].status = PaymentStatus::Expired;
                    if let MKind::Packet(k) = p.kind {
                        self.packets[k].status = PacketStatus::Cancelled;
                    }
                }
                PaymentStatus::Escrowed if p.due_at <= now => {
                    *self.merch(p.app) += p.amount - p.refunded;
                    self.pays[i].status = PaymentStatus::Released;
                }
                PaymentStatus::Held if p.due_at <= now => {
                    *self.bal(p.payer) += p.amount;
                    self.pays[i].status = PaymentStatus::Voided;
                }
                _ => {}
            }
        }
        for i in 0..self.packets.len() {
            let r = self.packets[i].clone();
            if r.status == PacketStatus::Open && r.expires_at <= now {
                *self.bal(r.sender) += r.remaining;
                self.packets[i].remaining = 0;
                self.packets[i].status = PacketStatus::Expired;
            }
        }
    }
}

/// Payment requests one app may have waiting for one person, and in all,
/// in a run: small, so runs reach both caps.
const PENDING_PER_PERSON: usize = 3;
const PENDING_PER_APP: usize = 6;

/// The rules a run is decided under.
pub fn rules() -> Rules {
    Rules {
        max_pending_per_person: PENDING_PER_PERSON as u32,
        max_pending_per_app: PENDING_PER_APP as u32,
        ..Rules::default()
    }
}

impl Model {
    /// Whether app `a` may ask person `u` for another payment.
    fn pending_room(&self, a: u8, u: u8) -> bool {
        let waiting = |f: &dyn Fn(&MPay) -> bool| {
            self.pays
                .iter()
                .filter(|p| p.status == PaymentStatus::Pending && p.app == a && f(p))
                .count()
        };
        waiting(&|p| p.payer == u) < PENDING_PER_PERSON && waiting(&|_| true) < PENDING_PER_APP
    }
}

fn valid(x: u64) -> bool {
    (1..=Rules::default().max_amount).contains(&x)
}

fn packet_ok(total: u64, count: u32) -> bool {
    (1..=100).contains(&count) && total <= 20_000 && total >= u64::from(count)
}

/// One run: the ledger, the model, the clock and what a restart replays.
pub struct Harness {
    ledger: Ledger,
    model: Model,
    now: i64,
    step: usize,
    /// State of the generator of fresh ids and seeds (runs are repeatable).
    fresh: u64,
    keyed: Vec<(Command, Outcome)>,
    journal: Vec<(Command, Fresh, i64)>,
}

impl Harness {
    /// Every command that changed the ledger, with what its replay needs.
    pub fn journal(&self) -> &[(Command, Fresh, i64)] {
        &self.journal
    }

    /// The ledger the run built.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// An empty ledger at the start time; `seed` drives the fresh ids and
    /// the red packets' random splits.
    pub fn new(seed: u64) -> Harness {
        Harness {
            ledger: Ledger::new(rules()),
            model: Model::default(),
            now: START,
            step: 0,
            fresh: seed,
            keyed: Vec::new(),
            journal: Vec::new(),
        }
    }

    /// splitmix64: enough to make every run's ids and splits differ.
    fn next_fresh(&mut self) -> u64 {
        self.fresh = self.fresh.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.fresh;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fresh values as the edge draws them: only for commands that create
    /// something, unique within the run.
    fn fresh_for(&mut self, cmd: &Command) -> Fresh {
        if !Fresh::needed(cmd) {
            return Fresh::none();
        }
        let id = format!("{:016x}{:016x}", self.next_fresh(), self.next_fresh());
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_fresh().to_le_bytes());
        }
        Fresh { id, seed }
    }

    fn run(&mut self, cmd: Command) -> Result<Outcome, WalletError> {
        let fresh = self.fresh_for(&cmd);
        let before = self.ledger.version();
        let r = self.ledger.apply(&cmd, &fresh, self.now);
        if r.is_err() {
            assert_eq!(
                self.ledger.version(),
                before,
                "a refused command changes nothing: {cmd:?} {r:?}"
            );
        }
        if self.ledger.version() != before {
            self.journal.push((cmd.clone(), fresh, self.now));
        }
        if let Ok(o) = &r
            && cmd.idempotency().is_some()
        {
            self.keyed.push((cmd, o.clone()));
        }
        r
    }

    fn key(&self) -> String {
        format!("key-{:06}", self.step)
    }

    /// Runs `op` on the ledger and the model and checks that they agree.
    pub fn step(&mut self, op: Op) {
        self.step += 1;
        let key = self.key();
        let now = self.now;
        match op {
            Op::TopUp(u, x) => {
                let r = self.run(Command::TopUp {
                    user: user(u),
                    amount: x,
                    key,
                });
                assert_eq!(r.is_ok(), valid(x), "top-up {x}: {r:?}");
                if r.is_ok() {
                    *self.model.bal(u) += x;
                    self.model.issued += x;
                }
            }
            Op::Withdraw(u, x) => {
                let expect = valid(x) && *self.model.bal(u) >= x;
                let r = self.run(Command::Withdraw {
                    holder: Holder::User(user(u)),
                    amount: x,
                    key,
                });
                assert_eq!(r.is_ok(), expect, "withdraw {x}: {r:?}");
                if expect {
                    *self.model.bal(u) -= x;
                    self.model.redeemed += x;
                }
            }
            Op::WithdrawMerchant(a, x) => {
                let expect = valid(x) && *self.model.merch(a) >= x;
                let r = self.run(Command::Withdraw {
                    holder: Holder::Merchant(app(a)),
                    amount: x,
                    key,
                });
                assert_eq!(r.is_ok(), expect, "merchant withdraw {x}: {r:?}");
                if expect {
                    *self.model.merch(a) -= x;
                    self.model.redeemed += x;
                }
            }
            Op::Payout(a, u, x) => {
                let expect = valid(x) && *self.model.merch(a) >= x;
                let r = self.run(Command::Payout {
                    app: app(a),
                    to: user(u),
                    amount: x,
                    memo: "fare".into(),
                    key,
                });
                assert_eq!(r.is_ok(), expect, "payout {x}: {r:?}");
                if expect {
                    *self.model.merch(a) -= x;
                    *self.model.bal(u) += x;
                }
            }
            Op::Transfer(f, t, x) => {
                let expect = f != t && valid(x) && *self.model.bal(f) >= x;
                let r = self.run(Command::Transfer {
                    from: user(f),
                    to: user(t),
                    amount: x,
                    memo: "m".into(),
                    key,
                });
                assert_eq!(r.is_ok(), expect, "transfer {f}->{t} {x}: {r:?}");
                if expect {
                    *self.model.bal(f) -= x;
                    *self.model.bal(t) += x;
                }
            }
            Op::Request(a, u, x, m) => {
                let (mode, kind) = match m {
                    0 => (PaymentMode::Direct, MKind::Direct),
                    1 => (PaymentMode::Escrow, MKind::Escrow),
                    _ => (PaymentMode::Hold, MKind::Hold),
                };
                let r = self.run(Command::RequestPayment {
                    app: app(a),
                    user: user(u),
                    amount: x,
                    memo: String::new(),
                    mode,
                    key,
                });
                let room = self.model.pending_room(a % APPS, u % USERS);
                assert_eq!(r.is_ok(), valid(x) && room, "request {x}: {r:?}");
                if valid(x) && !room {
                    assert!(matches!(r, Err(WalletError::TooManyPending(_))), "{r:?}");
                }
                if let Ok(Outcome::Payment(p)) = r {
                    self.new_pay(p.id, a, u, kind, x);
                }
            }
            Op::RequestTransfer(a, f, t, x) => {
                let r = self.run(Command::RequestTransfer {
                    app: app(a),
                    from: user(f),
                    to: user(t),
                    amount: x,
                    memo: String::new(),
                    key,
                });
                let room = self.model.pending_room(a % APPS, f % USERS);
                assert_eq!(
                    r.is_ok(),
                    f != t && valid(x) && room,
                    "request transfer: {r:?}"
                );
                if let Ok(Outcome::Payment(p)) = r {
                    self.new_pay(p.id, a, f, MKind::Transfer(t), x);
                }
            }
            Op::RequestPacket(a, u, total, count, equal) => {
                let spec = spec(total, count, equal);
                let r = self.run(Command::RequestRedPacket {
                    app: app(a),
                    user: user(u),
                    spec,
                    key,
                });
                let room = self.model.pending_room(a % APPS, u % USERS);
                assert_eq!(
                    r.is_ok(),
                    packet_ok(total, count) && room,
                    "request packet: {r:?}"
                );
                if let Ok(Outcome::Payment(p)) = r {
                    let PaymentKind::RedPacket { packet } = &p.kind else {
                        panic!("not a packet intent: {p:?}")
                    };
                    self.model.packets.push(MPacket {
                        id: packet.clone(),
                        sender: u,
                        total,
                        count,
                        claims: BTreeMap::new(),
                        remaining: 0,
                        status: PacketStatus::Unfunded,
                        expires_at: 0,
                    });
                    let k = self.model.packets.len() - 1;
                    self.new_pay(p.id, a, u, MKind::Packet(k), total);
                }
            }
            Op::SendPacket(u, total, count, equal) => {
                let expect = packet_ok(total, count) && *self.model.bal(u) >= total;
                let r = self.run(Command::CreateRedPacket {
                    user: user(u),
                    spec: spec(total, count, equal),
                    key,
                });
                assert_eq!(r.is_ok(), expect, "send packet: {r:?}");
                if let Ok(Outcome::Packet(p)) = r {
                    *self.model.bal(u) -= total;
                    self.model.packets.push(MPacket {
                        id: p.id,
                        sender: u,
                        total,
                        count,
                        claims: BTreeMap::new(),
                        remaining: total,
                        status: PacketStatus::Open,
                        expires_at: now + 86_400,
                    });
                }
            }
            Op::Confirm(i) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let fresh = p.status == PaymentStatus::Pending
                    && now < p.expires_at
                    && *self.model.bal(p.payer) >= p.amount;
                let expect = fresh || p.confirmed;
                let r = self.run(Command::Confirm {
                    user: user(p.payer),
                    payment: p.id.clone(),
                });
                assert_eq!(r.is_ok(), expect, "confirm {p:?}: {r:?}");
                if fresh {
                    *self.model.bal(p.payer) -= p.amount;
                    let m = &mut self.model.pays[i];
                    m.confirmed = true;
                    match p.kind {
                        MKind::Direct => {
                            m.status = PaymentStatus::Paid;
                            *self.model.merch(p.app) += p.amount;
                        }
                        MKind::Escrow => {
                            m.status = PaymentStatus::Escrowed;
                            m.due_at = now + 10 * 86_400;
                        }
                        MKind::Hold => {
                            m.status = PaymentStatus::Held;
                            m.due_at = now + 7 * 86_400;
                        }
                        MKind::Transfer(t) => {
                            m.status = PaymentStatus::Paid;
                            *self.model.bal(t) += p.amount;
                        }
                        MKind::Packet(k) => {
                            m.status = PaymentStatus::Paid;
                            let r = &mut self.model.packets[k];
                            r.status = PacketStatus::Open;
                            r.remaining = r.total;
                            r.expires_at = now + 86_400;
                        }
                    }
                }
            }
            Op::Decline(i) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let expect = matches!(p.status, PaymentStatus::Pending | PaymentStatus::Declined);
                let r = self.run(Command::Decline {
                    user: user(p.payer),
                    payment: p.id.clone(),
                });
                assert_eq!(r.is_ok(), expect, "decline: {r:?}");
                if p.status == PaymentStatus::Pending {
                    self.model.pays[i].status = PaymentStatus::Declined;
                    if let MKind::Packet(k) = p.kind {
                        self.model.packets[k].status = PacketStatus::Cancelled;
                    }
                }
            }
            Op::Receipt(i) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let expect = matches!(p.status, PaymentStatus::Escrowed | PaymentStatus::Released);
                let r = self.run(Command::ConfirmReceipt {
                    user: user(p.payer),
                    payment: p.id.clone(),
                });
                assert_eq!(r.is_ok(), expect, "receipt: {r:?}");
                if p.status == PaymentStatus::Escrowed {
                    *self.model.merch(p.app) += p.amount - p.refunded;
                    self.model.pays[i].status = PaymentStatus::Released;
                }
            }
            Op::Refund(i, x) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let settled = match (p.kind, p.status) {
                    (MKind::Hold, PaymentStatus::Captured) => p.captured,
                    (MKind::Direct, PaymentStatus::Paid)
                    | (MKind::Escrow, PaymentStatus::Escrowed | PaymentStatus::Released) => {
                        p.amount
                    }
                    _ => 0,
                };
                let escrowed = p.status == PaymentStatus::Escrowed;
                let expect = settled > 0
                    && x >= 1
                    && x <= settled - p.refunded
                    && p.refunds < 50
                    && (escrowed || *self.model.merch(p.app) >= x);
                let r = self.run(Command::Refund {
                    app: app(p.app),
                    payment: p.id.clone(),
                    amount: x,
                    key,
                });
                assert_eq!(r.is_ok(), expect, "refund {x} of {p:?}: {r:?}");
                if expect {
                    if !escrowed {
                        *self.model.merch(p.app) -= x;
                    }
                    *self.model.bal(p.payer) += x;
                    let m = &mut self.model.pays[i];
                    m.refunded += x;
                    m.refunds += 1;
                    if m.refunded == settled {
                        m.status = PaymentStatus::Refunded;
                    }
                }
            }
            Op::Capture(i, x) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let expect = p.status == PaymentStatus::Held && x >= 1 && x <= p.amount;
                let r = self.run(Command::Capture {
                    app: app(p.app),
                    payment: p.id.clone(),
                    amount: x,
                    key,
                });
                assert_eq!(r.is_ok(), expect, "capture {x} of {p:?}: {r:?}");
                if expect {
                    *self.model.merch(p.app) += x;
                    *self.model.bal(p.payer) += p.amount - x;
                    let m = &mut self.model.pays[i];
                    m.status = PaymentStatus::Captured;
                    m.captured = x;
                }
            }
            Op::Void(i) => {
                let Some(i) = pick(i, self.model.pays.len()) else {
                    return;
                };
                let p = self.model.pays[i].clone();
                let expect = p.status == PaymentStatus::Held;
                let r = self.run(Command::Void {
                    app: app(p.app),
                    payment: p.id.clone(),
                    key,
                });
                assert_eq!(r.is_ok(), expect, "void {p:?}: {r:?}");
                if expect {
                    *self.model.bal(p.payer) += p.amount;
                    self.model.pays[i].status = PaymentStatus::Voided;
                }
            }
            Op::Claim(i, u) => {
                let Some(i) = pick(i, self.model.packets.len()) else {
                    return;
                };
                let r0 = self.model.packets[i].clone();
                let again = r0.claims.get(&u).copied();
                let open = r0.status == PacketStatus::Open && now < r0.expires_at;
                let r = self.run(Command::Claim {
                    user: user(u),
                    packet: r0.id.clone(),
                    via_app: None,
                });
                match (again, open, r) {
                    (Some(first), _, Ok(Outcome::Claim(c))) => {
                        assert!(!c.new);
                        assert_eq!(c.amount, first, "a second claim returns the first share");
                    }
                    (None, true, Ok(Outcome::Claim(c))) => {
                        assert!(c.new);
                        let left = r0.count - r0.claims.len() as u32;
                        assert!(c.amount >= 1, "every share is at least one minor unit");
                        assert!(
                            c.amount <= r0.remaining - u64::from(left - 1),
                            "leaves one unit per later share"
                        );
                        if left == 1 {
                            assert_eq!(c.amount, r0.remaining, "the last share takes the rest");
                        }
                        *self.model.bal(u) += c.amount;
                        let m = &mut self.model.packets[i];
                        m.remaining -= c.amount;
                        m.claims.insert(u, c.amount);
                        if m.claims.len() as u32 == m.count {
                            m.status = PacketStatus::Empty;
                        }
                    }
                    (None, false, Err(_)) => {}
                    (again, open, r) => panic!("claim: again {again:?} open {open}: {r:?}"),
                }
            }
            Op::Advance(secs) => {
                self.now += secs;
                let r = self.run(Command::Sweep);
                assert!(r.is_ok(), "sweep: {r:?}");
                self.model.sweep(self.now);
            }
            Op::Retry(i) => {
                let Some(i) = pick(i, self.keyed.len()) else {
                    return;
                };
                let (cmd, first) = self.keyed[i].clone();
                let before = self.ledger.version();
                // Other fresh values than the first time: a retry must not use them.
                let fresh = self.fresh_for(&cmd);
                let again = self.ledger.apply(&cmd, &fresh, self.now);
                assert_eq!(again.ok(), Some(first), "a retry returns the first result");
                assert_eq!(self.ledger.version(), before, "a retry changes nothing");
            }
            Op::Conflict(i) => {
                let Some(i) = pick(i, self.keyed.len()) else {
                    return;
                };
                let (mut cmd, _) = self.keyed[i].clone();
                match &mut cmd {
                    Command::TopUp { amount, .. }
                    | Command::Withdraw { amount, .. }
                    | Command::Transfer { amount, .. }
                    | Command::RequestPayment { amount, .. }
                    | Command::RequestTransfer { amount, .. }
                    | Command::Refund { amount, .. }
                    | Command::Capture { amount, .. }
                    | Command::Payout { amount, .. } => *amount += 1,
                    Command::RequestRedPacket { spec, .. }
                    | Command::CreateRedPacket { spec, .. } => spec.greeting.push('!'),
                    Command::Void { payment, .. } => payment.push('x'),
                    _ => return,
                }
                let before = self.ledger.version();
                let fresh = self.fresh_for(&cmd);
                let r = self.ledger.apply(&cmd, &fresh, self.now);
                assert!(
                    matches!(r, Err(WalletError::IdempotencyConflict { .. })),
                    "a reused key with other parameters is refused: {r:?}"
                );
                assert_eq!(self.ledger.version(), before);
            }
        }
        self.check();
    }

    fn new_pay(&mut self, id: String, a: u8, u: u8, kind: MKind, amount: u64) {
        self.model.pays.push(MPay {
            id,
            app: a,
            payer: u,
            kind,
            amount,
            status: PaymentStatus::Pending,
            confirmed: false,
            expires_at: self.now + 900,
            due_at: 0,
            refunded: 0,
            refunds: 0,
            captured: 0,
        });
    }

    fn check(&mut self) {
        if let Err(e) = self.ledger.check_invariants() {
            panic!("invariant: {e}");
        }
        let _ = self.ledger.take_appended();
        for u in 0..USERS {
            let want = *self.model.bal(u);
            assert_eq!(
                self.ledger.balance(&Account::User(user(u))),
                want,
                "user {u}"
            );
        }
        for a in 0..APPS {
            let want = *self.model.merch(a);
            assert_eq!(
                self.ledger.balance(&Account::Merchant(app(a))),
                want,
                "merchant {a}"
            );
        }
        let t = self.ledger.totals();
        assert_eq!(
            (t.issued, t.redeemed),
            (self.model.issued, self.model.redeemed)
        );
        assert_eq!(
            t.held as i128,
            self.model.issued as i128 - self.model.redeemed as i128,
            "conservation"
        );
        for p in &self.model.pays {
            let got = self.ledger.payment(&p.id).map(|x| x.status);
            assert_eq!(got, Some(p.status), "status of {}", p.id);
        }
        for r in &self.model.packets {
            let got = self.ledger.packet(&r.id).map(|x| (x.status, x.remaining));
            assert_eq!(got, Some((r.status, r.remaining)), "packet {}", r.id);
        }
    }

    /// A restart replays the journal into the same state.
    pub fn check_restart(&self) {
        let mut again = Ledger::new(rules());
        for (cmd, fresh, now) in &self.journal {
            let r = again.apply(cmd, fresh, *now);
            assert!(r.is_ok(), "the journal replays: {cmd:?} {r:?}");
        }
        assert_eq!(again.totals(), self.ledger.totals(), "totals after replay");
        assert_eq!(
            again.balances_where(|_| true),
            self.ledger.balances_where(|_| true),
            "balances after replay"
        );
    }
}

fn spec(total: u64, count: u32, equal: bool) -> PacketSpec {
    PacketSpec {
        total,
        count,
        split: if equal { Split::Equal } else { Split::Random },
        greeting: "恭喜发财".into(),
    }
}

fn pick(i: usize, len: usize) -> Option<usize> {
    (len > 0).then(|| i % len)
}
