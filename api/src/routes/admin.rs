//! Operator routes (admin scope): `GET /v1/admin/verify` recomputes every
//! wallet from its ledger on the live server (over a RocksDB snapshot) and
//! reports each mismatch; `/v1/admin/api-keys` creates, lists and revokes
//! API keys with no restart.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
struct MismatchView {
    wallet_id: Option<String>,
    detail: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct VerifyView {
    object: &'static str,
    consistent: bool,
    wallets: u64,
    entries: u64,
    idempotency_records: u64,
    index_entries: u64,
    mismatches: Vec<MismatchView>,
}

#[utoipa::path(get, path = "/v1/admin/verify", tag = "admin",
    responses((status = 200, description = "Every wallet recomputed from its ledger", body = VerifyView)), security(("bearer" = [])))]
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

/// `POST /v1/admin/api-keys` body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    name: String,
    scope: String,
    /// For scope `user`: the user whose accounts the key acts for.
    user: Option<String>,
}

/// A key as listed: never its secret, except once in the creation reply.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    id: String,
    object: &'static str,
    name: String,
    scope: String,
    prefix: String,
    created_at: String,
    revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl KeyView {
    /// The view of a stored key, with the secret when just created.
    pub fn new(record: &engine::credentials::ApiKeyRecord, secret: Option<String>) -> KeyView {
        KeyView {
            id: record.id.clone(),
            object: "api_key",
            name: record.name.clone(),
            scope: record.scope.clone(),
            prefix: format!("tally_{}_", record.id),
            created_at: crate::dto::timestamp(record.created_at_ms),
            revoked_at: record.revoked_at_ms.map(crate::dto::timestamp),
            secret,
        }
    }
}

#[utoipa::path(post, path = "/v1/admin/api-keys", tag = "admin", request_body = NewKeyBody,
    responses((status = 201, description = "The key, with its secret shown this once", body = KeyView)), security(("bearer" = [])))]
/// `POST /v1/admin/api-keys`: the secret is in this reply and nowhere else.
pub async fn create_key(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: NewKeyBody =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let name = crate::dto::identifier("name", &body.name)?;
    let scope = crate::auth::Scope::parse(&body.scope)
        .ok_or_else(|| ApiError::field("scope", "must be admin, write, debit, read or user"))?;
    let user = body
        .user
        .map(|user| crate::dto::identifier("user", &user))
        .transpose()?;
    let grant =
        crate::keys::grant(scope, user).map_err(|reason| ApiError::field("user", reason))?;
    let now_ms = engine::Clock::now_ms(&engine::SystemClock);
    let (record, secret) = crate::keys::create_key(&state.engine, &name, &grant, now_ms)
        .await
        .map_err(|error| match error {
            crate::keys::CreateKeyError::Engine(error) => ApiError::from(error),
            // Logged by create_key; nothing was stored.
            crate::keys::CreateKeyError::NoFreeId => ApiError::Internal,
        })?;
    state.keyring.upsert(&record);
    tracing::info!(id = %record.id, scope = %record.scope, "API key created");
    Ok(HttpResponse::Created().json(KeyView::new(&record, Some(secret))))
}

/// A list of keys.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyListView {
    object: &'static str,
    data: Vec<KeyView>,
}

/// Query of the key list.
#[derive(Debug, serde::Deserialize)]
pub struct KeyQuery {
    prefix: Option<String>,
}

#[utoipa::path(get, path = "/v1/admin/api-keys", tag = "admin",
    params(("prefix" = Option<String>, Query, description = "Key id prefix, with or without tally_")),
    responses((status = 200, description = "Keys, never their secrets", body = KeyListView)), security(("bearer" = [])))]
/// `GET /v1/admin/api-keys?prefix=`: ids starting with `prefix` (with or
/// without the `tally_` part).
pub async fn list_keys(
    state: web::Data<AppState>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let prefix = query.prefix.as_deref().unwrap_or("");
    let prefix = prefix.strip_prefix("tally_").unwrap_or(prefix);
    let data: Vec<KeyView> = state
        .engine
        .api_keys()?
        .iter()
        .filter(|record| record.id.starts_with(prefix))
        .map(|record| KeyView::new(record, None))
        .collect();
    Ok(HttpResponse::Ok().json(KeyListView {
        object: "list",
        data,
    }))
}

#[utoipa::path(delete, path = "/v1/admin/api-keys/{id}", tag = "admin", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "The revoked key", body = KeyView)), security(("bearer" = [])))]
/// `DELETE /v1/admin/api-keys/{id}`: revokes at once, for every worker.
pub async fn revoke_key(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut record = state
        .engine
        .api_keys()?
        .into_iter()
        .find(|record| record.id == id)
        .ok_or(ApiError::KeyNotFound)?;
    if record.revoked_at_ms.is_none() {
        let now_ms = engine::Clock::now_ms(&engine::SystemClock);
        record.revoked_at_ms = Some(now_ms);
        state.engine.put_api_key(&record).await?;
        state.keyring.upsert(&record);
        tracing::info!(id = %record.id, "API key revoked");
    }
    Ok(HttpResponse::Ok().json(KeyView::new(&record, None)))
}
