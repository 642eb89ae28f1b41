//! `Engine`'s payment methods (see `crate::payment_methods`): every change
//! reads the user's methods, applies the default rule, and writes what
//! changed in one batch, under the user's lock, so two requests never
//! leave two defaults.

use super::Engine;
use crate::error::Error;
use crate::ids::PaymentMethodId;
use crate::payment_methods::{keys, settle_default, PaymentMethod, METHODS_MAX};
use crate::store::{codec, Cf, Direction, Scan, WriteOp};
use crate::wallet::WalletError;

/// A change to one stored method.
#[derive(Debug, Clone, Default)]
pub struct MethodPatch {
    pub details: Option<String>,
    pub active: Option<bool>,
    pub is_default: Option<bool>,
}

impl Engine {
    /// A user's methods, oldest first.
    pub fn payment_methods(&self, user: &str) -> Result<Vec<PaymentMethod>, Error> {
        let prefix = keys::user_prefix(user);
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::PaymentMethods,
            prefix: &prefix,
            start_exclusive: None,
            direction: Direction::Forward,
            limit: METHODS_MAX + 1,
        })?;
        pairs
            .iter()
            .map(|(_, value)| Ok(codec::decode(Cf::PaymentMethods.name(), value)?))
            .collect()
    }

    /// One of a user's methods.
    pub fn payment_method(
        &self,
        user: &str,
        id: &PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, Error> {
        match self
            .shared
            .store
            .get(Cf::PaymentMethods, &keys::method(user, id))?
        {
            Some(bytes) => Ok(Some(codec::decode(Cf::PaymentMethods.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores a new method (display details only), the default if asked or
    /// if it is the user's first active one.
    pub async fn add_payment_method(
        &self,
        user: &str,
        kind: String,
        name: String,
        details: String,
        is_default: bool,
    ) -> Result<PaymentMethod, Error> {
        let _guard = self.creation_lock(&lock_key(user)).lock().await;
        let mut methods = self.payment_methods(user)?;
        if methods.len() >= METHODS_MAX {
            return Err(Error::Rejected(WalletError::InvalidTerms {
                field: "payment_method".into(),
                reason: format!("a user stores at most {METHODS_MAX} methods"),
            }));
        }
        let now_ms = self.shared.clock.now_ms();
        let method = PaymentMethod {
            id: PaymentMethodId::generate(now_ms),
            user: user.to_owned(),
            kind,
            name,
            active: true,
            is_default: false,
            details,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        let id = method.id.clone();
        methods.push(method);
        let prefer = is_default.then_some(&id);
        let mut changed = settle_default(&mut methods, prefer);
        changed.push(id.clone());
        self.write_methods(&methods, &changed, now_ms).await?;
        methods
            .into_iter()
            .find(|method| method.id == id)
            .ok_or(Error::PaymentMethodNotFound)
    }

    /// Changes a method's details, status or default flag.
    pub async fn update_payment_method(
        &self,
        user: &str,
        id: &PaymentMethodId,
        patch: MethodPatch,
    ) -> Result<PaymentMethod, Error> {
        let _guard = self.creation_lock(&lock_key(user)).lock().await;
        let mut methods = self.payment_methods(user)?;
        let now_ms = self.shared.clock.now_ms();
        let method = methods
            .iter_mut()
            .find(|method| &method.id == id)
            .ok_or(Error::PaymentMethodNotFound)?;
        if let Some(details) = patch.details {
            method.details = details;
        }
        if let Some(active) = patch.active {
            method.active = active;
        }
        if patch.is_default == Some(true) && !method.active {
            return Err(Error::Rejected(WalletError::InvalidTerms {
                field: "is_default".into(),
                reason: "an inactive method cannot be the default".into(),
            }));
        }
        let unset = patch.is_default == Some(false) && method.is_default;
        if unset {
            // Unsetting the default hands it to the oldest other active one.
            method.is_default = false;
        }
        let prefer = (patch.is_default == Some(true)).then(|| id.clone());
        let mut changed = if unset {
            let others: Vec<PaymentMethodId> = methods
                .iter()
                .filter(|m| &m.id != id && m.active)
                .map(|m| m.id.clone())
                .collect();
            settle_default(&mut methods, others.first())
        } else {
            settle_default(&mut methods, prefer.as_ref())
        };
        changed.push(id.clone());
        self.write_methods(&methods, &changed, now_ms).await?;
        methods
            .into_iter()
            .find(|method| &method.id == id)
            .ok_or(Error::PaymentMethodNotFound)
    }

    /// Deletes a method; a deleted default hands its role to the oldest
    /// active method left.
    pub async fn delete_payment_method(
        &self,
        user: &str,
        id: &PaymentMethodId,
    ) -> Result<(), Error> {
        let _guard = self.creation_lock(&lock_key(user)).lock().await;
        let mut methods = self.payment_methods(user)?;
        let before = methods.len();
        methods.retain(|method| &method.id != id);
        if methods.len() == before {
            return Err(Error::PaymentMethodNotFound);
        }
        let now_ms = self.shared.clock.now_ms();
        let changed = settle_default(&mut methods, None);
        let mut ops = self.method_ops(&methods, &changed, now_ms);
        ops.push(WriteOp::Delete {
            cf: Cf::PaymentMethods,
            key: keys::method(user, id),
        });
        self.commit(ops).await
    }

    async fn write_methods(
        &self,
        methods: &[PaymentMethod],
        changed: &[PaymentMethodId],
        now_ms: i64,
    ) -> Result<(), Error> {
        let ops = self.method_ops(methods, changed, now_ms);
        self.commit(ops).await
    }

    fn method_ops(
        &self,
        methods: &[PaymentMethod],
        changed: &[PaymentMethodId],
        now_ms: i64,
    ) -> Vec<WriteOp> {
        methods
            .iter()
            .filter(|method| changed.contains(&method.id))
            .map(|method| {
                let mut method = method.clone();
                method.updated_at_ms = now_ms;
                WriteOp::Put {
                    cf: Cf::PaymentMethods,
                    key: keys::method(&method.user, &method.id),
                    value: codec::encode(&method),
                }
            })
            .collect()
    }
}

fn lock_key(user: &str) -> Vec<u8> {
    let mut key = b"payment_methods\0".to_vec();
    key.extend_from_slice(user.as_bytes());
    key
}
