//! The response envelope `{code, msg, data}` and the one error type every handler returns.
//! Each error maps to its contract code, HTTP status and user-facing message in one place;
//! internal causes are logged with the request's context and never shown to clients.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("internal: {0}")]
    Internal(String),
    #[error("store unavailable")]
    StoreUnavailable,
    #[error("bad phone number")]
    BadPhone,
    #[error("bad or expired sign-in code")]
    BadCode,
    /// Names the offending field.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("sign-in codes requested too often")]
    CodeTooFrequent(Duration),
    #[error("refresh token invalid")]
    RefreshInvalid,
    #[error("access token missing")]
    TokenMissing,
    #[error("access token invalid")]
    TokenInvalid,
    #[error("bad admin credentials")]
    BadCredentials,
    #[error("merchant role required")]
    MerchantRequired,
    #[error("admin role required")]
    AdminRequired,
    #[error("account banned")]
    Banned,
    #[error("not enough points")]
    InsufficientPoints { required: i64, current: i64 },
    #[error("upload failed")]
    UploadFailed,
    #[error("no image")]
    NoImage,
    #[error("bad amount")]
    BadAmount,
    #[error("not an acceptable image")]
    BadImage,
    #[error("image too large")]
    ImageTooLarge,
    #[error("review failed")]
    ReviewFailed,
    #[error("review not found")]
    ReviewNotFound,
    #[error("approval needs the actual amount")]
    ActualAmountRequired,
    #[error("already reviewed")]
    AlreadyReviewed { current_status: String },
    #[error("signed link invalid or expired")]
    LinkInvalid,
    #[error("exchange failed")]
    ExchangeFailed,
    #[error("product unavailable")]
    ProductUnavailable,
    #[error("out of stock")]
    OutOfStock { available: i64, requested: i64 },
    #[error("not enough points for the exchange")]
    ExchangeInsufficientPoints { required: i64, current: i64 },
    #[error("order not found")]
    OrderNotFound,
    #[error("code already used")]
    AlreadyUsed,
    #[error("draw failed")]
    DrawFailed,
    #[error("draws too frequent")]
    DrawTooFrequent(Duration),
    #[error("daily draw limit reached")]
    DailyLimitReached,
    #[error("lottery closed")]
    WheelClosed,
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("rate limited")]
    RateLimited(Duration),
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("duplicate request in flight")]
    InFlight,
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::BadRequest(format!("{field}: {reason}"))
    }

    fn parts(&self) -> (u32, StatusCode, String, Value) {
        use ApiError::*;
        let (code, status, msg): (u32, StatusCode, &str) = match self {
            Internal(_) => (1000, StatusCode::INTERNAL_SERVER_ERROR, "系统异常，请稍后重试"),
            StoreUnavailable => (1000, StatusCode::SERVICE_UNAVAILABLE, "系统异常，请稍后重试"),
            BadPhone => (1001, StatusCode::BAD_REQUEST, "手机号格式不正确"),
            BadCode => (1002, StatusCode::BAD_REQUEST, "验证码错误或已过期"),
            BadRequest(detail) => {
                return (1003, StatusCode::BAD_REQUEST, format!("请求参数缺失或格式错误: {detail}"), Value::Null)
            }
            CodeTooFrequent(_) => (1004, StatusCode::TOO_MANY_REQUESTS, "验证码发送过于频繁"),
            RefreshInvalid => (2000, StatusCode::UNAUTHORIZED, "刷新令牌无效或已过期"),
            TokenMissing => (2001, StatusCode::UNAUTHORIZED, "访问令牌不能为空"),
            TokenInvalid => (2002, StatusCode::UNAUTHORIZED, "访问令牌无效或已过期"),
            BadCredentials => (2002, StatusCode::UNAUTHORIZED, "用户名或密码错误"),
            MerchantRequired => (2003, StatusCode::FORBIDDEN, "需要商家权限"),
            AdminRequired => (2004, StatusCode::FORBIDDEN, "需要管理员权限"),
            Banned => (2005, StatusCode::FORBIDDEN, "账号已被禁用"),
            InsufficientPoints { required, current } => {
                return (
                    3001,
                    StatusCode::CONFLICT,
                    "积分余额不足".into(),
                    json!({ "required": required, "current": current }),
                )
            }
            DrawFailed => (3000, StatusCode::INTERNAL_SERVER_ERROR, "抽奖失败，请稍后重试"),
            DrawTooFrequent(_) => (3002, StatusCode::TOO_MANY_REQUESTS, "抽奖过于频繁，请稍后再试"),
            DailyLimitReached => (3003, StatusCode::CONFLICT, "今日抽奖次数已达上限"),
            WheelClosed => (3004, StatusCode::CONFLICT, "抽奖活动未开始、已结束或未配置"),
            UploadFailed => (5000, StatusCode::INTERNAL_SERVER_ERROR, "上传失败，请稍后重试"),
            NoImage => (5001, StatusCode::BAD_REQUEST, "请选择要上传的图片"),
            BadAmount => (5002, StatusCode::BAD_REQUEST, "消费金额必须在0.01-10000元之间"),
            BadImage => (5003, StatusCode::BAD_REQUEST, "图片格式或大小不符合要求"),
            ImageTooLarge => (5003, StatusCode::PAYLOAD_TOO_LARGE, "图片格式或大小不符合要求"),
            ReviewFailed => (6000, StatusCode::INTERNAL_SERVER_ERROR, "审核操作失败"),
            ReviewNotFound => (6001, StatusCode::NOT_FOUND, "审核记录不存在"),
            ActualAmountRequired => (6002, StatusCode::BAD_REQUEST, "审核通过时必须确认实际消费金额"),
            AlreadyReviewed { current_status } => {
                return (
                    6004,
                    StatusCode::CONFLICT,
                    "该记录已被审核".into(),
                    json!({ "current_status": current_status }),
                )
            }
            LinkInvalid => (2002, StatusCode::FORBIDDEN, "链接无效或已过期"),
            ExchangeFailed => (4000, StatusCode::INTERNAL_SERVER_ERROR, "兑换失败，请稍后重试"),
            ProductUnavailable => (4001, StatusCode::NOT_FOUND, "商品不存在或已下架"),
            OutOfStock { available, requested } => {
                return (
                    4002,
                    StatusCode::CONFLICT,
                    "库存不足".into(),
                    json!({ "available": available, "requested": requested }),
                )
            }
            ExchangeInsufficientPoints { required, current } => {
                return (
                    4003,
                    StatusCode::CONFLICT,
                    "积分余额不足".into(),
                    json!({ "required": required, "current": current }),
                )
            }
            OrderNotFound => (4004, StatusCode::NOT_FOUND, "订单不存在"),
            AlreadyUsed => (4005, StatusCode::CONFLICT, "该兑换码已核销"),
            NotFound(what) => return (9004, StatusCode::NOT_FOUND, format!("{what}不存在"), Value::Null),
            RateLimited(_) => (9001, StatusCode::TOO_MANY_REQUESTS, "请求过于频繁，请稍后再试"),
            RouteNotFound => (9004, StatusCode::NOT_FOUND, "接口不存在"),
            MethodNotAllowed => (9004, StatusCode::METHOD_NOT_ALLOWED, "请求方法不支持"),
            BodyTooLarge => (1003, StatusCode::PAYLOAD_TOO_LARGE, "请求体过大"),
            InFlight => (9005, StatusCode::CONFLICT, "重复请求正在处理中"),
        };
        (code, status, msg.to_string(), Value::Null)
    }

    pub fn code(&self) -> u32 {
        self.parts().0
    }

    /// `(code, msg, data)` as a client sees them, for per-item results inside a batch.
    pub fn public_parts(&self) -> (u32, String, Value) {
        if let ApiError::Internal(cause) = self {
            tracing::error!(cause = %cause, "internal error in a batch item");
        }
        let (code, _, msg, data) = self.parts();
        (code, msg, data)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidInput { field, reason } => ApiError::bad(&field, reason),
            DomainError::InsufficientPoints { required, current } => ApiError::InsufficientPoints { required, current },
            DomainError::UserNotFound => ApiError::NotFound("用户"),
            DomainError::NotFound(what) => ApiError::NotFound(what),
            DomainError::DrawTooFrequent { retry_after_ms } => {
                ApiError::DrawTooFrequent(Duration::from_millis(retry_after_ms))
            }
            DomainError::DailyLimitReached => ApiError::DailyLimitReached,
            DomainError::WheelClosed => ApiError::WheelClosed,
            DomainError::DrawFailed => ApiError::DrawFailed,
            DomainError::ProductUnavailable => ApiError::ProductUnavailable,
            DomainError::OutOfStock { available, requested } => ApiError::OutOfStock { available, requested },
            DomainError::OrderNotFound => ApiError::OrderNotFound,
            DomainError::ExchangeFailed => ApiError::ExchangeFailed,
            DomainError::ReviewNotFound => ApiError::ReviewNotFound,
            DomainError::AlreadyReviewed { current_status } => ApiError::AlreadyReviewed { current_status },
            DomainError::ReviewFailed => ApiError::ReviewFailed,
            DomainError::AlreadyUsed => ApiError::AlreadyUsed,
            DomainError::Banned => ApiError::Banned,
            DomainError::RequestInFlight => ApiError::InFlight,
            DomainError::StoreUnavailable => ApiError::StoreUnavailable,
            DomainError::Internal(msg) => ApiError::Internal(msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            // The request span carries the request id, so this line can be found from a report.
            tracing::error!(cause = %cause, "internal error");
        }
        if let ApiError::StoreUnavailable = &self {
            tracing::warn!("store unavailable");
        }
        let (code, status, msg, data) = self.parts();
        let mut response = (status, Json(json!({ "code": code, "msg": msg, "data": data }))).into_response();
        if let ApiError::RateLimited(wait) | ApiError::CodeTooFrequent(wait) | ApiError::DrawTooFrequent(wait) = &self {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A success envelope around `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(json!({ "code": 0, "msg": "success", "data": data })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_contract() {
        let cases: Vec<(ApiError, u32, u16)> = vec![
            (ApiError::Internal("x".into()), 1000, 500),
            (ApiError::StoreUnavailable, 1000, 503),
            (ApiError::BadPhone, 1001, 400),
            (ApiError::BadCode, 1002, 400),
            (ApiError::bad("phone", "missing"), 1003, 400),
            (ApiError::CodeTooFrequent(Duration::from_secs(3)), 1004, 429),
            (ApiError::RefreshInvalid, 2000, 401),
            (ApiError::TokenMissing, 2001, 401),
            (ApiError::TokenInvalid, 2002, 401),
            (ApiError::MerchantRequired, 2003, 403),
            (ApiError::AdminRequired, 2004, 403),
            (ApiError::Banned, 2005, 403),
            (ApiError::InsufficientPoints { required: 300, current: 120 }, 3001, 409),
            (ApiError::UploadFailed, 5000, 500),
            (ApiError::NoImage, 5001, 400),
            (ApiError::BadAmount, 5002, 400),
            (ApiError::BadImage, 5003, 400),
            (ApiError::ImageTooLarge, 5003, 413),
            (ApiError::ReviewFailed, 6000, 500),
            (ApiError::ReviewNotFound, 6001, 404),
            (ApiError::ActualAmountRequired, 6002, 400),
            (ApiError::AlreadyReviewed { current_status: "approved".into() }, 6004, 409),
            (ApiError::ExchangeFailed, 4000, 500),
            (ApiError::ProductUnavailable, 4001, 404),
            (ApiError::OutOfStock { available: 1, requested: 2 }, 4002, 409),
            (ApiError::ExchangeInsufficientPoints { required: 2, current: 1 }, 4003, 409),
            (ApiError::OrderNotFound, 4004, 404),
            (ApiError::AlreadyUsed, 4005, 409),
            (ApiError::RateLimited(Duration::from_millis(1500)), 9001, 429),
            (ApiError::RouteNotFound, 9004, 404),
            (ApiError::MethodNotAllowed, 9004, 405),
            (ApiError::InFlight, 9005, 409),
        ];
        for (e, code, status) in cases {
            let (c, s, msg, _) = e.parts();
            assert_eq!((c, s.as_u16()), (code, status), "{e:?}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn insufficient_points_carries_details_and_limits_carry_retry_after() {
        let (_, _, _, data) = ApiError::InsufficientPoints { required: 300, current: 120 }.parts();
        assert_eq!(data, json!({"required": 300, "current": 120}));
        let r = ApiError::RateLimited(Duration::from_millis(1500)).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
