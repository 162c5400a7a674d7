//! What one client may take: connections in all and per source address, failed logins per
//! station and per address, and CALLs per second per station.
//!
//! # Invariants
//!
//! - Every accepted TCP connection holds a [`Slot`] until its task ends, so the counts are
//!   exact however a connection ends; a refused connection never reaches the handshake.
//! - Failed logins are counted per station id and per source address in token buckets; a login
//!   whose buckets are empty is refused before its password is checked (argon2 is the costly
//!   part). The buckets forget a key once it is full again, so their memory follows the
//!   addresses and stations failing now, not every one ever seen.
//! - A station's CALL rate is a token bucket in its session: a CALL beyond it waits before it
//!   is handled, and while it waits nothing more is read from that station, so TCP pushes back
//!   on the sender and no other station waits for it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds as many connections as it is allowed.
    Total,
    /// The source address holds as many connections as one address is allowed.
    Address,
}

impl Refusal {
    /// The reason in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Total => "too_many_connections",
            Refusal::Address => "too_many_from_address",
        }
    }
}

/// Open connections, in all and per source address.
pub struct Connections {
    total_limit: usize,
    per_address_limit: usize,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it gives its place back.
pub struct Slot {
    owner: Arc<Connections>,
    address: IpAddr,
}

impl Connections {
    /// At most `total` connections, `per_address` from one address (0: no limit).
    pub fn new(total: usize, per_address: usize) -> Connections {
        Connections {
            total_limit: if total == 0 { usize::MAX } else { total },
            per_address_limit: if per_address == 0 {
                usize::MAX
            } else {
                per_address
            },
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a place for a connection from `address`, if one is free.
    pub fn admit(this: &Arc<Connections>, address: IpAddr) -> Result<Slot, Refusal> {
        let Ok(mut map) = this.per_address.lock() else {
            // Only a panic while counting poisons the map; refuse rather than count wrong.
            return Err(Refusal::Total);
        };
        if this.total.load(Ordering::Relaxed) >= this.total_limit {
            return Err(Refusal::Total);
        }
        let n = map.entry(address).or_insert(0);
        if *n >= this.per_address_limit {
            return Err(Refusal::Address);
        }
        *n += 1;
        this.total.fetch_add(1, Ordering::Relaxed);
        arus_telemetry::metrics().connections.inc();
        Ok(Slot {
            owner: this.clone(),
            address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.owner.per_address.lock()
            && let Some(n) = map.get_mut(&self.address)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
        self.owner.total.fetch_sub(1, Ordering::Relaxed);
        arus_telemetry::metrics().connections.dec();
    }
}

/// Logging that a flood cannot turn into a flood of log lines: at most one line every ten
/// seconds, saying how many were left out since (the metrics count each).
pub struct Sparse {
    last: Mutex<Option<(std::time::Instant, u64)>>,
}

impl Sparse {
    /// Nothing reported yet.
    pub const fn new() -> Sparse {
        Sparse {
            last: Mutex::new(None),
        }
    }

    /// `Some(left out since the last line)` when a line is due now; counts one more otherwise.
    pub fn due(&self) -> Option<u64> {
        let mut last = self.last.lock().ok()?;
        let now = std::time::Instant::now();
        match &mut *last {
            Some((at, n)) if now.duration_since(*at) < Duration::from_secs(10) => {
                *n += 1;
                None
            }
            other => {
                let since = other.map_or(0, |(_, n)| n);
                *other = Some((now, 0));
                Some(since)
            }
        }
    }
}

impl Default for Sparse {
    fn default() -> Sparse {
        Sparse::new()
    }
}

/// A token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, capacity: f64, per_second: f64, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * per_second;
        self.tokens = (self.tokens + gained).min(capacity);
        self.at = now;
    }
}

/// Failed logins per key (a station id or an address), at most `per_minute` in a minute.
struct FailureCounts<K> {
    per_minute: f64,
    buckets: HashMap<K, Bucket>,
}

/// Past this many keys, full buckets are forgotten before another is added.
const FORGET_ABOVE: usize = 4096;

impl<K: std::hash::Hash + Eq + Clone> FailureCounts<K> {
    fn new(per_minute: u32) -> FailureCounts<K> {
        FailureCounts {
            per_minute: f64::from(per_minute),
            buckets: HashMap::new(),
        }
    }

    fn rate(&self) -> f64 {
        self.per_minute / 60.0
    }

    /// Whether `key` may try again: its failures left it at least one token.
    fn allows(&mut self, key: &K, now: Instant) -> bool {
        if self.per_minute == 0.0 {
            return true;
        }
        let (capacity, rate) = (self.per_minute, self.rate());
        match self.buckets.get_mut(key) {
            None => true,
            Some(b) => {
                b.refill(capacity, rate, now);
                b.tokens >= 1.0
            }
        }
    }

    fn failed(&mut self, key: &K, now: Instant) {
        if self.per_minute == 0.0 {
            return;
        }
        let (capacity, rate) = (self.per_minute, self.rate());
        if !self.buckets.contains_key(key) && self.buckets.len() >= FORGET_ABOVE {
            self.buckets.retain(|_, b| {
                b.refill(capacity, rate, now);
                b.tokens < capacity
            });
        }
        let b = self
            .buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(capacity, now));
        b.refill(capacity, rate, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failed logins for this station id.
    Station,
    /// Too many failed logins from this address.
    Address,
}

impl Throttled {
    /// The reason in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Throttled::Station => "station_failures",
            Throttled::Address => "address_failures",
        }
    }
}

/// Failed logins, per station id and per source address.
pub struct LoginFailures {
    inner: Mutex<(FailureCounts<String>, FailureCounts<IpAddr>)>,
}

impl LoginFailures {
    /// At most `per_station` failures a minute for one station id and `per_address` from one
    /// address (0: no limit); each allows a burst of as many.
    pub fn new(per_station: u32, per_address: u32) -> LoginFailures {
        LoginFailures {
            inner: Mutex::new((
                FailureCounts::new(per_station),
                FailureCounts::new(per_address),
            )),
        }
    }

    /// Whether a login of `station` from `address` may have its password checked.
    pub fn check(&self, station: &str, address: IpAddr) -> Result<(), Throttled> {
        let now = Instant::now();
        let Ok(mut g) = self.inner.lock() else {
            return Ok(());
        };
        let (stations, addresses) = &mut *g;
        if !addresses.allows(&address, now) {
            return Err(Throttled::Address);
        }
        if !stations.allows(&station.to_string(), now) {
            return Err(Throttled::Station);
        }
        Ok(())
    }

    /// Counts a failed login.
    pub fn failed(&self, station: &str, address: IpAddr) {
        let now = Instant::now();
        if let Ok(mut g) = self.inner.lock() {
            let (stations, addresses) = &mut *g;
            stations.failed(&station.to_string(), now);
            addresses.failed(&address, now);
        }
    }
}

/// A station's CALL rate: `burst` CALLs at once, then `per_second`.
#[derive(Debug, Clone, Copy)]
pub struct CallRate {
    /// CALLs a second (0: no limit).
    pub per_second: f64,
    /// CALLs allowed at once after a quiet spell.
    pub burst: u32,
}

/// The bucket of one session.
pub(crate) struct CallBucket {
    bucket: Bucket,
}

impl CallBucket {
    pub fn new(rate: CallRate) -> CallBucket {
        CallBucket {
            bucket: Bucket::full(f64::from(rate.burst.max(1)), Instant::now()),
        }
    }

    /// How long the next CALL must wait (zero if it need not); takes its token.
    pub fn take(&mut self, rate: CallRate) -> Duration {
        if rate.per_second <= 0.0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        self.bucket
            .refill(f64::from(rate.burst.max(1)), rate.per_second, now);
        self.bucket.tokens -= 1.0;
        if self.bucket.tokens >= 0.0 {
            return Duration::ZERO;
        }
        // In debt: the wait is what refills the debt; the token is spent when it arrives.
        Duration::from_secs_f64(-self.bucket.tokens / rate.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn connections_are_capped_in_all_and_per_address_and_given_back() {
        let c = Arc::new(Connections::new(3, 2));
        let admit = |a: &str| Connections::admit(&c, ip(a));
        let a = admit("10.0.0.1").expect("first");
        let b = admit("10.0.0.1").expect("second");
        assert_eq!(admit("10.0.0.1").err(), Some(Refusal::Address));
        let d = admit("10.0.0.2").expect("other address");
        assert_eq!(admit("10.0.0.3").err(), Some(Refusal::Total));
        drop(a);
        assert_eq!(c.open(), 2);
        let _e = admit("10.0.0.1").expect("a place was given back");
        drop((b, d));
        assert_eq!(c.open(), 1);
        assert_eq!(c.per_address.lock().map(|m| m.len()).ok(), Some(1));
    }

    #[test]
    fn sparse_logging_reports_once_then_counts() {
        let s = Sparse::new();
        assert_eq!(s.due(), Some(0));
        assert_eq!(s.due(), None);
        assert_eq!(s.due(), None);
    }

    #[test]
    fn zero_means_no_limit() {
        let c = Arc::new(Connections::new(0, 0));
        let slots: Vec<_> = (0..100)
            .map(|_| Connections::admit(&c, ip("10.0.0.1")))
            .collect();
        assert!(slots.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_logins_throttle_the_station_and_the_address_then_recover() {
        let f = LoginFailures::new(3, 5);
        let (x, y) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..3 {
            assert_eq!(f.check("CS1", x), Ok(()));
            f.failed("CS1", x);
        }
        assert_eq!(f.check("CS1", x), Err(Throttled::Station));
        assert_eq!(f.check("CS1", y), Err(Throttled::Station));
        assert_eq!(f.check("CS2", x), Ok(()));
        f.failed("CS2", x);
        f.failed("CS3", x);
        assert_eq!(f.check("CS4", x), Err(Throttled::Address));
        assert_eq!(f.check("CS4", y), Ok(()));
        // Three a minute: one more try after twenty seconds.
        tokio::time::advance(Duration::from_secs(21)).await;
        assert_eq!(f.check("CS1", y), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn full_buckets_are_forgotten() {
        let mut f = FailureCounts::<u32>::new(2);
        for k in 0..FORGET_ABOVE as u32 {
            f.failed(&k, Instant::now());
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        f.failed(&u32::MAX, Instant::now());
        assert_eq!(f.buckets.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_burst_wait_for_the_rate() {
        let rate = CallRate {
            per_second: 10.0,
            burst: 3,
        };
        let mut b = CallBucket::new(rate);
        for _ in 0..3 {
            assert_eq!(b.take(rate), Duration::ZERO);
        }
        assert_eq!(b.take(rate), Duration::from_millis(100));
        assert_eq!(b.take(rate), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(1)).await;
        // Ten refilled, two owed, three at most: the debt is paid and the burst is back.
        assert_eq!(b.take(rate), Duration::ZERO);
        let unlimited = CallRate {
            per_second: 0.0,
            burst: 1,
        };
        assert_eq!(b.take(unlimited), Duration::ZERO);
    }
}
