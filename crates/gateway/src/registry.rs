//! Who is connected, and the way to a connected station's session.
//!
//! A second connection of a station replaces the first: the old session is told to close
//! (Close 1001) and the new one waits until the old one has finished, so the two never handle
//! the same station's messages at once. A session removes itself only if it is still the
//! registered one (its generation matches), so the old session's end cannot remove the new.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arus_domain::link::Connection;
use arus_domain::{StationId, Time};
use arus_ocpp::Version;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// How long a new connection waits for the one it replaces to finish.
const REPLACE_WAIT: Duration = Duration::from_secs(5);

/// How many CSMS-initiated CALLs may wait for one station.
const CALL_QUEUE: usize = 16;

/// Why a CSMS-initiated CALL failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The station is not connected.
    #[error("the station is not connected")]
    NotConnected,
    /// The station speaks another OCPP version than the request's.
    #[error("the station speaks OCPP {0}")]
    WrongVersion(String),
    /// Too many CALLs already wait for this station.
    #[error("too many requests are waiting for this station")]
    Busy,
    /// The request is not valid against its schema.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No answer within the call timeout.
    #[error("the station did not answer in time")]
    Timeout,
    /// The connection ended before the answer came.
    #[error("the station disconnected before answering")]
    Disconnected,
    /// The station answered with a CALLERROR.
    #[error("the station answered {code}: {description}")]
    Refused {
        /// The error code.
        code: String,
        /// The description.
        description: String,
    },
    /// The station's answer is not valid against the response schema.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
}

/// A CALL for a session to send.
pub(crate) struct OutboundCall {
    pub action: &'static str,
    pub payload: String,
    pub reply: oneshot::Sender<Result<String, CallError>>,
}

/// What the registry holds per connected station.
struct Entry {
    generation: u64,
    version: Version,
    since: Time,
    calls: mpsc::Sender<Box<OutboundCall>>,
    close: std::sync::Arc<Notify>,
    /// Becomes true when the session has finished.
    finished: watch::Receiver<bool>,
}

/// The session's side of its registration.
pub(crate) struct Registration {
    pub generation: u64,
    pub calls: mpsc::Receiver<Box<OutboundCall>>,
    pub close: std::sync::Arc<Notify>,
    pub finished: watch::Sender<bool>,
}

#[derive(Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<StationId, Entry>>,
    next: AtomicU64,
}

impl Registry {
    /// Registers a new session of `id`, replacing (and waiting out) any previous one.
    pub async fn register(&self, id: &StationId, version: Version) -> Registration {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        let (calls_tx, calls) = mpsc::channel(CALL_QUEUE);
        let close = std::sync::Arc::new(Notify::new());
        let (finished, finished_rx) = watch::channel(false);
        let previous = self.entries.lock().ok().and_then(|mut m| {
            m.insert(
                id.clone(),
                Entry {
                    generation,
                    version,
                    since: chrono::Utc::now(),
                    calls: calls_tx,
                    close: close.clone(),
                    finished: finished_rx,
                },
            )
        });
        if let Some(mut old) = previous {
            tracing::info!(station = %id, "a new connection replaces the previous one");
            old.close.notify_one();
            let _ = tokio::time::timeout(REPLACE_WAIT, old.finished.wait_for(|done| *done)).await;
        }
        Registration {
            generation,
            calls,
            close,
            finished,
        }
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

    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn close_all(&self) {
        if let Ok(m) = self.entries.lock() {
            for e in m.values() {
                e.close.notify_one();
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
    ) -> Result<String, CallError> {
        let sender = {
            let m = self.entries.lock().map_err(|_| CallError::NotConnected)?;
            let e = m.get(id).ok_or(CallError::NotConnected)?;
            if e.version != version {
                return Err(CallError::WrongVersion(e.version.label().to_string()));
            }
            e.calls.clone()
        };
        let (reply, answer) = oneshot::channel();
        sender
            .try_send(Box::new(OutboundCall {
                action,
                payload,
                reply,
            }))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CallError::Busy,
                mpsc::error::TrySendError::Closed(_) => CallError::NotConnected,
            })?;
        answer.await.map_err(|_| CallError::Disconnected)?
    }
}
