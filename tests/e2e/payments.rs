//! Seed 002's payments with the offline `test` provider: a charge credits
//! the general balance, records the payment and issues its paid invoice in
//! one write; a retry with the key charges nothing more; a declined card
//! credits nothing; a processing charge waits; bad input is named.

use crate::common::{data_dir, Server, KEY};
use serde_json::{json, Value};

pub(crate) fn as_user(
    server: &Server,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
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
        key,
    )
}

pub(crate) fn card(server: &Server, user: &str, token: &str) -> String {
    let reply = as_user(
        server,
        user,
        "POST",
        "/api/v1/wallet/payment-methods",
        Some(json!({
            "type": "credit_card", "name": format!("Test {token}"),
            "details": {"last4": "4242", "brand": "visa", "token": token}
        })),
        None,
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["data"]["id"].as_str().expect("id").to_owned()
}

pub(crate) fn general(server: &Server, user: &str) -> String {
    let reply = as_user(server, user, "GET", "/api/v1/wallet/balances", None, None);
    reply.body["data"]["general_balance"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_payment_credits_records_and_invoices_once() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let user = "user_pay";
    let visa = card(&server, user, "pm_card_visa");
    let body = json!({"payment_method_id": visa, "amount": "100.00", "reason": "Monthly subscription payment"});
    let paid = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(body.clone()),
        Some("pay-1"),
    );
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    assert_eq!(paid.body["message"], "Payment processed successfully");
    let data = &paid.body["data"];
    assert_eq!(data["transaction"]["transaction_type"], "payment");
    assert_eq!(data["transaction"]["status"], "completed");
    assert_eq!(data["transaction"]["amount"], "100.00");
    assert_eq!(data["transaction"]["gateway_name"], "test");
    assert!(data["transaction"]["gateway_transaction_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("ch_test_")));
    assert!(data["invoice"]["invoice_number"]
        .as_str()
        .is_some_and(|n| n.starts_with("INV-")));
    assert_eq!(data["balance"]["balance"], "100.00");
    assert_eq!(general(&server, user), "100.00");
    // The same request with its key: the same payment, nothing more.
    let again = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(body),
        Some("pay-1"),
    );
    assert_eq!(
        again.body["data"]["transaction"]["id"],
        data["transaction"]["id"]
    );
    assert_eq!(general(&server, user), "100.00");
    // Its status, as the seed shows it, and its invoice.
    let id = data["transaction"]["id"].as_str().expect("id");
    let status = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/payments/{id}/status"),
        None,
        None,
    );
    assert_eq!(
        status.body["message"],
        "Payment status retrieved successfully"
    );
    assert_eq!(status.body["data"]["details"][0]["credit_type"], "general");
    assert_eq!(status.body["data"]["invoice"]["status"], "paid");
    let invoices = as_user(&server, user, "GET", "/api/v1/wallet/invoices", None, None);
    assert_eq!(invoices.body["data"]["invoices"][0]["amount"], "100.00");

    // Declined: 402 with the provider's reason, nothing credited.
    let declined = card(&server, user, "pm_card_chargeDeclined");
    let refused = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": declined, "amount": "5.00"})),
        None,
    );
    assert_eq!(
        (refused.status, refused.code()),
        (402, "payment_declined"),
        "{:?}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], "payment_declined");
    // Processing: 202, nothing credited until it settles.
    let slow = card(&server, user, "pm_card_processing");
    let waiting = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": slow, "amount": "7.00"})),
        None,
    );
    assert_eq!(waiting.status, 202, "{:?}", waiting.body);
    assert_eq!(waiting.body["data"]["transaction"]["status"], "processing");
    assert_eq!(general(&server, user), "100.00");
    // An inactive method cannot be charged.
    as_user(
        &server,
        user,
        "PATCH",
        &format!("/api/v1/wallet/payment-methods/{visa}"),
        Some(json!({"status": "inactive"})),
        None,
    );
    let inactive = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": visa, "amount": "1.00"})),
        None,
    );
    assert_eq!(inactive.status, 409, "{:?}", inactive.body);
    // Bad input names its field, nothing changes.
    let visa2 = card(&server, user, "pm_card_visa");
    for (body, field) in [
        (
            json!({"payment_method_id": visa2, "amount": "1.001"}),
            "amount",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "-1"}),
            "amount",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "1e2"}),
            "amount",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "10.00",
            "credit_distribution": [{"credit_type": "general", "amount": "4.00"}]}),
            "credit_distribution",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "10.00",
            "credit_distribution": [{"amount": "10.001"}]}),
            "credit_distribution[0].amount",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "10.00",
            "credit_distribution": [{"credit_type": "gold", "amount": "10.00"}]}),
            "credit_distribution[0].credit_type",
        ),
        (
            json!({"payment_method_id": visa2, "amount": "0.00"}),
            "amount",
        ),
    ] {
        let reply = as_user(
            &server,
            user,
            "POST",
            "/api/v1/wallet/payments",
            Some(body.clone()),
            None,
        );
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["field"], field, "{body}");
    }
    assert_eq!(general(&server, user), "100.00");
    // Another user reaches neither the payment nor the method.
    let theirs = as_user(
        &server,
        "user_else",
        "GET",
        &format!("/api/v1/wallet/payments/{id}/status"),
        None,
        None,
    );
    assert_eq!(theirs.status, 404);
    let their_charge = as_user(
        &server,
        "user_else",
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": visa2, "amount": "1.00"})),
        None,
    );
    assert_eq!(their_charge.status, 404);
    server.assert_verified();
}

pub(crate) fn signed(secret: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn general_wallet(server: &Server, user: &str) -> String {
    let reply = as_user(server, user, "GET", "/api/v1/wallet/general", None, None);
    reply.body["data"]["id"]
        .as_str()
        .expect("wallet")
        .to_owned()
}

#[test]
fn a_processing_payment_is_settled_once_by_a_signed_webhook() {
    let dir = data_dir();
    let secret = "whsec_test_0123456789";
    let server = Server::start_with(dir.path(), &[("TALLY_PAYMENTS__WEBHOOK_SECRET", secret)]);
    let user = "user_hook";
    let slow = card(&server, user, "pm_card_processing");
    let pay = |amount: &str| {
        let reply = as_user(
            &server,
            user,
            "POST",
            "/api/v1/wallet/payments",
            Some(json!({"payment_method_id": slow, "amount": amount})),
            None,
        );
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        (
            reply.body["data"]["transaction"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
            reply.body["data"]["transaction"]["gateway_transaction_id"]
                .as_str()
                .expect("ref")
                .to_owned(),
        )
    };
    let (first, first_ref) = pay("40.00");
    let hook = |event_id: &str, kind: &str, reference: &str, signature: Option<String>| {
        let body = json!({"id": event_id, "type": kind, "data": {"object": {"id": reference}}})
            .to_string();
        let header = signature.unwrap_or_else(|| signed(secret, &body));
        server.raw(
            "POST",
            "/v1/providers/stripe/webhook",
            Some(&body),
            &[("Stripe-Signature", &header)],
            None,
        )
    };
    // A bad signature, or none: 401, nothing applied.
    assert_eq!(
        hook(
            "evt_1",
            "payment_intent.succeeded",
            &first_ref,
            Some("t=1,v1=00".into())
        )
        .status,
        401
    );
    assert_eq!(general(&server, user), "0.00");
    // Signed: completed, credited and invoiced once, however often it comes.
    for _ in 0..3 {
        let reply = hook("evt_1", "payment_intent.succeeded", &first_ref, None);
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    assert_eq!(general(&server, user), "40.00");
    // Another event for the same charge, after: changes nothing.
    hook("evt_2", "payment_intent.succeeded", &first_ref, None);
    hook("evt_3", "payment_intent.payment_failed", &first_ref, None);
    assert_eq!(general(&server, user), "40.00");
    let status = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/payments/{first}/status"),
        None,
        None,
    );
    assert_eq!(status.body["data"]["status"], "completed");
    assert!(status.body["data"]["invoice"]["invoice_number"].is_string());
    // A refund takes the credits back; those already spent are owed.
    let wallet = general_wallet(&server, user);
    let spent = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({"credits": "30"}),
    );
    assert_eq!(spent.status, 201, "{:?}", spent.body);
    let charge = |event_id: &str| {
        let body = json!({"id": event_id, "type": "charge.refunded",
            "data": {"object": {"id": "ch_x", "payment_intent": first_ref}}})
        .to_string();
        let header = signed(secret, &body);
        server.raw(
            "POST",
            "/v1/providers/stripe/webhook",
            Some(&body),
            &[("Stripe-Signature", &header)],
            None,
        )
    };
    assert_eq!(charge("evt_r1").status, 200);
    assert_eq!(charge("evt_r1").status, 200);
    assert_eq!(general(&server, user), "0.00");
    let refunded = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/payments/{first}/status"),
        None,
        None,
    );
    assert_eq!(refunded.body["data"]["status"], "refunded");
    assert_eq!(refunded.body["data"]["refund_owed"], "30.00");

    // A failure settles the other one: nothing credited, ever.
    let (second, second_ref) = pay("9.00");
    hook("evt_4", "payment_intent.payment_failed", &second_ref, None);
    hook("evt_5", "payment_intent.succeeded", &second_ref, None);
    let failed = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/payments/{second}/status"),
        None,
        None,
    );
    assert_eq!(failed.body["data"]["status"], "failed");
    assert_eq!(general(&server, user), "0.00");
    server.assert_verified();
}

#[test]
fn a_user_key_reaches_its_own_methods_and_payments_only_and_no_sessions() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let key_of = |user: &str| {
        let made = server.send(
            "POST",
            "/v1/admin/api-keys",
            &json!({"name": format!("{user}-app"), "scope": "user", "user": user}),
        );
        assert_eq!(made.status, 201, "{:?}", made.body);
        made.body["secret"].as_str().expect("secret").to_owned()
    };
    let (mine, theirs) = (key_of("user_a"), key_of("user_b"));
    let with = |key: &str, method: &str, path: &str, body: Option<Value>| {
        let body = body.map(|body| body.to_string());
        server.raw(
            method,
            path,
            body.as_deref(),
            &[("Authorization", &format!("Bearer {key}"))],
            None,
        )
    };
    let added = with(
        &mine,
        "POST",
        "/api/v1/wallet/payment-methods",
        Some(json!({"type": "credit_card", "name": "Mine",
            "details": {"last4": "4242", "brand": "visa", "token": "pm_card_visa"}})),
    );
    assert_eq!(added.status, 201, "{:?}", added.body);
    let method = added.body["data"]["id"].as_str().expect("id").to_owned();
    let paid = with(
        &mine,
        "POST",
        "/api/v1/wallet/payments",
        Some(json!({"payment_method_id": method, "amount": "20.00"})),
    );
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    let payment = paid.body["data"]["transaction"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The other user's key: none of it exists for them.
    for (verb, path, body) in [
        (
            "GET",
            format!("/api/v1/wallet/payment-methods/{method}"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/wallet/payment-methods/{method}"),
            Some(json!({"status": "inactive"})),
        ),
        (
            "PATCH",
            format!("/api/v1/wallet/payment-methods/{method}/default"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/wallet/payment-methods/{method}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/wallet/payments/{payment}/status"),
            None,
        ),
        (
            "POST",
            "/api/v1/wallet/payments".to_owned(),
            Some(json!({"payment_method_id": method, "amount": "1.00"})),
        ),
    ] {
        let reply = with(&theirs, verb, &path, body);
        assert_eq!(reply.status, 404, "{verb} {path}: {:?}", reply.body);
    }
    let listed = with(&theirs, "GET", "/api/v1/wallet/payment-methods", None);
    assert_eq!(listed.body["data"], json!([]), "{:?}", listed.body);
    // Sessions and the balances per customer are the merchant's: no user key.
    for (verb, path) in [("POST", "/v1/payment-sessions"), ("GET", "/v1/balances")] {
        let reply = with(&mine, verb, path, Some(json!({})));
        assert_eq!(reply.status, 403, "{verb} {path}: {:?}", reply.body);
    }
    // Mine still stands, charged once.
    let status = with(
        &mine,
        "GET",
        &format!("/api/v1/wallet/payments/{payment}/status"),
        None,
    );
    assert_eq!(status.body["data"]["status"], "completed");
    assert_eq!(general(&server, "user_a"), "20.00");
    server.assert_verified();
}
