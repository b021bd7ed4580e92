//! Multipart image uploads (receipts, avatars): the file is read in chunks and never held past
//! 5 MB; its type is decided by its first bytes, never by its name.
//!
//! An image over the limit is refused with 413, and a form of more than [`MAX_FIELDS`] fields
//! with 1003, but the rest of the request (up to [`MAX_UPLOAD_BODY`]) is read and dropped first:
//! a client that is still sending when the server answers and closes gets a broken pipe instead
//! of the answer. Nothing past those limits is kept in memory.

use crate::domain::DomainError;
use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartError};
use bytes::{Bytes, BytesMut};

use super::error::ApiError;
use crate::domain::image::ImageKind;

pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Past this the connection is cut without reading further (a declared length this large is
/// refused before anything is read).
pub const MAX_UPLOAD_BODY: usize = 16 * 1024 * 1024;
const MAX_TEXT_FIELD: usize = 1024;
/// Fields in one form: a receipt needs two, so this leaves room for clients' extras while a
/// form of many tiny fields is refused instead of collected.
pub const MAX_FIELDS: usize = 8;

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
        ApiError::Refused(DomainError::ImageTooLarge)
    } else {
        ApiError::bad("multipart", "the form could not be read")
    }
}

/// Reads a multipart form whose image comes in one of `file_fields`.
pub async fn read_form(mut form: Multipart, file_fields: &[&str]) -> Result<Form, ApiError> {
    let mut image = None;
    let mut fields = HashMap::new();
    let mut too_large = false;
    let mut count = 0;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        count += 1;
        let name = field.name().unwrap_or_default().to_string();
        if too_large || count > MAX_FIELDS {
            while field.chunk().await.map_err(multipart_error)?.is_some() {}
            continue;
        }
        if file_fields.contains(&name.as_str()) {
            let mut buf = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if buf.len() + chunk.len() > MAX_IMAGE_BYTES {
                    too_large = true;
                    buf = BytesMut::new();
                }
                if !too_large {
                    buf.extend_from_slice(&chunk);
                }
            }
            if too_large || buf.is_empty() || image.is_some() {
                continue;
            }
            let kind = ImageKind::sniff(&buf).ok_or(ApiError::Refused(DomainError::BadImage))?;
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
    if too_large {
        return Err(ApiError::Refused(DomainError::ImageTooLarge));
    }
    if count > MAX_FIELDS {
        return Err(ApiError::bad("multipart", format!("has more than {MAX_FIELDS} fields")));
    }
    Ok(Form { image, fields })
}

/// A fresh object key that cannot collide or be guessed: `{prefix}/2026/11/<uuid>.jpg`.
pub fn object_key(prefix: &str, kind: ImageKind) -> String {
    let now = chrono::Utc::now();
    format!("{prefix}/{}/{}.{}", now.format("%Y/%m"), uuid::Uuid::new_v4().simple(), kind.extension())
}
