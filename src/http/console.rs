//! `/console/`: the merchant and admin web console, served from files compiled into the binary
//! (`console/` at the repository root, through rust-embed): nothing to build, install or fetch
//! at run time, no CDN. The pages are plain HTML, CSS and JavaScript modules that speak the
//! public API (same origin) and `/ws`; this module owns only serving them.
//!
//! Caching: every file is answered with `Cache-Control: no-cache` and an `ETag` (the file's
//! SHA-256, computed at compile time), so a browser revalidates and gets `304` until the server
//! is upgraded, and never runs a stale script beside a newer API. Pages carry a
//! Content-Security-Policy that allows only this origin's scripts and styles (images may come
//! from object storage's signed links, which can be another host).
//!
//! Outside the per-IP limiter, like the API docs: the files cost no store read.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::AppState;

#[derive(RustEmbed)]
#[folder = "console/"]
struct Assets;

/// What pages may load: this origin's scripts, styles and sockets; images also from elsewhere
/// (S3 presigned links) and `data:` (charts).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https: http:; \
connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bare)).routes(routes!(index)).routes(routes!(file))
}

/// The console (redirect)
///
/// Redirects to `/console/`, so that the page's relative links resolve under it.
///
/// Errors: 9004
#[utoipa::path(get, path = "/console", tag = "ops",
    responses((status = 200, description = "HTML (after a 308 redirect to `/console/`)",
        content_type = "text/html", body = String)))]
async fn bare() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/console/")]).into_response()
}

/// The merchant and admin console
///
/// The console's page (Chinese UI): merchants sign in by phone and code, admins by username and
/// password; everything it shows comes from this API and `/ws`.
///
/// Errors: 9004
#[utoipa::path(get, path = "/console/", tag = "ops",
    responses((status = 200, description = "The console's HTML page", content_type = "text/html", body = String)))]
async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// A file of the console
///
/// A script, style sheet or image of the console, compiled into the server. An unknown file is
/// 404 (9004).
///
/// Errors: 9004
#[utoipa::path(get, path = "/console/{*file}", tag = "ops",
    params(("file" = String, Path, description = "The file, e.g. `app.js` or `vendor/…` (may contain `/`)")),
    responses((status = 200, description = "The file, with its content type", content(
        (String = "text/javascript"),
        (String = "text/css"),
        (String = "text/html"),
        (String = "image/png"),
    ))))]
async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_string() };
    let Some(asset) = Assets::get(&path) else {
        return ApiError::RouteNotFound.into_response();
    };
    let etag = format!("\"{}\"", hex::encode(asset.metadata.sha256_hash()));
    let mime = asset.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        // mime_guess names .js `application/javascript`; browsers want a charset for Chinese text.
        format!("{}; charset=utf-8", if mime == "application/javascript" { "text/javascript" } else { mime })
    } else {
        mime.to_string()
    };
    let mut response = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], asset.data.into_owned()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_are_compiled_in() {
        for f in ["index.html", "app.js", "style.css"] {
            assert!(Assets::get(f).is_some(), "{f} is not embedded");
        }
    }

    #[test]
    fn files_have_their_content_type_and_revalidate_by_etag() {
        let r = serve("app.js", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = r.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("app.js", &again).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("", &HeaderMap::new()).headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(serve("style.css", &HeaderMap::new()).headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(serve("nope.js", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
