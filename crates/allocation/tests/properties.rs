//! The allocator's invariants over random sites: no limit is exceeded; admitted sessions are
//! within their minimum and maximum; a paused session's minimum really did not fit; and the
//! division is max-min fair (each session below its maximum is held by a saturated limit under
//! which nobody has more, save those held at their own minimum or ranked above it).

use arus_allocation::{Allocation, Binding, Group, Limit, Problem, Session, allocate};
use proptest::prelude::*;

const TOLERANCE: f64 = 1e-6;

fn group() -> impl Strategy<Value = (Option<[f64; 3]>, Option<f64>)> {
    (
        prop::option::of((0u32..120, 0u32..120, 0u32..120)),
        prop::option::of(0u32..80),
    )
        .prop_map(|(a, w)| {
            (
                a.map(|(x, y, z)| [f64::from(x), f64::from(y), f64::from(z)]),
                w.map(|kw| f64::from(kw) * 1000.0),
            )
        })
}

fn problem() -> impl Strategy<Value = Problem> {
    (
        prop::collection::vec((group(), 0usize..8), 1..6),
        prop::collection::vec(
            (0usize..8, 0usize..4, prop::bool::ANY, 6u32..40, 0i32..3),
            0..40,
        ),
        prop::bool::ANY,
    )
        .prop_map(|(groups, sessions, one_class)| {
            let groups: Vec<Group> = groups
                .into_iter()
                .enumerate()
                .map(|(i, ((phase, power), parent))| Group {
                    id: format!("g{i}"),
                    parent: (i > 0).then(|| parent % i),
                    phase_limits_a: phase,
                    power_limit_w: power,
                })
                .collect();
            let n = groups.len();
            let sessions = sessions
                .into_iter()
                .enumerate()
                .map(|(i, (g, phases, min, max, priority))| Session {
                    id: format!("s{i}"),
                    group: g % n,
                    phases: [0b001, 0b010, 0b100, 0b111][phases],
                    min_a: if min { 6.0 } else { 0.0 },
                    max_a: f64::from(max).max(6.0),
                    priority: if one_class { 0 } else { priority },
                })
                .collect();
            Problem {
                groups,
                sessions,
                voltage: 230.0,
            }
        })
}

/// Whether group `g` is `ancestor` or below it.
fn under(p: &Problem, mut g: usize, ancestor: usize) -> bool {
    loop {
        if g == ancestor {
            return true;
        }
        match p.groups[g].parent {
            Some(parent) => g = parent,
            None => return false,
        }
    }
}

/// What one ampere of session `s` counts under `limit`, if it is under it.
fn share(p: &Problem, s: &Session, limit: Limit) -> Option<f64> {
    match limit {
        Limit::Phase { group, phase } => {
            (under(p, s.group, group) && s.phases & (1 << phase) != 0).then_some(1.0)
        }
        Limit::Power { group } => {
            under(p, s.group, group).then(|| p.voltage * f64::from(s.phase_count()))
        }
    }
}

fn capacity(p: &Problem, limit: Limit) -> f64 {
    match limit {
        Limit::Phase { group, phase } => {
            p.groups[group].phase_limits_a.expect("a phase limit")[usize::from(phase)]
        }
        Limit::Power { group } => p.groups[group].power_limit_w.expect("a power limit"),
    }
}

fn every_limit(p: &Problem) -> Vec<Limit> {
    let mut out = Vec::new();
    for (g, group) in p.groups.iter().enumerate() {
        if group.phase_limits_a.is_some() {
            out.extend((0..3).map(|phase| Limit::Phase { group: g, phase }));
        }
        if group.power_limit_w.is_some() {
            out.push(Limit::Power { group: g });
        }
    }
    out
}

fn usage(p: &Problem, a: &[Allocation], limit: Limit) -> f64 {
    p.sessions
        .iter()
        .zip(a)
        .filter_map(|(s, x)| share(p, s, limit).map(|k| k * x.current_a))
        .sum()
}

/// Whether `t` is ranked before `s` for admission (priority, then as listed).
fn before(p: &Problem, t: usize, s: usize) -> bool {
    let (a, b) = (&p.sessions[t], &p.sessions[s]);
    a.priority > b.priority || (a.priority == b.priority && t < s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn allocations_keep_every_limit_and_are_max_min_fair(p in problem()) {
        let a = allocate(&p).expect("well formed");
        prop_assert_eq!(a.len(), p.sessions.len());
        for limit in every_limit(&p) {
            prop_assert!(usage(&p, &a, limit) <= capacity(&p, limit) + TOLERANCE,
                "{:?} exceeded: {} > {}", limit, usage(&p, &a, limit), capacity(&p, limit));
        }
        for (i, (s, x)) in p.sessions.iter().zip(&a).enumerate() {
            match x.binding {
                Binding::Paused { limit } => {
                    prop_assert_eq!(x.current_a, 0.0);
                    // Its minimum did not fit beside those ranked before it.
                    let k = share(&p, s, limit).expect("paused by a limit it is under");
                    let mins: f64 = p.sessions.iter().enumerate().zip(&a)
                        .filter(|((t, _), y)| before(&p, *t, i) && !matches!(y.binding, Binding::Paused { .. }))
                        .filter_map(|((_, t), _)| share(&p, t, limit).map(|kt| kt * t.min_a))
                        .sum();
                    prop_assert!(mins + k * s.min_a > capacity(&p, limit) + 1e-9 - TOLERANCE,
                        "{} paused needlessly under {:?}", s.id, limit);
                }
                Binding::SessionMaximum => {
                    prop_assert!((x.current_a - s.max_a).abs() <= TOLERANCE, "{} not at its maximum", s.id);
                }
                Binding::Limit { limit } => {
                    prop_assert!(x.current_a >= s.min_a - TOLERANCE && x.current_a <= s.max_a + TOLERANCE);
                    prop_assert!(share(&p, s, limit).is_some());
                    prop_assert!(usage(&p, &a, limit) >= capacity(&p, limit) - 1e-4,
                        "{} held by {:?}, which is not saturated", s.id, limit);
                    // Nobody under that limit has more, save those held at their minimum or
                    // of a higher priority.
                    for (t, y) in p.sessions.iter().zip(&a) {
                        if share(&p, t, limit).is_some() && y.current_a > x.current_a + 1e-4 {
                            prop_assert!(y.current_a <= t.min_a + TOLERANCE || t.priority > s.priority,
                                "{} has {} under {:?} where {} has {}", t.id, y.current_a, limit, s.id, x.current_a);
                        }
                    }
                }
            }
        }
    }
}
