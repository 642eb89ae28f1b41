//! Invoices: one per transaction that brought money in (201, then 200 with
//! the same one, also under concurrent requests), gapless numbers, and a
//! real PDF read back with pdftotext and rendered with pdftoppm.

use crate::common::{data_dir, Server};
use serde_json::json;
use std::process::Command;

fn deposit(server: &Server, user: &str, amount: &str) -> String {
    let reply = server.send(
        "POST",
        "/v1/user/balance/deposit",
        &json!({"user": user, "amount": amount}),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

#[test]
fn one_invoice_per_transaction_numbered_without_gaps_with_a_real_pdf() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let first = deposit(&server, "user_inv", "50.00");
    let body = json!({"transaction_id": first,
        "billing_details": {"name": "John Doe", "address": "123 Main St"}});
    // Eight concurrent requests for one transaction: one invoice.
    let replies: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| server.send("POST", "/v1/invoices", &body)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "{replies:?}");
    assert!(replies.iter().all(|r| r.status == 201 || r.status == 200));
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|r| r.body["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    let invoice = &replies[0].body;
    let year = &invoice["issue_date"].as_str().expect("date")[..4];
    assert_eq!(invoice["invoice_number"], format!("INV-{year}-000001"));
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount"], "50.00");
    assert_eq!(invoice["currency"], "USD");
    assert_eq!(invoice["transaction_type"], "DEPOSIT");
    assert_eq!(invoice["billing_details"]["name"], "John Doe");
    // The next transactions: the next numbers, no gap.
    for (n, amount) in [(2, "10.25"), (3, "7")] {
        let txn = deposit(&server, "user_inv", amount);
        let reply = server.send("POST", "/v1/invoices", &json!({"transaction_id": txn}));
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        assert_eq!(reply.body["invoice_number"], format!("INV-{year}-{n:06}"));
    }
    // Not money in: a debit is refused, naming the field; unknown: 404.
    let wallet = invoice["wallet_id"].as_str().expect("wallet");
    let debit = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({"credits":"1"}),
    );
    let refused = server.send(
        "POST",
        "/v1/invoices",
        &json!({"transaction_id": debit.body["id"]}),
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["field"], "transaction_id");
    let unknown = server.send(
        "POST",
        "/v1/invoices",
        &json!({"transaction_id": "txn_01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    );
    assert_eq!(unknown.code(), "transaction_not_found");
    let listed = server.call("GET", &format!("/v1/wallets/{wallet}/invoices"), None, None);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(3));

    // The PDF: a real one, with the number, the amount and the customer.
    let id = invoice["id"].as_str().expect("id");
    let response = ureq::get(&format!("{}/v1/invoices/{id}/pdf", server.base))
        .set("Authorization", &format!("Bearer {}", crate::common::KEY))
        .call()
        .expect("pdf");
    assert_eq!(response.content_type(), "application/pdf");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("read");
    assert!(bytes.starts_with(b"%PDF-"));
    let pdf = dir.path().join("invoice.pdf");
    std::fs::write(&pdf, &bytes).expect("write");
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        format!("INV-{year}-000001"),
        "50.00 USD".to_owned(),
        "John Doe".to_owned(),
        "123 Main St".to_owned(),
        "user_inv".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    // A page renders (what docs/invoice-sample.png was made with).
    let png = dir.path().join("page");
    let rendered = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-singlefile"])
        .arg(&pdf)
        .arg(&png)
        .status()
        .expect("pdftoppm");
    assert!(rendered.success());
    assert!(dir.path().join("page.png").exists());
    server.assert_verified();
}

#[test]
fn a_transfers_fee_is_invoiced_to_its_payer_when_configured() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &[("TALLY_INVOICES__TRANSFER_FEES", "true")]);
    let (payer, to, platform) = (
        server.wallet("100", "0"),
        server.wallet("0", "0"),
        server.wallet("0", "0"),
    );
    let transfer = server.send(
        "POST",
        "/v1/transfers",
        &json!({"from_wallet": payer, "to_wallet": to, "amount": "20.00",
            "fee": {"percent": "5", "to_wallet": platform}}),
    );
    assert_eq!(transfer.status, 201, "{:?}", transfer.body);
    let legs = transfer.body["legs"].as_array().expect("legs");
    let leg = |role: &str| {
        legs.iter()
            .find(|leg| leg["role"] == role)
            .and_then(|leg| leg["transaction_id"].as_str())
            .expect("leg")
            .to_owned()
    };
    let fee = server.send(
        "POST",
        "/v1/invoices",
        &json!({"transaction_id": leg("fee")}),
    );
    assert_eq!(fee.status, 201, "{:?}", fee.body);
    assert_eq!(fee.body["wallet_id"], payer.as_str(), "billed to the payer");
    assert_eq!(fee.body["amount"], "1.00");
    assert_eq!(fee.body["customer"], "cus_test");
    // The destination's credit moved money already in: not invoiced.
    let credit = server.send(
        "POST",
        "/v1/invoices",
        &json!({"transaction_id": leg("in")}),
    );
    assert_eq!(credit.status, 400, "{:?}", credit.body);
    server.assert_verified();
}
