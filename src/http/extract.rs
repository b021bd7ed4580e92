//! Extractors, so handlers never parse headers or bodies by hand: JSON bodies and query strings
//! whose failures become 1003 envelopes naming the field, the authenticated customer or admin,
//! the client's address and the idempotency key.

use crate::domain::time::wall_ms;
use crate::domain::DomainError;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::auth::tokens::{AccessClaims, TokenError};
use crate::auth::SubjectKind;
use crate::domain::PageRequest;

/// A JSON body. Lenient about `Content-Type` (mini-program clients vary), strict about content:
/// malformed JSON or a wrong field is a 1003 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::bad("body", "could not be read")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || inner.is_syntax() || inner.is_eof() { "body".to_string() } else { path };
        ApiError::bad(&field, short(inner.to_string()))
    })
}

/// serde messages end in "at line 1 column 12"; the position says nothing to a mini-program.
fn short(msg: String) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// The query string as text pairs; each handler parses the fields it knows.
pub struct ApiQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad("query", "could not be parsed"))?;
        Ok(ApiQuery(map))
    }
}

impl ApiQuery {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.0.get("page").map(String::as_str), self.0.get("limit").map(String::as_str))?)
    }

    /// An optional value that must be one of `allowed`.
    pub fn one_of<'a>(&'a self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(_) => Err(ApiError::bad(key, format!("must be one of {}", allowed.join(", ")))),
        }
    }
}

/// A signed-in customer (not banned).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub claims: AccessClaims,
}

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub admin_id: i64,
    pub username: String,
    pub claims: AccessClaims,
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then_some(token)
}

pub fn verify_access(state: &AppState, headers: &HeaderMap) -> Result<AccessClaims, ApiError> {
    let token = bearer(headers).ok_or(ApiError::TokenMissing)?;
    state.tokens.verify_access(token).map_err(|e| match e {
        TokenError::Invalid | TokenError::Revoked => ApiError::TokenInvalid,
    })
}

/// A ban revokes the customer's sessions; their genuine tokens still answer 2005 (banned), not
/// 2002, while the ban lasts.
fn banned_first(state: &AppState, headers: &HeaderMap, refused: ApiError) -> ApiError {
    let banned = bearer(headers)
        .and_then(|t| state.tokens.decode_access(t).ok())
        .is_some_and(|c| c.kind == SubjectKind::User && state.banned.contains(&c.user_id));
    if banned {
        ApiError::Refused(DomainError::Banned)
    } else {
        refused
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = verify_access(state, &parts.headers).map_err(|e| banned_first(state, &parts.headers, e))?;
        if claims.kind != SubjectKind::User {
            return Err(ApiError::TokenInvalid);
        }
        if state.banned.contains(&claims.user_id) {
            return Err(ApiError::Refused(DomainError::Banned));
        }
        Ok(AuthUser { user_id: claims.user_id, claims })
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = verify_access(state, &parts.headers)?;
        if claims.kind != SubjectKind::Admin {
            return Err(ApiError::AdminRequired);
        }
        // The admin may have been removed, or its password reset by `create-admin` in another
        // process (which revokes its families in the store only): ask the store, now and then.
        let now = wall_ms();
        if !state.tokens.admin_recently_confirmed(&claims.fam, now) {
            let live = state.store.admin(claims.user_id).await?.is_some()
                && state.store.token_family_live(&claims.fam).await?;
            if !live {
                state.tokens.mark_revoked(&claims.fam);
                return Err(ApiError::TokenInvalid);
            }
            state.tokens.confirm_admin(&claims.fam, now);
        }
        Ok(AdminUser { admin_id: claims.user_id, username: claims.mobile.clone(), claims })
    }
}

/// A signed-in customer who holds the merchant role right now (the role is read live, so a
/// revoked merchant loses access at once, whatever the token says).
#[derive(Debug, Clone)]
pub struct MerchantUser {
    pub user_id: i64,
}

impl FromRequestParts<AppState> for MerchantUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let row = state.store.user(user.user_id).await?.ok_or(ApiError::TokenInvalid)?;
        if !row.is_merchant {
            return Err(ApiError::MerchantRequired);
        }
        Ok(MerchantUser { user_id: user.user_id })
    }
}

/// An id a client may send as a number or as a numeric string.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IdInput {
    Number(i64),
    #[schema(example = "42")]
    Text(String),
}

impl IdInput {
    pub fn parse(&self, field: &str) -> Result<i64, ApiError> {
        let id = match self {
            IdInput::Number(n) => Some(*n),
            IdInput::Text(t) => t.trim().parse().ok(),
        };
        id.filter(|n| *n > 0).ok_or_else(|| ApiError::bad(field, "must be a positive integer id"))
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when the server is
/// configured to trust its proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip(parts, state.config.trust_proxy_hops)))
    }
}

/// The client's address: the peer, or behind `hops` proxies of the operator's, the `hops`-th
/// `X-Forwarded-For` entry from the right. Each proxy appends the address it saw, so the entries
/// on the right are the proxies' own; whatever the client wrote is further left and never used.
pub fn client_ip(parts: &Parts, hops: usize) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    forwarded_client(forwarded, hops).unwrap_or(peer)
}

/// The rule of [`client_ip`] on the header values, in order. `None` means "use the peer": no
/// proxies trusted, no header, or an entry that is not an address. With fewer entries than hops
/// the request skipped an outer proxy, and every entry is still a proxy's: the left-most is used.
pub fn forwarded_client<'a>(values: impl Iterator<Item = &'a str>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).filter(|e| !e.is_empty()).collect();
    let chosen = entries.len().checked_sub(hops).map_or(entries.first(), |i| entries.get(i))?;
    parse_forwarded_addr(chosen)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// What limiters count by: an IPv4 address, or an IPv6 client's /64 (one subscriber's network;
/// rotating through it must not buy more requests).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// `Idempotency-Key` header, or the body's `request_id`: 1–128 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap, body_request_id: Option<&str>) -> Result<Option<String>, ApiError> {
    let raw = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::bad("Idempotency-Key", "must be visible ASCII"))?),
        None => body_request_id,
    };
    match raw.map(str::trim) {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        Some(_) => Err(ApiError::bad("Idempotency-Key", "must be 1-128 visible ASCII characters")),
    }
}

/// A path parameter; a malformed one is a 1003 naming it.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::bad("path", "a path parameter is malformed"))
    }
}

/// Free text from a client: trimmed, `max` characters at most, no control characters.
pub fn clean_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    let n = text.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad(field, format!("must be {min}-{max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        phone: String,
        code: String,
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::Refused(crate::domain::DomainError::InvalidInput { field, reason }) => {
                format!("{field}: {reason}")
            }
            other => panic!("expected 1003, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Login>(br#"{"phone": 5, "code": "1"}"#).unwrap_err();
        assert!(message(e).starts_with("phone:"));
        let e = parse_json::<Login>(br#"{"phone": "1"}"#).unwrap_err();
        assert!(message(e).contains("code"));
        let e = parse_json::<Login>(b"{not json").unwrap_err();
        assert!(message(e).starts_with("body:"));
        assert!(parse_json::<Login>(br#"{"phone":"1","code":"2"}"#).is_ok());
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h, None).unwrap(), None);
        assert_eq!(idempotency_key(&h, Some("abc")).unwrap(), Some("abc".into()));
        h.insert("idempotency-key", "k-1".parse().unwrap());
        assert_eq!(idempotency_key(&h, Some("abc")).unwrap(), Some("k-1".into()));
        h.insert("idempotency-key", "x".repeat(129).parse().unwrap());
        assert!(idempotency_key(&h, None).is_err());
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_by_the_number_of_trusted_hops() {
        let one = ["10.9.9.9, 203.0.113.7"];
        assert_eq!(forwarded_client(one.into_iter(), 0), None, "no proxies trusted: the peer");
        assert_eq!(forwarded_client(one.into_iter(), 1), Some(ip("203.0.113.7")));
        assert_eq!(forwarded_client(one.into_iter(), 2), Some(ip("10.9.9.9")));
        // The client's own entries on the left never win, however many it writes.
        let spoofed = ["1.1.1.1, 2.2.2.2, 3.3.3.3, 198.51.100.4"];
        assert_eq!(forwarded_client(spoofed.into_iter(), 1), Some(ip("198.51.100.4")));
        // Several header lines are one list, in order.
        let lines = ["1.1.1.1", "198.51.100.4, 10.0.0.2"];
        assert_eq!(forwarded_client(lines.into_iter(), 2), Some(ip("198.51.100.4")));
        // Fewer entries than hops: all are proxies' entries; the left-most is the closest to the client.
        assert_eq!(forwarded_client(["198.51.100.4"].into_iter(), 3), Some(ip("198.51.100.4")));
        // Ports, brackets and IPv4-mapped IPv6 are understood; garbage means the peer.
        assert_eq!(forwarded_client(["203.0.113.7:5555"].into_iter(), 1), Some(ip("203.0.113.7")));
        assert_eq!(forwarded_client(["[2001:db8::1]:443"].into_iter(), 1), Some(ip("2001:db8::1")));
        assert_eq!(forwarded_client(["::ffff:203.0.113.7"].into_iter(), 1), Some(ip("203.0.113.7")));
        assert_eq!(forwarded_client(["1.1.1.1, not-an-ip"].into_iter(), 1), None);
        assert_eq!(forwarded_client(std::iter::empty(), 1), None);
        assert_eq!(forwarded_client([" , "].into_iter(), 1), None);
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), limit_key(ip("2001:db8:1:2::7")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
