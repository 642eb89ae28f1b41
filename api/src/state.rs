//! `AppState`: what every handler can reach. Below the route modules and
//! `server` (which builds it), above the parts it holds; the auth guard and
//! the metrics middleware read their own parts (`Keyring`, `HttpMetrics`)
//! from the app data, so nothing below imports this module.

use crate::auth::Keyring;
use crate::deliverer::Deliverer;
use crate::dto::Limits;
use crate::metrics::HttpMetrics;
use engine::{Engine, ManualClock};
use prometheus::Registry;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    /// The wallet engine.
    pub engine: Arc<Engine>,
    /// Request limits from settings.
    pub limits: Limits,
    /// Every key that may call the API.
    pub keyring: Arc<Keyring>,
    /// HTTP metrics.
    pub http_metrics: HttpMetrics,
    /// Every metric of this server.
    pub registry: Registry,
    /// The clock, when it is manual (`POST /v1/admin/clock` moves it).
    pub manual_clock: Option<ManualClock>,
    /// Webhook delivery, when endpoints are configured.
    pub deliverer: Option<Arc<Deliverer>>,
    /// Bytes of batch bodies the server may hold at once.
    pub batch_bytes: crate::limits::BatchBytes,
    /// Hold TTLs and the top-up link of a 402.
    pub gateway: crate::gateway::GatewaySettings,
    /// Who issues invoices (printed on their PDFs).
    pub issuer: crate::invoice_pdf::Issuer,
    /// Seed 002's face: the AI transfer fee and its wallet.
    pub wallet_api: crate::routes::wallet_api::WalletApiSettings,
}
