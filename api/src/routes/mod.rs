//! Route table and the pieces every handler shares: path ids, the
//! Idempotency-Key header, and the 201 reply of a change (with
//! `Idempotent-Replayed: true` when answered from a stored record).

pub mod admin;
pub mod batch;
pub mod clock;
pub mod deposits;
pub mod events;
pub mod holds;
pub mod invoices;
pub mod payment_methods;
pub mod payments;
pub mod prices;
pub mod provider_webhooks;
pub mod sessions;
pub mod system;
pub mod transactions;
pub mod transfers;
pub mod usage;
pub mod wallet_api;
pub mod wallets;

use crate::auth::{Access, Need};
use crate::dto::TransactionView;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::{idempotency::KEY_LEN_MAX, Receipt, WalletId};

/// Registers every route, hot paths first. Each resource carries its route
/// label and what it needs from the caller's key (see `auth::guard`).
pub fn configure(config: &mut web::ServiceConfig) {
    use Need::{Admin, BalanceRead, Debit, Public, Read, Wallet, Write};
    config
        .service(
            web::scope("/v1")
                .service(
                    resource("/v1/wallets/{id}/debits", Read, Debit)
                        .route(web::post().to(transactions::debit)),
                )
                .service(
                    resource("/v1/debits/batch", Read, Debit).route(web::post().to(batch::debits)),
                )
                .service(
                    resource("/v1/wallets/{id}/holds", BalanceRead, Debit)
                        .route(web::post().to(holds::place))
                        .route(web::get().to(holds::list)),
                )
                .service(
                    resource("/v1/holds/{id}/capture", BalanceRead, Debit)
                        .route(web::post().to(holds::capture)),
                )
                .service(
                    resource("/v1/holds/{id}/release", BalanceRead, Debit)
                        .route(web::post().to(holds::release)),
                )
                .service(
                    resource("/v1/holds/{id}", BalanceRead, Debit).route(web::get().to(holds::get)),
                )
                .service(
                    resource("/v1/wallets/{id}/usage", BalanceRead, Debit)
                        .route(web::post().to(usage::record)),
                )
                .service(
                    resource("/v1/wallets/{id}", BalanceRead, Write)
                        .route(web::get().to(wallets::get))
                        .route(web::put().to(wallets::update))
                        .route(web::delete().to(wallets::terminate)),
                )
                .service(
                    resource("/v1/wallets/{id}/activate", Read, Write)
                        .route(web::post().to(wallets::activate)),
                )
                .service(
                    resource("/v1/wallets/{id}/wallet-transactions", Read, Write)
                        .route(web::post().to(transactions::create))
                        .route(web::get().to(transactions::list)),
                )
                .service(
                    resource("/v1/wallets", Read, Write)
                        .route(web::post().to(wallets::create))
                        .route(web::get().to(wallets::list)),
                )
                .service(
                    resource("/v1/user/balance/deposit", Read, Write)
                        .route(web::post().to(deposits::deposit)),
                )
                .service(
                    resource("/v1/user/balance", BalanceRead, Write)
                        .route(web::get().to(deposits::balance)),
                )
                .service(
                    resource("/v1/deposits/batch", Read, Write)
                        .route(web::post().to(batch::deposits)),
                )
                .service(
                    resource("/v1/topups/batch", Read, Write).route(web::post().to(batch::topups)),
                )
                .service(
                    resource("/v1/transfers", Read, Write).route(web::post().to(transfers::create)),
                )
                .service(
                    resource("/v1/payment-sessions", Read, Write)
                        .route(web::post().to(sessions::create)),
                )
                .service(
                    resource("/v1/payment-sessions/{id}", Read, Write)
                        .route(web::get().to(sessions::get)),
                )
                .service(
                    resource("/v1/balances", Read, Write).route(web::get().to(sessions::balances)),
                )
                .service(
                    // Signed by the provider, not by a bearer key.
                    resource("/v1/providers/stripe/webhook", Public, Public)
                        .route(web::post().to(provider_webhooks::stripe)),
                )
                .service(
                    resource("/v1/transactions/{id}", Read, Write)
                        .route(web::get().to(transactions::get)),
                )
                .service(
                    resource("/v1/invoices", Read, Write).route(web::post().to(invoices::issue)),
                )
                .service(
                    resource("/v1/invoices/{id}", Read, Write).route(web::get().to(invoices::get)),
                )
                .service(
                    resource("/v1/invoices/{id}/pdf", Read, Write)
                        .route(web::get().to(invoices::pdf)),
                )
                .service(
                    resource("/v1/wallets/{id}/invoices", Read, Write)
                        .route(web::get().to(invoices::list)),
                )
                .service(
                    resource("/v1/transfers/{id}", Read, Write)
                        .route(web::get().to(transfers::get)),
                )
                .service(resource("/v1/events", Read, Write).route(web::get().to(events::list)))
                .service(resource("/v1/prices", Read, Write).route(web::get().to(prices::list)))
                .service(
                    resource("/v1/prices/{model}", Read, Write)
                        .route(web::get().to(prices::get))
                        .route(web::put().to(prices::put)),
                )
                .service(
                    resource("/v1/prices/{model}/versions", Read, Write)
                        .route(web::get().to(prices::versions)),
                )
                .service(
                    resource("/v1/admin/verify", Admin, Admin).route(web::get().to(admin::verify)),
                )
                .service(
                    resource("/v1/admin/clock", Admin, Admin)
                        .route(web::get().to(clock::show))
                        .route(web::post().to(clock::set)),
                )
                .service(
                    resource("/v1/admin/api-keys", Admin, Admin)
                        .route(web::post().to(admin::create_key))
                        .route(web::get().to(admin::list_keys)),
                )
                .service(
                    resource("/v1/admin/api-keys/{id}", Admin, Admin)
                        .route(web::delete().to(admin::revoke_key)),
                )
                .default_service(web::to(system::route_not_found)),
        )
        .service(
            resource("/api/v1/wallet/balances", Wallet, Wallet)
                .route(web::get().to(wallet_api::balances)),
        )
        .service(
            resource("/api/v1/wallet/general", Wallet, Wallet)
                .route(web::get().to(wallet_api::general)),
        )
        .service(resource("/api/v1/wallet/ai", Wallet, Wallet).route(web::get().to(wallet_api::ai)))
        .service(
            resource("/api/v1/wallet/transfer-to-ai", Wallet, Wallet)
                .route(web::post().to(wallet_api::transfer_to_ai)),
        )
        .service(
            resource("/api/v1/wallet/ai-fees", Wallet, Wallet)
                .route(web::get().to(wallet_api::ai_fees)),
        )
        .service(
            resource("/api/v1/wallet/transactions", Wallet, Wallet)
                .route(web::get().to(wallet_api::transactions)),
        )
        .service(
            resource("/api/v1/wallet/transactions/{id}", Wallet, Wallet)
                .route(web::get().to(wallet_api::transaction)),
        )
        .service(
            resource("/api/v1/wallet/invoices", Wallet, Wallet)
                .route(web::get().to(wallet_api::invoices)),
        )
        .service(
            resource("/api/v1/wallet/invoices/generate/{id}", Wallet, Wallet)
                .route(web::post().to(wallet_api::generate_invoice)),
        )
        .service(
            resource("/api/v1/wallet/invoices/{id}/pdf", Wallet, Wallet)
                .route(web::get().to(wallet_api::invoice_pdf)),
        )
        .service(
            resource("/api/v1/wallet/invoices/{id}", Wallet, Wallet)
                .route(web::get().to(wallet_api::invoice)),
        )
        .service(
            resource("/api/v1/wallet/payment-methods", Wallet, Wallet)
                .route(web::get().to(payment_methods::list))
                .route(web::post().to(payment_methods::add)),
        )
        .service(
            resource(
                "/api/v1/wallet/payment-methods/{id}/default",
                Wallet,
                Wallet,
            )
            .route(web::patch().to(payment_methods::set_default)),
        )
        .service(
            resource("/api/v1/wallet/payment-methods/{id}", Wallet, Wallet)
                .route(web::get().to(payment_methods::get))
                .route(web::put().to(payment_methods::update))
                .route(web::patch().to(payment_methods::update))
                .route(web::delete().to(payment_methods::delete)),
        )
        .service(
            resource("/api/v1/wallet/payments", Wallet, Wallet)
                .route(web::post().to(payments::process)),
        )
        .service(
            resource("/api/v1/wallet/payments/{id}/status", Wallet, Wallet)
                .route(web::get().to(payments::status)),
        )
        .service(
            // The test provider's checkout page: the customer has no key.
            resource("/checkout/{id}", Public, Public).route(web::get().to(sessions::page)),
        )
        .service(
            resource("/checkout/{id}/pay", Public, Public).route(web::post().to(sessions::pay)),
        )
        .service(resource("/health", Public, Public).route(web::get().to(system::health)))
        .service(resource("/metrics", Public, Public).route(web::get().to(system::metrics)))
        .service(
            resource("/openapi.json", Public, Public).route(web::get().to(crate::openapi::serve)),
        )
        .default_service(web::to(system::route_not_found));
}

/// The `limit` query parameter: 1 to `limit_max`, default 100.
pub(crate) fn page_limit(text: Option<&str>, limit_max: usize) -> Result<usize, ApiError> {
    match text {
        None => Ok(100.min(limit_max)),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=limit_max).contains(limit))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("must be a whole number from 1 to {limit_max}"),
                )
            }),
    }
}

/// A resource at `route` (a full path; `/v1` resources sit in the `/v1`
/// scope), guarded by its needs, with the JSON 405 for unknown methods.
fn resource(
    route: &'static str,
    read: Need,
    write: Need,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let access = Access { route, read, write };
    let path = route.strip_prefix("/v1").unwrap_or(route);
    web::resource(path)
        .default_service(web::to(system::method_not_allowed))
        .wrap(actix_web::middleware::from_fn(move |request, next| {
            crate::auth::guard(access, request, next)
        }))
}

/// The wallet id in the path; an id of the wrong shape cannot exist.
pub fn wallet_id(text: &str) -> Result<WalletId, ApiError> {
    WalletId::parse(text).ok_or(ApiError::WalletNotFound)
}

/// The optional Idempotency-Key header: 1 to 255 printable ASCII characters.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let invalid = |message: &str| ApiError::InvalidIdempotencyKey {
        message: format!("Idempotency-Key {message}"),
    };
    let text = value
        .to_str()
        .map_err(|_| invalid("must be printable ASCII"))?;
    if text.is_empty() || text.len() > KEY_LEN_MAX {
        return Err(invalid(&format!("must be 1 to {KEY_LEN_MAX} characters")));
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid("must be printable ASCII"));
    }
    Ok(Some(text.to_owned()))
}

/// 201 with the transaction; a replay says so in a header.
pub fn created(receipt: &Receipt) -> HttpResponse {
    let view = TransactionView::new(
        &receipt.entry,
        receipt.rate_amount.to_decimal(),
        receipt.currency,
    );
    let mut response = HttpResponse::Created();
    if receipt.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(view)
}
