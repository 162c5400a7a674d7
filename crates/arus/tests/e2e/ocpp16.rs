//! OCPP 1.6: every station-initiated message answered correctly and recorded.

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Server, Station, now, transactions};

both!(
    boot_heartbeat_and_status,
    authorization_of_known_unknown_blocked_expired,
    a_full_transaction_with_meter_values,
    retried_transaction_messages_are_idempotent,
    pending_station_gets_security_error,
    other_station_messages_are_answered,
);

async fn setup(b: &Backend, id: &str) -> (Server, Station) {
    let server = Server::start(b, &[]).await;
    server.register(id, Some("0123456789abcdef")).await;
    let st = Station::open(&server, id, Some("0123456789abcdef"), "1.6").await;
    (server, st)
}

async fn boot_heartbeat_and_status(b: &Backend) {
    let (server, mut st) = setup(b, "CP16").await;
    let boot = st
        .call(
            "BootNotification",
            json!({"chargePointVendor": "Acme", "chargePointModel": "Wallbox 22", "chargePointSerialNumber": "SN-9", "firmwareVersion": "1.2.3"}),
        )
        .await
        .ok();
    assert_eq!(boot["status"], json!("Accepted"));
    assert_eq!(boot["interval"], json!(300));
    let hb = st.call("Heartbeat", json!({})).await.ok();
    assert!(hb["currentTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    for (c, status) in [(0, "Available"), (1, "Preparing"), (2, "Faulted")] {
        st.call(
            "StatusNotification",
            json!({"connectorId": c, "errorCode": if c == 2 { "GroundFailure" } else { "NoError" }, "status": status, "timestamp": now()}),
        )
        .await
        .ok();
    }
    let v = server.get("/api/v1/stations/CP16").await;
    assert_eq!(v["connected"], json!(true));
    assert_eq!(v["ocppVersion"], json!("1.6"));
    assert_eq!(v["vendor"], json!("Acme"));
    assert_eq!(v["model"], json!("Wallbox 22"));
    assert_eq!(v["serialNumber"], json!("SN-9"));
    assert_eq!(v["registrationStatus"], json!("Accepted"));
    assert_eq!(v["status"], json!("Available"));
    let evses = v["evses"].as_array().expect("evses");
    assert_eq!(evses.len(), 2);
    assert_eq!(evses[0]["connectors"][0]["status"], json!("Preparing"));
    assert_eq!(evses[1]["connectors"][0]["status"], json!("Faulted"));
    assert_eq!(
        evses[1]["connectors"][0]["errorCode"],
        json!("GroundFailure")
    );
}

async fn authorization_of_known_unknown_blocked_expired(b: &Backend) {
    let (server, mut st) = setup(b, "CP16A").await;
    server
        .token("GOOD", "Accepted", Some("FLEET-1"), None)
        .await;
    server.token("BLOCKED", "Blocked", None, None).await;
    server
        .token("OLD", "Accepted", None, Some("2020-01-01T00:00:00Z"))
        .await;
    let auth = |tag: &str| json!({ "idTag": tag });
    let good = st.call("Authorize", auth("GOOD")).await.ok();
    assert_eq!(good["idTagInfo"]["status"], json!("Accepted"));
    assert_eq!(good["idTagInfo"]["parentIdTag"], json!("FLEET-1"));
    // Id tags are case-insensitive (CiString20Type).
    let lower = st.call("Authorize", auth("good")).await.ok();
    assert_eq!(lower["idTagInfo"]["status"], json!("Accepted"));
    let unknown = st.call("Authorize", auth("NOBODY")).await.ok();
    assert_eq!(unknown["idTagInfo"]["status"], json!("Invalid"));
    let blocked = st.call("Authorize", auth("BLOCKED")).await.ok();
    assert_eq!(blocked["idTagInfo"]["status"], json!("Blocked"));
    let old = st.call("Authorize", auth("OLD")).await.ok();
    assert_eq!(old["idTagInfo"]["status"], json!("Expired"));
}

async fn a_full_transaction_with_meter_values(b: &Backend) {
    let (server, mut st) = setup(b, "CP16T").await;
    server.token("DRIVER", "Accepted", None, None).await;
    st.call(
        "BootNotification",
        json!({"chargePointVendor": "Acme", "chargePointModel": "M"}),
    )
    .await
    .ok();
    let start = st
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "DRIVER", "meterStart": 12000, "timestamp": now()}),
        )
        .await
        .ok();
    assert_eq!(start["idTagInfo"]["status"], json!("Accepted"));
    let tx = start["transactionId"].as_i64().expect("an integer id");
    for wh in ["12500", "13000.5"] {
        st.call(
            "MeterValues",
            json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": now(), "sampledValue": [
                {"value": wh, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                {"value": "ABCD0123", "format": "SignedData", "context": "Sample.Periodic"}
            ]}]}),
        )
        .await
        .ok();
    }
    let stop = st
        .call(
            "StopTransaction",
            json!({"transactionId": tx, "idTag": "DRIVER", "meterStop": 19500, "timestamp": now(), "reason": "EVDisconnected",
                   "transactionData": [{"timestamp": now(), "sampledValue": [{"value": "19.5", "unit": "kWh", "context": "Transaction.End"}]}]}),
        )
        .await
        .ok();
    assert_eq!(stop["idTagInfo"]["status"], json!("Accepted"));
    let txs = transactions(&server, "CP16T").await;
    assert_eq!(txs.len(), 1);
    let t = &txs[0];
    assert_eq!(t["transactionId"], json!(tx));
    assert_eq!(t["stationId"], json!("CP16T"));
    assert_eq!(t["connectorId"], json!(1));
    assert_eq!(t["evseId"], json!(1));
    assert_eq!(t["idToken"], json!("DRIVER"));
    assert_eq!(t["meterStartWh"], json!(12000.0));
    assert_eq!(t["meterStopWh"], json!(19500.0));
    assert_eq!(t["energyWh"], json!(7500.0));
    assert_eq!(t["stopReason"], json!("EVDisconnected"));
    assert!(t["startedAt"].is_string() && t["stoppedAt"].is_string());
}

/// A StartTransaction whose answer was lost is sent again: same id. A StopTransaction sent
/// twice changes nothing.
async fn retried_transaction_messages_are_idempotent(b: &Backend) {
    let (server, mut st) = setup(b, "CP16I").await;
    let at = now();
    let start =
        json!({"connectorId": 2, "idTag": "UNKNOWN-TAG", "meterStart": 100, "timestamp": at});
    let first = st.call("StartTransaction", start.clone()).await.ok();
    // An unknown tag still gets a transaction; the status tells the station to stop.
    assert_eq!(first["idTagInfo"]["status"], json!("Invalid"));
    let again = st.call("StartTransaction", start).await.ok();
    assert_eq!(first["transactionId"], again["transactionId"]);
    let tx = first["transactionId"].clone();
    let stop = json!({"transactionId": tx, "meterStop": 600, "timestamp": now(), "reason": "DeAuthorized"});
    st.call("StopTransaction", stop.clone()).await.ok();
    st.call("StopTransaction", stop).await.ok();
    let txs = transactions(&server, "CP16I").await;
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0]["energyWh"], json!(500.0));
    // Issue 10, fault 5: a stop for a transaction id the CSMS never gave is acknowledged and
    // kept as an orphan for review. It names the very number the CSMS would give next, and
    // the next start still does not merge into it.
    let next = tx.as_i64().expect("a number") + 1;
    let orphan = json!({"transactionId": next, "meterStop": 50, "timestamp": now()});
    let answer = st.call("StopTransaction", orphan).await.ok();
    assert_eq!(answer, json!({}));
    let later =
        json!({"connectorId": 1, "idTag": "UNKNOWN-TAG", "meterStart": 7000, "timestamp": now()});
    let started = st.call("StartTransaction", later).await.ok();
    assert_ne!(
        started["transactionId"],
        json!(next),
        "the orphan's id is not given"
    );
    let txs = transactions(&server, "CP16I").await;
    let phantom = txs
        .iter()
        .find(|t| t["transactionId"] == json!(next.to_string()))
        .expect("the orphan is kept");
    assert_eq!(phantom["orphan"], json!(true));
    assert_eq!(phantom["stopReason"], json!("Local"));
    assert_eq!(phantom["meterStopWh"], json!(50.0));
    let real = txs
        .iter()
        .find(|t| t["transactionId"] == started["transactionId"])
        .expect("the new transaction");
    assert_eq!(real["orphan"], json!(false));
    assert_eq!(real["meterStartWh"], json!(7000.0));
    assert!(
        real["stoppedAt"].is_null(),
        "the orphan's stop is not merged in"
    );
    let orphans = server
        .get("/api/v1/transactions?stationId=CP16I&orphan=true")
        .await;
    assert_eq!(
        orphans["items"].as_array().map(Vec::len),
        Some(1),
        "{orphans}"
    );
    let ongoing = server
        .get("/api/v1/transactions?stationId=CP16I&ongoing=true")
        .await;
    assert!(
        ongoing["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|t| t["orphan"] == json!(false))),
        "an orphan is never ongoing: {ongoing}"
    );
    // Meter values naming an id never given make an orphan too, and are not merged later.
    let stray = json!({"connectorId": 1, "transactionId": 555555, "meterValue": [{"timestamp": now(), "sampledValue": [{"value": "9"}]}]});
    assert_eq!(st.call("MeterValues", stray).await.ok(), json!({}));
    let txs = transactions(&server, "CP16I").await;
    assert!(
        txs.iter()
            .any(|t| t["transactionId"] == json!("555555") && t["orphan"] == json!(true))
    );
    // transactionId -1 (OCPP-J 1.6 errata §3.18) is answered as if it were valid.
    let unknown = json!({"connectorId": 1, "transactionId": -1, "meterValue": [{"timestamp": now(), "sampledValue": [{"value": "5"}]}]});
    assert_eq!(st.call("MeterValues", unknown).await.ok(), json!({}));
}

/// The answer to a BootNotification of a station by vendor `A`, model `B`.
async fn boot_a_b(st: &mut Station) -> Value {
    st.call(
        "BootNotification",
        json!({"chargePointVendor": "A", "chargePointModel": "B"}),
    )
    .await
    .ok()
}

/// OCPP-J 1.6 errata §3.8: before it is accepted a station's other requests get SecurityError.
async fn pending_station_gets_security_error(b: &Backend) {
    let server = Server::start(b, &[]).await;
    let (s, body) = server
        .post(
            "/api/v1/stations",
            json!({"id": "CP16P", "bootPolicy": "Pending"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let mut st = Station::open(&server, "CP16P", None, "1.6").await;
    let boot = boot_a_b(&mut st).await;
    assert_eq!(boot["status"], json!("Pending"));
    assert_eq!(boot["interval"], json!(30));
    let refused = st
        .call(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(refused.code(), "SecurityError");
    // Once the operator accepts it, its next boot is accepted and it may send again.
    server
        .post(
            "/api/v1/stations",
            json!({"id": "CP16P", "bootPolicy": "Accepted"}),
        )
        .await;
    let boot = boot_a_b(&mut st).await;
    assert_eq!(boot["status"], json!("Accepted"));
    st.call("Heartbeat", json!({})).await.ok();
}

async fn other_station_messages_are_answered(b: &Backend) {
    let (_server, mut st) = setup(b, "CP16O").await;
    let dt = st
        .call(
            "DataTransfer",
            json!({"vendorId": "com.acme", "messageId": "x", "data": "{\"a\":1}"}),
        )
        .await
        .ok();
    assert_eq!(dt["status"], json!("UnknownVendorId"));
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "DiagnosticsStatusNotification",
            json!({"status": "Uploading"}),
            json!({}),
        ),
        (
            "FirmwareStatusNotification",
            json!({"status": "Downloading"}),
            json!({}),
        ),
        (
            "SecurityEventNotification",
            json!({"type": "SettingSystemTime", "timestamp": now(), "techInfo": "ntp"}),
            json!({}),
        ),
        (
            "LogStatusNotification",
            json!({"status": "Uploaded", "requestId": 7}),
            json!({}),
        ),
        (
            "SignedFirmwareStatusNotification",
            json!({"status": "SignatureVerified", "requestId": 3}),
            json!({}),
        ),
        (
            "SignCertificate",
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
            json!({"status": "Rejected"}),
        ),
    ];
    for (action, payload, expected) in cases {
        assert_eq!(st.call(action, payload).await.ok(), expected, "{action}");
    }
    // A CSMS-initiated action sent by a station, and an action no version has.
    assert_eq!(
        st.call("Reset", json!({"type": "Soft"})).await.code(),
        "NotSupported"
    );
    assert_eq!(st.call("Rocket", json!({})).await.code(), "NotImplemented");
    assert_eq!(
        st.call("heartbeat", json!({})).await.code(),
        "NotImplemented"
    );
}
