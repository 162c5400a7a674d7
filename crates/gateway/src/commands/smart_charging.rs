//! K Smart charging in each version: the charging profile a remote start carries, as a 1.6 or
//! 2.0.1 ChargingProfile of purpose TxProfile.

use arus_domain::commands::{
    ChargingProfile, ChargingProfileKind, ChargingRateUnit, RecurrencyKind,
};
use arus_ocpp::{v16, v201};

use super::{convert, int, time};

convert!(kind_16: ChargingProfileKind => v16::ChargingProfileKindType { Absolute, Recurring, Relative });
convert!(kind: ChargingProfileKind => v201::ChargingProfileKindEnum { Absolute, Recurring, Relative });
convert!(recurrency_16: RecurrencyKind => v16::RecurrencyKindType { Daily, Weekly });
convert!(recurrency: RecurrencyKind => v201::RecurrencyKindEnum { Daily, Weekly });
convert!(unit_16: ChargingRateUnit => v16::ChargingRateUnitType { A, W });
convert!(unit: ChargingRateUnit => v201::ChargingRateUnitEnum { A, W });

/// A transaction's profile in 1.6 (the station assigns the transaction).
pub(super) fn tx_profile_16(p: &ChargingProfile) -> v16::ChargingProfile {
    v16::ChargingProfile {
        charging_profile_id: p.id,
        transaction_id: None,
        stack_level: int(p.stack_level),
        charging_profile_purpose: v16::ChargingProfilePurposeType::TxProfile,
        charging_profile_kind: kind_16(p.kind),
        recurrency_kind: p.recurrency.map(recurrency_16),
        valid_from: p.valid_from.as_ref().map(time),
        valid_to: p.valid_to.as_ref().map(time),
        charging_schedule: v16::ChargingSchedule {
            duration: p.duration_s,
            start_schedule: p.start.as_ref().map(time),
            charging_rate_unit: unit_16(p.rate_unit),
            charging_schedule_period: p
                .periods
                .iter()
                .map(|s| v16::ChargingSchedulePeriod {
                    start_period: s.start_s,
                    limit: s.limit,
                    number_phases: s.phases.map(int),
                })
                .collect(),
            min_charging_rate: p.min_rate,
        },
    }
}

/// A transaction's profile in 2.0.1: one schedule, with the profile's id.
pub(super) fn tx_profile(p: &ChargingProfile) -> v201::ChargingProfile {
    v201::ChargingProfile {
        custom_data: None,
        id: p.id,
        stack_level: int(p.stack_level),
        charging_profile_purpose: v201::ChargingProfilePurposeEnum::TxProfile,
        charging_profile_kind: kind(p.kind),
        recurrency_kind: p.recurrency.map(recurrency),
        valid_from: p.valid_from.as_ref().map(time),
        valid_to: p.valid_to.as_ref().map(time),
        charging_schedule: vec![v201::ChargingSchedule {
            custom_data: None,
            id: p.id,
            start_schedule: p.start.as_ref().map(time),
            duration: p.duration_s,
            charging_rate_unit: unit(p.rate_unit),
            charging_schedule_period: p
                .periods
                .iter()
                .map(|s| v201::ChargingSchedulePeriod {
                    custom_data: None,
                    start_period: s.start_s,
                    limit: s.limit,
                    number_phases: s.phases.map(int),
                    phase_to_use: None,
                })
                .collect(),
            min_charging_rate: p.min_rate,
            sales_tariff: None,
        }],
        transaction_id: None,
    }
}
