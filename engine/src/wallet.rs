//! The wallet state machine: `Wallet`, the `Command`s that change it and the
//! ledger `Entry` each change produces. Pure: no actix, no I/O, no clock of its
//! own, so every rule (granted before paid, no overdraft) is tested here alone.
//!
//! `Wallet::apply` decides and returns an `Entry`; `Wallet::advance` moves the
//! wallet to the entry's balances. Every entry carries both its deltas and the
//! balances after it, so the ledger alone can recompute and check a wallet.
// #[PerformanceCriticalPath]

use crate::ids::{TxnId, WalletId};
use crate::money::{credits_for_amount, Credits, Currency, Fixed, RATE_SCALE};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
    /// Paid plus granted.
    pub fn total(self) -> Credits {
        // Both are bounded by the parser's range, so the sum always fits.
        self.paid.checked_add(self.granted).unwrap_or(Credits::ZERO)
    }

    /// Adds a signed delta to each side; `None` on overflow.
    fn shifted(self, delta: Balance) -> Option<Balance> {
        Some(Balance {
            paid: self.paid.checked_add(delta.paid)?,
            granted: self.granted.checked_add(delta.granted)?,
        })
    }
}

/// A customer's wallet as stored: configuration, balances and the sequence
/// number of its last ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// Server-generated id.
    pub id: WalletId,
    /// The customer this wallet belongs to, in the client's own terms.
    pub external_customer_id: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// ISO 4217 currency of the money side.
    pub currency: Currency,
    /// Currency price of one credit.
    pub rate_amount: Fixed,
    /// Lifecycle state.
    pub status: WalletStatus,
    /// Current balances.
    pub balance: Balance,
    /// When the wallet was created (ms since the epoch).
    pub created_at_ms: i64,
    /// Sequence number of the last ledger entry; every change adds one.
    pub seq: u64,
}

/// What a new wallet is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWallet {
    /// The customer in the client's terms.
    pub external_customer_id: String,
    /// Optional display name.
    pub name: Option<String>,
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
}

/// A change a client asks of one wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Adds credits (seed 001 `TOPUP`).
    TopUp {
        /// Paid credits to add.
        paid: Credits,
        /// Granted credits to add.
        granted: Credits,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Adds the paid credits that `amount` of currency buys (seed 000 deposit).
    Deposit {
        /// Currency amount, at most the currency's minor units.
        #[serde(with = "crate::money::decimal_serde")]
        amount: Decimal,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Removes credits, granted first (seed 001 `VOID`).
    Void {
        /// Credits to remove.
        credits: Credits,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Spends credits on usage, granted first.
    Debit {
        /// Credits to spend.
        credits: Credits,
        /// Client metadata (model, token counts, ...).
        metadata: Metadata,
    },
    /// Makes a pending wallet active.
    Activate,
    /// Closes the wallet for good, forfeiting its remaining credits.
    Terminate,
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
        }
    }

    /// Whether credits flow into the wallet.
    pub fn is_inbound(self) -> bool {
        match self {
            EntryKind::Open | EntryKind::TopUp | EntryKind::Deposit | EntryKind::Activate => true,
            EntryKind::Void | EntryKind::Debit | EntryKind::Terminate => false,
        }
    }
}

/// One immutable ledger entry. `delta` is signed; `after` is the balance once
/// the entry is applied, so `before + delta == after` is checkable per entry.
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
    /// Signed change of each balance.
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
    /// The client's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// When the change was made (ms since the epoch).
    pub created_at_ms: i64,
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
    #[error("the resulting balance is out of range")]
    Overflow,
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
}

impl Wallet {
    /// Builds a new wallet and its opening ledger entry (seq 1), which carries
    /// any starting credits.
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
        let rate_amount = Fixed::new(spec.rate_amount, RATE_SCALE).ok_or(WalletError::Overflow)?;
        let opening = Balance {
            paid: spec.paid_credits,
            granted: spec.granted_credits,
        };
        assert!(!opening.paid.is_negative() && !opening.granted.is_negative());
        assert!(
            spec.status != WalletStatus::Terminated,
            "a wallet is never created terminated"
        );
        let entry = Entry {
            txn_id,
            wallet_id: id.clone(),
            seq: 1,
            kind: EntryKind::Open,
            delta: opening,
            after: opening,
            status: spec.status,
            amount: None,
            metadata: Vec::new(),
            idempotency_key,
            created_at_ms: now_ms,
        };
        let wallet = Wallet {
            id,
            external_customer_id: spec.external_customer_id,
            name: spec.name,
            currency: spec.currency,
            rate_amount,
            status: spec.status,
            balance: opening,
            created_at_ms: now_ms,
            seq: 1,
        };
        Ok((wallet, entry))
    }

    /// Decides `command` against the current state. Returns the entry that
    /// records it; the wallet itself is unchanged until [`Wallet::advance`].
    pub fn apply(
        &self,
        txn_id: TxnId,
        command: &Command,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> Result<Entry, WalletError> {
        let status = self.status_after(command)?;
        let (kind, delta, amount, metadata) = match command {
            Command::TopUp {
                paid,
                granted,
                metadata,
            } => {
                if paid.is_zero() && granted.is_zero() {
                    return Err(WalletError::NotPositive {
                        field: "paid_credits",
                    });
                }
                let delta = Balance {
                    paid: *paid,
                    granted: *granted,
                };
                (EntryKind::TopUp, delta, None, metadata)
            }
            Command::Deposit { amount, metadata } => {
                let paid = self.credits_for_deposit(*amount)?;
                let delta = Balance {
                    paid,
                    granted: Credits::ZERO,
                };
                (EntryKind::Deposit, delta, Some(*amount), metadata)
            }
            Command::Void { credits, metadata } => {
                let delta = self.take(*credits, "credits_to_void")?;
                (EntryKind::Void, delta, None, metadata)
            }
            Command::Debit { credits, metadata } => {
                let delta = self.take(*credits, "credits")?;
                (EntryKind::Debit, delta, None, metadata)
            }
            Command::Activate => (EntryKind::Activate, Balance::default(), None, &NO_METADATA),
            Command::Terminate => {
                // Everything left is forfeited, with an entry that says so.
                let delta = Balance {
                    paid: self.balance.paid.negated(),
                    granted: self.balance.granted.negated(),
                };
                (EntryKind::Terminate, delta, None, &NO_METADATA)
            }
        };
        let after = self.balance.shifted(delta).ok_or(WalletError::Overflow)?;
        // The no-overdraft rule: whatever the command, no balance goes below zero.
        assert!(!after.paid.is_negative(), "paid balance below zero");
        assert!(!after.granted.is_negative(), "granted balance below zero");
        Ok(Entry {
            txn_id,
            wallet_id: self.id.clone(),
            seq: self.seq + 1,
            kind,
            delta,
            after,
            status,
            amount,
            metadata: metadata.clone(),
            idempotency_key,
            created_at_ms: now_ms,
        })
    }

    /// Moves the wallet to the state after `entry`, which must be the entry
    /// `apply` just returned for this state.
    pub fn advance(&mut self, entry: &Entry) {
        assert_eq!(entry.seq, self.seq + 1, "ledger entries apply in order");
        assert_eq!(entry.wallet_id, self.id, "entry of another wallet");
        self.balance = entry.after;
        self.status = entry.status;
        self.seq = entry.seq;
    }

    /// The lifecycle rules: what each status accepts, and the status after.
    fn status_after(&self, command: &Command) -> Result<WalletStatus, WalletError> {
        let wallet = self.id.clone();
        match (self.status, command) {
            (WalletStatus::Terminated, _) => Err(WalletError::Terminated { wallet }),
            (_, Command::Terminate) => Ok(WalletStatus::Terminated),
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

    /// The signed delta that removes `credits`, granted first, then paid.
    fn take(&self, credits: Credits, field: &'static str) -> Result<Balance, WalletError> {
        if credits.is_zero() || credits.is_negative() {
            return Err(WalletError::NotPositive { field });
        }
        let available = self.balance.total();
        if credits > available {
            return Err(WalletError::InsufficientCredits {
                wallet: self.id.clone(),
                available,
                requested: credits,
            });
        }
        let from_granted = credits.min(self.balance.granted);
        let from_paid = credits
            .checked_sub(from_granted)
            .ok_or(WalletError::Overflow)?;
        debug_assert!(from_paid <= self.balance.paid);
        Ok(Balance {
            paid: from_paid.negated(),
            granted: from_granted.negated(),
        })
    }

    /// Paid credits bought by a deposit of `amount` in this wallet's currency.
    fn credits_for_deposit(&self, amount: Decimal) -> Result<Credits, WalletError> {
        deposit_credits(amount, self.currency, self.rate_amount.to_decimal())
    }
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
    let credits = credits_for_amount(amount, rate).ok_or(WalletError::Overflow)?;
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
            name: None,
            currency: Currency::parse("USD").expect("known"),
            rate_amount: Decimal::new(5, 1),
            paid_credits: credits(paid),
            granted_credits: credits(granted),
            status: WalletStatus::Active,
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
            name: None,
            currency: Currency::parse("USD").expect("known"),
            rate_amount: Decimal::ONE,
            paid_credits: Credits::ZERO,
            granted_credits: Credits::parse("2").expect("valid"),
            status: WalletStatus::Pending,
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
        };
        run(&mut wallet, granted_only).expect("a granted top-up is taken");
        assert_eq!(wallet.status, WalletStatus::Pending);
        let paid = Command::TopUp {
            paid: Credits::parse("5").expect("valid"),
            granted: Credits::ZERO,
            metadata: Vec::new(),
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
