//! The response envelope `{code, msg, data}` and the one error type every handler returns.
//!
//! Business refusals come from the domain ([`DomainError`], wrapped as [`ApiError::Refused`]);
//! faults come from actors and the store ([`Failure`], [`StoreError`]); the rest are refusals of
//! the HTTP edge itself (tokens, roles, limits, unknown routes). [`ApiError::parts`] is the one
//! table from each of them to its contract code, HTTP status and Chinese message, and
//! [`ERROR_CODES`] lists every code the server can answer (the OpenAPI document is built from it).
//! Faults are logged with their whole cause chain inside the request's span and never shown to
//! clients.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use super::envelope::ErrorEnvelope;
use crate::actors::failure::{BoxError, Failure};
use crate::domain::DomainError;
use crate::store::StoreError;

/// Which request failed, for the code a fault answers with: the contract gives the draw, the
/// redemption, the upload and the review their own "failed, try again" codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Draw,
    Redemption,
    Upload,
    Review,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A business rule refused (the domain's own error, mapped below).
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error("store unavailable")]
    StoreUnavailable(#[source] StoreError),
    /// A fault under the request; the client only learns that it should try again.
    #[error("{during:?} failed: {context}")]
    Internal {
        during: Operation,
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("access token missing")]
    TokenMissing,
    #[error("access token invalid")]
    TokenInvalid,
    #[error("merchant role required")]
    MerchantRequired,
    #[error("admin role required")]
    AdminRequired,
    #[error("signed link invalid or expired")]
    LinkInvalid,
    #[error("rate limited")]
    RateLimited(Duration),
    /// The request took longer than `HTTP_REQUEST_TIMEOUT_SECS` (1000/503).
    #[error("request timed out")]
    TimedOut,
    /// More requests in flight (or password checks running) than the server admits (9002).
    #[error("over the concurrency limit")]
    Overloaded,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    BodyTooLarge,
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

/// One row of the contract's error table: the code, the HTTP statuses it comes with, and the
/// message clients show.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ErrorCodeDoc {
    pub code: u32,
    pub statuses: &'static [u16],
    pub msg: &'static str,
}

const fn row(code: u32, statuses: &'static [u16], msg: &'static str) -> ErrorCodeDoc {
    ErrorCodeDoc { code, statuses, msg }
}

/// Every code the server answers with, as API.md's table states it.
pub const ERROR_CODES: &[ErrorCodeDoc] = &[
    row(1000, &[500, 503], "系统异常，请稍后重试"),
    row(1001, &[400], "手机号格式不正确"),
    row(1002, &[400], "验证码错误或已过期"),
    row(1003, &[400, 413], "请求参数缺失或格式错误"),
    row(1004, &[429], "验证码发送过于频繁"),
    row(1005, &[400, 502], "微信登录失败，请重试"),
    row(1006, &[429], "验证失败次数过多，请稍后再试"),
    row(1007, &[400], "请授权手机号"),
    row(1008, &[502], "短信发送失败，请稍后重试"),
    row(2000, &[401], "刷新令牌无效或已过期"),
    row(2001, &[401], "访问令牌不能为空"),
    row(2002, &[401, 403], "访问令牌无效或已过期"),
    row(2003, &[403], "需要商家权限"),
    row(2004, &[403], "需要管理员权限"),
    row(2005, &[403], "账号已被禁用"),
    row(2006, &[429], "登录失败次数过多，请稍后再试"),
    row(3000, &[500], "抽奖失败，请稍后重试"),
    row(3001, &[409], "积分余额不足"),
    row(3002, &[429], "抽奖过于频繁，请稍后再试"),
    row(3003, &[409], "今日抽奖次数已达上限"),
    row(3004, &[409], "抽奖活动未开始、已结束或未配置"),
    row(3005, &[403], "会员等级不足"),
    row(4000, &[500], "兑换失败，请稍后重试"),
    row(4001, &[404], "商品不存在或已下架"),
    row(4002, &[409], "库存不足"),
    row(4003, &[409], "积分余额不足"),
    row(4004, &[404], "订单不存在"),
    row(4005, &[409], "该兑换码已核销"),
    row(5000, &[500], "上传失败，请稍后重试"),
    row(5001, &[400], "请选择要上传的图片"),
    row(5002, &[400], "消费金额必须在0.01-10000元之间"),
    row(5003, &[400, 413], "图片格式或大小不符合要求"),
    row(6000, &[500], "审核操作失败"),
    row(6001, &[404], "审核记录不存在"),
    row(6002, &[400], "审核通过时必须确认实际消费金额"),
    row(6004, &[409], "该记录已被审核"),
    row(6005, &[403], "不能审核自己上传的小票"),
    row(7001, &[409], "今日已签到"),
    row(7002, &[409], "奖励已领取"),
    row(7003, &[409], "任务尚未完成"),
    row(7004, &[404], "任务不存在"),
    row(9001, &[429], "请求过于频繁，请稍后再试"),
    row(9002, &[503], "服务器繁忙，请稍后再试"),
    row(9004, &[404, 405], "接口不存在"),
];

impl ApiError {
    /// A request field breaks a rule (1003), naming the field.
    pub fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::Refused(DomainError::invalid(field, reason.to_string()))
    }

    /// For `map_err`: a fault while doing `operation` answers that operation's code.
    pub fn during(operation: Operation) -> impl Fn(Failure) -> ApiError {
        move |failure| match ApiError::from(failure) {
            ApiError::Internal { context, source, .. } => ApiError::Internal { during: operation, context, source },
            other => other,
        }
    }

    /// A fault with a cause, for the log.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> ApiError {
        ApiError::Internal { during: Operation::Request, context: context.into(), source: Some(source.into()) }
    }

    /// `(code, status, msg, data)` as the client sees them: the one table.
    fn parts(&self) -> (u32, StatusCode, Cow<'static, str>, Value) {
        use DomainError as D;
        let plain = |code: u32, status: StatusCode, msg: &'static str| (code, status, Cow::Borrowed(msg), Value::Null);
        match self {
            ApiError::Refused(refusal) => match refusal {
                D::InvalidInput { field, reason } => (
                    1003,
                    StatusCode::BAD_REQUEST,
                    Cow::Owned(format!("请求参数缺失或格式错误: {field}: {reason}")),
                    Value::Null,
                ),
                D::BadPhone => plain(1001, StatusCode::BAD_REQUEST, "手机号格式不正确"),
                D::BadCode => plain(1002, StatusCode::BAD_REQUEST, "验证码错误或已过期"),
                D::CodeTooFrequent { .. } => plain(1004, StatusCode::TOO_MANY_REQUESTS, "验证码发送过于频繁"),
                D::PhoneLocked { .. } => plain(1006, StatusCode::TOO_MANY_REQUESTS, "验证失败次数过多，请稍后再试"),
                D::WechatCodeRejected => plain(1005, StatusCode::BAD_REQUEST, "微信登录失败，请重试"),
                D::WechatUnavailable => plain(1005, StatusCode::BAD_GATEWAY, "微信登录失败，请重试"),
                D::PhoneNeeded => {
                    (1007, StatusCode::BAD_REQUEST, Cow::Borrowed("请授权手机号"), json!({ "need_phone": true }))
                }
                D::SmsNotDelivered => plain(1008, StatusCode::BAD_GATEWAY, "短信发送失败，请稍后重试"),
                D::RefreshInvalid => plain(2000, StatusCode::UNAUTHORIZED, "刷新令牌无效或已过期"),
                D::BadCredentials => plain(2002, StatusCode::UNAUTHORIZED, "用户名或密码错误"),
                D::AdminLocked { .. } => plain(2006, StatusCode::TOO_MANY_REQUESTS, "登录失败次数过多，请稍后再试"),
                D::Banned => plain(2005, StatusCode::FORBIDDEN, "账号已被禁用"),
                D::InsufficientPoints { required, current } => (
                    3001,
                    StatusCode::CONFLICT,
                    Cow::Borrowed("积分余额不足"),
                    json!({ "required": required, "current": current }),
                ),
                D::DrawTooFrequent { .. } => plain(3002, StatusCode::TOO_MANY_REQUESTS, "抽奖过于频繁，请稍后再试"),
                D::DailyLimitReached => plain(3003, StatusCode::CONFLICT, "今日抽奖次数已达上限"),
                D::WheelClosed => plain(3004, StatusCode::CONFLICT, "抽奖活动未开始、已结束或未配置"),
                D::LevelTooLow { required_level, current_level } => (
                    3005,
                    StatusCode::FORBIDDEN,
                    Cow::Borrowed("会员等级不足"),
                    json!({ "required_level": required_level, "current_level": current_level }),
                ),
                D::ProductUnavailable => plain(4001, StatusCode::NOT_FOUND, "商品不存在或已下架"),
                D::OutOfStock { available, requested } => (
                    4002,
                    StatusCode::CONFLICT,
                    Cow::Borrowed("库存不足"),
                    json!({ "available": available, "requested": requested }),
                ),
                D::RedeemInsufficientPoints { required, current } => (
                    4003,
                    StatusCode::CONFLICT,
                    Cow::Borrowed("积分余额不足"),
                    json!({ "required": required, "current": current }),
                ),
                D::OrderNotFound => plain(4004, StatusCode::NOT_FOUND, "订单不存在"),
                D::AlreadyUsed => plain(4005, StatusCode::CONFLICT, "该兑换码已核销"),
                D::NoImage => plain(5001, StatusCode::BAD_REQUEST, "请选择要上传的图片"),
                D::BadAmount => plain(5002, StatusCode::BAD_REQUEST, "消费金额必须在0.01-10000元之间"),
                D::BadImage => plain(5003, StatusCode::BAD_REQUEST, "图片格式或大小不符合要求"),
                D::ImageTooLarge => plain(5003, StatusCode::PAYLOAD_TOO_LARGE, "图片格式或大小不符合要求"),
                D::ReviewNotFound => plain(6001, StatusCode::NOT_FOUND, "审核记录不存在"),
                D::ActualAmountRequired => plain(6002, StatusCode::BAD_REQUEST, "审核通过时必须确认实际消费金额"),
                D::AlreadyReviewed { current_status } => (
                    6004,
                    StatusCode::CONFLICT,
                    Cow::Borrowed("该记录已被审核"),
                    json!({ "current_status": current_status }),
                ),
                D::TooManyUploads { .. } => plain(9001, StatusCode::TOO_MANY_REQUESTS, "请求过于频繁，请稍后再试"),
                D::OwnUpload => plain(6005, StatusCode::FORBIDDEN, "不能审核自己上传的小票"),
                D::AlreadyCheckedIn => plain(7001, StatusCode::CONFLICT, "今日已签到"),
                D::TaskClaimed => plain(7002, StatusCode::CONFLICT, "奖励已领取"),
                D::TaskNotCompleted => plain(7003, StatusCode::CONFLICT, "任务尚未完成"),
                D::TaskNotFound => plain(7004, StatusCode::NOT_FOUND, "任务不存在"),
                D::UserNotFound => plain(9004, StatusCode::NOT_FOUND, "用户不存在"),
                D::NotFound(what) => (9004, StatusCode::NOT_FOUND, Cow::Owned(format!("{what}不存在")), Value::Null),
            },
            ApiError::StoreUnavailable(_) => plain(1000, StatusCode::SERVICE_UNAVAILABLE, "系统异常，请稍后重试"),
            ApiError::Internal { during, .. } => match during {
                Operation::Request => plain(1000, StatusCode::INTERNAL_SERVER_ERROR, "系统异常，请稍后重试"),
                Operation::Draw => plain(3000, StatusCode::INTERNAL_SERVER_ERROR, "抽奖失败，请稍后重试"),
                Operation::Redemption => plain(4000, StatusCode::INTERNAL_SERVER_ERROR, "兑换失败，请稍后重试"),
                Operation::Upload => plain(5000, StatusCode::INTERNAL_SERVER_ERROR, "上传失败，请稍后重试"),
                Operation::Review => plain(6000, StatusCode::INTERNAL_SERVER_ERROR, "审核操作失败"),
            },
            ApiError::TokenMissing => plain(2001, StatusCode::UNAUTHORIZED, "访问令牌不能为空"),
            ApiError::TokenInvalid => plain(2002, StatusCode::UNAUTHORIZED, "访问令牌无效或已过期"),
            ApiError::MerchantRequired => plain(2003, StatusCode::FORBIDDEN, "需要商家权限"),
            ApiError::AdminRequired => plain(2004, StatusCode::FORBIDDEN, "需要管理员权限"),
            ApiError::LinkInvalid => plain(2002, StatusCode::FORBIDDEN, "链接无效或已过期"),
            ApiError::RateLimited(_) => plain(9001, StatusCode::TOO_MANY_REQUESTS, "请求过于频繁，请稍后再试"),
            ApiError::TimedOut => plain(1000, StatusCode::SERVICE_UNAVAILABLE, "系统异常，请稍后重试"),
            ApiError::Overloaded => plain(9002, StatusCode::SERVICE_UNAVAILABLE, "服务器繁忙，请稍后再试"),
            ApiError::RouteNotFound => plain(9004, StatusCode::NOT_FOUND, "接口不存在"),
            ApiError::MethodNotAllowed => plain(9004, StatusCode::METHOD_NOT_ALLOWED, "请求方法不支持"),
            ApiError::BodyTooLarge => plain(1003, StatusCode::PAYLOAD_TOO_LARGE, "请求体过大"),
        }
    }

    pub fn code(&self) -> u32 {
        self.parts().0
    }

    /// How long the client should wait before trying again, for the refusals that say so.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited(wait) => Some(*wait),
            ApiError::Overloaded => Some(Duration::from_secs(1)),
            ApiError::Refused(DomainError::CodeTooFrequent { retry_after_ms })
            | ApiError::Refused(DomainError::PhoneLocked { retry_after_ms })
            | ApiError::Refused(DomainError::AdminLocked { retry_after_ms })
            | ApiError::Refused(DomainError::DrawTooFrequent { retry_after_ms })
            | ApiError::Refused(DomainError::TooManyUploads { retry_after_ms }) => {
                Some(Duration::from_millis(*retry_after_ms))
            }
            _ => None,
        }
    }

    /// Faults go to the log with their cause chain (inside the request's span, which carries the
    /// request id); refusals are the client's business and are not logged.
    fn log(&self) {
        match self {
            ApiError::Internal { .. } => tracing::error!(error = %Chain(self), "request failed"),
            ApiError::StoreUnavailable(_) => tracing::warn!(error = %Chain(self), "store unavailable"),
            _ => {}
        }
    }

    /// `(code, msg, data)` as a client sees them, for per-item results inside a batch.
    pub fn public_parts(&self) -> (u32, String, Value) {
        self.log();
        let (code, _, msg, data) = self.parts();
        (code, msg.into_owned(), data)
    }
}

/// An error and every `source()` under it, `a: b: c`, for one log field.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(refusal) => ApiError::Refused(refusal),
            Failure::StoreUnavailable(e) => ApiError::StoreUnavailable(e),
            Failure::TimedOut(context) => {
                tracing::warn!(%context, "gave up waiting for an actor");
                ApiError::TimedOut
            }
            Failure::Elsewhere(context) => {
                tracing::warn!(%context, "the customer's wallet could not be reached on its node");
                ApiError::TimedOut
            }
            Failure::Fault { context, source } => ApiError::Internal { during: Operation::Request, context, source },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(Failure::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let (code, status, msg, data) = self.parts();
        let body = ErrorEnvelope { code, msg: msg.into_owned(), data };
        let mut response = (status, Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<ApiError> {
        use DomainError as D;
        let refusals = vec![
            D::invalid("phone", "missing"),
            D::BadPhone,
            D::BadCode,
            D::CodeTooFrequent { retry_after_ms: 3000 },
            D::WechatCodeRejected,
            D::WechatUnavailable,
            D::PhoneNeeded,
            D::SmsNotDelivered,
            D::RefreshInvalid,
            D::BadCredentials,
            D::Banned,
            D::InsufficientPoints { required: 300, current: 120 },
            D::DrawTooFrequent { retry_after_ms: 1500 },
            D::DailyLimitReached,
            D::WheelClosed,
            D::LevelTooLow { required_level: 3, current_level: 1 },
            D::ProductUnavailable,
            D::OutOfStock { available: 1, requested: 2 },
            D::RedeemInsufficientPoints { required: 2, current: 1 },
            D::OrderNotFound,
            D::AlreadyUsed,
            D::NoImage,
            D::BadAmount,
            D::BadImage,
            D::ImageTooLarge,
            D::ReviewNotFound,
            D::ActualAmountRequired,
            D::AlreadyReviewed { current_status: "approved".into() },
            D::OwnUpload,
            D::AlreadyCheckedIn,
            D::TaskClaimed,
            D::TaskNotCompleted,
            D::TaskNotFound,
            D::TooManyUploads { retry_after_ms: 60_000 },
            D::UserNotFound,
            D::NotFound("商品".into()),
            D::PhoneLocked { retry_after_ms: 1000 },
            D::AdminLocked { retry_after_ms: 1000 },
        ];
        let mut all: Vec<ApiError> = refusals.into_iter().map(ApiError::from).collect();
        let fault = || Failure::fault("x");
        all.extend([
            ApiError::from(fault()),
            ApiError::during(Operation::Draw)(fault()),
            ApiError::during(Operation::Redemption)(fault()),
            ApiError::during(Operation::Upload)(fault()),
            ApiError::during(Operation::Review)(fault()),
            ApiError::from(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
            ApiError::TokenMissing,
            ApiError::TokenInvalid,
            ApiError::MerchantRequired,
            ApiError::AdminRequired,
            ApiError::LinkInvalid,
            ApiError::RateLimited(Duration::from_millis(1500)),
            ApiError::Overloaded,
            ApiError::TimedOut,
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed,
            ApiError::BodyTooLarge,
        ]);
        all
    }

    #[test]
    fn codes_and_statuses_follow_the_contract() {
        use DomainError as D;
        let cases: Vec<(ApiError, u32, u16)> = vec![
            (ApiError::from(Failure::fault("x")), 1000, 500),
            (ApiError::from(StoreError::Unavailable(sqlx::Error::PoolTimedOut)), 1000, 503),
            (D::BadPhone.into(), 1001, 400),
            (D::BadCode.into(), 1002, 400),
            (ApiError::bad("phone", "missing"), 1003, 400),
            (D::CodeTooFrequent { retry_after_ms: 3000 }.into(), 1004, 429),
            (D::WechatCodeRejected.into(), 1005, 400),
            (D::PhoneLocked { retry_after_ms: 3_600_000 }.into(), 1006, 429),
            (D::WechatUnavailable.into(), 1005, 502),
            (D::PhoneNeeded.into(), 1007, 400),
            (D::SmsNotDelivered.into(), 1008, 502),
            (D::RefreshInvalid.into(), 2000, 401),
            (ApiError::TokenMissing, 2001, 401),
            (ApiError::TokenInvalid, 2002, 401),
            (ApiError::MerchantRequired, 2003, 403),
            (ApiError::AdminRequired, 2004, 403),
            (D::Banned.into(), 2005, 403),
            (D::AdminLocked { retry_after_ms: 900_000 }.into(), 2006, 429),
            (ApiError::during(Operation::Draw)(Failure::fault("x")), 3000, 500),
            (D::InsufficientPoints { required: 300, current: 120 }.into(), 3001, 409),
            (D::DrawTooFrequent { retry_after_ms: 10 }.into(), 3002, 429),
            (D::DailyLimitReached.into(), 3003, 409),
            (D::WheelClosed.into(), 3004, 409),
            (D::LevelTooLow { required_level: 3, current_level: 1 }.into(), 3005, 403),
            (ApiError::during(Operation::Upload)(Failure::fault("x")), 5000, 500),
            (D::NoImage.into(), 5001, 400),
            (D::BadAmount.into(), 5002, 400),
            (D::BadImage.into(), 5003, 400),
            (D::ImageTooLarge.into(), 5003, 413),
            (ApiError::during(Operation::Review)(Failure::fault("x")), 6000, 500),
            (D::ReviewNotFound.into(), 6001, 404),
            (D::ActualAmountRequired.into(), 6002, 400),
            (D::AlreadyReviewed { current_status: "approved".into() }.into(), 6004, 409),
            (D::OwnUpload.into(), 6005, 403),
            (D::TooManyUploads { retry_after_ms: 1 }.into(), 9001, 429),
            (ApiError::during(Operation::Redemption)(Failure::fault("x")), 4000, 500),
            (D::ProductUnavailable.into(), 4001, 404),
            (D::OutOfStock { available: 1, requested: 2 }.into(), 4002, 409),
            (D::InsufficientPoints { required: 2, current: 1 }.for_redemption().into(), 4003, 409),
            (D::OrderNotFound.into(), 4004, 404),
            (D::AlreadyUsed.into(), 4005, 409),
            (ApiError::RateLimited(Duration::from_millis(1500)), 9001, 429),
            (ApiError::Overloaded, 9002, 503),
            (ApiError::RouteNotFound, 9004, 404),
            (ApiError::MethodNotAllowed, 9004, 405),
        ];
        for (e, code, status) in cases {
            let (c, s, msg, _) = e.parts();
            assert_eq!((c, s.as_u16()), (code, status), "{e:?}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn every_answer_is_a_row_of_the_published_table() {
        for e in every_error() {
            let (code, status, _, _) = e.parts();
            let row = ERROR_CODES.iter().find(|r| r.code == code);
            let row = row.unwrap_or_else(|| panic!("{e:?} answers {code}, which ERROR_CODES lacks"));
            assert!(row.statuses.contains(&status.as_u16()), "{e:?}: {code} with {status} is not in the table");
        }
        for row in ERROR_CODES {
            assert!(every_error().iter().any(|e| e.code() == row.code), "{} is published but never answered", row.code);
        }
    }

    #[test]
    fn refusals_carry_details_and_limits_carry_retry_after() {
        let (_, _, _, data) = ApiError::from(DomainError::InsufficientPoints { required: 300, current: 120 }).parts();
        assert_eq!(data, json!({"required": 300, "current": 120}));
        let (_, _, _, data) = ApiError::from(DomainError::PhoneNeeded).parts();
        assert_eq!(data, json!({"need_phone": true}));
        let r = ApiError::RateLimited(Duration::from_millis(1500)).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = ApiError::from(DomainError::DrawTooFrequent { retry_after_ms: 2500 }).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        let r = ApiError::Overloaded.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::from(DomainError::PhoneLocked { retry_after_ms: 3_600_000 }).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3600");
        let r = ApiError::from(DomainError::AdminLocked { retry_after_ms: 900_000 }).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "900");
    }

    #[test]
    fn a_fault_keeps_its_cause_chain_for_the_log() {
        let e = ApiError::during(Operation::Draw)(Failure::from(StoreError::Conflict("pity row moved".into())));
        let logged = Chain(&e).to_string();
        assert!(logged.contains("store") && logged.contains("pity row moved"), "{logged}");
    }
}
