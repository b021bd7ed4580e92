//! The OpenAPI document (`GET /api/docs/openapi.json`), generated from the handlers, and its page
//! (`GET /api/docs`). What is proved here:
//! - The document and the router are one list: no file under `src/http` registers a route except
//!   through utoipa-axum's `routes!` (a source check), every documented operation answers (never
//!   404 or 405), and the document lists exactly the contract's routes.
//! - Security as documented is security as enforced: bearer operations answer 401/2001 without a
//!   token and 2002 with a bad one; operations documenting a role code answer it to a customer.
//! - Every operation has a tag, a summary, a success response and `x-error-codes`, each code in
//!   `ErrorCode` with a response for its status.
//! - Real answers, success and error, validate against the schema the document gives for their
//!   status (the whole envelope, JSON Schema 2020-12 with formats), carry no field the document
//!   does not list, and every error's code and status are among the operation's `x-error-codes`.
//! - The page is HTML that loads the document from this server and nothing from elsewhere; the
//!   docs routes are outside the per-IP limiter.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The contract's routes, in OpenAPI `{param}` form. The test hooks are there because the harness
/// runs with `ENABLE_TEST_HOOKS=1`.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/send-code"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("get", "/api/auth/verify-token"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/logout-all"),
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
    ("get", "/api/lottery/campaigns"),
    ("get", "/api/lottery/campaigns/{id}"),
    ("get", "/api/lottery/campaigns/{id}/seeds"),
    ("get", "/api/lottery/verify/{draw_id}"),
    ("post", "/api/lottery/claim"),
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
    ("post", "/api/admin/test-hooks/wallets/{id}/block"),
    ("post", "/api/admin/test-hooks/wallets/{id}/hold-next-write"),
    ("post", "/api/admin/test-hooks/{actor}/block"),
    ("post", "/api/admin/test-hooks/clock"),
    ("get", "/api/admin/lottery/prizes"),
    ("put", "/api/admin/lottery/prizes"),
    ("get", "/api/admin/lottery/settings"),
    ("put", "/api/admin/lottery/settings"),
    ("post", "/api/admin/lottery/prizes/{id}/stock"),
    ("get", "/api/admin/campaigns"),
    ("post", "/api/admin/campaigns"),
    ("put", "/api/admin/campaigns/{id}"),
    ("post", "/api/admin/campaigns/{id}/status"),
    ("get", "/api/admin/campaigns/{id}/prizes"),
    ("put", "/api/admin/campaigns/{id}/prizes"),
    ("post", "/api/admin/campaigns/{id}/prizes/{prize_id}/stock"),
    ("get", "/api/admin/campaigns/{id}/stats"),
    ("get", "/api/admin/products"),
    ("post", "/api/admin/products"),
    ("put", "/api/admin/products/{id}"),
    ("delete", "/api/admin/products/{id}"),
    ("post", "/api/admin/products/{id}/restock"),
    ("get", "/api/points/account"),
    ("get", "/api/points/leaderboard"),
    ("post", "/api/checkin"),
    ("get", "/api/checkin/status"),
    ("get", "/api/tasks"),
    ("post", "/api/tasks/{id}/claim"),
    ("get", "/api/admin/levels"),
    ("put", "/api/admin/levels"),
    ("get", "/api/admin/tasks"),
    ("put", "/api/admin/tasks/{id}"),
    ("post", "/api/admin/users/{id}/freeze"),
    ("post", "/api/admin/users/{id}/unfreeze"),
    ("get", "/api/admin/users/{id}/freezes"),
    ("get", "/api/admin/analytics/overview"),
    ("get", "/api/admin/analytics/points-flow"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/files/{key}"),
    ("get", "/api/docs"),
    ("get", "/api/docs/openapi.json"),
    ("get", "/ws"),
    ("get", "/console"),
    ("get", "/console/"),
    ("get", "/console/{file}"),
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
    "/console",
    "/console/",
    "/console/{file}",
];

const TEST_HOOKS: &str = "/api/admin/test-hooks/";

const TAGS: &[&str] =
    &["auth", "user", "lottery", "exchange", "photo", "merchant", "loyalty", "admin", "ops", "websocket"];

// ---------------------------------------------------------------------------------------------
// Reading the document
// ---------------------------------------------------------------------------------------------

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

/// A documented path with its parameters filled in, as a request path.
fn concrete(path: &str) -> String {
    path.replace("{upload_id}", "1")
        .replace("{id}", "1")
        .replace("{key}", "receipts/2026/01/x.jpg")
        .replace("{file}", "app.js")
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    schema
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

/// The codes `ErrorCode` lists.
fn error_codes(doc: &Value) -> BTreeSet<i64> {
    doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(Value::as_i64)
        .collect()
}

/// `(code, status)` pairs an operation lists in `x-error-codes`.
fn listed_errors(op: &Value) -> BTreeSet<(i64, u64)> {
    op["x-error-codes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["code"].as_i64().expect("code"), e["status"].as_u64().expect("status")))
        .collect()
}

fn has_bearer(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| s.iter().any(|req| req.get("bearerAuth").is_some()))
}

// ---------------------------------------------------------------------------------------------
// Checking real answers against the document
// ---------------------------------------------------------------------------------------------

/// The document, and checks of real answers against what it says of each operation.
struct Contract {
    doc: Value,
}

impl Contract {
    async fn of(server: &TestServer) -> Contract {
        Contract { doc: document(server).await }
    }

    #[track_caller]
    fn operation(&self, method: &str, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        op
    }

    /// The JSON schema of the answer `method path` documents for `status`.
    #[track_caller]
    fn response_schema(&self, method: &str, path: &str, status: u16) -> &Value {
        let response = &self.operation(method, path)["responses"][status.to_string()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {path} documents no JSON answer for {status}: {response}");
        schema
    }

    /// A success: 200 with code 0, valid against the operation's 200 schema, with no field the
    /// document does not list. Answers `data`.
    #[track_caller]
    fn ok(&self, method: &str, path: &str, got: &(StatusCode, Value)) -> Value {
        let data = assert_ok(got);
        let at = format!("{method} {path}");
        let schema = self.response_schema(method, path, 200);
        self.validate(schema, &got.1, &at);
        if let Err(e) = no_undocumented_fields(&self.doc, schema, &got.1, "") {
            panic!("{at}: {e}\nanswer: {}", got.1);
        }
        data
    }

    /// A refusal: the expected status and code, listed in the operation's `x-error-codes`, and
    /// valid against the schema documented for that status.
    #[track_caller]
    fn refused(&self, method: &str, path: &str, got: &(StatusCode, Value), status: u16, code: i64) -> Value {
        let at = format!("{method} {path} → {status}/{code}");
        assert_eq!((got.0.as_u16(), got.1["code"].as_i64()), (status, Some(code)), "{at}: the answer was {}", got.1);
        assert_error(got, status, code);
        let listed = listed_errors(self.operation(method, path));
        assert!(listed.contains(&(code, u64::from(status))), "{at} is not among its x-error-codes {listed:?}");
        let schema = self.response_schema(method, path, status);
        self.validate(schema, &got.1, &at);
        if let Err(e) = no_undocumented_fields(&self.doc, schema, &got.1, "") {
            panic!("{at}: {e}\nanswer: {}", got.1);
        }
        got.1["data"].clone()
    }

    /// `instance` against `schema`, resolved within the document (JSON Schema 2020-12, the
    /// dialect of OpenAPI 3.1; formats such as `date-time` are checked).
    #[track_caller]
    fn validate(&self, schema: &Value, instance: &Value, at: &str) {
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{at}: the documented schema does not compile: {e}"));
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("  at `{}`: {e}", e.instance_path)).collect();
        assert!(
            errors.is_empty(),
            "{at}: the real answer breaks its documented schema:\n{}\nanswer: {instance}",
            errors.join("\n")
        );
    }
}

/// An object schema's properties, through `allOf`.
fn properties<'a>(doc: &'a Value, schema: &'a Value) -> BTreeMap<String, &'a Value> {
    let s = resolve(doc, schema);
    let mut props = BTreeMap::new();
    for part in s["allOf"].as_array().into_iter().flatten() {
        props.extend(properties(doc, part));
    }
    for (k, v) in s["properties"].as_object().into_iter().flatten() {
        props.insert(k.clone(), v);
    }
    props
}

/// Whether `value` has one of the JSON types `schema` names (no `type`: any).
fn type_fits(schema: &Value, value: &Value) -> bool {
    let name = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    allowed.contains(&name) || (name == "integer" && allowed.contains(&"number"))
}

/// utoipa does not emit `additionalProperties: false`, so JSON Schema alone would let a field the
/// document never mentions through. This walks the answer with the schema: every object field
/// must be documented, in nested objects, in every array element, and in at least one of the
/// alternatives of a `oneOf` (the ones the value's type fits).
fn no_undocumented_fields(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let s = resolve(doc, schema);
    if !type_fits(s, value) {
        return Err(format!("`{at}` is not of type {}", s["type"]));
    }
    if let Some(branches) = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array) {
        let tried: Vec<String> =
            branches.iter().map(|b| no_undocumented_fields(doc, b, value, at)).filter_map(Result::err).collect();
        return if tried.len() < branches.len() { Ok(()) } else { Err(tried.join("; or ")) };
    }
    if let (Some(items), Some(list)) = (s.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            no_undocumented_fields(doc, items, v, &format!("{at}[{i}]"))?;
        }
        return Ok(());
    }
    let props = properties(doc, s);
    let Some(obj) = value.as_object() else { return Ok(()) };
    if props.is_empty() {
        // A free-form object or a map (`additionalProperties`): nothing to compare.
        return Ok(());
    }
    for (name, v) in obj {
        let sub = props.get(name).ok_or_else(|| format!("the real answer has undocumented field `{at}.{name}`"))?;
        no_undocumented_fields(doc, sub, v, &format!("{at}.{name}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests the harness has no helper for
// ---------------------------------------------------------------------------------------------

fn jpeg(tag: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(format!(" receipt {tag} ").into_bytes());
    v
}

async fn send_form(server: &TestServer, path: &str, token: &str, form: Form) -> (StatusCode, Value) {
    let resp = server.http.post(server.url(path)).bearer_auth(token).multipart(form).send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body for {path} ({status}): {text}")))
}

fn receipt_form(tag: &str, amount: &str) -> Form {
    let part = Part::bytes(jpeg(tag)).file_name("receipt.jpg").mime_str("image/jpeg").expect("mime");
    Form::new().text("amount", amount.to_string()).part("photo", part)
}

/// Uploads a receipt (no checks: for tests of other areas).
async fn upload(server: &TestServer, c: &Customer, tag: &str, amount: &str) -> i64 {
    let got = send_form(server, "/api/photo/upload", &c.token, receipt_form(tag, amount)).await;
    assert_ok(&got)["upload_id"].as_i64().expect("upload_id")
}

async fn make_merchant(server: &TestServer, admin: &str, phone: &str) -> Customer {
    let m = server.login(phone).await;
    let path = format!("/api/admin/users/{}/merchant", m.user_id);
    assert_ok(&server.post(&path, Some(admin), json!({ "is_merchant": true })).await);
    m
}

async fn delete(server: &TestServer, path: &str, token: &str) -> (StatusCode, Value) {
    server.call(Method::DELETE, path, Some(token), None).await
}

/// A signed-in customer holding a redemption code of each kind: an exchange order's and a won
/// coupon's.
async fn codes(server: &TestServer, admin: &str, c: &Customer) -> (String, String) {
    let products = assert_ok(&server.get("/api/exchange/products?limit=50", Some(&c.token)).await);
    let product = products["products"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["stock"].as_i64() > Some(0) && p["exchange_points"].as_i64() <= Some(300)))
        .unwrap_or_else(|| panic!("a cheap product in stock: {products}"))
        .clone();
    let order = assert_ok(
        &server
            .post("/api/exchange/redeem", Some(&c.token), json!({ "product_id": product["id"], "quantity": 1 }))
            .await,
    );
    server.wheel_all_on(admin, "八八折券", None).await;
    let draw = assert_ok(&server.post("/api/lottery/draw", Some(&c.token), json!({ "draw_type": "single" })).await);
    let prize = draw["results"][0]["redemption_code"].as_str().unwrap_or_else(|| panic!("a coupon code: {draw}"));
    (order["exchange_code"].as_str().expect("exchange_code").to_string(), prize.to_string())
}

// ---------------------------------------------------------------------------------------------
// The document and the router are one list
// ---------------------------------------------------------------------------------------------

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/http").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A route registered any other way than `routes!` would be served without being documented
/// (utoipa-axum's `.route(…)` and its kin pass straight to axum, and so does a plain axum
/// `Router` turned into an `OpenApiRouter`). Only swagger-ui's own router is mounted as it is,
/// in `docs.rs`; its two routes are added to the document there.
#[test]
fn no_route_is_registered_outside_routes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() > 10, "expected the HTTP modules under {}", dir.display());
    let forbidden = [".route(", ".route_service(", ".nest_service(", "Router::from("];
    let mut offences = Vec::new();
    for file in &files {
        let name = file.strip_prefix(&dir).unwrap_or(file).display().to_string();
        let text = std::fs::read_to_string(file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let swagger_mount = name == "docs.rs" && code.contains("Router::from(ui)");
            if forbidden.iter().any(|f| code.contains(f)) && !swagger_mount {
                offences.push(format!("src/http/{name}:{}: {}", n + 1, code));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "routes registered outside `routes!` (served but undocumented):\n{}",
        offences.join("\n")
    );
}

/// utoipa names a component after the type alone, and a second type of the same name silently
/// replaces the first in the document: one answer would then be checked against another's
/// schema. Every `ToSchema` type is named once across the crate (or renamed with `as = …`).
#[test]
fn every_schema_name_is_used_once() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for file in &files {
        let name = file.strip_prefix(&dir).unwrap_or(file).display().to_string();
        let text = std::fs::read_to_string(file).expect("source");
        let mut pending = false;
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[derive(") && code.contains("ToSchema") {
                pending = true;
            } else if pending && code.starts_with("#[schema(as") {
                pending = false;
            } else if pending && !code.starts_with("#[") && !code.starts_with("///") {
                let item = code.trim_start_matches("pub(crate) ").trim_start_matches("pub ");
                let ident = item
                    .strip_prefix("struct ")
                    .or_else(|| item.strip_prefix("enum "))
                    .map(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or(""));
                if let Some(ident) = ident.filter(|i| !i.is_empty()) {
                    seen.entry(ident.to_string()).or_default().push(format!("src/{name}:{}", n + 1));
                }
                pending = false;
            }
        }
    }
    assert!(seen.len() > 30, "expected the crate's schema types, found {}", seen.len());
    let twice: Vec<String> =
        seen.iter().filter(|(_, at)| at.len() > 1).map(|(ident, at)| format!("{ident}: {}", at.join(", "))).collect();
    assert!(twice.is_empty(), "schema names defined more than once:\n{}", twice.join("\n"));
}

/// The document is OpenAPI 3.1 and every `$ref` in it points at something.
async fn every_reference_in_the_document_resolves(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "openapi: {}", doc["openapi"]);
    assert_refs_resolve(&doc, &doc);
}

/// The document lists exactly the contract's routes; without `ENABLE_TEST_HOOKS` the hooks are
/// neither documented nor served.
async fn document_lists_exactly_the_contracts_routes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;

    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let contract: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = contract.difference(&documented).collect();
    let invented: Vec<_> = documented.difference(&contract).collect();
    assert!(missing.is_empty(), "routes missing from the document: {missing:?}");
    assert!(invented.is_empty(), "documented routes the contract does not have: {invented:?}");

    let plain = TestServer::start_with(backend, &[("ENABLE_TEST_HOOKS", "0")]).await;
    let doc = document(&plain).await;
    let hooks: Vec<String> =
        doc["paths"].as_object().expect("paths").keys().filter(|p| p.starts_with(TEST_HOOKS)).cloned().collect();
    assert!(hooks.is_empty(), "test hooks documented without ENABLE_TEST_HOOKS: {hooks:?}");
    let admin = plain.admin().await;
    let got = plain.post("/api/admin/test-hooks/wheel/panic", Some(&admin), json!({})).await;
    assert_error(&got, 404, 9004);
}

/// Every operation has a tag, a summary, a success response and its error codes, each a code of
/// `ErrorCode` at a status that code comes with, with a response for that status.
async fn every_operation_is_described(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    let codes = error_codes(&doc);
    for code in [1000, 1003, 2001, 2002, 2003, 2004, 2005, 3001, 4002, 4005, 5003, 6000, 6004, 9001, 9004] {
        assert!(codes.contains(&code), "ErrorCode lacks {code}");
    }
    // Each code's HTTP statuses, as the ErrorCode schema publishes them.
    let statuses: BTreeMap<i64, BTreeSet<u64>> = doc["components"]["schemas"]["ErrorCode"]["x-codes"]
        .as_array()
        .expect("ErrorCode x-codes")
        .iter()
        .map(|r| {
            (
                r["code"].as_i64().expect("code"),
                r["statuses"].as_array().expect("statuses").iter().filter_map(Value::as_u64).collect(),
            )
        })
        .collect();
    assert_eq!(statuses.keys().copied().collect::<BTreeSet<_>>(), codes, "x-codes and the enum list the same codes");

    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        assert!(op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()), "{name}: summary");
        let tag = op["tags"][0].as_str().unwrap_or_default();
        assert!(TAGS.contains(&tag), "{name}: tag `{tag}`");
        let success = if path == "/ws" { "101" } else { "200" };
        assert!(op["responses"][success].is_object(), "{name}: no {success} response");
        let bearer = has_bearer(op);
        assert_eq!(bearer, !PUBLIC.contains(&path.as_str()), "{name}: bearer security");

        let listed = listed_errors(op);
        assert!(!listed.is_empty(), "{name}: no x-error-codes");
        for &(code, status) in &listed {
            assert!(codes.contains(&code), "{name}: x-error-codes has {code}, which ErrorCode lacks");
            assert!(statuses[&code].contains(&status), "{name}: {code} comes with {:?}, not {status}", statuses[&code]);
            let response = &op["responses"][status.to_string()];
            assert!(response.is_object(), "{name}: code {code} has no {status} response");
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{name}: the {status} response has no JSON schema");
        }
        if bearer {
            assert!(listed.contains(&(2001, 401)) && listed.contains(&(2002, 401)), "{name}: token codes {listed:?}");
        }
        if path.starts_with("/api/") && !path.starts_with("/api/docs") {
            assert!(listed.contains(&(9001, 429)), "{name}: the per-IP limit (9001) is not listed");
        }
    }
    assert_eq!(
        doc["paths"]["/files/{key}"]["get"]["parameters"][0]["name"],
        json!("key"),
        "the wildcard is named `key`"
    );

    // The WebSocket's messages (whether listed by hand or generated from the message type).
    let ws = &doc["paths"]["/ws"]["get"]["x-websocket-messages"];
    assert!(!ws.is_null(), "the WebSocket's messages are not documented");
    let mut names = BTreeSet::new();
    collect_strings(&doc, ws, &mut names);
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
        "campaign_update",
    ] {
        assert!(names.contains(t), "WebSocket message `{t}` is not documented");
    }
    let mut close = BTreeSet::new();
    collect_close_codes(&doc, ws, false, &mut close);
    for code in [1001, 1013, 4001, 4002] {
        assert!(close.contains(&code), "WebSocket close code {code} is not documented (found {close:?})");
    }
}

/// Every string (values and keys) under `v`, following `$ref`s.
fn collect_strings(doc: &Value, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(doc, x, out)),
        Value::Object(o) => {
            if let Some(target) =
                o.get("$ref").and_then(Value::as_str).and_then(|r| doc.pointer(r.trim_start_matches('#')))
            {
                collect_strings(doc, target, out);
            }
            for (k, x) in o {
                out.insert(k.clone());
                collect_strings(doc, x, out);
            }
        }
        _ => {}
    }
}

/// The integers under any key that names close codes (`close_codes`, `closeCodes`, …).
fn collect_close_codes(doc: &Value, v: &Value, inside: bool, out: &mut BTreeSet<i64>) {
    match v {
        Value::Number(n) if inside => out.extend(n.as_i64()),
        Value::Array(a) => a.iter().for_each(|x| collect_close_codes(doc, x, inside, out)),
        Value::Object(o) => {
            if let Some(target) =
                o.get("$ref").and_then(Value::as_str).and_then(|r| doc.pointer(r.trim_start_matches('#')))
            {
                collect_close_codes(doc, target, inside, out);
            }
            for (k, x) in o {
                let here = inside || k.to_ascii_lowercase().contains("close");
                if here {
                    out.extend(k.parse::<i64>().ok());
                }
                collect_close_codes(doc, x, here, out);
            }
        }
        _ => {}
    }
}

/// Security as documented is security as enforced, and every documented operation is served:
/// without a token a bearer operation answers 401/2001, with a bad one 401/2002, and a customer
/// gets the role code an operation documents (2003, 2004); a public operation answers without a
/// token, never with 404 or 405. Every error met on the way is one its operation lists.
async fn documented_security_matches_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let contract = Contract::of(&server).await;
    let customer = server.login(&phone(78, 1)).await;
    for (method, path, op) in operations(&contract.doc) {
        let url = concrete(&path);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let send = |token: Option<&str>| {
            let mut req = server.http.request(m.clone(), server.url(&url));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move {
                let resp = req.send().await.expect("request");
                let status = resp.status();
                let body: Value = serde_json::from_str(&resp.text().await.expect("body")).unwrap_or(Value::Null);
                (status, body)
            }
        };
        let got = send(None).await;
        let status = got.0.as_u16();
        assert!(status != 404 && status != 405, "{method} {path} is documented but answers {status}: {}", got.1);
        if has_bearer(op) {
            contract.refused(&method, &path, &got, 401, 2001);
            contract.refused(&method, &path, &send(Some("not-a-token")).await, 401, 2002);
            let listed = listed_errors(op);
            // Signing out ends the session it is sent with: give those operations a session of
            // their own, so later operations still see a live customer.
            let as_customer = if path.contains("logout") {
                send(Some(&server.login(&phone(78, 2)).await.token)).await
            } else {
                send(Some(&customer.token)).await
            };
            for role in [2003, 2004] {
                if listed.contains(&(role, 403)) {
                    contract.refused(&method, &path, &as_customer, 403, role);
                }
            }
        } else {
            assert_ne!(got.1["code"].as_i64(), Some(2001), "{method} {path} is documented as public: {}", got.1);
            if status >= 400 {
                let code =
                    got.1["code"].as_i64().unwrap_or_else(|| panic!("{method} {path}: {status} without an envelope"));
                contract.refused(&method, &path, &got, status, code);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real answers match the document
// ---------------------------------------------------------------------------------------------

/// The customer's day in the mini-program: sign-in, the wheel, the shop, receipts; and the
/// admin's sign-in.
async fn customer_answers_match_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = Contract::of(&server).await;

    let login = server.post("/api/auth/login", None, json!({ "phone": phone(77, 1), "code": "123456" })).await;
    let session = api.ok("post", "/api/auth/login", &login);
    let token = session["access_token"].as_str().expect("token").to_string();
    let t = Some(token.as_str());
    api.ok("get", "/api/auth/verify-token", &server.get("/api/auth/verify-token", t).await);
    api.refused(
        "post",
        "/api/auth/login",
        &server.post("/api/auth/login", None, json!({ "phone": "123" })).await,
        400,
        1001,
    );

    let config = api.ok("get", "/api/lottery/config", &server.get("/api/lottery/config", t).await);
    assert_eq!(config["prizes"].as_array().map(Vec::len), Some(8));
    let draw = server.post("/api/lottery/draw", t, json!({ "draw_type": "triple", "request_id": "docs-1" })).await;
    assert_eq!(api.ok("post", "/api/lottery/draw", &draw)["results"].as_array().map(Vec::len), Some(3));
    let bad_draw = server.post("/api/lottery/draw", t, json!({ "draw_type": "dozen" })).await;
    api.refused("post", "/api/lottery/draw", &bad_draw, 400, 1003);
    for path in
        ["/api/lottery/records", "/api/lottery/pity-status", "/api/lottery/statistics", "/api/lottery/my-prizes"]
    {
        api.ok("get", path, &server.get(path, t).await);
    }

    let path = "/api/exchange/products?sort_by=exchange_points&sort_order=ASC&stock_status=in_stock&limit=5";
    let products = api.ok("get", "/api/exchange/products", &server.get(path, t).await);
    let first = &products["products"][0];
    assert!(first["id"].is_i64(), "{products}");
    api.ok("get", "/api/exchange/categories", &server.get("/api/exchange/categories", None).await);
    api.ok("get", "/api/exchange/hot-products", &server.get("/api/exchange/hot-products", t).await);
    let redeem = server.post("/api/exchange/redeem", t, json!({ "commodity_id": first["id"], "quantity": 1 })).await;
    api.ok("post", "/api/exchange/redeem", &redeem);
    let too_many =
        server.post("/api/exchange/redeem", t, json!({ "product_id": first["id"], "quantity": 100000 })).await;
    assert!(too_many.0.as_u16() == 409, "{}", too_many.1);
    let code = too_many.1["code"].as_i64().expect("code");
    api.refused("post", "/api/exchange/redeem", &too_many, 409, code);
    api.ok("get", "/api/exchange/orders", &server.get("/api/exchange/orders", t).await);

    let c = Customer {
        user_id: session["user_info"]["user_id"].as_i64().expect("user_id"),
        phone: phone(77, 1),
        token: token.clone(),
        refresh: session["refresh_token"].as_str().expect("refresh").to_string(),
    };
    let uploaded = send_form(&server, "/api/photo/upload", &c.token, receipt_form("docs", "88.50")).await;
    let upload_id = api.ok("post", "/api/photo/upload", &uploaded)["upload_id"].as_i64().expect("upload_id");
    let no_amount = send_form(&server, "/api/photo/upload", &c.token, receipt_form("docs", "0")).await;
    api.refused("post", "/api/photo/upload", &no_amount, 400, 5002);
    api.ok("get", "/api/photo/history", &server.get("/api/photo/history", t).await);
    let review = format!("/api/photo/review/{upload_id}");
    api.ok("get", "/api/photo/review/{upload_id}", &server.get(&review, t).await);
    api.refused("get", "/api/photo/review/{upload_id}", &server.get("/api/photo/review/99999999", t).await, 404, 6001);
    api.ok("get", "/api/photo/statistics", &server.get("/api/photo/statistics", t).await);
    api.ok("delete", "/api/photo/{upload_id}", &delete(&server, &format!("/api/photo/{upload_id}"), &token).await);

    let wrong = json!({ "username": "nobody", "password": "wrong-password" });
    api.refused("post", "/api/auth/admin-login", &server.post("/api/auth/admin-login", None, wrong).await, 401, 2002);
    let admin = server.admin().await;
    let signed_in = json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD });
    api.ok("post", "/api/auth/admin-login", &server.post("/api/auth/admin-login", None, signed_in).await);
    assert!(!admin.is_empty());

    let refreshed = server.post("/api/auth/refresh", None, json!({ "refresh_token": c.refresh })).await;
    let fresh = api.ok("post", "/api/auth/refresh", &refreshed)["access_token"].as_str().expect("token").to_string();
    api.ok("post", "/api/auth/logout", &server.post("/api/auth/logout", Some(&fresh), json!({})).await);
    let everywhere = server.login(&c.phone).await;
    api.ok(
        "post",
        "/api/auth/logout-all",
        &server.post("/api/auth/logout-all", Some(&everywhere.token), json!({})).await,
    );
}

/// The customer's own account: info, profile, points history, totals and avatar.
async fn account_answers_match_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = Contract::of(&server).await;
    let c = server.login(&phone(77, 2)).await;
    let t = Some(c.token.as_str());
    api.ok("get", "/api/user/info", &server.get("/api/user/info", t).await);
    api.ok("put", "/api/user/profile", &server.put("/api/user/profile", t, json!({ "nickname": "文档" })).await);
    api.ok("post", "/api/user/profile", &server.post("/api/user/profile", t, json!({ "avatar": "" })).await);
    api.refused("put", "/api/user/profile", &server.put("/api/user/profile", t, json!({})).await, 400, 1003);
    api.ok("get", "/api/user/points-records", &server.get("/api/user/points-records?type=earn", t).await);
    api.ok("get", "/api/user/statistics", &server.get("/api/user/statistics", t).await);
    let part = Part::bytes(jpeg("avatar")).file_name("a.jpg").mime_str("image/jpeg").expect("mime");
    let avatar = send_form(&server, "/api/user/avatar", &c.token, Form::new().part("avatar", part)).await;
    api.ok("post", "/api/user/avatar", &avatar);
}

/// Loyalty, the customer's side and the operator's: the account, check-in, tasks, the
/// leaderboard, levels, task rewards, freezes and analytics, each answer and refusal against the
/// document.
async fn loyalty_answers_match_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = Contract::of(&server).await;
    let admin = server.admin().await;
    let a = Some(admin.as_str());
    let c = server.login(&phone(77, 9)).await;
    let t = Some(c.token.as_str());
    api.ok("get", "/api/points/account", &server.get("/api/points/account", t).await);
    api.ok("get", "/api/checkin/status", &server.get("/api/checkin/status", t).await);
    api.ok("post", "/api/checkin", &server.post("/api/checkin", t, json!({})).await);
    api.refused("post", "/api/checkin", &server.post("/api/checkin", t, json!({})).await, 409, 7001);
    let tasks = api.ok("get", "/api/tasks", &server.get("/api/tasks", t).await);
    let first = tasks["tasks"][0]["id"].as_i64().expect("task id");
    api.refused(
        "post",
        "/api/tasks/{id}/claim",
        &server.post(&format!("/api/tasks/{first}/claim"), t, json!({})).await,
        409,
        7003,
    );
    api.refused("post", "/api/tasks/{id}/claim", &server.post("/api/tasks/999/claim", t, json!({})).await, 404, 7004);
    api.ok("post", "/api/lottery/draw", &server.post("/api/lottery/draw", t, json!({ "draw_type": "single" })).await);
    api.ok("post", "/api/tasks/{id}/claim", &server.post(&format!("/api/tasks/{first}/claim"), t, json!({})).await);
    api.refused(
        "post",
        "/api/tasks/{id}/claim",
        &server.post(&format!("/api/tasks/{first}/claim"), t, json!({})).await,
        409,
        7002,
    );
    api.ok("get", "/api/points/leaderboard", &server.get("/api/points/leaderboard?period=day", t).await);
    api.refused("get", "/api/points/leaderboard", &server.get("/api/points/leaderboard?limit=0", t).await, 400, 1003);

    let levels = api.ok("get", "/api/admin/levels", &server.get("/api/admin/levels", a).await);
    api.ok("put", "/api/admin/levels", &server.put("/api/admin/levels", a, levels).await);
    api.refused(
        "put",
        "/api/admin/levels",
        &server.put("/api/admin/levels", a, json!({ "levels": [] })).await,
        400,
        1003,
    );
    api.ok("get", "/api/admin/tasks", &server.get("/api/admin/tasks", a).await);
    api.ok(
        "put",
        "/api/admin/tasks/{id}",
        &server.put(&format!("/api/admin/tasks/{first}"), a, json!({ "points": 60 })).await,
    );
    api.refused(
        "put",
        "/api/admin/tasks/{id}",
        &server.put("/api/admin/tasks/999", a, json!({ "points": 60 })).await,
        404,
        7004,
    );
    let user = format!("/api/admin/users/{}", c.user_id);
    api.ok(
        "post",
        "/api/admin/users/{id}/freeze",
        &server.post(&format!("{user}/freeze"), a, json!({ "points": 10, "reason": "r" })).await,
    );
    api.ok(
        "post",
        "/api/admin/users/{id}/unfreeze",
        &server.post(&format!("{user}/unfreeze"), a, json!({ "points": 5 })).await,
    );
    api.refused(
        "post",
        "/api/admin/users/{id}/unfreeze",
        &server.post(&format!("{user}/unfreeze"), a, json!({ "points": 50 })).await,
        400,
        1003,
    );
    api.refused(
        "post",
        "/api/admin/users/{id}/freeze",
        &server.post("/api/admin/users/999999/freeze", a, json!({ "points": 1 })).await,
        404,
        9004,
    );
    api.ok("get", "/api/admin/users/{id}/freezes", &server.get(&format!("{user}/freezes"), a).await);
    api.ok("get", "/api/admin/analytics/overview", &server.get("/api/admin/analytics/overview", a).await);
    api.ok(
        "get",
        "/api/admin/analytics/points-flow",
        &server.get("/api/admin/analytics/points-flow?period=week", a).await,
    );
    api.refused(
        "get",
        "/api/admin/analytics/points-flow",
        &server.get("/api/admin/analytics/points-flow?from=x", a).await,
        400,
        1003,
    );
}

/// The merchant's counter: the review queue, single, per-upload and batch decisions, totals,
/// verifying codes, the signed image links, and applying for the role.
async fn merchant_answers_match_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = Contract::of(&server).await;
    let admin = server.admin().await;
    let c = server.login(&phone(77, 3)).await;
    let m = make_merchant(&server, &admin, &phone(77, 4)).await;
    let mt = Some(m.token.as_str());
    let ids = [
        upload(&server, &c, "a", "88.50").await,
        upload(&server, &c, "b", "20").await,
        upload(&server, &c, "c", "35.5").await,
        upload(&server, &c, "d", "12").await,
    ];

    let pending =
        api.ok("get", "/api/merchant/reviews/pending", &server.get("/api/merchant/reviews/pending", mt).await);
    let link = pending["reviews"][0]["image_url"].as_str().expect("image_url").to_string();
    assert!(link.starts_with("/files/receipts/"), "a local signed link under a nested key: {link}");
    let file = server.http.get(server.absolute(&link)).send().await.expect("request");
    assert_eq!(file.status().as_u16(), 200, "the documented /files/{{key}} serves a nested key");
    let content_type = file.headers()["content-type"].to_str().unwrap_or_default().to_string();
    let served = &api.operation("get", "/files/{key}")["responses"]["200"]["content"];
    assert!(served.get(&content_type).is_some(), "{content_type} is not among the documented types {served}");
    let unsigned = link.split('?').next().unwrap_or_default().to_string();
    api.refused("get", "/files/{key}", &server.get(&unsigned, None).await, 403, 2002);
    let malformed = server.get(&format!("{unsigned}?expires=soon&sig=x"), None).await;
    api.refused("get", "/files/{key}", &malformed, 403, 2002);

    let body = json!({ "upload_id": ids[0], "action": "approve", "actual_amount": 88.5, "reason": "清晰" });
    api.ok("post", "/api/merchant/review", &server.post("/api/merchant/review", mt, body.clone()).await);
    api.refused("post", "/api/merchant/review", &server.post("/api/merchant/review", mt, body).await, 409, 6004);
    let no_amount = json!({ "upload_id": ids[1], "action": "approve" });
    api.refused("post", "/api/merchant/review", &server.post("/api/merchant/review", mt, no_amount).await, 400, 6002);
    let unknown = json!({ "upload_id": 99999999, "action": "reject" });
    api.refused("post", "/api/merchant/review", &server.post("/api/merchant/review", mt, unknown).await, 404, 6001);
    let path = format!("/api/merchant/reviews/{}/approve", ids[1]);
    let approved = server.post(&path, mt, json!({ "actual_amount": "20.00" })).await;
    api.ok("post", "/api/merchant/reviews/{upload_id}/approve", &approved);
    let path = format!("/api/merchant/reviews/{}/reject", ids[2]);
    api.ok(
        "post",
        "/api/merchant/reviews/{upload_id}/reject",
        &server.post(&path, mt, json!({ "reason": "看不清" })).await,
    );

    let items = json!({ "items": [
        { "upload_id": ids[3], "action": "approved", "actual_amount": 12 },
        { "upload_id": ids[0], "action": "reject" },
        { "action": "reject" },
    ] });
    let batch =
        api.ok("post", "/api/merchant/reviews/batch", &server.post("/api/merchant/reviews/batch", mt, items).await);
    assert_eq!((batch["succeeded"].as_i64(), batch["failed"].as_i64()), (Some(1), Some(2)), "{batch}");
    assert_eq!(batch["results"][1]["data"], json!({ "current_status": "approved" }), "{batch}");
    assert_eq!(batch["results"][2]["upload_id"], Value::Null, "{batch}");
    let empty = server.post("/api/merchant/reviews/batch", mt, json!({ "items": [] })).await;
    api.refused("post", "/api/merchant/reviews/batch", &empty, 400, 1003);
    api.ok("get", "/api/merchant/statistics", &server.get("/api/merchant/statistics", mt).await);

    let (order_code, prize_code) = codes(&server, &admin, &c).await;
    let verify = |code: &str| server.post("/api/merchant/orders/verify", mt, json!({ "exchange_code": code }));
    assert_eq!(api.ok("post", "/api/merchant/orders/verify", &verify(&order_code).await)["type"], json!("order"));
    assert_eq!(
        api.ok("post", "/api/merchant/orders/verify", &verify(&prize_code.to_lowercase()).await)["type"],
        json!("prize")
    );
    api.refused("post", "/api/merchant/orders/verify", &verify(&order_code).await, 409, 4005);
    api.refused("post", "/api/merchant/orders/verify", &verify("ZZZZZZZZZZ").await, 404, 4004);
    api.refused("post", "/api/merchant/orders/verify", &verify("").await, 400, 1003);

    let applicant = server.login(&phone(77, 5)).await;
    let apply = json!({ "shop_name": "老王面馆", "contact": "13800000000" });
    let at = Some(applicant.token.as_str());
    let application =
        api.ok("post", "/api/merchant/apply", &server.post("/api/merchant/apply", at, apply.clone()).await);
    let again = api.ok("post", "/api/merchant/apply", &server.post("/api/merchant/apply", at, apply).await);
    assert_eq!(application["application_id"], again["application_id"], "one pending application per customer");
    api.refused("post", "/api/merchant/apply", &server.post("/api/merchant/apply", at, json!({})).await, 400, 1003);
}

/// The operator's console: customers, points, bans, roles, applications, the audit log, the
/// wheel, the shop, the test hooks; and the health check.
async fn admin_answers_match_the_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = Contract::of(&server).await;
    let admin = server.admin().await;
    let a = Some(admin.as_str());
    let c = server.login(&phone(77, 6)).await;
    let user = c.user_id;

    api.ok("get", "/api/admin/users", &server.get("/api/admin/users", a).await);
    api.ok("get", "/api/admin/users", &server.get(&format!("/api/admin/users?q={}", &c.phone[..7]), a).await);
    api.refused("get", "/api/admin/users", &server.get("/api/admin/users?limit=51", a).await, 400, 1003);

    let points = format!("/api/admin/users/{user}/points");
    let adjust = |delta: i64, key: &str| {
        let req = server.http.post(server.url(&points)).bearer_auth(&admin).header("Idempotency-Key", key);
        async move {
            let resp = req.json(&json!({ "delta": delta, "reason": "文档" })).send().await.expect("request");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("JSON"))
        }
    };
    api.ok("post", "/api/admin/users/{id}/points", &adjust(500, "docs-a").await);
    let replay = api.ok("post", "/api/admin/users/{id}/points", &adjust(500, "docs-a").await);
    assert_eq!(replay["replayed"], json!(true));
    let refused = api.refused("post", "/api/admin/users/{id}/points", &adjust(-1_000_000, "docs-b").await, 409, 3001);
    assert!(refused["required"].is_i64() && refused["current"].is_i64(), "{refused}");
    let nobody = server.post("/api/admin/users/99999999/points", a, json!({ "delta": 5 })).await;
    api.refused("post", "/api/admin/users/{id}/points", &nobody, 404, 9004);

    let ban = format!("/api/admin/users/{user}/ban");
    assert_eq!(
        api.ok("post", "/api/admin/users/{id}/ban", &server.post(&ban, a, json!({ "banned": true })).await)
            ["is_banned"],
        json!(true)
    );
    assert_error(&server.get("/api/user/info", Some(&c.token)).await, 403, 2005);
    api.ok("post", "/api/admin/users/{id}/ban", &server.post(&ban, a, json!({ "banned": false })).await);
    let nobody = server.post("/api/admin/users/99999999/ban", a, json!({ "banned": true })).await;
    api.refused("post", "/api/admin/users/{id}/ban", &nobody, 404, 9004);
    let merchant = format!("/api/admin/users/{user}/merchant");
    api.ok("post", "/api/admin/users/{id}/merchant", &server.post(&merchant, a, json!({ "is_merchant": true })).await);
    api.refused("post", "/api/admin/users/{id}/merchant", &server.post(&merchant, a, json!({})).await, 400, 1003);

    let mut decided = Vec::new();
    for (i, approve) in [(7, true), (8, false)] {
        let applicant = server.login(&phone(77, i)).await;
        let body = json!({ "shop_name": format!("店{i}"), "contact": "021-12345678" });
        let app = assert_ok(&server.post("/api/merchant/apply", Some(&applicant.token), body).await);
        decided.push((app["application_id"].as_i64().expect("id"), approve));
    }
    let list = api.ok(
        "get",
        "/api/admin/merchant-applications",
        &server.get("/api/admin/merchant-applications?status=pending", a).await,
    );
    assert_eq!(list["applications"].as_array().map(Vec::len), Some(2), "{list}");
    for (id, approve) in &decided {
        let verb = if *approve { "approve" } else { "reject" };
        let template = format!("/api/admin/merchant-applications/{{id}}/{verb}");
        let path = format!("/api/admin/merchant-applications/{id}/{verb}");
        api.ok("post", &template, &server.post(&path, a, json!({})).await);
        let data = api.refused("post", &template, &server.post(&path, a, json!({})).await, 409, 6004);
        assert!(data["current_status"].is_string(), "{data}");
    }
    let nobody = server.post("/api/admin/merchant-applications/99999999/approve", a, json!({})).await;
    api.refused("post", "/api/admin/merchant-applications/{id}/approve", &nobody, 404, 9004);
    api.ok("get", "/api/admin/merchant-applications", &server.get("/api/admin/merchant-applications", a).await);

    let wheel = api.ok("get", "/api/admin/lottery/prizes", &server.get("/api/admin/lottery/prizes", a).await);
    let replaced = server.put("/api/admin/lottery/prizes", a, json!({ "prizes": wheel["prizes"] })).await;
    // Replacing the sectors gives them new ids.
    let wheel = api.ok("put", "/api/admin/lottery/prizes", &replaced);
    let seven = json!({ "prizes": wheel["prizes"].as_array().map(|p| p[..7].to_vec()) });
    api.refused(
        "put",
        "/api/admin/lottery/prizes",
        &server.put("/api/admin/lottery/prizes", a, seven).await,
        400,
        1003,
    );
    api.ok("get", "/api/admin/lottery/settings", &server.get("/api/admin/lottery/settings", a).await);
    let settings =
        json!({ "campaign_name": "文档周", "daily_limit": 50, "starts_at": "2026-01-01T00:00:00Z", "ends_at": null });
    let changed =
        api.ok("put", "/api/admin/lottery/settings", &server.put("/api/admin/lottery/settings", a, settings).await);
    assert_eq!(changed["settings"]["starts_at"], json!("2026-01-01T00:00:00.000Z"));
    let limited = wheel["prizes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["stock_left"].is_i64() && !p["is_fallback"].as_bool().unwrap_or(true)))
        .unwrap_or_else(|| panic!("a prize with limited stock: {wheel}"));
    let restock = format!("/api/admin/lottery/prizes/{}/stock", limited["id"]);
    api.ok("post", "/api/admin/lottery/prizes/{id}/stock", &server.post(&restock, a, json!({ "add": 5 })).await);
    api.refused(
        "post",
        "/api/admin/lottery/prizes/{id}/stock",
        &server.post(&restock, a, json!({ "add": 0 })).await,
        400,
        1003,
    );

    let product = json!({ "name": "文档咖啡", "category": "饮品", "exchange_points": 300, "stock": 5, "description": "", "is_hot": true });
    let created = api.ok("post", "/api/admin/products", &server.post("/api/admin/products", a, product).await);
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/admin/products/{id}");
    api.ok("put", "/api/admin/products/{id}", &server.put(&path, a, json!({ "stock": 0, "rating": 4.5 })).await);
    let unknown = server.put("/api/admin/products/99999999", a, json!({ "stock": 1 })).await;
    api.refused("put", "/api/admin/products/{id}", &unknown, 404, 4001);
    let restocked = server.post(&format!("{path}/restock"), a, json!({ "quantity": 3 })).await;
    api.ok("post", "/api/admin/products/{id}/restock", &restocked);
    let delisted = api.ok("delete", "/api/admin/products/{id}", &delete(&server, &path, &admin).await);
    assert_eq!(delisted["status"], json!("delisted"));

    let log = api.ok("get", "/api/admin/audit-log", &server.get("/api/admin/audit-log?limit=50", a).await);
    assert!(log["entries"].as_array().is_some_and(|e| e.len() >= 10), "{log}");
    api.ok("get", "/api/admin/audit-log", &server.get("/api/admin/audit-log?action=user.ban", a).await);

    let hook = format!("/api/admin/test-hooks/wallets/{user}/panic");
    api.ok("post", "/api/admin/test-hooks/wallets/{id}/panic", &server.post(&hook, a, json!({})).await);
    api.ok(
        "post",
        "/api/admin/test-hooks/wheel/panic",
        &server.post("/api/admin/test-hooks/wheel/panic", a, json!({})).await,
    );
    let stock = server.post("/api/admin/test-hooks/stock-ledger/panic", a, json!({})).await;
    api.ok("post", "/api/admin/test-hooks/stock-ledger/panic", &stock);
    let hook = format!("/api/admin/test-hooks/wallets/{user}/block");
    api.ok("post", "/api/admin/test-hooks/wallets/{id}/block", &server.post(&hook, a, json!({ "ms": 1 })).await);
    let no_time = server.post(&hook, a, json!({ "ms": 0 })).await;
    api.refused("post", "/api/admin/test-hooks/wallets/{id}/block", &no_time, 400, 1003);
    let busy = server.post("/api/admin/test-hooks/stock-ledger/block", a, json!({ "ms": 1 })).await;
    api.ok("post", "/api/admin/test-hooks/{actor}/block", &busy);
    let nobody = server.post("/api/admin/test-hooks/review-queue/block", a, json!({ "ms": 1 })).await;
    api.refused("post", "/api/admin/test-hooks/{actor}/block", &nobody, 404, 9004);
    let clock = server.post("/api/admin/test-hooks/clock", a, json!({ "offset_ms": 0 })).await;
    api.ok("post", "/api/admin/test-hooks/clock", &clock);
    let too_far = server.post("/api/admin/test-hooks/clock", a, json!({ "offset_ms": i64::MAX })).await;
    api.refused("post", "/api/admin/test-hooks/clock", &too_far, 400, 1003);

    api.ok("get", "/health", &server.get("/health", None).await);
    let metrics = server.http.get(server.url("/metrics")).send().await.expect("request");
    assert_eq!(metrics.status().as_u16(), 200);
    let content_type = metrics.headers()["content-type"].to_str().unwrap_or_default().to_string();
    let documented = &api.operation("get", "/metrics")["responses"]["200"]["content"];
    assert!(documented.get(&content_type).is_some(), "/metrics answers {content_type}, documented {documented}");
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

/// The `src` and `href` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// `GET /api/docs` (after its redirect to `/api/docs/`) is an HTML page whose scripts and
/// stylesheets all come from this server and which loads this server's document; both the page
/// and the document are public and not behind the per-IP limiter.
async fn docs_page_is_html_and_not_rate_limited(backend: Backend) {
    let server = TestServer::start_with(backend, &[("RATE_LIMIT_PER_IP_PER_MIN", "1")]).await;
    let resp = server.http.get(server.url("/api/docs")).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.url().path(), "/api/docs/", "the page is served after the redirect");
    let ct = resp.headers()["content-type"].to_str().unwrap_or_default().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = resp.text().await.expect("body");
    let refs = references(&html);
    assert!(refs.iter().any(|r| r.ends_with(".js")), "the page loads its scripts: {html}");
    let mut loads_document = false;
    for r in &refs {
        assert!(!r.contains("://") && !r.starts_with("//"), "the page loads `{r}` from another host");
        let asset = server
            .http
            .get(server.url(&format!("/api/docs/{}", r.trim_start_matches("./"))))
            .send()
            .await
            .expect("asset");
        assert_eq!(asset.status().as_u16(), 200, "the page's `{r}` is served");
        if r.ends_with(".js") {
            loads_document |= asset.text().await.expect("script").contains("\"/api/docs/openapi.json\"");
        }
    }
    assert!(loads_document, "no script of the page loads /api/docs/openapi.json");

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
    every_reference_in_the_document_resolves,
    document_lists_exactly_the_contracts_routes,
    every_operation_is_described,
    documented_security_matches_the_server,
    customer_answers_match_the_document,
    account_answers_match_the_document,
    merchant_answers_match_the_document,
    loyalty_answers_match_the_document,
    admin_answers_match_the_document,
    docs_page_is_html_and_not_rate_limited,
);
