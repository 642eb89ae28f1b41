//! Scoped API keys: created by `tally keys` (offline) or the admin API,
//! enforced per route, listed without secrets, revoked with no restart.

use crate::common::{data_dir, Server};
use std::process::Command;

fn as_key(server: &Server, key: &str, method: &str, path: &str, body: Option<&str>) -> u16 {
    server
        .raw(
            method,
            path,
            body,
            &[("Authorization", &format!("Bearer {key}"))],
            None,
        )
        .status
}

#[test]
fn scoped_keys_are_enforced_listed_and_revoked_live() {
    let dir = data_dir();
    // Created offline, before the server starts.
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args([
            "keys",
            "create",
            "--name",
            "gateway",
            "--scope",
            "debit",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("tally keys create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let debit_key = stdout
        .lines()
        .find_map(|line| line.strip_prefix("secret (shown once): "))
        .expect("secret printed")
        .to_owned();
    let server = Server::start(dir.path());
    let id = server.wallet("10", "0");
    let wallet = format!("/v1/wallets/{id}");
    let debits = format!("{wallet}/debits");
    let txns = format!("{wallet}/wallet-transactions");
    // debit: debits and balance reads only.
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &debits,
            Some(r#"{"credits":"1"}"#)
        ),
        201
    );
    assert_eq!(as_key(&server, &debit_key, "GET", &wallet, None), 200);
    // debit also covers what a gateway holds: holds, captures, releases,
    // reading holds and priced usage; prices need write.
    let held = server.raw(
        "POST",
        &format!("{wallet}/holds"),
        Some(r#"{"credits":"1"}"#),
        &[("Authorization", &format!("Bearer {debit_key}"))],
        None,
    );
    assert_eq!(held.status, 201, "{:?}", held.body);
    let hold = format!("/v1/holds/{}", held.body["id"].as_str().expect("id"));
    assert_eq!(as_key(&server, &debit_key, "GET", &hold, None), 200);
    assert_eq!(
        as_key(&server, &debit_key, "GET", &format!("{wallet}/holds"), None),
        200
    );
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &format!("{hold}/capture"),
            Some("{}")
        ),
        201
    );
    let second = server.raw(
        "POST",
        &format!("{wallet}/holds"),
        Some(r#"{"credits":"1"}"#),
        &[("Authorization", &format!("Bearer {debit_key}"))],
        None,
    );
    let second = format!("/v1/holds/{}", second.body["id"].as_str().expect("id"));
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &format!("{second}/release"),
            None
        ),
        201
    );
    let price = r#"{"currency":"USD","input_per_million":"1","cached_input_per_million":"0","cache_write_per_million":"0","output_per_million":"1","reasoning_per_million":"1","per_request":"0"}"#;
    assert_eq!(
        as_key(&server, &debit_key, "PUT", "/v1/prices/m", Some(price)),
        403
    );
    assert_eq!(
        server.call("PUT", "/v1/prices/m", Some(price), None).status,
        201
    );
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &format!("{wallet}/usage"),
            Some(r#"{"model":"m","input_tokens":5}"#)
        ),
        201
    );
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &txns,
            Some(r#"{"type":"TOPUP","paid_credits":"1"}"#)
        ),
        403
    );
    assert_eq!(as_key(&server, &debit_key, "GET", &txns, None), 403);
    let create = r#"{"external_customer_id":"c","currency":"USD","rate_amount":"1"}"#;
    assert_eq!(
        as_key(&server, &debit_key, "POST", "/v1/wallets", Some(create)),
        403
    );
    let forbidden = server.raw(
        "POST",
        &txns,
        Some("{}"),
        &[("Authorization", &format!("Bearer {debit_key}"))],
        None,
    );
    assert_eq!(forbidden.code(), "forbidden");
    // Created online by the admin (bootstrap) key.
    let made = server.call(
        "POST",
        "/v1/admin/api-keys",
        Some(r#"{"name":"dashboard","scope":"read"}"#),
        None,
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    let read_key = made.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let read_id = made.body["id"].as_str().expect("id").to_owned();
    assert_eq!(as_key(&server, &read_key, "GET", &txns, None), 200);
    assert_eq!(
        as_key(
            &server,
            &read_key,
            "POST",
            &debits,
            Some(r#"{"credits":"1"}"#)
        ),
        403
    );
    assert_eq!(
        as_key(&server, &read_key, "GET", "/v1/admin/verify", None),
        403
    );
    let bad_scope = server.call(
        "POST",
        "/v1/admin/api-keys",
        Some(r#"{"name":"x","scope":"root"}"#),
        None,
    );
    assert_eq!(
        (bad_scope.status, bad_scope.body["error"]["field"].as_str()),
        (400, Some("scope"))
    );
    // Listed by prefix, never with a secret.
    let listed = server.call(
        "GET",
        &format!("/v1/admin/api-keys?prefix=tally_{}", &read_id[..4]),
        None,
        None,
    );
    let data = listed.body["data"].as_array().expect("data");
    assert!(data.iter().any(|key| key["id"] == read_id.as_str()));
    assert!(data
        .iter()
        .all(|key| key.get("secret").is_none() && key.get("digest").is_none()));
    // Revoked: refused at once, no restart.
    let debit_id = debit_key.split('_').nth(1).expect("id").to_owned();
    let revoked = server.call(
        "DELETE",
        &format!("/v1/admin/api-keys/{debit_id}"),
        None,
        None,
    );
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(
        as_key(
            &server,
            &debit_key,
            "POST",
            &debits,
            Some(r#"{"credits":"1"}"#)
        ),
        401
    );
    assert_eq!(
        server
            .call("DELETE", "/v1/admin/api-keys/00000000", None, None)
            .status,
        404
    );
    // Keys and revocations survive a restart.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(as_key(&server, &read_key, "GET", &wallet, None), 200);
    assert_eq!(as_key(&server, &debit_key, "GET", &wallet, None), 401);
    // 10 − the debit (1) − the whole-hold capture (1) − usage (5 tokens at 1
    // per million: 0.000005).
    assert_eq!(
        server.get_wallet(&id)["balance"]["paid_credits"],
        "7.999995"
    );
}

#[test]
fn an_empty_or_short_api_key_file_stops_the_start() {
    for content in ["", " \n\t\n", "short-key\n"] {
        let dir = data_dir();
        let key_file = dir.path().join("api_key");
        std::fs::write(&key_file, content).expect("write the key file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
            .env("TALLY_LISTEN", "127.0.0.1:0")
            .env("TALLY_DATA_DIR", dir.path())
            .env_remove("TALLY_API_KEY")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tally");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tally started with the key file {content:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("read stderr");
        assert!(!status.success(), "{content:?}: {stderr}");
        assert!(
            stderr.contains(&key_file.display().to_string()),
            "the error names the file: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&key_file).expect("still there"),
            content,
            "the file is left for the operator to fix"
        );
    }
}

#[test]
fn created_key_ids_have_96_bits_and_concurrent_creations_all_survive() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let made: Vec<(String, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let server = &server;
                scope.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let body = format!(r#"{{"name":"k{worker}_{i}","scope":"read"}}"#);
                            let reply =
                                server.call("POST", "/v1/admin/api-keys", Some(&body), None);
                            assert_eq!(reply.status, 201, "{:?}", reply.body);
                            let id = reply.body["id"].as_str().expect("id").to_owned();
                            let secret = reply.body["secret"].as_str().expect("secret").to_owned();
                            (id, secret)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("worker"))
            .collect()
    });
    for (id, secret) in &made {
        assert_eq!(id.len(), 24, "96 random bits as hex: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(secret.starts_with(&format!("tally_{id}_")), "{secret}");
    }
    let listed = server.call("GET", "/v1/admin/api-keys", None, None);
    assert_eq!(
        listed.body["data"].as_array().expect("data").len(),
        made.len(),
        "every created key is stored"
    );
    for (_, secret) in &made {
        assert_eq!(as_key(&server, secret, "GET", "/v1/events", None), 200);
    }
}
