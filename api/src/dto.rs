//! The wire format: request bodies as clients send them, their decoding
//! (errors name the offending field, via serde_path_to_error, so
//! `{"credits": 5}` is answered "credits: expected a decimal string"), their
//! validation into engine types (amounts as strict decimal strings, metadata
//! limits, identifiers), and the JSON views of wallets and transactions.
//! Knows no server state, so the fuzz targets include it as it is.

use crate::error::ApiError;
use engine::money::{
    amount_for_credits, parse_decimal, AmountError, Credits, Currency, RATE_SCALE,
};
use engine::{Entry, Metadata, Wallet};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// An amount as clients must send it: a JSON string. Numbers are refused, so
/// a value never passes through a float on the way in.
#[derive(Debug, Clone)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a decimal string such as \"12.50\" (amounts are strings, not JSON numbers)",
                )
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(text.to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Decodes `bytes` as `T`, naming the field at fault.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson {
            message: "the request body is empty; expected a JSON object".into(),
            field: None,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = (path != ".").then_some(path);
        let inner = error.into_inner();
        let message = match &field {
            Some(field) => format!("{field}: {inner}"),
            None => inner.to_string(),
        };
        ApiError::InvalidJson { message, field }
    })?;
    deserializer.end().map_err(|error| ApiError::InvalidJson {
        message: format!("trailing characters after the JSON value: {error}"),
        field: None,
    })?;
    Ok(value)
}

impl utoipa::PartialSchema for DecimalText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
            .description(Some("A plain decimal as a string: digits, optionally a point and digits. No sign, exponent or spaces."))
            .examples([serde_json::json!("12.50")])
            .into()
    }
}

impl utoipa::ToSchema for DecimalText {}

impl utoipa::PartialSchema for MetadataValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .description(Some(
                "A label; numbers and booleans are kept as their text.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for MetadataValue {}

/// Limits applied to client strings and metadata.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub metadata_pairs_max: usize,
    pub metadata_key_len_max: usize,
    pub metadata_value_len_max: usize,
    pub page_limit_max: usize,
    pub body_limit_bytes: usize,
    pub batch_items_max: usize,
    pub batch_body_limit_bytes: usize,
    pub body_timeout: std::time::Duration,
}

/// Longest identifier (customer id, user, name) accepted.
pub const IDENTIFIER_LEN_MAX: usize = 255;

fn amount_error(field: &str, error: AmountError) -> ApiError {
    ApiError::amount(field, error)
}

/// Credits >= 0, or zero when absent.
pub fn credits_or_zero(field: &str, text: Option<&DecimalText>) -> Result<Credits, ApiError> {
    match text {
        Some(text) => Credits::parse(&text.0).map_err(|error| amount_error(field, error)),
        None => Ok(Credits::ZERO),
    }
}

/// Credits > 0, required.
pub fn credits_positive(field: &str, text: Option<&DecimalText>) -> Result<Credits, ApiError> {
    let text = text.ok_or_else(|| ApiError::amount(field, "is required"))?;
    Credits::parse_positive(&text.0).map_err(|error| amount_error(field, error))
}

/// A currency amount > 0 with at most the currency's minor units.
pub fn currency_amount(
    field: &str,
    text: &DecimalText,
    currency: Currency,
) -> Result<Decimal, ApiError> {
    let amount = parse_decimal(&text.0, currency.minor_units()).map_err(|error| match error {
        AmountError::TooManyDecimals { scale_max } => ApiError::amount(
            field,
            format!("has more than {scale_max} decimal places, the minor units of {currency}"),
        ),
        other => amount_error(field, other),
    })?;
    if amount.is_zero() {
        return Err(amount_error(field, AmountError::NotPositive));
    }
    Ok(amount)
}

/// A decimal > 0 with at most `scale_max` decimal places.
pub fn positive_decimal(
    field: &str,
    text: &DecimalText,
    scale_max: u32,
) -> Result<Decimal, ApiError> {
    let value = parse_decimal(&text.0, scale_max).map_err(|error| amount_error(field, error))?;
    if value.is_zero() {
        return Err(amount_error(field, AmountError::NotPositive));
    }
    Ok(value)
}

/// A rate (currency per credit) > 0.
pub fn rate(field: &str, text: &DecimalText) -> Result<Decimal, ApiError> {
    positive_decimal(field, text, RATE_SCALE)
}

/// A known ISO 4217 code.
pub fn currency(field: &str, code: &str) -> Result<Currency, ApiError> {
    Currency::parse(code).ok_or_else(|| {
        ApiError::field(field, format!("{code:?} is not a known ISO 4217 currency code (three upper-case letters, e.g. USD)"))
    })
}

/// A non-empty identifier of printable characters, at most 255 of them.
pub fn identifier(field: &str, text: &str) -> Result<String, ApiError> {
    text_field(field, text, IDENTIFIER_LEN_MAX)?;
    if text.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    Ok(text.to_owned())
}

fn text_field(field: &str, text: &str, len_max: usize) -> Result<(), ApiError> {
    if text.chars().count() > len_max {
        return Err(ApiError::field(
            field,
            format!("is longer than {len_max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Metadata as an array of `{"key","value"}` (wallet transactions, seed 001).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetadataPair {
    pub key: String,
    pub value: String,
}

/// A scalar metadata value in object form: strings, numbers or booleans,
/// kept as their text (they are labels, never amounts).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MetadataValue {
    Text(String),
    Number(serde_json::Number),
    Flag(bool),
}

impl MetadataValue {
    /// The value as text.
    pub fn into_text(self) -> String {
        match self {
            MetadataValue::Text(text) => text,
            MetadataValue::Number(number) => number.to_string(),
            MetadataValue::Flag(flag) => flag.to_string(),
        }
    }
}

/// Checks metadata against the limits and keeps it in request order.
pub fn metadata(limits: &Limits, pairs: Vec<(String, String)>) -> Result<Metadata, ApiError> {
    if pairs.len() > limits.metadata_pairs_max {
        return Err(ApiError::field(
            "metadata",
            format!("has more than {} pairs", limits.metadata_pairs_max),
        ));
    }
    for (key, value) in &pairs {
        if key.is_empty() {
            return Err(ApiError::field("metadata", "keys must not be empty"));
        }
        text_field("metadata key", key, limits.metadata_key_len_max)?;
        text_field("metadata value", value, limits.metadata_value_len_max)?;
    }
    Ok(pairs)
}

/// Metadata from its array form.
pub fn metadata_from_pairs(
    limits: &Limits,
    pairs: Option<Vec<MetadataPair>>,
) -> Result<Metadata, ApiError> {
    let pairs = pairs
        .unwrap_or_default()
        .into_iter()
        .map(|pair| (pair.key, pair.value))
        .collect();
    metadata(limits, pairs)
}

/// Metadata from its object form (debits, deposits).
pub fn metadata_from_map(
    limits: &Limits,
    map: Option<BTreeMap<String, MetadataValue>>,
) -> Result<Metadata, ApiError> {
    let pairs = map
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.into_text()))
        .collect();
    metadata(limits, pairs)
}

/// `POST /v1/wallets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWallet {
    pub external_customer_id: String,
    pub name: Option<String>,
    pub currency: String,
    pub rate_amount: DecimalText,
    pub paid_credits: Option<DecimalText>,
    pub granted_credits: Option<DecimalText>,
    /// `active` (default) or `pending`.
    pub status: Option<String>,
}

/// `POST /v1/wallets/{id}/wallet-transactions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletTransaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub paid_credits: Option<DecimalText>,
    pub granted_credits: Option<DecimalText>,
    pub credits_to_void: Option<DecimalText>,
    pub metadata: Option<Vec<MetadataPair>>,
}

/// `POST /v1/wallets/{id}/debits`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Debit {
    pub credits: DecimalText,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `POST /v1/user/balance/deposit` (seed 000).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    pub user: String,
    pub amount: DecimalText,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// RFC 3339 UTC with milliseconds.
pub fn timestamp(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Balances as shown everywhere.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub paid_credits: String,
    pub granted_credits: String,
    pub total_credits: String,
    /// Currency value of the total at the wallet's rate, rounded down.
    pub amount: String,
}

impl BalanceView {
    pub fn new(balance: engine::wallet::Balance, rate: Decimal, currency: Currency) -> BalanceView {
        let total = balance.total();
        BalanceView {
            paid_credits: balance.paid.to_string(),
            granted_credits: balance.granted.to_string(),
            total_credits: total.to_string(),
            amount: currency_text(amount_for_credits(total, rate, currency), currency),
        }
    }
}

fn currency_text(amount: Option<Decimal>, currency: Currency) -> String {
    let mut amount = amount.unwrap_or_default();
    amount.rescale(currency.minor_units());
    amount.to_string()
}

/// A wallet.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WalletView {
    pub id: String,
    pub object: &'static str,
    pub external_customer_id: String,
    pub name: Option<String>,
    pub status: &'static str,
    pub currency: String,
    pub rate_amount: String,
    pub balance: BalanceView,
    pub sequence: u64,
    pub created_at: String,
}

impl WalletView {
    pub fn new(wallet: &Wallet) -> WalletView {
        let rate = wallet.rate_amount.to_decimal();
        WalletView {
            id: wallet.id.to_string(),
            object: "wallet",
            external_customer_id: wallet.external_customer_id.clone(),
            name: wallet.name.clone(),
            status: wallet.status.as_str(),
            currency: wallet.currency.to_string(),
            rate_amount: rate.normalize().to_string(),
            balance: BalanceView::new(wallet.balance, rate, wallet.currency),
            sequence: wallet.seq,
            created_at: timestamp(wallet.created_at_ms),
        }
    }
}

/// One key/value metadata pair in responses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairView {
    pub key: String,
    pub value: String,
}

/// A ledger entry (wallet transaction).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransactionView {
    pub id: String,
    pub object: &'static str,
    pub wallet_id: String,
    pub sequence: u64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub direction: &'static str,
    pub status: &'static str,
    /// Credits moved, paid plus granted, always positive.
    pub credits: String,
    pub paid_credits: String,
    pub granted_credits: String,
    /// Currency amount: the deposit's amount, else the credits' value.
    pub amount: String,
    pub currency: String,
    pub balance: BalanceView,
    pub metadata: Vec<PairView>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
}

impl TransactionView {
    pub fn new(entry: &Entry, rate: Decimal, currency: Currency) -> TransactionView {
        let magnitude = |credits: Credits| {
            if credits.is_negative() {
                credits.negated()
            } else {
                credits
            }
        };
        let paid = magnitude(entry.delta.paid);
        let granted = magnitude(entry.delta.granted);
        let credits = paid.checked_add(granted).unwrap_or(Credits::ZERO);
        let amount = match entry.amount {
            Some(amount) => Some(amount),
            None => amount_for_credits(credits, rate, currency),
        };
        TransactionView {
            id: entry.txn_id.to_string(),
            object: "wallet_transaction",
            wallet_id: entry.wallet_id.to_string(),
            sequence: entry.seq,
            kind: entry.kind.as_str(),
            direction: if entry.kind.is_inbound() {
                "inbound"
            } else {
                "outbound"
            },
            status: "settled",
            credits: credits.to_string(),
            paid_credits: paid.to_string(),
            granted_credits: granted.to_string(),
            amount: currency_text(amount, currency),
            currency: currency.to_string(),
            balance: BalanceView::new(entry.after, rate, currency),
            metadata: entry
                .metadata
                .iter()
                .map(|(key, value)| PairView {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            idempotency_key: entry.idempotency_key.clone(),
            created_at: timestamp(entry.created_at_ms),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListView<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The body of every batch route: `{"items":[…]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Items<I> {
    pub items: Vec<I>,
}

/// `POST /v1/debits/batch`.
pub type DebitBatch = Items<DebitItem>;

/// One debit of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebitItem {
    pub wallet_id: String,
    pub credits: DecimalText,
    pub idempotency_key: Option<String>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `POST /v1/deposits/batch`.
pub type DepositBatch = Items<DepositItem>;

/// One deposit of a batch: to a wallet, or to a user's default wallet.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositItem {
    pub wallet_id: Option<String>,
    pub user: Option<String>,
    pub amount: DecimalText,
    pub idempotency_key: Option<String>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `POST /v1/topups/batch`.
pub type TopUpBatch = Items<TopUpItem>;

/// One top-up of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpItem {
    pub wallet_id: String,
    pub paid_credits: Option<DecimalText>,
    pub granted_credits: Option<DecimalText>,
    pub idempotency_key: Option<String>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}
