//! Exact money: the strict decimal parser, `Credits` (the prepaid unit),
//! `Currency` (ISO 4217 with its minor units) and the two conversions between
//! credits and currency, each with its rounding named at the call site.
//!
//! Nothing here touches floating point. Credits live at a fixed scale of
//! [`CREDIT_SCALE`] decimal places; on disk they are the `i128` mantissa at
//! that scale, so one value has exactly one encoding.

use rust_decimal::{Decimal, RoundingStrategy};
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

/// An amount of credits: the prepaid unit. May be negative only as a ledger
/// delta; balances are kept non-negative by `Wallet::apply`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Credits(Decimal);

impl Credits {
    /// Zero credits.
    pub const ZERO: Credits = Credits(Decimal::ZERO);

    /// Parses a strict positive-or-zero credit string (see [`parse_decimal`]).
    pub fn parse(text: &str) -> Result<Credits, AmountError> {
        parse_decimal(text, CREDIT_SCALE).map(Credits::from_decimal_exact)
    }

    /// Parses a credit string that must be greater than zero.
    pub fn parse_positive(text: &str) -> Result<Credits, AmountError> {
        let credits = Credits::parse(text)?;
        if credits.is_zero() {
            return Err(AmountError::NotPositive);
        }
        Ok(credits)
    }

    /// Wraps a decimal that already fits the credit scale.
    fn from_decimal_exact(value: Decimal) -> Credits {
        assert!(
            value.scale() <= CREDIT_SCALE,
            "credits beyond scale: {value}"
        );
        let mut value = value;
        value.rescale(CREDIT_SCALE);
        Credits(value)
    }

    /// Builds credits from a mantissa at [`CREDIT_SCALE`] (the storage form).
    pub fn from_mantissa(mantissa: i128) -> Option<Credits> {
        Decimal::try_from_i128_with_scale(mantissa, CREDIT_SCALE)
            .ok()
            .map(Credits)
    }

    /// The mantissa at [`CREDIT_SCALE`]: the one storage encoding.
    pub fn mantissa(self) -> i128 {
        let mut value = self.0;
        value.rescale(CREDIT_SCALE);
        value.mantissa()
    }

    /// The exact decimal value.
    pub fn to_decimal(self) -> Decimal {
        self.0
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// True below zero.
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Checked addition; `None` past the representable range.
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits::from_decimal_exact)
    }

    /// Checked subtraction; `None` past the representable range.
    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).map(Credits::from_decimal_exact)
    }

    /// The negated amount (for outbound ledger deltas).
    pub fn negated(self) -> Credits {
        Credits(-self.0)
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Credits) -> Credits {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl fmt::Display for Credits {
    /// Shortest exact form: `10`, `0.0125`. The scale is fixed, so trailing
    /// zeros carry no information and are dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl fmt::Debug for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credits({self})")
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i128(self.mantissa())
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mantissa = i128::deserialize(deserializer)?;
        Credits::from_mantissa(mantissa)
            .ok_or_else(|| serde::de::Error::custom("credit mantissa out of range"))
    }
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

/// Credits bought by `amount` of currency at `rate` (currency per credit),
/// rounded toward zero at the credit scale: a deposit never mints a fraction
/// of a credit that was not paid for.
pub fn credits_for_amount(amount: Decimal, rate: Decimal) -> Option<Credits> {
    assert!(rate > Decimal::ZERO, "rate must be positive");
    assert!(!amount.is_sign_negative(), "amount must not be negative");
    let credits = amount
        .checked_div(rate)?
        .round_dp_with_strategy(CREDIT_SCALE, RoundingStrategy::ToZero);
    Some(Credits::from_decimal_exact(credits))
}

/// Currency value of `credits` at `rate`, rounded toward zero to the
/// currency's minor units: a balance is never shown as worth more than it is.
pub fn amount_for_credits(credits: Credits, rate: Decimal, currency: Currency) -> Option<Decimal> {
    credits
        .to_decimal()
        .checked_mul(rate)
        .map(|value| value.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::ToZero))
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
