//! The PostgreSQL writer's side: the task that owns the write connection and commits groups
//! of jobs, pipelining every statement of a group inside one transaction, and the statements
//! each write becomes.
//!
//! # Invariants
//!
//! - Only the writer task writes; a group is one transaction, committed before any of its jobs
//!   is answered.
//! - A failing group is retried job by job, so one bad write fails alone.
//! - When the connection is lost the writer reconnects with backoff; meanwhile every job is
//!   refused at once, so nothing is acknowledged that was not committed.

use super::*;

/// A connection of the writer, and what says it has closed.
pub(super) struct WriterConnection {
    pub(super) client: Client,
    closed: oneshot::Receiver<()>,
}

pub(super) async fn connect(
    target: &tls::Target,
) -> Result<WriterConnection, tokio_postgres::Error> {
    let (client, conn) = target.config.connect(target.tls.clone()).await?;
    let (tell, closed) = oneshot::channel();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::error!(error = %e, "postgres connection ended");
        }
        let _ = tell.send(());
    });
    // Durability is the database's: refuse to run with commits that may be lost.
    client.batch_execute("SET synchronous_commit = on").await?;
    Ok(WriterConnection { client, closed })
}

/// How long the writer waits for a connection before it tries again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's first and longest pause between attempts to reconnect.
const RECONNECT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(2));

/// A statement with its parameters, owned so that a whole group can be pipelined.
struct Op<'a> {
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    /// A transaction's conditional upsert: what to merge if it changed no row.
    merge: Option<Merge<'a>>,
}

/// A transaction write to merge into the stored row when that row moved on.
struct Merge<'a> {
    tx: &'a Transaction,
    csms_number: Option<i64>,
    at: Time,
}

fn op<'a>(sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Op<'a> {
    Op {
        sql,
        params,
        merge: None,
    }
}

pub(super) fn int(n: u32) -> i64 {
    n as i64
}

fn ops<'a>(w: &'a Write, out: &mut Vec<Op<'a>>) {
    match w {
        Write::PutStation {
            id,
            password_hash,
            boot_policy,
            self_registered,
            at,
        } => out.push(op(
            sql::PUT_STATION.postgres,
            vec![
                Box::new(id.clone()),
                Box::new(password_hash.clone()),
                Box::new(boot_policy.as_str()),
                Box::new(*at),
                Box::new(*self_registered),
            ],
        )),
        Write::StationConnected { id, protocol, at } => out.push(op(
            sql::STATION_CONNECTED.postgres,
            vec![
                Box::new(id.clone()),
                Box::new(protocol.clone()),
                Box::new(*at),
            ],
        )),
        Write::StationElectrical { id, electrical: e } => out.push(op(
            sql::STATION_ELECTRICAL.postgres,
            vec![
                Box::new(id.clone()),
                Box::new(e.max_current_a),
                Box::new(e.max_power_w),
                Box::new(e.voltage_v),
            ],
        )),
        Write::StationSeen { id, at } => out.push(op(
            sql::STATION_SEEN.postgres,
            vec![Box::new(id.clone()), Box::new(*at)],
        )),
        Write::Boot {
            id,
            info,
            registration,
            at,
        } => out.push(op(
            sql::BOOT.postgres,
            vec![
                Box::new(id.clone()),
                Box::new(registration.as_str()),
                Box::new(rows::json(info)),
                Box::new(*at),
            ],
        )),
        Write::ConnectorStatus { station_id, report } => out.push(op(
            sql::CONNECTOR_STATUS.postgres,
            vec![
                Box::new(station_id.clone()),
                Box::new(int(report.evse_id)),
                Box::new(int(report.connector_id)),
                Box::new(report.status.as_str()),
                Box::new(report.error_code.clone()),
                Box::new(report.info.clone()),
                Box::new(report.vendor_id.clone()),
                Box::new(report.vendor_error_code.clone()),
                Box::new(report.timestamp),
            ],
        )),
        Write::PutTransaction {
            tx,
            csms_number,
            orphan,
            based_on,
            at,
        } => {
            let row = TransactionRow::of(tx, csms_number.is_some(), *orphan);
            let mut params = transaction_params(row, *csms_number, &tx.fold);
            params.extend([
                Box::new(*at) as Box<dyn ToSql + Sync + Send>,
                Box::new(*orphan),
                Box::new(*based_on),
            ]);
            out.push(Op {
                sql: sql::PUT_TRANSACTION.postgres,
                params,
                merge: Some(Merge {
                    tx,
                    csms_number: *csms_number,
                    at: *at,
                }),
            });
        }
        Write::TransactionEvent {
            station_id,
            event,
            received_at,
        } => out.push(op(
            sql::TRANSACTION_EVENT.postgres,
            vec![
                Box::new(station_id.clone()),
                Box::new(event.transaction_id.clone()),
                Box::new(event.seq_no.map(int)),
                Box::new(event.kind.as_str()),
                Box::new(event.timestamp),
                Box::new(event.trigger.clone()),
                Box::new(event.offline),
                Box::new(rows::json(event)),
                Box::new(*received_at),
            ],
        )),
        Write::MeterValues {
            station_id,
            evse_id,
            transaction_id,
            values,
            received_at,
        } => {
            for mv in values {
                let samples = rows::samples(mv);
                let digest = rows::samples_digest(&samples);
                out.push(op(
                    sql::METER_VALUE.postgres,
                    vec![
                        Box::new(station_id.clone()),
                        Box::new(int(*evse_id)),
                        Box::new(transaction_id.clone()),
                        Box::new(mv.timestamp),
                        Box::new(samples),
                        Box::new(*received_at),
                        Box::new(digest),
                    ],
                ));
            }
        }
        Write::Notice {
            station_id,
            notice,
            received_at,
        } => out.push(op(
            sql::NOTICE.postgres,
            vec![
                Box::new(station_id.clone()),
                Box::new(notice.kind.as_str()),
                Box::new(notice.at),
                Box::new(notice.request_id),
                Box::new(notice.status.clone()),
                Box::new(rows::json(&notice.details)),
                Box::new(*received_at),
            ],
        )),
        Write::Frame { .. } => {
            if let Some(b) = crate::framelog::FrameBatch::of_write(w) {
                out.push(frame_batch(&b));
            }
        }
        Write::PutIdToken(r) => out.push(op(
            sql::PUT_ID_TOKEN.postgres,
            vec![
                Box::new(token_key(&r.id_token)),
                Box::new(r.kind.clone()),
                Box::new(r.id_token.clone()),
                Box::new(r.status.as_str()),
                Box::new(r.group_id_token.clone()),
                Box::new(r.expiry_date),
                Box::new(r.concurrent_use),
            ],
        )),
        Write::PutVariables {
            station_id,
            variables,
            at,
        } => {
            for v in variables {
                out.push(op(
                    sql::PUT_VARIABLE.postgres,
                    vec![
                        Box::new(station_id.clone()),
                        Box::new(v.component.clone()),
                        Box::new(v.component_instance.clone().unwrap_or_default()),
                        Box::new(v.evse_id.map_or(-1, i64::from)),
                        Box::new(v.connector_id.map_or(-1, i64::from)),
                        Box::new(v.variable.clone()),
                        Box::new(v.variable_instance.clone().unwrap_or_default()),
                        Box::new(v.attribute.clone()),
                        Box::new(v.value.clone()),
                        Box::new(v.mutability.clone()),
                        Box::new(
                            (!v.characteristics.is_null()).then(|| v.characteristics.to_string()),
                        ),
                        Box::new(*at),
                    ],
                ));
            }
        }
        Write::PutRecord(r) => out.push(op(
            sql::PUT_RECORD.postgres,
            vec![
                Box::new(r.kind.as_str()),
                Box::new(r.id.clone()),
                Box::new(r.station_id.clone()),
                Box::new(r.tag.clone()),
                Box::new(r.status.clone()),
                Box::new(r.at),
                Box::new(r.body.clone()),
            ],
        )),
        Write::PutChargingProfile {
            station_id,
            installed,
            source,
            at,
        } => {
            let p = &installed.profile;
            let evse = i64::from(installed.evse_id);
            out.push(op(
                sql::REPLACED_CHARGING_PROFILES.postgres,
                vec![
                    Box::new(station_id.clone()),
                    Box::new(p.id),
                    Box::new(evse),
                    Box::new(p.purpose.as_str()),
                    Box::new(i64::from(p.stack_level)),
                ],
            ));
            out.push(op(
                sql::PUT_CHARGING_PROFILE.postgres,
                vec![
                    Box::new(station_id.clone()),
                    Box::new(p.id),
                    Box::new(evse),
                    Box::new(p.purpose.as_str()),
                    Box::new(i64::from(p.stack_level)),
                    Box::new(p.transaction_id.clone()),
                    Box::new(source.clone()),
                    Box::new(rows::json(p)),
                    Box::new(*at),
                ],
            ));
        }
        Write::ClearChargingProfiles {
            station_id,
            criteria: k,
        } => out.push(op(
            sql::CLEAR_CHARGING_PROFILES.postgres,
            vec![
                Box::new(station_id.clone()),
                Box::new(k.id),
                Box::new(k.evse_id.map(i64::from)),
                Box::new(k.purpose.map(|p| p.as_str())),
                Box::new(k.stack_level.map(i64::from)),
            ],
        )),
        Write::PutApiToken(t) => out.push(op(
            sql::PUT_API_TOKEN.postgres,
            vec![
                Box::new(t.hash.clone()),
                Box::new(t.name.clone()),
                Box::new(t.role.as_str()),
                Box::new(t.created_at),
                Box::new(t.revoked_at),
            ],
        )),
    }
}

fn frame_batch<'a>(b: &crate::framelog::FrameBatch) -> Op<'a> {
    op(
        sql::FRAME_BATCH.postgres,
        vec![
            Box::new(b.station_id.clone()),
            Box::new(b.first_at),
            Box::new(b.last_at),
            Box::new(b.count as i64),
            Box::new(b.text.clone()),
        ],
    )
}

/// Statements prepared on the writer connection, by their text.
#[derive(Default)]
struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    async fn get(
        &mut self,
        client: &Client,
        sql: &'static str,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql).await?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

/// The first 14 parameters of [`sql::PUT_TRANSACTION`] and [`sql::MERGE_TRANSACTION`].
fn transaction_params(
    row: TransactionRow,
    csms_number: Option<i64>,
    fold: &arus_domain::transactions::Fold,
) -> Vec<Box<dyn ToSql + Sync + Send>> {
    vec![
        Box::new(row.station_id),
        Box::new(row.transaction_id),
        Box::new(csms_number),
        Box::new(row.evse_id.map(int)),
        Box::new(row.connector_id.map(int)),
        Box::new(row.id_token),
        Box::new(row.started_at),
        Box::new(row.stopped_at),
        Box::new(row.meter_start_wh),
        Box::new(row.meter_stop_wh),
        Box::new(row.energy_wh),
        Box::new(row.stop_reason),
        Box::new(row.charging_state),
        Box::new(rows::json(fold)),
    ]
}

/// A transaction write folded from an older revision than the stored one: the row becomes the
/// merge of both folds (inside the group's transaction).
async fn merge_transaction(
    client: &Client,
    prepared: &mut Prepared,
    m: &Merge<'_>,
) -> Result<(), tokio_postgres::Error> {
    let read = prepared.get(client, sql::TRANSACTION.postgres).await?;
    let (s, t) = (&m.tx.station_id, &m.tx.transaction_id);
    let Some(r) = client.query_opt(&read, &[s, t]).await? else {
        return Ok(());
    };
    let stored = super::stored_transaction(&r, s.clone(), t.clone());
    let (tx, row, revision) = rows::merged(stored, m.tx, m.csms_number);
    let mut params = transaction_params(row, m.csms_number, &tx.fold);
    params.extend([
        Box::new(revision) as Box<dyn ToSql + Sync + Send>,
        Box::new(m.at),
    ]);
    let update = prepared
        .get(client, sql::MERGE_TRANSACTION.postgres)
        .await?;
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client.execute(&update, &refs).await?;
    Ok(())
}

async fn apply_jobs(
    client: &Client,
    prepared: &mut Prepared,
    jobs: &[&Job],
) -> Result<(), tokio_postgres::Error> {
    let mut all = Vec::new();
    for job in jobs {
        for w in &job.writes {
            ops(w, &mut all);
        }
        for b in &job.frames {
            all.push(frame_batch(b));
        }
    }
    let mut statements = Vec::with_capacity(all.len());
    for o in &all {
        statements.push(prepared.get(client, o.sql).await?);
    }
    client.batch_execute("BEGIN").await?;
    let pipelined = try_join_all(all.iter().zip(&statements).map(|(o, stmt)| {
        let params: Vec<&(dyn ToSql + Sync)> = o
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        async move { client.execute(stmt, &params).await }
    }))
    .await;
    let merged = async {
        // Transaction upserts that changed no row were folded from an older revision.
        for (o, written) in all.iter().zip(pipelined?) {
            if let (Some(m), 0) = (&o.merge, written) {
                merge_transaction(client, prepared, m).await?;
            }
        }
        Ok(())
    };
    match merged.await {
        Ok(()) => client.batch_execute("COMMIT").await,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Commits groups of jobs on its own connection. When the connection is lost (the database
/// restarted, the network failed) the jobs of the group in flight are answered with the
/// error, and the writer reconnects with backoff; meanwhile every job is refused at once
/// (nothing is acknowledged that is not committed), and the store reports the problem.
pub(super) async fn writer_loop(
    target: tls::Target,
    first: WriterConnection,
    mut rx: mpsc::Receiver<Job>,
    health: Arc<WriteHealth>,
) {
    let mut conn = Some(first);
    let mut prepared = Prepared::default();
    loop {
        let Some(WriterConnection { client, closed }) = conn.as_mut() else {
            match reconnect(&target, &mut rx, &health).await {
                Some(c) => {
                    conn = Some(c);
                    prepared = Prepared::default();
                    continue;
                }
                None => return,
            }
        };
        let first = tokio::select! {
            biased;
            job = rx.recv() => match job {
                Some(job) => Some(job),
                None => return,
            },
            _ = &mut *closed => None,
        };
        let lost = match first {
            Some(first) => {
                commit_group(client, &mut prepared, first, &mut rx, &health).await;
                client.is_closed()
            }
            None => true,
        };
        if lost {
            health.failing("the connection to PostgreSQL was lost".into());
            conn = None;
        }
    }
}

/// Commits the group that starts with `first`; a failed group is retried job by job, so that
/// one refused write fails alone.
async fn commit_group(
    client: &Client,
    prepared: &mut Prepared,
    first: Job,
    rx: &mut mpsc::Receiver<Job>,
    health: &WriteHealth,
) {
    let jobs = group::take_group(first, rx);
    let started = Instant::now();
    let refs: Vec<&Job> = jobs.iter().collect();
    match apply_jobs(client, prepared, &refs).await {
        Ok(()) => {
            health.recovered();
            group::observe(&jobs, started.elapsed().as_secs_f64());
            group::answer_all(jobs, &Ok(()));
        }
        Err(e) if client.is_closed() => {
            // One error, shared by every caller of the group.
            let e = unavailable(e);
            tracing::error!(error = %e, "postgres writer connection lost");
            arus_telemetry::metrics().error("store");
            group::answer_all(jobs, &Err(e));
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; retrying job by job");
            arus_telemetry::metrics().error("store");
            for job in jobs {
                let result = apply_jobs(client, prepared, &[&job]).await.map_err(|e| {
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
}

/// Connects again, with growing pauses between attempts, refusing every job that arrives
/// meanwhile. `None` when the store is gone (the queue closed).
async fn reconnect(
    target: &tls::Target,
    rx: &mut mpsc::Receiver<Job>,
    health: &WriteHealth,
) -> Option<WriterConnection> {
    let mut pause = RECONNECT_BACKOFF.0;
    loop {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(target));
        tokio::pin!(attempt);
        let result = loop {
            tokio::select! {
                r = &mut attempt => break r,
                job = rx.recv() => refuse_or_end(job, health)?,
            }
        };
        match result {
            Ok(Ok(c)) => {
                tracing::info!("postgres writer reconnected");
                arus_telemetry::metrics().store_reconnects.inc();
                health.recovered();
                return Some(c);
            }
            Ok(Err(e)) => health.failing(format!("cannot reach PostgreSQL: {}", chain(&e))),
            Err(_) => health.failing("cannot reach PostgreSQL: connecting timed out".into()),
        }
        let wait = tokio::time::sleep(pause);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                job = rx.recv() => refuse_or_end(job, health)?,
            }
        }
        pause = (pause * 2).min(RECONNECT_BACKOFF.1);
    }
}

/// An error and its causes, `error: cause: cause`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Refuses a job that came while the writer has no connection; `None` once the queue closed.
fn refuse_or_end(job: Option<Job>, health: &WriteHealth) -> Option<()> {
    let reason = health
        .problem()
        .unwrap_or_else(|| "the connection to PostgreSQL was lost".into());
    group::refuse(job?, &reason);
    Some(())
}
