//! The harness: a server process per test, stations that speak raw OCPP-J, and an HTTP client.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "e2e-admin-token";

/// Generates one test per backend for each named async function taking `&Backend` (the
/// store's shared harness: a fresh SQLite file, and a fresh database on the test PostgreSQL).
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        arus_store::both_backends!($($name),*);
    };
}

/// Where a test server keeps its data: the store's throwaway test databases.
pub use arus_store::testing::TestDatabase as Backend;
pub use arus_store::testing::unique;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `arus serve`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    database: String,
    args: Vec<String>,
}

impl Server {
    pub async fn start(backend: &Backend, args: &[&str]) -> Server {
        let mut s = Server {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            database: backend.url(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn().await;
        s
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_arus"))
            .arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--database")
            .arg(&self.database)
            .args(&self.args)
            .env("ARUS_API_TOKEN", TOKEN)
            .env("ARUS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("arus starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = self.http("GET", "/healthz", None).await {
                return;
            }
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills and starts again on the same address and database.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// An HTTP request with the admin token (when `body` is given, a JSON POST).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        http(self.addr, method, path, Some(TOKEN), body)
            .await
            .map(|(s, _, b)| (s, b))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.http("GET", path, None).await.expect("request");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.http("POST", path, Some(&body)).await.expect("request")
    }

    pub async fn register(&self, id: &str, password: Option<&str>) {
        let mut body = json!({ "id": id });
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        let (status, b) = self.post("/api/v1/stations", body).await;
        assert!(
            status == 201 || status == 200,
            "register {id}: {status} {b}"
        );
    }

    pub async fn token(
        &self,
        id_token: &str,
        status: &str,
        group: Option<&str>,
        expiry: Option<&str>,
    ) {
        let mut body = json!({ "idToken": id_token, "type": "ISO14443", "status": status });
        if let Some(g) = group {
            body["groupIdToken"] = json!(g);
        }
        if let Some(e) = expiry {
            body["expiryDate"] = json!(e);
        }
        let (s, b) = self.post("/api/v1/id-tokens", body).await;
        assert_eq!(s, 201, "{b}");
    }

    pub fn ws_url(&self, id: &str) -> String {
        format!("ws://{}/ocpp/{id}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 client (`Connection: close`): status, headers and JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, String, Value), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no response head")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, head.to_string(), json))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a CALL got back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Result(Value),
    Error {
        code: String,
        description: String,
        details: Value,
    },
}

impl Reply {
    pub fn ok(self) -> Value {
        match self {
            Reply::Result(v) => v,
            Reply::Error {
                code, description, ..
            } => panic!("CALLERROR {code}: {description}"),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Reply::Error { code, .. } => code,
            Reply::Result(v) => panic!("expected a CALLERROR, got {v}"),
        }
    }
}

/// A simulated station speaking one OCPP version over a real WebSocket.
pub struct Station {
    pub ws: Ws,
    /// `1.6` or `2.0.1`.
    pub version: &'static str,
    next: u64,
}

/// Connects with HTTP Basic credentials (if any) offering the given subprotocols.
pub async fn connect(
    server: &Server,
    id: &str,
    password: Option<&str>,
    protocols: &str,
) -> Result<(Ws, Option<String>), tokio_tungstenite::tungstenite::Error> {
    let mut req = server.ws_url(id).into_client_request()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocols).expect("header"),
    );
    if let Some(p) = password {
        use base64::Engine as _;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{p}"));
        req.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Basic {creds}")).expect("header"),
        );
    }
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    let proto = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    Ok((ws, proto))
}

impl Station {
    pub async fn open(
        server: &Server,
        id: &str,
        password: Option<&str>,
        version: &'static str,
    ) -> Station {
        let proto = format!("ocpp{version}");
        let (ws, chosen) = connect(server, id, password, &proto)
            .await
            .expect("connects");
        assert_eq!(chosen.as_deref(), Some(proto.as_str()));
        Station {
            ws,
            version,
            next: 0,
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        keep_as_fuzz_seed(text);
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next text frame, as JSON (pings are answered by tungstenite).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("an answer within 10s")
                .expect("connection open")
                .expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON from the server"),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Nothing arrives within `ms` milliseconds.
    pub async fn silent_for(&mut self, ms: u64) -> bool {
        loop {
            match tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Text(_)))) => return false,
                Ok(Some(Ok(_))) => continue,
                Ok(_) => return false,
            }
        }
    }

    /// Sends a CALL and returns the answer; a CALLRESULT's payload is checked against the
    /// official response schema of the action, a CALLERROR against the frame rules.
    pub async fn call(&mut self, action: &str, payload: Value) -> Reply {
        self.next += 1;
        let id = format!("m{}", self.next);
        self.send_text(&json!([2, id, action, payload]).to_string())
            .await;
        let answer = self.recv().await;
        reply_to(&id, action, self.version, &answer)
    }
}

/// Checks and reads the answer to CALL `id`.
pub fn reply_to(id: &str, action: &str, version: &str, answer: &Value) -> Reply {
    let frame = answer.as_array().expect("a frame is an array");
    assert_eq!(
        frame.get(1).and_then(Value::as_str),
        Some(id),
        "answer id: {answer}"
    );
    match frame[0].as_u64() {
        Some(3) => {
            assert_eq!(frame.len(), 3);
            assert_schema_valid(version, action, &frame[2]);
            Reply::Result(frame[2].clone())
        }
        Some(4) => {
            assert_error_frame(version, answer);
            Reply::Error {
                code: frame[2].as_str().unwrap_or_default().to_string(),
                description: frame[3].as_str().unwrap_or_default().to_string(),
                details: frame[4].clone(),
            }
        }
        _ => panic!("not an answer: {answer}"),
    }
}

/// A CALLERROR has five elements, a code of the version's table, a description of at most 255
/// characters and an object of details.
pub fn assert_error_frame(version: &str, frame: &Value) {
    let f = frame.as_array().expect("array");
    assert_eq!(f.len(), 5, "{frame}");
    let codes16 = [
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    ];
    let codes201 = [
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    ];
    let code = f[2].as_str().expect("code is a string");
    let table: &[&str] = if version == "1.6" {
        &codes16
    } else {
        &codes201
    };
    assert!(
        table.contains(&code),
        "{code} is not a {version} error code"
    );
    assert!(f[3].as_str().is_some_and(|d| d.chars().count() <= 255));
    assert!(f[4].is_object());
}

/// Validates a response payload with the independent `jsonschema` crate against the OCA
/// schema (vendored verbatim).
pub fn assert_schema_valid(version: &str, action: &str, payload: &Value) {
    let schema = match version {
        "1.6" => arus_ocpp::v16::Action::from_name(action).and_then(|a| a.response_schema()),
        _ => arus_ocpp::v201::Action::from_name(action).and_then(|a| a.response_schema()),
    }
    .unwrap_or_else(|| panic!("{action} has a response schema"));
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(payload)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{action} answer {payload} breaks its schema: {errors:?}"
    );
    // Timestamps go out with at most three fractional digits.
    check_timestamps(payload);
}

fn check_timestamps(v: &Value) {
    match v {
        Value::String(s) if s.len() > 19 && s.as_bytes().get(10) == Some(&b'T') => {
            if let Some(frac) = s.split('.').nth(1) {
                let digits = frac.chars().take_while(char::is_ascii_digit).count();
                assert!(digits <= 3, "{s} has more than three fractional digits");
            }
        }
        Value::Array(a) => a.iter().for_each(check_timestamps),
        Value::Object(o) => o.values().for_each(check_timestamps),
        _ => {}
    }
}

/// With `ARUS_FUZZ_SEEDS=DIR`, every frame a test station sends is also written to DIR, named
/// by its hash: the seeds of the OCPP fuzz target (`fuzz/seeds/ocpp_messages`) come from there.
fn keep_as_fuzz_seed(text: &str) {
    let Some(dir) = std::env::var_os("ARUS_FUZZ_SEEDS") else {
        return;
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let _ = std::fs::write(std::path::Path::new(&dir).join(format!("{h:016x}")), text);
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sends a hand-made HTTP request and reads its answer's head, up to the blank line and not a
/// byte further (what follows an upgrade belongs to the WebSocket).
pub async fn request_head(s: &mut TcpStream, request: &str) -> Vec<u8> {
    s.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.expect("read");
        head.push(b[0]);
    }
    head
}

/// A frame as a client sends it (RFC 6455 §5.2): `first` is its first byte (FIN, RSV1 for a
/// compressed message, opcode), the payload (under 64 KiB) masked.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    assert!(payload.len() < 65536);
    let mut frame = vec![first];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The station's transactions, newest first, from the API.
pub async fn transactions(server: &Server, station: &str) -> Vec<Value> {
    let v = server
        .get(&format!(
            "/api/v1/transactions?stationId={station}&limit=1000"
        ))
        .await;
    v["items"].as_array().cloned().unwrap_or_default()
}
