//! K Smart charging in each version: charging profiles as 1.6 and 2.0.1 ChargingProfile
//! (SetChargingProfile, and the profile a remote start carries), ClearChargingProfile,
//! GetChargingProfiles (2.0.1 only) and GetCompositeSchedule.
//!
//! What 1.6 cannot carry is refused before sending: more than one schedule, `phaseToUse`,
//! external constraints, reading profiles back. A 1.6 connector is the domain's EVSE.

use arus_domain::commands::*;
use arus_ocpp::{Version, v16, v201};

use super::{Link, ToStation, assigned, convert, int, reason, time, unsupported};

convert!(kind_16: ChargingProfileKind => v16::ChargingProfileKindType { Absolute, Recurring, Relative });
convert!(kind: ChargingProfileKind => v201::ChargingProfileKindEnum { Absolute, Recurring, Relative });
convert!(recurrency_16: RecurrencyKind => v16::RecurrencyKindType { Daily, Weekly });
convert!(recurrency: RecurrencyKind => v201::RecurrencyKindEnum { Daily, Weekly });
convert!(unit_16: ChargingRateUnit => v16::ChargingRateUnitType { A, W });
convert!(unit: ChargingRateUnit => v201::ChargingRateUnitEnum { A, W });
convert!(unit_from_16: v16::ChargingRateUnitType => ChargingRateUnit { A, W });
convert!(unit_from: v201::ChargingRateUnitEnum => ChargingRateUnit { A, W });
convert!(set_status_16: v16::ChargingProfileStatus => ChargingProfileStatus { Accepted, Rejected, NotSupported });
convert!(set_status: v201::ChargingProfileStatusEnum => ChargingProfileStatus { Accepted, Rejected });
convert!(clear_status_16: v16::ClearChargingProfileStatus => ClearChargingProfileStatus { Accepted, Unknown });
convert!(clear_status: v201::ClearChargingProfileStatusEnum => ClearChargingProfileStatus { Accepted, Unknown });
convert!(get_status: v201::GetChargingProfileStatusEnum => GetChargingProfilesStatus { Accepted, NoProfiles });
convert!(composite_status_16: v16::GetCompositeScheduleStatus => CompositeScheduleStatus { Accepted, Rejected });
convert!(composite_status: v201::GenericStatusEnum => CompositeScheduleStatus { Accepted, Rejected });
convert!(source: ChargingLimitSource => v201::ChargingLimitSourceEnum { EMS, Other, SO, CSO });
convert!(kind_from: v201::ChargingProfileKindEnum => ChargingProfileKind { Absolute, Recurring, Relative });
convert!(recurrency_from: v201::RecurrencyKindEnum => RecurrencyKind { Daily, Weekly });

fn purpose_from(p: v201::ChargingProfilePurposeEnum) -> ChargingProfilePurpose {
    match p {
        v201::ChargingProfilePurposeEnum::ChargingStationMaxProfile => {
            ChargingProfilePurpose::ChargingStationMax
        }
        v201::ChargingProfilePurposeEnum::TxDefaultProfile => ChargingProfilePurpose::TxDefault,
        v201::ChargingProfilePurposeEnum::TxProfile => ChargingProfilePurpose::Tx,
        v201::ChargingProfilePurposeEnum::ChargingStationExternalConstraints => {
            ChargingProfilePurpose::ExternalConstraints
        }
    }
}

/// A profile a 2.0.1 station reported (ReportChargingProfiles), in the domain's terms.
pub(crate) fn profile_from(p: &v201::ChargingProfile) -> ChargingProfile {
    ChargingProfile {
        id: p.id,
        stack_level: u32::try_from(p.stack_level).unwrap_or(0),
        purpose: purpose_from(p.charging_profile_purpose),
        kind: kind_from(p.charging_profile_kind),
        recurrency: p.recurrency_kind.map(recurrency_from),
        valid_from: p.valid_from.as_ref().map(|t| t.0),
        valid_to: p.valid_to.as_ref().map(|t| t.0),
        transaction_id: p.transaction_id.clone(),
        schedules: p
            .charging_schedule
            .iter()
            .map(|s| ChargingSchedule {
                id: Some(s.id),
                start: s.start_schedule.as_ref().map(|t| t.0),
                duration_s: s.duration,
                rate_unit: unit_from(s.charging_rate_unit),
                min_rate: s.min_charging_rate,
                periods: s
                    .charging_schedule_period
                    .iter()
                    .map(|x| period(x.start_period, x.limit, x.number_phases, x.phase_to_use))
                    .collect(),
            })
            .collect(),
    }
}

/// A purpose in 1.6 (ChargePointMaxProfile for the station's maximum); 1.6 has no external
/// constraints.
fn purpose_16(p: ChargingProfilePurpose) -> Result<v16::ChargingProfilePurposeType, SendError> {
    Ok(match p {
        ChargingProfilePurpose::ChargingStationMax => {
            v16::ChargingProfilePurposeType::ChargePointMaxProfile
        }
        ChargingProfilePurpose::TxDefault => v16::ChargingProfilePurposeType::TxDefaultProfile,
        ChargingProfilePurpose::Tx => v16::ChargingProfilePurposeType::TxProfile,
        ChargingProfilePurpose::ExternalConstraints => {
            return Err(unsupported(
                "ChargingStationExternalConstraints",
                Version::V16,
            ));
        }
    })
}

fn purpose(p: ChargingProfilePurpose) -> v201::ChargingProfilePurposeEnum {
    match p {
        ChargingProfilePurpose::ChargingStationMax => {
            v201::ChargingProfilePurposeEnum::ChargingStationMaxProfile
        }
        ChargingProfilePurpose::TxDefault => v201::ChargingProfilePurposeEnum::TxDefaultProfile,
        ChargingProfilePurpose::Tx => v201::ChargingProfilePurposeEnum::TxProfile,
        ChargingProfilePurpose::ExternalConstraints => {
            v201::ChargingProfilePurposeEnum::ChargingStationExternalConstraints
        }
    }
}

/// A profile in 1.6: one schedule, no `phaseToUse`; the transaction id is a number.
pub(super) fn profile_16(p: &ChargingProfile) -> Result<v16::ChargingProfile, SendError> {
    let [s] = p.schedules.as_slice() else {
        return Err(SendError::Unsupported(
            "a 1.6 charging profile has exactly one schedule".into(),
        ));
    };
    if s.periods.iter().any(|x| x.phase_to_use.is_some()) {
        return Err(unsupported("phaseToUse", Version::V16));
    }
    let transaction_id = p
        .transaction_id
        .as_deref()
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                SendError::Invalid(format!("1.6 transaction ids are numbers, not `{t}`"))
            })
        })
        .transpose()?;
    Ok(v16::ChargingProfile {
        charging_profile_id: p.id,
        transaction_id,
        stack_level: int(p.stack_level),
        charging_profile_purpose: purpose_16(p.purpose)?,
        charging_profile_kind: kind_16(p.kind),
        recurrency_kind: p.recurrency.map(recurrency_16),
        valid_from: p.valid_from.as_ref().map(time),
        valid_to: p.valid_to.as_ref().map(time),
        charging_schedule: v16::ChargingSchedule {
            duration: s.duration_s,
            start_schedule: s.start.as_ref().map(time),
            charging_rate_unit: unit_16(s.rate_unit),
            charging_schedule_period: s
                .periods
                .iter()
                .map(|x| v16::ChargingSchedulePeriod {
                    start_period: x.start_s,
                    limit: x.limit,
                    number_phases: x.phases.map(int),
                })
                .collect(),
            min_charging_rate: s.min_rate,
        },
    })
}

/// A profile in 2.0.1; a schedule without an id takes the profile's id plus its position.
pub(super) fn profile(p: &ChargingProfile) -> v201::ChargingProfile {
    v201::ChargingProfile {
        custom_data: None,
        id: p.id,
        stack_level: int(p.stack_level),
        charging_profile_purpose: purpose(p.purpose),
        charging_profile_kind: kind(p.kind),
        recurrency_kind: p.recurrency.map(recurrency),
        valid_from: p.valid_from.as_ref().map(time),
        valid_to: p.valid_to.as_ref().map(time),
        charging_schedule: p
            .schedules
            .iter()
            .zip(0..)
            .map(|(s, i)| v201::ChargingSchedule {
                custom_data: None,
                id: s.id.unwrap_or(p.id + i),
                start_schedule: s.start.as_ref().map(time),
                duration: s.duration_s,
                charging_rate_unit: unit(s.rate_unit),
                charging_schedule_period: s
                    .periods
                    .iter()
                    .map(|x| v201::ChargingSchedulePeriod {
                        custom_data: None,
                        start_period: x.start_s,
                        limit: x.limit,
                        number_phases: x.phases.map(int),
                        phase_to_use: x.phase_to_use.map(int),
                    })
                    .collect(),
                min_charging_rate: s.min_rate,
                sales_tariff: None,
            })
            .collect(),
        transaction_id: p.transaction_id.clone(),
    }
}

/// A period a station reported.
fn period(
    start_s: i64,
    limit: f64,
    phases: Option<i64>,
    phase_to_use: Option<i64>,
) -> SchedulePeriod {
    let small = |n: i64| u32::try_from(n).ok();
    SchedulePeriod {
        start_s,
        limit,
        phases: phases.and_then(small),
        phase_to_use: phase_to_use.and_then(small),
    }
}

impl ToStation for SetChargingProfile {
    async fn send(&self, link: &Link<'_>) -> Result<SetChargingProfileOutcome, SendError> {
        if link.version == Version::V16 {
            let a = link
                .call(&v16::SetChargingProfileRequest {
                    connector_id: int(self.evse_id),
                    cs_charging_profiles: profile_16(&self.charging_profile)?,
                })
                .await?;
            return Ok(SetChargingProfileOutcome {
                status: set_status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::SetChargingProfileRequest {
                custom_data: None,
                evse_id: int(self.evse_id),
                charging_profile: profile(&self.charging_profile),
            })
            .await?;
        Ok(SetChargingProfileOutcome {
            status: set_status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for ClearChargingProfile {
    async fn send(&self, link: &Link<'_>) -> Result<ClearChargingProfileOutcome, SendError> {
        if link.version == Version::V16 {
            let a = link
                .call(&v16::ClearChargingProfileRequest {
                    id: self.id,
                    connector_id: self.evse_id.map(int),
                    charging_profile_purpose: self.purpose.map(purpose_16).transpose()?,
                    stack_level: self.stack_level.map(int),
                })
                .await?;
            return Ok(ClearChargingProfileOutcome {
                status: clear_status_16(a.status),
                reason: None,
            });
        }
        let criteria = (self.evse_id.is_some()
            || self.purpose.is_some()
            || self.stack_level.is_some())
        .then(|| v201::ClearChargingProfile {
            custom_data: None,
            evse_id: self.evse_id.map(int),
            charging_profile_purpose: self.purpose.map(purpose),
            stack_level: self.stack_level.map(int),
        });
        let a = link
            .call(&v201::ClearChargingProfileRequest {
                custom_data: None,
                charging_profile_id: self.id,
                charging_profile_criteria: criteria,
            })
            .await?;
        Ok(ClearChargingProfileOutcome {
            status: clear_status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for GetChargingProfiles {
    async fn send(&self, link: &Link<'_>) -> Result<GetChargingProfilesOutcome, SendError> {
        if link.version == Version::V16 {
            return Err(SendError::Unsupported(
                "1.6 has no GetChargingProfiles: Arus's record of the profiles it installed is \
                 what a 1.6 station holds"
                    .into(),
            ));
        }
        let a = link
            .call(&v201::GetChargingProfilesRequest {
                custom_data: None,
                request_id: assigned(self.request_id, "requestId")?,
                evse_id: self.evse_id.map(int),
                charging_profile: v201::ChargingProfileCriterion {
                    custom_data: None,
                    charging_profile_purpose: self.purpose.map(purpose),
                    stack_level: self.stack_level.map(int),
                    charging_profile_id: (!self.ids.is_empty()).then(|| self.ids.clone()),
                    charging_limit_source: (!self.sources.is_empty())
                        .then(|| self.sources.iter().copied().map(source).collect()),
                },
            })
            .await?;
        Ok(GetChargingProfilesOutcome {
            status: get_status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for GetCompositeSchedule {
    async fn send(&self, link: &Link<'_>) -> Result<GetCompositeScheduleOutcome, SendError> {
        if link.version == Version::V16 {
            let a = link
                .call(&v16::GetCompositeScheduleRequest {
                    connector_id: int(self.evse_id),
                    duration: self.duration_s,
                    charging_rate_unit: self.unit.map(unit_16),
                })
                .await?;
            let schedule = match (a.schedule_start, a.charging_schedule) {
                (Some(start), Some(s)) => Some(CompositeSchedule {
                    evse_id: a
                        .connector_id
                        .and_then(|c| u32::try_from(c).ok())
                        .unwrap_or(self.evse_id),
                    schedule_start: start.0,
                    duration_s: s.duration.unwrap_or(self.duration_s),
                    charging_rate_unit: unit_from_16(s.charging_rate_unit),
                    charging_schedule_period: s
                        .charging_schedule_period
                        .iter()
                        .map(|x| period(x.start_period, x.limit, x.number_phases, None))
                        .collect(),
                }),
                _ => None,
            };
            return Ok(GetCompositeScheduleOutcome {
                status: composite_status_16(a.status),
                reason: None,
                schedule,
            });
        }
        let a = link
            .call(&v201::GetCompositeScheduleRequest {
                custom_data: None,
                duration: self.duration_s,
                charging_rate_unit: self.unit.map(unit),
                evse_id: int(self.evse_id),
            })
            .await?;
        Ok(GetCompositeScheduleOutcome {
            status: composite_status(a.status),
            reason: reason(a.status_info),
            schedule: a.schedule.map(|s| CompositeSchedule {
                evse_id: u32::try_from(s.evse_id).unwrap_or(self.evse_id),
                schedule_start: s.schedule_start.0,
                duration_s: s.duration,
                charging_rate_unit: unit_from(s.charging_rate_unit),
                charging_schedule_period: s
                    .charging_schedule_period
                    .iter()
                    .map(|x| period(x.start_period, x.limit, x.number_phases, x.phase_to_use))
                    .collect(),
            }),
        })
    }
}
