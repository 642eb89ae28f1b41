//! Wallet routes: create (`POST /v1/wallets`), get (`GET /v1/wallets/{id}`),
//! update (`PUT /v1/wallets/{id}`), list with filters (`GET /v1/wallets`),
//! activate and terminate.

use super::{idempotency_key, wallet_id};
use crate::body::read_json;
use crate::dto::{self, CreateWallet, ListView, UpdateWallet, WalletView};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::{Command, NewWallet, WalletFilter, WalletId, WalletStatus};
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
    let mut body: CreateWallet =
        read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let terms = dto::terms_spec(&state.limits, &mut body)?;
    let spec = NewWallet {
        external_customer_id: dto::identifier("external_customer_id", &body.external_customer_id)?,
        terms,
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

#[utoipa::path(put, path = "/v1/wallets/{id}", tag = "wallets",
    params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    request_body = UpdateWallet,
    responses((status = 200, description = "The wallet with its new terms; the change is an UPDATE ledger entry", body = WalletView),
        (status = 409, description = "Terminated", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `PUT /v1/wallets/{id}`: changes name, metadata, expiry, fee types or rules.
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let body: UpdateWallet = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let patch = dto::terms_patch(&state.limits, body)?;
    change_wallet(&state, &request, &id, Command::Configure(Box::new(patch))).await
}

/// Query of the wallet list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    external_customer_id: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets", tag = "wallets",
    params(("external_customer_id" = Option<String>, Query, description = "Only this customer's wallets"),
        ("status" = Option<String>, Query, description = "pending, active or terminated"),
        ("currency" = Option<String>, Query, description = "ISO 4217 code"),
        ("limit" = Option<String>, Query, description = "1 to page_limit_max (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "Wallets, oldest first. A page reads at most 10,000 wallets, so a rare filter can give a short page with a next_cursor.", body = ListView<WalletView>)), security(("bearer" = [])))]
/// `GET /v1/wallets?external_customer_id=&status=&currency=&limit=&cursor=`.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = WalletFilter {
        external_customer_id: match &query.external_customer_id {
            Some(customer) => Some(dto::identifier("external_customer_id", customer)?),
            None => None,
        },
        status: match &query.status {
            Some(name) => Some(WalletStatus::parse(name).ok_or_else(|| {
                ApiError::field("status", "must be pending, active or terminated")
            })?),
            None => None,
        },
        currency: match &query.currency {
            Some(code) => Some(dto::currency("currency", code)?),
            None => None,
        },
    };
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let after = match &query.cursor {
        Some(text) => Some(WalletId::parse(text).ok_or_else(|| {
            ApiError::field("cursor", "must be a next_cursor value from an earlier page")
        })?),
        None => None,
    };
    let engine = state.engine.clone();
    let page = web::block(move || engine.list_wallets(&filter, after.as_ref(), limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data: page.wallets.iter().map(WalletView::new).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}

/// Applies a lifecycle or terms command and answers with the wallet after it.
async fn change_wallet(
    state: &AppState,
    request: &HttpRequest,
    id: &WalletId,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(request)?;
    let receipt = state.engine.execute(id, command, key).await?;
    let wallet = state.engine.wallet(id).await?;
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
    change_wallet(&state, &request, &wallet_id(&path)?, Command::Activate).await
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
    change_wallet(&state, &request, &wallet_id(&path)?, Command::Terminate).await
}
