//! The OCPP 1.6 adapter (edition 2, with the security extension's messages): every message a
//! charge point may send, turned into a call of the domain and answered.
//!
//! Numbering: a 1.6 connector `n` is EVSE `n` with connector `n` in the domain (see
//! `arus_domain::availability`).

use arus_domain::Csms;
use arus_domain::DomainError;
use arus_domain::authorization::{Authorization, AuthorizationStatus, IdToken};
use arus_domain::availability::{ConnectorStatus, StatusReport};
use arus_domain::commands::LogType;
use arus_domain::csms::{StartRequest, StationContext};
use arus_domain::metering::{Label, MeterValue, Sample};
use arus_domain::notices::{self, NoticeKind, Progress};
use arus_domain::provisioning::{BootInfo, RegistrationStatus};
use arus_domain::transactions::{EventKind, TransactionEvent};
use arus_ocpp::v16::*;
use arus_ocpp::{Timestamp, Version};
use chrono::Utc;

use crate::adapter::{self, Outcome, notice};

adapter::version_handler!(Version::V16);

/// A connector id as the domain numbers it; 1.6 ids are never negative.
fn connector(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

fn id_tag(value: String) -> IdToken {
    IdToken { value, kind: None }
}

fn id_tag_info(a: Authorization) -> IdTagInfo {
    IdTagInfo {
        status: match a.status {
            AuthorizationStatus::Accepted => arus_ocpp::v16::AuthorizationStatus::Accepted,
            AuthorizationStatus::Blocked => arus_ocpp::v16::AuthorizationStatus::Blocked,
            AuthorizationStatus::Expired => arus_ocpp::v16::AuthorizationStatus::Expired,
            AuthorizationStatus::ConcurrentTx => arus_ocpp::v16::AuthorizationStatus::ConcurrentTx,
            // 1.6 has none of the 2.0.1 refinements.
            _ => arus_ocpp::v16::AuthorizationStatus::Invalid,
        },
        expiry_date: a.expiry_date.map(Timestamp),
        // IdToken is CiString20: a longer group id cannot be sent.
        parent_id_tag: a.group_id_token.filter(|g| g.chars().count() <= 20),
    }
}

fn status(s: ChargePointStatus) -> ConnectorStatus {
    match s {
        ChargePointStatus::Available => ConnectorStatus::Available,
        ChargePointStatus::Preparing => ConnectorStatus::Preparing,
        ChargePointStatus::Charging => ConnectorStatus::Charging,
        ChargePointStatus::SuspendedEVSE => ConnectorStatus::SuspendedEVSE,
        ChargePointStatus::SuspendedEV => ConnectorStatus::SuspendedEV,
        ChargePointStatus::Finishing => ConnectorStatus::Finishing,
        ChargePointStatus::Reserved => ConnectorStatus::Reserved,
        ChargePointStatus::Unavailable => ConnectorStatus::Unavailable,
        ChargePointStatus::Faulted => ConnectorStatus::Faulted,
    }
}

/// One 1.6 sampled value (MeterValues and StopTransaction have the same fields).
struct Sampled<'a> {
    value: &'a str,
    context: Option<&'static str>,
    format: Option<ValueFormat>,
    measurand: Option<&'static str>,
    phase: Option<&'static str>,
    location: Option<&'static str>,
    unit: Option<&'static str>,
}

fn sample(s: Sampled<'_>) -> Sample {
    let signed = s.format == Some(ValueFormat::SignedData);
    let number = if signed {
        None
    } else {
        s.value.trim().parse::<f64>().ok().filter(|v| v.is_finite())
    };
    Sample {
        value: number,
        raw: number.is_none().then(|| s.value.to_string()),
        context: s.context.map(Label::Borrowed),
        format: s.format.map(|f| Label::Borrowed(f.as_str())),
        measurand: s.measurand.map(Label::Borrowed),
        phase: s.phase.map(Label::Borrowed),
        location: s.location.map(Label::Borrowed),
        unit: s.unit.map(Label::Borrowed),
        multiplier: None,
        signed: None,
    }
}

/// The longest sampled value accepted, in bytes. 1.6 sets no length on it; signed meter data
/// (OCMF, EDL) carried in it stays well below this, as 2.0.1 caps signed meter data at 2,500
/// characters. A longer one is refused with PropertyConstraintViolation, never stored cut;
/// in a StopTransaction's transactionData it is left out instead, so that the stop is kept.
const MAX_SAMPLE_VALUE: usize = 8 * 1024;

/// The refusal of meter values with a sampled value over [`MAX_SAMPLE_VALUE`], if any is.
fn oversized_sample<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Outcome> {
    let longest = values.into_iter().map(str::len).max()?;
    (longest > MAX_SAMPLE_VALUE).then(|| {
        adapter::invalid_value(&format!(
            "a sampled value has {longest} bytes; at most {MAX_SAMPLE_VALUE} are accepted"
        ))
    })
}

/// Removes sampled values over [`MAX_SAMPLE_VALUE`] from a StopTransaction's transactionData
/// (and meter values left empty); returns how many it removed.
fn drop_oversized(data: &mut Option<Vec<TransactionData>>) -> usize {
    let Some(data) = data.as_mut() else {
        return 0;
    };
    let before: usize = data.iter().map(|m| m.sampled_value.len()).sum();
    for m in data.iter_mut() {
        m.sampled_value
            .retain(|s| s.value.len() <= MAX_SAMPLE_VALUE);
    }
    data.retain(|m| !m.sampled_value.is_empty());
    before - data.iter().map(|m| m.sampled_value.len()).sum::<usize>()
}

/// Converts a list of 1.6 meter values to the domain's. The schema declares the same shape
/// twice (MeterValues' `meterValue` and StopTransaction's `transactionData`), so the function
/// is defined once for each generated type.
macro_rules! meter_values_of {
    ($name:ident, $ty:ty) => {
        fn $name(values: &[$ty]) -> Vec<MeterValue> {
            values
                .iter()
                .map(|mv| MeterValue {
                    timestamp: mv.timestamp.0,
                    samples: mv
                        .sampled_value
                        .iter()
                        .map(|s| {
                            sample(Sampled {
                                value: &s.value,
                                context: s.context.map(|c| c.as_str()),
                                format: s.format,
                                measurand: s.measurand.map(|m| m.as_str()),
                                phase: s.phase.map(|p| p.as_str()),
                                location: s.location.map(|l| l.as_str()),
                                unit: s.unit.map(|u| u.as_str()),
                            })
                        })
                        .collect(),
                })
                .collect()
        }
    };
}
meter_values_of!(meter_values, arus_ocpp::v16::MeterValue);
meter_values_of!(transaction_data, TransactionData);

async fn dispatch(
    csms: &Csms,
    st: &mut StationContext,
    request: Request,
) -> Result<Outcome, DomainError> {
    Ok(match request {
        Request::BootNotification(r) => {
            let info = BootInfo {
                vendor: r.charge_point_vendor,
                model: r.charge_point_model,
                serial_number: r.charge_point_serial_number.or(r.charge_box_serial_number),
                firmware_version: r.firmware_version,
                iccid: r.iccid,
                imsi: r.imsi,
                meter_type: r.meter_type,
                meter_serial_number: r.meter_serial_number,
                reason: None,
            };
            let d = csms.boot(st, info).await?;
            adapter::respond(&BootNotificationResponse {
                current_time: Timestamp(d.now),
                interval: d.interval_s.into(),
                status: match d.status {
                    RegistrationStatus::Accepted => RegistrationStatus16::Accepted,
                    RegistrationStatus::Pending => RegistrationStatus16::Pending,
                    RegistrationStatus::Rejected => RegistrationStatus16::Rejected,
                },
            })
        }
        Request::Heartbeat(_) => adapter::respond(&HeartbeatResponse {
            current_time: Timestamp::now(),
        }),
        Request::StatusNotification(r) => {
            let Some(c) = connector(r.connector_id) else {
                return Ok(adapter::invalid_value("connectorId must not be negative"));
            };
            csms.status(
                st,
                StatusReport {
                    evse_id: c,
                    connector_id: c,
                    status: status(r.status),
                    error_code: Some(r.error_code.as_str().to_string()),
                    info: r.info,
                    vendor_id: r.vendor_id,
                    vendor_error_code: r.vendor_error_code,
                    timestamp: r.timestamp.map_or_else(Utc::now, |t| t.0),
                },
            )
            .await?;
            adapter::respond(&StatusNotificationResponse {})
        }
        Request::Authorize(r) => {
            let a = csms.authorize(st, &id_tag(r.id_tag)).await?;
            adapter::respond(&AuthorizeResponse {
                id_tag_info: id_tag_info(a),
            })
        }
        Request::StartTransaction(r) => {
            let Some(c) = connector(r.connector_id).filter(|c| *c > 0) else {
                return Ok(adapter::invalid_value("connectorId must be positive"));
            };
            let started = csms
                .start_transaction(
                    st,
                    StartRequest {
                        connector_id: c,
                        id_token: id_tag(r.id_tag),
                        meter_start_wh: r.meter_start as f64,
                        timestamp: r.timestamp.0,
                        reservation_id: r.reservation_id,
                    },
                )
                .await?;
            adapter::respond(&StartTransactionResponse {
                id_tag_info: id_tag_info(started.authorization),
                transaction_id: started.transaction_number,
            })
        }
        Request::StopTransaction(mut r) => {
            // The stop is billing data, which a refusal would leave for the station to retry
            // for ever: an oversized sampled value in its transactionData is left out (and
            // logged), the stop itself kept.
            let left_out = drop_oversized(&mut r.transaction_data);
            if left_out > 0 {
                tracing::warn!(
                    station = %st.id,
                    transaction = r.transaction_id,
                    left_out,
                    "StopTransaction: sampled values over {MAX_SAMPLE_VALUE} bytes left out of its transactionData"
                );
            }
            let ev = TransactionEvent {
                id_token: r.id_tag.map(id_tag),
                meter_values: r
                    .transaction_data
                    .as_deref()
                    .map(transaction_data)
                    .unwrap_or_default(),
                meter_stop_wh: Some(r.meter_stop as f64),
                stop_reason: r.reason.map(|x| x.as_str().to_string()),
                ..TransactionEvent::new(
                    EventKind::Ended,
                    r.transaction_id.to_string(),
                    r.timestamp.0,
                )
            };
            let a = csms.transaction_event(st, ev).await?;
            adapter::respond(&StopTransactionResponse {
                id_tag_info: a.map(id_tag_info),
            })
        }
        Request::MeterValues(r) => {
            let Some(c) = connector(r.connector_id) else {
                return Ok(adapter::invalid_value("connectorId must not be negative"));
            };
            let values = r.meter_value.iter();
            let values = values.flat_map(|m| m.sampled_value.iter().map(|s| s.value.as_str()));
            if let Some(refusal) = oversized_sample(values) {
                return Ok(refusal);
            }
            csms.meter_values(
                st,
                c,
                r.transaction_id.map(|t| t.to_string()),
                meter_values(&r.meter_value),
            )
            .await?;
            adapter::respond(&MeterValuesResponse {})
        }
        Request::DataTransfer(r) => {
            let data = r.data.map(serde_json::Value::String);
            csms.data_transfer(st, &r.vendor_id, r.message_id.as_deref(), data)
                .await?;
            adapter::respond(&DataTransferResponse {
                status: DataTransferStatus::UnknownVendorId,
                data: None,
            })
        }
        Request::DiagnosticsStatusNotification(r) => {
            let n = notice(
                NoticeKind::LogStatus,
                None,
                None,
                Some(r.status.as_str()),
                notices::details(&Progress {
                    log: Some(LogType::DiagnosticsLog),
                }),
            );
            csms.notice(st, n).await?;
            adapter::respond(&DiagnosticsStatusNotificationResponse {})
        }
        Request::FirmwareStatusNotification(r) => {
            let n = notice(
                NoticeKind::FirmwareStatus,
                None,
                None,
                Some(r.status.as_str()),
                notices::details(&Progress::default()),
            );
            csms.notice(st, n).await?;
            adapter::respond(&FirmwareStatusNotificationResponse {})
        }
        Request::SignedFirmwareStatusNotification(r) => {
            let n = notice(
                NoticeKind::FirmwareStatus,
                None,
                r.request_id,
                Some(r.status.as_str()),
                notices::details(&Progress::default()),
            );
            csms.notice(st, n).await?;
            adapter::respond(&SignedFirmwareStatusNotificationResponse {})
        }
        Request::LogStatusNotification(r) => {
            let n = notice(
                NoticeKind::LogStatus,
                None,
                r.request_id,
                Some(r.status.as_str()),
                notices::details(&Progress {
                    log: Some(LogType::SecurityLog),
                }),
            );
            csms.notice(st, n).await?;
            adapter::respond(&LogStatusNotificationResponse {})
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
            adapter::respond(&SecurityEventNotificationResponse {})
        }
        Request::SignCertificate(r) => {
            // No certificate authority yet: the request is kept and refused.
            let n = notice(
                NoticeKind::Certificate,
                None,
                None,
                Some("SignCertificate"),
                adapter::details(&r),
            );
            csms.notice(st, n).await?;
            adapter::respond(&SignCertificateResponse {
                status: GenericStatusEnum::Rejected,
            })
        }
        // Every other action is CSMS-initiated and was refused above.
        other => adapter::not_supported(other.action().as_str()),
    })
}

/// 1.6's RegistrationStatus, by a name that does not clash with the domain's.
use arus_ocpp::v16::RegistrationStatus as RegistrationStatus16;
