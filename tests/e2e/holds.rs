//! The LLM-gateway loop over HTTP: holds (place, capture for less or more,
//! release, expiry, late capture), priced usage, and what a gateway relies
//! on: no overspend under concurrency, each hold resolved once, nothing lost
//! across SIGKILL, prices fixed at the hold's version, exact rounding.

use crate::common::{data_dir, dec, Server};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn hold(server: &Server, wallet: &str, body: Value) -> crate::common::Reply {
    server.send("POST", &format!("/v1/wallets/{wallet}/holds"), &body)
}

fn capture(server: &Server, hold: &str, body: Value, key: Option<&str>) -> crate::common::Reply {
    server.call(
        "POST",
        &format!("/v1/holds/{hold}/capture"),
        Some(&body.to_string()),
        key,
    )
}

fn release(server: &Server, hold: &str) -> crate::common::Reply {
    server.call("POST", &format!("/v1/holds/{hold}/release"), None, None)
}

fn id(reply: &crate::common::Reply) -> String {
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn balance(server: &Server, wallet: &str) -> (Decimal, Decimal, Decimal) {
    let view = server.get_wallet(wallet);
    let balance = &view["balance"];
    (
        dec(&balance["total_credits"]),
        dec(&balance["held_credits"]),
        dec(&balance["available_credits"]),
    )
}

fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

fn price(server: &Server, model: &str, input: &str, output: &str) -> String {
    let reply = server.send(
        "PUT",
        &format!("/v1/prices/{model}"),
        &json!({"currency":"USD","input_per_million":input,"cached_input_per_million":"0",
            "cache_write_per_million":"0","output_per_million":output,
            "reasoning_per_million":output,"per_request":"0"}),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn metadata(entry: &Value, key: &str) -> String {
    entry["metadata"]
        .as_array()
        .expect("metadata")
        .iter()
        .find(|pair| pair["key"] == key)
        .and_then(|pair| pair["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn sixty_four_concurrent_holds_on_forty_credits_never_overspend() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let wallet = server.wallet("30", "10");
    let replies: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let (server, wallet) = (&server, &wallet);
                scope.spawn(move || hold(server, wallet, json!({"credits":"1","ttl_seconds":600})))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    let placed: Vec<String> = replies
        .iter()
        .filter(|reply| reply.status == 201)
        .map(id)
        .collect();
    let refused: Vec<_> = replies.iter().filter(|reply| reply.status == 402).collect();
    assert_eq!(placed.len(), 40);
    assert_eq!(refused.len(), 24);
    for reply in &refused {
        assert_eq!(reply.code(), "insufficient_credits");
        assert_eq!(
            reply.body["error"]["available_credits"], "0",
            "{:?}",
            reply.body
        );
    }
    for reply in replies.iter().filter(|reply| reply.status == 201) {
        assert_eq!(reply.body["status"], "pending");
        assert!(dec(&reply.body["balance"]["available_credits"]) >= Decimal::ZERO);
    }
    assert_eq!(balance(&server, &wallet), (d("40"), d("40"), d("0")));
    // A debit now finds nothing available.
    let debit = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({"credits":"0.1"}),
    );
    assert_eq!(debit.status, 402);

    // Ten for less, ten for more (the excess comes from what the first ten
    // gave back), twenty released.
    for hold_id in &placed[..10] {
        let reply = capture(&server, hold_id, json!({"credits":"0.5"}), None);
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(reply.body["type"], "DEBIT");
        assert_eq!(reply.body["credits"], "0.5");
        assert_eq!(reply.body["hold_id"], hold_id.as_str());
    }
    assert_eq!(balance(&server, &wallet), (d("35"), d("30"), d("5")));
    for hold_id in &placed[10..20] {
        let reply = capture(&server, hold_id, json!({"credits":"1.5"}), None);
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(reply.body["credits"], "1.5");
    }
    assert_eq!(balance(&server, &wallet), (d("20"), d("20"), d("0")));
    // Nothing left to take the excess from: 402, and the hold stays pending.
    let over = capture(&server, &placed[20], json!({"credits":"1.5"}), None);
    assert_eq!(over.status, 402, "{:?}", over.body);
    assert_eq!(over.body["error"]["available_credits"], "0");
    let still = server.call("GET", &format!("/v1/holds/{}", placed[20]), None, None);
    assert_eq!(still.body["status"], "pending");
    for hold_id in &placed[20..] {
        let reply = release(&server, hold_id);
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(reply.body["type"], "RELEASE");
        assert_eq!(reply.body["direction"], "internal");
    }
    assert_eq!(balance(&server, &wallet), (d("20"), d("0"), d("20")));
    let listed = server.call(
        "GET",
        &format!("/v1/wallets/{wallet}/holds?status=captured&limit=1000"),
        None,
        None,
    );
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(20));
    let pending = server.call(
        "GET",
        &format!("/v1/wallets/{wallet}/holds?status=pending"),
        None,
        None,
    );
    assert_eq!(pending.body["data"].as_array().map(Vec::len), Some(0));
    // Pages of 7 over all 40 holds: each once, oldest first.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server.call(
            "GET",
            &format!("/v1/wallets/{wallet}/holds?limit=7{cursor}"),
            None,
            None,
        );
        assert_eq!(page.status, 200, "{:?}", page.body);
        for hold in page.body["data"].as_array().expect("data") {
            seen.push(hold["id"].as_str().expect("id").to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut sorted = placed.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
    assert_eq!(server.metric("tally_holds_pending"), Some(0.0));
    assert_eq!(server.metric("tally_held_credits"), Some(0.0));
    assert_eq!(
        server.metric("tally_holds_total{outcome=\"captured\"}"),
        Some(20.0)
    );
}

#[test]
fn each_hold_resolves_once_and_a_replay_returns_the_original() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let wallet = server.wallet("10", "0");
    let first = id(&hold(&server, &wallet, json!({"credits":"2"})));
    let captured = capture(&server, &first, json!({"credits":"1.25"}), Some("cap-1"));
    assert_eq!(captured.status, 201);
    // The same request with the same key: the original reply.
    let replay = capture(&server, &first, json!({"credits":"1.25"}), Some("cap-1"));
    assert_eq!(replay.status, 201);
    assert!(replay.replayed);
    assert_eq!(replay.body["id"], captured.body["id"]);
    // Another body with that key: 409 key reused; without a key: 409 captured.
    assert_eq!(
        capture(&server, &first, json!({"credits":"1"}), Some("cap-1")).code(),
        "idempotency_key_reused"
    );
    let again = capture(&server, &first, json!({"credits":"1.25"}), None);
    assert_eq!((again.status, again.code()), (409, "hold_already_captured"));
    assert_eq!(release(&server, &first).code(), "hold_already_captured");

    let second = id(&hold(&server, &wallet, json!({"credits":"3"})));
    assert_eq!(release(&server, &second).status, 201);
    assert_eq!(release(&server, &second).code(), "hold_already_released");
    assert_eq!(
        capture(&server, &second, json!({}), None).code(),
        "hold_already_released"
    );
    // A capture with no amount takes the whole hold.
    let third = id(&hold(&server, &wallet, json!({"credits":"0.75"})));
    let whole = server.call("POST", &format!("/v1/holds/{third}/capture"), None, None);
    assert_eq!(whole.status, 201, "{:?}", whole.body);
    assert_eq!(whole.body["credits"], "0.75");
    assert_eq!(balance(&server, &wallet), (d("8"), d("0"), d("8")));
    let view = server.call("GET", &format!("/v1/holds/{third}"), None, None);
    assert_eq!(view.body["status"], "captured");
    assert_eq!(view.body["captured_credits"], "0.75");
    assert_eq!(view.body["resolved_transaction_id"], whole.body["id"]);
    // Unknown or malformed hold ids: 404.
    assert_eq!(
        release(&server, "hld_01ARZ3NDEKTSV4RRFFQ69G5FAV").code(),
        "hold_not_found"
    );
    assert_eq!(release(&server, "nope").code(), "hold_not_found");
    // Bad input changes nothing.
    for (body, field) in [
        (json!({}), "credits"),
        (json!({"credits":"-1"}), "credits"),
        (json!({"credits":"1e3"}), "credits"),
        (json!({"credits":"1","ttl_seconds":0}), "ttl_seconds"),
        (json!({"credits":"1","ttl_seconds":86401}), "ttl_seconds"),
        (json!({"credits":"1","model":"gpt-4o"}), "model"),
    ] {
        let reply = hold(&server, &wallet, body.clone());
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["field"], field, "{body}");
    }
    assert_eq!(balance(&server, &wallet), (d("8"), d("0"), d("8")));
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
}

#[test]
fn expiry_releases_at_its_time_and_a_late_capture_is_still_recorded_once() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let wallet = server.wallet("10", "0");
    let reply = hold(&server, &wallet, json!({"credits":"4","ttl_seconds":60}));
    let held = id(&reply);
    assert_eq!(reply.body["expires_at"], "2040-01-01T00:01:00Z");
    server.advance(59);
    assert_eq!(balance(&server, &wallet), (d("10"), d("4"), d("6")));
    server.advance(1);
    assert_eq!(balance(&server, &wallet), (d("10"), d("0"), d("10")));
    let view = server.call("GET", &format!("/v1/holds/{held}"), None, None);
    assert_eq!(view.body["status"], "expired");
    let expired = server
        .events_of(&wallet)
        .into_iter()
        .filter(|event| event["type"] == "hold.expired")
        .count();
    assert_eq!(expired, 1);
    let ledger = server.ledger(&wallet);
    assert_eq!(ledger[0]["type"], "RELEASE");
    assert_eq!(ledger[0]["source"], "expiry");
    assert_eq!(ledger[0]["hold_id"], held.as_str());
    assert_eq!(release(&server, &held).code(), "hold_expired");
    // The call ran: its capture still counts, once, as a debit of the hold.
    let late = capture(&server, &held, json!({"credits":"3"}), None);
    assert_eq!(late.status, 201, "{:?}", late.body);
    assert_eq!(late.body["type"], "DEBIT");
    assert_eq!(late.body["hold_id"], held.as_str());
    assert_eq!(balance(&server, &wallet), (d("7"), d("0"), d("7")));
    assert_eq!(
        capture(&server, &held, json!({"credits":"3"}), None).code(),
        "hold_already_captured"
    );
    let view = server.call("GET", &format!("/v1/holds/{held}"), None, None);
    assert_eq!(view.body["late_capture_transaction_id"], late.body["id"]);
    assert_eq!(view.body["captured_credits"], "3");
    // A late capture the available credits do not cover: 402, nothing changes.
    let big = id(&hold(
        &server,
        &wallet,
        json!({"credits":"7","ttl_seconds":1}),
    ));
    server.advance(1);
    let debit = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({"credits":"6"}),
    );
    assert_eq!(debit.status, 201);
    let refused = capture(&server, &big, json!({"credits":"7"}), None);
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert_eq!(balance(&server, &wallet), (d("1"), d("0"), d("1")));
    assert!(server.metric("tally_hold_late_captures_total") == Some(1.0));
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
}

#[test]
fn a_capture_racing_expiry_charges_exactly_once() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let wallet = server.wallet("100", "0");
    let holds: Vec<String> = (0..20)
        .map(|_| {
            id(&hold(
                &server,
                &wallet,
                json!({"credits":"2","ttl_seconds":30}),
            ))
        })
        .collect();
    std::thread::scope(|scope| {
        let server = &server;
        scope.spawn(move || server.advance(30));
        for hold_id in &holds {
            scope.spawn(move || {
                let reply = capture(server, hold_id, json!({"credits":"1.5"}), None);
                // Either the capture or the late capture: both 201.
                assert_eq!(reply.status, 201, "{:?}", reply.body);
            });
        }
    });
    assert_eq!(balance(&server, &wallet), (d("70"), d("0"), d("70")));
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
}

#[test]
fn pending_holds_survive_sigkill_and_expire_at_their_time() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let wallet = server.wallet("10", "0");
    let kept = id(&hold(
        &server,
        &wallet,
        json!({"credits":"3","ttl_seconds":120}),
    ));
    let captured = id(&hold(
        &server,
        &wallet,
        json!({"credits":"2","ttl_seconds":120}),
    ));
    assert_eq!(
        capture(&server, &captured, json!({"credits":"1"}), None).status,
        201
    );
    server.kill();
    drop(server);

    let server = Server::start_manual(dir.path(), &[]);
    assert_eq!(balance(&server, &wallet), (d("9"), d("3"), d("6")));
    let view = server.call("GET", &format!("/v1/holds/{kept}"), None, None);
    assert_eq!(view.body["status"], "pending");
    assert_eq!(server.metric("tally_holds_pending"), Some(1.0));
    server.advance(119);
    assert_eq!(balance(&server, &wallet).1, d("3"));
    server.advance(1);
    assert_eq!(balance(&server, &wallet), (d("9"), d("0"), d("9")));
    assert_eq!(server.metric("tally_holds_pending"), Some(0.0));
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
}

#[test]
fn usage_is_priced_at_the_hold_version_and_rounded_up() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let old = price(&server, "gpt-4o", "2.50", "10");
    // A wallet whose credit costs 3 USD: 1 input token costs 0.0000025 USD,
    // 0.000000833… credits, charged as 0.000000834 (rounded up, once).
    let wallet = server.create_wallet(&json!({"external_customer_id":"cus_gw","currency":"USD",
        "rate_amount":"3","paid_credits":"10"}))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let usage = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/usage"),
        &json!({"model":"gpt-4o","input_tokens":1,"metadata":{"request":"r1"}}),
    );
    assert_eq!(usage.status, 201, "{:?}", usage.body);
    assert_eq!(usage.body["credits"], "0.000000834");
    assert_eq!(metadata(&usage.body, "cost_total"), "0.0000025");
    assert_eq!(metadata(&usage.body, "price_version"), old);
    assert_eq!(metadata(&usage.body, "model"), "gpt-4o");
    assert_eq!(metadata(&usage.body, "input_tokens"), "1");
    assert_eq!(metadata(&usage.body, "request"), "r1");

    // A hold by model and max tokens: 1000 in at 2.5 + 1000 out at 10 per
    // million = 0.0125 USD = 0.004166667 credits (up).
    let placed = hold(
        &server,
        &wallet,
        json!({"model":"gpt-4o","max_input_tokens":1000,"max_output_tokens":1000}),
    );
    let held = id(&placed);
    assert_eq!(placed.body["credits"], "0.004166667");
    assert_eq!(placed.body["price_version"], old.as_str());
    // The price doubles; the capture is still priced at the hold's version.
    server.advance(60);
    let new = price(&server, "gpt-4o", "5", "20");
    assert_ne!(new, old);
    let captured = capture(
        &server,
        &held,
        json!({"usage":{"input_tokens":600,"output_tokens":300}}),
        None,
    );
    assert_eq!(captured.status, 201, "{:?}", captured.body);
    // 600 × 2.5 + 300 × 10 per million = 0.0045 USD = 0.0015 credits.
    assert_eq!(captured.body["credits"], "0.0015");
    assert_eq!(metadata(&captured.body, "price_version"), old);
    // A usage debit now: the new version.
    let now = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/usage"),
        &json!({"model":"gpt-4o","output_tokens":3}),
    );
    assert_eq!(metadata(&now.body, "price_version"), new);
    // 3 × 20 per million = 0.00006 USD = 0.00002 credits.
    assert_eq!(now.body["credits"], "0.00002");

    // Unknown models are refused, never priced at zero; nothing changes.
    let before = balance(&server, &wallet);
    for reply in [
        server.send(
            "POST",
            &format!("/v1/wallets/{wallet}/usage"),
            &json!({"model":"nope","input_tokens":5}),
        ),
        hold(
            &server,
            &wallet,
            json!({"model":"nope","max_input_tokens":5}),
        ),
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (422, "unknown_model"),
            "{:?}",
            reply.body
        );
    }
    // Reserved metadata keys and counts past the bound name their field.
    let reserved = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/usage"),
        &json!({"model":"gpt-4o","input_tokens":1,"metadata":{"cost_total":"0"}}),
    );
    assert_eq!(reserved.body["error"]["field"], "metadata.cost_total");
    let huge = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/usage"),
        &json!({"model":"gpt-4o","input_tokens":1_000_000_000_001_u64}),
    );
    assert_eq!(huge.body["error"]["field"], "input_tokens");
    // A price in another currency than the wallet's.
    server.send(
        "PUT",
        "/v1/prices/eu-model",
        &json!({"currency":"EUR","input_per_million":"1","cached_input_per_million":"0",
            "cache_write_per_million":"0","output_per_million":"1","reasoning_per_million":"1","per_request":"0"}),
    );
    let foreign = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/usage"),
        &json!({"model":"eu-model","input_tokens":1}),
    );
    assert_eq!(
        (foreign.status, foreign.code()),
        (422, "price_currency_mismatch")
    );
    assert_eq!(balance(&server, &wallet), before);
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();
}

#[test]
fn holds_keep_their_lots_through_expiry_and_trigger_threshold_top_ups() {
    let dir = data_dir();
    let server = Server::start_manual(
        dir.path(),
        &[
            (
                "TALLY_GATEWAY__TOP_UP_URL",
                "https://pay.example/top-up?c={external_customer_id}&w={wallet_id}",
            ),
            ("TALLY_GATEWAY__HOLD_TTL_MAX_SECONDS", "604800"),
        ],
    );
    // 5 granted credits that expire in a day, 5 paid that do not.
    let wallet = server.wallet("5", "0");
    let top_up = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/wallet-transactions"),
        &json!({"type":"TOPUP","granted_credits":"5","expires_at":"2040-01-02T00:00:00Z"}),
    );
    assert_eq!(top_up.status, 201);
    // The hold takes the granted lot first (spend order).
    let held = id(&hold(
        &server,
        &wallet,
        json!({"credits":"4","ttl_seconds":172_800}),
    ));
    let ledger = server.ledger(&wallet);
    assert_eq!(ledger[0]["hold_lots"][0]["credit_kind"], "granted");
    assert_eq!(ledger[0]["hold_lots"][0]["credits"], "4");
    // The lot expires while held: only its unheld credit goes.
    server.advance(86_400);
    assert_eq!(balance(&server, &wallet), (d("9"), d("4"), d("5")));
    // The hold expires: what it gives back to the expired lot expires too.
    server.advance(86_400);
    assert_eq!(balance(&server, &wallet), (d("5"), d("0"), d("5")));
    assert_eq!(release(&server, &held).code(), "hold_expired");
    // Same with a release after the lot's expiry (now 2040-01-03).
    let top_up = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/wallet-transactions"),
        &json!({"type":"TOPUP","granted_credits":"2","expires_at":"2040-01-04T00:00:00Z"}),
    );
    assert_eq!(top_up.status, 201);
    let held = id(&hold(
        &server,
        &wallet,
        json!({"credits":"2","ttl_seconds":172_800}),
    ));
    server.advance(86_400); // the granted lot's expiry: all of it is held
    assert_eq!(balance(&server, &wallet), (d("7"), d("2"), d("5")));
    assert_eq!(release(&server, &held).status, 201);
    // Given back to a lot that expired meanwhile: expired in the same turn.
    assert_eq!(balance(&server, &wallet), (d("5"), d("0"), d("5")));
    let ledger = server.ledger(&wallet);
    assert_eq!(ledger[0]["type"], "EXPIRE");
    assert_eq!(ledger[0]["credits"], "2");
    assert_eq!(ledger[1]["type"], "RELEASE");
    // A 402 names the available credits and the owner's top-up link.
    let refused = hold(&server, &wallet, json!({"credits":"6"}));
    assert_eq!(refused.status, 402);
    assert_eq!(refused.body["error"]["available_credits"], "5");
    assert_eq!(
        refused.body["error"]["top_up_url"],
        format!("https://pay.example/top-up?c=cus_test&w={wallet}")
    );
    // Terminating with a pending hold: 409, release first.
    let pending = id(&hold(&server, &wallet, json!({"credits":"1"})));
    let terminate = server.call("DELETE", &format!("/v1/wallets/{wallet}"), None, None);
    assert_eq!((terminate.status, terminate.code()), (409, "holds_pending"));
    assert_eq!(release(&server, &pending).status, 201);
    server.assert_ledger_matches_balance(&wallet);
    server.assert_verified();

    // A hold that takes the available credits under a threshold tops up.
    let topped = server.create_wallet(&json!({"external_customer_id":"cus_t","currency":"USD",
        "rate_amount":"1","paid_credits":"20","recurring_transaction_rules":[
        {"method":"FIXED","trigger":"THRESHOLD","threshold_credits":"10","paid_credits":"5"}]}))
        ["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(hold(&server, &topped, json!({"credits":"12"})).status, 201);
    assert_eq!(balance(&server, &topped), (d("25"), d("12"), d("13")));
}

#[test]
fn a_late_capture_after_many_captures_on_a_fresh_actor_is_recorded() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let wallet = server.wallet("1000", "0");
    let expired = id(&hold(
        &server,
        &wallet,
        json!({"credits":"5","ttl_seconds":1}),
    ));
    server.advance(1);
    server.kill();
    drop(server);
    // A fresh actor: it learns of the expired hold from disk, after it has
    // resolved more holds than it keeps records of in memory. (An endpoint
    // that never answers, so transaction events are recorded.)
    let server = Server::start_manual(
        dir.path(),
        &[
            (
                "TALLY_WEBHOOKS__ENDPOINTS",
                r#"["http://127.0.0.1:9/hook"]"#,
            ),
            ("TALLY_WEBHOOKS__SECRET", "whsec-test-0123456789"),
        ],
    );
    for _ in 0..300 {
        let placed = id(&hold(&server, &wallet, json!({"credits":"1"})));
        let reply = server.call("POST", &format!("/v1/holds/{placed}/capture"), None, None);
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let late = capture(&server, &expired, json!({"credits":"2"}), None);
    assert_eq!(late.status, 201, "{:?}", late.body);
    assert_eq!(balance(&server, &wallet), (d("698"), d("0"), d("698")));
    // Every capture, including those that spent exactly their hold, is a
    // transaction event.
    let mut captures = 0;
    let mut cursor = String::new();
    loop {
        let page = server.call("GET", &format!("/v1/events?limit=1000{cursor}"), None, None);
        assert_eq!(page.status, 200, "{:?}", page.body);
        captures += page.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|event| {
                event["type"] == "wallet_transaction.created"
                    && event["data"]["transaction"]["type"] == "DEBIT"
            })
            .count();
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(captures, 301);
    server.assert_verified();
}

#[test]
fn a_hold_by_model_covers_the_dearest_split_of_its_tokens() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    // Cache writes cost more than plain input, reasoning more than output.
    let reply = server.send(
        "PUT",
        "/v1/prices/m",
        &json!({"currency":"USD","input_per_million":"2.50","cached_input_per_million":"1.25",
            "cache_write_per_million":"3.125","output_per_million":"10","reasoning_per_million":"12",
            "per_request":"0.001"}),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let wallet = server.wallet("10", "0");
    let placed = hold(
        &server,
        &wallet,
        json!({"model":"m","max_input_tokens":1000,"max_output_tokens":1000}),
    );
    // 1000 × 3.125 + 1000 × 12 per million + 0.001 = 0.016125.
    assert_eq!(placed.body["credits"], "0.016125", "{:?}", placed.body);
    let held = id(&placed);
    // The dearest split within the maxima is covered by the hold.
    let captured = capture(
        &server,
        &held,
        json!({"usage":{"cache_write_tokens":1000,"reasoning_tokens":1000}}),
        None,
    );
    assert_eq!(captured.status, 201, "{:?}", captured.body);
    assert_eq!(captured.body["credits"], "0.016125");
    assert_eq!(captured.body["lots"], json!([]), "nothing beyond the hold");
    server.assert_verified();
}
