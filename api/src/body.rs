//! Reading request bodies: the size limit (413 before and while reading),
//! the client timeout (408), then `dto::decode_json`.

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
    let timeout = request
        .app_data::<web::Data<crate::state::AppState>>()
        .map_or(std::time::Duration::from_secs(10), |state| {
            state.limits.body_timeout
        });
    tokio::time::timeout(timeout, read_limited(request, payload, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_limited<T: DeserializeOwned>(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
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
    crate::dto::decode_json(&body)
}
