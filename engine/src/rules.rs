//! Automatic top-up rules (seed 003 `recurring_transaction_rules`): a method,
//! `FIXED` (add set credits) or `TARGET` (add what brings the balance to a
//! target), and a trigger, `INTERVAL` (weekly, monthly, quarterly, yearly,
//! anchored on `started_at`) or `THRESHOLD` (the balance falls to or below a
//! number of credits).
//!
//! Pure: the due times of an interval and the credits a rule adds. The wallet
//! actor decides when to fire (right after a debit for thresholds, on the
//! timer's tick for intervals).

use crate::money::Credits;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// How much a rule adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// The rule's `paid_credits` and `granted_credits`.
    Fixed,
    /// What brings the balance up to `target_ongoing_balance`.
    Target,
}

/// How often an interval rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Interval {
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl Interval {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Weekly => "weekly",
            Interval::Monthly => "monthly",
            Interval::Quarterly => "quarterly",
            Interval::Yearly => "yearly",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<Interval> {
        match name {
            "weekly" => Some(Interval::Weekly),
            "monthly" => Some(Interval::Monthly),
            "quarterly" => Some(Interval::Quarterly),
            "yearly" => Some(Interval::Yearly),
            _ => None,
        }
    }

    /// The `n`th due time after `anchor_ms` (n = 0 is the anchor itself).
    /// Months are calendar months counted from the anchor, not from the
    /// previous due time, so Jan 31 goes to Feb 28 and back to Mar 31.
    pub fn due(self, anchor_ms: i64, n: u32) -> Option<i64> {
        let months = match self {
            Interval::Weekly => {
                return anchor_ms.checked_add(i64::from(n).checked_mul(7 * DAY_MS)?);
            }
            Interval::Monthly => 1,
            Interval::Quarterly => 3,
            Interval::Yearly => 12,
        };
        add_months(anchor_ms, i64::from(n).checked_mul(months)?)
    }
}

/// `at_ms` plus whole calendar months, the day clamped to the month's end.
fn add_months(at_ms: i64, months: i64) -> Option<i64> {
    use time::{Date, Month, OffsetDateTime};
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).ok()?;
    let index = i64::from(at.year()) * 12 + i64::from(u8::from(at.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = at.day().min(time::util::days_in_month(month, year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let moved = at.replace_date(date);
    i64::try_from(moved.unix_timestamp_nanos() / 1_000_000).ok()
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// On a schedule: at `due(started_at, n)` for n = `next`, `next + 1`, …
    Interval {
        interval: Interval,
        /// The anchor of the schedule.
        started_at_ms: i64,
        /// Index of the next due time; advances as the rule fires.
        next: u32,
    },
    /// When a change takes the balance from above `threshold` to at or below it.
    Threshold { threshold: Credits },
}

/// One automatic top-up rule of a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `rtr_…`, stable across updates.
    pub id: String,
    pub method: Method,
    pub trigger: Trigger,
    /// FIXED: paid credits added. TARGET: the paid share of the gap.
    pub paid_credits: Credits,
    /// FIXED: granted credits added. TARGET: the granted share of the gap.
    pub granted_credits: Credits,
    /// TARGET: the balance to reach.
    pub target_ongoing_balance: Option<Credits>,
}

/// Why a rule added nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleRefusal {
    #[error("the balance {balance} already meets the target {target}")]
    TargetMet { balance: Credits, target: Credits },
    #[error("the top-up would overflow the balance")]
    Overflow,
}

impl Rule {
    /// The next due time of an interval rule.
    pub fn next_due_ms(&self) -> Option<i64> {
        match &self.trigger {
            Trigger::Interval {
                interval,
                started_at_ms,
                next,
            } => interval.due(*started_at_ms, *next),
            Trigger::Threshold { .. } => None,
        }
    }

    /// For an interval rule due at `now_ms`: the latest due time at or before
    /// now and the index to move on to. However many periods were missed
    /// (downtime), the rule fires once, for the latest.
    pub fn catch_up(&self, now_ms: i64) -> Option<(i64, u32)> {
        let Trigger::Interval {
            interval,
            started_at_ms,
            next,
        } = &self.trigger
        else {
            return None;
        };
        let mut n = *next;
        let mut due = interval.due(*started_at_ms, n)?;
        if due > now_ms {
            return None;
        }
        // Jump close for long downtimes, then step.
        let period_ms = match interval {
            Interval::Weekly => 7 * DAY_MS,
            Interval::Monthly => 28 * DAY_MS,
            Interval::Quarterly => 89 * DAY_MS,
            Interval::Yearly => 365 * DAY_MS,
        };
        // A period is never shorter than `period_ms`, so this undershoots.
        let skip = ((now_ms - due) / period_ms - 1).max(0);
        n = n.saturating_add(u32::try_from(skip).unwrap_or(0));
        due = interval.due(*started_at_ms, n)?;
        while let Some(following) = interval.due(*started_at_ms, n + 1) {
            if following > now_ms {
                break;
            }
            n += 1;
            due = following;
        }
        Some((due, n + 1))
    }

    /// The credits (paid, granted) this rule adds to a wallet holding `total`.
    pub fn top_up(&self, total: Credits) -> Result<(Credits, Credits), RuleRefusal> {
        match self.method {
            Method::Fixed => Ok((self.paid_credits, self.granted_credits)),
            Method::Target => {
                let target = self.target_ongoing_balance.unwrap_or(Credits::ZERO);
                let gap = target.checked_sub(total).ok_or(RuleRefusal::Overflow)?;
                if gap.is_zero() || gap.is_negative() {
                    return Err(RuleRefusal::TargetMet {
                        balance: total,
                        target,
                    });
                }
                split(gap, self.paid_credits, self.granted_credits)
            }
        }
    }
}

/// Splits `gap` in the ratio paid : granted (all paid when neither is set);
/// the paid share rounds down to the credit scale and granted takes the rest.
fn split(gap: Credits, paid: Credits, granted: Credits) -> Result<(Credits, Credits), RuleRefusal> {
    if granted.is_zero() {
        return Ok((gap, Credits::ZERO));
    }
    if paid.is_zero() {
        return Ok((Credits::ZERO, gap));
    }
    let weight = paid.checked_add(granted).ok_or(RuleRefusal::Overflow)?;
    let paid_share = gap
        .mantissa()
        .checked_mul(paid.mantissa())
        .map(|product| product / weight.mantissa())
        .and_then(Credits::from_mantissa)
        .ok_or(RuleRefusal::Overflow)?;
    let granted_share = gap.checked_sub(paid_share).ok_or(RuleRefusal::Overflow)?;
    Ok((paid_share, granted_share))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .expect("valid time");
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).expect("fits")
    }

    fn credits(text: &str) -> Credits {
        Credits::parse(text).expect("valid")
    }

    #[test]
    fn months_count_from_the_anchor_and_clamp_to_month_end() {
        let anchor = at("2026-01-31T10:00:00Z");
        let monthly: Vec<i64> = (0..4)
            .map(|n| Interval::Monthly.due(anchor, n).expect("due"))
            .collect();
        assert_eq!(
            monthly,
            vec![
                anchor,
                at("2026-02-28T10:00:00Z"),
                at("2026-03-31T10:00:00Z"),
                at("2026-04-30T10:00:00Z"),
            ]
        );
        assert_eq!(
            Interval::Quarterly.due(anchor, 1),
            Some(at("2026-04-30T10:00:00Z"))
        );
        assert_eq!(
            Interval::Yearly.due(at("2028-02-29T00:00:00Z"), 1),
            Some(at("2029-02-28T00:00:00Z"))
        );
        assert_eq!(
            Interval::Weekly.due(anchor, 2),
            Some(at("2026-02-14T10:00:00Z"))
        );
    }

    #[test]
    fn a_long_downtime_fires_once_for_the_latest_period() {
        let rule = Rule {
            id: "rtr_1".into(),
            method: Method::Fixed,
            trigger: Trigger::Interval {
                interval: Interval::Weekly,
                started_at_ms: at("2026-01-01T00:00:00Z"),
                next: 1,
            },
            paid_credits: credits("1"),
            granted_credits: Credits::ZERO,
            target_ongoing_balance: None,
        };
        assert_eq!(rule.catch_up(at("2026-01-07T23:59:59Z")), None);
        assert_eq!(
            rule.catch_up(at("2026-01-08T00:00:00Z")),
            Some((at("2026-01-08T00:00:00Z"), 2))
        );
        // 20 weeks later: one firing, for the week of 2026-05-21.
        assert_eq!(
            rule.catch_up(at("2026-05-25T00:00:00Z")),
            Some((at("2026-05-21T00:00:00Z"), 21))
        );
    }

    #[test]
    fn target_adds_the_gap_split_as_configured() {
        let mut rule = Rule {
            id: "rtr_1".into(),
            method: Method::Target,
            trigger: Trigger::Threshold {
                threshold: credits("10"),
            },
            paid_credits: Credits::ZERO,
            granted_credits: Credits::ZERO,
            target_ongoing_balance: Some(credits("100")),
        };
        assert_eq!(
            rule.top_up(credits("8")),
            Ok((credits("92"), Credits::ZERO))
        );
        rule.paid_credits = credits("3");
        rule.granted_credits = credits("1");
        assert_eq!(
            rule.top_up(credits("0")),
            Ok((credits("75"), credits("25")))
        );
        assert!(matches!(
            rule.top_up(credits("100")),
            Err(RuleRefusal::TargetMet { .. })
        ));
    }
}
