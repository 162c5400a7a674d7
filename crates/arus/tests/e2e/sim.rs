//! The simulator against the real server: a mixed fleet of 1.6 and 2.0.1 stations charging,
//! faulting and dropping offline at high speed; cars obeying a site's load management, its load
//! read back from their meter values; and `serve --demo`.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Server};

both!(
    a_mixed_fleet_loses_no_transaction,
    a_run_split_over_processes_is_one_run,
    a_site_stays_inside_its_limits_by_its_meter_values
);

/// Every transaction the simulated stations had acknowledged is in the server; every stop they
/// sent or replayed after an offline period is recorded; no CALL was refused or left
/// unanswered.
async fn a_mixed_fleet_loses_no_transaction(b: &Backend) {
    let server = Server::start(b, &["--allow-unknown-stations"]).await;
    // One card for the whole simulated fleet: it may be in many transactions at once.
    let (s, body) = server
        .post(
            "/api/v1/id-tokens",
            json!({"idToken": "SIM-TOKEN", "type": "ISO14443", "status": "Accepted", "concurrentUse": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("fleet.toml");
    let url = server.ws_url("x");
    let url = url.trim_end_matches("/x");
    std::fs::write(
        &scenario,
        format!(
            r#"
url = "{url}"
duration = "12s"

[[group]]
name = "fleet"
prefix = "FLEET-"
count = 10
v16_share = 0.5
evses = 2
mode = "realistic"
speed = 600.0
meter_interval = "60s"
session_gap = "1m..10m"
session_energy_kwh = [5.0, 15.0]
fault_rate = 0.2
offline_rate = 1.0
offline_for = "5m"
tokens = ["SIM-TOKEN"]
"#
        ),
    )
    .expect("scenario written");
    let scenario = scenario.display().to_string();
    let summary = run_sim(&["--scenario", &scenario]).await;
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {summary}"))
    };
    assert_eq!(n("booted"), 10, "{summary}");
    assert_eq!(n("callErrors"), 0, "{summary}");
    assert_eq!(n("timeouts"), 0, "{summary}");
    assert_eq!(n("connectErrors"), 0, "{summary}");
    assert!(n("transactionsStarted") > 5, "{summary}");
    assert!(n("offlinePeriods") > 0 && n("replayed") > 0, "{summary}");

    let items = server.get("/api/v1/transactions?limit=1000").await;
    let items = items["items"].as_array().cloned().unwrap_or_default();
    let fleet: Vec<&Value> = items
        .iter()
        .filter(|t| {
            t["stationId"]
                .as_str()
                .is_some_and(|s| s.starts_with("FLEET-"))
        })
        .collect();
    // A start or stop counts once answered (or, for stops, once queued offline). CALLs in flight
    // when the run ended may be committed here without being counted there.
    let in_flight = n("calls") - n("results") - n("callErrors") - n("timeouts");
    let started = fleet.len() as u64;
    assert!(
        started >= n("transactionsStarted") && started <= n("transactionsStarted") + in_flight,
        "{started} transactions here; {summary}"
    );
    // Stops still queued offline at the end never reached us.
    let stopped = fleet.iter().filter(|t| !t["stoppedAt"].is_null()).count() as u64;
    assert!(
        stopped + n("unsent") >= n("transactionsStopped")
            && stopped <= n("transactionsStopped") + in_flight,
        "{stopped} stopped here; {summary}"
    );
    // 2.0.1 events that came in offline carry their meter readings: energy is known.
    assert!(
        fleet
            .iter()
            .filter(|t| !t["stoppedAt"].is_null())
            .all(|t| t["energyWh"].as_f64().is_some_and(|e| e > 0.0)),
        "{fleet:?}"
    );
}

/// More stations than one process may open sockets for: the simulator splits itself into
/// processes (here forced with `--processes`), and together they are the one fleet asked for.
async fn a_run_split_over_processes_is_one_run(b: &Backend) {
    let server = Server::start(b, &["--allow-unknown-stations"]).await;
    let url = server.ws_url("x");
    let url = url.trim_end_matches("/x");
    let summary = run_sim(&[
        "--url",
        url,
        "--stations",
        "12",
        "--mode",
        "paced",
        "--rate",
        "5",
        "--prefix",
        "SPLIT-",
        "--processes",
        "3",
        "--duration",
        "4s",
    ])
    .await;
    assert_eq!(summary["stations"], 12, "{summary}");
    assert_eq!(summary["booted"], 12, "{summary}");
    assert_eq!(summary["callErrors"], 0, "{summary}");
    let results = summary["results"].as_u64().unwrap_or(0);
    assert!(results >= 12, "{summary}");
    assert_eq!(
        summary["latencyMs"]["samples"].as_u64(),
        Some(results),
        "{summary}"
    );
    // Each station (once, whichever process ran it) is known to the server.
    let stations = server.get("/api/v1/stations").await;
    let mut ids: Vec<String> = stations["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .filter(|id| id.starts_with("SPLIT-"))
        .map(str::to_string)
        .collect();
    ids.sort();
    let expected: Vec<String> = (1..=12).map(|n| format!("SPLIT-{n:05}")).collect();
    assert_eq!(ids, expected);
}

/// Runs `arus sim` with `args` (quiet), checks that it succeeded, and returns its summary.
/// Issue 11: a site's stations get their limits from load management while simulated cars
/// (single- and three-phase, on rotated wiring) come and go; the load the site's meter values
/// show never passes the grid connection's limit nor a sub-group's on any phase, and cars did
/// charge.
async fn a_site_stays_inside_its_limits_by_its_meter_values(b: &Backend) {
    let server = Server::start(b, &["--allow-unknown-stations"]).await;
    let (s, body) = server
        .post(
            "/api/v1/id-tokens",
            json!({"idToken": "LOT-TOKEN", "type": "ISO14443", "status": "Accepted", "concurrentUse": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let evses: Vec<Value> = (1..=6)
        .flat_map(|n| {
            (1..=2).map(move |e| {
                json!({"stationId": format!("LOT-{n:05}"), "evseId": e,
                       "group": if n > 3 { "row-b" } else { "grid" },
                       "l1OnPhase": (n * 2 + e) % 3 + 1})
            })
        })
        .collect();
    let (s, body) = server
        .post(
            "/api/v1/sites",
            json!({"id": "lot", "groups": [
                {"id": "grid", "phaseLimitsA": [40, 40, 40]},
                {"id": "row-b", "parent": "grid", "phaseLimitsA": [20, 20, 20]}],
              "evses": evses}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let from = chrono::Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("lot.toml");
    let url = server.ws_url("x");
    let url = url.trim_end_matches("/x");
    std::fs::write(
        &scenario,
        format!(
            r#"
url = "{url}"
duration = "20s"

[[group]]
name = "lot"
prefix = "LOT-"
count = 6
v16_share = 0.5
evses = 2
speed = 120.0
meter_interval = "60s"
session_gap = "1m..15m"
fault_rate = 0.0
offline_rate = 0.0
tokens = ["LOT-TOKEN"]

[[group.car]]
name = "city"
phases = 1
max_current_a = 32.0
battery_kwh = 40.0
dwell = "15m..1h"

[[group.car]]
name = "saloon"
phases = 3
max_current_a = 16.0
battery_kwh = 75.0
dwell = "15m..1h"
"#
        ),
    )
    .expect("scenario written");
    let scenario = scenario.display().to_string();
    let summary = run_sim(&["--scenario", &scenario]).await;
    assert_eq!(summary["callErrors"], json!(0), "{summary}");
    assert!(
        summary["transactionsStarted"].as_u64() > Some(4),
        "{summary}"
    );
    let to = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let load = server
        .get(&format!(
            "/api/v1/sites/lot/load?from={}&to={}&step=1",
            at(from),
            at(to)
        ))
        .await;
    let groups = load["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2, "{load}");
    assert!(load["readings"].as_u64() > Some(20), "{load}");
    for g in &groups {
        assert_eq!(
            g["excessCount"],
            json!(0),
            "{}: {}",
            g["groupId"],
            g["excesses"]
        );
    }
    let peak = |g: &Value| {
        g["peakA"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .fold(0.0, f64::max)
    };
    assert!(
        peak(&groups[0]) > 6.0,
        "cars charged: {}",
        groups[0]["peakA"]
    );
    assert!(peak(&groups[0]) <= 40.0 && peak(&groups[1]) <= 20.0);
    // The same from the raw meter values by a checker that shares no code with Arus.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/site-load-check");
    let (from, to) = (at(from), at(to));
    let addr = server.addr;
    let check = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, "--site", "lot", "--from", &from, "--to", &to])
            .env("ARUS_SERVER", format!("http://{addr}"))
            .env("ARUS_TOKEN", crate::common::TOKEN)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("joined");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        out.contains("grid: peak") && !out.contains("grid: peak 0.0 / 0.0 / 0.0"),
        "{out}"
    );
}

async fn run_sim(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary_path = dir.path().join("summary.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arus"));
    cmd.arg("sim")
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&summary_path)
        .env("ARUS_LOG", "warn");
    let sim = tokio::task::spawn_blocking(move || cmd.output().expect("arus sim runs"))
        .await
        .expect("joined");
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary written"))
        .expect("summary is JSON")
}

/// `serve --demo` starts its simulated stations against itself: they connect and boot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_live_stations() {
    let b = Backend::sqlite();
    let server = Server::start(&b, &["--demo", "--demo-stations", "6"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stations = server.get("/api/v1/stations").await;
        let connected = stations["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["id"].as_str().is_some_and(|i| i.starts_with("DEMO-")) && s["connected"] == true
            })
            .count();
        if connected == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{connected} of 6 demo stations connected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = server.get("/api/v1/stations").await;
    let id = first["items"][0]["id"].as_str().expect("an id").to_string();
    let one = server.get(&format!("/api/v1/stations/{id}")).await;
    assert!(one["vendor"].is_string(), "{one}");
}
