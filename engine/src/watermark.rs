//! Event ids and their visible watermark.
//!
//! Event ids are handed out in order when an event is made, but the events
//! reach disk in whatever order their commits land: a wallet actor running a
//! long batch holds low ids while another shard's later ids are already
//! written. A reader that paged by "what is on disk now" could step past an
//! id that becomes visible a moment later and never see it. So readers page
//! only below the *visible watermark*: the lowest id not yet settled. Every
//! id below it is either on disk or will never be (its commit failed, was
//! refused or was never submitted).
//!
//! Each id handed out is owned by a [`Reservation`] that settles it exactly
//! once: [`Reservation::commit`] after the write that holds the event
//! succeeded, or its `Drop` when the event was abandoned (a failed or
//! aborted commit, a rolled-back turn, a request whose queue was full). Since
//! dropping settles, no error path can pin the watermark forever.
//!
//! The watermark also remembers the highest id ever committed, which the
//! events retention filter never removes: the next start numbers events
//! after the highest one on disk, so keeping it keeps ids from being reused.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Hands out event ids and tracks which of them are settled.
#[derive(Debug)]
pub struct Watermark {
    state: Mutex<State>,
    /// Lowest unsettled id (a copy of `State::visible()`, readable without
    /// the lock).
    visible: AtomicU64,
    /// Highest id whose write succeeded (shared with the retention filter,
    /// which exists before the watermark does; see [`Watermark::new`]).
    newest_committed: Arc<AtomicU64>,
}

#[derive(Debug)]
struct State {
    /// The id the next reservation gets.
    next: u64,
    /// Ids handed out and not yet settled.
    unsettled: BTreeSet<u64>,
}

impl State {
    fn visible(&self) -> u64 {
        self.unsettled.first().copied().unwrap_or(self.next)
    }
}

impl Watermark {
    /// A watermark whose next id is `next_id` (every lower id is settled:
    /// on disk, or never to be). `newest_committed` is raised to
    /// `next_id - 1`, the highest id stored so far.
    pub fn new(next_id: u64, newest_committed: Arc<AtomicU64>) -> Arc<Watermark> {
        newest_committed.fetch_max(next_id.saturating_sub(1), Ordering::AcqRel);
        Arc::new(Watermark {
            state: Mutex::new(State {
                next: next_id,
                unsettled: BTreeSet::new(),
            }),
            visible: AtomicU64::new(next_id),
            newest_committed,
        })
    }

    /// Hands out the next id.
    pub fn reserve(self: &Arc<Watermark>) -> Reservation {
        // The state stays consistent even if a holder panicked (every
        // mutation is a single step), so a poisoned lock is still usable.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = state.next;
        state.next += 1;
        state.unsettled.insert(id);
        Reservation {
            id,
            watermark: Arc::clone(self),
            committed: false,
        }
    }

    /// Every id below this is settled: readers may page up to it, and no
    /// event below it will appear later.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// The highest id whose write succeeded (or that was on disk at start).
    pub fn newest_committed(&self) -> u64 {
        self.newest_committed.load(Ordering::Acquire)
    }

    fn settle(&self, id: u64, committed: bool) {
        if committed {
            self.newest_committed.fetch_max(id, Ordering::AcqRel);
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.unsettled.remove(&id);
        self.visible.store(state.visible(), Ordering::Release);
    }
}

/// One event id handed out and not yet settled. Commit it once the write
/// holding its event succeeded; dropping it settles it as abandoned.
#[derive(Debug)]
#[must_use = "an id is settled when its reservation is committed or dropped"]
pub struct Reservation {
    id: u64,
    watermark: Arc<Watermark>,
    committed: bool,
}

impl Reservation {
    /// The reserved id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The event's write succeeded: it is on disk and readable now.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.watermark.settle(self.id, self.committed);
    }
}

/// Settles `reservations` by the outcome of the write that held their
/// events.
pub fn settle<E>(reservations: Vec<Reservation>, outcome: &Result<(), E>) {
    if outcome.is_ok() {
        reservations.into_iter().for_each(Reservation::commit);
    }
    // Otherwise dropping them releases their ids as abandoned.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watermark(next: u64) -> Arc<Watermark> {
        Watermark::new(next, Arc::new(AtomicU64::new(0)))
    }

    #[test]
    fn the_watermark_stops_at_the_lowest_unsettled_id() {
        let ids = watermark(10);
        assert_eq!((ids.visible(), ids.newest_committed()), (10, 9));
        let a = ids.reserve();
        let b = ids.reserve();
        let c = ids.reserve();
        assert_eq!((a.id(), b.id(), c.id()), (10, 11, 12));
        assert_eq!(ids.visible(), 10);
        // 12 commits first: 10 and 11 may still appear, so readers stop at 10.
        c.commit();
        assert_eq!(ids.visible(), 10);
        assert_eq!(ids.newest_committed(), 12);
        b.commit();
        assert_eq!(ids.visible(), 10);
        a.commit();
        assert_eq!(ids.visible(), 13);
        assert_eq!(ids.newest_committed(), 12);
    }

    #[test]
    fn an_abandoned_id_leaves_a_gap_that_does_not_block_the_watermark() {
        let ids = watermark(1);
        let failed = ids.reserve();
        let written = ids.reserve();
        written.commit();
        assert_eq!(ids.visible(), 1);
        // A failed commit drops its reservations.
        settle(vec![failed], &Err::<(), _>("write failed"));
        assert_eq!(ids.visible(), 3);
        // The gap is not a committed id.
        assert_eq!(ids.newest_committed(), 2);
        let dropped = ids.reserve();
        drop(dropped);
        assert_eq!(ids.visible(), 4);
        assert_eq!(ids.newest_committed(), 2);
        settle(vec![ids.reserve(), ids.reserve()], &Ok::<(), ()>(()));
        assert_eq!((ids.visible(), ids.newest_committed()), (6, 5));
    }

    #[test]
    fn newest_committed_starts_at_the_highest_stored_id_and_never_falls() {
        let shared = Arc::new(AtomicU64::new(0));
        let ids = Watermark::new(1, Arc::clone(&shared));
        assert_eq!(shared.load(Ordering::Acquire), 0);
        let ids_later = Watermark::new(8, Arc::clone(&shared));
        assert_eq!(ids_later.newest_committed(), 7);
        ids.reserve().commit();
        assert_eq!(shared.load(Ordering::Acquire), 7);
    }

    #[test]
    fn under_concurrent_reservations_nothing_below_the_watermark_is_unsettled() {
        let ids = watermark(1);
        let settled = Arc::new(Mutex::new(BTreeSet::new()));
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let ids = Arc::clone(&ids);
                let settled = Arc::clone(&settled);
                std::thread::spawn(move || {
                    for round in 0..2_000u64 {
                        let held: Vec<Reservation> =
                            (0..(round % 5 + 1)).map(|_| ids.reserve()).collect();
                        let seen = ids.visible();
                        let mut settled_now = settled.lock().expect("set");
                        for reservation in &held {
                            assert!(
                                reservation.id() >= seen,
                                "an unsettled id is below the watermark"
                            );
                            settled_now.insert(reservation.id());
                        }
                        drop(settled_now);
                        let outcome = if (round + thread) % 3 == 0 {
                            Err(())
                        } else {
                            Ok(())
                        };
                        settle(held, &outcome);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let settled = settled.lock().expect("set");
        assert_eq!(ids.visible(), *settled.last().expect("ids") + 1);
        assert_eq!(settled.len() as u64, ids.visible() - 1);
    }
}
