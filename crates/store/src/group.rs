//! Group commit: the queue between callers and a backend's single writer.

use arus_domain::store::{StoreError, Write};
use tokio::sync::{mpsc, oneshot};

/// The most jobs one commit takes; more wait for the next.
pub(crate) const MAX_GROUP: usize = 4096;

/// Jobs waiting for the writer, at most; callers of `commit` wait for room (backpressure),
/// appends beyond it are dropped and counted.
pub(crate) const QUEUE: usize = 65_536;

/// Writes of one caller, and where to tell it they are durable (`None` for appends).
pub(crate) struct Job {
    pub writes: Vec<Write>,
    pub done: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// The callers' side of the queue.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Job>,
}

impl Queue {
    pub fn new() -> (Queue, mpsc::Receiver<Job>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Queue { tx }, rx)
    }

    /// Queues writes and waits until they are durable.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                writes,
                done: Some(done),
            })
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// Queues writes without waiting; drops them (counted) if the queue is full.
    pub fn append(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        if self.tx.try_send(Job { writes, done: None }).is_err() {
            arus_telemetry::metrics().frame_log_dropped.inc();
        }
    }
}

/// Takes the next group: waits for one job, then takes every job already waiting.
pub(crate) fn take_group(first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut jobs = vec![first];
    while jobs.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    jobs
}

/// Answers every job of a group with the same result.
pub(crate) fn answer_all(jobs: Vec<Job>, result: &Result<(), StoreError>) {
    for job in jobs {
        if let Some(done) = job.done {
            let _ = done.send(result.clone());
        }
    }
}

/// Records a commit's size and duration.
pub(crate) fn observe(jobs: &[Job], seconds: f64) {
    let m = arus_telemetry::metrics();
    m.commit_seconds.observe(seconds);
    m.commit_batch
        .observe(jobs.iter().map(|j| j.writes.len()).sum::<usize>() as f64);
}
