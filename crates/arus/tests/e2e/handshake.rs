//! Connecting: security profile 1, unknown stations, subprotocols, compression, replacement.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::both;
use crate::common::{Backend, Server, Station, connect, masked_frame, request_head};

both!(
    basic_auth_admits_only_the_right_password,
    unknown_stations_are_refused_unless_allowed,
    newest_common_version_or_close,
    ids_over_48_characters_are_not_201,
    a_second_connection_replaces_the_first,
    permessage_deflate_is_negotiated_and_used,
);

fn status_of(e: WsError) -> u16 {
    match e {
        WsError::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// TC_A_01_CSMS, TC_A_02_CSMS, TC_A_03_CSMS.
async fn basic_auth_admits_only_the_right_password(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("CS-A", Some("s3cret-passw0rd!x")).await;
    let (_, proto) = connect(&server, "CS-A", Some("s3cret-passw0rd!x"), "ocpp1.6")
        .await
        .expect("right password admitted");
    assert_eq!(proto.as_deref(), Some("ocpp1.6"));
    let wrong = connect(&server, "CS-A", Some("wrong-password-123"), "ocpp1.6").await;
    assert_eq!(status_of(wrong.expect_err("refused")), 401);
    let none = connect(&server, "CS-A", None, "ocpp1.6").await;
    assert_eq!(status_of(none.expect_err("refused")), 401);
    // TC_A_02_CSMS: the user name must be the station's identity.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        server.ws_url("CS-A"),
    )
    .expect("request");
    use base64::Engine as _;
    let creds = base64::engine::general_purpose::STANDARD.encode("CS-AInvalid:s3cret-passw0rd!x");
    req.headers_mut().insert(
        "Authorization",
        format!("Basic {creds}").parse().expect("header"),
    );
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("header"));
    let mismatch = tokio_tungstenite::connect_async(req).await;
    assert_eq!(status_of(mismatch.expect_err("refused")), 401);
}

async fn unknown_stations_are_refused_unless_allowed(b: &Backend) {
    let server = Server::start(b, &[]).await;
    let refused = connect(&server, "NOBODY", None, "ocpp2.0.1").await;
    assert_eq!(status_of(refused.expect_err("refused")), 404);
    drop(server);
    let server = Server::start(b, &["--allow-unknown-stations"]).await;
    let mut st = Station::open(&server, "NEWCOMER", None, "2.0.1").await;
    st.call("Heartbeat", json!({})).await.ok();
    let v = server.get("/api/v1/stations/NEWCOMER").await;
    assert_eq!(v["connected"], json!(true));
    assert_eq!(v["ocppVersion"], json!("2.0.1"));
}

/// OCPP 2.0.1 part 4 §3.2: with no version in common the handshake completes without a
/// subprotocol and the server closes at once.
async fn newest_common_version_or_close(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("CS-V", None).await;
    let (_, proto) = connect(&server, "CS-V", None, "ocpp1.6, ocpp2.0.1")
        .await
        .expect("connects");
    assert_eq!(proto.as_deref(), Some("ocpp2.0.1"));
    // Clients treat a missing subprotocol as a failed handshake; a raw one sees the exchange.
    let mut s = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    s.write_all(b"GET /ocpp/CS-V HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.5, ocpp2.1\r\n\r\n")
        .await
        .expect("write");
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut all)).await;
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-protocol"), "{head}");
    let close = &all[end..];
    assert!(
        close.len() >= 4 && close[0] == 0x88,
        "then a close frame: {close:?}"
    );
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
    // A WebSocket client (here tungstenite) sees the connection refused.
    let refused = connect(&server, "CS-V", None, "ocpp1.5").await;
    assert!(refused.is_err());
}

/// OCPP 2.0.1 part 4 §3.1.1: an identity has at most 48 characters. A longer id (only an
/// unknown station can have one: the API registers at most 48) is refused when 2.0.1 is all it
/// offers, and gets 1.6 when it offers both.
async fn ids_over_48_characters_are_not_201(b: &Backend) {
    let server = Server::start(b, &["--allow-unknown-stations"]).await;
    let long = "L".repeat(49);
    let refused = connect(&server, &long, None, "ocpp2.0.1").await;
    assert_eq!(status_of(refused.expect_err("refused")), 400);
    let (_, proto) = connect(&server, &long, None, "ocpp2.0.1, ocpp1.6")
        .await
        .expect("connects with 1.6");
    assert_eq!(proto.as_deref(), Some("ocpp1.6"));
    let limit = "M".repeat(48);
    let (_, proto) = connect(&server, &limit, None, "ocpp2.0.1")
        .await
        .expect("48 characters are fine");
    assert_eq!(proto.as_deref(), Some("ocpp2.0.1"));
}

async fn a_second_connection_replaces_the_first(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("CS-R", None).await;
    let mut first = Station::open(&server, "CS-R", None, "1.6").await;
    first.call("Heartbeat", json!({})).await.ok();
    let mut second = Station::open(&server, "CS-R", None, "1.6").await;
    // The first is told to go away.
    let msg = tokio::time::timeout(Duration::from_secs(5), first.ws.next())
        .await
        .expect("closed");
    match msg {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    second.call("Heartbeat", json!({})).await.ok();
    drop(first);
    // The old connection's end does not disconnect the new one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = server.get("/api/v1/stations/CS-R").await;
    assert_eq!(v["connected"], json!(true));
    second.call("Heartbeat", json!({})).await.ok();
}

/// OCPP 2.0.1 part 4 §3.3: the CSMS supports RFC 7692. A hand-made client offers it, sends a
/// compressed CALL, and reads a compressed answer.
async fn permessage_deflate_is_negotiated_and_used(b: &Backend) {
    let server = Server::start(b, &[]).await;
    server.register("CS-Z", None).await;
    let mut s = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let req = "GET /ocpp/CS-Z HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    let head = request_head(&mut s, req).await;
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    assert!(head.contains("s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    // A compressed, masked CALL with a payload large enough to be answered compressed too.
    let text =
        json!([2, "z1", "DataTransfer", {"vendorId": "com.example", "data": "x".repeat(600)}])
            .to_string();
    let mut packed = Vec::new();
    arus_ws::deflate::deflate(text.as_bytes(), &mut packed);
    s.write_all(&masked_frame(0xC1, &packed))
        .await
        .expect("write");
    let mut hdr = [0u8; 2];
    s.read_exact(&mut hdr).await.expect("answer");
    let len = match hdr[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.expect("len");
            u16::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.expect("payload");
    let text = if hdr[0] & 0x40 != 0 {
        let mut out = Vec::new();
        arus_ws::deflate::inflate(&payload, 1 << 20, &mut out).expect("inflates");
        String::from_utf8(out).expect("utf-8")
    } else {
        String::from_utf8(payload).expect("utf-8")
    };
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer[0], json!(3));
    assert_eq!(answer[1], json!("z1"));
    assert_eq!(answer[2]["status"], json!("UnknownVendorId"));
}
