//! Site load management's pure part: dividing the capacity of a grid connection among the
//! charging sessions behind it.
//!
//! A site is a tree of [`Group`]s (the grid connection, then feeders, parking levels...), each
//! with a limit per phase in amperes and/or a limit in watts over its phases. A [`Session`]
//! belongs to one group and draws the same current on each site phase it uses (a single-phase
//! car on one phase of a three-phase site: which one depends on how its connector is wired).
//! [`allocate`] gives each session a current per phase:
//!
//! 1. **Admission.** Sessions are taken in order of priority (higher first), then as listed;
//!    a session is admitted if its minimum fits in every limit it is under, together with the
//!    minimums of those admitted before it. One that does not fit is paused (0 A) rather than
//!    given less than it can charge with.
//! 2. **Max-min fair sharing.** Within each priority class, from the highest, the admitted
//!    sessions are raised together ("water-filling"): each gets the same current unless its
//!    own maximum or a saturated limit stops it sooner, and none gets less than its minimum.
//!    What a higher class leaves, the next one shares.
//!
//! Every allocation says why it is what it is ([`Binding`]).
//!
//! # Invariants (property-tested)
//!
//! - No limit of any group is exceeded, on any phase or in watts.
//! - Every admitted session gets at least its minimum and at most its maximum; a paused one
//!   gets 0, and only because its minimum did not fit beside those of sessions ranked before
//!   it under some limit.
//! - Max-min fairness: a session below its maximum is held by a saturated limit under which
//!   no session of its class has more (unless that one is held at its own minimum).
//! - The cost grows as n log n in the number of sessions (an event-driven fill: each session
//!   changes state at most three times, each change touching only its own limits).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

/// Tolerance of the arithmetic, in amperes or watts.
const EPSILON: f64 = 1e-9;

/// A group of the site: the grid connection (no parent) or a part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// Its id.
    pub id: String,
    /// The index of its parent in the problem's groups; `None` for the root.
    pub parent: Option<usize>,
    /// The most current on each phase (L1, L2, L3), in A; `None` for no limit per phase.
    pub phase_limits_a: Option<[f64; 3]>,
    /// The most power over all phases, in W; `None` for no limit in watts.
    pub power_limit_w: Option<f64>,
}

/// A charging session the capacity is divided among.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// Its id (the EVSE's, typically).
    pub id: String,
    /// The index of its group.
    pub group: usize,
    /// The site phases it draws on: bit 0 for L1, bit 1 for L2, bit 2 for L3.
    pub phases: u8,
    /// The least current per phase it can charge with, in A (IEC 61851: 6 A for AC).
    pub min_a: f64,
    /// The most current per phase it takes, in A: the lowest of the EVSE's, the cable's and
    /// the car's (as learnt from its meter values).
    pub max_a: f64,
    /// Higher goes first.
    pub priority: i32,
}

impl Session {
    /// How many phases it draws on.
    pub fn phase_count(&self) -> u32 {
        (self.phases & 0b111).count_ones()
    }
}

/// What is divided: the groups (parents before children) and the sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The groups.
    pub groups: Vec<Group>,
    /// The sessions.
    pub sessions: Vec<Session>,
    /// The nominal voltage, phase to neutral, in V: converts a session's current into power.
    pub voltage: f64,
}

/// A limit of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Limit {
    /// The current on one phase (0: L1, 1: L2, 2: L3).
    Phase {
        /// The group's index.
        group: usize,
        /// The phase.
        phase: u8,
    },
    /// The power over all phases.
    Power {
        /// The group's index.
        group: usize,
    },
}

/// Why a session got what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Binding {
    /// It takes all it can: its own maximum.
    SessionMaximum,
    /// A saturated limit of a group holds it (or holds it at its minimum).
    Limit {
        /// The limit.
        limit: Limit,
    },
    /// Paused: its minimum did not fit under this limit beside those ranked before it.
    Paused {
        /// The limit.
        limit: Limit,
    },
}

/// What one session gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocation {
    /// The current per phase it may draw, in A (0 when paused).
    pub current_a: f64,
    /// Why.
    pub binding: Binding,
}

/// The problem is not well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

/// Checks what [`allocate`] relies on: parents before children, sessions in existing groups
/// on at least one phase, limits and currents finite and not negative, min ≤ max.
pub fn validate(p: &Problem) -> Result<(), Malformed> {
    let bad = |m: String| Err(Malformed(m));
    if !(p.voltage.is_finite() && p.voltage > 0.0) {
        return bad("the voltage must be a positive number".into());
    }
    for (i, g) in p.groups.iter().enumerate() {
        if g.parent.is_some_and(|parent| parent >= i) {
            return bad(format!("group `{}` must come after its parent", g.id));
        }
        let limits = g.phase_limits_a.iter().flatten().chain(&g.power_limit_w);
        if limits.into_iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
            return bad(format!(
                "the limits of group `{}` must be numbers ≥ 0",
                g.id
            ));
        }
    }
    for s in &p.sessions {
        if s.group >= p.groups.len() {
            return bad(format!("session `{}` is in no group", s.id));
        }
        if s.phases & 0b111 == 0 || s.phases > 0b111 {
            return bad(format!("session `{}` must draw on 1 to 3 phases", s.id));
        }
        if !(s.min_a.is_finite() && s.max_a.is_finite() && 0.0 <= s.min_a && s.min_a <= s.max_a) {
            return bad(format!(
                "session `{}` needs 0 ≤ minimum ≤ maximum, both finite",
                s.id
            ));
        }
    }
    Ok(())
}

/// The limits, and each session's share of them, in flat arrays (one allocation each, not
/// one per session: a site of 10,000 EVSEs is rebuilt on every reallocation).
struct Limits {
    /// Each limit and its capacity.
    caps: Vec<(Limit, f64)>,
    /// Session `i`'s limits, with what one ampere of it counts there, are
    /// `of[of_at[i]..of_at[i + 1]]`.
    of: Vec<(usize, f64)>,
    of_at: Vec<usize>,
    /// Limit `c`'s sessions are `members[members_at[c]..members_at[c + 1]]`.
    members: Vec<usize>,
    members_at: Vec<usize>,
}

impl Limits {
    fn of(&self, i: usize) -> &[(usize, f64)] {
        &self.of[self.of_at[i]..self.of_at[i + 1]]
    }

    fn members(&self, c: usize) -> &[usize] {
        &self.members[self.members_at[c]..self.members_at[c + 1]]
    }
}

fn limits(p: &Problem) -> Limits {
    let mut caps = Vec::new();
    // Per group: the index of its limit per phase, and of its power limit.
    let mut index: Vec<([Option<usize>; 3], Option<usize>)> = Vec::with_capacity(p.groups.len());
    for (g, group) in p.groups.iter().enumerate() {
        let mut phases = [None; 3];
        if let Some(l) = group.phase_limits_a {
            for (ph, cap) in l.iter().enumerate() {
                phases[ph] = Some(caps.len());
                caps.push((
                    Limit::Phase {
                        group: g,
                        phase: ph as u8,
                    },
                    *cap,
                ));
            }
        }
        let power = group.power_limit_w.map(|cap| {
            caps.push((Limit::Power { group: g }, cap));
            caps.len() - 1
        });
        index.push((phases, power));
    }
    let mut of = Vec::with_capacity(p.sessions.len() * 4);
    let mut of_at = Vec::with_capacity(p.sessions.len() + 1);
    let mut count = vec![0usize; caps.len() + 1];
    for s in &p.sessions {
        of_at.push(of.len());
        let mut g = Some(s.group);
        while let Some(at) = g {
            let (phases, power) = &index[at];
            for (ph, l) in phases.iter().enumerate() {
                if let Some(l) = l
                    && s.phases & (1 << ph) != 0
                {
                    of.push((*l, 1.0));
                    count[*l] += 1;
                }
            }
            if let Some(l) = power {
                of.push((*l, p.voltage * f64::from(s.phase_count())));
                count[*l] += 1;
            }
            g = p.groups[at].parent;
        }
    }
    of_at.push(of.len());
    // Counting sort of the sessions by limit.
    let mut members_at = Vec::with_capacity(caps.len() + 1);
    let mut total = 0;
    for c in &count[..caps.len()] {
        members_at.push(total);
        total += c;
    }
    members_at.push(total);
    let mut fill_at = members_at.clone();
    let mut members = vec![0; total];
    for i in 0..p.sessions.len() {
        for &(c, _) in &of[of_at[i]..of_at[i + 1]] {
            members[fill_at[c]] = i;
            fill_at[c] += 1;
        }
    }
    Limits {
        caps,
        of,
        of_at,
        members,
        members_at,
    }
}

/// An event of the fill, ordered by its level (the lowest first out of the heap).
#[derive(Debug, Clone, Copy)]
struct Event {
    level: f64,
    what: What,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// A limit saturates (valid while its version is this one).
    Saturate { limit: usize, version: u32 },
    /// A session reaches its maximum.
    Maximum { session: usize },
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Event) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    fn cmp(&self, other: &Event) -> Ordering {
        // Reversed: BinaryHeap is a max-heap. At equal levels, maxima before saturations.
        let rank = |w: &What| match w {
            What::Maximum { .. } => 0,
            What::Saturate { .. } => 1,
        };
        other
            .level
            .total_cmp(&self.level)
            .then_with(|| rank(&other.what).cmp(&rank(&self.what)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not admitted.
    Paused,
    /// Admitted, waiting at its minimum until the level passes it.
    Waiting,
    /// Rising with the level.
    Rising,
    /// Done.
    Frozen,
}

/// Divides the site's capacity among its sessions; see the module's documentation. The
/// result is in the order of `p.sessions`.
pub fn allocate(p: &Problem) -> Result<Vec<Allocation>, Malformed> {
    validate(p)?;
    let l = limits(p);
    let n = p.sessions.len();
    let mut out: Vec<Allocation> = p
        .sessions
        .iter()
        .map(|s| Allocation {
            current_a: s.min_a,
            binding: Binding::SessionMaximum,
        })
        .collect();
    let mut state = vec![State::Waiting; n];
    // Usage of each limit by sessions not rising (paused count 0), and the sum of the
    // coefficients of those rising.
    let mut fixed = vec![0.0; l.caps.len()];
    let mut slope = vec![0.0; l.caps.len()];
    let mut version = vec![0u32; l.caps.len()];
    let mut saturated = vec![false; l.caps.len()];

    // 1. Admission, by priority then as listed.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(p.sessions[i].priority));
    for &i in &order {
        let min = p.sessions[i].min_a;
        let blocked = l
            .of(i)
            .iter()
            .find(|(c, k)| fixed[*c] + k * min > l.caps[*c].1 + EPSILON);
        match blocked {
            Some((c, _)) => {
                state[i] = State::Paused;
                out[i] = Allocation {
                    current_a: 0.0,
                    binding: Binding::Paused {
                        limit: l.caps[*c].0,
                    },
                };
            }
            None => {
                for (c, k) in l.of(i) {
                    fixed[*c] += k * min;
                }
            }
        }
    }

    // 2. The fill, one priority class at a time.
    let mut start = 0;
    while start < order.len() {
        let class = p.sessions[order[start]].priority;
        let end = order[start..]
            .iter()
            .position(|&i| p.sessions[i].priority != class)
            .map_or(order.len(), |k| start + k);
        let mut members: Vec<usize> = order[start..end]
            .iter()
            .copied()
            .filter(|&i| state[i] == State::Waiting)
            .collect();
        members.sort_by(|a, b| p.sessions[*a].min_a.total_cmp(&p.sessions[*b].min_a));
        fill(
            p,
            &l,
            &members,
            &mut Fill {
                out: &mut out,
                state: &mut state,
                fixed: &mut fixed,
                slope: &mut slope,
                version: &mut version,
                saturated: &mut saturated,
                dirty: Vec::new(),
                is_dirty: vec![false; l.caps.len()],
            },
        );
        start = end;
    }
    Ok(out)
}

/// The mutable state of a fill.
struct Fill<'a> {
    out: &'a mut [Allocation],
    state: &'a mut [State],
    fixed: &'a mut [f64],
    slope: &'a mut [f64],
    version: &'a mut [u32],
    saturated: &'a mut [bool],
    /// Limits whose usage changed since their saturation was last put in the heap: it is put
    /// there once per level, however many sessions changed at that level.
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
}

impl Fill<'_> {
    fn touch(&mut self, c: usize) {
        self.version[c] += 1;
        if !self.is_dirty[c] {
            self.is_dirty[c] = true;
            self.dirty.push(c);
        }
    }

    /// Puts the saturation of every limit touched into the heap.
    fn flush(&mut self, l: &Limits, heap: &mut BinaryHeap<Event>, level: f64) {
        for c in std::mem::take(&mut self.dirty) {
            self.is_dirty[c] = false;
            if self.slope[c] > 0.0 && !self.saturated[c] {
                heap.push(Event {
                    level: ((l.caps[c].1 - self.fixed[c]) / self.slope[c]).max(level),
                    what: What::Saturate {
                        limit: c,
                        version: self.version[c],
                    },
                });
            }
        }
    }
}

/// Raises the sessions of one class (admitted, sorted by minimum) together until each is
/// held by its maximum or a saturated limit.
fn fill(p: &Problem, l: &Limits, members: &[usize], f: &mut Fill<'_>) {
    let mut heap = BinaryHeap::new();
    let mut next = 0;
    let mut level = 0.0f64;
    loop {
        // The next session to start rising, and the next event.
        let waiting = members.get(next).map(|&i| p.sessions[i].min_a);
        let event = heap.peek().map(|e: &Event| e.level);
        let upcoming = match (waiting, event) {
            (Some(w), Some(e)) => Some(w.min(e)),
            (w, e) => w.or(e),
        };
        // Before the level moves on, the limits changed at this level get their events.
        if !f.dirty.is_empty() && upcoming.is_none_or(|u| u > level) {
            f.flush(l, &mut heap, level);
            continue;
        }
        if let Some(w) = waiting
            && event.is_none_or(|e| w <= e)
        {
            let i = members[next];
            next += 1;
            level = level.max(w);
            let s = &p.sessions[i];
            // Held at its minimum by a limit that saturated before its turn.
            if let Some((c, _)) = l.of(i).iter().find(|(c, _)| f.saturated[*c]) {
                f.state[i] = State::Frozen;
                f.out[i].binding = Binding::Limit {
                    limit: l.caps[*c].0,
                };
                continue;
            }
            if s.max_a <= s.min_a + EPSILON {
                f.state[i] = State::Frozen;
                f.out[i] = Allocation {
                    current_a: s.max_a,
                    binding: Binding::SessionMaximum,
                };
                continue;
            }
            f.state[i] = State::Rising;
            for &(c, k) in l.of(i) {
                f.fixed[c] -= k * s.min_a;
                f.slope[c] += k;
                f.touch(c);
            }
            heap.push(Event {
                level: s.max_a,
                what: What::Maximum { session: i },
            });
            continue;
        }
        let Some(e) = heap.pop() else { break };
        level = level.max(e.level);
        match e.what {
            What::Maximum { session } => {
                if f.state[session] == State::Rising {
                    freeze(p, l, f, session, e.level, Binding::SessionMaximum);
                }
            }
            What::Saturate { limit, version } => {
                if f.version[limit] != version || f.saturated[limit] {
                    continue;
                }
                f.saturated[limit] = true;
                let binding = Binding::Limit {
                    limit: l.caps[limit].0,
                };
                for &i in l.members(limit) {
                    if f.state[i] == State::Rising {
                        freeze(p, l, f, i, e.level, binding);
                    }
                }
            }
        }
    }
}

/// Stops a rising session at `at` amperes.
fn freeze(p: &Problem, l: &Limits, f: &mut Fill<'_>, i: usize, at: f64, binding: Binding) {
    let s = &p.sessions[i];
    let current = at.clamp(s.min_a, s.max_a);
    f.state[i] = State::Frozen;
    f.out[i] = Allocation {
        current_a: current,
        binding,
    };
    for &(c, k) in l.of(i) {
        f.fixed[c] += k * current;
        f.slope[c] -= k;
        if f.slope[c] < EPSILON {
            f.slope[c] = 0.0;
        }
        f.touch(c);
    }
}
