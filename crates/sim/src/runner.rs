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
use crate::stats::{Progress, Stats, Summary};

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
    /// Run only this share of the stations (one of several processes).
    pub shard: Option<Shard>,
    /// Progress goes to stdout as a JSON line a second (`{"progress": …}`) instead of a line
    /// on stderr: how a shard reports to the process that started it.
    pub json_progress: bool,
}

/// One of `of` processes running a scenario together: this one runs station `n` of each group
/// when `n % of == index`. Every station keeps its number, id, randomness, version, source
/// address and start time, so the processes together do exactly what one would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's part, from 0.
    pub index: u32,
    /// How many parts.
    pub of: u32,
}

impl Shard {
    /// Parses `I/N` (I from 0, below N).
    pub fn parse(s: &str) -> Result<Shard, ArgError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ArgError::Invalid("a shard is written I/N".into()))?;
        let number = |what: &'static str, text: &str| {
            text.trim()
                .parse::<u32>()
                .map_err(|source| ArgError::Number {
                    what,
                    text: text.to_string(),
                    source,
                })
        };
        let (index, of) = (number("index", i)?, number("count", n)?);
        if of == 0 || index >= of {
            return Err(ArgError::Invalid(format!(
                "shard {index}/{of}: the index is below the count"
            )));
        }
        Ok(Shard { index, of })
    }

    /// Whether station `n` of a group is this shard's.
    pub fn has(&self, n: u32) -> bool {
        n % self.of == self.index
    }

    /// How many of `count` stations are this shard's.
    pub fn count(&self, count: u32) -> u32 {
        count / self.of + u32::from(count % self.of > self.index)
    }

    /// How many of a scenario's stations are this shard's.
    pub fn stations(&self, scenario: &Scenario) -> u64 {
        scenario
            .groups
            .iter()
            .map(|g| u64::from(self.count(g.count)))
            .sum()
    }
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
            shard: None,
            json_progress: false,
        }
    }
}

/// A shard's progress line on stdout (`{"progress": …}`), read by the process that started it.
#[derive(serde::Serialize)]
struct ProgressLine {
    progress: Progress,
}

/// Why a command-line value (a shard, a list of source addresses) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// Not a number where one is expected.
    #[error("bad shard {what} `{text}`: {source}")]
    Number {
        /// Which number.
        what: &'static str,
        /// The text found.
        text: String,
        /// Why it is not a number.
        #[source]
        source: std::num::ParseIntError,
    },
    /// Not an IP address.
    #[error("{text}: {source}")]
    Address {
        /// The text found.
        text: String,
        /// Why it is not an address.
        #[source]
        source: std::net::AddrParseError,
    },
    /// Numbers or addresses that do not go together.
    #[error("{0}")]
    Invalid(String),
}

/// Parses `127.0.0.1-127.0.0.8` or `127.0.0.1,127.0.0.2` into addresses.
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, ArgError> {
    fn address<T: std::str::FromStr<Err = std::net::AddrParseError>>(
        text: &str,
    ) -> Result<T, ArgError> {
        text.trim().parse().map_err(|source| ArgError::Address {
            text: text.to_string(),
            source,
        })
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (std::net::Ipv4Addr, std::net::Ipv4Addr) = (address(a)?, address(b)?);
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a || b - a > 255 {
            return Err(ArgError::Invalid(format!(
                "{s}: at most 256 addresses, in order"
            )));
        }
        return Ok((a..=b).map(|n| IpAddr::V4(n.into())).collect());
    }
    s.split(',').map(address).collect()
}

async fn launch(
    group: Arc<Group>,
    shared: Arc<Shared>,
    shard: Option<Shard>,
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
        if shard.is_some_and(|s| !s.has(n)) {
            continue;
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
    let total = opts
        .shard
        .map_or_else(|| scenario.stations(), |s| s.stations(&scenario));
    let stats = Arc::new(Stats::for_stations(total));
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
            opts.shard,
            stop_rx.clone(),
            stations.clone(),
        ));
    }
    let started = Instant::now();
    let progress = (opts.progress || opts.json_progress).then(|| {
        let stats = stats.clone();
        let json = opts.json_progress;
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let p = stats.progress();
                if json {
                    if let Ok(line) = serde_json::to_string(&ProgressLine { progress: p }) {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{line}");
                        let _ = out.flush();
                    }
                } else {
                    print_progress(started.elapsed(), total, &p, p.answered() - last);
                }
                last = p.answered();
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
    // A shard's histogram is taken with its counters, so the merged run's samples match its
    // answers.
    let mut summary = if opts.shard.is_some() {
        stats.shard_summary(total)
    } else {
        stats.summary(total)
    };
    let _ = stop_tx.send(true);
    launchers.abort_all();
    let mut set = std::mem::take(&mut *stations.lock().await);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while set.join_next().await.is_some() {}
    })
    .await;
    set.abort_all();
    // Stations count what they leave queued as they stop, and record the cars still there.
    summary.unsent = stats.unsent.load(Ordering::Relaxed);
    summary.cars = stats.cars();
    if let Some(p) = progress {
        p.abort();
        if opts.progress && !opts.json_progress {
            eprintln!();
        }
    }
    summary
}

/// Prints the progress line (to stderr, rewriting itself): `rate` is answers in the last second.
pub fn print_progress(elapsed: Duration, total: u64, p: &Progress, rate: u64) {
    eprint!(
        "\r{:>6.0}s  connected {:>6}/{total}  booted {:>6}  {:>7}/s  answered {:>9}  errors {:>5}  timeouts {:>4}  tx {:>6} ",
        elapsed.as_secs_f64(),
        p.connected,
        p.booted,
        rate,
        p.answered(),
        p.errors,
        p.timeouts,
        p.started,
    );
    let _ = std::io::stderr().flush();
}

#[cfg(test)]
mod tests {
    use super::{Shard, parse_sources};

    /// Every station belongs to exactly one shard, and the shards' counts add up.
    #[test]
    fn shards_partition_the_stations() {
        for of in 1..=5u32 {
            for count in [0u32, 1, 4, 5, 17, 100] {
                let shards: Vec<Shard> = (0..of).map(|index| Shard { index, of }).collect();
                for n in 0..count {
                    assert_eq!(shards.iter().filter(|s| s.has(n)).count(), 1);
                }
                for s in &shards {
                    assert_eq!(
                        s.count(count),
                        (0..count).filter(|n| s.has(*n)).count() as u32
                    );
                }
            }
        }
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, of: 3 }));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn sources() {
        assert_eq!(parse_sources("127.0.0.1-127.0.0.4").map(|v| v.len()), Ok(4));
        assert_eq!(parse_sources("127.0.0.1,127.0.0.9").map(|v| v.len()), Ok(2));
        assert!(parse_sources("127.0.0.9-127.0.0.1").is_err());
    }
}
