//! Wallet events (webhooks) and their durable outbox.
//!
//! A change that causes an event writes it in the same atomic batch as the
//! change itself: the event under its id in `events`, and a pointer in
//! `outbox` keyed by when the next delivery attempt is due. So an event
//! exists if and only if its change does, and a restart loses none. The
//! deliverer (in the API crate, which owns HTTP) takes due pointers, posts
//! the events and records each attempt with `Engine::record_delivery`.
//!
//! Ids are handed out before the write and writes land out of id order, so
//! readers page only up to the visible watermark (`crate::watermark`).

use crate::ids::WalletId;
use crate::money::{Currency, Fixed};
use crate::store::{Cf, WriteOp};
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
}

impl EventKind {
    /// Every kind, in documentation order.
    pub const ALL: [EventKind; 8] = [
        EventKind::WalletCreated,
        EventKind::WalletUpdated,
        EventKind::WalletTerminated,
        EventKind::TransactionCreated,
        EventKind::ThresholdCrossed,
        EventKind::Depleted,
        EventKind::LotExpiring,
        EventKind::TopUpFailed,
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

/// The ops that store an event and, while it is pending, its pointer.
pub fn event_ops(event: &Event) -> Vec<WriteOp> {
    let mut ops = vec![WriteOp::Put {
        cf: Cf::Events,
        key: event_key(event.id),
        value: crate::store::codec::encode(event),
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
        let snapshot = kind != EventKind::TransactionCreated;
        let reservation = self.ids.reserve();
        let event = Event {
            id: reservation.id(),
            kind,
            wallet_id: wallet.id.clone(),
            created_at_ms: now_ms,
            currency: wallet.currency,
            rate_amount: wallet.rate_amount,
            wallet: snapshot.then(|| Box::new(wallet.clone())),
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
