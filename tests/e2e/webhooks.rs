//! Webhooks against a real HTTP receiver on 127.0.0.1: delivered with a
//! valid HMAC-SHA256 signature, retried with backoff after the receiver
//! fails twice, and still delivered after a server restart. The manual
//! clock drives the retries; nothing sleeps for a schedule.

use crate::common::{data_dir, Server};
use crate::receiver::Receiver;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const SECRET: &str = "whsec-test-0123456789";

/// Checks `t=<ts>,v1=<hex>` against the body with the shared secret.
fn signature_is_valid(header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

fn start(dir: &std::path::Path, receiver: &Receiver) -> Server {
    let endpoints = format!("[\"{}\"]", receiver.url);
    Server::start_manual(
        dir,
        &[
            ("TALLY_WEBHOOKS__ENDPOINTS", &endpoints),
            ("TALLY_WEBHOOKS__SECRET", SECRET),
            ("TALLY_WEBHOOKS__BACKOFF_MS", "60000"),
        ],
    )
}

fn event_status(server: &Server, wallet: &str, kind: &str) -> Value {
    server
        .events_of(wallet)
        .into_iter()
        .find(|event| event["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))["delivery"]
        .clone()
}

#[test]
fn events_are_signed_retried_with_backoff_and_survive_a_restart() {
    let receiver = Receiver::start(2);
    let dir = data_dir();
    let server = start(dir.path(), &receiver);
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "cus_hooks", "currency": "USD", "rate_amount": "1",
    }));
    let id = wallet["id"].as_str().expect("id").to_owned();
    let delivery = event_status(&server, &id, "wallet.created");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempts"], 0);

    // Attempt 1: the receiver fails; the next attempt waits 60 s.
    let step = server.advance(0);
    assert_eq!(step.body["delivery_attempts"], 1, "{:?}", step.body);
    let delivery = event_status(&server, &id, "wallet.created");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempts"], 1);
    assert!(delivery["last_error"]
        .as_str()
        .expect("error")
        .contains("HTTP 500"));
    // Not due yet 59 s later.
    assert_eq!(server.advance(59).body["delivery_attempts"], 0);

    // The server restarts between attempts: the outbox is on disk.
    drop(server);
    let server = start(dir.path(), &receiver);
    server.set_clock("2040-01-01T00:01:00Z");
    // Attempt 2 fails too; the wait doubles to 120 s.
    assert_eq!(event_status(&server, &id, "wallet.created")["attempts"], 2);
    assert_eq!(server.advance(119).body["delivery_attempts"], 0);
    // Attempt 3 is delivered.
    assert_eq!(server.advance(1).body["delivery_attempts"], 1);
    let delivery = event_status(&server, &id, "wallet.created");
    assert_eq!(delivery["status"], "delivered", "{delivery:?}");
    assert_eq!(delivery["attempts"], 3);

    let seen = receiver.seen();
    assert_eq!(
        seen.iter()
            .map(|request| request.status)
            .collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    for request in &seen {
        assert_eq!(request.event_type, "wallet.created");
        assert!(
            signature_is_valid(&request.signature, &request.body),
            "bad signature {:?}",
            request.signature
        );
        assert!(!signature_is_valid(
            &request.signature,
            b"{\"tampered\":true}"
        ));
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body["type"], "wallet.created");
        assert_eq!(body["wallet_id"], id.as_str());
        assert_eq!(body["data"]["wallet"]["id"], id.as_str());
    }

    // With a receiver that works, a debit's transaction event goes out on
    // the next pass, and the listing filters by status.
    let reply = server.send(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        &json!({"type":"TOPUP","paid_credits":"5"}),
    );
    assert_eq!(reply.status, 201);
    assert_eq!(server.advance(0).body["delivery_attempts"], 1);
    let last = receiver.seen().pop().expect("a request");
    assert_eq!(last.event_type, "wallet_transaction.created");
    let body: Value = serde_json::from_slice(&last.body).expect("json");
    assert_eq!(body["data"]["transaction"]["paid_credits"], "5");
    let pending = server.call("GET", "/v1/events?status=pending", None, None);
    assert_eq!(pending.body["data"], json!([]), "{:?}", pending.body);
    let delivered = server.call("GET", "/v1/events?status=delivered", None, None);
    assert_eq!(delivered.body["data"].as_array().expect("data").len(), 2);
    server.assert_verified();
}

#[test]
fn without_endpoints_events_are_recorded_as_skipped_and_the_clock_is_guarded() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    // On the system clock the clock cannot be moved.
    let reply = server.send("POST", "/v1/admin/clock", &json!({"advance_seconds": 1}));
    assert_eq!(reply.status, 409);
    assert_eq!(reply.code(), "clock_not_manual");
    let id = server.wallet("1", "0");
    let events = server.events_of(&id);
    assert_eq!(
        events.len(),
        1,
        "no transaction events without a receiver: {events:?}"
    );
    assert_eq!(events[0]["type"], "wallet.created");
    assert_eq!(events[0]["delivery"]["status"], "skipped");
}
