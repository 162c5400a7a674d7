//! The simulated station's answers to every CSMS-initiated action of OCPP 1.6 and 2.0.1.
//!
//! A request is decoded and validated like Arus does (an invalid one gets the CALLERROR its
//! version names); the answer is checked against its schema before it goes out. Commands that
//! start work (a reset, a remote start, a trigger, a report, a firmware update) leave a
//! `FollowUp` for the behaviour loop, which sends the messages that follow.

use arus_ocpp::Version;
use arus_ocpp::rpc::{self, ErrorCode};
use serde_json::{Value, json};

use crate::behaviour::{FollowUp, Phase, StationState, now_ts};

/// The answer frame to CSMS CALL `id`.
pub(crate) fn answer(st: &mut StationState, id: &str, action: &str, payload: &str) -> String {
    let outcome = match st.version {
        Version::V16 => v16(st, action, payload),
        _ => v201(st, action, payload),
    };
    let mut out = String::new();
    match outcome {
        Ok(response) => {
            let text = response.to_string();
            if response_valid(st.version, action, &text) {
                rpc::write_result(&mut out, id, &text);
            } else {
                tracing::error!(%action, %text, "the simulator built an invalid answer");
                rpc::write_error(
                    &mut out,
                    st.version,
                    id,
                    ErrorCode::InternalError,
                    "invalid answer",
                    "{}",
                );
            }
        }
        Err((code, description)) => {
            rpc::write_error(&mut out, st.version, id, code, &description, "{}");
        }
    }
    out
}

fn response_valid(version: Version, action: &str, text: &str) -> bool {
    match version {
        Version::V16 => arus_ocpp::v16::Action::from_name(action)
            .is_some_and(|a| arus_ocpp::v16::Response::decode(a, text).is_ok()),
        _ => arus_ocpp::v201::Action::from_name(action)
            .is_some_and(|a| arus_ocpp::v201::Response::decode(a, text).is_ok()),
    }
}

type Outcome = Result<Value, (ErrorCode, String)>;

fn status(s: &str) -> Outcome {
    Ok(json!({ "status": s }))
}

fn has_tx(st: &StationState, id: &str) -> bool {
    st.evses
        .iter()
        .any(|e| e.tx.as_ref().is_some_and(|t| t.id == id))
}

fn set_availability(st: &mut StationState, evse: Option<u32>, operative: bool) -> &'static str {
    let mut busy = false;
    for e in st
        .evses
        .iter_mut()
        .filter(|e| evse.is_none_or(|id| id == 0 || id == e.id))
    {
        e.inoperative = !operative;
        busy |= e.phase == Phase::Charging || e.phase == Phase::Plugged;
    }
    st.follow_ups.push_back(FollowUp::Statuses);
    if busy && !operative {
        "Scheduled"
    } else {
        "Accepted"
    }
}

fn v16(st: &mut StationState, action: &str, payload: &str) -> Outcome {
    use arus_ocpp::v16::{Action, Request};
    let Some(a) = Action::from_name(action) else {
        return Err((
            ErrorCode::NotImplemented,
            format!("unknown action {action}"),
        ));
    };
    let req = Request::decode(a, payload)
        .map_err(|v| (ErrorCode::for_violation(&v, Version::V16), v.to_string()))?;
    match req {
        Request::Reset(_) => {
            st.follow_ups.push_back(FollowUp::Reboot);
            status("Accepted")
        }
        Request::RemoteStartTransaction(r) => {
            let free = st.evses.iter().any(|e| {
                e.phase == Phase::Idle
                    && !e.inoperative
                    && r.connector_id.is_none_or(|c| c == e.id as i64)
            });
            if !free {
                return status("Rejected");
            }
            st.follow_ups.push_back(FollowUp::RemoteStart {
                evse: r.connector_id.and_then(|c| u32::try_from(c).ok()),
                token: r.id_tag,
                remote_start_id: None,
            });
            status("Accepted")
        }
        Request::RemoteStopTransaction(r) => {
            let tx = r.transaction_id.to_string();
            if !has_tx(st, &tx) {
                return status("Rejected");
            }
            st.follow_ups
                .push_back(FollowUp::RemoteStop { transaction_id: tx });
            status("Accepted")
        }
        Request::ChangeAvailability(r) => {
            let operative = r.r#type == arus_ocpp::v16::AvailabilityType::Operative;
            status(set_availability(
                st,
                u32::try_from(r.connector_id).ok(),
                operative,
            ))
        }
        Request::UnlockConnector(_) => status("Unlocked"),
        Request::ClearCache(_) => status("Accepted"),
        Request::GetConfiguration(r) => {
            let keys: Vec<Value> = st
                .config
                .iter()
                .filter(|(k, _)| !k.contains('.'))
                .filter(|(k, _)| {
                    r.key
                        .as_ref()
                        .is_none_or(|want| want.iter().any(|w| w == *k))
                })
                .map(|(k, v)| json!({"key": k, "readonly": false, "value": v}))
                .collect();
            let unknown: Vec<&String> = r
                .key
                .iter()
                .flatten()
                .filter(|k| !st.config.contains_key(*k))
                .collect();
            let mut out = json!({ "configurationKey": keys });
            if !unknown.is_empty() {
                out["unknownKey"] = json!(unknown);
            }
            Ok(out)
        }
        Request::ChangeConfiguration(r) => {
            if r.key == "HeartbeatInterval"
                && let Ok(s) = r.value.parse::<u64>()
            {
                st.heartbeat = std::time::Duration::from_secs(s.max(1));
            }
            st.config.insert(r.key, r.value);
            status("Accepted")
        }
        Request::DataTransfer(_) => Ok(json!({"status": "UnknownVendorId"})),
        Request::GetLocalListVersion(_) => Ok(json!({"listVersion": st.local_list_version})),
        Request::SendLocalList(r) => {
            st.local_list_version = r.list_version;
            status("Accepted")
        }
        Request::ReserveNow(_) => status("Accepted"),
        Request::CancelReservation(_) => status("Accepted"),
        Request::TriggerMessage(r) => {
            st.follow_ups.push_back(FollowUp::Trigger {
                message: r.requested_message.as_str().to_string(),
                evse: r.connector_id.and_then(|c| u32::try_from(c).ok()),
            });
            status("Accepted")
        }
        Request::ExtendedTriggerMessage(r) => {
            st.follow_ups.push_back(FollowUp::Trigger {
                message: r.requested_message.as_str().to_string(),
                evse: r.connector_id.and_then(|c| u32::try_from(c).ok()),
            });
            status("Accepted")
        }
        Request::UpdateFirmware(_) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: None,
                signed: false,
            });
            Ok(json!({}))
        }
        Request::SignedUpdateFirmware(r) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: Some(r.request_id),
                signed: true,
            });
            status("Accepted")
        }
        Request::GetDiagnostics(_) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: None,
                diagnostics: true,
            });
            Ok(json!({"fileName": format!("{}-diagnostics.log", st.id)}))
        }
        Request::GetLog(r) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: Some(r.request_id),
                diagnostics: false,
            });
            Ok(json!({"status": "Accepted", "filename": format!("{}.log", st.id)}))
        }
        Request::SetChargingProfile(_) => status("Accepted"),
        Request::ClearChargingProfile(_) => status("Accepted"),
        Request::GetCompositeSchedule(r) => Ok(json!({
            "status": "Accepted",
            "connectorId": r.connector_id,
            "scheduleStart": now_ts(),
            "chargingSchedule": {"duration": r.duration, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}
        })),
        Request::InstallCertificate(_) => status("Accepted"),
        Request::DeleteCertificate(_) => status("NotFound"),
        Request::GetInstalledCertificateIds(_) => status("NotFound"),
        Request::CertificateSigned(_) => status("Accepted"),
        other => Err((
            ErrorCode::NotSupported,
            format!("{} is sent by charge points", other.action()),
        )),
    }
}

fn v201(st: &mut StationState, action: &str, payload: &str) -> Outcome {
    use arus_ocpp::v201::{Action, Request};
    let Some(a) = Action::from_name(action) else {
        return Err((
            ErrorCode::NotImplemented,
            format!("unknown action {action}"),
        ));
    };
    let req = Request::decode(a, payload)
        .map_err(|v| (ErrorCode::for_violation(&v, Version::V201), v.to_string()))?;
    match req {
        Request::Reset(r) => {
            let busy = st.evses.iter().any(|e| e.tx.is_some());
            st.follow_ups.push_back(FollowUp::Reboot);
            if busy && r.r#type == arus_ocpp::v201::ResetEnum::OnIdle {
                status("Scheduled")
            } else {
                status("Accepted")
            }
        }
        Request::RequestStartTransaction(r) => {
            let free = st.evses.iter().any(|e| {
                e.phase == Phase::Idle
                    && !e.inoperative
                    && r.evse_id.is_none_or(|id| id == e.id as i64)
            });
            if !free {
                return status("Rejected");
            }
            st.follow_ups.push_back(FollowUp::RemoteStart {
                evse: r.evse_id.and_then(|e| u32::try_from(e).ok()),
                token: r.id_token.id_token,
                remote_start_id: Some(r.remote_start_id),
            });
            status("Accepted")
        }
        Request::RequestStopTransaction(r) => {
            if !has_tx(st, &r.transaction_id) {
                return status("Rejected");
            }
            st.follow_ups.push_back(FollowUp::RemoteStop {
                transaction_id: r.transaction_id,
            });
            status("Accepted")
        }
        Request::ChangeAvailability(r) => {
            let operative =
                r.operational_status == arus_ocpp::v201::OperationalStatusEnum::Operative;
            let evse = r.evse.and_then(|e| u32::try_from(e.id).ok());
            status(set_availability(st, evse, operative))
        }
        Request::UnlockConnector(_) => status("Unlocked"),
        Request::ClearCache(_) => status("Accepted"),
        Request::GetVariables(r) => {
            let results: Vec<Value> = r
                .get_variable_data
                .iter()
                .map(|d| {
                    let key = format!("{}.{}", d.component.name, d.variable.name);
                    let mut v = json!({"component": {"name": d.component.name}, "variable": {"name": d.variable.name}});
                    match st.config.get(&key) {
                        Some(value) => {
                            v["attributeStatus"] = json!("Accepted");
                            v["attributeValue"] = json!(value);
                        }
                        None => v["attributeStatus"] = json!("UnknownVariable"),
                    }
                    v
                })
                .collect();
            Ok(json!({ "getVariableResult": results }))
        }
        Request::SetVariables(r) => {
            let results: Vec<Value> = r
                .set_variable_data
                .iter()
                .map(|d| {
                    let key = format!("{}.{}", d.component.name, d.variable.name);
                    st.config.insert(key, d.attribute_value.clone());
                    json!({"attributeStatus": "Accepted", "component": {"name": d.component.name}, "variable": {"name": d.variable.name}})
                })
                .collect();
            Ok(json!({ "setVariableResult": results }))
        }
        Request::GetBaseReport(r) => {
            st.follow_ups.push_back(FollowUp::Report {
                request_id: r.request_id,
            });
            status("Accepted")
        }
        Request::GetReport(r) => {
            st.follow_ups.push_back(FollowUp::Report {
                request_id: r.request_id,
            });
            status("Accepted")
        }
        Request::GetMonitoringReport(r) => {
            st.follow_ups.push_back(FollowUp::Monitoring {
                request_id: r.request_id,
            });
            status("Accepted")
        }
        Request::TriggerMessage(r) => {
            st.follow_ups.push_back(FollowUp::Trigger {
                message: r.requested_message.as_str().to_string(),
                evse: r.evse.and_then(|e| u32::try_from(e.id).ok()),
            });
            status("Accepted")
        }
        Request::GetTransactionStatus(r) => {
            let ongoing = r.transaction_id.as_deref().map(|id| has_tx(st, id));
            let mut out = json!({"messagesInQueue": !st.queue.is_empty()});
            if let Some(o) = ongoing {
                out["ongoingIndicator"] = json!(o);
            }
            Ok(out)
        }
        Request::CustomerInformation(r) => {
            st.follow_ups.push_back(FollowUp::Customer {
                request_id: r.request_id,
            });
            status("Accepted")
        }
        Request::DataTransfer(_) => status("UnknownVendorId"),
        Request::GetLocalListVersion(_) => Ok(json!({"versionNumber": st.local_list_version})),
        Request::SendLocalList(r) => {
            st.local_list_version = r.version_number;
            status("Accepted")
        }
        Request::ReserveNow(_) => status("Accepted"),
        Request::CancelReservation(_) => status("Accepted"),
        Request::UpdateFirmware(r) => {
            st.follow_ups.push_back(FollowUp::Firmware {
                request_id: Some(r.request_id),
                signed: true,
            });
            status("Accepted")
        }
        Request::PublishFirmware(_) => status("Accepted"),
        Request::UnpublishFirmware(_) => status("Unpublished"),
        Request::GetLog(r) => {
            st.follow_ups.push_back(FollowUp::Upload {
                request_id: Some(r.request_id),
                diagnostics: false,
            });
            Ok(json!({"status": "Accepted", "filename": format!("{}.log", st.id)}))
        }
        Request::SetChargingProfile(_) => status("Accepted"),
        Request::ClearChargingProfile(_) => status("Accepted"),
        Request::GetChargingProfiles(_) => status("NoProfiles"),
        Request::GetCompositeSchedule(r) => Ok(json!({
            "status": "Accepted",
            "schedule": {"evseId": r.evse_id, "duration": r.duration, "scheduleStart": now_ts(), "chargingRateUnit": "A",
                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}
        })),
        Request::SetDisplayMessage(_) => status("Accepted"),
        Request::GetDisplayMessages(_) => status("Unknown"),
        Request::ClearDisplayMessage(_) => status("Unknown"),
        Request::CostUpdated(_) => Ok(json!({})),
        Request::SetNetworkProfile(_) => status("Accepted"),
        Request::SetMonitoringBase(_) => status("Accepted"),
        Request::SetMonitoringLevel(_) => status("Accepted"),
        Request::SetVariableMonitoring(r) => {
            let results: Vec<Value> = r
                .set_monitoring_data
                .iter()
                .map(|d| json!({"status": "Rejected", "type": d.r#type.as_str(), "severity": d.severity,
                                "component": {"name": d.component.name}, "variable": {"name": d.variable.name}}))
                .collect();
            Ok(json!({"setMonitoringResult": results}))
        }
        Request::ClearVariableMonitoring(r) => {
            let results: Vec<Value> =
                r.id.iter()
                    .map(|id| json!({"status": "NotFound", "id": id}))
                    .collect();
            Ok(json!({"clearMonitoringResult": results}))
        }
        Request::InstallCertificate(_) => status("Accepted"),
        Request::DeleteCertificate(_) => status("NotFound"),
        Request::GetInstalledCertificateIds(_) => status("NotFound"),
        Request::CertificateSigned(_) => status("Accepted"),
        other => Err((
            ErrorCode::NotSupported,
            format!("{} is sent by charging stations", other.action()),
        )),
    }
}

#[cfg(test)]
mod tests {
    //! Every action the CSMS may send, in its smallest schema-valid form (built from the OCA
    //! schemas), gets a CALLRESULT whose payload is valid against the response schema; actions
    //! only stations send get NotSupported.
    use super::*;
    use crate::scenario::{Group, Mode};

    /// Actions a charging station sends (OCPP 1.6 §4 and the security extension; 2.0.1 part 2
    /// per functional block). DataTransfer goes both ways.
    const STATION_SENDS_V16: &[&str] = &[
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    ];
    const STATION_SENDS_V201: &[&str] = &[
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    ];

    /// The smallest instance of `schema`: required properties only, first enum values,
    /// minimum numbers, the fewest array items (at least one when required).
    fn minimal(schema: &Value, root: &Value) -> Value {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            return minimal(&root["definitions"][name], root);
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let mut out = serde_json::Map::new();
                for name in schema["required"].as_array().into_iter().flatten() {
                    let name = name.as_str().expect("property names are strings");
                    out.insert(name.to_string(), minimal(&schema["properties"][name], root));
                }
                Value::Object(out)
            }
            Some("array") => {
                let n = schema["minItems"].as_u64().unwrap_or(1).max(1);
                Value::Array((0..n).map(|_| minimal(&schema["items"], root)).collect())
            }
            Some("integer") | Some("number") => {
                schema.get("minimum").cloned().unwrap_or_else(|| json!(1))
            }
            Some("boolean") => json!(false),
            _ if schema.get("format").and_then(Value::as_str) == Some("date-time") => {
                json!("2026-01-01T00:00:00.000Z")
            }
            _ if schema.get("format").and_then(Value::as_str) == Some("uri") => {
                json!("https://example.com/x")
            }
            _ => json!("x"),
        }
    }

    fn check(version: Version, dir: &str, names: Vec<&str>, station_sends: &[&str], suffix: &str) {
        let group = Group::new("T", 1, Mode::Realistic);
        let mut st = StationState::new("T-0".into(), version, &group, 1, false);
        let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../ocpp/schemas/");
        let mut answered = 0;
        for action in names {
            let path = format!("{schemas}{dir}/{action}{suffix}.json");
            let text = std::fs::read_to_string(&path).expect("schema readable");
            let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
            let request = minimal(&schema, &schema).to_string();
            let frame = answer(&mut st, "42", action, &request);
            let frame: Value = serde_json::from_str(&frame).expect("answer is JSON");
            if station_sends.contains(&action) && action != "DataTransfer" {
                assert_eq!(frame[0], 4, "{action}: {frame}");
                assert_eq!(frame[2], "NotSupported", "{action}");
                continue;
            }
            assert_eq!(frame[0], 3, "{action} {request} was refused: {frame}");
            assert_eq!(frame[1], "42");
            assert!(
                response_valid(version, action, &frame[2].to_string()),
                "{action}: {frame}"
            );
            answered += 1;
        }
        assert!(answered > 20, "only {answered} actions answered");
    }

    #[test]
    fn every_csms_action_of_ocpp16_gets_a_valid_answer() {
        let names = arus_ocpp::v16::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        check(Version::V16, "v16", names, STATION_SENDS_V16, "");
    }

    #[test]
    fn every_csms_action_of_ocpp201_gets_a_valid_answer() {
        let names = arus_ocpp::v201::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        check(Version::V201, "v201", names, STATION_SENDS_V201, "Request");
    }
}
