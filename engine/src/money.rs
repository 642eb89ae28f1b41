//! Exact money: the strict decimal parser, `Credits` (the prepaid unit),
//! `Currency` (ISO 4217 with its minor units) and the two conversions between
//! credits and currency, each with its rounding named at the call site.
//!
//! Nothing here touches floating point. Credits live at a fixed scale of
//! [`CREDIT_SCALE`] decimal places; on disk they are the `i128` mantissa at
//! that scale, so one value has exactly one encoding.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Decimal places of a credit amount. Per-token AI prices need at least six;
/// nine leaves room for sub-micro prices without ever rescaling stored data,
/// which TigerBeetle warns cannot be done easily once money is on disk.
pub const CREDIT_SCALE: u32 = 9;

/// Decimal places of a `rate_amount` (the currency price of one credit).
/// A credit may cost a fraction of a cent, so rates get the credit scale.
pub const RATE_SCALE: u32 = CREDIT_SCALE;

/// Integer digits accepted in any amount. 18 digits at scale 9 keep every
/// value and the sum of two values far inside `Decimal`'s 28 digits.
pub const INTEGER_DIGITS_MAX: usize = 18;

/// Why a decimal string was refused. The API layer adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal string such as \"12.50\" (digits, an optional '.', no exponent, sign or spaces)")]
    Malformed,
    #[error("must not be negative")]
    Negative,
    #[error("has more than {scale_max} decimal places")]
    TooManyDecimals { scale_max: u32 },
    #[error("has more than {INTEGER_DIGITS_MAX} integer digits")]
    TooLarge,
    #[error("must be greater than zero")]
    NotPositive,
}

/// `amount` in minor units of `currency` (cents), as a provider takes it:
/// exact for an amount with at most the currency's decimals (finer digits
/// are cut), `None` when it does not fit an `i64`.
pub fn minor_amount(amount: Decimal, currency: Currency) -> Option<i64> {
    let scale = Decimal::from(10_i64.checked_pow(currency.minor_units())?);
    rust_decimal::prelude::ToPrimitive::to_i64(&amount.checked_mul(scale)?.trunc())
}

/// Parses a strict, non-negative decimal string with at most `scale_max`
/// decimal places: `0`, `12`, `12.5`, `0.012500`. Refused: exponents (`1e3`),
/// signs (`+1`, `-1`), spaces, `.5`, `5.`, hex, `NaN`, and anything longer
/// than [`INTEGER_DIGITS_MAX`] integer digits.
pub fn parse_decimal(text: &str, scale_max: u32) -> Result<Decimal, AmountError> {
    if let Some(rest) = text.strip_prefix('-') {
        // Say "negative" only for something that would otherwise be a number,
        // so "-abc" is still reported as malformed.
        return match parse_decimal(rest, scale_max) {
            Ok(_) | Err(AmountError::TooManyDecimals { .. }) | Err(AmountError::TooLarge) => {
                Err(AmountError::Negative)
            }
            Err(other) => Err(other),
        };
    }
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::Malformed);
    }
    let fraction = fraction.unwrap_or("");
    let integer = integer.trim_start_matches('0');
    if integer.len() > INTEGER_DIGITS_MAX {
        return Err(AmountError::TooLarge);
    }
    // Trailing zeros carry no value: "1.500" is fine at scale 1.
    let fraction = fraction.trim_end_matches('0');
    let scale = u32::try_from(fraction.len()).map_err(|_| AmountError::Malformed)?;
    if scale > scale_max {
        return Err(AmountError::TooManyDecimals { scale_max });
    }
    let mut mantissa: i128 = 0;
    for digit in integer.bytes().chain(fraction.bytes()) {
        // At most 18 + scale_max (<= 28) digits: cannot overflow i128.
        mantissa = mantissa * 10 + i128::from(digit - b'0');
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| AmountError::TooLarge)
}

/// Largest mantissa of any credit amount at [`CREDIT_SCALE`]: every balance,
/// lot, delta and request amount is at most 999,999,999,999,999,999.999999999
/// credits (the parser's 18 integer digits). A result beyond it is refused
/// (422 `amount_out_of_range`) before anything is written, never rounded.
pub const CREDITS_MANTISSA_MAX: i128 = 10_i128.pow(INTEGER_DIGITS_MAX as u32 + CREDIT_SCALE) - 1;

/// Largest `rate_amount` (currency per credit). With [`CREDITS_MANTISSA_MAX`]
/// it bounds the currency value of any balance to 10^24, which `Decimal`
/// holds exactly at every currency's minor units.
pub const RATE_MAX: i64 = 1_000_000;

/// An amount of credits: the prepaid unit. May be negative only as a ledger
/// delta; balances are kept non-negative by `Wallet::apply`.
///
/// Held as an `i128` mantissa at [`CREDIT_SCALE`], not as a `Decimal`:
/// `Decimal` silently drops decimal places when a result outgrows its 96-bit
/// mantissa, while integer arithmetic here is exact and every result is
/// checked against [`CREDITS_MANTISSA_MAX`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Credits(i128);

impl crate::store::codec::Stored for Credits {}

impl Credits {
    /// Zero credits.
    pub const ZERO: Credits = Credits(0);

    /// The largest amount any balance, lot or request may hold.
    pub const MAX: Credits = Credits(CREDITS_MANTISSA_MAX);

    /// Parses a strict positive-or-zero credit string (see [`parse_decimal`]).
    pub fn parse(text: &str) -> Result<Credits, AmountError> {
        let value = parse_decimal(text, CREDIT_SCALE)?;
        Credits::from_decimal(value).ok_or(AmountError::TooLarge)
    }

    /// Parses a credit string that must be greater than zero.
    pub fn parse_positive(text: &str) -> Result<Credits, AmountError> {
        let credits = Credits::parse(text)?;
        if credits.is_zero() {
            return Err(AmountError::NotPositive);
        }
        Ok(credits)
    }

    /// Credits equal to `value`; `None` if it has more than [`CREDIT_SCALE`]
    /// decimals or lies outside the range.
    pub fn from_decimal(value: Decimal) -> Option<Credits> {
        if value.scale() > CREDIT_SCALE {
            return None;
        }
        let factor = 10_i128.checked_pow(CREDIT_SCALE - value.scale())?;
        value
            .mantissa()
            .checked_mul(factor)
            .and_then(Credits::from_mantissa)
    }

    /// Builds credits from a mantissa at [`CREDIT_SCALE`] (the storage form);
    /// `None` outside the range.
    pub fn from_mantissa(mantissa: i128) -> Option<Credits> {
        (mantissa.unsigned_abs() <= CREDITS_MANTISSA_MAX.unsigned_abs())
            .then_some(Credits(mantissa))
    }

    /// The mantissa at [`CREDIT_SCALE`]: the one storage encoding.
    pub fn mantissa(self) -> i128 {
        self.0
    }

    /// The exact decimal value.
    pub fn to_decimal(self) -> Decimal {
        // |mantissa| < 10^27 < 2^96: always representable.
        Decimal::from_i128_with_scale(self.0, CREDIT_SCALE)
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Checked addition; `None` past the range.
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).and_then(Credits::from_mantissa)
    }

    /// Checked subtraction; `None` past the range.
    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).and_then(Credits::from_mantissa)
    }

    /// The negated amount (for outbound ledger deltas). The range is
    /// symmetric, so this always fits.
    pub fn negated(self) -> Credits {
        Credits(-self.0)
    }

    /// The absolute amount.
    pub fn abs(self) -> Credits {
        Credits(self.0.abs())
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Credits) -> Credits {
        if self <= other {
            self
        } else {
            other
        }
    }

    /// `self * numerator / denominator`, rounded toward zero, for
    /// non-negative operands; `None` past the range or for a zero
    /// denominator. Exact for any operands (the product may exceed 128 bits).
    pub fn mul_div_floor(self, numerator: Credits, denominator: Credits) -> Option<Credits> {
        let a = u128::try_from(self.0).ok()?;
        let b = u128::try_from(numerator.0).ok()?;
        let d = u128::try_from(denominator.0).ok()?;
        let quotient = mul_div_floor(a, b, d)?;
        i128::try_from(quotient)
            .ok()
            .and_then(Credits::from_mantissa)
    }
}

impl fmt::Display for Credits {
    /// Shortest exact form: `10`, `0.0125`. The scale is fixed, so trailing
    /// zeros carry no information and are dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_decimal().normalize(), f)
    }
}

impl fmt::Debug for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credits({self})")
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i128(self.0)
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mantissa = i128::deserialize(deserializer)?;
        Credits::from_mantissa(mantissa)
            .ok_or_else(|| serde::de::Error::custom("credit mantissa out of range"))
    }
}

/// `floor(a * b / d)` exactly, for any `u128` operands: the product is formed
/// in 256 bits (two `u128` halves) and divided by long division. `None` when
/// `d` is zero or the quotient does not fit 128 bits.
pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
    mul_div_rem(a, b, d).map(|(quotient, _)| quotient)
}

/// `ceil(a * b / d)` exactly, as [`mul_div_floor`] but rounding up: for
/// charges, which must never come out below what was used.
pub fn mul_div_ceil(a: u128, b: u128, d: u128) -> Option<u128> {
    let (quotient, remainder) = mul_div_rem(a, b, d)?;
    if remainder == 0 {
        Some(quotient)
    } else {
        quotient.checked_add(1)
    }
}

/// The quotient and remainder of `a * b / d`, exactly (see [`mul_div_floor`]).
fn mul_div_rem(a: u128, b: u128, d: u128) -> Option<(u128, u128)> {
    if d == 0 {
        return None;
    }
    if let Some(product) = a.checked_mul(b) {
        return Some((product / d, product % d));
    }
    let (high, low) = widening_mul(a, b);
    if high >= d {
        return None;
    }
    // Restoring division of (high ‖ low) by d, one bit of `low` at a time;
    // the remainder stays below d, so `high` is always the running remainder.
    let mut remainder = high;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let carry = remainder >> 127;
        remainder = (remainder << 1) | ((low >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || remainder >= d {
            remainder = remainder.wrapping_sub(d);
            quotient |= 1;
        }
    }
    Some((quotient, remainder))
}

/// The 256-bit product of two `u128`s as (high, low) halves.
fn widening_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let middle = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (lo_lo & MASK) | (middle << 64);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (middle >> 64);
    (high, low)
}

/// A price or currency amount stored as a mantissa at a fixed scale, for the
/// same reason as [`Credits`]: one value, one encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed {
    mantissa: i128,
    scale: u32,
}

impl Fixed {
    /// Stores `value` at `scale`; `None` if it has more decimals than that.
    pub fn new(value: Decimal, scale: u32) -> Option<Fixed> {
        if value.scale() > scale {
            return None;
        }
        let mut value = value;
        value.rescale(scale);
        Some(Fixed {
            mantissa: value.mantissa(),
            scale,
        })
    }

    /// The exact decimal value.
    pub fn to_decimal(self) -> Decimal {
        // Built from a valid Decimal, so the mantissa always fits.
        Decimal::from_i128_with_scale(self.mantissa, self.scale)
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_decimal(), f)
    }
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fixed({self})")
    }
}

impl Serialize for Fixed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.mantissa, self.scale).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Fixed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (mantissa, scale) = <(i128, u32)>::deserialize(deserializer)?;
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .map_err(|_| serde::de::Error::custom("fixed-point value out of range"))?;
        Ok(Fixed { mantissa, scale })
    }
}

/// Serde for a plain `Decimal`: the normalized (mantissa, scale) pair, so
/// equal values have one encoding (`"10"` and `"10.00"` encode, and so
/// fingerprint, the same). Use with `#[serde(with = "decimal_serde")]`.
pub mod decimal_serde {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes the normalized mantissa and scale.
    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        let value = value.normalize();
        (value.mantissa(), value.scale()).serialize(serializer)
    }

    /// Deserializes what `serialize` wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let (mantissa, scale) = <(i128, u32)>::deserialize(deserializer)?;
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .map_err(|_| serde::de::Error::custom("decimal out of range"))
    }

    /// The same for `Option<Decimal>`.
    pub mod option {
        use rust_decimal::Decimal;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        /// Serializes `None` or the normalized mantissa and scale.
        pub fn serialize<S: Serializer>(
            value: &Option<Decimal>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value
                .map(|value| {
                    let value = value.normalize();
                    (value.mantissa(), value.scale())
                })
                .serialize(serializer)
        }

        /// Deserializes what `serialize` wrote.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Decimal>, D::Error> {
            match <Option<(i128, u32)>>::deserialize(deserializer)? {
                Some((mantissa, scale)) => Decimal::try_from_i128_with_scale(mantissa, scale)
                    .map(Some)
                    .map_err(|_| serde::de::Error::custom("decimal out of range")),
                None => Ok(None),
            }
        }
    }
}

/// An ISO 4217 currency code that Tally knows, with its minor units.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

/// Currencies with 0, 3 and 4 minor units; every other known code has 2.
const MINOR_UNITS_0: &str = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
const MINOR_UNITS_3: &str = "BHD IQD JOD KWD LYD OMR TND";
const MINOR_UNITS_4: &str = "CLF UYW";
const MINOR_UNITS_2: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP \
GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP \
LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB \
PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL \
THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG";

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses an ISO 4217 code: exactly three upper-case letters that Tally knows.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let currency = Currency(bytes);
        currency.lookup_minor_units().map(|_| currency)
    }

    fn lookup_minor_units(self) -> Option<u32> {
        // Built once: rendering asks for minor units on every response.
        static TABLE: std::sync::OnceLock<std::collections::HashMap<[u8; 3], u32>> =
            std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            [
                (MINOR_UNITS_2, 2),
                (MINOR_UNITS_0, 0),
                (MINOR_UNITS_3, 3),
                (MINOR_UNITS_4, 4),
            ]
            .into_iter()
            .flat_map(|(codes, units)| {
                codes.split_ascii_whitespace().filter_map(move |code| {
                    Some((<[u8; 3]>::try_from(code.as_bytes()).ok()?, units))
                })
            })
            .collect()
        });
        table.get(&self.0).copied()
    }

    /// Decimal places of this currency (USD 2, JPY 0, KWD 3).
    pub fn minor_units(self) -> u32 {
        // Construction goes through `parse` (or decoding of what `parse` made),
        // so the code is always in the table.
        self.lookup_minor_units().unwrap_or(2)
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

/// A non-negative decimal as (mantissa, scale), for the exact conversions.
fn unsigned_parts(value: Decimal) -> Option<(u128, u32)> {
    if value.is_sign_negative() && !value.is_zero() {
        return None;
    }
    Some((value.mantissa().unsigned_abs(), value.scale()))
}

/// Credits bought by `amount` of currency at `rate` (currency per credit),
/// rounded toward zero at the credit scale: a deposit never mints a fraction
/// of a credit that was not paid for. Exact integer arithmetic throughout;
/// `None` when the result exceeds [`Credits::MAX`] or `rate` is not positive.
pub fn credits_for_amount(amount: Decimal, rate: Decimal) -> Option<Credits> {
    let (a, amount_scale) = unsigned_parts(amount)?;
    let (r, rate_scale) = unsigned_parts(rate)?;
    // credits = (a / 10^s) / (r / 10^t); its mantissa at scale 9 is
    // floor(a * 10^(9 + t) / (r * 10^s)).
    let numerator = 10_u128.checked_pow(CREDIT_SCALE + rate_scale)?;
    let denominator = r.checked_mul(10_u128.checked_pow(amount_scale)?)?;
    let mantissa = mul_div_floor(a, numerator, denominator)?;
    i128::try_from(mantissa)
        .ok()
        .and_then(Credits::from_mantissa)
}

/// Currency value of `credits` at `rate`, rounded toward zero to the
/// currency's minor units: a balance is never shown as worth more than it is.
/// Exact; `None` only past `Decimal`'s range, which [`RATE_MAX`] rules out
/// for any wallet.
pub fn amount_for_credits(credits: Credits, rate: Decimal, currency: Currency) -> Option<Decimal> {
    let negative = credits.is_negative();
    let c = credits.mantissa().unsigned_abs();
    let (r, rate_scale) = unsigned_parts(rate)?;
    let minor = currency.minor_units();
    // value = c * r / 10^(9 + t); at `minor` decimals its mantissa is
    // floor(c * r / 10^(9 + t - minor)).
    let shift = (CREDIT_SCALE + rate_scale).checked_sub(minor)?;
    let mantissa = mul_div_floor(c, r, 10_u128.checked_pow(shift)?)?;
    let mantissa = i128::try_from(mantissa).ok()?;
    let value = Decimal::try_from_i128_with_scale(mantissa, minor).ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, scale: u32, expect: Result<&str, AmountError>) {
        let got = parse_decimal(text, scale).map(|d| d.to_string());
        assert_eq!(got, expect.map(str::to_owned), "input {text:?}");
    }

    #[test]
    fn parser_accepts_plain_decimals() {
        check("0", 2, Ok("0"));
        check("12", 2, Ok("12"));
        check("12.5", 2, Ok("12.5"));
        check("0.012500", 6, Ok("0.0125"));
        check("1.500", 1, Ok("1.5"));
        check("007", 0, Ok("7"));
        check(
            "999999999999999999.999999999",
            9,
            Ok("999999999999999999.999999999"),
        );
    }

    #[test]
    fn parser_rejects_everything_else() {
        for bad in [
            "", " 1", "1 ", "1e3", "1E3", "+1", ".5", "5.", "1.2.3", "0x10", "NaN", "inf", "1,5",
            "١",
        ] {
            check(bad, 9, Err(AmountError::Malformed));
        }
        check("-1", 9, Err(AmountError::Negative));
        check("-0.001", 2, Err(AmountError::Negative));
        check("-x", 2, Err(AmountError::Malformed));
        check(
            "1.001",
            2,
            Err(AmountError::TooManyDecimals { scale_max: 2 }),
        );
        check("1.5", 0, Err(AmountError::TooManyDecimals { scale_max: 0 }));
        check("1000000000000000000", 9, Err(AmountError::TooLarge));
    }

    #[test]
    fn credits_round_trip_through_the_mantissa() {
        let credits = Credits::parse("0.0125").expect("valid");
        assert_eq!(credits.mantissa(), 12_500_000);
        assert_eq!(Credits::from_mantissa(12_500_000), Some(credits));
        assert_eq!(credits.to_string(), "0.0125");
        // Two spellings of one value are one value.
        assert_eq!(Credits::parse("0.01250"), Ok(credits));
        assert_eq!(Credits::parse_positive("0"), Err(AmountError::NotPositive));
        assert_eq!(Credits::ZERO.mantissa(), 0);
        assert_eq!(Credits::from_mantissa(0), Some(Credits::ZERO));
    }

    #[test]
    fn arithmetic_is_exact_with_many_decimals() {
        let mut total = Credits::ZERO;
        let step = Credits::parse("0.000000001").expect("valid");
        for _ in 0..1000 {
            total = total.checked_add(step).expect("in range");
        }
        assert_eq!(total.to_string(), "0.000001");
        let tenth = Credits::parse("0.1").expect("valid");
        let third = Credits::parse("0.2").expect("valid");
        assert_eq!(
            tenth.checked_add(third).map(|c| c.to_string()),
            Some("0.3".into())
        );
    }

    #[test]
    fn the_largest_amounts_stay_exact_or_are_refused() {
        let max = Credits::parse("999999999999999999.999999999").expect("the maximum parses");
        assert_eq!(max, Credits::MAX);
        assert_eq!(max.to_string(), "999999999999999999.999999999");
        let tiny = Credits::parse("0.000000001").expect("valid");
        assert_eq!(max.checked_add(tiny), None, "past the maximum is refused");
        assert_eq!(max.negated().checked_sub(tiny), None);
        let half = Credits::parse("500000000000000000").expect("valid");
        assert_eq!(half.checked_add(half), None);
        let almost = Credits::parse("499999999999999999.999999999").expect("valid");
        assert_eq!(half.checked_add(almost), Some(max));
        assert_eq!(Credits::from_mantissa(CREDITS_MANTISSA_MAX + 1), None);
        assert_eq!(Credits::from_decimal(Decimal::new(1, 10)), None, "scale 10");
    }

    #[test]
    fn deposits_at_a_small_rate_never_lose_digits() {
        // The repro of issue 9: 10^18 - 1 at 0.01 per credit would be 10^20
        // credits, past the maximum: refused, not stored divided by ten.
        let amount: Decimal = "999999999999999999".parse().expect("decimal");
        let rate: Decimal = "0.01".parse().expect("decimal");
        assert_eq!(credits_for_amount(amount, rate), None);
        // Just inside the range, every digit survives.
        let amount: Decimal = "9999999999999999.99".parse().expect("decimal");
        let credits = credits_for_amount(amount, rate).expect("in range");
        assert_eq!(credits.to_string(), "999999999999999999");
        // A quotient needing more than 28 significant digits is exact too.
        let amount: Decimal = "999999999999999999.9999".parse().expect("decimal");
        let rate: Decimal = "1.000000001".parse().expect("decimal");
        let credits = credits_for_amount(amount, rate).expect("in range");
        assert_eq!(credits.to_string(), "999999999000000000.999899999");
        let usd = Currency::parse("USD").expect("known");
        let value = amount_for_credits(Credits::MAX, Decimal::from(RATE_MAX), usd)
            .expect("the largest value fits");
        assert_eq!(value.to_string(), "999999999999999999999999.99");
    }

    #[test]
    fn mul_div_is_exact_beyond_128_bits() {
        assert_eq!(
            mul_div_floor(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
        assert_eq!(mul_div_floor(u128::MAX, 2, 2), Some(u128::MAX));
        assert_eq!(mul_div_floor(u128::MAX, 2, 1), None);
        assert_eq!(mul_div_floor(7, 3, 0), None);
        let a = 10_u128.pow(27) - 1;
        let b = 10_u128.pow(18);
        assert_eq!(mul_div_floor(a, b, b), Some(a));
        assert_eq!(mul_div_floor(a, b, 3 * b), Some(a / 3));
        assert_eq!(mul_div_floor(1 << 100, 1 << 100, 1 << 90), Some(1 << 110));
    }

    #[test]
    fn mul_div_ceil_rounds_up_only_what_is_inexact() {
        assert_eq!(mul_div_ceil(7, 3, 3), Some(7));
        assert_eq!(mul_div_ceil(7, 1, 3), Some(3));
        assert_eq!(mul_div_ceil(0, 5, 3), Some(0));
        assert_eq!(mul_div_ceil(7, 3, 0), None);
        // Past 128 bits: (2^127 * 6 + ...) / 4 exact, and one more inexact.
        assert_eq!(mul_div_ceil(1 << 127, 6, 4), Some(3 << 126));
        assert_eq!(mul_div_ceil((1 << 127) + 1, 6, 4), Some((3 << 126) + 2));
        assert_eq!(mul_div_floor((1 << 127) + 1, 6, 4), Some((3 << 126) + 1));
        assert_eq!(
            mul_div_ceil(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
    }

    #[test]
    fn minor_amounts_are_exact_and_never_overflow() {
        let currency = |code: &str| Currency::parse(code).expect("known");
        let amount = |text: &str| text.parse::<Decimal>().expect("decimal");
        assert_eq!(minor_amount(amount("10.50"), currency("USD")), Some(1050));
        assert_eq!(minor_amount(amount("15"), currency("JPY")), Some(15));
        assert_eq!(minor_amount(amount("1.234"), currency("KWD")), Some(1234));
        assert_eq!(minor_amount(Decimal::MAX, currency("USD")), None);
        assert_eq!(
            minor_amount(amount("92233720368547758.08"), currency("USD")),
            None
        );
    }

    #[test]
    fn currencies_know_their_minor_units() {
        let units = |code: &str| Currency::parse(code).map(Currency::minor_units);
        assert_eq!(units("USD"), Some(2));
        assert_eq!(units("JPY"), Some(0));
        assert_eq!(units("KWD"), Some(3));
        assert_eq!(units("CLF"), Some(4));
        assert_eq!(units("usd"), None);
        assert_eq!(units("XYZ"), None);
        assert_eq!(units("US"), None);
    }

    #[test]
    fn conversions_round_toward_zero() {
        let usd = Currency::parse("USD").expect("known");
        let ten = Decimal::from(10);
        let three = Decimal::from(3);
        let credits = credits_for_amount(ten, three).expect("in range");
        assert_eq!(credits.to_string(), "3.333333333");
        let value = amount_for_credits(credits, three, usd).expect("in range");
        assert_eq!(value.to_string(), "9.99");
    }
}
