//! Payment reconciliation: asking the provider about a charge and recording
//! the answer. A payment is written `processing`, with its charge
//! (`engine::payments::Unsettled`), before the provider is called; the
//! request then asks once, and whatever it could not settle (a timeout, a
//! 429, a crash between the provider's success and Tally's record) is asked
//! about again here: at start for every one, then on the poll when due. A
//! charge without the provider's id is asked again with the same
//! idempotency key (the same charge, never a second), one with an id is
//! read. Recording is `Engine::settle_charge`: once, whoever asks first.

use crate::providers::{Charge, ChargeRequest, Provider};
use actix::Addr;
use actix_web::web;
use engine::payments::{ChargeOutcome, Payment, PaymentStatus, Unsettled};
use engine::timer::{Job, Periodic};
use engine::Engine;
use std::sync::Arc;
use std::time::Duration;

/// Most charges one pass asks about.
const PASS_MAX: usize = 256;

/// How long after a payment began its charge may be asked again with the
/// same key: Stripe keeps an idempotency key 24 hours, after which the same
/// request would be a second charge. Later, only a read (once the
/// provider's id is known) or the provider's webhook settles it.
const RECHARGE_WINDOW_MS: i64 = 23 * 3600 * 1000;

/// Asks `provider` about `payment`'s charge and records the answer. An
/// unreachable provider postpones the question; the payment is returned as
/// it stands. `pause` (tests only) waits between a success and its record.
pub async fn ask(
    engine: &Engine,
    provider: &Arc<dyn Provider>,
    payment: &Payment,
    charge: &Unsettled,
    pause: Duration,
) -> Result<Payment, engine::Error> {
    if payment.provider_ref.is_empty()
        && engine.now_ms() - payment.created_at_ms > RECHARGE_WINDOW_MS
    {
        tracing::error!(payment = %payment.id, "a charge unsettled for 23 hours is no longer asked again (its key may have expired at the provider); the provider's webhook can still settle it");
        engine.postpone_charge(&payment.id).await?;
        return Ok(payment.clone());
    }
    let asker = Arc::clone(provider);
    let reference = payment.provider_ref.clone();
    let request = charge.clone();
    let payment_id = payment.id.to_string();
    // Providers speak blocking HTTP: off the async workers.
    let answer = web::block(move || {
        if reference.is_empty() {
            asker.charge(&ChargeRequest {
                token: &request.token,
                amount_minor: request.amount_minor,
                currency: &request.currency,
                idempotency_key: &request.charge_key,
                payment_id: &payment_id,
            })
        } else {
            asker.read(&reference)
        }
    })
    .await
    .unwrap_or_else(|_| Charge::Unavailable {
        reason: "the provider call did not finish".into(),
    });
    let outcome = match answer {
        Charge::Succeeded { reference } => {
            if !pause.is_zero() {
                tracing::warn!(payment = %payment.id, ?pause, "fault injection: pausing between the charge and its record");
                actix_web::rt::time::sleep(pause).await;
            }
            ChargeOutcome::Succeeded { reference }
        }
        Charge::Processing { reference } => ChargeOutcome::Processing { reference },
        Charge::Declined { reason } => ChargeOutcome::Declined { reason },
        Charge::Unavailable { reason } => {
            tracing::warn!(payment = %payment.id, %reason, "payment provider unavailable; the charge is asked about again later");
            engine.postpone_charge(&payment.id).await?;
            return Ok(payment.clone());
        }
    };
    engine.settle_charge(&payment.id, outcome).await
}

/// Asks about every unsettled charge of this provider due by `due_ms` (at
/// most `PASS_MAX`, and none once `budget` has passed); returns how many
/// were asked about. One failure does not stop the rest. A charge made
/// through another provider (the deployment switched) is left to that
/// provider's webhooks: never asked of this one.
pub async fn pass(
    engine: &Engine,
    provider: &Arc<dyn Provider>,
    due_ms: i64,
    budget: Option<Duration>,
) -> Result<usize, engine::Error> {
    let started = std::time::Instant::now();
    let due = engine.unsettled_payments(due_ms, PASS_MAX)?;
    let mut count = 0;
    for (payment, charge) in due {
        if payment.provider != provider.name() {
            continue;
        }
        if budget.is_some_and(|budget| started.elapsed() > budget) {
            break;
        }
        count += 1;
        match ask(engine, provider, &payment, &charge, Duration::ZERO).await {
            Ok(settled) if settled.status != PaymentStatus::Processing => {
                tracing::info!(payment = %settled.id, status = settled.status.as_str(), "unsettled payment reconciled");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(payment = %payment.id, %error, "reconciling a payment failed")
            }
        }
    }
    Ok(count)
}

/// Starts the reconciler: a pass over the charges due every `poll`.
pub fn start_reconciler(
    engine: Arc<Engine>,
    provider: Arc<dyn Provider>,
    poll: Duration,
) -> Addr<Periodic> {
    let job: Job = Arc::new(move || {
        let engine = Arc::clone(&engine);
        let provider = Arc::clone(&provider);
        Box::pin(async move {
            let now_ms = engine.now_ms();
            let asked = pass(&engine, &provider, now_ms, None).await?;
            Ok((asked == PASS_MAX).then_some(Duration::ZERO))
        })
    });
    Periodic::start_job("payments", poll, job)
}
