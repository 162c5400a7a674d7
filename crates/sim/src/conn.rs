//! One station's WebSocket connection to the CSMS.
//!
//! A station sends one CALL at a time and waits for its answer; the CSMS's own CALLs may arrive
//! meanwhile (CALLs cross, OCPP-J §4.1.1) and are answered at once by `commands`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use arus_ocpp::Version;
use arus_ocpp::rpc::{self, Frame};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::behaviour::StationState;
use crate::stats::{Stats, inc};

/// How long a CALL waits for its answer.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The URL is not one to connect to, or the server did not agree to the version.
    #[error("connect: {0}")]
    Connect(String),
    /// A socket could not be made, bound or connected, or the host not resolved.
    #[error("connect: {what}: {source}")]
    Socket {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The station's id or password cannot be sent in a header.
    #[error("connect: credentials: {0}")]
    Credentials(#[source] InvalidHeaderValue),
    /// The WebSocket handshake failed.
    #[error("connect: handshake: {0}")]
    Handshake(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("connection closed")]
    Closed,
    #[error("no answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout,
}

/// The answer to a CALL.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A CALLRESULT's payload.
    Result(String),
    /// A CALLERROR.
    Error { code: String, description: String },
}

pub(crate) struct Conn {
    ws: WebSocketStream<TcpStream>,
    next: u64,
    version: Version,
}

/// A socket operation's error, saying which operation failed.
fn failed(what: &'static str) -> impl FnOnce(std::io::Error) -> ConnError {
    move |source| ConnError::Socket { what, source }
}

/// `ws://host:port/path` → the address and the URL.
async fn resolve(url: &str) -> Result<SocketAddr, ConnError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| ConnError::Connect(format!("{url}: only ws:// URLs")))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    tokio::net::lookup_host(&with_port)
        .await
        .map_err(failed("resolve"))?
        .next()
        .ok_or_else(|| ConnError::Connect(format!("{authority}: no address")))
}

impl Conn {
    /// Connects station `id` to `{url}/{id}`, offering its version, from `source` if given.
    pub async fn open(
        url: &str,
        id: &str,
        version: Version,
        password: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<Conn, ConnError> {
        let addr = resolve(url).await?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(failed("socket"))?;
        if let Some(src) = source {
            socket
                .bind(SocketAddr::new(src, 0))
                .map_err(failed("bind"))?;
        }
        let stream = socket.connect(addr).await.map_err(failed("connect"))?;
        let _ = stream.set_nodelay(true);
        let mut req = format!("{}/{id}", url.trim_end_matches('/'))
            .into_client_request()
            .map_err(ConnError::Handshake)?;
        let headers = req.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(version.subprotocol()),
        );
        if let Some(p) = password {
            let creds = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{p}"));
            headers.insert(
                "Authorization",
                HeaderValue::from_str(&format!("Basic {creds}")).map_err(ConnError::Credentials)?,
            );
        }
        let (ws, response) = tokio_tungstenite::client_async(req, stream)
            .await
            .map_err(ConnError::Handshake)?;
        let agreed = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if agreed != Some(version.subprotocol()) {
            return Err(ConnError::Connect(format!(
                "the server did not agree to {}",
                version.subprotocol()
            )));
        }
        Ok(Conn {
            ws,
            next: 0,
            version,
        })
    }

    /// Sends a CALL (`payload` is a JSON object) and waits for its answer, answering the CSMS's
    /// CALLs meanwhile. Counts the CALL and records its round trip.
    pub async fn call(
        &mut self,
        action: &str,
        payload: &str,
        st: &mut StationState,
        stats: &Stats,
    ) -> Result<Answer, ConnError> {
        self.next += 1;
        let id = self.next.to_string();
        let mut text = String::with_capacity(payload.len() + action.len() + 16);
        rpc::write_call(&mut text, &id, action, payload);
        let sent = Instant::now();
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|_| ConnError::Closed)?;
        inc(&stats.calls);
        let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => {
                    inc(&stats.timeouts);
                    return Err(ConnError::Timeout);
                }
                Ok(None | Some(Err(_))) => return Err(ConnError::Closed),
                Ok(Some(Ok(m))) => m,
            };
            let Message::Text(t) = msg else {
                if matches!(msg, Message::Close(_)) {
                    return Err(ConnError::Closed);
                }
                continue;
            };
            match rpc::parse(&t, self.version) {
                Ok(Frame::CallResult { id: rid, payload }) if rid == id => {
                    stats.record(sent.elapsed(), &stats.results);
                    return Ok(Answer::Result(payload.get().to_string()));
                }
                Ok(Frame::CallError {
                    id: rid,
                    code,
                    description,
                    ..
                }) if rid == id => {
                    stats.record(sent.elapsed(), &stats.errors);
                    return Ok(Answer::Error {
                        code: code.into_owned(),
                        description: description.into_owned(),
                    });
                }
                // An echo server sends the CALL back: it counts as its answer.
                Ok(Frame::Call { id: rid, .. }) if rid == id && st.echo => {
                    stats.record(sent.elapsed(), &stats.results);
                    return Ok(Answer::Result("{}".into()));
                }
                Ok(Frame::Call {
                    id: cid,
                    action,
                    payload,
                }) => {
                    let reply = crate::commands::answer(st, &cid, &action, payload.get());
                    inc(&stats.commands);
                    self.ws
                        .send(Message::text(reply))
                        .await
                        .map_err(|_| ConnError::Closed)?;
                }
                _ => {}
            }
        }
    }

    /// Waits until `deadline`, answering the CSMS's CALLs.
    pub async fn wait_until(
        &mut self,
        deadline: tokio::time::Instant,
        st: &mut StationState,
        stats: &Stats,
    ) -> Result<(), ConnError> {
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(()),
                Ok(None | Some(Err(_))) => return Err(ConnError::Closed),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => {
                    if let Ok(Frame::Call {
                        id,
                        action,
                        payload,
                    }) = rpc::parse(&t, self.version)
                    {
                        let reply = crate::commands::answer(st, &id, &action, payload.get());
                        inc(&stats.commands);
                        self.ws
                            .send(Message::text(reply))
                            .await
                            .map_err(|_| ConnError::Closed)?;
                        // A command may have asked for work (a reboot, a session...).
                        if !st.follow_ups.is_empty() {
                            return Ok(());
                        }
                    }
                }
                Message::Close(_) => return Err(ConnError::Closed),
                _ => {}
            }
        }
    }

    /// Closes the connection (a station going offline, or the end of the run).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}
