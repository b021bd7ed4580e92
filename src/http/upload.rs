//! Multipart image uploads (receipts, avatars): the file is read in chunks and refused with 413
//! as soon as it passes 5 MB; its type is decided by its first bytes, never by its name.

use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartError};
use bytes::{Bytes, BytesMut};

use super::error::ApiError;
use crate::domain::image::ImageKind;

pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// The whole request may carry a little more than the image: boundaries and the text fields.
pub const MAX_UPLOAD_BODY: usize = MAX_IMAGE_BYTES + 64 * 1024;
const MAX_TEXT_FIELD: usize = 1024;

pub struct ImageFile {
    pub bytes: Bytes,
    pub kind: ImageKind,
}

pub struct Form {
    pub image: Option<ImageFile>,
    pub fields: HashMap<String, String>,
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::ImageTooLarge
    } else {
        ApiError::bad("multipart", "the form could not be read")
    }
}

/// Reads a multipart form whose image comes in one of `file_fields`.
pub async fn read_form(mut form: Multipart, file_fields: &[&str]) -> Result<Form, ApiError> {
    let mut image = None;
    let mut fields = HashMap::new();
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if file_fields.contains(&name.as_str()) {
            let mut buf = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if buf.len() + chunk.len() > MAX_IMAGE_BYTES {
                    return Err(ApiError::ImageTooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.is_empty() || image.is_some() {
                continue;
            }
            let kind = ImageKind::sniff(&buf).ok_or(ApiError::BadImage)?;
            image = Some(ImageFile { bytes: buf.freeze(), kind });
        } else {
            let mut buf = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if buf.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(ApiError::bad(&name, "is too long"));
                }
                buf.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(buf.to_vec()).map_err(|_| ApiError::bad(&name, "must be UTF-8 text"))?;
            fields.insert(name, text);
        }
    }
    Ok(Form { image, fields })
}

/// A fresh object key that cannot collide or be guessed: `{prefix}/2026/11/<uuid>.jpg`.
pub fn object_key(prefix: &str, kind: ImageKind) -> String {
    let now = chrono::Utc::now();
    format!("{prefix}/{}/{}.{}", now.format("%Y/%m"), uuid::Uuid::new_v4().simple(), kind.extension())
}
