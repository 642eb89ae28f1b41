//! `tally import`: CSV into a data folder and NDJSON over HTTP; rejected
//! lines go to the reject file with their numbers; a re-run credits nothing.

use crate::common::{data_dir, Server, KEY};
use std::process::Command;

fn import(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("import")
        .args(args)
        .arg("--quiet")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tally import");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn csv_deposits_import_once_and_rejects_are_reported_by_line() {
    let dir = data_dir();
    let data = dir.path().join("data");
    let file = dir.path().join("deposits.csv");
    let mut csv = String::from("user,amount,invoice\n");
    for i in 0..500 {
        csv.push_str(&format!("user_{},{}.25,in_{i}\n", i % 50, i % 7 + 1));
    }
    csv.push_str("user_x,abc,in_bad1\n"); // line 502
    csv.push_str("user_y,1.001,in_bad2\n"); // line 503
    csv.push_str("\"user,quoted\",2,in_q\n"); // line 504: a quoted comma
    std::fs::write(&file, csv).expect("write");
    let data_arg = data.to_string_lossy().into_owned();
    let file_arg = file.to_string_lossy().into_owned();
    let (code, summary) = import(&[&file_arg, "--data-dir", &data_arg, "--batch-size", "64"]);
    assert_eq!(
        code,
        Some(3),
        "rejected lines make the exit code 3: {summary}"
    );
    assert!(
        summary.contains("imported 501 lines (0 replayed"),
        "{summary}"
    );
    let rejects = std::fs::read_to_string(format!("{file_arg}.rejects")).expect("rejects");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert!(
        lines[0].starts_with("line 502: ") && lines[0].contains("amount"),
        "{rejects}"
    );
    assert!(
        lines[1].starts_with("line 503: ") && lines[1].contains("minor units"),
        "{rejects}"
    );
    // Again: everything is a replay, nothing is credited twice.
    let (_, again) = import(&[&file_arg, "--data-dir", &data_arg]);
    assert!(
        again.contains("imported 501 lines (501 replayed"),
        "{again}"
    );
    let server = Server::start(&data);
    // user_0 got lines i = 0, 50, ..., 450: amounts (i % 7 + 1) + 0.25.
    let expected: rust_decimal::Decimal = (0..500)
        .step_by(50)
        .map(|i| rust_decimal::Decimal::new((i % 7 + 1) * 100 + 25, 2))
        .sum();
    let balance = server.call("GET", "/v1/user/balance?user=user_0", None, None);
    assert_eq!(balance.body["balance"], expected.to_string());
    let quoted = server.call("GET", "/v1/user/balance?user=user,quoted", None, None);
    assert_eq!(quoted.body["balance"], "2.00");
    let wallet = balance.body["wallet_id"]
        .as_str()
        .expect("wallet")
        .to_owned();
    let entries = server.assert_ledger_matches_balance(&wallet);
    assert_eq!(entries.len(), 11, "opening entry and ten deposits");
    assert!(entries[0]["metadata"].to_string().contains("invoice"));
}

#[test]
fn ndjson_topups_import_over_http() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let wallet = server.wallet("0", "0");
    let file = dir.path().join("topups.ndjson");
    let mut lines = String::new();
    for i in 0..300 {
        lines.push_str(&format!(
            r#"{{"wallet_id":"{wallet}","paid_credits":"1","granted_credits":"0.5","ref":"r{i}"}}"#
        ));
        lines.push('\n');
    }
    lines.push_str("{not json\n");
    std::fs::write(&file, lines).expect("write");
    let file_arg = file.to_string_lossy().into_owned();
    let args = [
        file_arg.as_str(),
        "--kind",
        "topup",
        "--url",
        server.base.as_str(),
        "--key",
        KEY,
        "--batch-size",
        "100",
    ];
    let (code, summary) = import(&args);
    assert_eq!(code, Some(3), "{summary}");
    assert!(summary.contains("imported 300 lines"), "{summary}");
    assert_eq!(
        server.get_wallet(&wallet)["balance"]["total_credits"],
        "450"
    );
    let (_, again) = import(&args);
    assert!(again.contains("(300 replayed"), "{again}");
    assert_eq!(
        server.get_wallet(&wallet)["balance"]["total_credits"],
        "450"
    );
    server.assert_ledger_matches_balance(&wallet);
}

#[test]
fn another_file_with_the_same_name_is_imported_not_replayed() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let file = dir.path().join("deposits.csv");
    let file_arg = file.to_string_lossy().into_owned();
    let args = [
        file_arg.as_str(),
        "--url",
        server.base.as_str(),
        "--key",
        KEY,
    ];
    let balance = |user: &str| {
        let reply = server.call("GET", &format!("/v1/user/balance?user={user}"), None, None);
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["balance"].as_str().unwrap_or("").to_owned()
    };
    let file_a = "user,amount\nimp_a,10\nimp_b,20\nimp_c,30\n";
    std::fs::write(&file, file_a).expect("write A");
    let (code, summary) = import(&args);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 3 lines (0 replayed"),
        "{summary}"
    );
    // Next day's export: same name, same line numbers; lines 2 and 3 differ,
    // line 4 is the very same line as before.
    std::fs::write(&file, "user,amount\nimp_a,1\nimp_b,2\nimp_c,30\n").expect("write B");
    let (code, summary) = import(&args);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 3 lines (1 replayed"),
        "the changed lines are new deposits: {summary}"
    );
    assert_eq!(balance("imp_a"), "11.00");
    assert_eq!(balance("imp_b"), "22.00");
    assert_eq!(balance("imp_c"), "30.00");
    // File A again: every line is a replay, nothing is credited twice.
    std::fs::write(&file, file_a).expect("write A again");
    let (_, again) = import(&args);
    assert!(again.contains("imported 3 lines (3 replayed"), "{again}");
    assert_eq!(balance("imp_a"), "11.00");
    assert_eq!(balance("imp_b"), "22.00");
    assert_eq!(balance("imp_c"), "30.00");
}

/// A file imported by a release whose default keys were `import:<file
/// tag>:<line>` and imported again after the upgrade (keys now end in a
/// digest of the line) replays instead of crediting twice; a line whose
/// content changed is still a new deposit.
#[test]
fn a_file_imported_before_the_key_change_still_replays() {
    use sha2::{Digest, Sha256};
    let dir = data_dir();
    let server = Server::start(dir.path());
    let file = dir.path().join("payouts.csv");
    std::fs::write(
        &file,
        "user,amount,invoice\nuser_a,10.00,in_1\nuser_b,2.50,in_2\n",
    )
    .expect("write");
    // What the earlier importer sent for lines 2 and 3 (line 3 then had
    // another amount).
    let tag = hex::encode(&Sha256::digest(b"payouts.csv")[..8]);
    for (line, body) in [
        (
            2,
            r#"{"user":"user_a","amount":"10.00","metadata":{"invoice":"in_1"}}"#,
        ),
        (
            3,
            r#"{"user":"user_b","amount":"9.00","metadata":{"invoice":"in_2"}}"#,
        ),
    ] {
        let key = format!("import:{tag}:{line}");
        let reply = server.call("POST", "/v1/user/balance/deposit", Some(body), Some(&key));
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let url = server.base.clone();
    let (code, summary) = import(&[&file.to_string_lossy(), "--url", &url, "--key", KEY]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        summary.contains("imported 2 lines (1 replayed"),
        "{summary}"
    );
    let balance = |user: &str| {
        server
            .call("GET", &format!("/v1/user/balance?user={user}"), None, None)
            .body["balance"]
            .clone()
    };
    assert_eq!(balance("user_a"), "10.00", "not credited twice");
    assert_eq!(balance("user_b"), "11.50", "the changed line is new");
}
