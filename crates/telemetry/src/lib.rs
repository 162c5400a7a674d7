//! The process's metrics, exposed at `/metrics` in the Prometheus text format.
//!
//! One global set ([`metrics`]) so that every crate can count without threading a handle
//! through; counters are lock-free once a label set exists.

use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of frame counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    /// `in` or `out`.
    pub direction: &'static str,
    /// `call`, `result` or `error`.
    pub kind: &'static str,
    /// The OCPP action (`unknown` for names no version has).
    pub action: &'static str,
}

/// Labels of error counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What kind of fault: an OCPP error code, `auth`, `close`, `store`...
    pub kind: String,
}

/// Labels of counters that say why something was refused or cut short.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: &'static str,
}

/// All metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Stations connected now.
    pub connected: Gauge,
    /// Frames in and out.
    pub frames: Family<FrameLabels, Counter>,
    /// Errors, by kind.
    pub errors: Family<ErrorLabels, Counter>,
    /// Time to commit a group of writes, in seconds.
    pub commit_seconds: Histogram,
    /// Writes per committed group.
    pub commit_batch: Histogram,
    /// Frame log entries dropped because the store could not keep up.
    pub frame_log_dropped: Counter,
    /// 1 while the store's writer can commit, 0 while it cannot (database unreachable, disk
    /// full).
    pub store_writable: Gauge,
    /// Times the store's writer lost its database and got it back.
    pub store_reconnects: Counter,
    /// Writes refused because the store could not commit them (their callers were told).
    pub store_refused_writes: Counter,
    /// TCP connections open now (stations, API clients, and those not yet either).
    pub connections: Gauge,
    /// Connections closed by a limit: `too_many_connections`, `too_many_from_address`,
    /// `head_timeout` (no request head in time), `idle_timeout` (an API connection kept alive
    /// without a request).
    pub connections_closed: Family<ReasonLabels, Counter>,
    /// Station logins refused before their password was checked: `station_failures`,
    /// `address_failures` (too many failed logins recently), `queue_timeout` (the password
    /// checks queued for too long).
    pub auth_refused: Family<ReasonLabels, Counter>,
    /// Messages a station sent faster than its rate allows, each read only after a pause.
    pub station_calls_slowed: Counter,
    /// Stored fields cut to their size limit: `vendor_data`, `frame`.
    pub truncated: Family<ReasonLabels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("arus");
        let connected = Gauge::default();
        registry.register(
            "connected_stations",
            "Stations connected now",
            connected.clone(),
        );
        let frames = Family::<FrameLabels, Counter>::default();
        registry.register("frames", "OCPP frames in and out", frames.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("errors", "Errors by kind", errors.clone());
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "store_commit_seconds",
            "Time to commit a group of writes",
            commit_seconds.clone(),
        );
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "store_commit_batch_writes",
            "Writes per committed group",
            commit_batch.clone(),
        );
        let frame_log_dropped = Counter::default();
        registry.register(
            "frame_log_dropped",
            "Frame log entries dropped under overload",
            frame_log_dropped.clone(),
        );
        let store_writable = Gauge::default();
        store_writable.set(1);
        registry.register(
            "store_writable",
            "1 while the store can commit writes, 0 while it cannot",
            store_writable.clone(),
        );
        let store_reconnects = Counter::default();
        registry.register(
            "store_reconnects",
            "Times the store's writer reconnected to its database",
            store_reconnects.clone(),
        );
        let store_refused_writes = Counter::default();
        registry.register(
            "store_refused_writes",
            "Writes refused while the store could not commit",
            store_refused_writes.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "TCP connections open now",
            connections.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_closed_by_limit",
            "Connections refused or closed by a limit, by reason",
            connections_closed.clone(),
        );
        let auth_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_refused",
            "Station logins refused before their password was checked, by reason",
            auth_refused.clone(),
        );
        let station_calls_slowed = Counter::default();
        registry.register(
            "station_calls_slowed",
            "Messages (CALLs, answers, malformed frames) read only after a pause because their station exceeded its rate",
            station_calls_slowed.clone(),
        );
        let truncated = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "stored_fields_truncated",
            "Fields cut to their size limit before they were stored, by kind",
            truncated.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            connected,
            frames,
            errors,
            commit_seconds,
            commit_batch,
            frame_log_dropped,
            store_writable,
            store_reconnects,
            store_refused_writes,
            connections,
            connections_closed,
            auth_refused,
            station_calls_slowed,
            truncated,
        }
    }

    /// Counts a connection closed by a limit.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a login refused before its password was checked.
    pub fn auth_refused(&self, reason: &'static str) {
        self.auth_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a field cut to its size limit.
    pub fn truncated(&self, kind: &'static str) {
        self.truncated
            .get_or_create(&ReasonLabels { reason: kind })
            .inc();
    }

    /// Counts a frame. The counter of each label set is kept per thread, so the hot path
    /// takes no lock once a thread has seen a label set.
    pub fn frame(&self, direction: &'static str, kind: &'static str, action: &'static str) {
        thread_local! {
            static COUNTERS: std::cell::RefCell<std::collections::HashMap<(usize, usize, usize), Counter>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        let key = (
            direction.as_ptr() as usize,
            kind.as_ptr() as usize,
            action.as_ptr() as usize ^ action.len(),
        );
        COUNTERS.with_borrow_mut(|c| {
            c.entry(key)
                .or_insert_with(|| {
                    self.frames
                        .get_or_create(&FrameLabels {
                            direction,
                            kind,
                            action,
                        })
                        .clone()
                })
                .inc();
        });
    }

    /// Counts an error.
    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}
