//! The benchmark runner.
//!
//! For each scenario and each target server it starts the server pinned to one CPU
//! (`taskset`), runs `arus sim` pinned to the other, and reads the server's CPU time
//! (`/proc/PID/stat`) and resident memory (`/proc/PID/status`) around the measurement window.
//! Throughput is reported raw and per server CPU-second, so that a load generator that saturates
//! first does not hide the server's capacity; every Arus figure is also given as a ratio to each
//! peer measured in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::process::{Child, Command};

/// A server to measure.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in the tables.
    pub name: String,
    /// The program and its arguments; `{port}` and `{dir}` are replaced.
    pub command: Vec<String>,
    /// Whether it echoes frames instead of answering them.
    pub echo: bool,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `arus` binary (for `arus sim`).
    pub arus: PathBuf,
    /// The servers.
    pub targets: Vec<Target>,
    /// Scenario names: `idle`, `storm`, `steady`, `latency`.
    pub scenarios: Vec<String>,
    /// Stations of the idle and storm scenarios.
    pub many: u32,
    /// Stations of the steady scenario.
    pub steady_stations: u32,
    /// Latency runs: (stations, messages per second per station).
    pub latency: Vec<(u32, f64)>,
    /// Warm-up before each measurement window.
    pub warmup: Duration,
    /// Length of each measurement window.
    pub window: Duration,
    /// CPU for the server and CPU for the load generator.
    pub cpus: (u32, u32),
    /// Loopback source addresses for the simulator (`127.0.0.1-127.0.0.16`).
    pub sources: String,
    /// Where servers keep their data.
    pub dir: PathBuf,
}

/// One measured figure set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// `idle`, `storm`, `steady` or `latency`.
    pub scenario: String,
    /// The server measured.
    pub target: String,
    /// Simulated stations.
    pub stations: u32,
    /// Offered rate per station, for latency runs.
    pub rate: Option<f64>,
    /// Server CPU seconds in the window (user + system).
    pub server_cpu_s: f64,
    /// Server resident memory before the stations connected, KiB.
    pub rss_before_kib: u64,
    /// Server resident memory at the end of the window, KiB.
    pub rss_after_kib: u64,
    /// Resident memory per connected station, bytes.
    pub bytes_per_station: Option<f64>,
    /// Answered messages per second in the window.
    pub throughput: f64,
    /// Answered messages per server CPU-second.
    pub per_cpu_second: Option<f64>,
    /// Median round trip, ms.
    pub p50_ms: f64,
    /// 99th percentile round trip, ms.
    pub p99_ms: f64,
    /// 99.9th percentile round trip, ms.
    pub p999_ms: f64,
    /// Seconds until every station was booted (storm).
    pub all_booted_s: Option<f64>,
    /// Failed connections, CALLERRORs and timeouts.
    pub errors: u64,
    /// Stations connected at the end.
    pub connected: u64,
    /// What failed, if the run did.
    pub failure: Option<String>,
    /// The simulator's own summary.
    pub sim: Value,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Starting a process, or preparing its port or directory, failed.
    #[error("{doing} failed")]
    Io {
        /// What was being done.
        doing: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// A server or the simulator misbehaved (no underlying error: the message says what).
    #[error("{0}")]
    Failed(String),
}

impl BenchError {
    fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let doing = doing.into();
        move |source| BenchError::Io { doing, source }
    }

    /// The message with its causes, for a measurement's `failure`.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

fn clock_ticks() -> f64 {
    // Linux reports CPU time in USER_HZ, 100 on every mainstream architecture.
    100.0
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(BenchError::io("finding a free port"))
}

struct Server {
    child: Child,
    pid: u32,
    port: u16,
    dir: PathBuf,
}

impl Server {
    async fn start(t: &Target, cpu: u32, dir: &Path) -> Result<Server, BenchError> {
        let port = free_port()?;
        let run_dir = dir.join(format!("{}-{port}", t.name));
        std::fs::create_dir_all(&run_dir)
            .map_err(BenchError::io(format!("creating {}", run_dir.display())))?;
        let args: Vec<String> = t
            .command
            .iter()
            .map(|a| {
                a.replace("{port}", &port.to_string())
                    .replace("{dir}", &run_dir.display().to_string())
            })
            .collect();
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .args(&args)
            .env("ARUS_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(BenchError::io(format!("starting {} with taskset", t.name)))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Failed("server exited".into()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(BenchError::Failed(format!("{} did not start", t.name)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let it settle (interpreters finish loading).
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Server {
            child,
            pid,
            port,
            dir: run_dir,
        })
    }

    /// Stops the server and removes its data.
    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The simulator's arguments for one run.
struct SimRun {
    stations: u32,
    mode: &'static str,
    rate: f64,
    ramp: Duration,
    warmup: Duration,
    duration: Duration,
}

async fn simulate(
    plan: &Plan,
    server: &Server,
    target: &Target,
    run: &SimRun,
    json: &Path,
) -> Result<Child, BenchError> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(plan.cpus.1.to_string())
        .arg(&plan.arus)
        .arg("sim")
        .args(["--url", &format!("ws://127.0.0.1:{}/ocpp", server.port)])
        .args(["--stations", &run.stations.to_string()])
        .args(["--mode", run.mode])
        .args(["--rate", &run.rate.to_string()])
        .args(["--ramp", &format!("{}ms", run.ramp.as_millis())])
        .args(["--warmup", &format!("{}ms", run.warmup.as_millis())])
        .args(["--duration", &format!("{}ms", run.duration.as_millis())])
        .args(["--sources", &plan.sources])
        .args(["--prefix", "BENCH-"])
        .arg("--quiet")
        .arg("--json")
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if target.echo {
        cmd.arg("--echo");
    }
    cmd.spawn()
        .map_err(BenchError::io("starting the simulator with taskset"))
}

fn read_summary(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

impl Measurement {
    /// A measurement with nothing measured yet.
    fn empty(scenario: &str, target: &str, stations: u32, rate: Option<f64>) -> Measurement {
        Measurement {
            scenario: scenario.to_string(),
            target: target.to_string(),
            stations,
            rate,
            server_cpu_s: 0.0,
            rss_before_kib: 0,
            rss_after_kib: 0,
            bytes_per_station: None,
            throughput: 0.0,
            per_cpu_second: None,
            p50_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            all_booted_s: None,
            errors: 0,
            connected: 0,
            failure: None,
            sim: Value::Null,
        }
    }
}

/// Runs one scenario on one target.
async fn measure(
    plan: &Plan,
    target: &Target,
    scenario: &str,
    stations: u32,
    rate: Option<f64>,
) -> Measurement {
    let mut m = Measurement::empty(scenario, &target.name, stations, rate);
    let server = match Server::start(target, plan.cpus.0, &plan.dir).await {
        Ok(s) => s,
        Err(e) => {
            m.failure = Some(e.chain());
            return m;
        }
    };
    m.rss_before_kib = rss_kib(server.pid).unwrap_or(0);
    let json = plan
        .dir
        .join(format!("{scenario}-{}-{stations}.json", target.name));
    let run = match scenario {
        "idle" => SimRun {
            stations,
            mode: "idle",
            rate: 1.0,
            // Connect gently: memory, not the storm, is measured here.
            ramp: Duration::from_millis((stations as u64 * 2).min(40_000)),
            warmup: Duration::ZERO,
            duration: Duration::from_millis((stations as u64 * 2).min(40_000))
                + Duration::from_secs(15),
        },
        "storm" => SimRun {
            stations,
            mode: "idle",
            rate: 1.0,
            ramp: Duration::ZERO,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(30),
        },
        "steady" => SimRun {
            stations,
            mode: "steady",
            rate: 1.0,
            ramp: Duration::from_secs(2),
            warmup: plan.warmup,
            duration: plan.warmup + plan.window,
        },
        _ => SimRun {
            stations,
            mode: "paced",
            rate: rate.unwrap_or(1.0),
            ramp: Duration::from_secs((stations as u64 / 2000).max(2)),
            warmup: plan.warmup + Duration::from_secs(stations as u64 / 2000),
            duration: plan.warmup + Duration::from_secs(stations as u64 / 2000) + plan.window,
        },
    };
    let child = match simulate(plan, &server, target, &run, &json).await {
        Ok(c) => c,
        Err(e) => {
            m.failure = Some(e.chain());
            server.stop().await;
            return m;
        }
    };
    // The window: from the warm-up's end to the run's end; memory near the end.
    tokio::time::sleep(run.warmup).await;
    let cpu0 = cpu_seconds(server.pid).unwrap_or(0.0);
    let rest = run.duration.saturating_sub(run.warmup);
    tokio::time::sleep(rest.saturating_sub(Duration::from_millis(500))).await;
    m.rss_after_kib = rss_kib(server.pid).unwrap_or(0);
    let cpu1 = cpu_seconds(server.pid).unwrap_or(0.0);
    let waited = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await;
    if waited.is_err() {
        m.failure = Some("the simulator did not finish".into());
    }
    server.stop().await;
    let sim = read_summary(&json);
    m.server_cpu_s = cpu1 - cpu0;
    m.throughput = f(&sim, "throughput");
    m.per_cpu_second =
        (m.server_cpu_s > 0.0).then(|| m.throughput * f(&sim, "windowS") / m.server_cpu_s);
    m.p50_ms = f(&sim["latencyMs"], "p50");
    m.p99_ms = f(&sim["latencyMs"], "p99");
    m.p999_ms = f(&sim["latencyMs"], "p999");
    m.all_booted_s = sim["allBootedS"].as_f64();
    m.errors = u(&sim, "connectErrors") + u(&sim, "callErrors") + u(&sim, "timeouts");
    m.connected = u(&sim, "connected");
    if scenario == "idle" && m.connected > 0 {
        m.bytes_per_station = Some(
            (m.rss_after_kib.saturating_sub(m.rss_before_kib)) as f64 * 1024.0 / m.connected as f64,
        );
    }
    if sim.is_null() && m.failure.is_none() {
        m.failure = Some("the simulator wrote no summary".into());
    }
    m.sim = sim;
    m
}

/// Runs the whole plan; every measurement in order.
pub async fn run(plan: &Plan) -> Vec<Measurement> {
    let mut out = Vec::new();
    for scenario in &plan.scenarios {
        let runs: Vec<(u32, Option<f64>)> = match scenario.as_str() {
            "idle" | "storm" => vec![(plan.many, None)],
            "steady" => vec![(plan.steady_stations, None)],
            "latency" => plan.latency.iter().map(|(n, r)| (*n, Some(*r))).collect(),
            _ => continue,
        };
        for (stations, rate) in runs {
            for target in &plan.targets {
                eprintln!(
                    "bench: {scenario} with {stations} stations on {}",
                    target.name
                );
                let m = measure(plan, target, scenario, stations, rate).await;
                eprintln!("       {}", line(&m));
                out.push(m);
            }
        }
    }
    out
}

fn line(m: &Measurement) -> String {
    if let Some(f) = &m.failure {
        return format!("failed: {f}");
    }
    match m.scenario.as_str() {
        "idle" => format!(
            "{} connected, {} bytes per station",
            m.connected,
            m.bytes_per_station
                .map_or("?".into(), |b| format!("{b:.0}"))
        ),
        "storm" => format!(
            "all booted after {} s, {} errors",
            m.all_booted_s.map_or("-".into(), |t| format!("{t:.2}")),
            m.errors
        ),
        _ => format!(
            "{:.0} msg/s, {} per CPU-s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} errors",
            m.throughput,
            m.per_cpu_second.map_or("?".into(), |v| format!("{v:.0}")),
            m.p50_ms,
            m.p99_ms,
            m.p999_ms,
            m.errors
        ),
    }
}

/// The results as a Markdown table per scenario, with Arus's ratio to each peer.
pub fn table(results: &[Measurement]) -> String {
    let mut groups: BTreeMap<(String, u32, String), Vec<&Measurement>> = BTreeMap::new();
    for m in results {
        let key = (
            m.scenario.clone(),
            m.stations,
            m.rate.map_or(String::new(), |r| format!("{r}")),
        );
        groups.entry(key).or_default().push(m);
    }
    let mut out = String::new();
    for ((scenario, stations, rate), ms) in groups {
        let rate = if rate.is_empty() {
            String::new()
        } else {
            format!(", {rate} msg/s each")
        };
        let _ = writeln!(out, "\n### {scenario}: {stations} stations{rate}\n");
        let arus = ms.iter().find(|m| m.target == "arus").copied();
        match scenario.as_str() {
            "idle" => {
                let _ = writeln!(
                    out,
                    "| server | connected | RSS before (MiB) | RSS after (MiB) | bytes per station | server ÷ Arus (memory) |"
                );
                let _ = writeln!(out, "|---|---|---|---|---|---|");
                for m in &ms {
                    // Less is better: how many times the server's memory per station Arus's is.
                    let ratio = ratio(m.bytes_per_station, arus.and_then(|a| a.bytes_per_station));
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.1} | {:.1} | {} | {} |",
                        m.target,
                        m.connected,
                        m.rss_before_kib as f64 / 1024.0,
                        m.rss_after_kib as f64 / 1024.0,
                        m.bytes_per_station
                            .map_or("-".into(), |b| format!("{b:.0}")),
                        ratio
                    );
                }
            }
            "storm" => {
                let _ = writeln!(
                    out,
                    "| server | connected | all booted after (s) | errors | server ÷ Arus (time) |"
                );
                let _ = writeln!(out, "|---|---|---|---|---|");
                for m in &ms {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} |",
                        m.target,
                        m.connected,
                        m.all_booted_s
                            .map_or("not all".into(), |t| format!("{t:.2}")),
                        m.errors,
                        ratio(m.all_booted_s, arus.and_then(|a| a.all_booted_s))
                    );
                }
            }
            _ => {
                let _ = writeln!(
                    out,
                    "| server | msg/s | server CPU-s | msg per server CPU-s | p50 ms | p99 ms | p99.9 ms | errors | Arus ÷ server (per CPU-s) |"
                );
                let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
                for m in &ms {
                    let _ = writeln!(
                        out,
                        "| {} | {:.0} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                        m.target,
                        m.throughput,
                        m.server_cpu_s,
                        m.per_cpu_second.map_or("-".into(), |v| format!("{v:.0}")),
                        m.p50_ms,
                        m.p99_ms,
                        m.p999_ms,
                        m.errors,
                        ratio(arus.and_then(|a| a.per_cpu_second), m.per_cpu_second)
                    );
                }
            }
        }
        for m in ms.iter().filter(|m| m.failure.is_some()) {
            let _ = writeln!(
                out,
                "\n{}: {}",
                m.target,
                m.failure.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

/// `a ÷ b`, when both are known.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_failure_keeps_its_source_and_says_what_was_done() {
        let e = BenchError::io("starting x with taskset")(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no taskset",
        ));
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.chain(), "starting x with taskset failed: no taskset");
    }

    fn measurement(scenario: &str, target: &str) -> Measurement {
        Measurement {
            server_cpu_s: 1.0,
            connected: 100,
            ..Measurement::empty(scenario, target, 100, None)
        }
    }

    /// Ratios read the same way in every table: above 1, Arus is ahead.
    #[test]
    fn ratios_put_arus_ahead_above_one() {
        let mut a = measurement("steady", "arus");
        a.per_cpu_second = Some(30_000.0);
        let mut p = measurement("steady", "peer");
        p.per_cpu_second = Some(20_000.0);
        let mut ai = measurement("idle", "arus");
        ai.bytes_per_station = Some(4_000.0);
        let mut pi = measurement("idle", "peer");
        pi.bytes_per_station = Some(12_000.0);
        let mut as_ = measurement("storm", "arus");
        as_.all_booted_s = Some(2.0);
        let mut ps = measurement("storm", "peer");
        ps.all_booted_s = None;
        let t = table(&[a, p, ai, pi, as_, ps]);
        assert!(t.contains("| peer | 0 | 1.00 | 20000 |"), "{t}");
        assert!(
            t.trim_end()
                .lines()
                .any(|l| l.starts_with("| peer |") && l.ends_with("| 1.50 |")),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("| peer | 100 |") && l.ends_with("| 3.00 |")),
            "{t}"
        );
        // A peer that did not boot every station has no time to compare.
        assert!(
            t.lines()
                .any(|l| l.starts_with("| peer | 100 | not all |") && l.ends_with("| - |")),
            "{t}"
        );
    }
}
