//! `Engine`'s gateway calls: holds (place, capture, release, read, list)
//! and priced usage. Each change is a command to the wallet's actor, like
//! every change; this module finds the wallet a hold belongs to (its record
//! in the `holds` column family) and the price version a priced command is
//! charged at, which the wallet's rules (`Wallet::apply`) then use.

use super::Engine;
use crate::actor::{load_entry, read_hold, Receipt};
use crate::error::Error;
use crate::holds::{keys, HoldRecord, HoldStatus};
use crate::ids::{HoldId, WalletId};
use crate::prices::{PriceVersion, Usage};
use crate::store::{Cf, Direction, Scan};
use crate::wallet::{CaptureAmount, Command, Entry, HoldAmount, Metadata, Priced};
use std::sync::Arc;

/// What a client asks a hold to reserve.
#[derive(Debug, Clone)]
pub enum HoldRequest {
    /// This many credits.
    Credits(crate::money::Credits),
    /// The cost of the largest call: `model` at its current price, with
    /// these maximum counts.
    Estimate {
        /// The model.
        model: String,
        /// The most the call may use.
        usage: Usage,
    },
}

/// What a client asks a capture to spend.
#[derive(Debug, Clone)]
pub enum CaptureRequest {
    /// The whole hold.
    Whole,
    /// This many credits.
    Credits(crate::money::Credits),
    /// This usage, priced at the hold's version (or, for a hold placed by
    /// credits, at `model`'s version in force now).
    Usage {
        /// The model; defaults to the one the hold was priced for.
        model: Option<String>,
        /// The counts.
        usage: Usage,
    },
}

/// A hold as stored: its record and the entries that placed and resolved it.
#[derive(Debug, Clone)]
pub struct HoldView {
    /// The hold.
    pub id: HoldId,
    /// Where it stands.
    pub status: HoldStatus,
    /// The entry that placed it (credits, expiry, metadata, lots).
    pub placed: Entry,
    /// The capture, release or expiry that resolved it.
    pub resolved: Option<Entry>,
    /// The capture that came after its expiry.
    pub late_capture: Option<Entry>,
}

/// A page of a wallet's holds, oldest first.
#[derive(Debug, Clone)]
pub struct HoldPage {
    /// The holds.
    pub holds: Vec<HoldView>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_cursor: Option<HoldId>,
}

/// Holds a page reads at most from a wallet's index, so a status filter
/// that matches little still answers in bounded time (with a cursor).
const HOLD_SCAN_MAX: usize = 1_000;

impl Engine {
    /// Places a hold on wallet `id` for `ttl_ms`.
    pub async fn place_hold(
        &self,
        id: &WalletId,
        request: HoldRequest,
        ttl_ms: i64,
        metadata: Metadata,
        key: Option<String>,
    ) -> Result<Receipt, Error> {
        let amount = match request {
            HoldRequest::Credits(credits) => HoldAmount::Credits(credits),
            HoldRequest::Estimate { model, usage } => {
                let price = self.price_now(&model)?;
                HoldAmount::Estimate(Priced {
                    model,
                    usage,
                    price: Some(price),
                })
            }
        };
        let command = Command::Hold {
            amount,
            ttl_ms,
            metadata,
        };
        let receipt = self.execute(id, command, key).await?;
        if let Some(hold) = &receipt.entry.hold {
            self.hold_wallets.insert(hold.id.clone(), id.clone());
        }
        Ok(receipt)
    }

    /// The wallet of hold `hold` (a fact fixed when it was placed: cached
    /// from the placing, else read from its record).
    fn hold_wallet(&self, hold: &HoldId) -> Result<WalletId, Error> {
        if let Some(wallet) = self.hold_wallets.get(hold) {
            return Ok(wallet);
        }
        let wallet = self.hold_record(hold)?.wallet_id;
        self.hold_wallets.insert(hold.clone(), wallet.clone());
        Ok(wallet)
    }

    /// Captures hold `hold`. A capture of a hold that expired is applied
    /// as a debit linked to it when the available credits cover it.
    pub async fn capture_hold(
        &self,
        hold: &HoldId,
        request: CaptureRequest,
        metadata: Metadata,
        key: Option<String>,
    ) -> Result<Receipt, Error> {
        let wallet = self.hold_wallet(hold)?;
        let amount = match request {
            CaptureRequest::Whole => CaptureAmount::Whole,
            CaptureRequest::Credits(credits) => CaptureAmount::Credits(credits),
            CaptureRequest::Usage { model, usage } => {
                let record = self.hold_record(hold)?;
                let price = self.capture_price(&record, model.as_deref())?;
                CaptureAmount::Usage(Priced {
                    model: price.model.as_str().to_owned(),
                    usage,
                    price: Some(price),
                })
            }
        };
        let command = Command::Capture {
            hold: hold.clone(),
            amount,
            metadata,
        };
        self.execute(&wallet, command, key).await
    }

    /// Releases hold `hold`: its credits go back to their lots.
    pub async fn release_hold(&self, hold: &HoldId, key: Option<String>) -> Result<Receipt, Error> {
        let wallet = self.hold_wallet(hold)?;
        let command = Command::Release { hold: hold.clone() };
        self.execute(&wallet, command, key).await
    }

    /// Debits the priced cost of one call's usage of `model`, at the
    /// version in force now.
    pub async fn record_usage(
        &self,
        id: &WalletId,
        model: String,
        usage: Usage,
        metadata: Metadata,
        key: Option<String>,
    ) -> Result<Receipt, Error> {
        let price = self.price_now(&model)?;
        let command = Command::Usage {
            priced: Priced {
                model,
                usage,
                price: Some(price),
            },
            metadata,
        };
        self.execute(id, command, key).await
    }

    /// A hold as durably stored.
    pub fn hold(&self, hold: &HoldId) -> Result<HoldView, Error> {
        let record = self.hold_record(hold)?;
        self.hold_view(hold.clone(), record)
    }

    /// A page of wallet `id`'s holds, oldest first, strictly after `after`,
    /// with status `status` when given.
    pub fn wallet_holds(
        &self,
        id: &WalletId,
        status: Option<HoldStatus>,
        after: Option<&HoldId>,
        limit: usize,
    ) -> Result<HoldPage, Error> {
        if crate::actor::load_wallet(self.shared.store.as_ref(), id)?.is_none() {
            return Err(Error::WalletNotFound);
        }
        let prefix = keys::by_wallet_prefix(id);
        let start = after.map(|hold| keys::by_wallet(id, hold));
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Holds,
            prefix: &prefix,
            start_exclusive: start.as_deref(),
            direction: Direction::Forward,
            limit: HOLD_SCAN_MAX,
        })?;
        let mut holds = Vec::new();
        let mut last = None;
        let mut examined = 0;
        for (key, _) in &pairs {
            examined += 1;
            let Some(hold) = keys::hold_of_index(key) else {
                continue;
            };
            last = Some(hold.clone());
            let record = self.hold_record(&hold)?;
            if status.is_none_or(|wanted| wanted == record.status) {
                holds.push(self.hold_view(hold, record)?);
                if holds.len() == limit {
                    break;
                }
            }
        }
        // The index ends here only if the scan came short and was read whole.
        let at_end = pairs.len() < HOLD_SCAN_MAX && examined == pairs.len();
        let next_cursor = if at_end { None } else { last };
        Ok(HoldPage { holds, next_cursor })
    }

    /// Pending holds on disk and the credits they hold: what the metrics
    /// start from.
    pub(crate) fn count_pending_holds(
        &self,
    ) -> Result<(i64, crate::money::Credits), crate::store::StoreError> {
        let mut count = 0;
        let mut credits = crate::money::Credits::ZERO;
        let mut start: Option<Vec<u8>> = None;
        loop {
            let pairs = self.shared.store.scan(Scan {
                cf: Cf::Holds,
                prefix: &[keys::PENDING],
                start_exclusive: start.as_deref(),
                direction: Direction::Forward,
                limit: HOLD_SCAN_MAX,
            })?;
            for (_, value) in &pairs {
                let held: crate::money::Credits =
                    crate::store::codec::decode(Cf::Holds.name(), value)?;
                count += 1;
                credits = credits
                    .checked_add(held)
                    .unwrap_or(crate::money::Credits::MAX);
            }
            match pairs.last() {
                Some((key, _)) if pairs.len() == HOLD_SCAN_MAX => start = Some(key.clone()),
                _ => return Ok((count, credits)),
            }
        }
    }

    fn hold_record(&self, hold: &HoldId) -> Result<HoldRecord, Error> {
        read_hold(self.shared.store.as_ref(), hold)?.ok_or(Error::HoldNotFound)
    }

    fn hold_view(&self, id: HoldId, record: HoldRecord) -> Result<HoldView, Error> {
        let store = self.shared.store.as_ref();
        let entry = |seq: u64| load_entry(store, &record.wallet_id, seq);
        Ok(HoldView {
            id,
            status: record.status,
            placed: entry(record.placed_seq)?,
            resolved: record.resolved_seq.map(entry).transpose()?,
            late_capture: record.late_capture_seq.map(entry).transpose()?,
        })
    }

    /// The version of `model` in force now; an unknown model is refused,
    /// never priced at zero.
    fn price_now(&self, model: &str) -> Result<Arc<PriceVersion>, Error> {
        self.price_at(model, self.now_ms())?
            .map(Arc::new)
            .ok_or_else(|| Error::UnknownModel(model.to_owned()))
    }

    /// The version a capture by usage is priced at: the hold's own, so a
    /// price change between hold and capture changes nothing the gateway
    /// agreed to; for a hold placed by credits, `model`'s version now.
    fn capture_price(
        &self,
        record: &HoldRecord,
        model: Option<&str>,
    ) -> Result<Arc<PriceVersion>, Error> {
        let placed = load_entry(
            self.shared.store.as_ref(),
            &record.wallet_id,
            record.placed_seq,
        )?;
        let version = placed
            .hold
            .as_ref()
            .and_then(|hold| hold.price_version.clone());
        match version {
            Some(version) => {
                let price = self
                    .price_version(&version)?
                    .ok_or_else(|| Error::UnknownModel(version.to_string()))?;
                match model {
                    Some(model) if model != price.model.as_str() => {
                        Err(Error::Rejected(crate::wallet::WalletError::InvalidTerms {
                            field: "usage.model".into(),
                            reason: format!(
                                "must be {}, the model the hold was priced for (or be left out)",
                                price.model
                            ),
                        }))
                    }
                    _ => Ok(Arc::new(price)),
                }
            }
            None => match model {
                Some(model) => self.price_now(model),
                None => Err(Error::Rejected(crate::wallet::WalletError::InvalidTerms {
                    field: "usage.model".into(),
                    reason: "is required: this hold was placed by credits, not for a model".into(),
                })),
            },
        }
    }
}
