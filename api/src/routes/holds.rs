//! Hold routes, the gateway's "may this run?" and "what did it cost?":
//! `POST /v1/wallets/{id}/holds`, `GET /v1/wallets/{id}/holds?status=`,
//! `GET /v1/holds/{id}`, `POST /v1/holds/{id}/capture` and
//! `POST /v1/holds/{id}/release`. A 402 carries the available credits and,
//! when configured, the wallet's top-up link.

use super::{created, idempotency_key, wallet_id};
use crate::body::{read_json, read_json_or_default};
use crate::dto::{ListView, TransactionView};
use crate::error::ApiError;
use crate::gateway::{Capture, HoldView, PlaceHold};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::holds::HoldStatus;
use engine::{HoldId, WalletId};
use serde::Deserialize;

/// The hold id in the path; an id of the wrong shape cannot exist.
fn hold_id(text: &str) -> Result<HoldId, ApiError> {
    HoldId::parse(text).ok_or(ApiError::HoldNotFound)
}

/// A 402 with the wallet's top-up link added, when one is configured.
pub(crate) async fn with_top_up_url(
    state: &AppState,
    wallet: &WalletId,
    error: engine::Error,
) -> ApiError {
    let error = ApiError::from(error);
    if !matches!(error, ApiError::InsufficientCredits { .. }) {
        return error;
    }
    let url = match state.engine.wallet(wallet).await {
        Ok(found) => state
            .gateway
            .top_up_url(found.id.as_str(), &found.external_customer_id),
        Err(_) => None,
    };
    error.with_top_up_url(url)
}

/// The wallet a hold belongs to, for the top-up link of a capture's 402.
async fn hold_refusal(state: &AppState, hold: &HoldId, error: engine::Error) -> ApiError {
    let engine = state.engine.clone();
    let id = hold.clone();
    let wallet = web::block(move || engine.hold(&id))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|view| view.placed.wallet_id);
    match wallet {
        Some(wallet) => with_top_up_url(state, &wallet, error).await,
        None => ApiError::from(error),
    }
}

#[utoipa::path(post, path = "/v1/wallets/{id}/holds", tag = "holds", params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Same key and body replay the original response; same key, other body: 409.")),
    request_body = PlaceHold,
    responses((status = 201, description = "The hold, pending, with the wallet's balances after it", body = HoldView),
        (status = 402, description = "More than the available credits; nothing changed (error.available_credits, error.top_up_url)", body = crate::error::ErrorBody),
        (status = 409, description = "Wallet not active, too many pending holds, or idempotency key reused", body = crate::error::ErrorBody),
        (status = 422, description = "unknown_model, price_currency_mismatch, fee_type_not_covered", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/wallets/{id}/holds`.
pub async fn place(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let key = idempotency_key(&request)?;
    let body: PlaceHold = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let (hold, ttl_ms, metadata) = body.parts(&state.limits, &state.gateway)?;
    let receipt = match state
        .engine
        .place_hold(&id, hold, ttl_ms, metadata, key)
        .await
    {
        Ok(receipt) => receipt,
        Err(error) => return Err(with_top_up_url(&state, &id, error).await),
    };
    let mut response = HttpResponse::Created();
    if receipt.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(HoldView::placed(&receipt)))
}

#[utoipa::path(post, path = "/v1/holds/{id}/capture", tag = "holds", params(("id" = String, Path, description = "Hold id (hld_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Same key and body replay the original response; same key, other body: 409.")),
    request_body = Capture,
    responses((status = 201, description = "The debit entry (type DEBIT, hold_id set): what it spent, what it gave back to which lots", body = TransactionView),
        (status = 402, description = "A capture beyond the hold that the available credits do not cover; the hold stays pending", body = crate::error::ErrorBody),
        (status = 404, description = "No such hold", body = crate::error::ErrorBody),
        (status = 409, description = "hold_already_captured, hold_already_released, or hold_expired (a capture after expiry is applied as a late capture instead, once)", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/holds/{id}/capture`.
pub async fn capture(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let hold = hold_id(&path)?;
    let key = idempotency_key(&request)?;
    // An empty body captures the whole hold.
    let body: Capture =
        read_json_or_default(&request, payload, state.limits.body_limit_bytes).await?;
    let (amount, metadata) = body.parts(&state.limits)?;
    match state
        .engine
        .capture_hold(&hold, amount, metadata, key)
        .await
    {
        Ok(receipt) => Ok(created(&receipt)),
        Err(error) => Err(hold_refusal(&state, &hold, error).await),
    }
}

#[utoipa::path(post, path = "/v1/holds/{id}/release", tag = "holds", params(("id" = String, Path, description = "Hold id (hld_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Same key replays the original response.")),
    responses((status = 201, description = "The release entry (type RELEASE): the credits given back to their lots", body = TransactionView),
        (status = 404, description = "No such hold", body = crate::error::ErrorBody),
        (status = 409, description = "hold_already_captured, hold_already_released or hold_expired", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/holds/{id}/release`.
pub async fn release(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hold = hold_id(&path)?;
    let key = idempotency_key(&request)?;
    let receipt = state.engine.release_hold(&hold, key).await?;
    Ok(created(&receipt))
}

#[utoipa::path(get, path = "/v1/holds/{id}", tag = "holds", params(("id" = String, Path, description = "Hold id (hld_…)")),
    responses((status = 200, description = "The hold", body = HoldView),
        (status = 404, description = "No such hold", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/holds/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hold = hold_id(&path)?;
    let engine = state.engine.clone();
    let view = web::block(move || engine.hold(&hold))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(HoldView::stored(&view)))
}

/// Query of a wallet's holds.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{id}/holds", tag = "holds",
    params(("id" = String, Path, description = "Wallet id (wal_…)"),
        ("status" = Option<String>, Query, description = "pending, captured, released or expired"),
        ("limit" = Option<String>, Query, description = "1 to 1000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "The wallet's holds, oldest first", body = ListView<HoldView>)), security(("bearer" = [])))]
/// `GET /v1/wallets/{id}/holds?status=&limit=&cursor=`.
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(name) => Some(HoldStatus::parse(name).ok_or_else(|| {
            ApiError::field("status", "must be pending, captured, released or expired")
        })?),
    };
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(HoldId::parse(text).ok_or_else(|| {
            ApiError::field("cursor", "must be a next_cursor value from an earlier page")
        })?),
    };
    let engine = state.engine.clone();
    let page = web::block(move || engine.wallet_holds(&id, status, cursor.as_ref(), limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data: page.holds.iter().map(HoldView::stored).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
