//! A station's state: its EVSEs and their transactions, the work its CSMS asked for, and what
//! every station of a run shares.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arus_ocpp::{Version, v201};
use tokio::time::Instant;

use super::real;
use crate::ev::{Car, Drawing};
use crate::messages::Outgoing;
use crate::profiles::{Hardware, Profiles};
use crate::rng::Rng;
use crate::scenario::Group;
use crate::stats::Stats;

/// What every station of a run shares.
pub(crate) struct Shared {
    pub url: String,
    pub sources: Vec<IpAddr>,
    pub stats: Arc<Stats>,
    pub seed: u64,
    /// Treat an echoed CALL as its answer (benchmarks against an echo server).
    pub echo: bool,
}

/// Work a CSMS command asked for, done by the behaviour loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FollowUp {
    /// Reset: disconnect and boot again.
    Reboot,
    /// Remote start on an EVSE (or the first free one).
    RemoteStart {
        evse: Option<u32>,
        token: String,
        remote_start_id: Option<i64>,
        /// The TxProfile it carried, installed once the transaction goes on.
        profile: Option<Box<arus_schedules::profile::ChargingProfile>>,
    },
    /// Remote stop of a transaction.
    RemoteStop { transaction_id: String },
    /// TriggerMessage: send this message now.
    Trigger {
        message: Triggered,
        evse: Option<u32>,
    },
    /// GetBaseReport / GetReport: send the report.
    Report { request_id: i64 },
    /// UpdateFirmware: report its progress.
    Firmware {
        request_id: Option<i64>,
        signed: bool,
    },
    /// GetDiagnostics / GetLog: report the upload's progress.
    Upload {
        request_id: Option<i64>,
        diagnostics: bool,
    },
    /// CustomerInformation: send what the station knows.
    Customer { request_id: i64 },
    /// GetMonitoringReport: send the (empty) monitoring report.
    Monitoring { request_id: i64 },
    /// ChangeAvailability: report the new statuses.
    Statuses,
    /// Its charging profiles changed: each car is offered its new limit.
    Limits,
    /// GetChargingProfiles: report these (per EVSE).
    ReportProfiles {
        request_id: i64,
        profiles: Vec<(u32, v201::ChargingProfile)>,
    },
}

/// A message TriggerMessage (or 1.6 ExtendedTriggerMessage) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Triggered {
    BootNotification,
    Heartbeat,
    StatusNotification,
    MeterValues,
    TransactionEvent,
    FirmwareStatusNotification,
    DiagnosticsStatusNotification,
    LogStatusNotification,
    /// One the simulator accepts and does not send (certificates, publishing).
    Other,
}

/// Where an EVSE's session stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Idle,
    Faulted,
    /// Plugged in, waiting to authorize.
    Plugged,
    Charging,
}

/// A transaction in progress.
#[derive(Debug, Clone)]
pub(crate) struct Tx {
    pub id: String,
    pub seq: u32,
    pub token: String,
    /// The car plugged in.
    pub car: Car,
    pub delivered_wh: f64,
    pub remote_start_id: Option<i64>,
    /// When it started (relative profiles count from here).
    pub started: chrono::DateTime<chrono::Utc>,
    /// Up to when the energy it took is counted.
    pub charged_to: Instant,
    /// Why the car draws what it draws.
    pub drawing: Drawing,
    /// When the car arrived, and its state of charge then.
    pub arrived: (Instant, f64),
    /// The TxProfile its remote start carried, until the transaction goes on.
    pub profile: Option<Box<arus_schedules::profile::ChargingProfile>>,
}

/// One EVSE (with one connector).
#[derive(Debug, Clone)]
pub(crate) struct Evse {
    pub id: u32,
    pub phase: Phase,
    pub tx: Option<Tx>,
    /// The energy register, Wh.
    pub meter_wh: f64,
    /// When the state machine next acts (real time).
    pub next: Instant,
    pub inoperative: bool,
}

/// A station's state, shared by its behaviour and its answers to commands.
pub(crate) struct StationState {
    pub id: String,
    pub version: Version,
    pub rng: Rng,
    pub evses: Vec<Evse>,
    pub follow_ups: VecDeque<FollowUp>,
    /// Configuration keys (1.6) and variables (2.0.1, as `Component.Variable`).
    pub config: BTreeMap<String, String>,
    pub echo: bool,
    pub heartbeat: Duration,
    pub local_list_version: i64,
    /// Transaction messages waiting for the connection.
    pub queue: Vec<Outgoing>,
    pub online: bool,
    /// Accepted since its last (re)boot: a reconnection does not boot again.
    pub registered: bool,
    /// Booted at least once in this run.
    pub ever_booted: bool,
    /// The reason its next boot gives.
    pub boot_reason: v201::BootReasonEnum,
    /// The charging profiles it holds.
    pub profiles: Profiles,
    /// Its EVSEs' maximum and voltage.
    pub hw: Hardware,
    /// How much faster than real time its cars charge.
    pub speed: f64,
    /// Whether its cars' sessions are recorded (its group has car models).
    pub record_cars: bool,
}

impl StationState {
    pub(crate) fn new(
        id: String,
        version: Version,
        group: &Group,
        seed: u64,
        echo: bool,
    ) -> StationState {
        let mut rng = Rng::new(seed);
        let now = Instant::now();
        let evses = (1..=group.evses)
            .map(|id| Evse {
                id,
                phase: Phase::Idle,
                tx: None,
                meter_wh: rng.between(1_000.0, 5_000_000.0).round(),
                next: now + real(group, rng.between(0.0, group.session_gap.1.as_secs_f64())),
                inoperative: false,
            })
            .collect();
        let mut config = BTreeMap::new();
        for (k, v) in [
            ("HeartbeatInterval", "300"),
            ("MeterValueSampleInterval", "60"),
            ("ConnectionTimeOut", "60"),
            ("OCPPCommCtrlr.OfflineThreshold", "300"),
            ("AuthCtrlr.AuthorizeRemoteStart", "true"),
            ("SampledDataCtrlr.TxUpdatedInterval", "60"),
        ] {
            config.insert(k.to_string(), v.to_string());
        }
        StationState {
            id,
            version,
            rng,
            evses,
            follow_ups: VecDeque::new(),
            config,
            echo,
            heartbeat: Duration::from_secs(300),
            local_list_version: 0,
            queue: Vec::new(),
            online: false,
            registered: false,
            ever_booted: false,
            boot_reason: v201::BootReasonEnum::PowerUp,
            profiles: Profiles::default(),
            hw: Hardware {
                evse_max_a: group.evse_max_a,
                voltage: group.voltage,
            },
            speed: group.speed,
            record_cars: !group.cars.is_empty(),
        }
    }

    pub fn v16(&self) -> bool {
        self.version == Version::V16
    }

    /// The transactions going on, as the profile merge needs them.
    pub fn ongoing(&self) -> Vec<arus_schedules::composite::Ongoing> {
        self.evses
            .iter()
            .filter_map(|e| {
                let tx = e.tx.as_ref()?;
                (!tx.id.is_empty()).then(|| arus_schedules::composite::Ongoing {
                    evse_id: e.id,
                    transaction_id: tx.id.clone(),
                    started: tx.started,
                })
            })
            .collect()
    }
}
