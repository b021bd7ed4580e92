//! Sign-in codes: six digits, valid 5 minutes, at most one per phone a minute and ten per IP an
//! hour, five wrong guesses and the code is gone. The SMS provider is pluggable; the default one
//! only logs, and shows the code itself only outside production.

use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;

use crate::domain::Phone;

pub const CODE_TTL: Duration = Duration::from_secs(300);
pub const DEV_CODE: &str = "123456";
const MAX_ATTEMPTS: u32 = 5;

pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Delivers a sign-in code to a phone.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str) -> SmsFuture<'a>;
}

/// The default provider: writes the code to the log (development) or only that a code was asked
/// for (production, where a real provider must be configured).
pub struct LogSms {
    pub reveal_codes: bool,
}

impl SmsSender for LogSms {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            if self.reveal_codes {
                tracing::info!(target: "sms", phone = %phone.masked(), code, "development SMS provider: sign-in code");
            } else {
                tracing::warn!(target: "sms", phone = %phone.masked(), "no SMS provider configured; code not delivered");
            }
            Ok(())
        })
    }
}

struct Pending {
    code: String,
    issued: Instant,
    attempts: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SendRefused {
    /// The caller may try again after this long.
    TooFrequent(Duration),
}

pub struct SignInCodes {
    pending: DashMap<String, Pending>,
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
            pending: DashMap::new(),
            per_ip: RateLimiter::keyed(Quota::per_hour(per_hour)),
            phone_interval,
            accept_dev_code,
            sender,
        }
    }

    pub async fn send(&self, phone: &Phone, ip: IpAddr) -> Result<(), SendRefused> {
        if let Some(p) = self.pending.get(phone.as_str()) {
            let since = p.issued.elapsed();
            if since < self.phone_interval {
                return Err(SendRefused::TooFrequent(self.phone_interval - since));
            }
        }
        if let Err(not_until) = self.per_ip.check_key(&ip) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(SendRefused::TooFrequent(wait));
        }
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
        self.pending
            .insert(phone.as_str().to_string(), Pending { code: code.clone(), issued: Instant::now(), attempts: 0 });
        if let Err(e) = self.sender.send(phone, &code).await {
            // The code stays valid: a provider hiccup should not lock the customer out for a minute.
            tracing::warn!(phone = %phone.masked(), error = %e, "SMS provider failed");
        }
        Ok(())
    }

    /// True when `code` is the phone's current code (consumed on success) or, outside production,
    /// the development code.
    pub fn verify(&self, phone: &Phone, code: &str) -> bool {
        if self.accept_dev_code && code == DEV_CODE {
            self.pending.remove(phone.as_str());
            return true;
        }
        let mut consumed = false;
        let ok = match self.pending.get_mut(phone.as_str()) {
            Some(mut p) => {
                if p.issued.elapsed() > CODE_TTL || p.attempts >= MAX_ATTEMPTS {
                    consumed = true;
                    false
                } else if constant_time_eq(p.code.as_bytes(), code.as_bytes()) {
                    consumed = true;
                    true
                } else {
                    p.attempts += 1;
                    false
                }
            }
            None => false,
        };
        if consumed {
            self.pending.remove(phone.as_str());
        }
        ok
    }

    /// Forgets expired codes and idle per-IP counters.
    pub fn sweep(&self) {
        self.pending.retain(|_, p| p.issued.elapsed() <= CODE_TTL.max(self.phone_interval));
        self.per_ip.retain_recent();
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Capture(Mutex<Vec<String>>);
    impl SmsSender for Capture {
        fn send<'a>(&'a self, _: &'a Phone, code: &'a str) -> SmsFuture<'a> {
            self.0.lock().unwrap().push(code.to_string());
            Box::pin(async { Ok(()) })
        }
    }

    fn setup(dev: bool) -> (SignInCodes, Arc<Capture>) {
        let cap = Arc::new(Capture(Mutex::new(vec![])));
        (SignInCodes::new(Duration::from_secs(60), 10, dev, cap.clone()), cap)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_sent_code_signs_in_once() {
        let (codes, cap) = setup(false);
        let phone = Phone::parse("13800138000").unwrap();
        codes.send(&phone, IP).await.unwrap();
        let code = cap.0.lock().unwrap()[0].clone();
        assert_eq!(code.len(), 6);
        assert!(!codes.verify(&phone, DEV_CODE) || code == DEV_CODE);
        assert!(codes.verify(&phone, &code));
        assert!(!codes.verify(&phone, &code), "a code is single-use");
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
        let code = cap.0.lock().unwrap()[0].clone();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            assert!(!codes.verify(&phone, wrong));
        }
        assert!(!codes.verify(&phone, &code));
    }

    #[test]
    fn the_development_code_only_outside_production() {
        let phone = Phone::parse("13800138003").unwrap();
        assert!(setup(true).0.verify(&phone, DEV_CODE));
        assert!(!setup(false).0.verify(&phone, DEV_CODE));
    }
}
