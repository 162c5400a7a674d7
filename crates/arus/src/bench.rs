//! `arus bench`: the benchmark runner, and the bare echo server it measures as the machine's
//! ceiling. `scripts/bench` installs the peers and runs it; BENCHMARKS.md has the method.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use arus_bench::runner::{Plan, Target};
use clap::{Args, Subcommand};

/// `arus bench` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// A bare WebSocket echo server (the physical limit the others are measured against).
    Echo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8190")]
        listen: String,
    },
    /// Runs the benchmark scenarios against Arus and the peers.
    Run(Box<RunArgs>),
    /// Fills a database with simulated days of charging stations and prints its size each day
    /// (storage per station per day, and growth under the retention policy).
    Storage(crate::storage::StorageArgs),
    /// Times one reallocation of sites of growing size (load management).
    Allocation(crate::allocation_bench::AllocationArgs),
    /// Compares the energy each car got in a simulated site run with the best division.
    Site(crate::site_bench::SiteArgs),
}

/// Settings of `arus bench run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Servers to measure: arus, echo, python (the `ocpp` package), ocpp-rpc (npm).
    #[arg(
        long,
        default_value = "arus,echo,python,ocpp-rpc",
        value_delimiter = ','
    )]
    targets: Vec<String>,
    /// Scenarios: idle, storm, steady, latency.
    #[arg(
        long,
        default_value = "idle,storm,steady,latency",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    /// Stations of the idle and storm scenarios (a process may hold 20,000 sockets).
    #[arg(long, default_value_t = 19_000)]
    stations: u32,
    /// Stations of the steady scenario.
    #[arg(long, default_value_t = 1000)]
    steady_stations: u32,
    /// Latency runs as STATIONSxRATE (messages per second per station), comma-separated.
    #[arg(long, default_value = "1000x4,19000x0.1")]
    latency: String,
    /// Warm-up before each window.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Length of each measurement window.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    window: Duration,
    /// The server's CPU and the load generator's, e.g. 0,1.
    #[arg(long, default_value = "0,1")]
    cpus: String,
    /// Loopback source addresses for the simulator.
    #[arg(long, default_value = "127.0.0.1-127.0.0.16")]
    sources: String,
    /// The Python interpreter with the `ocpp` package.
    #[arg(long, default_value = ".venv/bin/python")]
    python: String,
    /// Where the servers keep their data during the run.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Write the measurements as JSON here.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
}

pub(crate) fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cmd {
        BenchCommand::Echo { listen } => runtime.block_on(async {
            let l = tokio::net::TcpListener::bind(&listen).await?;
            arus_bench::echo::serve(l).await;
            Ok(())
        }),
        BenchCommand::Run(args) => runtime.block_on(run_plan(*args)),
        BenchCommand::Storage(args) => runtime.block_on(crate::storage::run(args)),
        BenchCommand::Allocation(args) => crate::allocation_bench::run(args),
        BenchCommand::Site(args) => crate::site_bench::run(args),
    }
}

async fn run_plan(args: RunArgs) -> anyhow::Result<()> {
    let arus = std::env::current_exe().context("locating the arus binary")?;
    let exe = arus.display().to_string();
    let mut targets = Vec::new();
    for name in &args.targets {
        let command: Vec<String> = match name.as_str() {
            "arus" => [
                &exe,
                "serve",
                "--listen",
                "127.0.0.1:{port}",
                "--database",
                "sqlite://{dir}/bench.db",
                "--allow-unknown-stations",
                "--ping-interval",
                "0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            "echo" => [&exe, "bench", "echo", "--listen", "127.0.0.1:{port}"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "python" => vec![
                args.python.clone(),
                "bench/peers/python/csms.py".into(),
                "{port}".into(),
            ],
            "ocpp-rpc" => vec![
                "node".into(),
                "bench/peers/ocpp-rpc/csms.js".into(),
                "{port}".into(),
            ],
            other => anyhow::bail!("unknown target {other}"),
        };
        targets.push(Target {
            name: name.clone(),
            command,
            echo: name == "echo",
        });
    }
    let cpus: Vec<u32> = args
        .cpus
        .split(',')
        .map(|c| c.trim().parse())
        .collect::<Result<_, _>>()
        .context("--cpus is two CPU numbers, e.g. 0,1")?;
    anyhow::ensure!(cpus.len() == 2, "--cpus is two CPU numbers, e.g. 0,1");
    let latency = args
        .latency
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (n, r) = s
                .split_once('x')
                .context("latency runs are STATIONSxRATE")?;
            Ok((n.trim().parse()?, r.trim().parse()?))
        })
        .collect::<anyhow::Result<Vec<(u32, f64)>>>()?;
    std::fs::create_dir_all(&args.dir)?;
    let plan = Plan {
        arus,
        targets,
        scenarios: args.scenarios.clone(),
        many: args.stations,
        steady_stations: args.steady_stations,
        latency,
        warmup: args.warmup,
        window: args.window,
        cpus: (cpus[0], cpus[1]),
        sources: args.sources.clone(),
        dir: std::fs::canonicalize(&args.dir)?,
    };
    let results = arus_bench::runner::run(&plan).await;
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)?;
    println!("{}", arus_bench::runner::table(&results));
    println!("\n(measurements written to {})", args.json.display());
    Ok(())
}
