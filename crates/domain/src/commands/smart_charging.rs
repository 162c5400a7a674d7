//! K Smart charging: charging profiles in version-neutral terms. Today a profile travels with
//! a remote start (purpose `TxProfile`); the smart charging commands build on these types.

use serde::{Deserialize, Serialize};

use super::ocpp_enum;
use crate::Time;

ocpp_enum! {
    /// How a profile's schedule is placed in time (ChargingProfileKindEnumType).
    ChargingProfileKind { Absolute, Recurring, Relative }
}

ocpp_enum! {
    /// How a recurring profile repeats (RecurrencyKindEnumType).
    RecurrencyKind { Daily, Weekly }
}

ocpp_enum! {
    /// The unit of a schedule's limits (ChargingRateUnitEnumType): amperes or watts.
    ChargingRateUnit { A, W }
}

/// A charging profile in version-neutral terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChargingProfile {
    /// Its id.
    pub id: i64,
    /// Its stack level.
    #[serde(default)]
    pub stack_level: u32,
    /// How its schedule is placed in time.
    pub kind: ChargingProfileKind,
    /// How a recurring profile repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrency: Option<RecurrencyKind>,
    /// From when it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_from: Option<Time>,
    /// Until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_to: Option<Time>,
    /// When the schedule starts (absolute and recurring profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub start: Option<Time>,
    /// How long the schedule lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<i64>,
    /// The unit of the limits.
    pub rate_unit: ChargingRateUnit,
    /// The lowest rate the EV can charge with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rate: Option<f64>,
    /// The periods.
    pub periods: Vec<SchedulePeriod>,
}

/// A period of a charging schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulePeriod {
    /// Seconds from the schedule's start.
    pub start_s: i64,
    /// The limit, in the profile's unit.
    pub limit: f64,
    /// How many phases may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<u32>,
}
