//! Sign-in codes: six digits, valid 5 minutes, at most one per phone a minute and ten per IP an
//! hour, five wrong guesses and the code is gone. Codes go out through the configured
//! [`SmsSender`]; a code the provider did not take is forgotten at once, so a failed send neither
//! signs anyone in nor holds the phone's interval.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;

use super::sms::SmsSender;
use crate::domain::{DomainError, Phone};

pub const CODE_TTL: Duration = Duration::from_secs(300);
pub const DEV_CODE: &str = "123456";
const MAX_ATTEMPTS: u32 = 5;

struct Pending {
    code: String,
    issued: Instant,
    attempts: u32,
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
        let issued = Instant::now();
        // Held before the send, so two requests at once cannot both send.
        let previous =
            self.pending.insert(phone.as_str().to_string(), Pending { code: code.clone(), issued, attempts: 0 });
        match self.sender.send(phone, &code, CODE_TTL).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(phone = %phone.masked(), error = %e.describe(), "SMS provider failed");
                // Nothing was delivered: this code never existed and the interval never started.
                // An earlier code that is still valid stays usable.
                self.pending.remove_if(phone.as_str(), |_, p| p.issued == issued && p.code == code);
                if let Some(previous) = previous {
                    self.pending.entry(phone.as_str().to_string()).or_insert(previous);
                }
                Err(SendRefused::NotDelivered)
            }
        }
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
        let code = cap.0.lock().unwrap()[0].0.clone();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            assert!(!codes.verify(&phone, wrong));
        }
        assert!(!codes.verify(&phone, &code));
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
        assert!(codes.pending.get(phone.as_str()).is_none(), "the undelivered code is forgotten");
        cap.1.store(false, Ordering::SeqCst);
        codes.send(&phone, IP).await.expect("the phone may ask again at once");
        let code = cap.0.lock().unwrap()[0].0.clone();
        assert!(codes.verify(&phone, &code));
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
        assert!(codes.verify(&phone, &first));
    }

    #[test]
    fn the_development_code_only_outside_production() {
        let phone = Phone::parse("13800138003").unwrap();
        assert!(setup(true).0.verify(&phone, DEV_CODE));
        assert!(!setup(false).0.verify(&phone, DEV_CODE));
    }
}
