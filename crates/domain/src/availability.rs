//! G. Availability: the status of connectors, from 1.6 and 2.0.1 StatusNotification and from
//! 2.0.1 NotifyEvent (`Connector.AvailabilityState`).
//!
//! Numbering: 2.0.1 has EVSEs (1..n) with connectors (1..m); EVSE 0 is the station as a whole.
//! A 1.6 station has only connectors (1..n, 0 for the whole station); each 1.6 connector `n` is
//! recorded as EVSE `n` with connector `n`, so that both numbers the station uses survive.

use serde::{Deserialize, Serialize};

use crate::Time;

crate::names::named_enum! {
/// A connector's status: the union of 1.6's ChargePointStatus and 2.0.1's ConnectorStatus. 2.0.1
/// reports the charging phase through TransactionEvent instead of the status, so it uses only
/// Available, Occupied, Reserved, Unavailable and Faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectorStatus {
    /// Free for a new session.
    Available,
    /// 1.6: a session is being prepared (plugged in or authorized).
    Preparing,
    /// 1.6: energy flows.
    Charging,
    /// 1.6: the EV does not take energy.
    SuspendedEV,
    /// 1.6: the station does not offer energy.
    SuspendedEVSE,
    /// 1.6: the session ended, the connector is not free yet.
    Finishing,
    /// 2.0.1: in use.
    Occupied,
    /// Reserved.
    Reserved,
    /// Not available for charging.
    Unavailable,
    /// In error.
    Faulted,
}
}

/// A status report for one connector (or, with EVSE 0, the station).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The EVSE (0: the whole station).
    pub evse_id: u32,
    /// The connector on that EVSE (0 with EVSE 0).
    pub connector_id: u32,
    /// The status.
    pub status: ConnectorStatus,
    /// 1.6 error code (`NoError`, `GroundFailure`, ...).
    pub error_code: Option<String>,
    /// Free text from the station.
    pub info: Option<String>,
    /// The vendor of `vendor_error_code`.
    pub vendor_id: Option<String>,
    /// The vendor's own error code.
    pub vendor_error_code: Option<String>,
    /// When the station observed it (the receipt time if it did not say).
    pub timestamp: Time,
}

/// A connector as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorRecord {
    /// The EVSE.
    pub evse_id: u32,
    /// The connector.
    pub connector_id: u32,
    /// The last reported status.
    pub status: ConnectorStatus,
    /// The last reported error code, if any.
    pub error_code: Option<String>,
    /// The last reported info, if any.
    pub info: Option<String>,
    /// When that status was observed.
    pub updated_at: Time,
}

/// How far ahead of the CSMS's clock a station's timestamp may be and still order its
/// statuses: clocks drift, and a station synchronised by another source may be a little ahead.
pub const CLOCK_AHEAD_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// The earliest time a station's clock is believed: a station whose clock was never set
/// reports 1970 or its firmware's build date.
pub fn earliest_plausible() -> Time {
    chrono::DateTime::from_timestamp(1_262_304_000, 0).unwrap_or_default() // 2010-01-01
}

/// The time that orders a status report: the station's, unless it is implausible (more than
/// [`CLOCK_AHEAD_TOLERANCE`] ahead of the receipt, or before [`earliest_plausible`]); then the
/// receipt time. Statuses are kept only when not older than the stored one, so one
/// far-future timestamp would otherwise freeze the connector's status for good. A status from
/// a station's offline queue is older than its receipt and keeps its own time.
pub fn ordering_time(reported: Time, received: Time) -> Result<Time, Time> {
    if reported > received + CLOCK_AHEAD_TOLERANCE || reported < earliest_plausible() {
        Err(received)
    } else {
        Ok(reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Time {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn plausible_times_order_statuses_and_implausible_ones_give_way_to_the_receipt() {
        let now = at(2026, 12, 3, 12, 0);
        // A little ahead, or hours behind (an offline queue): the station's time.
        assert_eq!(
            ordering_time(at(2026, 12, 3, 12, 4), now),
            Ok(at(2026, 12, 3, 12, 4))
        );
        assert_eq!(
            ordering_time(at(2026, 12, 1, 8, 0), now),
            Ok(at(2026, 12, 1, 8, 0))
        );
        // Far in the future, or a clock never set: the receipt time.
        assert_eq!(ordering_time(at(2099, 1, 1, 0, 0), now), Err(now));
        assert_eq!(ordering_time(at(1970, 1, 1, 0, 0), now), Err(now));
    }
}
