//! `arus sim`: runs simulated stations against a CSMS (Arus or any other).
//!
//! A station holds one socket, and a process may open only so many files (`ulimit -n`). When
//! the stations need more than the limit allows (after raising the soft limit to the hard
//! one), `arus sim` runs itself as several processes, each with every n-th station (a
//! [`arus_sim::Shard`]), shows their progress as one, and prints one merged summary. A shard
//! reports on stdout as JSON lines and stops when its stdin closes, so no shard outlives the
//! process that started it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use arus_sim::{Group, Mode, Progress, RunOptions, Scenario, Shard, Summary};
use clap::{Args, ValueEnum};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Sockets and files a process needs besides its stations.
const RESERVE_FILES: u64 = 256;

/// What simulated stations do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Sessions, meter values, faults, offline periods, answers to commands.
    Realistic,
    /// Benchmark: next message as soon as the last is answered.
    Steady,
    /// Benchmark: a fixed rate per station.
    Paced,
    /// Boot, report status, stay connected.
    Idle,
}

/// Settings of `arus sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// A scenario file (TOML); the flags below then only override its duration.
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// The CSMS's OCPP endpoint; stations connect to URL/{stationId}.
    #[arg(long, default_value = "ws://127.0.0.1:8180/ocpp")]
    url: String,
    /// How many stations.
    #[arg(long, default_value_t = 10)]
    stations: u32,
    /// Share of stations speaking OCPP 1.6 (the rest 2.0.1).
    #[arg(long, default_value_t = 0.5)]
    v16_share: f64,
    /// EVSEs per station.
    #[arg(long, default_value_t = 2)]
    evses: u32,
    /// What the stations do.
    #[arg(long, value_enum, default_value = "realistic")]
    mode: ModeArg,
    /// Messages per second per station (paced mode).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Simulated time runs this many times faster (realistic mode).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Station ids are this prefix and a number.
    #[arg(long, default_value = "SIM-")]
    prefix: String,
    /// HTTP Basic password of every station.
    #[arg(long, env = "ARUS_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Id tokens drivers present (comma-separated).
    #[arg(long, default_value = "SIM-TOKEN")]
    tokens: String,
    /// Spread the connections over this time (e.g. 10s).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    ramp: Duration,
    /// Stop after this long (e.g. 60s; default: until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Measure latency and throughput only after this long.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Connect from these local addresses in turn: 127.0.0.1-127.0.0.8 or a comma list.
    #[arg(long)]
    sources: Option<String>,
    /// Seed of the stations' randomness.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The server echoes frames back (benchmarking a bare echo server).
    #[arg(long)]
    echo: bool,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Processes to spread the stations over (default: as few as the open-file limit allows).
    #[arg(long)]
    processes: Option<u32>,
    /// Run only part I/N of the stations, reporting as JSON lines (used between processes).
    #[arg(long, hide = true, value_parser = Shard::parse)]
    shard: Option<Shard>,
}

impl SimArgs {
    /// The arguments of the process that runs `shard`: the same run, quiet, without files.
    fn shard_args(&self, shard: Shard) -> Vec<String> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let mut a: Vec<String> = vec!["sim".into()];
        let mut push = |k: &str, v: String| {
            a.push(k.into());
            a.push(v);
        };
        match &self.scenario {
            Some(path) => push("--scenario", path.display().to_string()),
            None => {
                push("--url", self.url.clone());
                push("--stations", self.stations.to_string());
                push("--v16-share", self.v16_share.to_string());
                push("--evses", self.evses.to_string());
                let mode = self
                    .mode
                    .to_possible_value()
                    .map(|v| v.get_name().to_string());
                push("--mode", mode.unwrap_or_else(|| "realistic".into()));
                push("--rate", self.rate.to_string());
                push("--speed", self.speed.to_string());
                push("--prefix", self.prefix.clone());
                push("--tokens", self.tokens.clone());
                push("--ramp", d(self.ramp));
            }
        }
        if let Some(x) = self.duration {
            push("--duration", d(x));
        }
        push("--warmup", d(self.warmup));
        if let Some(s) = &self.sources {
            push("--sources", s.clone());
        }
        push("--seed", self.seed.to_string());
        push("--shard", format!("{}/{}", shard.index, shard.of));
        if self.echo {
            a.push("--echo".into());
        }
        a.push("--quiet".into());
        a
    }
}

pub(crate) fn run(args: SimArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Scenario::parse(&text)?
        }
        None => {
            let mut g = Group::new(
                "sim",
                args.stations,
                match args.mode {
                    ModeArg::Realistic => Mode::Realistic,
                    ModeArg::Steady => Mode::Steady,
                    ModeArg::Paced => Mode::Paced,
                    ModeArg::Idle => Mode::Idle,
                },
            );
            g.prefix = Some(args.prefix.clone());
            g.v16_share = args.v16_share;
            g.evses = args.evses;
            g.rate = args.rate;
            g.speed = args.speed;
            g.password = args.password.clone();
            g.ramp = args.ramp;
            g.tokens = args
                .tokens
                .split(',')
                .map(|t| t.trim().to_string())
                .collect();
            let s = Scenario {
                url: args.url.clone(),
                duration: args.duration,
                groups: vec![g],
            };
            s.check()?;
            s
        }
    };
    let sources = match &args.sources {
        Some(s) => arus_sim::parse_sources(s).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(shard) = args.shard {
        raise_file_limit(shard.stations(&scenario));
        let done = runtime.block_on(run_shard(scenario, sources, &args, shard));
        // The stdin reader is a blocking thread that would hold the runtime open.
        runtime.shutdown_background();
        return done;
    }
    let total = scenario.stations();
    // Raise the soft limit as far as needed (up to the hard one), then split if short.
    let per = raise_file_limit(total).saturating_sub(RESERVE_FILES).max(1);
    let processes = args
        .processes
        .unwrap_or_else(|| u32::try_from(total.div_ceil(per)).unwrap_or(u32::MAX))
        // Every process gets at least one station.
        .clamp(1, u32::try_from(total.max(1)).unwrap_or(u32::MAX));
    let summary = if processes > 1 {
        runtime.block_on(run_processes(&args, processes, total))?
    } else {
        let opts = RunOptions {
            sources,
            progress: !args.quiet,
            warmup: args.warmup,
            seed: args.seed,
            echo: args.echo,
            duration: args.duration,
            ..RunOptions::default()
        };
        runtime.block_on(arus_sim::run(scenario, opts, async {
            let _ = tokio::signal::ctrl_c().await;
        }))
    };
    println!("{summary}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Raises the soft open-file limit towards what `stations` need (up to the hard limit);
/// returns the limit now in force.
fn raise_file_limit(stations: u64) -> u64 {
    rlimit::increase_nofile_limit(stations + RESERVE_FILES).unwrap_or(1024)
}

/// One shard of a run split over processes: its summary goes to stdout as a JSON line; it
/// stops at the end of the run, at Ctrl-C, or when its stdin closes.
async fn run_shard(
    scenario: Scenario,
    sources: Vec<std::net::IpAddr>,
    args: &SimArgs,
    shard: Shard,
) -> anyhow::Result<()> {
    let opts = RunOptions {
        sources,
        progress: false,
        json_progress: true,
        warmup: args.warmup,
        seed: args.seed,
        echo: args.echo,
        duration: args.duration,
        shard: Some(shard),
    };
    let summary = arus_sim::run(scenario, opts, async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let closed = async move { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = closed => {},
        }
    })
    .await;
    let line = serde_json::to_string(&ShardLine::Summary(Box::new(summary)))
        .context("encoding the summary")?;
    println!("{line}");
    Ok(())
}

/// A line a shard prints on its standard output for the parent: `{"progress": …}` while it
/// runs, `{"summary": …}` at the end.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum ShardLine {
    Progress(Progress),
    Summary(Box<Summary>),
}

/// What a shard said.
enum Report {
    Progress(usize, Progress),
    Summary(usize, Box<Summary>),
}

/// Runs the stations in `processes` processes of this program and merges what they report.
async fn run_processes(args: &SimArgs, processes: u32, total: u64) -> anyhow::Result<Summary> {
    let exe = std::env::current_exe().context("locating the arus binary")?;
    if !args.quiet {
        eprintln!("{total} stations in {processes} processes (open-file limit)");
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut children = Vec::new();
    let mut stdins = Vec::new();
    for index in 0..processes {
        let shard = Shard {
            index,
            of: processes,
        };
        let mut cmd = tokio::process::Command::new(&exe);
        // The password goes through the environment, not the command line others can read.
        if let Some(p) = &args.password {
            cmd.env("ARUS_SIM_PASSWORD", p);
        }
        let mut child = cmd
            .args(args.shard_args(shard))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a simulator process")?;
        stdins.push(child.stdin.take());
        let out = child.stdout.take().context("simulator output")?;
        let tx = tx.clone();
        let i = index as usize;
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let report = match serde_json::from_str::<ShardLine>(&line) {
                    Ok(ShardLine::Progress(p)) => Report::Progress(i, p),
                    Ok(ShardLine::Summary(s)) => Report::Summary(i, s),
                    Err(_) => continue,
                };
                if tx.send(report).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let started = Instant::now();
    let mut progress = vec![Progress::default(); children.len()];
    let mut summaries: Vec<Option<Summary>> = vec![None; children.len()];
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            report = rx.recv() => match report {
                Some(Report::Progress(i, p)) => progress[i] = p,
                Some(Report::Summary(i, s)) => summaries[i] = Some(*s),
                None => break,
            },
            _ = tick.tick() => {
                if !args.quiet {
                    let p = Progress::sum(&progress);
                    arus_sim::print_progress(started.elapsed(), total, &p, p.answered() - last);
                    last = p.answered();
                }
            }
            _ = &mut interrupted, if !stdins.is_empty() => {
                // Closing their stdin stops the shards; they still report their summaries.
                stdins.clear();
            }
        }
    }
    if !args.quiet {
        eprintln!();
    }
    for child in &mut children {
        let _ = child.wait().await;
    }
    let parts: Vec<Summary> = summaries.into_iter().flatten().collect();
    anyhow::ensure!(
        parts.len() == children.len(),
        "{} of {} simulator processes reported no summary",
        children.len() - parts.len(),
        children.len()
    );
    Ok(Summary::merge(&parts))
}
