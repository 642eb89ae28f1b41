//! Reading request bodies: the size limit (413 before and while reading),
//! the client timeout (408), then `dto::decode_json` (or, where every field
//! is optional, an empty body as the defaults).

use crate::error::ApiError;
use actix_web::{http::header, web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// Reads at most `limit` bytes of body, within the client timeout, and
/// decodes it as `T`.
pub async fn read_json<T: DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_bytes(request, payload, limit).await?;
    crate::dto::decode_json(&body)
}

/// As [`read_json`], but an empty body (or only whitespace) is `T`'s
/// default: for routes whose every field is optional (a capture of the
/// whole hold is `POST` with no body).
pub async fn read_json_or_default<T: DeserializeOwned + Default>(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_bytes(request, payload, limit).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::dto::decode_json(&body)
}

/// Reads at most `limit` bytes of body, within the client timeout.
async fn read_bytes(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let timeout = request
        .app_data::<web::Data<crate::state::AppState>>()
        .map_or(std::time::Duration::from_secs(10), |state| {
            state.limits.body_timeout
        });
    tokio::time::timeout(timeout, read_limited(request, payload, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_limited(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(512).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ApiError::InvalidJson {
            message: format!("could not read the request body: {error}"),
            field: None,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
