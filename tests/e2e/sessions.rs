//! Payment sessions (seed 004) with the test provider: create, the checkout
//! page, pay (redirected to the return URL with sessionId), the status and
//! the balances per customer, product and coin; a declined card credits
//! nothing and leaves the session open for another card; an expired
//! session credits nothing.

use crate::common::{data_dir, Server};
use serde_json::json;

fn post_form(server: &Server, path: &str, form: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let reply = agent
        .post(&format!("{}{path}", server.base))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(form);
    let response = match reply {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{error}"),
    };
    (
        response.status(),
        response.header("Location").unwrap_or_default().to_owned(),
    )
}

fn page(server: &Server, path: &str) -> String {
    ureq::get(&format!("{}{path}", server.base))
        .call()
        .expect("page")
        .into_string()
        .expect("html")
}

#[test]
fn a_checkout_session_is_paid_once_and_credits_its_customer() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let body = json!({"customer": "user_123141", "product": "product_123141", "title": "Deposit to App",
        "amounts": {"USD": "15.00"}, "return_url": "https://app.example/return?from=tally"});
    let created = server.send("POST", "/v1/payment-sessions", &body);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    let id = created.body["id"].as_str().expect("id").to_owned();
    let checkout = created.body["checkoutUrl"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(checkout.ends_with(&format!("/checkout/{id}")), "{checkout}");
    let html = page(&server, &format!("/checkout/{id}"));
    assert!(
        html.contains("Deposit to App") && html.contains("15.00 USD"),
        "{html}"
    );
    let (status, location) = post_form(&server, &format!("/checkout/{id}/pay"), "card=visa");
    assert_eq!(status, 303);
    assert_eq!(
        location,
        format!("https://app.example/return?from=tally&sessionId={id}")
    );
    // Paying again changes nothing.
    post_form(&server, &format!("/checkout/{id}/pay"), "card=visa");
    let shown = server.call("GET", &format!("/v1/payment-sessions/{id}"), None, None);
    assert_eq!(shown.body["status"], "completed");
    assert!(shown.body["transaction_id"].is_string());
    let balances = server.call(
        "GET",
        "/v1/balances?customer=user_123141&product=&coin=USD",
        None,
        None,
    );
    assert_eq!(
        balances.body["data"],
        json!([{"customer": "user_123141", "product": "product_123141", "coin": "USD", "balance": "15.00"}])
    );
    let wallet_balance = |server: &Server| {
        let wallet = server.call("GET", "/v1/user/balance?user=user_123141", None, None);
        wallet.body["balance"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(wallet_balance(&server), "15.00");
    assert!(page(&server, &format!("/checkout/{id}")).contains("completed"));

    // A declined card: back to the page with the reason, the session still
    // pending and nothing credited; another card then pays it.
    let declined = server.send("POST", "/v1/payment-sessions", &body);
    let declined_id = declined.body["id"].as_str().expect("id").to_owned();
    let (status, location) = post_form(
        &server,
        &format!("/checkout/{declined_id}/pay"),
        "card=declined",
    );
    assert_eq!(status, 303);
    assert_eq!(location, format!("/checkout/{declined_id}?declined=1"));
    assert!(page(&server, &location).contains("Your card was declined"));
    let shown = server.call(
        "GET",
        &format!("/v1/payment-sessions/{declined_id}"),
        None,
        None,
    );
    assert_eq!(shown.body["status"], "pending");
    assert_eq!(wallet_balance(&server), "15.00");
    let (status, _) = post_form(
        &server,
        &format!("/checkout/{declined_id}/pay"),
        "card=visa",
    );
    assert_eq!(status, 303);
    assert_eq!(wallet_balance(&server), "30.00");
    // No card chosen: 400 naming the field; an unknown session: an HTML 404.
    let (status, _) = post_form(&server, &format!("/checkout/{declined_id}/pay"), "");
    assert_eq!(status, 400);
    let missing = ureq::get(&format!("{}/checkout/cs_nope", server.base)).call();
    match missing {
        Err(ureq::Error::Status(404, response)) => {
            assert!(response
                .into_string()
                .expect("html")
                .contains("No such checkout session"))
        }
        other => panic!("{other:?}"),
    }
    // A session left unpaid expires by the timer; paying it then credits nothing.
    let late = server.send("POST", "/v1/payment-sessions", &body);
    let late_id = late.body["id"].as_str().expect("id").to_owned();
    server.advance(31 * 60);
    let shown = server.call(
        "GET",
        &format!("/v1/payment-sessions/{late_id}"),
        None,
        None,
    );
    assert_eq!(shown.body["status"], "expired");
    post_form(&server, &format!("/checkout/{late_id}/pay"), "card=visa");
    assert_eq!(wallet_balance(&server), "30.00");
    // Bad input names its field.
    for (bad, field) in [
        (
            json!({"customer": "c", "product": "p", "title": "t", "amounts": {"USD": "1.001"}, "return_url": "https://x"}),
            "amounts.USD",
        ),
        (
            json!({"customer": "c", "product": "p", "title": "t", "amounts": {}, "return_url": "https://x"}),
            "amounts",
        ),
        (
            json!({"customer": "c", "product": "p", "title": "t", "amounts": {"USD": "1"}, "return_url": "javascript:alert(1)"}),
            "return_url",
        ),
    ] {
        let reply = server.send("POST", "/v1/payment-sessions", &bad);
        assert_eq!(reply.status, 400, "{bad}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["field"], field, "{bad}");
    }
    server.assert_verified();
}
