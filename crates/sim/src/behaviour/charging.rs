//! A session's energy: which car comes, what its station offers it (the limit of the profiles
//! the station holds), and the energy it takes between two moments.

use tokio::time::Instant;

use super::{StationState, real};
use crate::ev::{Car, Drawing};
use crate::rng::Rng;
use crate::scenario::Group;
use crate::stats::{CarSession, Stats};

/// A current change smaller than this (A) is not reported before the next sample: every
/// change the readings can show (they have one decimal) is reported when it happens.
const REPORTED_CHANGE_A: f64 = 0.05;

/// The car that comes next to a station of `group`: one of its car models, drawn by share, or
/// (without models) one that takes `session_energy_kwh` at up to `max_power_kw` on three
/// phases and leaves when done.
pub(crate) fn arriving(rng: &mut Rng, group: &Group) -> Car {
    let total: f64 = group.cars.iter().map(|c| c.share).sum();
    let mut pick = rng.unit() * total;
    let model = group.cars.iter().find(|c| {
        pick -= c.share;
        pick < 0.0
    });
    match model.or(group.cars.last()) {
        Some(m) => {
            let dwell = rng.between(m.dwell.0.as_secs_f64(), m.dwell.1.as_secs_f64());
            Car {
                phases: m.phases,
                max_a: m.max_current_a,
                min_a: m.min_current_a,
                battery_wh: m.battery_kwh * 1000.0,
                soc: rng.between(m.arrival_soc.0, m.arrival_soc.1),
                target_soc: m.target_soc,
                departure: Some(Instant::now() + real(group, dwell)),
                amps: 0.0,
                offered_a: 0.0,
            }
        }
        None => {
            let energy_wh =
                rng.between(group.session_energy_kwh.0, group.session_energy_kwh.1) * 1000.0;
            Car {
                phases: 3,
                max_a: group.max_power_kw * 1000.0 / (group.voltage * 3.0),
                min_a: 6.0,
                battery_wh: energy_wh.max(1.0),
                soc: 0.0,
                target_soc: 1.0,
                departure: None,
                amps: 0.0,
                offered_a: 0.0,
            }
        }
    }
}

/// Counts the energy EVSE `i`'s car took since it was last counted, at what it drew.
pub(crate) fn settle(st: &mut StationState, i: usize) {
    let now = Instant::now();
    let (speed, voltage) = (st.speed, st.hw.voltage);
    let e = &mut st.evses[i];
    let Some(tx) = e.tx.as_mut() else { return };
    let seconds = now.saturating_duration_since(tx.charged_to).as_secs_f64() * speed;
    tx.charged_to = now;
    let wh = tx.car.advance(seconds, voltage);
    tx.delivered_wh += wh;
    e.meter_wh += wh;
}

/// Offers EVSE `i`'s car the limit its station's profiles set now; returns whether what it
/// draws changed enough to report.
pub(crate) fn reoffer(st: &mut StationState, i: usize) -> bool {
    let ongoing = st.ongoing();
    let evse = st.evses[i].id;
    let Some(phases) = st.evses[i].tx.as_ref().map(|t| t.car.phases) else {
        return false;
    };
    let limit = st
        .profiles
        .limit_a(evse, &ongoing, st.hw, chrono::Utc::now(), phases);
    let Some(tx) = st.evses[i].tx.as_mut() else {
        return false;
    };
    let before = (tx.car.amps, tx.drawing);
    tx.drawing = tx.car.offer(limit);
    (tx.car.amps - before.0).abs() >= REPORTED_CHANGE_A || tx.drawing != before.1
}

/// Whether EVSE `i`'s car is due to leave.
pub(crate) fn leaving(st: &StationState, i: usize) -> bool {
    st.evses[i].tx.as_ref().is_some_and(|t| {
        t.car
            .departure
            .map_or_else(|| t.drawing == Drawing::Full, |d| d <= Instant::now())
    })
}

/// Records EVSE `i`'s car's session as it ends (`ended`: why), for the groups with car models.
pub(crate) fn record(st: &StationState, stats: &Stats, i: usize, ended: &str) {
    let e = &st.evses[i];
    let Some(tx) = e.tx.as_ref().filter(|_| st.record_cars) else {
        return;
    };
    let c = &tx.car;
    stats.car(CarSession {
        station_id: st.id.clone(),
        evse_id: e.id,
        phases: c.phases,
        max_current_a: c.max_a,
        min_current_a: c.min_a,
        battery_wh: c.battery_wh,
        arrival_soc: tx.arrived.1,
        target_soc: c.target_soc,
        arrived_s: stats.sim_seconds(tx.arrived.0.into_std(), st.speed),
        left_s: stats.sim_seconds(Instant::now().into_std(), st.speed),
        delivered_wh: tx.delivered_wh,
        ended: ended.to_string(),
    });
}
