//! One connected station: a task that reads its frames, answers its CALLs in order, sends the
//! CSMS's CALLs one at a time, keeps the connection alive, and logs every frame.
//!
//! Memory: while a station is idle its session holds no buffer. Reads go into one scratch
//! buffer per thread; only the bytes of a half-received frame are kept (by the decoder).

use crate::accept::Accepted;
use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use arus_domain::csms::StationContext;
use arus_domain::store::Direction;
use arus_domain::transactions::TransactionIds;
use arus_ocpp::Version;
use arus_ocpp::rpc::{self, ErrorCode, Frame};
use arus_ws::frame::{
    CloseCode, Decoder, Event, WsError, encode_close, encode_ping, encode_pong, encode_text,
};
use chrono::Utc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::Gateway;
use crate::adapter::{self, Outcome};
use crate::registry::{Link, OutboundCall};
use arus_domain::commands::SendError;

thread_local! {
    /// Where every session of this thread reads into.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

/// The CSMS-initiated CALL waiting for its answer.
struct Pending {
    id: String,
    action: &'static str,
    deadline: Instant,
    reply: oneshot::Sender<Result<String, SendError>>,
}

struct Session {
    gateway: Arc<Gateway>,
    version: Version,
    io: TcpStream,
    decoder: Decoder,
    /// Whether to compress what is sent (permessage-deflate negotiated with a 15-bit window).
    compress: bool,
    ctx: StationContext,
    pending: Option<Pending>,
    /// The action of the frame being handled (a CALL's, or the one a CALLRESULT answers), for
    /// the frame log.
    inbound_action: &'static str,
    /// When anything was last received.
    last_rx: Instant,
    /// The station's CALL rate.
    calls: crate::limits::CallBucket,
}

enum Read {
    Events(Vec<Event>),
    Nothing,
    Eof,
    Fault(WsError),
    Error(io::Error),
}

/// Runs a station's session until its connection ends.
pub(crate) async fn run(gateway: Arc<Gateway>, accepted: Accepted, leftover: Vec<u8>) {
    let Accepted {
        stream: io,
        id,
        version,
        deflate,
        claim,
    } = accepted;
    claim.replaced(&id).await;
    let (generation, link) = (claim.generation, claim.link);
    let m = arus_telemetry::metrics();
    // 1.6 stations learn their transaction ids from the CSMS; later versions name them.
    let ids = match version {
        Version::V16 => TransactionIds::Csms,
        Version::V201 | Version::V21 => TransactionIds::Station,
    };
    let ctx = match gateway
        .csms()
        .connected(id.clone(), version.label(), ids)
        .await
    {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(station = %id, error = %e, "cannot record the connection");
            m.error("store");
            let mut io = io;
            let mut close = Vec::new();
            encode_close(&mut close, CloseCode::INTERNAL, "storage unavailable");
            let _ = io.write_all(&close).await;
            gateway.registry.unregister(&id, generation);
            link.finish();
            return;
        }
    };
    m.connected.inc();
    let mut session = Session {
        decoder: Decoder::new(gateway.config().max_message_bytes, deflate.is_some()),
        gateway: gateway.clone(),
        version,
        io,
        compress: deflate.unwrap_or(false),
        ctx,
        pending: None,
        inbound_action: "unknown",
        last_rx: Instant::now(),
        calls: crate::limits::CallBucket::new(gateway.config().call_rate),
    };
    let reason = session.run(&link, leftover).await;
    tracing::info!(station = %id, %reason, "station disconnected");
    gateway.csms().disconnected(&mut session.ctx, &reason);
    gateway.registry.unregister(&id, generation);
    m.connected.dec();
    link.finish();
}

impl Session {
    async fn run(&mut self, link: &Link, mut leftover: Vec<u8>) -> String {
        if !leftover.is_empty() {
            let mut events = Vec::new();
            if let Err(e) = self.decoder.feed(&mut leftover, &mut events) {
                return self.fail(e).await;
            }
            drop(leftover);
            if let Err(reason) = Box::pin(self.on_events(events, link)).await {
                return reason;
            }
        }
        let ping = self.gateway.config().ping_interval;
        let mut next_ping = (!ping.is_zero()).then(|| Instant::now() + ping);
        loop {
            if link.closing() {
                self.close(CloseCode::GOING_AWAY, "closed by the server")
                    .await;
                return "closed by the server (replaced or shutting down)".into();
            }
            if self.pending.is_none()
                && let Some(call) = link.next_call()
                && let Err(reason) = self.send_call(*call).await
            {
                return reason;
            }
            let deadline = [next_ping, self.pending.as_ref().map(|p| p.deadline)]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                biased;
                // A CALL was queued or the session must close: the top of the loop sees to it.
                () = link.wake.notified() => {}
                ready = self.io.readable() => {
                    if let Err(e) = ready {
                        return format!("read error: {e}");
                    }
                    match self.read() {
                        // Boxed: handling takes memory only while it runs, not in every idle
                        // session.
                        Read::Events(events) => {
                            if let Err(reason) = Box::pin(self.on_events(events, link)).await {
                                return reason;
                            }
                        }
                        Read::Nothing => {}
                        Read::Eof => return "the connection was closed without a close frame".into(),
                        Read::Fault(e) => return self.fail(e).await,
                        Read::Error(e) => return format!("read error: {e}"),
                    }
                }
                () = sleep_until(deadline) => {
                    if let Err(reason) = self.on_timer(&mut next_ping).await {
                        return reason;
                    }
                }
            }
        }
    }

    fn read(&mut self) -> Read {
        SCRATCH.with_borrow_mut(|buf| match self.io.try_read(buf) {
            Ok(0) => Read::Eof,
            Ok(n) => {
                self.last_rx = Instant::now();
                let mut events = Vec::new();
                match self.decoder.feed(&mut buf[..n], &mut events) {
                    Ok(()) => Read::Events(events),
                    Err(e) => Read::Fault(e),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Nothing,
            Err(e) => Read::Error(e),
        })
    }

    /// Handles what was read; `Err` ends the session with a reason.
    async fn on_events(&mut self, events: Vec<Event>, link: &Link) -> Result<(), String> {
        for event in events {
            if matches!(
                event,
                Event::Text(_) | Event::Binary { .. } | Event::TooBig { .. }
            ) {
                self.pace(link).await?;
            }
            match event {
                Event::Text(text) => self.on_text(text).await?,
                Event::Binary { prefix, len } => {
                    tracing::warn!(station = %self.ctx.id, len, "binary frame");
                    arus_telemetry::metrics().error("binary_frame");
                    self.refuse_unreadable(
                        &prefix,
                        ErrorCode::RpcFrameworkError,
                        "binary frames are not used by OCPP-J: send JSON in text frames".into(),
                    )
                    .await?;
                }
                Event::TooBig { prefix, size } => {
                    let limit = self.gateway.config().max_message_bytes;
                    tracing::warn!(station = %self.ctx.id, size, limit, "message too big");
                    arus_telemetry::metrics().error("too_big");
                    self.refuse_unreadable(
                        &prefix,
                        ErrorCode::GenericError,
                        format!("the message exceeds the limit of {limit} bytes"),
                    )
                    .await?;
                }
                Event::Ping(data) => {
                    let mut out = Vec::with_capacity(2 + data.len());
                    encode_pong(&mut out, &data);
                    self.write(&out).await?;
                }
                Event::Pong => {}
                Event::Close(code, reason) => {
                    let mut out = Vec::new();
                    encode_close(&mut out, code.unwrap_or(CloseCode::NORMAL), "");
                    let _ = self.write(&out).await;
                    let _ = self.io.shutdown().await;
                    return Err(format!(
                        "closed by the station ({}) {reason}",
                        code.map_or(1005, |c| c.0)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Holds the station to its rate: every message it sends (well-formed or not) takes a
    /// token, and one over the rate waits before it is handled, nothing more being read from
    /// the station meanwhile, so TCP pushes back on it. The wait ends early, closing the
    /// session, when the server closes it (a new connection replaces it, or shutdown).
    async fn pace(&mut self, link: &Link) -> Result<(), String> {
        let wait = self.calls.take(self.gateway.config().call_rate);
        if wait.is_zero() {
            return Ok(());
        }
        arus_telemetry::metrics().station_calls_slowed.inc();
        tracing::debug!(station = %self.ctx.id, wait_ms = wait.as_millis() as u64, "message rate exceeded: reading paused");
        let until = Instant::now() + wait;
        loop {
            if link.closing() {
                self.close(CloseCode::GOING_AWAY, "closed by the server")
                    .await;
                return Err("closed by the server while over its message rate".into());
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => return Ok(()),
                // A queued CALL waits for the pause to end; only closing cuts it short.
                () = link.wake.notified() => {}
            }
        }
    }

    /// Answers a message that could not be read as text (binary, or too big): with a CALLERROR
    /// if its start shows it is a CALL, using its id if that can be read.
    async fn refuse_unreadable(
        &mut self,
        prefix: &[u8],
        code: ErrorCode,
        description: String,
    ) -> Result<(), String> {
        let (kind, id) = rpc::peek(&String::from_utf8_lossy(prefix));
        if matches!(kind, Some(3..=6)) {
            return Ok(());
        }
        let mut out = String::new();
        rpc::write_error(
            &mut out,
            self.version,
            id.as_deref().unwrap_or("-1"),
            code,
            &description,
            "{}",
        );
        self.send_text(out).await
    }

    async fn on_text(&mut self, text: String) -> Result<(), String> {
        let received = Utc::now();
        let reply = self.answer(&text).await;
        // The frame goes to the log itself (no copy), before its answer.
        let action = std::mem::replace(&mut self.inbound_action, "unknown");
        self.log(Direction::In, received, action, text);
        match reply {
            Some(out) => self.send_text(out).await,
            None => Ok(()),
        }
    }

    /// Handles one frame; returns the frame to answer with, if any.
    async fn answer(&mut self, text: &str) -> Option<String> {
        let m = arus_telemetry::metrics();
        match rpc::parse(text, self.version) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => {
                let (label, outcome) = adapter::handle(
                    self.version,
                    self.gateway.csms(),
                    &mut self.ctx,
                    &action,
                    payload.get(),
                )
                .await;
                self.inbound_action = label;
                m.frame("in", "call", label);
                let mut out = String::with_capacity(96);
                match outcome {
                    Outcome::Result(payload) => {
                        m.frame("out", "result", label);
                        rpc::write_result(&mut out, &id, &payload);
                    }
                    Outcome::Error {
                        code,
                        description,
                        details,
                    } => {
                        let wire = code.wire(self.version);
                        tracing::warn!(station = %self.ctx.id, action = %action, code = wire, %description, "CALL refused");
                        m.frame("out", "error", label);
                        m.error(wire);
                        rpc::write_error(&mut out, self.version, &id, code, &description, &details);
                    }
                }
                Some(out)
            }
            Ok(Frame::CallResult { id, payload }) => {
                self.inbound_action = self.pending_action(&id);
                m.frame("in", "result", self.inbound_action);
                self.resolve(&id, Ok(payload.get().to_string()));
                None
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                result_error,
                ..
            }) => {
                m.frame("in", "error", self.pending_action(&id));
                if result_error {
                    tracing::warn!(station = %self.ctx.id, %id, %code, %description, "the station could not process an answer");
                } else {
                    self.resolve(
                        &id,
                        Err(SendError::Refused {
                            code: code.into_owned(),
                            description: description.into_owned(),
                        }),
                    );
                }
                None
            }
            Ok(Frame::Send { action, .. }) => {
                // SEND exists only in 2.1, which is not negotiated yet; it is never answered.
                tracing::warn!(station = %self.ctx.id, %action, "SEND message ignored");
                None
            }
            Err(e) => {
                tracing::warn!(station = %self.ctx.id, error = %e, "malformed frame");
                m.error("frame");
                e.reply(self.version).map(|r| {
                    let mut out = String::new();
                    rpc::write_error(&mut out, self.version, &r.id, r.code, &r.description, "{}");
                    out
                })
            }
        }
    }

    fn pending_action(&self, id: &str) -> &'static str {
        match &self.pending {
            Some(p) if p.id == id => p.action,
            _ => "unknown",
        }
    }

    /// Delivers the answer to the pending CALL with this id; answers to anything else (late,
    /// or never asked) are logged and dropped, never answered.
    fn resolve(&mut self, id: &str, answer: Result<String, SendError>) {
        match self.pending.take() {
            Some(p) if p.id == id => {
                let _ = p.reply.send(answer);
            }
            other => {
                self.pending = other;
                tracing::warn!(station = %self.ctx.id, %id, "answer to no pending request ignored");
            }
        }
    }

    async fn send_call(&mut self, call: OutboundCall) -> Result<(), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut out = String::with_capacity(call.payload.len() + 64);
        rpc::write_call(&mut out, &id, call.action, &call.payload);
        arus_telemetry::metrics().frame("out", "call", call.action);
        self.pending = Some(Pending {
            id,
            action: call.action,
            deadline: Instant::now() + self.gateway.config().call_timeout,
            reply: call.reply,
        });
        self.send_logged(out, call.action).await
    }

    async fn on_timer(&mut self, next_ping: &mut Option<Instant>) -> Result<(), String> {
        let now = Instant::now();
        if self.pending.as_ref().is_some_and(|p| now >= p.deadline)
            && let Some(p) = self.pending.take()
        {
            tracing::warn!(station = %self.ctx.id, action = p.action, "no answer in time");
            let _ = p.reply.send(Err(SendError::Timeout));
        }
        if let Some(at) = *next_ping
            && now >= at
        {
            let interval = self.gateway.config().ping_interval;
            let patience = interval * 2 + self.gateway.config().call_timeout;
            let silence = now.duration_since(self.last_rx);
            if silence > patience {
                arus_telemetry::metrics().error("silent");
                return Err(format!(
                    "silent for {}s (no answer to pings)",
                    silence.as_secs()
                ));
            }
            let mut out = Vec::with_capacity(8);
            encode_ping(&mut out, b"arus");
            self.write(&out).await?;
            *next_ping = Some(now + interval);
        }
        Ok(())
    }

    /// Logs a frame of `action` (the log is written in the background; no wait), with the
    /// values of secret variables taken out first: the frame log is readable by operators,
    /// the passwords and keys stations hold are not.
    /// Logs a frame, secrets taken out, and cut to the configured size (a cut frame ends with
    /// a note of its full size).
    fn log(&self, direction: Direction, at: chrono::DateTime<Utc>, action: &str, text: String) {
        let mut text = arus_ocpp::redact::frame(action, &text, &|c: &str, v: &str| {
            arus_domain::device_model::is_secret(c, v)
        })
        .unwrap_or(text);
        let size = text.len();
        if arus_domain::notices::cut(&mut text, self.gateway.config().max_logged_frame) {
            text.push_str(&format!("…[cut: {size} bytes in all]"));
            arus_telemetry::metrics().truncated("frame");
        }
        self.gateway
            .csms()
            .store()
            .log_frame(&self.ctx.id, direction, at, text);
    }

    /// Sends a frame that carries nothing secret (an answer, an error).
    async fn send_text(&mut self, text: String) -> Result<(), String> {
        self.send_logged(text, "").await
    }

    /// Sends a frame of `action`, logging it.
    async fn send_logged(&mut self, text: String, action: &str) -> Result<(), String> {
        let mut frame = Vec::with_capacity(text.len() + 10);
        encode_text(&mut frame, &text, self.compress);
        self.log(Direction::Out, Utc::now(), action, text);
        self.write(&frame).await
    }

    /// Writes bytes, giving up on a station that does not read them within the write timeout.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let limit = self.gateway.config().write_timeout;
        match tokio::time::timeout(limit, self.io.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Err(_) => {
                arus_telemetry::metrics().error("slow_reader");
                Err(format!("the station did not read for {}s", limit.as_secs()))
            }
        }
    }

    async fn close(&mut self, code: CloseCode, reason: &str) {
        let mut out = Vec::new();
        encode_close(&mut out, code, reason);
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(1), self.io.write_all(&out)).await;
        let _ = self.io.shutdown().await;
    }

    /// Ends the session for a WebSocket protocol fault, telling the station why.
    async fn fail(&mut self, e: WsError) -> String {
        tracing::warn!(station = %self.ctx.id, error = %e, "websocket protocol error");
        arus_telemetry::metrics().error("websocket");
        self.close(e.code, e.reason).await;
        format!("websocket protocol error: {e}")
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
