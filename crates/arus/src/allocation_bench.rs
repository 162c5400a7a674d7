//! `arus bench allocation`: the time one reallocation of a site takes, for sites of growing
//! size (the target: under 5 ms for 10,000 EVSEs, growing no faster than n log n).
//!
//! The site: a grid connection whose limit binds, under it one feeder per 100 EVSEs with a
//! limit of its own that binds for some of them, and sessions of mixed kinds (three in five
//! three-phase cars, the rest single-phase on the phase their connector's wiring gives),
//! maximums of 16 or 32 A, a 6 A minimum, one in twenty with a higher priority.

use std::time::{Duration, Instant};

use arus_allocation::{Group, Problem, Session, allocate};
use clap::Args;

/// Settings of `arus bench allocation`.
#[derive(Debug, Args)]
pub(crate) struct AllocationArgs {
    /// Site sizes, in EVSEs with a session.
    #[arg(long, default_value = "100,1000,10000", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// How long to repeat each size.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    time: Duration,
}

/// The site of `n` sessions described in the module's documentation.
pub(crate) fn site(n: usize) -> Problem {
    let feeders = n.div_ceil(100).max(1);
    let mut groups = vec![Group {
        id: "grid".into(),
        parent: None,
        // About 12 A per EVSE on each phase: the connection binds.
        phase_limits_a: Some([12.0 * n as f64; 3]),
        power_limit_w: None,
    }];
    for f in 0..feeders {
        groups.push(Group {
            id: format!("feeder-{f}"),
            parent: Some(0),
            // Every third feeder is tighter than the connection's share.
            phase_limits_a: Some([if f % 3 == 0 { 600.0 } else { 2000.0 }; 3]),
            power_limit_w: None,
        });
    }
    let sessions = (0..n)
        .map(|i| Session {
            id: format!("evse-{i}"),
            group: 1 + i % feeders,
            phases: if i % 5 < 3 { 0b111 } else { 1 << (i % 3) },
            min_a: 6.0,
            max_a: if i % 2 == 0 { 32.0 } else { 16.0 },
            priority: i32::from(i % 20 == 0),
        })
        .collect();
    Problem {
        groups,
        sessions,
        voltage: 230.0,
    }
}

pub(crate) fn run(args: AllocationArgs) -> anyhow::Result<()> {
    println!("| EVSEs | runs | median | p99 | median ÷ (n log₂ n) |");
    println!("|---|---|---|---|---|");
    for n in args.sizes {
        let problem = site(n);
        let mut times = Vec::new();
        let started = Instant::now();
        while started.elapsed() < args.time || times.len() < 5 {
            let t = Instant::now();
            let a = allocate(&problem)?;
            times.push(t.elapsed());
            std::hint::black_box(a);
        }
        times.sort();
        let median = times[times.len() / 2];
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        let per = median.as_secs_f64() * 1e9 / (n as f64 * (n as f64).log2().max(1.0));
        println!(
            "| {n} | {} | {:.3} ms | {:.3} ms | {per:.1} ns |",
            times.len(),
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
