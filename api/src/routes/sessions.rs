//! Payment sessions (seed 004): `POST /v1/payment-sessions` makes one and
//! answers its `checkoutUrl`; with the `test` provider that is a page Tally
//! serves itself (`GET /checkout/{id}`, plain HTML, no script), where paying
//! with the test card completes the session and redirects to the return URL
//! with `sessionId`. `GET /v1/payment-sessions/{id}` is its status and
//! `GET /v1/balances?customer=&product=&coin=` the deposited balances.

use crate::dto::{money_text, timestamp, MetadataValue};
use crate::error::ApiError;
use crate::providers::{Checkout, CheckoutRequest};
use crate::state::AppState;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::money::parse_decimal;
use engine::sessions::{PaymentSession, ProviderCheckout, SessionStatus};
use engine::{Currency, SessionId, SessionSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a session waits for its payment.
const SESSION_TTL_MS: i64 = 30 * 60 * 1000;
/// Longest return URL.
const URL_LEN_MAX: usize = 2048;

/// `POST /v1/payment-sessions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub customer: String,
    pub product: String,
    pub title: String,
    /// One coin (currency) and its amount, e.g. `{"USD":"15.00"}`.
    pub amounts: BTreeMap<String, String>,
    pub return_url: String,
    pub metadata: Option<BTreeMap<String, MetadataValue>>,
}

/// A session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    id: String,
    object: &'static str,
    #[serde(rename = "checkoutUrl")]
    checkout_url: String,
    /// `pending`, `completed`, `failed` or `expired`.
    status: &'static str,
    customer: String,
    product: String,
    title: String,
    amount: String,
    coin: String,
    return_url: String,
    expires_at: String,
    created_at: String,
    /// The wallet credited and its transaction, once completed.
    wallet_id: Option<String>,
    transaction_id: Option<String>,
}

fn base(request: &HttpRequest) -> String {
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn view(session: &PaymentSession, base: &str) -> SessionView {
    SessionView {
        id: session.id.to_string(),
        object: "payment_session",
        checkout_url: match &session.checkout {
            Some(hosted) => hosted.url.clone(),
            None => format!("{base}/checkout/{}", session.id),
        },
        status: session.status.as_str(),
        customer: session.customer.clone(),
        product: session.product.clone(),
        title: session.title.clone(),
        amount: money_text(session.amount, session.currency),
        coin: session.currency.to_string(),
        return_url: session.return_url.clone(),
        expires_at: timestamp(session.expires_at_ms),
        created_at: timestamp(session.created_at_ms),
        wallet_id: session.wallet_id.as_ref().map(ToString::to_string),
        transaction_id: session.txn_id.as_ref().map(ToString::to_string),
    }
}

#[utoipa::path(post, path = "/v1/payment-sessions", tag = "payments", request_body = NewSession,
    responses((status = 201, description = "The session, pending, with its checkoutUrl", body = SessionView)), security(("bearer" = [])))]
/// `POST /v1/payment-sessions`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: NewSession =
        crate::body::read_json(&request, payload, state.limits.body_limit_bytes).await?;
    let customer = crate::dto::identifier("customer", &body.customer)?;
    let product = crate::dto::identifier("product", &body.product)?;
    let title = crate::dto::identifier("title", &body.title)?;
    let [(coin, amount)]: [(String, String); 1] = body
        .amounts
        .into_iter()
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| ApiError::field("amounts", "must hold exactly one coin and its amount"))?;
    let currency = Currency::parse(&coin)
        .ok_or_else(|| ApiError::field("amounts", format!("{coin:?} is not a known currency")))?;
    let amount = parse_decimal(&amount, currency.minor_units())
        .map_err(|error| ApiError::amount(&format!("amounts.{coin}"), error))?;
    if amount.is_zero() {
        return Err(ApiError::field(
            &format!("amounts.{coin}"),
            "must be greater than zero",
        ));
    }
    let url = body.return_url;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.len() > URL_LEN_MAX
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ApiError::field(
            "return_url",
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    let metadata = crate::dto::metadata_from_map(&state.limits, body.metadata)?;
    // Checked before any provider is asked (the engine checks it again).
    let wallets = state.engine.config().user_wallet_currency;
    if currency != wallets {
        return Err(ApiError::field(
            "amounts",
            format!("must be in {wallets}, the currency of customers' wallets"),
        ));
    }
    let now_ms = state.engine.now_ms();
    let id = SessionId::generate(now_ms);
    let back = with_session_id(&url, &id);
    let amount_minor = engine::money::minor_amount(amount, currency)
        .ok_or_else(|| ApiError::field(&format!("amounts.{coin}"), "is too large"))?;
    // A provider that hosts its checkout makes it first, under this id (its
    // key): a crash before the session is stored leaves a checkout nobody
    // was sent to. Stripe takes 30 min to 24 h: a minute past ours.
    let provider = std::sync::Arc::clone(&state.provider);
    let (session_key, title_text, currency_code) = (id.to_string(), title.clone(), coin.clone());
    let success = back.clone();
    let expires_at_secs = (now_ms + SESSION_TTL_MS) / 1000 + 60;
    let hosted = web::block(move || {
        provider.checkout(&CheckoutRequest {
            session_id: &session_key,
            title: &title_text,
            amount_minor,
            currency: &currency_code,
            success_url: &success,
            cancel_url: &success,
            expires_at_secs,
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    let checkout = match hosted {
        Checkout::OwnPage => None,
        Checkout::Hosted { reference, url } => Some(ProviderCheckout {
            provider: state.provider.name().to_owned(),
            reference,
            url,
        }),
        Checkout::Refused { reason } => {
            return Err(ApiError::field(
                &format!("amounts.{coin}"),
                format!("the payment provider refused the checkout: {reason}"),
            ))
        }
        Checkout::Unavailable { reason } => {
            tracing::warn!(%reason, "payment provider refused or did not answer a checkout");
            return Err(ApiError::ProviderUnavailable);
        }
    };
    let spec = SessionSpec {
        id,
        customer,
        product,
        title,
        currency,
        amount,
        return_url: url,
        metadata,
        ttl_ms: SESSION_TTL_MS,
        checkout,
    };
    let session = state.engine.create_session(spec).await?;
    Ok(HttpResponse::Created().json(view(&session, &base(&request))))
}

fn session_id(text: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(text).ok_or(ApiError::PaymentNotFound)
}

#[utoipa::path(get, path = "/v1/payment-sessions/{id}", tag = "payments", params(("id" = String, Path, description = "Session id (cs_…)")),
    responses((status = 200, description = "The session", body = SessionView), (status = 404, description = "No such session")), security(("bearer" = [])))]
/// `GET /v1/payment-sessions/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = state
        .engine
        .session(&session_id(&path)?)?
        .ok_or(ApiError::PaymentNotFound)?;
    Ok(HttpResponse::Ok().json(view(&session, &base(&request))))
}

/// Query of the balances.
#[derive(Debug, Deserialize)]
pub struct BalanceQuery {
    customer: Option<String>,
    product: Option<String>,
    coin: Option<String>,
}

#[derive(Serialize)]
struct BalanceView {
    customer: String,
    product: String,
    coin: String,
    balance: String,
}

#[utoipa::path(get, path = "/v1/balances", tag = "payments",
    params(("customer" = Option<String>, Query, description = "A customer; empty or absent: all"),
        ("product" = Option<String>, Query, description = "A product; empty or absent: all"),
        ("coin" = Option<String>, Query, description = "A coin (currency); empty or absent: all")),
    responses((status = 200, description = "Deposited balances per customer, product and coin")), security(("bearer" = [])))]
/// `GET /v1/balances?customer=&product=&coin=`.
pub async fn balances(
    state: web::Data<AppState>,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let rows = state.engine.session_balances(
        &text(&query.customer),
        &text(&query.product),
        &text(&query.coin),
    )?;
    let data: Vec<BalanceView> = rows
        .into_iter()
        .map(|(customer, product, coin, amount)| BalanceView {
            balance: Currency::parse(&coin).map_or_else(
                || amount.to_string(),
                |currency| money_text(amount, currency),
            ),
            customer,
            product,
            coin,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"object": "list", "data": data})))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The checkout page's query: `declined=1` after a declined card.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    declined: Option<String>,
}

/// A plain HTML page.
fn html(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}h1{{font-size:1.4rem}}#error{{color:#b00020}}</style></head>
<body><h1>{title}</h1>
{body}
<p><small>Test checkout served by Tally (provider "test"): no card is charged.</small></p>
</body></html>"#,
            title = escape(title),
        ))
}

/// `url` with `sessionId` added.
fn with_session_id(url: &str, id: &SessionId) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sessionId={id}")
}

/// The session's return URL with its `sessionId`.
fn return_target(session: &PaymentSession) -> String {
    with_session_id(&session.return_url, &session.id)
}

/// `GET /checkout/{id}`: the test provider's checkout page. A declined
/// card brings the customer back here with the reason, the session still
/// open, as a hosted checkout does: they may try another card or go back.
pub async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    // Sessions a provider hosts are paid there, never here.
    let found = match SessionId::parse(&path) {
        Some(id) => state
            .engine
            .session(&id)?
            .filter(|session| session.checkout.is_none() && state.provider.name() == "test"),
        None => None,
    };
    let Some(session) = found else {
        return Ok(html(
            actix_web::http::StatusCode::NOT_FOUND,
            "Checkout not found",
            "<p>No such checkout session.</p>",
        ));
    };
    let amount = format!(
        "{} {}",
        money_text(session.amount, session.currency),
        session.currency
    );
    let body = if session.status == SessionStatus::Pending {
        let error = if query.declined.is_some() {
            "<p id=\"error\" role=\"alert\">Your card was declined. Choose another card.</p>\n"
        } else {
            ""
        };
        format!(
            r#"{error}<form method="post" action="/checkout/{id}/pay">
<p><label><input type="radio" name="card" value="visa" checked> Test card 4242 4242 4242 4242 (succeeds)</label></p>
<p><label><input type="radio" name="card" value="declined"> Test card 4000 0000 0000 0002 (declined)</label></p>
<p><button type="submit" id="pay">Pay {amount}</button></p>
</form>
<p><a id="back" href="{back}">Cancel and go back</a></p>"#,
            id = session.id,
            amount = escape(&amount),
            back = escape(&return_target(&session)),
        )
    } else {
        format!(
            "<p id=\"status\">This payment is {}.</p>\n<p><a id=\"back\" href=\"{}\">Go back</a></p>",
            session.status.as_str(),
            escape(&return_target(&session)),
        )
    };
    let body = format!(
        "<p>Amount: <strong id=\"amount\">{}</strong></p>\n{body}",
        escape(&amount)
    );
    Ok(html(actix_web::http::StatusCode::OK, &session.title, &body))
}

/// The checkout form.
#[derive(Debug, Deserialize)]
pub struct PayForm {
    card: Option<String>,
}

/// `POST /checkout/{id}/pay`: pays and goes back to the return URL with
/// `sessionId`; a declined card goes back to the page, the session open.
pub async fn pay(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<PayForm>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    // Sessions a provider hosts are paid there, never here.
    if state
        .engine
        .session(&id)?
        .is_none_or(|session| session.checkout.is_some() || state.provider.name() != "test")
    {
        return Err(ApiError::PaymentNotFound);
    }
    let target = match form.card.as_deref() {
        Some("visa") => return_target(&state.engine.finish_session(&id, true).await?),
        Some("declined") => {
            state
                .engine
                .session(&id)?
                .ok_or(ApiError::PaymentNotFound)?;
            format!("/checkout/{id}?declined=1")
        }
        _ => return Err(ApiError::field("card", "must be visa or declined")),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish())
}
