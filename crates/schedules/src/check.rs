//! The specification's rules on a charging profile, checked before it is sent: a profile that
//! breaks one would be rejected by a station that follows the specification, or worse,
//! installed by one that does not.
//!
//! # Invariants
//!
//! - [`check`] returns every rule broken, each with the rule it breaks, so an operator can fix
//!   them all at once; an empty list means the profile may be sent.
//! - The rules here hold in every version; what one version cannot express (a second
//!   schedule, `phaseToUse` or external constraints in 1.6) is refused where the profile is
//!   written in that version's terms.

use crate::profile::{ChargingProfile, Kind, Purpose};

/// Where a profile is to go, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The EVSE (0: the station).
    pub evse_id: u32,
    /// Whether a transaction is going on at that EVSE.
    pub transaction: bool,
}

/// A rule a profile breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the profile (a JSON pointer into its API shape).
    pub at: String,
    /// What is wrong, and the rule.
    pub message: String,
}

fn problem(at: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        at: at.into(),
        message: message.into(),
    }
}

/// The most schedules a profile has (2.0.1 ChargingProfileType: chargingSchedule 1..3).
pub const MAX_SCHEDULES: usize = 3;

/// The most periods a schedule has (2.0.1 ChargingScheduleType: 1..1024).
pub const MAX_PERIODS: usize = 1024;

/// The largest number of seconds a schedule's duration or a period's start may have (the
/// schemas' integers are 32-bit).
pub const MAX_SECONDS: i64 = i32::MAX as i64;

/// Whether `v` has at most one decimal (the 1.6 schema's `multipleOf: 0.1` on limits and
/// minChargingRate; 2.0.1 likewise allows one decimal).
fn one_decimal(v: f64) -> bool {
    ((v * 10.0).round() - v * 10.0).abs() < 1e-6
}

/// The rules `p` breaks if it is sent to `target`.
pub fn check(p: &ChargingProfile, target: Target) -> Vec<Problem> {
    let mut out = Vec::new();
    match p.purpose {
        Purpose::ChargingStationMax if target.evse_id != 0 => out.push(problem(
            "/evseId",
            "a ChargingStationMaxProfile (1.6: ChargePointMaxProfile) goes on EVSE 0 only \
             (1.6 §3.13.1)",
        )),
        Purpose::ChargingStationMax if p.kind == Kind::Relative => out.push(problem(
            "/kind",
            "a ChargingStationMaxProfile is never Relative (2.0.1 K01.FR.38)",
        )),
        Purpose::Tx if target.evse_id == 0 => out.push(problem(
            "/evseId",
            "a TxProfile goes on an EVSE (1.6: a connector), never on 0 (1.6 §3.13.1; 2.0.1 \
             K01.FR.16)",
        )),
        Purpose::Tx if !target.transaction => out.push(problem(
            "/purpose",
            "a TxProfile needs a transaction going on at its EVSE; the station would reject it \
             (1.6 §3.13.1; 2.0.1 K01.FR.09)",
        )),
        Purpose::ExternalConstraints => out.push(problem(
            "/purpose",
            "ChargingStationExternalConstraints are set by an external system, never by the CSMS \
             (2.0.1 K01.FR.22)",
        )),
        _ => {}
    }
    if p.transaction_id.is_some() && p.purpose != Purpose::Tx {
        out.push(problem(
            "/transactionId",
            "only a TxProfile names a transaction (2.0.1 ChargingProfileType.transactionId)",
        ));
    }
    match (p.kind, p.recurrency) {
        (Kind::Recurring, None) => out.push(problem(
            "/recurrency",
            "a Recurring profile says how it recurs (Daily or Weekly)",
        )),
        (Kind::Absolute | Kind::Relative, Some(_)) => out.push(problem(
            "/recurrency",
            "only a Recurring profile has a recurrency",
        )),
        _ => {}
    }
    if let (Some(from), Some(to)) = (p.valid_from, p.valid_to)
        && from >= to
    {
        out.push(problem("/validTo", "validTo must come after validFrom"));
    }
    if p.schedules.is_empty() || p.schedules.len() > MAX_SCHEDULES {
        out.push(problem(
            "/schedules",
            format!("a profile has 1 to {MAX_SCHEDULES} schedules"),
        ));
    }
    for (i, s) in p.schedules.iter().enumerate() {
        let at = |field: &str| format!("/schedules/{i}{field}");
        match (p.kind, s.start) {
            (Kind::Relative, Some(_)) => out.push(problem(
                at("/start"),
                "a Relative profile has no startSchedule: it starts with its transaction \
                 (2.0.1 K01.FR.41)",
            )),
            (Kind::Absolute | Kind::Recurring, None) => out.push(problem(
                at("/start"),
                "an Absolute or Recurring profile needs its startSchedule (2.0.1 K01.FR.40)",
            )),
            _ => {}
        }
        if s.duration_s.is_some_and(|d| d <= 0 || d > MAX_SECONDS) {
            out.push(problem(
                at("/durationS"),
                format!("a duration is 1 to {MAX_SECONDS} seconds"),
            ));
        }
        if s.min_rate
            .is_some_and(|r| !(r.is_finite() && r >= 0.0 && one_decimal(r)))
        {
            out.push(problem(
                at("/minRate"),
                "minChargingRate is a number ≥ 0 with at most one decimal",
            ));
        }
        if s.periods.is_empty() || s.periods.len() > MAX_PERIODS {
            out.push(problem(
                at("/periods"),
                format!("a schedule has 1 to {MAX_PERIODS} periods"),
            ));
        }
        if s.periods.first().is_some_and(|f| f.start_s != 0) {
            out.push(problem(
                at("/periods/0/startS"),
                "the first period starts at 0 (2.0.1 K01.FR.31)",
            ));
        }
        for (j, w) in s.periods.windows(2).enumerate() {
            if w[1].start_s <= w[0].start_s {
                out.push(problem(
                    at(&format!("/periods/{}/startS", j + 1)),
                    "periods start in increasing order (2.0.1 K01.FR.35)",
                ));
            }
        }
        for (j, period) in s.periods.iter().enumerate() {
            let at = |field: &str| at(&format!("/periods/{j}{field}"));
            if !(period.limit.is_finite() && period.limit >= 0.0 && one_decimal(period.limit)) {
                out.push(problem(
                    at("/limit"),
                    "a limit is a number ≥ 0 with at most one decimal (1.6 schema: multipleOf 0.1)",
                ));
            }
            if period.start_s > MAX_SECONDS {
                out.push(problem(
                    at("/startS"),
                    format!("a period starts at most {MAX_SECONDS} seconds in"),
                ));
            }
            if period.phases.is_some_and(|n| !(1..=3).contains(&n)) {
                out.push(problem(at("/phases"), "numberPhases is 1, 2 or 3"));
            }
            match period.phase_to_use {
                Some(ph) if !(1..=3).contains(&ph) => {
                    out.push(problem(at("/phaseToUse"), "phaseToUse is 1, 2 or 3"));
                }
                Some(_) if period.phases != Some(1) => out.push(problem(
                    at("/phaseToUse"),
                    "phaseToUse goes only with numberPhases 1 (2.0.1 K01.FR.20)",
                )),
                _ => {}
            }
        }
    }
    out
}
