//! Webhook delivery: the deliverer actor (a `Periodic` job) reads due events from the engine's
//! durable outbox, posts each to every configured endpoint with an
//! HMAC-SHA256 signature, and records every attempt durably. A failed
//! attempt is retried with exponential backoff; after `max_attempts` the
//! event is marked `failed`. Delivery is at least once: a crash between a
//! 2xx and its record repeats the POST, so receivers dedupe on the event id.
//!
//! Signature (header `Tally-Signature: t=<unix seconds>,v1=<hex>`): the
//! HMAC-SHA256, keyed with `webhooks.secret`, of `"<t>.<raw body>"`.

use crate::dto::{timestamp, TransactionView, WalletView};
use crate::settings::Webhooks;
use actix::Addr;
use engine::timer::{Job, Periodic};
use engine::{DeliveryStatus, Engine, Event};
use hmac::{Hmac, Mac};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Events taken from the outbox per pass.
const PASS_EVENTS_MAX: usize = 64;

/// The JSON body of an event, as posted and as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// `evt_` and the event number.
    pub id: String,
    pub object: &'static str,
    /// E.g. `wallet.threshold_crossed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub wallet_id: String,
    pub created_at: String,
    pub data: EventData,
    /// Delivery state (listing only; not part of the posted body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView>,
}

/// What an event is about.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventData {
    /// The wallet after the change (wallet.* events).
    pub wallet: Option<WalletView>,
    /// The ledger entry (transaction, threshold and depletion events).
    pub transaction: Option<TransactionView>,
    /// Specifics: rule_id, reason, lot_id, expires_at_ms.
    pub details: BTreeMap<String, String>,
}

/// Where an event's delivery stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `pending`, `delivered`, `failed` or `skipped`.
    pub status: &'static str,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

impl EventView {
    /// The view of `event`; `with_delivery` adds its delivery state.
    pub fn new(event: &Event, with_delivery: bool) -> EventView {
        let rate = event.rate_amount.to_decimal();
        let delivery = &event.delivery;
        EventView {
            id: format!("evt_{:016}", event.id),
            object: "event",
            kind: event.kind.as_str(),
            wallet_id: event.wallet_id.to_string(),
            created_at: timestamp(event.created_at_ms),
            data: EventData {
                wallet: event.wallet.as_deref().map(WalletView::new),
                transaction: event
                    .entry
                    .as_deref()
                    .map(|entry| TransactionView::new(entry, rate, event.currency)),
                details: event.details.iter().cloned().collect(),
            },
            delivery: with_delivery.then(|| DeliveryView {
                status: delivery.status.as_str(),
                attempts: delivery.attempts,
                next_attempt_at: (delivery.status == DeliveryStatus::Pending)
                    .then(|| timestamp(delivery.next_attempt_ms)),
                last_error: delivery.last_error.clone(),
                delivered_at: delivery.delivered_at_ms.map(timestamp),
            }),
        }
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &[u8], unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Posts due events and records the attempts.
pub struct Deliverer {
    engine: Arc<Engine>,
    settings: Webhooks,
    agent: ureq::Agent,
    /// Passes never overlap (the actor and a manual clock step may both ask).
    busy: tokio::sync::Mutex<()>,
}

impl Deliverer {
    /// A deliverer for `engine`'s outbox.
    pub fn new(engine: Arc<Engine>, settings: Webhooks) -> Deliverer {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build();
        Deliverer {
            engine,
            settings,
            agent,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Attempts every event due now, once; returns the attempts made.
    pub async fn pass(&self) -> Result<usize, engine::Error> {
        let _busy = self.busy.lock().await;
        let engine = Arc::clone(&self.engine);
        let due = actix_web::web::block(move || engine.due_events(PASS_EVENTS_MAX))
            .await
            .map_err(|_| engine::Error::Overloaded("blocking pool"))??;
        let mut attempts = 0;
        for event in due {
            attempts += 1;
            self.attempt(event).await?;
        }
        Ok(attempts)
    }

    /// Posts `event` to every endpoint that has not yet taken it.
    async fn attempt(&self, event: Event) -> Result<(), engine::Error> {
        let body = serde_json::to_vec(&EventView::new(&event, false)).unwrap_or_default();
        let now_ms = self.engine.now_ms();
        let header = signature(self.settings.secret.as_bytes(), now_ms / 1000, &body);
        let mut delivery = event.delivery.clone();
        delivery.attempts += 1;
        let mut errors = Vec::new();
        for endpoint in &self.settings.endpoints {
            if delivery.delivered_to.contains(endpoint) {
                continue;
            }
            let request = self
                .agent
                .post(endpoint)
                .set("Content-Type", "application/json")
                .set("Tally-Signature", &header)
                .set("Tally-Event-Id", &format!("evt_{:016}", event.id))
                .set("Tally-Event-Type", event.kind.as_str());
            let bytes = body.clone();
            let outcome = actix_web::web::block(move || match request.send_bytes(&bytes) {
                Ok(_) => Ok(()),
                Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
                Err(error) => Err(error.to_string()),
            })
            .await;
            match outcome {
                Ok(Ok(())) => delivery.delivered_to.push(endpoint.clone()),
                Ok(Err(reason)) => errors.push(format!("{endpoint}: {reason}")),
                Err(_) => errors.push(format!("{endpoint}: no thread to post from")),
            }
        }
        if errors.is_empty() {
            delivery.status = DeliveryStatus::Delivered;
            delivery.delivered_at_ms = Some(now_ms);
            delivery.last_error = None;
        } else {
            delivery.last_error = Some(errors.join("; "));
            if delivery.attempts >= self.settings.max_attempts {
                delivery.status = DeliveryStatus::Failed;
            } else {
                delivery.next_attempt_ms =
                    now_ms.saturating_add(self.backoff_ms(delivery.attempts));
            }
            tracing::info!(event = event.id, attempts = delivery.attempts, error = ?delivery.last_error, "webhook delivery failed");
        }
        self.engine.record_delivery(&event, delivery).await
    }

    /// The wait after the `attempts`th failure: backoff_ms doubled each
    /// time, at most backoff_max_ms.
    fn backoff_ms(&self, attempts: u32) -> i64 {
        let doubled = self
            .settings
            .backoff_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
        i64::try_from(doubled.min(self.settings.backoff_max_ms)).unwrap_or(i64::MAX)
    }
}

/// Starts the deliverer actor: [`Deliverer::pass`] every `webhooks.poll_ms`,
/// and again at once after a full pass (more may be due).
pub fn start_deliverer(deliverer: Arc<Deliverer>, poll: Duration) -> Addr<Periodic> {
    let job: Job = Arc::new(move || {
        let deliverer = Arc::clone(&deliverer);
        Box::pin(async move {
            let attempts = deliverer.pass().await?;
            Ok((attempts == PASS_EVENTS_MAX).then_some(Duration::ZERO))
        })
    });
    Periodic::start_job("webhooks", poll, job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 pins the MAC itself.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").expect("any key");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let header = signature(b"Jefe", 1_700_000_000, b"{}");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").expect("any key");
        mac.update(b"1700000000.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
        assert_ne!(header, signature(b"Jefe", 1_700_000_001, b"{}"));
        assert_ne!(header, signature(b"Jeff", 1_700_000_000, b"{}"));
    }
}
