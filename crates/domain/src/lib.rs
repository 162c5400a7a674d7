//! The charging domain of Arus, independent of any protocol version.
//!
//! Nothing here knows OCPP JSON or a version number: each OCPP version is an adapter (in the
//! gateway) that turns messages into the calls of [`Csms`] and its answers back into messages.
//! A feature that exists in several versions is written here once.
//!
//! # Layout
//!
//! Modules follow the functional blocks of OCPP 2.0.1, so a feature is found by its block name:
//!
//! - [`provisioning`] (B): station registration, boot decisions, heartbeats;
//!   [`device_model`] (B): the reported components and variables, and configuration.
//! - [`commands`] and [`commander`]: what the CSMS asks of stations (every CSMS-initiated
//!   operation of both versions), the records they leave, queueing and bulk operations.
//! - [`authorization`] (C): id tokens and the authorization rule.
//! - [`transactions`] (E): one transaction model for 1.6 Start/StopTransaction and 2.0.1
//!   TransactionEvent, folded from events in any order by a pure function.
//! - [`availability`] (G): connector statuses.
//! - [`metering`] (J): meter values and the energy register reading.
//! - [`notices`] (L, N, A, P and the rest): what stations report that Arus records without acting
//!   on it yet (firmware and log progress, security events, reports, data transfers).
//! - [`events`]: the one stream of everything that happens.
//! - [`link`]: the port to connected stations, implemented by the gateway.
//! - [`store`]: the storage port, implemented by `arus-store` for SQLite and PostgreSQL.
//! - [`csms`]: the service the gateway calls; it applies the rules, commits, then answers.
//!
//! # Invariants
//!
//! - A call of [`Csms`] that records data returns only after the data is committed: the answer
//!   to the station goes out after the commit, never before.
//! - Every recording call is idempotent for the retries OCPP allows (a repeated StopTransaction,
//!   a TransactionEvent with a seqNo already seen, a StartTransaction whose answer was lost).

pub mod authorization;
pub mod availability;
pub mod commander;
pub mod commands;
pub mod csms;
pub mod device_model;
pub mod events;
pub mod link;
pub mod load;
pub mod metering;
mod names;
pub mod needs;
pub mod notices;
pub mod observed;
pub mod other_load;
pub mod plan;
pub mod provisioning;
pub mod quirks;
pub mod retention;
pub mod site_live;
pub mod site_load;
pub mod sites;
pub mod smart_charging;
pub mod store;
pub mod transactions;
pub mod verify;

pub use csms::{Csms, CsmsConfig, DomainError};

/// The identity of a charging station: the last segment of its connection URL and its HTTP
/// Basic user name.
pub type StationId = std::sync::Arc<str>;

/// Time in the domain: UTC.
pub type Time = chrono::DateTime<chrono::Utc>;
