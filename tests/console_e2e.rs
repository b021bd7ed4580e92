//! The console (`/console/`) end to end, in Debian's Chromium driven over WebDriver, against the
//! real server on SQLite and MariaDB. Each test is one browser session through a user's whole
//! visit, and checks what the page did through the API as well:
//!
//! - a merchant signs in by phone and code, sees the pending receipts with their photos, sees a
//!   new one arrive over the WebSocket, approves one with the confirmed amount (the customer's
//!   balance and ledger show it), rejects one, batch-approves, is shown the API's `msg` for a
//!   refused amount, verifies an exchange code (and is shown the refusal the second time), and
//!   reads the statistics;
//! - an admin signs in by username and password, creates and starts a campaign, gives it its
//!   own eight sectors (the editor starts from the default wheel's) and reads its stats chart,
//!   saves wheel odds that do not sum to 1 (the page shows the API's refusal and
//!   nothing changes) and then odds that do, creates, edits, restocks (a customer's socket gets
//!   `stock_update`) and delists a product, adjusts a customer's points, freezes some, makes them
//!   a merchant and bans them, approves a merchant application, edits levels and a task reward,
//!   reads the audit log and the analytics charts, and watches the live figures move over the
//!   WebSocket.
//!
//! Every page is photographed at desktop and phone width into `target/console-screenshots/`
//! (or `$CONSOLE_SCREENSHOTS`); at phone width no page may be wider than the screen.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{Browser, PHONE};
use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn set_name(backend: Backend, who: &str) -> String {
    format!("{}-{who}", if backend == Backend::Sqlite { "sqlite" } else { "mariadb" })
}

/// Photographs the page at both widths and checks that the phone layout fits the screen.
async fn photograph(b: &Browser, name: &str) {
    b.screenshots(name).await;
    b.client.set_window_size(PHONE.0, PHONE.1).await.expect("phone width");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let overflow = b.overflow_x().await;
    b.client.set_window_size(browser::DESKTOP.0, browser::DESKTOP.1).await.expect("desktop width");
    assert!(overflow <= 1, "{name} is {overflow}px wider than a phone's screen");
}

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let path = format!("/api/admin/users/{}/merchant", m.user_id);
    assert_ok(&server.post(&path, Some(admin), json!({ "is_merchant": true })).await);
    m
}

async fn review_status(server: &TestServer, c: &Customer, id: i64) -> String {
    let r = assert_ok(&server.get(&format!("/api/photo/review/{id}"), Some(&c.token)).await);
    r["status"].as_str().unwrap_or_else(|| panic!("status in {r}")).to_string()
}

async fn merchant_reviews_verifies_and_reads_statistics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let customer = server.login(&phone(951, 1)).await;
    let merchant = make_merchant(&server, &admin, &phone(951, 2)).await;
    let first = server.upload_receipt(&customer, "a", "88.50").await;
    let second = server.upload_receipt(&customer, "b", "20").await;
    let third = server.upload_receipt(&customer, "c", "30").await;

    let b = Browser::start(&set_name(backend, "merchant")).await;
    b.goto(&server.url("/console")).await;
    photograph(&b, "login").await;
    b.fill("#m-phone", &merchant.phone).await;
    b.click("#m-send").await;
    b.notice_says("ok", "验证码已发送").await;
    b.fill("#m-code", "123456").await;
    b.click("#m-login").await;

    // The queue, oldest first, each with its photo through a signed link that loads.
    b.find(&format!("#receipt-{first}")).await;
    b.find(&format!("#receipt-{third}")).await;
    // The photo is the signed link the API handed out, and that link serves the image (the
    // harness's receipt bytes are not a picture a browser can draw, so the check is the link).
    let src = b.script(&format!("return document.querySelector('#receipt-{first} img').src;")).await;
    let src = src.as_str().unwrap_or_else(|| panic!("the receipt's img src: {src}")).to_string();
    let pending = assert_ok(&server.get("/api/merchant/reviews/pending", Some(&merchant.token)).await);
    let signed = pending["reviews"][0]["image_url"].as_str().expect("image_url");
    // Each answer signs afresh (its own expiry): the object is the same.
    let object = signed.split('?').next().unwrap_or(signed);
    assert!(src.contains(object) && src.contains("sig="), "the page shows {src}, the API signed {signed}");
    let image = server.http.get(&src).send().await.expect("the photo's link");
    assert_eq!(image.status().as_u16(), 200, "{src}");
    assert_eq!(image.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/jpeg"));
    b.text_contains("#ws-state", "已连接").await;

    // A receipt uploaded now appears without a reload.
    let live = server.upload_receipt(&customer, "d", "12.30").await;
    b.find(&format!("#receipt-{live}")).await;
    b.notice_says("ok", &format!("收到新小票 #{live}")).await;
    photograph(&b, "merchant-reviews").await;

    // An amount the API refuses: the page shows the contract's msg, and nothing is decided.
    let refused = server
        .post(&format!("/api/merchant/reviews/{first}/approve"), Some(&merchant.token), json!({ "actual_amount": 0 }))
        .await;
    assert_ne!(refused.1["code"], json!(0), "{}", refused.1);
    b.fill(&format!("#amount-{first}"), "0").await;
    b.click(&format!("#approve-{first}")).await;
    b.notice_says("error", refused.1["msg"].as_str().expect("msg")).await;
    assert_eq!(review_status(&server, &customer, first).await, "pending");

    // Approve with the confirmed amount: ¥100 → 1000 points, credited once, in the ledger.
    b.fill(&format!("#amount-{first}"), "100").await;
    b.click(&format!("#approve-{first}")).await;
    b.notice_says("ok", "发放 1000 积分").await;
    b.gone(&format!("#receipt-{first}")).await;
    assert_eq!(server.balance(&customer).await, 2000);
    let ledger = assert_ok(&server.get("/api/user/points-records?source=photo_review", Some(&customer.token)).await);
    let records = ledger["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{ledger}");
    assert_eq!((int(&records[0], "points"), int(&records[0], "balance_after")), (1000, 2000), "{ledger}");

    // Reject with a reason.
    b.fill(&format!("#reason-{second}"), "照片模糊").await;
    b.click(&format!("#reject-{second}")).await;
    b.notice_says("ok", &format!("小票 #{second} 已驳回")).await;
    b.gone(&format!("#receipt-{second}")).await;
    assert_eq!(review_status(&server, &customer, second).await, "rejected");

    // Batch: the two left, at their claimed amounts (¥30 → 300, ¥12.30 → 123).
    b.click("#select-all").await;
    b.click("#batch-approve").await;
    b.notice_says("ok", "成功 2 条，失败 0 条").await;
    b.find("#empty-queue").await;
    assert_eq!(review_status(&server, &customer, third).await, "approved");
    assert_eq!(review_status(&server, &customer, live).await, "approved");
    // The first approval lifted the customer to level 2 (2000 experience), whose multiplier
    // (1.1, floored) applies to these: 330 + 135.
    assert_eq!(server.balance(&customer).await, 2000 + 330 + 135);

    // Verify an exchange code at the counter; the second time the API's refusal is shown.
    let products = assert_ok(&server.get("/api/exchange/products?limit=50", Some(&customer.token)).await);
    let product = products["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["status"] == "available" && p["exchange_points"].as_i64().is_some_and(|n| n <= 2000))
        .cloned()
        .expect("an affordable product in the demo shop");
    let order = assert_ok(
        &server
            .post("/api/exchange/redeem", Some(&customer.token), json!({ "product_id": product["id"], "quantity": 1 }))
            .await,
    );
    let code = order["exchange_code"].as_str().expect("exchange_code").to_string();
    b.route("#/m/verify", "#verify-code").await;
    b.fill("#verify-code", &code).await;
    b.click("#verify-submit").await;
    let product_name = product["name"].as_str().expect("name");
    b.text_contains("#verify-result", &format!("核销成功：商品「{product_name}」× 1")).await;
    photograph(&b, "merchant-verify").await;
    b.fill("#verify-code", &code).await;
    b.click("#verify-submit").await;
    let again =
        server.post("/api/merchant/orders/verify", Some(&merchant.token), json!({ "exchange_code": code })).await;
    let msg = again.1["msg"].as_str().expect("the refusal's msg");
    assert_ne!(again.1["code"], json!(0), "{}", again.1);
    b.notice_says("error", msg).await;

    // Statistics.
    b.route("#/m/stats", "#merchant-stats").await;
    let stats = b.text_contains("#merchant-stats", "已通过").await;
    assert!(stats.contains("已通过\n3") && stats.contains("已驳回\n1"), "{stats}");
    photograph(&b, "merchant-stats").await;

    b.close().await;
    server.assert_reconciled();
}

async fn admin_runs_the_promotion(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let customer = server.login(&phone(952, 1)).await;
    let applicant = server.login(&phone(952, 2)).await;
    let application = assert_ok(
        &server
            .post(
                "/api/merchant/apply",
                Some(&applicant.token),
                json!({ "shop_name": "老王面馆", "contact": "王老板" }),
            )
            .await,
    );
    let mut socket = server.ws(&customer.token).await;

    let b = Browser::start(&set_name(backend, "admin")).await;
    b.goto(&server.url("/console/")).await;
    b.fill("#a-user", ADMIN_USER).await;
    b.fill("#a-pass", "wrong-password").await;
    b.click("#a-login").await;
    let refused =
        server.post("/api/auth/admin-login", None, json!({ "username": ADMIN_USER, "password": "wrong" })).await;
    b.notice_says("error", refused.1["msg"].as_str().expect("msg")).await;
    b.fill("#a-pass", ADMIN_PASSWORD).await;
    b.click("#a-login").await;
    b.find("#campaign-form").await;
    b.accept_confirms().await;

    // Campaigns: create a draft, start it, read its stats.
    b.fill("#c-name", "春节大转盘").await;
    b.fill("#c-cost", "50").await;
    b.click("#c-create").await;
    b.notice_says("ok", "已创建").await;
    let list = assert_ok(&server.get("/api/admin/campaigns?limit=50", Some(&admin)).await);
    let created = list["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .find(|c| c["name"] == "春节大转盘")
        .cloned()
        .unwrap_or_else(|| panic!("the new campaign in {list}"));
    let id = int(&created, "id");
    assert_eq!((created["status"].as_str(), int(&created, "cost_points")), (Some("draft"), 50));
    b.click(&format!("#status-{id}-active")).await;
    b.notice_says("ok", "已启动").await;
    let list = assert_ok(&server.get("/api/admin/campaigns?limit=50", Some(&admin)).await);
    let now = list["campaigns"].as_array().expect("campaigns").iter().find(|c| c["id"] == id).cloned();
    assert_eq!(now.map(|c| c["status"].clone()), Some(json!("active")));
    photograph(&b, "admin-campaigns").await;
    b.route(&format!("#/a/campaign/{id}"), "#odds-chart").await;
    b.find("#by-day-chart").await;
    // A new campaign's editor starts from the default wheel's eight sectors; saved, they are the
    // campaign's own (new ids), and the default wheel is untouched.
    b.text_contains("#prob-sum", "1.000000").await;
    b.click("#save-prizes").await;
    b.notice_says("ok", "奖项已保存").await;
    let own = assert_ok(&server.get(&format!("/api/admin/campaigns/{id}/prizes"), Some(&admin)).await);
    let default_wheel = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let ids = |w: &serde_json::Value| -> Vec<i64> {
        w["prizes"].as_array().map(|ps| ps.iter().filter_map(|p| p["id"].as_i64()).collect()).unwrap_or_default()
    };
    assert_eq!(ids(&own).len(), 8, "{own}");
    assert!(ids(&own).iter().all(|i| !ids(&default_wheel).contains(i)), "{own} / {default_wheel}");
    photograph(&b, "admin-campaign").await;

    // The default wheel: odds that do not sum to 1 are refused with the API's msg, and nothing
    // changes; odds that do are saved.
    let before = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let prizes = before["prizes"].as_array().expect("prizes").clone();
    let p0 = prizes[0]["probability"].as_f64().expect("p0");
    let p1 = prizes[1]["probability"].as_f64().expect("p1");
    b.route("#/a/wheel", "#prize-prob-0").await;
    b.text_contains("#prob-sum", "1.000000").await;
    b.fill("#prize-prob-0", &format!("{}", p0 + 0.1)).await;
    b.text_contains("#prob-sum", "须等于 1").await;
    let mut bad = prizes.clone();
    bad[0]["probability"] = json!(p0 + 0.1);
    let refusal = server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": bad })).await;
    assert_error(&refusal, 400, 1003);
    b.click("#save-prizes").await;
    b.notice_says("error", refusal.1["msg"].as_str().expect("msg")).await;
    photograph(&b, "admin-wheel").await;
    let after = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    assert_eq!(after["prizes"], before["prizes"], "a refused save changes nothing");
    b.fill("#prize-prob-0", &format!("{}", p0 + 0.05)).await;
    b.fill("#prize-prob-1", &format!("{}", p1 - 0.05)).await;
    b.text_contains("#prob-sum", "1.000000").await;
    b.click("#save-prizes").await;
    b.notice_says("ok", "奖项已保存").await;
    let saved = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let got = |i: usize| saved["prizes"][i]["probability"].as_f64().unwrap_or(f64::NAN);
    assert!((got(0) - (p0 + 0.05)).abs() < 1e-9 && (got(1) - (p1 - 0.05)).abs() < 1e-9, "{saved}");

    // Products: create, edit, restock (the customer's socket hears it), delist.
    b.route("#/a/products", "#product-form").await;
    b.fill("#p-name", "测试奶茶").await;
    b.fill("#p-category", "饮品").await;
    b.fill("#p-points", "300").await;
    b.fill("#p-stock", "5").await;
    b.click("#p-save").await;
    b.notice_says("ok", "已新增").await;
    let all = assert_ok(&server.get("/api/admin/products?limit=50", Some(&admin)).await);
    let product = all["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["name"] == "测试奶茶")
        .cloned()
        .unwrap_or_else(|| panic!("the new product in {all}"));
    let pid = int(&product, "id");
    assert_eq!((int(&product, "exchange_points"), int(&product, "stock")), (300, 5));
    b.click(&format!("#edit-{pid}")).await;
    b.fill("#p-name", "招牌奶茶").await;
    b.click("#p-save").await;
    b.notice_says("ok", "「招牌奶茶」已保存").await;
    socket.drain(Duration::from_millis(300)).await;
    b.fill(&format!("#restock-qty-{pid}"), "7").await;
    b.click(&format!("#restock-{pid}")).await;
    b.notice_says("ok", "库存 12").await;
    let mut heard = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    while heard.is_none() && tokio::time::Instant::now() < deadline {
        let Some(update) = socket.next_of("stock_update", WAIT).await else { break };
        // Creating and editing the product may have been announced too; the restock is the one.
        if update["data"]["product_id"] == pid && update["data"]["operation"] == "restock" {
            heard = Some(update);
        }
    }
    let update = heard.expect("the customer's socket got stock_update for the restock");
    assert_eq!(int(&update["data"], "stock"), 12, "{update}");
    photograph(&b, "admin-products").await;
    b.click(&format!("#delist-{pid}")).await;
    b.notice_says("ok", "已下架").await;
    let listed = assert_ok(&server.get("/api/exchange/products?limit=50", Some(&customer.token)).await);
    assert!(!listed["products"].as_array().expect("products").iter().any(|p| p["id"] == pid), "{listed}");

    // Users: adjust points, freeze some, make a merchant, ban.
    b.route("#/a/users", "#user-q").await;
    b.fill("#user-q", &customer.phone).await;
    b.click("#user-search").await;
    b.click(&format!("#manage-{}", customer.user_id)).await;
    b.fill("#adj-delta", "250").await;
    b.fill("#adj-reason", "活动补偿").await;
    b.click("#adj-submit").await;
    b.notice_says("ok", "余额 1250").await;
    assert_eq!(server.balance(&customer).await, 1250);
    let ledger = assert_ok(&server.get("/api/user/points-records?source=admin_adjust", Some(&customer.token)).await);
    assert_eq!(ledger["records"][0]["points"], json!(250), "{ledger}");
    b.fill("#freeze-points", "100").await;
    b.fill("#freeze-reason", "核查中").await;
    b.click("#freeze-submit").await;
    b.notice_says("ok", "冻结 100").await;
    let account = assert_ok(&server.get("/api/points/account", Some(&customer.token)).await);
    assert_eq!((int(&account, "available_points"), int(&account, "frozen_points")), (1150, 100), "{account}");
    b.fill("#freeze-points", "5000").await;
    b.fill("#freeze-reason", "x").await;
    b.click("#unfreeze-submit").await;
    let too_much = server
        .post(
            &format!("/api/admin/users/{}/unfreeze", customer.user_id),
            Some(&admin),
            json!({ "points": 5000, "reason": "x" }),
        )
        .await;
    b.notice_says("error", too_much.1["msg"].as_str().expect("msg")).await;
    b.click("#merchant-toggle").await;
    b.notice_says("ok", "已设为商家").await;
    photograph(&b, "admin-users").await;
    b.click("#ban-toggle").await;
    b.notice_says("ok", "已封禁").await;
    assert_error(&server.get("/api/user/info", Some(&customer.token)).await, 403, 2005);
    let found = assert_ok(&server.get(&format!("/api/admin/users?q={}", customer.phone), Some(&admin)).await);
    let row = &found["users"][0];
    assert_eq!((row["is_merchant"].as_bool(), row["is_banned"].as_bool()), (Some(true), Some(true)), "{found}");

    // Merchant applications.
    let app_id = int(&application, "application_id");
    b.route("#/a/applications", &format!("#application-{app_id}")).await;
    photograph(&b, "admin-applications").await;
    b.click(&format!("#app-approve-{app_id}")).await;
    b.notice_says("ok", "已通过").await;
    let who = assert_ok(&server.get("/api/user/info", Some(&applicant.token)).await);
    assert_eq!(who["is_merchant"], json!(true), "{who}");

    // Levels and task rewards.
    b.route("#/a/loyalty", "#levels-form").await;
    b.fill("#level-name-1", "银卡会员").await;
    b.click("#levels-save").await;
    b.notice_says("ok", "会员等级已保存").await;
    let levels = assert_ok(&server.get("/api/admin/levels", Some(&admin)).await);
    assert_eq!(levels["levels"][1]["name"], json!("银卡会员"), "{levels}");
    let tasks = assert_ok(&server.get("/api/admin/tasks", Some(&admin)).await);
    let task_id = int(&tasks["tasks"][0], "id");
    b.fill(&format!("#task-points-{task_id}"), "77").await;
    b.click(&format!("#task-save-{task_id}")).await;
    b.notice_says("ok", "奖励已保存").await;
    let tasks = assert_ok(&server.get("/api/admin/tasks", Some(&admin)).await);
    assert_eq!(tasks["tasks"][0]["points"], json!(77), "{tasks}");
    photograph(&b, "admin-loyalty").await;

    // The audit log shows what the page did.
    b.route("#/a/audit", "table").await;
    b.text_contains("main", "product.restock").await;
    photograph(&b, "admin-audit").await;

    // Analytics.
    b.route("#/a/analytics", "#flow-chart").await;
    b.find("#sources-chart").await;
    b.find("#campaign-by-day svg").await;
    photograph(&b, "admin-analytics").await;

    // Live figures over the WebSocket: a customer's socket is counted, and draws show up.
    let drawer = server.login(&phone(952, 3)).await;
    let _drawer_socket = server.ws(&drawer.token).await;
    b.route("#/a/live", "#live-dpm").await;
    b.text_contains("#ws-state", "已连接").await;
    // The first figures come with `connected`; a number, not the placeholder.
    let started = std::time::Instant::now();
    let sockets = loop {
        let text = b.find("#live-sockets").await.text().await.unwrap_or_default();
        if let Ok(n) = text.trim().parse::<i64>() {
            break n;
        }
        assert!(started.elapsed() < WAIT, "no live figures: `{text}`");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(sockets >= 1, "open sockets shown as {sockets}: the drawer's socket is open");
    assert_ok(&server.post("/api/lottery/draw", Some(&drawer.token), json!({ "draw_type": "triple" })).await);
    b.text_contains("#live-dpm", "3").await;
    b.text_contains("#live-since", "3").await;
    photograph(&b, "admin-live").await;

    b.close().await;
    server.assert_reconciled();
}

both_backends!(merchant_reviews_verifies_and_reads_statistics, admin_runs_the_promotion);
