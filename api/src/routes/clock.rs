//! `GET /v1/admin/clock` shows the server's time; `POST /v1/admin/clock`
//! moves a manual clock (setting `clock = "manual"`) and then runs, in the
//! request, everything that came due: a timer pass (expiries, notices,
//! interval top-ups), a webhook delivery pass and a pass over unsettled
//! payments. Tests and demos drive
//! schedules this way without sleeping. On the system clock POST is 409.

use crate::body::read_json;
use crate::dto;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/clock`: exactly one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// ISO 8601 with an offset; never earlier than the current time.
    pub now: Option<String>,
    /// Whole seconds to move forward.
    pub advance_seconds: Option<u64>,
}

/// The clock and what the step made happen.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub object: &'static str,
    pub now: String,
    /// `system` or `manual`.
    pub mode: &'static str,
    /// Wallets the timer woke.
    pub wallets_woken: usize,
    /// Webhook delivery attempts made.
    pub delivery_attempts: usize,
}

#[utoipa::path(get, path = "/v1/admin/clock", tag = "admin",
    responses((status = 200, description = "The server's current time", body = ClockView)), security(("bearer" = [])))]
/// `GET /v1/admin/clock`.
pub async fn show(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&state, 0, 0)))
}

#[utoipa::path(post, path = "/v1/admin/clock", tag = "admin", request_body = SetClock,
    responses((status = 200, description = "The clock moved; what came due has run and is durable", body = ClockView),
        (status = 409, description = "The server runs on the system clock", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `POST /v1/admin/clock`.
pub async fn set(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let clock = state
        .manual_clock
        .as_ref()
        .ok_or(ApiError::ClockNotManual)?;
    let body: SetClock = read_json(&request, payload, state.limits.body_limit_bytes).await?;
    match (&body.now, body.advance_seconds) {
        (Some(text), None) => {
            let now_ms = dto::timestamp_ms("now", text)?;
            if !clock.set(now_ms) {
                return Err(ApiError::field(
                    "now",
                    "is earlier than the clock's time; a clock never runs backwards",
                ));
            }
        }
        (None, Some(seconds)) => {
            let delta = i64::try_from(seconds)
                .ok()
                .and_then(|seconds| seconds.checked_mul(1000))
                .ok_or_else(|| ApiError::field("advance_seconds", "is out of range"))?;
            clock.advance(delta);
        }
        _ => return Err(ApiError::field("now", "give either now or advance_seconds")),
    }
    let pass = state.engine.fire_due().await?;
    let now_ms = state.engine.now_ms();
    crate::reconcile::pass(&state.engine, &state.provider, now_ms, None).await?;
    let attempts = match &state.deliverer {
        Some(deliverer) => deliverer.pass().await?,
        None => 0,
    };
    Ok(HttpResponse::Ok().json(view(&state, pass.woken, attempts)))
}

fn view(state: &AppState, wallets_woken: usize, delivery_attempts: usize) -> ClockView {
    ClockView {
        object: "clock",
        now: dto::timestamp(state.engine.now_ms()),
        mode: if state.manual_clock.is_some() {
            "manual"
        } else {
            "system"
        },
        wallets_woken,
        delivery_attempts,
    }
}
