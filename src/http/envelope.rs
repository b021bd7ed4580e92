//! The envelope every HTTP answer has: `{code, msg, data}`. Success is [`Envelope`] around a
//! typed `data` (each handler names its own, so the OpenAPI document knows every answer's
//! shape); a refusal or fault is an [`ErrorEnvelope`], built only by `ApiError`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
pub use crate::domain::time::Timestamp;

/// A success: `code` 0, `msg` "success", and the answer in `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always 0 on success.
    #[schema(example = 0)]
    pub code: u32,
    #[schema(value_type = String, example = "success")]
    pub msg: &'static str,
    pub data: T,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// What a JSON handler answers: its typed success, or an error in the contract's envelope.
pub type Answer<T> = Result<Envelope<T>, ApiError>;

/// A success envelope around `data`.
pub fn ok<T: Serialize>(data: T) -> Envelope<T> {
    Envelope { code: 0, msg: "success", data }
}

/// An error: a contract code other than 0, the Chinese message a client shows, and `data`
/// (null unless the code carries details, such as `{required, current}` for 3001).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// An `ErrorCode`: see that schema for every code, its HTTP status and message.
    #[schema(example = 3001)]
    pub code: u32,
    #[schema(example = "积分余额不足")]
    pub msg: String,
    #[schema(value_type = Option<Object>)]
    pub data: serde_json::Value,
}

/// `{}` for answers that carry nothing but their success.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}
