//! The cars: what an EV plugged into a simulated EVSE draws.
//!
//! A car charges on one or three phases up to its maximum current, tapering as its battery
//! fills (full current up to 80 % state of charge, then down to a tenth at full), and stops at
//! its target. Its EVSE offers a limit (the composite schedule of its station); an AC car can
//! be offered no less than its minimum (6 A in IEC 61851-1), so below that it pauses. A car with
//! a departure time leaves then, full or not.
//!
//! # Invariants
//!
//! - A car never draws more than it is offered, nor more than its own maximum.
//! - Energy only flows while it draws: the state of charge never passes the target.

use tokio::time::Instant;

/// One car's session.
#[derive(Debug, Clone)]
pub struct Car {
    /// 1 or 3.
    pub phases: u8,
    /// Its most current per phase, A.
    pub max_a: f64,
    /// The least current it can be offered, A.
    pub min_a: f64,
    /// Battery capacity, Wh.
    pub battery_wh: f64,
    /// State of charge, 0 to 1.
    pub soc: f64,
    /// Where it stops charging, 0 to 1.
    pub target_soc: f64,
    /// When it leaves (real time), if it does before it is full.
    pub departure: Option<Instant>,
    /// What it draws now, A per phase.
    pub amps: f64,
    /// What its EVSE offers now, A per phase.
    pub offered_a: f64,
}

/// Why a car draws what it draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawing {
    /// Charging.
    Charging,
    /// Its EVSE offers less than its minimum (SuspendedEVSE).
    PausedByEvse,
    /// It is full (SuspendedEV).
    Full,
}

impl Car {
    /// The current it would take now if offered any.
    pub fn wants_a(&self) -> f64 {
        if self.soc >= self.target_soc {
            return 0.0;
        }
        let taper = if self.soc < 0.8 {
            1.0
        } else {
            ((1.0 - self.soc) / 0.2).clamp(0.1, 1.0)
        };
        self.max_a * taper
    }

    /// Offers `limit_a` per phase: sets what it draws, and says why.
    pub fn offer(&mut self, limit_a: f64) -> Drawing {
        self.offered_a = limit_a;
        if self.soc >= self.target_soc {
            self.amps = 0.0;
            Drawing::Full
        } else if limit_a < self.min_a {
            self.amps = 0.0;
            Drawing::PausedByEvse
        } else {
            self.amps = self.wants_a().min(limit_a);
            Drawing::Charging
        }
    }

    /// Charges for `seconds` (simulated) at what it draws; returns the energy taken, Wh.
    pub fn advance(&mut self, seconds: f64, voltage: f64) -> f64 {
        let room = ((self.target_soc - self.soc) * self.battery_wh).max(0.0);
        let wh = (self.amps * voltage * f64::from(self.phases) * seconds / 3600.0).min(room);
        self.soc = (self.soc + wh / self.battery_wh).min(self.target_soc.max(self.soc));
        wh
    }

    /// The current on each of the station's phases L1, L2, L3.
    pub fn phase_amps(&self) -> [f64; 3] {
        if self.phases == 1 {
            [self.amps, 0.0, 0.0]
        } else {
            [self.amps; 3]
        }
    }

    /// The power it draws, W.
    pub fn power_w(&self, voltage: f64) -> f64 {
        self.amps * voltage * f64::from(self.phases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(soc: f64) -> Car {
        Car {
            phases: 1,
            max_a: 32.0,
            min_a: 6.0,
            battery_wh: 50_000.0,
            soc,
            target_soc: 1.0,
            departure: None,
            amps: 0.0,
            offered_a: 0.0,
        }
    }

    #[test]
    fn a_car_draws_the_least_of_offer_and_need_and_pauses_below_its_minimum() {
        let mut c = car(0.5);
        assert_eq!(c.offer(16.0), Drawing::Charging);
        assert_eq!(c.amps, 16.0);
        assert_eq!(c.offer(40.0), Drawing::Charging);
        assert_eq!(c.amps, 32.0);
        assert_eq!(c.offer(5.9), Drawing::PausedByEvse);
        assert_eq!(c.amps, 0.0);
        assert_eq!(c.phase_amps(), [0.0; 3]);
    }

    #[test]
    fn power_tapers_after_eighty_percent_and_stops_at_the_target() {
        let mut c = car(0.9);
        assert_eq!(c.offer(32.0), Drawing::Charging);
        assert!((c.amps - 16.0).abs() < 1e-9);
        // An hour at 16 A on one phase would be 3.7 kWh; only 5 kWh fit in all.
        let mut total = 0.0;
        for _ in 0..10 {
            c.offer(32.0);
            total += c.advance(3600.0, 230.0);
        }
        assert!((total - 5_000.0).abs() < 1e-6, "{total}");
        assert_eq!(c.offer(32.0), Drawing::Full);
        assert_eq!(c.advance(3600.0, 230.0), 0.0);
    }
}
