//! Every bad input gets its documented status and code, names its field
//! where there is one, and changes nothing.

use crate::common::{data_dir, Server, KEY};

struct Case {
    method: &'static str,
    path: String,
    body: Option<String>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(
    method: &'static str,
    path: &str,
    body: Option<&str>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        body: body.map(str::to_owned),
        status,
        code,
        field,
    }
}

#[test]
fn bad_requests_get_their_documented_error_and_change_nothing() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("5", "1");
    let debits = format!("/v1/wallets/{id}/debits");
    let txns = format!("/v1/wallets/{id}/wallet-transactions");
    let many_pairs: Vec<String> = (0..16)
        .map(|i| format!(r#"{{"key":"k{i}","value":"v"}}"#))
        .collect();
    let many_pairs = format!(
        r#"{{"type":"TOPUP","paid_credits":"1","metadata":[{}]}}"#,
        many_pairs.join(",")
    );
    let long_value = format!(
        r#"{{"credits":"1","metadata":{{"note":"{}"}}}}"#,
        "x".repeat(300)
    );
    let unknown = "wal_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let cases = vec![
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"#),
            400,
            "invalid_json",
            Some("credits"),
        ),
        case("POST", &debits, Some(""), 400, "invalid_json", None),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":5}"#),
            400,
            "invalid_json",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"1e3"}"#),
            400,
            "invalid_amount",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"-1"}"#),
            400,
            "invalid_amount",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":" 1"}"#),
            400,
            "invalid_amount",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"0.0000000001"}"#),
            400,
            "invalid_amount",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"0"}"#),
            400,
            "invalid_amount",
            Some("credits"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"1","extra":true}"#),
            400,
            "invalid_json",
            Some("extra"),
        ),
        case(
            "POST",
            &debits,
            Some(&long_value),
            400,
            "invalid_field",
            Some("metadata value"),
        ),
        case(
            "POST",
            &debits,
            Some(r#"{"credits":"6.000000001"}"#),
            402,
            "insufficient_credits",
            None,
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"VOID","credits_to_void":"7"}"#),
            402,
            "insufficient_credits",
            None,
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"REFUND","paid_credits":"1"}"#),
            400,
            "invalid_field",
            Some("type"),
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"TOPUP"}"#),
            400,
            "invalid_amount",
            Some("paid_credits"),
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"TOPUP","paid_credits":"1.5e2"}"#),
            400,
            "invalid_amount",
            Some("paid_credits"),
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"TOPUP","granted_credits":-1}"#),
            400,
            "invalid_json",
            Some("granted_credits"),
        ),
        case(
            "POST",
            &txns,
            Some(r#"{"type":"VOID"}"#),
            400,
            "invalid_amount",
            Some("credits_to_void"),
        ),
        case(
            "POST",
            &txns,
            Some(&many_pairs),
            400,
            "invalid_field",
            Some("metadata"),
        ),
        case(
            "POST",
            &format!("/v1/wallets/{unknown}/debits"),
            Some(r#"{"credits":"1"}"#),
            404,
            "wallet_not_found",
            None,
        ),
        case(
            "POST",
            "/v1/wallets/not-a-wallet/debits",
            Some(r#"{"credits":"1"}"#),
            404,
            "wallet_not_found",
            None,
        ),
        case(
            "GET",
            &format!("/v1/wallets/{unknown}"),
            None,
            404,
            "wallet_not_found",
            None,
        ),
        case(
            "GET",
            &format!("/v1/wallets/{unknown}/wallet-transactions"),
            None,
            404,
            "wallet_not_found",
            None,
        ),
        case(
            "GET",
            "/v1/nothing-here",
            None,
            404,
            "route_not_found",
            None,
        ),
        case(
            "PATCH",
            &format!("/v1/wallets/{id}"),
            Some("{}"),
            405,
            "method_not_allowed",
            None,
        ),
        case(
            "GET",
            "/v1/wallets?status=closed",
            None,
            400,
            "invalid_field",
            Some("status"),
        ),
        case(
            "POST",
            &format!("/v1/wallets/{id}/debits"),
            Some(r#"{"credits":"1","fee_type":"TAX"}"#),
            400,
            "invalid_field",
            Some("fee_type"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(r#"{"expiration_at":"2001-01-01T00:00:00Z"}"#),
            400,
            "invalid_field",
            Some("expiration_at"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(r#"{"expiration_at":"next tuesday"}"#),
            400,
            "invalid_field",
            Some("expiration_at"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(r#"{"rate_amount":"2"}"#),
            400,
            "invalid_json",
            Some("rate_amount"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(r#"{"applies_to":{"fee_types":[]}}"#),
            400,
            "invalid_field",
            Some("applies_to.fee_types"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(
                r#"{"recurring_transaction_rules":[{"method":"DOUBLE","trigger":"INTERVAL","interval":"weekly","paid_credits":"1"}]}"#,
            ),
            400,
            "invalid_field",
            Some("recurring_transaction_rules[0].method"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(r#"{"recurring_transaction_rules":[{"method":"FIXED","trigger":"THRESHOLD"}]}"#),
            400,
            "invalid_amount",
            Some("recurring_transaction_rules[0].threshold_credits"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(
                r#"{"recurring_transaction_rules":[{"method":"TARGET","trigger":"INTERVAL","interval":"daily","target_ongoing_balance":"5"}]}"#,
            ),
            400,
            "invalid_field",
            Some("recurring_transaction_rules[0].interval"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(
                r#"{"recurring_transaction_rules":[{"method":"FIXED","trigger":"INTERVAL","interval":"weekly"}]}"#,
            ),
            400,
            "invalid_field",
            Some("recurring_transaction_rules[0].paid_credits"),
        ),
        case(
            "PUT",
            &format!("/v1/wallets/{id}"),
            Some(
                r#"{"recurring_transaction_rules":[{"method":"TARGET","trigger":"THRESHOLD","threshold_credits":"1"}]}"#,
            ),
            400,
            "invalid_field",
            Some("recurring_transaction_rules[0].target_ongoing_balance"),
        ),
        case(
            "POST",
            &format!("/v1/wallets/{id}/wallet-transactions"),
            Some(r#"{"type":"VOID","credits_to_void":"1","lot_id":999}"#),
            404,
            "lot_not_found",
            Some("lot_id"),
        ),
        case(
            "POST",
            &format!("/v1/wallets/{id}/wallet-transactions"),
            Some(r#"{"type":"TOPUP","paid_credits":"1","expires_at":"2001-01-01T00:00:00Z"}"#),
            400,
            "invalid_field",
            Some("expires_at"),
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(r#"{"external_customer_id":"c","currency":"XYZ","rate_amount":"1"}"#),
            400,
            "invalid_field",
            Some("currency"),
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(r#"{"external_customer_id":"c","currency":"usd","rate_amount":"1"}"#),
            400,
            "invalid_field",
            Some("currency"),
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(r#"{"external_customer_id":"c","currency":"USD","rate_amount":"0"}"#),
            400,
            "invalid_amount",
            Some("rate_amount"),
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(r#"{"external_customer_id":"","currency":"USD","rate_amount":"1"}"#),
            400,
            "invalid_field",
            Some("external_customer_id"),
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(r#"{"currency":"USD","rate_amount":"1"}"#),
            400,
            "invalid_json",
            None,
        ),
        case(
            "POST",
            "/v1/wallets",
            Some(
                r#"{"external_customer_id":"c","currency":"USD","rate_amount":"1","paid_credits":"1.0000000001"}"#,
            ),
            400,
            "invalid_amount",
            Some("paid_credits"),
        ),
        case(
            "POST",
            "/v1/user/balance/deposit",
            Some(r#"{"user":"u","amount":"10.001"}"#),
            400,
            "invalid_amount",
            Some("amount"),
        ),
        case(
            "POST",
            "/v1/user/balance/deposit",
            Some(r#"{"user":"u","amount":10}"#),
            400,
            "invalid_json",
            Some("amount"),
        ),
        case(
            "GET",
            "/v1/user/balance",
            None,
            400,
            "invalid_field",
            Some("user"),
        ),
    ];
    let before = server.get_wallet(&id);
    for case in &cases {
        let reply = server.call(case.method, &case.path, case.body.as_deref(), None);
        let label = format!("{} {} {:?}", case.method, case.path, case.body);
        assert_eq!(reply.status, case.status, "{label}: {:?}", reply.body);
        assert_eq!(reply.code(), case.code, "{label}");
        assert_eq!(reply.body["error"]["field"].as_str(), case.field, "{label}");
        assert!(
            !reply.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{label}"
        );
    }
    assert_eq!(
        server.get_wallet(&id),
        before,
        "no bad request changed the wallet"
    );
    let list = server.call("GET", "/v1/wallets?external_customer_id=c", None, None);
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(0),
        "no bad create made a wallet"
    );
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn auth_body_size_and_headers_are_enforced() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &[("TALLY_BODY_LIMIT_BYTES", "1024")]);
    let id = server.wallet("5", "0");
    let debits = format!("/v1/wallets/{id}/debits");
    let body = r#"{"credits":"1"}"#;
    let missing = server.raw("POST", &debits, Some(body), &[], None);
    assert_eq!((missing.status, missing.code()), (401, "unauthorized"));
    let wrong = server.raw(
        "POST",
        &debits,
        Some(body),
        &[("Authorization", "Bearer wrong-key")],
        None,
    );
    assert_eq!((wrong.status, wrong.code()), (401, "unauthorized"));
    let basic = server.raw(
        "POST",
        &debits,
        Some(body),
        &[("Authorization", &format!("Basic {KEY}"))],
        None,
    );
    assert_eq!(basic.status, 401);
    let big = format!(
        r#"{{"credits":"1","metadata":{{"note":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let too_big = server.call("POST", &debits, Some(&big), None);
    assert_eq!((too_big.status, too_big.code()), (413, "payload_too_large"));
    let long_key = "k".repeat(256);
    let bad_key = server.call("POST", &debits, Some(body), Some(&long_key));
    assert_eq!(
        (bad_key.status, bad_key.code()),
        (400, "invalid_idempotency_key")
    );
    assert_eq!(server.get_wallet(&id)["sequence"], 1);
    // Health and metrics need no key.
    let health = server.raw("GET", "/health", None, &[], None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let metrics = server.raw("GET", "/metrics", None, &[], None);
    assert_eq!(metrics.status, 200);
}

#[test]
fn slow_bodies_time_out_and_the_in_flight_limit_sheds_load() {
    use std::io::{Read, Write};
    let dir = data_dir();
    let server = Server::start_with(
        dir.path(),
        &[
            ("TALLY_IN_FLIGHT_REQUESTS_MAX", "1"),
            ("TALLY_CLIENT_TIMEOUT_MS", "1500"),
        ],
    );
    let id = server.wallet("5", "0");
    // A client that sends its head and one byte of a 100-byte body, then stalls.
    let address = server.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/wallets/{id}/debits HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {KEY}\r\nContent-Length: 100\r\n\r\n{{"
    );
    let stall = || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(head.as_bytes()).expect("write");
        stream
    };
    // The stalled request already has an answer only if it lost the race for
    // the slot to a health poll (then it was refused at once).
    let answered = |stream: &std::net::TcpStream| {
        stream.set_nonblocking(true).expect("nonblocking");
        let answered = matches!(stream.peek(&mut [0u8; 1]), Ok(n) if n > 0);
        stream.set_nonblocking(false).expect("blocking");
        answered
    };
    let mut slow = stall();
    // It holds the only slot: wait (bounded) until the server says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let health = server.raw("GET", "/health", None, &[], None);
        if health.status == 503 {
            assert_eq!(health.code(), "overloaded");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow request never held the slot"
        );
        if answered(&slow) {
            slow = stall();
        }
    }
    let shed = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1"}"#),
        None,
    );
    assert_eq!((shed.status, shed.code()), (503, "overloaded"));
    // The stalled body times out with 408 and frees the slot.
    let mut answer = String::new();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let served = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1"}"#),
        None,
    );
    assert_eq!(served.status, 201);
    assert_eq!(
        server.get_wallet(&id)["sequence"],
        2,
        "neither refused request changed anything"
    );
}
