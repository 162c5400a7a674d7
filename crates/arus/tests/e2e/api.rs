//! The operator API's contract: tokens, problem details, the shapes the core fixes.

use serde_json::json;

use crate::both;
use crate::common::{Backend, Server, TOKEN, http};

both!(
    tokens_are_required,
    bad_requests_are_problems,
    health_and_metrics
);

async fn tokens_are_required(b: &Backend) {
    let server = Server::start(b, &[]).await;
    for path in [
        "/api/v1/stations",
        "/api/v1/transactions",
        "/api/v1/stations/X",
    ] {
        let (status, head, body) = http(server.addr, "GET", path, None, None)
            .await
            .expect("request");
        assert_eq!(status, 401, "{path}");
        assert!(head.to_lowercase().contains("www-authenticate: bearer"));
        assert_eq!(body["status"], json!(401));
        let (status, _, _) = http(server.addr, "GET", path, Some("wrong"), None)
            .await
            .expect("request");
        assert_eq!(status, 401, "{path}");
    }
    let (status, _, body) = http(server.addr, "GET", "/api/v1/stations", Some(TOKEN), None)
        .await
        .expect("request");
    assert_eq!(status, 200);
    assert!(body["items"].is_array());
}

async fn bad_requests_are_problems(b: &Backend) {
    let server = Server::start(b, &[]).await;
    let cases = [
        ("/api/v1/stations", json!({"password": "x"})),
        ("/api/v1/stations", json!({"id": "a:b"})),
        (
            "/api/v1/stations",
            json!({"id": "ok", "bootPolicy": "Maybe"}),
        ),
        (
            "/api/v1/id-tokens",
            json!({"idToken": "x", "type": "Magic", "status": "Accepted"}),
        ),
        (
            "/api/v1/id-tokens",
            json!({"idToken": "x".repeat(37), "type": "ISO14443", "status": "Accepted"}),
        ),
        (
            "/api/v1/id-tokens",
            json!({"idToken": "x", "type": "ISO14443", "status": "Fine"}),
        ),
        (
            "/api/v1/id-tokens",
            json!({"idToken": "x", "type": "ISO14443", "status": "Accepted", "expiryDate": "soon"}),
        ),
    ];
    for (path, body) in cases {
        let (status, head, answer) = http(server.addr, "POST", path, Some(TOKEN), Some(&body))
            .await
            .expect("request");
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(head.to_lowercase().contains("application/problem+json"));
        assert_eq!(answer["status"], json!(400));
        assert!(answer["detail"].is_string());
    }
    for limit in ["0", "1001", "many"] {
        let (status, _) = server
            .http("GET", &format!("/api/v1/transactions?limit={limit}"), None)
            .await
            .expect("request");
        assert_eq!(status, 400, "limit={limit}");
    }
    let (status, _) = server
        .http("GET", "/api/v1/stations/NOBODY", None)
        .await
        .expect("request");
    assert_eq!(status, 404);
    let (status, _) = server
        .http("GET", "/api/v1/transactions?limit=1000", None)
        .await
        .expect("request");
    assert_eq!(status, 200);
}

async fn health_and_metrics(b: &Backend) {
    let server = Server::start(b, &[]).await;
    let (status, _, body) = http(server.addr, "GET", "/healthz", None, None)
        .await
        .expect("request");
    assert_eq!(status, 200);
    assert_eq!(body["status"], json!("ok"));
    server.register("M1", None).await;
    let mut st = crate::common::Station::open(&server, "M1", None, "1.6").await;
    st.call("Heartbeat", json!({})).await.ok();
    let (status, _, body) = http(server.addr, "GET", "/metrics", None, None)
        .await
        .expect("request");
    assert_eq!(status, 200);
    let text = body.as_str().expect("text");
    assert!(text.contains("arus_connected_stations 1"), "{text}");
    assert!(
        text.contains("arus_frames_total{direction=\"in\",kind=\"call\",action=\"Heartbeat\"} 1"),
        "{text}"
    );
    assert!(text.contains("arus_store_commit_seconds_count"), "{text}");
}
