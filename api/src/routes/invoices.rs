//! Invoices: `POST /v1/invoices` issues the invoice of a transaction that
//! brought money in (201 new, 200 the one issued before: never two for one
//! transaction), `GET /v1/invoices/{id}`, `GET /v1/invoices/{id}/pdf` and
//! `GET /v1/wallets/{id}/invoices`.

use crate::body::read_json;
use crate::dto::{money_text, timestamp, ListView};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::invoices::{BillingDetails, Invoice};
use engine::{InvoiceId, TxnId};
use serde::{Deserialize, Serialize};

/// Longest billing name or address.
const BILLING_LEN_MAX: usize = 255;

/// Billing details on the wire.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingBody {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// `POST /v1/invoices`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    pub transaction_id: String,
    pub billing_details: Option<BillingBody>,
}

/// One line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub description: String,
    pub amount: String,
}

/// An invoice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    pub id: String,
    pub object: &'static str,
    pub invoice_number: String,
    /// Always `paid`: an invoice is issued for money that came in.
    pub status: &'static str,
    pub amount: String,
    pub currency: String,
    pub wallet_id: String,
    pub customer: String,
    pub transaction_id: String,
    pub transaction_type: &'static str,
    pub credits: String,
    pub billing_details: BillingBody,
    pub items: Vec<ItemView>,
    pub issue_date: String,
    pub due_date: String,
    pub paid_date: String,
}

impl InvoiceView {
    pub fn new(invoice: &Invoice) -> InvoiceView {
        InvoiceView {
            id: invoice.id.to_string(),
            object: "invoice",
            invoice_number: invoice.number.clone(),
            status: "paid",
            amount: money_text(invoice.amount, invoice.currency),
            currency: invoice.currency.to_string(),
            wallet_id: invoice.wallet_id.to_string(),
            customer: invoice.customer.clone(),
            transaction_id: invoice.txn_id.to_string(),
            transaction_type: invoice.txn_kind.as_str(),
            credits: invoice.credits.to_string(),
            billing_details: BillingBody {
                name: invoice.billing.name.clone(),
                address: invoice.billing.address.clone(),
            },
            items: invoice
                .items
                .iter()
                .map(|item| ItemView {
                    description: item.description.clone(),
                    amount: money_text(item.amount, invoice.currency),
                })
                .collect(),
            issue_date: timestamp(invoice.issued_at_ms),
            due_date: timestamp(invoice.due_at_ms),
            paid_date: timestamp(invoice.paid_at_ms),
        }
    }
}

fn billing(body: Option<BillingBody>) -> Result<BillingDetails, ApiError> {
    let body = body.unwrap_or_default();
    for (field, value) in [
        ("billing_details.name", &body.name),
        ("billing_details.address", &body.address),
    ] {
        if let Some(value) = value {
            if value.chars().count() > BILLING_LEN_MAX || value.chars().any(char::is_control) {
                return Err(ApiError::field(
                    field,
                    format!(
                        "must be at most {BILLING_LEN_MAX} characters, without control characters"
                    ),
                ));
            }
        }
    }
    Ok(BillingDetails {
        name: body.name,
        address: body.address,
    })
}

#[utoipa::path(post, path = "/v1/invoices", tag = "invoices",
    request_body = IssueBody,
    responses((status = 201, description = "A new invoice", body = InvoiceView),
        (status = 200, description = "The transaction's invoice, issued before", body = InvoiceView),
        (status = 404, description = "No such transaction", body = crate::error::ErrorBody),
        (status = 400, description = "The transaction brought no money in", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/invoices`.
pub async fn issue(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: IssueBody = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let txn = TxnId::parse(&body.transaction_id).ok_or(ApiError::TransactionNotFound)?;
    let (invoice, created) = state
        .engine
        .issue_invoice(&txn, billing(body.billing_details)?)
        .await?;
    let view = InvoiceView::new(&invoice);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

fn find(state: &AppState, path: &str) -> Result<Invoice, ApiError> {
    let id = InvoiceId::parse(path).ok_or(ApiError::InvoiceNotFound)?;
    state.engine.invoice(&id)?.ok_or(ApiError::InvoiceNotFound)
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path, description = "Invoice id (inv_…)")),
    responses((status = 200, description = "The invoice", body = InvoiceView),
        (status = 404, description = "No such invoice", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/invoices/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(InvoiceView::new(&find(&state, &path)?)))
}

#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "invoices", params(("id" = String, Path, description = "Invoice id (inv_…)")),
    responses((status = 200, description = "The invoice as a PDF (application/pdf)", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such invoice", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/invoices/{id}/pdf`.
pub async fn pdf(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find(&state, &path)?;
    let bytes = crate::invoice_pdf::render(&invoice, &state.issuer);
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{}.pdf\"", invoice.number),
        ))
        .body(bytes))
}

/// Query of a wallet's invoices.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{id}/invoices", tag = "invoices",
    params(("id" = String, Path, description = "Wallet id (wal_…)"),
        ("limit" = Option<String>, Query, description = "1 to 1000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "The wallet's invoices, oldest first", body = ListView<InvoiceView>)),
    security(("bearer" = [])))]
/// `GET /v1/wallets/{id}/invoices`.
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let wallet = super::wallet_id(&path)?;
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(InvoiceId::parse(text).ok_or_else(|| {
            ApiError::field("cursor", "must be a next_cursor value from an earlier page")
        })?),
    };
    let page = state
        .engine
        .wallet_invoices(&wallet, cursor.as_ref(), limit)?;
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data: page.invoices.iter().map(InvoiceView::new).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
