//! HTTP metrics (requests by route, method and status; latency by route),
//! the middleware that records them, and the `/metrics` text rendering,
//! which also refreshes storage gauges at scrape time.
//!
//! Every label value comes from a fixed set, never from the request as sent:
//! the route is the matched pattern (or `unmatched`), the method one of the
//! standard ones (or `other`), the status a code from 100 to 599 (or
//! `other`). `/metrics` needs no key, so a label taken from the request
//! would let anyone grow the registry, and the server's memory, without
//! bound (`curl -X M1 …`, `-X M2 …`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use prometheus::{
    exponential_buckets, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::time::Instant;

/// Handles to the API's metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    store_bytes: IntGaugeVec,
}

impl HttpMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<HttpMetrics> {
        let metrics = HttpMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "tally_http_requests_total",
                    "HTTP requests by route, method and status.",
                ),
                &["route", "method", "status"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "tally_http_request_duration_seconds",
                    "HTTP request latency by route.",
                )
                .buckets(exponential_buckets(0.000_1, 2.0, 16)?),
                &["route", "method"],
            )?,
            store_bytes: IntGaugeVec::new(
                Opts::new(
                    "tally_store_bytes",
                    "RocksDB sizes per column family and kind.",
                ),
                &["cf", "kind"],
            )?,
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.store_bytes.clone()))?;
        Ok(metrics)
    }
}

/// Middleware: counts and times every request.
pub async fn record<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let started = Instant::now();
    let metrics = request.app_data::<web::Data<HttpMetrics>>().cloned();
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        // The resource middleware labelled the request; nothing is matched again.
        let route = response
            .request()
            .extensions()
            .get::<crate::auth::RouteLabel>()
            .map_or("unmatched", |label| label.0);
        let method = method_label(response.request().method());
        let status = status_label(response.status());
        metrics
            .requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        metrics
            .duration
            .with_label_values(&[route, method])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The method's label: a standard method by name, any other (an extension
/// method a client made up) as `other`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The status's label: the code when it is a real HTTP status (100 to 599),
/// else `other`. The server chooses it, so the set is small in practice;
/// the range makes the bound explicit.
fn status_label(status: StatusCode) -> String {
    let code = status.as_u16();
    if (100..600).contains(&code) {
        code.to_string()
    } else {
        "other".to_owned()
    }
}

/// The Prometheus text exposition of every registered metric.
pub fn render(engine: &engine::Engine, metrics: &HttpMetrics, registry: &Registry) -> String {
    for stat in engine.store_stats() {
        metrics
            .store_bytes
            .with_label_values(&[stat.cf, stat.name])
            .set(i64::try_from(stat.value).unwrap_or(i64::MAX));
    }
    let families = registry.gather();
    prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .unwrap_or_else(|error| format!("# metrics encoding failed: {error}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::HEAD), "HEAD");
        for made_up in ["M1", "M2", "get", "FOO"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a token");
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
        assert_eq!(status_label(StatusCode::CREATED), "201");
        assert_eq!(status_label(StatusCode::SERVICE_UNAVAILABLE), "503");
        let odd = StatusCode::from_u16(799).expect("in range for the type");
        assert_eq!(status_label(odd), "other");
    }
}
