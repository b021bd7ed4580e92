//! A won prize's life, black-box (API.md "Prize lifecycle"): the cash value ceiling, coupon
//! expiry, claiming a physical prize with delivery details, and the counter refusing an
//! expired coupon.

mod common;

use common::{assert_error, assert_ok, phone, Backend, Customer, TestServer};
use serde_json::{json, Value};

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let path = format!("/api/admin/users/{}/merchant", m.user_id);
    assert_ok(&server.post(&path, Some(admin), json!({ "is_merchant": true })).await);
    m
}

async fn my_prizes(server: &TestServer, c: &Customer) -> Vec<Value> {
    assert_ok(&server.get("/api/lottery/my-prizes", Some(&c.token)).await)["prizes"].as_array().expect("prizes").clone()
}

async fn a_prize_worth_more_than_the_legal_ceiling_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (_, wheel) = server.get("/api/admin/lottery/prizes", Some(&admin)).await;
    let mut prizes: Vec<Value> = wheel["data"]["prizes"].as_array().expect("prizes").clone();
    assert!(prizes.iter().all(|p| p["cash_value_cents"] == json!(0)), "default 0");
    prizes[3]["cash_value_cents"] = json!(5_000_001);
    let got = server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes.clone() })).await;
    assert_error(&got, 400, 1003);
    assert!(got.1["msg"].as_str().unwrap_or_default().contains("prizes[3].cash_value_cents"), "{}", got.1);
    prizes[3]["cash_value_cents"] = json!(5_000_000);
    let saved = assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes })).await);
    let (_, wheel) = server.get("/api/admin/lottery/prizes", Some(&admin)).await;
    assert_eq!(wheel["data"]["prizes"][3]["cash_value_cents"], json!(5_000_000), "{saved}");
}

async fn coupons_expire_physical_prizes_are_claimed_and_the_counter_honours_both_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let alice = server.login(&phone(74, 1)).await;
    let bob = server.login(&phone(74, 2)).await;
    let merchant = make_merchant(&server, &admin, &phone(74, 3)).await;

    // A coupon: valid for 30 days from the win.
    server.wheel_all_on(&admin, "八八折券", None).await;
    let coupon = assert_ok(&server.post("/api/lottery/draw", Some(&alice.token), json!({})).await);
    let coupon_id = coupon["results"][0]["draw_id"].as_i64().expect("draw_id");
    // A physical prize: never expires, claimed with delivery details.
    server.wheel_all_on(&admin, "甜品一份", None).await;
    let dessert = assert_ok(&server.post("/api/lottery/draw", Some(&alice.token), json!({})).await);
    let dessert_id = dessert["results"][0]["draw_id"].as_i64().expect("draw_id");
    let dessert_code = dessert["results"][0]["redemption_code"].as_str().expect("code").to_string();

    let prizes = my_prizes(&server, &alice).await;
    let find = |id: i64| prizes.iter().find(|p| p["draw_id"] == json!(id)).expect("listed").clone();
    let c = find(coupon_id);
    assert_eq!(c["status"], json!("unused"));
    let won = chrono::DateTime::parse_from_rfc3339(c["won_at"].as_str().expect("won_at")).expect("time");
    let expires = chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().expect("expires_at")).expect("time");
    assert_eq!((expires - won).num_days(), 30);
    assert_eq!(find(dessert_id)["expires_at"], Value::Null);

    // Claiming: only the owner's unused physical prize, with valid details.
    let delivery = json!({ "name": "张三", "phone": "13800138000", "address": "上海市黄浦区南京东路1号" });
    let claim = |c: &Customer, id: i64, info: Value| {
        let token = c.token.clone();
        let server = &server;
        async move { server.post("/api/lottery/claim", Some(&token), json!({ "draw_id": id, "delivery_info": info })).await }
    };
    assert_error(&claim(&bob, dessert_id, delivery.clone()).await, 404, 4004);
    assert_error(&claim(&alice, 99_999_999, delivery.clone()).await, 404, 4004);
    assert_error(&claim(&alice, coupon_id, delivery.clone()).await, 400, 1003);
    let mut bad_phone = delivery.clone();
    bad_phone["phone"] = json!("12345");
    assert_error(&claim(&alice, dessert_id, bad_phone).await, 400, 1001);
    let mut no_address = delivery.clone();
    no_address["address"] = json!("");
    assert_error(&claim(&alice, dessert_id, no_address).await, 400, 1003);
    assert_eq!(find(dessert_id)["status"], json!("unused"), "refusals change nothing");
    let claimed = assert_ok(&claim(&alice, dessert_id, delivery.clone()).await);
    assert_eq!(claimed["status"], json!("claimed"));
    assert_eq!(
        my_prizes(&server, &alice).await.iter().find(|p| p["draw_id"] == json!(dessert_id)).unwrap()["status"],
        json!("claimed")
    );
    assert_error(&claim(&alice, dessert_id, delivery).await, 400, 1003);

    // The counter turns a claimed prize into a used one.
    let verify = |code: String| {
        let token = merchant.token.clone();
        let server = &server;
        async move { server.post("/api/merchant/orders/verify", Some(&token), json!({ "exchange_code": code })).await }
    };
    assert_ok(&verify(dessert_code).await);
    let after = my_prizes(&server, &alice).await;
    assert_eq!(after.iter().find(|p| p["draw_id"] == json!(dessert_id)).unwrap()["status"], json!("used"));

    // Thirty days later (the store's clock moved for the test) the coupon is expired: listed as
    // such, and the counter refuses it.
    let store = restaurant_lottery::store::Store::connect(&server.database_url, 1).await.expect("connect");
    sqlx::query("UPDATE lottery_draws SET expires_at = ? WHERE id = ?")
        .bind(chrono::Utc::now().timestamp_millis() - 1)
        .bind(coupon_id)
        .execute(store.pool())
        .await
        .expect("age the coupon");
    let code = coupon["results"][0]["redemption_code"].as_str().expect("code").to_string();
    assert_eq!(
        my_prizes(&server, &alice).await.iter().find(|p| p["draw_id"] == json!(coupon_id)).unwrap()["status"],
        json!("expired")
    );
    assert_error(&verify(code).await, 404, 4004);
    assert_eq!(
        my_prizes(&server, &alice).await.iter().find(|p| p["draw_id"] == json!(coupon_id)).unwrap()["status"],
        json!("expired")
    );
    server.assert_reconciled();
}

both_backends!(
    a_prize_worth_more_than_the_legal_ceiling_is_refused,
    coupons_expire_physical_prizes_are_claimed_and_the_counter_honours_both_rules
);
