//! `tally prices import FILE` and `tally prices export`: load a price list as
//! new price versions, or write the current book out, into or from a data
//! folder no server has open or a running server (`--url`, `--key`).
//!
//! Two file forms:
//! - **LiteLLM**'s `model_prices_and_context_window.json`: an object keyed by
//!   model name, with per-token costs as JSON numbers (`2.5e-06`). Each cost
//!   is read from its literal text (`serde_json`'s `RawValue`) and converted
//!   exactly, never through an `f64`: `2.5e-06` per token is 2.5 per
//!   million. Entries without per-token prices (LiteLLM's `sample_spec`
//!   template, image or audio models priced per image, pixel or second) are
//!   skipped and reported; tiered prices (`…_above_200k_tokens`) are not
//!   representable, so only the base price is imported and the model named.
//! - **Tally**'s own: a JSON array (or, in a `.toml` file, `[[prices]]`
//!   tables) of `PUT /v1/prices/{model}` bodies with a `model`: what
//!   `export` writes, so an export imports again unchanged.
//!
//! An entry whose price equals the version already in force at its time is
//! left alone ("unchanged"), so importing a file twice writes nothing new.

use crate::dto::DecimalText;
use crate::error::ApiError;
use crate::routes::prices::{price_spec, PriceBody};
use engine::prices::{Price, PriceSpec, PriceVersion};
use engine::{Engine, EngineConfig};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum PricesCommand {
    /// Load prices from a file as new versions (unchanged ones are skipped).
    /// Exit code 3 when any entry was rejected.
    Import {
        /// LiteLLM's model_prices_and_context_window.json, or Tally's form
        /// (a JSON array, or a .toml file of [[prices]]).
        file: PathBuf,
        /// The file's form (default: a JSON object is LiteLLM's, a JSON
        /// array or a .toml file Tally's).
        #[arg(long, value_enum)]
        format: Option<PriceFormat>,
        /// Currency of a LiteLLM file's prices (the file names none; they
        /// are USD).
        #[arg(long, default_value = "USD")]
        currency: String,
    },
    /// Write the version in force of every model in Tally's form (JSON, or
    /// TOML when --output ends in .toml), to stdout or --output.
    Export {
        /// The file to write (default: stdout).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// A price file's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PriceFormat {
    /// LiteLLM's model_prices_and_context_window.json.
    Litellm,
    /// Tally's list of PUT bodies with `model`.
    Tally,
}

/// One price in Tally's file form: a `PUT /v1/prices/{model}` body and its
/// model. Amounts are decimal strings, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRecord {
    pub model: String,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_per_million: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input_per_million: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_per_million: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_per_million: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_per_million: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
}

impl PriceRecord {
    /// The record of a stored version, every amount spelled out.
    pub fn of(version: &PriceVersion) -> PriceRecord {
        let amounts = &version.amounts;
        let text = |price: Price| Some(price.to_string());
        PriceRecord {
            model: version.model.to_string(),
            currency: version.currency.to_string(),
            input_per_million: text(amounts.input_per_million),
            cached_input_per_million: text(amounts.cached_input_per_million),
            cache_write_per_million: text(amounts.cache_write_per_million),
            output_per_million: text(amounts.output_per_million),
            reasoning_per_million: text(amounts.reasoning_per_million),
            per_request: text(amounts.per_request),
            effective_from: Some(crate::dto::timestamp(version.effective_from_ms)),
        }
    }

    /// The PUT body (without the model).
    pub fn body(&self) -> PriceBody {
        let text = |value: &Option<String>| value.clone().map(DecimalText);
        PriceBody {
            currency: Some(self.currency.clone()),
            input_per_million: text(&self.input_per_million),
            cached_input_per_million: text(&self.cached_input_per_million),
            cache_write_per_million: text(&self.cache_write_per_million),
            output_per_million: text(&self.output_per_million),
            reasoning_per_million: text(&self.reasoning_per_million),
            per_request: text(&self.per_request),
            effective_from: self.effective_from.clone(),
        }
    }

    /// The same record as JSON without `model`: the PUT body on the wire.
    fn body_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!(self);
        if let Some(object) = value.as_object_mut() {
            object.remove("model");
        }
        value
    }
}

/// The `[[prices]]` tables of a TOML price file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    prices: Vec<PriceRecord>,
}

/// Why a prices command failed (a rejected entry does not stop an import).
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a price file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("opening the data folder: {0}")]
    Open(#[from] engine::OpenError),
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("{0}")]
    Http(String),
    #[error("encoding the export: {0}")]
    Encode(String),
}

/// What a file held: prices to load, entries skipped (no per-token
/// prices), entries rejected (bad values), and models whose tiered prices
/// were left out.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<PriceRecord>,
    pub skipped: Vec<(String, String)>,
    pub rejected: Vec<(String, String)>,
    pub tiered: Vec<String>,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub written: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub rejected: usize,
}

/// Reads a price file of either form.
pub fn read_file(
    path: &Path,
    format: Option<PriceFormat>,
    currency: &str,
) -> Result<Parsed, PricesError> {
    let text = std::fs::read_to_string(path).map_err(|source| PricesError::Read {
        path: path.to_owned(),
        source,
    })?;
    let is_toml = path.extension().is_some_and(|ext| ext == "toml");
    let format = format.unwrap_or(if !is_toml && text.trim_start().starts_with('{') {
        PriceFormat::Litellm
    } else {
        PriceFormat::Tally
    });
    let format_error = |reason: String| PricesError::Format {
        path: path.to_owned(),
        reason,
    };
    match format {
        PriceFormat::Litellm => litellm(&text, currency).map_err(format_error),
        PriceFormat::Tally if is_toml => {
            let file: TomlFile = toml::from_str(&text).map_err(|e| format_error(e.to_string()))?;
            Ok(Parsed {
                records: file.prices,
                ..Parsed::default()
            })
        }
        PriceFormat::Tally => {
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            let records: Vec<PriceRecord> = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|error| format_error(format!("{}: {}", error.path(), error.inner())))?;
            Ok(Parsed {
                records,
                ..Parsed::default()
            })
        }
    }
}

/// LiteLLM fields Tally reads, per token, and the price each becomes.
const LITELLM_INPUT: &str = "input_cost_per_token";
const LITELLM_OUTPUT: &str = "output_cost_per_token";
const LITELLM_CACHE_READ: &str = "cache_read_input_token_cost";
const LITELLM_CACHE_WRITE: &str = "cache_creation_input_token_cost";
const LITELLM_REASONING: &str = "output_cost_per_reasoning_token";

/// Modes whose models produce no output tokens: a missing output price is 0.
const NO_OUTPUT_MODES: [&str; 3] = ["embedding", "moderation", "rerank"];

/// Parses LiteLLM's price file (see the module documentation).
pub fn litellm(text: &str, currency: &str) -> Result<Parsed, String> {
    let entries: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|error| format!("not a JSON object: {error}"))?;
    let mut parsed = Parsed::default();
    for (model, raw) in entries {
        if model == "sample_spec" {
            parsed
                .skipped
                .push((model, "LiteLLM's template, not a model".into()));
            continue;
        }
        let Ok(fields) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(raw.get()) else {
            parsed.skipped.push((model, "not a JSON object".into()));
            continue;
        };
        // `null` is no price.
        let field = |name: &str| fields.get(name).filter(|raw| raw.get() != "null");
        let (input, output) = (field(LITELLM_INPUT), field(LITELLM_OUTPUT));
        let mode = fields
            .get("mode")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
        if input.is_none() && output.is_none() {
            parsed.skipped.push((
                model,
                "no per-token prices (priced per image, pixel, second or call)".into(),
            ));
            continue;
        }
        if input.is_none() {
            parsed.skipped.push((model, format!("no {LITELLM_INPUT}")));
            continue;
        }
        let no_output = mode
            .as_deref()
            .is_some_and(|m| NO_OUTPUT_MODES.contains(&m));
        if output.is_none() && !no_output {
            parsed.skipped.push((model, format!("no {LITELLM_OUTPUT}")));
            continue;
        }
        match litellm_record(&model, currency, &field) {
            Ok(record) => {
                if fields.keys().any(|name| name.contains("_above_")) {
                    parsed.tiered.push(model);
                }
                parsed.records.push(record);
            }
            Err(reason) => parsed.rejected.push((model, reason)),
        }
    }
    Ok(parsed)
}

/// The record of one LiteLLM entry known to have per-token prices; `field`
/// gives a field's raw JSON (absent for missing or `null`).
fn litellm_record<'a>(
    model: &str,
    currency: &str,
    field: &dyn Fn(&str) -> Option<&'a Box<RawValue>>,
) -> Result<PriceRecord, String> {
    let convert = |name: &str| -> Result<Option<String>, String> {
        field(name)
            .map(|raw| {
                per_million(raw.get())
                    .map(|price| price.to_string())
                    .map_err(|reason| format!("{name} {}: {reason}", raw.get()))
            })
            .transpose()
    };
    Ok(PriceRecord {
        model: model.to_owned(),
        currency: currency.to_owned(),
        input_per_million: convert(LITELLM_INPUT)?,
        cached_input_per_million: convert(LITELLM_CACHE_READ)?,
        cache_write_per_million: convert(LITELLM_CACHE_WRITE)?,
        // Only models without output (embeddings) lack an output price.
        output_per_million: convert(LITELLM_OUTPUT)?.or_else(|| Some("0".into())),
        reasoning_per_million: convert(LITELLM_REASONING)?,
        per_request: None,
        effective_from: None,
    })
}

/// A per-token cost, as the literal text of a JSON number (or a string
/// holding one), converted exactly to a price per million tokens.
pub fn per_million(literal: &str) -> Result<Price, String> {
    let text = if literal.starts_with('"') {
        serde_json::from_str::<String>(literal).map_err(|error| error.to_string())?
    } else {
        literal.to_owned()
    };
    let (mantissa, exponent) = scientific(&text)?;
    // Per million: ten to the sixth more.
    Price::from_scientific(mantissa, exponent.saturating_add(6)).map_err(|error| error.to_string())
}

/// Exponent digits accepted: far beyond any price, and no overflow.
const EXPONENT_DIGITS_MAX: usize = 6;

/// Splits a JSON number literal (`2.5e-06`, `0.0`, `1E+2`) into an integer
/// mantissa and a power of ten, exactly. Negative numbers are refused.
pub fn scientific(text: &str) -> Result<(u128, i64), String> {
    let malformed = || format!("{text:?} is not a number");
    if text.starts_with('-') {
        return Err("must not be negative".into());
    }
    let (number, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (integer, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if integer.is_empty() || !digits(integer) || !digits(fraction) || number.ends_with('.') {
        return Err(malformed());
    }
    let mut exponent = match exponent {
        None => 0,
        Some(exponent) => {
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if unsigned.is_empty() || !digits(unsigned) {
                return Err(malformed());
            }
            let unsigned = unsigned.trim_start_matches('0');
            if unsigned.len() > EXPONENT_DIGITS_MAX {
                return Err("the exponent is out of range".into());
            }
            let value: i64 = unsigned.parse().unwrap_or(0);
            if exponent.starts_with('-') {
                -value
            } else {
                value
            }
        }
    };
    let mut mantissa: u128 = 0;
    for digit in integer.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or_else(|| "has too many digits".to_owned())?;
    }
    exponent -= i64::try_from(fraction.len()).map_err(|_| malformed())?;
    Ok((mantissa, exponent))
}

/// A record checked as the API checks a PUT body.
fn spec(record: &PriceRecord) -> Result<PriceSpec, String> {
    price_spec(&record.model, &record.body()).map_err(|error: ApiError| error.to_string())
}

fn print_summary(parsed: &Parsed, summary: &Summary) {
    eprintln!(
        "imported {} price versions ({} unchanged); skipped {} entries without per-token prices; rejected {}",
        summary.written, summary.unchanged, summary.skipped, summary.rejected
    );
    for (model, reason) in &parsed.skipped {
        eprintln!("skipped {model}: {reason}");
    }
    for (model, reason) in &parsed.rejected {
        eprintln!("rejected {model}: {reason}");
    }
    if !parsed.tiered.is_empty() {
        eprintln!(
            "note: {} models have tiered prices (…_above_…) that Tally does not model; their base price was imported: {}",
            parsed.tiered.len(),
            parsed.tiered.join(", ")
        );
    }
}

/// True when `version` already says what `spec` says.
fn same_price(version: &PriceVersion, spec: &PriceSpec) -> bool {
    version.currency == spec.currency() && version.amounts == *spec.amounts()
}

/// Runs against a data folder (server stopped).
pub fn run_local(command: PricesCommand, config: EngineConfig) -> Result<Summary, PricesError> {
    crate::offline::with_engine(config, |engine| async move {
        run_on_engine(&engine, command).await
    })
}

async fn run_on_engine(engine: &Engine, command: PricesCommand) -> Result<Summary, PricesError> {
    match command {
        PricesCommand::Import {
            file,
            format,
            currency,
        } => {
            let mut parsed = read_file(&file, format, &currency)?;
            let mut summary = Summary::default();
            for record in std::mem::take(&mut parsed.records) {
                let spec = match spec(&record) {
                    Ok(spec) => spec,
                    Err(reason) => {
                        parsed.rejected.push((record.model, reason));
                        continue;
                    }
                };
                let at_ms = spec.effective_from_ms().unwrap_or_else(|| engine.now_ms());
                let current = engine.price_at(spec.model().as_str(), at_ms)?;
                if current.is_some_and(|version| same_price(&version, &spec)) {
                    summary.unchanged += 1;
                    continue;
                }
                engine.put_price(spec).await?;
                summary.written += 1;
            }
            summary.skipped = parsed.skipped.len();
            summary.rejected = parsed.rejected.len();
            print_summary(&parsed, &summary);
            Ok(summary)
        }
        PricesCommand::Export { output } => {
            let mut records = Vec::new();
            let mut after = None;
            loop {
                let page = engine.current_prices(after.as_ref(), 1000)?;
                records.extend(page.versions.iter().map(PriceRecord::of));
                match page.next_cursor {
                    Some(cursor) => after = engine::ModelName::parse(&cursor).ok(),
                    None => break,
                }
                if after.is_none() {
                    break;
                }
            }
            write_export(&records, output.as_deref())?;
            Ok(Summary::default())
        }
    }
}

/// Writes `records` as JSON (TOML for a `.toml` file) to `output` or stdout.
fn write_export(records: &[PriceRecord], output: Option<&Path>) -> Result<(), PricesError> {
    let toml_file = output.is_some_and(|path| path.extension().is_some_and(|ext| ext == "toml"));
    let text = if toml_file {
        toml::to_string(&TomlFile {
            prices: records.to_vec(),
        })
        .map_err(|error| PricesError::Encode(error.to_string()))?
    } else {
        let mut text = serde_json::to_string_pretty(records)
            .map_err(|error| PricesError::Encode(error.to_string()))?;
        text.push('\n');
        text
    };
    match output {
        Some(path) => std::fs::write(path, text).map_err(|source| PricesError::Write {
            path: path.to_owned(),
            source,
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// A model name as one URL path segment: everything but unreserved
/// characters percent-encoded (a `/` becomes `%2F`).
pub fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Runs against a server's price routes.
pub fn run_http(command: PricesCommand, url: &str, key: &str) -> Result<Summary, PricesError> {
    let base = url.trim_end_matches('/');
    let auth = format!("Bearer {key}");
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(30))
        .build();
    let http = |error: ureq::Error| match error {
        ureq::Error::Status(status, response) => PricesError::Http(format!(
            "{status}: {}",
            response.into_string().unwrap_or_default()
        )),
        other => PricesError::Http(other.to_string()),
    };
    let json = |response: ureq::Response| -> Result<serde_json::Value, PricesError> {
        response
            .into_json()
            .map_err(|error| PricesError::Http(format!("decoding the server's reply: {error}")))
    };
    match command {
        PricesCommand::Import {
            file,
            format,
            currency,
        } => {
            let mut parsed = read_file(&file, format, &currency)?;
            let mut summary = Summary::default();
            for record in std::mem::take(&mut parsed.records) {
                let spec = match spec(&record) {
                    Ok(spec) => spec,
                    Err(reason) => {
                        parsed.rejected.push((record.model, reason));
                        continue;
                    }
                };
                let path = format!("{base}/v1/prices/{}", path_segment(&record.model));
                let mut current = agent.get(&path).set("Authorization", &auth);
                if let Some(at) = &record.effective_from {
                    current = current.query("at", at);
                }
                let current = match current.call() {
                    Ok(response) => Some(json(response)?),
                    Err(ureq::Error::Status(404, _)) => None,
                    Err(error) => return Err(http(error)),
                };
                if current.is_some_and(|view| same_view(&view, &spec)) {
                    summary.unchanged += 1;
                    continue;
                }
                match agent
                    .put(&path)
                    .set("Authorization", &auth)
                    .send_json(record.body_json())
                {
                    Ok(_) => summary.written += 1,
                    // The server judged this entry: reject it, go on.
                    Err(ureq::Error::Status(status, response))
                        if status < 500 && status != 401 && status != 403 =>
                    {
                        let text = response.into_string().unwrap_or_default();
                        parsed
                            .rejected
                            .push((record.model, format!("{status}: {text}")));
                    }
                    Err(error) => return Err(http(error)),
                }
            }
            summary.skipped = parsed.skipped.len();
            summary.rejected = parsed.rejected.len();
            print_summary(&parsed, &summary);
            Ok(summary)
        }
        PricesCommand::Export { output } => {
            let mut records = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut request = agent
                    .get(&format!("{base}/v1/prices"))
                    .set("Authorization", &auth)
                    .query("limit", "1000");
                if let Some(cursor) = &cursor {
                    request = request.query("cursor", cursor);
                }
                let page = json(request.call().map_err(http)?)?;
                let data = page["data"].as_array().cloned().unwrap_or_default();
                for view in data {
                    let text = |name: &str| view[name].as_str().map(str::to_owned);
                    records.push(PriceRecord {
                        model: text("model").unwrap_or_default(),
                        currency: text("currency").unwrap_or_default(),
                        input_per_million: text("input_per_million"),
                        cached_input_per_million: text("cached_input_per_million"),
                        cache_write_per_million: text("cache_write_per_million"),
                        output_per_million: text("output_per_million"),
                        reasoning_per_million: text("reasoning_per_million"),
                        per_request: text("per_request"),
                        effective_from: text("effective_from"),
                    });
                }
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            write_export(&records, output.as_deref())?;
            Ok(Summary::default())
        }
    }
}

/// True when a server's price view says what `spec` says.
fn same_view(view: &serde_json::Value, spec: &PriceSpec) -> bool {
    let amounts = spec.amounts();
    let price = |name: &str| view[name].as_str().and_then(|text| Price::parse(text).ok());
    view["currency"].as_str() == Some(spec.currency().code())
        && price("input_per_million") == Some(amounts.input_per_million)
        && price("cached_input_per_million") == Some(amounts.cached_input_per_million)
        && price("cache_write_per_million") == Some(amounts.cache_write_per_million)
        && price("output_per_million") == Some(amounts.output_per_million)
        && price("reasoning_per_million") == Some(amounts.reasoning_per_million)
        && price("per_request") == Some(amounts.per_request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_convert_exactly_to_per_million() {
        let check = |literal: &str, expect: &str| {
            assert_eq!(
                per_million(literal).map(|p| p.to_string()),
                Ok(expect.to_owned()),
                "{literal}"
            );
        };
        check("2.5e-06", "2.5");
        check("1e-05", "10");
        check("1.25e-07", "0.125");
        check("5.46875e-07", "0.546875");
        check("3.75E-6", "3.75");
        check("0.0", "0");
        check("0", "0");
        check("0.000002", "2");
        check("1e+0", "1000000");
        check("\"2.5e-06\"", "2.5");
        // 18 decimal places per token is the limit (12 per million).
        check("1e-18", "0.000000000001");
        assert!(per_million("1e-19").is_err());
        assert!(per_million("-1e-06").is_err());
        assert!(per_million("2").is_err(), "2 a token is past the maximum");
        assert!(per_million("1e9999999").is_err());
        assert!(per_million("abc").is_err());
        assert!(per_million("1.").is_err());
        assert!(per_million(".5").is_err());
        assert!(per_million("1e").is_err());
    }

    #[test]
    fn scientific_keeps_every_digit() {
        assert_eq!(scientific("2.5e-06"), Ok((25, -7)));
        assert_eq!(scientific("0.000125"), Ok((125, -6)));
        assert_eq!(scientific("12"), Ok((12, 0)));
        assert_eq!(scientific("1E+2"), Ok((1, 2)));
        assert_eq!(scientific("1e-000007"), Ok((1, -7)));
        assert!(scientific(&"9".repeat(40)).is_err());
    }

    #[test]
    fn litellm_entries_are_imported_skipped_or_rejected() {
        let text = r#"{
            "sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat, embedding"},
            "gpt-4o": {"cache_read_input_token_cost": 1.25e-06, "input_cost_per_token": 2.5e-06,
                       "output_cost_per_token": 1e-05, "litellm_provider": "openai", "mode": "chat"},
            "dall-e": {"input_cost_per_pixel": 1.9e-08, "output_cost_per_pixel": 0.0, "mode": "image_generation"},
            "embed": {"input_cost_per_token": 1e-07, "mode": "embedding"},
            "bad": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06},
            "tiered": {"input_cost_per_token": 1e-06, "input_cost_per_token_above_200k_tokens": 2e-06,
                       "output_cost_per_token": 2e-06, "output_cost_per_reasoning_token": null}
        }"#;
        let parsed = litellm(text, "USD").expect("parses");
        let models: Vec<&str> = parsed.records.iter().map(|r| r.model.as_str()).collect();
        assert_eq!(models, ["embed", "gpt-4o", "tiered"]);
        let gpt = &parsed.records[1];
        assert_eq!(gpt.input_per_million.as_deref(), Some("2.5"));
        assert_eq!(gpt.cached_input_per_million.as_deref(), Some("1.25"));
        assert_eq!(gpt.cache_write_per_million, None);
        assert_eq!(gpt.output_per_million.as_deref(), Some("10"));
        assert_eq!(parsed.records[0].output_per_million.as_deref(), Some("0"));
        let skipped: Vec<&str> = parsed.skipped.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(skipped, ["dall-e", "sample_spec"]);
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].0, "bad");
        assert!(
            parsed.rejected[0].1.contains("negative"),
            "{:?}",
            parsed.rejected
        );
        assert_eq!(parsed.tiered, ["tiered"]);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("gpt-4o"), "gpt-4o");
        assert_eq!(
            path_segment("gemini/gemini-2.5:flash"),
            "gemini%2Fgemini-2.5%3Aflash"
        );
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
