//! `migrate`: rewrites a format-2 data folder into format 3 (values tagged
//! 3, which format 4 reads as they are; the new folder records format 4).
//!
//! Format 3 changes keys, not values: wallet ids inside keys become their
//! ULID's 16 bytes, idempotency keys get a tag byte per key space (client,
//! internal, creation), and every value's version byte becomes 3. Two
//! records change meaning on the way: interval top-up records move into the
//! internal key space, and deposit records kept by user (`user/<user>`) move
//! to the wallet they credited, with the fingerprint format 3 computes for
//! the same request, so a webhook retried across the upgrade still replays.
//!
//! Crash safety: the new store is written beside the old one
//! (`DIR.migrating`, removed and redone if a previous attempt died), checked
//! with `verify`, synced and marked, and only then swapped in by two renames
//! (each made durable by syncing the parent folder); the format-2 folder
//! stays as `DIR.format2-backup`. A crash between the renames leaves no
//! `DIR`: [`recover`], run before anything opens `DIR`, finishes the swap
//! (marked staging) or undoes it. At no point is the only copy of the data
//! half-converted.

use crate::idempotency::{self, IdempotencyRecord};
use crate::ids::WalletId;
use crate::store::rocks::{RocksOptions, RocksStore};
use crate::store::{codec, keys, Cf, Direction, Pair, ReadView, Scan, Store, StoreError, WriteOp};
use crate::wallet::{Command, Entry, Source};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The format this module reads.
pub const FROM_VERSION: u32 = 2;

/// Length of a format-2 wallet id (`wal_` and 26 characters).
const TEXT_ID_LEN: usize = WalletId::LEN;

/// Records copied per write.
const CHUNK: usize = 4096;

/// Why a migration stopped. The data folder is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no Tally data")]
    NoData(PathBuf),
    #[error("{path} is in format {found}; this migration reads format {FROM_VERSION}")]
    WrongVersion { path: PathBuf, found: u32 },
    #[error("{0} already exists: move it away (it is an earlier backup) and retry")]
    BackupExists(PathBuf),
    #[error("a format-2 record cannot be converted: {0}")]
    Unconvertible(String),
    #[error("the converted data does not verify ({count} mismatches), first: {first}")]
    Inconsistent { count: usize, first: String },
}

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Records written, per column family name.
    pub records: Vec<(&'static str, u64)>,
    /// Interval top-up records moved into the internal key space.
    pub internal_keys: u64,
    /// Deposit records moved from a user's scope to the wallet's.
    pub user_keys: u64,
    /// Records dropped because a user-scope record and the wallet's own
    /// record had the same key (format 2 let both exist): the newer is kept.
    pub user_keys_dropped: u64,
    /// Where the format-2 folder was kept.
    pub backup: PathBuf,
}

/// `DIR` with `suffix` appended to its last component.
fn beside(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
    move |source| MigrateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Migrates the format-2 folder `dir` to format 3 in place (see the module
/// documentation for how a crash at any point leaves the data).
pub fn migrate(dir: &Path) -> Result<MigrationReport, MigrateError> {
    recover(dir)?;
    match RocksStore::format_version(dir)? {
        Some(FROM_VERSION) => {}
        Some(found) => {
            return Err(MigrateError::WrongVersion {
                path: dir.to_owned(),
                found,
            })
        }
        None => return Err(MigrateError::NoData(dir.to_owned())),
    }
    let backup = beside(dir, ".format2-backup");
    if backup.exists() {
        return Err(MigrateError::BackupExists(backup));
    }
    let staging = beside(dir, ".migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let mut report = {
        let old = RocksStore::open_any(dir)?;
        let new = RocksStore::open(
            &staging,
            RocksOptions::with_expiry(Arc::new(|_: &[u8]| false)),
        )?;
        let report = convert(&old, &new)?;
        crate::engine::index_transactions(&new)?;
        let check = crate::verify::verify(new.snapshot().as_ref())?;
        if let Some(first) = check.mismatches.first() {
            return Err(MigrateError::Inconsistent {
                count: check.mismatches.len(),
                first: first.to_string(),
            });
        }
        new.sync_wal()?;
        report
    };
    // Only a verified, synced staging folder carries the marker, and only
    // a marked one is ever swapped in (here or by `recover`).
    write_synced(&staging.join(MARKER))?;
    std::fs::rename(dir, &backup).map_err(io(dir))?;
    sync_parent(dir)?;
    std::fs::rename(&staging, dir).map_err(io(&staging))?;
    sync_parent(dir)?;
    let _ = std::fs::remove_file(dir.join(MARKER));
    report.backup = backup;
    Ok(report)
}

/// The file that marks a staging folder as verified and complete.
const MARKER: &str = "TALLY_MIGRATED";

/// Finishes or undoes a migration that a crash interrupted between its two
/// renames, so a server never starts a fresh, empty store in place of the
/// data: with `DIR` gone, a marked `DIR.migrating` is moved in; an unmarked
/// one is dropped and `DIR.format2-backup` moved back. Returns what it did.
pub fn recover(dir: &Path) -> Result<Option<&'static str>, MigrateError> {
    if dir.join("CURRENT").exists() {
        return Ok(None);
    }
    let staging = beside(dir, ".migrating");
    let backup = beside(dir, ".format2-backup");
    if staging.join(MARKER).exists() {
        remove_empty(dir)?;
        std::fs::rename(&staging, dir).map_err(io(&staging))?;
        sync_parent(dir)?;
        let _ = std::fs::remove_file(dir.join(MARKER));
        return Ok(Some("completed an interrupted migration to format 3"));
    }
    if backup.join("CURRENT").exists() {
        remove_empty(dir)?;
        std::fs::rename(&backup, dir).map_err(io(&backup))?;
        sync_parent(dir)?;
        return Ok(Some(
            "undid an interrupted migration: the format-2 folder is back",
        ));
    }
    Ok(None)
}

/// Removes `dir` if it exists and is empty (a rename needs the name free);
/// a non-empty one is an error, never deleted.
fn remove_empty(dir: &Path) -> Result<(), MigrateError> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(MigrateError::Io {
            path: dir.to_owned(),
            source: error,
        }),
    }
}

fn write_synced(path: &Path) -> Result<(), MigrateError> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Makes a rename in `path`'s parent folder durable.
fn sync_parent(path: &Path) -> Result<(), MigrateError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::File::open(&parent)
        .and_then(|folder| folder.sync_all())
        .map_err(io(&parent))
}

/// Copies every record of `old` (format 2) into `new` (format 3).
fn convert(old: &RocksStore, new: &RocksStore) -> Result<MigrationReport, MigrateError> {
    let mut report = MigrationReport::default();
    for cf in Cf::ALL {
        if cf == Cf::Meta {
            continue; // `new` recorded format 3 when it was created.
        }
        let mut written = 0u64;
        let mut start: Option<Vec<u8>> = None;
        loop {
            let pairs = old.scan(Scan {
                cf,
                prefix: &[],
                start_exclusive: start.as_deref(),
                direction: Direction::Forward,
                limit: CHUNK,
            })?;
            let Some((last, _)) = pairs.last() else {
                break;
            };
            start = Some(last.clone());
            let mut ops = Vec::with_capacity(pairs.len());
            for (key, value) in &pairs {
                if let Some((key, value)) = convert_pair(old, cf, key, value, &mut report)? {
                    ops.push(WriteOp::Put { cf, key, value });
                }
            }
            // A user record moved to a wallet may meet that wallet's own
            // record of the same key, in this chunk or an earlier one (the
            // `user/` scope sorts first). Keep the newer of the two: an
            // expired record must never shadow a live one, or a retried
            // request would apply again.
            let mut kept: Vec<WriteOp> = Vec::with_capacity(ops.len());
            let mut at: HashMap<Vec<u8>, usize> = HashMap::new();
            for op in ops {
                let WriteOp::Put { key, value, .. } = &op else {
                    continue;
                };
                let earlier = match at.get(key) {
                    Some(&index) => match &kept[index] {
                        WriteOp::Put { value, .. } => Some(value.clone()),
                        WriteOp::Delete { .. } => None,
                    },
                    None if cf == Cf::Idempotency => new.get(cf, key)?,
                    None => None,
                };
                if let Some(earlier) = earlier {
                    report.user_keys_dropped += 1;
                    let newer =
                        idempotency::created_at_ms(value) > idempotency::created_at_ms(&earlier);
                    if !newer {
                        continue;
                    }
                }
                match at.get(key) {
                    Some(&index) => kept[index] = op,
                    None => {
                        at.insert(key.clone(), kept.len());
                        kept.push(op);
                    }
                }
            }
            written += kept.len() as u64;
            new.write(&[kept.as_slice()], false)?;
        }
        report.records.push((cf.name(), written));
    }
    Ok(report)
}

/// A format-2 value with its version byte set to 3 (the bodies did not
/// change, and format 3 bodies are read as such: `codec::Stored`); an error
/// for a value of another version.
fn revalue(cf: Cf, value: &[u8]) -> Result<Vec<u8>, MigrateError> {
    match value.split_first() {
        None => Ok(Vec::new()), // empty index values
        Some((&2, body)) => {
            let mut out = Vec::with_capacity(value.len());
            out.push(codec::V3);
            out.extend_from_slice(body);
            Ok(out)
        }
        Some((version, _)) => Err(MigrateError::Unconvertible(format!(
            "{} value of version {version}",
            cf.name()
        ))),
    }
}

fn text_id(bytes: &[u8]) -> Result<WalletId, MigrateError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(WalletId::parse)
        .ok_or_else(|| {
            MigrateError::Unconvertible(format!(
                "not a wallet id: {:?}",
                String::from_utf8_lossy(bytes)
            ))
        })
}

/// One record in format 3, or `None` to drop it.
fn convert_pair(
    old: &RocksStore,
    cf: Cf,
    key: &[u8],
    value: &[u8],
    report: &mut MigrationReport,
) -> Result<Option<Pair>, MigrateError> {
    let value = revalue(cf, value)?;
    let key = match cf {
        Cf::Wallets => keys::wallet(&text_id(key)?),
        Cf::Ledger => {
            let (id, seq) = key
                .split_at_checked(TEXT_ID_LEN)
                .ok_or_else(|| MigrateError::Unconvertible("short ledger key".into()))?;
            let seq = u64::from_be_bytes(seq.try_into().map_err(|_| {
                MigrateError::Unconvertible("ledger key without a sequence".into())
            })?);
            keys::ledger(&text_id(id)?, seq)
        }
        Cf::Customers => {
            let split = key
                .len()
                .checked_sub(TEXT_ID_LEN + 1)
                .filter(|split| key[*split] == 0)
                .ok_or_else(|| MigrateError::Unconvertible("customer index key".into()))?;
            let customer = std::str::from_utf8(&key[..split])
                .map_err(|_| MigrateError::Unconvertible("customer id not UTF-8".into()))?;
            keys::customer(customer, &text_id(&key[split + 1..])?)
        }
        Cf::Schedule => {
            let (due, id) = key
                .split_at_checked(8)
                .ok_or_else(|| MigrateError::Unconvertible("short schedule key".into()))?;
            let due =
                i64::from_be_bytes(due.try_into().map_err(|_| {
                    MigrateError::Unconvertible("schedule key without a time".into())
                })?);
            keys::schedule(due, &text_id(id)?)
        }
        Cf::Idempotency => return convert_record(old, key, value, report),
        // Format 2 had no price book; a prices record is copied as it is.
        Cf::Users
        | Cf::ApiKeys
        | Cf::Events
        | Cf::Outbox
        | Cf::Meta
        | Cf::Prices
        | Cf::Holds
        | Cf::Transfers
        | Cf::Transactions
        | Cf::Invoices
        | Cf::Totals
        | Cf::PaymentMethods
        | Cf::Payments => key.to_vec(),
    };
    Ok(Some((key, value)))
}

/// An idempotency record in its format-3 key space.
fn convert_record(
    old: &RocksStore,
    key: &[u8],
    value: Vec<u8>,
    report: &mut MigrationReport,
) -> Result<Option<Pair>, MigrateError> {
    let split = key
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| MigrateError::Unconvertible("idempotency key without scope".into()))?;
    let (scope, name) = (&key[..split], &key[split + 1..]);
    let name = std::str::from_utf8(name)
        .map_err(|_| MigrateError::Unconvertible("idempotency key not UTF-8".into()))?;
    if scope == b"wallets" {
        return Ok(Some((keys::creation_idempotency(name), value)));
    }
    let (record, created_at_ms) = idempotency::decode(&value)?;
    let entry = old_entry(old, &record)?;
    if let Some(user) = scope.strip_prefix(b"user/") {
        // Format 3 scopes a deposit's key to the wallet it credits; the
        // fingerprint is recomputed as format 3 computes it for the same
        // request (every part of a deposit request is in its entry).
        let Some(amount) = entry.amount else {
            return Err(MigrateError::Unconvertible(format!(
                "user {} record points at an entry without an amount",
                String::from_utf8_lossy(user)
            )));
        };
        let command = Command::Deposit {
            amount,
            metadata: entry.metadata.clone(),
        };
        let record = IdempotencyRecord {
            fingerprint: idempotency::fingerprint(record.wallet_id.as_str(), &command.canonical()),
            wallet_id: record.wallet_id.clone(),
            seq: record.seq,
        };
        report.user_keys += 1;
        let key = keys::idempotency(&record.wallet_id, name);
        return Ok(Some((key, idempotency::encode(&record, created_at_ms))));
    }
    let wallet = text_id(scope)?;
    // Format 2 kept interval top-up keys among the client's; format 3 has an
    // internal space for them.
    let internal =
        entry.source == Source::Interval && entry.idempotency_key.as_deref() == Some(name);
    let key = if internal {
        report.internal_keys += 1;
        keys::internal_idempotency(&wallet, name)
    } else {
        keys::idempotency(&wallet, name)
    };
    Ok(Some((key, value)))
}

/// The format-2 ledger entry a record points at.
fn old_entry(old: &RocksStore, record: &IdempotencyRecord) -> Result<Entry, MigrateError> {
    let mut key = record.wallet_id.as_str().as_bytes().to_vec();
    key.extend_from_slice(&record.seq.to_be_bytes());
    let bytes = old.get(Cf::Ledger, &key)?.ok_or_else(|| {
        MigrateError::Unconvertible(format!(
            "record points at missing entry {}#{}",
            record.wallet_id, record.seq
        ))
    })?;
    let value = revalue(Cf::Ledger, &bytes)?;
    Ok(codec::decode(Cf::Ledger.name(), &value)?)
}
