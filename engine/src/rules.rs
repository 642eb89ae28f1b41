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

impl Interval {
    /// The last due index at or before `at_ms`: the largest `n` with
    /// `due(anchor_ms, n) <= at_ms`; `None` before the anchor. Computed from
    /// the anchor, not by stepping: a rule anchored in year 1 costs the same
    /// as one anchored yesterday.
    pub fn index_at(self, anchor_ms: i64, at_ms: i64) -> Option<u32> {
        if at_ms < anchor_ms {
            return None;
        }
        let estimate = match self {
            Interval::Weekly => (at_ms - anchor_ms) / (7 * DAY_MS),
            Interval::Monthly => months_between(anchor_ms, at_ms)?,
            Interval::Quarterly => months_between(anchor_ms, at_ms)? / 3,
            Interval::Yearly => months_between(anchor_ms, at_ms)? / 12,
        };
        // Whole calendar months between the two dates can count one period
        // too many (the anchor's day or time of day is later in its month
        // than `at_ms`'s), never too few: step back at most once.
        let mut n = u32::try_from(estimate).ok()?;
        while n > 0 && self.due(anchor_ms, n)? > at_ms {
            n -= 1;
        }
        Some(n)
    }
}

/// Calendar months from `from_ms`'s month to `to_ms`'s, ignoring the days.
fn months_between(from_ms: i64, to_ms: i64) -> Option<i64> {
    let month_index = |at_ms: i64| -> Option<i64> {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).ok()?;
        Some(i64::from(at.year()) * 12 + i64::from(u8::from(at.month())))
    };
    Some(month_index(to_ms)? - month_index(from_ms)?)
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
        if interval.due(*started_at_ms, *next)? > now_ms {
            return None;
        }
        let n = interval.index_at(*started_at_ms, now_ms)?.max(*next);
        Some((interval.due(*started_at_ms, n)?, n.checked_add(1)?))
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
    // gap * paid can exceed 128 bits (a target of 10^12 with a weight of
    // 10^9 does), so the share is computed in 256 bits, exactly.
    let weight = paid.mantissa().unsigned_abs() + granted.mantissa().unsigned_abs();
    let paid_share = crate::money::mul_div_floor(
        gap.mantissa().unsigned_abs(),
        paid.mantissa().unsigned_abs(),
        weight,
    )
    .and_then(|share| i128::try_from(share).ok())
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
    fn the_last_due_index_is_computed_exactly_from_the_anchor() {
        // Stepping is the reference; every interval, anchors late in the
        // month and late in the day, over years of instants.
        let anchors = [
            "2026-01-31T23:00:00Z",
            "2024-02-29T12:00:00Z",
            "0001-01-31T00:00:00Z",
        ];
        for interval in [
            Interval::Weekly,
            Interval::Monthly,
            Interval::Quarterly,
            Interval::Yearly,
        ] {
            for anchor in anchors.map(at) {
                assert_eq!(interval.index_at(anchor, anchor - 1), None);
                assert_eq!(interval.index_at(anchor, anchor), Some(0));
                for n in [1_u32, 2, 11, 12, 13, 59, 400] {
                    let due = interval.due(anchor, n).expect("due");
                    assert_eq!(interval.index_at(anchor, due), Some(n), "{interval:?} {n}");
                    assert_eq!(
                        interval.index_at(anchor, due - 1),
                        Some(n - 1),
                        "{interval:?} {n}"
                    );
                }
            }
        }
        // Issue 9: a monthly rule after ~2 years of downtime (the old
        // 28-day jump overshot by two months).
        let anchor = at("2040-01-01T00:00:00Z");
        let now = at("2041-12-31T00:00:00Z");
        assert_eq!(Interval::Monthly.index_at(anchor, now), Some(23));
        let rule = Rule {
            id: "rtr_1".into(),
            method: Method::Fixed,
            trigger: Trigger::Interval {
                interval: Interval::Monthly,
                started_at_ms: anchor,
                next: 1,
            },
            paid_credits: credits("1"),
            granted_credits: Credits::ZERO,
            target_ongoing_balance: None,
        };
        assert_eq!(rule.catch_up(now), Some((at("2041-12-01T00:00:00Z"), 24)));
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
