//! Unauthenticated operational routes (`/health`, `/metrics`) and the JSON
//! fallbacks for unknown routes and methods.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// The health reply.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// `GET /health`: the process is up and serving.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, description = "Serving", body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(
            &state.engine,
            &state.http_metrics,
            &state.registry,
        ))
}

/// Any unknown route.
pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// A known route with an unknown method.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
