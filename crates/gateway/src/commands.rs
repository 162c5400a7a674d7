//! Commands in each version's words: a version-neutral [`Command`] becomes the requests the
//! station's version has for it, and their answers become one [`Outcome`].
//!
//! Each request is built as JSON and decoded with the version's generated types before it
//! goes out, so a request that its schema would refuse is never sent; each answer is decoded
//! against the response schema before it is read.

use arus_domain::commands::*;
use arus_ocpp::Version;
use serde_json::{Map, Value, json};

use crate::Gateway;
use crate::registry::CallError;

/// One request of a command: the action and its payload.
type Request = (&'static str, Value);

/// Sends a command to a connected station in its version and folds the answers.
pub(crate) async fn send(
    gateway: &Gateway,
    station_id: &str,
    command: &Command,
) -> Result<Outcome, SendError> {
    let version = gateway
        .registry
        .version(station_id)
        .ok_or(SendError::NotConnected)?;
    let requests = match version {
        Version::V16 => v16::requests(command)?,
        Version::V201 => v201::requests(command)?,
        Version::V21 => {
            return Err(SendError::Unsupported(
                "commands to OCPP 2.1 stations are not supported yet".into(),
            ));
        }
    };
    let mut answers = Vec::with_capacity(requests.len());
    for (action, payload) in requests {
        let text = payload.to_string();
        check_request(version, action, &text)?;
        let answer = gateway
            .registry
            .call(station_id, version, action, text)
            .await
            .map_err(send_error)?;
        check_response(version, action, &answer)?;
        let value: Value =
            serde_json::from_str(&answer).map_err(|e| SendError::InvalidResponse(e.to_string()))?;
        answers.push((action, value));
    }
    Ok(match version {
        Version::V16 => v16::outcome(command, answers),
        _ => v201::outcome(command, answers),
    })
}

fn send_error(e: CallError) -> SendError {
    match e {
        CallError::NotConnected | CallError::WrongVersion(_) => SendError::NotConnected,
        CallError::Busy => SendError::Busy,
        CallError::InvalidRequest(s) => SendError::Invalid(s),
        CallError::Timeout => SendError::Timeout,
        CallError::Disconnected => SendError::Disconnected,
        CallError::Refused { code, description } => SendError::Refused { code, description },
        CallError::InvalidResponse(s) => SendError::InvalidResponse(s),
    }
}

fn check_request(version: Version, action: &str, text: &str) -> Result<(), SendError> {
    let r = match version {
        Version::V16 => arus_ocpp::v16::Action::from_name(action)
            .map(|a| arus_ocpp::v16::Request::decode(a, text).map(drop)),
        _ => arus_ocpp::v201::Action::from_name(action)
            .map(|a| arus_ocpp::v201::Request::decode(a, text).map(drop)),
    };
    match r {
        Some(Ok(())) => Ok(()),
        Some(Err(v)) => Err(SendError::Invalid(format!("{action}: {v}"))),
        None => Err(SendError::Invalid(format!("no action {action}"))),
    }
}

fn check_response(version: Version, action: &str, text: &str) -> Result<(), SendError> {
    let r = match version {
        Version::V16 => arus_ocpp::v16::Action::from_name(action)
            .map(|a| arus_ocpp::v16::Response::decode(a, text).map(drop)),
        _ => arus_ocpp::v201::Action::from_name(action)
            .map(|a| arus_ocpp::v201::Response::decode(a, text).map(drop)),
    };
    match r {
        Some(Ok(())) => Ok(()),
        Some(Err(v)) => Err(SendError::InvalidResponse(format!("{action}: {v}"))),
        None => Err(SendError::InvalidResponse(format!("no action {action}"))),
    }
}

/// An object of the present values: `None` leaves the key out.
fn obj(pairs: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Value {
    let m: Map<String, Value> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(m)
}

fn some(v: impl Into<Value>) -> Option<Value> {
    Some(v.into())
}

fn opt<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

fn time(t: &arus_domain::Time) -> Value {
    Value::String(arus_ocpp::Timestamp::from(*t).to_string())
}

/// A certificate's hash data: the same members in both versions.
fn hash(h: &CertificateHash) -> Value {
    json!({
        "hashAlgorithm": h.hash_algorithm,
        "issuerNameHash": h.issuer_name_hash,
        "issuerKeyHash": h.issuer_key_hash,
        "serialNumber": h.serial_number,
    })
}

/// A charging schedule's periods: the same members in both versions.
fn periods(p: &ChargingProfile) -> Value {
    Value::Array(
        p.periods
            .iter()
            .map(|s| {
                obj([
                    ("startPeriod", some(s.start_s)),
                    ("limit", some(s.limit)),
                    ("numberPhases", opt(s.phases)),
                ])
            })
            .collect(),
    )
}

fn unsupported(what: &str, version: &str) -> SendError {
    SendError::Unsupported(format!("{what} is not in OCPP {version}"))
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// 2.0.1's statusInfo as one reason.
fn reason(v: &Value) -> Option<String> {
    let info = v.get("statusInfo")?;
    let code = str_of(info, "reasonCode")?;
    Some(match str_of(info, "additionalInfo") {
        Some(more) => format!("{code}: {more}"),
        None => code,
    })
}

fn status_of(v: &Value) -> String {
    str_of(v, "status").unwrap_or_else(|| "Accepted".into())
}

mod v16 {
    use super::*;

    fn connector(evse: Option<u32>) -> i64 {
        evse.map(i64::from).unwrap_or(0)
    }

    fn profile(p: &ChargingProfile, purpose: &str, transaction: Option<i64>) -> Value {
        obj([
            ("chargingProfileId", some(p.id)),
            ("transactionId", opt(transaction)),
            ("stackLevel", some(p.stack_level)),
            ("chargingProfilePurpose", some(purpose)),
            ("chargingProfileKind", some(p.kind.clone())),
            ("recurrencyKind", opt(p.recurrency.clone())),
            ("validFrom", p.valid_from.as_ref().map(time)),
            ("validTo", p.valid_to.as_ref().map(time)),
            (
                "chargingSchedule",
                Some(obj([
                    ("duration", opt(p.duration_s)),
                    ("startSchedule", p.start.as_ref().map(time)),
                    ("chargingRateUnit", some(p.rate_unit.clone())),
                    ("chargingSchedulePeriod", Some(periods(p))),
                    ("minChargingRate", opt(p.min_rate)),
                ])),
            ),
        ])
    }

    fn cert_type(k: CertificateKind) -> Result<&'static str, SendError> {
        match k {
            CertificateKind::CsmsRootCertificate => Ok("CentralSystemRootCertificate"),
            CertificateKind::ManufacturerRootCertificate => Ok("ManufacturerRootCertificate"),
            other => Err(unsupported(&format!("{other:?}"), "1.6")),
        }
    }

    pub(super) fn requests(c: &Command) -> Result<Vec<Request>, SendError> {
        let one = |action: &'static str, v: Value| Ok(vec![(action, v)]);
        match c {
            Command::RemoteStart(r) => one(
                "RemoteStartTransaction",
                obj([
                    ("connectorId", opt(r.evse_id)),
                    ("idTag", some(r.id_token.clone())),
                    (
                        "chargingProfile",
                        r.charging_profile
                            .as_ref()
                            .map(|p| profile(p, "TxProfile", None)),
                    ),
                ]),
            ),
            Command::RemoteStop(r) => {
                let id: i64 = r
                    .transaction_id
                    .parse()
                    .map_err(|_| SendError::Invalid("a 1.6 transaction id is a number".into()))?;
                one("RemoteStopTransaction", json!({ "transactionId": id }))
            }
            Command::Reset(r) => {
                if r.evse_id.is_some() {
                    return Err(unsupported("resetting one EVSE", "1.6"));
                }
                let kind = match r.kind {
                    ResetKind::Immediate => "Hard",
                    ResetKind::OnIdle => "Soft",
                };
                one("Reset", json!({ "type": kind }))
            }
            Command::UnlockConnector(r) => {
                one("UnlockConnector", json!({ "connectorId": r.evse_id }))
            }
            Command::ChangeAvailability(r) => one(
                "ChangeAvailability",
                json!({
                    "connectorId": connector(r.evse_id),
                    "type": if r.operative { "Operative" } else { "Inoperative" },
                }),
            ),
            Command::TriggerMessage(r) => {
                use TriggerKind as T;
                let (plain, name) = match r.message {
                    T::BootNotification => (true, "BootNotification"),
                    T::Heartbeat => (true, "Heartbeat"),
                    T::StatusNotification => (true, "StatusNotification"),
                    T::MeterValues => (true, "MeterValues"),
                    T::FirmwareStatusNotification => (true, "FirmwareStatusNotification"),
                    T::DiagnosticsStatusNotification => (true, "DiagnosticsStatusNotification"),
                    T::LogStatusNotification => (false, "LogStatusNotification"),
                    T::SignChargingStationCertificate => (false, "SignChargePointCertificate"),
                    other => return Err(unsupported(&format!("triggering {other:?}"), "1.6")),
                };
                let extended = !plain || r.extended;
                if extended && name == "DiagnosticsStatusNotification" {
                    return Err(unsupported(
                        "an extended trigger of DiagnosticsStatusNotification",
                        "1.6",
                    ));
                }
                one(
                    if extended {
                        "ExtendedTriggerMessage"
                    } else {
                        "TriggerMessage"
                    },
                    obj([
                        ("requestedMessage", some(name)),
                        ("connectorId", opt(r.evse_id)),
                    ]),
                )
            }
            Command::GetVariables(r) => one(
                "GetConfiguration",
                if r.variables.is_empty() {
                    json!({})
                } else {
                    json!({ "key": r.variables.iter().map(|v| v.variable.clone()).collect::<Vec<_>>() })
                },
            ),
            Command::GetBaseReport(_) => one("GetConfiguration", json!({})),
            Command::SetVariables(r) => Ok(r
                .variables
                .iter()
                .map(|v| {
                    (
                        "ChangeConfiguration",
                        json!({ "key": v.variable, "value": v.value }),
                    )
                })
                .collect()),
            Command::ClearCache(_) => one("ClearCache", json!({})),
            Command::SendLocalList(r) => {
                let list: Vec<Value> = r
                    .entries
                    .iter()
                    .map(|e| {
                        obj([
                            ("idTag", some(e.id_token.clone())),
                            (
                                "idTagInfo",
                                e.status.as_ref().map(|s| {
                                    obj([
                                        ("status", some(s.clone())),
                                        ("expiryDate", e.expiry_date.as_ref().map(time)),
                                        ("parentIdTag", opt(e.group_id_token.clone())),
                                    ])
                                }),
                            ),
                        ])
                    })
                    .collect();
                one(
                    "SendLocalList",
                    json!({
                        "listVersion": r.version,
                        "updateType": match r.update { ListUpdate::Full => "Full", ListUpdate::Differential => "Differential" },
                        "localAuthorizationList": list,
                    }),
                )
            }
            Command::GetLocalListVersion(_) => one("GetLocalListVersion", json!({})),
            Command::ReserveNow(r) => one(
                "ReserveNow",
                obj([
                    ("connectorId", some(connector(r.evse_id))),
                    ("expiryDate", some(time(&r.expiry))),
                    ("idTag", some(r.id_token.clone())),
                    ("parentIdTag", opt(r.group_id_token.clone())),
                    ("reservationId", some(r.reservation_id)),
                ]),
            ),
            Command::CancelReservation(r) => one(
                "CancelReservation",
                json!({ "reservationId": r.reservation_id }),
            ),
            Command::UpdateFirmware(r) => match (&r.signing_certificate, &r.signature) {
                (Some(cert), Some(sig)) => one(
                    "SignedUpdateFirmware",
                    obj([
                        ("retries", opt(r.retries)),
                        ("retryInterval", opt(r.retry_interval_s)),
                        ("requestId", opt(r.request_id)),
                        (
                            "firmware",
                            Some(obj([
                                ("location", some(r.location.clone())),
                                ("retrieveDateTime", some(time(&r.retrieve_at))),
                                ("installDateTime", r.install_at.as_ref().map(time)),
                                ("signingCertificate", some(cert.clone())),
                                ("signature", some(sig.clone())),
                            ])),
                        ),
                    ]),
                ),
                _ => one(
                    "UpdateFirmware",
                    obj([
                        ("location", some(r.location.clone())),
                        ("retrieveDate", some(time(&r.retrieve_at))),
                        ("retries", opt(r.retries)),
                        ("retryInterval", opt(r.retry_interval_s)),
                    ]),
                ),
            },
            Command::GetLog(r) => match r.log {
                LogKind::DiagnosticsLog => one(
                    "GetDiagnostics",
                    obj([
                        ("location", some(r.location.clone())),
                        ("retries", opt(r.retries)),
                        ("retryInterval", opt(r.retry_interval_s)),
                        ("startTime", r.oldest.as_ref().map(time)),
                        ("stopTime", r.latest.as_ref().map(time)),
                    ]),
                ),
                LogKind::SecurityLog => one(
                    "GetLog",
                    obj([
                        (
                            "log",
                            Some(obj([
                                ("remoteLocation", some(r.location.clone())),
                                ("oldestTimestamp", r.oldest.as_ref().map(time)),
                                ("latestTimestamp", r.latest.as_ref().map(time)),
                            ])),
                        ),
                        ("logType", some("SecurityLog")),
                        ("requestId", opt(r.request_id)),
                        ("retries", opt(r.retries)),
                        ("retryInterval", opt(r.retry_interval_s)),
                    ]),
                ),
            },
            Command::DataTransfer(r) => one(
                "DataTransfer",
                obj([
                    ("vendorId", some(r.vendor_id.clone())),
                    ("messageId", opt(r.message_id.clone())),
                    (
                        "data",
                        r.data.as_ref().map(|d| match d {
                            Value::String(s) => Value::String(s.clone()),
                            other => Value::String(other.to_string()),
                        }),
                    ),
                ]),
            ),
            Command::InstallCertificate(r) => one(
                "InstallCertificate",
                json!({ "certificateType": cert_type(r.kind)?, "certificate": r.certificate }),
            ),
            Command::GetInstalledCertificates(r) => {
                let kinds = if r.kinds.is_empty() {
                    vec![
                        CertificateKind::CsmsRootCertificate,
                        CertificateKind::ManufacturerRootCertificate,
                    ]
                } else {
                    r.kinds.clone()
                };
                kinds
                    .into_iter()
                    .map(|k| {
                        Ok((
                            "GetInstalledCertificateIds",
                            json!({ "certificateType": cert_type(k)? }),
                        ))
                    })
                    .collect()
            }
            Command::DeleteCertificate(r) => one(
                "DeleteCertificate",
                json!({ "certificateHashData": hash(&r.certificate) }),
            ),
            Command::GetReport(_) => Err(unsupported("GetReport", "1.6")),
            Command::GetTransactionStatus(_) => Err(unsupported("GetTransactionStatus", "1.6")),
            Command::CustomerInformation(_) => Err(unsupported("CustomerInformation", "1.6")),
            Command::SetNetworkProfile(_) => Err(unsupported("SetNetworkProfile", "1.6")),
        }
    }

    pub(super) fn outcome(c: &Command, answers: Vec<(&'static str, Value)>) -> Outcome {
        let first = answers
            .first()
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        let plain = |details: Value| Outcome {
            status: status_of(&first),
            reason: None,
            details,
        };
        match c {
            Command::GetVariables(_) | Command::GetBaseReport(_) => {
                let mut vars: Vec<Value> = first
                    .get("configurationKey")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        obj([
                            ("component", some("")),
                            ("variable", k.get("key").cloned()),
                            ("status", some("Accepted")),
                            ("value", k.get("value").cloned()),
                            ("readonly", k.get("readonly").cloned()),
                        ])
                    })
                    .collect();
                vars.extend(
                    first
                        .get("unknownKey")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|k| json!({ "component": "", "variable": k, "status": "UnknownVariable" })),
                );
                Outcome {
                    status: "Accepted".into(),
                    reason: None,
                    details: json!({ "variables": vars }),
                }
            }
            Command::SetVariables(r) => {
                let results: Vec<Value> = r
                    .variables
                    .iter()
                    .zip(&answers)
                    .map(|(v, (_, a))| {
                        json!({
                            "component": v.component,
                            "variable": v.variable,
                            "status": status_of(a),
                        })
                    })
                    .collect();
                let status = answers
                    .iter()
                    .map(|(_, a)| status_of(a))
                    .find(|s| s != "Accepted")
                    .unwrap_or_else(|| "Accepted".into());
                Outcome {
                    status,
                    reason: None,
                    details: json!({ "variables": results }),
                }
            }
            Command::GetLocalListVersion(_) => Outcome {
                status: "Accepted".into(),
                reason: None,
                details: json!({ "version": first.get("listVersion") }),
            },
            Command::UpdateFirmware(_) => plain(Value::Null),
            Command::GetLog(_) => {
                let file = first.get("fileName").or_else(|| first.get("filename"));
                plain(match file {
                    Some(f) => json!({ "filename": f }),
                    None => Value::Null,
                })
            }
            Command::DataTransfer(_) => plain(match first.get("data") {
                Some(d) => json!({ "data": d }),
                None => Value::Null,
            }),
            Command::GetInstalledCertificates(_) => {
                let certs: Vec<Value> = answers
                    .iter()
                    .flat_map(|(_, a)| {
                        a.get("certificateHashData")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect();
                let status = if certs.is_empty() {
                    "NotFound"
                } else {
                    "Accepted"
                };
                Outcome {
                    status: status.into(),
                    reason: None,
                    details: json!({ "certificates": certs }),
                }
            }
            _ => plain(Value::Null),
        }
    }
}

mod v201 {
    use super::*;

    fn token(id: &str, kind: Option<&str>, default: &str) -> Value {
        json!({ "idToken": id, "type": kind.unwrap_or(default) })
    }

    fn evse(id: Option<u32>, connector: Option<u32>) -> Option<Value> {
        id.map(|id| obj([("id", some(id)), ("connectorId", opt(connector))]))
    }

    fn component(v: &VariableRef) -> Value {
        obj([
            ("name", some(v.component.clone())),
            ("instance", opt(v.component_instance.clone())),
            ("evse", evse(v.evse_id, v.connector_id)),
        ])
    }

    fn variable(v: &VariableRef) -> Value {
        obj([
            ("name", some(v.variable.clone())),
            ("instance", opt(v.variable_instance.clone())),
        ])
    }

    fn profile(p: &ChargingProfile, purpose: &str) -> Value {
        obj([
            ("id", some(p.id)),
            ("stackLevel", some(p.stack_level)),
            ("chargingProfilePurpose", some(purpose)),
            ("chargingProfileKind", some(p.kind.clone())),
            ("recurrencyKind", opt(p.recurrency.clone())),
            ("validFrom", p.valid_from.as_ref().map(time)),
            ("validTo", p.valid_to.as_ref().map(time)),
            (
                "chargingSchedule",
                Some(json!([obj([
                    ("id", some(p.id)),
                    ("startSchedule", p.start.as_ref().map(time)),
                    ("duration", opt(p.duration_s)),
                    ("chargingRateUnit", some(p.rate_unit.clone())),
                    ("chargingSchedulePeriod", Some(periods(p))),
                    ("minChargingRate", opt(p.min_rate)),
                ])])),
            ),
        ])
    }

    fn cert_type(k: CertificateKind) -> &'static str {
        match k {
            CertificateKind::CsmsRootCertificate => "CSMSRootCertificate",
            CertificateKind::ManufacturerRootCertificate => "ManufacturerRootCertificate",
            CertificateKind::V2GRootCertificate => "V2GRootCertificate",
            CertificateKind::MoRootCertificate => "MORootCertificate",
            CertificateKind::V2GCertificateChain => "V2GCertificateChain",
        }
    }

    pub(super) fn requests(c: &Command) -> Result<Vec<Request>, SendError> {
        let one = |action: &'static str, v: Value| Ok(vec![(action, v)]);
        match c {
            Command::RemoteStart(r) => one(
                "RequestStartTransaction",
                obj([
                    ("evseId", opt(r.evse_id)),
                    ("remoteStartId", opt(r.remote_start_id)),
                    (
                        "idToken",
                        Some(token(&r.id_token, r.id_token_type.as_deref(), "Central")),
                    ),
                    (
                        "chargingProfile",
                        r.charging_profile.as_ref().map(|p| profile(p, "TxProfile")),
                    ),
                ]),
            ),
            Command::RemoteStop(r) => one(
                "RequestStopTransaction",
                json!({ "transactionId": r.transaction_id }),
            ),
            Command::Reset(r) => one(
                "Reset",
                obj([
                    (
                        "type",
                        some(match r.kind {
                            ResetKind::Immediate => "Immediate",
                            ResetKind::OnIdle => "OnIdle",
                        }),
                    ),
                    ("evseId", opt(r.evse_id)),
                ]),
            ),
            Command::UnlockConnector(r) => one(
                "UnlockConnector",
                json!({ "evseId": r.evse_id, "connectorId": r.connector_id.unwrap_or(1) }),
            ),
            Command::ChangeAvailability(r) => one(
                "ChangeAvailability",
                obj([
                    (
                        "operationalStatus",
                        some(if r.operative {
                            "Operative"
                        } else {
                            "Inoperative"
                        }),
                    ),
                    ("evse", evse(r.evse_id, r.connector_id)),
                ]),
            ),
            Command::TriggerMessage(r) => {
                use TriggerKind as T;
                let name = match r.message {
                    T::BootNotification => "BootNotification",
                    T::Heartbeat => "Heartbeat",
                    T::StatusNotification => "StatusNotification",
                    T::MeterValues => "MeterValues",
                    T::FirmwareStatusNotification => "FirmwareStatusNotification",
                    T::LogStatusNotification => "LogStatusNotification",
                    T::SignChargingStationCertificate => "SignChargingStationCertificate",
                    T::SignV2GCertificate => "SignV2GCertificate",
                    T::SignCombinedCertificate => "SignCombinedCertificate",
                    T::TransactionEvent => "TransactionEvent",
                    T::PublishFirmwareStatusNotification => "PublishFirmwareStatusNotification",
                    T::DiagnosticsStatusNotification => {
                        return Err(unsupported("DiagnosticsStatusNotification", "2.0.1"));
                    }
                };
                one(
                    "TriggerMessage",
                    obj([
                        ("requestedMessage", some(name)),
                        ("evse", evse(r.evse_id, r.connector_id)),
                    ]),
                )
            }
            Command::GetVariables(r) => {
                if r.variables.is_empty() {
                    return Err(SendError::Invalid(
                        "name the variables to read (or ask for a base report)".into(),
                    ));
                }
                let data: Vec<Value> = r
                    .variables
                    .iter()
                    .map(|v| {
                        obj([
                            ("attributeType", opt(v.attribute.clone())),
                            ("component", Some(component(v))),
                            ("variable", Some(variable(v))),
                        ])
                    })
                    .collect();
                one("GetVariables", json!({ "getVariableData": data }))
            }
            Command::SetVariables(r) => {
                let data: Vec<Value> = r
                    .variables
                    .iter()
                    .map(|v| {
                        let r = v.reference();
                        obj([
                            ("attributeType", opt(r.attribute.clone())),
                            ("attributeValue", some(v.value.clone())),
                            ("component", Some(component(&r))),
                            ("variable", Some(variable(&r))),
                        ])
                    })
                    .collect();
                one("SetVariables", json!({ "setVariableData": data }))
            }
            Command::GetBaseReport(r) => one(
                "GetBaseReport",
                json!({
                    "requestId": r.request_id,
                    "reportBase": match r.report {
                        ReportBase::ConfigurationInventory => "ConfigurationInventory",
                        ReportBase::FullInventory => "FullInventory",
                        ReportBase::SummaryInventory => "SummaryInventory",
                    },
                }),
            ),
            Command::GetReport(r) => {
                let cv: Vec<Value> = r
                    .variables
                    .iter()
                    .map(|v| {
                        obj([
                            ("component", Some(component(v))),
                            ("variable", (!v.variable.is_empty()).then(|| variable(v))),
                        ])
                    })
                    .collect();
                one(
                    "GetReport",
                    obj([
                        ("requestId", opt(r.request_id)),
                        (
                            "componentCriteria",
                            (!r.criteria.is_empty()).then(|| json!(r.criteria)),
                        ),
                        (
                            "componentVariable",
                            (!cv.is_empty()).then_some(Value::Array(cv)),
                        ),
                    ]),
                )
            }
            Command::ClearCache(_) => one("ClearCache", json!({})),
            Command::SendLocalList(r) => {
                let list: Vec<Value> = r
                    .entries
                    .iter()
                    .map(|e| {
                        obj([
                            (
                                "idToken",
                                Some(token(&e.id_token, e.id_token_type.as_deref(), "ISO14443")),
                            ),
                            (
                                "idTokenInfo",
                                e.status.as_ref().map(|s| {
                                    obj([
                                        ("status", some(s.clone())),
                                        ("cacheExpiryDateTime", e.expiry_date.as_ref().map(time)),
                                        (
                                            "groupIdToken",
                                            e.group_id_token
                                                .as_ref()
                                                .map(|g| token(g, None, "Central")),
                                        ),
                                    ])
                                }),
                            ),
                        ])
                    })
                    .collect();
                one(
                    "SendLocalList",
                    obj([
                        ("versionNumber", some(r.version)),
                        (
                            "updateType",
                            some(match r.update {
                                ListUpdate::Full => "Full",
                                ListUpdate::Differential => "Differential",
                            }),
                        ),
                        (
                            "localAuthorizationList",
                            (!list.is_empty()).then_some(Value::Array(list)),
                        ),
                    ]),
                )
            }
            Command::GetLocalListVersion(_) => one("GetLocalListVersion", json!({})),
            Command::ReserveNow(r) => one(
                "ReserveNow",
                obj([
                    ("id", some(r.reservation_id)),
                    ("expiryDateTime", some(time(&r.expiry))),
                    ("connectorType", opt(r.connector_type.clone())),
                    (
                        "idToken",
                        Some(token(&r.id_token, r.id_token_type.as_deref(), "ISO14443")),
                    ),
                    ("evseId", opt(r.evse_id.filter(|e| *e > 0))),
                    (
                        "groupIdToken",
                        r.group_id_token.as_ref().map(|g| token(g, None, "Central")),
                    ),
                ]),
            ),
            Command::CancelReservation(r) => one(
                "CancelReservation",
                json!({ "reservationId": r.reservation_id }),
            ),
            Command::UpdateFirmware(r) => one(
                "UpdateFirmware",
                obj([
                    ("retries", opt(r.retries)),
                    ("retryInterval", opt(r.retry_interval_s)),
                    ("requestId", opt(r.request_id)),
                    (
                        "firmware",
                        Some(obj([
                            ("location", some(r.location.clone())),
                            ("retrieveDateTime", some(time(&r.retrieve_at))),
                            ("installDateTime", r.install_at.as_ref().map(time)),
                            ("signingCertificate", opt(r.signing_certificate.clone())),
                            ("signature", opt(r.signature.clone())),
                        ])),
                    ),
                ]),
            ),
            Command::GetLog(r) => one(
                "GetLog",
                obj([
                    (
                        "log",
                        Some(obj([
                            ("remoteLocation", some(r.location.clone())),
                            ("oldestTimestamp", r.oldest.as_ref().map(time)),
                            ("latestTimestamp", r.latest.as_ref().map(time)),
                        ])),
                    ),
                    (
                        "logType",
                        some(match r.log {
                            LogKind::DiagnosticsLog => "DiagnosticsLog",
                            LogKind::SecurityLog => "SecurityLog",
                        }),
                    ),
                    ("requestId", opt(r.request_id)),
                    ("retries", opt(r.retries)),
                    ("retryInterval", opt(r.retry_interval_s)),
                ]),
            ),
            Command::GetTransactionStatus(r) => one(
                "GetTransactionStatus",
                obj([("transactionId", opt(r.transaction_id.clone()))]),
            ),
            Command::CustomerInformation(r) => one(
                "CustomerInformation",
                obj([
                    ("requestId", opt(r.request_id)),
                    ("report", some(r.report)),
                    ("clear", some(r.clear)),
                    ("customerIdentifier", opt(r.customer_identifier.clone())),
                    (
                        "idToken",
                        r.id_token
                            .as_ref()
                            .map(|t| token(t, r.id_token_type.as_deref(), "ISO14443")),
                    ),
                    ("customerCertificate", r.certificate.as_ref().map(hash)),
                ]),
            ),
            Command::DataTransfer(r) => one(
                "DataTransfer",
                obj([
                    ("vendorId", some(r.vendor_id.clone())),
                    ("messageId", opt(r.message_id.clone())),
                    ("data", r.data.clone()),
                ]),
            ),
            Command::InstallCertificate(r) => {
                if r.kind == CertificateKind::V2GCertificateChain {
                    return Err(SendError::Invalid(
                        "a V2G certificate chain is not installed with InstallCertificate".into(),
                    ));
                }
                one(
                    "InstallCertificate",
                    json!({ "certificateType": cert_type(r.kind), "certificate": r.certificate }),
                )
            }
            Command::GetInstalledCertificates(r) => one(
                "GetInstalledCertificateIds",
                obj([(
                    "certificateType",
                    (!r.kinds.is_empty())
                        .then(|| json!(r.kinds.iter().map(|k| cert_type(*k)).collect::<Vec<_>>())),
                )]),
            ),
            Command::DeleteCertificate(r) => one(
                "DeleteCertificate",
                json!({ "certificateHashData": hash(&r.certificate) }),
            ),
            Command::SetNetworkProfile(r) => one(
                "SetNetworkProfile",
                json!({
                    "configurationSlot": r.configuration_slot,
                    "connectionData": {
                        "ocppVersion": r.ocpp_version.as_deref().unwrap_or("OCPP20"),
                        "ocppTransport": "JSON",
                        "ocppCsmsUrl": r.csms_url,
                        "messageTimeout": r.message_timeout_s,
                        "securityProfile": r.security_profile,
                        "ocppInterface": r.interface.as_deref().unwrap_or("Wired0"),
                    },
                }),
            ),
        }
    }

    fn variable_result(v: &Value, status_key: &str, value_key: &str) -> Value {
        let c = v.get("component").cloned().unwrap_or(Value::Null);
        let var = v.get("variable").cloned().unwrap_or(Value::Null);
        obj([
            ("component", c.get("name").cloned()),
            ("componentInstance", c.get("instance").cloned()),
            ("evseId", c.get("evse").and_then(|e| e.get("id")).cloned()),
            (
                "connectorId",
                c.get("evse").and_then(|e| e.get("connectorId")).cloned(),
            ),
            ("variable", var.get("name").cloned()),
            ("variableInstance", var.get("instance").cloned()),
            ("attribute", v.get("attributeType").cloned()),
            ("status", v.get(status_key).cloned()),
            ("value", v.get(value_key).cloned()),
            (
                "reason",
                v.get("attributeStatusInfo")
                    .and_then(|i| reason(&json!({ "statusInfo": i })))
                    .map(Value::String),
            ),
        ])
    }

    pub(super) fn outcome(c: &Command, answers: Vec<(&'static str, Value)>) -> Outcome {
        let first = answers
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Null);
        let plain = |details: Value| Outcome {
            status: status_of(&first),
            reason: reason(&first),
            details,
        };
        match c {
            Command::GetVariables(_) => {
                let vars: Vec<Value> = first
                    .get("getVariableResult")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| variable_result(v, "attributeStatus", "attributeValue"))
                    .collect();
                Outcome {
                    status: "Accepted".into(),
                    reason: None,
                    details: json!({ "variables": vars }),
                }
            }
            Command::SetVariables(_) => {
                let vars: Vec<Value> = first
                    .get("setVariableResult")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| variable_result(v, "attributeStatus", "attributeValue"))
                    .collect();
                let status = vars
                    .iter()
                    .filter_map(|v| str_of(v, "status"))
                    .find(|s| s != "Accepted")
                    .unwrap_or_else(|| "Accepted".into());
                Outcome {
                    status,
                    reason: None,
                    details: json!({ "variables": vars }),
                }
            }
            Command::GetLocalListVersion(_) => Outcome {
                status: "Accepted".into(),
                reason: None,
                details: json!({ "version": first.get("versionNumber") }),
            },
            Command::GetTransactionStatus(_) => Outcome {
                status: "Accepted".into(),
                reason: None,
                details: obj([
                    ("ongoing", first.get("ongoingIndicator").cloned()),
                    ("messagesInQueue", first.get("messagesInQueue").cloned()),
                ]),
            },
            Command::GetLog(_) => plain(match first.get("filename") {
                Some(f) => json!({ "filename": f }),
                None => Value::Null,
            }),
            Command::DataTransfer(_) => plain(match first.get("data") {
                Some(d) => json!({ "data": d }),
                None => Value::Null,
            }),
            Command::RemoteStart(_) => plain(match first.get("transactionId") {
                Some(t) => json!({ "transactionId": t }),
                None => Value::Null,
            }),
            Command::GetInstalledCertificates(_) => plain(json!({
                "certificates": first.get("certificateHashDataChain").cloned().unwrap_or(json!([])),
            })),
            _ => plain(Value::Null),
        }
    }
}
