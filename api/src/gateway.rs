//! The gateway routes' wire format: hold, capture and usage bodies, their
//! validation into engine requests, the hold view, and the `[gateway]`
//! settings (hold TTLs and the top-up link a 402 carries).

use crate::dto::{self, timestamp, BalanceView, DecimalText, Limits, MetadataValue};
use crate::error::ApiError;
use engine::holds::HoldStatus;
use engine::prices::{Usage, USAGE_COUNT_MAX};
use engine::{CaptureRequest, HoldRequest, HoldView as StoredHold, Metadata, Receipt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[gateway]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// A hold without `ttl_seconds` lasts this long.
    pub hold_ttl_default_seconds: u64,
    /// The longest `ttl_seconds` accepted.
    pub hold_ttl_max_seconds: u64,
    /// Where a wallet's owner buys credits, put in every 402 of the gateway
    /// routes: `{wallet_id}` and `{external_customer_id}` are replaced
    /// (URL-encoded). Empty: no link.
    pub top_up_url: String,
}

impl GatewaySettings {
    /// The top-up link of a wallet, when one is configured.
    pub fn top_up_url(&self, wallet_id: &str, external_customer_id: &str) -> Option<String> {
        if self.top_up_url.is_empty() {
            return None;
        }
        Some(
            self.top_up_url
                .replace("{wallet_id}", &encode(wallet_id))
                .replace("{external_customer_id}", &encode(external_customer_id)),
        )
    }

    /// A hold's TTL in ms: the default when absent, 1 to the maximum seconds.
    pub fn ttl_ms(&self, ttl_seconds: Option<u64>) -> Result<i64, ApiError> {
        let seconds = ttl_seconds.unwrap_or(self.hold_ttl_default_seconds);
        if seconds == 0 || seconds > self.hold_ttl_max_seconds {
            return Err(ApiError::field(
                "ttl_seconds",
                format!(
                    "must be a whole number from 1 to {}",
                    self.hold_ttl_max_seconds
                ),
            ));
        }
        i64::try_from(seconds.saturating_mul(1000))
            .map_err(|_| ApiError::field("ttl_seconds", "is too large"))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Token counts as a gateway reports them (all default to 0; `requests` to 1).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBody {
    /// The model; on a capture, defaults to the one the hold was priced for.
    pub model: Option<String>,
    /// Uncached input tokens.
    pub input_tokens: Option<u64>,
    /// Input tokens read from a prompt cache.
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to a prompt cache.
    pub cache_write_tokens: Option<u64>,
    /// Output tokens, reasoning excluded.
    pub output_tokens: Option<u64>,
    /// Reasoning tokens.
    pub reasoning_tokens: Option<u64>,
    /// Requests (default 1).
    pub requests: Option<u64>,
}

/// `POST /v1/wallets/{id}/usage`: the body is the usage itself.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageDebit {
    pub model: String,
    pub input_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub requests: Option<u64>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `POST /v1/wallets/{id}/holds`: `credits`, or `model` with the most tokens
/// the call may use.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceHold {
    pub credits: Option<DecimalText>,
    pub model: Option<String>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Seconds until the timer releases it (`[gateway]` default and maximum).
    pub ttl_seconds: Option<u64>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `POST /v1/holds/{id}/capture`: `credits`, `usage`, or neither (the whole
/// hold).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub credits: Option<DecimalText>,
    pub usage: Option<UsageBody>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// Metadata keys a priced entry fills in itself.
const USAGE_KEYS: [&str; 16] = [
    "model",
    "price_version",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "requests",
    "cost_currency",
    "cost_input",
    "cost_cached_input",
    "cost_cache_write",
    "cost_output",
    "cost_reasoning",
    "cost_per_request",
    "cost_total",
];

/// Client metadata of a priced change: a key the usage record uses is
/// refused rather than shadowed.
fn priced_metadata(
    limits: &Limits,
    map: Option<BTreeMap<String, MetadataValue>>,
) -> Result<Metadata, ApiError> {
    let metadata = dto::metadata_from_map(limits, map)?;
    if let Some((key, _)) = metadata
        .iter()
        .find(|(key, _)| USAGE_KEYS.contains(&key.as_str()))
    {
        return Err(ApiError::field(
            &format!("metadata.{key}"),
            "is recorded by Tally from the usage; use another key",
        ));
    }
    Ok(metadata)
}

fn count(field: &str, value: Option<u64>, default: u64) -> Result<u64, ApiError> {
    let value = value.unwrap_or(default);
    if value > USAGE_COUNT_MAX {
        return Err(ApiError::field(
            field,
            format!("must be at most {USAGE_COUNT_MAX}"),
        ));
    }
    Ok(value)
}

fn model(field: &str, text: &str) -> Result<String, ApiError> {
    engine::prices::ModelName::parse(text)
        .map(|name| name.as_str().to_owned())
        .map_err(|error| ApiError::field(field, error))
}

impl UsageBody {
    fn usage(&self, prefix: &str) -> Result<Usage, ApiError> {
        let name = |field: &str| format!("{prefix}{field}");
        Ok(Usage {
            input_tokens: count(&name("input_tokens"), self.input_tokens, 0)?,
            cached_input_tokens: count(&name("cached_input_tokens"), self.cached_input_tokens, 0)?,
            cache_write_tokens: count(&name("cache_write_tokens"), self.cache_write_tokens, 0)?,
            output_tokens: count(&name("output_tokens"), self.output_tokens, 0)?,
            reasoning_tokens: count(&name("reasoning_tokens"), self.reasoning_tokens, 0)?,
            requests: count(&name("requests"), self.requests, 1)?,
        })
    }
}

impl UsageDebit {
    /// Model, counts and metadata.
    pub fn parts(self, limits: &Limits) -> Result<(String, Usage, Metadata), ApiError> {
        let model = model("model", &self.model)?;
        let body = UsageBody {
            model: None,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            cache_write_tokens: self.cache_write_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
            requests: self.requests,
        };
        let usage = body.usage("")?;
        Ok((model, usage, priced_metadata(limits, self.metadata)?))
    }
}

impl PlaceHold {
    /// What to hold, its TTL and metadata.
    pub fn parts(
        self,
        limits: &Limits,
        gateway: &GatewaySettings,
    ) -> Result<(HoldRequest, i64, Metadata), ApiError> {
        let ttl_ms = gateway.ttl_ms(self.ttl_seconds)?;
        let request = match (&self.credits, &self.model) {
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "model",
                    "is for a priced hold; give credits or model, not both",
                ))
            }
            (Some(credits), None) => {
                if self.max_input_tokens.is_some() || self.max_output_tokens.is_some() {
                    return Err(ApiError::field(
                        "max_input_tokens",
                        "is only for a hold by model",
                    ));
                }
                HoldRequest::Credits(dto::credits_positive("credits", Some(credits))?)
            }
            (None, Some(name)) => {
                let usage = Usage {
                    input_tokens: count("max_input_tokens", self.max_input_tokens, 0)?,
                    output_tokens: count("max_output_tokens", self.max_output_tokens, 0)?,
                    requests: 1,
                    ..Usage::default()
                };
                HoldRequest::Estimate {
                    model: model("model", name)?,
                    usage,
                }
            }
            (None, None) => {
                return Err(ApiError::field(
                    "credits",
                    "is required (or model with max_input_tokens and max_output_tokens)",
                ))
            }
        };
        let metadata = match request {
            HoldRequest::Credits(_) => dto::metadata_from_map(limits, self.metadata)?,
            HoldRequest::Estimate { .. } => priced_metadata(limits, self.metadata)?,
        };
        Ok((request, ttl_ms, metadata))
    }
}

impl Capture {
    /// What to spend and the metadata.
    pub fn parts(self, limits: &Limits) -> Result<(CaptureRequest, Metadata), ApiError> {
        match (&self.credits, &self.usage) {
            (Some(_), Some(_)) => Err(ApiError::field(
                "usage",
                "or credits: a capture takes one of them (or neither, for the whole hold)",
            )),
            (Some(credits), None) => {
                // Zero is a capture of nothing: the call cost nothing.
                let credits = dto::credits_or_zero("credits", Some(credits))?;
                Ok((
                    CaptureRequest::Credits(credits),
                    dto::metadata_from_map(limits, self.metadata)?,
                ))
            }
            (None, Some(usage)) => {
                let model = usage
                    .model
                    .as_deref()
                    .map(|name| model("usage.model", name))
                    .transpose()?;
                let counts = usage.usage("usage.")?;
                Ok((
                    CaptureRequest::Usage {
                        model,
                        usage: counts,
                    },
                    priced_metadata(limits, self.metadata)?,
                ))
            }
            (None, None) => Ok((
                CaptureRequest::Whole,
                dto::metadata_from_map(limits, self.metadata)?,
            )),
        }
    }
}

/// A hold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    pub id: String,
    pub object: &'static str,
    pub wallet_id: String,
    /// `pending`, `captured`, `released` or `expired`.
    pub status: &'static str,
    /// Credits held when it was placed.
    pub credits: String,
    /// Credits a capture (or a capture after expiry) spent.
    pub captured_credits: Option<String>,
    pub expires_at: String,
    pub created_at: String,
    /// When it was captured, released or expired.
    pub resolved_at: Option<String>,
    /// The price version a hold by model was priced at (its capture by
    /// usage is priced at the same one).
    pub price_version: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The entry that placed it, and the one that resolved it.
    pub transaction_id: String,
    pub resolved_transaction_id: Option<String>,
    /// The capture that followed its expiry, if one did.
    pub late_capture_transaction_id: Option<String>,
    /// The wallet's balances as of the reply (on a change: right after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceView>,
}

impl HoldView {
    /// The view of a stored hold.
    pub fn stored(hold: &StoredHold) -> HoldView {
        let placed = &hold.placed;
        let moved = placed.hold.as_ref();
        let captured = match hold.status {
            HoldStatus::Captured => hold.resolved.as_ref(),
            _ => hold.late_capture.as_ref(),
        }
        .and_then(|entry| entry.hold.as_ref())
        .map(|capture| capture.credits.to_string());
        HoldView {
            id: hold.id.to_string(),
            object: "hold",
            wallet_id: placed.wallet_id.to_string(),
            status: hold.status.as_str(),
            credits: moved.map(|m| m.credits.to_string()).unwrap_or_default(),
            captured_credits: captured,
            expires_at: moved
                .map(|m| timestamp(m.expires_at_ms))
                .unwrap_or_default(),
            created_at: timestamp(placed.created_at_ms),
            resolved_at: hold
                .resolved
                .as_ref()
                .map(|entry| timestamp(entry.created_at_ms)),
            price_version: moved
                .and_then(|m| m.price_version.as_ref())
                .map(ToString::to_string),
            metadata: placed.metadata.iter().cloned().collect(),
            transaction_id: placed.txn_id.to_string(),
            resolved_transaction_id: hold.resolved.as_ref().map(|entry| entry.txn_id.to_string()),
            late_capture_transaction_id: hold
                .late_capture
                .as_ref()
                .map(|entry| entry.txn_id.to_string()),
            balance: None,
        }
    }

    /// The view of a hold just placed, from its receipt.
    pub fn placed(receipt: &Receipt) -> HoldView {
        let entry = &receipt.entry;
        let moved = entry.hold.as_ref();
        HoldView {
            id: moved.map(|m| m.id.to_string()).unwrap_or_default(),
            object: "hold",
            wallet_id: entry.wallet_id.to_string(),
            status: HoldStatus::Pending.as_str(),
            credits: moved.map(|m| m.credits.to_string()).unwrap_or_default(),
            captured_credits: None,
            expires_at: moved
                .map(|m| timestamp(m.expires_at_ms))
                .unwrap_or_default(),
            created_at: timestamp(entry.created_at_ms),
            resolved_at: None,
            price_version: moved
                .and_then(|m| m.price_version.as_ref())
                .map(ToString::to_string),
            metadata: entry.metadata.iter().cloned().collect(),
            transaction_id: entry.txn_id.to_string(),
            resolved_transaction_id: None,
            late_capture_transaction_id: None,
            balance: Some(BalanceView::new(
                entry.after,
                entry.held,
                receipt.rate_amount.to_decimal(),
                receipt.currency,
            )),
        }
    }
}
