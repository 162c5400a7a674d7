//! K Smart charging, the station's side in both versions: SetChargingProfile and
//! ClearChargingProfile change the profiles the station holds (and its cars are offered the new
//! limit at once); GetCompositeSchedule reports the merge its cars obey; 2.0.1
//! GetChargingProfiles is answered with ReportChargingProfiles (K09).

use arus_ocpp::{Timestamp, v16, v201};
use arus_schedules::composite::CompositePeriod;
use arus_schedules::profile::{Purpose, RateUnit};

use crate::behaviour::{FollowUp, StationState};
use crate::profiles::{self, Clear, purpose_of};

/// The cars are offered their new limits once the answer is out.
fn limits_changed(st: &mut StationState) {
    if !st.follow_ups.contains(&FollowUp::Limits) {
        st.follow_ups.push_back(FollowUp::Limits);
    }
}

/// EVSE `n` if the station has it (0 is the station itself).
fn evse(st: &StationState, n: i64) -> Option<u32> {
    u32::try_from(n)
        .ok()
        .filter(|e| *e as usize <= st.evses.len())
}

/// 1.6 SetChargingProfile: a ChargePointMaxProfile only on connector 0, a TxProfile only on
/// a connector with its transaction (§3.13.1, §5.16.1).
pub(super) fn set_v16(
    st: &mut StationState,
    r: v16::SetChargingProfileRequest,
) -> v16::ChargingProfileStatus {
    let profile = profiles::from_v16(&r.cs_charging_profiles);
    let Some(e) = evse(st, r.connector_id) else {
        return v16::ChargingProfileStatus::Rejected;
    };
    if profile.purpose == Purpose::ChargingStationMax && e != 0 {
        return v16::ChargingProfileStatus::Rejected;
    }
    let ongoing = st.ongoing();
    if st.profiles.set(e, profile, &ongoing) {
        limits_changed(st);
        v16::ChargingProfileStatus::Accepted
    } else {
        v16::ChargingProfileStatus::Rejected
    }
}

/// 1.6 ClearChargingProfile.
pub(super) fn clear_v16(
    st: &mut StationState,
    r: v16::ClearChargingProfileRequest,
) -> v16::ClearChargingProfileStatus {
    let c = Clear {
        id: r.id,
        evse: r.connector_id.and_then(|c| u32::try_from(c).ok()),
        purpose: r.charging_profile_purpose.as_ref().and_then(purpose_of),
        stack_level: r.stack_level.and_then(|s| u32::try_from(s).ok()),
    };
    if st.profiles.clear(c) {
        limits_changed(st);
        v16::ClearChargingProfileStatus::Accepted
    } else {
        v16::ClearChargingProfileStatus::Unknown
    }
}

/// The composite schedule of `evse` for `duration_s` from now, in `unit`; its periods with the
/// limit each has (where nothing limits: the EVSE's maximum).
fn composite(
    st: &StationState,
    evse: u32,
    duration_s: i64,
    unit: RateUnit,
) -> (Timestamp, Vec<CompositePeriod>) {
    let now = chrono::Utc::now();
    let start = now - chrono::TimeDelta::nanoseconds(i64::from(now.timestamp_subsec_nanos()));
    let ongoing = st.ongoing();
    let periods = st
        .profiles
        .composite(evse, &ongoing, st.hw, start, duration_s, unit);
    (Timestamp(start), periods)
}

/// A period's limit, rounded down to one decimal (never above what is in force).
fn limit_of(p: &CompositePeriod, fallback: f64) -> f64 {
    (p.limit.unwrap_or(fallback) * 10.0).floor() / 10.0
}

/// 1.6 GetCompositeSchedule.
pub(super) fn composite_v16(
    st: &StationState,
    r: v16::GetCompositeScheduleRequest,
) -> v16::GetCompositeScheduleResponse {
    let unit = match r.charging_rate_unit {
        Some(v16::ChargingRateUnitType::W) => RateUnit::W,
        _ => RateUnit::A,
    };
    let Some(e) = evse(st, r.connector_id) else {
        return v16::GetCompositeScheduleResponse {
            status: v16::GetCompositeScheduleStatus::Rejected,
            connector_id: None,
            schedule_start: None,
            charging_schedule: None,
        };
    };
    let (start, periods) = composite(st, e, r.duration, unit);
    let fallback = fallback(st, unit);
    v16::GetCompositeScheduleResponse {
        status: v16::GetCompositeScheduleStatus::Accepted,
        connector_id: Some(r.connector_id),
        schedule_start: Some(start),
        charging_schedule: Some(v16::ChargingSchedule {
            duration: Some(r.duration),
            start_schedule: Some(start),
            charging_rate_unit: if unit == RateUnit::W {
                v16::ChargingRateUnitType::W
            } else {
                v16::ChargingRateUnitType::A
            },
            charging_schedule_period: periods
                .iter()
                .map(|p| v16::ChargingSchedulePeriod {
                    start_period: p.start_s,
                    limit: limit_of(p, fallback),
                    number_phases: p.phases.map(i64::from),
                })
                .collect(),
            min_charging_rate: None,
        }),
    }
}

/// What an EVSE delivers when nothing limits it, in `unit`.
fn fallback(st: &StationState, unit: RateUnit) -> f64 {
    match unit {
        RateUnit::A => st.hw.evse_max_a,
        RateUnit::W => st.hw.evse_max_a * st.hw.voltage * 3.0,
    }
}

/// 2.0.1 SetChargingProfile: not ChargingStationExternalConstraints (K01.FR.22), a
/// ChargingStationMaxProfile only on EVSE 0, a TxProfile only on an EVSE with its transaction
/// (K01.FR.16, K01.FR.09).
pub(super) fn set_v201(
    st: &mut StationState,
    r: v201::SetChargingProfileRequest,
) -> v201::ChargingProfileStatusEnum {
    use v201::ChargingProfilePurposeEnum as P;
    let purpose = r.charging_profile.charging_profile_purpose;
    let Some(e) = evse(st, r.evse_id) else {
        return v201::ChargingProfileStatusEnum::Rejected;
    };
    let refused = match purpose {
        P::ChargingStationExternalConstraints => true,
        P::ChargingStationMaxProfile => e != 0,
        P::TxProfile => e == 0,
        P::TxDefaultProfile => false,
    };
    let ongoing = st.ongoing();
    if !refused && st.profiles.set_v201(e, r.charging_profile, &ongoing) {
        limits_changed(st);
        v201::ChargingProfileStatusEnum::Accepted
    } else {
        v201::ChargingProfileStatusEnum::Rejected
    }
}

/// 2.0.1 ClearChargingProfile.
pub(super) fn clear_v201(
    st: &mut StationState,
    r: v201::ClearChargingProfileRequest,
) -> v201::ClearChargingProfileStatusEnum {
    let criteria = r.charging_profile_criteria;
    let c = Clear {
        id: r.charging_profile_id,
        evse: criteria
            .as_ref()
            .and_then(|c| c.evse_id)
            .and_then(|e| u32::try_from(e).ok()),
        purpose: criteria
            .as_ref()
            .and_then(|c| c.charging_profile_purpose.as_ref())
            .and_then(purpose_of),
        stack_level: criteria
            .as_ref()
            .and_then(|c| c.stack_level)
            .and_then(|s| u32::try_from(s).ok()),
    };
    if st.profiles.clear(c) {
        limits_changed(st);
        v201::ClearChargingProfileStatusEnum::Accepted
    } else {
        v201::ClearChargingProfileStatusEnum::Unknown
    }
}

/// 2.0.1 GetChargingProfiles: Accepted, and the profiles follow in ReportChargingProfiles; or
/// NoProfiles.
pub(super) fn get_v201(
    st: &mut StationState,
    r: v201::GetChargingProfilesRequest,
) -> v201::GetChargingProfileStatusEnum {
    let c = &r.charging_profile;
    let found = st.profiles.reported(
        r.evse_id.and_then(|e| u32::try_from(e).ok()),
        c.charging_profile_purpose.as_ref().and_then(purpose_of),
        c.stack_level.and_then(|s| u32::try_from(s).ok()),
        c.charging_profile_id.as_deref(),
    );
    // Only the CSMS sets profiles here: asking for other sources finds none.
    let other_source = c
        .charging_limit_source
        .as_ref()
        .is_some_and(|s| !s.contains(&v201::ChargingLimitSourceEnum::CSO));
    if found.is_empty() || other_source {
        return v201::GetChargingProfileStatusEnum::NoProfiles;
    }
    st.follow_ups.push_back(FollowUp::ReportProfiles {
        request_id: r.request_id,
        profiles: found,
    });
    v201::GetChargingProfileStatusEnum::Accepted
}

/// 2.0.1 GetCompositeSchedule.
pub(super) fn composite_v201(
    st: &StationState,
    r: v201::GetCompositeScheduleRequest,
) -> v201::GetCompositeScheduleResponse {
    let unit = match r.charging_rate_unit {
        Some(v201::ChargingRateUnitEnum::W) => RateUnit::W,
        _ => RateUnit::A,
    };
    let Some(e) = evse(st, r.evse_id) else {
        return v201::GetCompositeScheduleResponse {
            custom_data: None,
            status: v201::GenericStatusEnum::Rejected,
            status_info: None,
            schedule: None,
        };
    };
    let (start, periods) = composite(st, e, r.duration, unit);
    let fallback = fallback(st, unit);
    v201::GetCompositeScheduleResponse {
        custom_data: None,
        status: v201::GenericStatusEnum::Accepted,
        status_info: None,
        schedule: Some(v201::CompositeSchedule {
            custom_data: None,
            charging_schedule_period: periods
                .iter()
                .map(|p| v201::ChargingSchedulePeriod {
                    custom_data: None,
                    start_period: p.start_s,
                    limit: limit_of(p, fallback),
                    number_phases: p.phases.map(i64::from),
                    phase_to_use: None,
                })
                .collect(),
            evse_id: r.evse_id,
            duration: r.duration,
            schedule_start: start,
            charging_rate_unit: if unit == RateUnit::W {
                v201::ChargingRateUnitEnum::W
            } else {
                v201::ChargingRateUnitEnum::A
            },
        }),
    }
}
