//! Seed 002's face, the "Wallet & Payments API", under `/api/v1/wallet`:
//! a user's general and AI balances, the transfer from general to AI with
//! the platform fee, the fee history, the user's transactions and invoices,
//! in the seed's envelope `{"statusCode","message","data"}` with the seed's
//! messages. A thin layer over the engine's accounts (`engine::accounts`),
//! transfers, transaction index and invoices; its field names never reach
//! the `/v1` API.
//!
//! The user it acts for is named by the `Tally-User` header (an admin or
//! write key acts for any user). Errors keep Tally's table (status, code,
//! field) inside the same envelope.

use crate::dto::{money_text, timestamp};
use crate::error::ApiError;
use crate::state::AppState;
pub use crate::state::WalletApiSettings;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use engine::accounts::Account;
use engine::money::{amount_for_credits, parse_decimal};
use engine::transfers::{TransferAmount, TransferRecord, TransferState};
use engine::{Currency, Entry, TransferSpec, TxnId, Wallet};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The header that names the user.
pub const USER_HEADER: &str = "Tally-User";

/// The most transactions or fees a list sorts: the newest this many (per
/// wallet for transactions). Sorting by amount reads them in one bounded
/// pass and sorts in memory; older history is reached through the `/v1`
/// ledger with cursors.
pub const LIST_WINDOW: usize = 10_000;

/// An error in the seed's envelope: Tally's status, code and field inside.
#[derive(Debug)]
pub struct SeedError(ApiError);

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<E: Into<ApiError>> From<E> for SeedError {
    fn from(error: E) -> SeedError {
        SeedError(error.into())
    }
}

impl ResponseError for SeedError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.enveloped_response()
    }
}

pub(crate) type Reply = Result<HttpResponse, SeedError>;

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Envelope<T> {
    statusCode: u16,
    message: &'static str,
    data: T,
}

pub(crate) fn envelope<T: Serialize>(
    status: StatusCode,
    message: &'static str,
    data: T,
) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        statusCode: status.as_u16(),
        message,
        data,
    })
}

/// The user the request acts for: a `user` key's own (a header naming
/// another is refused), else the `Tally-User` header.
pub(crate) fn user(request: &HttpRequest) -> Result<String, ApiError> {
    use actix_web::HttpMessage;
    let bound = request
        .extensions()
        .get::<crate::auth::BoundUser>()
        .map(|bound| bound.0.to_string());
    if let Some(bound) = bound {
        let named = request
            .headers()
            .get(USER_HEADER)
            .and_then(|value| value.to_str().ok());
        if named.is_some_and(|named| named != bound) {
            return Err(ApiError::Forbidden { scope: "user" });
        }
        return Ok(bound);
    }
    let header = request.headers().get(USER_HEADER).ok_or_else(|| {
        ApiError::field(USER_HEADER, "is required: the user this request acts for")
    })?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::field(USER_HEADER, "must be printable ASCII"))?;
    crate::dto::identifier(USER_HEADER, text)
}

/// Money value of `credits` of `wallet`, at its currency's minor units.
fn value(credits: engine::Credits, wallet: &Wallet) -> String {
    money(
        amount_for_credits(credits, wallet.rate_amount.to_decimal(), wallet.currency),
        wallet.currency,
    )
}

fn money(amount: Option<rust_decimal::Decimal>, currency: Currency) -> String {
    money_text(amount.unwrap_or_default(), currency)
}

/// The AI figures: limit (credited minus removed), usage (spent), remaining
/// (available now).
async fn ai_figures(state: &AppState, user: &str) -> Result<AiView, ApiError> {
    let currency = state.engine.config().user_wallet_currency;
    let Some(ai) = state.engine.existing_account(user, Account::Ai).await? else {
        let zero = money_text(rust_decimal::Decimal::ZERO, currency);
        return Ok(AiView {
            ai_limit: zero.clone(),
            ai_usage: zero.clone(),
            ai_remaining: zero,
        });
    };
    let (wallet, totals) = state.engine.wallet_totals(&ai.id).await?;
    let limit = totals
        .credited
        .checked_sub(totals.removed)
        .unwrap_or_default();
    // Each figure rounds toward zero to the cent; usage is what the limit
    // leaves after what remains, so the three always add up: it counts
    // credits spent, and those held for calls running (and any expired).
    let rate = wallet.rate_amount.to_decimal();
    let worth = |credits| amount_for_credits(credits, rate, wallet.currency).unwrap_or_default();
    let limit_value = worth(limit);
    let remaining_value = worth(wallet.balance.total());
    let usage_value = (limit_value - remaining_value).max(rust_decimal::Decimal::ZERO);
    Ok(AiView {
        ai_limit: money_text(limit_value, wallet.currency),
        ai_usage: money_text(usage_value, wallet.currency),
        ai_remaining: money_text(remaining_value, wallet.currency),
    })
}

async fn general_figure(
    state: &AppState,
    user: &str,
) -> Result<(Option<Wallet>, String), ApiError> {
    let currency = state.engine.config().user_wallet_currency;
    match state
        .engine
        .existing_account(user, Account::General)
        .await?
    {
        Some(wallet) => {
            let balance = value(wallet.total().total(), &wallet);
            Ok((Some(wallet), balance))
        }
        None => Ok((None, money_text(rust_decimal::Decimal::ZERO, currency))),
    }
}

#[derive(Serialize)]
struct AiView {
    ai_limit: String,
    ai_usage: String,
    ai_remaining: String,
}

#[derive(Serialize)]
struct BalancesView {
    general_balance: String,
    #[serde(flatten)]
    ai: AiView,
}

#[utoipa::path(get, path = "/api/v1/wallet/balances", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for")), responses((status = 200, description = "{statusCode, message, data: {general_balance, ai_limit, ai_usage, ai_remaining}}")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/balances`.
pub async fn balances(state: web::Data<AppState>, request: HttpRequest) -> Reply {
    let user = user(&request)?;
    let (_, general_balance) = general_figure(&state, &user).await?;
    let ai = ai_figures(&state, &user).await?;
    Ok(envelope(
        StatusCode::OK,
        "Balances retrieved successfully",
        BalancesView {
            general_balance,
            ai,
        },
    ))
}

#[derive(Serialize)]
struct GeneralView {
    id: Option<String>,
    user_id: String,
    general_balance: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/wallet/general", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for")), responses((status = 200, description = "{statusCode, message, data: {id, user_id, general_balance, created_at, updated_at}}")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/general`.
pub async fn general(state: web::Data<AppState>, request: HttpRequest) -> Reply {
    let user = user(&request)?;
    let (wallet, general_balance) = general_figure(&state, &user).await?;
    let updated = match &wallet {
        Some(wallet) => {
            let page = state.engine.transactions(&wallet.id, None, 1)?;
            page.entries
                .first()
                .map(|entry| timestamp(entry.created_at_ms))
        }
        None => None,
    };
    Ok(envelope(
        StatusCode::OK,
        "General balance retrieved successfully",
        GeneralView {
            id: wallet.as_ref().map(|wallet| wallet.id.to_string()),
            user_id: user,
            general_balance,
            created_at: wallet
                .as_ref()
                .map(|wallet| timestamp(wallet.created_at_ms)),
            updated_at: updated,
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/wallet/ai", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for")), responses((status = 200, description = "{statusCode, message, data: {ai_limit, ai_usage, ai_remaining}}")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/ai`.
pub async fn ai(state: web::Data<AppState>, request: HttpRequest) -> Reply {
    let user = user(&request)?;
    let figures = ai_figures(&state, &user).await?;
    Ok(envelope(
        StatusCode::OK,
        "AI balance retrieved successfully",
        figures,
    ))
}

/// `POST /api/v1/wallet/transfer-to-ai` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferToAi {
    pub amount: crate::dto::DecimalText,
}

#[derive(Serialize)]
struct TransferToAiView {
    gross_transferred: String,
    net_ai_credit: String,
    fee: String,
    general_balance: String,
    ai_balance: String,
    /// Seed 002 provisions an API key for the AI service on a first
    /// transfer. Tally's AI credits need no key of their own (a gateway
    /// debits them with its `debit` key), so none is ever created: false.
    key_created: bool,
    transfer_id: String,
}

#[utoipa::path(post, path = "/api/v1/wallet/transfer-to-ai", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("Idempotency-Key" = Option<String>, Header, description = "Same key and body return the same transfer")), request_body = TransferToAi, responses((status = 200, description = "{statusCode, message, data: {gross_transferred, net_ai_credit, fee, general_balance, ai_balance, key_created, transfer_id}}"), (status = 202, description = "Debited from the general balance; the AI credit follows shortly"), (status = 400, description = "amount not a strict USD string with at most 2 decimals"), (status = 402, description = "The general balance does not cover the amount")), security(("bearer" = [])))]
/// `POST /api/v1/wallet/transfer-to-ai`.
pub async fn transfer_to_ai(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let user = user(&request)?;
    let key = super::idempotency_key(&request)?;
    let body: TransferToAi =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let currency = state.engine.config().user_wallet_currency;
    let amount = parse_decimal(&body.amount.0, currency.minor_units())
        .map_err(|error| ApiError::amount("amount", error))?;
    if amount.is_zero() {
        return Err(ApiError::field("amount", "must be greater than zero").into());
    }
    let percent = parse_decimal(&state.wallet_api.ai_transfer_fee_percent, 4)
        .map_err(|_| ApiError::Internal)?;
    // Refused before anything is made: a user with no general wallet, or
    // one whose paid credits do not cover the amount, changes nothing
    // (the transfer itself re-checks, under the wallet's actor).
    let general = state
        .engine
        .existing_account(&user, Account::General)
        .await?;
    let gross = general.as_ref().and_then(|wallet| {
        engine::money::credits_for_amount(amount, wallet.rate_amount.to_decimal())
    });
    let Some(general) =
        general.filter(|wallet| gross.is_some_and(|gross| gross <= wallet.balance.paid))
    else {
        return Err(ApiError::InsufficientCredits {
            message: format!("the general balance does not cover {amount}"),
            available_credits: None,
            top_up_url: None,
        }
        .into());
    };
    let ai = state.engine.account(&user, Account::Ai).await?;
    let fee = if percent.is_zero() {
        None
    } else {
        let wallet = match engine::WalletId::parse(&state.wallet_api.fee_wallet) {
            Some(wallet) => wallet,
            None => state.engine.platform_fee_wallet().await?,
        };
        Some((percent, wallet))
    };
    let spec = TransferSpec {
        from: general.id.clone(),
        to: ai.id.clone(),
        amount: TransferAmount::Money(amount),
        fee,
        metadata: vec![("reason".to_owned(), "Transfer to AI credits".to_owned())],
    };
    let (record, _) = state.engine.transfer(spec, key).await?;
    if matches!(
        record.state,
        TransferState::Failed | TransferState::Forfeited
    ) {
        return Err(ApiError::TransferFailed {
            message: format!(
                "transfer {} failed: {}",
                record.id,
                record.failure.as_deref().unwrap_or("refused")
            ),
        }
        .into());
    }
    let (_, general_balance) = general_figure(&state, &user).await?;
    let figures = ai_figures(&state, &user).await?;
    let legs = &record.legs;
    // A fee the fee wallet refused went back to the general balance.
    let fee_refunded = record
        .applied
        .iter()
        .any(|leg| leg.role == engine::transfers::LegRole::FeeRefund);
    let (fee_text, net_text) = if fee_refunded {
        (
            money_text(rust_decimal::Decimal::ZERO, currency),
            money(legs.gross_amount, currency),
        )
    } else {
        (
            money(legs.fee_amount, currency),
            money(legs.net_amount, currency),
        )
    };
    let status = if record.state == TransferState::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(envelope(
        status,
        if status == StatusCode::OK {
            "Transfer completed and AI credit limit synced"
        } else {
            "Transfer accepted: the general balance was debited and the AI credit follows shortly"
        },
        TransferToAiView {
            gross_transferred: money(legs.gross_amount, currency),
            net_ai_credit: net_text,
            fee: fee_text,
            general_balance,
            ai_balance: figures.ai_remaining,
            key_created: false,
            transfer_id: record.id.to_string(),
        },
    ))
}

/// Page, limit, sort field and order of a list, as the seed names them.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    limit: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// A validated list query.
struct Listing {
    page: usize,
    limit: usize,
    sort_by: String,
    descending: bool,
}

impl ListQuery {
    fn checked(&self, fields: &[&str]) -> Result<Listing, ApiError> {
        let number = |name: &str, text: &Option<String>, default: usize, max: usize| match text {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|value| (1..=max).contains(value))
                .ok_or_else(|| {
                    ApiError::field(name, format!("must be a whole number from 1 to {max}"))
                }),
        };
        let page = number("page", &self.page, 1, 1_000_000)?;
        let limit = number("limit", &self.limit, 20, 100)?;
        let sort_by = self
            .sort_by
            .clone()
            .unwrap_or_else(|| "created_at".to_owned());
        if !fields.contains(&sort_by.as_str()) {
            return Err(ApiError::field(
                "sort_by",
                format!("must be one of {}", fields.join(", ")),
            ));
        }
        let descending = match self.sort_order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(ApiError::field("sort_order", "must be asc or desc")),
        };
        Ok(Listing {
            page,
            limit,
            sort_by,
            descending,
        })
    }
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Pagination {
    total: usize,
    page: usize,
    limit: usize,
    totalPages: usize,
}

/// One page of `items` (already sorted), with its pagination.
fn page_of<T>(items: Vec<T>, listing: &Listing) -> (Vec<T>, Pagination) {
    let total = items.len();
    let pages = total.div_ceil(listing.limit);
    let start = (listing.page - 1).saturating_mul(listing.limit);
    let data = items.into_iter().skip(start).take(listing.limit).collect();
    (
        data,
        Pagination {
            total,
            page: listing.page,
            limit: listing.limit,
            totalPages: pages,
        },
    )
}

#[derive(Serialize)]
struct FeeTransactionView {
    id: String,
    reason: String,
    amount: String,
}

#[derive(Serialize)]
struct FeeView {
    id: String,
    transaction_id: String,
    amount: String,
    created_at: String,
    transaction: FeeTransactionView,
}

#[derive(Serialize)]
struct FeesView {
    fees: Vec<FeeView>,
    pagination: Pagination,
}

/// A fee's money and its transfer's gross: the amounts a money transfer
/// named, or for a transfer of credits their value at the source's rate.
fn fee_amounts(
    record: &TransferRecord,
    source: &Wallet,
) -> (rust_decimal::Decimal, rust_decimal::Decimal) {
    let legs = &record.legs;
    let worth = |credits| {
        amount_for_credits(credits, source.rate_amount.to_decimal(), source.currency)
            .unwrap_or_default()
    };
    (
        legs.fee_amount.unwrap_or_else(|| worth(legs.fee_at_source)),
        legs.gross_amount.unwrap_or_else(|| worth(legs.gross)),
    )
}

fn fee_view(record: &TransferRecord, source: &Wallet) -> FeeView {
    let currency = record.currency;
    let (fee, gross) = fee_amounts(record, source);
    let out = record
        .applied
        .iter()
        .find(|leg| leg.role == engine::transfers::LegRole::Out);
    let fee_leg = record
        .applied
        .iter()
        .find(|leg| leg.role == engine::transfers::LegRole::Fee);
    let source = out.map(|leg| leg.txn_id.to_string()).unwrap_or_default();
    FeeView {
        id: fee_leg
            .map(|leg| leg.txn_id.to_string())
            .unwrap_or_default(),
        transaction_id: source.clone(),
        amount: money_text(fee, currency),
        created_at: timestamp(record.created_at_ms),
        transaction: FeeTransactionView {
            id: source,
            reason: record
                .metadata
                .iter()
                .find(|(key, _)| key == "reason")
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| "Transfer".to_owned()),
            amount: money_text(gross, currency),
        },
    }
}

#[utoipa::path(get, path = "/api/v1/wallet/ai-fees", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("page" = Option<String>, Query, description = "From 1 (default 1)"), ("limit" = Option<String>, Query, description = "1 to 100 (default 20)"), ("sort_by" = Option<String>, Query, description = "A field of the list (default created_at)"), ("sort_order" = Option<String>, Query, description = "asc or desc (default desc)")), responses((status = 200, description = "{statusCode, message, data: {fees, pagination}}; sort_by created_at, amount or transaction_id"), (status = 400, description = "A bad page, limit, sort_by or sort_order")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/ai-fees?page=&limit=&sort_by=&sort_order=`.
pub async fn ai_fees(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<ListQuery>,
) -> Reply {
    let user = user(&request)?;
    let listing = query.checked(&["created_at", "amount", "transaction_id"])?;
    let Some(general) = state
        .engine
        .existing_account(&user, Account::General)
        .await?
    else {
        let (_, pagination) = page_of(Vec::<TransferRecord>::new(), &listing);
        return Ok(envelope(
            StatusCode::OK,
            "AI fee history retrieved successfully",
            FeesView {
                fees: Vec::new(),
                pagination,
            },
        ));
    };
    let engine = state.engine.clone();
    let source = general.clone();
    // Read and sort off the async workers: a bounded but not small pass.
    let (page, pagination) = web::block(move || {
        let mut fees = engine.fees_from(&source.id, LIST_WINDOW)?;
        // Every key ends in the transfer's time and id: a total order, so
        // asc and desc are mirror images and ties never move.
        match listing.sort_by.as_str() {
            "amount" => fees.sort_by_key(|record| {
                (
                    fee_amounts(record, &source).0,
                    record.created_at_ms,
                    record.id.clone(),
                )
            }),
            "transaction_id" => fees.sort_by_key(|record| {
                (
                    record.applied.first().map(|leg| leg.txn_id.to_string()),
                    record.id.clone(),
                )
            }),
            _ => fees.sort_by_key(|record| (record.created_at_ms, record.id.clone())),
        }
        if listing.descending {
            fees.reverse();
        }
        Ok::<_, engine::Error>(page_of(fees, &listing))
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(envelope(
        StatusCode::OK,
        "AI fee history retrieved successfully",
        FeesView {
            fees: page
                .iter()
                .map(|record| fee_view(record, &general))
                .collect(),
            pagination,
        },
    ))
}

#[derive(Serialize)]
struct TransactionView {
    id: String,
    wallet_id: String,
    /// `general` or `ai`.
    account: &'static str,
    /// The ledger entry's type, lower case (`deposit`, `transfer_out`, …).
    transaction_type: String,
    status: &'static str,
    amount: String,
    currency: String,
    credits: String,
    direction: &'static str,
    created_at: String,
    updated_at: String,
}

fn transaction_view(entry: &Entry, wallet: &Wallet, account: &'static str) -> TransactionView {
    let ledger =
        crate::dto::TransactionView::new(entry, wallet.rate_amount.to_decimal(), wallet.currency);
    TransactionView {
        id: entry.txn_id.to_string(),
        wallet_id: wallet.id.to_string(),
        account,
        transaction_type: entry.kind.as_str().to_lowercase(),
        status: "completed",
        amount: ledger.amount,
        currency: wallet.currency.to_string(),
        credits: ledger.credits,
        direction: ledger.direction,
        created_at: timestamp(entry.created_at_ms),
        updated_at: timestamp(entry.created_at_ms),
    }
}

#[derive(Serialize)]
struct TransactionsView {
    transactions: Vec<TransactionView>,
    pagination: Pagination,
}

/// The user's accounts that exist, with their names.
async fn user_wallets(
    state: &AppState,
    user: &str,
) -> Result<Vec<(Wallet, &'static str)>, ApiError> {
    let mut wallets = Vec::new();
    for (account, name) in [(Account::General, "general"), (Account::Ai, "ai")] {
        if let Some(wallet) = state.engine.existing_account(user, account).await? {
            wallets.push((wallet, name));
        }
    }
    Ok(wallets)
}

#[utoipa::path(get, path = "/api/v1/wallet/transactions", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("page" = Option<String>, Query, description = "From 1 (default 1)"), ("limit" = Option<String>, Query, description = "1 to 100 (default 20)"), ("sort_by" = Option<String>, Query, description = "A field of the list (default created_at)"), ("sort_order" = Option<String>, Query, description = "asc or desc (default desc)")), responses((status = 200, description = "{statusCode, message, data: {transactions, pagination}}; sort_by id, transaction_type, status, amount, created_at or updated_at, over the newest 10,000 per wallet"), (status = 400, description = "A bad page, limit, sort_by or sort_order")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/transactions?page=&limit=&sort_by=&sort_order=`.
pub async fn transactions(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<ListQuery>,
) -> Reply {
    let user = user(&request)?;
    let listing = query.checked(&[
        "id",
        "transaction_type",
        "status",
        "amount",
        "created_at",
        "updated_at",
    ])?;
    let wallets = user_wallets(&state, &user).await?;
    let engine = state.engine.clone();
    // Read, shape and sort off the async workers: bounded, not small.
    let (page, pagination) = web::block(move || {
        let mut items = Vec::new();
        for (wallet, name) in &wallets {
            let read = engine.transactions(&wallet.id, None, LIST_WINDOW)?;
            for entry in &read.entries {
                let view = transaction_view(entry, wallet, name);
                let amount = view
                    .amount
                    .parse::<rust_decimal::Decimal>()
                    .unwrap_or_default();
                items.push((amount, view));
            }
        }
        // Every key ends in the id: a total order, so asc and desc mirror.
        match listing.sort_by.as_str() {
            "id" => items.sort_by(|a, b| a.1.id.cmp(&b.1.id)),
            "transaction_type" => items.sort_by(|a, b| {
                (a.1.transaction_type.as_str(), &a.1.created_at, &a.1.id).cmp(&(
                    b.1.transaction_type.as_str(),
                    &b.1.created_at,
                    &b.1.id,
                ))
            }),
            "status" => items.sort_by(|a, b| {
                (a.1.status, &a.1.created_at, &a.1.id).cmp(&(b.1.status, &b.1.created_at, &b.1.id))
            }),
            "amount" => items.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id))),
            _ => items.sort_by(|a, b| (&a.1.created_at, &a.1.id).cmp(&(&b.1.created_at, &b.1.id))),
        }
        if listing.descending {
            items.reverse();
        }
        Ok::<_, engine::Error>(page_of(items, &listing))
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(envelope(
        StatusCode::OK,
        "Transactions retrieved successfully",
        TransactionsView {
            transactions: page.into_iter().map(|(_, view)| view).collect(),
            pagination,
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/wallet/transactions/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Transaction id (txn_…)")), responses((status = 200, description = "{statusCode, message, data: transaction}"), (status = 404, description = "No such transaction of this user")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/transactions/{id}`: one of the user's transactions.
pub async fn transaction(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let txn = TxnId::parse(&path).ok_or(ApiError::TransactionNotFound)?;
    let engine = state.engine.clone();
    let found = web::block(move || engine.transaction(&txn))
        .await
        .map_err(|_| ApiError::Internal)??;
    let (entry, _) = found.ok_or(ApiError::TransactionNotFound)?;
    let wallets = user_wallets(&state, &user).await?;
    let (wallet, name) = wallets
        .iter()
        .find(|(wallet, _)| wallet.id == entry.wallet_id)
        .ok_or(ApiError::TransactionNotFound)?;
    Ok(envelope(
        StatusCode::OK,
        "Transaction retrieved successfully",
        transaction_view(&entry, wallet, name),
    ))
}

#[derive(Serialize)]
struct InvoiceTransactionView {
    id: String,
    transaction_type: String,
    status: &'static str,
    amount: String,
    currency: String,
    created_at: String,
}

#[derive(Serialize)]
struct SeedInvoiceView {
    id: String,
    user_id: String,
    transaction_id: String,
    invoice_number: String,
    status: &'static str,
    /// A decimal string, as every amount Tally shows (the seed shows a
    /// number here; a string never passes through a float).
    amount: String,
    currency: String,
    billing_details: super::invoices::BillingBody,
    items: Vec<super::invoices::ItemView>,
    issue_date: String,
    due_date: String,
    paid_date: String,
    created_at: String,
    updated_at: String,
    transaction: InvoiceTransactionView,
}

fn invoice_view(invoice: &engine::invoices::Invoice) -> SeedInvoiceView {
    let base = super::invoices::InvoiceView::new(invoice);
    SeedInvoiceView {
        id: base.id,
        user_id: invoice.customer.clone(),
        transaction_id: base.transaction_id.clone(),
        invoice_number: base.invoice_number,
        status: base.status,
        amount: base.amount.clone(),
        currency: base.currency.clone(),
        billing_details: base.billing_details,
        items: base.items,
        issue_date: base.issue_date.clone(),
        due_date: base.due_date,
        paid_date: base.paid_date.clone(),
        created_at: base.issue_date.clone(),
        updated_at: base.issue_date,
        transaction: InvoiceTransactionView {
            id: base.transaction_id,
            transaction_type: invoice.txn_kind.as_str().to_lowercase(),
            status: "completed",
            amount: base.amount,
            currency: base.currency,
            created_at: base.paid_date,
        },
    }
}

#[derive(Serialize)]
struct InvoicesView {
    invoices: Vec<SeedInvoiceView>,
    pagination: Pagination,
}

/// The user's invoices, newest issued first, at most [`LIST_WINDOW`].
async fn user_invoices(
    state: &AppState,
    user: &str,
) -> Result<Vec<engine::invoices::Invoice>, ApiError> {
    let mut invoices = Vec::new();
    for (wallet, _) in user_wallets(state, user).await? {
        let engine = state.engine.clone();
        let page = web::block(move || engine.wallet_invoices(&wallet.id, None, LIST_WINDOW))
            .await
            .map_err(|_| ApiError::Internal)??;
        invoices.extend(page.invoices);
    }
    Ok(invoices)
}

#[utoipa::path(get, path = "/api/v1/wallet/invoices", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("page" = Option<String>, Query, description = "From 1 (default 1)"), ("limit" = Option<String>, Query, description = "1 to 100 (default 20)"), ("sort_by" = Option<String>, Query, description = "A field of the list (default created_at)"), ("sort_order" = Option<String>, Query, description = "asc or desc (default desc)")), responses((status = 200, description = "{statusCode, message, data: {invoices, pagination}}; sort_by created_at, amount or invoice_number"), (status = 400, description = "A bad page, limit, sort_by or sort_order")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/invoices?page=&limit=&sort_by=&sort_order=`.
pub async fn invoices(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<ListQuery>,
) -> Reply {
    let user = user(&request)?;
    let listing = query.checked(&["created_at", "amount", "invoice_number"])?;
    let mut invoices = user_invoices(&state, &user).await?;
    match listing.sort_by.as_str() {
        "amount" => invoices.sort_by(|a, b| (a.amount, &a.number).cmp(&(b.amount, &b.number))),
        "invoice_number" => invoices.sort_by(|a, b| a.number.cmp(&b.number)),
        _ => invoices.sort_by(|a, b| (a.issued_at_ms, &a.number).cmp(&(b.issued_at_ms, &b.number))),
    }
    if listing.descending {
        invoices.reverse();
    }
    let (page, pagination) = page_of(invoices, &listing);
    Ok(envelope(
        StatusCode::OK,
        "Invoices retrieved successfully",
        InvoicesView {
            invoices: page.iter().map(invoice_view).collect(),
            pagination,
        },
    ))
}

/// One of the user's invoices (404 for anyone else's).
async fn user_invoice(
    state: &AppState,
    user: &str,
    id: &str,
) -> Result<engine::invoices::Invoice, ApiError> {
    let id = engine::InvoiceId::parse(id).ok_or(ApiError::InvoiceNotFound)?;
    let invoice = state
        .engine
        .invoice(&id)?
        .ok_or(ApiError::InvoiceNotFound)?;
    let mine = user_wallets(state, user)
        .await?
        .iter()
        .any(|(wallet, _)| wallet.id == invoice.wallet_id);
    if !mine {
        return Err(ApiError::InvoiceNotFound);
    }
    Ok(invoice)
}

#[utoipa::path(get, path = "/api/v1/wallet/invoices/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Invoice id (inv_…)")), responses((status = 200, description = "{statusCode, message, data: invoice}"), (status = 404, description = "No such invoice of this user")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/invoices/{id}`.
pub async fn invoice(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let invoice = user_invoice(&state, &user, &path).await?;
    Ok(envelope(
        StatusCode::OK,
        "Invoice retrieved successfully",
        invoice_view(&invoice),
    ))
}

#[utoipa::path(get, path = "/api/v1/wallet/invoices/{id}/pdf", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Invoice id (inv_…)")), responses((status = 200, description = "The invoice as a PDF", content_type = "application/pdf", body = Vec<u8>), (status = 404, description = "No such invoice of this user")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/invoices/{id}/pdf`.
pub async fn invoice_pdf(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let invoice = user_invoice(&state, &user, &path).await?;
    let bytes = crate::invoice_pdf::render(&invoice, &state.issuer);
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{}.pdf\"", invoice.number),
        ))
        .body(bytes))
}

#[derive(Serialize)]
struct GeneratedView {
    invoice_id: String,
    invoice_number: String,
}

#[utoipa::path(post, path = "/api/v1/wallet/invoices/generate/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Transaction id (txn_…)")), responses((status = 201, description = "{statusCode, message, data: {invoice_id, invoice_number}}: made now"), (status = 200, description = "The invoice that existed"), (status = 404, description = "No such transaction of this user")), security(("bearer" = [])))]
/// `POST /api/v1/wallet/invoices/generate/{id}`: the invoice of one of the
/// user's transactions: 201 when made now, 200 when it existed.
pub async fn generate_invoice(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let txn = TxnId::parse(&path).ok_or(ApiError::TransactionNotFound)?;
    let engine = state.engine.clone();
    let lookup = txn.clone();
    let found = web::block(move || engine.transaction(&lookup))
        .await
        .map_err(|_| ApiError::Internal)??;
    let (entry, _) = found.ok_or(ApiError::TransactionNotFound)?;
    let mine = user_wallets(&state, &user)
        .await?
        .iter()
        .any(|(wallet, _)| wallet.id == entry.wallet_id);
    if !mine {
        return Err(ApiError::TransactionNotFound.into());
    }
    let (invoice, created) = state
        .engine
        .issue_invoice(&txn, engine::invoices::BillingDetails::default())
        .await?;
    let (status, message) = if created {
        (StatusCode::CREATED, "Invoice generated successfully")
    } else {
        (StatusCode::OK, "Invoice already exists")
    };
    Ok(envelope(
        status,
        message,
        GeneratedView {
            invoice_id: invoice.id.to_string(),
            invoice_number: invoice.number,
        },
    ))
}
