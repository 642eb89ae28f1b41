//! HTTP metrics (requests by route, method and status; latency by route),
//! the middleware that records them, and the `/metrics` text rendering,
//! which also refreshes storage gauges at scrape time.

use crate::server::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
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
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    if let Some(state) = state {
        // The resource middleware labelled the request; nothing is matched again.
        let route = response
            .request()
            .extensions()
            .get::<crate::auth::RouteLabel>()
            .map_or("unmatched", |label| label.0);
        let method = response.request().method().as_str().to_owned();
        let status = response.status().as_u16().to_string();
        let metrics = &state.http_metrics;
        metrics
            .requests
            .with_label_values(&[route, method.as_str(), status.as_str()])
            .inc();
        metrics
            .duration
            .with_label_values(&[route, &method])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The Prometheus text exposition of every registered metric.
pub fn render(state: &AppState) -> String {
    for stat in state.engine.store_stats() {
        state
            .http_metrics
            .store_bytes
            .with_label_values(&[stat.cf, stat.name])
            .set(i64::try_from(stat.value).unwrap_or(i64::MAX));
    }
    let families = state.registry.gather();
    prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .unwrap_or_else(|error| format!("# metrics encoding failed: {error}\n"))
}
