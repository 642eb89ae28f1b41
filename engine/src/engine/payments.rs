//! `Engine`'s payments (see `crate::payments`): a completed payment is one
//! write, the general wallet's `DEPOSIT` entry with the payment's record,
//! its paid invoice (the year's counter moving with it, under the invoice
//! lock, so numbers stay gapless) and the client's key riding along.

use super::{internal_check, Engine};
use crate::accounts::Account;
use crate::actor::{Job, RideAlong};
use crate::error::Error;
use crate::ids::{InvoiceId, PaymentId, PaymentMethodId};
use crate::invoices::{self, BillingDetails, Invoice, InvoiceItem};
use crate::lots::CreditKind;
use crate::payments::{keys, Payment, PaymentStatus};
use crate::store::{codec, Cf, WriteOp};
use crate::wallet::Command;
use rust_decimal::Decimal;

/// What a client asked to pay.
#[derive(Debug, Clone)]
pub struct PaymentSpec {
    pub user: String,
    pub method_id: PaymentMethodId,
    pub amount: Decimal,
    pub reason: Option<String>,
    pub distribution: Vec<(String, String)>,
    /// The provider's name and its id of the charge.
    pub provider: String,
    pub provider_ref: String,
}

impl Engine {
    /// A payment by id.
    pub fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, Error> {
        match self.shared.store.get(Cf::Payments, &keys::payment(id))? {
            Some(bytes) => Ok(Some(codec::decode(Cf::Payments.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// The payment a user's Idempotency-Key made, if any.
    pub fn payment_for_key(&self, user: &str, key: &str) -> Result<Option<Payment>, Error> {
        match self
            .shared
            .store
            .get(Cf::Payments, &keys::client_key(user, key))?
        {
            Some(bytes) => {
                let id: PaymentId = codec::decode(Cf::Payments.name(), &bytes)?;
                self.payment(&id)
            }
            None => Ok(None),
        }
    }

    /// Records a payment the provider charged: completed (the general
    /// wallet credited and the invoice issued, in one write) or still
    /// processing (recorded, nothing credited). With a key already used,
    /// the payment it made.
    pub async fn record_payment(
        &self,
        spec: PaymentSpec,
        status: PaymentStatus,
        key: Option<String>,
        fingerprint: Option<[u8; 32]>,
    ) -> Result<(Payment, bool), Error> {
        // The invoice lock: numbers stay gapless, and one key makes one
        // payment however many requests race.
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        if let Some(key) = &key {
            if let Some(found) = self.payment_for_key(&spec.user, key)? {
                if found.fingerprint != fingerprint {
                    return Err(Error::IdempotencyKeyReused);
                }
                return Ok((found, true));
            }
        }
        let general = self.account(&spec.user, Account::General).await?;
        let now_ms = self.shared.clock.now_ms();
        let payment = Payment {
            id: PaymentId::generate(now_ms),
            user: spec.user.clone(),
            method_id: spec.method_id.clone(),
            amount: spec.amount,
            currency: general.currency,
            status,
            provider: spec.provider.clone(),
            provider_ref: spec.provider_ref.clone(),
            reason: spec.reason.clone(),
            distribution: spec.distribution.clone(),
            wallet_id: Some(general.id.clone()),
            txn_id: None,
            invoice_id: None,
            invoice_number: None,
            idempotency_key: key.clone(),
            fingerprint,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            refund_owed: None,
        };
        let client_key = key.as_ref().map(|key| WriteOp::Put {
            cf: Cf::Payments,
            key: keys::client_key(&spec.user, key),
            value: codec::encode(&payment.id),
        });
        if status != PaymentStatus::Completed {
            let mut ops = vec![
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::payment(&payment.id),
                    value: codec::encode(&payment),
                },
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::provider_ref(&payment.provider, &payment.provider_ref),
                    value: codec::encode(&payment.id),
                },
            ];
            ops.extend(client_key);
            self.commit(ops).await?;
            return Ok((payment, false));
        }
        let ref_key = WriteOp::Put {
            cf: Cf::Payments,
            key: keys::provider_ref(&payment.provider, &payment.provider_ref),
            value: codec::encode(&payment.id),
        };
        let mut extra: Vec<WriteOp> = client_key.into_iter().collect();
        extra.push(ref_key);
        let payment = self.complete(payment, &general, extra).await?;
        Ok((payment, false))
    }

    /// Applies a provider's event about the charge `reference`: a
    /// processing payment completes (credited and invoiced, in one write) or
    /// fails (recorded). Each event applies once (`keys::event`, written in
    /// the same write); an event about a payment no longer processing, or
    /// about no payment, changes nothing. Events may come twice or out of
    /// order: the outcome is the first that settles it.
    pub async fn settle_payment(
        &self,
        provider: &str,
        event_id: &str,
        reference: &str,
        succeeded: bool,
    ) -> Result<Option<Payment>, Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let store = self.shared.store.as_ref();
        let seen = keys::event(provider, event_id);
        if store.get(Cf::Payments, &seen)?.is_some() {
            return Ok(None);
        }
        let mark = WriteOp::Put {
            cf: Cf::Payments,
            key: seen,
            value: Vec::new(),
        };
        let Some(bytes) = store.get(Cf::Payments, &keys::provider_ref(provider, reference))? else {
            self.commit(vec![mark]).await?;
            return Ok(None);
        };
        let id: PaymentId = codec::decode(Cf::Payments.name(), &bytes)?;
        let payment = self.payment(&id)?.ok_or(Error::PaymentNotFound)?;
        if payment.status != PaymentStatus::Processing {
            self.commit(vec![mark]).await?;
            return Ok(Some(payment));
        }
        if succeeded {
            let general = self.account(&payment.user, Account::General).await?;
            return self.complete(payment, &general, vec![mark]).await.map(Some);
        }
        let mut failed = payment;
        failed.status = PaymentStatus::Failed;
        failed.updated_at_ms = self.shared.clock.now_ms();
        self.commit(vec![
            WriteOp::Put {
                cf: Cf::Payments,
                key: keys::payment(&failed.id),
                value: codec::encode(&failed),
            },
            mark,
        ])
        .await?;
        Ok(Some(failed))
    }

    /// Applies a provider's refund of the charge `reference`, once per
    /// event: the payment's credits are removed from the general wallet
    /// with a `VOID` (as many as its paid credits still cover: credits
    /// already spent cannot be taken back, and a wallet never goes below
    /// zero), the payment becomes `refunded`, and what could not be removed
    /// is recorded on it as owed (`refund_owed`, in money), all in one write.
    pub async fn refund_payment(
        &self,
        provider: &str,
        event_id: &str,
        reference: &str,
    ) -> Result<Option<Payment>, Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let store = self.shared.store.as_ref();
        let seen = keys::event(provider, event_id);
        if store.get(Cf::Payments, &seen)?.is_some() {
            return Ok(None);
        }
        let mark = WriteOp::Put {
            cf: Cf::Payments,
            key: seen,
            value: Vec::new(),
        };
        let found = match store.get(Cf::Payments, &keys::provider_ref(provider, reference))? {
            Some(bytes) => {
                let id: PaymentId = codec::decode(Cf::Payments.name(), &bytes)?;
                self.payment(&id)?
            }
            None => None,
        };
        let Some(mut payment) = found.filter(|payment| payment.status == PaymentStatus::Completed)
        else {
            self.commit(vec![mark]).await?;
            return Ok(None);
        };
        let general = self.account(&payment.user, Account::General).await?;
        let rate = general.rate_amount.to_decimal();
        let credits = crate::money::credits_for_amount(payment.amount, rate).unwrap_or_default();
        let removable = credits.min(general.balance.paid);
        let removed_value =
            crate::money::amount_for_credits(removable, rate, general.currency).unwrap_or_default();
        payment.status = PaymentStatus::Refunded;
        payment.refund_owed = Some((payment.amount - removed_value).max(Decimal::ZERO));
        payment.updated_at_ms = self.shared.clock.now_ms();
        let record = WriteOp::Put {
            cf: Cf::Payments,
            key: keys::payment(&payment.id),
            value: codec::encode(&payment),
        };
        if removable.is_zero() {
            self.commit(vec![record, mark]).await?;
            return Ok(Some(payment));
        }
        let ops = vec![record, mark];
        let command = Command::Void {
            credits: removable,
            metadata: vec![
                ("payment_id".to_owned(), payment.id.to_string()),
                ("reason".to_owned(), "refund".to_owned()),
            ],
            lot: None,
        };
        let check = internal_check(&general.id, format!("refund:{}", payment.id), &command);
        self.run(
            &general.id,
            Job {
                command,
                key: Some(check),
                also: Some(RideAlong(Box::new(move |_| ops.clone()))),
            },
        )
        .await?;
        Ok(Some(payment))
    }

    /// Completes `payment` (credit, record, invoice, and `extra` writes) in
    /// one write on `general`. The caller holds the invoice lock.
    async fn complete(
        &self,
        mut payment: Payment,
        general: &crate::wallet::Wallet,
        extra: Vec<WriteOp>,
    ) -> Result<Payment, Error> {
        payment.status = PaymentStatus::Completed;
        let now_ms = self.shared.clock.now_ms();
        payment.updated_at_ms = now_ms;
        let year = super::invoices::year_of(now_ms);
        let last: u64 = match self
            .shared
            .store
            .get(Cf::Invoices, &invoices::keys::counter(year))?
        {
            Some(bytes) => codec::decode(Cf::Invoices.name(), &bytes)?,
            None => 0,
        };
        let sequence = last + 1;
        let invoice_id = InvoiceId::generate(now_ms);
        let number = invoices::number(year, sequence);
        payment.invoice_id = Some(invoice_id.clone());
        payment.invoice_number = Some(number.clone());
        let mut amount = payment.amount;
        amount.rescale(general.currency.minor_units());
        let description = match &payment.reason {
            Some(reason) => format!("Payment: {reason}"),
            None => "Payment".to_owned(),
        };
        let invoice = Invoice {
            id: invoice_id,
            number,
            wallet_id: general.id.clone(),
            customer: general.external_customer_id.clone(),
            txn_id: crate::ids::TxnId::generate(now_ms),
            txn_kind: crate::wallet::EntryKind::Deposit,
            amount,
            currency: general.currency,
            credits: crate::money::Credits::ZERO,
            billing: BillingDetails::default(),
            items: vec![InvoiceItem {
                description,
                amount,
            }],
            issued_at_ms: now_ms,
            due_at_ms: now_ms,
            paid_at_ms: now_ms,
        };
        let base = payment.clone();
        // Made from the deposit's entry, in its batch: the payment, its
        // invoice (numbered) and the client's key, with the credit.
        let also = RideAlong(Box::new(move |entry| {
            let mut payment = base.clone();
            payment.txn_id = Some(entry.txn_id.clone());
            let mut invoice = invoice.clone();
            invoice.txn_id = entry.txn_id.clone();
            invoice.credits = crate::lots::total(&entry.lots, CreditKind::Paid).unwrap_or_default();
            let mut ops = vec![
                WriteOp::Put {
                    cf: Cf::Invoices,
                    key: invoices::keys::counter(year),
                    value: codec::encode(&sequence),
                },
                WriteOp::Put {
                    cf: Cf::Invoices,
                    key: invoices::keys::invoice(&invoice.id),
                    value: codec::encode(&invoice),
                },
                WriteOp::Put {
                    cf: Cf::Invoices,
                    key: invoices::keys::of_transaction(&entry.txn_id),
                    value: codec::encode(&invoice.id),
                },
                WriteOp::Put {
                    cf: Cf::Invoices,
                    key: invoices::keys::by_wallet(&invoice.wallet_id, &invoice.id),
                    value: Vec::new(),
                },
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::payment(&payment.id),
                    value: codec::encode(&payment),
                },
            ];
            ops.extend(extra.iter().cloned());
            ops
        }));
        let mut metadata = vec![
            ("payment_id".to_owned(), payment.id.to_string()),
            ("provider".to_owned(), payment.provider.clone()),
            ("provider_ref".to_owned(), payment.provider_ref.clone()),
        ];
        if let Some(reason) = &payment.reason {
            metadata.push(("reason".to_owned(), reason.clone()));
        }
        let command = Command::Deposit {
            amount: payment.amount,
            metadata,
        };
        let check = internal_check(&general.id, format!("payment:{}", payment.id), &command);
        let receipt = self
            .run(
                &general.id,
                Job {
                    command,
                    key: Some(check),
                    also: Some(also),
                },
            )
            .await?;
        payment.txn_id = Some(receipt.entry.txn_id.clone());
        Ok(payment)
    }
}
