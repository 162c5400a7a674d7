//! OCPP 2.0.1: every station-initiated message answered correctly and recorded; transaction
//! events in any order. Test names cite the certification test cases they follow.

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Server, Station, now, transactions};

both!(
    boot_status_and_notify_event,
    authorization_and_groups,
    transaction_events_in_and_out_of_order,
    seq_no_restarts_for_each_transaction,
    pending_and_rejected_stations,
    messages_of_later_features_are_answered,
);

async fn setup(b: &Backend, id: &str) -> (Server, Station) {
    let server = Server::start(b, &[]).await;
    server.register(id, Some("correct-horse-battery")).await;
    let st = Station::open(&server, id, Some("correct-horse-battery"), "2.0.1").await;
    (server, st)
}

fn boot() -> Value {
    json!({"reason": "PowerUp", "chargingStation": {"model": "DC 150", "vendorName": "Acme", "serialNumber": "S-1", "modem": {"iccid": "8931", "imsi": "2041"}}})
}

fn tx_event(kind: &str, seq: u64, trigger: &str, tx: &str, extra: Value) -> Value {
    let mut v = json!({"eventType": kind, "timestamp": now(), "triggerReason": trigger, "seqNo": seq,
                       "transactionInfo": {"transactionId": tx}});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            if k == "transactionInfo" {
                if let (Some(ti), Some(add)) = (
                    o.get_mut("transactionInfo").and_then(Value::as_object_mut),
                    val.as_object(),
                ) {
                    ti.extend(add.clone());
                }
            } else {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

fn energy(wh: f64, context: &str) -> Value {
    json!([{"timestamp": now(), "sampledValue": [{"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"}]}])
}

/// TC_B_01_CSMS, TC_G_20_CSMS, TC_P_03_CSMS (customData).
async fn boot_status_and_notify_event(b: &Backend) {
    let (server, mut st) = setup(b, "CS201").await;
    let r = st.call("BootNotification", boot()).await.ok();
    assert_eq!(r["status"], json!("Accepted"));
    assert!(r["interval"].as_i64().is_some_and(|i| i > 0));
    st.call(
        "StatusNotification",
        json!({"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1,
        "customData": {"vendorId": "com.acme", "temperature": 21}}),
    )
    .await
    .ok();
    st.call(
        "StatusNotification",
        json!({"timestamp": now(), "connectorStatus": "Available", "evseId": 2, "connectorId": 1}),
    )
    .await
    .ok();
    // Part 5: a connector's AvailabilityState in NotifyEvent counts as a status.
    let notify = json!({"generatedAt": now(), "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": now(), "trigger": "Delta", "actualValue": "Occupied", "eventNotificationType": "HardWiredNotification",
         "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, "variable": {"name": "AvailabilityState"}},
        {"eventId": 2, "timestamp": now(), "trigger": "Delta", "actualValue": "true", "eventNotificationType": "HardWiredNotification",
         "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}, "variable": {"name": "Problem"}}]});
    assert_eq!(st.call("NotifyEvent", notify).await.ok(), json!({}));
    let v = server.get("/api/v1/stations/CS201").await;
    assert_eq!(v["ocppVersion"], json!("2.0.1"));
    assert_eq!(v["vendor"], json!("Acme"));
    assert_eq!(v["bootReason"], json!("PowerUp"));
    assert_eq!(v["iccid"], json!("8931"));
    let evses = v["evses"].as_array().expect("evses");
    assert_eq!(evses[0]["connectors"][0]["status"], json!("Available"));
    assert_eq!(evses[1]["connectors"][0]["status"], json!("Occupied"));
    let hb = st.call("Heartbeat", json!({})).await.ok();
    assert!(hb["currentTime"].is_string());
}

/// TC_C_02, TC_C_06, TC_C_07, TC_C_39 (groups), NoAuthorization tokens.
async fn authorization_and_groups(b: &Backend) {
    let (server, mut st) = setup(b, "CS201A").await;
    server
        .token("VALID", "Accepted", Some("GROUP-7"), None)
        .await;
    server
        .token("VALID2", "Accepted", Some("GROUP-7"), None)
        .await;
    server.token("BLOCKED", "Blocked", None, None).await;
    server.token("EXPIRED", "Expired", None, None).await;
    let auth = |t: &str| json!({"idToken": {"idToken": t, "type": "ISO14443"}});
    let r = st.call("Authorize", auth("VALID2")).await.ok();
    assert_eq!(r["idTokenInfo"]["status"], json!("Accepted"));
    assert_eq!(
        r["idTokenInfo"]["groupIdToken"]["idToken"],
        json!("GROUP-7")
    );
    let unknown = st.call("Authorize", auth("NOPE")).await.ok();
    assert!(
        ["Invalid", "Unknown"].contains(
            &unknown["idTokenInfo"]["status"]
                .as_str()
                .unwrap_or_default()
        )
    );
    assert_eq!(
        st.call("Authorize", auth("BLOCKED")).await.ok()["idTokenInfo"]["status"],
        json!("Blocked")
    );
    assert_eq!(
        st.call("Authorize", auth("EXPIRED")).await.ok()["idTokenInfo"]["status"],
        json!("Expired")
    );
    // A transaction started by one token of a group, stopped by another of the same group.
    let start = tx_event(
        "Started",
        0,
        "Authorized",
        "T-GRP",
        json!({"idToken": {"idToken": "VALID", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1}}),
    );
    let r = st.call("TransactionEvent", start).await.ok();
    assert_eq!(r["idTokenInfo"]["status"], json!("Accepted"));
    assert_eq!(
        r["idTokenInfo"]["groupIdToken"]["idToken"],
        json!("GROUP-7")
    );
    let stop = tx_event(
        "Updated",
        1,
        "StopAuthorized",
        "T-GRP",
        json!({"idToken": {"idToken": "VALID2", "type": "ISO14443"}}),
    );
    let r = st.call("TransactionEvent", stop).await.ok();
    assert_eq!(r["idTokenInfo"]["status"], json!("Accepted"));
    // NoAuthorization tokens carry an empty value and need no lookup.
    let free = tx_event(
        "Started",
        0,
        "CablePluggedIn",
        "T-FREE",
        json!({"idToken": {"idToken": "", "type": "NoAuthorization"}, "evse": {"id": 2, "connectorId": 1}}),
    );
    let r = st.call("TransactionEvent", free).await.ok();
    assert_eq!(r["idTokenInfo"]["status"], json!("Accepted"));
    // TC_E_16: an invalid token on Started deauthorizes.
    let bad = tx_event(
        "Started",
        0,
        "Authorized",
        "T-BAD",
        json!({"idToken": {"idToken": "NOPE", "type": "ISO14443"}}),
    );
    let r = st.call("TransactionEvent", bad).await.ok();
    assert!(
        ["Invalid", "Unknown"].contains(&r["idTokenInfo"]["status"].as_str().unwrap_or_default())
    );
}

/// TC_E_01..E_03, TC_J_07, TC_J_10 in order; TC_E_31 out of order with gaps filled after the
/// end; a repeated seqNo changes nothing.
async fn transaction_events_in_and_out_of_order(b: &Backend) {
    let (server, mut st) = setup(b, "CS201T").await;
    server.token("DRIVER", "Accepted", None, None).await;
    let token = json!({"idToken": "DRIVER", "type": "ISO14443"});
    let events = vec![
        tx_event(
            "Started",
            0,
            "CablePluggedIn",
            "T-1",
            json!({"evse": {"id": 1, "connectorId": 1}, "transactionInfo": {"chargingState": "EVConnected"}, "meterValue": energy(2000.0, "Transaction.Begin")}),
        ),
        tx_event("Updated", 1, "Authorized", "T-1", json!({"idToken": token})),
        tx_event(
            "Updated",
            2,
            "ChargingStateChanged",
            "T-1",
            json!({"transactionInfo": {"chargingState": "Charging"}}),
        ),
        tx_event(
            "Updated",
            3,
            "MeterValuePeriodic",
            "T-1",
            json!({"meterValue": [{"timestamp": now(), "sampledValue": [
            {"value": 3.5, "unitOfMeasure": {"unit": "kWh"}, "context": "Sample.Periodic"},
            {"value": 11000.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
            {"value": 230.1, "measurand": "Voltage", "phase": "L1-N"},
            {"value": 0.0, "context": "Sample.Periodic", "signedMeterValue": {"signedMeterData": "b64data", "signingMethod": "ECDSA", "encodingMethod": "OCMF", "publicKey": "pk"}}]}]}),
        ),
        tx_event(
            "Ended",
            4,
            "EVCommunicationLost",
            "T-1",
            json!({"transactionInfo": {"stoppedReason": "EVDisconnected", "chargingState": "Idle"}, "meterValue": energy(9500.0, "Transaction.End")}),
        ),
    ];
    for ev in &events {
        let r = st.call("TransactionEvent", ev.clone()).await.ok();
        if ev.get("idToken").is_some() {
            assert_eq!(r["idTokenInfo"]["status"], json!("Accepted"));
        } else {
            assert!(
                r.get("idTokenInfo").is_none(),
                "no idTokenInfo without idToken: {r}"
            );
        }
    }
    // The same event again (the station did not get the answer): same answer, nothing changes.
    st.call("TransactionEvent", events[3].clone()).await.ok();
    let txs = transactions(&server, "CS201T").await;
    assert_eq!(txs.len(), 1);
    let t = &txs[0];
    assert_eq!(t["transactionId"], json!("T-1"));
    assert_eq!(t["meterStartWh"], json!(2000.0));
    assert_eq!(t["meterStopWh"], json!(9500.0));
    assert_eq!(t["energyWh"], json!(7500.0));
    assert_eq!(t["idToken"], json!("DRIVER"));
    assert_eq!(t["stopReason"], json!("EVDisconnected"));
    assert_eq!(t["chargingState"], json!("Idle"));

    // TC_E_31_CSMS: offline replay, Ended first with a gap, the gap filled afterwards.
    let late = vec![
        tx_event(
            "Started",
            0,
            "Authorized",
            "T-2",
            json!({"offline": true, "idToken": token, "evse": {"id": 2, "connectorId": 1}, "meterValue": energy(100.0, "Transaction.Begin")}),
        ),
        tx_event(
            "Ended",
            3,
            "EVCommunicationLost",
            "T-2",
            json!({"offline": true, "transactionInfo": {"stoppedReason": "EVDisconnected", "chargingState": "Idle"}, "meterValue": energy(1100.0, "Transaction.End")}),
        ),
        tx_event(
            "Updated",
            1,
            "StopAuthorized",
            "T-2",
            json!({"offline": true, "idToken": token}),
        ),
        tx_event(
            "Updated",
            2,
            "ChargingStateChanged",
            "T-2",
            json!({"offline": true, "transactionInfo": {"chargingState": "EVConnected"}}),
        ),
    ];
    for ev in late {
        st.call("TransactionEvent", ev).await.ok();
    }
    let txs = transactions(&server, "CS201T").await;
    let t2 = txs
        .iter()
        .find(|t| t["transactionId"] == json!("T-2"))
        .expect("T-2 recorded");
    assert_eq!(t2["energyWh"], json!(1000.0));
    assert!(t2["stoppedAt"].is_string());
    // An event first seen as Updated creates the transaction too.
    st.call(
        "TransactionEvent",
        tx_event(
            "Updated",
            5,
            "MeterValuePeriodic",
            "T-3",
            json!({"meterValue": energy(50.0, "Sample.Periodic")}),
        ),
    )
    .await
    .ok();
    assert_eq!(transactions(&server, "CS201T").await.len(), 3);
}

/// TC_E_53_CSMS: each transaction numbers its events from 0.
async fn seq_no_restarts_for_each_transaction(b: &Backend) {
    let (server, mut st) = setup(b, "CS201S").await;
    for tx in ["A-1", "A-2"] {
        st.call("TransactionEvent", tx_event("Started", 0, "CablePluggedIn", tx, json!({"evse": {"id": 1, "connectorId": 1}, "meterValue": energy(0.0, "Transaction.Begin")}))).await.ok();
        st.call("TransactionEvent", tx_event("Ended", 1, "EVCommunicationLost", tx, json!({"transactionInfo": {"stoppedReason": "EVDisconnected"}, "meterValue": energy(10.0, "Transaction.End")}))).await.ok();
    }
    let txs = transactions(&server, "CS201S").await;
    assert_eq!(txs.len(), 2);
    assert!(
        txs.iter()
            .all(|t| t["energyWh"] == json!(10.0) && t["stoppedAt"].is_string())
    );
}

/// TC_B_02_CSMS and TC_B_30_CSMS.
async fn pending_and_rejected_stations(b: &Backend) {
    let server = Server::start(b, &[]).await;
    for (id, policy) in [("CS-PEND", "Pending"), ("CS-REJ", "Rejected")] {
        let (s, body) = server
            .post("/api/v1/stations", json!({"id": id, "bootPolicy": policy}))
            .await;
        assert_eq!(s, 201, "{body}");
        let mut st = Station::open(&server, id, None, "2.0.1").await;
        let r = st.call("BootNotification", boot()).await.ok();
        assert_eq!(r["status"], json!(policy));
        let refused = st.call("StatusNotification", json!({"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1})).await;
        assert_eq!(refused.code(), "SecurityError");
        let refused = st.call("NotifyEvent", json!({"generatedAt": now(), "seqNo": 0, "eventData": [
            {"eventId": 1, "timestamp": now(), "trigger": "Delta", "actualValue": "Available", "eventNotificationType": "HardWiredNotification",
             "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "variable": {"name": "AvailabilityState"}}]})).await;
        assert_eq!(refused.code(), "SecurityError");
    }
    server
        .post(
            "/api/v1/stations",
            json!({"id": "CS-PEND", "bootPolicy": "Accepted"}),
        )
        .await;
    let mut st = Station::open(&server, "CS-PEND", None, "2.0.1").await;
    assert_eq!(
        st.call("BootNotification", boot()).await.ok()["status"],
        json!("Accepted")
    );
    st.call(
        "StatusNotification",
        json!({"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
    )
    .await
    .ok();
}

/// TC_P_02_CSMS, and the messages whose features come later: answered as the schema allows.
async fn messages_of_later_features_are_answered(b: &Backend) {
    let (_server, mut st) = setup(b, "CS201L").await;
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "DataTransfer",
            json!({"vendorId": "com.acme", "messageId": "m", "data": {"any": ["json", 1]}}),
            json!({"status": "UnknownVendorId"}),
        ),
        (
            "FirmwareStatusNotification",
            json!({"status": "Downloading", "requestId": 1}),
            json!({}),
        ),
        (
            "LogStatusNotification",
            json!({"status": "Uploading", "requestId": 2}),
            json!({}),
        ),
        (
            "SecurityEventNotification",
            json!({"type": "InvalidFirmwareSignature", "timestamp": now()}),
            json!({}),
        ),
        (
            "NotifyReport",
            json!({"requestId": 1, "generatedAt": now(), "seqNo": 0, "tbc": false, "reportData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}, "variableAttribute": [{"value": "123"}]}]}),
            json!({}),
        ),
        (
            "NotifyMonitoringReport",
            json!({"requestId": 1, "generatedAt": now(), "seqNo": 0}),
            json!({}),
        ),
        (
            "NotifyCustomerInformation",
            json!({"data": "nothing", "seqNo": 0, "generatedAt": now(), "requestId": 4}),
            json!({}),
        ),
        ("NotifyDisplayMessages", json!({"requestId": 5}), json!({})),
        (
            "ReservationStatusUpdate",
            json!({"reservationId": 9, "reservationUpdateStatus": "Expired"}),
            json!({}),
        ),
        (
            "PublishFirmwareStatusNotification",
            json!({"status": "Idle"}),
            json!({}),
        ),
        (
            "ClearedChargingLimit",
            json!({"chargingLimitSource": "EMS"}),
            json!({}),
        ),
        (
            "NotifyChargingLimit",
            json!({"chargingLimit": {"chargingLimitSource": "SO"}}),
            json!({}),
        ),
        (
            "ReportChargingProfiles",
            json!({"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [
            {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
             "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}]}),
            json!({}),
        ),
    ];
    for (action, payload, expected) in cases {
        assert_eq!(st.call(action, payload).await.ok(), expected, "{action}");
    }
    let sign = st
        .call(
            "SignCertificate",
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
        )
        .await
        .ok();
    assert_eq!(sign["status"], json!("Rejected"));
    let ev = st.call("Get15118EVCertificate", json!({"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "AAAA"})).await.ok();
    assert_eq!(ev["status"], json!("Failed"));
    let ocsp = st.call("GetCertificateStatus", json!({"ocspRequestData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "c", "responderURL": "http://ocsp"}})).await.ok();
    assert_eq!(ocsp["status"], json!("Failed"));
    let schedule = st.call("NotifyEVChargingSchedule", json!({"timeBase": now(), "evseId": 1, "chargingSchedule": {
        "id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}})).await.ok();
    assert_eq!(schedule["status"], json!("Accepted"));
    // Meter values outside a transaction (TC_J_01): the grid meter (EVSE 0) and an EVSE.
    for evse in [0, 1] {
        let mv = json!({"evseId": evse, "meterValue": [{"timestamp": now(), "sampledValue": [
            {"value": 123456.7, "context": "Sample.Clock", "measurand": "Energy.Active.Import.Register", "location": "Inlet"},
            {"value": 49.98, "measurand": "Frequency"}]}]});
        assert_eq!(st.call("MeterValues", mv).await.ok(), json!({}));
    }
    let needs = st
        .call(
            "NotifyEVChargingNeeds",
            json!({"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}),
        )
        .await
        .ok();
    assert_eq!(needs["status"], json!("Rejected"));
    assert_eq!(
        st.call(
            "RequestStartTransaction",
            json!({"idToken": {"idToken": "x", "type": "Central"}, "remoteStartId": 1})
        )
        .await
        .code(),
        "NotSupported"
    );
}
