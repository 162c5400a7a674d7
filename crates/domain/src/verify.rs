//! K Verifying what stations applied. Real chargers accept a profile and then ignore it, or
//! forget it when they reboot or reconnect. So after a station boots or connects, and after
//! load management sent it profiles, Arus asks the station for its composite schedule
//! (GetCompositeSchedule, on each EVSE of its sites or holding a profile) where it can be asked,
//! and compares it with the one it computes itself from what it installed
//! ([`crate::smart_charging::composite`]).
//!
//! A station that allows more than Arus computed has lost or ignores what it was sent. Arus
//! sends again what it installed there, and asks again:
//!
//! - if the station now matches and the first answer followed a boot or connection, its model
//!   forgets its profiles: from then on Arus sends them again after every boot;
//! - if it still allows more, its model ignores them: load management then gives its cars what
//!   they draw, as load it cannot steer, and the others share the rest.
//!
//! What is learnt goes to the model's record ([`crate::quirks::learn`]), with its evidence.
//!
//! # Invariants
//!
//! - Only a station allowing more than Arus computed is suspect: a lower limit (its own hardware
//!   maximum, a limit set by another party) is its right.
//! - A comparison during which load management sent the station a profile is not used.
//! - Nothing is learnt from a station that did not answer (not connected, timed out), and a
//!   station whose model cannot be asked is not asked.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::Time;
use crate::commander::Submission;
use crate::commands::{
    ChargingRateUnit, Command, CommandRecord, CommandStatus, CompositeSchedule,
    CompositeScheduleStatus, GetCompositeSchedule, Outcome,
};
use crate::load::LoadManager;
use crate::quirks::Quirk;

/// How close two limits are to be the same, in A or W.
pub const TOLERANCE: f64 = 0.1;

/// How much more than Arus computed a station must allow to be suspected of having lost or
/// ignored its profiles: 1 A, or 5 % where that is more (stations round limits, and convert
/// between A and W with voltages of their own).
pub const SUSPECT_A: f64 = 1.0;

/// The share of the limit that is the margin's other bound.
const SUSPECT_SHARE: f64 = 0.05;

/// How much of the schedules is compared, in seconds from now.
pub const WINDOW_S: i64 = 300;

/// A station whose profiles were sent is verified again at most this often.
pub const VERIFY_EVERY: Duration = Duration::from_secs(3600);

/// How often a verification spoilt by profiles sent meanwhile is tried again.
const TRIES: u8 = 3;

/// A stretch of time where the station's limit is not Arus's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Difference {
    /// From, in seconds from the schedule's start.
    pub start_period: i64,
    /// To.
    pub end_period: i64,
    /// Arus's limit (`null`: nothing limits).
    pub arus: Option<f64>,
    /// The station's.
    pub station: Option<f64>,
}

impl Difference {
    /// Whether the station allows clearly more than Arus computed here (by more than
    /// [`SUSPECT_A`] or 5 %); where the station's schedule says nothing, nothing is suspected.
    pub fn station_allows_more(&self) -> bool {
        match (self.arus, self.station) {
            (Some(a), Some(s)) => s > a + SUSPECT_A.max(a.abs() * SUSPECT_SHARE),
            _ => false,
        }
    }
}

/// The limit of a list of `(start, limit)` at offset `t` (the last period started by then).
fn limit_at(periods: &[(i64, Option<f64>)], t: i64) -> Option<f64> {
    periods
        .iter()
        .take_while(|(s, _)| *s <= t)
        .last()
        .and_then(|(_, l)| *l)
}

/// Where two schedules, each a list of `(start offset, limit)` in the same unit, differ by more
/// than [`TOLERANCE`] over `[from, to)`.
pub fn differences(
    arus: &[(i64, Option<f64>)],
    station: &[(i64, Option<f64>)],
    from: i64,
    to: i64,
) -> Vec<Difference> {
    let mut cuts: Vec<i64> = arus
        .iter()
        .chain(station)
        .map(|(s, _)| *s)
        .chain([from, to])
        .filter(|s| (from..=to).contains(s))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Difference> = Vec::new();
    for w in cuts.windows(2) {
        let (a, s) = (limit_at(arus, w[0]), limit_at(station, w[0]));
        let same = match (a, s) {
            (Some(x), Some(y)) => (x - y).abs() <= TOLERANCE + 1e-9,
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        match out.last_mut() {
            Some(d) if d.end_period == w[0] && d.arus == a && d.station == s => d.end_period = w[1],
            _ => out.push(Difference {
                start_period: w[0],
                end_period: w[1],
                arus: a,
                station: s,
            }),
        }
    }
    out
}

/// Compares Arus's schedule `ours` (offsets from `start`, limits in `unit`, over `duration`
/// seconds) with the one a station sent: the station's is moved to `start` and put in `unit`
/// (at `voltage`), and only the time both cover is compared.
pub fn compare(
    ours: &[(i64, Option<f64>)],
    theirs: &CompositeSchedule,
    start: Time,
    unit: ChargingRateUnit,
    voltage: f64,
    duration: i64,
) -> Vec<Difference> {
    let shift = (theirs.schedule_start - start).num_seconds();
    let mut periods: Vec<(i64, Option<f64>)> = theirs
        .charging_schedule_period
        .iter()
        .map(|p| {
            let l = crate::smart_charging::convert(
                crate::smart_charging::Limit {
                    value: p.limit,
                    unit: theirs.charging_rate_unit,
                    phases: p.phases,
                },
                unit,
                voltage,
            );
            (p.start_s.saturating_add(shift), Some(l.value))
        })
        .collect();
    // A station's periods out of order are read in order.
    periods.sort_by_key(|p| p.0);
    let from = shift.max(0);
    let to = shift.saturating_add(theirs.duration_s).min(duration);
    differences(ours, &periods, from, to)
}

/// Why a station is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// It booted.
    Boot,
    /// It connected (it may not boot: a reconnection).
    Connected,
    /// Load management sent it profiles.
    Sent,
    /// What it had lost was sent again; `after_connecting` when the loss was found after a
    /// boot or connection.
    Resent { after_connecting: bool },
}

/// What one verification found.
enum Found {
    /// The station applies what Arus computed (or less).
    Applied,
    /// It allows more: on these EVSEs, there.
    AllowsMore(Vec<(u32, Difference)>),
    /// It cannot be asked (NotImplemented, NotSupported).
    CannotBeAsked(String),
    /// Load management sent it a profile meanwhile.
    Spoilt,
    /// Nothing to learn from (no answer, rejected, nothing to compare).
    Nothing,
}

/// Where a station's verifications are.
#[derive(Debug, Default)]
pub(crate) struct Checking {
    /// One is waiting to run, for this reason (a boot or connection coming meanwhile takes the
    /// place of a lesser one).
    pending: Option<Why>,
    /// When the last one ran.
    last: Option<tokio::time::Instant>,
    /// Tries spoilt in a row.
    spoilt: u8,
}

impl LoadManager {
    /// Verifies `station` after [`crate::load::LoadConfig::verify_after`] unless a
    /// verification is already waiting, or (after profiles were sent) one ran within
    /// [`VERIFY_EVERY`].
    pub(crate) fn verify_later(&self, station: &str, why: Why) {
        let wait = self.config.verify_after;
        if wait.is_zero() {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        {
            let Ok(mut checks) = self.checks.lock() else {
                return;
            };
            let c = checks.entry(station.to_string()).or_default();
            let recent = c.last.is_some_and(|t| t.elapsed() < VERIFY_EVERY);
            if let Some(waiting) = c.pending {
                if matches!(why, Why::Boot | Why::Connected) && waiting == Why::Sent {
                    c.pending = Some(why);
                }
                return;
            }
            if why == Why::Sent && recent {
                return;
            }
            c.pending = Some(why);
        }
        let station = station.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let why = me
                .checks
                .lock()
                .ok()
                .and_then(|c| c.get(&station).and_then(|c| c.pending))
                .unwrap_or(why);
            me.verify(&station, why).await;
        });
    }

    /// Verifies `station` now and acts on what is found.
    async fn verify(&self, station: &str, why: Why) {
        let found = self.find(station).await;
        let spoilt = {
            let Ok(mut checks) = self.checks.lock() else {
                return;
            };
            let c = checks.entry(station.to_string()).or_default();
            c.pending = None;
            if matches!(found, Found::Spoilt) {
                // Not a check: tried again (unless spoilt too often; then counted as one).
                c.spoilt = c.spoilt.saturating_add(1);
                let again = c.spoilt <= TRIES;
                if !again {
                    c.spoilt = 0;
                    c.last = Some(tokio::time::Instant::now());
                }
                again
            } else {
                c.spoilt = 0;
                c.last = Some(tokio::time::Instant::now());
                false
            }
        };
        match found {
            Found::Applied => {
                if why
                    == (Why::Resent {
                        after_connecting: true,
                    })
                {
                    self.learn_quirk(station, Quirk::ForgetsProfiles, "its composite schedule allowed more than it was sent after it connected, and matched once its profiles were sent again".into()).await;
                }
            }
            Found::AllowsMore(where_) => {
                let detail = describe(&where_);
                if let Why::Resent { .. } = why {
                    self.learn_quirk(
                        station,
                        Quirk::IgnoresProfiles,
                        format!("its composite schedule allowed more than it was sent, even after they were sent again: {detail}"),
                    )
                    .await;
                } else {
                    tracing::warn!(station = %station, differences = %detail, "the station allows more than it was sent: sending its profiles again");
                    self.send_again(station).await;
                    self.verify_later(
                        station,
                        Why::Resent {
                            after_connecting: matches!(why, Why::Boot | Why::Connected),
                        },
                    );
                }
            }
            Found::CannotBeAsked(error) => {
                self.learn_quirk(station, Quirk::NoCompositeSchedule, error)
                    .await;
            }
            Found::Spoilt if spoilt => self.verify_later(station, why),
            Found::Spoilt | Found::Nothing => {}
        }
    }

    /// Records a quirk of `station`'s model.
    async fn learn_quirk(&self, station: &str, quirk: Quirk, detail: String) {
        if let Err(e) = crate::quirks::learn(self.store.as_ref(), station, quirk, detail).await {
            tracing::warn!(station = %station, error = %e, "a quirk learnt could not be recorded");
        }
    }

    /// Asks the station for its composite schedule on each of its EVSEs of a site or holding
    /// a profile, and compares each with Arus's.
    async fn find(&self, station: &str) -> Found {
        let store = self.store.as_ref();
        let quirks = crate::quirks::of_station(store, station)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        // Not asked: a model that cannot be; one known to ignore its profiles (nothing to
        // send it again).
        if quirks.no_composite_schedule || quirks.ignores_profiles {
            return Found::Nothing;
        }
        let (Ok(Some(row)), Ok(held)) = (
            store.station(station).await,
            store.charging_profiles(station).await,
        ) else {
            return Found::Nothing;
        };
        let unit = ChargingRateUnit::A;
        // Only what the station was sent is compared: the maximum an operator registered (a
        // breaker, a contract) is Arus's, not the station's.
        let electrical = crate::smart_charging::Electrical {
            max: None,
            voltage: crate::smart_charging::Electrical::of(&row.electrical, unit).voltage,
        };
        // Each EVSE's composite holds what applies to it, EVSE 0's profiles included. EVSE 0's
        // own is asked only of a station with no EVSE known: stations read it differently
        // (1.6 leaves what a connector 0 composite sums to the station).
        let on_sites = self.sites().await.map(|sites| {
            sites
                .iter()
                .flat_map(|s| s.evses.iter())
                .filter(|e| e.station_id == station)
                .map(|e| e.evse_id)
                .collect::<Vec<u32>>()
        });
        let mut evses: Vec<u32> = held
            .iter()
            .map(|p| p.evse_id)
            .chain(on_sites.unwrap_or_default())
            .filter(|e| *e > 0)
            .collect();
        evses.sort_unstable();
        evses.dedup();
        if evses.is_empty() && held.iter().any(|p| p.evse_id == 0) {
            evses.push(0);
        }
        let before = self.sends_to(station);
        let mut more = Vec::new();
        let mut compared = 0;
        for evse in evses {
            let start = Utc::now();
            let ours = |start| async move {
                crate::smart_charging::composite(
                    store, station, electrical, evse, start, WINDOW_S, unit,
                )
                .await
                .map(|o| {
                    o.iter()
                        .map(|p| (p.start_s, p.limit))
                        .collect::<Vec<(i64, Option<f64>)>>()
                })
            };
            let Ok(expected) = ours(start).await else {
                return Found::Nothing;
            };
            let record = self.ask(station, evse, unit).await;
            // What Arus knows changed meanwhile (a profile sent, set or cleared, a transaction
            // ended): the answer may be of either; not used.
            if self.sends_to(station) != before || ours(start).await.ok() != Some(expected.clone())
            {
                return Found::Spoilt;
            }
            let ours = expected;
            let Some(record) = record else {
                return Found::Nothing;
            };
            let answer = match (&record.status, &record.outcome) {
                (CommandStatus::Failed, _) => {
                    let error = record.error.unwrap_or_default();
                    // The CALLERROR's code, not its description (which the station writes).
                    let code = error
                        .strip_prefix("the station answered ")
                        .and_then(|rest| rest.split(':').next())
                        .unwrap_or_default();
                    return if ["NotImplemented", "NotSupported"].contains(&code) {
                        Found::CannotBeAsked(format!("GetCompositeSchedule: {error}"))
                    } else {
                        Found::Nothing
                    };
                }
                (_, Some(Outcome::GetCompositeSchedule(o)))
                    if o.status == CompositeScheduleStatus::Accepted =>
                {
                    o.schedule.clone()
                }
                _ => None,
            };
            let Some(theirs) = answer else {
                continue;
            };
            compared += 1;
            more.extend(
                compare(&ours, &theirs, start, unit, electrical.voltage, WINDOW_S)
                    .into_iter()
                    .filter(Difference::station_allows_more)
                    .map(|d| (evse, d)),
            );
        }
        if !more.is_empty() {
            Found::AllowsMore(more)
        } else if compared > 0 {
            Found::Applied
        } else {
            // Nothing compared (every answer rejected or empty): nothing learnt.
            Found::Nothing
        }
    }

    /// Asks a station for its composite schedule on an EVSE; the command as it ended.
    async fn ask(&self, station: &str, evse: u32, unit: ChargingRateUnit) -> Option<CommandRecord> {
        let submitted = self
            .commander
            .submit(Submission {
                station_id: station.to_string(),
                command: Command::GetCompositeSchedule(GetCompositeSchedule {
                    evse_id: evse,
                    duration_s: WINDOW_S,
                    unit: Some(unit),
                }),
                requested_by: crate::load::REQUESTED_BY.into(),
                idempotency_key: None,
                queue_until: None,
                bulk_id: None,
            })
            .await
            .ok()?;
        match submitted.done {
            Some(done) => done.await.ok(),
            None => Some(submitted.record),
        }
    }

    /// Sends again what Arus installed on a station that lost it: the TxProfiles of its
    /// transactions (at the limits Arus holds for them), the operator's profiles, and the safe
    /// default.
    async fn send_again(&self, station: &str) {
        let quirks = crate::quirks::of_station(self.store.as_ref(), station)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        self.resend(station, true).await;
        self.safe_default(station, &quirks, true).await;
    }
}

/// The differences found, for people: `EVSE 1: 32 A where 10 A from 0 s to 300 s; …`.
fn describe(found: &[(u32, Difference)]) -> String {
    let limit = |l: Option<f64>| l.map_or("no limit".to_string(), |v| format!("{v} A"));
    found
        .iter()
        .map(|(evse, d)| {
            format!(
                "EVSE {evse}: {} where {} from {} s to {} s",
                limit(d.station),
                limit(d.arus),
                d.start_period,
                d.end_period
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::SchedulePeriod;
    use proptest::prelude::*;

    fn at(s: &str) -> Time {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_station_holding_less_is_not_suspect_one_holding_more_is() {
        let ours = [(0, Some(10.0)), (100, Some(16.0))];
        let theirs = [(0, Some(6.0)), (100, Some(32.0))];
        let d = differences(&ours, &theirs, 0, 300);
        assert_eq!(d.len(), 2);
        assert!(
            !d[0].station_allows_more(),
            "6 A where Arus computed 10 A is the station's right"
        );
        assert!(d[1].station_allows_more());
        assert_eq!((d[1].start_period, d[1].end_period), (100, 300));
        // No limit from Arus (nothing installed, no maximum registered): nothing to exceed.
        assert!(
            !differences(&[(0, None)], &theirs, 0, 300)
                .iter()
                .any(Difference::station_allows_more)
        );
    }

    #[test]
    fn the_stations_schedule_is_moved_to_arus_start_and_unit() {
        // The station answered in W, from 10 s later than Arus's start, for 200 s.
        let theirs = CompositeSchedule {
            evse_id: 1,
            schedule_start: at("2026-01-01T00:00:10Z"),
            duration_s: 200,
            charging_rate_unit: ChargingRateUnit::W,
            charging_schedule_period: vec![SchedulePeriod {
                start_s: 0,
                limit: 3.0 * 230.0 * 16.0,
                phases: Some(3),
                phase_to_use: None,
            }],
        };
        let start = at("2026-01-01T00:00:00Z");
        let same = compare(
            &[(0, Some(16.0))],
            &theirs,
            start,
            ChargingRateUnit::A,
            230.0,
            300,
        );
        assert!(same.is_empty(), "{same:?}");
        // Arus lowered it at 150 s: the station allows more from then to where its answer ends.
        let d = compare(
            &[(0, Some(16.0)), (150, Some(8.0))],
            &theirs,
            start,
            ChargingRateUnit::A,
            230.0,
            300,
        );
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].start_period, d[0].end_period), (150, 210));
        assert!(d[0].station_allows_more());
    }

    fn schedule() -> impl Strategy<Value = Vec<(i64, Option<f64>)>> {
        proptest::collection::vec((0i64..300, proptest::option::of(0.0f64..64.0)), 1..6).prop_map(
            |mut v| {
                v.sort_by_key(|p| p.0);
                v[0].0 = 0;
                v.dedup_by_key(|p| p.0);
                v
            },
        )
    }

    proptest! {
        /// A schedule never differs from itself, and where two differ, they differ at every
        /// moment of each difference reported (and only there).
        #[test]
        fn differences_are_exactly_where_the_limits_differ(a in schedule(), b in schedule()) {
            prop_assert!(differences(&a, &a, 0, 300).is_empty());
            let d = differences(&a, &b, 0, 300);
            for t in 0..300 {
                let (x, y) = (limit_at(&a, t), limit_at(&b, t));
                let same = match (x, y) {
                    (Some(x), Some(y)) => (x - y).abs() <= TOLERANCE + 1e-9,
                    (None, None) => true,
                    _ => false,
                };
                let reported = d.iter().any(|d| d.start_period <= t && t < d.end_period);
                prop_assert_eq!(reported, !same, "at {} s: {:?} against {:?}", t, x, y);
            }
        }
    }
}
