//! What to simulate: a scenario is a server URL and groups of stations, each group with its
//! size, versions, hardware and behaviour. Scenarios are TOML files:
//!
//! ```toml
//! url = "ws://127.0.0.1:8180/ocpp"
//! duration = "10m"
//!
//! [[group]]
//! name = "depot"
//! count = 200
//! v16_share = 0.3          # 30 % speak OCPP 1.6, the rest 2.0.1
//! evses = 2
//! mode = "realistic"
//! speed = 60.0             # a simulated hour passes in a minute
//! meter_interval = "60s"
//! session_gap = "10m..2h"
//! fault_rate = 0.02        # per session
//! offline_rate = 0.05      # per session: drop the connection, queue events, replay them
//! start_after = "0s"
//! ramp = "20s"             # connect the group's stations spread over this time
//! tokens = ["DEMO-1", "DEMO-2"]
//! ```
//!
//! Durations are written like `250ms`, `30s`, `10m`, `2h`; ranges as `a..b`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A whole run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The CSMS's OCPP endpoint; a station connects to `{url}/{stationId}`.
    pub url: String,
    /// How long to run (forever if absent).
    #[serde(default, deserialize_with = "opt_duration")]
    pub duration: Option<Duration>,
    /// The groups of stations.
    #[serde(rename = "group")]
    pub groups: Vec<Group>,
}

/// What the stations of a group do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Whole lives: boot, status, sessions (plug in, authorize, charge with a tapering power
    /// curve, stop), faults, offline periods with replayed events, answers to CSMS commands.
    Realistic,
    /// Benchmark: after booting, send the next message as soon as the last is answered
    /// (`meter_share` MeterValues, the rest Heartbeats).
    Steady,
    /// Benchmark: the same mix at `rate` messages per second per station.
    Paced,
    /// Boot, report statuses, then stay connected and answer the CSMS.
    Idle,
}

/// A group of alike stations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name (also the default id prefix).
    pub name: String,
    /// How many stations.
    pub count: u32,
    /// Station ids are this prefix and a five-digit number; defaults to `{name}-`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The number of the group's first station.
    #[serde(default = "one")]
    pub first: u32,
    /// Which share of the stations speaks OCPP 1.6 (the rest 2.0.1).
    #[serde(default = "half")]
    pub v16_share: f64,
    /// EVSEs per station (one connector each).
    #[serde(default = "two")]
    pub evses: u32,
    /// The HTTP Basic password of every station of the group, if they have one.
    #[serde(default)]
    pub password: Option<String>,
    /// What the stations do.
    #[serde(default = "realistic")]
    pub mode: Mode,
    /// Time passes this many times faster for realistic behaviour.
    #[serde(default = "unit")]
    pub speed: f64,
    /// How long after the run starts the group starts.
    #[serde(default, deserialize_with = "duration")]
    pub start_after: Duration,
    /// The group's connections are spread evenly over this time.
    #[serde(default, deserialize_with = "duration")]
    pub ramp: Duration,
    /// Interval of periodic meter values during a session (simulated time).
    #[serde(default = "minute", deserialize_with = "duration")]
    pub meter_interval: Duration,
    /// Idle time between sessions on an EVSE (simulated time).
    #[serde(default = "gap", deserialize_with = "duration_range")]
    pub session_gap: (Duration, Duration),
    /// Energy an EV takes in a session, in kWh.
    #[serde(default = "energy")]
    pub session_energy_kwh: (f64, f64),
    /// The EVSEs' maximum power in kW.
    #[serde(default = "power")]
    pub max_power_kw: f64,
    /// Probability that an EVSE reports a fault between two sessions.
    #[serde(default = "two_percent")]
    pub fault_rate: f64,
    /// Probability that a station goes offline during a session.
    #[serde(default = "two_percent")]
    pub offline_rate: f64,
    /// How long an offline period lasts (simulated time).
    #[serde(default = "minute", deserialize_with = "duration")]
    pub offline_for: Duration,
    /// The id tokens drivers present.
    #[serde(default = "tokens")]
    pub tokens: Vec<String>,
    /// Messages per second per station in `paced` mode.
    #[serde(default = "unit")]
    pub rate: f64,
    /// Share of MeterValues among benchmark messages (the rest are Heartbeats).
    #[serde(default = "three_quarters")]
    pub meter_share: f64,
    /// The most current per phase each EVSE delivers, in A (the station's own maximum).
    #[serde(default = "thirty_two")]
    pub evse_max_a: f64,
    /// The nominal voltage, phase to neutral, in V.
    #[serde(default = "volts")]
    pub voltage: f64,
    /// The cars that come to charge (`[[group.car]]`), each drawn with its `share`. Without
    /// them, a session takes `session_energy_kwh` at up to `max_power_kw` on three phases
    /// and leaves when done.
    #[serde(default, rename = "car")]
    pub cars: Vec<CarModel>,
}

/// A kind of car that comes to charge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarModel {
    /// Its name.
    pub name: String,
    /// How often it comes, relative to the group's other cars.
    #[serde(default = "unit")]
    pub share: f64,
    /// It charges on 1 or 3 phases.
    #[serde(default = "three")]
    pub phases: u8,
    /// Its most current per phase, in A.
    #[serde(default = "sixteen")]
    pub max_current_a: f64,
    /// The least current it can be offered, in A.
    #[serde(default = "six")]
    pub min_current_a: f64,
    /// Its battery, in kWh.
    #[serde(default = "sixty")]
    pub battery_kwh: f64,
    /// Its state of charge on arrival (0 to 1), drawn from this range (`[low, high]`).
    #[serde(default = "arrival_soc")]
    pub arrival_soc: (f64, f64),
    /// Where it stops charging (0 to 1).
    #[serde(default = "unit")]
    pub target_soc: f64,
    /// How long it stays plugged in (simulated time), drawn from this range; it leaves then,
    /// full or not.
    #[serde(default = "dwell", deserialize_with = "duration_range")]
    pub dwell: (Duration, Duration),
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn half() -> f64 {
    0.5
}
fn unit() -> f64 {
    1.0
}
fn two_percent() -> f64 {
    0.02
}
fn three_quarters() -> f64 {
    0.75
}
fn realistic() -> Mode {
    Mode::Realistic
}
fn minute() -> Duration {
    Duration::from_secs(60)
}
fn gap() -> (Duration, Duration) {
    (Duration::from_secs(600), Duration::from_secs(7200))
}
fn energy() -> (f64, f64) {
    (5.0, 40.0)
}
fn power() -> f64 {
    11.0
}
fn thirty_two() -> f64 {
    32.0
}
fn volts() -> f64 {
    230.0
}
fn three() -> u8 {
    3
}
fn sixteen() -> f64 {
    16.0
}
fn six() -> f64 {
    6.0
}
fn sixty() -> f64 {
    60.0
}
fn arrival_soc() -> (f64, f64) {
    (0.1, 0.5)
}
fn dwell() -> (Duration, Duration) {
    (
        Duration::from_secs(2 * 3600),
        Duration::from_secs(10 * 3600),
    )
}
fn tokens() -> Vec<String> {
    vec!["SIM-TOKEN".into()]
}

impl Group {
    /// A group with every default, of `count` stations doing `mode`.
    pub fn new(name: &str, count: u32, mode: Mode) -> Group {
        Group {
            name: name.to_string(),
            count,
            prefix: None,
            first: 1,
            v16_share: half(),
            evses: two(),
            password: None,
            mode,
            speed: unit(),
            start_after: Duration::ZERO,
            ramp: Duration::ZERO,
            meter_interval: minute(),
            session_gap: gap(),
            session_energy_kwh: energy(),
            max_power_kw: power(),
            fault_rate: two_percent(),
            offline_rate: two_percent(),
            offline_for: minute(),
            tokens: tokens(),
            rate: unit(),
            meter_share: three_quarters(),
            evse_max_a: thirty_two(),
            voltage: volts(),
            cars: Vec::new(),
        }
    }

    /// The id of the group's `n`th station (from 0).
    pub fn station_id(&self, n: u32) -> String {
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| format!("{}-", self.name));
        format!("{prefix}{:05}", self.first + n)
    }
}

/// Why a scenario is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML or not the expected fields.
    #[error("scenario: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value out of range.
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Reads a scenario from TOML text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text)?;
        s.check()?;
        Ok(s)
    }

    /// Checks ranges that TOML types cannot express.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.groups.is_empty() {
            return Err(ScenarioError::Invalid("no [[group]]".into()));
        }
        for g in &self.groups {
            let bad = |what: &str| Err(ScenarioError::Invalid(format!("group {}: {what}", g.name)));
            if !(0.0..=1.0).contains(&g.v16_share) || !(0.0..=1.0).contains(&g.meter_share) {
                return bad("shares are between 0 and 1");
            }
            if g.evses == 0 || g.evses > 32 {
                return bad("evses is 1 to 32");
            }
            if g.speed <= 0.0 || g.rate <= 0.0 || g.max_power_kw <= 0.0 {
                return bad("speed, rate and max_power_kw are positive");
            }
            let positive = |x: f64| x.is_finite() && x > 0.0;
            if !positive(g.voltage) || !positive(g.evse_max_a) || g.evse_max_a > 1000.0 {
                return bad("evse_max_a and voltage are positive");
            }
            for c in &g.cars {
                let car = |what: &str| bad(&format!("car {}: {what}", c.name));
                if c.phases != 1 && c.phases != 3 {
                    return car("phases is 1 or 3");
                }
                if !(c.share > 0.0 && c.max_current_a > 0.0 && c.battery_kwh > 0.0) {
                    return car("share, max_current_a and battery_kwh are positive");
                }
                if !(0.0..=c.max_current_a).contains(&c.min_current_a) {
                    return car("min_current_a is between 0 and max_current_a");
                }
                let (lo, hi) = c.arrival_soc;
                if !(0.0 <= lo && lo <= hi && hi < c.target_soc && c.target_soc <= 1.0) {
                    return car("arrival_soc is a range below target_soc, which is at most 1");
                }
                if c.dwell.0.is_zero() || c.dwell.0 > c.dwell.1 {
                    return car("dwell is a positive range");
                }
            }
            if g.tokens.is_empty() || g.tokens.iter().any(|t| t.is_empty() || t.len() > 20) {
                return bad("tokens have 1 to 20 characters (the 1.6 limit)");
            }
        }
        Ok(())
    }

    /// How many stations in all.
    pub fn stations(&self) -> u64 {
        self.groups.iter().map(|g| g.count as u64).sum()
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("`{s}`: {e}"))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn duration_range<'de, D: Deserializer<'de>>(d: D) -> Result<(Duration, Duration), D::Error> {
    let s = String::deserialize(d)?;
    let (a, b) = s.split_once("..").unwrap_or((&s, &s));
    let (a, b) = (
        parse_duration(a).map_err(serde::de::Error::custom)?,
        parse_duration(b).map_err(serde::de::Error::custom)?,
    );
    if a > b {
        return Err(serde::de::Error::custom(format!("`{s}`: empty range")));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_scenario() {
        let s = Scenario::parse(
            r#"
            url = "ws://127.0.0.1:8180/ocpp"
            duration = "90s"
            [[group]]
            name = "depot"
            count = 10
            v16_share = 0.3
            session_gap = "1m..5m"
            ramp = "2s"
            [[group]]
            name = "bench"
            count = 5
            mode = "steady"
            "#,
        )
        .expect("valid");
        assert_eq!(s.duration, Some(Duration::from_secs(90)));
        assert_eq!(s.stations(), 15);
        assert_eq!(s.groups[0].session_gap.0, Duration::from_secs(60));
        assert_eq!(s.groups[1].mode, Mode::Steady);
        assert_eq!(s.groups[0].station_id(0), "depot-00001");
    }

    #[test]
    fn refuses_nonsense() {
        let bad = r#"
            url = "ws://x/ocpp"
            [[group]]
            name = "g"
            count = 1
            v16_share = 2.0
        "#;
        assert!(Scenario::parse(bad).is_err());
        assert!(Scenario::parse("url = \"ws://x\"\ngroup = []").is_err());
        assert!(
            Scenario::parse("url = \"ws://x\"\n[[group]]\nname = \"g\"\ncount = 1\nspeling = 1")
                .is_err()
        );
    }
}
