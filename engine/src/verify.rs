//! `verify`: recomputes every wallet from its ledger and checks every
//! idempotency record and index entry against what it points to. Reads one
//! consistent view (a RocksDB snapshot), so it runs on a stopped data folder
//! (`tally verify`) and on a live server (`GET /v1/admin/verify`) alike.
//!
//! Checks, per wallet: entries are seq 1..=n with no gap and belong to it;
//! each entry's `before + delta == after`; no balance below zero; the stored
//! wallet (a checkpoint, see `actor::CHECKPOINT_EVERY`) is at or before the
//! last entry, and its balances and open lots equal what the ledger leaves at
//! its sequence number; each entry's lot changes sum to its delta and touch
//! only open lots; a wallet due for a wake-up has its schedule entry. Holds
//! (the invariant of `holds`): each entry's hold parts sum to its held
//! delta, a hold is placed once and resolved at most once, held credits
//! equal the sum of the pending holds and are never negative (nor are the
//! available ones), the stored held balance and pending holds equal the
//! ledger's at the checkpoint, and each hold's record (status, entries,
//! pending index) says what the ledger says. Per idempotency
//! record: its entry exists and carries the record's key. Per index entry:
//! the wallet exists and belongs to that customer (or user). Payments and
//! payment sessions against their deposits and invoices: `verify/payments`.

mod payments;

use crate::holds::{self, HoldRecord, HoldStatus, HoldStep};
use crate::idempotency;
use crate::ids::{HoldId, WalletId};
use crate::lots::{self, CreditKind, Lot};
use crate::money::credits_for_amount;
use crate::store::{codec, keys, Cf, Direction, Pair, ReadView, Scan, StoreError};
use crate::wallet::{Balance, Entry, EntryKind, Wallet};
use rust_decimal::Decimal;
use std::fmt;

/// Pairs read per scan page.
const PAGE: usize = 1024;

/// One disagreement found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The wallet concerned, if any.
    pub wallet: Option<WalletId>,
    /// What disagrees, with the figures.
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.wallet {
            Some(wallet) => write!(f, "{wallet}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

/// What a verification saw and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Wallets checked.
    pub wallets: u64,
    /// Ledger entries checked.
    pub entries: u64,
    /// Idempotency records checked.
    pub idempotency_records: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Every disagreement; empty when the data is consistent.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    /// True when nothing disagrees.
    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty()
    }

    fn mismatch(&mut self, wallet: Option<&WalletId>, detail: String) {
        self.mismatches.push(Mismatch {
            wallet: wallet.cloned(),
            detail,
        });
    }
}

/// Verifies everything readable through `view`.
pub fn verify(view: &dyn ReadView) -> Result<Report, StoreError> {
    let mut report = Report::default();
    each_pair(view, Cf::Wallets, &mut |key, value| {
        let wallet: Wallet = codec::decode(Cf::Wallets.name(), value)?;
        report.wallets += 1;
        if key != keys::wallet(&wallet.id).as_slice() {
            report.mismatch(Some(&wallet.id), "stored under another wallet's key".into());
        }
        verify_wallet(view, &wallet, &mut report)
    })?;
    each_pair(view, Cf::Transfers, &mut |key, value| {
        if key.first() == Some(&crate::transfers::keys::RECORD) {
            report.index_entries += 1;
            verify_transfer(view, value, &mut report)?;
        }
        Ok(())
    })?;
    each_pair(view, Cf::Idempotency, &mut |key, value| {
        report.idempotency_records += 1;
        verify_record(view, key, value, &mut report)
    })?;
    each_pair(view, Cf::Customers, &mut |key, _| {
        report.index_entries += 1;
        verify_customer_index(view, key, &mut report)
    })?;
    each_pair(view, Cf::Users, &mut |key, value| {
        report.index_entries += 1;
        let id: WalletId = codec::decode(Cf::Users.name(), value)?;
        let user = String::from_utf8_lossy(key);
        // A user's other accounts are keyed by a tagged name (`accounts`).
        let (customer, _) = crate::accounts::parts(&user);
        match load(view, &id)? {
            Some(wallet) if wallet.external_customer_id == customer => {}
            Some(_) => report.mismatch(
                Some(&id),
                format!("user index {user:?} points at another customer's wallet"),
            ),
            None => report.mismatch(
                Some(&id),
                format!("user index {user:?} points at a missing wallet"),
            ),
        }
        Ok(())
    })?;
    payments::verify(view, &mut report)?;
    Ok(report)
}

/// A visitor of one key/value pair.
type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Calls `visit` for every pair of `cf`, a page at a time.
fn each_pair(view: &dyn ReadView, cf: Cf, visit: &mut Visit<'_>) -> Result<(), StoreError> {
    let mut last: Option<Vec<u8>> = None;
    loop {
        let page: Vec<Pair> = view.scan(Scan {
            cf,
            prefix: &[],
            start_exclusive: last.as_deref(),
            direction: Direction::Forward,
            limit: PAGE,
        })?;
        for (key, value) in &page {
            visit(key, value)?;
        }
        match page.into_iter().last() {
            Some((key, _)) if last.as_ref() != Some(&key) => last = Some(key),
            _ => return Ok(()),
        }
    }
}

fn load(view: &dyn ReadView, id: &WalletId) -> Result<Option<Wallet>, StoreError> {
    match view.get(Cf::Wallets, &keys::wallet(id))? {
        Some(bytes) => Ok(Some(codec::decode(Cf::Wallets.name(), &bytes)?)),
        None => Ok(None),
    }
}

/// Replays one wallet's ledger and compares it with the stored checkpoint.
fn verify_wallet(
    view: &dyn ReadView,
    wallet: &Wallet,
    report: &mut Report,
) -> Result<(), StoreError> {
    let id = &wallet.id;
    let prefix = keys::ledger_prefix(id);
    let mut balance = Balance::default();
    let mut open_lots: Vec<Lot> = Vec::new();
    let mut expected_seq = 1u64;
    let mut last: Option<Vec<u8>> = None;
    // What the ledger leaves at the checkpoint's sequence number.
    let mut at_checkpoint: Option<(Balance, Vec<Lot>, HeldState)> = None;
    let mut held = HeldState::default();
    let mut totals = crate::totals::Totals::default();
    let mut totals_at_checkpoint: Option<crate::totals::Totals> = None;
    loop {
        let page = view.scan(Scan {
            cf: Cf::Ledger,
            prefix: &prefix,
            start_exclusive: last.as_deref(),
            direction: Direction::Forward,
            limit: PAGE,
        })?;
        let Some((last_key, _)) = page.last() else {
            break;
        };
        last = Some(last_key.clone());
        for (key, value) in &page {
            let entry: Entry = codec::decode(Cf::Ledger.name(), value)?;
            report.entries += 1;
            if keys::ledger_seq(key) != Some(entry.seq) || entry.wallet_id != *id {
                report.mismatch(
                    Some(id),
                    format!(
                        "entry at key seq {:?} claims {}#{}",
                        keys::ledger_seq(key),
                        entry.wallet_id,
                        entry.seq
                    ),
                );
            }
            if entry.seq != expected_seq {
                report.mismatch(
                    Some(id),
                    format!("expected entry #{expected_seq}, found #{}", entry.seq),
                );
            }
            expected_seq = entry.seq + 1;
            let indexed = view.get(Cf::Transactions, &keys::transaction(&entry.txn_id))?;
            let indexed: Option<crate::store::TxnLocation> = indexed
                .map(|bytes| codec::decode(Cf::Transactions.name(), &bytes))
                .transpose()?;
            if indexed.as_ref().map(|at| (&at.wallet_id, at.seq)) != Some((id, entry.seq)) {
                report.mismatch(
                    Some(id),
                    format!(
                        "entry #{} ({}) is not in the transaction index",
                        entry.seq, entry.txn_id
                    ),
                );
            }
            balance = check_entry(id, balance, &entry, wallet.rate_amount.to_decimal(), report);
            check_lots(id, &mut open_lots, &entry, report);
            held.apply(id, &entry, report);
            totals.apply(&entry);
            if entry.seq == wallet.seq {
                totals_at_checkpoint = Some(totals);
                at_checkpoint = Some((balance, open_lots.clone(), held.clone()));
            }
        }
    }
    let entries = expected_seq - 1;
    held.check_records(view, id, report)?;
    // Lifetime totals: they sum to the total balance, and the stored ones
    // (written with the checkpoint) are what the ledger says at its seq.
    if totals.balance() != balance.total().checked_add(held.held.total()) {
        report.mismatch(
            Some(id),
            format!(
                "lifetime totals {totals:?} do not sum to the balance {} plus held {}",
                balance.total(),
                held.held.total()
            ),
        );
    }
    if let Some(bytes) = view.get(Cf::Totals, &keys::wallet(id))? {
        let stored: crate::totals::Totals = codec::decode(Cf::Totals.name(), &bytes)?;
        // Written in the checkpoint's batch, at its seq: anything else is a bug.
        if stored.seq != wallet.seq || Some(stored) != totals_at_checkpoint {
            report.mismatch(
                Some(id),
                format!(
                    "stored lifetime totals {stored:?} differ from the ledger's {totals_at_checkpoint:?}"
                ),
            );
        }
    }
    // The timer must come by no later than the first pending hold expires
    // (a turn moves the stored wake only earlier; see `WalletActor::finish`).
    if let Some(first) = held.pending.iter().map(|(_, _, at)| *at).min() {
        if wallet.wake_at_ms.is_none_or(|wake| wake > first) {
            report.mismatch(
                Some(id),
                format!(
                    "a hold expires at {first} ms but the wallet's wake is {:?}",
                    wallet.wake_at_ms
                ),
            );
        }
    }
    let Some((balance, open_lots, held_then)) = at_checkpoint else {
        report.mismatch(
            Some(id),
            format!(
                "the stored wallet is at sequence {} but the ledger has {entries} entries",
                wallet.seq
            ),
        );
        return Ok(());
    };
    let shape = |lots: &[Lot]| -> Vec<(u64, CreditKind, String, Option<i64>)> {
        lots.iter()
            .map(|lot| {
                (
                    lot.id,
                    lot.kind,
                    lot.remaining.to_string(),
                    lot.expires_at_ms,
                )
            })
            .collect()
    };
    if shape(&wallet.lots) != shape(&open_lots) {
        report.mismatch(
            Some(id),
            format!(
                "stored open lots {:?} differ from the ledger's {:?} at #{}",
                shape(&wallet.lots),
                shape(&open_lots),
                wallet.seq
            ),
        );
    }
    if let Some(due) = wallet.wake_at_ms {
        if view.get(Cf::Schedule, &keys::schedule(due, id))?.is_none() {
            report.mismatch(
                Some(id),
                format!("due for a wake-up at {due} ms but missing from the schedule"),
            );
        }
    }
    let pending: Vec<(HoldId, String)> = wallet
        .holds
        .iter()
        .map(|hold| (hold.id.clone(), hold.credits.to_string()))
        .collect();
    if wallet.held != held_then.held || pending != held_then.pending_shape() {
        report.mismatch(
            Some(id),
            format!(
                "stored held {:?} and pending holds {pending:?} differ from the ledger's {:?} and {:?} at #{}",
                wallet.held,
                held_then.held,
                held_then.pending_shape(),
                wallet.seq
            ),
        );
    }
    if wallet.balance != balance {
        report.mismatch(
            Some(id),
            format!(
                "stored balance paid {} granted {} but the ledger sums to paid {} granted {} at #{}",
                wallet.balance.paid, wallet.balance.granted, balance.paid, balance.granted, wallet.seq
            ),
        );
    }
    Ok(())
}

/// A wallet's holds as its ledger leaves them.
#[derive(Debug, Clone, Default)]
struct HeldState {
    /// Held credits, by kind.
    held: Balance,
    /// Pending holds, their credits and expiry, in placement order.
    pending: Vec<(HoldId, crate::money::Credits, i64)>,
    /// Every hold's status and entries, as the ledger says.
    seen: Vec<(HoldId, HoldRecord)>,
}

impl HeldState {
    fn pending_shape(&self) -> Vec<(HoldId, String)> {
        self.pending
            .iter()
            .map(|(id, credits, _)| (id.clone(), credits.to_string()))
            .collect()
    }

    /// Replays one entry's hold move, reporting what does not add up.
    fn apply(&mut self, wallet: &WalletId, entry: &Entry, report: &mut Report) {
        let mut bad = |detail: String| {
            report.mismatch(Some(wallet), format!("entry #{}: {detail}", entry.seq));
        };
        let moved = entry
            .hold
            .as_ref()
            .map_or(Some(Balance::default()), |hold| {
                lots::total(&hold.parts, CreditKind::Paid)
                    .zip(lots::total(&hold.parts, CreditKind::Granted))
                    .map(|(paid, granted)| Balance { paid, granted })
            });
        if moved.and_then(|moved| self.held.shifted(moved)) != Some(entry.held) {
            bad(format!(
                "held {:?} moved by {moved:?} is not the entry's held after {:?}",
                self.held, entry.held
            ));
        }
        if entry.held.paid.is_negative() || entry.held.granted.is_negative() {
            bad("held credits below zero".into());
        }
        self.held = entry.held;
        let Some(hold) = &entry.hold else {
            return;
        };
        let parts_total = hold
            .parts
            .iter()
            .try_fold(crate::money::Credits::ZERO, |sum, part| {
                sum.checked_add(part.delta)
            });
        let index = self.pending.iter().position(|(id, _, _)| *id == hold.id);
        match (hold.step, index) {
            (HoldStep::Place, None) => {
                // The lots gave exactly what the hold took.
                if holds::emptied(&hold.parts) != entry.lots || parts_total != Some(hold.credits) {
                    bad(format!(
                        "hold {} took other credits than its lots gave",
                        hold.id
                    ));
                }
                self.pending
                    .push((hold.id.clone(), hold.credits, hold.expires_at_ms));
                self.seen.push((
                    hold.id.clone(),
                    HoldRecord {
                        wallet_id: wallet.clone(),
                        placed_seq: entry.seq,
                        status: HoldStatus::Pending,
                        resolved_seq: None,
                        late_capture_seq: None,
                    },
                ));
            }
            (HoldStep::Place, Some(_)) => bad(format!("hold {} placed twice", hold.id)),
            (HoldStep::LateCapture, None) => {
                match self.seen.iter_mut().find(|(id, _)| *id == hold.id) {
                    Some((_, record))
                        if record.status == HoldStatus::Expired
                            && record.late_capture_seq.is_none() =>
                    {
                        record.late_capture_seq = Some(entry.seq);
                    }
                    _ => bad(format!(
                        "late capture of hold {} that had not expired",
                        hold.id
                    )),
                }
            }
            (HoldStep::LateCapture, Some(_)) => {
                bad(format!("late capture of hold {} still pending", hold.id));
            }
            (step, Some(index)) => {
                // A release gives back exactly what the hold took, to the
                // same lots.
                if matches!(step, HoldStep::Release | HoldStep::Expire)
                    && holds::emptied(&hold.parts) != entry.lots
                {
                    bad(format!(
                        "release of hold {} gave back other credits than it held",
                        hold.id
                    ));
                }
                let (_, credits, _) = self.pending.remove(index);
                if parts_total.map(crate::money::Credits::negated) != Some(credits) {
                    bad(format!(
                        "hold {} of {credits} resolved by parts of {parts_total:?}",
                        hold.id
                    ));
                }
                if let Some((_, record)) = self.seen.iter_mut().find(|(id, _)| *id == hold.id) {
                    record.status = HoldStatus::after(step);
                    record.resolved_seq = Some(entry.seq);
                }
            }
            (_, None) => bad(format!("resolves hold {} that is not pending", hold.id)),
        }
        let pending_sum = self
            .pending
            .iter()
            .try_fold(crate::money::Credits::ZERO, |sum, (_, credits, _)| {
                sum.checked_add(*credits)
            });
        if pending_sum != Some(self.held.total()) {
            bad(format!(
                "held credits {} are not the sum of the pending holds {pending_sum:?}",
                self.held.total()
            ));
        }
    }

    /// Each hold's record and pending index agree with the ledger.
    fn check_records(
        &self,
        view: &dyn ReadView,
        wallet: &WalletId,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        for (id, expected) in &self.seen {
            report.index_entries += 1;
            let stored: Option<HoldRecord> = match view.get(Cf::Holds, &holds::keys::record(id))? {
                Some(bytes) => Some(codec::decode(Cf::Holds.name(), &bytes)?),
                None => None,
            };
            if stored.as_ref() != Some(expected) {
                report.mismatch(
                    Some(wallet),
                    format!("hold {id}: record {stored:?}, the ledger says {expected:?}"),
                );
            }
            let pending = view.get(Cf::Holds, &holds::keys::pending(id))?;
            let indexed = pending.is_some();
            if indexed != (expected.status == HoldStatus::Pending) {
                report.mismatch(
                    Some(wallet),
                    format!(
                        "hold {id} is {:?} but its pending index says {indexed}",
                        expected.status
                    ),
                );
            }
            if let Some(bytes) = pending {
                let held: crate::money::Credits = codec::decode(Cf::Holds.name(), &bytes)?;
                let ledger = self.pending.iter().find(|(pending, _, _)| pending == id);
                if ledger.map(|(_, credits, _)| *credits) != Some(held) {
                    report.mismatch(
                        Some(wallet),
                        format!("hold {id}: the pending index holds {held}, the ledger {ledger:?}"),
                    );
                }
            }
            if view
                .get(Cf::Holds, &holds::keys::by_wallet(wallet, id))?
                .is_none()
            {
                report.mismatch(
                    Some(wallet),
                    format!("hold {id} is missing from its wallet's index"),
                );
            }
        }
        Ok(())
    }
}

/// Applies one entry's delta to `before`, reporting any inconsistency, and
/// returns the balance the ledger says follows (its `after`).
fn check_entry(
    id: &WalletId,
    before: Balance,
    entry: &Entry,
    rate: Decimal,
    report: &mut Report,
) -> Balance {
    let summed = before
        .paid
        .checked_add(entry.delta.paid)
        .zip(before.granted.checked_add(entry.delta.granted));
    if entry.after.paid.checked_add(entry.after.granted).is_none() {
        report.mismatch(
            Some(id),
            format!(
                "entry #{}: total balance is past the largest amount {}",
                entry.seq,
                crate::money::Credits::MAX
            ),
        );
    }
    // A deposit's credits are what its amount buys at the wallet's rate: a
    // stored figure that lost digits disagrees here even when sums agree.
    if let (EntryKind::Deposit, Some(amount)) = (entry.kind, entry.amount) {
        let bought = credits_for_amount(amount, rate);
        if bought != Some(entry.delta.paid) || !entry.delta.granted.is_zero() {
            report.mismatch(
                Some(id),
                format!(
                    "entry #{}: a deposit of {amount} at rate {rate} buys {bought:?} credits, the entry adds paid {} granted {}",
                    entry.seq, entry.delta.paid, entry.delta.granted
                ),
            );
        }
    }
    match summed {
        Some((paid, granted)) if paid == entry.after.paid && granted == entry.after.granted => {}
        _ => report.mismatch(
            Some(id),
            format!(
                "entry #{}: before paid {} granted {} plus delta paid {} granted {} is not after paid {} granted {}",
                entry.seq, before.paid, before.granted, entry.delta.paid, entry.delta.granted, entry.after.paid, entry.after.granted
            ),
        ),
    }
    if entry.after.paid.is_negative() || entry.after.granted.is_negative() {
        report.mismatch(
            Some(id),
            format!("entry #{} leaves a negative balance", entry.seq),
        );
    }
    entry.after
}

/// Replays an entry's lot changes, reporting any that do not sum to its
/// delta or touch a lot that is not open.
fn check_lots(id: &WalletId, open: &mut Vec<Lot>, entry: &Entry, report: &mut Report) {
    let paid = lots::total(&entry.lots, CreditKind::Paid);
    let granted = lots::total(&entry.lots, CreditKind::Granted);
    if paid != Some(entry.delta.paid) || granted != Some(entry.delta.granted) {
        report.mismatch(
            Some(id),
            format!(
                "entry #{}: lot changes sum to paid {paid:?} granted {granted:?}, delta is paid {} granted {}",
                entry.seq, entry.delta.paid, entry.delta.granted
            ),
        );
    }
    if !lots::apply(open, &entry.lots) {
        report.mismatch(
            Some(id),
            format!("entry #{} draws from a lot that is not open", entry.seq),
        );
    }
}

/// Checks a transfer against its legs' entries: every value that left the
/// source arrived somewhere (destination, fee wallet, or back at the
/// source), or is in flight under a pending record.
fn verify_transfer(
    view: &dyn ReadView,
    value: &[u8],
    report: &mut Report,
) -> Result<(), StoreError> {
    use crate::transfers::{keys as transfer_keys, LegRole, TransferRecord, TransferState};
    let record: TransferRecord = codec::decode(Cf::Transfers.name(), value)?;
    let mut bad = |detail: String| {
        report.mismatch(
            Some(&record.from),
            format!("transfer {}: {detail}", record.id),
        );
    };
    let pending = view
        .get(Cf::Transfers, &transfer_keys::pending(&record.id))?
        .is_some();
    if pending != (record.state == TransferState::Pending) {
        bad(format!(
            "is {:?} but its in-flight key says {pending}",
            record.state
        ));
    }
    let legs = &record.legs;
    let fee_due = record.fee_wallet.is_some() && !legs.fee.is_zero();
    // Each leg at most once, on its wallet, moving what its role moves.
    for role in [
        LegRole::Out,
        LegRole::In,
        LegRole::Fee,
        LegRole::Refund,
        LegRole::FeeRefund,
    ] {
        let named: Vec<_> = record
            .applied
            .iter()
            .filter(|leg| leg.role == role)
            .collect();
        let (wallet, credits) = match role {
            LegRole::Out => (Some(&record.from), legs.gross),
            LegRole::In => (Some(&record.to), legs.net),
            LegRole::Fee => (record.fee_wallet.as_ref(), legs.fee),
            LegRole::Refund => (Some(&record.from), legs.gross),
            LegRole::FeeRefund => (Some(&record.from), legs.fee_at_source),
        };
        if named.len() > 1 {
            bad(format!(
                "names its {} leg {} times",
                role.as_str(),
                named.len()
            ));
        }
        if let Some(leg) = named.first() {
            if Some(&leg.wallet_id) != wallet || leg.credits != credits {
                bad(format!(
                    "its {} leg moves {} on {}, should move {credits} on {wallet:?}",
                    role.as_str(),
                    leg.credits,
                    leg.wallet_id
                ));
            }
        }
    }
    let has = |role: LegRole| record.applied.iter().any(|leg| leg.role == role);
    // The source leg is named whatever the state: it was written with the
    // record. What else a state needs, and what it excludes:
    let (needs, excludes): (Vec<LegRole>, Vec<LegRole>) = match record.state {
        TransferState::Pending => (
            vec![LegRole::Out],
            vec![LegRole::Refund, LegRole::FeeRefund],
        ),
        TransferState::Failed => (
            vec![LegRole::Out, LegRole::Refund],
            vec![LegRole::In, LegRole::Fee],
        ),
        TransferState::Forfeited => (
            vec![LegRole::Out],
            vec![LegRole::Refund, LegRole::FeeRefund],
        ),
        TransferState::Completed => {
            let mut needs = vec![LegRole::Out, LegRole::In];
            if fee_due && !has(LegRole::FeeRefund) {
                needs.push(LegRole::Fee);
            }
            (needs, vec![LegRole::Refund])
        }
    };
    for role in needs {
        if !has(role) {
            bad(format!(
                "is {:?} without its {} leg",
                record.state,
                role.as_str()
            ));
        }
    }
    for role in excludes {
        if has(role) {
            bad(format!(
                "is {:?} with a {} leg",
                record.state,
                role.as_str()
            ));
        }
    }
    for leg in &record.applied {
        let entry = view.get(Cf::Ledger, &keys::ledger(&leg.wallet_id, leg.seq))?;
        let entry: Option<Entry> = entry
            .map(|bytes| codec::decode(Cf::Ledger.name(), &bytes))
            .transpose()?;
        let moved = entry.as_ref().map(|entry| {
            let total = entry.delta.total();
            if total.is_negative() {
                total.negated()
            } else {
                total
            }
        });
        if entry.as_ref().map(|entry| &entry.txn_id) != Some(&leg.txn_id)
            || moved != Some(leg.credits)
        {
            bad(format!(
                "its {} leg {}#{} is not the entry it names",
                leg.role.as_str(),
                leg.wallet_id,
                leg.seq
            ));
        }
    }
    Ok(())
}

/// Checks that an idempotency record points at an entry carrying its key.
fn verify_record(
    view: &dyn ReadView,
    key: &[u8],
    value: &[u8],
    report: &mut Report,
) -> Result<(), StoreError> {
    let (record, _) = idempotency::decode(value)?;
    let client_key = keys::idempotency_name(key);
    let entry = view.get(Cf::Ledger, &keys::ledger(&record.wallet_id, record.seq))?;
    let Some(entry) = entry else {
        report.mismatch(
            Some(&record.wallet_id),
            format!("idempotency record points at missing entry #{}", record.seq),
        );
        return Ok(());
    };
    let entry: Entry = codec::decode(Cf::Ledger.name(), &entry)?;
    let carried = entry.idempotency_key.as_deref().map(str::as_bytes);
    if carried != client_key {
        report.mismatch(
            Some(&record.wallet_id),
            format!(
                "idempotency record for key {:?} points at entry #{} made with key {:?}",
                client_key.map(String::from_utf8_lossy),
                record.seq,
                entry.idempotency_key
            ),
        );
    }
    Ok(())
}

fn verify_customer_index(
    view: &dyn ReadView,
    key: &[u8],
    report: &mut Report,
) -> Result<(), StoreError> {
    let Some((customer, id)) = keys::customer_parts(key) else {
        report.mismatch(None, "customer index entry without a wallet id".into());
        return Ok(());
    };
    match load(view, &id)? {
        Some(wallet) if wallet.external_customer_id.as_bytes() == customer => {}
        Some(_) => report.mismatch(Some(&id), "customer index names another customer".into()),
        None => report.mismatch(
            Some(&id),
            "customer index points at a missing wallet".into(),
        ),
    }
    Ok(())
}
