//! What each charging car is seen to draw, learnt from its meter values, so that load
//! management gives a car no more than it takes: a car that draws less than it is offered (its
//! own maximum is lower, it tapers as its battery fills, it is full) is capped a little above
//! what it draws, and the capacity it leaves goes to the others; a car seen on one phase is
//! counted on one phase.
//!
//! # Invariants
//!
//! - A cap is learnt only from a reading taken after the limit it is compared with was sent
//!   (and settled), so a reading from before a raise never caps a car at its old limit.
//! - A cap never goes below the car's minimum: a paused or full car can start drawing again.
//! - A car drawing all of its cap loses it (it may take more), and every cap is tried again
//!   after [`RETRY_CAP`]: a cap that was wrong does not hold for ever.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Time;

/// How much above what a car draws its cap is set, in A: the capacity a capped car holds and
/// does not use.
pub const HEADROOM_A: f64 = 0.5;

/// A car drawing at least this much less than offered (A) is drawing less than it may.
pub const SHORTFALL_A: f64 = 2.0;

/// A reading this soon after a new limit was sent is not used: the station may not have
/// applied it yet.
pub const SETTLE_S: i64 = 2;

/// A cap is lifted after this long, to see whether the car takes more again.
pub const RETRY_CAP: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// A cap moves only by at least this much (A), so that a car whose draw falls as its battery
/// fills does not have its site divided again at every reading.
pub const CAP_STEP_A: f64 = 1.0;

/// A phase carrying at least this much (A) is in use.
const IN_USE_A: f64 = 1.0;

/// What is known of one session's car.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observed {
    /// How many phases it was seen to draw on.
    pub phases: Option<u8>,
    /// The most it is given, in A per phase, until `cap_until`.
    pub cap_a: Option<f64>,
    /// When the cap is lifted to try again.
    pub cap_until: Option<Time>,
}

/// The limit a session was last sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offered {
    /// In A per phase.
    pub limit_a: f64,
    /// When it was sent.
    pub at: Time,
}

impl Observed {
    /// The cap in force at `now`.
    pub fn cap_at(&self, now: Time) -> Option<f64> {
        self.cap_a
            .filter(|_| self.cap_until.is_none_or(|until| now < until))
    }

    /// What a reading (`amps` on each phase, taken at `at`) teaches, given what the session
    /// was last offered and its minimum.
    pub fn learn(self, amps: [f64; 3], at: Time, offered: Option<Offered>, min_a: f64) -> Observed {
        let mut next = self;
        if next.cap_at(at).is_none() {
            next.cap_a = None;
            next.cap_until = None;
        }
        let drawn = amps.iter().copied().fold(0.0, f64::max);
        let in_use = amps.iter().filter(|a| **a >= IN_USE_A).count() as u8;
        if in_use > 0 {
            next.phases = Some(in_use);
        }
        let Some(offered) = offered else {
            return next;
        };
        if (at - offered.at).num_seconds() < SETTLE_S {
            return next;
        }
        let cap = next.cap_a;
        if drawn < offered.limit_a - SHORTFALL_A {
            // Drawing less than it may: capped just above what it takes (never below its
            // minimum); a cap already lower stays.
            let learnt = (((drawn + HEADROOM_A) * 10.0).ceil() / 10.0).max(min_a);
            // A time at the end of what the calendar holds has no retry time: nothing learnt.
            if let Some(until) = at.checked_add_signed(RETRY_CAP)
                && cap.is_none_or(|c| (c - learnt).abs() >= CAP_STEP_A)
            {
                next.cap_a = Some(learnt);
                next.cap_until = Some(until);
            }
        } else if cap.is_some_and(|c| drawn >= c - HEADROOM_A / 2.0) {
            // Using all of its cap: it may take more.
            next.cap_a = None;
            next.cap_until = None;
        }
        next
    }
}

/// What an ISO 15118 car said it needs (2.0.1 NotifyEVChargingNeeds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Needs {
    /// When it leaves.
    pub departure: Option<Time>,
    /// The energy it asked for, Wh.
    pub energy_wh: Option<f64>,
    /// Its transaction's energy when it asked, Wh.
    pub energy_then_wh: f64,
    /// The most current per phase it takes (AC), A.
    pub max_current_a: Option<f64>,
    /// The least current per phase it charges with (AC), A.
    pub min_current_a: Option<f64>,
}

impl Needs {
    /// The current per phase it needs from `now` on to have its energy by its departure,
    /// having taken `energy_now_wh` in its transaction, on `phases` phases at `voltage`; `None`
    /// when it said no departure or energy, or has what it asked for. Past its departure it
    /// needs all it can take (infinite).
    pub fn needed_current_a(
        &self,
        now: Time,
        energy_now_wh: f64,
        phases: u8,
        voltage: f64,
    ) -> Option<f64> {
        let taken = (energy_now_wh - self.energy_then_wh).max(0.0);
        let left_wh = self.energy_wh? - taken;
        if left_wh <= 0.0 {
            return None;
        }
        let hours = (self.departure? - now).num_seconds() as f64 / 3600.0;
        if hours <= 0.0 {
            return Some(f64::INFINITY);
        }
        Some(left_wh / (hours * voltage * f64::from(phases.clamp(1, 3))))
    }
}

/// The observations of every session going on, shared by load management (which learns) and
/// the API (which shows the division load management applies).
#[derive(Debug, Default)]
pub struct Observations {
    sessions: Mutex<HashMap<(String, String), Observed>>,
    needs: Mutex<HashMap<(String, String), Needs>>,
    /// What each car drew at its last reading, A on its most loaded phase.
    drawn: Mutex<HashMap<(String, String), f64>>,
}

impl Observations {
    /// What is known of a station's transaction.
    pub fn get(&self, station_id: &str, transaction_id: &str) -> Observed {
        self.sessions
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&(station_id.to_string(), transaction_id.to_string()))
                    .copied()
            })
            .unwrap_or_default()
    }

    /// Records what is known; returns whether it changed.
    pub fn set(&self, station_id: &str, transaction_id: &str, o: Observed) -> bool {
        let Ok(mut m) = self.sessions.lock() else {
            return false;
        };
        let key = (station_id.to_string(), transaction_id.to_string());
        if o == Observed::default() {
            return m.remove(&key).is_some();
        }
        m.insert(key, o) != Some(o)
    }

    /// A transaction ended.
    pub fn forget(&self, station_id: &str, transaction_id: &str) {
        let key = (station_id.to_string(), transaction_id.to_string());
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(&key);
        }
        if let Ok(mut m) = self.needs.lock() {
            m.remove(&key);
        }
        if let Ok(mut m) = self.drawn.lock() {
            m.remove(&key);
        }
    }

    /// Records what a transaction's car drew at its last reading (A, its most loaded phase);
    /// returns what it drew before.
    pub fn set_drawn(&self, station_id: &str, transaction_id: &str, amps: f64) -> Option<f64> {
        let mut m = self.drawn.lock().ok()?;
        m.insert((station_id.to_string(), transaction_id.to_string()), amps)
    }

    /// What a transaction's car drew at its last reading, if it was seen.
    pub fn drawn(&self, station_id: &str, transaction_id: &str) -> Option<f64> {
        let m = self.drawn.lock().ok()?;
        m.get(&(station_id.to_string(), transaction_id.to_string()))
            .copied()
    }

    /// Records what a transaction's car said it needs.
    pub fn set_needs(&self, station_id: &str, transaction_id: &str, needs: Needs) {
        if let Ok(mut m) = self.needs.lock() {
            m.insert((station_id.to_string(), transaction_id.to_string()), needs);
        }
    }

    /// What a transaction's car said it needs, if it did.
    pub fn needs(&self, station_id: &str, transaction_id: &str) -> Option<Needs> {
        self.needs.lock().ok().and_then(|m| {
            m.get(&(station_id.to_string(), transaction_id.to_string()))
                .copied()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> Time {
        chrono::Utc
            .timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn offered(limit_a: f64, s: i64) -> Option<Offered> {
        Some(Offered { limit_a, at: at(s) })
    }

    #[test]
    fn a_car_drawing_less_is_capped_above_what_it_draws_and_loses_the_cap_when_it_uses_it() {
        let o = Observed::default().learn([16.0, 16.0, 16.0], at(10), offered(32.0, 0), 6.0);
        assert_eq!(o.phases, Some(3));
        assert_eq!(o.cap_at(at(10)), Some(16.5));
        // Offered its cap, it draws all of it: it may take more.
        let o = o.learn([16.4, 16.4, 16.4], at(30), offered(16.5, 20), 6.0);
        assert_eq!(o.cap_at(at(30)), None);
    }

    #[test]
    fn a_reading_before_a_raise_settled_teaches_no_cap() {
        let o = Observed::default().learn([10.0, 0.0, 0.0], at(1), offered(32.0, 0), 6.0);
        assert_eq!(o.cap_a, None, "too soon after the limit was sent");
        assert_eq!(o.phases, Some(1), "the phases it uses are known at once");
        let o = o.learn([10.0, 0.0, 0.0], at(5), None, 6.0);
        assert_eq!(o.cap_a, None, "nothing offered to compare with");
    }

    #[test]
    fn a_full_car_keeps_its_minimum_and_caps_are_tried_again() {
        let o = Observed::default().learn([0.0; 3], at(10), offered(20.0, 0), 6.0);
        assert_eq!(o.cap_at(at(10)), Some(6.0));
        assert_eq!(o.phases, None);
        assert_eq!(o.cap_at(at(10) + RETRY_CAP), None);
        // A car within the shortfall of its offer is left as it is.
        let o = Observed::default().learn([19.0; 3], at(10), offered(20.0, 0), 6.0);
        assert_eq!(o.cap_a, None);
    }

    proptest::proptest! {
        /// Whatever the readings and offers: a cap is never below the minimum, never below
        /// what the car drew when it was learnt, and never outlives its retry time.
        #[test]
        fn caps_hold_the_minimum_and_what_was_drawn(
            steps in proptest::collection::vec(
                ([0.0f64..40.0, 0.0f64..40.0, 0.0f64..40.0], 0.0f64..40.0, 0i64..30, 1i64..600),
                1..40,
            ),
            min_a in 0.0f64..10.0,
        ) {
            let mut o = Observed::default();
            let mut t = 0;
            for (amps, limit_a, sent_ago, gap) in steps {
                t += gap;
                let before = o;
                o = o.learn(amps, at(t), offered(limit_a, t - sent_ago), min_a);
                let drawn = amps.iter().copied().fold(0.0, f64::max);
                if let Some(cap) = o.cap_a {
                    proptest::prop_assert!(cap >= min_a);
                    proptest::prop_assert!(o.cap_until.is_some_and(|u| u > at(t) && u <= at(t) + RETRY_CAP));
                    if o != before && before.cap_a != o.cap_a {
                        proptest::prop_assert!(cap >= drawn);
                    }
                }
                if sent_ago < SETTLE_S {
                    proptest::prop_assert_eq!(o.cap_a, before.cap_at(at(t)));
                }
            }
        }
    }

    /// The rate that delivers what is left by the departure; none when nothing is asked or
    /// left; everything once the departure has passed.
    #[test]
    fn what_a_car_needs_by_its_departure() {
        let needs = Needs {
            departure: Some(at(7200)),
            energy_wh: Some(20_000.0),
            energy_then_wh: 1_000.0,
            max_current_a: Some(32.0),
            min_current_a: None,
        };
        // 13.8 kWh left over 2 h on three phases at 230 V: 10 A.
        let n = needs
            .needed_current_a(at(0), 7_200.0, 3, 230.0)
            .expect("needed");
        assert!((n - 10.0).abs() < 1e-9, "{n}");
        assert_eq!(needs.needed_current_a(at(0), 25_000.0, 3, 230.0), None);
        assert_eq!(
            needs.needed_current_a(at(7200), 7_200.0, 3, 230.0),
            Some(f64::INFINITY)
        );
        let no_departure = Needs {
            departure: None,
            ..needs
        };
        assert_eq!(no_departure.needed_current_a(at(0), 0.0, 3, 230.0), None);
    }

    #[test]
    fn observations_change_only_when_they_do() {
        let all = Observations::default();
        let o = Observed {
            phases: Some(1),
            ..Observed::default()
        };
        assert!(all.set("CS", "T1", o));
        assert!(!all.set("CS", "T1", o));
        assert_eq!(all.get("CS", "T1"), o);
        assert_eq!(all.set_drawn("CS", "T1", 16.0), None);
        assert_eq!(all.set_drawn("CS", "T1", 12.0), Some(16.0));
        assert_eq!(all.drawn("CS", "T1"), Some(12.0));
        all.forget("CS", "T1");
        assert_eq!(all.get("CS", "T1"), Observed::default());
        assert_eq!(all.drawn("CS", "T1"), None);
    }
}
