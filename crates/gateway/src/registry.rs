//! Who is connected, and the way to a connected station's session.
//!
//! A session is registered before its station is told it is accepted (the handshake's 101),
//! so registrations follow the order in which stations saw their connections accepted.
//! A second connection of a station replaces the first: the old session is told to close
//! (Close 1001) and the new one waits until the old one has finished (however long its last
//! commit takes), so the two never handle the same station's messages at once: a message the
//! old connection is still committing is stored before the new one reads anything, so a
//! retry on the new connection is recognised (a 1.6 StartTransaction gets the same id). A session removes itself only if it is still the
//! registered one (its generation matches), so the old session's end cannot remove the new.
//!
//! Each session shares one small [`Link`] with the registry: the queue of CSMS-initiated CALLs,
//! and the signals to close and that it has finished. One allocation per station, as idle
//! stations are many.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arus_domain::commands::SendError;
use arus_domain::link::Connection;
use arus_domain::{StationId, Time};
use arus_ocpp::Version;
use tokio::sync::{Notify, oneshot};

/// How often a new connection that still waits for the one it replaces says so in the log.
const REPLACE_WAIT: Duration = Duration::from_secs(5);

/// How many CSMS-initiated CALLs may wait for one station.
const CALL_QUEUE: usize = 16;

/// A CALL for a session to send.
pub(crate) struct OutboundCall {
    pub action: &'static str,
    pub payload: String,
    pub reply: oneshot::Sender<Result<String, SendError>>,
}

/// What a session and the registry share.
#[derive(Default)]
pub(crate) struct Link {
    /// CALLs waiting to be sent.
    calls: Mutex<VecDeque<Box<OutboundCall>>>,
    /// Wakes the session: a CALL was queued, or it must close.
    pub wake: Notify,
    /// The session must close.
    closing: AtomicBool,
    /// The session has finished.
    finished: AtomicBool,
    done: Notify,
}

impl Link {
    /// The next CALL to send, if any.
    pub fn next_call(&self) -> Option<Box<OutboundCall>> {
        self.calls.lock().ok()?.pop_front()
    }

    /// Whether the session was told to close.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Tells the session to close.
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The session has finished (it drops whatever CALLs still wait, failing them).
    pub fn finish(&self) {
        if let Ok(mut q) = self.calls.lock() {
            q.clear();
        }
        self.finished.store(true, Ordering::Release);
        self.done.notify_waiters();
    }

    async fn finished(&self) {
        loop {
            let notified = self.done.notified();
            if self.finished.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// A session's registration, taken before its handshake is answered.
pub(crate) struct Claim {
    pub generation: u64,
    pub link: Arc<Link>,
    /// The session this one replaces, told to close.
    previous: Option<Arc<Link>>,
}

impl Claim {
    /// Waits until the session this one replaces has finished. Every step of a session ends
    /// (writes time out, commits are answered or refused), so this wait ends; it is not cut
    /// short, as the old session may be committing.
    pub async fn replaced(&self, id: &StationId) {
        let Some(old) = &self.previous else { return };
        let mut finished = std::pin::pin!(old.finished());
        while tokio::time::timeout(REPLACE_WAIT, finished.as_mut())
            .await
            .is_err()
        {
            tracing::warn!(station = %id, "still waiting for the replaced connection to finish");
        }
    }
}

/// What the registry holds per connected station.
struct Entry {
    generation: u64,
    version: Version,
    since: Time,
    link: Arc<Link>,
}

#[derive(Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<StationId, Entry>>,
    next: AtomicU64,
}

impl Registry {
    /// Registers a new session of `id` at once, telling any previous one to close. Called
    /// before the handshake's answer is written, so sessions are registered in the order
    /// their stations saw them accepted: an earlier connection can never replace a later one.
    pub fn claim(&self, id: &StationId, version: Version) -> Claim {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(Link::default());
        let previous = self.entries.lock().ok().and_then(|mut m| {
            m.insert(
                id.clone(),
                Entry {
                    generation,
                    version,
                    since: chrono::Utc::now(),
                    link: link.clone(),
                },
            )
        });
        if let Some(old) = &previous {
            tracing::info!(station = %id, "a new connection replaces the previous one");
            old.link.close();
        }
        Claim {
            generation,
            link,
            previous: previous.map(|e| e.link),
        }
    }

    /// Registers a new session of `id`, replacing (and waiting out) any previous one; returns
    /// its generation and link.
    #[cfg(test)]
    pub async fn register(&self, id: &StationId, version: Version) -> (u64, Arc<Link>) {
        let claim = self.claim(id, version);
        claim.replaced(id).await;
        (claim.generation, claim.link)
    }

    /// Removes a session's registration, if it is still the current one.
    pub fn unregister(&self, id: &str, generation: u64) {
        if let Ok(mut m) = self.entries.lock()
            && m.get(id).is_some_and(|e| e.generation == generation)
        {
            m.remove(id);
        }
    }

    pub fn connection(&self, id: &str) -> Option<Connection> {
        let m = self.entries.lock().ok()?;
        m.get(id).map(|e| Connection {
            protocol: e.version.label().to_string(),
            since: e.since,
        })
    }

    /// The version a connected station speaks.
    pub fn version(&self, id: &str) -> Option<Version> {
        self.entries.lock().ok()?.get(id).map(|e| e.version)
    }

    /// The ids of the connected stations.
    pub fn ids(&self) -> Vec<String> {
        self.entries
            .lock()
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn close_all(&self) {
        if let Ok(m) = self.entries.lock() {
            for e in m.values() {
                e.link.close();
            }
        }
    }

    /// Queues a CALL for a station's session and waits for the answer's payload.
    pub async fn call(
        &self,
        id: &str,
        version: Version,
        action: &'static str,
        payload: String,
    ) -> Result<String, SendError> {
        let link = {
            let m = self.entries.lock().map_err(|_| SendError::NotConnected)?;
            let e = m.get(id).ok_or(SendError::NotConnected)?;
            if e.version != version {
                return Err(SendError::Unsupported(format!(
                    "the station speaks OCPP {}",
                    e.version.label()
                )));
            }
            e.link.clone()
        };
        let (reply, answer) = oneshot::channel();
        {
            let mut q = link.calls.lock().map_err(|_| SendError::NotConnected)?;
            if link.finished.load(Ordering::Acquire) {
                return Err(SendError::NotConnected);
            }
            if q.len() >= CALL_QUEUE {
                return Err(SendError::Busy);
            }
            q.push_back(Box::new(OutboundCall {
                action,
                payload,
                reply,
            }));
        }
        link.wake.notify_one();
        answer.await.map_err(|_| SendError::Disconnected)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10, fault 3: a new connection does not start while the one it replaces has not
    /// finished, however long that takes (it used to start after 5 s).
    #[tokio::test(start_paused = true)]
    async fn a_new_connection_waits_until_the_old_one_finished() {
        let registry = Arc::new(Registry::default());
        let id = StationId::from("CS1");
        let (_, old) = registry.register(&id, Version::V16).await;
        let r = registry.clone();
        let second = id.clone();
        let new = tokio::spawn(async move { r.register(&second, Version::V16).await });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(old.closing(), "the old session was told to close");
        assert!(!new.is_finished(), "the new one waits for the old one");
        old.finish();
        let (_, link) = new.await.expect("registered");
        assert!(!link.closing());
        assert_eq!(registry.len(), 1);
    }
}
