//! Security profile 1: HTTP Basic authentication at the WebSocket upgrade (OCPP 1.6 security
//! white paper §2.3, OCPP 2.0.1 part 2 A00).
//!
//! The user name must be the station's identity (A00.FR.204, TC_A_02_CSMS). Passwords are
//! stored only as argon2id hashes. Verifying one costs milliseconds of CPU by design, so a
//! successful verification is remembered (as a SHA-256 of hash and password, in memory only):
//! a station reconnecting with the same password is checked in microseconds, and a changed
//! password hash makes the remembered entry useless.
//!
//! Argon2 also costs memory (19 MiB per verification with the default parameters), so at most
//! one verification per CPU runs at a time: a reconnection storm of thousands of stations with
//! passwords queues for the CPUs instead of taking gigabytes at once.
//!
//! A check waits for its turn at most a configured time, and is then refused as busy (503): a
//! storm does not pile up logins that time out on the station's side anyway. Failed logins are
//! counted per station id and per source address ([`crate::limits::LoginFailures`]); past the
//! limit a login is refused (429) before argon2 runs, except one whose password is the
//! remembered one, which costs nothing to check: others' failures never lock out a station that
//! has logged in before.
//!
//! Hashing and checking one password is `arus-credentials`' job; this module adds what is about
//! connections: the Basic header, the cache of successes, the bounds on concurrent and failed
//! checks, and the 1.6 AuthorizationKey sent as raw bytes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The user name and password of an `Authorization: Basic` header. The password is bytes: a
/// 1.6 station may send its AuthorizationKey raw (OCPP-J 1.6 §6.2.2's example), not as text.
pub fn parse_basic(header: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

use crate::limits::{LoginFailures, Throttled};

/// The outcome of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches.
    Valid,
    /// It does not (counted as a failure).
    Invalid,
    /// Not checked: too many failures recently (answered 429).
    Throttled(Throttled),
    /// Not checked: the queue of checks was too long (answered 503).
    Busy,
}

/// How much checking passwords may take.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Argon2 checks running at once (at least 1).
    pub concurrency: usize,
    /// How long a check may wait for its turn.
    pub queue_timeout: Duration,
    /// Failed logins a minute allowed for one station id (0: no limit).
    pub failures_per_station: u32,
    /// Failed logins a minute allowed from one address (0: no limit).
    pub failures_per_address: u32,
}

impl Default for AuthLimits {
    fn default() -> AuthLimits {
        AuthLimits {
            concurrency: std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1),
            queue_timeout: Duration::from_secs(10),
            failures_per_station: 10,
            failures_per_address: 60,
        }
    }
}

/// Checks passwords against stored hashes, remembering successes.
pub struct Verifier {
    known: Mutex<HashMap<String, [u8; 32]>>,
    /// One permit per argon2 verification allowed to run at once.
    running: std::sync::Arc<tokio::sync::Semaphore>,
    queue_timeout: Duration,
    failures: LoginFailures,
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier::new(AuthLimits::default())
    }
}

fn fingerprint(phc: &str, password: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(phc.as_bytes());
    h.update([0]);
    h.update(password);
    h.finalize().into()
}

impl Verifier {
    /// A verifier within `limits`.
    pub fn new(limits: AuthLimits) -> Verifier {
        Verifier {
            known: Mutex::new(HashMap::new()),
            running: std::sync::Arc::new(tokio::sync::Semaphore::new(limits.concurrency.max(1))),
            queue_timeout: limits.queue_timeout,
            failures: LoginFailures::new(limits.failures_per_station, limits.failures_per_address),
        }
    }

    /// Whether `password` matches the station's stored hash. Also accepted: a password sent as
    /// raw bytes whose hexadecimal form is the registered one (1.6 AuthorizationKey).
    pub async fn verify(
        &self,
        station_id: &str,
        address: IpAddr,
        phc: &str,
        password: &[u8],
    ) -> Verdict {
        let print = fingerprint(phc, password);
        if self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(station_id).copied())
            == Some(print)
        {
            return Verdict::Valid;
        }
        // The attempt's token is taken before argon2 runs, so concurrent guesses count at once.
        if let Err(t) = self.failures.attempt(station_id, address) {
            return Verdict::Throttled(t);
        }
        // Owned by the blocking task: a verification whose caller went away still counts.
        // The semaphore is never closed, so acquiring fails only on the deadline.
        let Ok(Ok(permit)) =
            tokio::time::timeout(self.queue_timeout, self.running.clone().acquire_owned()).await
        else {
            self.failures.not_failed(station_id, address);
            return Verdict::Busy;
        };
        let phc_owned = phc.to_string();
        let password = password.to_vec();
        let station = station_id.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let matches = |candidate: &[u8]| match arus_credentials::verify(&phc_owned, candidate)
            {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(station = %station, error = %e, "station password hash unusable");
                    false
                }
            };
            if matches(&password) {
                return true;
            }
            if password.iter().all(|b| b.is_ascii_graphic()) {
                return false;
            }
            let lower: String = password.iter().map(|b| format!("{b:02x}")).collect();
            matches(lower.as_bytes()) || matches(lower.to_ascii_uppercase().as_bytes())
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Verdict::Invalid;
        }
        self.failures.not_failed(station_id, address);
        if let Ok(mut k) = self.known.lock() {
            k.insert(station_id.to_string(), print);
        }
        Verdict::Valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("CS 1:pa:ss")
        );
        assert_eq!(parse_basic(&h), Some(("CS 1".into(), b"pa:ss".to_vec())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    fn here() -> IpAddr {
        IpAddr::from([192, 0, 2, 1])
    }

    fn limits(concurrency: usize) -> AuthLimits {
        AuthLimits {
            concurrency,
            ..AuthLimits::default()
        }
    }

    #[tokio::test]
    async fn verifies_and_remembers() {
        let phc = arus_credentials::hash(b"0123456789abcdef").expect("hashes");
        let v = Verifier::default();
        let at = here();
        assert_eq!(
            v.verify("CS1", at, &phc, b"0123456789abcdef").await,
            Verdict::Valid
        );
        assert_eq!(
            v.verify("CS1", at, &phc, b"0123456789abcdeX").await,
            Verdict::Invalid
        );
        // Remembered: the same password is accepted again without argon2.
        assert_eq!(
            v.verify("CS1", at, &phc, b"0123456789abcdef").await,
            Verdict::Valid
        );
        // Another hash (a changed password) is not satisfied by the remembered one.
        let other = arus_credentials::hash(b"fedcba9876543210").expect("hashes");
        assert_eq!(
            v.verify("CS1", at, &other, b"0123456789abcdef").await,
            Verdict::Invalid
        );
    }

    /// Wrong passwords for one station are refused unchecked once over the limit, but the
    /// station's own remembered password still gets in.
    #[tokio::test]
    async fn failures_throttle_all_but_the_remembered_password() {
        let phc = arus_credentials::hash(b"0123456789abcdef").expect("hashes");
        let v = Verifier::new(AuthLimits {
            failures_per_station: 2,
            ..AuthLimits::default()
        });
        let at = here();
        assert_eq!(
            v.verify("CS1", at, &phc, b"0123456789abcdef").await,
            Verdict::Valid
        );
        for _ in 0..2 {
            assert_eq!(
                v.verify("CS1", at, &phc, b"guess-guess-gues").await,
                Verdict::Invalid
            );
        }
        assert_eq!(
            v.verify("CS1", at, &phc, b"guess-guess-gues").await,
            Verdict::Throttled(Throttled::Station)
        );
        assert_eq!(
            v.verify("CS1", at, &phc, b"0123456789abcdef").await,
            Verdict::Valid
        );
    }

    /// A check that cannot start within the queue's time is refused as busy.
    #[tokio::test]
    async fn a_check_waiting_too_long_is_busy() {
        let phc = arus_credentials::hash(b"0123456789abcdef").expect("hashes");
        let v = Verifier::new(AuthLimits {
            concurrency: 1,
            queue_timeout: Duration::from_millis(50),
            ..AuthLimits::default()
        });
        let held = v.running.clone().acquire_owned().await.expect("permit");
        assert_eq!(
            v.verify("CS1", here(), &phc, b"0123456789abcdef").await,
            Verdict::Busy
        );
        drop(held);
        assert_eq!(
            v.verify("CS1", here(), &phc, b"0123456789abcdef").await,
            Verdict::Valid
        );
    }

    /// Many stations verifying at once all get their answer, with only as many argon2 runs
    /// in flight as permitted.
    #[tokio::test]
    async fn concurrent_verifications_queue_and_all_finish() {
        let phc = arus_credentials::hash(b"0123456789abcdef").expect("hashes");
        let v = std::sync::Arc::new(Verifier::new(limits(1)));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (v, phc) = (v.clone(), phc.clone());
            tasks.push(tokio::spawn(async move {
                let pw: &[u8] = if i % 2 == 0 {
                    b"0123456789abcdef"
                } else {
                    b"wrong-password!!"
                };
                v.verify(&format!("CS{i}"), here(), &phc, pw).await == Verdict::Valid
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.expect("task finishes"));
        }
        assert_eq!(results, [true, false, true, false, true, false]);
        assert_eq!(
            v.running.available_permits(),
            1,
            "every permit is given back"
        );
    }

    /// OCPP-J 1.6 §6.2.2: the AuthorizationKey may go on the wire as raw bytes.
    #[tokio::test]
    async fn raw_key_bytes_match_their_hex_form() {
        let key = [0x00u8, 0x01, 0x02, 0xFF, 0xA0, 0x10, 0x20, 0x30];
        let hex: String = key.iter().map(|b| format!("{b:02X}")).collect();
        let phc = arus_credentials::hash(hex.as_bytes()).expect("hashes");
        let v = Verifier::default();
        assert_eq!(v.verify("CS1", here(), &phc, &key).await, Verdict::Valid);
    }
}
