//! `/api/docs`: the OpenAPI 3.1 document, generated from the code, and swagger-ui to read it.
//!
//! Every route is registered through utoipa-axum's `routes!`, which takes the path, methods,
//! parameters, request body and typed answers from each handler's `#[utoipa::path]`; so a route
//! cannot be served without being in the document, and the document cannot promise a shape the
//! handler does not return. [`finish`] then adds what is the same for every operation and lives
//! in one table elsewhere: the envelope, the error codes (from `ERROR_CODES`, with their HTTP
//! statuses and Chinese messages), bearer security, and the WebSocket's messages and close codes.
//!
//! A handler lists the codes it can answer on one line of its doc comment, `Errors: 3001 3002`;
//! the codes every operation shares (1000, 9001 under `/api`, 2001/2002 with a token) are added
//! here. The document is rendered once at start; swagger-ui's files are compiled into the binary
//! (`utoipa-swagger-ui` with `vendored`), so the page needs no CDN. Both are public and outside
//! the per-IP limiter.

use std::collections::BTreeMap;

use axum::Router;
use serde_json::{json, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::envelope::{Empty, ErrorEnvelope};
use super::error::ERROR_CODES;
use super::AppState;

/// Where the document and the page are served.
pub const DOCS_PATH: &str = "/api/docs";
pub const DOCUMENT_PATH: &str = "/api/docs/openapi.json";

/// The tags, in the order a reader meets them.
pub const TAGS: &[(&str, &str)] = &[
    ("auth", "登录与令牌 — sign-in by SMS code, token refresh, admin sign-in"),
    ("user", "用户 — the customer's account, profile, points history"),
    ("lottery", "抽奖 — the prize wheel, draws, history, prizes"),
    ("exchange", "积分商城 — the points shop and orders"),
    ("photo", "小票 — receipt photos for review"),
    ("merchant", "商家 — reviewing receipts and verifying codes"),
    ("loyalty", "会员 — the points account, check-in, tasks, leaderboards"),
    ("admin", "管理 — the operator's console API"),
    ("ops", "运维 — health, metrics, documents"),
    ("websocket", "实时 — the live channel"),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "restaurant-lottery",
        description = "餐厅积分抽奖服务的接口。Every answer is the envelope `{code, msg, data}`: \
                       `code` 0 is success; any other code is listed under each operation's \
                       responses and in the `ErrorCode` schema, with its HTTP status and the \
                       Chinese `msg` the mini-program shows."
    ),
    components(schemas(ErrorEnvelope, Empty)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        scheme.description = Some(
            "The access token from /api/auth/login (or admin-login), as `Authorization: Bearer …`. \
             The WebSocket also takes it as `?token=`."
                .into(),
        );
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(scheme));
    }
}

/// The axum router with swagger-ui and the finished document mounted.
pub fn mount(router: Router<AppState>, document: &Value) -> Router<AppState> {
    let ui = SwaggerUi::new(DOCS_PATH).external_url_unchecked(DOCUMENT_PATH, document.clone());
    router.merge(Router::from(ui))
}

/// The document as served: what the handlers declared, plus what every operation shares.
pub fn finish(openapi: utoipa::openapi::OpenApi, websocket: Value) -> Value {
    let mut doc = serde_json::to_value(&openapi).unwrap_or_else(|_| json!({}));
    name_wildcards(&mut doc);
    doc["tags"] = Value::Array(TAGS.iter().map(|(name, d)| json!({ "name": name, "description": d })).collect());
    add_error_codes(&mut doc);
    add_docs_routes(&mut doc);
    if let Some(ws) = doc.pointer_mut("/paths/~1ws/get") {
        ws["x-websocket-messages"] = websocket;
    }
    let paths: Vec<String> = doc["paths"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    unique_operation_ids(&mut doc, &paths);
    one_of_to_any_of(&mut doc);
    for path in paths {
        let Some(item) = doc["paths"][&path].as_object_mut() else { continue };
        for (_, op) in item.iter_mut() {
            describe_errors(&path, op);
        }
    }
    doc
}

/// utoipa names an operation after its handler function, so two areas' `statistics` (or one
/// handler serving PUT and POST) would share an id, which OpenAPI forbids and code generators
/// trip over: a repeated id gets its tag in front, and the method behind if it still repeats.
fn unique_operation_ids(doc: &mut Value, paths: &[String]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut ops = Vec::new();
    for path in paths {
        for (method, op) in doc["paths"][path].as_object().into_iter().flatten() {
            if let Some(id) = op["operationId"].as_str() {
                *seen.entry(id.to_string()).or_default() += 1;
                let tag = op["tags"][0].as_str().unwrap_or("api").to_string();
                ops.push((path.clone(), method.clone(), id.to_string(), tag));
            }
        }
    }
    let tagged: Vec<String> = ops.iter().map(|(_, _, id, tag)| format!("{tag}_{id}")).collect();
    for ((path, method, id, _), with_tag) in ops.iter().zip(&tagged) {
        if seen[id] < 2 {
            continue;
        }
        let unique = if tagged.iter().filter(|t| *t == with_tag).count() > 1 {
            format!("{with_tag}_{method}")
        } else {
            with_tag.clone()
        };
        doc["paths"][path][method]["operationId"] = Value::String(unique);
    }
}

/// utoipa writes every union as `oneOf`, which requires an answer to match exactly one branch.
/// Ours are untagged shapes a client tells apart by their fields (verify-token's customer or
/// admin, a batch item's decision or refusal, a value or null), and a shape with fewer fields
/// also matches a richer answer; `anyOf` says what is meant. Tagged unions (the WebSocket's
/// `type`) stay exclusive through their tag either way.
fn one_of_to_any_of(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(branches) = o.remove("oneOf") {
                o.insert("anyOf".into(), branches);
            }
            o.values_mut().for_each(one_of_to_any_of);
        }
        Value::Array(a) => a.iter_mut().for_each(one_of_to_any_of),
        _ => {}
    }
}

/// A handler's path is also its axum route, so a wildcard is written as axum wants it,
/// `/files/{*key}`; OpenAPI has no wildcards, and names the parameter `{key}` (its description
/// says it may contain `/`).
fn name_wildcards(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    let wild: Vec<String> = paths.keys().filter(|p| p.contains("{*")).cloned().collect();
    for path in wild {
        if let Some(item) = paths.remove(&path) {
            paths.insert(path.replace("{*", "{"), item);
        }
    }
}

/// `ErrorCode`: every code, with its statuses and message, as an integer enum.
fn add_error_codes(doc: &mut Value) {
    let table: Vec<String> = ERROR_CODES
        .iter()
        .map(|r| {
            let statuses: Vec<String> = r.statuses.iter().map(u16::to_string).collect();
            format!("- `{}` (HTTP {}): {}", r.code, statuses.join("/"), r.msg)
        })
        .collect();
    let schema = json!({
        "type": "integer",
        "enum": ERROR_CODES.iter().map(|r| r.code).collect::<Vec<_>>(),
        "description": format!("Error codes, the HTTP status each comes with, and `msg`:\n\n{}", table.join("\n")),
        "x-codes": ERROR_CODES,
    });
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("ErrorCode".into(), schema);
    }
    if let Some(code) = doc.pointer_mut("/components/schemas/ErrorEnvelope/properties/code") {
        *code = json!({ "$ref": "#/components/schemas/ErrorCode" });
    }
}

/// The two docs routes are served by swagger-ui's router, not by a handler of ours.
fn add_docs_routes(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    paths.insert(
        DOCS_PATH.into(),
        json!({ "get": {
            "tags": ["ops"],
            "summary": "The API docs page (swagger-ui, served from the binary)",
            "operationId": "docs_page",
            "responses": { "200": { "description": "HTML (after a redirect to `/api/docs/`)",
                "content": { "text/html": { "schema": { "type": "string" } } } } },
        }}),
    );
    paths.insert(
        DOCUMENT_PATH.into(),
        json!({ "get": {
            "tags": ["ops"],
            "summary": "This OpenAPI document",
            "operationId": "docs_document",
            "responses": { "200": { "description": "The OpenAPI 3.1 document",
                "content": { "application/json": { "schema": { "type": "object" } } } } },
        }}),
    );
}

/// The codes an operation lists (`Errors:` in its doc comment) and those every operation of its
/// kind shares become `x-error-codes` and one response per HTTP status, each with the envelope.
fn describe_errors(path: &str, op: &mut Value) {
    let Some(op) = op.as_object_mut() else { return };
    // (code, status): a listed code takes its table row's first status unless it says
    // `code/status` (5003/413); 1000 is both 500 (fault) and 503 (store unavailable).
    let mut codes: Vec<(u32, Option<u16>)> = vec![(1000, Some(500)), (1000, Some(503))];
    if path.starts_with("/api/") && !path.starts_with(DOCS_PATH) {
        codes.push((9001, None));
    }
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    if secured {
        codes.extend([(2001, None), (2002, None)]);
    }
    if let Some(description) = op.get("description").and_then(Value::as_str) {
        let mut kept = Vec::new();
        for line in description.lines() {
            match line.trim().strip_prefix("Errors:") {
                Some(list) => codes.extend(list.split_whitespace().filter_map(parse_code)),
                None => kept.push(line),
            }
        }
        let kept = kept.join("\n").trim().to_string();
        if kept.is_empty() {
            op.remove("description");
        } else {
            op.insert("description".into(), Value::String(kept));
        }
    }
    codes.sort_unstable();
    codes.dedup();

    let mut by_status: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut listed = Vec::new();
    for (code, status) in codes {
        let row = ERROR_CODES.iter().find(|r| r.code == code);
        let status = status.or_else(|| row.and_then(|r| r.statuses.first().copied())).unwrap_or(0);
        let msg = row.map(|r| r.msg).unwrap_or_default();
        // Unknown codes or statuses stay visible, so the docs test can name them.
        by_status.entry(status).or_default().push(format!("{code} {msg}"));
        listed.push(json!({ "code": code, "status": status, "msg": msg }));
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    if let Some(responses) = responses.as_object_mut() {
        for (status, lines) in by_status {
            responses.entry(status.to_string()).or_insert_with(|| {
                json!({
                    "description": lines.join("; "),
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } },
                })
            });
        }
    }
    op.insert("x-error-codes".into(), Value::Array(listed));
}

/// `3001` or `5003/413`.
fn parse_code(word: &str) -> Option<(u32, Option<u16>)> {
    let word = word.trim_matches(',');
    match word.split_once('/') {
        Some((code, status)) => Some((code.parse().ok()?, Some(status.parse().ok()?))),
        None => Some((word.parse().ok()?, None)),
    }
}
