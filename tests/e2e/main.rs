//! End-to-end tests: each starts the real `tally` binary on 127.0.0.1 with a
//! temp data folder and talks HTTP to it. One test binary, one module per
//! feature.

mod common;
mod fake_stripe;
mod receiver;

mod batch;
mod concurrency;
mod crash;
mod delivery;
mod deposits;
mod errors;
mod holds;
mod idempotency;
mod import;
mod invoices;
mod keys;
mod ledger;
mod lifecycle;
mod lots;
mod metrics;
mod migrate;
mod payment_methods;
mod payments;
mod prices;
mod ranges;
mod rules;
mod sessions;
mod stripe;
mod transfers;
mod wallet_api;
mod wallets;
mod webhooks;
