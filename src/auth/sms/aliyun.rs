//! Alibaba Cloud SMS: Dysmsapi `SendSms` (version 2017-05-25), an RPC-style API signed with
//! Alibaba's HMAC-SHA1 signature (SignatureVersion 1.0).
//!
//! The signing is written here rather than taken from a crate: the Rust crates for this API are
//! unofficial, blocking, GPL-licensed or cannot point at another endpoint. It is a few lines over
//! `hmac`, `sha1` and `base64`, pinned by the unit tests below to the worked examples in
//! Alibaba's own documentation.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::{minutes, SmsError, SmsFuture, SmsSender};
use crate::config::AliyunSmsSettings;
use crate::domain::Phone;

const VERSION: &str = "2017-05-25";

pub struct AliyunSms {
    settings: AliyunSmsSettings,
    http: reqwest::Client,
}

impl AliyunSms {
    pub fn new(settings: AliyunSmsSettings, http: reqwest::Client) -> AliyunSms {
        AliyunSms { settings, http }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    code: String,
    #[serde(default)]
    message: String,
}

impl SmsSender for AliyunSms {
    fn send<'a>(&'a self, phone: &'a Phone, code: &'a str, valid_for: Duration) -> SmsFuture<'a> {
        Box::pin(async move {
            let s = &self.settings;
            let template_param =
                serde_json::json!({ "code": code, "minutes": minutes(valid_for).to_string() }).to_string();
            let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let nonce = uuid::Uuid::new_v4().to_string();
            let mut params: Vec<(&str, &str)> = vec![
                ("AccessKeyId", &s.access_key_id),
                ("Action", "SendSms"),
                ("Format", "JSON"),
                ("PhoneNumbers", phone.as_str()),
                ("RegionId", "cn-hangzhou"),
                ("SignName", &s.sign_name),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", &nonce),
                ("SignatureVersion", "1.0"),
                ("TemplateCode", &s.template_code),
                ("TemplateParam", &template_param),
                ("Timestamp", &timestamp),
                ("Version", VERSION),
            ];
            let signature = signature("POST", &params, s.access_key_secret.expose());
            params.push(("Signature", &signature));
            let response = self
                .http
                .post(format!("{}/", s.endpoint))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&params))
                .send()
                .await
                .map_err(SmsError::unreachable)?;
            let status = response.status();
            let body = response.bytes().await.map_err(SmsError::unreachable)?;
            // Refusals come as JSON too: with 4xx for the request itself (signature, key, time),
            // with 200 and a code other than OK for the message (template, limits).
            let answer: Answer = serde_json::from_slice(&body)
                .map_err(|_| SmsError::unreachable(format!("unreadable answer (HTTP {status})")))?;
            if status.is_success() && answer.code == "OK" {
                Ok(())
            } else {
                Err(SmsError::Refused { code: answer.code, message: answer.message })
            }
        })
    }
}

/// Alibaba's percent-encoding: RFC 3986 over UTF-8, only `A-Z a-z 0-9 - _ . ~` left as they are,
/// upper-case hex (so a space is `%20`, never `+`, and `*` is `%2A`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The parameters sorted by name and joined as `k=v&…`, each side percent-encoded.
fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// `METHOD&%2F&<the canonical query, percent-encoded again>`.
fn string_to_sign(method: &str, params: &[(&str, &str)]) -> String {
    format!("{method}&{}&{}", percent_encode("/"), percent_encode(&canonical_query(params)))
}

/// Base64 of HMAC-SHA1 over the string to sign, keyed with the secret and a `&`.
fn signature(method: &str, params: &[(&str, &str)], secret: &str) -> String {
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An `application/x-www-form-urlencoded` body with the same encoding as the signature.
fn form(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The SendSms example of Alibaba Cloud's SMS document "HTTP协议及签名"
    // (https://help.aliyun.com/document_detail/56189.html): AccessKeyId testId, secret
    // testSecret, fixed nonce and time, and the expected string to sign and signature.
    const SEND_SMS: &[(&str, &str)] = &[
        ("AccessKeyId", "testId"),
        ("Action", "SendSms"),
        ("Format", "XML"),
        ("OutId", "123"),
        ("PhoneNumbers", "15300000001"),
        ("RegionId", "cn-hangzhou"),
        ("SignName", "阿里云短信测试专用"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
        ("SignatureVersion", "1.0"),
        ("TemplateCode", "SMS_71390007"),
        ("TemplateParam", r#"{"customer":"test"}"#),
        ("Timestamp", "2017-07-12T02:42:19Z"),
        ("Version", "2017-05-25"),
    ];

    #[test]
    fn reproduces_the_documented_send_sms_example() {
        assert_eq!(
            string_to_sign("GET", SEND_SMS),
            "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers\
             %3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA\
             %2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466\
             %26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer\
             %2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
        );
        assert_eq!(signature("GET", SEND_SMS, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
    }

    // The example of Alibaba Cloud's RPC signature document (ECS `DescribeRegions`, AccessKeyId
    // testid, secret testsecret, 2016-02-23T12:46:24Z).
    #[test]
    fn reproduces_the_documented_rpc_example() {
        let params: &[(&str, &str)] = &[
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ];
        assert_eq!(
            string_to_sign("GET", params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod\
             %3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0\
             %26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(signature("GET", params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn percent_encoding_follows_alibabas_rules() {
        assert_eq!(percent_encode("a b*c~d/e+f"), "a%20b%2Ac~d%2Fe%2Bf");
        assert_eq!(percent_encode("派"), "%E6%B4%BE");
    }

    #[test]
    fn the_signature_does_not_sign_itself() {
        let mut with = SEND_SMS.to_vec();
        with.push(("Signature", "old"));
        assert_eq!(signature("GET", &with, "testSecret"), signature("GET", SEND_SMS, "testSecret"));
    }
}
