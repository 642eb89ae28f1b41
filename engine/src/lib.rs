//! Tally's engine: exact money, the wallet state machine, one actix actor per
//! resident wallet, and durable group commit over RocksDB.
//!
//! Layout: `money` and `wallet` are pure rules; `actor` and `router` give each
//! wallet a mailbox on a shard thread; `commit` is the single writer that
//! makes changes durable in groups; `store` is the RocksDB boundary; `engine`
//! is the facade the API calls; `verify` recomputes everything from the
//! ledger. This crate knows nothing of HTTP or JSON.

pub mod accounts;
#[cfg(feature = "rocks")]
pub mod actor;
pub mod clock;
pub mod commit;
pub mod credentials;
#[cfg(feature = "rocks")]
pub mod engine;
pub mod error;
pub mod events;
pub mod holds;
pub mod idempotency;
pub mod ids;
pub mod invoices;
pub mod lots;
pub mod metrics;
#[cfg(feature = "rocks")]
pub mod migrate;
pub mod money;
pub mod payment_methods;
pub mod payments;
pub mod prices;
#[cfg(feature = "rocks")]
mod residents;
#[cfg(feature = "rocks")]
mod router;
pub mod rules;
pub mod sessions;
pub mod store;
pub mod terms;
#[cfg(feature = "rocks")]
pub mod timer;
pub mod totals;
pub mod transfers;
#[cfg(feature = "rocks")]
mod users;
pub mod verify;
pub mod wallet;
pub mod watermark;

#[cfg(feature = "rocks")]
pub use actor::Receipt;
pub use clock::{Clock, ManualClock, SystemClock};
pub use commit::Durability;
#[cfg(feature = "rocks")]
pub use engine::{
    BatchItem, CaptureRequest, Created, Engine, EngineConfig, HoldPage, HoldRequest, HoldView,
    MethodPatch, OpenError, Page, PaymentSpec, PriceList, PriceVersionPage, SessionSpec,
    StoreLayer, Target, TimerPass, TransferSpec, WalletFilter, WalletList,
};
pub use error::Error;
pub use events::{Delivery, DeliveryStatus, Event, EventKind};
pub use ids::{
    HoldId, InvoiceId, PaymentId, PaymentMethodId, PriceVersionId, SessionId, TransferId, TxnId,
    WalletId,
};
pub use lots::{CreditKind, Lot, LotChange};
pub use money::{Credits, Currency};
pub use prices::{
    Cost, ModelName, Price, PriceAmounts, PriceError, PriceSpec, PriceVersion, Rounding, Usage,
};
pub use rules::{Interval, Method, Rule, Trigger};
pub use terms::{FeeType, FeeTypes, RuleSpec, Terms, TermsPatch, TermsSpec, TriggerSpec};
pub use wallet::{
    Command, Entry, EntryKind, Metadata, NewWallet, Source, Wallet, WalletError, WalletStatus,
};
