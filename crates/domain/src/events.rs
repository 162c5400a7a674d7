//! The one stream of everything that happens.
//!
//! The API's live stream, webhooks, roaming pushes and smart charging subscribe to it instead of
//! calling each other. Events are published after the data they describe is committed. The
//! stream is a bounded broadcast: a subscriber that falls too far behind misses events (and is
//! told so by the channel); the store remains the record.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::Time;
use crate::availability::ConnectorStatus;
use crate::provisioning::RegistrationStatus;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// A station connected.
    #[serde(rename_all = "camelCase")]
    StationConnected {
        /// The station.
        station_id: String,
        /// The OCPP version it speaks.
        protocol: String,
    },
    /// A station's connection ended.
    #[serde(rename_all = "camelCase")]
    StationDisconnected {
        /// The station.
        station_id: String,
        /// Why.
        reason: String,
    },
    /// A station booted.
    #[serde(rename_all = "camelCase")]
    Boot {
        /// The station.
        station_id: String,
        /// The answer it got.
        status: RegistrationStatus,
    },
    /// A connector's status changed.
    #[serde(rename_all = "camelCase")]
    StatusChanged {
        /// The station.
        station_id: String,
        /// The EVSE.
        evse_id: u32,
        /// The connector.
        connector_id: u32,
        /// The new status.
        status: ConnectorStatus,
    },
    /// A transaction started, was updated, or ended.
    #[serde(rename_all = "camelCase")]
    Transaction {
        /// The station.
        station_id: String,
        /// The transaction's id as the station knows it.
        transaction_id: String,
        /// `Started`, `Updated` or `Ended`.
        event: String,
        /// Energy so far, in Wh.
        energy_wh: Option<f64>,
    },
    /// Meter values arrived.
    #[serde(rename_all = "camelCase")]
    MeterValues {
        /// The station.
        station_id: String,
        /// The EVSE.
        evse_id: u32,
        /// How many readings.
        samples: usize,
    },
    /// A command was queued, sent, or reached its final status.
    #[serde(rename_all = "camelCase")]
    Command {
        /// The station.
        station_id: String,
        /// The command's id.
        command_id: String,
        /// The command's name (`reset`...).
        command: String,
        /// Its status (`pending`, `answered`...).
        status: String,
        /// The station's answer status, once answered.
        outcome: Option<String>,
    },
    /// A notice was recorded.
    #[serde(rename_all = "camelCase")]
    Notice {
        /// The station.
        station_id: String,
        /// Its kind.
        kind: String,
        /// Its status, if any.
        status: Option<String>,
    },
}

/// An event with its time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamped {
    /// When it was published.
    pub at: Time,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The broadcast of events.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Stamped>,
}

impl EventBus {
    /// A bus that keeps up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Whether anyone listens (publishers may skip building events nobody reads).
    pub fn listened(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes an event, built only if someone listens.
    pub fn publish(&self, event: impl FnOnce() -> Event) {
        if self.listened() {
            let _ = self.tx.send(Stamped {
                at: chrono::Utc::now(),
                event: event(),
            });
        }
    }

    /// Subscribes to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Stamped> {
        self.tx.subscribe()
    }
}
