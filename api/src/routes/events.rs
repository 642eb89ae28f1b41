//! `GET /v1/events?status=&limit=&cursor=`: wallet events with their
//! delivery state, oldest first.

use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::EventView;
use actix_web::{web, HttpResponse};
use engine::DeliveryStatus;
use serde::Deserialize;

/// Query of the event list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("status" = Option<String>, Query, description = "pending, delivered, failed or skipped"),
        ("limit" = Option<String>, Query, description = "1 to page_limit_max (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "Events, oldest first, with their delivery state", body = crate::dto::ListView<EventView>)),
    security(("bearer" = [])))]
/// `GET /v1/events`.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match &query.status {
        Some(name) => Some(DeliveryStatus::parse(name).ok_or_else(|| {
            ApiError::field("status", "must be pending, delivered, failed or skipped")
        })?),
        None => None,
    };
    let limit = super::page_limit(query.limit.as_deref(), state.limits.page_limit_max)?;
    let after = match &query.cursor {
        Some(text) => Some(
            text.strip_prefix("evt_")
                .and_then(|digits| digits.parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::field("cursor", "must be a next_cursor value from an earlier page")
                })?,
        ),
        None => None,
    };
    let engine = state.engine.clone();
    let (events, next) = web::block(move || engine.events(status, after, limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(crate::dto::ListView {
        object: "list",
        data: events
            .iter()
            .map(|event| EventView::new(event, true))
            .collect(),
        has_more: next.is_some(),
        next_cursor: next.map(|id| format!("evt_{id:016}")),
    }))
}
