//! The timer actor: drives everything that happens because time passed:
//! interval top-ups, lot and wallet expiries, expiry notices.
//!
//! The agenda is the `schedule` column family (due time ‖ wallet id), which
//! each wallet actor keeps current in the same write as its changes. The
//! timer only wakes wallets: every `poll` (or sooner, when the next due time
//! is sooner) it runs [`Engine::fire_due`], which sends a `Tick` to each due
//! wallet's actor; the actor decides what is due and moves its own schedule
//! entry. After a restart the first pass finds what came due during the
//! downtime; an interval rule fires once for it (see `rules::Rule::catch_up`).
//!
//! The actor itself is [`Periodic`], which the API's webhook deliverer uses
//! too: a job run every `poll`, never two at once, that may ask to run again
//! sooner.

use crate::engine::Engine;
use crate::error::Error;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A periodic job: returns how soon it wants to run again, if sooner than
/// the poll.
pub type Job = Arc<dyn Fn() -> BoxFuture<'static, Result<Option<Duration>, Error>> + Send + Sync>;

/// An actor that runs a job every `poll`, never two at once.
pub struct Periodic {
    name: &'static str,
    poll: Duration,
    job: Job,
    /// A run is in flight.
    running: bool,
}

impl Periodic {
    /// Starts `job` on the current arbiter; `name` labels its log lines.
    pub fn start_job(name: &'static str, poll: Duration, job: Job) -> Addr<Periodic> {
        Periodic {
            name,
            poll,
            job,
            running: false,
        }
        .start()
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let work = (self.job)();
        ctx.spawn(work.into_actor(self).map(|outcome, actor, ctx| {
            actor.running = false;
            match outcome {
                Ok(Some(again)) if again < actor.poll => {
                    ctx.run_later(again, |actor, ctx| actor.run(ctx));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(job = actor.name, %error, "periodic job failed; retrying at the next poll");
                }
            }
        }));
    }
}

impl Actor for Periodic {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.run(ctx);
        ctx.run_interval(self.poll, |actor, ctx| actor.run(ctx));
    }
}

/// Starts the timer actor for `engine`, reading the agenda at least every
/// `poll` and exactly at the next due time when that is sooner. With a
/// manual clock (tests) it is not started and passes are run by hand.
pub fn start_timer(engine: Arc<Engine>, poll: Duration) -> Addr<Periodic> {
    let job: Job = Arc::new(move || {
        let engine = Arc::clone(&engine);
        Box::pin(async move {
            let pass = engine.fire_due().await?;
            Ok(pass.next_due_ms.map(|next| {
                let wait = next.saturating_sub(engine.now_ms()).max(0);
                Duration::from_millis(u64::try_from(wait).unwrap_or(0))
            }))
        })
    });
    Periodic::start_job("timer", poll, job)
}
