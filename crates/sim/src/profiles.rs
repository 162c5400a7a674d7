//! K Smart charging on the station side: the charging profiles a simulated station holds, and
//! the limit they put on each EVSE, so that a simulated car draws what its station allows.
//!
//! A profile is installed as the specifications say a station does: one with the id of an
//! installed one replaces it (1.6 §5.16.1; 2.0.1 K01.FR.05), as does one with the same
//! purpose and stack level on the same EVSE (K01.FR.06; 1.6 §3.13.2); a TxProfile needs a
//! transaction on its EVSE (1.6 §5.16.1; K01.FR.09) and ends with it; ClearChargingProfile
//! removes by id or by every criterion given. The limit in force and GetCompositeSchedule
//! both come from the same merge Arus computes (`arus-schedules`), so a simulated station
//! obeys exactly what it reports.
//!
//! # Invariants
//!
//! - Only profiles the station accepted are held; what a station cannot take (a TxProfile
//!   without its transaction, a 2.0.1 ChargingStationExternalConstraints from the CSMS) is
//!   rejected and changes nothing.

use arus_ocpp::{v16, v201};
use arus_schedules::Time;
use arus_schedules::composite::{self, CompositePeriod, Limit, Ongoing, Station, Window};
use arus_schedules::profile::{
    ChargingProfile, Installed, Kind, Period, Purpose, RateUnit, Recurrency, Schedule,
};
use serde::Serialize;

/// The profiles a station holds, and what it knows of its own hardware.
#[derive(Debug, Clone, Default)]
pub(crate) struct Profiles {
    installed: Vec<Installed>,
    /// 2.0.1 profiles as they were received, by id, for GetChargingProfiles.
    wire: std::collections::HashMap<i64, v201::ChargingProfile>,
}

/// An enum of the wire as the name it is spelled with.
fn spelled<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn period(start_s: i64, limit: f64, phases: Option<i64>, phase_to_use: Option<i64>) -> Period {
    Period {
        start_s,
        limit,
        phases: phases.and_then(|p| u32::try_from(p).ok()),
        phase_to_use: phase_to_use.and_then(|p| u32::try_from(p).ok()),
    }
}

/// A purpose as either version spells it (1.6's ChargePointMaxProfile is the station
/// maximum).
pub(crate) fn purpose_of<T: Serialize>(p: &T) -> Option<Purpose> {
    match spelled(p).as_str() {
        "ChargePointMaxProfile" => Some(Purpose::ChargingStationMax),
        s => Purpose::parse(s),
    }
}

/// A 1.6 profile in the model's terms (ChargePointMaxProfile is the station maximum).
pub(crate) fn from_v16(p: &v16::ChargingProfile) -> ChargingProfile {
    let s = &p.charging_schedule;
    let purpose = purpose_of(&p.charging_profile_purpose).unwrap_or(Purpose::TxDefault);
    ChargingProfile {
        id: p.charging_profile_id,
        stack_level: u32::try_from(p.stack_level).unwrap_or(0),
        purpose,
        kind: Kind::parse(&spelled(&p.charging_profile_kind)).unwrap_or(Kind::Absolute),
        recurrency: p
            .recurrency_kind
            .and_then(|r| Recurrency::parse(&spelled(&r))),
        valid_from: p.valid_from.as_ref().map(|t| t.0),
        valid_to: p.valid_to.as_ref().map(|t| t.0),
        transaction_id: p.transaction_id.map(|t| t.to_string()),
        schedules: vec![Schedule {
            id: None,
            start: s.start_schedule.as_ref().map(|t| t.0),
            duration_s: s.duration,
            rate_unit: RateUnit::parse(&spelled(&s.charging_rate_unit)).unwrap_or(RateUnit::A),
            min_rate: s.min_charging_rate,
            periods: s
                .charging_schedule_period
                .iter()
                .map(|x| period(x.start_period, x.limit, x.number_phases, None))
                .collect(),
        }],
    }
}

/// A 2.0.1 profile in the model's terms.
pub(crate) fn from_v201(p: &v201::ChargingProfile) -> ChargingProfile {
    ChargingProfile {
        id: p.id,
        stack_level: u32::try_from(p.stack_level).unwrap_or(0),
        purpose: purpose_of(&p.charging_profile_purpose).unwrap_or(Purpose::TxDefault),
        kind: Kind::parse(&spelled(&p.charging_profile_kind)).unwrap_or(Kind::Absolute),
        recurrency: p
            .recurrency_kind
            .and_then(|r| Recurrency::parse(&spelled(&r))),
        valid_from: p.valid_from.as_ref().map(|t| t.0),
        valid_to: p.valid_to.as_ref().map(|t| t.0),
        transaction_id: p.transaction_id.clone(),
        schedules: p
            .charging_schedule
            .iter()
            .map(|s| Schedule {
                id: Some(s.id),
                start: s.start_schedule.as_ref().map(|t| t.0),
                duration_s: s.duration,
                rate_unit: RateUnit::parse(&spelled(&s.charging_rate_unit)).unwrap_or(RateUnit::A),
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

/// What a ClearChargingProfile names.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clear {
    pub id: Option<i64>,
    pub evse: Option<u32>,
    pub purpose: Option<Purpose>,
    pub stack_level: Option<u32>,
}

/// The station's hardware and sessions, as the limit computation needs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hardware {
    /// The most current per phase an EVSE delivers.
    pub evse_max_a: f64,
    /// The nominal voltage, phase to neutral.
    pub voltage: f64,
}

impl Profiles {
    /// Installs `profile` on `evse` (0: the station), if the station can take it; `ongoing`
    /// is the transaction on each EVSE. Returns whether it was accepted.
    pub fn set(&mut self, evse: u32, mut profile: ChargingProfile, ongoing: &[Ongoing]) -> bool {
        if profile.purpose == Purpose::Tx {
            // A TxProfile belongs to the EVSE's transaction: the one it names, or else the
            // one going on.
            let Some(tx) = ongoing.iter().find(|t| {
                evse != 0
                    && t.evse_id == evse
                    && profile
                        .transaction_id
                        .as_ref()
                        .is_none_or(|id| *id == t.transaction_id)
            }) else {
                return false;
            };
            profile.transaction_id = Some(tx.transaction_id.clone());
        }
        if profile.schedules.is_empty() {
            return false;
        }
        self.installed.retain(|i| {
            i.profile.id != profile.id
                && !(i.evse_id == evse
                    && i.profile.purpose == profile.purpose
                    && i.profile.stack_level == profile.stack_level)
        });
        self.installed.push(Installed {
            evse_id: evse,
            profile,
        });
        self.prune();
        true
    }

    /// Installs a 2.0.1 profile (kept as received for GetChargingProfiles). Unlike 1.6, a
    /// profile of the same purpose and stack level on the same EVSE under another id is
    /// rejected (K01.FR.06; for TxProfiles, of the same transaction, K01.FR.39); validity
    /// periods are not compared.
    pub fn set_v201(&mut self, evse: u32, p: v201::ChargingProfile, ongoing: &[Ongoing]) -> bool {
        let id = p.id;
        let model = from_v201(&p);
        let clash = self.installed.iter().any(|i| {
            i.profile.id != id
                && i.evse_id == evse
                && i.profile.purpose == model.purpose
                && i.profile.stack_level == model.stack_level
                && (model.purpose != Purpose::Tx
                    || model.transaction_id.is_none()
                    || i.profile.transaction_id == model.transaction_id)
        });
        if clash {
            return false;
        }
        let accepted = self.set(evse, model, ongoing);
        if accepted {
            self.wire.insert(id, p);
        }
        accepted
    }

    /// The 2.0.1 profiles K09 GetChargingProfiles asks for, per EVSE.
    pub fn reported(
        &self,
        evse: Option<u32>,
        purpose: Option<Purpose>,
        stack_level: Option<u32>,
        ids: Option<&[i64]>,
    ) -> Vec<(u32, v201::ChargingProfile)> {
        self.installed
            .iter()
            .filter(|i| {
                evse.is_none_or(|e| e == i.evse_id)
                    && purpose.is_none_or(|p| p == i.profile.purpose)
                    && stack_level.is_none_or(|s| s == i.profile.stack_level)
                    && ids.is_none_or(|ids| ids.contains(&i.profile.id))
            })
            .filter_map(|i| Some((i.evse_id, self.wire.get(&i.profile.id)?.clone())))
            .collect()
    }

    /// Drops the wire copies of profiles no longer held.
    fn prune(&mut self) {
        let held: std::collections::HashSet<i64> =
            self.installed.iter().map(|i| i.profile.id).collect();
        self.wire.retain(|id, _| held.contains(id));
    }

    /// Removes what `c` names; returns whether anything was.
    pub fn clear(&mut self, c: Clear) -> bool {
        let before = self.installed.len();
        self.installed.retain(|i| {
            let named = match c.id {
                Some(id) => i.profile.id == id,
                None => {
                    c.evse.is_none_or(|e| e == i.evse_id)
                        && c.purpose.is_none_or(|p| p == i.profile.purpose)
                        && c.stack_level.is_none_or(|s| s == i.profile.stack_level)
                }
            };
            !named
        });
        self.prune();
        self.installed.len() != before
    }

    /// A transaction ended: its TxProfiles end with it.
    pub fn transaction_ended(&mut self, transaction_id: &str) {
        self.installed.retain(|i| {
            i.profile.purpose != Purpose::Tx
                || i.profile.transaction_id.as_deref() != Some(transaction_id)
        });
        self.prune();
    }

    /// How many profiles are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.installed.len()
    }

    fn station(&self, ongoing: &[Ongoing], hw: Hardware) -> Station {
        Station {
            profiles: self.installed.clone(),
            transactions: ongoing.to_vec(),
            max: Some(Limit {
                value: hw.evse_max_a,
                unit: RateUnit::A,
                phases: None,
            }),
            voltage: hw.voltage,
        }
    }

    /// The current per phase a car charging on `phases` phases may draw at EVSE `evse` at
    /// `t`: a limit in A holds on each phase; one in W is the power over the phases the car
    /// uses.
    pub fn limit_a(
        &self,
        evse: u32,
        ongoing: &[Ongoing],
        hw: Hardware,
        t: Time,
        phases: u8,
    ) -> f64 {
        let station = self.station(ongoing, hw);
        let window = Window {
            evse_id: evse,
            start: t,
            duration_s: 1,
            unit: RateUnit::W,
        };
        let anchor = ongoing
            .iter()
            .find(|o| o.evse_id == evse)
            .map_or(t, |o| o.started);
        let Some((watts, binding)) = composite::limit_at(&station, &window, anchor, t) else {
            return hw.evse_max_a;
        };
        let unit = match binding {
            composite::Binding::StationMaximum => RateUnit::A,
            composite::Binding::Profile { id, .. } => self
                .installed
                .iter()
                .find(|i| i.profile.id == id)
                .and_then(|i| i.profile.schedules.first())
                .map_or(RateUnit::A, |s| s.rate_unit),
        };
        let amps = match unit {
            RateUnit::A => composite::convert(watts, RateUnit::A, hw.voltage).value,
            RateUnit::W => watts.value / (hw.voltage * f64::from(phases.clamp(1, 3))),
        };
        amps.min(hw.evse_max_a).max(0.0)
    }

    /// GetCompositeSchedule: the merge over `duration_s` from `start` on `evse`.
    pub fn composite(
        &self,
        evse: u32,
        ongoing: &[Ongoing],
        hw: Hardware,
        start: Time,
        duration_s: i64,
        unit: RateUnit,
    ) -> Vec<CompositePeriod> {
        let window = Window {
            evse_id: evse,
            start,
            duration_s,
            unit,
        };
        composite::composite(&self.station(ongoing, hw), &window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(s: i64) -> Time {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn profile(
        id: i64,
        purpose: Purpose,
        level: u32,
        unit: RateUnit,
        limit: f64,
    ) -> ChargingProfile {
        ChargingProfile {
            id,
            stack_level: level,
            purpose,
            kind: Kind::Absolute,
            recurrency: None,
            valid_from: None,
            valid_to: None,
            transaction_id: None,
            schedules: vec![Schedule {
                id: None,
                start: Some(at(0)),
                duration_s: None,
                rate_unit: unit,
                min_rate: None,
                periods: vec![period(0, limit, None, None)],
            }],
        }
    }

    const HW: Hardware = Hardware {
        evse_max_a: 32.0,
        voltage: 230.0,
    };

    fn ongoing() -> Vec<Ongoing> {
        vec![Ongoing {
            evse_id: 1,
            transaction_id: "T1".into(),
            started: at(0),
        }]
    }

    /// K01.FR.09 / 1.6 §5.16.1: a TxProfile without a transaction on its EVSE is discarded;
    /// with one it binds to it and ends with it.
    #[test]
    fn a_tx_profile_needs_and_ends_with_its_transaction() {
        let mut p = Profiles::default();
        let tx = profile(1, Purpose::Tx, 0, RateUnit::A, 10.0);
        assert!(!p.set(2, tx.clone(), &ongoing()));
        assert!(p.set(1, tx, &ongoing()));
        assert_eq!(p.limit_a(1, &ongoing(), HW, at(5), 3), 10.0);
        p.transaction_ended("T1");
        assert_eq!(p.len(), 0);
        assert_eq!(p.limit_a(1, &ongoing(), HW, at(5), 3), 32.0);
    }

    /// K01.FR.05/06: the same id, or the same purpose and stack level on the same EVSE,
    /// replaces what was installed.
    #[test]
    fn a_profile_replaces_the_same_id_and_the_same_level() {
        let mut p = Profiles::default();
        assert!(p.set(0, profile(1, Purpose::TxDefault, 0, RateUnit::A, 16.0), &[]));
        assert!(p.set(0, profile(2, Purpose::TxDefault, 0, RateUnit::A, 8.0), &[]));
        assert_eq!(p.len(), 1);
        assert!(p.set(0, profile(2, Purpose::TxDefault, 1, RateUnit::A, 12.0), &[]));
        assert_eq!(p.len(), 1);
        assert_eq!(p.limit_a(1, &[], HW, at(5), 3), 12.0);
        assert!(p.clear(Clear {
            purpose: Some(Purpose::TxDefault),
            ..Clear::default()
        }));
        assert!(!p.clear(Clear {
            id: Some(2),
            ..Clear::default()
        }));
    }

    /// A limit in W is the power over the phases the car uses; one in A holds per phase.
    #[test]
    fn watts_become_amps_over_the_phases_a_car_uses() {
        let mut p = Profiles::default();
        assert!(p.set(
            1,
            profile(1, Purpose::TxDefault, 0, RateUnit::W, 6900.0),
            &[]
        ));
        assert!((p.limit_a(1, &[], HW, at(5), 3) - 10.0).abs() < 1e-9);
        assert!((p.limit_a(1, &[], HW, at(5), 1) - 30.0).abs() < 1e-9);
        assert!(p.set(1, profile(1, Purpose::TxDefault, 0, RateUnit::A, 13.0), &[]));
        assert_eq!(p.limit_a(1, &[], HW, at(5), 1), 13.0);
    }
}
