//! Stations that stop taking part: one that goes silent (a half-open connection: no pongs,
//! nothing read) and one that sends but never reads. Each is disconnected; nobody else notices.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::both;
use crate::common::{Backend, Server, Station, masked_frame, request_head};

both!(
    a_silent_station_is_disconnected,
    a_station_that_does_not_read_is_disconnected
);

/// Opens a WebSocket by hand (so that nothing answers pings) with a small receive buffer.
async fn raw_station(server: &Server, id: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = socket.connect(server.addr).await.expect("connect");
    let req = format!(
        "GET /ocpp/{id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
    );
    let head = request_head(&mut s, &req).await;
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

async fn connected(server: &Server, id: &str) -> bool {
    server.get(&format!("/api/v1/stations/{id}")).await["connected"] == json!(true)
}

async fn a_silent_station_is_disconnected(b: &Backend) {
    let server = Server::start(b, &["--ping-interval", "1", "--call-timeout", "1"]).await;
    server.register("SILENT", None).await;
    let mut s = raw_station(&server, "SILENT").await;
    // The session registers just after the handshake's answer.
    let mut up = false;
    for _ in 0..50 {
        up = connected(&server, "SILENT").await;
        if up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the station is taken for connected");
    // A ping of the station's is answered with a pong carrying its data (RFC 6455 §5.5.2).
    s.write_all(&masked_frame(0x89, b"beat"))
        .await
        .expect("ping");
    let mut pong = [0u8; 6];
    s.read_exact(&mut pong).await.expect("pong");
    assert_eq!(&pong, &[0x8A, 4, b'b', b'e', b'a', b't']);
    // Say nothing, answer no ping. Pings every second, patience 2 × 1 s + 1 s.
    let started = Instant::now();
    let mut gone = false;
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if !connected(&server, "SILENT").await {
            gone = true;
            break;
        }
    }
    assert!(gone, "the silent station is still taken for connected");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before its patience ran out"
    );
    // What it was sent: pings, then the end of the connection.
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    assert!(
        buf.first() == Some(&0x89),
        "pings were sent: {:?}",
        &buf[..buf.len().min(8)]
    );
}

async fn a_station_that_does_not_read_is_disconnected(b: &Backend) {
    // No CALL rate: the station must fill the server's buffers quickly (a rate would slow the
    // answers it does not read, and so its disconnection, without changing the outcome).
    let args = ["--write-timeout", "1", "--station-call-rate", "0"];
    let server = Server::start(b, &args).await;
    server.register("DEAF", None).await;
    server.register("FINE", None).await;
    let mut fine = Station::open(&server, "FINE", None, "1.6").await;
    let mut deaf = raw_station(&server, "DEAF").await;
    // Every CALL gets a long CALLERROR back (its unknown action is quoted); none is read.
    let call = masked_frame(
        0x81,
        json!([2, "x", "A".repeat(200), {}]).to_string().as_bytes(),
    );
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(30) {
        match tokio::time::timeout(Duration::from_secs(3), deaf.write_all(&call)).await {
            Ok(Ok(())) => sent += 1,
            // Refused or stuck: the server stopped reading (it gave up on us).
            _ => break,
        }
        if sent.is_multiple_of(500) {
            // Meanwhile another station is served as usual.
            let hb = fine.call("Heartbeat", json!({})).await.ok();
            assert!(hb["currentTime"].is_string());
            if !connected(&server, "DEAF").await {
                break;
            }
        }
    }
    let mut gone = false;
    for _ in 0..40 {
        if !connected(&server, "DEAF").await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        gone,
        "the station that does not read is still connected after {sent} CALLs"
    );
    let hb = fine.call("Heartbeat", json!({})).await.ok();
    assert!(hb["currentTime"].is_string());
}
