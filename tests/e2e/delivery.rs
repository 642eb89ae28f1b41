//! Webhook delivery with one endpoint that hangs (it holds every request
//! longer than Tally's timeout) beside a healthy one: the healthy endpoint
//! gets every event, in order, without waiting on the other; the hung one
//! costs one timeout per attempt, not one per event, and gets its events
//! again per backoff until it recovers. The first test drives time with the
//! manual clock; the second runs the real deliverer on the system clock.

use crate::common::{data_dir, Server};
use crate::receiver::Receiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec-test-0123456789";

/// Debits that each record a `wallet_transaction.created` event.
const DEBITS: usize = 120;

fn settings<'a>(endpoints: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("TALLY_WEBHOOKS__ENDPOINTS", endpoints),
        ("TALLY_WEBHOOKS__SECRET", SECRET),
        ("TALLY_WEBHOOKS__TIMEOUT_MS", "300"),
    ];
    env.extend_from_slice(extra);
    env
}

fn endpoints(receivers: &[&Receiver]) -> String {
    json!(receivers
        .iter()
        .map(|receiver| receiver.url.clone())
        .collect::<Vec<_>>())
    .to_string()
}

/// A wallet with `count` debits: `count + 2` events (the wallet, its
/// opening transaction, the debits).
fn wallet_with_debits(server: &Server, count: usize) -> String {
    let wallet = server.wallet("1000", "0");
    let items: Vec<Value> = (0..count)
        .map(|_| json!({"wallet_id": wallet, "credits": "0.01"}))
        .collect();
    let reply = server.send("POST", "/v1/debits/batch", &json!({ "items": items }));
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    wallet
}

/// Every event, oldest first.
fn events(server: &Server) -> Vec<Value> {
    let reply = server.call("GET", "/v1/events?limit=1000", None, None);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().expect("data").clone()
}

fn event_number(event: &Value) -> u64 {
    event["id"]
        .as_str()
        .and_then(|id| id.strip_prefix("evt_"))
        .and_then(|digits| digits.parse().ok())
        .expect("evt_ id")
}

/// Checks every event's delivery state.
fn assert_deliveries(server: &Server, status: &str, attempts: u64, error_names: Option<&str>) {
    for event in events(server) {
        let delivery = &event["delivery"];
        assert_eq!(delivery["status"], status, "{event}");
        assert_eq!(delivery["attempts"], attempts, "{event}");
        if let Some(url) = error_names {
            let error = delivery["last_error"].as_str().unwrap_or("");
            assert!(error.contains(url), "{error}");
        }
    }
}

#[test]
fn a_hung_endpoint_costs_one_timeout_per_attempt_and_never_holds_back_a_healthy_one() {
    let hung = Receiver::stalling(Duration::from_secs(3));
    let healthy = Receiver::start(0);
    let dir = data_dir();
    let urls = endpoints(&[&hung, &healthy]);
    let server = Server::start_manual(
        dir.path(),
        &settings(&urls, &[("TALLY_WEBHOOKS__BACKOFF_MS", "60000")]),
    );
    wallet_with_debits(&server, DEBITS);
    let ids: Vec<u64> = events(&server).iter().map(event_number).collect();
    assert_eq!(ids.len(), DEBITS + 2);

    // One step attempts every due event. The healthy endpoint gets all of
    // them, in id order. The hung one is posted the first event only: once
    // a post to it has timed out, the events queued behind it are given up
    // for this attempt without waiting a timeout each.
    let step = server.advance(0);
    assert_eq!(step.body["delivery_attempts"], ids.len(), "{:?}", step.body);
    assert_eq!(healthy.event_ids(), ids);
    assert_eq!(hung.event_ids(), vec![ids[0]]);
    assert_deliveries(&server, "pending", 1, Some(&hung.url));
    let first = &events(&server)[0]["delivery"];
    // The clock stands at common::EPOCH, 2040-01-01T00:00:00Z.
    assert_eq!(first["next_attempt_at"], "2040-01-01T00:01:00Z", "{first}");

    // Backoff: nothing is due 59 s later; at 60 s every event is attempted
    // again, for the hung endpoint only (the healthy one already has it).
    assert_eq!(server.advance(59).body["delivery_attempts"], 0);
    assert_eq!(server.advance(1).body["delivery_attempts"], ids.len());
    assert_eq!(healthy.event_ids(), ids);
    assert_eq!(hung.event_ids(), vec![ids[0], ids[0]]);
    assert_deliveries(&server, "pending", 2, Some(&hung.url));

    // It recovers: the next attempt (the wait doubled to 120 s) delivers
    // everything to it, in order.
    hung.heal();
    assert_eq!(server.advance(119).body["delivery_attempts"], 0);
    assert_eq!(server.advance(1).body["delivery_attempts"], ids.len());
    assert_eq!(hung.event_ids()[2..], ids[..]);
    assert_eq!(healthy.event_ids(), ids);
    assert_deliveries(&server, "delivered", 3, None);
    server.assert_verified();
}

/// Polls `done` every 50 ms for at most `limit`; whether it came true.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn on_the_system_clock_a_healthy_endpoint_gets_every_event_while_another_hangs() {
    let hung = Receiver::stalling(Duration::from_secs(10));
    let healthy = Receiver::start(0);
    let dir = data_dir();
    let urls = endpoints(&[&hung, &healthy]);
    let server = Server::start_with(
        dir.path(),
        &settings(
            &urls,
            &[
                ("TALLY_WEBHOOKS__POLL_MS", "50"),
                ("TALLY_WEBHOOKS__TIMEOUT_MS", "500"),
            ],
        ),
    );
    wallet_with_debits(&server, DEBITS);
    let ids: Vec<u64> = events(&server).iter().map(event_number).collect();
    // Posting one event at a time to both endpoints would need a 500 ms
    // timeout per event (a minute) before the healthy endpoint had them
    // all; the wait below is a bound, not a measurement.
    assert!(
        eventually(Duration::from_secs(30), || healthy.event_ids().len()
            >= ids.len()),
        "the healthy endpoint got {} of {} events",
        healthy.event_ids().len(),
        ids.len()
    );
    assert_eq!(healthy.event_ids(), ids, "each once, in id order");
    assert!(!hung.seen().is_empty());
    // Every event's first attempt is recorded; all wait for the hung one.
    assert!(eventually(Duration::from_secs(30), || events(&server)
        .iter()
        .all(|event| event["delivery"]["attempts"].as_u64() >= Some(1))));
    for event in events(&server) {
        assert_eq!(event["delivery"]["status"], "pending", "{event}");
    }
}
