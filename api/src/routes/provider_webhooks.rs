//! `POST /v1/providers/stripe/webhook`: a payment provider's events in,
//! verified on the raw body with Stripe's `Stripe-Signature` scheme
//! (`t=<unix seconds>,v1=<hex>[,v1=…]`: HMAC-SHA256 of `t.body` under the
//! endpoint secret, any of the `v1` matching, in constant time, within 300 s
//! of now), then applied once per event id (`Engine::settle_payment`).
//! `payment_intent.succeeded` completes a processing payment (credited and
//! invoiced in one write), `payment_intent.payment_failed` fails it,
//! `charge.refunded` refunds a completed one; `checkout.session.completed`
//! (paid) and `async_payment_succeeded` complete a payment session (seed
//! 004), `async_payment_failed` fails it and `expired` expires it
//! (`Engine::settle_session`); other events are acknowledged and ignored. The key is `[payments]
//! webhook_secret` (empty: every event is refused).

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::sessions::SessionEnd;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// How far a signature's time may be from now.
const TOLERANCE_SECS: i64 = 300;

/// Whether `header` signs `body` with `secret` at a time within the
/// tolerance of `now_secs`.
pub fn verify(header: &str, body: &[u8], secret: &str, now_secs: i64) -> bool {
    if secret.is_empty() {
        return false;
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now_secs - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    signatures
        .iter()
        .any(|candidate| bool::from(candidate.as_slice().ct_eq(expected.as_slice())))
}

#[utoipa::path(post, path = "/v1/providers/stripe/webhook", tag = "payments", params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body>")), request_body(content = String, description = "The provider's event, JSON, verified on its raw bytes", content_type = "application/json"), responses((status = 200, description = "Received (applied once per event id, or ignored)"), (status = 401, description = "Missing, wrong or stale signature; nothing applied")))]
/// `POST /v1/providers/stripe/webhook`.
pub async fn stripe(
    state: web::Data<AppState>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::RequestTimeout)?;
        if body.len() + chunk.len() > state.limits.body_limit_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: state.limits.body_limit_bytes,
            });
        }
        body.extend_from_slice(&chunk);
    }
    let header = request
        .headers()
        .get("Stripe-Signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let now_secs = state.engine.now_ms() / 1000;
    if !verify(header, &body, &state.payments.webhook_secret, now_secs) {
        return Err(ApiError::Unauthorized);
    }
    let event: serde_json::Value =
        serde_json::from_slice(&body).map_err(|error| ApiError::InvalidJson {
            message: format!("the event is not JSON: {error}"),
            field: None,
        })?;
    let field = |path: &[&str]| {
        path.iter()
            .try_fold(&event, |value, key| value.get(key))
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    let (Some(id), Some(kind)) = (field(&["id"]), field(&["type"])) else {
        return Err(ApiError::field("id", "and type are required"));
    };
    let session_end = match kind.as_str() {
        // Card payments are paid on completion; delayed methods say
        // `unpaid` and settle with an async event later.
        "checkout.session.completed" => {
            match field(&["data", "object", "payment_status"]).as_deref() {
                Some("paid" | "no_payment_required") => Some(SessionEnd::Paid),
                _ => None,
            }
        }
        "checkout.session.async_payment_succeeded" => Some(SessionEnd::Paid),
        "checkout.session.async_payment_failed" => Some(SessionEnd::Failed),
        "checkout.session.expired" => Some(SessionEnd::Expired),
        _ => None,
    };
    if kind.starts_with("checkout.session.") {
        let reference = field(&["data", "object", "id"])
            .ok_or_else(|| ApiError::field("data.object.id", "is required"))?;
        let session = field(&["data", "object", "client_reference_id"])
            .or_else(|| field(&["data", "object", "metadata", "tally_session_id"]))
            .and_then(|text| engine::SessionId::parse(&text));
        let (Some(end), Some(session)) = (session_end, session) else {
            return Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})));
        };
        let settled = state
            .engine
            .settle_session("stripe", &id, &session, &reference, end)
            .await?;
        return Ok(HttpResponse::Ok().json(match settled {
            Some(session) => serde_json::json!({
                "received": true,
                "session_id": session.id.to_string(),
                "status": session.status.as_str(),
            }),
            None => serde_json::json!({"received": true}),
        }));
    }
    let succeeded = match kind.as_str() {
        "payment_intent.succeeded" => true,
        "payment_intent.payment_failed" => false,
        "charge.refunded" => {
            // A charge names its PaymentIntent; Tally's charge id is that.
            let reference = field(&["data", "object", "payment_intent"])
                .or_else(|| field(&["data", "object", "id"]))
                .ok_or_else(|| ApiError::field("data.object.payment_intent", "is required"))?;
            for provider in ["stripe", "test"] {
                if let Some(payment) = state
                    .engine
                    .refund_payment(provider, &id, &reference)
                    .await?
                {
                    return Ok(HttpResponse::Ok().json(serde_json::json!({
                        "received": true,
                        "payment_id": payment.id.to_string(),
                        "status": payment.status.as_str(),
                    })));
                }
            }
            return Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})));
        }
        _ => return Ok(HttpResponse::Ok().json(serde_json::json!({"received": true}))),
    };
    let reference = field(&["data", "object", "id"])
        .ok_or_else(|| ApiError::field("data.object.id", "is required"))?;
    // The payment id Tally put in the charge's metadata: it names the
    // payment when a crash kept Tally from recording the provider's id.
    let tally_id = field(&["data", "object", "metadata", "tally_payment_id"])
        .and_then(|text| engine::PaymentId::parse(&text));
    // The offline test provider settles through the same route.
    for provider in ["stripe", "test"] {
        if let Some(payment) = state
            .engine
            .settle_payment(provider, &id, &reference, tally_id.as_ref(), succeeded)
            .await?
        {
            return Ok(HttpResponse::Ok().json(serde_json::json!({
                "received": true,
                "payment_id": payment.id.to_string(),
                "status": payment.status.as_str(),
            })));
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_verify_in_time_with_any_v1_and_never_without_a_secret() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign("whsec_1", 1000, body);
        let other = sign("whsec_old", 1000, body);
        assert!(verify(&format!("t=1000,v1={good}"), body, "whsec_1", 1100));
        assert!(verify(
            &format!("t=1000,v1={other},v1={good}"),
            body,
            "whsec_1",
            1000
        ));
        assert!(
            !verify(&format!("t=1000,v1={good}"), body, "whsec_1", 1301),
            "stale"
        );
        assert!(
            !verify(&format!("t=1000,v1={good}"), b"{}", "whsec_1", 1000),
            "other body"
        );
        assert!(
            !verify(&format!("t=1000,v1={good}"), body, "", 1000),
            "no secret"
        );
        assert!(!verify("v1=00", body, "whsec_1", 1000), "no time");
    }
}
