//! `Engine`'s invoices: issued once per transaction that brought money in,
//! under one lock (issuing is rare next to debits), with the year's counter,
//! the invoice, its transaction index and its wallet index in one durable
//! write: numbers are gapless and never reused, and two concurrent requests
//! for one transaction get one invoice.

use super::Engine;
use crate::error::Error;
use crate::ids::{InvoiceId, TxnId, WalletId};
use crate::invoices::{self, keys, BillingDetails, Invoice, InvoiceItem};
use crate::lots::CreditKind;
use crate::money::amount_for_credits;
use crate::store::{codec, Cf, Direction, Scan, WriteOp};
use crate::wallet::WalletError;

/// Days from an invoice's issue to its due date.
const DUE_DAYS: i64 = 30;

/// What an invoice is made out for, before it is numbered.
struct Issued {
    wallet_id: WalletId,
    customer: String,
    txn_kind: crate::wallet::EntryKind,
    amount: rust_decimal::Decimal,
    currency: crate::money::Currency,
    credits: crate::money::Credits,
    description: String,
    paid_at_ms: i64,
}

/// A page of a wallet's invoices, oldest first.
#[derive(Debug, Clone)]
pub struct InvoicePage {
    pub invoices: Vec<Invoice>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_cursor: Option<InvoiceId>,
}

impl Engine {
    /// The invoice of transaction `txn`: issued now (`true`) or the one
    /// issued before (`false`). Refuses a transaction that brought no money
    /// in.
    pub async fn issue_invoice(
        &self,
        txn: &TxnId,
        billing: BillingDetails,
    ) -> Result<(Invoice, bool), Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let store = self.shared.store.as_ref();
        if let Some(bytes) = store.get(Cf::Invoices, &keys::of_transaction(txn))? {
            let id: InvoiceId = codec::decode(Cf::Invoices.name(), &bytes)?;
            return Ok((self.invoice(&id)?.ok_or(Error::InvoiceNotFound)?, false));
        }
        let (entry, wallet) = self.transaction(txn)?.ok_or(Error::TransactionNotFound)?;
        let paid = crate::lots::total(&entry.lots, CreditKind::Paid).unwrap_or_default();
        if let Some(fee) = self.transfer_fee(&entry)? {
            return self.issue(txn, billing, fee).await;
        }
        if !invoices::invoiceable(entry.kind, paid) {
            return Err(Error::Rejected(WalletError::InvalidTerms {
                field: "transaction_id".into(),
                reason: format!(
                    "is a {} transaction: only money that came in (a deposit, a paid top-up) is invoiced",
                    entry.kind.as_str()
                ),
            }));
        }
        let amount = match entry.amount {
            Some(amount) => amount,
            None => amount_for_credits(paid, wallet.rate_amount.to_decimal(), wallet.currency)
                .ok_or(WalletError::OutOfRange {
                    field: "transaction_id",
                    max: crate::money::Credits::MAX,
                })?,
        };
        if amount.is_zero() {
            return Err(Error::Rejected(WalletError::InvalidTerms {
                field: "transaction_id".into(),
                reason: format!(
                    "brought in less than the smallest unit of {}: nothing to invoice",
                    wallet.currency
                ),
            }));
        }
        let mut amount = amount;
        amount.rescale(wallet.currency.minor_units());
        let issued = Issued {
            wallet_id: wallet.id.clone(),
            customer: wallet.external_customer_id.clone(),
            txn_kind: entry.kind,
            amount,
            currency: wallet.currency,
            credits: paid,
            description: invoices::description(entry.kind).to_owned(),
            paid_at_ms: entry.created_at_ms,
        };
        self.issue(txn, billing, issued).await
    }

    /// The invoice of a transfer's fee leg, to the transfer's payer, when
    /// fees are invoiced (`invoice_transfer_fees`); `None` for any other
    /// entry.
    fn transfer_fee(&self, entry: &crate::wallet::Entry) -> Result<Option<Issued>, Error> {
        if !self.config.invoice_transfer_fees || entry.kind != crate::wallet::EntryKind::TransferIn
        {
            return Ok(None);
        }
        let field = |key: &str| {
            entry
                .metadata
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.as_str())
        };
        if field("transfer_leg") != Some(crate::transfers::LegRole::Fee.as_str()) {
            return Ok(None);
        }
        let Some(id) = field("transfer_id").and_then(crate::ids::TransferId::parse) else {
            return Ok(None);
        };
        let record = self.transfer_record(&id)?.ok_or(Error::TransferNotFound)?;
        let payer = crate::actor::load_wallet(self.shared.store.as_ref(), &record.from)?
            .ok_or(Error::WalletNotFound)?;
        let mut amount = match record.legs.fee_amount {
            Some(amount) => amount,
            None => amount_for_credits(
                record.legs.fee_at_source,
                payer.rate_amount.to_decimal(),
                payer.currency,
            )
            .unwrap_or_default(),
        };
        amount.rescale(payer.currency.minor_units());
        Ok(Some(Issued {
            wallet_id: payer.id.clone(),
            customer: payer.external_customer_id.clone(),
            txn_kind: entry.kind,
            amount,
            currency: payer.currency,
            credits: record.legs.fee,
            description: format!("Platform fee on transfer {id}"),
            paid_at_ms: entry.created_at_ms,
        }))
    }

    /// Numbers and writes an invoice (the caller holds the invoice lock).
    async fn issue(
        &self,
        txn: &TxnId,
        billing: BillingDetails,
        issued: Issued,
    ) -> Result<(Invoice, bool), Error> {
        let store = self.shared.store.as_ref();
        let now_ms = self.shared.clock.now_ms();
        let year = year_of(now_ms);
        let last: u64 = match store.get(Cf::Invoices, &keys::counter(year))? {
            Some(bytes) => codec::decode(Cf::Invoices.name(), &bytes)?,
            None => 0,
        };
        let sequence = last + 1;
        let invoice = Invoice {
            id: InvoiceId::generate(now_ms),
            number: invoices::number(year, sequence),
            wallet_id: issued.wallet_id,
            customer: issued.customer,
            txn_id: txn.clone(),
            txn_kind: issued.txn_kind,
            amount: issued.amount,
            currency: issued.currency,
            credits: issued.credits,
            billing,
            items: vec![InvoiceItem {
                description: issued.description,
                amount: issued.amount,
            }],
            issued_at_ms: now_ms,
            due_at_ms: now_ms.saturating_add(DUE_DAYS * 86_400_000),
            paid_at_ms: issued.paid_at_ms,
        };
        let ops = vec![
            WriteOp::Put {
                cf: Cf::Invoices,
                key: keys::counter(year),
                value: codec::encode(&sequence),
            },
            WriteOp::Put {
                cf: Cf::Invoices,
                key: keys::invoice(&invoice.id),
                value: codec::encode(&invoice),
            },
            WriteOp::Put {
                cf: Cf::Invoices,
                key: keys::of_transaction(txn),
                value: codec::encode(&invoice.id),
            },
            WriteOp::Put {
                cf: Cf::Invoices,
                key: keys::by_wallet(&invoice.wallet_id, &invoice.id),
                value: Vec::new(),
            },
        ];
        self.commit(ops).await?;
        tracing::info!(invoice = %invoice.number, transaction = %txn, "invoice issued");
        Ok((invoice, true))
    }

    /// An invoice by id.
    pub fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, Error> {
        match self.shared.store.get(Cf::Invoices, &keys::invoice(id))? {
            Some(bytes) => Ok(Some(codec::decode(Cf::Invoices.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// A page of wallet `wallet`'s invoices, oldest first, after `after`.
    pub fn wallet_invoices(
        &self,
        wallet: &WalletId,
        after: Option<&InvoiceId>,
        limit: usize,
    ) -> Result<InvoicePage, Error> {
        let prefix = keys::by_wallet_prefix(wallet);
        let start = after.map(|id| keys::by_wallet(wallet, id));
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Invoices,
            prefix: &prefix,
            start_exclusive: start.as_deref(),
            direction: Direction::Forward,
            limit: limit + 1,
        })?;
        let more = pairs.len() > limit;
        let mut invoices = Vec::with_capacity(limit.min(pairs.len()));
        for (key, _) in pairs.iter().take(limit) {
            if let Some(id) = keys::invoice_of(key) {
                invoices.extend(self.invoice(&id)?);
            }
        }
        let next_cursor = if more {
            invoices.last().map(|invoice| invoice.id.clone())
        } else {
            None
        };
        Ok(InvoicePage {
            invoices,
            next_cursor,
        })
    }
}

/// The UTC calendar year of `ms` since the epoch (proleptic Gregorian).
pub(crate) fn year_of(ms: i64) -> i32 {
    // Howard Hinnant's days-to-civil, year part.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    i32::try_from(year).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn years_of_instants() {
        assert_eq!(super::year_of(0), 1970);
        assert_eq!(super::year_of(1_735_689_599_999), 2024); // 2024-12-31T23:59:59.999Z
        assert_eq!(super::year_of(1_735_689_600_000), 2025);
        assert_eq!(super::year_of(2_208_988_800_000), 2040);
    }
}
