//! The OpenAPI document (`GET /api/docs/openapi.json`) and its page (`GET /api/docs`): the
//! document lists exactly the routes the routers have, with summaries, responses and bearer
//! security where a token is needed (checked against real requests without a token), and the
//! success `data` it documents is what the running server really answers. The docs routes are
//! public and outside the per-IP limiter.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Every route of the routers (`src/http/*.rs`), in OpenAPI `{param}` form. The test-hook route
/// exists because the harness runs with `ENABLE_TEST_HOOKS=1`.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/send-code"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("get", "/api/auth/verify-token"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/admin-login"),
    ("post", "/api/auth/wechat-login"),
    ("get", "/api/user/info"),
    ("put", "/api/user/profile"),
    ("post", "/api/user/profile"),
    ("get", "/api/user/points-records"),
    ("get", "/api/user/statistics"),
    ("post", "/api/user/avatar"),
    ("get", "/api/lottery/config"),
    ("post", "/api/lottery/draw"),
    ("get", "/api/lottery/records"),
    ("get", "/api/lottery/statistics"),
    ("get", "/api/lottery/pity-status"),
    ("get", "/api/lottery/my-prizes"),
    ("get", "/api/exchange/products"),
    ("get", "/api/exchange/categories"),
    ("get", "/api/exchange/hot-products"),
    ("post", "/api/exchange/redeem"),
    ("post", "/api/exchange/submit"),
    ("get", "/api/exchange/orders"),
    ("post", "/api/photo/upload"),
    ("get", "/api/photo/history"),
    ("get", "/api/photo/review/{upload_id}"),
    ("get", "/api/photo/statistics"),
    ("delete", "/api/photo/{upload_id}"),
    ("post", "/api/merchant/apply"),
    ("get", "/api/merchant/reviews/pending"),
    ("post", "/api/merchant/review"),
    ("post", "/api/merchant/reviews/batch"),
    ("post", "/api/merchant/reviews/{upload_id}/approve"),
    ("post", "/api/merchant/reviews/{upload_id}/reject"),
    ("get", "/api/merchant/statistics"),
    ("post", "/api/merchant/orders/verify"),
    ("get", "/api/admin/users"),
    ("post", "/api/admin/users/{id}/points"),
    ("post", "/api/admin/users/{id}/ban"),
    ("post", "/api/admin/users/{id}/merchant"),
    ("get", "/api/admin/audit-log"),
    ("get", "/api/admin/merchant-applications"),
    ("post", "/api/admin/merchant-applications/{id}/approve"),
    ("post", "/api/admin/merchant-applications/{id}/reject"),
    ("post", "/api/admin/test-hooks/wallets/{id}/panic"),
    ("post", "/api/admin/test-hooks/wheel/panic"),
    ("post", "/api/admin/test-hooks/stock-ledger/panic"),
    ("get", "/api/admin/lottery/prizes"),
    ("put", "/api/admin/lottery/prizes"),
    ("get", "/api/admin/lottery/settings"),
    ("put", "/api/admin/lottery/settings"),
    ("post", "/api/admin/lottery/prizes/{id}/stock"),
    ("post", "/api/admin/products"),
    ("put", "/api/admin/products/{id}"),
    ("delete", "/api/admin/products/{id}"),
    ("post", "/api/admin/products/{id}/restock"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/files/{key}"),
    ("get", "/api/docs"),
    ("get", "/api/docs/openapi.json"),
    ("get", "/ws"),
];

/// The operations that need no token.
const PUBLIC: &[&str] = &[
    "/api/auth/send-code",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/admin-login",
    "/api/auth/wechat-login",
    "/api/exchange/categories",
    "/health",
    "/metrics",
    "/files/{key}",
    "/api/docs",
    "/api/docs/openapi.json",
];

const TAGS: &[&str] = &["auth", "user", "lottery", "exchange", "photo", "merchant", "admin", "ops", "websocket"];

async fn document(server: &TestServer) -> Value {
    let (status, doc) = server.get("/api/docs/openapi.json", None).await;
    assert_eq!(status.as_u16(), 200, "{doc}");
    doc
}

/// Every `(method, path, operation)` the document declares.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    schema
}

/// An object schema's properties and required names, through `allOf`.
fn properties<'a>(doc: &'a Value, schema: &'a Value) -> (BTreeMap<String, &'a Value>, BTreeSet<String>) {
    let s = resolve(doc, schema);
    let (mut props, mut required) = (BTreeMap::new(), BTreeSet::new());
    for part in s["allOf"].as_array().into_iter().flatten() {
        let (p, r) = properties(doc, part);
        props.extend(p);
        required.extend(r);
    }
    for (k, v) in s["properties"].as_object().into_iter().flatten() {
        props.insert(k.clone(), v);
    }
    required.extend(s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
    (props, required)
}

/// The documented schema of a success response's `data`.
fn success_data<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"];
    schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|part| part["properties"].get("data"))
        .unwrap_or_else(|| panic!("{method} {path}: no documented success data"))
}

/// `value` has every required field `schema` documents and no field it does not; nested objects
/// and the first element of arrays are checked the same way.
#[track_caller]
fn assert_shape(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let s = resolve(doc, schema);
    if let (Some(items), Some(list)) = (s.get("items"), value.as_array()) {
        if let Some(first) = list.first() {
            assert_shape(doc, items, first, &format!("{at}[0]"));
        }
        return;
    }
    let (props, required) = properties(doc, schema);
    if props.is_empty() {
        return;
    }
    let obj = value.as_object().unwrap_or_else(|| panic!("{at}: expected an object, got {value}"));
    for name in &required {
        assert!(obj.contains_key(name), "{at}: documented field `{name}` is missing from the real answer {value}");
    }
    for name in obj.keys() {
        assert!(props.contains_key(name), "{at}: the real answer has undocumented field `{name}`: {value}");
    }
    for (name, sub) in &props {
        if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
            assert_shape(doc, sub, v, &format!("{at}.{name}"));
        }
    }
}

/// Every `$ref` anywhere in the document points at something.
fn assert_refs_resolve(doc: &Value, v: &Value) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "dangling $ref {r}");
            }
            o.values().for_each(|x| assert_refs_resolve(doc, x));
        }
        Value::Array(a) => a.iter().for_each(|x| assert_refs_resolve(doc, x)),
        _ => {}
    }
}

/// The document is OpenAPI 3.x, lists exactly the real routes, and each operation has a tag, a
/// summary, responses, listed error codes and the right security.
async fn document_lists_every_route(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "openapi: {}", doc["openapi"]);
    assert_refs_resolve(&doc, &doc);

    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let real: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = real.difference(&documented).collect();
    let invented: Vec<_> = documented.difference(&real).collect();
    assert!(missing.is_empty(), "routes missing from the document: {missing:?}");
    assert!(invented.is_empty(), "documented routes the server does not have: {invented:?}");

    let codes: BTreeSet<i64> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    for code in [1000, 1003, 2001, 3001, 4002, 5003, 6004, 9001, 9004, 9005] {
        assert!(codes.contains(&code), "ErrorCode lacks {code}");
    }
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        assert!(op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()), "{name}: summary");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{name}: responses");
        let tag = op["tags"][0].as_str().unwrap_or_default();
        assert!(TAGS.contains(&tag), "{name}: tag {tag}");
        let bearer = op["security"].as_array().is_some_and(|s| s.iter().any(|req| req.get("bearerAuth").is_some()));
        assert_eq!(bearer, !PUBLIC.contains(&path.as_str()), "{name}: bearer security");
        for e in op["x-error-codes"].as_array().into_iter().flatten() {
            let code = e["code"].as_i64().expect("code");
            assert!(codes.contains(&code), "{name}: unknown error code {code}");
            let status = e["status"].as_u64().expect("status").to_string();
            assert!(op["responses"].get(&status).is_some(), "{name}: code {code} has no {status} response");
        }
    }
    let ws = &doc["paths"]["/ws"]["get"]["x-websocket-messages"];
    let server_types: BTreeSet<&str> =
        ws["server"].as_array().expect("ws server").iter().filter_map(|m| m["type"].as_str()).collect();
    for t in [
        "connected",
        "pong",
        "points_update",
        "lottery_result",
        "stock_update",
        "prize_stock_update",
        "wheel_win",
        "review_result",
        "new_review",
        "error",
        "subscribed",
    ] {
        assert!(server_types.contains(t), "WebSocket message {t} is not documented");
    }
    let close: BTreeSet<i64> =
        ws["close_codes"].as_array().expect("close codes").iter().filter_map(|c| c["code"].as_i64()).collect();
    assert_eq!(close, BTreeSet::from([1001, 1013, 4001, 4002]));
}

/// Security as documented is security as enforced: every operation declared with bearer security
/// answers 401/2001 without a token, and no public one asks for a token.
async fn documented_security_matches_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    for (method, path, op) in operations(&doc) {
        let url = path.replace("{upload_id}", "1").replace("{id}", "1").replace("{key}", "receipts/x.jpg");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let resp = server.http.request(m, server.url(&url)).send().await.expect("request");
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_str(&resp.text().await.expect("body")).unwrap_or(Value::Null);
        let bearer = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if bearer {
            assert_eq!((status, body["code"].as_i64()), (401, Some(2001)), "{method} {path} without a token: {body}");
        } else {
            assert_ne!(body["code"].as_i64(), Some(2001), "{method} {path} is documented as public: {body}");
            assert_ne!(status, 404, "{method} {path}: {body}");
        }
    }
}

/// For real answers of login, the wheel, a draw, the catalogue (and a few more), every field the
/// document promises in `data` is there, and nothing undocumented is.
async fn documented_success_data_matches_real_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    let envelope = json!({ "$ref": "#/components/schemas/Envelope" });
    let check = |method: &str, path: &str, got: &(reqwest::StatusCode, Value)| {
        let data = assert_ok(got);
        assert_shape(&doc, &envelope, &got.1, &format!("{method} {path}"));
        assert_shape(&doc, success_data(&doc, method, path), &data, &format!("{method} {path} data"));
        data
    };

    let login = server.post("/api/auth/login", None, json!({ "mobile": phone(77, 1), "code": "123456" })).await;
    let token = check("post", "/api/auth/login", &login)["access_token"].as_str().expect("token").to_string();
    let t = Some(token.as_str());
    check("get", "/api/user/info", &server.get("/api/user/info", t).await);
    check("get", "/api/auth/verify-token", &server.get("/api/auth/verify-token", t).await);
    let config = check("get", "/api/lottery/config", &server.get("/api/lottery/config", t).await);
    assert_eq!(config["prizes"].as_array().map(Vec::len), Some(8));

    let draw = server.post("/api/lottery/draw", t, json!({ "draw_type": "triple", "request_id": "docs-1" })).await;
    let draw = check("post", "/api/lottery/draw", &draw);
    assert_eq!(draw["results"].as_array().map(Vec::len), Some(3));
    check("get", "/api/lottery/records", &server.get("/api/lottery/records", t).await);
    check("get", "/api/lottery/pity-status", &server.get("/api/lottery/pity-status", t).await);
    check("get", "/api/lottery/statistics", &server.get("/api/lottery/statistics", t).await);

    let path = "/api/exchange/products?sort_by=exchange_points&sort_order=ASC&stock_status=in_stock&limit=5";
    let products = check("get", "/api/exchange/products", &server.get(path, t).await);
    let first = &products["products"][0];
    assert!(first["id"].is_i64(), "{products}");
    check("get", "/api/exchange/categories", &server.get("/api/exchange/categories", None).await);
    let redeem = server.post("/api/exchange/redeem", t, json!({ "commodity_id": first["id"], "quantity": 1 })).await;
    check("post", "/api/exchange/redeem", &redeem);
    check("get", "/api/exchange/orders", &server.get("/api/exchange/orders", t).await);
    check("get", "/api/user/points-records", &server.get("/api/user/points-records", t).await);

    let admin = server.admin().await;
    check("get", "/api/admin/lottery/prizes", &server.get("/api/admin/lottery/prizes", Some(&admin)).await);
    check("get", "/api/admin/users", &server.get("/api/admin/users", Some(&admin)).await);
    check("get", "/health", &server.get("/health", None).await);
}

/// `GET /api/docs` is a self-contained HTML page that loads the document; both docs routes are
/// public and not behind the per-IP limiter.
async fn docs_page_is_html_and_not_rate_limited(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "1")]).await;
    let resp = server.http.get(server.url("/api/docs")).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap_or_default().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = resp.text().await.expect("body");
    assert!(html.contains("openapi.json"), "the page loads the document");
    assert!(!html.contains("<script src") && !html.contains("https://"), "no external scripts or CDNs");

    // Spend this address's one request a minute on an ordinary API route.
    let _ = server.get("/api/exchange/categories", None).await;
    assert_error(&server.get("/api/exchange/categories", None).await, 429, 9001);
    for _ in 0..5 {
        let resp = server.http.get(server.url("/api/docs/openapi.json")).send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 200, "the document is not rate limited");
        let ct = resp.headers()["content-type"].to_str().unwrap_or_default().to_string();
        assert!(ct.starts_with("application/json"), "{ct}");
        let doc: Value = resp.json().await.expect("JSON");
        assert!(doc["paths"]["/api/docs"]["get"].is_object());
        let page = server.http.get(server.url("/api/docs")).send().await.expect("request");
        assert_eq!(page.status().as_u16(), 200, "the page is not rate limited");
    }
}

both_backends!(
    document_lists_every_route,
    documented_security_matches_the_server,
    documented_success_data_matches_real_answers,
    docs_page_is_html_and_not_rate_limited,
);
