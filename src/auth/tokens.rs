//! Access tokens (HS256, 2 h) and refresh tokens (7 d, single-use, grouped in families).
//!
//! Access and refresh tokens are signed with different secrets and carry a `typ` claim, so one can
//! never stand in for the other. Every token names its family (`fam`); revoking a family — logout,
//! or a refresh token presented twice — kills its access tokens at once through the in-memory
//! revocation set, which is loaded from the store at start and pruned by housekeeping once no
//! token of a family can still be unexpired.
//!
//! A family lives at most `REFRESH_MAX_AGE_DAYS` from its sign-in however often it rotates
//! ([`family_outlived`]). Admin tokens are also checked against the store (the admin still
//! exists, the family is not revoked — a password reset by `create-admin` revokes it from
//! another process); the answer is remembered for [`ADMIN_CHECK_EVERY_MS`].

use std::time::Duration;

use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::time::wall_ms;

pub const REFRESH_TTL_S: i64 = 7 * 24 * 60 * 60;
const ISSUER: &str = "restaurant-lottery";
/// How long a confirmed admin session is trusted before the store is asked again.
pub const ADMIN_CHECK_EVERY_MS: i64 = 2_000;

/// Whether a family signed in at `created_at_ms` has outlived `max_age` at `now_ms`.
pub fn family_outlived(created_at_ms: i64, now_ms: i64, max_age: Duration) -> bool {
    let max_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    now_ms >= created_at_ms.saturating_add(max_ms)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    User,
    Admin,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub user_id: i64,
    /// Masked: a token is readable by anyone who holds it.
    pub mobile: String,
    pub is_merchant: bool,
    pub is_admin: bool,
    pub kind: SubjectKind,
    pub fam: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub typ: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: String,
    pub kind: SubjectKind,
    pub fam: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub typ: String,
}

/// What goes into a new access token besides the bookkeeping claims.
#[derive(Debug, Clone)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: i64,
    pub mobile: String,
    pub is_merchant: bool,
}

#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub refresh_jti: String,
    pub refresh_expires_at_ms: i64,
    /// The access token's lifetime in seconds.
    pub expires_in_s: i64,
}

pub struct Tokens {
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    refresh_enc: EncodingKey,
    refresh_dec: DecodingKey,
    validation: Validation,
    access_ttl_s: i64,
    /// Revoked family → the time (epoch ms) after which none of its tokens can be unexpired.
    revoked_families: DashMap<String, i64>,
    /// Admin family → when the store last confirmed it (epoch ms).
    admin_confirmed: DashMap<String, i64>,
    /// Cluster mode: revocations also go to the other nodes.
    relay: std::sync::OnceLock<crate::cluster::relay::Relay>,
    /// Access tokens already checked (signature, issuer, type), by their exact text, with their
    /// claims. A customer sends the same token with every request for up to two hours, and
    /// checking it again (base64, two JSON parses, an HMAC) was about 5 % of a draw's server
    /// CPU. Only a token equal byte for byte to one that passed is trusted; its expiry is checked
    /// on every use, and revocation and bans after it as before. At most [`VERIFIED_MAX`].
    verified: DashMap<Box<str>, AccessClaims>,
}

/// Verified access tokens remembered at most (about 700 bytes each); the set starts over when full.
const VERIFIED_MAX: usize = 16_384;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is invalid or expired")]
    Invalid,
    #[error("token family was revoked")]
    Revoked,
}

impl Tokens {
    pub fn new(config: &Config) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Tokens {
            access_enc: EncodingKey::from_secret(config.jwt_secret.expose().as_bytes()),
            access_dec: DecodingKey::from_secret(config.jwt_secret.expose().as_bytes()),
            refresh_enc: EncodingKey::from_secret(config.jwt_refresh_secret.expose().as_bytes()),
            refresh_dec: DecodingKey::from_secret(config.jwt_refresh_secret.expose().as_bytes()),
            validation,
            access_ttl_s: i64::try_from(config.sessions.access_ttl.as_secs()).unwrap_or(2 * 60 * 60),
            revoked_families: DashMap::new(),
            admin_confirmed: DashMap::new(),
            relay: std::sync::OnceLock::new(),
            verified: DashMap::new(),
        }
    }

    /// Issues a pair in family `fam`.
    pub fn issue(&self, subject: &Subject, fam: &str) -> Result<TokenPair, jsonwebtoken::errors::Error> {
        // The wall clock: `jsonwebtoken` checks `exp` against it (see crate::domain::time).
        let now_s = wall_ms() / 1000;
        let access = AccessClaims {
            sub: subject.id.to_string(),
            user_id: subject.id,
            mobile: subject.mobile.clone(),
            is_merchant: subject.is_merchant,
            is_admin: subject.kind == SubjectKind::Admin,
            kind: subject.kind,
            fam: fam.to_string(),
            jti: new_id(),
            iat: now_s,
            exp: now_s + self.access_ttl_s,
            iss: ISSUER.into(),
            typ: "access".into(),
        };
        let refresh = RefreshClaims {
            sub: subject.id.to_string(),
            kind: subject.kind,
            fam: fam.to_string(),
            jti: new_id(),
            iat: now_s,
            exp: now_s + REFRESH_TTL_S,
            iss: ISSUER.into(),
            typ: "refresh".into(),
        };
        let header = Header::new(Algorithm::HS256);
        Ok(TokenPair {
            access_token: jsonwebtoken::encode(&header, &access, &self.access_enc)?,
            refresh_token: jsonwebtoken::encode(&header, &refresh, &self.refresh_enc)?,
            refresh_jti: refresh.jti,
            refresh_expires_at_ms: refresh.exp * 1000,
            expires_in_s: self.access_ttl_s,
        })
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = self.decode_access(token)?;
        if self.is_revoked(&claims.fam) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// A genuine, unexpired access token, whether or not its family was revoked (to tell a banned
    /// customer why, after the ban revoked their sessions).
    pub fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now_s = wall_ms() / 1000;
        if let Some(known) = self.verified.get(token) {
            if self.unexpired(known.exp, now_s) {
                return Ok(known.clone());
            }
            drop(known);
            self.verified.remove(token);
            return Err(TokenError::Invalid);
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.access_dec, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != "access" || claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Invalid);
        }
        if self.verified.len() >= VERIFIED_MAX {
            self.verified.clear();
        }
        self.verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// `jsonwebtoken`'s rule for `exp` (seconds), with the same leeway.
    fn unexpired(&self, exp: i64, now_s: i64) -> bool {
        exp >= now_s - i64::try_from(self.validation.leeway).unwrap_or(0)
    }

    /// Checks the signature and expiry only; whether the token was already used is the store's call.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims = jsonwebtoken::decode::<RefreshClaims>(token, &self.refresh_dec, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != "refresh" {
            return Err(TokenError::Invalid);
        }
        if self.is_revoked(&claims.fam) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Revoked now: every token of the family was issued before now, so none outlives a refresh
    /// lifetime from now.
    pub fn mark_revoked(&self, fam: &str) {
        self.mark_revoked_until(fam, wall_ms() + REFRESH_TTL_S * 1000);
    }

    /// Revoked; its tokens all expire by `until_ms` (the family's `expires_at` in the store).
    pub fn mark_revoked_until(&self, fam: &str, until_ms: i64) {
        self.mark_revoked_here(fam, until_ms);
        if let Some(relay) = self.relay.get() {
            relay.revoke(fam, until_ms);
        }
    }

    /// Cluster mode: revocations also go to the other nodes (set once, at start).
    pub fn set_relay(&self, relay: crate::cluster::relay::Relay) {
        let _ = self.relay.set(relay);
    }

    /// A revocation another node made.
    pub fn mark_revoked_here(&self, fam: &str, until_ms: i64) {
        self.admin_confirmed.remove(fam);
        self.revoked_families.entry(fam.to_string()).and_modify(|u| *u = (*u).max(until_ms)).or_insert(until_ms);
    }

    pub fn is_revoked(&self, fam: &str) -> bool {
        self.revoked_families.contains_key(fam)
    }

    /// Forgets revoked families none of whose tokens can still be unexpired at `now_ms`, stale
    /// admin confirmations and expired verified tokens. Returns how many families were forgotten.
    pub fn prune(&self, now_ms: i64) -> usize {
        let before = self.revoked_families.len();
        self.revoked_families.retain(|_, until| *until > now_ms);
        self.admin_confirmed.retain(|_, at| now_ms - *at < ADMIN_CHECK_EVERY_MS);
        self.verified.retain(|_, c| self.unexpired(c.exp, now_ms / 1000));
        before.saturating_sub(self.revoked_families.len())
    }

    /// True when the store confirmed this admin family less than [`ADMIN_CHECK_EVERY_MS`] ago.
    pub fn admin_recently_confirmed(&self, fam: &str, now_ms: i64) -> bool {
        self.admin_confirmed.get(fam).is_some_and(|at| now_ms - *at < ADMIN_CHECK_EVERY_MS)
    }

    pub fn confirm_admin(&self, fam: &str, now_ms: i64) {
        self.admin_confirmed.insert(fam.to_string(), now_ms);
    }
}

/// A random identifier for token ids and families.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&Config::from_lookup(|_| None).unwrap())
    }

    fn user() -> Subject {
        Subject { kind: SubjectKind::User, id: 7, mobile: "138****8000".into(), is_merchant: false }
    }

    #[test]
    fn access_tokens_round_trip_and_die_with_their_family() {
        let t = tokens();
        let pair = t.issue(&user(), "fam1").unwrap();
        let claims = t.verify_access(&pair.access_token).unwrap();
        assert_eq!(claims.user_id, 7);
        assert_eq!(claims.exp - claims.iat, 2 * 60 * 60);
        t.mark_revoked("fam1");
        assert_eq!(t.verify_access(&pair.access_token).unwrap_err(), TokenError::Revoked);
    }

    #[test]
    fn a_remembered_token_is_trusted_only_verbatim_and_until_it_expires() {
        let t = tokens();
        let pair = t.issue(&user(), "fam2").unwrap();
        let first = t.decode_access(&pair.access_token).unwrap();
        let again = t.decode_access(&pair.access_token).unwrap();
        assert_eq!((again.user_id, &again.jti), (first.user_id, &first.jti));
        // The same claims under another signature are checked, not looked up.
        let (body, _sig) = pair.access_token.rsplit_once('.').unwrap();
        assert_eq!(t.decode_access(&format!("{body}.AAAA")).unwrap_err(), TokenError::Invalid);
        // Revocation still applies to a remembered token.
        t.mark_revoked("fam2");
        assert_eq!(t.verify_access(&pair.access_token).unwrap_err(), TokenError::Revoked);
        // Expiry is checked on every use, with jsonwebtoken's leeway.
        let now_s = wall_ms() / 1000;
        assert!(t.unexpired(now_s - 5, now_s));
        assert!(!t.unexpired(now_s - 6, now_s));
        let mut expired = first.clone();
        expired.exp = now_s - 60;
        t.verified.insert("remembered".into(), expired);
        assert_eq!(t.decode_access("remembered").unwrap_err(), TokenError::Invalid);
        assert!(t.verified.get("remembered").is_none(), "an expired token is forgotten");
        // Housekeeping forgets expired tokens.
        t.prune(wall_ms() + 3 * 60 * 60 * 1000);
        assert!(t.verified.is_empty());
    }

    #[test]
    fn a_family_lives_its_maximum_age_from_sign_in_and_no_longer() {
        let day = Duration::from_secs(86_400);
        let signed_in = 1_000_000;
        assert!(!family_outlived(signed_in, signed_in, 30 * day));
        assert!(!family_outlived(signed_in, signed_in + 30 * 86_400_000 - 1, 30 * day));
        assert!(family_outlived(signed_in, signed_in + 30 * 86_400_000, 30 * day));
        assert!(!family_outlived(signed_in, i64::MAX - 1, Duration::MAX.saturating_sub(day)), "no overflow");
    }

    #[test]
    fn revoked_families_are_forgotten_once_their_tokens_expired() {
        let t = tokens();
        t.mark_revoked_until("old", 1_000);
        t.mark_revoked_until("new", 5_000);
        assert_eq!(t.prune(999), 0);
        assert_eq!(t.prune(1_000), 1);
        assert!(!t.is_revoked("old"));
        assert!(t.is_revoked("new"));
        t.mark_revoked_until("new", 2_000);
        assert_eq!(t.prune(4_999), 0, "a later expiry is kept");
    }

    #[test]
    fn an_admin_confirmation_is_trusted_briefly_and_dies_with_revocation() {
        let t = tokens();
        t.confirm_admin("a", 10_000);
        assert!(t.admin_recently_confirmed("a", 10_000 + ADMIN_CHECK_EVERY_MS - 1));
        assert!(!t.admin_recently_confirmed("a", 10_000 + ADMIN_CHECK_EVERY_MS));
        t.mark_revoked_until("a", 20_000);
        assert!(!t.admin_recently_confirmed("a", 10_001));
    }

    #[test]
    fn refresh_and_access_tokens_are_not_interchangeable() {
        let t = tokens();
        let pair = t.issue(&user(), "fam2").unwrap();
        assert!(t.verify_access(&pair.refresh_token).is_err());
        assert!(t.verify_refresh(&pair.access_token).is_err());
        assert!(t.verify_refresh(&pair.refresh_token).is_ok());
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let t = tokens();
        let other = tokens();
        let pair = t.issue(&user(), "fam3").unwrap();
        assert!(other.verify_access(&pair.access_token).is_err());
        let mut forged = pair.access_token.clone();
        forged.push('x');
        assert!(t.verify_access(&forged).is_err());
        assert!(t.verify_access("not-a-token").is_err());
    }
}
