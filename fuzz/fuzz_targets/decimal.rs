//! Fuzz target: the strict decimal parser. For any input and scale, a value
//! is accepted only if an independent reading of the grammar accepts it, it
//! equals that reading's value, and credits round-trip through their
//! storage mantissa. No input may panic.
#![no_main]

use engine::money::{parse_decimal, AmountError, Credits, INTEGER_DIGITS_MAX};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

/// The grammar, read independently: digits, optionally '.' and digits.
fn oracle(text: &str, scale_max: u32) -> Option<Decimal> {
    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || (text.contains('.') && !digits(fraction)) {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    if integer.trim_start_matches('0').len() > INTEGER_DIGITS_MAX || fraction.len() > scale_max as usize {
        return None;
    }
    let normalized = if fraction.is_empty() { integer.to_owned() } else { format!("{integer}.{fraction}") };
    normalized.parse().ok()
}

fuzz_target!(|input: (&str, u8)| {
    let (text, scale) = input;
    let scale_max = u32::from(scale % 10);
    let parsed = parse_decimal(text, scale_max);
    match (&parsed, oracle(text, scale_max)) {
        (Ok(value), Some(expected)) => assert_eq!(*value, expected, "{text:?}"),
        (Ok(value), None) => panic!("accepted {text:?} as {value} at scale {scale_max}"),
        (Err(_), Some(expected)) => panic!("refused {text:?} ({expected}) at scale {scale_max}"),
        (Err(error), None) => assert!(!matches!(error, AmountError::NotPositive)),
    }
    if let Ok(credits) = Credits::parse(text) {
        assert_eq!(Credits::from_mantissa(credits.mantissa()), Some(credits));
        assert_eq!(Credits::parse(&credits.to_string()), Ok(credits));
    }
});
