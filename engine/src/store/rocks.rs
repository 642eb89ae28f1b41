//! `RocksStore`: the `Store` trait over RocksDB column families. The only
//! module in Tally that names `rocksdb`.
//!
//! Writes arrive already grouped by the commit writer; this module turns a
//! group into one `WriteBatch` and one `write_opt` with `sync` set, so a group
//! of many requests costs one WAL sync.
// #[PerformanceCriticalPath]

use super::{codec, Cf, Direction, Pair, ReadView, Scan, Store, StoreError, StoreStat, WriteOp};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use std::path::Path;
use std::sync::Arc;

/// Where `meta` keeps the format version.
const FORMAT_KEY: &[u8] = b"format_version";

/// Decides whether an idempotency record may be dropped at compaction.
pub type ExpiryFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// Decides whether an event (key, value) may be dropped at compaction.
pub type KeyedExpiryFilter = Arc<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

/// What `RocksStore::open` needs.
pub struct RocksOptions {
    /// Idempotency records this filter calls expired are dropped when
    /// RocksDB compacts them: pruning costs no extra writes or scans.
    pub idempotency_expired: ExpiryFilter,
    /// Events this filter calls expired (settled and past their retention)
    /// are dropped the same way.
    pub events_expired: KeyedExpiryFilter,
    /// Memory all memtables together may use.
    pub memtable_budget_bytes: usize,
    /// Size of the one block cache all column families share.
    pub block_cache_bytes: usize,
    /// WAL size at which memtables are flushed (bounds recovery time).
    pub wal_max_bytes: usize,
}

impl RocksOptions {
    /// Defaults for tools that open a store briefly (verify, benches); they
    /// keep every event.
    pub fn with_expiry(idempotency_expired: ExpiryFilter) -> RocksOptions {
        RocksOptions {
            idempotency_expired,
            events_expired: Arc::new(|_: &[u8], _: &[u8]| false),
            memtable_budget_bytes: 128 << 20,
            block_cache_bytes: 64 << 20,
            wal_max_bytes: 64 << 20,
        }
    }
}

/// RocksDB behind the `Store` trait.
pub struct RocksStore {
    db: DB,
}

fn backend(error: rocksdb::Error) -> StoreError {
    StoreError::Backend(error.into_string())
}

impl RocksStore {
    /// Opens (or creates) the store in `path` and checks its format version.
    pub fn open(path: &Path, options: RocksOptions) -> Result<RocksStore, StoreError> {
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.increase_parallelism(2);
        db_options.set_max_background_jobs(2);
        // Tally syncs the WAL itself, once per commit group.
        db_options.set_manual_wal_flush(false);
        // Memory is bounded by settings, not by the number of column
        // families: all memtables share one budget, all tables one cache.
        db_options.set_db_write_buffer_size(options.memtable_budget_bytes);
        // Recovery replays the WAL of unflushed memtables: capping the WAL
        // flushes them earlier and keeps a restart after a crash short.
        db_options.set_max_total_wal_size(options.wal_max_bytes as u64);
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let mut table_options = BlockBasedOptions::default();
        table_options.set_block_cache(&cache);
        // Column families read by key (most idempotency lookups are misses:
        // a new key) get whole-key Bloom filters, in the tables and in the
        // memtable, so a miss rarely touches a data block. The ledger and
        // the time-ordered families are read by range scans instead.
        let mut point_table_options = BlockBasedOptions::default();
        point_table_options.set_block_cache(&cache);
        point_table_options.set_bloom_filter(10.0, false);
        point_table_options.set_cache_index_and_filter_blocks(true);
        let descriptors = Cf::ALL.iter().map(|cf| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(DBCompressionType::Lz4);
            if matches!(cf, Cf::Wallets | Cf::Idempotency | Cf::Users | Cf::ApiKeys) {
                cf_options.set_block_based_table_factory(&point_table_options);
                cf_options.set_memtable_whole_key_filtering(true);
                cf_options.set_memtable_prefix_bloom_ratio(0.02);
            } else {
                cf_options.set_block_based_table_factory(&table_options);
            }
            // A removed key becomes a tombstone, so an older version of it
            // in a lower level cannot resurface.
            let decision = |remove: bool| {
                if remove {
                    rocksdb::CompactionDecision::Remove
                } else {
                    rocksdb::CompactionDecision::Keep
                }
            };
            if *cf == Cf::Idempotency {
                let expired = Arc::clone(&options.idempotency_expired);
                cf_options.set_compaction_filter("idempotency_ttl", move |_level, _key, value| {
                    decision(expired(value))
                });
            }
            if *cf == Cf::Events {
                let expired = Arc::clone(&options.events_expired);
                cf_options.set_compaction_filter("events_retention", move |_level, key, value| {
                    decision(expired(key, value))
                });
            }
            ColumnFamilyDescriptor::new(cf.name(), cf_options)
        });
        let db = DB::open_cf_descriptors(&db_options, path, descriptors).map_err(backend)?;
        let store = RocksStore { db };
        store.check_format_version()?;
        Ok(store)
    }

    /// The format version of the store in `path`, without opening it for
    /// use: `None` when there is no store there yet.
    pub fn format_version(path: &Path) -> Result<Option<u32>, StoreError> {
        if !path.join("CURRENT").exists() {
            return Ok(None);
        }
        let store = RocksStore::open_any(path)?;
        store.stored_format_version()
    }

    /// Opens the store in `path` whatever its format version, for the
    /// migration to read (no expiry filter: nothing is dropped).
    pub fn open_any(path: &Path) -> Result<RocksStore, StoreError> {
        let mut db_options = Options::default();
        db_options.create_missing_column_families(true);
        let descriptors = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), Options::default()));
        let db = DB::open_cf_descriptors(&db_options, path, descriptors).map_err(backend)?;
        Ok(RocksStore { db })
    }

    /// The version recorded in `meta`: a version byte, then bincode of a
    /// u32 (read without the codec, which accepts only the current byte).
    fn stored_format_version(&self) -> Result<Option<u32>, StoreError> {
        let Some(bytes) = self.get(Cf::Meta, FORMAT_KEY)? else {
            return Ok(None);
        };
        let body = bytes.get(1..).unwrap_or_default();
        bincode::serde::decode_from_slice::<u32, _>(body, bincode::config::standard())
            .map(|(version, _)| Some(version))
            .map_err(|error| StoreError::Corrupt {
                cf: "meta",
                reason: format!("format_version: {error}"),
            })
    }

    fn cf(&self, cf: Cf) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StoreError::Backend(format!("missing column family {}", cf.name())))
    }

    /// Writes the format version into a new store, or refuses a store
    /// written by an incompatible version.
    fn check_format_version(&self) -> Result<(), StoreError> {
        let supported = u32::from(codec::FORMAT_VERSION);
        match self.stored_format_version()? {
            Some(found) if found == supported => Ok(()),
            // Format 4 reads every format-3 value as it is (`codec::Stored`):
            // the folder is upgraded by saying so, with no rewrite. From then
            // on a format-3 build refuses it instead of misreading new values.
            Some(found) if found == u32::from(codec::V3) => {
                let op = WriteOp::Put {
                    cf: Cf::Meta,
                    key: FORMAT_KEY.to_vec(),
                    value: codec::encode(&supported),
                };
                tracing::info!("data folder upgraded from format 3 to 4 (no rewrite needed)");
                self.write(&[std::slice::from_ref(&op)], true)
            }
            Some(found) => Err(StoreError::FormatVersion { found, supported }),
            None => {
                let op = WriteOp::Put {
                    cf: Cf::Meta,
                    key: FORMAT_KEY.to_vec(),
                    value: codec::encode(&supported),
                };
                self.write(&[std::slice::from_ref(&op)], true)
            }
        }
    }

    /// Forces a compaction of every column family (runs expiry filters now).
    pub fn compact(&self) -> Result<(), StoreError> {
        for cf in Cf::ALL {
            self.db
                .compact_range_cf(self.cf(cf)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}

impl ReadView for RocksStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(backend)
    }

    fn scan(&self, scan: Scan<'_>) -> Result<Vec<Pair>, StoreError> {
        let prefix_end = prefix_successor(scan.prefix);
        let mode = scan_mode(&scan, prefix_end.as_deref());
        collect_scan(
            self.db.iterator_cf(self.cf(scan.cf)?, mode),
            &scan,
            prefix_end.as_deref(),
        )
    }
}

/// A RocksDB snapshot: reads as of the moment it was taken.
struct SnapshotView<'a> {
    store: &'a RocksStore,
    snapshot: rocksdb::Snapshot<'a>,
}

impl ReadView for SnapshotView<'_> {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot
            .get_cf(self.store.cf(cf)?, key)
            .map_err(backend)
    }

    fn scan(&self, scan: Scan<'_>) -> Result<Vec<Pair>, StoreError> {
        let prefix_end = prefix_successor(scan.prefix);
        let mode = scan_mode(&scan, prefix_end.as_deref());
        let iterator = self.snapshot.iterator_cf(self.store.cf(scan.cf)?, mode);
        collect_scan(iterator, &scan, prefix_end.as_deref())
    }
}

/// Where a scan starts.
fn scan_mode<'a>(scan: &Scan<'a>, prefix_end: Option<&'a [u8]>) -> IteratorMode<'a> {
    match (scan.direction, scan.start_exclusive) {
        (Direction::Forward, Some(after)) => IteratorMode::From(after, rocksdb::Direction::Forward),
        (Direction::Forward, None) => IteratorMode::From(scan.prefix, rocksdb::Direction::Forward),
        (Direction::Reverse, Some(before)) => {
            IteratorMode::From(before, rocksdb::Direction::Reverse)
        }
        (Direction::Reverse, None) => match prefix_end {
            Some(end) => IteratorMode::From(end, rocksdb::Direction::Reverse),
            None => IteratorMode::End,
        },
    }
}

/// Takes the pairs of one prefix from an iterator positioned by `scan_mode`.
fn collect_scan(
    iterator: impl Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
    scan: &Scan<'_>,
    prefix_end: Option<&[u8]>,
) -> Result<Vec<Pair>, StoreError> {
    let mut pairs = Vec::new();
    for item in iterator {
        let (key, value) = item.map_err(backend)?;
        // Skip the resume key itself and, in reverse, a key equal to the
        // prefix's successor; stop at the first key outside the prefix.
        let skip = match (scan.direction, scan.start_exclusive) {
            (Direction::Forward, Some(after)) => &*key <= after,
            (Direction::Reverse, Some(before)) => &*key >= before,
            (Direction::Reverse, None) => prefix_end.is_some_and(|end| &*key >= end),
            (Direction::Forward, None) => false,
        };
        if skip {
            continue;
        }
        if !key.starts_with(scan.prefix) || pairs.len() >= scan.limit {
            break;
        }
        pairs.push((key.into_vec(), value.into_vec()));
    }
    Ok(pairs)
}

impl Store for RocksStore {
    fn snapshot(&self) -> Box<dyn ReadView + '_> {
        Box::new(SnapshotView {
            store: self,
            snapshot: self.db.snapshot(),
        })
    }

    fn write(&self, groups: &[&[WriteOp]], sync: bool) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in groups.iter().flat_map(|group| group.iter()) {
            match op {
                WriteOp::Put { cf, key, value } => batch.put_cf(self.cf(*cf)?, key, value),
                WriteOp::Delete { cf, key } => batch.delete_cf(self.cf(*cf)?, key),
            }
        }
        let mut write_options = WriteOptions::default();
        write_options.set_sync(sync);
        self.db.write_opt(batch, &write_options).map_err(backend)
    }

    fn sync_wal(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true).map_err(backend)
    }

    fn stats(&self) -> Vec<StoreStat> {
        let mut stats = Vec::new();
        for cf in Cf::ALL {
            let Ok(handle) = self.cf(cf) else { continue };
            for (name, property) in [
                ("live_data_bytes", "rocksdb.estimate-live-data-size"),
                ("sst_files_bytes", "rocksdb.total-sst-files-size"),
                ("memtable_bytes", "rocksdb.cur-size-all-mem-tables"),
                (
                    "pending_compaction_bytes",
                    "rocksdb.estimate-pending-compaction-bytes",
                ),
            ] {
                if let Ok(Some(value)) = self.db.property_int_value_cf(handle, property) {
                    stats.push(StoreStat {
                        cf: cf.name(),
                        name,
                        value,
                    });
                }
            }
        }
        stats
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when no such key exists (an all-0xFF prefix).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> RocksStore {
        let options =
            RocksOptions::with_expiry(Arc::new(|value: &[u8]| value.first() == Some(&0xEE)));
        RocksStore::open(dir, options).expect("opens")
    }

    fn put(cf: Cf, key: &[u8], value: &[u8]) -> WriteOp {
        WriteOp::Put {
            cf,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    fn keys(pairs: Vec<Pair>) -> Vec<String> {
        pairs
            .into_iter()
            .map(|(key, _)| String::from_utf8_lossy(&key).into_owned())
            .collect()
    }

    #[test]
    fn a_format_3_folder_is_upgraded_by_its_meta_alone_and_others_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let version = |found: u32| {
            let mut value = vec![codec::V3];
            value.extend(codec::body(&found));
            put(Cf::Meta, FORMAT_KEY, &value)
        };
        store
            .write(&[&[version(3), put(Cf::Ledger, b"k", b"v")]], true)
            .expect("writes");
        drop(store);
        assert_eq!(
            RocksStore::format_version(dir.path()).expect("reads"),
            Some(3)
        );
        let store = open(dir.path());
        assert_eq!(store.stored_format_version().expect("reads"), Some(4));
        assert_eq!(
            store.get(Cf::Ledger, b"k").expect("reads"),
            Some(b"v".to_vec())
        );
        store.write(&[&[version(5)]], true).expect("writes");
        drop(store);
        let options = RocksOptions::with_expiry(Arc::new(|_: &[u8]| false));
        assert!(matches!(
            RocksStore::open(dir.path(), options),
            Err(StoreError::FormatVersion {
                found: 5,
                supported: 4
            })
        ));
    }

    #[test]
    fn scans_stay_inside_their_prefix_in_both_directions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let ops: Vec<WriteOp> = ["a", "b1", "b2", "b3", "c"]
            .iter()
            .map(|k| put(Cf::Ledger, k.as_bytes(), b"v"))
            .collect();
        store.write(&[&ops], true).expect("writes");
        fn scan(direction: Direction, start: Option<&[u8]>, limit: usize) -> Scan<'_> {
            Scan {
                cf: Cf::Ledger,
                prefix: b"b",
                start_exclusive: start,
                direction,
                limit,
            }
        }
        let all = store
            .scan(scan(Direction::Forward, None, 10))
            .expect("scan");
        assert_eq!(keys(all), ["b1", "b2", "b3"]);
        let rev = store.scan(scan(Direction::Reverse, None, 2)).expect("scan");
        assert_eq!(keys(rev), ["b3", "b2"]);
        let rest = store
            .scan(scan(Direction::Reverse, Some(b"b2"), 10))
            .expect("scan");
        assert_eq!(keys(rest), ["b1"]);
        let after = store
            .scan(scan(Direction::Forward, Some(b"b1"), 10))
            .expect("scan");
        assert_eq!(keys(after), ["b2", "b3"]);
    }

    #[test]
    fn data_survives_reopen_and_expired_records_compact_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path());
            let ops = [
                put(Cf::Idempotency, b"old", &[0xEE]),
                put(Cf::Idempotency, b"new", &[0x01]),
            ];
            store.write(&[&ops], true).expect("writes");
        }
        let store = open(dir.path());
        assert!(store.get(Cf::Idempotency, b"old").expect("get").is_some());
        store.compact().expect("compacts");
        assert!(store.get(Cf::Idempotency, b"old").expect("get").is_none());
        assert!(store.get(Cf::Idempotency, b"new").expect("get").is_some());
    }
}
