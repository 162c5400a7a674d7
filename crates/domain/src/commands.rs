//! What the CSMS asks of stations: the version-neutral commands (remote start and stop, reset,
//! unlock, availability, trigger, configuration and the device model, the local list,
//! reservations, firmware, logs, transaction status, customer information, data transfer,
//! certificates, network profiles) and the record each one leaves.
//!
//! A [`Command`] names one concept once; the gateway maps it to the version the station speaks
//! (a 1.6 ChangeConfiguration per variable, a 2.0.1 SetVariables for all of them) and maps the
//! answer back to an [`Outcome`]. A command that the station's version cannot express fails
//! with [`SendError::Unsupported`] before anything is sent.
//!
//! The service that sends commands, keeps their records and queues them for stations that are
//! offline is [`crate::commander::Commander`].
//!
//! # Invariants
//!
//! - Every command submitted leaves a [`CommandRecord`], whatever happens to it; a record only
//!   moves forward (`Queued` → `Pending` → one final status).
//! - Values that later go on the wire are checked by the gateway against the OCPP schema before
//!   sending; what the domain checks here is what no schema can (a command with nothing to do).

use serde::{Deserialize, Serialize};

use crate::Time;

/// A command for a station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Command {
    /// Start a transaction (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction).
    RemoteStart(RemoteStart),
    /// Stop a transaction (1.6 RemoteStopTransaction, 2.0.1 RequestStopTransaction).
    RemoteStop(RemoteStop),
    /// Reset the station or an EVSE (Reset).
    Reset(Reset),
    /// Unlock a connector (UnlockConnector).
    UnlockConnector(UnlockConnector),
    /// Make the station, an EVSE or a connector operative or inoperative (ChangeAvailability).
    ChangeAvailability(ChangeAvailability),
    /// Ask the station to send a message now (TriggerMessage; 1.6 ExtendedTriggerMessage for
    /// the security whitepaper's messages).
    TriggerMessage(TriggerMessage),
    /// Read configuration variables (1.6 GetConfiguration, 2.0.1 GetVariables).
    GetVariables(GetVariables),
    /// Change configuration variables (1.6 ChangeConfiguration per variable, 2.0.1
    /// SetVariables).
    SetVariables(SetVariables),
    /// Ask for a device model report (2.0.1 GetBaseReport; 1.6 GetConfiguration of all keys).
    GetBaseReport(GetBaseReport),
    /// Ask for a report of chosen components and variables (2.0.1 GetReport).
    GetReport(GetReport),
    /// Clear the authorization cache (ClearCache).
    ClearCache(Empty),
    /// Send the local authorization list (SendLocalList).
    SendLocalList(SendLocalList),
    /// Ask the local list's version (GetLocalListVersion).
    GetLocalListVersion(Empty),
    /// Reserve an EVSE, or any (ReserveNow).
    ReserveNow(ReserveNow),
    /// Cancel a reservation (CancelReservation).
    CancelReservation(CancelReservation),
    /// Update the firmware (1.6 UpdateFirmware or, with a signature, SignedUpdateFirmware;
    /// 2.0.1 UpdateFirmware).
    UpdateFirmware(UpdateFirmware),
    /// Upload a log (1.6 GetDiagnostics for the diagnostics log, GetLog for the security log;
    /// 2.0.1 GetLog).
    GetLog(GetLog),
    /// Ask about a transaction's messages (2.0.1 GetTransactionStatus).
    GetTransactionStatus(GetTransactionStatus),
    /// Ask for, or clear, what the station keeps about a customer (2.0.1
    /// CustomerInformation).
    CustomerInformation(CustomerInformation),
    /// Vendor-specific data (DataTransfer).
    DataTransfer(DataTransfer),
    /// Install a root certificate (InstallCertificate).
    InstallCertificate(InstallCertificate),
    /// List the installed certificates (GetInstalledCertificateIds).
    GetInstalledCertificates(GetInstalledCertificates),
    /// Delete an installed certificate (DeleteCertificate).
    DeleteCertificate(DeleteCertificate),
    /// Set a network connection profile (2.0.1 SetNetworkProfile).
    SetNetworkProfile(SetNetworkProfile),
}

impl Command {
    /// The command's name in the API (`reset`, `remoteStart`...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::RemoteStart(_) => "remoteStart",
            Command::RemoteStop(_) => "remoteStop",
            Command::Reset(_) => "reset",
            Command::UnlockConnector(_) => "unlockConnector",
            Command::ChangeAvailability(_) => "changeAvailability",
            Command::TriggerMessage(_) => "triggerMessage",
            Command::GetVariables(_) => "getVariables",
            Command::SetVariables(_) => "setVariables",
            Command::GetBaseReport(_) => "getBaseReport",
            Command::GetReport(_) => "getReport",
            Command::ClearCache(_) => "clearCache",
            Command::SendLocalList(_) => "sendLocalList",
            Command::GetLocalListVersion(_) => "getLocalListVersion",
            Command::ReserveNow(_) => "reserveNow",
            Command::CancelReservation(_) => "cancelReservation",
            Command::UpdateFirmware(_) => "updateFirmware",
            Command::GetLog(_) => "getLog",
            Command::GetTransactionStatus(_) => "getTransactionStatus",
            Command::CustomerInformation(_) => "customerInformation",
            Command::DataTransfer(_) => "dataTransfer",
            Command::InstallCertificate(_) => "installCertificate",
            Command::GetInstalledCertificates(_) => "getInstalledCertificates",
            Command::DeleteCertificate(_) => "deleteCertificate",
            Command::SetNetworkProfile(_) => "setNetworkProfile",
        }
    }

    /// The id under which the station's later notifications about this command arrive
    /// (firmware, log, report and customer information request ids; reservation ids), and
    /// the kind of those notifications.
    pub fn follow_up(&self) -> Option<(crate::notices::NoticeKind, Option<i64>)> {
        use crate::notices::NoticeKind as K;
        match self {
            Command::UpdateFirmware(c) => Some((K::FirmwareStatus, c.request_id)),
            Command::GetLog(c) => Some((K::LogStatus, c.request_id)),
            Command::GetBaseReport(c) => Some((K::Report, c.request_id)),
            Command::GetReport(c) => Some((K::Report, c.request_id)),
            Command::CustomerInformation(c) => Some((K::CustomerInformation, c.request_id)),
            Command::ReserveNow(c) => Some((K::ReservationStatus, Some(c.reservation_id))),
            _ => None,
        }
    }

    /// Fills in what the caller may leave out and the station needs (request ids), so that the
    /// record holds the values that went out.
    pub fn complete(&mut self, next_id: impl FnOnce() -> i64) {
        match self {
            Command::RemoteStart(c) if c.remote_start_id.is_none() => {
                c.remote_start_id = Some(next_id());
            }
            Command::UpdateFirmware(c) if c.request_id.is_none() => c.request_id = Some(next_id()),
            Command::GetLog(c) if c.request_id.is_none() => c.request_id = Some(next_id()),
            Command::GetBaseReport(c) if c.request_id.is_none() => c.request_id = Some(next_id()),
            Command::GetReport(c) if c.request_id.is_none() => c.request_id = Some(next_id()),
            Command::CustomerInformation(c) if c.request_id.is_none() => {
                c.request_id = Some(next_id());
            }
            _ => {}
        }
    }

    /// The command as it may be shown: values of secret variables (see
    /// [`crate::device_model::is_secret`]) replaced by `********`.
    pub fn redacted(&self) -> Command {
        let mut c = self.clone();
        if let Command::SetVariables(s) = &mut c {
            for v in &mut s.variables {
                if crate::device_model::is_secret(&v.component, &v.variable) {
                    v.value = "********".into();
                }
            }
        }
        c
    }

    /// What is wrong with the command that no schema catches, if anything.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Command::SetVariables(c) if c.variables.is_empty() => {
                Err("`variables` must name at least one variable".into())
            }
            Command::CustomerInformation(c)
                if c.customer_identifier.is_none() && c.id_token.is_none() && c.certificate.is_none() =>
            {
                Err("name the customer: `customerIdentifier`, `idToken` or `certificate` (N09.FR.09)".into())
            }
            Command::CustomerInformation(c) if !c.report && !c.clear => {
                Err("`report` or `clear` (or both) must be true".into())
            }
            Command::UpdateFirmware(c) if c.signature.is_some() != c.signing_certificate.is_some() => {
                Err("`signature` and `signingCertificate` go together".into())
            }
            _ => Ok(()),
        }
    }
}

/// A command without parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Empty {}

/// Parameters of a remote start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteStart {
    /// The EVSE (1.6: the connector); without it the station chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The id token to start for.
    pub id_token: String,
    /// Its type in 2.0.1 terms (default `Central`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<String>,
    /// 2.0.1 remoteStartId; assigned by Arus when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_start_id: Option<i64>,
    /// A charging profile for the transaction (purpose `TxProfile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfile>,
}

/// Parameters of a remote stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteStop {
    /// The transaction, as the station knows it (a number in 1.6).
    pub transaction_id: String,
}

/// When a reset happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ResetKind {
    /// Now, stopping transactions (1.6 Hard).
    Immediate,
    /// Once no transaction runs (1.6 Soft).
    OnIdle,
}

/// Parameters of a reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reset {
    /// When.
    pub kind: ResetKind,
    /// Only this EVSE (2.0.1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
}

/// Parameters of an unlock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnlockConnector {
    /// The EVSE (1.6: the connector).
    pub evse_id: u32,
    /// The connector of the EVSE (2.0.1; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

/// Parameters of an availability change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeAvailability {
    /// Operative (true) or inoperative.
    pub operative: bool,
    /// The EVSE; without it, the whole station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the EVSE (2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

/// The messages a station can be asked to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TriggerKind {
    /// BootNotification.
    BootNotification,
    /// Heartbeat.
    Heartbeat,
    /// StatusNotification.
    StatusNotification,
    /// MeterValues.
    MeterValues,
    /// FirmwareStatusNotification.
    FirmwareStatusNotification,
    /// 1.6 DiagnosticsStatusNotification.
    DiagnosticsStatusNotification,
    /// LogStatusNotification.
    LogStatusNotification,
    /// A new station certificate signing request (1.6 SignChargePointCertificate).
    SignChargingStationCertificate,
    /// 2.0.1 SignV2GCertificate.
    SignV2GCertificate,
    /// 2.0.1 SignCombinedCertificate.
    SignCombinedCertificate,
    /// 2.0.1 TransactionEvent.
    TransactionEvent,
    /// 2.0.1 PublishFirmwareStatusNotification.
    PublishFirmwareStatusNotification,
}

/// Parameters of a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerMessage {
    /// The message wanted.
    pub message: TriggerKind,
    /// The EVSE it is about (1.6: the connector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the EVSE (2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    /// 1.6: use ExtendedTriggerMessage even for a message plain TriggerMessage has (it is
    /// used anyway for the security whitepaper's messages).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extended: bool,
}

/// A variable of a component (2.0.1); in 1.6, a configuration key is the variable's name and
/// the component is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableRef {
    /// The component's name (2.0.1).
    #[serde(default)]
    pub component: String,
    /// The component's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_instance: Option<String>,
    /// The EVSE of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the component's EVSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    /// The variable's name (1.6: the configuration key).
    pub variable: String,
    /// The variable's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_instance: Option<String>,
    /// `Actual` (default), `Target`, `MinSet` or `MaxSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

/// Parameters of a variable read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetVariables {
    /// The variables; an empty list asks a 1.6 station for every key.
    #[serde(default)]
    pub variables: Vec<VariableRef>,
}

/// A variable and the value to give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableValue {
    /// The component's name (2.0.1).
    #[serde(default)]
    pub component: String,
    /// The component's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_instance: Option<String>,
    /// The EVSE of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the component's EVSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    /// The variable's name (1.6: the configuration key).
    pub variable: String,
    /// The variable's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_instance: Option<String>,
    /// `Actual` (default), `Target`, `MinSet` or `MaxSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The new value.
    pub value: String,
}

impl VariableValue {
    /// The variable it sets.
    pub fn reference(&self) -> VariableRef {
        VariableRef {
            component: self.component.clone(),
            component_instance: self.component_instance.clone(),
            evse_id: self.evse_id,
            connector_id: self.connector_id,
            variable: self.variable.clone(),
            variable_instance: self.variable_instance.clone(),
            attribute: self.attribute.clone(),
        }
    }
}

/// Parameters of a variable change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetVariables {
    /// The variables and their values.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub variables: Vec<VariableValue>,
}

/// Which base report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReportBase {
    /// Every configurable variable.
    ConfigurationInventory,
    /// Everything.
    FullInventory,
    /// Components and variables that report a problem or availability.
    SummaryInventory,
}

/// Parameters of a base report request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetBaseReport {
    /// Which report.
    pub report: ReportBase,
    /// The request id the report parts will carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

/// Parameters of a report request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetReport {
    /// The request id the report parts will carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// Only components with these criteria (`Active`, `Available`, `Enabled`, `Problem`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<String>,
    /// Only these components and variables (the variable name may be empty for a whole
    /// component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableRef>,
}

/// An entry of the local authorization list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalListEntry {
    /// The id token.
    pub id_token: String,
    /// Its type in 2.0.1 terms (default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<String>,
    /// Its status (`Accepted`, `Blocked`...); without it, a differential update removes the
    /// entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expiry_date: Option<Time>,
    /// Its group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<String>,
}

/// How the local list changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ListUpdate {
    /// The list becomes exactly this.
    Full,
    /// The entries are added, changed or removed.
    Differential,
}

/// Parameters of a local list update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendLocalList {
    /// The list's new version.
    pub version: i64,
    /// Full or differential.
    pub update: ListUpdate,
    /// The entries.
    #[serde(default)]
    pub entries: Vec<LocalListEntry>,
}

/// Parameters of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReserveNow {
    /// The reservation's id.
    pub reservation_id: i64,
    /// The EVSE (1.6: the connector; 0 or absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// Until when.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expiry: Time,
    /// For whom.
    pub id_token: String,
    /// Its type in 2.0.1 terms (default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<String>,
    /// Or anyone of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<String>,
    /// The connector type wanted (2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_type: Option<String>,
}

/// Parameters of a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelReservation {
    /// The reservation.
    pub reservation_id: i64,
}

/// Parameters of a firmware update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateFirmware {
    /// Where to download it.
    pub location: String,
    /// When to download it.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub retrieve_at: Time,
    /// When to install it (signed updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub install_at: Option<Time>,
    /// How often to retry the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_s: Option<u32>,
    /// The certificate the firmware was signed with (PEM); makes a 1.6 update a
    /// SignedUpdateFirmware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<String>,
    /// The firmware's signature (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The request id the status notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LogKind {
    /// The diagnostics log (1.6 GetDiagnostics).
    DiagnosticsLog,
    /// The security log.
    SecurityLog,
}

/// Parameters of a log upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLog {
    /// Which log.
    pub log: LogKind,
    /// Where to upload it.
    pub location: String,
    /// The oldest entry wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub oldest: Option<Time>,
    /// The latest entry wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub latest: Option<Time>,
    /// How often to retry the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_s: Option<u32>,
    /// The request id the status notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

/// Parameters of a transaction status question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetTransactionStatus {
    /// The transaction; without it, whether any messages are queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

/// A certificate, by the hashes OCPP identifies it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateHash {
    /// `SHA256`, `SHA384` or `SHA512`.
    pub hash_algorithm: String,
    /// The issuer name's hash, hex.
    pub issuer_name_hash: String,
    /// The issuer key's hash, hex.
    pub issuer_key_hash: String,
    /// The serial number, hex.
    pub serial_number: String,
}

/// Parameters of a customer information request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerInformation {
    /// Send what is kept.
    pub report: bool,
    /// Delete what is kept.
    pub clear: bool,
    /// The customer, by an identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<String>,
    /// Or by id token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The id token's type (default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<String>,
    /// Or by certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateHash>,
    /// The request id the notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

/// Parameters of a data transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataTransfer {
    /// The vendor.
    pub vendor_id: String,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The data (1.6 carries a string: anything else is sent as its JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The kinds of root certificate a station keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CertificateKind {
    /// The CSMS's root (1.6 CentralSystemRootCertificate).
    CsmsRootCertificate,
    /// The manufacturer's root.
    ManufacturerRootCertificate,
    /// An ISO 15118 V2G root (2.0.1).
    V2GRootCertificate,
    /// A mobility operator root (2.0.1).
    MoRootCertificate,
    /// The V2G certificate chain (2.0.1, listing only).
    V2GCertificateChain,
}

/// Parameters of a certificate installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallCertificate {
    /// What it is.
    pub kind: CertificateKind,
    /// The PEM.
    pub certificate: String,
}

/// Parameters of a certificate listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetInstalledCertificates {
    /// Only these kinds (all when empty).
    #[serde(default)]
    pub kinds: Vec<CertificateKind>,
}

/// Parameters of a certificate deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteCertificate {
    /// The certificate.
    pub certificate: CertificateHash,
}

/// A network connection profile (2.0.1 NetworkConnectionProfileType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetNetworkProfile {
    /// The slot (NetworkConfigurationPriority refers to it).
    pub configuration_slot: i64,
    /// The CSMS URL.
    pub csms_url: String,
    /// `OCPP20`, `OCPP201` (default), `OCPP12`, `OCPP15` or `OCPP16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocpp_version: Option<String>,
    /// `Wired0` (default), `Wired1`, ..., `Wireless3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Security profile 1 to 3.
    pub security_profile: i64,
    /// Seconds a message may wait for its answer.
    pub message_timeout_s: i64,
}

/// A charging profile in version-neutral terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChargingProfile {
    /// Its id.
    pub id: i64,
    /// Its stack level.
    #[serde(default)]
    pub stack_level: u32,
    /// `Absolute`, `Recurring` or `Relative`.
    pub kind: String,
    /// `Daily` or `Weekly` for recurring profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrency: Option<String>,
    /// From when it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_from: Option<Time>,
    /// Until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_to: Option<Time>,
    /// When the schedule starts (absolute and recurring profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub start: Option<Time>,
    /// How long the schedule lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<i64>,
    /// `A` or `W`.
    pub rate_unit: String,
    /// The lowest rate the EV can charge with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rate: Option<f64>,
    /// The periods.
    pub periods: Vec<SchedulePeriod>,
}

/// A period of a charging schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulePeriod {
    /// Seconds from the schedule's start.
    pub start_s: i64,
    /// The limit, in the profile's unit.
    pub limit: f64,
    /// How many phases may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<u32>,
}

/// What the station answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    /// The answer's status (`Accepted`, `Rejected`, `Unlocked`...); for a command that took
    /// several requests (1.6 configuration changes), the first that is not `Accepted`.
    pub status: String,
    /// The reason the station gave, if any (2.0.1 statusInfo: `reasonCode`, then
    /// `additionalInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What else the answer said, in the command's terms: `variables` for reads and changes,
    /// `version` of the local list, `certificates`, `filename`, `data` of a data transfer,
    /// `ongoing` and `messagesInQueue` of a transaction status.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// Where a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommandStatus {
    /// Waiting for the station to connect (until it expires).
    Queued,
    /// Sent, or waiting its turn behind the station's other commands.
    Pending,
    /// The station answered (the outcome says what).
    Answered,
    /// The station answered with a CALLERROR, or its answer was invalid.
    Failed,
    /// The station did not answer in time.
    Timeout,
    /// The station disconnected before answering, or was not connected.
    NotDelivered,
    /// The station's version cannot do this.
    Unsupported,
    /// The command does not make a valid request for the station's version (a 1.6
    /// transaction id that is not a number...).
    Invalid,
    /// It stayed queued past its expiry.
    Expired,
}

impl CommandStatus {
    /// The name used in the store and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "queued",
            CommandStatus::Pending => "pending",
            CommandStatus::Answered => "answered",
            CommandStatus::Failed => "failed",
            CommandStatus::Timeout => "timeout",
            CommandStatus::NotDelivered => "notDelivered",
            CommandStatus::Unsupported => "unsupported",
            CommandStatus::Invalid => "invalid",
            CommandStatus::Expired => "expired",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<CommandStatus> {
        [
            CommandStatus::Queued,
            CommandStatus::Pending,
            CommandStatus::Answered,
            CommandStatus::Failed,
            CommandStatus::Timeout,
            CommandStatus::NotDelivered,
            CommandStatus::Unsupported,
            CommandStatus::Invalid,
            CommandStatus::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Whether nothing more will happen to the command.
    pub const fn is_final(self) -> bool {
        !matches!(self, CommandStatus::Queued | CommandStatus::Pending)
    }
}

/// A command and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandRecord {
    /// Its id.
    pub id: String,
    /// The station.
    pub station_id: String,
    /// The command: its `type` (the route's last segment) and its parameters, with the request
    /// ids Arus assigned.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub command: Command,
    /// Where it is.
    pub status: CommandStatus,
    /// What the station answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why it failed, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who asked (the API token's name).
    pub requested_by: String,
    /// The caller's `Idempotency-Key`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A fingerprint of the request as submitted, kept with an idempotency key to tell a
    /// retry from another request with the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    /// The bulk operation it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// When it was asked for.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Time,
    /// Until when a queued command may wait for the station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Time>,
    /// When it was handed to the station's connection (absent when it never left: not
    /// connected, unsupported or invalid for the station's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sent_at: Option<Time>,
    /// When it reached its final status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<Time>,
}

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The station is not connected.
    #[error("the station is not connected")]
    NotConnected,
    /// The station's version cannot express the command.
    #[error("{0}")]
    Unsupported(String),
    /// The command does not make a valid request.
    #[error("the request would not be valid: {0}")]
    Invalid(String),
    /// No answer in time.
    #[error("the station did not answer in time")]
    Timeout,
    /// The connection ended before the answer.
    #[error("the station disconnected before answering")]
    Disconnected,
    /// The station answered with a CALLERROR.
    #[error("the station answered {code}: {description}")]
    Refused {
        /// The error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The station's answer is not valid against its schema.
    #[error("the station's answer is invalid: {0}")]
    InvalidResponse(String),
    /// Too many requests wait for the station.
    #[error("too many requests are waiting for this station")]
    Busy,
}

impl SendError {
    /// The record's status after this error.
    pub fn status(&self) -> CommandStatus {
        match self {
            SendError::NotConnected | SendError::Disconnected | SendError::Busy => {
                CommandStatus::NotDelivered
            }
            SendError::Unsupported(_) => CommandStatus::Unsupported,
            SendError::Invalid(_) => CommandStatus::Invalid,
            SendError::Timeout => CommandStatus::Timeout,
            SendError::Refused { .. } | SendError::InvalidResponse(_) => CommandStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_json_with_their_type() {
        let c = Command::Reset(Reset {
            kind: ResetKind::OnIdle,
            evse_id: None,
        });
        let v = serde_json::to_value(&c).expect("serialize");
        assert_eq!(v, serde_json::json!({"type": "reset", "kind": "OnIdle"}));
        assert_eq!(serde_json::from_value::<Command>(v).expect("parse"), c);
        assert_eq!(c.name(), "reset");
    }

    #[test]
    fn request_ids_are_assigned_once() {
        let mut c = Command::GetLog(GetLog {
            log: LogKind::DiagnosticsLog,
            location: "ftp://x".into(),
            oldest: None,
            latest: None,
            retries: None,
            retry_interval_s: None,
            request_id: None,
        });
        c.complete(|| 7);
        c.complete(|| 8);
        assert_eq!(
            c.follow_up(),
            Some((crate::notices::NoticeKind::LogStatus, Some(7)))
        );
    }

    #[test]
    fn customer_information_needs_a_customer() {
        let c = Command::CustomerInformation(CustomerInformation {
            report: true,
            clear: false,
            customer_identifier: None,
            id_token: None,
            id_token_type: None,
            certificate: None,
            request_id: None,
        });
        assert!(c.check().is_err());
    }

    #[test]
    fn only_queued_and_pending_are_not_final() {
        for s in ["queued", "pending"] {
            assert!(!CommandStatus::parse(s).expect("known").is_final());
        }
        for s in [
            "answered",
            "failed",
            "timeout",
            "notDelivered",
            "unsupported",
            "invalid",
            "expired",
        ] {
            assert!(CommandStatus::parse(s).expect("known").is_final());
        }
    }
}
