//! The engine's Prometheus metrics, declared in one place and registered into
//! a registry the caller owns (so two engines in one process never clash).

use crate::money::Credits;
use prometheus::{
    exponential_buckets, CounterVec, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry,
};
use rust_decimal::prelude::ToPrimitive;

/// Handles to every engine metric. Cheap to clone.
#[derive(Clone)]
pub struct EngineMetrics {
    /// Requests merged into one durable write.
    pub commit_group_size: Histogram,
    /// Time of one batch write including its WAL sync.
    pub commit_sync_seconds: Histogram,
    /// Requests waiting for the writer.
    pub commit_queue_depth: IntGauge,
    /// Groups whose write failed.
    pub commit_failures: IntCounter,
    /// Requests refused because the commit queue was full.
    pub commit_rejections: IntCounter,
    /// Wallet actors in memory.
    pub resident_actors: IntGauge,
    /// Wallet actors that left memory because a shard held too many.
    pub actor_evictions: IntCounter,
    /// Wallet operations by kind and outcome.
    pub operations: IntCounterVec,
    /// Requests answered from an idempotency record.
    pub idempotent_replays: IntCounter,
    /// Debits and voids refused for lack of credits.
    pub insufficient_credits: IntCounter,
    /// Credits moved by applied changes, by kind.
    pub credits: CounterVec,
    /// Messages sent to wallet actors and not yet handled.
    pub mailbox_depth: IntGauge,
    /// Automatic top-ups by trigger and outcome (`ok`, `failed`).
    pub automatic_topups: IntCounterVec,
    /// Wallet events written to the outbox, by type.
    pub events: IntCounterVec,
    /// Timer passes and the wallets they woke.
    pub timer_wakeups: IntCounter,
    /// Holds pending now, over all wallets.
    pub holds_pending: IntGauge,
    /// Credits in pending holds, over all wallets (an observation).
    pub held_credits: Gauge,
    /// Holds placed and resolved, by outcome (placed, captured, released,
    /// expired).
    pub holds: IntCounterVec,
    /// Captures that arrived after their hold expired.
    pub late_captures: IntCounter,
}

impl EngineMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<EngineMetrics> {
        let metrics = EngineMetrics {
            commit_group_size: Histogram::with_opts(
                HistogramOpts::new(
                    "tally_commit_group_size",
                    "Requests merged into one durable write.",
                )
                .buckets(exponential_buckets(1.0, 2.0, 14)?),
            )?,
            commit_sync_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "tally_commit_sync_seconds",
                    "Duration of one batch write including its WAL sync.",
                )
                .buckets(exponential_buckets(0.000_05, 2.0, 16)?),
            )?,
            commit_queue_depth: IntGauge::new(
                "tally_commit_queue_depth",
                "Commit requests waiting for the writer thread.",
            )?,
            commit_failures: IntCounter::new(
                "tally_commit_failures_total",
                "Commit groups whose storage write failed.",
            )?,
            commit_rejections: IntCounter::new(
                "tally_commit_rejections_total",
                "Requests refused because the commit queue was full.",
            )?,
            resident_actors: IntGauge::new(
                "tally_wallet_actors_resident",
                "Wallet actors currently in memory.",
            )?,
            actor_evictions: IntCounter::new(
                "tally_wallet_actor_evictions_total",
                "Wallet actors that left memory because actors_resident_max was reached.",
            )?,
            operations: IntCounterVec::new(
                Opts::new(
                    "tally_wallet_operations_total",
                    "Wallet operations by kind and outcome.",
                ),
                &["kind", "outcome"],
            )?,
            idempotent_replays: IntCounter::new(
                "tally_idempotent_replays_total",
                "Requests answered from a stored idempotency record.",
            )?,
            insufficient_credits: IntCounter::new(
                "tally_insufficient_credits_total",
                "Debits and voids refused because the balance was too low.",
            )?,
            credits: CounterVec::new(
                Opts::new(
                    "tally_wallet_credits_total",
                    "Credits moved by applied changes, by kind (an observation, not the ledger).",
                ),
                &["kind"],
            )?,
            mailbox_depth: IntGauge::new(
                "tally_wallet_mailbox_depth",
                "Messages sent to wallet actors and not yet handled, over all actors.",
            )?,
            automatic_topups: IntCounterVec::new(
                Opts::new(
                    "tally_automatic_topups_total",
                    "Top-ups made by rules, by trigger (interval, threshold) and outcome (ok, failed).",
                ),
                &["trigger", "outcome"],
            )?,
            events: IntCounterVec::new(
                Opts::new(
                    "tally_wallet_events_total",
                    "Wallet events written to the outbox, by type.",
                ),
                &["type"],
            )?,
            timer_wakeups: IntCounter::new(
                "tally_timer_wakeups_total",
                "Wallets woken by the timer (expiries, notices, interval top-ups).",
            )?,
            holds_pending: IntGauge::new(
                "tally_holds_pending",
                "Holds pending now, over all wallets.",
            )?,
            held_credits: Gauge::new(
                "tally_held_credits",
                "Credits in pending holds, over all wallets (an observation, not the ledger).",
            )?,
            holds: IntCounterVec::new(
                Opts::new(
                    "tally_holds_total",
                    "Holds by outcome: placed, captured, released, expired.",
                ),
                &["outcome"],
            )?,
            late_captures: IntCounter::new(
                "tally_hold_late_captures_total",
                "Captures applied after their hold had expired.",
            )?,
        };
        registry.register(Box::new(metrics.commit_group_size.clone()))?;
        registry.register(Box::new(metrics.commit_sync_seconds.clone()))?;
        registry.register(Box::new(metrics.commit_queue_depth.clone()))?;
        registry.register(Box::new(metrics.commit_failures.clone()))?;
        registry.register(Box::new(metrics.commit_rejections.clone()))?;
        registry.register(Box::new(metrics.resident_actors.clone()))?;
        registry.register(Box::new(metrics.actor_evictions.clone()))?;
        registry.register(Box::new(metrics.operations.clone()))?;
        registry.register(Box::new(metrics.idempotent_replays.clone()))?;
        registry.register(Box::new(metrics.insufficient_credits.clone()))?;
        registry.register(Box::new(metrics.credits.clone()))?;
        registry.register(Box::new(metrics.mailbox_depth.clone()))?;
        registry.register(Box::new(metrics.automatic_topups.clone()))?;
        registry.register(Box::new(metrics.events.clone()))?;
        registry.register(Box::new(metrics.timer_wakeups.clone()))?;
        registry.register(Box::new(metrics.holds_pending.clone()))?;
        registry.register(Box::new(metrics.held_credits.clone()))?;
        registry.register(Box::new(metrics.holds.clone()))?;
        registry.register(Box::new(metrics.late_captures.clone()))?;
        Ok(metrics)
    }

    /// Counts a durable hold step: `credits` placed in (positive) or taken
    /// out of (negative) the pending holds.
    pub fn record_hold(&self, step: crate::holds::HoldStep, credits: Credits) {
        use crate::holds::HoldStep;
        let value = credits.to_decimal().to_f64().unwrap_or(0.0);
        let outcome = match step {
            HoldStep::Place => "placed",
            HoldStep::Capture => "captured",
            HoldStep::Release => "released",
            HoldStep::Expire => "expired",
            HoldStep::LateCapture => {
                self.late_captures.inc();
                return;
            }
        };
        self.holds.with_label_values(&[outcome]).inc();
        if step == HoldStep::Place {
            self.holds_pending.inc();
        } else {
            self.holds_pending.dec();
        }
        self.held_credits.add(value);
    }

    /// Sets the held credits gauge to what a start found on disk.
    pub fn record_held_start(&self, credits: Credits) {
        self.held_credits
            .set(credits.to_decimal().to_f64().unwrap_or(0.0));
    }

    /// Adds `credits` moved by a change of `kind`. Prometheus counters are
    /// floating point; this is an observation for dashboards, never a source
    /// of truth for money (the ledger is).
    pub fn record_credits(&self, kind: &str, credits: Credits) {
        let value = credits.to_decimal().abs().to_f64().unwrap_or(0.0);
        self.credits.with_label_values(&[kind]).inc_by(value);
    }
}
