//! The points shop as its three kinds of client see it, on both backends: the customer's
//! catalogue (every field, every filter, the 全部 tab, every whitelisted sort and its default
//! direction, pagination, bad parameters), redemptions through `/redeem` and `/submit` (points,
//! stock, sales and orders move together, refusals move nothing, an `Idempotency-Key` charges
//! once even across a SIGKILL), the merchant's code verification (exchange orders and wheel
//! prizes, exactly once, live role checks), the admin's product management with its audit trail,
//! the `stock_update` / `points_update` pushes, and the two invariants under load: 1,000
//! concurrent redemptions of 50 units sell exactly 50, and a SIGKILL in the middle of a burst
//! loses no acknowledged order. Every mutating test ends with `reconcile`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A form-encoded query string (category names are Chinese).
fn query_string(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("integer `{key}` in {v}"))
}

fn pts(p: &Value) -> i64 {
    int(p, "exchange_points")
}

fn stock(p: &Value) -> i64 {
    int(p, "stock")
}

/// An id that may be serialised as a number or a string (audit targets).
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn catalogue(server: &TestServer, c: &Customer, query: &str) -> Value {
    assert_ok(&server.get(&format!("/api/exchange/products?{query}"), Some(&c.token)).await)
}

fn list(data: &Value) -> Vec<Value> {
    data["products"].as_array().unwrap_or_else(|| panic!("products in {data}")).clone()
}

fn ids(products: &[Value]) -> Vec<i64> {
    products.iter().map(|p| int(p, "id")).collect()
}

/// The whole listed catalogue in one page.
async fn everything(server: &TestServer, c: &Customer) -> Vec<Value> {
    let data = catalogue(server, c, "limit=50").await;
    let products = list(&data);
    assert_eq!(data["pagination"]["total"].as_u64(), Some(products.len() as u64), "{data}");
    products
}

fn named(products: &[Value], name: &str) -> Value {
    products.iter().find(|p| p["name"] == name).cloned().unwrap_or_else(|| panic!("product {name} is listed"))
}

fn by_id(products: &[Value], id: i64) -> Option<Value> {
    products.iter().find(|p| p["id"] == id).cloned()
}

/// What a customer can see of the stock: id → (stock, sales_count).
async fn shelf(server: &TestServer, c: &Customer) -> BTreeMap<i64, (i64, i64)> {
    everything(server, c).await.iter().map(|p| (int(p, "id"), (stock(p), int(p, "sales_count")))).collect()
}

/// Every product must carry the contract's fields, with a status that follows the stock.
#[track_caller]
fn assert_product_shape(p: &Value) {
    for key in ["id", "exchange_points", "stock", "sales_count"] {
        assert!(p[key].is_i64(), "integer `{key}` in {p}");
    }
    for key in ["name", "description", "category", "image"] {
        assert!(p[key].is_string(), "string `{key}` in {p}");
    }
    assert!(p["is_hot"].is_boolean(), "boolean is_hot in {p}");
    assert!(p["rating"].is_number(), "numeric rating in {p}");
    let expected = if stock(p) > 0 { "available" } else { "sold_out" };
    assert_eq!(p["status"], expected, "status follows the stock: {p}");
}

async fn grant(server: &TestServer, admin: &str, c: &Customer, delta: i64) {
    assert_ok(
        &server
            .post(
                &format!("/api/admin/users/{}/points", c.user_id),
                Some(admin),
                json!({ "delta": delta, "reason": "shop test" }),
            )
            .await,
    );
}

async fn redeem(server: &TestServer, c: &Customer, body: Value) -> (StatusCode, Value) {
    server.post("/api/exchange/redeem", Some(&c.token), body).await
}

async fn redeem_with_key(server: &TestServer, c: &Customer, key: &str, body: Value) -> (StatusCode, Value) {
    server
        .call_with(Method::POST, "/api/exchange/redeem", Some(&c.token), Some(body), &[("Idempotency-Key", key)])
        .await
}

async fn orders(server: &TestServer, c: &Customer, query: &str) -> Value {
    assert_ok(&server.get(&format!("/api/exchange/orders?{query}"), Some(&c.token)).await)
}

fn order_list(data: &Value) -> Vec<Value> {
    data["orders"].as_array().unwrap_or_else(|| panic!("orders in {data}")).clone()
}

/// Every order of the customer, across pages; asserts none is listed twice.
async fn all_orders(server: &TestServer, c: &Customer) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for page in 1..=100 {
        let data = orders(server, c, &format!("limit=50&page={page}")).await;
        let rows = order_list(&data);
        for o in &rows {
            assert!(seen.insert(int(o, "order_id")), "order listed twice: {o}");
        }
        out.extend(rows.iter().cloned());
        if rows.len() < 50 {
            return out;
        }
    }
    panic!("more than 5000 orders")
}

async fn exchange_records(server: &TestServer, c: &Customer) -> Vec<Value> {
    let data = assert_ok(&server.get("/api/user/points-records?source=exchange&limit=50", Some(&c.token)).await);
    data["records"].as_array().expect("records").clone()
}

async fn create_product(server: &TestServer, admin: &str, body: Value) -> Value {
    assert_ok(&server.post("/api/admin/products", Some(admin), body).await)
}

fn new_product(name: &str, category: &str, points: i64, stock: i64, sort_order: i64) -> Value {
    json!({
        "name": name,
        "description": format!("{name} 的描述"),
        "category": category,
        "exchange_points": points,
        "stock": stock,
        "image": "https://img.example.com/p.png",
        "is_hot": false,
        "sort_order": sort_order,
    })
}

async fn delist(server: &TestServer, admin: &str, id: i64) -> (StatusCode, Value) {
    server.call(Method::DELETE, &format!("/api/admin/products/{id}"), Some(admin), None).await
}

async fn categories(server: &TestServer) -> HashMap<String, i64> {
    let data = assert_ok(&server.get("/api/exchange/categories", None).await);
    data["categories"]
        .as_array()
        .unwrap_or_else(|| panic!("categories in {data}"))
        .iter()
        .map(|c| (c["name"].as_str().expect("name").to_string(), c["count"].as_i64().expect("count")))
        .collect()
}

async fn set_merchant(server: &TestServer, admin: &str, c: &Customer, on: bool) {
    assert_ok(
        &server
            .post(&format!("/api/admin/users/{}/merchant", c.user_id), Some(admin), json!({ "is_merchant": on }))
            .await,
    );
}

async fn verify(server: &TestServer, merchant: &Customer, code: &str) -> (StatusCode, Value) {
    server.post("/api/merchant/orders/verify", Some(&merchant.token), json!({ "exchange_code": code })).await
}

/// Reads socket messages until `done(&seen)` holds or `timeout` passes; returns all it read.
async fn read_until(ws: &mut WsClient, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            WsEvent::Json(v) => seen.push(v),
            _ => break,
        }
    }
    seen
}

fn is_stock_update(m: &Value, product_id: i64, operation: &str) -> bool {
    m["type"] == "stock_update" && m["data"]["product_id"] == product_id && m["data"]["operation"] == operation
}

/// Waits for the `stock_update` of `product_id` with `operation` and returns its data.
async fn expect_stock_update(ws: &mut WsClient, who: &str, product_id: i64, operation: &str) -> (Value, Vec<Value>) {
    let seen = read_until(ws, WAIT, |s| s.iter().any(|m| is_stock_update(m, product_id, operation))).await;
    let msg = seen
        .iter()
        .find(|m| is_stock_update(m, product_id, operation))
        .cloned()
        .unwrap_or_else(|| panic!("{who}: no stock_update {operation} for {product_id}; got {seen:?}"));
    assert!(msg["timestamp"].is_string() && !msg["message_id"].is_null(), "envelope of {msg}");
    (msg["data"].clone(), seen)
}

// ---------------------------------------------------------------------------------------------
// Catalogue
// ---------------------------------------------------------------------------------------------

/// The demo catalogue carries every contract field, each filter returns exactly the products it
/// describes, categories are open to anyone and add up, hot products come first, and the
/// customer-only endpoints refuse a missing token.
async fn the_catalogue_shows_every_field_and_each_filter_returns_exactly_its_matches(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(60, 1)).await;
    grant(&server, &admin, &c, 5000).await;

    let demo = everything(&server, &c).await;
    assert_eq!(demo.len(), 10, "the demo shop has ten products");
    // Sell out the one-unit voucher so both stock statuses exist.
    let voucher = named(&demo, "50元代金券");
    assert_eq!(stock(&voucher), 1);
    assert_ok(&redeem(&server, &c, json!({ "product_id": voucher["id"], "quantity": 1 })).await);

    let all = everything(&server, &c).await;
    for p in &all {
        assert_product_shape(p);
    }
    let sold_out = named(&all, "50元代金券");
    assert_eq!((stock(&sold_out), sold_out["status"].clone()), (0, json!("sold_out")));
    assert_eq!(named(&all, "柠檬茶")["status"], "available");

    type Filter = (&'static str, fn(&Value) -> bool);
    let filters: [Filter; 6] = [
        ("min_points=400", |p| pts(p) >= 400),
        ("max_points=400", |p| pts(p) <= 400),
        ("min_points=400&max_points=800", |p| (400..=800).contains(&pts(p))),
        ("stock_status=in_stock", |p| stock(p) > 0),
        ("stock_status=out_of_stock", |p| stock(p) == 0),
        ("stock_status=in_stock&max_points=300", |p| stock(p) > 0 && pts(p) <= 300),
    ];
    for (query, keep) in filters {
        let expected: HashSet<i64> = all.iter().filter(|p| keep(p)).map(|p| int(p, "id")).collect();
        assert!(!expected.is_empty() && expected.len() < all.len(), "{query} must really filter");
        let data = catalogue(&server, &c, &format!("{query}&limit=50")).await;
        let got: HashSet<i64> = ids(&list(&data)).into_iter().collect();
        assert_eq!(got, expected, "{query}");
        assert_eq!(data["pagination"]["total"].as_u64(), Some(expected.len() as u64), "{query}");
    }

    // Categories: no token needed; names and counts match the listed products.
    let cats = categories(&server).await;
    let mut grouped: HashMap<String, i64> = HashMap::new();
    for p in &all {
        *grouped.entry(p["category"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(cats, grouped);
    let names: HashSet<&str> = cats.keys().map(String::as_str).collect();
    assert_eq!(names, HashSet::from(["饮品", "小吃", "代金券"]));
    for name in cats.keys() {
        let data = catalogue(&server, &c, &query_string(&[("category", name.as_str()), ("limit", "50")])).await;
        let got: HashSet<i64> = ids(&list(&data)).into_iter().collect();
        let expected: HashSet<i64> =
            all.iter().filter(|p| p["category"] == name.as_str()).map(|p| int(p, "id")).collect();
        assert_eq!(got, expected, "category {name}");
    }
    let data = catalogue(&server, &c, &query_string(&[("category", "饮品"), ("min_points", "400")])).await;
    let got: HashSet<i64> = ids(&list(&data)).into_iter().collect();
    let expected: HashSet<i64> =
        all.iter().filter(|p| p["category"] == "饮品" && pts(p) >= 400).map(|p| int(p, "id")).collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "category and min_points together");

    // Hot products: catalogue products, the hot ones first.
    let hot = list(&assert_ok(&server.get("/api/exchange/hot-products", Some(&c.token)).await));
    assert!(!hot.is_empty());
    let flags: Vec<bool> = hot.iter().map(|p| p["is_hot"].as_bool().expect("is_hot")).collect();
    let hot_in_catalogue = all.iter().filter(|p| p["is_hot"] == true).count();
    assert!(hot_in_catalogue > 0);
    let leading = flags.iter().take_while(|h| **h).count();
    assert_eq!(leading, hot_in_catalogue.min(hot.len()), "hot products first: {flags:?}");
    assert!(flags[leading..].iter().all(|h| !h), "no hot product after a plain one: {flags:?}");
    for p in &hot {
        assert_product_shape(p);
        assert!(by_id(&all, int(p, "id")).is_some(), "hot product {p} is in the catalogue");
    }

    // Without a token.
    for path in ["/api/exchange/products", "/api/exchange/hot-products", "/api/exchange/orders"] {
        assert_error(&server.get(path, None).await, 401, 2001);
    }
    assert_error(
        &server.post("/api/exchange/redeem", None, json!({ "product_id": voucher["id"], "quantity": 1 })).await,
        401,
        2001,
    );
    server.assert_reconciled();
}

/// Each whitelisted sort column orders the catalogue both ways, pages cover the catalogue once
/// with a correct `pagination` object, and bad parameters are 1003 rather than ignored.
async fn sorting_follows_each_whitelisted_column_and_pages_cover_the_catalogue_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(61, 1)).await;
    grant(&server, &admin, &c, 5000).await;

    // Four products whose four sort keys each give a different order.
    let cat = "排序测试";
    let mut made = HashMap::new();
    for (name, sort_order, points) in [("A", 3, 200), ("B", 1, 500), ("C", 2, 100), ("D", 4, 300)] {
        let p = create_product(&server, &admin, new_product(name, cat, points, 50, sort_order)).await;
        made.insert(name, int(&p, "id"));
        tokio::time::sleep(Duration::from_millis(30)).await; // distinct creation times
    }
    for (name, quantity) in [("A", 2), ("C", 5), ("D", 1)] {
        assert_ok(&redeem(&server, &c, json!({ "product_id": made[name], "quantity": quantity })).await);
    }
    let cases = [
        ("sort_order", "ASC", ["B", "C", "A", "D"]),
        ("sort_order", "DESC", ["D", "A", "C", "B"]),
        ("exchange_points", "ASC", ["C", "A", "D", "B"]),
        ("exchange_points", "DESC", ["B", "D", "A", "C"]),
        ("sales_count", "ASC", ["B", "D", "A", "C"]),
        ("sales_count", "DESC", ["C", "A", "D", "B"]),
        ("created_at", "ASC", ["A", "B", "C", "D"]),
        ("created_at", "DESC", ["D", "C", "B", "A"]),
    ];
    for (sort_by, dir, expected) in cases {
        let data =
            catalogue(&server, &c, &query_string(&[("category", cat), ("sort_by", sort_by), ("sort_order", dir)]))
                .await;
        let names: Vec<String> = list(&data).iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, expected, "sort_by={sort_by} sort_order={dir}");
    }
    // Over the whole catalogue the visible keys are monotone too.
    for (sort_by, key) in [("exchange_points", "exchange_points"), ("sales_count", "sales_count")] {
        for dir in ["ASC", "DESC"] {
            let all = list(&catalogue(&server, &c, &format!("sort_by={sort_by}&sort_order={dir}&limit=50")).await);
            assert_eq!(all.len(), 14);
            let values: Vec<i64> = all.iter().map(|p| int(p, key)).collect();
            let ordered = values.windows(2).all(|w| if dir == "ASC" { w[0] <= w[1] } else { w[0] >= w[1] });
            assert!(ordered, "{sort_by} {dir}: {values:?}");
        }
    }

    // Pagination: 14 products in pages of 4, each page's object right, nothing lost or repeated,
    // and the pages of a sorted list concatenate to the one-page list.
    let whole = ids(&list(&catalogue(&server, &c, "sort_by=exchange_points&sort_order=DESC&limit=50").await));
    let mut paged = Vec::new();
    for page in 1..=4 {
        let data =
            catalogue(&server, &c, &format!("sort_by=exchange_points&sort_order=DESC&limit=4&page={page}")).await;
        assert_eq!(data["pagination"], json!({ "total": 14, "page": page, "limit": 4, "total_pages": 4 }));
        let rows = list(&data);
        assert_eq!(rows.len(), if page < 4 { 4 } else { 2 }, "page {page}");
        paged.extend(ids(&rows));
    }
    assert_eq!(paged, whole);
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 14);
    let beyond = catalogue(&server, &c, "limit=4&page=5").await;
    assert!(list(&beyond).is_empty());
    assert_eq!(beyond["pagination"]["total"], 14);
    let default = catalogue(&server, &c, "").await;
    assert_eq!(default["pagination"], json!({ "total": 14, "page": 1, "limit": 20, "total_pages": 1 }));

    for query in [
        "sort_by=name",
        "sort_by=id%3Bdrop",
        "sort_by=id%3B%20DROP%20TABLE%20products",
        "sort_by=stock",
        "sort_order=sideways",
        "sort_by=exchange_points&sort_order=UP",
        "page=0",
        "page=-1",
        "page=abc",
        "limit=0",
        "limit=51",
        "limit=abc",
        "min_points=-1",
        "max_points=-5",
        "min_points=abc",
        "stock_status=some",
    ] {
        assert_error(&server.get(&format!("/api/exchange/products?{query}"), Some(&c.token)).await, 400, 1003);
    }
    // Still all there after the injection attempts.
    assert_eq!(everything(&server, &c).await.len(), 14);
    server.assert_reconciled();
}

/// What the mini-program relies on when it sends no more than it must: its first tab, 全部,
/// lists every category (as an empty or absent category does), and a sort key without a
/// direction sorts the way a customer reads it: best sellers and newest first, cheapest first.
async fn the_all_tab_lists_every_category_and_each_sort_key_has_its_natural_direction(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(80, 1)).await;
    grant(&server, &admin, &c, 5000).await;

    // 全部, an empty category and none at all: the same products in the same order.
    let all = everything(&server, &c).await;
    assert_eq!(all.len(), 10, "the demo shop has ten products");
    for query in [query_string(&[("category", "全部"), ("limit", "50")]), "category=&limit=50".to_string()] {
        let data = catalogue(&server, &c, &query).await;
        assert_eq!(ids(&list(&data)), ids(&all), "{query} lists every category");
        assert_eq!(data["pagination"]["total"], 10, "{query}");
    }
    let cheap_all = catalogue(&server, &c, &query_string(&[("category", "全部"), ("max_points", "400")])).await;
    let cheap = catalogue(&server, &c, "max_points=400").await;
    assert!(!list(&cheap).is_empty());
    assert_eq!(ids(&list(&cheap_all)), ids(&list(&cheap)), "全部 combines with the other filters");
    let drinks = list(&catalogue(&server, &c, &query_string(&[("category", "饮品"), ("limit", "50")])).await);
    assert!(!drinks.is_empty() && drinks.len() < all.len() && drinks.iter().all(|p| p["category"] == "饮品"));

    // Best sellers first when sorting by sales without a direction.
    for (name, quantity) in [("蛋挞", 3), ("薯条", 2), ("柠檬茶", 1)] {
        let id = named(&all, name)["id"].clone();
        assert_ok(&redeem(&server, &c, json!({ "product_id": id, "quantity": quantity })).await);
    }
    let best = list(&catalogue(&server, &c, "sort_by=sales_count&limit=50").await);
    let names: Vec<&str> = best.iter().take(3).map(|p| p["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["蛋挞", "薯条", "柠檬茶"], "best sellers first");
    let sales: Vec<i64> = best.iter().map(|p| int(p, "sales_count")).collect();
    assert!(sales.windows(2).all(|w| w[0] >= w[1]), "sales_count descending: {sales:?}");

    // The newest product first when sorting by creation time without a direction.
    let newest = create_product(&server, &admin, new_product("新到奶盖", "饮品", 600, 10, 20)).await;
    let recent = list(&catalogue(&server, &c, "sort_by=created_at&limit=1").await);
    assert_eq!(ids(&recent), [int(&newest, "id")], "newest first");

    // The cheapest first by price, and the shop's own order by default.
    let by_price: Vec<i64> =
        list(&catalogue(&server, &c, "sort_by=exchange_points&limit=50").await).iter().map(pts).collect();
    assert_eq!(by_price.len(), 11);
    assert!(by_price.windows(2).all(|w| w[0] <= w[1]), "exchange_points ascending: {by_price:?}");
    let shop_order: Vec<i64> = everything(&server, &c).await.iter().map(|p| int(p, "sort_order")).collect();
    assert!(shop_order.windows(2).all(|w| w[0] <= w[1]), "sort_order ascending: {shop_order:?}");
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Redemptions
// ---------------------------------------------------------------------------------------------

/// `/redeem` and `/submit`, by `product_id` and by `commodity_id` (number or numeric string):
/// each answer is the contract's, the balance drops by price × quantity with an `exchange` ledger
/// row, stock and sales move, and the orders list shows them with status filter and pages.
async fn redeeming_by_product_or_commodity_id_debits_points_moves_stock_and_lists_the_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(62, 1)).await;
    grant(&server, &admin, &c, 5000).await;
    assert_eq!(server.balance(&c).await, 6000);
    let before = everything(&server, &c).await;
    let lemon = named(&before, "柠檬茶");
    let fries = named(&before, "薯条");
    let tart = named(&before, "蛋挞");

    let attempts = [
        (
            "/api/exchange/redeem",
            json!({ "product_id": lemon["id"], "quantity": 2, "delivery_info": { "table": "A3", "note": "少冰" } }),
            &lemon,
            2,
        ),
        ("/api/exchange/submit", json!({ "commodity_id": fries["id"], "quantity": 1 }), &fries, 1),
        (
            "/api/exchange/submit",
            json!({ "commodity_id": int(&tart, "id").to_string(), "quantity": 3, "delivery_info": { "table": "B1" } }),
            &tart,
            3,
        ),
    ];
    let mut balance = 6000;
    let mut placed = Vec::new();
    for (path, body, product, quantity) in attempts {
        let data = assert_ok(&server.post(path, Some(&c.token), body.clone()).await);
        let cost = pts(product) * quantity;
        balance -= cost;
        assert!(data["order_id"].is_i64(), "{data}");
        assert!(data["exchange_code"].as_str().is_some_and(|s| !s.is_empty()), "{data}");
        assert_eq!(data["product_name"], product["name"], "{path} {body}");
        assert_eq!(data["quantity"], quantity);
        assert_eq!(data["points_cost"], cost);
        assert_eq!(data["remaining_points"], balance);
        assert_eq!(data["status"], "pending");
        assert_eq!(server.balance(&c).await, balance, "after {path}");
        placed.push(data);
    }
    assert_eq!(balance, 6000 - 600 - 250 - 900);
    let codes: HashSet<&str> = placed.iter().map(|o| o["exchange_code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 3, "every order has its own code");

    // One `exchange` ledger row per order, with the debit and the balance after it.
    let rows = exchange_records(&server, &c).await;
    let mut got: Vec<(i64, i64)> = rows.iter().map(|r| (int(r, "points"), int(r, "balance_after"))).collect();
    got.sort_unstable();
    assert_eq!(got, vec![(-900, 4250), (-600, 5400), (-250, 5150)]);
    assert!(rows.iter().all(|r| r["source"] == "exchange"));

    // Stock and sales moved by the quantities, nothing else did.
    let after = everything(&server, &c).await;
    for p in &before {
        let now = by_id(&after, int(p, "id")).expect("still listed");
        let sold =
            [(&lemon, 2), (&fries, 1), (&tart, 3)].iter().find(|(x, _)| x["id"] == p["id"]).map_or(0, |(_, q)| *q);
        assert_eq!(stock(&now), stock(p) - sold, "stock of {}", p["name"]);
        assert_eq!(int(&now, "sales_count"), int(p, "sales_count") + sold, "sales of {}", p["name"]);
    }

    // The orders list: all three pending, filters and pages.
    let listed = orders(&server, &c, "").await;
    assert_eq!(listed["pagination"]["total"], 3);
    let by_order: HashMap<i64, Value> = order_list(&listed).into_iter().map(|o| (int(&o, "order_id"), o)).collect();
    for p in &placed {
        let o = by_order.get(&int(p, "order_id")).unwrap_or_else(|| panic!("order {p} is listed"));
        assert_eq!(o["exchange_code"], p["exchange_code"]);
        assert_eq!(o["product_name"], p["product_name"]);
        assert_eq!(o["quantity"], p["quantity"]);
        assert_eq!(o["points_cost"], p["points_cost"]);
        assert_eq!(o["status"], "pending");
    }
    assert_eq!(orders(&server, &c, "status=pending").await["pagination"]["total"], 3);
    let completed = orders(&server, &c, "status=completed").await;
    assert_eq!(completed["pagination"]["total"], 0);
    assert!(order_list(&completed).is_empty());
    let mut paged = HashSet::new();
    for page in 1..=2 {
        let data = orders(&server, &c, &format!("limit=2&page={page}")).await;
        assert_eq!(data["pagination"], json!({ "total": 3, "page": page, "limit": 2, "total_pages": 2 }));
        let rows = order_list(&data);
        assert_eq!(rows.len(), if page == 1 { 2 } else { 1 });
        paged.extend(rows.iter().map(|o| int(o, "order_id")));
    }
    assert_eq!(paged, by_order.keys().copied().collect());
    for query in ["page=0", "limit=51", "limit=abc"] {
        assert_error(&server.get(&format!("/api/exchange/orders?{query}"), Some(&c.token)).await, 400, 1003);
    }
    server.assert_reconciled();
}

/// Unknown and delisted products (4001), too little stock (4002 with available/requested), too
/// few points (4003 with required/current) and malformed bodies (1003) leave balances, stock,
/// orders and the ledger exactly as they were.
async fn refused_redemptions_change_no_balance_stock_order_or_ledger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let rich = server.login(&phone(63, 1)).await;
    let poor = server.login(&phone(63, 2)).await;
    grant(&server, &admin, &rich, 10_000).await;
    let demo = everything(&server, &rich).await;
    let tart = int(&named(&demo, "蛋挞"), "id");
    let orange = named(&demo, "鲜榨橙汁");
    let v20 = named(&demo, "20元代金券");
    let lemon = named(&demo, "柠檬茶");
    assert_eq!((stock(&orange), pts(&v20), pts(&lemon)), (8, 1500, 300));
    assert_ok(&delist(&server, &admin, tart).await);

    let shelf_before = shelf(&server, &rich).await;
    assert!(!shelf_before.contains_key(&tart));

    let refusals: Vec<(&Customer, &str, Value, u16, i64, Value)> = vec![
        (&rich, "/api/exchange/redeem", json!({ "product_id": 999_999, "quantity": 1 }), 404, 4001, Value::Null),
        (&rich, "/api/exchange/submit", json!({ "commodity_id": 999_999, "quantity": 1 }), 404, 4001, Value::Null),
        (&rich, "/api/exchange/redeem", json!({ "product_id": tart, "quantity": 1 }), 404, 4001, Value::Null),
        (
            &rich,
            "/api/exchange/redeem",
            json!({ "product_id": orange["id"], "quantity": 9 }),
            409,
            4002,
            json!({ "available": 8, "requested": 9 }),
        ),
        (
            &poor,
            "/api/exchange/redeem",
            json!({ "product_id": v20["id"], "quantity": 1 }),
            409,
            4003,
            json!({ "required": 1500, "current": 1000 }),
        ),
        (
            &poor,
            "/api/exchange/submit",
            json!({ "commodity_id": lemon["id"], "quantity": 4 }),
            409,
            4003,
            json!({ "required": 1200, "current": 1000 }),
        ),
        (&rich, "/api/exchange/redeem", json!({ "product_id": lemon["id"], "quantity": 0 }), 400, 1003, Value::Null),
        (&rich, "/api/exchange/redeem", json!({ "product_id": lemon["id"], "quantity": -1 }), 400, 1003, Value::Null),
        (
            &rich,
            "/api/exchange/redeem",
            json!({ "product_id": lemon["id"], "quantity": "abc" }),
            400,
            1003,
            Value::Null,
        ),
        (&rich, "/api/exchange/redeem", json!({ "quantity": 1 }), 400, 1003, Value::Null),
        (&rich, "/api/exchange/redeem", json!({ "product_id": "abc", "quantity": 1 }), 400, 1003, Value::Null),
    ];
    for (c, path, body, status, code, data) in refusals {
        let got = server.post(path, Some(&c.token), body.clone()).await;
        assert_error(&got, status, code);
        if !data.is_null() {
            assert_eq!(got.1["data"], data, "{path} {body}");
        }
    }

    assert_eq!(server.balance(&rich).await, 11_000);
    assert_eq!(server.balance(&poor).await, 1000);
    assert_eq!(shelf(&server, &rich).await, shelf_before, "no stock or sales moved");
    for c in [&rich, &poor] {
        assert_eq!(orders(&server, c, "").await["pagination"]["total"], 0);
        assert!(exchange_records(&server, c).await.is_empty(), "no exchange ledger row");
    }
    server.assert_reconciled();
}

/// Asking for more units than are left is "库存不足" (4002 with available/requested) however
/// many units are asked for: the contract bounds `quantity` only from below.
async fn asking_for_more_units_than_the_stock_is_4002_whatever_the_quantity(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(63, 10)).await;
    let pid = int(&create_product(&server, &admin, new_product("散装糖果", "散装", 1, 120, 0)).await, "id");
    let got = redeem(&server, &c, json!({ "product_id": pid, "quantity": 121 })).await;
    assert_error(&got, 409, 4002);
    assert_eq!(got.1["data"], json!({ "available": 120, "requested": 121 }));
    assert_eq!(server.balance(&c).await, 1000);
    assert_eq!(stock(&by_id(&everything(&server, &c).await, pid).expect("listed")), 120);
    // And a quantity the stock can supply is sold.
    let data = assert_ok(&redeem(&server, &c, json!({ "product_id": pid, "quantity": 120 })).await);
    assert_eq!((data["points_cost"].clone(), data["remaining_points"].clone()), (json!(120), json!(880)));
    server.assert_reconciled();
}

/// A repeated `Idempotency-Key` answers the same order and code and charges once — sequentially,
/// concurrently and after a SIGKILL and restart; a new key is a new order.
async fn a_repeated_idempotency_key_returns_the_same_order_and_charges_once_even_after_a_crash(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = server.login(&phone(64, 1)).await;
    let lemon = named(&everything(&server, &c).await, "柠檬茶");
    let (lemon_id, lemon_stock) = (int(&lemon, "id"), stock(&lemon));
    let body = json!({ "product_id": lemon_id, "quantity": 1 });

    let first = assert_ok(&redeem_with_key(&server, &c, "shop-key-1", body.clone()).await);
    assert_eq!(first["remaining_points"], 700);
    let again = assert_ok(&redeem_with_key(&server, &c, "shop-key-1", body.clone()).await);
    assert_eq!((&again["order_id"], &again["exchange_code"]), (&first["order_id"], &first["exchange_code"]));
    assert_eq!(again["remaining_points"], 700);
    assert_eq!(server.balance(&c).await, 700);
    assert_eq!(stock(&named(&everything(&server, &c).await, "柠檬茶")), lemon_stock - 1);
    assert_eq!(orders(&server, &c, "").await["pagination"]["total"], 1);

    // The same new key five times at once: one order, the others replay it or are told it is
    // still in flight (9005).
    let shared = Arc::new(server);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (s, c, body) = (shared.clone(), c.clone(), body.clone());
        tasks.push(tokio::spawn(async move { redeem_with_key(&s, &c, "shop-key-2", body).await }));
    }
    let mut second_ids = HashSet::new();
    for t in tasks {
        let got = t.await.expect("task");
        match got.1["code"].as_i64() {
            Some(0) => {
                second_ids.insert(int(&got.1["data"], "order_id"));
            }
            Some(9005) => assert_error(&got, 409, 9005),
            _ => panic!("unexpected answer {got:?}"),
        }
    }
    let mut server = Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("server still shared"));
    assert_eq!(second_ids.len(), 1, "one order for one key");
    assert_eq!(server.balance(&c).await, 400);
    assert_eq!(orders(&server, &c, "").await["pagination"]["total"], 2);

    server.kill9();
    server.start_again().await;
    let c = server.login(&c.phone).await;
    let replay = assert_ok(&redeem_with_key(&server, &c, "shop-key-1", body.clone()).await);
    assert_eq!((&replay["order_id"], &replay["exchange_code"]), (&first["order_id"], &first["exchange_code"]));
    assert_eq!(server.balance(&c).await, 400, "the replay after the restart charges nothing");
    assert_eq!(stock(&named(&everything(&server, &c).await, "柠檬茶")), lemon_stock - 2);
    assert_eq!(orders(&server, &c, "").await["pagination"]["total"], 2);
    assert_eq!(exchange_records(&server, &c).await.len(), 2);

    let fresh = assert_ok(&redeem_with_key(&server, &c, "shop-key-3", body).await);
    assert!(fresh["order_id"] != first["order_id"] && !second_ids.contains(&int(&fresh, "order_id")));
    assert_eq!(fresh["remaining_points"], 100);
    assert_eq!(server.balance(&c).await, 100);
    assert_eq!(stock(&named(&everything(&server, &c).await, "柠檬茶")), lemon_stock - 3);
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Merchant verification
// ---------------------------------------------------------------------------------------------

/// A merchant completes an exchange order and uses a wheel prize by their codes, each exactly
/// once; unknown codes are 4004; a customer without the role, or a merchant whose role was just
/// revoked, gets 2003 and the code stays usable.
async fn merchants_verify_order_and_prize_codes_exactly_once_and_need_a_live_role(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let customer = server.login(&phone(65, 1)).await;
    let merchant = server.login(&phone(65, 2)).await;
    set_merchant(&server, &admin, &merchant, true).await;
    let demo = everything(&server, &customer).await;

    let order = assert_ok(
        &redeem(&server, &customer, json!({ "product_id": named(&demo, "柠檬茶")["id"], "quantity": 1 })).await,
    );
    let code = order["exchange_code"].as_str().unwrap().to_string();

    // A customer without the role cannot verify, not even their own code.
    assert_error(&verify(&server, &customer, &code).await, 403, 2003);
    assert_eq!(orders(&server, &customer, "status=pending").await["pagination"]["total"], 1);

    let done = assert_ok(&verify(&server, &merchant, &code).await);
    assert_eq!(done["status"], "completed", "{done}");
    let completed = orders(&server, &customer, "status=completed").await;
    assert_eq!(ids_of_orders(&completed), vec![int(&order, "order_id")]);
    assert_eq!(order_list(&completed)[0]["status"], "completed");
    assert_eq!(orders(&server, &customer, "status=pending").await["pagination"]["total"], 0);
    assert_error(&verify(&server, &merchant, &code).await, 409, 4005);
    assert_error(&verify(&server, &merchant, "ZZZZ9999QQ").await, 404, 4004);

    // Eight scans of one code at the same moment: exactly one completes the order.
    let raced = assert_ok(
        &redeem(&server, &customer, json!({ "product_id": named(&demo, "蛋挞")["id"], "quantity": 1 })).await,
    );
    let raced_code = raced["exchange_code"].as_str().unwrap().to_string();
    let scans = futures_util::future::join_all((0..8).map(|_| verify(&server, &merchant, &raced_code))).await;
    let accepted = scans.iter().filter(|got| got.1["code"] == 0).count();
    for got in scans.iter().filter(|got| got.1["code"] != 0) {
        assert_error(got, 409, 4005);
    }
    assert_eq!(accepted, 1, "{scans:?}");
    assert_eq!(orders(&server, &customer, "status=completed").await["pagination"]["total"], 2);

    // A wheel prize: all the odds on 九八折券, one draw, its redemption code from my-prizes.
    let wheel = assert_ok(&server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    let mut prizes = wheel["prizes"].as_array().expect("prizes").clone();
    for p in &mut prizes {
        p["probability"] = json!(if p["name"] == "九八折券" { 1.0 } else { 0.0 });
    }
    assert_ok(&server.put("/api/admin/lottery/prizes", Some(&admin), json!({ "prizes": prizes })).await);
    let drawn =
        assert_ok(&server.post("/api/lottery/draw", Some(&customer.token), json!({ "draw_type": "single" })).await);
    let result = &drawn["results"][0];
    assert_eq!(result["prize_name"], "九八折券");
    let draw_id = int(result, "draw_id");
    let prize_entry = |data: &Value| {
        data["prizes"]
            .as_array()
            .expect("prizes")
            .iter()
            .find(|p| p["draw_id"] == draw_id)
            .cloned()
            .expect("won prize listed")
    };
    let mine = prize_entry(&assert_ok(&server.get("/api/lottery/my-prizes", Some(&customer.token)).await));
    assert_eq!(mine["status"], "unused");
    let prize_code = mine["redemption_code"].as_str().expect("redemption_code").to_string();
    assert_error(&verify(&server, &customer, &prize_code).await, 403, 2003);
    assert_ok(&verify(&server, &merchant, &prize_code).await);
    let mine = prize_entry(&assert_ok(&server.get("/api/lottery/my-prizes", Some(&customer.token)).await));
    assert_eq!(mine["status"], "used");
    assert_error(&verify(&server, &merchant, &prize_code).await, 409, 4005);

    // The role is checked live: revoked, the same token is refused at once.
    let second = assert_ok(
        &redeem(&server, &customer, json!({ "product_id": named(&demo, "薯条")["id"], "quantity": 1 })).await,
    );
    set_merchant(&server, &admin, &merchant, false).await;
    assert_error(&verify(&server, &merchant, second["exchange_code"].as_str().unwrap()).await, 403, 2003);
    let pending = orders(&server, &customer, "status=pending").await;
    assert_eq!(ids_of_orders(&pending), vec![int(&second, "order_id")], "the refused code is still usable");
    server.assert_reconciled();
}

fn ids_of_orders(data: &Value) -> Vec<i64> {
    order_list(data).iter().map(|o| int(o, "order_id")).collect()
}

// ---------------------------------------------------------------------------------------------
// Admin products
// ---------------------------------------------------------------------------------------------

/// An admin creates, edits, restocks and delists products; each change is what the catalogue
/// and categories then show, invalid input is 1003 and changes nothing, unknown ids are 4001, a
/// customer token is 2004, and every mutation is in the audit log.
async fn admins_create_edit_restock_and_delist_products_with_an_audit_trail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let c = server.login(&phone(66, 1)).await;
    let cats_before = categories(&server).await;
    assert!(!cats_before.contains_key("新品"));

    let input = json!({
        "name": "招牌套餐",
        "description": "汉堡薯条可乐",
        "category": "新品",
        "exchange_points": 120,
        "stock": 7,
        "image": "https://img.example.com/set.png",
        "is_hot": true,
        "sort_order": 11,
    });
    let created = create_product(&server, &admin, input.clone()).await;
    let id = int(&created, "id");
    for key in ["name", "description", "category", "exchange_points", "stock", "image", "is_hot"] {
        assert_eq!(created[key], input[key], "{key} in {created}");
    }
    let listed = list(&catalogue(&server, &c, &query_string(&[("category", "新品")])).await);
    assert_eq!(ids(&listed), vec![id]);
    assert_product_shape(&listed[0]);
    for key in ["name", "description", "category", "exchange_points", "stock", "image", "is_hot"] {
        assert_eq!(listed[0][key], input[key], "{key} in the catalogue");
    }
    assert_eq!((listed[0]["sales_count"].clone(), listed[0]["status"].clone()), (json!(0), json!("available")));
    assert_eq!(categories(&server).await.get("新品"), Some(&1));
    assert_eq!(everything(&server, &c).await.len(), 11);

    // Invalid products are refused and nothing is created.
    let mut invalid = Vec::new();
    for field in ["name", "category", "exchange_points", "stock"] {
        let mut body = input.clone();
        body.as_object_mut().unwrap().remove(field);
        invalid.push(body);
    }
    for (field, value) in [
        ("exchange_points", json!(0)),
        ("exchange_points", json!(-5)),
        ("stock", json!(-1)),
        ("name", json!("餐".repeat(65))),
        ("name", json!("")),
        ("exchange_points", json!("abc")),
    ] {
        let mut body = input.clone();
        body[field] = value;
        invalid.push(body);
    }
    for body in invalid {
        assert_error(&server.post("/api/admin/products", Some(&admin), body.clone()).await, 400, 1003);
    }
    assert_eq!(everything(&server, &c).await.len(), 11, "no invalid product was created");

    // Partial update: only the price changes.
    let updated = assert_ok(
        &server.put(&format!("/api/admin/products/{id}"), Some(&admin), json!({ "exchange_points": 150 })).await,
    );
    assert_eq!(updated["exchange_points"], 150);
    let shown = by_id(&everything(&server, &c).await, id).expect("listed");
    assert_eq!(shown["exchange_points"], 150);
    for key in ["name", "description", "category", "stock", "image", "is_hot"] {
        assert_eq!(shown[key], input[key], "{key} unchanged by a partial update");
    }
    assert_error(
        &server.put(&format!("/api/admin/products/{id}"), Some(&admin), json!({ "stock": -1 })).await,
        400,
        1003,
    );
    assert_error(
        &server.put(&format!("/api/admin/products/{id}"), Some(&admin), json!({ "exchange_points": 0 })).await,
        400,
        1003,
    );

    // Restock adds units.
    assert_ok(&server.post(&format!("/api/admin/products/{id}/restock"), Some(&admin), json!({ "quantity": 5 })).await);
    assert_eq!(stock(&by_id(&everything(&server, &c).await, id).expect("listed")), 12);
    for bad in [json!({}), json!({ "quantity": 0 }), json!({ "quantity": -3 })] {
        assert_error(&server.post(&format!("/api/admin/products/{id}/restock"), Some(&admin), bad).await, 400, 1003);
    }

    // A customer token cannot manage products, and changes nothing trying.
    let customer_attempts = [
        server.post("/api/admin/products", Some(&c.token), input.clone()).await,
        server.put(&format!("/api/admin/products/{id}"), Some(&c.token), json!({ "exchange_points": 1 })).await,
        server.post(&format!("/api/admin/products/{id}/restock"), Some(&c.token), json!({ "quantity": 100 })).await,
        delist(&server, &c.token, id).await,
    ];
    for got in &customer_attempts {
        assert_error(got, 403, 2004);
    }
    let shown = by_id(&everything(&server, &c).await, id).expect("still listed");
    assert_eq!((pts(&shown), stock(&shown)), (150, 12));
    assert_eq!(everything(&server, &c).await.len(), 11);

    // Unknown ids.
    for got in [
        server.put("/api/admin/products/999999", Some(&admin), json!({ "exchange_points": 10 })).await,
        server.post("/api/admin/products/999999/restock", Some(&admin), json!({ "quantity": 1 })).await,
        delist(&server, &admin, 999_999).await,
    ] {
        assert_error(&got, 404, 4001);
    }

    // Delisting: gone from the catalogue and from the category counts.
    assert_ok(&delist(&server, &admin, id).await);
    let tart = int(&named(&everything(&server, &c).await, "蛋挞"), "id");
    assert_ok(&delist(&server, &admin, tart).await);
    let all = everything(&server, &c).await;
    assert_eq!(all.len(), 9);
    assert!(by_id(&all, id).is_none() && by_id(&all, tart).is_none());
    assert_eq!(catalogue(&server, &c, &query_string(&[("category", "新品")])).await["pagination"]["total"], 0);
    let cats = categories(&server).await;
    assert_eq!(cats.get("新品").copied().unwrap_or(0), 0, "{cats:?}");
    assert_eq!(cats.get("小吃"), Some(&(cats_before["小吃"] - 1)));
    assert_eq!(cats.get("饮品"), cats_before.get("饮品"));

    // The audit trail: every successful mutation, under a `product.` action, on its product.
    let log = assert_ok(&server.get("/api/admin/audit-log?limit=50", Some(&admin)).await);
    let product_entries: Vec<&Value> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("product.")))
        .collect();
    let mut ours: Vec<String> = product_entries
        .iter()
        .filter(|e| id_text(&e["target_id"]) == id.to_string())
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    ours.sort();
    assert_eq!(ours, ["product.create", "product.delist", "product.restock", "product.update"]);
    assert!(
        product_entries.iter().any(|e| id_text(&e["target_id"]) == tart.to_string()),
        "the demo product's delisting is audited"
    );
    assert_eq!(product_entries.len(), 5, "one entry per successful mutation, none for refusals");
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/// A purchase pushes `stock_update` (purchase) with the new stock to every socket and
/// `points_update` to the buyer only; a restock and an admin stock edit push `restock` and
/// `admin_adjust`; a socket subscribed to product X hears about X and not about Y.
async fn stock_changes_reach_every_socket_and_the_buyer_gets_points_update(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let buyer = server.login(&phone(67, 1)).await;
    let watcher = server.login(&phone(67, 2)).await;
    let narrow = server.login(&phone(67, 3)).await;
    let x = int(&create_product(&server, &admin, new_product("推送X", "推送测试", 100, 10, 0)).await, "id");
    let y = int(&create_product(&server, &admin, new_product("推送Y", "推送测试", 100, 10, 0)).await, "id");

    let mut buyer_ws = server.ws(&buyer.token).await;
    let mut watcher_ws = server.ws(&watcher.token).await;
    let mut narrow_ws = server.ws(&narrow.token).await;
    narrow_ws.send_json(json!({ "type": "subscribe_product", "product_ids": [x] })).await;
    narrow_ws.send_json(json!({ "type": "ping" })).await;
    assert!(narrow_ws.next_of("pong", WAIT).await.is_some(), "the subscription was processed before the ping");

    // A purchase of Y.
    let order = assert_ok(&redeem(&server, &buyer, json!({ "product_id": y, "quantity": 2 })).await);
    assert_eq!(order["remaining_points"], 800);
    let seen = read_until(&mut buyer_ws, WAIT, |s| {
        s.iter().any(|m| m["type"] == "points_update") && s.iter().any(|m| is_stock_update(m, y, "purchase"))
    })
    .await;
    let points =
        seen.iter().find(|m| m["type"] == "points_update").unwrap_or_else(|| panic!("points_update: {seen:?}"));
    assert_eq!(points["data"]["user_id"], buyer.user_id);
    assert_eq!(points["data"]["total_points"], 800);
    assert_eq!(points["data"]["change_points"], -200);
    let update =
        seen.iter().find(|m| is_stock_update(m, y, "purchase")).unwrap_or_else(|| panic!("stock_update: {seen:?}"));
    assert_eq!(update["data"]["stock"], 8);
    let (data, mut watcher_seen) = expect_stock_update(&mut watcher_ws, "watcher", y, "purchase").await;
    assert_eq!(data["stock"], 8);

    // A purchase of X: everyone hears it, the narrowed socket only this one.
    assert_ok(&redeem(&server, &buyer, json!({ "product_id": x, "quantity": 1 })).await);
    for (who, ws) in [("buyer", &mut buyer_ws), ("narrow", &mut narrow_ws)] {
        let (data, _) = expect_stock_update(ws, who, x, "purchase").await;
        assert_eq!(data["stock"], 9, "{who}");
    }
    let (data, more) = expect_stock_update(&mut watcher_ws, "watcher", x, "purchase").await;
    assert_eq!(data["stock"], 9);
    watcher_seen.extend(more);

    // A restock and an admin edit of X's stock.
    assert_ok(&server.post(&format!("/api/admin/products/{x}/restock"), Some(&admin), json!({ "quantity": 5 })).await);
    for (who, ws) in [("buyer", &mut buyer_ws), ("watcher", &mut watcher_ws), ("narrow", &mut narrow_ws)] {
        let (data, more) = expect_stock_update(ws, who, x, "restock").await;
        assert_eq!(data["stock"], 14, "{who}");
        if who == "watcher" {
            watcher_seen.extend(more);
        }
    }
    assert_ok(&server.put(&format!("/api/admin/products/{x}"), Some(&admin), json!({ "stock": 42 })).await);
    for (who, ws) in [("buyer", &mut buyer_ws), ("watcher", &mut watcher_ws), ("narrow", &mut narrow_ws)] {
        let (data, more) = expect_stock_update(ws, who, x, "admin_adjust").await;
        assert_eq!(data["stock"], 42, "{who}");
        if who == "watcher" {
            watcher_seen.extend(more);
        }
    }
    // Y changes again; the watcher hears it, the narrowed socket must not.
    assert_ok(&server.post(&format!("/api/admin/products/{y}/restock"), Some(&admin), json!({ "quantity": 1 })).await);
    let (data, more) = expect_stock_update(&mut watcher_ws, "watcher", y, "restock").await;
    assert_eq!(data["stock"], 9);
    watcher_seen.extend(more);
    watcher_seen.extend(watcher_ws.drain(Duration::from_millis(300)).await);
    assert!(
        !watcher_seen.iter().any(|m| m["type"] == "points_update"),
        "another customer's points_update leaked to the watcher: {watcher_seen:?}"
    );
    let narrow_rest = narrow_ws.drain(Duration::from_millis(500)).await;
    assert!(
        !narrow_rest.iter().any(|m| m["type"] == "stock_update" && m["data"]["product_id"] == y),
        "a socket subscribed to X got an update for Y: {narrow_rest:?}"
    );
    server.assert_reconciled();
}

// ---------------------------------------------------------------------------------------------
// Under load
// ---------------------------------------------------------------------------------------------

/// 500 customers send 1,000 concurrent redemptions for a product with 50 units: exactly 50
/// succeed, 950 are 4002, 50 orders exist, the product is sold out with 50 sales, and every
/// customer paid exactly for what they got.
async fn a_thousand_concurrent_redemptions_of_fifty_units_sell_exactly_fifty(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = server.admin().await;
    let pid = int(&create_product(&server, &admin, new_product("限量五十", "限量", 100, 50, 0)).await, "id");

    let logins = Arc::new(Semaphore::new(32));
    let mut joins = Vec::new();
    for i in 0..500 {
        let (server, logins) = (server.clone(), logins.clone());
        joins.push(tokio::spawn(async move {
            let _p = logins.acquire().await.expect("permit");
            server.login(&phone(68, i)).await
        }));
    }
    let mut customers = Vec::new();
    for j in joins {
        customers.push(j.await.expect("login"));
    }

    let in_flight = Arc::new(Semaphore::new(300));
    let mut tasks = Vec::new();
    for c in &customers {
        for _ in 0..2 {
            let (server, in_flight, c) = (server.clone(), in_flight.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                let _p = in_flight.acquire().await.expect("permit");
                (c.user_id, redeem(&server, &c, json!({ "product_id": pid, "quantity": 1 })).await)
            }));
        }
    }
    let mut won: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut refused = 0;
    for t in tasks {
        let (uid, got) = t.await.expect("redeem task");
        match got.1["code"].as_i64() {
            Some(0) => {
                let data = assert_ok(&got);
                assert_eq!(data["points_cost"], 100);
                won.entry(uid).or_default().push(int(&data, "order_id"));
            }
            Some(4002) => {
                assert_error(&got, 409, 4002);
                assert_eq!(got.1["data"], json!({ "available": 0, "requested": 1 }));
                refused += 1;
            }
            _ => panic!("unexpected answer {got:?}"),
        }
    }
    let sold: usize = won.values().map(Vec::len).sum();
    assert_eq!((sold, refused), (50, 950));

    let c0 = &customers[0];
    let product = list(&catalogue(&server, c0, &query_string(&[("category", "限量")])).await)[0].clone();
    assert_eq!(product["id"], pid);
    assert_eq!((stock(&product), int(&product, "sales_count")), (0, 50));
    assert_eq!(product["status"], "sold_out");

    let mut total_orders = 0;
    for c in &customers {
        let mine = won.get(&c.user_id).cloned().unwrap_or_default();
        let listed = all_orders(&server, c).await;
        let mut listed_ids: Vec<i64> = listed.iter().map(|o| int(o, "order_id")).collect();
        listed_ids.sort_unstable();
        let mut expected = mine.clone();
        expected.sort_unstable();
        assert_eq!(listed_ids, expected, "orders of user {}", c.user_id);
        total_orders += listed.len();
        // Losers are charged nothing; winners exactly 100 per unit.
        assert_eq!(server.balance(c).await, 1000 - 100 * mine.len() as i64, "balance of user {}", c.user_id);
    }
    assert_eq!(total_orders, 50);
    server.assert_reconciled();
}

/// An admin keeps editing a product's description while 150 customers buy its 300 units: the
/// edits must not confuse the shop's view of the stock — exactly the stocked units are sold,
/// every refusal is 4002 (never a 4000 failure), and once sold out the next customer is told
/// 4002 with available 0; a restock of 5 then sells exactly 5.
async fn admin_edits_during_a_redemption_burst_keep_out_of_stock_answers_4002(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = Arc::new(server.admin().await);
    let pid = int(&create_product(&server, &admin, new_product("编辑中", "编辑", 10, 300, 0)).await, "id");
    let mut customers = Vec::new();
    for i in 0..150 {
        customers.push(server.login(&phone(68, 1000 + i)).await);
    }
    let buying = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let editor = {
        let (server, admin, buying) = (server.clone(), admin.clone(), buying.clone());
        tokio::spawn(async move {
            let mut edits = 0;
            while buying.load(std::sync::atomic::Ordering::SeqCst) && edits < 500 {
                let body = json!({ "description": format!("第{edits}次编辑") });
                assert_ok(&server.put(&format!("/api/admin/products/{pid}"), Some(&admin), body).await);
                edits += 1;
            }
            edits
        })
    };
    let mut tasks = Vec::new();
    for c in &customers {
        let (server, c) = (server.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..3 {
                answers.push(redeem(&server, &c, json!({ "product_id": pid, "quantity": 1 })).await);
            }
            answers
        }));
    }
    let (mut sold, mut refused) = (0, 0);
    let mut other = Vec::new();
    for t in tasks {
        for got in t.await.expect("task") {
            match got.1["code"].as_i64() {
                Some(0) => sold += 1,
                Some(4002) => refused += 1,
                _ => other.push(got),
            }
        }
    }
    buying.store(false, std::sync::atomic::Ordering::SeqCst);
    let edits = editor.await.expect("editor");
    assert!(edits > 0);
    assert!(other.is_empty(), "{} answers other than success or 4002, e.g. {:?}", other.len(), other.first());
    assert_eq!((sold, refused), (300, 150));
    let product = by_id(&everything(&server, &customers[0]).await, pid).expect("listed");
    assert_eq!((stock(&product), int(&product, "sales_count")), (0, 300));
    // Sold out is sold out, for the next customer too.
    let late = server.login(&phone(68, 1500)).await;
    let got = redeem(&server, &late, json!({ "product_id": pid, "quantity": 1 })).await;
    assert_error(&got, 409, 4002);
    assert_eq!(got.1["data"], json!({ "available": 0, "requested": 1 }));
    // A restock of 5 sells exactly 5.
    assert_ok(
        &server.post(&format!("/api/admin/products/{pid}/restock"), Some(&admin), json!({ "quantity": 5 })).await,
    );
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(redeem(&server, &late, json!({ "product_id": pid, "quantity": 1 })).await.1["code"].as_i64());
    }
    assert_eq!(codes, [Some(0), Some(0), Some(0), Some(0), Some(0), Some(4002), Some(4002), Some(4002)]);
    server.assert_reconciled();
}

/// SIGKILL while 60 customers are redeeming: after a restart the books reconcile, every
/// acknowledged order is listed exactly once, and each balance and the product's stock agree with
/// the orders that exist.
async fn sigkill_during_a_redemption_burst_keeps_every_acknowledged_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let initial_stock = 100_000;
    let pid = int(&create_product(&server, &admin, new_product("压力测试", "崩溃", 2, initial_stock, 0)).await, "id");
    let mut customers = Vec::new();
    for i in 0..60 {
        customers.push(server.login(&phone(69, i)).await);
    }
    let rounds = 200;
    let shared = Arc::new(server);
    let mut tasks = Vec::new();
    for c in &customers {
        let (server, c) = (shared.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for _ in 0..rounds {
                let resp = server
                    .http
                    .post(server.url("/api/exchange/redeem"))
                    .bearer_auth(&c.token)
                    .json(&json!({ "product_id": pid, "quantity": 1 }))
                    .send()
                    .await;
                // Once the server is gone requests fail: that is the point of the test.
                let Ok(resp) = resp else { break };
                let Ok(body) = resp.json::<Value>().await else { break };
                if body["code"].as_i64() == Some(0) {
                    acked.push(body["data"]["order_id"].as_i64().expect("order_id"));
                }
            }
            (c, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shared.sigkill();
    let mut results = Vec::new();
    for t in tasks {
        results.push(tokio::time::timeout(Duration::from_secs(120), t).await.expect("task ends").expect("task"));
    }
    let mut server = Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("server still shared"));
    let acked_total: usize = results.iter().map(|(_, a)| a.len()).sum();
    assert!(acked_total > 0, "the burst was under way when the server died");
    assert!(acked_total < 60 * rounds, "the kill interrupted the burst");

    server.start_again().await;
    server.assert_reconciled();
    let mut units = 0;
    for (c, acked) in &results {
        let c = server.login(&c.phone).await;
        let listed = all_orders(&server, &c).await;
        let listed_ids: HashSet<i64> = listed.iter().map(|o| int(o, "order_id")).collect();
        for id in acked {
            assert!(listed_ids.contains(id), "acknowledged order {id} of user {} is missing", c.user_id);
        }
        let spent: i64 = listed.iter().map(|o| int(o, "points_cost")).sum();
        units += listed.iter().map(|o| int(o, "quantity")).sum::<i64>();
        assert_eq!(server.balance(&c).await, 1000 - spent, "user {} paid for exactly the orders that exist", c.user_id);
    }
    let c0 = server.login(&customers[0].phone).await;
    let product = list(&catalogue(&server, &c0, &query_string(&[("category", "崩溃")])).await)[0].clone();
    assert_eq!(product["id"], pid);
    assert_eq!(stock(&product), initial_stock - units, "stock agrees with the orders that exist");
    assert_eq!(int(&product, "sales_count"), units);
    // The shop keeps working after the restart.
    assert_ok(&redeem(&server, &c0, json!({ "product_id": pid, "quantity": 1 })).await);
    server.assert_reconciled();
}

both_backends!(
    the_catalogue_shows_every_field_and_each_filter_returns_exactly_its_matches,
    sorting_follows_each_whitelisted_column_and_pages_cover_the_catalogue_once,
    the_all_tab_lists_every_category_and_each_sort_key_has_its_natural_direction,
    redeeming_by_product_or_commodity_id_debits_points_moves_stock_and_lists_the_order,
    refused_redemptions_change_no_balance_stock_order_or_ledger,
    asking_for_more_units_than_the_stock_is_4002_whatever_the_quantity,
    a_repeated_idempotency_key_returns_the_same_order_and_charges_once_even_after_a_crash,
    merchants_verify_order_and_prize_codes_exactly_once_and_need_a_live_role,
    admins_create_edit_restock_and_delist_products_with_an_audit_trail,
    stock_changes_reach_every_socket_and_the_buyer_gets_points_update,
    a_thousand_concurrent_redemptions_of_fifty_units_sell_exactly_fifty,
    admin_edits_during_a_redemption_burst_keep_out_of_stock_answers_4002,
    sigkill_during_a_redemption_burst_keeps_every_acknowledged_order,
);
