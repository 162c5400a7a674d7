//! The service that carries out commands: it records each one, sends it through the
//! [`StationLink`], records the answer, publishes the change, and keeps commands for stations
//! that are offline until they connect or the command expires.
//!
//! # Invariants
//!
//! - A record is committed before its command leaves, and its final status is committed before
//!   anyone waiting is told: what the API returns is what the store holds.
//! - Commands to one station leave in the order they were submitted, one at a time (a worker
//!   task per station with commands in hand; the gateway adds one outstanding CALL at a time).
//! - A queued command is sent at most once: it is claimed before it is handed to the worker,
//!   however many connection events and sweeps find it.
//! - With an idempotency key, a retried submission returns the first one's record instead of
//!   sending again (submissions with keys are serialised, so two at once cannot both send).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::Time;
use crate::commands::{Command, CommandRecord, CommandStatus, Outcome, SendError};
use crate::events::{Event, EventBus};
use crate::link::StationLink;
use crate::store::{RecordKind, RecordQuery, Store, StoreError, StoredRecord, Write};

/// How often queued commands are looked at (for expiry, and for stations whose connection
/// event was missed).
const SWEEP: Duration = Duration::from_secs(15);

/// A request to carry out a command.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The station.
    pub station_id: String,
    /// The command.
    pub command: Command,
    /// Who asks (an API token's name).
    pub requested_by: String,
    /// The caller's idempotency key, already scoped to the caller.
    pub idempotency_key: Option<String>,
    /// Queue the command until this time if the station is not connected.
    pub queue_until: Option<Time>,
    /// The bulk operation it belongs to.
    pub bulk_id: Option<String>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The command is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The station is not registered.
    #[error("no station {0}")]
    UnknownStation(String),
    /// The idempotency key was used for another request.
    #[error("the Idempotency-Key was used for another request (command {0})")]
    KeyReused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The record of a submission, and a way to wait for its end if it is under way.
pub struct Submitted {
    /// The record as committed.
    pub record: CommandRecord,
    /// Resolves with the final record (absent when the record is already final, or queued).
    pub done: Option<oneshot::Receiver<CommandRecord>>,
    /// Whether this is the record of an earlier submission with the same idempotency key.
    pub replayed: bool,
}

struct Job {
    record: CommandRecord,
}

/// The command service.
pub struct Commander {
    store: Arc<dyn Store>,
    link: Arc<dyn StationLink>,
    events: EventBus,
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<CommandRecord>>>>,
    claimed: Mutex<HashSet<String>>,
    /// The commands of queued records whose secret values the store does not hold, by record
    /// id: kept here until they are sent.
    secrets: Mutex<HashMap<String, Command>>,
    keyed: tokio::sync::Mutex<()>,
    next_request_id: AtomicI64,
    next_id: AtomicU64,
}

impl Commander {
    /// The service. Request ids start from the clock so that ids of earlier runs are not
    /// reused soon; they stay within 32 bits for stations that keep them in an `int`.
    pub fn new(store: Arc<dyn Store>, link: Arc<dyn StationLink>, events: EventBus) -> Arc<Self> {
        let now = Utc::now();
        let seed = (now.timestamp() - 1_700_000_000).clamp(1, 1 << 30);
        Arc::new(Commander {
            store,
            link,
            events,
            workers: Mutex::default(),
            waiters: Mutex::default(),
            claimed: Mutex::default(),
            secrets: Mutex::default(),
            keyed: tokio::sync::Mutex::new(()),
            next_request_id: AtomicI64::new(seed),
            next_id: AtomicU64::new(now.timestamp_subsec_nanos().into()),
        })
    }

    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) & 0xffff;
        format!("{:011x}{n:04x}", Utc::now().timestamp_millis())
    }

    /// Records a command and sends it (or queues it, or records that it could not be sent).
    pub async fn submit(self: &Arc<Self>, mut s: Submission) -> Result<Submitted, SubmitError> {
        s.command.check().map_err(SubmitError::Invalid)?;
        crate::smart_charging::prepare(self.store.as_ref(), &s.station_id, &mut s.command)
            .await
            .map_err(SubmitError::Invalid)?;
        if let Some(q) = s.queue_until
            && q <= Utc::now()
        {
            return Err(SubmitError::Invalid("`queueUntil` is in the past".into()));
        }
        let _keyed = match &s.idempotency_key {
            Some(key) => {
                let guard = self.keyed.lock().await;
                if let Some(earlier) = self.by_key(key).await? {
                    if earlier.station_id != s.station_id
                        || earlier.request_hash != Some(request_hash(&s.command))
                    {
                        return Err(SubmitError::KeyReused(earlier.id));
                    }
                    // Only a command under way has an end to wait for (a queued one may wait
                    // for days).
                    let done =
                        (earlier.status == CommandStatus::Pending).then(|| self.watch(&earlier.id));
                    // The record may have moved on while the watch was set up; then no one
                    // will answer the watch, and it is dropped.
                    let record = self.get(&earlier.id).await?.unwrap_or(earlier);
                    if done.is_some() && record.status != CommandStatus::Pending {
                        self.settle(&record);
                    }
                    return Ok(Submitted {
                        done: done.filter(|_| record.status == CommandStatus::Pending),
                        record,
                        replayed: true,
                    });
                }
                Some(guard)
            }
            None => None,
        };
        if self.store.station(&s.station_id).await?.is_none() {
            return Err(SubmitError::UnknownStation(s.station_id));
        }
        let hash = s.idempotency_key.as_ref().map(|_| request_hash(&s.command));
        let mut command = s.command;
        command.complete(|| self.next_request_id.fetch_add(1, Ordering::Relaxed));
        let connected = self.link.connection(&s.station_id).is_some();
        let now = Utc::now();
        let mut record = CommandRecord {
            id: self.new_id(),
            station_id: s.station_id,
            command,
            status: CommandStatus::Pending,
            outcome: None,
            error: None,
            requested_by: s.requested_by,
            idempotency_key: s.idempotency_key,
            request_hash: hash,
            bulk_id: s.bulk_id,
            created_at: now,
            expires_at: s.queue_until,
            sent_at: None,
            finished_at: None,
            secrets_withheld: false,
        };
        if !connected {
            if s.queue_until.is_some() {
                record.status = CommandStatus::Queued;
            } else {
                record.status = CommandStatus::NotDelivered;
                record.error = Some(SendError::NotConnected.to_string());
                record.finished_at = Some(now);
            }
            self.save(&record).await?;
            self.publish(&record);
            return Ok(Submitted {
                record,
                done: None,
                replayed: false,
            });
        }
        self.save(&record).await?;
        self.publish(&record);
        let done = self.watch(&record.id);
        self.dispatch(record.clone());
        Ok(Submitted {
            record,
            done: Some(done),
            replayed: false,
        })
    }

    /// A command's record.
    pub async fn get(&self, id: &str) -> Result<Option<CommandRecord>, StoreError> {
        match self.store.record(RecordKind::Command, id).await? {
            Some(r) => Ok(decode(&r)),
            None => Ok(None),
        }
    }

    /// Waits for a command to reach its final status, for at most `limit`; returns the record
    /// as it is then.
    pub async fn wait(
        &self,
        id: &str,
        limit: Duration,
    ) -> Result<Option<CommandRecord>, StoreError> {
        let rx = self.watch(id);
        match self.get(id).await? {
            Some(r) if r.status.is_final() => Ok(Some(r)),
            Some(r) => match tokio::time::timeout(limit, rx).await {
                Ok(Ok(done)) => Ok(Some(done)),
                _ => Ok(Some(self.get(id).await?.unwrap_or(r))),
            },
            None => Ok(None),
        }
    }

    async fn by_key(&self, key: &str) -> Result<Option<CommandRecord>, StoreError> {
        let mut q = RecordQuery::of(RecordKind::Command, 1);
        q.tag = Some(key.to_string());
        Ok(self.store.records(q).await?.first().and_then(decode))
    }

    fn watch(&self, id: &str) -> oneshot::Receiver<CommandRecord> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.entry(id.to_string()).or_default().push(tx);
        }
        rx
    }

    async fn save(&self, r: &CommandRecord) -> Result<(), StoreError> {
        self.save_with(r, &[]).await
    }

    async fn save_with(
        &self,
        r: &CommandRecord,
        variables: &[crate::device_model::DeviceVariable],
    ) -> Result<(), StoreError> {
        // Secret values are never stored: the record keeps the command redacted.
        let redacted = r.command.redacted();
        let body = if redacted == r.command {
            serde_json::to_string(r)
        } else {
            let mut shown = r.clone();
            shown.command = redacted;
            shown.secrets_withheld = true;
            if shown.status == CommandStatus::Queued {
                self.keep_secrets(&r.id, &r.command);
            }
            serde_json::to_string(&shown)
        }
        .map_err(StoreError::conflict)?;
        let mut writes = Vec::with_capacity(3);
        if let Some(o) = &r.outcome {
            writes.extend(crate::smart_charging::effects(
                &r.station_id,
                &r.command,
                o,
                r.finished_at.unwrap_or_else(Utc::now),
            ));
        }
        if !variables.is_empty() {
            writes.push(Write::PutVariables {
                station_id: r.station_id.clone(),
                variables: variables.to_vec(),
                at: r.finished_at.unwrap_or_else(Utc::now),
            });
        }
        writes.push(Write::PutRecord(Box::new(StoredRecord {
            kind: RecordKind::Command,
            id: r.id.clone(),
            seq: 0,
            station_id: Some(r.station_id.clone()),
            tag: r
                .idempotency_key
                .clone()
                .or_else(|| r.bulk_id.as_deref().map(bulk_tag)),
            status: Some(r.status.as_str().to_string()),
            at: r.created_at,
            body,
        })));
        self.store.commit(writes).await
    }

    /// Keeps a queued command's secret values until it is sent.
    fn keep_secrets(&self, id: &str, command: &Command) {
        if let Ok(mut m) = self.secrets.lock() {
            m.insert(id.to_string(), command.clone());
        }
    }

    /// The command of a record read back from the store, with its secret values if they were
    /// withheld; `None` when they were and are no longer known (Arus restarted meanwhile).
    fn with_secrets(&self, r: &CommandRecord) -> Option<Command> {
        if !r.secrets_withheld {
            return Some(r.command.clone());
        }
        self.secrets.lock().ok()?.remove(&r.id)
    }

    fn publish(&self, r: &CommandRecord) {
        self.events.publish(|| Event::Command {
            station_id: r.station_id.clone(),
            command_id: r.id.clone(),
            command: r.command.name().to_string(),
            status: r.status.as_str().to_string(),
            outcome: r
                .outcome
                .as_ref()
                .and_then(Outcome::status)
                .map(str::to_string),
        });
    }

    /// Hands a pending command to its station's worker, starting one if there is none.
    fn dispatch(self: &Arc<Self>, record: CommandRecord) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        let station = record.station_id.clone();
        let job = Job { record };
        let job = match workers.get(&station) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(job);
        workers.insert(station.clone(), tx);
        tokio::spawn(self.clone().work(station, rx));
    }

    /// A station's worker: sends its commands one after the other; ends when idle.
    async fn work(self: Arc<Self>, station: String, mut rx: mpsc::UnboundedReceiver<Job>) {
        loop {
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(_) => {
                    // Nothing waits: leave, unless a job arrived while the map was locked.
                    let Ok(mut workers) = self.workers.lock() else {
                        return;
                    };
                    match rx.try_recv() {
                        Ok(job) => job,
                        Err(_) => {
                            workers.remove(&station);
                            return;
                        }
                    }
                }
            };
            self.run(job.record).await;
        }
    }

    async fn run(&self, mut record: CommandRecord) {
        record.status = CommandStatus::Pending;
        record.sent_at = Some(Utc::now());
        let result = self.link.send(&record.station_id, &record.command).await;
        let now = Utc::now();
        match result {
            Ok(outcome) => {
                record.status = CommandStatus::Answered;
                record.outcome = Some(outcome.redacted());
                record.finished_at = Some(now);
            }
            // A queued command whose station left again waits for the next connection.
            Err(SendError::NotConnected) if record.expires_at.is_some_and(|e| e > now) => {
                record.status = CommandStatus::Queued;
                record.sent_at = None;
            }
            Err(e) => {
                tracing::info!(station = %record.station_id, command = record.command.name(), error = %e, "command not carried out");
                if matches!(
                    e,
                    SendError::NotConnected
                        | SendError::Unsupported(_)
                        | SendError::Invalid(_)
                        | SendError::InvalidRequest(_)
                ) {
                    record.sent_at = None;
                }
                record.status = e.status();
                record.error = Some(e.explained());
                record.finished_at = Some(now);
            }
        }
        // What the answer confirms of the device model is kept with the record.
        let variables = record
            .outcome
            .as_ref()
            .map(|o| crate::device_model::from_outcome(&record.command, o))
            .unwrap_or_default();
        // The answer is in hand; a failing store is retried so the record is not left pending.
        let mut tries = 0;
        while let Err(e) = self.save_with(&record, &variables).await {
            tries += 1;
            tracing::warn!(error = %e, command = %record.id, "recording a command's outcome failed");
            if tries >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
        self.unclaim(&record.id);
        self.publish(&record);
        // Final, or queued again: either way nothing more happens now, so waiters are told.
        self.settle(&record);
    }

    /// Tells (and forgets) whoever waits for a record: it ended, or went back to the queue.
    fn settle(&self, record: &CommandRecord) {
        let waiters = self
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&record.id));
        for w in waiters.into_iter().flatten() {
            let _ = w.send(record.clone());
        }
    }

    /// Sends the station's queued commands (it has just connected), and expires those whose
    /// time has passed.
    pub async fn release(self: &Arc<Self>, station_id: &str) -> Result<(), StoreError> {
        let mut q = RecordQuery::of(RecordKind::Command, 1000);
        q.station_id = Some(station_id.to_string());
        q.status = Some(CommandStatus::Queued.as_str().to_string());
        q.oldest_first = true;
        let queued: Vec<CommandRecord> = self
            .store
            .records(q)
            .await?
            .iter()
            .filter_map(decode)
            .collect();
        self.release_records(queued).await
    }

    async fn release_records(
        self: &Arc<Self>,
        queued: Vec<CommandRecord>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        for mut r in queued {
            if !self.claim(&r.id) {
                continue;
            }
            if r.expires_at.is_none_or(|e| e <= now) {
                if let Ok(mut m) = self.secrets.lock() {
                    m.remove(&r.id);
                }
                self.end_unsent(
                    r,
                    CommandStatus::Expired,
                    "the station did not connect before the command expired",
                )
                .await?;
                continue;
            }
            if self.link.connection(&r.station_id).is_none() {
                self.unclaim(&r.id);
                continue;
            }
            let Some(command) = self.with_secrets(&r) else {
                self.end_unsent(
                    r,
                    CommandStatus::NotDelivered,
                    "its secret values are not stored, and Arus restarted before it could be sent: submit it again",
                )
                .await?;
                continue;
            };
            r.command = command;
            r.status = CommandStatus::Pending;
            if let Err(e) = self.save(&r).await {
                // Still queued in the store: the next connection or sweep takes it.
                self.unclaim(&r.id);
                return Err(e);
            }
            self.publish(&r);
            self.dispatch(r);
        }
        Ok(())
    }

    /// Ends a claimed queued command that will not be sent, recording why.
    async fn end_unsent(
        &self,
        mut r: CommandRecord,
        status: CommandStatus,
        why: &str,
    ) -> Result<(), StoreError> {
        r.status = status;
        r.error = Some(why.into());
        r.finished_at = Some(Utc::now());
        let saved = self.save(&r).await;
        self.unclaim(&r.id);
        saved?;
        self.publish(&r);
        self.settle(&r);
        Ok(())
    }

    fn unclaim(&self, id: &str) {
        if let Ok(mut c) = self.claimed.lock() {
            c.remove(id);
        }
    }

    fn claim(&self, id: &str) -> bool {
        self.claimed
            .lock()
            .map(|mut c| c.insert(id.to_string()))
            .unwrap_or(false)
    }

    /// Runs the service's background work: releases queued commands when their station
    /// connects or boots, and sweeps for expired ones.
    pub async fn run_background(self: Arc<Self>) {
        let mut events = self.events.subscribe_presence();
        let mut sweep = tokio::time::interval(SWEEP);
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Ok(s) => {
                        if let Event::StationConnected { station_id, .. } | Event::Boot { station_id, .. } = &s.event
                            && let Err(e) = self.release(station_id).await
                        {
                            tracing::warn!(error = %e, "releasing queued commands failed");
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.sweep().await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = sweep.tick() => self.sweep().await,
            }
        }
    }

    async fn sweep(self: &Arc<Self>) {
        let mut q = RecordQuery::of(RecordKind::Command, 5000);
        q.status = Some(CommandStatus::Queued.as_str().to_string());
        q.oldest_first = true;
        match self.store.records(q).await {
            Ok(rows) => {
                let queued = rows.iter().filter_map(decode).collect();
                if let Err(e) = self.release_records(queued).await {
                    tracing::warn!(error = %e, "sweeping queued commands failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeping queued commands failed"),
        }
    }

    /// Closes, as not delivered, the commands a previous run left pending (it stopped before
    /// the answer came). Call before accepting commands.
    pub async fn recover(&self) {
        self.recover_bulk().await;
        let mut q = RecordQuery::of(RecordKind::Command, 10_000);
        q.status = Some(CommandStatus::Pending.as_str().to_string());
        let Ok(rows) = self.store.records(q).await else {
            return;
        };
        for mut r in rows.iter().filter_map(decode) {
            r.status = CommandStatus::NotDelivered;
            r.error = Some("the server stopped before the station answered".into());
            r.finished_at = Some(Utc::now());
            if let Err(e) = self.save(&r).await {
                tracing::warn!(error = %e, "closing an interrupted command failed");
            }
        }
    }
}

/// The tag under which the commands of a bulk operation are found.
pub fn bulk_tag(bulk_id: &str) -> String {
    format!("bulk:{bulk_id}")
}

/// A bulk operation: one command for many stations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkRecord {
    /// Its id.
    pub id: String,
    /// The command each station gets.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub command: Command,
    /// The stations.
    pub station_ids: Vec<String>,
    /// How many commands may be under way at once.
    pub concurrency: u32,
    /// How long a command waits for a station that is not connected, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_for_s: Option<i64>,
    /// `running`, `done`, or `interrupted` (the server stopped before every command was
    /// submitted).
    pub status: String,
    /// Commands submitted so far.
    pub submitted: u32,
    /// Who asked.
    pub requested_by: String,
    /// When it was asked for.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Time,
    /// When every command was submitted and had ended or was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<Time>,
}

impl Commander {
    /// Starts a bulk operation: the command goes to each station, at most `concurrency` at
    /// once, each leaving a command record tagged with the operation. Returns at once.
    pub async fn bulk(
        self: &Arc<Self>,
        station_ids: Vec<String>,
        command: Command,
        concurrency: u32,
        queue_for_s: Option<i64>,
        requested_by: String,
    ) -> Result<BulkRecord, SubmitError> {
        command.check().map_err(SubmitError::Invalid)?;
        let mut seen = HashSet::new();
        let station_ids: Vec<String> = station_ids
            .into_iter()
            .filter(|s| seen.insert(s.clone()))
            .collect();
        let record = BulkRecord {
            id: self.new_id(),
            command,
            station_ids,
            concurrency: concurrency.max(1),
            queue_for_s,
            status: "running".into(),
            submitted: 0,
            requested_by,
            created_at: Utc::now(),
            finished_at: None,
        };
        self.save_bulk(&record).await?;
        tokio::spawn(self.clone().run_bulk(record.clone()));
        Ok(record)
    }

    /// Records a command that was refused before it was sent (an unknown station in a bulk
    /// operation).
    async fn record_refusal(&self, s: Submission, error: String) {
        let now = Utc::now();
        let r = CommandRecord {
            id: self.new_id(),
            station_id: s.station_id,
            command: s.command,
            status: CommandStatus::NotDelivered,
            outcome: None,
            error: Some(error),
            requested_by: s.requested_by,
            idempotency_key: None,
            request_hash: None,
            bulk_id: s.bulk_id,
            created_at: now,
            expires_at: None,
            sent_at: None,
            finished_at: Some(now),
            secrets_withheld: false,
        };
        if let Err(e) = self.save(&r).await {
            tracing::warn!(error = %e, "recording a refused bulk command failed");
        }
    }

    /// Marks bulk operations a previous run left running as interrupted.
    async fn recover_bulk(&self) {
        let mut q = RecordQuery::of(RecordKind::Bulk, 10_000);
        q.status = Some("running".into());
        let Ok(rows) = self.store.records(q).await else {
            return;
        };
        for r in rows {
            if let Ok(mut b) = serde_json::from_str::<BulkRecord>(&r.body) {
                b.status = "interrupted".into();
                b.finished_at = Some(Utc::now());
                if let Err(e) = self.save_bulk(&b).await {
                    tracing::warn!(error = %e, "closing an interrupted bulk operation failed");
                }
            }
        }
    }

    async fn save_bulk(&self, r: &BulkRecord) -> Result<(), StoreError> {
        // Secret values are never stored (the run has the command in hand).
        let redacted = r.command.redacted();
        let body = if redacted == r.command {
            serde_json::to_string(r)
        } else {
            let mut shown = r.clone();
            shown.command = redacted;
            serde_json::to_string(&shown)
        }
        .map_err(StoreError::conflict)?;
        self.store
            .commit(vec![Write::PutRecord(Box::new(StoredRecord {
                kind: RecordKind::Bulk,
                id: r.id.clone(),
                seq: 0,
                station_id: None,
                tag: None,
                status: Some(r.status.clone()),
                at: r.created_at,
                body,
            }))])
            .await
    }

    async fn run_bulk(self: Arc<Self>, mut bulk: BulkRecord) {
        let permits = Arc::new(tokio::sync::Semaphore::new(bulk.concurrency as usize));
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_saved = std::time::Instant::now();
        for station in bulk.station_ids.clone() {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            let submission = Submission {
                station_id: station.clone(),
                command: bulk.command.clone(),
                requested_by: bulk.requested_by.clone(),
                idempotency_key: None,
                queue_until: bulk
                    .queue_for_s
                    .map(|s| Utc::now() + chrono::Duration::seconds(s)),
                bulk_id: Some(bulk.id.clone()),
            };
            tasks.spawn(async move {
                let _permit = permit;
                let failed = submission.clone();
                match me.submit(submission).await {
                    Ok(s) => {
                        if let Some(done) = s.done {
                            let _ = done.await;
                        }
                    }
                    // Every station gets a record, so the operation's results are complete.
                    Err(e) => me.record_refusal(failed, e.to_string()).await,
                }
            });
            bulk.submitted += 1;
            // Progress is in the commands' records; the count is saved now and then.
            if last_saved.elapsed() > Duration::from_secs(2) {
                last_saved = std::time::Instant::now();
                if let Err(e) = self.save_bulk(&bulk).await {
                    tracing::warn!(error = %e, "saving a bulk operation's progress failed");
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        bulk.status = "done".into();
        bulk.finished_at = Some(Utc::now());
        if let Err(e) = self.save_bulk(&bulk).await {
            tracing::warn!(error = %e, "saving a finished bulk operation failed");
        }
    }
}

/// A fingerprint of a command as submitted (before Arus fills in request ids), to recognise a
/// retried request: foldhash with fixed seeds, so a build gives the same fingerprint across
/// restarts.
fn request_hash(c: &Command) -> String {
    use std::hash::BuildHasher;
    let json = serde_json::to_string(c).unwrap_or_default();
    let h = foldhash::fast::FixedState::with_seed(0x6172_7573).hash_one(json.as_bytes());
    format!("{h:016x}")
}

/// The command record in a stored record; a body that does not parse is logged and skipped.
pub fn decode(r: &StoredRecord) -> Option<CommandRecord> {
    match serde_json::from_str(&r.body) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(id = %r.id, error = %e, "skipping an unreadable command record");
            None
        }
    }
}
