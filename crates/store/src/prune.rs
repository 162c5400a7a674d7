//! Retention, written once for both backends: what a [`Retention`] policy deletes, as steps of
//! chunked statements ([`crate::sql`]'s `PRUNE_*`) that each backend runs on a connection of its
//! own, so that the writer's groups (stations waiting for answers) are never held behind a
//! large delete.
//!
//! # Invariants
//!
//! - A step's statements run in order in one transaction, a chunk at a time, until its last
//!   statement deletes nothing. All of a chunk's statements see the same rows (SQLite: the
//!   write lock from the start; PostgreSQL: REPEATABLE READ, a chunk that meets a concurrent
//!   change is rolled back and tried again), so a station seen again while it is pruned keeps
//!   its connectors, and no transaction loses its meter values without going itself (a transaction's meter values and events go before the
//!   transaction; a station's connectors and device model before the station).
//! - The statements delete only what the policy names (see [`arus_domain::retention`]).

use arus_domain::Time;
use arus_domain::retention::{Pruned, Retention};

use crate::sql::{self, Arg, Sql};

/// Where a statement's deleted rows are counted.
type Count = fn(&mut Pruned, u64);

/// One kind of data to prune: statements repeated until the last deletes nothing.
pub(crate) struct Step {
    /// The statements, each with where its rows are counted.
    pub statements: &'static [(Sql, Count)],
    /// The record kind the statements name first (`PRUNE_RECORDS`), if any.
    pub kind: Option<&'static str>,
    /// The cut: what is older goes.
    pub cut: Time,
}

impl Step {
    /// The statement's arguments.
    pub fn args(&self) -> Vec<Arg<'_>> {
        match self.kind {
            Some(kind) => vec![Arg::Text(kind), Arg::Time(&self.cut)],
            None => vec![Arg::Time(&self.cut)],
        }
    }
}

/// The steps `policy` asks for at `now`.
pub(crate) fn plan(policy: &Retention, now: Time) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut add = |period, kind, statements| {
        if let Some(cut) = Retention::cut(period, now) {
            steps.push(Step {
                statements,
                kind,
                cut,
            });
        }
    };
    add(
        policy.meter_values_outside_transactions,
        None,
        &[(sql::PRUNE_METER_VALUES_OUTSIDE, |p, n| {
            p.meter_values_outside_transactions += n;
        })],
    );
    add(
        policy.transactions,
        None,
        &[
            (sql::PRUNE_TRANSACTION_METER_VALUES, |p, n| {
                p.transaction_rows += n;
            }),
            (sql::PRUNE_TRANSACTION_EVENTS, |p, n| {
                p.transaction_rows += n
            }),
            (sql::PRUNE_TRANSACTIONS, |p, n| p.transactions += n),
        ],
    );
    add(
        policy.notices,
        None,
        &[(sql::PRUNE_NOTICES, |p, n| p.notices += n)],
    );
    add(
        policy.commands,
        Some("command"),
        &[(sql::PRUNE_RECORDS, |p, n| p.commands += n)],
    );
    add(
        policy.commands,
        Some("bulk"),
        &[(sql::PRUNE_RECORDS, |p, n| p.commands += n)],
    );
    // What cars needed by when goes with the commands' retention: the transaction's own
    // record keeps what it got.
    add(
        policy.commands,
        Some("needs"),
        &[(sql::PRUNE_RECORDS, |p, n| p.commands += n)],
    );
    add(
        policy.audit,
        Some("audit"),
        &[(sql::PRUNE_RECORDS, |p, n| p.audit += n)],
    );
    add(
        policy.webhook_deliveries,
        Some("delivery"),
        &[(sql::PRUNE_RECORDS, |p, n| p.webhook_deliveries += n)],
    );
    add(
        policy.self_registered_stations,
        None,
        &[
            (sql::PRUNE_STATION_CONNECTORS, |_, _| {}),
            (sql::PRUNE_STATION_CHARGING_PROFILES, |_, _| {}),
            (sql::PRUNE_STATION_VARIABLES, |_, _| {}),
            (sql::PRUNE_STATIONS, |p, n| p.stations += n),
        ],
    );
    steps
}
