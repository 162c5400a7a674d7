//! Property tests of the composite schedule: the periods it returns are exactly the pointwise
//! merge (checked at every minute of the window against evaluating the merge there), they
//! start at 0 and each differs from the one before, and nothing exceeds the station's maximum.

use arus_schedules::Time;
use arus_schedules::composite::{Limit, Ongoing, Station, Window, composite, limit_at};
use arus_schedules::profile::{
    ChargingProfile, Installed, Kind, Period, Purpose, RateUnit, Recurrency, Schedule,
};
use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;

fn base() -> Time {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .expect("a time")
}

/// Minutes after the base.
fn at(min: i64) -> Time {
    base() + Duration::minutes(min)
}

fn period() -> impl Strategy<Value = (i64, f64, Option<u32>)> {
    (1i64..240, 0u32..64, prop::option::of(1u32..=3))
        .prop_map(|(gap, a, ph)| (gap, f64::from(a), ph))
}

fn profile() -> impl Strategy<Value = Installed> {
    (
        0u32..3,
        0usize..4,
        0usize..3,
        prop::collection::vec(period(), 1..5),
        prop::option::of(30i64..3000),
        -600i64..600,
        prop::option::of((-600i64..600, 10i64..2000)),
        prop::bool::ANY,
        0u32..3,
    )
        .prop_map(
            |(stack, purpose, kind, periods, duration, start, validity, watts, evse)| {
                let purpose = [
                    Purpose::ChargingStationMax,
                    Purpose::TxDefault,
                    Purpose::Tx,
                    Purpose::ExternalConstraints,
                ][purpose];
                let kind = [Kind::Absolute, Kind::Recurring, Kind::Relative][kind];
                let mut offset = 0;
                let periods = periods
                    .into_iter()
                    .enumerate()
                    .map(|(i, (gap, limit, phases))| {
                        if i > 0 {
                            offset += gap * 60;
                        }
                        Period {
                            start_s: offset,
                            limit: if watts { limit * 1000.0 } else { limit },
                            phases,
                            phase_to_use: None,
                        }
                    })
                    .collect();
                let evse = if purpose == Purpose::ChargingStationMax {
                    0
                } else {
                    evse
                };
                Installed {
                    evse_id: evse,
                    profile: ChargingProfile {
                        id: i64::from(stack) * 10 + purpose as i64,
                        stack_level: stack,
                        purpose,
                        kind,
                        recurrency: (kind == Kind::Recurring).then_some(Recurrency::Daily),
                        valid_from: validity.map(|(f, _)| at(f)),
                        valid_to: validity.map(|(f, len)| at(f + len)),
                        transaction_id: None,
                        schedules: vec![Schedule {
                            id: None,
                            start: (kind != Kind::Relative).then(|| at(start)),
                            duration_s: duration.map(|d| d * 60),
                            rate_unit: if watts { RateUnit::W } else { RateUnit::A },
                            min_rate: None,
                            periods,
                        }],
                    },
                }
            },
        )
}

fn station() -> impl Strategy<Value = Station> {
    (
        prop::collection::vec(profile(), 0..6),
        prop::option::of(-300i64..300),
        prop::option::of(8u32..64),
    )
        .prop_map(|(profiles, tx, max)| Station {
            profiles,
            transactions: tx
                .map(|start| Ongoing {
                    evse_id: 1,
                    transaction_id: "T1".into(),
                    started: at(start),
                })
                .into_iter()
                .collect(),
            max: max.map(|a| Limit {
                value: f64::from(a),
                unit: RateUnit::A,
                phases: None,
            }),
            voltage: 230.0,
        })
}

/// The merge written again from the specification's words, independently of the crate: at
/// instant `t`, per purpose the valid profile with the highest stack level whose schedule is
/// running (the EVSE's own before EVSE 0's at equal levels); TxProfile over TxDefaultProfile;
/// then the minimum with the station maximum profile, external constraints and the station's
/// own maximum, all in amperes per phase (W / (230 V × phases)).
fn reference(
    s: &Station,
    evse: u32,
    anchor: chrono::DateTime<Utc>,
    t: chrono::DateTime<Utc>,
) -> Option<f64> {
    let amps = |limit: f64, unit: RateUnit, phases: Option<u32>| match unit {
        RateUnit::A => limit,
        RateUnit::W => limit / (230.0 * f64::from(phases.unwrap_or(3))),
    };
    // The profile's limit at t, walking its runs one by one from the first.
    let running = |i: &Installed| -> Option<f64> {
        let p = &i.profile;
        if p.valid_from.is_some_and(|f| t < f) || p.valid_to.is_some_and(|to| t >= to) {
            return None;
        }
        let sch = &p.schedules[0];
        let every = match p.recurrency {
            Some(Recurrency::Daily) if p.kind == Kind::Recurring => Some(86_400),
            Some(Recurrency::Weekly) if p.kind == Kind::Recurring => Some(7 * 86_400),
            _ => None,
        };
        let mut start = match p.kind {
            Kind::Relative => anchor,
            _ => sch.start?,
        };
        if let Some(every) = every {
            while start + Duration::seconds(every) <= t {
                start += Duration::seconds(every);
            }
        }
        let length = match (every, sch.duration_s) {
            (Some(e), Some(d)) => Some(d.min(e)),
            (Some(e), None) => Some(e),
            (None, d) => d,
        };
        if t < start || length.is_some_and(|l| t >= start + Duration::seconds(l)) {
            return None;
        }
        let offset = (t - start).num_seconds();
        let period = sch.periods.iter().rfind(|x| x.start_s <= offset)?;
        Some(amps(period.limit, sch.rate_unit, period.phases))
    };
    let best = |purpose: Purpose, evses: &[u32]| -> Option<f64> {
        let tx = |i: &&Installed| {
            purpose != Purpose::Tx
                || s.transactions.iter().any(|o| {
                    o.evse_id == evse
                        && i.profile
                            .transaction_id
                            .as_ref()
                            .is_none_or(|id| *id == o.transaction_id)
                })
        };
        s.profiles
            .iter()
            .filter(|i| i.profile.purpose == purpose && evses.contains(&i.evse_id))
            .filter(tx)
            .filter_map(|i| running(i).map(|l| ((i.profile.stack_level, i.evse_id == evse), l)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, l)| l)
    };
    let mut limits = Vec::new();
    if evse == 0 {
        limits.extend(best(Purpose::ChargingStationMax, &[0]));
        limits.extend(best(Purpose::ExternalConstraints, &[0]));
    } else {
        let going = s.transactions.iter().any(|o| o.evse_id == evse);
        let tx = if going {
            best(Purpose::Tx, &[evse])
        } else {
            None
        };
        limits.extend(tx.or_else(|| best(Purpose::TxDefault, &[evse, 0])));
        limits.extend(best(Purpose::ChargingStationMax, &[0]));
        limits.extend(best(Purpose::ExternalConstraints, &[evse]));
        limits.extend(best(Purpose::ExternalConstraints, &[0]));
    }
    limits.extend(s.max.map(|m| amps(m.value, m.unit, m.phases)));
    limits.into_iter().min_by(f64::total_cmp)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn periods_are_the_pointwise_merge(
        s in station(),
        evse in 0u32..3,
        from in -200i64..200,
        minutes in 1i64..(2 * 24 * 60),
        watts in prop::bool::ANY,
    ) {
        let w = Window {
            evse_id: evse,
            start: at(from),
            duration_s: minutes * 60,
            unit: if watts { RateUnit::W } else { RateUnit::A },
        };
        let periods = composite(&s, &w);
        prop_assert_eq!(periods.first().map(|p| p.start_s), Some(0));
        for pair in periods.windows(2) {
            prop_assert!(pair[0].start_s < pair[1].start_s);
            prop_assert!(pair[0].limit != pair[1].limit || pair[0].phases != pair[1].phases);
        }
        let anchor = s
            .transactions
            .iter()
            .find(|t| t.evse_id == evse && evse != 0)
            .map_or(w.start, |t| t.started);
        let max_here = s.max.map(|m| arus_schedules::composite::convert(m, w.unit, s.voltage).value);
        for m in 0..minutes {
            let t = w.start + Duration::minutes(m);
            let expected = limit_at(&s, &w, anchor, t).map(|(l, _)| l.value);
            // And the merge as written again from the specification, in amperes.
            if !watts {
                let again = reference(&s, evse, anchor, t);
                let close = match (expected, again) {
                    (Some(x), Some(y)) => (x - y).abs() < 1e-6,
                    (x, y) => x == y,
                };
                prop_assert!(close, "at minute {}: {:?} where the reference says {:?}", m, expected, again);
            }
            let p = periods
                .iter()
                .take_while(|p| p.start_s <= m * 60)
                .last()
                .expect("a period covers every instant");
            prop_assert_eq!(p.limit, expected, "at minute {}", m);
            if let (Some(l), Some(max)) = (p.limit, max_here) {
                prop_assert!(l <= max + 1e-9);
            }
        }
        // A second before each period starts, the one before it still holds.
        for pair in periods.windows(2) {
            let t = w.start + Duration::seconds(pair[1].start_s - 1);
            let expected = limit_at(&s, &w, anchor, t).map(|(l, _)| l.value);
            prop_assert_eq!(pair[0].limit, expected);
        }
    }
}
