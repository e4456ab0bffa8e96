//! The access log: what each mini-app did with a person's data (which
//! capability, when, and whether the host allowed it), kept for the person
//! to read. Appended after each call in one batch, one entry per
//! (capability, outcome) with a count, so a call that reads the same thing
//! many times costs one write.

use super::{Identity, IdentityError, now, rfc3339};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a capability call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessOutcome {
    /// The host answered with the person's data (or wrote it).
    Allowed,
    /// The host refused (no grant, or not declared).
    Denied,
    /// The host failed or the request was invalid.
    Failed,
}

/// One capability use inside a call, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessRecord {
    /// e.g. `identity.profile`, `storage.user`.
    pub capability: &'static str,
    pub outcome: AccessOutcome,
}

/// A stored access-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    pub app: String,
    pub capability: String,
    pub outcome: AccessOutcome,
    /// How many such uses the call made.
    pub count: u32,
    pub at: i64,
}

impl AccessEntry {
    pub fn at_text(&self) -> String {
        rfc3339(self.at)
    }
}

/// Orders entries written in the same nanosecond.
static SEQ: AtomicU64 = AtomicU64::new(0);

impl Identity {
    /// Appends what one call of `app` did with `user_id`'s data.
    pub fn record_access(
        &self,
        user_id: &str,
        app: &str,
        records: &[AccessRecord],
    ) -> Result<(), IdentityError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut counted: Vec<(&AccessRecord, u32)> = Vec::new();
        for r in records {
            match counted.iter_mut().find(|(c, _)| *c == r) {
                Some((_, n)) => *n += 1,
                None => counted.push((r, 1)),
            }
        }
        let at = now();
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let entries: Vec<(String, AccessEntry)> = counted
            .into_iter()
            .map(|(r, count)| {
                let seq = SEQ.fetch_add(1, Ordering::Relaxed);
                (
                    format!("{user_id}\0{nanos:020}{seq:012}"),
                    AccessEntry {
                        app: app.to_string(),
                        capability: r.capability.to_string(),
                        outcome: r.outcome,
                        count,
                        at,
                    },
                )
            })
            .collect();
        self.access.insert_all(&entries)?;
        Ok(())
    }

    /// The person's newest `limit` entries, optionally of one app only.
    pub fn access_log(
        &self,
        user_id: &str,
        app: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AccessEntry>, IdentityError> {
        Ok(self
            .access
            .scan_prefix(&format!("{user_id}\0"), true, limit, |e| {
                app.is_none_or(|a| e.app == a)
            })?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[test]
    fn repeated_uses_in_one_call_become_one_counted_entry_newest_first() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        let read = AccessRecord {
            capability: "storage.user",
            outcome: AccessOutcome::Allowed,
        };
        id.record_access("u", "shop", &[read.clone(), read.clone()])?;
        id.record_access(
            "u",
            "maps",
            &[AccessRecord {
                capability: "identity.profile",
                outcome: AccessOutcome::Denied,
            }],
        )?;
        id.record_access("v", "shop", &[read])?;
        let all = id.access_log("u", None, 10)?;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].app, "maps", "newest first");
        assert_eq!(all[1].count, 2);
        let shop = id.access_log("u", Some("shop"), 10)?;
        assert_eq!(shop.len(), 1);
        assert_eq!(id.access_log("u", None, 1)?.len(), 1);
        Ok(())
    }
}
