//! The SQLite backend: one file in WAL mode with `synchronous=FULL`.
//!
//! One thread owns the write connection and commits groups of jobs; reads use a small pool of
//! read-only connections on blocking tasks (WAL lets them run beside the writer).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arus_domain::Time;
use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord, token_key};
use arus_domain::availability::{ConnectorRecord, ConnectorStatus};
use arus_domain::device_model::DeviceVariable;
use arus_domain::metering::MeterValue;
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::{RegistrationStatus, StationRecord};
use arus_domain::store::{
    ApiTokenRecord, BoxFut, FrameRecord, RecordKind, RecordQuery, Role, Store, StoreError,
    StoredRecord, TransactionQuery, TransactionRow, Write,
};
use arus_domain::transactions::{Transaction, TransactionEvent};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::mpsc;

use crate::OpenError;
use crate::group::{self, Job, Queue};
use crate::rows;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial schema", include_str!("migrations/sqlite-1.sql")),
    (
        2,
        "batched frame log",
        include_str!("migrations/sqlite-2.sql"),
    ),
    (
        3,
        "lighter meter value indexes",
        include_str!("migrations/sqlite-3.sql"),
    ),
    (
        4,
        "meter values settle in batches",
        include_str!("migrations/sqlite-4.sql"),
    ),
    (5, "records", include_str!("migrations/sqlite-5.sql")),
    (6, "device model", include_str!("migrations/sqlite-6.sql")),
];

/// Reads running at once, and read connections kept open: each has its own page cache, so
/// both are bounded (a connect storm would otherwise open a connection per waiting station).
const READERS: usize = 8;

/// Page cache of a read connection, KiB. Reads go through the memory map; the cache holds
/// mostly index pages.
const READER_CACHE_KIB: i64 = 8 << 10;

pub(crate) struct SqliteStore {
    queue: Queue,
    readers: Arc<Readers>,
}

struct Readers {
    path: String,
    idle: Mutex<Vec<Connection>>,
    /// One permit per read running (held by the blocking task itself, so a read whose caller
    /// went away still counts until it ends).
    running: Arc<tokio::sync::Semaphore>,
}

/// The text form of a time: `2024-05-01T12:00:00.123456Z`, fixed width, so text order is time
/// order. Written by hand: chrono's formatter was a noticeable part of the writer's work.
fn ts(t: &Time) -> String {
    use chrono::{Datelike, Timelike};
    fn two(out: &mut String, n: u32) {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    }
    let mut out = String::with_capacity(27);
    let year = t.year().clamp(0, 9999) as u32;
    two(&mut out, year / 100);
    two(&mut out, year % 100);
    out.push('-');
    two(&mut out, t.month());
    out.push('-');
    two(&mut out, t.day());
    out.push('T');
    two(&mut out, t.hour());
    out.push(':');
    two(&mut out, t.minute());
    out.push(':');
    two(&mut out, t.second());
    out.push('.');
    let micros = t.nanosecond() / 1000 % 1_000_000;
    two(&mut out, micros / 10_000);
    two(&mut out, micros / 100 % 100);
    two(&mut out, micros % 100);
    out.push('Z');
    out
}

fn parse_ts(s: &str) -> Option<Time> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A refused write: a broken constraint is a conflict, anything else the database's failure.
fn classify(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::conflict(e)
        }
        other => StoreError::unavailable(other),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    tune(conn)
}

/// Page cache and memory mapping large enough that inserts into the indexes do not read
/// pages back through system calls (the default 2 MiB cache made reads half the writer's work).
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    for (version, name, sql) in MIGRATIONS {
        let done: Option<i64> = conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, ts(&Utc::now())],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied sqlite migration");
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn open(path: &str) -> Result<SqliteStore, OpenError> {
        let path = path.to_string();
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
                let mut conn = Connection::open(&path)?;
                configure(&conn)?;
                migrate(&mut conn)?;
                settle_meter_values(&mut conn)?;
                Ok(conn)
            })
            .await
            .map_err(|e| OpenError::io("the migration task", e.into()))??
        };
        // The writer does not checkpoint: a thread of its own does, less often, so that the
        // commits stay short and pages rewritten by many commits are copied once.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(OpenError::Sqlite)?;
        // When the log starts over, a file grown larger than this is cut back to it.
        writer
            .pragma_update(None, "journal_size_limit", 64i64 << 20)
            .map_err(OpenError::Sqlite)?;
        let (queue, rx) = Queue::new();
        // The checkpointer lives as long as the writer: it ends when `writer_alive` drops.
        let (writer_alive, writer_gone) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("arus-sqlite-writer".into())
            .spawn(move || {
                writer_loop(writer, rx);
                drop(writer_alive);
            })
            .map_err(|e| OpenError::io("the writer thread", e))?;
        let checkpoint_path = path.clone();
        std::thread::Builder::new()
            .name("arus-sqlite-checkpoint".into())
            .spawn(move || checkpointer(&checkpoint_path, &writer_gone))
            .map_err(|e| OpenError::io("the checkpoint thread", e))?;
        Ok(SqliteStore {
            queue,
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                running: Arc::new(tokio::sync::Semaphore::new(READERS)),
            }),
        })
    }

    /// Runs a read on a pooled connection in a blocking task.
    fn read<R, F>(&self, f: F) -> BoxFut<'_, Result<R, StoreError>>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let readers = self.readers.clone();
        Box::pin(async move {
            // The semaphore is never closed; if it were, reads would go on unbounded.
            let permit = readers.running.clone().acquire_owned().await.ok();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let conn = readers.idle.lock().ok().and_then(|mut v| v.pop());
                let conn = match conn {
                    Some(c) => c,
                    None => {
                        let c = Connection::open_with_flags(
                            &readers.path,
                            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )
                        .map_err(StoreError::unavailable)?;
                        c.busy_timeout(std::time::Duration::from_secs(10))
                            .map_err(StoreError::unavailable)?;
                        tune(&c).map_err(StoreError::unavailable)?;
                        c.pragma_update(None, "cache_size", -READER_CACHE_KIB)
                            .map_err(StoreError::unavailable)?;
                        c
                    }
                };
                let out = f(&conn).map_err(StoreError::unavailable);
                if let Ok(mut idle) = readers.idle.lock()
                    && idle.len() < READERS
                {
                    idle.push(conn);
                }
                out
            })
            .await
            .map_err(StoreError::unavailable)?
        })
    }
}

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// WAL pages (4 KiB) above which the checkpointer makes the log start over.
const RESTART_ABOVE: i64 = 4096;

/// WAL pages above which a RESTART checkpoint that found readers in its way waits for them.
const RESTART_INSIST_ABOVE: i64 = 4 * RESTART_ABOVE;

/// How long a checkpoint waits for the readers it must not overtake.
const CHECKPOINT_PATIENCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Frame-log rows deleted per transaction when pruning, so that the writer never waits long.
const PRUNE_CHUNK: i64 = 2000;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`]. A PASSIVE checkpoint never
/// waits for the writer, but under constant writes it never catches up either, and SQLite only
/// starts the log over once all of it is copied: so when the log has grown past
/// [`RESTART_ABOVE`], a RESTART checkpoint copies the rest while holding the writer back for
/// that moment (milliseconds, since the passive one did the bulk). Ends with the writer, or at
/// once if the database cannot be opened (the WAL then grows until the next start).
fn checkpointer(path: &str, writer_gone: &std::sync::mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(path) else {
        tracing::error!("the checkpointer cannot open the database");
        return;
    };
    if let Err(e) = configure(&conn) {
        tracing::error!(error = %e, "the checkpointer cannot configure the database");
        return;
    }
    // A RESTART checkpoint holds new writers back while it waits for readers; behind a long
    // read (pruning the frame log, a large API query) it used to wait the full busy timeout and
    // the writer's groups with it. Now it gives up at once and tries again at the next turn;
    // the log grows meanwhile.
    if let Err(e) = conn.busy_timeout(CHECKPOINT_PATIENCE) {
        tracing::warn!(error = %e, "the checkpointer cannot set its busy timeout");
    }
    let checkpoint = |mode: &str| -> rusqlite::Result<(bool, i64)> {
        // (busy, pages in the log, pages copied)
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(0)? != 0, r.get(1)?))
        })
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        writer_gone.recv_timeout(CHECKPOINT_EVERY)
    {
        let result = checkpoint("PASSIVE").and_then(|(_, log)| {
            if log <= RESTART_ABOVE {
                return Ok(());
            }
            let (busy, _) = checkpoint("RESTART")?;
            if busy && log > RESTART_INSIST_ABOVE {
                // Readers kept it from starting over so long that the log is large: wait for
                // them this once, holding new writers back for up to a second.
                let _ = conn.busy_timeout(std::time::Duration::from_secs(1));
                let again = checkpoint("RESTART");
                let _ = conn.busy_timeout(CHECKPOINT_PATIENCE);
                if matches!(again, Ok((true, _))) {
                    tracing::warn!(
                        pages = log,
                        "the write-ahead log cannot start over: long reads"
                    );
                }
                again.map(|_| ())
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}

/// How often meter values move from `meter_values_recent` into `meter_values`.
const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Moves the transactions' meter values that arrived since the last call from `meter_values_recent` (a table
/// without indexes, so inserting is cheap) into `meter_values`, sorted by transaction, in one
/// transaction: each transaction's index page is then written once per move rather than once
/// per value. Readers see a value in exactly one of the two tables.
fn settle_meter_values(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let moved = tx
        .prepare_cached(
            "INSERT INTO meter_values (station_id, evse_id, transaction_id, timestamp, samples, received_at)
             SELECT station_id, evse_id, transaction_id, timestamp, samples, received_at
             FROM meter_values_recent ORDER BY station_id, transaction_id, id",
        )?
        .execute([])?;
    if moved > 0 {
        // Without a WHERE clause SQLite empties the table in one step.
        tx.prepare_cached("DELETE FROM meter_values_recent")?
            .execute([])?;
    }
    tx.commit()?;
    Ok(moved)
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut load = group::Load::default();
    let mut settled = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        // Under load, a short gathering pause when little is waiting: more callers share the
        // commit, and the writer and the runtime wake each other less often. Under light load
        // the commit goes at once, so latency stays that of one commit.
        if load.busy() && rx.len() < group::GATHER_BELOW {
            std::thread::sleep(group::GATHER);
        }
        let jobs = group::take_group(first, &mut rx);
        load.taken(jobs.len());
        let started = Instant::now();
        let all = apply_jobs(&mut conn, jobs.iter());
        match all {
            Ok(()) => {
                group::observe(&jobs, started.elapsed().as_secs_f64());
                group::answer_all(jobs, &Ok(()));
            }
            Err(e) => {
                // Find the faulty job: commit each on its own.
                tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; retrying job by job");
                arus_telemetry::metrics().error("store");
                for job in jobs {
                    let result = apply_jobs(&mut conn, std::iter::once(&job)).map_err(|e| {
                        let e = classify(e);
                        tracing::error!(error = %e, "write refused");
                        e
                    });
                    if let Some(done) = job.done {
                        let _ = done.send(result);
                    }
                }
            }
        }
        // After the answers, so that no caller waits for the move.
        if settled.elapsed() >= SETTLE_EVERY {
            if let Err(e) = settle_meter_values(&mut conn) {
                // The values stay where they are, readable, and move at the next turn.
                tracing::warn!(error = %e, "moving meter values failed");
                arus_telemetry::metrics().error("store");
            }
            settled = Instant::now();
        }
    }
}

fn apply_jobs<'a>(
    conn: &mut Connection,
    jobs: impl Iterator<Item = &'a Job>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in jobs {
        for w in &job.writes {
            apply(&tx, w)?;
        }
        for b in &job.frames {
            tx.prepare_cached(
                "INSERT INTO frame_log (station_id, first_at, last_at, count, frames) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                b.station_id,
                ts(&b.first_at),
                ts(&b.last_at),
                b.count as i64,
                crate::framelog::pack(&b.text)
            ])?;
        }
    }
    tx.commit()
}

fn apply(c: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::PutStation {
            id,
            password_hash,
            boot_policy,
            at,
        } => {
            c.prepare_cached(
                "INSERT INTO stations (id, password_hash, boot_policy, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, boot_policy = excluded.boot_policy",
            )?
            .execute(params![id, password_hash, boot_policy.as_str(), ts(at)])?;
        }
        Write::StationConnected { id, protocol, at } => {
            c.prepare_cached("UPDATE stations SET protocol = ?2, last_seen_at = ?3 WHERE id = ?1")?
                .execute(params![id, protocol, ts(at)])?;
        }
        Write::StationSeen { id, at } => {
            c.prepare_cached("UPDATE stations SET last_seen_at = ?2 WHERE id = ?1")?
                .execute(params![id, ts(at)])?;
        }
        Write::Boot {
            id,
            info,
            registration,
            at,
        } => {
            c.prepare_cached(
                "UPDATE stations SET registration = ?2, boot = ?3, booted_at = ?4, last_seen_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, registration.as_str(), rows::json(info), ts(at)])?;
        }
        Write::ConnectorStatus { station_id, report } => {
            // A report older than the one stored (a replay after an outage) does not win.
            c.prepare_cached(
                "INSERT INTO connectors (station_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET
                   status = excluded.status, error_code = excluded.error_code, info = excluded.info,
                   vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
                   updated_at = excluded.updated_at
                 WHERE excluded.updated_at >= connectors.updated_at",
            )?
            .execute(params![
                station_id,
                report.evse_id,
                report.connector_id,
                report.status.as_str(),
                report.error_code,
                report.info,
                report.vendor_id,
                report.vendor_error_code,
                ts(&report.timestamp)
            ])?;
        }
        Write::PutTransaction {
            tx,
            csms_number,
            at,
        } => {
            let row = TransactionRow::of(tx, csms_number.is_some());
            c.prepare_cached(
                "INSERT INTO transactions (station_id, transaction_id, csms_number, evse_id, connector_id, id_token,
                   started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, stop_reason, charging_state, fold, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (station_id, transaction_id) DO UPDATE SET
                   csms_number = COALESCE(transactions.csms_number, excluded.csms_number),
                   evse_id = excluded.evse_id, connector_id = excluded.connector_id, id_token = excluded.id_token,
                   started_at = excluded.started_at, stopped_at = excluded.stopped_at,
                   meter_start_wh = excluded.meter_start_wh, meter_stop_wh = excluded.meter_stop_wh,
                   energy_wh = excluded.energy_wh, stop_reason = excluded.stop_reason,
                   charging_state = excluded.charging_state, fold = excluded.fold, updated_at = excluded.updated_at",
            )?
            .execute(params![
                row.station_id,
                row.transaction_id,
                csms_number,
                row.evse_id,
                row.connector_id,
                row.id_token,
                row.started_at.as_ref().map(ts),
                row.stopped_at.as_ref().map(ts),
                row.meter_start_wh,
                row.meter_stop_wh,
                row.energy_wh,
                row.stop_reason,
                row.charging_state,
                rows::json(&tx.fold),
                ts(at)
            ])?;
        }
        Write::TransactionEvent {
            station_id,
            event,
            received_at,
        } => {
            c.prepare_cached(
                "INSERT OR IGNORE INTO transaction_events (station_id, transaction_id, seq_no, kind, timestamp, trigger_reason, offline, event, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                station_id,
                event.transaction_id,
                event.seq_no,
                event.kind.as_str(),
                ts(&event.timestamp),
                event.trigger,
                event.offline,
                rows::json(event),
                ts(received_at)
            ])?;
        }
        Write::MeterValues {
            station_id,
            evse_id,
            transaction_id,
            values,
            received_at,
        } => {
            // Values outside a transaction (every 2.0.1 MeterValues message) are outside the
            // partial index on transactions, so they cost only an append and go straight to
            // their table; values of a transaction wait in the unindexed one to settle.
            let mut stmt = c.prepare_cached(if transaction_id.is_some() {
                "INSERT INTO meter_values_recent (station_id, evse_id, transaction_id, timestamp, samples, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            } else {
                "INSERT INTO meter_values (station_id, evse_id, transaction_id, timestamp, samples, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            })?;
            for mv in values {
                stmt.execute(params![
                    station_id,
                    evse_id,
                    transaction_id,
                    ts(&mv.timestamp),
                    rows::samples(mv),
                    ts(received_at)
                ])?;
            }
        }
        Write::Notice {
            station_id,
            notice,
            received_at,
        } => {
            c.prepare_cached(
                "INSERT INTO notices (station_id, kind, at, request_id, status, details, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                station_id,
                notice.kind.as_str(),
                ts(&notice.at),
                notice.request_id,
                notice.status,
                rows::json(&notice.details),
                ts(received_at)
            ])?;
        }
        Write::Frame {
            station_id,
            direction,
            at,
            text,
        } => {
            // Frames normally come batched (see `framelog`); one that does not is a batch of one.
            let b = crate::framelog::FrameBatch::single(station_id, *direction, *at, text);
            c.prepare_cached(
                "INSERT INTO frame_log (station_id, first_at, last_at, count, frames) VALUES (?1, ?2, ?3, 1, ?4)",
            )?
            .execute(params![station_id, ts(at), ts(at), crate::framelog::pack(&b.text)])?;
        }
        Write::PutIdToken(r) => {
            c.prepare_cached(
                "INSERT INTO id_tokens (token_key, kind, id_token, status, group_id_token, expiry_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (token_key, kind) DO UPDATE SET id_token = excluded.id_token, status = excluded.status,
                   group_id_token = excluded.group_id_token, expiry_date = excluded.expiry_date",
            )?
            .execute(params![
                token_key(&r.id_token),
                r.kind,
                r.id_token,
                r.status.as_str(),
                r.group_id_token,
                r.expiry_date.as_ref().map(ts)
            ])?;
        }
        Write::PutVariables {
            station_id,
            variables,
            at,
        } => {
            let mut stmt = c.prepare_cached(
                "INSERT INTO device_variables (station_id, component, component_instance, evse_id, connector_id,
                   variable, variable_instance, attribute, value, mutability, characteristics, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (station_id, component, component_instance, evse_id, connector_id, variable, variable_instance, attribute)
                 DO UPDATE SET value = COALESCE(excluded.value, device_variables.value),
                   mutability = COALESCE(excluded.mutability, device_variables.mutability),
                   characteristics = COALESCE(excluded.characteristics, device_variables.characteristics),
                   updated_at = excluded.updated_at",
            )?;
            for v in variables {
                stmt.execute(params![
                    station_id,
                    v.component,
                    v.component_instance.as_deref().unwrap_or(""),
                    v.evse_id.map_or(-1, i64::from),
                    v.connector_id.map_or(-1, i64::from),
                    v.variable,
                    v.variable_instance.as_deref().unwrap_or(""),
                    v.attribute,
                    v.value,
                    v.mutability,
                    (!v.characteristics.is_null()).then(|| v.characteristics.to_string()),
                    ts(at)
                ])?;
            }
        }
        Write::PutRecord(r) => {
            c.prepare_cached(
                "INSERT INTO records (kind, id, station_id, tag, status, at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (kind, id) DO UPDATE SET station_id = excluded.station_id, tag = excluded.tag,
                   status = excluded.status, at = excluded.at, body = excluded.body",
            )?
            .execute(params![
                r.kind.as_str(),
                r.id,
                r.station_id,
                r.tag,
                r.status,
                ts(&r.at),
                r.body
            ])?;
        }
        Write::PutApiToken(t) => {
            c.prepare_cached(
                "INSERT INTO api_tokens (hash, name, role, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (hash) DO UPDATE SET name = excluded.name, role = excluded.role, revoked_at = excluded.revoked_at",
            )?
            .execute(params![
                t.hash,
                t.name,
                t.role.as_str(),
                ts(&t.created_at),
                t.revoked_at.as_ref().map(ts)
            ])?;
        }
    }
    Ok(())
}

fn station_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StationRecord> {
    let policy: String = r.get(2)?;
    let registration: Option<String> = r.get(3)?;
    let booted_at: Option<String> = r.get(5)?;
    let created_at: String = r.get(7)?;
    let last_seen: Option<String> = r.get(8)?;
    Ok(StationRecord {
        id: r.get(0)?,
        password_hash: r.get(1)?,
        boot_policy: RegistrationStatus::parse(&policy).unwrap_or(RegistrationStatus::Accepted),
        registration: registration.as_deref().and_then(RegistrationStatus::parse),
        boot: rows::boot(r.get(4)?),
        booted_at: booted_at.as_deref().and_then(parse_ts),
        protocol: r.get(6)?,
        created_at: parse_ts(&created_at).unwrap_or_default(),
        last_seen_at: last_seen.as_deref().and_then(parse_ts),
    })
}

const STATION_COLUMNS: &str = "id, password_hash, boot_policy, registration, boot, booted_at, protocol, created_at, last_seen_at";

const TRANSACTION_COLUMNS: &str = "id, station_id, transaction_id, csms_number, evse_id, connector_id, id_token, started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, stop_reason, charging_state";

fn transaction_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TransactionRow> {
    let number: Option<i64> = r.get(3)?;
    let started: Option<String> = r.get(7)?;
    let stopped: Option<String> = r.get(8)?;
    Ok(TransactionRow {
        seq: r.get(0)?,
        station_id: r.get(1)?,
        transaction_id: r.get(2)?,
        csms_assigned: number.is_some(),
        evse_id: r.get(4)?,
        connector_id: r.get(5)?,
        id_token: r.get(6)?,
        started_at: started.as_deref().and_then(parse_ts),
        stopped_at: stopped.as_deref().and_then(parse_ts),
        meter_start_wh: r.get(9)?,
        meter_stop_wh: r.get(10)?,
        energy_wh: r.get(11)?,
        stop_reason: r.get(12)?,
        charging_state: r.get(13)?,
    })
}

impl Store for SqliteStore {
    fn commit(&self, writes: Vec<Write>) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(self.queue.commit(writes))
    }

    fn append(&self, writes: Vec<Write>) {
        self.queue.append(writes);
    }

    fn log_frame(
        &self,
        station_id: &str,
        direction: arus_domain::store::Direction,
        at: Time,
        text: String,
    ) {
        self.queue.log_frame(station_id, direction, at, &text);
    }

    fn station(&self, id: &str) -> BoxFut<'_, Result<Option<StationRecord>, StoreError>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {STATION_COLUMNS} FROM stations WHERE id = ?1"
            ))?
            .query_row([id], station_row)
            .optional()
        })
    }

    fn stations(&self) -> BoxFut<'_, Result<Vec<StationRecord>, StoreError>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {STATION_COLUMNS} FROM stations ORDER BY id"
            ))?;
            stmt.query_map([], station_row)?.collect()
        })
    }

    fn connectors(&self, station_id: &str) -> BoxFut<'_, Result<Vec<ConnectorRecord>, StoreError>> {
        let id = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT evse_id, connector_id, status, error_code, info, updated_at FROM connectors
                 WHERE station_id = ?1 ORDER BY evse_id, connector_id",
            )?;
            stmt.query_map([id], |r| {
                let status: String = r.get(2)?;
                let updated: String = r.get(5)?;
                Ok(ConnectorRecord {
                    evse_id: r.get(0)?,
                    connector_id: r.get(1)?,
                    status: ConnectorStatus::parse(&status).unwrap_or(ConnectorStatus::Unavailable),
                    error_code: r.get(3)?,
                    info: r.get(4)?,
                    updated_at: parse_ts(&updated).unwrap_or_default(),
                })
            })?
            .collect()
        })
    }

    fn id_token(
        &self,
        value: &str,
        kind: Option<&str>,
    ) -> BoxFut<'_, Result<Option<IdTokenRecord>, StoreError>> {
        let key = token_key(value);
        let kind = kind.map(str::to_string);
        self.read(move |c| {
            // The exact type first, then any type: stations do not always report the type
            // the operator registered (and 1.6 reports none).
            let mut stmt = c.prepare_cached(
                "SELECT id_token, kind, status, group_id_token, expiry_date FROM id_tokens
                 WHERE token_key = ?1 ORDER BY (kind = ?2) DESC, kind LIMIT 1",
            )?;
            let found = stmt
                .query_row(params![key, kind.as_deref().unwrap_or("")], |r| {
                    let status: String = r.get(2)?;
                    let expiry: Option<String> = r.get(4)?;
                    Ok(IdTokenRecord {
                        id_token: r.get(0)?,
                        kind: r.get(1)?,
                        status: AuthorizationStatus::parse(&status)
                            .unwrap_or(AuthorizationStatus::Invalid),
                        group_id_token: r.get(3)?,
                        expiry_date: expiry.as_deref().and_then(parse_ts),
                    })
                })
                .optional()?;
            Ok(found)
        })
    }

    fn transaction(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Option<(Transaction, bool)>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT fold, csms_number FROM transactions WHERE station_id = ?1 AND transaction_id = ?2",
            )?
            .query_row(params![s, t], |r| {
                let fold: String = r.get(0)?;
                let number: Option<i64> = r.get(1)?;
                Ok((rows::transaction(s.clone(), t.clone(), &fold), number.is_some()))
            })
            .optional()
        })
    }

    fn find_start(
        &self,
        station_id: &str,
        connector_id: u32,
        id_token: &str,
        started_at: Time,
        meter_start_wh: f64,
    ) -> BoxFut<'_, Result<Option<String>, StoreError>> {
        let (s, tok) = (station_id.to_string(), id_token.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT transaction_id FROM transactions WHERE station_id = ?1 AND started_at = ?2
                 AND connector_id = ?3 AND id_token = ?4 AND meter_start_wh = ?5 AND csms_number IS NOT NULL LIMIT 1",
            )?
            .query_row(
                params![s, ts(&started_at), connector_id, tok, meter_start_wh],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn transaction_events(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<TransactionEvent>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT event FROM transaction_events WHERE station_id = ?1 AND transaction_id = ?2 ORDER BY id",
            )?
            .query_map(params![s, t], |r| r.get::<_, String>(0))?
            .map(|text| text.map(|t| serde_json::from_str(&t).ok()))
            .filter_map(Result::transpose)
            .collect()
        })
    }

    fn meter_values(
        &self,
        station_id: &str,
        transaction_id: &str,
    ) -> BoxFut<'_, Result<Vec<MeterValue>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT timestamp, samples, 0 AS recent, id FROM meter_values WHERE station_id = ?1 AND transaction_id = ?2
                 UNION ALL
                 SELECT timestamp, samples, 1, id FROM meter_values_recent WHERE station_id = ?1 AND transaction_id = ?2
                 ORDER BY 1, 3, 4",
            )?
            .query_map(params![s, t], |r| {
                let at: String = r.get(0)?;
                let samples: String = r.get(1)?;
                Ok(MeterValue {
                    timestamp: parse_ts(&at).unwrap_or_default(),
                    samples: serde_json::from_str(&samples).unwrap_or_default(),
                })
            })?
            .collect()
        })
    }

    fn max_csms_number(&self) -> BoxFut<'_, Result<i64, StoreError>> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(csms_number), 0) FROM transactions",
                [],
                |r| r.get(0),
            )
        })
    }

    fn transactions(
        &self,
        query: TransactionQuery,
    ) -> BoxFut<'_, Result<Vec<TransactionRow>, StoreError>> {
        self.read(move |c| {
            use rusqlite::types::Value;
            let mut sql = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            if let Some(s) = &query.station_id {
                args.push(Value::Text(s.clone()));
                sql.push_str(&format!(" AND station_id = ?{}", args.len()));
            }
            if let Some(b) = query.before {
                args.push(Value::Integer(b));
                sql.push_str(&format!(" AND id < ?{}", args.len()));
            }
            match query.ongoing {
                Some(true) => sql.push_str(" AND stopped_at IS NULL"),
                Some(false) => sql.push_str(" AND stopped_at IS NOT NULL"),
                None => {}
            }
            sql.push_str(&format!(
                " ORDER BY id DESC LIMIT {}",
                query.limit.clamp(1, 1000)
            ));
            c.prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(args), transaction_row)?
                .collect()
        })
    }

    fn api_token(&self, hash: &str) -> BoxFut<'_, Result<Option<ApiTokenRecord>, StoreError>> {
        let hash = hash.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT hash, name, role, created_at, revoked_at FROM api_tokens WHERE hash = ?1",
            )?
            .query_row([hash], api_token_row)
            .optional()
        })
    }

    fn api_token_count(&self) -> BoxFut<'_, Result<u64, StoreError>> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM api_tokens", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        })
    }

    fn prune_frames(&self, before: Time, keep: u64) -> BoxFut<'_, Result<u64, StoreError>> {
        // Deletes go through a connection of their own so that the writer's groups stay short.
        let path = self.readers.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> rusqlite::Result<u64> {
                let c = Connection::open(&path)?;
                configure(&c)?;
                // It reads each row once: a large cache would only hold memory.
                c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
                // Deleting is done a chunk per transaction: one large DELETE held the write lock
                // for seconds, and the writer's groups (stations waiting for answers) behind it.
                let delete_chunks = |select: &str, arg: &dyn rusqlite::ToSql| -> rusqlite::Result<i64> {
                    let sql = format!(
                        "DELETE FROM frame_log WHERE id IN ({select} LIMIT {PRUNE_CHUNK}) RETURNING count"
                    );
                    let mut frames = 0i64;
                    loop {
                        let mut stmt = c.prepare_cached(&sql)?;
                        let counts = stmt
                            .query_map([arg], |r| r.get::<_, i64>(0))?
                            .collect::<rusqlite::Result<Vec<i64>>>()?;
                        if counts.is_empty() {
                            return Ok(frames);
                        }
                        frames += counts.iter().sum::<i64>();
                    }
                };
                let old = delete_chunks(
                    "SELECT id FROM frame_log WHERE last_at < ?1",
                    &ts(&before),
                )?;
                // Then the oldest rows beyond `keep` frames in all: the newest row at which the
                // frames counted from the newest pass `keep`, found by walking back row by row
                // (a window function over the table held all of it in memory, tens of MiB).
                let cut: Option<i64> = {
                    let mut stmt = c.prepare("SELECT id, count FROM frame_log ORDER BY id DESC")?;
                    let mut rows = stmt.query([])?;
                    let mut kept = 0u64;
                    let mut cut = None;
                    while let Some(row) = rows.next()? {
                        kept += row.get::<_, i64>(1)?.max(0) as u64;
                        if kept > keep {
                            cut = Some(row.get(0)?);
                            break;
                        }
                    }
                    cut
                };
                let over = match cut {
                    Some(cut) => delete_chunks(
                        "SELECT id FROM frame_log WHERE id <= ?1 ORDER BY id",
                        &cut,
                    )?,
                    None => 0,
                };
                Ok((old + over) as u64)
            })
            .await
            .map_err(StoreError::unavailable)?
            .map_err(StoreError::unavailable)
        })
    }

    fn frames(
        &self,
        station_id: &str,
        limit: u32,
    ) -> BoxFut<'_, Result<Vec<FrameRecord>, StoreError>> {
        let s = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT frames FROM frame_log WHERE station_id = ?1 ORDER BY id DESC",
            )?;
            let mut rows = stmt.query([&s])?;
            let mut out = Vec::new();
            while out.len() < limit as usize {
                let Some(row) = rows.next()? else { break };
                use crate::framelog::StoredRow;
                let text = match row.get_ref(0)? {
                    rusqlite::types::ValueRef::Blob(b) => {
                        crate::framelog::unpack(StoredRow::Packed(b))
                    }
                    rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                        .ok()
                        .and_then(|t| crate::framelog::unpack(StoredRow::Text(t))),
                    _ => None,
                };
                let Some(text) = text else {
                    tracing::warn!(station = %s, "skipping a damaged frame-log row");
                    continue;
                };
                out.extend(crate::framelog::decode(&text).into_iter().rev());
            }
            out.truncate(limit as usize);
            Ok(out)
        })
    }

    fn variables(
        &self,
        station_id: &str,
        component: Option<String>,
        variable: Option<String>,
    ) -> BoxFut<'_, Result<Vec<(DeviceVariable, Time)>, StoreError>> {
        let s = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT component, component_instance, evse_id, connector_id, variable, variable_instance,
                   attribute, value, mutability, characteristics, updated_at
                 FROM device_variables WHERE station_id = ?1
                   AND (?2 IS NULL OR component = ?2) AND (?3 IS NULL OR variable = ?3)
                 ORDER BY component, component_instance, evse_id, connector_id, variable, variable_instance, attribute
                 LIMIT 100000",
            )?;
            let rows = stmt.query_map(params![s, component, variable], |r| {
                let instance: String = r.get(1)?;
                let evse: i64 = r.get(2)?;
                let connector: i64 = r.get(3)?;
                let var_instance: String = r.get(5)?;
                let characteristics: Option<String> = r.get(9)?;
                let at: String = r.get(10)?;
                Ok((
                    DeviceVariable {
                        component: r.get(0)?,
                        component_instance: (!instance.is_empty()).then_some(instance),
                        evse_id: u32::try_from(evse).ok(),
                        connector_id: u32::try_from(connector).ok(),
                        variable: r.get(4)?,
                        variable_instance: (!var_instance.is_empty()).then_some(var_instance),
                        attribute: r.get(6)?,
                        value: r.get(7)?,
                        mutability: r.get(8)?,
                        characteristics: characteristics
                            .and_then(|c| serde_json::from_str(&c).ok())
                            .unwrap_or_default(),
                    },
                    parse_ts(&at).unwrap_or_default(),
                ))
            })?;
            rows.collect()
        })
    }

    fn api_tokens(&self) -> BoxFut<'_, Result<Vec<ApiTokenRecord>, StoreError>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at DESC, hash",
            )?;
            let rows = stmt.query_map([], api_token_row)?;
            rows.collect()
        })
    }

    fn record(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> BoxFut<'_, Result<Option<StoredRecord>, StoreError>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq, id, station_id, tag, status, at, body FROM records WHERE kind = ?1 AND id = ?2",
            )?
            .query_row(params![kind.as_str(), id], |r| record_row(kind, r))
            .optional()
        })
    }

    fn records(&self, q: RecordQuery) -> BoxFut<'_, Result<Vec<StoredRecord>, StoreError>> {
        self.read(move |c| {
            use rusqlite::types::Value;
            let mut sql = String::from(
                "SELECT seq, id, station_id, tag, status, at, body FROM records WHERE kind = ?1",
            );
            let mut args: Vec<Value> = vec![Value::Text(q.kind.as_str().into())];
            let mut filter = |sql: &mut String, column: &str, v: Value| {
                args.push(v);
                sql.push_str(&format!(" AND {column} ?{}", args.len()));
            };
            if let Some(s) = &q.station_id {
                filter(&mut sql, "station_id =", Value::Text(s.clone()));
            }
            if let Some(t) = &q.tag {
                filter(&mut sql, "tag =", Value::Text(t.clone()));
            }
            if let Some(s) = &q.status {
                filter(&mut sql, "status =", Value::Text(s.clone()));
            }
            if let Some(b) = q.before {
                filter(&mut sql, "seq <", Value::Integer(b));
            }
            if let Some(t) = &q.at_or_before {
                filter(&mut sql, "at <=", Value::Text(ts(t)));
            }
            sql.push_str(if q.oldest_first {
                " ORDER BY seq ASC"
            } else {
                " ORDER BY seq DESC"
            });
            sql.push_str(&format!(" LIMIT {}", q.limit));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(rusqlite::params_from_iter(args), |r| record_row(q.kind, r))?;
            rows.collect()
        })
    }

    fn notices(
        &self,
        station_id: &str,
        kind: NoticeKind,
        request_id: Option<i64>,
        since: Time,
    ) -> BoxFut<'_, Result<Vec<(Time, Notice)>, StoreError>> {
        let s = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, request_id, status, details, received_at FROM notices
                 WHERE station_id = ?1 AND kind = ?2
                   AND (request_id = ?3 OR (request_id IS NULL AND received_at >= ?4))
                 ORDER BY id LIMIT 1000",
            )?;
            let rows = stmt.query_map(params![s, kind.as_str(), request_id, ts(&since)], |r| {
                let at: String = r.get(0)?;
                let details: String = r.get(3)?;
                let received: String = r.get(4)?;
                Ok((
                    parse_ts(&received).unwrap_or_default(),
                    Notice {
                        kind,
                        at: parse_ts(&at).unwrap_or_default(),
                        request_id: r.get(1)?,
                        status: r.get(2)?,
                        details: serde_json::from_str(&details).unwrap_or_default(),
                    },
                ))
            })?;
            rows.collect()
        })
    }
}

fn api_token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiTokenRecord> {
    let role: String = r.get(2)?;
    let created: String = r.get(3)?;
    let revoked: Option<String> = r.get(4)?;
    Ok(ApiTokenRecord {
        hash: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::ReadOnly),
        created_at: parse_ts(&created).unwrap_or_default(),
        revoked_at: revoked.as_deref().and_then(parse_ts),
    })
}

fn record_row(kind: RecordKind, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    let at: String = r.get(5)?;
    Ok(StoredRecord {
        kind,
        seq: r.get(0)?,
        id: r.get(1)?,
        station_id: r.get(2)?,
        tag: r.get(3)?,
        status: r.get(4)?,
        at: parse_ts(&at).unwrap_or_default(),
        body: r.get(6)?,
    })
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use chrono::SubsecRound;

    #[test]
    fn times_are_fixed_width_rfc3339() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T02:03:04.000123456Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(ts(&t), "2024-05-01T02:03:04.000123Z");
        assert_eq!(parse_ts(&ts(&t)), Some(t.trunc_subsecs(6)));
    }
}
