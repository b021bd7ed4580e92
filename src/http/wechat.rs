//! `/api/auth/wechat-login`: sign-in from the WeChat mini-program. The `wx.login` code names the
//! customer (their openid); an openid already bound to an account signs that account in. The
//! first time, the phone number button's code is needed too: WeChat tells the server the
//! customer's verified phone number, which finds the account (an SMS customer keeps theirs, with
//! its balance) or opens a new one with the sign-up grant, and the openid is bound to it.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{signed_in, SignedIn};
use super::envelope::{Answer, Envelope};
use super::error::ApiError;
use super::extract::ApiJson;
use super::AppState;
use crate::domain::points::SIGN_UP_GRANT;
use crate::domain::time::now_ms;
use crate::domain::{DomainError, Phone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(wechat_login))
}

#[derive(Deserialize, ToSchema)]
struct WechatLogin {
    /// The code from `wx.login` (single use; WeChat keeps it valid for 5 minutes).
    #[schema(example = "0a3Xk2Ga1Ww1RH0eR9Ia1VqPsX2Xk2GH")]
    code: Option<String>,
    /// The code from the phone number button (`open-type="getPhoneNumber"`). Needed only the
    /// first time (answered by 1007 without it); send it with a fresh `wx.login` code.
    phone_code: Option<String>,
}

/// A code WeChat handed the mini-program: short, printable, no spaces.
fn wechat_code(field: &str, raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(code) = raw.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) else { return Ok(None) };
    if code.len() > 256 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad(field, "is not a WeChat code"));
    }
    Ok(Some(code))
}

/// Sign in with WeChat
///
/// Exchanges the `wx.login` code for the customer's openid. A bound openid signs its account in;
/// otherwise `phone_code` is required (1007, `data.need_phone`), and the phone number WeChat
/// verified finds or opens the account (a new one gets the 1000-point sign-up grant). Each code is
/// single use: after 1007, call `wx.login` again and send the new code with `phone_code`. 1005 with
/// 400 means WeChat rejected a code (start over); with 502, WeChat could not be reached or is busy.
///
/// Errors: 1001 1003 1005 1005/502 1007 2005
#[utoipa::path(post, path = "/wechat-login", tag = "auth",
    request_body = WechatLogin,
    responses((status = 200, description = "Signed in", body = Envelope<SignedIn>)))]
async fn wechat_login(State(state): State<AppState>, ApiJson(body): ApiJson<WechatLogin>) -> Answer<SignedIn> {
    let code = wechat_code("code", body.code)?.ok_or_else(|| ApiError::bad("code", "is required"))?;
    let phone_code = wechat_code("phone_code", body.phone_code)?;
    let Some(wechat) = state.wechat.as_ref() else {
        tracing::warn!("WeChat sign-in asked for, but WECHAT_APPID / WECHAT_SECRET are not set");
        return Err(DomainError::WechatUnavailable.into());
    };
    let session = wechat.session(&code).await.map_err(DomainError::from)?;
    let now = now_ms();
    let bound = match state.store.user_id_by_openid(&session.openid).await? {
        Some(id) => state.store.user(id).await?,
        None => None,
    };
    let (user, is_new_user) = match bound {
        Some(user) => (user, false),
        None => {
            let phone_code = phone_code.ok_or(DomainError::PhoneNeeded)?;
            let verified = wechat.phone_number(&phone_code).await.map_err(DomainError::from)?;
            // Accounts are mainland mobile numbers; WeChat also knows numbers from elsewhere.
            let phone = Some(verified)
                .filter(|v| v.country_code == "86")
                .and_then(|v| Phone::parse(&v.number))
                .ok_or(DomainError::BadPhone)?;
            let (user, created) = state
                .store
                .customer_by_phone_or_new(phone.as_str(), &phone.default_nickname(), SIGN_UP_GRANT, now)
                .await?;
            if user.is_banned {
                return Err(DomainError::Banned.into());
            }
            let bound_to = state.store.bind_openid(&session.openid, session.unionid.as_deref(), user.id, now).await?;
            if bound_to == user.id {
                (user, created)
            } else {
                // A sign-in of the same openid at the same moment bound it first: that account
                // is who this openid is.
                let other = state.store.user(bound_to).await?;
                (other.ok_or_else(|| ApiError::from(crate::actors::Failure::fault("bound user vanished")))?, false)
            }
        }
    };
    signed_in(&state, user, is_new_user, "WeChat").await
}
