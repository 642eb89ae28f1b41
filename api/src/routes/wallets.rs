//! Wallet routes: create (`POST /v1/wallets`), get (`GET /v1/wallets/{id}`)
//! and list a customer's wallets (`GET /v1/wallets?external_customer_id=`).

use super::{idempotency_key, wallet_id};
use crate::body::read_json;
use crate::dto::{self, CreateWallet, ListView, WalletView};
use crate::error::ApiError;
use crate::server::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::{Command, NewWallet, WalletStatus};
use serde::Deserialize;

#[utoipa::path(post, path = "/v1/wallets", tag = "wallets", params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: same key and body replay the original response; same key, other body: 409.")), request_body = CreateWallet,
    responses((status = 201, description = "The wallet (on a replay, as created)", body = WalletView)), security(("bearer" = [])))]
/// `POST /v1/wallets`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let body: CreateWallet = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let name = match &body.name {
        Some(name) => Some(dto::identifier("name", name)?),
        None => None,
    };
    let spec = NewWallet {
        external_customer_id: dto::identifier("external_customer_id", &body.external_customer_id)?,
        name,
        currency: dto::currency("currency", &body.currency)?,
        rate_amount: dto::rate("rate_amount", &body.rate_amount)?,
        paid_credits: dto::credits_or_zero("paid_credits", body.paid_credits.as_ref())?,
        granted_credits: dto::credits_or_zero("granted_credits", body.granted_credits.as_ref())?,
        status: match body.status.as_deref() {
            None => WalletStatus::Active,
            Some(name) => WalletStatus::parse_initial(name)
                .ok_or_else(|| ApiError::field("status", "must be active or pending"))?,
        },
    };
    let created = state.engine.create_wallet(spec, key).await?;
    let mut response = HttpResponse::Created();
    if created.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(WalletView::new(&created.wallet)))
}

#[utoipa::path(get, path = "/v1/wallets/{id}", tag = "wallets", params(("id" = String, Path, description = "Wallet id (wal_…)")),
    responses((status = 200, description = "The wallet as of its last durable change", body = WalletView)), security(("bearer" = [])))]
/// `GET /v1/wallets/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let wallet = state.engine.wallet(&id).await?;
    Ok(HttpResponse::Ok().json(WalletView::new(&wallet)))
}

/// Query of the wallet list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    external_customer_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets", tag = "wallets",
    params(("external_customer_id" = String, Query, description = "The customer whose wallets to list")),
    responses((status = 200, description = "The customer's wallets, oldest first", body = ListView<WalletView>)), security(("bearer" = [])))]
/// `GET /v1/wallets?external_customer_id=...`.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer = query
        .external_customer_id
        .as_deref()
        .ok_or_else(|| ApiError::field("external_customer_id", "is required"))?;
    let customer = dto::identifier("external_customer_id", customer)?;
    let limit = state.limits.page_limit_max;
    let wallets = state.engine.customer_wallets(&customer, limit + 1).await?;
    let has_more = wallets.len() > limit;
    let data = wallets.iter().take(limit).map(WalletView::new).collect();
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data,
        has_more,
        next_cursor: None,
    }))
}

/// Applies a lifecycle command and answers with the wallet after it.
async fn change_status(
    state: &AppState,
    request: &HttpRequest,
    id: &str,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(id)?;
    let key = idempotency_key(request)?;
    let receipt = state.engine.execute(&id, command, key).await?;
    let wallet = state.engine.wallet(&id).await?;
    let mut response = HttpResponse::Ok();
    if receipt.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(WalletView::new(&wallet)))
}

#[utoipa::path(post, path = "/v1/wallets/{id}/activate", tag = "wallets",
    params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, description = "The wallet, now active", body = WalletView),
        (status = 409, description = "Not pending (already active, or terminated)", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/wallets/{id}/activate`: a pending wallet becomes active.
pub async fn activate(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_status(&state, &request, &path, Command::Activate).await
}

#[utoipa::path(delete, path = "/v1/wallets/{id}", tag = "wallets",
    params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, description = "The wallet, terminated; remaining credits forfeited with a TERMINATE entry", body = WalletView),
        (status = 409, description = "Already terminated", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `DELETE /v1/wallets/{id}`: terminates the wallet for good.
pub async fn terminate(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_status(&state, &request, &path, Command::Terminate).await
}
