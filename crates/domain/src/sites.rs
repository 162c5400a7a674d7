//! Sites: a grid connection and its parts (feeders, parking levels), each with a limit per
//! phase and/or in watts and the load on it that is not charging, and the EVSEs behind them
//! with the phase their connector's L1 is wired to. A site turns the sessions charging behind it
//! into an [`arus_allocation::Problem`] and the allocator's answer back into limits per EVSE,
//! each saying which limit binds.
//!
//! # Invariants
//!
//! - A site is checked whole before it is stored ([`Site::check`]): one root, parents named
//!   before their children, each EVSE in one existing group and on one site only.
//! - The load that is not charging (a building, or solar as a negative load) is taken off its
//!   group's limits before the division, never below zero.

use serde::{Deserialize, Serialize};

use arus_allocation::{Binding, Group as AllocGroup, Limit, Problem, Session};

/// A site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    /// Its id.
    pub id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The nominal voltage, phase to neutral, in V (default 230).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<f64>,
    /// The grid connection first, then its parts, each after its parent.
    pub groups: Vec<SiteGroup>,
    /// The EVSEs of the site.
    #[serde(default)]
    pub evses: Vec<SiteEvse>,
    /// Its time-of-use price curve: the price of energy per kWh in windows (0 outside every
    /// window); the energy of cars with a known departure is planned into the cheap hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prices: Vec<crate::plan::PriceWindow>,
}

/// A group of a site: the grid connection (no parent) or a part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteGroup {
    /// Its id, unique in the site.
    pub id: String,
    /// Its parent's id; none for the grid connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The most current on L1, L2 and L3, in A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_limits_a: Option<[f64; 3]>,
    /// The most power over all phases, in W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_w: Option<f64>,
    /// Load on it that is not charging, per phase, in A (negative for generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_load_a: Option<[f64; 3]>,
    /// Limits for stretches of time (an evening peak, a grid operator's signal), each
    /// replacing the limits above while it lasts; where two overlap, the later in the list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limit_schedule: Vec<LimitWindow>,
}

/// Limits of a group from `from` until `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitWindow {
    /// From when.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: crate::Time,
    /// Until when (for ever when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub to: Option<crate::Time>,
    /// The most current on L1, L2 and L3 meanwhile, in A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_limits_a: Option<[f64; 3]>,
    /// The most power meanwhile, in W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_w: Option<f64>,
    /// The window comes back every day or every week (from `from` on, lasting as long as
    /// from `from` to `to`): an evening peak, a night tariff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

/// How a limit window recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Repeat {
    /// Every 24 hours.
    Daily,
    /// Every 7 days.
    Weekly,
}

impl Repeat {
    pub(crate) fn period(self) -> chrono::TimeDelta {
        match self {
            Repeat::Daily => chrono::TimeDelta::days(1),
            Repeat::Weekly => chrono::TimeDelta::weeks(1),
        }
    }
}

/// Whether a window from `from` to `to`, repeating or not, holds at `t`.
pub(crate) fn window_holds(
    from: crate::Time,
    to: Option<crate::Time>,
    repeat: Option<Repeat>,
    t: crate::Time,
) -> bool {
    if t < from {
        return false;
    }
    match (repeat, to) {
        (Some(r), Some(to)) => {
            let period = r.period().num_seconds();
            (t - from).num_seconds().rem_euclid(period) < (to - from).num_seconds()
        }
        (_, to) => to.is_none_or(|to| t < to),
    }
}

impl LimitWindow {
    /// Whether the window holds at `t`.
    pub fn active_at(&self, t: crate::Time) -> bool {
        window_holds(self.from, self.to, self.repeat, t)
    }

    /// When the window next starts or ends after `t`, if it does.
    pub fn next_edge(&self, t: crate::Time) -> Option<crate::Time> {
        match (self.repeat, self.to) {
            (Some(r), Some(to)) if t >= self.from => {
                let period = r.period();
                let cycles = (t - self.from).num_seconds() / period.num_seconds();
                let start = self.from + period * cycles as i32;
                let end = start + (to - self.from);
                [end, start + period].into_iter().find(|x| *x > t)
            }
            _ => [Some(self.from), self.to]
                .into_iter()
                .flatten()
                .find(|x| *x > t),
        }
    }
}

impl SiteGroup {
    /// The limits at `t`: per phase, and in watts.
    pub fn limits_at(&self, t: crate::Time) -> (Option<[f64; 3]>, Option<f64>) {
        self.limit_schedule
            .iter()
            .rev()
            .find(|w| w.active_at(t))
            .map_or((self.phase_limits_a, self.power_limit_w), |w| {
                (w.phase_limits_a, w.power_limit_w)
            })
    }
}

/// An EVSE of a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteEvse {
    /// The station.
    pub station_id: String,
    /// The EVSE (1.6: the connector).
    pub evse_id: u32,
    /// The group it is in.
    pub group: String,
    /// The site phase its connector's L1 is wired to (1, 2 or 3; default 1): with the usual
    /// rotation L1-L2-L3, 2 means L2-L3-L1 and 3 means L3-L1-L2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_on_phase: Option<u8>,
    /// The phases it delivers (1 or 3; default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<u8>,
    /// The most current per phase it delivers, in A (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_current_a: Option<f64>,
}

/// The least current an AC session charges with when not told: 6 A (IEC 61851-1).
pub const DEFAULT_MIN_A: f64 = 6.0;

/// An EVSE's maximum when not told.
pub const DEFAULT_EVSE_MAX_A: f64 = 32.0;

/// A session charging (or, in a preview, that might) at one of the site's EVSEs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteSession {
    /// The station.
    pub station_id: String,
    /// The EVSE.
    pub evse_id: u32,
    /// The phases the car charges on (1, 2 or 3; default the EVSE's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<u8>,
    /// The least current it charges with, in A (default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_current_a: Option<f64>,
    /// The most current the car takes, in A (default the EVSE's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_current_a: Option<f64>,
    /// Higher is served first (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The current per phase it needs from now to have the energy it asked for by its
    /// departure (ISO 15118 NotifyEVChargingNeeds), in A: that much is served before the
    /// sessions of its priority share the rest, the remainder of its maximum with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed_current_a: Option<f64>,
}

/// What one session gets, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvseAllocation {
    /// The station.
    pub station_id: String,
    /// The EVSE.
    pub evse_id: u32,
    /// The current per phase it may draw, in A (0: paused).
    pub current_a: f64,
    /// The site phases it draws on (`L1`...).
    pub site_phases: Vec<String>,
    /// Whether it is paused: its minimum did not fit.
    pub paused: bool,
    /// What holds it: `evseOrCar` (its own maximum), or a group's limit.
    pub binding: String,
    /// The group whose limit binds, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The rule that applied, in words.
    pub why: String,
}

/// Why a site cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SiteError(pub String);

impl Site {
    /// Checks the site's invariants.
    pub fn check(&self) -> Result<(), SiteError> {
        let bad = |m: String| Err(SiteError(m));
        if self.id.is_empty() || self.id.len() > 64 {
            return bad("`id` must have 1 to 64 characters".into());
        }
        if self.voltage_v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            return bad("`voltageV` must be a positive number".into());
        }
        for w in &self.prices {
            if !w.price.is_finite() {
                return bad("a price must be a number".into());
            }
            if w.to.is_some_and(|to| to <= w.from) {
                return bad("a price window must end after it starts".into());
            }
            if let Some(r) = w.repeat
                && w.to.is_none_or(|to| to - w.from >= r.period())
            {
                return bad(
                    "a repeating price window needs a `to` less than its period after `from`"
                        .into(),
                );
            }
        }
        let Some(root) = self.groups.first() else {
            return bad("a site has at least its grid connection in `groups`".into());
        };
        if root.parent.is_some() {
            return bad("the first group is the grid connection: it has no parent".into());
        }
        for (i, g) in self.groups.iter().enumerate() {
            if self.groups[..i].iter().any(|o| o.id == g.id) {
                return bad(format!("group `{}` appears twice", g.id));
            }
            match &g.parent {
                None if i > 0 => {
                    return bad(format!(
                        "group `{}` needs a parent: a site has one grid connection",
                        g.id
                    ));
                }
                Some(p) if !self.groups[..i].iter().any(|o| &o.id == p) => {
                    return bad(format!(
                        "group `{}` names parent `{p}`, which is not listed before it",
                        g.id
                    ));
                }
                _ => {}
            }
            let limits = g.phase_limits_a.iter().flatten().chain(&g.power_limit_w);
            if limits.into_iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
                return bad(format!(
                    "the limits of group `{}` must be numbers ≥ 0",
                    g.id
                ));
            }
            for w in &g.limit_schedule {
                let limits = w.phase_limits_a.iter().flatten().chain(&w.power_limit_w);
                if limits.into_iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
                    return bad(format!(
                        "the scheduled limits of group `{}` must be numbers ≥ 0",
                        g.id
                    ));
                }
                if w.to.is_some_and(|to| to <= w.from) {
                    return bad(format!(
                        "a window of group `{}` must end after it starts",
                        g.id
                    ));
                }
                if let Some(r) = w.repeat
                    && w.to.is_none_or(|to| to - w.from >= r.period())
                {
                    return bad(format!(
                        "a repeating window of group `{}` needs a `to` less than its period after `from`",
                        g.id
                    ));
                }
            }
            if g.other_load_a.iter().flatten().any(|l| !l.is_finite()) {
                return bad(format!(
                    "the other load of group `{}` must be numbers",
                    g.id
                ));
            }
        }
        for (i, e) in self.evses.iter().enumerate() {
            if e.evse_id == 0 {
                return bad(format!(
                    "station `{}`: EVSEs are numbered from 1",
                    e.station_id
                ));
            }
            if !self.groups.iter().any(|g| g.id == e.group) {
                return bad(format!(
                    "EVSE {} of `{}` is in group `{}`, which the site does not have",
                    e.evse_id, e.station_id, e.group
                ));
            }
            if self.evses[..i]
                .iter()
                .any(|o| o.station_id == e.station_id && o.evse_id == e.evse_id)
            {
                return bad(format!(
                    "EVSE {} of `{}` appears twice",
                    e.evse_id, e.station_id
                ));
            }
            if e.l1_on_phase.is_some_and(|p| !(1..=3).contains(&p)) {
                return bad("`l1OnPhase` is 1, 2 or 3".into());
            }
            if e.phases.is_some_and(|p| p != 1 && p != 3) {
                return bad("an EVSE delivers on 1 or 3 phases".into());
            }
            if e.max_current_a
                .is_some_and(|m| !(m.is_finite() && m >= 0.0))
            {
                return bad("`maxCurrentA` must be a number ≥ 0".into());
            }
        }
        Ok(())
    }

    /// The EVSE of the site, if it is one.
    pub fn evse(&self, station_id: &str, evse_id: u32) -> Option<&SiteEvse> {
        self.evses
            .iter()
            .find(|e| e.station_id == station_id && e.evse_id == evse_id)
    }

    /// When the limits next change after `t`, if they do.
    pub fn next_change(&self, t: crate::Time) -> Option<crate::Time> {
        self.groups
            .iter()
            .flat_map(|g| &g.limit_schedule)
            .filter_map(|w| w.next_edge(t))
            .min()
    }

    /// Divides the site's capacity at `at` among `sessions` (each at one of its EVSEs).
    pub fn allocate(
        &self,
        sessions: &[SiteSession],
        at: crate::Time,
    ) -> Result<Vec<EvseAllocation>, SiteError> {
        let groups: Vec<AllocGroup> = self
            .groups
            .iter()
            .map(|g| {
                let other = g.other_load_a.unwrap_or([0.0; 3]);
                let voltage = self.voltage();
                let (phase_limits_a, power_limit_w) = g.limits_at(at);
                AllocGroup {
                    id: g.id.clone(),
                    parent: g
                        .parent
                        .as_ref()
                        .and_then(|p| self.groups.iter().position(|o| &o.id == p)),
                    phase_limits_a: phase_limits_a
                        .map(|l| [0, 1, 2].map(|i| (l[i] - other[i]).max(0.0))),
                    power_limit_w: power_limit_w
                        .map(|w| (w - other.iter().sum::<f64>() * voltage).max(0.0)),
                }
            })
            .collect();
        let mut alloc = Vec::with_capacity(sessions.len());
        // Per session: its part in the problem, and the part beyond what it needs, if split.
        let mut parts: Vec<(usize, Option<usize>)> = Vec::with_capacity(sessions.len());
        for s in sessions {
            let Some(e) = self.evse(&s.station_id, s.evse_id) else {
                return Err(SiteError(format!(
                    "EVSE {} of `{}` is not on site `{}`",
                    s.evse_id, s.station_id, self.id
                )));
            };
            let evse_phases = e.phases.unwrap_or(3);
            let phases = s.phases.unwrap_or(evse_phases).clamp(1, 3).min(evse_phases);
            let rotation = e.l1_on_phase.unwrap_or(1) - 1;
            let mask = (0..phases).fold(0u8, |m, k| m | 1 << ((rotation + k) % 3));
            let evse_max = e.max_current_a.unwrap_or(DEFAULT_EVSE_MAX_A);
            let max = s.max_current_a.map_or(evse_max, |m| m.min(evse_max));
            let min = s.min_current_a.unwrap_or(DEFAULT_MIN_A).min(max);
            // Operators' priorities stay apart: each is two ranks, the upper one for what
            // sessions need by their departure.
            let priority = s.priority.unwrap_or(0).saturating_mul(2);
            let session = Session {
                id: format!("{}/{}", s.station_id, s.evse_id),
                group: self
                    .groups
                    .iter()
                    .position(|g| g.id == e.group)
                    .unwrap_or(0),
                phases: mask,
                min_a: min,
                max_a: max,
                priority,
            };
            let needed = s
                .needed_current_a
                // Past its departure it needs all it can take (an infinite need).
                .filter(|n| !n.is_nan() && *n > 0.0)
                .map(|n| n.clamp(min, max));
            match needed {
                Some(n) if n < max => {
                    alloc.push(Session {
                        max_a: n,
                        priority: priority.saturating_add(1),
                        ..session.clone()
                    });
                    alloc.push(Session {
                        id: format!("{}+", session.id),
                        min_a: 0.0,
                        max_a: max - n,
                        ..session
                    });
                    parts.push((alloc.len() - 2, Some(alloc.len() - 1)));
                }
                Some(_) => {
                    alloc.push(Session {
                        priority: priority.saturating_add(1),
                        ..session
                    });
                    parts.push((alloc.len() - 1, None));
                }
                None => {
                    alloc.push(session);
                    parts.push((alloc.len() - 1, None));
                }
            }
        }
        let problem = Problem {
            groups,
            sessions: alloc,
            voltage: self.voltage(),
        };
        let result = arus_allocation::allocate(&problem).map_err(|e| SiteError(e.to_string()))?;
        Ok(sessions
            .iter()
            .zip(&parts)
            .map(|(s, &(i, extra))| {
                let a = &problem.sessions[i];
                let r = result[i];
                let Some(j) = extra else {
                    let mut out = self.explain(s, a, r);
                    if s.priority == Some(crate::site_live::UNSTEERED_PRIORITY) {
                        out.why = format!(
                            "its station ignores charging profiles: given what its car draws, \
                             first; {}",
                            out.why
                        );
                    } else if s.needed_current_a.is_some() && !out.paused {
                        out.why = format!(
                            "served first, as it needs all it takes by its departure; {}",
                            out.why
                        );
                    }
                    return out;
                };
                if matches!(r.binding, Binding::Paused { .. }) {
                    return self.explain(s, a, r);
                }
                // Its whole maximum, and what holds the part beyond what it needs.
                let whole = Session {
                    max_a: a.max_a + problem.sessions[j].max_a,
                    ..a.clone()
                };
                let total = arus_allocation::Allocation {
                    current_a: r.current_a + result[j].current_a,
                    binding: result[j].binding,
                };
                let mut out = self.explain(s, &whole, total);
                out.why = format!(
                    "{} A it needs by its departure served first; beyond that: {}",
                    a.max_a, out.why
                );
                out
            })
            .collect())
    }

    pub(crate) fn voltage(&self) -> f64 {
        self.voltage_v
            .unwrap_or(crate::smart_charging::DEFAULT_VOLTAGE)
    }

    fn explain(
        &self,
        s: &SiteSession,
        a: &Session,
        r: arus_allocation::Allocation,
    ) -> EvseAllocation {
        let phase_names = (0..3)
            .filter(|p| a.phases & (1 << p) != 0)
            .map(|p| format!("L{}", p + 1))
            .collect();
        let describe = |limit: Limit| match limit {
            Limit::Phase { group, phase } => (
                self.groups[group].id.clone(),
                format!("the limit of `{}` on L{}", self.groups[group].id, phase + 1),
            ),
            Limit::Power { group } => (
                self.groups[group].id.clone(),
                format!("the power limit of `{}`", self.groups[group].id),
            ),
        };
        let (paused, binding, group, why) = match r.binding {
            Binding::SessionMaximum => (
                false,
                "evseOrCar".to_string(),
                None,
                format!("takes its maximum, {} A: no limit holds it", a.max_a),
            ),
            Binding::Limit { limit } => {
                let (g, words) = describe(limit);
                (
                    false,
                    "groupLimit".to_string(),
                    Some(g),
                    format!("{words} is reached; shared max-min fair among the sessions under it"),
                )
            }
            Binding::Paused { limit } => {
                let (g, words) = describe(limit);
                (
                    true,
                    "paused".to_string(),
                    Some(g),
                    format!(
                        "paused: its minimum of {} A does not fit under {words} beside the sessions served before it",
                        a.min_a
                    ),
                )
            }
        };
        EvseAllocation {
            station_id: s.station_id.clone(),
            evse_id: s.evse_id,
            current_a: (r.current_a * 10.0).floor() / 10.0,
            site_phases: phase_names,
            paused,
            binding,
            group,
            why,
        }
    }
}

/// The sites stored and not deleted, oldest first.
pub async fn stored(
    store: &dyn crate::store::Store,
) -> Result<Vec<Site>, crate::store::StoreError> {
    let mut q = crate::store::RecordQuery::of(crate::store::RecordKind::Site, 10_000);
    q.status = Some("active".into());
    q.oldest_first = true;
    Ok(store
        .records(q)
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect())
}

impl Site {
    /// The current per phase each EVSE of `station_id` may draw with no CSMS to divide the
    /// capacity: every group's limit (less its other load) shared equally by all the EVSEs
    /// under it, the lowest over the EVSE's groups, and over the station's EVSEs. What a
    /// station falls back to (its TxDefaultProfile) keeps the site inside its limits even if
    /// every EVSE charges at once, under the tightest of its limits, scheduled ones included.
    pub fn safe_current(&self, station_id: &str) -> Option<f64> {
        let under = |group: usize| {
            self.evses
                .iter()
                .filter(|e| {
                    let mut g = self.groups.iter().position(|x| x.id == e.group);
                    while let Some(at) = g {
                        if at == group {
                            return true;
                        }
                        g = self.groups[at]
                            .parent
                            .as_ref()
                            .and_then(|p| self.groups.iter().position(|x| &x.id == p));
                    }
                    false
                })
                .count()
                .max(1) as f64
        };
        let voltage = self.voltage();
        self.evses
            .iter()
            .filter(|e| e.station_id == station_id)
            .map(|e| {
                let mut best = e.max_current_a.unwrap_or(DEFAULT_EVSE_MAX_A);
                let mut g = self.groups.iter().position(|x| x.id == e.group);
                while let Some(at) = g {
                    let group = &self.groups[at];
                    // Generation (a negative load) may be gone when the fallback is needed.
                    let other = group.other_load_a.unwrap_or([0.0; 3]).map(|l| l.max(0.0));
                    let n = under(at);
                    // The fallback stays for as long as the CSMS is away: the tightest of the
                    // group's limits, scheduled ones included.
                    let phase = std::iter::once(group.phase_limits_a)
                        .chain(group.limit_schedule.iter().map(|w| w.phase_limits_a))
                        .flatten();
                    for l in phase {
                        for ph in 0..3 {
                            best = best.min((l[ph] - other[ph]).max(0.0) / n);
                        }
                    }
                    let power = std::iter::once(group.power_limit_w)
                        .chain(group.limit_schedule.iter().map(|w| w.power_limit_w))
                        .flatten();
                    for w in power {
                        let free = (w - other.iter().sum::<f64>() * voltage).max(0.0);
                        best = best.min(free / n / (3.0 * voltage));
                    }
                    g = group
                        .parent
                        .as_ref()
                        .and_then(|p| self.groups.iter().position(|x| &x.id == p));
                }
                best
            })
            .min_by(f64::total_cmp)
            .map(|a| (a * 10.0).floor() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            id: "s".into(),
            name: None,
            voltage_v: None,
            groups: vec![
                SiteGroup {
                    id: "grid".into(),
                    parent: None,
                    phase_limits_a: Some([100.0; 3]),
                    power_limit_w: None,
                    other_load_a: Some([20.0, 0.0, 0.0]),
                    limit_schedule: vec![LimitWindow {
                        from: chrono::DateTime::<chrono::Utc>::from_timestamp(1_000_000_000, 0)
                            .expect("valid"),
                        to: None,
                        phase_limits_a: Some([60.0; 3]),
                        power_limit_w: None,
                        repeat: None,
                    }],
                },
                SiteGroup {
                    id: "feeder".into(),
                    parent: Some("grid".into()),
                    phase_limits_a: Some([30.0; 3]),
                    power_limit_w: None,
                    other_load_a: None,
                    limit_schedule: Vec::new(),
                },
            ],
            evses: (1..=4)
                .map(|e| SiteEvse {
                    station_id: if e <= 2 { "A" } else { "B" }.into(),
                    evse_id: e,
                    group: if e <= 2 { "feeder" } else { "grid" }.into(),
                    l1_on_phase: Some(if e == 4 { 3 } else { 1 }),
                    phases: Some(if e == 4 { 1 } else { 3 }),
                    max_current_a: None,
                })
                .collect(),
            prices: Vec::new(),
        }
    }

    /// The fallback: the tightest limit (the 60 A window) less the other load (20 A on L1),
    /// shared by the four EVSEs under the grid: 10 A; the feeder's 30 A shared by two is
    /// looser.
    #[test]
    fn the_safe_current_holds_under_the_tightest_limit() {
        let s = site();
        assert_eq!(s.safe_current("A"), Some(10.0));
        assert_eq!(s.safe_current("B"), Some(10.0));
        assert_eq!(s.safe_current("nobody"), None);
        assert!(s.check().is_ok());
    }

    /// A single-phase EVSE whose L1 is wired to L3 loads L3; other load comes off L1.
    #[test]
    fn phase_rotation_and_other_load() {
        let s = site();
        let before = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).expect("valid");
        let got = s
            .allocate(
                &[
                    SiteSession {
                        station_id: "B".into(),
                        evse_id: 3,
                        phases: None,
                        min_current_a: None,
                        max_current_a: Some(100.0),
                        priority: None,
                        needed_current_a: None,
                    },
                    SiteSession {
                        station_id: "B".into(),
                        evse_id: 4,
                        phases: None,
                        min_current_a: None,
                        max_current_a: None,
                        priority: None,
                        needed_current_a: None,
                    },
                ],
                before,
            )
            .expect("divides");
        assert_eq!(got[1].site_phases, ["L3"]);
        // EVSE 3 (three-phase, its EVSE's 32 A at most) is not held by the 80 A left on L1.
        assert_eq!((got[0].current_a, got[1].current_a), (32.0, 32.0));
        assert_eq!(got[0].binding, "evseOrCar");
    }

    /// ISO 15118: a car that needs 25 A to have its energy by its departure gets that first on
    /// the feeder's 30 A, and the rest is shared max-min: the other car keeps its 6 A minimum
    /// at least. Without the need they share equally.
    #[test]
    fn what_a_car_needs_by_its_departure_is_served_first() {
        let s = site();
        let before = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).expect("valid");
        let session = |evse: u32, needed: Option<f64>| SiteSession {
            station_id: "A".into(),
            evse_id: evse,
            phases: None,
            min_current_a: None,
            max_current_a: None,
            priority: None,
            needed_current_a: needed,
        };
        let equal = s
            .allocate(&[session(1, None), session(2, None)], before)
            .expect("divides");
        assert_eq!((equal[0].current_a, equal[1].current_a), (15.0, 15.0));
        let urgent = s
            .allocate(&[session(1, Some(25.0)), session(2, None)], before)
            .expect("divides");
        assert!(
            (urgent[0].current_a, urgent[1].current_a) == (24.0, 6.0),
            "{urgent:?}"
        );
        assert!(
            urgent[0].why.contains("needs by its departure"),
            "{}",
            urgent[0].why
        );
        // Past its departure it needs all it can take: the same.
        let late = s
            .allocate(&[session(1, Some(f64::INFINITY)), session(2, None)], before)
            .expect("divides");
        assert_eq!((late[0].current_a, late[1].current_a), (24.0, 6.0));
    }

    /// An evening peak every day from 16:00 to 18:00: it holds then on any day, not before
    /// its first day, and its edges are the changes; a repeating window shorter than its
    /// period is required.
    #[test]
    fn a_daily_window_comes_back_every_day() {
        let at = |day: i64, hour: i64| {
            chrono::DateTime::<chrono::Utc>::from_timestamp(day * 86_400 + hour * 3600, 0)
                .expect("valid")
        };
        let w = LimitWindow {
            from: at(10, 16),
            to: Some(at(10, 18)),
            phase_limits_a: Some([40.0; 3]),
            power_limit_w: None,
            repeat: Some(Repeat::Daily),
        };
        assert!(!w.active_at(at(9, 17)), "not before its first day");
        assert!(w.active_at(at(10, 16)) && w.active_at(at(25, 17)));
        assert!(!w.active_at(at(25, 18)) && !w.active_at(at(25, 15)));
        assert_eq!(w.next_edge(at(25, 12)), Some(at(25, 16)));
        assert_eq!(w.next_edge(at(25, 16)), Some(at(25, 18)));
        assert_eq!(w.next_edge(at(25, 19)), Some(at(26, 16)));
        assert_eq!(w.next_edge(at(3, 0)), Some(at(10, 16)));
        let mut s = site();
        s.groups[0].limit_schedule = vec![w.clone()];
        assert!(s.check().is_ok());
        assert_eq!(s.groups[0].limits_at(at(30, 17)).0, Some([40.0; 3]));
        assert_eq!(s.groups[0].limits_at(at(30, 19)).0, Some([100.0; 3]));
        s.groups[0].limit_schedule = vec![LimitWindow {
            to: Some(at(11, 16)),
            ..w
        }];
        assert!(s.check().is_err(), "a day long: it would never end");
    }
}
