//! Receipt photos from upload to points, as the mini-program, the merchant client and the admin
//! console see them over real HTTP and WebSocket, against both databases and both object stores
//! (the local store's signed `/files` links and a real S3-compatible server):
//! - JPEG, PNG and GIF are accepted under every file field name, stored byte for byte and served
//!   back from the returned link; history, one review and the customer's totals show them;
//! - refused uploads (no file, a bad amount, a non-image, a file over 5 MB, no token) answer the
//!   contract's code and store nothing;
//! - image links are signed: a link whose expiry or signature was changed is worthless;
//! - a pending upload can be withdrawn by its owner only, and takes its image with it;
//! - merchants (and only merchants) see the queue oldest first, decide through every route and
//!   spelling, exactly once, with points = clamp(floor(amount × 10), 50, 2000) credited once;
//!   batches report per item; statistics count by status and reviewer;
//! - merchant applications, avatars, and the `new_review` / `review_result` / `points_update`
//!   pushes;
//! - 20 merchants racing over 100 uploads decide each exactly once and credit each customer
//!   exactly once.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hmac::{Hmac, Mac};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(5);
/// How long to listen for something that must not arrive.
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Every byte value follows the magic, so any text mangling of the stored object shows.
fn tail(tag: &str) -> Vec<u8> {
    let mut v = format!(" receipt {tag} ").into_bytes();
    v.extend(0..=255u8);
    v
}

fn jpeg(tag: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(tail(tag));
    v
}

fn png(tag: &str) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(tail(tag));
    v
}

fn gif(tag: &str) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend(tail(tag));
    v
}

fn image_form(field: &str, file_name: &str, mime: &str, bytes: Vec<u8>, amount: Option<&str>) -> Form {
    let mut form = Form::new();
    if let Some(a) = amount {
        form = form.text("amount", a.to_string());
    }
    form.part(field.to_string(), Part::bytes(bytes).file_name(file_name.to_string()).mime_str(mime).expect("mime"))
}

/// Sends a multipart form; returns the status and the JSON envelope.
async fn send_form(server: &TestServer, path: &str, token: Option<&str>, form: Form) -> (StatusCode, Value) {
    let mut req = server.http.post(server.url(path)).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body for {path} ({status}): {text}"));
    (status, value)
}

/// Uploads a JPEG receipt under `photo`; returns the answer's `data`.
async fn upload(server: &TestServer, c: &Customer, bytes: Vec<u8>, amount: &str) -> Value {
    let form = image_form("photo", "receipt.jpg", "image/jpeg", bytes, Some(amount));
    assert_ok(&send_form(server, "/api/photo/upload", Some(&c.token), form).await)
}

fn upload_id(data: &Value) -> i64 {
    data["upload_id"].as_i64().unwrap_or_else(|| panic!("upload_id in {data}"))
}

/// A plain GET of a link the server handed out (no token): status and body bytes.
async fn fetch(server: &TestServer, url: &str) -> (StatusCode, Vec<u8>) {
    assert!(!url.is_empty(), "an empty image link");
    let resp = server.http.get(server.absolute(url)).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// The link serves exactly `bytes`.
async fn assert_serves(server: &TestServer, url: &Value, bytes: &[u8]) {
    let url = url.as_str().unwrap_or_else(|| panic!("image link {url}"));
    let (status, body) = fetch(server, url).await;
    assert_eq!(status, StatusCode::OK, "GET {url}: {}", String::from_utf8_lossy(&body));
    assert!(body == bytes, "GET {url} served {} bytes that differ from the {} uploaded", body.len(), bytes.len());
}

/// The link no longer serves the image.
async fn assert_refused(server: &TestServer, url: &str, bytes: &[u8], what: &str) {
    let (status, body) = fetch(server, url).await;
    assert_ne!(status, StatusCode::OK, "{what}: {url} still answers 200");
    assert!(body != bytes, "{what}: {url} still serves the image");
}

/// A yuan amount sent as a JSON number or as text.
fn yuan(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("amount"),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("amount {v}")),
        _ => panic!("amount {v}"),
    }
}

#[track_caller]
fn assert_yuan(v: &Value, expected: f64) {
    assert!((yuan(v) - expected).abs() < 1e-9, "amount {v}, expected {expected}");
}

/// An id sent as a JSON number or as text.
fn same_id(v: &Value, id: i64) -> bool {
    v.as_i64() == Some(id) || v.as_str().and_then(|s| s.parse::<i64>().ok()) == Some(id)
}

/// The contract's rule, from integer cents.
/// One member level with a 1.0× multiplier: receipts earn exactly the clamp rule, however much a
/// customer has earned (the level multipliers have their own tests in `loyalty_api`).
async fn one_level_only(server: &TestServer, admin: &str) {
    let levels = json!({ "levels": [{ "level": 1, "name": "会员", "experience": 0, "multiplier": 1.0 }] });
    assert_ok(&server.put("/api/admin/levels", Some(admin), levels).await);
}

fn points_for(cents: i64) -> i64 {
    (cents / 10).clamp(50, 2000)
}

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let got = server
        .post(&format!("/api/admin/users/{}/merchant", m.user_id), Some(admin), json!({ "is_merchant": true }))
        .await;
    assert_ok(&got);
    m
}

async fn approve(server: &TestServer, m: &Customer, id: i64, amount: f64) -> Value {
    let body = json!({ "upload_id": id, "action": "approve", "actual_amount": amount, "reason": "核对无误" });
    assert_ok(&server.post("/api/merchant/review", Some(&m.token), body).await)
}

async fn reject(server: &TestServer, m: &Customer, id: i64) -> Value {
    let body = json!({ "upload_id": id, "action": "reject", "reason": "小票不清晰" });
    assert_ok(&server.post("/api/merchant/review", Some(&m.token), body).await)
}

async fn history(server: &TestServer, c: &Customer, query: &str) -> Value {
    assert_ok(&server.get(&format!("/api/photo/history{query}"), Some(&c.token)).await)
}

async fn history_total(server: &TestServer, c: &Customer) -> i64 {
    history(server, c, "?limit=50").await["pagination"]["total"].as_i64().expect("total")
}

fn ids_of(list: &Value) -> Vec<i64> {
    list.as_array().unwrap_or_else(|| panic!("a list, got {list}")).iter().map(upload_id).collect()
}

async fn delete(server: &TestServer, c: &Customer, id: i64) -> (StatusCode, Value) {
    server.call(Method::DELETE, &format!("/api/photo/{id}"), Some(&c.token), None).await
}

#[track_caller]
fn assert_already_reviewed(got: &(StatusCode, Value), current: &str) {
    assert_error(got, 409, 6004);
    assert_eq!(got.1["data"]["current_status"], json!(current), "{}", got.1);
}

/// Reads socket messages until one of each of `kinds` has arrived (in any order).
async fn collect(ws: &mut WsClient, kinds: &[&str]) -> HashMap<String, Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = HashMap::new();
    while kinds.iter().any(|k| !got.contains_key(*k)) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            WsEvent::Json(v) => {
                let kind = v["type"].as_str().unwrap_or_default().to_string();
                if kinds.contains(&kind.as_str()) {
                    got.entry(kind).or_insert(v);
                }
            }
            other => panic!("waiting for {kinds:?} (have {:?}): {other:?}", got.keys().collect::<Vec<_>>()),
        }
    }
    got
}

// --- AWS Signature V4 (query string) check, for S3 presigned links -----------------------------

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Whether `link` carries a valid SigV4 query signature made with `secret` — what a real S3
/// checks before serving a presigned GET.
fn presigned_signature_is_valid(link: &str, secret: &str) -> bool {
    let url = url::Url::parse(link).expect("absolute S3 link");
    let (Some(sig), Some(date), Some(credential), Some(signed_headers)) = (
        query_param(&url, "X-Amz-Signature"),
        query_param(&url, "X-Amz-Date"),
        query_param(&url, "X-Amz-Credential"),
        query_param(&url, "X-Amz-SignedHeaders"),
    ) else {
        return false;
    };
    if signed_headers != "host" {
        return false;
    }
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().expect("host")),
        None => url.host_str().expect("host").to_string(),
    };
    let canonical = format!("GET\n{}\n{}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD", url.path(), query.join("&"));
    let Some((_, scope)) = credential.split_once('/') else { return false };
    let parts: Vec<&str> = scope.split('/').collect();
    if parts.len() != 4 {
        return false;
    }
    let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), parts[0].as_bytes());
    for p in &parts[1..] {
        key = hmac_sha256(&key, p.as_bytes());
    }
    hex::encode(hmac_sha256(&key, to_sign.as_bytes())) == sig
}

fn with_param(link: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(link).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// The same hex string with its first character changed.
fn flip_first(hex_sig: &str) -> String {
    let first = if hex_sig.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &hex_sig[1..])
}

// ---------------------------------------------------------------------------------------------
// Uploading
// ---------------------------------------------------------------------------------------------

/// JPEG, PNG and GIF, each under `photo`, `image` and `file`: accepted, served back byte for
/// byte, listed in history (paginated, filtered by status), shown to the owner only, counted.
/// (label, bytes maker, file name, content type)
type ImageSample = (&'static str, fn(&str) -> Vec<u8>, &'static str, &'static str);

async fn every_image_type_under_every_field_name_is_stored_and_served_back(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let admin = server.admin().await;
    let owner = server.login(&phone(70, 1)).await;
    let stranger = server.login(&phone(70, 2)).await;
    let merchant = make_merchant(&server, &admin, &phone(70, 3)).await;

    let kinds: [ImageSample; 3] = [
        ("jpeg", jpeg, "receipt.jpg", "image/jpeg"),
        ("png", png, "receipt.png", "image/png"),
        ("gif", gif, "receipt.gif", "image/gif"),
    ];
    // upload id → (bytes, amount)
    let mut uploaded: BTreeMap<i64, (Vec<u8>, f64)> = BTreeMap::new();
    let mut order = Vec::new();
    for (k, (kind, make, file_name, mime)) in kinds.iter().enumerate() {
        for (f, field) in ["photo", "image", "file"].iter().enumerate() {
            let bytes = make(&format!("{kind}-{field}"));
            let amount = format!("{}.{}5", 10 + k * 3 + f, f);
            let form = image_form(field, file_name, mime, bytes.clone(), Some(&amount));
            let data = assert_ok(&send_form(&server, "/api/photo/upload", Some(&owner.token), form).await);
            let id = upload_id(&data);
            assert!(id > 0, "{data}");
            assert_eq!(data["status"], json!("pending"), "{kind} under {field}: {data}");
            assert_yuan(&data["amount"], amount.parse().unwrap());
            assert!(data["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {data}");
            assert!(!data["estimated_review_time"].is_null(), "estimated_review_time in {data}");
            assert_serves(&server, &data["image_url"], &bytes).await;
            assert!(uploaded.insert(id, (bytes, amount.parse().unwrap())).is_none(), "upload id {id} reused");
            order.push(id);
        }
    }

    // History, three pages of four: every upload exactly once, nothing else.
    let mut listed = Vec::new();
    for page in 1..=3 {
        let data = history(&server, &owner, &format!("?limit=4&page={page}")).await;
        assert_eq!(data["pagination"]["total"].as_i64(), Some(9), "{data}");
        assert_eq!(data["pagination"]["total_pages"].as_i64(), Some(3), "{data}");
        assert_eq!(data["pagination"]["page"].as_i64(), Some(page), "{data}");
        assert_eq!(data["pagination"]["limit"].as_i64(), Some(4), "{data}");
        let uploads = data["uploads"].as_array().expect("uploads");
        assert_eq!(uploads.len(), if page < 3 { 4 } else { 1 }, "page {page}: {data}");
        for u in uploads {
            let id = upload_id(u);
            let (bytes, amount) = &uploaded[&id];
            assert_eq!(u["status"], json!("pending"), "{u}");
            assert_yuan(&u["amount"], *amount);
            assert_serves(&server, &u["image_url"], bytes).await;
            listed.push(id);
        }
    }
    listed.sort();
    assert_eq!(listed, uploaded.keys().copied().collect::<Vec<_>>(), "history lists every upload once");

    // One review: the owner sees it, anyone else is told it does not exist.
    let first = order[0];
    let seen = assert_ok(&server.get(&format!("/api/photo/review/{first}"), Some(&owner.token)).await);
    assert_eq!(upload_id(&seen), first);
    assert_eq!(seen["status"], json!("pending"));
    assert_yuan(&seen["amount"], uploaded[&first].1);
    assert_serves(&server, &seen["image_url"], &uploaded[&first].0).await;
    assert_error(&server.get(&format!("/api/photo/review/{first}"), Some(&stranger.token)).await, 404, 6001);
    assert_eq!(history_total(&server, &stranger).await, 0, "a stranger's history is their own");

    // One approved (20.00 → 200 points), one rejected: the status filter and the totals follow.
    approve(&server, &merchant, order[0], 20.0).await;
    reject(&server, &merchant, order[1]).await;
    let pending = history(&server, &owner, "?status=pending&limit=50").await;
    assert_eq!(pending["pagination"]["total"].as_i64(), Some(7), "{pending}");
    let mut expected_pending: Vec<i64> = order[2..].to_vec();
    expected_pending.sort();
    let mut got_pending = ids_of(&pending["uploads"]);
    got_pending.sort();
    assert_eq!(got_pending, expected_pending);
    let approved = history(&server, &owner, "?status=approved").await;
    assert_eq!(ids_of(&approved["uploads"]), vec![order[0]], "{approved}");
    assert_eq!(approved["uploads"][0]["status"], json!("approved"));
    assert_eq!(approved["uploads"][0]["points_awarded"].as_i64(), Some(200), "{approved}");
    let rejected = history(&server, &owner, "?status=rejected").await;
    assert_eq!(ids_of(&rejected["uploads"]), vec![order[1]], "{rejected}");
    assert_eq!(rejected["uploads"][0]["status"], json!("rejected"));

    let stats = assert_ok(&server.get("/api/photo/statistics", Some(&owner.token)).await);
    assert_eq!(stats["total_uploads"].as_i64(), Some(9), "{stats}");
    assert_eq!(stats["pending"].as_i64(), Some(7), "{stats}");
    assert_eq!(stats["approved"].as_i64(), Some(1), "{stats}");
    assert_eq!(stats["rejected"].as_i64(), Some(1), "{stats}");
    assert_eq!(stats["total_points_awarded"].as_i64(), Some(200), "{stats}");
    let theirs = assert_ok(&server.get("/api/photo/statistics", Some(&stranger.token)).await);
    assert_eq!(theirs["total_uploads"].as_i64(), Some(0), "{theirs}");
    assert_eq!(server.balance(&owner).await, 1200);
    server.assert_reconciled();
}

/// Every refused upload answers the contract's code and leaves nothing behind; the boundary
/// amounts 0.01 and 10000 are accepted.
async fn refused_uploads_answer_their_code_and_store_nothing(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let c = server.login(&phone(71, 1)).await;
    let path = "/api/photo/upload";

    let form = image_form("photo", "receipt.jpg", "image/jpeg", jpeg("no token"), Some("20"));
    assert_error(&send_form(&server, path, None, form).await, 401, 2001);

    let form = Form::new().text("amount", "20");
    assert_error(&send_form(&server, path, Some(&c.token), form).await, 400, 5001);

    for amount in [None, Some("0"), Some("0.001"), Some("10000.01"), Some("-5"), Some("abc")] {
        let form = image_form("photo", "receipt.jpg", "image/jpeg", jpeg("bad amount"), amount);
        let got = send_form(&server, path, Some(&c.token), form).await;
        assert_eq!(got.1["code"].as_i64(), Some(5002), "amount {amount:?}: {}", got.1);
        assert_error(&got, 400, 5002);
    }

    let not_images: [&[u8]; 2] = [b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", b"just some text, not a photo"];
    for bytes in not_images {
        let form = image_form("photo", "receipt.jpg", "image/jpeg", bytes.to_vec(), Some("20"));
        let got = send_form(&server, path, Some(&c.token), form).await;
        assert_error(&got, 400, 5003);
    }

    assert_eq!(history_total(&server, &c).await, 0, "a refused upload must not be recorded");
    let stats = assert_ok(&server.get("/api/photo/statistics", Some(&c.token)).await);
    assert_eq!(stats["total_uploads"].as_i64(), Some(0), "{stats}");

    let low = upload(&server, &c, jpeg("low"), "0.01").await;
    assert_yuan(&low["amount"], 0.01);
    let high = upload(&server, &c, jpeg("high"), "10000").await;
    assert_yuan(&high["amount"], 10000.0);
    assert_eq!(history_total(&server, &c).await, 2);
    server.assert_reconciled();
}

/// A 6 MB image is refused with 413 and code 5003, an answer the client gets to read, and
/// nothing is stored.
async fn an_image_over_5_mb_is_refused_with_413(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let c = server.login(&phone(71, 2)).await;
    let mut big = jpeg("big");
    big.resize(6 * 1024 * 1024, 0x42);
    let form = image_form("photo", "receipt.jpg", "image/jpeg", big, Some("20"));
    let resp = server
        .http
        .post(server.url("/api/photo/upload"))
        .bearer_auth(&c.token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("no answer to a 6 MB upload: the connection was closed while the client was still sending: {e:?}")
        });
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    assert_error(&(status, body), 413, 5003);
    assert_eq!(history_total(&server, &c).await, 0, "a refused upload must not be recorded");
    // Nothing is left half-done: the next, normal upload goes through.
    let ok = upload(&server, &c, jpeg("small"), "20").await;
    assert_eq!(ok["status"], json!("pending"), "{ok}");
    assert_eq!(history_total(&server, &c).await, 1);
}

/// Image links are signed: changing a local link's `expires` or `sig`, or an S3 link's
/// `X-Amz-Expires` or `X-Amz-Signature`, makes it worthless. (moto serves any S3 link whatever
/// its signature, so for S3 the signature is checked here the way S3 checks it.)
async fn image_links_are_signed_and_tampering_voids_them(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let c = server.login(&phone(72, 1)).await;
    let bytes = png("signed");
    let form = image_form("photo", "receipt.png", "image/png", bytes.clone(), Some("30"));
    let data = assert_ok(&send_form(&server, "/api/photo/upload", Some(&c.token), form).await);
    let link = data["image_url"].as_str().expect("image_url").to_string();
    assert_serves(&server, &data["image_url"], &bytes).await;
    let other = upload(&server, &c, jpeg("other"), "40").await;
    let other_link = other["image_url"].as_str().expect("image_url").to_string();
    let now = chrono::Utc::now().timestamp();

    match objects {
        Objects::Local => {
            let url = url::Url::parse(&server.absolute(&link)).expect("link");
            let expires: i64 = query_param(&url, "expires").expect("expires").parse().expect("expires");
            let sig = query_param(&url, "sig").expect("sig");
            assert!(expires > now && expires <= now + 7 * 24 * 3600, "a time-limited link, expires={expires}");
            let abs = url.to_string();
            let other_url = url::Url::parse(&server.absolute(&other_link)).expect("link");
            let mut moved = other_url.clone();
            moved.set_query(url.query());
            let no_sig = {
                let mut u = url.clone();
                u.set_query(Some(&format!("expires={expires}")));
                u.to_string()
            };
            let tampered = [
                ("a later expiry", with_param(&abs, "expires", &(expires + 3600).to_string())),
                ("an expiry in the past", with_param(&abs, "expires", &(now - 60).to_string())),
                ("an altered signature", with_param(&abs, "sig", &flip_first(&sig))),
                ("no signature", no_sig),
                ("another object's path", moved.to_string()),
            ];
            for (what, t) in tampered {
                assert_refused(&server, &t, &bytes, what).await;
            }
        }
        Objects::S3 => {
            let url = url::Url::parse(&link).expect("an absolute S3 link");
            let ttl: i64 = query_param(&url, "X-Amz-Expires").expect("X-Amz-Expires").parse().expect("seconds");
            assert!(ttl > 0 && ttl <= 7 * 24 * 3600, "a time-limited link, X-Amz-Expires={ttl}");
            let credential = query_param(&url, "X-Amz-Credential").expect("X-Amz-Credential");
            assert!(credential.starts_with("testing/"), "signed with the configured key: {credential}");
            assert!(presigned_signature_is_valid(&link, "testing"), "the link's signature does not verify: {link}");
            assert!(!presigned_signature_is_valid(&link, "not-the-secret"), "the check must depend on the secret");
            let sig = query_param(&url, "X-Amz-Signature").expect("X-Amz-Signature");
            for (what, t) in [
                ("a longer X-Amz-Expires", with_param(&link, "X-Amz-Expires", &(ttl + 3600).to_string())),
                ("an altered X-Amz-Signature", with_param(&link, "X-Amz-Signature", &flip_first(&sig))),
            ] {
                assert!(!presigned_signature_is_valid(&t, "testing"), "{what} still verifies: {t}");
            }
            assert!(presigned_signature_is_valid(&other_link, "testing"));
            assert_ne!(url.path(), url::Url::parse(&other_link).unwrap().path(), "each upload has its own object");
        }
    }
    // The genuine link still works after all that.
    assert_serves(&server, &data["image_url"], &bytes).await;
}

// ---------------------------------------------------------------------------------------------
// Withdrawing
// ---------------------------------------------------------------------------------------------

/// The owner withdraws a pending upload: its image link stops serving and history forgets it.
/// Nobody else can, and nobody can once it was decided (6004 with the status it has).
async fn only_the_owner_withdraws_and_only_while_pending(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let admin = server.admin().await;
    let owner = server.login(&phone(73, 1)).await;
    let stranger = server.login(&phone(73, 2)).await;
    let merchant = make_merchant(&server, &admin, &phone(73, 3)).await;

    let a_bytes = jpeg("withdrawn");
    let a = upload(&server, &owner, a_bytes.clone(), "25").await;
    let b_bytes = gif("approved");
    let form = image_form("image", "b.gif", "image/gif", b_bytes.clone(), Some("35"));
    let b = assert_ok(&send_form(&server, "/api/photo/upload", Some(&owner.token), form).await);
    let c = upload(&server, &owner, jpeg("rejected"), "45").await;
    let (a_id, b_id, c_id) = (upload_id(&a), upload_id(&b), upload_id(&c));

    assert_error(&delete(&server, &stranger, a_id).await, 404, 6001);
    assert_serves(&server, &a["image_url"], &a_bytes).await;

    let done = assert_ok(&delete(&server, &owner, a_id).await);
    assert!(same_id(&done["upload_id"], a_id), "{done}");
    assert_refused(&server, a["image_url"].as_str().unwrap(), &a_bytes, "a withdrawn upload's image").await;
    let listed = history(&server, &owner, "?limit=50").await;
    assert_eq!(listed["pagination"]["total"].as_i64(), Some(2), "{listed}");
    assert!(!ids_of(&listed["uploads"]).contains(&a_id), "withdrawn upload still listed: {listed}");
    assert_error(&server.get(&format!("/api/photo/review/{a_id}"), Some(&owner.token)).await, 404, 6001);
    assert_error(&delete(&server, &owner, a_id).await, 404, 6001);
    // A withdrawn upload is not in the merchants' queue either.
    let queue = assert_ok(&server.get("/api/merchant/reviews/pending?limit=50", Some(&merchant.token)).await);
    assert_eq!(ids_of(&queue["reviews"]), vec![b_id, c_id], "{queue}");
    let body = json!({ "upload_id": a_id, "action": "approve", "actual_amount": 25 });
    assert_error(&server.post("/api/merchant/review", Some(&merchant.token), body).await, 404, 6001);

    approve(&server, &merchant, b_id, 35.0).await;
    reject(&server, &merchant, c_id).await;
    assert_already_reviewed(&delete(&server, &owner, b_id).await, "approved");
    assert_already_reviewed(&delete(&server, &owner, c_id).await, "rejected");
    assert_error(&delete(&server, &stranger, b_id).await, 404, 6001);
    assert_eq!(history_total(&server, &owner).await, 2);
    let kept = assert_ok(&server.get(&format!("/api/photo/review/{b_id}"), Some(&owner.token)).await);
    assert_serves(&server, &kept["image_url"], &b_bytes).await;
    assert_eq!(server.balance(&owner).await, 1350);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Merchant review
// ---------------------------------------------------------------------------------------------

/// A customer without the merchant role gets 2003 on every review endpoint (2001 without a
/// token), and the upload stays pending.
async fn review_endpoints_require_the_merchant_role(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(74, 1)).await;
    let id = upload_id(&upload(&server, &c, jpeg("own"), "60").await);
    let approve_body = json!({ "upload_id": id, "action": "approve", "actual_amount": 60 });
    for token in [Some(c.token.as_str()), None] {
        let (status, code) = if token.is_some() { (403, 2003) } else { (401, 2001) };
        assert_error(&server.get("/api/merchant/reviews/pending", token).await, status, code);
        assert_error(&server.get("/api/merchant/statistics", token).await, status, code);
        assert_error(&server.post("/api/merchant/review", token, approve_body.clone()).await, status, code);
        let path = format!("/api/merchant/reviews/{id}/approve");
        assert_error(&server.post(&path, token, json!({ "actual_amount": 60 })).await, status, code);
        let path = format!("/api/merchant/reviews/{id}/reject");
        assert_error(&server.post(&path, token, json!({ "reason": "x" })).await, status, code);
        let batch = json!({ "items": [approve_body.clone()] });
        assert_error(&server.post("/api/merchant/reviews/batch", token, batch).await, status, code);
    }
    let seen = assert_ok(&server.get(&format!("/api/photo/review/{id}"), Some(&c.token)).await);
    assert_eq!(seen["status"], json!("pending"), "{seen}");
    assert_eq!(server.balance(&c).await, 1000);
    server.assert_reconciled();
}

/// The queue lists pending uploads of every customer, oldest first, paginated, each with a
/// signed link that serves its image; decided uploads leave it.
async fn the_pending_queue_is_oldest_first_with_working_image_links(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(74, 10)).await;
    let customers = [server.login(&phone(74, 11)).await, server.login(&phone(74, 12)).await];
    let mut queue = Vec::new();
    for i in 0..6 {
        let c = &customers[i % 2];
        let bytes = if i % 2 == 0 { jpeg(&format!("q{i}")) } else { png(&format!("q{i}")) };
        let mime = if i % 2 == 0 { "image/jpeg" } else { "image/png" };
        let form = image_form("photo", "r", mime, bytes.clone(), Some(&format!("{}", 10 + i)));
        let data = assert_ok(&send_form(&server, "/api/photo/upload", Some(&c.token), form).await);
        queue.push((upload_id(&data), c.user_id, bytes, 10.0 + i as f64));
    }
    // The second oldest is decided: it leaves the queue.
    approve(&server, &merchant, queue[1].0, 11.0).await;
    queue.remove(1);

    let all = assert_ok(&server.get("/api/merchant/reviews/pending?limit=50", Some(&merchant.token)).await);
    assert_eq!(all["pagination"]["total"].as_i64(), Some(5), "{all}");
    assert_eq!(ids_of(&all["reviews"]), queue.iter().map(|q| q.0).collect::<Vec<_>>(), "oldest first: {all}");
    for (r, (id, user_id, bytes, amount)) in all["reviews"].as_array().unwrap().iter().zip(&queue) {
        assert_eq!(upload_id(r), *id);
        assert_eq!(r["user_id"].as_i64(), Some(*user_id), "{r}");
        assert_eq!(r["status"], json!("pending"), "{r}");
        assert_yuan(&r["amount"], *amount);
        assert_serves(&server, &r["image_url"], bytes).await;
    }
    let page2 = assert_ok(&server.get("/api/merchant/reviews/pending?limit=2&page=2", Some(&merchant.token)).await);
    assert_eq!(ids_of(&page2["reviews"]), vec![queue[2].0, queue[3].0], "{page2}");
    assert_eq!(page2["pagination"]["total_pages"].as_i64(), Some(3), "{page2}");
    server.assert_reconciled();
}

/// Approve through `action: approve`, `action: approved` and `/reviews/:id/approve`; reject
/// through `reject`, `rejected` and `/reviews/:id/reject`. Each decision shows on the upload; a
/// second decision by any route is 6004 with the status found; an approval without an amount is
/// 6002; an unknown upload is 6001.
async fn every_route_and_spelling_decides_an_upload_exactly_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    one_level_only(&server, &admin).await;
    let merchant = make_merchant(&server, &admin, &phone(75, 1)).await;
    let c = server.login(&phone(75, 2)).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(upload_id(&upload(&server, &c, jpeg(&format!("d{i}")), "99").await));
    }
    let t = Some(merchant.token.as_str());
    let decisions: Vec<(String, Value, &str, i64)> = vec![
        (
            "/api/merchant/review".into(),
            json!({ "upload_id": ids[0], "action": "approve", "actual_amount": 88.5, "reason": "ok 0" }),
            "approved",
            885,
        ),
        (
            "/api/merchant/review".into(),
            json!({ "upload_id": ids[1], "action": "approved", "actual_amount": 120, "reason": "ok 1" }),
            "approved",
            1200,
        ),
        (
            format!("/api/merchant/reviews/{}/approve", ids[2]),
            json!({ "actual_amount": 10, "reason": "ok 2" }),
            "approved",
            100,
        ),
        (
            "/api/merchant/review".into(),
            json!({ "upload_id": ids[3], "action": "reject", "reason": "no 3" }),
            "rejected",
            0,
        ),
        (
            "/api/merchant/review".into(),
            json!({ "upload_id": ids[4], "action": "rejected", "reason": "no 4" }),
            "rejected",
            0,
        ),
        (format!("/api/merchant/reviews/{}/reject", ids[5]), json!({ "reason": "no 5" }), "rejected", 0),
    ];
    for (i, (path, body, status, points)) in decisions.iter().enumerate() {
        let got = assert_ok(&server.post(path, t, body.clone()).await);
        assert!(same_id(&got["upload_id"], ids[i]), "{path}: {got}");
        assert_eq!(got["status"], json!(status), "{path}: {got}");
        assert_eq!(got["points_awarded"].as_i64(), Some(*points), "{path}: {got}");
        let seen = assert_ok(&server.get(&format!("/api/photo/review/{}", ids[i]), Some(&c.token)).await);
        assert_eq!(seen["status"], json!(status), "{seen}");
        assert_eq!(seen["points_awarded"].as_i64().unwrap_or(0), *points, "{seen}");
        assert_eq!(seen["review_reason"], json!(format!("{} {i}", if *points > 0 { "ok" } else { "no" })), "{seen}");
        if *points > 0 {
            assert_yuan(&seen["actual_amount"], *points as f64 / 10.0);
        }
    }
    let expected_balance = 1000 + 885 + 1200 + 100;
    assert_eq!(server.balance(&c).await, expected_balance);

    // Every route, every verdict, on every decided upload: 6004 with what it is now.
    for (i, id) in ids.iter().take(6).enumerate() {
        let current = if i < 3 { "approved" } else { "rejected" };
        let attempts = [
            ("/api/merchant/review".to_string(), json!({ "upload_id": id, "action": "approve", "actual_amount": 50 })),
            ("/api/merchant/review".to_string(), json!({ "upload_id": id, "action": "rejected" })),
            (format!("/api/merchant/reviews/{id}/approve"), json!({ "actual_amount": 50 })),
            (format!("/api/merchant/reviews/{id}/reject"), json!({})),
        ];
        for (path, body) in attempts {
            assert_already_reviewed(&server.post(&path, t, body).await, current);
        }
    }
    assert_eq!(server.balance(&c).await, expected_balance, "a second decision credits nothing");

    // Approval needs the confirmed amount.
    let last = ids[6];
    let body = json!({ "upload_id": last, "action": "approve", "reason": "looks fine" });
    assert_error(&server.post("/api/merchant/review", t, body).await, 400, 6002);
    assert_error(&server.post(&format!("/api/merchant/reviews/{last}/approve"), t, json!({})).await, 400, 6002);
    let seen = assert_ok(&server.get(&format!("/api/photo/review/{last}"), Some(&c.token)).await);
    assert_eq!(seen["status"], json!("pending"), "{seen}");

    // Unknown uploads.
    let unknown = 987_654_321;
    let body = json!({ "upload_id": unknown, "action": "approve", "actual_amount": 10 });
    assert_error(&server.post("/api/merchant/review", t, body).await, 404, 6001);
    let body = json!({ "upload_id": unknown, "action": "reject" });
    assert_error(&server.post("/api/merchant/review", t, body).await, 404, 6001);
    let path = format!("/api/merchant/reviews/{unknown}/approve");
    assert_error(&server.post(&path, t, json!({ "actual_amount": 10 })).await, 404, 6001);
    assert_error(&server.post(&format!("/api/merchant/reviews/{unknown}/reject"), t, json!({})).await, 404, 6001);
    assert_eq!(server.balance(&c).await, expected_balance);
    server.assert_reconciled();
}

/// Points = clamp(floor(actual_amount × 10), 50, 2000): 3.00 → 50, 88.50 → 885, 88.59 → 885,
/// 500 → 2000, times the customer's level multiplier after the clamp: by the last receipt the
/// customer has 2820 experience (level 2, 1.1×), so 500 earns 2200. The balance grows by exactly that, once, with a `photo_review` ledger row whose
/// related_id is the upload.
async fn approval_points_follow_the_clamp_rule_and_are_credited_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(76, 1)).await;
    let c = server.login(&phone(76, 2)).await;
    let cases = [(3.0, 50), (88.5, 885), (88.59, 885), (500.0, 2200)];
    let mut balance = server.balance(&c).await;
    assert_eq!(balance, 1000);
    let mut credited = HashMap::new();
    for (i, (amount, points)) in cases.iter().enumerate() {
        let id = upload_id(&upload(&server, &c, jpeg(&format!("p{i}")), "600").await);
        let got = approve(&server, &merchant, id, *amount).await;
        assert_eq!(got["points_awarded"].as_i64(), Some(*points), "actual_amount {amount}: {got}");
        assert_yuan(&got["actual_amount"], *amount);
        balance += points;
        assert_eq!(server.balance(&c).await, balance, "after approving {amount}");
        credited.insert(id, *points);
        // Approving it again changes nothing.
        let again = json!({ "upload_id": id, "action": "approve", "actual_amount": 9999 });
        assert_already_reviewed(&server.post("/api/merchant/review", Some(&merchant.token), again).await, "approved");
        assert_eq!(server.balance(&c).await, balance);
    }
    let records = assert_ok(&server.get("/api/user/points-records?source=photo_review&limit=50", Some(&c.token)).await);
    let rows = records["records"].as_array().expect("records");
    assert_eq!(rows.len(), cases.len(), "one ledger row per approval: {records}");
    for (id, points) in &credited {
        let row = rows
            .iter()
            .find(|r| same_id(&r["related_id"], *id))
            .unwrap_or_else(|| panic!("no photo_review row for upload {id}: {records}"));
        assert_eq!(row["points"].as_i64(), Some(*points), "{row}");
        assert_eq!(row["source"], json!("photo_review"), "{row}");
    }
    let stats = assert_ok(&server.get("/api/photo/statistics", Some(&c.token)).await);
    assert_eq!(stats["total_points_awarded"].as_i64(), Some(50 + 885 + 885 + 2200), "{stats}");
    server.assert_reconciled();
}

/// A batch of good and bad items: the good ones are applied, each item reports its own success
/// flag and code (6002, 6001, 6004 with the current status), in order.
async fn a_batch_applies_its_good_items_and_reports_each_bad_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(77, 1)).await;
    let c = server.login(&phone(77, 2)).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(upload_id(&upload(&server, &c, jpeg(&format!("b{i}")), "80").await));
    }
    approve(&server, &merchant, ids[3], 30.0).await; // 300 points, before the batch
    let unknown = 987_654_321;
    let items = json!({ "items": [
        { "upload_id": ids[0], "action": "approve", "actual_amount": 50, "reason": "batch ok" },
        { "upload_id": ids[1], "action": "reject", "reason": "batch no" },
        { "upload_id": ids[2], "action": "approve" },
        { "upload_id": unknown, "action": "approve", "actual_amount": 10 },
        { "upload_id": ids[3], "action": "reject" },
        { "upload_id": ids[0], "action": "rejected" },
    ]});
    let data = assert_ok(&server.post("/api/merchant/reviews/batch", Some(&merchant.token), items).await);
    let results = data["results"].as_array().unwrap_or_else(|| panic!("results in {data}"));
    assert_eq!(results.len(), 6, "{data}");
    let expected: [(i64, bool, i64); 6] = [
        (ids[0], true, 0),
        (ids[1], true, 0),
        (ids[2], false, 6002),
        (unknown, false, 6001),
        (ids[3], false, 6004),
        (ids[0], false, 6004),
    ];
    for (r, (id, success, code)) in results.iter().zip(expected) {
        assert!(same_id(&r["upload_id"], id), "item for {id}: {r}");
        assert_eq!(r["success"], json!(success), "item for {id}: {r}");
        assert_eq!(r["code"].as_i64(), Some(code), "item for {id}: {r}");
    }
    assert_eq!(results[4]["data"]["current_status"], json!("approved"), "{}", results[4]);
    assert_eq!(results[5]["data"]["current_status"], json!("approved"), "{}", results[5]);

    assert_eq!(server.balance(&c).await, 1000 + 300 + 500, "only the good approval was applied");
    let status = |i: usize| {
        let server = &server;
        let c = &c;
        let id = ids[i];
        async move { assert_ok(&server.get(&format!("/api/photo/review/{id}"), Some(&c.token)).await)["status"].clone() }
    };
    assert_eq!(status(0).await, json!("approved"));
    assert_eq!(status(1).await, json!("rejected"));
    assert_eq!(status(2).await, json!("pending"));
    server.assert_reconciled();
}

/// Merchant statistics count uploads by status, the points awarded, and each reviewer's work.
async fn merchant_statistics_count_by_status_and_by_reviewer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let m1 = make_merchant(&server, &admin, &phone(77, 10)).await;
    let m2 = make_merchant(&server, &admin, &phone(77, 11)).await;
    let c = server.login(&phone(77, 12)).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(upload_id(&upload(&server, &c, jpeg(&format!("s{i}")), "70").await));
    }
    approve(&server, &m1, ids[0], 10.0).await; // 100
    approve(&server, &m1, ids[1], 20.0).await; // 200
    approve(&server, &m2, ids[2], 300.0).await; // 2000
    reject(&server, &m2, ids[3]).await;
    reject(&server, &m1, ids[4]).await;

    let stats = assert_ok(&server.get("/api/merchant/statistics", Some(&m1.token)).await);
    assert_eq!(stats["by_status"], json!({ "pending": 1, "approved": 3, "rejected": 2 }), "{stats}");
    assert_eq!(stats["total_uploads"].as_i64(), Some(6), "{stats}");
    assert_eq!(stats["points_awarded"].as_i64(), Some(2300), "{stats}");
    let reviewers = stats["reviewers"].as_array().unwrap_or_else(|| panic!("reviewers in {stats}"));
    assert_eq!(reviewers.len(), 2, "{stats}");
    for (m, approved, rejected, points) in [(&m1, 2, 1, 300), (&m2, 1, 1, 2000)] {
        let r = reviewers
            .iter()
            .find(|r| r["reviewer_id"].as_i64() == Some(m.user_id))
            .unwrap_or_else(|| panic!("reviewer {} missing: {stats}", m.user_id));
        assert_eq!(r["approved"].as_i64(), Some(approved), "{r}");
        assert_eq!(r["rejected"].as_i64(), Some(rejected), "{r}");
        assert_eq!(r["points_awarded"].as_i64(), Some(points), "{r}");
    }
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Merchant applications
// ---------------------------------------------------------------------------------------------

async fn applications(server: &TestServer, admin: &str, status: &str) -> Vec<Value> {
    let data = assert_ok(&server.get(&format!("/api/admin/merchant-applications?status={status}"), Some(admin)).await);
    data["applications"].as_array().unwrap_or_else(|| panic!("applications in {data}")).clone()
}

fn find_application(list: &[Value], id: i64) -> Option<&Value> {
    list.iter().find(|a| same_id(&a["application_id"], id))
}

async fn audit_has(server: &TestServer, admin: &str, action: &str, target: i64) -> bool {
    let data = assert_ok(&server.get(&format!("/api/admin/audit-log?action={action}&limit=50"), Some(admin)).await);
    data["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["action"] == action && same_id(&e["target_id"], target))
}

/// A customer applies; the admin sees the application among the pending ones and approves it;
/// the customer can open the review queue at once; deciding it again is 409; the audit log has
/// the approval.
async fn an_approved_application_opens_the_review_queue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(78, 1)).await;
    assert_error(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await, 403, 2003);

    let body = json!({ "shop_name": "老王面馆", "contact": "13800000000" });
    let app = assert_ok(&server.post("/api/merchant/apply", Some(&c.token), body).await);
    let app_id = app["application_id"].as_i64().unwrap_or_else(|| panic!("application_id in {app}"));
    assert_eq!(app["status"], json!("pending"), "{app}");
    assert_error(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await, 403, 2003);
    let path = "/api/admin/merchant-applications?status=pending";
    assert_error(&server.get(path, Some(&c.token)).await, 403, 2004);

    let pending = applications(&server, &admin, "pending").await;
    let listed = find_application(&pending, app_id).unwrap_or_else(|| panic!("application missing: {pending:?}"));
    assert_eq!(listed["user_id"].as_i64(), Some(c.user_id), "{listed}");
    assert_eq!(listed["shop_name"], json!("老王面馆"), "{listed}");
    assert_eq!(listed["contact"], json!("13800000000"), "{listed}");
    assert_eq!(listed["status"], json!("pending"), "{listed}");

    assert_ok(
        &server.post(&format!("/api/admin/merchant-applications/{app_id}/approve"), Some(&admin), json!({})).await,
    );
    assert_ok(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await);
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["is_merchant"], json!(true), "{info}");
    assert!(find_application(&applications(&server, &admin, "pending").await, app_id).is_none());
    assert!(find_application(&applications(&server, &admin, "approved").await, app_id).is_some());

    for verb in ["approve", "reject"] {
        let got =
            server.post(&format!("/api/admin/merchant-applications/{app_id}/{verb}"), Some(&admin), json!({})).await;
        assert_eq!(got.0.as_u16(), 409, "{verb} after approval: {}", got.1);
        assert!(got.1["code"].as_i64().is_some_and(|c| c != 0), "{}", got.1);
    }
    assert_ok(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await);
    assert!(audit_has(&server, &admin, "merchant_application.approve", app_id).await, "no audit entry");
    server.assert_reconciled();
}

/// A rejected application leaves the customer without the role; deciding it again is 409.
async fn a_rejected_application_leaves_a_customer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(78, 2)).await;
    let body = json!({ "shop_name": "小李烧烤", "contact": "李先生" });
    let app = assert_ok(&server.post("/api/merchant/apply", Some(&c.token), body).await);
    let app_id = app["application_id"].as_i64().expect("application_id");
    assert!(find_application(&applications(&server, &admin, "pending").await, app_id).is_some());

    assert_ok(
        &server.post(&format!("/api/admin/merchant-applications/{app_id}/reject"), Some(&admin), json!({})).await,
    );
    assert_error(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await, 403, 2003);
    let rejected = applications(&server, &admin, "rejected").await;
    let listed = find_application(&rejected, app_id).unwrap_or_else(|| panic!("application missing: {rejected:?}"));
    assert_eq!(listed["status"], json!("rejected"), "{listed}");
    assert!(find_application(&applications(&server, &admin, "pending").await, app_id).is_none());

    for verb in ["approve", "reject"] {
        let got =
            server.post(&format!("/api/admin/merchant-applications/{app_id}/{verb}"), Some(&admin), json!({})).await;
        assert_eq!(got.0.as_u16(), 409, "{verb} after rejection: {}", got.1);
    }
    assert_error(&server.get("/api/merchant/reviews/pending", Some(&c.token)).await, 403, 2003);
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_eq!(info["is_merchant"], json!(false), "{info}");
    assert!(audit_has(&server, &admin, "merchant_application.reject", app_id).await, "no audit entry");
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Avatar
// ---------------------------------------------------------------------------------------------

/// An uploaded avatar is served from the returned link and from the link in /api/user/info; a
/// new one replaces it; a non-image is 5003 and changes nothing.
async fn an_uploaded_avatar_is_served_from_its_link(backend: Backend, objects: Objects) {
    let server = TestServer::start_with_objects(backend, objects, &[]).await;
    let c = server.login(&phone(79, 1)).await;
    let first = png("avatar one");
    let form = Form::new().part("photo", Part::bytes(first.clone()).file_name("me.png").mime_str("image/png").unwrap());
    let got = assert_ok(&send_form(&server, "/api/user/avatar", Some(&c.token), form).await);
    assert_serves(&server, &got["avatar"], &first).await;
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_serves(&server, &info["avatar"], &first).await;

    let second = jpeg("avatar two");
    let form =
        Form::new().part("image", Part::bytes(second.clone()).file_name("me.jpg").mime_str("image/jpeg").unwrap());
    let got = assert_ok(&send_form(&server, "/api/user/avatar", Some(&c.token), form).await);
    assert_serves(&server, &got["avatar"], &second).await;
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_serves(&server, &info["avatar"], &second).await;

    let form = Form::new().part(
        "photo",
        Part::bytes(b"%PDF-1.4 not a face".to_vec()).file_name("me.jpg").mime_str("image/jpeg").unwrap(),
    );
    assert_error(&send_form(&server, "/api/user/avatar", Some(&c.token), form).await, 400, 5003);
    let info = assert_ok(&server.get("/api/user/info", Some(&c.token)).await);
    assert_serves(&server, &info["avatar"], &second).await;
    assert_eq!(history_total(&server, &c).await, 0, "an avatar is not a receipt");
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/// An upload pushes `new_review` to merchants' sockets (with a working image link) and not to
/// customers'; a decision pushes `review_result` (and for an approval `points_update`) to the
/// uploader only.
async fn merchants_hear_of_uploads_and_customers_of_their_results(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(79, 10)).await;
    let owner = server.login(&phone(79, 11)).await;
    let bystander = server.login(&phone(79, 12)).await;
    let mut ws_m = server.ws(&merchant.token).await;
    let mut ws_owner = server.ws(&owner.token).await;
    let mut ws_other = server.ws(&bystander.token).await;

    let bytes = jpeg("pushed");
    let id = upload_id(&upload(&server, &owner, bytes.clone(), "88.50").await);
    let msg = ws_m.next_of("new_review", WAIT).await.expect("the merchant hears of the upload");
    let d = &msg["data"];
    assert_eq!(d["upload_id"].as_i64(), Some(id), "{msg}");
    assert_eq!(d["user_id"].as_i64(), Some(owner.user_id), "{msg}");
    assert_yuan(&d["amount"], 88.5);
    assert_serves(&server, &d["image_url"], &bytes).await;
    for (who, ws) in [("the uploader", &mut ws_owner), ("another customer", &mut ws_other)] {
        let got = ws.drain(QUIET).await;
        assert!(got.iter().all(|m| m["type"] != "new_review"), "{who} got new_review: {got:?}");
    }

    let body = json!({ "upload_id": id, "action": "approve", "actual_amount": 88.5, "reason": "核对无误" });
    assert_ok(&server.post("/api/merchant/review", Some(&merchant.token), body).await);
    let got = collect(&mut ws_owner, &["review_result", "points_update"]).await;
    let r = &got["review_result"]["data"];
    assert_eq!(r["upload_id"].as_i64(), Some(id), "{r}");
    assert_eq!(r["status"], json!("approved"), "{r}");
    assert_eq!(r["points_awarded"].as_i64(), Some(885), "{r}");
    assert_yuan(&r["actual_amount"], 88.5);
    assert_eq!(r["review_reason"], json!("核对无误"), "{r}");
    let p = &got["points_update"]["data"];
    assert_eq!(p["user_id"].as_i64(), Some(owner.user_id), "{p}");
    assert_eq!(p["total_points"].as_i64(), Some(1885), "{p}");
    assert_eq!(p["change_points"].as_i64(), Some(885), "{p}");
    let others = ws_other.drain(QUIET).await;
    assert!(
        others.iter().all(|m| m["type"] != "review_result" && m["type"] != "points_update"),
        "another customer heard of someone else's review: {others:?}"
    );

    let id2 = upload_id(&upload(&server, &owner, jpeg("pushed 2"), "12").await);
    assert!(ws_m.next_of("new_review", WAIT).await.is_some_and(|m| m["data"]["upload_id"].as_i64() == Some(id2)));
    let body = json!({ "upload_id": id2, "action": "reject", "reason": "不是本店小票" });
    assert_ok(&server.post("/api/merchant/review", Some(&merchant.token), body).await);
    let got = collect(&mut ws_owner, &["review_result"]).await;
    let r = &got["review_result"]["data"];
    assert_eq!(r["upload_id"].as_i64(), Some(id2), "{r}");
    assert_eq!(r["status"], json!("rejected"), "{r}");
    assert_eq!(r["points_awarded"].as_i64(), Some(0), "{r}");
    assert_eq!(r["review_reason"], json!("不是本店小票"), "{r}");
    let after = ws_owner.drain(QUIET).await;
    assert!(after.iter().all(|m| m["type"] != "points_update"), "a rejection moved points: {after:?}");
    assert_eq!(server.balance(&owner).await, 1885);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Race
// ---------------------------------------------------------------------------------------------

/// 20 merchants each try to decide each of 100 uploads (25 customers × 4) at the same time, by
/// every route, approving with various amounts or rejecting. Each upload is decided exactly once
/// (100 successes, every other attempt 6004 naming the winner's status), each customer is
/// credited exactly the points of their approved uploads, and the ledger reconciles.
async fn racing_merchants_decide_each_upload_exactly_once(backend: Backend) {
    const MERCHANTS: usize = 20;
    const CUSTOMERS: usize = 25;
    const PER_CUSTOMER: usize = 4;
    let server = Arc::new(TestServer::start(backend).await);
    let admin = server.admin().await;
    one_level_only(&server, &admin).await;
    let mut merchants = Vec::new();
    for i in 0..MERCHANTS {
        merchants.push(make_merchant(&server, &admin, &phone(79, 100 + i as u32)).await);
    }
    let mut customers = Vec::new();
    for i in 0..CUSTOMERS {
        customers.push(server.login(&phone(79, 200 + i as u32)).await);
    }
    let mut tasks = Vec::new();
    for (ci, c) in customers.iter().enumerate() {
        let (server, c) = (server.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..PER_CUSTOMER {
                ids.push((upload_id(&upload(&server, &c, jpeg(&format!("race {ci}-{k}")), "100").await), c.user_id));
            }
            ids
        }));
    }
    let mut uploads: Vec<(i64, i64)> = Vec::new();
    for t in tasks {
        uploads.extend(t.await.expect("upload task"));
    }
    assert_eq!(uploads.len(), CUSTOMERS * PER_CUSTOMER);
    uploads.sort();
    let uploads = Arc::new(uploads);

    // Each merchant walks the uploads in the same order, so all 20 contend for each one.
    let mut tasks = Vec::new();
    for (mi, m) in merchants.iter().enumerate() {
        let (server, token, uploads) = (server.clone(), m.token.clone(), uploads.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for (ui, (id, _)) in uploads.iter().enumerate() {
                let cents = 250 + ((mi * 997 + ui * 131) % 40_000) as i64;
                let amount = json!(cents as f64 / 100.0);
                let (path, body, verdict) = match (mi + ui) % 5 {
                    0 => ("/api/merchant/review".to_string(), json!({ "upload_id": id, "action": "approve", "actual_amount": amount }), Some(cents)),
                    1 => ("/api/merchant/review".to_string(), json!({ "upload_id": id, "action": "reject", "reason": "race" }), None),
                    2 => (format!("/api/merchant/reviews/{id}/approve"), json!({ "actual_amount": amount }), Some(cents)),
                    3 => (format!("/api/merchant/reviews/{id}/reject"), json!({ "reason": "race" }), None),
                    _ => (
                        "/api/merchant/review".to_string(),
                        json!({ "upload_id": id, "action": "approved", "actual_amount": format!("{}.{:02}", cents / 100, cents % 100) }),
                        Some(cents),
                    ),
                };
                let got = server.post(&path, Some(&token), body).await;
                answers.push((*id, mi, verdict, got));
            }
            answers
        }));
    }
    // upload → (merchant, approved cents or None for a rejection)
    let mut winners: HashMap<i64, (usize, Option<i64>)> = HashMap::new();
    let mut losers: Vec<(i64, (StatusCode, Value))> = Vec::new();
    for t in tasks {
        for (id, mi, verdict, got) in t.await.expect("merchant task") {
            if got.1["code"].as_i64() == Some(0) {
                let data = &got.1["data"];
                let expected_status = if verdict.is_some() { "approved" } else { "rejected" };
                assert_eq!(data["status"], json!(expected_status), "{data}");
                assert_eq!(data["points_awarded"].as_i64(), Some(verdict.map(points_for).unwrap_or(0)), "{data}");
                assert!(winners.insert(id, (mi, verdict)).is_none(), "upload {id} was decided twice");
            } else {
                losers.push((id, got));
            }
        }
    }
    assert_eq!(winners.len(), uploads.len(), "every upload was decided");
    assert_eq!(losers.len(), uploads.len() * (MERCHANTS - 1), "every other attempt lost");
    for (id, got) in &losers {
        let status = if winners[id].1.is_some() { "approved" } else { "rejected" };
        assert_already_reviewed(got, status);
    }

    let mut expected: HashMap<i64, i64> = HashMap::new();
    for (id, owner) in uploads.iter() {
        *expected.entry(*owner).or_default() += winners[id].1.map(points_for).unwrap_or(0);
    }
    for c in &customers {
        assert_eq!(server.balance(c).await, 1000 + expected[&c.user_id], "customer {}", c.user_id);
        let records =
            assert_ok(&server.get("/api/user/points-records?source=photo_review&limit=50", Some(&c.token)).await);
        let approved_here = uploads.iter().filter(|(id, o)| *o == c.user_id && winners[id].1.is_some()).count();
        assert_eq!(records["pagination"]["total"].as_i64(), Some(approved_here as i64), "{records}");
        let listed = history(&server, c, "?limit=50").await;
        for u in listed["uploads"].as_array().expect("uploads") {
            let id = upload_id(u);
            let status = if winners[&id].1.is_some() { "approved" } else { "rejected" };
            assert_eq!(u["status"], json!(status), "{u}");
        }
    }
    let stats = assert_ok(&server.get("/api/merchant/statistics", Some(&merchants[0].token)).await);
    assert_eq!(stats["by_status"]["pending"].as_i64(), Some(0), "{stats}");
    let approved = winners.values().filter(|w| w.1.is_some()).count() as i64;
    assert!(approved > 0 && approved < uploads.len() as i64, "both verdicts won some races ({approved} approved)");
    assert_eq!(stats["by_status"]["approved"].as_i64(), Some(approved), "{stats}");
    assert_eq!(stats["by_status"]["rejected"].as_i64(), Some(uploads.len() as i64 - approved), "{stats}");
    let seen: HashSet<i64> = winners.values().map(|w| merchants[w.0].user_id).collect();
    assert!(seen.len() > 1, "the merchants raced: more than one of them won a decision");
    let reviewers: HashSet<i64> =
        stats["reviewers"].as_array().expect("reviewers").iter().filter_map(|r| r["reviewer_id"].as_i64()).collect();
    assert_eq!(reviewers, seen, "per-reviewer statistics name exactly the winners");
    server.assert_reconciled();
}

all_storage!(
    every_image_type_under_every_field_name_is_stored_and_served_back,
    refused_uploads_answer_their_code_and_store_nothing,
    an_image_over_5_mb_is_refused_with_413,
    image_links_are_signed_and_tampering_voids_them,
    only_the_owner_withdraws_and_only_while_pending,
    the_pending_queue_is_oldest_first_with_working_image_links,
    an_uploaded_avatar_is_served_from_its_link,
);

both_backends!(
    review_endpoints_require_the_merchant_role,
    every_route_and_spelling_decides_an_upload_exactly_once,
    approval_points_follow_the_clamp_rule_and_are_credited_once,
    a_batch_applies_its_good_items_and_reports_each_bad_one,
    merchant_statistics_count_by_status_and_by_reviewer,
    an_approved_application_opens_the_review_queue,
    a_rejected_application_leaves_a_customer,
    merchants_hear_of_uploads_and_customers_of_their_results,
    racing_merchants_decide_each_upload_exactly_once,
);
