//! Credit lots: every top-up, deposit or opening balance becomes a lot of
//! paid or granted credits with an optional expiry of its own, and every
//! debit draws from lots in one fixed order: granted before paid, then the
//! earliest expiry first (no expiry counts as last), then the oldest first.
//!
//! Pure functions over a wallet's open lots. A ledger entry records each lot
//! it touched as a `LotChange`, so the lots (like the balances) can be
//! recomputed from the ledger alone.
// #[PerformanceCriticalPath]

use crate::money::Credits;
use serde::{Deserialize, Serialize};

/// Which balance a lot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CreditKind {
    /// Promotional credits, spent first.
    Granted,
    /// Credits bought with money.
    Paid,
}

impl CreditKind {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CreditKind::Granted => "granted",
            CreditKind::Paid => "paid",
        }
    }
}

/// An open lot: credits of one kind, from one top-up, not yet spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    /// Per-wallet number, from 1, in creation order.
    pub id: u64,
    /// Paid or granted.
    pub kind: CreditKind,
    /// Credits left; a lot at zero is closed and dropped.
    pub remaining: Credits,
    /// When what is left expires (ms since the epoch), if ever.
    pub expires_at_ms: Option<i64>,
    /// Whether the `wallet.lot_expiring` notice went out.
    pub notified: bool,
}

/// One lot's part in a ledger entry: a new lot (positive delta, with its
/// expiry) or a draw from an existing one (negative delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotChange {
    /// The lot.
    pub lot: u64,
    /// Its kind.
    pub kind: CreditKind,
    /// Signed change of the lot's credits.
    pub delta: Credits,
    /// The lot's expiry (as created).
    pub expires_at_ms: Option<i64>,
}

/// The order lots are spent in: granted first, earliest expiry, oldest.
fn spend_order(lot: &Lot) -> (CreditKind, i64, u64) {
    (lot.kind, lot.expires_at_ms.unwrap_or(i64::MAX), lot.id)
}

/// Draws `credits` from `lots` in spend order. `None` when the lots hold
/// less than that in total.
pub fn draw(lots: &[Lot], credits: Credits) -> Option<Vec<LotChange>> {
    // The common case, one open lot, needs no sort (and no allocation).
    if let [only] = lots {
        return draw_in([only].into_iter(), credits);
    }
    let mut order: Vec<&Lot> = lots.iter().collect();
    order.sort_by_key(|lot| spend_order(lot));
    draw_in(order.into_iter(), credits)
}

/// Draws `credits` from the lots of one `kind` only, in spend order (a
/// transfer moves paid credits: promotional ones are not the payer's to
/// give). `None` when those lots hold less.
pub fn draw_kind(lots: &[Lot], kind: CreditKind, credits: Credits) -> Option<Vec<LotChange>> {
    let mut order: Vec<&Lot> = lots.iter().filter(|lot| lot.kind == kind).collect();
    order.sort_by_key(|lot| spend_order(lot));
    draw_in(order.into_iter(), credits)
}

/// Draws `credits` from lots in the order given.
fn draw_in<'a>(order: impl Iterator<Item = &'a Lot>, credits: Credits) -> Option<Vec<LotChange>> {
    let mut left = credits;
    let mut changes = Vec::with_capacity(1);
    for lot in order {
        if left.is_zero() {
            break;
        }
        let take = left.min(lot.remaining);
        if take.is_zero() {
            continue;
        }
        changes.push(LotChange {
            lot: lot.id,
            kind: lot.kind,
            delta: take.negated(),
            expires_at_ms: lot.expires_at_ms,
        });
        left = left.checked_sub(take)?;
    }
    left.is_zero().then_some(changes)
}

/// Draws `credits` from the one lot `lot_id`. `None` if it is not open or
/// holds less.
pub fn draw_from(lots: &[Lot], lot_id: u64, credits: Credits) -> Option<Vec<LotChange>> {
    let lot = lots.iter().find(|lot| lot.id == lot_id)?;
    (credits <= lot.remaining).then(|| {
        vec![LotChange {
            lot: lot.id,
            kind: lot.kind,
            delta: credits.negated(),
            expires_at_ms: lot.expires_at_ms,
        }]
    })
}

/// Empties every lot (termination).
pub fn drain(lots: &[Lot]) -> Vec<LotChange> {
    lots.iter().map(empty).collect()
}

/// Empties the lots that have expired at `now_ms`.
pub fn expired(lots: &[Lot], now_ms: i64) -> Vec<LotChange> {
    lots.iter()
        .filter(|lot| lot.expires_at_ms.is_some_and(|at| at <= now_ms))
        .map(empty)
        .collect()
}

fn empty(lot: &Lot) -> LotChange {
    LotChange {
        lot: lot.id,
        kind: lot.kind,
        delta: lot.remaining.negated(),
        expires_at_ms: lot.expires_at_ms,
    }
}

/// Applies an entry's lot changes: new lots open, drawn ones shrink, empty
/// ones close. Returns false if a change names a lot that is not open or
/// would take it below zero (the caller treats that as corruption).
pub fn apply(lots: &mut Vec<Lot>, changes: &[LotChange]) -> bool {
    for change in changes {
        match lots.iter_mut().position(|lot| lot.id == change.lot) {
            Some(index) => {
                let Some(remaining) = lots[index].remaining.checked_add(change.delta) else {
                    return false;
                };
                if remaining.is_negative() {
                    return false;
                }
                if remaining.is_zero() {
                    lots.remove(index);
                } else {
                    lots[index].remaining = remaining;
                }
            }
            None if !change.delta.is_negative() && !change.delta.is_zero() => lots.push(Lot {
                id: change.lot,
                kind: change.kind,
                remaining: change.delta,
                expires_at_ms: change.expires_at_ms,
                notified: false,
            }),
            None => return false,
        }
    }
    true
}

/// Sum of the changes of one kind.
pub fn total(changes: &[LotChange], kind: CreditKind) -> Option<Credits> {
    changes
        .iter()
        .filter(|change| change.kind == kind)
        .try_fold(Credits::ZERO, |sum, change| sum.checked_add(change.delta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: u64, kind: CreditKind, credits: &str, expires: Option<i64>) -> Lot {
        Lot {
            id,
            kind,
            remaining: Credits::parse(credits).expect("valid"),
            expires_at_ms: expires,
            notified: false,
        }
    }

    #[test]
    fn draws_granted_first_then_earliest_expiry_then_oldest() {
        use CreditKind::{Granted, Paid};
        let lots = vec![
            lot(1, Paid, "5", None),
            lot(2, Paid, "5", Some(100)),
            lot(3, Granted, "1", None),
            lot(4, Granted, "1", Some(200)),
            lot(5, Paid, "5", Some(100)),
        ];
        let changes = draw(&lots, Credits::parse("9").expect("valid")).expect("enough");
        let order: Vec<(u64, String)> = changes
            .iter()
            .map(|change| (change.lot, change.delta.to_string()))
            .collect();
        assert_eq!(
            order,
            vec![
                (4, "-1".to_owned()),
                (3, "-1".to_owned()),
                (2, "-5".to_owned()),
                (5, "-2".to_owned()),
            ]
        );
        assert!(draw(&lots, Credits::parse("17.000000001").expect("valid")).is_none());
    }

    #[test]
    fn apply_opens_shrinks_and_closes_lots() {
        let mut lots = Vec::new();
        let open = LotChange {
            lot: 1,
            kind: CreditKind::Paid,
            delta: Credits::parse("3").expect("valid"),
            expires_at_ms: Some(10),
        };
        assert!(apply(&mut lots, &[open]));
        let half = draw(&lots, Credits::parse("1").expect("valid")).expect("enough");
        assert!(apply(&mut lots, &half));
        assert_eq!(lots[0].remaining, Credits::parse("2").expect("valid"));
        assert_eq!(expired(&lots, 9), Vec::new());
        let gone = expired(&lots, 10);
        assert!(apply(&mut lots, &gone));
        assert!(lots.is_empty());
        assert!(!apply(&mut lots, &gone), "a closed lot cannot be drawn");
    }
}
