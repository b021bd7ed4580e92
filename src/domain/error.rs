//! Business failures. They travel back to callers inside replies (`Result<T, DomainError>`), and
//! the HTTP layer turns each into its envelope code; they never mean the server itself is broken.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input in `{field}`: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("not enough points: required {required}, current {current}")]
    InsufficientPoints { required: i64, current: i64 },
    #[error("user not found")]
    UserNotFound,
    #[error("account banned")]
    Banned,
    #[error("the same request is still being processed")]
    RequestInFlight,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many draws in a short time")]
    DrawTooFrequent { retry_after_ms: u64 },
    #[error("daily draw limit reached")]
    DailyLimitReached,
    #[error("the lottery is not running")]
    WheelClosed,
    #[error("the draw could not be completed")]
    DrawFailed,
    #[error("product not found or not on sale")]
    ProductUnavailable,
    #[error("not enough stock: {available} available, {requested} requested")]
    OutOfStock { available: i64, requested: i64 },
    #[error("the exchange could not be completed")]
    ExchangeFailed,
    #[error("order not found")]
    OrderNotFound,
    #[error("code already used")]
    AlreadyUsed,
    #[error("review not found")]
    ReviewNotFound,
    #[error("already reviewed: {current_status}")]
    AlreadyReviewed { current_status: String },
    #[error("the review could not be completed")]
    ReviewFailed,
    #[error("the store is unavailable")]
    StoreUnavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::InvalidInput { field: field.into(), reason: reason.into() }
    }

    /// Details a client can act on, shown as the envelope's `data`.
    pub fn details(&self) -> Option<Value> {
        match self {
            DomainError::InsufficientPoints { required, current } => {
                Some(serde_json::json!({ "required": required, "current": current }))
            }
            _ => None,
        }
    }
}
