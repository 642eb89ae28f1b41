//! Tally's HTTP front end: actix-web routes over the engine, the wire format
//! (`dto`), the error table (`error`), bearer auth, metrics and settings.
//! `main.rs` parses the command line and calls [`server::run`].

pub mod auth;
pub mod body;
pub mod deliverer;
pub mod dto;
pub mod error;
pub mod gateway;
pub mod import;
pub mod invoice_pdf;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod offline;
pub mod openapi;
pub mod price_book;
pub mod providers;
pub mod reconcile;
pub mod routes;
pub mod server;
pub mod settings;
pub mod state;
pub mod webhooks;
