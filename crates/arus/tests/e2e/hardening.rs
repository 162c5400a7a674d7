//! Hardening: what a misbehaving station must not be able to do to its own records or to the
//! operator's gate.

use serde_json::json;

use crate::both;
use crate::common::{Backend, Server, Station, now};

both!(
    a_station_that_skips_its_boot_is_held_by_the_gate,
    a_far_future_status_does_not_freeze_the_connector,
);

/// B02.FR.09 / B03.FR.07 (1.6 OCPP-J errata §3.8): a station whose boot would be answered
/// Pending or Rejected gets SecurityError for its other requests even if it never sends
/// BootNotification; one whose boot would be accepted is let through.
async fn a_station_that_skips_its_boot_is_held_by_the_gate(b: &Backend) {
    let server = Server::start(b, &[]).await;
    for (id, policy) in [("GATE-P", "Pending"), ("GATE-R", "Rejected")] {
        let (s, body) = server
            .post("/api/v1/stations", json!({"id": id, "bootPolicy": policy}))
            .await;
        assert_eq!(s, 201, "{body}");
        for version in ["1.6", "2.0.1"] {
            let mut st = Station::open(&server, id, None, version).await;
            assert_eq!(
                st.call("Heartbeat", json!({})).await.code(),
                "SecurityError"
            );
        }
    }
    server.register("GATE-A", None).await;
    let mut st = Station::open(&server, "GATE-A", None, "1.6").await;
    st.call("Heartbeat", json!({})).await.ok();
}

/// One StatusNotification stamped decades ahead must not outrank every later status (statuses
/// are ordered by the station's time): it is ordered by its receipt time instead.
async fn a_far_future_status_does_not_freeze_the_connector(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("CLOCK", None).await;
    let mut st = Station::open(&server, "CLOCK", None, "1.6").await;
    st.call(
        "BootNotification",
        json!({"chargePointVendor": "A", "chargePointModel": "B"}),
    )
    .await
    .ok();
    let status = |status: &str, at: &str| json!({"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": at});
    st.call(
        "StatusNotification",
        status("Charging", "2099-01-01T00:00:00Z"),
    )
    .await
    .ok();
    st.call("StatusNotification", status("Available", &now()))
        .await
        .ok();
    let v = server.get("/api/v1/stations/CLOCK").await;
    assert_eq!(v["evses"][0]["connectors"][0]["status"], json!("Available"));
}
