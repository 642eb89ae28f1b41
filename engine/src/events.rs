//! Wallet events (webhooks) and their durable outbox.
//!
//! A change that causes an event writes it in the same atomic batch as the
//! change itself: the event under its id in `events`, and a pointer in
//! `outbox` keyed by when the next delivery attempt is due. So an event
//! exists if and only if its change does, and a restart loses none. The
//! deliverer (in the API crate, which owns HTTP) takes due pointers, posts
//! the events and records each attempt with `Engine::record_deliveries`.
//!
//! Ids are handed out before the write and writes land out of id order, so
//! readers page only up to the visible watermark (`crate::watermark`).
//!
//! Retention: an event that is no longer pending (delivered, failed or
//! skipped) and older than `events_retention` is dropped by a RocksDB
//! compaction filter ([`expired`]), so pruning costs no writes or scans.
//! The filter decides from a fixed-offset header, without decoding the
//! event. Value layout: format byte ‖ [`HEADER_TAG`] ‖ delivery status byte
//! ‖ created_at_ms (i64 BE) ‖ bincode(event). Values written before the
//! header existed (format byte ‖ bincode) are still read: bincode starts the
//! event with its id as a varint, whose first byte is never 0xFF.

use crate::ids::WalletId;
use crate::money::{Currency, Fixed};
use crate::store::codec::{self, FORMAT_VERSION};
use crate::store::{Cf, StoreError, WriteOp};
use crate::wallet::{Entry, Metadata, Wallet};
use crate::watermark::{Reservation, Watermark};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    WalletCreated,
    WalletUpdated,
    WalletTerminated,
    TransactionCreated,
    ThresholdCrossed,
    Depleted,
    LotExpiring,
    TopUpFailed,
    HoldExpired,
}

impl EventKind {
    /// Every kind, in documentation order.
    pub const ALL: [EventKind; 9] = [
        EventKind::WalletCreated,
        EventKind::WalletUpdated,
        EventKind::WalletTerminated,
        EventKind::TransactionCreated,
        EventKind::ThresholdCrossed,
        EventKind::Depleted,
        EventKind::LotExpiring,
        EventKind::TopUpFailed,
        EventKind::HoldExpired,
    ];

    /// The event type as webhooks name it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::WalletCreated => "wallet.created",
            EventKind::WalletUpdated => "wallet.updated",
            EventKind::WalletTerminated => "wallet.terminated",
            EventKind::TransactionCreated => "wallet_transaction.created",
            EventKind::ThresholdCrossed => "wallet.threshold_crossed",
            EventKind::Depleted => "wallet.depleted",
            EventKind::LotExpiring => "wallet.lot_expiring",
            EventKind::TopUpFailed => "wallet.topup_failed",
            EventKind::HoldExpired => "hold.expired",
        }
    }
}

/// Where an event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Every endpoint answered 2xx.
    Delivered,
    /// Attempts exhausted.
    Failed,
    /// No endpoint was configured when it happened; kept as a record only.
    Skipped,
}

impl DeliveryStatus {
    /// Its byte in the stored header.
    fn code(self) -> u8 {
        match self {
            DeliveryStatus::Pending => 0,
            DeliveryStatus::Delivered => 1,
            DeliveryStatus::Failed => 2,
            DeliveryStatus::Skipped => 3,
        }
    }

    fn from_code(code: u8) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped,
        ]
        .into_iter()
        .find(|status| status.code() == code)
    }

    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// The delivery record of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Endpoints that answered 2xx; they are not posted to again.
    pub delivered_to: Vec<String>,
    /// When the last endpoint answered 2xx.
    pub delivered_at_ms: Option<i64>,
}

/// One wallet event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing id.
    pub id: u64,
    pub kind: EventKind,
    pub wallet_id: WalletId,
    pub created_at_ms: i64,
    /// The wallet's currency and rate, which price `entry`.
    pub currency: Currency,
    pub rate_amount: Fixed,
    /// The wallet after the change (wallet.* events).
    pub wallet: Option<Box<Wallet>>,
    /// The ledger entry (transaction, threshold and depletion events).
    pub entry: Option<Box<Entry>>,
    /// Specifics: rule id, reason, lot, expiry.
    pub details: Metadata,
    pub delivery: Delivery,
}

/// Store key of an event.
pub fn event_key(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// The id an event key holds.
pub fn event_id(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// Store key of an outbox pointer: due time ‖ event id, so a scan from the
/// start meets the due pointers first.
pub fn outbox_key(due_ms: i64, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&due_ms.max(0).to_be_bytes());
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// The due time and event id of an outbox key.
pub fn outbox_parts(key: &[u8]) -> Option<(i64, u64)> {
    let due: [u8; 8] = key.get(..8)?.try_into().ok()?;
    let id: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some((i64::from_be_bytes(due), u64::from_be_bytes(id)))
}

/// Second byte of an event value that carries the retention header.
pub const HEADER_TAG: u8 = 0xFF;

/// Format byte, tag, status byte, created_at_ms.
const HEADER_LEN: usize = 1 + 1 + 1 + 8;

/// Encodes an event behind its retention header.
pub fn encode_event(event: &Event) -> Vec<u8> {
    let body = codec::encode(event);
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.push(FORMAT_VERSION);
    bytes.push(HEADER_TAG);
    bytes.push(event.delivery.status.code());
    bytes.extend_from_slice(&event.created_at_ms.to_be_bytes());
    // `body` repeats the format byte; skip it.
    bytes.extend_from_slice(body.get(1..).unwrap_or_default());
    bytes
}

/// Decodes an event value, with or without the retention header.
pub fn decode_event(bytes: &[u8]) -> Result<Event, StoreError> {
    if bytes.get(1) != Some(&HEADER_TAG) {
        return codec::decode(Cf::Events.name(), bytes);
    }
    let body = bytes.get(HEADER_LEN..).ok_or_else(|| StoreError::Corrupt {
        cf: "events",
        reason: "short event header".into(),
    })?;
    let mut versioned = Vec::with_capacity(1 + body.len());
    versioned.push(bytes[0]);
    versioned.extend_from_slice(body);
    codec::decode(Cf::Events.name(), &versioned)
}

/// The delivery status and creation time of an encoded event, read from
/// its header (or, for a value written before headers, by decoding it).
pub fn retention_facts(bytes: &[u8]) -> Option<(DeliveryStatus, i64)> {
    if !bytes
        .first()
        .is_some_and(|version| codec::is_readable(*version))
    {
        return None;
    }
    if bytes.get(1) != Some(&HEADER_TAG) {
        let event = decode_event(bytes).ok()?;
        return Some((event.delivery.status, event.created_at_ms));
    }
    let status = DeliveryStatus::from_code(*bytes.get(2)?)?;
    let stamp: [u8; 8] = bytes.get(3..HEADER_LEN)?.try_into().ok()?;
    Some((status, i64::from_be_bytes(stamp)))
}

/// Whether the compaction filter may drop the stored event `key` → `value`
/// at `now_ms`: it is settled (delivered, failed or skipped), older than
/// `retention_ms`, and not the newest event committed (`newest_committed`),
/// because the next start numbers events after the highest id on disk and
/// ids must never be reused. Anything it cannot read is kept.
pub fn expired(
    key: &[u8],
    value: &[u8],
    now_ms: i64,
    retention_ms: i64,
    newest_committed: u64,
) -> bool {
    let Some(id) = event_id(key) else {
        return false;
    };
    if id >= newest_committed {
        return false;
    }
    match retention_facts(value) {
        Some((DeliveryStatus::Pending, _)) | None => false,
        Some((_, created_at_ms)) => now_ms.saturating_sub(created_at_ms) > retention_ms,
    }
}

/// The ops that store an event and, while it is pending, its pointer.
pub fn event_ops(event: &Event) -> Vec<WriteOp> {
    let mut ops = vec![WriteOp::Put {
        cf: Cf::Events,
        key: event_key(event.id),
        value: encode_event(event),
    }];
    if event.delivery.status == DeliveryStatus::Pending {
        ops.push(WriteOp::Put {
            cf: Cf::Outbox,
            key: outbox_key(event.delivery.next_attempt_ms, event.id),
            value: Vec::new(),
        });
    }
    ops
}

/// Makes events: hands out their ids (see [`crate::watermark`]) and knows
/// whether anyone is listening.
#[derive(Debug)]
pub struct Outbox {
    ids: Arc<Watermark>,
    /// At least one webhook endpoint is configured.
    delivering: bool,
}

/// A new event and the reservation of its id. Write the event with its
/// change, and settle the reservation by that write's outcome.
#[derive(Debug)]
pub struct NewEvent {
    pub event: Event,
    pub reservation: Reservation,
}

impl Outbox {
    /// An outbox taking its ids from `ids`.
    pub fn new(ids: Arc<Watermark>, delivering: bool) -> Outbox {
        Outbox { ids, delivering }
    }

    /// The ids of the events it makes.
    pub fn ids(&self) -> &Arc<Watermark> {
        &self.ids
    }

    /// Whether an event of `kind` is worth recording. Transaction events
    /// only matter to a receiver (the ledger already records the
    /// transaction), so without one they are not written at all.
    pub fn records(&self, kind: EventKind) -> bool {
        self.delivering || kind != EventKind::TransactionCreated
    }

    /// A new event of `kind`, pending delivery (or skipped when nobody
    /// listens). The caller writes `event_ops` of it with its change.
    /// Wallet events carry a copy of the wallet; transaction events only
    /// its entry (they are the frequent ones).
    pub fn event(
        &self,
        kind: EventKind,
        wallet: &Wallet,
        now_ms: i64,
        entry: Option<&Entry>,
        details: Metadata,
    ) -> NewEvent {
        // A hold event needs the entry, not the wallet: a timer turn may
        // expire many holds, and each copy would carry every pending hold.
        let snapshot = !matches!(kind, EventKind::TransactionCreated | EventKind::HoldExpired);
        let reservation = self.ids.reserve();
        let event = Event {
            id: reservation.id(),
            kind,
            wallet_id: wallet.id.clone(),
            created_at_ms: now_ms,
            currency: wallet.currency,
            rate_amount: wallet.rate_amount,
            wallet: snapshot.then(|| Box::new(wallet.snapshot())),
            entry: entry.map(|entry| Box::new(entry.clone())),
            details,
            delivery: Delivery {
                status: if self.delivering {
                    DeliveryStatus::Pending
                } else {
                    DeliveryStatus::Skipped
                },
                attempts: 0,
                next_attempt_ms: now_ms,
                last_error: None,
                delivered_to: Vec::new(),
                delivered_at_ms: None,
            },
        };
        NewEvent { event, reservation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TxnId, WalletId};
    use crate::money::Credits;
    use crate::wallet::{NewWallet, WalletStatus};
    use std::sync::atomic::AtomicU64;

    const DAY_MS: i64 = 86_400_000;
    const RETENTION_MS: i64 = 30 * DAY_MS;

    fn event(id: u64, status: DeliveryStatus, created_at_ms: i64) -> Event {
        let spec = NewWallet {
            external_customer_id: "cus".into(),
            currency: Currency::parse("USD").expect("known"),
            rate_amount: rust_decimal::Decimal::ONE,
            paid_credits: Credits::parse("5").expect("valid"),
            granted_credits: Credits::ZERO,
            status: WalletStatus::Active,
            terms: crate::terms::TermsSpec::default(),
        };
        let (wallet, _) = Wallet::open(
            WalletId::generate(created_at_ms),
            TxnId::generate(created_at_ms),
            spec,
            None,
            created_at_ms,
        )
        .expect("opens");
        let ids = Watermark::new(id, Arc::new(AtomicU64::new(0)));
        let outbox = Outbox::new(ids, true);
        let NewEvent {
            mut event,
            reservation,
        } = outbox.event(
            EventKind::WalletCreated,
            &wallet,
            created_at_ms,
            None,
            Vec::new(),
        );
        reservation.commit();
        event.delivery.status = status;
        event
    }

    #[test]
    fn events_round_trip_behind_a_header_and_old_values_still_read() {
        let original = event(300, DeliveryStatus::Delivered, 1_234);
        let bytes = encode_event(&original);
        assert_eq!(bytes[1], HEADER_TAG);
        assert_eq!(
            retention_facts(&bytes),
            Some((DeliveryStatus::Delivered, 1_234))
        );
        assert_eq!(decode_event(&bytes).expect("decodes"), original);
        // Written before the header: format byte, then bincode.
        let old = codec::encode(&original);
        assert_ne!(old[1], HEADER_TAG);
        assert_eq!(decode_event(&old).expect("decodes"), original);
        assert_eq!(
            retention_facts(&old),
            Some((DeliveryStatus::Delivered, 1_234))
        );
        assert!(decode_event(&bytes[..5]).is_err());
        assert_eq!(retention_facts(&[]), None);
    }

    #[test]
    fn only_settled_events_older_than_retention_expire_and_never_the_newest() {
        let created = 1_700_000_000_000;
        let old_enough = created + RETENTION_MS + 1;
        let decide = |status, now_ms, newest| {
            let stored = event(7, status, created);
            expired(
                &event_key(stored.id),
                &encode_event(&stored),
                now_ms,
                RETENTION_MS,
                newest,
            )
        };
        for status in [
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped,
        ] {
            assert!(decide(status, old_enough, 8), "{status:?}");
            // Exactly at the retention age it is kept.
            assert!(!decide(status, created + RETENTION_MS, 8), "{status:?}");
        }
        // A pending event is never pruned, however old.
        assert!(!decide(
            DeliveryStatus::Pending,
            old_enough + 365 * DAY_MS,
            8
        ));
        // The newest event is kept so that its id is never handed out again.
        assert!(!decide(DeliveryStatus::Delivered, old_enough, 7));
        // Unreadable values and keys are kept.
        assert!(!expired(&event_key(1), b"", old_enough, RETENTION_MS, 8));
        assert!(!expired(
            b"short",
            &encode_event(&event(1, DeliveryStatus::Delivered, created)),
            old_enough,
            RETENTION_MS,
            8
        ));
    }
}
