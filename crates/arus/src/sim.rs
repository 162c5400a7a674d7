//! `arus sim`: runs simulated stations against a CSMS (Arus or any other).

use std::time::Duration;

use anyhow::Context;
use arus_sim::{Group, Mode, RunOptions, Scenario};
use clap::{Args, ValueEnum};

/// What simulated stations do.
#[derive(Debug, Clone, Copy, ValueEnum)]
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
    #[arg(long)]
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
    let opts = RunOptions {
        sources,
        progress: !args.quiet,
        warmup: args.warmup,
        seed: args.seed,
        echo: args.echo,
        duration: args.duration,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(arus_sim::run(scenario, opts, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    println!("{summary}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
