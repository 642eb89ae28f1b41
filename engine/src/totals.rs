//! A wallet's lifetime totals: every credit it was ever credited, spent,
//! removed and lost to expiry, by kind of entry. What an AI-credit balance
//! shows as its limit and usage (seed 002), exact under every operation.
//!
//! Kept like the wallet's state: the actor moves them with each entry, and
//! they are checkpointed (`totals` CF) in the same batch as the wallet's
//! checkpoint, at the same sequence number; loading replays the entries
//! after it. So a debit writes nothing more. The invariant `verify` checks:
//! credited − spent − removed − lost = the wallet's total balance.

use crate::money::Credits;
use crate::wallet::{Balance, Entry, EntryKind};
use serde::{Deserialize, Serialize};

/// Lifetime sums of one wallet, as of its entry `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// The entry these are as of.
    pub seq: u64,
    /// Credits added: opening balance, top-ups, deposits, transfers in.
    pub credited: Credits,
    /// Credits spent on usage: debits, captures, priced usage.
    pub spent: Credits,
    /// Credits taken out otherwise: voids, transfers out.
    pub removed: Credits,
    /// Credits lost: lots expired, forfeited at termination.
    pub lost: Credits,
}

impl crate::store::codec::Stored for Totals {}

impl Totals {
    /// Moves the totals past `entry` (the next entry of the wallet).
    pub fn apply(&mut self, entry: &Entry) {
        // The change of the wallet's total: available plus held.
        let held = entry
            .hold
            .as_ref()
            .map(|hold| {
                let of = |kind| crate::lots::total(&hold.parts, kind).unwrap_or_default();
                Balance {
                    paid: of(crate::lots::CreditKind::Paid),
                    granted: of(crate::lots::CreditKind::Granted),
                }
            })
            .unwrap_or_default();
        let change = entry
            .delta
            .total()
            .checked_add(held.total())
            .unwrap_or(Credits::ZERO);
        let magnitude = if change.is_negative() {
            change.negated()
        } else {
            change
        };
        let add = |sum: &mut Credits| *sum = sum.checked_add(magnitude).unwrap_or(Credits::MAX);
        match entry.kind {
            EntryKind::Open | EntryKind::TopUp | EntryKind::Deposit | EntryKind::TransferIn => {
                add(&mut self.credited)
            }
            EntryKind::Debit => add(&mut self.spent),
            EntryKind::Void | EntryKind::TransferOut => add(&mut self.removed),
            EntryKind::Expire | EntryKind::Terminate => add(&mut self.lost),
            EntryKind::Activate | EntryKind::Update | EntryKind::Hold | EntryKind::Release => {}
        }
        self.seq = entry.seq;
    }

    /// credited − spent − removed − lost: what the ledger says the wallet
    /// holds (available plus held). `None` past the range (corrupt data).
    pub fn balance(&self) -> Option<Credits> {
        self.credited
            .checked_sub(self.spent)?
            .checked_sub(self.removed)?
            .checked_sub(self.lost)
    }
}
