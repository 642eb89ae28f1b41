//! `POST /v1/wallets/{id}/usage`: debits the priced cost of one model
//! call's usage, at the price version in force now. The debit's metadata
//! records the model, the counts, the version and the cost's parts; the
//! cost is converted to credits at the wallet's rate and rounded up to the
//! credit scale (10^-9), once, so a call is never charged less than it cost.

use super::{created, idempotency_key, wallet_id};
use crate::body::read_json;
use crate::dto::TransactionView;
use crate::error::ApiError;
use crate::gateway::UsageDebit;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(post, path = "/v1/wallets/{id}/usage", tag = "holds", params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Same key and body replay the original response; same key, other body: 409.")),
    request_body = UsageDebit,
    responses((status = 201, description = "The debit, its metadata recording model, counts, price version and cost", body = TransactionView),
        (status = 402, description = "More than the available credits; nothing changed (error.available_credits, error.top_up_url)", body = crate::error::ErrorBody),
        (status = 422, description = "unknown_model (never priced at zero), price_currency_mismatch", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/wallets/{id}/usage`.
pub async fn record(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let key = idempotency_key(&request)?;
    let body: UsageDebit = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let (model, usage, metadata) = body.parts(&state.limits)?;
    match state
        .engine
        .record_usage(&id, model, usage, metadata, key)
        .await
    {
        Ok(receipt) => Ok(created(&receipt)),
        Err(error) => Err(super::holds::with_top_up_url(&state, &id, error).await),
    }
}
