//! What a simulated station does.
//!
//! A station is one task with one connection. Its EVSEs each run a small state machine in
//! simulated time (`speed` times faster than real time): idle, sometimes faulted, plugged in,
//! authorized, charging with a power curve that tapers as the battery fills, stopped. The
//! messages these produce go out one at a time; while offline, transaction messages are queued
//! and replayed in order after reconnecting (2.0.1 marks them `offline`).
//!
//! Everything a realistic station sends is checked against its schema before it goes out, so a
//! bug in the simulator shows up as its own error, not as a CSMS fault.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arus_ocpp::Version;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{Answer, Conn, ConnError};
use crate::rng::Rng;
use crate::scenario::{Group, Mode};
use crate::stats::{Stats, inc};

/// What every station of a run shares.
pub(crate) struct Shared {
    pub url: String,
    pub sources: Vec<IpAddr>,
    pub stats: Arc<Stats>,
    pub seed: u64,
    /// Treat an echoed CALL as its answer (benchmarks against an echo server).
    pub echo: bool,
}

/// Work a CSMS command asked for, done by the behaviour loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FollowUp {
    /// Reset: disconnect and boot again.
    Reboot,
    /// Remote start on an EVSE (or the first free one).
    RemoteStart {
        evse: Option<u32>,
        token: String,
        remote_start_id: Option<i64>,
    },
    /// Remote stop of a transaction.
    RemoteStop { transaction_id: String },
    /// TriggerMessage: send this message now.
    Trigger {
        message: Triggered,
        evse: Option<u32>,
    },
    /// GetBaseReport / GetReport: send the report.
    Report { request_id: i64 },
    /// UpdateFirmware: report its progress.
    Firmware {
        request_id: Option<i64>,
        signed: bool,
    },
    /// GetDiagnostics / GetLog: report the upload's progress.
    Upload {
        request_id: Option<i64>,
        diagnostics: bool,
    },
    /// CustomerInformation: send what the station knows.
    Customer { request_id: i64 },
    /// GetMonitoringReport: send the (empty) monitoring report.
    Monitoring { request_id: i64 },
    /// ChangeAvailability: report the new statuses.
    Statuses,
}

/// A message TriggerMessage (or 1.6 ExtendedTriggerMessage) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Triggered {
    BootNotification,
    Heartbeat,
    StatusNotification,
    MeterValues,
    TransactionEvent,
    FirmwareStatusNotification,
    DiagnosticsStatusNotification,
    LogStatusNotification,
    /// One the simulator accepts and does not send (certificates, publishing).
    Other,
}

/// Where an EVSE's session stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Idle,
    Faulted,
    /// Plugged in, waiting to authorize.
    Plugged,
    Charging,
}

/// A transaction in progress.
#[derive(Debug, Clone)]
pub(crate) struct Tx {
    pub id: String,
    pub seq: u32,
    pub token: String,
    pub target_wh: f64,
    pub delivered_wh: f64,
    pub remote_start_id: Option<i64>,
}

/// One EVSE (with one connector).
#[derive(Debug, Clone)]
pub(crate) struct Evse {
    pub id: u32,
    pub phase: Phase,
    pub tx: Option<Tx>,
    /// The energy register, Wh.
    pub meter_wh: f64,
    /// When the state machine next acts (real time).
    pub next: Instant,
    pub inoperative: bool,
}

/// A station's state, shared by its behaviour and its answers to commands.
pub(crate) struct StationState {
    pub id: String,
    pub version: Version,
    pub rng: Rng,
    pub evses: Vec<Evse>,
    pub follow_ups: VecDeque<FollowUp>,
    /// Configuration keys (1.6) and variables (2.0.1, as `Component.Variable`).
    pub config: BTreeMap<String, String>,
    pub echo: bool,
    pub heartbeat: Duration,
    pub local_list_version: i64,
    /// Transaction messages waiting for the connection: (action, payload).
    pub queue: Vec<(&'static str, Value)>,
    pub online: bool,
    /// Accepted since its last (re)boot: a reconnection does not boot again.
    pub registered: bool,
    /// Booted at least once in this run.
    pub ever_booted: bool,
    /// The reason its next boot gives.
    pub boot_reason: &'static str,
}

impl StationState {
    pub(crate) fn new(
        id: String,
        version: Version,
        group: &Group,
        seed: u64,
        echo: bool,
    ) -> StationState {
        let mut rng = Rng::new(seed);
        let now = Instant::now();
        let evses = (1..=group.evses)
            .map(|id| Evse {
                id,
                phase: Phase::Idle,
                tx: None,
                meter_wh: rng.between(1_000.0, 5_000_000.0).round(),
                next: now + real(group, rng.between(0.0, group.session_gap.1.as_secs_f64())),
                inoperative: false,
            })
            .collect();
        let mut config = BTreeMap::new();
        for (k, v) in [
            ("HeartbeatInterval", "300"),
            ("MeterValueSampleInterval", "60"),
            ("ConnectionTimeOut", "60"),
            ("OCPPCommCtrlr.OfflineThreshold", "300"),
            ("AuthCtrlr.AuthorizeRemoteStart", "true"),
            ("SampledDataCtrlr.TxUpdatedInterval", "60"),
        ] {
            config.insert(k.to_string(), v.to_string());
        }
        StationState {
            id,
            version,
            rng,
            evses,
            follow_ups: VecDeque::new(),
            config,
            echo,
            heartbeat: Duration::from_secs(300),
            local_list_version: 0,
            queue: Vec::new(),
            online: false,
            registered: false,
            ever_booted: false,
            boot_reason: "PowerUp",
        }
    }

    pub fn v16(&self) -> bool {
        self.version == Version::V16
    }
}

/// Simulated seconds as real time.
fn real(group: &Group, sim_seconds: f64) -> Duration {
    Duration::from_secs_f64((sim_seconds / group.speed).max(0.0))
}

pub(crate) fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How a station's connection ended.
enum End {
    /// The run is over.
    Stop,
    /// Going offline for this long, then reconnecting.
    Offline(Duration),
    /// Reset: reconnect and boot.
    Reboot,
}

/// Runs one station until the run stops.
pub(crate) async fn station(
    shared: Arc<Shared>,
    group: Arc<Group>,
    n: u32,
    mut stop: watch::Receiver<bool>,
) {
    let id = group.station_id(n);
    let seed = shared.seed ^ (u64::from(n) << 20) ^ hash(&group.name);
    let mut pick = Rng::new(seed);
    let version = if pick.chance(group.v16_share) {
        Version::V16
    } else {
        Version::V201
    };
    let mut st = StationState::new(id.clone(), version, &group, seed, shared.echo);
    let source =
        (!shared.sources.is_empty()).then(|| shared.sources[n as usize % shared.sources.len()]);
    let stats = &shared.stats;
    let mut backoff = Duration::from_millis(500);
    loop {
        if *stop.borrow() {
            break;
        }
        let conn = tokio::select! {
            c = Conn::open(&shared.url, &id, version, group.password.as_deref(), source) => c,
            _ = stop.changed() => break,
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                inc(&stats.connect_errors);
                tracing::debug!(station = %id, error = %e, "connect failed");
                let wait = backoff.mul_f64(pick.between(0.5, 1.5));
                backoff = (backoff * 2).min(Duration::from_secs(30));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        backoff = Duration::from_millis(500);
        inc(&stats.connects);
        stats
            .connected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        st.online = true;
        let outcome = {
            let life = live(&mut conn, &mut st, &group, stats);
            tokio::select! {
                r = life => r,
                _ = stop.changed() => Ok(End::Stop),
            }
        };
        st.online = false;
        stats
            .connected
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        conn.close().await;
        match outcome {
            Ok(End::Stop) => break,
            Ok(End::Reboot) => {
                st.registered = false;
                st.boot_reason = "RemoteReset";
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(End::Offline(d)) => {
                inc(&stats.offline);
                offline(&mut st, &group, stats, d, &mut stop).await
            }
            Err(e) => {
                inc(&stats.disconnects);
                tracing::debug!(station = %id, error = %e, "connection lost");
                tokio::time::sleep(backoff).await;
            }
        }
    }
    // Transaction messages queued offline that never went out: the CSMS cannot know them.
    stats
        .unsent
        .fetch_add(st.queue.len() as u64, std::sync::atomic::Ordering::Relaxed);
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One connection's life: boot unless registered (OCPP-J stations do not boot again on a mere
/// reconnection), replay what was queued offline, then the group's mode.
async fn live(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
) -> Result<End, ConnError> {
    if !st.registered {
        let reason = st.boot_reason;
        boot(conn, st, stats, reason).await?;
        st.registered = true;
        if !st.ever_booted {
            st.ever_booted = true;
            stats.booted_one();
        }
        statuses(conn, st, stats).await?;
    }
    replay(conn, st, stats).await?;
    match group.mode {
        Mode::Steady | Mode::Paced => bench(conn, st, group, stats).await,
        Mode::Idle => idle(conn, st, stats).await,
        Mode::Realistic => realistic(conn, st, group, stats).await,
    }
}

/// Sends a message, checked first against its schema.
async fn send(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    action: &str,
    payload: &Value,
) -> Result<Answer, ConnError> {
    let text = payload.to_string();
    debug_assert!(valid(st.version, action, &text), "{action} {text}");
    if !valid(st.version, action, &text) {
        tracing::error!(%action, %text, "the simulator built an invalid message");
    }
    conn.call(action, &text, st, stats).await
}

fn valid(version: Version, action: &str, text: &str) -> bool {
    match version {
        Version::V16 => arus_ocpp::v16::Action::from_name(action)
            .is_some_and(|a| arus_ocpp::v16::Request::decode(a, text).is_ok()),
        _ => arus_ocpp::v201::Action::from_name(action)
            .is_some_and(|a| arus_ocpp::v201::Request::decode(a, text).is_ok()),
    }
}

fn result(answer: Answer) -> Option<Value> {
    match answer {
        Answer::Result(p) => serde_json::from_str(&p).ok(),
        Answer::Error { code, description } => {
            tracing::warn!(%code, %description, "the CSMS answered with a CALLERROR");
            None
        }
    }
}

async fn boot(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    reason: &str,
) -> Result<(), ConnError> {
    loop {
        let payload = if st.v16() {
            json!({"chargePointVendor": "Arus Sim", "chargePointModel": "Virtual AC", "chargePointSerialNumber": st.id, "firmwareVersion": "sim-1.0"})
        } else {
            json!({"reason": reason, "chargingStation": {"vendorName": "Arus Sim", "model": "Virtual AC", "serialNumber": st.id, "firmwareVersion": "sim-1.0"}})
        };
        let answer = send(conn, st, stats, "BootNotification", &payload).await?;
        let (status, interval) = match result(answer) {
            Some(v) if st.echo => (
                String::from("Accepted"),
                v["interval"].as_u64().unwrap_or(300),
            ),
            Some(v) => (
                v["status"].as_str().unwrap_or("Rejected").to_string(),
                v["interval"].as_u64().unwrap_or(30),
            ),
            None => ("Rejected".into(), 30),
        };
        if status == "Accepted" {
            st.heartbeat = Duration::from_secs(interval.max(1));
            return Ok(());
        }
        let again = tokio::time::Instant::now() + Duration::from_secs(interval.max(1));
        conn.wait_until(again, st, stats).await?;
    }
}

fn status_payload(st: &StationState, evse: u32, status: &str) -> Value {
    if st.v16() {
        json!({"connectorId": evse, "errorCode": if status == "Faulted" { "GroundFailure" } else { "NoError" }, "status": status, "timestamp": now_ts()})
    } else {
        let status = match status {
            "Preparing" | "Charging" | "Finishing" | "SuspendedEV" | "SuspendedEVSE" => "Occupied",
            s => s,
        };
        json!({"timestamp": now_ts(), "connectorStatus": status, "evseId": evse, "connectorId": 1})
    }
}

fn evse_status(e: &Evse) -> &'static str {
    match (&e.phase, e.inoperative) {
        (Phase::Faulted, _) => "Faulted",
        (Phase::Plugged, _) => "Preparing",
        (Phase::Charging, _) => "Charging",
        (Phase::Idle, true) => "Unavailable",
        (Phase::Idle, false) => "Available",
    }
}

/// Reports every connector's status (after boot, after ChangeAvailability).
async fn statuses(conn: &mut Conn, st: &mut StationState, stats: &Stats) -> Result<(), ConnError> {
    if st.v16() {
        let p = status_payload(st, 0, "Available");
        send(conn, st, stats, "StatusNotification", &p).await?;
    }
    let all: Vec<(u32, &'static str)> = st.evses.iter().map(|e| (e.id, evse_status(e))).collect();
    for (id, status) in all {
        let p = status_payload(st, id, status);
        send(conn, st, stats, "StatusNotification", &p).await?;
    }
    Ok(())
}

/// Sends what was queued while offline, in order.
async fn replay(conn: &mut Conn, st: &mut StationState, stats: &Stats) -> Result<(), ConnError> {
    let queued = std::mem::take(&mut st.queue);
    for (i, (action, payload)) in queued.iter().enumerate() {
        match send(conn, st, stats, action, payload).await {
            Ok(_) => inc(&stats.replayed),
            Err(e) => {
                // Keep what did not go out for the next connection.
                st.queue = queued[i..].to_vec();
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn idle(conn: &mut Conn, st: &mut StationState, stats: &Stats) -> Result<End, ConnError> {
    loop {
        let next = Instant::now() + st.heartbeat;
        conn.wait_until(next, st, stats).await?;
        if let Some(end) = follow_ups(conn, st, stats).await? {
            return Ok(end);
        }
        if Instant::now() >= next {
            send(conn, st, stats, "Heartbeat", &json!({})).await?;
        }
    }
}

/// The benchmark loops: `steady` sends the next message as soon as the last is answered;
/// `paced` at the group's rate with a random phase. Messages come from templates checked once.
async fn bench(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
) -> Result<End, ConnError> {
    let v16 = st.v16();
    let meter = |ts: &str, wh: u64| -> String {
        if v16 {
            format!(
                r#"{{"connectorId":1,"meterValue":[{{"timestamp":"{ts}","sampledValue":[{{"value":"{wh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"}},{{"value":"7360","measurand":"Power.Active.Import","unit":"W"}},{{"value":"32.0","measurand":"Current.Import","phase":"L1","unit":"A"}},{{"value":"230.1","measurand":"Voltage","phase":"L1-N","unit":"V"}}]}}]}}"#
            )
        } else {
            format!(
                r#"{{"evseId":1,"meterValue":[{{"timestamp":"{ts}","sampledValue":[{{"value":{wh},"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unitOfMeasure":{{"unit":"Wh"}}}},{{"value":7360,"measurand":"Power.Active.Import","unitOfMeasure":{{"unit":"W"}}}},{{"value":32.0,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{{"unit":"A"}}}},{{"value":230.1,"measurand":"Voltage","phase":"L1-N","unitOfMeasure":{{"unit":"V"}}}}]}}]}}"#
            )
        }
    };
    let template = meter(&now_ts(), 1000);
    if !valid(st.version, "MeterValues", &template) {
        tracing::error!("the benchmark MeterValues template is invalid: {template}");
    }
    // Paced stations send as a Poisson process at the group's rate.
    let paced = group.mode == Mode::Paced;
    let mean_gap = 1.0 / group.rate;
    let mut next = Instant::now() + Duration::from_secs_f64(st.rng.exponential(mean_gap));
    let mut wh = st.evses.first().map_or(1000.0, |e| e.meter_wh) as u64;
    loop {
        if paced {
            if Instant::now() < next {
                conn.wait_until(next, st, stats).await?;
            }
            next += Duration::from_secs_f64(st.rng.exponential(mean_gap));
        }
        if st.rng.chance(group.meter_share) {
            wh += 15;
            let payload = meter(&now_ts(), wh);
            conn.call("MeterValues", &payload, st, stats).await?;
        } else {
            conn.call("Heartbeat", "{}", st, stats).await?;
        }
        if let Some(end) = follow_ups(conn, st, stats).await? {
            return Ok(end);
        }
    }
}

/// The power an EV draws at a state of charge (0..1): full power up to 80 %, then tapering to
/// a tenth.
pub(crate) fn power_kw(max_kw: f64, soc: f64) -> f64 {
    if soc < 0.8 {
        max_kw
    } else {
        max_kw * ((1.0 - soc) / 0.2).clamp(0.1, 1.0)
    }
}

fn meter_value_v16(e: &Evse, tx: &Tx, power_w: f64, context: &str) -> Value {
    let soc = (tx.delivered_wh / tx.target_wh * 80.0 + 15.0).min(100.0);
    let amps = power_w / 230.0 / 3.0;
    json!({"timestamp": now_ts(), "sampledValue": [
        {"value": format!("{:.0}", e.meter_wh), "context": context, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": format!("{:.0}", power_w), "context": context, "measurand": "Power.Active.Import", "unit": "W"},
        {"value": format!("{amps:.1}"), "context": context, "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": format!("{amps:.1}"), "context": context, "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": format!("{amps:.1}"), "context": context, "measurand": "Current.Import", "phase": "L3", "unit": "A"},
        {"value": "230.4", "context": context, "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        {"value": format!("{soc:.0}"), "context": context, "measurand": "SoC", "location": "EV", "unit": "Percent"}
    ]})
}

fn meter_value_v201(e: &Evse, tx: &Tx, power_w: f64, context: &str) -> Value {
    let soc = (tx.delivered_wh / tx.target_wh * 80.0 + 15.0).min(100.0);
    let amps = power_w / 230.0 / 3.0;
    json!({"timestamp": now_ts(), "sampledValue": [
        {"value": e.meter_wh.round(), "context": context, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": power_w.round(), "context": context, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": (amps * 10.0).round() / 10.0, "context": context, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
        {"value": (amps * 10.0).round() / 10.0, "context": context, "measurand": "Current.Import", "phase": "L2", "unitOfMeasure": {"unit": "A"}},
        {"value": (amps * 10.0).round() / 10.0, "context": context, "measurand": "Current.Import", "phase": "L3", "unitOfMeasure": {"unit": "A"}},
        {"value": 230.4, "context": context, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
        {"value": soc.round(), "context": context, "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}}
    ]})
}

fn tx_event(st: &mut StationState, evse: usize, kind: &str, trigger: &str, extra: Value) -> Value {
    let offline = !st.online;
    let e = &mut st.evses[evse];
    let tx = e.tx.as_mut().expect("a transaction");
    let seq = tx.seq;
    tx.seq += 1;
    let mut v = json!({"eventType": kind, "timestamp": now_ts(), "triggerReason": trigger, "seqNo": seq,
        "transactionInfo": {"transactionId": tx.id}, "evse": {"id": e.id, "connectorId": 1}});
    if offline {
        v["offline"] = json!(true);
    }
    if let Some(id) = tx.remote_start_id
        && kind == "Started"
    {
        v["transactionInfo"]["remoteStartId"] = json!(id);
    }
    if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            if k == "transactionInfo" {
                if let (Some(info), Some(add)) = (
                    o.get_mut("transactionInfo").and_then(Value::as_object_mut),
                    val.as_object(),
                ) {
                    info.extend(add.clone());
                }
            } else {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

/// The realistic life: each EVSE's state machine, one message at a time.
async fn realistic(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
) -> Result<End, ConnError> {
    let mut next_heartbeat = Instant::now() + st.heartbeat;
    loop {
        let due = st
            .evses
            .iter()
            .map(|e| e.next)
            .min()
            .unwrap_or(next_heartbeat)
            .min(next_heartbeat);
        conn.wait_until(due, st, stats).await?;
        if let Some(end) = follow_ups(conn, st, stats).await? {
            return Ok(end);
        }
        let now = Instant::now();
        if now >= next_heartbeat {
            send(conn, st, stats, "Heartbeat", &json!({})).await?;
            next_heartbeat = now + st.heartbeat;
        }
        for i in 0..st.evses.len() {
            if st.evses[i].next <= now
                && let Some(end) = step(conn, st, group, stats, i).await?
            {
                return Ok(end);
            }
        }
    }
}

/// Sends a transaction message, or queues it while offline.
async fn tx_send(
    conn: Option<&mut Conn>,
    st: &mut StationState,
    stats: &Stats,
    action: &'static str,
    payload: Value,
) -> Result<Option<Value>, ConnError> {
    match conn {
        Some(c) if st.online => Ok(result(send(c, st, stats, action, &payload).await?)),
        _ => {
            st.queue.push((action, payload));
            Ok(None)
        }
    }
}

/// Advances EVSE `i` by one step.
async fn step(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
) -> Result<Option<End>, ConnError> {
    let now = Instant::now();
    let id = st.evses[i].id;
    match st.evses[i].phase {
        Phase::Idle if st.evses[i].inoperative => {
            st.evses[i].next = now + real(group, 3600.0);
        }
        Phase::Idle => {
            if st.rng.chance(group.fault_rate) {
                st.evses[i].phase = Phase::Faulted;
                let p = status_payload(st, id, "Faulted");
                send(conn, st, stats, "StatusNotification", &p).await?;
                let repair = st.rng.between(300.0, 3600.0);
                st.evses[i].next = now + real(group, repair);
                return Ok(None);
            }
            let token =
                group.tokens[(st.rng.next_u64() % group.tokens.len() as u64) as usize].clone();
            plug_in(conn, st, group, stats, i, token, None).await?;
        }
        Phase::Faulted => {
            st.evses[i].phase = Phase::Idle;
            let p = status_payload(st, id, "Available");
            send(conn, st, stats, "StatusNotification", &p).await?;
            let gap = st.rng.between(
                group.session_gap.0.as_secs_f64(),
                group.session_gap.1.as_secs_f64(),
            );
            st.evses[i].next = now + real(group, gap);
        }
        Phase::Plugged => authorize_and_start(conn, st, group, stats, i).await?,
        Phase::Charging => {
            if let Some(end) = charge(Some(conn), st, group, stats, i).await? {
                return Ok(Some(end));
            }
        }
    }
    Ok(None)
}

/// An EV plugs in (a remote start has its token already).
async fn plug_in(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
    token: String,
    remote_start_id: Option<i64>,
) -> Result<(), ConnError> {
    let id = st.evses[i].id;
    let target = st
        .rng
        .between(group.session_energy_kwh.0, group.session_energy_kwh.1)
        * 1000.0;
    let tx_id = if st.v16() {
        String::new()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    st.evses[i].phase = Phase::Plugged;
    st.evses[i].tx = Some(Tx {
        id: tx_id,
        seq: 0,
        token,
        target_wh: target,
        delivered_wh: 0.0,
        remote_start_id,
    });
    let p = status_payload(st, id, "Preparing");
    send(conn, st, stats, "StatusNotification", &p).await?;
    if !st.v16() {
        let begin = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("just set");
            meter_value_v201(e, tx, 0.0, "Transaction.Begin")
        };
        let trigger = if remote_start_id.is_some() {
            "RemoteStart"
        } else {
            "CablePluggedIn"
        };
        let ev = tx_event(
            st,
            i,
            "Started",
            trigger,
            json!({"transactionInfo": {"chargingState": "EVConnected"}, "meterValue": [begin]}),
        );
        send(conn, st, stats, "TransactionEvent", &ev).await?;
        inc(&stats.started);
    }
    let wait = st.rng.between(2.0, 20.0);
    st.evses[i].next = Instant::now() + real(group, wait);
    Ok(())
}

async fn authorize_and_start(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
) -> Result<(), ConnError> {
    let id = st.evses[i].id;
    let token = st.evses[i]
        .tx
        .as_ref()
        .map(|t| t.token.clone())
        .unwrap_or_default();
    let auth = if st.v16() {
        json!({"idTag": token})
    } else {
        json!({"idToken": {"idToken": token, "type": "ISO14443"}})
    };
    let answer = result(send(conn, st, stats, "Authorize", &auth).await?);
    let status = answer
        .as_ref()
        .and_then(|a| a.get(if st.v16() { "idTagInfo" } else { "idTokenInfo" }))
        .and_then(|i| i["status"].as_str())
        .unwrap_or("Invalid")
        .to_string();
    let accepted = status == "Accepted" || st.echo;
    if st.v16() {
        if !accepted {
            st.evses[i].tx = None;
            st.evses[i].phase = Phase::Idle;
            for s in ["Finishing", "Available"] {
                let p = status_payload(st, id, s);
                send(conn, st, stats, "StatusNotification", &p).await?;
            }
        } else {
            let meter_start = st.evses[i].meter_wh as i64;
            let start = json!({"connectorId": id, "idTag": token, "meterStart": meter_start, "timestamp": now_ts()});
            let answer = result(send(conn, st, stats, "StartTransaction", &start).await?);
            let tx_id = answer
                .as_ref()
                .and_then(|a| a["transactionId"].as_i64())
                .unwrap_or(-1);
            inc(&stats.started);
            if let Some(tx) = st.evses[i].tx.as_mut() {
                tx.id = tx_id.to_string();
            }
            st.evses[i].phase = Phase::Charging;
            let p = status_payload(st, id, "Charging");
            send(conn, st, stats, "StatusNotification", &p).await?;
        }
    } else {
        let ev = tx_event(
            st,
            i,
            "Updated",
            "Authorized",
            json!({"idToken": {"idToken": token, "type": "ISO14443"}}),
        );
        let answer = result(send(conn, st, stats, "TransactionEvent", &ev).await?);
        let ok = st.echo
            || answer
                .as_ref()
                .and_then(|a| a["idTokenInfo"]["status"].as_str())
                .is_some_and(|s| s == "Accepted");
        if accepted && ok {
            st.evses[i].phase = Phase::Charging;
            let ev = tx_event(
                st,
                i,
                "Updated",
                "ChargingStateChanged",
                json!({"transactionInfo": {"chargingState": "Charging"}}),
            );
            send(conn, st, stats, "TransactionEvent", &ev).await?;
        } else {
            let ev = tx_event(
                st,
                i,
                "Ended",
                "Deauthorized",
                json!({"transactionInfo": {"stoppedReason": "DeAuthorized", "chargingState": "EVConnected"}}),
            );
            send(conn, st, stats, "TransactionEvent", &ev).await?;
            inc(&stats.stopped);
            st.evses[i].tx = None;
            st.evses[i].phase = Phase::Idle;
            let p = status_payload(st, id, "Available");
            send(conn, st, stats, "StatusNotification", &p).await?;
        }
    }
    let gap = st.rng.between(
        group.session_gap.0.as_secs_f64(),
        group.session_gap.1.as_secs_f64(),
    );
    let next = if st.evses[i].phase == Phase::Charging {
        group.meter_interval.as_secs_f64()
    } else {
        gap
    };
    st.evses[i].next = Instant::now() + real(group, next);
    Ok(())
}

/// A meter interval of charging: energy flows along the power curve; the session stops when
/// the EV is full. Decides, once per session, whether the station goes offline now.
async fn charge(
    mut conn: Option<&mut Conn>,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
) -> Result<Option<End>, ConnError> {
    let interval_h = group.meter_interval.as_secs_f64() / 3600.0;
    let (power_w, full) = {
        let e = &mut st.evses[i];
        let Some(tx) = e.tx.as_mut() else {
            e.phase = Phase::Idle;
            return Ok(None);
        };
        let soc = tx.delivered_wh / tx.target_wh;
        let p = power_kw(group.max_power_kw, soc) * 1000.0;
        let wh = (p * interval_h)
            .min(tx.target_wh - tx.delivered_wh)
            .max(0.0);
        tx.delivered_wh += wh;
        e.meter_wh += wh;
        (p, tx.delivered_wh >= tx.target_wh - 1.0)
    };
    let id = st.evses[i].id;
    if full {
        stop(conn, st, group, stats, i, "EVDisconnected").await?;
        return Ok(None);
    }
    let v16 = st.v16();
    if v16 {
        let (mv, tx_id) = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("charging");
            (
                meter_value_v16(e, tx, power_w, "Sample.Periodic"),
                tx.id.parse::<i64>().unwrap_or(-1),
            )
        };
        let payload = json!({"connectorId": id, "transactionId": tx_id, "meterValue": [mv]});
        tx_send(conn.as_deref_mut(), st, stats, "MeterValues", payload).await?;
    } else {
        let mv = {
            let e = &st.evses[i];
            meter_value_v201(
                e,
                e.tx.as_ref().expect("charging"),
                power_w,
                "Sample.Periodic",
            )
        };
        let ev = tx_event(
            st,
            i,
            "Updated",
            "MeterValuePeriodic",
            json!({"meterValue": [mv]}),
        );
        tx_send(conn, st, stats, "TransactionEvent", ev).await?;
    }
    st.evses[i].next = Instant::now() + real(group, group.meter_interval.as_secs_f64());
    if st.online && st.rng.chance(group.offline_rate / 10.0) {
        return Ok(Some(End::Offline(real(
            group,
            group.offline_for.as_secs_f64(),
        ))));
    }
    Ok(None)
}

/// Ends EVSE `i`'s session.
async fn stop(
    mut conn: Option<&mut Conn>,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
    reason: &str,
) -> Result<(), ConnError> {
    let id = st.evses[i].id;
    if st.v16() {
        let (tx_id, meter, token, mv) = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("a session");
            (
                tx.id.parse::<i64>().unwrap_or(-1),
                e.meter_wh as i64,
                tx.token.clone(),
                meter_value_v16(e, tx, 0.0, "Transaction.End"),
            )
        };
        let payload = json!({"transactionId": tx_id, "idTag": token, "meterStop": meter, "timestamp": now_ts(), "reason": reason, "transactionData": [mv]});
        tx_send(conn.as_deref_mut(), st, stats, "StopTransaction", payload).await?;
    } else {
        let mv = {
            let e = &st.evses[i];
            meter_value_v201(e, e.tx.as_ref().expect("a session"), 0.0, "Transaction.End")
        };
        let trigger = if reason == "Remote" {
            "RemoteStop"
        } else {
            "EVCommunicationLost"
        };
        let ev = tx_event(
            st,
            i,
            "Ended",
            trigger,
            json!({"transactionInfo": {"stoppedReason": reason, "chargingState": "Idle"}, "meterValue": [mv]}),
        );
        tx_send(conn.as_deref_mut(), st, stats, "TransactionEvent", ev).await?;
    }
    inc(&stats.stopped);
    st.evses[i].tx = None;
    st.evses[i].phase = Phase::Idle;
    if let Some(c) = conn
        && st.online
    {
        let statuses: &[&str] = if st.v16() {
            &["Finishing", "Available"]
        } else {
            &["Available"]
        };
        for s in statuses {
            let p = status_payload(st, id, s);
            send(c, st, stats, "StatusNotification", &p).await?;
        }
    }
    let gap = st.rng.between(
        group.session_gap.0.as_secs_f64(),
        group.session_gap.1.as_secs_f64(),
    );
    st.evses[i].next = Instant::now() + real(group, gap);
    Ok(())
}

/// Offline: sessions go on, their messages queue up; no new session starts.
async fn offline(
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    period: Duration,
    stop: &mut watch::Receiver<bool>,
) {
    let until = Instant::now() + period;
    loop {
        let due = st
            .evses
            .iter()
            .filter(|e| e.phase == Phase::Charging)
            .map(|e| e.next)
            .min();
        let wake = due.map_or(until, |d| d.min(until));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.changed() => return,
        }
        if Instant::now() >= until {
            return;
        }
        for i in 0..st.evses.len() {
            if st.evses[i].phase == Phase::Charging && st.evses[i].next <= Instant::now() {
                let _ = charge(None, st, group, stats, i).await;
            }
        }
    }
}

/// Does the work CSMS commands asked for.
async fn follow_ups(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
) -> Result<Option<End>, ConnError> {
    while let Some(f) = st.follow_ups.pop_front() {
        match f {
            FollowUp::Reboot => return Ok(Some(End::Reboot)),
            FollowUp::RemoteStart {
                evse,
                token,
                remote_start_id,
            } => {
                let free = st.evses.iter().position(|e| {
                    e.phase == Phase::Idle && !e.inoperative && evse.is_none_or(|id| id == e.id)
                });
                if let Some(i) = free {
                    let group = Group::new("remote", 1, Mode::Realistic);
                    plug_in(conn, st, &group, stats, i, token, remote_start_id).await?;
                    st.evses[i].next = Instant::now();
                }
            }
            FollowUp::RemoteStop { transaction_id } => {
                if let Some(i) = st
                    .evses
                    .iter()
                    .position(|e| e.tx.as_ref().is_some_and(|t| t.id == transaction_id))
                {
                    let group = Group::new("remote", 1, Mode::Realistic);
                    stop(Some(conn), st, &group, stats, i, "Remote").await?;
                }
            }
            FollowUp::Statuses => statuses(conn, st, stats).await?,
            FollowUp::Trigger { message, evse } => trigger(conn, st, stats, message, evse).await?,
            FollowUp::Report { request_id } => {
                let data: Vec<Value> = st
                    .config
                    .iter()
                    .map(|(k, v)| {
                        let (component, variable) = k.split_once('.').unwrap_or(("ChargingStation", k));
                        json!({"component": {"name": component}, "variable": {"name": variable},
                               "variableAttribute": [{"type": "Actual", "value": v, "mutability": "ReadWrite"}]})
                    })
                    .collect();
                let report = json!({"requestId": request_id, "generatedAt": now_ts(), "seqNo": 0, "tbc": false, "reportData": data});
                send(conn, st, stats, "NotifyReport", &report).await?;
            }
            FollowUp::Firmware { request_id, signed } => {
                let steps: &[&str] = if st.v16() && !signed {
                    &["Downloading", "Downloaded", "Installing", "Installed"]
                } else {
                    &[
                        "Downloading",
                        "Downloaded",
                        "SignatureVerified",
                        "Installing",
                        "Installed",
                    ]
                };
                let action = if st.v16() && signed {
                    "SignedFirmwareStatusNotification"
                } else {
                    "FirmwareStatusNotification"
                };
                for s in steps {
                    let mut p = json!({"status": s});
                    if let Some(r) = request_id
                        && (!st.v16() || signed)
                    {
                        p["requestId"] = json!(r);
                    }
                    send(conn, st, stats, action, &p).await?;
                }
            }
            FollowUp::Upload {
                request_id,
                diagnostics,
            } => {
                for s in ["Uploading", "Uploaded"] {
                    if diagnostics {
                        send(
                            conn,
                            st,
                            stats,
                            "DiagnosticsStatusNotification",
                            &json!({"status": s}),
                        )
                        .await?;
                    } else {
                        let mut p = json!({"status": s});
                        if let Some(r) = request_id {
                            p["requestId"] = json!(r);
                        }
                        send(conn, st, stats, "LogStatusNotification", &p).await?;
                    }
                }
            }
            FollowUp::Customer { request_id } => {
                let p = json!({"data": format!("no customer data on {}", st.id), "seqNo": 0, "tbc": false, "generatedAt": now_ts(), "requestId": request_id});
                send(conn, st, stats, "NotifyCustomerInformation", &p).await?;
            }
            FollowUp::Monitoring { request_id } => {
                let p = json!({"requestId": request_id, "seqNo": 0, "tbc": false, "generatedAt": now_ts()});
                send(conn, st, stats, "NotifyMonitoringReport", &p).await?;
            }
        }
    }
    Ok(None)
}

/// TriggerMessage: sends the requested message.
async fn trigger(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    message: Triggered,
    evse: Option<u32>,
) -> Result<(), ConnError> {
    match message {
        Triggered::BootNotification => boot(conn, st, stats, "Triggered").await?,
        Triggered::Heartbeat => {
            send(conn, st, stats, "Heartbeat", &json!({})).await?;
        }
        Triggered::StatusNotification => {
            let targets: Vec<(u32, &'static str)> = st
                .evses
                .iter()
                .filter(|e| evse.is_none_or(|id| id == e.id))
                .map(|e| (e.id, evse_status(e)))
                .collect();
            for (id, s) in targets {
                let p = status_payload(st, id, s);
                send(conn, st, stats, "StatusNotification", &p).await?;
            }
        }
        Triggered::MeterValues => {
            let targets: Vec<usize> = (0..st.evses.len())
                .filter(|&i| evse.is_none_or(|id| id == st.evses[i].id))
                .collect();
            for i in targets {
                let e = &st.evses[i];
                let p = if st.v16() {
                    json!({"connectorId": e.id, "meterValue": [{"timestamp": now_ts(), "sampledValue": [{"value": format!("{:.0}", e.meter_wh), "context": "Trigger", "unit": "Wh"}]}]})
                } else {
                    json!({"evseId": e.id, "meterValue": [{"timestamp": now_ts(), "sampledValue": [{"value": e.meter_wh.round(), "context": "Trigger"}]}]})
                };
                send(conn, st, stats, "MeterValues", &p).await?;
            }
        }
        Triggered::TransactionEvent => {
            let targets: Vec<usize> = (0..st.evses.len())
                .filter(|&i| st.evses[i].tx.is_some() && evse.is_none_or(|id| id == st.evses[i].id))
                .collect();
            for i in targets {
                let ev = tx_event(st, i, "Updated", "Trigger", json!({}));
                send(conn, st, stats, "TransactionEvent", &ev).await?;
            }
        }
        Triggered::FirmwareStatusNotification => {
            send(
                conn,
                st,
                stats,
                "FirmwareStatusNotification",
                &json!({"status": "Idle"}),
            )
            .await?;
        }
        Triggered::DiagnosticsStatusNotification => {
            send(
                conn,
                st,
                stats,
                "DiagnosticsStatusNotification",
                &json!({"status": "Idle"}),
            )
            .await?;
        }
        Triggered::LogStatusNotification => {
            send(
                conn,
                st,
                stats,
                "LogStatusNotification",
                &json!({"status": "Idle"}),
            )
            .await?;
        }
        Triggered::Other => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::power_kw;

    #[test]
    fn power_tapers_after_eighty_percent() {
        assert_eq!(power_kw(11.0, 0.5), 11.0);
        assert!((power_kw(11.0, 0.9) - 5.5).abs() < 1e-9);
        assert!((power_kw(11.0, 0.999) - 1.1).abs() < 1e-9);
    }
}
