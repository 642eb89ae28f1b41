//! Bearer-key authentication for `/v1`. The key comes from settings, or is
//! generated on first start and kept in `<data_dir>/api_key` (mode 0600).
//! Only its SHA-256 digest is held in memory, and digests are compared in
//! constant time.

use crate::error::ApiError;
use crate::server::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, web, ResponseError};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// File name of a generated key inside the data folder.
pub const KEY_FILE: &str = "api_key";

/// The configured API key, as a digest.
pub struct ApiKey {
    digest: [u8; 32],
}

/// Where the key came from, for the startup log.
pub enum KeySource {
    /// From settings or `TALLY_API_KEY`.
    Configured,
    /// Read from a file generated on an earlier start.
    Stored(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

impl ApiKey {
    /// A key from its secret text.
    pub fn new(secret: &str) -> ApiKey {
        ApiKey {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// The configured key, or the one stored in `data_dir`, or a new one.
    pub fn load_or_generate(
        configured: &str,
        data_dir: &Path,
    ) -> std::io::Result<(ApiKey, KeySource)> {
        if !configured.is_empty() {
            return Ok((ApiKey::new(configured), KeySource::Configured));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((ApiKey::new(text.trim()), KeySource::Stored(path))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let secret = format!("tally_{}", hex::encode(rand::random::<[u8; 24]>()));
        let mut file = open_private(&path)?;
        file.write_all(secret.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        Ok((ApiKey::new(&secret), KeySource::Generated(path)))
    }

    /// True when `presented` is the key.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Middleware: 401 unless `Authorization: Bearer <key>` matches.
pub async fn require_key<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let authorized = match request.app_data::<web::Data<AppState>>() {
        Some(state) => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|presented| state.api_key.matches(presented.trim())),
        None => false,
    };
    if !authorized {
        let response = ApiError::Unauthorized.error_response();
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_stored_privately_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, source) = ApiKey::load_or_generate("", dir.path()).expect("generates");
        let KeySource::Generated(path) = source else {
            panic!("expected a new key")
        };
        let secret = std::fs::read_to_string(&path).expect("stored");
        assert!(key.matches(secret.trim()));
        assert!(!key.matches("wrong"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = ApiKey::load_or_generate("", dir.path()).expect("loads");
        assert!(matches!(source, KeySource::Stored(_)));
        assert!(again.matches(secret.trim()));
        let (configured, _) =
            ApiKey::load_or_generate("configured-key-123", dir.path()).expect("ok");
        assert!(configured.matches("configured-key-123"));
        assert!(!configured.matches(secret.trim()));
    }
}
