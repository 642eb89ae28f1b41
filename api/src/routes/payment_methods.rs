//! Seed 002's payment methods under `/api/v1/wallet/payment-methods`, in
//! its envelope: list, get, add, update, set default, delete. Only display
//! details are stored; card data is refused (tokenize it at the provider).
//! The default rule is the engine's (`engine::payment_methods`).

use super::wallet_api::{envelope, user, Reply};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::payment_methods::PaymentMethod;
use engine::{MethodPatch, PaymentMethodId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most detail fields.
const DETAILS_MAX: usize = 20;
/// Longest detail text.
const DETAIL_LEN_MAX: usize = 255;
/// Keys that only hold card data.
const CARD_KEYS: [&str; 8] = [
    "number",
    "card_number",
    "pan",
    "cvc",
    "cvv",
    "cvc2",
    "cvv2",
    "security_code",
];

/// `POST` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMethod {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub details: Option<Map<String, Value>>,
    pub is_default: Option<bool>,
}

/// Update body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMethod {
    pub details: Option<Map<String, Value>>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    pub is_default: Option<bool>,
}

/// A method as the seed shows it.
#[derive(Debug, Serialize)]
pub struct MethodView {
    id: String,
    user_id: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    status: &'static str,
    details: Value,
    is_default: bool,
    created_at: String,
    updated_at: String,
}

fn view(method: &PaymentMethod) -> MethodView {
    MethodView {
        id: method.id.to_string(),
        user_id: method.user.clone(),
        kind: method.kind.clone(),
        name: method.name.clone(),
        status: if method.active { "active" } else { "inactive" },
        details: serde_json::from_str(&method.details).unwrap_or(Value::Object(Map::new())),
        is_default: method.is_default,
        created_at: crate::dto::timestamp(method.created_at_ms),
        updated_at: crate::dto::timestamp(method.updated_at_ms),
    }
}

/// Display details only: flat scalars, bounded, and never card data (a
/// card number or security code must be tokenized by the provider; only
/// its token and display fields are stored).
fn details(map: Option<Map<String, Value>>) -> Result<String, ApiError> {
    let map = map.unwrap_or_default();
    if map.len() > DETAILS_MAX {
        return Err(ApiError::field(
            "details",
            format!("has more than {DETAILS_MAX} fields"),
        ));
    }
    let refuse = |key: &str| {
        ApiError::field(
            &format!("details.{key}"),
            "looks like card data: card numbers and security codes must be tokenized by the payment provider; store only its token and display details (last4, brand, exp_month, exp_year)",
        )
    };
    for (key, value) in &map {
        if key.is_empty() || key.chars().count() > 40 || key.chars().any(char::is_control) {
            return Err(ApiError::field(
                "details",
                "keys must be 1 to 40 printable characters",
            ));
        }
        if CARD_KEYS.contains(&key.to_lowercase().as_str()) {
            return Err(refuse(key));
        }
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(_) | Value::Null => continue,
            _ => {
                return Err(ApiError::field(
                    &format!("details.{key}"),
                    "must be a string, number, boolean or null",
                ))
            }
        };
        if text.chars().count() > DETAIL_LEN_MAX {
            return Err(ApiError::field(
                &format!("details.{key}"),
                format!("is longer than {DETAIL_LEN_MAX} characters"),
            ));
        }
        // A run of 12 or more digits (spaces and dashes aside) is a card
        // number, whatever its key.
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() >= 12 && digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(refuse(key));
        }
    }
    serde_json::to_string(&map).map_err(|_| ApiError::Internal)
}

fn method_id(text: &str) -> Result<PaymentMethodId, ApiError> {
    PaymentMethodId::parse(text).ok_or(ApiError::PaymentMethodNotFound)
}

#[utoipa::path(get, path = "/api/v1/wallet/payment-methods", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for")), responses((status = 200, description = "{statusCode, message, data: [method]}")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/payment-methods`.
pub async fn list(state: web::Data<AppState>, request: HttpRequest) -> Reply {
    let user = user(&request)?;
    let methods = state.engine.payment_methods(&user)?;
    let data: Vec<MethodView> = methods.iter().map(view).collect();
    Ok(envelope(
        StatusCode::OK,
        "Payment methods retrieved successfully",
        data,
    ))
}

#[utoipa::path(get, path = "/api/v1/wallet/payment-methods/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Payment method id (pmt_…)")), responses((status = 200, description = "{statusCode, message, data: method}"), (status = 404, description = "No such method of this user")), security(("bearer" = [])))]
/// `GET /api/v1/wallet/payment-methods/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let method = state
        .engine
        .payment_method(&user, &method_id(&path)?)?
        .ok_or(ApiError::PaymentMethodNotFound)?;
    Ok(envelope(
        StatusCode::OK,
        "Payment method retrieved successfully",
        view(&method),
    ))
}

#[utoipa::path(post, path = "/api/v1/wallet/payment-methods", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for")), request_body = AddMethod, responses((status = 201, description = "{statusCode, message, data: method}"), (status = 400, description = "Bad input, or card data (tokenize it at the provider)")), security(("bearer" = [])))]
/// `POST /api/v1/wallet/payment-methods`.
pub async fn add(state: web::Data<AppState>, request: HttpRequest, payload: web::Payload) -> Reply {
    let user = user(&request)?;
    let body: AddMethod =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let kind = crate::dto::identifier("type", &body.kind)?;
    if kind.chars().count() > 40 {
        return Err(ApiError::field("type", "is longer than 40 characters").into());
    }
    let name = crate::dto::identifier("name", &body.name)?;
    let details = details(body.details)?;
    let method = state
        .engine
        .add_payment_method(&user, kind, name, details, body.is_default.unwrap_or(false))
        .await?;
    Ok(envelope(
        StatusCode::CREATED,
        "Payment method added successfully",
        view(&method),
    ))
}

#[utoipa::path(put, path = "/api/v1/wallet/payment-methods/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Payment method id (pmt_…)")), request_body = UpdateMethod, responses((status = 200, description = "{statusCode, message, data: method}"), (status = 400, description = "Bad input"), (status = 404, description = "No such method of this user")), security(("bearer" = [])))]
/// `PUT` or `PATCH /api/v1/wallet/payment-methods/{id}`.
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Reply {
    let user = user(&request)?;
    let id = method_id(&path)?;
    let body: UpdateMethod =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let active = match body.status.as_deref() {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(_) => return Err(ApiError::field("status", "must be active or inactive").into()),
    };
    let patch = MethodPatch {
        details: body.details.map(|map| details(Some(map))).transpose()?,
        active,
        is_default: body.is_default,
    };
    let method = state
        .engine
        .update_payment_method(&user, &id, patch)
        .await?;
    Ok(envelope(
        StatusCode::OK,
        "Payment method updated successfully",
        view(&method),
    ))
}

#[utoipa::path(patch, path = "/api/v1/wallet/payment-methods/{id}/default", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Payment method id (pmt_…)")), responses((status = 200, description = "{statusCode, message, data: method}"), (status = 400, description = "An inactive method cannot be the default"), (status = 404, description = "No such method of this user")), security(("bearer" = [])))]
/// `PATCH /api/v1/wallet/payment-methods/{id}/default`.
pub async fn set_default(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    let patch = MethodPatch {
        is_default: Some(true),
        ..MethodPatch::default()
    };
    let method = state
        .engine
        .update_payment_method(&user, &method_id(&path)?, patch)
        .await?;
    Ok(envelope(
        StatusCode::OK,
        "Default payment method set successfully",
        view(&method),
    ))
}

#[utoipa::path(delete, path = "/api/v1/wallet/payment-methods/{id}", tag = "wallet (seed 002)", params(("Tally-User" = String, Header, description = "The user this request acts for"), ("id" = String, Path, description = "Payment method id (pmt_…)")), responses((status = 200, description = "{statusCode, message}"), (status = 404, description = "No such method of this user")), security(("bearer" = [])))]
/// `DELETE /api/v1/wallet/payment-methods/{id}`.
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Reply {
    let user = user(&request)?;
    state
        .engine
        .delete_payment_method(&user, &method_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "statusCode": 200,
        "message": "Payment method deleted successfully",
    })))
}
