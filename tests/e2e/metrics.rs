//! `/metrics` moves by exactly what the traffic did.

use crate::common::{data_dir, Server};

/// Reads every sample of the exposition into (name{labels}, value).
fn scrape(server: &Server) -> std::collections::HashMap<String, f64> {
    server
        .metrics_text()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn delta(
    before: &std::collections::HashMap<String, f64>,
    after: &std::collections::HashMap<String, f64>,
    name: &str,
) -> f64 {
    after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
}

#[test]
fn metrics_count_what_the_traffic_did() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("10", "2");
    let before = scrape(&server);
    let debits = format!("/v1/wallets/{id}/debits");
    let txns = format!("/v1/wallets/{id}/wallet-transactions");
    assert_eq!(
        server
            .call("POST", &debits, Some(r#"{"credits":"1.5"}"#), Some("a"))
            .status,
        201
    );
    assert_eq!(
        server
            .call("POST", &debits, Some(r#"{"credits":"1.5"}"#), Some("a"))
            .status,
        201
    );
    assert_eq!(
        server
            .call("POST", &debits, Some(r#"{"credits":"0.5"}"#), None)
            .status,
        201
    );
    assert_eq!(
        server
            .call("POST", &debits, Some(r#"{"credits":"999"}"#), None)
            .status,
        402
    );
    assert_eq!(
        server
            .call(
                "POST",
                &txns,
                Some(r#"{"type":"TOPUP","paid_credits":"4"}"#),
                None
            )
            .status,
        201
    );
    assert_eq!(
        server
            .call(
                "POST",
                &txns,
                Some(r#"{"type":"VOID","credits_to_void":"1"}"#),
                None
            )
            .status,
        201
    );
    let after = scrape(&server);
    let check = |name: &str, expect: f64| {
        let got = delta(&before, &after, name);
        assert!(
            (got - expect).abs() < 1e-9,
            "{name}: moved {got}, expected {expect}"
        );
    };
    check(
        r#"tally_wallet_operations_total{kind="DEBIT",outcome="ok"}"#,
        2.0,
    );
    check(
        r#"tally_wallet_operations_total{kind="DEBIT",outcome="replayed"}"#,
        1.0,
    );
    check(
        r#"tally_wallet_operations_total{kind="DEBIT",outcome="insufficient_credits"}"#,
        1.0,
    );
    check(
        r#"tally_wallet_operations_total{kind="TOPUP",outcome="ok"}"#,
        1.0,
    );
    check(
        r#"tally_wallet_operations_total{kind="VOID",outcome="ok"}"#,
        1.0,
    );
    check("tally_insufficient_credits_total", 1.0);
    check("tally_idempotent_replays_total", 1.0);
    check(r#"tally_wallet_credits_total{kind="DEBIT"}"#, 2.0);
    check(r#"tally_wallet_credits_total{kind="TOPUP"}"#, 4.0);
    check(r#"tally_wallet_credits_total{kind="VOID"}"#, 1.0);
    check(
        r#"tally_http_requests_total{method="POST",route="/v1/wallets/{id}/debits",status="201"}"#,
        3.0,
    );
    check(
        r#"tally_http_requests_total{method="POST",route="/v1/wallets/{id}/debits",status="402"}"#,
        1.0,
    );
    // Four durable changes (2 debits, top-up, void); each was in some group.
    let commits = delta(&before, &after, "tally_commit_group_size_sum");
    assert!(
        (4.0..=6.0).contains(&commits),
        "commit group items {commits}"
    );
    assert!(delta(&before, &after, "tally_commit_sync_seconds_count") >= 1.0);
    assert_eq!(after.get("tally_wallet_actors_resident"), Some(&1.0));
    assert_eq!(after.get("tally_wallet_mailbox_depth"), Some(&0.0));
    assert!(after
        .keys()
        .any(|name| name.starts_with("tally_store_bytes{")));
    assert!(after.contains_key("process_resident_memory_bytes"));
}

#[test]
fn the_openapi_document_is_served_and_describes_every_route() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let reply = server.raw("GET", "/openapi.json", None, &[], None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["openapi"], "3.1.0");
    let paths = reply.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/wallets", "post"),
        ("/v1/wallets", "get"),
        ("/v1/wallets/{id}", "get"),
        ("/v1/wallets/{id}", "delete"),
        ("/v1/wallets/{id}/activate", "post"),
        ("/v1/wallets/{id}/wallet-transactions", "post"),
        ("/v1/wallets/{id}/wallet-transactions", "get"),
        ("/v1/wallets/{id}/debits", "post"),
        ("/v1/user/balance/deposit", "post"),
        ("/v1/user/balance", "get"),
        ("/v1/debits/batch", "post"),
        ("/v1/deposits/batch", "post"),
        ("/v1/topups/batch", "post"),
        ("/v1/admin/verify", "get"),
        ("/v1/admin/api-keys", "post"),
        ("/v1/admin/api-keys", "get"),
        ("/v1/admin/api-keys/{id}", "delete"),
        ("/v1/prices", "get"),
        ("/v1/prices/{model}", "put"),
        ("/v1/prices/{model}", "get"),
        ("/v1/prices/{model}/versions", "get"),
        ("/health", "get"),
        ("/metrics", "get"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        if path.starts_with("/v1/") {
            for status in ["400", "401", "403", "404", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    let debit = &paths["/v1/wallets/{id}/debits"]["post"];
    assert!(debit["responses"]["402"].is_object());
    let schemas = &reply.body["components"]["schemas"];
    let credits = &schemas["Debit"]["properties"]["credits"]["$ref"];
    assert_eq!(credits, "#/components/schemas/DecimalText");
    assert_eq!(
        schemas["DecimalText"]["type"], "string",
        "amounts are strings"
    );
    assert!(schemas["DecimalText"]["pattern"].is_string());
}

/// The `tally_http_*` series in the exposition (one line per series).
fn http_series(server: &Server) -> Vec<String> {
    server
        .metrics_text()
        .lines()
        .filter(|line| line.starts_with("tally_http_"))
        .filter_map(|line| line.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let auth = format!("Bearer {}", crate::common::KEY);
    // One of each kind first, so every bounded label value already exists;
    // two scrapes, so the scrape's own series exists too.
    let warm_up = |i: usize| {
        server.raw(&format!("M{i}"), "/health", None, &[], None);
        server.raw(&format!("X{i}"), &format!("/nope/{i}"), None, &[], None);
        server.raw("GET", &format!("/nope/{i}"), None, &[], None);
        server.raw("GET", &format!("/v1/nope/{i}"), None, &[], None);
        server.raw(
            "GET",
            &format!("/v1/nope/{i}"),
            None,
            &[("Authorization", &auth)],
            None,
        );
    };
    warm_up(0);
    http_series(&server);
    let before = http_series(&server);
    for i in 1..=60 {
        warm_up(i);
    }
    let after = http_series(&server);
    assert_eq!(
        before.len(),
        after.len(),
        "new series: {:?}",
        after
            .iter()
            .filter(|series| !before.contains(series))
            .collect::<Vec<_>>()
    );
    let text = server.metrics_text();
    assert!(
        text.contains(r#"method="other",route="/health",status="405""#),
        "{text}"
    );
    assert!(
        text.contains(r#"method="other",route="unmatched",status="404""#),
        "{text}"
    );
    assert!(!text.contains("M1") && !text.contains("/nope/"), "{text}");
}
