//! Storage boundary: the `Store` trait, column families (`Cf`), write
//! operations (`WriteOp`) and the key layout. Only `store/rocks.rs` names
//! RocksDB; the rest of the engine sees ordered byte maps and atomic batches.
//!
//! Key layout (format version 3). A wallet id inside a key is its ULID's 16
//! bytes ("id16"); the `wal_…` text form exists only at the API's edge.
//! - `wallets`:     id16 → `Wallet`, a checkpoint of the wallet's state: the
//!   ledger entries after its `seq` are replayed on load
//! - `ledger`:      id16 ‖ seq (u64 big-endian) → `Entry`; one wallet's
//!   history is one contiguous range, newest last
//! - `idempotency`: 0x01 ‖ id16 ‖ client key, 0x02 ‖ id16 ‖ internal name,
//!   or 0x03 ‖ creation key → `IdempotencyRecord`
//! - `customers`:   external customer id ‖ 0x00 ‖ id16 → empty
//! - `users`:       deposit-API user id → wallet id of the user's default wallet
//! - `api_keys`:    key id → `ApiKeyRecord`
//! - `meta`:        `format_version` → u32
//! - `schedule`:    due ms (i64 BE) ‖ id16 → empty; when the timer must
//!   next wake each wallet (expiries, notices, interval top-ups)
//! - `events`:      event id (u64 BE) → `Event` with its delivery record,
//!   behind a header (status, creation time) the retention filter reads
//! - `outbox`:      next attempt ms (i64 BE) ‖ event id → empty; the events
//!   still to deliver, soonest first
//! - `prices`:      0x01 ‖ model ‖ 0x00 ‖ effective_from ms (u64 BE) ‖
//!   version id16 → `PriceVersion` (a model's versions in effective order,
//!   so the one in force at T is one reverse seek), and 0x02 ‖ version id16
//!   → that version's key (the index by `prv_…` id); see `prices::keys`
//! - `holds`:       0x01 ‖ hold id16 → `HoldRecord` (wallet, entries,
//!   status); 0x02 ‖ wallet id16 ‖ hold id16 → empty (a wallet's holds);
//!   0x03 ‖ hold id16 → held credits (pending holds only); see `holds::keys`
//! - `transfers`:   0x01 ‖ transfer id16 → `TransferRecord`; 0x02 ‖ transfer
//!   id16 → empty (in flight); 0x03 ‖ source id16 ‖ client key → transfer
//!   id; see `transfers::keys`
//! - `transactions`: transaction id16 → `TxnLocation` (wallet id, sequence):
//!   the global index that finds any ledger entry by its `txn_…` id
//! - `invoices`:    0x01 ‖ invoice id16 → `Invoice`; 0x02 ‖ txn id16 →
//!   invoice id; 0x03 ‖ year → last number; 0x04 ‖ wallet id16 ‖ invoice
//!   id16 → empty; see `invoices::keys`
//! - `totals`:      id16 → `Totals` (lifetime credited, spent, removed,
//!   lost), written with each checkpoint of the wallet, at its sequence
//! - `payment_methods`: user ‖ 0x00 ‖ method id16 → `PaymentMethod`
//! - `payments`:    0x01 ‖ payment id16 → `Payment`; 0x02 ‖ user ‖ 0x00 ‖
//!   client key → payment id

pub mod codec;
mod legacy;
#[cfg(feature = "rocks")]
pub mod rocks;

use crate::ids::WalletId;

/// A column family: one keyspace with its own options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cf {
    /// Wallet state by id.
    Wallets,
    /// Ledger entries by wallet id and sequence.
    Ledger,
    /// Idempotency records by scope and key.
    Idempotency,
    /// External customer id → wallet ids.
    Customers,
    /// Deposit-API user → default wallet id.
    Users,
    /// API key id → stored key.
    ApiKeys,
    /// Store-wide facts such as the format version.
    Meta,
    /// Due time ‖ wallet id: the timer's agenda.
    Schedule,
    /// Wallet events by id.
    Events,
    /// Events still to deliver, by next attempt time.
    Outbox,
    /// Price versions by model and effective time, and their id index.
    Prices,
    /// Hold records, a wallet's holds, and the pending ones.
    Holds,
    /// Transfer records, those in flight, and clients' keys.
    Transfers,
    /// Transaction id → its wallet and sequence number.
    Transactions,
    /// Invoices, their transaction and wallet indexes, the yearly counters.
    Invoices,
    /// A wallet's lifetime totals, checkpointed with its state.
    Totals,
    /// Users' stored payment methods.
    PaymentMethods,
    /// Payments and clients' keys for them.
    Payments,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 18] = [
        Cf::Wallets,
        Cf::Ledger,
        Cf::Idempotency,
        Cf::Customers,
        Cf::Users,
        Cf::ApiKeys,
        Cf::Meta,
        Cf::Schedule,
        Cf::Events,
        Cf::Outbox,
        Cf::Prices,
        Cf::Holds,
        Cf::Transfers,
        Cf::Transactions,
        Cf::Invoices,
        Cf::Totals,
        Cf::PaymentMethods,
        Cf::Payments,
    ];

    /// The column family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Wallets => "wallets",
            Cf::Ledger => "ledger",
            Cf::Idempotency => "idempotency",
            Cf::Customers => "customers",
            Cf::Users => "users",
            Cf::ApiKeys => "api_keys",
            Cf::Meta => "meta",
            Cf::Schedule => "schedule",
            Cf::Events => "events",
            Cf::Outbox => "outbox",
            Cf::Prices => "prices",
            Cf::Holds => "holds",
            Cf::Transfers => "transfers",
            Cf::Transactions => "transactions",
            Cf::Invoices => "invoices",
            Cf::Totals => "totals",
            Cf::PaymentMethods => "payment_methods",
            Cf::Payments => "payments",
        }
    }
}

/// Where a transaction is: the `transactions` CF's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxnLocation {
    /// The wallet whose ledger holds it.
    pub wallet_id: WalletId,
    /// Its sequence number there.
    pub seq: u64,
}

impl codec::Stored for TxnLocation {}

/// One write inside an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Sets `key` to `value`.
    Put {
        /// Column family.
        cf: Cf,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// Column family.
        cf: Cf,
        /// Key bytes.
        key: Vec<u8>,
    },
}

/// Direction of a range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Reverse,
}

/// A range scan inside one prefix. `start_exclusive` is a key already seen:
/// the scan resumes strictly past it in the scan's direction.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    /// Column family.
    pub cf: Cf,
    /// Only keys with this prefix are returned.
    pub prefix: &'a [u8],
    /// Resume strictly after (forward) or before (reverse) this key.
    pub start_exclusive: Option<&'a [u8]>,
    /// Scan direction.
    pub direction: Direction,
    /// At most this many pairs.
    pub limit: usize,
}

/// A key/value pair read from the store.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Storage failures. Messages may name paths and are for logs, never clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt record in {cf}: {reason}")]
    Corrupt { cf: &'static str, reason: String },
    #[error("data format version {found} is not supported (this build reads {supported})")]
    FormatVersion { found: u32, supported: u32 },
}

/// Reads: of the live store, or of a consistent snapshot of it.
pub trait ReadView {
    /// Reads one key.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads up to `scan.limit` pairs of one prefix in key order.
    fn scan(&self, scan: Scan<'_>) -> Result<Vec<Pair>, StoreError>;
}

/// An ordered, durable key/value store with atomic multi-key batches.
pub trait Store: ReadView + Send + Sync + 'static {
    /// A point-in-time view: every read sees the store as of this call, so a
    /// checker can walk it while writes go on.
    fn snapshot(&self) -> Box<dyn ReadView + '_>;

    /// Writes every op of every group in one atomic batch. With `sync`, it
    /// returns only once the write-ahead log is on disk.
    fn write(&self, groups: &[&[WriteOp]], sync: bool) -> Result<(), StoreError>;

    /// Forces the write-ahead log to disk (the `buffered` mode's periodic sync).
    fn sync_wal(&self) -> Result<(), StoreError>;

    /// Numeric properties per column family, for metrics.
    fn stats(&self) -> Vec<StoreStat>;
}

/// One numeric property of one column family (sizes, pending compaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStat {
    /// Column family name.
    pub cf: &'static str,
    /// Property name, ending in its unit.
    pub name: &'static str,
    /// Value.
    pub value: u64,
}

/// Builds keys for the layout above.
pub mod keys {
    use super::WalletId;

    /// Width of a wallet id inside a key: the ULID's 16 bytes.
    pub const ID_LEN: usize = 16;

    /// Key of a wallet's state.
    pub fn wallet(wallet: &WalletId) -> Vec<u8> {
        wallet.to_bytes().to_vec()
    }

    /// The wallet id of a `wallets` key.
    pub fn wallet_id(key: &[u8]) -> Option<WalletId> {
        Some(WalletId::from_bytes(key.try_into().ok()?))
    }

    /// Ledger key of `wallet` at `seq`.
    pub fn ledger(wallet: &WalletId, seq: u64) -> Vec<u8> {
        let mut key = Vec::with_capacity(ID_LEN + 8);
        key.extend_from_slice(&wallet.to_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        key
    }

    /// The prefix of every ledger key of `wallet`.
    pub fn ledger_prefix(wallet: &WalletId) -> Vec<u8> {
        wallet.to_bytes().to_vec()
    }

    /// Key of a transaction in the global index.
    pub fn transaction(txn: &crate::ids::TxnId) -> Vec<u8> {
        txn.to_bytes().to_vec()
    }

    /// Sequence number of a ledger key.
    pub fn ledger_seq(key: &[u8]) -> Option<u64> {
        let tail: [u8; 8] = key.get(ID_LEN..)?.try_into().ok()?;
        Some(u64::from_be_bytes(tail))
    }

    /// Tags that open every idempotency key and say whose key it is, so the
    /// three key spaces can never overlap whatever bytes follow.
    const CLIENT: u8 = 1;
    /// The engine's own changes (interval top-ups): no client key reaches
    /// this space, so none can pre-empt or replay such a change.
    const INTERNAL: u8 = 2;
    /// Wallet creation, whose keys are global.
    const CREATION: u8 = 3;

    fn tagged(tag: u8, wallet: Option<&WalletId>, name: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + ID_LEN + name.len());
        key.push(tag);
        if let Some(wallet) = wallet {
            key.extend_from_slice(&wallet.to_bytes());
        }
        key.extend_from_slice(name.as_bytes());
        key
    }

    /// Key of the record of a client's key on `wallet`.
    pub fn idempotency(wallet: &WalletId, key: &str) -> Vec<u8> {
        tagged(CLIENT, Some(wallet), key)
    }

    /// Key of the record of one of the engine's own changes of `wallet`.
    pub fn internal_idempotency(wallet: &WalletId, name: &str) -> Vec<u8> {
        tagged(INTERNAL, Some(wallet), name)
    }

    /// Key of the record of a wallet creation's key.
    pub fn creation_idempotency(key: &str) -> Vec<u8> {
        tagged(CREATION, None, key)
    }

    /// The key (or internal name) part of an idempotency record's store key.
    pub fn idempotency_name(record_key: &[u8]) -> Option<&[u8]> {
        match record_key.first()? {
            &CLIENT | &INTERNAL => record_key.get(1 + ID_LEN..),
            &CREATION => record_key.get(1..),
            _ => None,
        }
    }

    /// Customer index entry: customer ‖ 0x00 ‖ wallet id. Customer ids never
    /// contain NUL (the API refuses it) and the id has a fixed width, so the
    /// entry splits unambiguously from its end.
    pub fn customer(external_customer_id: &str, wallet: &WalletId) -> Vec<u8> {
        let mut key = customer_prefix(external_customer_id);
        key.extend_from_slice(&wallet.to_bytes());
        key
    }

    /// Prefix of every index entry of one customer.
    pub fn customer_prefix(external_customer_id: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(external_customer_id.len() + 1 + ID_LEN);
        key.extend_from_slice(external_customer_id.as_bytes());
        key.push(0);
        key
    }

    /// The customer and the wallet id of a customer index key.
    pub fn customer_parts(key: &[u8]) -> Option<(&[u8], WalletId)> {
        let split = key.len().checked_sub(ID_LEN + 1)?;
        if key[split] != 0 {
            return None;
        }
        let id = WalletId::from_bytes(key[split + 1..].try_into().ok()?);
        Some((&key[..split], id))
    }

    /// Schedule key: when `wallet` must next be woken.
    pub fn schedule(due_ms: i64, wallet: &WalletId) -> Vec<u8> {
        let mut key = Vec::with_capacity(8 + ID_LEN);
        key.extend_from_slice(&due_ms.max(0).to_be_bytes());
        key.extend_from_slice(&wallet.to_bytes());
        key
    }

    /// The due time and wallet of a schedule key.
    pub fn schedule_parts(key: &[u8]) -> Option<(i64, WalletId)> {
        let due: [u8; 8] = key.get(..8)?.try_into().ok()?;
        let id = WalletId::from_bytes(key.get(8..)?.try_into().ok()?);
        Some((i64::from_be_bytes(due), id))
    }
}
