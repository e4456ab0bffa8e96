//! The one delivery engine for everything a mini-app is sent at least once
//! (wallet events and people's messages now; merchant webhooks later):
//! each pass takes what is due, hands it to the app's `on-event`, and marks
//! it delivered, or failed with its next try on the shared retry schedule,
//! or given up after the last. One batch size, one schedule, one place that
//! gives up; each queue only says how its items are stored and shown.

use super::Superapp;
use crate::capabilities::GuestEvent;
use crate::store::StoreError;
use std::future::Future;

/// Delay before each retry of a failed delivery, in seconds: 15 tries over
/// about 18 hours, as payment notifications are commonly retried.
const RETRY_DELAYS: [i64; 14] = [
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    3 * 3600,
    3 * 3600,
    3 * 3600,
    6 * 3600,
];

/// Most items one pass takes from a queue.
const BATCH: usize = 256;

/// When to try again after `attempts` failed tries; none after the last.
fn next_try(attempts: u32, now: i64) -> Option<i64> {
    RETRY_DELAYS
        .get((attempts as usize).checked_sub(1)?)
        .map(|delay| now + delay)
}

/// What one delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub delivered: u32,
    pub failed: u32,
    /// Failed for the last time; kept in the outbox, marked given up.
    pub gave_up: u32,
    /// For apps no longer installed: dropped.
    pub dropped: u32,
}

/// One item waiting in a queue, as the engine needs it.
pub(crate) trait Queued: Send {
    /// The app it is for.
    fn app(&self) -> &str;
    /// The person it is about (internal user id).
    fn user(&self) -> &str;
    /// For logs: what it is (`event 12`, `message 7`).
    fn label(&self) -> String;
    /// The event the app's `on-event` receives, with the person's open id.
    fn event(&self, open_id: Option<String>) -> GuestEvent;
    /// Its retry state, which the engine alone changes.
    fn retry(&mut self) -> Retry<'_>;
}

/// The retry state a queued item stores (in its own record's fields).
pub(crate) struct Retry<'a> {
    pub attempts: &'a mut u32,
    /// Unix seconds of the next try.
    pub next_at: &'a mut i64,
    pub last_error: &'a mut Option<String>,
    /// Every retry failed; kept for the operator, not tried again.
    pub gave_up: &'a mut bool,
}

/// A queue of items delivered at least once: how they are stored.
pub(crate) trait Queue: Sync {
    /// Its name in `/metrics` (`wallet-events`, `messages`).
    const NAME: &'static str;
    type Item: Queued;
    type Error: From<StoreError> + std::fmt::Display;
    /// Items due by `now`, oldest first, at most `limit`.
    fn due(&self, now: i64, limit: usize) -> Result<Vec<Self::Item>, Self::Error>;
    /// Removes a delivered (or dropped) item, durably.
    fn delivered(&self, item: &Self::Item) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Stores a failed item with its new retry state, durably.
    fn failed(&self, item: Self::Item) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Counts one delivery outcome for `/metrics`.
fn count(queue: &'static str, outcome: &'static str) {
    metrics::counter!("superapp_event_deliveries_total", "queue" => queue, "outcome" => outcome)
        .increment(1);
}

impl Superapp {
    /// One pass over `queue`: hands each item due by `now` to its app.
    pub(crate) async fn deliver<Q: Queue>(
        &self,
        queue: &Q,
        now: i64,
    ) -> Result<DeliveryReport, Q::Error> {
        // One pass at a time in this host: an operator's "deliver now"
        // waits for the background pass in flight (whose items are claimed)
        // instead of finding nothing and returning early.
        let _pass = self.delivering.lock().await;
        let mut report = DeliveryReport::default();
        for mut item in queue.due(now, BATCH)? {
            let Ok(app) = self.loaded_app(item.app()) else {
                tracing::info!(app = %item.app(), what = %item.label(), "app gone; dropped");
                queue.delivered(&item).await?;
                report.dropped += 1;
                count(Q::NAME, "dropped");
                continue;
            };
            let answer = match self.caps_for(&app, Some(item.user().to_string()), None) {
                Ok(caps) => {
                    let event = item.event(caps.user.as_ref().map(|u| u.open_id.clone()));
                    match self.runtime.deliver_event(&app, caps, event).await {
                        Ok(answer) => answer,
                        Err(e) => Err(format!("[{}] {e}", e.code())),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match answer {
                Ok(()) => {
                    queue.delivered(&item).await?;
                    report.delivered += 1;
                    count(Q::NAME, "delivered");
                }
                Err(why) => {
                    let attempts = {
                        let retry = item.retry();
                        *retry.attempts += 1;
                        *retry.attempts
                    };
                    match next_try(attempts, now) {
                        Some(at) => {
                            *item.retry().next_at = at;
                            report.failed += 1;
                            count(Q::NAME, "retry");
                        }
                        None => {
                            *item.retry().gave_up = true;
                            tracing::warn!(app = %item.app(), what = %item.label(), error = %why, "delivery given up");
                            report.gave_up += 1;
                            count(Q::NAME, "gave-up");
                        }
                    }
                    *item.retry().last_error = Some(why);
                    queue.failed(item).await?;
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_and_stop_after_the_last() {
        assert_eq!(next_try(0, 100), None, "no try is a retry before a failure");
        assert_eq!(next_try(1, 100), Some(115));
        assert_eq!(next_try(4, 100), Some(280));
        assert_eq!(next_try(14, 0), Some(6 * 3600));
        assert_eq!(next_try(15, 0), None, "15 tries in all, then given up");
        let total: i64 = RETRY_DELAYS.iter().sum();
        assert_eq!(total, 65_040, "the last try about 18 hours after the first");
    }
}
