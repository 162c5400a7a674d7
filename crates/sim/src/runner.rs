//! Running a scenario: starting each group's stations (spread over its ramp), showing
//! progress, opening the measurement window after the warm-up, and stopping at the end.

use std::future::Future;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::behaviour::{Shared, station};
use crate::scenario::{Group, Scenario};
use crate::stats::{Stats, Summary};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Local addresses to connect from, in turn (127.0.0.x spreads connections past the
    /// ephemeral port limit of one address). Empty: the system's choice.
    pub sources: Vec<IpAddr>,
    /// Print a progress line every second (to stderr).
    pub progress: bool,
    /// Latency and throughput are measured after this long.
    pub warmup: Duration,
    /// Seed of every station's randomness.
    pub seed: u64,
    /// Treat an echoed CALL as its answer (benchmarks against an echo server).
    pub echo: bool,
    /// Run this long (overrides the scenario's duration).
    pub duration: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            sources: Vec::new(),
            progress: true,
            warmup: Duration::ZERO,
            seed: 1,
            echo: false,
            duration: None,
        }
    }
}

/// Parses `127.0.0.1-127.0.0.8` or `127.0.0.1,127.0.0.2` into addresses.
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
            a.trim().parse().map_err(|e| format!("{a}: {e}"))?,
            b.trim().parse().map_err(|e| format!("{b}: {e}"))?,
        );
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a || b - a > 255 {
            return Err(format!("{s}: at most 256 addresses, in order"));
        }
        return Ok((a..=b).map(|n| IpAddr::V4(n.into())).collect());
    }
    s.split(',')
        .map(|p| p.trim().parse().map_err(|e| format!("{p}: {e}")))
        .collect()
}

async fn launch(
    group: Arc<Group>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    set: Arc<tokio::sync::Mutex<JoinSet<()>>>,
) {
    tokio::time::sleep(group.start_after).await;
    let spacing = if group.count > 1 {
        group.ramp / group.count
    } else {
        Duration::ZERO
    };
    let start = tokio::time::Instant::now();
    for n in 0..group.count {
        if *stop.borrow() {
            return;
        }
        if !spacing.is_zero() {
            tokio::time::sleep_until(start + spacing * n).await;
        }
        set.lock()
            .await
            .spawn(station(shared.clone(), group.clone(), n, stop.clone()));
    }
}

/// Runs a scenario until its duration passes or `interrupt` resolves; returns the summary.
pub async fn run(
    scenario: Scenario,
    opts: RunOptions,
    interrupt: impl Future<Output = ()>,
) -> Summary {
    let stats = Arc::new(Stats::for_stations(scenario.stations()));
    let shared = Arc::new(Shared {
        url: scenario.url.clone(),
        sources: opts.sources.clone(),
        stats: stats.clone(),
        seed: opts.seed,
        echo: opts.echo,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stations = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
    let mut launchers = JoinSet::new();
    for g in &scenario.groups {
        launchers.spawn(launch(
            Arc::new(g.clone()),
            shared.clone(),
            stop_rx.clone(),
            stations.clone(),
        ));
    }
    let total = scenario.stations();
    let started = Instant::now();
    let progress = opts.progress.then(|| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let answered = stats.results.load(Ordering::Relaxed) + stats.errors.load(Ordering::Relaxed);
                eprint!(
                    "\r{:>6.0}s  connected {:>6}/{total}  booted {:>6}  {:>7}/s  answered {:>9}  errors {:>5}  timeouts {:>4}  tx {:>6} ",
                    started.elapsed().as_secs_f64(),
                    stats.connected.load(Ordering::Relaxed),
                    stats.booted.load(Ordering::Relaxed),
                    answered - last,
                    answered,
                    stats.errors.load(Ordering::Relaxed),
                    stats.timeouts.load(Ordering::Relaxed),
                    stats.started.load(Ordering::Relaxed),
                );
                let _ = std::io::stderr().flush();
                last = answered;
            }
        })
    });
    let duration = opts.duration.or(scenario.duration);
    let window = {
        let stats = stats.clone();
        let warmup = opts.warmup;
        async move {
            tokio::time::sleep(warmup).await;
            stats.start_window();
            std::future::pending::<()>().await;
        }
    };
    let end = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = end => {},
        () = interrupt => {},
        () = window => {},
    }
    let summary = stats.summary(total);
    let _ = stop_tx.send(true);
    launchers.abort_all();
    let mut set = std::mem::take(&mut *stations.lock().await);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while set.join_next().await.is_some() {}
    })
    .await;
    set.abort_all();
    // Stations count what they leave queued as they stop.
    let mut summary = summary;
    summary.unsent = stats.unsent.load(Ordering::Relaxed);
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::parse_sources;

    #[test]
    fn sources() {
        assert_eq!(parse_sources("127.0.0.1-127.0.0.4").map(|v| v.len()), Ok(4));
        assert_eq!(parse_sources("127.0.0.1,127.0.0.9").map(|v| v.len()), Ok(2));
        assert!(parse_sources("127.0.0.9-127.0.0.1").is_err());
    }
}
