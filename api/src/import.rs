//! `tally import FILE`: streams deposits or top-ups from a CSV (with a
//! header) or NDJSON file through the engine, in process against a data
//! folder or over HTTP (`--url`, `--key`), in batches with several in flight.
//! Shows a progress bar with rate and ETA, writes rejected lines (number and
//! reason) to a reject file, and prints a summary. Every line has an
//! idempotency key (a named column, an `idempotency_key` column, or by
//! default the file name's hash, the line number and a digest of the line's
//! fields), so re-running a file credits nothing twice, while another file
//! that happens to have the same name is imported, not taken for a replay.

use crate::dto::{self, DecimalText, Limits, MetadataValue};
use crate::error::ApiError;
use crate::routes::batch::{deposit_target, top_up};
use engine::{BatchItem, Command, Engine, Target};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why an import stopped (a rejected line does not stop it).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("opening the data folder: {0}")]
    Open(#[from] engine::OpenError),
    #[error("decoding the server's reply: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Invalid(&'static str),
}

/// What the file's lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKind {
    /// `user` or `wallet_id`, and `amount` (currency).
    Deposit,
    /// `wallet_id`, and `paid_credits` and/or `granted_credits`.
    Topup,
}

/// Where the lines go.
pub enum Destination {
    /// An engine opened on a data folder in this process.
    Local(PathBuf),
    /// A running server.
    Http { url: String, key: String },
}

/// How to import.
pub struct ImportOptions {
    pub file: PathBuf,
    pub kind: ImportKind,
    pub key_column: Option<String>,
    pub reject_file: PathBuf,
    pub batch_size: usize,
    pub in_flight: usize,
    pub progress: bool,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub imported: u64,
    pub replayed: u64,
    pub rejected: u64,
}

/// A batch as read: items with their line numbers, and lines already
/// rejected while parsing (line number, reason).
type Batch = (Vec<(u64, BatchItem)>, Vec<(u64, String)>);

/// One data line: its number in the file and its fields.
struct Row {
    line: u64,
    fields: BTreeMap<String, String>,
}

/// A line's fate.
enum Outcome {
    Imported,
    Replayed,
    Rejected(String),
}

/// Reads rows lazily from a CSV or NDJSON file.
enum Rows {
    Csv(csv::StringRecordsIntoIter<std::fs::File>, csv::StringRecord),
    Ndjson(std::io::Lines<BufReader<std::fs::File>>, u64),
}

impl Rows {
    fn open(path: &Path) -> Result<Rows, ImportError> {
        let is_ndjson = matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("ndjson" | "jsonl" | "json")
        );
        if is_ndjson {
            return Ok(Rows::Ndjson(
                BufReader::new(std::fs::File::open(path)?).lines(),
                0,
            ));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_path(path)?;
        let headers = reader.headers()?.clone();
        Ok(Rows::Csv(reader.into_records(), headers))
    }

    /// The next row, or a line that could not be read as one.
    fn next_row(&mut self) -> Option<Result<Row, (u64, String)>> {
        match self {
            Rows::Csv(records, headers) => {
                let record = records.next()?;
                Some(match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, csv::Position::line);
                        let fields = headers
                            .iter()
                            .zip(record.iter())
                            .filter(|(_, value)| !value.is_empty())
                            .map(|(name, value)| (name.trim().to_owned(), value.to_owned()))
                            .collect();
                        Ok(Row { line, fields })
                    }
                    Err(error) => {
                        let line = error.position().map_or(0, csv::Position::line);
                        Err((line, format!("invalid CSV: {error}")))
                    }
                })
            }
            Rows::Ndjson(lines, number) => loop {
                let text = lines.next()?;
                *number += 1;
                let line = *number;
                let text = match text {
                    Ok(text) => text,
                    Err(error) => return Some(Err((line, format!("unreadable line: {error}")))),
                };
                if text.trim().is_empty() {
                    continue;
                }
                let parsed: Result<BTreeMap<String, MetadataValue>, _> =
                    serde_json::from_str(&text);
                return Some(match parsed {
                    Ok(map) => Ok(Row {
                        line,
                        fields: map
                            .into_iter()
                            .map(|(name, value)| (name, value.into_text()))
                            .collect(),
                    }),
                    Err(error) => Err((line, format!("invalid JSON: {error}"))),
                });
            },
        }
    }
}

/// Counts the data lines, for the progress bar's length and ETA.
fn count_lines(path: &Path, csv: bool) -> u64 {
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let lines = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    if csv {
        lines.saturating_sub(1)
    } else {
        lines
    }
}

/// The item a row asks for, or why it cannot be one.
fn row_item(
    row: &mut Row,
    options: &ImportOptions,
    limits: &Limits,
    file_tag: &str,
    currency: engine::Currency,
) -> Result<BatchItem, ApiError> {
    let key = match &options.key_column {
        Some(column) => Some(
            row.fields
                .remove(column)
                .ok_or_else(|| ApiError::field(column, "is empty or missing"))?,
        ),
        None => row.fields.remove("idempotency_key"),
    }
    .unwrap_or_else(|| default_key(file_tag, row));
    let mut take = |name: &str| row.fields.remove(name);
    let (target, command) = match options.kind {
        ImportKind::Deposit => {
            let amount = DecimalText(
                take("amount").ok_or_else(|| ApiError::amount("amount", "is required"))?,
            );
            let (wallet, user) = (take("wallet_id"), take("user"));
            let (target, amount) =
                deposit_target(wallet.as_deref(), user.as_deref(), &amount, currency)?;
            (
                target,
                Command::Deposit {
                    amount,
                    metadata: Vec::new(),
                },
            )
        }
        ImportKind::Topup => {
            let id =
                take("wallet_id").ok_or_else(|| ApiError::field("wallet_id", "is required"))?;
            let (paid, granted) = (
                take("paid_credits").map(DecimalText),
                take("granted_credits").map(DecimalText),
            );
            (
                Target::Wallet(crate::routes::wallet_id(&id)?),
                top_up(paid.as_ref(), granted.as_ref(), Vec::new(), None)?,
            )
        }
    };
    // Every other column is metadata.
    let metadata = dto::metadata(
        limits,
        std::mem::take(&mut row.fields).into_iter().collect(),
    )?;
    let command = match command {
        Command::Deposit { amount, .. } => Command::Deposit { amount, metadata },
        Command::TopUp {
            paid,
            granted,
            expires_at_ms,
            ..
        } => Command::TopUp {
            paid,
            granted,
            metadata,
            expires_at_ms,
        },
        other => other,
    };
    Ok(BatchItem {
        target,
        command,
        key: Some(key),
    })
}

/// The default key of a row: `import:<file tag>:<line>:<content digest>`.
/// The line number alone would make a different file of the same name a
/// "replay" of this one (within the idempotency TTL) and credit nothing;
/// with the digest, the same line imported again is a replay, and a different
/// line at the same place is a new change. Computed before any field is
/// taken out of the row, so every column counts.
fn default_key(file_tag: &str, row: &Row) -> String {
    format!(
        "import:{file_tag}:{}:{}",
        row.line,
        content_digest(&row.fields)
    )
}

/// SHA-256 (first 16 bytes, hex) of a row's fields. Each name and value is
/// length-prefixed so no two different rows encode alike (`a,bc` vs `ab,c`).
/// Fields are in name order (a `BTreeMap`), so an NDJSON line's key order and
/// spacing do not matter; empty CSV cells are not fields.
fn content_digest(fields: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in fields {
        for part in [name, value] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex::encode(&hasher.finalize()[..16])
}

/// A short, stable tag of the file's name: part of every default key.
fn file_tag(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    hex::encode(&Sha256::digest(name.as_bytes())[..8])
}

/// Runs an import; the engine (or server) does the work, this feeds it.
pub fn run(
    options: &ImportOptions,
    destination: Destination,
    limits: Limits,
    engine_config: engine::EngineConfig,
) -> Result<Summary, ImportError> {
    if options.batch_size == 0 || options.in_flight == 0 {
        return Err(ImportError::Invalid(
            "batch size and in-flight must be positive",
        ));
    }
    let is_csv = !matches!(
        options.file.extension().and_then(|e| e.to_str()),
        Some("ndjson" | "jsonl" | "json")
    );
    let total = count_lines(&options.file, is_csv);
    let progress = if options.progress {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} lines  {per_sec}  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rejects = std::io::BufWriter::new(std::fs::File::create(&options.reject_file)?);
    let mut summary = Summary::default();
    let started = Instant::now();
    let currency = engine_config.user_wallet_currency;
    let tag = file_tag(&options.file);
    let mut rows = Rows::open(&options.file)?;
    // Reads the next batch: items to send (with their line numbers) and the
    // lines already rejected while parsing.
    let mut next_batch = || -> Option<Batch> {
        let mut items = Vec::with_capacity(options.batch_size);
        let mut bad = Vec::new();
        while items.len() < options.batch_size {
            match rows.next_row() {
                None => break,
                Some(Err(reject)) => bad.push(reject),
                Some(Ok(mut row)) => match row_item(&mut row, options, &limits, &tag, currency) {
                    Ok(item) => items.push((row.line, item)),
                    Err(error) => bad.push((row.line, error.to_string())),
                },
            }
        }
        (!items.is_empty() || !bad.is_empty()).then_some((items, bad))
    };
    let mut record = |line: u64, outcome: Outcome, summary: &mut Summary| -> std::io::Result<()> {
        summary.lines += 1;
        match outcome {
            Outcome::Imported => summary.imported += 1,
            Outcome::Replayed => summary.replayed += 1,
            Outcome::Rejected(reason) => {
                summary.rejected += 1;
                writeln!(rejects, "line {line}: {reason}")?;
            }
        }
        Ok(())
    };
    let mut finish_batch = |lines: Vec<u64>,
                            outcomes: Vec<Outcome>,
                            bad: Vec<(u64, String)>,
                            summary: &mut Summary|
     -> Result<(), ImportError> {
        let count = (lines.len() + bad.len()) as u64;
        for (line, reason) in bad {
            record(line, Outcome::Rejected(reason), summary)?;
        }
        for (line, outcome) in lines.into_iter().zip(outcomes) {
            record(line, outcome, summary)?;
        }
        progress.inc(count);
        progress.set_message(format!("{} rejected", summary.rejected));
        Ok(())
    };
    match destination {
        Destination::Local(data_dir) => {
            let config = engine::EngineConfig {
                data_dir,
                ..engine_config
            };
            actix_web::rt::System::new().block_on(async {
                let engine = Engine::open(
                    config,
                    std::sync::Arc::new(engine::SystemClock),
                    &prometheus::Registry::new(),
                )?;
                let engine = &engine;
                let batches = std::iter::from_fn(&mut next_batch).map(|(items, bad)| async move {
                    let (lines, items): (Vec<u64>, Vec<BatchItem>) = items.into_iter().unzip();
                    let outcomes = engine
                        .execute_batch(items)
                        .await
                        .into_iter()
                        .map(local_outcome)
                        .collect::<Vec<_>>();
                    (lines, outcomes, bad)
                });
                let mut stream = futures_util::StreamExt::buffered(
                    futures_util::stream::iter(batches),
                    options.in_flight,
                );
                while let Some((lines, outcomes, bad)) =
                    futures_util::StreamExt::next(&mut stream).await
                {
                    finish_batch(lines, outcomes, bad, &mut summary)?;
                }
                drop(stream);
                engine.shutdown();
                Ok::<(), ImportError>(())
            })?;
        }
        Destination::Http { url, key } => {
            let path = match options.kind {
                ImportKind::Deposit => "/v1/deposits/batch",
                ImportKind::Topup => "/v1/topups/batch",
            };
            let agent = ureq::AgentBuilder::new().build();
            let endpoint = format!("{}{path}", url.trim_end_matches('/'));
            std::thread::scope(|scope| -> Result<(), ImportError> {
                let mut pending = std::collections::VecDeque::new();
                loop {
                    while pending.len() < options.in_flight {
                        let Some((items, bad)) = next_batch() else {
                            break;
                        };
                        let (agent, endpoint, key) = (agent.clone(), endpoint.clone(), key.clone());
                        let (lines, body) = http_body(items, options.kind);
                        let count = lines.len();
                        // A batch whose lines were all rejected sends nothing.
                        let worker = (count > 0).then(|| {
                            scope.spawn(move || http_send(&agent, &endpoint, &key, &body, count))
                        });
                        pending.push_back((worker, lines, bad));
                    }
                    let Some((worker, lines, bad)) = pending.pop_front() else {
                        break;
                    };
                    let outcomes = match worker {
                        Some(handle) => handle
                            .join()
                            .map_err(|_| ImportError::Invalid("an import worker panicked"))??,
                        None => Vec::new(),
                    };
                    finish_batch(lines, outcomes, bad, &mut summary)?;
                }
                Ok(())
            })?;
        }
    }
    progress.finish_and_clear();
    rejects.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {} lines ({} replayed from an earlier run), rejected {} (see {}), in {:.1}s: {:.0} lines/s",
        summary.imported + summary.replayed,
        summary.replayed,
        summary.rejected,
        options.reject_file.display(),
        seconds,
        summary.lines as f64 / seconds.max(1e-9),
    );
    Ok(summary)
}

fn local_outcome(result: Result<engine::Receipt, engine::Error>) -> Outcome {
    match result {
        Ok(receipt) if receipt.replayed => Outcome::Replayed,
        Ok(_) => Outcome::Imported,
        Err(error) => {
            let (_, view) = ApiError::from(error).view();
            Outcome::Rejected(format!("{}: {}", view.code, view.message))
        }
    }
}

/// The JSON body of one batch request, and the line numbers in its order.
fn http_body(items: Vec<(u64, BatchItem)>, kind: ImportKind) -> (Vec<u64>, String) {
    let mut lines = Vec::with_capacity(items.len());
    let mut json_items = Vec::with_capacity(items.len());
    for (line, item) in items {
        lines.push(line);
        let mut object = serde_json::Map::new();
        match item.target {
            Target::Wallet(id) => object.insert("wallet_id".into(), id.to_string().into()),
            Target::User(user) => object.insert("user".into(), user.into()),
        };
        let metadata = match item.command {
            Command::Deposit { amount, metadata } if kind == ImportKind::Deposit => {
                object.insert("amount".into(), amount.to_string().into());
                metadata
            }
            Command::TopUp {
                paid,
                granted,
                metadata,
                ..
            } => {
                object.insert("paid_credits".into(), paid.to_string().into());
                object.insert("granted_credits".into(), granted.to_string().into());
                metadata
            }
            _ => Vec::new(),
        };
        if !metadata.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> =
                metadata.into_iter().map(|(k, v)| (k, v.into())).collect();
            object.insert("metadata".into(), map.into());
        }
        if let Some(key) = item.key {
            object.insert("idempotency_key".into(), key.into());
        }
        json_items.push(serde_json::Value::Object(object));
    }
    (
        lines,
        // Compact results: the importer needs status and replay flag only.
        serde_json::json!({ "items": json_items, "results": "compact" }).to_string(),
    )
}

fn http_send(
    agent: &ureq::Agent,
    endpoint: &str,
    key: &str,
    body: &str,
    count: usize,
) -> Result<Vec<Outcome>, ImportError> {
    let response = agent
        .post(endpoint)
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", "application/json")
        .send_string(body);
    let text = match response {
        Ok(response) => response.into_string()?,
        Err(ureq::Error::Status(status, response)) => {
            let text = response.into_string().unwrap_or_default();
            return Err(ImportError::Http(format!(
                "the server refused a batch with {status}: {text}"
            )));
        }
        Err(error) => return Err(ImportError::Http(format!("sending a batch: {error}"))),
    };
    let reply: serde_json::Value = serde_json::from_str(&text)?;
    let data = reply["data"]
        .as_array()
        .ok_or_else(|| ImportError::Http(format!("unexpected reply: {text}")))?;
    if data.len() != count {
        return Err(ImportError::Http(format!(
            "the server answered {} items for {count}",
            data.len()
        )));
    }
    Ok(data
        .iter()
        .map(
            |item| match (item["status"].as_u64(), item["replayed"].as_bool()) {
                (Some(201), Some(true)) => Outcome::Replayed,
                (Some(201), _) => Outcome::Imported,
                _ => Outcome::Rejected(format!(
                    "{}: {}",
                    item["error"]["code"].as_str().unwrap_or("error"),
                    item["error"]["message"].as_str().unwrap_or("")
                )),
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, fields: &[(&str, &str)]) -> Row {
        Row {
            line,
            fields: fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn default_keys_follow_the_line_and_its_content() {
        let a = row(2, &[("user", "u1"), ("amount", "10")]);
        let same = row(2, &[("amount", "10"), ("user", "u1")]);
        assert_eq!(default_key("tag", &a), default_key("tag", &same));
        let other_amount = row(2, &[("user", "u1"), ("amount", "11")]);
        assert_ne!(default_key("tag", &a), default_key("tag", &other_amount));
        let other_line = row(3, &[("user", "u1"), ("amount", "10")]);
        assert_ne!(default_key("tag", &a), default_key("tag", &other_line));
        assert_ne!(default_key("tag", &a), default_key("other", &a));
        // Length prefixes: moving a character across a boundary changes it.
        assert_ne!(
            content_digest(&row(2, &[("ab", "c")]).fields),
            content_digest(&row(2, &[("a", "bc")]).fields)
        );
        assert!(default_key("tag", &a).len() <= engine::idempotency::KEY_LEN_MAX);
    }
}
