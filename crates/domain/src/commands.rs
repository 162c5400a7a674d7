//! What the CSMS asks of stations: the version-neutral commands, organised by the functional
//! blocks of OCPP 2.0.1 (part 2), each with its typed outcome, and the record each one leaves.
//!
//! # Layout
//!
//! | block | module | commands |
//! |---|---|---|
//! | B Provisioning | [`provisioning`] | reset, getVariables, setVariables, getBaseReport, getReport, setNetworkProfile |
//! | C Authorization | [`authorization`] | clearCache |
//! | D Local authorization list | [`local_list`] | sendLocalList, getLocalListVersion |
//! | E Transactions | [`transactions`] | getTransactionStatus |
//! | F Remote control | [`remote_control`] | remoteStart, remoteStop, unlockConnector, triggerMessage |
//! | G Availability | [`availability`] | changeAvailability |
//! | H Reservation | [`reservation`] | reserveNow, cancelReservation |
//! | K Smart charging | [`smart_charging`] | setChargingProfile, clearChargingProfile, getChargingProfiles, getCompositeSchedule |
//! | L Firmware management | [`firmware`] | updateFirmware |
//! | M ISO 15118 certificate management | [`certificates`] | installCertificate, getInstalledCertificates, deleteCertificate |
//! | N Diagnostics | [`diagnostics`] | getLog, customerInformation |
//! | P Data transfer | [`data_transfer`] | dataTransfer |
//!
//! Each command is a request type (its parameters, in the API's camelCase JSON) that implements
//! [`Spec`] (what it is called, which later notices follow it, what it fills in, what no schema
//! can check, what its answer confirms of the device model) and an outcome type: what the
//! station answered, in the same shape whichever version it speaks. [`for_each_command!`] lists
//! them once; [`Command`] and [`Outcome`] are generated from that list, and so are the
//! gateway's dispatch (which maps each command to each OCPP version's messages) and the API's
//! routes. Adding a command is its request and outcome in its block's module, one line in the
//! list, and its mapping in the gateway's module of the same block: the compiler refuses a
//! command that lacks any of them.
//!
//! Enumerations of OCPP concepts are spelled as the specification writes them (2.0.1's
//! spelling is canonical; where 1.6 spells a value otherwise, that spelling is accepted too).
//!
//! The service that sends commands, keeps their records and queues them for stations that are
//! offline is [`crate::commander::Commander`].
//!
//! # Invariants
//!
//! - Every command submitted leaves a [`CommandRecord`], whatever happens to it; a record only
//!   moves forward (`Queued` → `Pending` → one final status).
//! - An [`Outcome`] is the variant of its command: the gateway builds it from the answer's
//!   generated type, never from JSON.
//! - Values that later go on the wire are checked by the gateway against the OCPP schema before
//!   sending; what the domain checks here ([`Spec::check`]) is what no schema can.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::device_model::DeviceVariable;
use crate::notices::NoticeKind;

pub mod authorization;
pub mod availability;
pub mod certificates;
pub mod data_transfer;
pub mod diagnostics;
pub mod firmware;
pub mod local_list;
pub mod provisioning;
pub mod remote_control;
pub mod reservation;
pub mod smart_charging;
pub mod transactions;

pub use authorization::*;
pub use availability::*;
pub use certificates::*;
pub use data_transfer::*;
pub use diagnostics::*;
pub use firmware::*;
pub use local_list::*;
pub use provisioning::*;
pub use remote_control::*;
pub use reservation::*;
pub use smart_charging::*;
pub use transactions::*;

/// Calls `$callback!` with every command, one line each:
/// `Variant(request type => outcome type) "apiName" "summary";`.
///
/// This is the one registration of a command. [`Command`] and [`Outcome`] are generated from
/// it here; the gateway generates its dispatch from it and the API its routes and OpenAPI
/// paths.
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            RemoteStart($crate::commands::RemoteStart => $crate::commands::RemoteStartOutcome) "remoteStart"
                "Start a transaction (F01/F02; 1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction)";
            RemoteStop($crate::commands::RemoteStop => $crate::commands::RemoteStopOutcome) "remoteStop"
                "Stop a transaction (F03; 1.6 RemoteStopTransaction, 2.0.1 RequestStopTransaction)";
            Reset($crate::commands::Reset => $crate::commands::ResetOutcome) "reset"
                "Reset the station or an EVSE (B11/B12 Reset; 1.6 Hard/Soft)";
            UnlockConnector($crate::commands::UnlockConnector => $crate::commands::UnlockConnectorOutcome) "unlockConnector"
                "Unlock a connector (F05 UnlockConnector)";
            ChangeAvailability($crate::commands::ChangeAvailability => $crate::commands::ChangeAvailabilityOutcome) "changeAvailability"
                "Make the station, an EVSE or a connector operative or inoperative (G03/G04 ChangeAvailability)";
            TriggerMessage($crate::commands::TriggerMessage => $crate::commands::TriggerMessageOutcome) "triggerMessage"
                "Ask for a message now (F06 TriggerMessage; 1.6 ExtendedTriggerMessage)";
            GetVariables($crate::commands::GetVariables => $crate::commands::GetVariablesOutcome) "getVariables"
                "Read configuration (B06; 1.6 GetConfiguration, 2.0.1 GetVariables)";
            SetVariables($crate::commands::SetVariables => $crate::commands::SetVariablesOutcome) "setVariables"
                "Change configuration (B05; 1.6 ChangeConfiguration per key, 2.0.1 SetVariables)";
            GetBaseReport($crate::commands::GetBaseReport => $crate::commands::ReportOutcome) "getBaseReport"
                "Ask for a device model report (B07; 2.0.1 GetBaseReport; 1.6 GetConfiguration of every key)";
            GetReport($crate::commands::GetReport => $crate::commands::ReportOutcome) "getReport"
                "Ask for a report of chosen components (B08; 2.0.1 GetReport)";
            ClearCache($crate::commands::ClearCache => $crate::commands::ClearCacheOutcome) "clearCache"
                "Clear the authorization cache (C11 ClearCache)";
            SendLocalList($crate::commands::SendLocalList => $crate::commands::SendLocalListOutcome) "sendLocalList"
                "Send the local authorization list (D01 SendLocalList)";
            GetLocalListVersion($crate::commands::GetLocalListVersion => $crate::commands::GetLocalListVersionOutcome) "getLocalListVersion"
                "Ask the local list's version (D02 GetLocalListVersion)";
            ReserveNow($crate::commands::ReserveNow => $crate::commands::ReserveNowOutcome) "reserveNow"
                "Reserve an EVSE (H01 ReserveNow)";
            CancelReservation($crate::commands::CancelReservation => $crate::commands::CancelReservationOutcome) "cancelReservation"
                "Cancel a reservation (H02 CancelReservation)";
            UpdateFirmware($crate::commands::UpdateFirmware => $crate::commands::UpdateFirmwareOutcome) "updateFirmware"
                "Update the firmware (L01 UpdateFirmware; 1.6 SignedUpdateFirmware when signed)";
            GetLog($crate::commands::GetLog => $crate::commands::GetLogOutcome) "getLog"
                "Upload a log (N01 GetLog; 1.6 GetDiagnostics for the diagnostics log)";
            GetTransactionStatus($crate::commands::GetTransactionStatus => $crate::commands::GetTransactionStatusOutcome) "getTransactionStatus"
                "Ask about a transaction's queued messages (E14; 2.0.1 GetTransactionStatus)";
            CustomerInformation($crate::commands::CustomerInformation => $crate::commands::CustomerInformationOutcome) "customerInformation"
                "Ask for or clear a customer's data (N09/N10; 2.0.1 CustomerInformation)";
            DataTransfer($crate::commands::DataTransfer => $crate::commands::DataTransferOutcome) "dataTransfer"
                "Vendor-specific data (P01 DataTransfer)";
            InstallCertificate($crate::commands::InstallCertificate => $crate::commands::InstallCertificateOutcome) "installCertificate"
                "Install a root certificate (M05 InstallCertificate)";
            GetInstalledCertificates($crate::commands::GetInstalledCertificates => $crate::commands::GetInstalledCertificatesOutcome) "getInstalledCertificates"
                "List installed certificates (M03 GetInstalledCertificateIds)";
            DeleteCertificate($crate::commands::DeleteCertificate => $crate::commands::DeleteCertificateOutcome) "deleteCertificate"
                "Delete a certificate (M04 DeleteCertificate)";
            SetNetworkProfile($crate::commands::SetNetworkProfile => $crate::commands::SetNetworkProfileOutcome) "setNetworkProfile"
                "Set a network connection profile (B09; 2.0.1 SetNetworkProfile)";
            SetChargingProfile($crate::commands::SetChargingProfile => $crate::commands::SetChargingProfileOutcome) "setChargingProfile"
                "Install a charging profile (K01 SetChargingProfile)";
            ClearChargingProfile($crate::commands::ClearChargingProfile => $crate::commands::ClearChargingProfileOutcome) "clearChargingProfile"
                "Remove charging profiles by id or by EVSE, purpose and stack level (K10 ClearChargingProfile)";
            GetChargingProfiles($crate::commands::GetChargingProfiles => $crate::commands::GetChargingProfilesOutcome) "getChargingProfiles"
                "Ask the station to report its charging profiles (K09; 2.0.1 GetChargingProfiles)";
            GetCompositeSchedule($crate::commands::GetCompositeSchedule => $crate::commands::GetCompositeScheduleOutcome) "getCompositeSchedule"
                "Ask the station for the schedule it will follow (K08 GetCompositeSchedule)";
        }
    };
}

/// What a command is, besides its parameters. Every request type implements it; the defaults
/// fit a command that is answered once and leaves nothing behind.
pub trait Spec {
    /// What the station answers, in version-neutral terms.
    type Outcome: Answer;

    /// The kind of the station's later notices about this command, and the id they carry
    /// (firmware, log, report and customer information request ids; reservation ids).
    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        None
    }

    /// Fills in what the caller may leave out and the station needs (request ids), so that the
    /// record holds the values that went out.
    fn complete(&mut self, _next_id: &mut dyn FnMut() -> i64) {}

    /// What is wrong with the command that no schema catches, if anything.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Replaces values that must not be shown (secrets) by `********`.
    fn redact(&mut self) {}

    /// Replaces values of the answer that must not be kept (secrets a station reported) by
    /// `********`; the record keeps the answer only so.
    fn redact_outcome(_outcome: &mut Self::Outcome) {}

    /// The device model variables the answer confirms (values read or set).
    fn confirms(&self, _outcome: &Self::Outcome) -> Vec<DeviceVariable> {
        Vec::new()
    }
}

/// Gives `id` the next id if it has none (for [`Spec::complete`]).
pub fn assign(id: &mut Option<i64>, next_id: &mut dyn FnMut() -> i64) {
    if id.is_none() {
        *id = Some(next_id());
    }
}

/// What every outcome says.
pub trait Answer {
    /// The status the station answered, as OCPP spells it; `None` for answers that have none
    /// (a list version, a transaction status, variables read).
    fn status(&self) -> Option<&'static str>;
}

/// Defines an enumeration of OCPP values, spelled as the specification writes them, with
/// `as_str`. Values 1.6 spells otherwise carry a `#[serde(alias = "…")]`.
macro_rules! ocpp_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident),* $(,)? }) => {
        $crate::names::named_enum! {
            $(#[$m])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
            #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
            #[allow(non_camel_case_types, clippy::upper_case_acronyms, missing_docs)]
            pub enum $name {
                $($(#[$vm])* $variant,)*
            }
        }
    };
}
pub(crate) use ocpp_enum;

/// Defines an outcome that is a status and the station's reason for it; the status's
/// enumeration may be defined with it.
macro_rules! status_outcome {
    ($(#[$om:meta])* $name:ident,
     $(#[$em:meta])* $status:ident { $($(#[$vm:meta])* $v:ident),* $(,)? }) => {
        $crate::commands::ocpp_enum! { $(#[$em])* $status { $($(#[$vm])* $v),* } }
        $crate::commands::status_outcome! { $(#[$om])* $name($status) }
    };
    ($(#[$m:meta])* $name:ident($status:ty)) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name {
            /// What the station answered.
            pub status: $status,
            /// The reason it gave, if any (2.0.1 statusInfo: `reasonCode`, then
            /// `additionalInfo`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reason: Option<String>,
        }

        impl $crate::commands::Answer for $name {
            fn status(&self) -> Option<&'static str> {
                Some(self.status.as_str())
            }
        }
    };
}
pub(crate) use status_outcome;

/// Defines the outcome of a command whose [`Spec`] is all defaults: a status (an enumeration
/// defined here, or one named) and a reason.
macro_rules! status_command {
    ($(#[$om:meta])* $request:ident => $outcome:ident,
     $(#[$em:meta])* $status:ident { $($v:ident),* $(,)? }) => {
        $crate::commands::ocpp_enum! { $(#[$em])* $status { $($v),* } }
        $crate::commands::status_command! { $(#[$om])* $request => $outcome($status) }
    };
    ($(#[$om:meta])* $request:ident => $outcome:ident($status:ty)) => {
        $crate::commands::status_outcome! { $(#[$om])* $outcome($status) }

        impl $crate::commands::Spec for $request {
            type Outcome = $outcome;
        }
    };
}
pub(crate) use status_command;

macro_rules! define_commands {
    ($($variant:ident($request:ty => $outcome:ty) $name:literal $summary:literal;)*) => {
        /// A command for a station: its `type` (the API's name) and its parameters.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "camelCase")]
        pub enum Command {
            $(#[doc = $summary] $variant($request),)*
        }

        /// What a station answered to a command, tagged with the command's `type`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "camelCase")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum Outcome {
            $(#[doc = $summary] $variant($outcome),)*
        }

        impl Command {
            /// Every command's name in the API, in the order of the list.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The command named `name` with these parameters (an API route's last segment and
            /// its body); `None` when no command has that name.
            pub fn from_parts(
                name: &str,
                params: serde_json::Value,
            ) -> Option<Result<Command, serde_json::Error>> {
                match name {
                    $($name => Some(serde_json::from_value(params).map(Command::$variant)),)*
                    _ => None,
                }
            }

            /// The command's name in the API (`reset`, `remoteStart`...).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => $name,)*
                }
            }

            /// See [`Spec::follow_up`].
            pub fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
                match self {
                    $(Command::$variant(c) => Spec::follow_up(c),)*
                }
            }

            /// See [`Spec::complete`].
            pub fn complete(&mut self, mut next_id: impl FnMut() -> i64) {
                match self {
                    $(Command::$variant(c) => Spec::complete(c, &mut next_id),)*
                }
            }

            /// See [`Spec::check`].
            pub fn check(&self) -> Result<(), String> {
                match self {
                    $(Command::$variant(c) => Spec::check(c),)*
                }
            }

            /// The command as it may be shown: see [`Spec::redact`].
            pub fn redacted(&self) -> Command {
                let mut c = self.clone();
                match &mut c {
                    $(Command::$variant(c) => Spec::redact(c),)*
                }
                c
            }

            /// The device model variables an outcome of this command confirms.
            pub fn confirmed(&self, outcome: &Outcome) -> Vec<DeviceVariable> {
                match (self, outcome) {
                    $((Command::$variant(c), Outcome::$variant(o)) => Spec::confirms(c, o),)*
                    _ => Vec::new(),
                }
            }
        }

        impl Outcome {
            /// The answer as it may be kept: see [`Spec::redact_outcome`].
            pub fn redacted(mut self) -> Outcome {
                match &mut self {
                    $(Outcome::$variant(o) => <$request as Spec>::redact_outcome(o),)*
                }
                self
            }

            /// The status the station answered, if its answer has one.
            pub fn status(&self) -> Option<&'static str> {
                match self {
                    $(Outcome::$variant(o) => Answer::status(o),)*
                }
            }
        }
    };
}

for_each_command!(define_commands);

/// The reason in a 2.0.1 statusInfo: its `reasonCode`, then its `additionalInfo`.
pub fn reason(code: &str, more: Option<&str>) -> String {
    match more {
        Some(more) => format!("{code}: {more}"),
        None => code.to_string(),
    }
}

ocpp_enum! {
    /// An id token's type (2.0.1 IdTokenEnumType; 1.6 tokens have none).
    IdTokenType {
        Central, eMAID, ISO14443, ISO15693, KeyCode, Local, MacAddress, NoAuthorization,
    }
}

ocpp_enum! {
    /// An id token's authorization status (2.0.1 AuthorizationStatusEnumType; 1.6
    /// AuthorizationStatus has the first five).
    AuthorizationStatus {
        Accepted, Blocked, ConcurrentTx, Expired, Invalid, NoCredit, NotAllowedTypeEVSE,
        NotAtThisLocation, NotAtThisTime, Unknown,
    }
}

ocpp_enum! {
    /// A variable's attribute (2.0.1 AttributeEnumType).
    AttributeType { Actual, Target, MinSet, MaxSet }
}

ocpp_enum! {
    /// Whether a variable can be read and written (2.0.1 MutabilityEnumType; 1.6 `readonly`).
    Mutability { ReadOnly, WriteOnly, ReadWrite }
}

ocpp_enum! {
    /// A hash algorithm of certificate hash data (HashAlgorithmEnumType, both versions).
    HashAlgorithm { SHA256, SHA384, SHA512 }
}

crate::device_model::with_variable_identity! {
/// A variable of a component (2.0.1); in 1.6, a configuration key is the variable's name and
/// the component is `""`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableRef {
    /// The attribute (default `Actual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeType>,
}
}

impl VariableRef {
    /// A 1.6 configuration key.
    pub fn key(name: &str) -> VariableRef {
        VariableRef {
            component: String::new(),
            component_instance: None,
            evse_id: None,
            connector_id: None,
            variable: name.to_string(),
            variable_instance: None,
            attribute: None,
        }
    }

    /// The attribute, `Actual` when not named.
    pub fn attribute(&self) -> AttributeType {
        self.attribute.unwrap_or(AttributeType::Actual)
    }

    /// Whether two references name the same variable (an absent attribute is `Actual`).
    pub fn same(&self, other: &VariableRef) -> bool {
        self.component == other.component
            && self.component_instance == other.component_instance
            && self.evse_id == other.evse_id
            && self.connector_id == other.connector_id
            && self.variable == other.variable
            && self.variable_instance == other.variable_instance
            && self.attribute() == other.attribute()
    }

    /// A device model variable of this identity, with a value.
    pub fn with_value(&self, value: Option<String>) -> DeviceVariable {
        let mut v = DeviceVariable::named(&self.component, &self.variable, value);
        v.component_instance = self.component_instance.clone();
        v.evse_id = self.evse_id;
        v.connector_id = self.connector_id;
        v.variable_instance = self.variable_instance.clone();
        v.attribute = self.attribute().as_str().to_string();
        v
    }
}

/// A certificate, by the hashes OCPP identifies it with (CertificateHashDataType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateHash {
    /// The hash algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// The issuer name's hash, hex.
    pub issuer_name_hash: String,
    /// The issuer key's hash, hex.
    pub issuer_key_hash: String,
    /// The serial number, hex.
    pub serial_number: String,
}

crate::names::named_enum! {
/// Where a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommandStatus {
    /// Waiting for the station to connect (until it expires).
    Queued = "queued",
    /// Sent, or waiting its turn behind the station's other commands.
    Pending = "pending",
    /// The station answered (the outcome says what).
    Answered = "answered",
    /// The station answered with a CALLERROR, or its answer was invalid.
    Failed = "failed",
    /// The station did not answer in time.
    Timeout = "timeout",
    /// The station disconnected before answering, or was not connected.
    NotDelivered = "notDelivered",
    /// The station's version cannot do this.
    Unsupported = "unsupported",
    /// The command does not make a valid request for the station's version (a 1.6
    /// transaction id that is not a number...).
    Invalid = "invalid",
    /// It stayed queued past its expiry.
    Expired = "expired",
}
}

impl CommandStatus {
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
    /// What the station answered, in the same shape for every OCPP version.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_outcome"
    )]
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
    /// The command's secret values (passwords, keys) are not in the record: they are never
    /// stored, only sent, so a queued command that holds them cannot outlive a restart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secrets_withheld: bool,
}

/// Reads a stored outcome; one stored in an earlier, untyped shape reads as none (the
/// record's status and error still say what happened) instead of hiding the whole record.
fn lenient_outcome<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Outcome>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// What a secret value is replaced with wherever it is kept or shown.
pub const REDACTED: &str = "********";

/// An error shared by everyone told about it.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// Why a command could not be carried out.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The request built for the command is not valid against its schema.
    #[error("the request would not be valid")]
    InvalidRequest(#[source] SharedError),
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
    #[error("the station's answer is invalid")]
    InvalidResponse(#[source] SharedError),
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
            SendError::Invalid(_) | SendError::InvalidRequest(_) => CommandStatus::Invalid,
            SendError::Timeout => CommandStatus::Timeout,
            SendError::Refused { .. } | SendError::InvalidResponse(_) => CommandStatus::Failed,
        }
    }

    /// The error with its sources, for people: `error: source: source…`.
    pub fn explained(&self) -> String {
        let mut s = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            s.push_str(": ");
            s.push_str(&e.to_string());
            source = e.source();
        }
        s
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
    fn every_name_is_the_serde_tag() {
        // The API routes by name and the store reads by tag: they must be the same word.
        for name in Command::NAMES {
            let first = name.chars().next().expect("a name");
            assert!(first.is_ascii_lowercase(), "{name}");
            let err = serde_json::from_value::<Command>(serde_json::json!({"type": name}))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!err.contains("unknown variant"), "{name}: {err}");
        }
        let c = Command::from_parts("clearCache", serde_json::json!({}))
            .expect("a known name")
            .expect("valid parameters");
        assert_eq!(c.name(), "clearCache");
        assert!(Command::from_parts("reboot", serde_json::json!({})).is_none());
        let typed = serde_json::json!({"type": "reset", "kind": "OnIdle"});
        assert!(
            Command::from_parts("clearCache", typed)
                .expect("known")
                .is_err(),
            "parameters do not name another command"
        );
    }

    #[test]
    fn the_1_6_spelling_is_accepted_and_the_2_0_1_spelling_shown() {
        let c: Command = serde_json::from_value(serde_json::json!(
            {"type": "installCertificate", "kind": "CentralSystemRootCertificate", "certificate": "x"}
        ))
        .expect("1.6 spelling");
        let v = serde_json::to_value(&c).expect("serialize");
        assert_eq!(v["kind"], "CSMSRootCertificate");
        let r: Command =
            serde_json::from_value(serde_json::json!({"type": "reset", "kind": "Hard"}))
                .expect("1.6 reset type");
        assert_eq!(
            serde_json::to_value(&r).expect("serialize")["kind"],
            "Immediate"
        );
        // The old spellings of Arus's own are gone.
        assert!(
            serde_json::from_value::<Command>(serde_json::json!(
                {"type": "installCertificate", "kind": "CsmsRootCertificate", "certificate": "x"}
            ))
            .is_err()
        );
    }

    #[test]
    fn request_ids_are_assigned_once() {
        let mut c = Command::GetLog(GetLog {
            log: LogType::DiagnosticsLog,
            location: "ftp://x".into(),
            oldest: None,
            latest: None,
            retries: None,
            retry_interval_s: None,
            request_id: None,
        });
        c.complete(|| 7);
        c.complete(|| 8);
        assert_eq!(c.follow_up(), Some((NoticeKind::LogStatus, Some(7))));
    }

    #[test]
    fn outcomes_are_tagged_and_an_old_shape_reads_as_none() {
        let o = Outcome::Reset(ResetOutcome {
            status: ResetStatus::Scheduled,
            reason: None,
        });
        let v = serde_json::to_value(&o).expect("serialize");
        assert_eq!(
            v,
            serde_json::json!({"type": "reset", "status": "Scheduled"})
        );
        assert_eq!(o.status(), Some("Scheduled"));
        let record = serde_json::json!({
            "id": "1", "stationId": "S", "command": {"type": "clearCache"}, "status": "answered",
            "outcome": {"status": "Accepted", "details": null}, "requestedBy": "t",
            "createdAt": "2026-01-01T00:00:00Z"
        });
        let r: CommandRecord = serde_json::from_value(record).expect("an old record reads");
        assert_eq!((r.status, r.outcome), (CommandStatus::Answered, None));
    }

    #[test]
    fn errors_keep_their_sources() {
        let e = SendError::InvalidResponse(Arc::new(std::io::Error::other("status: not allowed")));
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            e.explained(),
            "the station's answer is invalid: status: not allowed"
        );
        assert_eq!(e.status(), CommandStatus::Failed);
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
