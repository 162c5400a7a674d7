//! The listener: every TCP connection's first request head is read here. A WebSocket upgrade
//! to the OCPP path becomes a station session; anything else goes to the HTTP service, with the
//! bytes already read handed over in front of the rest of the stream.
//!
//! Limits kept here: connections over the caps in all or per source address are answered 503
//! and closed at once; a request head must arrive within the handshake timeout; an API
//! connection kept alive is closed when its next request head has not arrived within the idle
//! timeout; one whose client reads nothing of what is written to it for the write timeout is
//! closed too. Each is counted in `arus_connections_closed_by_limit`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arus_ws::handshake::{self, Request};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::{Gateway, limits};

/// The path stations connect under: `/ocpp/{stationId}`.
pub const OCPP_PREFIX: &str = "/ocpp/";

/// The largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Accepts connections until `shutdown` resolves, then stops accepting and asks every station
/// session to close.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    http: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = match limits::Connections::admit(&gateway.connections, peer.ip()) {
                        Ok(slot) => slot,
                        Err(refusal) => {
                            refuse_connection(&stream, peer, refusal);
                            continue;
                        }
                    };
                    let gw = gateway.clone();
                    let http = http.clone();
                    tokio::spawn(async move {
                        connection(gw, stream, peer, http).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    arus_telemetry::metrics().error("accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    gateway.close_all();
}

/// Answers a connection over a cap with 503 and closes it. Written only if the socket takes it
/// at once: a refused client gets no time of ours.
fn refuse_connection(stream: &TcpStream, peer: std::net::SocketAddr, refusal: limits::Refusal) {
    let label = refusal.label();
    static REPORT: limits::Sparse = limits::Sparse::new();
    if let Some(since) = REPORT.due() {
        tracing::warn!(%peer, limit = label, refused_since_last_report = since, "connection refused");
    }
    arus_telemetry::metrics().connection_closed(label);
    let body = match refusal {
        limits::Refusal::Total => "the server holds as many connections as it may",
        limits::Refusal::Address => "too many connections from this address",
    };
    let _ = stream.try_write(&handshake::error_response(
        503,
        "Service Unavailable",
        &[("Retry-After", "30"), ("Connection", "close")],
        body,
    ));
}

fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(60))
        .with_interval(std::time::Duration::from_secs(15));
    let _ = sock.set_tcp_keepalive(&keepalive);
}

async fn connection(
    gateway: Arc<Gateway>,
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    http: axum::Router,
) {
    tune(&stream);
    let timeout = gateway.config().handshake_timeout;
    let (request, head, used) = match tokio::time::timeout(timeout, read_head(&mut stream)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return,
        Ok(Err(status)) => {
            let _ = stream
                .write_all(&handshake::error_response(status, reason(status), &[], ""))
                .await;
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no request head in time");
            arus_telemetry::metrics().connection_closed("head_timeout");
            return;
        }
    };
    if request.path().starts_with(OCPP_PREFIX) {
        drop(http);
        let leftover = head[used..].to_vec();
        drop(head);
        // Boxed, here and below: the task's future is only as large as the path it takes, and
        // the handshake's state is gone before the session starts.
        let accepted = Box::pin(crate::accept::handshake(&gateway, stream, peer, request)).await;
        if let Some(a) = accepted {
            Box::pin(crate::session::run(gateway, a, leftover)).await;
        }
        return;
    }
    let io = hyper_util::rt::TokioIo::new(Prefixed {
        prefix: head,
        pos: 0,
        inner: stream,
        write_timeout: gateway.config().write_timeout,
        stalled: None,
    });
    let service = hyper_util::service::TowerToHyperService::new(http);
    // The header timeout runs whenever hyper waits for a request head, including between
    // requests of a connection kept alive: an idle connection is closed after it.
    let http = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(gateway.config().http_idle_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    if let Err(e) = Box::pin(http).await {
        if e.is_timeout() {
            tracing::debug!(%peer, "idle http connection closed");
            arus_telemetry::metrics().connection_closed("idle_timeout");
        } else {
            tracing::debug!(error = %e, %peer, "http connection ended with an error");
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// Reads up to the end of the first request head. `Ok(None)`: the peer went away; `Err`: the
/// HTTP status to refuse it with.
async fn read_head(stream: &mut TcpStream) -> Result<Option<(Request, Vec<u8>, usize)>, u16> {
    let mut head = Vec::with_capacity(1024);
    loop {
        if stream.readable().await.is_err() {
            return Ok(None);
        }
        let mut chunk = [0u8; 2048];
        match stream.try_read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return Ok(None),
        }
        match Request::parse(&head) {
            Ok(Some((req, used))) => return Ok(Some((req, head, used))),
            Ok(None) if head.len() > MAX_HEAD => return Err(431),
            Ok(None) => {}
            Err(_) => return Err(400),
        }
    }
}

/// A stream with bytes already read put back in front, whose writes fail when the peer has
/// taken nothing for the write timeout: a client that stops reading an answer or the event
/// stream is dropped, as a station is, instead of holding its connection for ever.
struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
    write_timeout: std::time::Duration,
    /// Since when writing has made no progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Prefixed {
    /// Passes a write's poll on, failing it when it has been pending for the write timeout.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stalled.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            arus_telemetry::metrics().connection_closed("write_timeout");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has read nothing for the write timeout",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that reads nothing: writes go on until the socket buffers are full, then the
    /// next write fails once it has waited for the write timeout.
    #[tokio::test]
    async fn a_client_that_reads_nothing_is_dropped_after_the_write_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connects");
        let (server, _) = listener.accept().await.expect("accepts");
        let mut s = Prefixed {
            prefix: Vec::new(),
            pos: 0,
            inner: server,
            write_timeout: std::time::Duration::from_millis(200),
            stalled: None,
        };
        let chunk = vec![b'x'; 64 * 1024];
        let started = tokio::time::Instant::now();
        let mut written = 0usize;
        let error = loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), s.write_all(&chunk))
                .await
                .expect("the write timeout ends the write")
            {
                Ok(()) => written += chunk.len(),
                Err(e) => break e,
            }
            assert!(
                written < 1 << 30,
                "a gigabyte went into a client that reads nothing"
            );
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(written > 0, "the socket buffers took something first");
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        drop(client);
    }
}
