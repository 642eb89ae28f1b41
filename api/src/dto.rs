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
use engine::{
    CreditKind, Entry, EntryKind, FeeType, FeeTypes, Interval, Metadata, Method, Rule, RuleSpec,
    TermsPatch, TermsSpec, Trigger, TriggerSpec, Wallet,
};
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
    /// ISO 8601 with an offset, in the future: the wallet terminates then.
    pub expiration_at: Option<String>,
    /// The fees the credits pay for (default: all).
    pub applies_to: Option<AppliesTo>,
    /// Automatic top-up rules.
    pub recurring_transaction_rules: Option<Vec<RuleBody>>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// `PUT /v1/wallets/{id}`: present fields replace; `null` clears `name` and
/// `expiration_at`. Currency and rate never change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWallet {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expiration_at: Option<Option<String>>,
    pub applies_to: Option<AppliesTo>,
    pub recurring_transaction_rules: Option<Vec<RuleBody>>,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `applies_to` (seed 003).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    /// Any of `SUBSCRIPTION`, `COMMITMENT`, `CHARGE`.
    pub fee_types: Vec<String>,
}

/// One automatic top-up rule as clients send it (seed 003).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// An existing rule's id, to keep it (and its schedule) on update.
    pub id: Option<String>,
    /// `FIXED` or `TARGET`.
    pub method: String,
    /// `INTERVAL` or `THRESHOLD`.
    pub trigger: String,
    /// INTERVAL: `weekly`, `monthly`, `quarterly` or `yearly`.
    pub interval: Option<String>,
    /// INTERVAL: ISO 8601 anchor of the schedule (default: now, first top-up one interval later).
    pub started_at: Option<String>,
    /// THRESHOLD: fires when the balance falls to or below this.
    pub threshold_credits: Option<DecimalText>,
    /// FIXED: paid credits added. TARGET: the paid share of the gap.
    pub paid_credits: Option<DecimalText>,
    /// FIXED: granted credits added. TARGET: the granted share of the gap.
    pub granted_credits: Option<DecimalText>,
    /// TARGET: the balance to top up to.
    pub target_ongoing_balance: Option<DecimalText>,
}

/// An ISO 8601 / RFC 3339 time with an offset, as ms since the epoch.
pub fn timestamp_ms(field: &str, text: &str) -> Result<i64, ApiError> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiError::field(
                field,
                "must be an ISO 8601 time with an offset, e.g. 2026-12-31T23:59:59Z",
            )
        })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::field(field, "is out of range"))
}

/// The fee types of an `applies_to`.
pub fn fee_types(applies_to: &AppliesTo) -> Result<FeeTypes, ApiError> {
    // An empty list is the engine's to refuse (`terms::Terms::patched`).
    let kinds = applies_to
        .fee_types
        .iter()
        .map(|name| fee_type_named("applies_to.fee_types", name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FeeTypes::of(&kinds))
}

/// The fee type a debit pays: `CHARGE` unless it says otherwise.
pub fn fee_type(name: Option<&str>) -> Result<FeeType, ApiError> {
    name.map_or(Ok(FeeType::Charge), |name| fee_type_named("fee_type", name))
}

fn fee_type_named(field: &str, name: &str) -> Result<FeeType, ApiError> {
    FeeType::parse(name).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{name:?} is not one of SUBSCRIPTION, COMMITMENT, CHARGE"),
        )
    })
}

/// Rules as the engine takes them; errors name the rule by index.
pub fn rules(bodies: Vec<RuleBody>) -> Result<Vec<RuleSpec>, ApiError> {
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| rule(index, body))
        .collect()
}

fn rule(index: usize, body: RuleBody) -> Result<RuleSpec, ApiError> {
    let name = |field: &str| format!("recurring_transaction_rules[{index}].{field}");
    let not_for = |field: &str, what: &str| {
        ApiError::field(&name(field), format!("is not used by {what} rules"))
    };
    let method = match body.method.to_ascii_uppercase().as_str() {
        "FIXED" => Method::Fixed,
        "TARGET" => Method::Target,
        _ => return Err(ApiError::field(&name("method"), "must be FIXED or TARGET")),
    };
    let trigger = match body.trigger.to_ascii_uppercase().as_str() {
        "INTERVAL" => {
            if body.threshold_credits.is_some() {
                return Err(not_for("threshold_credits", "INTERVAL"));
            }
            let interval = body.interval.as_deref().ok_or_else(|| {
                ApiError::field(&name("interval"), "is required for INTERVAL rules")
            })?;
            let interval = Interval::parse(interval).ok_or_else(|| {
                ApiError::field(
                    &name("interval"),
                    "must be weekly, monthly, quarterly or yearly",
                )
            })?;
            let started_at_ms = match &body.started_at {
                Some(text) => Some(timestamp_ms(&name("started_at"), text)?),
                None => None,
            };
            TriggerSpec::Interval {
                interval,
                started_at_ms,
            }
        }
        "THRESHOLD" => {
            if body.interval.is_some() || body.started_at.is_some() {
                return Err(not_for("interval", "THRESHOLD"));
            }
            let threshold = credits_or_zero(
                &name("threshold_credits"),
                Some(body.threshold_credits.as_ref().ok_or_else(|| {
                    ApiError::amount(
                        &name("threshold_credits"),
                        "is required for THRESHOLD rules",
                    )
                })?),
            )?;
            TriggerSpec::Threshold { threshold }
        }
        _ => {
            return Err(ApiError::field(
                &name("trigger"),
                "must be INTERVAL or THRESHOLD",
            ));
        }
    };
    // What each method requires (a FIXED rule adds something, a TARGET rule
    // has a target) is the engine's rule (`terms::Terms::patched`); here
    // only the shape and the amounts.
    let target_ongoing_balance = match (&method, &body.target_ongoing_balance) {
        (Method::Fixed, Some(_)) => return Err(not_for("target_ongoing_balance", "FIXED")),
        (_, text) => text
            .as_ref()
            .map(|text| credits_positive(&name("target_ongoing_balance"), Some(text)))
            .transpose()?,
    };
    let paid_credits = credits_or_zero(&name("paid_credits"), body.paid_credits.as_ref())?;
    let granted_credits = credits_or_zero(&name("granted_credits"), body.granted_credits.as_ref())?;
    if body
        .id
        .as_deref()
        .is_some_and(|id| id.is_empty() || id.len() > IDENTIFIER_LEN_MAX)
    {
        return Err(ApiError::field(
            &name("id"),
            "must be the id of one of this wallet's rules",
        ));
    }
    Ok(RuleSpec {
        id: body.id,
        method,
        trigger,
        paid_credits,
        granted_credits,
        target_ongoing_balance,
    })
}

/// The terms a `POST /v1/wallets` body asks for.
pub fn terms_spec(limits: &Limits, body: &mut CreateWallet) -> Result<TermsSpec, ApiError> {
    let name = match &body.name {
        Some(name) => Some(identifier("name", name)?),
        None => None,
    };
    Ok(TermsSpec {
        name,
        metadata: metadata_from_map(limits, body.metadata.take())?,
        expiration_at_ms: match &body.expiration_at {
            Some(text) => Some(timestamp_ms("expiration_at", text)?),
            None => None,
        },
        fee_types: match &body.applies_to {
            Some(applies_to) => fee_types(applies_to)?,
            None => FeeTypes::ALL,
        },
        rules: rules(body.recurring_transaction_rules.take().unwrap_or_default())?,
    })
}

/// The changes a `PUT /v1/wallets/{id}` body asks for.
pub fn terms_patch(limits: &Limits, body: UpdateWallet) -> Result<TermsPatch, ApiError> {
    Ok(TermsPatch {
        name: match body.name {
            Some(Some(name)) => Some(Some(identifier("name", &name)?)),
            Some(None) => Some(None),
            None => None,
        },
        metadata: match body.metadata {
            Some(map) => Some(metadata_from_map(limits, Some(map))?),
            None => None,
        },
        expiration_at_ms: match body.expiration_at {
            Some(Some(text)) => Some(Some(timestamp_ms("expiration_at", &text)?)),
            Some(None) => Some(None),
            None => None,
        },
        fee_types: match &body.applies_to {
            Some(applies_to) => Some(fee_types(applies_to)?),
            None => None,
        },
        rules: match body.recurring_transaction_rules {
            Some(bodies) => Some(rules(bodies)?),
            None => None,
        },
    })
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
    /// TOPUP: when the new lots expire (ISO 8601 with an offset).
    pub expires_at: Option<String>,
    /// VOID: the lot to void from (default: spend order).
    pub lot_id: Option<u64>,
}

/// `POST /v1/wallets/{id}/debits`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Debit {
    pub credits: DecimalText,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
    /// `SUBSCRIPTION`, `COMMITMENT` or `CHARGE` (default).
    pub fee_type: Option<String>,
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

/// Balances as shown everywhere: the totals (paid, granted and their sum)
/// count held credits; `available_credits` is what debits, voids and new
/// holds may use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub paid_credits: String,
    pub granted_credits: String,
    pub total_credits: String,
    /// Credits in pending holds.
    pub held_credits: String,
    /// Total minus held.
    pub available_credits: String,
    /// Currency value of the total at the wallet's rate, rounded down.
    pub amount: String,
}

impl BalanceView {
    /// From the available credits (the lots) and the held ones.
    pub fn new(
        available: engine::wallet::Balance,
        held: engine::wallet::Balance,
        rate: Decimal,
        currency: Currency,
    ) -> BalanceView {
        let sum = |a: Credits, b: Credits| a.checked_add(b).unwrap_or(Credits::MAX);
        let paid = sum(available.paid, held.paid);
        let granted = sum(available.granted, held.granted);
        let total = sum(paid, granted);
        BalanceView {
            paid_credits: paid.to_string(),
            granted_credits: granted.to_string(),
            total_credits: total.to_string(),
            held_credits: held.total().to_string(),
            available_credits: available.total().to_string(),
            amount: currency_text(amount_for_credits(total, rate, currency), currency),
        }
    }
}

/// Money at the currency's minor units (`50.00`).
pub fn money_text(amount: Decimal, currency: Currency) -> String {
    let mut amount = amount;
    amount.rescale(currency.minor_units());
    amount.to_string()
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
    pub expiration_at: Option<String>,
    pub applies_to: AppliesTo,
    pub recurring_transaction_rules: Vec<RuleView>,
    pub metadata: BTreeMap<String, String>,
    /// Open lots, oldest first (debits draw granted, then earliest expiry, then oldest).
    pub lots: Vec<LotView>,
}

/// An automatic top-up rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    pub id: String,
    pub method: &'static str,
    pub trigger: &'static str,
    pub interval: Option<&'static str>,
    pub started_at: Option<String>,
    /// INTERVAL: when it next fires.
    pub next_top_up_at: Option<String>,
    pub threshold_credits: Option<String>,
    pub paid_credits: String,
    pub granted_credits: String,
    pub target_ongoing_balance: Option<String>,
}

impl RuleView {
    fn new(rule: &Rule) -> RuleView {
        let (trigger, interval, started_at, threshold) = match &rule.trigger {
            Trigger::Interval {
                interval,
                started_at_ms,
                ..
            } => (
                "INTERVAL",
                Some(interval.as_str()),
                Some(timestamp(*started_at_ms)),
                None,
            ),
            Trigger::Threshold { threshold } => {
                ("THRESHOLD", None, None, Some(threshold.to_string()))
            }
        };
        RuleView {
            id: rule.id.clone(),
            method: match rule.method {
                Method::Fixed => "FIXED",
                Method::Target => "TARGET",
            },
            trigger,
            interval,
            started_at,
            next_top_up_at: rule.next_due_ms().map(timestamp),
            threshold_credits: threshold,
            paid_credits: rule.paid_credits.to_string(),
            granted_credits: rule.granted_credits.to_string(),
            target_ongoing_balance: rule.target_ongoing_balance.map(|t| t.to_string()),
        }
    }
}

/// An open credit lot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotView {
    pub lot_id: u64,
    /// `paid` or `granted`.
    pub credit_kind: &'static str,
    pub remaining_credits: String,
    pub expires_at: Option<String>,
}

impl WalletView {
    pub fn new(wallet: &Wallet) -> WalletView {
        let rate = wallet.rate_amount.to_decimal();
        let terms = &wallet.terms;
        WalletView {
            id: wallet.id.to_string(),
            object: "wallet",
            external_customer_id: wallet.external_customer_id.clone(),
            name: terms.name.clone(),
            status: wallet.status.as_str(),
            currency: wallet.currency.to_string(),
            rate_amount: rate.normalize().to_string(),
            balance: BalanceView::new(wallet.balance, wallet.held, rate, wallet.currency),
            sequence: wallet.seq,
            created_at: timestamp(wallet.created_at_ms),
            expiration_at: terms.expiration_at_ms.map(timestamp),
            applies_to: AppliesTo {
                fee_types: terms
                    .fee_types
                    .iter()
                    .map(|kind| kind.as_str().to_owned())
                    .collect(),
            },
            recurring_transaction_rules: terms.rules.iter().map(RuleView::new).collect(),
            metadata: terms.metadata.iter().cloned().collect(),
            lots: wallet
                .lots
                .iter()
                .map(|lot| LotView {
                    lot_id: lot.id,
                    credit_kind: lot.kind.as_str(),
                    remaining_credits: lot.remaining.to_string(),
                    expires_at: lot.expires_at_ms.map(timestamp),
                })
                .collect(),
        }
    }
}

/// A lot's part in a transaction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotChangeView {
    pub lot_id: u64,
    pub credit_kind: &'static str,
    /// Signed: positive opens the lot, negative draws from it.
    pub credits: String,
    pub expires_at: Option<String>,
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
    /// `inbound` or `outbound` (the total grows or shrinks), or `internal`
    /// (HOLD, RELEASE: credits move between available and held).
    pub direction: &'static str,
    pub status: &'static str,
    /// Credits moved, paid plus granted, always positive: the change of the
    /// wallet's total (a capture: what it spent), or for HOLD and RELEASE
    /// what moved into or out of the hold.
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
    /// `manual`, `interval`, `threshold` or `expiry`.
    pub source: &'static str,
    /// The top-up rule that made it.
    pub rule_id: Option<String>,
    /// The fee type a debit paid.
    pub fee_type: Option<&'static str>,
    /// The lots it opened or drew from (a capture or release: the credits
    /// it gave back to them, and a capture beyond its hold what it drew).
    pub lots: Vec<LotChangeView>,
    /// The hold it placed, captured, released or expired.
    pub hold_id: Option<String>,
    /// How it moved the hold's credits, per lot: positive into the hold,
    /// negative out of it.
    pub hold_lots: Vec<LotChangeView>,
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
        // What the entry did to the wallet's total (available plus held),
        // by kind: summing the ledger gives the totals a wallet shows. A
        // hold or release moves credits within the total: it shows what it
        // moved, and its direction is `internal` (no sum counts it).
        let held = entry
            .hold
            .as_ref()
            .map(|hold| &hold.parts[..])
            .unwrap_or(&[]);
        let kind_total = |kind, available: Credits| {
            engine::lots::total(held, kind)
                .and_then(|moved| available.checked_add(moved))
                .unwrap_or(available)
        };
        let internal = matches!(entry.kind, EntryKind::Hold | EntryKind::Release);
        let (paid, granted) = if internal {
            (
                magnitude(engine::lots::total(held, CreditKind::Paid).unwrap_or(Credits::ZERO)),
                magnitude(engine::lots::total(held, CreditKind::Granted).unwrap_or(Credits::ZERO)),
            )
        } else {
            (
                magnitude(kind_total(CreditKind::Paid, entry.delta.paid)),
                magnitude(kind_total(CreditKind::Granted, entry.delta.granted)),
            )
        };
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
            direction: if internal {
                "internal"
            } else if entry.kind.is_inbound() {
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
            balance: BalanceView::new(entry.after, entry.held, rate, currency),
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
            source: entry.source.as_str(),
            rule_id: entry.rule_id.clone(),
            fee_type: entry.fee_type.map(FeeType::as_str),
            lots: lot_changes(&entry.lots),
            hold_id: entry.hold.as_ref().map(|hold| hold.id.to_string()),
            hold_lots: entry
                .hold
                .as_ref()
                .map(|hold| lot_changes(&hold.parts))
                .unwrap_or_default(),
        }
    }
}

fn lot_changes(changes: &[engine::lots::LotChange]) -> Vec<LotChangeView> {
    changes
        .iter()
        .map(|change| LotChangeView {
            lot_id: change.lot,
            credit_kind: change.kind.as_str(),
            credits: change.delta.to_string(),
            expires_at: change.expires_at_ms.map(timestamp),
        })
        .collect()
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListView<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The body of every batch route: `{"items":[…], "results": "full"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Items<I> {
    pub items: Vec<I>,
    /// `full` (default): each result carries the transaction as the single
    /// route shows it. `compact`: status, transaction id, wallet id and
    /// replay flag only, for bulk callers that keep their own records
    /// (faster to render and to parse).
    #[serde(default)]
    pub results: ResultsForm,
}

/// How a batch reply renders each successful item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultsForm {
    #[default]
    Full,
    Compact,
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
    pub fee_type: Option<String>,
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
    pub expires_at: Option<String>,
}
