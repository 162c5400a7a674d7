//! The one stream of everything that happens.
//!
//! The API's live stream, webhooks, roaming pushes and smart charging subscribe to it instead of
//! calling each other. Events are published after the data they describe is committed.
//!
//! # Invariants
//!
//! - Ids increase in publication order, also across restarts; the journal holds the latest
//!   events in id order.
//! - A subscriber that falls behind, or comes back with the last id it saw, reads the missed
//!   events from the journal; if the journal no longer holds them it is told so
//!   ([`EventBus::since`]). The store remains the record.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::Time;
use crate::availability::ConnectorStatus;
use crate::provisioning::RegistrationStatus;

/// What a session drew when it was last measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drawing {
    /// When it was measured (the station's time).
    pub at: crate::Time,
    /// The current on each of the station's phases L1, L2, L3, in A.
    pub current_a: [f64; 3],
}

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
        /// The EVSE.
        #[serde(skip_serializing_if = "Option::is_none")]
        evse_id: Option<u32>,
        /// When the transaction started.
        #[serde(skip_serializing_if = "Option::is_none")]
        started_at: Option<Time>,
        /// The current the latest reading it carried measured on each phase, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        drawing: Option<Drawing>,
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
    /// Firmware update progress (FirmwareStatusNotification, 1.6 signed ones, 2.0.1
    /// PublishFirmwareStatusNotification).
    #[serde(rename_all = "camelCase")]
    FirmwareStatus {
        /// The station.
        station_id: String,
        /// `Downloading`, `Installed`...
        status: Option<String>,
        /// The request it reports on (2.0.1 and signed 1.6 updates).
        request_id: Option<i64>,
    },
    /// Log or diagnostics upload progress.
    #[serde(rename_all = "camelCase")]
    LogStatus {
        /// The station.
        station_id: String,
        /// `Uploading`, `Uploaded`...
        status: Option<String>,
        /// The request it reports on (2.0.1 and 1.6 GetLog).
        request_id: Option<i64>,
    },
    /// A security event (SecurityEventNotification).
    #[serde(rename_all = "camelCase")]
    SecurityEvent {
        /// The station.
        station_id: String,
        /// The event's type (`FirmwareUpdated`, `InvalidCentralSystemCertificate`...).
        event_type: Option<String>,
    },
    /// An ISO 15118 car said what it needs (2.0.1 NotifyEVChargingNeeds).
    #[serde(rename_all = "camelCase")]
    ChargingNeeds {
        /// The station.
        station_id: String,
        /// The EVSE.
        evse_id: u32,
        /// The transaction going on there.
        transaction_id: String,
        /// The transaction's energy when the car asked, Wh.
        transaction_energy_wh: f64,
        /// When the car leaves.
        #[serde(skip_serializing_if = "Option::is_none")]
        departure: Option<Time>,
        /// The energy it asked for, Wh.
        #[serde(skip_serializing_if = "Option::is_none")]
        energy_wh: Option<f64>,
        /// The most current per phase it takes (AC), A.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_current_a: Option<f64>,
        /// The least current per phase it charges with (AC), A.
        #[serde(skip_serializing_if = "Option::is_none")]
        min_current_a: Option<f64>,
        /// Who said it: `car` (ISO 15118) or the API token's name.
        said_by: String,
    },
    /// Any other notice was recorded (reports, customer information, reservation status,
    /// data transfers...).
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

impl Event {
    /// The event's type as the API names it (`stationConnected`, `transaction`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::StationConnected { .. } => "stationConnected",
            Event::StationDisconnected { .. } => "stationDisconnected",
            Event::Boot { .. } => "boot",
            Event::StatusChanged { .. } => "statusChanged",
            Event::Transaction { .. } => "transaction",
            Event::MeterValues { .. } => "meterValues",
            Event::Command { .. } => "command",
            Event::FirmwareStatus { .. } => "firmwareStatus",
            Event::LogStatus { .. } => "logStatus",
            Event::SecurityEvent { .. } => "securityEvent",
            Event::ChargingNeeds { .. } => "chargingNeeds",
            Event::Notice { .. } => "notice",
        }
    }

    /// Every type, for documentation and validation of filters.
    pub const KINDS: [&'static str; 12] = [
        "stationConnected",
        "stationDisconnected",
        "boot",
        "statusChanged",
        "transaction",
        "meterValues",
        "command",
        "firmwareStatus",
        "logStatus",
        "securityEvent",
        "chargingNeeds",
        "notice",
    ];

    /// The station the event is about.
    pub fn station_id(&self) -> &str {
        match self {
            Event::StationConnected { station_id, .. }
            | Event::StationDisconnected { station_id, .. }
            | Event::Boot { station_id, .. }
            | Event::StatusChanged { station_id, .. }
            | Event::Transaction { station_id, .. }
            | Event::MeterValues { station_id, .. }
            | Event::Command { station_id, .. }
            | Event::ChargingNeeds { station_id, .. }
            | Event::FirmwareStatus { station_id, .. }
            | Event::LogStatus { station_id, .. }
            | Event::SecurityEvent { station_id, .. }
            | Event::Notice { station_id, .. } => station_id,
        }
    }
}

/// An event with its id and time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamped {
    /// Its id: increasing, also across restarts (the start time in seconds times a million,
    /// plus the event's number in this run: a run would need a million events a second to
    /// catch up with the next run's ids), and exact in JSON (below 2^53).
    pub id: u64,
    /// When it was published.
    pub at: Time,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The bus: a broadcast that wakes subscribers, and a journal of the latest events that
/// subscribers read from, so that one that fell behind, or reconnects with the last id it saw,
/// gets what it missed (as long as the journal still holds it).
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Stamped>>,
    /// Connections, disconnections and boots only: for services that care about presence and
    /// should not wake for every meter value.
    presence: broadcast::Sender<Arc<Stamped>>,
    journal: std::sync::Arc<Journal>,
}

#[derive(Debug)]
struct Journal {
    events: std::sync::Mutex<std::collections::VecDeque<Arc<Stamped>>>,
    capacity: usize,
    next: std::sync::atomic::AtomicU64,
}

impl EventBus {
    /// A bus whose journal keeps the latest `capacity` events.
    pub fn new(capacity: usize) -> EventBus {
        let start_s = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        EventBus {
            tx: broadcast::channel(capacity.clamp(1, 4096)).0,
            presence: broadcast::channel(1024).0,
            journal: std::sync::Arc::new(Journal {
                events: std::sync::Mutex::new(std::collections::VecDeque::with_capacity(
                    capacity.min(4096),
                )),
                capacity: capacity.max(1),
                next: std::sync::atomic::AtomicU64::new(start_s.saturating_mul(1_000_000)),
            }),
        }
    }

    /// Publishes an event: it is journaled and broadcast.
    pub fn publish(&self, event: impl FnOnce() -> Event) {
        let event = event();
        let stamped = {
            let Ok(mut journal) = self.journal.events.lock() else {
                return;
            };
            // Numbered under the lock, so the journal is in id order.
            let id = self
                .journal
                .next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // One allocation per event, shared by the journal and every subscriber.
            let stamped = Arc::new(Stamped {
                id,
                at: chrono::Utc::now(),
                event,
            });
            if journal.len() >= self.journal.capacity {
                journal.pop_front();
            }
            journal.push_back(stamped.clone());
            stamped
        };
        if matches!(
            stamped.event,
            Event::StationConnected { .. } | Event::StationDisconnected { .. } | Event::Boot { .. }
        ) {
            let _ = self.presence.send(stamped.clone());
        }
        let _ = self.tx.send(stamped);
    }

    /// Subscribes to connections, disconnections and boots published from now on.
    pub fn subscribe_presence(&self) -> broadcast::Receiver<Arc<Stamped>> {
        self.presence.subscribe()
    }

    /// Subscribes to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Stamped>> {
        self.tx.subscribe()
    }

    /// The journaled events after `id` (all it holds without one), oldest first, at most
    /// `limit`; and whether events after `id` were already dropped from the journal.
    pub fn since(&self, id: Option<u64>, limit: usize) -> (Vec<Arc<Stamped>>, bool) {
        let Ok(journal) = self.journal.events.lock() else {
            return (Vec::new(), false);
        };
        let start = match id {
            None => 0,
            Some(id) => journal.partition_point(|e| e.id <= id),
        };
        let missed = match (id, journal.front()) {
            (Some(id), Some(first)) => first.id > id.saturating_add(1) && start == 0,
            _ => false,
        };
        (
            journal.range(start..).take(limit).cloned().collect(),
            missed,
        )
    }

    /// The id of the latest event, if any.
    pub fn last_id(&self) -> Option<u64> {
        self.journal.events.lock().ok()?.back().map(|e| e.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(n: u32) -> Event {
        Event::StationConnected {
            station_id: format!("CS{n}"),
            protocol: "1.6".into(),
        }
    }

    #[test]
    fn the_journal_resumes_after_an_id_and_says_when_it_cannot() {
        let bus = EventBus::new(3);
        for n in 0..5 {
            bus.publish(|| connected(n));
        }
        let (all, missed) = bus.since(None, 10);
        assert!(!missed);
        let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 3, "the journal keeps its capacity");
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
        let (after, missed) = bus.since(Some(ids[0]), 10);
        assert_eq!(after.len(), 2);
        assert!(!missed);
        let (after, missed) = bus.since(Some(ids[0] - 2), 10);
        assert_eq!(after.len(), 3);
        assert!(missed, "the event after the given id was dropped");
        assert_eq!(bus.since(Some(ids[2]), 10).0.len(), 0);
        assert_eq!(bus.last_id(), Some(ids[2]));
    }
}
