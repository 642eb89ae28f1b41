//! Transfers: value moved from one wallet to another, with an optional fee
//! leg to a third (the platform's revenue wallet). Pure rules (how the
//! amount splits into legs and converts to each wallet's credits) and the
//! `transfers` column family's layout; the protocol that makes the legs
//! atomic across actors is `engine/transfers.rs`.
//!
//! Rounding, once per leg: a `credits` transfer takes the fee as
//! `floor(gross × percent / 100)` at the credit scale and converts each
//! leg's credits to the receiving wallet's credits at the ratio of the two
//! rates, rounded toward zero (exact when the rates are equal, the usual
//! case). An `amount` transfer takes the fee as
//! `floor(amount × percent / 100)` at the currency's minor units; the gross
//! and the fee convert to the source's credits as a deposit does (toward
//! zero), and the legs then follow as for `credits`. So no leg is ever
//! worth more than what the source gave; between wallets of different
//! rates, what the conversion drops (under 10^-9 of a receiving credit per
//! leg) is credited to no one.

use crate::ids::{TransferId, TxnId, WalletId};
use crate::money::{credits_for_amount, Credits, Currency, Fixed};
use crate::wallet::Metadata;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest fee percent.
pub const FEE_PERCENT_MAX: i64 = 100;
/// Most decimals of a fee percent.
pub const FEE_PERCENT_SCALE: u32 = 4;

/// What a transfer moves: credits of the source, or money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferAmount {
    /// Credits of the source wallet (gross).
    Credits(Credits),
    /// Money in the wallets' currency (gross), at most its minor units.
    Money(#[serde(with = "crate::money::decimal_serde")] Decimal),
}

/// A wallet's money settings, as a transfer needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// Its currency.
    pub currency: Currency,
    /// Currency price of one of its credits.
    pub rate: Fixed,
}

/// How a transfer splits, in each wallet's own credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Legs {
    /// Credits the source gives.
    pub gross: Credits,
    /// Credits the destination gets.
    pub net: Credits,
    /// Credits the fee wallet gets.
    pub fee: Credits,
    /// The fee in the source's credits (what goes back to the source if the
    /// fee leg is refused).
    pub fee_at_source: Credits,
    /// For a money transfer: gross, fee and net money.
    #[serde(with = "crate::money::decimal_serde::option")]
    pub gross_amount: Option<Decimal>,
    #[serde(with = "crate::money::decimal_serde::option")]
    pub fee_amount: Option<Decimal>,
    #[serde(with = "crate::money::decimal_serde::option")]
    pub net_amount: Option<Decimal>,
}

/// Why a transfer cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("the wallets' currencies differ ({from} and {to}): a transfer moves one currency")]
    CurrencyMismatch { from: Currency, to: Currency },
    #[error("{field} must be greater than zero")]
    NotPositive { field: &'static str },
    #[error("{field} has more than {scale} decimal places for {currency}")]
    Scale {
        field: &'static str,
        currency: Currency,
        scale: u32,
    },
    #[error("fee.percent must be from 0 to 100, with at most 4 decimal places")]
    FeePercent,
    #[error("{field} leaves nothing to credit after the fee and rounding")]
    NothingLeft { field: &'static str },
    #[error("{field} is out of range")]
    OutOfRange { field: &'static str },
}

/// Splits `amount` from `source` into the legs to `dest` and (with a fee
/// of `percent`) to `fee_wallet`.
pub fn split(
    amount: TransferAmount,
    source: Side,
    dest: Side,
    fee: Option<(Decimal, Side)>,
) -> Result<Legs, SplitError> {
    for other in std::iter::once(dest).chain(fee.map(|(_, side)| side)) {
        if other.currency != source.currency {
            return Err(SplitError::CurrencyMismatch {
                from: source.currency,
                to: other.currency,
            });
        }
    }
    let percent = match fee {
        Some((percent, _)) => percent,
        None => Decimal::ZERO,
    };
    if percent.is_sign_negative()
        || percent > Decimal::from(FEE_PERCENT_MAX)
        || percent.normalize().scale() > FEE_PERCENT_SCALE
    {
        return Err(SplitError::FeePercent);
    }
    let fee_side = fee.map_or(dest, |(_, side)| side);
    match amount {
        TransferAmount::Credits(gross) => {
            if gross.is_negative() || gross.is_zero() {
                return Err(SplitError::NotPositive { field: "credits" });
            }
            let fee_at_source =
                percent_of(gross, percent).ok_or(SplitError::OutOfRange { field: "credits" })?;
            let net_at_source = gross
                .checked_sub(fee_at_source)
                .ok_or(SplitError::OutOfRange { field: "credits" })?;
            let net = convert(net_at_source, source.rate, dest.rate)
                .ok_or(SplitError::OutOfRange { field: "credits" })?;
            let fee = convert(fee_at_source, source.rate, fee_side.rate)
                .ok_or(SplitError::OutOfRange { field: "credits" })?;
            if net.is_zero() {
                return Err(SplitError::NothingLeft { field: "credits" });
            }
            Ok(Legs {
                gross,
                net,
                fee,
                fee_at_source,
                gross_amount: None,
                fee_amount: None,
                net_amount: None,
            })
        }
        TransferAmount::Money(amount) => {
            let currency = source.currency;
            let minor = currency.minor_units();
            if amount <= Decimal::ZERO {
                return Err(SplitError::NotPositive { field: "amount" });
            }
            if amount.normalize().scale() > minor {
                return Err(SplitError::Scale {
                    field: "amount",
                    currency,
                    scale: minor,
                });
            }
            let fee_amount = (amount * percent / Decimal::from(100))
                .round_dp_with_strategy(minor, rust_decimal::RoundingStrategy::ToZero);
            let net_amount = amount - fee_amount;
            let out_of_range = SplitError::OutOfRange { field: "amount" };
            // Every leg comes from the source's credits, so no leg is worth
            // more than what the source gave (rates may differ).
            let gross =
                credits_for_amount(amount, source.rate.to_decimal()).ok_or(out_of_range.clone())?;
            let fee_at_source = if fee_amount.is_zero() {
                Credits::ZERO
            } else {
                credits_for_amount(fee_amount, source.rate.to_decimal())
                    .ok_or(out_of_range.clone())?
            };
            let net_at_source = gross
                .checked_sub(fee_at_source)
                .ok_or(out_of_range.clone())?;
            let net = convert(net_at_source, source.rate, dest.rate).ok_or(out_of_range.clone())?;
            let fee = convert(fee_at_source, source.rate, fee_side.rate).ok_or(out_of_range)?;
            if gross.is_zero() || net.is_zero() {
                return Err(SplitError::NothingLeft { field: "amount" });
            }
            Ok(Legs {
                gross,
                net,
                fee,
                fee_at_source,
                gross_amount: Some(amount),
                fee_amount: Some(fee_amount),
                net_amount: Some(net_amount),
            })
        }
    }
}

/// `floor(credits × percent / 100)` at the credit scale.
fn percent_of(credits: Credits, percent: Decimal) -> Option<Credits> {
    let p = u128::try_from(percent.mantissa()).ok()?;
    let scale = 10_u128.checked_pow(percent.scale())?;
    let c = u128::try_from(credits.mantissa()).ok()?;
    let mantissa = crate::money::mul_div_floor(c, p, scale.checked_mul(100)?)?;
    Credits::from_mantissa(i128::try_from(mantissa).ok()?)
}

/// `credits` of a wallet at rate `from` in the credits of one at rate `to`
/// (same currency), rounded toward zero.
fn convert(credits: Credits, from: Fixed, to: Fixed) -> Option<Credits> {
    if from == to {
        return Some(credits);
    }
    let scale = crate::money::RATE_SCALE;
    let mantissa = |rate: Fixed| {
        let mut value = rate.to_decimal();
        value.rescale(scale);
        u128::try_from(value.mantissa()).ok()
    };
    let c = u128::try_from(credits.mantissa()).ok()?;
    let result = crate::money::mul_div_floor(c, mantissa(from)?, mantissa(to)?)?;
    Credits::from_mantissa(i128::try_from(result).ok()?)
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferState {
    /// The source was debited; the other legs are being (or will be, at
    /// the next start) applied. Its gross is in flight.
    Pending,
    /// Every leg applied.
    Completed,
    /// A receiving leg was refused; the source was refunded.
    Failed,
    /// A receiving leg was refused and so was the source's refund (the
    /// source was terminated since, forfeiting its credits): nothing more
    /// can move.
    Forfeited,
}

impl TransferState {
    /// The lower-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Pending => "pending",
            TransferState::Completed => "completed",
            TransferState::Failed => "failed",
            TransferState::Forfeited => "forfeited",
        }
    }
}

/// What a leg did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegRole {
    /// The source's debit.
    Out,
    /// The destination's credit.
    In,
    /// The fee wallet's credit.
    Fee,
    /// The source's refund of a refused destination leg.
    Refund,
    /// The source's refund of a refused fee leg.
    FeeRefund,
}

impl LegRole {
    /// The lower-case name used in the API and in internal keys.
    pub fn as_str(self) -> &'static str {
        match self {
            LegRole::Out => "out",
            LegRole::In => "in",
            LegRole::Fee => "fee",
            LegRole::Refund => "refund",
            LegRole::FeeRefund => "fee_refund",
        }
    }

    /// The internal idempotency name of this leg of `transfer`: what makes a
    /// leg driven twice (after a crash) apply once.
    pub fn key(self, transfer: &TransferId) -> String {
        format!("transfer:{transfer}:{}", self.as_str())
    }
}

/// One applied leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    /// What it did.
    pub role: LegRole,
    /// The wallet it changed.
    pub wallet_id: WalletId,
    /// Its ledger entry.
    pub txn_id: TxnId,
    /// Its ledger entry's sequence number.
    pub seq: u64,
    /// Credits moved.
    pub credits: Credits,
}

impl Leg {
    /// The leg `role` that `entry` applied, moving `credits`.
    pub fn of(role: LegRole, entry: &crate::wallet::Entry, credits: Credits) -> Leg {
        Leg {
            role,
            wallet_id: entry.wallet_id.clone(),
            txn_id: entry.txn_id.clone(),
            seq: entry.seq,
            credits,
        }
    }
}

/// A transfer as stored: the journal that drives its legs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub id: TransferId,
    pub from: WalletId,
    pub to: WalletId,
    /// The fee wallet and percent, when there is a fee.
    pub fee_wallet: Option<WalletId>,
    #[serde(with = "crate::money::decimal_serde::option")]
    pub fee_percent: Option<Decimal>,
    pub currency: Currency,
    pub legs: Legs,
    pub metadata: Metadata,
    pub state: TransferState,
    /// The applied legs (the source's first), filled as the protocol runs.
    pub applied: Vec<Leg>,
    /// Why a receiving leg was refused.
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request, to tell a replay from a reuse of its key.
    pub fingerprint: Option<[u8; 32]>,
    pub created_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

impl crate::store::codec::Stored for TransferRecord {}
impl crate::store::codec::Stored for TransferId {}

/// Keys of the `transfers` column family:
///
/// - `0x01 ‖ transfer id16` → `TransferRecord`;
/// - `0x02 ‖ transfer id16` → empty: transfers in flight (pending), which a
///   start drives to their end;
/// - `0x03 ‖ source wallet id16 ‖ client key` → the transfer id: a client's
///   Idempotency-Key, scoped to the source wallet like every key;
/// - `0x04 ‖ source wallet id16 ‖ transfer id16` → empty: the transfers from
///   a wallet that charged a fee (its fee history), oldest first.
pub mod keys {
    use crate::ids::{TransferId, WalletId};

    /// Tag of records.
    pub const RECORD: u8 = 1;
    /// Tag of the in-flight index.
    pub const PENDING: u8 = 2;
    /// Tag of client keys.
    pub const CLIENT_KEY: u8 = 3;

    fn tagged(tag: u8, id: &TransferId) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(tag);
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Key of a transfer's record.
    pub fn record(id: &TransferId) -> Vec<u8> {
        tagged(RECORD, id)
    }

    /// Key of a transfer in flight.
    pub fn pending(id: &TransferId) -> Vec<u8> {
        tagged(PENDING, id)
    }

    /// The transfer a pending key names.
    pub fn pending_id(key: &[u8]) -> Option<TransferId> {
        let bytes: [u8; 16] = key.get(1..17)?.try_into().ok()?;
        Some(TransferId::from_bytes(bytes))
    }

    /// Tag of the fee index.
    pub const FEES: u8 = 4;

    /// Key of a transfer with a fee in its source's fee index.
    pub fn fee(from: &WalletId, id: &TransferId) -> Vec<u8> {
        let mut key = fees_prefix(from);
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Prefix of the fee index of transfers from `from`.
    pub fn fees_prefix(from: &WalletId) -> Vec<u8> {
        let mut key = Vec::with_capacity(33);
        key.push(FEES);
        key.extend_from_slice(&from.to_bytes());
        key
    }

    /// The transfer a fee index key names.
    pub fn fee_transfer(key: &[u8]) -> Option<TransferId> {
        let bytes: [u8; 16] = key.get(17..33)?.try_into().ok()?;
        Some(TransferId::from_bytes(bytes))
    }

    /// Key of a client's idempotency key for transfers from `from`.
    pub fn client_key(from: &WalletId, key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + key.len());
        out.push(CLIENT_KEY);
        out.extend_from_slice(&from.to_bytes());
        out.extend_from_slice(key.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(rate: &str) -> Side {
        Side {
            currency: Currency::USD,
            rate: Fixed::new(rate.parse().expect("rate"), crate::money::RATE_SCALE).expect("fixed"),
        }
    }

    fn credits(text: &str) -> Credits {
        Credits::parse(text).expect("credits")
    }

    #[test]
    fn the_seeds_transfer_of_25_dollars_at_5_percent() {
        let fee = Some(("5".parse().expect("percent"), side("1")));
        let legs = split(
            TransferAmount::Money("25.00".parse().expect("amount")),
            side("1"),
            side("1"),
            fee,
        )
        .expect("splits");
        assert_eq!(legs.gross, credits("25"));
        assert_eq!(legs.fee, credits("1.25"));
        assert_eq!(legs.net, credits("23.75"));
        assert_eq!(legs.fee_amount.map(|d| d.to_string()), Some("1.25".into()));
    }

    #[test]
    fn credits_convert_at_the_ratio_of_rates_rounding_toward_zero() {
        let fee = Some(("2.5".parse().expect("percent"), side("1")));
        let legs = split(
            TransferAmount::Credits(credits("10")),
            side("1"),
            side("3"),
            fee,
        )
        .expect("splits");
        assert_eq!(legs.fee_at_source, credits("0.25"));
        assert_eq!(legs.fee, credits("0.25"));
        // 9.75 credits at 1.00 are worth 3.25 credits at 3.00.
        assert_eq!(legs.net, credits("3.25"));
        let odd = split(
            TransferAmount::Credits(credits("1")),
            side("1"),
            side("3"),
            None,
        )
        .expect("splits");
        assert_eq!(odd.net, credits("0.333333333"));
        let eur = Side {
            currency: Currency::parse("EUR").expect("known"),
            ..side("1")
        };
        assert!(matches!(
            split(TransferAmount::Credits(credits("1")), side("1"), eur, None),
            Err(SplitError::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            split(
                TransferAmount::Money("1.005".parse().expect("amount")),
                side("1"),
                side("1"),
                None
            ),
            Err(SplitError::Scale { .. })
        ));
        let all = Some(("100".parse().expect("percent"), side("1")));
        assert!(matches!(
            split(
                TransferAmount::Credits(credits("1")),
                side("1"),
                side("1"),
                all
            ),
            Err(SplitError::NothingLeft { .. })
        ));
    }
}
