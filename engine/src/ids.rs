//! Identifiers: `WalletId` (`wal_…`), `TxnId` (`txn_…`), `RuleId` (`rtr_…`)
//! `HoldId` (`hld_…`), `TransferId` (`trf_…`), `InvoiceId` (`inv_…`) and `PriceVersionId` (`prv_…`), each a prefix and a ULID, so they sort by
//! creation time and have a fixed length, which keeps ledger keys (`wallet id
//! ‖ sequence`) the same width for every wallet.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a ULID in Crockford base32.
const ULID_LEN: usize = 26;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;
            /// Length in bytes of every id of this kind.
            pub const LEN: usize = $prefix.len() + ULID_LEN;

            /// A new id for something created at `now_ms`.
            pub fn generate(now_ms: i64) -> $name {
                let now_ms = u64::try_from(now_ms).unwrap_or(0);
                let ulid = ulid::Ulid::from_parts(now_ms, rand_bits());
                $name(format!("{}{}", $prefix, ulid))
            }

            /// Accepts only the exact shape this type generates: the ULID
            /// in its canonical spelling. The ULID decoder also takes lower
            /// case and ignores the first character's top bits, so without
            /// this check several texts would name one id (one wallet with
            /// two actors, one per spelling).
            pub fn parse(text: &str) -> Option<$name> {
                let ulid = text.strip_prefix($prefix)?;
                if ulid.len() != ULID_LEN {
                    return None;
                }
                let decoded = ulid::Ulid::from_string(ulid).ok()?;
                (decoded.to_string() == ulid).then(|| $name(text.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ULID's 16 bytes: the id's form inside storage keys
            /// (format 3), half the width of the text and cheaper to compare.
            pub fn to_bytes(&self) -> [u8; 16] {
                // `parse` and `generate` only ever hold a valid ULID.
                self.0
                    .get($prefix.len()..)
                    .and_then(|text| ulid::Ulid::from_string(text).ok())
                    .map(|ulid| ulid.to_bytes())
                    .unwrap_or([0; 16])
            }

            /// The id whose ULID is `bytes`.
            pub fn from_bytes(bytes: [u8; 16]) -> $name {
                $name(format!("{}{}", $prefix, ulid::Ulid::from_bytes(bytes)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(WalletId, "wal_", "A wallet's id: `wal_` and a ULID.");
prefixed_id!(
    TxnId,
    "txn_",
    "A wallet transaction's id: `txn_` and a ULID."
);
prefixed_id!(
    RuleId,
    "rtr_",
    "An automatic top-up rule's id: `rtr_` and a ULID."
);
prefixed_id!(
    HoldId,
    "hld_",
    "A hold's id: `hld_` and the ULID of the entry that placed it."
);
prefixed_id!(TransferId, "trf_", "A transfer's id: `trf_` and a ULID.");
prefixed_id!(InvoiceId, "inv_", "An invoice's id: `inv_` and a ULID.");
prefixed_id!(PaymentId, "pay_", "A payment's id: `pay_` and a ULID.");
prefixed_id!(
    SessionId,
    "cs_",
    "A payment session's id: `cs_` and a ULID."
);
prefixed_id!(
    PaymentMethodId,
    "pmt_",
    "A stored payment method's id: `pmt_` and a ULID."
);
prefixed_id!(
    PriceVersionId,
    "prv_",
    "A price version's id: `prv_` and a ULID."
);

impl PriceVersionId {
    /// The next id in ULID order (same millisecond, random part plus one),
    /// `None` only past the largest ULID. The price book uses it so a version
    /// written later always sorts after one written in the same millisecond.
    pub fn successor(&self) -> Option<PriceVersionId> {
        ulid::Ulid::from_bytes(self.to_bytes())
            .increment()
            .map(|next| PriceVersionId::from_bytes(next.to_bytes()))
    }
}

/// 80 random bits for the ULID's random part. A process-wide generator seeded
/// from the OS, so ids made in the same millisecond still differ.
fn rand_bits() -> u128 {
    use std::cell::Cell;
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        // xorshift state, seeded per thread from std's randomly keyed hasher.
        static STATE: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish() | 1);
    }
    STATE.with(|state| {
        let next = || {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x
        };
        let high = u128::from(next() & 0xFFFF);
        (high << 64) | u128::from(next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_spelling_parses() {
        let id = WalletId::generate(1_700_000_000_000);
        let text = id.as_str();
        assert_eq!(WalletId::parse(text), Some(id.clone()));
        let lower = format!("wal_{}", text["wal_".len()..].to_ascii_lowercase());
        assert_eq!(WalletId::parse(&lower), None, "{lower}");
        // '0' and '8' decode alike as the first character.
        let aliased = format!("wal_8{}", &text["wal_0".len()..]);
        assert_eq!(WalletId::parse(&aliased), None, "{aliased}");
    }

    #[test]
    fn ids_round_trip_through_their_bytes() {
        let id = WalletId::generate(1_700_000_000_000);
        let bytes = id.to_bytes();
        assert_eq!(WalletId::from_bytes(bytes), id);
        // The bytes sort like the ids: by creation time first.
        let later = WalletId::generate(1_700_000_000_001);
        assert!(later.to_bytes() > bytes);
    }

    #[test]
    fn ids_round_trip_and_reject_other_shapes() {
        let id = WalletId::generate(1_700_000_000_000);
        assert_eq!(id.as_str().len(), WalletId::LEN);
        assert_eq!(WalletId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(WalletId::parse("wal_short"), None);
        assert_eq!(TxnId::parse(id.as_str()), None);
        assert_ne!(WalletId::generate(1), WalletId::generate(1));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let earlier = TxnId::generate(1_000);
        let later = TxnId::generate(2_000);
        assert!(earlier < later);
    }
}
