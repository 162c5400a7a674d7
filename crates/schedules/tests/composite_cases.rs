//! Composite schedules worked by hand from the specifications' rules: stacking with a lower
//! level showing through when a higher one's duration ends (1.6 §3.13.2), purposes combined by
//! their minimum (§3.13.3), the TxProfile overruling the default while its transaction lasts
//! (§3.13.1), recurrence, relative profiles, validity and unit conversion.

use arus_schedules::Time;
use arus_schedules::composite::{
    Binding, CompositePeriod, Limit, Ongoing, Station, Window, composite,
};
use arus_schedules::profile::{
    ChargingProfile, Installed, Kind, Period, Purpose, RateUnit, Recurrency, Schedule,
};
use chrono::{Duration, TimeZone, Utc};

fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .expect("a time")
}

fn h(hours: i64) -> Time {
    t0() + Duration::hours(hours)
}

/// A profile of one schedule whose periods are `(start_s, limit)`.
fn profile(
    id: i64,
    stack: u32,
    purpose: Purpose,
    kind: Kind,
    periods: &[(i64, f64)],
) -> ChargingProfile {
    ChargingProfile {
        id,
        stack_level: stack,
        purpose,
        kind,
        recurrency: None,
        valid_from: None,
        valid_to: None,
        transaction_id: None,
        schedules: vec![Schedule {
            id: None,
            start: (kind != Kind::Relative).then(t0),
            duration_s: None,
            rate_unit: RateUnit::A,
            min_rate: None,
            periods: periods
                .iter()
                .map(|&(start_s, limit)| Period {
                    start_s,
                    limit,
                    phases: None,
                    phase_to_use: None,
                })
                .collect(),
        }],
    }
}

fn on(evse_id: u32, profile: ChargingProfile) -> Installed {
    Installed { evse_id, profile }
}

fn station(profiles: Vec<Installed>) -> Station {
    Station {
        profiles,
        transactions: Vec::new(),
        max: None,
        voltage: 230.0,
    }
}

fn window(evse_id: u32, start: Time, hours: i64, unit: RateUnit) -> Window {
    Window {
        evse_id,
        start,
        duration_s: hours * 3600,
        unit,
    }
}

/// The periods as `(start_s, limit)`.
fn limits(periods: &[CompositePeriod]) -> Vec<(i64, Option<f64>)> {
    periods.iter().map(|p| (p.start_s, p.limit)).collect()
}

#[test]
fn a_higher_stack_level_prevails_and_a_lower_shows_through_after_its_duration() {
    let mut exception = profile(2, 1, Purpose::TxDefault, Kind::Absolute, &[(0, 10.0)]);
    exception.schedules[0].start = Some(h(1));
    exception.schedules[0].duration_s = Some(2 * 3600);
    let s = station(vec![
        on(
            0,
            profile(1, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 32.0)]),
        ),
        on(0, exception),
    ]);
    let c = composite(&s, &window(1, t0(), 4, RateUnit::A));
    assert_eq!(
        limits(&c),
        [(0, Some(32.0)), (3600, Some(10.0)), (3 * 3600, Some(32.0))]
    );
    assert_eq!(
        c[1].binding,
        Some(Binding::Profile {
            id: 2,
            purpose: Purpose::TxDefault
        })
    );
}

#[test]
fn purposes_combine_by_their_minimum_and_the_station_maximum_caps_every_evse() {
    let s = station(vec![
        on(
            0,
            profile(
                1,
                0,
                Purpose::ChargingStationMax,
                Kind::Absolute,
                &[(0, 20.0), (7200, 40.0)],
            ),
        ),
        on(
            1,
            profile(2, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 32.0)]),
        ),
    ]);
    let c = composite(&s, &window(1, t0(), 4, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(20.0)), (7200, Some(32.0))]);
    // The station as a whole: its maximum alone.
    let c = composite(&s, &window(0, t0(), 4, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(20.0)), (7200, Some(40.0))]);
}

#[test]
fn the_tx_profile_overrules_the_default_only_while_its_transaction_lasts() {
    let mut s = station(vec![
        on(
            0,
            profile(1, 5, Purpose::TxDefault, Kind::Absolute, &[(0, 16.0)]),
        ),
        on(1, profile(2, 0, Purpose::Tx, Kind::Absolute, &[(0, 6.0)])),
    ]);
    let w = window(1, t0(), 1, RateUnit::A);
    // No transaction: the TxProfile does not apply (a station would have discarded it).
    assert_eq!(limits(&composite(&s, &w)), [(0, Some(16.0))]);
    s.transactions.push(Ongoing {
        evse_id: 1,
        transaction_id: "T1".into(),
        started: t0(),
    });
    // A lower stack level does not matter across purposes: the TxProfile replaces the default.
    assert_eq!(limits(&composite(&s, &w)), [(0, Some(6.0))]);
    // Another EVSE keeps the default.
    assert_eq!(
        limits(&composite(&s, &window(2, t0(), 1, RateUnit::A))),
        [(0, Some(16.0))]
    );
    // A TxProfile naming another transaction does not apply.
    s.profiles[1].profile.transaction_id = Some("T0".into());
    assert_eq!(limits(&composite(&s, &w)), [(0, Some(16.0))]);
}

#[test]
fn a_daily_profile_recurs_from_its_start() {
    // Full current at night, 10 A from 08:00 to 18:00, every day from midnight of t0.
    let mut daily = profile(
        1,
        0,
        Purpose::TxDefault,
        Kind::Recurring,
        &[(0, 32.0), (8 * 3600, 10.0), (18 * 3600, 32.0)],
    );
    daily.recurrency = Some(Recurrency::Daily);
    let s = station(vec![on(0, daily)]);
    // From 06:00 on the third day, for a day.
    let c = composite(&s, &window(1, h(48 + 6), 24, RateUnit::A));
    assert_eq!(
        limits(&c),
        [
            (0, Some(32.0)),
            (2 * 3600, Some(10.0)),
            (12 * 3600, Some(32.0))
        ]
    );
}

#[test]
fn a_weekly_profile_with_a_shorter_duration_leaves_a_gap_each_week() {
    // 6 A for the first 24 hours of each week, from Monday 1 June 2026 00:00.
    let mut weekly = profile(1, 3, Purpose::TxDefault, Kind::Recurring, &[(0, 6.0)]);
    weekly.recurrency = Some(Recurrency::Weekly);
    weekly.schedules[0].duration_s = Some(24 * 3600);
    let s = station(vec![
        on(
            0,
            profile(2, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 25.0)]),
        ),
        on(0, weekly),
    ]);
    let c = composite(&s, &window(1, h(6 * 24), 48, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(25.0)), (24 * 3600, Some(6.0))]);
}

#[test]
fn a_relative_profile_starts_with_its_transaction() {
    let mut s = station(vec![on(
        1,
        profile(1, 0, Purpose::Tx, Kind::Relative, &[(0, 16.0), (1800, 8.0)]),
    )]);
    s.transactions.push(Ongoing {
        evse_id: 1,
        transaction_id: "T1".into(),
        started: t0() - Duration::minutes(10),
    });
    let c = composite(&s, &window(1, t0(), 1, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(16.0)), (1200, Some(8.0))]);
}

#[test]
fn validity_bounds_a_profile_and_nothing_limits_outside_it_without_a_station_maximum() {
    let mut p = profile(1, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 12.0)]);
    p.valid_from = Some(h(1));
    p.valid_to = Some(h(2));
    let mut s = station(vec![on(0, p)]);
    let w = window(1, t0(), 3, RateUnit::A);
    assert_eq!(
        limits(&composite(&s, &w)),
        [(0, None), (3600, Some(12.0)), (7200, None)]
    );
    // The station's own maximum applies where no profile does.
    s.max = Some(Limit {
        value: 32.0,
        unit: RateUnit::A,
        phases: None,
    });
    let c = composite(&s, &w);
    assert_eq!(
        limits(&c),
        [(0, Some(32.0)), (3600, Some(12.0)), (7200, Some(32.0))]
    );
    assert_eq!(c[0].binding, Some(Binding::StationMaximum));
}

#[test]
fn limits_are_converted_with_the_voltage_and_the_phases() {
    let mut watts = profile(
        1,
        0,
        Purpose::ChargingStationMax,
        Kind::Absolute,
        &[(0, 11_040.0)],
    );
    watts.schedules[0].rate_unit = RateUnit::W;
    let mut one_phase = profile(
        2,
        0,
        Purpose::TxDefault,
        Kind::Absolute,
        &[(0, 16.0), (3600, 32.0)],
    );
    one_phase.schedules[0].periods[0].phases = Some(1);
    one_phase.schedules[0].periods[1].phases = Some(1);
    let s = station(vec![on(0, watts), on(1, one_phase)]);
    // In amperes: 11,040 W over three phases at 230 V is 16 A; the one-phase 16 A ties it
    // for the first hour (on one phase), then binds alone (on three).
    let a = composite(&s, &window(1, t0(), 2, RateUnit::A));
    assert_eq!(limits(&a), [(0, Some(16.0)), (3600, Some(16.0))]);
    assert_eq!((a[0].phases, a[1].phases), (Some(1), None));
    // In watts: 16 A on one phase is 3,680 W; 32 A on one phase is 7,360 W, under the maximum.
    let w = composite(&s, &window(1, t0(), 2, RateUnit::W));
    assert_eq!(limits(&w), [(0, Some(3680.0)), (3600, Some(7360.0))]);
    assert_eq!(w[0].phases, Some(1));
}

#[test]
fn external_constraints_cap_like_the_station_maximum() {
    let s = station(vec![
        on(
            1,
            profile(1, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 32.0)]),
        ),
        on(
            0,
            profile(
                2,
                0,
                Purpose::ExternalConstraints,
                Kind::Absolute,
                &[(0, 40.0), (3600, 8.0)],
            ),
        ),
    ]);
    let c = composite(&s, &window(1, t0(), 2, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(32.0)), (3600, Some(8.0))]);
}

#[test]
fn at_equal_stack_levels_the_evse_own_default_prevails_over_the_station_wide_one() {
    let s = station(vec![
        on(
            0,
            profile(1, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 32.0)]),
        ),
        on(
            1,
            profile(2, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 13.0)]),
        ),
    ]);
    assert_eq!(
        limits(&composite(&s, &window(1, t0(), 1, RateUnit::A))),
        [(0, Some(13.0))]
    );
    assert_eq!(
        limits(&composite(&s, &window(2, t0(), 1, RateUnit::A))),
        [(0, Some(32.0))]
    );
}

/// What a station reports is not bounded: times beyond what can be counted are left out,
/// never a panic.
#[test]
fn huge_values_a_station_reported_do_not_panic() {
    let mut p = profile(
        1,
        0,
        Purpose::TxDefault,
        Kind::Recurring,
        &[(0, 10.0), (i64::MAX, 5.0)],
    );
    p.recurrency = Some(Recurrency::Daily);
    p.schedules[0].duration_s = Some(i64::MAX);
    let mut q = profile(2, 1, Purpose::TxDefault, Kind::Absolute, &[(0, 8.0)]);
    q.schedules[0].duration_s = Some(i64::MAX);
    let s = station(vec![on(0, p), on(0, q)]);
    let c = composite(&s, &window(1, t0(), 2, RateUnit::A));
    assert_eq!(limits(&c), [(0, Some(8.0))]);
}

#[test]
fn limits_with_more_than_one_decimal_are_refused() {
    use arus_schedules::check::{Target, check};
    let p = profile(1, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 7.25)]);
    let found = check(
        &p,
        Target {
            evse_id: 1,
            transaction: false,
        },
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].at, "/schedules/0/periods/0/limit");
    let ok = profile(2, 0, Purpose::TxDefault, Kind::Absolute, &[(0, 7.2)]);
    assert!(
        check(
            &ok,
            Target {
                evse_id: 1,
                transaction: false
            }
        )
        .is_empty()
    );
}

/// External constraints on the EVSE and on the station each cap it, whatever their levels.
#[test]
fn external_constraints_on_the_evse_and_the_station_both_hold() {
    let s = station(vec![
        on(
            0,
            profile(
                1,
                0,
                Purpose::ExternalConstraints,
                Kind::Absolute,
                &[(0, 10.0)],
            ),
        ),
        on(
            1,
            profile(
                2,
                0,
                Purpose::ExternalConstraints,
                Kind::Absolute,
                &[(0, 32.0)],
            ),
        ),
    ]);
    assert_eq!(
        limits(&composite(&s, &window(1, t0(), 1, RateUnit::A))),
        [(0, Some(10.0))]
    );
}
