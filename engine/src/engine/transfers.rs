//! `Engine`'s transfers: the protocol that moves value between wallets of
//! different actors (on different shards) with every leg applied or none,
//! through crashes.
//!
//! 1. **Source leg.** One command to the source's actor debits the gross
//!    (`TRANSFER_OUT`, paid credits only; 402 when they do not cover it) and,
//!    in the same atomic batch, writes the transfer's record (`pending`),
//!    its in-flight key and the client's Idempotency-Key. Nothing else
//!    happens before this write; a refusal writes nothing.
//! 2. **Receiving legs**, one after the other: the destination's credit
//!    (`TRANSFER_IN`), then the fee wallet's. Each is a command with an
//!    internal idempotency key named after the transfer and the leg
//!    (`transfer:<id>:in`), so a leg driven twice applies once.
//! 3. **End**: the record (`completed`, with every leg's entry) and the
//!    removal of the in-flight key, written in the last receiving leg's own
//!    batch (`RideAlong`), so a transfer costs two writes. A driver whose
//!    last leg replays (a retry, the recovery) writes the end on its own.
//!    The reply leaves after it.
//!
//! A receiving leg the wallet refuses (terminated since the request, or
//! past the credit range) is undone by a refund to the source
//! (`transfer:<id>:refund`, or `:fee_refund` for the fee alone), and the
//! transfer ends `failed` (or `completed` without its fee). A crash at any
//! point leaves the record `pending` with its in-flight key: the next start
//! (`Engine::recover_transfers`) drives every such transfer from step 2,
//! where legs already applied replay. Between steps 1 and 3 the gross is in
//! flight: out of the source, shown by the transfer as `pending`. No step
//! holds a lock across actors, so transfers in opposite directions cannot
//! deadlock; two drivers of one transfer (a client's retry and the
//! recovery) need no lock, since every leg replays.
//!
//! A leg's internal key lives `idempotency_ttl_hours` like every key: a
//! transfer left in flight is driven at the next start, before anything is
//! served, so that bounds how long a server may stay down with transfers
//! in flight (24 h by default).

use super::{internal_check, Engine};
use crate::actor::{Job, Receipt, RideAlong};
use crate::error::Error;
use crate::ids::{TransferId, WalletId};
use crate::store::{codec, Cf, Direction, Scan, WriteOp};
use crate::transfers::{
    keys, split, Leg, LegRole, Side, SplitError, TransferAmount, TransferRecord, TransferState,
};
use crate::wallet::{Command, Metadata, WalletError};
use rust_decimal::Decimal;

/// How long a transfer may stay in flight before the timer drives it.
const STALLED_AFTER_MS: i64 = 10_000;

/// What a client asks to move.
#[derive(Debug, Clone)]
pub struct TransferSpec {
    /// The wallet that gives.
    pub from: WalletId,
    /// The wallet that receives.
    pub to: WalletId,
    /// Gross credits of the source, or money.
    pub amount: TransferAmount,
    /// The fee: percent of the gross and the wallet it goes to.
    pub fee: Option<(Decimal, WalletId)>,
    /// Client metadata, on the record and every leg.
    pub metadata: Metadata,
}

impl Engine {
    /// Moves value from one wallet to another (and a fee to a third), every
    /// leg or none, and returns the transfer once it is over (`completed`,
    /// or `failed` with the source refunded), or still `pending` when a
    /// receiving leg could not be applied now (overload, a failed write):
    /// the source was debited and the timer finishes it, so the caller must
    /// not take it for a refusal. With a key, a retry of the same request
    /// returns the same transfer (driving it to its end if it was left in
    /// flight); another request with the key gets 409.
    pub async fn transfer(
        &self,
        spec: TransferSpec,
        key: Option<String>,
    ) -> Result<(TransferRecord, bool), Error> {
        let fingerprint = key
            .as_ref()
            .map(|_| crate::idempotency::fingerprint(spec.from.as_str(), &fingerprint_form(&spec)));
        let client_key = key.as_ref().map(|key| keys::client_key(&spec.from, key));
        // One request per key at a time, so a retry racing the original
        // cannot start a second transfer.
        let lock_key = client_key.clone().unwrap_or_default();
        let guard = match &client_key {
            Some(_) => Some(self.creation_lock(&lock_key).lock().await),
            None => None,
        };
        if let Some(client_key) = &client_key {
            if let Some(bytes) = self.shared.store.get(Cf::Transfers, client_key)? {
                let id: TransferId = codec::decode(Cf::Transfers.name(), &bytes)?;
                let record = self.transfer_record(&id)?.ok_or(Error::TransferNotFound)?;
                // A key lives as long as every idempotency key.
                if !self.shared.idempotency_expired(record.created_at_ms) {
                    if record.fingerprint != fingerprint {
                        return Err(Error::IdempotencyKeyReused);
                    }
                    drop(guard);
                    return Ok((self.drive_or_leave(record).await, true));
                }
            }
        }
        let record = self
            .start_transfer(spec, key, fingerprint, client_key)
            .await?;
        drop(guard);
        Ok((self.drive_or_leave(record).await, false))
    }

    /// Drives a transfer whose source leg is durable; one that cannot end
    /// now is left in flight (for a retry with its key, or the timer).
    async fn drive_or_leave(&self, record: TransferRecord) -> TransferRecord {
        let pending = record.clone();
        match self.drive(record).await {
            Ok(ended) => ended,
            Err(error) => {
                tracing::warn!(transfer = %pending.id, %error, "transfer left in flight");
                pending
            }
        }
    }

    /// The transfers from `from` that charged a fee (the fee leg applied),
    /// newest first, at most `window` of them: a fee history read in one
    /// bounded pass.
    pub fn fees_from(&self, from: &WalletId, window: usize) -> Result<Vec<TransferRecord>, Error> {
        let prefix = keys::fees_prefix(from);
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Transfers,
            prefix: &prefix,
            start_exclusive: None,
            direction: Direction::Reverse,
            limit: window,
        })?;
        let mut fees = Vec::with_capacity(pairs.len());
        for (key, _) in &pairs {
            let Some(id) = keys::fee_transfer(key) else {
                continue;
            };
            if let Some(record) = self.transfer_record(&id)? {
                if record.applied.iter().any(|leg| leg.role == LegRole::Fee) {
                    fees.push(record);
                }
            }
        }
        Ok(fees)
    }

    /// A transfer as stored.
    pub fn transfer_record(&self, id: &TransferId) -> Result<Option<TransferRecord>, Error> {
        match self.shared.store.get(Cf::Transfers, &keys::record(id))? {
            Some(bytes) => Ok(Some(codec::decode(Cf::Transfers.name(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Drives every transfer left in flight (by a crash, or an overload
    /// between its legs) to its end. Run at start, before serving.
    pub async fn recover_transfers(&self) -> Result<usize, Error> {
        let mut done = 0;
        let mut start: Option<Vec<u8>> = None;
        loop {
            let pairs = self.shared.store.scan(Scan {
                cf: Cf::Transfers,
                prefix: &[keys::PENDING],
                start_exclusive: start.as_deref(),
                direction: Direction::Forward,
                limit: 256,
            })?;
            let Some((last, _)) = pairs.last() else {
                return Ok(done);
            };
            start = Some(last.clone());
            for (key, _) in &pairs {
                let Some(id) = keys::pending_id(key) else {
                    continue;
                };
                // One transfer that cannot end now must not keep the server
                // from starting: it stays in flight for the timer.
                if let Some(record) = self.transfer_record(&id)? {
                    match self.drive(record).await {
                        Ok(ended) => {
                            tracing::info!(transfer = %id, state = ended.state.as_str(), "transfer in flight driven to its end");
                            done += 1;
                        }
                        Err(error) => {
                            tracing::warn!(transfer = %id, %error, "transfer still in flight after start");
                        }
                    }
                }
            }
        }
    }

    /// Drives transfers that have been in flight longer than
    /// [`STALLED_AFTER_MS`] (a leg refused with 503 while the server runs,
    /// and no client retry): the timer calls this every pass. A transfer
    /// its request is still driving is driven twice, which is safe: legs
    /// replay. Failures are logged; the next pass tries again.
    pub(crate) async fn retry_stalled_transfers(&self) {
        let pairs = match self.shared.store.scan(Scan {
            cf: Cf::Transfers,
            prefix: &[keys::PENDING],
            start_exclusive: None,
            direction: Direction::Forward,
            limit: 64,
        }) {
            Ok(pairs) => pairs,
            Err(error) => {
                tracing::warn!(%error, "reading transfers in flight");
                return;
            }
        };
        let now_ms = self.shared.clock.now_ms();
        for (key, _) in pairs {
            let Some(id) = keys::pending_id(&key) else {
                continue;
            };
            let record = match self.transfer_record(&id) {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(transfer = %id, %error, "reading a transfer in flight");
                    continue;
                }
            };
            if now_ms.saturating_sub(record.created_at_ms) < STALLED_AFTER_MS {
                continue;
            }
            match self.drive(record).await {
                Ok(ended) => {
                    tracing::info!(transfer = %id, state = ended.state.as_str(), "stalled transfer driven to its end");
                }
                Err(error) => {
                    tracing::warn!(transfer = %id, %error, "stalled transfer still in flight");
                }
            }
        }
    }

    /// Step 1: splits the amount, then debits the source with the record.
    /// Returns the record and the source's leg.
    async fn start_transfer(
        &self,
        spec: TransferSpec,
        key: Option<String>,
        fingerprint: Option<[u8; 32]>,
        client_key: Option<Vec<u8>>,
    ) -> Result<TransferRecord, Error> {
        let invalid = |field: &str, reason: &str| {
            Error::Rejected(WalletError::InvalidTerms {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if spec.from == spec.to {
            return Err(invalid(
                "to_wallet",
                "must be another wallet than from_wallet",
            ));
        }
        if let Some((_, fee_wallet)) = &spec.fee {
            if *fee_wallet == spec.from || *fee_wallet == spec.to {
                return Err(invalid(
                    "fee.to_wallet",
                    "must be another wallet than from_wallet and to_wallet",
                ));
            }
        }
        let source = self.side(&spec.from).await?;
        let dest = self.side(&spec.to).await?;
        let fee = match &spec.fee {
            Some((percent, wallet)) => Some((*percent, self.side(wallet).await?)),
            None => None,
        };
        let legs = split(spec.amount, source, dest, fee).map_err(split_error)?;
        let now_ms = self.shared.clock.now_ms();
        let id = TransferId::generate(now_ms);
        let record = TransferRecord {
            id: id.clone(),
            from: spec.from.clone(),
            to: spec.to.clone(),
            fee_wallet: spec.fee.as_ref().map(|(_, wallet)| wallet.clone()),
            fee_percent: spec.fee.as_ref().map(|(percent, _)| *percent),
            currency: source.currency,
            legs,
            metadata: spec.metadata.clone(),
            state: TransferState::Pending,
            applied: Vec::new(),
            failure: None,
            idempotency_key: key,
            fingerprint,
            created_at_ms: now_ms,
            finished_at_ms: None,
        };
        let command = Command::TransferOut {
            credits: legs.gross,
            metadata: leg_metadata(&record, LegRole::Out),
        };
        // The record names the source's entry (so no key is needed to find
        // it again): made from that entry, in its batch.
        let pending = record.clone();
        let also = RideAlong(Box::new(move |entry| {
            let mut record = pending.clone();
            record.applied = vec![Leg::of(LegRole::Out, entry, record.legs.gross)];
            let mut ops = vec![
                WriteOp::Put {
                    cf: Cf::Transfers,
                    key: keys::record(&record.id),
                    value: codec::encode(&record),
                },
                WriteOp::Put {
                    cf: Cf::Transfers,
                    key: keys::pending(&record.id),
                    value: Vec::new(),
                },
            ];
            if let Some(client_key) = &client_key {
                ops.push(WriteOp::Put {
                    cf: Cf::Transfers,
                    key: client_key.clone(),
                    value: codec::encode(&record.id),
                });
            }
            if record.fee_wallet.is_some() && !record.legs.fee.is_zero() {
                ops.push(WriteOp::Put {
                    cf: Cf::Transfers,
                    key: keys::fee(&record.from, &record.id),
                    value: Vec::new(),
                });
            }
            ops
        }));
        // No key: the transfer is new, and its record (written with this
        // entry) is what every later step and the recovery start from.
        let receipt = self
            .run(
                &spec.from,
                Job {
                    command,
                    key: None,
                    also: Some(also),
                },
            )
            .await?;
        let mut record = record;
        record.applied = vec![Leg::of(LegRole::Out, &receipt.entry, legs.gross)];
        Ok(record)
    }

    /// A wallet's currency and rate (fixed at its creation: cached).
    async fn side(&self, wallet: &WalletId) -> Result<Side, Error> {
        if let Some((currency, rate)) = self.money.get(wallet) {
            return Ok(Side { currency, rate });
        }
        let found = self.wallet(wallet).await?;
        self.money
            .insert(wallet.clone(), (found.currency, found.rate_amount));
        Ok(Side {
            currency: found.currency,
            rate: found.rate_amount,
        })
    }

    /// Steps 2 and 3 for a transfer whose source leg is durable. Every leg
    /// writes the record, with itself among the applied legs, in its own
    /// batch, and the last one ends it there: the record always names every
    /// leg that landed, so a leg it names is never driven again (however
    /// long after), and a transfer costs two writes (three with a fee).
    async fn drive(&self, mut record: TransferRecord) -> Result<TransferRecord, Error> {
        if record.state != TransferState::Pending {
            return Ok(record);
        }
        let fee_wallet = record
            .fee_wallet
            .clone()
            .filter(|_| !record.legs.fee.is_zero());
        if !has(&record, LegRole::In) {
            let after = if fee_wallet.is_some() {
                TransferState::Pending
            } else {
                TransferState::Completed
            };
            let to = record.to.clone();
            match self.step(&mut record, &to, LegRole::In, after).await {
                Ok(()) => {}
                Err(Error::Rejected(refusal)) => {
                    record.failure = Some(format!("to_wallet refused the transfer: {refusal}"));
                    return self
                        .refund(record, LegRole::Refund, TransferState::Failed)
                        .await;
                }
                Err(other) => return Err(other),
            }
        }
        if let Some(fee_wallet) = fee_wallet {
            if !has(&record, LegRole::Fee) {
                match self
                    .step(
                        &mut record,
                        &fee_wallet,
                        LegRole::Fee,
                        TransferState::Completed,
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(Error::Rejected(refusal)) => {
                        record.failure = Some(format!(
                            "the fee wallet refused the fee, refunded: {refusal}"
                        ));
                        return self
                            .refund(record, LegRole::FeeRefund, TransferState::Completed)
                            .await;
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        if record.state == TransferState::Pending {
            // Every leg was named already (a driver that stopped between
            // its last leg and the end): end it.
            return self.finish(record, TransferState::Completed).await;
        }
        Ok(record)
    }

    /// One leg of `record` into `wallet`, which writes the record as it
    /// stands after it (`after`) in its own batch. Applied once: its
    /// internal key replays it to a second driver within the key's life, and
    /// the record names it from then on.
    async fn step(
        &self,
        record: &mut TransferRecord,
        wallet: &WalletId,
        role: LegRole,
        after: TransferState,
    ) -> Result<(), Error> {
        let credits = match role {
            LegRole::In => record.legs.net,
            LegRole::Fee => record.legs.fee,
            LegRole::Refund => record.legs.gross,
            LegRole::FeeRefund => record.legs.fee_at_source,
            LegRole::Out => record.legs.gross,
        };
        let finished_ms = (after != TransferState::Pending).then(|| self.shared.clock.now_ms());
        let base = record.clone();
        let ride = RideAlong(Box::new(move |entry| {
            let mut next = base.clone();
            next.applied.push(Leg::of(role, entry, credits));
            next.state = after;
            next.finished_at_ms = finished_ms;
            record_ops(&next)
        }));
        let metadata = leg_metadata(record, role);
        let command = Command::TransferIn { credits, metadata };
        let check = internal_check(wallet, role.key(&record.id), &command);
        let receipt: Receipt = self
            .run(
                wallet,
                Job {
                    command,
                    key: Some(check),
                    also: Some(ride),
                },
            )
            .await?;
        // Applied here, or by another driver whose ride-along wrote the same.
        record.applied.push(Leg::of(role, &receipt.entry, credits));
        record.state = after;
        record.finished_at_ms = finished_ms;
        Ok(())
    }

    /// Gives the source back what a refused leg would have received. A
    /// source that refuses it too (terminated since: its credits were
    /// forfeited) ends the transfer `forfeited`.
    async fn refund(
        &self,
        mut record: TransferRecord,
        role: LegRole,
        after: TransferState,
    ) -> Result<TransferRecord, Error> {
        if has(&record, role) {
            return Ok(record);
        }
        let from = record.from.clone();
        match self.step(&mut record, &from, role, after).await {
            Ok(()) => Ok(record),
            Err(Error::Rejected(refusal)) => {
                let reason = record.failure.take().unwrap_or_default();
                record.failure = Some(format!("{reason}; the refund was refused too: {refusal}"));
                self.finish(record, TransferState::Forfeited).await
            }
            Err(other) => Err(other),
        }
    }

    /// Step 3 on its own: the record's end, and the in-flight key gone, in
    /// one write.
    async fn finish(
        &self,
        mut record: TransferRecord,
        state: TransferState,
    ) -> Result<TransferRecord, Error> {
        record.state = state;
        record.finished_at_ms = Some(self.shared.clock.now_ms());
        self.commit(record_ops(&record)).await?;
        Ok(record)
    }
}

/// The writes of a record as it stands: the record, and its in-flight key
/// (kept while it is pending, gone once it ended).
fn record_ops(record: &TransferRecord) -> Vec<WriteOp> {
    let put = WriteOp::Put {
        cf: Cf::Transfers,
        key: keys::record(&record.id),
        value: codec::encode(record),
    };
    let flight = if record.state == TransferState::Pending {
        WriteOp::Put {
            cf: Cf::Transfers,
            key: keys::pending(&record.id),
            value: Vec::new(),
        }
    } else {
        WriteOp::Delete {
            cf: Cf::Transfers,
            key: keys::pending(&record.id),
        }
    };
    vec![put, flight]
}

/// Whether the record names a leg of `role`.
fn has(record: &TransferRecord, role: LegRole) -> bool {
    record.applied.iter().any(|leg| leg.role == role)
}

/// The metadata of a leg: the transfer's id and the leg's role, then the
/// client's metadata.
fn leg_metadata(record: &TransferRecord, role: LegRole) -> Metadata {
    let mut metadata = vec![
        ("transfer_id".to_owned(), record.id.to_string()),
        ("transfer_leg".to_owned(), role.as_str().to_owned()),
    ];
    metadata.extend(record.metadata.iter().cloned());
    metadata
}

/// What a transfer's Idempotency-Key fingerprints: the request as sent.
fn fingerprint_form(spec: &TransferSpec) -> impl serde::Serialize + '_ {
    let mut metadata = spec.metadata.clone();
    metadata.sort();
    (
        spec.to.as_str(),
        spec.amount,
        spec.fee
            .as_ref()
            .map(|(percent, wallet)| (percent.normalize().to_string(), wallet.as_str())),
        metadata,
    )
}

fn split_error(error: SplitError) -> Error {
    if let SplitError::CurrencyMismatch { .. } = error {
        return Error::Rejected(WalletError::CurrencyMismatch {
            field: "to_wallet",
            message: error.to_string(),
        });
    }
    let field = match &error {
        SplitError::CurrencyMismatch { .. } => "to_wallet",
        SplitError::NotPositive { field }
        | SplitError::Scale { field, .. }
        | SplitError::NothingLeft { field }
        | SplitError::OutOfRange { field } => field,
        SplitError::FeePercent => "fee.percent",
    };
    Error::Rejected(WalletError::InvalidTerms {
        field: field.into(),
        reason: error.to_string(),
    })
}
