//! Webhook delivery: posts due events from the engine's durable outbox to
//! every endpoint and records each attempt durably.
//!
//! Shape: one *lane* per endpoint, a task that posts that endpoint's events
//! one at a time, in the order they were handed to it (event id order
//! within a pass), so an endpoint's event N+1 is never posted before event
//! N was delivered to it or given up for that attempt. Lanes run side by
//! side, at most `webhooks.concurrency` posts at once, so a slow endpoint
//! delays only its own lane. A pass takes the due events (at most
//! [`PASS_EVENTS_MAX`], never one already in flight) and hands each to the
//! lanes of the endpoints that have not taken it yet; once every lane has
//! answered for an event, the recorder writes the attempt (delivered, or
//! the next attempt after exponential backoff, or `failed` after
//! `max_attempts`), many events per durable write.
//!
//! A post that times out or cannot connect means the endpoint hangs or is
//! down: the events already queued behind it in its lane are given up for
//! this attempt at once, without being posted, instead of each waiting out
//! the timeout. So a hung endpoint costs one timeout per attempt, not one
//! per event. An endpoint that answers with an error status answered
//! quickly; its lane goes on. And a lane holds at most [`LANE_QUEUE_MAX`]
//! events: beyond that (the endpoint is slower than events arrive) its part
//! of an attempt is given up at once, so the events in flight, which are
//! bounded, are never all stuck behind one endpoint. A given-up part counts
//! as a failed attempt for that endpoint and is retried after the backoff,
//! like any other failure.
//!
//! The deliverer actor (a `Periodic` job) dispatches a pass every
//! `webhooks.poll_ms` and does not wait for it; with the manual clock,
//! `POST /v1/admin/clock` runs [`Deliverer::pass`], which waits until every
//! event it attempted is recorded. Delivery is at least once: a crash
//! between a 2xx and its record repeats the post, so receivers dedupe on
//! the event id.

use crate::settings::Webhooks;
use crate::webhooks::{signature, EventView};
use actix::Addr;
use engine::timer::{Job, Periodic};
use engine::{Delivery, DeliveryStatus, Engine, Event};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Events taken from the outbox per pass.
pub const PASS_EVENTS_MAX: usize = 256;

/// Events waiting in one lane at most. Above a pass, so that a manual-clock
/// pass (which hands out at most one pass and waits for it) never hits it.
const LANE_QUEUE_MAX: usize = 2 * PASS_EVENTS_MAX;

/// Events in flight (handed to lanes, not yet recorded) at most; bounds the
/// deliverer's memory. Several lanes can be full before the others wait.
const IN_FLIGHT_MAX: usize = 8 * LANE_QUEUE_MAX;

/// Finished attempts recorded in one durable write at most.
const RECORD_BATCH_MAX: usize = 256;

/// One attempt of one event: handed to the lanes of the endpoints that have
/// not taken it, and recorded once all of them answered.
struct Flight {
    event: Event,
    /// The JSON body, made once for every endpoint.
    body: Vec<u8>,
    /// Lanes that have not answered yet.
    remaining: AtomicUsize,
    outcome: Mutex<Outcome>,
    /// Told once the attempt is recorded (a manual-clock pass waits on it).
    recorded: Mutex<Option<oneshot::Sender<()>>>,
}

/// What the lanes answered for one flight.
#[derive(Default)]
struct Outcome {
    delivered_to: Vec<String>,
    errors: Vec<String>,
}

/// Why an event was not delivered to an endpoint in this attempt.
#[derive(Debug)]
enum PostError {
    /// The endpoint answered, with an error status.
    Status(u16),
    /// No answer: timeout, refused connection, no thread to post from. The
    /// endpoint is taken to hang or be down.
    Unreachable(String),
    /// Given up without a post (why).
    NotPosted(String),
}

impl PostError {
    fn describe(&self) -> String {
        match self {
            PostError::Status(code) => format!("HTTP {code}"),
            PostError::Unreachable(reason) => reason.clone(),
            PostError::NotPosted(reason) => format!("not posted: {reason}"),
        }
    }
}

/// One endpoint's lane, as the dispatcher sees it.
struct Lane {
    endpoint: String,
    sender: mpsc::UnboundedSender<Arc<Flight>>,
    /// Flights handed to the lane and not yet taken by its task.
    queued: Arc<AtomicUsize>,
}

impl Lane {
    /// Hands `flight` to the lane, or answers for the lane at once (given
    /// up for this attempt) when [`LANE_QUEUE_MAX`] flights already wait or
    /// the lane has stopped.
    fn offer(&self, flight: &Arc<Flight>, finished: &mpsc::UnboundedSender<Arc<Flight>>) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= LANE_QUEUE_MAX {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            let full = format!("{LANE_QUEUE_MAX} events already wait for this endpoint");
            answer(
                flight,
                &self.endpoint,
                Err(PostError::NotPosted(full)),
                finished,
            );
            return;
        }
        if let Err(mpsc::error::SendError(flight)) = self.sender.send(Arc::clone(flight)) {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            answer(&flight, &self.endpoint, Err(stopped()), finished);
        }
    }
}

/// What lanes and the recorder share.
struct Shared {
    engine: Arc<Engine>,
    settings: Webhooks,
    agent: ureq::Agent,
    /// `webhooks.concurrency` posts at once, across all lanes.
    posts: Semaphore,
    /// Ids of events in flight; a pass never takes them again.
    in_flight: Mutex<HashSet<u64>>,
}

/// Posts due events and records the attempts.
pub struct Deliverer {
    shared: Arc<Shared>,
    /// Each endpoint's lane, in `webhooks.endpoints` order.
    lanes: Vec<Lane>,
    /// Flights every lane has answered for, to be recorded.
    finished: mpsc::UnboundedSender<Arc<Flight>>,
    /// Passes never overlap (the actor and a manual clock step may both ask).
    busy: tokio::sync::Mutex<()>,
}

impl Deliverer {
    /// A deliverer for `engine`'s outbox; starts its lane and recorder tasks
    /// on the current actix runtime, where they live as long as it does.
    /// Must be called inside a running actix `System`.
    pub fn start(engine: Arc<Engine>, settings: Webhooks) -> Arc<Deliverer> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build();
        let shared = Arc::new(Shared {
            engine,
            posts: Semaphore::new(settings.concurrency.max(1)),
            settings,
            agent,
            in_flight: Mutex::new(HashSet::new()),
        });
        let (finished, finished_queue) = mpsc::unbounded_channel();
        actix_web::rt::spawn(record(Arc::clone(&shared), finished_queue));
        let lanes = shared
            .settings
            .endpoints
            .iter()
            .map(|endpoint| {
                let (sender, queue) = mpsc::unbounded_channel();
                let queued = Arc::new(AtomicUsize::new(0));
                actix_web::rt::spawn(run_lane(
                    Arc::clone(&shared),
                    endpoint.clone(),
                    (queue, Arc::clone(&queued)),
                    finished.clone(),
                ));
                Lane {
                    endpoint: endpoint.clone(),
                    sender,
                    queued,
                }
            })
            .collect();
        Arc::new(Deliverer {
            shared,
            lanes,
            finished,
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// Attempts every event due now, each once, and waits until every
    /// attempt is recorded; returns the attempts made. This is the manual
    /// clock's pass: when it returns, what came due has happened.
    pub async fn pass(&self) -> Result<usize, engine::Error> {
        let _busy = self.busy.lock().await;
        let mut attempted = HashSet::new();
        loop {
            let recorded = self.dispatch(&attempted).await?;
            let count = recorded.len();
            for (id, done) in recorded {
                attempted.insert(id);
                // A closed channel means the recorder stopped: nothing to wait for.
                let _ = done.await;
            }
            if count < PASS_EVENTS_MAX {
                return Ok(attempted.len());
            }
        }
    }

    /// Hands the events due now to the lanes without waiting for them; the
    /// deliverer actor's pass. Returns how many were handed out.
    pub async fn dispatch_due(&self) -> Result<usize, engine::Error> {
        let _busy = self.busy.lock().await;
        Ok(self.dispatch(&HashSet::new()).await?.len())
    }

    /// Takes due events that are neither in flight nor in `attempted` and
    /// hands each to the lanes that still owe it a post. Returns each
    /// event's id and the signal of its recorded attempt.
    async fn dispatch(
        &self,
        attempted: &HashSet<u64>,
    ) -> Result<Vec<(u64, oneshot::Receiver<()>)>, engine::Error> {
        let skip: HashSet<u64> = {
            let in_flight = lock(&self.shared.in_flight);
            in_flight.union(attempted).copied().collect()
        };
        let room = IN_FLIGHT_MAX.saturating_sub(lock(&self.shared.in_flight).len());
        let limit = room.min(PASS_EVENTS_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let engine = Arc::clone(&self.shared.engine);
        let mut due =
            actix_web::web::block(move || engine.due_events(limit, &|id: u64| skip.contains(&id)))
                .await
                .map_err(|_| engine::Error::Overloaded("blocking pool"))??;
        // Lanes post in the order they are handed events: id order.
        due.sort_by_key(|event| event.id);
        let mut recorded = Vec::with_capacity(due.len());
        for event in due {
            let (sender, receiver) = oneshot::channel();
            recorded.push((event.id, receiver));
            lock(&self.shared.in_flight).insert(event.id);
            let owed: Vec<&Lane> = self
                .lanes
                .iter()
                .filter(|lane| !event.delivery.delivered_to.contains(&lane.endpoint))
                .collect();
            let flight = Arc::new(Flight {
                body: serde_json::to_vec(&EventView::new(&event, false)).unwrap_or_default(),
                event,
                remaining: AtomicUsize::new(owed.len()),
                outcome: Mutex::new(Outcome::default()),
                recorded: Mutex::new(Some(sender)),
            });
            if owed.is_empty() {
                // Every endpoint has it (a crash came between its last 2xx
                // and the record): record it as delivered.
                let _ = self.finished.send(flight);
                continue;
            }
            for lane in owed {
                lane.offer(&flight, &self.finished);
            }
        }
        Ok(recorded)
    }
}

fn stopped() -> PostError {
    PostError::NotPosted("the deliverer is stopping".into())
}

/// A lock that a panicking holder did not leave unusable: every critical
/// section here is a single insert, remove or push.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One endpoint's lane task: posts its flights one at a time, in order.
async fn run_lane(
    shared: Arc<Shared>,
    endpoint: String,
    (mut queue, queued): (mpsc::UnboundedReceiver<Arc<Flight>>, Arc<AtomicUsize>),
    finished: mpsc::UnboundedSender<Arc<Flight>>,
) {
    while let Some(flight) = queue.recv().await {
        queued.fetch_sub(1, Ordering::AcqRel);
        let result = post(&shared, &endpoint, &flight).await;
        let unreachable = match &result {
            Err(PostError::Unreachable(reason)) => Some(reason.clone()),
            _ => None,
        };
        answer(&flight, &endpoint, result, &finished);
        if let Some(reason) = unreachable {
            // Everything that queued up while this post hung would wait out
            // the timeout too: give it up for this attempt instead.
            while let Ok(waiting) = queue.try_recv() {
                queued.fetch_sub(1, Ordering::AcqRel);
                let given_up =
                    PostError::NotPosted(format!("the post before it failed ({reason})"));
                answer(&waiting, &endpoint, Err(given_up), &finished);
            }
        }
    }
}

/// Posts `flight` to `endpoint`, signed at the time of the post.
async fn post(shared: &Shared, endpoint: &str, flight: &Flight) -> Result<(), PostError> {
    let Ok(_permit) = shared.posts.acquire().await else {
        return Err(stopped());
    };
    let now_ms = shared.engine.now_ms();
    let header = signature(
        shared.settings.secret.as_bytes(),
        now_ms / 1000,
        &flight.body,
    );
    let event = &flight.event;
    let request = shared
        .agent
        .post(endpoint)
        .set("Content-Type", "application/json")
        .set("Tally-Signature", &header)
        .set("Tally-Event-Id", &format!("evt_{:016}", event.id))
        .set("Tally-Event-Type", event.kind.as_str());
    let body = flight.body.clone();
    let sent = actix_web::web::block(move || match request.send_bytes(&body) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, _)) => Err(PostError::Status(code)),
        Err(error) => Err(PostError::Unreachable(error.to_string())),
    })
    .await;
    match sent {
        Ok(result) => result,
        Err(_) => Err(PostError::Unreachable("no thread to post from".into())),
    }
}

/// Notes `endpoint`'s answer for `flight`; the last answer sends the
/// flight to the recorder.
fn answer(
    flight: &Arc<Flight>,
    endpoint: &str,
    result: Result<(), PostError>,
    finished: &mpsc::UnboundedSender<Arc<Flight>>,
) {
    {
        let mut outcome = lock(&flight.outcome);
        match result {
            Ok(()) => outcome.delivered_to.push(endpoint.to_owned()),
            Err(error) => outcome
                .errors
                .push(format!("{endpoint}: {}", error.describe())),
        }
    }
    if flight.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        // A closed recorder means the deliverer is gone; the event stays
        // due in the outbox and is posted again after a restart.
        let _ = finished.send(Arc::clone(flight));
    }
}

/// The recorder: writes finished attempts, many per durable write, then
/// lets their events be taken again.
async fn record(shared: Arc<Shared>, mut finished: mpsc::UnboundedReceiver<Arc<Flight>>) {
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH_MAX {
            match finished.try_recv() {
                Ok(flight) => batch.push(flight),
                Err(_) => break,
            }
        }
        let now_ms = shared.engine.now_ms();
        let attempts = batch
            .iter()
            .map(|flight| {
                let delivery = next_delivery(&shared.settings, flight, now_ms);
                (&flight.event, delivery)
            })
            .collect();
        if let Err(error) = shared.engine.record_deliveries(attempts).await {
            // The events keep their outbox pointers, so they are due again
            // and posted again: at least once, never lost.
            tracing::warn!(%error, events = batch.len(), "recording webhook attempts failed; they will be attempted again");
        }
        for flight in batch {
            lock(&shared.in_flight).remove(&flight.event.id);
            if let Some(recorded) = lock(&flight.recorded).take() {
                let _ = recorded.send(());
            }
        }
    }
}

/// The event's delivery state after this attempt, finished at `now_ms`.
fn next_delivery(settings: &Webhooks, flight: &Flight, now_ms: i64) -> Delivery {
    let event = &flight.event;
    let outcome = lock(&flight.outcome);
    let mut delivery = event.delivery.clone();
    delivery.attempts += 1;
    delivery
        .delivered_to
        .extend(outcome.delivered_to.iter().cloned());
    if outcome.errors.is_empty() {
        delivery.status = DeliveryStatus::Delivered;
        delivery.delivered_at_ms = Some(now_ms);
        delivery.last_error = None;
        return delivery;
    }
    delivery.last_error = Some(outcome.errors.join("; "));
    if delivery.attempts >= settings.max_attempts {
        delivery.status = DeliveryStatus::Failed;
    } else {
        delivery.next_attempt_ms = now_ms.saturating_add(backoff_ms(settings, delivery.attempts));
    }
    tracing::info!(event = event.id, attempts = delivery.attempts, error = ?delivery.last_error, "webhook delivery failed");
    delivery
}

/// The wait after the `attempts`th failure: backoff_ms doubled each time,
/// at most backoff_max_ms.
fn backoff_ms(settings: &Webhooks, attempts: u32) -> i64 {
    let doubled = settings
        .backoff_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    i64::try_from(doubled.min(settings.backoff_max_ms)).unwrap_or(i64::MAX)
}

/// Starts the deliverer actor: [`Deliverer::dispatch_due`] every
/// `webhooks.poll_ms`, and again at once after a full pass (more may be
/// due).
pub fn start_deliverer(deliverer: Arc<Deliverer>, poll: Duration) -> Addr<Periodic> {
    let job: Job = Arc::new(move || {
        let deliverer = Arc::clone(&deliverer);
        Box::pin(async move {
            let dispatched = deliverer.dispatch_due().await?;
            Ok((dispatched == PASS_EVENTS_MAX).then_some(Duration::ZERO))
        })
    });
    Periodic::start_job("webhooks", poll, job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Currency, EventKind, WalletId};

    fn settings() -> Webhooks {
        Webhooks {
            endpoints: vec!["http://a.test/".into(), "http://b.test/".into()],
            secret: "0123456789abcdef".into(),
            max_attempts: 3,
            backoff_ms: 1_000,
            backoff_max_ms: 3_000,
            timeout_ms: 100,
            poll_ms: 100,
            concurrency: 2,
        }
    }

    fn flight(id: u64, lanes: usize) -> (Arc<Flight>, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        let event = Event {
            id,
            kind: EventKind::WalletCreated,
            wallet_id: WalletId::generate(0),
            created_at_ms: 0,
            currency: Currency::parse("USD").expect("known"),
            rate_amount: engine::money::Fixed::new(rust_decimal::Decimal::ONE, 9).expect("rate"),
            wallet: None,
            entry: None,
            details: Vec::new(),
            delivery: Delivery {
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_ms: 0,
                last_error: None,
                delivered_to: Vec::new(),
                delivered_at_ms: None,
            },
        };
        let flight = Arc::new(Flight {
            event,
            body: Vec::new(),
            remaining: AtomicUsize::new(lanes),
            outcome: Mutex::new(Outcome::default()),
            recorded: Mutex::new(Some(sender)),
        });
        (flight, receiver)
    }

    #[test]
    fn a_full_lane_gives_its_part_up_at_once_and_the_flight_finishes() {
        let (sender, mut queue) = mpsc::unbounded_channel();
        let (finished, mut done) = mpsc::unbounded_channel();
        let lane = Lane {
            endpoint: "http://slow.test/".into(),
            sender,
            queued: Arc::new(AtomicUsize::new(0)),
        };
        for id in 0..LANE_QUEUE_MAX as u64 {
            lane.offer(&flight(id, 1).0, &finished);
        }
        assert!(
            done.try_recv().is_err(),
            "nothing finished while there is room"
        );
        let (extra, _) = flight(9_999, 1);
        lane.offer(&extra, &finished);
        let given_up = done.try_recv().expect("answered at once");
        assert_eq!(given_up.event.id, 9_999);
        let errors = lock(&given_up.outcome).errors.clone();
        assert_eq!(
            errors,
            vec![format!(
                "http://slow.test/: not posted: {LANE_QUEUE_MAX} events already wait for this endpoint"
            )]
        );
        // The queued ones keep their order.
        assert_eq!(queue.try_recv().expect("first").event.id, 0);
    }

    #[test]
    fn an_attempt_delivers_backs_off_or_fails() {
        let settings = settings();
        let now = 10_000;
        // Both endpoints took it.
        let (both, _) = flight(1, 2);
        let (finished, _done) = mpsc::unbounded_channel();
        answer(&both, "http://a.test/", Ok(()), &finished);
        answer(&both, "http://b.test/", Ok(()), &finished);
        let delivery = next_delivery(&settings, &both, now);
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert_eq!(delivery.attempts, 1);
        assert_eq!(delivery.delivered_at_ms, Some(now));
        assert_eq!(delivery.delivered_to.len(), 2);

        // One failed: pending, retried after the backoff, which doubles up
        // to its maximum; the endpoint that took it is remembered.
        let (half, _) = flight(2, 2);
        answer(&half, "http://a.test/", Ok(()), &finished);
        answer(
            &half,
            "http://b.test/",
            Err(PostError::Status(503)),
            &finished,
        );
        let delivery = next_delivery(&settings, &half, now);
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.next_attempt_ms, now + 1_000);
        assert_eq!(delivery.delivered_to, vec!["http://a.test/".to_owned()]);
        assert_eq!(
            delivery.last_error.as_deref(),
            Some("http://b.test/: HTTP 503")
        );
        assert_eq!(backoff_ms(&settings, 2), 2_000);
        assert_eq!(backoff_ms(&settings, 3), 3_000);
        assert_eq!(backoff_ms(&settings, 40), 3_000);

        // The last attempt fails it.
        let mut event = flight(3, 0).0.event.clone();
        event.delivery.attempts = settings.max_attempts - 1;
        let last = Flight {
            event,
            body: Vec::new(),
            remaining: AtomicUsize::new(0),
            outcome: Mutex::new(Outcome {
                delivered_to: Vec::new(),
                errors: vec!["http://b.test/: timed out".into()],
            }),
            recorded: Mutex::new(None),
        };
        let delivery = next_delivery(&settings, &last, now);
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert_eq!(delivery.attempts, 3);
    }
}
