//! The price book over HTTP and through `tally prices`: versions are
//! immutable and chosen by time, bad input is refused naming the field with
//! nothing written, scopes are enforced, and LiteLLM's price file imports
//! exactly, online and offline, and round-trips through export.

use crate::common::{data_dir, Server, DAY, EPOCH, KEY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn price(input: &str) -> Value {
    json!({
        "currency": "USD",
        "input_per_million": input,
        "cached_input_per_million": "1.25",
        "cache_write_per_million": "3.125",
        "output_per_million": "10.00",
        "reasoning_per_million": "10.00",
        "per_request": "0"
    })
}

#[test]
fn prices_are_immutable_versions_chosen_by_time() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let first = server.send("PUT", "/v1/prices/gpt-4o", &price("2.50"));
    assert_eq!(first.status, 201, "{:?}", first.body);
    let view = &first.body;
    assert!(view["id"].as_str().is_some_and(|id| id.starts_with("prv_")));
    assert_eq!(view["object"], "price");
    assert_eq!(view["model"], "gpt-4o");
    assert_eq!(view["currency"], "USD");
    assert_eq!(view["input_per_million"], "2.5");
    assert_eq!(view["cached_input_per_million"], "1.25");
    assert_eq!(view["cache_write_per_million"], "3.125");
    assert_eq!(view["output_per_million"], "10");
    assert_eq!(view["per_request"], "0");
    assert_eq!(view["effective_from"], EPOCH);
    assert_eq!(view["created_at"], EPOCH);

    // A second PUT is a new version; the first is unchanged.
    server.advance(60);
    let second = server.send("PUT", "/v1/prices/gpt-4o", &price("2.00"));
    assert_eq!(second.status, 201, "{:?}", second.body);
    assert_ne!(second.body["id"], first.body["id"]);
    let current = server.call("GET", "/v1/prices/gpt-4o", None, None);
    assert_eq!(current.status, 200);
    assert_eq!(current.body["id"], second.body["id"]);
    let earlier = server.call("GET", &format!("/v1/prices/gpt-4o?at={EPOCH}"), None, None);
    assert_eq!(
        earlier.body, first.body,
        "?at= an earlier time: that version"
    );
    let before = server.call(
        "GET",
        "/v1/prices/gpt-4o?at=2039-12-31T23:59:59Z",
        None,
        None,
    );
    assert_eq!(before.status, 404);
    assert_eq!(before.code(), "unknown_model");

    // Written ahead of its time: current only from then on.
    let mut future = price("1.50");
    future["effective_from"] = json!("2040-01-02T00:00:00Z");
    let third = server.send("PUT", "/v1/prices/gpt-4o", &future);
    assert_eq!(third.status, 201, "{:?}", third.body);
    let current = server.call("GET", "/v1/prices/gpt-4o", None, None);
    assert_eq!(current.body["id"], second.body["id"]);
    let versions = server.call("GET", "/v1/prices/gpt-4o/versions", None, None);
    assert_eq!(versions.status, 200, "{:?}", versions.body);
    let ids: Vec<&Value> = versions.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert_eq!(
        ids,
        [&third.body["id"], &second.body["id"], &first.body["id"]]
    );
    let page = server.call("GET", "/v1/prices/gpt-4o/versions?limit=2", None, None);
    let cursor = page.body["next_cursor"].as_str().expect("more").to_owned();
    let rest = server.call(
        "GET",
        &format!("/v1/prices/gpt-4o/versions?limit=2&cursor={cursor}"),
        None,
        None,
    );
    assert_eq!(rest.body["data"][0]["id"], first.body["id"]);
    assert_eq!(rest.body["has_more"], false);
    server.advance(DAY);
    let current = server.call("GET", "/v1/prices/gpt-4o", None, None);
    assert_eq!(current.body["id"], third.body["id"]);

    // Defaults: cached input and cache writes at the input price, reasoning
    // at the output price, nothing per request. A '/' in a name is %2F.
    let minimal = json!({"currency":"EUR","input_per_million":"0.3","output_per_million":"2.5"});
    let gemini = server.send("PUT", "/v1/prices/gemini%2Fgemini-2.5-flash", &minimal);
    assert_eq!(gemini.status, 201, "{:?}", gemini.body);
    assert_eq!(gemini.body["model"], "gemini/gemini-2.5-flash");
    assert_eq!(gemini.body["cached_input_per_million"], "0.3");
    assert_eq!(gemini.body["cache_write_per_million"], "0.3");
    assert_eq!(gemini.body["reasoning_per_million"], "2.5");
    assert_eq!(gemini.body["per_request"], "0");
    let read = server.call("GET", "/v1/prices/gemini%2Fgemini-2.5-flash", None, None);
    assert_eq!(read.body, gemini.body);

    let all = server.call("GET", "/v1/prices", None, None);
    let models: Vec<&str> = all.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|v| v["model"].as_str())
        .collect();
    assert_eq!(models, ["gemini/gemini-2.5-flash", "gpt-4o"]);
    assert_eq!(all.body["data"][1]["id"], third.body["id"]);
    let one = server.call("GET", "/v1/prices?limit=1", None, None);
    assert_eq!(one.body["next_cursor"], "gemini/gemini-2.5-flash");
    let next = server.call(
        "GET",
        "/v1/prices?limit=1&cursor=gemini%2Fgemini-2.5-flash",
        None,
        None,
    );
    assert_eq!(next.body["data"][0]["model"], "gpt-4o");
    assert_eq!(next.body["has_more"], false);

    for path in [
        "/v1/prices/gpt-5",
        "/v1/prices/gpt-5/versions",
        "/v1/prices/gpt-4",
    ] {
        let unknown = server.call("GET", path, None, None);
        assert_eq!(unknown.status, 404, "{path}");
        assert_eq!(unknown.code(), "unknown_model", "{path}");
    }

    // Durable: the same book after a restart.
    let before_restart = server.call("GET", "/v1/prices/gpt-4o/versions", None, None);
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start_manual(dir.path(), &[]);
    let after_restart = server.call("GET", "/v1/prices/gpt-4o/versions", None, None);
    assert_eq!(after_restart.body, before_restart.body);
}

#[test]
fn bad_prices_are_refused_naming_the_field_and_write_nothing() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let with = |field: &str, value: Value| {
        let mut body = price("2.50");
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = price("2.50");
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (
            with("input_per_million", json!("-1")),
            "invalid_amount",
            "input_per_million",
        ),
        (
            with("output_per_million", json!("1e3")),
            "invalid_amount",
            "output_per_million",
        ),
        (
            with("cached_input_per_million", json!("0.0000000000001")),
            "invalid_amount",
            "cached_input_per_million",
        ),
        (
            with("per_request", json!("1000001")),
            "invalid_amount",
            "per_request",
        ),
        (
            with("input_per_million", json!(2.5)),
            "invalid_json",
            "input_per_million",
        ),
        (with("currency", json!("XYZ")), "invalid_field", "currency"),
        (with("currency", json!("usd")), "invalid_field", "currency"),
        (without("currency"), "invalid_field", "currency"),
        (
            without("output_per_million"),
            "invalid_amount",
            "output_per_million",
        ),
        (
            with("effective_from", json!("tomorrow")),
            "invalid_field",
            "effective_from",
        ),
        (
            with("effective_from", json!("1969-12-31T23:59:59Z")),
            "invalid_field",
            "effective_from",
        ),
        (with("discount", json!("0.1")), "invalid_json", "discount"),
    ];
    for (body, code, field) in cases {
        let reply = server.send("PUT", "/v1/prices/gpt-bad", &body);
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.code(), code, "{body}: {:?}", reply.body);
        assert_eq!(
            reply.body["error"]["field"], field,
            "{body}: {:?}",
            reply.body
        );
    }
    let spaced = server.send("PUT", "/v1/prices/%20gpt", &price("1"));
    assert_eq!(spaced.status, 400, "{:?}", spaced.body);
    assert_eq!(spaced.body["error"]["field"], "model");
    let bad_at = server.call("GET", "/v1/prices/gpt-bad?at=now", None, None);
    assert_eq!(bad_at.status, 400);
    assert_eq!(bad_at.body["error"]["field"], "at");
    // Nothing was written.
    assert_eq!(
        server.call("GET", "/v1/prices/gpt-bad", None, None).status,
        404
    );
    let all = server.call("GET", "/v1/prices", None, None);
    assert_eq!(all.body["data"], json!([]));
}

#[test]
fn only_write_and_admin_keys_may_write_prices() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let key = |scope: &str| {
        let reply = server.send(
            "POST",
            "/v1/admin/api-keys",
            &json!({"name": scope, "scope": scope}),
        );
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["secret"].as_str().expect("secret").to_owned()
    };
    let as_key = |secret: &str, method: &str, path: &str, body: Option<&Value>| {
        let body = body.map(Value::to_string);
        server
            .raw(
                method,
                path,
                body.as_deref(),
                &[("Authorization", &format!("Bearer {secret}"))],
                None,
            )
            .status
    };
    let (debit, read, write) = (key("debit"), key("read"), key("write"));
    let body = price("2.50");
    assert_eq!(as_key(&debit, "PUT", "/v1/prices/gpt-4o", Some(&body)), 403);
    assert_eq!(as_key(&read, "PUT", "/v1/prices/gpt-4o", Some(&body)), 403);
    assert_eq!(as_key(&write, "PUT", "/v1/prices/gpt-4o", Some(&body)), 201);
    assert_eq!(as_key(KEY, "PUT", "/v1/prices/gpt-4o", Some(&body)), 201);
    for path in [
        "/v1/prices",
        "/v1/prices/gpt-4o",
        "/v1/prices/gpt-4o/versions",
    ] {
        assert_eq!(as_key(&read, "GET", path, None), 200, "{path}");
        assert_eq!(as_key(&write, "GET", path, None), 200, "{path}");
        assert_eq!(as_key(&debit, "GET", path, None), 403, "{path}");
    }
    assert_eq!(
        as_key("nope-0123456789abcdef", "GET", "/v1/prices", None),
        401
    );
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/litellm/model_prices_excerpt.json")
}

/// Runs `tally prices ARGS`; returns (exit code, stderr).
fn prices(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("prices")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tally prices");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn read_json(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("export written");
    serde_json::from_str(&text).expect("export is JSON")
}

/// An export without its effective times (two clocks wrote them).
fn untimed(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|record| {
            let mut record = record.clone();
            record
                .as_object_mut()
                .expect("object")
                .remove("effective_from");
            record
        })
        .collect()
}

#[test]
fn litellm_prices_import_exactly_online_and_offline_and_round_trip() {
    let dir = data_dir();
    let file = fixture();
    let file = file.to_str().expect("path");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    // Offline, into a data folder no server has open.
    let offline = path("offline");
    let (code, summary) = prices(&["import", file, "--data-dir", &offline]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 11 price versions (0 unchanged); skipped 5 entries"),
        "{summary}"
    );
    for skipped in [
        "skipped sample_spec",
        "skipped 1024-x-1024/dall-e-2",
        "skipped aiml/flux/schnell",
        "skipped azure/gpt-image-1: no output_cost_per_token",
        "skipped azure/hd/1024-x-1024/dall-e-3: no input_cost_per_token",
    ] {
        assert!(summary.contains(skipped), "{skipped}: {summary}");
    }
    assert!(
        summary.contains("azure_ai/gpt-5.4-nano"),
        "tiered: {summary}"
    );
    // Again: nothing new.
    let (_, again) = prices(&["import", file, "--data-dir", &offline]);
    assert!(
        again.contains("imported 0 price versions (11 unchanged)"),
        "{again}"
    );
    let offline_export = path("offline.json");
    let (code, err) = prices(&[
        "export",
        "--data-dir",
        &offline,
        "--output",
        &offline_export,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let exported = read_json(Path::new(&offline_export));
    assert_eq!(exported.len(), 11);
    let find = |model: &str| {
        exported
            .iter()
            .find(|record| record["model"] == model)
            .unwrap_or_else(|| panic!("{model} exported"))
            .clone()
    };
    // Exact per-million prices from the per-token literals.
    let expect = [
        ("gpt-4o", ["2.5", "1.25", "2.5", "10", "10"]),
        ("gpt-4o-mini", ["0.15", "0.075", "0.15", "0.6", "0.6"]),
        ("gpt-4.1-nano", ["0.1", "0.025", "0.1", "0.4", "0.4"]),
        (
            "amazon.nova-2-pro-preview-20251202-v1:0",
            ["2.1875", "0.546875", "2.1875", "17.5", "17.5"],
        ),
        (
            "azure/eu/gpt-4o-2024-11-20",
            ["2.75", "2.75", "1.38", "11", "11"],
        ),
        (
            "gemini/gemini-2.5-flash-preview-09-2025",
            ["0.3", "0.075", "0.3", "2.5", "2.5"],
        ),
        (
            "gemini/gemini-flash-lite-latest",
            ["0.1", "0.025", "0.1", "0.4", "0.4"],
        ),
        ("azure_ai/model_router", ["0.14", "0.14", "0.14", "0", "0"]),
        (
            "azure_ai/gpt-5.4-nano",
            ["0.2", "0.02", "0.2", "1.25", "1.25"],
        ),
        ("ai21.j2-mid-v1", ["12.5", "12.5", "12.5", "12.5", "12.5"]),
    ];
    for (model, [input, cached, write, output, reasoning]) in expect {
        let record = find(model);
        assert_eq!(record["currency"], "USD", "{model}");
        assert_eq!(record["input_per_million"], input, "{model}");
        assert_eq!(record["cached_input_per_million"], cached, "{model}");
        assert_eq!(record["cache_write_per_million"], write, "{model}");
        assert_eq!(record["output_per_million"], output, "{model}");
        assert_eq!(record["reasoning_per_million"], reasoning, "{model}");
        assert_eq!(record["per_request"], "0", "{model}");
    }

    // Online, into a running server, then its export.
    let online = path("online");
    let server = Server::start(Path::new(&online));
    let (code, summary) = prices(&["import", file, "--url", &server.base, "--key", KEY]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 11 price versions (0 unchanged)"),
        "{summary}"
    );
    let gpt = server.call("GET", "/v1/prices/gpt-4o", None, None);
    assert_eq!(gpt.body["input_per_million"], "2.5");
    let gemini = server.call(
        "GET",
        "/v1/prices/gemini%2Fgemini-2.5-flash-preview-09-2025",
        None,
        None,
    );
    assert_eq!(
        gemini.body["reasoning_per_million"], "2.5",
        "{:?}",
        gemini.body
    );
    let online_export = path("online.json");
    let (code, err) = prices(&[
        "export",
        "--url",
        &server.base,
        "--key",
        KEY,
        "--output",
        &online_export,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let online_records = read_json(Path::new(&online_export));
    assert_eq!(untimed(&online_records), untimed(&exported));

    // Tally's own form imports back unchanged, effective times included,
    // in JSON and TOML.
    let copy = path("copy");
    let (code, summary) = prices(&["import", &online_export, "--data-dir", &copy]);
    assert_eq!(code, Some(0), "{summary}");
    let copy_toml = path("copy.toml");
    let (code, err) = prices(&["export", "--data-dir", &copy, "--output", &copy_toml]);
    assert_eq!(code, Some(0), "{err}");
    let toml_text = std::fs::read_to_string(&copy_toml).expect("toml");
    assert!(toml_text.contains("[[prices]]"), "{toml_text}");
    let (code, summary) = prices(&["import", &copy_toml, "--url", &server.base, "--key", KEY]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 0 price versions (11 unchanged)"),
        "{summary}"
    );
    let copy_json = path("copy.json");
    prices(&["export", "--data-dir", &copy, "--output", &copy_json]);
    assert_eq!(read_json(Path::new(&copy_json)), online_records);

    // A rejected entry is named and makes the exit code 3; the rest loads.
    let bad = path("bad.json");
    std::fs::write(
        &bad,
        r#"{"ok-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            "bad-model": {"input_cost_per_token": 1e-20, "output_cost_per_token": 2e-06}}"#,
    )
    .expect("write");
    let (code, summary) = prices(&["import", &bad, "--url", &server.base, "--key", KEY]);
    assert_eq!(code, Some(3), "{summary}");
    assert!(
        summary.contains("rejected bad-model: input_cost_per_token 1e-20"),
        "{summary}"
    );
    assert_eq!(
        server.call("GET", "/v1/prices/ok-model", None, None).status,
        200
    );
    assert_eq!(
        server
            .call("GET", "/v1/prices/bad-model", None, None)
            .status,
        404
    );
}
