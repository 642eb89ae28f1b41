//! Wallet transaction routes: TOPUP and VOID (`POST .../wallet-transactions`,
//! seed 001), usage debits (`POST .../debits`), and the ledger, newest first
//! with cursor pagination (`GET .../wallet-transactions?limit=&cursor=`).

use super::{created, idempotency_key, wallet_id};
use crate::body::read_json;
use crate::dto::{self, Debit, ListView, TransactionView, WalletTransaction};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::Command;
use serde::Deserialize;

#[utoipa::path(post, path = "/v1/wallets/{id}/wallet-transactions", tag = "transactions", params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: same key and body replay the original response; same key, other body: 409.")),
    request_body = WalletTransaction,
    responses((status = 201, description = "The transaction, with balances after it", body = TransactionView),
        (status = 402, description = "A VOID larger than the balance; nothing changed", body = crate::error::ErrorBody),
        (status = 409, description = "Idempotency key used with another request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/wallets/{id}/wallet-transactions`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let key = idempotency_key(&request)?;
    let body: WalletTransaction =
        read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let command = transaction_command(&state.limits, body)?;
    let receipt = state.engine.execute(&id, command, key).await?;
    Ok(created(&receipt))
}

fn transaction_command(limits: &dto::Limits, body: WalletTransaction) -> Result<Command, ApiError> {
    let metadata = dto::metadata_from_pairs(limits, body.metadata)?;
    match body.kind.as_str() {
        "TOPUP" => {
            if body.credits_to_void.is_some() {
                return Err(ApiError::field("credits_to_void", "is only for type VOID"));
            }
            if body.lot_id.is_some() {
                return Err(ApiError::field("lot_id", "is only for type VOID"));
            }
            super::batch::top_up(
                body.paid_credits.as_ref(),
                body.granted_credits.as_ref(),
                metadata,
                body.expires_at.as_deref(),
            )
        }
        "VOID" => {
            if body.paid_credits.is_some() || body.granted_credits.is_some() {
                return Err(ApiError::field(
                    "credits_to_void",
                    "is the only amount a VOID takes",
                ));
            }
            if body.expires_at.is_some() {
                return Err(ApiError::field("expires_at", "is only for type TOPUP"));
            }
            let credits = dto::credits_positive("credits_to_void", body.credits_to_void.as_ref())?;
            Ok(Command::Void {
                credits,
                metadata,
                lot: body.lot_id,
            })
        }
        other => Err(ApiError::field(
            "type",
            format!("must be TOPUP or VOID, not {other:?}"),
        )),
    }
}

#[utoipa::path(post, path = "/v1/wallets/{id}/debits", tag = "transactions", params(("id" = String, Path, description = "Wallet id (wal_…)"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: same key and body replay the original response; same key, other body: 409.")),
    request_body = Debit,
    responses((status = 201, description = "The debit, with balances after it", body = TransactionView),
        (status = 402, description = "Larger than the balance; nothing changed", body = crate::error::ErrorBody),
        (status = 409, description = "Idempotency key used with another request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/wallets/{id}/debits`.
pub async fn debit(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let key = idempotency_key(&request)?;
    let body: Debit = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let command = Command::Debit {
        credits: dto::credits_positive("credits", Some(&body.credits))?,
        metadata: dto::metadata_from_map(&state.limits, body.metadata)?,
        fee_type: dto::fee_type(body.fee_type.as_deref())?,
    };
    match state.engine.execute(&id, command, key).await {
        Ok(receipt) => Ok(created(&receipt)),
        Err(error) => Err(super::holds::with_top_up_url(&state, &id, error).await),
    }
}

/// Query of the ledger list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{id}/wallet-transactions", tag = "transactions",
    params(("id" = String, Path, description = "Wallet id (wal_…)"), ("limit" = Option<String>, Query, description = "1 to 1000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "Ledger entries, newest first", body = ListView<TransactionView>)), security(("bearer" = [])))]
/// `GET /v1/wallets/{id}/wallet-transactions?limit=&cursor=`.
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let cursor = match &query.cursor {
        None => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::field("cursor", "must be a next_cursor value from an earlier page")
        })?),
    };
    let engine = state.engine.clone();
    // A range scan of up to 1000 entries: run it off the async workers.
    let page = web::block(move || engine.transactions(&id, cursor, limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    let wallet = &page.wallet;
    let rate = wallet.rate_amount.to_decimal();
    let data = page
        .entries
        .iter()
        .map(|entry| TransactionView::new(entry, rate, wallet.currency))
        .collect();
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data,
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor.map(|seq| seq.to_string()),
    }))
}

#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id (txn_…), of any wallet")),
    responses((status = 200, description = "The ledger entry", body = TransactionView),
        (status = 404, description = "No such transaction", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/transactions/{id}`: one ledger entry by id, through the global
/// transaction index (two point reads, whatever the wallet).
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = engine::TxnId::parse(&path).ok_or(ApiError::TransactionNotFound)?;
    let engine = state.engine.clone();
    let found = web::block(move || engine.transaction(&id))
        .await
        .map_err(|_| ApiError::Internal)??;
    let (entry, wallet) = found.ok_or(ApiError::TransactionNotFound)?;
    Ok(HttpResponse::Ok().json(TransactionView::new(
        &entry,
        wallet.rate_amount.to_decimal(),
        wallet.currency,
    )))
}
