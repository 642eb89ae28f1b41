//! The price book's pure rules: model names, price amounts, price versions,
//! token usage, the exact cost of usage at a version, and its conversion to
//! credits. Also the key layout of the `prices` column family; the reads and
//! the durable write are `Engine`'s (`engine/price_book.rs`).
//!
//! **Scales.** A price per million tokens (and `per_request`) is a currency
//! amount kept as an `i128` mantissa at [`PRICE_SCALE`] = 12 decimal places,
//! which is 18 decimal places per token: LiteLLM's per-token figures such as
//! `2.5e-06` or `5.46875e-07` fit with room to spare. The cost of `n` tokens
//! at a price with mantissa `p` is then exactly `n × p` at [`COST_SCALE`] =
//! 18 (the price's 12 places plus the 6 of "per million"): integer
//! multiplication, no division, nothing rounded.
//!
//! **Rounding.** The one rounding of the price book is in
//! [`credits_for_cost`], once, on the total cost: usage is charged rounded
//! **up** to the credit scale (10^-9 credits), so it is never under-charged;
//! at most one billionth of a credit more than exact.
//!
//! **Versions** are immutable: a new price is a new version with its own id
//! (`prv_…`) and `effective_from`. The version in force at `T` is the one
//! with the latest `effective_from` at or before `T` (a later-written
//! version wins a tie), so a price written in advance takes over at its time
//! and a capture priced "at the version of its hold" can name it by id.

use crate::ids::PriceVersionId;
use crate::money::{self, AmountError, Credits, Currency, CREDIT_SCALE};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Decimal places of a price per million tokens (and of `per_request`).
pub const PRICE_SCALE: u32 = 12;

/// Decimal places of a cost: the price scale plus the 6 of "per million".
pub const COST_SCALE: u32 = PRICE_SCALE + 6;

/// The largest price: 1,000,000 currency units per million tokens (one unit
/// a token) or per request. Far above any real price; with
/// [`USAGE_COUNT_MAX`] it keeps every cost inside an `i128`.
pub const PRICE_MAX_UNITS: i128 = 1_000_000;

const PRICE_MANTISSA_MAX: i128 = PRICE_MAX_UNITS * 10_i128.pow(PRICE_SCALE);

/// The most tokens (or requests) of one kind a usage may count: 10^12.
/// Anything larger is a client bug, refused rather than charged.
pub const USAGE_COUNT_MAX: u64 = 1_000_000_000_000;

/// Longest model name, in characters.
pub const MODEL_LEN_MAX: usize = 255;

/// The latest `effective_from` accepted: 9999-12-31T23:59:59.999Z.
pub const EFFECTIVE_FROM_MAX_MS: i64 = 253_402_300_799_999;

/// Why a price, a usage or a cost was refused. The API adds the field name
/// where the variant has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// A model name that cannot be stored.
    #[error("must be 1 to {MODEL_LEN_MAX} characters, without control characters or leading or trailing spaces")]
    InvalidModel,
    /// A price string refused by the strict decimal parser.
    #[error("{0}")]
    Amount(#[from] AmountError),
    /// A price above [`PRICE_MAX_UNITS`].
    #[error("must be at most {PRICE_MAX_UNITS}")]
    PriceTooLarge,
    /// An `effective_from` before 1970 or after year 9999.
    #[error("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z")]
    EffectiveFromOutOfRange,
    /// A token or request count above [`USAGE_COUNT_MAX`].
    #[error("{field} must be at most {USAGE_COUNT_MAX}")]
    UsageTooLarge { field: &'static str },
    /// A cost that does not fit (cannot happen within the bounds above;
    /// kept typed rather than unwrapped).
    #[error("the cost is out of range")]
    CostOutOfRange,
    /// The price's currency is not the wallet's.
    #[error("the price is in {price}, the wallet in {wallet}")]
    CurrencyMismatch { price: Currency, wallet: Currency },
    /// A rate that is not a positive decimal.
    #[error("the rate must be greater than zero")]
    InvalidRate,
    /// The credits for a cost exceed the credit range.
    #[error("the credits for this cost exceed the representable range")]
    CreditsOutOfRange,
}

/// A model's name as the price book keys it: 1 to [`MODEL_LEN_MAX`]
/// characters, no control characters (so never NUL, the key separator),
/// no leading or trailing spaces (so no look-alike of another name).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ModelName(String);

impl ModelName {
    /// Checks and wraps a model name.
    pub fn parse(text: &str) -> Result<ModelName, PriceError> {
        let count = text.chars().count();
        let valid = (1..=MODEL_LEN_MAX).contains(&count)
            && !text.chars().any(char::is_control)
            && text.trim() == text;
        valid
            .then(|| ModelName(text.to_owned()))
            .ok_or(PriceError::InvalidModel)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelName({})", self.0)
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ModelName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A currency amount of a price: a mantissa at [`PRICE_SCALE`], from 0 to
/// [`PRICE_MAX_UNITS`]. Stored as the mantissa, so one value has one
/// encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(i128);

impl Price {
    /// A price of zero.
    pub const ZERO: Price = Price(0);

    /// Parses a strict decimal string (see `money::parse_decimal`) with at
    /// most [`PRICE_SCALE`] decimal places.
    pub fn parse(text: &str) -> Result<Price, PriceError> {
        let value = money::parse_decimal(text, PRICE_SCALE).map_err(|error| match error {
            // Wider than Decimal: far past the maximum anyway.
            AmountError::TooLarge => PriceError::PriceTooLarge,
            other => PriceError::Amount(other),
        })?;
        // Integer arithmetic, not Decimal::rescale, which lowers the scale
        // instead of failing when the mantissa would not fit.
        PRICE_SCALE
            .checked_sub(value.scale())
            .and_then(|places| 10_i128.checked_pow(places))
            .and_then(|factor| value.mantissa().checked_mul(factor))
            .and_then(Price::from_mantissa)
            .ok_or(PriceError::PriceTooLarge)
    }

    /// The price `mantissa × 10^exponent` exactly, for prices read from
    /// scientific notation (LiteLLM's `2.5e-06` is mantissa 25, exponent -7;
    /// per million, exponent -1). Refused: more than [`PRICE_SCALE`] decimal
    /// places, or more than [`PRICE_MAX_UNITS`].
    pub fn from_scientific(mantissa: u128, exponent: i64) -> Result<Price, PriceError> {
        if mantissa == 0 {
            return Ok(Price::ZERO);
        }
        // Trailing zeros are not decimal places: 1500e-3 is 1.5.
        let (mut mantissa, mut exponent) = (mantissa, exponent);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent = exponent.saturating_add(1);
        }
        let shift = exponent.saturating_add(i64::from(PRICE_SCALE));
        if shift < 0 {
            return Err(PriceError::Amount(AmountError::TooManyDecimals {
                scale_max: PRICE_SCALE,
            }));
        }
        let scaled = u32::try_from(shift)
            .ok()
            .and_then(|shift| 10_u128.checked_pow(shift))
            .and_then(|factor| mantissa.checked_mul(factor))
            .and_then(|scaled| i128::try_from(scaled).ok());
        scaled
            .and_then(Price::from_mantissa)
            .ok_or(PriceError::PriceTooLarge)
    }

    /// A price from its mantissa at [`PRICE_SCALE`]; `None` when negative
    /// or above [`PRICE_MAX_UNITS`].
    pub fn from_mantissa(mantissa: i128) -> Option<Price> {
        (0..=PRICE_MANTISSA_MAX)
            .contains(&mantissa)
            .then_some(Price(mantissa))
    }

    /// The mantissa at [`PRICE_SCALE`].
    pub fn mantissa(self) -> i128 {
        self.0
    }

    /// The exact value, without trailing zeros.
    pub fn to_decimal(self) -> Decimal {
        // At most 10^18: always representable.
        Decimal::from_i128_with_scale(self.0, PRICE_SCALE).normalize()
    }
}

impl fmt::Display for Price {
    /// Shortest exact form: `2.5`, `0.075`, `10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_decimal(), f)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i128(self.0)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mantissa = i128::deserialize(deserializer)?;
        Price::from_mantissa(mantissa)
            .ok_or_else(|| serde::de::Error::custom("price mantissa out of range"))
    }
}

/// The six prices of a version, in its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceAmounts {
    /// Per million input tokens that were neither read from nor written to
    /// a prompt cache.
    pub input_per_million: Price,
    /// Per million input tokens read from a prompt cache.
    pub cached_input_per_million: Price,
    /// Per million input tokens written to a prompt cache.
    pub cache_write_per_million: Price,
    /// Per million output tokens, reasoning excluded.
    pub output_per_million: Price,
    /// Per million reasoning (thinking) tokens.
    pub reasoning_per_million: Price,
    /// Per request, whatever its tokens.
    pub per_request: Price,
}

/// A new price as a client asks for it; `Engine::put_price` makes it a
/// version. Construction checks `effective_from`, so the engine never sees
/// one it cannot key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSpec {
    model: ModelName,
    currency: Currency,
    amounts: PriceAmounts,
    effective_from_ms: Option<i64>,
}

impl PriceSpec {
    /// A spec; `effective_from_ms` `None` means "when it is written".
    pub fn new(
        model: ModelName,
        currency: Currency,
        amounts: PriceAmounts,
        effective_from_ms: Option<i64>,
    ) -> Result<PriceSpec, PriceError> {
        if effective_from_ms.is_some_and(|ms| !(0..=EFFECTIVE_FROM_MAX_MS).contains(&ms)) {
            return Err(PriceError::EffectiveFromOutOfRange);
        }
        Ok(PriceSpec {
            model,
            currency,
            amounts,
            effective_from_ms,
        })
    }

    /// The model priced.
    pub fn model(&self) -> &ModelName {
        &self.model
    }

    /// The currency of the amounts.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amounts.
    pub fn amounts(&self) -> &PriceAmounts {
        &self.amounts
    }

    /// When the price takes effect, if given.
    pub fn effective_from_ms(&self) -> Option<i64> {
        self.effective_from_ms
    }
}

impl crate::store::codec::Stored for PriceVersion {}

impl PriceVersion {
    /// This version with every input token at its dearest input price
    /// (plain, cached or cache write) and every output token at the dearer
    /// of output and reasoning: what prices a hold for the largest call, so
    /// the hold covers the call however its tokens turn out to be split.
    pub fn ceiling(&self) -> PriceVersion {
        let prices = &self.amounts;
        let input = prices
            .input_per_million
            .max(prices.cached_input_per_million)
            .max(prices.cache_write_per_million);
        let output = prices.output_per_million.max(prices.reasoning_per_million);
        PriceVersion {
            amounts: PriceAmounts {
                input_per_million: input,
                cached_input_per_million: input,
                cache_write_per_million: input,
                output_per_million: output,
                reasoning_per_million: output,
                per_request: prices.per_request,
            },
            ..self.clone()
        }
    }
}

/// One immutable version of a model's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceVersion {
    /// `prv_…`.
    pub id: PriceVersionId,
    /// The model priced.
    pub model: ModelName,
    /// Currency of every amount.
    pub currency: Currency,
    /// The prices.
    pub amounts: PriceAmounts,
    /// In force from this time (ms since the epoch) until a version with a
    /// later `effective_from` takes over.
    pub effective_from_ms: i64,
    /// When it was written.
    pub created_at_ms: i64,
}

/// What one model call used. The counts are disjoint, each priced at its own
/// price: `input_tokens` excludes cached and cache-write tokens, and
/// `output_tokens` excludes reasoning tokens (OpenAI reports cached tokens
/// inside `prompt_tokens` and reasoning inside `completion_tokens`: subtract
/// them before sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Input tokens read from a prompt cache.
    pub cached_input_tokens: u64,
    /// Input tokens written to a prompt cache.
    pub cache_write_tokens: u64,
    /// Output tokens, reasoning excluded.
    pub output_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Requests (usually 1).
    pub requests: u64,
}

/// A currency amount of a cost: an `i128` mantissa at [`COST_SCALE`], exact.
/// Wider than `Decimal` can hold at that scale, so it formats itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CostAmount(i128);

impl CostAmount {
    /// The mantissa at [`COST_SCALE`].
    pub fn mantissa(self) -> i128 {
        self.0
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for CostAmount {
    /// Shortest exact form: `0.00000555`, `12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = 10_u128.pow(COST_SCALE);
        let magnitude = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        let (whole, fraction) = (magnitude / unit, magnitude % unit);
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{fraction:018}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Debug for CostAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CostAmount({self})")
    }
}

/// The cost of a usage at one price version, per component and in total,
/// exact, in the version's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Currency of every amount.
    pub currency: Currency,
    /// `input_tokens` at `input_per_million`.
    pub input: CostAmount,
    /// `cached_input_tokens` at `cached_input_per_million`.
    pub cached_input: CostAmount,
    /// `cache_write_tokens` at `cache_write_per_million`.
    pub cache_write: CostAmount,
    /// `output_tokens` at `output_per_million`.
    pub output: CostAmount,
    /// `reasoning_tokens` at `reasoning_per_million`.
    pub reasoning: CostAmount,
    /// `requests` at `per_request`.
    pub per_request: CostAmount,
    /// The sum of the above.
    pub total: CostAmount,
}

/// Which way a conversion to credits rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Up to the next 10^-9 credit: what usage is charged with, so a call is
    /// never charged less than it cost.
    Up,
    /// Toward zero, like the deposit conversion (for estimates that must not
    /// overstate).
    Down,
}

/// The exact cost of `usage` at `version`. Refuses a count above
/// [`USAGE_COUNT_MAX`] (naming it).
pub fn cost(version: &PriceVersion, usage: &Usage) -> Result<Cost, PriceError> {
    let prices = &version.amounts;
    // n tokens at mantissa p (scale 12, per million) cost n × p at scale 18.
    let tokens = |count: u64, field: &'static str, price: Price| {
        checked_count(count, field)?
            .checked_mul(price.mantissa())
            .map(CostAmount)
            .ok_or(PriceError::CostOutOfRange)
    };
    let input = tokens(usage.input_tokens, "input_tokens", prices.input_per_million)?;
    let cached_input = tokens(
        usage.cached_input_tokens,
        "cached_input_tokens",
        prices.cached_input_per_million,
    )?;
    let cache_write = tokens(
        usage.cache_write_tokens,
        "cache_write_tokens",
        prices.cache_write_per_million,
    )?;
    let output = tokens(
        usage.output_tokens,
        "output_tokens",
        prices.output_per_million,
    )?;
    let reasoning = tokens(
        usage.reasoning_tokens,
        "reasoning_tokens",
        prices.reasoning_per_million,
    )?;
    // A per-request price is not per million: scale 12 to 18.
    let per_request = checked_count(usage.requests, "requests")?
        .checked_mul(prices.per_request.mantissa())
        .and_then(|value| value.checked_mul(1_000_000))
        .map(CostAmount)
        .ok_or(PriceError::CostOutOfRange)?;
    let total = [
        input,
        cached_input,
        cache_write,
        output,
        reasoning,
        per_request,
    ]
    .into_iter()
    .try_fold(0_i128, |sum, part| sum.checked_add(part.0))
    .map(CostAmount)
    .ok_or(PriceError::CostOutOfRange)?;
    Ok(Cost {
        currency: version.currency,
        input,
        cached_input,
        cache_write,
        output,
        reasoning,
        per_request,
        total,
    })
}

fn checked_count(count: u64, field: &'static str) -> Result<i128, PriceError> {
    if count > USAGE_COUNT_MAX {
        return Err(PriceError::UsageTooLarge { field });
    }
    Ok(i128::from(count))
}

/// The credits that pay `cost` at the wallet's `rate_amount` (currency per
/// credit), at the credit scale, rounded as `rounding` says (usage: `Up`).
/// Refuses a cost in another currency than the wallet's: a price in EUR is
/// never charged at a USD rate.
pub fn credits_for_cost(
    cost: &Cost,
    wallet_currency: Currency,
    rate_amount: Decimal,
    rounding: Rounding,
) -> Result<Credits, PriceError> {
    if cost.currency != wallet_currency {
        return Err(PriceError::CurrencyMismatch {
            price: cost.currency,
            wallet: wallet_currency,
        });
    }
    if rate_amount.is_sign_negative() || rate_amount.is_zero() {
        return Err(PriceError::InvalidRate);
    }
    let c = u128::try_from(cost.total.0).map_err(|_| PriceError::CostOutOfRange)?;
    let (r, rate_scale) = (rate_amount.mantissa().unsigned_abs(), rate_amount.scale());
    // credits = (c / 10^18) / (r / 10^t); at the credit scale (9) its
    // mantissa is c × 10^t / (r × 10^9).
    let numerator = 10_u128
        .checked_pow(rate_scale)
        .ok_or(PriceError::InvalidRate)?;
    let denominator = 10_u128
        .checked_pow(COST_SCALE - CREDIT_SCALE)
        .and_then(|factor| r.checked_mul(factor))
        .ok_or(PriceError::InvalidRate)?;
    let mantissa = match rounding {
        Rounding::Up => money::mul_div_ceil(c, numerator, denominator),
        Rounding::Down => money::mul_div_floor(c, numerator, denominator),
    }
    .ok_or(PriceError::CreditsOutOfRange)?;
    i128::try_from(mantissa)
        .ok()
        .and_then(Credits::from_mantissa)
        .ok_or(PriceError::CreditsOutOfRange)
}

/// Keys of the `prices` column family:
///
/// - `0x01 ‖ model ‖ 0x00 ‖ effective_from ms (u64 BE) ‖ id16` → the
///   `PriceVersion`. A model's versions are one contiguous range, in
///   effective order (the id, a ULID, breaks ties in creation order), so
///   "the version in force at T" is one reverse seek from `(T + 1, 0…)`.
///   Model names never contain NUL, so the separator splits unambiguously
///   and a name that is a prefix of another sorts apart from it.
/// - `0x02 ‖ id16` → the version's key (codec-encoded bytes): the index that
///   finds a version by its `prv_…` id.
pub mod keys {
    use super::ModelName;
    use crate::ids::PriceVersionId;

    /// Tag of version keys.
    pub const VERSION: u8 = 1;
    /// Tag of id index keys.
    pub const BY_ID: u8 = 2;

    const ID_LEN: usize = 16;
    const TIME_LEN: usize = 8;

    /// The prefix of every version key of `model`.
    pub fn model_prefix(model: &ModelName) -> Vec<u8> {
        let name = model.as_str().as_bytes();
        let mut key = Vec::with_capacity(2 + name.len() + TIME_LEN + ID_LEN);
        key.push(VERSION);
        key.extend_from_slice(name);
        key.push(0);
        key
    }

    fn time(ms: i64) -> [u8; TIME_LEN] {
        // Effective times are never negative (`PriceSpec::new`); a negative
        // read time is before every version.
        u64::try_from(ms).unwrap_or(0).to_be_bytes()
    }

    /// The prefix of the versions of `model` effective at exactly `ms`.
    pub fn at_prefix(model: &ModelName, ms: i64) -> Vec<u8> {
        let mut key = model_prefix(model);
        key.extend_from_slice(&time(ms));
        key
    }

    /// The key of a version.
    pub fn version(model: &ModelName, effective_from_ms: i64, id: &PriceVersionId) -> Vec<u8> {
        let mut key = at_prefix(model, effective_from_ms);
        key.extend_from_slice(&id.to_bytes());
        key
    }

    /// Reverse-seek from here (exclusive) to find the version of `model` in
    /// force at `at_ms`: every key below it has `effective_from <= at_ms`.
    pub fn in_force_bound(model: &ModelName, at_ms: i64) -> Vec<u8> {
        let mut key = at_prefix(model, at_ms.saturating_add(1));
        key.extend_from_slice(&[0; ID_LEN]);
        key
    }

    /// A key above every version key of `model` and below those of any
    /// model sorting after it: forward scans resume here for the next model.
    pub fn model_end(model: &ModelName) -> Vec<u8> {
        let mut key = model_prefix(model);
        // Effective times are below 2^63, so no real key is all 0xFF here.
        key.extend_from_slice(&[0xFF; TIME_LEN + ID_LEN]);
        key
    }

    /// The model name, effective time and id of a version key.
    pub fn version_parts(key: &[u8]) -> Option<(&str, i64, PriceVersionId)> {
        let rest = key.strip_prefix(&[VERSION])?;
        let split = rest.len().checked_sub(1 + TIME_LEN + ID_LEN)?;
        let (name, tail) = rest.split_at(split);
        let (separator, tail) = tail.split_first()?;
        if *separator != 0 {
            return None;
        }
        let (time, id) = tail.split_at(TIME_LEN);
        let ms = i64::try_from(u64::from_be_bytes(time.try_into().ok()?)).ok()?;
        let id = PriceVersionId::from_bytes(id.try_into().ok()?);
        Some((std::str::from_utf8(name).ok()?, ms, id))
    }

    /// The index key of a version id.
    pub fn by_id(id: &PriceVersionId) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + ID_LEN);
        key.push(BY_ID);
        key.extend_from_slice(&id.to_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Price {
        Price::parse(text).expect("valid price")
    }

    fn usd() -> Currency {
        Currency::parse("USD").expect("known")
    }

    fn version(input: &str, output: &str) -> PriceVersion {
        PriceVersion {
            id: PriceVersionId::generate(1),
            model: ModelName::parse("gpt-test").expect("name"),
            currency: usd(),
            amounts: PriceAmounts {
                input_per_million: price(input),
                cached_input_per_million: price("1.25"),
                cache_write_per_million: price("3.125"),
                output_per_million: price(output),
                reasoning_per_million: price("10"),
                per_request: price("0"),
            },
            effective_from_ms: 0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn prices_parse_strictly_at_twelve_places() {
        assert_eq!(price("2.50").to_string(), "2.5");
        assert_eq!(price("0.000000000001").mantissa(), 1);
        assert_eq!(price("1000000").to_string(), "1000000");
        assert_eq!(
            Price::parse("1000000.000000000001"),
            Err(PriceError::PriceTooLarge)
        );
        assert_eq!(
            Price::parse("0.0000000000001"),
            Err(PriceError::Amount(AmountError::TooManyDecimals {
                scale_max: 12
            }))
        );
        assert_eq!(
            Price::parse("-1"),
            Err(PriceError::Amount(AmountError::Negative))
        );
        assert_eq!(
            Price::parse("1e3"),
            Err(PriceError::Amount(AmountError::Malformed))
        );
        assert_eq!(
            Price::parse("999999999999999999"),
            Err(PriceError::PriceTooLarge)
        );
    }

    #[test]
    fn scientific_prices_are_exact() {
        // LiteLLM's 2.5e-06 per token is 2.5 per million: mantissa 25, exponent -7 + 6.
        assert_eq!(
            Price::from_scientific(25, -1).map(|p| p.to_string()),
            Ok("2.5".into())
        );
        assert_eq!(
            Price::from_scientific(546875, -6).map(|p| p.to_string()),
            Ok("0.546875".into())
        );
        assert_eq!(Price::from_scientific(0, -400), Ok(Price::ZERO));
        assert_eq!(
            Price::from_scientific(1000, -15).map(|p| p.mantissa()),
            Ok(1)
        );
        assert_eq!(
            Price::from_scientific(1500, -15),
            Err(PriceError::Amount(AmountError::TooManyDecimals {
                scale_max: 12
            }))
        );
        assert_eq!(
            Price::from_scientific(1, -13),
            Err(PriceError::Amount(AmountError::TooManyDecimals {
                scale_max: 12
            }))
        );
        assert_eq!(Price::from_scientific(1, 7), Err(PriceError::PriceTooLarge));
        assert_eq!(
            Price::from_scientific(1, 400),
            Err(PriceError::PriceTooLarge)
        );
        assert_eq!(
            Price::from_scientific(u128::MAX, 0),
            Err(PriceError::PriceTooLarge)
        );
    }

    #[test]
    fn model_names_are_checked() {
        assert!(ModelName::parse("gpt-4o").is_ok());
        assert!(ModelName::parse("bedrock/us.anthropic.claude-3-5:0").is_ok());
        for bad in ["", " gpt", "gpt ", "a\0b", "tab\there"] {
            assert_eq!(
                ModelName::parse(bad),
                Err(PriceError::InvalidModel),
                "{bad:?}"
            );
        }
        assert!(ModelName::parse(&"x".repeat(255)).is_ok());
        assert!(ModelName::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn sub_cent_usage_costs_exactly_and_is_charged_up() {
        // 37 input tokens of a $0.15/M model: $0.00000555.
        let v = version("0.15", "0.60");
        let usage = Usage {
            input_tokens: 37,
            ..Usage::default()
        };
        let cost = cost(&v, &usage).expect("cost");
        assert_eq!(cost.input.to_string(), "0.00000555");
        assert_eq!(cost.total.to_string(), "0.00000555");
        let at = |rate: &str, rounding| {
            credits_for_cost(&cost, usd(), rate.parse().expect("rate"), rounding)
                .map(|credits| credits.to_string())
        };
        // $1 a credit: exact at nine places.
        assert_eq!(at("1", Rounding::Up), Ok("0.00000555".into()));
        // A credit of one cent: 0.000555 credits.
        assert_eq!(at("0.01", Rounding::Up), Ok("0.000555".into()));
        // $3 a credit: 0.00000185 exactly.
        assert_eq!(at("3", Rounding::Up), Ok("0.00000185".into()));
        // $7 a credit: 0.000000792857… up to 0.000000793, down to 0.000000792.
        assert_eq!(at("7", Rounding::Up), Ok("0.000000793".into()));
        assert_eq!(at("7", Rounding::Down), Ok("0.000000792".into()));
    }

    #[test]
    fn a_cost_below_one_nano_credit_is_still_charged() {
        let v = version("0.000001", "0");
        let one = Usage {
            input_tokens: 1,
            ..Usage::default()
        };
        let cost = cost(&v, &one).expect("cost");
        assert_eq!(cost.total.to_string(), "0.000000000001");
        let rate = Decimal::ONE;
        assert_eq!(
            credits_for_cost(&cost, usd(), rate, Rounding::Up).map(|c| c.mantissa()),
            Ok(1)
        );
        assert_eq!(
            credits_for_cost(&cost, usd(), rate, Rounding::Down).map(|c| c.mantissa()),
            Ok(0)
        );
    }

    #[test]
    fn every_component_is_priced_and_summed_then_rounded_once() {
        let mut v = version("2.5", "10");
        v.amounts.per_request = price("0.001");
        let usage = Usage {
            input_tokens: 1200,
            cached_input_tokens: 100,
            cache_write_tokens: 10,
            output_tokens: 350,
            reasoning_tokens: 50,
            requests: 1,
        };
        let cost = cost(&v, &usage).expect("cost");
        assert_eq!(cost.input.to_string(), "0.003");
        assert_eq!(cost.cached_input.to_string(), "0.000125");
        assert_eq!(cost.cache_write.to_string(), "0.00003125");
        assert_eq!(cost.output.to_string(), "0.0035");
        assert_eq!(cost.reasoning.to_string(), "0.0005");
        assert_eq!(cost.per_request.to_string(), "0.001");
        assert_eq!(cost.total.to_string(), "0.00815625");
        // At $0.03 a credit: 0.271875 credits, exactly.
        let credits = credits_for_cost(&cost, usd(), "0.03".parse().expect("rate"), Rounding::Up);
        assert_eq!(credits.map(|c| c.to_string()), Ok("0.271875".into()));
    }

    #[test]
    fn absurd_usage_and_foreign_currencies_are_refused() {
        let v = version("2.5", "10");
        let usage = Usage {
            output_tokens: USAGE_COUNT_MAX + 1,
            ..Usage::default()
        };
        assert_eq!(
            cost(&v, &usage),
            Err(PriceError::UsageTooLarge {
                field: "output_tokens"
            })
        );
        // The largest counts at the largest prices still fit.
        let mut max = version("1000000", "1000000");
        max.amounts.per_request = price("1000000");
        let all = Usage {
            input_tokens: USAGE_COUNT_MAX,
            cached_input_tokens: USAGE_COUNT_MAX,
            cache_write_tokens: USAGE_COUNT_MAX,
            output_tokens: USAGE_COUNT_MAX,
            reasoning_tokens: USAGE_COUNT_MAX,
            requests: USAGE_COUNT_MAX,
        };
        let huge = cost(&max, &all).expect("fits");
        assert_eq!(
            credits_for_cost(&huge, usd(), Decimal::ONE, Rounding::Up),
            Err(PriceError::CreditsOutOfRange)
        );
        let small = cost(&v, &Usage::default()).expect("zero");
        assert!(small.total.is_zero());
        let eur = Currency::parse("EUR").expect("known");
        assert_eq!(
            credits_for_cost(&small, eur, Decimal::ONE, Rounding::Up),
            Err(PriceError::CurrencyMismatch {
                price: usd(),
                wallet: eur
            })
        );
        assert_eq!(
            credits_for_cost(&small, usd(), Decimal::ZERO, Rounding::Up),
            Err(PriceError::InvalidRate)
        );
    }

    #[test]
    fn effective_from_is_bounded() {
        let v = version("1", "1");
        let spec = |ms| PriceSpec::new(v.model.clone(), usd(), v.amounts, ms);
        assert!(spec(None).is_ok());
        assert!(spec(Some(0)).is_ok());
        assert!(spec(Some(EFFECTIVE_FROM_MAX_MS)).is_ok());
        assert_eq!(spec(Some(-1)), Err(PriceError::EffectiveFromOutOfRange));
        assert_eq!(
            spec(Some(EFFECTIVE_FROM_MAX_MS + 1)),
            Err(PriceError::EffectiveFromOutOfRange)
        );
    }

    #[test]
    fn keys_sort_by_model_then_time_then_id() {
        let name = |text| ModelName::parse(text).expect("name");
        let (a, ab) = (name("gpt-4"), name("gpt-4o"));
        let early = PriceVersionId::generate(5);
        let late = PriceVersionId::generate(6);
        let k1 = keys::version(&a, 1_000, &late);
        let k2 = keys::version(&a, 2_000, &early);
        let k3 = keys::version(&ab, 0, &early);
        assert!(k1 < k2, "effective time first, not creation");
        assert!(k2 < keys::model_end(&a));
        assert!(
            keys::model_end(&a) < k3,
            "a name's prefix sorts apart from it"
        );
        assert!(k1.starts_with(&keys::model_prefix(&a)));
        assert!(!k3.starts_with(&keys::model_prefix(&a)));
        // The in-force bound for T lies above versions at T, below T + 1.
        assert!(keys::in_force_bound(&a, 2_000) > k2);
        assert!(keys::in_force_bound(&a, 1_999) < k2);
        assert!(keys::in_force_bound(&a, 1_999) > k1);
        // Same time: the later id sorts last.
        assert!(keys::version(&a, 1_000, &early) < k1);
        assert_eq!(
            keys::version_parts(&k2),
            Some(("gpt-4", 2_000, early.clone()))
        );
        assert_eq!(keys::version_parts(&keys::by_id(&early)), None);
        assert_eq!(keys::by_id(&early).len(), 17);
        assert_eq!(early.successor().map(|next| next > early), Some(true));
    }
}
