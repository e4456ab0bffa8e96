//! How a red packet's next share is drawn: the "double mean" rule for random
//! packets, equal parts otherwise. Deterministic in the packet's secret seed
//! and the claim's position, so a replay draws the same shares.

use super::types::{Amount, Split};
use sha2::{Digest, Sha256};

/// The share of the claim at position `index` (from 0), given what is left.
/// Always ≥ 1 and leaves ≥ 1 for each later share; the last takes the rest.
pub fn next_share(
    split: Split,
    seed: &[u8; 32],
    index: u32,
    total: Amount,
    count: u32,
    remaining_amount: Amount,
    remaining_count: u32,
) -> Amount {
    if remaining_count <= 1 {
        return remaining_amount;
    }
    let others = Amount::from(remaining_count - 1);
    match split {
        Split::Equal => {
            let base = total / Amount::from(count);
            let extra = Amount::from(Amount::from(index) < total % Amount::from(count));
            base + extra
        }
        Split::Random => {
            // Uniform in [1, 2 × remaining average], but never so much that
            // a later share would get less than one minor unit.
            let cap = (remaining_amount.saturating_mul(2) / Amount::from(remaining_count))
                .min(remaining_amount - others)
                .max(1);
            1 + draw(seed, index) % cap
        }
    }
}

fn draw(seed: &[u8; 32], index: u32) -> u64 {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(index.to_be_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(split: Split, seed: u8, total: Amount, count: u32) -> Vec<Amount> {
        let mut left = total;
        (0..count)
            .map(|i| {
                let s = next_share(split, &[seed; 32], i, total, count, left, count - i);
                left -= s;
                s
            })
            .collect()
    }

    #[test]
    fn random_shares_sum_to_the_total_and_are_each_at_least_one_cent() {
        for seed in 0..=255u8 {
            for (total, count) in [(100, 100), (101, 100), (20_000, 100), (2, 2), (500, 7)] {
                let s = shares(Split::Random, seed, total, count);
                assert_eq!(s.iter().sum::<Amount>(), total);
                assert!(s.iter().all(|&x| x >= 1), "{s:?}");
            }
        }
    }

    #[test]
    fn random_draw_stays_within_twice_the_remaining_average() {
        let total = 10_000;
        let count = 10;
        let mut left = total;
        for i in 0..count - 1 {
            let s = next_share(Split::Random, &[9; 32], i, total, count, left, count - i);
            assert!(
                s <= 2 * left / Amount::from(count - i),
                "share {s} of {left}"
            );
            left -= s;
        }
    }

    #[test]
    fn equal_shares_differ_by_at_most_one_cent() {
        let s = shares(Split::Equal, 0, 1003, 10);
        assert_eq!(s.iter().sum::<Amount>(), 1003);
        assert_eq!(s.iter().filter(|&&x| x == 101).count(), 3);
        assert_eq!(s.iter().filter(|&&x| x == 100).count(), 7);
    }
}
