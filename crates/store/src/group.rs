//! Group commit: the queue between callers and a backend's single writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arus_domain::Time;
use arus_domain::store::{Direction, StoreError, Write};
use tokio::sync::{mpsc, oneshot};

use crate::framelog::{FrameBatch, FrameBuffer, Held, frame_of};

/// The most jobs one commit takes; more wait for the next.
pub(crate) const MAX_GROUP: usize = 4096;

/// The writer pauses for [`GATHER`] before committing only when busy (see [`Load`]) and while
/// fewer than this many jobs wait.
pub(crate) const GATHER_BELOW: usize = 256;

/// Jobs per second above which the writer counts as busy.
const BUSY_RATE: f64 = 5000.0;

/// The writer's recent rate of jobs, measured over windows of a tenth of a second.
pub(crate) struct Load {
    window: std::time::Instant,
    count: usize,
    busy: bool,
}

impl Default for Load {
    fn default() -> Load {
        Load {
            window: std::time::Instant::now(),
            count: 0,
            busy: false,
        }
    }
}

impl Load {
    /// Counts jobs taken; at the end of each window, decides whether the writer is busy.
    pub fn taken(&mut self, jobs: usize) {
        self.count += jobs;
        let elapsed = self.window.elapsed().as_secs_f64();
        if elapsed >= 0.1 {
            self.busy = self.count as f64 / elapsed >= BUSY_RATE;
            self.count = 0;
            self.window = std::time::Instant::now();
        }
    }

    /// Whether jobs arrive fast enough for gathering to pay.
    pub fn busy(&self) -> bool {
        self.busy
    }
}

/// The writer's gathering pause: short against a commit's own latency (measured with 1,000
/// stations: from 300 µs to 1 ms, commits fell from 1,300 to 590 a second).
pub(crate) const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// Jobs waiting for the writer, at most; callers of `commit` wait for room (backpressure),
/// appends beyond it are dropped and counted.
pub(crate) const QUEUE: usize = 65_536;

/// Writes of one caller, and where to tell it they are durable (`None` for appends); or rows
/// of the frame log.
pub(crate) struct Job {
    pub writes: Vec<Write>,
    pub frames: Vec<FrameBatch>,
    pub done: Option<oneshot::Sender<Result<(), StoreError>>>,
    /// The frames' bytes, pending until the job is dropped.
    pub _held: Option<Held>,
}

impl Job {
    /// How many rows the job writes, for the metrics.
    pub fn size(&self) -> usize {
        self.writes.len() + self.frames.len()
    }
}

/// Whether the writer can commit: the writer says, the store is asked (`/healthz`). Set
/// failing when a commit fails for want of the database (connection lost, disk full), and
/// recovered at the next commit that succeeds; `arus_store_writable` follows it.
#[derive(Default)]
pub(crate) struct WriteHealth {
    failing: AtomicBool,
    problem: Mutex<Option<String>>,
}

impl WriteHealth {
    /// Writes cannot commit, because of `reason`.
    pub fn failing(&self, reason: String) {
        if !self.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(reason = %reason, "store writes cannot commit");
            arus_telemetry::metrics().store_writable.set(0);
        }
        if let Ok(mut p) = self.problem.lock() {
            *p = Some(reason);
        }
    }

    /// Writes commit again (cheap when they never stopped).
    pub fn recovered(&self) {
        if self.failing.load(Ordering::Acquire) && self.failing.swap(false, Ordering::AcqRel) {
            tracing::info!("store writes commit again");
            arus_telemetry::metrics().store_writable.set(1);
            if let Ok(mut p) = self.problem.lock() {
                *p = None;
            }
        }
    }

    /// Why writes cannot commit, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.problem.lock().ok().and_then(|p| p.clone())
    }
}

/// Tells a job's caller that its writes were not committed, because of `reason`.
pub(crate) fn refuse(job: Job, reason: &str) {
    arus_telemetry::metrics().store_refused_writes.inc();
    if let Some(done) = job.done {
        let _ = done.send(Err(StoreError::unavailable_because(reason.to_string())));
    }
}

/// The callers' side of the queue.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Job>,
    frames: Arc<FrameBuffer>,
    /// What the writer says of its commits.
    pub health: Arc<WriteHealth>,
}

impl Queue {
    /// A queue, with the frame log's flusher running on the current runtime.
    pub fn new() -> (Queue, mpsc::Receiver<Job>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let frames = Arc::new(FrameBuffer::default());
        let sender = tx.clone();
        let buffer = frames.clone();
        tokio::spawn(frames.clone().flush_forever(move |batches| {
            let job = Job {
                writes: Vec::new(),
                _held: Some(buffer.hold(&batches)),
                frames: batches,
                done: None,
            };
            if sender.try_send(job).is_err() {
                arus_telemetry::metrics().frame_log_dropped.inc();
            }
        }));
        arus_telemetry::metrics().store_writable.set(1);
        (
            Queue {
                tx,
                frames,
                health: Arc::default(),
            },
            rx,
        )
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
                frames: Vec::new(),
                done: Some(done),
                _held: None,
            })
            .await
            .map_err(|_| StoreError::unavailable_because("the writer has stopped"))?;
        wait.await
            .map_err(|_| StoreError::unavailable_because("the writer has stopped"))?
    }

    /// Queues writes without waiting: frames go to the frame log's buffer, anything else
    /// into the queue (dropped, and counted, if it is full).
    pub fn append(&self, writes: Vec<Write>) {
        let mut rest = Vec::new();
        for w in writes {
            if let Some((station_id, direction, at, text)) = frame_of(&w) {
                self.frames.push(station_id, direction, at, text);
            } else {
                rest.push(w);
            }
        }
        if rest.is_empty() {
            return;
        }
        let job = Job {
            writes: rest,
            frames: Vec::new(),
            done: None,
            _held: None,
        };
        if self.tx.try_send(job).is_err() {
            arus_telemetry::metrics().frame_log_dropped.inc();
        }
    }

    /// Adds one frame to the frame log's buffer.
    pub fn log_frame(&self, station_id: &str, direction: Direction, at: Time, text: &str) {
        self.frames.push(station_id, direction, at, text);
    }
}

/// The [`Store`](arus_domain::store::Store) methods that only hand writes to a backend's
/// [`Queue`] (`commit`, `append`, `log_frame`), the same on every backend: used inside `impl
/// Store for …` of a type whose `queue` field is its [`Queue`].
macro_rules! queued_writes {
    () => {
        fn commit(
            &self,
            writes: Vec<arus_domain::store::Write>,
        ) -> arus_domain::store::BoxFut<'_, Result<(), arus_domain::store::StoreError>> {
            Box::pin(self.queue.commit(writes))
        }

        fn append(&self, writes: Vec<arus_domain::store::Write>) {
            self.queue.append(writes);
        }

        fn log_frame(
            &self,
            station_id: &str,
            direction: arus_domain::store::Direction,
            at: arus_domain::Time,
            text: String,
        ) {
            self.queue.log_frame(station_id, direction, at, &text);
        }

        fn write_problem(&self) -> Option<String> {
            self.queue.health.problem()
        }
    };
}
pub(crate) use queued_writes;

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
        .observe(jobs.iter().map(Job::size).sum::<usize>() as f64);
}
