//! Payment sessions (seed 004): a customer is sent to a checkout page for
//! an amount of one currency ("coin") for a product; completing it credits
//! the customer's wallet once, tagged with product and session, and adds
//! to the deposited balance per customer, product and coin. Pure data and
//! key layout (in the `payments` column family); `engine/sessions.rs`
//! writes them.

use crate::ids::{SessionId, TxnId, WalletId};
use crate::money::Currency;
use crate::wallet::Metadata;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionStatus {
    Pending,
    Completed,
    Failed,
    Expired,
}

impl SessionStatus {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Expired => "expired",
        }
    }
}

/// A payment session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSession {
    pub id: SessionId,
    pub customer: String,
    pub product: String,
    pub title: String,
    pub currency: Currency,
    #[serde(with = "crate::money::decimal_serde")]
    pub amount: Decimal,
    pub return_url: String,
    pub metadata: Metadata,
    pub status: SessionStatus,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The wallet credited and its entry, once completed.
    pub wallet_id: Option<WalletId>,
    pub txn_id: Option<TxnId>,
    /// The provider's hosted checkout (Stripe's Checkout Session); `None`:
    /// Tally's own test checkout page.
    pub checkout: Option<ProviderCheckout>,
}

/// Sessions written before `checkout` read with it `None`.
impl crate::store::codec::Stored for PaymentSession {
    fn decode_current(body: &[u8]) -> Result<Self, String> {
        crate::store::codec::body_or_trailing_none(body)
    }
}

/// A checkout hosted by a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCheckout {
    /// `stripe`.
    pub provider: String,
    /// The provider's id of it (`cs_…`), which its webhooks name.
    pub reference: String,
    /// Where the customer pays.
    pub url: String,
}

/// How a provider's event ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Paid at the provider: credited, even if Tally's clock expired it
    /// meanwhile (the customer's money was taken).
    Paid,
    /// The payment failed (an asynchronous method bounced).
    Failed,
    /// The provider expired it unpaid.
    Expired,
}
/// A deposited balance as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposited(#[serde(with = "crate::money::decimal_serde")] pub Decimal);

impl crate::store::codec::Stored for Deposited {}

/// Keys (in the `payments` column family):
///
/// - `0x05 ‖ session id16` → `PaymentSession`;
/// - `0x06 ‖ customer ‖ 0x00 ‖ product ‖ 0x00 ‖ coin` → the deposited
///   amount (`Deposited`), moved with each completion;
/// - `0x07 ‖ expires ms (i64 BE) ‖ session id16` → empty: pending sessions
///   by expiry, for the timer.
pub mod keys {
    use crate::ids::SessionId;

    /// Key of a session.
    pub fn session(id: &SessionId) -> Vec<u8> {
        let mut key = vec![5];
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Key of a deposited balance.
    pub fn balance(customer: &str, product: &str, coin: &str) -> Vec<u8> {
        let mut key = vec![6];
        key.extend_from_slice(customer.as_bytes());
        key.push(0);
        key.extend_from_slice(product.as_bytes());
        key.push(0);
        key.extend_from_slice(coin.as_bytes());
        key
    }

    /// Tag of balances.
    pub const BALANCES: u8 = 6;

    /// The customer, product and coin of a balance key.
    pub fn balance_parts(key: &[u8]) -> Option<(String, String, String)> {
        let mut parts = key.get(1..)?.split(|byte| *byte == 0);
        let text = |part: Option<&[u8]>| {
            part.and_then(|p| std::str::from_utf8(p).ok())
                .map(str::to_owned)
        };
        Some((
            text(parts.next())?,
            text(parts.next())?,
            text(parts.next())?,
        ))
    }

    /// Key of a pending session in the expiry index.
    pub fn expiry(expires_ms: i64, id: &SessionId) -> Vec<u8> {
        let mut key = vec![7];
        key.extend_from_slice(&expires_ms.max(0).to_be_bytes());
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Tag of the expiry index.
    pub const EXPIRY: u8 = 7;

    /// The expiry and session of an expiry key.
    pub fn expiry_parts(key: &[u8]) -> Option<(i64, SessionId)> {
        let at: [u8; 8] = key.get(1..9)?.try_into().ok()?;
        let id: [u8; 16] = key.get(9..25)?.try_into().ok()?;
        Some((i64::from_be_bytes(at), SessionId::from_bytes(id)))
    }
}
