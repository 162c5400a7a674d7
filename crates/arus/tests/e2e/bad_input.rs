//! Bad input from a station gets the error its version names, and the same connection keeps
//! working afterwards (a Heartbeat is answered after each).

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::both;
use crate::common::{Backend, Server, Station, assert_error_frame, masked_frame, now};

both!(
    malformed_frames_on_1_6,
    malformed_frames_on_2_0_1,
    schema_violations_on_1_6,
    schema_violations_on_2_0_1,
    oversized_binary_flood_and_invalid_utf8,
);

/// Sends raw text and expects a CALLERROR with this id and code.
async fn expect_error(st: &mut Station, text: &str, id: &str, code: &str) {
    st.send_text(text).await;
    let answer = st.recv().await;
    assert_error_frame(st.version, &answer);
    assert_eq!(answer[1], json!(id), "{text} -> {answer}");
    assert_eq!(answer[2], json!(code), "{text} -> {answer}");
}

async fn still_works(st: &mut Station) {
    let hb = st.call("Heartbeat", json!({})).await.ok();
    assert!(hb["currentTime"].is_string());
}

async fn station(b: &Backend, id: &str, version: &'static str) -> (Server, Station) {
    let server = Server::start(b, &["--max-message-size", "4096"]).await;
    server.register(id, None).await;
    let st = Station::open(&server, id, None, version).await;
    (server, st)
}

async fn malformed_frames_on_1_6(b: &Backend) {
    let (_s, mut st) = station(b, "BAD16", "1.6").await;
    let cases = [
        ("this is not json", "-1", "FormationViolation"),
        ("{\"not\": \"an array\"}", "-1", "FormationViolation"),
        ("[]", "-1", "FormationViolation"),
        ("[2, 17, \"Heartbeat\", {}]", "-1", "FormationViolation"),
        ("[2, \"a1\", \"Heartbeat\"]", "a1", "FormationViolation"),
        ("[2, \"a2\", 5, {}]", "a2", "FormationViolation"),
        (
            "[2, \"a3\", \"Heartbeat\", [1]]",
            "a3",
            "FormationViolation",
        ),
        (
            "[2, \"a4\", \"Heartbeat\", {\"x\": }]",
            "a4",
            "FormationViolation",
        ),
        (
            "[\"2\", \"a5\", \"Heartbeat\", {}]",
            "a5",
            "FormationViolation",
        ),
        ("[2, \"a6\", \"NoSuchAction\", {}]", "a6", "NotImplemented"),
        (
            "[2, \"a7\", \"RemoteStartTransaction\", {\"idTag\": \"x\"}]",
            "a7",
            "NotSupported",
        ),
    ];
    for (text, id, code) in cases {
        expect_error(&mut st, text, id, code).await;
        still_works(&mut st).await;
    }
    // OCPP-J 1.6 §4.1.3: an unknown message type is ignored.
    st.send_text("[7, \"a8\", \"Heartbeat\", {}]").await;
    assert!(st.silent_for(300).await);
    // A CALLRESULT to nothing is not answered either.
    st.send_text("[3, \"nobody-asked\", {}]").await;
    assert!(st.silent_for(300).await);
    still_works(&mut st).await;
}

async fn malformed_frames_on_2_0_1(b: &Backend) {
    let (_s, mut st) = station(b, "BAD201", "2.0.1").await;
    let long_id = "x".repeat(37);
    let too_long = format!("[2, \"{long_id}\", \"Heartbeat\", {{}}]");
    let cases = [
        ("this is not json", "-1", "RpcFrameworkError"),
        ("{\"not\": \"an array\"}", "-1", "RpcFrameworkError"),
        ("[]", "-1", "RpcFrameworkError"),
        ("[2, 17, \"Heartbeat\", {}]", "-1", "RpcFrameworkError"),
        ("[2, \"b1\", \"Heartbeat\"]", "b1", "RpcFrameworkError"),
        ("[2, \"b2\", 5, {}]", "b2", "RpcFrameworkError"),
        ("[2, \"b3\", \"Heartbeat\", [1]]", "b3", "FormatViolation"),
        (
            "[2, \"b4\", \"Heartbeat\", {\"x\": }]",
            "b4",
            "FormatViolation",
        ),
        (too_long.as_str(), long_id.as_str(), "RpcFrameworkError"),
        // Part 4 §4.4: an unknown message type is answered MessageTypeNotSupported.
        (
            "[7, \"b5\", \"Heartbeat\", {}]",
            "b5",
            "MessageTypeNotSupported",
        ),
        ("[2, \"b6\", \"NoSuchAction\", {}]", "b6", "NotImplemented"),
        (
            "[2, \"b7\", \"Reset\", {\"type\": \"Immediate\"}]",
            "b7",
            "NotSupported",
        ),
    ];
    for (text, id, code) in cases {
        expect_error(&mut st, text, id, code).await;
        still_works(&mut st).await;
    }
}

/// Payloads that break their schema, one rule at a time (codes per ErrorCode::for_violation).
async fn schema_violations_on_1_6(b: &Backend) {
    let (_s, mut st) = station(b, "SCH16", "1.6").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("Authorize", json!({}), "ProtocolError"),
        ("Authorize", json!({"idTag": 42}), "TypeConstraintViolation"),
        (
            "Authorize",
            json!({"idTag": "x".repeat(21)}),
            "TypeConstraintViolation",
        ),
        (
            "Authorize",
            json!({"idTag": "x", "extra": 1}),
            "FormationViolation",
        ),
        (
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}),
            "PropertyConstraintViolation",
        ),
        (
            "StatusNotification",
            json!({"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
            "PropertyConstraintViolation",
        ),
        (
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "x", "meterStart": 1.5, "timestamp": now()}),
            "TypeConstraintViolation",
        ),
        (
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "x", "meterStart": 1, "timestamp": "yesterday"}),
            "TypeConstraintViolation",
        ),
        (
            "MeterValues",
            json!({"connectorId": 1, "meterValue": []}),
            "OccurenceConstraintViolation",
        ),
        (
            "StopTransaction",
            json!({"transactionId": 1, "meterStop": 1, "timestamp": now(), "idTag": null}),
            "TypeConstraintViolation",
        ),
    ];
    for (action, payload, code) in cases {
        let r = st.call(action, payload.clone()).await;
        assert_eq!(r.code(), code, "{action} {payload}");
        still_works(&mut st).await;
    }
}

async fn schema_violations_on_2_0_1(b: &Backend) {
    let (_s, mut st) = station(b, "SCH201", "2.0.1").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "BootNotification",
            json!({"reason": "PowerUp"}),
            "OccurrenceConstraintViolation",
        ),
        (
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": 7}}),
            "TypeConstraintViolation",
        ),
        (
            "BootNotification",
            json!({"reason": "Whim", "chargingStation": {"model": "m", "vendorName": "v"}}),
            "PropertyConstraintViolation",
        ),
        (
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "m".repeat(21), "vendorName": "v"}}),
            "TypeConstraintViolation",
        ),
        (
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v", "colour": "red"}}),
            "ProtocolError",
        ),
        (
            "StatusNotification",
            json!({"timestamp": now(), "connectorStatus": "Available", "evseId": "1", "connectorId": 1}),
            "TypeConstraintViolation",
        ),
        (
            "MeterValues",
            json!({"evseId": 1, "meterValue": []}),
            "OccurrenceConstraintViolation",
        ),
        (
            "TransactionEvent",
            json!({"eventType": "Started", "timestamp": now(), "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "t".repeat(37)}}),
            "TypeConstraintViolation",
        ),
    ];
    for (action, payload, code) in cases {
        let r = st.call(action, payload.clone()).await;
        assert_eq!(r.code(), code, "{action} {payload}");
        // The details say where the fault is.
        if let crate::common::Reply::Error { details, .. } = &r {
            assert!(details["path"].is_string(), "{details}");
        }
        still_works(&mut st).await;
    }
}

/// A message over the configured limit, a binary frame, and a flood of CALLs are answered and
/// the connection goes on; invalid UTF-8 closes the connection with 1007 (RFC 6455 §8.1).
async fn oversized_binary_flood_and_invalid_utf8(b: &Backend) {
    let (server, mut st) = station(b, "FLOOD", "2.0.1").await;
    let big = json!([2, "big-1", "DataTransfer", {"vendorId": "v", "data": "x".repeat(10_000)}])
        .to_string();
    expect_error(&mut st, &big, "big-1", "GenericError").await;
    still_works(&mut st).await;
    st.ws
        .send(Message::binary(b"[2,\"bin-1\",\"Heartbeat\",{}]".to_vec()))
        .await
        .expect("send");
    let answer = st.recv().await;
    assert_eq!(answer[1], json!("bin-1"));
    assert_eq!(answer[2], json!("RpcFrameworkError"));
    still_works(&mut st).await;
    // 200 CALLs without waiting: every one answered, in order.
    for i in 0..200 {
        st.ws
            .feed(Message::text(
                json!([2, format!("f{i}"), "Heartbeat", {}]).to_string(),
            ))
            .await
            .expect("feed");
    }
    st.ws.flush().await.expect("flush");
    for i in 0..200 {
        let a = st.recv().await;
        assert_eq!(a[0], json!(3));
        assert_eq!(a[1], json!(format!("f{i}")));
    }
    // Other stations are not held up meanwhile.
    server.register("CALM", None).await;
    let mut calm = Station::open(&server, "CALM", None, "1.6").await;
    still_works(&mut calm).await;
    // Invalid UTF-8 in a text frame: the connection fails with 1007.
    let mut raw = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(b"GET /ocpp/FLOOD HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n").await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = raw.read(&mut buf).await.expect("101");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));
    let bad = [0xFFu8, 0xFE, 0xFD];
    raw.write_all(&masked_frame(0x81, &bad))
        .await
        .expect("write");
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    assert!(n >= 4 && buf[0] == 0x88, "a close frame: {:?}", &buf[..n]);
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1007);
    // The station's earlier connection was replaced by that one; a new one works.
    drop(st);
    let mut again = Station::open(&server, "FLOOD", None, "2.0.1").await;
    still_works(&mut again).await;
}
