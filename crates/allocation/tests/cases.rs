//! Allocation cases worked by hand: an equal split, water-filling where maximums bind, mixed
//! phases on a three-phase connection, minimums that cannot all be met, priorities, a feeder
//! under the connection, and a limit in watts.

use arus_allocation::{Binding, Group, Limit, Problem, Session, allocate};

const L1: u8 = 0b001;
const L2: u8 = 0b010;
const THREE: u8 = 0b111;

fn site(limit_a: f64) -> Vec<Group> {
    vec![Group {
        id: "grid".into(),
        parent: None,
        phase_limits_a: Some([limit_a; 3]),
        power_limit_w: None,
    }]
}

fn car(id: &str, group: usize, phases: u8, max_a: f64) -> Session {
    Session {
        id: id.into(),
        group,
        phases,
        min_a: 6.0,
        max_a,
        priority: 0,
    }
}

fn currents(groups: Vec<Group>, sessions: Vec<Session>) -> Vec<f64> {
    let p = Problem {
        groups,
        sessions,
        voltage: 230.0,
    };
    allocate(&p)
        .expect("well formed")
        .iter()
        .map(|a| (a.current_a * 1000.0).round() / 1000.0)
        .collect()
}

#[test]
fn an_equal_split() {
    let cars = (0..4)
        .map(|i| car(&format!("c{i}"), 0, THREE, 32.0))
        .collect();
    assert_eq!(currents(site(100.0), cars), [25.0; 4]);
}

#[test]
fn water_filling_gives_what_a_small_car_leaves_to_the_others() {
    // 100 A: a 10 A car takes 10, the other three share 90.
    let cars = vec![
        car("small", 0, THREE, 10.0),
        car("a", 0, THREE, 32.0),
        car("b", 0, THREE, 32.0),
        car("c", 0, THREE, 32.0),
    ];
    assert_eq!(currents(site(100.0), cars), [10.0, 30.0, 30.0, 30.0]);
}

#[test]
fn single_phase_cars_load_only_their_phase() {
    // 32 A per phase: two single-phase cars on L1 share it; the three-phase car is held by L1
    // too (its current is the same on every phase), the L2 car takes what L2 leaves it.
    let cars = vec![
        car("l1-a", 0, L1, 32.0),
        car("l1-b", 0, L1, 32.0),
        car("three", 0, THREE, 32.0),
        car("l2", 0, L2, 32.0),
    ];
    let got = currents(site(32.0), cars);
    let third = 32.0 / 3.0;
    assert!((got[0] - third).abs() < 1e-3 && (got[1] - third).abs() < 1e-3);
    assert!((got[2] - third).abs() < 1e-3);
    assert!((got[3] - (32.0 - third)).abs() < 1e-3, "{got:?}");
}

#[test]
fn minimums_that_cannot_all_be_met_pause_the_last() {
    // 16 A: two cars at their 6 A minimum fit, a third does not and is paused, not starved.
    let p = Problem {
        groups: site(16.0),
        sessions: (0..3)
            .map(|i| car(&format!("c{i}"), 0, THREE, 32.0))
            .collect(),
        voltage: 230.0,
    };
    let a = allocate(&p).expect("well formed");
    assert_eq!(
        [a[0].current_a, a[1].current_a, a[2].current_a],
        [8.0, 8.0, 0.0]
    );
    assert_eq!(
        a[2].binding,
        Binding::Paused {
            limit: Limit::Phase { group: 0, phase: 0 }
        }
    );
}

#[test]
fn priorities_are_served_first_and_the_rest_share_what_is_left() {
    let mut vip = car("vip", 0, THREE, 20.0);
    vip.priority = 1;
    let cars = vec![car("a", 0, THREE, 32.0), vip, car("b", 0, THREE, 32.0)];
    // 40 A: the priority car takes its 20; the others keep their 6 A minimums and share the
    // remaining 20 equally.
    assert_eq!(currents(site(40.0), cars), [10.0, 20.0, 10.0]);
}

#[test]
fn a_feeder_limits_its_cars_and_the_rest_of_the_site_takes_the_remainder() {
    let mut groups = site(100.0);
    groups.push(Group {
        id: "level-2".into(),
        parent: Some(0),
        phase_limits_a: Some([20.0; 3]),
        power_limit_w: None,
    });
    let cars = vec![
        car("f1", 1, THREE, 32.0),
        car("f2", 1, THREE, 32.0),
        car("m1", 0, THREE, 32.0),
        car("m2", 0, THREE, 64.0),
        car("m3", 0, THREE, 64.0),
    ];
    // The feeder holds f1 and f2 at 10 each; the 80 A left go to m1 (32 max), then m2 and m3
    // share 48.
    assert_eq!(currents(groups, cars), [10.0, 10.0, 26.667, 26.667, 26.667]);
}

#[test]
fn a_limit_in_watts_counts_each_car_by_its_phases() {
    // 22 kW at 230 V: a three-phase car counts 690 W per ampere, a single-phase one 230 W.
    let groups = vec![Group {
        id: "grid".into(),
        parent: None,
        phase_limits_a: None,
        power_limit_w: Some(22_080.0),
    }];
    let cars = vec![car("three", 0, THREE, 32.0), car("one", 0, L1, 32.0)];
    // Equal current I: 690 I + 230 I = 22,080 → I = 24 A.
    assert_eq!(currents(groups, cars), [24.0, 24.0]);
}

#[test]
fn malformed_problems_are_refused() {
    let mut p = Problem {
        groups: site(10.0),
        sessions: vec![car("c", 3, THREE, 32.0)],
        voltage: 230.0,
    };
    assert!(allocate(&p).is_err());
    p.sessions[0].group = 0;
    p.sessions[0].min_a = 40.0;
    assert!(allocate(&p).is_err(), "minimum above maximum");
}
