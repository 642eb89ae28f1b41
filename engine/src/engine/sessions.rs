//! `Engine`'s payment sessions (see `crate::sessions`): created pending,
//! completed once (the customer's wallet credited, the session, the
//! deposited balance and the expiry index moved in the same write, under
//! the payments lock), failed, or expired by the timer.

use super::{internal_check, Engine};
use crate::accounts::Account;
use crate::actor::{Job, RideAlong};
use crate::error::Error;
use crate::ids::SessionId;
use crate::money::Currency;
use crate::sessions::{keys, PaymentSession, ProviderCheckout, SessionEnd, SessionStatus};
use crate::store::{codec, Cf, Direction, Scan, WriteOp};
use crate::wallet::{Command, Metadata, WalletError};
use rust_decimal::Decimal;

/// Balances a query reads at most.
const BALANCES_MAX: usize = 1_000;

/// What a client asks a session for.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Made by the caller (`SessionId::generate`): a provider's checkout
    /// is created under it before the session is stored.
    pub id: SessionId,
    pub customer: String,
    pub product: String,
    pub title: String,
    pub currency: Currency,
    pub amount: Decimal,
    pub return_url: String,
    pub metadata: Metadata,
    pub ttl_ms: i64,
    /// The provider's hosted checkout, if it has one.
    pub checkout: Option<ProviderCheckout>,
}

impl Engine {
    /// A new pending session.
    pub async fn create_session(&self, spec: SessionSpec) -> Result<PaymentSession, Error> {
        if spec.currency != self.config.user_wallet_currency {
            return Err(Error::Rejected(WalletError::InvalidTerms {
                field: "amounts".into(),
                reason: format!(
                    "must be in {}, the currency of customers' wallets",
                    self.config.user_wallet_currency
                ),
            }));
        }
        let now_ms = self.shared.clock.now_ms();
        let session = PaymentSession {
            id: spec.id,
            customer: spec.customer,
            product: spec.product,
            title: spec.title,
            currency: spec.currency,
            amount: spec.amount,
            return_url: spec.return_url,
            metadata: spec.metadata,
            status: SessionStatus::Pending,
            expires_at_ms: now_ms.saturating_add(spec.ttl_ms),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            wallet_id: None,
            txn_id: None,
            checkout: spec.checkout,
        };
        self.commit(vec![
            WriteOp::Put {
                cf: Cf::Payments,
                key: keys::session(&session.id),
                value: codec::encode(&session),
            },
            WriteOp::Put {
                cf: Cf::Payments,
                key: keys::expiry(session.expires_at_ms, &session.id),
                value: Vec::new(),
            },
        ])
        .await?;
        Ok(session)
    }

    /// A session by id.
    pub fn session(&self, id: &SessionId) -> Result<Option<PaymentSession>, Error> {
        match self.shared.store.get(Cf::Payments, &keys::session(id))? {
            Some(bytes) => Ok(Some(codec::decode(Cf::Payments.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Ends a pending session: paid (the customer's wallet credited once,
    /// tagged with product and session) or not. A session no longer
    /// pending is returned as it is.
    pub async fn finish_session(
        &self,
        id: &SessionId,
        paid: bool,
    ) -> Result<PaymentSession, Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let mut session = self.session(id)?.ok_or(Error::PaymentNotFound)?;
        if session.status != SessionStatus::Pending {
            return Ok(session);
        }
        let now_ms = self.shared.clock.now_ms();
        let unindex = WriteOp::Delete {
            cf: Cf::Payments,
            key: keys::expiry(session.expires_at_ms, &session.id),
        };
        session.updated_at_ms = now_ms;
        if !paid || now_ms >= session.expires_at_ms {
            session.status = if paid {
                SessionStatus::Expired
            } else {
                SessionStatus::Failed
            };
            self.commit(vec![
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::session(&session.id),
                    value: codec::encode(&session),
                },
                unindex,
            ])
            .await?;
            return Ok(session);
        }
        self.credit_session(session, vec![unindex]).await
    }

    /// Applies a provider's event about session `id` (its checkout
    /// `reference`), once per event id (the mark rides in the same write):
    /// paid credits it (a pending session, or one Tally's clock expired
    /// while the customer was paying), failed and expired end a pending
    /// one. Anything else, or a session that is not this checkout's,
    /// changes nothing. Duplicated or reordered events: the first that
    /// ends it wins.
    pub async fn settle_session(
        &self,
        provider: &str,
        event_id: &str,
        id: &SessionId,
        reference: &str,
        end: SessionEnd,
    ) -> Result<Option<PaymentSession>, Error> {
        let _guard = self.creation_lock(b"invoices\0counter").lock().await;
        let seen = crate::payments::keys::event(provider, event_id);
        if self.shared.store.get(Cf::Payments, &seen)?.is_some() {
            return Ok(None);
        }
        let mark = WriteOp::Put {
            cf: Cf::Payments,
            key: seen,
            value: Vec::new(),
        };
        let found = self.session(id)?.filter(|session| {
            session.checkout.as_ref().is_some_and(|checkout| {
                checkout.provider == provider && checkout.reference == reference
            })
        });
        let Some(mut session) = found else {
            self.commit(vec![mark]).await?;
            return Ok(None);
        };
        let unindex = WriteOp::Delete {
            cf: Cf::Payments,
            key: keys::expiry(session.expires_at_ms, &session.id),
        };
        let status = session.status;
        session.updated_at_ms = self.shared.clock.now_ms();
        match end {
            SessionEnd::Paid
                if matches!(status, SessionStatus::Pending | SessionStatus::Expired) =>
            {
                self.credit_session(session, vec![unindex, mark])
                    .await
                    .map(Some)
            }
            SessionEnd::Failed | SessionEnd::Expired if status == SessionStatus::Pending => {
                session.status = if end == SessionEnd::Failed {
                    SessionStatus::Failed
                } else {
                    SessionStatus::Expired
                };
                self.commit(vec![
                    WriteOp::Put {
                        cf: Cf::Payments,
                        key: keys::session(&session.id),
                        value: codec::encode(&session),
                    },
                    unindex,
                    mark,
                ])
                .await?;
                Ok(Some(session))
            }
            _ => {
                self.commit(vec![mark]).await?;
                Ok(self.session(id)?)
            }
        }
    }

    /// Completes `session`: the customer's wallet credited once, tagged
    /// with product and session, with the session, its deposited balance
    /// and `extra` in the same write. The caller holds the payments lock.
    async fn credit_session(
        &self,
        mut session: PaymentSession,
        extra: Vec<WriteOp>,
    ) -> Result<PaymentSession, Error> {
        let wallet = self.account(&session.customer, Account::General).await?;
        let coin = session.currency.to_string();
        let balance_key = keys::balance(&session.customer, &session.product, &coin);
        let deposited = match self.shared.store.get(Cf::Payments, &balance_key)? {
            Some(bytes) => {
                codec::decode::<crate::sessions::Deposited>(Cf::Payments.name(), &bytes)?.0
            }
            None => Decimal::ZERO,
        };
        let total = crate::sessions::Deposited(deposited + session.amount);
        session.status = SessionStatus::Completed;
        session.wallet_id = Some(wallet.id.clone());
        let base = session.clone();
        let also = RideAlong(Box::new(move |entry| {
            let mut done = base.clone();
            done.txn_id = Some(entry.txn_id.clone());
            vec![
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: keys::session(&done.id),
                    value: codec::encode(&done),
                },
                WriteOp::Put {
                    cf: Cf::Payments,
                    key: balance_key.clone(),
                    value: codec::encode(&total),
                },
            ]
            .into_iter()
            .chain(extra.iter().cloned())
            .collect()
        }));
        let mut metadata = vec![
            ("session_id".to_owned(), session.id.to_string()),
            ("product".to_owned(), session.product.clone()),
        ];
        metadata.extend(session.metadata.iter().cloned());
        let command = Command::Deposit {
            amount: session.amount,
            metadata,
        };
        let check = internal_check(&wallet.id, format!("session:{}", session.id), &command);
        let receipt = self
            .run(
                &wallet.id,
                Job {
                    command,
                    key: Some(check),
                    also: Some(also),
                },
            )
            .await?;
        session.txn_id = Some(receipt.entry.txn_id.clone());
        Ok(session)
    }

    /// Expires the pending sessions whose time has come (the timer).
    pub(crate) async fn expire_sessions(&self) -> Result<usize, Error> {
        let now_ms = self.shared.clock.now_ms();
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Payments,
            prefix: &[keys::EXPIRY],
            start_exclusive: None,
            direction: Direction::Forward,
            limit: 256,
        })?;
        let mut expired = 0;
        for (key, _) in pairs {
            let Some((at, id)) = keys::expiry_parts(&key) else {
                continue;
            };
            if at > now_ms {
                break;
            }
            self.finish_session(&id, true).await?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Deposited balances per customer, product and coin; an empty filter
    /// means all. At most [`BALANCES_MAX`].
    pub fn session_balances(
        &self,
        customer: &str,
        product: &str,
        coin: &str,
    ) -> Result<Vec<(String, String, String, Decimal)>, Error> {
        let prefix = if customer.is_empty() {
            vec![keys::BALANCES]
        } else {
            let mut prefix = vec![keys::BALANCES];
            prefix.extend_from_slice(customer.as_bytes());
            prefix.push(0);
            prefix
        };
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Payments,
            prefix: &prefix,
            start_exclusive: None,
            direction: Direction::Forward,
            limit: BALANCES_MAX,
        })?;
        let mut balances = Vec::new();
        for (key, value) in pairs {
            let Some((who, what, which)) = keys::balance_parts(&key) else {
                continue;
            };
            if (product.is_empty() || what == product) && (coin.is_empty() || which == coin) {
                let amount: crate::sessions::Deposited =
                    codec::decode(Cf::Payments.name(), &value)?;
                balances.push((who, what, which, amount.0));
            }
        }
        Ok(balances)
    }
}
