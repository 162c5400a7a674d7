//! The live site: the sessions charging now at a site's EVSEs, as load management and the
//! API divide them. Each is taken from its transaction and what is known of its car: what it
//! draws ([`crate::observed`]), what it needs by when ([`crate::needs`]), whether its station
//! obeys profiles ([`crate::quirks`]).
//!
//! # Invariants
//!
//! - One session per EVSE of the site with a transaction going on (the latest started), in the
//!   order the sessions started: equal priorities are admitted first come, first served.
//! - A car whose phases are not known yet counts on every phase of its EVSE (it may use them
//!   all); when that alone keeps it paused, it is admitted first, at its minimum, until it is
//!   seen drawing ([`allocate_live`]): never above any limit, since the division keeps them all.

use crate::sites::{DEFAULT_EVSE_MAX_A, Site, SiteSession};

/// The priority of a session on a station that ignores its profiles: above any an operator
/// gives, since it draws what it draws.
pub const UNSTEERED_PRIORITY: i32 = 1_000_000;

/// The sessions charging now at a site: one per EVSE of the site with a transaction going on,
/// in the order they started. Each car is taken as able to use all its EVSE's phases up to the
/// EVSE's maximum, until its meter values show otherwise (`observed`: the phases it draws on,
/// and a cap when it draws less than it is offered). A car at a station whose model ignores
/// its profiles ([`crate::quirks::ModelQuirks::ignores_profiles`]) is given what it draws.
pub async fn live_sessions(
    store: &dyn crate::store::Store,
    site: &Site,
    observed: &crate::observed::Observations,
) -> Result<Live, crate::store::StoreError> {
    let mut l = live(store, site, observed).await?;
    // With prices, what they need is planned into the cheap hours: now they get their
    // plan's rate, no more.
    if !site.prices.is_empty() {
        l.planned = crate::plan::apply_plan(site, &mut l.sessions, &l.told, chrono::Utc::now());
    }
    Ok(l)
}

/// How long after its session started a car not seen drawing may be admitted first to see its
/// phases.
pub const PROBE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// The priority of a car admitted first to see its phases: above any an operator gives, below
/// a car that cannot be steered.
pub const PROBE_PRIORITY: i32 = UNSTEERED_PRIORITY - 1;

/// Divides a site's capacity among its live sessions ([`Site::allocate`]), and admits first
/// the cars kept paused only by not knowing their phases.
///
/// A car not yet seen drawing counts on every phase of its EVSE, since it may use them all. A
/// single-phase car can so be kept paused by phases it would not use: when it would be
/// admitted counted on its EVSE's first phase alone, it is admitted first, at its minimum and
/// on every phase (the limits hold whatever its phases), until a reading shows its phases,
/// at most [`PROBE_WINDOW`] after its session started. The sessions it displaces meanwhile are
/// the last admitted.
pub fn allocate_live(
    site: &Site,
    live: &Live,
    at: crate::Time,
) -> Result<Vec<crate::sites::EvseAllocation>, crate::sites::SiteError> {
    let first = site.allocate(&live.sessions, at)?;
    let paused: Vec<usize> = (0..live.sessions.len())
        .filter(|&i| live.unseen.get(i).copied().unwrap_or(false) && first[i].paused)
        .collect();
    if paused.is_empty() {
        return Ok(planned(live, first));
    }
    // Would they be admitted on one phase?
    let mut one_phase = live.sessions.clone();
    for &i in &paused {
        one_phase[i].phases = Some(1);
    }
    let tried = site.allocate(&one_phase, at)?;
    let probe: Vec<usize> = paused.into_iter().filter(|&i| !tried[i].paused).collect();
    if probe.is_empty() {
        return Ok(planned(live, first));
    }
    let mut probing = live.sessions.clone();
    for &i in &probe {
        let s = &mut probing[i];
        let min = s.min_current_a.unwrap_or(crate::sites::DEFAULT_MIN_A);
        s.min_current_a = Some(min);
        s.max_current_a = Some(min);
        s.priority = Some(PROBE_PRIORITY);
        s.needed_current_a = None;
    }
    let mut out = site.allocate(&probing, at)?;
    for &i in &probe {
        if !out[i].paused {
            out[i].why = format!(
                "its phases are not known until it draws: admitted first, at its minimum, to \
                 see them; {}",
                out[i].why
            );
        }
    }
    Ok(planned(live, out))
}

/// The division with the sessions held to their plan's rate said so.
fn planned(
    live: &Live,
    mut division: Vec<crate::sites::EvseAllocation>,
) -> Vec<crate::sites::EvseAllocation> {
    for &i in &live.planned {
        if let (Some(a), Some(s)) = (division.get_mut(i), live.sessions.get(i)) {
            a.why = format!(
                "planned: its energy by its departure goes into the site's cheapest hours, {} A \
                 now; {}",
                s.max_current_a.unwrap_or(0.0),
                a.why
            );
        }
    }
    division
}

/// The sessions charging at a site, before any plan is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// As [`live_sessions`] gives them, in the order they started.
    pub sessions: Vec<SiteSession>,
    /// Each session's transaction.
    pub transactions: Vec<String>,
    /// The sessions whose car said what it needs: the index in `sessions`, the needs, the
    /// transaction's energy so far (Wh), the phases.
    pub told: Vec<(usize, crate::observed::Needs, f64, u8)>,
    /// Per session: its car has not been seen drawing (its phases are not known) and its
    /// session started less than [`PROBE_WINDOW`] ago.
    pub unseen: Vec<bool>,
    /// The sessions given their plan's rate (at a site with prices).
    pub planned: Vec<usize>,
}

/// The sessions charging now at a site (see [`live_sessions`]), with their transactions and
/// what their cars said they need, no plan applied.
pub async fn live(
    store: &dyn crate::store::Store,
    site: &Site,
    observed: &crate::observed::Observations,
) -> Result<Live, crate::store::StoreError> {
    let mut stations: Vec<&str> = site.evses.iter().map(|e| e.station_id.as_str()).collect();
    stations.sort_unstable();
    stations.dedup();
    let now = chrono::Utc::now();
    let mut sessions = Vec::new();
    let mut transactions = Vec::new();
    let mut starts = Vec::new();
    let mut unseen = Vec::new();
    // The sessions whose car said what it needs: their index, needs, energy so far, phases.
    let mut told = Vec::new();
    for station in stations {
        let open = crate::smart_charging::ongoing(store, station).await?;
        // A station whose model ignores its profiles cannot be steered: its cars get what
        // they draw (their EVSE's maximum until they are seen), first.
        let ignores = !open.is_empty()
            && crate::quirks::of_station(store, station)
                .await?
                .is_some_and(|q| q.ignores_profiles);
        let mut at: Vec<(u32, &str, f64, Option<crate::Time>)> = open
            .iter()
            .filter_map(|t| {
                Some((
                    t.evse_id?,
                    t.transaction_id.as_str(),
                    t.energy_wh.unwrap_or(0.0),
                    t.started_at,
                ))
            })
            .filter(|(e, _, _, _)| site.evse(station, *e).is_some())
            .collect();
        // One session per EVSE: the latest started.
        at.sort_by(|a, b| a.0.cmp(&b.0).then(b.3.cmp(&a.3)));
        at.dedup_by_key(|(e, _, _, _)| *e);
        for (evse_id, tx, energy_wh, started) in at {
            starts.push(started);
            transactions.push(tx.to_string());
            let o = observed.get(station, tx);
            unseen.push(
                !ignores && o.phases.is_none() && started.is_some_and(|t| now - t < PROBE_WINDOW),
            );
            let needs = observed.needs(station, tx);
            let evse_phases = site
                .evse(station, evse_id)
                .and_then(|e| e.phases)
                .unwrap_or(3);
            let phases = o.phases.unwrap_or(evse_phases);
            // What the car told (ISO 15118) bounds what it is given, as what it draws does.
            let max = [o.cap_at(now), needs.and_then(|n| n.max_current_a)]
                .into_iter()
                .flatten()
                .reduce(f64::min);
            if ignores {
                let evse_max = site
                    .evse(station, evse_id)
                    .and_then(|e| e.max_current_a)
                    .unwrap_or(DEFAULT_EVSE_MAX_A);
                let drawing = observed
                    .drawn(station, tx)
                    .map_or(evse_max, |a| a + crate::observed::HEADROOM_A);
                // No minimum: never paused by the division (it draws all the same), so what
                // it draws is always counted before the others share the rest.
                sessions.push(SiteSession {
                    station_id: station.to_string(),
                    evse_id,
                    phases: o.phases,
                    min_current_a: Some(0.0),
                    max_current_a: Some(drawing),
                    priority: Some(UNSTEERED_PRIORITY),
                    needed_current_a: None,
                });
                continue;
            }
            if let Some(n) = needs {
                told.push((sessions.len(), n, energy_wh, phases));
            }
            sessions.push(SiteSession {
                station_id: station.to_string(),
                evse_id,
                phases: o.phases,
                min_current_a: needs.and_then(|n| n.min_current_a),
                max_current_a: max,
                priority: None,
                needed_current_a: needs
                    .and_then(|n| n.needed_current_a(now, energy_wh, phases, site.voltage())),
            });
        }
    }
    // First come, first served: when not every minimum fits, the sessions of a priority are
    // admitted in the order they started, not by where their EVSE is listed (which would pause
    // the same EVSEs every time).
    let mut order: Vec<usize> = (0..sessions.len()).collect();
    order.sort_by_key(|&i| (starts[i].is_none(), starts[i]));
    let mut at_place = vec![0; order.len()];
    for (place, &i) in order.iter().enumerate() {
        at_place[i] = place;
    }
    let unseen = order.iter().map(|&i| unseen[i]).collect();
    let mut slots: Vec<Option<(SiteSession, String)>> =
        sessions.into_iter().zip(transactions).map(Some).collect();
    let (sessions, transactions) = order.into_iter().filter_map(|i| slots[i].take()).unzip();
    for t in &mut told {
        t.0 = at_place[t.0];
    }
    Ok(Live {
        sessions,
        transactions,
        told,
        unseen,
        planned: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(limits: [f64; 3]) -> Site {
        let site: Result<Site, _> = serde_json::from_value(serde_json::json!({
            "id": "s", "groups": [{"id": "grid", "phaseLimitsA": limits}],
            "evses": [{"stationId": "A", "evseId": 1, "group": "grid"},
                      {"stationId": "B", "evseId": 1, "group": "grid"},
                      {"stationId": "C", "evseId": 1, "group": "grid"}]}));
        site.unwrap_or_else(|e| panic!("a site: {e}"))
    }

    fn session(station: &str, phases: Option<u8>) -> SiteSession {
        SiteSession {
            station_id: station.into(),
            evse_id: 1,
            phases,
            min_current_a: None,
            max_current_a: None,
            priority: None,
            needed_current_a: None,
        }
    }

    /// A and C (three-phase, started first) fill L2 and L3 with their minimums; B has not drawn
    /// yet, so it counts on all three phases and would stay paused, though L1 has room.
    fn crowded(b_unseen: bool) -> Live {
        Live {
            sessions: vec![
                session("A", Some(3)),
                session("C", Some(3)),
                session("B", None),
            ],
            transactions: vec!["1".into(), "2".into(), "3".into()],
            told: Vec::new(),
            unseen: vec![false, false, b_unseen],
            planned: Vec::new(),
        }
    }

    fn currents(a: &[crate::sites::EvseAllocation]) -> Vec<(String, f64, bool)> {
        a.iter()
            .map(|a| (a.station_id.clone(), a.current_a, a.paused))
            .collect()
    }

    #[test]
    fn a_car_kept_paused_only_by_unknown_phases_is_admitted_first_at_its_minimum() {
        let s = site([40.0, 12.0, 12.0]);
        let at = chrono::Utc::now();
        let got = allocate_live(&s, &crowded(true), at).unwrap_or_default();
        assert_eq!(
            currents(&got),
            [
                ("A".into(), 6.0, false),
                ("C".into(), 0.0, true),
                ("B".into(), 6.0, false)
            ],
            "B is admitted at its minimum; the last admitted other (C) makes room"
        );
        assert!(
            got[2].why.contains("phases are not known"),
            "{}",
            got[2].why
        );
        // Every limit holds: B counts on every phase while it is probed.
        assert!(got.iter().map(|a| a.current_a).sum::<f64>() <= 12.0);
        // Seen already (its phases known), it takes its turn.
        let seen = allocate_live(&s, &crowded(false), at).unwrap_or_default();
        assert_eq!(
            currents(&seen)[2],
            ("B".into(), 0.0, true),
            "three-phase and last: paused"
        );
    }

    #[test]
    fn a_car_that_would_not_fit_on_one_phase_either_waits_its_turn() {
        // L1 is as full as L2 and L3: admitting B could only be had by displacing another,
        // for nothing.
        let s = site([12.0, 12.0, 12.0]);
        let got = allocate_live(&s, &crowded(true), chrono::Utc::now()).unwrap_or_default();
        assert_eq!(
            currents(&got),
            [
                ("A".into(), 6.0, false),
                ("C".into(), 6.0, false),
                ("B".into(), 0.0, true)
            ]
        );
    }
}
