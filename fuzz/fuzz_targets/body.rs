//! Fuzz target: request body decoding, through the API's own wire-format
//! module (`api/src/dto.rs`, included as it is) and its error type. Any
//! bytes may be sent as any body; decoding and validation must never panic,
//! and an amount that passes validation must be one the strict grammar
//! allows.
#![no_main]

#[path = "../../api/src/error.rs"]
#[allow(dead_code, unreachable_pub)]
mod error;

#[path = "../../api/src/dto.rs"]
#[allow(dead_code, unreachable_pub)]
mod dto;

use libfuzzer_sys::fuzz_target;

fn limits() -> dto::Limits {
    dto::Limits {
        metadata_pairs_max: 15,
        metadata_key_len_max: 40,
        metadata_value_len_max: 255,
        page_limit_max: 1000,
        body_limit_bytes: 65536,
        batch_items_max: 100,
        batch_body_limit_bytes: 1 << 20,
        body_timeout: std::time::Duration::from_secs(1),
    }
}

/// The strict grammar of an accepted amount.
fn strict(text: &str) -> bool {
    let (integer, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(integer) && digits(fraction)
}

fn check_amount(field: &str, text: &dto::DecimalText, accepted: bool) {
    if accepted {
        assert!(strict(&text.0), "{field} accepted {:?}", text.0);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    let usd = engine::Currency::parse("USD").expect("known");
    if let Ok(body) = dto::decode_json::<dto::Debit>(data) {
        let accepted = dto::credits_positive("credits", Some(&body.credits)).is_ok();
        check_amount("credits", &body.credits, accepted);
        let _ = dto::metadata_from_map(&limits, body.metadata);
    }
    if let Ok(body) = dto::decode_json::<dto::WalletTransaction>(data) {
        for (field, text) in [("paid_credits", &body.paid_credits), ("granted_credits", &body.granted_credits), ("credits_to_void", &body.credits_to_void)] {
            if let Some(text) = text {
                check_amount(field, text, dto::credits_or_zero(field, Some(text)).is_ok());
            }
        }
        let _ = dto::metadata_from_pairs(&limits, body.metadata);
    }
    if let Ok(body) = dto::decode_json::<dto::Deposit>(data) {
        check_amount("amount", &body.amount, dto::currency_amount("amount", &body.amount, usd).is_ok());
        let _ = dto::identifier("user", &body.user);
    }
    if let Ok(body) = dto::decode_json::<dto::CreateWallet>(data) {
        check_amount("rate_amount", &body.rate_amount, dto::rate("rate_amount", &body.rate_amount).is_ok());
        let _ = dto::currency("currency", &body.currency);
        let _ = dto::identifier("external_customer_id", &body.external_customer_id);
    }
    if let Ok(batch) = dto::decode_json::<dto::DebitBatch>(data) {
        for item in batch.items {
            check_amount("credits", &item.credits, dto::credits_positive("credits", Some(&item.credits)).is_ok());
        }
    }
});
