//! A fake Stripe for the tests: a real HTTP server on 127.0.0.1 that keeps
//! every request Tally sent (method, path, auth, Idempotency-Key, form) and
//! answers with Stripe's documented shapes. `POST /v1/payment_intents`
//! creates a PaymentIntent from the form's `payment_method` (none: 400) as
//! Stripe's test tokens do (`pm_card_chargeDeclined`: 402 `card_declined`;
//! `pm_card_processing`: `processing`; else `succeeded`) and, as Stripe
//! does, answers a repeated Idempotency-Key with the first answer;
//! `GET /v1/payment_intents/{id}` reads one; `POST /v1/checkout/sessions`
//! makes an open, unpaid Checkout Session with its URL. Queued faults answer the next
//! requests with a 429 (nothing created) or stall past Tally's timeout
//! (the intent *is* created: Stripe charged, Tally never heard).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The secret key the fake accepts.
pub(crate) const SECRET_KEY: &str = "sk_test_tally_fake";

/// A request Tally sent.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authorization: String,
    pub(crate) idempotency_key: String,
    pub(crate) form: BTreeMap<String, String>,
}

/// How the next request is answered.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// 429 `rate_limit_error`.
    RateLimit,
    /// The reply is held this long (past Tally's timeout).
    Stall(Duration),
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    faults: VecDeque<Fault>,
    /// Idempotency-Key → the first answer.
    answers: HashMap<String, (u16, String)>,
    intents: HashMap<String, serde_json::Value>,
    checkouts: Vec<serde_json::Value>,
}

/// A running fake; it lives as long as the test process.
pub(crate) struct FakeStripe {
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

impl FakeStripe {
    pub(crate) fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeStripe { url, state }
    }

    /// Queues faults for the next requests.
    pub(crate) fn fail_next(&self, faults: &[Fault]) {
        self.state
            .lock()
            .expect("state")
            .faults
            .extend(faults.iter().copied());
    }

    /// Drops the faults still queued.
    pub(crate) fn heal(&self) {
        self.state.lock().expect("state").faults.clear();
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("state").calls.clone()
    }

    /// PaymentIntents created (each a charge).
    pub(crate) fn intents(&self) -> Vec<serde_json::Value> {
        self.state
            .lock()
            .expect("state")
            .intents
            .values()
            .cloned()
            .collect()
    }

    /// Moves a PaymentIntent to `status` (as Stripe does when a delayed
    /// payment settles).
    pub(crate) fn set_intent_status(&self, id: &str, status: &str) {
        if let Some(intent) = self.state.lock().expect("state").intents.get_mut(id) {
            intent["status"] = serde_json::json!(status);
        }
    }

    /// Checkout Sessions created.
    pub(crate) fn checkouts(&self) -> Vec<serde_json::Value> {
        self.state.lock().expect("state").checkouts.clone()
    }

    /// The settings that point Tally at this fake.
    pub(crate) fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TALLY_PAYMENTS__PROVIDER", "stripe".into()),
            ("TALLY_PAYMENTS__STRIPE_SECRET_KEY", SECRET_KEY.into()),
            ("TALLY_PAYMENTS__STRIPE_BASE_URL", self.url.clone()),
            ("TALLY_PAYMENTS__STRIPE_TIMEOUT_MS", "500".into()),
        ]
    }

    /// Waits until at least `count` requests arrived.
    pub(crate) fn wait_for_calls(&self, count: usize) {
        for _ in 0..500 {
            if self.calls().len() >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the fake Stripe saw {} requests, not {count}",
            self.calls().len()
        );
    }
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (decode(name), decode(value)))
        .collect();
    let call = Call {
        method,
        path,
        authorization: headers.get("authorization").cloned().unwrap_or_default(),
        idempotency_key: headers.get("idempotency-key").cloned().unwrap_or_default(),
        form,
    };
    let (fault, (status, reply)) = {
        let mut state = state.lock().expect("state");
        state.calls.push(call.clone());
        let fault = state.faults.pop_front();
        let answer = match fault {
            Some(Fault::RateLimit) => (
                429,
                serde_json::json!({"error": {"type": "rate_limit_error", "code": "rate_limit",
                    "message": "Request rate limit exceeded."}})
                .to_string(),
            ),
            _ => answer(&mut state, &call),
        };
        (fault, answer)
    };
    if let Some(Fault::Stall(stall)) = fault {
        std::thread::sleep(stall);
    }
    let reason = match status {
        200 => "OK",
        402 => "Payment Required",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

fn error(status: u16, kind: &str, message: &str) -> (u16, String) {
    (
        status,
        serde_json::json!({"error": {"type": kind, "message": message}}).to_string(),
    )
}

fn answer(state: &mut State, call: &Call) -> (u16, String) {
    if call.authorization != format!("Bearer {SECRET_KEY}") {
        return error(401, "invalid_request_error", "Invalid API Key provided");
    }
    if call.method == "GET" {
        return match call
            .path
            .strip_prefix("/v1/payment_intents/")
            .and_then(|id| state.intents.get(id))
        {
            Some(intent) => (200, intent.to_string()),
            None => error(404, "invalid_request_error", "No such payment_intent"),
        };
    }
    if let Some(first) = state.answers.get(&call.idempotency_key) {
        return first.clone();
    }
    let answer = match (call.method.as_str(), call.path.as_str()) {
        ("POST", "/v1/payment_intents") => payment_intent(state, call),
        ("POST", "/v1/checkout/sessions") => checkout_session(state, call),
        _ => return error(404, "invalid_request_error", "Unrecognized request URL"),
    };
    if !call.idempotency_key.is_empty() {
        state
            .answers
            .insert(call.idempotency_key.clone(), answer.clone());
    }
    answer
}

fn checkout_session(state: &mut State, call: &Call) -> (u16, String) {
    let id = format!("cs_fake_{}", state.checkouts.len() + 1);
    let session = serde_json::json!({
        "id": id, "object": "checkout.session", "status": "open", "payment_status": "unpaid",
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        "client_reference_id": call.form.get("client_reference_id"),
        "metadata": {"tally_session_id": call.form.get("metadata[tally_session_id]")},
    });
    state.checkouts.push(session.clone());
    (200, session.to_string())
}

fn payment_intent(state: &mut State, call: &Call) -> (u16, String) {
    let field = |name: &str| call.form.get(name).cloned().unwrap_or_default();
    let token = field("payment_method");
    if token.is_empty() {
        return error(
            400,
            "invalid_request_error",
            "You must provide a payment_method.",
        );
    }
    let id = format!("pi_fake_{}", state.intents.len() + 1);
    let status = match token.as_str() {
        "pm_card_chargeDeclined" => "requires_payment_method",
        "pm_card_processing" => "processing",
        _ => "succeeded",
    };
    let intent = serde_json::json!({
        "id": id, "object": "payment_intent", "status": status,
        "amount": field("amount").parse::<i64>().unwrap_or(-1), "currency": field("currency"),
        "payment_method": token,
        "metadata": {"tally_payment_id": field("metadata[tally_payment_id]")},
    });
    state.intents.insert(id.clone(), intent.clone());
    if status == "requires_payment_method" {
        (
            402,
            serde_json::json!({"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "generic_decline", "message": "Your card was declined.",
                "payment_intent": intent}})
            .to_string(),
        )
    } else {
        (200, intent.to_string())
    }
}
