//! The server's side of WeChat mini-program sign-in: `jscode2session` turns a `wx.login` code
//! into the customer's openid, and `getuserphonenumber` turns the phone button's code into the
//! phone number WeChat verified, with an access token from `cgi-bin/token`.
//!
//! The access token is the mini-program's, not a customer's: one is shared by every request and
//! cached until shortly before WeChat says it expires. Fetching it holds a lock, so however many
//! sign-ins arrive at once, one fetch happens and the others wait for its result; when WeChat
//! calls a token stale (40001, 42001) it is dropped and fetched again, once. WeChat also hands
//! back a `session_key` with every openid; nothing here reads it, so it can reach neither a log
//! nor a client. The credentials travel in query strings, so errors are logged without URLs.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Secret, WechatSettings};
use crate::domain::DomainError;

/// Errcodes for a `wx.login` or phone code that is unknown, expired or already used.
const CODE_INVALID: i64 = 40029;
const CODE_USED: i64 = 40163;
/// Errcodes for an access token that is not (or no longer) valid.
const TOKEN_INVALID: i64 = 40001;
const TOKEN_EXPIRED: i64 = 42001;
/// How long before WeChat's stated expiry a token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

pub struct Wechat {
    http: reqwest::Client,
    appid: String,
    secret: Secret,
    api_base: String,
    token: Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: String,
    refresh_after: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// The customer's code is unknown, expired or used: they should start over.
    #[error("WeChat rejected the code (errcode {errcode})")]
    CodeRejected { errcode: i64 },
    /// WeChat said no for a reason of its own (busy, a bad appid or secret, a limit).
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Refused { errcode: i64, errmsg: String },
    #[error("WeChat could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("WeChat's answer could not be read")]
    Unreadable,
}

impl From<WechatError> for DomainError {
    fn from(e: WechatError) -> DomainError {
        match e {
            WechatError::CodeRejected { .. } => DomainError::WechatCodeRejected,
            _ => DomainError::WechatUnavailable,
        }
    }
}

/// Who a `wx.login` code belongs to.
#[derive(Debug, Clone)]
pub struct WechatSession {
    pub openid: String,
    pub unionid: Option<String>,
}

/// The phone number WeChat verified for the phone button's code.
#[derive(Debug, Clone)]
pub struct WechatPhone {
    /// Without the country code.
    pub number: String,
    pub country_code: String,
}

/// Every WeChat answer carries `errcode` (absent or 0 on success) and `errmsg`.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[derive(Deserialize)]
struct Code2Session {
    #[serde(flatten)]
    status: Status,
    openid: Option<String>,
    unionid: Option<String>,
    // `session_key` is deliberately not declared: serde drops it unread.
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(flatten)]
    status: Status,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct PhoneAnswer {
    #[serde(flatten)]
    status: Status,
    phone_info: Option<PhoneInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    pure_phone_number: String,
    /// WeChat documents a string and shows a number in its example; both are read.
    country_code: serde_json::Value,
    watermark: Option<Watermark>,
}

#[derive(Deserialize)]
struct Watermark {
    appid: String,
}

impl Wechat {
    /// `http` is the shared outbound client; its timeouts bound every call here.
    pub fn new(settings: &WechatSettings, http: reqwest::Client) -> Wechat {
        Wechat {
            http,
            appid: settings.appid.clone(),
            secret: settings.secret.clone(),
            api_base: settings.api_base.clone(),
            token: Mutex::new(None),
        }
    }

    /// `jscode2session`: the openid of the customer whose mini-program called `wx.login`.
    pub async fn session(&self, js_code: &str) -> Result<WechatSession, WechatError> {
        let request = self.http.get(format!("{}/sns/jscode2session", self.api_base)).query(&[
            ("appid", self.appid.as_str()),
            ("secret", self.secret.expose()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ]);
        let answer: Code2Session = call("jscode2session", request).await?;
        // The store keeps ids of up to 64 ASCII characters (WeChat's are 28).
        let fits = |id: &String| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
        match (answer.status.errcode, answer.openid) {
            (0, Some(openid)) if fits(&openid) => Ok(WechatSession { openid, unionid: answer.unionid.filter(fits) }),
            (0, _) => Err(unreadable("jscode2session", "no usable openid")),
            (errcode, _) => Err(refusal("jscode2session", errcode, answer.status.errmsg)),
        }
    }

    /// `getuserphonenumber`: the phone number behind the phone button's code.
    pub async fn phone_number(&self, phone_code: &str) -> Result<WechatPhone, WechatError> {
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let request = self
                .http
                .post(format!("{}/wxa/business/getuserphonenumber", self.api_base))
                .query(&[("access_token", token.as_str())])
                .json(&serde_json::json!({ "code": phone_code }));
            let answer: PhoneAnswer = call("getuserphonenumber", request).await?;
            match answer.status.errcode {
                0 => {}
                TOKEN_INVALID | TOKEN_EXPIRED if !retried => {
                    tracing::info!(
                        errcode = answer.status.errcode,
                        "WeChat called the access token stale; fetching another"
                    );
                    self.forget_token(&token).await;
                    retried = true;
                    continue;
                }
                errcode => return Err(refusal("getuserphonenumber", errcode, answer.status.errmsg)),
            }
            let info = answer.phone_info.ok_or_else(|| unreadable("getuserphonenumber", "no phone_info"))?;
            if info.watermark.as_ref().is_some_and(|w| w.appid != self.appid) {
                return Err(unreadable("getuserphonenumber", "the watermark names another mini-program"));
            }
            let country_code = match info.country_code {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            return Ok(WechatPhone { number: info.pure_phone_number, country_code });
        }
    }

    /// The cached access token, or a new one. The lock is held across the fetch: that is what
    /// makes concurrent callers share one fetch instead of each starting their own.
    async fn access_token(&self) -> Result<String, WechatError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_after) {
            return Ok(t.value.clone());
        }
        let request = self.http.get(format!("{}/cgi-bin/token", self.api_base)).query(&[
            ("grant_type", "client_credential"),
            ("appid", self.appid.as_str()),
            ("secret", self.secret.expose()),
        ]);
        let answer: TokenAnswer = call("cgi-bin/token", request).await?;
        if answer.status.errcode != 0 {
            // A bad appid or secret shows here first; it is the operator's to fix.
            tracing::error!(errcode = answer.status.errcode, errmsg = %answer.status.errmsg, "WeChat refused an access token");
            return Err(WechatError::Refused { errcode: answer.status.errcode, errmsg: answer.status.errmsg });
        }
        let value =
            answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| unreadable("cgi-bin/token", "no token"))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(7200));
        let refresh_after = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 2));
        tracing::info!(expires_in_s = lifetime.as_secs(), "fetched a WeChat access token");
        *cached = Some(AccessToken { value: value.clone(), refresh_after });
        Ok(value)
    }

    /// Drops `stale` unless another caller already replaced it.
    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == stale) {
            *cached = None;
        }
    }
}

/// Sends a request and reads WeChat's JSON (which it may label `text/plain`).
async fn call<T: DeserializeOwned>(what: &'static str, request: reqwest::RequestBuilder) -> Result<T, WechatError> {
    let response = request.send().await.map_err(|e| {
        let e = e.without_url();
        tracing::warn!(call = what, error = ?e, "WeChat could not be reached");
        WechatError::Unreachable(e)
    })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| WechatError::Unreachable(e.without_url()))?;
    serde_json::from_slice(&body).map_err(|_| unreadable(what, &format!("HTTP {status}, not JSON")))
}

fn unreadable(what: &'static str, why: &str) -> WechatError {
    tracing::warn!(call = what, why, "WeChat's answer could not be read");
    WechatError::Unreadable
}

fn refusal(what: &'static str, errcode: i64, errmsg: String) -> WechatError {
    if matches!(errcode, CODE_INVALID | CODE_USED) {
        tracing::debug!(call = what, errcode, "WeChat rejected the customer's code");
        WechatError::CodeRejected { errcode }
    } else {
        tracing::warn!(call = what, errcode, errmsg = %errmsg, "WeChat refused");
        WechatError::Refused { errcode, errmsg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_key_is_never_read() {
        let answer: Code2Session =
            serde_json::from_str(r#"{"openid":"o1","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"u1"}"#).unwrap();
        assert_eq!((answer.status.errcode, answer.openid.as_deref()), (0, Some("o1")));
    }

    #[test]
    fn bad_and_used_codes_are_the_customers_the_rest_is_wechats() {
        assert!(matches!(DomainError::from(refusal("x", 40029, String::new())), DomainError::WechatCodeRejected));
        assert!(matches!(DomainError::from(refusal("x", 40163, String::new())), DomainError::WechatCodeRejected));
        for busy_or_ours in [-1, 40013, 40125, 45011, 40226] {
            assert!(matches!(
                DomainError::from(refusal("x", busy_or_ours, String::new())),
                DomainError::WechatUnavailable
            ));
        }
    }

    #[test]
    fn reads_the_phone_answer_with_either_country_code() {
        for cc in [r#""86""#, "86"] {
            let text = format!(
                r#"{{"errcode":0,"errmsg":"ok","phone_info":{{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":{cc},"watermark":{{"timestamp":1637744274,"appid":"wx1"}}}}}}"#
            );
            let answer: PhoneAnswer = serde_json::from_str(&text).unwrap();
            let info = answer.phone_info.unwrap();
            assert_eq!(info.pure_phone_number, "13800138000");
            assert_eq!(info.watermark.unwrap().appid, "wx1");
        }
    }
}
