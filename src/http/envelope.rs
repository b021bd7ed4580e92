//! The envelope every HTTP answer has: `{code, msg, data}`. Success is [`Envelope`] around a
//! typed `data` (each handler names its own, so the OpenAPI document knows every answer's
//! shape); a refusal or fault is an [`ErrorEnvelope`], built only by `ApiError`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
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

/// Room for a typical answer (a draw's envelope is about 400 bytes), so rendering it does not
/// grow the buffer several times over as `Json`'s 128-byte start would.
const RENDER_CAPACITY: usize = 1024;

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(RENDER_CAPACITY);
        match serde_json::to_writer(&mut body, &self) {
            Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            // Only a type whose Serialize fails could get here; the answer is still an envelope.
            Err(e) => ApiError::internal("rendering an answer", e).into_response(),
        }
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
