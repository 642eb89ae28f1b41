//! A user's stored payment methods (seed 002): display details only (last
//! four digits, brand, expiry, the provider's token), an active or inactive
//! status, and one default. Pure rules and the `payment_methods` column
//! family's layout; `engine/payment_methods.rs` changes them, each change
//! one write under the user's lock.
//!
//! The default rule: while any method of a user is active, exactly one
//! active method is the default. Adding the first active method, or one
//! marked default, makes it the default (unsetting the other in the same
//! write); setting a default unsets the other; deactivating or deleting the
//! default promotes the oldest active method left (none when none is left).

use crate::ids::PaymentMethodId;
use serde::{Deserialize, Serialize};

/// Most methods one user may store.
pub const METHODS_MAX: usize = 50;

/// One stored method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub user: String,
    /// `credit_card`, `bank_account`, … (the client's word).
    pub kind: String,
    /// Display name, e.g. "Visa ending in 4242".
    pub name: String,
    pub active: bool,
    pub is_default: bool,
    /// The provider-specific display details, as a JSON object's text
    /// (validated by the API: never a card number or CVC).
    pub details: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl crate::store::codec::Stored for PaymentMethod {}

/// Applies the default rule to a user's methods (oldest first), keeping
/// `prefer` as the default when it is active. Returns the ids whose default
/// flag changed.
pub fn settle_default(
    methods: &mut [PaymentMethod],
    prefer: Option<&PaymentMethodId>,
) -> Vec<PaymentMethodId> {
    let chosen = prefer
        .filter(|id| methods.iter().any(|m| &m.id == *id && m.active))
        .cloned()
        .or_else(|| {
            methods
                .iter()
                .find(|m| m.is_default && m.active)
                .map(|m| m.id.clone())
        })
        .or_else(|| methods.iter().find(|m| m.active).map(|m| m.id.clone()));
    let mut changed = Vec::new();
    for method in methods.iter_mut() {
        let default = Some(&method.id) == chosen.as_ref();
        if method.is_default != default {
            method.is_default = default;
            changed.push(method.id.clone());
        }
    }
    changed
}

/// Keys of the `payment_methods` column family: `user ‖ 0x00 ‖ method id16`
/// → `PaymentMethod`; a user's methods are one range, oldest first.
pub mod keys {
    use crate::ids::PaymentMethodId;

    /// The prefix of a user's methods.
    pub fn user_prefix(user: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(user.len() + 17);
        key.extend_from_slice(user.as_bytes());
        key.push(0);
        key
    }

    /// Key of a user's method.
    pub fn method(user: &str, id: &PaymentMethodId) -> Vec<u8> {
        let mut key = user_prefix(user);
        key.extend_from_slice(&id.to_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(n: i64, active: bool, default: bool) -> PaymentMethod {
        PaymentMethod {
            id: PaymentMethodId::generate(n),
            user: "u".into(),
            kind: "credit_card".into(),
            name: format!("card {n}"),
            active,
            is_default: default,
            details: "{}".into(),
            created_at_ms: n,
            updated_at_ms: n,
        }
    }

    #[test]
    fn one_active_default_while_any_method_is_active() {
        let mut methods = vec![method(1, true, false), method(2, true, false)];
        settle_default(&mut methods, None);
        assert_eq!(methods.iter().filter(|m| m.is_default).count(), 1);
        assert!(methods[0].is_default, "the oldest active");
        let second = methods[1].id.clone();
        settle_default(&mut methods, Some(&second));
        assert!(!methods[0].is_default && methods[1].is_default);
        methods[1].active = false;
        settle_default(&mut methods, None);
        assert!(methods[0].is_default, "an inactive default is replaced");
        methods[0].active = false;
        settle_default(&mut methods, None);
        assert!(
            methods.iter().all(|m| !m.is_default),
            "none when none is active"
        );
    }
}
