//! Admin passwords: argon2id with a random salt, the bound on how many hash at once, and the
//! per-username lockout after repeated failures ([`AdminLockout`]).
//!
//! Verification is slow on purpose (19 MiB, two passes), so it runs on the blocking pool, and at
//! most one per core runs at a time: a flood of sign-ins must not take every blocking thread
//! (the local object store needs them) nor gigabytes of memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// One permit per core: more verifications at once only queue for the CPU while holding memory.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)));

/// Every core is already verifying a password; the caller answers 9002 instead of queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingBusy;

/// Verifies on the blocking pool, or refuses at once when every core is already verifying.
pub async fn verify_blocking(password: String, stored: String) -> Result<bool, HashingBusy> {
    let permit = HASHING.try_acquire().map_err(|_| HashingBusy)?;
    let verified = tokio::task::spawn_blocking(move || verify(&password, &stored)).await.unwrap_or(false);
    drop(permit);
    Ok(verified)
}

/// Failures that lock a username.
pub const ADMIN_MAX_FAILURES: usize = 5;
/// The window the failures are counted in, and how long the lock then lasts.
pub const ADMIN_LOCK_MS: i64 = 15 * 60 * 1000;

#[derive(Default)]
struct Attempts {
    failures: VecDeque<i64>,
    locked_until: i64,
}

/// Failed admin sign-ins per username, whatever the address they came from: after
/// [`ADMIN_MAX_FAILURES`] within [`ADMIN_LOCK_MS`] the username answers 2006 for [`ADMIN_LOCK_MS`].
/// Unknown usernames are counted the same way, so the lock reveals nothing about which exist.
/// Time is an argument, so the rule is tested without waiting.
#[derive(Default)]
pub struct AdminLockout {
    by_username: Mutex<HashMap<String, Attempts>>,
}

impl AdminLockout {
    pub fn new() -> AdminLockout {
        AdminLockout::default()
    }

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// `Err(ms to wait)` while `username` is locked.
    pub fn check(&self, username: &str, now_ms: i64) -> Result<(), u64> {
        let map = self.by_username.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&Self::key(username)) {
            Some(a) if a.locked_until > now_ms => Err((a.locked_until - now_ms) as u64),
            _ => Ok(()),
        }
    }

    /// Counts a failure; the one that reaches the limit starts the lock.
    pub fn failed(&self, username: &str, now_ms: i64) {
        let mut map = self.by_username.lock().unwrap_or_else(|p| p.into_inner());
        let a = map.entry(Self::key(username)).or_default();
        while a.failures.front().is_some_and(|&t| t <= now_ms - ADMIN_LOCK_MS) {
            a.failures.pop_front();
        }
        a.failures.push_back(now_ms);
        if a.failures.len() >= ADMIN_MAX_FAILURES {
            a.failures.clear();
            a.locked_until = now_ms + ADMIN_LOCK_MS;
        }
    }

    /// A right password forgets the earlier failures.
    pub fn succeeded(&self, username: &str) {
        self.by_username.lock().unwrap_or_else(|p| p.into_inner()).remove(&Self::key(username));
    }

    /// Drops usernames with nothing left to remember.
    pub fn sweep(&self, now_ms: i64) {
        self.by_username
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, a| a.locked_until > now_ms || a.failures.back().is_some_and(|&t| t > now_ms - ADMIN_LOCK_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_verify() {
        let a = super::hash("correct horse").unwrap();
        let b = super::hash("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2"));
        assert!(super::verify("correct horse", &a));
        assert!(!super::verify("wrong", &a));
        assert!(!super::verify("x", "not a hash"));
    }

    const MIN: i64 = 60_000;

    #[test]
    fn five_failures_within_fifteen_minutes_lock_the_username_for_fifteen_minutes() {
        let l = AdminLockout::new();
        let t0 = 1_000_000_000;
        for i in 0..4 {
            l.failed("boss", t0 + i * MIN);
            assert_eq!(l.check("boss", t0 + i * MIN), Ok(()));
        }
        l.failed("BOSS ", t0 + 4 * MIN);
        assert_eq!(l.check("boss", t0 + 4 * MIN), Err(ADMIN_LOCK_MS as u64));
        assert_eq!(l.check("boss", t0 + 18 * MIN), Err(MIN as u64));
        assert_eq!(l.check("boss", t0 + 19 * MIN), Ok(()));
        // Another username is not affected.
        assert_eq!(l.check("cashier", t0 + 4 * MIN), Ok(()));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count_and_success_forgets() {
        let l = AdminLockout::new();
        let t0 = 1_000_000_000;
        for i in 0..4 {
            l.failed("boss", t0 + i * MIN);
        }
        // The first failure is 15 minutes old by now: only 4 remain in the window.
        l.failed("boss", t0 + 15 * MIN);
        assert_eq!(l.check("boss", t0 + 15 * MIN), Ok(()));
        l.succeeded("boss");
        for i in 0..4 {
            l.failed("boss", t0 + 16 * MIN + i);
        }
        assert_eq!(l.check("boss", t0 + 17 * MIN), Ok(()));
        l.sweep(t0 + 40 * MIN);
        assert!(l.by_username.lock().unwrap().is_empty());
    }
}
