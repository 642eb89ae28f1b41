//! The wallet state machine: `Wallet`, the `Command`s that change it and the
//! ledger `Entry` each change produces. Pure: no actix, no I/O, no clock of its
//! own, so every rule (lot order, no overdraft, lifecycle, fee types) is tested
//! here alone.
//!
//! `Wallet::apply` decides and returns an `Entry`; `Wallet::advance` moves the
//! wallet to it. Every entry carries its deltas, the lots it touched and the
//! balances after it, so the ledger alone can recompute and check a wallet.
// #[PerformanceCriticalPath]

use crate::holds::{self, Hold, HoldMove, HoldStatus, HoldStep};
use crate::ids::{HoldId, PriceVersionId, TxnId, WalletId};
use crate::lots::{self, CreditKind, Lot, LotChange};
use crate::money::{credits_for_amount, Credits, Currency, Fixed, RATE_MAX, RATE_SCALE};
use crate::prices::{PriceError, PriceVersion, Rounding, Usage};
use crate::rules::{RuleRefusal, Trigger};
use crate::terms::{FeeType, Terms, TermsPatch, TermsSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

/// Most holds one wallet may have pending at once: its state is copied on
/// every turn, so it stays small; a gateway that needs more runs more
/// wallets (or captures faster).
pub const HOLDS_PENDING_MAX: usize = 10_000;

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
    /// Credits in pending holds, by kind; `balance` (the lots) is what is
    /// available, and the total is their sum. (Format 4.)
    pub held: Balance,
    /// Pending holds, oldest first. (Format 4.)
    pub holds: Vec<Hold>,
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
    /// Reserves credits for a call about to run (a gateway's "may this
    /// run?"): a number, or an estimate priced at the current version.
    Hold {
        /// What to hold.
        amount: HoldAmount,
        /// How long until the timer releases it.
        ttl_ms: i64,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Spends a pending hold: part, all, or more (the excess comes from the
    /// available credits); the rest goes back to its lots.
    Capture {
        /// The hold.
        hold: HoldId,
        /// What to spend.
        amount: CaptureAmount,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Gives a pending hold back.
    Release {
        /// The hold.
        hold: HoldId,
    },
    /// Spends the priced cost of one call's usage.
    Usage {
        /// Model, counts and the price version in force.
        priced: Priced,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Gives back a pending hold whose expiry came (the timer).
    ExpireHold {
        /// The hold.
        hold: HoldId,
    },
    /// A transfer's leg out of this wallet: paid credits only.
    TransferOut {
        /// Credits to give.
        credits: Credits,
        /// The transfer's id and the request's metadata.
        metadata: Metadata,
    },
    /// A transfer's leg into this wallet (or a refund of one): a new paid
    /// lot.
    TransferIn {
        /// Credits to receive.
        credits: Credits,
        /// The transfer's id and role.
        metadata: Metadata,
    },
    /// A capture of a hold that had expired: a debit linked to it (made by
    /// the actor from a `Capture`, never sent by a client).
    LateCapture {
        /// The hold.
        hold: HoldId,
        /// What the hold held (a capture without an amount spends that).
        held: Credits,
        /// What to spend.
        amount: CaptureAmount,
        /// Client metadata.
        metadata: Metadata,
    },
}

/// What a hold reserves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldAmount {
    /// This many credits.
    Credits(Credits),
    /// The cost of the largest call the gateway allows (max input and output
    /// tokens), priced at the version in force.
    Estimate(Priced),
}

/// What a capture spends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureAmount {
    /// The whole hold.
    Whole,
    /// This many credits.
    Credits(Credits),
    /// The cost of this usage, at the version the hold was priced with.
    Usage(Priced),
}

/// Usage of one model to be priced. The engine looks the price version up
/// before the command reaches the wallet; it is not part of the request's
/// fingerprint (a retry after a price change is the same request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// The model, as the price book names it.
    pub model: String,
    /// The counts.
    pub usage: Usage,
    /// The version that prices it.
    #[serde(skip)]
    pub price: Option<Arc<PriceVersion>>,
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
            | Command::Debit { metadata, .. }
            | Command::Hold { metadata, .. }
            | Command::Capture { metadata, .. }
            | Command::Usage { metadata, .. } => metadata,
            _ => return std::borrow::Cow::Borrowed(self),
        };
        if metadata.is_sorted() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut owned = self.clone();
        if let Command::TopUp { metadata, .. }
        | Command::Deposit { metadata, .. }
        | Command::Void { metadata, .. }
        | Command::Debit { metadata, .. }
        | Command::Hold { metadata, .. }
        | Command::Capture { metadata, .. }
        | Command::Usage { metadata, .. } = &mut owned
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
    /// Credits moved from the lots into a hold (total unchanged).
    Hold,
    /// A hold's credits went back to their lots, by request or at its
    /// expiry (total unchanged).
    Release,
    /// Paid credits given by a transfer.
    TransferOut,
    /// Paid credits received by a transfer (or refunded to its source).
    TransferIn,
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
            EntryKind::Hold => "HOLD",
            EntryKind::Release => "RELEASE",
            EntryKind::TransferOut => "TRANSFER_OUT",
            EntryKind::TransferIn => "TRANSFER_IN",
        }
    }

    /// Whether credits flow into the wallet.
    pub fn is_inbound(self) -> bool {
        match self {
            EntryKind::Open
            | EntryKind::TopUp
            | EntryKind::Deposit
            | EntryKind::Activate
            | EntryKind::Update
            | EntryKind::Release
            | EntryKind::TransferIn => true,
            EntryKind::Void
            | EntryKind::Debit
            | EntryKind::Terminate
            | EntryKind::Expire
            | EntryKind::Hold
            | EntryKind::TransferOut => false,
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
    /// What the entry did to a hold, if anything. (Format 4.)
    pub hold: Option<Box<HoldMove>>,
    /// Credits in pending holds after the change; `after` is what is
    /// available, and the total is their sum. (Format 4; format-3 entries
    /// read as zero, which they were: format 3 had no holds.)
    pub held: Balance,
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
    #[error("hold {hold} is not pending in this wallet")]
    HoldNotPending { hold: HoldId },
    #[error("hold {hold} is already {}", status.as_str())]
    HoldResolved { hold: HoldId, status: HoldStatus },
    #[error("wallet {wallet} has {count} pending holds: capture or release them first")]
    HoldsPending { wallet: WalletId, count: usize },
    #[error("wallet {wallet} already has {max} pending holds")]
    TooManyHolds { wallet: WalletId, max: usize },
    #[error("{field}: {message}")]
    CurrencyMismatch {
        field: &'static str,
        message: String,
    },
    #[error("no price for model {model}")]
    UnknownModel { model: String },
    #[error("{field}: {error}")]
    Price {
        field: &'static str,
        error: PriceError,
    },
}

/// An entry's parts before it gets its id, sequence and balances.
struct Draft<'a> {
    kind: EntryKind,
    /// The request field named when the result is out of range.
    field: &'static str,
    changes: Vec<LotChange>,
    amount: Option<Decimal>,
    metadata: Cow<'a, Metadata>,
    source: Source,
    rule_id: Option<String>,
    fee_type: Option<FeeType>,
    terms: Option<Arc<Terms>>,
    hold: Option<HoldDraft>,
}

/// A hold move before the held balance after it is known.
struct HoldDraft {
    id: HoldId,
    step: HoldStep,
    parts: Vec<LotChange>,
    credits: Credits,
    expires_at_ms: i64,
    price_version: Option<PriceVersionId>,
}

impl<'a> Draft<'a> {
    fn new(kind: EntryKind, changes: Vec<LotChange>, metadata: &'a Metadata) -> Draft<'a> {
        Draft {
            kind,
            field: "credits",
            changes,
            amount: None,
            metadata: Cow::Borrowed(metadata),
            source: Source::Manual,
            rule_id: None,
            fee_type: None,
            terms: None,
            hold: None,
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
            held: Balance::default(),
            holds: Vec::new(),
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
                // Held credits belong to calls in flight: those resolve first.
                if !self.holds.is_empty() {
                    return Err(WalletError::HoldsPending {
                        wallet: self.id.clone(),
                        count: self.holds.len(),
                    });
                }
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
            Command::Hold {
                amount,
                ttl_ms,
                metadata,
            } => self.place_hold(txn_id.clone(), amount, *ttl_ms, metadata, now_ms)?,
            Command::Capture {
                hold,
                amount,
                metadata,
            } => self.capture(hold, amount, metadata)?,
            Command::Release { hold } | Command::ExpireHold { hold } => {
                let pending = self.pending_hold(hold)?;
                let mut draft = Draft::new(EntryKind::Release, pending.parts.clone(), &NO_METADATA);
                let step = if matches!(command, Command::Release { .. }) {
                    HoldStep::Release
                } else {
                    draft.source = Source::Expiry;
                    HoldStep::Expire
                };
                draft.hold = Some(HoldDraft {
                    step,
                    parts: holds::emptied(&pending.parts),
                    credits: pending.credits,
                    ..HoldDraft::of(pending)
                });
                draft
            }
            Command::Usage { priced, metadata } => {
                self.check_fee_type(FeeType::Charge)?;
                let (credits, usage) = self.price(priced, "usage")?;
                let changes = self.take_any(credits)?;
                let mut draft = Draft::new(EntryKind::Debit, changes, metadata);
                draft.metadata = Cow::Owned(with_usage(metadata, usage));
                draft.fee_type = Some(FeeType::Charge);
                draft
            }
            Command::TransferOut { credits, metadata } => {
                if credits.is_zero() || credits.is_negative() {
                    return Err(WalletError::NotPositive { field: "credits" });
                }
                let available = self.balance.paid;
                let changes = lots::draw_kind(&self.lots, CreditKind::Paid, *credits)
                    .filter(|_| *credits <= available)
                    .ok_or_else(|| WalletError::InsufficientCredits {
                        wallet: self.id.clone(),
                        available,
                        requested: *credits,
                    })?;
                Draft::new(EntryKind::TransferOut, changes, metadata)
            }
            Command::TransferIn { credits, metadata } => {
                if credits.is_zero() || credits.is_negative() {
                    return Err(WalletError::NotPositive { field: "credits" });
                }
                let changes = self.new_lots(*credits, Credits::ZERO, None);
                Draft::new(EntryKind::TransferIn, changes, metadata)
            }
            Command::LateCapture {
                hold,
                held,
                amount,
                metadata,
            } => {
                let (credits, usage) = self.capture_credits(*held, amount)?;
                let changes = self.take_any(credits)?;
                let mut draft = Draft::new(EntryKind::Debit, changes, metadata);
                draft.metadata = Cow::Owned(with_usage(metadata, usage));
                draft.fee_type = Some(FeeType::Charge);
                draft.hold = Some(HoldDraft {
                    id: hold.clone(),
                    step: HoldStep::LateCapture,
                    parts: Vec::new(),
                    credits,
                    expires_at_ms: now_ms,
                    price_version: price_of(amount),
                });
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
        let (hold, held) = match draft.hold {
            None => (None, self.held),
            Some(hold) => {
                let moved = Balance::of_changes(&hold.parts).ok_or_else(out_of_range)?;
                let held = self.held.shifted(moved).ok_or_else(out_of_range)?;
                // Available plus held stays within range: a hold moves credits
                // within the total, a capture shrinks it.
                held.total()
                    .checked_add(after.total())
                    .ok_or_else(out_of_range)?;
                assert!(
                    !held.paid.is_negative() && !held.granted.is_negative(),
                    "held balance below zero"
                );
                let hold = Box::new(HoldMove {
                    id: hold.id,
                    step: hold.step,
                    parts: hold.parts,
                    credits: hold.credits,
                    expires_at_ms: hold.expires_at_ms,
                    price_version: hold.price_version,
                });
                (Some(hold), held)
            }
        };
        Ok(Entry {
            txn_id,
            wallet_id: self.id.clone(),
            seq: self.seq + 1,
            kind: draft.kind,
            delta,
            after,
            status,
            amount: draft.amount,
            metadata: draft.metadata.into_owned(),
            idempotency_key,
            created_at_ms: now_ms,
            lots: draft.changes,
            source: draft.source,
            rule_id: draft.rule_id,
            fee_type: draft.fee_type,
            terms: draft.terms,
            hold,
            held,
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
        if let Some(hold) = &entry.hold {
            match hold.step {
                HoldStep::Place => self.holds.push(Hold {
                    id: hold.id.clone(),
                    credits: hold.credits,
                    parts: hold.parts.clone(),
                    expires_at_ms: hold.expires_at_ms,
                    price_version: hold.price_version.clone(),
                    placed_seq: entry.seq,
                }),
                HoldStep::Capture | HoldStep::Release | HoldStep::Expire => {
                    let before = self.holds.len();
                    self.holds.retain(|pending| pending.id != hold.id);
                    assert_eq!(
                        self.holds.len() + 1,
                        before,
                        "entry resolves a hold that is not pending"
                    );
                }
                HoldStep::LateCapture => {}
            }
        }
        self.held = entry.held;
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
            (
                WalletStatus::Pending,
                Command::Debit { .. }
                | Command::Void { .. }
                | Command::Hold { .. }
                | Command::Capture { .. }
                | Command::Usage { .. }
                | Command::LateCapture { .. }
                | Command::TransferOut { .. },
            ) => Err(WalletError::NotActive {
                wallet,
                status: WalletStatus::Pending.as_str(),
            }),
            // A pending wallet becomes active on its first paid top-up.
            (WalletStatus::Pending, Command::TopUp { paid, .. }) if !paid.is_zero() => {
                Ok(WalletStatus::Active)
            }
            (WalletStatus::Pending, Command::Deposit { .. } | Command::TransferIn { .. }) => {
                Ok(WalletStatus::Active)
            }
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

    /// The wallet as an event shows it: everything but the list of pending
    /// holds (their sum is in `held`), so a snapshot stays small however
    /// many calls are in flight.
    pub fn snapshot(&self) -> Wallet {
        Wallet {
            id: self.id.clone(),
            external_customer_id: self.external_customer_id.clone(),
            currency: self.currency,
            rate_amount: self.rate_amount,
            status: self.status,
            balance: self.balance,
            created_at_ms: self.created_at_ms,
            seq: self.seq,
            terms: Arc::clone(&self.terms),
            lots: self.lots.clone(),
            next_lot: self.next_lot,
            wake_at_ms: self.wake_at_ms,
            expiry_notified: self.expiry_notified,
            held: self.held,
            holds: Vec::new(),
        }
    }

    /// The pending hold `id`.
    pub fn pending_hold(&self, id: &HoldId) -> Result<&Hold, WalletError> {
        self.holds
            .iter()
            .find(|hold| &hold.id == id)
            .ok_or_else(|| WalletError::HoldNotPending { hold: id.clone() })
    }

    /// The wallet's total: available plus held.
    pub fn total(&self) -> Balance {
        Balance {
            paid: self
                .balance
                .paid
                .checked_add(self.held.paid)
                .unwrap_or(Credits::MAX),
            granted: self
                .balance
                .granted
                .checked_add(self.held.granted)
                .unwrap_or(Credits::MAX),
        }
    }

    fn check_fee_type(&self, fee_type: FeeType) -> Result<(), WalletError> {
        if self.terms.fee_types.contains(fee_type) {
            Ok(())
        } else {
            Err(WalletError::FeeTypeNotCovered {
                fee_type: fee_type.as_str(),
            })
        }
    }

    /// Draws `credits` in spend order; nothing for zero (a call that cost
    /// nothing is still recorded).
    fn take_any(&self, credits: Credits) -> Result<Vec<LotChange>, WalletError> {
        if credits.is_zero() {
            return Ok(Vec::new());
        }
        self.take(credits, None, "credits")
    }

    /// The credits `priced` costs at this wallet's rate, rounded up (a call
    /// is never charged less than it cost), and the metadata that records
    /// how: model, counts, version and the cost's parts.
    fn price(
        &self,
        priced: &Priced,
        field: &'static str,
    ) -> Result<(Credits, Metadata), WalletError> {
        let version = priced
            .price
            .as_deref()
            .ok_or_else(|| WalletError::UnknownModel {
                model: priced.model.clone(),
            })?;
        let price_error = |error| WalletError::Price { field, error };
        let cost = crate::prices::cost(version, &priced.usage).map_err(price_error)?;
        let credits = crate::prices::credits_for_cost(
            &cost,
            self.currency,
            self.rate_amount.to_decimal(),
            Rounding::Up,
        )
        .map_err(price_error)?;
        let usage = &priced.usage;
        let record = vec![
            ("model".to_owned(), priced.model.clone()),
            ("price_version".to_owned(), version.id.to_string()),
            ("input_tokens".to_owned(), usage.input_tokens.to_string()),
            (
                "cached_input_tokens".to_owned(),
                usage.cached_input_tokens.to_string(),
            ),
            (
                "cache_write_tokens".to_owned(),
                usage.cache_write_tokens.to_string(),
            ),
            ("output_tokens".to_owned(), usage.output_tokens.to_string()),
            (
                "reasoning_tokens".to_owned(),
                usage.reasoning_tokens.to_string(),
            ),
            ("requests".to_owned(), usage.requests.to_string()),
            ("cost_currency".to_owned(), cost.currency.to_string()),
            ("cost_input".to_owned(), cost.input.to_string()),
            (
                "cost_cached_input".to_owned(),
                cost.cached_input.to_string(),
            ),
            ("cost_cache_write".to_owned(), cost.cache_write.to_string()),
            ("cost_output".to_owned(), cost.output.to_string()),
            ("cost_reasoning".to_owned(), cost.reasoning.to_string()),
            ("cost_per_request".to_owned(), cost.per_request.to_string()),
            ("cost_total".to_owned(), cost.total.to_string()),
        ];
        Ok((credits, record))
    }

    /// What a capture spends, and the usage record of a priced one.
    fn capture_credits(
        &self,
        held: Credits,
        amount: &CaptureAmount,
    ) -> Result<(Credits, Metadata), WalletError> {
        match amount {
            CaptureAmount::Whole => Ok((held, Vec::new())),
            CaptureAmount::Credits(credits) => {
                if credits.is_negative() {
                    return Err(WalletError::NotPositive { field: "credits" });
                }
                Ok((*credits, Vec::new()))
            }
            CaptureAmount::Usage(priced) => self.price(priced, "usage"),
        }
    }

    /// A new hold of `amount`, taken from the lots in spend order.
    fn place_hold<'a>(
        &self,
        txn_id: TxnId,
        amount: &HoldAmount,
        ttl_ms: i64,
        metadata: &'a Metadata,
        now_ms: i64,
    ) -> Result<Draft<'a>, WalletError> {
        self.check_fee_type(FeeType::Charge)?;
        if self.holds.len() >= HOLDS_PENDING_MAX {
            return Err(WalletError::TooManyHolds {
                wallet: self.id.clone(),
                max: HOLDS_PENDING_MAX,
            });
        }
        let (credits, record, price_version) = match amount {
            HoldAmount::Credits(credits) => (*credits, Vec::new(), None),
            HoldAmount::Estimate(priced) => {
                // The most a call within the maxima can cost: its input tokens
                // at the dearest input price (plain, cached or cache write),
                // its output tokens at the dearer of output and reasoning.
                let ceiling = Priced {
                    price: priced
                        .price
                        .as_deref()
                        .map(|price| Arc::new(price.ceiling())),
                    ..priced.clone()
                };
                let (credits, mut record) = self.price(&ceiling, "model")?;
                // The record names the version itself, not the ceiling's copy.
                record.push(("priced_as".to_owned(), "ceiling".to_owned()));
                let version = priced.price.as_ref().map(|price| price.id.clone());
                (credits, record, version)
            }
        };
        // A hold by model names no credits: its refusals name the tokens.
        let field = match amount {
            HoldAmount::Credits(_) => "credits",
            HoldAmount::Estimate(_) => "max_output_tokens",
        };
        let draws = self.take(credits, None, field)?;
        let mut draft = Draft::new(EntryKind::Hold, draws, metadata);
        if !record.is_empty() {
            draft.metadata = Cow::Owned(with_usage(metadata, record));
        }
        let parts = holds::emptied(&draft.changes);
        draft.hold = Some(HoldDraft {
            // A hold is named after the entry that placed it.
            id: HoldId::from_bytes(txn_id.to_bytes()),
            step: HoldStep::Place,
            parts,
            credits,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            price_version,
        });
        Ok(draft)
    }

    /// Spends a pending hold: what it does not spend goes back to its lots;
    /// beyond it, the excess is drawn from the available credits, and when
    /// they do not cover it nothing changes (the hold stays pending).
    fn capture<'a>(
        &self,
        id: &HoldId,
        amount: &CaptureAmount,
        metadata: &'a Metadata,
    ) -> Result<Draft<'a>, WalletError> {
        let pending = self.pending_hold(id)?;
        let (credits, record) = self.capture_credits(pending.credits, amount)?;
        let changes = match credits.checked_sub(pending.credits) {
            Some(excess) if excess.is_negative() || excess.is_zero() => {
                holds::returned(&pending.parts, credits)
            }
            Some(excess) => self.take(excess, None, "credits")?,
            None => {
                return Err(WalletError::OutOfRange {
                    field: "credits",
                    max: Credits::MAX,
                })
            }
        };
        let mut draft = Draft::new(EntryKind::Debit, changes, metadata);
        if !record.is_empty() {
            draft.metadata = Cow::Owned(with_usage(metadata, record));
        }
        draft.fee_type = Some(FeeType::Charge);
        draft.hold = Some(HoldDraft {
            step: HoldStep::Capture,
            parts: holds::emptied(&pending.parts),
            credits,
            ..HoldDraft::of(pending)
        });
        Ok(draft)
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
        let holds = self.holds.iter().map(|hold| hold.expires_at_ms);
        wallet.chain(lots).chain(rules).chain(holds).min()
    }
}

impl HoldDraft {
    /// A move of `hold` (its parts and credits to be set by the step).
    fn of(hold: &Hold) -> HoldDraft {
        HoldDraft {
            id: hold.id.clone(),
            step: HoldStep::Place,
            parts: Vec::new(),
            credits: hold.credits,
            expires_at_ms: hold.expires_at_ms,
            price_version: hold.price_version.clone(),
        }
    }
}

/// The client's metadata followed by a usage record.
fn with_usage(metadata: &Metadata, record: Metadata) -> Metadata {
    let mut all = metadata.clone();
    all.extend(record);
    all
}

/// The price version a capture amount is priced at.
fn price_of(amount: &CaptureAmount) -> Option<PriceVersionId> {
    match amount {
        CaptureAmount::Usage(priced) => priced.price.as_ref().map(|price| price.id.clone()),
        _ => None,
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

    fn place(wallet: &mut Wallet, text: &str, ttl_ms: i64) -> HoldId {
        let command = Command::Hold {
            amount: HoldAmount::Credits(credits(text)),
            ttl_ms,
            metadata: Vec::new(),
        };
        let entry = wallet
            .apply(TxnId::generate(2), &command, None, 2)
            .expect("placed");
        wallet.advance(&entry);
        entry.hold.expect("hold move").id
    }

    fn capture(hold: &HoldId, text: &str) -> Command {
        Command::Capture {
            hold: hold.clone(),
            amount: CaptureAmount::Credits(credits(text)),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn a_hold_moves_credits_from_available_to_held_and_back() {
        let mut w = wallet("10", "3");
        let hold = place(&mut w, "4", 1_000);
        // Granted first: 3 granted and 1 paid are held.
        assert_eq!(
            (w.balance.paid, w.balance.granted),
            (credits("9"), credits("0"))
        );
        assert_eq!((w.held.paid, w.held.granted), (credits("1"), credits("3")));
        assert_eq!(w.total().total(), credits("13"));
        assert_eq!(w.next_wake(0), Some(1_002), "the timer must release it");
        // A debit sees only what is available.
        let too_much = w.apply(TxnId::generate(3), &debit("9.5"), None, 3);
        assert!(matches!(
            too_much,
            Err(WalletError::InsufficientCredits { .. })
        ));
        // Capture 3.5: spends the 3 granted and 0.5 paid, gives 0.5 back.
        check(&mut w, capture(&hold, "3.5"), Ok(("9.5", "0")));
        assert_eq!(w.held, Balance::default());
        assert!(w.holds.is_empty());
        assert_eq!(w.next_wake(0), None);
        // Resolved: not pending any more.
        assert_eq!(
            w.apply(
                TxnId::generate(4),
                &Command::Release { hold: hold.clone() },
                None,
                4
            ),
            Err(WalletError::HoldNotPending { hold })
        );
    }

    #[test]
    fn a_capture_beyond_its_hold_draws_the_excess_or_changes_nothing() {
        let mut w = wallet("5", "0");
        let hold = place(&mut w, "2", 1_000);
        let before = w.clone();
        // 2 held + 3 available = 5 at most.
        let refused = w.apply(TxnId::generate(3), &capture(&hold, "5.000000001"), None, 3);
        assert!(matches!(
            refused,
            Err(WalletError::InsufficientCredits { .. })
        ));
        assert_eq!(w, before);
        check(&mut w, capture(&hold, "5"), Ok(("0", "0")));
        assert_eq!(w.held, Balance::default());
    }

    #[test]
    fn a_release_reopens_the_lots_it_came_from_and_terminate_waits_for_holds() {
        let mut w = wallet("2", "0");
        let hold = place(&mut w, "2", 1_000);
        assert!(w.lots.is_empty(), "the only lot was emptied into the hold");
        assert!(matches!(
            w.apply(TxnId::generate(3), &Command::Terminate, None, 3),
            Err(WalletError::HoldsPending { count: 1, .. })
        ));
        check(&mut w, Command::ExpireHold { hold }, Ok(("2", "0")));
        assert_eq!(w.lots.len(), 1);
        assert_eq!(w.lots[0].id, 1, "back into lot 1, not a new lot");
        check(&mut w, Command::Terminate, Ok(("0", "0")));
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
