//! Hardening: what a misbehaving station must not be able to do to its own records or to the
//! operator's gate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::common::{Backend, Reply, Server, Station, TOKEN, http, now, transactions};

both!(
    a_station_that_skips_its_boot_is_held_by_the_gate,
    a_far_future_status_does_not_freeze_the_connector,
    registering_again_keeps_what_it_does_not_name,
    a_revoked_environment_token_stays_revoked_after_a_restart,
    a_start_resent_on_a_new_connection_gets_the_same_id,
    a_token_in_a_transaction_elsewhere_is_concurrent_tx,
);

/// Issue 10, fault 14 (1.6 §7.13 ConcurrentTx; 2.0.1 C01 idTokenInfo): a token already in a
/// transaction that starts another gets ConcurrentTx, unless the operator allowed concurrent
/// use for it or its group. A stop, and an Authorize at the station of its own transaction (the
/// driver stopping it), are answered as usual.
async fn a_token_in_a_transaction_elsewhere_is_concurrent_tx(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.token("CARD", "Accepted", Some("FLEET"), None).await;
    for id in ["CONC-A", "CONC-B"] {
        server.register(id, None).await;
    }
    let mut a = Station::open(&server, "CONC-A", None, "1.6").await;
    let mut b16 = Station::open(&server, "CONC-B", None, "1.6").await;
    let start =
        |c: u32| json!({"connectorId": c, "idTag": "CARD", "meterStart": 0, "timestamp": now()});
    let first = a.call("StartTransaction", start(1)).await.ok();
    assert_eq!(first["idTagInfo"]["status"], json!("Accepted"));
    let status = |r: Value| r["idTagInfo"]["status"].clone();
    // At the same station the card may be presented to stop: Authorize is answered Accepted.
    let here = a.call("Authorize", json!({"idTag": "CARD"})).await.ok();
    assert_eq!(status(here), json!("Accepted"));
    // Elsewhere, and for a second start anywhere, it is in use.
    let there = b16.call("Authorize", json!({"idTag": "CARD"})).await.ok();
    assert_eq!(status(there), json!("ConcurrentTx"));
    let second = b16.call("StartTransaction", start(1)).await.ok();
    assert_eq!(status(second.clone()), json!("ConcurrentTx"));
    // A 2.0.1 station starting with it is told the same.
    server.register("CONC-C", None).await;
    let mut c = Station::open(&server, "CONC-C", None, "2.0.1").await;
    let event = json!({"eventType": "Started", "timestamp": now(), "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "T-C"}, "idToken": {"idToken": "CARD", "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1}});
    let answer = c.call("TransactionEvent", event).await.ok();
    assert_eq!(answer["idTokenInfo"]["status"], json!("ConcurrentTx"));
    // The stops (with the card) are answered as usual.
    for (st, tx) in [(&mut a, &first), (&mut b16, &second)] {
        let stop = json!({"transactionId": tx["transactionId"], "idTag": "CARD", "meterStop": 10, "timestamp": now()});
        assert_eq!(
            status(st.call("StopTransaction", stop).await.ok()),
            json!("Accepted")
        );
    }
    // The operator allows the group to share cards: a second start is accepted.
    let (s, body) = server
        .post(
            "/api/v1/id-tokens",
            json!({"idToken": "FLEET", "type": "Central", "status": "Accepted", "concurrentUse": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["concurrentUse"], json!(true));
    let again = a.call("StartTransaction", start(1)).await.ok();
    assert_eq!(status(again), json!("Accepted"));
    let shared = b16.call("StartTransaction", start(2)).await.ok();
    assert_eq!(status(shared), json!("Accepted"));
}

/// Issue 10, fault 3: a station whose connection broke while its StartTransaction was being
/// handled reconnects and sends the start again. The new connection waits until the old one
/// has finished, so the retry finds the start committed and gets the same id: one
/// transaction, not two.
async fn a_start_resent_on_a_new_connection_gets_the_same_id(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("RECONNECT", None).await;
    let start = json!({"connectorId": 1, "idTag": "TAG", "meterStart": 100, "timestamp": now()});
    for round in 0..5 {
        let mut old = Station::open(&server, "RECONNECT", None, "1.6").await;
        // The start goes out and the station gives up on the answer at once.
        old.send_text(&json!([2, format!("lost-{round}"), "StartTransaction", start]).to_string())
            .await;
        let mut new = Station::open(&server, "RECONNECT", None, "1.6").await;
        let again = new.call("StartTransaction", start.clone()).await.ok();
        let txs = transactions(&server, "RECONNECT").await;
        assert_eq!(txs.len(), 1, "round {round}: {txs:?}");
        assert_eq!(txs[0]["transactionId"], again["transactionId"]);
        drop(old);
    }
}

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
    // The receipt time has microseconds, the station's time here milliseconds: a moment later.
    tokio::time::sleep(Duration::from_millis(5)).await;
    st.call("StatusNotification", status("Available", &now()))
        .await
        .ok();
    let v = server.get("/api/v1/stations/CLOCK").await;
    assert_eq!(v["evses"][0]["connectors"][0]["status"], json!("Available"));
}

/// What one charging station saw during a database outage: the transactions whose start it
/// got an id for, and whether their stop was acknowledged.
#[derive(Default)]
struct Seen {
    started: BTreeMap<i64, bool>,
    refused: usize,
}

/// Runs sessions (start, meter values, stop) until `until`, as a charger would: a refused
/// request (InternalError while the CSMS cannot commit) is tried again a moment later.
async fn charge_until(mut st: Station, until: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut meter = 0i64;
    let retry = async |st: &mut Station, action: &str, payload: Value, seen: &mut Seen| loop {
        match st.call(action, payload.clone()).await {
            Reply::Result(v) => return v,
            Reply::Error { code, .. } => {
                assert_eq!(code, "InternalError", "{action}");
                assert!(
                    Instant::now() < until + Duration::from_secs(20),
                    "{action} is still refused 20 s after the outage ended"
                );
                seen.refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    while Instant::now() < until {
        let start =
            json!({"connectorId": 1, "idTag": "FLEET", "meterStart": meter, "timestamp": now()});
        let answer = retry(&mut st, "StartTransaction", start, &mut seen).await;
        let Some(id) = answer["transactionId"].as_i64() else {
            panic!("no transaction id: {answer}");
        };
        seen.started.insert(id, false);
        for _ in 0..3 {
            meter += 100;
            let values = json!({"connectorId": 1, "transactionId": id, "meterValue": [{"timestamp": now(), "sampledValue": [{"value": meter.to_string(), "context": "Sample.Periodic"}]}]});
            retry(&mut st, "MeterValues", values, &mut seen).await;
        }
        let stop = json!({"transactionId": id, "meterStop": meter, "timestamp": now()});
        retry(&mut st, "StopTransaction", stop, &mut seen).await;
        seen.started.insert(id, true);
    }
    seen
}

/// Fault 1 of the hardening issue, end to end: PostgreSQL goes away (every connection ended,
/// new ones refused, as while it restarts) while stations charge, and comes back. Meanwhile
/// stations get InternalError and nothing is acknowledged that is not stored, `/healthz`
/// answers 503 with the reason; afterwards the server takes writes again without a restart,
/// every transaction a station was given is stored once with its stop, and `/metrics`
/// counts the reconnection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_charging_stations() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let url = b.url();
    let url = &url;
    let server = Server::start(&b, &[]).await;
    server.token("FLEET", "Accepted", None, None).await;
    let until = Instant::now() + Duration::from_secs(8);
    let mut chargers = Vec::new();
    for n in 0..6 {
        let id = format!("OUT{n}");
        server.register(&id, None).await;
        let mut st = Station::open(&server, &id, None, "1.6").await;
        st.call(
            "BootNotification",
            json!({"chargePointVendor": "A", "chargePointModel": "B"}),
        )
        .await
        .ok();
        chargers.push(tokio::spawn(charge_until(st, until)));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    arus_store::testing::cut_off_postgres(url).await;
    let mut unhealthy = None;
    for _ in 0..40 {
        let (status, _, body) = http(server.addr, "GET", "/healthz", None, None)
            .await
            .expect("request");
        // Reads may fail first ("storage unavailable"); the writer's reason follows.
        let says_why = body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot commit"));
        if status == 503 && says_why {
            unhealthy = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unhealthy = unhealthy.expect("/healthz reports the outage");
    assert!(
        unhealthy["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot commit")),
        "{unhealthy}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    arus_store::testing::restore_postgres(url).await;
    let mut refused = 0;
    for (n, charger) in chargers.into_iter().enumerate() {
        let seen = charger.await.expect("the station's task");
        refused += seen.refused;
        let stored: BTreeMap<i64, Value> = transactions(&server, &format!("OUT{n}"))
            .await
            .into_iter()
            .filter_map(|t| Some((t["transactionId"].as_i64()?, t)))
            .collect();
        assert!(!seen.started.is_empty());
        for (id, stopped) in &seen.started {
            let Some(t) = stored.get(id) else {
                panic!("transaction {id} of OUT{n} was acknowledged but is not stored");
            };
            if *stopped {
                assert!(t["stoppedAt"].is_string(), "{t}");
            }
        }
    }
    assert!(refused > 0, "the outage was not felt: nothing was refused");
    let (status, _, _) = http(server.addr, "GET", "/healthz", None, None)
        .await
        .expect("request");
    assert_eq!(status, 200);
    let (_, _, metrics) = http(server.addr, "GET", "/metrics", None, None)
        .await
        .expect("request");
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains("arus_store_writable 1"), "{text}");
    assert!(!text.contains("arus_store_reconnects_total 0"), "{text}");
}

/// Re-registering a station without `password` (to change its boot policy, say) keeps the
/// password it has; removing it is its own request.
async fn registering_again_keeps_what_it_does_not_name(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("KEEP", Some("0123456789abcdef")).await;
    let (s, body) = server
        .post(
            "/api/v1/stations",
            json!({"id": "KEEP", "bootPolicy": "Pending"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["hasPassword"], json!(true), "{body}");
    // A station without its password is still turned away, and the policy is kept too.
    let refused = crate::common::connect(&server, "KEEP", None, "ocpp1.6").await;
    assert!(refused.is_err(), "connected without the password it has");
    server.register("KEEP", None).await;
    let v = server.get("/api/v1/stations/KEEP").await;
    assert_eq!(v["hasPassword"], json!(true));
    assert_eq!(v["bootPolicy"], json!("Pending"), "{v}");
    // Removed explicitly, it connects without one.
    let (s, body) = server
        .http("DELETE", "/api/v1/stations/KEEP/password", None)
        .await
        .expect("request");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["hasPassword"], json!(false));
    Station::open(&server, "KEEP", None, "1.6").await;
    let (s, _) = server
        .http("DELETE", "/api/v1/stations/NOBODY/password", None)
        .await
        .expect("request");
    assert_eq!(s, 404);
}

/// A revoked `ARUS_API_TOKEN` stays revoked when the server restarts with it still set (it used
/// to be written back as a fresh admin token at every start).
async fn a_revoked_environment_token_stays_revoked_after_a_restart(b: &Backend) {
    let mut server = Server::start(b, &[]).await;
    let (s, second) = server
        .post("/api/v1/tokens", json!({"name": "second", "role": "admin"}))
        .await;
    assert_eq!(s, 201, "{second}");
    let second = second["token"].as_str().expect("a token").to_string();
    let listed = server.get("/api/v1/tokens").await;
    let env_id = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == json!("ARUS_API_TOKEN"))
        .and_then(|t| t["id"].as_str())
        .expect("the environment's token is listed")
        .to_string();
    let (s, _) = server
        .http("DELETE", &format!("/api/v1/tokens/{env_id}"), None)
        .await
        .expect("request");
    assert_eq!(s, 200);
    server.restart().await;
    let (s, _, _) = http(server.addr, "GET", "/api/v1/stations", Some(TOKEN), None)
        .await
        .expect("request");
    assert_eq!(s, 401, "the revoked token came back");
    let (s, _, _) = http(server.addr, "GET", "/api/v1/stations", Some(&second), None)
        .await
        .expect("request");
    assert_eq!(s, 200);
}
