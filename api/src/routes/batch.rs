//! Batch routes: `POST /v1/debits/batch`, `/v1/deposits/batch` and
//! `/v1/topups/batch`. Up
//! to `batch_items_max` items, each with its own wallet (or user), amount,
//! idempotency key and metadata. Each item succeeds or fails on its own; the
//! reply lists one result per item, in order, with the single endpoints'
//! shapes, and is sent after the durable sync that covers the whole batch.

use super::wallet_id;
use crate::body::read_json;
use crate::dto::{
    self, DebitBatch, DebitItem, DecimalText, DepositBatch, DepositItem, Limits, ResultsForm,
    TopUpBatch, TopUpItem, TransactionView,
};
use crate::error::{ApiError, ErrorView};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::idempotency::KEY_LEN_MAX;
use engine::{BatchItem, Command, Receipt, Target};
use serde::Serialize;

/// The most minor units any currency has (CLF, UYW).
const MINOR_UNITS_MAX: u32 = 4;

/// One item's result.
#[derive(Serialize, utoipa::ToSchema)]
struct ItemView {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed: Option<bool>,
    /// The transaction's id (`"results":"compact"` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    /// The wallet changed, e.g. the one a deposit by user reached
    /// (`"results":"compact"` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    wallet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<TransactionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchView {
    object: &'static str,
    succeeded: usize,
    failed: usize,
    data: Vec<ItemView>,
}

#[utoipa::path(post, path = "/v1/debits/batch", tag = "batches", request_body = DebitBatch,
    responses((status = 200, description = "One result per item, in order, after the sync covering the batch", body = BatchView)), security(("bearer" = [])))]
/// `POST /v1/debits/batch`.
pub async fn debits(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(&state, &request, payload, |limits, item: DebitItem| {
        let command = Command::Debit {
            credits: dto::credits_positive("credits", Some(&item.credits))?,
            metadata: dto::metadata_from_map(limits, item.metadata)?,
            fee_type: dto::fee_type(item.fee_type.as_deref())?,
        };
        batch_item(
            Target::Wallet(wallet_id(&item.wallet_id)?),
            command,
            item.idempotency_key,
        )
    })
    .await
}

#[utoipa::path(post, path = "/v1/deposits/batch", tag = "batches", request_body = DepositBatch,
    responses((status = 200, description = "One result per item, in order, after the sync covering the batch", body = BatchView)), security(("bearer" = [])))]
/// `POST /v1/deposits/batch`.
pub async fn deposits(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let currency = state.engine.config().user_wallet_currency;
    handle(&state, &request, payload, |limits, item: DepositItem| {
        let (target, amount) = deposit_target(
            item.wallet_id.as_deref(),
            item.user.as_deref(),
            &item.amount,
            currency,
        )?;
        let metadata = dto::metadata_from_map(limits, item.metadata)?;
        batch_item(
            target,
            Command::Deposit { amount, metadata },
            item.idempotency_key,
        )
    })
    .await
}

#[utoipa::path(post, path = "/v1/topups/batch", tag = "batches", request_body = TopUpBatch,
    responses((status = 200, description = "One result per item, in order, after the sync covering the batch", body = BatchView)), security(("bearer" = [])))]
/// `POST /v1/topups/batch`.
pub async fn topups(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(&state, &request, payload, |limits, item: TopUpItem| {
        let metadata = dto::metadata_from_map(limits, item.metadata)?;
        let command = top_up(
            item.paid_credits.as_ref(),
            item.granted_credits.as_ref(),
            metadata,
            item.expires_at.as_deref(),
        )?;
        batch_item(
            Target::Wallet(wallet_id(&item.wallet_id)?),
            command,
            item.idempotency_key,
        )
    })
    .await
}

/// Every batch route: reserve the body's bytes in the batch budget (503
/// `overloaded` when full, before reading anything), read `{"items":[…]}`
/// within the batch limits, parse each item on its own (a bad item fails
/// alone), run the valid ones. The reservation is held until the reply is
/// built, since the decoded items and the results take memory too.
async fn handle<I: serde::de::DeserializeOwned>(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    parse: impl Fn(&Limits, I) -> Result<BatchItem, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let limits = state.limits;
    let Some(_reservation) = state
        .batch_bytes
        .reserve(request, limits.batch_body_limit_bytes)
    else {
        tracing::warn!(
            in_use = state.batch_bytes.used(),
            "batch refused: batch_bytes_in_flight_max reached"
        );
        return Err(ApiError::Overloaded);
    };
    let body: dto::Items<I> = read_json(request, payload, limits.batch_body_limit_bytes).await?;
    check_size(&limits, body.items.len())?;
    let parsed = body
        .items
        .into_iter()
        .map(|item| parse(&limits, item))
        .collect();
    run(state, parsed, body.results).await
}

fn batch_item(
    target: Target,
    command: Command,
    key: Option<String>,
) -> Result<BatchItem, ApiError> {
    Ok(BatchItem {
        target,
        command,
        key: item_key(key)?,
    })
}

/// Where a deposit goes (`wallet_id` or `user`, exactly one) and its
/// amount: a user's wallet has the configured currency, checked here; a
/// wallet's own currency is checked by the engine, which knows it.
pub(crate) fn deposit_target(
    wallet: Option<&str>,
    user: Option<&str>,
    amount: &DecimalText,
    user_currency: engine::Currency,
) -> Result<(Target, rust_decimal::Decimal), ApiError> {
    match (wallet, user) {
        (Some(id), None) => Ok((
            Target::Wallet(wallet_id(id)?),
            dto::positive_decimal("amount", amount, MINOR_UNITS_MAX)?,
        )),
        (None, Some(user)) => Ok((
            Target::User(dto::identifier("user", user)?),
            dto::currency_amount("amount", amount, user_currency)?,
        )),
        _ => Err(ApiError::field(
            "wallet_id",
            "or user (exactly one of them) is required",
        )),
    }
}

/// A top-up of paid and/or granted credits, at least one greater than zero.
pub(crate) fn top_up(
    paid: Option<&DecimalText>,
    granted: Option<&DecimalText>,
    metadata: engine::Metadata,
    expires_at: Option<&str>,
) -> Result<Command, ApiError> {
    let paid = dto::credits_or_zero("paid_credits", paid)?;
    let granted = dto::credits_or_zero("granted_credits", granted)?;
    if paid.is_zero() && granted.is_zero() {
        return Err(ApiError::amount(
            "paid_credits",
            "or granted_credits must be greater than zero",
        ));
    }
    let expires_at_ms = match expires_at {
        Some(text) => Some(dto::timestamp_ms("expires_at", text)?),
        None => None,
    };
    Ok(Command::TopUp {
        paid,
        granted,
        metadata,
        expires_at_ms,
    })
}

fn check_size(limits: &Limits, items: usize) -> Result<(), ApiError> {
    if items == 0 || items > limits.batch_items_max {
        return Err(ApiError::field(
            "items",
            format!("must hold 1 to {} items", limits.batch_items_max),
        ));
    }
    Ok(())
}

/// An item's idempotency key, held to the header's rules.
fn item_key(key: Option<String>) -> Result<Option<String>, ApiError> {
    match key {
        Some(key)
            if key.is_empty()
                || key.len() > KEY_LEN_MAX
                || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Err(ApiError::field(
                "idempotency_key",
                format!("must be 1 to {KEY_LEN_MAX} printable ASCII characters"),
            ))
        }
        key => Ok(key),
    }
}

/// Sends the valid items to the engine; invalid ones keep their error.
async fn run(
    state: &AppState,
    parsed: Vec<Result<BatchItem, ApiError>>,
    form: ResultsForm,
) -> Result<HttpResponse, ApiError> {
    let mut valid = Vec::with_capacity(parsed.len());
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(parsed.len());
    for item in parsed {
        match item {
            Ok(item) => {
                slots.push(Ok(valid.len()));
                valid.push(item);
            }
            Err(error) => slots.push(Err(error)),
        }
    }
    let mut outcomes: Vec<Option<Result<Receipt, engine::Error>>> = state
        .engine
        .execute_batch(valid)
        .await
        .into_iter()
        .map(Some)
        .collect();
    let data: Vec<ItemView> = slots
        .into_iter()
        .map(|slot| {
            let result = match slot {
                Ok(index) => outcomes[index]
                    .take()
                    .unwrap_or(Err(engine::Error::Overloaded("batch item lost")))
                    .map_err(ApiError::from),
                Err(error) => Err(error),
            };
            match result {
                Ok(receipt) if form == ResultsForm::Compact => ItemView {
                    status: 201,
                    replayed: Some(receipt.replayed),
                    transaction_id: Some(receipt.entry.txn_id.to_string()),
                    wallet_id: Some(receipt.entry.wallet_id.to_string()),
                    transaction: None,
                    error: None,
                },
                Ok(receipt) => ItemView {
                    status: 201,
                    replayed: Some(receipt.replayed),
                    transaction_id: None,
                    wallet_id: None,
                    transaction: Some(TransactionView::new(
                        &receipt.entry,
                        receipt.rate_amount.to_decimal(),
                        receipt.currency,
                    )),
                    error: None,
                },
                Err(error) => {
                    let (status, view) = error.view();
                    ItemView {
                        status,
                        replayed: None,
                        transaction_id: None,
                        wallet_id: None,
                        transaction: None,
                        error: Some(view),
                    }
                }
            }
        })
        .collect();
    let succeeded = data.iter().filter(|item| item.status == 201).count();
    Ok(HttpResponse::Ok().json(BatchView {
        object: "batch",
        succeeded,
        failed: data.len() - succeeded,
        data,
    }))
}
