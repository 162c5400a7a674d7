//! The SQLite writer's side: the thread that owns the write connection and commits groups of
//! jobs, the checkpointer that keeps the WAL bounded, the settling of meter values into their
//! indexed table, and the statements each write becomes.
//!
//! # Invariants
//!
//! - Only the writer thread writes; a group is one transaction, committed with
//!   `synchronous=FULL` before any of its jobs is answered.
//! - A failing group is retried job by job, so one bad write fails alone.

use super::*;

/// How often the WAL is copied into the database file.
pub(super) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// WAL pages (4 KiB) above which the checkpointer makes the log start over.
pub(super) const RESTART_ABOVE: i64 = 4096;

/// WAL pages above which a RESTART checkpoint that found readers in its way waits for them.
pub(super) const RESTART_INSIST_ABOVE: i64 = 4 * RESTART_ABOVE;

/// How long a checkpoint waits for the readers it must not overtake.
pub(super) const CHECKPOINT_PATIENCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Frame-log rows deleted per transaction when pruning, so that the writer never waits long.
pub(super) const PRUNE_CHUNK: i64 = 2000;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`]. A PASSIVE checkpoint never
/// waits for the writer, but under constant writes it never catches up either, and SQLite only
/// starts the log over once all of it is copied: so when the log has grown past
/// [`RESTART_ABOVE`], a RESTART checkpoint copies the rest while holding the writer back for
/// that moment (milliseconds, since the passive one did the bulk). Ends with the writer, or at
/// once if the database cannot be opened (the WAL then grows until the next start).
pub(super) fn checkpointer(path: &str, writer_gone: &std::sync::mpsc::Receiver<()>) {
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
pub(super) const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Moves the transactions' meter values that arrived since the last call from `meter_values_recent` (a table
/// without indexes, so inserting is cheap) into `meter_values`, sorted by transaction, in one
/// transaction: each transaction's index page is then written once per move rather than once
/// per value. Readers see a value in exactly one of the two tables.
pub(super) fn settle_meter_values(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let moved = tx
        .prepare_cached(sqlite_only::SETTLE_METER_VALUES)?
        .execute([])?;
    if moved > 0 {
        tx.prepare_cached(sqlite_only::SETTLED)?.execute([])?;
    }
    tx.commit()?;
    Ok(moved)
}

/// Whether a failed commit says the database cannot take writes at all (the disk is full, the
/// file cannot be written), rather than that one write was wrong; and the reason, in words.
fn unwritable(e: &rusqlite::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::DiskFull => Some("the disk is full"),
            C::SystemIoFailure => Some("the database file cannot be written (I/O error)"),
            C::ReadOnly => Some("the database file is read-only"),
            C::CannotOpen => Some("the database file cannot be opened"),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    health: &crate::group::WriteHealth,
) {
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
                health.recovered();
                group::observe(&jobs, started.elapsed().as_secs_f64());
                group::answer_all(jobs, &Ok(()));
            }
            Err(e) if unwritable(&e).is_some() => {
                // Nothing of the group is kept, and nothing would be on a second try: every
                // caller is told, and the next group tries again.
                let reason = unwritable(&e).unwrap_or_default();
                health.failing(format!("{reason}: {e}"));
                arus_telemetry::metrics().error("store");
                for job in jobs {
                    group::refuse(job, reason);
                }
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

pub(super) fn apply_jobs<'a>(
    conn: &mut Connection,
    jobs: impl Iterator<Item = &'a Job>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in jobs {
        for w in &job.writes {
            apply(&tx, w)?;
        }
        for b in &job.frames {
            frame_batch(&tx, b)?;
        }
    }
    tx.commit()
}

/// Writes one row of the frame log, its frames compressed.
pub(super) fn frame_batch(c: &Connection, b: &crate::framelog::FrameBatch) -> rusqlite::Result<()> {
    c.prepare_cached(sql::FRAME_BATCH.sqlite)?.execute(params![
        b.station_id,
        ts(&b.first_at),
        ts(&b.last_at),
        b.count as i64,
        crate::framelog::pack(&b.text)
    ])?;
    Ok(())
}

/// A transaction as stored, read on `c` ([`sql::TRANSACTION`]).
pub(super) fn stored_transaction(
    c: &Connection,
    station_id: &str,
    transaction_id: &str,
) -> rusqlite::Result<Option<StoredTransaction>> {
    c.prepare_cached(sql::TRANSACTION.sqlite)?
        .query_row(params![station_id, transaction_id], |r| {
            let fold: String = r.get(0)?;
            Ok(rows::stored_transaction(
                station_id.to_string(),
                transaction_id.to_string(),
                &fold,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })
        .optional()
}

/// The first 14 values of [`sql::PUT_TRANSACTION`] and [`sql::MERGE_TRANSACTION`].
fn transaction_values(
    row: TransactionRow,
    csms_number: Option<i64>,
    fold: &arus_domain::transactions::Fold,
) -> Vec<Box<dyn rusqlite::ToSql>> {
    vec![
        Box::new(row.station_id),
        Box::new(row.transaction_id),
        Box::new(csms_number),
        Box::new(row.evse_id),
        Box::new(row.connector_id),
        Box::new(row.id_token),
        Box::new(row.started_at.as_ref().map(ts)),
        Box::new(row.stopped_at.as_ref().map(ts)),
        Box::new(row.meter_start_wh),
        Box::new(row.meter_stop_wh),
        Box::new(row.energy_wh),
        Box::new(row.stop_reason),
        Box::new(row.charging_state),
        Box::new(rows::json(fold)),
    ]
}

/// A write folded from an older revision than the stored one: the row becomes the merge of
/// both folds.
fn merge_transaction(
    c: &Connection,
    ours: &Transaction,
    csms_number: Option<i64>,
    at: &Time,
) -> rusqlite::Result<()> {
    let Some(stored) = stored_transaction(c, &ours.station_id, &ours.transaction_id)? else {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    let (tx, row, revision) = rows::merged(stored, ours, csms_number);
    let mut values = transaction_values(row, csms_number, &tx.fold);
    values.extend([
        Box::new(revision) as Box<dyn rusqlite::ToSql>,
        Box::new(ts(at)),
    ]);
    c.prepare_cached(sql::MERGE_TRANSACTION.sqlite)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

pub(super) fn apply(c: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::PutStation {
            id,
            password_hash,
            boot_policy,
            self_registered,
            at,
        } => {
            c.prepare_cached(sql::PUT_STATION.sqlite)?.execute(params![
                id,
                password_hash,
                boot_policy.as_str(),
                ts(at),
                self_registered
            ])?;
        }
        Write::StationConnected { id, protocol, at } => {
            c.prepare_cached(sql::STATION_CONNECTED.sqlite)?
                .execute(params![id, protocol, ts(at)])?;
        }
        Write::StationElectrical { id, electrical: e } => {
            c.prepare_cached(sql::STATION_ELECTRICAL.sqlite)?
                .execute(params![id, e.max_current_a, e.max_power_w, e.voltage_v])?;
        }
        Write::StationSeen { id, at } => {
            c.prepare_cached(sql::STATION_SEEN.sqlite)?
                .execute(params![id, ts(at)])?;
        }
        Write::Boot {
            id,
            info,
            registration,
            at,
        } => {
            c.prepare_cached(sql::BOOT.sqlite)?.execute(params![
                id,
                registration.as_str(),
                rows::json(info),
                ts(at)
            ])?;
        }
        Write::ConnectorStatus { station_id, report } => {
            // A report older than the one stored (a replay after an outage) does not win.
            c.prepare_cached(sql::CONNECTOR_STATUS.sqlite)?
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
            orphan,
            based_on,
            at,
        } => {
            let row = TransactionRow::of(tx, csms_number.is_some(), *orphan);
            let mut values = transaction_values(row, *csms_number, &tx.fold);
            values.extend([
                Box::new(ts(at)) as Box<dyn rusqlite::ToSql>,
                Box::new(*orphan),
                Box::new(*based_on),
            ]);
            let written = c
                .prepare_cached(sql::PUT_TRANSACTION.sqlite)?
                .execute(rusqlite::params_from_iter(values))?;
            if written == 0 {
                merge_transaction(c, tx, *csms_number, at)?;
            }
        }
        Write::TransactionEvent {
            station_id,
            event,
            received_at,
        } => {
            c.prepare_cached(sql::TRANSACTION_EVENT.sqlite)?
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
            // Values outside a transaction go straight to their table, where the unique index
            // led by the time drops a repeat at the index's end; values of a transaction wait
            // in the unindexed table and settle in batches sorted by transaction, where the
            // unique index drops a repeat (migration 8).
            let mut stmt = c.prepare_cached(if transaction_id.is_some() {
                sqlite_only::METER_VALUE_RECENT
            } else {
                sql::METER_VALUE.sqlite
            })?;
            for mv in values {
                let samples = rows::samples(mv);
                let digest = rows::samples_digest(&samples);
                stmt.execute(params![
                    station_id,
                    evse_id,
                    transaction_id,
                    ts(&mv.timestamp),
                    samples,
                    ts(received_at),
                    digest
                ])?;
            }
        }
        Write::Notice {
            station_id,
            notice,
            received_at,
        } => {
            c.prepare_cached(sql::NOTICE.sqlite)?.execute(params![
                station_id,
                notice.kind.as_str(),
                ts(&notice.at),
                notice.request_id,
                notice.status,
                rows::json(&notice.details),
                ts(received_at)
            ])?;
        }
        Write::Frame { .. } => {
            if let Some(b) = crate::framelog::FrameBatch::of_write(w) {
                frame_batch(c, &b)?;
            }
        }
        Write::PutIdToken(r) => {
            c.prepare_cached(sql::PUT_ID_TOKEN.sqlite)?
                .execute(params![
                    token_key(&r.id_token),
                    r.kind,
                    r.id_token,
                    r.status.as_str(),
                    r.group_id_token,
                    r.expiry_date.as_ref().map(ts),
                    r.concurrent_use
                ])?;
        }
        Write::PutVariables {
            station_id,
            variables,
            at,
        } => {
            let mut stmt = c.prepare_cached(sql::PUT_VARIABLE.sqlite)?;
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
            c.prepare_cached(sql::PUT_RECORD.sqlite)?.execute(params![
                r.kind.as_str(),
                r.id,
                r.station_id,
                r.tag,
                r.status,
                ts(&r.at),
                r.body
            ])?;
        }
        Write::PutChargingProfile {
            station_id,
            installed,
            source,
            at,
        } => {
            let p = &installed.profile;
            let evse = i64::from(installed.evse_id);
            c.prepare_cached(sql::REPLACED_CHARGING_PROFILES.sqlite)?
                .execute(params![
                    station_id,
                    p.id,
                    evse,
                    p.purpose.as_str(),
                    i64::from(p.stack_level)
                ])?;
            c.prepare_cached(sql::PUT_CHARGING_PROFILE.sqlite)?
                .execute(params![
                    station_id,
                    p.id,
                    evse,
                    p.purpose.as_str(),
                    i64::from(p.stack_level),
                    p.transaction_id,
                    source,
                    rows::json(p),
                    ts(at)
                ])?;
        }
        Write::ClearChargingProfiles {
            station_id,
            criteria: k,
        } => {
            c.prepare_cached(sql::CLEAR_CHARGING_PROFILES.sqlite)?
                .execute(params![
                    station_id,
                    k.id,
                    k.evse_id.map(i64::from),
                    k.purpose.map(|p| p.as_str()),
                    k.stack_level.map(i64::from)
                ])?;
        }
        Write::PutApiToken(t) => {
            c.prepare_cached(sql::PUT_API_TOKEN.sqlite)?
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
