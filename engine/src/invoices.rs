//! Invoices: one per transaction that brought money in (a deposit, a paid
//! top-up, a transfer's credit), numbered `INV-<year>-<6 digits>` without
//! gaps per year. The numbering counter is a key of the `invoices` column
//! family, moved in the same atomic write as the invoice it numbers, so a
//! number is never skipped or given twice, crash or not. Pure data and key
//! layout here; issuing is `engine/invoices.rs`.

use crate::ids::{InvoiceId, TxnId, WalletId};
use crate::money::{Credits, Currency};
use crate::wallet::EntryKind;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Who the invoice is made out to, as the client gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDetails {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub description: String,
    #[serde(with = "crate::money::decimal_serde")]
    pub amount: Decimal,
}

/// An issued invoice. Money already came in, so it is issued paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    /// `INV-<year>-<number>`, gapless per year of issue.
    pub number: String,
    pub wallet_id: WalletId,
    /// The wallet's external customer id.
    pub customer: String,
    /// The transaction it is for, and its kind.
    pub txn_id: TxnId,
    pub txn_kind: EntryKind,
    /// Money, at the currency's minor units.
    #[serde(with = "crate::money::decimal_serde")]
    pub amount: Decimal,
    pub currency: Currency,
    /// Credits the transaction added.
    pub credits: Credits,
    pub billing: BillingDetails,
    pub items: Vec<InvoiceItem>,
    pub issued_at_ms: i64,
    pub due_at_ms: i64,
    /// When the money came in: the transaction's time.
    pub paid_at_ms: i64,
}

impl crate::store::codec::Stored for Invoice {}
impl crate::store::codec::Stored for InvoiceId {}
impl crate::store::codec::Stored for u64 {}

/// The invoice number `sequence` of `year`.
pub fn number(year: i32, sequence: u64) -> String {
    format!("INV-{year}-{sequence:06}")
}

/// Whether a transaction of `kind` that added `paid` credits brought money in.
pub fn invoiceable(kind: EntryKind, paid: Credits) -> bool {
    // A transfer's credit moved money already in (and invoiced once):
    // between a user's own wallets, or back as a refund. Not invoiced again.
    let inbound = matches!(
        kind,
        EntryKind::Open | EntryKind::TopUp | EntryKind::Deposit
    );
    inbound && !paid.is_negative() && !paid.is_zero()
}

/// What an invoice line says for a transaction of `kind`.
pub fn description(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Deposit => "Account credit (deposit)",
        _ => "Account credit",
    }
}

/// Keys of the `invoices` column family:
///
/// - `0x01 ‖ invoice id16` → `Invoice`;
/// - `0x02 ‖ transaction id16` → the invoice id (one invoice per transaction);
/// - `0x03 ‖ year (i32 BE)` → the last number issued that year (`u64`);
/// - `0x04 ‖ wallet id16 ‖ invoice id16` → empty: a wallet's invoices,
///   oldest first.
pub mod keys {
    use crate::ids::{InvoiceId, TxnId, WalletId};

    /// Key of an invoice.
    pub fn invoice(id: &InvoiceId) -> Vec<u8> {
        let mut key = vec![1];
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Key of a transaction's invoice.
    pub fn of_transaction(txn: &TxnId) -> Vec<u8> {
        let mut key = vec![2];
        key.extend_from_slice(&txn.to_bytes());
        key
    }

    /// Key of a year's counter.
    pub fn counter(year: i32) -> Vec<u8> {
        let mut key = vec![3];
        key.extend_from_slice(&year.to_be_bytes());
        key
    }

    /// Prefix of a wallet's invoices.
    pub fn by_wallet_prefix(wallet: &WalletId) -> Vec<u8> {
        let mut key = vec![4];
        key.extend_from_slice(&wallet.to_bytes());
        key
    }

    /// Key of an invoice in its wallet's list.
    pub fn by_wallet(wallet: &WalletId, id: &InvoiceId) -> Vec<u8> {
        let mut key = by_wallet_prefix(wallet);
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// The invoice a wallet-list key names.
    pub fn invoice_of(key: &[u8]) -> Option<InvoiceId> {
        let bytes: [u8; 16] = key.get(17..33)?.try_into().ok()?;
        Some(InvoiceId::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_six_digits_and_grow_past_them() {
        assert_eq!(number(2025, 456), "INV-2025-000456");
        assert_eq!(number(2026, 1_234_567), "INV-2026-1234567");
        assert!(invoiceable(
            EntryKind::Deposit,
            Credits::parse("1").expect("c")
        ));
        assert!(!invoiceable(
            EntryKind::Debit,
            Credits::parse("1").expect("c")
        ));
        assert!(!invoiceable(EntryKind::TopUp, Credits::ZERO));
    }
}
