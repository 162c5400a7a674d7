//! What a site drew: the load on each of its groups over a window of time, read back from the
//! meter values of the sessions at its EVSEs, against the group's limits then. This is how an
//! operator (and a test) sees whether load management kept the site inside its limits.
//!
//! An EVSE's current per phase is taken from its readings: `Current.Import` per phase where
//! the station reports it, else `Power.Active.Import` spread over the EVSE's phases at the
//! site's voltage. Between readings the last one holds; before a session's first reading and
//! after its end the EVSE draws nothing. Station phases are mapped to site phases by the
//! EVSE's wiring (`l1OnPhase`), and each group's other load is added.
//!
//! # Invariants
//!
//! - The computation ([`load`]) is pure: readings and a site in, loads out.
//! - A bucket of the series holds the highest load and the lowest limit anywhere in it, so
//!   a load above its limit for any moment shows in its bucket and among the excesses.

use serde::Serialize;

use crate::Time;
use crate::metering::{MeterValue, Sample};
use crate::sites::Site;
use crate::store::{Store, StoreError, TransactionQuery};

/// The most buckets one request may ask for.
pub const MAX_BUCKETS: i64 = 10_000;

/// The most excesses listed per group (all are counted).
const MAX_EXCESSES: usize = 100;

/// What an EVSE draws from a moment on (station phases L1, L2, L3, in A).
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// From when.
    pub at: Time,
    /// The station.
    pub station_id: String,
    /// The EVSE.
    pub evse_id: u32,
    /// The current on each station phase.
    pub amps: [f64; 3],
}

/// A group's load over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupLoad {
    /// The group.
    pub group_id: String,
    /// The highest load on each site phase, in A.
    pub peak_a: [f64; 3],
    /// The highest power, in W.
    pub peak_w: f64,
    /// How many times the load went above a limit.
    pub excess_count: usize,
    /// The first of them.
    pub excesses: Vec<Excess>,
    /// The load per bucket of the window.
    pub series: Vec<LoadPoint>,
}

/// A moment the load was above a limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Excess {
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
    /// The site phase (`L1`...), or none for the power limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The load, in A (or W for the power limit).
    pub load: f64,
    /// The limit.
    pub limit: f64,
}

/// A bucket of a group's load.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadPoint {
    /// The bucket's start.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
    /// The highest load on each site phase in the bucket, in A.
    pub load_a: [f64; 3],
    /// The highest power in the bucket, in W.
    pub power_w: f64,
    /// The lowest limit per phase in the bucket, if the group has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_a: Option<[f64; 3]>,
    /// The lowest power limit in the bucket, if the group has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_w: Option<f64>,
}

/// A site's load over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteLoad {
    /// The site.
    pub site_id: String,
    /// The window's start.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Time,
    /// Its end.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Time,
    /// The bucket length, in seconds.
    pub step_s: i64,
    /// How many readings went into it.
    pub readings: usize,
    /// Per group, the grid connection first.
    pub groups: Vec<GroupLoad>,
}

fn at_outlet(s: &&Sample) -> bool {
    s.location.as_deref().is_none_or(|l| l != "EV")
}

fn measured(s: &Sample, name: &str) -> bool {
    s.measurand.as_deref() == Some(name)
}

/// The current on each station phase a reading measured (`Current.Import` per phase), if it
/// measured any; phases it does not name carry none.
pub fn measured_currents(mv: &MeterValue) -> Option<[f64; 3]> {
    let mut amps = [0.0; 3];
    let mut any = false;
    for s in mv.samples.iter().filter(at_outlet) {
        let Some(v) = s.value.filter(|v| v.is_finite()) else {
            continue;
        };
        if measured(s, "Current.Import") {
            let i = match s.phase.as_deref() {
                Some("L1") => 0,
                Some("L2") => 1,
                Some("L3") => 2,
                _ => continue,
            };
            amps[i] = v.max(0.0);
            any = true;
        }
    }
    any.then_some(amps)
}

/// The current per station phase a reading shows, if it shows any: `Current.Import` per
/// phase, else `Power.Active.Import` spread over `phases` phases at `voltage`.
pub fn phase_currents(mv: &MeterValue, phases: u8, voltage: f64) -> Option<[f64; 3]> {
    if let Some(amps) = measured_currents(mv) {
        return Some(amps);
    }
    let power = mv.samples.iter().filter(at_outlet).find_map(|s| {
        (measured(s, "Power.Active.Import") && s.phase.is_none()).then_some(())?;
        let v = s.value.filter(|v| v.is_finite())?;
        Some(match s.unit.as_deref() {
            Some("kW") => v * 1000.0,
            _ => v,
        })
    })?;
    let n = phases.clamp(1, 3);
    let each = power.max(0.0) / (voltage * f64::from(n));
    Some([0, 1, 2].map(|i| if i < n as usize { each } else { 0.0 }))
}

/// The load of each of `site`'s groups over `[from, to)` in buckets of `step_s` seconds, from
/// what its EVSEs drew (in any order; readings of EVSEs not on the site are ignored).
pub fn load(site: &Site, drawn: &[Drawn], from: Time, to: Time, step_s: i64) -> SiteLoad {
    let step_s = step_s.max(1);
    let buckets = ((to - from).num_seconds().max(0) + step_s - 1) / step_s;
    let buckets = buckets.clamp(0, MAX_BUCKETS) as usize;
    let bucket_of = |t: Time| (((t - from).num_seconds() / step_s).max(0) as usize).min(buckets);
    let voltage = site
        .voltage_v
        .unwrap_or(crate::smart_charging::DEFAULT_VOLTAGE);
    let parent = |g: usize| {
        site.groups[g]
            .parent
            .as_ref()
            .and_then(|p| site.groups.iter().position(|x| &x.id == p))
    };
    // For each EVSE: the groups it counts in (its own and every one above), and the site
    // phase each of its station phases is on.
    let evses: Vec<(Vec<usize>, [usize; 3])> = site
        .evses
        .iter()
        .map(|e| {
            let mut under = Vec::new();
            let mut g = site.groups.iter().position(|x| x.id == e.group);
            while let Some(at) = g {
                if under.contains(&at) {
                    break;
                }
                under.push(at);
                g = parent(at);
            }
            let rotation = usize::from(e.l1_on_phase.unwrap_or(1).clamp(1, 3) - 1);
            (under, [0, 1, 2].map(|k| (rotation + k) % 3))
        })
        .collect();
    let mut events: Vec<(Time, usize, [f64; 3])> = drawn
        .iter()
        .filter_map(|d| {
            let i = site
                .evses
                .iter()
                .position(|e| e.station_id == d.station_id && e.evse_id == d.evse_id)?;
            Some((d.at, i, d.amps))
        })
        .filter(|(at, _, _)| *at < to)
        .collect();
    events.sort_by_key(|(at, _, _)| *at);
    // The moments limits change, as events without a reading.
    let mut changes: Vec<Time> = Vec::new();
    for w in site.groups.iter().flat_map(|g| &g.limit_schedule) {
        // Bounded: a window has at most two edges a day, and the window at most
        // MAX_BUCKETS buckets.
        let mut t = from - chrono::TimeDelta::seconds(1);
        while let Some(edge) = w.next_edge(t).filter(|e| *e < to) {
            if edge >= from {
                changes.push(edge);
            }
            t = edge;
            if changes.len() > 4 * MAX_BUCKETS as usize {
                break;
            }
        }
    }
    changes.sort();
    let n = site.groups.len();
    let mut evse_amps = vec![[0.0f64; 3]; site.evses.len()];
    let mut out: Vec<GroupLoad> = site
        .groups
        .iter()
        .map(|g| GroupLoad {
            group_id: g.id.clone(),
            peak_a: [0.0; 3],
            peak_w: 0.0,
            excess_count: 0,
            excesses: Vec::new(),
            series: (0..buckets)
                .map(|b| {
                    let at = from + chrono::TimeDelta::seconds(b as i64 * step_s);
                    let (limit_a, limit_w) = g.limits_at(at);
                    LoadPoint {
                        at,
                        load_a: [0.0; 3],
                        power_w: 0.0,
                        limit_a,
                        limit_w,
                    }
                })
                .collect(),
        })
        .collect();
    let group_load = |evse_amps: &[[f64; 3]], g: usize| {
        let mut l = site.groups[g].other_load_a.unwrap_or([0.0; 3]);
        for (e, (under, phase)) in evses.iter().enumerate() {
            if under.contains(&g) {
                for k in 0..3 {
                    l[phase[k]] += evse_amps[e][k];
                }
            }
        }
        l
    };
    let record = |out: &mut Vec<GroupLoad>, loads: &[[f64; 3]], b: usize| {
        if b >= buckets {
            return;
        }
        for (o, l) in out.iter_mut().zip(loads) {
            let p = &mut o.series[b];
            p.load_a = [0, 1, 2].map(|k| p.load_a[k].max(l[k]));
            p.power_w = p.power_w.max(l.iter().sum::<f64>() * voltage);
        }
    };
    let check = |out: &mut Vec<GroupLoad>, loads: &[[f64; 3]], t: Time| {
        for g in 0..n {
            let (limit_a, limit_w) = site.groups[g].limits_at(t);
            let o = &mut out[g];
            let w: f64 = loads[g].iter().sum::<f64>() * voltage;
            o.peak_a = [0, 1, 2].map(|k| o.peak_a[k].max(loads[g][k]));
            o.peak_w = o.peak_w.max(w);
            let mut excess = |phase: Option<String>, load: f64, limit: f64| {
                o.excess_count += 1;
                if o.excesses.len() < MAX_EXCESSES {
                    o.excesses.push(Excess {
                        at: t,
                        phase,
                        load,
                        limit,
                    });
                }
            };
            for k in 0..3 {
                if let Some(l) = limit_a.map(|l| l[k])
                    && loads[g][k] > l + 1e-6
                {
                    excess(Some(format!("L{}", k + 1)), loads[g][k], l);
                }
            }
            if let Some(l) = limit_w
                && w > l + 1e-6
            {
                excess(None, w, l);
            }
        }
    };
    // Limits that change inside a bucket: its lowest.
    for &t in &changes {
        let b = bucket_of(t);
        if b < buckets {
            for (g, group) in site.groups.iter().enumerate() {
                let (la, lw) = group.limits_at(t);
                let p = &mut out[g].series[b];
                p.limit_a = match (p.limit_a, la) {
                    (Some(a), Some(c)) => Some([0, 1, 2].map(|k| a[k].min(c[k]))),
                    (a, c) => a.or(c),
                };
                p.limit_w = match (p.limit_w, lw) {
                    (Some(a), Some(c)) => Some(a.min(c)),
                    (a, c) => a.or(c),
                };
            }
        }
    }
    let mut loads: Vec<[f64; 3]> = (0..n).map(|g| group_load(&evse_amps, g)).collect();
    let mut next_bucket = 0usize;
    let mut change = changes.iter().peekable();
    let mut i = 0;
    while i < events.len() || change.peek().is_some() {
        let t_event = events.get(i).map(|e| e.0);
        let t_change = change.peek().map(|t| **t);
        let t = match (t_event, t_change) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        if t >= from {
            let b = bucket_of(t);
            while next_bucket <= b.min(buckets) {
                record(&mut out, &loads, next_bucket);
                next_bucket += 1;
            }
        }
        // Every reading at this moment first, then the load they make together.
        while let Some(&(at, e, amps)) = events.get(i)
            && at == t
        {
            evse_amps[e] = amps;
            i += 1;
        }
        while change.peek().is_some_and(|c| **c == t) {
            change.next();
        }
        loads = (0..n).map(|g| group_load(&evse_amps, g)).collect();
        if t >= from {
            record(&mut out, &loads, bucket_of(t));
            check(&mut out, &loads, t);
        }
    }
    if next_bucket == 0 {
        check(&mut out, &loads, from);
    }
    while next_bucket < buckets {
        record(&mut out, &loads, next_bucket);
        next_bucket += 1;
    }
    // Shown to the hundredth (sums of readings carry float noise); excesses keep their values.
    let round = |x: f64| (x * 100.0).round() / 100.0;
    for o in &mut out {
        o.peak_a = o.peak_a.map(round);
        o.peak_w = round(o.peak_w);
        for p in &mut o.series {
            p.load_a = p.load_a.map(round);
            p.power_w = round(p.power_w);
        }
    }
    SiteLoad {
        site_id: site.id.clone(),
        from,
        to,
        step_s,
        readings: events.len(),
        groups: out,
    }
}

/// What the EVSEs of `site` drew over `[from, to)`: the meter values of every session at them
/// that overlaps the window, with nothing drawn before a session's first reading and after
/// its end.
pub async fn drawn(
    store: &dyn Store,
    site: &Site,
    from: Time,
    to: Time,
) -> Result<Vec<Drawn>, StoreError> {
    /// Transactions started this long before the window are not looked for.
    const LONGEST_SESSION_DAYS: i64 = 7;
    let voltage = site
        .voltage_v
        .unwrap_or(crate::smart_charging::DEFAULT_VOLTAGE);
    let mut stations: Vec<&str> = site.evses.iter().map(|e| e.station_id.as_str()).collect();
    stations.sort_unstable();
    stations.dedup();
    let oldest = from - chrono::TimeDelta::days(LONGEST_SESSION_DAYS);
    let mut out = Vec::new();
    for station in stations {
        let mut before = None;
        loop {
            let page = store
                .transactions(TransactionQuery {
                    station_id: Some(station.to_string()),
                    before,
                    limit: 500,
                    ..TransactionQuery::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            let done = page
                .iter()
                .all(|r| r.started_at.is_some_and(|s| s < oldest));
            for row in &page {
                let (Some(evse_id), Some(started)) = (row.evse_id, row.started_at) else {
                    continue;
                };
                let Some(evse) = site.evse(station, evse_id) else {
                    continue;
                };
                if started >= to || row.stopped_at.is_some_and(|s| s < from) {
                    continue;
                }
                let mut point = |at: Time, amps: [f64; 3]| {
                    out.push(Drawn {
                        at,
                        station_id: station.to_string(),
                        evse_id,
                        amps,
                    })
                };
                point(started, [0.0; 3]);
                let phases = evse.phases.unwrap_or(3);
                for mv in store.meter_values(station, &row.transaction_id).await? {
                    if let Some(amps) = phase_currents(&mv, phases, voltage) {
                        point(mv.timestamp.max(started), amps);
                    }
                }
                if let Some(stopped) = row.stopped_at {
                    // After every reading of the session, even one stamped at its end.
                    point(stopped.max(started), [0.0; 3]);
                }
            }
            if done || page.len() < 500 {
                break;
            }
        }
    }
    // Stable: a session's end stays after the readings stamped at the same moment.
    out.sort_by_key(|d| d.at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::{SiteEvse, SiteGroup};
    use chrono::TimeZone;

    fn at(s: i64) -> Time {
        chrono::Utc
            .timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn site() -> Site {
        let group = |id: &str, parent: Option<&str>, limit: f64| SiteGroup {
            id: id.into(),
            parent: parent.map(Into::into),
            phase_limits_a: Some([limit; 3]),
            power_limit_w: None,
            other_load_a: None,
            limit_schedule: Vec::new(),
        };
        let evse = |station: &str, group: &str, l1: u8| SiteEvse {
            station_id: station.into(),
            evse_id: 1,
            group: group.into(),
            l1_on_phase: Some(l1),
            phases: None,
            max_current_a: None,
        };
        Site {
            id: "S".into(),
            name: None,
            voltage_v: None,
            groups: vec![
                group("grid", None, 40.0),
                group("level", Some("grid"), 20.0),
            ],
            evses: vec![evse("A", "grid", 1), evse("B", "level", 2)],
            prices: Vec::new(),
        }
    }

    fn drawn(s: i64, station: &str, amps: [f64; 3]) -> Drawn {
        Drawn {
            at: at(s),
            station_id: station.into(),
            evse_id: 1,
            amps,
        }
    }

    /// Wiring rotates phases; a group's load is everything under it; a moment over a limit is
    /// an excess even between bucket edges.
    #[test]
    fn loads_follow_the_wiring_and_excesses_are_found() {
        let readings = [
            drawn(10, "A", [16.0, 0.0, 0.0]),
            // B's L1 is on site L2: its single-phase 25 A passes the level's 20 A.
            drawn(20, "B", [25.0, 0.0, 0.0]),
            drawn(25, "B", [10.0, 0.0, 0.0]),
            drawn(70, "A", [0.0; 3]),
        ];
        let l = load(&site(), &readings, at(0), at(120), 60);
        let grid = &l.groups[0];
        let level = &l.groups[1];
        assert_eq!(grid.series.len(), 2);
        assert_eq!(grid.series[0].load_a, [16.0, 25.0, 0.0]);
        assert_eq!(grid.series[1].load_a, [16.0, 10.0, 0.0], "A until 70 s");
        assert_eq!(grid.excess_count, 0);
        assert_eq!(level.peak_a, [0.0, 25.0, 0.0]);
        assert_eq!(level.excess_count, 1);
        assert_eq!(level.excesses[0].at, at(20));
        assert_eq!(level.excesses[0].phase.as_deref(), Some("L2"));
        assert_eq!(level.series[0].limit_a, Some([20.0; 3]));
    }

    /// What was drawn before the window holds into it.
    #[test]
    fn a_reading_before_the_window_holds_into_it() {
        let readings = [drawn(-30, "A", [8.0; 3])];
        let l = load(&site(), &readings, at(0), at(60), 30);
        assert_eq!(l.groups[0].series[0].load_a, [8.0; 3]);
        assert_eq!(l.groups[0].series[1].load_a, [8.0; 3]);
    }

    #[test]
    fn currents_come_from_phase_readings_or_else_from_power() {
        let sample =
            |measurand: &str, phase: Option<&str>, value: f64, unit: Option<&str>| Sample {
                value: Some(value),
                measurand: Some(measurand.to_string().into()),
                phase: phase.map(|p| p.to_string().into()),
                unit: unit.map(|u| u.to_string().into()),
                ..Sample::default()
            };
        let mv = |samples| MeterValue {
            timestamp: at(0),
            samples,
        };
        let phases = mv(vec![
            sample("Current.Import", Some("L1"), 12.0, Some("A")),
            sample("Current.Import", Some("L2"), 11.0, Some("A")),
            sample("Power.Active.Import", None, 9_000.0, Some("W")),
        ]);
        assert_eq!(phase_currents(&phases, 3, 230.0), Some([12.0, 11.0, 0.0]));
        let power = mv(vec![sample("Power.Active.Import", None, 6.9, Some("kW"))]);
        let got = phase_currents(&power, 3, 230.0).expect("from power");
        assert!((got[0] - 10.0).abs() < 1e-9 && (got[2] - 10.0).abs() < 1e-9);
        let one = phase_currents(&power, 1, 230.0).expect("from power");
        assert!((one[0] - 30.0).abs() < 1e-9 && one[1] == 0.0);
        let energy = mv(vec![sample(
            "Energy.Active.Import.Register",
            None,
            5.0,
            None,
        )]);
        assert_eq!(phase_currents(&energy, 3, 230.0), None);
    }
}
