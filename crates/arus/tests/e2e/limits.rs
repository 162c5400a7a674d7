//! What one client may take (issue faults 6 and 7): connections in all and per address, time
//! to send a request head or the next request, failed logins per station and per address,
//! CALLs per second per station, and the size of what is stored. Each limit is tried past its
//! edge on a running server; the server answers what it says it will, counts it in
//! `/metrics`, and serves everyone else meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arus_domain::notices::NoticeKind;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::both;
use crate::common::{Backend, Reply, Server, Station, http, now};

both!(a_flooding_station_is_slowed_and_what_it_sends_is_capped);

/// A TCP connection to the server from a loopback address of the test's choosing.
async fn connect_from(server: &Server, source: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .expect("bind to a loopback address");
    socket.connect(server.addr).await.expect("connect")
}

/// Reads until the server closes the connection (or `within` passes: `None`).
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).to_string()),
        Err(_) => None,
    }
}

/// The value of a counter in `/metrics` with the label `reason`, 0 if absent.
async fn counter(server: &Server, name: &str, reason: Option<&str>) -> f64 {
    let (_, _, body) = http(server.addr, "GET", "/metrics", None, None)
        .await
        .expect("metrics");
    let text = body.as_str().unwrap_or_default().to_string();
    let wanted = match reason {
        Some(r) => format!("{name}{{reason=\"{r}\"}} "),
        None => format!("{name} "),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_idle_ones_closed() {
    let b = Backend::sqlite();
    let server = Server::start(
        &b,
        &[
            "--max-connections",
            "6",
            "--max-connections-per-address",
            "3",
            "--header-timeout",
            "1",
            "--http-idle-timeout",
            "1",
        ],
    )
    .await;
    // Three connections from one address that never send a request head; the fourth from it
    // is refused at once, with 503 and the reason.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect_from(&server, [127, 0, 0, 2]).await);
    }
    let mut fourth = connect_from(&server, [127, 0, 0, 2]).await;
    let refused = read_to_close(&mut fourth, Duration::from_secs(5))
        .await
        .expect("the fourth connection is closed at once");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too many connections from this address"));
    // Other addresses are served meanwhile.
    let (status, _) = server.http("GET", "/healthz", None).await.expect("health");
    assert_eq!(status, 200);
    // Unfinished heads are closed after the header timeout, which gives their places back.
    for mut s in idle {
        assert!(
            read_to_close(&mut s, Duration::from_secs(10))
                .await
                .is_some(),
            "a connection without a request head is closed"
        );
    }
    // The server gives a place back as the connection's task ends, just after closing it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Six in all: five unfinished heads and one API client fill the server.
    let mut held = Vec::new();
    for source in [
        [127, 0, 0, 3],
        [127, 0, 0, 3],
        [127, 0, 0, 3],
        [127, 0, 0, 4],
        [127, 0, 0, 4],
    ] {
        held.push(connect_from(&server, source).await);
    }
    let mut api = connect_from(&server, [127, 0, 0, 4]).await;
    api.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut seventh = connect_from(&server, [127, 0, 0, 5]).await;
    let refused = read_to_close(&mut seventh, Duration::from_secs(5))
        .await
        .expect("the seventh connection is closed at once");
    assert!(
        refused.contains("as many connections as it may"),
        "{refused}"
    );
    // The API connection kept alive got its answer, and is closed once idle.
    let answer = read_to_close(&mut api, Duration::from_secs(10))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
    let name = "arus_connections_closed_by_limit_total";
    for reason in [
        "too_many_from_address",
        "too_many_connections",
        "head_timeout",
        "idle_timeout",
    ] {
        assert!(
            counter(&server, name, Some(reason)).await >= 1.0,
            "{reason} counted"
        );
    }
}

/// The status of a WebSocket handshake as station `id` with `password`, from `source`.
async fn login(server: &Server, source: [u8; 4], id: &str, password: &str) -> (u16, String) {
    use base64::Engine as _;
    let mut s = connect_from(server, source).await;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{password}"));
    let req = format!(
        "GET /ocpp/{id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {creds}\r\n\r\n"
    );
    let head = crate::common::request_head(&mut s, &req).await;
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_station_and_per_address() {
    let b = Backend::sqlite();
    let server = Server::start(
        &b,
        &[
            "--login-failures-per-station",
            "3",
            "--login-failures-per-address",
            "5",
        ],
    )
    .await;
    let right = "correct-horse-battery";
    for id in ["TARGET", "A1", "A2", "A3"] {
        server.register(id, Some(right)).await;
    }
    // The station logs in once: its password is remembered.
    assert_eq!(login(&server, [127, 0, 0, 6], "TARGET", right).await.0, 101);
    // Guessing from several addresses: three failures, then refused unchecked with 429.
    for source in [[127, 0, 0, 7], [127, 0, 0, 8], [127, 0, 0, 7]] {
        assert_eq!(login(&server, source, "TARGET", "guess").await.0, 401);
    }
    let (status, head) = login(&server, [127, 0, 0, 8], "TARGET", "guess").await;
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    // The station itself is not locked out by the guesses.
    assert_eq!(login(&server, [127, 0, 0, 6], "TARGET", right).await.0, 101);
    // One address failing on several stations: five failures from 127.0.0.9, then that
    // address is refused even for a station it never tried; other addresses are not.
    for id in ["A1", "A1", "A2", "A2", "A3"] {
        assert_eq!(login(&server, [127, 0, 0, 9], id, "guess").await.0, 401);
    }
    assert_eq!(login(&server, [127, 0, 0, 9], "A3", right).await.0, 429);
    assert_eq!(login(&server, [127, 0, 0, 10], "A3", right).await.0, 101);
    let name = "arus_auth_refused_total";
    assert!(counter(&server, name, Some("station_failures")).await >= 1.0);
    assert!(counter(&server, name, Some("address_failures")).await >= 1.0);
}

/// One station sends 150 DataTransfer CALLs without waiting, each with 4 KiB of data, at a
/// server allowing 20 CALLs a second after a burst of 10. Its CALLs are all answered, in
/// order, at that rate; another station's heartbeats meanwhile go through before the flood is
/// half done. What the flood stored is cut to the limits: its data to 1 KiB (the notice says
/// how large it was), its frames in the log to 2 KiB.
async fn a_flooding_station_is_slowed_and_what_it_sends_is_capped(b: &Backend) {
    let server = Server::start(
        b,
        &[
            "--station-call-rate",
            "20",
            "--station-call-burst",
            "10",
            "--max-vendor-data",
            "1024",
            "--max-logged-frame",
            "2048",
        ],
    )
    .await;
    server.register("FLOOD", None).await;
    server.register("QUIET", None).await;
    let mut flood = Station::open(&server, "FLOOD", None, "1.6").await;
    let boot = json!({"chargePointVendor": "V", "chargePointModel": "M"});
    flood.call("BootNotification", boot.clone()).await.ok();
    let (mut sink, mut stream) = flood.ws.split();
    const FLOOD: usize = 150;
    let data = "d".repeat(4096);
    let sender = tokio::spawn(async move {
        for i in 0..FLOOD {
            let call = json!([2, format!("f{i}"), "DataTransfer", {"vendorId": "com.example", "data": data}]);
            sink.feed(Message::text(call.to_string()))
                .await
                .expect("feed");
        }
        sink.flush().await.expect("flush");
        sink
    });
    let answered = Arc::new(AtomicUsize::new(0));
    let counted = answered.clone();
    let reader = tokio::spawn(async move {
        while counted.load(Ordering::SeqCst) < FLOOD {
            let msg = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .expect("the flood is answered")
                .expect("open")
                .expect("frame");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).expect("JSON");
                let n = counted.load(Ordering::SeqCst);
                assert_eq!(v[0], json!(3), "{v}");
                assert_eq!(v[1], json!(format!("f{n}")), "answered in order");
                assert_eq!(v[2]["status"], json!("UnknownVendorId"));
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    // Let the flood fill the server's side first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut quiet = Station::open(&server, "QUIET", None, "1.6").await;
    quiet.call("BootNotification", boot).await.ok();
    for _ in 0..20 {
        quiet.call("Heartbeat", json!({})).await.ok();
    }
    let during = answered.load(Ordering::SeqCst);
    assert!(
        during < FLOOD / 2,
        "the quiet station finished while the flood was still being read ({during} of {FLOOD} answered)"
    );
    // A 1.6 sampled value beyond 8 KiB is refused, not stored cut.
    let huge = json!({"connectorId": 1, "meterValue": [{"timestamp": now(),
        "sampledValue": [{"value": "9".repeat(9000)}]}]});
    match quiet.call("MeterValues", huge).await {
        Reply::Error { code, .. } => assert_eq!(code, "PropertyConstraintViolation"),
        other => panic!("an oversized sampled value was accepted: {other:?}"),
    }
    // In a StopTransaction it is left out instead: the stop is billing data and is kept, with
    // the sampled values that fit.
    let tx = quiet
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "T", "meterStart": 100, "timestamp": now()}),
        )
        .await
        .ok()["transactionId"]
        .clone();
    let stop = json!({"transactionId": tx, "meterStop": 900, "timestamp": now(),
        "transactionData": [
            {"timestamp": now(), "sampledValue": [{"value": "9".repeat(9000)}]},
            {"timestamp": now(), "sampledValue": [{"value": "9".repeat(9000)}, {"value": "900"}]}]});
    quiet.call("StopTransaction", stop).await.ok();
    let stored = crate::common::transactions(&server, "QUIET").await;
    let t = stored
        .iter()
        .find(|t| t["transactionId"] == tx)
        .unwrap_or_else(|| panic!("the stop of {tx} is lost: {stored:?}"));
    assert_eq!(t["meterStopWh"].as_f64(), Some(900.0), "{t}");
    reader.await.expect("every flood CALL answered");
    drop(sender.await.expect("sent"));
    assert!(counter(&server, "arus_station_calls_slowed_total", None).await >= 100.0);
    // Stored: every DataTransfer, each cut to 1 KiB with its size.
    let store = b.open().await;
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let notices = store
        .notices("FLOOD", NoticeKind::DataTransfer, None, since)
        .await
        .expect("notices");
    assert_eq!(notices.len(), FLOOD);
    for (_, n) in &notices {
        assert_eq!(n.details["truncatedFrom"], json!(4098), "{}", n.details);
        let kept = n.details["data"].as_str().expect("data kept as text");
        assert_eq!(kept.len(), 1024);
    }
    // The frame log keeps the frames cut, with their full size (it is written about a second
    // after the frames).
    let mut cut = Vec::new();
    for _ in 0..50 {
        let frames = server.get("/api/v1/stations/FLOOD/frames?limit=20").await;
        cut = frames["items"]
            .as_array()
            .expect("frames")
            .iter()
            .filter_map(|f| f["text"].as_str())
            .filter(|t| t.contains("…[cut: "))
            .map(str::to_string)
            .collect();
        if !cut.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!cut.is_empty(), "no cut frame in the log");
    assert!(
        cut.iter()
            .all(|t| t.len() < 2048 + 64 && t.contains("bytes in all]"))
    );
}
