//! The charging profile model of K Smart charging, in version-neutral terms: what 1.6's and
//! 2.0.1's ChargingProfileType both say, with 2.0.1's names where they differ (1.6's
//! ChargePointMaxProfile is [`Purpose::ChargingStationMax`]; a 1.6 profile has one schedule).
//!
//! # Invariants
//!
//! - Times are instants (UTC); a schedule's periods are offsets in seconds from its start.
//! - Nothing here knows a wire format; the gateway converts to and from each version's types.

use serde::{Deserialize, Serialize};

use crate::Time;

/// Defines an enumeration with `ALL`, `as_str` (the specification's spelling, also the JSON
/// name) and `parse`, from one list so that they cannot drift apart.
macro_rules! spelled_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $spelled:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $spelled)] $variant,)*
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value's name as the specification spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $spelled,)*
                }
            }

            /// The value named `s`.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

spelled_enum! {
    /// What a profile is for (ChargingProfilePurposeEnumType).
    Purpose {
        /// The limit of the whole station (1.6: ChargePointMaxProfile), on EVSE 0 only.
        ChargingStationMax = "ChargingStationMaxProfile",
        /// The default for transactions, on EVSE 0 (every EVSE) or one EVSE.
        TxDefault = "TxDefaultProfile",
        /// The limit of one transaction, overruling the default while it lasts.
        Tx = "TxProfile",
        /// 2.0.1: limits set by an external system (an energy management system); a station
        /// may report them, the CSMS never sets them (K01.FR.22).
        ExternalConstraints = "ChargingStationExternalConstraints",
    }
}

spelled_enum! {
    /// How a profile's schedule is placed in time (ChargingProfileKindEnumType).
    Kind {
        /// From its `startSchedule`.
        Absolute = "Absolute",
        /// From its `startSchedule`, repeated every day or week.
        Recurring = "Recurring",
        /// From the start of the transaction (or, without one, from when it is evaluated).
        Relative = "Relative",
    }
}

spelled_enum! {
    /// How a recurring profile repeats (RecurrencyKindEnumType).
    Recurrency {
        /// Every 24 hours.
        Daily = "Daily",
        /// Every 7 days.
        Weekly = "Weekly",
    }
}

spelled_enum! {
    /// The unit of a schedule's limits (ChargingRateUnitEnumType).
    RateUnit {
        /// Amperes per phase.
        A = "A",
        /// Watts, all phases together.
        W = "W",
    }
}

/// A period of a schedule: from `start_s` seconds after the schedule's start until the next
/// period's (or the schedule's end), at most `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// Seconds from the schedule's start.
    pub start_s: i64,
    /// The limit, in the schedule's unit (A per phase, or W in all).
    pub limit: f64,
    /// How many phases may be used (1–3); unset means 3 on AC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<u32>,
    /// 2.0.1: the phase a single-phase limit applies to (1–3), with `phases` = 1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_to_use: Option<u32>,
}

/// A charging schedule (ChargingScheduleType).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// 2.0.1: the schedule's id within the station (the profile's id when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// When the schedule starts (Absolute and Recurring profiles; never Relative ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub start: Option<Time>,
    /// How long it lasts, in seconds; unset: until the profile is no longer valid (the last
    /// period goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<i64>,
    /// The unit of the limits.
    pub rate_unit: RateUnit,
    /// The lowest rate the EV charges with, in `rate_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rate: Option<f64>,
    /// The periods, the first at 0, in increasing order of start.
    pub periods: Vec<Period>,
}

/// A charging profile (ChargingProfileType).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChargingProfile {
    /// Its id, unique within the station.
    pub id: i64,
    /// Its stack level: at any time the valid profile of a purpose with the highest level
    /// prevails.
    #[serde(default)]
    pub stack_level: u32,
    /// What it is for.
    pub purpose: Purpose,
    /// How its schedule is placed in time.
    pub kind: Kind,
    /// How a recurring profile repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrency: Option<Recurrency>,
    /// From when it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_from: Option<Time>,
    /// Until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_to: Option<Time>,
    /// The transaction a TxProfile belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Its schedules: one in 1.6; one to three in 2.0.1 (the second and third for ISO 15118
    /// sales tariffs; a station uses the first for limiting).
    pub schedules: Vec<Schedule>,
}

impl ChargingProfile {
    /// Whether the profile is valid at `t` (validFrom inclusive, validTo exclusive).
    pub fn valid_at(&self, t: Time) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_to.is_none_or(|to| t < to)
    }
}

/// A profile as installed on a station: on an EVSE (1.6: a connector), or on 0, the whole
/// station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Installed {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// The profile.
    pub profile: ChargingProfile,
}
