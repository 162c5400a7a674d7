//! Planning over the hours to come: the energy the cars with a known departure need, put into
//! the cheapest time slots before they leave, within the site's capacity then (a time-of-use
//! price curve and an external limit curve shift it), with what cannot be met said.
//!
//! Earliest departure first, each car takes the cheapest slots before its departure (the
//! earliest of equal price), up to its maximum and what the slot has left, of the grid
//! connection and of each group (feeder) the car is under. The capacity of a group in a slot
//! is its tightest phase then, less its other load; each planned car counts on every phase (a
//! single-phase car is planned as if it loaded all three, which never plans more than fits).
//! The live division still enforces every limit of every group.
//!
//! # Invariants
//!
//! - No slot is given more than its capacity, nor a feeder more than its own, no car more
//!   than its maximum, and no car anything at or after its departure.
//! - A car's energy is the least of its need and what the slots could give it; the rest is its
//!   shortfall.
//! - The function is pure: slots and cars in, rates out.

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::sites::{Repeat, Site};

/// How long a slot of a site's plan is.
pub const SLOT_SECONDS: i64 = 900;

/// The farthest a plan looks ahead: a week of slots.
pub const MAX_SLOTS: usize = 7 * 24 * 4;

/// The price of energy from `from` until `to` (repeating or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceWindow {
    /// From when.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Time,
    /// Until when (for ever when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub to: Option<Time>,
    /// The price per kWh meanwhile, in the site's currency (may be negative).
    pub price: f64,
    /// It comes back every day or week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

/// A slot of a site's plan as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlotView {
    /// Its start.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Time,
    /// The price then.
    pub price: f64,
    /// The current per phase the planned cars may share then, A.
    pub capacity_a: f64,
}

impl Site {
    /// The price per kWh at `t`: the last price window holding then, else 0.
    pub fn price_at(&self, t: Time) -> f64 {
        self.prices
            .iter()
            .rev()
            .find(|w| crate::sites::window_holds(w.from, w.to, w.repeat, t))
            .map_or(0.0, |w| w.price)
    }

    /// The slots from `now` until `until` (at most [`MAX_SLOTS`]): each
    /// [`SLOT_SECONDS`] long (the first to the next quarter hour), with the grid connection's
    /// capacity (its tightest limit then, less its other load) and the price.
    pub fn slots(&self, now: Time, until: Time) -> Vec<(Time, Slot)> {
        self.slots_cut(now, until, &[])
    }

    /// The slots of [`Site::slots`], also cut at each of `cuts` (the cars' departures, so that
    /// no car is planned in a slot it leaves during).
    pub fn slots_cut(&self, now: Time, until: Time, cuts: &[Time]) -> Vec<(Time, Slot)> {
        let Some(grid) = self.groups.first() else {
            return Vec::new();
        };
        let voltage = self.voltage();
        let mut out = Vec::new();
        let mut start = now;
        while start < until && out.len() < MAX_SLOTS {
            let next =
                start.timestamp() - start.timestamp().rem_euclid(SLOT_SECONDS) + SLOT_SECONDS;
            let quarter = chrono::DateTime::from_timestamp(next, 0).unwrap_or(until);
            let end = cuts
                .iter()
                .copied()
                .filter(|c| *c > start)
                .fold(quarter.min(until), Time::min);
            let capacity_a = capacity(grid, start, voltage);
            out.push((
                start,
                Slot {
                    seconds: (end - start).num_milliseconds() as f64 / 1000.0,
                    capacity_a,
                    price: self.price_at(start),
                },
            ));
            start = end;
        }
        out
    }
}

/// A group's capacity for the planned cars at `t`: its tightest limit then (a power limit
/// counted on three phases), less its other load, in A per phase.
fn capacity(group: &crate::sites::SiteGroup, t: Time, voltage: f64) -> f64 {
    let other = group.other_load_a.unwrap_or([0.0; 3]).map(|l| l.max(0.0));
    let (phases, power) = group.limits_at(t);
    let by_phase = phases.map(|l| {
        [0, 1, 2]
            .map(|k| l[k] - other[k])
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    });
    let by_power = power.map(|w| (w - other.iter().sum::<f64>() * voltage) / (3.0 * voltage));
    [by_phase, by_power]
        .into_iter()
        .flatten()
        .fold(f64::INFINITY, f64::min)
        .clamp(0.0, 1e6)
}

impl Site {
    /// The groups below the grid connection that the EVSE is under (indexes into the site's
    /// groups, its own first).
    pub fn feeders_of(&self, station_id: &str, evse_id: u32) -> Vec<usize> {
        let mut out = Vec::new();
        let mut g = self
            .evse(station_id, evse_id)
            .and_then(|e| self.groups.iter().position(|x| x.id == e.group));
        while let Some(at) = g.filter(|at| *at > 0 && !out.contains(at)) {
            out.push(at);
            g = self.groups[at]
                .parent
                .as_ref()
                .and_then(|p| self.groups.iter().position(|x| &x.id == p));
        }
        out
    }

    /// Each group's capacity in each slot (see [`capacity`]); the grid connection's is the
    /// slots' own.
    pub fn group_capacities(&self, slots: &[(Time, Slot)]) -> Vec<Vec<f64>> {
        let voltage = self.voltage();
        self.groups
            .iter()
            .map(|g| {
                slots
                    .iter()
                    .map(|(t, _)| capacity(g, *t, voltage))
                    .collect()
            })
            .collect()
    }
}

/// A stretch of time to plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Its length, in seconds.
    pub seconds: f64,
    /// The current per phase the planned cars may share then, A.
    pub capacity_a: f64,
    /// The price of energy then (per kWh, in the site's currency).
    pub price: f64,
}

/// A car with a departure and an energy need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Car {
    /// The most current per phase it takes, A.
    pub max_a: f64,
    /// The phases it charges on.
    pub phases: u8,
    /// The energy it still needs, Wh.
    pub energy_wh: f64,
    /// The first slot it is gone in (it may charge in the slots before).
    pub departure_slot: usize,
}

/// A car's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Planned {
    /// The current per phase in each slot, A.
    pub rates_a: Vec<f64>,
    /// The energy it gets, Wh.
    pub energy_wh: f64,
    /// What it needs and cannot get before it leaves, Wh.
    pub shortfall_wh: f64,
}

/// The plan of `cars` over `slots` at `voltage` (see the module's documentation).
pub fn plan(slots: &[Slot], cars: &[Car], voltage: f64) -> Vec<Planned> {
    plan_within(slots, &[], cars, &vec![Vec::new(); cars.len()], voltage)
}

/// The plan of `cars` over `slots`, each car also within the feeders it is under
/// (`under[car]`: indexes in `feeders`, each a capacity per slot in A): no slot gives a feeder's
/// cars more than its capacity then.
pub fn plan_within(
    slots: &[Slot],
    feeders: &[Vec<f64>],
    cars: &[Car],
    under: &[Vec<usize>],
    voltage: f64,
) -> Vec<Planned> {
    let mut left: Vec<f64> = slots.iter().map(|s| s.capacity_a.max(0.0)).collect();
    let mut feeder_left: Vec<Vec<f64>> = feeders
        .iter()
        .map(|f| {
            (0..slots.len())
                .map(|s| f.get(s).copied().unwrap_or(0.0).max(0.0))
                .collect()
        })
        .collect();
    let mut out: Vec<Planned> = cars
        .iter()
        .map(|c| Planned {
            rates_a: vec![0.0; slots.len()],
            energy_wh: 0.0,
            shortfall_wh: c.energy_wh.max(0.0),
        })
        .collect();
    let mut order: Vec<usize> = (0..cars.len()).collect();
    order.sort_by_key(|&i| cars[i].departure_slot);
    for i in order {
        let c = cars[i];
        let wh_per_a_s = voltage * f64::from(c.phases.clamp(1, 3)) / 3600.0;
        let mut candidates: Vec<usize> = (0..c.departure_slot.min(slots.len())).collect();
        candidates.sort_by(|&a, &b| slots[a].price.total_cmp(&slots[b].price).then(a.cmp(&b)));
        let mut need = c.energy_wh.max(0.0);
        for s in candidates {
            // Less than a milliwatt-hour is nothing (rounding).
            if need <= 1e-3 {
                break;
            }
            let mine = under.get(i).map(Vec::as_slice).unwrap_or_default();
            let room = mine
                .iter()
                .filter_map(|&f| feeder_left.get(f).map(|l| l[s]))
                .fold(c.max_a.max(0.0).min(left[s]), f64::min);
            let per_a = wh_per_a_s * slots[s].seconds;
            if room <= 0.0 || per_a <= 0.0 {
                continue;
            }
            let rate = room.min(need / per_a);
            left[s] -= rate;
            for &f in mine {
                if let Some(l) = feeder_left.get_mut(f) {
                    l[s] -= rate;
                }
            }
            out[i].rates_a[s] = rate;
            out[i].energy_wh += rate * per_a;
            need -= rate * per_a;
        }
        out[i].shortfall_wh = if need <= 1e-3 { 0.0 } else { need };
    }
    out
}

/// A car of a live site planned: its session's index, its departure, its plan, and the least
/// current it charges with.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlan {
    /// The index of its session.
    pub index: usize,
    /// When it leaves.
    pub departure: Time,
    /// Its plan over the slots.
    pub planned: Planned,
    /// The least current it charges with, A.
    pub min_a: f64,
}

/// Plans the sessions whose car said what it needs (`told`: the session's index, its needs,
/// its transaction's energy so far, its phases) over the slots from `now` to the last
/// departure; the slots and each car's plan. Cars that said no departure or energy, or whose
/// departure is past, are not planned.
pub fn plan_told(
    site: &Site,
    sessions: &[crate::sites::SiteSession],
    told: &[(usize, crate::observed::Needs, f64, u8)],
    now: Time,
) -> (Vec<(Time, Slot)>, Vec<LivePlan>) {
    let planned: Vec<(usize, Time, Car, f64)> = told
        .iter()
        .filter_map(|&(i, n, energy_now_wh, phases)| {
            // Past its departure it needs all it can take: not planned, served first.
            let departure = n.departure.filter(|d| *d > now)?;
            let left = n.energy_wh? - (energy_now_wh - n.energy_then_wh).max(0.0);
            let s = sessions.get(i)?;
            let evse_max = site
                .evse(&s.station_id, s.evse_id)
                .and_then(|e| e.max_current_a)
                .unwrap_or(crate::sites::DEFAULT_EVSE_MAX_A);
            let max_a = [s.max_current_a, n.max_current_a]
                .into_iter()
                .flatten()
                .fold(evse_max, f64::min);
            let min_a = s.min_current_a.unwrap_or(crate::sites::DEFAULT_MIN_A);
            Some((
                i,
                departure,
                Car {
                    max_a,
                    phases,
                    energy_wh: left.max(0.0),
                    departure_slot: 0,
                },
                min_a,
            ))
        })
        .collect();
    let Some(until) = planned.iter().map(|p| p.1).max() else {
        return (Vec::new(), Vec::new());
    };
    let departures: Vec<Time> = planned.iter().map(|p| p.1).collect();
    let slots = site.slots_cut(now, until, &departures);
    let cars: Vec<Car> = planned
        .iter()
        .map(|(_, departure, car, _)| Car {
            departure_slot: slots
                .iter()
                .take_while(|(start, _)| start < departure)
                .count(),
            ..*car
        })
        .collect();
    let plain: Vec<Slot> = slots.iter().map(|(_, s)| *s).collect();
    // Every group below the grid connection is a feeder with its own capacity.
    let feeders = site.group_capacities(&slots);
    let under: Vec<Vec<usize>> = planned
        .iter()
        .map(|(i, ..)| {
            sessions
                .get(*i)
                .map(|s| site.feeders_of(&s.station_id, s.evse_id))
                .unwrap_or_default()
        })
        .collect();
    let plans = planned
        .iter()
        .zip(plan_within(&plain, &feeders, &cars, &under, site.voltage()))
        .map(|((index, departure, _, min_a), planned)| LivePlan {
            index: *index,
            departure: *departure,
            planned,
            min_a: *min_a,
        })
        .collect();
    (slots, plans)
}

/// Plans the sessions whose car said what it needs ([`plan_told`]) at a site with prices, and
/// gives each its plan's rate now: exactly that, so it does not take dear energy beyond its
/// plan (a rate below its minimum is raised to it; none pauses it). Cars that said no
/// departure or energy are left as they are. Returns the indexes of the sessions planned.
pub fn apply_plan(
    site: &Site,
    sessions: &mut [crate::sites::SiteSession],
    told: &[(usize, crate::observed::Needs, f64, u8)],
    now: Time,
) -> Vec<usize> {
    let (_, plans) = plan_told(site, sessions, told, now);
    let planned = plans.iter().map(|p| p.index).collect();
    for p in plans {
        let now_a = p.planned.rates_a.first().copied().unwrap_or(0.0);
        let rate = if now_a > 0.0 { now_a.max(p.min_a) } else { 0.0 };
        if let Some(s) = sessions.get_mut(p.index) {
            s.max_current_a = Some(rate);
            s.needed_current_a = (rate > 0.0).then_some(rate);
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V: f64 = 230.0;

    fn hour(capacity_a: f64, price: f64) -> Slot {
        Slot {
            seconds: 3600.0,
            capacity_a,
            price,
        }
    }

    /// Energy goes to the cheap night hours, not the evening peak; what cannot fit before
    /// departure is the shortfall.
    #[test]
    fn energy_moves_to_cheap_hours_and_the_rest_is_said() {
        let slots = [
            hour(32.0, 0.40),
            hour(32.0, 0.40),
            hour(32.0, 0.10),
            hour(32.0, 0.10),
        ];
        // 16 A on three phases for an hour is 11.04 kWh.
        let car = Car {
            max_a: 16.0,
            phases: 3,
            energy_wh: 11_040.0,
            departure_slot: 4,
        };
        let p = plan(&slots, &[car], V);
        assert_eq!(p[0].rates_a, [0.0, 0.0, 16.0, 0.0]);
        assert_eq!(p[0].shortfall_wh, 0.0);
        // Leaving after the second hour, it can only have the dear ones.
        let early = Car {
            departure_slot: 2,
            energy_wh: 30_000.0,
            ..car
        };
        let p = plan(&slots, &[early], V);
        assert_eq!(p[0].rates_a, [16.0, 16.0, 0.0, 0.0]);
        assert!((p[0].shortfall_wh - (30_000.0 - 22_080.0)).abs() < 1e-6);
    }

    /// The car leaving first takes the cheap hour first; the other takes the cheapest left.
    #[test]
    fn the_earliest_departure_plans_first() {
        let slots = [hour(20.0, 0.30), hour(20.0, 0.10), hour(20.0, 0.20)];
        let car = |departure_slot| Car {
            max_a: 20.0,
            phases: 1,
            energy_wh: 4_600.0,
            departure_slot,
        };
        let p = plan(&slots, &[car(3), car(2)], V);
        assert_eq!(p[1].rates_a, [0.0, 20.0, 0.0]);
        assert_eq!(p[0].rates_a, [0.0, 0.0, 20.0]);
    }

    /// A site with dear hours now and cheap ones later: a car leaving late waits (its rate now
    /// is 0), one leaving within the dear hours charges now; the slots follow the quarter
    /// hours and the site's limit and other load.
    #[test]
    fn a_site_with_prices_moves_what_cars_need_into_cheap_hours() {
        use crate::observed::Needs;
        use crate::sites::SiteSession;
        let now = chrono::DateTime::from_timestamp(1_700_000_000 - 1_700_000_000 % 900 + 300, 0)
            .expect("time");
        let at = |h: i64| now + chrono::TimeDelta::hours(h);
        let site: Site = serde_json::from_value(serde_json::json!({
            "id": "s", "groups": [{"id": "grid", "phaseLimitsA": [40, 40, 40], "otherLoadA": [4, 0, 0]}],
            "evses": [{"stationId": "A", "evseId": 1, "group": "grid"},
                      {"stationId": "A", "evseId": 2, "group": "grid"}],
            "prices": [{"from": at(-1), "to": at(2), "price": 0.40},
                       {"from": at(2), "price": 0.10}]}))
        .expect("a site");
        assert!(site.check().is_ok());
        let slots = site.slots(now, at(3));
        assert_eq!(slots[0].1.seconds, 600.0, "to the next quarter hour");
        assert_eq!(slots[0].1.capacity_a, 36.0);
        assert_eq!(
            (slots[0].1.price, slots.last().map(|s| s.1.price)),
            (0.40, Some(0.10))
        );
        let session = |evse| SiteSession {
            station_id: "A".into(),
            evse_id: evse,
            phases: None,
            min_current_a: None,
            max_current_a: None,
            priority: None,
            needed_current_a: None,
        };
        let needs = |departure, energy_wh| Needs {
            departure: Some(departure),
            energy_wh: Some(energy_wh),
            energy_then_wh: 0.0,
            max_current_a: Some(16.0),
            min_current_a: None,
        };
        let mut sessions = [session(1), session(2)];
        let told = [
            (0, needs(at(5), 11_040.0), 0.0, 3),
            (1, needs(at(1), 5_000.0), 0.0, 3),
        ];
        apply_plan(&site, &mut sessions, &told, now);
        assert_eq!(
            sessions[0].max_current_a,
            Some(0.0),
            "waits for the cheap hours"
        );
        assert_eq!(sessions[1].max_current_a, Some(16.0), "leaves before them");
        assert_eq!(sessions[1].needed_current_a, Some(16.0));
        // A car leaving in the middle of a slot is planned up to its departure, not to the
        // slot's end: 16 A on three phases for exactly 50 minutes is 9,200 Wh, no more.
        let leaving = now + chrono::TimeDelta::minutes(50);
        let (slots, plans) = plan_told(
            &site,
            &[session(1)],
            &[(0, needs(leaving, 50_000.0), 0.0, 3)],
            now,
        );
        let planned_s: f64 = slots.iter().map(|(_, slot)| slot.seconds).sum();
        assert_eq!(planned_s, 3000.0, "the slots end at the departure");
        assert_eq!(plans.len(), 1);
        assert!(
            (plans[0].planned.energy_wh - 9_200.0).abs() < 1e-6,
            "{:?}",
            plans[0]
        );
        assert!((plans[0].planned.shortfall_wh - 40_800.0).abs() < 1e-6);
    }

    proptest! {
        /// No feeder is planned more than its capacity in any slot, whatever else it is under.
        #[test]
        fn plans_respect_every_feeder(
            slots in prop::collection::vec((60.0f64..3600.0, 0.0f64..100.0, 0.0f64..1.0), 1..12),
            feeders in prop::collection::vec(prop::collection::vec(0.0f64..60.0, 12), 0..3),
            cars in prop::collection::vec((0.0f64..40.0, 0.0f64..80_000.0, 0usize..14, 0u8..8), 0..10),
        ) {
            let slots: Vec<Slot> = slots
                .into_iter()
                .map(|(seconds, capacity_a, price)| Slot { seconds, capacity_a, price })
                .collect();
            let under: Vec<Vec<usize>> = cars
                .iter()
                .map(|c| (0..feeders.len()).filter(|f| c.3 & (1 << f) != 0).collect())
                .collect();
            let cars: Vec<Car> = cars
                .iter()
                .map(|&(max_a, energy_wh, departure_slot, _)| Car { max_a, phases: 3, energy_wh, departure_slot })
                .collect();
            let p = plan_within(&slots, &feeders, &cars, &under, V);
            for s in 0..slots.len() {
                let grid: f64 = p.iter().map(|x| x.rates_a[s]).sum();
                prop_assert!(grid <= slots[s].capacity_a + 1e-6);
                for (f, capacity) in feeders.iter().enumerate() {
                    let used: f64 = p
                        .iter()
                        .zip(&under)
                        .filter(|(_, u)| u.contains(&f))
                        .map(|(x, _)| x.rates_a[s])
                        .sum();
                    prop_assert!(used <= capacity[s] + 1e-6, "feeder {} slot {}: {} > {}", f, s, used, capacity[s]);
                }
            }
        }

        #[test]
        fn plans_respect_capacity_maximums_and_departures(
            slots in prop::collection::vec((60.0f64..3600.0, 0.0f64..100.0, 0.0f64..1.0), 1..24),
            cars in prop::collection::vec((0.0f64..40.0, 1u8..=3, 0.0f64..80_000.0, 0usize..30), 0..12),
        ) {
            let slots: Vec<Slot> = slots
                .into_iter()
                .map(|(seconds, capacity_a, price)| Slot { seconds, capacity_a, price })
                .collect();
            let cars: Vec<Car> = cars
                .into_iter()
                .map(|(max_a, phases, energy_wh, departure_slot)| Car { max_a, phases, energy_wh, departure_slot })
                .collect();
            let p = plan(&slots, &cars, V);
            for (s, slot) in slots.iter().enumerate() {
                let used: f64 = p.iter().map(|x| x.rates_a[s]).sum();
                prop_assert!(used <= slot.capacity_a + 1e-6);
            }
            for (c, x) in cars.iter().zip(&p) {
                for (s, r) in x.rates_a.iter().enumerate() {
                    prop_assert!(*r >= 0.0 && *r <= c.max_a + 1e-9);
                    if s >= c.departure_slot {
                        prop_assert_eq!(*r, 0.0);
                    }
                }
                prop_assert!((x.energy_wh + x.shortfall_wh - c.energy_wh).abs() < 1e-2);
                // A car alone that falls short used everything it could before it left.
                if cars.len() == 1 && x.shortfall_wh > 1e-3 {
                    for (slot, rate) in slots.iter().zip(&x.rates_a).take(c.departure_slot) {
                        prop_assert!((rate - c.max_a.min(slot.capacity_a)).abs() < 1e-6);
                    }
                }
            }
            // A lone car never pays for a dear slot while a cheaper one before its departure
            // had room.
            if cars.len() == 1 {
                let (c, x) = (cars[0], &p[0]);
                let end = c.departure_slot.min(slots.len());
                for a in 0..end {
                    for b in 0..end {
                        if x.rates_a[a] > 1e-9 && slots[b].price < slots[a].price {
                            prop_assert!(x.rates_a[b] >= c.max_a.min(slots[b].capacity_a) - 1e-6);
                        }
                    }
                }
            }
        }
    }
}
