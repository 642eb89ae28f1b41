//! `TimerActor`: drives everything that happens because time passed:
//! interval top-ups, lot and wallet expiries, expiry notices.
//!
//! The agenda is the `schedule` column family (due time ‖ wallet id), which
//! each wallet actor keeps current in the same write as its changes. The
//! timer only wakes wallets: every few hundred milliseconds (or sooner, when
//! the next due time is sooner) it runs [`Engine::fire_due`], which sends a
//! `Tick` to each due wallet's actor; the actor decides what is due and
//! moves its own schedule entry. After a restart the first pass finds what
//! came due during the downtime; an interval rule fires once for it (see
//! `rules::Rule::catch_up`).

use crate::engine::Engine;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// The timer actor. Start it with [`TimerActor::start_for`] on the system
/// arbiter; with a manual clock (tests) it is not started and passes are
/// run by hand.
pub struct TimerActor {
    engine: Arc<Engine>,
    poll: Duration,
    /// A pass is in flight; passes never overlap.
    running: bool,
}

impl TimerActor {
    /// Starts the timer for `engine`, checking the agenda at least every
    /// `poll`.
    pub fn start_for(engine: Arc<Engine>, poll: Duration) -> Addr<TimerActor> {
        TimerActor {
            engine,
            poll,
            running: false,
        }
        .start()
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let engine = Arc::clone(&self.engine);
        let work = async move { engine.fire_due().await };
        ctx.spawn(work.into_actor(self).map(|outcome, actor, ctx| {
            actor.running = false;
            match outcome {
                Ok(pass) => {
                    if pass.woken > 0 {
                        tracing::debug!(woken = pass.woken, "timer pass");
                    }
                    // Wake exactly at the next due time when it is sooner
                    // than the next poll.
                    if let Some(next) = pass.next_due_ms {
                        let wait = next.saturating_sub(actor.engine.now_ms()).max(0);
                        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
                        if wait < actor.poll {
                            ctx.run_later(wait, |actor, ctx| actor.pass(ctx));
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "timer pass failed; retrying at the next poll")
                }
            }
        }));
    }
}

impl Actor for TimerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.pass(ctx);
        ctx.run_interval(self.poll, |actor, ctx| actor.pass(ctx));
    }
}
