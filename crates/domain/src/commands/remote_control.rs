//! F Remote control: starting and stopping transactions from the CSMS (F01–F04), unlocking a
//! connector (F05) and triggering messages (F06).

use serde::{Deserialize, Serialize};

use super::{IdTokenType, Spec, ocpp_enum, status_command};
use crate::commands::smart_charging::ChargingProfile;

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
    /// Its type (2.0.1; default `Central`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<IdTokenType>,
    /// 2.0.1 remoteStartId; assigned by Arus when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_start_id: Option<i64>,
    /// A charging profile for the transaction (purpose `TxProfile`, naming no transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfile>,
}

ocpp_enum! {
    /// The answer to a remote start or stop (RequestStartStopStatusEnumType; 1.6
    /// RemoteStartStopStatus).
    RequestStartStopStatus { Accepted, Rejected }
}

/// What a station answered to a remote start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteStartOutcome {
    /// Accepted or rejected.
    pub status: RequestStartStopStatus,
    /// The reason it gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The transaction the station had already started before the request came (2.0.1,
    /// for example when the cable was plugged in first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

impl super::Answer for RemoteStartOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for RemoteStart {
    type Outcome = RemoteStartOutcome;

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.remote_start_id, next_id);
        if let Some(p) = self.charging_profile.take() {
            self.charging_profile = Some(super::smart_charging::with_start(p, chrono::Utc::now()));
        }
    }

    fn check(&self) -> Result<(), String> {
        let Some(p) = &self.charging_profile else {
            return Ok(());
        };
        // 1.6 §5.11 and 2.0.1 F01.FR.08, F01.FR.11: the profile of a remote start is the
        // transaction's own, and names none (there is none yet).
        if p.purpose != super::ChargingProfilePurpose::Tx {
            return Err("the chargingProfile of a remote start has purpose TxProfile".into());
        }
        if p.transaction_id.is_some() {
            return Err(
                "the chargingProfile of a remote start names no transaction: it has none yet"
                    .into(),
            );
        }
        super::smart_charging::problems(
            &super::smart_charging::with_start(p.clone(), chrono::Utc::now()),
            self.evse_id.unwrap_or(1),
        )
    }
}

/// Parameters of a remote stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteStop {
    /// The transaction, as the station knows it (a number in 1.6).
    pub transaction_id: String,
}

status_command! {
    /// What a station answered to a remote stop.
    RemoteStop => RemoteStopOutcome(RequestStartStopStatus)
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

status_command! {
    /// What a station answered to an unlock.
    UnlockConnector => UnlockConnectorOutcome,
    /// The answer to an unlock (2.0.1 UnlockStatusEnumType; 1.6 UnlockStatus adds
    /// `NotSupported`).
    UnlockStatus { Unlocked, UnlockFailed, OngoingAuthorizedTransaction, UnknownConnector, NotSupported }
}

ocpp_enum! {
    /// The messages a station can be asked to send (2.0.1 MessageTriggerEnumType; 1.6
    /// MessageTrigger and the security extension's MessageTriggerEnumType).
    MessageTrigger {
        BootNotification,
        LogStatusNotification,
        FirmwareStatusNotification,
        Heartbeat,
        MeterValues,
        /// A new station certificate (1.6 `SignChargePointCertificate`).
        #[serde(alias = "SignChargePointCertificate")]
        SignChargingStationCertificate,
        SignV2GCertificate,
        StatusNotification,
        TransactionEvent,
        SignCombinedCertificate,
        PublishFirmwareStatusNotification,
        /// 1.6 only.
        DiagnosticsStatusNotification,
    }
}

/// Parameters of a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriggerMessage {
    /// The message wanted.
    pub message: MessageTrigger,
    /// The EVSE it is about (1.6: the connector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the EVSE (2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
    /// 1.6: use ExtendedTriggerMessage even for a message plain TriggerMessage has (it is
    /// used anyway for the security extension's messages).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extended: bool,
}

status_command! {
    /// What a station answered to a trigger.
    TriggerMessage => TriggerMessageOutcome,
    /// The answer to a trigger (TriggerMessageStatusEnumType, both versions).
    TriggerMessageStatus { Accepted, Rejected, NotImplemented }
}
