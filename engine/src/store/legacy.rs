//! Format-3 layouts of the values format 4 changed, read and turned into
//! today's types: a wallet gained its held balance and pending holds, a
//! ledger entry its hold move, and an event embeds both. A format-3 value
//! had no holds, so each converts with none. Only read, never written.

use super::codec::{body_of, Stored};
use crate::events::{Delivery, Event, EventKind};
use crate::ids::{TxnId, WalletId};
use crate::lots::{Lot, LotChange};
use crate::money::{Currency, Fixed};
use crate::terms::{FeeType, Terms};
use crate::wallet::{Balance, Entry, EntryKind, Metadata, Source, Wallet, WalletStatus};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::sync::Arc;

/// `Wallet` as format 3 wrote it.
#[derive(Deserialize)]
struct WalletV3 {
    id: WalletId,
    external_customer_id: String,
    currency: Currency,
    rate_amount: Fixed,
    status: WalletStatus,
    balance: Balance,
    created_at_ms: i64,
    seq: u64,
    terms: Arc<Terms>,
    lots: Vec<Lot>,
    next_lot: u64,
    wake_at_ms: Option<i64>,
    expiry_notified: bool,
}

impl From<WalletV3> for Wallet {
    fn from(old: WalletV3) -> Wallet {
        Wallet {
            id: old.id,
            external_customer_id: old.external_customer_id,
            currency: old.currency,
            rate_amount: old.rate_amount,
            status: old.status,
            balance: old.balance,
            created_at_ms: old.created_at_ms,
            seq: old.seq,
            terms: old.terms,
            lots: old.lots,
            next_lot: old.next_lot,
            wake_at_ms: old.wake_at_ms,
            expiry_notified: old.expiry_notified,
            held: Balance::default(),
            holds: Vec::new(),
        }
    }
}

/// `Entry` as format 3 wrote it.
#[derive(Deserialize)]
struct EntryV3 {
    txn_id: TxnId,
    wallet_id: WalletId,
    seq: u64,
    kind: EntryKind,
    delta: Balance,
    after: Balance,
    status: WalletStatus,
    #[serde(with = "crate::money::decimal_serde::option")]
    amount: Option<Decimal>,
    metadata: Metadata,
    idempotency_key: Option<String>,
    created_at_ms: i64,
    lots: Vec<LotChange>,
    source: Source,
    rule_id: Option<String>,
    fee_type: Option<FeeType>,
    terms: Option<Arc<Terms>>,
}

impl From<EntryV3> for Entry {
    fn from(old: EntryV3) -> Entry {
        Entry {
            txn_id: old.txn_id,
            wallet_id: old.wallet_id,
            seq: old.seq,
            kind: old.kind,
            delta: old.delta,
            after: old.after,
            status: old.status,
            amount: old.amount,
            metadata: old.metadata,
            idempotency_key: old.idempotency_key,
            created_at_ms: old.created_at_ms,
            lots: old.lots,
            source: old.source,
            rule_id: old.rule_id,
            fee_type: old.fee_type,
            terms: old.terms,
            hold: None,
            held: Balance::default(),
        }
    }
}

/// `Event` as format 3 wrote it.
#[derive(Deserialize)]
struct EventV3 {
    id: u64,
    kind: EventKind,
    wallet_id: WalletId,
    created_at_ms: i64,
    currency: Currency,
    rate_amount: Fixed,
    wallet: Option<Box<WalletV3>>,
    entry: Option<Box<EntryV3>>,
    details: Metadata,
    delivery: Delivery,
}

impl From<EventV3> for Event {
    fn from(old: EventV3) -> Event {
        Event {
            id: old.id,
            kind: old.kind,
            wallet_id: old.wallet_id,
            created_at_ms: old.created_at_ms,
            currency: old.currency,
            rate_amount: old.rate_amount,
            wallet: old.wallet.map(|wallet| Box::new(Wallet::from(*wallet))),
            entry: old.entry.map(|entry| Box::new(Entry::from(*entry))),
            details: old.details,
            delivery: old.delivery,
        }
    }
}

impl Stored for Wallet {
    fn decode_v3(body: &[u8]) -> Result<Wallet, String> {
        body_of::<WalletV3>(body).map(Wallet::from)
    }
}

impl Stored for Entry {
    fn decode_v3(body: &[u8]) -> Result<Entry, String> {
        body_of::<EntryV3>(body).map(Entry::from)
    }
}

impl Stored for Event {
    fn decode_v3(body: &[u8]) -> Result<Event, String> {
        body_of::<EventV3>(body).map(Event::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lots::CreditKind;
    use crate::money::Credits;
    use crate::store::codec::{self, V3};
    use serde::Serialize;

    /// Serializes like format 3 did: the old layout behind byte 3.
    fn v3<T: Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = vec![V3];
        bytes.extend(codec::body(value));
        bytes
    }

    /// `EntryV3` as format 3 wrote it (the reading struct, mirrored for
    /// writing, so the test writes what format 3 did).
    #[derive(Serialize)]
    struct EntryV3Out<'a> {
        txn_id: &'a TxnId,
        wallet_id: &'a WalletId,
        seq: u64,
        kind: EntryKind,
        delta: Balance,
        after: Balance,
        status: WalletStatus,
        #[serde(with = "crate::money::decimal_serde::option")]
        amount: Option<Decimal>,
        metadata: Metadata,
        idempotency_key: Option<String>,
        created_at_ms: i64,
        lots: Vec<LotChange>,
        source: Source,
        rule_id: Option<String>,
        fee_type: Option<FeeType>,
        terms: Option<Arc<Terms>>,
    }

    #[test]
    fn a_format_3_entry_reads_with_no_holds_and_a_format_4_one_round_trips() {
        let (txn, wallet) = (TxnId::generate(1), WalletId::generate(1));
        let paid = Credits::parse("2.5").expect("credits");
        let old = EntryV3Out {
            txn_id: &txn,
            wallet_id: &wallet,
            seq: 7,
            kind: EntryKind::Debit,
            delta: Balance {
                paid: paid.negated(),
                granted: Credits::ZERO,
            },
            after: Balance {
                paid,
                granted: Credits::ZERO,
            },
            status: WalletStatus::Active,
            amount: None,
            metadata: vec![("model".into(), "gpt-4o".into())],
            idempotency_key: Some("k".into()),
            created_at_ms: 5,
            lots: vec![LotChange {
                lot: 1,
                kind: CreditKind::Paid,
                delta: paid.negated(),
                expires_at_ms: None,
            }],
            source: Source::Manual,
            rule_id: None,
            fee_type: Some(FeeType::Charge),
            terms: None,
        };
        let entry: Entry = codec::decode("ledger", &v3(&old)).expect("reads format 3");
        assert_eq!(entry.seq, 7);
        assert_eq!(entry.after.paid, paid);
        assert_eq!(entry.metadata, old.metadata);
        assert_eq!((&entry.hold, entry.held), (&None, Balance::default()));
        // Written now, it reads back whole, hold fields included.
        let again: Entry = codec::decode("ledger", &codec::encode(&entry)).expect("reads");
        assert_eq!(again, entry);
        // A format-3 body under today's byte is refused, never misread.
        let mut mislabelled = v3(&old);
        mislabelled[0] = codec::FORMAT_VERSION;
        assert!(codec::decode::<Entry>("ledger", &mislabelled).is_err());
    }
}
