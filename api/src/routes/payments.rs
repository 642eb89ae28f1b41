//! Seed 002's payments: `POST /api/v1/wallet/payments` charges one of the
//! user's active payment methods through the provider and, when the charge
//! succeeded, credits the general balance, records the payment and issues
//! its paid invoice in one durable write (`Engine::record_payment`);
//! `GET /api/v1/wallet/payments/{id}/status` shows it as the seed does.

use super::wallet_api::{envelope, user, Reply};
use crate::dto::{money_text, timestamp, DecimalText};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use engine::accounts::Account;
use engine::money::parse_decimal;
use engine::payments::{Payment, PaymentStatus, Unsettled};
use engine::{PaymentId, PaymentMethodId, PaymentSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One part of a `credit_distribution`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributionPart {
    /// `general` or `ai`.
    pub credit_type: Option<String>,
    pub amount: String,
}

/// `POST /api/v1/wallet/payments` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessPayment {
    pub payment_method_id: String,
    pub amount: DecimalText,
    pub credit_distribution: Option<Vec<DistributionPart>>,
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct TransactionView {
    id: String,
    user_id: String,
    payment_method_id: String,
    transaction_type: &'static str,
    status: &'static str,
    amount: String,
    currency: String,
    gateway_name: String,
    gateway_transaction_id: String,
    reason: Option<String>,
    created_at: String,
    updated_at: String,
    /// After a refund: the money whose credits were already spent, owed.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_owed: Option<String>,
    /// Why the provider declined or failed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

fn transaction_view(payment: &Payment) -> TransactionView {
    TransactionView {
        id: payment.id.to_string(),
        user_id: payment.user.clone(),
        payment_method_id: payment.method_id.to_string(),
        transaction_type: "payment",
        status: payment.status.as_str(),
        amount: money_text(payment.amount, payment.currency),
        currency: payment.currency.to_string(),
        gateway_name: payment.provider.clone(),
        gateway_transaction_id: payment.provider_ref.clone(),
        reason: payment.reason.clone(),
        created_at: timestamp(payment.created_at_ms),
        updated_at: timestamp(payment.updated_at_ms),
        refund_owed: payment
            .refund_owed
            .map(|owed| money_text(owed, payment.currency)),
        failure_reason: payment.failure_reason.clone(),
    }
}

#[utoipa::path(post, path = "/api/v1/wallet/payments", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("Idempotency-Key" = Option<String>, Header, description = "Same key and body return the same payment; the provider's charge is keyed from it")), request_body = ProcessPayment, responses((status = 200, description = "{statusCode, message, data: {transaction, invoice, balance}}"), (status = 202, description = "The charge is processing at the provider; nothing credited yet"), (status = 402, description = "payment_declined: the provider's reason; nothing credited"), (status = 409, description = "The method is inactive"), (status = 404, description = "No such method of this user")), security(("bearer" = [])))]
/// `POST /api/v1/wallet/payments`.
pub async fn process(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let user = user(&request)?;
    let key = super::idempotency_key(&request)?;
    let body: ProcessPayment =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let currency = state.engine.config().user_wallet_currency;
    let minor = currency.minor_units();
    let amount =
        parse_decimal(&body.amount.0, minor).map_err(|error| ApiError::amount("amount", error))?;
    if amount.is_zero() {
        return Err(ApiError::field("amount", "must be greater than zero").into());
    }
    let mut distribution = Vec::new();
    if let Some(parts) = &body.credit_distribution {
        let mut sum = Decimal::ZERO;
        for (index, part) in parts.iter().enumerate() {
            let field = format!("credit_distribution[{index}].amount");
            let value = parse_decimal(&part.amount, minor)
                .map_err(|error| ApiError::amount(&field, error))?;
            sum += value;
            let credit_type = match part.credit_type.as_deref() {
                None | Some("general") => "general",
                Some("ai") => "ai",
                Some(_) => {
                    return Err(ApiError::field(
                        &format!("credit_distribution[{index}].credit_type"),
                        "must be general or ai",
                    )
                    .into())
                }
            };
            distribution.push((credit_type.to_owned(), money_text(value, currency)));
        }
        if sum != amount {
            return Err(ApiError::field(
                "credit_distribution",
                format!("sums to {sum}, not the amount {amount}"),
            )
            .into());
        }
    }
    let reason = body
        .reason
        .map(|reason| crate::dto::identifier("reason", &reason))
        .transpose()?;
    let method_id =
        PaymentMethodId::parse(&body.payment_method_id).ok_or(ApiError::PaymentMethodNotFound)?;
    let method = state
        .engine
        .payment_method(&user, &method_id)?
        .ok_or(ApiError::PaymentMethodNotFound)?;
    if !method.active {
        return Err(ApiError::PaymentMethodInactive.into());
    }
    let fingerprint = key.as_ref().map(|_| {
        engine::idempotency::fingerprint(
            &user,
            &(
                method_id.as_str(),
                amount.normalize().to_string(),
                &distribution,
                &reason,
            ),
        )
    });
    // A retry with the key returns the payment it made, charging nothing.
    if let Some(key) = &key {
        if let Some(found) = state.engine.payment_for_key(&user, key)? {
            if found.fingerprint != fingerprint {
                return Err(ApiError::IdempotencyKeyReused.into());
            }
            return reply(&state, &user, &found).await;
        }
    }
    let token = serde_json::from_str::<serde_json::Value>(&method.details)
        .ok()
        .and_then(|details| {
            details
                .get("token")
                .and_then(|token| token.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let amount_minor = engine::money::minor_amount(amount, currency)
        .ok_or_else(|| ApiError::field("amount", "is too large"))?;
    let spec = PaymentSpec {
        user: user.clone(),
        method_id,
        amount,
        reason,
        distribution,
        provider: state.provider.name().to_owned(),
    };
    let charge = Unsettled {
        token,
        amount_minor,
        currency: currency.code().to_owned(),
        charge_key: String::new(),
        next_check_ms: 0,
        attempts: 0,
    };
    // Recorded `processing` with its charge before the provider is asked:
    // a crash or a timeout from here on is reconciled, never charged twice.
    let (payment, charge, replay) = state
        .engine
        .begin_payment(spec, charge, key, fingerprint)
        .await?;
    if replay {
        return reply(&state, &user, &payment).await;
    }
    let pause = std::time::Duration::from_millis(state.payments.fault_pause_after_charge_ms);
    let payment =
        crate::reconcile::ask(&state.engine, &state.provider, &payment, &charge, pause).await?;
    reply(&state, &user, &payment).await
}

#[derive(Serialize)]
struct InvoiceRef {
    id: Option<String>,
    invoice_number: Option<String>,
}

#[derive(Serialize)]
struct BalanceRef {
    id: String,
    user_id: String,
    balance: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct ProcessedView {
    transaction: TransactionView,
    invoice: InvoiceRef,
    balance: Option<BalanceRef>,
}

async fn reply(state: &AppState, user: &str, payment: &Payment) -> Reply {
    let general = state
        .engine
        .existing_account(user, Account::General)
        .await?;
    let balance = general.map(|wallet| BalanceRef {
        id: wallet.id.to_string(),
        user_id: user.to_owned(),
        balance: money_text(
            engine::money::amount_for_credits(
                wallet.total().total(),
                wallet.rate_amount.to_decimal(),
                wallet.currency,
            )
            .unwrap_or_default(),
            wallet.currency,
        ),
        created_at: timestamp(wallet.created_at_ms),
        updated_at: timestamp(payment.updated_at_ms),
    });
    let view = ProcessedView {
        transaction: transaction_view(payment),
        invoice: InvoiceRef {
            id: payment.invoice_id.as_ref().map(ToString::to_string),
            invoice_number: payment.invoice_number.clone(),
        },
        balance,
    };
    Ok(match payment.status {
        PaymentStatus::Completed => {
            envelope(StatusCode::OK, "Payment processed successfully", view)
        }
        PaymentStatus::Processing => envelope(
            StatusCode::ACCEPTED,
            "Payment is processing at the provider; the balance is credited once it settles",
            view,
        ),
        // A retry of a declined payment is declined again, charging nothing.
        PaymentStatus::Failed => {
            return Err(ApiError::PaymentDeclined {
                message: format!(
                    "the payment was declined: {}",
                    payment
                        .failure_reason
                        .as_deref()
                        .unwrap_or("the provider reported it failed")
                ),
            }
            .into())
        }
        PaymentStatus::Refunded => envelope(
            StatusCode::OK,
            "Payment was refunded; its credits were removed",
            view,
        ),
    })
}

#[derive(Serialize)]
struct DetailView {
    id: Option<String>,
    transaction_id: String,
    credit_type: String,
    amount: String,
    created_at: String,
}

#[derive(Serialize)]
struct InvoiceStatusView {
    id: String,
    invoice_number: String,
    status: &'static str,
    issue_date: String,
    paid_date: String,
}

#[derive(Serialize)]
struct StatusView {
    #[serde(flatten)]
    transaction: TransactionView,
    details: Vec<DetailView>,
    invoice: Option<InvoiceStatusView>,
}

#[utoipa::path(get, path = "/api/v1/wallet/payments/{id}/status", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Payment id (pay_…)")), responses((status = 200, description = "{statusCode, message, data: payment with details and invoice}"), (status = 404, description = "No such payment of this user")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/payments/{id}/status`.
pub async fn status(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let id = PaymentId::parse(&path).ok_or(ApiError::PaymentNotFound)?;
    let payment = state
        .engine
        .payment(&id)?
        .filter(|payment| payment.user == user)
        .ok_or(ApiError::PaymentNotFound)?;
    let details = match payment.status {
        PaymentStatus::Completed if payment.distribution.is_empty() => vec![DetailView {
            id: payment.txn_id.as_ref().map(ToString::to_string),
            transaction_id: payment.id.to_string(),
            credit_type: "general".into(),
            amount: money_text(payment.amount, payment.currency),
            created_at: timestamp(payment.created_at_ms),
        }],
        _ => payment
            .distribution
            .iter()
            .map(|(credit_type, amount)| DetailView {
                id: payment.txn_id.as_ref().map(ToString::to_string),
                transaction_id: payment.id.to_string(),
                credit_type: credit_type.clone(),
                amount: amount.clone(),
                created_at: timestamp(payment.created_at_ms),
            })
            .collect(),
    };
    let invoice = match &payment.invoice_id {
        Some(id) => state.engine.invoice(id)?.map(|invoice| InvoiceStatusView {
            id: invoice.id.to_string(),
            invoice_number: invoice.number,
            status: "paid",
            issue_date: timestamp(invoice.issued_at_ms),
            paid_date: timestamp(invoice.paid_at_ms),
        }),
        None => None,
    };
    Ok(envelope(
        StatusCode::OK,
        "Payment status retrieved successfully",
        StatusView {
            transaction: transaction_view(&payment),
            details,
            invoice,
        },
    ))
}
