//! K Smart charging: charging profiles set, cleared and read back (K01 SetChargingProfile,
//! K10 ClearChargingProfile, K09 GetChargingProfiles) and the station's own composite schedule
//! (K08 GetCompositeSchedule). The profile model, its rules and the composite schedule Arus
//! computes itself are `arus-schedules`'; they are re-exported here under the names the
//! commands use.
//!
//! # Invariants
//!
//! - A profile is checked against the specification's rules ([`arus_schedules::check`])
//!   before it is sent; an Absolute or Recurring profile without a startSchedule gets one
//!   (its validFrom, or the time it is sent), so no station has to guess when it starts.
//! - What needs the store (a TxProfile's transaction, profiles already held at the same stack
//!   level) is checked by [`crate::smart_charging::prepare`] when the command is submitted;
//!   here every rule that needs no more than the command is.

use serde::{Deserialize, Serialize};

use super::{ocpp_enum, status_outcome};
use crate::Time;

pub use arus_schedules::check::{Problem, Target};
pub use arus_schedules::composite::CompositePeriod;
pub use arus_schedules::profile::{
    ChargingProfile, Installed, Kind as ChargingProfileKind, Period as SchedulePeriod,
    Purpose as ChargingProfilePurpose, RateUnit as ChargingRateUnit, Recurrency as RecurrencyKind,
    Schedule as ChargingSchedule,
};

/// Gives an Absolute or Recurring profile without a startSchedule its validFrom, or `now`.
pub fn with_start(mut p: ChargingProfile, now: Time) -> ChargingProfile {
    if p.kind != ChargingProfileKind::Relative {
        let start = p.valid_from.unwrap_or(now);
        for s in &mut p.schedules {
            s.start.get_or_insert(start);
        }
    }
    p
}

/// The rules `p` breaks on `evse_id`, as one message; a TxProfile is checked as if its
/// transaction were going on.
pub fn problems(p: &ChargingProfile, evse_id: u32) -> Result<(), String> {
    let found = arus_schedules::check::check(
        p,
        Target {
            evse_id,
            transaction: true,
        },
    );
    if found.is_empty() {
        return Ok(());
    }
    Err(found
        .iter()
        .map(|p| format!("chargingProfile{}: {}", p.at, p.message))
        .collect::<Vec<_>>()
        .join("; "))
}

/// K01: install a charging profile on an EVSE (1.6: a connector), or on 0, the station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetChargingProfile {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// The profile.
    pub charging_profile: ChargingProfile,
}

ocpp_enum! {
    /// The answer to SetChargingProfile (ChargingProfileStatusEnumType; 1.6 adds NotSupported).
    ChargingProfileStatus { Accepted, Rejected, NotSupported }
}

status_outcome!(
    /// What the station answered to SetChargingProfile.
    SetChargingProfileOutcome(ChargingProfileStatus)
);

/// K10: remove charging profiles: the one with `id`, or those matching every criterion given
/// (all of them when none is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClearChargingProfile {
    /// The profile's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Only profiles on this EVSE (0: those on the station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// Only profiles of this purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<ChargingProfilePurpose>,
    /// Only profiles at this stack level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<u32>,
}

ocpp_enum! {
    /// The answer to ClearChargingProfile (ClearChargingProfileStatusEnumType).
    ClearChargingProfileStatus { Accepted, Unknown }
}

status_outcome!(
    /// What the station answered to ClearChargingProfile.
    ClearChargingProfileOutcome(ClearChargingProfileStatus)
);

/// K09 (2.0.1): ask the station to report its charging profiles in ReportChargingProfiles;
/// 1.6 has no such message (Arus's own record is what a 1.6 station holds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetChargingProfiles {
    /// The id the reports will carry (assigned when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// Only profiles on this EVSE (0: those on the station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// Only profiles with these ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<i64>,
    /// Only profiles of this purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<ChargingProfilePurpose>,
    /// Only profiles at this stack level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<u32>,
    /// Only profiles set by these sources (`EMS`, `Other`, `SO`, `CSO`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ChargingLimitSource>,
}

ocpp_enum! {
    /// Who set a charging limit (ChargingLimitSourceEnumType).
    ChargingLimitSource { EMS, Other, SO, CSO }
}

ocpp_enum! {
    /// The answer to GetChargingProfiles (GetChargingProfileStatusEnumType).
    GetChargingProfilesStatus { Accepted, NoProfiles }
}

status_outcome!(
    /// What the station answered to GetChargingProfiles; the profiles follow in
    /// ReportChargingProfiles notices.
    GetChargingProfilesOutcome(GetChargingProfilesStatus)
);

/// K08: ask the station for the schedule it will follow on an EVSE (1.6: a connector; 0: the
/// station's grid connection) for the next `duration_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetCompositeSchedule {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// Seconds from now.
    pub duration_s: i64,
    /// The unit wanted (the station's choice when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<ChargingRateUnit>,
}

ocpp_enum! {
    /// The answer to GetCompositeSchedule (GenericStatusEnumType).
    CompositeScheduleStatus { Accepted, Rejected }
}

/// A composite schedule as a station reports it (CompositeScheduleType; 1.6 the
/// chargingSchedule of GetCompositeSchedule.conf with its scheduleStart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompositeSchedule {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// When it starts.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub schedule_start: Time,
    /// For how many seconds.
    pub duration_s: i64,
    /// The unit of the limits.
    pub charging_rate_unit: ChargingRateUnit,
    /// The periods.
    pub charging_schedule_period: Vec<SchedulePeriod>,
}

/// What the station answered to GetCompositeSchedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetCompositeScheduleOutcome {
    /// Whether it could.
    pub status: CompositeScheduleStatus,
    /// The reason it gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CompositeSchedule>,
}

impl super::Answer for GetCompositeScheduleOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl super::Spec for SetChargingProfile {
    type Outcome = SetChargingProfileOutcome;

    fn complete(&mut self, _next_id: &mut dyn FnMut() -> i64) {
        self.charging_profile = with_start(self.charging_profile.clone(), chrono::Utc::now());
    }

    fn check(&self) -> Result<(), String> {
        problems(
            &with_start(self.charging_profile.clone(), chrono::Utc::now()),
            self.evse_id,
        )
    }
}

impl super::Spec for ClearChargingProfile {
    type Outcome = ClearChargingProfileOutcome;

    fn check(&self) -> Result<(), String> {
        if self.id.is_none()
            && self.evse_id.is_none()
            && self.purpose.is_none()
            && self.stack_level.is_none()
        {
            return Err(
                "name the profile (`id`) or the profiles to clear (`evseId`, `purpose`, \
                 `stackLevel`) (2.0.1 K10.FR.02)"
                    .into(),
            );
        }
        if self.purpose == Some(ChargingProfilePurpose::ExternalConstraints) {
            return Err("external constraints are cleared only by the system that set them".into());
        }
        Ok(())
    }
}

impl super::Spec for GetChargingProfiles {
    type Outcome = GetChargingProfilesOutcome;

    fn check(&self) -> Result<(), String> {
        if self.ids.is_empty()
            && self.purpose.is_none()
            && self.stack_level.is_none()
            && self.sources.is_empty()
        {
            return Err(
                "give `ids`, or one or more of `purpose`, `stackLevel` and `sources` \
                 (2.0.1 K09.FR.03)"
                    .into(),
            );
        }
        Ok(())
    }

    fn follow_up(&self) -> Option<(crate::notices::NoticeKind, Option<i64>)> {
        Some((
            crate::notices::NoticeKind::ChargingProfiles,
            self.request_id,
        ))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }
}

impl super::Spec for GetCompositeSchedule {
    type Outcome = GetCompositeScheduleOutcome;

    fn check(&self) -> Result<(), String> {
        if self.duration_s <= 0 {
            return Err("durationS must be a positive number of seconds".into());
        }
        Ok(())
    }
}
