//! `ApiError`: every error a client can see, with its HTTP status and stable
//! snake_case code from one exhaustive table (`ApiError::status_and_code`).
//! Bodies are `{"error":{"code","message","field"}}`; 503 carries
//! `Retry-After`. Internal failures are logged in full and shown generically.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use engine::{Error as EngineError, WalletError};
use serde::Serialize;
use std::fmt;

/// A client-visible error.
#[derive(Debug)]
pub enum ApiError {
    /// The body is not valid JSON of the expected shape.
    InvalidJson {
        message: String,
        field: Option<String>,
    },
    /// An amount string was refused.
    InvalidAmount { message: String, field: String },
    /// Another field or query parameter was refused.
    InvalidField { message: String, field: String },
    /// The Idempotency-Key header was refused.
    InvalidIdempotencyKey { message: String },
    /// Missing or wrong bearer key.
    Unauthorized,
    /// The key's scope does not allow this route.
    Forbidden { scope: &'static str },
    /// No wallet with that id.
    WalletNotFound,
    /// No such route.
    RouteNotFound,
    /// No API key with that id.
    KeyNotFound,
    /// No price of that model (in force at the time asked about).
    UnknownModel { message: String },
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// A debit, void, hold or capture larger than the available credits.
    InsufficientCredits {
        message: String,
        /// The credits that were available.
        available_credits: Option<String>,
        /// Where the wallet's owner can buy more (`[gateway] top_up_url`).
        top_up_url: Option<String>,
    },
    /// No hold with that id.
    HoldNotFound,
    /// No transfer with that id.
    TransferNotFound,
    /// No transaction with that id.
    TransactionNotFound,
    /// No invoice with that id.
    InvoiceNotFound,
    /// No payment method with that id (of that user).
    PaymentMethodNotFound,
    /// An inactive payment method cannot be charged.
    PaymentMethodInactive,
    /// No payment with that id (of that user).
    PaymentNotFound,
    /// The provider declined the charge; nothing was credited.
    PaymentDeclined { message: String },
    /// A receiving wallet refused a transfer; the source was refunded.
    TransferFailed { message: String },
    /// The hold was resolved before (captured, released or expired).
    HoldResolved {
        message: String,
        status: engine::holds::HoldStatus,
    },
    /// Terminating a wallet with pending holds.
    HoldsPending { message: String },
    /// A hold past the most one wallet may have pending.
    TooManyHolds { message: String },
    /// A usage, hold or capture names a model the price book has no price of.
    ModelNotPriced { message: String },
    /// The price is in another currency than the wallet.
    PriceCurrencyMismatch { message: String },
    /// Wallets of a transfer in different currencies.
    CurrencyMismatch { message: String, field: String },
    /// Same idempotency key, different request.
    IdempotencyKeyReused,
    /// A pending wallet refused a debit or void.
    WalletNotActive { message: String },
    /// A terminated wallet refused a change.
    WalletTerminated { message: String },
    /// Activating an active wallet (or the like).
    InvalidStatusTransition { message: String },
    /// The wallet's `applies_to.fee_types` excludes the debit's fee type.
    FeeTypeNotCovered { message: String },
    /// A void named a lot the wallet has no open lot of.
    LotNotFound { message: String },
    /// The clock can only be set when the server runs on a manual clock.
    ClockNotManual,
    /// Body over the configured limit.
    PayloadTooLarge { limit: usize },
    /// The body did not arrive in time.
    RequestTimeout,
    /// A result would not fit the representable range.
    AmountOutOfRange { message: String, field: String },
    /// A queue is full; retry later.
    Overloaded,
    /// The payment provider refused or did not answer; nothing was made.
    ProviderUnavailable,
    /// Storage failed; nothing was acknowledged; retry later.
    StorageUnavailable,
    /// The server is stopping.
    ShuttingDown,
    /// A bug or corrupt data; details are in the log only.
    Internal,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_credits: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_up_url: Option<&'a str>,
}

impl ApiError {
    /// The one table: status and code of every error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidJson { .. } => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidAmount { .. } => (StatusCode::BAD_REQUEST, "invalid_amount"),
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::InvalidIdempotencyKey { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_idempotency_key")
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::InsufficientCredits { .. } => {
                (StatusCode::PAYMENT_REQUIRED, "insufficient_credits")
            }
            ApiError::HoldNotFound => (StatusCode::NOT_FOUND, "hold_not_found"),
            ApiError::TransferNotFound => (StatusCode::NOT_FOUND, "transfer_not_found"),
            ApiError::TransactionNotFound => (StatusCode::NOT_FOUND, "transaction_not_found"),
            ApiError::InvoiceNotFound => (StatusCode::NOT_FOUND, "invoice_not_found"),
            ApiError::PaymentMethodNotFound => (StatusCode::NOT_FOUND, "payment_method_not_found"),
            ApiError::PaymentMethodInactive => (StatusCode::CONFLICT, "payment_method_inactive"),
            ApiError::PaymentNotFound => (StatusCode::NOT_FOUND, "payment_not_found"),
            ApiError::PaymentDeclined { .. } => (StatusCode::PAYMENT_REQUIRED, "payment_declined"),
            ApiError::TransferFailed { .. } => (StatusCode::CONFLICT, "transfer_failed"),
            ApiError::HoldResolved { status, .. } => (
                StatusCode::CONFLICT,
                match status {
                    engine::holds::HoldStatus::Captured => "hold_already_captured",
                    engine::holds::HoldStatus::Released => "hold_already_released",
                    engine::holds::HoldStatus::Expired => "hold_expired",
                    engine::holds::HoldStatus::Pending => "hold_pending",
                },
            ),
            ApiError::HoldsPending { .. } => (StatusCode::CONFLICT, "holds_pending"),
            ApiError::TooManyHolds { .. } => (StatusCode::CONFLICT, "too_many_holds"),
            ApiError::ModelNotPriced { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_model"),
            ApiError::PriceCurrencyMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "price_currency_mismatch")
            }
            ApiError::CurrencyMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch")
            }
            ApiError::WalletNotFound => (StatusCode::NOT_FOUND, "wallet_not_found"),
            ApiError::RouteNotFound => (StatusCode::NOT_FOUND, "route_not_found"),
            ApiError::KeyNotFound => (StatusCode::NOT_FOUND, "api_key_not_found"),
            ApiError::UnknownModel { .. } => (StatusCode::NOT_FOUND, "unknown_model"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::IdempotencyKeyReused => (StatusCode::CONFLICT, "idempotency_key_reused"),
            ApiError::WalletNotActive { .. } => (StatusCode::CONFLICT, "wallet_not_active"),
            ApiError::WalletTerminated { .. } => (StatusCode::CONFLICT, "wallet_terminated"),
            ApiError::InvalidStatusTransition { .. } => {
                (StatusCode::CONFLICT, "invalid_status_transition")
            }
            ApiError::FeeTypeNotCovered { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "fee_type_not_covered")
            }
            ApiError::LotNotFound { .. } => (StatusCode::NOT_FOUND, "lot_not_found"),
            ApiError::ClockNotManual => (StatusCode::CONFLICT, "clock_not_manual"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::AmountOutOfRange { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "amount_out_of_range")
            }
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::ProviderUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable")
            }
            ApiError::StorageUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::InvalidJson { message, .. }
            | ApiError::InvalidAmount { message, .. }
            | ApiError::InvalidField { message, .. }
            | ApiError::InvalidIdempotencyKey { message }
            | ApiError::InsufficientCredits { message, .. }
            | ApiError::HoldResolved { message, .. }
            | ApiError::HoldsPending { message }
            | ApiError::TooManyHolds { message }
            | ApiError::TransferFailed { message }
            | ApiError::PaymentDeclined { message }
            | ApiError::ModelNotPriced { message }
            | ApiError::PriceCurrencyMismatch { message }
            | ApiError::CurrencyMismatch { message, .. }
            | ApiError::WalletNotActive { message }
            | ApiError::WalletTerminated { message }
            | ApiError::InvalidStatusTransition { message }
            | ApiError::FeeTypeNotCovered { message }
            | ApiError::LotNotFound { message }
            | ApiError::UnknownModel { message }
            | ApiError::AmountOutOfRange { message, .. } => message.clone(),
            ApiError::ClockNotManual => "the clock can be set only when the server runs with clock = \"manual\"".into(),
            ApiError::Unauthorized => "missing or invalid bearer key (Authorization: Bearer <key>)".into(),
            ApiError::Forbidden { scope } => format!("a key with scope {scope} may not call this route"),
            ApiError::WalletNotFound => "no wallet with this id".into(),
            ApiError::RouteNotFound => "no such route".into(),
            ApiError::KeyNotFound => "no API key with this id".into(),
            ApiError::HoldNotFound => "no hold with this id".into(),
            ApiError::TransferNotFound => "no transfer with this id".into(),
            ApiError::TransactionNotFound => "no transaction with this id".into(),
            ApiError::InvoiceNotFound => "no invoice with this id".into(),
            ApiError::PaymentMethodNotFound => "no payment method with this id".into(),
            ApiError::PaymentMethodInactive => {
                "this payment method is inactive and cannot be charged".into()
            }
            ApiError::PaymentNotFound => "no payment with this id".into(),
            ApiError::MethodNotAllowed => "this route does not accept this method".into(),
            ApiError::IdempotencyKeyReused => {
                "this Idempotency-Key was already used with a different request".into()
            }
            ApiError::PayloadTooLarge { limit } => format!("request body is larger than {limit} bytes"),
            ApiError::RequestTimeout => "the request body did not arrive in time".into(),
            ApiError::Overloaded => "the server is at capacity; retry after the Retry-After delay".into(),
            ApiError::ProviderUnavailable => "the payment provider refused or did not answer; nothing was made, retry later".into(),
            ApiError::StorageUnavailable => {
                "the change could not be made durable and was not applied; retry with the same Idempotency-Key".into()
            }
            ApiError::ShuttingDown => "the server is shutting down; retry shortly".into(),
            ApiError::Internal => "internal error; it has been logged".into(),
        }
    }

    fn field_name(&self) -> Option<&str> {
        match self {
            ApiError::InvalidJson { field, .. } => field.as_deref(),
            ApiError::InvalidAmount { field, .. }
            | ApiError::InvalidField { field, .. }
            | ApiError::AmountOutOfRange { field, .. }
            | ApiError::CurrencyMismatch { field, .. } => Some(field),
            ApiError::InvalidIdempotencyKey { .. } => Some("Idempotency-Key"),
            ApiError::FeeTypeNotCovered { .. } => Some("fee_type"),
            ApiError::LotNotFound { .. } => Some("lot_id"),
            ApiError::UnknownModel { .. } | ApiError::ModelNotPriced { .. } => Some("model"),
            _ => None,
        }
    }

    /// An amount refusal naming its field.
    pub fn amount(field: &str, message: impl fmt::Display) -> ApiError {
        ApiError::InvalidAmount {
            message: format!("{field} {message}"),
            field: field.to_owned(),
        }
    }

    /// No price of `model` in force now, or at `at` when given.
    pub fn unknown_model(model: &str, at: Option<&str>) -> ApiError {
        let message = match at {
            Some(at) => format!("no price of model {model:?} is in force at {at}"),
            None => format!("no price of model {model:?} is in force"),
        };
        ApiError::UnknownModel { message }
    }

    /// A field refusal naming its field.
    pub fn field(field: &str, message: impl fmt::Display) -> ApiError {
        ApiError::InvalidField {
            message: format!("{field} {message}"),
            field: field.to_owned(),
        }
    }
}

/// The JSON detail of an error, owned, for embedding (batch item results).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorView {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// 402 only: the credits that were available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_credits: Option<String>,
    /// 402 only, when `[gateway] top_up_url` is set: where to buy more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_up_url: Option<String>,
}

/// The body of every error response (documentation schema of `Body`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorView,
}

impl ApiError {
    /// Status and JSON detail, for an error reported inside a 200 reply.
    pub fn view(&self) -> (u16, ErrorView) {
        let (status, code) = self.status_and_code();
        let (available_credits, top_up_url) = self.payment_details();
        let view = ErrorView {
            code,
            message: self.message(),
            field: self.field_name().map(str::to_owned),
            available_credits: available_credits.map(str::to_owned),
            top_up_url: top_up_url.map(str::to_owned),
        };
        (status.as_u16(), view)
    }
}

impl ApiError {
    /// The error in seed 002's envelope: `{"statusCode","message","error"}`,
    /// the same status, code and field inside.
    pub fn enveloped_response(&self) -> HttpResponse {
        let (status, error) = self.view();
        let mut response = HttpResponse::build(self.status_code());
        if status == 503 {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(serde_json::json!({
            "statusCode": status,
            "message": error.message.clone(),
            "error": error,
        }))
    }

    /// A 402's available credits and top-up link.
    fn payment_details(&self) -> (Option<&str>, Option<&str>) {
        match self {
            ApiError::InsufficientCredits {
                available_credits,
                top_up_url,
                ..
            } => (available_credits.as_deref(), top_up_url.as_deref()),
            _ => (None, None),
        }
    }

    /// Adds the link where the wallet's owner buys more credits to a 402.
    pub fn with_top_up_url(mut self, url: Option<String>) -> ApiError {
        if let ApiError::InsufficientCredits { top_up_url, .. } = &mut self {
            *top_up_url = url;
        }
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, code) = self.status_and_code();
        write!(f, "{code}: {}", self.message())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        let message = self.message();
        let (available_credits, top_up_url) = self.payment_details();
        let body = Body {
            error: Detail {
                code,
                message: &message,
                field: self.field_name(),
                available_credits,
                top_up_url,
            },
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(body)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::Rejected(refusal) => ApiError::from(refusal),
            EngineError::WalletNotFound => ApiError::WalletNotFound,
            EngineError::HoldNotFound => ApiError::HoldNotFound,
            EngineError::TransferNotFound => ApiError::TransferNotFound,
            EngineError::TransactionNotFound => ApiError::TransactionNotFound,
            EngineError::InvoiceNotFound => ApiError::InvoiceNotFound,
            EngineError::PaymentMethodNotFound => ApiError::PaymentMethodNotFound,
            EngineError::PaymentNotFound => ApiError::PaymentNotFound,
            EngineError::UnknownModel(model) => ApiError::ModelNotPriced {
                message: format!(
                    "no price of model {model:?} is in force; usage is never priced at zero"
                ),
            },
            EngineError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            EngineError::Overloaded(reason) => {
                tracing::warn!(reason, "request refused: overloaded");
                ApiError::Overloaded
            }
            EngineError::Unavailable(reason) => {
                tracing::warn!(%reason, "request failed: storage unavailable");
                ApiError::StorageUnavailable
            }
            EngineError::ShuttingDown => ApiError::ShuttingDown,
            EngineError::Store(error) => {
                tracing::error!(%error, "storage error");
                ApiError::Internal
            }
        }
    }
}

impl From<WalletError> for ApiError {
    fn from(refusal: WalletError) -> ApiError {
        let message = refusal.to_string();
        match refusal {
            WalletError::InsufficientCredits { available, .. } => ApiError::InsufficientCredits {
                message,
                available_credits: Some(available.to_string()),
                top_up_url: None,
            },
            WalletError::HoldNotPending { .. } => ApiError::HoldNotFound,
            WalletError::HoldResolved { status, .. } => ApiError::HoldResolved { message, status },
            WalletError::HoldsPending { .. } => ApiError::HoldsPending { message },
            WalletError::TooManyHolds { .. } => ApiError::TooManyHolds { message },
            WalletError::UnknownModel { .. } => ApiError::ModelNotPriced { message },
            WalletError::CurrencyMismatch { field, .. } => ApiError::CurrencyMismatch {
                message,
                field: field.to_owned(),
            },
            WalletError::Price { field, error } => match error {
                engine::prices::PriceError::CurrencyMismatch { .. } => {
                    ApiError::PriceCurrencyMismatch { message }
                }
                engine::prices::PriceError::CreditsOutOfRange
                | engine::prices::PriceError::CostOutOfRange => ApiError::AmountOutOfRange {
                    message,
                    field: field.to_owned(),
                },
                _ => ApiError::InvalidField {
                    message,
                    field: field.to_owned(),
                },
            },
            WalletError::NotPositive { field }
            | WalletError::CurrencyScale { field, .. }
            | WalletError::BelowOneCreditUnit { field }
            | WalletError::InvalidRate { field } => ApiError::InvalidAmount {
                message,
                field: field.to_owned(),
            },
            WalletError::OutOfRange { field, .. } => ApiError::AmountOutOfRange {
                message,
                field: field.to_owned(),
            },
            WalletError::RateTooLarge { field, .. } => ApiError::InvalidAmount {
                message,
                field: field.to_owned(),
            },
            WalletError::NotActive { .. } => ApiError::WalletNotActive { message },
            WalletError::Terminated { .. } => ApiError::WalletTerminated { message },
            WalletError::AlreadyInStatus { .. } => ApiError::InvalidStatusTransition { message },
            WalletError::FeeTypeNotCovered { .. } => ApiError::FeeTypeNotCovered { message },
            WalletError::LotNotFound { .. } => ApiError::LotNotFound { message },
            WalletError::NotInFuture { field } | WalletError::InvalidTerms { field, .. } => {
                ApiError::InvalidField { message, field }
            }
            WalletError::RuleRefused { .. } => {
                // Rules run inside the engine; no client request gets here.
                tracing::error!(%message, "a rule refusal reached the API");
                ApiError::Internal
            }
        }
    }
}
