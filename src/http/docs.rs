//! `/api/docs`: the project's own OpenAPI 3.1 document and a page that renders it. The document is
//! hand-written in `docs/openapi.json` (keep it in step with the routers) and embedded at compile
//! time; `GET /api/docs/openapi.json` serves it as is, and `GET /api/docs` serves a small
//! self-contained HTML page (no external scripts, so it works offline) that fetches the document
//! and lists every operation by tag. Both are public and outside the per-IP limiter.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

/// `docs/openapi.json`, as built into the binary.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

pub fn router() -> Router<AppState> {
    Router::new().route("/api/docs", get(page)).route("/api/docs/openapi.json", get(openapi))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Renders `openapi.json`: per tag, each operation's method, path, summary, parameters, request
/// fields, success `data` fields and error codes (the WebSocket's messages too).
const PAGE: &str = r##"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API docs</title>
<style>
body { font: 14px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1em; color: #222; }
h2 { border-bottom: 2px solid #ddd; margin-top: 1.6em; }
details { border: 1px solid #ddd; border-radius: 4px; margin: .35em 0; padding: .3em .7em; }
summary { cursor: pointer; }
.m { display: inline-block; min-width: 4.2em; font: bold 13px monospace; text-transform: uppercase; }
.get { color: #0a7 } .post { color: #06c } .put { color: #b70 } .delete { color: #c22 }
.path { font-family: monospace; font-weight: bold; margin-right: .8em; }
.lock { color: #b70; font-size: 12px; margin-left: .5em; }
table { border-collapse: collapse; margin: .2em 0 .6em; }
td, th { border: 1px solid #e4e4e4; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } h4 { margin: .6em 0 .1em; } code { font-family: monospace; }
</style>
</head>
<body>
<h1 id="title">API</h1>
<p id="desc"></p>
<p>Source: <a href="/api/docs/openapi.json">openapi.json</a></p>
<div id="app">Loading…</div>
<script>
"use strict";
let doc = {};
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const resolve = (s) => {
  while (s && s.$ref) s = s.$ref.split("/").slice(1).reduce((o, k) => (o || {})[k], doc);
  return s || {};
};
function typeOf(s) {
  if (s && s.$ref) {
    const r = resolve(s);
    return r.type === "object" || r.allOf ? s.$ref.split("/").pop() : typeOf(r);
  }
  s = s || {};
  if (s.allOf) return s.allOf.map(typeOf).join(" & ");
  if (s.oneOf) return s.oneOf.map(typeOf).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.format === "binary") return "file";
  let t = s.type === "array" ? typeOf(s.items) + "[]" : [].concat(s.type || "any").join(" | ");
  if (s.enum) t += ": " + s.enum.join(" | ");
  const lim = [["minimum", "≥ "], ["maximum", "≤ "], ["minLength", "len ≥ "], ["maxLength", "len ≤ "], ["default", "default "]];
  const extra = lim.filter(([k]) => s[k] !== undefined).map(([k, p]) => p + s[k]);
  return extra.length ? t + " (" + extra.join(", ") + ")" : t;
}
function fields(s) {
  s = resolve(s);
  const out = {};
  for (const part of s.allOf || []) Object.assign(out, fields(part));
  const req = new Set(s.required || []);
  for (const [k, v] of Object.entries(s.properties || {})) out[k] = { s: v, req: req.has(k) };
  return out;
}
const table = (head, rows) => rows.length
  ? "<table><tr>" + head.map((h) => "<th>" + h + "</th>").join("") + "</tr>" +
    rows.map((r) => "<tr>" + r.map((c) => "<td>" + c + "</td>").join("") + "</tr>").join("") + "</table>"
  : "<p>—</p>";
const fieldRows = (f) => Object.entries(f).map(([k, v]) =>
  ["<code>" + esc(k) + "</code>", esc(typeOf(v.s)), v.req ? "yes" : "", esc(resolve(v.s).description || v.s.description)]);
function successData(op) {
  const ok = (op.responses || {})["200"];
  const schema = ok && ok.content && ok.content["application/json"] && ok.content["application/json"].schema;
  const data = schema && (schema.allOf || []).map((p) => (p.properties || {}).data).find(Boolean);
  if (!data) return "";
  const r = resolve(data);
  const f = fields(data);
  if (!Object.keys(f).length) return "<h4>Success data</h4><p><code>" + esc(typeOf(data)) + "</code></p>";
  return "<h4>Success data <code>" + esc(data.$ref ? data.$ref.split("/").pop() : "") + "</code></h4>" +
    "<p>" + Object.keys(f).map((k) => "<code>" + esc(k) + "</code>").join(", ") + (r.oneOf ? " (one of several shapes)" : "") + "</p>";
}
function renderOp(path, method, op, codes) {
  let h = "<details><summary><span class='m " + method + "'>" + method + "</span><span class='path'>" + esc(path) +
    "</span>" + esc(op.summary) + ((op.security || []).length ? "<span class='lock'>🔒 bearer</span>" : "") + "</summary>";
  if (op.description) h += "<p>" + esc(op.description).replace(/\n/g, "<br>") + "</p>";
  const params = (op.parameters || []).map(resolve);
  if (params.length) h += "<h4>Parameters</h4>" + table(["name", "in", "type", "required", "description"],
    params.map((p) => ["<code>" + esc(p.name) + "</code>", p.in, esc(typeOf(p.schema)), p.required ? "yes" : "", esc(p.description)]));
  for (const [ct, body] of Object.entries((op.requestBody || {}).content || {})) {
    const s = resolve(body.schema);
    h += "<h4>Request body <code>" + esc(ct) + "</code></h4>" + (s.description ? "<p>" + esc(s.description) + "</p>" : "") +
      table(["field", "type", "required", "description"], fieldRows(fields(body.schema)));
  }
  h += successData(op);
  const errs = op["x-error-codes"] || [];
  if (errs.length) h += "<h4>Error codes</h4>" + table(["HTTP", "code", "msg"],
    errs.map((e) => [e.status, e.code, esc((codes[e.code] || {}).t)]));
  const ws = op["x-websocket-messages"];
  if (ws) {
    h += "<h4>Server → client messages</h4>" + table(["type", "when", "data"], ws.server.map((m) =>
      ["<code>" + m.type + "</code>", esc(m.when), Object.keys(fields(m.data)).map(esc).join(", ")]));
    h += "<h4>Client → server messages</h4>" + table(["type", "when", "fields"], ws.client.map((m) =>
      ["<code>" + m.type + "</code>", esc(m.when), Object.keys(fields(m.message)).map(esc).join(", ")]));
    h += "<h4>Close codes</h4>" + table(["code", "meaning"], ws.close_codes.map((c) => [c.code, esc(c.meaning)]));
  }
  return h + "</details>";
}
fetch("/api/docs/openapi.json").then((r) => r.json()).then((d) => {
  doc = d;
  document.getElementById("title").textContent = d.info.title + " — " + d.info.version + " (OpenAPI " + d.openapi + ")";
  document.getElementById("desc").textContent = d.info.description || "";
  const codes = {};
  for (const c of resolve({ $ref: "#/components/schemas/ErrorCode" }).oneOf || []) codes[c.const] = { t: c.title, d: c.description };
  const byTag = {};
  for (const [path, item] of Object.entries(d.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ||= []).push(renderOp(path, method, op, codes));
  const tags = (d.tags || []).map((t) => t.name).concat(Object.keys(byTag)).filter((t, i, a) => a.indexOf(t) === i && byTag[t]);
  const desc = Object.fromEntries((d.tags || []).map((t) => [t.name, t.description]));
  document.getElementById("app").innerHTML = tags.map((t) => "<h2>" + esc(t) + " <small>" + esc(desc[t]) + " · " +
    byTag[t].length + "</small></h2>" + byTag[t].join("")).join("") +
    "<h2>Error codes</h2>" + table(["code", "msg", "meaning"], Object.entries(codes).map(([c, m]) => [c, esc(m.t), esc(m.d)]));
}).catch((e) => { document.getElementById("app").textContent = "Could not load openapi.json: " + e; });
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_document_is_openapi_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert!(PAGE.contains("/api/docs/openapi.json"));
        assert!(!PAGE.contains("<script src"), "the page must not load external scripts");
    }
}
