//! Payments: money charged through a provider that funds a user's general
//! wallet. A payment that succeeded is, in one durable write, a `DEPOSIT`
//! entry on the general wallet, the payment's record and its paid invoice
//! (numbered with the year's counter). One still processing at the
//! provider is recorded and credits nothing until it settles. Pure data and
//! the `payments` column family's layout; `engine/payments.rs` writes them.

use crate::ids::{InvoiceId, PaymentId, PaymentMethodId, TxnId, WalletId};
use crate::money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// The provider has not settled it yet; nothing credited.
    Processing,
    /// Charged, credited and invoiced.
    Completed,
    /// The provider reported it failed after processing; nothing credited.
    Failed,
    /// Completed, then refunded by the provider: its credits were removed
    /// (those still there; the rest is `Payment::refund_owed`).
    Refunded,
}

impl PaymentStatus {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Processing => "processing",
            PaymentStatus::Completed => "completed",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
        }
    }
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub user: String,
    pub method_id: PaymentMethodId,
    #[serde(with = "crate::money::decimal_serde")]
    pub amount: Decimal,
    pub currency: Currency,
    pub status: PaymentStatus,
    /// The provider (`test`, `stripe`) and its id of the charge.
    pub provider: String,
    pub provider_ref: String,
    pub reason: Option<String>,
    /// The client's `credit_distribution`, kept as given (informational,
    /// as the seed says): credit type and amount.
    pub distribution: Vec<(String, String)>,
    /// The general wallet credited, its entry and the invoice, once
    /// completed.
    pub wallet_id: Option<WalletId>,
    pub txn_id: Option<TxnId>,
    pub invoice_id: Option<InvoiceId>,
    pub invoice_number: Option<String>,
    pub idempotency_key: Option<String>,
    pub fingerprint: Option<[u8; 32]>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// After a refund: the money that could not be taken back because its
    /// credits were already spent (what the user owes).
    #[serde(with = "crate::money::decimal_serde::option")]
    pub refund_owed: Option<Decimal>,
    /// Why the provider declined or failed it.
    pub failure_reason: Option<String>,
}

/// Payments written before `refund_owed` or `failure_reason` read with
/// them `None`.
impl crate::store::codec::Stored for Payment {
    fn decode_current(body: &[u8]) -> Result<Self, String> {
        crate::store::codec::body_or_trailing_none(body)
    }
}

/// A payment whose charge Tally has not seen settled: written with the
/// payment, before the provider is called, and removed in the write that
/// settles it. What a restart (or a timeout) needs to finish the job: the
/// same charge asked again with the same key is the same charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsettled {
    /// The method's provider token and the charge, as first asked.
    pub token: String,
    pub amount_minor: i64,
    pub currency: String,
    /// The provider's idempotency key of the charge.
    pub charge_key: String,
    /// When to ask the provider again, and how many times it was asked.
    pub next_check_ms: i64,
    pub attempts: u32,
}

impl crate::store::codec::Stored for Unsettled {}

/// What the provider said about a charge, as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Charged: credit, record and invoice.
    Succeeded { reference: String },
    /// Accepted, not settled yet: a webhook or a later read settles it.
    Processing { reference: String },
    /// Refused: nothing credited.
    Declined { reason: String },
}
impl crate::store::codec::Stored for PaymentId {}

/// Keys of the `payments` column family:
///
/// - `0x01 ‖ payment id16` → `Payment`;
/// - `0x02 ‖ user ‖ 0x00 ‖ client key` → the payment id (a client's
///   Idempotency-Key, scoped to the user);
/// - `0x03 ‖ provider ‖ 0x00 ‖ charge id` → the payment id (what a
///   provider's webhook names);
/// - `0x04 ‖ provider ‖ 0x00 ‖ event id` → empty: events applied, so a
///   webhook delivered twice applies once;
/// - `0x08 ‖ payment id16` → `Unsettled`: charges not seen settled.
///
/// (`0x05`–`0x07` are payment sessions', `crate::sessions::keys`.)
pub mod keys {
    use crate::ids::PaymentId;

    /// Key of a payment.
    pub fn payment(id: &PaymentId) -> Vec<u8> {
        let mut key = vec![1];
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Key of a payment by its provider's id of the charge.
    pub fn provider_ref(provider: &str, reference: &str) -> Vec<u8> {
        let mut out = vec![3];
        out.extend_from_slice(provider.as_bytes());
        out.push(0);
        out.extend_from_slice(reference.as_bytes());
        out
    }

    /// Key of a provider event already applied (webhooks deduplicated).
    pub fn event(provider: &str, event_id: &str) -> Vec<u8> {
        let mut out = vec![4];
        out.extend_from_slice(provider.as_bytes());
        out.push(0);
        out.extend_from_slice(event_id.as_bytes());
        out
    }

    /// Tag of the unsettled charges.
    pub const UNSETTLED: u8 = 8;

    /// Key of a payment whose charge is not seen settled.
    pub fn unsettled(id: &PaymentId) -> Vec<u8> {
        let mut key = vec![UNSETTLED];
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Key of a user's client key.
    pub fn client_key(user: &str, key: &str) -> Vec<u8> {
        let mut out = vec![2];
        out.extend_from_slice(user.as_bytes());
        out.push(0);
        out.extend_from_slice(key.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec;

    #[test]
    fn a_payment_written_before_failure_reason_reads_with_none() {
        let payment = Payment {
            id: PaymentId::generate(1),
            user: "u".into(),
            method_id: PaymentMethodId::generate(1),
            amount: Decimal::new(1250, 2),
            currency: Currency::parse("USD").expect("usd"),
            status: PaymentStatus::Completed,
            provider: "test".into(),
            provider_ref: "ch_1".into(),
            reason: Some("r".into()),
            distribution: vec![("general".into(), "12.50".into())],
            wallet_id: None,
            txn_id: None,
            invoice_id: None,
            invoice_number: Some("INV-2026-000001".into()),
            idempotency_key: Some("k".into()),
            fingerprint: Some([7; 32]),
            created_at_ms: 1,
            updated_at_ms: 2,
            refund_owed: Some(Decimal::ONE),
            failure_reason: None,
        };
        let mut bytes = codec::encode(&payment);
        assert_eq!(bytes.pop(), Some(0), "None is one 0 byte, last");
        let older: Payment = codec::decode("payments", &bytes).expect("reads");
        assert_eq!(older, payment);
        // Before refund_owed too: two fields short.
        let mut oldest = payment.clone();
        oldest.refund_owed = None;
        let mut bytes = codec::encode(&oldest);
        bytes.truncate(bytes.len() - 2);
        let read: Payment = codec::decode("payments", &bytes).expect("reads");
        assert_eq!(read, oldest);
        let mut declined = payment.clone();
        declined.failure_reason = Some("Your card was declined.".into());
        let read: Payment = codec::decode("payments", &codec::encode(&declined)).expect("reads");
        assert_eq!(read, declined);
    }
}
