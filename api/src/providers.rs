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

/// One charge, as asked of a provider.
#[derive(Debug, Clone, Copy)]
pub struct ChargeRequest<'a> {
    /// The method's provider token.
    pub token: &'a str,
    /// Minor units of `currency` (cents).
    pub amount_minor: i64,
    /// ISO code.
    pub currency: &'a str,
    /// Makes a retry the same charge.
    pub idempotency_key: &'a str,
    /// Tally's payment id, carried in the charge's metadata so a webhook
    /// can name the payment even when Tally never recorded the provider's
    /// id (a crash between the charge and its record).
    pub payment_id: &'a str,
}

/// A checkout session, as asked of a provider.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutRequest<'a> {
    /// Tally's session id: the provider's `client_reference_id` and
    /// metadata, and the idempotency key's root.
    pub session_id: &'a str,
    pub title: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    /// Where the customer goes after paying, and after giving up.
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// When the provider stops taking the payment (Unix seconds).
    pub expires_at_secs: i64,
}

/// What a provider answered to a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// The provider hosts it: its id and the customer's URL.
    Hosted { reference: String, url: String },
    /// Tally serves its own page (`/checkout/{id}`): the test provider.
    OwnPage,
    /// The provider refused the request (a bad amount, say): retrying the
    /// same request cannot help.
    Refused { reason: String },
    /// The provider could not be reached or refused.
    Unavailable { reason: String },
}

/// A payment provider.
pub trait Provider: Send + Sync {
    /// The provider's name, as payments record it.
    fn name(&self) -> &'static str;

    /// Charges the method; the same `idempotency_key` is the same charge.
    fn charge(&self, request: &ChargeRequest<'_>) -> Charge;

    /// Reads the charge `reference` again (a payment left processing).
    fn read(&self, reference: &str) -> Charge;

    /// Creates a checkout session for a payment session.
    fn checkout(&self, request: &CheckoutRequest<'_>) -> Checkout;
}

/// The offline provider for development and tests.
pub struct TestProvider;

impl Provider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn charge(&self, request: &ChargeRequest<'_>) -> Charge {
        let digest = Sha256::digest(request.idempotency_key.as_bytes());
        let reference = format!("ch_test_{}", hex::encode(&digest[..12]));
        match request.token {
            "pm_card_chargeDeclined" => Charge::Declined {
                reason: "Your card was declined.".into(),
            },
            "pm_card_processing" => Charge::Processing { reference },
            _ => Charge::Succeeded { reference },
        }
    }

    /// The test provider keeps no state: a charge left processing stays
    /// so until a webhook settles it.
    fn read(&self, reference: &str) -> Charge {
        Charge::Processing {
            reference: reference.to_owned(),
        }
    }

    fn checkout(&self, _request: &CheckoutRequest<'_>) -> Checkout {
        Checkout::OwnPage
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

    fn charge(&self, request: &ChargeRequest<'_>) -> Charge {
        let amount = request.amount_minor.to_string();
        let currency = request.currency.to_lowercase();
        let reply = self
            .agent
            .post(&format!("{}/v1/payment_intents", self.base_url))
            .set("Authorization", &format!("Bearer {}", self.secret_key))
            .set("Idempotency-Key", request.idempotency_key)
            .send_form(&[
                ("amount", amount.as_str()),
                ("currency", currency.as_str()),
                ("payment_method", request.token),
                ("confirm", "true"),
                ("off_session", "true"),
                ("metadata[tally_payment_id]", request.payment_id),
            ]);
        intent_outcome(reply)
    }

    fn read(&self, reference: &str) -> Charge {
        let reply = self
            .agent
            .get(&format!("{}/v1/payment_intents/{reference}", self.base_url))
            .set("Authorization", &format!("Bearer {}", self.secret_key))
            .call();
        intent_outcome(reply)
    }

    /// A Checkout Session in `payment` mode with one line of the amount;
    /// completion arrives by webhook (`checkout.session.*`).
    fn checkout(&self, request: &CheckoutRequest<'_>) -> Checkout {
        let amount = request.amount_minor.to_string();
        let currency = request.currency.to_lowercase();
        let expires = request.expires_at_secs.to_string();
        let reply = self
            .agent
            .post(&format!("{}/v1/checkout/sessions", self.base_url))
            .set("Authorization", &format!("Bearer {}", self.secret_key))
            .set("Idempotency-Key", &format!("tally:{}", request.session_id))
            .send_form(&[
                ("mode", "payment"),
                ("line_items[0][quantity]", "1"),
                ("line_items[0][price_data][currency]", currency.as_str()),
                ("line_items[0][price_data][unit_amount]", amount.as_str()),
                (
                    "line_items[0][price_data][product_data][name]",
                    request.title,
                ),
                ("success_url", request.success_url),
                ("cancel_url", request.cancel_url),
                ("client_reference_id", request.session_id),
                ("metadata[tally_session_id]", request.session_id),
                ("expires_at", expires.as_str()),
            ]);
        let (status, json) = match read_reply(reply) {
            Ok(answer) => answer,
            Err(reason) => return Checkout::Unavailable { reason },
        };
        let text = |key: &str| json.get(key).and_then(|value| value.as_str());
        let message = json
            .pointer("/error/message")
            .and_then(|value| value.as_str())
            .unwrap_or_default()
            .to_owned();
        match (status, text("id"), text("url")) {
            (200, Some(id), Some(url)) => Checkout::Hosted {
                reference: id.to_owned(),
                url: url.to_owned(),
            },
            (400, _, _) => Checkout::Refused { reason: message },
            _ => Checkout::Unavailable {
                reason: format!("Stripe answered {status}: {message}"),
            },
        }
    }
}

/// The status and JSON body of a reply, or why none came.
fn read_reply(
    reply: Result<ureq::Response, ureq::Error>,
) -> Result<(u16, serde_json::Value), String> {
    let (status, body) = match reply {
        Ok(response) => (response.status(), response.into_string()),
        Err(ureq::Error::Status(status, response)) => (status, response.into_string()),
        Err(error) => return Err(format!("Stripe did not answer: {error}")),
    };
    // A body cut short parses as nothing: the caller sees no fields.
    let json = body
        .ok()
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or_default();
    Ok((status, json))
}

/// A PaymentIntent reply as a `Charge`: 200 by the intent's status, 402
/// and other final refusals (400, 401, 403, 404) declined with Stripe's
/// message, anything else (409, 429, 5xx, no answer, an unreadable reply)
/// unavailable, to be asked again.
fn intent_outcome(reply: Result<ureq::Response, ureq::Error>) -> Charge {
    let (status, json) = match read_reply(reply) {
        Ok(answer) => answer,
        Err(reason) => return Charge::Unavailable { reason },
    };
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(&json, |value, key| value.get(key))
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    match status {
        // A reply that names no intent (cut short, unreadable) says nothing
        // about the charge: ask again.
        200 => match (text(&["id"]), text(&["status"]).as_deref()) {
            (Some(reference), Some("succeeded")) => Charge::Succeeded { reference },
            (Some(reference), Some("processing")) => Charge::Processing { reference },
            (
                Some(_),
                Some(
                    "requires_payment_method"
                    | "requires_action"
                    | "requires_confirmation"
                    | "canceled",
                ),
            ) => Charge::Declined {
                reason: text(&["last_payment_error", "message"])
                    .unwrap_or_else(|| "the payment needs another method or action".into()),
            },
            _ => Charge::Unavailable {
                reason: "Stripe's reply named no PaymentIntent status".into(),
            },
        },
        402 => Charge::Declined {
            reason: text(&["error", "message"]).unwrap_or_else(|| "card declined".into()),
        },
        // Refusals a retry cannot change (a bad parameter or token, a bad
        // key, an unknown intent) end the payment.
        400 | 401 | 403 | 404 => Charge::Declined {
            reason: format!(
                "Stripe refused the charge ({status}): {}",
                text(&["error", "message"]).unwrap_or_default()
            ),
        },
        // 409 (the key is in use by a concurrent call), 429, 5xx.
        _ => Charge::Unavailable {
            reason: format!(
                "Stripe answered {status}: {}",
                text(&["error", "message"]).unwrap_or_default()
            ),
        },
    }
}
