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

/// Settings of this face (`[wallet_api]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletApiSettings {
    /// The platform's fee on a transfer to AI credits, in percent.
    pub ai_transfer_fee_percent: String,
    /// The wallet fees go to; empty: the platform's own fee wallet, made on
    /// first use.
    pub fee_wallet: String,
}

/// `[payments]` settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// The secret that signs the provider's webhooks (`whsec_…`); empty:
    /// every webhook is refused.
    pub webhook_secret: String,
    /// `test` (offline, the default) or `stripe`.
    pub provider: String,
    /// Stripe's secret key (`sk_…`); `TALLY_PAYMENTS__STRIPE_SECRET_KEY`.
    pub stripe_secret_key: String,
    /// Stripe's API base URL.
    pub stripe_base_url: String,
    /// How long one call to Stripe may take.
    pub stripe_timeout_ms: u64,
    /// How often unsettled charges are looked for.
    pub reconcile_poll_ms: u64,
    /// Tests only: a pause between a charge's success and its record.
    pub fault_pause_after_charge_ms: u64,
}

impl PaymentSettings {
    /// The provider these settings choose.
    pub fn provider(&self) -> std::sync::Arc<dyn crate::providers::Provider> {
        match self.provider.as_str() {
            "stripe" => std::sync::Arc::new(crate::providers::StripeProvider::new(
                self.stripe_secret_key.clone(),
                self.stripe_base_url.clone(),
                std::time::Duration::from_millis(self.stripe_timeout_ms.max(1)),
            )),
            _ => std::sync::Arc::new(crate::providers::TestProvider),
        }
    }
}

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
    /// Payment providers' settings (the webhook secret).
    pub payments: PaymentSettings,
    /// The provider payments charge through.
    pub provider: std::sync::Arc<dyn crate::providers::Provider>,
    /// Seed 002's face: the AI transfer fee and its wallet.
    pub wallet_api: WalletApiSettings,
}
