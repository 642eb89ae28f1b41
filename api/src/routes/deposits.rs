//! The deposit API of seed 000: `POST /v1/user/balance/deposit` credits a
//! user's default wallet (created by the first deposit) with the credits the
//! amount buys; `GET /v1/user/balance?user=` shows it. Idempotency keys are
//! scoped to the user's wallet (the same key through the batch route by
//! `wallet_id` is the same deposit).

use super::{created, idempotency_key};
use crate::body::read_json;
use crate::dto::{self, BalanceView, Deposit, TransactionView};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

#[utoipa::path(post, path = "/v1/user/balance/deposit", tag = "deposits", params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: same key and body replay the original response; same key, other body: 409.")), request_body = Deposit,
    responses((status = 201, description = "The deposit; the user's wallet is created by the first one", body = TransactionView),
        (status = 409, description = "Idempotency key used with another request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/user/balance/deposit`.
pub async fn deposit(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let body: Deposit = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let user = dto::identifier("user", &body.user)?;
    let currency = state.engine.config().user_wallet_currency;
    let amount = dto::currency_amount("amount", &body.amount, currency)?;
    let metadata = dto::metadata_from_map(&state.limits, body.metadata)?;
    let receipt = state.engine.deposit(&user, amount, metadata, key).await?;
    Ok(created(&receipt))
}

/// Query of the balance read.
#[derive(Debug, Deserialize)]
pub struct BalanceQuery {
    user: Option<String>,
}

/// A user's balance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserBalanceView {
    object: &'static str,
    user: String,
    wallet_id: Option<String>,
    currency: String,
    /// Currency value of the credits, rounded down.
    balance: String,
    credits: BalanceView,
}

#[utoipa::path(get, path = "/v1/user/balance", tag = "deposits", params(("user" = String, Query, description = "The user")),
    responses((status = 200, description = "The user's balance (zero for an unknown user)", body = UserBalanceView)), security(("bearer" = [])))]
/// `GET /v1/user/balance?user=...`: a user with no deposits has a zero balance.
pub async fn balance(
    state: web::Data<AppState>,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = query
        .user
        .as_deref()
        .ok_or_else(|| ApiError::field("user", "is required"))?;
    let user = dto::identifier("user", user)?;
    let config = state.engine.config();
    let view = match state.engine.user_wallet(&user).await? {
        Some(wallet) => {
            let credits = BalanceView::new(
                wallet.balance,
                wallet.held,
                wallet.rate_amount.to_decimal(),
                wallet.currency,
            );
            UserBalanceView {
                object: "user_balance",
                user,
                wallet_id: Some(wallet.id.to_string()),
                currency: wallet.currency.to_string(),
                balance: credits.amount.clone(),
                credits,
            }
        }
        None => {
            let credits = BalanceView::new(
                engine::wallet::Balance::default(),
                engine::wallet::Balance::default(),
                config.user_wallet_rate,
                config.user_wallet_currency,
            );
            UserBalanceView {
                object: "user_balance",
                user,
                wallet_id: None,
                currency: config.user_wallet_currency.to_string(),
                balance: credits.amount.clone(),
                credits,
            }
        }
    };
    Ok(HttpResponse::Ok().json(view))
}
