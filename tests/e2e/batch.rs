//! Batch debits and deposits: one result per item in order, items of one
//! wallet applied in order, each item on its own, keys like the header's.

use crate::common::{data_dir, Server};
use serde_json::Value;

fn statuses(reply: &Value) -> Vec<u64> {
    reply["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["status"].as_u64().expect("status"))
        .collect()
}

#[test]
fn debit_batches_apply_in_order_and_fail_item_by_item() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let a = server.wallet("10", "0");
    let b = server.wallet("1", "0");
    let body = format!(
        r#"{{"items":[
        {{"wallet_id":"{a}","credits":"1","idempotency_key":"k1","metadata":{{"model":"m"}}}},
        {{"wallet_id":"{b}","credits":"5"}},
        {{"wallet_id":"{a}","credits":"2"}},
        {{"wallet_id":"wal_01ARZ3NDEKTSV4RRFFQ69G5FAV","credits":"1"}},
        {{"wallet_id":"{a}","credits":"1","idempotency_key":"k1","metadata":{{"model":"m"}}}},
        {{"wallet_id":"{a}","credits":"1e2"}},
        {{"wallet_id":"{a}","credits":"100"}},
        {{"wallet_id":"{b}","credits":"0.5"}}
    ]}}"#
    );
    let reply = server.call("POST", "/v1/debits/batch", Some(&body), None);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        statuses(&reply.body),
        [201, 402, 201, 404, 201, 400, 402, 201]
    );
    let data = &reply.body["data"];
    assert_eq!(data[0]["transaction"]["sequence"], 2);
    assert_eq!(
        data[2]["transaction"]["sequence"], 3,
        "same wallet, request order"
    );
    assert_eq!(data[4]["replayed"], true);
    assert_eq!(data[4]["transaction"]["id"], data[0]["transaction"]["id"]);
    assert_eq!(data[1]["error"]["code"], "insufficient_credits");
    assert_eq!(data[3]["error"]["code"], "wallet_not_found");
    assert_eq!(data[5]["error"]["code"], "invalid_amount");
    assert_eq!(data[5]["error"]["field"], "credits");
    assert_eq!(reply.body["succeeded"], 4);
    assert_eq!(reply.body["failed"], 4);
    assert_eq!(server.get_wallet(&a)["balance"]["paid_credits"], "7");
    assert_eq!(server.get_wallet(&b)["balance"]["paid_credits"], "0.5");
    // A key used in a batch is the same key as on the single endpoint.
    let single = server.call(
        "POST",
        &format!("/v1/wallets/{a}/debits"),
        Some(r#"{"credits":"1","metadata":{"model":"m"}}"#),
        Some("k1"),
    );
    assert!(single.replayed);
    assert_eq!(single.body["id"], data[0]["transaction"]["id"]);
    server.assert_ledger_matches_balance(&a);
    server.assert_ledger_matches_balance(&b);
}

#[test]
fn deposit_batches_create_users_once_and_replay_whole() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &[("TALLY_BATCH_ITEMS_MAX", "5")]);
    let wallet = server.wallet("0", "0");
    let body = format!(
        r#"{{"items":[
        {{"user":"u1","amount":"10.50","idempotency_key":"inv-1"}},
        {{"user":"u1","amount":"2","idempotency_key":"inv-2","metadata":{{"plan":"pro"}}}},
        {{"wallet_id":"{wallet}","amount":"1.005"}},
        {{"user":"u2","amount":"0"}},
        {{"wallet_id":"{wallet}","amount":"3","idempotency_key":"w-1"}}
    ]}}"#
    );
    let first = server.call("POST", "/v1/deposits/batch", Some(&body), None);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(statuses(&first.body), [201, 201, 400, 400, 201]);
    assert_eq!(first.body["data"][2]["error"]["field"], "amount");
    let balance = server.call("GET", "/v1/user/balance?user=u1", None, None);
    assert_eq!(balance.body["balance"], "12.50");
    let nobody = server.call("GET", "/v1/user/balance?user=u2", None, None);
    assert_eq!(
        nobody.body["wallet_id"],
        Value::Null,
        "a refused first deposit creates no wallet"
    );
    // The same batch again: every success is a replay, nothing is credited twice.
    let again = server.call("POST", "/v1/deposits/batch", Some(&body), None);
    assert_eq!(statuses(&again.body), [201, 201, 400, 400, 201]);
    for index in [0, 1, 4] {
        assert_eq!(again.body["data"][index]["replayed"], true);
        assert_eq!(
            again.body["data"][index]["transaction"]["id"],
            first.body["data"][index]["transaction"]["id"]
        );
    }
    assert_eq!(
        server
            .call("GET", "/v1/user/balance?user=u1", None, None)
            .body["balance"],
        "12.50"
    );
    assert_eq!(server.get_wallet(&wallet)["balance"]["paid_credits"], "3");
    // Over the item limit, or empty: the whole request is refused.
    let six: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"user":"x{i}","amount":"1"}}"#))
        .collect();
    let too_many = server.call(
        "POST",
        "/v1/deposits/batch",
        Some(&format!(r#"{{"items":[{}]}}"#, six.join(","))),
        None,
    );
    assert_eq!((too_many.status, too_many.code()), (400, "invalid_field"));
    assert_eq!(too_many.body["error"]["field"], "items");
    let empty = server.call("POST", "/v1/deposits/batch", Some(r#"{"items":[]}"#), None);
    assert_eq!(empty.status, 400);
    server.assert_ledger_matches_balance(&wallet);
}

/// `"results":"compact"` answers each item with its status, transaction id
/// and replay flag only (issue 10: batch replies without a full view per
/// item); errors keep their full detail; an unknown form is refused.
#[test]
fn compact_results_carry_ids_and_errors_only() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let a = server.wallet("10", "0");
    let body = format!(
        r#"{{"results":"compact","items":[
        {{"wallet_id":"{a}","credits":"1","idempotency_key":"c1"}},
        {{"wallet_id":"{a}","credits":"100"}},
        {{"wallet_id":"{a}","credits":"1","idempotency_key":"c1"}}
    ]}}"#
    );
    let reply = server.call("POST", "/v1/debits/batch", Some(&body), None);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(statuses(&reply.body), [201, 402, 201]);
    let data = &reply.body["data"];
    let id = data[0]["transaction_id"].as_str().expect("id");
    assert!(id.starts_with("txn_"), "{id}");
    assert!(data[0].get("transaction").is_none(), "{:?}", data[0]);
    assert_eq!(data[0]["replayed"], false);
    assert_eq!(data[0]["wallet_id"], a.as_str());
    assert_eq!(data[2]["transaction_id"], id);
    assert_eq!(data[2]["replayed"], true);
    assert_eq!(data[1]["error"]["code"], "insufficient_credits");
    assert_eq!(server.ledger(&a)[0]["id"], id);

    let bad = server.call(
        "POST",
        "/v1/debits/batch",
        Some(&format!(
            r#"{{"results":"tiny","items":[{{"wallet_id":"{a}","credits":"1"}}]}}"#
        )),
        None,
    );
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert_eq!(bad.body["error"]["field"], "results");
    assert_eq!(server.ledger(&a).len(), 2, "nothing applied");
}

#[test]
fn batch_bodies_in_flight_are_bounded_in_bytes() {
    use std::io::{Read, Write};
    let dir = data_dir();
    let server = Server::start_with(
        dir.path(),
        &[
            ("TALLY_BATCH_BODY_LIMIT_BYTES", "4096"),
            ("TALLY_BATCH_BYTES_IN_FLIGHT_MAX", "6000"),
        ],
    );
    let key = crate::common::KEY;
    // A 3,000-byte batch (padded with JSON whitespace) for an unknown wallet:
    // served, it is a 200 with one 404 item and changes nothing.
    let item = r#"{"items":[{"wallet_id":"wal_01ARZ3NDEKTSV4RRFFQ69G5FAV","credits":"1"}]}"#;
    let body = format!("{item}{}", " ".repeat(3000 - item.len()));
    let send = || server.call("POST", "/v1/debits/batch", Some(&body), None);
    assert_eq!(send().status, 200);
    // A client declares a 4,000-byte batch, sends 10 bytes of it and stalls:
    // it holds 4,000 bytes of the budget; 4,000 + 3,000 > 6,000.
    let address = server.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/debits/batch HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{{\"items\":"
    );
    let stall = || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(head.as_bytes()).expect("write");
        stream
    };
    // The stalled batch has an answer already only if it lost the race for
    // the budget to one of the probes below (then it was refused at once).
    let answered = |stream: &std::net::TcpStream| {
        stream.set_nonblocking(true).expect("nonblocking");
        let answered = matches!(stream.peek(&mut [0u8; 1]), Ok(n) if n > 0);
        stream.set_nonblocking(false).expect("blocking");
        answered
    };
    let mut stalled = stall();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let refused = loop {
        let reply = send();
        if reply.status == 503 {
            break reply;
        }
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled batch never held its bytes"
        );
        if answered(&stalled) {
            stalled = stall();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(refused.code(), "overloaded");
    // Retry-After is on the raw reply.
    let mut probe = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        probe,
        "POST /v1/debits/batch HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    probe
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = probe.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    // Small batches still fit beside the stalled one.
    let small = server.call("POST", "/v1/debits/batch", Some(item), None);
    assert_eq!(small.status, 200, "{:?}", small.body);
    // The client goes away: its bytes are released.
    drop(stalled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while send().status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned batch kept its bytes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
