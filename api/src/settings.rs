//! `Settings`: the server's configuration, merged from the compiled-in
//! `config/tally.toml` < a `--config` file < `TALLY_<KEY>` environment
//! variables, validated once at startup, and turned into the engine's
//! plain-data `EngineConfig`.

use engine::{Currency, Durability, EngineConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The compiled-in defaults.
pub const DEFAULTS: &str = include_str!("../../config/tally.toml");

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Durability as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilitySetting {
    Sync,
    Buffered,
}

/// The deposit API's default wallet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserWallets {
    pub currency: String,
    pub rate_amount: String,
}

/// Which clock the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockSetting {
    /// The operating system's clock.
    System,
    /// Stopped at startup; moved only by `POST /v1/admin/clock` (tests, demos).
    Manual,
}

/// Webhook delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub endpoints: Vec<String>,
    pub secret: String,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
    pub timeout_ms: u64,
    pub poll_ms: u64,
    pub concurrency: usize,
}

/// Every setting; see `config/tally.toml` for what each means.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub allow_migrate: bool,
    pub api_key: String,
    pub shards: usize,
    pub http_workers: usize,
    pub durability: DurabilitySetting,
    pub buffered_sync_interval_ms: u64,
    pub commit_queue_capacity: usize,
    pub commit_group_max: usize,
    pub mailbox_capacity: usize,
    pub actor_idle_timeout_ms: u64,
    pub actors_resident_max: usize,
    pub idempotency_ttl_hours: u64,
    pub events_retention_hours: u64,
    pub recent_keys_max: usize,
    pub memtable_budget_mib: usize,
    pub block_cache_mib: usize,
    pub in_flight_requests_max: usize,
    pub client_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub metadata_pairs_max: usize,
    pub metadata_key_len_max: usize,
    pub metadata_value_len_max: usize,
    pub batch_items_max: usize,
    pub batch_body_limit_bytes: usize,
    pub batch_bytes_in_flight_max: usize,
    pub page_limit_max: usize,
    pub shutdown_timeout_secs: u64,
    pub log: String,
    pub clock: ClockSetting,
    pub timer_poll_ms: u64,
    pub expiry_notice_hours: u64,
    pub user_wallets: UserWallets,
    pub webhooks: Webhooks,
    pub gateway: crate::gateway::GatewaySettings,
    pub invoices: crate::invoice_pdf::Issuer,
    pub wallet_api: crate::state::WalletApiSettings,
    pub payments: crate::state::PaymentSettings,
}

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Settings::load_from(file, &env)
    }

    /// As [`Settings::load`], with the environment passed in (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Settings, SettingsError> {
        let mut merged = parse_toml("config/tally.toml (compiled in)", DEFAULTS)?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: path.to_owned(),
                source,
            })?;
            let overrides = parse_toml(&path.display().to_string(), &text)?;
            merge(&mut merged, overrides);
        }
        apply_env(&mut merged, env);
        let settings: Settings =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|error: toml::de::Error| SettingsError::Parse {
                    origin: "settings".into(),
                    message: error.message().to_owned(),
                })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: &str| SettingsError::Invalid {
            key,
            message: message.to_owned(),
        };
        let positive = [
            ("commit_queue_capacity", self.commit_queue_capacity),
            ("commit_group_max", self.commit_group_max),
            ("mailbox_capacity", self.mailbox_capacity),
            ("body_limit_bytes", self.body_limit_bytes),
            ("page_limit_max", self.page_limit_max),
            ("batch_items_max", self.batch_items_max),
            ("batch_body_limit_bytes", self.batch_body_limit_bytes),
            ("batch_bytes_in_flight_max", self.batch_bytes_in_flight_max),
            ("in_flight_requests_max", self.in_flight_requests_max),
            ("metadata_key_len_max", self.metadata_key_len_max),
            ("metadata_value_len_max", self.metadata_value_len_max),
        ];
        if self.gateway.hold_ttl_max_seconds == 0
            || self.gateway.hold_ttl_default_seconds == 0
            || self.gateway.hold_ttl_default_seconds > self.gateway.hold_ttl_max_seconds
        {
            return Err(invalid(
                "gateway.hold_ttl_default_seconds",
                "must be from 1 to gateway.hold_ttl_max_seconds (itself at least 1)",
            ));
        }
        let percent = engine::money::parse_decimal(&self.wallet_api.ai_transfer_fee_percent, 4)
            .ok()
            .filter(|percent| *percent <= rust_decimal::Decimal::from(100));
        if percent.is_none() {
            return Err(invalid(
                "wallet_api.ai_transfer_fee_percent",
                "must be a decimal string from 0 to 100 with at most 4 decimals",
            ));
        }
        if !self.wallet_api.fee_wallet.is_empty()
            && engine::WalletId::parse(&self.wallet_api.fee_wallet).is_none()
        {
            return Err(invalid(
                "wallet_api.fee_wallet",
                "must be empty (the platform's own fee wallet) or a wallet id (wal_…)",
            ));
        }
        if !matches!(self.payments.provider.as_str(), "test" | "stripe") {
            return Err(invalid("payments.provider", "must be test or stripe"));
        }
        if self.payments.provider == "stripe" && self.payments.webhook_secret.is_empty() {
            return Err(invalid(
                "payments.webhook_secret",
                "is required with provider = \"stripe\": its webhooks settle payments and checkouts (or TALLY_PAYMENTS__WEBHOOK_SECRET)",
            ));
        }
        if self.payments.provider == "stripe" && self.payments.stripe_secret_key.is_empty() {
            return Err(invalid(
                "payments.stripe_secret_key",
                "is required with provider = \"stripe\" (or TALLY_PAYMENTS__STRIPE_SECRET_KEY)",
            ));
        }
        // A TTL is kept in ms as an i64 and added to the clock: bound it.
        if self.gateway.hold_ttl_max_seconds > 366 * 24 * 3600 {
            return Err(invalid(
                "gateway.hold_ttl_max_seconds",
                "must be at most 31622400 (366 days)",
            ));
        }
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        if self.batch_bytes_in_flight_max < self.batch_body_limit_bytes {
            return Err(invalid(
                "batch_bytes_in_flight_max",
                "must be at least batch_body_limit_bytes (else a batch of the largest size is never served)",
            ));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "listen",
                "must be an address such as 127.0.0.1:8080",
            ));
        }
        // Whitespace-only counts as too short: it is no secret at all.
        let key_len = self.api_key.trim().chars().count();
        if !self.api_key.is_empty() && key_len < crate::auth::KEY_LEN_MIN {
            return Err(invalid(
                "api_key",
                &format!("must be at least {} characters", crate::auth::KEY_LEN_MIN),
            ));
        }
        self.user_wallet_currency()?;
        self.user_wallet_rate()?;
        let hooks = &self.webhooks;
        for endpoint in &hooks.endpoints {
            if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
                return Err(invalid(
                    "webhooks.endpoints",
                    "each must be an http:// or https:// URL",
                ));
            }
        }
        if !hooks.endpoints.is_empty() && hooks.secret.len() < 16 {
            return Err(invalid(
                "webhooks.secret",
                "must be at least 16 characters when endpoints are set",
            ));
        }
        if self.events_retention_hours == 0 {
            return Err(invalid(
                "events_retention_hours",
                "must be greater than zero (events are kept at least this long)",
            ));
        }
        if hooks.concurrency == 0 {
            return Err(invalid("webhooks.concurrency", "must be greater than zero"));
        }
        if hooks.max_attempts == 0 || hooks.poll_ms == 0 || self.timer_poll_ms == 0 {
            return Err(invalid(
                "webhooks.max_attempts",
                "max_attempts, webhooks.poll_ms and timer_poll_ms must be greater than zero",
            ));
        }
        Ok(())
    }

    fn user_wallet_currency(&self) -> Result<Currency, SettingsError> {
        Currency::parse(&self.user_wallets.currency).ok_or(SettingsError::Invalid {
            key: "user_wallets.currency",
            message: "must be a known ISO 4217 code such as USD".into(),
        })
    }

    fn user_wallet_rate(&self) -> Result<rust_decimal::Decimal, SettingsError> {
        engine::money::parse_decimal(&self.user_wallets.rate_amount, engine::money::RATE_SCALE)
            .ok()
            .filter(|rate| !rate.is_zero() && engine::wallet::check_rate(*rate).is_ok())
            .ok_or(SettingsError::Invalid {
                key: "user_wallets.rate_amount",
                message: format!(
                    "must be a positive decimal string of at most {}",
                    engine::money::RATE_MAX
                ),
            })
    }

    /// Threads to use where a setting says 0 (one per core).
    fn or_cores(value: usize) -> usize {
        if value > 0 {
            return value;
        }
        std::thread::available_parallelism().map_or(2, usize::from)
    }

    /// Request limits for the API and the importer.
    pub fn limits(&self) -> crate::dto::Limits {
        crate::dto::Limits {
            metadata_pairs_max: self.metadata_pairs_max,
            metadata_key_len_max: self.metadata_key_len_max,
            metadata_value_len_max: self.metadata_value_len_max,
            page_limit_max: self.page_limit_max,
            body_limit_bytes: self.body_limit_bytes,
            batch_items_max: self.batch_items_max,
            batch_body_limit_bytes: self.batch_body_limit_bytes,
            body_timeout: std::time::Duration::from_millis(self.client_timeout_ms.max(1)),
        }
    }

    /// HTTP worker threads.
    pub fn http_worker_count(&self) -> usize {
        Settings::or_cores(self.http_workers)
    }

    /// The engine's plain-data configuration. Destructures every field so a
    /// new setting cannot be forgotten here.
    pub fn engine_config(&self) -> Result<EngineConfig, SettingsError> {
        let Settings {
            listen: _,
            data_dir,
            allow_migrate: _,
            api_key: _,
            shards,
            http_workers: _,
            durability,
            buffered_sync_interval_ms,
            commit_queue_capacity,
            commit_group_max,
            mailbox_capacity,
            actor_idle_timeout_ms,
            actors_resident_max,
            idempotency_ttl_hours,
            events_retention_hours,
            recent_keys_max,
            memtable_budget_mib,
            block_cache_mib,
            in_flight_requests_max: _,
            client_timeout_ms: _,
            body_limit_bytes: _,
            metadata_pairs_max: _,
            metadata_key_len_max: _,
            metadata_value_len_max: _,
            batch_items_max: _,
            batch_body_limit_bytes: _,
            batch_bytes_in_flight_max: _,
            page_limit_max: _,
            shutdown_timeout_secs: _,
            log: _,
            clock: _,
            timer_poll_ms: _,
            expiry_notice_hours,
            user_wallets: _,
            webhooks,
            gateway: _,
            invoices,
            wallet_api: _,
            payments: _,
        } = self;
        Ok(EngineConfig {
            data_dir: data_dir.clone(),
            shards: Settings::or_cores(*shards),
            durability: match durability {
                DurabilitySetting::Sync => Durability::Sync,
                DurabilitySetting::Buffered => Durability::Buffered,
            },
            buffered_sync_interval: Duration::from_millis((*buffered_sync_interval_ms).max(1)),
            commit_queue_capacity: *commit_queue_capacity,
            commit_group_max: *commit_group_max,
            mailbox_capacity: *mailbox_capacity,
            actor_idle_timeout: Duration::from_millis(*actor_idle_timeout_ms),
            actors_resident_max: *actors_resident_max,
            idempotency_ttl: Duration::from_secs(idempotency_ttl_hours.saturating_mul(3600)),
            recent_keys_max: *recent_keys_max,
            memtable_budget_bytes: memtable_budget_mib.saturating_mul(1 << 20),
            block_cache_bytes: block_cache_mib.saturating_mul(1 << 20),
            user_wallet_currency: self.user_wallet_currency()?,
            user_wallet_rate: self.user_wallet_rate()?,
            invoice_transfer_fees: invoices.transfer_fees,
            webhooks_enabled: !webhooks.endpoints.is_empty(),
            notice_lead: Duration::from_secs(expiry_notice_hours.saturating_mul(3600)),
            events_retention: Duration::from_secs(events_retention_hours.saturating_mul(3600)),
        })
    }
}

fn parse_toml(origin: &str, text: &str) -> Result<toml::Table, SettingsError> {
    text.parse::<toml::Table>()
        .map_err(|error| SettingsError::Parse {
            origin: origin.to_owned(),
            message: error.message().to_owned(),
        })
}

/// Overlays `overrides` onto `base`, recursing into tables.
fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(table)) => {
                merge(base_table, table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `TALLY_<KEY>` overrides top-level key `<key>`; `TALLY_USER_WALLETS__CURRENCY`
/// reaches into a table. A value is read as TOML (numbers, booleans) when it
/// parses as such for a non-string setting, and as a string otherwise.
fn apply_env(merged: &mut toml::Table, env: &[(String, String)]) {
    for (name, raw) in env {
        if let Some(path) = name.strip_prefix("TALLY_") {
            let path: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            set_existing(merged, &path, raw);
        }
    }
}

/// Sets the setting at `path` if it exists (unknown variables are ignored:
/// the environment holds many `TALLY_*` names that are not settings).
fn set_existing(table: &mut toml::Table, path: &[String], raw: &str) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if !rest.is_empty() {
        if let Some(toml::Value::Table(inner)) = table.get_mut(first) {
            set_existing(inner, rest, raw);
        }
        return;
    }
    let value = match table.get(first) {
        None | Some(toml::Value::Table(_)) => return,
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_owned()),
        Some(_) => format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut parsed| parsed.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
    };
    table.insert(first.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load_and_env_overrides_them() {
        let settings = Settings::load_from(None, &[]).expect("defaults are valid");
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert_eq!(settings.durability, DurabilitySetting::Sync);
        let settings = Settings::load_from(
            None,
            &env(&[
                ("TALLY_LISTEN", "127.0.0.1:0"),
                ("TALLY_SHARDS", "3"),
                ("TALLY_DURABILITY", "buffered"),
                ("TALLY_USER_WALLETS__CURRENCY", "EUR"),
                ("TALLY_NOT_A_SETTING", "x"),
            ]),
        )
        .expect("valid");
        assert_eq!(settings.listen, "127.0.0.1:0");
        assert_eq!(settings.shards, 3);
        assert_eq!(settings.durability, DurabilitySetting::Buffered);
        assert_eq!(settings.user_wallets.currency, "EUR");
    }

    #[test]
    fn the_stripe_provider_needs_its_secret_key_and_webhook_secret() {
        let key = |error: SettingsError| match error {
            SettingsError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        };
        let stripe = ("TALLY_PAYMENTS__PROVIDER", "stripe");
        let secret = ("TALLY_PAYMENTS__STRIPE_SECRET_KEY", "sk_test_1");
        let hook = ("TALLY_PAYMENTS__WEBHOOK_SECRET", "whsec_1");
        let error = Settings::load_from(None, &env(&[stripe, hook])).expect_err("no key");
        assert_eq!(key(error), "payments.stripe_secret_key");
        let error = Settings::load_from(None, &env(&[stripe, secret])).expect_err("no hook");
        assert_eq!(key(error), "payments.webhook_secret");
        let settings = Settings::load_from(None, &env(&[stripe, secret, hook])).expect("valid");
        assert_eq!(settings.payments.provider().name(), "stripe");
    }

    #[test]
    fn a_file_overrides_defaults_and_bad_values_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "shards = 5\n[user_wallets]\nrate_amount = \"0.5\"\n")
            .expect("write");
        let settings = Settings::load_from(Some(&path), &[]).expect("valid");
        assert_eq!(settings.shards, 5);
        assert_eq!(settings.user_wallets.rate_amount, "0.5");
        assert_eq!(settings.user_wallets.currency, "USD");
        std::fs::write(&path, "durability = \"sometimes\"\n").expect("write");
        assert!(Settings::load_from(Some(&path), &[]).is_err());
        std::fs::write(&path, "shardz = 1\n").expect("write");
        let error = Settings::load_from(Some(&path), &[]).expect_err("unknown key");
        assert!(error.to_string().contains("shardz"), "{error}");
        let error = Settings::load_from(
            None,
            &env(&[
                ("TALLY_BATCH_BODY_LIMIT_BYTES", "4096"),
                ("TALLY_BATCH_BYTES_IN_FLIGHT_MAX", "4095"),
            ]),
        )
        .expect_err("a budget smaller than one batch");
        assert!(
            error.to_string().contains("batch_bytes_in_flight_max"),
            "{error}"
        );
        let error = Settings::load_from(None, &env(&[("TALLY_USER_WALLETS__CURRENCY", "XXX")]))
            .expect_err("unknown currency");
        assert!(
            error.to_string().contains("user_wallets.currency"),
            "{error}"
        );
    }

    #[test]
    fn events_retention_defaults_to_thirty_days_and_must_be_positive() {
        let settings = Settings::load_from(None, &[]).expect("defaults are valid");
        let config = settings.engine_config().expect("engine config");
        assert_eq!(config.events_retention, Duration::from_secs(720 * 3600));
        let error = Settings::load_from(None, &env(&[("TALLY_EVENTS_RETENTION_HOURS", "0")]))
            .expect_err("zero retention");
        assert!(
            error.to_string().contains("events_retention_hours"),
            "{error}"
        );
    }

    #[test]
    fn webhook_concurrency_defaults_to_eight_and_must_be_positive() {
        let settings = Settings::load_from(None, &[]).expect("defaults are valid");
        assert_eq!(settings.webhooks.concurrency, 8);
        let error = Settings::load_from(None, &env(&[("TALLY_WEBHOOKS__CONCURRENCY", "0")]))
            .expect_err("zero concurrency");
        assert!(
            error.to_string().contains("webhooks.concurrency"),
            "{error}"
        );
    }
}
