//! What one client may take: connections in all and per source address, failed logins per
//! station and per address, and CALLs per second per station.
//!
//! # Invariants
//!
//! - A source address, which the per-address limits count, is an IPv4 address or an IPv6 /64
//!   ([`source`]).
//! - Every accepted TCP connection holds a [`Slot`] until its task ends, so the counts are
//!   exact however a connection ends; a refused connection never reaches the handshake.
//! - Failed logins are counted per station id and per source address in token buckets; a login
//!   whose buckets are empty is refused before its password is checked (argon2 is the costly
//!   part). A login takes its token before the check and gets it back if it succeeds, so
//!   concurrent wrong guesses are counted as they start, not as they finish. The buckets forget a key once it is full again, so their memory follows the
//!   addresses and stations failing now, not every one ever seen.
//! - A station's CALL rate is a token bucket in its session: every message it sends takes a
//!   token (a malformed one too, so junk is not cheaper than CALLs), and one beyond the rate
//!   waits before it is handled, and while it waits nothing more is read from that station, so TCP pushes back
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

/// The source a per-address limit counts: an IPv4 address (an IPv4-mapped IPv6 one as the
/// IPv4 address it is), or an IPv6 address's /64, the smallest network one subscriber is
/// given, so that a client cannot step past the limit by using more of its own addresses.
pub fn source(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
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
        let address = source(address);
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

    /// Takes one token for an attempt of `key`, if its failures left it one.
    fn take(&mut self, key: &K, now: Instant) -> bool {
        if self.per_minute == 0.0 {
            return true;
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
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }

    /// Gives back the token of an attempt that did not fail.
    fn give_back(&mut self, key: &K, now: Instant) {
        if self.per_minute == 0.0 {
            return;
        }
        let (capacity, rate) = (self.per_minute, self.rate());
        if let Some(b) = self.buckets.get_mut(key) {
            b.refill(capacity, rate, now);
            b.tokens = (b.tokens + 1.0).min(capacity);
        }
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

    /// Whether a login of `station` from `address` may have its password checked. An allowed
    /// attempt takes its token now, before the check, so that concurrent wrong guesses cannot
    /// all pass a bucket that has room for one; [`LoginFailures::not_failed`] gives it back.
    pub fn attempt(&self, station: &str, address: IpAddr) -> Result<(), Throttled> {
        let now = Instant::now();
        let Ok(mut g) = self.inner.lock() else {
            return Ok(());
        };
        let (stations, addresses) = &mut *g;
        let address = source(address);
        if !addresses.take(&address, now) {
            return Err(Throttled::Address);
        }
        if !stations.take(&station.to_string(), now) {
            addresses.give_back(&address, now);
            return Err(Throttled::Station);
        }
        Ok(())
    }

    /// Gives back the token of an attempt that succeeded, or was never checked.
    pub fn not_failed(&self, station: &str, address: IpAddr) {
        let now = Instant::now();
        if let Ok(mut g) = self.inner.lock() {
            let (stations, addresses) = &mut *g;
            stations.give_back(&station.to_string(), now);
            addresses.give_back(&source(address), now);
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

/// The longest one CALL waits for its turn, however small the configured rate.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

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
        // A rate so small that the wait overflows a Duration waits the longest a CALL may.
        Duration::try_from_secs_f64(-self.bucket.tokens / rate.per_second)
            .unwrap_or(LONGEST_WAIT)
            .min(LONGEST_WAIT)
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
    fn an_ipv6_subscriber_counts_as_one_source() {
        let c = Arc::new(Connections::new(100, 2));
        let a = Connections::admit(&c, ip("2001:db8:1:2::1")).expect("first");
        let b = Connections::admit(&c, ip("2001:db8:1:2:ffff::9")).expect("second");
        assert_eq!(
            Connections::admit(&c, ip("2001:db8:1:2::3")).err(),
            Some(Refusal::Address),
            "a third address of the same /64 is the same source"
        );
        assert!(Connections::admit(&c, ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(source(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        drop((a, b));
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
        // Three attempts under way at once (none answered yet) use up the station's bucket:
        // a fourth concurrent guess is refused before its password is checked.
        for _ in 0..3 {
            assert_eq!(f.attempt("CS1", x), Ok(()));
        }
        assert_eq!(f.attempt("CS1", x), Err(Throttled::Station));
        assert_eq!(f.attempt("CS1", y), Err(Throttled::Station));
        assert_eq!(f.attempt("CS2", x), Ok(()));
        assert_eq!(f.attempt("CS3", x), Ok(()));
        assert_eq!(f.attempt("CS4", x), Err(Throttled::Address));
        assert_eq!(f.attempt("CS4", y), Ok(()));
        f.not_failed("CS4", y);
        // Three a minute: one more try after twenty seconds.
        tokio::time::advance(Duration::from_secs(21)).await;
        assert_eq!(f.attempt("CS1", y), Ok(()));
    }

    #[test]
    fn logins_that_succeed_cost_nothing() {
        let f = LoginFailures::new(2, 2);
        let x = ip("192.0.2.1");
        for _ in 0..10 {
            assert_eq!(f.attempt("CS1", x), Ok(()));
            f.not_failed("CS1", x);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn full_buckets_are_forgotten() {
        let mut f = FailureCounts::<u32>::new(2);
        for k in 0..FORGET_ABOVE as u32 {
            assert!(f.take(&k, Instant::now()));
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(f.take(&u32::MAX, Instant::now()));
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
        let tiny = CallRate {
            per_second: f64::MIN_POSITIVE,
            burst: 1,
        };
        let mut b = CallBucket::new(tiny);
        assert_eq!(b.take(tiny), Duration::ZERO);
        assert_eq!(b.take(tiny), LONGEST_WAIT);
    }
}
