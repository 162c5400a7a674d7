//! CSMS-initiated CALLs through a real socket: correlation, one outstanding CALL at a time,
//! timeouts, refusals, invalid answers, and CALLs crossing in both directions (OCPP-J 1.6 §4.1.1,
//! OCPP 2.0.1 part 4 §4.1.1).

use std::sync::Arc;
use std::time::Duration;

use arus_domain::commands::SendError;
use arus_domain::events::EventBus;
use arus_domain::provisioning::RegistrationStatus;
use arus_domain::store::Write;
use arus_domain::{Csms, CsmsConfig};
use arus_gateway::{Gateway, GatewayConfig};
use arus_ocpp::v16;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Fixture {
    gateway: Arc<Gateway>,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = arus_store::open(dir.path().join("g.db").to_str().expect("path"))
        .await
        .expect("store");
    for id in ["ST16", "ST201"] {
        store
            .commit(vec![Write::PutStation {
                id: id.into(),
                password_hash: None,
                boot_policy: RegistrationStatus::Accepted,
                self_registered: false,
                at: chrono::Utc::now(),
            }])
            .await
            .expect("register");
    }
    let csms = Arc::new(
        Csms::new(store, EventBus::new(64), CsmsConfig::default())
            .await
            .expect("csms"),
    );
    let gateway = Gateway::new(
        csms,
        GatewayConfig {
            call_timeout: Duration::from_millis(400),
            ..GatewayConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(arus_gateway::front::serve(
        gateway.clone(),
        listener,
        axum::Router::new(),
        std::future::pending(),
    ));
    Fixture {
        gateway,
        addr,
        _dir: dir,
    }
}

async fn station(f: &Fixture, id: &str, proto: &str) -> Ws {
    let mut req = format!("ws://{}/ocpp/{id}", f.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", proto.parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connects");
    // Wait until the session is registered.
    for _ in 0..100 {
        if arus_domain::link::StationLink::connection(f.gateway.as_ref(), id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ws
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).expect("json"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no frame: {other:?}"),
        }
    }
}

/// Checks a payload Arus sent with the independent `jsonschema` crate.
fn assert_request_valid(schema: &str, payload: &Value) {
    let schema: Value = serde_json::from_str(schema).expect("schema");
    let v = jsonschema::validator_for(&schema).expect("compiles");
    assert!(v.is_valid(payload), "{payload} breaks its schema");
}

fn reset() -> v16::ResetRequest {
    v16::ResetRequest {
        r#type: v16::ResetType::Soft,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_one_at_a_time_in_order() {
    let f = fixture().await;
    let mut ws = station(&f, "ST16", "ocpp1.6").await;
    let mut calls = Vec::new();
    for _ in 0..3 {
        let g = f.gateway.clone();
        calls.push(tokio::spawn(async move { g.call("ST16", &reset()).await }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut statuses = ["Accepted", "Rejected", "Accepted"].into_iter();
    for n in 0..3 {
        let call = next_text(&mut ws).await;
        assert_eq!(call[0], json!(2));
        assert_eq!(call[2], json!("Reset"));
        assert_eq!(call[3], json!({"type": "Soft"}));
        assert_request_valid(v16::Action::Reset.request_schema(), &call[3]);
        // Message ids are unique strings of at most 36 characters (UUIDs).
        assert!(call[1].as_str().is_some_and(|id| id.len() <= 36));
        // Nothing else arrives while this one is unanswered.
        let quiet = tokio::time::timeout(Duration::from_millis(150), ws.next()).await;
        assert!(
            quiet.is_err(),
            "a second CALL went out before the answer ({n})"
        );
        let answer = json!([3, call[1], {"status": statuses.next().expect("status")}]);
        ws.send(Message::text(answer.to_string()))
            .await
            .expect("send");
    }
    let results: Vec<_> = futures_util::future::join_all(calls).await;
    let got: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("joined").expect("answered").status)
        .collect();
    assert_eq!(
        got,
        vec![
            v16::ResetStatus::Accepted,
            v16::ResetStatus::Rejected,
            v16::ResetStatus::Accepted
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_refusals_and_invalid_answers() {
    let f = fixture().await;
    let mut ws = station(&f, "ST16", "ocpp1.6").await;
    // No answer: a timeout; the late answer is ignored.
    let g = f.gateway.clone();
    let pending = tokio::spawn(async move { g.call("ST16", &reset()).await });
    let call = next_text(&mut ws).await;
    assert!(matches!(
        pending.await.expect("joined"),
        Err(SendError::Timeout)
    ));
    ws.send(Message::text(
        json!([3, call[1], {"status": "Accepted"}]).to_string(),
    ))
    .await
    .expect("send");
    // A CALLERROR.
    let g = f.gateway.clone();
    let pending = tokio::spawn(async move { g.call("ST16", &reset()).await });
    let call = next_text(&mut ws).await;
    ws.send(Message::text(
        json!([4, call[1], "NotSupported", "no resets here", {}]).to_string(),
    ))
    .await
    .expect("send");
    assert!(matches!(
        pending.await.expect("joined"),
        Err(SendError::Refused { code, description })
            if code == "NotSupported" && description == "no resets here"
    ));
    // An answer that breaks the response schema.
    let g = f.gateway.clone();
    let pending = tokio::spawn(async move { g.call("ST16", &reset()).await });
    let call = next_text(&mut ws).await;
    ws.send(Message::text(
        json!([3, call[1], {"status": "Maybe"}]).to_string(),
    ))
    .await
    .expect("send");
    assert!(matches!(
        pending.await.expect("joined"),
        Err(SendError::InvalidResponse(_))
    ));
    // Wrong version, and a station that is not there.
    let v201 = arus_ocpp::v201::ResetRequest {
        custom_data: None,
        r#type: arus_ocpp::v201::ResetEnum::Immediate,
        evse_id: None,
    };
    assert!(matches!(
        f.gateway.call("ST16", &v201).await,
        Err(SendError::Unsupported(why)) if why.contains("OCPP 1.6")
    ));
    assert!(matches!(
        f.gateway.call("NOBODY", &reset()).await,
        Err(SendError::NotConnected)
    ));
}

/// Sends ClearCache to ST201 in the background.
fn clear_cache(
    gateway: &Arc<Gateway>,
) -> tokio::task::JoinHandle<Result<arus_ocpp::v201::ClearCacheResponse, SendError>> {
    let g = gateway.clone();
    tokio::spawn(async move {
        g.call(
            "ST201",
            &arus_ocpp::v201::ClearCacheRequest { custom_data: None },
        )
        .await
    })
}

/// Part 4 §4.1.1: CALLs may cross; the station's CALL is answered while the CSMS waits for its
/// own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_calls_do_not_deadlock() {
    let f = fixture().await;
    let mut ws = station(&f, "ST201", "ocpp2.0.1").await;
    let pending = clear_cache(&f.gateway);
    let call = next_text(&mut ws).await;
    assert_eq!(call[2], json!("ClearCache"));
    assert_request_valid(
        arus_ocpp::v201::Action::ClearCache.request_schema(),
        &call[3],
    );
    ws.send(Message::text(
        json!([2, "hb-1", "Heartbeat", {}]).to_string(),
    ))
    .await
    .expect("send");
    let hb = next_text(&mut ws).await;
    assert_eq!(hb[0], json!(3));
    assert_eq!(hb[1], json!("hb-1"));
    ws.send(Message::text(
        json!([3, call[1], {"status": "Accepted"}]).to_string(),
    ))
    .await
    .expect("send");
    let answer = pending.await.expect("joined").expect("answered");
    assert_eq!(
        answer.status,
        arus_ocpp::v201::ClearCacheStatusEnum::Accepted
    );
    // A disconnect fails what is pending.
    let pending = clear_cache(&f.gateway);
    next_text(&mut ws).await;
    drop(ws);
    assert!(matches!(
        pending.await.expect("joined"),
        Err(SendError::Disconnected)
    ));
}
