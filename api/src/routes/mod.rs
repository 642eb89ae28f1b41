//! Route table and the pieces every handler shares: path ids, the
//! Idempotency-Key header, and the 201 reply of a change (with
//! `Idempotent-Replayed: true` when answered from a stored record).

pub mod admin;
pub mod batch;
pub mod deposits;
pub mod system;
pub mod transactions;
pub mod wallets;

use crate::dto::TransactionView;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::{idempotency::KEY_LEN_MAX, Receipt, WalletId};

/// Registers every route. `/v1` requires the bearer key.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(resource("/health").route(web::get().to(system::health)))
        .service(resource("/metrics").route(web::get().to(system::metrics)))
        .service(
            web::scope("/v1")
                .wrap(actix_web::middleware::from_fn(crate::auth::require_key))
                .service(
                    resource("/wallets")
                        .route(web::post().to(wallets::create))
                        .route(web::get().to(wallets::list)),
                )
                .service(resource("/wallets/{id}").route(web::get().to(wallets::get)))
                .service(
                    resource("/wallets/{id}/wallet-transactions")
                        .route(web::post().to(transactions::create))
                        .route(web::get().to(transactions::list)),
                )
                .service(
                    resource("/wallets/{id}/debits").route(web::post().to(transactions::debit)),
                )
                .service(resource("/user/balance/deposit").route(web::post().to(deposits::deposit)))
                .service(resource("/user/balance").route(web::get().to(deposits::balance)))
                .service(resource("/admin/verify").route(web::get().to(admin::verify)))
                .service(
                    resource("/admin/api-keys")
                        .route(web::post().to(admin::create_key))
                        .route(web::get().to(admin::list_keys)),
                )
                .service(
                    resource("/admin/api-keys/{id}").route(web::delete().to(admin::revoke_key)),
                )
                .service(resource("/debits/batch").route(web::post().to(batch::debits)))
                .service(resource("/deposits/batch").route(web::post().to(batch::deposits)))
                .service(resource("/topups/batch").route(web::post().to(batch::topups)))
                .default_service(web::to(system::route_not_found)),
        )
        .default_service(web::to(system::route_not_found));
}

/// A resource whose unknown methods get the JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(system::method_not_allowed))
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
