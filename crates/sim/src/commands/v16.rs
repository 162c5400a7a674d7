//! The answers to the CSMS-initiated actions of OCPP 1.6 (with the security extension).
//!
//! One arm per action; the actions with a decision or a follow-up have their own function.
//! Every answer is a generated response type, so its shape cannot drift from the schema.

use arus_ocpp::v16::*;

use super::{Refusal, charging, free_evse, has_tx, set_availability};
use crate::behaviour::{FollowUp, StationState, Triggered};

/// The answer to a decoded 1.6 request.
pub(super) fn answer(st: &mut StationState, request: Request) -> Result<Response, Refusal> {
    Ok(match request {
        Request::Reset(_) => {
            st.follow_ups.push_back(FollowUp::Reboot);
            Response::Reset(ResetResponse {
                status: ResetStatus::Accepted,
            })
        }
        Request::RemoteStartTransaction(r) => Response::RemoteStartTransaction(remote_start(st, r)),
        Request::RemoteStopTransaction(r) => Response::RemoteStopTransaction(remote_stop(st, r)),
        Request::ChangeAvailability(r) => {
            let operative = r.r#type == AvailabilityType::Operative;
            let scheduled = set_availability(st, u32::try_from(r.connector_id).ok(), operative);
            Response::ChangeAvailability(ChangeAvailabilityResponse {
                status: if scheduled {
                    AvailabilityStatus::Scheduled
                } else {
                    AvailabilityStatus::Accepted
                },
            })
        }
        Request::UnlockConnector(_) => Response::UnlockConnector(UnlockConnectorResponse {
            status: UnlockStatus::Unlocked,
        }),
        Request::ClearCache(_) => Response::ClearCache(ClearCacheResponse {
            status: ClearCacheStatus::Accepted,
        }),
        Request::GetConfiguration(r) => Response::GetConfiguration(get_configuration(st, r)),
        Request::ChangeConfiguration(r) => {
            change_configuration(st, r);
            Response::ChangeConfiguration(ChangeConfigurationResponse {
                status: ConfigurationStatus::Accepted,
            })
        }
        Request::DataTransfer(_) => Response::DataTransfer(DataTransferResponse {
            status: DataTransferStatus::UnknownVendorId,
            data: None,
        }),
        Request::GetLocalListVersion(_) => {
            Response::GetLocalListVersion(GetLocalListVersionResponse {
                list_version: st.local_list_version,
            })
        }
        Request::SendLocalList(r) => {
            st.local_list_version = r.list_version;
            Response::SendLocalList(SendLocalListResponse {
                status: UpdateStatus::Accepted,
            })
        }
        Request::ReserveNow(_) => Response::ReserveNow(ReserveNowResponse {
            status: ReservationStatus::Accepted,
        }),
        Request::CancelReservation(_) => Response::CancelReservation(CancelReservationResponse {
            status: CancelReservationStatus::Accepted,
        }),
        Request::TriggerMessage(r) => {
            trigger(st, triggered(r.requested_message), r.connector_id);
            Response::TriggerMessage(TriggerMessageResponse {
                status: TriggerMessageStatus::Accepted,
            })
        }
        Request::ExtendedTriggerMessage(r) => {
            trigger(st, extended(r.requested_message), r.connector_id);
            Response::ExtendedTriggerMessage(ExtendedTriggerMessageResponse {
                status: TriggerMessageStatusEnum::Accepted,
            })
        }
        Request::UpdateFirmware(_) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: None,
                signed: false,
            });
            Response::UpdateFirmware(UpdateFirmwareResponse {})
        }
        Request::SignedUpdateFirmware(r) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: Some(r.request_id),
                signed: true,
            });
            Response::SignedUpdateFirmware(SignedUpdateFirmwareResponse {
                status: UpdateFirmwareStatusEnum::Accepted,
            })
        }
        Request::GetDiagnostics(_) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: None,
                diagnostics: true,
            });
            Response::GetDiagnostics(GetDiagnosticsResponse {
                file_name: Some(format!("{}-diagnostics.log", st.id)),
            })
        }
        Request::GetLog(r) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: Some(r.request_id),
                diagnostics: false,
            });
            Response::GetLog(GetLogResponse {
                status: LogStatusEnum::Accepted,
                filename: Some(format!("{}.log", st.id)),
            })
        }
        Request::SetChargingProfile(r) => {
            Response::SetChargingProfile(SetChargingProfileResponse {
                status: charging::set_v16(st, r),
            })
        }
        Request::ClearChargingProfile(r) => {
            Response::ClearChargingProfile(ClearChargingProfileResponse {
                status: charging::clear_v16(st, r),
            })
        }
        Request::GetCompositeSchedule(r) => {
            Response::GetCompositeSchedule(charging::composite_v16(st, r))
        }
        Request::InstallCertificate(_) => {
            Response::InstallCertificate(InstallCertificateResponse {
                status: InstallCertificateStatusEnum::Accepted,
            })
        }
        Request::DeleteCertificate(_) => Response::DeleteCertificate(DeleteCertificateResponse {
            status: DeleteCertificateStatusEnum::NotFound,
        }),
        Request::GetInstalledCertificateIds(_) => {
            Response::GetInstalledCertificateIds(GetInstalledCertificateIdsResponse {
                certificate_hash_data: None,
                status: GetInstalledCertificateStatusEnum::NotFound,
            })
        }
        Request::CertificateSigned(_) => Response::CertificateSigned(CertificateSignedResponse {
            status: CertificateSignedStatusEnum::Accepted,
        }),
        other => {
            return Err(Refusal::sent_by_stations(
                other.action().as_str(),
                "charge points",
            ));
        }
    })
}

/// Accepted when an operative EVSE (the one asked for, if any) is idle; the session starts in
/// the behaviour loop.
fn remote_start(
    st: &mut StationState,
    r: RemoteStartTransactionRequest,
) -> RemoteStartTransactionResponse {
    if !free_evse(st, r.connector_id) {
        return RemoteStartTransactionResponse {
            status: RemoteStartStopStatus::Rejected,
        };
    }
    st.follow_ups.push_back(FollowUp::RemoteStart {
        evse: r.connector_id.and_then(|c| u32::try_from(c).ok()),
        token: r.id_tag,
        remote_start_id: None,
        profile: r
            .charging_profile
            .as_ref()
            .map(|p| Box::new(crate::profiles::from_v16(p))),
    });
    RemoteStartTransactionResponse {
        status: RemoteStartStopStatus::Accepted,
    }
}

/// Accepted when the transaction is in progress here.
fn remote_stop(
    st: &mut StationState,
    r: RemoteStopTransactionRequest,
) -> RemoteStopTransactionResponse {
    let transaction_id = r.transaction_id.to_string();
    if !has_tx(st, &transaction_id) {
        return RemoteStopTransactionResponse {
            status: RemoteStartStopStatus::Rejected,
        };
    }
    st.follow_ups
        .push_back(FollowUp::RemoteStop { transaction_id });
    RemoteStopTransactionResponse {
        status: RemoteStartStopStatus::Accepted,
    }
}

/// The 1.6 keys (those without a `Component.` prefix) asked for, or all of them; the names
/// asked for that the station does not have are listed as unknown.
fn get_configuration(st: &StationState, r: GetConfigurationRequest) -> GetConfigurationResponse {
    let wanted = |k: &str| {
        r.key
            .as_ref()
            .is_none_or(|want| want.iter().any(|w| w == k))
    };
    let keys = st
        .config
        .iter()
        .filter(|(k, _)| !k.contains('.') && wanted(k))
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            readonly: false,
            value: Some(v.clone()),
        })
        .collect();
    let unknown: Vec<String> = r
        .key
        .into_iter()
        .flatten()
        .filter(|k| !st.config.contains_key(k))
        .collect();
    GetConfigurationResponse {
        configuration_key: Some(keys),
        unknown_key: (!unknown.is_empty()).then_some(unknown),
    }
}

/// Stores the value; a new HeartbeatInterval takes effect at once.
fn change_configuration(st: &mut StationState, r: ChangeConfigurationRequest) {
    if r.key == "HeartbeatInterval"
        && let Ok(s) = r.value.parse::<u64>()
    {
        st.heartbeat = std::time::Duration::from_secs(s.max(1));
    }
    st.config.insert(r.key, r.value);
}

fn trigger(st: &mut StationState, message: Triggered, connector: Option<i64>) {
    st.follow_ups.push_back(FollowUp::Trigger {
        message,
        evse: connector.and_then(|c| u32::try_from(c).ok()),
    });
}

fn triggered(m: MessageTrigger) -> Triggered {
    match m {
        MessageTrigger::BootNotification => Triggered::BootNotification,
        MessageTrigger::DiagnosticsStatusNotification => Triggered::DiagnosticsStatusNotification,
        MessageTrigger::FirmwareStatusNotification => Triggered::FirmwareStatusNotification,
        MessageTrigger::Heartbeat => Triggered::Heartbeat,
        MessageTrigger::MeterValues => Triggered::MeterValues,
        MessageTrigger::StatusNotification => Triggered::StatusNotification,
    }
}

fn extended(m: MessageTriggerEnum) -> Triggered {
    match m {
        MessageTriggerEnum::BootNotification => Triggered::BootNotification,
        MessageTriggerEnum::LogStatusNotification => Triggered::LogStatusNotification,
        MessageTriggerEnum::FirmwareStatusNotification => Triggered::FirmwareStatusNotification,
        MessageTriggerEnum::Heartbeat => Triggered::Heartbeat,
        MessageTriggerEnum::MeterValues => Triggered::MeterValues,
        MessageTriggerEnum::StatusNotification => Triggered::StatusNotification,
        MessageTriggerEnum::SignChargePointCertificate => Triggered::Other,
    }
}
