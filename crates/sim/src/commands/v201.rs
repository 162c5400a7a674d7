//! The answers to the CSMS-initiated actions of OCPP 2.0.1.
//!
//! One arm per action; the actions with a decision or a follow-up have their own function.
//! Every answer is a generated response type, so its shape cannot drift from the schema.

use arus_ocpp::v201::*;

use super::{Refusal, charging, free_evse, has_tx, set_availability};
use crate::behaviour::{FollowUp, StationState, Triggered};

/// A response that carries a status only (no `statusInfo`, no `customData`).
macro_rules! status {
    ($response:ident, $status:expr) => {
        $response {
            custom_data: None,
            status: $status,
            status_info: None,
        }
    };
}

/// The answer to a decoded 2.0.1 request.
pub(super) fn answer(st: &mut StationState, request: Request) -> Result<Response, Refusal> {
    use Response as R;
    Ok(match request {
        Request::Reset(r) => R::Reset(reset(st, r)),
        Request::RequestStartTransaction(r) => R::RequestStartTransaction(remote_start(st, r)),
        Request::RequestStopTransaction(r) => R::RequestStopTransaction(remote_stop(st, r)),
        Request::ChangeAvailability(r) => {
            let operative = r.operational_status == OperationalStatusEnum::Operative;
            let evse = r.evse.and_then(|e| u32::try_from(e.id).ok());
            let status = if set_availability(st, evse, operative) {
                ChangeAvailabilityStatusEnum::Scheduled
            } else {
                ChangeAvailabilityStatusEnum::Accepted
            };
            R::ChangeAvailability(status!(ChangeAvailabilityResponse, status))
        }
        Request::UnlockConnector(_) => {
            R::UnlockConnector(status!(UnlockConnectorResponse, UnlockStatusEnum::Unlocked))
        }
        Request::ClearCache(_) => {
            R::ClearCache(status!(ClearCacheResponse, ClearCacheStatusEnum::Accepted))
        }
        Request::GetVariables(r) => R::GetVariables(get_variables(st, r)),
        Request::SetVariables(r) => R::SetVariables(set_variables(st, r)),
        Request::GetBaseReport(r) => {
            st.follow_ups.push_back(FollowUp::Report {
                request_id: r.request_id,
            });
            R::GetBaseReport(status!(
                GetBaseReportResponse,
                GenericDeviceModelStatusEnum::Accepted
            ))
        }
        Request::GetReport(r) => {
            st.follow_ups.push_back(FollowUp::Report {
                request_id: r.request_id,
            });
            R::GetReport(status!(
                GetReportResponse,
                GenericDeviceModelStatusEnum::Accepted
            ))
        }
        Request::GetMonitoringReport(r) => {
            st.follow_ups.push_back(FollowUp::Monitoring {
                request_id: r.request_id,
            });
            R::GetMonitoringReport(status!(
                GetMonitoringReportResponse,
                GenericDeviceModelStatusEnum::Accepted
            ))
        }
        Request::TriggerMessage(r) => {
            st.follow_ups.push_back(FollowUp::Trigger {
                message: triggered(r.requested_message),
                evse: r.evse.and_then(|e| u32::try_from(e.id).ok()),
            });
            R::TriggerMessage(status!(
                TriggerMessageResponse,
                TriggerMessageStatusEnum::Accepted
            ))
        }
        Request::GetTransactionStatus(r) => R::GetTransactionStatus(GetTransactionStatusResponse {
            custom_data: None,
            ongoing_indicator: r.transaction_id.as_deref().map(|id| has_tx(st, id)),
            messages_in_queue: !st.queue.is_empty(),
        }),
        Request::CustomerInformation(r) => {
            st.follow_ups.push_back(FollowUp::Customer {
                request_id: r.request_id,
            });
            R::CustomerInformation(status!(
                CustomerInformationResponse,
                CustomerInformationStatusEnum::Accepted
            ))
        }
        Request::DataTransfer(_) => R::DataTransfer(DataTransferResponse {
            custom_data: None,
            status: DataTransferStatusEnum::UnknownVendorId,
            status_info: None,
            data: None,
        }),
        Request::GetLocalListVersion(_) => R::GetLocalListVersion(GetLocalListVersionResponse {
            custom_data: None,
            version_number: st.local_list_version,
        }),
        Request::SendLocalList(r) => {
            st.local_list_version = r.version_number;
            R::SendLocalList(status!(
                SendLocalListResponse,
                SendLocalListStatusEnum::Accepted
            ))
        }
        Request::ReserveNow(_) => {
            R::ReserveNow(status!(ReserveNowResponse, ReserveNowStatusEnum::Accepted))
        }
        Request::CancelReservation(_) => R::CancelReservation(status!(
            CancelReservationResponse,
            CancelReservationStatusEnum::Accepted
        )),
        Request::UpdateFirmware(r) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: Some(r.request_id),
                signed: true,
            });
            R::UpdateFirmware(status!(
                UpdateFirmwareResponse,
                UpdateFirmwareStatusEnum::Accepted
            ))
        }
        Request::PublishFirmware(_) => R::PublishFirmware(status!(
            PublishFirmwareResponse,
            GenericStatusEnum::Accepted
        )),
        Request::UnpublishFirmware(_) => R::UnpublishFirmware(UnpublishFirmwareResponse {
            custom_data: None,
            status: UnpublishFirmwareStatusEnum::Unpublished,
        }),
        Request::GetLog(r) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: Some(r.request_id),
                diagnostics: false,
            });
            R::GetLog(GetLogResponse {
                custom_data: None,
                status: LogStatusEnum::Accepted,
                status_info: None,
                filename: Some(format!("{}.log", st.id)),
            })
        }
        Request::SetChargingProfile(r) => R::SetChargingProfile(status!(
            SetChargingProfileResponse,
            charging::set_v201(st, r)
        )),
        Request::ClearChargingProfile(r) => R::ClearChargingProfile(status!(
            ClearChargingProfileResponse,
            charging::clear_v201(st, r)
        )),
        Request::GetChargingProfiles(r) => R::GetChargingProfiles(status!(
            GetChargingProfilesResponse,
            charging::get_v201(st, r)
        )),
        Request::GetCompositeSchedule(r) => {
            R::GetCompositeSchedule(charging::composite_v201(st, r))
        }
        Request::SetDisplayMessage(_) => R::SetDisplayMessage(status!(
            SetDisplayMessageResponse,
            DisplayMessageStatusEnum::Accepted
        )),
        Request::GetDisplayMessages(_) => R::GetDisplayMessages(status!(
            GetDisplayMessagesResponse,
            GetDisplayMessagesStatusEnum::Unknown
        )),
        Request::ClearDisplayMessage(_) => R::ClearDisplayMessage(status!(
            ClearDisplayMessageResponse,
            ClearMessageStatusEnum::Unknown
        )),
        Request::CostUpdated(_) => R::CostUpdated(CostUpdatedResponse::default()),
        Request::SetNetworkProfile(_) => R::SetNetworkProfile(status!(
            SetNetworkProfileResponse,
            SetNetworkProfileStatusEnum::Accepted
        )),
        Request::SetMonitoringBase(_) => R::SetMonitoringBase(status!(
            SetMonitoringBaseResponse,
            GenericDeviceModelStatusEnum::Accepted
        )),
        Request::SetMonitoringLevel(_) => R::SetMonitoringLevel(status!(
            SetMonitoringLevelResponse,
            GenericStatusEnum::Accepted
        )),
        Request::SetVariableMonitoring(r) => R::SetVariableMonitoring(set_monitoring(r)),
        Request::ClearVariableMonitoring(r) => R::ClearVariableMonitoring(clear_monitoring(r)),
        Request::InstallCertificate(_) => R::InstallCertificate(status!(
            InstallCertificateResponse,
            InstallCertificateStatusEnum::Accepted
        )),
        Request::DeleteCertificate(_) => R::DeleteCertificate(status!(
            DeleteCertificateResponse,
            DeleteCertificateStatusEnum::NotFound
        )),
        Request::GetInstalledCertificateIds(_) => {
            R::GetInstalledCertificateIds(GetInstalledCertificateIdsResponse {
                custom_data: None,
                status: GetInstalledCertificateStatusEnum::NotFound,
                status_info: None,
                certificate_hash_data_chain: None,
            })
        }
        Request::CertificateSigned(_) => R::CertificateSigned(status!(
            CertificateSignedResponse,
            CertificateSignedStatusEnum::Accepted
        )),
        other => {
            let action = other.action().as_str();
            return Err(Refusal::sent_by_stations(action, "charging stations"));
        }
    })
}

/// A reset always reboots; OnIdle with a transaction in progress is Scheduled.
fn reset(st: &mut StationState, r: ResetRequest) -> ResetResponse {
    let busy = st.evses.iter().any(|e| e.tx.is_some());
    st.follow_ups.push_back(FollowUp::Reboot);
    if busy && r.r#type == ResetEnum::OnIdle {
        status!(ResetResponse, ResetStatusEnum::Scheduled)
    } else {
        status!(ResetResponse, ResetStatusEnum::Accepted)
    }
}

/// Accepted when an operative EVSE (the one asked for, if any) is idle; the session starts in
/// the behaviour loop.
fn remote_start(
    st: &mut StationState,
    r: RequestStartTransactionRequest,
) -> RequestStartTransactionResponse {
    if !free_evse(st, r.evse_id) {
        return RequestStartTransactionResponse {
            custom_data: None,
            status: RequestStartStopStatusEnum::Rejected,
            status_info: None,
            transaction_id: None,
        };
    }
    st.follow_ups.push_back(FollowUp::RemoteStart {
        evse: r.evse_id.and_then(|e| u32::try_from(e).ok()),
        token: r.id_token.id_token,
        remote_start_id: Some(r.remote_start_id),
        profile: r
            .charging_profile
            .as_ref()
            .map(|p| Box::new(crate::profiles::from_v201(p))),
    });
    RequestStartTransactionResponse {
        custom_data: None,
        status: RequestStartStopStatusEnum::Accepted,
        status_info: None,
        transaction_id: None,
    }
}

/// Accepted when the transaction is in progress here.
fn remote_stop(
    st: &mut StationState,
    r: RequestStopTransactionRequest,
) -> RequestStopTransactionResponse {
    if !has_tx(st, &r.transaction_id) {
        return status!(
            RequestStopTransactionResponse,
            RequestStartStopStatusEnum::Rejected
        );
    }
    st.follow_ups.push_back(FollowUp::RemoteStop {
        transaction_id: r.transaction_id,
    });
    status!(
        RequestStopTransactionResponse,
        RequestStartStopStatusEnum::Accepted
    )
}

/// A component or variable named as asked (without instance or EVSE).
fn component(name: &str) -> Component {
    Component {
        custom_data: None,
        evse: None,
        name: name.to_string(),
        instance: None,
    }
}

fn variable(name: &str) -> Variable {
    Variable {
        custom_data: None,
        name: name.to_string(),
        instance: None,
    }
}

/// Variables are kept as `Component.Variable`; one not kept is UnknownVariable.
fn get_variables(st: &StationState, r: GetVariablesRequest) -> GetVariablesResponse {
    let get_variable_result = r
        .get_variable_data
        .iter()
        .map(|d| {
            let key = format!("{}.{}", d.component.name, d.variable.name);
            let value = st.config.get(&key).cloned();
            GetVariableResult {
                custom_data: None,
                attribute_status_info: None,
                attribute_status: if value.is_some() {
                    GetVariableStatusEnum::Accepted
                } else {
                    GetVariableStatusEnum::UnknownVariable
                },
                attribute_type: None,
                attribute_value: value,
                component: component(&d.component.name),
                variable: variable(&d.variable.name),
            }
        })
        .collect();
    GetVariablesResponse {
        custom_data: None,
        get_variable_result,
    }
}

/// Every variable is accepted and kept.
fn set_variables(st: &mut StationState, r: SetVariablesRequest) -> SetVariablesResponse {
    let set_variable_result = r
        .set_variable_data
        .into_iter()
        .map(|d| {
            let key = format!("{}.{}", d.component.name, d.variable.name);
            st.config.insert(key, d.attribute_value);
            SetVariableResult {
                custom_data: None,
                attribute_type: None,
                attribute_status: SetVariableStatusEnum::Accepted,
                attribute_status_info: None,
                component: component(&d.component.name),
                variable: variable(&d.variable.name),
            }
        })
        .collect();
    SetVariablesResponse {
        custom_data: None,
        set_variable_result,
    }
}

/// The simulator has no monitors: each one asked for is Rejected.
fn set_monitoring(r: SetVariableMonitoringRequest) -> SetVariableMonitoringResponse {
    let set_monitoring_result = r
        .set_monitoring_data
        .iter()
        .map(|d| SetMonitoringResult {
            custom_data: None,
            id: None,
            status_info: None,
            status: SetMonitoringStatusEnum::Rejected,
            r#type: d.r#type,
            component: component(&d.component.name),
            variable: variable(&d.variable.name),
            severity: d.severity,
        })
        .collect();
    SetVariableMonitoringResponse {
        custom_data: None,
        set_monitoring_result,
    }
}

/// ... and none to clear: each one is NotFound.
fn clear_monitoring(r: ClearVariableMonitoringRequest) -> ClearVariableMonitoringResponse {
    let clear_monitoring_result =
        r.id.iter()
            .map(|&id| ClearMonitoringResult {
                custom_data: None,
                status: ClearMonitoringStatusEnum::NotFound,
                id,
                status_info: None,
            })
            .collect();
    ClearVariableMonitoringResponse {
        custom_data: None,
        clear_monitoring_result,
    }
}

fn triggered(m: MessageTriggerEnum) -> Triggered {
    use MessageTriggerEnum as M;
    match m {
        M::BootNotification => Triggered::BootNotification,
        M::LogStatusNotification => Triggered::LogStatusNotification,
        M::FirmwareStatusNotification => Triggered::FirmwareStatusNotification,
        M::Heartbeat => Triggered::Heartbeat,
        M::MeterValues => Triggered::MeterValues,
        M::StatusNotification => Triggered::StatusNotification,
        M::TransactionEvent => Triggered::TransactionEvent,
        M::SignChargingStationCertificate
        | M::SignV2GCertificate
        | M::SignCombinedCertificate
        | M::PublishFirmwareStatusNotification => Triggered::Other,
    }
}
