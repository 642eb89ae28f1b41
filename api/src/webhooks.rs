//! What a webhook carries: the JSON view of an event (as posted and as
//! listed by `GET /v1/events`) and its signature. The deliverer
//! (`crate::deliverer`) posts them.
//!
//! Signature (header `Tally-Signature: t=<unix seconds>,v1=<hex>`): the
//! HMAC-SHA256, keyed with `webhooks.secret`, of `"<t>.<raw body>"`.

use crate::dto::{timestamp, TransactionView, WalletView};
use engine::{DeliveryStatus, Event};
use hmac::{Hmac, Mac};
use serde::Serialize;
use std::collections::BTreeMap;

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
