//! Holds: credits a gateway reserves before a model call and captures (or
//! releases) after it. Pure rules and the `holds` column family's layout.
//!
//! A hold takes its credits out of the wallet's lots, as a debit would, and
//! keeps them per lot (`Hold::parts`), so a lot's expiry or a void never
//! touches them (both act on lots only) and the credits a capture does not
//! use go back to the very lots they came from. The wallet's `balance` is
//! what its lots hold, the **available** credits; `held` is what its pending
//! holds hold; the total is their sum. A ledger entry that moves credits in
//! or out of a hold carries a `HoldMove`: which hold, which step and the
//! per-lot parts moved, and every entry the held balance after it, so the ledger alone
//! recomputes both balances and the set of pending holds.
// #[PerformanceCriticalPath]

use crate::ids::{HoldId, PriceVersionId, WalletId};
use crate::lots::LotChange;
use crate::money::Credits;
use serde::{Deserialize, Serialize};

/// A pending hold, as its wallet keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold.
    pub id: HoldId,
    /// Credits held: the sum of `parts`.
    pub credits: Credits,
    /// The credits taken from each lot (positive deltas).
    pub parts: Vec<LotChange>,
    /// When the timer releases it, if it is still pending.
    pub expires_at_ms: i64,
    /// The price version a priced hold was priced at; its capture by usage
    /// is priced at the same one.
    pub price_version: Option<PriceVersionId>,
    /// Sequence number of the entry that placed it.
    pub placed_seq: u64,
}

/// What an entry did to a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldStep {
    /// Reserved credits from the lots.
    Place,
    /// Spent part or all of it (or more), returning the rest to the lots.
    Capture,
    /// Gave it back by request.
    Release,
    /// Gave it back at its expiry (the timer).
    Expire,
    /// A capture that arrived after the hold expired: a debit linked to it.
    LateCapture,
}

/// A hold's part in a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldMove {
    /// The hold.
    pub id: HoldId,
    /// What happened to it.
    pub step: HoldStep,
    /// Credits moved into (positive, `Place`) or out of (negative) the hold,
    /// per lot.
    pub parts: Vec<LotChange>,
    /// `Place`: credits held. `Capture`, `LateCapture`: credits spent.
    /// `Release`, `Expire`: credits given back.
    pub credits: Credits,
    /// The hold's expiry.
    pub expires_at_ms: i64,
    /// The price version it was priced at, if it was.
    pub price_version: Option<PriceVersionId>,
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldStatus {
    /// Its credits are reserved.
    Pending,
    /// Spent (in part, whole, or more).
    Captured,
    /// Given back by request.
    Released,
    /// Given back at its expiry.
    Expired,
}

impl HoldStatus {
    /// Every status, in API order.
    pub const ALL: [HoldStatus; 4] = [
        HoldStatus::Pending,
        HoldStatus::Captured,
        HoldStatus::Released,
        HoldStatus::Expired,
    ];

    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Pending => "pending",
            HoldStatus::Captured => "captured",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<HoldStatus> {
        HoldStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }

    /// The status a resolving step leaves.
    pub fn after(step: HoldStep) -> HoldStatus {
        match step {
            HoldStep::Place => HoldStatus::Pending,
            HoldStep::Capture => HoldStatus::Captured,
            HoldStep::Release => HoldStatus::Released,
            HoldStep::Expire | HoldStep::LateCapture => HoldStatus::Expired,
        }
    }
}

/// The `holds` column family's record of one hold: where its entries are.
/// The ledger holds the truth (amounts, lots, metadata); this finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    /// The wallet that holds it.
    pub wallet_id: WalletId,
    /// Sequence number of the entry that placed it.
    pub placed_seq: u64,
    /// Where it stands.
    pub status: HoldStatus,
    /// The entry that resolved it (capture, release or expiry).
    pub resolved_seq: Option<u64>,
    /// The late capture that followed its expiry, if one did.
    pub late_capture_seq: Option<u64>,
}

impl crate::store::codec::Stored for HoldRecord {}

/// A part's place in the spend order (the lots' own: granted first, then
/// earliest expiry, then oldest), so a capture spends the held credits a
/// debit would have spent and gives back the ones it would have kept.
fn order(part: &LotChange) -> (crate::lots::CreditKind, i64, u64) {
    (part.kind, part.expires_at_ms.unwrap_or(i64::MAX), part.lot)
}

/// Splits a hold's parts for a capture of `credits` (at most the hold):
/// what goes back to each lot (positive deltas). What is not given back is
/// spent.
pub fn returned(parts: &[LotChange], credits: Credits) -> Vec<LotChange> {
    let mut sorted: Vec<&LotChange> = parts.iter().collect();
    sorted.sort_by_key(|part| order(part));
    let mut to_spend = credits;
    let mut back = Vec::new();
    for part in sorted {
        let spent = to_spend.min(part.delta);
        to_spend = to_spend.checked_sub(spent).unwrap_or(Credits::ZERO);
        if let Some(left) = part.delta.checked_sub(spent).filter(|left| !left.is_zero()) {
            back.push(LotChange {
                delta: left,
                ..part.clone()
            });
        }
    }
    back
}

/// Negated parts: what leaves the hold.
pub fn emptied(parts: &[LotChange]) -> Vec<LotChange> {
    parts
        .iter()
        .map(|part| LotChange {
            delta: part.delta.negated(),
            ..part.clone()
        })
        .collect()
}

/// Keys of the `holds` column family:
///
/// - `0x01 ‖ hold id16` → `HoldRecord`: finds a hold's wallet and entries.
/// - `0x02 ‖ wallet id16 ‖ hold id16` → empty: a wallet's holds, oldest first.
/// - `0x03 ‖ hold id16` → the held credits (`Credits`): the pending holds
///   only, so a start counts them (for the metrics) without reading history.
pub mod keys {
    use crate::ids::{HoldId, WalletId};

    /// Tag of hold records.
    pub const RECORD: u8 = 1;
    /// Tag of the per-wallet index.
    pub const BY_WALLET: u8 = 2;
    /// Tag of the pending index.
    pub const PENDING: u8 = 3;

    /// Key of a hold's record.
    pub fn record(hold: &HoldId) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(RECORD);
        key.extend_from_slice(&hold.to_bytes());
        key
    }

    /// Key of a hold in its wallet's index.
    pub fn by_wallet(wallet: &WalletId, hold: &HoldId) -> Vec<u8> {
        let mut key = by_wallet_prefix(wallet);
        key.extend_from_slice(&hold.to_bytes());
        key
    }

    /// The prefix of a wallet's index.
    pub fn by_wallet_prefix(wallet: &WalletId) -> Vec<u8> {
        let mut key = Vec::with_capacity(33);
        key.push(BY_WALLET);
        key.extend_from_slice(&wallet.to_bytes());
        key
    }

    /// The hold a wallet index key names.
    pub fn hold_of_index(key: &[u8]) -> Option<HoldId> {
        let bytes: [u8; 16] = key.get(17..33)?.try_into().ok()?;
        Some(HoldId::from_bytes(bytes))
    }

    /// Key of a pending hold.
    pub fn pending(hold: &HoldId) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(PENDING);
        key.extend_from_slice(&hold.to_bytes());
        key
    }

    /// The hold a pending key names.
    pub fn hold_of_pending(key: &[u8]) -> Option<HoldId> {
        let bytes: [u8; 16] = key.get(1..17)?.try_into().ok()?;
        Some(HoldId::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lots::CreditKind;

    fn part(lot: u64, kind: CreditKind, credits: &str, expires: Option<i64>) -> LotChange {
        LotChange {
            lot,
            kind,
            delta: Credits::parse(credits).expect("valid"),
            expires_at_ms: expires,
        }
    }

    #[test]
    fn a_capture_spends_in_spend_order_and_returns_the_rest_per_lot() {
        use CreditKind::{Granted, Paid};
        let parts = vec![
            part(1, Paid, "5", None),
            part(2, Granted, "1", None),
            part(3, Paid, "2", Some(10)),
        ];
        let back = returned(&parts, Credits::parse("2.5").expect("valid"));
        // Spent: granted 1, then the paid lot that expires (1.5 of 2).
        let shown: Vec<(u64, String)> = back
            .iter()
            .map(|change| (change.lot, change.delta.to_string()))
            .collect();
        assert_eq!(shown, vec![(3, "0.5".to_owned()), (1, "5".to_owned())]);
        assert!(returned(&parts, Credits::parse("8").expect("valid")).is_empty());
        assert_eq!(returned(&parts, Credits::ZERO).len(), 3);
    }
}
