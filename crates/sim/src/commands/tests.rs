//! Every action the CSMS may send, in its smallest schema-valid form (built from the OCA
//! schemas), gets a CALLRESULT whose payload is valid against the response schema; actions
//! only stations send get NotSupported; invalid requests get the version's CALLERROR; and the
//! answers that decide something decide as the station's state says.

use arus_ocpp::rpc::ErrorCode;
use arus_ocpp::{Initiator, Version};
use serde_json::{Value, json};

use super::answer;
use crate::behaviour::{FollowUp, Phase, StationState, Triggered, Tx};
use crate::scenario::{Group, Mode};

/// The smallest instance of `schema`: required properties only, first enum values, minimum
/// numbers, the fewest array items (at least one when required).
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

fn station(version: Version) -> StationState {
    let group = Group::new("T", 1, Mode::Realistic);
    StationState::new("T-0".into(), version, &group, 1, false)
}

/// The answer frame to `action` with `request`, as JSON.
fn ask(st: &mut StationState, action: &str, request: &str) -> Value {
    let frame = answer(st, "42", action, request);
    serde_json::from_str(&frame).expect("the answer is JSON")
}

/// The CALLRESULT payload, failing on anything else.
fn result(st: &mut StationState, action: &str, request: &str) -> Value {
    let frame = ask(st, action, request);
    assert_eq!(frame[0], 3, "{action} {request} was refused: {frame}");
    assert_eq!(frame[1], "42");
    frame[2].clone()
}

/// The CALLERROR code, failing on anything else.
fn refusal(st: &mut StationState, action: &str, request: &str) -> String {
    let frame = ask(st, action, request);
    assert_eq!(frame[0], 4, "{action} {request} was answered: {frame}");
    frame[2].as_str().expect("a code").to_string()
}

/// Asks every action of `version` (named with its initiator) in its minimal form.
fn every_action(version: Version, actions: Vec<(&'static str, Initiator, &'static str)>) {
    let mut st = station(version);
    let mut answered = 0;
    for (action, initiator, schema) in actions {
        let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
        let request = minimal(&schema, &schema).to_string();
        if initiator == Initiator::Station {
            assert_eq!(
                refusal(&mut st, action, &request),
                "NotSupported",
                "{action}"
            );
            continue;
        }
        let payload = result(&mut st, action, &request).to_string();
        if let Err(e) = arus_ocpp::decode_response(version, action, &payload) {
            panic!("{action}: {payload}: {e}");
        }
        answered += 1;
        st.follow_ups.clear();
    }
    assert!(answered > 20, "only {answered} actions answered");
}

#[test]
fn every_csms_action_of_ocpp16_gets_a_valid_answer() {
    let actions = arus_ocpp::v16::Action::ALL
        .iter()
        .map(|a| (a.as_str(), a.initiator(), a.request_schema()))
        .collect();
    every_action(Version::V16, actions);
}

#[test]
fn every_csms_action_of_ocpp201_gets_a_valid_answer() {
    let actions = arus_ocpp::v201::Action::ALL
        .iter()
        .map(|a| (a.as_str(), a.initiator(), a.request_schema()))
        .collect();
    every_action(Version::V201, actions);
}

#[test]
fn an_invalid_request_gets_the_versions_callerror() {
    let wire = |code: ErrorCode, v| code.wire(v).to_string();
    for v in [Version::V16, Version::V201] {
        let mut st = station(v);
        assert_eq!(
            refusal(&mut st, "Reset", r#"{"type":"Sometime"}"#),
            wire(ErrorCode::PropertyConstraintViolation, v)
        );
        assert_eq!(
            refusal(&mut st, "Reset", "[]"),
            wire(ErrorCode::FormatViolation, v)
        );
        assert_eq!(
            refusal(&mut st, "NoSuchAction", "{}"),
            wire(ErrorCode::NotImplemented, v)
        );
        assert!(st.follow_ups.is_empty(), "a refused request does nothing");
    }
    // A required property missing, and one the schema does not have, are named differently.
    let mut st = station(Version::V16);
    assert_eq!(refusal(&mut st, "Reset", "{}"), "ProtocolError");
    let unknown = r#"{"type":"Soft","when":1}"#;
    assert_eq!(refusal(&mut st, "Reset", unknown), "FormationViolation");
    let mut st = station(Version::V201);
    assert_eq!(
        refusal(&mut st, "Reset", "{}"),
        "OccurrenceConstraintViolation"
    );
    let unknown = r#"{"type":"Immediate","when":1}"#;
    assert_eq!(refusal(&mut st, "Reset", unknown), "ProtocolError");
}

#[test]
fn a_reset_reboots_and_waits_for_idle_when_asked() {
    let mut st = station(Version::V201);
    let reset = result(&mut st, "Reset", r#"{"type":"OnIdle"}"#);
    assert_eq!(reset, json!({"status": "Accepted"}));
    assert_eq!(st.follow_ups.pop_front(), Some(FollowUp::Reboot));
    st.evses[0].tx = Some(tx("t-1"));
    let reset = result(&mut st, "Reset", r#"{"type":"OnIdle"}"#);
    assert_eq!(reset, json!({"status": "Scheduled"}));
}

fn tx(id: &str) -> Tx {
    Tx {
        id: id.into(),
        seq: 0,
        token: "T".into(),
        car: crate::behaviour::arriving(
            &mut crate::rng::Rng::new(1),
            &Group::new("T", 1, Mode::Realistic),
        ),
        delivered_wh: 0.0,
        remote_start_id: None,
        started: chrono::Utc::now(),
        charged_to: tokio::time::Instant::now(),
        drawing: crate::ev::Drawing::Charging,
        arrived: (tokio::time::Instant::now(), 0.0),
        profile: None,
    }
}

#[test]
fn remote_start_and_stop_follow_the_evses() {
    let mut st = station(Version::V16);
    let start = r#"{"idTag":"ABC","connectorId":1}"#;
    let answer = result(&mut st, "RemoteStartTransaction", start);
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::RemoteStart {
            evse: Some(1),
            token: "ABC".into(),
            remote_start_id: None,
            profile: None,
        })
    );
    st.evses[0].phase = Phase::Charging;
    st.evses[0].tx = Some(tx("5"));
    let answer = result(&mut st, "RemoteStartTransaction", start);
    assert_eq!(answer, json!({"status": "Rejected"}), "the EVSE is busy");
    let answer = result(&mut st, "RemoteStopTransaction", r#"{"transactionId":6}"#);
    assert_eq!(answer, json!({"status": "Rejected"}), "no such transaction");
    let answer = result(&mut st, "RemoteStopTransaction", r#"{"transactionId":5}"#);
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::RemoteStop {
            transaction_id: "5".into()
        })
    );

    let mut st = station(Version::V201);
    let start = r#"{"idToken":{"idToken":"A","type":"Central"},"remoteStartId":7,"evseId":1}"#;
    let answer = result(&mut st, "RequestStartTransaction", start);
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::RemoteStart {
            evse: Some(1),
            token: "A".into(),
            remote_start_id: Some(7),
            profile: None,
        })
    );
    let stop = r#"{"transactionId":"t-9"}"#;
    let answer = result(&mut st, "RequestStopTransaction", stop);
    assert_eq!(answer, json!({"status": "Rejected"}));
}

#[test]
fn going_inoperative_during_a_session_is_scheduled() {
    let mut st = station(Version::V16);
    st.evses[0].phase = Phase::Charging;
    let answer = result(
        &mut st,
        "ChangeAvailability",
        r#"{"connectorId":0,"type":"Inoperative"}"#,
    );
    assert_eq!(answer, json!({"status": "Scheduled"}));
    assert!(st.evses[0].inoperative);
    assert_eq!(st.follow_ups.pop_front(), Some(FollowUp::Statuses));
    let mut st = station(Version::V201);
    let answer = result(
        &mut st,
        "ChangeAvailability",
        r#"{"operationalStatus":"Inoperative","evse":{"id":1}}"#,
    );
    assert_eq!(answer, json!({"status": "Accepted"}));
    assert!(st.evses[0].inoperative);
}

#[test]
fn configuration_is_read_and_written() {
    let mut st = station(Version::V16);
    let change = r#"{"key":"HeartbeatInterval","value":"77"}"#;
    assert_eq!(
        result(&mut st, "ChangeConfiguration", change),
        json!({"status": "Accepted"})
    );
    assert_eq!(st.heartbeat, std::time::Duration::from_secs(77));
    let get = r#"{"key":["HeartbeatInterval","Nope"]}"#;
    assert_eq!(
        result(&mut st, "GetConfiguration", get),
        json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "77"}],
               "unknownKey": ["Nope"]})
    );
    let all = result(&mut st, "GetConfiguration", "{}");
    assert!(all.get("unknownKey").is_none());
    let keys = all["configurationKey"].as_array().expect("keys");
    assert!(keys.len() >= 3, "{all}");

    let mut st = station(Version::V201);
    let set = r#"{"setVariableData":[{"attributeValue":"5","component":{"name":"A"},"variable":{"name":"B"}}]}"#;
    assert_eq!(
        result(&mut st, "SetVariables", set),
        json!({"setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "A"}, "variable": {"name": "B"}}]})
    );
    let get = r#"{"getVariableData":[{"component":{"name":"A","instance":"i"},"variable":{"name":"B"}},{"component":{"name":"X"},"variable":{"name":"Y"}}]}"#;
    assert_eq!(
        result(&mut st, "GetVariables", get),
        json!({"getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "5", "component": {"name": "A"}, "variable": {"name": "B"}},
            {"attributeStatus": "UnknownVariable", "component": {"name": "X"}, "variable": {"name": "Y"}}
        ]})
    );
}

#[test]
fn follow_ups_carry_the_request_ids() {
    let mut st = station(Version::V201);
    result(
        &mut st,
        "GetBaseReport",
        r#"{"requestId":3,"reportBase":"FullInventory"}"#,
    );
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::Report { request_id: 3 })
    );
    let trigger = r#"{"requestedMessage":"StatusNotification","evse":{"id":1}}"#;
    result(&mut st, "TriggerMessage", trigger);
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::Trigger {
            message: Triggered::StatusNotification,
            evse: Some(1)
        })
    );
    let mut st = station(Version::V16);
    let log = r#"{"logType":"DiagnosticsLog","requestId":4,"log":{"remoteLocation":"https://example.com/x"}}"#;
    let answer = result(&mut st, "GetLog", log);
    assert_eq!(answer, json!({"status": "Accepted", "filename": "T-0.log"}));
    assert_eq!(
        st.follow_ups.pop_front(),
        Some(FollowUp::Upload {
            request_id: Some(4),
            diagnostics: false
        })
    );
}

/// K01/K08/K10 on the station's side (1.6 §3.13, §5.16): what is accepted is held and the
/// composite schedule reports it; a TxProfile needs its transaction; a clear of nothing is
/// Unknown.
#[test]
fn a_16_station_holds_its_profiles_and_reports_their_merge() {
    let mut st = station(Version::V16);
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let profile = |id: i64, purpose: &str, limit: f64| {
        json!({"connectorId": 0, "csChargingProfiles": {
            "chargingProfileId": id, "stackLevel": 0, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", "chargingSchedule": {
                "startSchedule": start, "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}})
        .to_string()
    };
    let composite = |st: &mut StationState| {
        let c = result(
            st,
            "GetCompositeSchedule",
            r#"{"connectorId":1,"duration":600}"#,
        );
        c["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"].clone()
    };
    assert_eq!(composite(&mut st), json!(32.0), "the EVSE's own maximum");
    let set = result(
        &mut st,
        "SetChargingProfile",
        &profile(7, "TxDefaultProfile", 10.0),
    );
    assert_eq!(set, json!({"status": "Accepted"}));
    assert_eq!(st.follow_ups.pop_front(), Some(FollowUp::Limits));
    assert_eq!(composite(&mut st), json!(10.0));
    let tx = result(&mut st, "SetChargingProfile", &profile(8, "TxProfile", 6.0));
    assert_eq!(
        tx,
        json!({"status": "Rejected"}),
        "no transaction, and connector 0"
    );
    let clear = r#"{"id":7}"#;
    assert_eq!(
        result(&mut st, "ClearChargingProfile", clear),
        json!({"status": "Accepted"})
    );
    assert_eq!(
        result(&mut st, "ClearChargingProfile", clear),
        json!({"status": "Unknown"})
    );
    assert_eq!(composite(&mut st), json!(32.0));
}

/// 2.0.1: the CSMS cannot set ChargingStationExternalConstraints (K01.FR.22); a profile set
/// is reported back by GetChargingProfiles through ReportChargingProfiles (K09).
#[test]
fn a_201_station_reports_the_profiles_it_holds() {
    let mut st = station(Version::V201);
    let profile = |purpose: &str| {
        json!({"evseId": 0, "chargingProfile": {
            "id": 3, "stackLevel": 1, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Relative", "chargingSchedule": [{
                "id": 1, "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4600.0}]}]}})
        .to_string()
    };
    let external = result(
        &mut st,
        "SetChargingProfile",
        &profile("ChargingStationExternalConstraints"),
    );
    assert_eq!(external["status"], json!("Rejected"));
    let none = r#"{"requestId":5,"chargingProfile":{"chargingProfilePurpose":"TxDefaultProfile"}}"#;
    assert_eq!(
        result(&mut st, "GetChargingProfiles", none)["status"],
        json!("NoProfiles")
    );
    let set = result(&mut st, "SetChargingProfile", &profile("TxDefaultProfile"));
    assert_eq!(set["status"], json!("Accepted"));
    assert_eq!(
        result(&mut st, "GetChargingProfiles", none)["status"],
        json!("Accepted")
    );
    let report = st.follow_ups.iter().find_map(|f| match f {
        FollowUp::ReportProfiles {
            request_id,
            profiles,
        } => Some((*request_id, profiles.clone())),
        _ => None,
    });
    let (request_id, profiles) = report.expect("a report follows");
    assert_eq!(request_id, 5);
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].0, 0);
    assert_eq!(profiles[0].1.id, 3);
    let c = result(
        &mut st,
        "GetCompositeSchedule",
        r#"{"evseId":1,"duration":300,"chargingRateUnit":"W"}"#,
    );
    assert_eq!(
        c["schedule"]["chargingSchedulePeriod"][0]["limit"],
        json!(4600.0)
    );
}

/// 1.6 §5.11, 2.0.1 use case F01: the TxProfile a remote start carries is the transaction's once
/// it goes on, and its car is offered the limit at once.
#[test]
fn a_remote_starts_tx_profile_holds_once_the_transaction_goes_on() {
    let mut st = station(Version::V16);
    let start = r#"{"idTag":"ABC","connectorId":1,"chargingProfile":{"chargingProfileId":3,
        "stackLevel":0,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative",
        "chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[
        {"startPeriod":0,"limit":10}]}}}"#;
    let answer = result(&mut st, "RemoteStartTransaction", start);
    assert_eq!(answer, json!({"status": "Accepted"}));
    let Some(FollowUp::RemoteStart { profile, .. }) = st.follow_ups.pop_front() else {
        panic!("no remote start to do")
    };
    assert!(profile.is_some(), "the profile travels with the start");
    st.evses[0].phase = Phase::Charging;
    let mut t = tx("5");
    t.profile = profile;
    st.evses[0].tx = Some(t);
    crate::behaviour::install_remote_profile(&mut st, 0);
    let composite = result(
        &mut st,
        "GetCompositeSchedule",
        r#"{"connectorId":1,"duration":60,"chargingRateUnit":"A"}"#,
    );
    assert_eq!(
        composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
        json!(10.0),
        "{composite}"
    );
    assert!(st.follow_ups.contains(&FollowUp::Limits));
    assert!(st.evses[0].tx.as_ref().is_some_and(|t| t.profile.is_none()));
}
