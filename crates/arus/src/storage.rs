//! `arus bench storage`: how much disk a station costs per day, and how a database grows over
//! a simulated month under the retention policy.
//!
//! Each simulated day every station charges six hours (two sessions of three, a reading a
//! minute with the nine measurands a three-phase AC charger reports), heartbeats every five
//! minutes, reports its status around each session, gets one command and sends one notice;
//! every message in and out goes to the frame log. The rows are written through the store as
//! the gateway writes them, with the simulated times; after each day the retention policy and
//! the frame log's policy (defaults: see `arus serve --help`) are applied as the hourly pruner
//! would, and the database's size is taken (on PostgreSQL after a VACUUM of what was pruned,
//! which autovacuum does within the day on a real server).

use std::time::Duration;

use anyhow::Context;
use arus_domain::authorization::IdToken;
use arus_domain::metering::{MeterValue, Sample};
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::RegistrationStatus;
use arus_domain::retention::Retention;
use arus_domain::store::{Direction, RecordKind, StoredRecord, Write};
use arus_domain::transactions::{EventKind, TransactionEvent, apply};
use chrono::{DateTime, Utc};
use clap::Args;

/// Settings of `arus bench storage`.
#[derive(Debug, Args)]
pub(crate) struct StorageArgs {
    /// The database to fill (a new one: its size is what is measured).
    #[arg(long)]
    database: String,
    /// Stations simulated.
    #[arg(long, default_value_t = 100)]
    stations: u32,
    /// Days simulated.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Days the frame log keeps frames (as `arus serve --frame-log-days`).
    #[arg(long, default_value_t = 7)]
    frame_log_days: u32,
}

/// Readings a minute, minutes a session, sessions a day.
const SESSION_MINUTES: i64 = 180;
const SESSIONS: i64 = 2;

fn reading(at: DateTime<Utc>, wh: f64, minute: i64) -> MeterValue {
    let sample = |measurand: &'static str,
                  phase: Option<&'static str>,
                  value: f64,
                  unit: &'static str| Sample {
        value: Some(value),
        measurand: Some(measurand.into()),
        phase: phase.map(Into::into),
        unit: Some(unit.into()),
        context: Some("Sample.Periodic".into()),
        ..Sample::default()
    };
    let amps = 31.5 + (minute % 7) as f64 * 0.1;
    let mut samples = vec![
        sample("Energy.Active.Import.Register", None, wh, "Wh"),
        sample("Power.Active.Import", None, 21_800.0, "W"),
        sample("SoC", None, (20 + minute / 3).min(100) as f64, "Percent"),
    ];
    for phase in ["L1", "L2", "L3"] {
        samples.push(sample("Current.Import", Some(phase), amps, "A"));
    }
    for phase in ["L1-N", "L2-N", "L3-N"] {
        samples.push(sample("Voltage", Some(phase), 230.4, "V"));
    }
    MeterValue {
        timestamp: at,
        samples,
    }
}

/// The frame a station sends for `value` (a 1.6 MeterValues), as the log keeps it.
fn frame_of(value: &MeterValue, tx: i64, n: u64) -> String {
    use arus_ocpp::v16::{self, Measurand as M, Phase as P, UnitOfMeasure as U};
    let sampled_value = value
        .samples
        .iter()
        .map(|s| {
            let measurand = match s.measurand.as_deref() {
                Some("Power.Active.Import") => M::PowerActiveImport,
                Some("SoC") => M::SoC,
                Some("Current.Import") => M::CurrentImport,
                Some("Voltage") => M::Voltage,
                _ => M::EnergyActiveImportRegister,
            };
            let phase = match s.phase.as_deref() {
                Some("L1") => Some(P::L1),
                Some("L2") => Some(P::L2),
                Some("L3") => Some(P::L3),
                Some("L1-N") => Some(P::L1N),
                Some("L2-N") => Some(P::L2N),
                Some("L3-N") => Some(P::L3N),
                _ => None,
            };
            let unit = match s.unit.as_deref() {
                Some("W") => U::W,
                Some("A") => U::A,
                Some("V") => U::V,
                Some("Percent") => U::Percent,
                _ => U::Wh,
            };
            v16::SampledValue {
                value: format!("{:.1}", s.value.unwrap_or(0.0)),
                context: Some(v16::ReadingContext::SamplePeriodic),
                format: None,
                measurand: Some(measurand),
                phase,
                location: None,
                unit: Some(unit),
            }
        })
        .collect();
    let request = v16::MeterValuesRequest {
        connector_id: 1,
        transaction_id: Some(tx),
        meter_value: vec![v16::MeterValue {
            timestamp: arus_ocpp::Timestamp(value.timestamp),
            sampled_value,
        }],
    };
    call(&format!("{n:x}"), "MeterValues", &request)
}

/// A CALL's text.
fn call<T: serde::Serialize>(id: &str, action: &str, payload: &T) -> String {
    let mut out = String::new();
    let payload = serde_json::to_string(payload).unwrap_or_default();
    arus_ocpp::rpc::write_call(&mut out, id, action, &payload);
    out
}

/// A CALLRESULT's text.
fn result<T: serde::Serialize>(id: &str, payload: &T) -> String {
    let mut out = String::new();
    let payload = serde_json::to_string(payload).unwrap_or_default();
    arus_ocpp::rpc::write_result(&mut out, id, &payload);
    out
}

/// A command record's body, about the size of the real ones.
#[derive(serde::Serialize)]
struct CommandBody {
    command: &'static str,
    status: &'static str,
    answer: &'static str,
}

/// One station's day: the rows and the frames, in order.
fn day(station: &str, index: u32, midnight: DateTime<Utc>, tx_base: i64) -> Vec<Write> {
    let mut w = Vec::new();
    let minute = |m: i64| midnight + chrono::Duration::minutes(m);
    let frame = |w: &mut Vec<Write>, dir, at, text: String| {
        w.push(Write::Frame {
            station_id: station.into(),
            direction: dir,
            at,
            text,
        });
    };
    // Heartbeats every five minutes.
    for m in (0..24 * 60).step_by(5) {
        let at = minute(m);
        let answer = arus_ocpp::v16::HeartbeatResponse {
            current_time: arus_ocpp::Timestamp(at),
        };
        let request = arus_ocpp::v16::HeartbeatRequest {};
        frame(&mut w, Direction::In, at, call("hb", "Heartbeat", &request));
        frame(&mut w, Direction::Out, at, result("hb", &answer));
        w.push(Write::StationSeen {
            id: station.into(),
            at,
        });
    }
    let mut n = 0u64;
    for session in 0..SESSIONS {
        let start = 8 * 60 + session * 9 * 60 + i64::from(index % 60);
        let id = (tx_base + session).to_string();
        let token = IdToken {
            value: format!("TOKEN{:04}", index % 500),
            kind: None,
        };
        let mut tx = None;
        let mut wh = 0.0;
        for (seq, kind) in [(0, EventKind::Started), (1, EventKind::Ended)] {
            let at = minute(start + seq * SESSION_MINUTES);
            let ev = TransactionEvent {
                seq_no: Some(seq as u32),
                evse_id: Some(1),
                connector_id: Some(1),
                id_token: Some(token.clone()),
                meter_values: vec![MeterValue {
                    timestamp: at,
                    samples: vec![Sample {
                        value: Some(seq as f64 * 65_000.0),
                        ..Sample::default()
                    }],
                }],
                ..TransactionEvent::new(kind, id.clone(), at)
            };
            tx = Some(apply(tx, station, &ev).0);
            w.push(Write::TransactionEvent {
                station_id: station.into(),
                event: Box::new(ev),
                received_at: at,
            });
            let status = arus_ocpp::v16::StatusNotificationRequest {
                connector_id: 1,
                error_code: arus_ocpp::v16::ChargePointErrorCode::NoError,
                info: None,
                status: if seq == 0 {
                    arus_ocpp::v16::ChargePointStatus::Charging
                } else {
                    arus_ocpp::v16::ChargePointStatus::Finishing
                },
                timestamp: Some(arus_ocpp::Timestamp(at)),
                vendor_id: None,
                vendor_error_code: None,
            };
            let call_id = format!("s{seq}");
            frame(
                &mut w,
                Direction::In,
                at,
                call(&call_id, "StatusNotification", &status),
            );
            let answer = arus_ocpp::v16::StatusNotificationResponse {};
            frame(&mut w, Direction::Out, at, result(&call_id, &answer));
            if seq == 0 {
                for m in 1..SESSION_MINUTES {
                    let at = minute(start + m);
                    wh += 21_800.0 / 60.0;
                    let value = reading(at, wh, m);
                    n += 1;
                    frame(
                        &mut w,
                        Direction::In,
                        at,
                        frame_of(&value, tx_base + session, n),
                    );
                    let answer = arus_ocpp::v16::MeterValuesResponse {};
                    frame(
                        &mut w,
                        Direction::Out,
                        at,
                        result(&format!("{n:x}"), &answer),
                    );
                    w.push(Write::MeterValues {
                        station_id: station.into(),
                        evse_id: 1,
                        transaction_id: Some(id.clone()),
                        values: vec![value],
                        received_at: at,
                    });
                }
            }
        }
        if let Some(tx) = tx {
            w.push(Write::PutTransaction {
                tx: Box::new(tx),
                csms_number: Some(tx_base + session),
                orphan: false,
                based_on: 0,
                at: minute(start + SESSION_MINUTES),
            });
        }
    }
    let noon = minute(12 * 60);
    w.push(Write::Notice {
        station_id: station.into(),
        notice: Box::new(Notice {
            kind: NoticeKind::SecurityEvent,
            at: noon,
            request_id: None,
            status: Some("SettingSystemTime".into()),
            details: serde_json::Value::Null,
        }),
        received_at: noon,
    });
    w.push(Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Command,
        id: format!("{station}-{}", midnight.timestamp()),
        seq: 0,
        station_id: Some(station.into()),
        tag: None,
        status: Some("answered".into()),
        at: noon,
        body: serde_json::to_string(&CommandBody {
            command: "getConfiguration",
            status: "answered",
            answer: "Accepted",
        })
        .unwrap_or_default(),
    })));
    w
}

/// The tables that grow.
const TABLES: [&str; 7] = [
    "meter_values",
    "transactions",
    "transaction_events",
    "frame_log",
    "notices",
    "records",
    "stations",
];

/// The database's size in bytes, and each growing table's (PostgreSQL: with its indexes and
/// TOAST; SQLite: pages in use, the file's free pages left out).
async fn size(url: &str) -> anyhow::Result<(u64, Vec<u64>)> {
    if url.starts_with("postgres") {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(conn);
        client
            .batch_execute("VACUUM meter_values, transactions, transaction_events, notices, records, frame_log, stations")
            .await?;
        let bytes: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0);
        let mut tables = Vec::new();
        for t in TABLES {
            let n: i64 = client
                .query_one("SELECT pg_total_relation_size($1::text::regclass)", &[&t])
                .await?
                .get(0);
            tables.push(n.max(0) as u64);
        }
        drop(client);
        let _ = connection.await;
        return Ok((bytes.max(0) as u64, tables));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url).to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, Vec<u64>)> {
        let c = rusqlite::Connection::open(&path)?;
        c.busy_timeout(Duration::from_secs(10))?;
        let pages: i64 = c.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count)",
            [],
            |r| r.get(0),
        )?;
        let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages * page).max(0) as u64, Vec::new()))
    })
    .await?
}

pub(crate) async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let store = arus_store::open(&args.database)
        .await
        .with_context(|| format!("opening {}", args.database))?;
    let ids: Vec<String> = (0..args.stations).map(|i| format!("ST{i:05}")).collect();
    let writes: Vec<Write> = ids
        .iter()
        .map(|id| Write::PutStation {
            id: id.clone(),
            password_hash: None,
            boot_policy: RegistrationStatus::Accepted,
            self_registered: false,
            at: Utc::now(),
        })
        .collect();
    store.commit(writes).await?;
    let first = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).context("start date")?;
    let (mut before, _) = size(&args.database).await?;
    let per_table = if args.database.starts_with("postgres") {
        TABLES.len()
    } else {
        0
    };
    let columns: String = TABLES[..per_table]
        .iter()
        .map(|t| format!(" {t} (MiB) |"))
        .collect();
    println!("| day | size (MiB) | growth that day (KiB per station) |{columns}");
    println!("|---|---|---|{}", "---|".repeat(per_table));
    let mut tx_base = 1;
    for d in 0..args.days {
        let midnight = first + chrono::Duration::days(i64::from(d));
        let mut pending = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            pending.push(store.commit(day(id, i as u32, midnight, tx_base)));
            tx_base += SESSIONS;
            if pending.len() == 16 {
                for p in pending.drain(..) {
                    p.await?;
                }
            }
        }
        for p in pending {
            p.await?;
        }
        let end = midnight + chrono::Duration::days(1);
        store.prune(Retention::default(), end).await?;
        let frames_before = end - chrono::Duration::days(i64::from(args.frame_log_days));
        store.prune_frames(frames_before, 10_000_000).await?;
        // Frames reach the log within about a second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (now, tables) = size(&args.database).await?;
        let growth = now.saturating_sub(before) as f64 / f64::from(args.stations) / 1024.0;
        let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
        let columns: String = tables
            .iter()
            .map(|t| format!(" {:.1} |", mib(*t)))
            .collect();
        println!("| {} | {:.1} | {:.0} |{columns}", d + 1, mib(now), growth);
        before = now;
    }
    Ok(())
}
