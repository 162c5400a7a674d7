//! The OCPP 2.0.1 adapter: every message a charging station may send, turned into a call of
//! the domain and answered.
//!
//! Messages of features that later work completes (certificates, smart charging, display
//! messages, reports) are recorded as notices and answered as the specification allows for a
//! CSMS without the feature: SignCertificate, Get15118EVCertificate and GetCertificateStatus
//! are refused, the rest acknowledged. NotifyEVChargingNeeds is accepted when a transaction
//! goes on at its EVSE (load management sends it a TxProfile), else rejected.

use arus_domain::Csms;
use arus_domain::DomainError;
use arus_domain::authorization::{Authorization, AuthorizationStatus, IdToken as DomainToken};
use arus_domain::availability::{ConnectorStatus, StatusReport};
use arus_domain::csms::StationContext;
use arus_domain::device_model::DeviceVariable;
use arus_domain::metering::{
    Label, MeterValue as DomainMeterValue, Sample, SignedMeterValue as Signed,
};
use arus_domain::notices::{self, CustomerData, NoticeKind, Progress, ReportPart};
use arus_domain::provisioning::{BootInfo, RegistrationStatus};
use arus_domain::transactions::{EventKind, TransactionEvent};
use arus_ocpp::v201::*;
use arus_ocpp::{Timestamp, Version};

use crate::adapter::{self, Outcome, notice};

adapter::version_handler!(Version::V201);

fn token(t: &IdToken) -> DomainToken {
    DomainToken {
        value: t.id_token.clone(),
        kind: Some(t.r#type.as_str().to_string()),
    }
}

fn id_token_info(a: Authorization) -> IdTokenInfo {
    IdTokenInfo {
        custom_data: None,
        status: match a.status {
            AuthorizationStatus::Accepted => AuthorizationStatusEnum::Accepted,
            AuthorizationStatus::Blocked => AuthorizationStatusEnum::Blocked,
            AuthorizationStatus::ConcurrentTx => AuthorizationStatusEnum::ConcurrentTx,
            AuthorizationStatus::Expired => AuthorizationStatusEnum::Expired,
            AuthorizationStatus::Invalid => AuthorizationStatusEnum::Invalid,
            AuthorizationStatus::NoCredit => AuthorizationStatusEnum::NoCredit,
            AuthorizationStatus::NotAllowedTypeEVSE => AuthorizationStatusEnum::NotAllowedTypeEVSE,
            AuthorizationStatus::NotAtThisLocation => AuthorizationStatusEnum::NotAtThisLocation,
            AuthorizationStatus::NotAtThisTime => AuthorizationStatusEnum::NotAtThisTime,
            AuthorizationStatus::Unknown => AuthorizationStatusEnum::Unknown,
        },
        cache_expiry_date_time: a.expiry_date.map(Timestamp),
        charging_priority: None,
        language1: None,
        language2: None,
        evse_id: None,
        // The group is identified by its value; its type is the CSMS's own.
        group_id_token: a
            .group_id_token
            .filter(|g| g.chars().count() <= 36)
            .map(|g| IdToken {
                custom_data: None,
                additional_info: None,
                id_token: g,
                r#type: IdTokenEnum::Central,
            }),
        personal_message: None,
    }
}

fn connector_status(s: ConnectorStatusEnum) -> ConnectorStatus {
    match s {
        ConnectorStatusEnum::Available => ConnectorStatus::Available,
        ConnectorStatusEnum::Occupied => ConnectorStatus::Occupied,
        ConnectorStatusEnum::Reserved => ConnectorStatus::Reserved,
        ConnectorStatusEnum::Unavailable => ConnectorStatus::Unavailable,
        ConnectorStatusEnum::Faulted => ConnectorStatus::Faulted,
    }
}

fn id(n: i64) -> Option<u32> {
    u32::try_from(n).ok()
}

fn meter_values(values: Vec<MeterValue>) -> Vec<DomainMeterValue> {
    values
        .into_iter()
        .map(|mv| DomainMeterValue {
            timestamp: mv.timestamp.0,
            samples: mv
                .sampled_value
                .into_iter()
                .map(|s| {
                    let (unit, multiplier) = s
                        .unit_of_measure
                        .map_or((None, None), |u| (u.unit, u.multiplier));
                    Sample {
                        value: Some(s.value),
                        raw: None,
                        context: s.context.map(|c| Label::Borrowed(c.as_str())),
                        format: None,
                        measurand: s.measurand.map(|m| Label::Borrowed(m.as_str())),
                        phase: s.phase.map(|p| Label::Borrowed(p.as_str())),
                        location: s.location.map(|l| Label::Borrowed(l.as_str())),
                        unit: unit.map(Label::Owned),
                        multiplier: multiplier.and_then(|m| i32::try_from(m).ok()),
                        signed: s.signed_meter_value.map(|v| Signed {
                            signed_meter_data: v.signed_meter_data,
                            signing_method: v.signing_method,
                            encoding_method: v.encoding_method,
                            public_key: v.public_key,
                        }),
                    }
                })
                .collect(),
        })
        .collect()
}

/// B07/B08: the variables of a NotifyReport part, one per reported attribute.
fn reported_variables(r: &NotifyReportRequest) -> Vec<DeviceVariable> {
    let mut out = Vec::new();
    for d in r.report_data.iter().flatten() {
        let characteristics = d
            .variable_characteristics
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or_default();
        for a in &d.variable_attribute {
            out.push(arus_domain::device_model::sanitized(DeviceVariable {
                component: d.component.name.clone(),
                component_instance: d.component.instance.clone(),
                evse_id: d
                    .component
                    .evse
                    .as_ref()
                    .and_then(|e| u32::try_from(e.id).ok()),
                connector_id: d
                    .component
                    .evse
                    .as_ref()
                    .and_then(|e| e.connector_id)
                    .and_then(|c| u32::try_from(c).ok()),
                variable: d.variable.name.clone(),
                variable_instance: d.variable.instance.clone(),
                attribute: a
                    .r#type
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "Actual".into()),
                value: a.value.clone(),
                mutability: a.mutability.map(|m| m.as_str().to_string()),
                characteristics: characteristics.clone(),
            }));
        }
    }
    out
}

/// Connector statuses carried by NotifyEvent (`Connector.AvailabilityState`): Part 5 requires a
/// CSMS to take them like StatusNotification.
fn availability_reports(r: &NotifyEventRequest) -> Vec<StatusReport> {
    r.event_data
        .iter()
        .filter(|e| e.component.name == "Connector" && e.variable.name == "AvailabilityState")
        .filter_map(|e| {
            let evse = e.component.evse.as_ref()?;
            let status = ConnectorStatus::parse(&e.actual_value)?;
            Some(StatusReport {
                evse_id: id(evse.id)?,
                connector_id: evse.connector_id.and_then(id).unwrap_or(1),
                status,
                error_code: None,
                info: None,
                vendor_id: None,
                vendor_error_code: None,
                timestamp: e.timestamp.0,
            })
        })
        .collect()
}

async fn dispatch(
    csms: &Csms,
    st: &mut StationContext,
    request: Request,
) -> Result<Outcome, DomainError> {
    Ok(match request {
        Request::BootNotification(r) => {
            let cs = r.charging_station;
            let info = BootInfo {
                vendor: cs.vendor_name,
                model: cs.model,
                serial_number: cs.serial_number,
                firmware_version: cs.firmware_version,
                iccid: cs.modem.as_ref().and_then(|m| m.iccid.clone()),
                imsi: cs.modem.as_ref().and_then(|m| m.imsi.clone()),
                meter_type: None,
                meter_serial_number: None,
                reason: Some(r.reason.as_str().to_string()),
            };
            let d = csms.boot(st, info).await?;
            adapter::respond(&BootNotificationResponse {
                custom_data: None,
                current_time: Timestamp(d.now),
                interval: d.interval_s.into(),
                status: match d.status {
                    RegistrationStatus::Accepted => RegistrationStatusEnum::Accepted,
                    RegistrationStatus::Pending => RegistrationStatusEnum::Pending,
                    RegistrationStatus::Rejected => RegistrationStatusEnum::Rejected,
                },
                status_info: None,
            })
        }
        Request::Heartbeat(_) => adapter::respond(&HeartbeatResponse {
            custom_data: None,
            current_time: Timestamp::now(),
        }),
        Request::StatusNotification(r) => {
            let (Some(evse), Some(conn)) = (id(r.evse_id), id(r.connector_id)) else {
                return Ok(adapter::invalid_value("ids must not be negative"));
            };
            csms.status(
                st,
                StatusReport {
                    evse_id: evse,
                    connector_id: conn,
                    status: connector_status(r.connector_status),
                    error_code: None,
                    info: None,
                    vendor_id: None,
                    vendor_error_code: None,
                    timestamp: r.timestamp.0,
                },
            )
            .await?;
            adapter::respond(&StatusNotificationResponse::default())
        }
        Request::Authorize(r) => {
            let a = csms.authorize(st, &token(&r.id_token)).await?;
            adapter::respond(&AuthorizeResponse {
                custom_data: None,
                id_token_info: id_token_info(a),
                certificate_status: None,
            })
        }
        Request::TransactionEvent(r) => {
            let Some(seq) = u32::try_from(r.seq_no).ok() else {
                return Ok(adapter::invalid_value("seqNo must not be negative"));
            };
            let info = r.transaction_info;
            let ev = TransactionEvent {
                kind: match r.event_type {
                    TransactionEventEnum::Started => EventKind::Started,
                    TransactionEventEnum::Updated => EventKind::Updated,
                    TransactionEventEnum::Ended => EventKind::Ended,
                },
                transaction_id: info.transaction_id,
                seq_no: Some(seq),
                timestamp: r.timestamp.0,
                trigger: Some(r.trigger_reason.as_str().to_string()),
                evse_id: r.evse.as_ref().and_then(|e| id(e.id)),
                connector_id: r.evse.as_ref().and_then(|e| e.connector_id).and_then(id),
                id_token: r.id_token.as_ref().map(token),
                meter_values: r.meter_value.map(meter_values).unwrap_or_default(),
                meter_start_wh: None,
                meter_stop_wh: None,
                stop_reason: info.stopped_reason.map(|s| s.as_str().to_string()),
                charging_state: info.charging_state.map(|s| s.as_str().to_string()),
                offline: r.offline.unwrap_or(false),
                remote_start_id: info.remote_start_id,
                reservation_id: r.reservation_id,
            };
            let a = csms.transaction_event(st, ev).await?;
            adapter::respond(&TransactionEventResponse {
                id_token_info: a.map(id_token_info),
                ..TransactionEventResponse::default()
            })
        }
        Request::MeterValues(r) => {
            let Some(evse) = id(r.evse_id) else {
                return Ok(adapter::invalid_value("evseId must not be negative"));
            };
            csms.meter_values(st, evse, None, meter_values(r.meter_value))
                .await?;
            adapter::respond(&MeterValuesResponse::default())
        }
        Request::NotifyEvent(r) => {
            for report in availability_reports(&r) {
                csms.status(st, report).await?;
            }
            let n = notice(
                NoticeKind::Event,
                Some(r.generated_at.0),
                None,
                None,
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&NotifyEventResponse::default())
        }
        Request::DataTransfer(r) => {
            csms.data_transfer(st, &r.vendor_id, r.message_id.as_deref(), r.data)
                .await?;
            adapter::respond(&DataTransferResponse {
                custom_data: None,
                status: DataTransferStatusEnum::UnknownVendorId,
                status_info: None,
                data: None,
            })
        }
        Request::NotifyReport(r) => {
            let variables = reported_variables(&r);
            let n = notice(
                NoticeKind::Report,
                Some(r.generated_at.0),
                Some(r.request_id),
                None,
                notices::details(&ReportPart {
                    seq_no: r.seq_no,
                    tbc: r.tbc.unwrap_or(false),
                    variables: variables.clone(),
                }),
            );
            csms.report(st, n, variables).await?;
            adapter::respond(&NotifyReportResponse::default())
        }
        Request::FirmwareStatusNotification(r) => {
            let n = notice(
                NoticeKind::FirmwareStatus,
                None,
                r.request_id,
                Some(r.status.as_str()),
                notices::details(&Progress::default()),
            );
            csms.notice(st, n).await?;
            adapter::respond(&FirmwareStatusNotificationResponse::default())
        }
        Request::PublishFirmwareStatusNotification(r) => {
            let n = notice(
                NoticeKind::PublishFirmwareStatus,
                None,
                r.request_id,
                Some(r.status.as_str()),
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&PublishFirmwareStatusNotificationResponse::default())
        }
        Request::LogStatusNotification(r) => {
            let n = notice(
                NoticeKind::LogStatus,
                None,
                r.request_id,
                Some(r.status.as_str()),
                notices::details(&Progress::default()),
            );
            csms.notice(st, n).await?;
            adapter::respond(&LogStatusNotificationResponse::default())
        }
        Request::SecurityEventNotification(r) => {
            let n = notice(
                NoticeKind::SecurityEvent,
                Some(r.timestamp.0),
                None,
                Some(&r.r#type),
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&SecurityEventNotificationResponse::default())
        }
        Request::SignCertificate(r) => {
            record(csms, st, NoticeKind::Certificate, "SignCertificate", &r).await?;
            adapter::respond(&SignCertificateResponse {
                custom_data: None,
                status: GenericStatusEnum::Rejected,
                status_info: Some(no_feature("NoCertAuthority")),
            })
        }
        Request::Get15118EVCertificate(r) => {
            record(
                csms,
                st,
                NoticeKind::Certificate,
                "Get15118EVCertificate",
                &r,
            )
            .await?;
            adapter::respond(&Get15118EVCertificateResponse {
                custom_data: None,
                status: Iso15118EVCertificateStatusEnum::Failed,
                status_info: Some(no_feature("NoCertAuthority")),
                exi_response: String::new(),
            })
        }
        Request::GetCertificateStatus(r) => {
            record(
                csms,
                st,
                NoticeKind::Certificate,
                "GetCertificateStatus",
                &r,
            )
            .await?;
            adapter::respond(&GetCertificateStatusResponse {
                custom_data: None,
                status: GetCertificateStatusEnum::Failed,
                status_info: Some(no_feature("NoOcspResponder")),
                ocsp_result: None,
            })
        }
        Request::NotifyEVChargingNeeds(r) => {
            record(
                csms,
                st,
                NoticeKind::EvCharging,
                "NotifyEVChargingNeeds",
                &r,
            )
            .await?;
            let n = &r.charging_needs;
            let ac = n.ac_charging_parameters.as_ref();
            let energy = ac.map(|a| a.energy_amount).or_else(|| {
                n.dc_charging_parameters
                    .as_ref()
                    .and_then(|d| d.energy_amount)
            });
            let needs = arus_domain::needs::Wanted {
                departure: n.departure_time.as_ref().map(|t| t.0),
                energy_wh: energy.map(|e| e as f64),
                max_current_a: ac.map(|a| a.ev_max_current as f64),
                min_current_a: ac.map(|a| a.ev_min_current as f64),
            };
            let evse = u32::try_from(r.evse_id).unwrap_or(0);
            let accepted = csms.ev_charging_needs(st, evse, needs).await?;
            adapter::respond(&NotifyEVChargingNeedsResponse {
                custom_data: None,
                status: if accepted {
                    NotifyEVChargingNeedsStatusEnum::Accepted
                } else {
                    NotifyEVChargingNeedsStatusEnum::Rejected
                },
                status_info: (!accepted).then(|| StatusInfo {
                    custom_data: None,
                    reason_code: "NoTransaction".into(),
                    additional_info: None,
                }),
            })
        }
        Request::NotifyEVChargingSchedule(r) => {
            record(
                csms,
                st,
                NoticeKind::EvCharging,
                "NotifyEVChargingSchedule",
                &r,
            )
            .await?;
            // Accepted means received and processed, not approved (the message's description).
            adapter::respond(&NotifyEVChargingScheduleResponse {
                custom_data: None,
                status: GenericStatusEnum::Accepted,
                status_info: None,
            })
        }
        Request::NotifyChargingLimit(r) => {
            record(
                csms,
                st,
                NoticeKind::ChargingLimit,
                "NotifyChargingLimit",
                &r,
            )
            .await?;
            adapter::respond(&NotifyChargingLimitResponse::default())
        }
        Request::ClearedChargingLimit(r) => {
            record(
                csms,
                st,
                NoticeKind::ChargingLimit,
                "ClearedChargingLimit",
                &r,
            )
            .await?;
            adapter::respond(&ClearedChargingLimitResponse::default())
        }
        Request::NotifyCustomerInformation(r) => {
            let n = notice(
                NoticeKind::CustomerInformation,
                Some(r.generated_at.0),
                Some(r.request_id),
                None,
                notices::details(&CustomerData {
                    seq_no: r.seq_no,
                    tbc: r.tbc.unwrap_or(false),
                    data: r.data.clone(),
                }),
            );
            csms.notice(st, n).await?;
            adapter::respond(&NotifyCustomerInformationResponse::default())
        }
        Request::NotifyDisplayMessages(r) => {
            let n = notice(
                NoticeKind::DisplayMessages,
                None,
                Some(r.request_id),
                None,
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&NotifyDisplayMessagesResponse::default())
        }
        Request::NotifyMonitoringReport(r) => {
            let n = notice(
                NoticeKind::MonitoringReport,
                Some(r.generated_at.0),
                Some(r.request_id),
                None,
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&NotifyMonitoringReportResponse::default())
        }
        Request::ReportChargingProfiles(r) => {
            let n = notice(
                NoticeKind::ChargingProfiles,
                None,
                Some(r.request_id),
                None,
                adapter::details(&r),
            );
            // K09: what the station holds is recorded as it reports it, with who set it.
            let evse_id = u32::try_from(r.evse_id).unwrap_or(0);
            let profiles = r
                .charging_profile
                .iter()
                .map(|p| arus_domain::commands::Installed {
                    evse_id,
                    profile: crate::commands::profile_from(p),
                })
                .collect();
            csms.charging_profiles_reported(st, n, r.charging_limit_source.as_str(), profiles)
                .await?;
            adapter::respond(&ReportChargingProfilesResponse::default())
        }
        Request::ReservationStatusUpdate(r) => {
            let n = notice(
                NoticeKind::ReservationStatus,
                None,
                Some(r.reservation_id),
                Some(r.reservation_update_status.as_str()),
                serde_json::Value::Null,
            );
            csms.notice(st, n).await?;
            adapter::respond(&ReservationStatusUpdateResponse::default())
        }
        // Every other action is CSMS-initiated and was refused above.
        other => adapter::not_supported(other.action().as_str()),
    })
}

/// Records a message of a feature Arus does not have yet, by its name.
async fn record<T: serde::Serialize>(
    csms: &Csms,
    st: &StationContext,
    kind: NoticeKind,
    name: &str,
    message: &T,
) -> Result<(), DomainError> {
    csms.notice(
        st,
        notice(kind, None, None, Some(name), adapter::details(message)),
    )
    .await
}

fn no_feature(reason: &str) -> StatusInfo {
    StatusInfo {
        custom_data: None,
        reason_code: reason.to_string(),
        additional_info: None,
    }
}
