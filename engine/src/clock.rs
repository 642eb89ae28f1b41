//! Time as an injected dependency: `Clock` with the system clock for
//! production and `ManualClock` for tests, so no test sleeps to wait for time.
//!
//! The engine assigns every business timestamp (`created_at`); clients never do.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `now_ms`.
    pub fn new(now_ms: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(now_ms)))
    }

    /// Moves the clock forward by `delta_ms`.
    pub fn advance(&self, delta_ms: Millis) {
        assert!(delta_ms >= 0, "a clock never runs backwards");
        self.0.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

impl ManualClock {
    /// Moves the clock to `now_ms`; false (and no change) if that is earlier
    /// than the time it shows.
    pub fn set(&self, now_ms: Millis) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (now_ms >= current).then_some(now_ms)
            })
            .is_ok()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
