//! What happened in a run: counters shared by all stations, a histogram of CALL round trips, and
//! the summary printed (as a table) and written (as JSON) at the end.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Counters and latencies of a run.
pub struct Stats {
    /// Stations connected now.
    pub connected: AtomicU64,
    /// Successful connections (reconnections included).
    pub connects: AtomicU64,
    /// Failed connection attempts.
    pub connect_errors: AtomicU64,
    /// Connections that ended unexpectedly.
    pub disconnects: AtomicU64,
    /// Stations whose boot was accepted (once per station).
    pub booted: AtomicU64,
    /// CALLs sent.
    pub calls: AtomicU64,
    /// CALLRESULTs received.
    pub results: AtomicU64,
    /// CALLERRORs received.
    pub errors: AtomicU64,
    /// CALLs without an answer in time.
    pub timeouts: AtomicU64,
    /// CSMS-initiated CALLs answered.
    pub commands: AtomicU64,
    /// Transactions started and stopped.
    pub started: AtomicU64,
    /// Transactions stopped.
    pub stopped: AtomicU64,
    /// Queued events replayed after an offline period.
    pub replayed: AtomicU64,
    /// Offline periods (a station dropped its connection on purpose and queued its events).
    pub offline: AtomicU64,
    /// Transaction messages still queued when the run stopped.
    pub unsent: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    /// When the measurement window began.
    window: Mutex<Window>,
    /// How many stations the run has, and when the last of them booted.
    expected: AtomicU64,
    created: Instant,
    all_booted: Mutex<Option<Duration>>,
}

struct Window {
    since: Instant,
    results: u64,
    errors: u64,
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 60 s, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            connected: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            booted: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            results: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            started: AtomicU64::new(0),
            stopped: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            offline: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
            window: Mutex::new(Window {
                since: Instant::now(),
                results: 0,
                errors: 0,
            }),
            expected: AtomicU64::new(0),
            created: Instant::now(),
            all_booted: Mutex::new(None),
        }
    }
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Adds one to a counter.
pub(crate) fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Stats for a run of `stations` stations.
    pub fn for_stations(stations: u64) -> Stats {
        let s = Stats::default();
        s.expected.store(stations, Ordering::Relaxed);
        s
    }

    /// A station's first boot was accepted; the time the last one was is remembered.
    pub fn booted_one(&self) {
        let n = self.booted.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.expected.load(Ordering::Relaxed)
            && let Ok(mut t) = self.all_booted.lock()
        {
            *t = Some(self.created.elapsed());
        }
    }

    /// Records a CALL's round trip.
    pub fn record(&self, rtt: Duration) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.record((rtt.as_micros() as u64).clamp(1, 60_000_000));
        }
    }

    /// Starts the measurement window now: latencies and throughput count from here.
    pub fn start_window(&self) {
        if let Ok(mut h) = self.latency.lock() {
            h.reset();
        }
        if let Ok(mut w) = self.window.lock() {
            *w = Window {
                since: Instant::now(),
                results: get(&self.results),
                errors: get(&self.errors),
            };
        }
    }

    /// The summary of the run so far (throughput and latency over the window).
    pub fn summary(&self, stations: u64) -> Summary {
        let (window, results, errors) = match self.window.lock() {
            Ok(w) => (
                w.since.elapsed(),
                get(&self.results) - w.results,
                get(&self.errors) - w.errors,
            ),
            Err(_) => (Duration::ZERO, 0, 0),
        };
        let h = self
            .latency
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| histogram());
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            stations,
            connected: get(&self.connected),
            booted: get(&self.booted),
            connects: get(&self.connects),
            connect_errors: get(&self.connect_errors),
            disconnects: get(&self.disconnects),
            calls: get(&self.calls),
            results: get(&self.results),
            call_errors: get(&self.errors),
            timeouts: get(&self.timeouts),
            commands: get(&self.commands),
            transactions_started: get(&self.started),
            transactions_stopped: get(&self.stopped),
            replayed: get(&self.replayed),
            offline_periods: get(&self.offline),
            unsent: get(&self.unsent),
            window_s: window.as_secs_f64(),
            window_results: results,
            window_errors: errors,
            all_booted_s: self
                .all_booted
                .lock()
                .ok()
                .and_then(|t| t.map(|d| d.as_secs_f64())),
            throughput: if window.is_zero() {
                0.0
            } else {
                results as f64 / window.as_secs_f64()
            },
            latency_ms: Latency {
                samples: h.len(),
                p50: ms(0.5),
                p90: ms(0.9),
                p99: ms(0.99),
                p999: ms(0.999),
                max: h.max() as f64 / 1000.0,
            },
        }
    }
}

/// Round trips in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// How many round trips were measured.
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Stations simulated.
    pub stations: u64,
    /// Connected at the end.
    pub connected: u64,
    /// Booted (accepted) at least once.
    pub booted: u64,
    /// Connections made (reconnections included).
    pub connects: u64,
    /// Connections refused or failed.
    pub connect_errors: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// CALLs sent.
    pub calls: u64,
    /// CALLRESULTs received.
    pub results: u64,
    /// CALLERRORs received.
    pub call_errors: u64,
    /// CALLs not answered in time.
    pub timeouts: u64,
    /// CSMS-initiated CALLs answered.
    pub commands: u64,
    /// Transactions started.
    pub transactions_started: u64,
    /// Transactions stopped.
    pub transactions_stopped: u64,
    /// Offline events replayed.
    pub replayed: u64,
    /// Offline periods.
    pub offline_periods: u64,
    /// Transaction messages still queued offline when the run stopped (never sent).
    pub unsent: u64,
    /// Length of the measurement window, seconds.
    pub window_s: f64,
    /// CALLRESULTs in the window.
    pub window_results: u64,
    /// CALLERRORs in the window.
    pub window_errors: u64,
    /// Seconds from the start until every station's boot was accepted.
    pub all_booted_s: Option<f64>,
    /// CALLRESULTs per second in the window.
    pub throughput: f64,
    /// Round trips in the window.
    pub latency_ms: Latency,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        writeln!(
            f,
            "stations            {:>10}   connected {} booted {}",
            self.stations, self.connected, self.booted
        )?;
        writeln!(
            f,
            "connections         {:>10}   failed {} lost {}",
            self.connects, self.connect_errors, self.disconnects
        )?;
        writeln!(
            f,
            "calls               {:>10}   answered {} errors {} timeouts {}",
            self.calls, self.results, self.call_errors, self.timeouts
        )?;
        writeln!(f, "csms commands       {:>10}", self.commands)?;
        writeln!(
            f,
            "transactions        {:>10}   stopped {}",
            self.transactions_started, self.transactions_stopped
        )?;
        writeln!(
            f,
            "offline periods     {:>10}   replayed events {} unsent at the end {}",
            self.offline_periods, self.replayed, self.unsent
        )?;
        writeln!(
            f,
            "throughput          {:>10.0}/s over {:.1} s",
            self.throughput, self.window_s
        )?;
        write!(
            f,
            "round trip (ms)     p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({} samples)",
            l.p50, l.p90, l.p99, l.p999, l.max, l.samples
        )
    }
}
