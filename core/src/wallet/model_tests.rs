//! Property tests: random sequences of every wallet operation, run through
//! the shared runner in `model` (the ledger against the reference model,
//! checked after every step), then the journal replayed to check that a
//! restart rebuilds the same state.

use super::model::{ADVANCES, APPS, Harness, Op, USERS};
use proptest::prelude::*;

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1u64..=3000,
        1 => Just(0u64),
        1 => Just(200_000_000u64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS;
    let a = 0..APPS;
    prop_oneof![
        3 => (u.clone(), amount()).prop_map(|(u, x)| Op::TopUp(u, x)),
        1 => (u.clone(), amount()).prop_map(|(u, x)| Op::Withdraw(u, x)),
        1 => (a.clone(), amount()).prop_map(|(a, x)| Op::WithdrawMerchant(a, x)),
        1 => (a.clone(), u.clone(), amount()).prop_map(|(a, u, x)| Op::Payout(a, u, x)),
        2 => (u.clone(), u.clone(), amount()).prop_map(|(f, t, x)| Op::Transfer(f, t, x)),
        3 => (a.clone(), u.clone(), amount(), 0u8..3).prop_map(|(a, u, x, m)| Op::Request(a, u, x, m)),
        1 => (a.clone(), u.clone(), u.clone(), amount()).prop_map(|(a, f, t, x)| Op::RequestTransfer(a, f, t, x)),
        1 => (a.clone(), u.clone(), 0u64..25_000, 0u32..120, any::<bool>())
            .prop_map(|(a, u, t, c, e)| Op::RequestPacket(a, u, t, c, e)),
        1 => (u.clone(), 0u64..25_000, 0u32..120, any::<bool>())
            .prop_map(|(u, t, c, e)| Op::SendPacket(u, t, c, e)),
        4 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Decline),
        1 => any::<usize>().prop_map(Op::Receipt),
        2 => (any::<usize>(), amount()).prop_map(|(p, x)| Op::Refund(p, x)),
        1 => (any::<usize>(), amount()).prop_map(|(p, x)| Op::Capture(p, x)),
        1 => any::<usize>().prop_map(Op::Void),
        4 => (any::<usize>(), u.clone()).prop_map(|(p, u)| Op::Claim(p, u)),
        1 => prop::sample::select(ADVANCES.to_vec()).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::Retry),
        1 => any::<usize>().prop_map(Op::Conflict),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_reference_model(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut h = Harness::new(seed);
        for op in ops {
            h.step(op);
        }
        h.check_restart();
    }
}
