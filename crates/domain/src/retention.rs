//! How long what grows is kept: the retention policy the store prunes by.
//!
//! # Invariants
//!
//! - Billing data (transactions, their events and their meter values: what a charge detail
//!   record is made from) is never pruned unless the operator sets
//!   [`Retention::transactions`]; then only transactions that ended before the cut, with
//!   everything of theirs, never one going on.
//! - Only finished records go: queued or pending commands, running bulk operations and webhook
//!   deliveries still to be attempted are kept however old.
//! - A station that registered itself is removed only when it has not been heard from for the
//!   period and has no transaction at all; a station an operator registered never is.
//! - The frame log has its own policy (days and a total count), pruned by
//!   [`Store::prune_frames`](crate::store::Store::prune_frames).

use std::time::Duration;

use crate::Time;

/// How long each kind of data is kept; `None` keeps it for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Meter values outside any transaction (a station's main meter, idle readings), by their
    /// time.
    pub meter_values_outside_transactions: Option<Duration>,
    /// Transactions that ended this long ago, with their events and meter values. Billing
    /// data: kept for ever unless set.
    pub transactions: Option<Duration>,
    /// Notices (status and security events, firmware and log progress, vendor data), by when
    /// they arrived.
    pub notices: Option<Duration>,
    /// Finished command records and bulk operations, and what cars said they needed, by when
    /// they were made.
    pub commands: Option<Duration>,
    /// Audit entries, by when they were made.
    pub audit: Option<Duration>,
    /// Finished webhook deliveries (delivered or dead), by their last attempt.
    pub webhook_deliveries: Option<Duration>,
    /// Stations that registered themselves, not heard from for this long and without any
    /// transaction, with their connectors and device model.
    pub self_registered_stations: Option<Duration>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for Retention {
    /// The defaults: billing data for ever; a year of notices and audit entries; 90 days of
    /// meter values outside transactions and of commands; 30 days of webhook deliveries and of
    /// self-registered stations that went away.
    fn default() -> Retention {
        Retention {
            meter_values_outside_transactions: Some(90 * DAY),
            transactions: None,
            notices: Some(365 * DAY),
            commands: Some(90 * DAY),
            audit: Some(365 * DAY),
            webhook_deliveries: Some(30 * DAY),
            self_registered_stations: Some(30 * DAY),
        }
    }
}

impl Retention {
    /// The time before which a kind kept for `period` goes, at `now`.
    pub fn cut(period: Option<Duration>, now: Time) -> Option<Time> {
        let period = chrono::Duration::from_std(period?).ok()?;
        now.checked_sub_signed(period)
    }
}

/// Rows deleted by one pruning, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Meter values outside transactions.
    pub meter_values_outside_transactions: u64,
    /// Transactions (with their events and meter values, counted below).
    pub transactions: u64,
    /// Events and meter values of the transactions deleted.
    pub transaction_rows: u64,
    /// Notices.
    pub notices: u64,
    /// Command records, bulk operations and cars' needs.
    pub commands: u64,
    /// Audit entries.
    pub audit: u64,
    /// Webhook deliveries.
    pub webhook_deliveries: u64,
    /// Self-registered stations.
    pub stations: u64,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.meter_values_outside_transactions
            + self.transactions
            + self.transaction_rows
            + self.notices
            + self.commands
            + self.audit
            + self.webhook_deliveries
            + self.stations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_data_is_kept_for_ever_by_default() {
        let r = Retention::default();
        assert_eq!(r.transactions, None);
        let now = chrono::Utc::now();
        assert_eq!(Retention::cut(r.transactions, now), None);
        assert_eq!(
            Retention::cut(r.notices, now),
            Some(now - chrono::Duration::days(365))
        );
    }
}
