//! Upgrading data on disk (issue 10): the committed format-2 folder
//! (`tests/fixtures/v2-data`, written by the format-2 binary) is refused at
//! startup with a clear message, migrated by `tally migrate`, verified, and
//! then served exactly as the format-2 server showed it: wallets, ledgers,
//! events, API keys, idempotency records of every scope and the schedule.

use crate::common::{data_dir, verify_offline, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// When the fixture's server stopped (its manual clock).
const FIXTURE_NOW: &str = "2040-01-08T00:01:00Z";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A copy of the fixture folder: the committed one is never touched.
fn copy_fixture(into: &Path) -> PathBuf {
    let data = into.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    for file in std::fs::read_dir(fixture().join("v2-data")).expect("fixture") {
        let file = file.expect("entry");
        std::fs::copy(file.path(), data.join(file.file_name())).expect("copy");
    }
    // The data lives in the write-ahead log: without it the folder is an
    // empty store, which a server would simply start serving.
    assert!(
        data.join("000004.log").exists(),
        "the fixture's WAL is missing (check .gitignore)"
    );
    data
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture().join("v2-data.expected.json")).expect("read");
    serde_json::from_str(&text).expect("json")
}

fn tally(args: &[&str], data: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .args(args)
        .env("TALLY_DATA_DIR", data)
        .env("TALLY_LISTEN", "127.0.0.1:0")
        .env("TALLY_API_KEY", crate::common::KEY)
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run tally")
}

#[test]
fn a_format_2_folder_is_refused_then_migrated_and_served_unchanged() {
    let dir = data_dir();
    let data = copy_fixture(dir.path());

    // Serving it as it is: refused, with the way out named, nothing changed.
    let refused = tally(&[], &data, &[]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("format 2") && message.contains("tally migrate"),
        "{message}"
    );

    let migrated = tally(&["migrate"], &data, &[]);
    let stdout = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(stdout.contains("1 interval keys made internal"), "{stdout}");
    assert!(stdout.contains("3 user deposit keys moved"), "{stdout}");
    assert!(dir
        .path()
        .join("data.format2-backup")
        .join("CURRENT")
        .exists());
    let (code, report) = verify_offline(&data);
    assert_eq!(code, Some(0), "{report}");
    // A second migration finds nothing to do in format 3.
    let again = tally(&["migrate"], &data, &[]);
    assert!(!again.status.success());

    // The fixture's keys were made a week before it stopped: keep them live.
    let server = Server::start_with(
        &data,
        &[
            ("TALLY_CLOCK", "manual"),
            ("TALLY_IDEMPOTENCY_TTL_HOURS", "720"),
        ],
    );
    server.set_clock(FIXTURE_NOW);
    let expected = expected();
    for (id, wallet) in expected["wallets"].as_object().expect("wallets") {
        let view = server.get_wallet(id);
        assert_eq!(as_before(&view), wallet["wallet"], "wallet {id}");
        let ledger = server.call(
            "GET",
            &format!("/v1/wallets/{id}/wallet-transactions?limit=1000"),
            None,
            None,
        );
        assert_eq!(
            as_before(&ledger.body["data"]),
            wallet["ledger"],
            "ledger of {id}"
        );
        // Every migrated entry is in the global transaction index.
        for entry in ledger.body["data"].as_array().expect("entries") {
            let txn = entry["id"].as_str().expect("id");
            let found = server.call("GET", &format!("/v1/transactions/{txn}"), None, None);
            assert_eq!(as_before(&found.body), as_before(entry), "{txn}");
        }
    }
    let events = server.call("GET", "/v1/events?limit=1000", None, None);
    assert_eq!(as_before(&events.body["data"]), expected["events"]);
    let keys = server.call("GET", "/v1/admin/api-keys", None, None);
    assert_eq!(keys.body["data"], expected["api_keys"]);

    // Idempotency records of every scope still answer as replays.
    let main = expected["main"].as_str().expect("main");
    let debit = server.call(
        "POST",
        &format!("/v1/wallets/{main}/debits"),
        Some(r#"{"credits":"1.5","metadata":{"model":"gpt-4o"}}"#),
        Some("debit-1"),
    );
    assert!(debit.replayed, "{:?}", debit.body);
    let deposit = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(r#"{"user":"user_1","amount":"10.25","metadata":{"reason":"signup"}}"#),
        Some("dep-1"),
    );
    assert!(deposit.replayed, "{:?}", deposit.body);
    // The user's key now belongs to the wallet: the same deposit by id.
    let user_wallet = expected["users"]["user_1"].as_str().expect("wallet");
    let by_id = server.call(
        "POST",
        "/v1/deposits/batch",
        Some(&format!(
            r#"{{"items":[{{"wallet_id":"{user_wallet}","amount":"10.25","metadata":{{"reason":"signup"}},"idempotency_key":"dep-1"}}]}}"#
        )),
        None,
    );
    assert_eq!(by_id.body["data"][0]["replayed"], true, "{:?}", by_id.body);
    assert_eq!(
        by_id.body["data"][0]["transaction"]["id"],
        deposit.body["id"]
    );
    // user_2 used "dep-1" for another deposit: its own wallet, its own key.
    let other = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(r#"{"user":"user_2","amount":"3.5"}"#),
        Some("dep-1"),
    );
    assert!(other.replayed, "{:?}", other.body);

    // The schedule survived: a week on, the weekly rule fires once more.
    let before = server.ledger(main).len();
    server.advance(7 * crate::common::DAY);
    let ledger = server.ledger(main);
    assert_eq!(ledger.len(), before + 1, "{:?}", ledger[0]);
    assert_eq!(ledger[0]["source"], "interval");
    server.assert_verified();
}

#[test]
fn allow_migrate_upgrades_at_startup() {
    let dir = data_dir();
    let data = copy_fixture(dir.path());
    let server = Server::start_with(
        &data,
        &[("TALLY_ALLOW_MIGRATE", "true"), ("TALLY_CLOCK", "manual")],
    );
    server.set_clock(FIXTURE_NOW);
    let expected = expected();
    let main = expected["main"].as_str().expect("main");
    assert_eq!(
        as_before(&server.get_wallet(main)),
        expected["wallets"][main]["wallet"]
    );
    server.assert_verified();
}

/// A migration cut short between its two renames leaves no data folder,
/// only the verified staging folder and the backup: the next start finishes
/// the swap instead of creating a fresh, empty store.
#[test]
fn a_migration_cut_between_its_renames_is_finished_at_startup() {
    let dir = data_dir();
    let data = copy_fixture(dir.path());
    let migrated = tally(&["migrate"], &data, &[]);
    assert!(migrated.status.success());
    // The state right after the first rename: data.format2-backup exists,
    // data.migrating holds the verified, marked format-3 store, data is gone.
    let staging = dir.path().join("data.migrating");
    std::fs::rename(&data, &staging).expect("rename");
    std::fs::write(staging.join("TALLY_MIGRATED"), b"").expect("marker");
    let server = Server::start_with(&data, &[("TALLY_CLOCK", "manual")]);
    server.set_clock(FIXTURE_NOW);
    let expected = expected();
    let main = expected["main"].as_str().expect("main");
    assert_eq!(
        as_before(&server.get_wallet(main)),
        expected["wallets"][main]["wallet"]
    );
    assert!(!staging.exists());
}

/// A view as the format-2 binary showed it: the fields added since (holds,
/// format 4) are checked to say "no holds" and then left out, so every
/// field the old binary showed must still show the same value.
fn as_before(view: &Value) -> Value {
    match view {
        Value::Array(items) => Value::Array(items.iter().map(as_before).collect()),
        Value::Object(fields) => {
            let mut kept = serde_json::Map::new();
            for (key, value) in fields {
                match key.as_str() {
                    "held_credits" => assert_eq!(value, "0", "{view}"),
                    "available_credits" => {
                        assert_eq!(Some(value), fields.get("total_credits"), "{view}");
                    }
                    "hold_id" => assert_eq!(value, &Value::Null, "{view}"),
                    "hold_lots" => assert_eq!(value, &Value::Array(Vec::new()), "{view}"),
                    _ => {
                        kept.insert(key.clone(), as_before(value));
                    }
                }
            }
            Value::Object(kept)
        }
        other => other.clone(),
    }
}
