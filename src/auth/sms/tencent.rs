//! Tencent Cloud SMS: API 3.0 `SendSms` (version 2021-01-11), signed with TC3-HMAC-SHA256.
//!
//! The signing is written here rather than taken from a crate: the Rust crates for this API are
//! unofficial, pinned to reqwest 0.11 (a second HTTP and TLS stack) or cannot point at another
//! endpoint. It is a few lines over `hmac` and `sha2`, pinned by the unit tests below to the
//! worked example in Tencent's own documentation.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{minutes, SmsError, SmsFuture, SmsSender};
use crate::config::TencentSmsSettings;
use crate::domain::Phone;

const SERVICE: &str = "sms";
const ACTION: &str = "SendSms";
const VERSION: &str = "2021-01-11";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";
const ALGORITHM: &str = "TC3-HMAC-SHA256";

pub struct TencentSms {
    settings: TencentSmsSettings,
    http: reqwest::Client,
}

impl TencentSms {
    pub fn new(settings: TencentSmsSettings, http: reqwest::Client) -> TencentSms {
        TencentSms { settings, http }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendSms<'a> {
    phone_number_set: [String; 1],
    sms_sdk_app_id: &'a str,
    sign_name: &'a str,
    template_id: &'a str,
    /// `{1}` the code, `{2}` its lifetime in minutes.
    template_param_set: [String; 2],
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Response")]
    response: AnswerBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerBody {
    error: Option<Status>,
    #[serde(default)]
    send_status_set: Vec<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Status {
    code: String,
    #[serde(default)]
    message: String,
}

impl SmsSender for TencentSms {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str, valid_for: Duration) -> SmsFuture<'a> {
        Box::pin(async move {
            let s = &self.settings;
            let payload = serde_json::to_string(&SendSms {
                phone_number_set: [format!("+86{}", phone.as_str())],
                sms_sdk_app_id: &s.sdk_app_id,
                sign_name: &s.sign_name,
                template_id: &s.template_id,
                template_param_set: [code.to_string(), minutes(valid_for).to_string()],
            })
            .map_err(SmsError::unreachable)?;
            let host = host_of(&s.endpoint).ok_or_else(|| SmsError::unreachable("SMS_TENCENT_ENDPOINT has no host"))?;
            let timestamp = chrono::Utc::now().timestamp();
            let authorization = authorization(&s.secret_id, s.secret_key.expose(), &host, timestamp, &payload);
            let response = self
                .http
                .post(format!("{}/", s.endpoint))
                .header("Authorization", authorization)
                .header("Content-Type", CONTENT_TYPE)
                .header("Host", host)
                .header("X-TC-Action", ACTION)
                .header("X-TC-Version", VERSION)
                .header("X-TC-Timestamp", timestamp.to_string())
                .header("X-TC-Region", &s.region)
                .body(payload)
                .send()
                .await
                .map_err(SmsError::unreachable)?;
            let status = response.status();
            let body = response.bytes().await.map_err(SmsError::unreachable)?;
            let answer: Answer = serde_json::from_slice(&body)
                .map_err(|_| SmsError::unreachable(format!("unreadable answer (HTTP {status})")))?;
            // Tencent answers HTTP 200 for refusals too: a request-level `Error`, or a per-number
            // status other than `Ok`.
            if let Some(e) = answer.response.error {
                return Err(SmsError::Refused { code: e.code, message: e.message });
            }
            match answer.response.send_status_set.into_iter().next() {
                Some(st) if st.code == "Ok" => Ok(()),
                Some(st) => Err(SmsError::Refused { code: st.code, message: st.message }),
                None => Err(SmsError::Refused { code: "NoStatus".into(), message: "no send status".into() }),
            }
        })
    }
}

/// `host[:port]` as the `Host` header carries it (and as it is signed).
fn host_of(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Step 1: the canonical request of a JSON POST to `/`, signing `content-type` and `host`.
fn canonical_request(host: &str, payload: &str) -> String {
    format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\n\ncontent-type;host\n{}",
        host.to_ascii_lowercase(),
        sha256_hex(payload.as_bytes())
    )
}

/// The UTC date of a request time, as the credential scope carries it.
fn utc_date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// Step 2: what is signed.
fn string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{}/{service}/tc3_request\n{}",
        utc_date(timestamp),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Step 3: the signature, with the key derived from the secret, the date and the service.
fn signature(secret_key: &str, timestamp: i64, service: &str, string_to_sign: &str) -> String {
    let date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), utc_date(timestamp).as_bytes());
    let service_key = hmac_sha256(&date, service.as_bytes());
    let signing = hmac_sha256(&service_key, b"tc3_request");
    hex::encode(hmac_sha256(&signing, string_to_sign.as_bytes()))
}

/// Step 4: the `Authorization` header of a `SendSms` request.
fn authorization(secret_id: &str, secret_key: &str, host: &str, timestamp: i64, payload: &str) -> String {
    signed_authorization(secret_id, secret_key, SERVICE, host, timestamp, payload)
}

fn signed_authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    timestamp: i64,
    payload: &str,
) -> String {
    let to_sign = string_to_sign(timestamp, service, &canonical_request(host, payload));
    format!(
        "{ALGORITHM} Credential={secret_id}/{}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={}",
        utc_date(timestamp),
        signature(secret_key, timestamp, service, &to_sign)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of Tencent Cloud's "Signature v3" document (API 3.0, TC3-HMAC-SHA256),
    // e.g. https://www.tencentcloud.com/document/product/267/37447 (every product's API docs carry
    // the same page): the CVM `DescribeInstances` request of 2019-02-25, with fixed keys, time
    // and body and the value of every intermediate step.
    const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const TIMESTAMP: i64 = 1551113065;
    const PAYLOAD: &str = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    #[test]
    fn reproduces_the_documented_example_step_by_step() {
        let canonical = canonical_request("cvm.tencentcloudapi.com", PAYLOAD);
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let to_sign = string_to_sign(TIMESTAMP, "cvm", &canonical);
        assert_eq!(
            to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature(SECRET_KEY, TIMESTAMP, "cvm", &to_sign),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            signed_authorization(SECRET_ID, SECRET_KEY, "cvm", "cvm.tencentcloudapi.com", TIMESTAMP, PAYLOAD),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn the_date_is_utc_even_past_midnight_in_china() {
        // 2019-02-26 00:44:25 in Beijing is still the 25th in UTC (the document's own warning).
        assert_eq!(utc_date(TIMESTAMP), "2019-02-25");
    }

    #[test]
    fn the_host_keeps_a_non_default_port() {
        assert_eq!(host_of("https://sms.tencentcloudapi.com").as_deref(), Some("sms.tencentcloudapi.com"));
        assert_eq!(host_of("http://127.0.0.1:8123").as_deref(), Some("127.0.0.1:8123"));
    }

    #[test]
    fn the_request_body_names_the_template_parameters_in_order() {
        let body = serde_json::to_value(SendSms {
            phone_number_set: ["+8613800138000".into()],
            sms_sdk_app_id: "1400000000",
            sign_name: "餐厅",
            template_id: "100001",
            template_param_set: ["123456".into(), "5".into()],
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000000", "SignName": "餐厅",
                "TemplateId": "100001", "TemplateParamSet": ["123456", "5"],
            })
        );
    }
}
