//! The live site: load management applied to the stations. On every event that changes what a
//! site must divide (a transaction starts or ends), and on a timer, each site's capacity is
//! divided again ([`crate::sites::Site::allocate`]) and the limits that changed are sent to the
//! stations as TxProfiles. Each station of a site also gets a safe TxDefaultProfile when it
//! boots, so that the site stays inside its limits if the stations lose the CSMS.
//!
//! # Invariants
//!
//! - Decreases go out before increases (each round to its stations at once, a few dozen at a
//!   time), and increases wait until the cars have had time to
//!   follow the last decrease at the site ([`LoadConfig::settle`]), so that the site is not
//!   over its limit while stations change over; a decrease is always sent, an increase only when it is worth it
//!   (at least the hysteresis) and the EVSE's profile was not rewritten within the minimum
//!   interval, so that stations (and their flash) are not flooded.
//! - The profiles Arus sends for load management have ids and a stack level of their own
//!   ([`TX_PROFILE_ID_BASE`], [`DEFAULT_PROFILE_ID`], [`LoadConfig::stack_level`]), so they
//!   replace each other and nothing an operator installed.
//! - Every profile goes through the commander like any command: checked, recorded, and
//!   recorded as installed only when the station accepts it.

mod defaults;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::Utc;

use crate::commander::{Commander, Submission};
use crate::commands::{
    ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingRateUnit,
    ChargingSchedule, Command, SchedulePeriod, SetChargingProfile,
};
use crate::events::{Event, EventBus};
use crate::sites::Site;
use crate::store::Store;

/// The id of the TxProfile load management keeps on EVSE `n`: this plus `n`.
pub const TX_PROFILE_ID_BASE: i64 = 900_000_000;

/// The id of the safe TxDefaultProfile load management keeps on each station (on EVSE `n`
/// instead of 0, this less `n`).
pub const DEFAULT_PROFILE_ID: i64 = 899_999_999;

/// Profile ids from here up are load management's own.
pub const RESERVED_IDS_FROM: i64 = DEFAULT_PROFILE_ID - 10_000;

/// How long a load management TxProfile lasts: if the CSMS goes away, the station falls back
/// to its safe TxDefaultProfile within this time.
pub const TX_PROFILE_SECONDS: i64 = 900;

/// When a TxProfile still in force is sent again, before it runs out.
const RENEW_AFTER: Duration = Duration::from_secs(600);

/// How early a profile's schedule starts.
const START_EARLY_S: i64 = 60;

/// Who the commands are recorded as coming from.
pub(crate) const REQUESTED_BY: &str = "load management";

/// How load management behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadConfig {
    /// An increase smaller than this, in A, is not sent.
    pub hysteresis_a: f64,
    /// An EVSE's profile is increased at most this often.
    pub min_interval: Duration,
    /// The stack level of the profiles sent.
    pub stack_level: u32,
    /// How often every site is divided again without an event.
    pub tick: Duration,
    /// How long after a decrease at a site increases wait, so that the cars have followed it.
    pub settle: Duration,
    /// How long after a station booted or connected, or was sent profiles, it is asked for
    /// its composite schedule to verify what it applied ([`crate::verify`]); zero: never.
    pub verify_after: Duration,
}

impl Default for LoadConfig {
    fn default() -> LoadConfig {
        LoadConfig {
            hysteresis_a: 1.0,
            min_interval: Duration::from_secs(10),
            stack_level: 1,
            tick: Duration::from_secs(60),
            settle: Duration::from_secs(5),
            verify_after: Duration::from_secs(30),
        }
    }
}

/// What was last sent to an EVSE.
#[derive(Debug, Clone, Copy)]
struct Sent {
    limit_a: f64,
    at: tokio::time::Instant,
    /// The same moment on the clock, to compare with the station's readings.
    sent_at: crate::Time,
}

/// How many profiles of one round are on their way at once.
const ROUND_CONCURRENCY: usize = 64;

/// How long load management waits before dividing again after the store failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// How soon a site is divided again after its cars were seen to draw differently (so that
/// the readings of many cars make one division).
const LEARNT_DELAY: Duration = Duration::from_secs(1);

/// What load management shares with the operator API.
#[derive(Debug, Default)]
pub struct LoadShared {
    /// What the cars are seen to draw.
    pub observed: crate::observed::Observations,
    /// Told when an operator changed or removed a site: its stations get their new safe
    /// default and the site is divided again at once.
    pub sites_changed: tokio::sync::Notify,
    /// The load that is not charging, as measured now.
    pub other_loads: crate::other_load::OtherLoads,
}

/// Which sites to divide again.
enum Which {
    /// Every site.
    All,
    /// The sites of a station.
    Station(String),
    /// Those whose time has come.
    Due,
    /// Those an operator changed.
    Changed,
    /// These.
    Sites(Vec<String>),
}

/// The live load manager.
pub struct LoadManager {
    /// Itself, for the tasks it starts.
    pub(crate) me: Weak<LoadManager>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) commander: Arc<Commander>,
    events: EventBus,
    pub(crate) config: LoadConfig,
    /// What the cars are seen to draw, and word of changed sites.
    shared: Arc<LoadShared>,
    sent: Mutex<HashMap<(String, u32), Sent>>,
    /// The sites as last acted on, to follow what an operator changes: `None` until they are
    /// first read.
    known: Mutex<Option<Arc<Vec<Site>>>>,
    /// When each site last had a limit lowered.
    lowered: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Since when each site's raises have been held back.
    holding: Mutex<HashMap<String, tokio::time::Instant>>,
    /// The stations connected and booted (profiles go to no other).
    up: Mutex<std::collections::HashSet<String>>,
    /// The sites as last read, and when: read again at most once a second, so that a busy
    /// fleet's transaction events do not each cost a query.
    sites: Mutex<Option<(tokio::time::Instant, Arc<Vec<Site>>)>>,
    /// The stations of the sites divided whose model ignores its profiles (as last read).
    unsteered: Mutex<std::collections::HashSet<String>>,
    /// Where each station's verification is.
    pub(crate) checks: Mutex<HashMap<String, crate::verify::Checking>>,
    /// How many profiles have been sent to each station (to tell a verification that raced a
    /// change).
    sends: Mutex<HashMap<String, u64>>,
}

/// How long the sites read are used before they are read again.
const SITES_FRESH: Duration = Duration::from_secs(1);

impl LoadManager {
    /// A manager sending through `commander`.
    pub fn new(
        store: Arc<dyn Store>,
        commander: Arc<Commander>,
        events: EventBus,
        config: LoadConfig,
        shared: Arc<LoadShared>,
    ) -> Arc<LoadManager> {
        Arc::new_cyclic(|me| LoadManager {
            me: me.clone(),
            store,
            commander,
            events,
            config,
            shared,
            sent: Mutex::default(),
            known: Mutex::default(),
            up: Mutex::default(),
            lowered: Mutex::default(),
            holding: Mutex::default(),
            sites: Mutex::default(),
            checks: Mutex::default(),
            unsteered: Mutex::default(),
            sends: Mutex::default(),
        })
    }

    /// Takes back what the cars of the transactions going on need, as recorded: a restart
    /// does not lose it. Those of transactions that ended meanwhile are closed.
    async fn restore_needs(&self) {
        let open = match crate::needs::open(self.store.as_ref()).await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "the needs of the cars charging could not be read");
                return;
            }
        };
        for told in open {
            let going = self
                .store
                .transaction(&told.station_id, &told.transaction_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|t| t.tx.fold.ended.is_none());
            if going {
                self.shared.observed.set_needs(
                    &told.station_id,
                    &told.transaction_id,
                    told.needs(),
                );
            } else {
                let _ = crate::needs::ended(
                    self.store.as_ref(),
                    &told.station_id,
                    &told.transaction_id,
                )
                .await;
            }
        }
    }

    /// How many profiles have been sent to a station.
    pub(crate) fn sends_to(&self, station: &str) -> u64 {
        self.sends
            .lock()
            .ok()
            .and_then(|s| s.get(station).copied())
            .unwrap_or(0)
    }

    /// Runs for ever: divides again the sites an event concerns, and every site on the timer.
    pub async fn run(self: Arc<Self>) {
        let mut rx = self.events.subscribe();
        self.restore_needs().await;
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Per site: when an increase held back by the minimum interval may go, or its limits
        // change.
        let mut due: HashMap<String, tokio::time::Instant> = HashMap::new();
        loop {
            let which = tokio::select! {
                _ = tick.tick() => Which::All,
                () = self.shared.sites_changed.notified() => {
                    if let Ok(mut cached) = self.sites.lock() {
                        *cached = None;
                    }
                    Which::Changed
                }
                () = async {
                    match due.values().min() {
                        Some(d) => tokio::time::sleep_until(*d).await,
                        None => std::future::pending().await,
                    }
                } => Which::Due,
                () = self.shared.other_loads.arrived.notified() => {
                    Which::Sites(self.shared.other_loads.take_changed())
                }
                e = rx.recv() => match e {
                    Ok(e) => match &e.event {
                        Event::Transaction { station_id, transaction_id, event, .. }
                            if event == "Started" || event == "Ended" =>
                        {
                            if event == "Ended" {
                                if self.shared.observed.needs(station_id, transaction_id).is_some()
                                    && let Err(e) = crate::needs::ended(self.store.as_ref(), station_id, transaction_id).await
                                {
                                    tracing::warn!(station = %station_id, error = %e, "the needs of a transaction that ended could not be closed");
                                }
                                self.shared.observed.forget(station_id, transaction_id);
                            }

                            Which::Station(station_id.clone())
                        }
                        Event::Transaction {
                            station_id,
                            transaction_id,
                            evse_id: Some(evse_id),
                            drawing: Some(drawing),
                            started_at,
                            ..
                        } => {
                            // A car seen to draw differently: its site is divided again soon.
                            if let Some(site) = self.learn(station_id, transaction_id, *evse_id, *started_at, drawing).await {
                                let at = tokio::time::Instant::now() + LEARNT_DELAY;
                                let d = due.entry(site).or_insert(at);
                                *d = (*d).min(at);
                            }
                            continue;
                        }
                        // Profiles only to a station let in (a Pending or Rejected one answers
                        // nothing but its boot).
                        Event::ChargingNeeds {
                            station_id,
                            evse_id,
                            transaction_id,
                            transaction_energy_wh,
                            departure,
                            energy_wh,
                            max_current_a,
                            min_current_a,
                            said_by,
                        } => {
                            let needs = crate::observed::Needs {
                                departure: *departure,
                                energy_wh: *energy_wh,
                                energy_then_wh: *transaction_energy_wh,
                                max_current_a: *max_current_a,
                                min_current_a: *min_current_a,
                            };
                            let by_car = said_by == crate::needs::CAR;
                            if !self.charging_needs(station_id, *evse_id, transaction_id, needs, by_car).await {
                                continue;
                            }
                            Which::Station(station_id.clone())
                        }
                        // A station that was let in before may reconnect without booting: it is
                        // up again, and what it holds is verified (it may have lost it).
                        Event::StationConnected { station_id, .. } => {
                            let accepted = self.store.station(station_id).await.ok().flatten().is_some_and(|s| {
                                s.registration == Some(crate::provisioning::RegistrationStatus::Accepted)
                            });
                            if accepted {
                                if let Ok(mut up) = self.up.lock() {
                                    up.insert(station_id.clone());
                                }
                                self.verify_later(station_id, crate::verify::Why::Connected);
                            }
                            continue;
                        }
                        Event::StationDisconnected { station_id, .. } => {
                            if let Ok(mut up) = self.up.lock() {
                                up.remove(station_id);
                            }
                            continue;
                        }
                        Event::Boot { station_id, status }
                            if *status == crate::provisioning::RegistrationStatus::Accepted =>
                        {
                            if let Ok(mut up) = self.up.lock() {
                                up.insert(station_id.clone());
                            }
                            self.booted(station_id).await;
                            self.verify_later(station_id, crate::verify::Why::Boot);
                            // Its TxProfiles are gone with the reboot: the division is sent anew.
                            if let Ok(mut sent) = self.sent.lock() {
                                sent.retain(|(s, _), _| s != station_id);
                            }
                            Which::Station(station_id.clone())
                        }
                        _ => continue,
                    },
                    // Fell behind: divide everything again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Which::All,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            let changed = self.follow_site_changes().await;
            let now = tokio::time::Instant::now();
            // The sites an operator changed are divided whatever woke the loop: the change may
            // have been seen here first.
            let ready: Vec<String> = due
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(s, _)| s.clone())
                .collect();
            let divided = match &which {
                Which::Changed | Which::Due => {
                    self.rebalance_where(|s| changed.contains(&s.id) || ready.contains(&s.id))
                        .await
                }
                Which::All => self.rebalance_where(|_| true).await,
                Which::Sites(ids) => {
                    self.rebalance_where(|s| {
                        ids.contains(&s.id) || changed.contains(&s.id) || ready.contains(&s.id)
                    })
                    .await
                }
                Which::Station(id) => {
                    self.rebalance_where(|s| {
                        changed.contains(&s.id)
                            || ready.contains(&s.id)
                            || s.evses.iter().any(|e| &e.station_id == id)
                    })
                    .await
                }
            };
            match divided {
                Ok(held) => {
                    // Every site that was due was divided now, unless it is gone: those leave
                    // the schedule; the ones divided stay when due again.
                    due.retain(|site, at| *at > now || held.iter().any(|(s, _)| s == site));
                    for (site, at) in held {
                        match at {
                            Some(at) => due.insert(site, at),
                            None => due.remove(&site),
                        };
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "load management could not divide the sites");
                    // Try again in a while, not at once.
                    let later = tokio::time::Instant::now() + RETRY_AFTER_ERROR;
                    for at in due.values_mut() {
                        *at = (*at).max(later);
                    }
                }
            }
        }
    }

    /// The sites, read at most once a second (a site changed within that second is seen at
    /// the next event or tick).
    pub(crate) async fn sites(&self) -> Result<Arc<Vec<Site>>, crate::store::StoreError> {
        let now = tokio::time::Instant::now();
        if let Ok(cached) = self.sites.lock()
            && let Some((at, sites)) = cached.as_ref()
            && now.duration_since(*at) < SITES_FRESH
        {
            return Ok(sites.clone());
        }
        self.read_sites().await
    }

    /// The sites as stored now.
    async fn read_sites(&self) -> Result<Arc<Vec<Site>>, crate::store::StoreError> {
        let now = tokio::time::Instant::now();
        let sites = Arc::new(crate::sites::stored(self.store.as_ref()).await?);
        if let Ok(mut cached) = self.sites.lock() {
            *cached = Some((now, sites.clone()));
        }
        Ok(sites)
    }

    /// Divides again the site of `station` (every site when `None`) and sends what changed;
    /// returns, per site divided, when it must be divided again (an increase held back by the
    /// minimum interval, a limit window starting or ending, a profile to renew).
    pub async fn rebalance(
        &self,
        station: Option<&str>,
    ) -> Result<Vec<(String, Option<tokio::time::Instant>)>, crate::store::StoreError> {
        self.rebalance_where(|s| {
            station.is_none_or(|id| s.evses.iter().any(|e| e.station_id == id))
        })
        .await
    }

    /// Divides again the sites `pick` chooses; see [`LoadManager::rebalance`].
    async fn rebalance_where(
        &self,
        pick: impl Fn(&Site) -> bool,
    ) -> Result<Vec<(String, Option<tokio::time::Instant>)>, crate::store::StoreError> {
        let sites = self.sites().await?;
        let mut out = Vec::new();
        for site in sites.iter().filter(|s| pick(s)) {
            out.push((site.id.clone(), self.apply(site).await?));
        }
        Ok(out)
    }

    /// K15: a car's needs were said. On a site, its TxProfile is sent anew from the next
    /// division (which the needs shape); returns `true` then. Elsewhere, an ISO 15118 car
    /// (`by_car`) gets a TxProfile at once, the most it takes, for its whole transaction; the
    /// needs an operator says of a car elsewhere change nothing at its station.
    async fn charging_needs(
        &self,
        station_id: &str,
        evse_id: u32,
        transaction_id: &str,
        needs: crate::observed::Needs,
        by_car: bool,
    ) -> bool {
        self.shared
            .observed
            .set_needs(station_id, transaction_id, needs);
        let on_site = self
            .sites()
            .await
            .is_ok_and(|sites| sites.iter().any(|s| s.evse(station_id, evse_id).is_some()));
        if on_site {
            // The station expects a profile after its car's needs (2.0.1 errata to K15.FR.17),
            // even one it already holds.
            if let Ok(mut sent) = self.sent.lock() {
                sent.remove(&(station_id.to_string(), evse_id));
            }
            return true;
        }
        if !by_car {
            return false;
        }
        let limit = needs
            .max_current_a
            .unwrap_or(crate::sites::DEFAULT_EVSE_MAX_A);
        let p = profile(
            TX_PROFILE_ID_BASE + i64::from(evse_id),
            self.config.stack_level,
            ChargingProfilePurpose::Tx,
            limit,
            3,
        );
        self.send(station_id, evse_id, p).await;
        false
    }

    /// Learns from what a session's car drew; returns its site if that changed what the car is
    /// given.
    async fn learn(
        &self,
        station_id: &str,
        transaction_id: &str,
        evse_id: u32,
        started_at: Option<crate::Time>,
        drawing: &crate::events::Drawing,
    ) -> Option<String> {
        let sites = self.sites().await.ok()?;
        let site = sites
            .iter()
            .find(|s| s.evse(station_id, evse_id).is_some())?;
        // What the EVSE was sent before this session began is not what its car was offered.
        let offered = self.sent.lock().ok().and_then(|sent| {
            sent.get(&(station_id.to_string(), evse_id))
                .filter(|s| started_at.is_none_or(|t| s.sent_at >= t))
                .map(|s| crate::observed::Offered {
                    limit_a: s.limit_a,
                    at: s.sent_at,
                })
        });
        let drawn = drawing.current_a.iter().copied().fold(0.0, f64::max);
        let was = self
            .shared
            .observed
            .set_drawn(station_id, transaction_id, drawn);
        // A car that cannot be steered is given what it draws: a change is a reason to divide.
        let unsteered = self.unsteered.lock().is_ok_and(|u| u.contains(station_id));
        if unsteered && was.is_none_or(|w| (w - drawn).abs() >= crate::observed::CAP_STEP_A) {
            return Some(site.id.clone());
        }
        let before = self.shared.observed.get(station_id, transaction_id);
        // A station clock ahead of Arus's must not make a reading look later than it was.
        let after = before.learn(
            drawing.current_a,
            drawing.at.min(Utc::now()),
            offered,
            crate::sites::DEFAULT_MIN_A,
        );
        self.shared
            .observed
            .set(station_id, transaction_id, after)
            .then(|| site.id.clone())
    }

    async fn apply(
        &self,
        site: &Site,
    ) -> Result<Option<tokio::time::Instant>, crate::store::StoreError> {
        // The other load measured now, where it is.
        let site = &self.shared.other_loads.applied(site, Utc::now());
        let live =
            crate::site_live::live_sessions(self.store.as_ref(), site, &self.shared.observed)
                .await?;
        let sessions = &live.sessions;
        // The least time between rewrites, per station: Arus's, or its model's if longer.
        let mut interval: HashMap<String, Duration> = HashMap::new();
        for s in sessions {
            if !interval.contains_key(&s.station_id) {
                let quirks = crate::quirks::of_station(self.store.as_ref(), &s.station_id)
                    .await
                    .ok()
                    .flatten();
                if let Ok(mut u) = self.unsteered.lock() {
                    if quirks.as_ref().is_some_and(|q| q.ignores_profiles) {
                        u.insert(s.station_id.clone());
                    } else {
                        u.remove(&s.station_id);
                    }
                }
                let model = quirks
                    .and_then(|q| q.min_rewrite_interval_s)
                    .map(|s| Duration::from_secs(u64::from(s)));
                let own = self.config.min_interval;
                interval.insert(s.station_id.clone(), model.map_or(own, |m| m.max(own)));
            }
        }
        let allocations = match crate::site_live::allocate_live(site, &live, Utc::now()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(site = %site.id, error = %e, "site cannot be divided");
                return Ok(None);
            }
        };
        let now = tokio::time::Instant::now();
        let mut decreases = Vec::new();
        let mut increases = Vec::new();
        let mut due: Option<tokio::time::Instant> = None;
        // What the stations hold: a TxProfile that is gone (its transaction ended, the station
        // rebooted) is sent anew, whatever was sent before.
        let mut held = std::collections::HashSet::new();
        for station in interval.keys() {
            for p in self.store.charging_profiles(station).await? {
                held.insert((station.clone(), p.evse_id, p.charging_profile.id));
            }
        }
        {
            let Ok(mut sent) = self.sent.lock() else {
                return Ok(None);
            };
            sent.retain(|(station, evse), s| {
                let here = site
                    .evses
                    .iter()
                    .any(|e| &e.station_id == station && e.evse_id == *evse);
                !here
                    || (held.contains(&(
                        station.clone(),
                        *evse,
                        TX_PROFILE_ID_BASE + i64::from(*evse),
                    ))
                        // Profiles expire: one due for renewal is sent again.
                        && now.duration_since(s.at) < RENEW_AFTER)
            });
            for a in &allocations {
                let key = (a.station_id.clone(), a.evse_id);
                let phases = a.site_phases.len() as u32;
                let gap = interval
                    .get(&a.station_id)
                    .copied()
                    .unwrap_or(self.config.min_interval);
                match sent.get(&key) {
                    Some(s) if a.current_a < s.limit_a => {
                        decreases.push((key, a.current_a, phases))
                    }
                    Some(s) if a.current_a - s.limit_a < self.config.hysteresis_a => {}
                    Some(s) if now.duration_since(s.at) < gap => {
                        let at = s.at + gap;
                        due = Some(due.map_or(at, |d| d.min(at)));
                    }
                    _ => increases.push((key, a.current_a, phases)),
                }
            }
        }
        let lowering = decreases.len();
        // Cars take time to follow a lower limit (IEC 61851-1 gives an EV 5 s): nothing goes up
        // until the last decrease at the site has had that time.
        let since_lowered = |site_id: &str| {
            self.lowered
                .lock()
                .ok()
                .and_then(|l| l.get(site_id).copied())
        };
        if lowering > 0
            && let Ok(mut l) = self.lowered.lock()
        {
            l.insert(site.id.clone(), now);
        }
        // ... but not for ever: decreases coming one after the other (cars tapering) hold raises
        // back at most a few settle times.
        let holding = self
            .holding
            .lock()
            .ok()
            .and_then(|h| h.get(&site.id).copied());
        let held_too_long =
            holding.is_some_and(|h| now.duration_since(h) >= self.config.settle * 4);
        if let Some(at) = since_lowered(&site.id).map(|t| t + self.config.settle)
            && at > now
            && !increases.is_empty()
            && !held_too_long
        {
            increases.clear();
            due = Some(due.map_or(at, |d| d.min(at)));
            if let Ok(mut h) = self.holding.lock() {
                h.entry(site.id.clone()).or_insert(now);
            }
        } else if let Ok(mut h) = self.holding.lock() {
            h.remove(&site.id);
        }
        // Each round goes to the stations at once, a few dozen at a time: the decreases, then
        // (only if every one was accepted) the raises.
        let lowered = self.send_round(&site.id, decreases, now).await;
        if lowered {
            self.send_round(&site.id, increases, now).await;
        } else if !increases.is_empty() {
            tracing::warn!(site = %site.id, "increases held back: a decrease was not accepted");
        }
        // This site's profiles to renew (another site's are that site's business).
        let renew = self.sent.lock().ok().and_then(|sent| {
            sent.iter()
                .filter(|((station, evse), _)| site.evse(station, *evse).is_some())
                .map(|(_, s)| s.at + RENEW_AFTER)
                .min()
        });
        due = due.into_iter().chain(renew).min();
        // Sessions that ended: their TxProfile ended with them.
        if let Ok(mut sent) = self.sent.lock() {
            sent.retain(|(station, evse), _| {
                !site
                    .evses
                    .iter()
                    .any(|e| &e.station_id == station && e.evse_id == *evse)
                    || allocations
                        .iter()
                        .any(|a| &a.station_id == station && a.evse_id == *evse)
            });
        }
        // The limits' next change is a reason to divide again then.
        let change = site.next_change(Utc::now()).and_then(|t| {
            let wait = (t - Utc::now()).to_std().ok()?;
            Some(now + wait)
        });
        Ok(due.into_iter().chain(change).min())
    }

    /// Sends TxProfiles with these limits, at most [`ROUND_CONCURRENCY`] at a time, and
    /// records those accepted; whether all were.
    async fn send_round(
        &self,
        site_id: &str,
        limits: Vec<((String, u32), f64, u32)>,
        now: tokio::time::Instant,
    ) -> bool {
        use futures_util::StreamExt;
        let sends = futures_util::stream::iter(limits.into_iter().map(
            |((station, evse), limit, phases)| async move {
                let accepted = self
                    .send(&station, evse, self.tx_profile(evse, limit, phases))
                    .await;
                if accepted {
                    self.verify_later(&station, crate::verify::Why::Sent);
                }
                if accepted && let Ok(mut sent) = self.sent.lock() {
                    sent.insert(
                        (station, evse),
                        Sent {
                            limit_a: limit,
                            at: now,
                            sent_at: Utc::now(),
                        },
                    );
                }
                accepted
            },
        ))
        .buffer_unordered(ROUND_CONCURRENCY);
        let results: Vec<bool> = sends.collect().await;
        let all = results.iter().all(|a| *a);
        if !all {
            tracing::debug!(site = %site_id, refused = results.iter().filter(|a| !**a).count(), "profiles not accepted");
        }
        all
    }

    fn tx_profile(&self, evse: u32, limit_a: f64, phases: u32) -> ChargingProfile {
        let mut p = profile(
            TX_PROFILE_ID_BASE + i64::from(evse),
            self.config.stack_level,
            ChargingProfilePurpose::Tx,
            limit_a,
            phases,
        );
        // It runs out unless renewed: without the CSMS the safe default takes over.
        for s in &mut p.schedules {
            s.duration_s = Some(TX_PROFILE_SECONDS + START_EARLY_S);
        }
        p
    }

    /// Submits one profile; whether the station accepted it.
    pub(crate) async fn send(
        &self,
        station_id: &str,
        evse_id: u32,
        profile: ChargingProfile,
    ) -> bool {
        self.send_answer(station_id, evse_id, profile).await
            == Some(crate::commands::ChargingProfileStatus::Accepted)
    }

    /// Submits one profile; the station's answer, if it answered.
    pub(crate) async fn send_answer(
        &self,
        station_id: &str,
        evse_id: u32,
        profile: ChargingProfile,
    ) -> Option<crate::commands::ChargingProfileStatus> {
        if let Ok(mut sends) = self.sends.lock() {
            *sends.entry(station_id.to_string()).or_default() += 1;
        }
        let submission = Submission {
            station_id: station_id.to_string(),
            command: Command::SetChargingProfile(SetChargingProfile {
                evse_id,
                charging_profile: profile,
            }),
            requested_by: REQUESTED_BY.into(),
            idempotency_key: None,
            queue_until: None,
            bulk_id: None,
        };
        let submitted = match self.commander.submit(submission).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(station = %station_id, evse = evse_id, error = %e, "load management profile not sent");
                return None;
            }
        };
        let record = match submitted.done {
            Some(done) => match done.await {
                Ok(r) => r,
                Err(_) => return None,
            },
            None => submitted.record,
        };
        match record.outcome {
            Some(crate::commands::Outcome::SetChargingProfile(o)) => Some(o.status),
            _ => None,
        }
    }
}

/// A profile of one period at `limit_a` on `phases` phases, from now.
pub(crate) fn profile(
    id: i64,
    stack_level: u32,
    purpose: ChargingProfilePurpose,
    limit_a: f64,
    phases: u32,
) -> ChargingProfile {
    ChargingProfile {
        id,
        stack_level,
        purpose,
        kind: ChargingProfileKind::Absolute,
        recurrency: None,
        valid_from: None,
        valid_to: None,
        transaction_id: None,
        schedules: vec![ChargingSchedule {
            id: None,
            // A minute early: a station whose clock is a little behind applies it at once
            // (1.6 §5.16.4 advises a start in the past).
            start: Some(Utc::now() - chrono::Duration::seconds(START_EARLY_S)),
            duration_s: None,
            rate_unit: ChargingRateUnit::A,
            min_rate: None,
            periods: vec![SchedulePeriod {
                start_s: 0,
                limit: limit_a,
                phases: Some(phases.clamp(1, 3)),
                phase_to_use: None,
            }],
        }],
    }
}
