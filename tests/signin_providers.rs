//! Real sign-in, against the real protocols: WeChat mini-program login and SMS codes delivered
//! by Tencent Cloud and Alibaba Cloud, with the server in production mode.
//!
//! WeChat and the providers cannot be reached from here, so each test starts small servers inside
//! the test process that implement the providers' side as documented: the WeChat fake checks the
//! appid and secret, makes every `wx.login` and phone code single-use, issues access tokens that
//! expire (answering 40001/42001 for stale ones) and counts its token fetches; the SMS fakes
//! recompute each request's signature with the provider's published algorithm (checked below
//! against the providers' own worked examples), refuse bad ones the way the providers do, and
//! record the code they were asked to deliver, which is what the customer then signs in with.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode as HttpStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Serves `router` on 127.0.0.1 (a free port) for the rest of the test; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a fake provider");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

// ------------------------------------------------------------------------------------------------
// WeChat: jscode2session, cgi-bin/token, wxa/business/getuserphonenumber
// ------------------------------------------------------------------------------------------------

const APPID: &str = "wx5f1e8c0a9b7d3e21";
const APPSECRET: &str = "9c1f5e7a3b2d4c6e8f0a1b3c5d7e9f2a";
/// Handed out with every openid, as WeChat does; it must never reach a log or a client.
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";

#[derive(Default)]
struct WechatBook {
    /// js_code → (openid, used)
    login_codes: HashMap<String, (String, bool)>,
    /// phone code → (phone, used)
    phone_codes: HashMap<String, (String, bool)>,
    /// access token → when it expires
    tokens: HashMap<String, Instant>,
}

struct FakeWechat {
    url: Mutex<String>,
    book: Mutex<WechatBook>,
    token_ttl_s: AtomicU64,
    token_delay_ms: AtomicU64,
    token_fetches: AtomicUsize,
    stale_token_answers: AtomicUsize,
    /// Answer every call with errcode -1 (系统繁忙).
    busy: AtomicBool,
    serial: AtomicU64,
}

impl FakeWechat {
    async fn start() -> Arc<FakeWechat> {
        let fake = Arc::new(FakeWechat {
            url: Mutex::new(String::new()),
            book: Mutex::new(WechatBook::default()),
            token_ttl_s: AtomicU64::new(7200),
            token_delay_ms: AtomicU64::new(0),
            token_fetches: AtomicUsize::new(0),
            stale_token_answers: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            serial: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/sns/jscode2session", get(jscode2session))
            .route("/cgi-bin/token", get(access_token))
            .route("/wxa/business/getuserphonenumber", post(phone_number))
            .with_state(fake.clone());
        *fake.url.lock().unwrap() = serve(router).await;
        fake
    }

    fn url(&self) -> String {
        self.url.lock().unwrap().clone()
    }

    fn next(&self, prefix: &str) -> String {
        format!("{prefix}{:06}{}", self.serial.fetch_add(1, Ordering::SeqCst), uuid::Uuid::new_v4().simple())
    }

    /// What `wx.login` gives the mini-program of the customer `openid`.
    fn login_code(&self, openid: &str) -> String {
        let code = self.next("jc");
        self.book.lock().unwrap().login_codes.insert(code.clone(), (openid.to_string(), false));
        code
    }

    /// What the phone number button gives a customer whose WeChat account has `phone`.
    fn phone_code(&self, phone: &str) -> String {
        let code = self.next("pc");
        self.book.lock().unwrap().phone_codes.insert(code.clone(), (phone.to_string(), false));
        code
    }

    /// Every token issued so far expires now (WeChat answers 42001 for them).
    fn expire_tokens(&self) {
        let now = Instant::now();
        self.book.lock().unwrap().tokens.values_mut().for_each(|t| *t = now);
    }

    /// Every token issued so far stops being valid (as when another server fetched a newer one;
    /// WeChat answers 40001).
    fn revoke_tokens(&self) {
        self.book.lock().unwrap().tokens.clear();
    }

    fn fetches(&self) -> usize {
        self.token_fetches.load(Ordering::SeqCst)
    }

    fn issued_tokens(&self) -> Vec<String> {
        self.book.lock().unwrap().tokens.keys().cloned().collect()
    }
}

/// WeChat labels these JSON answers `text/plain`.
fn wechat_answer(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], v.to_string()).into_response()
}

fn wechat_error(errcode: i64, errmsg: &str) -> Response {
    wechat_answer(json!({ "errcode": errcode, "errmsg": format!("{errmsg} rid: 6592a3f1-1b2c") }))
}

/// appid and secret, as every credentialed WeChat call checks them.
fn wechat_credentials(q: &HashMap<String, String>) -> Option<Response> {
    if q.get("appid").map(String::as_str) != Some(APPID) {
        return Some(wechat_error(40013, "invalid appid"));
    }
    if q.get("secret").map(String::as_str) != Some(APPSECRET) {
        return Some(wechat_error(40125, "invalid appsecret"));
    }
    None
}

async fn jscode2session(State(fake): State<Arc<FakeWechat>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if fake.busy.load(Ordering::SeqCst) {
        return wechat_error(-1, "system error");
    }
    if let Some(refused) = wechat_credentials(&q) {
        return refused;
    }
    if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return wechat_error(40002, "invalid grant_type");
    }
    let code = q.get("js_code").cloned().unwrap_or_default();
    let mut book = fake.book.lock().unwrap();
    match book.login_codes.get_mut(&code) {
        None => wechat_error(40029, "invalid code"),
        Some((_, true)) => wechat_error(40163, "code been used"),
        Some((openid, used)) => {
            *used = true;
            wechat_answer(json!({ "session_key": SESSION_KEY, "openid": openid }))
        }
    }
}

async fn access_token(State(fake): State<Arc<FakeWechat>>, Query(q): Query<HashMap<String, String>>) -> Response {
    fake.token_fetches.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(fake.token_delay_ms.load(Ordering::SeqCst))).await;
    if fake.busy.load(Ordering::SeqCst) {
        return wechat_error(-1, "system error");
    }
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return wechat_error(40002, "invalid grant_type");
    }
    if q.get("appid").map(String::as_str) != Some(APPID) {
        return wechat_error(40013, "invalid appid");
    }
    if q.get("secret").map(String::as_str) != Some(APPSECRET) {
        // What cgi-bin/token answers for a wrong AppSecret.
        return wechat_error(40001, "invalid credential, access_token is invalid or not latest");
    }
    let ttl = fake.token_ttl_s.load(Ordering::SeqCst);
    let token = fake.next("at");
    fake.book.lock().unwrap().tokens.insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    Json(json!({ "access_token": token, "expires_in": ttl })).into_response()
}

async fn phone_number(
    State(fake): State<Arc<FakeWechat>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if fake.busy.load(Ordering::SeqCst) {
        return wechat_error(-1, "system error");
    }
    let token = q.get("access_token").cloned().unwrap_or_default();
    let mut book = fake.book.lock().unwrap();
    match book.tokens.get(&token) {
        None => {
            fake.stale_token_answers.fetch_add(1, Ordering::SeqCst);
            return wechat_error(40001, "invalid credential, access_token is invalid or not latest");
        }
        Some(expires) if Instant::now() >= *expires => {
            fake.stale_token_answers.fetch_add(1, Ordering::SeqCst);
            return wechat_error(42001, "access_token expired");
        }
        Some(_) => {}
    }
    let code = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["code"].as_str().map(str::to_string));
    let Some(code) = code else { return wechat_error(47001, "data format error") };
    match book.phone_codes.get_mut(&code) {
        Some((phone, used)) if !*used => {
            *used = true;
            Json(json!({
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": { "timestamp": chrono::Utc::now().timestamp(), "appid": APPID },
                },
            }))
            .into_response()
        }
        _ => wechat_error(40029, "invalid code"),
    }
}

// ------------------------------------------------------------------------------------------------
// Tencent Cloud SMS: API 3.0 SendSms, TC3-HMAC-SHA256
// ------------------------------------------------------------------------------------------------

const TENCENT_ID: &str = "AKIDrestaurantTestSecretId0001";
const TENCENT_KEY: &str = "tencentTestSecretKey4f8b2c9d1e7a";
const TENCENT_APP: &str = "1400912345";
const TENCENT_SIGN: &str = "好味餐厅";
const TENCENT_TEMPLATE: &str = "2084321";

/// The TC3-HMAC-SHA256 signature of a request, recomputed from what arrived, as Tencent's
/// "Signature v3" document defines it.
fn tc3_signature(
    secret_key: &str,
    timestamp: i64,
    service: &str,
    signed_headers: &[(String, String)],
    body: &[u8],
) -> String {
    let canonical_headers: String = signed_headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names: Vec<&str> = signed_headers.iter().map(|(k, _)| k.as_str()).collect();
    let canonical_request =
        format!("POST\n/\n\n{canonical_headers}\n{}\n{}", names.join(";"), hex::encode(Sha256::digest(body)));
    let date = chrono::DateTime::from_timestamp(timestamp, 0).expect("time").format("%Y-%m-%d").to_string();
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()))
}

struct FakeTencent {
    url: Mutex<String>,
    /// (phone as sent, template parameters)
    received: Mutex<Vec<(String, Vec<String>)>>,
    /// Per-number refusal code for the next messages (e.g. a daily limit).
    refuse_with: Mutex<Option<String>>,
    rejected: AtomicUsize,
}

impl FakeTencent {
    async fn start() -> Arc<FakeTencent> {
        let fake = Arc::new(FakeTencent {
            url: Mutex::new(String::new()),
            received: Mutex::new(Vec::new()),
            refuse_with: Mutex::new(None),
            rejected: AtomicUsize::new(0),
        });
        let router = Router::new().route("/", post(tencent_send_sms)).with_state(fake.clone());
        *fake.url.lock().unwrap() = serve(router).await;
        fake
    }

    fn env(&self, secret_key: &str) -> Vec<(String, String)> {
        pairs(&[
            ("SMS_PROVIDER", "tencent"),
            ("SMS_TENCENT_SECRET_ID", TENCENT_ID),
            ("SMS_TENCENT_SECRET_KEY", secret_key),
            ("SMS_TENCENT_SDK_APP_ID", TENCENT_APP),
            ("SMS_TENCENT_SIGN_NAME", TENCENT_SIGN),
            ("SMS_TENCENT_TEMPLATE_ID", TENCENT_TEMPLATE),
            ("SMS_TENCENT_ENDPOINT", self.url.lock().unwrap().as_str()),
        ])
    }

    /// The code the customer with `phone` received last, and the minutes the message stated.
    fn last_code_for(&self, phone: &str) -> Option<(String, String)> {
        let want = format!("+86{phone}");
        let received = self.received.lock().unwrap();
        received.iter().rev().find(|(p, _)| *p == want).map(|(_, params)| (params[0].clone(), params[1].clone()))
    }

    fn delivered(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

fn tencent_error(code: &str, message: &str) -> Response {
    // Tencent answers HTTP 200 with an `Error` object for refused requests.
    Json(json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": uuid::Uuid::new_v4().to_string() } }))
        .into_response()
}

async fn tencent_send_sms(State(fake): State<Arc<FakeTencent>>, headers: HeaderMap, body: Bytes) -> Response {
    let refused = |code: &str, message: &str| {
        fake.rejected.fetch_add(1, Ordering::SeqCst);
        tencent_error(code, message)
    };
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let auth = h("authorization");
    let Some(fields) = auth.strip_prefix("TC3-HMAC-SHA256 ") else {
        return refused("AuthFailure.InvalidAuthorization", "Authorization is invalid");
    };
    let field = |name: &str| {
        fields.split(", ").find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('='))).unwrap_or_default()
    };
    let credential: Vec<&str> = field("Credential").split('/').collect();
    let [secret_id, date, service, "tc3_request"] = credential[..] else {
        return refused("AuthFailure.InvalidAuthorization", "Credential is invalid");
    };
    if secret_id != TENCENT_ID {
        return refused("AuthFailure.SecretIdNotFound", "The SecretId is not found");
    }
    let Ok(timestamp) = h("x-tc-timestamp").parse::<i64>() else {
        return refused("MissingParameter", "X-TC-Timestamp is missing");
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return refused("AuthFailure.SignatureExpire", "Signature expired");
    }
    let expected_date = chrono::DateTime::from_timestamp(timestamp, 0).expect("time").format("%Y-%m-%d").to_string();
    let signed_names: Vec<&str> = field("SignedHeaders").split(';').collect();
    if date != expected_date
        || service != "sms"
        || !signed_names.contains(&"content-type")
        || !signed_names.contains(&"host")
    {
        return refused("AuthFailure.SignatureFailure", "The provided credentials could not be validated");
    }
    let signed: Vec<(String, String)> =
        signed_names.iter().map(|n| (n.to_string(), h(n).trim().to_ascii_lowercase())).collect();
    if tc3_signature(TENCENT_KEY, timestamp, service, &signed, &body) != field("Signature") {
        return refused(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if h("x-tc-action") != "SendSms" || h("x-tc-version") != "2021-01-11" || h("x-tc-region").is_empty() {
        return refused("InvalidAction", "The action, version or region is invalid");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return refused("InvalidParameter", "The body is not JSON");
    };
    if req["SmsSdkAppId"] != TENCENT_APP {
        return refused("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist");
    }
    if req["SignName"] != TENCENT_SIGN {
        return refused("FailedOperation.SignatureIncorrectOrUnapproved", "signature incorrect or unapproved");
    }
    if req["TemplateId"] != TENCENT_TEMPLATE {
        return refused("FailedOperation.TemplateIncorrectOrUnapproved", "template incorrect or unapproved");
    }
    let params: Vec<String> = req["TemplateParamSet"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    if params.len() != 2 {
        return refused("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "template params do not match");
    }
    let phone = req["PhoneNumberSet"][0].as_str().unwrap_or_default().to_string();
    let (code, message) = match fake.refuse_with.lock().unwrap().clone() {
        Some(code) => (code, "the number has reached its daily limit".to_string()),
        None => {
            fake.received.lock().unwrap().push((phone.clone(), params));
            ("Ok".to_string(), "send success".to_string())
        }
    };
    Json(json!({ "Response": {
        "SendStatusSet": [{ "SerialNo": uuid::Uuid::new_v4().to_string(), "PhoneNumber": phone, "Fee": 1,
                            "SessionContext": "", "Code": code, "Message": message, "IsoCode": "CN" }],
        "RequestId": uuid::Uuid::new_v4().to_string(),
    }}))
    .into_response()
}

// ------------------------------------------------------------------------------------------------
// Alibaba Cloud SMS: Dysmsapi SendSms, RPC signature (HMAC-SHA1)
// ------------------------------------------------------------------------------------------------

const ALIYUN_ID: &str = "LTAI5tRestaurantTestKey";
const ALIYUN_SECRET: &str = "aliyunTestSecret7Hd93kLq0Zp2";
const ALIYUN_SIGN: &str = "好味餐厅";
const ALIYUN_TEMPLATE: &str = "SMS_465320001";

/// Alibaba's percent-encoding: everything but `A-Z a-z 0-9 - _ . ~` as upper-case `%XX`.
fn pop_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The RPC signature of a request, recomputed from its parameters, as Alibaba documents it.
fn aliyun_signature(method: &str, params: &[(String, String)], secret: &str) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v))).collect();
    let to_sign = format!("{method}&{}&{}", pop_encode("/"), pop_encode(&query.join("&")));
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct FakeAliyun {
    url: Mutex<String>,
    /// (phone, TemplateParam)
    received: Mutex<Vec<(String, Value)>>,
    nonces: Mutex<HashSet<String>>,
    refuse_with: Mutex<Option<String>>,
    rejected: AtomicUsize,
}

impl FakeAliyun {
    async fn start() -> Arc<FakeAliyun> {
        let fake = Arc::new(FakeAliyun {
            url: Mutex::new(String::new()),
            received: Mutex::new(Vec::new()),
            nonces: Mutex::new(HashSet::new()),
            refuse_with: Mutex::new(None),
            rejected: AtomicUsize::new(0),
        });
        let router = Router::new().route("/", post(aliyun_send_sms)).with_state(fake.clone());
        *fake.url.lock().unwrap() = serve(router).await;
        fake
    }

    fn env(&self, secret: &str) -> Vec<(String, String)> {
        pairs(&[
            ("SMS_PROVIDER", "aliyun"),
            ("SMS_ALIYUN_ACCESS_KEY_ID", ALIYUN_ID),
            ("SMS_ALIYUN_ACCESS_KEY_SECRET", secret),
            ("SMS_ALIYUN_SIGN_NAME", ALIYUN_SIGN),
            ("SMS_ALIYUN_TEMPLATE_CODE", ALIYUN_TEMPLATE),
            ("SMS_ALIYUN_ENDPOINT", self.url.lock().unwrap().as_str()),
        ])
    }

    fn last_code_for(&self, phone: &str) -> Option<(String, String)> {
        let received = self.received.lock().unwrap();
        received.iter().rev().find(|(p, _)| p == phone).map(|(_, param)| {
            (
                param["code"].as_str().unwrap_or_default().to_string(),
                param["minutes"].as_str().unwrap_or_default().to_string(),
            )
        })
    }

    fn delivered(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

fn aliyun_answer(status: u16, code: &str, message: &str) -> Response {
    let status = HttpStatus::from_u16(status).expect("status");
    let body = json!({ "RequestId": uuid::Uuid::new_v4().to_string(), "Code": code, "Message": message, "BizId": "" });
    (status, Json(body)).into_response()
}

async fn aliyun_send_sms(State(fake): State<Arc<FakeAliyun>>, body: Bytes) -> Response {
    let refused = |status: u16, code: &str, message: &str| {
        fake.rejected.fetch_add(1, Ordering::SeqCst);
        aliyun_answer(status, code, message)
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let p = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    if p("AccessKeyId") != ALIYUN_ID {
        return refused(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    }
    if p("SignatureMethod") != "HMAC-SHA1" || p("SignatureVersion") != "1.0" {
        return refused(400, "InvalidSignatureMethod.Malformed", "Specified signature method is not valid.");
    }
    let Ok(at) = chrono::NaiveDateTime::parse_from_str(&p("Timestamp"), "%Y-%m-%dT%H:%M:%SZ") else {
        return refused(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.");
    };
    if (chrono::Utc::now().naive_utc() - at).num_seconds().abs() > 900 {
        return refused(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
    }
    if p("SignatureNonce").is_empty() || !fake.nonces.lock().unwrap().insert(p("SignatureNonce")) {
        return refused(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
    }
    if aliyun_signature("POST", &params, ALIYUN_SECRET) != p("Signature") {
        return refused(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
    }
    if p("Action") != "SendSms" || p("Version") != "2017-05-25" {
        return refused(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.");
    }
    if p("SignName") != ALIYUN_SIGN {
        return refused(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名");
    }
    if p("TemplateCode") != ALIYUN_TEMPLATE {
        return refused(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板");
    }
    let param: Value = serde_json::from_str(&p("TemplateParam")).unwrap_or(Value::Null);
    if !param["code"].is_string() {
        return refused(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值");
    }
    let phone = p("PhoneNumbers");
    if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return refused(200, "isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误");
    }
    if let Some(code) = fake.refuse_with.lock().unwrap().clone() {
        return refused(200, &code, "触发号码天级流控");
    }
    fake.received.lock().unwrap().push((phone, param));
    aliyun_answer(200, "OK", "OK")
}

// ------------------------------------------------------------------------------------------------
// Servers and helpers
// ------------------------------------------------------------------------------------------------

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn wechat_env(fake: &FakeWechat, secret: &str) -> Vec<(String, String)> {
    pairs(&[("WECHAT_APPID", APPID), ("WECHAT_SECRET", secret), ("WECHAT_API_BASE", fake.url().as_str())])
}

/// A server in production mode (strong JWT secrets from the harness, no test hooks, no
/// development code) with `env` on top.
async fn production(backend: Backend, env: Vec<(String, String)>) -> TestServer {
    let mut all = pairs(&[("APP_ENV", "production"), ("ENABLE_TEST_HOOKS", "0")]);
    all.extend(env);
    let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_with(backend, &refs).await
}

/// Nothing listens here: a provider that is down.
const NOWHERE: &str = "http://127.0.0.1:9";

/// The signed-in customer of a sign-in answer.
fn customer(phone: &str, data: &Value) -> Customer {
    Customer {
        user_id: data["user_info"]["user_id"].as_i64().expect("user_id"),
        phone: phone.to_string(),
        token: data["access_token"].as_str().expect("access_token").to_string(),
        refresh: data["refresh_token"].as_str().expect("refresh_token").to_string(),
    }
}

async fn wechat_login(server: &TestServer, code: &str, phone_code: Option<&str>) -> (reqwest::StatusCode, Value) {
    let body = match phone_code {
        Some(p) => json!({ "code": code, "phone_code": p }),
        None => json!({ "code": code }),
    };
    server.post("/api/auth/wechat-login", None, body).await
}

async fn customers(server: &TestServer, admin: &str) -> i64 {
    let users = assert_ok(&server.get("/api/admin/users", Some(admin)).await);
    users["pagination"]["total"].as_i64().expect("total")
}

async fn register_grants(server: &TestServer, c: &Customer) -> i64 {
    let page = assert_ok(&server.get("/api/user/points-records?source=register", Some(&c.token)).await);
    page["pagination"]["total"].as_i64().expect("total")
}

/// Sends a code and signs in with what the provider delivered; also proves `123456` is refused.
async fn sms_sign_in(
    server: &TestServer,
    phone: &str,
    delivered: impl Fn(&str) -> Option<(String, String)>,
) -> (Customer, Value) {
    let sent = assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": phone })).await);
    assert_eq!(sent["expires_in"].as_i64(), Some(300), "{sent}");
    let (code, minutes) = delivered(phone).expect("the provider received a code for the phone");
    assert_eq!(code.len(), 6, "{code}");
    assert_eq!(minutes, "5", "the message states the code's lifetime in minutes");
    if code != "123456" {
        let refused = server.post("/api/auth/login", None, json!({ "phone": phone, "code": "123456" })).await;
        assert_error(&refused, 400, 1002);
    }
    let data = assert_ok(&server.post("/api/auth/login", None, json!({ "phone": phone, "code": code })).await);
    (customer(phone, &data), data)
}

// ------------------------------------------------------------------------------------------------
// SMS
// ------------------------------------------------------------------------------------------------

async fn tencent_delivers_the_code_a_customer_signs_in_with(backend: Backend) {
    let tencent = FakeTencent::start().await;
    let server = production(backend, tencent.env(TENCENT_KEY)).await;
    let p = phone(301, 1);
    let (c, data) = sms_sign_in(&server, &p, |ph| tencent.last_code_for(ph)).await;
    assert_eq!(data["is_new_user"], json!(true), "{data}");
    assert_eq!(data["user_info"]["total_points"].as_i64(), Some(1000), "{data}");
    assert_eq!(server.balance(&c).await, 1000);
    // A delivered code starts the phone's interval.
    let q = phone(301, 2);
    assert_ok(&server.post("/api/auth/send-code", None, json!({ "phone": q })).await);
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": q })).await, 429, 1004);
    assert_eq!(tencent.delivered(), 2);
    assert_eq!(tencent.rejected.load(Ordering::SeqCst), 0, "every request was signed correctly");
}

async fn aliyun_delivers_the_code_a_customer_signs_in_with(backend: Backend) {
    let aliyun = FakeAliyun::start().await;
    let server = production(backend, aliyun.env(ALIYUN_SECRET)).await;
    let p = phone(302, 1);
    let (c, data) = sms_sign_in(&server, &p, |ph| aliyun.last_code_for(ph)).await;
    assert_eq!(data["is_new_user"], json!(true), "{data}");
    assert_eq!(server.balance(&c).await, 1000);
    // A second customer: a fresh nonce and signature each time.
    let q = phone(302, 2);
    let (other, _) = sms_sign_in(&server, &q, |ph| aliyun.last_code_for(ph)).await;
    assert_ne!(other.user_id, c.user_id);
    assert_eq!(aliyun.rejected.load(Ordering::SeqCst), 0, "every request was signed correctly");
}

/// A refusal by the provider answers 1008 and leaves nothing behind: no code that signs in, no
/// interval that blocks the next try, no account.
async fn a_provider_refusal_answers_1008_and_changes_nothing(backend: Backend) {
    let tencent = FakeTencent::start().await;
    let server = production(backend, tencent.env(TENCENT_KEY)).await;
    let p = phone(303, 1);
    *tencent.refuse_with.lock().unwrap() = Some("LimitExceeded.PhoneNumberDailyLimit".into());
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await, 400, 1002);
    *tencent.refuse_with.lock().unwrap() = None;
    // Right away: the refused send did not start the 60 s interval.
    let (c, _) = sms_sign_in(&server, &p, |ph| tencent.last_code_for(ph)).await;
    assert_eq!(server.balance(&c).await, 1000);

    let aliyun = FakeAliyun::start().await;
    let server = production(backend, aliyun.env(ALIYUN_SECRET)).await;
    *aliyun.refuse_with.lock().unwrap() = Some("isv.BUSINESS_LIMIT_CONTROL".into());
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 0);
    *aliyun.refuse_with.lock().unwrap() = None;
    sms_sign_in(&server, &p, |ph| aliyun.last_code_for(ph)).await;
    assert_eq!(customers(&server, &admin).await, 1);
}

/// Wrong credentials fail the providers' signature checks; a provider that cannot be reached
/// fails too. Each answers 1008 and delivers nothing.
async fn bad_provider_credentials_or_an_unreachable_provider_answer_1008(backend: Backend) {
    let tencent = FakeTencent::start().await;
    let server = production(backend, tencent.env("tencentWrongSecretKey00000000000")).await;
    let p = phone(304, 1);
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    assert_eq!((tencent.delivered(), tencent.rejected.load(Ordering::SeqCst)), (0, 1));
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 0);

    let aliyun = FakeAliyun::start().await;
    let server = production(backend, aliyun.env("aliyunWrongSecret000000000")).await;
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    assert_eq!((aliyun.delivered(), aliyun.rejected.load(Ordering::SeqCst)), (0, 1));

    let mut env = tencent.env(TENCENT_KEY);
    env.push(("SMS_TENCENT_ENDPOINT".into(), NOWHERE.into()));
    let server = production(backend, env).await;
    assert_error(&server.post("/api/auth/send-code", None, json!({ "phone": p })).await, 502, 1008);
    assert_error(&server.post("/api/auth/login", None, json!({ "phone": p, "code": "123456" })).await, 400, 1002);
}

// ------------------------------------------------------------------------------------------------
// WeChat
// ------------------------------------------------------------------------------------------------

/// The first time with the phone button, then with `wx.login` alone; the session key, the
/// mini-program's secret and its access tokens never reach the log or the client.
async fn wechat_first_with_the_phone_button_then_with_wx_login_alone(backend: Backend) {
    let wx = FakeWechat::start().await;
    let mut env = wechat_env(&wx, APPSECRET);
    env.push(("RUST_LOG".into(), "debug".into()));
    let server = production(backend, env).await;
    let openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
    let p = phone(305, 1);

    let first = wechat_login(&server, &wx.login_code(openid), None).await;
    assert_error(&first, 400, 1007);
    assert_eq!(first.1["data"], json!({ "need_phone": true }), "{}", first.1);

    let signed_up = wechat_login(&server, &wx.login_code(openid), Some(&wx.phone_code(&p))).await;
    let data = assert_ok(&signed_up);
    assert_eq!(data["is_new_user"], json!(true), "{data}");
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"].as_i64(), Some(7200));
    assert_eq!(data["user_info"]["mobile"], format!("{}****{}", &p[..3], &p[7..]));
    assert_eq!(data["user_info"]["nickname"], format!("用户{}", &p[7..]));
    assert_eq!(data["user_info"]["total_points"].as_i64(), Some(1000));
    let c = customer(&p, &data);
    assert_eq!(server.balance(&c).await, 1000);

    let again = assert_ok(&wechat_login(&server, &wx.login_code(openid), None).await);
    assert_eq!(again["is_new_user"], json!(false), "{again}");
    assert_eq!(again["user_info"]["user_id"].as_i64(), Some(c.user_id));
    let again = customer(&p, &again);
    assert_eq!(register_grants(&server, &again).await, 1, "one sign-up grant");
    // The tokens are ordinary: refresh rotates them.
    assert_ok(&server.post("/api/auth/refresh", None, json!({ "refresh_token": again.refresh })).await);
    assert_eq!(wx.fetches(), 1);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("customer signed in") && l.contains("WeChat")),
        "the sign-in should have been logged"
    );
    let mut secrets = vec![("session_key", SESSION_KEY.to_string()), ("app secret", APPSECRET.to_string())];
    secrets.extend(wx.issued_tokens().into_iter().map(|t| ("access token", t)));
    secrets.push(("full phone", p.clone()));
    for (what, secret) in &secrets {
        assert!(!log.contains(secret.as_str()), "the log contains the {what}");
        assert!(!signed_up.1.to_string().contains(secret.as_str()), "the answer contains the {what}");
    }
}

/// A customer who signed up by SMS and later uses WeChat with the same phone keeps one account,
/// one balance and one sign-up grant.
async fn an_sms_customer_keeps_one_account_on_wechat(backend: Backend) {
    let wx = FakeWechat::start().await;
    let tencent = FakeTencent::start().await;
    let mut env = wechat_env(&wx, APPSECRET);
    env.extend(tencent.env(TENCENT_KEY));
    let server = production(backend, env).await;
    let p = phone(306, 1);
    let (sms, _) = sms_sign_in(&server, &p, |ph| tencent.last_code_for(ph)).await;
    let admin = server.admin().await;
    let adjust = json!({ "delta": 234, "reason": "老顾客", "request_id": "signin-306" });
    assert_ok(&server.post(&format!("/api/admin/users/{}/points", sms.user_id), Some(&admin), adjust).await);
    assert_eq!(server.balance(&sms).await, 1234);

    let openid = "oWx306SmsCustomerLaterOnWechat";
    let data = assert_ok(&wechat_login(&server, &wx.login_code(openid), Some(&wx.phone_code(&p))).await);
    assert_eq!(data["is_new_user"], json!(false), "{data}");
    assert_eq!(data["user_info"]["user_id"].as_i64(), Some(sms.user_id));
    assert_eq!(data["user_info"]["total_points"].as_i64(), Some(1234));
    // From now on wx.login alone is enough, and it is still the same account.
    let data = assert_ok(&wechat_login(&server, &wx.login_code(openid), None).await);
    let wechat = customer(&p, &data);
    assert_eq!(wechat.user_id, sms.user_id);
    assert_eq!(server.balance(&wechat).await, 1234);
    assert_eq!(register_grants(&server, &wechat).await, 1);
    assert_eq!(customers(&server, &admin).await, 1);
    server.assert_reconciled();
}

/// Bad code, used code, bad phone code, WeChat busy, WeChat down, wrong app secret: each answers
/// its contract code, and nobody is signed up.
async fn wechat_errors_answer_their_codes_and_change_nothing(backend: Backend) {
    let wx = FakeWechat::start().await;
    let server = production(backend, wechat_env(&wx, APPSECRET)).await;
    let p = phone(307, 1);
    let openid = "oWx307ErrorPaths";
    assert_error(&wechat_login(&server, "not-a-code-wechat-issued", None).await, 400, 1005);
    let used = wx.login_code(openid);
    assert_error(&wechat_login(&server, &used, None).await, 400, 1007);
    assert_error(&wechat_login(&server, &used, Some(&wx.phone_code(&p))).await, 400, 1005);
    assert_error(&wechat_login(&server, &wx.login_code(openid), Some("bogus-phone-code")).await, 400, 1005);
    wx.busy.store(true, Ordering::SeqCst);
    assert_error(&wechat_login(&server, &wx.login_code(openid), Some(&wx.phone_code(&p))).await, 502, 1005);
    wx.busy.store(false, Ordering::SeqCst);
    assert_error(&server.post("/api/auth/wechat-login", None, json!({})).await, 400, 1003);
    assert_error(&server.post("/api/auth/wechat-login", None, json!({ "code": "has spaces" })).await, 400, 1003);
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 0, "no error path signed anyone up");
    // The same customer, once WeChat answers, signs up normally.
    assert_ok(&wechat_login(&server, &wx.login_code(openid), Some(&wx.phone_code(&p))).await);
    assert_eq!(customers(&server, &admin).await, 1);

    let mut down = wechat_env(&wx, APPSECRET);
    down.push(("WECHAT_API_BASE".into(), NOWHERE.into()));
    let server = production(backend, down).await;
    assert_error(&wechat_login(&server, &wx.login_code(openid), None).await, 502, 1005);

    let server = production(backend, wechat_env(&wx, "0000wrong0000secret0000")).await;
    let code = wx.login_code("oWx307WrongSecret");
    assert_error(&wechat_login(&server, &code, Some(&wx.phone_code(&phone(307, 2)))).await, 502, 1005);
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 0);
}

/// Fifty customers signing up at the same moment share one access-token fetch.
async fn fifty_concurrent_first_sign_ins_fetch_one_access_token(backend: Backend) {
    let wx = FakeWechat::start().await;
    // A slow token endpoint, so that every sign-in arrives while the fetch is in flight.
    wx.token_delay_ms.store(400, Ordering::SeqCst);
    let server = Arc::new(production(backend, wechat_env(&wx, APPSECRET)).await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (server, code, phone_code) =
            (server.clone(), wx.login_code(&format!("oWx308Customer{i:02}")), wx.phone_code(&phone(308, i)));
        tasks.push(tokio::spawn(async move { wechat_login(&server, &code, Some(&phone_code)).await }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        let data = assert_ok(&t.await.expect("task"));
        assert_eq!(data["is_new_user"], json!(true), "{data}");
        ids.insert(data["user_info"]["user_id"].as_i64().expect("id"));
    }
    assert_eq!(ids.len(), 50);
    assert_eq!(wx.fetches(), 1, "one access-token fetch for all fifty sign-ins");
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 50);
}

/// The same customer signing up from several taps at once ends with one account, one grant and
/// one binding.
async fn concurrent_first_sign_ins_of_one_customer_make_one_account(backend: Backend) {
    let wx = FakeWechat::start().await;
    let server = Arc::new(production(backend, wechat_env(&wx, APPSECRET)).await);
    let openid = "oWx309OneCustomerManyTaps";
    let p = phone(309, 1);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (server, code, phone_code) = (server.clone(), wx.login_code(openid), wx.phone_code(&p));
        tasks.push(tokio::spawn(async move { wechat_login(&server, &code, Some(&phone_code)).await }));
    }
    let (mut ids, mut new_users) = (HashSet::new(), 0);
    for t in tasks {
        let data = assert_ok(&t.await.expect("task"));
        ids.insert(data["user_info"]["user_id"].as_i64().expect("id"));
        new_users += usize::from(data["is_new_user"] == json!(true));
    }
    assert_eq!((ids.len(), new_users), (1, 1), "one account, opened once");
    let data = assert_ok(&wechat_login(&server, &wx.login_code(openid), None).await);
    let c = customer(&p, &data);
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(register_grants(&server, &c).await, 1);
    let admin = server.admin().await;
    assert_eq!(customers(&server, &admin).await, 1);
    server.assert_reconciled();
}

/// A token WeChat calls invalid (40001) or expired (42001) is fetched again once and the sign-in
/// goes through; a token close to its stated expiry is replaced before WeChat refuses it.
async fn stale_or_expiring_access_tokens_are_replaced(backend: Backend) {
    let wx = FakeWechat::start().await;
    wx.token_ttl_s.store(4, Ordering::SeqCst);
    let server = production(backend, wechat_env(&wx, APPSECRET)).await;
    let sign_up = |i: u32| {
        let (code, phone_code) = (wx.login_code(&format!("oWx310Customer{i}")), wx.phone_code(&phone(310, i)));
        let server = &server;
        async move { assert_ok(&wechat_login(server, &code, Some(&phone_code)).await) }
    };
    sign_up(1).await;
    assert_eq!(wx.fetches(), 1);
    wx.revoke_tokens();
    sign_up(2).await;
    assert_eq!((wx.fetches(), wx.stale_token_answers.load(Ordering::SeqCst)), (2, 1), "40001: fetched again");
    wx.expire_tokens();
    sign_up(3).await;
    assert_eq!((wx.fetches(), wx.stale_token_answers.load(Ordering::SeqCst)), (3, 2), "42001: fetched again");
    sign_up(4).await;
    assert_eq!(wx.fetches(), 3, "a fresh token is reused");
    // Past the refresh point (half of a 4 s lifetime) but before WeChat's expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sign_up(5).await;
    assert_eq!((wx.fetches(), wx.stale_token_answers.load(Ordering::SeqCst)), (4, 2), "replaced before it expired");
}

both_backends!(
    tencent_delivers_the_code_a_customer_signs_in_with,
    aliyun_delivers_the_code_a_customer_signs_in_with,
    a_provider_refusal_answers_1008_and_changes_nothing,
    bad_provider_credentials_or_an_unreachable_provider_answer_1008,
    wechat_first_with_the_phone_button_then_with_wx_login_alone,
    an_sms_customer_keeps_one_account_on_wechat,
    wechat_errors_answer_their_codes_and_change_nothing,
    fifty_concurrent_first_sign_ins_fetch_one_access_token,
    concurrent_first_sign_ins_of_one_customer_make_one_account,
    stale_or_expiring_access_tokens_are_replaced,
);

// ------------------------------------------------------------------------------------------------
// The fakes are faithful; production refuses to start without a sign-in path
// ------------------------------------------------------------------------------------------------

/// The fakes' signature checks reproduce the providers' own worked examples, so a request they
/// accept is one the providers would accept.
#[test]
fn the_fakes_check_signatures_as_the_providers_document() {
    // Tencent Cloud, "Signature v3": the CVM DescribeInstances example of 2019-02-25.
    let headers = vec![
        ("content-type".to_string(), "application/json; charset=utf-8".to_string()),
        ("host".to_string(), "cvm.tencentcloudapi.com".to_string()),
    ];
    let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    assert_eq!(
        tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", 1551113065, "cvm", &headers, body),
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );
    // Alibaba Cloud SMS, "HTTP协议及签名": the SendSms example.
    let params = pairs(&[
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
    ]);
    assert_eq!(aliyun_signature("GET", &params, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
}

/// Runs the binary in production with `env`; it must refuse to start. Returns its output.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "production")
        .env("JWT_SECRET", JWT_SECRET)
        .env("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("prod.db").display()))
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the server");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the server started instead of refusing ({env:?}):\n{text}");
    assert!(!text.contains("listening on"), "{text}");
    text
}

#[test]
fn production_refuses_to_start_without_a_sign_in_path() {
    let out = refused_start(&[]);
    for name in ["WECHAT_APPID", "WECHAT_SECRET", "SMS_PROVIDER"] {
        assert!(out.contains(name), "the message names {name}:\n{out}");
    }
    let out = refused_start(&[("SMS_PROVIDER", "log")]);
    assert!(out.contains("SMS_PROVIDER"), "{out}");
    // Half a configuration names what is missing and never prints the secret it was given.
    let out = refused_start(&[("WECHAT_SECRET", APPSECRET)]);
    assert!(out.contains("WECHAT_APPID") && !out.contains(APPSECRET), "{out}");
    let out = refused_start(&[
        ("SMS_PROVIDER", "tencent"),
        ("SMS_TENCENT_SECRET_ID", TENCENT_ID),
        ("SMS_TENCENT_SECRET_KEY", TENCENT_KEY),
    ]);
    for name in ["SMS_TENCENT_SDK_APP_ID", "SMS_TENCENT_SIGN_NAME", "SMS_TENCENT_TEMPLATE_ID"] {
        assert!(out.contains(name), "the message names {name}:\n{out}");
    }
    assert!(!out.contains(TENCENT_KEY), "{out}");
    let out = refused_start(&[("SMS_PROVIDER", "aliyun"), ("SMS_ALIYUN_ACCESS_KEY_SECRET", ALIYUN_SECRET)]);
    assert!(out.contains("SMS_ALIYUN_ACCESS_KEY_ID") && !out.contains(ALIYUN_SECRET), "{out}");
}
