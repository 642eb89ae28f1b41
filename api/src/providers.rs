//! Payment providers: the one small interface Tally charges through, and
//! the `test` provider, offline and deterministic, whose tokens behave like
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
