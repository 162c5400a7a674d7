//! B. Provisioning: stations, their registration, boot decisions and heartbeats.

use serde::{Deserialize, Serialize};

use crate::Time;

/// What a station says about itself when it boots (1.6 BootNotification, 2.0.1
/// BootNotificationRequest.chargingStation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootInfo {
    /// The vendor's name.
    pub vendor: String,
    /// The model.
    pub model: String,
    /// The station's serial number.
    pub serial_number: Option<String>,
    /// The firmware version.
    pub firmware_version: Option<String>,
    /// The modem's SIM card ICCID.
    pub iccid: Option<String>,
    /// The modem's SIM card IMSI.
    pub imsi: Option<String>,
    /// The main meter's type (1.6).
    pub meter_type: Option<String>,
    /// The main meter's serial number (1.6).
    pub meter_serial_number: Option<String>,
    /// Why it booted (2.0.1 `reason`: PowerUp, FirmwareUpdate, ...).
    pub reason: Option<String>,
}

crate::names::named_enum! {
/// The answer to a boot, and the station's standing until its next boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistrationStatus {
    /// The station is accepted: it may send anything.
    Accepted,
    /// The CSMS is not ready yet: the station boots again after the interval; until then the
    /// CSMS may configure it, and refuses its other requests with a security error.
    Pending,
    /// Refused: the station boots again after the interval and sends nothing else.
    Rejected,
}
}

/// A station as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StationRecord {
    /// Its identity.
    pub id: String,
    /// The PHC string of its HTTP Basic password hash (argon2id); `None`: no password set, so
    /// the station connects without credentials.
    pub password_hash: Option<String>,
    /// How its boots are answered.
    pub boot_policy: RegistrationStatus,
    /// The answer to its last boot; `None` if it never booted here.
    pub registration: Option<RegistrationStatus>,
    /// What it said at its last boot.
    pub boot: Option<BootInfo>,
    /// When it last booted.
    pub booted_at: Option<Time>,
    /// The OCPP version it last connected with, as people write it (`1.6`, `2.0.1`).
    pub protocol: Option<String>,
    /// When it was registered.
    pub created_at: Time,
    /// When it was last heard from (updated on connect, boot and disconnect).
    pub last_seen_at: Option<Time>,
    /// What the operator registered of its electrical side.
    pub electrical: Electrical,
}

/// What the operator registered of a station's electrical side: its own maximum (what applies
/// where no charging profile does) and its nominal voltage (to convert between A and W).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Electrical {
    /// The most current per phase, in A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_current_a: Option<f64>,
    /// The most power, all phases together, in W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power_w: Option<f64>,
    /// The nominal voltage, phase to neutral, in V (230 when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<f64>,
}

/// The CSMS's answer to a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootDecision {
    /// Accepted, Pending or Rejected.
    pub status: RegistrationStatus,
    /// When Accepted, the heartbeat interval; otherwise the time to wait before booting again.
    pub interval_s: u32,
    /// The CSMS's current time, for the station's clock.
    pub now: Time,
}

/// The boot rule: the station's configured policy decides; the interval is the heartbeat
/// interval when accepted and the retry interval otherwise.
pub fn decide_boot(
    policy: RegistrationStatus,
    heartbeat_s: u32,
    retry_s: u32,
    now: Time,
) -> BootDecision {
    BootDecision {
        status: policy,
        interval_s: match policy {
            RegistrationStatus::Accepted => heartbeat_s,
            RegistrationStatus::Pending | RegistrationStatus::Rejected => retry_s,
        },
        now,
    }
}
