//! Composite schedules (K08 GetCompositeSchedule; 1.6 §3.13.2–3): the limit an EVSE, or the
//! whole station, is held to over a window, merged from the profiles installed the way a
//! station merges them.
//!
//! The merge, at every instant `t`:
//!
//! 1. Within a purpose, the prevailing profile is the one with the highest stack level that is
//!    valid at `t` (validFrom ≤ t < validTo) and whose schedule is running at `t` (started, and
//!    not past its duration); a profile whose schedule has ended lets a lower level through
//!    (1.6 §3.13.2). At equal stack levels a profile on the EVSE itself prevails over one on
//!    EVSE 0.
//! 2. For an EVSE: the TxProfile of its transaction prevails over the TxDefaultProfile, which
//!    may be installed on the EVSE or on EVSE 0 (every EVSE); the ChargingStationMaxProfile
//!    (EVSE 0) and the external constraints (EVSE 0 and the EVSE's own) cap it; the result is
//!    the minimum of all of them (§3.13.3, K08.FR.05).
//! 3. For EVSE 0 (the station's grid connection): the ChargingStationMaxProfile and the
//!    external constraints on EVSE 0.
//! 4. The station's own maximum, where known, caps everything, and applies alone where no
//!    profile does.
//!
//! A Relative profile starts with the EVSE's transaction, or, with none, at the window's start.
//! A Recurring one repeats from its startSchedule every day or week; a duration longer than
//! the recurrence is cut to it. Limits in another unit than the one asked are converted with
//! the nominal voltage and the period's number of phases (3 when unset): W = A × V × phases.
//!
//! # Invariants
//!
//! - The result is the pointwise minimum described above, as consecutive periods that start
//!   at 0 and differ from their predecessor (property-tested against evaluating each second).
//! - The function is pure: the same inputs give the same schedule.

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::profile::{ChargingProfile, Installed, Kind, Purpose, RateUnit, Recurrency, Schedule};

/// What the computation knows of a station besides its profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// The profiles installed.
    pub profiles: Vec<Installed>,
    /// The transactions going on.
    pub transactions: Vec<Ongoing>,
    /// The station's own maximum, if known.
    pub max: Option<Limit>,
    /// The nominal voltage between a phase and neutral, in V (230 in Europe).
    pub voltage: f64,
}

/// A transaction going on at an EVSE.
#[derive(Debug, Clone, PartialEq)]
pub struct Ongoing {
    /// The EVSE.
    pub evse_id: u32,
    /// The transaction's id.
    pub transaction_id: String,
    /// When it started.
    pub started: Time,
}

/// A limit in a unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: RateUnit,
    /// The phases it is for (3 when unset).
    pub phases: Option<u32>,
}

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// From when.
    pub start: Time,
    /// For how many seconds.
    pub duration_s: i64,
    /// In which unit.
    pub unit: RateUnit,
}

/// A period of a composite schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositePeriod {
    /// Seconds from the window's start.
    pub start_s: i64,
    /// The limit in the window's unit; `None` where nothing limits.
    pub limit: Option<f64>,
    /// The phases of the binding limit, where it says.
    pub phases: Option<u32>,
    /// What binds: a profile's id and purpose, or the station's maximum.
    pub binding: Option<Binding>,
}

/// The limit that binds in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Binding {
    /// A profile.
    Profile {
        /// Its id.
        id: i64,
        /// Its purpose.
        purpose: Purpose,
    },
    /// The station's own maximum.
    StationMaximum,
}

/// The composite schedule of `window` on `station`.
pub fn composite(station: &Station, window: &Window) -> Vec<CompositePeriod> {
    let end = plus(window.start, window.duration_s.max(0)).unwrap_or(window.start);
    let mut cuts = vec![window.start];
    let anchor = relative_anchor(station, window);
    for p in applicable(station, window.evse_id) {
        boundaries(&p.profile, anchor, window.start, end, &mut cuts);
    }
    cuts.retain(|t| *t >= window.start && *t < end);
    cuts.sort();
    cuts.dedup();
    let mut out: Vec<CompositePeriod> = Vec::new();
    for t in cuts {
        let (limit, phases, binding) = match limit_at(station, window, anchor, t) {
            Some((l, b)) => (Some(l.value), l.phases, Some(b)),
            None => (None, None, None),
        };
        if out
            .last()
            .is_some_and(|last| last.limit == limit && last.phases == phases)
        {
            continue;
        }
        out.push(CompositePeriod {
            start_s: (t - window.start).num_seconds(),
            limit,
            phases,
            binding,
        });
    }
    out
}

/// The limit at `t`, in the window's unit, and what binds.
pub fn limit_at(
    station: &Station,
    window: &Window,
    anchor: Time,
    t: Time,
) -> Option<(Limit, Binding)> {
    let e = window.evse_id;
    let on = |purpose: Purpose, evses: &[u32]| {
        prevailing(
            station.profiles.iter().filter(|p| {
                p.profile.purpose == purpose
                    && evses.contains(&p.evse_id)
                    && tx_matches(station, p, e)
            }),
            e,
            anchor,
            t,
        )
    };
    let mut parts: Vec<(Limit, Binding)> = Vec::with_capacity(4);
    if e == 0 {
        parts.extend(on(Purpose::ChargingStationMax, &[0]));
        parts.extend(on(Purpose::ExternalConstraints, &[0]));
    } else {
        let ongoing = station.transactions.iter().any(|tx| tx.evse_id == e);
        let tx = if ongoing { on(Purpose::Tx, &[e]) } else { None };
        parts.extend(tx.or_else(|| on(Purpose::TxDefault, &[e, 0])));
        parts.extend(on(Purpose::ChargingStationMax, &[0]));
        // Constraints on the EVSE and on the whole station both hold: each caps it.
        parts.extend(on(Purpose::ExternalConstraints, &[e]));
        parts.extend(on(Purpose::ExternalConstraints, &[0]));
    }
    parts.extend(station.max.map(|m| (m, Binding::StationMaximum)));
    parts
        .into_iter()
        .map(|(l, b)| (convert(l, window.unit, station.voltage), b))
        .min_by(|a, b| a.0.value.total_cmp(&b.0.value))
}

/// Whether an installed profile may apply to EVSE `e`: a TxProfile only to the transaction it
/// names (or, naming none, to the EVSE's transaction).
fn tx_matches(station: &Station, p: &Installed, e: u32) -> bool {
    if p.profile.purpose != Purpose::Tx {
        return true;
    }
    station.transactions.iter().any(|tx| {
        tx.evse_id == e
            && p.profile
                .transaction_id
                .as_ref()
                .is_none_or(|id| *id == tx.transaction_id)
    })
}

/// The installed profiles that can bear on EVSE `evse`.
fn applicable(station: &Station, evse: u32) -> impl Iterator<Item = &Installed> {
    station
        .profiles
        .iter()
        .filter(move |p| p.evse_id == 0 || p.evse_id == evse)
}

/// Where Relative profiles start: the EVSE's transaction's start, else the window's.
fn relative_anchor(station: &Station, window: &Window) -> Time {
    station
        .transactions
        .iter()
        .find(|tx| tx.evse_id == window.evse_id && window.evse_id != 0)
        .map_or(window.start, |tx| tx.started)
}

/// The limit of the prevailing profile among `profiles` at `t` (the highest stack level
/// running then; at equal levels, the one on the EVSE itself).
fn prevailing<'a>(
    profiles: impl Iterator<Item = &'a Installed>,
    evse: u32,
    anchor: Time,
    t: Time,
) -> Option<(Limit, Binding)> {
    profiles
        .filter_map(|p| {
            let limit = profile_limit(&p.profile, anchor, t)?;
            Some((
                (p.profile.stack_level, p.evse_id == evse),
                limit,
                &p.profile,
            ))
        })
        .max_by_key(|(rank, _, _)| *rank)
        .map(|(_, limit, p)| {
            (
                limit,
                Binding::Profile {
                    id: p.id,
                    purpose: p.purpose,
                },
            )
        })
}

/// A profile's limit at `t`, if it is valid and its schedule running.
pub fn profile_limit(p: &ChargingProfile, anchor: Time, t: Time) -> Option<Limit> {
    if !p.valid_at(t) {
        return None;
    }
    let schedule = p.schedules.first()?;
    let start = occurrence(p, schedule, anchor, t)?;
    let offset = (t - start).num_seconds();
    if offset < 0 || span(p, schedule).is_some_and(|d| offset >= d) {
        return None;
    }
    let period = schedule
        .periods
        .iter()
        .take_while(|period| period.start_s <= offset)
        .last()?;
    Some(Limit {
        value: period.limit,
        unit: schedule.rate_unit,
        phases: period.phases,
    })
}

/// How long one run of the schedule lasts: its duration, cut to the recurrence.
fn span(p: &ChargingProfile, s: &Schedule) -> Option<i64> {
    match (p.kind, recurrence(p)) {
        (Kind::Recurring, Some(every)) => Some(s.duration_s.map_or(every, |d| d.min(every))),
        _ => s.duration_s,
    }
}

/// Seconds between runs of a recurring profile.
fn recurrence(p: &ChargingProfile) -> Option<i64> {
    match p.recurrency? {
        Recurrency::Daily => Some(86_400),
        Recurrency::Weekly => Some(7 * 86_400),
    }
}

/// The start of the run of the schedule that `t` falls in.
fn occurrence(p: &ChargingProfile, s: &Schedule, anchor: Time, t: Time) -> Option<Time> {
    match p.kind {
        Kind::Absolute => s.start.or(p.valid_from),
        Kind::Relative => Some(anchor),
        Kind::Recurring => {
            let first = s.start?;
            let every = recurrence(p)?;
            let since = (t - first).num_seconds();
            if since < 0 {
                return Some(first);
            }
            plus(first, since - since.rem_euclid(every))
        }
    }
}

/// Adds to `cuts` every instant in `[from, to)` where `p`'s limit may change.
fn boundaries(p: &ChargingProfile, anchor: Time, from: Time, to: Time, cuts: &mut Vec<Time>) {
    cuts.extend(p.valid_from);
    cuts.extend(p.valid_to);
    let Some(s) = p.schedules.first() else {
        return;
    };
    let mut run = |start: Time| {
        for period in &s.periods {
            cuts.extend(plus(start, period.start_s));
        }
        if let Some(d) = span(p, s) {
            cuts.extend(plus(start, d));
        }
    };
    match p.kind {
        Kind::Absolute => {
            if let Some(start) = s.start.or(p.valid_from) {
                run(start);
            }
        }
        Kind::Relative => run(anchor),
        Kind::Recurring => {
            let (Some(first), Some(every)) = (s.start, recurrence(p)) else {
                return;
            };
            let mut start = occurrence(p, s, anchor, from).unwrap_or(first);
            while start < to {
                run(start);
                match plus(start, every) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
    }
}

/// `t` plus `seconds`, if that is a time chrono can hold (values a station reported are not
/// bounded).
fn plus(t: Time, seconds: i64) -> Option<Time> {
    t.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)
}

/// `l` in `unit`: W = A × V × phases (3 when unset).
pub fn convert(l: Limit, unit: RateUnit, voltage: f64) -> Limit {
    let phases = f64::from(l.phases.unwrap_or(3).clamp(1, 3));
    let value = match (l.unit, unit) {
        (RateUnit::A, RateUnit::W) => l.value * voltage * phases,
        (RateUnit::W, RateUnit::A) => l.value / (voltage * phases),
        _ => l.value,
    };
    Limit {
        value,
        unit,
        phases: l.phases,
    }
}
