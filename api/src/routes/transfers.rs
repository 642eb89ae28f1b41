//! Transfers: `POST /v1/transfers` moves value from one wallet to another,
//! with an optional fee leg to a third, every leg or none (see
//! `engine::engine::transfers` for the protocol), and `GET
//! /v1/transfers/{id}` shows a transfer and its legs.

use crate::body::read_json;
use crate::dto::{self, timestamp, DecimalText, MetadataValue};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::money::parse_decimal;
use engine::transfers::{TransferAmount, TransferRecord, TransferState, FEE_PERCENT_SCALE};
use engine::{TransferId, TransferSpec, WalletId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fee leg of a transfer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeBody {
    /// Percent of the gross, 0 to 100, at most 4 decimals.
    pub percent: DecimalText,
    /// The wallet the fee goes to (the platform's revenue wallet).
    pub to_wallet: String,
}

/// `POST /v1/transfers`: `credits` (of the source) or `amount` (money).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub from_wallet: String,
    pub to_wallet: String,
    pub credits: Option<DecimalText>,
    pub amount: Option<DecimalText>,
    pub fee: Option<FeeBody>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// The fee of a transfer, as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeeView {
    pub percent: String,
    pub to_wallet: String,
}

/// One applied leg.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegView {
    /// `out`, `in`, `fee`, `refund` or `fee_refund`.
    pub role: &'static str,
    pub wallet_id: String,
    pub transaction_id: String,
    pub sequence: u64,
    pub credits: String,
}

/// A transfer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransferView {
    pub id: String,
    pub object: &'static str,
    /// `pending` (the source was debited; the rest is in flight),
    /// `completed` or `failed` (the source was refunded).
    pub status: &'static str,
    pub from_wallet: String,
    pub to_wallet: String,
    pub currency: String,
    /// Credits the source gave, the destination got and the fee wallet got.
    pub credits: String,
    pub net_credits: String,
    pub fee_credits: String,
    /// For a transfer of money: gross, fee and net amounts.
    pub amount: Option<String>,
    pub fee_amount: Option<String>,
    pub net_amount: Option<String>,
    pub fee: Option<FeeView>,
    pub metadata: BTreeMap<String, String>,
    pub legs: Vec<LegView>,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl TransferView {
    pub fn new(record: &TransferRecord) -> TransferView {
        let legs = &record.legs;
        // Money at the currency's minor units, as every amount is shown.
        let minor = record.currency.minor_units();
        let text = |amount: Option<rust_decimal::Decimal>| {
            amount.map(|mut amount| {
                amount.rescale(minor);
                amount.to_string()
            })
        };
        TransferView {
            id: record.id.to_string(),
            object: "transfer",
            status: record.state.as_str(),
            from_wallet: record.from.to_string(),
            to_wallet: record.to.to_string(),
            currency: record.currency.to_string(),
            credits: legs.gross.to_string(),
            net_credits: legs.net.to_string(),
            fee_credits: legs.fee.to_string(),
            amount: text(legs.gross_amount),
            fee_amount: text(legs.fee_amount),
            net_amount: text(legs.net_amount),
            fee: record.fee_wallet.as_ref().map(|wallet| FeeView {
                percent: record
                    .fee_percent
                    .map(|percent| percent.normalize().to_string())
                    .unwrap_or_default(),
                to_wallet: wallet.to_string(),
            }),
            metadata: record.metadata.iter().cloned().collect(),
            legs: record
                .applied
                .iter()
                .map(|leg| LegView {
                    role: leg.role.as_str(),
                    wallet_id: leg.wallet_id.to_string(),
                    transaction_id: leg.txn_id.to_string(),
                    sequence: leg.seq,
                    credits: leg.credits.to_string(),
                })
                .collect(),
            failure: record.failure.clone(),
            idempotency_key: record.idempotency_key.clone(),
            created_at: timestamp(record.created_at_ms),
            finished_at: record.finished_at_ms.map(timestamp),
        }
    }
}

fn wallet(field: &str, text: &str) -> Result<WalletId, ApiError> {
    WalletId::parse(text).ok_or_else(|| ApiError::field(field, "must be a wallet id (wal_…)"))
}

/// Client metadata of a transfer: the keys each leg records itself are
/// refused rather than shadowed.
fn transfer_metadata(
    limits: &dto::Limits,
    map: Option<BTreeMap<String, MetadataValue>>,
) -> Result<engine::Metadata, ApiError> {
    let metadata = dto::metadata_from_map(limits, map)?;
    if let Some((key, _)) = metadata
        .iter()
        .find(|(key, _)| key == "transfer_id" || key == "transfer_leg")
    {
        return Err(ApiError::field(
            &format!("metadata.{key}"),
            "is recorded by Tally on every leg; use another key",
        ));
    }
    Ok(metadata)
}

/// The engine's request from the body.
pub fn spec(limits: &dto::Limits, body: TransferBody) -> Result<TransferSpec, ApiError> {
    let from = wallet("from_wallet", &body.from_wallet)?;
    let to = wallet("to_wallet", &body.to_wallet)?;
    let amount = match (&body.credits, &body.amount) {
        (Some(credits), None) => {
            TransferAmount::Credits(dto::credits_positive("credits", Some(credits))?)
        }
        (None, Some(amount)) => {
            // The currency's minor units are checked against the wallets.
            let value =
                parse_decimal(&amount.0, 28).map_err(|error| ApiError::amount("amount", error))?;
            TransferAmount::Money(value)
        }
        _ => {
            return Err(ApiError::field(
                "credits",
                "or amount is required (one of them, not both)",
            ))
        }
    };
    let fee = match body.fee {
        None => None,
        Some(fee) => {
            let percent = parse_decimal(&fee.percent.0, FEE_PERCENT_SCALE)
                .map_err(|error| ApiError::amount("fee.percent", error))?;
            if percent > rust_decimal::Decimal::from(100) {
                return Err(ApiError::field("fee.percent", "must be at most 100"));
            }
            Some((percent, wallet("fee.to_wallet", &fee.to_wallet)?))
        }
    };
    Ok(TransferSpec {
        from,
        to,
        amount,
        fee,
        metadata: transfer_metadata(limits, body.metadata)?,
    })
}

#[utoipa::path(post, path = "/v1/transfers", tag = "transfers", params(("Idempotency-Key" = Option<String>, Header, description = "Scoped to from_wallet: same key and body return the same transfer; same key, other body: 409.")),
    request_body = TransferBody,
    responses((status = 201, description = "The transfer, completed: every leg applied", body = TransferView),
        (status = 202, description = "The source was debited and a receiving leg could not be applied now (overload, a failed write): the transfer is pending and ends by itself (the timer) or on a retry with the same key; never repeat it without the key", body = TransferView),
        (status = 402, description = "The source's paid credits do not cover the gross; nothing changed", body = crate::error::ErrorBody),
        (status = 409, description = "transfer_failed (a receiving wallet refused; the source was refunded) or idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 422, description = "Wallets in different currencies, or nothing left after the fee", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/transfers`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = super::idempotency_key(&request)?;
    let body: TransferBody = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let spec = spec(&state.limits, body)?;
    let (record, replayed) = state.engine.transfer(spec, key).await?;
    let mut response = match record.state {
        TransferState::Completed => HttpResponse::Created(),
        // The source was debited; the rest is in flight and will end (a
        // retry with the same key, or GET, shows how): never a 5xx, which
        // would read as "nothing happened".
        TransferState::Pending => HttpResponse::Accepted(),
        TransferState::Failed | TransferState::Forfeited => {
            let outcome = if record.state == TransferState::Failed {
                "failed and the source was refunded"
            } else {
                "failed and its refund was refused (the source was terminated)"
            };
            return Err(ApiError::TransferFailed {
                message: format!(
                    "transfer {} {outcome}: {}",
                    record.id,
                    record
                        .failure
                        .as_deref()
                        .unwrap_or("a receiving wallet refused it")
                ),
            });
        }
    };
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(TransferView::new(&record)))
}

#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers", params(("id" = String, Path, description = "Transfer id (trf_…)")),
    responses((status = 200, description = "The transfer and its legs", body = TransferView),
        (status = 404, description = "No such transfer", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/transfers/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = TransferId::parse(&path).ok_or(ApiError::TransferNotFound)?;
    let record = state
        .engine
        .transfer_record(&id)?
        .ok_or(ApiError::TransferNotFound)?;
    Ok(HttpResponse::Ok().json(TransferView::new(&record)))
}
