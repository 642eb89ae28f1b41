//! Operator routes: `GET /v1/admin/verify` recomputes every wallet from its
//! ledger on the live server (over a RocksDB snapshot) and reports each
//! mismatch with its wallet id and figures.

use crate::error::ApiError;
use crate::server::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize)]
struct MismatchView {
    wallet_id: Option<String>,
    detail: String,
}

#[derive(Serialize)]
struct VerifyView {
    object: &'static str,
    consistent: bool,
    wallets: u64,
    entries: u64,
    idempotency_records: u64,
    index_entries: u64,
    mismatches: Vec<MismatchView>,
}

/// `GET /v1/admin/verify`.
pub async fn verify(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let engine = state.engine.clone();
    // A full scan: keep it off the async workers.
    let report = web::block(move || engine.verify())
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(VerifyView {
        object: "verification",
        consistent: report.is_clean(),
        wallets: report.wallets,
        entries: report.entries,
        idempotency_records: report.idempotency_records,
        index_entries: report.index_entries,
        mismatches: report
            .mismatches
            .into_iter()
            .map(|mismatch| MismatchView {
                wallet_id: mismatch.wallet.map(|id| id.to_string()),
                detail: mismatch.detail,
            })
            .collect(),
    }))
}
