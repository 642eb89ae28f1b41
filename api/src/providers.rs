//! Payment providers: the one small interface Tally charges through, the
//! `stripe` provider (below), and the `test` provider, offline and
//! deterministic, whose tokens behave like
//! Stripe's test tokens: `pm_card_chargeDeclined` is declined,
//! `pm_card_processing` stays processing, any other token (or none)
//! succeeds. The charge id is derived from Tally's own idempotency key, so
//! a retried charge is the same charge.

use sha2::{Digest, Sha256};

/// What a provider answered to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged; the provider's id of the charge.
    Succeeded { reference: String },
    /// Not settled yet (a webhook or a later read settles it).
    Processing { reference: String },
    /// Refused, with the provider's reason.
    Declined { reason: String },
    /// The provider could not be reached or asked to retry (a timeout, a
    /// 429, a 5xx): nothing is known charged, and a retry with the same
    /// idempotency key is the same charge.
    Unavailable { reason: String },
}

/// A payment provider.
pub trait Provider: Send + Sync {
    /// The provider's name, as payments record it.
    fn name(&self) -> &'static str;

    /// Charges `amount` (minor units of `currency`) to the method with
    /// provider token `token`; `idempotency_key` makes a retry the same
    /// charge.
    fn charge(
        &self,
        token: &str,
        amount_minor: i64,
        currency: &str,
        idempotency_key: &str,
    ) -> Charge;
}

/// The offline provider for development and tests.
pub struct TestProvider;

impl Provider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn charge(
        &self,
        token: &str,
        _amount_minor: i64,
        _currency: &str,
        idempotency_key: &str,
    ) -> Charge {
        let digest = Sha256::digest(idempotency_key.as_bytes());
        let reference = format!("ch_test_{}", hex::encode(&digest[..12]));
        match token {
            "pm_card_chargeDeclined" => Charge::Declined {
                reason: "Your card was declined.".into(),
            },
            "pm_card_processing" => Charge::Processing { reference },
            _ => Charge::Succeeded { reference },
        }
    }
}

/// Stripe, over its REST API: a charge is a PaymentIntent created and
/// confirmed off-session with the method's token, form-encoded, with
/// Tally's idempotency key as Stripe's `Idempotency-Key` (so a retry after
/// a timeout is the same PaymentIntent, never a second charge).
pub struct StripeProvider {
    secret_key: String,
    base_url: String,
    agent: ureq::Agent,
}

impl StripeProvider {
    /// A Stripe client with `secret_key` against `base_url`
    /// (`https://api.stripe.com`, or a local fake in tests).
    pub fn new(
        secret_key: String,
        base_url: String,
        timeout: std::time::Duration,
    ) -> StripeProvider {
        StripeProvider {
            secret_key,
            base_url: base_url.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
        }
    }
}

impl Provider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn charge(
        &self,
        token: &str,
        amount_minor: i64,
        currency: &str,
        idempotency_key: &str,
    ) -> Charge {
        let amount = amount_minor.to_string();
        let currency = currency.to_lowercase();
        let reply = self
            .agent
            .post(&format!("{}/v1/payment_intents", self.base_url))
            .set("Authorization", &format!("Bearer {}", self.secret_key))
            .set("Idempotency-Key", idempotency_key)
            .send_form(&[
                ("amount", amount.as_str()),
                ("currency", currency.as_str()),
                ("payment_method", token),
                ("confirm", "true"),
                ("off_session", "true"),
            ]);
        let (status, body) = match reply {
            Ok(response) => (
                response.status(),
                response.into_string().unwrap_or_default(),
            ),
            Err(ureq::Error::Status(status, response)) => {
                (status, response.into_string().unwrap_or_default())
            }
            Err(error) => {
                return Charge::Unavailable {
                    reason: format!("Stripe did not answer: {error}"),
                }
            }
        };
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let text = |path: &[&str]| {
            path.iter()
                .try_fold(&json, |value, key| value.get(key))
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        };
        match status {
            200 => {
                let reference = text(&["id"]).unwrap_or_default();
                match text(&["status"]).as_deref() {
                    Some("succeeded") => Charge::Succeeded { reference },
                    Some("processing") => Charge::Processing { reference },
                    _ => Charge::Declined {
                        reason: text(&["last_payment_error", "message"])
                            .unwrap_or_else(|| "the payment needs another method or action".into()),
                    },
                }
            }
            402 => Charge::Declined {
                reason: text(&["error", "message"]).unwrap_or_else(|| "card declined".into()),
            },
            _ => Charge::Unavailable {
                reason: format!(
                    "Stripe answered {status}: {}",
                    text(&["error", "message"]).unwrap_or_default()
                ),
            },
        }
    }
}
