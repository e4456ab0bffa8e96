//! A token bucket on a clock the caller passes in (unix seconds): bursts up
//! to `per_minute`, refilled evenly over each minute. No clock is read here,
//! so a test moves time as it likes.

/// One budget's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    /// When it was last refilled (unix seconds).
    last: i64,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(per_minute: u32, now: i64) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(per_minute),
            last: now,
        }
    }

    /// Takes one token at `now` if there is one. A clock that steps back
    /// refills nothing (and takes nothing away).
    pub fn take(&mut self, per_minute: u32, now: i64) -> bool {
        let cap = f64::from(per_minute);
        let elapsed = now.saturating_sub(self.last).max(0);
        let refill = elapsed as f64 * cap / 60.0;
        self.tokens = (self.tokens + refill).min(cap);
        self.last = self.last.max(now);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn a_burst_up_to_the_budget_then_refused_until_time_refills_it() {
        let mut b = TokenBucket::full(3, 1000);
        assert!((0..3).all(|_| b.take(3, 1000)), "a burst of three");
        assert!(!b.take(3, 1000), "the fourth in the same second");
        assert!(!b.take(3, 1019), "a third of a token after 19 s");
        assert!(b.take(3, 1020), "one token back after 20 s");
        assert!(!b.take(3, 1020));
        assert!(
            (0..3).all(|_| b.take(3, 2000)),
            "full again after a long wait"
        );
        assert!(!b.take(3, 2000), "never more than the budget");
    }

    #[test]
    fn a_clock_that_steps_back_refills_nothing() {
        let mut b = TokenBucket::full(1, 1000);
        assert!(b.take(1, 1000));
        assert!(!b.take(1, 900), "back in time");
        assert!(!b.take(1, 1059), "still measured from the latest time seen");
        assert!(b.take(1, 1060));
    }
}
