//! Pricing a charging session with an OCPI 2.2.1 tariff: [`price`] takes a tariff and a
//! session (its start and end, the local time zone, and its charging periods in OCPI's CDR
//! shape) and gives the CDR's cost fields. Plain data in, plain data out, exact decimals.
//!
//! The rules, from the specification (module Tariffs §11.3.1, module CDRs "step_size"):
//!
//! - For each dimension (ENERGY, TIME, PARKING_TIME) of each charging period, the first tariff
//!   element with a price component of that dimension whose restrictions all hold at the
//!   period's start applies; with none, the dimension costs nothing then. Restrictions are read
//!   in the session's local time: time of day (an end before the start wraps past midnight,
//!   `00:00` as an end is midnight), dates (end exclusive), day of week; energy consumed and
//!   the session's duration before the period (minimums inclusive, maximums exclusive); the
//!   period's current and power. Elements for reservations do not price a session.
//! - A FLAT component is charged once, from the first element with one that holds.
//! - `step_size` counts once per session: the session's energy is billed up to a multiple of
//!   the step of the last ENERGY component used, and of TIME and PARKING_TIME only the one used
//!   last is billed up to a multiple of its last step (charging time before parking is billed
//!   as it was). What is added is priced by that last component.
//! - VAT is per component (none when the component has none). `min_price` and `max_price`
//!   bound the total excluding VAT and, where they give it, the total including VAT.
//! - Results are rounded to 4 decimals (OCPI numbers), half to even; nothing is rounded before.
//!
//! # Invariants
//!
//! - The function is pure and exact: the same inputs give the same costs, with no float.
//! - The total is the sum of the parts, unless `min_price` or `max_price` bounded it.

use arus_ocpi::cdrs::{CdrDimensionType, ChargingPeriod};
use arus_ocpi::tariffs::{
    DayOfWeek, PriceComponent, Tariff, TariffDimensionType, TariffRestrictions,
};
use arus_ocpi::types::{Number, Price};
use chrono::{Datelike, Timelike};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// An instant, in UTC.
pub type Time = chrono::DateTime<chrono::Utc>;

/// A session to price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// When it started.
    pub start_date_time: arus_ocpi::types::DateTime,
    /// When it ended (or now, for a session going on).
    pub end_date_time: arus_ocpi::types::DateTime,
    /// The location's IANA time zone (`Asia/Kuala_Lumpur`); UTC when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Its charging periods, in order.
    pub charging_periods: Vec<ChargingPeriod>,
}

/// The CDR's cost fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    /// What the session costs.
    pub total_cost: Price,
    /// Its FLAT part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_fixed_cost: Option<Price>,
    /// Energy charged, kWh.
    pub total_energy: Number,
    /// Its ENERGY part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_energy_cost: Option<Price>,
    /// Time charging, hours.
    pub total_time: Number,
    /// Its TIME part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_time_cost: Option<Price>,
    /// Time not charging, hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_parking_time: Option<Number>,
    /// Its PARKING_TIME part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_parking_cost: Option<Price>,
}

/// Why a session cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The time zone is not an IANA name.
    #[error("`{0}` is not an IANA time zone")]
    TimeZone(String),
    /// The session's times or periods are not in order.
    #[error("{0}")]
    Session(String),
}

/// An amount excluding and including VAT.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Amount {
    excl: Decimal,
    incl: Decimal,
}

impl Amount {
    fn of(volume: Decimal, c: &PriceComponent) -> Amount {
        let excl = volume * c.price.0;
        let vat = c.vat.map_or(Decimal::ZERO, |v| v.0);
        Amount {
            excl,
            incl: excl * (Decimal::ONE + vat / Decimal::ONE_HUNDRED),
        }
    }

    fn add(&mut self, o: Amount) {
        self.excl += o.excl;
        self.incl += o.incl;
    }
}

/// What restrictions are read against at a period's start.
struct Moment {
    local: chrono::NaiveDateTime,
    energy_kwh: Decimal,
    duration_s: i64,
    current_a: Option<Decimal>,
    power_kw: Option<Decimal>,
}

fn weekday(d: chrono::Weekday) -> DayOfWeek {
    match d {
        chrono::Weekday::Mon => DayOfWeek::Monday,
        chrono::Weekday::Tue => DayOfWeek::Tuesday,
        chrono::Weekday::Wed => DayOfWeek::Wednesday,
        chrono::Weekday::Thu => DayOfWeek::Thursday,
        chrono::Weekday::Fri => DayOfWeek::Friday,
        chrono::Weekday::Sat => DayOfWeek::Saturday,
        chrono::Weekday::Sun => DayOfWeek::Sunday,
    }
}

/// Minutes since midnight of `HH:MM`.
fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
}

/// Whether every restriction holds at `m` (none given: they do).
fn holds(r: &TariffRestrictions, m: &Moment) -> bool {
    let now = m.local.time().hour() * 60 + m.local.time().minute();
    let from = r.start_time.as_deref().and_then(minutes);
    let to = r.end_time.as_deref().and_then(minutes);
    let time_ok = match (from, to) {
        (None, None) => true,
        (Some(f), None) => now >= f,
        // `00:00` as an end is the end of the day.
        (None, Some(t)) => t == 0 || now < t,
        (Some(f), Some(t)) if t == 0 || t > f => now >= f && (t == 0 || now < t),
        // Wrapping past midnight.
        (Some(f), Some(t)) => now >= f || now < t,
    };
    let date = m.local.date();
    let date_ok = r
        .start_date
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_none_or(|d| date >= d)
        && r.end_date
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .is_none_or(|d| date < d);
    let day_ok = r.day_of_week.is_empty() || r.day_of_week.contains(&weekday(date.weekday()));
    let within = |v: Option<Decimal>, lo: Option<Number>, hi: Option<Number>| match v {
        Some(v) => lo.is_none_or(|lo| v >= lo.0) && hi.is_none_or(|hi| v < hi.0),
        // Not known for the period: the restriction does not keep the element out.
        None => true,
    };
    time_ok
        && date_ok
        && day_ok
        && within(Some(m.energy_kwh), r.min_kwh, r.max_kwh)
        && within(m.current_a, r.min_current, r.max_current)
        && within(m.power_kw, r.min_power, r.max_power)
        && r.min_duration.is_none_or(|d| m.duration_s >= d as i64)
        && r.max_duration.is_none_or(|d| m.duration_s < d as i64)
        && r.reservation.is_none()
}

/// The component of `kind` that applies at `m`: from the first element with one whose
/// restrictions hold.
fn component(t: &Tariff, kind: TariffDimensionType, m: &Moment) -> Option<PriceComponent> {
    t.elements
        .iter()
        .filter(|e| e.restrictions.as_ref().is_none_or(|r| holds(r, m)))
        .find_map(|e| e.price_components.iter().find(|c| c.kind == kind).copied())
}

fn round(d: Decimal) -> Number {
    Number(d.round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven))
}

fn price_of(a: Amount) -> Price {
    Price {
        excl_vat: round(a.excl),
        incl_vat: Some(round(a.incl)),
    }
}

/// Bills `total` (in `unit`s) up to a multiple of `step`: the volume added, in `unit`s.
fn step_up(total: Decimal, step: u32) -> Decimal {
    if step <= 1 && total.fract().is_zero() {
        return Decimal::ZERO;
    }
    let step = Decimal::from(step.max(1));
    let billed = (total / step).ceil() * step;
    (billed - total).max(Decimal::ZERO)
}

/// Prices a session with a tariff (see the crate's documentation for the rules).
pub fn price(tariff: &Tariff, session: &Session) -> Result<Costs, PriceError> {
    let tz: chrono_tz::Tz = match &session.timezone {
        Some(name) => name
            .parse()
            .map_err(|_| PriceError::TimeZone(name.clone()))?,
        None => chrono_tz::UTC,
    };
    let start = session.start_date_time.0;
    let end = session.end_date_time.0;
    if end < start {
        return Err(PriceError::Session(
            "`end_date_time` is before `start_date_time`".into(),
        ));
    }
    let periods = &session.charging_periods;
    if periods
        .windows(2)
        .any(|w| w[1].start_date_time.0 < w[0].start_date_time.0)
        || periods
            .iter()
            .any(|p| p.start_date_time.0 < start || p.start_date_time.0 > end)
    {
        return Err(PriceError::Session(
            "charging periods start in order, within the session".into(),
        ));
    }
    let volume = |p: &ChargingPeriod, k| p.volume(k).map(|n| n.0);
    if periods.iter().flat_map(|p| &p.dimensions).any(|d| {
        matches!(
            d.kind,
            CdrDimensionType::Energy | CdrDimensionType::Time | CdrDimensionType::ParkingTime
        ) && d.volume.0.is_sign_negative()
            && !d.volume.0.is_zero()
    }) {
        return Err(PriceError::Session(
            "ENERGY, TIME and PARKING_TIME are not negative".into(),
        ));
    }

    let mut fixed: Option<Amount> = None;
    let (mut energy, mut time, mut parking) =
        (Amount::default(), Amount::default(), Amount::default());
    let (mut kwh, mut hours, mut parked) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut last_energy: Option<PriceComponent> = None;
    // Of TIME and PARKING_TIME, the one used last, and its component.
    let mut last_time: Option<(TariffDimensionType, PriceComponent)> = None;
    for p in periods {
        let at = p.start_date_time.0;
        let m = Moment {
            local: at.with_timezone(&tz).naive_local(),
            energy_kwh: kwh,
            duration_s: (at - start).num_seconds(),
            current_a: [
                CdrDimensionType::Current,
                CdrDimensionType::MaxCurrent,
                CdrDimensionType::MinCurrent,
            ]
            .into_iter()
            .find_map(|k| volume(p, k)),
            power_kw: [
                CdrDimensionType::Power,
                CdrDimensionType::MaxPower,
                CdrDimensionType::MinPower,
            ]
            .into_iter()
            .find_map(|k| volume(p, k)),
        };
        if fixed.is_none()
            && let Some(c) = component(tariff, TariffDimensionType::Flat, &m)
        {
            fixed = Some(Amount::of(Decimal::ONE, &c));
        }
        let e = volume(p, CdrDimensionType::Energy).unwrap_or_default();
        if !e.is_zero()
            && let Some(c) = component(tariff, TariffDimensionType::Energy, &m)
        {
            energy.add(Amount::of(e, &c));
            last_energy = Some(c);
        }
        kwh += e;
        for (kind, dimension, spent, total) in [
            (
                TariffDimensionType::Time,
                CdrDimensionType::Time,
                &mut time,
                &mut hours,
            ),
            (
                TariffDimensionType::ParkingTime,
                CdrDimensionType::ParkingTime,
                &mut parking,
                &mut parked,
            ),
        ] {
            let h = volume(p, dimension).unwrap_or_default();
            *total += h;
            if !h.is_zero()
                && let Some(c) = component(tariff, kind, &m)
            {
                spent.add(Amount::of(h, &c));
                last_time = Some((kind, c));
            }
        }
    }
    // step_size, once per session.
    if let Some(c) = last_energy {
        let wh = step_up(kwh * Decimal::ONE_THOUSAND, c.step_size);
        energy.add(Amount::of(wh / Decimal::ONE_THOUSAND, &c));
    }
    if let Some((kind, c)) = last_time {
        let (spent, total) = match kind {
            TariffDimensionType::ParkingTime => (&mut parking, parked),
            _ => (&mut time, hours),
        };
        let seconds = step_up(total * Decimal::from(3600), c.step_size);
        spent.add(Amount::of(seconds / Decimal::from(3600), &c));
    }

    let mut total = fixed.unwrap_or_default();
    for part in [energy, time, parking] {
        total.add(part);
    }
    if let Some(min) = &tariff.min_price {
        total.excl = total.excl.max(min.excl_vat.0);
        if let Some(incl) = min.incl_vat {
            total.incl = total.incl.max(incl.0);
        }
    }
    if let Some(max) = &tariff.max_price {
        total.excl = total.excl.min(max.excl_vat.0);
        if let Some(incl) = max.incl_vat {
            total.incl = total.incl.min(incl.0);
        }
    }
    let used = |a: Amount, any: bool| any.then(|| price_of(a));
    Ok(Costs {
        total_cost: price_of(total),
        total_fixed_cost: fixed.map(price_of),
        total_energy: round(kwh),
        total_energy_cost: used(energy, last_energy.is_some()),
        total_time: round(hours),
        total_time_cost: used(
            time,
            periods
                .iter()
                .any(|p| volume(p, CdrDimensionType::Time).is_some()),
        ),
        total_parking_time: (!parked.is_zero()).then(|| round(parked)),
        total_parking_cost: used(parking, !parked.is_zero()),
    })
}

#[cfg(test)]
mod tests;
