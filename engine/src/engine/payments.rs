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
use crate::payments::{keys, ChargeOutcome, Payment, PaymentStatus, Unsettled};
use crate::store::{codec, Cf, Direction, Scan, WriteOp};
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
    /// The provider's name.
    pub provider: String,
}

/// Most unsettled charges one reconciliation pass reads.
const UNSETTLED_SCAN_MAX: usize = 4096;

/// How long after its `attempts`-th ask a charge not seen settled is asked
/// about again: 10 s, doubling, at most an hour.
fn backoff_ms(attempts: u32) -> i64 {
    (10_000_i64 << attempts.min(9)).min(3_600_000)
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

    /// Starts a payment: records it `processing`, with what its charge
    /// will be (`Unsettled`, keyed by the payment id), in one write, before
    /// the provider is called. A crash after the provider charged leaves
    /// this record, and `unsettled_payments` finds it. With a key already
    /// used, the payment it made (`true`: nothing was started).
    pub async fn begin_payment(
        &self,
        spec: PaymentSpec,
        mut charge: Unsettled,
        key: Option<String>,
        fingerprint: Option<[u8; 32]>,
    ) -> Result<(Payment, Unsettled, bool), Error> {
        // The invoice lock: one key makes one payment however many
        // requests race.
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        if let Some(key) = &key {
            if let Some(found) = self.payment_for_key(&spec.user, key)? {
                if found.fingerprint != fingerprint {
                    return Err(Error::IdempotencyKeyReused);
                }
                return Ok((found, charge, true));
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
            status: PaymentStatus::Processing,
            provider: spec.provider.clone(),
            provider_ref: String::new(),
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
            failure_reason: None,
        };
        charge.charge_key = format!("tally:{}", payment.id);
        charge.next_check_ms = now_ms + backoff_ms(0);
        charge.attempts = 0;
        let mut ops = vec![
            WriteOp::Put {
                cf: Cf::Payments,
                key: keys::payment(&payment.id),
                value: codec::encode(&payment),
            },
            WriteOp::Put {
                cf: Cf::Payments,
                key: keys::unsettled(&payment.id),
                value: codec::encode(&charge),
            },
        ];
        if let Some(key) = &key {
            ops.push(WriteOp::Put {
                cf: Cf::Payments,
                key: keys::client_key(&spec.user, key),
                value: codec::encode(&payment.id),
            });
        }
        self.commit(ops).await?;
        Ok((payment, charge, false))
    }

    /// Records what the provider said about payment `id`'s charge: a
    /// success completes it (credit, record and invoice in one write), a
    /// decline fails it, and still processing records the provider's id and
    /// asks again later. A payment no longer processing (settled by a
    /// webhook, a reconciliation or a racing request) is returned as it is:
    /// a charge is credited once.
    pub async fn settle_charge(
        &self,
        id: &PaymentId,
        outcome: ChargeOutcome,
    ) -> Result<Payment, Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let mut payment = self.payment(id)?.ok_or(Error::PaymentNotFound)?;
        if payment.status != PaymentStatus::Processing {
            // Settled already; a charge record left behind goes.
            if self.unsettled(id)?.is_some() {
                self.commit(vec![WriteOp::Delete {
                    cf: Cf::Payments,
                    key: keys::unsettled(id),
                }])
                .await?;
            }
            return Ok(payment);
        }
        let now_ms = self.shared.clock.now_ms();
        match outcome {
            ChargeOutcome::Succeeded { reference } => {
                let mut extra = vec![WriteOp::Delete {
                    cf: Cf::Payments,
                    key: keys::unsettled(&payment.id),
                }];
                extra.extend(self.name_reference(&mut payment, &reference));
                let general = self.account(&payment.user, Account::General).await?;
                self.complete(payment, &general, extra).await
            }
            ChargeOutcome::Processing { reference } => {
                let mut ops = self.name_reference(&mut payment, &reference);
                if let Some(mut charge) = self.unsettled(&payment.id)? {
                    charge.attempts = charge.attempts.saturating_add(1);
                    charge.next_check_ms = now_ms + backoff_ms(charge.attempts);
                    ops.push(WriteOp::Put {
                        cf: Cf::Payments,
                        key: keys::unsettled(&payment.id),
                        value: codec::encode(&charge),
                    });
                }
                payment.updated_at_ms = now_ms;
                ops.push(WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::payment(&payment.id),
                    value: codec::encode(&payment),
                });
                self.commit(ops).await?;
                Ok(payment)
            }
            ChargeOutcome::Declined { reason } => {
                payment.status = PaymentStatus::Failed;
                payment.failure_reason = Some(reason);
                payment.updated_at_ms = now_ms;
                self.commit(vec![
                    WriteOp::Put {
                        cf: Cf::Payments,
                        key: keys::payment(&payment.id),
                        value: codec::encode(&payment),
                    },
                    WriteOp::Delete {
                        cf: Cf::Payments,
                        key: keys::unsettled(&payment.id),
                    },
                ])
                .await?;
                Ok(payment)
            }
        }
    }

    /// The provider could not be asked about payment `id` (a timeout, a
    /// 429): ask again later, each time later than the last.
    pub async fn postpone_charge(&self, id: &PaymentId) -> Result<(), Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let Some(mut charge) = self.unsettled(id)? else {
            return Ok(());
        };
        charge.attempts = charge.attempts.saturating_add(1);
        charge.next_check_ms = self.shared.clock.now_ms() + backoff_ms(charge.attempts);
        self.commit(vec![WriteOp::Put {
            cf: Cf::Payments,
            key: keys::unsettled(id),
            value: codec::encode(&charge),
        }])
        .await
        .map(|_| ())
    }

    /// The charge of payment `id` not seen settled, if any.
    pub fn unsettled(&self, id: &PaymentId) -> Result<Option<Unsettled>, Error> {
        match self.shared.store.get(Cf::Payments, &keys::unsettled(id))? {
            Some(bytes) => Ok(Some(codec::decode(Cf::Payments.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Payments whose charge is not seen settled and is due to be asked
    /// about by `due_ms` (at most `limit`): what the reconciler asks the
    /// provider about.
    pub fn unsettled_payments(
        &self,
        due_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Payment, Unsettled)>, Error> {
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Payments,
            prefix: &[keys::UNSETTLED],
            start_exclusive: None,
            direction: Direction::Forward,
            limit: UNSETTLED_SCAN_MAX,
        })?;
        let mut due = Vec::new();
        for (_, value) in pairs {
            let charge: Unsettled = codec::decode(Cf::Payments.name(), &value)?;
            if charge.next_check_ms > due_ms {
                continue;
            }
            let Some(id) = charge
                .charge_key
                .strip_prefix("tally:")
                .and_then(PaymentId::parse)
            else {
                continue;
            };
            if let Some(payment) = self.payment(&id)? {
                due.push((payment, charge));
                if due.len() >= limit {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// Names the provider's id of `payment`'s charge, when it had none: the
    /// index a webhook finds it by.
    fn name_reference(&self, payment: &mut Payment, reference: &str) -> Vec<WriteOp> {
        if !payment.provider_ref.is_empty() || reference.is_empty() {
            return Vec::new();
        }
        payment.provider_ref = reference.to_owned();
        vec![WriteOp::Put {
            cf: Cf::Payments,
            key: keys::provider_ref(&payment.provider, reference),
            value: codec::encode(&payment.id),
        }]
    }

    /// Applies a provider's event about the charge `reference` (or, when
    /// no payment names it yet, about payment `tally_id`, which the charge
    /// carries in its metadata: a crash between the charge and its record
    /// leaves the payment without the provider's id): a processing payment
    /// completes (credited and invoiced, in one write) or fails (recorded).
    /// Each event applies once (`keys::event`, written in the same write);
    /// an event about a payment no longer processing, or about no payment,
    /// changes nothing. Events may come twice or out of order: the outcome
    /// is the first that settles it.
    pub async fn settle_payment(
        &self,
        provider: &str,
        event_id: &str,
        reference: &str,
        tally_id: Option<&PaymentId>,
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
        let by_reference =
            match store.get(Cf::Payments, &keys::provider_ref(provider, reference))? {
                Some(bytes) => Some(codec::decode::<PaymentId>(Cf::Payments.name(), &bytes)?),
                None => None,
            };
        let found = match by_reference.as_ref().or(tally_id) {
            Some(id) => self.payment(id)?.filter(|payment| {
                payment.provider == provider
                    && (payment.provider_ref.is_empty() || payment.provider_ref == reference)
            }),
            None => None,
        };
        let Some(mut payment) = found else {
            self.commit(vec![mark]).await?;
            return Ok(None);
        };
        if payment.status != PaymentStatus::Processing {
            self.commit(vec![mark]).await?;
            return Ok(Some(payment));
        }
        let mut ops = vec![
            mark,
            WriteOp::Delete {
                cf: Cf::Payments,
                key: keys::unsettled(&payment.id),
            },
        ];
        ops.extend(self.name_reference(&mut payment, reference));
        if succeeded {
            let general = self.account(&payment.user, Account::General).await?;
            return self.complete(payment, &general, ops).await.map(Some);
        }
        payment.status = PaymentStatus::Failed;
        payment.failure_reason = Some("the provider reported the payment failed".to_owned());
        payment.updated_at_ms = self.shared.clock.now_ms();
        ops.push(WriteOp::Put {
            cf: Cf::Payments,
            key: keys::payment(&payment.id),
            value: codec::encode(&payment),
        });
        self.commit(ops).await?;
        Ok(Some(payment))
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
