//! Starting and stopping Tally: opens the engine, builds the actix-web app
//! (state, middleware, routes) on a given listener, prints the bound address,
//! and on SIGTERM/SIGINT stops accepting, lets in-flight requests finish,
//! then drains the commit queue before returning.

use crate::auth::{ApiKey, KeySource};
use crate::deliverer::{start_deliverer, Deliverer};
use crate::error::ApiError;
use crate::metrics::HttpMetrics;
use crate::settings::{ClockSetting, Settings, SettingsError};
use crate::state::AppState;
use actix_web::{web, App, HttpServer};
use engine::timer::start_timer;
use engine::{Clock, Engine, ManualClock, OpenError, SystemClock};
use prometheus::Registry;
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("opening the engine: {0}")]
    Open(#[from] OpenError),
    #[error("reading stored keys or driving transfers in flight: {0}")]
    Engine(#[from] engine::Error),
    #[error(transparent)]
    KeyFile(#[from] crate::auth::KeyFileError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
}

/// How long the start may spend asking about unsettled payments.
const STARTUP_RECONCILE_BUDGET: Duration = Duration::from_secs(15);

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ServeError {
    move |source| ServeError::Io { context, source }
}

/// Binds the configured address.
pub fn bind(settings: &Settings) -> Result<TcpListener, ServeError> {
    TcpListener::bind(&settings.listen).map_err(io("binding the listen address"))
}

/// Serves on `listener` until SIGTERM/SIGINT. Must run inside an actix
/// `System` (see `main.rs`).
pub async fn run(settings: Settings, listener: TcpListener) -> Result<(), ServeError> {
    // The key first: an unusable key file stops the start before anything
    // (engine, timer, deliverer) is running.
    let (api_key, source) = ApiKey::load_or_generate(&settings.api_key, &settings.data_dir)?;
    match source {
        KeySource::Configured => tracing::info!("using the configured API key"),
        KeySource::Stored(path) => {
            tracing::info!(path = %path.display(), "using the API key stored in the data folder")
        }
        KeySource::Generated(path) => {
            tracing::warn!(path = %path.display(), "no API key configured: generated one and stored it in this file")
        }
    }
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    let manual_clock = match settings.clock {
        ClockSetting::System => None,
        ClockSetting::Manual => {
            tracing::warn!(
                "running on a manual clock: time moves only through POST /v1/admin/clock"
            );
            Some(ManualClock::new(SystemClock.now_ms()))
        }
    };
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(clock) => Arc::new(clock.clone()),
        None => Arc::new(SystemClock),
    };
    let engine = Arc::new(Engine::open(settings.engine_config()?, clock, &registry)?);
    // Transfers a crash left in flight end before anything is served.
    let recovered = engine.recover_transfers().await?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "transfers left in flight were driven to their end"
        );
    }
    // Charges a crash (or a provider's timeout) left unsettled are asked
    // about again before anything is served; bounded, so a provider that
    // is down does not keep the server from serving (the rest is the
    // reconciler's).
    let provider = settings.payments.provider();
    match crate::reconcile::pass(&engine, &provider, i64::MAX, Some(STARTUP_RECONCILE_BUDGET)).await
    {
        Ok(0) => {}
        Ok(reconciled) => {
            tracing::warn!(reconciled, "payments left unsettled were asked about again")
        }
        Err(error) => tracing::error!(%error, "reconciling payments at start failed"),
    }
    let deliverer = (!settings.webhooks.endpoints.is_empty())
        .then(|| Deliverer::start(Arc::clone(&engine), settings.webhooks.clone()));
    // On a manual clock nothing runs by itself: POST /v1/admin/clock runs
    // the passes, so tests see each step happen exactly when they ask.
    if manual_clock.is_none() {
        start_timer(
            Arc::clone(&engine),
            Duration::from_millis(settings.timer_poll_ms),
        );
        crate::reconcile::start_reconciler(
            Arc::clone(&engine),
            Arc::clone(&provider),
            Duration::from_millis(settings.payments.reconcile_poll_ms.max(1)),
        );
        if let Some(deliverer) = &deliverer {
            start_deliverer(
                Arc::clone(deliverer),
                Duration::from_millis(settings.webhooks.poll_ms),
            );
        }
    }
    let keyring = Arc::new(crate::auth::Keyring::new(api_key, &engine.api_keys()?));
    let http_metrics = HttpMetrics::register(&registry)?;
    // The auth guard and the metrics middleware read their own parts, not
    // the whole state: they sit below the state module (no import cycle).
    let keyring_data = web::Data::from(Arc::clone(&keyring));
    let metrics_data = web::Data::new(http_metrics.clone());
    let state = web::Data::new(AppState {
        engine: Arc::clone(&engine),
        limits: settings.limits(),
        keyring,
        http_metrics,
        registry,
        manual_clock,
        deliverer,
        batch_bytes: crate::limits::BatchBytes::new(settings.batch_bytes_in_flight_max),
        gateway: settings.gateway.clone(),
        issuer: settings.invoices.clone(),
        wallet_api: settings.wallet_api.clone(),
        payments: settings.payments.clone(),
        provider,
    });
    let in_flight = web::Data::new(crate::limits::InFlight::new(
        settings.in_flight_requests_max,
    ));
    let address = listener
        .local_addr()
        .map_err(io("reading the bound address"))?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(keyring_data.clone())
            .app_data(metrics_data.clone())
            .app_data(in_flight.clone())
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::InvalidField {
                    message: format!("query string: {error}"),
                    field: "query".into(),
                }
                .into()
            }))
            .wrap(actix_web::middleware::from_fn(
                crate::limits::limit_in_flight,
            ))
            .wrap(actix_web::middleware::from_fn(crate::metrics::record))
            .configure(crate::routes::configure)
    })
    .workers(settings.http_worker_count())
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_millis(settings.client_timeout_ms.max(1)))
    .listen(listener)
    .map_err(io("listening"))?
    .run();
    tracing::info!(%address, data_dir = %settings.data_dir.display(), "tally is serving");
    // Tests and scripts read this line to learn the port when listen ends in :0.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "tally listening on http://{address}");
    let _ = stdout.flush();
    let result = server.await.map_err(io("serving"));
    tracing::info!("HTTP server stopped; draining the commit queue");
    engine.shutdown();
    tracing::info!("shutdown complete");
    result
}
