//! Business refusals: the rules said no. They travel back to callers inside actor replies
//! (through [`crate::actors::Failure::Refused`]) and the HTTP layer turns each into its contract
//! code in one table (`http/error.rs`). A `DomainError` never means the server is broken: faults
//! (the store is down, an actor died) are `Failure`s of their own and never take this type.

/// Serializable: a refusal on the node that owns a customer's wallet travels back to the node
/// that took the request (cluster mode).
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum DomainError {
    /// A request field breaks a rule; `field` names it for the client (1003).
    #[error("invalid input in `{field}`: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("not a mainland mobile number")]
    BadPhone,
    #[error("bad or expired sign-in code")]
    BadCode,
    #[error("sign-in codes requested too often")]
    CodeTooFrequent { retry_after_ms: u64 },
    /// Too many wrong codes for this phone lately; sign-in for it is locked a while (1006).
    #[error("too many wrong sign-in codes for this phone")]
    PhoneLocked { retry_after_ms: u64 },
    /// WeChat rejected the `wx.login` code or the phone code: unknown, expired or used (1005/400).
    #[error("WeChat rejected the sign-in code")]
    WechatCodeRejected,
    /// WeChat could not be reached, was busy, answered an error of its own, or is not configured
    /// here (1005/502). Nothing changed; the customer may try again.
    #[error("WeChat sign-in is unavailable")]
    WechatUnavailable,
    /// A first WeChat sign-in needs the phone number button's code (1007, `{need_phone: true}`).
    #[error("the phone number is needed to sign up through WeChat")]
    PhoneNeeded,
    /// The SMS provider refused the code or could not be reached (1008); no code is pending.
    #[error("the sign-in code could not be sent")]
    SmsNotDelivered,
    #[error("refresh token invalid, expired, revoked or reused")]
    RefreshInvalid,
    #[error("bad admin credentials")]
    BadCredentials,
    /// Too many failed admin sign-ins for this username lately; locked a while (2006).
    #[error("admin sign-in locked after repeated failures")]
    AdminLocked { retry_after_ms: u64 },
    #[error("account banned")]
    Banned,
    #[error("not enough points: required {required}, current {current}")]
    InsufficientPoints { required: i64, current: i64 },
    #[error("too many draws in a short time")]
    DrawTooFrequent { retry_after_ms: u64 },
    #[error("daily draw limit reached")]
    DailyLimitReached,
    #[error("the lottery is not running")]
    WheelClosed,
    #[error("member level {current_level} is below the campaign's {required_level}")]
    LevelTooLow { required_level: i64, current_level: i64 },
    #[error("product not found or not on sale")]
    ProductUnavailable,
    #[error("not enough stock: {available} available, {requested} requested")]
    OutOfStock { available: i64, requested: i64 },
    /// Not enough points for a shop redemption: the shop's own code (4003), not the wheel's.
    #[error("not enough points to redeem: required {required}, current {current}")]
    RedeemInsufficientPoints { required: i64, current: i64 },
    #[error("order or prize not found")]
    OrderNotFound,
    #[error("code already used")]
    AlreadyUsed,
    #[error("no image in the upload")]
    NoImage,
    #[error("amount outside 0.01-10000 yuan")]
    BadAmount,
    #[error("not a JPEG, PNG or GIF image")]
    BadImage,
    #[error("image larger than allowed")]
    ImageTooLarge,
    #[error("review not found")]
    ReviewNotFound,
    #[error("approval needs the actual amount")]
    ActualAmountRequired,
    #[error("already reviewed: {current_status}")]
    AlreadyReviewed { current_status: String },
    /// The customer has as many receipts waiting, or uploaded in the last 24 hours, as allowed
    /// (9001/429 with `Retry-After`).
    #[error("too many receipt uploads")]
    TooManyUploads { retry_after_ms: u64 },
    /// A merchant may not decide a receipt they uploaded themselves (6005).
    #[error("a merchant cannot review their own upload")]
    OwnUpload,
    /// One check-in per business day (7001).
    #[error("already checked in today")]
    AlreadyCheckedIn,
    /// This round of the task was already claimed (7002).
    #[error("task reward already claimed")]
    TaskClaimed,
    /// The task's progress has not reached its target in this round (7003).
    #[error("task not completed yet")]
    TaskNotCompleted,
    #[error("task not found")]
    TaskNotFound,
    #[error("user not found")]
    UserNotFound,
    #[error("{0} not found")]
    NotFound(std::borrow::Cow<'static, str>),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::InvalidInput { field: field.into(), reason: reason.into() }
    }

    /// The shop answers "not enough points" with its own code; the wallet does not know which
    /// counter the spend came from, the redemption path does.
    pub fn for_redemption(self) -> Self {
        match self {
            DomainError::InsufficientPoints { required, current } => {
                DomainError::RedeemInsufficientPoints { required, current }
            }
            other => other,
        }
    }
}
