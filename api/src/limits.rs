//! The in-flight request limit: a middleware that answers 503 with
//! `Retry-After` once `in_flight_requests_max` requests are being served,
//! so overload sheds load at the door instead of queueing without bound.

use crate::error::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Requests being served, and the most allowed.
#[derive(Clone)]
pub struct InFlight {
    current: Arc<AtomicUsize>,
    max: usize,
}

impl InFlight {
    /// A limit of `max` requests at once.
    pub fn new(max: usize) -> InFlight {
        InFlight {
            current: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }
}

/// Releases a slot when the request is done, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Middleware: 503 `overloaded` beyond the limit.
pub async fn limit_in_flight<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(limit) = request
        .app_data::<actix_web::web::Data<InFlight>>()
        .cloned()
    else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let taken = limit.current.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(Arc::clone(&limit.current));
    if taken >= limit.max {
        drop(slot);
        tracing::warn!(limit = limit.max, "request refused: too many in flight");
        let response = ApiError::Overloaded.error_response();
        return Ok(request.into_response(response).map_into_right_body());
    }
    let response = next.call(request).await;
    drop(slot);
    response.map(ServiceResponse::map_into_left_body)
}
