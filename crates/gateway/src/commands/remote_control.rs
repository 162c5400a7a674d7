//! F Remote control in each version: RemoteStartTransaction / RequestStartTransaction,
//! RemoteStopTransaction / RequestStopTransaction, UnlockConnector, TriggerMessage (1.6
//! ExtendedTriggerMessage for the security extension's messages).

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::smart_charging::{profile, profile_16};
use super::{
    Link, ToStation, assigned, convert, convert_some, evse, id_token, int, reason, unsupported,
};

convert!(start_stop_16: v16::RemoteStartStopStatus => RequestStartStopStatus { Accepted, Rejected });
convert!(start_stop: v201::RequestStartStopStatusEnum => RequestStartStopStatus { Accepted, Rejected });

impl ToStation for RemoteStart {
    async fn send(&self, link: &Link<'_>) -> Result<RemoteStartOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::RemoteStartTransactionRequest {
                    connector_id: self.evse_id.map(int),
                    id_tag: self.id_token.clone(),
                    charging_profile: self.charging_profile.as_ref().map(profile_16).transpose()?,
                })
                .await?;
            return Ok(RemoteStartOutcome {
                status: start_stop_16(a.status),
                reason: None,
                transaction_id: None,
            });
        }
        let remote_start_id = assigned(self.remote_start_id, "remoteStartId")?;
        let a = link
            .call(&v201::RequestStartTransactionRequest {
                custom_data: None,
                evse_id: self.evse_id.map(int),
                group_id_token: None,
                id_token: id_token(&self.id_token, self.id_token_type, IdTokenType::Central),
                remote_start_id,
                charging_profile: self.charging_profile.as_ref().map(profile),
            })
            .await?;
        Ok(RemoteStartOutcome {
            status: start_stop(a.status),
            reason: reason(a.status_info),
            transaction_id: a.transaction_id,
        })
    }
}

impl ToStation for RemoteStop {
    async fn send(&self, link: &Link<'_>) -> Result<RemoteStopOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let transaction_id = self
                .transaction_id
                .parse()
                .map_err(|_| SendError::Invalid("a 1.6 transaction id is a number".into()))?;
            let a = link
                .call(&v16::RemoteStopTransactionRequest { transaction_id })
                .await?;
            return Ok(RemoteStopOutcome {
                status: start_stop_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::RequestStopTransactionRequest {
                custom_data: None,
                transaction_id: self.transaction_id.clone(),
            })
            .await?;
        Ok(RemoteStopOutcome {
            status: start_stop(a.status),
            reason: reason(a.status_info),
        })
    }
}

convert!(unlock_16: v16::UnlockStatus => UnlockStatus { Unlocked, UnlockFailed, NotSupported });
convert!(unlock: v201::UnlockStatusEnum => UnlockStatus {
    Unlocked, UnlockFailed, OngoingAuthorizedTransaction, UnknownConnector
});

impl ToStation for UnlockConnector {
    async fn send(&self, link: &Link<'_>) -> Result<UnlockConnectorOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::UnlockConnectorRequest {
                    connector_id: int(self.evse_id),
                })
                .await?;
            return Ok(UnlockConnectorOutcome {
                status: unlock_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::UnlockConnectorRequest {
                custom_data: None,
                evse_id: int(self.evse_id),
                connector_id: int(self.connector_id.unwrap_or(1)),
            })
            .await?;
        Ok(UnlockConnectorOutcome {
            status: unlock(a.status),
            reason: reason(a.status_info),
        })
    }
}

convert!(trigger_status_16: v16::TriggerMessageStatus => TriggerMessageStatus {
    Accepted, Rejected, NotImplemented
});
convert!(trigger_status_16x: v16::TriggerMessageStatusEnum => TriggerMessageStatus {
    Accepted, Rejected, NotImplemented
});
convert!(trigger_status: v201::TriggerMessageStatusEnum => TriggerMessageStatus {
    Accepted, Rejected, NotImplemented
});

// 1.6's plain TriggerMessage, its ExtendedTriggerMessage, and 2.0.1: the triggers each has.
convert_some!(plain_16: MessageTrigger => v16::MessageTrigger {
    BootNotification, Heartbeat, StatusNotification, MeterValues, FirmwareStatusNotification,
    DiagnosticsStatusNotification,
});
convert_some!(extended_16: MessageTrigger => v16::MessageTriggerEnum {
    BootNotification, Heartbeat, StatusNotification, MeterValues, FirmwareStatusNotification,
    LogStatusNotification, SignChargingStationCertificate as SignChargePointCertificate,
});
convert_some!(trigger_201: MessageTrigger => v201::MessageTriggerEnum {
    BootNotification, LogStatusNotification, FirmwareStatusNotification, Heartbeat, MeterValues,
    SignChargingStationCertificate, SignV2GCertificate, StatusNotification, TransactionEvent,
    SignCombinedCertificate, PublishFirmwareStatusNotification,
});

impl ToStation for TriggerMessage {
    async fn send(&self, link: &Link<'_>) -> Result<TriggerMessageOutcome, SendError> {
        let what = || format!("triggering {}", self.message.as_str());
        if link.version == arus_ocpp::Version::V16 {
            let connector_id = self.evse_id.map(int);
            // Plain TriggerMessage where it has the message, unless asked otherwise; the
            // security extension's ExtendedTriggerMessage for the rest.
            let status = match plain_16(self.message).filter(|_| !self.extended) {
                Some(requested_message) => {
                    let request = v16::TriggerMessageRequest {
                        requested_message,
                        connector_id,
                    };
                    trigger_status_16(link.call(&request).await?.status)
                }
                None => {
                    let request = v16::ExtendedTriggerMessageRequest {
                        requested_message: extended_16(self.message)
                            .ok_or_else(|| unsupported(&what(), link.version))?,
                        connector_id,
                    };
                    trigger_status_16x(link.call(&request).await?.status)
                }
            };
            return Ok(TriggerMessageOutcome {
                status,
                reason: None,
            });
        }
        let requested_message =
            trigger_201(self.message).ok_or_else(|| unsupported(&what(), link.version))?;
        let a = link
            .call(&v201::TriggerMessageRequest {
                custom_data: None,
                evse: self.evse_id.map(|e| evse(e, self.connector_id)),
                requested_message,
            })
            .await?;
        Ok(TriggerMessageOutcome {
            status: trigger_status(a.status),
            reason: reason(a.status_info),
        })
    }
}
