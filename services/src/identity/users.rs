//! People: handles, display names, argon2 password hashes, real-name
//! verification (birth date), and the slow-down of failed logins per handle
//! tried, which treats handles nobody has exactly like registered ones.

use super::{Identity, IdentityError, now, rfc3339};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Failed logins allowed before the account is slowed down.
const FREE_FAILURES: u32 = 5;
/// The first pause after `FREE_FAILURES`; it doubles with each further failure.
const FIRST_PAUSE_SECS: i64 = 30;
/// The longest pause.
const MAX_PAUSE_SECS: i64 = 15 * 60;
/// A handle's failures are forgotten this long after the last one.
const FORGET_AFTER_SECS: i64 = 24 * 3600;
/// Most handles whose failures are kept at once: a spray of made-up handles
/// cannot grow memory without bound.
const MAX_TRACKED_HANDLES: usize = 100_000;

/// One person, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Internal id (`u_…`); never shown to a mini-app.
    pub id: String,
    pub handle: String,
    pub display_name: String,
    /// PHC string (argon2id); none for an account that cannot log in.
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub verification: Option<Verification>,
}

/// A real-name verification by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub verified_at: i64,
}

/// A user as operators and the person themselves see them (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub handle: String,
    pub display_name: String,
    /// When the account was made (RFC 3339).
    pub created_at: String,
    /// Whether the operator verified the person's real name.
    pub verified: bool,
    /// `YYYY-MM-DD`, if verified.
    pub birth_date: Option<String>,
    /// Whether the person is under 18; none when not verified.
    pub is_minor: Option<bool>,
}

impl User {
    /// Whether the person is under 18 today; `None` when not verified.
    pub fn is_minor(&self) -> Option<bool> {
        let v = self.verification.as_ref()?;
        let birth = parse_date(&v.birth_date).ok()?;
        let today = time::OffsetDateTime::now_utc().date();
        let mut age = today.year() - birth.year();
        if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
            age -= 1;
        }
        Some(age < 18)
    }

    pub fn view(&self) -> UserView {
        UserView {
            handle: self.handle.clone(),
            display_name: self.display_name.clone(),
            created_at: rfc3339(self.created_at),
            verified: self.verification.is_some(),
            birth_date: self.verification.as_ref().map(|v| v.birth_date.clone()),
            is_minor: self.is_minor(),
        }
    }
}

/// Failed logins in a row for one handle.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct Failures {
    count: u32,
    last_at: i64,
}

impl Failures {
    /// Seconds until another login may be tried, if the handle is paused.
    fn paused_for(&self, now: i64) -> Option<u64> {
        if self.count < FREE_FAILURES {
            return None;
        }
        let doublings = (self.count - FREE_FAILURES).min(16);
        let pause = (FIRST_PAUSE_SECS << doublings).min(MAX_PAUSE_SECS);
        let until = self.last_at.saturating_add(pause);
        (now < until).then(|| (until - now) as u64)
    }

    fn forgotten(&self, now: i64) -> bool {
        now - self.last_at >= FORGET_AFTER_SECS
    }

    /// The count after one more failure at `now`.
    fn after(before: Option<Failures>, now: i64) -> Failures {
        let count = match before {
            Some(f) if !f.forgotten(now) => f.count,
            _ => 0,
        };
        Failures {
            count: count.saturating_add(1),
            last_at: now,
        }
    }
}

/// Failed logins per handle tried, registered or not, so the pause (and
/// its answer) tells nobody which handles exist. In memory on a host that
/// owns its store (a restart forgets them); in the store when hosts share
/// one, so guesses spread over every host add up to one count per handle.
#[derive(Default)]
pub(super) struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
    /// The counts every host sees, on a shared store.
    shared: Option<crate::store::Tree<Failures>>,
    /// Password hashes checked, decoys included (both paths do one).
    checks: AtomicU64,
}

impl LoginThrottle {
    /// The map key: the handle as typed, or its digest when it is too long
    /// to be one (such handles exist for nobody, and cost no more memory).
    fn key(handle: &str) -> String {
        if handle.len() <= 64 {
            handle.to_string()
        } else {
            use sha2::Digest;
            crate::text::hex(&sha2::Sha256::digest(handle.as_bytes()))
        }
    }

    /// Counts kept in `tree`, which hosts sharing a store all read.
    pub(super) fn shared(tree: crate::store::Tree<Failures>) -> LoginThrottle {
        LoginThrottle {
            shared: Some(tree),
            ..LoginThrottle::default()
        }
    }

    fn paused_for(&self, handle: &str, now: i64) -> Option<u64> {
        if let Some(tree) = &self.shared {
            // A store that cannot be read does not lock everyone out.
            return tree.get(&Self::key(handle)).ok()??.paused_for(now);
        }
        let failures = self.failures.lock().ok()?;
        failures.get(&Self::key(handle))?.paused_for(now)
    }

    fn failed(&self, handle: &str, now: i64) {
        if let Some(tree) = &self.shared {
            let counted = tree.update(&Self::key(handle), |f| (Some(Failures::after(f, now)), ()));
            if let Err(e) = counted {
                tracing::warn!(error = %e, "cannot count a failed login");
            }
            return;
        }
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED_HANDLES {
            failures.retain(|_, f| !f.forgotten(now) && f.paused_for(now).is_some());
        }
        if failures.len() >= MAX_TRACKED_HANDLES {
            // Still full of live pauses: forget the oldest failure.
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, f)| f.last_at)
                .map(|(k, _)| k.clone())
            {
                failures.remove(&oldest);
            }
        }
        let key = Self::key(handle);
        let next = Failures::after(failures.get(&key).copied(), now);
        failures.insert(key, next);
    }

    /// Forgets the shared counts nobody added to for a day (the in-memory
    /// map prunes itself as it fills). Returns how many.
    pub(super) fn prune(&self, now: i64) -> Result<usize, crate::store::StoreError> {
        let Some(tree) = &self.shared else {
            return Ok(0);
        };
        let old = tree.scan_prefix("", false, usize::MAX, |f| f.forgotten(now))?;
        for (key, _) in &old {
            tree.remove(key)?;
        }
        Ok(old.len())
    }

    fn succeeded(&self, handle: &str) {
        if let Some(tree) = &self.shared {
            let _ = tree.remove(&Self::key(handle));
            return;
        }
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&Self::key(handle));
        }
    }

    fn check(&self, hash: &str, password: &str) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        password_matches(hash, password)
    }
}

fn parse_date(text: &str) -> Result<time::Date, IdentityError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| IdentityError::InvalidBirthDate(text.to_string()))
}

/// Handles: 3–32 of `a-z 0-9 . _ -`, starting with a letter (they appear in
/// URLs and on screens; one spelling per person).
fn check_handle(handle: &str) -> Result<(), IdentityError> {
    let ok = (3..=32).contains(&handle.len())
        && handle.starts_with(|c: char| c.is_ascii_lowercase())
        && handle.chars().all(super::is_name_char);
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidHandle(handle.to_string()))
    }
}

fn check_display_name(name: &str) -> Result<(), IdentityError> {
    crate::text::check_name(name).map_err(IdentityError::InvalidDisplayName)
}

fn check_password(password: &str) -> Result<(), IdentityError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(IdentityError::InvalidPassword(format!(
            "must have at least 8 characters, has {n}"
        )));
    }
    if password.len() > 1024 {
        return Err(IdentityError::InvalidPassword(
            "must be at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, IdentityError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| IdentityError::Crypto(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Crypto(e.to_string()))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash nobody's password matches, checked for unknown handles so that a
/// wrong handle costs as long as a wrong password (no handle probing by time).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&super::random_token()).unwrap_or_default())
}

impl Identity {
    /// Adds a person. `password` none makes an account that cannot log in
    /// until one is set.
    pub fn add_user(
        &self,
        handle: &str,
        display_name: Option<&str>,
        password: Option<&str>,
    ) -> Result<User, IdentityError> {
        check_handle(handle)?;
        let display_name = display_name.unwrap_or(handle).trim().to_string();
        check_display_name(&display_name)?;
        // Someone else's handle as a name is a disguise: people look others
        // up, and are shown them, by handle.
        let as_handle = display_name.trim_start_matches('@').to_lowercase();
        if as_handle != handle && self.handles.get(&as_handle)?.is_some() {
            return Err(IdentityError::InvalidDisplayName(format!(
                "`{display_name}` is another person's handle"
            )));
        }
        let password_hash = match password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let user = User {
            id: format!("u_{}", &super::random_token()[..32]),
            handle: handle.to_string(),
            display_name,
            password_hash,
            created_at: now(),
            verification: None,
        };
        self.users.insert(&user.id, &user)?;
        // The handle index is the uniqueness check: one atomic insert.
        if !self.handles.insert_new(handle, &user.id)? {
            self.users.remove(&user.id)?;
            return Err(IdentityError::HandleTaken(handle.to_string()));
        }
        Ok(user)
    }

    /// Every person, by handle.
    pub fn users(&self) -> Result<Vec<User>, IdentityError> {
        let mut users: Vec<User> = self.users.all()?.into_iter().map(|(_, u)| u).collect();
        users.sort_by(|a, b| a.handle.cmp(&b.handle));
        Ok(users)
    }

    /// The person with internal id `id`.
    pub fn user(&self, id: &str) -> Result<Option<User>, IdentityError> {
        Ok(self.users.get(id)?)
    }

    /// The person with `handle`.
    pub fn user_by_handle(&self, handle: &str) -> Result<User, IdentityError> {
        let unknown = || IdentityError::UnknownUser(handle.to_string());
        let id = self.handles.get(handle)?.ok_or_else(unknown)?;
        self.users.get(&id)?.ok_or_else(unknown)
    }

    /// Records the operator's real-name verification of `handle`.
    pub fn verify_user(&self, handle: &str, birth_date: &str) -> Result<User, IdentityError> {
        let date = parse_date(birth_date)?;
        if date >= time::OffsetDateTime::now_utc().date() || date.year() < 1900 {
            return Err(IdentityError::InvalidBirthDate(birth_date.to_string()));
        }
        let user = self.user_by_handle(handle)?;
        let verification = Verification {
            birth_date: date.to_string(),
            verified_at: now(),
        };
        self.users
            .update(&user.id, |u| {
                let u = u.map(|mut u| {
                    u.verification = Some(verification.clone());
                    u
                });
                (u.clone(), u)
            })?
            .ok_or_else(|| IdentityError::UnknownUser(handle.to_string()))
    }

    /// Checks a handle and password. Unknown handles and wrong passwords
    /// get the same error and take as long (one hash check each); after
    /// `FREE_FAILURES` failures in a row for a handle, registered or not,
    /// tries are refused (without checking them) for a pause that doubles
    /// with each further failure. The answers for a registered and an
    /// unknown handle are the same at every step.
    pub fn check_password(&self, handle: &str, password: &str) -> Result<User, IdentityError> {
        let at = now();
        if let Some(retry_after_secs) = self.throttle.paused_for(handle, at) {
            return Err(IdentityError::LoginThrottled { retry_after_secs });
        }
        let user = match self.user_by_handle(handle) {
            Ok(user) => Some(user),
            Err(IdentityError::UnknownUser(_) | IdentityError::InvalidHandle(_)) => None,
            Err(other) => return Err(other),
        };
        let ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => self.throttle.check(hash, password),
            None => {
                self.throttle.check(decoy_hash(), password);
                false
            }
        };
        match user {
            Some(user) if ok => {
                self.throttle.succeeded(handle);
                Ok(user)
            }
            _ => {
                self.throttle.failed(handle, at);
                Err(IdentityError::InvalidCredentials)
            }
        }
    }

    /// How many password hashes sign-ins have checked (decoys included).
    pub fn password_checks(&self) -> u64 {
        self.throttle.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn identity() -> anyhow::Result<(tempfile::TempDir, Identity)> {
        let dir = tempfile::tempdir()?;
        let id = Identity::open(&Db::open(dir.path())?)?;
        Ok((dir, id))
    }

    #[test]
    fn passwords_are_stored_as_argon2_hashes_and_checked() -> anyhow::Result<()> {
        let (_d, id) = identity()?;
        let u = id.add_user("alice", Some("Alice W"), Some("correct horse"))?;
        let hash = u.password_hash.clone().unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert_eq!(id.check_password("alice", "correct horse")?.id, u.id);
        assert!(matches!(
            id.check_password("alice", "wrong one"),
            Err(IdentityError::InvalidCredentials)
        ));
        assert!(matches!(
            id.check_password("nobody", "correct horse"),
            Err(IdentityError::InvalidCredentials)
        ));
        Ok(())
    }

    #[test]
    fn bad_handles_names_passwords_and_duplicates_are_refused() -> anyhow::Result<()> {
        let (_d, id) = identity()?;
        id.add_user("bob", None, None)?;
        let codes: Vec<&str> = [
            id.add_user("bob", None, None),
            id.add_user("Bob", None, None),
            id.add_user("b", None, None),
            id.add_user("carol", Some(""), None),
            id.add_user("carol", Some("a\u{7}b"), None),
            id.add_user("carol", None, Some("short")),
            id.add_user("carol", Some("bo\u{202E}b"), None),
            id.add_user("carol", Some("b\u{200B}ob"), None),
            id.add_user("carol", Some("bob"), None),
            id.add_user("carol", Some("@BOB"), None),
        ]
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.code()).unwrap_or("ok"))
        .collect();
        assert_eq!(
            codes,
            [
                "handle-taken",
                "invalid-handle",
                "invalid-handle",
                "invalid-display-name",
                "invalid-display-name",
                "invalid-password",
                "invalid-display-name",
                "invalid-display-name",
                "invalid-display-name",
                "invalid-display-name",
            ]
        );
        assert_eq!(id.users()?.len(), 1, "nothing half-written");
        Ok(())
    }

    #[test]
    fn verification_records_the_birth_date_and_tells_minors_apart() -> anyhow::Result<()> {
        let (_d, id) = identity()?;
        id.add_user("adult", None, None)?;
        id.add_user("teen", None, None)?;
        assert_eq!(id.user_by_handle("adult")?.is_minor(), None);
        let year = time::OffsetDateTime::now_utc().year();
        id.verify_user("adult", "1990-02-28")?;
        id.verify_user("teen", &format!("{}-01-01", year - 10))?;
        assert_eq!(id.user_by_handle("adult")?.is_minor(), Some(false));
        assert_eq!(id.user_by_handle("teen")?.is_minor(), Some(true));
        for bad in ["1990-02-30", "19900101", "2999-01-01", "1800-01-01"] {
            assert_eq!(
                id.verify_user("adult", bad).err().map(|e| e.code()),
                Some("invalid-birth-date"),
                "{bad}"
            );
        }
        assert_eq!(
            id.verify_user("ghost", "1990-01-01")
                .err()
                .map(|e| e.code()),
            Some("unknown-user")
        );
        Ok(())
    }

    #[test]
    fn repeated_failures_pause_the_account_even_for_the_right_password() -> anyhow::Result<()> {
        let (_d, id) = identity()?;
        id.add_user("carol", None, Some("the right one"))?;
        for _ in 0..FREE_FAILURES {
            assert!(matches!(
                id.check_password("carol", "wrong"),
                Err(IdentityError::InvalidCredentials)
            ));
        }
        match id.check_password("carol", "the right one") {
            Err(IdentityError::LoginThrottled { retry_after_secs }) => {
                assert!((1..=FIRST_PAUSE_SECS as u64).contains(&retry_after_secs))
            }
            other => anyhow::bail!("expected a pause, got {other:?}"),
        }
        // Another account is not affected.
        id.add_user("dave", None, Some("dave's pass"))?;
        id.check_password("dave", "dave's pass")?;
        Ok(())
    }

    #[test]
    fn a_handle_nobody_has_is_paused_exactly_like_a_registered_one() -> anyhow::Result<()> {
        let (_d, id) = identity()?;
        id.add_user("erin", None, Some("erin's password"))?;
        // The seconds left may tick between the two runs: compare whether a
        // pause is announced and that it is a sane one, not the clock.
        let answers = |handle: &str| -> Vec<(String, Option<bool>)> {
            (0..FREE_FAILURES + 2)
                .map(|_| match id.check_password(handle, "a wrong one") {
                    Err(IdentityError::LoginThrottled { retry_after_secs }) => (
                        "login-throttled".to_string(),
                        Some((1..=FIRST_PAUSE_SECS as u64).contains(&retry_after_secs)),
                    ),
                    Err(e) => (e.code().to_string(), None),
                    Ok(_) => ("ok".to_string(), None),
                })
                .collect()
        };
        let before = id.password_checks();
        let known = answers("erin");
        let checks_known = id.password_checks() - before;
        let unknown = answers("frank");
        let checks_unknown = id.password_checks() - before - checks_known;
        assert_eq!(known, unknown);
        assert_eq!(
            known[FREE_FAILURES as usize],
            ("login-throttled".to_string(), Some(true))
        );
        // The same work on both paths: a hash check per unpaused try.
        assert_eq!((checks_known, checks_unknown), (5, 5));
        Ok(())
    }
}
