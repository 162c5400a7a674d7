//! Load on a site that is not charging, as measured now: a building meter, a heat pump, solar
//! (negative), pushed through the API every few seconds. A group's configured `otherLoadA`
//! is what is assumed without a measurement; a fresh measurement takes its place in the live
//! division, so the cars get what the building leaves.
//!
//! # Invariants
//!
//! - A measurement holds for [`FRESH`] after it was taken; then the configured value applies
//!   again (a meter that falls silent does not leave its last low reading in force).
//! - Only the live division uses measurements. The safe default a station falls back to
//!   without the CSMS keeps the configured value, the load assumed when nobody measures.
//! - Measurements are kept in memory: after a restart the configured value holds until the
//!   meter's next push.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::Time;
use crate::sites::Site;

/// How long a measurement holds.
pub const FRESH: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// A measurement has the site divided again at once only when it moved by this much (A, on
/// some phase) since the last that did: a meter's noise does not rewrite the stations'
/// profiles every few seconds (the next division takes the latest all the same).
pub const DEAD_BAND_A: f64 = 2.0;

/// A group's load that is not charging, as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Per site phase, A (negative: generation).
    pub current_a: [f64; 3],
    /// When it was measured.
    pub at: Time,
}

/// The latest measurement of each site group, and the sites whose measurements changed since
/// load management last looked.
#[derive(Debug, Default)]
pub struct OtherLoads {
    latest: Mutex<HashMap<(String, String), Measured>>,
    /// The last measurement of each group that had its site divided again.
    acted_on: Mutex<HashMap<(String, String), [f64; 3]>>,
    changed: Mutex<HashSet<String>>,
    /// Told when a measurement arrives.
    pub arrived: tokio::sync::Notify,
}

impl OtherLoads {
    /// Records a group's measurement (a later one replaces it; an older one is ignored);
    /// returns whether it was taken.
    pub fn measure(&self, site_id: &str, group_id: &str, m: Measured) -> bool {
        let Ok(mut latest) = self.latest.lock() else {
            return false;
        };
        let key = (site_id.to_string(), group_id.to_string());
        if latest.get(&key).is_some_and(|old| old.at > m.at) {
            return false;
        }
        latest.insert(key.clone(), m);
        drop(latest);
        let moved = self.acted_on.lock().is_ok_and(|mut acted| {
            let moved = acted.get(&key).is_none_or(|before| {
                before
                    .iter()
                    .zip(&m.current_a)
                    .any(|(b, a)| (a - b).abs() >= DEAD_BAND_A)
            });
            if moved {
                acted.insert(key, m.current_a);
            }
            moved
        });
        if moved {
            if let Ok(mut changed) = self.changed.lock() {
                changed.insert(site_id.to_string());
            }
            self.arrived.notify_one();
        }
        true
    }

    /// The sites whose measurements changed since the last call.
    pub fn take_changed(&self) -> Vec<String> {
        self.changed
            .lock()
            .map(|mut c| c.drain().collect())
            .unwrap_or_default()
    }

    /// A group's measurement in force at `now`, if any.
    pub fn fresh(&self, site_id: &str, group_id: &str, now: Time) -> Option<Measured> {
        let latest = self.latest.lock().ok()?;
        latest
            .get(&(site_id.to_string(), group_id.to_string()))
            .copied()
            .filter(|m| now - m.at < FRESH && m.at <= now + FRESH)
    }

    /// The site as the live division sees it at `now`: each group's other load is its fresh
    /// measurement where there is one (the site itself, not a copy, where there is none).
    pub fn applied<'a>(&self, site: &'a Site, now: Time) -> std::borrow::Cow<'a, Site> {
        let measured: Vec<(usize, Measured)> = site
            .groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| Some((i, self.fresh(&site.id, &g.id, now)?)))
            .collect();
        if measured.is_empty() {
            return std::borrow::Cow::Borrowed(site);
        }
        let mut live = site.clone();
        for (i, m) in measured {
            live.groups[i].other_load_a = Some(m.current_a);
        }
        std::borrow::Cow::Owned(live)
    }

    /// Forgets the measurements of a site (it was removed).
    pub fn forget(&self, site_id: &str) {
        if let Ok(mut latest) = self.latest.lock() {
            latest.retain(|(s, _), _| s != site_id);
        }
        if let Ok(mut acted) = self.acted_on.lock() {
            acted.retain(|(s, _), _| s != site_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let site: Result<Site, _> = serde_json::from_value(serde_json::json!({
            "id": "s", "groups": [{"id": "grid", "phaseLimitsA": [100, 100, 100], "otherLoadA": [30, 30, 30]},
                                  {"id": "level-2", "parent": "grid", "phaseLimitsA": [50, 50, 50]}],
            "evses": [{"stationId": "A", "evseId": 1, "group": "level-2", "maxCurrentA": 80}]}));
        site.unwrap_or_else(|e| panic!("a site: {e}"))
    }

    fn at(s: i64) -> Time {
        chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::seconds(1_800_000_000 + s)
    }

    #[test]
    fn a_fresh_measurement_takes_the_place_of_the_configured_load_then_lapses() {
        let loads = OtherLoads::default();
        let m = Measured {
            current_a: [12.0, 8.0, -4.0],
            at: at(0),
        };
        assert!(loads.measure("s", "grid", m));
        assert_eq!(loads.take_changed(), vec!["s".to_string()]);
        assert!(loads.take_changed().is_empty());

        let s = site();
        assert!(
            matches!(loads.applied(&s, at(-1_000)), std::borrow::Cow::Borrowed(_)),
            "no measurement in force: the site itself, not a copy"
        );
        let live = loads.applied(&s, at(10));
        assert_eq!(live.groups[0].other_load_a, Some([12.0, 8.0, -4.0]));
        assert_eq!(
            live.groups[1].other_load_a, None,
            "another group is left as it is"
        );
        // A silent meter: the configured load again.
        let later = loads.applied(&s, at(10) + FRESH);
        assert_eq!(later.groups[0].other_load_a, Some([30.0, 30.0, 30.0]));
        // An older measurement arriving late changes nothing.
        let old = Measured {
            current_a: [90.0; 3],
            at: at(-5),
        };
        assert!(!loads.measure("s", "grid", old));
        assert_eq!(loads.fresh("s", "grid", at(1)), Some(m));
        loads.forget("s");
        assert_eq!(loads.fresh("s", "grid", at(1)), None);
    }

    #[test]
    fn a_meters_noise_does_not_have_the_site_divided_again() {
        let loads = OtherLoads::default();
        let m = |a: f64, s| Measured {
            current_a: [a, 8.0, -4.0],
            at: at(s),
        };
        assert!(loads.measure("s", "grid", m(12.0, 0)));
        assert_eq!(loads.take_changed().len(), 1);
        // Within the dead band: taken (the next division uses it), but no division for it.
        assert!(loads.measure("s", "grid", m(13.5, 1)));
        assert!(loads.take_changed().is_empty());
        assert_eq!(loads.fresh("s", "grid", at(2)), Some(m(13.5, 1)));
        // Moved by the dead band from the last acted on: divided again.
        assert!(loads.measure("s", "grid", m(14.0, 2)));
        assert_eq!(loads.take_changed().len(), 1);
    }

    #[test]
    fn the_division_follows_the_measurement() {
        let loads = OtherLoads::default();
        let s = site();
        let session = crate::sites::SiteSession {
            station_id: "A".into(),
            evse_id: 1,
            phases: None,
            min_current_a: None,
            max_current_a: Some(80.0),
            priority: None,
            needed_current_a: None,
        };
        let now = at(0);
        let configured = s.allocate(std::slice::from_ref(&session), now);
        assert_eq!(
            configured.map(|a| a[0].current_a).ok(),
            Some(50.0),
            "the feeder binds"
        );
        loads.measure(
            "s",
            "grid",
            Measured {
                current_a: [70.0; 3],
                at: now,
            },
        );
        let measured = loads.applied(&s, now).allocate(&[session], now);
        assert_eq!(
            measured.map(|a| a[0].current_a).ok(),
            Some(30.0),
            "the building takes 70"
        );
    }
}
