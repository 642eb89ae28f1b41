//! Payments through the `stripe` provider against a fake Stripe on
//! 127.0.0.1 (`fake_stripe`): what Tally sends (path, form, auth,
//! idempotency key, the payment id in metadata), a success credited once, a
//! `card_declined` credited never, a 429 and a timeout left `processing`
//! (202) then reconciled once with the same charge key, and a SIGKILL
//! between Stripe's success and Tally's record reconciled at restart, or by
//! the webhook that names the payment in its metadata.

use crate::common::{data_dir, Server};
use crate::fake_stripe::{FakeStripe, Fault, SECRET_KEY};
use crate::payments::{as_user, card, general, signed};
use serde_json::{json, Value};
use std::time::Duration;

const WEBHOOK_SECRET: &str = "whsec_stripe_e2e_0123";

fn start(dir: &std::path::Path, fake: &FakeStripe, extra: &[(&str, &str)], manual: bool) -> Server {
    let settings = fake.settings();
    let mut env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    env.push(("TALLY_PAYMENTS__WEBHOOK_SECRET", WEBHOOK_SECRET));
    env.extend_from_slice(extra);
    if manual {
        Server::start_manual(dir, &env)
    } else {
        Server::start_with(dir, &env)
    }
}

fn pay(server: &Server, user: &str, method: &str, amount: &str, key: &str) -> crate::common::Reply {
    as_user(
        server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": method, "amount": amount})),
        Some(key),
    )
}

fn transaction(reply: &crate::common::Reply) -> &Value {
    &reply.body["data"]["transaction"]
}

#[test]
fn stripe_is_sent_a_keyed_off_session_payment_intent_and_a_success_credits_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let server = start(dir.path(), &fake, &[], false);
    let user = "user_stripe";
    let visa = card(&server, user, "pm_card_visa");
    let paid = pay(&server, user, &visa, "10.50", "order-1");
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(transaction(&paid)["status"], "completed");
    assert_eq!(transaction(&paid)["gateway_name"], "stripe");
    assert_eq!(transaction(&paid)["gateway_transaction_id"], "pi_fake_1");
    let payment_id = transaction(&paid)["id"].as_str().expect("id").to_owned();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v1/payment_intents")
    );
    assert_eq!(call.authorization, format!("Bearer {SECRET_KEY}"));
    assert_eq!(call.idempotency_key, format!("tally:{payment_id}"));
    let form = |name: &str| call.form.get(name).map(String::as_str);
    assert_eq!(form("amount"), Some("1050"), "minor units: {:?}", call.form);
    assert_eq!(form("currency"), Some("usd"));
    assert_eq!(form("payment_method"), Some("pm_card_visa"));
    assert_eq!(form("confirm"), Some("true"));
    assert_eq!(form("off_session"), Some("true"));
    assert_eq!(
        form("metadata[tally_payment_id]"),
        Some(payment_id.as_str())
    );
    assert_eq!(general(&server, user), "10.50");
    // The client's retry with its key: the same payment, Stripe not asked.
    let again = pay(&server, user, &visa, "10.50", "order-1");
    assert_eq!(again.status, 200);
    assert_eq!(transaction(&again)["id"], payment_id.as_str());
    assert_eq!(fake.calls().len(), 1);
    assert_eq!(general(&server, user), "10.50");
    server.assert_verified();
}

#[test]
fn a_stripe_card_decline_is_a_402_with_its_reason_and_credits_nothing() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let server = start(dir.path(), &fake, &[], false);
    let user = "user_declined";
    let declined = card(&server, user, "pm_card_chargeDeclined");
    let reply = pay(&server, user, &declined, "25.00", "order-2");
    assert_eq!(reply.status, 402, "{:?}", reply.body);
    assert_eq!(reply.code(), "payment_declined");
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Your card was declined."), "{message}");
    // Retried with its key: declined again, Stripe not asked again.
    let again = pay(&server, user, &declined, "25.00", "order-2");
    assert_eq!(again.status, 402);
    assert_eq!(fake.calls().len(), 1);
    assert_eq!(general(&server, user), "0.00");
    // A method Stripe cannot charge (no token): Stripe's 400 ends the
    // payment, 402 with Stripe's message, never asked again.
    let tokenless = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payment-methods",
        Some(
            json!({"type": "credit_card", "name": "Old", "details": {"last4": "0000", "brand": "visa"}}),
        ),
        None,
    );
    let tokenless = tokenless.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let refused = pay(&server, user, &tokenless, "5.00", "order-3");
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    let message = refused.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("You must provide a payment_method."),
        "{message}"
    );
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(general(&server, user), "0.00");
    server.assert_verified();
}

#[test]
fn a_rate_limited_or_timed_out_charge_is_processing_then_reconciled_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let server = start(dir.path(), &fake, &[], true);
    let user = "user_retry";
    let visa = card(&server, user, "pm_card_visa");
    // 429: nothing charged yet; 202 processing.
    fake.fail_next(&[Fault::RateLimit]);
    let limited = pay(&server, user, &visa, "7.00", "order-429");
    assert_eq!(limited.status, 202, "{:?}", limited.body);
    assert_eq!(transaction(&limited)["status"], "processing");
    // A timeout: Stripe charged, Tally never heard; 202 processing.
    fake.fail_next(&[Fault::Stall(Duration::from_secs(2))]);
    let timed_out = pay(&server, user, &visa, "3.00", "order-timeout");
    assert_eq!(timed_out.status, 202, "{:?}", timed_out.body);
    assert_eq!(fake.intents().len(), 1, "the stalled call charged");
    assert_eq!(general(&server, user), "0.00");
    // The client retrying with its keys meanwhile: the same payments,
    // still processing, Stripe not asked.
    let before = fake.calls().len();
    assert_eq!(
        pay(&server, user, &visa, "3.00", "order-timeout").status,
        202
    );
    assert_eq!(fake.calls().len(), before);
    // Not yet due: nothing asked.
    server.advance(5);
    assert_eq!(fake.calls().len(), before);
    // Due (10 s, then 20 s after a first failed ask): asked again with the
    // same charge keys; the timed-out one is the same PaymentIntent.
    server.advance(30);
    let calls = fake.calls();
    assert_eq!(calls.len(), before + 2, "{calls:?}");
    let keys = |calls: &[crate::fake_stripe::Call]| {
        let mut keys: Vec<String> = calls.iter().map(|c| c.idempotency_key.clone()).collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(
        keys(&calls[..2]),
        keys(&calls[before..]),
        "the same charge keys"
    );
    assert_eq!(fake.intents().len(), 2, "one charge per payment");
    assert_eq!(general(&server, user), "10.00");
    let settled = pay(&server, user, &visa, "3.00", "order-timeout");
    assert_eq!(settled.status, 200, "{:?}", settled.body);
    assert_eq!(transaction(&settled)["status"], "completed");
    assert!(settled.body["data"]["invoice"]["invoice_number"].is_string());
    // Later passes ask nothing more.
    server.advance(3600);
    assert_eq!(fake.calls().len(), before + 2);
    assert_eq!(general(&server, user), "10.00");
    server.assert_verified();
}

#[test]
fn a_charge_processing_at_stripe_is_read_again_until_it_settles_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let server = start(dir.path(), &fake, &[], true);
    let user = "user_slow";
    let slow = card(&server, user, "pm_card_processing");
    let waiting = pay(&server, user, &slow, "9.00", "order-slow");
    assert_eq!(waiting.status, 202, "{:?}", waiting.body);
    assert_eq!(transaction(&waiting)["gateway_transaction_id"], "pi_fake_1");
    // Due 20 s after the processing answer: read (GET), still processing;
    // nothing credited.
    server.advance(25);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        (calls[1].method.as_str(), calls[1].path.as_str()),
        ("GET", "/v1/payment_intents/pi_fake_1")
    );
    assert_eq!(calls[1].authorization, format!("Bearer {SECRET_KEY}"));
    assert_eq!(general(&server, user), "0.00");
    // Stripe settles it; the next read (40 s later) credits it, once.
    fake.set_intent_status("pi_fake_1", "succeeded");
    server.advance(30);
    assert_eq!(general(&server, user), "0.00", "not due yet");
    server.advance(15);
    assert_eq!(general(&server, user), "9.00");
    let asked = fake.calls().len();
    server.advance(3600);
    assert_eq!(fake.calls().len(), asked);
    let settled = pay(&server, user, &slow, "9.00", "order-slow");
    assert_eq!(settled.status, 200, "{:?}", settled.body);
    assert_eq!(general(&server, user), "9.00");
    server.assert_verified();
}

/// Starts a payment on a server that pauses between Stripe's success and
/// its record, waits for Stripe to be charged, and SIGKILLs the server.
fn charge_then_kill(dir: &std::path::Path, fake: &FakeStripe, user: &str) {
    let server = start(
        dir,
        fake,
        &[("TALLY_PAYMENTS__FAULT_PAUSE_AFTER_CHARGE_MS", "60000")],
        false,
    );
    let visa = card(&server, user, "pm_card_visa");
    let base = server.base.clone();
    let client = std::thread::spawn(move || {
        ureq::post(&format!("{base}/api/v1/wallet/payments"))
            .set("Authorization", &format!("Bearer {}", crate::common::KEY))
            .set("Tally-User", "user_killed")
            .set("Idempotency-Key", "order-kill")
            .send_json(json!({"payment_method_id": visa, "amount": "42.00"}))
            .is_ok()
    });
    fake.wait_for_calls(1);
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    assert!(!client.join().expect("client"), "no answer: killed");
    assert_eq!(fake.intents().len(), 1, "Stripe charged");
}

#[test]
fn a_kill_between_stripes_success_and_the_record_is_reconciled_at_restart_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let user = "user_killed";
    charge_then_kill(dir.path(), &fake, user);
    // Restarted (no fault): the unsettled charge is asked again before
    // anything is served, with the same key: the same PaymentIntent.
    let server = start(dir.path(), &fake, &[], false);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].idempotency_key, calls[1].idempotency_key);
    assert_eq!(fake.intents().len(), 1);
    assert_eq!(general(&server, user), "42.00");
    // The client's retry finds it completed, invoiced, charged once.
    let methods = as_user(
        &server,
        user,
        "GET",
        "/api/v1/wallet/payment-methods",
        None,
        None,
    );
    let visa = methods.body["data"][0]["id"]
        .as_str()
        .expect("method")
        .to_owned();
    let retry = pay(&server, user, &visa, "42.00", "order-kill");
    assert_eq!(retry.status, 200, "{:?}", retry.body);
    assert_eq!(transaction(&retry)["gateway_transaction_id"], "pi_fake_1");
    assert!(retry.body["data"]["invoice"]["invoice_number"].is_string());
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(general(&server, user), "42.00");
    server.assert_verified();
}

#[test]
fn after_a_kill_stripes_webhook_names_the_payment_by_its_metadata_and_settles_it_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let user = "user_killed";
    charge_then_kill(dir.path(), &fake, user);
    // Stripe rate-limits the restart's ask: the payment stays processing.
    fake.fail_next(&[Fault::RateLimit; 4]);
    let server = start(dir.path(), &fake, &[], false);
    assert_eq!(general(&server, user), "0.00");
    // Stripe's webhook: the intent (whose id Tally never recorded) names
    // the payment in its metadata.
    let intent = fake.intents().remove(0);
    let event = json!({"id": "evt_after_kill", "type": "payment_intent.succeeded",
        "data": {"object": intent}})
    .to_string();
    for delivery in 0..2 {
        let reply = server.raw(
            "POST",
            "/v1/providers/stripe/webhook",
            Some(&event),
            &[("Stripe-Signature", &signed(WEBHOOK_SECRET, &event))],
            None,
        );
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        if delivery == 0 {
            assert_eq!(reply.body["status"], "completed", "{:?}", reply.body);
        }
    }
    assert_eq!(general(&server, user), "42.00");
    // Settled: the reconciler asks Stripe nothing more about it.
    fake.heal();
    let asked = fake.calls().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.calls().len(), asked);
    server.assert_verified();
}

fn webhook(server: &Server, event: &Value) -> crate::common::Reply {
    let body = event.to_string();
    server.raw(
        "POST",
        "/v1/providers/stripe/webhook",
        Some(&body),
        &[("Stripe-Signature", &signed(WEBHOOK_SECRET, &body))],
        None,
    )
}

fn session_status(server: &Server, id: &str) -> String {
    let shown = server.call("GET", &format!("/v1/payment-sessions/{id}"), None, None);
    shown.body["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_payment_session_is_a_stripe_checkout_settled_by_its_webhooks_once() {
    let fake = FakeStripe::start();
    let dir = data_dir();
    let server = start(dir.path(), &fake, &[], false);
    let customer = "user_checkout";
    let body = json!({"customer": customer, "product": "product_1", "title": "Deposit to App",
        "amounts": {"USD": "15.00"}, "return_url": "https://shop.example/back?x=1"});
    let create = |server: &Server| {
        let created = server.send("POST", "/v1/payment-sessions", &body);
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_str().expect("id").to_owned();
        (
            id,
            created.body["checkoutUrl"]
                .as_str()
                .expect("url")
                .to_owned(),
        )
    };
    let (paid, url) = create(&server);
    assert_eq!(url, "https://checkout.stripe.test/c/pay/cs_fake_1");
    let call = fake.calls().remove(0);
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v1/checkout/sessions")
    );
    assert_eq!(call.idempotency_key, format!("tally:{paid}"));
    let form = |name: &str| call.form.get(name).cloned().unwrap_or_default();
    assert_eq!(form("mode"), "payment");
    assert_eq!(form("line_items[0][price_data][unit_amount]"), "1500");
    assert_eq!(form("line_items[0][price_data][currency]"), "usd");
    assert_eq!(
        form("line_items[0][price_data][product_data][name]"),
        "Deposit to App"
    );
    assert_eq!(form("client_reference_id"), paid);
    assert_eq!(
        form("success_url"),
        format!("https://shop.example/back?x=1&sessionId={paid}")
    );
    assert!(form("expires_at").parse::<i64>().is_ok());
    // Tally's own test page does not take a session Stripe hosts.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let free = agent
        .post(&format!("{}/checkout/{paid}/pay", server.base))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string("card=visa");
    assert!(matches!(free, Err(ureq::Error::Status(404, _))), "{free:?}");
    // Completed and paid: credited once, however often the event comes.
    let mut checkout = fake.checkouts().remove(0);
    checkout["status"] = json!("complete");
    checkout["payment_status"] = json!("paid");
    let completed = json!({"id": "evt_cs_1", "type": "checkout.session.completed",
        "data": {"object": checkout}});
    for _ in 0..2 {
        assert_eq!(webhook(&server, &completed).status, 200);
    }
    assert_eq!(session_status(&server, &paid), "completed");
    let balance = |server: &Server| {
        let wallet = server.call(
            "GET",
            &format!("/v1/user/balance?user={customer}"),
            None,
            None,
        );
        wallet.body["balance"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(balance(&server), "15.00");
    // A delayed method: completed unpaid waits; the async failure fails it;
    // a late success for it changes nothing.
    let (slow, _) = create(&server);
    let mut checkout = fake.checkouts().remove(1);
    checkout["status"] = json!("complete");
    let unpaid = json!({"id": "evt_cs_2", "type": "checkout.session.completed",
        "data": {"object": checkout.clone()}});
    assert_eq!(webhook(&server, &unpaid).status, 200);
    assert_eq!(session_status(&server, &slow), "pending");
    let failed = json!({"id": "evt_cs_3", "type": "checkout.session.async_payment_failed",
        "data": {"object": checkout.clone()}});
    assert_eq!(webhook(&server, &failed).status, 200);
    assert_eq!(session_status(&server, &slow), "failed");
    let late = json!({"id": "evt_cs_4", "type": "checkout.session.async_payment_succeeded",
        "data": {"object": checkout}});
    assert_eq!(webhook(&server, &late).status, 200);
    assert_eq!(session_status(&server, &slow), "failed");
    // Expired at Stripe: expired here; an event naming another checkout
    // than the session's changes nothing.
    let (gone, _) = create(&server);
    let checkout = fake.checkouts().remove(2);
    let mut forged = checkout.clone();
    forged["id"] = json!("cs_someone_else");
    forged["payment_status"] = json!("paid");
    let wrong = json!({"id": "evt_cs_5", "type": "checkout.session.completed",
        "data": {"object": forged}});
    assert_eq!(webhook(&server, &wrong).status, 200);
    assert_eq!(session_status(&server, &gone), "pending");
    let expired = json!({"id": "evt_cs_6", "type": "checkout.session.expired",
        "data": {"object": checkout}});
    assert_eq!(webhook(&server, &expired).status, 200);
    assert_eq!(session_status(&server, &gone), "expired");
    assert_eq!(balance(&server), "15.00");
    // Stripe unreachable: 503, no session made.
    fake.fail_next(&[Fault::RateLimit]);
    let refused = server.send("POST", "/v1/payment-sessions", &body);
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.code(), "provider_unavailable");
    server.assert_verified();
}
