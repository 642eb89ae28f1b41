//! Seed 002's payment methods: the seed's examples with its names and
//! envelope, exactly one default while any method is active, card data
//! refused, and one user never reaching another's methods.

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

fn defaults(server: &Server, user: &str) -> Vec<String> {
    let list = as_user(server, user, "GET", "/api/v1/wallet/payment-methods", None);
    assert_eq!(list.status, 200, "{:?}", list.body);
    list.body["data"]
        .as_array()
        .expect("methods")
        .iter()
        .filter(|m| m["is_default"] == true)
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn payment_methods_as_the_seed_shows_them_with_one_default() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let user = "user_pm";
    let visa = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payment-methods",
        Some(json!({
            "type": "credit_card", "name": "Visa ending in 4242",
            "details": {"last4": "4242", "brand": "visa", "exp_month": 12, "exp_year": 2026, "token": "pm_card_visa"}
        })),
    );
    assert_eq!(visa.status, 201, "{:?}", visa.body);
    assert_eq!(visa.body["statusCode"], 201);
    assert_eq!(visa.body["message"], "Payment method added successfully");
    let data = &visa.body["data"];
    assert_eq!(data["type"], "credit_card");
    assert_eq!(data["status"], "active");
    assert_eq!(data["user_id"], user);
    assert_eq!(data["details"]["exp_month"], 12);
    assert_eq!(
        data["is_default"], true,
        "the first active method is the default"
    );
    let visa_id = data["id"].as_str().expect("id").to_owned();
    // The seed's second card, not default.
    let master = as_user(
        &server,
        user,
        "POST",
        "/api/v1/wallet/payment-methods",
        Some(json!({
            "type": "credit_card", "name": "Mastercard ending in 5555",
            "details": {"last4": "5555", "brand": "mastercard", "exp_month": 8, "exp_year": 2027},
            "is_default": false
        })),
    );
    let master_id = master.body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(defaults(&server, user), vec![visa_id.clone()]);
    // The seed's update: active and default; the other is unset in the same write.
    let updated = as_user(
        &server,
        user,
        "PUT",
        &format!("/api/v1/wallet/payment-methods/{master_id}"),
        Some(json!({"status": "active", "is_default": true})),
    );
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(
        updated.body["message"],
        "Payment method updated successfully"
    );
    assert_eq!(defaults(&server, user), vec![master_id.clone()]);
    // Set default back, the seed's PATCH.
    let set = as_user(
        &server,
        user,
        "PATCH",
        &format!("/api/v1/wallet/payment-methods/{visa_id}/default"),
        None,
    );
    assert_eq!(
        set.body["message"],
        "Default payment method set successfully"
    );
    assert_eq!(defaults(&server, user), vec![visa_id.clone()]);
    // Deactivating the default hands the role to the other active method.
    let off = as_user(
        &server,
        user,
        "PATCH",
        &format!("/api/v1/wallet/payment-methods/{visa_id}"),
        Some(json!({"status": "inactive"})),
    );
    assert_eq!(off.body["data"]["is_default"], false);
    assert_eq!(defaults(&server, user), vec![master_id.clone()]);
    // An inactive method cannot be the default.
    let refused = as_user(
        &server,
        user,
        "PATCH",
        &format!("/api/v1/wallet/payment-methods/{visa_id}/default"),
        None,
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    // Deleting the default leaves none when no other is active.
    let deleted = as_user(
        &server,
        user,
        "DELETE",
        &format!("/api/v1/wallet/payment-methods/{master_id}"),
        None,
    );
    assert_eq!(
        deleted.body,
        json!({"statusCode": 200, "message": "Payment method deleted successfully"})
    );
    assert!(defaults(&server, user).is_empty());
    let one = as_user(
        &server,
        user,
        "GET",
        &format!("/api/v1/wallet/payment-methods/{visa_id}"),
        None,
    );
    assert_eq!(one.body["message"], "Payment method retrieved successfully");
    assert_eq!(one.body["data"]["status"], "inactive");

    // Card data is refused, naming the field; nothing stored.
    for details in [
        json!({"number": "4242424242424242"}),
        json!({"cvc": "123"}),
        json!({"note": "4242 4242 4242 4242"}),
    ] {
        let reply = as_user(
            &server,
            user,
            "POST",
            "/api/v1/wallet/payment-methods",
            Some(json!({"type": "credit_card", "name": "x", "details": details})),
        );
        assert_eq!(reply.status, 400, "{details}: {:?}", reply.body);
        assert!(reply.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("tokenized"));
    }
    let bad_status = as_user(
        &server,
        user,
        "PATCH",
        &format!("/api/v1/wallet/payment-methods/{visa_id}"),
        Some(json!({"status": "gone"})),
    );
    assert_eq!(bad_status.body["error"]["field"], "status");
    let listed = as_user(&server, user, "GET", "/api/v1/wallet/payment-methods", None);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));

    // Another user reaches none of them.
    let other = as_user(
        &server,
        "user_else",
        "GET",
        &format!("/api/v1/wallet/payment-methods/{visa_id}"),
        None,
    );
    assert_eq!(other.status, 404);
    let other_delete = as_user(
        &server,
        "user_else",
        "DELETE",
        &format!("/api/v1/wallet/payment-methods/{visa_id}"),
        None,
    );
    assert_eq!(other_delete.status, 404);
    let theirs = as_user(
        &server,
        "user_else",
        "GET",
        "/api/v1/wallet/payment-methods",
        None,
    );
    assert_eq!(theirs.body["data"], json!([]));
}
