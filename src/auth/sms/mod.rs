//! Delivering sign-in codes by SMS: the [`SmsSender`] interface and its providers. `log` is the
//! development provider; [`tencent`] and [`aliyun`] speak the two clouds' `SendSms` APIs, each
//! signed as its provider documents. A provider answers only once it knows the outcome: the
//! message was accepted, or it was refused or could not be sent ([`SmsError`]), which the
//! sign-in flow reports to the customer (1008) instead of pretending a code is on its way.

pub mod aliyun;
pub mod tencent;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::SmsProvider;
use crate::domain::Phone;

pub use aliyun::AliyunSms;
pub use tencent::TencentSms;

/// Why a code did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider answered and said no (bad signature or credentials, template, a per-number
    /// limit, …): its own code and message, for the log.
    #[error("the SMS provider refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// The provider could not be reached, timed out, or answered something unreadable.
    #[error("the SMS provider could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SmsError {
    pub(crate) fn unreachable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SmsError {
        SmsError::Unreachable(e.into())
    }

    /// The error and its causes (`timed out`, `connection refused`), for one log field.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(&format!(": {cause}"));
            next = cause.source();
        }
        text
    }
}

pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Delivers a sign-in code to a phone; the text also says how long the code is valid.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str, valid_for: Duration) -> SmsFuture<'a>;
}

/// A code's lifetime as the message states it: whole minutes, rounded up.
pub fn minutes(valid_for: Duration) -> u64 {
    valid_for.as_secs().div_ceil(60).max(1)
}

/// The default provider: writes the code to the log (development) or only that a code was asked
/// for (production, where WeChat is then the only way in).
pub struct LogSms {
    pub reveal_codes: bool,
}

impl SmsSender for LogSms {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str, _valid_for: Duration) -> SmsFuture<'a> {
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

/// The sender `SMS_PROVIDER` names. `http` is the shared outbound client (with its timeouts).
pub fn from_config(provider: &SmsProvider, http: reqwest::Client, reveal_codes: bool) -> Arc<dyn SmsSender> {
    match provider {
        SmsProvider::Log => Arc::new(LogSms { reveal_codes }),
        SmsProvider::Tencent(settings) => Arc::new(TencentSms::new(settings.clone(), http)),
        SmsProvider::Aliyun(settings) => Arc::new(AliyunSms::new(settings.clone(), http)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_whole_minutes_rounded_up() {
        assert_eq!(minutes(Duration::from_secs(300)), 5);
        assert_eq!(minutes(Duration::from_secs(301)), 6);
        assert_eq!(minutes(Duration::from_secs(10)), 1);
    }
}
