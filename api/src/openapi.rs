//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' `ToSchema` derives, so it cannot drift
//! from the code. Served at `GET /openapi.json` (no key). A modifier adds the
//! bearer scheme and the error responses every `/v1` route may give.

use crate::error::ErrorBody;
use crate::routes::{
    admin, batch, clock, deposits, events, holds, invoices, payment_methods, payments, prices,
    provider_webhooks, sessions, system, transactions, transfers, usage, wallet_api, wallets,
};
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tally",
        description = "Prepaid-credit wallets and usage metering. Amounts are JSON strings of plain decimals."
    ),
    paths(
        wallets::create,
        wallets::get,
        wallets::list,
        wallets::update,
        wallets::activate,
        wallets::terminate,
        transactions::create,
        transactions::debit,
        transactions::list,
        transactions::get,
        holds::place,
        holds::capture,
        holds::release,
        holds::get,
        holds::list,
        usage::record,
        transfers::create,
        transfers::get,
        invoices::issue,
        invoices::get,
        invoices::pdf,
        invoices::list,
        wallet_api::balances,
        wallet_api::general,
        wallet_api::ai,
        wallet_api::transfer_to_ai,
        wallet_api::ai_fees,
        wallet_api::transactions,
        wallet_api::transaction,
        wallet_api::invoices,
        wallet_api::invoice,
        wallet_api::invoice_pdf,
        wallet_api::generate_invoice,
        payment_methods::list,
        payment_methods::get,
        payment_methods::add,
        payment_methods::update,
        payment_methods::set_default,
        payment_methods::delete,
        payments::process,
        payments::status,
        provider_webhooks::stripe,
        sessions::create,
        sessions::get,
        sessions::balances,
        deposits::deposit,
        deposits::balance,
        batch::debits,
        batch::deposits,
        batch::topups,
        admin::verify,
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        events::list,
        prices::put,
        prices::get,
        prices::list,
        prices::versions,
        clock::show,
        clock::set,
        system::health,
        system::metrics,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions)
)]
pub struct ApiDoc;

/// Error responses any `/v1` (or `/api/v1`) route may give, from the one
/// error table.
const V1_ERRORS: [(&str, &str); 10] = [
    (
        "400",
        "Malformed or invalid input (the field is named); nothing changed",
    ),
    ("401", "Missing, wrong or revoked bearer key"),
    ("403", "The key's scope does not allow this route"),
    ("404", "Unknown wallet, key, model or route"),
    ("408", "The body did not arrive in time"),
    (
        "409",
        "The Idempotency-Key was used with another request, or the resource's state refuses the change",
    ),
    ("413", "Body over the configured limit"),
    (
        "422",
        "A balance would leave the representable range, or the wallet does not pay this fee type",
    ),
    ("500", "A bug; details are in the server log"),
    (
        "503",
        "Overloaded, storage unavailable or shutting down; retry after Retry-After",
    ),
];

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let error = || {
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Seed 002's face gives the same errors, inside its envelope
            // (which has the same `error` object).
            let errors: &[(&str, &str)] =
                if path.starts_with("/v1/") || path.starts_with("/api/v1/") {
                    &V1_ERRORS
                } else {
                    &V1_ERRORS[8..]
                };
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in errors {
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content("application/json", error())
                        .build();
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert(RefOr::T(response));
                }
            }
        }
        let _ = ErrorBody::schema();
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    })
}

/// `GET /openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}
