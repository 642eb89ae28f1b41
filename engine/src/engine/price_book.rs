//! `Engine`'s price book: writes a new price version durably (through the
//! commit queue, like every change, so a 2xx means it is on disk) and reads
//! versions from the `prices` column family: the one in force at a time, a
//! version by id, a model's versions, and the current version of every
//! model. The rules and the key layout are `crate::prices`.
//!
//! No wallet actor is involved: price versions are immutable and belong to
//! no wallet. Writes of one model are serialized under its creation lock so
//! a version written later always sorts after one written in the same
//! millisecond with the same `effective_from`.

use super::{Engine, SCAN_MAX};
use crate::error::Error;
use crate::ids::PriceVersionId;
use crate::prices::{keys, ModelName, PriceSpec, PriceVersion};
use crate::store::{codec, Cf, Direction, ReadView, Scan, StoreError, WriteOp};

/// The current version of each model, in model name order.
#[derive(Debug, Clone)]
pub struct PriceList {
    /// One version per model that has one in force, by model name.
    pub versions: Vec<PriceVersion>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// A page of one model's versions, latest `effective_from` first.
#[derive(Debug, Clone)]
pub struct PriceVersionPage {
    /// The versions, newest effective time first (future ones included).
    pub versions: Vec<PriceVersion>,
    /// Pass (as the version) for the next, older page; `None` at the end.
    pub next_cursor: Option<PriceVersionId>,
}

fn decode_version(value: &[u8]) -> Result<PriceVersion, Error> {
    Ok(codec::decode(Cf::Prices.name(), value)?)
}

/// The version of `model` in force at `at_ms`, read from `view`.
fn in_force<V: ReadView + ?Sized>(
    view: &V,
    model: &ModelName,
    at_ms: i64,
) -> Result<Option<PriceVersion>, Error> {
    if at_ms < 0 {
        return Ok(None);
    }
    let prefix = keys::model_prefix(model);
    let bound = keys::in_force_bound(model, at_ms);
    let pairs = view.scan(Scan {
        cf: Cf::Prices,
        prefix: &prefix,
        start_exclusive: Some(&bound),
        direction: Direction::Reverse,
        limit: 1,
    })?;
    pairs
        .first()
        .map(|(_, value)| decode_version(value))
        .transpose()
}

impl Engine {
    /// Writes a new, immutable price version and returns it once it is
    /// durable. `effective_from` defaults to the engine clock's now.
    pub async fn put_price(&self, spec: PriceSpec) -> Result<PriceVersion, Error> {
        let model = spec.model().clone();
        let mut lock_key = b"prices\0".to_vec();
        lock_key.extend_from_slice(model.as_str().as_bytes());
        let _guard = self.creation_lock(&lock_key).lock().await;
        let now_ms = self.shared.clock.now_ms();
        let effective_from_ms = spec.effective_from_ms().unwrap_or(now_ms);
        let mut id = PriceVersionId::generate(now_ms);
        // ULIDs of one millisecond are random, not ordered: when a version
        // of the same effective time exists, sort after it, so "the latest
        // written wins a tie" holds.
        let same_time = keys::at_prefix(&model, effective_from_ms);
        let last = self.shared.store.scan(Scan {
            cf: Cf::Prices,
            prefix: &same_time,
            start_exclusive: None,
            direction: Direction::Reverse,
            limit: 1,
        })?;
        if let Some((_, _, last_id)) = last.first().and_then(|(key, _)| keys::version_parts(key)) {
            if id.to_bytes() <= last_id.to_bytes() {
                id = last_id
                    .successor()
                    .ok_or(Error::Overloaded("price version ids of this millisecond"))?;
            }
        }
        let version = PriceVersion {
            id,
            model,
            currency: spec.currency(),
            amounts: *spec.amounts(),
            effective_from_ms,
            created_at_ms: now_ms,
        };
        let key = keys::version(&version.model, effective_from_ms, &version.id);
        let ops = vec![
            WriteOp::Put {
                cf: Cf::Prices,
                key: keys::by_id(&version.id),
                value: codec::encode(&key),
            },
            WriteOp::Put {
                cf: Cf::Prices,
                key,
                value: codec::encode(&version),
            },
        ];
        self.commit(ops).await?;
        tracing::info!(
            id = %version.id,
            model = %version.model,
            effective_from_ms,
            "price version written"
        );
        Ok(version)
    }

    /// The version of `model` in force at `at_ms`: the latest
    /// `effective_from` at or before it. `None` for a model without one
    /// (or a name no model can have).
    pub fn price_at(&self, model: &str, at_ms: i64) -> Result<Option<PriceVersion>, Error> {
        let Ok(model) = ModelName::parse(model) else {
            return Ok(None);
        };
        in_force(self.shared.store.as_ref(), &model, at_ms)
    }

    /// A version by its id, whether or not it is in force: what a capture
    /// priced "at the version of its hold" reads.
    pub fn price_version(&self, id: &PriceVersionId) -> Result<Option<PriceVersion>, Error> {
        let store = self.shared.store.as_ref();
        let Some(index) = store.get(Cf::Prices, &keys::by_id(id))? else {
            return Ok(None);
        };
        let key: Vec<u8> = codec::decode(Cf::Prices.name(), &index)?;
        let value = store
            .get(Cf::Prices, &key)?
            .ok_or_else(|| StoreError::Corrupt {
                cf: Cf::Prices.name(),
                reason: format!("the index of {id} names a missing version"),
            })?;
        decode_version(&value).map(Some)
    }

    /// The version of each model in force now (engine clock), by model
    /// name, strictly after the model `after`, at most `limit`. Models whose
    /// every version is still to come are left out. A page looks at most
    /// [`SCAN_MAX`] models, so it may be short with a cursor to go on from.
    pub fn current_prices(
        &self,
        after: Option<&ModelName>,
        limit: usize,
    ) -> Result<PriceList, Error> {
        assert!(limit > 0, "a page holds at least one price");
        let now_ms = self.shared.clock.now_ms();
        // One view, so a page never mixes two states of the book.
        let view = self.shared.store.snapshot();
        let next_model = |start: Option<&[u8]>| -> Result<Option<ModelName>, Error> {
            let pairs = view.scan(Scan {
                cf: Cf::Prices,
                prefix: &[keys::VERSION],
                start_exclusive: start,
                direction: Direction::Forward,
                limit: 1,
            })?;
            let Some((key, _)) = pairs.first() else {
                return Ok(None);
            };
            let name = keys::version_parts(key)
                .and_then(|(name, _, _)| ModelName::parse(name).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    cf: Cf::Prices.name(),
                    reason: "a version key without a model name".into(),
                })?;
            Ok(Some(name))
        };
        let mut versions = Vec::new();
        let mut start = after.map(keys::model_end);
        let mut looked = 0;
        while let Some(model) = next_model(start.as_deref())? {
            looked += 1;
            if let Some(version) = in_force(view.as_ref(), &model, now_ms)? {
                versions.push(version);
            }
            let end = keys::model_end(&model);
            if versions.len() == limit || looked >= SCAN_MAX {
                // A cursor only when another model follows.
                let more = next_model(Some(&end))?.is_some();
                return Ok(PriceList {
                    versions,
                    next_cursor: more.then(|| model.as_str().to_owned()),
                });
            }
            start = Some(end);
        }
        Ok(PriceList {
            versions,
            next_cursor: None,
        })
    }

    /// Versions of `model`, latest `effective_from` first (future ones
    /// included), strictly older than `before` (a version of this model
    /// from an earlier page), at most `limit`. Empty for an unknown model.
    pub fn price_versions(
        &self,
        model: &ModelName,
        before: Option<&PriceVersion>,
        limit: usize,
    ) -> Result<PriceVersionPage, Error> {
        assert!(limit > 0, "a page holds at least one version");
        let prefix = keys::model_prefix(model);
        let start =
            before.map(|version| keys::version(model, version.effective_from_ms, &version.id));
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Prices,
            prefix: &prefix,
            start_exclusive: start.as_deref(),
            direction: Direction::Reverse,
            limit: limit + 1,
        })?;
        let more = pairs.len() > limit;
        let versions = pairs
            .iter()
            .take(limit)
            .map(|(_, value)| decode_version(value))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            versions.last().map(|version| version.id.clone())
        } else {
            None
        };
        Ok(PriceVersionPage {
            versions,
            next_cursor,
        })
    }
}
