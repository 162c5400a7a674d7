//! The CALLs a simulated station sends, built from the generated types of `arus-ocpp`.
//!
//! Each function builds one message (or the steps of one report) for the station's version and
//! returns it as an [`Outgoing`]: the action's wire name and the serialized payload. Nothing here
//! sends; `behaviour` decides when.
//!
//! - this module: boot, heartbeat, connector status, and the reports that follow CSMS commands
//!   (firmware, uploads, device model, customer information, monitoring);
//! - `transactions`: authorization, sessions and their meter values (1.6 Start/StopTransaction
//!   and MeterValues, 2.0.1 TransactionEvent);
//! - `template`: the benchmark loop's MeterValues.
//!
//! # Invariants
//!
//! - Every payload is a generated request type, checked with its `Validate` rules before it is
//!   serialized (and, in debug builds, decoded again against the schema), so a bug in the
//!   simulator shows up as its own error, not as a CSMS fault.
//! - A message costs one serialization: no JSON tree is built. The benchmark loop's MeterValues
//!   goes further: [`Template`] renders the typed message once and only fills in the timestamp
//!   and the register per message.

mod template;
mod transactions;

use arus_ocpp::v16::ChargePointStatus as Status;
use arus_ocpp::{Call, Timestamp, v16, v201};

pub(crate) use template::Template;
pub(crate) use transactions::*;

use crate::behaviour::StationState;

/// A CALL ready to go: its action and its JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub action: &'static str,
    pub payload: String,
}

impl Outgoing {
    /// Checks and serializes a request.
    pub fn new<T: Call>(request: &T) -> Outgoing {
        if let Err(v) = request.validate() {
            tracing::error!(action = T::ACTION_NAME, error = %v, "the simulator built an invalid message");
        }
        let payload = serde_json::to_string(request).expect("generated messages serialize");
        debug_assert!(
            arus_ocpp::decode_request(T::VERSION, T::ACTION_NAME, &payload).is_ok(),
            "{} {payload}",
            T::ACTION_NAME
        );
        Outgoing {
            action: T::ACTION_NAME,
            payload,
        }
    }
}

const VENDOR: &str = "Arus Sim";
const MODEL: &str = "Virtual AC";
const FIRMWARE: &str = "sim-1.0";

/// BootNotification; `reason` is 2.0.1's (1.6 gives none).
pub(crate) fn boot(st: &StationState, reason: v201::BootReasonEnum) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::BootNotificationRequest {
            charge_point_vendor: VENDOR.into(),
            charge_point_model: MODEL.into(),
            charge_point_serial_number: Some(st.id.clone()),
            charge_box_serial_number: None,
            firmware_version: Some(FIRMWARE.into()),
            iccid: None,
            imsi: None,
            meter_type: None,
            meter_serial_number: None,
        })
    } else {
        Outgoing::new(&v201::BootNotificationRequest {
            custom_data: None,
            charging_station: v201::ChargingStation {
                custom_data: None,
                serial_number: Some(st.id.clone()),
                model: MODEL.into(),
                modem: None,
                vendor_name: VENDOR.into(),
                firmware_version: Some(FIRMWARE.into()),
            },
            reason,
        })
    }
}

pub(crate) fn heartbeat(st: &StationState) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::HeartbeatRequest::default())
    } else {
        Outgoing::new(&v201::HeartbeatRequest::default())
    }
}

/// The status of connector `evse` (0: the whole 1.6 charge point), in 1.6's words; 2.0.1 says
/// Occupied for a connector in use.
pub(crate) fn status(st: &StationState, evse: u32, status: Status) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::StatusNotificationRequest {
            connector_id: evse.into(),
            error_code: if status == Status::Faulted {
                v16::ChargePointErrorCode::GroundFailure
            } else {
                v16::ChargePointErrorCode::NoError
            },
            info: None,
            status,
            timestamp: Some(Timestamp::now()),
            vendor_id: None,
            vendor_error_code: None,
        })
    } else {
        use v201::ConnectorStatusEnum as C;
        let connector_status = match status {
            Status::Available => C::Available,
            Status::Reserved => C::Reserved,
            Status::Unavailable => C::Unavailable,
            Status::Faulted => C::Faulted,
            Status::Preparing
            | Status::Charging
            | Status::Finishing
            | Status::SuspendedEV
            | Status::SuspendedEVSE => C::Occupied,
        };
        Outgoing::new(&v201::StatusNotificationRequest {
            custom_data: None,
            timestamp: Timestamp::now(),
            connector_status,
            evse_id: evse.into(),
            connector_id: 1,
        })
    }
}

/// The steps of a firmware update (a signed one verifies the signature). 1.6 reports a signed
/// update with SignedFirmwareStatusNotification, which carries the request id as 2.0.1 does.
pub(crate) fn firmware(st: &StationState, request_id: Option<i64>, signed: bool) -> Vec<Outgoing> {
    use v201::FirmwareStatusEnum as F;
    if st.v16() && !signed {
        use v16::FirmwareStatus as S;
        return [S::Downloading, S::Downloaded, S::Installing, S::Installed]
            .into_iter()
            .map(|status| Outgoing::new(&v16::FirmwareStatusNotificationRequest { status }))
            .collect();
    }
    let steps = [
        F::Downloading,
        F::Downloaded,
        F::SignatureVerified,
        F::Installing,
        F::Installed,
    ];
    steps
        .into_iter()
        .map(|status| {
            if st.v16() {
                Outgoing::new(&v16::SignedFirmwareStatusNotificationRequest {
                    status: v16_firmware(status),
                    request_id,
                })
            } else {
                Outgoing::new(&v201::FirmwareStatusNotificationRequest {
                    custom_data: None,
                    status,
                    request_id,
                })
            }
        })
        .collect()
}

/// The 1.6 security extension's spelling of the firmware steps the simulator reports.
fn v16_firmware(status: v201::FirmwareStatusEnum) -> v16::FirmwareStatusEnum {
    use v16::FirmwareStatusEnum as S;
    use v201::FirmwareStatusEnum as F;
    match status {
        F::Downloading => S::Downloading,
        F::Downloaded => S::Downloaded,
        F::SignatureVerified => S::SignatureVerified,
        F::Installing => S::Installing,
        _ => S::Installed,
    }
}

/// The steps of an upload: 1.6 GetDiagnostics reports with DiagnosticsStatusNotification, a
/// log upload (both versions) with LogStatusNotification.
pub(crate) fn upload(
    st: &StationState,
    request_id: Option<i64>,
    diagnostics: bool,
) -> Vec<Outgoing> {
    if diagnostics {
        use v16::DiagnosticsStatus as D;
        return [D::Uploading, D::Uploaded]
            .into_iter()
            .map(|status| Outgoing::new(&v16::DiagnosticsStatusNotificationRequest { status }))
            .collect();
    }
    if st.v16() {
        use v16::UploadLogStatusEnum as U;
        [U::Uploading, U::Uploaded]
            .into_iter()
            .map(|status| Outgoing::new(&v16::LogStatusNotificationRequest { status, request_id }))
            .collect()
    } else {
        use v201::UploadLogStatusEnum as U;
        [U::Uploading, U::Uploaded]
            .into_iter()
            .map(|status| {
                Outgoing::new(&v201::LogStatusNotificationRequest {
                    custom_data: None,
                    status,
                    request_id,
                })
            })
            .collect()
    }
}

/// FirmwareStatusNotification Idle, answering a trigger.
pub(crate) fn firmware_idle(st: &StationState) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::FirmwareStatusNotificationRequest {
            status: v16::FirmwareStatus::Idle,
        })
    } else {
        Outgoing::new(&v201::FirmwareStatusNotificationRequest {
            custom_data: None,
            status: v201::FirmwareStatusEnum::Idle,
            request_id: None,
        })
    }
}

/// DiagnosticsStatusNotification Idle (1.6), answering a trigger.
pub(crate) fn diagnostics_idle() -> Outgoing {
    Outgoing::new(&v16::DiagnosticsStatusNotificationRequest {
        status: v16::DiagnosticsStatus::Idle,
    })
}

/// LogStatusNotification Idle, answering a trigger.
pub(crate) fn log_idle(st: &StationState) -> Outgoing {
    if st.v16() {
        Outgoing::new(&v16::LogStatusNotificationRequest {
            status: v16::UploadLogStatusEnum::Idle,
            request_id: None,
        })
    } else {
        Outgoing::new(&v201::LogStatusNotificationRequest {
            custom_data: None,
            status: v201::UploadLogStatusEnum::Idle,
            request_id: None,
        })
    }
}

/// K09 ReportChargingProfiles: one message per EVSE, all but the last marked `tbc`.
pub(crate) fn charging_profiles(
    request_id: i64,
    mut profiles: Vec<(u32, v201::ChargingProfile)>,
) -> Vec<Outgoing> {
    profiles.sort_by_key(|(evse, p)| (*evse, p.id));
    let mut per_evse: Vec<(u32, Vec<v201::ChargingProfile>)> = Vec::new();
    for (evse, p) in profiles {
        match per_evse.last_mut() {
            Some((e, list)) if *e == evse => list.push(p),
            _ => per_evse.push((evse, vec![p])),
        }
    }
    let last = per_evse.len().saturating_sub(1);
    per_evse
        .into_iter()
        .enumerate()
        .map(|(n, (evse, charging_profile))| {
            Outgoing::new(&v201::ReportChargingProfilesRequest {
                custom_data: None,
                request_id,
                charging_limit_source: v201::ChargingLimitSourceEnum::CSO,
                charging_profile,
                tbc: (n < last).then_some(true),
                evse_id: evse.into(),
            })
        })
        .collect()
}

/// NotifyReport of every variable the station keeps (1.6 keys belong to ChargingStation).
pub(crate) fn report(st: &StationState, request_id: i64) -> Outgoing {
    let report_data = st
        .config
        .iter()
        .map(|(k, v)| {
            let (component, variable) = k.split_once('.').unwrap_or(("ChargingStation", k));
            v201::ReportData {
                custom_data: None,
                component: v201::Component {
                    custom_data: None,
                    evse: None,
                    name: component.to_string(),
                    instance: None,
                },
                variable: v201::Variable {
                    custom_data: None,
                    name: variable.to_string(),
                    instance: None,
                },
                variable_attribute: vec![v201::VariableAttribute {
                    r#type: Some(v201::AttributeEnum::Actual),
                    value: Some(v.clone()),
                    mutability: Some(v201::MutabilityEnum::ReadWrite),
                    ..Default::default()
                }],
                variable_characteristics: None,
            }
        })
        .collect();
    Outgoing::new(&v201::NotifyReportRequest {
        custom_data: None,
        request_id,
        generated_at: Timestamp::now(),
        report_data: Some(report_data),
        tbc: Some(false),
        seq_no: 0,
    })
}

/// NotifyCustomerInformation: the simulator keeps no customer data.
pub(crate) fn customer_information(st: &StationState, request_id: i64) -> Outgoing {
    Outgoing::new(&v201::NotifyCustomerInformationRequest {
        custom_data: None,
        data: format!("no customer data on {}", st.id),
        tbc: Some(false),
        seq_no: 0,
        generated_at: Timestamp::now(),
        request_id,
    })
}

/// NotifyMonitoringReport: the simulator has no monitors.
pub(crate) fn monitoring_report(request_id: i64) -> Outgoing {
    Outgoing::new(&v201::NotifyMonitoringReportRequest {
        custom_data: None,
        monitor: None,
        request_id,
        tbc: Some(false),
        seq_no: 0,
        generated_at: Timestamp::now(),
    })
}

#[cfg(test)]
mod tests {
    use arus_ocpp::Version;
    use serde_json::Value;

    use super::*;
    use crate::behaviour::Tx;
    use crate::scenario::{Group, Mode};

    fn station(version: Version) -> StationState {
        let group = Group::new("T", 2, Mode::Realistic);
        let mut st = StationState::new("T-0".into(), version, &group, 1, false);
        st.evses[0].tx = Some(Tx {
            id: if version == Version::V16 {
                "17"
            } else {
                "t-17"
            }
            .into(),
            seq: 3,
            token: "TOKEN".into(),
            car: crate::behaviour::arriving(&mut crate::rng::Rng::new(1), &group),
            delivered_wh: 5_000.0,
            remote_start_id: Some(9),
            started: chrono::Utc::now(),
            charged_to: tokio::time::Instant::now(),
            drawing: crate::ev::Drawing::Charging,
            arrived: (tokio::time::Instant::now(), 0.0),
            profile: None,
        });
        st
    }

    fn json(m: &Outgoing) -> Value {
        serde_json::from_str(&m.payload).expect("JSON")
    }

    /// Each builder's message decodes against its schema (`Outgoing::new` checks it again in
    /// debug builds).
    #[test]
    fn every_message_is_valid() {
        for version in [Version::V16, Version::V201] {
            let mut st = station(version);
            let e = st.evses[0].clone();
            let tx = e.tx.clone().expect("a session");
            let mut all = vec![
                boot(&st, v201::BootReasonEnum::PowerUp),
                heartbeat(&st),
                status(&st, 1, Status::Charging),
                status(&st, 2, Status::Faulted),
                authorize(&st, "TOKEN"),
                triggered_meter_values(&st, &e),
                firmware_idle(&st),
                log_idle(&st),
            ];
            all.extend(firmware(&st, Some(4), true));
            all.extend(firmware(&st, None, false));
            all.extend(upload(&st, Some(5), false));
            if version == Version::V16 {
                let end = meter_value_v16(&e, &tx, 0.0, v16::ReadingContext::TransactionEnd);
                let mv = meter_value_v16(&e, &tx, 7000.0, v16::ReadingContext::SamplePeriodic);
                all.push(start_transaction(1, "TOKEN", 100));
                all.push(stop_transaction(17, "TOKEN", 200, true, end));
                all.push(meter_values_v16(1, 17, mv));
                all.push(diagnostics_idle());
                all.extend(upload(&st, None, true));
            } else {
                let mv =
                    meter_value_v201(&e, &tx, 7000.0, v201::ReadingContextEnum::SamplePeriodic);
                let mut ev = tx_event(
                    &mut st,
                    0,
                    v201::TransactionEventEnum::Started,
                    v201::TriggerReasonEnum::RemoteStart,
                );
                ev.meter_value = Some(vec![mv]);
                ev.id_token = tx_token("TOKEN");
                all.push(Outgoing::new(&ev));
                all.push(report(&st, 1));
                all.push(customer_information(&st, 2));
                all.push(monitoring_report(3));
            }
            for m in &all {
                let checked = arus_ocpp::decode_request(version, m.action, &m.payload);
                assert_eq!(checked, Ok(()), "{} {}", m.action, m.payload);
            }
        }
    }

    #[test]
    fn a_transaction_event_numbers_itself_and_says_when_it_was_offline() {
        let mut st = station(Version::V201);
        st.online = true;
        let started = v201::TransactionEventEnum::Started;
        let ev = json(&Outgoing::new(&tx_event(
            &mut st,
            0,
            started,
            v201::TriggerReasonEnum::RemoteStart,
        )));
        assert_eq!(ev["seqNo"], 3);
        assert_eq!(ev["transactionInfo"]["transactionId"], "t-17");
        assert_eq!(ev["transactionInfo"]["remoteStartId"], 9);
        assert_eq!(ev["evse"], serde_json::json!({"id": 1, "connectorId": 1}));
        assert!(ev.get("offline").is_none());
        st.online = false;
        let ev = json(&Outgoing::new(&tx_event(
            &mut st,
            0,
            v201::TransactionEventEnum::Updated,
            v201::TriggerReasonEnum::MeterValuePeriodic,
        )));
        assert_eq!(ev["seqNo"], 4);
        assert_eq!(ev["offline"], true);
        assert!(ev["transactionInfo"].get("remoteStartId").is_none());
    }

    #[test]
    fn a_used_connector_is_occupied_in_201() {
        let st = station(Version::V201);
        let m = json(&status(&st, 1, Status::Finishing));
        assert_eq!(m["connectorStatus"], "Occupied");
        let st = station(Version::V16);
        let m = json(&status(&st, 1, Status::Faulted));
        assert_eq!(m["status"], "Faulted");
        assert_eq!(m["errorCode"], "GroundFailure");
    }

    /// The template fills in the timestamp and the register and leaves a valid message.
    #[test]
    fn the_benchmark_template_renders_valid_meter_values() {
        for version in [Version::V16, Version::V201] {
            let st = station(version);
            let template = Template::meter_values(&st);
            let ts = Timestamp::parse("2026-03-04T05:06:07.089Z").expect("a timestamp");
            let text = template.render(&ts, 123_456);
            assert_eq!(
                arus_ocpp::decode_request(version, template.action, &text),
                Ok(()),
                "{text}"
            );
            let m: Value = serde_json::from_str(&text).expect("JSON");
            let mv = &m["meterValue"][0];
            assert_eq!(mv["timestamp"], "2026-03-04T05:06:07.089Z");
            let register = &mv["sampledValue"][0]["value"];
            if version == Version::V16 {
                assert_eq!(register, "123456");
            } else {
                assert_eq!(register, 123456);
            }
            assert_eq!(mv["sampledValue"].as_array().map(Vec::len), Some(4));
        }
    }
}
