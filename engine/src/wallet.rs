//! The wallet state machine: `Wallet`, the `Command`s that change it and the
//! ledger `Entry` each change produces. Pure: no actix, no I/O, no clock of its
//! own, so every rule (lot order, no overdraft, lifecycle, fee types) is tested
//! here alone.
//!
//! `Wallet::apply` decides and returns an `Entry`; `Wallet::advance` moves the
//! wallet to it. Every entry carries its deltas, the lots it touched and the
//! balances after it, so the ledger alone can recompute and check a wallet.
// #[PerformanceCriticalPath]

use crate::ids::{TxnId, WalletId};
use crate::lots::{self, CreditKind, Lot, LotChange};
use crate::money::{credits_for_amount, Credits, Currency, Fixed, RATE_MAX, RATE_SCALE};
use crate::rules::{RuleRefusal, Trigger};
use crate::terms::{FeeType, Terms, TermsPatch, TermsSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Key/value pairs a client attaches to a change, kept in request order.
pub type Metadata = Vec<(String, String)>;

/// The metadata of changes that carry none.
static NO_METADATA: Metadata = Vec::new();

/// Where a wallet stands in its lifecycle (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletStatus {
    /// Created, not yet operational: takes top-ups, refuses debits and voids.
    /// Becomes active by `Activate` or on its first paid top-up.
    Pending,
    /// Everything works.
    Active,
    /// Closed for good: remaining credits were forfeited; accepts nothing.
    Terminated,
}

impl WalletStatus {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletStatus::Pending => "pending",
            WalletStatus::Active => "active",
            WalletStatus::Terminated => "terminated",
        }
    }

    /// Any status, by name (list filters).
    pub fn parse(name: &str) -> Option<WalletStatus> {
        match name {
            "terminated" => Some(WalletStatus::Terminated),
            other => WalletStatus::parse_initial(other),
        }
    }

    /// A status a wallet may be created with, by name.
    pub fn parse_initial(name: &str) -> Option<WalletStatus> {
        match name {
            "pending" => Some(WalletStatus::Pending),
            "active" => Some(WalletStatus::Active),
            _ => None,
        }
    }
}

/// A wallet's two balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    /// Credits bought with money.
    pub paid: Credits,
    /// Promotional credits, spent before paid ones.
    pub granted: Credits,
}

impl Balance {
    /// Paid plus granted. A balance built by [`Balance::shifted`] keeps its
    /// total within [`Credits::MAX`]; a delta's sides share a sign, so its
    /// magnitude is bounded the same way. Saturates rather than wraps for
    /// anything else.
    pub fn total(self) -> Credits {
        self.paid.checked_add(self.granted).unwrap_or(Credits::MAX)
    }

    /// Adds a signed delta to each side; `None` when a side or the total
    /// would leave the range ([`Credits::MAX`]).
    pub fn shifted(self, delta: Balance) -> Option<Balance> {
        let after = Balance {
            paid: self.paid.checked_add(delta.paid)?,
            granted: self.granted.checked_add(delta.granted)?,
        };
        after.paid.checked_add(after.granted)?;
        Some(after)
    }

    /// The balance delta of a set of lot changes.
    fn of_changes(changes: &[LotChange]) -> Option<Balance> {
        Some(Balance {
            paid: lots::total(changes, CreditKind::Paid)?,
            granted: lots::total(changes, CreditKind::Granted)?,
        })
    }
}

/// A customer's wallet as stored: identity, terms, balances, open lots and
/// the sequence number of its last ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// Server-generated id.
    pub id: WalletId,
    /// The customer this wallet belongs to, in the client's own terms.
    pub external_customer_id: String,
    /// ISO 4217 currency of the money side.
    pub currency: Currency,
    /// Currency price of one credit.
    pub rate_amount: Fixed,
    /// Lifecycle state.
    pub status: WalletStatus,
    /// Current balances: the sums of the open lots.
    pub balance: Balance,
    /// When the wallet was created (ms since the epoch).
    pub created_at_ms: i64,
    /// Sequence number of the last ledger entry; every change adds one.
    pub seq: u64,
    /// What the owner configured. Shared: it changes rarely, and the actor
    /// copies the wallet on every turn (to undo a turn the commit queue
    /// refuses) and into wallet events.
    pub terms: Arc<Terms>,
    /// Open lots (credits left in them), in creation order.
    pub lots: Vec<Lot>,
    /// Number of the next lot.
    pub next_lot: u64,
    /// The wallet's entry in the schedule column family: when the timer
    /// must next wake it (expiry, notice or interval top-up).
    pub wake_at_ms: Option<i64>,
    /// Whether the notice of the wallet's own expiry went out.
    pub expiry_notified: bool,
}

/// What a new wallet is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWallet {
    /// The customer in the client's terms.
    pub external_customer_id: String,
    /// Currency of the money side.
    pub currency: Currency,
    /// Currency price of one credit; must be > 0.
    #[serde(with = "crate::money::decimal_serde")]
    pub rate_amount: Decimal,
    /// Paid credits to start with.
    pub paid_credits: Credits,
    /// Granted credits to start with.
    pub granted_credits: Credits,
    /// `Active`, or `Pending` (e.g. waiting for a first paid top-up).
    pub status: WalletStatus,
    /// Name, metadata, expiry, fee types and rules.
    pub terms: TermsSpec,
}

/// What caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A client request.
    Manual,
    /// An interval rule, fired by the timer.
    Interval,
    /// A threshold rule, fired by the change that crossed it.
    Threshold,
    /// A lot's or the wallet's expiry.
    Expiry,
}

impl Source {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::Interval => "interval",
            Source::Threshold => "threshold",
            Source::Expiry => "expiry",
        }
    }
}

/// A change asked of one wallet: by a client, or by the wallet's own rules
/// and expiries (the last three, which no client can send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Adds credits (seed 001 `TOPUP`) as new lots.
    TopUp {
        /// Paid credits to add.
        paid: Credits,
        /// Granted credits to add.
        granted: Credits,
        /// Client metadata.
        metadata: Metadata,
        /// When the new lots expire, if ever.
        expires_at_ms: Option<i64>,
    },
    /// Adds the paid credits that `amount` of currency buys (seed 000 deposit).
    Deposit {
        /// Currency amount, at most the currency's minor units.
        #[serde(with = "crate::money::decimal_serde")]
        amount: Decimal,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Removes credits (seed 001 `VOID`): from one lot, or in spend order.
    Void {
        /// Credits to remove.
        credits: Credits,
        /// Client metadata.
        metadata: Metadata,
        /// The lot to void from.
        lot: Option<u64>,
    },
    /// Spends credits on usage, in lot spend order.
    Debit {
        /// Credits to spend.
        credits: Credits,
        /// Client metadata (model, token counts, ...).
        metadata: Metadata,
        /// The kind of fee this pays; the wallet must cover it.
        fee_type: FeeType,
    },
    /// Makes a pending wallet active.
    Activate,
    /// Closes the wallet for good, forfeiting its remaining credits.
    Terminate,
    /// Changes the wallet's terms (`PUT`).
    Configure(Box<TermsPatch>),
    /// Applies top-up rule `rule_id`.
    RuleTopUp { rule_id: String, source: Source },
    /// Expires what is left of the lots whose expiry has come.
    ExpireLots,
    /// Terminates the wallet at its `expiration_at`.
    ExpireWallet,
}

impl Command {
    /// The command as fingerprinted for idempotency: metadata sorted, so two
    /// spellings of the same request are the same request. Borrows when the
    /// metadata is already in order (the common case: no copy).
    pub fn canonical(&self) -> std::borrow::Cow<'_, Command> {
        let metadata = match self {
            Command::TopUp { metadata, .. }
            | Command::Deposit { metadata, .. }
            | Command::Void { metadata, .. }
            | Command::Debit { metadata, .. } => metadata,
            _ => return std::borrow::Cow::Borrowed(self),
        };
        if metadata.is_sorted() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut owned = self.clone();
        if let Command::TopUp { metadata, .. }
        | Command::Deposit { metadata, .. }
        | Command::Void { metadata, .. }
        | Command::Debit { metadata, .. } = &mut owned
        {
            metadata.sort();
        }
        std::borrow::Cow::Owned(owned)
    }
}

/// What kind of change a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// The wallet was created, possibly with starting credits.
    Open,
    /// Credits added.
    TopUp,
    /// Credits added by a currency deposit.
    Deposit,
    /// Credits removed by an operator.
    Void,
    /// Credits spent on usage.
    Debit,
    /// A pending wallet became active (no credits move).
    Activate,
    /// The wallet was terminated; its remaining credits were forfeited.
    Terminate,
    /// The wallet's terms changed (no credits move).
    Update,
    /// Lots reached their expiry; what was left in them is gone.
    Expire,
}

impl EntryKind {
    /// The upper-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Open => "OPEN",
            EntryKind::TopUp => "TOPUP",
            EntryKind::Deposit => "DEPOSIT",
            EntryKind::Void => "VOID",
            EntryKind::Debit => "DEBIT",
            EntryKind::Activate => "ACTIVATE",
            EntryKind::Terminate => "TERMINATE",
            EntryKind::Update => "UPDATE",
            EntryKind::Expire => "EXPIRE",
        }
    }

    /// Whether credits flow into the wallet.
    pub fn is_inbound(self) -> bool {
        match self {
            EntryKind::Open
            | EntryKind::TopUp
            | EntryKind::Deposit
            | EntryKind::Activate
            | EntryKind::Update => true,
            EntryKind::Void | EntryKind::Debit | EntryKind::Terminate | EntryKind::Expire => false,
        }
    }
}

/// One immutable ledger entry. `delta` is signed; `after` is the balance once
/// the entry is applied, so `before + delta == after` is checkable per entry,
/// and `lots` says which lots the credits came from or went into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Transaction id.
    pub txn_id: TxnId,
    /// Wallet this entry belongs to.
    pub wallet_id: WalletId,
    /// Position in the wallet's ledger, from 1.
    pub seq: u64,
    /// What happened.
    pub kind: EntryKind,
    /// Signed change of each balance: the sum of `lots` per kind.
    pub delta: Balance,
    /// Balances after the change.
    pub after: Balance,
    /// The wallet's status after the change.
    pub status: WalletStatus,
    /// Currency amount, for deposits.
    #[serde(with = "crate::money::decimal_serde::option")]
    pub amount: Option<Decimal>,
    /// Client metadata.
    pub metadata: Metadata,
    /// The client's idempotency key, if any (for interval top-ups, the
    /// rule and due time).
    pub idempotency_key: Option<String>,
    /// When the change was made (ms since the epoch).
    pub created_at_ms: i64,
    /// The lots opened (positive) or drawn (negative).
    pub lots: Vec<LotChange>,
    /// What caused it.
    pub source: Source,
    /// The top-up rule that made it, if any.
    pub rule_id: Option<String>,
    /// The fee type a debit paid.
    pub fee_type: Option<FeeType>,
    /// For `UPDATE` and `OPEN` entries: the terms from then on.
    pub terms: Option<Arc<Terms>>,
}

/// Why a command was refused. Each is a client-visible business rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("wallet {wallet} has {available} credits, {requested} requested")]
    InsufficientCredits {
        wallet: WalletId,
        available: Credits,
        requested: Credits,
    },
    #[error("{field} must be greater than zero")]
    NotPositive { field: &'static str },
    #[error("{field} has more than {scale_max} decimal places for {currency}")]
    CurrencyScale {
        field: &'static str,
        currency: Currency,
        scale_max: u32,
    },
    #[error("{field} buys less than the smallest credit at this wallet's rate")]
    BelowOneCreditUnit { field: &'static str },
    #[error("{field} would take the balance past the largest amount, {max} credits")]
    OutOfRange { field: &'static str, max: Credits },
    #[error("{field} must be at most {max}")]
    RateTooLarge { field: &'static str, max: i64 },
    #[error("{field} must be greater than zero")]
    InvalidRate { field: &'static str },
    #[error(
        "wallet {wallet} is {status}: it takes top-ups but no debits or voids until it is active"
    )]
    NotActive {
        wallet: WalletId,
        status: &'static str,
    },
    #[error("wallet {wallet} is terminated and accepts no changes")]
    Terminated { wallet: WalletId },
    #[error("wallet {wallet} is already {status}")]
    AlreadyInStatus {
        wallet: WalletId,
        status: &'static str,
    },
    #[error("this wallet's credits do not pay {fee_type} fees (see applies_to.fee_types)")]
    FeeTypeNotCovered { fee_type: &'static str },
    #[error("{field} must be in the future")]
    NotInFuture { field: String },
    #[error("{field} {reason}")]
    InvalidTerms { field: String, reason: String },
    #[error("wallet {wallet} has no open lot {lot}")]
    LotNotFound { wallet: WalletId, lot: u64 },
    #[error("rule {rule_id} added nothing: {refusal}")]
    RuleRefused {
        rule_id: String,
        refusal: RuleRefusal,
    },
}

/// An entry's parts before it gets its id, sequence and balances.
struct Draft<'a> {
    kind: EntryKind,
    /// The request field named when the result is out of range.
    field: &'static str,
    changes: Vec<LotChange>,
    amount: Option<Decimal>,
    metadata: &'a Metadata,
    source: Source,
    rule_id: Option<String>,
    fee_type: Option<FeeType>,
    terms: Option<Arc<Terms>>,
}

impl<'a> Draft<'a> {
    fn new(kind: EntryKind, changes: Vec<LotChange>, metadata: &'a Metadata) -> Draft<'a> {
        Draft {
            kind,
            field: "credits",
            changes,
            amount: None,
            metadata,
            source: Source::Manual,
            rule_id: None,
            fee_type: None,
            terms: None,
        }
    }
}

impl Wallet {
    /// Builds a new wallet and its opening ledger entry (seq 1), which carries
    /// any starting credits as lots and the wallet's terms.
    pub fn open(
        id: WalletId,
        txn_id: TxnId,
        spec: NewWallet,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> Result<(Wallet, Entry), WalletError> {
        if spec.rate_amount <= Decimal::ZERO {
            return Err(WalletError::InvalidRate {
                field: "rate_amount",
            });
        }
        check_rate(spec.rate_amount)?;
        let rate_amount =
            Fixed::new(spec.rate_amount, RATE_SCALE).ok_or(WalletError::InvalidRate {
                field: "rate_amount",
            })?;
        assert!(!spec.paid_credits.is_negative() && !spec.granted_credits.is_negative());
        assert!(
            spec.status != WalletStatus::Terminated,
            "a wallet is never created terminated"
        );
        let terms = Arc::new(Terms::build(spec.terms, now_ms)?);
        let mut wallet = Wallet {
            id,
            external_customer_id: spec.external_customer_id,
            currency: spec.currency,
            rate_amount,
            status: spec.status,
            balance: Balance::default(),
            created_at_ms: now_ms,
            seq: 0,
            terms: Arc::clone(&terms),
            lots: Vec::new(),
            next_lot: 1,
            wake_at_ms: None,
            expiry_notified: false,
        };
        let changes = wallet.new_lots(spec.paid_credits, spec.granted_credits, None);
        let mut draft = Draft::new(EntryKind::Open, changes, &NO_METADATA);
        draft.field = "paid_credits";
        draft.terms = Some(terms);
        let entry = wallet.entry(txn_id, draft, spec.status, idempotency_key, now_ms)?;
        wallet.advance(&entry);
        Ok((wallet, entry))
    }

    /// Decides `command` against the current state at `now_ms`. Returns the
    /// entry that records it; the wallet is unchanged until [`Wallet::advance`].
    pub fn apply(
        &self,
        txn_id: TxnId,
        command: &Command,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> Result<Entry, WalletError> {
        let status = self.status_after(command)?;
        let draft = match command {
            Command::TopUp {
                paid,
                granted,
                metadata,
                expires_at_ms,
            } => {
                if paid.is_zero() && granted.is_zero() {
                    return Err(WalletError::NotPositive {
                        field: "paid_credits",
                    });
                }
                if expires_at_ms.is_some_and(|at| at <= now_ms) {
                    return Err(WalletError::NotInFuture {
                        field: "expires_at".into(),
                    });
                }
                let changes = self.new_lots(*paid, *granted, *expires_at_ms);
                let mut draft = Draft::new(EntryKind::TopUp, changes, metadata);
                draft.field = if paid.is_zero() {
                    "granted_credits"
                } else {
                    "paid_credits"
                };
                draft
            }
            Command::Deposit { amount, metadata } => {
                let paid = self.credits_for_deposit(*amount)?;
                let changes = self.new_lots(paid, Credits::ZERO, None);
                let mut draft = Draft::new(EntryKind::Deposit, changes, metadata);
                draft.field = "amount";
                draft.amount = Some(*amount);
                draft
            }
            Command::Void {
                credits,
                metadata,
                lot,
            } => {
                let changes = self.take(*credits, *lot, "credits_to_void")?;
                Draft::new(EntryKind::Void, changes, metadata)
            }
            Command::Debit {
                credits,
                metadata,
                fee_type,
            } => {
                if !self.terms.fee_types.contains(*fee_type) {
                    return Err(WalletError::FeeTypeNotCovered {
                        fee_type: fee_type.as_str(),
                    });
                }
                let changes = self.take(*credits, None, "credits")?;
                let mut draft = Draft::new(EntryKind::Debit, changes, metadata);
                draft.fee_type = Some(*fee_type);
                draft
            }
            Command::Activate => Draft::new(EntryKind::Activate, Vec::new(), &NO_METADATA),
            Command::Terminate => {
                // Everything left is forfeited, with an entry that says so.
                Draft::new(EntryKind::Terminate, lots::drain(&self.lots), &NO_METADATA)
            }
            Command::ExpireWallet => {
                let mut draft =
                    Draft::new(EntryKind::Terminate, lots::drain(&self.lots), &NO_METADATA);
                draft.source = Source::Expiry;
                draft
            }
            Command::ExpireLots => {
                let mut draft = Draft::new(
                    EntryKind::Expire,
                    lots::expired(&self.lots, now_ms),
                    &NO_METADATA,
                );
                draft.source = Source::Expiry;
                draft
            }
            Command::Configure(patch) => {
                let terms = self.terms.patched((**patch).clone(), now_ms)?;
                let mut draft = Draft::new(EntryKind::Update, Vec::new(), &NO_METADATA);
                draft.terms = Some(Arc::new(terms));
                draft
            }
            Command::RuleTopUp { rule_id, source } => {
                let rule = self
                    .terms
                    .rules
                    .iter()
                    .find(|rule| &rule.id == rule_id)
                    .ok_or_else(|| WalletError::InvalidTerms {
                        field: "rule_id".into(),
                        reason: format!("names no rule of wallet {}", self.id),
                    })?;
                let (paid, granted) = rule.top_up(self.balance.total()).map_err(|refusal| {
                    WalletError::RuleRefused {
                        rule_id: rule_id.clone(),
                        refusal,
                    }
                })?;
                let changes = self.new_lots(paid, granted, None);
                let mut draft = Draft::new(EntryKind::TopUp, changes, &NO_METADATA);
                draft.field = "recurring_transaction_rules";
                draft.source = *source;
                draft.rule_id = Some(rule_id.clone());
                draft
            }
        };
        let status = match (status, command) {
            // A rule's paid top-up activates a pending wallet like any other.
            (WalletStatus::Pending, Command::RuleTopUp { .. })
                if lots::total(&draft.changes, CreditKind::Paid).is_some_and(|p| !p.is_zero()) =>
            {
                WalletStatus::Active
            }
            (status, _) => status,
        };
        self.entry(txn_id, draft, status, idempotency_key, now_ms)
    }

    /// Completes a draft into the entry that follows the current state.
    fn entry(
        &self,
        txn_id: TxnId,
        draft: Draft<'_>,
        status: WalletStatus,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> Result<Entry, WalletError> {
        let out_of_range = || WalletError::OutOfRange {
            field: draft.field,
            max: Credits::MAX,
        };
        let delta = Balance::of_changes(&draft.changes).ok_or_else(out_of_range)?;
        let after = self.balance.shifted(delta).ok_or_else(out_of_range)?;
        // The no-overdraft rule: whatever the command, no balance goes below zero.
        assert!(!after.paid.is_negative(), "paid balance below zero");
        assert!(!after.granted.is_negative(), "granted balance below zero");
        Ok(Entry {
            txn_id,
            wallet_id: self.id.clone(),
            seq: self.seq + 1,
            kind: draft.kind,
            delta,
            after,
            status,
            amount: draft.amount,
            metadata: draft.metadata.clone(),
            idempotency_key,
            created_at_ms: now_ms,
            lots: draft.changes,
            source: draft.source,
            rule_id: draft.rule_id,
            fee_type: draft.fee_type,
            terms: draft.terms,
        })
    }

    /// Moves the wallet to the state after `entry`, which must be the entry
    /// `apply` just returned for this state (or the next one of its ledger).
    pub fn advance(&mut self, entry: &Entry) {
        assert_eq!(entry.seq, self.seq + 1, "ledger entries apply in order");
        assert_eq!(entry.wallet_id, self.id, "entry of another wallet");
        assert!(
            lots::apply(&mut self.lots, &entry.lots),
            "entry draws from a lot that is not open"
        );
        if let Some(newest) = entry.lots.iter().map(|change| change.lot).max() {
            self.next_lot = self.next_lot.max(newest + 1);
        }
        if let Some(terms) = &entry.terms {
            self.terms = Arc::clone(terms);
        }
        self.balance = entry.after;
        self.status = entry.status;
        self.seq = entry.seq;
    }

    /// The lifecycle rules: what each status accepts, and the status after.
    fn status_after(&self, command: &Command) -> Result<WalletStatus, WalletError> {
        let wallet = self.id.clone();
        match (self.status, command) {
            (WalletStatus::Terminated, _) => Err(WalletError::Terminated { wallet }),
            (_, Command::Terminate | Command::ExpireWallet) => Ok(WalletStatus::Terminated),
            (WalletStatus::Pending, Command::Activate) => Ok(WalletStatus::Active),
            (status, Command::Activate) => Err(WalletError::AlreadyInStatus {
                wallet,
                status: status.as_str(),
            }),
            (WalletStatus::Pending, Command::Debit { .. } | Command::Void { .. }) => {
                Err(WalletError::NotActive {
                    wallet,
                    status: WalletStatus::Pending.as_str(),
                })
            }
            // A pending wallet becomes active on its first paid top-up.
            (WalletStatus::Pending, Command::TopUp { paid, .. }) if !paid.is_zero() => {
                Ok(WalletStatus::Active)
            }
            (WalletStatus::Pending, Command::Deposit { .. }) => Ok(WalletStatus::Active),
            (status, _) => Ok(status),
        }
    }

    /// New lots for a top-up: paid first, then granted, numbered in order.
    fn new_lots(
        &self,
        paid: Credits,
        granted: Credits,
        expires_at_ms: Option<i64>,
    ) -> Vec<LotChange> {
        [(CreditKind::Paid, paid), (CreditKind::Granted, granted)]
            .into_iter()
            .filter(|(_, credits)| !credits.is_zero())
            .zip(self.next_lot..)
            .map(|((kind, delta), lot)| LotChange {
                lot,
                kind,
                delta,
                expires_at_ms,
            })
            .collect()
    }

    /// The lot draws that remove `credits`: from `lot`, or in spend order.
    fn take(
        &self,
        credits: Credits,
        lot: Option<u64>,
        field: &'static str,
    ) -> Result<Vec<LotChange>, WalletError> {
        if credits.is_zero() || credits.is_negative() {
            return Err(WalletError::NotPositive { field });
        }
        let insufficient = |available: Credits| WalletError::InsufficientCredits {
            wallet: self.id.clone(),
            available,
            requested: credits,
        };
        match lot {
            Some(id) => {
                let open = self.lots.iter().find(|open| open.id == id).ok_or_else(|| {
                    WalletError::LotNotFound {
                        wallet: self.id.clone(),
                        lot: id,
                    }
                })?;
                lots::draw_from(&self.lots, id, credits).ok_or_else(|| insufficient(open.remaining))
            }
            None => {
                let available = self.balance.total();
                if credits > available {
                    return Err(insufficient(available));
                }
                lots::draw(&self.lots, credits).ok_or_else(|| insufficient(available))
            }
        }
    }

    /// Paid credits bought by a deposit of `amount` in this wallet's currency.
    fn credits_for_deposit(&self, amount: Decimal) -> Result<Credits, WalletError> {
        deposit_credits(amount, self.currency, self.rate_amount.to_decimal())
    }

    /// The threshold rules a change from `before` to `after` credits
    /// crosses: above the threshold before, at or below it after.
    pub fn thresholds_crossed(&self, before: Credits, after: Credits) -> Vec<String> {
        self.terms
            .rules
            .iter()
            .filter(|rule| match &rule.trigger {
                Trigger::Threshold { threshold } => before > *threshold && after <= *threshold,
                Trigger::Interval { .. } => false,
            })
            .map(|rule| rule.id.clone())
            .collect()
    }

    /// When the timer must next wake this wallet: its expiry, a lot's
    /// expiry, the notice `lead_ms` ahead of either, or an interval rule's
    /// due time. `None` for a terminated wallet or one with nothing timed.
    pub fn next_wake(&self, lead_ms: i64) -> Option<i64> {
        if self.status == WalletStatus::Terminated {
            return None;
        }
        let notice = |at: i64, notified: bool| (!notified).then(|| at.saturating_sub(lead_ms));
        let wallet = self.terms.expiration_at_ms.into_iter().flat_map(|at| {
            [Some(at), notice(at, self.expiry_notified)]
                .into_iter()
                .flatten()
        });
        let lots = self.lots.iter().flat_map(|lot| {
            lot.expires_at_ms
                .into_iter()
                .flat_map(|at| [Some(at), notice(at, lot.notified)].into_iter().flatten())
        });
        let rules = self
            .terms
            .rules
            .iter()
            .filter_map(|rule| rule.next_due_ms());
        wallet.chain(lots).chain(rules).min()
    }
}

/// Refuses a rate above [`RATE_MAX`]: with it, the currency value of any
/// balance fits a `Decimal` exactly.
pub fn check_rate(rate: Decimal) -> Result<(), WalletError> {
    if rate > Decimal::from(RATE_MAX) {
        return Err(WalletError::RateTooLarge {
            field: "rate_amount",
            max: RATE_MAX,
        });
    }
    Ok(())
}

/// Paid credits that a deposit of `amount` of `currency` buys at `rate`.
/// Refuses amounts that are not positive, have more decimals than the
/// currency's minor units, or buy less than one unit of the credit scale.
pub fn deposit_credits(
    amount: Decimal,
    currency: Currency,
    rate: Decimal,
) -> Result<Credits, WalletError> {
    if amount <= Decimal::ZERO {
        return Err(WalletError::NotPositive { field: "amount" });
    }
    let scale_max = currency.minor_units();
    if amount.normalize().scale() > scale_max {
        return Err(WalletError::CurrencyScale {
            field: "amount",
            currency,
            scale_max,
        });
    }
    let credits = credits_for_amount(amount, rate).ok_or(WalletError::OutOfRange {
        field: "amount",
        max: Credits::MAX,
    })?;
    if credits.is_zero() {
        return Err(WalletError::BelowOneCreditUnit { field: "amount" });
    }
    Ok(credits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credits(text: &str) -> Credits {
        Credits::parse(text).expect("valid credits")
    }

    fn wallet(paid: &str, granted: &str) -> Wallet {
        let spec = NewWallet {
            external_customer_id: "cus_1".into(),
            currency: Currency::parse("USD").expect("known"),
            rate_amount: Decimal::new(5, 1),
            paid_credits: credits(paid),
            granted_credits: credits(granted),
            status: WalletStatus::Active,
            terms: TermsSpec::default(),
        };
        let (wallet, entry) =
            Wallet::open(WalletId::generate(1), TxnId::generate(1), spec, None, 1).expect("opens");
        assert_eq!(entry.after, wallet.balance);
        wallet
    }

    /// Applies `command` and checks the resulting balances (paid, granted).
    fn check(wallet: &mut Wallet, command: Command, expect: Result<(&str, &str), WalletError>) {
        let result = wallet.apply(TxnId::generate(2), &command, None, 2);
        match (result, expect) {
            (Ok(entry), Ok((paid, granted))) => {
                assert_eq!(wallet.balance.shifted(entry.delta), Some(entry.after));
                wallet.advance(&entry);
                assert_eq!(wallet.balance.paid, credits(paid), "paid");
                assert_eq!(wallet.balance.granted, credits(granted), "granted");
            }
            (Err(got), Err(want)) => assert_eq!(got, want),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    fn debit(text: &str) -> Command {
        Command::Debit {
            credits: credits(text),
            metadata: Vec::new(),
            fee_type: FeeType::Charge,
        }
    }

    #[test]
    fn debit_takes_granted_before_paid() {
        let mut w = wallet("10", "3");
        check(&mut w, debit("2"), Ok(("10", "1")));
        check(&mut w, debit("1.5"), Ok(("9.5", "0")));
        check(&mut w, debit("9.5"), Ok(("0", "0")));
        assert_eq!(w.seq, 4);
    }

    #[test]
    fn insufficient_credits_changes_nothing() {
        let mut w = wallet("1", "0.000000001");
        let before = w.clone();
        let expect = WalletError::InsufficientCredits {
            wallet: w.id.clone(),
            available: credits("1.000000001"),
            requested: credits("1.000000002"),
        };
        check(&mut w, debit("1.000000002"), Err(expect));
        assert_eq!(w, before);
    }

    #[test]
    fn void_removes_granted_first() {
        let mut w = wallet("5", "2");
        let void = Command::Void {
            credits: credits("3"),
            metadata: Vec::new(),
            lot: None,
        };
        check(&mut w, void, Ok(("4", "0")));
    }

    #[test]
    fn top_up_needs_something_positive() {
        let mut w = wallet("0", "0");
        let empty = Command::TopUp {
            paid: Credits::ZERO,
            granted: Credits::ZERO,
            metadata: Vec::new(),
            expires_at_ms: None,
        };
        check(
            &mut w,
            empty,
            Err(WalletError::NotPositive {
                field: "paid_credits",
            }),
        );
        let top_up = Command::TopUp {
            paid: credits("0.000001"),
            granted: credits("7"),
            metadata: vec![("reason".into(), "signup".into())],
            expires_at_ms: None,
        };
        check(&mut w, top_up, Ok(("0.000001", "7")));
    }

    #[test]
    fn deposit_converts_at_the_rate_and_checks_currency_scale() {
        let mut w = wallet("0", "0");
        let deposit = |amount: &str| Command::Deposit {
            amount: amount.parse().expect("decimal"),
            metadata: Vec::new(),
        };
        // Rate 0.5 currency per credit: 10.00 buys 20 credits.
        check(&mut w, deposit("10.00"), Ok(("20", "0")));
        let usd = Currency::parse("USD").expect("known");
        let expect = WalletError::CurrencyScale {
            field: "amount",
            currency: usd,
            scale_max: 2,
        };
        check(&mut w, deposit("0.001"), Err(expect));
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    fn pending() -> Wallet {
        let spec = NewWallet {
            external_customer_id: "cus_1".into(),
            currency: Currency::parse("USD").expect("known"),
            rate_amount: Decimal::ONE,
            paid_credits: Credits::ZERO,
            granted_credits: Credits::parse("2").expect("valid"),
            status: WalletStatus::Pending,
            terms: TermsSpec::default(),
        };
        Wallet::open(WalletId::generate(1), TxnId::generate(1), spec, None, 1)
            .expect("opens")
            .0
    }

    fn run(wallet: &mut Wallet, command: Command) -> Result<Entry, WalletError> {
        let entry = wallet.apply(TxnId::generate(2), &command, None, 2)?;
        wallet.advance(&entry);
        Ok(entry)
    }

    fn debit(text: &str) -> Command {
        Command::Debit {
            credits: Credits::parse(text).expect("valid"),
            metadata: Vec::new(),
            fee_type: FeeType::Charge,
        }
    }

    #[test]
    fn pending_takes_top_ups_and_the_first_paid_one_activates() {
        let mut wallet = pending();
        assert!(matches!(
            run(&mut wallet, debit("1")),
            Err(WalletError::NotActive { .. })
        ));
        let granted_only = Command::TopUp {
            paid: Credits::ZERO,
            granted: Credits::parse("1").expect("valid"),
            metadata: Vec::new(),
            expires_at_ms: None,
        };
        run(&mut wallet, granted_only).expect("a granted top-up is taken");
        assert_eq!(wallet.status, WalletStatus::Pending);
        let paid = Command::TopUp {
            paid: Credits::parse("5").expect("valid"),
            granted: Credits::ZERO,
            metadata: Vec::new(),
            expires_at_ms: None,
        };
        assert_eq!(
            run(&mut wallet, paid).expect("paid").status,
            WalletStatus::Active
        );
        run(&mut wallet, debit("4")).expect("active wallets debit");
        assert!(matches!(
            run(&mut wallet, Command::Activate),
            Err(WalletError::AlreadyInStatus { .. })
        ));
    }

    #[test]
    fn termination_forfeits_everything_and_is_final() {
        let mut wallet = pending();
        run(&mut wallet, Command::Activate).expect("activates");
        let entry = run(&mut wallet, Command::Terminate).expect("terminates");
        assert_eq!(entry.kind, EntryKind::Terminate);
        assert_eq!(
            entry.delta.granted,
            Credits::parse("2").expect("valid").negated()
        );
        assert_eq!(wallet.balance, Balance::default());
        assert_eq!(wallet.status, WalletStatus::Terminated);
        for command in [debit("1"), Command::Activate, Command::Terminate] {
            assert!(matches!(
                run(&mut wallet, command),
                Err(WalletError::Terminated { .. })
            ));
        }
    }
}
