//! Access tokens (HS256, 2 h) and refresh tokens (7 d, single-use, grouped in families).
//!
//! Access and refresh tokens are signed with different secrets and carry a `typ` claim, so one can
//! never stand in for the other. Every token names its family (`fam`); revoking a family — logout,
//! or a refresh token presented twice — kills its access tokens at once through the in-memory
//! revocation set, which is loaded from the store at start.

use dashmap::DashSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::time::now_ms;

pub const ACCESS_TTL_S: i64 = 2 * 60 * 60;
pub const REFRESH_TTL_S: i64 = 7 * 24 * 60 * 60;
const ISSUER: &str = "restaurant-lottery";

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
}

pub struct Tokens {
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    refresh_enc: EncodingKey,
    refresh_dec: DecodingKey,
    validation: Validation,
    revoked_families: DashSet<String>,
}

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
            revoked_families: DashSet::new(),
        }
    }

    /// Issues a pair in family `fam`.
    pub fn issue(&self, subject: &Subject, fam: &str) -> Result<TokenPair, jsonwebtoken::errors::Error> {
        let now_s = now_ms() / 1000;
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
            exp: now_s + ACCESS_TTL_S,
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
        })
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.access_dec, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != "access" || claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Invalid);
        }
        if self.revoked_families.contains(&claims.fam) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Checks the signature and expiry only; whether the token was already used is the store's call.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims = jsonwebtoken::decode::<RefreshClaims>(token, &self.refresh_dec, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != "refresh" {
            return Err(TokenError::Invalid);
        }
        if self.revoked_families.contains(&claims.fam) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    pub fn mark_revoked(&self, fam: &str) {
        self.revoked_families.insert(fam.to_string());
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
        assert_eq!(claims.exp - claims.iat, ACCESS_TTL_S);
        t.mark_revoked("fam1");
        assert_eq!(t.verify_access(&pair.access_token).unwrap_err(), TokenError::Revoked);
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
