//! Seed 002's face (/api/v1/wallet): the seed's examples against the real
//! server with the seed's field names and envelope: balances, the transfer
//! to AI with its fee, fees, sorted and paginated transactions, invoices
//! (generate 201 then 200, the PDF), bad input named in the envelope, and
//! one user never seeing another's anything.

use crate::common::{data_dir, Server, KEY};
use serde_json::{json, Value};

fn as_user(
    server: &Server,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> crate::common::Reply {
    let body = body.map(|body| body.to_string());
    server.raw(
        method,
        path,
        body.as_deref(),
        &[
            ("Authorization", &format!("Bearer {KEY}")),
            ("Tally-User", user),
        ],
        None,
    )
}

#[test]
fn the_seeds_examples_with_its_names_and_envelope() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let user = "user_507f";
    // Money comes in through the deposit API: the same general wallet.
    let deposit = server.send(
        "POST",
        "/v1/user/balance/deposit",
        &json!({"user": user, "amount": "125.50"}),
    );
    assert_eq!(deposit.status, 201, "{:?}", deposit.body);
    let balances = as_user(&server, user, "GET", "/api/v1/wallet/balances", None);
    assert_eq!(balances.status, 200, "{:?}", balances.body);
    assert_eq!(balances.body["statusCode"], 200);
    assert_eq!(balances.body["message"], "Balances retrieved successfully");
    assert_eq!(
        balances.body["data"],
        json!({"general_balance":"125.50","ai_limit":"0.00","ai_usage":"0.00","ai_remaining":"0.00"})
    );
    // The seed's transfer: 25.00 at the configured 5%.
    let moved = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/transfer-to-ai",
        Some(json!({"amount":"25.00"})),
    );
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(
        moved.body["message"],
        "Transfer completed and AI credit limit synced"
    );
    let data = &moved.body["data"];
    assert_eq!(data["gross_transferred"], "25.00");
    assert_eq!(data["net_ai_credit"], "23.75");
    assert_eq!(data["fee"], "1.25");
    assert_eq!(data["general_balance"], "100.50");
    assert_eq!(data["ai_balance"], "23.75");
    assert_eq!(data["key_created"], false);

    // A gateway spends AI credits on the AI wallet, through /v1.
    let transactions = as_user(&server, user, "GET", "/api/v1/wallet/transactions", None);
    let list = transactions.body["data"]["transactions"]
        .as_array()
        .expect("list")
        .clone();
    let ai_wallet = list
        .iter()
        .find(|t| t["account"] == "ai")
        .and_then(|t| t["wallet_id"].as_str())
        .expect("ai wallet")
        .to_owned();
    let debit = server.send(
        "POST",
        &format!("/v1/wallets/{ai_wallet}/debits"),
        &json!({"credits":"3.45"}),
    );
    assert_eq!(debit.status, 201, "{:?}", debit.body);
    let ai = as_user(&server, user, "GET", "/api/v1/wallet/ai", None);
    assert_eq!(ai.body["message"], "AI balance retrieved successfully");
    assert_eq!(
        ai.body["data"],
        json!({"ai_limit":"23.75","ai_usage":"3.45","ai_remaining":"20.30"})
    );
    let general = as_user(&server, user, "GET", "/api/v1/wallet/general", None);
    assert_eq!(general.body["data"]["user_id"], user);
    assert_eq!(general.body["data"]["general_balance"], "100.50");

    // Fees, with the transaction they were charged on.
    let fees = as_user(
        &server,
        user,
        "GET",
        "/api/v1/wallet/ai-fees?page=1&limit=20",
        None,
    );
    assert_eq!(
        fees.body["message"],
        "AI fee history retrieved successfully"
    );
    let fee = &fees.body["data"]["fees"][0];
    assert_eq!(fee["amount"], "1.25");
    assert_eq!(fee["transaction"]["amount"], "25.00");
    assert_eq!(fee["transaction"]["reason"], "Transfer to AI credits");
    assert_eq!(
        fees.body["data"]["pagination"],
        json!({"total":1,"page":1,"limit":20,"totalPages":1})
    );

    // Transactions across both wallets, sorted by amount, paged.
    let sorted = as_user(
        &server,
        user,
        "GET",
        "/api/v1/wallet/transactions?sort_by=amount&sort_order=asc&limit=2&page=1",
        None,
    );
    let page = sorted.body["data"]["transactions"]
        .as_array()
        .expect("page")
        .clone();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["amount"], "0.00", "the AI wallet's opening entry");
    let all = as_user(
        &server,
        user,
        "GET",
        "/api/v1/wallet/transactions?limit=100",
        None,
    );
    let total = all.body["data"]["pagination"]["total"]
        .as_u64()
        .expect("total");
    assert_eq!(
        sorted.body["data"]["pagination"]["totalPages"],
        total.div_ceil(2)
    );
    let amounts: Vec<String> = all.body["data"]["transactions"]
        .as_array()
        .expect("all")
        .iter()
        .map(|t| {
            t["transaction_type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        amounts.contains(&"transfer_out".to_owned()) && amounts.contains(&"transfer_in".to_owned())
    );
    let one_id = page[1]["id"].as_str().expect("id");
    let one = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/transactions/{one_id}"),
        None,
    );
    assert_eq!(one.body["message"], "Transaction retrieved successfully");
    assert_eq!(one.body["data"]["id"], one_id);

    // Invoices: generate 201 then 200, list, get, PDF.
    let deposit_txn = deposit.body["id"].as_str().expect("txn");
    let made = as_user(
        &server,
        user,
        "POST",
        &format!("/api/v1/wallet/invoices/generate/{deposit_txn}"),
        None,
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["statusCode"], 201);
    let again = as_user(
        &server,
        user,
        "POST",
        &format!("/api/v1/wallet/invoices/generate/{deposit_txn}"),
        None,
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.body["message"], "Invoice already exists");
    assert_eq!(
        again.body["data"]["invoice_id"],
        made.body["data"]["invoice_id"]
    );
    let invoices = as_user(&server, user, "GET", "/api/v1/wallet/invoices", None);
    assert_eq!(invoices.body["message"], "Invoices retrieved successfully");
    let invoice = &invoices.body["data"]["invoices"][0];
    assert_eq!(invoice["amount"], "125.50");
    assert_eq!(invoice["user_id"], user);
    assert_eq!(invoice["transaction"]["transaction_type"], "deposit");
    let id = invoice["id"].as_str().expect("id");
    let shown = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/invoices/{id}"),
        None,
    );
    assert_eq!(shown.body["message"], "Invoice retrieved successfully");
    let pdf = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/invoices/{id}/pdf"),
        None,
    );
    assert_eq!(pdf.status, 200);

    // Bad input: named in the envelope, nothing changed.
    for (body, field) in [
        (json!({"amount":"25.001"}), "amount"),
        (json!({"amount":"-1"}), "amount"),
        (json!({"amount":"1e3"}), "amount"),
        (json!({"amount":"0"}), "amount"),
    ] {
        let reply = as_user(
            &server,
            user,
            "POST",
            "/api/v1/wallet/transfer-to-ai",
            Some(body.clone()),
        );
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["statusCode"], 400);
        assert_eq!(reply.body["error"]["field"], field, "{body}");
    }
    let too_much = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/transfer-to-ai",
        Some(json!({"amount":"1000.00"})),
    );
    assert_eq!(too_much.status, 402, "{:?}", too_much.body);
    for query in ["sort_by=nope", "page=0", "limit=1000", "sort_order=up"] {
        let reply = as_user(
            &server,
            user,
            "GET",
            &format!("/api/v1/wallet/transactions?{query}"),
            None,
        );
        assert_eq!(reply.status, 400, "{query}: {:?}", reply.body);
    }
    let anonymous = server.call("GET", "/api/v1/wallet/balances", None, None);
    assert_eq!(anonymous.body["error"]["field"], "Tally-User");
    let after = as_user(&server, user, "GET", "/api/v1/wallet/balances", None);
    assert_eq!(after.body["data"]["general_balance"], "100.50");

    // A key bound to the user: its accounts only, and nothing else.
    let made = server.send(
        "POST",
        "/v1/admin/api-keys",
        &json!({"name": "user-app", "scope": "user", "user": user}),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["scope"], format!("user:{user}"));
    let user_key = made.body["secret"].as_str().expect("secret").to_owned();
    let with_key = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let auth = format!("Bearer {user_key}");
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        server.raw(method, path, None, &all, None)
    };
    let mine = with_key("GET", "/api/v1/wallet/balances", &[]);
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["data"]["general_balance"], "100.50");
    let own_txn = with_key("GET", &format!("/api/v1/wallet/transactions/{one_id}"), &[]);
    assert_eq!(own_txn.status, 200);
    let spoof = with_key(
        "GET",
        "/api/v1/wallet/balances",
        &[("Tally-User", "user_other")],
    );
    assert_eq!(spoof.status, 403, "{:?}", spoof.body);
    for path in [
        "/v1/wallets",
        &format!("/v1/wallets/{ai_wallet}"),
        "/v1/events",
    ] {
        assert_eq!(with_key("GET", path, &[]).status, 403, "{path}");
    }
    let missing_user = server.send(
        "POST",
        "/v1/admin/api-keys",
        &json!({"name": "x", "scope": "user"}),
    );
    assert_eq!(
        (
            missing_user.status,
            missing_user.body["error"]["field"].as_str()
        ),
        (400, Some("user"))
    );
    let stray_user = server.send(
        "POST",
        "/v1/admin/api-keys",
        &json!({"name": "x", "scope": "read", "user": user}),
    );
    assert_eq!(stray_user.status, 400);

    // Another user's key reaches none of it, and is refused in the envelope.
    let theirs_made = server.send(
        "POST",
        "/v1/admin/api-keys",
        &json!({"name": "other-app", "scope": "user", "user": "user_other"}),
    );
    let their_key = theirs_made.body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let as_them = |method: &str, path: &str| {
        server.raw(
            method,
            path,
            None,
            &[("Authorization", &format!("Bearer {their_key}"))],
            None,
        )
    };
    for (method, path) in [
        ("GET", format!("/api/v1/wallet/transactions/{one_id}")),
        ("GET", format!("/api/v1/wallet/invoices/{id}")),
        ("GET", format!("/api/v1/wallet/invoices/{id}/pdf")),
        (
            "POST",
            format!("/api/v1/wallet/invoices/generate/{deposit_txn}"),
        ),
    ] {
        let reply = as_them(method, &path);
        assert_eq!(reply.status, 404, "{method} {path}: {:?}", reply.body);
        assert_eq!(reply.body["statusCode"], 404, "{path}");
    }
    let refused = as_them("GET", "/v1/wallets");
    assert_eq!(refused.status, 403);
    let enveloped = server.raw(
        "GET",
        "/api/v1/wallet/balances",
        None,
        &[("Authorization", "Bearer wrong-key-0123456789")],
        None,
    );
    assert_eq!(
        (enveloped.status, enveloped.body["statusCode"].as_u64()),
        (401, Some(401))
    );
    // A transfer with nothing to transfer changes nothing (no wallet made).
    let nothing = server.raw(
        "POST",
        "/api/v1/wallet/transfer-to-ai",
        Some(r#"{"amount":"1.00"}"#),
        &[("Authorization", &format!("Bearer {their_key}"))],
        None,
    );
    assert_eq!(nothing.status, 402, "{:?}", nothing.body);
    let none = as_them("GET", "/api/v1/wallet/general");
    assert_eq!(none.body["data"]["id"], Value::Null, "no wallet was made");

    // Another user sees none of it.
    let other = "user_other";
    let theirs = as_user(
        &server,
        other,
        "GET",
        &format!("/api/v1/wallet/transactions/{one_id}"),
        None,
    );
    assert_eq!(theirs.status, 404);
    let invoice_theirs = as_user(
        &server,
        other,
        "GET",
        &format!("/api/v1/wallet/invoices/{id}"),
        None,
    );
    assert_eq!(invoice_theirs.status, 404);
    let generate_theirs = as_user(
        &server,
        other,
        "POST",
        &format!("/api/v1/wallet/invoices/generate/{deposit_txn}"),
        None,
    );
    assert_eq!(generate_theirs.status, 404);
    let empty = as_user(&server, other, "GET", "/api/v1/wallet/transactions", None);
    assert_eq!(empty.body["data"]["pagination"]["total"], 0);
    server.assert_verified();
}
