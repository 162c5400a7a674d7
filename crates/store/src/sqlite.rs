//! The SQLite backend: one file in WAL mode with `synchronous=FULL`.
//!
//! One thread owns the write connection and commits groups of jobs; reads use a small pool of
//! read-only connections on blocking tasks (WAL lets them run beside the writer).
//!
//! The writer thread, the checkpointer and the statements each write becomes are in `writer`.
//!
//! Statements are the `sqlite` texts of `crate::sql`, prepared and cached per connection
//! (`prepare_cached`); times are bound as fixed-width RFC 3339 text ([`ts`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arus_domain::Time;
use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord, token_key};
use arus_domain::availability::{ConnectorRecord, ConnectorStatus};
use arus_domain::device_model::DeviceVariable;
use arus_domain::metering::MeterValue;
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::{RegistrationStatus, StationRecord};
use arus_domain::retention::{Pruned, Retention};
use arus_domain::store::{
    ApiTokenRecord, BoxFut, FrameRecord, RecordKind, RecordQuery, Role, StartKey, Store,
    StoreError, StoredProfile, StoredRecord, StoredTransaction, TransactionQuery, TransactionRow,
    Write,
};
use arus_domain::transactions::{Transaction, TransactionEvent};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::mpsc;

use crate::group::{self, Job, Queue};
use crate::migrations::{self, Step};
use crate::sql::{self, Arg, Dialect, sqlite_only};
use crate::{OpenError, rows};

mod writer;

use writer::{PRUNE_CHUNK, checkpointer, settle_meter_values, writer_loop};

/// Reads of the station path running at once, and read connections kept open for them: each
/// has its own page cache, so both are bounded (a connect storm would otherwise open a
/// connection per waiting station).
const READERS: usize = 8;

/// The same for operators' reads ([`Store::operator_view`]): capacity of their own, so that
/// large API reads never take the station path's.
const OPERATOR_READERS: usize = 4;

/// Page cache of a read connection, KiB. Reads go through the memory map; the cache holds
/// mostly index pages.
const READER_CACHE_KIB: i64 = 8 << 10;

#[derive(Clone)]
pub(crate) struct SqliteStore {
    queue: Queue,
    /// The readers this view reads with.
    readers: Arc<Readers>,
    /// The operators' readers (the same as `readers` in the operators' view).
    operators: Arc<Readers>,
}

struct Readers {
    /// Connections kept open at most, and reads running at once.
    size: usize,
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

/// Binds a value of a query built at run time the way this backend stores it.
impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Arg::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Arg::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            Arg::Time(t) => ToSqlOutput::Owned(Value::Text(ts(t))),
        })
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

/// Brings the schema up to date (see `migrations`): each step in a transaction holding the
/// write lock, planned again from the history it finds.
fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    conn.execute_batch(sqlite_only::MIGRATIONS_TABLE)?;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied = tx
            .prepare(sql::APPLIED_MIGRATIONS.sqlite)?
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut applying = None;
        for step in migrations::plan(Dialect::Sqlite, &applied)? {
            match step {
                Step::Renumber { from, to, name } => {
                    tx.execute(sql::MIGRATION_RENUMBERED.sqlite, params![from, to, name])?;
                    tracing::info!(from, to, name, "renumbered sqlite migration");
                }
                Step::Apply(m) => {
                    tx.execute_batch(m.sqlite)?;
                    tx.execute(
                        sql::MIGRATION_APPLIED.sqlite,
                        params![m.version, m.name, ts(&Utc::now())],
                    )?;
                    applying = Some(m);
                    break;
                }
            }
        }
        tx.commit()?;
        match applying {
            Some(m) => tracing::info!(
                version = m.version,
                name = m.name,
                "applied sqlite migration"
            ),
            None => return Ok(()),
        }
    }
}

impl SqliteStore {
    pub(crate) async fn open(path: &str) -> Result<SqliteStore, OpenError> {
        let path = path.to_string();
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<Connection, OpenError> {
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
        let health = queue.health.clone();
        std::thread::Builder::new()
            .name("arus-sqlite-writer".into())
            .spawn(move || {
                writer_loop(writer, rx, &health);
                drop(writer_alive);
            })
            .map_err(|e| OpenError::io("the writer thread", e))?;
        let checkpoint_path = path.clone();
        std::thread::Builder::new()
            .name("arus-sqlite-checkpoint".into())
            .spawn(move || checkpointer(&checkpoint_path, &writer_gone))
            .map_err(|e| OpenError::io("the checkpoint thread", e))?;
        let readers = |size: usize| {
            Arc::new(Readers {
                size,
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                running: Arc::new(tokio::sync::Semaphore::new(size)),
            })
        };
        Ok(SqliteStore {
            queue,
            readers: readers(READERS),
            operators: readers(OPERATOR_READERS),
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
                    && idle.len() < readers.size
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
        electrical: arus_domain::provisioning::Electrical {
            max_current_a: r.get(9)?,
            max_power_w: r.get(10)?,
            voltage_v: r.get(11)?,
        },
    })
}

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
        orphan: r.get(14)?,
    })
}

impl Store for SqliteStore {
    fn operator_view(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore {
            queue: self.queue.clone(),
            readers: self.operators.clone(),
            operators: self.operators.clone(),
        })
    }

    group::queued_writes!();

    fn station(&self, id: &str) -> BoxFut<'_, Result<Option<StationRecord>, StoreError>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached(sql::STATION.sqlite)?
                .query_row([id], station_row)
                .optional()
        })
    }

    fn stations(&self) -> BoxFut<'_, Result<Vec<StationRecord>, StoreError>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::STATIONS.sqlite)?;
            stmt.query_map([], station_row)?.collect()
        })
    }

    fn connectors(&self, station_id: &str) -> BoxFut<'_, Result<Vec<ConnectorRecord>, StoreError>> {
        let id = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::CONNECTORS.sqlite)?;
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
            let mut stmt = c.prepare_cached(sql::ID_TOKEN.sqlite)?;
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
                        concurrent_use: r.get(5)?,
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
    ) -> BoxFut<'_, Result<Option<StoredTransaction>, StoreError>> {
        let (s, t) = (station_id.to_string(), transaction_id.to_string());
        self.read(move |c| writer::stored_transaction(c, &s, &t))
    }

    fn open_transactions_of(
        &self,
        id_token: &str,
    ) -> BoxFut<'_, Result<Vec<(String, String)>, StoreError>> {
        let token = id_token.to_string();
        self.read(move |c| {
            c.prepare_cached(sql::OPEN_TRANSACTIONS_OF.sqlite)?
                .query_map([token], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    fn find_start(&self, key: StartKey) -> BoxFut<'_, Result<Option<String>, StoreError>> {
        self.read(move |c| {
            c.prepare_cached(sql::FIND_START.sqlite)?
                .query_row(
                    params![
                        key.station_id,
                        ts(&key.started_at),
                        key.connector_id,
                        key.id_token,
                        key.meter_start_wh
                    ],
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
            c.prepare_cached(sql::TRANSACTION_EVENTS.sqlite)?
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
            c.prepare_cached(sqlite_only::METER_VALUES)?
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
        self.read(|c| c.query_row(sql::MAX_CSMS_NUMBER.sqlite, [], |r| r.get(0)))
    }

    fn transactions(
        &self,
        query: TransactionQuery,
    ) -> BoxFut<'_, Result<Vec<TransactionRow>, StoreError>> {
        self.read(move |c| {
            let (text, args) = sql::transactions(Dialect::Sqlite, &query);
            c.prepare_cached(&text)?
                .query_map(rusqlite::params_from_iter(args), transaction_row)?
                .collect()
        })
    }

    fn api_token(&self, hash: &str) -> BoxFut<'_, Result<Option<ApiTokenRecord>, StoreError>> {
        let hash = hash.to_string();
        self.read(move |c| {
            c.prepare_cached(sql::API_TOKEN.sqlite)?
                .query_row([hash], api_token_row)
                .optional()
        })
    }

    fn api_token_count(&self) -> BoxFut<'_, Result<u64, StoreError>> {
        self.read(|c| {
            c.query_row(sql::API_TOKEN_COUNT.sqlite, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
    }

    fn prune(&self, policy: Retention, now: Time) -> BoxFut<'_, Result<Pruned, StoreError>> {
        // Like the frame log's pruning: a connection of its own, a chunk per transaction.
        let path = self.readers.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> rusqlite::Result<Pruned> {
                let mut c = Connection::open(&path)?;
                configure(&c)?;
                c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
                let mut pruned = Pruned::default();
                for step in crate::prune::plan(&policy, now) {
                    let args = step.args();
                    loop {
                        // Immediate: the write lock from the first statement on, so the
                        // chunk's statements select the same rows.
                        let tx =
                            c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                        let mut counts = Vec::with_capacity(step.statements.len());
                        for (statement, count) in step.statements {
                            let n = tx
                                .prepare_cached(statement.sqlite)?
                                .execute(rusqlite::params_from_iter(args.iter()))?
                                as u64;
                            counts.push((count, n));
                        }
                        tx.commit()?;
                        let mut last = 0;
                        for (count, n) in counts {
                            count(&mut pruned, n);
                            last = n;
                        }
                        if last == 0 {
                            break;
                        }
                    }
                }
                Ok(pruned)
            })
            .await
            .map_err(StoreError::unavailable)?
            .map_err(StoreError::unavailable)
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
                let delete_chunks =
                    |select: &str, arg: &dyn rusqlite::ToSql| -> rusqlite::Result<i64> {
                        let sql = sqlite_only::prune_delete(select, PRUNE_CHUNK);
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
                let old = delete_chunks(sqlite_only::PRUNE_OLD, &ts(&before))?;
                // Then the oldest rows beyond `keep` frames in all: the newest row at which the
                // frames counted from the newest pass `keep`, found by walking back row by row
                // (a window function over the table held all of it in memory, tens of MiB).
                let cut: Option<i64> = {
                    let mut stmt = c.prepare(sqlite_only::FRAME_COUNTS)?;
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
                    Some(cut) => delete_chunks(sqlite_only::PRUNE_UP_TO, &cut)?,
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
            let mut stmt = c.prepare_cached(sql::FRAMES.sqlite)?;
            let mut rows = stmt.query(params![s, i64::from(limit)])?;
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
            let mut stmt = c.prepare_cached(sql::VARIABLES.sqlite)?;
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

    fn charging_profiles(
        &self,
        station_id: &str,
    ) -> BoxFut<'_, Result<Vec<StoredProfile>, StoreError>> {
        let s = station_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::CHARGING_PROFILES.sqlite)?;
            let rows = stmt.query_map(params![s], |r| {
                let evse: i64 = r.get(0)?;
                let profile: String = r.get(2)?;
                let at: String = r.get(3)?;
                Ok(rows::stored_profile(
                    evse,
                    r.get(1)?,
                    &profile,
                    parse_ts(&at).unwrap_or_default(),
                ))
            })?;
            rows.filter_map(|r| r.transpose()).collect()
        })
    }

    fn api_tokens(&self) -> BoxFut<'_, Result<Vec<ApiTokenRecord>, StoreError>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql::API_TOKENS.sqlite)?;
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
            c.prepare_cached(sql::RECORD.sqlite)?
                .query_row(params![kind.as_str(), id], |r| record_row(kind, r))
                .optional()
        })
    }

    fn records(&self, q: RecordQuery) -> BoxFut<'_, Result<Vec<StoredRecord>, StoreError>> {
        self.read(move |c| {
            let (text, args) = sql::records(Dialect::Sqlite, &q);
            let mut stmt = c.prepare_cached(&text)?;
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
            let mut stmt = c.prepare_cached(sql::NOTICES.sqlite)?;
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

#[cfg(all(test, feature = "test-support"))]
mod read_capacity {
    use super::*;

    /// However many reads operators hold, the station path reads on capacity of its own.
    #[tokio::test]
    async fn operators_cannot_take_the_station_paths_reads() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("arus.db");
        let store = SqliteStore::open(&path.to_string_lossy())
            .await
            .expect("opens");
        let operators = store.operator_view();
        let held = store
            .operators
            .running
            .clone()
            .acquire_many_owned(OPERATOR_READERS as u32)
            .await
            .expect("every operator read taken");
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            operators.station("CS1"),
        )
        .await;
        assert!(
            waiting.is_err(),
            "an operator read waits for its own capacity"
        );
        assert_eq!(
            store.station("CS1").await.expect("station path reads"),
            None
        );
        drop(held);
        assert_eq!(
            operators.station("CS1").await.expect("operator reads"),
            None
        );
    }
}
