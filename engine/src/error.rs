//! The engine's error type: business refusals (`Rejected`), request-level
//! refusals (not found, key reuse), back-pressure, and internal failures,
//! kept apart so the API can map each to one status without guessing.

use crate::commit::CommitError;
use crate::store::StoreError;
use crate::wallet::WalletError;

/// Everything an engine call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wallet rule refused the command; nothing changed.
    #[error(transparent)]
    Rejected(#[from] WalletError),
    /// No wallet with that id (or no wallet for that user).
    #[error("wallet not found")]
    WalletNotFound,
    /// No hold with that id.
    #[error("hold not found")]
    HoldNotFound,
    /// No transfer with that id.
    #[error("transfer not found")]
    TransferNotFound,
    /// No transaction with that id.
    #[error("transaction not found")]
    TransactionNotFound,
    /// No invoice with that id.
    #[error("invoice not found")]
    InvoiceNotFound,
    /// No payment method with that id (of that user).
    #[error("payment method not found")]
    PaymentMethodNotFound,
    /// No payment with that id.
    #[error("payment not found")]
    PaymentNotFound,
    /// No price for the model at the time asked.
    #[error("no price for model {0}")]
    UnknownModel(String),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// A queue is full; the client should retry later. Nothing changed.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// The change was not made durable (storage failure); nothing changed
    /// that was not already durable. Retrying with the same key is safe.
    #[error("storage unavailable: {0}")]
    Unavailable(CommitError),
    /// Storage could not be read or held corrupt data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl From<CommitError> for Error {
    fn from(error: CommitError) -> Error {
        match error {
            CommitError::QueueFull => Error::Overloaded("commit queue full"),
            CommitError::Closed => Error::ShuttingDown,
            CommitError::WriteFailed | CommitError::Aborted => Error::Unavailable(error),
        }
    }
}

impl Error {
    /// A copy for each item of a batch group that failed as a whole.
    /// Storage errors carry no Clone, so they become `Unavailable`.
    pub fn clone_for_batch(&self) -> Error {
        match self {
            Error::Rejected(refusal) => Error::Rejected(refusal.clone()),
            Error::WalletNotFound => Error::WalletNotFound,
            Error::HoldNotFound => Error::HoldNotFound,
            Error::TransferNotFound => Error::TransferNotFound,
            Error::TransactionNotFound => Error::TransactionNotFound,
            Error::InvoiceNotFound => Error::InvoiceNotFound,
            Error::PaymentMethodNotFound => Error::PaymentMethodNotFound,
            Error::PaymentNotFound => Error::PaymentNotFound,
            Error::UnknownModel(model) => Error::UnknownModel(model.clone()),
            Error::IdempotencyKeyReused => Error::IdempotencyKeyReused,
            Error::Overloaded(reason) => Error::Overloaded(reason),
            Error::Unavailable(reason) => Error::Unavailable(*reason),
            Error::Store(_) => Error::Unavailable(CommitError::Aborted),
            Error::ShuttingDown => Error::ShuttingDown,
        }
    }
}
