//! What happened in a run: counters shared by all stations, a histogram of CALL round trips, and
//! the summary printed (as a table) and written (as JSON) at the end.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

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
    /// The sessions of cars of the groups with car models.
    cars: Mutex<Vec<CarSession>>,
}

/// One car's session, for comparing what it got with what it could have got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarSession {
    /// The station.
    pub station_id: String,
    /// The EVSE.
    pub evse_id: u32,
    /// 1 or 3.
    pub phases: u8,
    /// Its most current per phase, A.
    pub max_current_a: f64,
    /// The least current it can be offered, A.
    pub min_current_a: f64,
    /// Its battery, Wh.
    pub battery_wh: f64,
    /// Its state of charge on arrival and where it stops (0 to 1).
    pub arrival_soc: f64,
    /// Where it stops charging.
    pub target_soc: f64,
    /// When it arrived and left, in simulated seconds from the start of the run.
    pub arrived_s: f64,
    /// When it left (or the run ended).
    pub left_s: f64,
    /// The energy it took, Wh.
    pub delivered_wh: f64,
    /// `departed` (its time was up), `full`, `stopped` (by the CSMS) or `running` (when the
    /// run ended).
    pub ended: String,
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
            cars: Mutex::new(Vec::new()),
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

    /// Simulated seconds from the start of the run to `at`, at `speed`.
    pub(crate) fn sim_seconds(&self, at: Instant, speed: f64) -> f64 {
        at.saturating_duration_since(self.created).as_secs_f64() * speed
    }

    /// Records a car's session.
    pub(crate) fn car(&self, session: CarSession) {
        if let Ok(mut cars) = self.cars.lock() {
            cars.push(session);
        }
    }

    /// The cars' sessions recorded so far, by arrival.
    pub fn cars(&self) -> Vec<CarSession> {
        let mut cars = self.cars.lock().map(|c| c.clone()).unwrap_or_default();
        cars.sort_by(|a, b| a.arrived_s.total_cmp(&b.arrived_s));
        cars
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

    /// Records a CALL's round trip and counts its answer in `counter` (a result or an
    /// error), both under the histogram's lock, so a summary never sees one without the other.
    pub fn record(&self, rtt: Duration, counter: &AtomicU64) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.record((rtt.as_micros() as u64).clamp(1, 60_000_000));
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts the measurement window now: latencies and throughput count from here.
    pub fn start_window(&self) {
        // Under the histogram's lock, so the window's counts and latencies start together.
        let Ok(mut h) = self.latency.lock() else {
            return;
        };
        h.reset();
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
        self.summary_of(stations, false)
    }

    /// The summary of a shard: with its histogram, taken with its counters, for the process
    /// that merges the shards.
    pub fn shard_summary(&self, stations: u64) -> Summary {
        self.summary_of(stations, true)
    }

    fn summary_of(&self, stations: u64, with_histogram: bool) -> Summary {
        // The answer counters are read under the histogram's lock (see `record`).
        let (h, total_results, total_errors) = match self.latency.lock() {
            Ok(h) => (h.clone(), get(&self.results), get(&self.errors)),
            Err(_) => (histogram(), get(&self.results), get(&self.errors)),
        };
        let (window, results, errors) = match self.window.lock() {
            Ok(w) => (
                w.since.elapsed(),
                total_results.saturating_sub(w.results),
                total_errors.saturating_sub(w.errors),
            ),
            Err(_) => (Duration::ZERO, 0, 0),
        };
        Summary {
            stations,
            connected: get(&self.connected),
            booted: get(&self.booted),
            connects: get(&self.connects),
            connect_errors: get(&self.connect_errors),
            disconnects: get(&self.disconnects),
            calls: get(&self.calls),
            results: total_results,
            call_errors: total_errors,
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
            latency_ms: latency_of(&h),
            latency_histogram: if with_histogram {
                buckets(&h)
            } else {
                Vec::new()
            },
            cars: self.cars(),
        }
    }

    /// The counters shown while the run goes on.
    pub fn progress(&self) -> Progress {
        Progress {
            connected: get(&self.connected),
            booted: get(&self.booted),
            results: get(&self.results),
            errors: get(&self.errors),
            timeouts: get(&self.timeouts),
            started: get(&self.started),
        }
    }
}

/// Round trips in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The round trips themselves, as (microseconds, count): only a shard reports them, so
    /// that the process that started it can merge the histograms exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_histogram: Vec<(u64, u64)>,
    /// The cars' sessions (groups with car models only), by arrival.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cars: Vec<CarSession>,
}

impl Summary {
    /// The summary of a run made by several processes (see `Shard`): counters add up,
    /// the window is the longest, latencies come from the merged histograms, and all stations
    /// booted when every part's did (at the latest of their times).
    pub fn merge(parts: &[Summary]) -> Summary {
        let sum = |f: fn(&Summary) -> u64| parts.iter().map(f).sum::<u64>();
        let mut h = histogram();
        for p in parts {
            for &(value, count) in &p.latency_histogram {
                let _ = h.record_n(value.clamp(1, 60_000_000), count);
            }
        }
        let stations = sum(|p| p.stations);
        let booted = sum(|p| p.booted);
        let window_s = parts.iter().map(|p| p.window_s).fold(0.0, f64::max);
        let window_results = sum(|p| p.window_results);
        Summary {
            stations,
            connected: sum(|p| p.connected),
            booted,
            connects: sum(|p| p.connects),
            connect_errors: sum(|p| p.connect_errors),
            disconnects: sum(|p| p.disconnects),
            calls: sum(|p| p.calls),
            results: sum(|p| p.results),
            call_errors: sum(|p| p.call_errors),
            timeouts: sum(|p| p.timeouts),
            commands: sum(|p| p.commands),
            transactions_started: sum(|p| p.transactions_started),
            transactions_stopped: sum(|p| p.transactions_stopped),
            replayed: sum(|p| p.replayed),
            offline_periods: sum(|p| p.offline_periods),
            unsent: sum(|p| p.unsent),
            window_s,
            window_results,
            window_errors: sum(|p| p.window_errors),
            all_booted_s: parts
                .iter()
                // A part without stations has nothing to wait for.
                .map(|p| {
                    if p.stations == 0 {
                        Some(0.0)
                    } else {
                        p.all_booted_s
                    }
                })
                .try_fold(0.0, |acc: f64, t| t.map(|t| acc.max(t)))
                .filter(|_| !parts.is_empty() && booted == stations),
            throughput: parts.iter().map(|p| p.throughput).sum(),
            latency_ms: latency_of(&h),
            latency_histogram: Vec::new(),
            cars: {
                let mut cars: Vec<CarSession> =
                    parts.iter().flat_map(|p| p.cars.iter().cloned()).collect();
                cars.sort_by(|a, b| a.arrived_s.total_cmp(&b.arrived_s));
                cars
            },
        }
    }
}

fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn latency_of(h: &Histogram<u64>) -> Latency {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Latency {
        samples: h.len(),
        p50: ms(0.5),
        p90: ms(0.9),
        p99: ms(0.99),
        p999: ms(0.999),
        max: h.max() as f64 / 1000.0,
    }
}

/// The counters shown while a run goes on.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Stations connected now.
    pub connected: u64,
    /// Stations booted.
    pub booted: u64,
    /// CALLRESULTs received.
    pub results: u64,
    /// CALLERRORs received.
    pub errors: u64,
    /// CALLs without an answer in time.
    pub timeouts: u64,
    /// Transactions started.
    pub started: u64,
}

impl Progress {
    /// CALLs answered, either way.
    pub fn answered(&self) -> u64 {
        self.results + self.errors
    }

    /// The progress of several processes together.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Progress>) -> Progress {
        parts
            .into_iter()
            .fold(Progress::default(), |a, p| Progress {
                connected: a.connected + p.connected,
                booted: a.booted + p.booted,
                results: a.results + p.results,
                errors: a.errors + p.errors,
                timeouts: a.timeouts + p.timeouts,
                started: a.started + p.started,
            })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Merged shards report what one process recording every round trip would have.
    #[test]
    fn merged_summaries_add_up_and_merge_latencies_exactly() {
        let (one, a, b) = (
            Stats::for_stations(4),
            Stats::for_stations(2),
            Stats::for_stations(2),
        );
        for (i, us) in [100u64, 250, 900, 5_000, 40_000, 120, 130, 7_000]
            .iter()
            .enumerate()
        {
            let rtt = Duration::from_micros(*us);
            one.record(rtt, &one.results);
            let half = if i % 2 == 0 { &a } else { &b };
            half.record(rtt, &half.results);
        }
        for _ in 0..2 {
            a.booted_one();
            b.booted_one();
        }
        let part = |s: &Stats| s.shard_summary(2);
        let merged = Summary::merge(&[part(&a), part(&b)]);
        let whole = one.summary(4);
        assert_eq!(merged.stations, 4);
        assert_eq!(merged.booted, 4);
        assert_eq!(merged.results, 8);
        assert!(merged.all_booted_s.is_some());
        assert_eq!(merged.latency_ms.samples, whole.latency_ms.samples);
        assert_eq!(merged.latency_ms.p50, whole.latency_ms.p50);
        assert_eq!(merged.latency_ms.p99, whole.latency_ms.p99);
        assert_eq!(merged.latency_ms.max, whole.latency_ms.max);
        // A part without stations (more processes than stations) waits for nothing.
        let empty = Stats::for_stations(0).summary(0);
        assert!(
            Summary::merge(&[part(&a), part(&b), empty])
                .all_booted_s
                .is_some()
        );
        // Not all booted in one part: not all booted in the whole.
        let c = Stats::for_stations(2);
        c.booted_one();
        assert_eq!(Summary::merge(&[part(&a), part(&c)]).all_booted_s, None);
    }
}
