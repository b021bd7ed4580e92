//! Object storage for receipt photos and avatars: S3-compatible (AWS S3, MinIO, Sealos…) through
//! aws-sdk-s3, or a local directory when no S3 is configured. Objects are private: clients only
//! ever get signed, time-limited URLs — S3 presigned URLs, or for the local store an HMAC-signed
//! `/files/…` route served by this server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Config, S3Settings};
use crate::domain::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object storage: {0}")]
    Backend(String),
    #[error("no such object")]
    NotFound,
}

#[derive(Clone)]
pub enum ObjectStore {
    Local(Arc<LocalObjects>),
    S3(Arc<S3Objects>),
}

impl ObjectStore {
    pub async fn from_config(config: &Config) -> anyhow::Result<ObjectStore> {
        match &config.s3 {
            Some(s3) => Ok(ObjectStore::S3(Arc::new(S3Objects::connect(s3).await?))),
            None => {
                tokio::fs::create_dir_all(&config.upload_dir).await?;
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(config.jwt_secret.expose().as_bytes())
                    .map_err(|e| anyhow::anyhow!("url signing key: {e}"))?;
                mac.update(b"local object urls");
                Ok(ObjectStore::Local(Arc::new(LocalObjects {
                    dir: config.upload_dir.clone(),
                    key: mac.finalize().into_bytes().to_vec(),
                    base: config.public_base_url.clone().unwrap_or_default(),
                })))
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ObjectStore::Local(_) => "local",
            ObjectStore::S3(_) => "s3",
        }
    }

    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), ObjectError> {
        match self {
            ObjectStore::Local(l) => l.put(key, &body).await,
            ObjectStore::S3(s) => s.put(key, body, content_type).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self {
            ObjectStore::Local(l) => l.delete(key).await,
            ObjectStore::S3(s) => s.delete(key).await,
        }
    }

    /// A URL that lets its holder read the object for `ttl`.
    pub async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, ObjectError> {
        match self {
            ObjectStore::Local(l) => Ok(l.signed_url(key, ttl)),
            ObjectStore::S3(s) => s.signed_url(key, ttl).await,
        }
    }

    pub async fn healthy(&self) -> bool {
        match self {
            ObjectStore::Local(l) => tokio::fs::metadata(&l.dir).await.is_ok_and(|m| m.is_dir()),
            ObjectStore::S3(s) => s.client.head_bucket().bucket(&s.bucket).send().await.is_ok(),
        }
    }
}

/// Keys are made by the server (`receipts/2026/11/<uuid>.jpg`); anything else is refused, so a
/// key can never climb out of the upload directory.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

pub struct LocalObjects {
    dir: PathBuf,
    key: Vec<u8>,
    base: String,
}

impl LocalObjects {
    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        if !valid_key(key) {
            return Err(ObjectError::NotFound);
        }
        Ok(self.dir.join(Path::new(key)))
    }

    async fn put(&self, key: &str, body: &[u8]) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| ObjectError::Backend(e.to_string()))?;
        }
        // Write then rename, so a reader never sees half a photo.
        let tmp = path.with_extension("part");
        tokio::fs::write(&tmp, body).await.map_err(|e| ObjectError::Backend(e.to_string()))?;
        tokio::fs::rename(&tmp, &path).await.map_err(|e| ObjectError::Backend(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ObjectError::Backend(e.to_string())),
        }
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn signed_url(&self, key: &str, ttl: Duration) -> String {
        let expires = (now_ms() + ttl.as_millis() as i64) / 1000;
        format!("{}/files/{key}?expires={expires}&sig={}", self.base, self.signature(key, expires))
    }

    /// Reads an object if `sig` signs `key` and `expires` (epoch seconds) is in the future.
    pub async fn read_signed(&self, key: &str, expires: i64, sig: &str) -> Result<Vec<u8>, ObjectError> {
        let expected = self.signature(key, expires);
        let same = expected.len() == sig.len()
            && expected.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same || expires * 1000 < now_ms() {
            return Err(ObjectError::NotFound);
        }
        tokio::fs::read(self.path(key)?).await.map_err(|_| ObjectError::NotFound)
    }
}

pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    async fn connect(s: &S3Settings) -> anyhow::Result<S3Objects> {
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .credentials_provider(Credentials::new(s.access_key.expose(), s.secret_key.expose(), None, None, "env"))
            .force_path_style(s.force_path_style);
        if let Some(endpoint) = &s.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(builder.build());
        if client.head_bucket().bucket(&s.bucket).send().await.is_err() {
            // A fresh MinIO / test server has no bucket yet; real deployments already do.
            if let Err(e) = client.create_bucket().bucket(&s.bucket).send().await {
                tracing::warn!(bucket = %s.bucket, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not create the bucket");
            }
        }
        Ok(S3Objects { client, bucket: s.bucket.clone() })
    }

    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ObjectError::Backend(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ObjectError::Backend(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
    }

    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, ObjectError> {
        let presign = PresigningConfig::expires_in(ttl).map_err(|e| ObjectError::Backend(e.to_string()))?;
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presign)
            .await
            .map(|r| r.uri().to_string())
            .map_err(|e| ObjectError::Backend(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_directory() {
        assert!(valid_key("receipts/2026/11/0f3a.jpg"));
        for bad in ["", "../etc/passwd", "a/../../b", "/abs", "a//b", "a/./b", "a\\b", "a b", "a/%2e%2e"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn local_urls_are_signed_and_expire() {
        let dir = std::env::temp_dir().join(format!("objects-test-{}", uuid::Uuid::new_v4().simple()));
        let local = LocalObjects { dir: dir.clone(), key: b"k".to_vec(), base: String::new() };
        local.put("receipts/x.png", b"png").await.unwrap();
        let url = local.signed_url("receipts/x.png", Duration::from_secs(60));
        let q = url.split_once('?').unwrap().1;
        let expires: i64 = q.split('&').find_map(|p| p.strip_prefix("expires=")).unwrap().parse().unwrap();
        let sig = q.split('&').find_map(|p| p.strip_prefix("sig=")).unwrap();
        assert_eq!(local.read_signed("receipts/x.png", expires, sig).await.unwrap(), b"png");
        assert!(local.read_signed("receipts/x.png", expires + 1, sig).await.is_err(), "tampered expiry");
        let past = now_ms() / 1000 - 10;
        let old_sig = local.signature("receipts/x.png", past);
        assert!(local.read_signed("receipts/x.png", past, &old_sig).await.is_err(), "expired");
        local.delete("receipts/x.png").await.unwrap();
        assert!(local.read_signed("receipts/x.png", expires, sig).await.is_err(), "deleted");
        let _ = std::fs::remove_dir_all(dir);
    }
}
