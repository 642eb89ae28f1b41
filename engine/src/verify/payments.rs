//! Verification of payments and payment sessions against the ledger: a
//! completed (or refunded) payment names the `DEPOSIT` entry that credited
//! it, of its amount on its wallet, and its invoice of that amount; one
//! still processing has its unsettled charge and nothing credited; a charge
//! record never outlives its payment's processing. A completed session
//! names its deposit of its amount, and every deposited balance (customer,
//! product, coin) is the sum of its completed sessions.

use super::Report;
use crate::ids::TxnId;
use crate::invoices::{self, Invoice};
use crate::payments::{keys as payment_keys, Payment, PaymentStatus, Unsettled};
use crate::sessions::{keys as session_keys, Deposited, PaymentSession, SessionStatus};
use crate::store::TxnLocation;
use crate::store::{codec, keys, Cf, ReadView, StoreError};
use crate::wallet::{Entry, EntryKind};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Checks every payment, charge record, session and deposited balance.
pub(super) fn verify(view: &dyn ReadView, report: &mut Report) -> Result<(), StoreError> {
    let mut deposited: BTreeMap<Vec<u8>, Decimal> = BTreeMap::new();
    let mut stored_balances: Vec<(Vec<u8>, Decimal)> = Vec::new();
    super::each_pair(view, Cf::Payments, &mut |key, value| {
        match key.first().copied() {
            Some(1) => {
                report.index_entries += 1;
                let payment: Payment = codec::decode(Cf::Payments.name(), value)?;
                verify_payment(view, &payment, report)?;
            }
            Some(payment_keys::UNSETTLED) => {
                let charge: Unsettled = codec::decode(Cf::Payments.name(), value)?;
                let payment = charge
                    .charge_key
                    .strip_prefix("tally:")
                    .and_then(crate::ids::PaymentId::parse)
                    .map(|id| view.get(Cf::Payments, &payment_keys::payment(&id)))
                    .transpose()?
                    .flatten()
                    .map(|bytes| codec::decode::<Payment>(Cf::Payments.name(), &bytes))
                    .transpose()?;
                if payment.is_none_or(|payment| payment.status != PaymentStatus::Processing) {
                    report.mismatch(
                        None,
                        format!(
                            "charge record {:?} is not of a processing payment",
                            charge.charge_key
                        ),
                    );
                }
            }
            Some(5) => {
                report.index_entries += 1;
                let session: PaymentSession = codec::decode(Cf::Payments.name(), value)?;
                if session.status == SessionStatus::Completed {
                    let coin = session.currency.to_string();
                    *deposited
                        .entry(session_keys::balance(
                            &session.customer,
                            &session.product,
                            &coin,
                        ))
                        .or_default() += session.amount;
                    let credited = session
                        .txn_id
                        .as_ref()
                        .map(|txn| deposit_of(view, txn))
                        .transpose()?
                        .flatten();
                    if credited != Some(session.amount) {
                        report.mismatch(
                            session.wallet_id.as_ref(),
                            format!(
                                "session {} is completed for {} but its deposit credited {credited:?}",
                                session.id, session.amount
                            ),
                        );
                    }
                }
            }
            Some(session_keys::BALANCES) => {
                let stored: Deposited = codec::decode(Cf::Payments.name(), value)?;
                stored_balances.push((key.to_vec(), stored.0));
            }
            _ => {}
        }
        Ok(())
    })?;
    for (key, stored) in stored_balances {
        let sum = deposited.remove(&key).unwrap_or_default();
        if sum != stored {
            report.mismatch(
                None,
                format!(
                    "deposited balance {:?} is {stored}, its completed sessions sum to {sum}",
                    session_keys::balance_parts(&key)
                ),
            );
        }
    }
    for (key, sum) in deposited {
        report.mismatch(
            None,
            format!(
                "completed sessions of {:?} sum to {sum} but no deposited balance is stored",
                session_keys::balance_parts(&key)
            ),
        );
    }
    Ok(())
}

/// The amount a `DEPOSIT` transaction credited, if it is one.
fn deposit_of(view: &dyn ReadView, txn: &TxnId) -> Result<Option<Decimal>, StoreError> {
    let Some(bytes) = view.get(Cf::Transactions, &keys::transaction(txn))? else {
        return Ok(None);
    };
    let at: TxnLocation = codec::decode(Cf::Transactions.name(), &bytes)?;
    let Some(bytes) = view.get(Cf::Ledger, &keys::ledger(&at.wallet_id, at.seq))? else {
        return Ok(None);
    };
    let entry: Entry = codec::decode(Cf::Ledger.name(), &bytes)?;
    Ok((entry.kind == EntryKind::Deposit && entry.txn_id == *txn)
        .then_some(entry.amount)
        .flatten())
}

fn verify_payment(
    view: &dyn ReadView,
    payment: &Payment,
    report: &mut Report,
) -> Result<(), StoreError> {
    let mut bad = |detail: String| {
        report.mismatch(
            payment.wallet_id.as_ref(),
            format!("payment {}: {detail}", payment.id),
        );
    };
    let unsettled = view
        .get(Cf::Payments, &payment_keys::unsettled(&payment.id))?
        .is_some();
    // A processing payment must be findable again: by its charge record,
    // or (one recorded before charge records existed) by the provider's id
    // its webhook names.
    let processing = payment.status == PaymentStatus::Processing;
    let findable = unsettled || !payment.provider_ref.is_empty();
    if (processing && !findable) || (!processing && unsettled) {
        bad(format!(
            "is {} but its charge record says unsettled = {unsettled}",
            payment.status.as_str()
        ));
    }
    if !payment.provider_ref.is_empty() {
        let named = view.get(
            Cf::Payments,
            &payment_keys::provider_ref(&payment.provider, &payment.provider_ref),
        )?;
        let named = named
            .map(|bytes| codec::decode::<crate::ids::PaymentId>(Cf::Payments.name(), &bytes))
            .transpose()?;
        if named.as_ref() != Some(&payment.id) {
            bad(format!(
                "the provider's id {} does not lead back to it",
                payment.provider_ref
            ));
        }
    }
    match payment.status {
        PaymentStatus::Processing | PaymentStatus::Failed => {
            if payment.txn_id.is_some() || payment.invoice_id.is_some() {
                bad(format!(
                    "is {} yet names a credit or an invoice",
                    payment.status.as_str()
                ));
            }
        }
        PaymentStatus::Completed | PaymentStatus::Refunded => {
            let credited = payment
                .txn_id
                .as_ref()
                .map(|txn| deposit_of(view, txn))
                .transpose()?
                .flatten();
            if credited != Some(payment.amount) {
                bad(format!(
                    "is {} for {} but its deposit credited {credited:?}",
                    payment.status.as_str(),
                    payment.amount
                ));
            }
            let invoice = payment
                .invoice_id
                .as_ref()
                .map(|id| view.get(Cf::Invoices, &invoices::keys::invoice(id)))
                .transpose()?
                .flatten()
                .map(|bytes| codec::decode::<Invoice>(Cf::Invoices.name(), &bytes))
                .transpose()?;
            match invoice {
                Some(invoice)
                    if invoice.amount == payment.amount
                        && Some(&invoice.txn_id) == payment.txn_id.as_ref() => {}
                Some(invoice) => bad(format!(
                    "its invoice {} is for {} of {}, not {} of {:?}",
                    invoice.number, invoice.amount, invoice.txn_id, payment.amount, payment.txn_id
                )),
                None => bad("has no invoice".into()),
            }
        }
    }
    Ok(())
}
