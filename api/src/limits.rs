//! Load shedding at the door, so overload is refused instead of queued or
//! buffered without bound: the in-flight request limit (a middleware that
//! answers 503 with `Retry-After` once `in_flight_requests_max` requests are
//! being served) and the batch byte budget (`BatchBytes`: at most
//! `batch_bytes_in_flight_max` bytes of batch bodies read or processed at
//! once; 4,096 requests of 4 MiB each would otherwise be 16 GiB).

use crate::error::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpRequest;
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

/// Bytes of batch bodies being read or processed, and the most allowed.
#[derive(Clone)]
pub struct BatchBytes {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// Bytes reserved for one batch request; released when dropped, however the
/// request ends (done, refused, timed out, client gone).
pub struct Reservation {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl BatchBytes {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> BatchBytes {
        BatchBytes {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Reserves room for the body of `request` before any of it is read:
    /// its declared `Content-Length`, or `body_limit` when it has none
    /// (chunked: it may be that long). A body declared over `body_limit`
    /// reserves nothing: it is refused with 413 without being read. `None`
    /// when the budget cannot hold it now (the caller answers 503).
    pub fn reserve(&self, request: &HttpRequest, body_limit: usize) -> Option<Reservation> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let bytes = match declared {
            Some(length) if length > body_limit => 0,
            Some(length) => length,
            None => body_limit,
        };
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max)
            })
            .ok()?;
        Some(Reservation {
            used: Arc::clone(&self.used),
            bytes,
        })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_budget_holds_declared_lengths_and_frees_them_on_drop() {
        let budget = BatchBytes::new(1000);
        let sized = |length: usize| {
            TestRequest::default()
                .insert_header((header::CONTENT_LENGTH, length.to_string()))
                .to_http_request()
        };
        let first = budget.reserve(&sized(600), 800).expect("fits");
        assert_eq!(budget.used(), 600);
        assert!(budget.reserve(&sized(500), 800).is_none(), "1100 > 1000");
        let second = budget.reserve(&sized(400), 800).expect("exactly full");
        assert_eq!(budget.used(), 1000);
        // Over the body limit: refused with 413 later, reserves nothing now.
        let too_large = budget.reserve(&sized(5000), 800).expect("reserves 0");
        drop((first, too_large));
        assert_eq!(budget.used(), 400);
        // No Content-Length: counts as the body limit.
        let chunked = TestRequest::default().to_http_request();
        assert!(budget.reserve(&chunked, 800).is_none(), "400 + 800 > 1000");
        drop(second);
        let whole_limit = budget.reserve(&chunked, 800).expect("fits");
        assert_eq!(budget.used(), 800);
        drop(whole_limit);
        assert_eq!(budget.used(), 0);
    }
}
