//! The merchant's side attacked, over real HTTP against both databases (issue 10, the merchant
//! part of the security review):
//! - C1: a merchant is a customer too; approving (or rejecting) their own receipt, by any route
//!   or inside a batch, is 6005 and credits nothing, while another merchant may approve it; every
//!   decision and every verification is in the audit log under the merchant's id;
//! - C20: a won prize verified at the counter records the merchant who verified it;
//! - C12: per-customer caps on pending and recent uploads, the same photo twice refused, and a
//!   form with too many fields refused;
//! - C13: two admins deciding one merchant application at once cannot leave it rejected with
//!   the role granted;
//! - S3: withdrawing an upload that a merchant approved meanwhile keeps its photo.
//!
//! After each, `reconcile` passes.

mod common;

use std::sync::Arc;

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A JPEG (by its magic) unique to `tag`.
fn jpeg(tag: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(format!(" receipt {tag} ").into_bytes());
    v
}

fn receipt_form(bytes: Vec<u8>, amount: &str) -> Form {
    let part = Part::bytes(bytes).file_name("receipt.jpg").mime_str("image/jpeg").expect("mime");
    Form::new().text("amount", amount.to_string()).part("photo", part)
}

async fn send_form(server: &TestServer, token: &str, form: Form) -> (StatusCode, Value) {
    let resp = server
        .http
        .post(server.url("/api/photo/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}")))
}

/// Uploads a receipt; answers its id.
async fn upload(server: &TestServer, c: &Customer, tag: &str, amount: &str) -> i64 {
    let data = assert_ok(&send_form(server, &c.token, receipt_form(jpeg(tag), amount)).await);
    data["upload_id"].as_i64().unwrap_or_else(|| panic!("upload_id in {data}"))
}

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let path = format!("/api/admin/users/{}/merchant", m.user_id);
    assert_ok(&server.post(&path, Some(admin), json!({ "is_merchant": true })).await);
    m
}

/// The customer's balance and the number of their ledger rows.
async fn wallet(server: &TestServer, c: &Customer) -> (i64, i64) {
    let records = assert_ok(&server.get("/api/user/points-records?limit=50", Some(&c.token)).await);
    (server.balance(c).await, records["pagination"]["total"].as_i64().expect("total"))
}

/// The audit log's entries for one action, newest first.
async fn audited(server: &TestServer, admin: &str, action: &str) -> Vec<Value> {
    let data = assert_ok(&server.get(&format!("/api/admin/audit-log?action={action}&limit=50"), Some(admin)).await);
    data["entries"].as_array().expect("entries").clone()
}

#[track_caller]
fn assert_by_merchant(entry: &Value, merchant: &Customer, target: i64) {
    assert_eq!(entry["actor"]["kind"], json!("merchant"), "{entry}");
    assert_eq!(entry["actor"]["id"], json!(merchant.user_id), "{entry}");
    assert_eq!(entry["target_id"], json!(target.to_string()), "{entry}");
}

// ---------------------------------------------------------------------------------------------
// C1: a merchant approving their own receipt
// ---------------------------------------------------------------------------------------------

/// The attack from the review: a merchant uploads a receipt and approves it at ¥10,000 through
/// each route, rejects it, and slips it into a batch beside a legitimate decision. Every attempt
/// is 6005 and the merchant's balance and ledger do not move; a second merchant then approves it
/// and the points arrive once. Each decision is audited under the deciding merchant.
async fn a_merchant_cannot_decide_their_own_receipt(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let cheat = make_merchant(&server, &admin, &phone(91, 1)).await;
    let honest = make_merchant(&server, &admin, &phone(91, 2)).await;
    let customer = server.login(&phone(91, 3)).await;
    let own = upload(&server, &cheat, "own", "10000").await;
    let other = upload(&server, &customer, "customer", "30").await;
    let before = wallet(&server, &cheat).await;

    let t = Some(cheat.token.as_str());
    let body = json!({ "upload_id": own, "action": "approve", "actual_amount": 10000 });
    assert_error(&server.post("/api/merchant/review", t, body).await, 403, 6005);
    let body = json!({ "upload_id": own, "action": "approved", "actual_amount": "10000.00" });
    assert_error(&server.post("/api/merchant/review", t, body).await, 403, 6005);
    let path = format!("/api/merchant/reviews/{own}/approve");
    assert_error(&server.post(&path, t, json!({ "actual_amount": 10000 })).await, 403, 6005);
    let path = format!("/api/merchant/reviews/{own}/reject");
    assert_error(&server.post(&path, t, json!({ "reason": "x" })).await, 403, 6005);

    let items = json!({ "items": [
        { "upload_id": own, "action": "approve", "actual_amount": 10000 },
        { "upload_id": other, "action": "approve", "actual_amount": 30 },
        { "upload_id": own, "action": "approve", "actual_amount": 9999 },
    ] });
    let batch = assert_ok(&server.post("/api/merchant/reviews/batch", t, items).await);
    assert_eq!((batch["succeeded"].as_i64(), batch["failed"].as_i64()), (Some(1), Some(2)), "{batch}");
    for i in [0, 2] {
        let item = &batch["results"][i];
        assert_eq!((item["success"].as_bool(), item["code"].as_i64()), (Some(false), Some(6005)), "{batch}");
        assert_eq!(item["upload_id"], json!(own), "{batch}");
    }
    assert_eq!(batch["results"][1]["data"]["points_awarded"], json!(300), "{batch}");

    assert_eq!(wallet(&server, &cheat).await, before, "the merchant's own approval moved their wallet");
    let review = assert_ok(&server.get(&format!("/api/photo/review/{own}"), t).await);
    assert_eq!(review["status"], json!("pending"), "{review}");
    let pending = assert_ok(&server.get("/api/merchant/reviews/pending?limit=50", t).await);
    assert!(
        pending["reviews"].as_array().expect("reviews").iter().any(|r| r["upload_id"] == json!(own)),
        "the refused receipt left the queue: {pending}"
    );

    let path = format!("/api/merchant/reviews/{own}/approve");
    let approved = assert_ok(&server.post(&path, Some(&honest.token), json!({ "actual_amount": 88.5 })).await);
    assert_eq!(approved["points_awarded"], json!(885), "{approved}");
    assert_eq!(wallet(&server, &cheat).await, (before.0 + 885, before.1 + 1));

    let approvals = audited(&server, &admin, "receipt.approve").await;
    assert_eq!(approvals.len(), 2, "{approvals:?}");
    assert_by_merchant(&approvals[0], &honest, own);
    assert_eq!(approvals[0]["before"]["amount_cents"], json!(1_000_000), "{}", approvals[0]);
    assert_eq!(approvals[0]["after"]["points_awarded"], json!(885), "{}", approvals[0]);
    assert_by_merchant(&approvals[1], &cheat, other);

    let third = upload(&server, &customer, "rejected", "12").await;
    let path = format!("/api/merchant/reviews/{third}/reject");
    assert_ok(&server.post(&path, Some(&honest.token), json!({ "reason": "看不清" })).await);
    let rejections = audited(&server, &admin, "receipt.reject").await;
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_by_merchant(&rejections[0], &honest, third);
    assert_eq!(rejections[0]["after"]["reason"], json!("看不清"), "{}", rejections[0]);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C20: who verified a prize
// ---------------------------------------------------------------------------------------------

/// A customer wins a coupon and redeems a product; a merchant verifies both codes. The prize row
/// records the merchant (`used_by`), and both verifications are audited under the merchant.
async fn verifying_a_code_records_the_merchant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(92, 1)).await;
    let c = server.login(&phone(92, 2)).await;
    let path = format!("/api/admin/users/{}/points", c.user_id);
    assert_ok(&server.post(&path, Some(&admin), json!({ "delta": 1000, "reason": "测试" })).await);
    server.wheel_all_on(&admin, "八八折券", None).await;
    let draw = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await);
    let code = draw["results"][0]["redemption_code"].as_str().unwrap_or_else(|| panic!("a coupon code: {draw}"));
    let verified = assert_ok(
        &server.post("/api/merchant/orders/verify", Some(&merchant.token), json!({ "exchange_code": code })).await,
    );
    let draw_id = verified["draw_id"].as_i64().unwrap_or_else(|| panic!("draw_id in {verified}"));

    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    let used_by: Option<i64> = sqlx::query_scalar("SELECT used_by FROM lottery_draws WHERE id = ?")
        .bind(draw_id)
        .fetch_one(store.pool())
        .await
        .expect("the draw");
    assert_eq!(used_by, Some(merchant.user_id));

    let entries = audited(&server, &admin, "prize.verify").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_by_merchant(&entries[0], &merchant, draw_id);
    assert_eq!(entries[0]["after"]["status"], json!("used"), "{}", entries[0]);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C12: upload floods, repeats and huge forms
// ---------------------------------------------------------------------------------------------

async fn history_total(server: &TestServer, c: &Customer) -> i64 {
    let data = assert_ok(&server.get("/api/photo/history?limit=50", Some(&c.token)).await);
    data["pagination"]["total"].as_i64().expect("total")
}

/// With `UPLOAD_PENDING_LIMIT=3`, a fourth waiting receipt is 9001/429 with `Retry-After` and
/// stores nothing; once a merchant decides one, the customer may upload again. Another customer
/// is not affected.
async fn pending_uploads_are_capped_per_customer(backend: Backend) {
    let server = TestServer::start_with(backend, &[("UPLOAD_PENDING_LIMIT", "3")]).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(93, 1)).await;
    let flooder = server.login(&phone(93, 2)).await;
    let other = server.login(&phone(93, 3)).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(upload(&server, &flooder, &format!("p{i}"), "20").await);
    }
    let resp = server
        .http
        .post(server.url("/api/photo/upload"))
        .bearer_auth(&flooder.token)
        .multipart(receipt_form(jpeg("p3"), "20"))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().ok().and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], json!(9001), "{body}");
    assert_eq!(history_total(&server, &flooder).await, 3);
    upload(&server, &other, "other", "20").await;

    let path = format!("/api/merchant/reviews/{}/reject", ids[0]);
    assert_ok(&server.post(&path, Some(&merchant.token), json!({ "reason": "重复" })).await);
    upload(&server, &flooder, "p3", "20").await;
    assert_eq!(history_total(&server, &flooder).await, 4);
    server.assert_reconciled();
}

/// With `UPLOAD_DAILY_LIMIT=4`, decided receipts count too: after four uploads in a day (two of
/// them already approved), the fifth is 9001 with a wait of nearly a day.
async fn daily_uploads_are_capped_per_customer(backend: Backend) {
    let server = TestServer::start_with(backend, &[("UPLOAD_DAILY_LIMIT", "4")]).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(94, 1)).await;
    let c = server.login(&phone(94, 2)).await;
    for i in 0..4 {
        let id = upload(&server, &c, &format!("d{i}"), "20").await;
        if i < 2 {
            let path = format!("/api/merchant/reviews/{id}/approve");
            assert_ok(&server.post(&path, Some(&merchant.token), json!({ "actual_amount": 20 })).await);
        }
    }
    let resp = server
        .http
        .post(server.url("/api/photo/upload"))
        .bearer_auth(&c.token)
        .multipart(receipt_form(jpeg("d4"), "20"))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().ok().and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(wait > 23 * 3600 && wait <= 24 * 3600, "Retry-After {wait}");
    assert_eq!(history_total(&server, &c).await, 4);
    server.assert_reconciled();
}

/// The same photo twice from one customer is 1003 naming `photo` (pending, approved or
/// rejected, it was uploaded once); so approving it twice is impossible. Another customer may
/// upload the same bytes, and a withdrawn photo may be uploaded again.
async fn the_same_receipt_photo_is_refused_the_second_time(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let merchant = make_merchant(&server, &admin, &phone(95, 1)).await;
    let c = server.login(&phone(95, 2)).await;
    let start = server.balance(&c).await;
    let friend = server.login(&phone(95, 3)).await;
    let first = upload(&server, &c, "twice", "50").await;
    let again = send_form(&server, &c.token, receipt_form(jpeg("twice"), "60")).await;
    assert_error(&again, 400, 1003);
    assert!(again.1["msg"].as_str().is_some_and(|m| m.contains("photo")), "{}", again.1);
    let path = format!("/api/merchant/reviews/{first}/approve");
    assert_ok(&server.post(&path, Some(&merchant.token), json!({ "actual_amount": 50 })).await);
    assert_error(&send_form(&server, &c.token, receipt_form(jpeg("twice"), "50")).await, 400, 1003);
    assert_eq!((history_total(&server, &c).await, server.balance(&c).await), (1, start + 500));
    upload(&server, &friend, "twice", "50").await;

    let withdrawn = upload(&server, &c, "withdrawn", "30").await;
    let got = server.call(Method::DELETE, &format!("/api/photo/{withdrawn}"), Some(&c.token), None).await;
    assert_ok(&got);
    upload(&server, &c, "withdrawn", "30").await;
    server.assert_reconciled();
}

/// A form of 100 tiny text fields (and one of 9 beside a valid receipt) is 1003 naming
/// `multipart`, stores nothing, and the connection still answers.
async fn a_form_with_too_many_fields_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(96, 1)).await;
    let mut form = receipt_form(jpeg("many"), "20");
    for i in 0..100 {
        form = form.text(format!("f{i}"), "x");
    }
    let got = send_form(&server, &c.token, form).await;
    assert_error(&got, 400, 1003);
    assert!(got.1["msg"].as_str().is_some_and(|m| m.contains("multipart")), "{}", got.1);
    let mut form = receipt_form(jpeg("nine"), "20");
    for i in 0..7 {
        form = form.text(format!("f{i}"), "x");
    }
    assert_error(&send_form(&server, &c.token, form).await, 400, 1003);
    assert_eq!(history_total(&server, &c).await, 0);
    let mut form = receipt_form(jpeg("eight"), "20");
    for i in 0..6 {
        form = form.text(format!("f{i}"), "x");
    }
    assert_ok(&send_form(&server, &c.token, form).await);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// C13: two admins deciding one application
// ---------------------------------------------------------------------------------------------

/// Twelve applications, each approved and rejected at the same moment. Exactly one decision wins
/// (the other is 6004), and the applicant holds the merchant role exactly when the application
/// is `approved`; the audit log has one decision per application.
async fn racing_admins_leave_one_decision_and_a_matching_role(backend: Backend) {
    const APPLICANTS: u32 = 12;
    let server = Arc::new(TestServer::start(backend).await);
    let admin = Arc::new(server.admin().await);
    let mut applicants = Vec::new();
    for i in 0..APPLICANTS {
        let c = server.login(&phone(97, i)).await;
        let body = json!({ "shop_name": format!("店{i}"), "contact": "13800000000" });
        let app = assert_ok(&server.post("/api/merchant/apply", Some(&c.token), body).await);
        applicants.push((c, app["application_id"].as_i64().expect("application_id")));
    }
    let mut races = Vec::new();
    for (_, id) in &applicants {
        for verb in ["approve", "reject"] {
            let (server, admin, id) = (server.clone(), admin.clone(), *id);
            races.push(tokio::spawn(async move {
                let path = format!("/api/admin/merchant-applications/{id}/{verb}");
                (id, verb, server.post(&path, Some(&admin), json!({})).await)
            }));
        }
    }
    let mut winners = std::collections::HashMap::new();
    for race in races {
        let (id, verb, got) = race.await.expect("task");
        if got.0 == StatusCode::OK {
            assert!(winners.insert(id, verb).is_none(), "application {id} decided twice");
        } else {
            assert_error(&got, 409, 6004);
        }
    }
    let list = assert_ok(&server.get("/api/admin/merchant-applications?limit=50", Some(&admin)).await);
    let list = list["applications"].as_array().unwrap_or_else(|| panic!("applications in {list}")).clone();
    for (c, id) in &applicants {
        let verb = winners.get(id).unwrap_or_else(|| panic!("nobody decided application {id}"));
        let row = list.iter().find(|a| a["application_id"] == json!(id) || a["id"] == json!(id));
        let row = row.unwrap_or_else(|| panic!("application {id} in {list:?}"));
        let expected = if *verb == "approve" { "approved" } else { "rejected" };
        assert_eq!(row["status"], json!(expected), "{row}");
        let as_merchant = server.get("/api/merchant/statistics", Some(&c.token)).await;
        if *verb == "approve" {
            assert_ok(&as_merchant);
        } else {
            assert_error(&as_merchant, 403, 2003);
        }
    }
    for action in ["merchant_application.approve", "merchant_application.reject"] {
        let n = audited(&server, &admin, action).await.len();
        let won = winners.values().filter(|v| action.ends_with(*v)).count();
        assert_eq!(n, won, "{action}");
    }
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// S3: withdraw racing an approval
// ---------------------------------------------------------------------------------------------

/// Twenty receipts (the pending cap), each withdrawn by its owner while a merchant approves it. Whatever wins,
/// the outcome is whole: a withdrawn receipt is gone with its photo and credited nothing; an
/// approved one keeps its photo (its link still serves the bytes) and is credited once.
async fn a_withdraw_racing_an_approval_never_deletes_an_approved_photo(backend: Backend) {
    const UPLOADS: usize = 20;
    let server = Arc::new(TestServer::start(backend).await);
    let admin = server.admin().await;
    let merchant = Arc::new(make_merchant(&server, &admin, &phone(98, 1)).await);
    let c = Arc::new(server.login(&phone(98, 2)).await);
    let start = server.balance(&c).await;
    let mut ids = Vec::new();
    for i in 0..UPLOADS {
        ids.push(upload(&server, &c, &format!("w{i}"), "20").await);
    }
    let mut tasks = Vec::new();
    for &id in &ids {
        let (s1, m) = (server.clone(), merchant.clone());
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/merchant/reviews/{id}/approve");
            let (status, body) = s1.post(&path, Some(&m.token), json!({ "actual_amount": 20 })).await;
            // What the approval credited: 200 at level 1, more once the customer's level rises.
            (status == StatusCode::OK).then(|| body["data"]["points_awarded"].as_i64().expect("points_awarded"))
        }));
        let (s2, owner) = (server.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let withdrawn = s2.call(Method::DELETE, &format!("/api/photo/{id}"), Some(&owner.token), None).await.0;
            (withdrawn == StatusCode::OK).then_some(0)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    let mut credited = 0;
    for (i, id) in ids.iter().enumerate() {
        let (approval, withdrawal) = (outcomes[2 * i], outcomes[2 * i + 1]);
        let (approve_won, withdraw_won) = (approval.is_some(), withdrawal.is_some());
        assert!(approve_won ^ withdraw_won, "upload {id}: approved {approve_won}, withdrawn {withdraw_won}");
        let review = server.get(&format!("/api/photo/review/{id}"), Some(&c.token)).await;
        if let Some(points) = approval {
            assert!(points >= 200, "a ¥20 receipt credits at least 200: {points}");
            credited += points;
            let data = assert_ok(&review);
            assert_eq!(data["status"], json!("approved"), "{data}");
            let link = data["image_url"].as_str().expect("image_url");
            let url = if link.starts_with("http") { link.to_string() } else { server.url(link) };
            let served = server.http.get(url).send().await.expect("photo");
            assert_eq!(served.status(), StatusCode::OK, "the approved receipt {id} lost its photo");
            assert_eq!(served.bytes().await.expect("bytes").to_vec(), jpeg(&format!("w{i}")));
        } else {
            assert_error(&review, 404, 6001);
        }
    }
    assert_eq!(server.balance(&c).await, start + credited);
    server.assert_reconciled();
}

both_backends!(
    a_merchant_cannot_decide_their_own_receipt,
    verifying_a_code_records_the_merchant,
    pending_uploads_are_capped_per_customer,
    daily_uploads_are_capped_per_customer,
    the_same_receipt_photo_is_refused_the_second_time,
    a_form_with_too_many_fields_is_refused,
    racing_admins_leave_one_decision_and_a_matching_role,
    a_withdraw_racing_an_approval_never_deletes_an_approved_photo,
);
