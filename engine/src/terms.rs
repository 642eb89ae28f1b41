//! A wallet's terms: what its owner configures and may change later (seed
//! 003): name, metadata, `expiration_at`, the fee types its credits pay for
//! (`applies_to.fee_types`) and its automatic top-up rules.
//!
//! `TermsSpec` is what a client sends at creation; `TermsPatch` is a `PUT`,
//! where an absent field keeps its value. Both become `Terms` through
//! [`Terms::build`], which checks what depends on the clock (an expiry must
//! lie in the future) and keeps the schedule of rules that did not change.

use crate::ids::RuleId;
use crate::money::Credits;
use crate::rules::{Interval, Method, Rule, Trigger};
use crate::wallet::{Metadata, WalletError};
use serde::{Deserialize, Serialize};

/// Top-up rules one wallet may have. Each is checked on every change
/// (thresholds) or wake-up (intervals) inside the wallet's actor, so the
/// list is bounded like every other per-request cost.
pub const RULES_MAX: usize = 25;

/// A kind of fee a debit pays (seed 003 `applies_to.fee_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FeeType {
    Subscription,
    Commitment,
    Charge,
}

impl FeeType {
    /// Every fee type, in API order.
    pub const ALL: [FeeType; 3] = [FeeType::Subscription, FeeType::Commitment, FeeType::Charge];

    /// The upper-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FeeType::Subscription => "SUBSCRIPTION",
            FeeType::Commitment => "COMMITMENT",
            FeeType::Charge => "CHARGE",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<FeeType> {
        FeeType::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    fn bit(self) -> u8 {
        match self {
            FeeType::Subscription => 1,
            FeeType::Commitment => 2,
            FeeType::Charge => 4,
        }
    }
}

/// A set of fee types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTypes(u8);

impl FeeTypes {
    /// Every fee type: the default.
    pub const ALL: FeeTypes = FeeTypes(7);

    /// The set of `kinds`.
    pub fn of(kinds: &[FeeType]) -> FeeTypes {
        FeeTypes(kinds.iter().fold(0, |bits, kind| bits | kind.bit()))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: FeeType) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The members, in API order.
    pub fn iter(self) -> impl Iterator<Item = FeeType> {
        FeeType::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }

    /// True for the empty set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A wallet's configurable terms, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Display name.
    pub name: Option<String>,
    /// Client metadata.
    pub metadata: Metadata,
    /// When the wallet terminates and its credits are forfeited.
    pub expiration_at_ms: Option<i64>,
    /// The fees its credits pay for.
    pub fee_types: FeeTypes,
    /// Automatic top-up rules.
    pub rules: Vec<Rule>,
}

/// What triggers a rule, as a client states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerSpec {
    /// `started_at` absent: the first top-up is one interval from now.
    Interval {
        interval: Interval,
        started_at_ms: Option<i64>,
    },
    Threshold {
        threshold: Credits,
    },
}

/// A rule as a client states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Names an existing rule to keep its id (and, if its trigger is
    /// unchanged, its schedule); absent for a new rule.
    pub id: Option<String>,
    pub method: Method,
    pub trigger: TriggerSpec,
    pub paid_credits: Credits,
    pub granted_credits: Credits,
    pub target_ongoing_balance: Option<Credits>,
}

/// The terms a wallet is created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsSpec {
    pub name: Option<String>,
    pub metadata: Metadata,
    pub expiration_at_ms: Option<i64>,
    pub fee_types: FeeTypes,
    pub rules: Vec<RuleSpec>,
}

impl Default for TermsSpec {
    fn default() -> TermsSpec {
        TermsSpec {
            name: None,
            metadata: Vec::new(),
            expiration_at_ms: None,
            fee_types: FeeTypes::ALL,
            rules: Vec::new(),
        }
    }
}

/// A `PUT`: each present field replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsPatch {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub metadata: Option<Metadata>,
    /// `Some(None)` removes the expiry.
    pub expiration_at_ms: Option<Option<i64>>,
    pub fee_types: Option<FeeTypes>,
    /// Replaces the whole list.
    pub rules: Option<Vec<RuleSpec>>,
}

impl Terms {
    /// The terms of a new wallet.
    pub fn build(spec: TermsSpec, now_ms: i64) -> Result<Terms, WalletError> {
        let empty = Terms {
            name: None,
            metadata: Vec::new(),
            expiration_at_ms: None,
            fee_types: FeeTypes::ALL,
            rules: Vec::new(),
        };
        empty.patched(
            TermsPatch {
                name: Some(spec.name),
                metadata: Some(spec.metadata),
                expiration_at_ms: Some(spec.expiration_at_ms),
                fee_types: Some(spec.fee_types),
                rules: Some(spec.rules),
            },
            now_ms,
        )
    }

    /// These terms with `patch` applied.
    pub fn patched(&self, patch: TermsPatch, now_ms: i64) -> Result<Terms, WalletError> {
        let mut terms = self.clone();
        if let Some(name) = patch.name {
            terms.name = name;
        }
        if let Some(metadata) = patch.metadata {
            terms.metadata = metadata;
        }
        if let Some(expiration) = patch.expiration_at_ms {
            if expiration.is_some_and(|at| at <= now_ms) {
                return Err(WalletError::NotInFuture {
                    field: "expiration_at".into(),
                });
            }
            terms.expiration_at_ms = expiration;
        }
        if let Some(fee_types) = patch.fee_types {
            if fee_types.is_empty() {
                return Err(WalletError::InvalidTerms {
                    field: "applies_to.fee_types".into(),
                    reason: "must name at least one fee type".into(),
                });
            }
            terms.fee_types = fee_types;
        }
        if let Some(specs) = patch.rules {
            if specs.len() > RULES_MAX {
                return Err(WalletError::InvalidTerms {
                    field: "recurring_transaction_rules".into(),
                    reason: format!("has more than {RULES_MAX} rules"),
                });
            }
            terms.rules = specs
                .into_iter()
                .enumerate()
                .map(|(index, spec)| self.rule(index, spec, now_ms))
                .collect::<Result<_, _>>()?;
        }
        Ok(terms)
    }

    /// Builds rule `index` of a new list, keeping what an existing rule of
    /// the same id and trigger had.
    fn rule(&self, index: usize, spec: RuleSpec, now_ms: i64) -> Result<Rule, WalletError> {
        let field = |name: &str| format!("recurring_transaction_rules[{index}].{name}");
        let existing =
            match &spec.id {
                Some(id) => Some(self.rules.iter().find(|rule| &rule.id == id).ok_or_else(
                    || WalletError::InvalidTerms {
                        field: field("id"),
                        reason: format!("no rule {id:?} on this wallet"),
                    },
                )?),
                None => None,
            };
        match spec.method {
            Method::Fixed if spec.paid_credits.is_zero() && spec.granted_credits.is_zero() => {
                return Err(WalletError::InvalidTerms {
                    field: field("paid_credits"),
                    reason: "a FIXED rule adds paid_credits, granted_credits or both".into(),
                });
            }
            Method::Target if spec.target_ongoing_balance.is_none_or(Credits::is_zero) => {
                return Err(WalletError::InvalidTerms {
                    field: field("target_ongoing_balance"),
                    reason: "a TARGET rule needs a target above zero".into(),
                });
            }
            _ => {}
        }
        let trigger = match spec.trigger {
            TriggerSpec::Threshold { threshold } => Trigger::Threshold { threshold },
            TriggerSpec::Interval {
                interval,
                started_at_ms,
            } => {
                let kept = existing.and_then(|rule| match &rule.trigger {
                    Trigger::Interval {
                        interval: was,
                        started_at_ms: anchor,
                        next,
                    } if *was == interval && started_at_ms.is_none_or(|at| at == *anchor) => {
                        Some(Trigger::Interval {
                            interval,
                            started_at_ms: *anchor,
                            next: *next,
                        })
                    }
                    _ => None,
                });
                match kept {
                    Some(trigger) => trigger,
                    None => schedule(interval, started_at_ms, now_ms).ok_or_else(|| {
                        WalletError::InvalidTerms {
                            field: field("started_at"),
                            reason: "is out of range".into(),
                        }
                    })?,
                }
            }
        };
        let id = match existing {
            Some(rule) => rule.id.clone(),
            None => RuleId::generate(now_ms).to_string(),
        };
        Ok(Rule {
            id,
            method: spec.method,
            trigger,
            paid_credits: spec.paid_credits,
            granted_credits: spec.granted_credits,
            target_ongoing_balance: spec.target_ongoing_balance,
        })
    }
}

/// A new interval schedule. Anchored on `started_at` when given (the first
/// top-up is then at `started_at`, or at the first period after now if that
/// is past), else on now (the first top-up one interval from now).
fn schedule(interval: Interval, started_at_ms: Option<i64>, now_ms: i64) -> Option<Trigger> {
    let (anchor, next) = match started_at_ms {
        // The first due time after now, computed, not stepped to.
        Some(at) => match interval.index_at(at, now_ms) {
            Some(last) => (at, last.checked_add(1)?),
            None => (at, 0),
        },
        None => (now_ms, 1),
    };
    // The schedule must have a representable next due time.
    interval.due(anchor, next)?;
    Some(Trigger::Interval {
        interval,
        started_at_ms: anchor,
        next,
    })
}
