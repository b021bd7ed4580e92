//! Sign-in codes and the guessing rules around them. A code is six digits, valid 5 minutes, and
//! dies after five wrong tries. What protects a phone lives in its [`PhoneRecord`], which
//! outlives any one code: one code a minute whether the last was used, expired or burned, ten
//! codes a day, and after ten wrong codes within an hour the phone is locked for an hour (1006)
//! whatever address the guesses come from. Ten codes per address an hour limit the SMS bill.
//! Codes go out through the configured [`SmsSender`]; a code the provider did not take is
//! forgotten at once, so a failed send neither signs anyone in nor holds the phone's interval.
//!
//! The rules take the time as an argument (epoch ms), so they are tested across the hour and
//! the day without waiting.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;

use super::sms::SmsSender;
use crate::domain::time::now_ms;
use crate::domain::{DomainError, Phone};

pub const CODE_TTL: Duration = Duration::from_secs(300);
pub const DEV_CODE: &str = "123456";
/// Wrong tries that kill a code.
const MAX_ATTEMPTS: u32 = 5;
/// Codes one phone may receive per rolling day.
pub const CODES_PER_PHONE_PER_DAY: usize = 10;
/// Wrong codes for one phone within [`HOUR_MS`] that lock it for [`HOUR_MS`].
pub const WRONG_CODES_PER_HOUR: usize = 10;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const CODE_TTL_MS: i64 = CODE_TTL.as_millis() as i64;

#[derive(Clone)]
struct Pending {
    code: String,
    issued_ms: i64,
    attempts: u32,
}

/// Everything the server remembers about one phone's sign-in, beyond the current code.
#[derive(Default)]
pub struct PhoneRecord {
    code: Option<Pending>,
    /// When each code of the last day was sent; the last one holds the interval.
    sent_ms: VecDeque<i64>,
    /// When each wrong code of the last hour was tried.
    wrong_ms: VecDeque<i64>,
    locked_until_ms: i64,
}

/// How a code was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Wrong,
    /// Locked after too many wrong codes; the caller may try again after this many ms.
    Locked(u64),
}

impl PhoneRecord {
    fn forget_old(&mut self, now_ms: i64) {
        while self.sent_ms.front().is_some_and(|&t| t <= now_ms - DAY_MS) {
            self.sent_ms.pop_front();
        }
        while self.wrong_ms.front().is_some_and(|&t| t <= now_ms - HOUR_MS) {
            self.wrong_ms.pop_front();
        }
        if self.code.as_ref().is_some_and(|p| now_ms - p.issued_ms > CODE_TTL_MS) {
            self.code = None;
        }
    }

    /// `Err(ms to wait)` when the phone may not get a code now: within the interval of the last
    /// one (whatever became of it), or at its daily count.
    pub fn may_send(&mut self, interval_ms: i64, now_ms: i64) -> Result<(), u64> {
        self.forget_old(now_ms);
        if let Some(&last) = self.sent_ms.back() {
            if now_ms - last < interval_ms {
                return Err((interval_ms - (now_ms - last)) as u64);
            }
        }
        if self.sent_ms.len() >= CODES_PER_PHONE_PER_DAY {
            let oldest = self.sent_ms.front().copied().unwrap_or(now_ms);
            return Err((oldest + DAY_MS - now_ms).max(1) as u64);
        }
        Ok(())
    }

    /// A new code replaces the last one and starts the interval.
    pub fn sent(&mut self, code: &str, now_ms: i64) {
        self.sent_ms.push_back(now_ms);
        self.code = Some(Pending { code: code.to_string(), issued_ms: now_ms, attempts: 0 });
    }

    /// Checks `code`; `dev_code` says whether the development code counts as right.
    pub fn verify(&mut self, code: &str, dev_code: bool, now_ms: i64) -> Verdict {
        self.forget_old(now_ms);
        if self.locked_until_ms > now_ms {
            return Verdict::Locked((self.locked_until_ms - now_ms) as u64);
        }
        if dev_code && code == DEV_CODE {
            self.code = None;
            return Verdict::Accepted;
        }
        // Only six digits can be a code; anything else guesses nothing, so it costs nothing.
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Verdict::Wrong;
        }
        if let Some(p) = self.code.as_mut() {
            if constant_time_eq(p.code.as_bytes(), code.as_bytes()) {
                self.code = None;
                return Verdict::Accepted;
            }
            p.attempts += 1;
            if p.attempts >= MAX_ATTEMPTS {
                self.code = None;
            }
        }
        self.wrong_ms.push_back(now_ms);
        if self.wrong_ms.len() >= WRONG_CODES_PER_HOUR {
            self.wrong_ms.clear();
            self.code = None;
            self.locked_until_ms = now_ms + HOUR_MS;
        }
        Verdict::Wrong
    }

    /// Nothing left that a rule needs.
    fn is_idle(&mut self, now_ms: i64) -> bool {
        self.forget_old(now_ms);
        self.code.is_none() && self.sent_ms.is_empty() && self.wrong_ms.is_empty() && self.locked_until_ms <= now_ms
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SendRefused {
    /// The caller may try again after this long.
    TooFrequent(Duration),
    /// The SMS provider refused the message or could not be reached.
    NotDelivered,
}

impl From<SendRefused> for DomainError {
    fn from(refused: SendRefused) -> DomainError {
        match refused {
            SendRefused::TooFrequent(wait) => DomainError::CodeTooFrequent { retry_after_ms: wait.as_millis() as u64 },
            SendRefused::NotDelivered => DomainError::SmsNotDelivered,
        }
    }
}

pub struct SignInCodes {
    phones: DashMap<String, PhoneRecord>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    phone_interval: Duration,
    accept_dev_code: bool,
    sender: Arc<dyn SmsSender>,
}

impl SignInCodes {
    pub fn new(
        phone_interval: Duration,
        per_ip_per_hour: u32,
        accept_dev_code: bool,
        sender: Arc<dyn SmsSender>,
    ) -> Self {
        let per_hour = NonZeroU32::new(per_ip_per_hour.max(1)).unwrap_or(NonZeroU32::MIN);
        SignInCodes {
            phones: DashMap::new(),
            per_ip: RateLimiter::keyed(Quota::per_hour(per_hour)),
            phone_interval,
            accept_dev_code,
            sender,
        }
    }

    pub async fn send(&self, phone: &Phone, ip: IpAddr) -> Result<(), SendRefused> {
        let now = now_ms();
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
        let previous = {
            // Decided and recorded under the phone's lock, so two requests at once cannot both send.
            let mut record = self.phones.entry(phone.as_str().to_string()).or_default();
            let interval_ms = self.phone_interval.as_millis() as i64;
            if let Err(wait) = record.may_send(interval_ms, now) {
                return Err(SendRefused::TooFrequent(Duration::from_millis(wait)));
            }
            if let Err(not_until) = self.per_ip.check_key(&crate::http::extract::limit_key(ip)) {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                return Err(SendRefused::TooFrequent(wait));
            }
            let previous = record.code.clone();
            record.sent(&code, now);
            previous
        };
        match self.sender.send(phone, &code, CODE_TTL).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(phone = %phone.masked(), error = %e.describe(), "SMS provider failed");
                // Nothing was delivered: this code never existed and the interval never started.
                // An earlier code that is still valid stays usable.
                if let Some(mut record) = self.phones.get_mut(phone.as_str()) {
                    if record.code.as_ref().is_some_and(|p| p.issued_ms == now && p.code == code) {
                        record.code = previous;
                    }
                    if let Some(i) = record.sent_ms.iter().rposition(|&t| t == now) {
                        record.sent_ms.remove(i);
                    }
                }
                Err(SendRefused::NotDelivered)
            }
        }
    }

    /// `Ok` when `code` is the phone's current code (consumed on success) or, outside production,
    /// the development code; 1002 when wrong, 1006 while the phone is locked.
    pub fn verify(&self, phone: &Phone, code: &str) -> Result<(), DomainError> {
        let verdict =
            self.phones.entry(phone.as_str().to_string()).or_default().verify(code, self.accept_dev_code, now_ms());
        match verdict {
            Verdict::Accepted => Ok(()),
            Verdict::Wrong => Err(DomainError::BadCode),
            Verdict::Locked(retry_after_ms) => {
                tracing::info!(phone = %phone.masked(), "sign-in refused: phone locked after wrong codes");
                Err(DomainError::PhoneLocked { retry_after_ms })
            }
        }
    }

    /// Forgets phones with nothing left to remember, and idle per-IP counters.
    pub fn sweep(&self) {
        let now = now_ms();
        self.phones.retain(|_, r| !r.is_idle(now));
        self.per_ip.retain_recent();
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sms::{SmsError, SmsFuture};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// Records what it was asked to send; refuses while `refuse` is set.
    struct Capture(Mutex<Vec<(String, Duration)>>, AtomicBool);
    impl SmsSender for Capture {
        fn send<'a>(&'a self, _: &'a Phone, code: &'a str, valid_for: Duration) -> SmsFuture<'a> {
            let refuse = self.1.load(Ordering::SeqCst);
            if !refuse {
                self.0.lock().unwrap().push((code.to_string(), valid_for));
            }
            Box::pin(async move {
                if refuse {
                    Err(SmsError::Refused { code: "LimitExceeded".into(), message: "no".into() })
                } else {
                    Ok(())
                }
            })
        }
    }

    fn setup(dev: bool) -> (SignInCodes, Arc<Capture>) {
        let cap = Arc::new(Capture(Mutex::new(vec![]), AtomicBool::new(false)));
        (SignInCodes::new(Duration::from_secs(60), 10, dev, cap.clone()), cap)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_sent_code_signs_in_once() {
        let (codes, cap) = setup(false);
        let phone = Phone::parse("13800138000").unwrap();
        codes.send(&phone, IP).await.unwrap();
        let code = cap.0.lock().unwrap()[0].0.clone();
        assert_eq!(code.len(), 6);
        assert!(codes.verify(&phone, DEV_CODE).is_err() || code == DEV_CODE);
        assert!(codes.verify(&phone, &code).is_ok());
        assert!(codes.verify(&phone, &code).is_err(), "a code is single-use");
    }

    #[tokio::test]
    async fn one_code_per_phone_per_interval() {
        let (codes, _) = setup(false);
        let phone = Phone::parse("13800138001").unwrap();
        codes.send(&phone, IP).await.unwrap();
        assert!(matches!(codes.send(&phone, IP).await, Err(SendRefused::TooFrequent(_))));
    }

    #[tokio::test]
    async fn ten_codes_per_ip_per_hour() {
        let (codes, _) = setup(false);
        for i in 0..10 {
            let phone = Phone::parse(&format!("1390000000{i}")).unwrap();
            codes.send(&phone, IP).await.unwrap();
        }
        let phone = Phone::parse("13700000000").unwrap();
        assert!(codes.send(&phone, IP).await.is_err());
    }

    #[tokio::test]
    async fn five_wrong_guesses_burn_the_code() {
        let (codes, cap) = setup(false);
        let phone = Phone::parse("13800138002").unwrap();
        codes.send(&phone, IP).await.unwrap();
        let code = cap.0.lock().unwrap()[0].0.clone();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            assert!(codes.verify(&phone, wrong).is_err());
        }
        assert!(codes.verify(&phone, &code).is_err());
    }

    #[tokio::test]
    async fn the_message_carries_the_codes_lifetime() {
        let (codes, cap) = setup(false);
        codes.send(&Phone::parse("13800138004").unwrap(), IP).await.unwrap();
        assert_eq!(cap.0.lock().unwrap()[0].1, CODE_TTL);
    }

    #[tokio::test]
    async fn a_failed_send_keeps_no_code_and_starts_no_interval() {
        let (codes, cap) = setup(false);
        let phone = Phone::parse("13800138005").unwrap();
        cap.1.store(true, Ordering::SeqCst);
        assert_eq!(codes.send(&phone, IP).await, Err(SendRefused::NotDelivered));
        assert!(codes.phones.get(phone.as_str()).is_none_or(|r| r.code.is_none()), "the undelivered code is forgotten");
        cap.1.store(false, Ordering::SeqCst);
        codes.send(&phone, IP).await.expect("the phone may ask again at once");
        let code = cap.0.lock().unwrap()[0].0.clone();
        assert!(codes.verify(&phone, &code).is_ok());
    }

    #[tokio::test]
    async fn a_failed_resend_leaves_the_earlier_code_usable() {
        let cap = Arc::new(Capture(Mutex::new(vec![]), AtomicBool::new(false)));
        let codes = SignInCodes::new(Duration::ZERO, 10, false, cap.clone());
        let phone = Phone::parse("13800138006").unwrap();
        codes.send(&phone, IP).await.unwrap();
        let first = cap.0.lock().unwrap()[0].0.clone();
        cap.1.store(true, Ordering::SeqCst);
        assert_eq!(codes.send(&phone, IP).await, Err(SendRefused::NotDelivered));
        assert!(codes.verify(&phone, &first).is_ok());
    }

    #[test]
    fn the_development_code_only_outside_production() {
        let phone = Phone::parse("13800138003").unwrap();
        assert!(setup(true).0.verify(&phone, DEV_CODE).is_ok());
        assert!(setup(false).0.verify(&phone, DEV_CODE).is_err());
    }

    const MIN: i64 = 60_000;
    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn the_interval_holds_whether_the_last_code_was_used_expired_or_burned() {
        for fate in ["used", "burned", "expired"] {
            let mut r = PhoneRecord::default();
            r.may_send(MIN, T0).unwrap();
            r.sent("111111", T0);
            let at = T0 + 10_000;
            match fate {
                "used" => assert_eq!(r.verify("111111", false, at), Verdict::Accepted),
                "burned" => {
                    for _ in 0..5 {
                        assert_eq!(r.verify("000000", false, at), Verdict::Wrong);
                    }
                    assert_eq!(r.verify("111111", false, at), Verdict::Wrong, "a code dies after 5 wrong tries");
                }
                _ => assert_eq!(r.verify("111111", false, T0 + 5 * MIN + 1), Verdict::Wrong),
            }
            if fate != "expired" {
                assert_eq!(r.may_send(MIN, at), Err(50_000), "{fate}");
            }
            assert_eq!(r.may_send(MIN, T0 + MIN), Ok(()), "{fate}");
        }
    }

    #[test]
    fn ten_wrong_codes_within_an_hour_lock_the_phone_for_an_hour_even_for_the_right_code() {
        let mut r = PhoneRecord::default();
        for i in 0..9 {
            assert_eq!(r.verify("000000", false, T0 + i * MIN), Verdict::Wrong);
        }
        r.sent("222222", T0 + 9 * MIN);
        assert_eq!(r.verify("000001", false, T0 + 10 * MIN), Verdict::Wrong);
        assert_eq!(r.verify("222222", false, T0 + 10 * MIN), Verdict::Locked(60 * MIN as u64));
        assert_eq!(r.verify(DEV_CODE, true, T0 + 69 * MIN), Verdict::Locked(MIN as u64));
        r.sent("333333", T0 + 70 * MIN);
        assert_eq!(r.verify("333333", false, T0 + 70 * MIN), Verdict::Accepted, "the lock ends after an hour");
    }

    #[test]
    fn wrong_codes_older_than_an_hour_do_not_count() {
        let mut r = PhoneRecord::default();
        for i in 0..9 {
            r.verify("000000", false, T0 + i);
        }
        // An hour after the first nine, they no longer count towards the lock.
        assert_eq!(r.verify("000000", false, T0 + HOUR_MS + 10), Verdict::Wrong);
        r.sent("444444", T0 + HOUR_MS + 20);
        assert_eq!(r.verify("444444", false, T0 + HOUR_MS + 30), Verdict::Accepted);
    }

    #[test]
    fn at_most_ten_codes_per_phone_per_rolling_day() {
        let mut r = PhoneRecord::default();
        for i in 0..10 {
            let at = T0 + i * 2 * HOUR_MS;
            assert_eq!(r.may_send(MIN, at), Ok(()), "code {i}");
            r.sent("555555", at);
        }
        let at = T0 + 19 * HOUR_MS;
        assert_eq!(r.may_send(MIN, at), Err((5 * HOUR_MS) as u64), "the 11th waits for the first to be a day old");
        assert_eq!(r.may_send(MIN, T0 + DAY_MS), Ok(()));
    }

    #[test]
    fn what_cannot_be_a_code_burns_nothing() {
        let mut r = PhoneRecord::default();
        r.sent("666666", T0);
        for _ in 0..20 {
            assert_eq!(r.verify("' OR 1=1", false, T0 + 1), Verdict::Wrong);
        }
        assert_eq!(r.verify("666666", false, T0 + 2), Verdict::Accepted);
    }

    #[tokio::test]
    async fn a_locked_phone_answers_1006_through_the_service() {
        let (codes, _) = setup(true);
        let phone = Phone::parse("13800138009").unwrap();
        for _ in 0..10 {
            assert_eq!(codes.verify(&phone, "000000"), Err(DomainError::BadCode));
        }
        assert!(matches!(codes.verify(&phone, DEV_CODE), Err(DomainError::PhoneLocked { .. })));
        codes.sweep();
        assert!(codes.phones.get(phone.as_str()).is_some(), "a locked phone is not swept");
    }
}
