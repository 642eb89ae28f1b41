//! Price book routes: `PUT /v1/prices/{model}` writes a new, immutable price
//! version; `GET /v1/prices` lists the version in force of every model,
//! `GET /v1/prices/{model}` the one in force now or `?at=` a time, and
//! `GET /v1/prices/{model}/versions` all of a model's versions. Writing needs
//! the admin or write scope, reading any scope that reads (`routes::configure`).
//!
//! A model name with `/` (LiteLLM's `gemini/gemini-2.5-flash`) goes into the
//! path URL-encoded (`gemini%2Fgemini-2.5-flash`).

use crate::body::read_json;
use crate::dto::{self, DecimalText, ListView};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::prices::{ModelName, Price, PriceAmounts, PriceSpec, PriceVersion};
use engine::PriceVersionId;
use serde::{Deserialize, Serialize};

/// `PUT /v1/prices/{model}` body. Amounts are decimal strings in the
/// currency, with at most 12 decimal places (18 per token).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    /// ISO 4217 code of every amount.
    pub currency: Option<String>,
    /// Per million uncached input tokens. Required.
    pub input_per_million: Option<DecimalText>,
    /// Per million input tokens read from a prompt cache; default `input_per_million`.
    pub cached_input_per_million: Option<DecimalText>,
    /// Per million input tokens written to a prompt cache; default `input_per_million`.
    pub cache_write_per_million: Option<DecimalText>,
    /// Per million output tokens (reasoning excluded). Required.
    pub output_per_million: Option<DecimalText>,
    /// Per million reasoning tokens; default `output_per_million`.
    pub reasoning_per_million: Option<DecimalText>,
    /// Per request; default 0.
    pub per_request: Option<DecimalText>,
    /// RFC 3339; default now. A version may be written ahead of its time.
    pub effective_from: Option<String>,
}

/// A price version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceView {
    /// `prv_…`.
    pub id: String,
    pub object: &'static str,
    pub model: String,
    pub currency: String,
    pub input_per_million: String,
    pub cached_input_per_million: String,
    pub cache_write_per_million: String,
    pub output_per_million: String,
    pub reasoning_per_million: String,
    pub per_request: String,
    /// In force from this time until a version with a later one.
    pub effective_from: String,
    pub created_at: String,
}

impl PriceView {
    /// The view of a stored version.
    pub fn new(version: &PriceVersion) -> PriceView {
        let amounts = &version.amounts;
        PriceView {
            id: version.id.to_string(),
            object: "price",
            model: version.model.to_string(),
            currency: version.currency.to_string(),
            input_per_million: amounts.input_per_million.to_string(),
            cached_input_per_million: amounts.cached_input_per_million.to_string(),
            cache_write_per_million: amounts.cache_write_per_million.to_string(),
            output_per_million: amounts.output_per_million.to_string(),
            reasoning_per_million: amounts.reasoning_per_million.to_string(),
            per_request: amounts.per_request.to_string(),
            effective_from: dto::timestamp(version.effective_from_ms),
            created_at: dto::timestamp(version.created_at_ms),
        }
    }
}

/// Checks a price body for `model` and turns it into a spec; errors name
/// the field. Nothing is written on any error.
pub fn price_spec(model: &str, body: &PriceBody) -> Result<PriceSpec, ApiError> {
    let model = ModelName::parse(model).map_err(|error| ApiError::field("model", error))?;
    let currency = body
        .currency
        .as_deref()
        .ok_or_else(|| ApiError::field("currency", "is required"))?;
    let currency = dto::currency("currency", currency)?;
    let price =
        |field: &str, text: &Option<DecimalText>, default: Option<Price>| match (text, default) {
            (Some(text), _) => {
                Price::parse(&text.0).map_err(|error| ApiError::amount(field, error))
            }
            (None, Some(default)) => Ok(default),
            (None, None) => Err(ApiError::amount(field, "is required")),
        };
    let input = price("input_per_million", &body.input_per_million, None)?;
    let output = price("output_per_million", &body.output_per_million, None)?;
    let amounts = PriceAmounts {
        input_per_million: input,
        cached_input_per_million: price(
            "cached_input_per_million",
            &body.cached_input_per_million,
            Some(input),
        )?,
        cache_write_per_million: price(
            "cache_write_per_million",
            &body.cache_write_per_million,
            Some(input),
        )?,
        output_per_million: output,
        reasoning_per_million: price(
            "reasoning_per_million",
            &body.reasoning_per_million,
            Some(output),
        )?,
        per_request: price("per_request", &body.per_request, Some(Price::ZERO))?,
    };
    let effective_from = body
        .effective_from
        .as_deref()
        .map(|text| dto::timestamp_ms("effective_from", text))
        .transpose()?;
    PriceSpec::new(model, currency, amounts, effective_from)
        .map_err(|error| ApiError::field("effective_from", error))
}

/// The model named in a read path; a name no model can have is unknown.
fn known_model(text: &str) -> Result<ModelName, ApiError> {
    ModelName::parse(text).map_err(|_| ApiError::unknown_model(text, None))
}

#[utoipa::path(put, path = "/v1/prices/{model}", tag = "prices",
    params(("model" = String, Path, description = "Model name, URL-encoded (a '/' is %2F)")),
    request_body = PriceBody,
    responses((status = 201, description = "The new price version, durable; earlier versions are unchanged", body = PriceView)),
    security(("bearer" = [])))]
/// `PUT /v1/prices/{model}`: a new version; nothing is ever overwritten.
pub async fn put(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: PriceBody = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let spec = price_spec(&path, &body)?;
    let version = state.engine.put_price(spec).await?;
    Ok(HttpResponse::Created().json(PriceView::new(&version)))
}

/// Query of `GET /v1/prices/{model}`.
#[derive(Debug, Deserialize)]
pub struct AtQuery {
    at: Option<String>,
}

#[utoipa::path(get, path = "/v1/prices/{model}", tag = "prices",
    params(("model" = String, Path, description = "Model name, URL-encoded (a '/' is %2F)"),
        ("at" = Option<String>, Query, description = "RFC 3339 time; default now")),
    responses((status = 200, description = "The version in force at that time", body = PriceView),
        (status = 404, description = "unknown_model: no version of this model is in force at that time", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/prices/{model}?at=`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AtQuery>,
) -> Result<HttpResponse, ApiError> {
    let at_ms = match &query.at {
        Some(text) => dto::timestamp_ms("at", text)?,
        None => state.engine.now_ms(),
    };
    let model = known_model(&path)?;
    let version = state
        .engine
        .price_at(model.as_str(), at_ms)?
        .ok_or_else(|| ApiError::unknown_model(model.as_str(), query.at.as_deref()))?;
    Ok(HttpResponse::Ok().json(PriceView::new(&version)))
}

/// Query of the lists.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/prices", tag = "prices",
    params(("limit" = Option<String>, Query, description = "1 to page_limit_max (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "The version in force now of every model, by model name", body = ListView<PriceView>)),
    security(("bearer" = [])))]
/// `GET /v1/prices?limit=&cursor=`.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let after = query
        .cursor
        .as_deref()
        .map(|text| {
            ModelName::parse(text).map_err(|_| {
                ApiError::field("cursor", "must be a next_cursor value from an earlier page")
            })
        })
        .transpose()?;
    let engine = state.engine.clone();
    // Up to two seeks per model listed: keep it off the async workers.
    let page = web::block(move || engine.current_prices(after.as_ref(), limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data: page.versions.iter().map(PriceView::new).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/prices/{model}/versions", tag = "prices",
    params(("model" = String, Path, description = "Model name, URL-encoded (a '/' is %2F)"),
        ("limit" = Option<String>, Query, description = "1 to page_limit_max (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "Every version of the model, latest effective_from first, future ones included", body = ListView<PriceView>),
        (status = 404, description = "unknown_model: the model has no price", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /v1/prices/{model}/versions?limit=&cursor=`.
pub async fn versions(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let model = known_model(&path)?;
    let bad_cursor =
        || ApiError::field("cursor", "must be a next_cursor value from an earlier page");
    let before = match query.cursor.as_deref() {
        Some(text) => {
            let id = PriceVersionId::parse(text).ok_or_else(bad_cursor)?;
            let version = state.engine.price_version(&id)?.ok_or_else(bad_cursor)?;
            if version.model != model {
                return Err(bad_cursor());
            }
            Some(version)
        }
        None => None,
    };
    let engine = state.engine.clone();
    let name = model.clone();
    let had_cursor = before.is_some();
    // A range scan of up to 1000 versions: run it off the async workers.
    let page = web::block(move || engine.price_versions(&name, before.as_ref(), limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    if page.versions.is_empty() && !had_cursor {
        return Err(ApiError::unknown_model(model.as_str(), None));
    }
    Ok(HttpResponse::Ok().json(ListView {
        object: "list",
        data: page.versions.iter().map(PriceView::new).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
