//! What a simulated station does.
//!
//! A station is one task with one connection. Its EVSEs each run a small state machine in
//! simulated time (`speed` times faster than real time): idle, sometimes faulted, plugged in,
//! authorized, charging with a power curve that tapers as the battery fills, stopped. The
//! messages these produce go out one at a time; while offline, transaction messages are queued
//! and replayed in order after reconnecting (2.0.1 marks them `offline`).
//!
//! Everything a station sends is built by `messages` from the generated types and checked
//! against its schema before it goes out, so a bug in the simulator shows up as its own error,
//! not as a CSMS fault. Answers are read into the generated response types; one that does not
//! decode counts as no answer.

use std::sync::Arc;
use std::time::Duration;

use arus_ocpp::v16::ChargePointStatus as Status;
use arus_ocpp::{Version, v16, v201};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{Answer, Conn, ConnError};
use crate::messages::{self, Outgoing, Template};
use crate::rng::Rng;
use crate::scenario::{Group, Mode};
use crate::stats::{Stats, inc};

mod charging;
mod state;

#[cfg(test)]
pub(crate) use charging::arriving;
pub(crate) use state::*;

/// Simulated seconds as real time.
fn real(group: &Group, sim_seconds: f64) -> Duration {
    Duration::from_secs_f64((sim_seconds / group.speed).max(0.0))
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
                st.boot_reason = v201::BootReasonEnum::RemoteReset;
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
    // Cars still charging: their sessions so far.
    for i in 0..st.evses.len() {
        charging::settle(&mut st, i);
        charging::record(&st, stats, i, "running");
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

/// Sends a message and waits for its answer.
async fn send(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    message: &Outgoing,
) -> Result<Answer, ConnError> {
    conn.call(message.action, &message.payload, st, stats).await
}

/// A CALLRESULT read as the response type `T`; `None` for a CALLERROR or a payload that does not
/// decode.
fn result<T: DeserializeOwned>(answer: Answer) -> Option<T> {
    match answer {
        Answer::Result(p) => serde_json::from_str(&p)
            .inspect_err(|e| tracing::debug!(error = %e, "an answer that does not decode"))
            .ok(),
        Answer::Error { code, description } => {
            tracing::warn!(%code, %description, "the CSMS answered with a CALLERROR");
            None
        }
    }
}

/// BootNotification until Accepted, waiting the interval the CSMS asks for in between (an echo
/// server accepts, with a 300 s heartbeat).
async fn boot(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    reason: v201::BootReasonEnum,
) -> Result<(), ConnError> {
    loop {
        let message = messages::boot(st, reason);
        let answer = send(conn, st, stats, &message).await?;
        let (accepted, interval) = if st.echo {
            match answer {
                Answer::Result(_) => (true, 300),
                Answer::Error { .. } => (false, 30),
            }
        } else if st.v16() {
            result::<v16::BootNotificationResponse>(answer).map_or((false, 30), |r| {
                (r.status == v16::RegistrationStatus::Accepted, r.interval)
            })
        } else {
            result::<v201::BootNotificationResponse>(answer).map_or((false, 30), |r| {
                (
                    r.status == v201::RegistrationStatusEnum::Accepted,
                    r.interval,
                )
            })
        };
        let interval = Duration::from_secs(u64::try_from(interval).unwrap_or(30).max(1));
        if accepted {
            st.heartbeat = interval;
            return Ok(());
        }
        conn.wait_until(Instant::now() + interval, st, stats)
            .await?;
    }
}

/// The status an EVSE shows, in 1.6's words.
fn evse_status(e: &Evse) -> Status {
    match (&e.phase, e.inoperative) {
        (Phase::Faulted, _) => Status::Faulted,
        (Phase::Plugged, _) => Status::Preparing,
        (Phase::Charging, _) => Status::Charging,
        (Phase::Idle, true) => Status::Unavailable,
        (Phase::Idle, false) => Status::Available,
    }
}

/// Sends the status of EVSE `evse`.
async fn send_status(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
    evse: u32,
    status: Status,
) -> Result<(), ConnError> {
    let message = messages::status(st, evse, status);
    send(conn, st, stats, &message).await.map(drop)
}

/// Reports every connector's status (after boot, after ChangeAvailability).
async fn statuses(conn: &mut Conn, st: &mut StationState, stats: &Stats) -> Result<(), ConnError> {
    if st.v16() {
        send_status(conn, st, stats, 0, Status::Available).await?;
    }
    let all: Vec<(u32, Status)> = st.evses.iter().map(|e| (e.id, evse_status(e))).collect();
    for (id, status) in all {
        send_status(conn, st, stats, id, status).await?;
    }
    Ok(())
}

/// Sends what was queued while offline, in order.
async fn replay(conn: &mut Conn, st: &mut StationState, stats: &Stats) -> Result<(), ConnError> {
    let queued = std::mem::take(&mut st.queue);
    for (i, message) in queued.iter().enumerate() {
        match send(conn, st, stats, message).await {
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
    let heartbeat = messages::heartbeat(st);
    loop {
        let next = Instant::now() + st.heartbeat;
        conn.wait_until(next, st, stats).await?;
        if let Some(end) = follow_ups(conn, st, stats).await? {
            return Ok(end);
        }
        if Instant::now() >= next {
            send(conn, st, stats, &heartbeat).await?;
        }
    }
}

/// The benchmark loops: `steady` sends the next message as soon as the last is answered;
/// `paced` at the group's rate with a random phase. Messages come from a template rendered once.
async fn bench(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
) -> Result<End, ConnError> {
    let meter = Template::meter_values(st);
    let heartbeat = messages::heartbeat(st);
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
            let payload = meter.render(&arus_ocpp::Timestamp::now(), wh);
            conn.call(meter.action, &payload, st, stats).await?;
        } else {
            send(conn, st, stats, &heartbeat).await?;
        }
        if let Some(end) = follow_ups(conn, st, stats).await? {
            return Ok(end);
        }
    }
}

/// The realistic life: each EVSE's state machine, one message at a time.
async fn realistic(
    conn: &mut Conn,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
) -> Result<End, ConnError> {
    let heartbeat = messages::heartbeat(st);
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
            send(conn, st, stats, &heartbeat).await?;
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
    message: Outgoing,
) -> Result<(), ConnError> {
    match conn {
        Some(c) if st.online => send(c, st, stats, &message).await.map(drop),
        _ => {
            st.queue.push(message);
            Ok(())
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
                send_status(conn, st, stats, id, Status::Faulted).await?;
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
            send_status(conn, st, stats, id, Status::Available).await?;
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
    let car = charging::arriving(&mut st.rng, group);
    let soc = car.soc;
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
        car,
        delivered_wh: 0.0,
        remote_start_id,
        started: chrono::Utc::now(),
        charged_to: Instant::now(),
        drawing: crate::ev::Drawing::PausedByEvse,
        arrived: (Instant::now(), soc),
        profile: None,
    });
    send_status(conn, st, stats, id, Status::Preparing).await?;
    if !st.v16() {
        let begin = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("just set");
            messages::meter_value_v201(e, tx, 0.0, v201::ReadingContextEnum::TransactionBegin)
        };
        let trigger = if remote_start_id.is_some() {
            v201::TriggerReasonEnum::RemoteStart
        } else {
            v201::TriggerReasonEnum::CablePluggedIn
        };
        let mut ev = messages::tx_event(st, i, v201::TransactionEventEnum::Started, trigger);
        ev.transaction_info.charging_state = Some(v201::ChargingStateEnum::EVConnected);
        ev.meter_value = Some(vec![begin]);
        send(conn, st, stats, &Outgoing::new(&ev)).await?;
        inc(&stats.started);
    }
    let wait = st.rng.between(2.0, 20.0);
    st.evses[i].next = Instant::now() + real(group, wait);
    Ok(())
}

/// K05 (1.6 §5.11): the TxProfile a remote start carried is the transaction's once it goes
/// on; its cars are offered the limit at once.
pub(crate) fn install_remote_profile(st: &mut StationState, i: usize) {
    let Some(profile) = st.evses[i].tx.as_mut().and_then(|t| t.profile.take()) else {
        return;
    };
    let evse = st.evses[i].id;
    let ongoing = st.ongoing();
    if st.profiles.set(evse, *profile, &ongoing) && !st.follow_ups.contains(&FollowUp::Limits) {
        st.follow_ups.push_back(FollowUp::Limits);
    }
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
    let answer = send(conn, st, stats, &messages::authorize(st, &token)).await?;
    let accepted = st.echo
        || if st.v16() {
            result::<v16::AuthorizeResponse>(answer)
                .is_some_and(|a| a.id_tag_info.status == v16::AuthorizationStatus::Accepted)
        } else {
            result::<v201::AuthorizeResponse>(answer)
                .is_some_and(|a| a.id_token_info.status == v201::AuthorizationStatusEnum::Accepted)
        };
    if st.v16() {
        if !accepted {
            st.evses[i].tx = None;
            st.evses[i].phase = Phase::Idle;
            for s in [Status::Finishing, Status::Available] {
                send_status(conn, st, stats, id, s).await?;
            }
        } else {
            let meter_start = st.evses[i].meter_wh as i64;
            let start = messages::start_transaction(id, &token, meter_start);
            let answer = send(conn, st, stats, &start).await?;
            let tx_id =
                result::<v16::StartTransactionResponse>(answer).map_or(-1, |a| a.transaction_id);
            inc(&stats.started);
            if let Some(tx) = st.evses[i].tx.as_mut() {
                tx.id = tx_id.to_string();
            }
            st.evses[i].phase = Phase::Charging;
            install_remote_profile(st, i);
            send_status(conn, st, stats, id, Status::Charging).await?;
        }
    } else {
        use v201::{TransactionEventEnum as Event, TriggerReasonEnum as Trigger};
        let mut ev = messages::tx_event(st, i, Event::Updated, Trigger::Authorized);
        ev.id_token = messages::tx_token(&token);
        let answer = send(conn, st, stats, &Outgoing::new(&ev)).await?;
        let ok = st.echo
            || result::<v201::TransactionEventResponse>(answer)
                .and_then(|a| a.id_token_info)
                .is_some_and(|info| info.status == v201::AuthorizationStatusEnum::Accepted);
        if accepted && ok {
            st.evses[i].phase = Phase::Charging;
            install_remote_profile(st, i);
            let mut ev = messages::tx_event(st, i, Event::Updated, Trigger::ChargingStateChanged);
            ev.transaction_info.charging_state = Some(v201::ChargingStateEnum::Charging);
            send(conn, st, stats, &Outgoing::new(&ev)).await?;
        } else {
            let mut ev = messages::tx_event(st, i, Event::Ended, Trigger::Deauthorized);
            ev.transaction_info.stopped_reason = Some(v201::ReasonEnum::DeAuthorized);
            ev.transaction_info.charging_state = Some(v201::ChargingStateEnum::EVConnected);
            send(conn, st, stats, &Outgoing::new(&ev)).await?;
            inc(&stats.stopped);
            st.evses[i].tx = None;
            st.evses[i].phase = Phase::Idle;
            send_status(conn, st, stats, id, Status::Available).await?;
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

/// A meter interval of charging: the car took energy at what it drew; it is offered what the
/// station's profiles allow now, and leaves when its time is up (or, with no departure time,
/// when it is full). Decides, once per session, whether the station goes offline now.
async fn charge(
    conn: Option<&mut Conn>,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
) -> Result<Option<End>, ConnError> {
    if st.evses[i].tx.is_none() {
        st.evses[i].phase = Phase::Idle;
        return Ok(None);
    }
    charging::settle(st, i);
    charging::reoffer(st, i);
    if charging::leaving(st, i) {
        stop(conn, st, group, stats, i, false).await?;
        return Ok(None);
    }
    let message = meter_sample(st, i, Sampled::Periodic);
    tx_send(conn, st, stats, message).await?;
    let mut next = Instant::now() + real(group, group.meter_interval.as_secs_f64());
    if let Some(d) = st.evses[i].tx.as_ref().and_then(|t| t.car.departure) {
        next = next.min(d);
    }
    st.evses[i].next = next;
    if st.online && st.rng.chance(group.offline_rate / 10.0) {
        return Ok(Some(End::Offline(real(
            group,
            group.offline_for.as_secs_f64(),
        ))));
    }
    Ok(None)
}

/// Why a meter value of a session is taken.
#[derive(Clone, Copy, PartialEq)]
enum Sampled {
    /// The periodic sample.
    Periodic,
    /// The charging rate changed (a new limit, a pause, a full battery).
    RateChanged,
}

/// EVSE `i`'s session's meter value: 1.6 MeterValues, or a 2.0.1 TransactionEvent Updated
/// (with the charging state when the rate changed).
fn meter_sample(st: &mut StationState, i: usize, why: Sampled) -> Outgoing {
    let id = st.evses[i].id;
    let power_w = st.evses[i]
        .tx
        .as_ref()
        .map_or(0.0, |t| t.car.power_w(st.hw.voltage));
    if st.v16() {
        let context = match why {
            Sampled::Periodic => v16::ReadingContext::SamplePeriodic,
            Sampled::RateChanged => v16::ReadingContext::Other,
        };
        let e = &st.evses[i];
        let tx = e.tx.as_ref().expect("charging");
        let mv = messages::meter_value_v16(e, tx, power_w, context);
        messages::meter_values_v16(id, tx.id.parse::<i64>().unwrap_or(-1), mv)
    } else {
        let (context, trigger) = match why {
            Sampled::Periodic => (
                v201::ReadingContextEnum::SamplePeriodic,
                v201::TriggerReasonEnum::MeterValuePeriodic,
            ),
            Sampled::RateChanged => (
                v201::ReadingContextEnum::Other,
                v201::TriggerReasonEnum::ChargingRateChanged,
            ),
        };
        let (mv, drawing) = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("charging");
            (
                messages::meter_value_v201(e, tx, power_w, context),
                tx.drawing,
            )
        };
        let mut ev = messages::tx_event(st, i, v201::TransactionEventEnum::Updated, trigger);
        if why == Sampled::RateChanged {
            ev.transaction_info.charging_state = Some(match drawing {
                crate::ev::Drawing::Charging => v201::ChargingStateEnum::Charging,
                crate::ev::Drawing::PausedByEvse => v201::ChargingStateEnum::SuspendedEVSE,
                crate::ev::Drawing::Full => v201::ChargingStateEnum::SuspendedEV,
            });
        }
        ev.meter_value = Some(vec![mv]);
        Outgoing::new(&ev)
    }
}

/// The station's profiles changed: each charging car is offered its new limit at once, and
/// a change in what it draws is reported (1.6 with the connector's status too).
async fn limits_changed(
    conn: &mut Conn,
    st: &mut StationState,
    stats: &Stats,
) -> Result<(), ConnError> {
    for i in 0..st.evses.len() {
        if st.evses[i].phase != Phase::Charging {
            continue;
        }
        charging::settle(st, i);
        let before = st.evses[i].tx.as_ref().map(|t| t.drawing);
        if !charging::reoffer(st, i) {
            continue;
        }
        let message = meter_sample(st, i, Sampled::RateChanged);
        send(conn, st, stats, &message).await?;
        let after = st.evses[i].tx.as_ref().map(|t| t.drawing);
        if st.v16() && after != before {
            let status = match after {
                Some(crate::ev::Drawing::PausedByEvse) => Status::SuspendedEVSE,
                Some(crate::ev::Drawing::Full) => Status::SuspendedEV,
                _ => Status::Charging,
            };
            send_status(conn, st, stats, st.evses[i].id, status).await?;
        }
    }
    Ok(())
}

/// Ends EVSE `i`'s session: the CSMS asked for it (`remote`), or the EV is full and leaves.
async fn stop(
    mut conn: Option<&mut Conn>,
    st: &mut StationState,
    group: &Group,
    stats: &Stats,
    i: usize,
    remote: bool,
) -> Result<(), ConnError> {
    let id = st.evses[i].id;
    charging::settle(st, i);
    let ended = if remote {
        "stopped"
    } else if st.evses[i]
        .tx
        .as_ref()
        .is_some_and(|t| t.car.departure.is_some_and(|d| d <= Instant::now()))
    {
        "departed"
    } else {
        "full"
    };
    charging::record(st, stats, i, ended);
    // The car is unplugged: the closing reading shows no current.
    if let Some(tx) = st.evses[i].tx.as_mut() {
        tx.car.amps = 0.0;
    }
    let message = if st.v16() {
        let e = &st.evses[i];
        let tx = e.tx.as_ref().expect("a session");
        let end = messages::meter_value_v16(e, tx, 0.0, v16::ReadingContext::TransactionEnd);
        let tx_id = tx.id.parse::<i64>().unwrap_or(-1);
        messages::stop_transaction(tx_id, &tx.token, e.meter_wh as i64, remote, end)
    } else {
        let end = {
            let e = &st.evses[i];
            let tx = e.tx.as_ref().expect("a session");
            messages::meter_value_v201(e, tx, 0.0, v201::ReadingContextEnum::TransactionEnd)
        };
        let (trigger, reason) = if remote {
            (
                v201::TriggerReasonEnum::RemoteStop,
                v201::ReasonEnum::Remote,
            )
        } else {
            (
                v201::TriggerReasonEnum::EVCommunicationLost,
                v201::ReasonEnum::EVDisconnected,
            )
        };
        let mut ev = messages::tx_event(st, i, v201::TransactionEventEnum::Ended, trigger);
        ev.transaction_info.stopped_reason = Some(reason);
        ev.transaction_info.charging_state = Some(v201::ChargingStateEnum::Idle);
        ev.meter_value = Some(vec![end]);
        Outgoing::new(&ev)
    };
    tx_send(conn.as_deref_mut(), st, stats, message).await?;
    inc(&stats.stopped);
    if let Some(tx) = st.evses[i].tx.take() {
        st.profiles.transaction_ended(&tx.id);
    }
    st.evses[i].phase = Phase::Idle;
    if let Some(c) = conn
        && st.online
    {
        let statuses: &[Status] = if st.v16() {
            &[Status::Finishing, Status::Available]
        } else {
            &[Status::Available]
        };
        for &s in statuses {
            send_status(c, st, stats, id, s).await?;
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
        let steps = match f {
            FollowUp::Reboot => return Ok(Some(End::Reboot)),
            FollowUp::RemoteStart {
                evse,
                token,
                remote_start_id,
                profile,
            } => {
                let free = st.evses.iter().position(|e| {
                    e.phase == Phase::Idle && !e.inoperative && evse.is_none_or(|id| id == e.id)
                });
                if let Some(i) = free {
                    let group = Group::new("remote", 1, Mode::Realistic);
                    plug_in(conn, st, &group, stats, i, token, remote_start_id).await?;
                    if let Some(tx) = st.evses[i].tx.as_mut() {
                        tx.profile = profile;
                    }
                    st.evses[i].next = Instant::now();
                }
                continue;
            }
            FollowUp::RemoteStop { transaction_id } => {
                if let Some(i) = st
                    .evses
                    .iter()
                    .position(|e| e.tx.as_ref().is_some_and(|t| t.id == transaction_id))
                {
                    let group = Group::new("remote", 1, Mode::Realistic);
                    stop(Some(conn), st, &group, stats, i, true).await?;
                }
                continue;
            }
            FollowUp::Statuses => {
                statuses(conn, st, stats).await?;
                continue;
            }
            FollowUp::Limits => {
                limits_changed(conn, st, stats).await?;
                continue;
            }
            FollowUp::Trigger { message, evse } => {
                trigger(conn, st, stats, message, evse).await?;
                continue;
            }
            FollowUp::Report { request_id } => vec![messages::report(st, request_id)],
            FollowUp::Firmware { request_id, signed } => messages::firmware(st, request_id, signed),
            FollowUp::Upload {
                request_id,
                diagnostics,
            } => messages::upload(st, request_id, diagnostics),
            FollowUp::Customer { request_id } => {
                vec![messages::customer_information(st, request_id)]
            }
            FollowUp::Monitoring { request_id } => vec![messages::monitoring_report(request_id)],
            FollowUp::ReportProfiles {
                request_id,
                profiles,
            } => messages::charging_profiles(request_id, profiles),
        };
        for message in &steps {
            send(conn, st, stats, message).await?;
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
    let chosen = |e: &Evse| evse.is_none_or(|id| id == e.id);
    let messages = match message {
        Triggered::BootNotification => {
            return boot(conn, st, stats, v201::BootReasonEnum::Triggered).await;
        }
        Triggered::Heartbeat => vec![messages::heartbeat(st)],
        Triggered::StatusNotification => st
            .evses
            .iter()
            .filter(|e| chosen(e))
            .map(|e| messages::status(st, e.id, evse_status(e)))
            .collect(),
        Triggered::MeterValues => st
            .evses
            .iter()
            .filter(|e| chosen(e))
            .map(|e| messages::triggered_meter_values(st, e))
            .collect(),
        Triggered::TransactionEvent => {
            let targets: Vec<usize> = (0..st.evses.len())
                .filter(|&i| st.evses[i].tx.is_some() && chosen(&st.evses[i]))
                .collect();
            targets
                .into_iter()
                .map(|i| {
                    let ev = messages::tx_event(
                        st,
                        i,
                        v201::TransactionEventEnum::Updated,
                        v201::TriggerReasonEnum::Trigger,
                    );
                    Outgoing::new(&ev)
                })
                .collect()
        }
        Triggered::FirmwareStatusNotification => vec![messages::firmware_idle(st)],
        Triggered::DiagnosticsStatusNotification => vec![messages::diagnostics_idle()],
        Triggered::LogStatusNotification => vec![messages::log_idle(st)],
        Triggered::Other => Vec::new(),
    };
    for m in &messages {
        send(conn, st, stats, m).await?;
    }
    Ok(())
}
